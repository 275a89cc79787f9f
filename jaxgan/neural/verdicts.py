"""Fates of the seeds of a neural training run, decided on the host from its logs.

- `DIVERGED`: a non-finite loss or parameter (decided inside the compiled run).
- `CONVERGED`: the median distance to data over the checkpoints of the last `tail` is ≤ `tol`
  (the median ignores single spikes of a noisy optimiser, not a lasting departure).
- `CYCLING`: not converged, and at some probe point the pointwise state `(D(x), pg(x))` made at
  least one full loop around the article's rest point `(D0, pd(x))` over the last half of the run,
  far from it: jaxgan's one cycling rule (`jaxgan.fates`, as in the sweeps and the convergence
  table) on the checkpoints in scaled coordinates (see `winding_turns`), with crossings of the
  Poincaré section closer than `r_min` ignored, any return counted (`cycle_rtol = inf`: a noisy
  orbit never returns exactly) and one return enough (`cycle_turns = 1`). Large, coherent orbits
  such as mass hopping between modes count — not the jitter of a noisy optimiser around the rest
  point.
- `UNDECIDED`: otherwise (still moving, or jittering near the rest point).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._checks import check_float, check_fraction
from .. import fates
from ..fates import Fate

if TYPE_CHECKING:
    from .result import TrainResult

__all__ = ["classify", "winding_turns"]


@contextlib.contextmanager
def quiet():
    """Silence NumPy's RuntimeWarnings (all-NaN slices, empty means): NaN is the answer there."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def tail_start(n: int, tail: float) -> int:
    """The first of `n` checkpoints in the last `tail` fraction of them."""
    return max(0, min(n - 1, int(round(n * (1.0 - tail)))))


def check_tail(fn: str, tail) -> float:
    """`tail`, the fraction of final checkpoints a verdict looks at, in (0, 1]."""
    return check_fraction(fn, "tail", tail, zero_ok=False)


def _d_scale(game) -> float:
    """The scale of D-values: half the D-domain's width, or max(1, |D0|) when it is unbounded."""
    lo, hi = game.d_domain
    if math.isfinite(lo) and math.isfinite(hi):
        return 0.5 * (hi - lo)
    return max(1.0, abs(game.rest_d()))


def _scaled(d_grid, pg_grid, pd_grid, game, tail: float):
    """`(u, v)`, each `(S, C', P)`: the probes' `(D(x), pg(x))` relative to `(D0, pd(x))`, scaled,
    over the last `tail` of the checkpoints."""
    pd_grid = np.asarray(pd_grid)
    probes = np.flatnonzero(pd_grid >= 0.2 * pd_grid.max())
    c0 = tail_start(np.shape(d_grid)[1], tail)
    pd = pd_grid[probes][None, None, :]
    u = (np.asarray(d_grid)[:, c0:, probes] - game.rest_d()) / _d_scale(game)
    v = (np.asarray(pg_grid)[:, c0:, probes] - pd) / pd
    return u, v


def cycling_seeds(d_grid, pg_grid, pd_grid, game, *, tail: float, r_min: float) -> np.ndarray:
    """Whether jaxgan's cycling rule (`jaxgan.fates`) calls some probe of each seed CYCLING:
    `Bool[ndarray, "S"]` (arrays as in `turns_around_rest`)."""
    u, v = _scaled(d_grid, pg_grid, pd_grid, game, tail)
    if u.size == 0:
        return np.zeros(np.shape(d_grid)[0], bool)
    # Checkpoints on axis 0. Neural CONVERGED is a distance to the data (W1), not to the rest point,
    # and divergence is decided inside the compiled run: the rule here only looks for loops.
    rule = fates.FateRule(tol=0.0, bound=math.inf, cycle_rtol=math.inf, cycle_turns=1, r_min=r_min)
    u, v = np.moveaxis(u, 1, 0), np.moveaxis(v, 1, 0)
    tracker, _ = fates.track(rule, u, v, u * u + v * v)
    return np.any(np.asarray(tracker.status) == Fate.CYCLING, axis=-1)


