"""One training update of both players, the training state, and the seeds' random keys."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .data import default_float
from .objectives import Batch, d_objective, draw_batch, dropout_key, g_objective, generate
from .spec import GAN, transformation

__all__ = ["TrainState", "init_state", "train_step"]


class TrainState(NamedTuple):
    """The training state of one seed: trainable parameters `td`, `tg`, running statistics `sd`,
    `sg` (None without BatchNorm) and the optimiser states `od`, `og` (an `Optimizer`'s state
    holds its hyper-parameters)."""

    td: Any
    tg: Any
    sd: Any
    sg: Any
    od: Any
    og: Any


def init_state(gan: GAN, key) -> TrainState:
    """Initial `TrainState` of `gan` from a PRNG key (host side: each player initialises on the host)."""
    kd, kg = jax.random.split(key)
    td, sd = gan.d_player.init(kd)
    tg, sg = gan.g_player.init(kg)
    return TrainState(td, tg, sd, sg, transformation(gan.d_optimizer).init(td),
                      transformation(gan.g_optimizer).init(tg))


def seed_keys(seeds: np.ndarray):
    """One key per seed, stacked: seed `s` (an int in `[0, 2³²)`) has the key `jax.random.key(s)`
    (JAX's default threefry2x32 generator)."""
    # threefry, not XLA's RngBitGenerator ("rbg"): under `vmap` the RngBitGenerator draws every
    # seed's bits from the *first* key of the batch, so a seed's run depended on its neighbours.
    # threefry's bits are a pure function of the key, identical alone, under vmap and sharded.
    return jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))


def split_seed_key(key):
    """`(k_init, k_train, k_eval)` of one seed's key: initial parameters, updates, measurements."""
    return jax.random.split(key, 3)


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves])) if leaves else jnp.asarray(True)


def _apply_updates(opt, grads_ascent, opt_state, theta):
    # optax minimises: each player's loss gradient is minus its ascent direction.
    updates, opt_state = transformation(opt).update(jax.tree_util.tree_map(jnp.negative, grads_ascent),
                                                    opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state


def d_update(gan: GAN, st: TrainState, batch: Batch, fake):
    """One discriminator update on `batch` against fixed generated samples; `(state, Ĵ, penalty)`."""
    (_, (j, pen, sd)), gd = jax.value_and_grad(
        lambda t: d_objective(gan, t, st.sd, fake, batch, update_stats=True), has_aux=True)(st.td)
    td, od = _apply_updates(gan.d_optimizer, gd, st.od, st.td)
    return st._replace(td=td, sd=sd, od=od), j, pen


def g_update(gan: GAN, st: TrainState, batch: Batch):
    """One generator update on `batch` against the state's discriminator; `(state, Î)`."""
    (i_val, sg), gg = jax.value_and_grad(
        lambda t: g_objective(gan, t, st.sg, st.td, st.sd, batch, update_stats=True), has_aux=True)(st.tg)
    tg, og = _apply_updates(gan.g_optimizer, gg, st.og, st.tg)
    return st._replace(tg=tg, sg=sg, og=og), i_val


def d_steps_of(gan: GAN, st: TrainState, key):
    """The discriminator updates of one alternating step drawn from `key`; returns the state after
    them, `(Ĵ, penalty)` of the last, and the key of the generator's batch."""
    keys = jax.random.split(key, gan.d_steps + 1)
    j = pen = jnp.zeros((), default_float())
    for s in range(gan.d_steps):  # d_steps is small and static
        batch = draw_batch(gan, keys[s], gan.batch_size)
        fake, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))
        st, j, pen = d_update(gan, st, batch, jax.lax.stop_gradient(fake))
    return st, (j, pen), keys[-1]


def train_step(gan: GAN, st: TrainState, key):
    """One update of both players (pure JAX).

    **Returns:** `(new_state, losses, finite)` where `losses = (Ĵ, penalty, Î)` and `finite`
    says whether every loss and parameter is finite.
    """
    if gan.update == "simultaneous":
        batch = draw_batch(gan, key, gan.batch_size)
        fake, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))
        new_d, j, pen = d_update(gan, st, batch, jax.lax.stop_gradient(fake))
        # The generator's gradient at the *old* discriminator (simultaneous), then merge.
        new_g, i_val = g_update(gan, st, batch)
        new = new_d._replace(tg=new_g.tg, sg=new_g.sg, og=new_g.og)
    else:
        new, (j, pen), g_key = d_steps_of(gan, st, key)
        new, i_val = g_update(gan, new, draw_batch(gan, g_key, gan.batch_size))
    losses = (j, pen, i_val)
    finite = _all_finite(losses) & _all_finite((new.td, new.tg, new.sd, new.sg))
    return new, losses, finite
