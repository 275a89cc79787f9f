"""Limits of a sweep checked before anything compiles: memory for its results and chunks, and the
rules of swept field parameters."""

from __future__ import annotations

import os

import numpy as np

from .._checks import check_values
from ..errors import ArgumentError
from ..fields import Field

__all__ = ["check_memory_for", "check_field_values"]

# Bytes per start of a chunk on the device beyond its state: fate tracker, decision step,
# counters (the state is counted separately: z, the last checked z, the final z and temporaries).
_PER_START_BYTES = 64
_STATE_COPIES = 8


def _bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def host_memory() -> int:
    """Bytes the host can give now: `MemAvailable` (Linux), else the physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**62


def device_memory(devices) -> int:
    """Bytes one device can hold (its reported limit; the host's memory for a CPU)."""
    try:
        stats = devices[0].memory_stats() or {}
        if stats.get("bytes_limit"):
            return int(stats["bytes_limit"])
    except Exception:  # a backend without memory statistics
        pass
    return host_memory()


def check_memory_for(fn: str, n_jobs: int, dim: int, dtype, chunk: int, devices, what: str) -> None:
    """Refuse a sweep whose results (`n_jobs` starts: fate, step, turns and the final state, on
    the host) or whose chunk (on one device) would not fit in memory, with the estimate and the
    way out.

    **Raises:** `ArgumentError`.
    """
    item = np.dtype(dtype).itemsize
    result = float(n_jobs) * (1 + 4 + 4 + dim * item)
    limit = host_memory()
    if result > limit:
        raise ArgumentError(
            f"{fn}: the results of {what} ({n_jobs:,} starts × {dim} coordinates in {np.dtype(dtype).name}) would "
            f"need about {_bytes(result)} of host memory, more than the {_bytes(limit)} available; sweep a smaller "
            f"grid, or cut it into several sweeps (e.g. ranges of one axis), each with its own `out=` folder.")
    per_device = -(-min(chunk, n_jobs) // len(devices))
    working = float(per_device) * (_STATE_COPIES * dim * item + _PER_START_BYTES)
    dev_limit = device_memory(devices)
    if working > dev_limit:
        raise ArgumentError(
            f"{fn}: a chunk of {min(chunk, n_jobs):,} starts would need about {_bytes(working)} on each of "
            f"{len(devices)} device(s), more than the {_bytes(dev_limit)} available; pass a smaller `chunk=`.")


def check_field_values(fn: str, arg: str, field: Field, name: str, values, dtype) -> np.ndarray:
    """Swept values of the field parameter `name`, representable in `dtype` and checked by the
    field's own rule for it (`Field.check_param`: a pointwise field's `pd` positive, its `d0`
    derived and never swept, a regulariser's weight non-negative), as float64.

    **Raises:** `ArgumentError` for a derived parameter or a value its rule refuses;
    `ArgumentTypeError` for non-numbers (bools included).
    """
    vals = check_values(fn, arg, values, dtype=dtype)
    field.check_param(fn, arg, name, vals)
    return vals
