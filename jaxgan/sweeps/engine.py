"""The compiled chunk kernel: the fates of a chunk of starts, streaming, on one device or sharded.

A chunk runs in blocks of `check_every` updates on the fast path (no per-step bookkeeping: a
coordinate that leaves its bounds is poisoned with NaN, which the additive update rules carry
along); after each block the fate rule of `jaxgan.fates` checks every start. At the end, each
poisoned start is replayed from its last checked state with the exact `guarded_step`, which
finds the refused step and the frozen state: results are identical to guarding every step.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import fates
from ..dynamics import UpdateRule, guarded_step, probed_step
from ..fates import Fate, FateRule
from ..fields import Field
from ..stability.jacobians import rest_update_jacobians

__all__ = ["trace_count"]

_PENDING = 7  # internal: poisoned in the fast path, resolved by the exact replay
_TRACES = [0]  # how many times the kernel was traced (= compiled); for tests and benchmarks
_MAX_CHECK_EVERY = 128


def trace_count() -> int:
    """How many times the sweep kernel has been traced (each trace is one compilation)."""
    return _TRACES[0]


# ============================================================================ check interval


def auto_check_every(field_b: Field, arg_b, rule: UpdateRule, steps: int) -> int:
    """Steps between fate checks: as many as possible (≤ 128) while the orbit near the rest point
    turns by at most π/4 between two checks (so the winding count does not alias).

    `field_b`, `arg_b`: a batch of fields and step arguments (leading axis B) to sample.
    """
    try:
        theta = _rotation_per_step(field_b, arg_b, rule)
    except (ValueError, TypeError, np.linalg.LinAlgError):
        theta = math.nan
    if not math.isfinite(theta):
        k = 16
    elif theta <= 0:
        k = _MAX_CHECK_EVERY
    else:
        k = max(1, min(_MAX_CHECK_EVERY, 2 ** int(math.floor(math.log2(max(1.0, (math.pi / 4) / theta))))))
    return min(k, steps)


def _rotation_per_step(field_b: Field, arg_b, rule: UpdateRule) -> float:
    """The largest angle one update turns by near the rest point, over the batch."""
    if rule.name.startswith("adaptive"):
        # Continuous time: a step is an interval `lr`; the rotation is lr·max|Im λ|.
        jac = jax.vmap(lambda f: jax.jacfwd(f)(jnp.asarray(f.rest_point, jnp.result_type(float))))(field_b)
        ev = np.linalg.eigvals(np.asarray(jac, np.float64))
        return float(np.max(np.abs(ev.imag) * np.asarray(arg_b, np.float64).reshape(-1, 1)))
    ev = np.linalg.eigvals(np.asarray(rest_update_jacobians(field_b, arg_b, rule=rule), np.float64))
    return float(np.max(np.abs(np.angle(ev))))


# ============================================================================ the kernel


def _fast_rows(rule: UpdateRule, field_axis, arg_axis, field: Field, z_rows, state, arg):
    """One update of every start of a chunk on the fast path: a coordinate out of its bounds
    becomes NaN (all of them when the rule evaluated the field outside the domain).

    `z_rows: Float[Array, "n c"]`, coordinate-major: the update, the bounds and the poisoning
    are then elementwise over one array, which XLA compiles into one loop per step (a tuple
    of coordinates, stacked for the field and sliced again, took four, and stored the field
    and the stacked state on the way). The arithmetic of each element is unchanged, so the
    results are bit-identical."""
    stages = bool(rule.stages)

    def one(f, z, s, a):
        z_new, s_new, stage_out = probed_step(rule, f, z, s, a)
        return (z_new, s_new, jnp.asarray(stage_out)) if stages else (z_new, s_new)

    out = jax.vmap(one, in_axes=(field_axis, 1, 0, arg_axis), out_axes=(1, 0, 0) if stages else (1, 0))(
        field, z_rows, state, arg)
    z_new, state = out[0], out[1]
    ok = _rows_in_domain(field, z_new)
    if stages:
        ok = ok & ~out[2]
    return jnp.where(ok, z_new, jnp.nan), state


def _rows_in_domain(field: Field, z_rows):
    """`field.coordinate_in_domain(i, z_rows[i])` for every row `i` of `z_rows: Float[Array, "n c"]`
    at once: the same comparisons (finite, above `lower[i]`, below `upper[i]`, each end included where
    `closed[i]` says, the bounds cast to the array's dtype), written with the bounds as `(n, 1)`
    columns so that XLA fuses them, the update and the poisoning into one loop; a stack of per-row
    masks made it compute the field in a loop of its own and store it."""
    dtype = z_rows.dtype
    lo, hi = (jnp.asarray(np.asarray(b, dtype)[:, None]) for b in (field.lower, field.upper))
    lo_closed, hi_closed = (np.asarray(c, bool)[:, None] for c in zip(*field.closed))
    above = jnp.where(lo_closed, z_rows >= lo, z_rows > lo)
    below = jnp.where(hi_closed, z_rows <= hi, z_rows < hi)
    return jnp.isfinite(z_rows) & above & below


def _where_rows(mask, new, old):
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim)), a, b), new, old)


def _check(fate_rule: FateRule, plane, rest_rows, carry, t, t0):
    """The fate rule at a check (step `t`, the block began at `t0`), with the sweeps' additions:
    a poisoned start becomes `_PENDING` (dated `t0`, resolved by the replay), and the state of
    every live start is kept as the replay's starting point (`zb`, `sb`)."""
    zs, tracker = carry["z"], carry["track"]
    u = tuple(z - r for z, r in zip(zs, rest_rows))
    dist2 = sum(x * x for x in u)
    running = tracker.status == Fate.UNDECIDED
    bad = jnp.isnan(dist2)
    ok = running & ~bad
    tracker = fates.update(fate_rule, tracker, u[plane[0]], u[plane[1]], dist2)
    status = jnp.where(running & bad, _PENDING, tracker.status).astype(jnp.int32)
    when = jnp.where(running & bad, t0, jnp.where(status != carry["track"].status, t, carry["when"]))
    return dict(carry, track=tracker._replace(status=status), when=when,
                zb=_where_rows(ok, zs, carry["zb"]), sb=_where_rows(ok, carry["s"], carry["sb"]))


def _undecided_left(carry, steps):
    return (carry["t"] < steps) & jnp.any(carry["track"].status == Fate.UNDECIDED)


def _run_blocks(fast, check, field, arg, carry, steps, check_every):
    """Blocks of `check_every` fast steps, each followed by a check, until `steps` or until no
    start of the chunk is undecided."""
    def block(carry):
        t0 = carry["t"]
        n_steps = jnp.minimum(check_every, steps - t0)  # the last block may be shorter: checks also land on `steps`
        z_rows, st = jax.lax.fori_loop(0, n_steps, lambda i, zst: fast(field, zst[0], zst[1], arg),
                                       (jnp.stack(carry["z"]), carry["s"]))
        t = t0 + n_steps
        carry = check(dict(carry, z=tuple(z_rows), s=st, t=t), t, t0)
        carry["alive"] = _undecided_left(carry, steps)
        return carry

    carry["alive"] = _undecided_left(carry, steps)
    return jax.lax.while_loop(lambda cr: cr["alive"], block, carry)


def _replay_pending(rule, field, arg, carry, check_every, *, field_axis, arg_axis):
    """Replay each `_PENDING` start from its last checked state with the exact `guarded_step`
    (at most one block): on a compacted batch of them when they are few (the usual case), else
    on the whole chunk. Returns `(status, when, final)` for the whole chunk."""
    status, c = carry["track"].status, carry["track"].status.shape[0]
    pending = status == _PENDING
    z_b = jnp.stack(carry["zb"], axis=1)
    guarded = jax.vmap(lambda f, z, s, a_, st, k: guarded_step(rule, f, z, s, a_, st, k),
                       in_axes=(field_axis, 0, 0, arg_axis, 0, 0))

    def replay(f, a, z, s, st0, start):
        def body(rc):
            i, z, s, st, ex = rc
            z, s, st, e = guarded(f, z, s, a, st, start + i)
            return i + 1, z, s, st, jnp.maximum(ex, e)

        def more(rc):
            return (rc[0] < check_every) & jnp.any(rc[3] == Fate.UNDECIDED)

        _, z, _, st, ex = jax.lax.while_loop(more, body, (jnp.int32(0), z, s, st0, -jnp.ones_like(st0)))
        return z, st, ex

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
        return (z_b.at[dest].set(z, mode="drop"),
                jnp.full((c,), int(Fate.CONVERGED), jnp.int32).at[dest].set(st, mode="drop"),
                jnp.full((c,), -1, jnp.int32).at[dest].set(ex, mode="drop"))

    z_r, status_r, exit_r = jax.lax.cond(jnp.sum(pending) <= m, replay_few, replay_all, None)
    resolved = pending & (status_r != Fate.UNDECIDED)
    status = jnp.where(pending, jnp.where(resolved, status_r, int(Fate.UNDECIDED)), status)
    when = jnp.where(pending, jnp.where(resolved, exit_r, -1), carry["when"])
    final = jnp.where(pending[:, None], z_r, z_b)
    return status, when, final


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
    if field_axis is None:
        rest = jnp.broadcast_to(jnp.asarray(field.rest_point, z0.dtype), (c, n))
    else:
        rest = jax.vmap(lambda f: jnp.asarray(f.rest_point, z0.dtype))(field)
    rest_rows = tuple(rest[:, i] for i in range(n))
    state0 = jax.vmap(rule.init, in_axes=(field_axis, 0))(field, z0)
    fast = functools.partial(_fast_rows, rule, field_axis, arg_axis)
    # The sweeps' rule: an outward spiral stays UNDECIDED until `bound` (see jaxgan.fates).
    check = functools.partial(_check, FateRule(tol, bound, cycle_rtol, cycle_turns), plane, rest_rows)

    zs0 = tuple(z0[:, i] for i in range(n))
    i0, i1 = plane
    carry = dict(t=jnp.int32(0), z=zs0, s=state0, zb=zs0, sb=state0, when=jnp.full((c,), -1, jnp.int32),
                 track=fates.init(zs0[i0] - rest_rows[i0], zs0[i1] - rest_rows[i1]))
    carry = check(carry, jnp.int32(0), jnp.int32(0))
    carry = _run_blocks(fast, check, field, arg, carry, steps, check_every)
    status, when, final = _replay_pending(rule, field, arg, carry, check_every, field_axis=field_axis,
                                          arg_axis=arg_axis)
    return status.astype(jnp.int8), when.astype(jnp.int32), final, carry["track"].turns


@functools.lru_cache(maxsize=64)  # bounded: one entry per (rule, plane, axes, mesh) in use
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
