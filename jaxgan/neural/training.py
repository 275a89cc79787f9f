"""`train`: many seeds of one GAN in one compiled program, measured along the way.

One compiled program: `vmap` over seeds of a `lax.scan` over checkpoints, each an inner
`fori_loop` of `measure_every` updates followed by the measurements (`measurements.measure`).
The program is cached per GAN *structure* (`spec.program_key`): a GAN that differs only in its
`Optimizer`s' numbers (a new learning rate) reuses it.
"""

from __future__ import annotations

import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._checks import bad_type, bad_value, check_bool, check_float, check_instance, check_int
from ..fates import Fate
from ..stability.krylov import ritz_values
from .data import default_float
from .metrics import cosine
from .measurements import EvalInputs, Grids, RunConfig, eval_inputs, g_eval, measure, rotation_index
from .objectives import merge_params
from .result import TrainResult
from .spec import GAN, ProgramKey, program_key
from .step import TrainState, init_state, seed_keys, split_seed_key, train_step
from .verdicts import check_tail, fates_of

__all__ = ["train"]

_KERNEL_LOGS = ("kernel_cos", "kernel_gain", "kernel_cos_g", "kernel_gain_g")


# ============================================================================ the compiled run


def _updates(gan: GAN, cfg: RunConfig, k_train, carry, c):
    """The `measure_every` updates before checkpoint `c` (none before checkpoint 0). A non-finite
    update freezes the seed and marks it diverged at that update. Returns the new `(state, status,
    fail_step)` and both players right after the first of these updates (for the kernel probes)."""
    st, status, fstep = carry
    base = jnp.maximum(c - 1, 0) * cfg.measure_every

    def one(i, inner):
        st, status, fstep, first = inner
        new, _, ok = train_step(gan, st, jax.random.fold_in(k_train, base + i))
        running = status == jnp.int32(Fate.UNDECIDED)
        st = jax.tree_util.tree_map(lambda a, b: jnp.where(running & ok, a, b), new, st)
        status = jnp.where(running & ~ok, jnp.int32(Fate.DIVERGED), status)
        fstep = jnp.where(running & ~ok, base + i + 1, fstep)
        first = jax.tree_util.tree_map(lambda a, b: jnp.where(i == 0, a, b), (st.td, st.sd, st.tg, st.sg), first)
        return st, status, fstep, first

    n_inner = jnp.where(c > 0, cfg.measure_every, 0)
    st, status, fstep, first = jax.lax.fori_loop(0, n_inner, one, (st, status, fstep, (st.td, st.sd, st.tg, st.sg)))
    return (st, status, fstep), first


def _kernel_logs(gan: GAN, grids: Grids, ev: EvalInputs, pred_prev, d_prev, first, valid):
    """The kernel predictions made at the previous checkpoint against the change its next update made."""
    pd_prev, pg_prev, g_prev = pred_prev
    _, d_apply = gan.d_net
    actual = gan.d_output(d_apply(merge_params(first[0], first[1]), grids.grid, train=False)) - d_prev
    actual_g = (g_eval(gan, first[2], first[3], ev.z[:grids.grid.shape[0]]) - g_prev).ravel()
    out = {}
    for name, pred, act in (("", pd_prev, actual), ("_g", pg_prev.ravel(), actual_g)):
        npred = jnp.linalg.norm(pred)
        out[f"kernel_cos{name}"] = jnp.where(valid, cosine(pred, act), jnp.nan)
        out[f"kernel_gain{name}"] = jnp.where(valid & (npred > 0), jnp.linalg.norm(act) / npred, jnp.nan)
    return out


