"""spectra: eigenvalues of the conjugate kernel (CK/NNGP) and neural tangent kernel (NTK)
of wide fully connected networks on the boolean cube, exactly or to any precision.

Quick start::

    >>> from spectra import Architecture, cube_eigenvalues
    >>> net = Architecture("relu", depth=2, weight_var=2, bias_var=0)
    >>> s = cube_eigenvalues(net, dim=128, kernel="ntk", max_degree=3)
    >>> [f"{v:.6e}" for v in s.values]
    ['1.381078e+00', '1.503825e-02', '1.516146e-04', '1.075173e-06']

Conventions (normalisations, domains, parameterisation): see ``docs/conventions.md``.
"""
from .activations import Activation, get_activation, register
from .activations import describe as describe_activations
from .activations import names as activation_names
from .cube import (
    cube_eigenvalues,
    cube_eigenvalues_grid,
    grid_steps,
    krawtchouk_transform,
)
# eager: these two functions share their module's name, and must be bound after the module
from .fractional_variance import FractionalVariance, fractional_variance, fractional_variance_grid
from .kernels import kernel, kernel3, kernel_expression, kernel_grid
from .optimal_depth import NtkVsCk, OptimalDepth, ntk_vs_ck, optimal_depth
from .precision import Precision, resolve_precision
from .result import Spectrum
from .spec import KERNELS, Architecture

# The rest of the API is imported on first use (PEP 562), so that a script or command that needs
# only the cube spectrum does not pay for the sphere, Gaussian, training and analysis modules.
_LAZY = {
    "compare_domains": "asymptotics", "kernel_derivatives": "asymptotics",
    "lambda_min": "dynamics", "measure_dynamics": "dynamics", "predict_dynamics": "dynamics",
    "gaussian_eigenvalues": "gaussian",
    "empirical_learning_rate": "learning_rate", "finite_sample_convergence": "learning_rate",
    "finite_sample_learning_rate": "learning_rate", "max_learning_rate": "learning_rate",
    "SimplicityExperiment": "simplicity", "WeakSimplicityCheck": "simplicity",
    "simplicity_bias_experiment": "simplicity", "weak_simplicity_bias": "simplicity",
    "sphere_eigenvalues": "sphere", "sphere_eigenvalues_grid": "sphere", "sphere_multiplicity": "sphere",
}
_SUBMODULES = frozenset({
    "activations", "asymptotics", "backend", "cube", "domains", "dynamics", "fractional_variance", "gaussian",
    "jets", "kernels", "learning_rate", "numeric", "optimal_depth", "plots", "precision", "result", "simplicity",
    "spec", "sphere", "training", "verify", "walsh",
})


def __getattr__(name):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'spectra' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__version__ = "0.1.0"

__all__ = [
    "KERNELS",
    "Activation",
    "Architecture",
    "FractionalVariance",
    "NtkVsCk",
    "OptimalDepth",
    "Precision",
    "SimplicityExperiment",
    "Spectrum",
    "WeakSimplicityCheck",
    "activation_names",
    "compare_domains",
    "cube_eigenvalues",
    "cube_eigenvalues_grid",
    "describe_activations",
    "empirical_learning_rate",
    "finite_sample_convergence",
    "finite_sample_learning_rate",
    "fractional_variance",
    "fractional_variance_grid",
    "gaussian_eigenvalues",
    "get_activation",
    "grid_steps",
    "kernel",
    "kernel3",
    "kernel_derivatives",
    "kernel_expression",
    "kernel_grid",
    "lambda_min",
    "krawtchouk_transform",
    "max_learning_rate",
    "measure_dynamics",
    "ntk_vs_ck",
    "optimal_depth",
    "predict_dynamics",
    "register",
    "resolve_precision",
    "simplicity_bias_experiment",
    "sphere_eigenvalues",
    "sphere_eigenvalues_grid",
    "sphere_multiplicity",
    "weak_simplicity_bias",
]
