"""Array back ends for the verification computations (:mod:`spectra.walsh`, :mod:`spectra.verify`).

One code path, written against the Python array API standard through ``array-api-compat``,
runs on

``"numpy"``
    the default (``array_api_compat.numpy``);
``"cupy"``
    a CUDA GPU (``pip install nn-spectra[gpu]``); a clear error when CuPy or a GPU is missing;
``"array-api-strict"``
    the strict reference implementation of the standard (CPU, for tests: it rejects anything
    the standard does not promise, so what passes there runs on CuPy too).

A library call takes ``backend=`` (a name, a :class:`Backend`, or an array namespace such as
``array_api_compat.cupy``). Random numbers are drawn on the host with
``numpy.random.default_rng(seed)`` and copied to the device (the array API has no RNG), so a
seed gives the same points and networks on every back end.

Memory: every verification states what it will allocate (:func:`format_bytes`) and refuses
with :class:`MemoryRefusal` (a ``MemoryError`` and a ``ValueError``), naming the largest size
that fits, instead of being killed. The budget is ``max_memory`` when given, else 80% of the
host's MemAvailable (numpy, array-api-strict) or 90% of the GPU's free memory (cupy).

Nothing here is imported by ``import spectra``; array-api-compat, CuPy and array-api-strict are
imported when a back end is first asked for.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BACKENDS", "Backend", "MemoryRefusal", "XpOps", "available_memory", "check_memory",
           "format_bytes", "get_backend", "largest_fitting", "parse_bytes", "xp_activation"]

BACKENDS = ("numpy", "cupy", "array-api-strict")

#: Fraction of the reported free memory a computation may plan to use.
HOST_FRACTION = 0.8
GPU_FRACTION = 0.9


class MemoryRefusal(MemoryError, ValueError):
    """A computation that would not fit in memory, refused before it starts. The message names
    the memory needed, the memory available and the largest size that fits. (A ``ValueError``
    too, so that command-line front ends report it as bad input.)"""


@dataclass(frozen=True, eq=False)
class Backend:
    """An array namespace ``xp`` (array-api-compat wrapped) and the device arrays live on."""

    name: str
    xp: object = field(repr=False)
    device: object = None

    # -- transfers -------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """A host array (or Python number/list) as a backend array on ``device`` (float64 unless
        ``dtype`` says otherwise; integer input keeps an integer type when ``dtype="int"``)."""
        xp = self.xp
        if dtype is None:
            dtype = xp.float64
        elif dtype == "int":
            dtype = xp.int64
        if self.name == "numpy":
            return np.asarray(a, dtype=dtype)
        if isinstance(a, np.ndarray) or np.isscalar(a) or isinstance(a, (list, tuple)):
            a = np.ascontiguousarray(a, dtype=np.int64 if dtype == xp.int64 else np.float64)
        return xp.asarray(a, dtype=dtype, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        """A backend array as a host numpy array (a copy off the GPU)."""
        if isinstance(x, np.ndarray) or np.isscalar(x):
            return np.asarray(x)
        if self.name == "cupy":
            import cupy

            return cupy.asnumpy(x)
        if self.name == "array-api-strict":
            x = x.to_device(self.xp.Device("CPU_DEVICE"))
        return np.from_dlpack(x)

    def scalar(self, x) -> float:
        """A 0-d (or size-1) backend array as a Python float."""
        return float(self.to_numpy(x).reshape(-1)[0])

    # -- array creation on the device ------------------------------------------------
    def zeros(self, shape, dtype=None):
        return self.xp.zeros(shape, dtype=self.xp.float64 if dtype is None else dtype, device=self.device)

    def arange(self, start, stop=None, dtype=None):
        xp = self.xp
        return xp.arange(start, stop, dtype=xp.int64 if dtype is None else dtype, device=self.device)

    def normal(self, rng, shape):
        """Standard normal numbers of ``shape``, drawn on the host by the numpy Generator ``rng``
        (the same numbers on every back end) and copied to the device."""
        return self.asarray(rng.standard_normal(shape))

    # -- bookkeeping -------------------------------------------------------------------
    def synchronize(self):
        """Wait for queued device work (timings on a GPU)."""
        if self.name == "cupy":
            import cupy

            cupy.cuda.Device().synchronize()

    def free_cache(self):
        """Return the memory pool's cached blocks to the device (cupy)."""
        if self.name == "cupy":
            import cupy

            cupy.get_default_memory_pool().free_all_blocks()

    @property
    def gpu(self) -> bool:
        return self.name == "cupy"

    def describe(self) -> str:
        if self.name == "cupy":
            import cupy

            dev = cupy.cuda.Device()
            try:
                props = cupy.cuda.runtime.getDeviceProperties(dev.id)
                label = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
            except Exception:  # noqa: BLE001 - only a label
                label = f"GPU {dev.id}"
            return f"cupy on {label}"
        return self.name


