"""`train`: many seeds of one GAN in one compiled program, measured along the way.

One compiled program: `vmap` over seeds of a `lax.scan` over checkpoints, each an inner
`fori_loop` of `measure_every` updates followed by the measurements (`measurements.measure`).
The program is cached per GAN *structure* (`spec.program_key`): a GAN that differs only in its
`Optimizer`s' numbers (a new learning rate) reuses it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._checks import bad_type, bad_value, bytes_text, check_bool, check_float, check_instance, check_int, check_memory
from ..fates import Fate
from ..stability.krylov import ritz_values
from .data import default_float
from .metrics import cosine, sliced_wasserstein
from .compiled import ProgramCache
from .measurements import EvalInputs, Grids, RunConfig, eval_inputs, g_eval, hessian_extremes, measure, rotation_index
from .data import GaussianMixture
from .objectives import d_call
from .players import NetPlayer
from .result import TrainResult
from .spec import GAN, ProgramKey, program_key
from .step import TrainState, init_state, seed_keys, split_seed_key, train_step
from .verdicts import check_tail, fates_of

__all__ = ["train"]

_KERNEL_LOGS = ("kernel_cos", "kernel_gain", "kernel_cos_g", "kernel_gain_g")
_KRYLOV_LOGS = ("hess", "krylov_k", "hd", "hd_k", "hg", "hg_k")




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
    actual = gan.d_output(d_call(gan, first[0], first[1], grids.grid, train=False, key=None)[0]) - d_prev
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
        # A state whose objectives are not finite on the measurement batch (a network that overflows at
        # finite parameters) diverged at the update that made it (0: the initial state): mark and freeze
        # the seed here, or this checkpoint's row would hold NaN for a seed still running.
        bad = (run[1] == jnp.int32(Fate.UNDECIDED)) & ~(jnp.isfinite(m["J"]) & jnp.isfinite(m["I"]))
        run = (run[0], jnp.where(bad, jnp.int32(Fate.DIVERGED), run[1]), jnp.where(bad, c * cfg.measure_every, run[2]))
        m["step_cos"] = jnp.where(c > 0, cosine(v_prev, t - t_prev), jnp.nan)
        if cfg.keep_params:
            m["theta"] = t
        if cfg.kernel_probe:
            m.update(_kernel_logs(gan, grids, ev, pred_prev, d_prev, first, c > 0))
        else:
            pred = pred_prev
        return (run, v, t, d_grid, pred), m

    n_grid = grids.grid.shape[0]
    zero_g = jnp.zeros((n_grid,), t0.dtype)
    zero_probe = jnp.zeros((min(n_grid, ev.z.shape[0]), *gan.data.sample_shape), t0.dtype)
    pred0 = (zero_g, zero_probe, zero_probe) if cfg.kernel_probe else zero_g
    init = ((st0, jnp.int32(Fate.UNDECIDED), jnp.int32(-1)), jnp.zeros_like(t0), t0, zero_g, pred0)
    n_chk = cfg.steps // cfg.measure_every
    ((st, status, fstep), _, t_end, _, _), logs = jax.lax.scan(checkpoint, init,
                                                               jnp.arange(n_chk + 1, dtype=jnp.int32))
    return logs, status, fstep, t0, t_end, st


@functools.partial(jax.jit, static_argnames=("program", "cfg"))
def _train_jit(program: ProgramKey, cfg: RunConfig, grids: Grids, k_train, k_eval, st0: TrainState):
    # `grids` come with a seed axis (copies): XLA's CPU dot of a batched by an unbatched operand takes
    # another path for another number of seeds (the last bit of D on the grid changed with it).
    return jax.vmap(lambda g, kt, ke, s0: _run_seed(program.gan, cfg, g, kt, ke, s0))(grids, k_train, k_eval, st0)


_PROGRAMS = ProgramCache(_train_jit)


def compiled_programs() -> int:
    """How many training programs have been compiled in this process (and are cached)."""
    return len(_PROGRAMS)


def _seed_parts(gan: GAN, keys):
    """Per seed, stacked: the training key, the measurement key and the initial state (the networks
    are initialised on the host from each seed's `k_init`)."""
    parts = jax.vmap(split_seed_key)(keys)
    states = [init_state(gan, k) for k in parts[:, 0]]
    # Stacked on the host and moved over once: no small program compiled per leaf (cold start).
    stacked = jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *states)
    return parts[:, 1], parts[:, 2], jax.device_put(stacked)


