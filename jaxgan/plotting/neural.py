"""Figures of real-network GAN runs (`jaxgan.neural`): distances, D(x) over time, Jacobian
eigenvalues, the article's pointwise field beside the network, path angles."""

from __future__ import annotations

from .._checks import bad_type, check_choice, check_instance, check_int, where
from ..errors import ArgumentError
from ._common import CONFIG_COLOURS, image_mosaic, new_axes, symlog_decades
from .portraits import phase_portrait

__all__ = ["neural_distance_curves", "neural_d_over_time", "neural_eigenvalues", "neural_vs_pointwise",
           "neural_path_angle", "neural_experiment_figures"]


def _neural_results(fn: str, results) -> dict:
    """`{label: TrainResult}` from a TrainResult, a dict of them, or a neural.ExperimentResult."""
    from ..neural import ExperimentResult, TrainResult

    if isinstance(results, TrainResult):
        return {results.gan.label(): results}
    if isinstance(results, ExperimentResult):
        return dict(results.results)
    if isinstance(results, dict) and results and all(isinstance(r, TrainResult) for r in results.values()):
        return dict(results)
    raise bad_type(fn, "results", "a jaxgan.neural.TrainResult, a non-empty dict of them, or an ExperimentResult",
                   results)


def _colour(k: int) -> str:
    return CONFIG_COLOURS[k % len(CONFIG_COLOURS)]


def _median_band(ax, r, quantity: str, colour: str, label: str) -> None:
    """The median over the seeds that did not diverge, their interquartile range as a band."""
    import numpy as np

    from ..fates import Fate

    ok = r.fate != Fate.DIVERGED
    y = getattr(r, quantity)[ok]
    n_div = int((~ok).sum())
    lab = label + (f" ({n_div}/{r.n_seeds} diverged)" if n_div else "")
    if y.shape[0] == 0:
        ax.plot([], [], color=colour, label=lab + " — all diverged")
        return
    with np.errstate(invalid="ignore"):
        med = np.nanmedian(y, axis=0)
        lo, hi = np.nanpercentile(y, 25, axis=0), np.nanpercentile(y, 75, axis=0)
    ax.plot(r.steps, med, color=colour, lw=1.6, label=lab)
    ax.fill_between(r.steps, lo, hi, color=colour, alpha=0.15, lw=0)


_QUANTITY_LABELS = {"w1": "W1(pg, pd)", "kl": "KL(pd ‖ pg) on the histogram grid",
                    "fd": "Fréchet distance (digit-classifier features)",
                    "classes_covered": "digit classes covered (of 10)"}


def neural_distance_curves(results, *, quantity: str = "w1", ax=None, log: bool = True, title: str | None = None):
    """Distance of the generator to the data along training, one band per configuration.

    The line is the median over the seeds that did not diverge, the band their interquartile range;
    the legend counts diverged seeds. **Arguments:** `results` (a `TrainResult`, a dict
    `{label: TrainResult}` or an `ExperimentResult`), `quantity`: `"w1"`, `"kl"`, or for digits
    `"fd"` (Fréchet distance) or `"classes_covered"` (never on a log axis), `ax`, `log`
    (log y-axis), `title`. **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` for other `results`; `ArgumentError` for another `quantity`.
    """
    fn = "neural_distance_curves"
    res = _neural_results(fn, results)
    check_choice(fn, "quantity", quantity, tuple(_QUANTITY_LABELS))
    ax = new_axes(ax, figsize=(6.0, 4.0))
    for k, (label, r) in enumerate(res.items()):
        _median_band(ax, r, quantity, _colour(k), label)
    first = next(iter(res.values()))
    if quantity == "w1":
        ax.axhline(first.tol, color="0.4", ls=":", lw=1, label=f"convergence tolerance {first.tol:.2g}")
    if quantity == "classes_covered":
        ax.axhline(10, color="0.4", ls=":", lw=1, label="all 10 classes")
    elif log:
        ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel(_QUANTITY_LABELS[quantity] + (" (sliced)" if quantity == "w1" and first.gan.data.dim > 1 else ""))
    what = "distance to data" if quantity in ("w1", "kl", "fd") else "digit classes covered"
    ax.set_title(title or f"{what} ({first.gan.game.name}; median and IQR over seeds)")
    ax.legend(fontsize=7, loc="upper right")
    return ax


