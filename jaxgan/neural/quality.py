"""Sample quality of a GAN the way the field measures it: modes of a Gaussian mixture, digit classes.

Two families, pure JAX (they run inside the compiled training: `jit`, `vmap`, `lax.scan`), each
with a host convenience that returns Python floats:

- **Gaussian mixtures** (`mixture_quality`, `mixture_quality_of`): the number of modes a generator
  covers and the fraction of its samples that are "high quality" (close to a mode), as in the
  mode-collapse benchmarks of Metz et al. 2017 ("Unrolled Generative Adversarial Networks", ICLR;
  ring of 8), Srivastava et al. 2017 ("VEEGAN: Reducing Mode Collapse in GANs using Implicit
  Variational Learning", NeurIPS; ring of 8 and grid of 25) and Lin et al. 2018 ("PacGAN: The
  power of two samples in generative adversarial networks", NeurIPS).
- **8×8 digits** (`digit_classifier`, `digit_quality`, `reference_stats`, `frechet_distance`): a
  small MLP classifier of scikit-learn's digits, trained once in JAX and cached (in memory and on
  disk), gives the classes a generator covers and a Fréchet distance between the Gaussians of its
  hidden features on generated and on real digits (the FID of Heusel et al. 2017, "GANs Trained by
  a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", with a digits classifier in
  place of Inception).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import tempfile
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import bad_type, check_instance, check_scalar, is_traced, working_float
from ..datasets import load_digits
from ..errors import ArgumentError
from .data import GaussianMixture

__all__ = ["mixture_quality", "mixture_quality_of", "DigitClassifier", "digit_classifier", "digit_quality",
           "digit_quality_of", "reference_stats", "frechet_distance", "quality_cache_dir", "N_CLASSES"]

N_CLASSES = 10

# =================================================================================== mixtures


def _as_float(value, who: str, arg: str, dtype=None):
    """`value` as a JAX array of a floating dtype (`dtype`, else its own float, else the default float)."""
    try:
        arr = value if isinstance(value, jax.Array) else jnp.asarray(value)
    except (TypeError, ValueError):
        raise bad_type(who, arg, "an array of numbers", value) from None
    if arr.dtype == jnp.bool_ or not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise bad_type(who, arg, "an array of real numbers", value)
    if dtype is None:
        dtype = arr.dtype if jnp.issubdtype(arr.dtype, jnp.floating) else working_float()
    return arr.astype(dtype)


def _mixture_arrays(who: str, fake, means, stds, weights):
    """The four arrays of `mixture_quality`, shapes checked ((n, d), (k, d), (k,), (k,)); values too when concrete."""
    fake = _as_float(fake, who, "fake")
    means = _as_float(means, who, "means", fake.dtype)
    if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
        raise ArgumentError(f"{who} argument `means` must have shape (k, d), one mean per mode; got shape {means.shape}.")
    k, d = means.shape
    if fake.ndim == 1 and d == 1:
        fake = fake[:, None]
    if fake.ndim != 2 or fake.shape[1] != d or fake.shape[0] < 1:
        raise ArgumentError(f"{who} argument `fake` must have shape (n, {d}) (n ≥ 1 samples of the mixture's "
                            f"dimension {d}); got shape {fake.shape}.")
    stds = _as_float(stds, who, "stds", fake.dtype)
    weights = _as_float(weights, who, "weights", fake.dtype)
    for arg, arr in (("stds", stds), ("weights", weights)):
        if arr.shape != (k,):
            raise ArgumentError(f"{who} argument `{arg}` must have shape ({k},), one per mode of `means`; "
                                f"got shape {arr.shape}.")
    if not is_traced((means, stds, weights)):
        m, s, w = (np.asarray(a, np.float64) for a in (means, stds, weights))
        if not np.all(np.isfinite(m)):
            raise ArgumentError(f"{who} argument `means` must hold finite numbers.")
        if not np.all(np.isfinite(s) & (s > 0)):
            raise ArgumentError(f"{who} argument `stds` must hold positive finite numbers; got {s.tolist()}.")
        if not (np.all(np.isfinite(w) & (w >= 0)) and w.sum() > 0):
            raise ArgumentError(f"{who} argument `weights` must hold non-negative finite numbers of positive sum; "
                                f"got {w.tolist()}.")
    return fake, means, stds, weights


@jax.jit
def _mixture_quality(fake, means, stds, weights, n_sigma, min_share):
    n, k = fake.shape[0], means.shape[0]
    sq = jnp.sum((fake[:, None, :] - means[None, :, :]) ** 2, axis=-1)  # (n, k)
    nearest = jnp.argmin(sq, axis=1)
    dist = jnp.sqrt(jnp.min(sq, axis=1))
    good = dist <= n_sigma * stds[nearest]  # NaN samples are never good
    counts = jnp.sum(jax.nn.one_hot(nearest, k, dtype=fake.dtype) * good[:, None].astype(fake.dtype), axis=0)
    expected = weights / jnp.sum(weights) * n
    covered = (counts >= min_share * expected) & (counts > 0)
    return {"modes_covered": jnp.sum(covered).astype(fake.dtype),
            "high_quality": jnp.mean(good.astype(fake.dtype))}


def mixture_quality(fake, means, stds, weights, *, n_sigma=3.0, min_share=0.2) -> dict:
    """Modes covered and the fraction of high-quality samples of a generator on a Gaussian mixture.

    The rules of the mode-collapse benchmarks (Metz et al. 2017, "Unrolled GANs"; Srivastava et
    al. 2017, "VEEGAN"; Lin et al. 2018, "PacGAN"):

    - each sample is assigned to its **nearest mode** (Euclidean distance to the means);
    - a sample is **high quality** when it lies within `n_sigma·σ_k` (Euclidean) of that mode `k`
      (VEEGAN and PacGAN: three standard deviations);
    - a mode is **covered** when it receives at least one high-quality sample and at least
      `min_share` × its expected share `w_k·n` of them. `min_share=0.2` is PacGAN's rule (a mode
      of the grid of 25 is lost with fewer than 20 of 2 500 samples, a fifth of the 100 expected);
      `min_share=0` is VEEGAN's (any high-quality sample covers its mode).

    Pure JAX: usable inside `jit`, `vmap` and `lax.scan`; the shapes are checked when called (on
    tracers too), the values of `means`, `stds`, `weights` only when they are concrete. A NaN
    sample is never high quality.

    **Arguments:**

    - `fake`: `Float[Array, "n d"]` generated samples (`(n,)` accepted when `d = 1`).
    - `means`: `Float[Array, "k d"]`; `stds`: `Float[Array, "k"]` (positive); `weights`:
      `Float[Array, "k"]` (non-negative, normalised here) — e.g. `*mixture.arrays()` of a
      `GaussianMixture`.
    - `n_sigma`: the radius of a high-quality sample in standard deviations (default 3).
    - `min_share`: the fraction of its expected count a mode needs to be covered (default 0.2).

    **Returns:** a dict of scalars in `fake`'s float dtype: `"modes_covered"` (a whole number,
    0 … k) and `"high_quality"` (a fraction in [0, 1]).

    **Raises:** `ArgumentError` naming the argument for shapes that do not fit (`fake` not
    `(n, d)`, `means` not `(k, d)`, `stds` or `weights` not `(k,)`), non-positive stds, negative
    weights, a non-positive `n_sigma` or a negative `min_share`; `ArgumentTypeError` for non-numbers.

    **Example:**

    ```python
    ring = jaxgan.neural.ring_of_8()
    q = mixture_quality(ring.sample(jax.random.key(0), 2000), *ring.arrays())
    # {"modes_covered": 8.0, "high_quality": ≈ 0.989}: 1 − P(‖N(0, I₂)‖ > 3) = 1 − e^{−4.5}
    ```
    """
    who = "mixture_quality"
    fake, means, stds, weights = _mixture_arrays(who, fake, means, stds, weights)
    n_sigma = check_scalar(who, "n_sigma", n_sigma, sign="positive", dtype=fake.dtype)
    min_share = check_scalar(who, "min_share", min_share, sign="non-negative", dtype=fake.dtype)
    return _mixture_quality(fake, means, stds, weights, n_sigma, min_share)


def mixture_quality_of(samples, mixture: GaussianMixture, **kw) -> dict:
    """`mixture_quality` of `samples` against a `GaussianMixture`, on the host: a dict of Python floats.

    **Arguments:** `samples`: `Float[Array, "n d"]`; `mixture`: a `GaussianMixture` (e.g.
    `jaxgan.neural.ring_of_8()`); `**kw`: `n_sigma`, `min_share` (see `mixture_quality`).

    **Returns:** `{"modes_covered": float, "high_quality": float}`.

    **Raises:** `ArgumentTypeError` when `mixture` is not a `GaussianMixture`; see `mixture_quality`.
    """
    check_instance("mixture_quality_of", "mixture", mixture, GaussianMixture, "a jaxgan GaussianMixture",
                   " (jaxgan.neural.gaussian_mixture, ring_of_8, grid_of_25)")
    fake = _as_float(samples, "mixture_quality_of", "samples")
    out = mixture_quality(fake, *mixture.arrays(fake.dtype), **kw)
    return {name: float(value) for name, value in out.items()}


# ============================================================================ Fréchet distance


def _sym(c):
    return 0.5 * (c + jnp.swapaxes(c, -1, -2))


def _sqrtm_psd(c):
    """The symmetric square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    w, v = jnp.linalg.eigh(_sym(c))
    return (v * jnp.sqrt(jnp.clip(w, 0.0))) @ v.T


