"""Real networks: 1-D (and 2-D) GAN training with MLPs, and measurements of its dynamics.

The article (see `shared/seed/NOTES.md`) studies the *pointwise* field, where each x evolves on
its own, and claims from unpublished experiments that real training is hard "because of the
parametrisation": "BatchNorm in any network immediately turns the field into a closed one;
ReLU works better". This module trains real networks so that such claims can be measured:

- **data**: `GaussianMixture` (1-D default, 2-D too), a frozen spec with `sample` and `density`;
- **training**: `GAN` (the spec: data, game, `Net` discriminator and generator, one optax
  optimiser per player, simultaneous or alternating updates, R1 / R2 / WGAN-GP penalties) and
  `train(gan, seeds, steps=...)`: one jit-compiled `lax.scan` over checkpoints, all seeds at
  once with `vmap`, a `Fate` per seed (a non-finite loss or parameter freezes that seed and
  marks it diverged with the update it happened at — never a silent NaN);
- **measurements** along training, every `measure_every` updates: the 1-D Wasserstein distance
  between samples (sliced in 2-D) and the KL divergence on a histogram grid; D on a grid of x and
  a kernel density estimate of pg there; the cosine between the game field and the step between
  checkpoints (`path_angle` gives the full path-angle of Berard et al. 2020); the leading
  eigenvalues of the game Jacobian by Arnoldi iteration on its Jacobian-vector product
  (rotation vs attraction); and the article's kernel-induced prediction of the next change of D
  (the eval-mode parametric kernel times the variational derivatives, the product of
  `jaxgan.kernels.kernel_vp`) against the change the optimiser actually makes;
- **the experiment** `batchnorm_experiment`: ReLU / leaky ReLU / tanh, each plain, with
  BatchNorm and with dropout, many seeds, one table (also `jaxgan experiment batchnorm`).

**The game on real networks.** The discriminator network outputs a raw value `u(x) ∈ ℝ`; an
output map (`OutputMap`) sends it onto the game's D-domain (sigmoid for (0, 1), an affine
sigmoid for (lo, hi), softplus for half-lines, the identity for ℝ). On a batch of data `x_i` and
of generated samples `G(z_j)` the players ascend the empirical objectives of the article,

    Ĵ(θ_D) = mean_i f1(D(x_i)) + mean_j f2(D(G(z_j))) − penalty,    Î(θ_G) = mean_j f3(D(G(z_j))),

so the joint *game field* on the parameters is `v(θ) = (∇_θD Ĵ, ∇_θG Î)` (each optax optimiser
is fed the gradient of its player's loss, `-∇Ĵ` and `-∇Î`). With BatchNorm the networks run in
train mode during training (batch statistics; the discriminator sees the data batch and the
generated batch as two separate batches, as in the usual reference implementations) and D on
the measurement grid is evaluated in eval mode (running statistics).

**Numbers.** float32 by default, float64 when x64 is enabled. The output map is clipped one ulp
inside finite ends of the domain, so a saturated discriminator gives large but finite losses (and
a vanishing gradient, like PyTorch's clamped `BCELoss`) rather than `log 0`. The random streams
use JAX's `"rbg"` generator (XLA's RngBitGenerator; far cheaper to compile on CPU than threefry);
a seed's run is the same bit for bit alone or batched with other seeds, on one machine.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from . import games as _games
from . import kernels as _kernels
from ._checks import check_float, check_int
from . import nets as _nets
from .dynamics import Fate

__all__ = [
    "GaussianMixture", "gaussian_mixture", "default_data", "Net", "OutputMap", "output_map", "GAN",
    "train", "TrainResult", "wasserstein_1d", "sliced_wasserstein", "histogram_kl", "kde",
    "path_angle", "arnoldi", "jacobian_eigenvalues", "rotation_index", "game_field",
    "batchnorm_experiment", "ExperimentResult", "EXPERIMENT_SIZES", "PENALTIES", "UPDATES", "VARIANTS",
    "classify", "winding_turns", "init_state", "train_step", "TrainState",
]

PENALTIES = ("r1", "r2", "wgan_gp")
UPDATES = ("simultaneous", "alternating")


def _float():
    return jnp.result_type(float)


def _uniform_pm1(key, shape, dtype=None):
    """Uniforms on the open interval (-1, 1) (as `jax.random.normal` draws them before `erfinv`)."""
    dtype = dtype or _float()
    lo = jnp.nextafter(jnp.asarray(-1.0, dtype), jnp.asarray(0.0, dtype))
    return jax.random.uniform(key, shape, dtype, minval=lo, maxval=1.0)


# ============================================================================ data


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """A mixture of isotropic Gaussians in d dimensions: `pd(x) = Σ_k w_k N(x; μ_k, σ_k² I)`.

    A small frozen (hashable) spec; build it with `gaussian_mixture` (which validates and
    normalises) or directly.

    **Arguments:**

    - `means`: `k` means, each a tuple of `d` floats (`((-2.0,), (2.0,))` in 1-D).
    - `stds`: `k` standard deviations, positive.
    - `weights`: `k` non-negative weights with a positive sum (normalised to sum 1).

    **Raises:** `ValueError` for negative, non-finite or zero-sum weights, non-positive stds,
    means of different dimensions, or lengths that disagree; `TypeError` for non-numbers.
    """

    means: tuple
    stds: tuple
    weights: tuple

    def __post_init__(self):
        who = "GaussianMixture"
        try:
            means = np.asarray(self.means, dtype=np.float64)
            stds = np.asarray(self.stds, dtype=np.float64)
            weights = np.asarray(self.weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{who}: `means`, `stds` and `weights` must be numbers (means: one vector per "
                            f"component); got means={self.means!r}, stds={self.stds!r}, "
                            f"weights={self.weights!r}.") from None
        if means.ndim == 1:
            means = means[:, None]
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(f"{who} argument `means` must be k means of one common dimension d, shape (k,) or "
                             f"(k, d); got shape {means.shape}.")
        k = means.shape[0]
        if stds.shape != (k,) or weights.shape != (k,):
            raise ValueError(f"{who}: `means`, `stds` and `weights` must have the same length k; got "
                             f"{k} means, stds of shape {stds.shape} and weights of shape {weights.shape}.")
        if not np.all(np.isfinite(means)):
            raise ValueError(f"{who} argument `means` must be finite; got {means.tolist()}.")
        if not np.all(np.isfinite(stds) & (stds > 0)):
            raise ValueError(f"{who} argument `stds` must be positive and finite (a Gaussian needs σ > 0); "
                             f"got {stds.tolist()}.")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"{who} argument `weights` must be non-negative and finite (a distribution); got "
                             f"{weights.tolist()}.")
        if not weights.sum() > 0:
            raise ValueError(f"{who} argument `weights` must have a positive sum (a distribution); got "
                             f"{weights.tolist()}.")
        weights = weights / weights.sum()
        object.__setattr__(self, "means", tuple(tuple(float(v) for v in m) for m in means))
        object.__setattr__(self, "stds", tuple(float(s) for s in stds))
        object.__setattr__(self, "weights", tuple(float(w) for w in weights))

    @property
    def dim(self) -> int:
        """The dimension d of x."""
        return len(self.means[0])

    @property
    def n_components(self) -> int:
        return len(self.stds)

    def _arrays(self, dtype=None):
        dtype = dtype or _float()
        return (jnp.asarray(self.means, dtype), jnp.asarray(self.stds, dtype), jnp.asarray(self.weights, dtype))

    def mean(self) -> np.ndarray:
        """The mixture's mean, shape `(d,)`."""
        return np.asarray(self.weights) @ np.asarray(self.means)

    def std(self) -> float:
        """The root-mean-square spread `sqrt(E‖x − E x‖² / d)` of the mixture."""
        m, s, w = np.asarray(self.means), np.asarray(self.stds), np.asarray(self.weights)
        mu = w @ m
        second = np.sum(w * (s ** 2 * self.dim + np.sum((m - mu) ** 2, axis=1)))
        return float(np.sqrt(second / self.dim))

    def sample(self, key, n: int) -> jax.Array:
        """`n` samples, `Float[Array, "n d"]` (pure JAX; `n` static; one uniform draw of shape `(n, 1 + d)`)."""
        u = _uniform_pm1(key, (n, 1 + self.dim))
        return self._transform(u[:, 0], u[:, 1:])

    def _transform(self, u_comp, u_gauss):
        """Samples from uniforms on (-1, 1): column `u_comp (n,)` picks the component by inverse CDF,
        `u_gauss (n, d)` become standard normals by `√2 erfinv` (one random draw per batch keeps the
        compiled program small)."""
        means, stds, weights = self._arrays(u_gauss.dtype)
        cum = jnp.cumsum(weights)[:-1]
        comp = jnp.sum((0.5 * (u_comp + 1.0))[:, None] >= cum[None, :], axis=1)
        eps = jnp.sqrt(2.0).astype(u_gauss.dtype) * jax.scipy.special.erfinv(u_gauss)
        return means[comp] + stds[comp][:, None] * eps

    def density(self, x, smooth: float = 0.0) -> jax.Array:
        """`pd(x)` for `x: Float[Array, "n d"]` (or `(n,)` when d = 1) → `Float[Array, "n"]`.

        `smooth > 0` gives the density convolved with `N(0, smooth² I)` — the expectation of a
        Gaussian kernel density estimate with bandwidth `smooth` (what `kde` of data samples
        estimates).
        """
        x = jnp.asarray(x)
        means, stds, weights = self._arrays(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else None)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"density argument `x` must have shape (n, {self.dim})"
                             + (" or (n,)" if self.dim == 1 else "") + f"; got shape {x.shape}.")
        var = stds ** 2 + smooth ** 2
        sq = jnp.sum((x[:, None, :] - means[None]) ** 2, axis=-1)  # (n, k)
        comp = jnp.exp(-0.5 * sq / var) / (2 * jnp.pi * var) ** (self.dim / 2)
        return comp @ weights

    def box(self, width: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
        """A box holding the data: per axis `[min(μ − width·σ), max(μ + width·σ)]`; two arrays `(d,)`."""
        m, s = np.asarray(self.means), np.asarray(self.stds)[:, None]
        return (m - width * s).min(axis=0), (m + width * s).max(axis=0)

    def bin_masses(self, edges: Sequence[np.ndarray]) -> np.ndarray:
        """Exact probability of each histogram cell; `edges`: one increasing array per axis.

        **Returns:** shape `(len(edges[0]) - 1, ...)` (one axis per dimension), by the normal CDF
        (isotropic components factorise over axes).
        """
        from math import erf

        cdf = np.vectorize(lambda t: 0.5 * (1.0 + erf(t / math.sqrt(2.0))))
        total = 0.0
        for m, s, w in zip(self.means, self.stds, self.weights):
            per_axis = [np.diff(cdf((np.asarray(e, np.float64) - m[a]) / s)) for a, e in enumerate(edges)]
            cell = per_axis[0]
            for p in per_axis[1:]:
                cell = np.multiply.outer(cell, p)
            total = total + w * cell
        return np.asarray(total)

    def __repr__(self):
        comps = ", ".join(f"{w:.3g}·N({list(m) if self.dim > 1 else m[0]:}, {s:g}²)"
                          for m, s, w in zip(self.means, self.stds, self.weights))
        return f"GaussianMixture(d={self.dim}: {comps})"


def gaussian_mixture(means, stds, weights=None) -> GaussianMixture:
    """A validated `GaussianMixture`: `means` of shape `(k,)` (1-D) or `(k, d)`; `stds` one number
    for all components or `k` numbers; `weights` (default uniform) are normalised to sum 1.
    See `GaussianMixture` for the errors."""
    try:
        k = len(means)
    except TypeError:
        raise TypeError(f"gaussian_mixture argument `means` must be a sequence of k means; got {means!r}.") from None
    stds = (stds,) * k if np.ndim(stds) == 0 else tuple(np.ravel(np.asarray(stds, dtype=object)))
    weights = (1.0,) * k if weights is None else tuple(np.ravel(np.asarray(weights, dtype=object)))
    return GaussianMixture(tuple(means), stds, weights)


def default_data(dim: int = 1) -> GaussianMixture:
    """The default data: in 1-D two equal modes `N(±2, 0.5²)`; in 2-D four modes `N((±2, ±2), 0.5² I)`."""
    if dim == 1:
        return GaussianMixture(((-2.0,), (2.0,)), (0.5, 0.5), (0.5, 0.5))
    if dim == 2:
        return GaussianMixture(((-2.0, -2.0), (-2.0, 2.0), (2.0, -2.0), (2.0, 2.0)), (0.5,) * 4, (0.25,) * 4)
    raise ValueError(f"default_data argument `dim` must be 1 or 2; got {dim!r}.")


# ============================================================================ measurements (pure functions)


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

    **Arguments:** `a: Float[Array, "n d"]`, `b: Float[Array, "m d"]`. **Returns:** a scalar.
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
    """Gaussian kernel density estimate of `samples (n, d)` at points `x (m, d)`; shape `(m,)`."""
    samples, x = jnp.asarray(samples), jnp.asarray(x)
    if samples.ndim == 1:
        samples = samples[:, None]
    if x.ndim == 1:
        x = x[:, None]
    d = samples.shape[1]
    sq = jnp.sum((x[:, None, :] - samples[None]) ** 2, axis=-1)
    return jnp.mean(jnp.exp(-0.5 * sq / bandwidth ** 2), axis=1) / (2 * jnp.pi * bandwidth ** 2) ** (d / 2)


def _cosine(a, b) -> jax.Array:
    na, nb = jnp.linalg.norm(a), jnp.linalg.norm(b)
    tiny = jnp.finfo(a.dtype).tiny
    return jnp.where((na > tiny) & (nb > tiny), jnp.vdot(a, b) / jnp.maximum(na * nb, tiny), jnp.nan)


def path_angle(field: Callable, start, end, n: int = 21):
    """The path-angle of Berard et al. 2020 along the segment from `start` to `end`.

    For `θ_α = start + α (end − start)`, `α ∈ [0, 1]`, the cosine between the game field
    `v(θ_α)` and the segment's direction `end − start`. Near a rest point reached by attraction
    (a gradient field) the field points along the segment (cosine → 1); around a rest point the
    dynamics rotate about (a closed field) it is orthogonal to it (cosine → 0). Berard, Gidel,
    Almahairi, Vincent & Lacoste-Julien 2020, "A Closer Look at the Optimization Landscapes of
    Generative Adversarial Networks", ICLR (their Figure 2 plots exactly this curve, with `end`
    the end of training).

    **Arguments:** `field`: `v(θ)` on a pytree (or flat array) `θ`; `start`, `end`: two points of
    the same structure; `n ≥ 2`: points along the segment.

    **Returns:** `(alphas, cosines)`, two `Float[Array, "n"]` (NaN where `v(θ_α) = 0`).
    """
    n = check_int("path_angle", "n", n, 2)
    s, unravel = ravel_pytree(start)
    e, _ = ravel_pytree(end)
    if s.shape != e.shape:
        raise ValueError(f"path_angle: `start` and `end` must have the same structure; got {s.shape} and {e.shape}.")
    delta = e - s
    alphas = jnp.linspace(0.0, 1.0, n, dtype=s.dtype)

    def one(a):
        v, _ = ravel_pytree(field(unravel(s + a * delta)))
        return _cosine(v, delta)

    return alphas, jax.jit(jax.vmap(one))(alphas)


def arnoldi(matvec: Callable, v0, m: int):
    """`m` steps of the Arnoldi iteration on the linear operator `matvec` (pure JAX, jit-able).

    Builds an orthonormal basis `Q` of the Krylov space `span{v0, A v0, …}` and the Hessenberg
    matrix `H = Qᵀ A Q`, whose eigenvalues (Ritz values) approximate the eigenvalues of `A` of
    largest modulus first (Saad 2011, "Numerical Methods for Large Eigenvalue Problems", §6.3).
    Classical Gram-Schmidt applied twice ("CGS2") keeps `Q` orthonormal in float32. A breakdown
    (the Krylov space is invariant) stops the iteration; `H[:k, :k]` then holds exact eigenvalues.

    **Arguments:** `matvec`: `Float[Array, "p"] -> Float[Array, "p"]`; `v0`: start vector
    `(p,)`, non-zero; `m`: the number of steps (static, ≥ 1).

    **Returns:** `(H, k)`: `H: Float[Array, "m m"]` and `k` (int32 scalar), the number of valid
    columns (`m` unless the iteration broke down). Eigenvalues: `np.linalg.eigvals(H[:k, :k])`.
    """
    v0 = jnp.asarray(v0)
    p = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    Q = jnp.zeros((m + 1, p), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    H = jnp.zeros((m + 1, m), dtype)

    def body(j, carry):
        Q, H, k, alive, scale = carry
        w = matvec(Q[j])
        h1 = Q @ w
        w = w - Q.T @ h1
        h2 = Q @ w
        w = w - Q.T @ h2
        h = h1 + h2
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.linalg.norm(h))
        H = H.at[:, j].set(jnp.where(alive, h.at[j + 1].set(beta), 0.0))
        k = jnp.where(alive, j + 1, k)
        ok = alive & (beta > 100 * eps * jnp.maximum(scale, jnp.finfo(dtype).tiny))
        Q = Q.at[j + 1].set(jnp.where(ok, w / jnp.where(ok, beta, 1.0), 0.0))
        return Q, H, k, ok, scale

    init = (Q, H, jnp.int32(0), jnp.asarray(True), jnp.asarray(0.0, dtype))
    _, H, k, _, _ = jax.lax.fori_loop(0, m, body, init)
    return H[:m, :m], k


def _ritz(H: np.ndarray, k: int, top: int) -> np.ndarray:
    """The `top` Ritz values of largest modulus from one Hessenberg matrix (NaN-padded), host side."""
    out = np.full(top, np.nan + 1j * np.nan, np.complex128)
    k = int(k)
    if k < 1 or not np.all(np.isfinite(H[:k, :k])):
        return out
    ev = np.linalg.eigvals(np.asarray(H[:k, :k], np.float64))
    ev = ev[np.lexsort((-ev.imag, -np.abs(ev)))][:top]
    out[: ev.size] = ev
    return out


def jacobian_eigenvalues(field: Callable, theta, *, m: int = 20, top: int | None = None, key=None) -> np.ndarray:
    """Leading eigenvalues of the Jacobian of a field on parameters, by Jacobian-vector products.

    Arnoldi iteration (`arnoldi`) on `u ↦ ∂v/∂θ · u` (`jax.linearize` once, then `m` JVPs), so
    the `p×p` Jacobian is never formed. With `m ≥ p` the result is every eigenvalue.

    **Arguments:** `field`: `v(θ)` on a pytree `θ` (output with the same structure); `theta`:
    the point; `m`: Krylov steps (capped at the number of parameters); `top`: how many to return
    (default `m`); `key`: PRNG key for the start vector (default `PRNGKey(0)`).

    **Returns:** `Complex[Array, "top"]` (numpy), by decreasing modulus, NaN-padded after a
    breakdown.
    """
    flat, unravel = ravel_pytree(theta)
    m = min(check_int("jacobian_eigenvalues", "m", m), flat.shape[0])
    top = m if top is None else check_int("jacobian_eigenvalues", "top", top)
    key = jax.random.PRNGKey(0) if key is None else key

    @jax.jit
    def run(flat, key):
        f = lambda t: ravel_pytree(field(unravel(t)))[0]  # noqa: E731
        _, lin = jax.linearize(f, flat)
        v0 = jax.random.normal(key, flat.shape, flat.dtype)
        return arnoldi(lin, v0, m)

    H, k = run(flat, key)
    return _ritz(np.asarray(H), int(k), top)


def rotation_index(eigenvalues, axis=-1) -> np.ndarray:
    """`Σ|Im λ| / Σ|Re λ|` over the given eigenvalues (NaNs ignored): 0 for a purely attracting
    (or repelling) linearisation, ∞ for a pure rotation, 1 when rotation and attraction balance."""
    ev = np.asarray(eigenvalues)
    with np.errstate(invalid="ignore", divide="ignore"):
        im = np.nansum(np.abs(ev.imag), axis=axis)
        re = np.nansum(np.abs(ev.real), axis=axis)
        out = np.where(re > 0, im / np.where(re > 0, re, 1.0), np.where(im > 0, np.inf, np.nan))
    return out


# ============================================================================ networks and output maps


@dataclasses.dataclass(frozen=True)
class Net:
    """An MLP spec for `GAN` (built with `jaxgan.nets.mlp`).

    **Arguments:** `hidden`: hidden widths (each ≥ 1; `()` gives an affine map); `activation`:
    `"relu"`, `"leaky_relu"` or `"tanh"`; `batchnorm`: BatchNorm after each hidden layer;
    `dropout`: drop probability in [0, 1) after each hidden activation.

    **Raises:** `ValueError`/`TypeError` naming the argument (unknown activation, widths < 1,
    BatchNorm or dropout without a hidden layer, dropout outside [0, 1)).
    """

    hidden: tuple = (32, 32)
    activation: str = "relu"
    batchnorm: bool = False
    dropout: float = 0.0

    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise TypeError(f"Net argument `hidden` must be a sequence of widths; got {self.hidden!r}.")
        for h in hidden:
            if isinstance(h, bool) or not isinstance(h, (int, np.integer)):
                raise TypeError(f"Net argument `hidden` must hold ints; got {list(hidden)!r}.")
            if h < 1:
                raise ValueError(f"Net argument `hidden` must hold widths ≥ 1; got {list(hidden)!r}.")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        # nets.mlp validates activation, batchnorm, dropout (and refuses them without a hidden layer).
        _nets.mlp((1, *self.hidden, 1), self.activation, self.batchnorm, self.dropout)
        act = self.activation.strip().lower().replace("-", "_")
        object.__setattr__(self, "activation", _nets._ALIASES[act])
        object.__setattr__(self, "dropout", float(self.dropout))

    def build(self, d_in: int, d_out: int):
        """`(init, apply)` from `jaxgan.nets.mlp((d_in, *hidden, d_out), ...)`."""
        return _nets.mlp((d_in, *self.hidden, d_out), self.activation, self.batchnorm, self.dropout)

    def label(self) -> str:
        if not self.hidden:
            return "linear"
        extra = ("+BN" if self.batchnorm else "") + (f"+drop{self.dropout:g}" if self.dropout else "")
        return f"{self.activation}{extra}"


@dataclasses.dataclass(frozen=True)
class OutputMap:
    """The map from the discriminator's raw output `u ∈ ℝ` onto the game's D-domain.

    `kind`: `"identity"` (ℝ), `"sigmoid"` (`lo + (hi − lo)·σ(u)`, onto (lo, hi)), `"softplus"`
    (`lo + softplus(u)`, onto (lo, ∞)), `"neg_softplus"` (`hi − softplus(−u)`, onto (−∞, hi)),
    `"tanh"` (`tanh u`, onto (−1, 1)). All increasing; the result is clipped one ulp inside finite
    ends (floating-point saturation would otherwise reach them).
    """

    kind: str
    lo: float = -math.inf
    hi: float = math.inf

    def __call__(self, u):
        if self.kind == "identity":
            return u
        if self.kind == "sigmoid":
            s = jax.nn.sigmoid(u)
            d = s if (self.lo, self.hi) == (0.0, 1.0) else self.lo + (self.hi - self.lo) * s
        elif self.kind == "softplus":
            d = self.lo + jax.nn.softplus(u)
        elif self.kind == "neg_softplus":
            d = self.hi - jax.nn.softplus(-u)
        elif self.kind == "tanh":
            d = jnp.tanh(u)
        else:
            raise AssertionError(self.kind)
        # In floating point a saturated map lands *on* a finite end of the domain (sigmoid(20) == 1 in
        # float32), where the game's functions are infinite: keep D one ulp inside.
        dtype = np.dtype(jnp.result_type(d))
        return jnp.clip(d, _inside(self.lo, self.hi, dtype), _inside(self.hi, self.lo, dtype))

    @property
    def range(self) -> tuple[float, float]:
        return (self.lo, self.hi)

    def __str__(self):
        return {"identity": "identity", "sigmoid": f"sigmoid onto ({self.lo:g}, {self.hi:g})",
                "softplus": f"{self.lo:g} + softplus", "neg_softplus": f"{self.hi:g} − softplus(−u)",
                "tanh": "tanh"}[self.kind]


def _inside(end: float, other: float, dtype):
    """The float of `dtype` next to `end` towards `other` (a normal number: CPUs flush subnormals to
    zero), or None for an infinite end."""
    if not math.isfinite(end):
        return None
    v = np.nextafter(np.asarray(end, dtype), np.asarray(other, dtype))
    tiny = np.finfo(dtype).tiny
    if abs(v) < tiny:
        v = np.asarray(math.copysign(tiny, other - end), dtype)
    return float(v)


_NAMED_OUTPUTS = {"identity": OutputMap("identity"), "sigmoid": OutputMap("sigmoid", 0.0, 1.0),
                  "tanh": OutputMap("tanh", -1.0, 1.0), "softplus": OutputMap("softplus", 0.0, math.inf)}


def output_map(game, kind: str | OutputMap = "auto") -> OutputMap:
    """The output map for `game`'s D-domain (`"auto"`), or a named/given one checked against it.

    **Raises:** `ValueError` if the map's range is not inside the game's domain (the objectives
    would be evaluated outside it) or does not contain the rest value `D0` (training could never
    reach the rest point), or for an unknown name.
    """
    game = _games.get(game)
    lo, hi = game.d_domain
    if isinstance(kind, str) and kind == "auto":
        if math.isfinite(lo) and math.isfinite(hi):
            om = OutputMap("sigmoid", lo, hi)
        elif math.isfinite(lo):
            om = OutputMap("softplus", lo, math.inf)
        elif math.isfinite(hi):
            om = OutputMap("neg_softplus", -math.inf, hi)
        else:
            om = OutputMap("identity")
    elif isinstance(kind, OutputMap):
        om = kind
    elif isinstance(kind, str) and kind in _NAMED_OUTPUTS:
        om = _NAMED_OUTPUTS[kind]
    else:
        raise ValueError(f"GAN argument `d_output` must be 'auto', one of {', '.join(_NAMED_OUTPUTS)} or an "
                         f"OutputMap; got {kind!r}.")
    if om.lo < lo or om.hi > hi:
        raise ValueError(
            f"GAN: the discriminator's output map {om} has range ({om.lo:g}, {om.hi:g}), which is not inside "
            f"the D-domain ({lo:g}, {hi:g}) of game {game.name!r}; use d_output='auto'.")
    d0 = game.rest_d()
    if not (om.lo < d0 < om.hi):
        raise ValueError(
            f"GAN: the discriminator's output map {om} has range ({om.lo:g}, {om.hi:g}), which does not contain "
            f"the rest value D0 = {d0:g} of game {game.name!r}: the discriminator's output cannot meet the "
            f"game's rest point.")
    vals = [float(f(jnp.asarray(d0, jnp.float32))) for f in (game.f1, game.f2, game.f3)]
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"GAN: game {game.name!r} has non-finite objectives at its rest value D0 = {d0:g} "
                         f"(f1, f2, f3 = {vals}); its domain and functions disagree.")
    return om


