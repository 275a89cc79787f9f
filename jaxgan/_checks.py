"""Argument checks: the one home of jaxgan's input validation (private; imports only `errors`).

One wording for every public function: "`fn` argument `arg` must be ...; got ...". Checks run
on the host, before anything is traced or compiled; a check that may see a traced value
(`check_scalar`) lets it through unchecked.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .errors import ArgumentError, ArgumentTypeError

__all__ = ["where", "bad_value", "bad_type", "check_int", "check_float", "check_scalar", "check_bool",
           "check_choice", "check_callable", "check_instance", "check_interval", "check_grid_range",
           "check_values", "check_matrix", "check_fraction", "is_traced"]


def where(fn: str | None, arg: str) -> str:
    """`"fn argument `arg`"`, the subject of every message."""
    return f"{fn} argument `{arg}`" if fn else f"`{arg}`"


def bad_value(fn: str | None, arg: str, expected: str, got: Any) -> ArgumentError:
    """The error for a value of the right kind but wrong: "`fn` argument `arg` must be
    `expected`; got `got`" (`got` shown with `repr`)."""
    return ArgumentError(f"{where(fn, arg)} must be {expected}; got {got!r}.")


def bad_type(fn: str | None, arg: str, expected: str, got: Any) -> ArgumentTypeError:
    """The error for a value of the wrong kind; names the type that was given."""
    shown = type(got).__name__ if not isinstance(got, (int, float, str, bool, type(None), tuple, list)) else repr(got)
    return ArgumentTypeError(f"{where(fn, arg)} must be {expected}; got {shown}.")


def is_traced(value) -> bool:
    """Whether `value` is (or holds) a JAX tracer, i.e. has no concrete value yet."""
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def check_int(fn: str | None, arg: str, value, lo: int = 1, hi: int | None = None) -> int:
    """`value` as a Python int in `[lo, hi]` (`hi=None`: no upper bound).

    **Raises:** `ArgumentTypeError` when `value` is not an integer (a bool or a float such as
    `10.0` included: a count given as a float is usually a slip); `ArgumentError` when it is
    out of range.
    """
    want = f"an integer ≥ {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want}; got {value!r}.")
    if value < lo or (hi is not None and value > hi):
        raise ArgumentError(f"{where(fn, arg)} must be {want}; got {value}.")
    return int(value)


_SIGNS = {"positive": "a positive", "non-negative": "a non-negative", "any": "a"}


def _sign_ok(val: float, sign: str) -> bool:
    return val > 0 if sign == "positive" else val >= 0 if sign == "non-negative" else True


def check_float(fn: str | None, arg: str, value, *, sign: str = "positive", allow_inf: bool = False) -> float:
    """`value` as a Python float: finite (or `+inf` with `allow_inf`), and `sign` one of
    `"positive"` (> 0), `"non-negative"` (≥ 0) or `"any"`.

    **Raises:** `ArgumentTypeError` when `value` is not a real number (a bool included);
    `ArgumentError` when it is NaN, infinite or of the wrong sign.
    """
    want = _SIGNS[sign] + (" number" if allow_inf else " finite number")
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want}; got {value!r}.")
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want}; got {value!r}.") from None
    ok = (math.isfinite(val) or (allow_inf and val == math.inf)) and not math.isnan(val)
    if not (ok and _sign_ok(val, sign)):
        raise ArgumentError(f"{where(fn, arg)} must be {want}; got {value!r}.")
    return val


def check_scalar(fn: str | None, arg: str, value, *, sign: str = "positive", what: str = ""):
    """A finite scalar of sign `sign` as a JAX array of the default float dtype. A traced value
    passes unchecked (it is checked where it was made concrete), so fields built inside `jit`
    or `vmap` keep working.

    **Raises:** `ArgumentTypeError` for a non-number; `ArgumentError` for a non-scalar, a
    non-finite value or one of the wrong sign (`what` is added to the message, e.g. " (a density)").
    """
    import jax.numpy as jnp

    if not is_traced(value):
        if isinstance(value, (bool, np.bool_)):
            raise ArgumentTypeError(f"{where(fn, arg)} must be {_SIGNS[sign]} number; got {value!r}.")
        try:
            val = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{where(fn, arg)} must be {_SIGNS[sign]} number; got {value!r}.") from None
        if val.shape != ():
            raise ArgumentError(f"{where(fn, arg)} must be a scalar; got shape {val.shape}.")
        if not (np.isfinite(val) and _sign_ok(float(val), sign)):
            word = {"positive": "positive and finite", "non-negative": "non-negative and finite", "any": "finite"}
            raise ArgumentError(f"{where(fn, arg)} must be {word[sign]}{what}; got {float(val)}.")
    return jnp.asarray(value, dtype=jnp.result_type(float))


