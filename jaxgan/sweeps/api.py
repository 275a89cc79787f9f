"""`basins` and `sweep`: their arguments, checked before anything compiles, turned into jobs."""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_type, bad_value, check_grid_range, check_instance, check_int, check_values
from ..dynamics import Optimizer, UpdateRule, get_rule, method_args
from ..errors import ArgumentError
from ..fates import FateRule, check_plane, check_rule
from ..fields import Field
from ..progress import check_progress
from ..stability import max_stable_lr
from .engine import auto_check_every
from .identity import identity
from .limits import check_field_values, check_memory_for
from .results import BasinsResult, SweepResult
from .runner import Jobs, Options, batched_field, check_devices, check_part, run
from .store import array_digest, folder_chunk

__all__ = ["basins", "sweep"]

# Default starts per chunk, per kind of device. On a CPU, 65 536 starts keep a chunk's state
# in cache and are enough for a part of 8192 or more on each core of up to 8 (runner.py, `_host_pool`);
# an accelerator needs far more starts in flight to be busy. Memory stays O(chunk) either way
# (about 100 bytes per start).
_DEFAULT_CHUNK_CPU = 1 << 16
_DEFAULT_CHUNK_ACCELERATOR = 1 << 20


# ============================================================================ shared checks


def _check_field(fn: str, field) -> Field:
    hint = " (build one with jaxgan.pointwise_field(game, pd))" if isinstance(field, str) else ""
    check_instance(fn, "field", field, Field, "a jaxgan Field", hint)
    if field.dim < 2:
        raise bad_value(fn, "field", "a Field with at least 2 coordinates", field.name)
    if field.rest_point is None:
        raise ArgumentError(
            f"{fn} argument `field`: {field.name!r} has no rest point, so CONVERGED and CYCLING "
            f"are undefined; give the Field a `rest_point`."
        )
    return field


def _setup(fn, field, *, steps, tol, bound, cycle_rtol, cycle_turns, check_every, plane, chunk, out, part,
           devices, progress):
    """The checks `basins` and `sweep` share; returns `(field, options, part, devices)` with the
    chunk resolved (`check_every` may still be None: it depends on the method and the field)."""
    field = _check_field(fn, field)
    steps = _check_steps(fn, steps)
    if isinstance(cycle_turns, (int, np.integer)) and cycle_turns > _MAX_STEPS:  # an int32 on the device
        raise bad_value(fn, "cycle_turns", f"an integer in [1, {_MAX_STEPS}] (turns are counted in int32)",
                        cycle_turns)
    rule = check_rule(fn, FateRule(tol, bound, cycle_rtol, cycle_turns), arg=None)
    if check_every is not None:
        check_every = min(check_int(fn, "check_every", check_every), steps)
    if chunk is not None:
        chunk = check_int(fn, "chunk", chunk)
    plane = check_plane(fn, _check_int_pair(fn, "plane", plane, "a pair of coordinate indices"), field.dim)
    part = check_part(fn, part, out)
    devs = check_devices(fn, devices)
    check_progress(fn, progress)  # now, before anything compiles
    chunk = _resolve_chunk(chunk, out, devs)
    return field, Options(steps, rule.tol, rule.bound, rule.cycle_rtol, rule.cycle_turns, check_every, plane,
                          chunk), part, devs


_MAX_STEPS = 2**31 - 1  # steps and decision steps are int32 on the device


def _check_steps(fn: str, steps) -> int:
    """`steps` as an int in `[1, 2**31 - 1]`: the kernel counts steps in int32."""
    steps = check_int(fn, "steps", steps)
    if steps > _MAX_STEPS:
        raise ArgumentError(
            f"{fn} argument `steps` must be at most 2**31 - 1 = {_MAX_STEPS} (steps are counted in int32 on the "
            f"device); got {steps}. Run fewer steps, then continue from the final states (`starts=result.final`)."
        )
    return steps


def _check_int_pair(fn: str, arg: str, value, what: str) -> tuple:
    """`value` as a pair of Python ints: a float (even `1.0`) or a bool is refused, never truncated."""
    try:
        pair = tuple(value)
    except TypeError:
        raise bad_type(fn, arg, what + " (integers)", value) from None
    if len(pair) != 2 or not all(isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))
                                 for p in pair):
        raise bad_type(fn, arg, what + " (integers)", value)
    return tuple(int(p) for p in pair)


