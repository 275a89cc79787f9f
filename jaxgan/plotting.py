"""Figures. matplotlib is imported inside each function; functions return `Axes`/`Figure`
and never compute dynamics themselves (they call the library for that).

Conventions: D on the x-axis, pg on the y-axis (as in the article); a rest point is a
black star; every function takes an optional `ax=` and returns the `Axes` it drew on.
"""

from __future__ import annotations

from ._checks import check_float, check_int

__all__: list[str] = []


def _axes(ax=None, figsize=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


# ============================================================================ core figures
# (phase portrait, eigenvalues)

__all__ += ["phase_portrait", "eigenvalues", "portrait_grid", "axis_label"]

# Axis labels of the pointwise field's coordinates (the article puts D on x, pg on y).
_POINTWISE_LABELS = {"D": "D (discriminator)", "pg": "p_g (generator density)"}
_TRAJ_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def axis_label(field, i: int) -> str:
    """The axis label of coordinate `i` of `field` ("D (discriminator)", "p_g (generator density)" for
    the pointwise field's coordinates; the field's own label otherwise)."""
    lab = field.labels[i]
    return _POINTWISE_LABELS.get(lab, lab)


def _check_planar(fn: str, field):
    from .fields import Field

    if not isinstance(field, Field):
        raise TypeError(f"{fn} argument `field` must be a jaxgan Field; got {type(field).__name__}.")
    if field.dim != 2:
        raise ValueError(f"{fn} argument `field` must be 2-dimensional (a phase plane); got dim {field.dim} "
                         f"({field.name!r}).")
    return field


def _check_range(fn: str, arg: str, value):
    import math

    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{fn} argument `{arg}` must be a pair (lo, hi) of numbers; got {value!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{fn} argument `{arg}` must be two finite numbers lo < hi; got {value!r}.")
    return lo, hi


def _save_every_for(steps: int, rows: int = 2000) -> int:
    """The largest divisor of `steps` that keeps about `rows` saved rows (plots need no more)."""
    k = max(1, steps // rows)
    while steps % k:
        k -= 1
    return k


def _as_path(fn: str, item, i: int):
    """A trajectory entry -> (path (T, 2) float64, SimulationInfo or None)."""
    import numpy as np

    from .dynamics import SimulationInfo

    info = None
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], SimulationInfo):
        item, info = item
    try:
        path = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{fn} argument `trajectories[{i}]` must be an array of shape (T, 2) "
                        f"(or a (path, SimulationInfo) pair); got {type(item).__name__}.") from None
    if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] < 1:
        raise ValueError(f"{fn} argument `trajectories[{i}]` must have shape (T, 2); got {path.shape}.")
    return path, info