def _check_one_d_run(fn: str, result, seed: int) -> None:
    """`result` a 1-D `TrainResult` and `seed` an index into its seeds."""
    from ..neural import TrainResult

    check_instance(fn, "result", result, TrainResult, "a jaxgan.neural.TrainResult")
    if result.gan.data.dim != 1:
        raise ArgumentError(f"{fn} needs a 1-D run; this one has d = {result.gan.data.dim}.")
    check_int(fn, "seed", seed, 0, result.n_seeds - 1)


def neural_d_over_time(result, *, seed: int = 0, quantity: str = "d", ax=None, title: str | None = None,
                       colorbar: bool = True):
    """A heat map of `D(x)` (or of `pg(x) − pd(x)`) over training for one seed of a 1-D run.

    x on the vertical axis, the update on the horizontal one; for `"d"` the colour scale is centred on
    the game's rest value D0 (white = D0), so a discriminator that has settled is white everywhere.
    **Arguments:** `result`: a 1-D `TrainResult`; `seed`: its index in the run; `quantity`: `"d"` or
    `"pg"`; `ax`; `title`; `colorbar`. **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` for another `result` or a non-integer `seed`; `ArgumentError` for a
    run that is not 1-D, a `seed` out of range or another `quantity`.
    """
    import matplotlib.colors as mcolors
    import numpy as np

    from ..fates import Fate

    fn = "neural_d_over_time"
    _check_one_d_run(fn, result, seed)
    check_choice(fn, "quantity", quantity, ("d", "pg"))
    ax = new_axes(ax, figsize=(6.0, 3.6))
    if quantity == "d":
        z, centre, label = result.d_grid[seed].T, result.gan.game.rest_d(), "D(x)"
    else:
        z, centre, label = (result.pg_grid[seed] - result.pd_grid[None, :]).T, 0.0, "pg(x) − pd(x) (KDE)"
    finite = z[np.isfinite(z)]
    span = float(np.max(np.abs(finite - centre))) if finite.size else 1.0
    span = span if span > 0 else 1.0
    norm = mcolors.TwoSlopeNorm(vcenter=centre, vmin=centre - span, vmax=centre + span)
    im = ax.pcolormesh(result.steps, result.grid[:, 0], np.ma.masked_invalid(z), cmap="RdBu_r", norm=norm,
                       shading="nearest")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=label + (f" (white = D0 = {centre:g})" if quantity == "d" else ""))
    ax.set_xlabel("update")
    ax.set_ylabel("x")
    fate = Fate(int(result.fate[seed])).name.lower()
    ax.set_title(title or f"{label} over training — {result.gan.label()}, seed {result.seeds[seed]} ({fate})",
                 fontsize=9)
    return ax


