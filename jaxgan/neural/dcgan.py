"""Small DCGAN-style convolutional players for the 8×8 digits, as `flax.linen` modules.

`dcgan_discriminator` and `dcgan_generator` build the two players of the digits GAN (issue 12):
the conv nets of Radford et al. 2016 ("DCGAN") scaled down to 8×8×1 images in [-1, 1]
(`jaxgan.datasets.load_digits`), with a choice of activation, BatchNorm and dropout so that the
article's claims about them ("BatchNorm turns the field into a closed one; ReLU works better")
can be measured on real images:

    generator:      z (B, L) → Dense → 4×4×(2w) → [BN] → act → ConvTranspose 4×4 / 2 → 8×8×w
                    → [BN] → act → Conv 3×3 → 8×8×1 → tanh
    discriminator:  x (B, 8, 8, 1) → Conv 3×3 / 2 → 4×4×w → act → [dropout]
                    → Conv 3×3 / 2 → 2×2×(2w) → [BN] → act → [dropout] → flatten → Dense 1 (raw logit)

As in DCGAN, the discriminator's first layer and the generator's output layer have no BatchNorm,
and a layer followed by BatchNorm has no bias (BatchNorm's own shift replaces it; a bias there
would only add directions in which nothing changes, i.e. zero eigenvalues of the Hessian). The
weights use flax's default initialisers (LeCun normal, zero biases); BatchNorm keeps running
statistics with momentum 0.9 (PyTorch's 0.1) and ε = 1e-5. The convolutions are computed as
matrix products on image patches (`conv="matmul"`, default: `conv2d`, `conv_transpose_4x4_s2`,
checked against XLA's convolution in the tests) or, with `conv="lax"`, by flax's `nn.Conv` /
`nn.ConvTranspose` — the same function with the same parameters. `vmap` over seeds turns XLA's
convolutions into grouped ones, which XLA:CPU runs several times slower than these matmuls.

Each module's `__call__(x, train=False)` is the mode switch `jaxgan.networks.network` finds:
BatchNorm uses batch statistics and updates `batch_stats` when `train=True` (running statistics
otherwise), and dropout draws its masks from the `"dropout"` rng in train mode only. So both work
with `jaxgan.networks.network(module, variables)` and as the players of a `jaxgan.neural.GAN`.

flax is an optional extra (`pip install -e ".[flax]"`): it is imported the first time a module is
built, and the module classes (`DCGANDiscriminator`, `DCGANGenerator`, reachable as attributes of
this module, with their `MatmulConv` layer) are made once, so modules with equal settings compare and hash equal and reuse
compiled code.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .._checks import check_choice, check_fraction, check_int
from ..errors import ArgumentError
from ..networks.frameworks import require

__all__ = ["dcgan_discriminator", "dcgan_generator", "conv2d", "conv_transpose_4x4_s2", "ACTIVATIONS", "NORMS",
           "CONVS", "IMAGE_SHAPE"]

ACTIVATIONS = ("relu", "leaky_relu", "tanh")
NORMS = (None, "batchnorm")
CONVS = ("matmul", "lax")
IMAGE_SHAPE = (8, 8, 1)
LEAKY_SLOPE = 0.2
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5


def _activation(name: str):
    if name == "relu":
        return jax.nn.relu
    if name == "leaky_relu":
        return functools.partial(jax.nn.leaky_relu, negative_slope=LEAKY_SLOPE)
    return jnp.tanh


def _image_batch(x, who: str):
    """`x` as `(B, 8, 8, 1)`: images given as `(B, 8, 8, 1)`, `(B, 8, 8)` or flat `(B, 64)`."""
    shape = tuple(x.shape)
    if len(shape) < 2 or shape[1:] not in (IMAGE_SHAPE, IMAGE_SHAPE[:2], (64,)):
        raise ArgumentError(f"{who} input must be a batch of 8×8×1 images, shape (B, 8, 8, 1) (or (B, 8, 8), "
                            f"(B, 64)); got shape {shape}.")
    return x.reshape((shape[0],) + IMAGE_SHAPE)


def _same_pads(size: int, k: int, stride: int) -> tuple:
    """XLA's "SAME" padding `(lo, hi)` of one spatial axis."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _patches(x, kh: int, kw: int, stride: int, pads):
    """The `kh×kw` windows of `x` `(B, H, W, C)` with `pads` `((lo, hi), (lo, hi))`, as
    `(B, H', W', kh·kw·C)` ordered (row, column, channel) like a flattened HWIO kernel."""
    x = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    ho, wo = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    return jnp.concatenate([x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :]
                            for i in range(kh) for j in range(kw)], axis=-1)


