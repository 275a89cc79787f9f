"""The BatchNorm experiment: does BatchNorm (or dropout) make GAN training cycle?

The article claims, from unpublished experiments, that "BatchNorm in any network immediately
turns the field into a closed one; ReLU works better". `batchnorm_experiment` trains the same
game on the same data from many seeds with each activation plain, with BatchNorm (in both
networks) and with dropout (in the discriminator), and tabulates fates, distances, rotation and
the kernel view (also `jaxgan experiment batchnorm`). With `data="digits"` the same comparison runs
on real images: scikit-learn's 8×8 digits with small DCGAN-style conv nets in flax
(`jaxgan.neural.dcgan`), scored by the digit classifier (classes covered, Fréchet distance).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import optax

from .._checks import bad_type, bad_value, check_choice, check_float, check_int
from ..dynamics import Optimizer
from ..fates import Fate
from ..progress import ProgressEvent, reporter
from .data import GaussianMixture, Samples, default_data, digits
from .result import TrainResult
from .spec import GAN, Net
from .training import finish_train, plan_train, short_run

__all__ = ["batchnorm_experiment", "ExperimentResult", "EXPERIMENT_SIZES", "DIGITS_SIZES", "VARIANTS", "DATA_KINDS"]

VARIANTS = ("plain", "batchnorm", "dropout")
DATA_KINDS = ("mixture", "digits")

EXPERIMENT_SIZES = {
    # seconds: the CLI test and a first look
    "quick": dict(activations=("relu",), variants=("plain", "batchnorm"), seeds=4, steps=600, measure_every=30,
                  hidden=(16, 16), krylov=6, n_eval=256, n_grid=32, batch_size=64),
    # the notebook with JAXGAN_SMALL=1
    "small": dict(activations=("relu", "tanh"), variants=("plain", "batchnorm"), seeds=4, steps=600,
                  measure_every=30, hidden=(16, 16), krylov=6, n_eval=256, n_grid=32, batch_size=64),
    # the experiment of the README
    "default": dict(activations=("relu", "leaky_relu", "tanh"), variants=VARIANTS, seeds=12, steps=3000,
                    measure_every=60, hidden=(32, 32), krylov=12, n_eval=1024, n_grid=64, batch_size=128),
}

# The digits (`data="digits"`): DCGAN conv nets of `width` channels (`jaxgan.neural.dcgan`), latent size
# `latent_dim`. Compile time dominates on CPU (about 20 s per configuration on a quiet core): the sizes
# differ mostly in seeds and updates, and every configuration of a size has the same shapes.
DIGITS_SIZES = {
    # compile-bound, well under a minute on 2 cores: the CLI test and a first look
    "quick": dict(activations=("relu",), variants=("plain", "batchnorm"), seeds=4, steps=300, measure_every=30,
                  width=4, latent_dim=16, krylov=4, n_eval=128, n_grid=20, batch_size=32),
    # every configuration, few seeds (about ten minutes on 2 busy cores)
    "small": dict(activations=("relu", "leaky_relu", "tanh"), variants=VARIANTS, seeds=4, steps=900,
                  measure_every=60, width=6, latent_dim=16, krylov=6, n_eval=256, n_grid=20, batch_size=64),
    # the experiment of the README
    "default": dict(activations=("relu", "leaky_relu", "tanh"), variants=VARIANTS, seeds=8, steps=3000,
                    measure_every=100, width=8, latent_dim=16, krylov=8, n_eval=512, n_grid=40, batch_size=64),
}

# The table's columns; "|" inside a header cell is escaped so that the markdown table renders.
_TABLE_COLUMNS = ("configuration", "seeds", "converged", "cycling", "diverged", "final W1: median [IQR]",
                  r"rotation Σ\|Im λ\|/Σ\|Re λ\|", r"max \|Im λ\|", "Re λ: min … max", "kernel-prediction cos: D",
                  "kernel-prediction cos: G")

_CSV_KEYS = ("label", "seeds", "converged", "cycling", "diverged", "undecided", "final_w1_median", "final_w1_mean",
             "rotation_mean", "max_imag_median", "min_real_median", "max_real_median", "kernel_cos_mean",
             "kernel_cos_g_mean", "step_cos_mean")
_DIGIT_COLUMNS = ("classes covered (of 10): median [range]", "FD: median [IQR]")
_DIGIT_CSV_KEYS = ("classes_covered_median", "fd_median")


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


@dataclasses.dataclass(frozen=True, eq=False)
class ExperimentResult:
    """The outcome of `batchnorm_experiment`: one `TrainResult` per configuration and a table.

    - `results: dict[str, TrainResult]`: `{label: TrainResult}` in table order.
    - `rows: list[dict]`: one summary per configuration (`TrainResult.summary` plus its `label`).
    - `settings: dict`: what was run (size, game, data, seeds, steps, update, lr, batch size, ...).
    - `wall_s: float`: total seconds.
    """

    results: dict
    rows: list
    settings: dict
    wall_s: float

    def _row(self, label: str, r: TrainResult) -> str:
        row = next(x for x in self.rows if x["label"] == label)
        fd = r.final_distance()[r.fate != Fate.DIVERGED]
        dist = (f"{np.median(fd):.3f} [{np.percentile(fd, 25):.3f}, {np.percentile(fd, 75):.3f}]"
                if fd.size else "n/a (all diverged)")
        rot = r.mean_rotation()[r.fate != Fate.DIVERGED]
        rot_s = f"{np.nanmean(rot):.3g} ± {np.nanstd(rot):.2g}" if np.isfinite(rot).any() else "n/a"
        div = f"{row['diverged']}" + (f" (at update {min(row['diverged_at'])}–{max(row['diverged_at'])})"
                                      if row["diverged"] else "")
        lo_re, hi_re = row["min_real_median"], row["max_real_median"]
        re_s = "n/a" if lo_re is None else f"{lo_re:.3g} … {hi_re:.3g}"
        cells = (label, row["seeds"], f"{row['converged']}/{row['seeds']}", row["cycling"], div, dist, rot_s,
                 _fmt(row["max_imag_median"], ".3g"), re_s, _fmt(row["kernel_cos_mean"], ".2f"),
                 _fmt(row["kernel_cos_g_mean"], ".2f"))
        if self.digits:
            cells += _digit_cells(r)
        return "| " + " | ".join(str(c) for c in cells) + " |"

    @property
    def digits(self) -> bool:
        """Whether the experiment ran on the digits (`data="digits"`): the table then has the digit scores."""
        return self.settings.get("data_kind") == "digits"

    def table(self) -> str:
        """The results as a markdown table, then a line on the settings (no NaN: diverged seeds are
        counted, not averaged). On the digits two more columns: the classes the digit classifier finds
        among the generated digits and the Fréchet distance on its features, at the end of training."""
        cols = _TABLE_COLUMNS + (_DIGIT_COLUMNS if self.digits else ())
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += [self._row(label, r) for label, r in self.results.items()]
        s = self.settings
        nets = (f"DCGAN conv nets of width {s['width']}, latent {s['latent_dim']}" if self.digits
                else f"hidden {s['hidden']}")
        w1 = "sliced W1 (on the 64 pixels)" if self.digits else "W1"
        lines += ["", f"game {s['game']}, data {s['data']}, {s['seeds']} seeds × {s['steps']} updates "
                      f"({s['update']}, Adam lr {s['lr']:g}, batch {s['batch_size']}), {nets}; "
                      f"converged: median {w1} over the last quarter ≤ {s['tol']:.3g}; eigenvalues: the {s['krylov']} "
                      f"Ritz values of an Arnoldi run per checkpoint, medians over the last half and the seeds; "
                      + ("digit scores at the last checkpoint, over the seeds that did not diverge; " if self.digits
                         else "") + f"{self.wall_s:.0f} s in all."]
        return "\n".join(lines)

    def to_json(self) -> dict:
        """A JSON-serialisable dict: settings, rows (None for what is undefined), per-config curves."""
        out = {"settings": self.settings, "wall_s": self.wall_s, "rows": self.rows, "curves": {}}
        for label, r in self.results.items():
            med = np.nanmedian(np.where(np.isfinite(r.w1), r.w1, np.nan), axis=0) if np.isfinite(r.w1).any() \
                else np.full(len(r.steps), np.nan)
            out["curves"][label] = {"steps": r.steps.tolist(),
                                    "w1_median": [None if not np.isfinite(v) else float(v) for v in med],
                                    "fates": [Fate(int(f)).name for f in r.fate],
                                    "fate_step": r.fate_step.tolist()}
            if self.digits:
                for name in ("classes_covered", "fd"):
                    out["curves"][label][f"{name}_median"] = _median_curve(getattr(r, name))
        return out

    def generated(self, n: int = 25, seed: int = 0) -> dict:
        """`{label: Float[ndarray, "n *sample_shape"]}`: `n` samples of each configuration's generator
        (eval mode) at the end of training of its seed with index `seed`, at the same `n` latent points
        for every configuration (a diverged seed shows its parameters just before the non-finite update).

        **Raises:** `ArgumentError`/`ArgumentTypeError` for `n < 1` or a seed index outside the run.
        """
        import jax

        from .measurements import g_eval

        n = check_int("generated", "n", n)
        out = {}
        for label, r in self.results.items():
            i = check_int("generated", "seed", seed, 0, r.n_seeds - 1)
            st = jax.tree_util.tree_map(lambda a: a[i], r.final)
            dtype = jax.tree_util.tree_leaves(st.tg)[0].dtype
            z = jax.random.normal(jax.random.key(0), (n, r.gan.latent_dim), dtype)
            out[label] = np.asarray(jax.jit(g_eval, static_argnums=0)(r.gan, st.tg, st.sg, z), np.float64)
        return out

    def path_angles(self, n_seeds: int = 4, n: int = 21) -> dict:
        """`{label: (alphas (n,), cosines (n_seeds, n))}`: `TrainResult.path_angle` of the first seeds of
        each configuration (diverged seeds give NaN rows)."""
        n_seeds = check_int("path_angles", "n_seeds", n_seeds)
        out = {}
        for label, r in self.results.items():
            rows = []
            for s in range(min(n_seeds, r.n_seeds)):
                a, c = r.path_angle(s, n)
                rows.append(c if r.fate[s] != Fate.DIVERGED else np.full_like(c, np.nan))
            out[label] = (a, np.stack(rows))
        return out

    def csv(self) -> str:
        """The rows as CSV (a header line, then one line per configuration; empty where undefined)."""
        keys = _CSV_KEYS + (_DIGIT_CSV_KEYS if self.digits else ())
        lines = [",".join(keys)]
        for row in self.rows:
            lines.append(",".join("" if row[k] is None else (f"{row[k]:.6g}" if isinstance(row[k], float) else
                                                               str(row[k])) for k in keys))
        return "\n".join(lines) + "\n"


def _median_curve(log: np.ndarray) -> list:
    """The median over seeds of a `(S, C+1)` log per checkpoint, None where no seed has a value."""
    finite = np.isfinite(log)
    with np.errstate(invalid="ignore"):
        med = np.array([np.median(log[finite[:, c], c]) if finite[:, c].any() else np.nan
                        for c in range(log.shape[1])])
    return [None if not np.isfinite(v) else float(v) for v in med]


def _digit_cells(r: TrainResult) -> tuple[str, str]:
    """The table's digit-score cells of a run: classes covered (median [min, max]) and FD (median [IQR])
    at the last checkpoint, over the seeds that did not diverge."""
    ok = r.fate != Fate.DIVERGED
    cls, fd = r.classes_covered[ok, -1], r.fd[ok, -1]
    cls, fd = cls[np.isfinite(cls)], fd[np.isfinite(fd)]
    cls_s = f"{np.median(cls):g} [{cls.min():g}, {cls.max():g}]" if cls.size else "n/a"
    fd_s = (f"{np.median(fd):.3g} [{np.percentile(fd, 25):.3g}, {np.percentile(fd, 75):.3g}]" if fd.size
            else "n/a")
    return cls_s, fd_s


def _variant_nets(activation: str, variant: str, hidden, dropout: float) -> tuple[Net, Net]:
    """`(discriminator, generator)` of one variant."""
    if variant == "batchnorm":  # "BatchNorm in any network": in both
        return Net(hidden, activation, batchnorm=True), Net(hidden, activation, batchnorm=True)
    if variant == "dropout":  # dropout in the discriminator, the usual place
        return Net(hidden, activation, dropout=dropout), Net(hidden, activation)
    return Net(hidden, activation), Net(hidden, activation)


def _dcgan_nets(activation: str, variant: str, width: int, latent_dim: int, dropout: float):
    """`(discriminator, generator)` of one variant on the digits: `jaxgan.neural.dcgan` flax modules."""
    from .dcgan import dcgan_discriminator, dcgan_generator

    norm = "batchnorm" if variant == "batchnorm" else None  # in both, as for the MLPs
    d = dcgan_discriminator(width=width, activation=activation, norm=norm,
                            dropout=dropout if variant == "dropout" else 0.0)
    return d, dcgan_generator(latent_dim=latent_dim, width=width, activation=activation, norm=norm)


def _data_of(data) -> tuple[str, GaussianMixture | Samples]:
    """`(kind, data)` of `batchnorm_experiment`'s `data` argument."""
    who = "batchnorm_experiment"
    if data is None or isinstance(data, str):
        kind = check_choice(who, "data", "mixture" if data is None else data, DATA_KINDS)
        return kind, (default_data(1) if kind == "mixture" else digits())
    if isinstance(data, GaussianMixture):
        return "mixture", data
    if isinstance(data, Samples) and data.sample_shape == (8, 8, 1):
        return "digits", data
    bad = bad_value if isinstance(data, Samples) else bad_type
    raise bad(who, "data", f"one of {', '.join(map(repr, DATA_KINDS))}, a GaussianMixture or 8×8×1 image Samples "
                           f"(e.g. jaxgan.neural.digits(classes=[0, 1]))", data)


