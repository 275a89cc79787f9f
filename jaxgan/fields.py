"""The `Field`: a pure JAX vector field `v(z) -> dz/dt` plus what is known about it.

Everything in jaxgan builds, analyses, runs or shows a `Field`. A field is a pytree:
its numeric parameters (`pd`, penalty weights, ...) are leaves, so a compiled function
that takes a field recompiles only when the *kind* of field changes, not its numbers.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import games as _games

__all__ = ["Field", "pointwise_field"]


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


@jax.tree_util.register_pytree_node_class
class Field:
    """A vector field `v(z) = velocity(params, z)` on states `z: Float[Array, "n"]`.

    **Arguments:**

    - `velocity`: `velocity(params, z) -> dz/dt`, pure JAX, `z` of shape `(n,)`.
    - `params`: a pytree of numbers the velocity reads (traced: changing them does not
      recompile anything that takes the field as an argument).
    - `rest_point`: the rest point `z*` (array of shape `(n,)`), or a function
      `rest_point(params) -> z*`, or `None` if unknown.
    - `lower`, `upper`: per-coordinate bounds of the domain (default: unbounded).
    - `closed`: per-coordinate pair `(lower_closed, upper_closed)`; default all open.
    - `name`: a short name for messages and figures.
    - `labels`: names of the coordinates (default `z0, z1, ...`).
    - `players`: groups of coordinate indices, one per player, in the order alternating
      updates visit them (default: one coordinate per player, in order).
    - `meta`: a dict of static extras (for example the `Game` a field came from, or what a
      regulariser needs); hashable values only.

    A field is callable: `field(z)` is `velocity(params, z)` and works under `vmap`.
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
    ):
        if not callable(velocity):
            raise TypeError(f"Field argument `velocity` must be callable; got {type(velocity).__name__}.")
        self.velocity = velocity
        self.params = {} if params is None else params
        if callable(rest_point):
            self._rest_fn, self._rest_value = rest_point, None
        else:
            self._rest_fn = None
            self._rest_value = None if rest_point is None else jnp.asarray(rest_point, dtype=_float())
        n = _infer_dim(labels, lower, upper, self._rest_value)
        if n is None:
            raise ValueError("Field needs its dimension: pass `labels`, `lower`/`upper` or a `rest_point` array.")
        self.lower = tuple(float(v) for v in (lower if lower is not None else [-math.inf] * n))
        self.upper = tuple(float(v) for v in (upper if upper is not None else [math.inf] * n))
        self.closed = tuple(tuple(bool(b) for b in c) for c in (closed if closed is not None else [(False, False)] * n))
        self.labels = tuple(labels) if labels is not None else tuple(f"z{i}" for i in range(n))
        self.players = tuple(tuple(int(i) for i in p) for p in (players if players is not None else [(i,) for i in range(n)]))
        self.name = str(name)
        self.meta = tuple(sorted((meta or {}).items()))
        for arg, val in (("lower", self.lower), ("upper", self.upper), ("closed", self.closed), ("labels", self.labels)):
            if len(val) != n:
                raise ValueError(f"Field argument `{arg}` must have length {n} (the state dimension); got {len(val)}.")
        covered = sorted(i for p in self.players for i in p)
        if covered != list(range(n)):
            raise ValueError(f"Field argument `players` must partition the coordinates 0..{n - 1}; got {self.players}.")

    # -- pytree protocol: numbers are leaves, everything else is static.
    def tree_flatten(self):
        children = (self.params, self._rest_value)
        aux = (self.velocity, self._rest_fn, self.lower, self.upper, self.closed, self.name,
               self.labels, self.players, self.meta)
        return children, aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.params, obj._rest_value = children
        (obj.velocity, obj._rest_fn, obj.lower, obj.upper, obj.closed, obj.name,
         obj.labels, obj.players, obj.meta) = aux
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
        """A static extra stored with the field (e.g. `"game"`)."""
        return dict(self.meta).get(key, default)

    def in_domain(self, z) -> jax.Array:
        """Whether `z` (shape `(..., n)`) lies inside the field's domain; shape `(...)`. Pure JAX."""
        z = jnp.asarray(z)
        ok = jnp.all(jnp.isfinite(z), axis=-1)
        for i, (lo, hi, (clo, chi)) in enumerate(zip(self.lower, self.upper, self.closed)):
            zi = z[..., i]
            if math.isfinite(lo):
                ok = ok & ((zi >= lo) if clo else (zi > lo))
            if math.isfinite(hi):
                ok = ok & ((zi <= hi) if chi else (zi < hi))
        return ok

    def replace(self, **params) -> "Field":
        """A copy with some entries of a dict `params` replaced (e.g. `field.replace(pd=0.3)`)."""
        if not isinstance(self.params, dict):
            raise TypeError("Field.replace needs dict params.")
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(f"Field {self.name!r} has no parameter(s) {sorted(unknown)}; it has {sorted(self.params)}.")
        children, aux = self.tree_flatten()
        new = dict(self.params)
        new.update({k: jnp.asarray(v, dtype=jnp.result_type(self.params[k])) for k, v in params.items()})
        return Field.tree_unflatten(aux, (new, children[1]))

    def domain_str(self) -> str:
        parts = []
        for lab, lo, hi, (clo, chi) in zip(self.labels, self.lower, self.upper, self.closed):
            parts.append(f"{lab} ∈ {'[' if clo else '('}{_fmt(lo)}, {_fmt(hi)}{']' if chi else ')'}")
        return ", ".join(parts)

    def __repr__(self):
        return f"Field(name={self.name!r}, dim={self.dim}, params={_short(self.params)}, domain: {self.domain_str()})"