def _simulate_starts(fn: str, field, starts, steps, lr, method, save_every):
    """Run `jaxgan.simulate` from each start; returns [(path, info)]."""
    import numpy as np

    from .dynamics import simulate

    try:
        arr = np.asarray(starts, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{fn} argument `starts` must be a list of (D, pg) pairs; got {starts!r}.") from None
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{fn} argument `starts` must have shape (k, 2); got {arr.shape}.")
    if save_every is None:
        save_every = _save_every_for(int(steps)) if isinstance(steps, int) and steps > 0 else 1
    return [simulate(field, s, steps=steps, lr=lr, method=method, save_every=save_every, return_info=True,
                     warn=False) for s in arr]


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


def _grid_velocity(field, xs, ys):
    """The field on the grid `xs × ys` by `jax.vmap`: `(U, V, speed)` as masked `(ny, nx)` arrays, masked
    outside the domain and where the velocity is not finite."""
    import numpy as np

    X, Y = np.meshgrid(xs, ys)
    z = np.stack([X.ravel(), Y.ravel()], axis=-1)
    v, inside = _eval_on_grid(field, z)
    v = np.asarray(v, dtype=np.float64)
    ok = np.asarray(inside) & np.all(np.isfinite(v), axis=-1)
    mask = ~ok.reshape(X.shape)
    U = np.ma.masked_array(np.where(ok, v[:, 0], 0.0).reshape(X.shape), mask)
    V = np.ma.masked_array(np.where(ok, v[:, 1], 0.0).reshape(X.shape), mask)
    speed = np.ma.masked_array(np.hypot(U.filled(0.0), V.filled(0.0)), mask)
    return U, V, speed


def _eval_on_grid(field, z):
    import jax
    import jax.numpy as jnp

    global _EVAL_JIT
    if _EVAL_JIT is None:
        _EVAL_JIT = jax.jit(lambda f, zz: (jax.vmap(f)(zz), f.in_domain(zz)))
    return _EVAL_JIT(field, jnp.asarray(z, dtype=jnp.result_type(float)))


_EVAL_JIT = None


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
      `(path, SimulationInfo)` pairs (from `simulate(..., return_info=True)`): a trajectory that stopped
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

    **Raises:** `TypeError`/`ValueError` for a field that is not 2-D, bad ranges, trajectories or starts
    (and whatever `jaxgan.simulate` raises for bad `steps`, `lr`, `method` or a start outside the domain).
    """
    import matplotlib.colors as mcolors
    import numpy as np

    from .dynamics import Fate

    fn = "phase_portrait"
    field = _check_planar(fn, field)
    d_range = _check_range(fn, "d_range", d_range)
    pg_range = _check_range(fn, "pg_range", pg_range)
    check_int(fn, "grid", grid, 4)
    check_float(fn, "density", density)
    items = [_as_path(fn, t, i) for i, t in enumerate(trajectories or [])]
    if starts is not None:
        items += [_as_path(fn, t, len(items) + i)
                  for i, t in enumerate(_simulate_starts(fn, field, starts, steps, lr, method, save_every))]
    if labels is not None:
        labels = [str(s) for s in labels]
        if len(labels) != len(items):
            raise ValueError(f"{fn} argument `labels` must have one label per trajectory ({len(items)}); "
                             f"got {len(labels)}.")
    rest = field.rest_point
    rest = None if rest is None else np.asarray(rest, dtype=np.float64)
    ranges = []
    for i, given in enumerate((d_range, pg_range)):
        if given is not None:
            ranges.append(given)
            continue
        vals = [float(v) for p, _ in items for v in (np.nanmin(p[:, i]), np.nanmax(p[:, i]))]
        ranges.append(_axis_range(field.lower[i], field.upper[i], *field.closed[i],
                                  None if rest is None else rest[i], vals))
    (x0, x1), (y0, y1) = ranges

    ax = _axes(ax, figsize=(5.4, 4.4))
    xs, ys = np.linspace(x0, x1, grid), np.linspace(y0, y1, grid)
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
            base = __import__("matplotlib").colormaps[cmap]
            cm = mcolors.ListedColormap(base(np.linspace(0.3, 1.0, 256)))
            sp = ax.streamplot(xs, ys, U, V, color=np.ma.maximum(S, vmin), cmap=cm, norm=norm, **kw)
            if colorbar:
                import matplotlib.ticker as mticker

                cb = ax.figure.colorbar(sp.lines, ax=ax, shrink=0.9, label="speed |v| (log scale)")
                subs = (1.0, 2.0, 5.0) if vmax / vmin < 1e3 else (1.0,)
                cb.ax.yaxis.set_major_locator(mticker.LogLocator(subs=subs))
                cb.ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.2g}"))
                cb.ax.yaxis.set_minor_formatter(mticker.NullFormatter())
        else:
            ax.streamplot(xs, ys, U, V, color="0.55", **kw)
    if np.ma.is_masked(S) and S.mask.any():
        ax.contourf(xs, ys, S.mask.astype(float), levels=[0.5, 1.5], colors=["0.92"], zorder=0)

    many = len(items) > 4
    for k, (path, info) in enumerate(items):
        c = _TRAJ_COLOURS[k % len(_TRAJ_COLOURS)]
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
    if rest is not None and np.all(np.isfinite(rest)):
        ax.plot(*rest, "*", ms=15, color="k", mec="white", mew=0.8, zorder=6, clip_on=False,
                label=f"rest point ({rest[0]:.3g}, {rest[1]:.3g})" if legend else None)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(axis_label(field, 0))
    ax.set_ylabel(axis_label(field, 1))
    if title is None:
        pd = field.params.get("pd") if isinstance(field.params, dict) else None
        title = field.name + (f", pd = {float(pd):g}" if pd is not None else "")
    ax.set_title(title)
    if legend and ax.get_legend_handles_labels()[0]:
        key_pts = [p[0] for p, _ in items] + ([rest] if rest is not None else [])
        ax.legend(loc=_free_corner(ax, [p for p, _ in items], key_pts), fontsize=7.5, framealpha=0.85)
    return ax


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


def _eig_items(fn: str, reports_or_fields, labels):
    """Normalise the inputs of `eigenvalues` to [(label, eigenvalues)]."""
    import numpy as np

    from .fields import Field
    from .stability import StabilityReport, analyze

    obj = reports_or_fields
    if isinstance(obj, dict):
        pairs = list(obj.items())
    elif isinstance(obj, (Field, StabilityReport)):
        pairs = [(None, obj)]
    elif isinstance(obj, (list, tuple)):
        pairs = [(None, o) for o in obj]
    else:
        raise TypeError(f"{fn} argument `reports_or_fields` must be a Field, a StabilityReport, or a list / "
                        f"dict of them; got {type(obj).__name__}.")
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(pairs):
            raise ValueError(f"{fn} argument `labels` must have one label per item ({len(pairs)}); "
                             f"got {len(labels)}.")
        pairs = [(lab, o) for lab, (_, o) in zip(labels, pairs)]
    out = []
    for i, (lab, o) in enumerate(pairs):
        if isinstance(o, Field):
            o = analyze(o)
        if not isinstance(o, StabilityReport):
            raise TypeError(f"{fn} argument `reports_or_fields[{i}]` must be a Field or a StabilityReport; "
                            f"got {type(o).__name__}.")
        out.append((lab if lab is not None else o.field_name, np.asarray(o.eigenvalues, dtype=np.complex128)))
    return out


def _group_equal(items, rtol: float = 1e-5):
    """Merge items with the same eigenvalues (to `rtol`) into one, labels joined by ", "."""
    import numpy as np

    groups: list[list] = []
    for lab, ev in items:
        for g in groups:
            ref = g[1]
            if ref.shape == ev.shape and np.allclose(np.sort_complex(ref), np.sort_complex(ev), rtol=rtol,
                                                     atol=rtol * max(1.0, float(np.abs(ref).max(initial=0)))):
                g[0].append(lab)
                break
        else:
            groups.append([[lab], ev])
    return [(", ".join(str(l) for l in labs if l) or None, ev) for labs, ev in groups]


def eigenvalues(reports_or_fields, ax=None, labels=None, *, group: bool = True, title: str | None = None):
    """Eigenvalues of Jacobians in the complex plane, with the stability boundary.

    The imaginary axis (Re λ = 0, the boundary of continuous-time stability) is drawn and the stable
    half-plane Re λ < 0 shaded. Items whose eigenvalues coincide (e.g. minimax and non-saturating)
    stay visible: each item has its own hollow marker, drawn smaller than the one before.

    **Arguments:**

    - `reports_or_fields`: a `Field`, a `StabilityReport` (from `jaxgan.analyze`), or a list or dict
      (`label -> item`) of them; fields are analysed at their rest points.
    - `ax`: draw there (default: a new figure); `labels`: legend labels, one per item (default: the
      dict's keys or the fields' names); `group`: merge items with equal eigenvalues (relative
      tolerance 1e-5) into one legend entry ("kl, quadratic, reverse_kl"); `title`: default
      "Jacobian eigenvalues at the rest point".

    **Returns:** the `Axes`.

    **Raises:** `TypeError`/`ValueError` for other inputs or a wrong number of labels.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    items = _eig_items("eigenvalues", reports_or_fields, labels)
    if group:
        items = _group_equal(items)
    ax = _axes(ax, figsize=(6.4, 4.2))
    markers = "oDs^vp<>hP"
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(items)
    for k, (lab, ev) in enumerate(items):
        size = 95 - 55 * (k / max(n - 1, 1))
        ax.scatter(ev.real, ev.imag, s=size, marker=markers[k % len(markers)], facecolors="none",
                   edgecolors=colours[k % len(colours)], linewidths=1.5, zorder=3 + k, label=lab)
    allev = np.concatenate([ev for _, ev in items]) if items else np.zeros(0, complex)
    re_lo = min(float(allev.real.min()) if allev.size else -1.0, 0.0)
    re_hi = max(float(allev.real.max()) if allev.size else 1.0, 0.0)
    im = float(np.abs(allev.imag).max()) if allev.size else 1.0
    span = max(re_hi - re_lo, 0.5 * im, 0.2)
    x0, x1 = re_lo - 0.15 * span, re_hi + 0.35 * span
    y = max(im, 0.25 * span) * 1.3
    ax.axvspan(x0, 0.0, color="tab:green", alpha=0.10, lw=0, zorder=0)
    ax.axvline(0.0, color="k", lw=1.1, zorder=1)
    ax.axhline(0.0, color="0.6", lw=0.6, zorder=1)
    ax.text(x0 + 0.03 * (x1 - x0), y * 0.95, "stable: Re λ < 0", color="tab:green", fontsize=8, va="top")
    ax.text(0.02 * (x1 - x0), y * 0.95, "unstable", color="tab:red", fontsize=8, va="top")
    ax.set_xlim(x0, x1)
    ax.set_ylim(-y, y)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title or "Jacobian eigenvalues at the rest point")
    if any(lab for lab, _ in items):
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7.5, frameon=False)
    return ax