@jax.jit
def _frechet(mu1, cov1, mu2, cov2):
    s1 = _sqrtm_psd(cov1)
    inner = _sym(s1 @ _sym(cov2) @ s1)  # similar to Σ1Σ2, symmetric PSD: tr sqrt(Σ1Σ2) = Σ sqrt(eig)
    tr_sqrt = jnp.sum(jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh(inner), 0.0)))
    diff = mu1 - mu2
    fd = diff @ diff + jnp.trace(cov1) + jnp.trace(cov2) - 2.0 * tr_sqrt
    return jnp.maximum(fd, 0.0)


def _check_gaussian(who: str, mu, cov, mu_arg: str, cov_arg: str, dtype=None, f=None):
    mu = _as_float(mu, who, mu_arg, dtype)
    cov = _as_float(cov, who, cov_arg, mu.dtype)
    if mu.ndim != 1 or mu.shape[0] < 1 or (f is not None and mu.shape[0] != f):
        want = f"({f},)" if f is not None else "(f,)"
        raise ArgumentError(f"{who} argument `{mu_arg}` must be a mean vector of shape {want}; got shape {mu.shape}.")
    f = mu.shape[0]
    if cov.shape != (f, f):
        raise ArgumentError(f"{who} argument `{cov_arg}` must be a covariance of shape ({f}, {f}), matching "
                            f"`{mu_arg}`; got shape {cov.shape}.")
    return mu, cov