def _fmt(v: float) -> str:
    return "∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:g}"


def _short(params) -> str:
    if isinstance(params, dict):
        return "{" + ", ".join(f"{k}={np.asarray(v).tolist() if _is_concrete(v) else '<traced>'}" for k, v in params.items()) + "}"
    return type(params).__name__


def _infer_dim(labels, lower, upper, rest):
    for seq in (labels, lower, upper):
        if seq is not None:
            return len(seq)
    if rest is not None:
        return int(rest.shape[-1])
    return None


def _float():
    return jnp.result_type(float)


# ----------------------------------------------------------------------------- pointwise


@functools.lru_cache(maxsize=None)
def _pointwise_velocity(game: _games.Game):
    # One function object per game, so jit caches hit across pd values.
    def velocity(params, z):
        d, pg = z[0], z[1]
        pd, d0 = params["pd"], params["d0"]
        vd = pd * game.df1(d) + pg * game.df2(d)
        vpg = game.f3(d) - game.f3(d0)
        return jnp.stack([vd, vpg]).astype(z.dtype)

    return velocity


def _pointwise_rest(params):
    return jnp.stack([params["d0"], params["pd"]])


def pointwise_field(game: _games.Game | str, pd) -> Field:
    """The article's pointwise field of a game at one point x with data density `pd`.

        dD/dt  = pd f1'(D) + pg f2'(D)
        dpg/dt = f3(D) - f3(D0)

    on `z = (D, pg)`, with rest point `(D0, pd)`, domain `D ∈ d_domain`, `pg ≥ 0`.

    **Arguments:**

    - `game`: a `Game` or a preset name (see `jaxgan.games.names()`).
    - `pd`: the data density at the point, positive and finite (may be a traced value).

    **Returns:** a `Field` of dimension 2 with labels `("D", "pg")`, `params = {"pd", "d0"}`
    and `meta["game"] = game`.

    **Raises:** `ValueError` for a non-positive or non-finite `pd`, an unknown game name, or
    a game whose `f1' + f2'` has no root (no rest point).
    """
    game = _games.get(game)
    dtype = _float()
    if _is_concrete(pd):
        try:
            pd_val = np.asarray(pd, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"pointwise_field argument `pd` must be a positive number; got {pd!r}.") from None
        if pd_val.shape != ():
            raise ValueError(f"pointwise_field argument `pd` must be a scalar; got shape {pd_val.shape}.")
        if not (np.isfinite(pd_val) and pd_val > 0):
            raise ValueError(f"pointwise_field argument `pd` must be positive and finite (a density); got {float(pd_val)}.")
    d0 = game.rest_d(dtype)
    lo, hi = game.d_domain
    return Field(
        _pointwise_velocity(game),
        {"pd": jnp.asarray(pd, dtype=dtype), "d0": jnp.asarray(d0, dtype=dtype)},
        rest_point=_pointwise_rest,
        lower=(lo, 0.0),
        upper=(hi, math.inf),
        closed=((False, False), (True, False)),
        name=game.name,
        labels=("D", "pg"),
        meta={"game": game, "kind": "pointwise"},
    )