def _resolve_chunk(chunk, out, devs) -> int:
    """`chunk`, or when None: the chunk of the sweep already in `out`, else the device default."""
    if chunk is not None:
        return chunk
    old = folder_chunk(out) if out is not None else None
    if old is not None:
        return old  # resume with the chunking the folder was written with
    return _DEFAULT_CHUNK_CPU if devs[0].platform == "cpu" else _DEFAULT_CHUNK_ACCELERATOR


def _method(method, lr):
    """The static rule, the traced argument its `lr` slot receives, and a JSON description."""
    rule, arg = method_args(method, lr)
    desc = {"name": rule.name}
    if isinstance(method, Optimizer):
        desc["hyperparams"] = dict(method.hyperparams)
        desc["static"] = {k: repr(v) for k, v in method.static.items()}
    elif lr is not None:
        desc["lr"] = float(lr)
    return rule, arg, desc


def _key(settings: dict, field: Field, rule: UpdateRule, arg, dtype, out) -> dict:
    """The identity of a sweep for its chunk folder: the settings plus what they hold only by name
    (the traced computation's fingerprint, the field's leaves; see `jaxgan.sweeps.identity`).
    Only a sweep with `out` needs it (lowering one update takes a moment)."""
    if out is None:
        return settings
    return {**settings, "identity": identity(field, rule, arg, dtype)}