_CACHE: dict = {}


def get_backend(backend=None, device=None) -> Backend:
    """Resolve ``backend``: None or ``"numpy"``, ``"cupy"``, ``"array-api-strict"``, a
    :class:`Backend` (returned as is), or an array namespace module (numpy, cupy,
    array_api_strict, or their array-api-compat wrappers).

    ``device`` is the device arrays are created on (default: the namespace's default device;
    for array-api-strict e.g. ``array_api_strict.Device("device1")`` to check that no array is
    created on the wrong device).

    Raises
    ------
    ValueError
        For an unknown name; for ``"cupy"`` when CuPy is not installed or no GPU is present
        (the message says how to install it).
    """
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        backend = "numpy"
    if not isinstance(backend, str):
        backend = _name_of_namespace(backend)
    name = backend.strip().lower().replace("_", "-")
    if name in ("strict", "array-api-strict"):
        name = "array-api-strict"
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    key = (name, str(device))
    if key in _CACHE:
        return _CACHE[key]
    if name == "numpy":
        import array_api_compat.numpy as xp

        out = Backend("numpy", xp, "cpu" if device is None else device)
    elif name == "cupy":
        xp = _cupy_namespace()
        import cupy

        out = Backend("cupy", xp, cupy.cuda.Device() if device is None else device)
    else:
        try:
            import array_api_strict as xp
        except ImportError:
            raise ValueError("backend 'array-api-strict' needs the array-api-strict package: "
                             "pip install array-api-strict (or nn-spectra[test])") from None
        out = Backend("array-api-strict", xp, xp.Device("CPU_DEVICE") if device is None else device)
    _CACHE[key] = out
    return out


def _name_of_namespace(mod) -> str:
    name = getattr(mod, "__name__", "")
    for prefix, label in (("array_api_compat.numpy", "numpy"), ("array_api_compat.cupy", "cupy"),
                          ("numpy", "numpy"), ("cupy", "cupy"), ("array_api_strict", "array-api-strict")):
        if name == prefix or name.startswith(prefix + "."):
            return label
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)} or one of their array namespaces; got {mod!r}")


