"""Small MLPs as plain functions: `init, apply = mlp(sizes, ...)`.

`init(key) -> params` and `apply(params, x) -> D(x)` are pure JAX, so `jax.grad`, `jax.vmap`,
`jax.jit` and optax work on them directly. The returned `apply` is a small frozen callable
(`MLPApply`) that carries its architecture (`apply.spec`): `jaxgan.kernels.parametric_kernel`
recognises it and contracts per-layer factors instead of forming the N×P Jacobian.

Layer order: `dense -> [BatchNorm] -> activation -> [dropout]` for each hidden layer, then a
final dense layer (no normalisation, no activation).

**Parameters** (`params` is a plain dict):

- `params["dense"][l] = {"w": (d_l, d_{l+1}), "b": (d_{l+1},)}` for every layer `l`;
- with `batchnorm=True`, for every hidden layer `l`: `params["bn"][l] = {"scale", "offset"}`
  (the trainable affine map, each of shape `(d_{l+1},)`) and
  `params["batch_stats"][l] = {"mean", "var"}` (the running statistics used in eval mode).

The running statistics live in `params` so that one pytree describes the network, but they
are *state*, not parameters: `apply` reads them through `jax.lax.stop_gradient`, so
`∂D/∂batch_stats = 0`. They never enter the parametric kernel, and gradient steps leave them
unchanged (filter them out of weight decay). They change only through
`apply(..., train=True, update_stats=True)`, which returns the updated `params`.

Initialisation: weights `N(0, gain²/d_in)` (He et al. 2015 with gain √2 for ReLU,
√(2/(1+slope²)) for leaky ReLU; LeCun, gain 1, for tanh); biases `U(-1/√d_in, 1/√d_in)` (the
PyTorch default, which spreads the ReLU kinks over the input range); BatchNorm scale 1,
offset 0, running mean 0, running variance 1.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import bad_type, bad_value, check_bool, check_float, check_fraction, check_int, check_memory
from .errors import ArgumentError, ArgumentTypeError

__all__ = ["MLPSpec", "MLPApply", "mlp", "spec_of", "dropout_masks", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "leaky_relu", "tanh")
_ALIASES = {"relu": "relu", "leaky_relu": "leaky_relu", "leakyrelu": "leaky_relu", "leaky": "leaky_relu",
            "lrelu": "leaky_relu", "tanh": "tanh"}


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """The architecture of a jaxgan MLP (hashable; read by the kernel's structured path).

    - `sizes`: `(d_in, h_1, ..., h_k, d_out)`.
    - `activation`: `"relu"`, `"leaky_relu"` or `"tanh"`.
    - `batchnorm`: BatchNorm after every hidden dense layer.
    - `dropout`: drop probability after every hidden activation (inverted dropout: kept units
      are scaled by `1/(1-dropout)` in train mode; eval mode is the identity).
    - `negative_slope`: the leaky ReLU slope for negative inputs.
    - `bn_eps`: the variance offset of BatchNorm; `bn_momentum`: the running-statistics update
      `running ← (1 - momentum)·running + momentum·batch` (the PyTorch convention).
    """

    sizes: tuple
    activation: str = "relu"
    batchnorm: bool = False
    dropout: float = 0.0
    negative_slope: float = 0.01
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1

    @property
    def n_layers(self) -> int:
        """Number of dense layers."""
        return len(self.sizes) - 1

    @property
    def hidden(self) -> tuple:
        """The hidden widths `(h_1, ..., h_k)`."""
        return tuple(self.sizes[1:-1])

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (running statistics excluded)."""
        p = sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        if self.batchnorm:
            p += 2 * sum(self.hidden)
        return p

    def act(self, h):
        """The activation applied to pre-activations `h`."""
        if self.activation == "relu":
            return jax.nn.relu(h)
        if self.activation == "leaky_relu":
            return jnp.where(h >= 0, h, self.negative_slope * h)
        return jnp.tanh(h)

    def gain(self) -> float:
        """The initialisation gain of the hidden layers (He / LeCun, see the module docstring)."""
        if self.activation == "relu":
            return math.sqrt(2.0)
        if self.activation == "leaky_relu":
            return math.sqrt(2.0 / (1.0 + self.negative_slope ** 2))
        return 1.0


def _check_sizes(sizes) -> tuple:
    """`(d_in, ..., d_out)`: at least two ints ≥ 1."""
    want = "a sequence of positive ints (d_in, ..., d_out)"
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise bad_type("mlp", "sizes", want, sizes)
    if any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) for s in sizes):
        raise ArgumentTypeError(f"mlp argument `sizes` must hold positive ints; got {list(sizes)!r}.")
    if any(s < 1 for s in sizes):
        raise ArgumentError(f"mlp argument `sizes` must hold widths ≥ 1; got {list(sizes)!r}.")
    if len(sizes) < 2:
        raise ArgumentError(f"mlp argument `sizes` needs at least (d_in, d_out); got {list(sizes)!r}.")
    return tuple(int(s) for s in sizes)


