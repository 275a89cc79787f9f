"""Limits of a sweep checked before anything compiles: memory for its results and chunks, and the
rules of swept field parameters."""

from __future__ import annotations

import numpy as np

from .._checks import bytes_text, check_values, host_memory, memory_limit
from ..errors import ArgumentError
from ..fields import Field

__all__ = ["check_memory_for", "check_field_values"]

# Bytes per start of a chunk on the device beyond its state: fate tracker, decision step,
# counters (the state is counted separately: z, the last checked z, the final z and temporaries).
_PER_START_BYTES = 64
_STATE_COPIES = 8


def check_memory_for(fn: str, n_jobs: int, dim: int, dtype, chunk: int, devices, what: str) -> None:
    """Refuse a sweep whose results (`n_jobs` starts: fate, step, turns and the final state, on
    the host) or whose chunk (on one device) would not fit in memory, with the estimate and the
    way out.

    **Raises:** `ArgumentError`.
    """
    item = np.dtype(dtype).itemsize
    result = float(n_jobs) * (1 + 4 + 4 + dim * item)
    limit = host_memory()  # the results live on the host
    if result > limit:
        raise ArgumentError(
            f"{fn}: the results of {what} ({n_jobs:,} starts × {dim} coordinates in {np.dtype(dtype).name}) would "
            f"need about {bytes_text(result)} of host memory, more than the {bytes_text(limit)} available; sweep a smaller "
            f"grid, or cut it into several sweeps (e.g. ranges of one axis), each with its own `out=` folder.")
    per_device = -(-min(chunk, n_jobs) // len(devices))
    working = float(per_device) * (_STATE_COPIES * dim * item + _PER_START_BYTES)
    dev_limit = memory_limit(devices)
    if working > dev_limit:
        raise ArgumentError(
            f"{fn}: a chunk of {min(chunk, n_jobs):,} starts would need about {bytes_text(working)} on each of "
            f"{len(devices)} device(s), more than the {bytes_text(dev_limit)} available; pass a smaller `chunk=`.")


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
