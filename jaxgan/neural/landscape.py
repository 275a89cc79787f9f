"""The landscape experiment: Berard et al.'s findings checked on many seeds (`jaxgan experiment landscape`).

Berard, Gidel, Almahairi, Vincent & Lacoste-Julien 2020, "A Closer Look at the Optimization
Landscapes of Generative Adversarial Networks" (ICLR), report three things about the end of GAN
training (their MoG and MNIST experiments, NSGAN and WGAN-GP):

- **(a) rotation**: the game Jacobian's top eigenvalues have large imaginary parts;
- **(b) not a Nash equilibrium**: the generator's loss Hessian has negative eigenvalues there, so
  training ends at a *locally stable stationary point* (LSSP) that is not a local Nash equilibrium;
- **(c) the path-angle bump**: the cosine between the game field and the straight path from the
  initial to the final parameters is near 0 along the path and shows a "bump" near the end point
  (α = 1), the signature of rotation around it (their Fig. 2).

`landscape_experiment` trains each (data, game) from many seeds in one compiled program
(`jaxgan.neural.train`), measures the end point (`jaxgan.neural.endpoint`) and says, with the
numbers, whether each finding holds (`LandscapeResult.check`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NamedTuple

import numpy as np
import optax

from .. import games as _games
from .._checks import check_choice, check_float, check_int
from ..dynamics import Optimizer
from ..errors import ArgumentError, ArgumentTypeError
from ..fates import Fate
from ..progress import ProgressEvent, reporter
from ..stability.krylov import ritz_values
from .data import grid_of_25, ring_of_8
from .endpoint import EndPoint, EndSizes, end_point
from .experiment import compile_option, sized_settings
from .measurements import rotation_index
from .result import TrainResult
from .spec import GAN, Net
from .training import train
from .verdicts import quiet

__all__ = ["landscape_experiment", "LandscapeResult", "LandscapeRun", "Finding", "LANDSCAPE_SIZES",
           "LANDSCAPE_DATA", "LANDSCAPE_GAMES", "bump_score"]

LANDSCAPE_DATA = ("ring", "grid", "digits")

# name -> (jaxgan game, penalty, penalty weight): NSGAN and WGAN-GP (λ = 10, Gulrajani et al. 2017).
LANDSCAPE_GAMES = {"non_saturating": ("non_saturating", None, 1.0), "wgan_gp": ("wasserstein", "wgan_gp", 10.0)}

LANDSCAPE_SIZES = {
    # the CLI test and a first look: compile-bound
    "quick": dict(seeds=4, steps=600, measure_every=100, hidden=(16, 16), batch_size=64, n_eval=256, krylov=0,
                  n_big=256, arnoldi=12, lanczos=16, n_path=25, n_zoom=8, width=8),
    # the README's numbers on a 2-core CPU (a few minutes)
    "small": dict(seeds=8, steps=4000, measure_every=200, hidden=(32, 32), batch_size=128, n_eval=512, krylov=8,
                  n_big=1024, arnoldi=30, lanczos=40, n_path=49, n_zoom=16, width=16),
    # more seeds, longer runs, wider networks (tens of minutes on 2 CPU cores)
    "default": dict(seeds=16, steps=10000, measure_every=500, hidden=(64, 64), batch_size=128, n_eval=1024,
                    krylov=12, n_big=2048, arnoldi=40, lanczos=60, n_path=61, n_zoom=20, width=16),
}

# Thresholds of the per-seed verdicts (relative, so that they do not depend on the scale of the losses).
ROTATION_MIN = 0.1  # rotating: max |Im λ| ≥ this × max |λ| over the top eigenvalues
NASH_TOL = 1e-3  # a Hessian's λ_min < −NASH_TOL · max|λ| is negative (float32 round-off of the HVPs: ~1e-6)
STABLE_TOL = 1e-2  # top eigenvalues with Re λ ≤ STABLE_TOL · max|λ|: stable (jaxgan's ascent convention)
BUMP_NEAR, BUMP_FLANK = 0.1, (0.3, 0.5)  # |α − 1| of the bump and of its flanks
BUMP_MIN = 0.5  # a bump: max |cos| near α = 1 is at least 1 / (1 − BUMP_MIN) = 2 × the flanks' median |cos|


class Finding(NamedTuple):
    """One of Berard et al.'s findings checked: `key` ("a", "b", "c"), `claim`, `verdict` ("agree",
    "disagree", "partly" or "n/a"), `evidence` (the numbers, per data × game)."""

    key: str
    claim: str
    verdict: str
    evidence: str


def bump_score(alphas, cosines) -> np.ndarray:
    """The path-angle bump near α = 1: `1 − base / peak`, with `peak` the largest `|cos|` over
    `|α − 1| ≤ 0.1` and `base` the median `|cos|` over `0.3 ≤ |α − 1| ≤ 0.5` (both sides where
    measured). Scale-free (in many dimensions every cosine is small): 1 for a bump standing on flat
    zero flanks, 0.5 for a peak twice the flanks, ≤ 0 for none.

    For a linear field `v = A(θ − θ*)` and an end point off `θ*` by `e`, `v(θ_α) = A e + (α − 1) A d`
    (`d = θ_end − θ_0`): for a pure rotation (`dᵀAd = 0`) the cosine is `dᵀAe / (‖d‖ ‖v‖)`, near 0
    on the flanks and peaking where ‖v‖ is smallest, at α ≈ 1 (a bump, score near 1); for a pure
    attraction it is a sign switch between flanks of equal |cos| (score ≤ 0). **Arguments:**
    `alphas (n,)`, `cosines (..., n)` (NaN ignored). **Returns:** the score per curve, `(...)`, NaN
    where undefined.
    """
    a = np.asarray(alphas, np.float64)
    c = np.abs(np.asarray(cosines, np.float64))
    dist = np.abs(a - 1.0)
    near, flank = dist <= BUMP_NEAR, (dist >= BUMP_FLANK[0]) & (dist <= BUMP_FLANK[1])
    with quiet():
        peak = np.nanmax(np.where(near, c, np.nan), axis=-1) if near.any() else np.full(c.shape[:-1], np.nan)
        base = np.nanmedian(np.where(flank, c, np.nan), axis=-1) if flank.any() else np.full(c.shape[:-1], np.nan)
        return 1.0 - base / peak


@dataclasses.dataclass(frozen=True, eq=False)
class LandscapeRun:
    """One (data, game) of the experiment: its training and its end point, per seed `S`.

    - `data`, `game`: the names; `result`: the `TrainResult`; `end`: the `EndPoint` measurements.
    - `eigs: Complex[ndarray, "S k"]`: the top game-Jacobian eigenvalues at the end (by modulus);
      `max_imag`, `rel_imag`, `rotation (S,)`: max |Im λ|, max |Im λ| / max |λ| and Σ|Im λ|/Σ|Re λ|
      over them; `rotating (S,)`: `rel_imag ≥ 0.1`; `n_rot (S,)`: how many of them are
      rotation-dominated (|Im λ| > |Re λ|, |λ| ≥ 0.01 max|λ|); `stable (S,)`: every top eigenvalue has
      Re λ ≤ 0.01 max|λ|.
    - `hess_d`, `hess_g: (S, 2)`: (min, max) eigenvalues of each player's loss Hessian;
      `neg_d`, `neg_g (S,)`: the min is below −0.001 × max|λ|.
    - `verdicts: tuple[str]`: "local Nash", "LSSP, not Nash", "unstable, not Nash" or "diverged".
    - `bump (S,)`: `bump_score` of the path-angle (coarse and zoom points together).
    - `ok (S,)`: not diverged (the statistics are over these seeds).
    """

    data: str
    game: str
    result: TrainResult
    end: EndPoint
    eigs: np.ndarray
    max_imag: np.ndarray
    rel_imag: np.ndarray
    rotation: np.ndarray
    rotating: np.ndarray
    n_rot: np.ndarray
    stable: np.ndarray
    hess_d: np.ndarray
    hess_g: np.ndarray
    neg_d: np.ndarray
    neg_g: np.ndarray
    verdicts: tuple
    bump: np.ndarray
    ok: np.ndarray

    @property
    def label(self) -> str:
        """`"data / game"`."""
        return f"{self.data} / {self.game}"

    def path(self) -> tuple[np.ndarray, np.ndarray]:
        """`(alphas, cosines (S, n))`: coarse and zoom points merged, sorted by α."""
        a = np.concatenate([self.end.alphas, self.end.zoom_alphas])
        c = np.concatenate([self.end.cosines, self.end.zoom_cosines], axis=1)
        order = np.argsort(a, kind="stable")
        return a[order], c[:, order]

    def fates(self) -> dict[str, int]:
        """Counts of each fate."""
        return {f.name.lower(): int(np.sum(self.result.fate == f)) for f in
                (Fate.CONVERGED, Fate.CYCLING, Fate.DIVERGED, Fate.UNDECIDED)}

    def row(self) -> dict[str, Any]:
        """The table's numbers (None where no seed is left), and the medians of the run's own in-scan
        loss-Hessian extremes at the last checkpoint (`hess_*_inscan_median`: the training batch and
        `krylov` Lanczos steps; None when the run did not log them) to compare with the end point's."""
        ok = self.ok
        n = int(ok.sum())

        def med(a):
            a = np.asarray(a, np.float64)[ok]
            return float(np.nanmedian(a)) if n and np.isfinite(a).any() else None

        def frac(a):
            return float(np.mean(np.asarray(a)[ok])) if n else None

        lssp = np.array([v == "LSSP, not Nash" for v in self.verdicts])
        return {"data": self.data, "game": self.game, "seeds": len(ok), "measured": n, **self.fates(),
                "max_imag_median": med(self.max_imag), "rel_imag_median": med(self.rel_imag),
                "rotation_median": med(self.rotation),
                "rotating": frac(self.rotating), "n_rot_median": med(self.n_rot), "stable": frac(self.stable),
                "hess_g_min_median": med(self.hess_g[:, 0]), "hess_g_max_median": med(self.hess_g[:, 1]),
                "hess_d_min_median": med(self.hess_d[:, 0]), "hess_d_max_median": med(self.hess_d[:, 1]),
                "neg_g": frac(self.neg_g), "neg_d": frac(self.neg_d), "lssp_not_nash": frac(lssp),
                "not_nash": frac(self.neg_g | self.neg_d), "bump_median": med(self.bump),
                "bump": frac(self.bump >= BUMP_MIN), "final_w1_median": med(self.result.w1[:, -1]),
                **{f"{name}_inscan_median": med(getattr(self.result, name)[:, -1])
                   if getattr(self.result, name, None) is not None else None
                   for name in ("hess_d_min", "hess_d_max", "hess_g_min", "hess_g_max")}}