def frechet_distance(mu1, cov1, mu2, cov2) -> jax.Array:
    """The Fréchet (2-Wasserstein²) distance between `N(mu1, cov1)` and `N(mu2, cov2)`.

    `FD = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^{1/2}`, with the trace of the square root
    computed from symmetric eigendecompositions only: `tr (Σ1Σ2)^{1/2} = Σ_i sqrt(λ_i)`, `λ_i` the
    eigenvalues of the symmetric positive semi-definite `Σ1^{1/2} Σ2 Σ1^{1/2}` (similar to Σ1Σ2);
    rounding's tiny negative eigenvalues are clipped to 0, and so is the result. Pure JAX
    (`jit`/`vmap`-safe, differentiable where the eigenvalues are distinct), in the inputs' float
    dtype (use float64 for large, ill-conditioned covariances).

    **Arguments:** `mu1`, `mu2`: `Float[Array, "f"]`; `cov1`, `cov2`: `Float[Array, "f f"]`,
    symmetric positive semi-definite.

    **Returns:** a scalar ≥ 0.

    **Raises:** `ArgumentError` for shapes that do not fit (naming the argument).
    """
    who = "frechet_distance"
    mu1, cov1 = _check_gaussian(who, mu1, cov1, "mu1", "cov1")
    mu2, cov2 = _check_gaussian(who, mu2, cov2, "mu2", "cov2", mu1.dtype, mu1.shape[0])
    return _frechet(mu1, cov1, mu2, cov2)