# ============================================================================ the GAN spec


def _default_optimizer():
    return _DEFAULT_OPT


_DEFAULT_OPT = optax.adam(1e-3, b1=0.5, b2=0.999)


@dataclasses.dataclass(frozen=True)
class GAN:
    """Everything that defines one GAN training setup (hashable: it is the compile-cache key).

    **Arguments:**

    - `data`: a `GaussianMixture` (default `default_data(1)`).
    - `game`: a `jaxgan.Game` or preset name (default `"non_saturating"`); its `f1, f2, f3` act
      on the discriminator's output.
    - `discriminator`, `generator`: `Net` specs (default `Net()`: ReLU, hidden (32, 32)).
    - `latent_dim`: dimension of the generator's Gaussian noise (default 4).
    - `d_optimizer`, `g_optimizer`: optax `GradientTransformation`s (default: Adam, lr 1e-3,
      β = (0.5, 0.999)). Create an optimiser once and reuse it: it is part of the cache key.
    - `update`: `"simultaneous"` (both players from the same parameters and batch: the
      article's Euler scheme) or `"alternating"` (`d_steps` discriminator updates, each on a
      fresh batch, then one generator update against the new discriminator).
    - `d_steps`: discriminator updates per generator update (alternating only).
    - `penalty`: `None`, `"r1"`, `"r2"` or `"wgan_gp"`; `penalty_weight`: γ (R1/R2) or λ (GP).
      R1/R2 subtract `γ/2 · mean ‖∇ₓ u(x)‖²` on data / on generated samples from Ĵ (Mescheder,
      Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?", ICML);
      WGAN-GP subtracts `λ · mean (‖∇ₓ u(x̂)‖ − 1)²` at random interpolates `x̂` (Gulrajani et al.
      2017, "Improved Training of Wasserstein GANs", NeurIPS). `u` is the raw (pre-output-map)
      output, as in Mescheder et al.'s implementation.
    - `batch_size`: samples of data and of noise per update (≥ 2 with BatchNorm).
    - `d_output`: `"auto"` (see `output_map`), a name, or an `OutputMap`.

    **Raises:** `TypeError`/`ValueError` naming the argument; in particular for a game whose
    D-domain the output map cannot meet (see `output_map`).
    """

    data: GaussianMixture = None
    game: Any = "non_saturating"
    discriminator: Net = Net()
    generator: Net = Net()
    latent_dim: int = 4
    d_optimizer: Any = None
    g_optimizer: Any = None
    update: str = "simultaneous"
    d_steps: int = 1
    penalty: str | None = None
    penalty_weight: float = 1.0
    batch_size: int = 128
    d_output: Any = "auto"

    def __post_init__(self):
        who = "GAN"
        data = default_data(1) if self.data is None else self.data
        if not isinstance(data, GaussianMixture):
            raise TypeError(f"{who} argument `data` must be a GaussianMixture (see jaxgan.neural.gaussian_mixture); "
                            f"got {type(data).__name__}.")
        object.__setattr__(self, "data", data)
        try:
            game = _games.get(self.game)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{who} argument `game`: {exc}") from None
        object.__setattr__(self, "game", game)
        for name in ("discriminator", "generator"):
            if not isinstance(getattr(self, name), Net):
                raise TypeError(f"{who} argument `{name}` must be a jaxgan.neural.Net; got "
                                f"{type(getattr(self, name)).__name__}.")
        check_int(who, "latent_dim", self.latent_dim)
        for name in ("d_optimizer", "g_optimizer"):
            opt = getattr(self, name)
            if opt is None:
                object.__setattr__(self, name, _default_optimizer())
            elif not (hasattr(opt, "init") and hasattr(opt, "update") and callable(opt.update)):
                raise TypeError(f"{who} argument `{name}` must be an optax GradientTransformation; got "
                                f"{type(opt).__name__}.")
        if self.update not in UPDATES:
            raise ValueError(f"{who} argument `update` must be one of {', '.join(UPDATES)}; got {self.update!r}.")
        check_int(who, "d_steps", self.d_steps)
        if self.d_steps > 1 and self.update != "alternating":
            raise ValueError(f"{who} argument `d_steps` > 1 needs update='alternating'; got d_steps={self.d_steps} "
                             f"with update={self.update!r}.")
        if self.penalty is not None and self.penalty not in PENALTIES:
            raise ValueError(f"{who} argument `penalty` must be None or one of {', '.join(PENALTIES)}; got "
                             f"{self.penalty!r}.")
        object.__setattr__(self, "penalty_weight", check_float(who, "penalty_weight", self.penalty_weight,
                                                                sign="non-negative"))
        bmin = 2 if (self.discriminator.batchnorm or self.generator.batchnorm) else 1
        check_int(who, "batch_size", self.batch_size, bmin)
        object.__setattr__(self, "d_output", output_map(game, self.d_output))

    # -- the networks (cached per spec by nets.mlp being cheap; MLPApply is hashable)
    @property
    def d_net(self):
        return _build(self.discriminator, self.data.dim, 1)

    @property
    def g_net(self):
        return _build(self.generator, self.latent_dim, self.data.dim)

    def label(self) -> str:
        return f"D {self.discriminator.label()} / G {self.generator.label()}"