def turns_around_rest(d_grid, pg_grid, pd_grid, game, *, tail: float, r_min: float) -> np.ndarray:
    """`winding_turns` on arrays: `d_grid`, `pg_grid` `(S, C+1, G)`, `pd_grid (G,)`, the game."""
    u, v = _scaled(d_grid, pg_grid, pd_grid, game, tail)
    with quiet():
        r = np.hypot(u, v)
        dang = (np.diff(np.arctan2(v, u), axis=1) + np.pi) % (2 * np.pi) - np.pi
        far = (r[:, 1:] >= r_min) & (r[:, :-1] >= r_min)
        turns = np.sum(np.where(far, dang, 0.0), axis=1) / (2 * np.pi)
        turns[np.any(~np.isfinite(u) | ~np.isfinite(v), axis=1)] = np.nan
    return turns


def winding_turns(res: TrainResult, tail: float = 0.5, r_min: float = 0.5) -> np.ndarray:
    """Signed turns of `(D(x), pg(x))` around `(D0, pd(x))` over the last `tail` of the run: a
    measurement (fractional turns); the CYCLING verdict is `classify`'s, by `jaxgan.fates`.

    At the probe points (grid points with pd ≥ max(pd)/5), in the scaled coordinates
    `u = (D − D0)/s` (`s`: half the D-domain's width, or max(1, |D0|) when it is unbounded) and
    `v = (pg − pd)/pd`; only steps between checkpoints that both lie at radius ≥ `r_min` count.

    **Arguments:** `res`: a `TrainResult`; `tail`: fraction in (0, 1]; `r_min ≥ 0`.

    **Returns:** `Float[ndarray, "S P"]` (NaN for diverged seeds); positive is counter-clockwise
    in the (D, pg) plane.

    **Raises:** `ArgumentError`/`ArgumentTypeError` for a bad `tail` or `r_min`.
    """
    tail = check_tail("winding_turns", tail)
    r_min = check_float("winding_turns", "r_min", r_min, sign="non-negative")
    return turns_around_rest(res.d_grid, res.pg_grid, res.pd_grid, res.gan.game, tail=tail, r_min=r_min)


def fates_of(status, w1, d_grid, pg_grid, pd_grid, game, *, tol: float, tail: float, r_min: float) -> np.ndarray:
    """`classify` on arrays: `status (S,)` (DIVERGED where the run diverged), `w1 (S, C+1)`, and
    the arrays of `turns_around_rest`. Returns `Int[ndarray, "S"]` of `Fate` codes."""
    diverged = np.asarray(status) == Fate.DIVERGED
    fate = np.where(diverged, int(Fate.DIVERGED), int(Fate.UNDECIDED)).astype(np.int64)
    w1 = np.asarray(w1)[:, tail_start(np.shape(w1)[1], tail):]
    with quiet():
        conv = np.all(np.isfinite(w1), axis=1) & (np.median(w1, axis=1) <= tol)
    fate[~diverged & conv] = int(Fate.CONVERGED)
    cyc = cycling_seeds(d_grid, pg_grid, pd_grid, game, tail=max(tail, 0.5), r_min=r_min)
    fate[(fate == Fate.UNDECIDED) & cyc] = int(Fate.CYCLING)
    return fate


def classify(res: TrainResult, *, tol: float, tail: float = 0.25, r_min: float = 0.5) -> np.ndarray:
    """Fates of the seeds of a run (host side, from the logs); the rules are in this module's docstring.

    **Arguments:** `res`: a `TrainResult` (seeds whose `fate` is `DIVERGED` stay diverged); `tol > 0`:
    the W1 distance below which a seed converged; `tail`: the fraction of final checkpoints of the
    convergence test (the winding test looks at the last half, or `tail` if longer); `r_min ≥ 0`:
    see `winding_turns`.

    **Returns:** `Int[ndarray, "S"]`, `Fate` codes.

    **Raises:** `ArgumentError`/`ArgumentTypeError` for a bad `tol`, `tail` or `r_min`.
    """
    tol = check_float("classify", "tol", tol)
    tail = check_tail("classify", tail)
    r_min = check_float("classify", "r_min", r_min, sign="non-negative")
    return fates_of(res.fate, res.w1, res.d_grid, res.pg_grid, res.pd_grid, res.gan.game, tol=tol, tail=tail,
                    r_min=r_min)