def _run_seed(gan: GAN, cfg: RunConfig, grids: Grids, k_train, k_eval, st0: TrainState):
    """One seed's run: the scan over checkpoints; returns `(logs, status, fail_step, θ0, θ_end, state)`."""
    t0, _ = ravel_pytree((st0.td, st0.tg))
    ev = eval_inputs(gan, cfg, k_eval, t0.shape[0])

    def checkpoint(carry, c):
        run, v_prev, t_prev, d_prev, pred_prev = carry
        run, first = _updates(gan, cfg, k_train, run, c)
        m, v, t, d_grid, pred = measure(gan, cfg, run[0], grids, ev, jax.random.fold_in(k_train, c * cfg.measure_every))
        m["step_cos"] = jnp.where(c > 0, cosine(v_prev, t - t_prev), jnp.nan)
        if cfg.kernel_probe:
            m.update(_kernel_logs(gan, grids, ev, pred_prev, d_prev, first, c > 0))
        else:
            pred = pred_prev
        return (run, v, t, d_grid, pred), m

    n_grid = grids.grid.shape[0]
    zero_g = jnp.zeros((n_grid,), t0.dtype)
    zero_probe = jnp.zeros((min(n_grid, ev.z.shape[0]), gan.data.dim), t0.dtype)
    pred0 = (zero_g, zero_probe, zero_probe) if cfg.kernel_probe else zero_g
    init = ((st0, jnp.int32(Fate.UNDECIDED), jnp.int32(-1)), jnp.zeros_like(t0), t0, zero_g, pred0)
    n_chk = cfg.steps // cfg.measure_every
    ((st, status, fstep), _, t_end, _, _), logs = jax.lax.scan(checkpoint, init,
                                                               jnp.arange(n_chk + 1, dtype=jnp.int32))
    return logs, status, fstep, t0, t_end, st


@functools.partial(jax.jit, static_argnames=("program", "cfg"))
def _train_jit(program: ProgramKey, cfg: RunConfig, grids: Grids, k_train, k_eval, st0: TrainState):
    return jax.vmap(lambda kt, ke, s0: _run_seed(program.gan, cfg, grids, kt, ke, s0))(k_train, k_eval, st0)


_COMPILED: dict = {}


def compiled_programs() -> int:
    """How many training programs have been compiled in this process (and are cached)."""
    return len(_COMPILED)


def _compiled(gan: GAN, cfg: RunConfig, grids: Grids, args, fast_compile: bool):
    """The compiled training program, cached by (GAN structure, sizes, argument shapes and dtypes,
    optimisation level), so that compile time and run time can be reported apart."""
    sig = tuple((tuple(a.shape), str(a.dtype)) for a in jax.tree_util.tree_leaves((grids, args)))
    key = (program_key(gan), cfg, sig, bool(jax.config.jax_enable_x64), fast_compile)
    if key not in _COMPILED:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        lowered = _train_jit.lower(key[0], cfg, grids, *args)
        # XLA's backend optimisation level 0 halves the CPU compile time and triples the run time:
        # the better trade for short runs.
        _COMPILED[key] = lowered.compile({"xla_backend_optimization_level": 0}) if fast_compile else lowered.compile()
    return _COMPILED[key]


def _seed_parts(gan: GAN, keys):
    """Per seed, stacked: the training key, the measurement key and the initial state (the networks
    are initialised on the host from each seed's `k_init`)."""
    parts = jax.vmap(split_seed_key)(keys)
    states = [init_state(gan, parts[i, 0]) for i in range(parts.shape[0])]
    return parts[:, 1], parts[:, 2], jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)


# ============================================================================ host side


def _check_seeds(seeds) -> np.ndarray:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return np.arange(check_int("train", "seeds", seeds))
    try:
        arr = np.asarray(seeds)
    except (TypeError, ValueError):
        arr = np.asarray([], dtype=object)
    if arr.ndim != 1 or arr.size < 1 or not np.issubdtype(arr.dtype, np.integer):
        raise bad_type("train", "seeds", "a positive int (a count) or a 1-D list of ints", seeds)
    return arr.astype(np.int64)


