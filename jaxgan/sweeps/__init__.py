"""Sweeps: whole grids of starts and of parameters, with a fate for every start.

`basins(field, d_range, pg_range, ...)` runs a grid of starts of one field (a basin map);
`sweep(field, grid, ...)` runs a set of starts at every point of a grid of *parameters*
(`lr`, a field parameter such as `pd`, an optimiser's hyper-parameters) for phase diagrams.
Both return a result with a `Fate` per start, the step at which it was decided, the state
then, labelled axes and the settings, and both save to / load from `.npz` + JSON.

## How a start is classified (streaming: no trajectory is ever stored)

Every start carries a few numbers through the loop (a `jaxgan.fates.Tracker`), and a fate is
decided at most once, by jaxgan's one fate rule (`jaxgan.fates`, with `spiral_diverges=False`
and `r_min=0`):

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
  (> 1 + cycle_rtol) is never CYCLING; a spiral slower than `cycle_rtol` per turn is. An
  outward spiral stays UNDECIDED until it passes `bound` or leaves the domain.
- `UNDECIDED`: none of the above within `steps`.

CONVERGED, CYCLING and the unbounded test are checked every `check_every` steps and after
the last step (the decision step is then a multiple of `check_every`, or `steps`); the
winding count is exact while the orbit turns by less than half a turn between two checks.
By default `check_every` is the largest power of two up to 128 for which the linearised
orbit turns by at most π/4 between two checks (from the eigenvalues of one update at the
rest point). It is a traced value like `lr`: runs with different intervals share one
compiled kernel. The final state of a decided start is its state at the decision.

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
- **Resume.** Given `out=FOLDER`, each finished chunk is written atomically (a temporary file,
  then a rename) as `FOLDER/chunk_NNNNNN.npz`, with a SHA-256 checksum of its arrays, next to a
  `manifest.json` that identifies the sweep. Run again with the same arguments, finished
  chunks are read back (their checksums verified) instead of recomputed: a killed sweep,
  rerun, gives a result identical to an uninterrupted one. A folder of another sweep, or a
  corrupt chunk, is refused (`jaxgan.errors.StoreError`) before anything is computed or
  overwritten.
- **What a folder holds.** The identity of a sweep is everything that changes its numbers,
  not names: the grid (or starts), `steps`, the dtype, the chunking, the fate rule's settings
  and `check_every`, the values of the field's leaves (`pd`, weights, ...), `lr` or an
  `Optimizer`'s hyper-parameters, and a fingerprint of the computation: the SHA-256 of the
  lowered program text (StableHLO, for the CPU, without source locations) of one guarded
  update of the rule on the field at abstract shapes. The fingerprint tells apart what has
  one name: two plain optax transformations (`optax.sgd(0.1)` and `optax.sgd(0.2)`), two
  games called alike, a custom velocity and the constants it closes over, an adaptive
  solver's tolerances. It is the same in every process and on every host running the same
  jaxgan and JAX (another JAX version may lower differently: the folder is then refused, and
  the message names both versions). Resuming with anything different is refused with what
  differs, e.g. `method.lr: 0.001 vs 0.002` or "the computation of one update differs".

## Several hosts

Chunks are independent, so processes split them with `part=(index, count)` (integers): each
process runs the chunks `i` with `i % count == index` into one shared folder, then any process
assembles the result (every chunk present: nothing is recomputed):

```python
import jax, jaxgan
from jax.experimental import multihost_utils
jax.distributed.initialize()          # coordinator address etc. from the environment / arguments
field = jaxgan.pointwise_field("minimax", 0.2)
kw = dict(steps=10_000, lr=1e-3, out="/shared/minimax_basins")
jaxgan.basins(field, (0.01, 0.99, 4096), (0.01, 2.0, 4096),
              part=(jax.process_index(), jax.process_count()), **kw)   # None until all parts are in
multihost_utils.sync_global_devices("every part is in")               # a barrier
if jax.process_index() == 0:
    result = jaxgan.basins(field, (0.01, 0.99, 4096), (0.01, 2.0, 4096), **kw)
```

(tested with `jax.distributed.initialize("127.0.0.1:PORT", num_processes=2, process_id=i)`
on one machine's CPU). Within a process each chunk is split over that process's local devices.
The part that completes the folder returns the whole result, chunks of the other processes
included.

Several processes may write one folder at the same time, on one host or several sharing a
file system: the manifest is created exclusively (the first process writes it; every other
checks its own identity against it), and each process writes its own temporary files,
`.<file>.<host>.<pid>.<random>.tmp`, then renames them into place. Setting up a folder removes
only stale temporaries, left by killed writers: those of a process of this host that no longer
runs, and any older than six hours (`store.STALE_AFTER_S`; a chunk is written in seconds). A
temporary of a live process is never removed.

## Limits

Checked before anything compiles: `steps` at most 2³¹ - 1 (steps are int32 on the device);
`plane` and `part` entries integers (a float is refused, never truncated); the results
(about `9 + n·itemsize` bytes per start, on the host) and one chunk (on each device) must fit
in memory, else the message gives the estimate and the way out (a smaller grid or `chunk`);
swept values are representable in the working float and obey their parameter's rule (a
swept `pd` is positive, a regulariser's weight non-negative, a pointwise field's `d0` is
derived from the game and cannot be swept).

## Modules

`api` (`basins`, `sweep`: their checks and jobs), `limits` (memory and swept parameters'
rules), `engine` (the compiled chunk kernel, its fast path and exact replay), `runner` (chunks
over devices), `identity` (the fingerprint of a sweep's computation), `store` (the chunk folder
and the result files), `results` (`BasinsResult`, `SweepResult`, `load`).
"""

from .api import basins, sweep
from .engine import trace_count
from .results import BasinsResult, SweepResult, load

__all__ = ["BasinsResult", "SweepResult", "basins", "sweep", "load", "trace_count"]