def _run_of(data: str, game: str, result: TrainResult, end: EndPoint, top: int) -> LandscapeRun:
    """The per-seed verdicts of one (data, game) from its training and end point."""
    eigs = np.stack([ritz_values(h, k, top) for h, k in zip(end.game_h, end.game_k)])
    ok = result.fate != Fate.DIVERGED
    with quiet():
        mod = np.abs(eigs)
        scale = np.nanmax(mod, axis=1, keepdims=True)
        stable = np.all(~(eigs.real > STABLE_TOL * scale), axis=1) & np.isfinite(scale[:, 0])
        max_imag = np.nanmax(np.abs(eigs.imag), axis=1)
        rel_imag = max_imag / scale[:, 0]
        rotating = rel_imag >= ROTATION_MIN
        n_rot = np.sum((np.abs(eigs.imag) > np.abs(eigs.real)) & (mod >= 0.01 * scale), axis=1)

        def negative(h):
            return h[:, 0] < -NASH_TOL * np.nanmax(np.abs(h), axis=1)

        neg_d, neg_g = negative(end.hess_d), negative(end.hess_g)
    rotation = rotation_index(eigs)
    verdicts = tuple("diverged" if not o else "local Nash" if not (nd or ng) else
                     "LSSP, not Nash" if s else "unstable, not Nash"
                     for o, nd, ng, s in zip(ok, neg_d, neg_g, stable))
    alphas = np.concatenate([end.alphas, end.zoom_alphas])
    bump = bump_score(alphas, np.concatenate([end.cosines, end.zoom_cosines], axis=1))
    nan_if = lambda a: np.where(ok, a, np.nan)  # noqa: E731
    return LandscapeRun(data, game, result, end, eigs, nan_if(max_imag), nan_if(rel_imag), nan_if(rotation),
                        rotating & ok, nan_if(n_rot.astype(np.float64)),
                        stable & ok, end.hess_d, end.hess_g, neg_d & ok, neg_g & ok, verdicts, nan_if(bump), ok)


