r"""Finite-width networks in NTK parameterisation: forward and backward passes by hand,
the empirical neural tangent kernel, and full-batch gradient descent, on any array back end
(numpy by default; cupy on a GPU; array-api-strict in the tests) through
:mod:`spectra.backend`, in float64 or float32.

The network is the one of CONVENTIONS §1, with ``depth`` = L hidden layers of ``width`` = n
units, input dimension d and every weight and bias entry i.i.d. N(0, 1):

.. math::

    h^1 = \sigma_w W^1 x/\sqrt d + \sigma_b b^1,\qquad
    h^{l+1} = \sigma_w W^{l+1}\phi(h^l)/\sqrt n + \sigma_b b^{l+1},\qquad
    f(x) = h^{L+1}(x) \in \mathbb R .

As n → ∞ its conjugate kernel converges to Σ^{L+1} and its tangent kernel
Θ(x, y) = ⟨∂_θ f(x), ∂_θ f(y)⟩ to the deterministic NTK Θ^{L+1} of :mod:`spectra.kernels`
(Jacot, Gabriel & Hongler 2018, "Neural tangent kernel: convergence and generalization in
neural networks"), which stays constant during training, so that gradient descent follows the
linearised model (Lee et al. 2019, "Wide neural networks of any depth evolve as linear models
under gradient descent"). At finite width the kernel moves, which lets training survive
somewhat above the linear model's maximal learning rate (Lewkowycz et al. 2020, "The large
learning rate phase of deep learning: the catapult mechanism").

Layers are numbered l = 1..L+1 as in the formulas; in the code ``params.weights[l-1]`` is
W^l of shape (n_l, n_{l−1}) with n_0 = d, n_1 = … = n_L = width, n_{L+1} = 1. Batches are rows:
X has shape (points, d).

Back ends and precision: :func:`init_params` draws every entry on the host with
``numpy.random.default_rng(seed)`` (the same network on every back end and in either float
type) and puts the arrays on ``backend`` in ``dtype``; every later function works on the back end
and in the float type of the parameters it is given. float32 halves the memory and roughly halves
the time of the width × width products; its round-off (about 1e-7 relative per operation) is far
below the O(1/√width) finite-width effects these networks measure. This is the one finite-width
network of the package: :mod:`spectra.verify`, :mod:`spectra.learning_rate` and
:mod:`spectra.dynamics` all use it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate
from .domains import rng_from
from .spec import Architecture

__all__ = [
    "DTYPES",
    "LOSSES",
    "Forward",
    "MLPParams",
    "TrainResult",
    "backward",
    "empirical_kernels",
    "empirical_ntk",
    "forward",
    "gradients",
    "init_params",
    "loss_value",
    "train",
]

#: Float types a network can be held in.
DTYPES = ("float64", "float32")

#: Loss scalings: "mean" is L = (1/2n) Σ (f(xᵢ) − yᵢ)², "sum" is L = ½ Σ (f(xᵢ) − yᵢ)².
LOSSES = ("mean", "sum")


@dataclass(frozen=True)
class MLPParams:
    """Weights and biases of a finite-width MLP (NTK parameterisation, entries N(0, 1)).

    Attributes
    ----------
    weights : tuple of ndarray
        W^1 … W^{L+1}; W^l has shape (n_l, n_{l−1}).
    biases : tuple of ndarray
        b^1 … b^{L+1}; b^l has shape (n_l,).

    backend : Backend or None
        The :mod:`spectra.backend` back end the arrays live on (None: numpy).

    The arrays are not copied; :func:`train` returns new ones and never writes into its input.
    """

    weights: tuple
    biases: tuple
    backend: object = None

    @property
    def be(self):
        """The resolved :class:`spectra.backend.Backend`."""
        from .backend import get_backend

        return get_backend(self.backend)

    @property
    def dtype(self) -> str:
        """"float64" or "float32"."""
        return "float32" if "float32" in str(self.weights[0].dtype) else "float64"

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.weights) - 1

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return self.weights[0].shape[1]

    @property
    def widths(self) -> tuple:
        """(n_0, …, n_{L+1}) = (d, width, …, width, 1)."""
        return (self.dim,) + tuple(w.shape[0] for w in self.weights)

    @property
    def size(self) -> int:
        """Total number of parameters."""
        return sum(w.size for w in self.weights) + sum(b.size for b in self.biases)

    def copy(self) -> MLPParams:
        xp = self.be.xp
        return MLPParams(tuple(xp.asarray(w, copy=True) for w in self.weights),
                         tuple(xp.asarray(b, copy=True) for b in self.biases), self.backend)

    def to_numpy(self) -> MLPParams:
        """The same parameters as host numpy arrays (same float type)."""
        be = self.be
        return MLPParams(tuple(be.to_numpy(w) for w in self.weights), tuple(be.to_numpy(b) for b in self.biases))

    def flat(self) -> np.ndarray:
        """All parameters in one host vector, in the order W^1, b^1, W^2, b^2, …"""
        h = self.to_numpy()
        return np.concatenate([a.ravel() for wb in zip(h.weights, h.biases) for a in wb])

    def from_flat(self, theta) -> MLPParams:
        """Parameters of the same shapes (host numpy, float64) from a vector in the order of :meth:`flat`."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.size,):
            raise ValueError(f"theta must have shape ({self.size},); got {theta.shape}")
        ws, bs, i = [], [], 0
        for w, b in zip(self.weights, self.biases):
            ws.append(theta[i:i + w.size].reshape(w.shape))
            i += w.size
            bs.append(theta[i:i + b.size].reshape(b.shape))
            i += b.size
        return MLPParams(tuple(ws), tuple(bs))


