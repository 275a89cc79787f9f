"""Sweeps: whole grids of starts and of parameters, with a fate for every start.

`basins(field, d_range, pg_range, ...)` runs a grid of starts of one field (a basin map);
`sweep(field, grid, ...)` runs a set of starts at every point of a grid of *parameters*
(`lr`, a field parameter such as `pd`, an optimiser's hyper-parameters) for phase diagrams.
Both return a result with a `Fate` per start, the step at which it was decided, the state
then, labelled axes and the settings, and both save to / load from `.npz` + JSON.

## How a start is classified (streaming: no trajectory is ever stored)

Every start carries a few numbers through the loop, and a fate is decided at most once:

- `LEFT_DOMAIN` / `DIVERGED` (non-finite): the step that would leave the field's domain
  (D outside the game's interval, pg < 0) or make the state non-finite is refused and the
  start is frozen on the last state inside, exactly as `simulate` does (`guarded_step`);
  the decision step is the number of accepted steps.
- `CONVERGED`: the Euclidean distance to the rest point is `<= tol`.
- `DIVERGED` (unbounded): the distance to the rest point exceeds `bound`.
- `CYCLING`: a Poincaré section. The ray from the rest point along `+z[plane[0]]` in the
  plane of coordinates `plane` (default `(0, 1)`: D and pg) is crossed once per turn
  around the rest point; each crossing is detected between two checks (the polar angle
  changes sign), its distance from the rest point interpolated linearly in the angle, and
  counted with its sign (+1 counter-clockwise), which accumulates the winding angle in whole
  turns (`turns`). A start is CYCLING once `cycle_turns` (default 3) consecutive crossings in
  the same direction each land within a relative distance `cycle_rtol` (default 1%) of the
  previous one: the return map is the identity, a closed orbit that neither spirals in
  nor out. A converging focus (return ratio < 1 - cycle_rtol) or an outward spiral
  (> 1 + cycle_rtol) is never CYCLING; a spiral slower than `cycle_rtol` per turn is.
- `UNDECIDED`: none of the above within `steps`.

CONVERGED, CYCLING and the unbounded test are checked every `check_every` steps and after
the last step (the decision step is then a multiple of `check_every`, or `steps`); the winding count is exact while the orbit turns
by less than half a turn between two checks. By default `check_every` is the largest power
of two up to 128 for which the linearised orbit turns by at most π/4 between two checks
(from the eigenvalues of one update at the rest point); it is a static value, so pass it
explicitly to share one compiled kernel between runs with very different step sizes. The
final state of a decided start is its state at the decision.

## Scale

- **Chunks.** Starts are processed in chunks of `chunk` (memory O(chunk), independent of
  `steps`; by default 65 536 starts on a CPU, 2^20 on an accelerator, and a resumed sweep
  keeps the chunking of its folder); a chunk stops early as soon as every start in it is
  decided.
- **One compile.** `lr`, the field's numbers (`pd`, ...), an `Optimizer`'s hyper-parameters,
  `steps`, `check_every` (whose default depends on `lr`) and the tolerances are traced
  values: a new value never recompiles.
- **Fast path.** Between two checks the update runs without per-step bookkeeping: a
  coordinate that leaves its bounds is poisoned with NaN (the rules update additively,
  so the NaN persists). At the end of a chunk each poisoned start is replayed from its last
  checked state with the exact `guarded_step`, which finds the refused step and the frozen
  state. Results are identical to guarding every step.
- **Devices.** A chunk is split over all local devices (`jax.shard_map` on a one-axis
  mesh); each device runs its slice to the end on its own, with its own early exit and
  no communication. Results do not depend on the number of devices. On a CPU, expose its
  cores as devices with `XLA_FLAGS=--xla_force_host_platform_device_count=N` (set before
  JAX starts).
- **Resume.** Given `out=FOLDER`, each finished chunk is written atomically (temporary file
  + rename) as `FOLDER/chunk_NNNNNN.npz`, next to a `manifest.json` that identifies the
  sweep. Run again with the same arguments, finished chunks are read back instead of
  recomputed: a killed sweep, rerun, gives a result identical to an uninterrupted one. A
  folder of another sweep, or a corrupt chunk, is refused before anything is computed or
  overwritten.

## Several hosts

Chunks are independent, so hosts split them with `part=(index, count)`: each process runs
the chunks `i` with `i % count == index` into one shared folder, then any process
assembles the result (every chunk present: nothing is recomputed):

```python
import jax, jaxgan
jax.distributed.initialize()          # coordinator address etc. from the environment / arguments
field = jaxgan.pointwise_field("minimax", 0.2)
kw = dict(steps=10_000, lr=1e-3, out="/shared/minimax_basins")
jaxgan.basins(field, (0.01, 0.99, 4096), (0.01, 2.0, 4096),
              part=(jax.process_index(), jax.process_count()), **kw)   # None until all parts are in
# ... once every process has finished (e.g. after a barrier, or on one host later):
result = jaxgan.basins(field, (0.01, 0.99, 4096), (0.01, 2.0, 4096), **kw)
```

Within a process each chunk is split over that process's local devices.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_float, check_int
from .dynamics import Fate, Optimizer, UpdateRule, guarded_step, method_args, probed_step
from .fields import Field

__all__ = ["BasinsResult", "SweepResult", "basins", "sweep", "load"]

FORMAT_VERSION = 1
_PENDING = 7  # internal: poisoned in the fast path, resolved by the exact replay
_FATE_NAMES = tuple(f.name for f in Fate)


# ============================================================================ input checks


def _fn_err(fn: str, arg: str, expected: str, got) -> ValueError:
    return ValueError(f"{fn} argument `{arg}` must be {expected}; got {got!r}.")


def _check_range(fn: str, arg: str, value) -> tuple[float, float, int]:
    """`(lo, hi, n)`: finite, n >= 1, lo < hi (lo == hi allowed only for n == 1)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not isinstance(value, np.ndarray):
        raise TypeError(f"{fn} argument `{arg}` must be a triple (lo, hi, n); got {value!r}.")
    if len(value) != 3:
        raise ValueError(f"{fn} argument `{arg}` must be a triple (lo, hi, n); got {value!r}.")
    lo, hi, n = value
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise TypeError(f"{fn} argument `{arg}` must be a triple (lo, hi, n) of numbers; got {value!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{fn} argument `{arg}` must have finite bounds; got {value!r}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{fn} argument `{arg}`: n must be an integer ≥ 1; got {value!r}.")
    if n < 1:
        raise ValueError(f"{fn} argument `{arg}`: n must be ≥ 1; got {value!r}.")
    if hi < lo:
        raise ValueError(f"{fn} argument `{arg}` is inverted (hi < lo); got {value!r}.")
    if hi == lo and n > 1:
        raise ValueError(f"{fn} argument `{arg}` is empty (lo == hi with n = {n} points); got {value!r}.")
    return lo, hi, int(n)


def _check_field(fn: str, field) -> Field:
    if not isinstance(field, Field):
        hint = " (build one with jaxgan.pointwise_field(game, pd))" if isinstance(field, str) else ""
        raise TypeError(f"{fn} argument `field` must be a jaxgan Field{hint}; got {type(field).__name__}.")
    if field.dim < 2:
        raise ValueError(f"{fn} argument `field` must have at least 2 coordinates; {field.name!r} has {field.dim}.")
    if field.rest_point is None:
        raise ValueError(
            f"{fn} argument `field`: {field.name!r} has no rest point, so CONVERGED and CYCLING "
            f"are undefined; give the Field a `rest_point`."
        )
    return field