def _field_desc(field: Field) -> dict:
    params = {}
    if isinstance(field.params, dict):
        for k, v in field.params.items():
            params[k] = np.asarray(v, np.float64).tolist()
    game = field.get_meta("game")
    return {"name": field.name, "labels": list(field.labels), "domain": field.domain_str(), "params": params,
            "game": getattr(game, "name", None), "kind": field.get_meta("kind")}


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
    - `bound`: DIVERGED when the distance to the rest point exceeds `bound` (`inf`: never).
    - `cycle_rtol`, `cycle_turns`: the CYCLING rule (see `jaxgan.fates`; `cycle_rtol=inf`:
      any return counts).
    - `check_every`: steps between two fate checks (and a check at `steps`). Default: the
      largest power of two <= 128 for which the linearised orbit turns by at most π/4
      between two checks (from the eigenvalues of one update at the rest point).
    - `plane`: the two coordinates the winding is measured in.
    - `chunk`: starts per chunk (memory is O(chunk)). Default: the chunk of the sweep already in
      `out` when resuming, else 65 536 on CPUs and 2^20 on accelerators.
    - `out`: a folder for resumable chunk files (see `jaxgan.sweeps`); `part`:
      `(index, count)` to run only this process's share of the chunks.
    - `devices`: the devices to shard each chunk over (default: all local devices). On one
      CPU device, parts of each chunk (at least 8192 starts each) and further chunks run on one
      host thread per core; the results are the same bit for bit.
    - `progress`: `None` (default) for a tqdm bar of the chunks on stderr when stderr is a
      terminal (silent otherwise), `True` for a bar always, `False` for silence, or a callable
      receiving a `jaxgan.progress.ProgressEvent` (one when the run starts, with the chunks
      already in `out` done, then one per finished chunk).

    **Returns:** a `BasinsResult` (`None` when `part` leaves chunks to other processes).

    **Raises:** `jaxgan.errors.ArgumentError`/`ArgumentTypeError` for bad input (empty or
    inverted ranges, n < 1, non-finite bounds, starts outside the domain, steps <= 0 or
    >= 2**31, lr <= 0, an unknown method, a field without a rest point, `plane` or `part`
    entries that are not integers, results or a chunk too large for memory: the message gives
    the estimate), and `jaxgan.errors.StoreError` for a foreign or corrupt `out` folder or one
    holding another sweep (the message says what differs), before anything compiles.

    Example: `jaxgan.basins(jaxgan.pointwise_field("minimax", 0.2), (0.01, 0.99, 256),
    (0.01, 2.0, 256), steps=10_000, lr=1e-3).fractions()`.
    """
    fn = "basins"
    field, opts, part, devs = _setup(fn, field, steps=steps, tol=tol, bound=bound, cycle_rtol=cycle_rtol,
                                     cycle_turns=cycle_turns, check_every=check_every, plane=plane, chunk=chunk,
                                     out=out, part=part, devices=devices, progress=progress)
    d_lo, d_hi, n_d = check_grid_range(fn, "d_range", d_range)
    p_lo, p_hi, n_pg = check_grid_range(fn, "pg_range", pg_range)
    rule, arg, mdesc = _method(method, lr)
    dtype = np.dtype(jnp.result_type(float))
    check_memory_for(fn, n_d * n_pg, field.dim, dtype, opts.chunk, devs, f"a {n_d:,} × {n_pg:,} grid")
    d_axis = np.linspace(d_lo, d_hi, n_d)
    pg_axis = np.linspace(p_lo, p_hi, n_pg)
    rest = np.asarray(field.rest_point, np.float64)
    corners = np.broadcast_to(rest, (4, field.dim)).copy()
    corners[:, :2] = [[x, y] for x in (d_lo, d_hi) for y in (p_lo, p_hi)]
    if not np.all(field.in_domain(corners.astype(dtype), xp=np)):
        raise ArgumentError(
            f"{fn}: the grid d_range={d_range!r}, pg_range={pg_range!r} reaches outside the domain of "
            f"{field.name!r} ({field.domain_str()}); choose bounds strictly inside it."
        )

    def starts(idx):
        z = np.broadcast_to(rest, (len(idx), field.dim)).copy()
        z[:, 0] = d_axis[idx // n_pg]
        z[:, 1] = pg_axis[idx % n_pg]
        return z

    if opts.check_every is None:
        one = jax.tree_util.tree_map(lambda a: jnp.reshape(a, (1,)), arg)
        opts = dataclasses.replace(opts, check_every=auto_check_every(batched_field(field, 1, {}), one, rule,
                                                                      opts.steps))
    settings = {"kind": "basins", "field": _field_desc(field), "method": mdesc, **opts.as_dict(),
                "d_range": [d_lo, d_hi, n_d], "pg_range": [p_lo, p_hi, n_pg], "dtype": dtype.name,
                "rest_point": rest.tolist()}
    res = run(fn, Jobs(field, rule, arg, dtype, n_d * n_pg, starts), opts, _key(settings, field, rule, arg, dtype, out),
              out=out, part=part, devices=devs, progress=progress)
    if res is None:
        return None
    fate, step, final, turns = res
    shape = (n_d, n_pg)
    return BasinsResult(fate.reshape(shape), step.reshape(shape), final.reshape(shape + (field.dim,)),
                        turns.reshape(shape), d_axis, pg_axis, rest, tuple(field.labels[:2]), settings)


# ============================================================================ sweep: the grid and its starts


def _static_rule(method) -> UpdateRule:
    return method.traced_rule if isinstance(method, Optimizer) else get_rule(method)


def _grid(fn: str, grid, field: Field, method, dtype) -> tuple[list[str], list[np.ndarray], dict]:
    """The axes of `grid`: names, values (float64, each representable in `dtype` and obeying its
    parameter's rule), and each one's kind (`lr`, `field`, `hyper`)."""
    if not isinstance(grid, Mapping) or not grid:
        raise bad_type(fn, "grid", "a non-empty mapping name -> values", grid)
    rule = _static_rule(method)
    field_names = set(field.params) if isinstance(field.params, dict) else set()
    hyper_names = set(method.hyperparams) if isinstance(method, Optimizer) else set()
    names, values, kinds = [], [], {}
    for name, vals in grid.items():
        if not isinstance(name, str):
            raise bad_type(fn, "grid", "a mapping with parameter names (strings) as keys", name)
        if name == "lr":
            if not rule.takes_lr:
                raise ArgumentError(
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
            raise ArgumentError(f"{fn} argument `grid` names an unknown parameter {name!r}; valid names: "
                                f"{', '.join(valid)}.")
        if kind == "field":  # the constructor's rule: a positive pd, no derived d0, ...
            values.append(check_field_values(fn, f"grid[{name!r}]", field, name, vals, dtype))
        else:
            values.append(check_values(fn, f"grid[{name!r}]", vals, sign="positive" if kind == "lr" else "any",
                                       dtype=dtype))
        names.append(name)
        kinds[name] = kind
    return names, values, kinds


def _grid_lr(fn: str, lr, names, values):
    """The `lr` the method is built with: `lr`, or any value of a swept `lr` (each job gets its own)."""
    if "lr" not in names:
        return lr
    if lr is not None:
        raise ArgumentError(f"{fn}: give `lr` or grid['lr'], not both; got lr={lr!r}.")
    return float(values[names.index("lr")][0])


def _boundary(field: Field, method, rule: UpdateRule, names, values, kinds) -> np.ndarray | None:
    """`max_stable_lr` at each point of the grid's other axes, when `lr` is swept against field parameters."""
    if "lr" not in names or rule.name.startswith("adaptive"):
        return None
    others = [(n, v) for n, v in zip(names, values) if n != "lr"]
    if any(kinds[n] != "field" for n, _ in others):
        return None
    shape = tuple(len(v) for _, v in others)
    out = np.empty(shape, np.float64)
    for idx in np.ndindex(*shape):
        f = field.replace(**{n: v[i] for (n, v), i in zip(others, idx)}) if others else field
        out[idx] = max_stable_lr(f, method=method)
    return out


def _sweep_starts(fn: str, field: Field, starts, offsets, d_range, pg_range) -> tuple[np.ndarray, bool]:
    """The starts of every grid point, `(m, n)` float64, and whether they are offsets from the rest point."""
    given = [k for k, v in (("starts", starts), ("offsets", offsets), ("d_range", d_range)) if v is not None]
    if (d_range is None) != (pg_range is None):
        raise ArgumentError(f"{fn}: give both `d_range` and `pg_range`, or neither.")
    if len(given) != 1:
        raise ArgumentError(f"{fn}: give exactly one of `starts`, `offsets` or `d_range`+`pg_range`; "
                            f"got {given or 'none'}.")
    if d_range is not None:
        d_lo, d_hi, n_d = check_grid_range(fn, "d_range", d_range)
        p_lo, p_hi, n_pg = check_grid_range(fn, "pg_range", pg_range)
        dd, pp = np.meshgrid(np.linspace(d_lo, d_hi, n_d), np.linspace(p_lo, p_hi, n_pg), indexing="ij")
        S = np.broadcast_to(np.asarray(field.rest_point, np.float64), (n_d * n_pg, field.dim)).copy()
        S[:, 0], S[:, 1] = dd.ravel(), pp.ravel()
        return S, False
    arg_name, given_value = ("starts", starts) if starts is not None else ("offsets", offsets)
    try:
        S = np.asarray(given_value, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_type(fn, arg_name, f"an array of shape (m, {field.dim})", given_value) from None
    if S.ndim == 1:
        S = S[None]
    if S.ndim != 2 or S.shape[1] != field.dim or S.shape[0] < 1:
        raise bad_value(fn, arg_name, f"an array of shape (m, {field.dim}) with m >= 1", S.shape)
    if not np.all(np.isfinite(S)):
        raise bad_value(fn, arg_name, "finite", S.tolist())
    return S, offsets is not None


class _GridJobs:
    """The jobs of a sweep: job `j` is start `j % m` at grid point `j // m` (C order over the axes).

    Field parameters move the rest point, so relative starts and the domain check need the rest
    point of every point of the field-parameter sub-grid (`rests`).
    """

    def __init__(self, field: Field, arg, dtype, names, values, kinds, S: np.ndarray, relative: bool):
        self.field, self.arg, self.dtype = field, arg, dtype
        self.names, self.values, self.S, self.relative = names, values, S, relative
        self.m = S.shape[0]
        self.gshape = tuple(len(v) for v in values)
        self.n_points = int(np.prod(self.gshape))
        self.field_axes = [(i, n) for i, n in enumerate(names) if kinds[n] == "field"]
        self.hyper_axes = [(i, n) for i, n in enumerate(names) if kinds[n] in ("hyper", "lr")]
        if self.field_axes:
            fgrid = [values[i] for i, _ in self.field_axes]
            combos = np.stack(np.meshgrid(*fgrid, indexing="ij"), -1).reshape(-1, len(fgrid))
            fb = batched_field(field, len(combos), {n: combos[:, k] for k, (_, n) in enumerate(self.field_axes)})
            self.rests = np.asarray(jax.vmap(lambda f: f.rest_point)(fb), np.float64).reshape(
                tuple(len(v) for v in fgrid) + (field.dim,))
        else:
            self.rests = np.asarray(field.rest_point, np.float64)

    def _point(self, idx):
        return np.unravel_index(idx // self.m, self.gshape)

    def absolute_starts(self) -> np.ndarray:
        """Every distinct absolute start (for the domain check), `(k, n)`."""
        if not self.relative:
            return self.S
        return (self.rests.reshape(-1, 1, self.field.dim) + self.S[None]).reshape(-1, self.field.dim)

    def starts(self, idx):
        s = idx % self.m
        if not self.relative:
            return self.S[s]
        if not self.field_axes:
            return self.rests[None] + self.S[s]
        full = self._point(idx)
        return self.rests[tuple(full[i] for i, _ in self.field_axes)] + self.S[s]

    def field_values(self, idx):
        full = self._point(idx)
        return {n: self.values[i][full[i]] for i, n in self.field_axes}

    def arg_values(self, idx):
        full = self._point(idx)
        if isinstance(self.arg, dict):
            out = {k: np.full(len(idx), np.asarray(v), self.dtype) for k, v in self.arg.items()}
            for i, n in self.hyper_axes:
                out[n] = self.values[i][full[i]].astype(self.dtype)
            return {k: jnp.asarray(v) for k, v in out.items()}
        i = self.names.index("lr")
        return jnp.asarray(self.values[i][full[i]].astype(self.dtype))

    def check_every(self, rule: UpdateRule, steps: int) -> int:
        """The default check interval from the rotation per step at a sample of grid points
        (all of them for grids up to 256)."""
        P = self.n_points
        sample = np.unique(np.linspace(0, P - 1, min(P, 256)).round().astype(np.int64)) * self.m
        fb = batched_field(self.field, len(sample), self.field_values(sample) if self.field_axes else {})
        ab = self.arg_values(sample) if self.hyper_axes else jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (len(sample),)), self.arg)
        return auto_check_every(fb, ab, rule, steps)

    def jobs(self, rule: UpdateRule) -> Jobs:
        return Jobs(self.field, rule, self.arg, self.dtype, self.n_points * self.m, self.starts,
                    field_values=self.field_values if self.field_axes else None,
                    arg_values=self.arg_values if self.hyper_axes else None)


# ============================================================================ sweep


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

    **Raises:** `jaxgan.errors.ArgumentError`/`ArgumentTypeError` for bad input (an unknown or
    empty axis, non-finite or non-positive `lr`/`pd` values, values the working float cannot
    hold, a swept value its parameter's constructor would refuse (a negative weight) or a
    derived parameter (a pointwise field's `d0`), no or several kinds of starts, starts
    outside the domain, and as `basins`), `jaxgan.errors.StoreError` as `basins`, before
    anything compiles.

    Example (the lr x pd phase diagram of the classic GAN):
    `jaxgan.sweep(field, {"lr": np.geomspace(0.05, 1, 12), "pd": np.linspace(0.05, 1, 10)},
    steps=2000, lr=None, offsets=[[0.05, 0.0], [0.0, 0.05]])`.
    """
    fn = "sweep"
    field, opts, part, devs = _setup(fn, field, steps=steps, tol=tol, bound=bound, cycle_rtol=cycle_rtol,
                                     cycle_turns=cycle_turns, check_every=check_every, plane=plane, chunk=chunk,
                                     out=out, part=part, devices=devices, progress=progress)
    dtype = np.dtype(jnp.result_type(float))
    names, values, kinds = _grid(fn, grid, field, method, dtype)
    rule, arg, mdesc = _method(method, _grid_lr(fn, lr, names, values))
    if "lr" in names:
        mdesc.pop("lr", None)
    S, relative = _sweep_starts(fn, field, starts, offsets, d_range, pg_range)
    n_points = math.prod(len(v) for v in values)
    check_memory_for(fn, n_points * S.shape[0], field.dim, dtype, opts.chunk, devs,
                     f"{n_points:,} grid points × {S.shape[0]:,} starts")
    grid_jobs = _GridJobs(field, arg, dtype, names, values, kinds, S, relative)
    absolute = grid_jobs.absolute_starts()
    bad = ~field.in_domain(absolute.astype(dtype), xp=np)
    if bad.any():
        raise ArgumentError(
            f"{fn}: {int(bad.sum())} start(s) lie outside the domain of {field.name!r} ({field.domain_str()}), "
            f"e.g. {absolute[bad][0].tolist()}; choose starts inside it."
        )
    if opts.check_every is None:
        opts = dataclasses.replace(opts, check_every=grid_jobs.check_every(rule, opts.steps))
    settings = {"kind": "sweep", "field": _field_desc(field), "method": mdesc, **opts.as_dict(),
                "grid": {n: v.tolist() for n, v in zip(names, values)}, "relative": relative,
                "starts_digest": array_digest(S), "dtype": dtype.name}
    bnd = _boundary(field, method, rule, names, values, kinds) if boundary else None
    res = run(fn, grid_jobs.jobs(rule), opts, _key(settings, field, rule, arg, dtype, out), out=out, part=part,
              devices=devs, progress=progress)
    if res is None:
        return None
    fate, step, final, turns = res
    shape = grid_jobs.gshape + (grid_jobs.m,)
    if bnd is not None:
        settings = {**settings, "boundary_method": rule.name}
    return SweepResult(tuple(names), tuple(values), S, relative, fate.reshape(shape), step.reshape(shape),
                       final.reshape(shape + (field.dim,)), turns.reshape(shape), bnd, settings)
