"""The `Field`: a pure JAX vector field `v(z) -> dz/dt` plus what is known about it.

Everything in jaxgan builds, analyses, runs or shows a `Field`. A field is a pytree: its
numeric parameters (`pd`, penalty weights, ...) are leaves and everything else is static
data compared by value, so a compiled function that takes a field recompiles only when the
*kind* of field changes, not its numbers.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_type, bad_value, check_callable, check_instance, check_int, check_numbers, is_traced, where
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["Field"]


@jax.tree_util.register_pytree_node_class
class Field:
    """A vector field `v(z) = velocity(params, z)` on states `z: Float[Array, "n"]`.

    **Arguments:**

    - `velocity`: `velocity(params, z) -> dz/dt`, pure JAX, `z` of shape `(n,)`. It is static
      data of the pytree: pass the same (or an equal) callable to share compiled code.
    - `params`: a pytree of numbers the velocity reads (traced: changing them does not
      recompile anything that takes the field as an argument).
    - `rest_point`: the rest point `z*` (array of shape `(n,)`), or a function
      `rest_point(params) -> z*`, or `None` if unknown.
    - `lower`, `upper`: per-coordinate bounds of the domain (default: unbounded), `lower[i] < upper[i]`.
    - `closed`: per-coordinate pair `(lower_closed, upper_closed)`; default all open.
    - `name`: a short name for messages and figures.
    - `labels`: names of the coordinates (default `z0, z1, ...`).
    - `players`: groups of coordinate indices, one per player, in the order alternating
      updates visit them (default: one coordinate per player, in order).
    - `meta`: a dict of static extras (for example the `Game` a field came from, or what a
      regulariser needs); string keys, hashable values only.
    - `param_rules`: what `replace` accepts for each parameter: `{name: rule}` with rule
      `"positive"`, `"non-negative"`, `"any"` (finite) or `"derived"` (computed from the rest
      of the field, never set by hand: `replace` refuses it). A parameter without a rule is
      `"any"`.

    The dimension `n` comes from `labels`, `lower`/`upper` or a `rest_point` array (the first
    given); every per-coordinate argument must have length `n`.

    A field is callable: `field(z)` is `velocity(params, z)` and works under `vmap`.

    **Raises:** `ArgumentTypeError` for a non-callable `velocity`, non-numeric bounds, non-bool
    `closed` flags, a non-string `name` or unhashable `meta`; `ArgumentError` when the dimension
    cannot be inferred, for per-coordinate arguments of the wrong length, empty intervals
    (`lower[i] ≥ upper[i]`), `players` that do not partition `0..n-1`, or a `rest_point` array
    of the wrong shape.
    """

    def __init__(
        self,
        velocity: Callable[[Any, jax.Array], jax.Array],
        params: Any = None,
        *,
        rest_point: Any = None,
        lower: Sequence[float] | None = None,
        upper: Sequence[float] | None = None,
        closed: Sequence[tuple[bool, bool]] | None = None,
        name: str = "field",
        labels: Sequence[str] | None = None,
        players: Sequence[Sequence[int]] | None = None,
        meta: dict | None = None,
        param_rules: dict | None = None,
    ):
        self.velocity = check_callable("Field", "velocity", velocity)
        self.params = {} if params is None else params
        self._rest_fn, self._rest_value = _rest(rest_point)
        n = _infer_dim(labels, lower, upper, self._rest_value)
        if self._rest_value is not None and self._rest_value.shape != (n,):
            raise ArgumentError(f"{where('Field', 'rest_point')} must have shape ({n},) (the state dimension); "
                                f"got shape {self._rest_value.shape}.")
        self.lower = _bounds("lower", lower, n, -math.inf)
        self.upper = _bounds("upper", upper, n, math.inf)
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper)):
            if not lo < hi:
                raise ArgumentError(f"{where('Field', 'lower')} must be below `upper` in every coordinate; "
                                    f"got [{lo}, {hi}] for coordinate {i}.")
        self.closed = _closed(closed, n)
        self.labels = _labels(labels, n)
        self.players = _players(players, n)
        self.name = check_instance("Field", "name", name, str, "a string")
        self.meta = _meta(meta)
        self.param_rules = _param_rules(param_rules)

    # -- pytree protocol: numbers are leaves, everything else is static.
    def tree_flatten(self):
        children = (self.params, self._rest_value)
        aux = (self.velocity, self._rest_fn, self.lower, self.upper, self.closed, self.name,
               self.labels, self.players, self.meta, self.param_rules)
        return children, aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        # No validation: JAX unflattens with placeholders (None, tracers, batch axes) as leaves.
        obj = object.__new__(cls)
        obj.params, obj._rest_value = children
        (obj.velocity, obj._rest_fn, obj.lower, obj.upper, obj.closed, obj.name,
         obj.labels, obj.players, obj.meta, obj.param_rules) = aux
        return obj

    # -- behaviour
    def __call__(self, z):
        return self.velocity(self.params, z)

    @property
    def dim(self) -> int:
        """The state dimension n."""
        return len(self.labels)

    @property
    def rest_point(self):
        """The rest point `z*` (shape `(n,)`), or `None` when unknown."""
        if self._rest_fn is not None:
            return jnp.asarray(self._rest_fn(self.params))
        return self._rest_value

    def get_meta(self, key, default=None):
        """A static extra stored with the field (e.g. `"game"`), or `default`."""
        return dict(self.meta).get(key, default)

    def in_domain(self, z, xp: ModuleType = jnp):
        """Whether states lie inside the field's domain: every coordinate finite and within its
        bounds (see `coordinate_in_domain`).

        **Arguments:**

        - `z`: `Float[Array, "... n"]`, one state or a batch of them.
        - `xp`: `jax.numpy` (default: traceable, works under `jit`/`vmap`) or `numpy` (host
          arrays, no device round trip). The bounds are compared in `z`'s float dtype.

        **Returns:** `Bool[Array, "..."]` (a NumPy array or bool with `xp=numpy`).

        **Raises:** `ArgumentError` when the last axis of `z` is not `n`, or `xp` is neither
        module.
        """
        fn = "Field.in_domain"
        _check_xp(fn, xp)
        z = _as_float(xp, z)
        if z.ndim == 0 or z.shape[-1] != self.dim:
            raise ArgumentError(f"{where(fn, 'z')} must have shape (..., {self.dim}); got shape {z.shape}.")
        lo_closed, hi_closed = (np.array(c, dtype=bool) for c in zip(*self.closed))
        ok = _within(xp, z, np.array(self.lower), np.array(self.upper), lo_closed, hi_closed)
        return xp.all(ok, axis=-1)

    def coordinate_in_domain(self, i: int, x, xp: ModuleType = jnp):
        """Whether values `x` of coordinate `i` lie in that coordinate's interval, elementwise:
        `x` is finite, `x > lower[i]` (`x ≥ lower[i]` when `closed[i][0]`) and `x < upper[i]`
        (`x ≤ upper[i]` when `closed[i][1]`). An infinite bound is no constraint beyond
        finiteness. `in_domain(z)` is the conjunction of this over all coordinates.

        **Arguments:**

        - `i`: the coordinate, an int in `[0, n-1]`.
        - `x`: `Float[Array, "..."]`, values of coordinate `i` (any shape).
        - `xp`: `jax.numpy` (default: traceable) or `numpy` (host arrays). The bounds are
          compared in `x`'s float dtype.

        **Returns:** `Bool[Array, "..."]`, the shape of `x`.

        **Raises:** `ArgumentTypeError` for a non-integer `i`; `ArgumentError` for `i` out of
        range or `xp` neither module.
        """
        fn = "Field.coordinate_in_domain"
        i = check_int(fn, "i", i, lo=0, hi=self.dim - 1)
        _check_xp(fn, xp)
        lo_closed, hi_closed = self.closed[i]
        return _within(xp, _as_float(xp, x), self.lower[i], self.upper[i], lo_closed, hi_closed)

    def replace(self, **params) -> "Field":
        """A copy with some entries of the dict `params` replaced (e.g. `field.replace(pd=0.3)`).

        Values keep the dtype of the entry they replace. A concrete value obeys the rule the
        constructor applied (`param_rules`: a `pd` must be positive, a weight non-negative, every
        value finite and representable in that dtype); traced values and batched (vmapped)
        arrays pass unchecked, as inside `jit`/`vmap` they must.

        **Raises:** `ArgumentTypeError` when the field's params are not a dict or a value is not
        numeric (a bool included); `ArgumentError` for a name the field does not have (the message
        lists the names it has), a parameter derived from the others (e.g. a pointwise field's
        `d0`), or a value its rule refuses.
        """
        _check_known(self, params)
        for k, v in params.items():
            self.check_param("Field.replace", k, k, v)
        return self._replace(**params)

    def check_param(self, fn: str, arg: str, name: str, value) -> None:
        """Check concrete `value` (a scalar or an array of values, e.g. a grid) for parameter `name`
        by the field's `param_rules`, as `replace` does; a traced value passes.

        **Raises:** as `replace`; messages name `fn`'s argument `arg`.
        """
        leaf = self.params.get(name) if isinstance(self.params, dict) else None
        _check_param_value(fn, arg, name, dict(self.param_rules).get(name, "any"), value, _leaf_dtype(leaf),
                           underflow=np.ndim(leaf) < 2)

    def _replace(self, **params) -> "Field":
        # `replace` without the value checks: `velocity(params, z)` of a regularised field routes
        # every parameter (derived ones too) through here.
        children, aux = self.tree_flatten()
        new = dict(self.params)
        new.update({k: jnp.asarray(v, dtype=jnp.result_type(self.params[k])) for k, v in params.items()})
        return type(self).tree_unflatten(aux, (new, children[1]))

    def domain_str(self, max_items: int = 6) -> str:
        """The domain in words, e.g. `D ∈ (0, 1), pg ∈ [0, ∞)`; long states are abbreviated."""
        parts = []
        for lab, lo, hi, (clo, chi) in zip(self.labels, self.lower, self.upper, self.closed):
            parts.append(f"{lab} ∈ {'[' if clo else '('}{_fmt(lo)}, {_fmt(hi)}{']' if chi else ')'}")
        if len(parts) > max_items:
            head = max_items // 2
            parts = parts[:head] + [f"… ({len(parts) - max_items + 1} more) …"] + parts[-(max_items - head - 1):]
        return ", ".join(parts)

    def __repr__(self):
        return f"Field(name={self.name!r}, dim={self.dim}, params={_short(self.params)}, domain: {self.domain_str()})"


# ----------------------------------------------------------------------------- helpers

_RULES = {"positive": "positive", "non-negative": "non-negative", "any": "finite", "derived": None}


def _param_rules(rules) -> tuple:
    """`param_rules` as sorted `(name, rule)` pairs (static data of the pytree)."""
    if rules is None:
        return ()
    check_instance("Field", "param_rules", rules, dict, "a dict {name: rule}")
    for k, r in rules.items():
        if not isinstance(k, str) or r not in _RULES:
            raise bad_value("Field", "param_rules", f"a dict {{name: rule}} with rule one of {sorted(_RULES)}",
                            rules)
    return tuple(sorted(rules.items()))


def _leaf_dtype(leaf):
    """The float dtype a replacement of `leaf` is cast to (None when it is not a float)."""
    if leaf is None:
        return None
    dt = np.dtype(jnp.result_type(leaf))
    return dt if np.issubdtype(dt, np.floating) else None


def _check_param_value(fn: str, arg: str, name: str, rule: str, value, dtype, underflow: bool = True) -> None:
    """One concrete replacement value against its rule (see `Field.check_param`); `underflow=False`
    for a matrix parameter (a tiny entry flushed to 0 is rounding, see `check_fits`)."""
    if is_traced(value):
        return
    if rule == "derived":
        raise ArgumentError(f"{where(fn, arg)}: parameter {name!r} is derived from the rest of the field (for a "
                            f"game's field, D0 solves f1'(D) + f2'(D) = 0) and cannot be set; build another "
                            f"field (e.g. another game) instead.")
    check_numbers(fn, arg, value, sign=rule, dtype=dtype, what=f" (the rule of parameter {name!r})",
                  underflow=underflow)


def _check_known(field: Field, names) -> None:
    """`replace`'s check: dict params that hold every name in `names`."""
    if not isinstance(field.params, dict):
        raise ArgumentTypeError(f"Field.replace needs dict params; field {field.name!r} has "
                                f"{type(field.params).__name__} params.")
    unknown = sorted(set(names) - set(field.params))
    if unknown:
        raise ArgumentError(f"Field {field.name!r} has no parameter(s) {unknown}; it has {sorted(field.params)}.")