def portrait_grid(fields, *, trajectories=None, starts=None, ncols: int = 2, panel_size=(4.6, 3.8),
                  suptitle: str | None = None, **kwargs):
    """Phase portraits of several fields side by side (one panel per field), in one figure.

    **Arguments:**

    - `fields`: a list of 2-D `Field`s or a dict `title -> Field`.
    - `trajectories`: per panel, a list of paths (or `(path, SimulationInfo)` pairs): a dict keyed like
      `fields` (by title, or by field name for a list) or a list aligned with `fields`.
    - `starts`: a list of starts used for every panel, or a dict (title or name -> list of starts).
    - `ncols`: panels per row; `panel_size`: inches per panel; `suptitle`: a figure title.
    - `**kwargs`: passed to `phase_portrait` (`steps`, `lr`, `method`, `density`, `speed`, ...).

    **Returns:** the `Figure` (constrained layout).
    """
    import matplotlib.pyplot as plt

    from .fields import Field

    if isinstance(fields, dict):
        panels = list(fields.items())
    else:
        fields = list(fields)
        panels = [(None, f) for f in fields]
    if not panels:
        raise ValueError("portrait_grid argument `fields` must hold at least one Field.")
    for i, (_, f) in enumerate(panels):
        if not isinstance(f, Field):
            raise TypeError(f"portrait_grid argument `fields[{i}]` must be a Field; got {type(f).__name__}.")
    check_int("portrait_grid", "ncols", ncols)

    def per_panel(arg, name, i, key):
        if arg is None:
            return None
        if isinstance(arg, dict):
            return arg.get(key)
        if name == "trajectories":
            if len(arg) != len(panels):
                raise ValueError(f"portrait_grid argument `trajectories` must have one list per panel "
                                 f"({len(panels)}); got {len(arg)}.")
            return arg[i]
        return arg

    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                            constrained_layout=True, squeeze=False)
    for i, (title, f) in enumerate(panels):
        key = title if title is not None else f.name
        phase_portrait(f, trajectories=per_panel(trajectories, "trajectories", i, key),
                       starts=per_panel(starts, "starts", i, key), ax=axs.flat[i], title=title, **kwargs)
    for ax in list(axs.flat)[len(panels):]:
        ax.set_visible(False)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# ============================================================================ sweep figures

__all__ += ["basins", "phase_diagram", "FATE_COLOURS"]

# One colour per Fate, in code order: UNDECIDED, CONVERGED, CYCLING, DIVERGED, LEFT_DOMAIN.
FATE_COLOURS = ("#bdbdbd", "#2c7fb8", "#f0a202", "#d7191c", "#7b3294")