def _mean_cov(feats):
    """Sample mean and covariance (ddof = 1, as `numpy.cov`) of `(n, f)` features."""
    mu = jnp.mean(feats, axis=0)
    centred = feats - mu
    return mu, centred.T @ centred / (feats.shape[0] - 1)


# ============================================================================ the digit classifier

# How the classifier is trained (part of the cache key): a 64 → 128 → 64 → 10 ReLU MLP, Adam,
# minibatches of 128 drawn with replacement, a small L2 penalty; 20 % of the images held out.
_SETTINGS = (("hidden", (128, 64)), ("steps", 600), ("batch", 128), ("lr", 3e-3), ("l2", 1e-4),
             ("seed", 0), ("held_out", 0.2), ("split_seed", 0), ("numpy", np.__version__), ("format", 1))
_CONFIG = dict(_SETTINGS)
_MEMORY: dict = {}  # cache key -> DigitClassifier (this process)
ENV_DIR = "JAXGAN_CACHE_DIR"


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class DigitClassifier:
    """A trained classifier of the 8×8 digits (a frozen pytree: `params` are its leaves).

    - `params`: a tuple of `(W, b)` per dense layer, `64 → 128 → 64 → 10`, ReLU between.
    - `accuracy`: its accuracy on the held-out fifth of the digits it was not trained on (a float;
      NaN when unknown).

    Methods (pure JAX, `jit`/`vmap`-safe) take images `x` of shape `(n, 8, 8, 1)`, `(n, 8, 8)` or
    `(n, 64)` in the [-1, 1] scaling of `jaxgan.datasets.load_digits` (pixel/8 − 1):
    `logits(x)` → `(n, 10)`, `features(x)` → `(n, 64)` (the last hidden layer, the features of
    the Fréchet distance), `predict(x)` → `(n,)` int classes.
    """

    params: tuple
    accuracy: float = float("nan")

    def tree_flatten(self):
        # The accuracy as text: static data compared by value, and NaN equals NaN (no recompiles).
        return (self.params,), (repr(float(self.accuracy)),)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], float(aux[0]))

    @property
    def feature_dim(self) -> int:
        """The number f of features (64)."""
        return int(self.params[-1][0].shape[0])

    @property
    def dtype(self):
        """The float dtype of its parameters (and of what it computes)."""
        return self.params[0][0].dtype

    def _flat(self, x, fn: str):
        x = _as_float(x, f"DigitClassifier.{fn}", "x", self.dtype)
        if x.ndim == 2 and x.shape[1] == 64:
            return x
        if x.shape[1:] in ((8, 8), (8, 8, 1)):
            return x.reshape(x.shape[0], 64)
        raise ArgumentError(f"DigitClassifier.{fn} argument `x` must be digit images of shape (n, 8, 8, 1), "
                            f"(n, 8, 8) or (n, 64); got shape {x.shape}.")

    def features(self, x) -> jax.Array:
        """The last hidden layer's activations, `Float[Array, "n 64"]`."""
        return _features(self.params, self._flat(x, "features"))

    def logits(self, x) -> jax.Array:
        """The class logits, `Float[Array, "n 10"]`."""
        return _logits(self.params, self._flat(x, "logits"))

    def predict(self, x) -> jax.Array:
        """The predicted digit of each image, `Int[Array, "n"]`."""
        return jnp.argmax(self.logits(x), axis=-1)

    def __repr__(self):
        sizes = [self.params[0][0].shape[0]] + [w.shape[1] for w, _ in self.params]
        return f"DigitClassifier({' → '.join(map(str, sizes))}, held-out accuracy {self.accuracy:.4f})"


def _hidden(params, x):
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    return x


@jax.jit
def _features(params, x):
    return _hidden(params, x)


@jax.jit
def _logits(params, x):
    w, b = params[-1]
    return _hidden(params, x) @ w + b


@jax.jit
def _feature_stats(params, x):
    return _mean_cov(_hidden(params, x))