def check_bool(fn: str | None, arg: str, value) -> bool:
    """`value` as a bool; only `True`/`False` (and NumPy bools) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{where(fn, arg)} must be True or False; got {value!r}.")
    return bool(value)


def check_choice(fn: str | None, arg: str, value, choices: Sequence) -> Any:
    """`value` if it is one of `choices` (compared with `==`), else an `ArgumentError` listing them."""
    try:
        ok = value in tuple(choices)
    except TypeError:  # an unhashable or oddly comparing value
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise ArgumentError(f"{where(fn, arg)} must be one of {listed}; got {value!r}.")
    return value


def check_callable(fn: str | None, arg: str, value, what: str = "a callable"):
    """`value` if it is callable, else an `ArgumentTypeError` naming its type."""
    if not callable(value):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {what}; got {type(value).__name__}.")
    return value


def check_instance(fn: str | None, arg: str, value, cls, what: str, hint: str = ""):
    """`value` if it is an instance of `cls`; else an `ArgumentTypeError` saying `what` was
    expected (e.g. "a jaxgan Field"), with an optional `hint` on how to make one."""
    if not isinstance(value, cls):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {what}{hint}; got {type(value).__name__}.")
    return value


def check_interval(fn: str | None, arg: str, value, *, allow_none: bool = True):
    """A pair `(lo, hi)` of finite numbers with `lo < hi`, as floats (or `None` when allowed).

    **Raises:** `ArgumentTypeError` when `value` is not a pair of numbers; `ArgumentError` when
    a bound is not finite or `lo ≥ hi`.
    """
    if value is None and allow_none:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where(fn, arg)} must be a pair (lo, hi) of numbers; got {value!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ArgumentError(f"{where(fn, arg)} must be two finite numbers lo < hi; got {value!r}.")
    return lo, hi


def check_grid_range(fn: str | None, arg: str, value) -> tuple[float, float, int]:
    """`(lo, hi, n)`: finite bounds, `n ≥ 1` an integer, `lo < hi` (`lo == hi` only for `n == 1`)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{where(fn, arg)} must be a triple (lo, hi, n); got {value!r}.")
    if len(value) != 3:
        raise ArgumentError(f"{where(fn, arg)} must be a triple (lo, hi, n); got {value!r}.")
    lo, hi, n = value
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where(fn, arg)} must be a triple (lo, hi, n) of numbers; got {value!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ArgumentError(f"{where(fn, arg)} must have finite bounds; got {value!r}.")
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ArgumentTypeError(f"{where(fn, arg)}: n must be an integer ≥ 1; got {value!r}.")
    if n < 1:
        raise ArgumentError(f"{where(fn, arg)}: n must be ≥ 1; got {value!r}.")
    if hi < lo:
        raise ArgumentError(f"{where(fn, arg)} is inverted (hi < lo); got {value!r}.")
    if hi == lo and n > 1:
        raise ArgumentError(f"{where(fn, arg)} is empty (lo == hi with n = {n} points); got {value!r}.")
    return lo, hi, int(n)


def check_values(fn: str | None, arg: str, values, *, sign: str = "any", min_size: int = 1,
                 size: int | None = None, what: str = "") -> np.ndarray:
    """A 1-D sequence of finite numbers of sign `sign`, at least `min_size` long (exactly `size`
    long when given; `what` says what each entry is, e.g. "one weight per point"), as float64."""
    if isinstance(values, (str, bytes)):
        raise ArgumentTypeError(f"{where(fn, arg)} must be a sequence of numbers; got {values!r}.")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where(fn, arg)} must be a sequence of numbers; got {values!r}.") from None
    if arr.ndim != 1 or arr.size < min_size:
        raise ArgumentError(f"{where(fn, arg)} must be a 1-D sequence of at least {min_size} number(s); "
                            f"got shape {arr.shape}.")
    if size is not None and arr.shape != (size,):
        raise ArgumentError(f"{where(fn, arg)} must have shape ({size},){f' ({what})' if what else ''}; "
                            f"got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or not all(_sign_ok(float(v), sign) for v in arr):
        kind = {"positive": "positive ", "non-negative": "non-negative ", "any": ""}[sign]
        bad = arr[~np.isfinite(arr)] if not np.all(np.isfinite(arr)) else arr
        shown = values if arr.size <= 6 else f"{bad[:3].tolist()}… ({arr.size} values)"
        raise ArgumentError(f"{where(fn, arg)} must hold finite {kind}numbers; got {shown!r}.")
    return arr


def check_matrix(fn: str | None, arg: str, value, n: int | None = None) -> np.ndarray:
    """A square matrix of finite real numbers, `(n, n)` when `n` is given (else any non-empty square),
    as a host array of its own float dtype (integers become float64).

    **Raises:** `ArgumentTypeError` for something that is not an array of numbers; `ArgumentError`
    for the wrong shape or a non-finite entry.
    """
    want = f"a matrix of shape ({n}, {n})" if n is not None else "a square matrix (n, n)"
    try:
        arr = np.asarray(value)
        arr = arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want} of numbers; got {type(value).__name__}.") from None
    square = arr.ndim == 2 and arr.shape[0] == arr.shape[1] and arr.shape[0] >= 1
    if not square or (n is not None and arr.shape != (n, n)):
        raise ArgumentError(f"{where(fn, arg)} must be {want}; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{where(fn, arg)} must hold finite numbers.")
    return arr


def check_fraction(fn: str | None, arg: str, value, *, zero_ok: bool = True, one_ok: bool = True) -> float:
    """A number in the unit interval, its ends included as `zero_ok` / `one_ok` say, as a float.

    **Raises:** `ArgumentTypeError` for a non-number; `ArgumentError` outside the interval.
    """
    v = check_float(fn, arg, value, sign="any")
    if not ((v >= 0 if zero_ok else v > 0) and (v <= 1 if one_ok else v < 1)):
        interval = f"{'[' if zero_ok else '('}0, 1{']' if one_ok else ')'}"
        raise ArgumentError(f"{where(fn, arg)} must be in {interval}; got {value!r}.")
    return v