def _geometric(v) -> bool:
    import numpy as np

    v = np.asarray(v, dtype=np.float64)
    return v.size > 2 and bool(np.all(v > 0)) and bool(
        np.allclose(np.diff(np.log(v)), np.log(v[1] / v[0]), rtol=1e-3))


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
    if _geometric(v):
        lv = np.log(v)
        mid = 0.5 * (lv[1:] + lv[:-1])
        return np.exp(np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]]))
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def basins(result, ax=None, *, legend: bool = True, title: str | None = None):
    """A basin map: the fate of every start of a `jaxgan.basins` result, one colour per fate.

    x = coordinate 0 (D), y = coordinate 1 (pg), as in the article; the rest point is a black
    star; the legend gives the fraction of starts with each fate present.

    **Arguments:**

    - `result`: a `jaxgan.BasinsResult`.
    - `ax`: the `Axes` to draw on (default: a new figure).
    - `legend`: draw the legend of fates; `title`: the title (default: field, method, lr, steps).

    **Returns:** the `Axes`.
    """
    import matplotlib.colors as mcolors
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .dynamics import Fate
    from .sweeps import BasinsResult

    if not isinstance(result, BasinsResult):
        raise TypeError(f"basins argument `result` must be a jaxgan.BasinsResult; got {type(result).__name__}.")
    ax = _axes(ax, figsize=(5.2, 4.2))
    cmap = mcolors.ListedColormap(FATE_COLOURS)
    norm = mcolors.BoundaryNorm(np.arange(len(FATE_COLOURS) + 1) - 0.5, len(FATE_COLOURS))
    ax.pcolormesh(_cell_edges(result.d), _cell_edges(result.pg), np.asarray(result.fate).T, cmap=cmap, norm=norm,
                  shading="flat", rasterized=True)
    rest = np.asarray(result.rest_point)
    ax.plot(rest[0], rest[1], marker="*", color="k", ms=12, mec="w", mew=0.8, ls="none", zorder=5)
    labels = tuple(result.labels)
    ax.set_xlabel(_POINTWISE_LABELS.get(labels[0], labels[0]))
    ax.set_ylabel(_POINTWISE_LABELS.get(labels[1], labels[1]))
    if legend:
        fr = result.fractions()
        handles = [Patch(color=FATE_COLOURS[int(f)], label=f"{f.name.lower().replace('_', ' ')} {100 * fr[f.name]:.1f}%")
                   for f in Fate if fr[f.name] > 0]
        handles.append(Line2D([], [], marker="*", color="k", ls="none", ms=10, label="rest point"))
        ax.legend(handles=handles, fontsize=7.5, loc="upper right", framealpha=0.85)
    s = result.settings
    lr = s.get("method", {}).get("lr")
    lr_txt = f", lr={lr:g}" if lr is not None else ""
    ax.set_title(title or f"{s.get('field', {}).get('name', '')}: {s.get('method', {}).get('name', '')}{lr_txt}, "
                 f"{s.get('steps')} steps", fontsize=10)
    return ax


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
    """
    import numpy as np

    from .sweeps import SweepResult

    if not isinstance(result, SweepResult):
        raise TypeError(f"phase_diagram argument `result` must be a jaxgan.SweepResult; got {type(result).__name__}.")
    if len(result.names) not in (1, 2):
        raise ValueError(f"phase_diagram draws sweeps over 1 or 2 parameters; this one has {list(result.names)}.")
    q = quantity.lower()
    if q == "time":
        data, label = result.median_time(), "median steps to converge"
    elif q == "converged":
        data, label = result.fraction("CONVERGED"), "fraction converged"
    else:
        data, label = result.fraction(q.upper()), f"fraction {q.replace('_', ' ')}"
    names = list(result.names)
    ax = _axes(ax, figsize=(5.6, 4.3))
    bnd = result.boundary if boundary else None
    if len(names) == 1:
        x = result.values[0]
        ax.plot(x, data, "o-", color="C0", lw=1.5, ms=4, label=label)
        if bnd is not None:
            ax.axvline(float(np.asarray(bnd).reshape(-1)[0]), color="k", ls="--", lw=1.2,
                       label=f"max stable lr = {float(np.asarray(bnd).reshape(-1)[0]):.4g}")
        if _geometric(x):
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
        ax.set_xlabel(names[0])
        ax.set_ylabel(label)
        if q != "time":
            ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize=8, loc="best")
    else:
        xi = names.index("lr") if "lr" in names else 0
        yi = 1 - xi
        x, y = result.values[xi], result.values[yi]
        img = data if xi == 1 else data.T  # rows: y, columns: x
        masked = np.ma.masked_invalid(img)
        mesh = ax.pcolormesh(_cell_edges(x), _cell_edges(y), masked,
                             cmap=cmap or ("viridis" if q == "time" else "Blues"),
                             vmin=None if q == "time" else 0.0, vmax=None if q == "time" else 1.0,
                             shading="flat", rasterized=True)
        ax.figure.colorbar(mesh, ax=ax, shrink=0.9, label=label)
        if bnd is not None and names[xi] == "lr":
            ax.plot(np.asarray(bnd, np.float64), y, "k--", lw=1.5, label="max stable lr (analytic)")
            ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
        if _geometric(x):
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
        if _geometric(y):
            ax.set_yscale("log")
            _log_axis(ax.yaxis)
        ax.set_xlim(_cell_edges(x)[0], _cell_edges(x)[-1])
        ax.set_ylim(_cell_edges(y)[0], _cell_edges(y)[-1])
        ax.set_xlabel(names[xi])
        ax.set_ylabel(names[yi])
    s = result.settings
    ax.set_title(title or f"{s.get('field', {}).get('name', '')}: {s.get('method', {}).get('name', '')}, "
                 f"{s.get('steps')} steps, {result.starts.shape[0]} starts per point", fontsize=10)
    return ax



# ============================================================================ kernel figures

__all__ += ["kernel_heatmap", "kernel_spectrum", "kernel_eigenfunctions", "kernel_field_eigenvalues"]


def kernel_heatmap(K, x=None, *, ax=None, title: str | None = None, cmap: str = "viridis"):
    """The kernel matrix `K[i, j] = K_θ(x_i, x_j)` as an image.

    **Arguments:** `K`: `(n, n)` (e.g. from `jaxgan.kernels.parametric_kernel`); `x`: the 1-D
    grid of the points (shape `(n,)`, sorted) to label the axes with, or `None` for indices;
    `ax`, `title`, `cmap` as usual.

    **Returns:** the `Axes` (with a colour bar).
    """
    import numpy as np

    k = np.asarray(K, dtype=np.float64)
    ax = _axes(ax, figsize=(4.8, 4.0))
    if x is not None:
        xs = np.asarray(x, dtype=np.float64).reshape(-1)
        extent = (xs[0], xs[-1], xs[-1], xs[0])
        label = "x"
    else:
        extent, label = None, "index"
    im = ax.imshow(k, cmap=cmap, extent=extent, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, shrink=0.85, label="K(x, y)")
    ax.set_xlabel(label.replace("x", "y") if x is not None else "j")
    ax.set_ylabel(label if x is not None else "i")
    ax.set_title(title or "parametric kernel K(x, y)")
    return ax


def _as_spectrum(s):
    from . import kernels

    return s if isinstance(s, kernels.KernelSpectrum) else kernels.spectrum(s)


def kernel_spectrum(spectra, *, ax=None, labels=None, show_floor: bool = True, title: str | None = None):
    """Eigenvalues of kernel integral operators, descending, on a log scale.

    **Arguments:** `spectra`: a `KernelSpectrum`, a kernel matrix, or a dict `label -> either`;
    `show_floor`: dashed lines at each spectrum's round-off floor (`noise_floor`): eigenvalues
    below it are not resolved in the kernel's dtype.

    **Returns:** the `Axes`. Only positive eigenvalues can be drawn on a log scale; the legend
    says how many of each spectrum are ≤ 0.
    """
    import numpy as np

    items = spectra if isinstance(spectra, dict) else {labels or "": spectra}
    ax = _axes(ax)
    for i, (lab, s) in enumerate(items.items()):
        s = _as_spectrum(s)
        lam = np.asarray(s.eigenvalues)
        pos = lam > 0
        k = np.arange(1, lam.size + 1)
        text = f"{lab} " if lab else ""
        text += f"(erank {s.effective_rank:.1f}" + (f", {int((~pos).sum())} ≤ 0)" if (~pos).any() else ")")
        line, = ax.semilogy(k[pos], lam[pos], ".-", ms=3, lw=1, label=text)
        if show_floor and s.noise_floor > 0:
            ax.axhline(s.noise_floor, color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("index k")
    ax.set_ylabel("eigenvalue λ_k")
    ax.set_title(title or "kernel spectrum (dotted: round-off floor)")
    ax.legend(fontsize=7)
    return ax


def kernel_eigenfunctions(spec, x, *, k: int = 4, ax=None, title: str | None = None):
    """The leading `k` eigenfunctions `φ_1..φ_k` of a kernel's integral operator on a 1-D grid.

    **Arguments:** `spec`: a `KernelSpectrum` or a kernel matrix; `x`: the grid `(n,)`; `k`: how many.
    Eigenfunctions are orthonormal in `L²(w)`; their signs are fixed so that `Σ φ_k > 0`.

    **Returns:** the `Axes`.
    """
    import numpy as np

    s = _as_spectrum(spec)
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    if xs.size != s.eigenfunctions.shape[0]:
        raise ValueError(f"kernel_eigenfunctions: `x` must have {s.eigenfunctions.shape[0]} points; got {xs.size}.")
    ax = _axes(ax)
    lam0 = s.eigenvalues[0]
    for i in range(min(k, s.eigenfunctions.shape[1])):
        phi = s.eigenfunctions[:, i]
        phi = phi if phi.sum() >= 0 else -phi
        ax.plot(xs, phi, lw=1.3, label=f"φ_{i + 1}  (λ/λ₁ = {s.eigenvalues[i] / lam0:.2g})")
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("φ_k(x)")
    ax.set_title(title or "leading eigenfunctions of the kernel")
    ax.legend(fontsize=7)
    return ax


def kernel_field_eigenvalues(fields, *, ax=None, title: str | None = None):
    """Eigenvalues of kernel-induced fields' Jacobians at their rest points, in the complex plane.

    **Arguments:** `fields`: a `Field` or a dict `label -> Field` (from `jaxgan.kernel_field` /
    `jaxgan.kernels.discriminator_field`); the eigenvalues and their resolution come from
    `jaxgan.kernels.field_modes` (the mass-preserving subspace for Lagrange fields).

    The real axis is symmetric-logarithmic, linear inside the largest resolution `√eps·max|λ|`
    (grey band): real parts there are round-off, those modes are neutral (rotation without
    resolved damping). The legend counts damped / neutral / growing modes.

    **Returns:** the `Axes`.
    """
    import math

    from . import kernels

    items = fields if isinstance(fields, dict) else {fields.name: fields}
    ax = _axes(ax, figsize=(5.8, 4.2))
    markers = "o^sDvP*X"
    modes = {lab: kernels.field_modes(f) for lab, f in items.items()}
    tol = max(m.resolution for m in modes.values()) or 1e-12
    for i, (lab, m) in enumerate(modes.items()):
        ev = m.eigenvalues
        ax.scatter(ev.real, ev.imag, s=16, marker=markers[i % len(markers)], alpha=0.65,
                   label=f"{lab}: {m.damped} damped / {m.neutral} neutral / {m.growing} growing")
    ax.set_xscale("symlog", linthresh=tol)
    from matplotlib.ticker import FixedLocator, SymmetricalLogLocator

    lo, hi = ax.get_xlim()
    decades = math.log10(max(abs(lo), abs(hi), 10 * tol) / tol)
    # every decade (or every other, third, ...) so the labels do not overlap; none inside the band but 0
    loc = SymmetricalLogLocator(base=10.0 ** max(1, math.ceil(decades / 6)), linthresh=tol)
    ticks = [t for t in loc.tick_values(lo, hi) if t == 0 or abs(t) >= 30 * tol]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xlim(lo, hi)
    ax.axvspan(-tol, tol, color="0.85", zorder=0, lw=0)
    ax.axvline(0, color="k", lw=0.6)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel(f"Re λ (symlog; grey: |Re λ| ≤ {tol:.1g}, unresolved)")
    ax.set_ylabel("Im λ")
    ax.set_title(title or "Jacobian eigenvalues of the kernel field at its rest point")
    ax.legend(fontsize=7, loc="upper left")
    return ax


# ============================================================================ regulariser / stability-region figures

__all__ += ["stability_region", "eigenvalue_locus", "lyapunov_map"]


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
    """
    import matplotlib.colors as mcolors
    import numpy as np

    from .stability import StabilityRegion

    if not isinstance(region, StabilityRegion):
        raise TypeError(f"stability_region argument `region` must be a StabilityRegion; got {type(region).__name__}.")
    lrs = np.asarray(region.lrs, dtype=np.float64)
    rho = np.asarray(region.radius, dtype=np.float64)
    geometric = lrs.size > 2 and np.all(lrs > 0) and np.allclose(np.diff(np.log(lrs)), np.log(lrs[1] / lrs[0]),
                                                                 rtol=1e-3)
    ax = _axes(ax, figsize=(5.4, 4.2))
    if region.values is None:
        ax.plot(lrs, rho, "-", color="C0", lw=1.6, label=f"{region.method}")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.fill_between(lrs, 0, 1, where=rho < 1, color="C0", alpha=0.12, lw=0, label="stable (ρ < 1)")
        ax.set_ylabel("spectral radius ρ")
        ax.set_ylim(max(0.0, float(np.nanmin(rho)) - 0.05), min(vmax, float(np.nanmax(rho))) + 0.05)
    else:
        vals = np.asarray(region.values, dtype=np.float64)
        lo = min(float(np.nanmin(rho)), 0.999)
        norm = mcolors.TwoSlopeNorm(vmin=lo, vcenter=1.0, vmax=max(vmax, 1.001))
        mesh = ax.pcolormesh(lrs, vals, np.clip(rho, lo, vmax), cmap=cmap, norm=norm, shading="nearest")
        ax.figure.colorbar(mesh, ax=ax, shrink=0.9, label="spectral radius ρ of one step")
        if np.nanmin(rho) < 1 < np.nanmax(rho):
            ax.contour(lrs, vals, rho, levels=[1.0], colors="k", linewidths=1.2)
        ax.set_ylabel(region.param or "value")
    for i, (lab, (x, y)) in enumerate((overlay or {}).items()):
        ax.plot(np.asarray(x), np.asarray(y), ls="--", lw=1.4, color=f"C{(i + 2) % 10}", label=lab)
    if geometric:
        ax.set_xscale("log")
    ax.set_xlim(lrs[0], lrs[-1])
    ax.set_xlabel("step size lr")
    ax.set_title(title or f"{region.field_name}: {region.method} step, stable where ρ < 1")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="best", framealpha=0.85)
    return ax