_COLUMNS = ("data", "game", "seeds", "fates c/y/d/u", r"max \|Im λ\|", r"max \|Im λ\| / max \|λ\|",
            r"Σ\|Im λ\|/Σ\|Re λ\|", r"\|Im λ\|>\|Re λ\| in top", "rotating",
            "λmin(H_G)", "λmin(H_D)", "G not min", "LSSP not Nash", "bump score", "bump")


def _fmt(x, spec=".3g") -> str:
    return "n/a" if x is None else format(x, spec)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


@dataclasses.dataclass(frozen=True, eq=False)
class LandscapeResult:
    """What `landscape_experiment` returns: `runs: dict[str, LandscapeRun]` (by `"data / game"`, in
    order), `settings: dict` (what was run), `wall_s: float`."""

    runs: dict
    settings: dict
    wall_s: float

    @property
    def rows(self) -> list[dict]:
        """`LandscapeRun.row()` of every run."""
        return [r.row() for r in self.runs.values()]

    def table(self) -> str:
        """One markdown row per data × game (medians over the seeds that did not diverge), then the settings."""
        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        for row in self.rows:
            fates = f"{row['converged']}/{row['cycling']}/{row['diverged']}/{row['undecided']}"
            cells = (row["data"], row["game"], row["seeds"], fates, _fmt(row["max_imag_median"]),
                     _fmt(row["rel_imag_median"], ".2g"), _fmt(row["rotation_median"], ".2g"),
                     _fmt(row["n_rot_median"], ".3g"), _pct(row["rotating"]), _fmt(row["hess_g_min_median"]),
                     _fmt(row["hess_d_min_median"]), _pct(row["neg_g"]), _pct(row["lssp_not_nash"]),
                     _fmt(row["bump_median"], ".2f"), _pct(row["bump"]))
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        s = self.settings
        lines += ["", f"{s['seeds']} seeds × {s['steps']} updates ({s['update']}, Adam lr {s['lr']:g}, β1 0.5, batch "
                      f"{s['batch_size']}), {s['networks']}, {s['wall_s']:.0f} s. At the end, on a "
                      f"fixed batch of {s['n_big']}: the top {s['top']} game-Jacobian eigenvalues ({s['arnoldi']} "
                      f"Arnoldi steps; '|Im λ|>|Re λ| in top': how many of them, among |λ| ≥ 0.01 max|λ|; 'rotating': "
                      f"max|Im λ| ≥ {ROTATION_MIN:g} max|λ|), each "
                      f"player's loss-Hessian extremes ({s['lanczos']} Lanczos steps; 'G not min': λmin(H_G) < "
                      f"−{NASH_TOL:g} max|λ(H_G)|; 'LSSP not Nash': that or D's, with every top eigenvalue Re λ ≤ "
                      f"{STABLE_TOL:g} max|λ|), the path-angle bump score (1 − the median |cos| at |α−1| = "
                      f"{BUMP_FLANK[0]:g}–{BUMP_FLANK[1]:g} over the max at |α−1| ≤ {BUMP_NEAR:g}; 'bump': ≥ "
                      f"{BUMP_MIN:g}, a peak twice the flanks). Fates: "
                      f"converged/cycling/diverged/undecided."]
        return "\n".join(lines)

    def check(self) -> list[Finding]:
        """Findings (a), (b), (c) of Berard et al. against these runs: per (data, game) a finding holds
        when at least half of the seeds that did not diverge show it."""
        rows = self.rows
        specs = (("a", "the game Jacobian's top eigenvalues have large imaginary parts (rotation)", "rotating",
                  lambda r: f"{_pct(r['rotating'])} of seeds rotating (median max|Im λ| {_fmt(r['max_imag_median'])}"
                            f" = {_fmt(r['rel_imag_median'], '.2g')} max|λ|, Σ|Im|/Σ|Re| "
                            f"{_fmt(r['rotation_median'], '.2g')}, {_fmt(r['n_rot_median'], '.3g')} of the top "
                            f"eigenvalues with |Im λ| > |Re λ|)"),
                 ("b", "the generator's loss Hessian has negative eigenvalues: a locally stable stationary point, "
                       "not a local Nash equilibrium", "neg_g",
                  lambda r: f"λmin(H_G) < 0 in {_pct(r['neg_g'])} of seeds (median λmin "
                            f"{_fmt(r['hess_g_min_median'])}, λmax {_fmt(r['hess_g_max_median'])}), LSSP not Nash in "
                            f"{_pct(r['lssp_not_nash'])}"),
                 ("c", "the path-angle shows a bump near the end point (α = 1)", "bump",
                  lambda r: f"bump in {_pct(r['bump'])} of seeds (median score {_fmt(r['bump_median'], '.2f')})"))
        out = []
        for key, claim, col, text in specs:
            holds = [r[col] >= 0.5 for r in rows if r[col] is not None]
            verdict = "n/a" if not holds else "agree" if all(holds) else "disagree" if not any(holds) else "partly"
            evidence = "; ".join(f"{r['data']} / {r['game']}: {text(r)}" for r in rows)
            out.append(Finding(key, claim, verdict, evidence))
        return out

    def check_text(self) -> str:
        """`check()` as markdown lines."""
        return "\n".join(f"- ({f.key}) {f.claim}: **{f.verdict}** — {f.evidence}." for f in self.check())

    def to_json(self) -> dict:
        """A JSON-serialisable dict: settings, rows, findings, and per run the per-seed numbers and curves."""
        def num(a):
            return [None if not np.isfinite(x) else float(x) for x in np.ravel(np.asarray(a, np.float64))]

        runs = {}
        for label, r in self.runs.items():
            alphas, cos = r.path()
            runs[label] = {"fates": [Fate(int(f)).name for f in r.result.fate], "verdicts": list(r.verdicts),
                           "eigs_real": [num(e.real) for e in r.eigs], "eigs_imag": [num(e.imag) for e in r.eigs],
                           "hess_d": [num(h) for h in r.hess_d], "hess_g": [num(h) for h in r.hess_g],
                           "bump": num(r.bump), "alphas": num(alphas), "cosines": [num(c) for c in cos],
                           "final_w1": num(r.result.w1[:, -1])}
        return {"settings": self.settings, "wall_s": self.wall_s, "rows": self.rows,
                "findings": [f._asdict() for f in self.check()], "runs": runs}