def _box_ok(field: Field, z: np.ndarray) -> np.ndarray:
    """`field.in_domain` on the host (the domain is a box of static bounds); z: (..., n)."""
    ok = np.all(np.isfinite(z), axis=-1)
    for i, (lo, hi, (clo, chi)) in enumerate(zip(field.lower, field.upper, field.closed)):
        zi = z[..., i]
        if math.isfinite(lo):
            ok &= (zi >= lo) if clo else (zi > lo)
        if math.isfinite(hi):
            ok &= (zi <= hi) if chi else (zi < hi)
    return ok


@dataclasses.dataclass(frozen=True)
class _Options:
    steps: int
    tol: float
    bound: float
    cycle_rtol: float
    cycle_turns: int
    check_every: int
    plane: tuple[int, int]
    chunk: int

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["plane"] = list(self.plane)
        return d


def _options(fn, field, steps, tol, bound, cycle_rtol, cycle_turns, check_every, plane, chunk) -> _Options:
    steps = check_int(fn, "steps", steps)
    tol = check_float(fn, "tol", tol)
    bound = check_float(fn, "bound", bound)
    if bound <= tol:
        raise ValueError(f"{fn} argument `bound` must exceed `tol` ({tol}); got {bound}.")
    cycle_rtol = check_float(fn, "cycle_rtol", cycle_rtol)
    cycle_turns = check_int(fn, "cycle_turns", cycle_turns)
    if check_every is not None:
        check_every = min(check_int(fn, "check_every", check_every), steps)
    if chunk is not None:
        chunk = check_int(fn, "chunk", chunk)
    try:
        plane = tuple(int(p) for p in plane)
    except (TypeError, ValueError):
        raise TypeError(f"{fn} argument `plane` must be a pair of coordinate indices; got {plane!r}.") from None
    if len(plane) != 2 or plane[0] == plane[1] or not all(0 <= p < field.dim for p in plane):
        raise _fn_err(fn, "plane", f"two distinct coordinate indices in 0..{field.dim - 1}", plane)
    return _Options(steps, tol, bound, cycle_rtol, cycle_turns, check_every, plane, chunk)


# Default starts per chunk, per kind of device. On a CPU, 65 536 starts keep a chunk's state
# in cache and are enough for XLA to split each update over every core of one device; an
# accelerator needs far more starts in flight to be busy. Memory stays O(chunk) either way
# (about 100 bytes per start).
_DEFAULT_CHUNK_CPU = 1 << 16
_DEFAULT_CHUNK_ACCELERATOR = 1 << 20


def _resolve_chunk(chunk, out, devices) -> int:
    """`chunk`, or when None: the chunk of the sweep already in `out`, else the device default."""
    if chunk is not None:
        return chunk
    if out is not None:
        try:
            with open(os.path.join(os.fspath(out), _ChunkStore.MANIFEST), encoding="utf-8") as fh:
                old = json.load(fh)["key"]["chunk"]
            if isinstance(old, int) and old >= 1:
                return old  # resume with the chunking the folder was written with
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no readable manifest: _ChunkStore decides what to do with the folder
    cpu = _devices(devices)[0].platform == "cpu"
    return _DEFAULT_CHUNK_CPU if cpu else _DEFAULT_CHUNK_ACCELERATOR


def _check_out_part(out, part):
    if part is not None:
        _check_part(part)
        if out is None:
            raise ValueError("`part` needs `out`: the parts of a sweep meet in one shared folder.")


_MAX_CHECK_EVERY = 128


@functools.partial(jax.jit, static_argnames=("rule",))
def _step_jacobians(field, arg, *, rule):
    """Jacobians of one full update (state and optimiser state) at the rest point, batched."""
    from jax.flatten_util import ravel_pytree

    def one(f, a):
        z = jnp.asarray(f.rest_point, jnp.result_type(float))
        flat, unravel = ravel_pytree((z, rule.init(f, z)))

        def step(x):
            zz, st = unravel(x)
            return ravel_pytree(rule.step(f, zz, st, a))[0]

        return jax.jacfwd(step)(flat)

    return jax.vmap(one)(field, arg)


def _auto_check_every(field_b: Field, arg_b, rule: UpdateRule, steps: int) -> int:
    """Steps between fate checks: as many as possible (<= 128) while the orbit near the rest point
    turns by at most π/4 between two checks (so the winding count does not alias)."""
    try:
        if rule.name.startswith("adaptive"):
            # Continuous time: a step is an interval `lr`; the rotation is lr·max|Im λ|.
            jac = jax.vmap(lambda f: jax.jacfwd(f)(jnp.asarray(f.rest_point, jnp.result_type(float))))(field_b)
            ev = np.linalg.eigvals(np.asarray(jac, np.float64))
            theta = float(np.max(np.abs(ev.imag) * np.asarray(arg_b, np.float64).reshape(-1, 1)))
        else:
            jac = np.asarray(_step_jacobians(field_b, arg_b, rule=rule), np.float64)
            ev = np.linalg.eigvals(jac)
            theta = float(np.max(np.abs(np.angle(ev))))
    except (ValueError, TypeError, np.linalg.LinAlgError):
        theta = math.nan
    if not math.isfinite(theta):
        k = 16
    elif theta <= 0:
        k = _MAX_CHECK_EVERY
    else:
        k = max(1, min(_MAX_CHECK_EVERY, 2 ** int(math.floor(math.log2(max(1.0, (math.pi / 4) / theta))))))
    return min(k, steps)


def _method(fn: str, method, lr):
    """Static rule, base traced argument, and a JSON description of the method."""
    rule, arg = method_args(method, lr)
    desc = {"name": rule.name}
    if isinstance(method, Optimizer):
        desc["hyperparams"] = dict(method.hyperparams)
        desc["static"] = {k: repr(v) for k, v in method.static.items()}
    elif lr is not None:
        desc["lr"] = float(lr)
    return rule, arg, desc


# ============================================================================ the kernel


def _row_ok(field: Field, i: int, x):
    lo, hi = field.lower[i], field.upper[i]
    clo, chi = field.closed[i]
    ok = jnp.isfinite(x)
    if math.isfinite(lo):
        ok = ok & ((x >= lo) if clo else (x > lo))
    if math.isfinite(hi):
        ok = ok & ((x <= hi) if chi else (x < hi))
    return ok


def _fast_step(rule: UpdateRule, field: Field, zs, state, arg):
    """One update of one start on the fast path: a coordinate out of its bounds becomes NaN
    (all of them when the rule evaluated the field outside the domain)."""
    z_new, state, stage_out = probed_step(rule, field, jnp.stack(zs), state, arg)
    oks = [_row_ok(field, i, z_new[i]) for i in range(len(zs))]
    if stage_out is not False:
        oks = [ok & ~stage_out for ok in oks]
    return tuple(jnp.where(ok, z_new[i], jnp.nan) for i, ok in enumerate(oks)), state


def _where_rows(mask, new, old):
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim)), a, b), new, old)


