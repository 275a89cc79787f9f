"""jaxgan: a JAX laboratory for the dynamics of GAN training seen as vector fields.

The one abstraction is the `Field`: a pure JAX vector field plus its domain and rest
point. Build one (`pointwise_field`), analyse it (`analyze`, `stability_conditions`,
`max_stable_lr`), run it (`simulate`), and show it (`jaxgan.plotting`).
"""

from . import games
from .games import Game
from . import fields
from .fields import Field, pointwise_field
from . import dynamics
from .dynamics import Fate, UpdateRule, simulate
from . import stability
from .stability import (
    analyze,
    max_stable_lr,
    stability_conditions,
    step_jacobian,
    step_spectral_radius,
)

__version__ = "0.1.0"

__all__ = [
    "Game", "games", "fields", "Field", "pointwise_field", "dynamics", "Fate", "UpdateRule",
    "simulate", "stability", "analyze", "stability_conditions", "max_stable_lr", "step_jacobian",
    "step_spectral_radius",
]