def _cupy_namespace():
    try:
        import cupy
    except ImportError:
        raise ValueError("backend 'cupy' needs CuPy, which is not installed: pip install 'nn-spectra[gpu]' "
                         "(the cupy-cuda12x wheel; CUDA 12 drivers)") from None
    except Exception as e:  # noqa: BLE001 - a broken CUDA install raises anything
        raise ValueError(f"backend 'cupy': CuPy failed to import ({type(e).__name__}: {e})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError when no driver
        raise ValueError(f"backend 'cupy': no usable CUDA GPU ({type(e).__name__}: {e}); use --backend numpy") from None
    if count < 1:
        raise ValueError("backend 'cupy': no CUDA GPU found; use --backend numpy")
    import array_api_compat.cupy as xp

    return xp


# ---------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------


def format_bytes(n) -> str:
    """1536 -> '1.5 KiB' (binary units)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def _meminfo_available():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory(backend) -> int | None:
    """Bytes a computation on ``backend`` may plan to use (None when unknown): 90% of the GPU's
    free memory (plus the memory pool's cached blocks) for cupy, else 80% of the host's
    MemAvailable."""
    be = get_backend(backend)
    if be.name == "cupy":
        import cupy

        free, _total = cupy.cuda.runtime.memGetInfo()
        return int(GPU_FRACTION * (free + cupy.get_default_memory_pool().free_bytes()))
    avail = _meminfo_available()
    return None if avail is None else int(HOST_FRACTION * avail)


def largest_fitting(need, lo, hi, budget):
    """The largest integer s in [lo, hi] with need(s) <= budget (need increasing), or None."""
    if need(lo) > budget:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if need(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_memory(need_bytes, what, backend, max_memory=None, largest=None):
    """Refuse (:class:`MemoryRefusal`) when ``need_bytes`` exceed the budget.

    ``what`` names the computation ("walsh at dim 40"); ``largest`` is a callable
    ``budget -> text`` naming the largest size that fits ("the largest dim that fits is 31").
    Returns the budget (None when unknown: then nothing is refused).
    """
    be = get_backend(backend)
    if max_memory is not None:
        if isinstance(max_memory, bool) or not isinstance(max_memory, (int, float)) or not max_memory > 0:
            raise ValueError(f"max_memory must be a number of bytes > 0; got {max_memory!r}")
        budget, source = int(max_memory), "the max_memory limit"
    else:
        budget = available_memory(be)
        source = (f"{int(100 * GPU_FRACTION)}% of the GPU's free memory" if be.gpu
                  else f"{int(100 * HOST_FRACTION)}% of the host's available memory")
    if budget is None or need_bytes <= budget:
        return budget
    hint = largest(budget) if largest is not None else None
    msg = (f"{what} needs about {format_bytes(need_bytes)} of memory on the {be.name} backend, but only "
           f"{format_bytes(budget)} may be used ({source})")
    raise MemoryRefusal(msg + (f"; {hint}" if hint else ""))


def parse_bytes(text) -> int:
    """A memory size: bytes as a number, or text such as '8G', '512MiB', '1.5GB', '1e9'
    (K, M, G, T are binary: 2^10, 2^20, 2^30, 2^40)."""
    usage = f"max_memory must be a size > 0 such as 8G, 512M or 1e9 (bytes); got {text!r}"
    if isinstance(text, bool):
        raise ValueError(usage)
    if isinstance(text, (int, float)):
        if not (math.isfinite(text) and text > 0):
            raise ValueError(usage)
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
    if not m:
        raise ValueError(usage)
    v = float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    if not (math.isfinite(v) and v >= 1):
        raise ValueError(usage)
    return int(v)


# ---------------------------------------------------------------------------------------
# the kernel recursion on any array namespace
# ---------------------------------------------------------------------------------------


class XpOps:
    """The ``ops`` of :mod:`spectra.precision` for an array-API namespace: float64 arithmetic
    on the backend's arrays, so that :func:`spectra.kernels.layers` (the CK/NTK recursion) and
    the closed-form dual activations run there unchanged. ``kind`` is ``"xp"``: activations
    that special-case float64 numpy (gelu) take their generic branch. No error tracking."""

    kind = "xp"
    eps = 2.0**-53

    def __init__(self, xp):
        self.xp = xp
        self.pi = math.pi
        self.sqrt = xp.sqrt
        self.asin = xp.asin
        self.acos = xp.acos
        self.exp = xp.exp

    @property
    def erf(self):
        raise AttributeError("the array API has no erf")

    def const(self, x):
        return float(x)

    def array(self, x):
        return self.xp.asarray(x, dtype=self.xp.float64)

    def clip_unit(self, x):
        return self.xp.clip(x, -1.0, 1.0)

    def abs(self, x):
        return self.xp.abs(x)


_XP_DUALS_OK: dict = {}


def xp_duals_ok(act, backend) -> bool:
    """Whether ``act``'s dual functions run on ``backend`` through :class:`XpOps` and agree with
    the float64 library values (checked once per activation and back end on a few points).
    False for activations without a closed form (their duals are numpy/mpmath code): callers
    then evaluate on the host, chunk by chunk."""
    be = get_backend(backend)
    key = (act.name, be.name)
    if key in _XP_DUALS_OK:
        return _XP_DUALS_OK[key]
    ok = False
    if getattr(act, "closed_form", True):
        from .precision import NumpyOps

        c = np.array([-0.7, -0.2, 0.0, 0.3, 0.9])
        q1 = np.array([1.0, 0.5, 2.0, 1.0, 1.0])
        q2 = np.array([1.0, 2.0, 1.5, 0.7, 1.0])
        try:
            ref = [np.asarray(act.dual(c, q1, q2, NumpyOps()), dtype=float)]
            got = [act.dual(be.asarray(c), be.asarray(q1), be.asarray(q2), XpOps(be.xp))]
            if getattr(act, "ntk_defined", True):
                ref.append(np.asarray(act.ddual(c, q1, q2, NumpyOps()), dtype=float))
                got.append(act.ddual(be.asarray(c), be.asarray(q1), be.asarray(q2), XpOps(be.xp)))
            ok = all(np.allclose(be.to_numpy(g) + 0 * r, r, rtol=1e-10, atol=1e-13) for g, r in zip(got, ref))
        except Exception:  # noqa: BLE001 - any numpy-only call means: use the host path
            ok = False
    _XP_DUALS_OK[key] = ok
    return ok


# ---------------------------------------------------------------------------------------
# activations φ, φ' on the backend (finite-width networks)
# ---------------------------------------------------------------------------------------


def _erf_fn(be):
    """erf on the backend: scipy.special on numpy, cupyx.scipy.special on cupy, else None."""
    if be.name == "numpy":
        import scipy.special as sc

        return sc.erf
    if be.name == "cupy":
        from cupyx.scipy.special import erf

        return erf
    return None


def xp_activation(act, backend):
    """(φ, φ') as functions of backend arrays.

    Written in array-API calls for relu, identity, xⁿ, abs, leaky_relu, step, sign, sin, cos,
    exp, gauss, relu2, relu3 and tanh; erf and gelu use scipy.special (numpy) or
    cupyx.scipy.special (cupy). Every other activation (and erf/gelu on other back ends) is
    evaluated on the host by its numpy ``fn``/``dfn`` and copied back: correct, slower on a GPU.
    """
    be = get_backend(backend)
    xp = be.xp
    name = act.name
    sq2pi = math.sqrt(2 * math.pi)

    def step(x):  # in x's float type (float32 networks stay float32)
        return xp.astype(x > 0, x.dtype)

    table = {
        "relu": (lambda x: xp.maximum(x, 0.0), step),
        "identity": (lambda x: x, lambda x: xp.ones_like(x)),
        "abs": (xp.abs, lambda x: xp.where(x > 0, xp.ones_like(x), -xp.ones_like(x))),
        "leaky_relu": (lambda x: xp.where(x > 0, x, 0.01 * x),
                       lambda x: xp.where(x > 0, xp.ones_like(x), 0.01 * xp.ones_like(x))),
        "step": (step, lambda x: xp.zeros_like(x)),
        "sign": (xp.sign, lambda x: xp.zeros_like(x)),
        "sin": (xp.sin, xp.cos),
        "cos": (xp.cos, lambda x: -xp.sin(x)),
        "exp": (xp.exp, xp.exp),
        "gauss": (lambda x: xp.exp(-x * x / 2), lambda x: -x * xp.exp(-x * x / 2)),
        "relu2": (lambda x: xp.maximum(x, 0.0) ** 2, lambda x: 2 * xp.maximum(x, 0.0)),
        "relu3": (lambda x: xp.maximum(x, 0.0) ** 3, lambda x: 3 * xp.maximum(x, 0.0) ** 2),
        "tanh": (xp.tanh, lambda x: 1 - xp.tanh(x) ** 2),
    }
    if name in table:
        return table[name]
    if name.startswith("x") and name[1:].isdigit():
        n = int(name[1:])
        return (lambda x: x**n), (lambda x: n * x ** (n - 1))
    erf = _erf_fn(be)
    if erf is not None and name == "erf":
        return erf, (lambda x: (2 / math.sqrt(math.pi)) * xp.exp(-x * x))
    if erf is not None and name == "gelu":
        def cdf(x):
            return 0.5 * (1 + erf(x / math.sqrt(2)))
        return (lambda x: x * cdf(x)), (lambda x: cdf(x) + x * xp.exp(-0.5 * x * x) / sq2pi)
    # host fallback
    def on_host(f):
        def g(x):
            return be.asarray(np.asarray(f(be.to_numpy(x)), dtype=float), dtype=x.dtype)
        return g

    return on_host(act.fn), on_host(act.dfn)