@functools.lru_cache(maxsize=None)
def _build(net: Net, d_in: int, d_out: int):
    return net.build(d_in, d_out)


# ============================================================================ objectives and the game field


def _split(params):
    """(trainable θ, running statistics or None) of a nets MLP's params dict."""
    theta = {k: v for k, v in params.items() if k != "batch_stats"}
    return theta, params.get("batch_stats")


def _merge(theta, stats):
    return theta if stats is None else {**theta, "batch_stats": stats}


def _net_call(apply, net: Net, theta, stats, x, *, train: bool, key, update_stats: bool = False):
    """apply in the right mode; returns (out, new_stats)."""
    params = _merge(theta, stats)
    kw = {"key": key} if (train and net.dropout > 0) else {}  # key is None without dropout
    if update_stats and train and net.batchnorm:
        out, new = apply(params, x, train=True, update_stats=True, **kw)
        return out, new["batch_stats"]
    return apply(params, x, train=train, **kw), stats


class _Batch(NamedTuple):
    x: jax.Array  # (B, d) data
    z: jax.Array  # (B, latent) noise
    eps: jax.Array  # (B, 1) uniform interpolation weights for WGAN-GP
    keys: Any  # (3,) dropout keys for G, D(real), D(fake); None without dropout


@functools.partial(jax.jit, static_argnums=(0, 2))
def _draw_batch(gan: GAN, key, n: int) -> _Batch:
    """Data, noise, the GP interpolation weights and dropout keys of one update, from one draw."""
    d, L = gan.data.dim, gan.latent_dim
    u = _uniform_pm1(key, (n, 2 + d + L))
    x = gan.data._transform(u[:, 0], u[:, 1:1 + d])
    z = jnp.sqrt(2.0).astype(u.dtype) * jax.scipy.special.erfinv(u[:, 1 + d:1 + d + L])
    eps = 0.5 * (u[:, -1:] + 1.0)
    keys = jax.random.split(jax.random.fold_in(key, 1), 3) if _needs_keys(gan) else None
    return _Batch(x, z, eps, keys)


