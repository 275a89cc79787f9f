"""Running a sweep: jobs cut into chunks, chunks over devices, read back from or written to a store."""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
from concurrent.futures import Future
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_type, bad_value
from ..dynamics import UpdateRule
from ..errors import ArgumentError
from ..fields import Field
from ..progress import reporter
from .engine import _kernel
from .store import ChunkStore


@dataclasses.dataclass(frozen=True)
class Options:
    """The settings of a sweep that shape its run (checked; `check_every`/`chunk` resolved)."""

    steps: int
    tol: float
    bound: float
    cycle_rtol: float
    cycle_turns: int
    check_every: int | None
    plane: tuple[int, int]
    chunk: int | None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["plane"] = list(self.plane)
        return d


class Jobs:
    """A flat list of jobs (a start, and per-job values of swept parameters), made per chunk.

    `starts(idx)` gives the starts of the jobs `idx` (`(k, n)`); `field_values(idx)` the swept
    field parameters (`{name: (k,)}`) and `arg_values(idx)` the swept step arguments, or None
    when nothing of the kind is swept.
    """

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
            field, field_axis = batched_field(self.field, len(idx), self.field_values(idx)), 0
        if self.arg_values is None:
            arg, arg_axis = self.arg, None
        else:
            arg, arg_axis = self.arg_values(idx), 0
        return z0, field, field_axis, arg, arg_axis


def batched_field(field: Field, k: int, values: dict) -> Field:
    """`field` with every leaf broadcast to a leading axis of size k, then `values` ((k,) each) set."""
    fb = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(jnp.asarray(a), (k,) + jnp.shape(a)), field)
    return fb.replace(**values) if values else fb


def check_devices(fn: str, devices) -> list:
    """`devices` as a non-empty list of jax devices (None: all local devices)."""
    if devices is None:
        return list(jax.local_devices())
    try:
        devs = list(devices)
    except TypeError:
        raise bad_type(fn, "devices", "a non-empty list of jax devices", devices) from None
    if not devs or not all(isinstance(d, jax.Device) for d in devs):
        raise bad_value(fn, "devices", "a non-empty list of jax devices", devices)
    return devs


def check_part(fn: str, part, out) -> tuple[int, int] | None:
    """`part` as `(index, count)` of integers with `0 ≤ index < count`; it needs `out`.

    **Raises:** `ArgumentTypeError` unless `part` is a pair of integers (a float such as `1.0`
    or `0.5` and a bool are refused, not truncated); `ArgumentError` for a pair out of range.
    """
    if part is None:
        return None
    try:
        pair = tuple(part)
    except TypeError:
        raise bad_type(fn, "part", "a pair (index, count) of integers", part) from None
    if len(pair) != 2 or not all(isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))
                                 for p in pair):
        raise bad_type(fn, "part", "a pair (index, count) of integers", part)
    index, count = (int(p) for p in pair)
    if not (count >= 1 and 0 <= index < count):
        raise bad_value(fn, "part", "(index, count) with 0 <= index < count", part)
    if out is None:
        raise ArgumentError(f"{fn} argument `part` needs `out`: the parts of a sweep meet in one shared folder.")
    return index, count


def _shard(tree, mesh, batched: bool):
    from jax.sharding import NamedSharding, PartitionSpec as P

    if mesh is None:
        return tree
    spec = NamedSharding(mesh, P("starts")) if batched else NamedSharding(mesh, P())
    return jax.device_put(tree, spec)


# The fewest starts in a part of a chunk cut for the host threads (one CPU device): a smaller
# program spends more of each step in its loop's own overhead than another core gives back.
_MIN_PART = 8192


