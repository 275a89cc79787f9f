"""The game on real networks: batches, the players' empirical objectives, penalties and the game field.

The discriminator network outputs a raw value `u(x) ∈ ℝ`; the GAN's output map sends it onto the
game's D-domain. On a batch of data `x_i` and of generated samples `G(z_j)` the players ascend

    Ĵ(θ_D) = mean_i f1(D(x_i)) + mean_j f2(D(G(z_j))) − penalty,    Î(θ_G) = mean_j f3(D(G(z_j))),

so the joint *game field* on the parameters is `v(θ) = (∇_θD Ĵ, ∇_θG Î)`. Besides `game_field`,
the names here are the building blocks of `jaxgan.neural`'s training and measurements.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._checks import check_int
from .data import standard_normal, uniform_pm1
from .spec import GAN

__all__ = ["game_field"]


def d_call(gan: GAN, td, sd, x, *, train: bool, key, update_stats: bool = False):
    """The discriminator's raw outputs `(B,)` at `x (B, *sample_shape)` and its new statistics."""
    return gan.d_player.call(td, sd, x, train=train, key=key, update_stats=update_stats)


class Batch(NamedTuple):
    """The random inputs of one update."""

    x: jax.Array  # (B, *sample_shape) data
    z: jax.Array  # (B, latent) noise
    eps: jax.Array  # (B, 1, …) uniform interpolation weights for WGAN-GP (broadcast over a sample)
    keys: Any  # (3,) dropout keys for G, D(real), D(fake); None without dropout


def needs_keys(gan: GAN) -> bool:
    """Whether either network has dropout (and so needs random keys in train mode)."""
    return gan.d_player.dropout or gan.g_player.dropout


def draw_batch(gan: GAN, key, n: int) -> Batch:
    """Data, noise, the GP interpolation weights and dropout keys of one update, from one draw
    (`n` static)."""
    d, L = gan.data.n_uniforms, gan.latent_dim
    u = uniform_pm1(key, (n, 1 + d + L))
    x = gan.data.from_uniforms(u[:, :d])
    z = standard_normal(u[:, d:d + L])
    eps = (0.5 * (u[:, -1:] + 1.0)).reshape((n,) + (1,) * len(gan.data.sample_shape))
    keys = jax.random.split(jax.random.fold_in(key, 1), 3) if needs_keys(gan) else None
    return Batch(x, z, eps, keys)


def dropout_key(batch: Batch, i: int):
    """Dropout key `i` of the batch (0: G, 1: D on data, 2: D on generated samples), or None."""
    return None if batch.keys is None else batch.keys[i]


def d_objective(gan: GAN, td, sd, fake, batch: Batch, *, update_stats: bool):
    """Ĵ − penalty at θ_D for fixed generated samples; returns `(value, (Ĵ, penalty, new_stats))`."""
    u_real, sd1 = d_call(gan, td, sd, batch.x, train=True, key=dropout_key(batch, 1), update_stats=update_stats)
    u_fake, sd2 = d_call(gan, td, sd1, fake, train=True, key=dropout_key(batch, 2), update_stats=update_stats)
    om, game = gan.d_output, gan.game
    j = jnp.mean(jax.vmap(game.f1)(om(u_real))) + jnp.mean(jax.vmap(game.f2)(om(u_fake)))
    pen = penalty(gan, td, sd, batch, fake)
    return j - pen, (j, pen, sd2)


def penalty(gan: GAN, td, sd, batch: Batch, fake):
    """The discriminator's gradient penalty (R1, R2 or WGAN-GP; see `GAN`), a scalar."""
    if gan.penalty is None or gan.penalty_weight == 0.0:
        return jnp.zeros((), batch.x.dtype)
    def raw_sum(x, key):
        return jnp.sum(d_call(gan, td, sd, x, train=True, key=key)[0])

    def sq_norms(g):  # ‖∇ₓ u‖² per sample, over every axis of a sample
        return jnp.sum((g * g).reshape(g.shape[0], -1), axis=1)

    if gan.penalty == "r1":
        g = jax.grad(raw_sum)(batch.x, dropout_key(batch, 1))
        return 0.5 * gan.penalty_weight * jnp.mean(sq_norms(g))
    if gan.penalty == "r2":
        g = jax.grad(raw_sum)(fake, dropout_key(batch, 2))
        return 0.5 * gan.penalty_weight * jnp.mean(sq_norms(g))
    xhat = batch.eps * batch.x + (1.0 - batch.eps) * fake
    g = jax.grad(raw_sum)(xhat, dropout_key(batch, 1))
    norm = jnp.sqrt(sq_norms(g) + jnp.finfo(g.dtype).tiny)
    return gan.penalty_weight * jnp.mean((norm - 1.0) ** 2)


def generate(gan: GAN, tg, sg, z, key, *, update_stats: bool = False):
    """Generated samples `(B, *sample_shape)` in train mode at latent points `z (B, latent)`, and the
    new statistics."""
    out, sg = gan.g_player.call(tg, sg, z, train=True, key=key, update_stats=update_stats)
    return out.reshape((z.shape[0], *gan.data.sample_shape)), sg


def g_objective(gan: GAN, tg, sg, td, sd, batch: Batch, *, update_stats: bool):
    """Î at θ_G; returns `(Î, new generator stats)`."""
    fake, sg1 = generate(gan, tg, sg, batch.z, dropout_key(batch, 0), update_stats=update_stats)
    u_fake, _ = d_call(gan, td, sd, fake, train=True, key=dropout_key(batch, 2))
    return jnp.mean(jax.vmap(gan.game.f3)(gan.d_output(u_fake))), sg1


def field_parts(gan: GAN, td, tg, sd, sg, batch: Batch):
    """The game field `(∇_θD(Ĵ − pen), ∇_θG Î)` on one batch, train mode, no state change."""
    # No stop_gradient on the samples: ∂(∇_θD Ĵ)/∂θ_G is the coupling block of the game Jacobian.
    fake, _ = generate(gan, tg, sg, batch.z, dropout_key(batch, 0))
    gd = jax.grad(lambda t: d_objective(gan, t, sd, fake, batch, update_stats=False)[0])(td)
    gg = jax.grad(lambda t: g_objective(gan, t, sg, td, sd, batch, update_stats=False)[0])(tg)
    return gd, gg


def game_field(gan: GAN, state, batch_key, batch_size: int | None = None):
    """The game field `v(θ) = (∇_θD Ĵ, ∇_θG Î)` of `gan` on one fixed batch, as a function.

    **Arguments:** `gan`; `state`: a `TrainState` (its running statistics are held fixed);
    `batch_key`: PRNG key of the fixed batch (data, noise, dropout masks); `batch_size`
    (default `gan.batch_size`).

    **Returns:** `(v, theta)`: `v(theta) -> theta-shaped pytree` (`theta = (θ_D, θ_G)`, the
    trainable parameters) and the current `theta`. For `jacobian_eigenvalues` and `path_angle`.

    **Raises:** `ArgumentError`/`ArgumentTypeError` for a `batch_size` that is not a positive int.
    """
    n = gan.batch_size if batch_size is None else check_int("game_field", "batch_size", batch_size)
    batch = draw_batch(gan, batch_key, n)

    def v(theta):
        td, tg = theta
        return field_parts(gan, td, tg, state.sd, state.sg, batch)

    return v, (state.td, state.tg)