def _k(batch: _Batch, i: int):
    return None if batch.keys is None else batch.keys[i]


def _needs_keys(gan: GAN) -> bool:
    return gan.discriminator.dropout > 0 or gan.generator.dropout > 0


def _d_objective(gan: GAN, td, sd, fake, batch: _Batch, *, update_stats: bool):
    """Ĵ − penalty at θ_D for fixed generated samples; returns (value, (Ĵ, penalty, new_stats))."""
    _, d_apply = gan.d_net
    net = gan.discriminator
    u_real, sd1 = _net_call(d_apply, net, td, sd, batch.x, train=True, key=_k(batch, 1), update_stats=update_stats)
    u_fake, sd2 = _net_call(d_apply, net, td, sd1, fake, train=True, key=_k(batch, 2), update_stats=update_stats)
    om, game = gan.d_output, gan.game
    j = jnp.mean(jax.vmap(game.f1)(om(u_real))) + jnp.mean(jax.vmap(game.f2)(om(u_fake)))
    pen = _penalty(gan, td, sd, batch, fake)
    return j - pen, (j, pen, sd2)


def _penalty(gan: GAN, td, sd, batch: _Batch, fake):
    if gan.penalty is None or gan.penalty_weight == 0.0:
        return jnp.zeros((), batch.x.dtype)
    _, d_apply = gan.d_net
    net = gan.discriminator

    def raw_sum(x, key):
        return jnp.sum(_net_call(d_apply, net, td, sd, x, train=True, key=key)[0])

    if gan.penalty == "r1":
        g = jax.grad(raw_sum)(batch.x, _k(batch, 1))
        return 0.5 * gan.penalty_weight * jnp.mean(jnp.sum(g * g, axis=1))
    if gan.penalty == "r2":
        g = jax.grad(raw_sum)(fake, _k(batch, 2))
        return 0.5 * gan.penalty_weight * jnp.mean(jnp.sum(g * g, axis=1))
    xhat = batch.eps * batch.x + (1.0 - batch.eps) * fake
    g = jax.grad(raw_sum)(xhat, _k(batch, 1))
    norm = jnp.sqrt(jnp.sum(g * g, axis=1) + jnp.finfo(g.dtype).tiny)
    return gan.penalty_weight * jnp.mean((norm - 1.0) ** 2)


def _generate(gan: GAN, tg, sg, z, key, *, update_stats: bool = False):
    _, g_apply = gan.g_net
    out, sg = _net_call(g_apply, gan.generator, tg, sg, z, train=True, key=key, update_stats=update_stats)
    return out.reshape(z.shape[0], gan.data.dim), sg


def _g_objective(gan: GAN, tg, sg, td, sd, batch: _Batch, *, update_stats: bool):
    """Î at θ_G; returns (Î, new generator stats)."""
    fake, sg1 = _generate(gan, tg, sg, batch.z, _k(batch, 0), update_stats=update_stats)
    _, d_apply = gan.d_net
    u_fake, _ = _net_call(d_apply, gan.discriminator, td, sd, fake, train=True, key=_k(batch, 2))
    return jnp.mean(jax.vmap(gan.game.f3)(gan.d_output(u_fake))), sg1


def _field_parts(gan: GAN, td, tg, sd, sg, batch: _Batch):
    """The game field (∇_θD(Ĵ − pen), ∇_θG Î) on one batch, train mode, no state change."""
    # No stop_gradient on the samples: ∂(∇_θD Ĵ)/∂θ_G is the coupling block of the game Jacobian.
    fake, _ = _generate(gan, tg, sg, batch.z, _k(batch, 0))
    gd = jax.grad(lambda t: _d_objective(gan, t, sd, fake, batch, update_stats=False)[0])(td)
    gg = jax.grad(lambda t: _g_objective(gan, t, sg, td, sd, batch, update_stats=False)[0])(tg)
    return gd, gg


def game_field(gan: GAN, state, batch_key, batch_size: int | None = None):
    """The game field `v(θ) = (∇_θD Ĵ, ∇_θG Î)` of `gan` on one fixed batch, as a function.

    **Arguments:** `gan`; `state`: a `TrainState` (its running statistics are held fixed);
    `batch_key`: PRNG key of the fixed batch (data, noise, dropout masks); `batch_size`
    (default `gan.batch_size`).

    **Returns:** `(v, theta)`: `v(theta) -> theta-shaped pytree` (`theta = (θ_D, θ_G)`, the
    trainable parameters) and the current `theta`. For `jacobian_eigenvalues` and `path_angle`.
    """
    batch = _draw_batch(gan, batch_key, batch_size or gan.batch_size)

    def v(theta):
        td, tg = theta
        return _field_parts(gan, td, tg, state.sd, state.sg, batch)

    return v, (state.td, state.tg)


# ============================================================================ one training step


class TrainState(NamedTuple):
    """The training state of one seed: trainable parameters `td`, `tg`, running statistics `sd`,
    `sg` (None without BatchNorm) and the optimiser states `od`, `og`."""

    td: Any
    tg: Any
    sd: Any
    sg: Any
    od: Any
    og: Any


def init_state(gan: GAN, key) -> TrainState:
    """Initial `TrainState` of `gan` from a PRNG key (host side: `jaxgan.nets` initialises on the host)."""
    kd, kg = jax.random.split(key)
    td, sd = _split(gan.d_net[0](kd))
    tg, sg = _split(gan.g_net[0](kg))
    return TrainState(td, tg, sd, sg, gan.d_optimizer.init(td), gan.g_optimizer.init(tg))


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves])) if leaves else jnp.asarray(True)