def _init(rng: np.random.Generator, sizes, dtype):
    """He-normal weights and zero biases, drawn with NumPy (a JAX draw inside the program would
    triple its compile time)."""
    return tuple((jnp.asarray(rng.standard_normal((a, b)) * np.sqrt(2.0 / a), dtype), jnp.zeros(b, dtype))
                 for a, b in zip(sizes[:-1], sizes[1:]))


def _loss(params, x, y, l2):
    w, b = params[-1]
    logits = _hidden(params, x) @ w + b
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return ce + l2 * sum(jnp.sum(w_ ** 2) for w_, _ in params)


@functools.partial(jax.jit, static_argnames=("lr", "l2"))
def _fit(params, batches, x, y, x_held, y_held, *, lr, l2):
    """Train from `params` on the minibatches `batches` (indices, `(steps, batch)`) with Adam and
    count the correct held-out predictions, in one compiled program."""
    opt = optax.adam(lr)

    def step(carry, batch_idx):
        params, state = carry
        grads = jax.grad(_loss)(params, x[batch_idx], y[batch_idx], l2)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), batches)
    w, b = params[-1]
    correct = jnp.sum(jnp.argmax(_hidden(params, x_held) @ w + b, axis=-1) == y_held)
    return params, correct


def _split(n: int):
    """(train, held-out) indices: a fixed permutation (NumPy, seed `split_seed`), the first fifth held out."""
    perm = np.random.default_rng(_CONFIG["split_seed"]).permutation(n)
    n_out = int(round(_CONFIG["held_out"] * n))
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def _train(images: np.ndarray, labels: np.ndarray, dtype) -> DigitClassifier:
    """Train the classifier on the training split of `(images (n, 64), labels)`; its held-out accuracy attached.
    The initial weights and the minibatches (drawn with replacement) come from NumPy's generator, seed `seed`."""
    train, held = _split(len(labels))
    c = _CONFIG
    rng = np.random.default_rng(c["seed"])
    params = _init(rng, (64, *c["hidden"], N_CLASSES), dtype)
    batches = rng.integers(0, len(train), (c["steps"], c["batch"])).astype(np.int32)
    params, correct = _fit(params, batches, images[train].astype(dtype), labels[train], images[held].astype(dtype),
                           labels[held], lr=c["lr"], l2=c["l2"])
    return DigitClassifier(params, int(correct) / len(held))


def quality_cache_dir(environ=None) -> str:
    """The folder of the cached digit classifier: `$JAXGAN_CACHE_DIR/models`, else
    `$XDG_CACHE_HOME/jaxgan/models`, else `~/.cache/jaxgan/models` (the same root as the `jaxgan`
    command's compilation cache, `jaxgan.cli._cache`; empty variables count as unset)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_DIR):
        root = os.path.expanduser(env[ENV_DIR])
    else:
        root = os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "jaxgan")
    return os.path.abspath(os.path.join(root, "models"))


def _cache_key(images: np.ndarray, labels: np.ndarray, dtype) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
    h.update(repr((_SETTINGS, np.dtype(dtype).name)).encode())
    return h.hexdigest()


def _cache_path(key: str) -> str:
    return os.path.join(quality_cache_dir(), f"digit-classifier-{key[:24]}.npz")


def _npz(loaded):
    """`loaded` if `numpy.load` found an `.npz` archive (a context manager), else a ValueError."""
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("not an .npz archive")
    return loaded


def _load(path: str, key: str, dtype) -> DigitClassifier | None:
    """The classifier stored at `path`, or None when there is none; a file that cannot be used
    (unreadable, corrupt, another key, wrong shapes) is a warning and None."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh, _npz(np.load(fh, allow_pickle=False)) as f:
            if str(f["key"]) != key:
                raise ValueError("it holds another classifier")
            sizes = (64, *_CONFIG["hidden"], N_CLASSES)
            params = []
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                w, bias = f[f"w{i}"], f[f"b{i}"]
                if w.shape != (a, b) or bias.shape != (b,) or w.dtype != dtype or bias.dtype != dtype:
                    raise ValueError(f"layer {i} has the wrong shape or dtype")
                if not (np.all(np.isfinite(w)) and np.all(np.isfinite(bias))):
                    raise ValueError(f"layer {i} holds non-finite numbers")
                params.append((jnp.asarray(w), jnp.asarray(bias)))
            accuracy = float(f["accuracy"])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is retrained over, never a crash
        warnings.warn(f"jaxgan: the cached digit classifier {path!r} cannot be used ({type(exc).__name__}: "
                      f"{str(exc)[:100]}); training it again and replacing the file", UserWarning, stacklevel=3)
        return None
    return DigitClassifier(tuple(params), accuracy)