def eigenvalue_locus(field, param: str, values, *, ax=None, cmap: str = "viridis", title: str | None = None):
    """How the rest point's eigenvalues move as one field parameter (e.g. a regulariser weight) varies.

    Each eigenvalue is drawn for every value (`jaxgan.stability.eigenvalues_over`), coloured by
    the value; the imaginary axis (the stability boundary) is a dashed line.

    **Arguments:** `field`: a `Field` with dict params; `param`: one of its parameter names (e.g.
    `"r1_gamma"`); `values`: 1-D values; `ax`, `cmap`, `title` as usual.

    **Returns:** the `Axes`.
    """
    import numpy as np

    from .stability import eigenvalues_over

    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    ev = eigenvalues_over(field, param, vals)  # (P, n)
    ax = _axes(ax, figsize=(5.2, 4.2))
    pts = ax.scatter(ev.real.ravel(), ev.imag.ravel(), c=np.repeat(vals, ev.shape[1]), cmap=cmap, s=14, zorder=3)
    ax.figure.colorbar(pts, ax=ax, shrink=0.9, label=param)
    ax.axvline(0.0, color="k", lw=0.8, ls="--", zorder=1)
    ax.axhline(0.0, color="0.6", lw=0.6, zorder=1)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title or f"{field.name}: eigenvalues at the rest point")
    return ax