def mlp(sizes, activation: str = "relu", batchnorm: bool = False, dropout: float = 0.0, *,
        negative_slope: float = 0.01, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
    """Build a multilayer perceptron as a pair of pure functions.

    **Arguments:**

    - `sizes`: `(d_in, h_1, ..., h_k, d_out)`, positive ints; `d_out = 1` gives a scalar
      network such as a discriminator `D(x)`.
    - `activation`: `"relu"`, `"leaky_relu"` (alias `"leaky"`) or `"tanh"`.
    - `batchnorm`: BatchNorm (Ioffe & Szegedy 2015) after each hidden dense layer.
    - `dropout`: drop probability in `[0, 1)` after each hidden activation (Srivastava et al. 2014).
    - `negative_slope`: leaky ReLU slope, in `[0, 1)`.
    - `bn_eps`: BatchNorm variance offset (> 0); `bn_momentum`: running-statistics momentum in `(0, 1]`.

    **Returns:** `(init, apply)`:

    - `init(key) -> params` (see the module docstring for the layout), in JAX's default float.
    - `apply(params, x, *, train=False, key=None, mask=None, update_stats=False)`:
      `x: Float[Array, "n d_in"]` (or shape `(n,)` when `d_in == 1`) → `Float[Array, "n"]`
      when `d_out == 1`, else `Float[Array, "n d_out"]`.

      - `train=False` (eval mode): BatchNorm uses the running statistics, dropout is off; each
        output depends on its own input only.
      - `train=True`: BatchNorm uses the statistics of this batch (biased variance), so every
        output depends on the whole batch; dropout needs either `key` (a fresh Bernoulli mask
        per example and unit) or `mask` (a fixed mask: a sequence with one array of shape
        `(n, h_l)` of 0/1 keep-flags per hidden layer, e.g. from `dropout_masks`).
      - `update_stats=True` (train mode with BatchNorm only): return `(out, new_params)` with
        the running statistics moved towards this batch's (with `bn_momentum = 1` they become
        exactly the batch statistics, so eval mode then reproduces train mode on that batch).

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument for bad sizes, an unknown
    activation, BatchNorm or dropout without a hidden layer, or values out of range; `init`
    raises `ArgumentError` (with the estimate) for parameters larger than the machine's memory; `apply`
    raises `ArgumentError` for an input of the wrong rank or feature size, a missing dropout key
    or mask, or a mask of the wrong shape.

    **Example:**

    ```python
    init, apply = jaxgan.nets.mlp((1, 512, 512, 1), activation="relu")
    params = init(jax.random.PRNGKey(0))
    d = apply(params, jnp.linspace(-1, 1, 100))        # shape (100,)
    ```
    """
    sizes = _check_sizes(sizes)
    if not isinstance(activation, str) or activation.strip().lower().replace("-", "_") not in _ALIASES:
        raise bad_value("mlp", "activation", f"one of {', '.join(ACTIVATIONS)}", activation)
    activation = _ALIASES[activation.strip().lower().replace("-", "_")]
    batchnorm = check_bool("mlp", "batchnorm", batchnorm)
    dropout = check_fraction("mlp", "dropout", dropout, one_ok=False)
    negative_slope = check_fraction("mlp", "negative_slope", negative_slope, one_ok=False)
    bn_eps = check_float("mlp", "bn_eps", bn_eps, sign="positive")
    bn_momentum = check_fraction("mlp", "bn_momentum", bn_momentum, zero_ok=False)
    if len(sizes) < 3 and (batchnorm or dropout > 0):
        raise ArgumentError(
            f"mlp: `batchnorm` and `dropout` act on hidden layers; sizes {list(sizes)} has none "
            f"(give at least (d_in, h, d_out))."
        )
    spec = MLPSpec(sizes, activation, batchnorm, dropout, negative_slope, bn_eps, bn_momentum)

    def init(key):
        key = _check_key(key, "init")
        # Refused before anything is allocated: a network too large for memory would abort XLA.
        n = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + (4 * sum(sizes[1:-1]) if batchnorm else 0)
        itemsize = np.dtype(jnp.result_type(float)).itemsize
        check_memory("mlp init", f"the parameters of the MLP {tuple(sizes)} ({n} numbers)", 2.0 * n * itemsize,
                     "use narrower or fewer layers")
        return _init(spec, key)

    init.__doc__ = f"Initial parameters of the MLP {spec.sizes} ({spec.activation}); `init(key) -> params`."
    return init, MLPApply(spec)


@dataclasses.dataclass(frozen=True)
class MLPApply:
    """`apply(params, x, *, train=False, key=None, mask=None, update_stats=False)` of a jaxgan MLP.

    A frozen, hashable callable whose `spec` (an `MLPSpec`) lets `jaxgan.kernels` take the
    structured path. See `jaxgan.nets.mlp` for the arguments.
    """

    spec: MLPSpec

    def __call__(self, params, x, *, train: bool = False, key=None, mask=None, update_stats: bool = False):
        if update_stats and not (train and self.spec.batchnorm):
            raise ArgumentError("apply argument `update_stats=True` needs `train=True` and a BatchNorm network.")
        train = check_bool("apply", "train", train)
        if key is not None:
            key = _check_key(key, "apply")
        # One compiled function per architecture, mode and shapes (inlined when traced by the caller).
        return _apply_jit(self.spec, params, x, train, key, mask, bool(update_stats))

    def __repr__(self):
        s = self.spec
        extra = (", batchnorm" if s.batchnorm else "") + (f", dropout={s.dropout:g}" if s.dropout else "")
        return f"MLPApply(sizes={s.sizes}, {s.activation}{extra})"


def _apply(spec: MLPSpec, params, x, train, key, mask, update_stats):
    out, rec = _forward(spec, params, x, train=train, key=key, mask=mask)
    out = out[:, 0] if spec.sizes[-1] == 1 else out
    if update_stats:
        return out, _updated_stats(spec, params, rec)
    return out


_apply_jit = jax.jit(_apply, static_argnums=(0, 3, 6))


def spec_of(apply_fn) -> MLPSpec | None:
    """The `MLPSpec` of a jaxgan MLP's `apply`, or `None` for any other function."""
    return apply_fn.spec if isinstance(apply_fn, MLPApply) else None


def _bucket(n: int) -> int:
    """Sizes of the flat random draws, rounded up to a power of two (≥ 1024): one compiled sampler
    serves many architectures."""
    return max(1024, 1 << (int(n) - 1).bit_length())


@functools.partial(jax.jit, static_argnums=(1, 2))
def _draws(key, n: int, dtype):
    k_w, k_b = jax.random.split(key)
    return jax.random.normal(k_w, (n,), dtype), jax.random.uniform(k_b, (n,), dtype, -1.0, 1.0)


def _init(spec: MLPSpec, key) -> dict:
    dtype = jnp.dtype(jnp.result_type(float))
    shapes = list(zip(spec.sizes[:-1], spec.sizes[1:]))
    n_w = sum(a * b for a, b in shapes)
    n_b = sum(b for _, b in shapes)
    z, u = _draws(key, _bucket(max(n_w, n_b)), dtype)
    z, u = np.asarray(z), np.asarray(u)
    dense, iw, ib = [], 0, 0
    for l, (din, dout) in enumerate(shapes):
        gain = spec.gain() if l < spec.n_layers - 1 else 1.0
        w = (gain / math.sqrt(din)) * z[iw:iw + din * dout].reshape(din, dout)
        b = (1.0 / math.sqrt(din)) * u[ib:ib + dout]
        iw, ib = iw + din * dout, ib + dout
        dense.append({"w": jnp.asarray(w, dtype), "b": jnp.asarray(b, dtype)})
    params: dict[str, Any] = {"dense": dense}
    if spec.batchnorm:
        params["bn"] = [{"scale": jnp.ones((h,), dtype), "offset": jnp.zeros((h,), dtype)} for h in spec.hidden]
        params["batch_stats"] = [{"mean": jnp.zeros((h,), dtype), "var": jnp.ones((h,), dtype)} for h in spec.hidden]
    return params


def _layout(spec: MLPSpec) -> dict:
    """The pytree of `jax.ShapeDtypeStruct`s that `init` returns for `spec`."""
    dtype = jnp.result_type(float)

    def sd(*shape):
        return jax.ShapeDtypeStruct(shape, dtype)

    out: dict[str, Any] = {"dense": [{"w": sd(a, b), "b": sd(b)} for a, b in zip(spec.sizes[:-1], spec.sizes[1:])]}
    if spec.batchnorm:
        out["bn"] = [{"scale": sd(h), "offset": sd(h)} for h in spec.hidden]
        out["batch_stats"] = [{"mean": sd(h), "var": sd(h)} for h in spec.hidden]
    return out


def _check_key(key, fn: str):
    """A JAX PRNG key: a typed key array or a raw `uint32[2]` (a NumPy one is moved to the device)."""
    if isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                       or (key.dtype == jnp.uint32 and key.shape == (2,))):
        return key
    if isinstance(key, np.ndarray) and key.dtype == np.uint32 and key.shape == (2,):
        return jnp.asarray(key)
    raise bad_type(fn, "key", "a jax PRNG key (jax.random.PRNGKey / jax.random.key)", key)


