"""Figures of the landscape experiment (`jaxgan.neural.landscape_experiment`, Berard et al. 2020): the
game Jacobian's top eigenvalues in the complex plane, the path-angle with its zoom near the end
point, each player's loss-Hessian extreme eigenvalues, and the generated samples."""

from __future__ import annotations

from .._checks import bad_type
from ._common import CONFIG_COLOURS, image_mosaic

__all__ = ["landscape_eigenvalues", "landscape_path_angle", "landscape_hessians", "landscape_samples",
           "landscape_figures"]


def _runs(fn: str, result) -> dict:
    """`{label: LandscapeRun}` of a `LandscapeResult`."""
    from ..neural.landscape import LandscapeResult

    if not isinstance(result, LandscapeResult):
        raise bad_type(fn, "result", "a jaxgan.neural.LandscapeResult", result)
    return dict(result.runs)


def _grid(n_rows: int, n_cols: int, size=(4.2, 3.4), **kw):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size[0] * n_cols, size[1] * n_rows), squeeze=False,
                             constrained_layout=True, **kw)
    return fig, axes


def _seed_colour(k: int) -> str:
    return CONFIG_COLOURS[k % len(CONFIG_COLOURS)]


def landscape_eigenvalues(result):
    """One column per data × game: the top game-Jacobian eigenvalues at the end of training, every seed
    that did not diverge (one colour per seed), in the complex plane (jaxgan's ascent convention: a
    stable point has Re λ < 0); the bottom row zooms onto |Re λ| ≤ 4 max|Im λ|, where the rotation
    shows when large real eigenvalues dominate the top row. **Returns:** the Figure.

    **Raises:** `ArgumentTypeError` for anything but a `LandscapeResult`.
    """
    import numpy as np

    runs = _runs("landscape_eigenvalues", result)
    fig, axes = _grid(2, len(runs), size=(4.4, 3.2))
    for col, (label, r) in enumerate(runs.items()):
        ok = np.flatnonzero(r.ok)
        m = np.nanmax(np.abs(r.eigs[ok].imag)) if ok.size and np.isfinite(r.eigs[ok].imag).any() else 1.0
        m = m if m > 0 else 1.0
        for row, ax in enumerate(axes[:, col]):
            for s in ok:
                ev = r.eigs[s]
                ax.scatter(ev.real, ev.imag, s=14, color=_seed_colour(s), alpha=0.8, lw=0,
                           label=f"seed {r.result.seeds[s]}: {r.verdicts[s]}" if row == 0 else None)
            ax.axvline(0, color="0.3", lw=0.8)
            ax.axhline(0, color="0.3", lw=0.8)
            ax.set_xlabel("Re λ")
            ax.set_ylabel("Im λ")
        rw = r.row()
        axes[0, col].set_title(f"{label}\nmedian max|Im λ| / max|λ| = {rw['rel_imag_median'] or float('nan'):.2g}; "
                               f"rotating: {100 * (rw['rotating'] or 0):.0f}%", fontsize=8)
        axes[0, col].legend(fontsize=6, loc="best")
        axes[1, col].set_xlim(-4 * m, 1 * m)
        axes[1, col].set_ylim(-1.2 * m, 1.2 * m)
        axes[1, col].set_title(f"{label}: zoom, |Re λ| ≤ 4 max|Im λ|", fontsize=9)
    fig.suptitle(f"top {result.settings['top']} eigenvalues of the game Jacobian at the end of training", fontsize=10)
    return fig


def landscape_path_angle(result):
    """Per data × game (rows): the path-angle cos(v(θ_α), θ_end − θ_0) along the straight path from the
    initial (α = 0) to the final (α = 1) parameters and beyond (left), and near α = 1 against α − 1
    on a symmetric-log axis (right; Berard et al.'s zoom), every seed that did not diverge, with the
    bump score. **Returns:** the Figure.

    **Raises:** `ArgumentTypeError` for anything but a `LandscapeResult`.
    """
    import numpy as np

    runs = _runs("landscape_path_angle", result)
    fig, axes = _grid(len(runs), 2, size=(4.6, 3.0))
    for (ax, az), (label, r) in zip(axes, runs.items()):
        e = r.end
        for s in np.flatnonzero(r.ok):
            c = _seed_colour(s)
            ax.plot(e.alphas, e.cosines[s], color=c, lw=1.1, label=f"seed {r.result.seeds[s]}: bump {r.bump[s]:.2f}")
            a, cos = r.path()
            az.plot(a - 1.0, cos[s], color=c, lw=1.1, marker=".", ms=2.5)
        for x in (ax, az):  # autoscaled: in many dimensions the cosines are small
            x.axhline(0, color="0.3", lw=0.8)
            x.set_ylabel("cos(v(θ_α), θ_end − θ_0)")
        ax.axvline(1, color="0.3", lw=0.8, ls=":")
        az.axvline(0, color="0.3", lw=0.8, ls=":")
        az.set_xscale("symlog", linthresh=1e-4)
        az.set_xlim(-0.25, 0.25)
        ax.set_xlabel("α")
        az.set_xlabel("α − 1 (symmetric log)")
        ax.set_title(f"{label}: path-angle", fontsize=8)
        az.set_title(f"{label}: near α = 1 (median bump {np.nanmedian(r.bump):.2f})", fontsize=8)
        ax.legend(fontsize=6, loc="best")
    return fig