def neural_eigenvalues(results, *, tail: float = 0.5, ax=None, title: str | None = None, max_points: int = 4000):
    """Leading game-Jacobian eigenvalues (Ritz values) in the complex plane, one colour per configuration.

    All seeds and the checkpoints of the last `tail` of training. Both axes are symmetric-log (the
    real parts of BatchNorm networks span orders of magnitude). **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` for other `results`.
    """
    import numpy as np

    res = _neural_results("neural_eigenvalues", results)
    ax = new_axes(ax, figsize=(6.0, 4.4))
    allv = []
    for k, (label, r) in enumerate(res.items()):
        c0 = max(0, min(len(r.steps) - 1, int(round(len(r.steps) * (1 - tail)))))
        ev = r.eigs[:, c0:].ravel()
        ev = ev[np.isfinite(ev)]
        if ev.size > max_points:
            ev = ev[np.linspace(0, ev.size - 1, max_points).astype(int)]
        allv.append(ev)
        rot = np.nanmean(r.mean_rotation(tail)) if ev.size else float("nan")
        ax.scatter(ev.real, ev.imag, s=7, alpha=0.45, color=_colour(k), lw=0,
                   label=f"{label} (Σ|Im|/Σ|Re| = {rot:.3g})")
    vals = np.concatenate(allv) if allv else np.zeros(0)
    lin = max(float(np.nanpercentile(np.abs(vals), 10)) if vals.size else 1.0, 1e-3)
    ax.set_xscale("symlog", linthresh=lin, linscale=1.5)
    ax.set_yscale("symlog", linthresh=lin, linscale=1.5)
    for which in "xy":  # BatchNorm's real parts span ten decades or more: labelled ticks that do not overlap
        symlog_decades(ax, which, lin, clear=3.0)
    ax.axvline(0, color="k", lw=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("Re λ (< 0: attraction)")
    ax.set_ylabel("Im λ (rotation)")
    ax.set_title(title or "game-Jacobian eigenvalues (Arnoldi Ritz values, late training)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", markerscale=2)
    return ax


def _pointwise_ranges(game, path, pd: float):
    """`(d_range, pg_range)` around a (D, pg) path and the rest point, inside the game's D-domain."""
    import numpy as np

    lo, hi = game.d_domain
    finite = np.isfinite(lo) and np.isfinite(hi)
    dmin, dmax = float(np.min(path[:, 0])), float(np.max(path[:, 0]))
    d0 = game.rest_d()
    pad = 0.15 * max(dmax - dmin, abs(d0) * 0.2, 0.2)
    d_lo = max(min(dmin, d0) - pad, lo + 0.01 * (hi - lo) if finite else -np.inf)
    d_hi = min(max(dmax, d0) + pad, hi - 0.01 * (hi - lo) if finite else np.inf)
    d_range = (d_lo if np.isfinite(d_lo) else min(dmin, d0) - pad, d_hi if np.isfinite(d_hi) else max(dmax, d0) + pad)
    pg_range = (0.0, max(float(np.max(path[:, 1])), pd) * 1.15 + 1e-3)
    return d_range, pg_range


def _panel_axes(fn: str, axes, n: int, panel_size) -> list:
    """`axes` as a list of `n` Axes (default: a new row of `n` panels)."""
    import matplotlib.pyplot as plt
    import numpy as np

    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(panel_size[0] * n, panel_size[1]), constrained_layout=True,
                               squeeze=False)
        axes = list(axes[0])
    axes = list(np.ravel(axes)) if not isinstance(axes, (list, tuple)) else list(axes)
    if len(axes) != n:
        raise ArgumentError(f"{where(fn, 'axes')} must hold {n} Axes (one per x); got {len(axes)}.")
    return axes


def neural_vs_pointwise(result, xs, *, seed: int = 0, axes=None, panel_size=(4.4, 3.8)):
    """The neural run beside the article's pointwise field: at each x in `xs`, the path of
    `(D(x), pg(x))` along training drawn over `pointwise_field(game, pd(x))`.

    `pg(x)` is the generator's kernel density estimate and `pd(x)` the data density smoothed by the same
    kernel (so pg = pd shows as the field's rest point). **Arguments:** `result`: a `TrainResult`;
    `xs`: points x (each `(d,)`, or numbers in 1-D; the nearest grid points are used); `seed`;
    `axes`: a sequence of `len(xs)` Axes (default: a new row of panels); `panel_size`.
    **Returns:** the list of `Axes`.

    **Raises:** `ArgumentTypeError` for another `result`; `ArgumentError` for no `xs` or a number of
    `axes` other than `len(xs)`.
    """
    import numpy as np

    from ..fields import pointwise_field
    from ..neural import TrainResult

    fn = "neural_vs_pointwise"
    check_instance(fn, "result", result, TrainResult, "a jaxgan.neural.TrainResult")
    xs = list(np.atleast_1d(xs)) if result.gan.data.dim == 1 else list(xs)
    if not xs:
        raise ArgumentError(f"{where(fn, 'xs')} must hold at least one point.")
    axes = _panel_axes(fn, axes, len(xs), panel_size)
    game = result.gan.game
    for x, ax in zip(xs, axes):
        x_used, d, pg, pd = result.pointwise_trajectory(x, seed)
        ok = np.isfinite(d) & np.isfinite(pg)
        path = np.stack([d[ok], pg[ok]], axis=1)
        d_range, pg_range = _pointwise_ranges(game, path, pd)
        xlab = f"{float(np.ravel(x_used)[0]):.2f}" if x_used.size == 1 else str(np.round(x_used, 2).tolist())
        phase_portrait(pointwise_field(game, pd), trajectories=[path], labels=[f"training, seed {result.seeds[seed]}"],
                       ax=ax, d_range=d_range, pg_range=pg_range, title=f"x = {xlab}: {game.name}, pd(x) = {pd:.3g}")
    return axes