def lyapunov_map(check, *, ax=None, cmap: str = "RdBu_r", title: str | None = None):
    """Where a candidate V decreases: the grid of a 2-D `jaxgan.lyapunov.check`, coloured by dV/dt.

    Blue: dV/dt < 0; red: dV/dt > 0 (symmetric-log colour scale); points failing the check are
    circled in black, the worst point is a black cross. The excluded ball about the rest point
    is left blank.

    **Arguments:** `check`: a `LyapunovCheck` on a 2-D field; `ax`, `cmap`, `title` as usual.

    **Returns:** the `Axes`.
    """
    import matplotlib.colors as mcolors
    import numpy as np

    from .lyapunov import LyapunovCheck

    if not isinstance(check, LyapunovCheck):
        raise TypeError(f"lyapunov_map argument `check` must be a LyapunovCheck; got {type(check).__name__}.")
    pts = np.asarray(check.points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"lyapunov_map needs a check on a 2-D field; got points of shape {pts.shape}.")
    d = np.asarray(check.dvdt)
    big = float(np.nanmax(np.abs(d))) or 1.0
    top = 10.0 ** np.floor(np.log10(big))
    norm = mcolors.SymLogNorm(linthresh=top * 1e-3, vmin=-big, vmax=big)
    ax = _axes(ax, figsize=(5.4, 4.2))
    # The points are a regular grid minus the excluded ones: put them back on it (blank = excluded).
    xs, ix = np.unique(pts[:, 0], return_inverse=True)
    ys, iy = np.unique(pts[:, 1], return_inverse=True)
    img = np.ma.masked_all((ys.size, xs.size))
    img[iy, ix] = d
    mesh = ax.pcolormesh(xs, ys, img, cmap=cmap, norm=norm, shading="nearest", zorder=1)
    ticks = [-top, -top * 1e-2, 0.0, top * 1e-2, top]
    ax.figure.colorbar(mesh, ax=ax, shrink=0.9, ticks=ticks, format="%.0e", label="dV/dt = ∇V·v (symlog)")
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



# ============================================================================ neural figures

__all__ += ["neural_distance_curves", "neural_d_over_time", "neural_eigenvalues", "neural_vs_pointwise",
            "neural_path_angle", "neural_experiment_figures"]

_CONFIG_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf")


def _neural_results(fn: str, results) -> dict:
    """`{label: TrainResult}` from a TrainResult, a dict of them, or a neural.ExperimentResult."""
    from . import neural

    if isinstance(results, neural.TrainResult):
        return {results.gan.label(): results}
    if isinstance(results, neural.ExperimentResult):
        return dict(results.results)
    if isinstance(results, dict) and results and all(isinstance(r, neural.TrainResult) for r in results.values()):
        return dict(results)
    raise TypeError(f"{fn} argument `results` must be a jaxgan.neural.TrainResult, a non-empty dict of them, or "
                    f"an ExperimentResult; got {type(results).__name__}.")


def neural_distance_curves(results, *, quantity: str = "w1", ax=None, log: bool = True, title: str | None = None):
    """Distance of the generator to the data along training, one band per configuration.

    The line is the median over the seeds that did not diverge, the band their interquartile range;
    the legend counts diverged seeds. **Arguments:** `results` (a `TrainResult`, a dict
    `{label: TrainResult}` or an `ExperimentResult`), `quantity`: `"w1"` or `"kl"`, `ax`, `log`
    (log y-axis), `title`. **Returns:** the `Axes`.
    """
    import numpy as np

    from .dynamics import Fate

    fn = "neural_distance_curves"
    res = _neural_results(fn, results)
    if quantity not in ("w1", "kl"):
        raise ValueError(f"{fn} argument `quantity` must be 'w1' or 'kl'; got {quantity!r}.")
    ax = _axes(ax, figsize=(6.0, 4.0))
    for k, (label, r) in enumerate(res.items()):
        c = _CONFIG_COLOURS[k % len(_CONFIG_COLOURS)]
        ok = r.fate != Fate.DIVERGED
        y = getattr(r, quantity)[ok]
        n_div = int((~ok).sum())
        lab = label + (f" ({n_div}/{r.n_seeds} diverged)" if n_div else "")
        if y.shape[0] == 0:
            ax.plot([], [], color=c, label=lab + " — all diverged")
            continue
        with np.errstate(invalid="ignore"):
            med = np.nanmedian(y, axis=0)
            lo, hi = np.nanpercentile(y, 25, axis=0), np.nanpercentile(y, 75, axis=0)
        ax.plot(r.steps, med, color=c, lw=1.6, label=lab)
        ax.fill_between(r.steps, lo, hi, color=c, alpha=0.15, lw=0)
    first = next(iter(res.values()))
    if quantity == "w1":
        ax.axhline(first.tol, color="0.4", ls=":", lw=1, label=f"convergence tolerance {first.tol:.2g}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("W1(pg, pd)" + (" (sliced)" if first.gan.data.dim > 1 else "") if quantity == "w1"
                  else "KL(pd ‖ pg) on the histogram grid")
    ax.set_title(title or f"distance to data ({first.gan.game.name}; median and IQR over seeds)")
    ax.legend(fontsize=7, loc="upper right")
    return ax