def conv2d(x, kernel, *, stride: int = 1):
    """`lax.conv_general_dilated(x, kernel, (stride, stride), "SAME")` in NHWC/HWIO, as one matmul on
    the image patches (im2col).

    **Arguments:** `x`: `Float[Array, "B H W C"]`; `kernel`: `Float[Array, "kh kw C F"]`; `stride`:
    the step in both spatial axes.

    **Returns:** `Float[Array, "B ceil(H/stride) ceil(W/stride) F"]`.
    """
    kh, kw, cin, cout = kernel.shape
    pads = (_same_pads(x.shape[1], kh, stride), _same_pads(x.shape[2], kw, stride))
    return _patches(x, kh, kw, stride, pads) @ kernel.reshape(kh * kw * cin, cout)


# output phase -> ((offset in the 1-padded input, kernel row/column), ...) of a 4-wide, stride-2 transposed conv
_PHASE_TAPS = {0: ((0, 0), (1, 2)), 1: ((1, 1), (2, 3))}


def conv_transpose_4x4_s2(x, kernel):
    """`lax.conv_transpose(x, kernel, (2, 2), "SAME")` for a 4×4 HWIO kernel (flax's `ConvTranspose`,
    kernel not flipped), by its four output phases: output pixel `(2m + a, 2n + b)` is a 2×2 window
    of the input times four taps of the kernel, so each phase is one matmul on 2×2 patches (no
    multiplications by the zeros of the dilated input).

    **Arguments:** `x`: `Float[Array, "B H W C"]`; `kernel`: `Float[Array, "4 4 C F"]`.

    **Returns:** `Float[Array, "B 2H 2W F"]`.
    """
    b_, h, w, cin = x.shape
    cout = kernel.shape[-1]
    xq = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = []
    for a in (0, 1):
        cols = []
        for b in (0, 1):
            taps = [(dy, dx, ky, kx) for dy, ky in _PHASE_TAPS[a] for dx, kx in _PHASE_TAPS[b]]
            p = jnp.concatenate([xq[:, dy:dy + h, dx:dx + w, :] for dy, dx, _, _ in taps], axis=-1)
            k = jnp.stack([kernel[ky, kx] for _, _, ky, kx in taps]).reshape(4 * cin, cout)
            cols.append(p @ k)
        rows.append(jnp.stack(cols, axis=3))  # (B, H, W, 2 [b], C)
    return jnp.stack(rows, axis=2).reshape(b_, 2 * h, 2 * w, cout)  # (B, H, 2 [a], W, 2 [b], C)


_CLASSES: dict = {}  # the module classes, once made


def _classes(who: str = "jaxgan.neural.dcgan") -> dict:
    """The flax.linen module classes, made once (flax imported here, lazily; `who` is named when
    flax is missing)."""
    if not _CLASSES:
        _CLASSES.update(_make_classes(require("flax.linen", who)))
    return _CLASSES