@dataclass(frozen=True)
class Forward:
    """The output of :func:`forward` with the activations the backward pass needs.

    Attributes
    ----------
    output : ndarray, shape (points,)
        f(xᵢ).
    activations : tuple of ndarray
        A_0 = X, A_l = φ(H_l) for l = 1..L; A_l has shape (points, n_l).
    preactivations : tuple of ndarray
        H_1 … H_L (the hidden pre-activations h^l(xᵢ) as rows).
    """

    output: np.ndarray
    activations: tuple
    preactivations: tuple


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`.

    Attributes
    ----------
    losses : ndarray
        L(θ_0), L(θ_1), …: the loss before each step and after the last one taken (length
        ``steps_taken + 1``).
    params : MLPParams
        θ after the last step taken.
    steps_taken : int
    stopped : {"completed", "nonfinite", "callback"}
        Why training ended: all steps done, a non-finite loss, or ``callback`` returned True.
    output : array or None
        f(xᵢ) on the training rows under ``params`` (the forward pass of the last loss
        evaluation, on the back end), so that a caller need not run it again.
    """

    losses: np.ndarray
    params: MLPParams
    steps_taken: int
    stopped: str
    output: object = None


def _check_spec(spec):
    if not isinstance(spec, Architecture):
        raise TypeError(f"spec must be a spectra.Architecture; got {spec!r}")
    act = spec.activation
    if act.fn is None or act.dfn is None:
        raise ValueError(f"activation {act.name!r} has no numpy function φ and derivative φ' (Activation.fn, "
                         f".dfn), which a finite-width network needs; register it with fn= and dfn=")
    return act


def _scales(spec):
    return math.sqrt(float(spec.weight_var)), math.sqrt(float(spec.bias_var))


def _dtype(dtype) -> str:
    if isinstance(dtype, str):
        name = dtype.strip().lower()
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = repr(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return name


def init_params(spec: Architecture, dim: int, width: int, seed=None, backend=None, dtype="float64") -> MLPParams:
    """Draw the parameters of a depth-L MLP, every entry i.i.d. N(0, 1) (NTK parameterisation).

    Parameters
    ----------
    spec : Architecture
        Activation, depth L, σ_w², σ_b².
    dim : int
        Input dimension d ≥ 1.
    width : int
        Hidden width n ≥ 1 (every hidden layer).
    seed : None, int or numpy.random.Generator
        The entries are drawn on the host in the order W^1 … W^{L+1}, then b^1 … b^{L+1}, in
        float64, whatever the back end and float type.
    backend : None, str or Backend
        Where the arrays live (:func:`spectra.backend.get_backend`; default numpy).
    dtype : {"float64", "float32"}

    Returns
    -------
    MLPParams
        W^1 (n × d), W^2 … W^L (n × n), W^{L+1} (1 × n); biases of matching sizes. At depth 0
        this is the linear model, W^1 of shape (1 × d).

    Examples
    --------
    >>> from spectra import Architecture
    >>> p = init_params(Architecture("relu", 2, 2, 0.1), dim=3, width=5, seed=0)
    >>> p.widths, p.size
    ((3, 5, 5, 1), 56)
    """
    _check_spec(spec)
    dim = _validate.integer("dim", dim, lo=1)
    width = _validate.integer("width", width, lo=1)
    dtype = _dtype(dtype)
    from .backend import get_backend

    be = get_backend(backend)
    rng = rng_from(seed)
    sizes = [dim] + [width] * spec.depth + [1]
    ws = [rng.standard_normal((sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    bs = [rng.standard_normal(sizes[i + 1]) for i in range(len(sizes) - 1)]
    if be.name == "numpy":
        return MLPParams(tuple(w.astype(dtype, copy=False) for w in ws), tuple(b.astype(dtype, copy=False) for b in bs))
    xdt = getattr(be.xp, dtype)
    return MLPParams(tuple(be.asarray(w, dtype=xdt) for w in ws), tuple(be.asarray(b, dtype=xdt) for b in bs), be)


def _ops(params, spec):
    """(backend, namespace, φ, φ') for ``params``; φ and φ' keep the float type of their argument
    (:func:`spectra.backend.xp_activation`)."""
    from .backend import xp_activation

    be = params.be
    phi, dphi = xp_activation(spec.activation, be)
    return be, (np if be.name == "numpy" else be.xp), phi, dphi


def _as_array(be, x, dtype, what):
    """``x`` as a backend array of the float type ``dtype`` (a host array is copied over)."""
    if be.name == "numpy":
        return np.asarray(x, dtype=dtype)
    xp = be.xp
    try:
        if isinstance(x, (np.ndarray, list, tuple, int, float)):
            return be.asarray(np.asarray(x, dtype=float), dtype=getattr(xp, dtype))
        return xp.astype(x, getattr(xp, dtype))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} must be a numeric array; got {type(x).__name__} ({e})") from None


def _check_inputs(params, spec, X):
    if not isinstance(params, MLPParams):
        raise TypeError(f"params must be MLPParams (from init_params); got {type(params).__name__}")
    act = _check_spec(spec)
    if params.depth != spec.depth:
        raise ValueError(f"params has depth {params.depth} but spec has depth {spec.depth}")
    X = _as_array(params.be, X, params.dtype, "X")
    if X.ndim != 2 or X.shape[1] != params.dim or X.shape[0] < 1:
        raise ValueError(f"X must be a 2-D array of shape (points >= 1, {params.dim}); got shape {tuple(X.shape)}")
    return act, X


def forward(params: MLPParams, spec: Architecture, X) -> Forward:
    r"""The network's outputs on the rows of X, with the cached activations.

    .. math::

        H_1 = \sigma_w X W^{1\top}/\sqrt{n_0} + \sigma_b b^1,\quad A_l = \phi(H_l),\quad
        H_{l+1} = \sigma_w A_l W^{l+1\top}/\sqrt{n_l} + \sigma_b b^{l+1},\quad f = H_{L+1}.

    Parameters
    ----------
    params : MLPParams
    spec : Architecture
        The architecture ``params`` was drawn for (its activation and variances are used).
    X : array_like, shape (points, d)

    Returns
    -------
    Forward
        ``output`` f(xᵢ) of shape (points,), ``activations`` (A_0 = X, …, A_L) and
        ``preactivations`` (H_1, …, H_L).

    Examples
    --------
    At depth 0 the network is σ_w ⟨w, x⟩/√d + σ_b b:

    >>> import numpy as np
    >>> from spectra import Architecture
    >>> net = Architecture("relu", 0, 4, 1)
    >>> p = init_params(net, 4, 1, seed=1)
    >>> X = np.eye(4)
    >>> bool(np.allclose(forward(p, net, X).output, 2 * p.weights[0][0] / 2 + p.biases[0][0]))
    True
    """
    _, X = _check_inputs(params, spec, X)
    _, _, phi, _ = _ops(params, spec)
    sw, sb = _scales(spec)
    A, acts, pres = X, [X], []
    L = spec.depth
    for l, (W, b) in enumerate(zip(params.weights, params.biases)):
        H = (sw / math.sqrt(W.shape[1])) * (A @ W.T) + sb * b
        if l == L:
            return Forward(H[:, 0], tuple(acts), tuple(pres))
        pres.append(H)
        A = phi(H)
        acts.append(A)


def _deltas(params, spec, fw, cotangent):
    r"""Back-propagate a cotangent v of the outputs: G_{L+1} = v (as a column),
    G_l = (σ_w G_{l+1} W^{l+1}/√n_l) ∘ φ'(H_l). Returns (G_1, …, G_{L+1}); with v = 1,
    G_l is Δ_l = ∂f(xᵢ)/∂h^l(xᵢ) row by row."""
    be, _, _, dphi = _ops(params, spec)
    sw, _ = _scales(spec)
    G = _as_array(be, cotangent, params.dtype, "cotangent")[:, None]
    out = [G]
    for l in range(spec.depth, 0, -1):  # W^{l+1} = weights[l], H_l = preactivations[l-1]
        W = params.weights[l]
        G = ((sw / math.sqrt(W.shape[1])) * (G @ W)) * dphi(fw.preactivations[l - 1])
        out.append(G)
    return tuple(reversed(out))


def backward(params: MLPParams, spec: Architecture, fw: Forward, cotangent) -> MLPParams:
    r"""The gradient of Σᵢ vᵢ f(xᵢ) with respect to every parameter (reverse mode, by hand).

    With G_{L+1} = v and G_l = (σ_w G_{l+1} W^{l+1}/√n_l) ∘ φ'(H_l):

    .. math::

        \partial/\partial W^l = \sigma_w G_l^\top A_{l-1}/\sqrt{n_{l-1}},\qquad
        \partial/\partial b^l = \sigma_b \textstyle\sum_i (G_l)_{i\cdot}.

    Parameters
    ----------
    params : MLPParams
    spec : Architecture
    fw : Forward
        :func:`forward` of ``params`` on the batch.
    cotangent : array_like, shape (points,)
        v.

    Returns
    -------
    MLPParams
        The gradient, laid out like ``params``.
    """
    sw, sb = _scales(spec)
    be, xp, _, _ = _ops(params, spec)
    v = _as_array(be, cotangent, params.dtype, "cotangent")
    if tuple(v.shape) != tuple(fw.output.shape):
        raise ValueError(f"cotangent must have shape {tuple(fw.output.shape)}; got {tuple(v.shape)}")
    Gs = _deltas(params, spec, fw, v)
    gw = tuple((sw / math.sqrt(A.shape[1])) * (G.T @ A) for G, A in zip(Gs, fw.activations))
    gb = tuple(sb * xp.sum(G, axis=0) for G in Gs)
    return MLPParams(gw, gb, params.backend)


def _targets(y, n, params=None):
    """y as a float64 host vector (no ``params``) or on the back end and in the float type of ``params``."""
    if params is not None and params.be.name != "numpy":
        be = params.be
        h = be.to_numpy(y) if not isinstance(y, (np.ndarray, list, tuple)) else y
        return be.asarray(_targets(h, n), dtype=getattr(be.xp, params.dtype))
    y = np.asarray(y, dtype=float)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) (one target per row of X); got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    return y if params is None else y.astype(params.dtype, copy=False)


def _sumsq(be, r) -> float:
    return float(r @ r) if be.name == "numpy" else be.scalar(be.xp.sum(r * r))


def _loss_scale(loss, n):
    loss = _validate.choice("loss", loss, LOSSES)
    return 1.0 / n if loss == "mean" else 1.0


def loss_value(output, y, loss="mean") -> float:
    """L = (1/2n) Σ (f(xᵢ) − yᵢ)² (``loss="mean"``) or ½ Σ (f(xᵢ) − yᵢ)² (``loss="sum"``)."""
    output = np.asarray(output, dtype=float)
    r = output - _targets(y, output.shape[0])  # host float64
    return 0.5 * _loss_scale(loss, r.shape[0]) * float(r @ r)


def gradients(params: MLPParams, spec: Architecture, X, y, loss="mean"):
    r"""The loss and its gradient.

    L(θ) = (c/2) Σᵢ (f(xᵢ) − yᵢ)² with c = 1/n (``loss="mean"``) or c = 1 (``"sum"``), so
    ∇L = c Σᵢ (f(xᵢ) − yᵢ) ∇f(xᵢ): :func:`backward` with cotangent c·(f − y).

    Parameters
    ----------
    params : MLPParams
    spec : Architecture
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    loss : {"mean", "sum"}

    Returns
    -------
    loss : float
    grad : MLPParams
    """
    fw = forward(params, spec, X)
    n = fw.output.shape[0]
    c = _loss_scale(loss, n)
    r = fw.output - _targets(y, n, params)
    return 0.5 * c * _sumsq(params.be, r), backward(params, spec, fw, c * r)


def empirical_ntk(params: MLPParams, spec: Architecture, X, Y=None) -> np.ndarray:
    r"""The tangent kernel Θ(xᵢ, yⱼ) = ⟨∂_θ f(xᵢ), ∂_θ f(yⱼ)⟩ of the finite network.

    Layer by layer, without a per-parameter Jacobian: with Δ_l = ∂f/∂h^l (rows per point, from
    the backward pass with cotangent 1) and A_{l−1} the inputs of layer l,

    .. math::

        \Theta = \sum_{l=1}^{L+1} (\Delta_l^X \Delta_l^{Y\top}) \circ
                 \big(\sigma_w^2 A_{l-1}^X A_{l-1}^{Y\top}/n_{l-1} + \sigma_b^2\big),

    since ∂f/∂W^l_{ab} = σ_w Δ_{l,a} A_{l−1,b}/√n_{l−1} and ∂f/∂b^l_a = σ_b Δ_{l,a}. The cost
    is that of a forward and a backward pass plus (points² × width) per layer.

    As width → ∞ it converges to the analytic NTK Θ^{L+1} (Jacot et al. 2018), e.g.
    :func:`spectra.domains.gram` with ``kernel="ntk"``; the relative fluctuation at init is of
    order √(L/width).

    Parameters
    ----------
    params : MLPParams
    spec : Architecture
    X : array_like, shape (n, d)
    Y : array_like, shape (m, d), optional
        Default X (then the result is symmetric positive semi-definite).

    Returns
    -------
    array, shape (n, m)
        On the back end and in the float type of ``params`` (numpy: an ndarray).
    """
    return empirical_kernels(params, spec, X, Y)[1]


def empirical_kernels(params: MLPParams, spec: Architecture, X, Y=None):
    r"""The conjugate and tangent kernels (CK, Θ) of the finite network on the rows of X (and Y).

    CK(x, y) = σ_w² ⟨A_L(x), A_L(y)⟩/n_L + σ_b², the covariance of the output given the last
    hidden layer, which converges to Σ^{L+1} as width → ∞ (Neal 1996; Lee et al. 2018; Matthews
    et al. 2018); it is also the l = L+1 term of the sum in :func:`empirical_ntk` (Δ_{L+1} = 1).
    The parameters are those of :func:`empirical_ntk`.

    Returns
    -------
    ck, ntk : arrays, shape (n, m)
        On the back end and in the float type of ``params``.
    """
    sw, sb = _scales(spec)
    fx = forward(params, spec, X)
    ones = np.ones(fx.output.shape[0])
    dx = _deltas(params, spec, fx, ones)
    if Y is None:
        fy, dy = fx, dx
    else:
        fy = forward(params, spec, Y)
        dy = _deltas(params, spec, fy, np.ones(fy.output.shape[0]))
    theta = ck = None
    for Dx, Dy, Ax, Ay in zip(dx, dy, fx.activations, fy.activations):
        gram = (sw * sw / Ax.shape[1]) * (Ax @ Ay.T) + sb * sb
        ck = gram  # the last layer's term (Δ_{L+1} = 1)
        term = (Dx @ Dy.T) * gram
        theta = term if theta is None else theta + term
    return ck, theta


def train(params: MLPParams, spec: Architecture, X, y, lr, steps, loss="mean", callback=None) -> TrainResult:
    r"""Full-batch gradient descent θ_{t+1} = θ_t − η ∇L(θ_t).

    In the kernel regime (Lee et al. 2019) the residual u_t = f_t(X) − y follows
    u_{t+1} = (I − η c Θ) u_t with c = 1/n (``loss="mean"``) or 1 (``"sum"``), which is stable iff
    η < 2/(c λ_max(Θ)) (CONVENTIONS §3); see :mod:`spectra.learning_rate`.

    Parameters
    ----------
    params : MLPParams
        The initial parameters (not modified).
    spec : Architecture
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    lr : float
        η > 0.
    steps : int
        Number of steps T ≥ 0.
    loss : {"mean", "sum"}
        L = (1/2n) Σ (f − y)² or ½ Σ (f − y)².
    callback : callable, optional
        ``callback(t, loss_t)`` after each loss evaluation (t = 0..T); return True to stop
        (the early-stopping hook of the learning-rate search).

    Returns
    -------
    TrainResult
        The loss curve L(θ_0), …, L(θ_t) (stopping early at the first non-finite loss) and the
        final parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from spectra import Architecture
    >>> net = Architecture("erf", 1, 2, 0.1)
    >>> X = np.sign(np.random.default_rng(0).standard_normal((8, 4)))
    >>> res = train(init_params(net, 4, 64, seed=0), net, X, np.ones(8), lr=0.5, steps=50)
    >>> bool(res.losses[-1] < 0.1 * res.losses[0]), res.stopped
    (True, 'completed')
    """
    _, X = _check_inputs(params, spec, X)
    n = X.shape[0]
    y = _targets(y, n, params)
    c = _loss_scale(loss, n)
    lr = _validate.positive("lr", lr)
    steps = _validate.integer("steps", steps, lo=0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {callback!r}")
    sw, sb = _scales(spec)
    be, xp, _, _ = _ops(params, spec)
    start = params.copy()
    ws, bs = list(start.weights), list(start.biases)
    losses = []
    t = 0
    stopped = "completed"
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            cur = MLPParams(tuple(ws), tuple(bs), params.backend)
            fw = forward(cur, spec, X)
            r = fw.output - y
            value = 0.5 * c * _sumsq(be, r)
            losses.append(value)
            if not math.isfinite(value):
                stopped = "nonfinite"
                break
            if callback is not None and callback(t, value):
                stopped = "callback"
                break
            if t == steps:
                break
            Gs = _deltas(cur, spec, fw, c * r)
            for l, (G, A) in enumerate(zip(Gs, fw.activations)):
                ws[l] -= ((lr * sw / math.sqrt(A.shape[1])) * G).T @ A  # scale the small factor
                bs[l] -= (lr * sb) * xp.sum(G, axis=0)
            t += 1
    return TrainResult(np.array(losses), MLPParams(tuple(ws), tuple(bs), params.backend), t, stopped, fw.output)
