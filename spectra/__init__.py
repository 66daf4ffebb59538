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
from .asymptotics import compare_domains, kernel_derivatives
from .cube import (
    cube_eigenvalues,
    cube_eigenvalues_grid,
    grid_steps,
    krawtchouk_transform,
)
from .dynamics import lambda_min, measure_dynamics, predict_dynamics
from .fractional_variance import FractionalVariance, fractional_variance, fractional_variance_grid
from .gaussian import gaussian_eigenvalues
from .kernels import kernel, kernel3, kernel_expression, kernel_grid
from .learning_rate import (
    empirical_learning_rate,
    finite_sample_convergence,
    finite_sample_learning_rate,
    max_learning_rate,
)
from .optimal_depth import NtkVsCk, OptimalDepth, ntk_vs_ck, optimal_depth
from .precision import Precision, resolve_precision
from .result import Spectrum
from .spec import KERNELS, Architecture
from .simplicity import SimplicityExperiment, WeakSimplicityCheck, simplicity_bias_experiment, weak_simplicity_bias
from .sphere import sphere_eigenvalues, sphere_eigenvalues_grid, sphere_multiplicity

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