def _check_xp(fn: str, xp) -> None:
    if xp is not np and xp is not jnp:
        raise bad_value(fn, "xp", "numpy or jax.numpy", xp)


def _as_float(xp, x):
    """`x` as an `xp` array of a float dtype (integers become the default float)."""
    x = xp.asarray(x)
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _within(xp, x, lo, hi, lo_closed, hi_closed):
    """Elementwise: `x` finite and inside `(lo, hi)`, each end included where flagged; the
    bounds (scalars or arrays broadcasting against `x`) are cast to `x`'s dtype so that the host
    (`numpy`) and device (`jax.numpy`) tests agree bit for bit."""
    lo, hi = xp.asarray(lo, dtype=x.dtype), xp.asarray(hi, dtype=x.dtype)
    above = xp.where(lo_closed, x >= lo, x > lo)
    below = xp.where(hi_closed, x <= hi, x < hi)
    return xp.isfinite(x) & above & below


def _rest(rest_point):
    """`(rest_fn, rest_value)`: a callable of the params, or a constant array (or neither)."""
    if callable(rest_point):
        return rest_point, None
    if rest_point is None:
        return None, None
    try:
        return None, jnp.asarray(rest_point, dtype=jnp.result_type(float))
    except (TypeError, ValueError):
        raise bad_type("Field", "rest_point", "an array of shape (n,), a function of the params or None",
                       rest_point) from None