def _apply_updates(opt, grads_ascent, opt_state, theta):
    # optax minimises: each player's loss gradient is minus its ascent direction.
    updates, opt_state = opt.update(jax.tree_util.tree_map(jnp.negative, grads_ascent), opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state


def _d_update(gan: GAN, st: TrainState, batch: _Batch, fake):
    (_, (j, pen, sd)), gd = jax.value_and_grad(
        lambda t: _d_objective(gan, t, st.sd, fake, batch, update_stats=True), has_aux=True)(st.td)
    td, od = _apply_updates(gan.d_optimizer, gd, st.od, st.td)
    return st._replace(td=td, sd=sd, od=od), j, pen


def _g_update(gan: GAN, st: TrainState, batch: _Batch):
    (i_val, sg), gg = jax.value_and_grad(
        lambda t: _g_objective(gan, t, st.sg, st.td, st.sd, batch, update_stats=True), has_aux=True)(st.tg)
    tg, og = _apply_updates(gan.g_optimizer, gg, st.og, st.tg)
    return st._replace(tg=tg, sg=sg, og=og), i_val


def train_step(gan: GAN, st: TrainState, key):
    """One update of both players (pure JAX). Returns `(new_state, losses, finite)` where
    `losses = (Ĵ, penalty, Î)` and `finite` says whether every loss and parameter is finite."""
    if gan.update == "simultaneous":
        batch = _draw_batch(gan, key, gan.batch_size)
        fake, _ = _generate(gan, st.tg, st.sg, batch.z, _k(batch, 0))
        new_d, j, pen = _d_update(gan, st, batch, jax.lax.stop_gradient(fake))
        # The generator's gradient at the *old* discriminator (simultaneous), then merge.
        new_g, i_val = _g_update(gan, st, batch)
        new = new_d._replace(tg=new_g.tg, sg=new_g.sg, og=new_g.og)
    else:
        keys = jax.random.split(key, gan.d_steps + 1)
        new = st
        j = pen = jnp.zeros((), _float())
        for s in range(gan.d_steps):  # d_steps is small and static
            batch = _draw_batch(gan, keys[s], gan.batch_size)
            fake, _ = _generate(gan, new.tg, new.sg, batch.z, _k(batch, 0))
            new, j, pen = _d_update(gan, new, batch, jax.lax.stop_gradient(fake))
        new, i_val = _g_update(gan, new, _draw_batch(gan, keys[-1], gan.batch_size))
    losses = (j, pen, i_val)
    finite = _all_finite(losses) & _all_finite((new.td, new.tg, new.sd, new.sg))
    return new, losses, finite


# ============================================================================ measurement


@dataclasses.dataclass(frozen=True)
class _Cfg:
    steps: int
    measure_every: int
    n_eval: int
    krylov: int
    n_proj: int
    kernel_probe: bool


class _Consts(NamedTuple):
    grid: jax.Array  # (G, d)
    edges: tuple  # per axis
    p_masses: jax.Array
    bandwidth: jax.Array


class _EvalInputs(NamedTuple):
    """The fixed inputs of one seed's measurements (the same at every checkpoint)."""

    x: jax.Array  # (n_eval, d) data samples
    z: jax.Array  # (n_eval, latent) generator noise
    batch: _Batch  # the fixed batch of the game field
    v0: jax.Array  # (p,) Arnoldi start vector


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _eval_inputs(gan: GAN, cfg: _Cfg, key, n_params: int) -> _EvalInputs:
    k_eval, k_batch, k_arn = jax.random.split(key, 3)
    big = _draw_batch(gan, k_eval, cfg.n_eval)
    batch = _draw_batch(gan, k_batch, gan.batch_size)
    v0 = _uniform_pm1(k_arn, (n_params,))
    return _EvalInputs(big.x, big.z, batch, v0)


def _measure(gan: GAN, cfg: _Cfg, st: TrainState, consts: _Consts, ev: _EvalInputs, next_key):
    """All measurements of one checkpoint (one seed); also the kernel-induced prediction of the
    change of D on the grid by the next update (compared with the actual change one checkpoint
    later, in `_run_seed`)."""
    x_eval, batch = ev.x, ev.batch
    fake, _ = _generate(gan, st.tg, st.sg, ev.z, _k(batch, 0))
    out = {}
    out["w1"] = sliced_wasserstein(x_eval, fake, cfg.n_proj)
    out["kl"] = histogram_kl(consts.p_masses, fake, consts.edges)
    out["g_mean"] = jnp.mean(fake, axis=0)
    out["g_std"] = jnp.std(fake, axis=0)
    _, d_apply = gan.d_net
    u_grid = d_apply(_merge(st.td, st.sd), consts.grid, train=False)
    d_grid = gan.d_output(u_grid)
    out["d_grid"] = d_grid
    out["pg_grid"] = kde(fake, consts.grid, consts.bandwidth)
    # The game field on a fixed batch (the same batch at every checkpoint of a seed).
    gd, gg = _field_parts(gan, st.td, st.tg, st.sd, st.sg, batch)
    vflat, _ = ravel_pytree((gd, gg))
    theta_flat, unravel = ravel_pytree((st.td, st.tg))
    out["field_norm"] = jnp.linalg.norm(vflat)
    fake_b, _ = _generate(gan, st.tg, st.sg, batch.z, _k(batch, 0))
    out["J"] = _d_objective(gan, st.td, st.sd, fake_b, batch, update_stats=False)[1][0]
    out["I"] = _g_objective(gan, st.tg, st.sg, st.td, st.sd, batch, update_stats=False)[0]
    if cfg.krylov > 0:
        def v_flat(t):
            td, tg = unravel(t)
            return ravel_pytree(_field_parts(gan, td, tg, st.sd, st.sg, batch))[0]

        _, lin = jax.linearize(v_flat, theta_flat)
        H, k = arnoldi(lin, ev.v0, min(cfg.krylov, theta_flat.shape[0]))
        out["hess"], out["krylov_k"] = H, k
    if cfg.kernel_probe:
        z_probe = ev.z[:consts.grid.shape[0]]
        pred = (_kernel_prediction(gan, st, consts.grid, u_grid, next_key),
                _g_kernel_prediction(gan, st, z_probe, next_key), _g_eval(gan, st.tg, st.sg, z_probe))
    else:
        pred = None
    return out, vflat, theta_flat, d_grid, pred


def _kernel_prediction(gan: GAN, st: TrainState, grid, u_grid, key):
    """The article's kernel-induced change of D on the grid for the update drawn from `key`.

    `ΔD(x) ∝ a'(u(x)) · Σ_i K_θ(x, y_i) ∂Ĵ/∂u(y_i)` over that update's (first discriminator)
    batch `y = (data, generated)`, with `K_θ` the eval-mode parametric kernel of the
    discriminator's raw output (`jaxgan.kernels.kernel_vp`) and `a` the output map. Shape `(G,)`.
    """
    _, d_apply = gan.d_net
    net = gan.discriminator
    k_first = key if gan.update == "simultaneous" else jax.random.split(key, gan.d_steps + 1)[0]
    batch = _draw_batch(gan, k_first, gan.batch_size)
    fake, _ = _generate(gan, st.tg, st.sg, batch.z, _k(batch, 0))
    fake = jax.lax.stop_gradient(fake)
    u_real, _ = _net_call(d_apply, net, st.td, st.sd, batch.x, train=True, key=_k(batch, 1))
    u_fake, _ = _net_call(d_apply, net, st.td, st.sd, fake, train=True, key=_k(batch, 2))
    om, game = gan.d_output, gan.game
    w_real, w_fake = jax.grad(lambda a, b: jnp.mean(jax.vmap(game.f1)(om(a))) + jnp.mean(jax.vmap(game.f2)(om(b))),
                              argnums=(0, 1))(u_real, u_fake)
    y = jnp.concatenate([batch.x, fake])
    w = jnp.concatenate([w_real, w_fake])
    ku = _kernels.kernel_vp(d_apply, _merge(st.td, st.sd), grid, y, w, train=False)
    return jax.vmap(jax.grad(om))(u_grid) * ku


def _g_eval(gan: GAN, tg, sg, z):
    """The generator in eval mode at latent points `z (P, latent)`; shape `(P, d)`."""
    _, g_apply = gan.g_net
    return g_apply(_merge(tg, sg), z, train=False).reshape(z.shape[0], gan.data.dim)


def _g_kernel_prediction(gan: GAN, st: TrainState, z_probe, key):
    """The generator's side of the article's kernel view ("the same holds for the generator"):
    the kernel-induced change of G at the latent points `z_probe` for the update drawn from `key`,

        ΔG(z) ∝ Σ_j K_φ(z, z_j) ∂Î/∂G(z_j),   K_φ(z, z') = Σ_k ∂G(z)/∂φ_k ⊗ ∂G(z')/∂φ_k,

    over that update's generator batch, with `∂Î/∂G(z_j)` the gradient of the generator's
    objective with respect to each generated sample (the discriminator held as that update
    sees it: the old one for simultaneous updates, the one after the `d_steps` discriminator
    updates for alternating ones) and `K_φ` the eval-mode kernel of the generator's trainable
    parameters (matrix-valued for `d`-dimensional data). One vjp and one jvp. Shape `(P, d)`.
    """
    if gan.update == "simultaneous":
        d_state, batch = st, _draw_batch(gan, key, gan.batch_size)
    else:  # replay the discriminator updates of this step, as train_step does
        keys = jax.random.split(key, gan.d_steps + 1)
        d_state = st
        for s in range(gan.d_steps):
            b = _draw_batch(gan, keys[s], gan.batch_size)
            fake_s, _ = _generate(gan, d_state.tg, d_state.sg, b.z, _k(b, 0))
            d_state, _, _ = _d_update(gan, d_state, b, jax.lax.stop_gradient(fake_s))
        batch = _draw_batch(gan, keys[-1], gan.batch_size)
    _, d_apply = gan.d_net
    fake, _ = _generate(gan, st.tg, st.sg, batch.z, _k(batch, 0))

    def objective(x):  # Î as a function of the generated samples, as in _g_objective
        u, _ = _net_call(d_apply, gan.discriminator, d_state.td, d_state.sd, x, train=True, key=_k(batch, 2))
        return jnp.mean(jax.vmap(gan.game.f3)(gan.d_output(u)))

    w = jax.grad(objective)(fake)
    _, vjp = jax.vjp(lambda t: _g_eval(gan, t, st.sg, batch.z), st.tg)
    (direction,) = vjp(w.astype(fake.dtype))
    return jax.jvp(lambda t: _g_eval(gan, t, st.sg, z_probe), (st.tg,), (direction,))[1]


def _run_seed(gan: GAN, cfg: _Cfg, consts: _Consts, k_train, k_eval, st0: TrainState):
    n_chk = cfg.steps // cfg.measure_every
    _, d_apply = gan.d_net
    t0, _ = ravel_pytree((st0.td, st0.tg))
    ev = _eval_inputs(gan, cfg, k_eval, t0.shape[0])
    n_grid = consts.grid.shape[0]

    def inner(i, carry):
        st, status, fstep, base, first = carry
        s = base + i
        new, _, ok = train_step(gan, st, jax.random.fold_in(k_train, s))
        running = status == jnp.int32(Fate.UNDECIDED)
        accept = running & ok
        bad = running & ~ok
        st = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), new, st)
        status = jnp.where(bad, jnp.int32(Fate.DIVERGED), status)
        fstep = jnp.where(bad, s + 1, fstep)
        # Both players right after the first update of the chunk (for the kernel probes).
        first = jax.tree_util.tree_map(lambda a, b: jnp.where(i == 0, a, b), (st.td, st.sd, st.tg, st.sg), first)
        return st, status, fstep, base, first

    def outer(carry, c):
        st, status, fstep, v_prev, t_prev, d_prev, pred_prev = carry
        n_inner = jnp.where(c > 0, cfg.measure_every, 0)
        base = jnp.maximum(c - 1, 0) * cfg.measure_every
        st, status, fstep, _, first = jax.lax.fori_loop(
            0, n_inner, inner, (st, status, fstep, base, (st.td, st.sd, st.tg, st.sg)))
        m, v, t, d_grid, pred = _measure(gan, cfg, st, consts, ev,
                                         jax.random.fold_in(k_train, c * cfg.measure_every))
        valid = c > 0
        m["step_cos"] = jnp.where(valid, _cosine(v_prev, t - t_prev), jnp.nan)
        if cfg.kernel_probe:
            pd_prev, pg_prev, g_prev = pred_prev
            actual = gan.d_output(d_apply(_merge(first[0], first[1]), consts.grid, train=False)) - d_prev
            npred = jnp.linalg.norm(pd_prev)
            m["kernel_cos"] = jnp.where(valid, _cosine(pd_prev, actual), jnp.nan)
            m["kernel_gain"] = jnp.where(valid & (npred > 0), jnp.linalg.norm(actual) / npred, jnp.nan)
            actual_g = (_g_eval(gan, first[2], first[3], ev.z[:n_grid]) - g_prev).ravel()
            npred_g = jnp.linalg.norm(pg_prev)
            m["kernel_cos_g"] = jnp.where(valid, _cosine(pg_prev.ravel(), actual_g), jnp.nan)
            m["kernel_gain_g"] = jnp.where(valid & (npred_g > 0), jnp.linalg.norm(actual_g) / npred_g, jnp.nan)
        else:
            pred = d_grid
        return (st, status, fstep, v, t, d_grid, pred), m

    zero_g = jnp.zeros((n_grid,), t0.dtype)
    if cfg.kernel_probe:
        zero_probe = jnp.zeros((min(n_grid, ev.z.shape[0]), gan.data.dim), t0.dtype)
        pred0 = (zero_g, zero_probe, zero_probe)
    else:
        pred0 = zero_g
    init = (st0, jnp.int32(Fate.UNDECIDED), jnp.int32(-1), jnp.zeros_like(t0), t0, zero_g, pred0)
    (st, status, fstep, _, t_end, _, _), logs = jax.lax.scan(outer, init, jnp.arange(n_chk + 1, dtype=jnp.int32))
    return logs, status, fstep, t0, t_end, st


