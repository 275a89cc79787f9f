"""The kernel-induced (non-pointwise) GAN field of the article's Section 3, on a grid of points.

With the discriminator parametrised by `θ`, it moves in function space through a kernel `K_D`
(the parametric kernel, or empirical neural tangent kernel: `jaxgan.kernels.parametric_kernel`
computes it for a network); the generator's density through `K_G`. This module only needs the
kernels as matrices on the points.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from .. import games as _games
from .._checks import check_choice, check_matrix, check_values
from .field import Field

__all__ = ["kernel_field"]

_CONSTANTS = ("lagrange", "d0")


def _mm(a, b):
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


@dataclasses.dataclass(frozen=True)
class _KernelVelocity:
    """`velocity(params, z)` of a kernel field. A value (equal for the same game, constant and
    generator kind), so kernel fields of one kind share compiled code whatever their numbers."""

    game: _games.Game
    constant: str
    free_generator: bool

    def __call__(self, params, z):
        game = self.game
        n = params["w"].shape[0]
        d, pg = z[:n], z[n:]
        w, pd = params["w"], params["pd"]
        grad_d = pd * jax.vmap(game.df1)(d) + pg * jax.vmap(game.df2)(d)  # ∂J/∂D at each point
        vd = _mm(params["K_D"], w * grad_d)
        f3d = jax.vmap(game.f3)(d)
        if self.constant == "d0":
            r = w * (f3d - game.f3(params["d0"]))
            vpg = r / w if self.free_generator else _mm(params["K_G"], r)
        else:
            # Lagrange multiplier of Σ w pg = const in the metric K_G:
            # dpg = K_G W (f3(D) - c 1), c = wᵀ K_G W f3 / wᵀ K_G w.
            if self.free_generator:
                u, s = f3d, jnp.ones_like(w)
            else:
                u, s = _mm(params["K_G"], w * f3d), _mm(params["K_G"], w)
            c = jnp.dot(w, u) / jnp.dot(w, s)
            vpg = u - c * s
        return jnp.concatenate([vd, vpg]).astype(z.dtype)


def _kernel_rest(params):
    n = params["w"].shape[0]
    return jnp.concatenate([jnp.full((n,), params["d0"]), params["pd"]])


def kernel_field(game, pd, weights, K_D, K_G=None, *, constant: str = "lagrange", name: str | None = None) -> Field:
    """The kernel-induced (non-pointwise) GAN field on points `x_1..x_n` with weights `w_i`.

    The article's function-space dynamics (Section 3) discretised on a grid: with `g_j` the
    variational derivative of the discriminator's objective at `x_j`,

        dD_i/dt  = Σ_j K_D(x_i, x_j) w_j [pd_j f1'(D_j) + pg_j f2'(D_j)]
        dpg_i/dt = Σ_j K_G(x_i, x_j) w_j [f3(D_j) - c]

    on the state `z = (D_1..D_n, pg_1..pg_n)`. The generator's `c`:

    - `constant="lagrange"` (default): the Lagrange multiplier that keeps `Σ_j w_j pg_j` fixed
      (the normalisation of the density pg), `c = wᵀ K_G W f3(D) / wᵀ K_G w` — the projection of
      the generator's update onto mass-preserving directions. At the rest point `c = f3(D0)`:
      the Lagrange constant is the article's `f3(D0)`. The mass `Σ w pg` is conserved exactly, so
      the Jacobian has one structural zero eigenvalue (left eigenvector `(0, w)`) and
      `jaxgan.analyze` calls the rest point "degenerate"; `jaxgan.kernels.field_eigenvalues`
      gives the spectrum on the mass-preserving subspace.
    - `constant="d0"`: the article's constant `c = f3(D0)` (no conservation).

    With `K_D = K_G = diag(1/w)` (a free-form discriminator and generator) and `constant="d0"`
    every pair `(D_i, pg_i)` follows exactly the pointwise field `jaxgan.pointwise_field(game,
    pd_i)`; with `"lagrange"` the same up to the shared constant `c(D)` in place of `f3(D0)`.

    **Arguments:**

    - `game`: a `Game` or preset name.
    - `pd`: `Float[Array, "n"]`, the data density at the points (positive).
    - `weights`: `Float[Array, "n"]`, quadrature weights (positive), e.g. the grid spacing.
    - `K_D`: `Float[Array, "n n"]`, the discriminator's kernel on the points (normally symmetric
      PSD, e.g. from `jaxgan.kernels.parametric_kernel`).
    - `K_G`: `Float[Array, "n n"]`, the generator's kernel; default `None` = `diag(1/w)`, a
      free-form density.
    - `constant`: `"lagrange"` or `"d0"`, see above.
    - `name`: the field's name (default `"<game>/kernel"`).

    **Returns:** a `Field` of dimension `2n` with labels `D[i]`, `pg[i]`, players `(D…, pg…)`,
    domain `D_i ∈ game.d_domain`, `pg_i ≥ 0`, rest point `(D0, …, D0, pd_1, …, pd_n)`,
    `params = {"pd", "w", "K_D", "d0", ["K_G"]}` and `meta = {"game", "kind": "kernel", "constant"}`.
    Kernel fields of the same game, `constant` and generator kind (`K_G` given or not) share
    compiled code: new numbers never recompile.

    **Raises:** `ArgumentError` (a `ValueError`) naming the argument for weights or `pd` that are
    not positive or of the wrong length, kernels of the wrong shape or non-finite, an unknown
    `constant`, an unknown game name or a game without rest point; `ArgumentTypeError` for
    non-numeric arrays.
    """
    who = "kernel_field"
    game = _games.get(game, "kernel_field")
    check_choice(who, "constant", constant, _CONSTANTS)
    w = check_values(who, "weights", weights, sign="positive")
    n = w.shape[0]
    pd_arr = check_values(who, "pd", pd, sign="positive", size=n, what="a data density at each point")
    dtype = jnp.result_type(float)
    params = {"pd": jnp.asarray(pd_arr, dtype), "w": jnp.asarray(w, dtype),
              "K_D": jnp.asarray(check_matrix(who, "K_D", K_D, n), dtype),
              "d0": jnp.asarray(game.rest_d(dtype), dtype)}
    if K_G is not None:
        params["K_G"] = jnp.asarray(check_matrix(who, "K_G", K_G, n), dtype)
    lo, hi = game.d_domain
    return Field(
        _KernelVelocity(game, constant, K_G is None),
        params,
        rest_point=_kernel_rest,
        lower=(lo,) * n + (0.0,) * n,
        upper=(hi,) * n + (math.inf,) * n,
        closed=((False, False),) * n + ((True, False),) * n,
        name=name or f"{game.name}/kernel",
        labels=tuple(f"D[{i}]" for i in range(n)) + tuple(f"pg[{i}]" for i in range(n)),
        players=(tuple(range(n)), tuple(range(n, 2 * n))),
        meta={"game": game, "kind": "kernel", "constant": constant},
        param_rules={"pd": "positive", "w": "positive", "K_D": "any", "K_G": "any", "d0": "derived"},
    )