def _grids(gan: GAN, n_grid: int, n_bins: int, bandwidth: float | None):
    """The measurement grids (`Grids`), the x grid `(G, d)` and the smoothed data density on it `(G,)`."""
    data = gan.data
    lo, hi = data.box(4.0)
    dtype = default_float()
    if data.dim == 1:
        grid = np.linspace(lo[0], hi[0], n_grid)[:, None]
    else:
        g = int(round(math.sqrt(n_grid)))
        axes = [np.linspace(lo[a], hi[a], g) for a in range(data.dim)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, data.dim)
    nb = n_bins if data.dim == 1 else max(4, int(round(math.sqrt(n_bins))))
    edges = tuple(np.linspace(lo[a], hi[a], nb + 1) for a in range(data.dim))
    bw = 0.25 * min(data.stds) if bandwidth is None else bandwidth
    grids = Grids(jnp.asarray(grid, dtype), tuple(jnp.asarray(e, dtype) for e in edges),
                  jnp.asarray(data.bin_masses(edges), dtype), jnp.asarray(bw, dtype))
    pd_grid = np.asarray(data.density(jnp.asarray(grid, jnp.float32), smooth=bw), np.float64)
    return grids, grid, pd_grid


def _host_logs(logs: dict, status, fstep, step_axis, top: int) -> dict:
    """The device logs as float64 numpy, NaN at and after a seed's divergence, with the Ritz values
    and rotation index computed from the Hessenberg matrices and NaN kernel logs when not measured."""
    logs = {k: np.asarray(v) for k, v in logs.items()}
    n_seeds, n_chk = len(status), len(step_axis)
    # Rows at or after the failing update are not measurements of a trained state: NaN.
    dead = (status == Fate.DIVERGED)[:, None] & (step_axis[None, :] >= fstep[:, None])
    for k, v in list(logs.items()):
        if k not in ("hess", "krylov_k") and np.issubdtype(v.dtype, np.floating):
            v = v.astype(np.float64)
            v[np.broadcast_to(dead.reshape(dead.shape + (1,) * (v.ndim - 2)), v.shape)] = np.nan
            logs[k] = v
    eigs = np.full((n_seeds, n_chk, top if "hess" in logs else 0), np.nan + 1j * np.nan, np.complex128)
    if "hess" in logs:
        hess, kk = logs.pop("hess"), logs.pop("krylov_k")
        for s, c in zip(*np.nonzero(~dead)):
            eigs[s, c] = ritz_values(hess[s, c], kk[s, c], top)
    logs["eigs"], logs["rotation"] = eigs, rotation_index(eigs)
    for k in _KERNEL_LOGS:
        logs.setdefault(k, np.full(dead.shape, np.nan))
    return logs