def _fates_chunk(field, z0, arg, steps, tol, bound, cycle_rtol, cycle_turns, check_every, *, rule, plane,
                 field_axis, arg_axis):
    """Fates of a chunk of starts (traced; `_kernel` compiles it, per device or sharded).

    `z0: Float[Array, "c n"]`; `field` and `arg` batched on axis 0 when `field_axis` /
    `arg_axis` is 0, shared when None; the scalars (`check_every` included: its default
    depends on `lr`) are traced. Returns `(fate int8 (c,), step int32 (c,), final (c, n),
    turns int32 (c,))`.
    """
    _TRACES[0] += 1
    c, n = z0.shape
    dtype = z0.dtype
    i0, i1 = plane
    K = check_every

    if field_axis is None:
        rest = jnp.broadcast_to(jnp.asarray(field.rest_point, dtype), (c, n))
    else:
        rest = jax.vmap(lambda f: jnp.asarray(f.rest_point, dtype))(field)
    rest_rows = tuple(rest[:, i] for i in range(n))

    def init_one(f, z):
        return rule.init(f, z)

    state0 = jax.vmap(init_one, in_axes=(field_axis, 0))(field, z0)
    fast = jax.vmap(functools.partial(_fast_step, rule), in_axes=(field_axis, 0, 0, arg_axis))

    tol2 = jnp.asarray(tol, dtype) ** 2
    bound2 = jnp.asarray(bound, dtype) ** 2
    rtol = jnp.asarray(cycle_rtol, dtype)
    ints = jnp.zeros(c, jnp.int32)

    def check(carry, t, t0):
        zs, status = carry["z"], carry["status"]
        u = tuple(z - r for z, r in zip(zs, rest_rows))
        bad = jnp.zeros(c, bool)
        for z in zs:
            bad = bad | jnp.isnan(z)
        running = status == Fate.UNDECIDED
        ok = running & ~bad
        dist2 = sum(x * x for x in u)
        # Poincaré section: the ray {u[i1] = 0, u[i0] > 0}, crossed between the two checks.
        # Polar coordinates in the plane; the radius at the crossing is interpolated linearly
        # in the angle (exact on circles, and on any orbit whose radius is locally linear in
        # the angle, which a chord between the two checks is not).
        ang = jnp.arctan2(u[i1], u[i0])
        rad = jnp.sqrt(u[i0] * u[i0] + u[i1] * u[i1])
        ang_p, rad_p = carry["ang"], carry["rad"]
        dang = ang - ang_p
        cross = ok & ((ang_p < 0) != (ang < 0)) & (jnp.abs(dang) < jnp.pi)
        s = ang_p / jnp.where(cross, ang_p - ang, jnp.ones_like(ang))
        x = rad_p + s * (rad - rad_p)
        direction = jnp.where(dang > 0, 1, -1).astype(jnp.int32)
        returns = (direction == carry["dir"]) & (jnp.abs(x - carry["x"]) <= rtol * carry["x"])
        count = jnp.where(cross, jnp.where(returns, carry["count"] + 1, 0), carry["count"])
        conv = ok & (dist2 <= tol2)
        div = ok & ~conv & ~(dist2 <= bound2)
        cyc = ok & ~conv & ~div & (count >= cycle_turns)
        new = jnp.where(running & bad, _PENDING,
                        jnp.where(conv, int(Fate.CONVERGED),
                                  jnp.where(div, int(Fate.DIVERGED),
                                            jnp.where(cyc, int(Fate.CYCLING), status)))).astype(jnp.int32)
        # Poisoned starts died in the block that just ended: remember where it began.
        when = jnp.where(running & bad, t0, jnp.where(new != status, t, carry["when"]))
        return dict(
            carry, status=new, when=when, ang=jnp.where(ok, ang, ang_p), rad=jnp.where(ok, rad, rad_p),
            x=jnp.where(cross, x, carry["x"]), dir=jnp.where(cross, direction, carry["dir"]), count=count,
            turns=carry["turns"] + jnp.where(cross, direction, 0),
            zb=_where_rows(ok, zs, carry["zb"]), sb=_where_rows(ok, carry["s"], carry["sb"]),
        )

    zs0 = tuple(z0[:, i] for i in range(n))
    carry = dict(t=jnp.int32(0), z=zs0, s=state0, zb=zs0, sb=state0, status=ints, when=ints - 1,
                 ang=jnp.arctan2(zs0[i1] - rest_rows[i1], zs0[i0] - rest_rows[i0]),
                 rad=jnp.hypot(zs0[i0] - rest_rows[i0], zs0[i1] - rest_rows[i1]), x=jnp.zeros(c, dtype), dir=ints,
                 count=ints, turns=ints)
    carry = check(carry, jnp.int32(0), jnp.int32(0))
    carry["alive"] = (carry["t"] < steps) & jnp.any(carry["status"] == Fate.UNDECIDED)

    def block(carry):
        t0 = carry["t"]
        n_steps = jnp.minimum(K, steps - t0)  # the last block may be shorter: checks also land on `steps`
        zs, st = jax.lax.fori_loop(0, n_steps, lambda i, zst: fast(field, zst[0], zst[1], arg),
                                   (carry["z"], carry["s"]))
        t = t0 + n_steps
        carry = check(dict(carry, z=zs, s=st, t=t), t, t0)
        carry["alive"] = (t < steps) & jnp.any(carry["status"] == Fate.UNDECIDED)
        return carry

    carry = jax.lax.while_loop(lambda cr: cr["alive"], block, carry)

    # Exact replay of the poisoned starts from their last checked state, with guarded_step:
    # on a compacted batch of them when they are few (the usual case), else on the chunk.
    pending = carry["status"] == _PENDING
    z_b = jnp.stack(carry["zb"], axis=1)
    guarded = jax.vmap(lambda f, z, s, a_, st, k: guarded_step(rule, f, z, s, a_, st, k),
                       in_axes=(field_axis, 0, 0, arg_axis, 0, 0))

    def replay(f, a, z, s, status, start):
        def body(rc):
            i, z, s, st, ex = rc
            z, s, st, e = guarded(f, z, s, a, st, start + i)
            return i + 1, z, s, st, jnp.maximum(ex, e)

        def more(rc):  # at most one block
            return (rc[0] < K) & jnp.any(rc[3] == Fate.UNDECIDED)

        _, z, _, status, ex = jax.lax.while_loop(more, body, (jnp.int32(0), z, s, status, -jnp.ones_like(status)))
        return z, status, ex

    def frozen_unless(mask):
        return jnp.where(mask, int(Fate.UNDECIDED), int(Fate.CONVERGED)).astype(jnp.int32)

    def replay_all(_):
        return replay(field, arg, z_b, carry["sb"], frozen_unless(pending), carry["when"])

    m = max(1, c // 16)

    def replay_few(_):
        idx = jnp.nonzero(pending, size=m, fill_value=0)[0]
        valid = jnp.arange(m) < jnp.sum(pending)
        take = functools.partial(jax.tree_util.tree_map, lambda a: a[idx])
        z, st, ex = replay(field if field_axis is None else take(field), arg if arg_axis is None else take(arg),
                           z_b[idx], take(carry["sb"]), frozen_unless(valid), carry["when"][idx])
        dest = jnp.where(valid, idx, c)  # padding entries are dropped
        return (z_b.at[dest].set(z, mode="drop"), jnp.full((c,), int(Fate.CONVERGED), jnp.int32).at[dest].set(st, mode="drop"),
                (ints - 1).at[dest].set(ex, mode="drop"))

    z_r, status_r, exit_r = jax.lax.cond(jnp.sum(pending) <= m, replay_few, replay_all, None)
    resolved = pending & (status_r != Fate.UNDECIDED)
    status = jnp.where(pending, jnp.where(resolved, status_r, int(Fate.UNDECIDED)), carry["status"])
    when = jnp.where(pending, jnp.where(resolved, exit_r, -1), carry["when"])
    final = jnp.where(pending[:, None], z_r, z_b)
    return status.astype(jnp.int8), when.astype(jnp.int32), final, carry["turns"]


_TRACES = [0]  # how many times the kernel was traced (= compiled); for tests and benchmarks


@functools.lru_cache(maxsize=None)
def _kernel(rule: UpdateRule, plane, field_axis, arg_axis, mesh):
    """The compiled chunk kernel: `_fates_chunk` with its static settings, one per set of them.

    With a mesh, each device runs the whole kernel on its own slice of the chunk
    (`jax.shard_map`): its own loop, its own early exit and replay, and no collective at
    all. A sharded `jit` of the same kernel would all-reduce the "anyone still undecided?"
    test after every block of `check_every` steps, putting the devices in lock-step.
    """
    kernel = functools.partial(_fates_chunk, rule=rule, plane=plane, field_axis=field_axis, arg_axis=arg_axis)
    if mesh is None:
        return jax.jit(kernel)
    from jax.sharding import PartitionSpec as P

    split, shared = P("starts"), P()
    in_specs = (split if field_axis == 0 else shared, split, split if arg_axis == 0 else shared) + (shared,) * 6
    return jax.jit(jax.shard_map(kernel, mesh=mesh, in_specs=in_specs, out_specs=(split,) * 4, check_vma=False))


def trace_count() -> int:
    """How many times the sweep kernel has been traced (each trace is one compilation)."""
    return _TRACES[0]


# ============================================================================ jobs and the engine


class _Jobs:
    """A flat list of jobs (a start, and per-job values of swept parameters), made per chunk."""

    def __init__(self, field: Field, rule: UpdateRule, arg, dtype, n_jobs: int,
                 starts: Callable[[np.ndarray], np.ndarray],
                 field_values: Callable[[np.ndarray], dict] | None = None,
                 arg_values: Callable[[np.ndarray], Any] | None = None):
        self.field, self.rule, self.arg, self.dtype = field, rule, arg, dtype
        self.n = n_jobs
        self.starts = starts
        self.field_values = field_values
        self.arg_values = arg_values

    def inputs(self, idx: np.ndarray):
        z0 = np.asarray(self.starts(idx), dtype=self.dtype)
        if self.field_values is None:
            field, field_axis = self.field, None
        else:
            field, field_axis = _batched_field(self.field, len(idx), self.field_values(idx)), 0
        if self.arg_values is None:
            arg, arg_axis = self.arg, None
        else:
            arg, arg_axis = self.arg_values(idx), 0
        return z0, field, field_axis, arg, arg_axis


def _batched_field(field: Field, k: int, values: dict) -> Field:
    """`field` with every leaf broadcast to a leading axis of size k, then `values` ((k,) each) set."""
    fb = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(jnp.asarray(a), (k,) + jnp.shape(a)), field)
    return fb.replace(**values) if values else fb


