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
           "check_values", "check_matrix", "check_fraction", "is_traced", "working_float", "check_fits",
           "check_memory", "memory_limit", "check_numbers", "X64_HINT"]

# What the user writes in their own program to work in float64 (jaxgan never does it for them).
X64_HINT = ('enable float64 with `jax.config.update("jax_enable_x64", True)` at the start of your program '
            '(jaxgan never changes jax.config)')


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


def working_float(dtype=None) -> np.dtype:
    """`dtype` as a NumPy dtype; `None` means JAX's default float (float32, float64 under x64)."""
    if dtype is None:
        import jax.numpy as jnp

        dtype = jnp.result_type(float)
    return np.dtype(dtype)


def _is_bool(value) -> bool:
    """A Python/NumPy bool, or an array of bool dtype (True is not the number 1 here)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    dt = getattr(value, "dtype", None)
    try:
        return dt is not None and np.dtype(dt) == np.bool_
    except TypeError:
        return False


def check_fits(fn: str | None, arg: str, value, dtype=None, *, underflow: bool = True) -> None:
    """Refuse a finite value that `dtype` cannot hold: a non-zero magnitude below its smallest
    normal number (it would become 0, or a subnormal that XLA flushes to 0) or above its largest
    (it would become inf). `value` is a float or an array of them (float64); NaN/inf are left to
    the caller's own check. `underflow=False` checks overflow only (the entries of a matrix, where
    a tiny entry flushed to 0 is ordinary rounding, not a parameter silently changed).

    **Raises:** `ArgumentError` naming the dtype and, for a float narrower than float64, how to
    enable x64.
    """
    dt = working_float(dtype)
    if not np.issubdtype(dt, np.floating):
        return
    info = np.finfo(dt)
    a = np.abs(np.asarray(value, dtype=np.float64))
    fin = np.isfinite(a)
    under = fin & (a > 0) & (a < float(info.tiny)) & underflow
    over = fin & (a > float(info.max))
    if not (np.any(under) or np.any(over)):
        return
    bad = float(np.asarray(value, dtype=np.float64)[under | over].flat[0]) if a.ndim else float(value)
    becomes = "0" if np.any(under) else "inf"
    hint = f"; {X64_HINT}" if dt.itemsize < 8 else "; rescale the problem"
    raise ArgumentError(f"{where(fn, arg)} must be representable in {dt.name}, the working float (magnitude 0 or "
                        f"between {float(info.tiny):.3g} and {float(info.max):.3g}); got {bad!r}, which {dt.name} "
                        f"turns into {becomes}{hint}.")


def check_float(fn: str | None, arg: str, value, *, sign: str = "positive", allow_inf: bool = False,
                dtype=None) -> float:
    """`value` as a Python float: finite (or `+inf` with `allow_inf`), `sign` one of
    `"positive"` (> 0), `"non-negative"` (≥ 0) or `"any"`, and representable in `dtype`, the
    float it will be used in (default: JAX's default float; `numpy.float64` for a host-only
    number) — see `check_fits`.

    **Raises:** `ArgumentTypeError` when `value` is not a real number (a bool included);
    `ArgumentError` when it is NaN, infinite, of the wrong sign, or underflows to 0 / overflows
    to inf in `dtype`.
    """
    want = _SIGNS[sign] + (" number" if allow_inf else " finite number")
    if _is_bool(value):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want}; got {value!r}.")
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want}; got {value!r}.") from None
    ok = (math.isfinite(val) or (allow_inf and val == math.inf)) and not math.isnan(val)
    if not (ok and _sign_ok(val, sign)):
        raise ArgumentError(f"{where(fn, arg)} must be {want}; got {value!r}.")
    check_fits(fn, arg, val, dtype)
    return val


def check_scalar(fn: str | None, arg: str, value, *, sign: str = "positive", what: str = "", dtype=None):
    """A finite scalar of sign `sign` as a JAX array of `dtype` (default: JAX's default float),
    checked to be representable there (`check_fits`). A traced value passes unchecked (it is
    checked where it was made concrete), so fields built inside `jit` or `vmap` keep working.

    **Raises:** `ArgumentTypeError` for a non-number (a bool included); `ArgumentError` for a
    non-scalar, a non-finite value, one of the wrong sign (`what` is added to the message, e.g.
    " (a density)") or one that underflows to 0 / overflows to inf in `dtype`.
    """
    import jax.numpy as jnp

    dtype = working_float(dtype)
    if not is_traced(value):
        if _is_bool(value):
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
        check_fits(fn, arg, val, dtype)
    return jnp.asarray(value, dtype=dtype)


def check_numbers(fn: str | None, arg: str, value, *, sign: str = "any", dtype=None, what: str = "",
                  underflow: bool = True) -> np.ndarray:
    """A number or an array of numbers of any shape (a concrete batch included): every entry
    finite, of sign `sign`, and representable in `dtype` (`None`: no dtype check; `underflow`:
    as in `check_fits`); as float64.

    **Raises:** `ArgumentTypeError` for a string, a bool or a non-numeric value; `ArgumentError`
    for a non-finite entry, one of the wrong sign, or one `dtype` turns into 0 or inf.
    """
    want = {"positive": "positive and finite", "non-negative": "non-negative and finite", "any": "finite"}[sign]
    if isinstance(value, (str, bytes)) or _has_bool(value):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want} (a number, not a bool or a string){what}; "
                                f"got {value!r}.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_type(fn, arg, f"{want} number(s)", value) from None
    ok = np.isfinite(arr) & (arr > 0 if sign == "positive" else arr >= 0 if sign == "non-negative" else True)
    if not np.all(ok):
        bad = arr[~np.broadcast_to(ok, arr.shape)]
        shown = (arr.tolist() if isinstance(value, np.ndarray) else value) if arr.size <= 6 else \
            f"{bad[:3].tolist()}… ({arr.size} values)"
        raise ArgumentError(f"{where(fn, arg)} must be {want}{what}; got {shown!r}.")
    if dtype is not None:
        check_fits(fn, arg, arr, dtype, underflow=underflow)
    return arr


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


def _has_bool(values) -> bool:
    if _is_bool(values):
        return True
    return isinstance(values, (list, tuple)) and any(_is_bool(v) for v in values)


def check_values(fn: str | None, arg: str, values, *, sign: str = "any", min_size: int = 1,
                 size: int | None = None, what: str = "", dtype=None) -> np.ndarray:
    """A 1-D sequence of finite numbers of sign `sign`, at least `min_size` long (exactly `size`
    long when given; `what` says what each entry is, e.g. "one weight per point"), each
    representable in `dtype` (default: JAX's default float; see `check_fits`), as float64.
    Booleans are not numbers."""
    if isinstance(values, (str, bytes)) or _has_bool(values):
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
    check_fits(fn, arg, arr, dtype)
    return arr


def check_matrix(fn: str | None, arg: str, value, n: int | None = None, dtype=None) -> np.ndarray:
    """A square matrix of finite real numbers, `(n, n)` when `n` is given (else any non-empty square),
    none beyond the largest number of `dtype` (default: JAX's default float), as a host array of
    its own float dtype (integers become float64).

    **Raises:** `ArgumentTypeError` for something that is not an array of numbers; `ArgumentError`
    for the wrong shape or a non-finite entry.
    """
    want = f"a matrix of shape ({n}, {n})" if n is not None else "a square matrix (n, n)"
    if _is_bool(value):
        raise ArgumentTypeError(f"{where(fn, arg)} must be {want} of numbers; got a boolean array.")
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
    check_fits(fn, arg, arr, dtype, underflow=False)
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


def host_memory() -> int:
    """The host's physical memory in bytes. (Not the memory free at the moment: a check must not
    depend on what other processes happen to hold.)"""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1


def memory_limit(devices=None) -> int:
    """Bytes one computation may use on a device: the memory limit the first of `devices`
    (default: JAX's default device) reports (a GPU), else `host_memory()`."""
    import jax

    try:
        device = (devices or jax.devices())[0]
        stats = device.memory_stats() or {}
        if stats.get("bytes_limit"):
            return int(stats["bytes_limit"])
    except Exception:  # a backend without memory statistics
        pass
    return host_memory()


def bytes_text(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_memory(fn: str | None, what: str, nbytes: float, way_out: str) -> None:
    """Refuse, before anything is compiled, a computation whose estimated memory `nbytes` (for
    `what`, e.g. "the saved path (10⁹ rows × 2 × float32)") exceeds `memory_limit()`.

    **Raises:** `ArgumentError` with the estimate, the limit and `way_out` (what to do instead).
    """
    limit = memory_limit()
    if nbytes > limit:
        raise ArgumentError(f"{fn}: {what} would need about {bytes_text(nbytes)}, more than the "
                            f"{bytes_text(limit)} of memory of this machine; {way_out}.")