def _save(path: str, key: str, clf: DigitClassifier) -> None:
    """Write `clf` to `path` atomically (a temporary file in the same folder, then `os.replace`);
    a folder that cannot be written is a warning, and the classifier stays in memory only."""
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".digit-classifier-", suffix=".tmp", dir=os.path.dirname(path))
        arrays = {f"{p}{i}": np.asarray(a) for i, layer in enumerate(clf.params) for p, a in zip("wb", layer)}
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, key=np.asarray(key), accuracy=np.asarray(clf.accuracy), **arrays)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        warnings.warn(f"jaxgan: cannot write the digit classifier cache {path!r} ({exc.strerror or exc}); "
                      f"keeping it in memory only (set {ENV_DIR} to a writable folder)", UserWarning, stacklevel=3)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def digit_classifier(*, cache: bool = True) -> DigitClassifier:
    """The digit classifier: a 64 → 128 → 64 → 10 ReLU MLP trained on 80 % of scikit-learn's 8×8 digits.

    Trained in JAX (Adam, 600 minibatches of 128, initial weights and batches from NumPy's
    generator with seed 0: deterministic; a few seconds on a CPU, most of it compiling) in JAX's
    default float (float32; float64 when x64 is on), scored on the held-out 20 %
    (`.accuracy`, about 0.98). With `cache=True` it is trained once: kept in memory for the
    process and on disk in `quality_cache_dir()` (`$JAXGAN_CACHE_DIR/models`, else
    `~/.cache/jaxgan/models`), under a key that hashes the data, the training settings and the
    dtype, written atomically. A cache file that cannot be read (corrupt, truncated, foreign) is
    trained over with a warning; a folder that cannot be written is a warning too.

    **Arguments:** `cache`: use and fill the caches (default); `False` trains afresh and touches neither.

    **Returns:** a frozen `DigitClassifier` (a pytree; pass it into `jit`-compiled functions).

    **Raises:** `jaxgan.errors.MissingExtraError` (an `ImportError`) naming `pip install -e
    ".[digits]"` when scikit-learn is missing.
    """
    if not isinstance(cache, (bool, np.bool_)):
        raise bad_type("digit_classifier", "cache", "True or False", cache)
    dtype = working_float()
    digits = load_digits(layout="flat", dtype=dtype)
    images, labels = digits.images, digits.labels
    if not cache:
        return _train(images, labels, dtype)
    key = _cache_key(images, labels, dtype)
    if key in _MEMORY:
        return _MEMORY[key]
    path = _cache_path(key)
    clf = _load(path, key, dtype)
    if clf is None:
        clf = _train(images, labels, dtype)
        _save(path, key, clf)
    _MEMORY[key] = clf
    return clf


# ============================================================================ digit quality


def reference_stats(classifier: DigitClassifier):
    """Mean and covariance (ddof = 1) of `classifier.features` over all 1 797 real digits (on the
    host: call it once, outside the compiled training, and pass the two arrays in).

    **Returns:** `(mean Float[Array, "f"], cov Float[Array, "f f"])` in the classifier's dtype.

    **Raises:** `ArgumentTypeError` when `classifier` is not a `DigitClassifier`.
    """
    check_instance("reference_stats", "classifier", classifier, DigitClassifier,
                   "a DigitClassifier", " (jaxgan.neural.quality.digit_classifier())")
    images = load_digits(layout="flat", dtype=np.dtype(classifier.dtype)).images
    return _feature_stats(classifier.params, jnp.asarray(images))