def _devices(devices):
    if devices is None:
        return list(jax.local_devices())
    devs = list(devices)
    if not devs or not all(isinstance(d, jax.Device) for d in devs):
        raise TypeError(f"`devices` must be a non-empty list of jax devices; got {devices!r}.")
    return devs


def _shard(tree, mesh, batched: bool):
    from jax.sharding import NamedSharding, PartitionSpec as P

    if mesh is None:
        return tree
    spec = NamedSharding(mesh, P("starts")) if batched else NamedSharding(mesh, P())
    return jax.device_put(tree, spec)


def _progress_fn(progress):
    if progress is None or progress is False:
        return None
    if progress is True:
        return _stderr_bar
    if callable(progress):
        return progress
    raise TypeError(f"`progress` must be None, True or a callable(done, total); got {progress!r}.")


def _stderr_bar(done: int, total: int):
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total} chunks")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _run(jobs: _Jobs, opts: _Options, key: dict, *, out=None, part=None, devices=None, progress=None):
    """Run every job; returns the flat arrays, or None when `part` left chunks to other processes."""
    n_dim = jobs.field.dim
    N = jobs.n
    chunk = opts.chunk
    n_chunks = -(-N // chunk)
    devs = _devices(devices)
    nd = len(devs)
    # The shape every call sees (one compile): a chunk, or for fewer jobs the next power of two
    # (so that small sweeps of different sizes share kernels), rounded up to the devices.
    padded = -(-min(chunk, 1 << max(N - 1, 0).bit_length()) // nd) * nd
    mesh = jax.sharding.Mesh(np.asarray(devs), ("starts",)) if nd > 1 else None
    if part is not None:
        part = _check_part(part)
        if out is None:
            raise ValueError("`part` needs `out`: the parts of a sweep meet in one shared folder.")
    store = _ChunkStore(out, key, n_chunks, chunk, N, n_dim, jobs.dtype) if out is not None else None

    fate = np.zeros(N, np.int8)
    step = np.full(N, -1, np.int32)
    final = np.zeros((N, n_dim), jobs.dtype)
    turns = np.zeros(N, np.int32)
    done = set()
    if store is not None:
        for i, arrays in store.existing():
            sl = slice(i * chunk, min((i + 1) * chunk, N))
            fate[sl], step[sl], final[sl], turns[sl] = arrays
            done.add(i)
    todo = [i for i in range(n_chunks) if i not in done and (part is None or i % part[1] == part[0])]
    report = _progress_fn(progress)
    total = n_chunks if part is None else sum(1 for i in range(n_chunks) if i % part[1] == part[0])
    count = total - len(todo)
    if report is not None:
        report(count, total)

    scalars = (jnp.int32(opts.steps), jnp.asarray(opts.tol, jobs.dtype), jnp.asarray(opts.bound, jobs.dtype),
               jnp.asarray(opts.cycle_rtol, jobs.dtype), jnp.int32(opts.cycle_turns), jnp.int32(opts.check_every))

    def launch(i):
        lo, hi = i * chunk, min((i + 1) * chunk, N)
        idx = np.arange(lo, hi)
        idx = np.concatenate([idx, np.full(padded - len(idx), hi - 1)]) if len(idx) < padded else idx
        z0, field, fa, arg, aa = jobs.inputs(idx)
        z0 = _shard(jnp.asarray(z0), mesh, True)
        field = _shard(field, mesh, fa == 0)
        arg = _shard(arg, mesh, aa == 0)
        res = _kernel(jobs.rule, opts.plane, fa, aa, mesh)(field, z0, arg, *scalars)
        return i, hi - lo, res

    def collect(item):
        nonlocal count
        i, k, res = item
        f_, s_, z_, t_ = (np.asarray(r)[:k] for r in res)
        sl = slice(i * chunk, i * chunk + k)
        fate[sl], step[sl], final[sl], turns[sl] = f_, s_, z_, t_
        if store is not None:
            store.write(i, f_, s_, z_, t_)
        count += 1
        if report is not None:
            report(count, total)

    pending = None
    for i in todo:  # dispatch chunk i, then collect chunk i-1 while i runs
        item = launch(i)
        if pending is not None:
            collect(pending)
        pending = item
    if pending is not None:
        collect(pending)
    if part is not None and not store.complete():
        return None
    return fate, step, final, turns


def _check_part(part):
    try:
        index, count = (int(p) for p in part)
    except (TypeError, ValueError):
        raise TypeError(f"`part` must be a pair (index, count) of integers; got {part!r}.") from None
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"`part` must be (index, count) with 0 <= index < count; got {part!r}.")
    return index, count


# ============================================================================ resume store


class _ChunkStore:
    """A folder of atomically written chunk files plus a manifest naming the sweep."""

    MANIFEST = "manifest.json"
    FORMAT = "jaxgan.sweep-chunks"

    def __init__(self, out, key: dict, n_chunks: int, chunk: int, n_jobs: int, n_dim: int, dtype):
        self.dir = os.fspath(out)
        self.key = key
        self.digest = _digest(key)
        self.n_chunks, self.chunk, self.n_jobs, self.n_dim = n_chunks, chunk, n_jobs, n_dim
        self.dtype = np.dtype(dtype)
        manifest = os.path.join(self.dir, self.MANIFEST)
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise ValueError(f"`out` {self.dir!r} exists and is not a folder; refusing to write there.")
        if os.path.isdir(self.dir) and os.path.exists(manifest):
            try:
                with open(manifest, encoding="utf-8") as fh:
                    meta = json.load(fh)
                fmt, digest = meta["format"], meta["digest"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"`out` {self.dir!r}: corrupt manifest.json ({exc}); nothing was overwritten.") from None
            if fmt != self.FORMAT:
                raise ValueError(f"`out` {self.dir!r} holds a foreign manifest (format {fmt!r}); nothing was overwritten.")
            if digest != self.digest:
                diff = _key_diff(meta.get("key", {}), key)
                raise ValueError(
                    f"`out` {self.dir!r} holds chunks of a different sweep (differs in: {diff}); use another "
                    f"folder or delete it. Nothing was overwritten."
                )
        elif os.path.isdir(self.dir) and any(not n.startswith(".") for n in os.listdir(self.dir)):
            raise ValueError(
                f"`out` {self.dir!r} is a non-empty folder without a jaxgan manifest; refusing to write into it."
            )
        else:
            os.makedirs(self.dir, exist_ok=True)
            _atomic_write_text(manifest, json.dumps(
                {"format": self.FORMAT, "version": FORMAT_VERSION, "digest": self.digest, "key": key,
                 "n_chunks": n_chunks}, indent=1, sort_keys=True))
        # Temporary files of a killed run are ours and incomplete: drop them.
        for name in os.listdir(self.dir):
            if name.startswith(".chunk_") and ".tmp" in name:
                try:
                    os.remove(os.path.join(self.dir, name))
                except OSError:
                    pass

    def path(self, i: int) -> str:
        return os.path.join(self.dir, f"chunk_{i:06d}.npz")

    def existing(self):
        """Read back every finished chunk (validated before anything is computed)."""
        found = []
        for i in range(self.n_chunks):
            p = self.path(i)
            if os.path.exists(p):
                found.append((i, self._read(i, p)))
        return found

    def _read(self, i: int, p: str):
        k = min(self.chunk, self.n_jobs - i * self.chunk)
        try:
            with np.load(p, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = tuple(np.array(data[name]) for name in ("fate", "step", "final", "turns"))
        except Exception as exc:  # any failure to read is a corrupt file
            raise ValueError(f"corrupt chunk file {p!r} ({type(exc).__name__}: {exc}); delete it to recompute. "
                             f"Nothing was overwritten.") from None
        fate, step, final, turns = arrays
        problems = []
        if meta.get("digest") != self.digest or meta.get("index") != i:
            problems.append("it belongs to another sweep or chunk")
        if fate.shape != (k,) or step.shape != (k,) or turns.shape != (k,) or final.shape != (k, self.n_dim):
            problems.append(f"wrong shapes {fate.shape}, {final.shape} (expected {k} starts)")
        if fate.dtype != np.int8 or final.dtype != self.dtype:
            problems.append(f"wrong dtypes {fate.dtype}, {final.dtype}")
        elif fate.size and (fate.min() < 0 or fate.max() > max(Fate)):
            problems.append("fate codes out of range")
        if problems:
            raise ValueError(f"corrupt chunk file {p!r}: {'; '.join(problems)}. Nothing was overwritten.")
        return arrays

    def write(self, i: int, fate, step, final, turns):
        meta = json.dumps({"format": self.FORMAT, "digest": self.digest, "index": i})
        _atomic_savez(self.path(i), os.path.join(self.dir, f".chunk_{i:06d}.npz.tmp{os.getpid()}"),
                      fate=fate, step=step, final=final, turns=turns, __meta__=np.asarray(meta))

    def complete(self) -> bool:
        return all(os.path.exists(self.path(i)) for i in range(self.n_chunks))


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _key_diff(old: dict, new: dict) -> str:
    names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(names) or "settings"


def _atomic_write_text(path: str, text: str):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _atomic_savez(path: str, tmp: str, **arrays):
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _array_digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _field_desc(field: Field) -> dict:
    params = {}
    if isinstance(field.params, dict):
        for k, v in field.params.items():
            params[k] = np.asarray(v, np.float64).tolist()
    game = field.get_meta("game")
    return {"name": field.name, "labels": list(field.labels), "domain": field.domain_str(), "params": params,
            "game": getattr(game, "name", None), "kind": field.get_meta("kind")}


# ============================================================================ results


def _fractions(fate: np.ndarray, axis=None):
    return {f.name: np.mean(fate == f, axis=axis) for f in Fate}


@dataclasses.dataclass(frozen=True, eq=False)
class BasinsResult:
    """The fates of a grid of starts (a basin map).

    Arrays are indexed `[i, j]` = start `(d[i], pg[j])` ("ij" indexing; coordinates other than
    the two of the grid are at the rest point).

    - `fate: Int8[ndarray, "n_d n_pg"]`: a `Fate` code per start.
    - `step: Int32[ndarray, "n_d n_pg"]`: the step at which the fate was decided (-1: UNDECIDED).
    - `final: Float[ndarray, "n_d n_pg n"]`: the state at the decision (or after `steps`).
    - `turns: Int32[ndarray, "n_d n_pg"]`: net turns around the rest point (+ counter-clockwise).
    - `d`, `pg`: the axes (the values of coordinates 0 and 1); `labels`: their names.
    - `rest_point`: the field's rest point; `settings`: a JSON-able dict of everything else.
    """

    fate: np.ndarray
    step: np.ndarray
    final: np.ndarray
    turns: np.ndarray
    d: np.ndarray
    pg: np.ndarray
    rest_point: np.ndarray
    labels: tuple
    settings: dict

    KIND = "jaxgan.basins"

    @property
    def shape(self) -> tuple[int, int]:
        return self.fate.shape

    def fractions(self) -> dict[str, float]:
        """The fraction of starts with each fate, `{"CONVERGED": 0.7, ...}` (sums to 1)."""
        return {k: float(v) for k, v in _fractions(self.fate).items()}

    def counts(self) -> dict[str, int]:
        """The number of starts with each fate."""
        return {f.name: int(np.sum(self.fate == f)) for f in Fate}

    def mask(self, fate) -> np.ndarray:
        """Boolean map of the starts with `fate` (a `Fate` or its name)."""
        return self.fate == _as_fate(fate)

    def starts(self) -> np.ndarray:
        """The starts, `Float[ndarray, "n_d n_pg 2"]` (coordinates of the grid)."""
        return np.stack(np.meshgrid(self.d, self.pg, indexing="ij"), axis=-1)

    def __repr__(self):
        fr = ", ".join(f"{k}={v:.3f}" for k, v in self.fractions().items() if v)
        return (f"BasinsResult({self.settings.get('field', {}).get('name')!r}, {self.shape[0]}x{self.shape[1]} "
                f"starts, {self.settings.get('method', {}).get('name')}, steps={self.settings.get('steps')}: {fr})")

    def save(self, path) -> str:
        """Write `.npz` (arrays) with the metadata as JSON inside; no pickle. Atomic. Returns the path."""
        return _save(path, self.KIND, {"fate": self.fate, "step": self.step, "final": self.final,
                                       "turns": self.turns, "d": self.d, "pg": self.pg,
                                       "rest_point": self.rest_point},
                     {"labels": list(self.labels), "settings": self.settings})

    @classmethod
    def load(cls, path) -> "BasinsResult":
        """Read a file written by `save`; a foreign or corrupt file raises `ValueError`."""
        arrays, meta = _load(path, cls.KIND, ("fate", "step", "final", "turns", "d", "pg", "rest_point"))
        fate = arrays["fate"]
        _expect(path, fate.ndim == 2 and fate.dtype == np.int8, "fate must be a 2-D int8 array")
        shp = fate.shape
        _expect(path, arrays["step"].shape == shp and arrays["turns"].shape == shp, "step/turns shape")
        _expect(path, arrays["final"].shape[:2] == shp and arrays["final"].ndim == 3, "final shape")
        _expect(path, arrays["d"].shape == (shp[0],) and arrays["pg"].shape == (shp[1],), "axes shape")
        _expect(path, fate.size == 0 or (fate.min() >= 0 and fate.max() <= max(Fate)), "fate codes")
        return cls(fate, arrays["step"], arrays["final"], arrays["turns"], arrays["d"], arrays["pg"],
                   arrays["rest_point"], tuple(meta["labels"]), meta["settings"])


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """The fates of a set of starts at every point of a grid of parameters (a phase diagram).

    - `names: tuple[str, ...]`: the swept parameters, in axis order (`"lr"`, a field parameter
      such as `"pd"`, or an `Optimizer` hyper-parameter such as `"momentum"`).
    - `values: tuple[Float[ndarray, "k_a"], ...]`: their values.
    - `starts: Float[ndarray, "m n"]`: the starts; offsets from the rest point of each grid
      point if `relative`, else absolute.
    - `fate`, `step`, `turns`: `[*grid, m]`; `final`: `[*grid, m, n]` (as in `BasinsResult`).
    - `boundary`: `max_stable_lr` at each point of the grid's *other* axes (shape: the grid
      without the `lr` axis), when `lr` is swept; else None.
    - `settings`: a JSON-able dict of everything else.
    """

    names: tuple
    values: tuple
    starts: np.ndarray
    relative: bool
    fate: np.ndarray
    step: np.ndarray
    final: np.ndarray
    turns: np.ndarray
    boundary: np.ndarray | None
    settings: dict

    KIND = "jaxgan.sweep"

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)

    def axis(self, name: str) -> np.ndarray:
        """The values of the swept parameter `name`."""
        if name not in self.names:
            raise ValueError(f"no swept parameter {name!r}; the sweep has {list(self.names)}.")
        return self.values[self.names.index(name)]

    def fraction(self, fate=Fate.CONVERGED) -> np.ndarray:
        """Fraction of the starts with `fate` at each grid point; shape `grid_shape`."""
        return np.mean(self.fate == _as_fate(fate), axis=-1)

    def fractions(self) -> dict[str, np.ndarray]:
        """`{fate name: fraction per grid point}` (each of shape `grid_shape`; they sum to 1)."""
        return _fractions(self.fate, axis=-1)

    def median_time(self) -> np.ndarray:
        """Median number of steps to converge among the CONVERGED starts, per grid point.

        NaN where no start converged (there is no time to report); shape `grid_shape`.
        """
        conv = self.fate == Fate.CONVERGED
        t = np.where(conv, self.step, np.nan).astype(np.float64)
        out = np.full(self.grid_shape, np.nan)
        has = conv.any(axis=-1)
        if has.any():
            out[has] = np.nanmedian(t[has], axis=-1)
        return out

    def __repr__(self):
        axes = ", ".join(f"{n}[{len(v)}]" for n, v in zip(self.names, self.values))
        return (f"SweepResult({self.settings.get('field', {}).get('name')!r}, axes {axes}, "
                f"{self.starts.shape[0]} starts per point, converged overall "
                f"{float(np.mean(self.fate == Fate.CONVERGED)):.3f})")

    def save(self, path) -> str:
        """Write `.npz` (arrays) with the metadata as JSON inside; no pickle. Atomic. Returns the path."""
        arrays = {"fate": self.fate, "step": self.step, "final": self.final, "turns": self.turns,
                  "starts": self.starts}
        for i, v in enumerate(self.values):
            arrays[f"axis_{i}"] = v
        if self.boundary is not None:
            arrays["boundary"] = self.boundary
        return _save(path, self.KIND, arrays, {"names": list(self.names), "relative": self.relative,
                                               "settings": self.settings,
                                               "has_boundary": self.boundary is not None})

    @classmethod
    def load(cls, path) -> "SweepResult":
        """Read a file written by `save`; a foreign or corrupt file raises `ValueError`."""
        arrays, meta = _load(path, cls.KIND, ("fate", "step", "final", "turns", "starts"))
        try:
            names = tuple(str(n) for n in meta["names"])
            values = tuple(arrays[f"axis_{i}"] for i in range(len(names)))
            boundary = arrays["boundary"] if meta["has_boundary"] else None
            relative, settings = bool(meta["relative"]), meta["settings"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a valid jaxgan sweep result file (missing {exc}).") from None
        shp = tuple(len(v) for v in values) + (arrays["starts"].shape[0],)
        _expect(path, arrays["fate"].shape == shp and arrays["fate"].dtype == np.int8, "fate shape")
        _expect(path, arrays["step"].shape == shp and arrays["turns"].shape == shp, "step/turns shape")
        _expect(path, arrays["final"].shape[:-1] == shp, "final shape")
        return cls(names, values, arrays["starts"], relative, arrays["fate"], arrays["step"], arrays["final"],
                   arrays["turns"], boundary, settings)


def _as_fate(fate) -> Fate:
    if isinstance(fate, str):
        try:
            return Fate[fate.upper()]
        except KeyError:
            raise ValueError(f"unknown fate {fate!r}; expected one of {', '.join(_FATE_NAMES)}.") from None
    return Fate(int(fate))


def _save(path, kind: str, arrays: dict, meta: dict) -> str:
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    meta = {"format": kind, "version": FORMAT_VERSION, **meta}
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    _atomic_savez(path, tmp, __meta__=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
    return path


def _load(path, kind: str, names: Sequence[str]):
    p = os.fspath(path)
    what = "basins" if kind == BasinsResult.KIND else "sweep"
    try:
        with np.load(p, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise ValueError("no jaxgan metadata")
            meta = json.loads(str(data["__meta__"]))
            arrays = {k: np.array(data[k]) for k in data.files if k != "__meta__"}
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{p!r} is not a jaxgan {what} result file ({type(exc).__name__}: {exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != kind:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{p!r} is not a jaxgan {what} result file (format {fmt!r}, expected {kind!r}).")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{p!r}: unsupported {kind} file version {meta.get('version')!r} (this jaxgan reads {FORMAT_VERSION}).")
    missing = [k for k in names if k not in arrays]
    if missing:
        raise ValueError(f"{p!r} is not a valid jaxgan {what} result file (missing arrays {missing}).")
    return arrays, meta


def _expect(path, cond: bool, what: str):
    if not cond:
        raise ValueError(f"{os.fspath(path)!r} is not a valid jaxgan result file ({what} inconsistent).")


def load(path) -> BasinsResult | SweepResult:
    """Load a `BasinsResult` or `SweepResult` file, whichever it is."""
    p = os.fspath(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            kind = json.loads(str(data["__meta__"])).get("format")
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{p!r} is not a jaxgan result file ({type(exc).__name__}: {exc}).") from None
    if kind == BasinsResult.KIND:
        return BasinsResult.load(p)
    if kind == SweepResult.KIND:
        return SweepResult.load(p)
    raise ValueError(f"{p!r} is not a jaxgan result file (format {kind!r}).")


# ============================================================================ basins


def basins(field: Field, d_range, pg_range, *, steps: int, lr=None, method="euler", tol: float = 1e-3,
           bound: float = 1e6, cycle_rtol: float = 1e-2, cycle_turns: int = 3, check_every: int | None = None,
           plane=(0, 1), chunk: int | None = None, out=None, part=None, devices=None, progress=None) -> BasinsResult:
    """The fate of every start on a grid: the field's basins of attraction.

    **Arguments:**

    - `field`: a `Field` with a rest point (e.g. `jaxgan.pointwise_field("minimax", 0.2)`).
    - `d_range`, `pg_range`: `(lo, hi, n)` for coordinates 0 and 1 (D and pg); the starts are
      `numpy.linspace(lo, hi, n)` on each axis, and must lie inside the field's domain. Other
      coordinates (fields with more than two) start at the rest point.
    - `steps`: updates per start (the budget).
    - `lr`: the step size; omit it for optax transformations and `Optimizer`s.
    - `method`: `"euler"`, `"alternating"`, `"rk4"`, `"extragradient"`, `"optimistic"`,
      `"adaptive"` (diffrax), an `UpdateRule`, an optax transformation, or an `Optimizer`
      (see `jaxgan.simulate`).
    - `tol`: CONVERGED when the distance to the rest point is `<= tol`.
    - `bound`: DIVERGED when the distance to the rest point exceeds `bound`.
    - `cycle_rtol`, `cycle_turns`: the CYCLING rule (see the module docstring).
    - `check_every`: steps between two fate checks (and a check at `steps`). Default: the
      largest power of two <= 128 for which the linearised orbit turns by at most π/4
      between two checks (from the eigenvalues of one update at the rest point).
    - `plane`: the two coordinates the winding is measured in.
    - `chunk`: starts per chunk (memory is O(chunk)). Default: the chunk of the sweep already in
      `out` when resuming, else 65 536 on CPUs and 2^20 on accelerators.
    - `out`: a folder for resumable chunk files (see the module docstring); `part`:
      `(index, count)` to run only this process's share of the chunks.
    - `devices`: the devices to shard each chunk over (default: all local devices).
    - `progress`: `True` for a bar on stderr, or a callable `(done, total)` per chunk.

    **Returns:** a `BasinsResult` (`None` when `part` leaves chunks to other processes).

    **Raises:** `ValueError`/`TypeError` for bad input (empty or inverted ranges, n < 1,
    non-finite bounds, starts outside the domain, steps <= 0, lr <= 0, an unknown method, a
    field without a rest point; a foreign or corrupt `out` folder), before anything compiles.

    Example: `jaxgan.basins(jaxgan.pointwise_field("minimax", 0.2), (0.01, 0.99, 256),
    (0.01, 2.0, 256), steps=10_000, lr=1e-3).fractions()`.
    """
    fn = "basins"
    field = _check_field(fn, field)
    d_lo, d_hi, n_d = _check_range(fn, "d_range", d_range)
    p_lo, p_hi, n_pg = _check_range(fn, "pg_range", pg_range)
    opts = _options(fn, field, steps, tol, bound, cycle_rtol, cycle_turns, check_every, plane, chunk)
    _check_out_part(out, part)
    opts = dataclasses.replace(opts, chunk=_resolve_chunk(opts.chunk, out, devices))
    rule, arg, mdesc = _method(fn, method, lr)
    dtype = np.dtype(jnp.result_type(float))
    d_axis = np.linspace(d_lo, d_hi, n_d)
    pg_axis = np.linspace(p_lo, p_hi, n_pg)
    rest = np.asarray(field.rest_point, np.float64)
    corners = np.array([[x, y] for x in (d_lo, d_hi) for y in (p_lo, p_hi)])
    full = np.broadcast_to(rest, (4, field.dim)).copy()
    full[:, :2] = corners
    if not np.all(_box_ok(field, full.astype(dtype))):
        raise ValueError(
            f"{fn}: the grid d_range={d_range!r}, pg_range={pg_range!r} reaches outside the domain of "
            f"{field.name!r} ({field.domain_str()}); choose bounds strictly inside it."
        )

    def starts(idx):
        z = np.broadcast_to(rest, (len(idx), field.dim)).copy()
        z[:, 0] = d_axis[idx // n_pg]
        z[:, 1] = pg_axis[idx % n_pg]
        return z

    if opts.check_every is None:
        fb = _batched_field(field, 1, {})
        opts = dataclasses.replace(opts, check_every=_auto_check_every(
            fb, jax.tree_util.tree_map(lambda a: jnp.reshape(a, (1,)), arg), rule, opts.steps))
    jobs = _Jobs(field, rule, arg, dtype, n_d * n_pg, starts)
    settings = {"kind": "basins", "field": _field_desc(field), "method": mdesc, **opts.as_dict(),
                "d_range": [d_lo, d_hi, n_d], "pg_range": [p_lo, p_hi, n_pg], "dtype": dtype.name,
                "rest_point": rest.tolist()}
    res = _run(jobs, opts, settings, out=out, part=part, devices=devices, progress=progress)
    if res is None:
        return None
    fate, step, final, turns = res
    shape = (n_d, n_pg)
    return BasinsResult(fate.reshape(shape), step.reshape(shape), final.reshape(shape + (field.dim,)),
                        turns.reshape(shape), d_axis, pg_axis, rest, tuple(field.labels[:2]), settings)


# ============================================================================ sweep


def _grid(fn: str, grid, field: Field, rule: UpdateRule, method) -> tuple[list[str], list[np.ndarray], dict]:
    if not isinstance(grid, Mapping) or not grid:
        raise TypeError(f"{fn} argument `grid` must be a non-empty mapping name -> values; got {grid!r}.")
    field_names = set(field.params) if isinstance(field.params, dict) else set()
    hyper_names = set(method.hyperparams) if isinstance(method, Optimizer) else set()
    names, values, kinds = [], [], {}
    for name, vals in grid.items():
        if not isinstance(name, str):
            raise TypeError(f"{fn} argument `grid`: parameter names must be strings; got {name!r}.")
        if name == "lr":
            if not rule.takes_lr:
                raise ValueError(
                    f"{fn} argument `grid`: 'lr' needs a method with a step size; {rule.name!r} carries its "
                    f"own. Sweep an Optimizer's hyper-parameters by name instead (e.g. 'learning_rate')."
                )
            kind = "lr"
        elif name in hyper_names:
            kind = "hyper"
        elif name in field_names:
            kind = "field"
        else:
            valid = ["lr"] * rule.takes_lr + sorted(field_names) + sorted(hyper_names)
            raise ValueError(f"{fn} argument `grid`: unknown parameter {name!r}; valid names: {', '.join(valid)}.")
        try:
            arr = np.asarray(vals, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{fn} argument `grid[{name!r}]` must be a 1-D sequence of numbers; got {vals!r}.") from None
        if arr.ndim != 1 or arr.size < 1:
            raise ValueError(f"{fn} argument `grid[{name!r}]` must be a non-empty 1-D sequence; got shape {arr.shape}.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{fn} argument `grid[{name!r}]` must be finite; got {arr.tolist()}.")
        if (kind == "lr" or (kind == "field" and name == "pd" and field.get_meta("kind") == "pointwise")) \
                and not np.all(arr > 0):
            raise ValueError(f"{fn} argument `grid[{name!r}]` must be positive; got {arr.tolist()}.")
        names.append(name)
        values.append(arr)
        kinds[name] = kind
    return names, values, kinds


def _boundary(field: Field, method, names, values, kinds) -> np.ndarray | None:
    from .dynamics import get_rule
    from .stability import max_stable_lr

    if "lr" not in names or get_rule(method).name.startswith("adaptive"):
        return None
    others = [(n, v) for n, v in zip(names, values) if n != "lr"]
    if any(kinds[n] != "field" for n, _ in others):
        return None
    shape = tuple(len(v) for _, v in others)
    out = np.empty(shape, np.float64)
    for idx in np.ndindex(*shape):
        f = field.replace(**{n: v[i] for (n, v), i in zip(others, idx)}) if others else field
        out[idx] = max_stable_lr(f, method)
    return out


def sweep(field: Field, grid: Mapping[str, Sequence[float]], *, steps: int, lr=None, method="euler",
          starts=None, offsets=None, d_range=None, pg_range=None, tol: float = 1e-3, bound: float = 1e6,
          cycle_rtol: float = 1e-2, cycle_turns: int = 3, check_every: int | None = None, plane=(0, 1),
          chunk: int | None = None, boundary: bool = True, out=None, part=None, devices=None,
          progress=None) -> SweepResult:
    """Fates of a set of starts at every point of a grid of parameters (phase diagrams).

    **Arguments:**

    - `field`: a `Field` with a rest point.
    - `grid`: `{name: values}`, the axes in order. A name is `"lr"` (the step size), a field
      parameter (`"pd"` for the pointwise field), or a traced hyper-parameter of an
      `Optimizer` method (`"learning_rate"`, `"momentum"`, `"b1"`, ...). The Cartesian
      product is run; all values are traced (one compile for the whole sweep).
    - The starts at each grid point, one of: `starts` (`(m, n)` absolute states), `offsets`
      (`(m, n)` offsets from the rest point *at that grid point*, which moves with `pd`), or
      `d_range` + `pg_range` (`(lo, hi, n)` grids of coordinates 0 and 1, as in `basins`).
    - `steps`, `lr`, `method`, `tol`, `bound`, `cycle_rtol`, `cycle_turns`, `check_every`,
      `plane`, `chunk`, `out`, `part`, `devices`, `progress`: as in `basins`; `lr` is the
      value used when `"lr"` is not swept.
    - `boundary`: when `"lr"` is swept (and the other axes are field parameters), compute
      the analytic `max_stable_lr` at each point of the other axes (`result.boundary`).

    **Returns:** a `SweepResult`: `fraction()` (converged by default), `fractions()`,
    `median_time()`, per grid point (`None` when `part` leaves chunks to other processes).

    **Raises:** `ValueError`/`TypeError` for bad input (an unknown or empty axis, non-finite or
    non-positive `lr`/`pd` values, no or several kinds of starts, starts outside the domain,
    and as `basins`), before anything compiles.

    Example (the lr x pd phase diagram of the classic GAN):
    `jaxgan.sweep(field, {"lr": np.geomspace(0.05, 1, 12), "pd": np.linspace(0.05, 1, 10)},
    steps=2000, lr=None, offsets=[[0.05, 0.0], [0.0, 0.05]])`.
    """
    fn = "sweep"
    field = _check_field(fn, field)
    opts = _options(fn, field, steps, tol, bound, cycle_rtol, cycle_turns, check_every, plane, chunk)
    _check_out_part(out, part)
    opts = dataclasses.replace(opts, chunk=_resolve_chunk(opts.chunk, out, devices))
    rule = method.traced_rule if isinstance(method, Optimizer) else _rule_of(method)
    names, values, kinds = _grid(fn, grid, field, rule, method)
    if "lr" in names:
        if lr is not None:
            raise ValueError(f"{fn}: give `lr` or grid['lr'], not both; got lr={lr!r}.")
        lr = float(values[names.index("lr")][0])  # any valid value: every job gets its own
    rule, arg, mdesc = _method(fn, method, lr)
    if "lr" in names:
        mdesc.pop("lr", None)
    dtype = np.dtype(jnp.result_type(float))

    given = [k for k, v in (("starts", starts), ("offsets", offsets), ("d_range", d_range)) if v is not None]
    if (d_range is None) != (pg_range is None):
        raise ValueError(f"{fn}: give both `d_range` and `pg_range`, or neither.")
    if len(given) != 1:
        raise ValueError(f"{fn}: give exactly one of `starts`, `offsets` or `d_range`+`pg_range`; got {given or 'none'}.")
    relative = offsets is not None
    if d_range is not None:
        d_lo, d_hi, n_d = _check_range(fn, "d_range", d_range)
        p_lo, p_hi, n_pg = _check_range(fn, "pg_range", pg_range)
        rest0 = np.asarray(field.rest_point, np.float64)
        dd, pp = np.meshgrid(np.linspace(d_lo, d_hi, n_d), np.linspace(p_lo, p_hi, n_pg), indexing="ij")
        S = np.broadcast_to(rest0, (n_d * n_pg, field.dim)).copy()
        S[:, 0], S[:, 1] = dd.ravel(), pp.ravel()
    else:
        arg_name = "starts" if starts is not None else "offsets"
        try:
            S = np.asarray(starts if starts is not None else offsets, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{fn} argument `{arg_name}` must be an array of shape (m, {field.dim}).") from None
        if S.ndim == 1:
            S = S[None]
        if S.ndim != 2 or S.shape[1] != field.dim or S.shape[0] < 1:
            raise ValueError(f"{fn} argument `{arg_name}` must have shape (m, {field.dim}) with m >= 1; got {S.shape}.")
        if not np.all(np.isfinite(S)):
            raise ValueError(f"{fn} argument `{arg_name}` must be finite.")
    m = S.shape[0]
    gshape = tuple(len(v) for v in values)
    P = int(np.prod(gshape))
    field_axes = [(i, n) for i, n in enumerate(names) if kinds[n] == "field"]
    hyper_axes = [(i, n) for i, n in enumerate(names) if kinds[n] in ("hyper", "lr")]

    # Rest points move with the field's parameters: needed for relative starts and domain checks.
    if field_axes:
        fgrid = [values[i] for i, _ in field_axes]
        fshape = tuple(len(v) for v in fgrid)
        combos = np.stack(np.meshgrid(*fgrid, indexing="ij"), -1).reshape(-1, len(fgrid))
        fb = _batched_field(field, len(combos), {n: combos[:, k] for k, (_, n) in enumerate(field_axes)})
        rests = np.asarray(jax.vmap(lambda f: f.rest_point)(fb), np.float64).reshape(fshape + (field.dim,))
    else:
        fshape = ()
        rests = np.asarray(field.rest_point, np.float64)

    def field_index(p):  # p: flat grid index -> index into the field-parameter sub-grid
        full = np.unravel_index(p, gshape) if gshape else ()
        return tuple(full[i] for i, _ in field_axes)

    if relative:
        absolute = (rests.reshape(-1, 1, field.dim) + S[None]).reshape(-1, field.dim)
    else:
        absolute = S
    bad = ~_box_ok(field, absolute.astype(dtype))
    if bad.any():
        raise ValueError(
            f"{fn}: {int(bad.sum())} start(s) lie outside the domain of {field.name!r} ({field.domain_str()}), "
            f"e.g. {absolute[bad][0].tolist()}; choose starts inside it."
        )

    def job_starts(idx):
        p, s = idx // m, idx % m
        if not relative:
            return S[s]
        if not field_axes:
            return rests[None] + S[s]
        return rests[field_index(p)] + S[s]

    def job_field(idx):
        full = np.unravel_index(idx // m, gshape)
        return {n: values[i][full[i]] for i, n in field_axes}

    def job_arg(idx):
        full = np.unravel_index(idx // m, gshape)
        if isinstance(arg, dict):
            out = {k: np.full(len(idx), np.asarray(v), dtype) for k, v in arg.items()}
            for i, n in hyper_axes:
                out[n] = values[i][full[i]].astype(dtype)
            return {k: jnp.asarray(v) for k, v in out.items()}
        i = names.index("lr")
        return jnp.asarray(values[i][full[i]].astype(dtype))

    if opts.check_every is None:
        # The rotation per step at a sample of grid points (all of them for grids up to 256).
        sample = np.unique(np.linspace(0, P - 1, min(P, 256)).round().astype(np.int64)) * m
        fb = _batched_field(field, len(sample), job_field(sample) if field_axes else {})
        ab = job_arg(sample) if hyper_axes else jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (len(sample),)), arg)
        opts = dataclasses.replace(opts, check_every=_auto_check_every(fb, ab, rule, opts.steps))
    jobs = _Jobs(field, rule, arg, dtype, P * m, job_starts,
                 field_values=job_field if field_axes else None,
                 arg_values=job_arg if hyper_axes else None)
    settings = {"kind": "sweep", "field": _field_desc(field), "method": mdesc, **opts.as_dict(),
                "grid": {n: v.tolist() for n, v in zip(names, values)}, "relative": relative,
                "starts_digest": _array_digest(S), "dtype": dtype.name}
    bnd = _boundary(field, method, names, values, kinds) if boundary else None
    res = _run(jobs, opts, settings, out=out, part=part, devices=devices, progress=progress)
    if res is None:
        return None
    fate, step, final, turns = res
    shape = gshape + (m,)
    if bnd is not None:
        settings = {**settings, "boundary_method": rule.name}
    return SweepResult(tuple(names), tuple(values), S, relative, fate.reshape(shape), step.reshape(shape),
                       final.reshape(shape + (field.dim,)), turns.reshape(shape), bnd, settings)


def _rule_of(method) -> UpdateRule:
    from .dynamics import get_rule

    return get_rule(method)
