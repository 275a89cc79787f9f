"""The data of the neural experiments: Gaussian mixtures (their samples, densities and cell masses)
and any array of samples (`Samples`; the 8×8 digits as images, `digits`).

Both kinds draw a batch from uniforms on (-1, 1) (`n_uniforms` columns per sample, `from_uniforms`),
so one random draw per update makes data, noise and interpolation weights together."""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_type, bad_value, check_choice
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["GaussianMixture", "gaussian_mixture", "default_data", "ring_of_8", "grid_of_25", "Samples", "samples",
           "digits"]


def default_float():
    """The default float dtype: float32, or float64 when the user enabled x64."""
    return jnp.result_type(float)


def uniform_pm1(key, shape, dtype=None):
    """Uniforms on the open interval (-1, 1) (as `jax.random.normal` draws them before `erfinv`)."""
    dtype = dtype or default_float()
    lo = jnp.nextafter(jnp.asarray(-1.0, dtype), jnp.asarray(0.0, dtype))
    return jax.random.uniform(key, shape, dtype, minval=lo, maxval=1.0)


def standard_normal(u):
    """Standard normals from uniforms on (-1, 1), by `√2 erfinv`."""
    return jnp.sqrt(2.0).astype(u.dtype) * jax.scipy.special.erfinv(u)


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """A mixture of isotropic Gaussians in d dimensions: `pd(x) = Σ_k w_k N(x; μ_k, σ_k² I)`.

    A small frozen (hashable) spec; build it with `gaussian_mixture` (which validates and
    normalises) or directly.

    **Arguments:**

    - `means`: `k` means, each a tuple of `d` floats (`((-2.0,), (2.0,))` in 1-D).
    - `stds`: `k` standard deviations, positive.
    - `weights`: `k` non-negative weights with a positive sum (normalised to sum 1).

    **Raises:** `ArgumentError` (a `ValueError`) for negative, non-finite or zero-sum weights,
    non-positive stds, means of different dimensions, or lengths that disagree;
    `ArgumentTypeError` (a `TypeError`) for non-numbers.
    """

    means: tuple
    stds: tuple
    weights: tuple

    def __post_init__(self):
        means, stds, weights = _checked_arrays(self.means, self.stds, self.weights)
        object.__setattr__(self, "means", tuple(tuple(float(v) for v in m) for m in means))
        object.__setattr__(self, "stds", tuple(float(s) for s in stds))
        object.__setattr__(self, "weights", tuple(float(w) for w in weights / weights.sum()))

    @property
    def dim(self) -> int:
        """The dimension d of x."""
        return len(self.means[0])

    @property
    def sample_shape(self) -> tuple:
        """The shape of one sample, `(d,)`."""
        return (self.dim,)

    @property
    def n_uniforms(self) -> int:
        """Uniforms per sample `from_uniforms` takes: one for the component, `d` for the Gaussian."""
        return 1 + self.dim

    def from_uniforms(self, u):
        """Samples `(n, d)` from uniforms `u: (n, 1 + d)` on (-1, 1) (see `transform`)."""
        return self.transform(u[:, 0], u[:, 1:])

    @property
    def n_components(self) -> int:
        """The number k of components."""
        return len(self.stds)

    def arrays(self, dtype=None):
        """`(means (k, d), stds (k,), weights (k,))` as JAX arrays of `dtype` (default float)."""
        dtype = dtype or default_float()
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
        u = uniform_pm1(key, (n, 1 + self.dim))
        return self.transform(u[:, 0], u[:, 1:])

    def transform(self, u_comp, u_gauss):
        """Samples from uniforms on (-1, 1): column `u_comp (n,)` picks the component by inverse CDF,
        `u_gauss (n, d)` become standard normals by `√2 erfinv` (one random draw per batch keeps the
        compiled program small). Returns `Float[Array, "n d"]`."""
        means, stds, weights = self.arrays(u_gauss.dtype)
        cum = jnp.cumsum(weights)[:-1]
        comp = jnp.sum((0.5 * (u_comp + 1.0))[:, None] >= cum[None, :], axis=1)
        return means[comp] + stds[comp][:, None] * standard_normal(u_gauss)

    def density(self, x, smooth: float = 0.0) -> jax.Array:
        """`pd(x)` for `x: Float[Array, "n d"]` (or `(n,)` when d = 1) → `Float[Array, "n"]`.

        `smooth > 0` gives the density convolved with `N(0, smooth² I)` — the expectation of a
        Gaussian kernel density estimate with bandwidth `smooth` (what `kde` of data samples
        estimates).

        **Raises:** `ArgumentError` for `x` of the wrong shape.
        """
        x = jnp.asarray(x)
        means, stds, weights = self.arrays(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else None)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ArgumentError(f"density argument `x` must have shape (n, {self.dim})"
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
        cdf = np.vectorize(lambda t: 0.5 * (1.0 + math.erf(t / math.sqrt(2.0))))
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


def _checked_arrays(means, stds, weights):
    """`(means (k, d), stds (k,), weights (k,))` as float64 arrays, validated (see `GaussianMixture`)."""
    who = "GaussianMixture"
    try:
        means_a = np.asarray(means, dtype=np.float64)
        stds_a = np.asarray(stds, dtype=np.float64)
        weights_a = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{who}: `means`, `stds` and `weights` must be numbers (means: one vector per "
                                f"component); got means={means!r}, stds={stds!r}, weights={weights!r}.") from None
    if means_a.ndim == 1:
        means_a = means_a[:, None]
    if means_a.ndim != 2 or means_a.shape[0] < 1 or means_a.shape[1] < 1:
        raise ArgumentError(f"{who} argument `means` must be k means of one common dimension d, shape (k,) or "
                            f"(k, d); got shape {means_a.shape}.")
    k = means_a.shape[0]
    if stds_a.shape != (k,) or weights_a.shape != (k,):
        raise ArgumentError(f"{who}: `means`, `stds` and `weights` must have the same length k; got {k} means, "
                            f"stds of shape {stds_a.shape} and weights of shape {weights_a.shape}.")
    if not np.all(np.isfinite(means_a)):
        raise bad_value(who, "means", "finite", means_a.tolist())
    if not np.all(np.isfinite(stds_a) & (stds_a > 0)):
        raise bad_value(who, "stds", "positive and finite (a Gaussian needs σ > 0)", stds_a.tolist())
    if not np.all(np.isfinite(weights_a)) or np.any(weights_a < 0):
        raise bad_value(who, "weights", "non-negative and finite (a distribution)", weights_a.tolist())
    if not weights_a.sum() > 0:
        raise bad_value(who, "weights", "of positive sum (a distribution)", weights_a.tolist())
    return means_a, stds_a, weights_a


def gaussian_mixture(means, stds, weights=None) -> GaussianMixture:
    """A validated `GaussianMixture`.

    **Arguments:** `means` of shape `(k,)` (1-D) or `(k, d)`; `stds`: one number for all
    components or `k` numbers; `weights` (default uniform): normalised to sum 1.

    **Returns:** a `GaussianMixture`.

    **Raises:** `ArgumentTypeError` when `means` is not a sequence; see `GaussianMixture` for the rest.
    """
    try:
        k = len(means)
    except TypeError:
        raise bad_type("gaussian_mixture", "means", "a sequence of k means", means) from None
    stds = (stds,) * k if np.ndim(stds) == 0 else tuple(np.ravel(np.asarray(stds, dtype=object)))
    weights = (1.0,) * k if weights is None else tuple(np.ravel(np.asarray(weights, dtype=object)))
    return GaussianMixture(tuple(means), stds, weights)


def default_data(dim: int = 1) -> GaussianMixture:
    """The default data: in 1-D two equal modes `N(±2, 0.5²)`; in 2-D four modes `N((±2, ±2), 0.5² I)`.

    **Raises:** `ArgumentError` unless `dim` is 1 or 2.
    """
    check_choice("default_data", "dim", dim, (1, 2))
    if dim == 1:
        return GaussianMixture(((-2.0,), (2.0,)), (0.5, 0.5), (0.5, 0.5))
    return GaussianMixture(((-2.0, -2.0), (-2.0, 2.0), (2.0, -2.0), (2.0, 2.0)), (0.5,) * 4, (0.25,) * 4)


def ring_of_8(radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """The 2-D ring of 8 equal Gaussians `N(r·(cos 2πk/8, sin 2πk/8), σ² I)`, the mode-collapse benchmark
    of Metz, Poole, Pfau & Sohl-Dickstein 2017 ("Unrolled Generative Adversarial Networks", ICLR):
    radius 2, σ = 0.02 by default.

    **Raises:** `ArgumentError` for a radius or std that is not positive and finite.
    """
    radius = _positive("ring_of_8", "radius", radius)
    std = _positive("ring_of_8", "std", std)
    angles = 2.0 * np.pi * np.arange(8) / 8
    means = tuple((radius * math.cos(a), radius * math.sin(a)) for a in angles)
    return GaussianMixture(means, (std,) * 8, (1.0,) * 8)


def grid_of_25(spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """The 2-D grid of 5 × 5 equal Gaussians at `spacing·(i, j)`, `i, j ∈ {−2, …, 2}`, σ = 0.05: the
    mode-collapse benchmark of Srivastava, Valkov, Russell, Gutmann & Sutton 2017 ("VEEGAN", NeurIPS).

    **Raises:** `ArgumentError` for a spacing or std that is not positive and finite.
    """
    spacing = _positive("grid_of_25", "spacing", spacing)
    std = _positive("grid_of_25", "std", std)
    means = tuple((spacing * i, spacing * j) for i in range(-2, 3) for j in range(-2, 3))
    return GaussianMixture(means, (std,) * 25, (1.0,) * 25)


def _positive(who: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise bad_type(who, arg, "a positive number", value)
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise bad_value(who, arg, "positive and finite", value)
    return float(value)


# ============================================================================ any array of samples


@dataclasses.dataclass(frozen=True, eq=False)
class Samples:
    """Data given as an array of samples: a batch is drawn uniformly with replacement.

    Compared and hashed by content (a digest of the array), so two `Samples` of the same array give
    equal GANs that share compiled programs. The array is a constant of the compiled training.

    - `array`: `Float[ndarray, "N *sample_shape"]` (numpy, float32; read-only).
    - `name`: a short name (`"digits"` turns on the digit classifier's measurements).
    - `labels`: `Int[ndarray, "N"]` class labels, or None.

    Build it with `samples` (which checks) or `digits`.
    """

    array: np.ndarray
    name: str = "samples"
    labels: np.ndarray | None = None
    digest: str = dataclasses.field(default="", compare=False)

    def __post_init__(self):
        if not self.digest:
            import hashlib

            h = hashlib.sha1(np.ascontiguousarray(self.array).view(np.uint8))
            h.update(repr(self.array.shape).encode())
            if self.labels is not None:
                h.update(np.ascontiguousarray(self.labels).view(np.uint8))
            object.__setattr__(self, "digest", h.hexdigest())

    def __eq__(self, other):
        return isinstance(other, Samples) and (self.digest, self.name) == (other.digest, other.name)

    def __hash__(self):
        return hash((self.digest, self.name))

    @property
    def sample_shape(self) -> tuple:
        """The shape of one sample."""
        return tuple(self.array.shape[1:])

    @property
    def dim(self) -> int:
        """The number of values in one sample (the product of `sample_shape`)."""
        return int(np.prod(self.sample_shape))

    @property
    def n(self) -> int:
        """The number of samples."""
        return int(self.array.shape[0])

    @property
    def n_uniforms(self) -> int:
        """Uniforms per sample `from_uniforms` takes: one, the index."""
        return 1

    def from_uniforms(self, u):
        """Samples `(n, *sample_shape)` at the indices `floor((u[:, 0] + 1)/2 · N)`."""
        idx = jnp.clip(jnp.floor(0.5 * (u[:, 0] + 1.0) * self.n).astype(jnp.int32), 0, self.n - 1)
        return jnp.asarray(self.array, u.dtype)[idx]

    def sample(self, key, n: int) -> jax.Array:
        """`n` samples drawn with replacement, `Float[Array, "n *sample_shape"]` (pure JAX; `n` static)."""
        return self.from_uniforms(uniform_pm1(key, (n, 1)))

    def mean(self) -> np.ndarray:
        """The mean sample, flattened, shape `(dim,)`."""
        return self.array.reshape(self.n, -1).mean(axis=0)

    def std(self) -> float:
        """The root-mean-square spread `sqrt(E‖x − E x‖² / dim)`."""
        flat = self.array.reshape(self.n, -1).astype(np.float64)
        return float(np.sqrt(np.mean((flat - flat.mean(axis=0)) ** 2)))

    def __repr__(self):
        return f"Samples({self.name!r}: {self.n} samples of shape {self.sample_shape})"


def samples(array, *, name: str = "samples", labels=None) -> Samples:
    """Data from an array of samples, `(N, *sample_shape)` with N ≥ 2 (a 1-D array is N scalars).

    **Raises:** `ArgumentTypeError` for something that is not a numeric array; `ArgumentError` for
    fewer than 2 samples, non-finite values, or `labels` that are not N integers.
    """
    who = "samples"
    try:
        arr = np.array(array, dtype=np.float32)
    except (TypeError, ValueError):
        raise bad_type(who, "array", "a numeric array of samples (N, *sample_shape)", array) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim < 2 or arr.shape[0] < 2 or arr.size == 0:
        raise ArgumentError(f"{who} argument `array` must hold N ≥ 2 samples, shape (N, *sample_shape); got shape "
                            f"{arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise bad_value(who, "array", "finite", "an array with NaN or inf")
    if not isinstance(name, str) or not name:
        raise bad_type(who, "name", "a non-empty str", name)
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != (arr.shape[0],) or not np.issubdtype(lab.dtype, np.integer):
            raise ArgumentError(f"{who} argument `labels` must be {arr.shape[0]} integers (one per sample); got "
                                f"shape {lab.shape} of {lab.dtype}.")
        lab = lab.astype(np.int64)
        lab.setflags(write=False)
    arr.setflags(write=False)
    return Samples(arr, name, lab)


def digits(*, classes=None) -> Samples:
    """scikit-learn's 1 797 handwritten digits as 8×8 one-channel images in [-1, 1] (`pixel/8 − 1`),
    shape `(1797, 8, 8, 1)`, name `"digits"`, with their labels (see `jaxgan.datasets.load_digits`);
    `classes`: a subset of the digits to keep (then named e.g. `"digits[0, 1]"`).

    **Raises:** `jaxgan.errors.MissingExtraError` naming the `digits` extra without scikit-learn.
    """
    from ..datasets import load_digits

    images, labels = load_digits(classes=classes)
    return samples(images, name="digits" if classes is None else f"digits{list(classes)}", labels=labels)
