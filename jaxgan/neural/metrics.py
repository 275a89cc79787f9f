"""Distances between samples and densities: exact 1-D and sliced Wasserstein-1, histogram KL, KDE.

Pure JAX (jit-compiled): they run inside the compiled training program at every checkpoint.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["wasserstein_1d", "sliced_wasserstein", "histogram_kl", "kde", "cosine"]


@jax.jit
def wasserstein_1d(a, b) -> jax.Array:
    """The 1-Wasserstein distance between two 1-D samples (their empirical distributions), exactly.

    `W1 = ∫ |F_a(t) − F_b(t)| dt`, evaluated on the merged sorted sample (any sizes). For equal
    sizes this is `mean |sort(a) − sort(b)|` (the sorted-quantile form).

    **Arguments:** `a: Float[Array, "n"]`, `b: Float[Array, "m"]`. **Returns:** a scalar.
    """
    a = jnp.sort(jnp.ravel(a))
    b = jnp.sort(jnp.ravel(b))
    t = jnp.sort(jnp.concatenate([a, b]))
    fa = jnp.searchsorted(a, t[:-1], side="right") / a.shape[0]
    fb = jnp.searchsorted(b, t[:-1], side="right") / b.shape[0]
    return jnp.sum(jnp.abs(fa - fb) * jnp.diff(t))


def _directions(dim: int, n_proj: int, dtype) -> jax.Array:
    """Unit projection directions `(n_proj, dim)`: the identity in 1-D, even angles in 2-D, fixed random above."""
    if dim == 1:
        return jnp.ones((1, 1), dtype)
    if dim == 2:
        ang = jnp.pi * jnp.arange(n_proj, dtype=dtype) / n_proj
        return jnp.stack([jnp.cos(ang), jnp.sin(ang)], axis=1)
    g = jax.random.normal(jax.random.PRNGKey(0), (n_proj, dim), dtype)
    return g / jnp.linalg.norm(g, axis=1, keepdims=True)


@functools.partial(jax.jit, static_argnames=("n_proj",))
def sliced_wasserstein(a, b, n_proj: int = 16) -> jax.Array:
    """The sliced 1-Wasserstein distance: the mean of `wasserstein_1d` over projections.

    Deterministic directions: in 1-D the identity (so it *is* `W1`), in 2-D `n_proj` evenly
    spaced angles in [0, π), above that a fixed random set. Bonneel et al. 2015, "Sliced and Radon
    Wasserstein Barycenters of Measures".

    **Arguments:** `a: Float[Array, "n d"]`, `b: Float[Array, "m d"]`; `n_proj` (static).
    **Returns:** a scalar.
    """
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    dirs = _directions(a.shape[1], n_proj, a.dtype)
    return jnp.mean(jax.vmap(lambda u: wasserstein_1d(a @ u, b @ u))(dirs))


def _histogram(samples, edges: Sequence[jax.Array]) -> jax.Array:
    """Counts of `samples (n, d)` in the cells of a product grid; samples outside are dropped."""
    idx, inside, shape = [], jnp.ones(samples.shape[0], bool), []
    for a, e in enumerate(edges):
        i = jnp.searchsorted(e, samples[:, a], side="right") - 1
        inside = inside & (i >= 0) & (i < e.shape[0] - 1)
        idx.append(jnp.clip(i, 0, e.shape[0] - 2))
        shape.append(e.shape[0] - 1)
    flat = jnp.ravel_multi_index(tuple(idx), tuple(shape), mode="clip")
    counts = jnp.zeros(int(np.prod(shape)), samples.dtype).at[flat].add(inside.astype(samples.dtype))
    return counts.reshape(shape)


@jax.jit
def histogram_kl(p_masses, samples, edges, alpha: float = 0.5) -> jax.Array:
    """`KL(pd ‖ pg)` on a histogram grid: exact data cell masses against generator counts.

    `KL = Σ_c p_c log(p_c / q_c)` with `p` the data's cell masses renormalised over the grid and
    `q_c = (count_c + α) / (n + α·cells)` (additive smoothing keeps it finite when a cell is empty).

    **Arguments:** `p_masses`: cell masses of the data (e.g. `GaussianMixture.bin_masses(edges)`);
    `samples: Float[Array, "n d"]`; `edges`: one increasing array per axis; `alpha > 0`.

    **Returns:** a scalar ≥ 0 (up to the smoothing).
    """
    samples = jnp.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    p = jnp.asarray(p_masses, samples.dtype)
    p = p / jnp.sum(p)
    counts = _histogram(samples, [jnp.asarray(e, samples.dtype) for e in edges])
    q = (counts + alpha) / (samples.shape[0] + alpha * counts.size)
    return jnp.sum(jnp.where(p > 0, p * (jnp.log(jnp.where(p > 0, p, 1.0)) - jnp.log(q)), 0.0))


@jax.jit
def kde(samples, x, bandwidth) -> jax.Array:
    """Gaussian kernel density estimate.

    **Arguments:** `samples: Float[Array, "n d"]` (or `(n,)`), `x: Float[Array, "m d"]` (or `(m,)`),
    `bandwidth > 0`. **Returns:** `Float[Array, "m"]`.
    """
    samples, x = jnp.asarray(samples), jnp.asarray(x)
    if samples.ndim == 1:
        samples = samples[:, None]
    if x.ndim == 1:
        x = x[:, None]
    d = samples.shape[1]
    sq = jnp.sum((x[:, None, :] - samples[None]) ** 2, axis=-1)
    return jnp.mean(jnp.exp(-0.5 * sq / bandwidth ** 2), axis=1) / (2 * jnp.pi * bandwidth ** 2) ** (d / 2)


def cosine(a, b) -> jax.Array:
    """The cosine between two flat vectors; NaN when either is (numerically) zero."""
    na, nb = jnp.linalg.norm(a), jnp.linalg.norm(b)
    tiny = jnp.finfo(a.dtype).tiny
    return jnp.where((na > tiny) & (nb > tiny), jnp.vdot(a, b) / jnp.maximum(na * nb, tiny), jnp.nan)
