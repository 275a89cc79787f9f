"""Local stability: the one home of Jacobians, linearisations and eigen-analysis.

Continuous time (`analyze`, `stability_conditions`), discrete time through one full update
(`step_jacobian`, `step_spectral_radius`, `max_stable_lr`, `stability_region`), and
matrix-free eigenvalues for large states (`jaxgan.stability.krylov`).
"""

from .analysis import *  # noqa: F401,F403
from .analysis import __all__ as _analysis_all
from .analysis import point_or_rest, _radii  # noqa: F401
from . import krylov
from .krylov import arnoldi, ritz_values

__all__ = list(_analysis_all) + ["krylov", "arnoldi", "ritz_values"]
from . import jacobians
from .jacobians import field_jacobian, jacobian, update_jacobian

__all__ += ["jacobians", "field_jacobian", "jacobian", "update_jacobian"]