def neural_path_angle(curves: dict, *, ax=None, title: str | None = None):
    """Path-angle curves (Berard et al. 2020): `{label: (alphas, cosines)}` (e.g. from
    `TrainResult.path_angle`), the cosine between the game field and the segment from the start of
    training to its end, against the position α on that segment. **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` when `curves` is not a non-empty dict."""
    import numpy as np

    if not isinstance(curves, dict) or not curves:
        raise bad_type("neural_path_angle", "curves", "a non-empty dict label -> (alphas, cosines)", curves)
    ax = new_axes(ax, figsize=(5.6, 3.8))
    for k, (label, (a, c)) in enumerate(curves.items()):
        c = np.asarray(c)
        if c.ndim == 2:
            with np.errstate(invalid="ignore"):
                med = np.nanmedian(c, axis=0)
            for row in c:
                ax.plot(a, row, color=_colour(k), lw=0.5, alpha=0.3)
            c = med
        ax.plot(a, c, color=_colour(k), lw=1.6, label=label)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("α on the segment θ(start) → θ(end)")
    ax.set_ylabel("cos(v(θ_α), θ_end − θ_start)")
    ax.set_title(title or "path-angle (Berard et al. 2020)", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def _d_over_time_figure(res: dict, acts, variants, seed: int):
    """`neural_d_over_time` of every configuration: one column per activation, one row per variant."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(variants), len(acts), figsize=(4.6 * len(acts), 2.9 * len(variants)),
                             constrained_layout=True, squeeze=False)
    for k, label in enumerate(res):
        i, j = k % len(variants), k // len(variants)
        neural_d_over_time(res[label], seed=seed, ax=axes[i][j], title=label, colorbar=(j == len(acts) - 1))
    fig.suptitle(f"D(x) over training (seed {seed}); white = D0", fontsize=10)
    return fig


def _eigenvalues_figure(res: dict, variants):
    """`neural_eigenvalues`, one panel per variant (all activations together)."""
    import matplotlib.pyplot as plt

    labels = list(res)
    fig, axes = plt.subplots(1, len(variants), figsize=(5.2 * len(variants), 4.2), constrained_layout=True,
                             squeeze=False)
    for i, v in enumerate(variants):
        sub = {lab: res[lab] for k, lab in enumerate(labels) if k % len(variants) == i}
        neural_eigenvalues(sub, ax=axes[0][i], title=f"{v}: game-Jacobian Ritz values (last half)")
    return fig


def _pointwise_figure(res: dict, variants, seed: int):
    """`neural_vs_pointwise` at the heaviest mode and at its flank, for the first activation plain and
    with BatchNorm; `None` for a run that is not 1-D or without those variants."""
    import matplotlib.pyplot as plt
    import numpy as np

    labels = list(res)
    pick = [lab for k, lab in enumerate(labels)
            if k // len(variants) == 0 and variants[k % len(variants)] in ("plain", "batchnorm")]
    first = res[labels[0]]
    if first.gan.data.dim != 1 or not pick:
        return None
    means = np.array([m[0] for m in first.gan.data.means])
    top = float(means[np.argmax(first.gan.data.weights)])
    xs = [top, top - 1.5 * min(first.gan.data.stds)]
    fig, axes = plt.subplots(len(pick), len(xs), figsize=(4.6 * len(xs), 3.9 * len(pick)),
                             constrained_layout=True, squeeze=False)
    for r_i, lab in enumerate(pick):
        for a in neural_vs_pointwise(res[lab], xs, seed=seed, axes=list(axes[r_i])):
            a.set_title(f"{lab} — " + a.get_title(), fontsize=8)
    return fig


def _samples_figure(experiment, acts, variants, seed: int, n_side: int = 6):
    """A mosaic of `n_side²` generated digits per configuration at the end of training (one column per
    activation, one row per variant; the same latent points everywhere), real digits in the last column."""
    import matplotlib.pyplot as plt
    import numpy as np

    from ..fates import Fate

    imgs = experiment.generated(n_side * n_side, seed)
    fig, axes = plt.subplots(len(variants), len(acts) + 1, figsize=(2.5 * (len(acts) + 1), 2.75 * len(variants)),
                             constrained_layout=True, squeeze=False)

    def mosaic(x):  # -1 is white in "gray_r"
        return image_mosaic(np.asarray(x).reshape(n_side * n_side, 8, 8), n_side, n_side, background=-1.0)

    for k, label in enumerate(imgs):
        i, j = k % len(variants), k // len(variants)
        r = experiment.results[label]
        fate = Fate(int(r.fate[seed])).name.lower()
        cls, fd = r.classes_covered[seed, -1], r.fd[seed, -1]
        score = f"{cls:.0f} classes, FD {fd:.3g}" if np.isfinite(cls) and np.isfinite(fd) else "no score"
        axes[i][j].imshow(mosaic(imgs[label]), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        axes[i][j].set_title(f"{label} ({fate})\n{score}", fontsize=8)
    real = np.asarray(next(iter(experiment.results.values())).gan.data.array)
    pick = np.random.default_rng(0).choice(real.shape[0], n_side * n_side, replace=False)
    axes[0][-1].imshow(mosaic(real[pick]), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    axes[0][-1].set_title("real digits", fontsize=8)
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.set_axis_off()
    fig.suptitle(f"generated digits, end of training (seed {seed};\nsame latent points in every panel)", fontsize=9)
    return fig


def _quality_figure(experiment):
    """Fréchet distance and classes covered along training (`neural_distance_curves`), side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.0), constrained_layout=True)
    neural_distance_curves(experiment, quantity="fd", ax=axes[0], title="Fréchet distance (median, IQR over seeds)")
    neural_distance_curves(experiment, quantity="classes_covered", ax=axes[1],
                           title="classes covered (median, IQR over seeds)")
    return fig


