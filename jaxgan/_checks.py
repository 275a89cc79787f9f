"""Argument checks shared by the modules (private; imports nothing from jaxgan).

One wording for every public function: "`fn` argument `arg` must be ...; got ...".
"""

from __future__ import annotations

import math

import numpy as np


def check_int(fn: str | None, arg: str, value, lo: int = 1, hi: int | None = None) -> int:
    """`value` as a Python int in `[lo, hi]` (`hi=None`: no upper bound).

    **Raises:** `TypeError` when `value` is not an integer (a bool or a float such as
    `10.0` included: a count given as a float is usually a slip); `ValueError` when it is
    out of range. The message names `fn`'s argument `arg` and what was given.
    """
    where = f"{fn} argument `{arg}`" if fn else f"`{arg}`"
    want = f"an integer ≥ {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where} must be {want}; got {value!r}.")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{where} must be {want}; got {value}.")
    return int(value)


def check_float(fn: str | None, arg: str, value, *, sign: str = "positive", allow_inf: bool = False) -> float:
    """`value` as a Python float: finite (or `+inf` with `allow_inf`), and `sign` one of
    `"positive"` (> 0), `"non-negative"` (≥ 0) or `"any"`.

    **Raises:** `TypeError` when `value` is not a real number (a bool included); `ValueError`
    when it is NaN, infinite or of the wrong sign.
    """
    where = f"{fn} argument `{arg}`" if fn else f"`{arg}`"
    want = {"positive": "a positive", "non-negative": "a non-negative", "any": "a"}[sign]
    want += " number" if allow_inf else " finite number"
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where} must be {want}; got {value!r}.")
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where} must be {want}; got {value!r}.") from None
    ok = (math.isfinite(val) or (allow_inf and val == math.inf)) and not math.isnan(val)
    ok = ok and (val > 0 if sign == "positive" else val >= 0 if sign == "non-negative" else True)
    if not ok:
        raise ValueError(f"{where} must be {want}; got {value!r}.")
    return val
