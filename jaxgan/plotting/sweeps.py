"""Figures of sweep results: basin maps and phase diagrams."""

from __future__ import annotations

from .._checks import check_instance
from ..errors import ArgumentError
from ._common import POINTWISE_LABELS, is_geometric, new_axes

__all__ = ["basins", "phase_diagram", "FATE_COLOURS"]

# One colour per Fate, in code order: UNDECIDED, CONVERGED, CYCLING, DIVERGED, LEFT_DOMAIN.
FATE_COLOURS = ("#bdbdbd", "#2c7fb8", "#f0a202", "#d7191c", "#7b3294")


def _log_axis(axis):
    """A log axis labelled at 1, 2, 5 x 10^k in plain numbers (no overlapping minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _cell_edges(v):
    """Edges of cells centred on the values `v` (geometric midpoints for geometric values)."""
    import numpy as np

    v = np.asarray(v, dtype=np.float64)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5]) if v[0] == 0 else np.array([v[0] * 0.9, v[0] * 1.1])
    if is_geometric(v):
        lv = np.log(v)
        mid = 0.5 * (lv[1:] + lv[:-1])
        return np.exp(np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]]))
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def _settings_title(result, tail: str) -> str:
    """`"<field>: <method>" + tail` from a sweep result's settings."""
    s = result.settings
    return f"{s.get('field', {}).get('name', '')}: {s.get('method', {}).get('name', '')}{tail}"