@functools.partial(jax.jit, static_argnames=("gan", "n"))
def _path_angle_jit(gan: GAN, n: int, st: TrainState, start_flat, end_flat, batch: _Batch):
    _, unravel = ravel_pytree((st.td, st.tg))

    def v(theta):
        td, tg = theta
        return _field_parts(gan, td, tg, st.sd, st.sg, batch)

    return path_angle(v, unravel(start_flat), unravel(end_flat), n)


@functools.partial(jax.jit, static_argnames=("gan", "cfg"))
def _train_jit(gan: GAN, cfg: _Cfg, consts: _Consts, k_train, k_eval, st0: TrainState):
    return jax.vmap(lambda kt, ke, s0: _run_seed(gan, cfg, consts, kt, ke, s0))(k_train, k_eval, st0)


def _seed_parts(gan: GAN, keys):
    """Per seed: the training key, the measurement key and the initial state (stacked over seeds).

    Seed key → `(k_init, k_train, k_eval)`; the networks are initialised on the host from `k_init`."""
    parts = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    states = [init_state(gan, parts[i, 0]) for i in range(parts.shape[0])]
    st0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)
    return parts[:, 1], parts[:, 2], st0


_COMPILED: dict = {}


def _compiled(gan: GAN, cfg: _Cfg, consts: _Consts, args, fast_compile: bool):
    """The compiled training program, cached by (gan, cfg, argument shapes and dtypes, optimisation
    level), so that compile time and run time can be reported apart."""
    sig = tuple((tuple(a.shape), str(a.dtype)) for a in jax.tree_util.tree_leaves((consts, args)))
    key = (gan, cfg, sig, bool(jax.config.jax_enable_x64), fast_compile)
    if key not in _COMPILED:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        lowered = _train_jit.lower(gan, cfg, consts, *args)
        # XLA's backend optimisation level 0 halves the CPU compile time and triples the run time:
        # the better trade for short runs.
        opts = {"xla_backend_optimization_level": 0} if fast_compile else None
        _COMPILED[key] = lowered.compile(opts) if opts else lowered.compile()
    return _COMPILED[key]


# ============================================================================ the user-facing run


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: logs per seed and checkpoint (numpy), fates, and the final state.

    Arrays have a leading seed axis `S` and a checkpoint axis `C + 1` (row 0 is before the first
    update; checkpoint `c` is after `steps[c]` updates). Rows after a seed diverged are NaN.

    - `steps: Int[ndarray, "C+1"]`; `grid: Float[ndarray, "G d"]`; `pd_grid`: the data density on
      the grid convolved with the KDE bandwidth (what `pg_grid` estimates when pg = pd).
    - `w1`: (sliced) Wasserstein-1 distance between generator and data samples, `(S, C+1)`.
    - `kl`: `KL(pd ‖ pg)` on the histogram grid; `g_mean`, `g_std`: `(S, C+1, d)`.
    - `d_grid`, `pg_grid`: D (after the output map, eval mode) and the KDE of pg on the grid, `(S, C+1, G)`.
    - `J`, `I`: the players' objectives on the measurement batch; `field_norm`: ‖v(θ)‖.
    - `step_cos`: cosine between the game field at checkpoint c−1 and the parameter step from
      c−1 to c (1 for gradient flow with small steps; lower when the path curves between
      checkpoints or the optimiser preconditions); NaN in row 0.
    - `eigs: Complex[ndarray, "S C+1 top"]`: leading Ritz values of the game Jacobian (by
      modulus); `rotation`: `rotation_index` of them, `(S, C+1)`.
    - `kernel_cos`, `kernel_gain`: the kernel-induced prediction of the next change of D on the
      grid against the actual change (cosine; ratio of norms, ≈ the learning rate for SGD).
    - `kernel_cos_g`, `kernel_gain_g`: the same for the generator: the change of G at `n_grid`
      fixed latent points predicted by the generator's parametric kernel.
    - `fate: Int[ndarray, "S"]` (`Fate` codes), `fate_step`: the update that produced a
      non-finite value for diverged seeds (1-based), else −1.
    - `theta0`, `theta_end`: the flat joint trainable parameters at the start and the end.
    - `final`: the final `TrainState` (stacked over seeds).
    """

    gan: GAN
    seeds: np.ndarray
    steps: np.ndarray
    grid: np.ndarray
    pd_grid: np.ndarray
    logs: dict
    fate: np.ndarray
    fate_step: np.ndarray
    theta0: np.ndarray
    theta_end: np.ndarray
    final: Any
    tol: float
    cfg: Any = None
    compile_s: float = float("nan")
    run_s: float = float("nan")

    def __getattr__(self, name):
        logs = self.__dict__.get("logs", {})
        if name in logs:
            return logs[name]
        raise AttributeError(name)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def final_distance(self) -> np.ndarray:
        """`w1` at the last checkpoint per seed (NaN for diverged seeds)."""
        return self.w1[:, -1]

    def mean_rotation(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the mean `rotation` over the last `tail` fraction of checkpoints (NaN if diverged)."""
        c0 = _tail_start(len(self.steps), tail)
        with np.errstate(invalid="ignore"), _quiet():
            return np.nanmean(np.where(np.isfinite(self.rotation[:, c0:]), self.rotation[:, c0:], np.nan), axis=1)

    def max_imag(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the median over the last `tail` of checkpoints of max |Im λ| of the Ritz values."""
        c0 = _tail_start(len(self.steps), tail)
        with _quiet():
            return np.nanmedian(np.nanmax(np.abs(self.eigs[:, c0:].imag), axis=2), axis=1) \
                if self.eigs.shape[-1] else np.full(self.n_seeds, np.nan)

    def max_real(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the median over the last `tail` of checkpoints of max Re λ of the Ritz values
        (> 0: the game field repels along some direction)."""
        c0 = _tail_start(len(self.steps), tail)
        with _quiet():
            return np.nanmedian(np.nanmax(self.eigs[:, c0:].real, axis=2), axis=1) \
                if self.eigs.shape[-1] else np.full(self.n_seeds, np.nan)

    def _min_real(self, tail: float = 0.5) -> np.ndarray:
        c0 = _tail_start(len(self.steps), tail)
        with _quiet():
            return np.nanmedian(np.nanmin(self.eigs[:, c0:].real, axis=2), axis=1) \
                if self.eigs.shape[-1] else np.full(self.n_seeds, np.nan)

    def path_angle(self, seed: int = 0, n: int = 21):
        """The path-angle (Berard et al. 2020; see `path_angle`) of one seed from its initial to its
        final parameters, with the game field on that seed's fixed measurement batch.

        **Returns:** `(alphas, cosines)`, numpy arrays of shape `(n,)`.
        """
        if not (isinstance(seed, (int, np.integer)) and 0 <= seed < self.n_seeds):
            raise ValueError(f"path_angle argument `seed` must be an index in [0, {self.n_seeds}); got {seed!r}.")
        gan, i = self.gan, int(seed)
        key = _keys_of(self.seeds[i:i + 1])[0]
        k_eval = jax.random.split(key, 3)[2]
        st = jax.tree_util.tree_map(lambda a: a[i], self.final)
        flat0, _ = ravel_pytree((st.td, st.tg))
        ev = _eval_inputs(gan, self.cfg, k_eval, flat0.shape[0])
        a, c = _path_angle_jit(gan, int(n), st, jnp.asarray(self.theta0[i], flat0.dtype),
                               jnp.asarray(self.theta_end[i], flat0.dtype), ev.batch)
        return np.asarray(a), np.asarray(c)

    def probe_index(self, x) -> int:
        """The index of the grid point nearest to `x`."""
        x = np.atleast_1d(np.asarray(x, np.float64))
        return int(np.argmin(np.sum((self.grid - x[None]) ** 2, axis=1)))

    def pointwise_trajectory(self, x, seed: int = 0):
        """The path of `(D(x), pg(x))` along training at the grid point nearest to `x`.

        **Returns:** `(x_used, D: (C+1,), pg: (C+1,), pd_x)`, where `pd_x` is the data density
        there convolved with the KDE bandwidth (the pg value the KDE shows when pg = pd).
        """
        i = self.probe_index(x)
        s = int(seed)
        return self.grid[i], self.d_grid[s, :, i], self.pg_grid[s, :, i], float(self.pd_grid[i])

    def summary(self) -> dict:
        """Counts of fates, median final distance over non-diverged seeds, mean rotation."""
        fates = [Fate(int(f)) for f in self.fate]
        ok = self.fate != Fate.DIVERGED
        fd = self.final_distance()[ok]
        rot = self.mean_rotation()[ok]
        return {
            "label": self.gan.label(), "seeds": self.n_seeds,
            "converged": sum(f == Fate.CONVERGED for f in fates),
            "cycling": sum(f == Fate.CYCLING for f in fates),
            "diverged": sum(f == Fate.DIVERGED for f in fates),
            "undecided": sum(f == Fate.UNDECIDED for f in fates),
            "final_w1_median": float(np.median(fd)) if fd.size else None,
            "final_w1_mean": float(np.mean(fd)) if fd.size else None,
            "rotation_mean": float(np.nanmean(rot)) if np.isfinite(rot).any() else None,
            "max_imag_median": float(np.nanmedian(self.max_imag()[ok])) if np.isfinite(self.max_imag()[ok]).any()
            else None,
            "max_real_median": float(np.nanmedian(self.max_real()[ok])) if np.isfinite(self.max_real()[ok]).any()
            else None,
            "min_real_median": float(np.nanmedian(self._min_real()[ok])) if np.isfinite(self._min_real()[ok]).any()
            else None,
            "kernel_cos_mean": _nanmean_or_none(self.logs.get("kernel_cos"), ok),
            "kernel_cos_g_mean": _nanmean_or_none(self.logs.get("kernel_cos_g"), ok),
            "step_cos_mean": _nanmean_or_none(self.logs.get("step_cos"), ok),
            "diverged_at": [int(s) for s in self.fate_step[~ok]],
        }


def _nanmean_or_none(a, ok):
    if a is None or not ok.any():
        return None
    a = np.asarray(a)[ok]
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _tail_start(n: int, tail: float) -> int:
    return max(0, min(n - 1, int(round(n * (1.0 - tail)))))


def _seed_keys(seeds):
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"train argument `seeds` must be a positive count or a list of ints; got {seeds}.")
        seeds = np.arange(int(seeds))
    try:
        arr = np.asarray(seeds)
    except (TypeError, ValueError):
        arr = np.asarray([], dtype=object)
    if arr.ndim != 1 or arr.size < 1 or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"train argument `seeds` must be a positive int (a count) or a 1-D list of ints; "
                        f"got {seeds!r}.")
    return arr.astype(np.int64), _keys_of(arr)


