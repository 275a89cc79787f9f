"""Figures. matplotlib is imported inside each function; functions return `Axes`/`Figure`
and never compute dynamics themselves (they call the library for that).

Conventions: D on the x-axis, pg on the y-axis (as in the article); a rest point is a
black star; every function takes an optional `ax=` and returns the `Axes` it drew on.

- `portraits`: `phase_portrait`, `portrait_grid`;
- `eigen`: `eigenvalues`, `eigenvalue_locus`;
- `sweeps`: `basins`, `phase_diagram` (and `FATE_COLOURS`);
- `regions`: `stability_region`, `lyapunov_map`;
- `kernels`: `kernel_heatmap`, `kernel_spectrum`, `kernel_eigenfunctions`, `kernel_field_eigenvalues`;
- `neural`: the figures of `jaxgan.neural` runs;
- `landscape`: the figures of `jaxgan.neural.landscape_experiment` (Berard et al. 2020).
"""

from __future__ import annotations

from ._common import axis_label, image_mosaic
from .eigen import eigenvalue_locus, eigenvalues
from .kernels import kernel_eigenfunctions, kernel_field_eigenvalues, kernel_heatmap, kernel_spectrum
from .landscape import (
    landscape_eigenvalues,
    landscape_figures,
    landscape_hessians,
    landscape_path_angle,
    landscape_samples,
)
from .neural import (
    neural_d_over_time,
    neural_distance_curves,
    neural_eigenvalues,
    neural_experiment_figures,
    neural_path_angle,
    neural_vs_pointwise,
)
from .portraits import phase_portrait, portrait_grid
from .regions import lyapunov_map, stability_region
from .sweeps import FATE_COLOURS, basins, phase_diagram

__all__ = [
    "phase_portrait", "eigenvalues", "portrait_grid", "axis_label", "image_mosaic",
    "basins", "phase_diagram", "FATE_COLOURS",
    "kernel_heatmap", "kernel_spectrum", "kernel_eigenfunctions", "kernel_field_eigenvalues",
    "stability_region", "eigenvalue_locus", "lyapunov_map",
    "neural_distance_curves", "neural_d_over_time", "neural_eigenvalues", "neural_vs_pointwise",
    "neural_path_angle", "neural_experiment_figures",
    "landscape_eigenvalues", "landscape_path_angle", "landscape_hessians", "landscape_samples", "landscape_figures",
]