def _canonical_x(spec: MLPSpec, x, dtype):
    x = jnp.asarray(x)
    d = spec.sizes[0]
    if x.ndim == 1:
        if d != 1:
            raise ArgumentError(f"apply argument `x` of shape {x.shape} is only accepted for d_in = 1; "
                             f"this MLP takes (n, {d}).")
        x = x[:, None]
    elif x.ndim != 2:
        raise ArgumentError(f"apply argument `x` must have shape (n, {d})" + (" or (n,)" if d == 1 else "")
                         + f"; got shape {x.shape}.")
    if x.shape[1] != d:
        raise ArgumentError(f"apply argument `x` must have {d} features (shape (n, {d})); got shape {x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(dtype)
    return x


def dropout_masks(apply_or_spec, key, n: int) -> list:
    """Draw fixed per-example dropout masks for `apply(..., train=True, mask=...)`.

    **Arguments:** `apply_or_spec`: a jaxgan MLP `apply` or its `MLPSpec`; `key`: a PRNG key;
    `n`: the number of examples.

    **Returns:** a list with one array of shape `(n, h_l)` per hidden layer, entries 1 (keep,
    probability `1 - dropout`) or 0, in JAX's default float.
    """
    spec = apply_or_spec if isinstance(apply_or_spec, MLPSpec) else spec_of(apply_or_spec)
    if spec is None:
        raise bad_type("dropout_masks", "apply_or_spec", "a jaxgan MLP apply or MLPSpec", apply_or_spec)
    check_int("dropout_masks", "n", n)
    key = _check_key(key, "dropout_masks")
    return _draw_masks(spec, key, int(n), jnp.result_type(float))


def _draw_masks(spec: MLPSpec, key, n: int, dtype) -> list:
    keep = jax.random.bernoulli(key, 1.0 - spec.dropout, (n, sum(spec.hidden))).astype(dtype)
    cuts = [int(c) for c in np.cumsum(spec.hidden)[:-1]]
    return jnp.split(keep, cuts, axis=1) if cuts else [keep]


def _forward(spec: MLPSpec, params, x, *, train=False, key=None, mask=None, taps=None):
    """The forward pass, with optional additive taps and a record of the per-layer factors.

    `taps` (optional): `{"h": [(n, d_{l+1}) per layer], "y": [(n, h_l) per hidden layer]}`,
    zeros added to the dense pre-activations `h_l` and to the BatchNorm outputs `y_l`; their
    gradients are `∂D/∂h_l` and `∂D/∂y_l`, the back-propagated factors of the kernel.

    Returns `(out: (n, d_out), record)` with `record["inputs"][l]` the input of dense layer l
    `(n, d_l)`, `record["xhat"][l]` the normalised pre-activation of hidden layer l, and
    `record["batch_mean"/"batch_var"]` the batch statistics (train mode with BatchNorm).
    """
    dense = params["dense"]
    dtype = dense[0]["w"].dtype
    x = _canonical_x(spec, x, dtype)
    n = x.shape[0]
    n_hidden = len(spec.hidden)
    drop = bool(train) and spec.dropout > 0
    if drop:
        if (key is None) == (mask is None):
            raise ArgumentError("apply in train mode with dropout needs exactly one of `key` (random masks) "
                             "or `mask` (fixed per-example masks, see jaxgan.nets.dropout_masks).")
        if mask is None:
            mask = _draw_masks(spec, key, n, x.dtype)
        if not isinstance(mask, (list, tuple)) or len(mask) != n_hidden:
            raise ArgumentError(f"apply argument `mask` must be a sequence of {n_hidden} arrays (one per hidden "
                             f"layer); got {type(mask).__name__}.")
        for l, (m, h) in enumerate(zip(mask, spec.hidden)):
            if jnp.shape(m) != (n, h):
                raise ArgumentError(f"apply argument `mask[{l}]` must have shape ({n}, {h}); got {jnp.shape(m)}.")
    rec: dict[str, list] = {"inputs": [], "xhat": [], "batch_mean": [], "batch_var": []}
    a = x
    for l in range(spec.n_layers):
        rec["inputs"].append(a)
        h = a @ dense[l]["w"] + dense[l]["b"]
        if taps is not None:
            h = h + taps["h"][l]
        if l == spec.n_layers - 1:
            return h, rec
        if spec.batchnorm:
            if train:
                mean = jnp.mean(h, axis=0)
                var = jnp.mean(jnp.square(h - mean), axis=0)
                rec["batch_mean"].append(mean)
                rec["batch_var"].append(var)
            else:
                stats = jax.lax.stop_gradient(params["batch_stats"][l])
                mean, var = stats["mean"], stats["var"]
            xhat = (h - mean) * jax.lax.rsqrt(var + spec.bn_eps)
            rec["xhat"].append(xhat)
            h = params["bn"][l]["scale"] * xhat + params["bn"][l]["offset"]
            if taps is not None:
                h = h + taps["y"][l]
        a = spec.act(h)
        if drop:
            a = a * (jnp.asarray(mask[l], a.dtype) / (1.0 - spec.dropout))
    raise AssertionError("unreachable")


def _updated_stats(spec: MLPSpec, params, rec) -> dict:
    m = spec.bn_momentum
    new_stats = []
    for old, mean, var in zip(params["batch_stats"], rec["batch_mean"], rec["batch_var"]):
        mean, var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var)
        new_stats.append({"mean": (1 - m) * old["mean"] + m * mean, "var": (1 - m) * old["var"] + m * var})
    out = dict(params)
    out["batch_stats"] = new_stats
    return out