def neural_d_over_time(result, *, seed: int = 0, quantity: str = "d", ax=None, title: str | None = None,
                       colorbar: bool = True):
    """A heat map of `D(x)` (or of `pg(x) − pd(x)`) over training for one seed of a 1-D run.

    x on the vertical axis, the update on the horizontal one; for `"d"` the colour scale is centred on
    the game's rest value D0 (white = D0), so a discriminator that has settled is white everywhere.
    **Arguments:** `result`: a 1-D `TrainResult`; `seed`: its index in the run; `quantity`: `"d"` or
    `"pg"`; `ax`; `title`; `colorbar`. **Returns:** the `Axes`.
    """
    import matplotlib.colors as mcolors
    import numpy as np

    from . import neural

    fn = "neural_d_over_time"
    if not isinstance(result, neural.TrainResult):
        raise TypeError(f"{fn} argument `result` must be a jaxgan.neural.TrainResult; got {type(result).__name__}.")
    if result.gan.data.dim != 1:
        raise ValueError(f"{fn} needs a 1-D run; this one has d = {result.gan.data.dim}.")
    if quantity not in ("d", "pg"):
        raise ValueError(f"{fn} argument `quantity` must be 'd' or 'pg'; got {quantity!r}.")
    if not (isinstance(seed, int) and 0 <= seed < result.n_seeds):
        raise ValueError(f"{fn} argument `seed` must be an index in [0, {result.n_seeds}); got {seed!r}.")
    ax = _axes(ax, figsize=(6.0, 3.6))
    x = result.grid[:, 0]
    if quantity == "d":
        z = result.d_grid[seed].T
        centre = result.gan.game.rest_d()
        label = "D(x)"
    else:
        z = (result.pg_grid[seed] - result.pd_grid[None, :]).T
        centre = 0.0
        label = "pg(x) − pd(x) (KDE)"
    finite = z[np.isfinite(z)]
    span = float(np.max(np.abs(finite - centre))) if finite.size else 1.0
    span = span if span > 0 else 1.0
    norm = mcolors.TwoSlopeNorm(vcenter=centre, vmin=centre - span, vmax=centre + span)
    im = ax.pcolormesh(result.steps, x, np.ma.masked_invalid(z), cmap="RdBu_r", norm=norm, shading="nearest")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=label + (f" (white = D0 = {centre:g})" if quantity == "d" else ""))
    ax.set_xlabel("update")
    ax.set_ylabel("x")
    from .dynamics import Fate

    fate = Fate(int(result.fate[seed])).name.lower()
    ax.set_title(title or f"{label} over training — {result.gan.label()}, seed {result.seeds[seed]} ({fate})",
                 fontsize=9)
    return ax


