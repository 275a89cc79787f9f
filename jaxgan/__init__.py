"""jaxgan: a JAX laboratory for the dynamics of GAN training seen as vector fields.

The one abstraction is the `Field`: a pure JAX vector field plus its domain and rest point.
Build one (`pointwise_field`, `jaxgan.fields`), run it (`simulate`, `basins`, `sweep`),
analyse it (`analyze`, `stability_conditions`, `max_stable_lr`, `step_spectral_radius`), and
show it (`jaxgan.plotting`). The layers, lowest first (see ARCHITECTURE.md):

    errors, progress      what every layer shares
    games                 pointwise GAN losses (f1, f2, f3)
    fields, fates         vector fields; what became of a run
    dynamics              update rules, optimisers, simulate
    stability, lyapunov   Jacobians, eigenvalues, verdicts; Lyapunov functions
    nets, networks, kernels   networks (jaxgan's MLPs; flax, equinox and plain ones); the parametric kernel
    sweeps, neural, tables   runs at scale; real GAN training; the convergence table
    plotting              figures
    article               the article's figures and tables in one call
"""

# layer 0: errors and progress reports
from . import errors, progress
from .errors import ArgumentError, ArgumentTypeError, JaxganError, StoreError
from .progress import ProgressEvent

# layer 1: games, datasets
from . import datasets, games
from .games import Game

# layer 2: fields and fates
from . import fates, fields
from .fates import Fate
from .fields import Field, kernel_field, pointwise_field

# layer 3: dynamics
from . import dynamics
from .dynamics import DomainExitWarning, Optimizer, Trajectory, UpdateRule, adaptive, simulate

# layer 4: stability and Lyapunov functions
from . import lyapunov, stability
from .stability import (OutsideDomainWarning, StabilityRegion, analyze, max_stable_lr, stability_conditions, stability_region,
                        step_jacobian, step_spectral_radius)

# layer 5: networks and kernels
from . import kernels, nets, networks

# layer 6: runs at scale, neural GANs, tables
from . import neural, sweeps, tables
from .sweeps import BasinsResult, SweepResult, basins, sweep

# layer 7-8: figures and the article
from . import article, plotting
from .article import reproduce

__version__ = "0.2.0"

__all__ = [
    "errors", "progress", "JaxganError", "ArgumentError", "ArgumentTypeError", "StoreError", "ProgressEvent",
    "games", "Game", "datasets",
    "fates", "fields", "Fate", "Field", "pointwise_field", "kernel_field",
    "dynamics", "UpdateRule", "Optimizer", "adaptive", "simulate", "Trajectory", "DomainExitWarning",
    "stability", "lyapunov", "OutsideDomainWarning", "analyze", "stability_conditions", "max_stable_lr", "step_jacobian",
    "step_spectral_radius", "StabilityRegion", "stability_region",
    "nets", "networks", "kernels",
    "sweeps", "neural", "tables", "basins", "sweep", "BasinsResult", "SweepResult",
    "plotting", "article", "reproduce",
]