def _fates_legend(ax, result) -> None:
    """One patch per fate present, with its share of the starts, and the rest point's star."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..fates import Fate

    fr = result.fractions()
    handles = [Patch(color=FATE_COLOURS[int(f)], label=f"{f.name.lower().replace('_', ' ')} {100 * fr[f.name]:.1f}%")
               for f in Fate if fr[f.name] > 0]
    handles.append(Line2D([], [], marker="*", color="k", ls="none", ms=10, label="rest point"))
    ax.legend(handles=handles, fontsize=7.5, loc="upper right", framealpha=0.85)


def basins(result, ax=None, *, legend: bool = True, title: str | None = None):
    """A basin map: the fate of every start of a `jaxgan.basins` result, one colour per fate.

    x = coordinate 0 (D), y = coordinate 1 (pg), as in the article; the rest point is a black
    star; the legend gives the fraction of starts with each fate present.

    **Arguments:**

    - `result`: a `jaxgan.BasinsResult`.
    - `ax`: the `Axes` to draw on (default: a new figure).
    - `legend`: draw the legend of fates; `title`: the title (default: field, method, lr, steps).

    **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` when `result` is not a `BasinsResult`.
    """
    import matplotlib.colors as mcolors
    import numpy as np

    from ..sweeps import BasinsResult

    check_instance("basins", "result", result, BasinsResult, "a jaxgan.BasinsResult")
    ax = new_axes(ax, figsize=(5.2, 4.2))
    cmap = mcolors.ListedColormap(FATE_COLOURS)
    norm = mcolors.BoundaryNorm(np.arange(len(FATE_COLOURS) + 1) - 0.5, len(FATE_COLOURS))
    ax.pcolormesh(_cell_edges(result.d), _cell_edges(result.pg), np.asarray(result.fate).T, cmap=cmap, norm=norm,
                  shading="flat", rasterized=True)
    rest = np.asarray(result.rest_point)
    ax.plot(rest[0], rest[1], marker="*", color="k", ms=12, mec="w", mew=0.8, ls="none", zorder=5)
    labels = tuple(result.labels)
    ax.set_xlabel(POINTWISE_LABELS.get(labels[0], labels[0]))
    ax.set_ylabel(POINTWISE_LABELS.get(labels[1], labels[1]))
    if legend:
        _fates_legend(ax, result)
    lr = result.settings.get("method", {}).get("lr")
    lr_txt = f", lr={lr:g}" if lr is not None else ""
    ax.set_title(title or _settings_title(result, f"{lr_txt}, {result.settings.get('steps')} steps"), fontsize=10)
    return ax


def _quantity(result, q: str):
    """`(data over the grid, colour-bar label)` of the quantity `q` (lower case)."""
    if q == "time":
        return result.median_time(), "median steps to converge"
    if q == "converged":
        return result.fraction("CONVERGED"), "fraction converged"
    return result.fraction(q.upper()), f"fraction {q.replace('_', ' ')}"


def _diagram_1d(ax, result, data, label: str, q: str, bnd) -> None:
    """The quantity against the one swept axis; the boundary as a vertical line."""
    import numpy as np

    x = result.values[0]
    ax.plot(x, data, "o-", color="C0", lw=1.5, ms=4, label=label)
    if bnd is not None:
        b = float(np.asarray(bnd).reshape(-1)[0])
        ax.axvline(b, color="k", ls="--", lw=1.2, label=f"max stable lr = {b:.4g}")
    if is_geometric(x):
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
    ax.set_xlabel(result.names[0])
    ax.set_ylabel(label)
    if q != "time":
        ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=8, loc="best")


def _diagram_2d(ax, result, data, label: str, q: str, bnd, cmap) -> None:
    """An image over the two swept axes (x = lr when swept); the boundary as a black line."""
    import numpy as np

    names = list(result.names)
    xi = names.index("lr") if "lr" in names else 0
    yi = 1 - xi
    x, y = result.values[xi], result.values[yi]
    img = data if xi == 1 else data.T  # rows: y, columns: x
    mesh = ax.pcolormesh(_cell_edges(x), _cell_edges(y), np.ma.masked_invalid(img),
                         cmap=cmap or ("viridis" if q == "time" else "Blues"),
                         vmin=None if q == "time" else 0.0, vmax=None if q == "time" else 1.0,
                         shading="flat", rasterized=True)
    ax.figure.colorbar(mesh, ax=ax, shrink=0.9, label=label)
    if bnd is not None and names[xi] == "lr":
        ax.plot(np.asarray(bnd, np.float64), y, "k--", lw=1.5, label="max stable lr (analytic)")
        ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
    for values, axis, set_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if is_geometric(values):
            set_scale("log")
            _log_axis(axis)
    ax.set_xlim(_cell_edges(x)[0], _cell_edges(x)[-1])
    ax.set_ylim(_cell_edges(y)[0], _cell_edges(y)[-1])
    ax.set_xlabel(names[xi])
    ax.set_ylabel(names[yi])


def phase_diagram(result, ax=None, *, quantity: str = "converged", title: str | None = None,
                  cmap: str | None = None, boundary: bool = True):
    """A phase diagram of a `jaxgan.sweep` result, with the analytic stability boundary.

    With two swept axes: an image of the quantity over the grid (x = `lr` when it is swept,
    else the first axis; log scales for geometric axes) and, when the result carries one, the
    boundary `max_stable_lr` as a black line (lr against the other axis). With one axis: the
    quantity against it, the boundary as a vertical line.

    **Arguments:**

    - `result`: a `jaxgan.SweepResult` with one or two axes.
    - `quantity`: `"converged"` (fraction of starts that converged), `"time"` (median steps to
      converge; blank where none did), or a fate name (`"cycling"`, `"left_domain"`, ...).
    - `ax`, `title`, `cmap`: as usual; `boundary`: draw the analytic boundary if present.

    **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` when `result` is not a `SweepResult`; `ArgumentError` for a
    sweep over more than two parameters.
    """
    from ..sweeps import SweepResult

    check_instance("phase_diagram", "result", result, SweepResult, "a jaxgan.SweepResult")
    if len(result.names) not in (1, 2):
        raise ArgumentError(f"phase_diagram draws sweeps over 1 or 2 parameters; this one has "
                            f"{list(result.names)}.")
    q = quantity.lower()
    data, label = _quantity(result, q)
    ax = new_axes(ax, figsize=(5.6, 4.3))
    bnd = result.boundary if boundary else None
    if len(result.names) == 1:
        _diagram_1d(ax, result, data, label, q, bnd)
    else:
        _diagram_2d(ax, result, data, label, q, bnd, cmap)
    ax.set_title(title or _settings_title(result, f", {result.settings.get('steps')} steps, "
                                                  f"{result.starts.shape[0]} starts per point"), fontsize=10)
    return ax