def train(gan: GAN, seeds=8, *, steps: int = 2000, measure_every: int = 50, n_eval: int = 1024,
          n_grid: int = 64, n_bins: int = 48, bandwidth: float | None = None, krylov: int = 12,
          top: int | None = None, kernel_probe: bool = True, n_proj: int = 16, tol: float | None = None,
          tail: float = 0.25, fast_compile: bool | None = None) -> TrainResult:
    """Train `gan` from many seeds at once and measure its dynamics along the way.

    One compiled program: `vmap` over seeds of a `lax.scan` over checkpoints, each an inner
    `fori_loop` of `measure_every` updates followed by the measurements (see `TrainResult`).
    Reproducible bit for bit for the same seeds, sizes and machine; a seed's run does not depend
    on the other seeds. The program is compiled once per GAN structure and sizes: a GAN whose
    `Optimizer`s differ only in their numbers (e.g. the learning rate) reuses it.

    **Arguments:**

    - `gan`: a `GAN`.
    - `seeds`: a count (seeds `0..n-1`) or a list of ints; seed `s` uses the key
      `jax.random.key(s, impl="rbg")` (XLA's RngBitGenerator), split into the keys of the initial
      parameters, of the updates and of the measurements.
    - `steps`: updates (a multiple of `measure_every`); `measure_every`: updates per checkpoint.
    - `n_eval`: generator and data samples per measurement (fixed per seed across checkpoints).
    - `n_grid`: points of the x grid for D and pg (in 2-D, the nearest square); `n_bins`: histogram
      cells for the KL (per axis in 1-D; the nearest square in 2-D); `bandwidth`: KDE bandwidth
      (default a quarter of the smallest data component's σ).
    - `krylov`: Arnoldi steps for the game-Jacobian eigenvalues at each checkpoint (0 turns it
      off); `top`: how many leading Ritz values (by modulus) to keep (default all `krylov`).
    - `kernel_probe`: measure the kernel-induced prediction of the next step.
    - `n_proj`: projections of the sliced Wasserstein distance (2-D).
    - `tol`: the distance below which a run counts as converged (default: 0.1 × the data's std).
    - `tail`: the fraction of final checkpoints on which fates are decided (see `classify`).
    - `fast_compile`: compile with XLA's backend optimisation off (half the compile time, about three
      times the run time); default: on for short runs (`len(seeds) · steps ≤ 20000`).

    **Returns:** a `TrainResult`, with the fates of `classify`.

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument, before anything is compiled.
    """
    check_instance("train", "gan", gan, GAN, "a jaxgan.neural.GAN")
    seeds_arr = _check_seeds(seeds)
    cfg, top, tol, tail = _run_config(gan, steps, measure_every, n_eval, krylov, top, kernel_probe, n_proj, tol,
                                      tail)
    n_grid = check_int("train", "n_grid", n_grid, 2)
    n_bins = check_int("train", "n_bins", n_bins, 2)
    bandwidth = None if bandwidth is None else check_float("train", "bandwidth", bandwidth)
    grids, grid, pd_grid = _grids(gan, n_grid, n_bins, bandwidth)
    if fast_compile is None:
        fast_compile = len(seeds_arr) * cfg.steps <= 20000
    args = _seed_parts(gan, seed_keys(seeds_arr))
    t0 = time.perf_counter()
    program = _compiled(gan, cfg, grids, args, check_bool("train", "fast_compile", fast_compile))
    t1 = time.perf_counter()
    logs, status, fstep, th0, th_end, final = program(grids, *args)
    jax.block_until_ready(logs)
    t2 = time.perf_counter()
    status, fstep = np.asarray(status).astype(np.int64), np.asarray(fstep).astype(np.int64)
    step_axis = np.arange(cfg.steps // cfg.measure_every + 1) * cfg.measure_every
    logs = _host_logs(logs, status, fstep, step_axis, top)
    fate = fates_of(status, logs["w1"], logs["d_grid"], logs["pg_grid"], pd_grid, gan.game, tol=tol, tail=tail,
                    r_min=0.5)
    return TrainResult(gan=gan, seeds=seeds_arr, steps=step_axis, grid=grid, pd_grid=pd_grid, **logs, fate=fate,
                       fate_step=fstep, theta0=np.asarray(th0), theta_end=np.asarray(th_end), final=final, tol=tol,
                       cfg=cfg, compile_s=t1 - t0, run_s=t2 - t1)


def _run_config(gan: GAN, steps, measure_every, n_eval, krylov, top, kernel_probe, n_proj, tol, tail):
    """`train`'s checked sizes as a `RunConfig`, and its `top`, `tol` and `tail`."""
    who = "train"
    steps = check_int(who, "steps", steps)
    measure_every = check_int(who, "measure_every", measure_every)
    if steps % measure_every:
        raise bad_value(who, "steps", f"a multiple of `measure_every` ({measure_every})", steps)
    n_eval = check_int(who, "n_eval", n_eval, max(2, gan.batch_size))
    krylov = check_int(who, "krylov", krylov, 0)
    top = max(krylov, 1) if top is None else check_int(who, "top", top)
    cfg = RunConfig(steps, measure_every, n_eval, krylov, check_int(who, "n_proj", n_proj),
                    check_bool(who, "kernel_probe", kernel_probe))
    tol = 0.1 * gan.data.std() if tol is None else check_float(who, "tol", tol)
    return cfg, top, tol, check_tail(who, tail)
