"""Phase portraits: streamlines of a planar field, trajectories on top, the rest point as a star."""

from __future__ import annotations

import collections
import functools
import hashlib

from .._checks import bad_type, check_float, check_instance, check_int, check_interval, where
from ..errors import ArgumentError
from ._common import TRAJ_COLOURS, axis_label, check_planar, new_axes

__all__ = ["phase_portrait", "portrait_grid", "save_every_for"]


def save_every_for(steps: int, rows: int = 2000) -> int:
    """The largest divisor of `steps` that keeps about `rows` saved rows (plots need no more)."""
    k = max(1, steps // rows)
    while steps % k:
        k -= 1
    return k


# ----------------------------------------------------------------------------- inputs


def _as_path(fn: str, item, i: int):
    """A trajectory entry -> (path (T, 2) float64, the `Trajectory` when it is one, else None)."""
    import numpy as np

    from ..dynamics import Trajectory

    info = item if isinstance(item, Trajectory) else None
    arg = f"trajectories[{i}]"
    try:
        path = np.asarray(item.path if info is not None else item, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_type(fn, arg, "a jaxgan.Trajectory or an array of shape (T, 2)", item) from None
    if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] < 1:
        raise ArgumentError(f"{where(fn, arg)} must have shape (T, 2); got {path.shape}.")
    return path, info


def _simulate_starts(fn: str, field, starts, steps, lr, method, save_every):
    """Run `jaxgan.simulate` from each start; returns the `Trajectory`s."""
    import numpy as np

    from ..dynamics import simulate

    try:
        arr = np.asarray(starts, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_type(fn, "starts", "a list of (D, pg) pairs", starts) from None
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ArgumentError(f"{where(fn, 'starts')} must have shape (k, 2); got {arr.shape}.")
    if save_every is None:
        save_every = save_every_for(int(steps)) if isinstance(steps, int) and steps > 0 else 1
    return [simulate(field, s, steps=steps, lr=lr, method=method, save_every=save_every, warn=False) for s in arr]


def _portrait_items(fn: str, field, trajectories, starts, steps, lr, method, save_every) -> list:
    """The given trajectories, then those run from `starts`, as [(path, info)]."""
    items = [_as_path(fn, t, i) for i, t in enumerate(trajectories or [])]
    if starts is not None:
        runs = _simulate_starts(fn, field, starts, steps, lr, method, save_every)
        items += [_as_path(fn, t, len(items) + i) for i, t in enumerate(runs)]
    return items


def _check_labels(fn: str, labels, n: int, what: str):
    """`labels` as a list of `n` strings (or `None`)."""
    if labels is None:
        return None
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ArgumentError(f"{where(fn, 'labels')} must have one label per {what} ({n}); got {len(labels)}.")
    return labels


# ----------------------------------------------------------------------------- axes ranges


def _axis_range(lo_dom: float, hi_dom: float, closed_lo: bool, closed_hi: bool, rest, values):
    """A plotting interval for one coordinate: the domain's (1% inside) when it is a finite interval,
    else the box around the rest point and the trajectories (8% padding; ±1 around the rest point when
    there is nothing else), stretched to a finite end of the domain closer than the box's width and
    clipped to the domain (1% inside an open end)."""
    import math

    import numpy as np

    if math.isfinite(lo_dom) and math.isfinite(hi_dom):
        w = hi_dom - lo_dom
        return (lo_dom if closed_lo else lo_dom + 0.01 * w), (hi_dom if closed_hi else hi_dom - 0.01 * w)
    pts = [v for v in values if np.isfinite(v)]
    if rest is not None and np.isfinite(rest):
        pts.append(float(rest))
    if not pts:
        a, b = -1.0, 1.0
    elif len(pts) == 1 or not values:
        c = pts[-1] if rest is not None else pts[0]
        a, b = c - 1.0, c + 1.0
    else:
        a, b = min(pts), max(pts)
        pad = 0.08 * max(b - a, 0.25)
        a, b = a - pad, b + pad
        # A finite end of the domain that is close (e.g. pg = 0) is shown.
        if math.isfinite(lo_dom) and a - lo_dom < b - a:
            a = lo_dom
        if math.isfinite(hi_dom) and hi_dom - b < b - a:
            b = hi_dom
    if math.isfinite(lo_dom) and a <= lo_dom:
        a = lo_dom if closed_lo else lo_dom + 0.01 * (b - lo_dom)
    if math.isfinite(hi_dom) and b >= hi_dom:
        b = hi_dom if closed_hi else hi_dom - 0.01 * (hi_dom - a)
    return float(a), float(b)


def _portrait_ranges(field, items, rest, given) -> list:
    """`[(x0, x1), (y0, y1)]`: each given range, else `_axis_range` of the domain, rest point and paths."""
    import numpy as np

    ranges = []
    for i, rng in enumerate(given):
        if rng is None:
            vals = [float(v) for p, _ in items for v in (np.nanmin(p[:, i]), np.nanmax(p[:, i]))]
            rng = _axis_range(field.lower[i], field.upper[i], *field.closed[i],
                              None if rest is None else rest[i], vals)
        ranges.append(rng)
    return ranges


# ----------------------------------------------------------------------------- the field


@functools.cache
def _grid_evaluator():
    """One compiled `(field, points) -> (velocities, inside)`; fields are pytrees, so it is shared."""
    import jax

    return jax.jit(lambda f, zz: (jax.vmap(f)(zz), f.in_domain(zz)))


def _grid_velocity(field, xs, ys):
    """The field on the grid `xs × ys` by `jax.vmap`: `(U, V, speed)` as masked `(ny, nx)` arrays, masked
    outside the domain and where the velocity is not finite."""
    import jax.numpy as jnp
    import numpy as np

    X, Y = np.meshgrid(xs, ys)
    z = np.stack([X.ravel(), Y.ravel()], axis=-1)
    v, inside = _grid_evaluator()(field, jnp.asarray(z, dtype=jnp.result_type(float)))
    v = np.asarray(v, dtype=np.float64)
    ok = np.asarray(inside) & np.all(np.isfinite(v), axis=-1)
    mask = ~ok.reshape(X.shape)
    U = np.ma.masked_array(np.where(ok, v[:, 0], 0.0).reshape(X.shape), mask)
    V = np.ma.masked_array(np.where(ok, v[:, 1], 0.0).reshape(X.shape), mask)
    speed = np.ma.masked_array(np.hypot(U.filled(0.0), V.filled(0.0)), mask)
    return U, V, speed


def _speed_colorbar(ax, lines, vmin: float, vmax: float) -> None:
    """A log-scale colour bar of the speed, labelled in plain numbers."""
    import matplotlib.ticker as mticker

    cb = ax.figure.colorbar(lines, ax=ax, shrink=0.9, label="speed |v| (log scale)")
    subs = (1.0, 2.0, 5.0) if vmax / vmin < 1e3 else (1.0,)
    cb.ax.yaxis.set_major_locator(mticker.LogLocator(subs=subs))
    cb.ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.2g}"))
    cb.ax.yaxis.set_minor_formatter(mticker.NullFormatter())


# The streamlines of the last few grids, replayed when the same field is drawn again on the same grid
# (`jaxgan reproduce` draws each article field twice: alone and in the panel figure). matplotlib's
# streamplot integrates in pure Python; its result depends only on the grid, the velocities, the colour
# values and the options, not on the axes, so a replay draws the same lines and arrows.
_STREAMS: "collections.OrderedDict[bytes, tuple]" = collections.OrderedDict()
_STREAMS_KEPT = 8


def _stream_key(xs, ys, U, V, color, cmap, norm, kw) -> bytes:
    import numpy as np

    h = hashlib.blake2b(digest_size=20)
    for a in (xs, ys, U, V) + ((color,) if isinstance(color, np.ndarray) else ()):
        m = np.ma.getmaskarray(a) if np.ma.isMaskedArray(a) else np.zeros(np.shape(a), bool)
        h.update(repr((np.shape(a), str(np.asarray(a).dtype))).encode())
        h.update(np.ascontiguousarray(np.ma.getdata(a)).tobytes())
        h.update(np.packbits(m).tobytes())
    h.update(repr((None if isinstance(color, np.ndarray) else color, sorted(kw.items()))).encode())
    if cmap is not None:  # the arrows' colours are stored: cmap(norm(value)) at the first drawing
        h.update(np.ascontiguousarray(cmap(np.arange(cmap.N)), dtype=np.float64).tobytes())
        h.update(repr((cmap(-np.inf), cmap(np.inf), cmap(np.nan))).encode())
    if norm is not None:
        h.update(repr((type(norm).__qualname__, norm.vmin, norm.vmax, norm.clip)).encode())
    return h.digest()


def _streamplot(ax, xs, ys, U, V, *, color, cmap=None, norm=None, density, linewidth, arrowsize, zorder):
    """`ax.streamplot(...)` with a scalar `linewidth`, replaying a cached result for a grid already drawn.

    **Returns:** the `LineCollection` of the streamlines (the colour bar's mappable)."""
    import matplotlib.collections as mcollections
    import matplotlib.patches as mpatches
    import numpy as np

    kw = dict(density=density, linewidth=linewidth, arrowsize=arrowsize, zorder=zorder)
    key = _stream_key(xs, ys, U, V, color, cmap, norm, kw)
    multi = isinstance(color, np.ndarray)
    hit = _STREAMS.get(key)
    if hit is None:
        before = {id(p) for p in ax.patches}
        sp = ax.streamplot(xs, ys, U, V, color=color, cmap=cmap, norm=norm, **kw)
        lc = sp.lines
        try:
            arrows = [(tuple(p._posA_posB), p.get_edgecolor() if multi else color) for p in ax.patches
                      if isinstance(p, mpatches.FancyArrowPatch) and id(p) not in before]
        except (AttributeError, TypeError):  # another matplotlib's arrows: nothing cached
            return lc
        rec = ([np.array(v) for v in lc.get_segments()], None if lc.get_array() is None else lc.get_array().copy(),
               (list(lc.sticky_edges.x), list(lc.sticky_edges.y)), arrows)
        _STREAMS[key] = rec
        while len(_STREAMS) > _STREAMS_KEPT:
            _STREAMS.popitem(last=False)
        return lc
    _STREAMS.move_to_end(key)
    segments, values, (sx, sy), arrows = hit
    line_kw = dict(linewidth=linewidth, zorder=zorder) | ({} if multi else {"color": color})
    lc = mcollections.LineCollection(segments, transform=ax.transData, **line_kw)
    lc.sticky_edges.x[:] = sx
    lc.sticky_edges.y[:] = sy
    if multi:
        lc.set_array(values)
        lc.set_cmap(cmap)
        lc.set_norm(norm)
    ax.add_collection(lc)
    for (tail, head), c in arrows:
        ax.add_patch(mpatches.FancyArrowPatch(tail, head, transform=ax.transData, arrowstyle="-|>",
                                              mutation_scale=10 * arrowsize, color=c, linewidth=linewidth,
                                              zorder=zorder))
    ax.autoscale_view()
    return lc


def _draw_field(ax, field, xs, ys, *, density, speed, colorbar, cmap) -> None:
    """Streamlines on the grid `xs × ys` (coloured by log-speed, or grey) and a grey mask outside the domain."""
    import matplotlib
    import matplotlib.colors as mcolors
    import numpy as np

    U, V, S = _grid_velocity(field, xs, ys)
    if S.count() > 0:
        kw = dict(density=density, linewidth=0.8, arrowsize=0.9, zorder=1)
        if speed:
            pos = S.compressed()[S.compressed() > 0]
            vmin = float(np.quantile(pos, 0.02)) if pos.size else 1e-6
            vmax = float(np.quantile(pos, 0.98)) if pos.size else 1.0
            vmax = max(vmax, vmin * 1.001)
            norm = mcolors.LogNorm(vmin=vmin, vmax=vmax)
            # The lightest colours vanish on white: use the colour map's upper 70%.
            cm = mcolors.ListedColormap(matplotlib.colormaps[cmap](np.linspace(0.3, 1.0, 256)))
            lines = _streamplot(ax, xs, ys, U, V, color=np.ma.maximum(S, vmin), cmap=cm, norm=norm, **kw)
            if colorbar:
                _speed_colorbar(ax, lines, vmin, vmax)
        else:
            _streamplot(ax, xs, ys, U, V, color="0.55", **kw)
    if np.ma.is_masked(S) and S.mask.any():
        ax.contourf(xs, ys, S.mask.astype(float), levels=[0.5, 1.5], colors=["0.92"], zorder=0)


# ----------------------------------------------------------------------------- trajectories and rest point


def _draw_trajectories(ax, items, labels, legend: bool) -> None:
    """Each path with a hollow start; a cross where a run left the domain or diverged. With more than
    four paths only the given `labels` reach the legend."""
    import numpy as np

    from ..fates import Fate

    many = len(items) > 4
    for k, (path, info) in enumerate(items):
        c = TRAJ_COLOURS[k % len(TRAJ_COLOURS)]
        s = path[0]
        lab = None if not legend else labels[k] if labels is not None else (
            None if many else f"trajectory from ({s[0]:.3g}, {s[1]:.3g})")
        ax.plot(path[:, 0], path[:, 1], "-", color=c, lw=1.3, zorder=3, label=lab)
        ax.plot(*s, "o", ms=6, mfc="white", mec=c, mew=1.6, zorder=4, clip_on=False)
        if info is not None and info.fate in (Fate.LEFT_DOMAIN, Fate.DIVERGED):
            end = np.asarray(info.final, dtype=np.float64)
            what = "left the domain" if info.fate == Fate.LEFT_DOMAIN else "diverged"
            ax.plot(*end, "X", ms=8, color=c, mec="k", mew=0.6, zorder=5, clip_on=False,
                    label=None if many or not legend else f"{what} at step {info.exit_step}")


def _draw_rest_point(ax, rest, legend: bool) -> None:
    import numpy as np

    if rest is not None and np.all(np.isfinite(rest)):
        ax.plot(*rest, "*", ms=15, color="k", mec="white", mew=0.8, zorder=6, clip_on=False,
                label=f"rest point ({rest[0]:.3g}, {rest[1]:.3g})" if legend else None)


def _default_title(field) -> str:
    """`"<field name>, pd = <pd>"` (the name alone for fields without a `pd` parameter)."""
    pd = field.params.get("pd") if isinstance(field.params, dict) else None
    return field.name + (f", pd = {float(pd):g}" if pd is not None else "")


_LEGEND_BOXES = {  # legend location -> its box in axes fractions (x0, x1, y0, y1)
    "upper right": (0.5, 1.0, 0.74, 1.0), "upper left": (0.0, 0.5, 0.74, 1.0),
    "lower left": (0.0, 0.5, 0.0, 0.26), "lower right": (0.5, 1.0, 0.0, 0.26),
    "upper center": (0.25, 0.75, 0.74, 1.0), "lower center": (0.25, 0.75, 0.0, 0.26),
    "center left": (0.0, 0.5, 0.37, 0.63), "center right": (0.5, 1.0, 0.37, 0.63),
}


def _free_corner(ax, paths, key_points) -> str:
    """The legend location whose box covers the fewest trajectory points (the starts and the rest point
    count 50 times). matplotlib's "best" also avoids the streamlines, which fill the whole plot."""
    import numpy as np

    pts = [np.asarray(p, dtype=np.float64)[:: max(1, len(p) // 400)] for p in paths]
    weights = [np.ones(len(p)) for p in pts]
    for k in key_points:
        pts.append(np.asarray(k, dtype=np.float64).reshape(1, 2))
        weights.append(np.array([50.0]))
    if not pts:
        return "upper right"
    xy = np.concatenate(pts)
    w = np.concatenate(weights)
    ok = np.all(np.isfinite(xy), axis=1)
    frac = ax.transAxes.inverted().transform(ax.transData.transform(xy[ok]))
    w = w[ok]
    best, best_cost = "upper right", np.inf
    for loc, (x0, x1, y0, y1) in _LEGEND_BOXES.items():
        inside = (frac[:, 0] >= x0) & (frac[:, 0] <= x1) & (frac[:, 1] >= y0) & (frac[:, 1] <= y1)
        cost = float(w[inside].sum())
        if cost < best_cost:
            best, best_cost = loc, cost
    return best


# ----------------------------------------------------------------------------- public


def phase_portrait(field, *, trajectories=None, starts=None, steps: int = 100_000, lr=1e-3, method="euler",
                   save_every: int | None = None, d_range=None, pg_range=None, density: float = 1.2,
                   grid: int = 80, speed: bool = True, colorbar: bool = False, cmap: str = "Blues",
                   equal_aspect: bool = False, legend: bool = True, labels=None, ax=None,
                   title: str | None = None):
    """Streamlines of a planar field, with trajectories on top and the rest point as a black star.

    D (the first coordinate) is on the x-axis and p_g on the y-axis, as in the article. The field is
    evaluated on a `grid × grid` lattice with `jax.vmap`; points outside the field's domain (or where
    the velocity is not finite) are left blank.

    **Arguments:**

    - `field`: a 2-D `Field` (e.g. `jaxgan.pointwise_field("minimax", 0.2)`).
    - `trajectories`: a list of paths `Float[ArrayLike, "T 2"]` (e.g. from `jaxgan.simulate`), or of
      `jaxgan.Trajectory`s (from `simulate`): a trajectory that stopped
      at the domain's edge is then marked with a cross.
    - `starts`: a list of starts `(D, pg)`; each is run for you by `jaxgan.simulate` with `steps`, `lr`,
      `method` and `save_every` (default: about 2000 saved rows). Default `steps`/`lr`: the article's
      (100 000 Euler steps of 1e-3).
    - `d_range`, `pg_range`: the axes' intervals. Default: the domain 1% inside its ends when finite
      (`(0.01, 0.99)` for D ∈ (0, 1)), else the box around the rest point and the trajectories.
    - `density`: streamline density (`matplotlib.pyplot.streamplot`); `grid`: lattice size per axis.
    - `speed`: colour the streamlines by log-speed |v| (else plain grey); `colorbar`: add its colour bar;
      `cmap`: the colour map.
    - `equal_aspect`: same scale on both axes (circles look round).
    - `legend`: label the rest point, starts and exits; `labels`: legend labels of the trajectories
      (given ones first, then those of `starts`; default "trajectory from (D, pg)"); `ax`: draw there
      (default: a new figure); `title`: default `"<field name>, pd = <pd>"`.

    **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` for a field that is not a `Field`, or ranges, trajectories or starts
    that are not numbers; `ArgumentError` for a field that is not 2-D, an empty or inverted range,
    trajectories or starts of the wrong shape, a wrong number of labels (and whatever `jaxgan.simulate`
    raises for bad `steps`, `lr`, `method` or a start outside the domain).
    """
    import numpy as np

    fn = "phase_portrait"
    field = check_planar(fn, field)
    given = (check_interval(fn, "d_range", d_range), check_interval(fn, "pg_range", pg_range))
    check_int(fn, "grid", grid, 4)
    check_float(fn, "density", density)
    items = _portrait_items(fn, field, trajectories, starts, steps, lr, method, save_every)
    labels = _check_labels(fn, labels, len(items), "trajectory")
    rest = None if field.rest_point is None else np.asarray(field.rest_point, dtype=np.float64)
    (x0, x1), (y0, y1) = _portrait_ranges(field, items, rest, given)

    ax = new_axes(ax, figsize=(5.4, 4.4))
    _draw_field(ax, field, np.linspace(x0, x1, grid), np.linspace(y0, y1, grid), density=density, speed=speed,
                colorbar=colorbar, cmap=cmap)
    _draw_trajectories(ax, items, labels, legend)
    _draw_rest_point(ax, rest, legend)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(axis_label(field, 0))
    ax.set_ylabel(axis_label(field, 1))
    ax.set_title(_default_title(field) if title is None else title)
    if legend and ax.get_legend_handles_labels()[0]:
        key_pts = [p[0] for p, _ in items] + ([rest] if rest is not None else [])
        ax.legend(loc=_free_corner(ax, [p for p, _ in items], key_pts), fontsize=7.5, framealpha=0.85)
    return ax


def _grid_panels(fields) -> list:
    """`[(title or None, Field)]` from a list or a dict of fields."""
    from ..fields import Field

    panels = list(fields.items()) if isinstance(fields, dict) else [(None, f) for f in fields]
    if not panels:
        raise ArgumentError(f"{where('portrait_grid', 'fields')} must hold at least one Field.")
    for i, (_, f) in enumerate(panels):
        check_instance("portrait_grid", f"fields[{i}]", f, Field, "a Field")
    return panels


def _per_panel(arg, name: str, i: int, key, n_panels: int):
    """Panel `i`'s share of `trajectories` / `starts`: by key for a dict, by position for a list of
    trajectories, the whole argument for a list of starts (shared by every panel)."""
    if arg is None:
        return None
    if isinstance(arg, dict):
        return arg.get(key)
    if name == "trajectories":
        if len(arg) != n_panels:
            raise ArgumentError(f"{where('portrait_grid', 'trajectories')} must have one list per panel "
                                f"({n_panels}); got {len(arg)}.")
        return arg[i]
    return arg


def portrait_grid(fields, *, trajectories=None, starts=None, ncols: int = 2, panel_size=(4.6, 3.8),
                  suptitle: str | None = None, fig=None, **kwargs):
    """Phase portraits of several fields side by side (one panel per field), in one figure.

    **Arguments:**

    - `fields`: a list of 2-D `Field`s or a dict `title -> Field`.
    - `trajectories`: per panel, a list of paths or `Trajectory`s: a dict keyed like
      `fields` (by title, or by field name for a list) or a list aligned with `fields`.
    - `starts`: a list of starts used for every panel, or a dict (title or name -> list of starts).
    - `ncols`: panels per row; `panel_size`: inches per panel; `suptitle`: a figure title.
    - `fig`: an empty `matplotlib.figure.Figure` to draw in (sized here, its layout made constrained);
      default: a new pyplot figure. A bare `Figure` can be drawn and saved off the main thread, where
      pyplot's GUI backends cannot.
    - `**kwargs`: passed to `phase_portrait` (`steps`, `lr`, `method`, `density`, `speed`, ...).

    **Returns:** the `Figure` (constrained layout).

    **Raises:** `ArgumentError` for no fields, a list of trajectories of another length or a `fig`
    that already has axes; `ArgumentTypeError` for an item that is not a `Field` or a `fig` that is not
    a `Figure`; and what `phase_portrait` raises.
    """
    import matplotlib.pyplot as plt

    panels = _grid_panels(fields)
    ncols = min(check_int("portrait_grid", "ncols", ncols), len(panels))
    nrows = -(-len(panels) // ncols)
    figsize = (panel_size[0] * ncols, panel_size[1] * nrows)
    if fig is None:
        fig, axs = plt.subplots(nrows, ncols, figsize=figsize, constrained_layout=True, squeeze=False)
    else:
        from matplotlib.figure import Figure

        check_instance("portrait_grid", "fig", fig, Figure, "a matplotlib Figure")
        if fig.axes:
            raise ArgumentError(f"{where('portrait_grid', 'fig')} must be an empty Figure; it has {len(fig.axes)} "
                                f"axes (pass a new `matplotlib.figure.Figure()`).")
        fig.set_size_inches(figsize)
        fig.set_layout_engine("constrained")
        axs = fig.subplots(nrows, ncols, squeeze=False)
    for i, (title, f) in enumerate(panels):
        key = title if title is not None else f.name
        phase_portrait(f, trajectories=_per_panel(trajectories, "trajectories", i, key, len(panels)),
                       starts=_per_panel(starts, "starts", i, key, len(panels)), ax=axs.flat[i], title=title,
                       **kwargs)
    for ax in list(axs.flat)[len(panels):]:
        ax.set_visible(False)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