def _infer_dim(labels, lower, upper, rest) -> int:
    for seq in (labels, lower, upper):
        if seq is not None:
            n = len(seq)
            break
    else:
        if rest is None or rest.ndim != 1:
            raise ArgumentError("Field needs its dimension: pass `labels`, `lower`/`upper` or a `rest_point` array.")
        n = int(rest.shape[0])
    if n < 1:
        raise ArgumentError(f"Field arguments `labels`, `lower`/`upper` or `rest_point` must give at least one "
                            f"coordinate; got dimension {n}.")
    return n


def _check_length(arg: str, values: tuple, n: int) -> tuple:
    if len(values) != n:
        raise ArgumentError(f"{where('Field', arg)} must have length {n} (the state dimension); got {len(values)}.")
    return values


def _bounds(arg: str, values, n: int, default: float) -> tuple[float, ...]:
    if values is None:
        return (default,) * n
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise bad_type("Field", arg, f"a sequence of {n} numbers", values) from None
    if any(math.isnan(v) for v in out):
        raise bad_value("Field", arg, "numbers (±inf for no bound), not NaN", values)
    return _check_length(arg, out, n)


def _closed(closed, n: int) -> tuple[tuple[bool, bool], ...]:
    if closed is None:
        return ((False, False),) * n
    pairs = []
    for pair in closed:
        flags = tuple(pair) if isinstance(pair, (tuple, list)) else ()
        if len(flags) != 2 or not all(isinstance(b, (bool, np.bool_)) for b in flags):
            raise bad_type("Field", "closed", "pairs (lower_closed, upper_closed) of True/False", pair)
        pairs.append((bool(flags[0]), bool(flags[1])))
    return _check_length("closed", tuple(pairs), n)