def _sizes(size, seeds, steps, kind: str = "mixture") -> dict:
    """The size's settings with `seeds` and `steps` overridden (steps rounded down to checkpoints)."""
    return sized_settings("batchnorm_experiment", DIGITS_SIZES if kind == "digits" else EXPERIMENT_SIZES, size,
                          seeds, steps)


def compile_option(n_seeds: int, steps: int) -> bool | str:
    """The experiments' `train(..., fast_compile=)`: `"quick"` for a short run (`short_run`), where
    compiling is most of the cost and the experiment reports tables, not bit-exact runs; else XLA's
    defaults."""
    return "quick" if short_run(n_seeds, steps) else False


def sized_settings(who: str, table: dict, size, seeds, steps) -> dict:
    """`table[size]` (an experiment's sizes) with `seeds` and `steps` overridden, checked; steps are
    rounded down to whole checkpoints (`measure_every`) and must make at least one."""
    cfg = dict(table[check_choice(who, "size", size, tuple(table))])
    if seeds is not None:
        cfg["seeds"] = check_int(who, "seeds", seeds)
    if steps is not None:
        every = cfg["measure_every"]
        if check_int(who, "steps", steps) < every:
            raise bad_value(who, "steps", f"≥ {every} (one checkpoint of the size {size!r})", steps)
        cfg["steps"] = steps - steps % every
    return cfg