def zero_taps(spec: MLPSpec, n: int, dtype) -> dict:
    """Zero taps for `_forward` (see there): one array per dense layer and per BatchNorm layer."""
    return {"h": [jnp.zeros((n, d), dtype) for d in spec.sizes[1:]],
            "y": [jnp.zeros((n, h), dtype) for h in spec.hidden] if spec.batchnorm else []}


def check_params(spec: MLPSpec, params) -> None:
    """Raise `ArgumentError` if `params` does not have the layout and shapes `init` gives for `spec`."""
    ref = _layout(spec)
    try:
        got_def = jax.tree_util.tree_structure(params)
    except Exception:  # pragma: no cover - tree_structure accepts anything
        got_def = None
    if got_def != jax.tree_util.tree_structure(ref):
        raise ArgumentError(f"`params` do not have the layout of the MLP {spec.sizes} (batchnorm={spec.batchnorm}); "
                         f"expected {jax.tree_util.tree_structure(ref)}, got {got_def}.")
    for (path, r), g in zip(jax.tree_util.tree_leaves_with_path(ref), jax.tree_util.tree_leaves(params)):
        if jnp.shape(g) != r.shape:
            raise ArgumentError(f"`params` entry {jax.tree_util.keystr(path)} must have shape {r.shape} for the MLP "
                             f"{spec.sizes}; got {jnp.shape(g)}.")