def landscape_hessians(result):
    """Each player's loss-Hessian extreme eigenvalues (λ_min, λ_max of H_D and H_G). Over training
    when the run logs them (`TrainResult.hess_g_min` etc., `krylov > 0`: one line per seed, the
    end-point minima on the large batch as markers at the last update); otherwise the end-of-training values per seed, per data
    × game. A negative λ_min of H_G: not a local minimum for the generator. **Returns:** the Figure.

    **Raises:** `ArgumentTypeError` for anything but a `LandscapeResult`.
    """
    import numpy as np

    runs = _runs("landscape_hessians", result)
    fig, axes = _grid(1, len(runs), size=(4.6, 3.6))
    for ax, (label, r) in zip(axes[0], runs.items()):
        logs = {n: getattr(r.result, n, None) for n in ("hess_d_min", "hess_d_max", "hess_g_min", "hess_g_max")}
        ok = np.flatnonzero(r.ok)
        if all(v is not None and np.isfinite(v[ok]).any() for v in logs.values()):  # NaN with krylov=0
            steps = r.result.steps
            for name, colour, ls in (("hess_g_min", "C3", "-"), ("hess_g_max", "C3", ":"),
                                     ("hess_d_min", "C0", "-"), ("hess_d_max", "C0", ":")):
                for j, s in enumerate(ok):
                    ax.plot(steps, logs[name][s], color=colour, ls=ls, lw=0.9, alpha=0.7,
                            label=name.replace("hess_", "H_").replace("_", " ") if j == 0 else None)
            last = steps[-1]
            ax.scatter(np.full(ok.size, last), r.hess_g[ok, 0], color="C3", marker="x", zorder=3,
                       label="H_G min at the end (Lanczos, large batch)")
            ax.scatter(np.full(ok.size, last), r.hess_d[ok, 0], color="C0", marker="x", zorder=3,
                       label="H_D min at the end (Lanczos, large batch)")
            ax.set_xlabel("update")
        else:
            x = np.arange(ok.size)
            for col, name, colour in ((0, "min", "C3"), (1, "max", "C3")):
                ax.scatter(x - 0.1, r.hess_g[ok, col], color=colour, marker="v" if col == 0 else "^",
                           label=f"H_G λ{name}")
            for col, name in ((0, "min"), (1, "max")):
                ax.scatter(x + 0.1, r.hess_d[ok, col], color="C0", marker="v" if col == 0 else "^",
                           label=f"H_D λ{name}")
            ax.set_xticks(x, [str(r.result.seeds[s]) for s in ok])
            ax.set_xlabel("seed (end of training)")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_ylabel("loss-Hessian eigenvalue")
        ax.set_title(f"{label}\nλmin(H_G) < 0 in {100 * (r.row()['neg_g'] or 0):.0f}% of seeds", fontsize=9)
        ax.legend(fontsize=6, loc="best")
    return fig


def landscape_samples(result, *, n: int = 512):
    """Per data × game: up to `n` generated samples (`LandscapeRun.end.samples`) of every seed that did not
    diverge, over the data's mode centres (2-D mixtures); for images (the digits), 32 samples of the
    first seed that did not diverge as a tiled picture. **Returns:** the Figure, or None for other data.

    **Raises:** `ArgumentTypeError` for anything but a `LandscapeResult`.
    """
    import numpy as np

    runs = _runs("landscape_samples", result)
    first = next(iter(runs.values()))
    shape = first.end.samples.shape[2:]
    means = getattr(first.result.gan.data, "means", None) if hasattr(first.result, "gan") else None
    if not (len(shape) == 3 or (shape == (2,) and means is not None)):
        return None
    images = len(shape) == 3
    fig, axes = _grid(1, len(runs), size=(4.2, 2.5) if images else (3.6, 3.6))
    for ax, (label, r) in zip(axes[0], runs.items()):
        ok = np.flatnonzero(r.ok)
        if images:  # (H, W, C): a 4 × 8 tile of the first seed's samples
            if ok.size:
                tile = image_mosaic(np.asarray(r.end.samples[ok[0]][:32, :, :, 0]), 4, 8, background=1.0)
                ax.imshow(tile, cmap="gray", vmin=-1, vmax=1)  # +1 is white in "gray"
            ax.set_axis_off()
            ax.set_title(f"{label}: samples of seed {r.result.seeds[ok[0]] if ok.size else '-'}", fontsize=9)
            continue
        for s in ok:
            x = np.asarray(r.end.samples[s])[:n]
            ax.scatter(x[:, 0], x[:, 1], s=2, color=_seed_colour(s), alpha=0.4, lw=0)
        m = np.asarray(r.result.gan.data.means)
        ax.scatter(m[:, 0], m[:, 1], marker="+", color="k", s=40, label="data modes")
        lim = 1.6 * np.max(np.abs(m))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(f"{label}: generated samples", fontsize=9)
        ax.legend(fontsize=6, loc="upper right")
    return fig


def landscape_figures(result) -> dict:
    """`{name: Figure}`: `"eigenvalues"`, `"path_angle"`, `"hessians"` and (2-D mixtures, images) `"samples"`.

    **Raises:** `ArgumentTypeError` for anything but a `LandscapeResult`.
    """
    _runs("landscape_figures", result)
    figs = {"eigenvalues": landscape_eigenvalues(result), "path_angle": landscape_path_angle(result),
            "hessians": landscape_hessians(result)}
    samples = landscape_samples(result)
    if samples is not None:
        figs["samples"] = samples
    return figs