def _run_all(gans: dict, kw: dict, workers: int, report) -> dict:
    """`train` every GAN (`workers` at a time, in threads); `{label: TrainResult}` in `gans`' order."""
    lock, done = threading.Lock(), []

    def finish(label, plan):
        r = finish_train(plan)
        sm = r.summary()
        with lock:
            done.append(label)
            report(len(done), f"{label}: {sm['converged']}/{sm['seeds']} converged, {sm['diverged']} diverged "
                              f"(compile {r.compile_s:.0f} s, run {r.run_s:.0f} s)")
        return r

    if workers > 1 and len(gans) > 1:
        # This thread lowers the runs one after another, the largest programs (BatchNorm, dropout) first:
        # lowering holds the GIL, so the longest compile starts first and the others lower meanwhile;
        # the pool compiles and runs each run once it is lowered (XLA lets go of the GIL).
        items = sorted(gans.items(), key=lambda item: -(item[1].d_player.batchnorm + item[1].g_player.batchnorm
                                                       + bool(item[1].d_player.dropout)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {label: pool.submit(finish, label, plan_train(gan, **kw)) for label, gan in items}
            results = {label: f.result() for label, f in futures.items()}
    else:
        results = {label: finish(label, plan_train(gan, **kw)) for label, gan in gans.items()}
    return {label: results[label] for label in gans}


def batchnorm_experiment(size: str = "default", *, game="non_saturating", data=None,
                         seeds: int | None = None, steps: int | None = None, activations=None, variants=None,
                         update: str = "simultaneous", lr: float = 5e-4, dropout: float = 0.2, workers: int = 2,
                         progress: bool | Callable[[ProgressEvent], Any] = False) -> ExperimentResult:
    """Test the article's claim "BatchNorm in any network turns the field into a closed one; ReLU works
    better": the same game and data, many seeds, each activation plain / with BatchNorm (in both networks)
    / with dropout (in the discriminator).

    **Arguments:**

    - `size`: `"quick"`, `"small"` or `"default"` (see `EXPERIMENT_SIZES`; the default size runs in a
      few minutes on 2 CPU cores).
    - `game`.
    - `data`: `"mixture"` (default: `default_data(1)`, jaxgan's MLPs), a `GaussianMixture`, or
      `"digits"`: scikit-learn's 8×8 digits (`digits()`, or your own 8×8×1 image `Samples` such as
      `digits(classes=[0, 1])`) with small DCGAN conv nets in flax (`jaxgan.neural.dcgan`; the `flax`
      and `digits` extras), where the table also gives the digit scores (classes covered, FD) and
      the sizes are `DIGITS_SIZES` (quick: under a minute on 2 CPU cores, compile-bound).
    - `seeds`, `steps`, `activations`, `variants`: override the size's (`steps` is rounded down to a
      multiple of the size's `measure_every`).
    - `update`: `"simultaneous"` or `"alternating"`.
    - `lr`: Adam's step (β1 = 0.5) for both players; traced, so a new `lr` reuses the compiled programs.
    - `dropout`: the drop probability of the dropout variant.
    - `workers`: configurations compiled and run concurrently (threads; on the digits one at a time,
      see the code).
    - `progress`: `False` (silent), `True` (a bar on standard error) or a callable receiving a
      `jaxgan.progress.ProgressEvent` per finished configuration (its `message` summarises it).

    **Returns:** an `ExperimentResult` (`.table()` gives the markdown table).

    **Raises:** `ArgumentError`/`ArgumentTypeError` naming the argument.
    """
    who = "batchnorm_experiment"
    kind, data = _data_of(data)
    cfg = _sizes(size, seeds, steps, kind)
    acts = tuple(activations or cfg["activations"])
    vars_ = tuple(check_choice(who, "variants", v, VARIANTS) for v in (variants or cfg["variants"]))
    workers = check_int(who, "workers", workers)
    lr = check_float(who, "lr", lr)
    opt = Optimizer(optax.adam, learning_rate=lr, b1=0.5, b2=0.999)
    gans = {}
    for act in acts:
        if kind == "digits":
            check_choice(who, "activations", act, ("relu", "leaky_relu", "tanh"))
        for v in vars_:
            if kind == "digits":
                d_net, g_net = _dcgan_nets(act, v, cfg["width"], cfg["latent_dim"], dropout)
            else:
                d_net, g_net = _variant_nets(act, v, cfg["hidden"], dropout)
                act = d_net.activation
            label = act + ("" if v == "plain" else f" + {v}")
            gans[label] = GAN(data=data, game=game, discriminator=d_net, generator=g_net, d_optimizer=opt,
                              g_optimizer=opt, update=update, batch_size=cfg["batch_size"],
                              latent_dim=cfg.get("latent_dim", 4))
    if kind == "digits":
        # One configuration at a time: two conv-net training programs run at once from threads of one
        # process stalled XLA:CPU for good on a 2-core machine (both threads waiting in
        # block_until_ready, no CPU used); separate processes are fine.
        workers = 1
    report = reporter(who, progress, who, len(gans))
    kw = dict(seeds=cfg["seeds"], steps=cfg["steps"], measure_every=cfg["measure_every"], n_eval=cfg["n_eval"],
              n_grid=cfg["n_grid"], krylov=cfg["krylov"], top=cfg["krylov"],
              hessians=False,  # the table reads the game Jacobian's eigenvalues, not the players' Hessians
              fast_compile=compile_option(cfg["seeds"], cfg["steps"]))
    t0 = time.perf_counter()
    results = _run_all(gans, kw, workers, report)
    first = next(iter(results.values()))
    settings = {"size": size, "game": first.gan.game.name, "data": repr(data), "seeds": cfg["seeds"],
                "steps": cfg["steps"], "measure_every": cfg["measure_every"], "update": update, "lr": lr,
                "batch_size": cfg["batch_size"], "latent_dim": first.gan.latent_dim,
                "dropout": dropout, "krylov": cfg["krylov"], "tol": first.tol,
                "activations": list(acts), "variants": list(vars_), "data_kind": kind}
    settings |= {"width": cfg["width"]} if kind == "digits" else {"hidden": list(cfg["hidden"])}
    rows = [r.summary() | {"label": label} for label, r in results.items()]
    return ExperimentResult(results, rows, settings, time.perf_counter() - t0)