# ============================================================================ running it


def _check_games(games) -> tuple:
    who = "landscape_experiment"
    if isinstance(games, str):
        games = (games,)
    try:
        games = tuple(games)
    except TypeError:
        raise ArgumentTypeError(f"{who} argument `games` must be a sequence of game names; got {games!r}.") from None
    if not games:
        raise ArgumentError(f"{who} argument `games` must name at least one game; got ().")
    for g in games:
        if not isinstance(g, str) or (g not in LANDSCAPE_GAMES and g not in _games.names()):
            known = ", ".join(repr(n) for n in dict.fromkeys((*LANDSCAPE_GAMES, *_games.names())))
            raise ArgumentError(f"{who} argument `games` must hold 'non_saturating', 'wgan_gp' or a jaxgan game name"
                                f" ({known}); got {g!r}.")
    return tuple(dict.fromkeys(games))  # each game once


def _sizes(size, seeds, steps) -> dict:
    return sized_settings("landscape_experiment", LANDSCAPE_SIZES, size, seeds, steps)


def _data_of(data: str):
    """The data set: a 2-D mixture, or the digits (`MissingExtraError` without scikit-learn)."""
    if data == "ring":
        return ring_of_8()
    if data == "grid":
        return grid_of_25()
    from .data import digits

    return digits()