def _keys_of(seeds: np.ndarray):
    # The "rbg" generator (XLA's RngBitGenerator): its random bits compile an order of magnitude
    # faster than threefry's on CPU, and each key's stream is the same alone or under vmap.
    return jax.vmap(lambda s: jax.random.key(s, impl="rbg"))(jnp.asarray(seeds, jnp.uint32))


def _consts(gan: GAN, n_grid: int, n_bins: int, bandwidth: float | None):
    data = gan.data
    lo, hi = data.box(4.0)
    dtype = _float()
    if data.dim == 1:
        grid = np.linspace(lo[0], hi[0], n_grid)[:, None]
    else:
        g = int(round(math.sqrt(n_grid)))
        axes = [np.linspace(lo[a], hi[a], g) for a in range(data.dim)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, data.dim)
    nb = n_bins if data.dim == 1 else max(4, int(round(math.sqrt(n_bins))))
    edges = tuple(np.linspace(lo[a], hi[a], nb + 1) for a in range(data.dim))
    p_masses = data.bin_masses(edges)
    bw = 0.25 * min(data.stds) if bandwidth is None else bandwidth
    consts = _Consts(jnp.asarray(grid, dtype), tuple(jnp.asarray(e, dtype) for e in edges),
                     jnp.asarray(p_masses, dtype), jnp.asarray(bw, dtype))
    pd_grid = np.asarray(data.density(jnp.asarray(grid, jnp.float32), smooth=bw), np.float64)
    return consts, grid, pd_grid


