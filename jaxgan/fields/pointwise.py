"""The article's pointwise field of a game: the dynamics of `(D, pg)` at one point x."""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from .. import games as _games
from .._checks import check_scalar
from .field import Field

__all__ = ["pointwise_field"]


@dataclasses.dataclass(frozen=True)
class _PointwiseVelocity:
    """`velocity(params, z)` of a game's pointwise field. A value (equal for the same game), so
    every pointwise field of one game shares compiled code whatever its `pd`."""

    game: _games.Game

    def __call__(self, params, z):
        d, pg = z[0], z[1]
        pd, d0 = params["pd"], params["d0"]
        vd = pd * self.game.df1(d) + pg * self.game.df2(d)
        vpg = self.game.f3(d) - self.game.f3(d0)
        return jnp.stack([vd, vpg]).astype(z.dtype)


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
    and `meta = {"game": game, "kind": "pointwise"}`. Fields of the same game compile once:
    a new `pd` (or `field.replace(pd=...)`) never recompiles. `replace` checks `pd` as this
    function does and refuses `d0` (derived from the game).

    **Raises:** `ArgumentError` (a `ValueError`) for a non-positive or non-finite `pd` or one
    the working float cannot hold (1e-300 would become 0 in float32), an unknown game name, or a game whose `f1' + f2'` has no root (no rest point);
    `ArgumentTypeError` for a non-numeric `pd`.
    """
    game = _games.get(game, "pointwise_field")
    dtype = jnp.result_type(float)
    pd = check_scalar("pointwise_field", "pd", pd, sign="positive", what=" (a density)")
    d0 = game.rest_d(dtype)
    lo, hi = game.d_domain
    return Field(
        _PointwiseVelocity(game),
        {"pd": pd, "d0": jnp.asarray(d0, dtype=dtype)},
        rest_point=_pointwise_rest,
        lower=(lo, 0.0),
        upper=(hi, math.inf),
        closed=((False, False), (True, False)),
        name=game.name,
        labels=("D", "pg"),
        meta={"game": game, "kind": "pointwise"},
        param_rules={"pd": "positive", "d0": "derived"},
    )
