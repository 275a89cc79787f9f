"""Local stability: the one home of Jacobians, linearisations and eigen-analysis.

- `jacobians`: Jacobians of a field and of one full update, by autodiff (traceable and compiled).
- `continuous`: `analyze` (eigenvalues and the kind of equilibrium), `stability_conditions`
  (the pointwise games' criterion with its numbers), `eigenvalues_over` a parameter.
- `discrete`: `step_jacobian`, `step_spectral_radius`, `max_stable_lr`, `stability_region`.
- `krylov`: matrix-free eigenvalues (Arnoldi on Jacobian-vector products) for states too large
  for a dense Jacobian; `analyze`, `step_spectral_radius` and `max_stable_lr` use them above
  `DENSE_LIMIT` coordinates (or with `matrix_free=True`).
- `modes`: eigenvalues of kernel-induced fields, counted as damped / neutral / growing.

Every function takes `(field, z=None, *, method=..., lr=...)`, with `z` defaulting to the
field's rest point.
"""

from . import continuous, discrete, jacobians, krylov, modes
from .continuous import (KINDS, OutsideDomainWarning, StabilityConditions, StabilityReport, analyze, classify,
                         eigenvalues_over, point_or_rest, stability_conditions)
from .discrete import (StabilityRegion, max_stable_lr, spectral_radii, stability_region, step_jacobian,
                       step_spectral_radius)
from .jacobians import field_jacobian, jacobian, update_jacobian
from .krylov import DENSE_LIMIT, KRYLOV_STEPS, Ritz, arnoldi, field_ritz, ritz_values, update_ritz
from .modes import FieldModes, field_eigenvalues, field_modes

__all__ = ["OutsideDomainWarning", "StabilityReport", "analyze", "classify", "StabilityConditions", "stability_conditions",
           "eigenvalues_over", "point_or_rest", "KINDS", "step_jacobian", "step_spectral_radius",
           "max_stable_lr", "StabilityRegion", "stability_region", "spectral_radii", "field_jacobian",
           "jacobian", "update_jacobian", "arnoldi", "ritz_values", "Ritz", "field_ritz", "update_ritz",
           "DENSE_LIMIT", "KRYLOV_STEPS", "continuous", "discrete", "jacobians",
           "krylov", "modes", "FieldModes", "field_modes", "field_eigenvalues"]