def _at_least_two(seeds: np.ndarray) -> np.ndarray:
    """The seeds to run: a single seed twice. XLA compiles a seed axis of length one as no axis at all
    (it drops the unit dimension), and its dots then sum in another order: the last bits of a float32
    run changed. Run beside a copy of itself, a lone seed gives what it gives beside other seeds (where
    the batch's size does not change XLA's order of sums either: see `train`)."""
    return np.repeat(seeds, 2) if seeds.size == 1 else seeds


def _spread(args, n_seeds: int):
    """The per-seed arguments split along the seed axis over this process's devices when there
    are several and each gets at least two seeds (see `_at_least_two`); as they are otherwise (one
    device). Seeds never interact and the keys are threefry's, so a seed's run does not change with
    the split."""
    devices = jax.local_devices()
    if len(devices) < 2 or n_seeds % len(devices) or n_seeds < 2 * len(devices):
        return args
    mesh = jax.sharding.Mesh(np.asarray(devices), ("seeds",))
    return jax.device_put(args, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds")))


# ============================================================================ host side


_SEED_LIMIT = 2**32  # seeds are uint32: `jax.random.key(s)` for s in [0, 2³²)


def _check_seeds(seeds) -> np.ndarray | int:
    """A count as an int (not yet materialised: a count in the billions is refused by the memory
    check first), or a list of seeds as a 1-D int64 array of values in `[0, 2³²)`."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return check_int("train", "seeds", seeds, 1, _SEED_LIMIT)
    try:
        arr = np.asarray(seeds)
    except (TypeError, ValueError):
        arr = np.asarray([], dtype=object)
    if arr.ndim != 1 or arr.size < 1 or not np.issubdtype(arr.dtype, np.integer):
        raise bad_type("train", "seeds", "a positive int (a count) or a 1-D list of ints", seeds)
    bad = arr[(arr < 0) | (arr >= _SEED_LIMIT)]
    if bad.size:  # a seed outside uint32 would silently wrap onto another seed's key
        raise bad_value("train", "seeds", "ints in [0, 2**32) (seed s has the key jax.random.key(s))", int(bad[0]))
    return arr.astype(np.int64)


def _player_sizes(player) -> tuple[int, int, int, int]:
    """`(trainable, running statistics, widest layer, layers)` of a player, nothing built: exact for
    jaxgan MLPs; for other networks the counts from their parameter shapes and, as a lower estimate,
    the input and output sizes as the widest layer and one layer."""
    if isinstance(player, NetPlayer):
        p, stats = player.n_params()
        return p, stats, max(player.d_in, player.d_out, *player.net.hidden), len(player.net.hidden) + 1
    count = lambda struct: sum(int(np.prod(shape)) for shape, _ in struct[1])  # noqa: E731
    width = max(int(np.prod(player.in_shape)), int(np.prod(player.out_shape or (1,))))
    return count(player.theta_def), count(player.stats_def), width, 1


def _check_memory(gan: GAN, cfg: RunConfig, n_seeds: int, n_grid: int, top: int) -> None:
    """Refuse, before anything is allocated or compiled, a run whose arrays cannot fit in memory.

    A lower estimate (so that no run that fits is refused): per seed, the training state (Adam:
    two moments) and the flat copies the measurements keep, the Arnoldi basis, the activations
    of the widest layer over the update, measurement and grid batches, the checkpoint logs on the
    device and their float64 / complex128 copies on the host."""
    b = np.dtype(default_float()).itemsize
    dim = gan.data.dim
    (pd, sd, wd, ld), (pg, sg, wg, lg) = _player_sizes(gan.d_player), _player_sizes(gan.g_player)
    p, stats = pd + pg, sd + sg
    width, depth = max(wd, wg), ld + lg
    rows = cfg.n_eval + 2 * gan.batch_size + 2 * n_grid
    n_chk = cfg.steps // cfg.measure_every + 1
    row_log = 3 * n_grid + 2 * dim + 16
    device = b * ((8 + cfg.krylov) * p + 2 * stats + 2 * rows * width * depth + n_chk * (row_log + cfg.krylov ** 2))
    host = n_chk * (8 * (row_log + cfg.krylov ** 2) + 16 * top) + 16 * p
    what = (f"training {n_seeds} seeds ({bytes_text(device + host)} each: {p} parameters, {n_chk} checkpoints "
            f"of {n_grid} grid points, batches of {cfg.n_eval} samples)")
    check_memory("train", what, float(n_seeds) * (device + host),
                 "train fewer seeds per call (and concatenate the results), or smaller networks, "
                 "`n_eval`, `n_grid` or fewer checkpoints (a larger `measure_every`)")


def _probes(gan: GAN, n_grid: int):
    """`Grids` of `Samples` data, the probes `(G, *sample_shape)` and pd there `(G,)`: `G` fixed data
    samples (a fixed permutation, seed 0); for the digits stratified by class (round robin), with the
    digit classifier and pd the data's share of each probe's class; NaN for other samples."""
    data, dtype = gan.data, default_float()
    order = np.random.default_rng(0).permutation(data.n)
    if data.labels is not None:  # round robin over the classes, in the permutation's order
        by_class = [order[data.labels[order] == c] for c in np.unique(data.labels)]
        order = np.asarray([idx for group in zip(*by_class) for idx in group] + list(order))
    pick = order[:n_grid] if n_grid <= data.n else order[np.arange(n_grid) % data.n]
    grid = data.array[pick]
    if not data.name.startswith("digits"):
        return Grids(jnp.asarray(grid, dtype), None, None, None), grid, np.full(n_grid, np.nan)
    from . import quality

    classifier = quality.digit_classifier()
    ref_mean, ref_cov = quality.reference_stats(classifier)
    probe_class = data.labels[pick]
    share = np.bincount(data.labels, minlength=10) / data.n
    scorer = (classifier, jnp.asarray(ref_mean, dtype), jnp.asarray(ref_cov, dtype))
    grids = Grids(jnp.asarray(grid, dtype), None, None, None, jnp.asarray(probe_class, jnp.int32), scorer)
    return grids, grid, share[probe_class].astype(np.float64)


def _grids(gan: GAN, n_grid: int, n_bins: int, bandwidth: float | None):
    """The measurement grids (`Grids`), the x grid `(G, d)` and the smoothed data density on it `(G,)`
    (for `Samples`, see `_probes`)."""
    data = gan.data
    if not isinstance(data, GaussianMixture):
        return _probes(gan, n_grid)
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
    bw = _default_bandwidth(data, grid) if bandwidth is None else bandwidth
    grids = Grids(jnp.asarray(grid, dtype), tuple(jnp.asarray(e, dtype) for e in edges),
                  jnp.asarray(data.bin_masses(edges), dtype), jnp.asarray(bw, dtype))
    pd_grid = np.asarray(data.density(jnp.asarray(grid, jnp.float32), smooth=bw), np.float64)
    return grids, grid, pd_grid


def _default_bandwidth(data: GaussianMixture, grid: np.ndarray) -> float:
    """A quarter of the narrowest component's σ — or, for modes much narrower than the grid's spacing
    (the ring of 8 and grid of 25: σ = 0.02, 0.05), half the spacing, so that the smoothed densities
    on the grid see every mode (else pd on the grid is ~1e-27 and the pointwise view is empty)."""
    spacing = max(float(np.ptp(grid[:, a])) / max(1, len(np.unique(grid[:, a])) - 1) for a in range(data.dim))
    narrow = 0.25 * min(data.stds)
    return 0.5 * spacing if narrow < 0.1 * spacing else narrow


def _host_logs(logs: dict, status, fstep, step_axis, top: int) -> dict:
    """The device logs as float64 numpy, NaN at and after a seed's divergence, with the Ritz values
    and rotation index computed from the Hessenberg matrices and NaN kernel logs when not measured."""
    logs = {k: np.asarray(v) for k, v in logs.items()}
    n_seeds, n_chk = len(status), len(step_axis)
    # Rows at or after the failing update are not measurements of a trained state: NaN.
    dead = (status == Fate.DIVERGED)[:, None] & (step_axis[None, :] >= fstep[:, None])
    for k, v in list(logs.items()):
        if k not in _KRYLOV_LOGS + ("theta",) and np.issubdtype(v.dtype, np.floating):
            v = v.astype(np.float64)
            v[np.broadcast_to(dead.reshape(dead.shape + (1,) * (v.ndim - 2)), v.shape)] = np.nan
            logs[k] = v
    eigs = np.full((n_seeds, n_chk, top if "hess" in logs else 0), np.nan + 1j * np.nan, np.complex128)
    if "hess" in logs:
        hess, kk = logs.pop("hess"), logs.pop("krylov_k")
        for s, c in zip(*np.nonzero(~dead)):
            eigs[s, c] = ritz_values(hess[s, c], kk[s, c], top)
    logs["eigs"], logs["rotation"] = eigs, rotation_index(eigs)
    for player in ("d", "g"):
        lo, hi = np.full(dead.shape, np.nan), np.full(dead.shape, np.nan)
        if f"h{player}" in logs:
            hess, kk = logs.pop(f"h{player}"), logs.pop(f"h{player}_k")
            for s, c in zip(*np.nonzero(~dead)):
                lo[s, c], hi[s, c] = hessian_extremes(hess[s, c], kk[s, c])
        logs[f"hess_{player}_min"], logs[f"hess_{player}_max"] = lo, hi
    for k in _KERNEL_LOGS:
        logs.setdefault(k, np.full(dead.shape, np.nan))
    return logs


def train(gan: GAN, seeds=8, *, steps: int = 2000, measure_every: int = 50, n_eval: int = 1024,
          n_grid: int = 64, n_bins: int = 48, bandwidth: float | None = None, krylov: int = 12,
          top: int | None = None, kernel_probe: bool = True, n_proj: int = 16, tol: float | None = None,
          tail: float = 0.25, fast_compile: bool | None = None, keep_params: bool = False,
          hessians: bool = True) -> TrainResult:
    """Train `gan` from many seeds at once and measure its dynamics along the way.

    One compiled program: `vmap` over seeds of a `lax.scan` over checkpoints, each an inner
    `fori_loop` of `measure_every` updates followed by the measurements (see `TrainResult`).
    With several local devices whose number divides the number of seeds (two or more each), the
    seeds are split over them (otherwise the run is on the default device). Reproducible bit for
    bit for the same seeds, sizes and machine. A seed's run does not depend on the other seeds in
    the call: its keys, draws and arithmetic are its own, and for the networks of the tests it is the
    same bit for bit alone or beside others, on one device or two. But XLA:CPU orders some sums over
    a batch by the batch's whole shape, seeds included (seen with the BatchNorm and dropout networks
    of `batchnorm_experiment` on an AVX2 machine): then another number of seeds changes the last bits,
    which training amplifies. To reproduce a seed's run exactly, run the same seeds. The program is
    compiled once per GAN structure and sizes: a GAN whose `Optimizer`s differ only in their numbers
    (e.g. the learning rate) reuses it.

    **Arguments:**

    - `gan`: a `GAN`.
    - `seeds`: a count (seeds `0..n-1`) or a list of ints in `[0, 2³²)`. Seed `s` has the key
      `jax.random.key(s)` (JAX's default threefry2x32 generator), split by
      `jax.random.split(key, 3)` into the keys of the initial parameters, of the updates (update
      `i` draws from `fold_in(k_train, i)`) and of the measurements. Threefry's bits are a pure
      function of the key, identical alone, under `vmap` and sharded (a lone seed runs beside a copy
      of itself: XLA compiles a batch of one as no batch, which sums in another order).
    - `steps`: updates (a multiple of `measure_every`); `measure_every`: updates per checkpoint.
    - `n_eval`: generator and data samples per measurement (fixed per seed across checkpoints).
    - `n_grid`: points of the x grid for D and pg (in 2-D, the nearest square); `n_bins`: histogram
      cells for the KL (per axis in 1-D; the nearest square in 2-D); `bandwidth`: KDE bandwidth
      (default a quarter of the narrowest data component's σ, or half the grid spacing for modes
      much narrower than it).
    - `krylov`: Arnoldi steps for the game-Jacobian eigenvalues at each checkpoint (0 turns it
      off); `top`: how many leading Ritz values (by modulus) to keep (default all `krylov`).
    - `hessians`: also measure the extreme eigenvalues of each player's own loss Hessian (`krylov`
      Lanczos steps each; `TrainResult.hess_d_min` … and `is_local_nash`). `False` leaves them NaN
      and makes the program smaller: about a quarter less compile time when nothing reads them.
    - `kernel_probe`: measure the kernel-induced prediction of the next step.
    - `n_proj`: projections of the sliced Wasserstein distance (2-D).
    - `tol`: the distance below which a run counts as converged (default: 0.1 × the data's std).
    - `tail`: the fraction of final checkpoints on which fates are decided (see `classify`).
    - `keep_params`: keep the flat parameters `(θ_D, θ_G)` of every checkpoint (`TrainResult.theta`,
      for the path-angle between any two checkpoints).
    - `fast_compile`: `True`: compile with XLA's backend optimisation off (half the compile time,
      about three times the run time); `"quick"`: and, on CPU, with XLA's elemental emitters (half
      again of the compile time; the last bits of a run change, and a seed's run split over two
      devices may then differ from it on one, which `True` keeps); `False`: XLA's defaults; default:
      `True` for short runs (`len(seeds) · steps ≤ 20000`). The experiments use `"quick"` for theirs.

    **Returns:** a `TrainResult`, with the fates of `classify`.

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument, before anything is compiled;
    `ArgumentError` with the estimate when the run's arrays cannot fit in memory (too many seeds,
    networks too wide, too many checkpoints), before anything is allocated.
    """
    return finish_train(plan_train(gan, seeds, steps=steps, measure_every=measure_every, n_eval=n_eval,
                                   n_grid=n_grid, n_bins=n_bins, bandwidth=bandwidth, krylov=krylov, top=top,
                                   kernel_probe=kernel_probe, n_proj=n_proj, tol=tol, tail=tail,
                                   fast_compile=fast_compile, keep_params=keep_params, hessians=hessians))


@dataclasses.dataclass(frozen=True, eq=False)
class PlannedRun:
    """A `train` run checked, its inputs built and its program lowered, not yet compiled (`plan_train`);
    `finish_train` compiles and runs it. The experiments lower their runs one after another in one
    thread (lowering holds the GIL) while the runs already lowered compile and run in others."""

    gan: GAN
    cfg: RunConfig
    seeds: np.ndarray  # (S,) the seeds asked for
    n_run: int  # the seeds run (`_at_least_two`)
    inputs: tuple  # (grids, seed keys..., initial states) as the program takes them
    grid: np.ndarray
    pd_grid: np.ndarray
    top: int
    tol: float
    tail: float
    compile: Any  # () -> the compiled program
    lower_s: float


def plan_train(gan: GAN, seeds=8, **kw) -> PlannedRun:
    """`train`'s first half, with `train`'s arguments: every check, the grids and initial states, and
    the lowered program."""
    unknown = sorted(set(kw) - set(_TRAIN_DEFAULTS))
    if unknown:
        raise TypeError(f"train() got an unexpected keyword argument {unknown[0]!r}")
    opts = _TRAIN_DEFAULTS | kw
    check_instance("train", "gan", gan, GAN, "a jaxgan.neural.GAN")
    seeds_arr = _check_seeds(seeds)
    fast_compile = None if opts["fast_compile"] is None else _check_fast_compile(opts["fast_compile"])
    cfg, top, tol, tail = _run_config(gan, *(opts[k] for k in ("steps", "measure_every", "n_eval", "krylov", "top",
                                                                "kernel_probe", "n_proj", "tol", "tail", "keep_params",
                                                                "hessians")))
    n_grid = check_int("train", "n_grid", opts["n_grid"], 2)
    n_bins = check_int("train", "n_bins", opts["n_bins"], 2)
    bandwidth = None if opts["bandwidth"] is None else check_float("train", "bandwidth", opts["bandwidth"])
    _check_memory(gan, cfg, seeds_arr if isinstance(seeds_arr, int) else seeds_arr.size, n_grid, top)
    if isinstance(seeds_arr, int):
        seeds_arr = np.arange(seeds_arr, dtype=np.int64)
    grids, grid, pd_grid = _grids(gan, n_grid, n_bins, bandwidth)
    if fast_compile is None:
        fast_compile = short_run(len(seeds_arr), cfg.steps)
    run_seeds = _at_least_two(seeds_arr)
    per_seed = jax.tree_util.tree_map(lambda a: np.broadcast_to(np.asarray(a), (run_seeds.size, *np.shape(a))), grids)
    inputs = _spread((per_seed, *_seed_parts(gan, seed_keys(run_seeds))), run_seeds.size)
    t0 = time.perf_counter()
    compile_program = _PROGRAMS.lower((program_key(gan), cfg), inputs, fast=fast_compile)
    return PlannedRun(gan, cfg, seeds_arr, run_seeds.size, tuple(inputs), grid, pd_grid, top, tol, tail,
                      compile_program, time.perf_counter() - t0)


def finish_train(plan: PlannedRun) -> TrainResult:
    """`train`'s second half: compile the planned run's program, run it and read its results."""
    gan, cfg, seeds_arr = plan.gan, plan.cfg, plan.seeds
    t0 = time.perf_counter()
    program = plan.compile()
    t1 = time.perf_counter()
    out = program(*plan.inputs)
    jax.block_until_ready(out)
    t2 = time.perf_counter()
    if plan.n_run > seeds_arr.size:  # drop the copy
        out = jax.tree_util.tree_map(lambda a: a[:seeds_arr.size], out)
    logs, status, fstep, th0, th_end, final = out
    status, fstep = np.asarray(status).astype(np.int64), np.asarray(fstep).astype(np.int64)
    step_axis = np.arange(cfg.steps // cfg.measure_every + 1) * cfg.measure_every
    logs = _host_logs(logs, status, fstep, step_axis, plan.top)
    theta = logs.pop("theta", None)
    fate = fates_of(status, logs["w1"], logs["d_grid"], logs["pg_grid"], plan.pd_grid, gan.game, tol=plan.tol,
                    tail=plan.tail, r_min=0.5)
    return TrainResult(gan=gan, seeds=seeds_arr, steps=step_axis, grid=plan.grid, pd_grid=plan.pd_grid, **logs,
                       fate=fate, fate_step=fstep, theta0=np.asarray(th0), theta_end=np.asarray(th_end), final=final,
                       tol=plan.tol, cfg=cfg, theta=theta, compile_s=plan.lower_s + t1 - t0, run_s=t2 - t1)


# `train`'s keywords and their defaults, for `plan_train`.
_TRAIN_DEFAULTS = {name: p.default for name, p in inspect.signature(train).parameters.items()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY}


def short_run(n_seeds: int, steps: int) -> bool:
    """Whether a run is short enough that compiling is most of its cost (`train`'s default
    `fast_compile`): `n_seeds · steps ≤ 20000`."""
    return n_seeds * steps <= 20000


def _check_fast_compile(fast_compile) -> bool | str:
    if isinstance(fast_compile, str):
        if fast_compile != "quick":
            raise bad_value("train", "fast_compile", 'True, False or "quick"', fast_compile)
        return "quick"
    if not isinstance(fast_compile, (bool, np.bool_)):
        raise bad_type("train", "fast_compile", 'True, False or "quick"', fast_compile)
    return bool(fast_compile)


def _run_config(gan: GAN, steps, measure_every, n_eval, krylov, top, kernel_probe, n_proj, tol, tail,
                keep_params=False, hessians=True):
    """`train`'s checked sizes as a `RunConfig`, and its `top`, `tol` and `tail`."""
    who = "train"
    steps = check_int(who, "steps", steps, 1, 2**31 - 1)  # int32 step counters
    measure_every = check_int(who, "measure_every", measure_every)
    if steps % measure_every:
        raise bad_value(who, "steps", f"a multiple of `measure_every` ({measure_every})", steps)
    n_eval = check_int(who, "n_eval", n_eval, max(2, gan.batch_size))
    krylov = check_int(who, "krylov", krylov, 0)
    top = max(krylov, 1) if top is None else check_int(who, "top", top)
    cfg = RunConfig(steps, measure_every, n_eval, krylov, check_int(who, "n_proj", n_proj),
                    check_bool(who, "kernel_probe", kernel_probe), check_bool(who, "keep_params", keep_params),
                    check_bool(who, "hessians", hessians))
    tol = _default_tol(gan, cfg) if tol is None else check_float(who, "tol", tol)
    return cfg, top, tol, check_tail(who, tail)


def _default_tol(gan: GAN, cfg: RunConfig) -> float:
    """0.1 × the data's spread for a mixture; for `Samples` twice the distance (sliced W1, as measured)
    between two disjoint halves of the data: generated samples as close to the data as other data are."""
    if isinstance(gan.data, GaussianMixture):
        return 0.1 * gan.data.std()
    flat = gan.data.array.reshape(gan.data.n, -1)
    order = np.random.default_rng(0).permutation(gan.data.n)
    half = min(cfg.n_eval, gan.data.n // 2)
    a, b = flat[order[:half]], flat[order[half:2 * half]]
    return 2.0 * float(sliced_wasserstein(jnp.asarray(a), jnp.asarray(b), cfg.n_proj))
