"""Fates: what became of one start, and the one rule that decides it.

`Fate` is the status code every run reports (`simulate`, the sweeps, the convergence table,
neural training). `FateRule` and the tracker functions below are jaxgan's one rule for
CONVERGED, CYCLING and DIVERGED; a domain exit (LEFT_DOMAIN) and a non-finite step are decided
by the guarded update (`jaxgan.dynamics.guarded_step`) while a run goes.

## The rule

A run is looked at in a sequence of *checks* (every `check_every` steps in the sweeps, every
saved point of a stored path). At each check, in the plane of two coordinates, the tracker
gets the state relative to the rest point, `(u, v)`, and the squared distance to the rest
point over all coordinates, `dist2`. A fate is decided at most once; a decided start keeps it:

- `DIVERGED` (non-finite): the state holds a NaN.
- `CONVERGED`: `dist2 <= tol²`.
- `DIVERGED` (unbounded): `dist2 > bound²`.
- `CYCLING`, a Poincaré section: the ray `{v = 0, u > 0}` is crossed once per turn around
  the rest point; a crossing is detected between two checks (the polar angle changes sign by
  less than π), its radius `x` interpolated linearly in the angle (exact on circles), and
  counted with its sign (+1 counter-clockwise) in `turns`. A *return* is a crossing in the
  same direction as the previous one; it is an identity return when
  `|x - x_prev| <= cycle_rtol · x_prev` (`cycle_rtol = inf`: any return is one). A start is
  CYCLING once `cycle_turns` consecutive returns are identity returns: the return map is the
  identity, a closed orbit that neither spirals in nor out. A converging focus
  (`x < (1 - cycle_rtol) x_prev`) is never CYCLING; a spiral slower than `cycle_rtol` per
  turn is.
- `DIVERGED` (outward spiral), only with `spiral_diverges=True`: `cycle_turns` consecutive
  outward returns (`x - x_prev > cycle_rtol · x_prev`), each farther from the rest point than
  the last by more than `cycle_rtol`.
- Crossings at a radius `x < r_min` are ignored (not counted, no reset, not in `turns`): the
  jitter of a noisy path near the rest point is not a turn.
- `UNDECIDED`: none of the above yet.

The checks are tested in that order (CONVERGED before DIVERGED before CYCLING at one check).
The winding count is exact while the path turns by less than half a turn between checks.

## Two uses of one rule

- The sweeps (`jaxgan.basins`, `jaxgan.sweep`) run the rule streaming, inside their compiled
  kernel, with `spiral_diverges=False` and `r_min=0`: an outward spiral stays UNDECIDED until
  it passes `bound` or leaves the domain (its documented results, which a basin map needs to
  tell a spiral that leaves the domain from one that does not).
- A stored path (`classify_path`, the convergence table) sees only a finite stretch of the
  run, often too short for a slow outward spiral to reach `bound`: the convergence table sets
  `spiral_diverges=True`, so simultaneous GD on a centre (Dirac-GAN, bilinear), whose
  every turn ends farther out, is DIVERGED as in the literature, while alternating GD (a
  closed orbit) is CYCLING and a converging method is CONVERGED.
- Noisy paths (neural training) take `cycle_rtol=inf` (any return counts) and `r_min > 0`.

The functions are pure, elementwise JAX: every argument may carry any batch shape, and the
numbers of a `FateRule` may be traced (new values never recompile).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import bad_type, bad_value, check_bool, check_float, check_instance, check_int

__all__ = ["Fate", "FateRule", "Tracker", "init", "update", "track", "classify_path", "check_rule", "check_plane"]


class Fate(enum.IntEnum):
    """What became of one start.

    - `UNDECIDED`: still running when the step budget ran out (or not classified).
    - `CONVERGED`: reached the rest point within tolerance.
    - `CYCLING`: bounded, not converging, and winding around the rest point.
    - `DIVERGED`: a non-finite or unbounded state (or, where the rule asks for it, an
      outward spiral).
    - `LEFT_DOMAIN`: the next step would leave the field's domain, or evaluate the field
      outside it (an `rk4` stage, an `extragradient` look-ahead); the start was frozen.

    CONVERGED, CYCLING and DIVERGED are decided by one rule, `FateRule` (see the module
    docstring of `jaxgan.fates`).
    """

    UNDECIDED = 0
    CONVERGED = 1
    CYCLING = 2
    DIVERGED = 3
    LEFT_DOMAIN = 4


class FateRule(NamedTuple):
    """The numbers of the fate rule (a pytree: each may be a traced value).

    - `tol`: CONVERGED when the distance to the rest point is `<= tol`.
    - `bound`: DIVERGED when the distance to the rest point exceeds `bound` (`inf`: never).
    - `cycle_rtol`: a return within this relative distance of the previous one is an identity
      return (`inf`: any return is); an outward return is farther by more than it.
    - `cycle_turns`: CYCLING after this many consecutive identity returns (and, with
      `spiral_diverges`, DIVERGED after this many consecutive outward returns).
    - `r_min`: crossings of the section closer than this to the rest point are ignored.
    - `spiral_diverges`: whether an outward spiral is DIVERGED (stored paths, the convergence
      table) or stays UNDECIDED until `bound` (the sweeps).

    Build one with checked numbers through `check_rule`.
    """

    tol: float = 1e-3
    bound: float = 1e6
    cycle_rtol: float = 1e-2
    cycle_turns: int = 3
    r_min: float = 0.0
    spiral_diverges: bool = False


class Tracker(NamedTuple):
    """What the rule remembers of one start between checks (each field of any batch shape).

    - `status`: `Int32`, a `Fate` code (any non-zero code is final).
    - `angle`, `radius`: the polar coordinates of the last check in the plane.
    - `last_return`: the radius of the last counted crossing of the section (0: none yet).
    - `direction`: `Int32`, the sign of the last counted crossing (+1 counter-clockwise, 0: none).
    - `returns`, `outward`: `Int32`, consecutive identity / outward returns so far.
    - `turns`: `Int32`, counted crossings with their signs: net whole turns around the rest point.
    """

    status: jax.Array
    angle: jax.Array
    radius: jax.Array
    last_return: jax.Array
    direction: jax.Array
    returns: jax.Array
    outward: jax.Array
    turns: jax.Array


def init(u, v, status=Fate.UNDECIDED) -> Tracker:
    """A tracker at a start whose plane coordinates relative to the rest point are `(u, v)`.

    **Arguments:** `u`, `v`: `Float[Array, "..."]`; `status`: a `Fate` (or an `Int` array of the
    same shape) already decided, which then stands (e.g. a domain exit recorded elsewhere).

    **Returns:** a `Tracker` of shape `u.shape`. Check the start itself with `update`.
    """
    u, v = jnp.asarray(u), jnp.asarray(v)
    ints = jnp.zeros(u.shape, jnp.int32)
    return Tracker(status=ints + jnp.asarray(status, jnp.int32), angle=jnp.arctan2(v, u), radius=jnp.hypot(u, v),
                   last_return=jnp.zeros(u.shape, u.dtype), direction=ints, returns=ints, outward=ints, turns=ints)


def update(rule: FateRule, tracker: Tracker, u, v, dist2) -> Tracker:
    """One check of the rule: the tracker after the start reached `(u, v)` (plane coordinates
    relative to the rest point) at squared distance `dist2` from it (all coordinates).

    Elementwise: `u`, `v`, `dist2` and the tracker's fields share one shape; `rule`'s numbers
    are scalars (possibly traced). A decided start is left as it is.

    **Returns:** the new `Tracker`.
    """
    dist2 = jnp.asarray(dist2)
    dtype = dist2.dtype
    status = tracker.status
    running = status == Fate.UNDECIDED
    bad = jnp.isnan(dist2)  # a NaN anywhere in the state
    ok = running & ~bad
    # Polar coordinates in the plane; the radius at the crossing of the ray {v = 0, u > 0} is
    # interpolated linearly in the angle (exact on circles, and on any orbit whose radius is
    # locally linear in the angle, which a chord between the two checks is not).
    angle = jnp.arctan2(v, u)
    radius = jnp.sqrt(u * u + v * v)
    angle_p, radius_p = tracker.angle, tracker.radius
    dang = angle - angle_p
    cross = ok & ((angle_p < 0) != (angle < 0)) & (jnp.abs(dang) < jnp.pi)
    s = angle_p / jnp.where(cross, angle_p - angle, jnp.ones_like(angle))
    x = radius_p + s * (radius - radius_p)
    cross = cross & (x >= rule.r_min)
    direction = jnp.where(dang > 0, 1, -1).astype(jnp.int32)
    again = direction == tracker.direction  # a return: same direction as the last crossing
    rtol = jnp.asarray(rule.cycle_rtol, dtype)
    x_p = tracker.last_return
    identity = again & ((jnp.abs(x - x_p) <= rtol * x_p) | jnp.isinf(rtol))
    outward = again & (x - x_p > rtol * x_p)
    returns = jnp.where(cross, jnp.where(identity, tracker.returns + 1, 0), tracker.returns)
    outwards = jnp.where(cross, jnp.where(outward, tracker.outward + 1, 0), tracker.outward)

    conv = ok & (dist2 <= jnp.asarray(rule.tol, dtype) ** 2)
    spiral = jnp.asarray(rule.spiral_diverges, bool) & (outwards >= rule.cycle_turns)
    div = ok & ~conv & (~(dist2 <= jnp.asarray(rule.bound, dtype) ** 2) | spiral)
    cyc = ok & ~conv & ~div & (returns >= rule.cycle_turns)
    new = jnp.where(conv, int(Fate.CONVERGED),
                    jnp.where(div, int(Fate.DIVERGED),
                              jnp.where(cyc, int(Fate.CYCLING),
                                        jnp.where(running & bad, int(Fate.DIVERGED), status)))).astype(jnp.int32)
    return Tracker(status=new, angle=jnp.where(ok, angle, angle_p), radius=jnp.where(ok, radius, radius_p),
                   last_return=jnp.where(cross, x, x_p), direction=jnp.where(cross, direction, tracker.direction),
                   returns=returns, outward=outwards, turns=tracker.turns + jnp.where(cross, direction, 0))


def track(rule: FateRule, u, v, dist2, status=Fate.UNDECIDED) -> tuple[Tracker, jax.Array]:
    """The rule over a sequence of checks: `init` at the first, then `update` at each (the
    first included), as the sweeps do over their run. Compiled once per shape; the rule's
    numbers are traced.

    **Arguments:** `rule`: a `FateRule`; `u`, `v`, `dist2`: `Float[Array, "T ..."]`, the checks
    along axis 0 (`T ≥ 1`), any batch shape after it; `status`: a preset fate (see `init`).

    **Returns:** `(tracker, index)`: the `Tracker` after the last check (shape `...`), and
    `Int32[Array, "..."]`, the check at which the fate was decided (-1: UNDECIDED; 0 for a
    preset fate).
    """
    return _track(rule, u, v, dist2, jnp.asarray(status, jnp.int32))


@jax.jit
def _track(rule, u, v, dist2, status):
    state = init(u[0], v[0], status)

    def step(carry, check):
        state, index, i = carry
        state = update(rule, state, *check)
        index = jnp.where((index < 0) & (state.status != Fate.UNDECIDED), i, index)
        return (state, index, i + 1), None

    index = jnp.full(state.status.shape, -1, jnp.int32)
    (state, index, _), _ = jax.lax.scan(step, (state, index, jnp.int32(0)), (u, v, dist2))
    return state, index


def check_rule(fn: str | None, rule, arg: str | None = "rule") -> FateRule:
    """`rule` with checked, concrete numbers: `tol > 0` finite, `bound > tol` (`inf` allowed),
    `cycle_rtol > 0` (`inf` allowed), `cycle_turns ≥ 1` an integer, `r_min ≥ 0` finite,
    `spiral_diverges` a bool.

    **Arguments:** `fn`: the public function, for messages; `arg`: the argument's name
    (messages then name `arg.tol`, ...), or `None` when the numbers are the function's own
    arguments (`tol`, `bound`, ...).

    **Raises:** `ArgumentTypeError` for something that is not a `FateRule` or a number of the
    wrong kind; `ArgumentError` for a number out of range.
    """
    if arg is not None:
        check_instance(fn, arg, rule, FateRule, "a jaxgan.fates.FateRule")

    def name(field):
        return field if arg is None else f"{arg}.{field}"

    tol = check_float(fn, name("tol"), rule.tol)
    bound = check_float(fn, name("bound"), rule.bound, allow_inf=True)
    if not bound > tol:
        raise bad_value(fn, name("bound"), f"greater than `{name('tol')}` ({tol})", bound)
    return FateRule(tol=tol, bound=bound,
                    cycle_rtol=check_float(fn, name("cycle_rtol"), rule.cycle_rtol, allow_inf=True),
                    cycle_turns=check_int(fn, name("cycle_turns"), rule.cycle_turns),
                    r_min=check_float(fn, name("r_min"), rule.r_min, sign="non-negative"),
                    spiral_diverges=check_bool(fn, name("spiral_diverges"), rule.spiral_diverges))


def classify_path(path, rest, *, rule: FateRule = FateRule(), fate=Fate.UNDECIDED, plane=(0, 1)) -> Fate:
    """The fate of one stored trajectory under the rule, each saved point a check.

    **Arguments:**

    - `path`: `Float[ArrayLike, "T n"]`, the saved states in order (`T ≥ 1`; the start first).
    - `rest`: `Float[ArrayLike, "n"]`, the rest point.
    - `rule`: a `FateRule` (default: the sweeps' rule; the convergence table sets
      `spiral_diverges=True`).
    - `fate`: a fate already decided while running (`simulate`'s domain exit or non-finite
      step); anything but `UNDECIDED` stands.
    - `plane`: the two coordinates the winding is measured in.

    The saved points must be close enough for the path to turn by less than half a turn between
    two of them (see the module docstring). Computed in JAX's default float dtype (a value
    beyond its range is infinite, hence DIVERGED).

    **Returns:** a `Fate`.

    **Raises:** `ArgumentError` for a path that is not `(T, n)` with `n ≥ 2`, a `rest` of another
    length, a bad `plane` or `fate`; `ArgumentTypeError`/`ArgumentError` for a bad `rule`.
    """
    fn = "classify_path"
    rule = check_rule(fn, rule)
    fate = _check_fate(fn, fate)
    path = _as_array(fn, "path", path)
    rest = _as_array(fn, "rest", rest)
    if path.ndim != 2 or path.shape[0] < 1 or path.shape[1] < 2:
        raise bad_value(fn, "path", "an array of shape (T ≥ 1, n ≥ 2)", path.shape)
    if rest.shape != path.shape[1:]:
        raise bad_value(fn, "rest", f"an array of shape ({path.shape[1]},) like a state of `path`", rest.shape)
    i0, i1 = check_plane(fn, plane, path.shape[1])
    with np.errstate(over="ignore"):  # beyond the float range is infinite, hence DIVERGED
        rel = jnp.asarray((path - rest).astype(jnp.result_type(float)))
    dist2 = jnp.sum(rel * rel, axis=-1)
    state, _ = track(rule, rel[:, i0], rel[:, i1], dist2, int(fate))
    return Fate(int(state.status))


def _check_fate(fn: str, fate) -> Fate:
    try:
        return Fate(int(fate))
    except (TypeError, ValueError):
        raise bad_value(fn, "fate", "a jaxgan Fate", fate) from None


def _as_array(fn: str, arg: str, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_type(fn, arg, "an array of numbers", value) from None


def check_plane(fn: str | None, plane, n: int) -> tuple[int, int]:
    """`plane` as two distinct coordinate indices in `0..n-1` (the plane the winding is measured in).

    **Raises:** `ArgumentTypeError` for something that is not a pair of integers; `ArgumentError`
    for equal or out-of-range indices.
    """
    try:
        pair = tuple(int(p) for p in plane)
    except (TypeError, ValueError):
        raise bad_type(fn, "plane", "a pair of coordinate indices", plane) from None
    if len(pair) != 2 or pair[0] == pair[1] or not all(0 <= p < n for p in pair):
        raise bad_value(fn, "plane", f"two distinct coordinate indices in 0..{n - 1}", plane)
    return pair