def train(gan: GAN, seeds=8, *, steps: int = 2000, measure_every: int = 50, n_eval: int = 1024,
          n_grid: int = 64, n_bins: int = 48, bandwidth: float | None = None, krylov: int = 12,
          top: int | None = None, kernel_probe: bool = True, n_proj: int = 16, tol: float | None = None,
          tail: float = 0.25, fast_compile: bool | None = None) -> TrainResult:
    """Train `gan` from many seeds at once and measure its dynamics along the way.

    One compiled program: `vmap` over seeds of a `lax.scan` over checkpoints, each an inner
    `fori_loop` of `measure_every` updates followed by the measurements (see `TrainResult`).
    Reproducible bit for bit for the same seeds, sizes and machine.

    **Arguments:**

    - `gan`: a `GAN`.
    - `seeds`: a count (seeds `0..n-1`) or a list of ints; seed `s` uses `jax.random.PRNGKey(s)`.
    - `steps`: updates (a multiple of `measure_every`); `measure_every`: updates per checkpoint.
    - `n_eval`: generator and data samples per measurement (fixed per seed across checkpoints).
    - `n_grid`: points of the x grid for D and pg (in 2-D, the nearest square); `n_bins`: histogram
      cells for the KL (per axis in 1-D; the nearest square in 2-D); `bandwidth`: KDE bandwidth
      (default a quarter of the smallest data component's σ).
    - `krylov`: Arnoldi steps for the game-Jacobian eigenvalues at each checkpoint (0 turns it
      off); `top`: how many leading Ritz values (by modulus) to keep (default all `krylov`).
    - `kernel_probe`: measure the kernel-induced prediction of the next step.
    - `n_proj`: projections of the sliced Wasserstein distance (2-D).
    - `tol`: the distance below which a run counts as converged (default: 0.1 × the data's std).
    - `tail`: the fraction of final checkpoints on which fates are decided (see `classify`).
    - `fast_compile`: compile with XLA's backend optimisation off (half the compile time, about three
      times the run time); default: on for short runs (`len(seeds) · steps ≤ 20000`).

    **Returns:** a `TrainResult`.

    **Raises:** `TypeError`/`ValueError` naming the argument, before anything is compiled.
    """
    who = "train"
    if not isinstance(gan, GAN):
        raise TypeError(f"{who} argument `gan` must be a jaxgan.neural.GAN; got {type(gan).__name__}.")
    seeds_arr, keys = _seed_keys(seeds)
    steps = check_int(who, "steps", steps)
    measure_every = check_int(who, "measure_every", measure_every)
    if steps % measure_every:
        raise ValueError(f"{who}: `steps` ({steps}) must be a multiple of `measure_every` ({measure_every}).")
    n_eval = check_int(who, "n_eval", n_eval, max(2, gan.batch_size))
    n_grid = check_int(who, "n_grid", n_grid, 2)
    n_bins = check_int(who, "n_bins", n_bins, 2)
    krylov = check_int(who, "krylov", krylov, 0)
    top = max(krylov, 1) if top is None else check_int(who, "top", top)
    n_proj = check_int(who, "n_proj", n_proj)
    if bandwidth is not None:
        bandwidth = check_float(who, "bandwidth", bandwidth)
    tol = 0.1 * gan.data.std() if tol is None else check_float(who, "tol", tol)
    tail = check_float(who, "tail", tail)
    if tail > 1:
        raise ValueError(f"{who} argument `tail` must lie in (0, 1]; got {tail}.")
    cfg = _Cfg(steps, measure_every, n_eval, krylov, n_proj, bool(kernel_probe))
    consts, grid, pd_grid = _consts(gan, n_grid, n_bins, bandwidth)

    if fast_compile is None:
        fast_compile = len(seeds_arr) * steps <= 20000
    args = _seed_parts(gan, keys)
    t0 = time.perf_counter()
    compiled = _compiled(gan, cfg, consts, args, bool(fast_compile))
    t1 = time.perf_counter()
    logs, status, fstep, th0, th_end, final = compiled(consts, *args)
    jax.block_until_ready(logs)
    t2 = time.perf_counter()

    logs = {k: np.asarray(v) for k, v in logs.items()}
    status, fstep = np.asarray(status), np.asarray(fstep)
    step_axis = np.arange(steps // measure_every + 1) * measure_every
    # Rows at or after the failing update are not measurements of a trained state: NaN.
    dead = (status == Fate.DIVERGED)[:, None] & (step_axis[None, :] >= fstep[:, None])
    for k, v in list(logs.items()):
        if k not in ("hess", "krylov_k") and np.issubdtype(v.dtype, np.floating):
            v = v.astype(np.float64)
            v[np.broadcast_to(dead.reshape(dead.shape + (1,) * (v.ndim - 2)), v.shape)] = np.nan
            logs[k] = v
    if krylov > 0:
        hess, kk = logs.pop("hess"), logs.pop("krylov_k")
        eigs = np.full(hess.shape[:2] + (top,), np.nan + 1j * np.nan, np.complex128)
        for s in range(hess.shape[0]):
            for c in range(hess.shape[1]):
                if not dead[s, c]:
                    eigs[s, c] = _ritz(hess[s, c], kk[s, c], top)
        logs["eigs"] = eigs
        logs["rotation"] = rotation_index(eigs)
    else:
        logs["eigs"] = np.full((len(seeds_arr), len(step_axis), 0), np.nan, np.complex128)
        logs["rotation"] = np.full((len(seeds_arr), len(step_axis)), np.nan)
    res = TrainResult(gan=gan, seeds=seeds_arr, steps=step_axis, grid=grid, pd_grid=pd_grid, logs=logs,
                      fate=status.astype(np.int64), fate_step=fstep.astype(np.int64), theta0=np.asarray(th0),
                      theta_end=np.asarray(th_end), final=final, tol=tol, cfg=cfg, compile_s=t1 - t0,
                      run_s=t2 - t1)
    res.fate = classify(res, tol=tol, tail=tail)
    return res


def classify(res: TrainResult, *, tol: float, tail: float = 0.25, r_min: float = 0.5) -> np.ndarray:
    """Fates of the seeds of a run (host side, from the logs).

    - `DIVERGED`: a non-finite loss or parameter (decided inside the compiled run).
    - `CONVERGED`: the median distance to data over the checkpoints of the last `tail` is ≤ `tol`
      (the median ignores single spikes of a noisy optimiser, not a lasting departure).
    - `CYCLING`: not converged, and at some probe point the pointwise state `(D(x), pg(x))` made at
      least one full loop around the article's rest point `(D0, pd(x))` over the last half of the run,
      counting only the stretches at least `r_min` away from it (see `winding_turns`): large,
      coherent orbits such as mass hopping between modes — not the jitter of a noisy optimiser
      around the rest point.
    - `UNDECIDED`: otherwise (still moving, or jittering near the rest point).
    """
    fate = np.where(res.fate == Fate.DIVERGED, int(Fate.DIVERGED), int(Fate.UNDECIDED)).astype(np.int64)
    c0 = _tail_start(len(res.steps), tail)
    w1 = res.w1[:, c0:]
    with _quiet():
        conv = np.all(np.isfinite(w1), axis=1) & (np.median(w1, axis=1) <= tol)
    fate[(fate != Fate.DIVERGED) & conv] = int(Fate.CONVERGED)
    turns = winding_turns(res, tail=max(tail, 0.5), r_min=r_min)
    with _quiet():
        cyc = np.nanmax(np.abs(turns), axis=1) >= 1.0 if turns.size else np.zeros(len(fate), bool)
    fate[(fate == Fate.UNDECIDED) & cyc] = int(Fate.CYCLING)
    return fate


def _d_scale(game) -> float:
    lo, hi = game.d_domain
    if math.isfinite(lo) and math.isfinite(hi):
        return 0.5 * (hi - lo)
    return max(1.0, abs(game.rest_d()))


def winding_turns(res: TrainResult, tail: float = 0.5, r_min: float = 0.5) -> np.ndarray:
    """Signed turns of `(D(x), pg(x))` around `(D0, pd(x))` over the last `tail` of the run.

    At the probe points (grid points with pd ≥ max(pd)/5), in the scaled coordinates
    `u = (D − D0)/s` (`s`: half the D-domain's width, or max(1, |D0|) when it is unbounded) and
    `v = (pg − pd)/pd`; only steps between checkpoints that both lie at radius ≥ `r_min` count.
    Returns `Float[ndarray, "S P"]` (NaN for diverged seeds); positive is counter-clockwise in the
    (D, pg) plane.
    """
    probes = np.flatnonzero(res.pd_grid >= 0.2 * res.pd_grid.max())
    c0 = _tail_start(len(res.steps), tail)
    d0 = res.gan.game.rest_d()
    pd = res.pd_grid[probes][None, None, :]
    u = (res.d_grid[:, c0:, probes] - d0) / _d_scale(res.gan.game)
    v = (res.pg_grid[:, c0:, probes] - pd) / pd
    with np.errstate(invalid="ignore"), _quiet():
        r = np.hypot(u, v)
        ang = np.arctan2(v, u)
        dang = (np.diff(ang, axis=1) + np.pi) % (2 * np.pi) - np.pi
        far = (r[:, 1:] >= r_min) & (r[:, :-1] >= r_min)
        turns = np.sum(np.where(far, dang, 0.0), axis=1) / (2 * np.pi)
        turns[np.any(~np.isfinite(u) | ~np.isfinite(v), axis=1)] = np.nan
    return turns


# ============================================================================ the BatchNorm experiment

VARIANTS = ("plain", "batchnorm", "dropout")

EXPERIMENT_SIZES = {
    # seconds: the CLI test and a first look
    "quick": dict(activations=("relu",), variants=("plain", "batchnorm"), seeds=4, steps=600, measure_every=30,
                  hidden=(16, 16), krylov=6, n_eval=256, n_grid=32, batch_size=64),
    # the notebook with JAXGAN_SMALL=1
    "small": dict(activations=("relu", "tanh"), variants=("plain", "batchnorm"), seeds=4, steps=600,
                  measure_every=30, hidden=(16, 16), krylov=6, n_eval=256, n_grid=32, batch_size=64),
    # the experiment of the README
    "default": dict(activations=("relu", "leaky_relu", "tanh"), variants=VARIANTS, seeds=12, steps=3000,
                    measure_every=60, hidden=(32, 32), krylov=12, n_eval=1024, n_grid=64, batch_size=128),
}

_EXPERIMENT_OPT = optax.adam(5e-4, b1=0.5, b2=0.999)


@dataclasses.dataclass
class ExperimentResult:
    """The outcome of `batchnorm_experiment`: one `TrainResult` per configuration and a table.

    - `results`: `{label: TrainResult}` in table order; `rows`: one summary dict per configuration
      (see `TrainResult.summary`); `settings`: what was run; `wall_s`: total seconds.
    """

    results: dict
    rows: list
    settings: dict
    wall_s: float

    def table(self) -> str:
        """The results as a markdown table (no NaN: diverged seeds are counted, not averaged)."""
        head = ("| configuration | seeds | converged | cycling | diverged | final W1: median [IQR] | "
                "rotation Σ|Im λ|/Σ|Re λ| | max |Im λ| | Re λ: min … max | kernel-prediction cos: D | G |")
        lines = [head, "|" + "---|" * 11]
        for label, r in self.results.items():
            row = next(x for x in self.rows if x["label"] == label)
            ok = r.fate != Fate.DIVERGED
            fd = r.final_distance()[ok]
            dist = (f"{np.median(fd):.3f} [{np.percentile(fd, 25):.3f}, {np.percentile(fd, 75):.3f}]"
                    if fd.size else "n/a (all diverged)")
            rot = r.mean_rotation()[ok]
            rot_s = f"{np.nanmean(rot):.3g} ± {np.nanstd(rot):.2g}" if np.isfinite(rot).any() else "n/a"
            mi = row["max_imag_median"]
            kc, kg = row["kernel_cos_mean"], row["kernel_cos_g_mean"]
            div = f"{row['diverged']}" + (f" (at update {min(row['diverged_at'])}–{max(row['diverged_at'])})"
                                          if row["diverged"] else "")
            lo_re, hi_re = row["min_real_median"], row["max_real_median"]
            re_s = "n/a" if lo_re is None else f"{lo_re:.3g} … {hi_re:.3g}"
            lines.append(f"| {label} | {row['seeds']} | {row['converged']}/{row['seeds']} | {row['cycling']} | {div} | "
                         f"{dist} | {rot_s} | {'n/a' if mi is None else f'{mi:.3g}'} | {re_s} | "
                         f"{'n/a' if kc is None else f'{kc:.2f}'} | {'n/a' if kg is None else f'{kg:.2f}'} |")
        s = self.settings
        lines.append("")
        lines.append(f"game {s['game']}, data {s['data']}, {s['seeds']} seeds × {s['steps']} updates "
                     f"({s['update']}, Adam lr {s['lr']:g}, batch {s['batch_size']}), hidden {s['hidden']}; "
                     f"converged: median W1 over the last quarter ≤ {s['tol']:.3g}; eigenvalues: the {s['krylov']} Ritz "
                     f"values of an Arnoldi run per checkpoint, medians over the last half and the seeds; "
                     f"{self.wall_s:.0f} s in all.")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """A JSON-serialisable dict: settings, rows (None for what is undefined), per-config curves."""
        out = {"settings": self.settings, "wall_s": self.wall_s, "rows": self.rows, "curves": {}}
        for label, r in self.results.items():
            med = np.nanmedian(np.where(np.isfinite(r.w1), r.w1, np.nan), axis=0) if np.isfinite(r.w1).any() \
                else np.full(len(r.steps), np.nan)
            out["curves"][label] = {"steps": r.steps.tolist(),
                                    "w1_median": [None if not np.isfinite(v) else float(v) for v in med],
                                    "fates": [Fate(int(f)).name for f in r.fate],
                                    "fate_step": r.fate_step.tolist()}
        return out

    def path_angles(self, n_seeds: int = 4, n: int = 21) -> dict:
        """`{label: (alphas, cosines (n_seeds, n))}`: `TrainResult.path_angle` of the first seeds of each
        configuration (diverged seeds give NaN rows)."""
        out = {}
        for label, r in self.results.items():
            rows = []
            for s in range(min(n_seeds, r.n_seeds)):
                a, c = r.path_angle(s, n)
                rows.append(c if r.fate[s] != Fate.DIVERGED else np.full_like(c, np.nan))
            out[label] = (a, np.stack(rows))
        return out

    def csv(self) -> str:
        keys = ["label", "seeds", "converged", "cycling", "diverged", "undecided", "final_w1_median", "final_w1_mean",
                "rotation_mean", "max_imag_median", "min_real_median", "max_real_median", "kernel_cos_mean",
                "kernel_cos_g_mean", "step_cos_mean"]
        lines = [",".join(keys)]
        for row in self.rows:
            lines.append(",".join("" if row[k] is None else (f"{row[k]:.6g}" if isinstance(row[k], float) else
                                                               str(row[k])) for k in keys))
        return "\n".join(lines) + "\n"


def _variant_nets(activation: str, variant: str, hidden, dropout: float):
    if variant == "plain":
        return Net(hidden, activation), Net(hidden, activation)
    if variant == "batchnorm":  # "BatchNorm in any network": in both
        return Net(hidden, activation, batchnorm=True), Net(hidden, activation, batchnorm=True)
    if variant == "dropout":  # dropout in the discriminator, the usual place
        return Net(hidden, activation, dropout=dropout), Net(hidden, activation)
    raise ValueError(f"batchnorm_experiment: unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}.")


def batchnorm_experiment(size: str = "default", *, game="non_saturating", data: GaussianMixture | None = None,
                         seeds: int | None = None, steps: int | None = None, activations=None, variants=None,
                         update: str = "simultaneous", lr: float = 5e-4, dropout: float = 0.2,
                         workers: int = 2, progress: Callable[[str], None] | None = None) -> ExperimentResult:
    """Test the article's claim "BatchNorm in any network turns the field into a closed one; ReLU works
    better": the same game and data, many seeds, each activation plain / with BatchNorm (in both networks)
    / with dropout (in the discriminator).

    **Arguments:** `size`: `"quick"`, `"small"` or `"default"` (see `EXPERIMENT_SIZES`; the default size runs
    in a few minutes on 2 CPU cores); `game`, `data` (default `default_data(1)`); `seeds`, `steps`,
    `activations`, `variants` override the size's; `update`: `"simultaneous"` or `"alternating"`; `lr`: Adam's
    step (β1 = 0.5) for both players; `dropout`: the drop probability of the dropout variant; `workers`:
    configurations compiled and run concurrently (threads); `progress`: called with a line per finished
    configuration.

    **Returns:** an `ExperimentResult` (`.table()` gives the markdown table).
    """
    if size not in EXPERIMENT_SIZES:
        raise ValueError(f"batchnorm_experiment argument `size` must be one of {', '.join(EXPERIMENT_SIZES)}; "
                         f"got {size!r}.")
    cfg = dict(EXPERIMENT_SIZES[size])
    if seeds is not None:
        cfg["seeds"] = check_int("batchnorm_experiment", "seeds", seeds)
    if steps is not None:
        cfg["steps"] = check_int("batchnorm_experiment", "steps", steps)
        cfg["steps"] -= cfg["steps"] % cfg["measure_every"] or 0
        if cfg["steps"] < cfg["measure_every"]:
            raise ValueError(f"batchnorm_experiment argument `steps` must be ≥ {cfg['measure_every']}; got {steps}.")
    acts = tuple(activations or cfg["activations"])
    vars_ = tuple(variants or cfg["variants"])
    for v in vars_:
        if v not in VARIANTS:
            raise ValueError(f"batchnorm_experiment argument `variants` must hold names from {', '.join(VARIANTS)}; "
                             f"got {v!r}.")
    workers = check_int("batchnorm_experiment", "workers", workers)
    lr = check_float("batchnorm_experiment", "lr", lr)
    opt = _EXPERIMENT_OPT if lr == 5e-4 else optax.adam(lr, b1=0.5, b2=0.999)
    data = default_data(1) if data is None else data
    gans = {}
    for act in acts:
        for v in vars_:
            d_net, g_net = _variant_nets(act, v, cfg["hidden"], dropout)
            label = Net(cfg["hidden"], act).activation + ("" if v == "plain" else f" + {v}")
            gans[label] = GAN(data=data, game=game, discriminator=d_net, generator=g_net, d_optimizer=opt,
                              g_optimizer=opt, update=update, batch_size=cfg["batch_size"])
    kw = dict(seeds=cfg["seeds"], steps=cfg["steps"], measure_every=cfg["measure_every"], n_eval=cfg["n_eval"],
              n_grid=cfg["n_grid"], krylov=cfg["krylov"], top=cfg["krylov"])
    t0 = time.perf_counter()

    def run(item):
        label, gan = item
        r = train(gan, **kw)
        if progress is not None:
            sm = r.summary()
            progress(f"{label}: {sm['converged']}/{sm['seeds']} converged, {sm['diverged']} diverged "
                     f"(compile {r.compile_s:.0f} s, run {r.run_s:.0f} s)")
        return label, r

    if workers > 1 and len(gans) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(pool.map(run, gans.items()))
    else:
        done = dict(map(run, gans.items()))
    results = {label: done[label] for label in gans}
    first = next(iter(results.values()))
    settings = {"size": size, "game": first.gan.game.name, "data": repr(data), "seeds": cfg["seeds"],
                "steps": cfg["steps"], "measure_every": cfg["measure_every"], "update": update, "lr": lr,
                "batch_size": cfg["batch_size"], "hidden": list(cfg["hidden"]), "latent_dim": first.gan.latent_dim,
                "dropout": dropout, "krylov": cfg["krylov"], "tol": first.tol,
                "activations": list(acts), "variants": list(vars_)}
    return ExperimentResult(results, [r.summary() | {"label": label} for label, r in results.items()], settings,
                            time.perf_counter() - t0)