def _labels(labels, n: int) -> tuple[str, ...]:
    if labels is None:
        return tuple(f"z{i}" for i in range(n))
    return _check_length("labels", tuple(str(lab) for lab in labels), n)


def _players(players, n: int) -> tuple[tuple[int, ...], ...]:
    if players is None:
        return tuple((i,) for i in range(n))
    try:
        groups = tuple(tuple(int(i) for i in p) for p in players)
    except (TypeError, ValueError):
        raise bad_type("Field", "players", "groups of coordinate indices", players) from None
    if sorted(i for p in groups for i in p) != list(range(n)):
        raise ArgumentError(f"{where('Field', 'players')} must partition the coordinates 0..{n - 1}; got {groups}.")
    return groups


def _meta(meta) -> tuple:
    """The meta dict as sorted `(key, value)` pairs: static aux data, so it must hash."""
    if meta is None:
        return ()
    check_instance("Field", "meta", meta, dict, "a dict")
    if not all(isinstance(k, str) for k in meta):
        raise bad_type("Field", "meta", "a dict with string keys", meta)
    items = tuple(sorted(meta.items()))
    try:
        hash(items)
    except TypeError:
        raise ArgumentTypeError(f"{where('Field', 'meta')} must hold hashable values only (it is static "
                                f"data of the pytree); got keys {sorted(meta)}.") from None
    return items


def _fmt(v: float) -> str:
    return "∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:g}"


def _short(params) -> str:
    if isinstance(params, dict):
        return "{" + ", ".join(f"{k}={'<traced>' if is_traced(v) else np.asarray(v).tolist()}"
                               for k, v in params.items()) + "}"
    return type(params).__name__
