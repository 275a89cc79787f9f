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

# nets and kernels (issue 4): MLPs, the parametric kernel, the kernel-induced field
from . import nets  # noqa: E402
from . import kernels  # noqa: E402
from .kernels import kernel_field  # noqa: E402

__all__ += ["nets", "kernels", "kernel_field"]

# lyapunov and tables (issue 5): Lyapunov checks, stability regions, the convergence table;
# the Dirac-GAN / bilinear games and regulariser transforms live in `jaxgan.fields`.
from . import lyapunov  # noqa: E402
from . import tables  # noqa: E402
from .stability import StabilityRegion, stability_region  # noqa: E402

__all__ += ["lyapunov", "tables", "StabilityRegion", "stability_region"]

# plotting and article (issue 2): figures, and the article's figures and tables in one call
from . import plotting  # noqa: E402
from . import article  # noqa: E402
from .article import reproduce  # noqa: E402

__all__ += ["plotting", "article", "reproduce"]

# sweeps (issue 3): basins of attraction, parameter sweeps (phase diagrams), optimisers as dynamics
from . import sweeps  # noqa: E402
from .sweeps import BasinsResult, SweepResult, basins, sweep  # noqa: E402
from .dynamics import Optimizer, adaptive  # noqa: E402

__all__ += ["sweeps", "basins", "sweep", "BasinsResult", "SweepResult", "Optimizer", "adaptive"]

# neural (issue 6): real 1-D/2-D GAN training with MLPs, rotation measures, the BatchNorm experiment
from . import neural  # noqa: E402

__all__ += ["neural"]