@jax.jit
def _digit_quality(fake, classifier, ref_mean, ref_cov, min_share):
    w, b = classifier.params[-1]
    feats = _hidden(classifier.params, fake)
    logits = feats @ w + b
    finite = jnp.all(jnp.isfinite(logits), axis=-1)  # a NaN image is no digit (its argmax would say 0)
    counts = jnp.sum(jax.nn.one_hot(jnp.argmax(logits, axis=-1), N_CLASSES, dtype=feats.dtype)
                     * finite[:, None].astype(feats.dtype), axis=0)
    share = counts / fake.shape[0]
    covered = (counts > 0) & (share >= min_share / N_CLASSES)
    mu, cov = _mean_cov(feats)
    return {"classes_covered": jnp.sum(covered).astype(feats.dtype), "fd": _frechet(mu, cov, ref_mean, ref_cov)}


def digit_quality(fake, classifier: DigitClassifier, ref_mean, ref_cov, *, min_share=0.2) -> dict:
    """Classes covered and the Fréchet distance of generated digits (pure JAX: `jit`/`vmap`/`scan`-safe).

    Each image is given the class the classifier predicts; a class is **covered** when it gets at
    least one image and a share of them of at least `min_share × 1/10` (its share in the real data
    is about 1/10; the rule of `mixture_quality`). An image with a NaN counts for no class, and
    makes `fd` NaN. The **Fréchet distance** is `frechet_distance` between the Gaussian (mean,
    ddof-1 covariance) of the classifier's features of `fake` and `(ref_mean, ref_cov)` — the FID
    recipe with this classifier in place of Inception. Like the FID it is biased upwards for small
    `n` (compare runs at the same `n`).

    **Arguments:**

    - `fake`: `Float[Array, "n 8 8 1"]` (or `(n, 8, 8)`, `(n, 64)`), n ≥ 2, in [-1, 1] (pixel/8 − 1).
    - `classifier`: a `DigitClassifier` (`digit_classifier()`).
    - `ref_mean`, `ref_cov`: `(f,)`, `(f, f)`: the real digits' statistics (`reference_stats`).
    - `min_share`: fraction of the uniform share 1/10 a class needs (default 0.2).

    **Returns:** `{"classes_covered": scalar (a whole number 0 … 10), "fd": scalar ≥ 0}` in the
    classifier's float dtype.

    **Raises:** `ArgumentError` naming the argument for a `fake` that is not a batch of ≥ 2 digit
    images, statistics of the wrong shape, a negative `min_share`; `ArgumentTypeError` for a
    `classifier` that is not a `DigitClassifier`.
    """
    who = "digit_quality"
    check_instance(who, "classifier", classifier, DigitClassifier, "a DigitClassifier",
                   " (jaxgan.neural.quality.digit_classifier())")
    fake = _as_float(fake, who, "fake", classifier.dtype)
    if not (fake.ndim >= 2 and fake.shape[1:] in ((64,), (8, 8), (8, 8, 1)) and fake.shape[0] >= 2):
        raise ArgumentError(f"{who} argument `fake` must be n ≥ 2 digit images of shape (n, 8, 8, 1), (n, 8, 8) "
                            f"or (n, 64); got shape {fake.shape}.")
    fake = fake.reshape(fake.shape[0], 64)
    ref_mean, ref_cov = _check_gaussian(who, ref_mean, ref_cov, "ref_mean", "ref_cov", classifier.dtype,
                                        classifier.feature_dim)
    min_share = check_scalar(who, "min_share", min_share, sign="non-negative", dtype=classifier.dtype)
    return _digit_quality(fake, classifier, ref_mean, ref_cov, min_share)


def digit_quality_of(samples, classifier: DigitClassifier | None = None, *, min_share=0.2) -> dict:
    """`digit_quality` of `samples` on the host with the cached classifier and the real digits'
    statistics: `{"classes_covered": float, "fd": float}`.

    **Arguments:** `samples`: digit images `(n, 8, 8, 1)` / `(n, 8, 8)` / `(n, 64)` in [-1, 1];
    `classifier`: default `digit_classifier()`; `min_share` as in `digit_quality`.

    **Returns:** a dict of Python floats. **Raises:** as `digit_quality` and `digit_classifier`.
    """
    clf = digit_classifier() if classifier is None else classifier
    out = digit_quality(samples, clf, *reference_stats(clf), min_share=min_share)
    return {name: float(value) for name, value in out.items()}