def neural_eigenvalues(results, *, tail: float = 0.5, ax=None, title: str | None = None, max_points: int = 4000):
    """Leading game-Jacobian eigenvalues (Ritz values) in the complex plane, one colour per configuration.

    All seeds and the checkpoints of the last `tail` of training. Both axes are symmetric-log (the
    real parts of BatchNorm networks span orders of magnitude). **Returns:** the `Axes`.
    """
    import numpy as np

    fn = "neural_eigenvalues"
    res = _neural_results(fn, results)
    ax = _axes(ax, figsize=(6.0, 4.4))
    allv = []
    for k, (label, r) in enumerate(res.items()):
        c0 = max(0, min(len(r.steps) - 1, int(round(len(r.steps) * (1 - tail)))))
        ev = r.eigs[:, c0:].ravel()
        ev = ev[np.isfinite(ev)]
        if ev.size > max_points:
            ev = ev[np.linspace(0, ev.size - 1, max_points).astype(int)]
        allv.append(ev)
        rot = np.nanmean(r.mean_rotation(tail)) if ev.size else float("nan")
        ax.scatter(ev.real, ev.imag, s=7, alpha=0.45, color=_CONFIG_COLOURS[k % len(_CONFIG_COLOURS)], lw=0,
                   label=f"{label} (Σ|Im|/Σ|Re| = {rot:.3g})")
    vals = np.concatenate(allv) if allv else np.zeros(0)
    lin = float(np.nanpercentile(np.abs(vals), 10)) if vals.size else 1.0
    lin = max(lin, 1e-3)
    ax.set_xscale("symlog", linthresh=lin, linscale=1.5)
    ax.set_yscale("symlog", linthresh=lin, linscale=1.5)
    ax.axvline(0, color="k", lw=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("Re λ (< 0: attraction)")
    ax.set_ylabel("Im λ (rotation)")
    ax.set_title(title or "game-Jacobian eigenvalues (Arnoldi Ritz values, late training)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", markerscale=2)
    return ax


def neural_vs_pointwise(result, xs, *, seed: int = 0, axes=None, panel_size=(4.4, 3.8)):
    """The neural run beside the article's pointwise field: at each x in `xs`, the path of
    `(D(x), pg(x))` along training drawn over `pointwise_field(game, pd(x))`.

    `pg(x)` is the generator's kernel density estimate and `pd(x)` the data density smoothed by the same
    kernel (so pg = pd shows as the field's rest point). **Arguments:** `result`: a `TrainResult`;
    `xs`: points x (each `(d,)`, or numbers in 1-D; the nearest grid points are used); `seed`;
    `axes`: a sequence of `len(xs)` Axes (default: a new row of panels); `panel_size`.
    **Returns:** the list of `Axes`.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from . import neural
    from .fields import pointwise_field

    fn = "neural_vs_pointwise"
    if not isinstance(result, neural.TrainResult):
        raise TypeError(f"{fn} argument `result` must be a jaxgan.neural.TrainResult; got {type(result).__name__}.")
    xs = list(np.atleast_1d(xs)) if result.gan.data.dim == 1 else list(xs)
    if not xs:
        raise ValueError(f"{fn} argument `xs` must hold at least one point.")
    if axes is None:
        fig, axes = plt.subplots(1, len(xs), figsize=(panel_size[0] * len(xs), panel_size[1]),
                                 constrained_layout=True, squeeze=False)
        axes = list(axes[0])
    axes = list(np.ravel(axes)) if not isinstance(axes, (list, tuple)) else list(axes)
    if len(axes) != len(xs):
        raise ValueError(f"{fn} argument `axes` must hold {len(xs)} Axes (one per x); got {len(axes)}.")
    game = result.gan.game
    for x, ax in zip(xs, axes):
        x_used, d, pg, pd = result.pointwise_trajectory(x, seed)
        ok = np.isfinite(d) & np.isfinite(pg)
        path = np.stack([d[ok], pg[ok]], axis=1)
        field = pointwise_field(game, pd)
        lo, hi = game.d_domain
        dmin, dmax = float(np.min(path[:, 0])), float(np.max(path[:, 0]))
        d0 = game.rest_d()
        pad = 0.15 * max(dmax - dmin, abs(d0) * 0.2, 0.2)
        d_range = (max(min(dmin, d0) - pad, lo + 0.01 * (hi - lo) if np.isfinite(lo) and np.isfinite(hi) else -np.inf),
                   min(max(dmax, d0) + pad, hi - 0.01 * (hi - lo) if np.isfinite(lo) and np.isfinite(hi) else np.inf))
        d_range = (d_range[0] if np.isfinite(d_range[0]) else min(dmin, d0) - pad,
                   d_range[1] if np.isfinite(d_range[1]) else max(dmax, d0) + pad)
        pg_range = (0.0, max(float(np.max(path[:, 1])), pd) * 1.15 + 1e-3)
        xlab = f"{float(np.ravel(x_used)[0]):.2f}" if x_used.size == 1 else str(np.round(x_used, 2).tolist())
        phase_portrait(field, trajectories=[path], labels=[f"training, seed {result.seeds[seed]}"], ax=ax,
                       d_range=d_range, pg_range=pg_range, title=f"x = {xlab}: {game.name}, pd(x) = {pd:.3g}")
    return axes


def neural_path_angle(curves: dict, *, ax=None, title: str | None = None):
    """Path-angle curves (Berard et al. 2020): `{label: (alphas, cosines)}` (e.g. from
    `TrainResult.path_angle`), the cosine between the game field and the segment from the start of
    training to its end, against the position α on that segment. **Returns:** the `Axes`."""
    import numpy as np

    if not isinstance(curves, dict) or not curves:
        raise TypeError(f"neural_path_angle argument `curves` must be a non-empty dict label -> (alphas, cosines); "
                        f"got {type(curves).__name__}.")
    ax = _axes(ax, figsize=(5.6, 3.8))
    for k, (label, (a, c)) in enumerate(curves.items()):
        c = np.asarray(c)
        col = _CONFIG_COLOURS[k % len(_CONFIG_COLOURS)]
        if c.ndim == 2:
            with np.errstate(invalid="ignore"):
                med = np.nanmedian(c, axis=0)
            for row in c:
                ax.plot(a, row, color=col, lw=0.5, alpha=0.3)
            c = med
        ax.plot(a, c, color=col, lw=1.6, label=label)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("α on the segment θ(start) → θ(end)")
    ax.set_ylabel("cos(v(θ_α), θ_end − θ_start)")
    ax.set_title(title or "path-angle (Berard et al. 2020)", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def neural_experiment_figures(experiment, *, path_angles: dict | None = None, seed: int = 0) -> dict:
    """All figures of a `jaxgan.neural.batchnorm_experiment` result, as `{name: Figure}`.

    - `"distances"`: W1 along training per configuration (`neural_distance_curves`);
    - `"d_over_time"`: D(x) over training for seed `seed` of every configuration (`neural_d_over_time`);
    - `"eigenvalues"`: game-Jacobian Ritz values, one panel per variant (`neural_eigenvalues`);
    - `"pointwise"`: (D(x), pg(x)) over the article's field at a mode and at its flank, for the first
      activation plain and with BatchNorm (`neural_vs_pointwise`);
    - `"path_angle"`: when `path_angles` (from `ExperimentResult.path_angles`) is given.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from . import neural

    if not isinstance(experiment, neural.ExperimentResult):
        raise TypeError(f"neural_experiment_figures argument `experiment` must be an ExperimentResult; got "
                        f"{type(experiment).__name__}.")
    res = experiment.results
    acts, variants = experiment.settings["activations"], experiment.settings["variants"]
    labels = list(res)
    figs = {}
    ax = neural_distance_curves(experiment)
    figs["distances"] = ax.figure

    fig, axes = plt.subplots(len(variants), len(acts), figsize=(4.6 * len(acts), 2.9 * len(variants)),
                             constrained_layout=True, squeeze=False)
    for k, label in enumerate(labels):
        i, j = k % len(variants), k // len(variants)
        neural_d_over_time(res[label], seed=seed, ax=axes[i][j], title=label, colorbar=(j == len(acts) - 1))
    fig.suptitle(f"D(x) over training (seed {seed}); white = D0", fontsize=10)
    figs["d_over_time"] = fig

    fig, axes = plt.subplots(1, len(variants), figsize=(5.2 * len(variants), 4.2), constrained_layout=True,
                             squeeze=False)
    for i, v in enumerate(variants):
        sub = {lab: res[lab] for k, lab in enumerate(labels) if k % len(variants) == i}
        neural_eigenvalues(sub, ax=axes[0][i], title=f"{v}: game-Jacobian Ritz values (last half)")
    figs["eigenvalues"] = fig

    pick = [lab for k, lab in enumerate(labels) if k // len(variants) == 0 and variants[k % len(variants)]
            in ("plain", "batchnorm")]
    first = res[labels[0]]
    if first.gan.data.dim == 1 and pick:
        means = np.array([m[0] for m in first.gan.data.means])
        top = float(means[np.argmax(first.gan.data.weights)])
        xs = [top, top - 1.5 * min(first.gan.data.stds)]
        fig, axes = plt.subplots(len(pick), len(xs), figsize=(4.6 * len(xs), 3.9 * len(pick)),
                                 constrained_layout=True, squeeze=False)
        for r_i, lab in enumerate(pick):
            got = neural_vs_pointwise(res[lab], xs, seed=seed, axes=list(axes[r_i]))
            for a in got:
                a.set_title(f"{lab} — " + a.get_title(), fontsize=8)
        figs["pointwise"] = fig
    if path_angles:
        ax = neural_path_angle(path_angles)
        figs["path_angle"] = ax.figure
    return figs