def _make_classes(nn) -> dict:
    """`DCGANDiscriminator`, `DCGANGenerator` and their `MatmulConv` layer, on flax.linen `nn`."""
    # Long because the three classes must be defined on the lazily imported flax, in one closure.

    def batchnorm(train):
        return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)

    class MatmulConv(nn.Module):
        """A "SAME" conv (or the 4×4 stride-2 transposed conv) with the parameters of flax's
        `nn.Conv` / `nn.ConvTranspose` (`kernel` HWIO, LeCun normal; `bias` zeros), computed by matmuls."""

        features: int
        kernel_size: tuple
        stride: int = 1
        transpose: bool = False
        use_bias: bool = True

        @nn.compact
        def __call__(self, x):
            kernel = self.param("kernel", nn.initializers.lecun_normal(),
                                (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
            y = conv_transpose_4x4_s2(x, kernel) if self.transpose else conv2d(x, kernel, stride=self.stride)
            if self.use_bias:
                y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
            return y

    def make_conv(impl, features, size, stride, use_bias, name):
        if impl == "lax":
            return nn.Conv(features, (size, size), strides=(stride, stride), padding="SAME", use_bias=use_bias,
                           name=name)
        return MatmulConv(features, (size, size), stride, use_bias=use_bias, name=name)

    def make_conv_transpose(impl, features, use_bias, name):
        if impl == "lax":
            return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=use_bias, name=name)
        return MatmulConv(features, (4, 4), 2, transpose=True, use_bias=use_bias, name=name)

    class DCGANDiscriminator(nn.Module):
        """The digits discriminator (see `jaxgan.neural.dcgan_discriminator`): `(B, 8, 8, 1)` → `(B,)` logits."""

        width: int = 16
        activation: str = "leaky_relu"
        norm: str | None = None
        dropout: float = 0.0
        conv: str = "matmul"

        @nn.compact
        def __call__(self, x, train: bool = False):
            act = _activation(self.activation)
            bn = self.norm == "batchnorm"
            h = _image_batch(x, "DCGANDiscriminator")
            h = act(make_conv(self.conv, self.width, 3, 2, True, "Conv_0")(h))  # 4×4×w
            if self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
            h = make_conv(self.conv, 2 * self.width, 3, 2, not bn, "Conv_1")(h)  # 2×2×2w
            if bn:
                h = batchnorm(train)(h)
            h = act(h)
            if self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
            return nn.Dense(1)(h.reshape((h.shape[0], -1)))[:, 0]

    class DCGANGenerator(nn.Module):
        """The digits generator (see `jaxgan.neural.dcgan_generator`): `(B, latent_dim)` → `(B, 8, 8, 1)` in [-1, 1]."""

        latent_dim: int = 16
        width: int = 16
        activation: str = "relu"
        norm: str | None = None
        conv: str = "matmul"

        @nn.compact
        def __call__(self, z, train: bool = False):
            if z.ndim != 2 or z.shape[1] != self.latent_dim:
                raise ArgumentError(f"DCGANGenerator input must be a batch of latent vectors, shape "
                                    f"(B, {self.latent_dim}); got shape {tuple(z.shape)}.")
            act = _activation(self.activation)
            bn = self.norm == "batchnorm"
            h = nn.Dense(4 * 4 * 2 * self.width, use_bias=not bn)(z).reshape((z.shape[0], 4, 4, 2 * self.width))
            if bn:
                h = batchnorm(train)(h)  # per channel, as BatchNorm2d after DCGAN's projection
            h = make_conv_transpose(self.conv, self.width, not bn, "ConvTranspose_0")(act(h))  # 8×8×w
            if bn:
                h = batchnorm(train)(h)
            h = act(h)
            return jnp.tanh(make_conv(self.conv, 1, 3, 1, True, "Conv_0")(h))

    for cls in (DCGANDiscriminator, DCGANGenerator, MatmulConv):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return {"DCGANDiscriminator": DCGANDiscriminator, "DCGANGenerator": DCGANGenerator, "MatmulConv": MatmulConv}


def __getattr__(name):  # the module classes, made on first use (flax is imported lazily)
    if name in ("DCGANDiscriminator", "DCGANGenerator", "MatmulConv"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dcgan_discriminator(*, width: int = 16, activation: str = "leaky_relu", norm: str | None = None,
                        dropout: float = 0.0, conv: str = "matmul"):
    """A small DCGAN discriminator for 8×8×1 images, as a `flax.linen.Module` (no parameters yet).

    Conv 3×3 stride 2 → `(B, 4, 4, width)` → activation → [dropout] → Conv 3×3 stride 2 →
    `(B, 2, 2, 2·width)` → [BatchNorm] → activation → [dropout] → flatten → Dense 1: a raw logit
    per image (the GAN's output map sends it onto the game's domain).

    **Arguments:**

    - `width`: channels of the first conv layer (the second has `2·width`); default 16.
    - `activation`: `"leaky_relu"` (slope 0.2, default, as in DCGAN), `"relu"` or `"tanh"`.
    - `norm`: `None` (default) or `"batchnorm"`: BatchNorm after the second conv layer (not the
      first, as in DCGAN; that conv then has no bias).
    - `dropout`: drop rate in `[0, 1)` after each hidden activation, in train mode only (masks
      from the `"dropout"` rng); default 0 (no dropout layer).
    - `conv`: how the convolutions are computed — `"matmul"` (default): matrix products on the
      image patches (im2col; the transposed conv by its four output phases), or `"lax"`: flax's own
      `nn.Conv` / `nn.ConvTranspose` (XLA's convolution). The same function with the same
      parameters (names, shapes, initialisers). With seeds `vmap`ped (`jaxgan.neural.train`) XLA
      turns `"lax"` into grouped convolutions, about 7× slower on XLA:CPU than `"matmul"`
      (`benchmarks/train_throughput.py --conv lax` compares).

    **Returns:** a `flax.linen.Module` `m`; `m.init({"params": k, "dropout": k2}, x)` gives its
    variables (`params`, and `batch_stats` with BatchNorm); `m.apply(variables, x, train=...)` maps
    `Float[Array, "B 8 8 1"]` (or `"B 8 8"`, `"B 64"`) to `Float[Array, "B"]` logits.

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument; `jaxgan.errors.MissingExtraError`
    naming `pip install -e ".[flax]"` when flax is missing.

    **Example:**

    ```python
    D = jaxgan.neural.dcgan_discriminator(norm="batchnorm", dropout=0.25)
    variables = D.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, jnp.zeros((2, 8, 8, 1)))
    net = jaxgan.networks.network(D, variables)        # logits: net(images)
    ```
    """
    who = "dcgan_discriminator"
    width = check_int(who, "width", width, 1)
    activation = check_choice(who, "activation", activation, ACTIVATIONS)
    norm = check_choice(who, "norm", norm, NORMS)
    dropout = check_fraction(who, "dropout", dropout, one_ok=False)
    conv = check_choice(who, "conv", conv, CONVS)
    return _classes(who)["DCGANDiscriminator"](width=width, activation=activation, norm=norm, dropout=dropout,
                                            conv=conv)


def dcgan_generator(*, latent_dim: int = 16, width: int = 16, activation: str = "relu", norm: str | None = None,
                    conv: str = "matmul"):
    """A small DCGAN generator of 8×8×1 images in [-1, 1], as a `flax.linen.Module` (no parameters yet).

    Dense → `(B, 4, 4, 2·width)` → [BatchNorm] → activation → ConvTranspose 4×4 stride 2 →
    `(B, 8, 8, width)` → [BatchNorm] → activation → Conv 3×3 → `(B, 8, 8, 1)` → tanh.

    **Arguments:**

    - `latent_dim`: the size of the latent vectors `z` (default 16; the `GAN`'s `latent_dim`).
    - `width`: channels of the 8×8 layer (the 4×4 layer has `2·width`); default 16.
    - `activation`: `"relu"` (default, as in DCGAN), `"leaky_relu"` (slope 0.2) or `"tanh"`.
    - `norm`: `None` (default) or `"batchnorm"`: BatchNorm after the dense and the transposed conv
      layers (not the output layer, as in DCGAN; those two layers then have no bias).
    - `conv`: `"matmul"` (default) or `"lax"`, as for `dcgan_discriminator`.

    **Returns:** a `flax.linen.Module` mapping `Float[Array, "B latent_dim"]` to
    `Float[Array, "B 8 8 1"]` in [-1, 1]; `__call__(z, train=False)`.

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument; `jaxgan.errors.MissingExtraError`
    naming `pip install -e ".[flax]"` when flax is missing.

    **Example:**

    ```python
    gan = jaxgan.neural.GAN(discriminator=jaxgan.neural.dcgan_discriminator(),
                            generator=jaxgan.neural.dcgan_generator(latent_dim=16),
                            data=jaxgan.neural.digits(), latent_dim=16)
    ```
    """
    who = "dcgan_generator"
    latent_dim = check_int(who, "latent_dim", latent_dim, 1)
    width = check_int(who, "width", width, 1)
    activation = check_choice(who, "activation", activation, ACTIVATIONS)
    norm = check_choice(who, "norm", norm, NORMS)
    conv = check_choice(who, "conv", conv, CONVS)
    return _classes(who)["DCGANGenerator"](latent_dim=latent_dim, width=width, activation=activation, norm=norm,
                                        conv=conv)
