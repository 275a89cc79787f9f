"""Where an update is stable (spectral radius over step size and a parameter) and where a candidate
Lyapunov function decreases."""

from __future__ import annotations

from .._checks import check_instance
from ..errors import ArgumentError
from ._common import is_geometric, new_axes

__all__ = ["stability_region", "lyapunov_map"]


def _region_1d(ax, region, lrs, rho, vmax: float) -> None:
    """ρ against lr, the stable stretch shaded."""
    import numpy as np

    ax.plot(lrs, rho, "-", color="C0", lw=1.6, label=f"{region.method}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.fill_between(lrs, 0, 1, where=rho < 1, color="C0", alpha=0.12, lw=0, label="stable (ρ < 1)")
    ax.set_ylabel("spectral radius ρ")
    ax.set_ylim(max(0.0, float(np.nanmin(rho)) - 0.05), min(vmax, float(np.nanmax(rho))) + 0.05)


def _region_2d(ax, region, lrs, rho, vmax: float, cmap: str) -> None:
    """An image of ρ over (lr, parameter), diverging about ρ = 1, with the ρ = 1 contour."""
    import matplotlib.colors as mcolors
    import numpy as np

    vals = np.asarray(region.values, dtype=np.float64)
    lo = min(float(np.nanmin(rho)), 0.999)
    norm = mcolors.TwoSlopeNorm(vmin=lo, vcenter=1.0, vmax=max(vmax, 1.001))
    mesh = ax.pcolormesh(lrs, vals, np.clip(rho, lo, vmax), cmap=cmap, norm=norm, shading="nearest")
    ax.figure.colorbar(mesh, ax=ax, shrink=0.9, label="spectral radius ρ of one step")
    if np.nanmin(rho) < 1 < np.nanmax(rho):
        ax.contour(lrs, vals, rho, levels=[1.0], colors="k", linewidths=1.2)
    ax.set_ylabel(region.param or "value")


def stability_region(region, *, ax=None, overlay=None, vmax: float = 2.0, cmap: str = "RdBu_r",
                     title: str | None = None):
    """The spectral radius ρ of one update over (lr, second hyper-parameter), with the ρ = 1 contour.

    **Arguments:**

    - `region`: a `jaxgan.stability.StabilityRegion` (from `jaxgan.stability.stability_region`).
      With a second axis: an image of ρ (blue: ρ < 1, stable; red: ρ > 1), x = lr (log scale when
      the lrs are geometric), y = the parameter; without: ρ against lr.
    - `overlay`: optional dict `label -> (x, y)` of curves to draw on top (e.g. a closed-form
      boundary).
    - `vmax`: the colour scale's upper end (ρ above it saturates); `cmap`: a diverging colour map.
    - `ax`, `title`: as usual.

    **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` when `region` is not a `StabilityRegion`.
    """
    import numpy as np

    from ..stability import StabilityRegion

    check_instance("stability_region", "region", region, StabilityRegion, "a StabilityRegion")
    lrs = np.asarray(region.lrs, dtype=np.float64)
    rho = np.asarray(region.radius, dtype=np.float64)
    ax = new_axes(ax, figsize=(5.4, 4.2))
    if region.values is None:
        _region_1d(ax, region, lrs, rho, vmax)
    else:
        _region_2d(ax, region, lrs, rho, vmax, cmap)
    for i, (lab, (x, y)) in enumerate((overlay or {}).items()):
        ax.plot(np.asarray(x), np.asarray(y), ls="--", lw=1.4, color=f"C{(i + 2) % 10}", label=lab)
    if is_geometric(lrs):
        ax.set_xscale("log")
    ax.set_xlim(lrs[0], lrs[-1])
    ax.set_xlabel("step size lr")
    ax.set_title(title or f"{region.field_name}: {region.method} step, stable where ρ < 1")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="best", framealpha=0.85)
    return ax


def _dvdt_image(ax, check, cmap: str) -> None:
    """dV/dt on the check's grid (symmetric-log colours; the excluded points blank), with its colour bar."""
    import matplotlib.colors as mcolors
    import numpy as np

    pts = np.asarray(check.points)
    d = np.asarray(check.dvdt)
    big = float(np.nanmax(np.abs(d))) or 1.0
    top = 10.0 ** np.floor(np.log10(big))
    norm = mcolors.SymLogNorm(linthresh=top * 1e-3, vmin=-big, vmax=big)
    # The points are a regular grid minus the excluded ones: put them back on it (blank = excluded).
    xs, ix = np.unique(pts[:, 0], return_inverse=True)
    ys, iy = np.unique(pts[:, 1], return_inverse=True)
    img = np.ma.masked_all((ys.size, xs.size))
    img[iy, ix] = d
    mesh = ax.pcolormesh(xs, ys, img, cmap=cmap, norm=norm, shading="nearest", zorder=1)
    ticks = [-top, -top * 1e-2, 0.0, top * 1e-2, top]
    ax.figure.colorbar(mesh, ax=ax, shrink=0.9, ticks=ticks, format="%.0e", label="dV/dt = ∇V·v (symlog)")


def lyapunov_map(check, *, ax=None, cmap: str = "RdBu_r", title: str | None = None):
    """Where a candidate V decreases: the grid of a 2-D `jaxgan.lyapunov.check`, coloured by dV/dt.

    Blue: dV/dt < 0; red: dV/dt > 0 (symmetric-log colour scale); points failing the check are
    circled in black, the worst point is a black cross. The excluded ball about the rest point
    is left blank.

    **Arguments:** `check`: a `LyapunovCheck` on a 2-D field; `ax`, `cmap`, `title` as usual.

    **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` when `check` is not a `LyapunovCheck`; `ArgumentError` when its
    field is not 2-D.
    """
    import numpy as np

    from ..lyapunov import LyapunovCheck

    check_instance("lyapunov_map", "check", check, LyapunovCheck, "a LyapunovCheck")
    pts = np.asarray(check.points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ArgumentError(f"lyapunov_map needs a check on a 2-D field; got points of shape {pts.shape}.")
    ax = new_axes(ax, figsize=(5.4, 4.2))
    _dvdt_image(ax, check, cmap)
    bad = ~np.asarray(check.passed, dtype=bool)
    if bad.any():
        step = max(1, int(bad.sum() // 400))
        ax.plot(pts[bad, 0][::step], pts[bad, 1][::step], "o", ms=2.5, mfc="none", mec="k", mew=0.5, zorder=2,
                label=f"dV/dt > 0 ({100 * bad.mean():.1f}% of points)")
    ax.plot(*check.worst_point, "x", color="k", ms=9, mew=2, zorder=3,
            label=f"worst: dV/dt = {check.worst_value:.3g}")
    ax.set_xlim(pts[:, 0].min(), pts[:, 0].max())
    ax.set_ylim(pts[:, 1].min(), pts[:, 1].max())
    if len(check.labels) == 2:
        ax.set_xlabel(check.labels[0])
        ax.set_ylabel(check.labels[1])
    ax.set_title(title or f"{check.field_name}: {100 * check.fraction:.1f}% with dV/dt ≤ 0")
    ax.legend(fontsize=7.5, loc="upper right", framealpha=0.85)
    return ax