def _players(data: str, cfg: dict):
    """`(discriminator, generator, latent_dim)`: ReLU MLPs for the mixtures, the small flax DCGANs of
    `jaxgan.neural.dcgan` (width `cfg["width"]`) for the digits."""
    if data != "digits":
        net = Net(tuple(cfg["hidden"]), "relu")
        return net, net, 4
    from .dcgan import dcgan_discriminator, dcgan_generator

    latent = 16
    return (dcgan_discriminator(width=cfg["width"]), dcgan_generator(latent_dim=latent, width=cfg["width"]), latent)


def _gan(data, players, game: str, cfg: dict, update: str, opt) -> GAN:
    name, penalty, weight = LANDSCAPE_GAMES.get(game, (game, None, 1.0))
    d, g, latent = players
    return GAN(data=data, game=name, discriminator=d, generator=g, latent_dim=latent, d_optimizer=opt,
               g_optimizer=opt, update=update, penalty=penalty, penalty_weight=weight, batch_size=cfg["batch_size"])


def landscape_experiment(*, data: str = "ring", games=("non_saturating", "wgan_gp"), seeds: int | None = None,
                         steps: int | None = None, size: str = "default", update: str = "simultaneous",
                         lr: float = 1e-3, workers: int = 2,
                         progress: bool | Callable[[ProgressEvent], Any] | None = None) -> LandscapeResult:
    """Check Berard et al. 2020's findings on the end of GAN training, many seeds at once.

    For each game, `train` the GAN on `data` from `seeds` seeds (one compiled program, seeds
    vmapped), then measure at the final parameters, on one fixed batch per seed
    (`jaxgan.neural.endpoint`): the top game-Jacobian eigenvalues (Arnoldi), each player's
    loss-Hessian extremes (Lanczos) and the path-angle from the initial parameters (with a zoom
    near α = 1). `LandscapeResult.table()` and `.check()` say whether (a) rotation, (b) a
    generator-Hessian negative eigenvalue (LSSP, not Nash) and (c) the path-angle bump hold.

    **Arguments:**

    - `data`: `"ring"` (the 2-D ring of 8 Gaussians, `ring_of_8`) or `"grid"` (`grid_of_25`), with
      ReLU MLPs; or `"digits"` (scikit-learn's 8×8 digits, `jaxgan.neural.digits`; the `digits`
      extra) with the small flax DCGANs of `jaxgan.neural.dcgan` (the `flax` extra).
    - `games`: names among `"non_saturating"` (NSGAN), `"wgan_gp"` (the `"wasserstein"` game with the
      WGAN-GP penalty, λ = 10) and any `jaxgan.games` name (no penalty).
    - `seeds`, `steps`: override the size's (`steps` rounded down to a checkpoint).
    - `size`: `"quick"`, `"small"` or `"default"` (see `LANDSCAPE_SIZES`).
    - `update`: `"simultaneous"` or `"alternating"`; `lr`: Adam's step (β1 = 0.5) of both players.
    - `workers`: games trained concurrently (threads: one compiles while another runs); 1 for the digits.
    - `progress`: `None` (a bar on a terminal), `True`, `False` or a callable receiving
      `jaxgan.progress.ProgressEvent`s, one per finished game.

    **Returns:** a `LandscapeResult`.

    **Raises:** `ArgumentError`/`ArgumentTypeError` naming the argument, before anything is compiled.
    """
    who = "landscape_experiment"
    check_choice(who, "data", data, LANDSCAPE_DATA)
    games = _check_games(games)
    cfg = _sizes(size, seeds, steps)
    check_choice(who, "update", update, ("simultaneous", "alternating"))
    lr = check_float(who, "lr", lr)
    workers = check_int(who, "workers", workers)
    samples = _data_of(data)
    players = _players(data, cfg)
    opt = Optimizer(optax.adam, learning_rate=lr, b1=0.5, b2=0.999)
    gans = {g: _gan(samples, players, g, cfg, update, opt) for g in games}
    sz = EndSizes(cfg["n_big"], cfg["arnoldi"], cfg["lanczos"], cfg["n_path"], cfg["n_zoom"])
    top = cfg["arnoldi"]
    kw = dict(seeds=cfg["seeds"], steps=cfg["steps"], measure_every=cfg["measure_every"], n_eval=cfg["n_eval"],
              n_grid=16, krylov=cfg["krylov"], kernel_probe=False,
              fast_compile=compile_option(cfg["seeds"], cfg["steps"]))
    if data == "digits":
        # One game at a time: two conv-net programs run from threads of one process can stall XLA:CPU for
        # good (every thread waiting, no CPU used; seen here and in `batchnorm_experiment`).
        workers = 1
    report = reporter(who, progress, who, len(gans), unit="game")
    lock, done = threading.Lock(), []

    def run(game):
        r = train(gans[game], **kw)
        lr_ = _run_of(data, game, r, end_point(r, sz), top)
        with lock:
            done.append(game)
            report(len(done), f"{lr_.label}: {lr_.row()['converged']}/{r.n_seeds} converged "
                              f"(train compile {r.compile_s:.0f} s, run {r.run_s:.0f} s)")
        return lr_

    t0 = time.perf_counter()
    with report:
        if workers > 1 and len(games) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                runs = list(pool.map(run, games))
        else:
            runs = [run(g) for g in games]
    wall = time.perf_counter() - t0
    settings = {"size": size, "data": data, "games": list(games), "seeds": cfg["seeds"], "steps": cfg["steps"],
                "measure_every": cfg["measure_every"], "update": update, "lr": lr, "batch_size": cfg["batch_size"],
                "networks": f"ReLU MLPs, hidden {tuple(cfg['hidden'])}" if data != "digits" else
                f"DCGAN (jaxgan.neural.dcgan), width {cfg['width']}", "latent_dim": players[2],
                "n_big": cfg["n_big"], "arnoldi": cfg["arnoldi"], "top": top, "lanczos": cfg["lanczos"], "wall_s": wall}
    return LandscapeResult({r.label: r for r in runs}, settings, wall)
