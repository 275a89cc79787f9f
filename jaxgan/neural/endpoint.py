"""The landscape at the end of training (Berard et al. 2020): the game Jacobian's top eigenvalues, each
player's loss-Hessian extremes and the path-angle, all seeds at once in one compiled program.

Conventions (those of `jaxgan.neural`): the game field is the players' *ascent* directions
`v(θ) = (∇_θD Ĵ, ∇_θG Î)`, so a stable rest point has game-Jacobian eigenvalues with `Re λ < 0`
(Berard et al. use the loss gradients `−v`, whose eigenvalues are `−λ`: stable is `Re > 0` there;
the imaginary parts, the rotation, are the same up to sign). Each player's *loss* Hessian is
`∇²_θD(−Ĵ + penalty)` and `∇²_θG(−Î)` (minimisation convention): a local Nash equilibrium has both
minimum eigenvalues `≥ 0`.

Everything is measured on one fixed batch of `n_big` data and noise samples per seed (larger than
a training batch, so that the field is closer to its expectation), with the running statistics
of BatchNorm held fixed and the networks in train mode, as in the training objectives.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .compiled import ProgramCache
from .metrics import cosine
from .measurements import game_hessenberg, hessian_extremes, player_hessians
from .objectives import draw_batch, dropout_key, field_parts, generate
from .spec import ProgramKey

__all__ = ["EndSizes", "EndPoint", "end_point", "lanczos_extremes", "path_alphas"]


_N_SAMPLES = 512  # generated samples kept per seed (for the figures)


class EndSizes(NamedTuple):
    """The static sizes of the end-of-training measurements (part of the compile key).

    `n_big`: samples of the fixed batch; `arnoldi`: Arnoldi steps on the game Jacobian (its top
    Ritz values by modulus); `lanczos`: Lanczos steps on each player's loss Hessian (its extreme
    Ritz values); `n_path`: points of the path-angle on α ∈ [0, 1.2]; `n_zoom`: points on each side
    of α = 1 of the zoom (|α − 1| from 1e-4 to 0.2, log-spaced)."""

    n_big: int
    arnoldi: int
    lanczos: int
    n_path: int
    n_zoom: int


class EndPoint(NamedTuple):
    """The end-of-training measurements of all seeds (numpy, leading axis: seeds `S`).

    - `game_h`, `game_k`: the Arnoldi Hessenberg matrices `(S, m, m)` and valid sizes `(S,)` of the
      game Jacobian (`jaxgan.stability.krylov.ritz_values` turns them into eigenvalues).
    - `hess_d`, `hess_g`: `(S, 2)`: `(min, max)` Ritz values of the discriminator's and the
      generator's loss Hessians (Lanczos: the min is an upper bound of the true minimum, the max a
      lower bound of the true maximum; both converge first).
    - `alphas (n,)`, `cosines (S, n)`, `norms (S, n)`: the path-angle from the initial to the final
      parameters and ‖v(θ_α)‖, on α ∈ [0, 1.2]; `zoom_alphas (2 n_zoom + 1,)`, `zoom_cosines`,
      `zoom_norms`: the same near α = 1.
    - `samples`: `(S, min(n_big, 512), *sample_shape)`: generated samples of the fixed batch.
    """

    game_h: np.ndarray
    game_k: np.ndarray
    hess_d: np.ndarray
    hess_g: np.ndarray
    alphas: np.ndarray
    cosines: np.ndarray
    norms: np.ndarray
    zoom_alphas: np.ndarray
    zoom_cosines: np.ndarray
    zoom_norms: np.ndarray
    samples: np.ndarray


def path_alphas(n_path: int, n_zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """`(alphas, zoom_alphas)`: `n_path` points on [0, 1.2] and `1 ± geomspace(1e-4, 0.2, n_zoom)` with 1."""
    side = np.geomspace(1e-4, 0.2, n_zoom)
    return np.linspace(0.0, 1.2, n_path), np.concatenate([1.0 - side[::-1], [1.0], 1.0 + side])


def lanczos_extremes(H, k) -> np.ndarray:
    """`(min, max)` of `measurements.hessian_extremes`, as an array."""
    return np.array(hessian_extremes(H, k))


def _one_seed(gan, sz: EndSizes, alphas, zoom, st, t0, key):
    """The measurements of one seed (pure JAX): `(H, k, Hd, kd, Hg, kg, cos, norms, zcos, znorms, samples)`."""
    k_batch, k_arn, k_d, k_g = jax.random.split(key, 4)
    batch = draw_batch(gan, k_batch, sz.n_big)
    theta, unravel = ravel_pytree((st.td, st.tg))

    def v_flat(t):
        td, tg = unravel(t)
        return ravel_pytree(field_parts(gan, td, tg, st.sd, st.sg, batch))[0]

    H, k = game_hessenberg(gan, st, batch, jax.random.normal(k_arn, theta.shape, theta.dtype), sz.arnoldi)
    # Each player's loss Hessian on the same batch; the generated samples are fixed for D's.
    fake = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))[0]
    starts = jnp.concatenate([jax.random.normal(k, t.shape, t.dtype) for k, t in
                              ((k_d, ravel_pytree(st.td)[0]), (k_g, ravel_pytree(st.tg)[0]))])
    hess = player_hessians(gan, st, batch, fake, starts, sz.lanczos)
    (Hd, kd), (Hg, kg) = hess["hd"], hess["hg"]
    fake = jax.lax.stop_gradient(fake)

    delta = theta - t0

    def along(a):
        v = v_flat(t0 + a * delta)
        return cosine(v, delta), jnp.linalg.norm(v)

    c, n = jax.lax.map(along, jnp.concatenate([alphas, zoom]).astype(theta.dtype))
    m = alphas.shape[0]
    return H, k, Hd, kd, Hg, kg, c[:m], n[:m], c[m:], n[m:], fake[:_N_SAMPLES]


@functools.partial(jax.jit, static_argnames=("program", "sz"))
def _end_jit(program: ProgramKey, sz: EndSizes, alphas, zoom, states, theta0, keys):
    return jax.vmap(lambda st, t0, k: _one_seed(program.gan, sz, alphas, zoom, st, t0, k))(states, theta0, keys)


_PROGRAMS = ProgramCache(_end_jit, limit=32)


def _compiled(program: ProgramKey, sz: EndSizes, args):
    """`_end_jit` compiled with XLA's backend optimisation off (a one-off measurement: compile time
    dominates), cached by GAN structure, sizes and argument shapes."""
    return _PROGRAMS((program, sz), tuple(args), fast="quick")


def end_point(result, sz: EndSizes, *, key=None) -> EndPoint:
    """Measure the end of a `TrainResult` (every seed, one compiled program per GAN structure and sizes).

    **Arguments:** `result`: a `TrainResult` (its `final` state and `theta0`); `sz`: `EndSizes`;
    `key`: PRNG key of the fixed batches and start vectors (default: `PRNGKey(12)` folded with
    each seed's value, so a seed's measurement does not depend on the other seeds).

    **Returns:** an `EndPoint`. A diverged seed's rows are NaN-free numbers of its frozen state;
    callers mask them with its fate.
    """
    from .spec import program_key

    base = jax.random.PRNGKey(12) if key is None else key
    keys = jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.asarray(result.seeds, jnp.uint32))
    dtype = jax.tree_util.tree_leaves(result.final.td)[0].dtype
    alphas, zoom = path_alphas(sz.n_path, sz.n_zoom)
    args = (jnp.asarray(alphas, dtype), jnp.asarray(zoom, dtype), result.final, jnp.asarray(result.theta0, dtype),
            keys)
    out = _compiled(program_key(result.gan), sz, args)(*args)
    H, k, Hd, kd, Hg, kg, c, n, zc, zn, x = (np.asarray(a) for a in out)
    hess_d = np.stack([lanczos_extremes(h, i) for h, i in zip(Hd, kd)])
    hess_g = np.stack([lanczos_extremes(h, i) for h, i in zip(Hg, kg)])
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    return EndPoint(H, k, hess_d, hess_g, alphas, f64(c), f64(n), zoom, f64(zc), f64(zn), x)