def _host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _host_pool(devs: list) -> int:
    """How many host threads run a sweep's programs: on one CPU device, one per core; otherwise 0
    (no pool: the device's own queue runs them, and several devices split each chunk).

    XLA:CPU splits each operation of a large chunk over the cores itself, but a sweep's update is
    a few cheap operations per step, and its threads wait for each other at every one of them.
    Programs of their own, one per thread (parts of a chunk, or several chunks), never wait: on
    2 cores, 1.4 times the updates per processor-second (benchmarks/RESULTS.md, session 18).
    Every start is computed alone, so the results do not depend on the split (as with a chunk
    sharded over devices).
    """
    if len(devs) != 1 or devs[0].platform != "cpu":
        return 0
    cores = _host_cores()
    return cores if cores > 1 else 0


def _split(tree, k: int, batched: bool) -> list:
    """`tree` cut into `k` equal parts along axis 0 when `batched`, else `k` times itself."""
    if not batched or k == 1:
        return [tree] * k
    return [jax.tree_util.tree_map(lambda a, j=j: a[j * (a.shape[0] // k):(j + 1) * (a.shape[0] // k)], tree)
            for j in range(k)]


def _run_part(kernel, field, z0, arg, scalars):
    """One part of a chunk, run to the end in the calling thread: its results as NumPy arrays."""
    return tuple(np.asarray(r) for r in jax.block_until_ready(kernel(field, z0, arg, *scalars)))


class _HostThreads:
    """Runs calls on threads of their own, `n` at a time: `submit(fn, *args) -> Future`, `cancel()`.

    A part of a chunk, once started, cannot be stopped: XLA runs it to its end (minutes, for a
    long sweep). The caller waits on futures, which a signal interrupts, so Ctrl-C ends the sweep
    at once (a `ThreadPoolExecutor`'s shutdown would wait for the running parts): parts not yet
    started are cancelled, and a running one ends unwatched. Its thread is not a daemon: Python
    waits for it at exit rather than stop it inside XLA (which aborts the process); the `jaxgan`
    command does not wait (`jaxgan.cli.main`).
    """

    def __init__(self, n: int):
        self._gate = threading.BoundedSemaphore(n)
        self._futures: list[Future] = []

    def submit(self, fn, *args) -> Future:
        future = Future()

        def work():
            with self._gate:
                if not future.set_running_or_notify_cancel():
                    return  # cancelled while it waited for a thread
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the caller, who reads the future
                    future.set_exception(exc)

        self._futures = [f for f in self._futures if not f.done()] + [future]
        threading.Thread(target=work, name="jaxgan-sweep").start()
        return future

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()


def _programs(devs: list, n_jobs: int, chunk: int) -> tuple[int, int, int, int]:
    """How a run's chunks become programs: `(padded, n_parts, threads, depth)`.

    - `padded`: the starts of every chunk as the programs see it (one compile): a chunk, or for
      fewer jobs the next power of two (so that small sweeps of different sizes share kernels),
      rounded up to the devices, or to the parts;
    - `n_parts`: programs per chunk on the host threads, of `_MIN_PART` starts or more;
    - `threads`: the host threads (`_host_pool`; 0: none);
    - `depth`: chunks in flight: while the oldest is collected (read back, written to `out`), the
      next ones run, enough of them to give every host thread a program.
    """
    padded = min(chunk, 1 << max(n_jobs - 1, 0).bit_length())
    threads = _host_pool(devs)
    n_parts = max(1, min(threads, padded // _MIN_PART))
    unit = len(devs) * n_parts
    return -(-padded // unit) * unit, n_parts, threads, max(2, -(-threads // n_parts))


def run(fn: str, jobs: Jobs, opts: Options, key: dict, *, out=None, part=None, devices=None, progress=None):
    """Run every job (arguments already checked); returns the flat arrays `(fate, step, final,
    turns)`, or None when `part` left chunks to other processes.

    `progress` receives one event when the run starts (`done`: the chunks already in `out`),
    then one per finished chunk.
    """
    N, chunk = jobs.n, opts.chunk
    n_chunks = -(-N // chunk)
    devs = check_devices(fn, devices)
    padded, n_parts, threads, depth = _programs(devs, N, chunk)
    mesh = jax.sharding.Mesh(np.asarray(devs), ("starts",)) if len(devs) > 1 else None
    store = ChunkStore(out, key, n_chunks, chunk, N, jobs.field.dim, jobs.dtype) if out is not None else None

    arrays = (np.zeros(N, np.int8), np.full(N, -1, np.int32), np.zeros((N, jobs.field.dim), jobs.dtype),
              np.zeros(N, np.int32))
    done = set()
    if store is not None:
        for i, chunk_arrays in store.existing():
            _put(arrays, slice(i * chunk, min((i + 1) * chunk, N)), chunk_arrays)
            done.add(i)
    mine = [i for i in range(n_chunks) if part is None or i % part[1] == part[0]]
    todo = [i for i in mine if i not in done]
    count = len(mine) - len(todo)

    scalars = (jnp.int32(opts.steps), jnp.asarray(opts.tol, jobs.dtype), jnp.asarray(opts.bound, jobs.dtype),
               jnp.asarray(opts.cycle_rtol, jobs.dtype), jnp.int32(opts.cycle_turns), jnp.int32(opts.check_every))
    if len(todo) * n_parts < 2:
        threads = 0  # one program in all: nothing would run beside it (and a small sweep stays quick)
    pool = _HostThreads(threads) if threads else None
    compiled = []  # the pool's program: one shape of part for the whole run

    def launch(i):
        lo, hi = i * chunk, min((i + 1) * chunk, N)
        idx = np.arange(lo, hi)
        idx = np.concatenate([idx, np.full(padded - len(idx), hi - 1)]) if len(idx) < padded else idx
        z0, field, fa, arg, aa = jobs.inputs(idx)
        kernel = _kernel(jobs.rule, opts.plane, fa, aa, mesh)
        if pool is None:
            z0 = _shard(jnp.asarray(z0), mesh, True)
            field = _shard(field, mesh, fa == 0)
            arg = _shard(arg, mesh, aa == 0)
            return i, hi - lo, [kernel(field, z0, arg, *scalars)]
        parts = [jax.tree_util.tree_map(jnp.asarray, part) for part in
                 zip(_split(field, n_parts, fa == 0), _split(z0, n_parts, True), _split(arg, n_parts, aa == 0))]
        if not compiled:
            # Traced and compiled here, under the caller's JAX settings (`jax.enable_x64(True)` is one
            # thread's), and only run on the pool's threads: a traced call there would see theirs.
            compiled.append(kernel.lower(*parts[0], *scalars).compile())
        return i, hi - lo, [pool.submit(_run_part, compiled[0], *part, scalars) for part in parts]

    def collect(item):
        nonlocal count
        i, k, runs = item
        results = [r.result() for r in runs] if pool is not None else runs
        if len(results) == 1:  # a whole chunk: its arrays as they are (no copy)
            chunk_arrays = tuple(np.asarray(r)[:k] for r in results[0])
        else:
            chunk_arrays = tuple(np.concatenate([r[j] for r in results])[:k] for j in range(4))
        _put(arrays, slice(i * chunk, i * chunk + k), chunk_arrays)
        if store is not None:
            store.write(i, *chunk_arrays)
        count += 1
        report(count, f"chunks of {chunk} starts")

    try:
        with reporter(fn, progress, fn, len(mine), unit="chunk") as report:  # closes the bar on errors too
            report(count, f"chunks of {chunk} starts")
            in_flight = collections.deque()
            for i in todo:
                in_flight.append(launch(i))
                if len(in_flight) >= depth:
                    collect(in_flight.popleft())
            while in_flight:
                collect(in_flight.popleft())
    finally:
        if pool is not None:  # on an error (Ctrl-C), parts not yet started are dropped
            pool.cancel()
    if part is not None:
        if not store.complete():
            return None
        # Other processes wrote the rest of the folder while this one ran: read their chunks too.
        for i, chunk_arrays in store.existing(skip=done | set(todo)):
            _put(arrays, slice(i * chunk, min((i + 1) * chunk, N)), chunk_arrays)
    return arrays


def _put(arrays, sl: slice, values):
    for a, v in zip(arrays, values):
        a[sl] = v