def neural_experiment_figures(experiment, *, path_angles: dict | None = None, seed: int = 0) -> dict:
    """All figures of a `jaxgan.neural.batchnorm_experiment` result, as `{name: Figure}`.

    - `"distances"`: W1 along training per configuration (`neural_distance_curves`);
    - `"d_over_time"` (1-D data): D(x) over training for seed `seed` of every configuration
      (`neural_d_over_time`);
    - `"samples"` (digits): a mosaic of generated digits per configuration at the end of training of
      seed `seed` (`ExperimentResult.generated`), beside real digits;
    - `"quality"` (digits): the Fréchet distance and the classes covered along training;
    - `"eigenvalues"`: game-Jacobian Ritz values, one panel per variant (`neural_eigenvalues`);
    - `"pointwise"`: (D(x), pg(x)) over the article's field at a mode and at its flank, for the first
      activation plain and with BatchNorm (`neural_vs_pointwise`; 1-D data);
    - `"path_angle"`: when `path_angles` (from `ExperimentResult.path_angles`) is given.

    **Raises:** `ArgumentTypeError` when `experiment` is not an `ExperimentResult`.
    """
    from ..neural import ExperimentResult

    check_instance("neural_experiment_figures", "experiment", experiment, ExperimentResult, "an ExperimentResult")
    res = experiment.results
    acts, variants = experiment.settings["activations"], experiment.settings["variants"]
    figs = {"distances": neural_distance_curves(experiment).figure}
    if experiment.digits:
        figs |= {"samples": _samples_figure(experiment, acts, variants, seed), "quality": _quality_figure(experiment)}
    elif next(iter(res.values())).gan.data.dim == 1:
        figs["d_over_time"] = _d_over_time_figure(res, acts, variants, seed)
    figs["eigenvalues"] = _eigenvalues_figure(res, variants)
    pointwise = _pointwise_figure(res, variants, seed)
    if pointwise is not None:
        figs["pointwise"] = pointwise
    if path_angles:
        figs["path_angle"] = neural_path_angle(path_angles).figure
    return figs
