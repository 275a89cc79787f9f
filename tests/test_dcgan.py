"""The digits DCGAN players (`jaxgan.neural.dcgan`): shapes, ranges, BatchNorm and dropout modes,
parameter counts against a hand count, the matmul convolutions against XLA's, the `Network`
protocol, and bad arguments named.

Every flax call is jitted (eager flax compiles op by op) and the modules are shared, so each
program compiles once for the file."""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("flax")

import jaxgan  # noqa: E402
from jaxgan.errors import ArgumentError, ArgumentTypeError, MissingExtraError  # noqa: E402
from jaxgan.neural import dcgan  # noqa: E402
from jaxgan.neural.dcgan import dcgan_discriminator, dcgan_generator  # noqa: E402

DN = ("NHWC", "HWIO", "NHWC")
RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32)  # 8 images
Z = RNG.normal(size=(8, 16)).astype(np.float32)  # 8 latents
# flax's convolutions compile fastest; the matmul ones (the default) are checked against them below
D_BN = dcgan_discriminator(width=4, norm="batchnorm", dropout=0.25, conv="lax")
G_BN = dcgan_generator(width=4, norm="batchnorm", conv="lax")
D_PLAIN, G_PLAIN = dcgan_discriminator(width=4, conv="lax"), dcgan_generator(width=4, conv="lax")


@functools.lru_cache(maxsize=None)
def _init(module, n_in):
    """Variables of the shapes `module.init` makes (abstract evaluation: nothing compiled), with
    random parameters from NumPy and BatchNorm statistics as init leaves them (mean 0, var 1)."""
    x = np.zeros((2, 8, 8, 1) if n_in is None else (2, n_in), np.float32)
    shapes = _shapes(module, x)
    rng = np.random.default_rng(7)
    params = jax.tree_util.tree_map(lambda s: (0.4 * rng.normal(size=s.shape)).astype(np.float32), shapes["params"])
    stats = {layer: {"mean": np.zeros(st["mean"].shape, np.float32), "var": np.ones(st["var"].shape, np.float32)}
             for layer, st in shapes.get("batch_stats", {}).items()}
    return {"params": params, **({"batch_stats": stats} if stats else {})}


@functools.partial(jax.jit, static_argnums=0, static_argnames="train")
def _apply(module, v, x, train=False, rng=None):
    """`(out, variables after)` in one mode."""
    if not train:
        return module.apply(v, x), v
    out, upd = module.apply(v, x, train=True, rngs=None if rng is None else {"dropout": rng}, mutable=["batch_stats"])
    return out, {**v, **upd}


def _shapes(module, x):
    return jax.eval_shape(lambda xx: module.init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, xx), x)


def _count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


# ----------------------------------------------------------------------------- the matmul convolutions


def test_matmul_convolutions_are_xla_convolutions():
    cases = [((3, 8, 8, 1), (3, 3, 1, 4), 2), ((2, 4, 4, 3), (3, 3, 3, 5), 2), ((2, 5, 7, 2), (3, 3, 2, 3), 1),
             ((2, 5, 7, 2), (3, 2, 2, 3), 2)]
    args = [(RNG.normal(size=xs).astype(np.float32), RNG.normal(size=ks).astype(np.float32)) for xs, ks, _ in cases]
    t_args = [(RNG.normal(size=xs).astype(np.float32), RNG.normal(size=(4, 4, xs[-1], 5)).astype(np.float32))
              for xs in ((2, 4, 4, 3), (1, 3, 5, 2))]

    @jax.jit
    def both(args, t_args):
        convs = [(dcgan.conv2d(x, k, stride=s), jax.lax.conv_general_dilated(x, k, (s, s), "SAME", dimension_numbers=DN))
                 for (x, k), (_, _, s) in zip(args, cases)]
        transposed = [(dcgan.conv_transpose_4x4_s2(x, k), jax.lax.conv_transpose(x, k, (2, 2), "SAME",
                                                                                  dimension_numbers=DN))
                      for x, k in t_args]
        return convs + transposed

    for got, ref in both(args, t_args):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert both(args, t_args)[-1][0].shape == (1, 6, 10, 5)  # the transposed conv doubles H and W


def test_matmul_and_lax_modules_are_the_same_function():
    """Same variables (names and shapes), same outputs in both modes (BatchNorm's batch statistics
    included); the layers' own equality, padding and strides included, is the test above."""
    pairs = [(dcgan_discriminator(norm="batchnorm", conv=c, width=3) for c in ("lax", "matmul")),
             (dcgan_generator(norm="batchnorm", conv=c, width=3) for c in ("lax", "matmul"))]
    for (lx, mm), x in zip(pairs, (X, Z)):
        v = _init(lx, None if x is X else 16)
        assert jax.tree_util.tree_map(np.shape, _shapes(mm, x)) == jax.tree_util.tree_map(np.shape, _shapes(lx, x))

        @jax.jit
        def outputs(v):
            return [(m.apply(v, x), m.apply(v, x, train=True, mutable=["batch_stats"])) for m in (lx, mm)]

        (e_lx, (t_lx, s_lx)), (e_mm, (t_mm, s_mm)) = outputs(v)
        np.testing.assert_allclose(e_mm, e_lx, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t_mm, t_lx, rtol=1e-5, atol=1e-6)
        for a, b in zip(jax.tree_util.tree_leaves(s_mm), jax.tree_util.tree_leaves(s_lx)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- shapes, range, counts


def test_shapes_and_generator_range():
    vd, vg = _init(D_PLAIN, None), _init(G_PLAIN, 16)
    out = _apply(D_PLAIN, vd, X)[0]
    assert out.shape == (8,)
    np.testing.assert_allclose(_apply(D_PLAIN, vd, X.reshape(8, 64))[0], out, rtol=1e-6)  # flat images too
    assert _apply(G_PLAIN, vg, Z)[0].shape == (8, 8, 8, 1)
    big = _apply(G_PLAIN, vg, 100.0 * Z)[0]  # tanh saturates but stays in [-1, 1]
    assert float(jnp.max(jnp.abs(big))) <= 1.0 and float(jnp.max(jnp.abs(big))) > 0.99


@pytest.mark.parametrize("w,norm", [(16, None), (3, None), (16, "batchnorm"), (5, "batchnorm")])
def test_parameter_counts_match_a_hand_count(w, norm):
    bn = norm == "batchnorm"
    L = 7
    # D: conv 3×3 1→w (+ bias), conv 3×3 w→2w (+ bias unless BN), [BN scale+bias 2·2w], dense 2·2·2w → 1 (+ bias)
    d_params = 9 * w + w + 9 * w * 2 * w + (0 if bn else 2 * w) + (4 * w if bn else 0) + 8 * w + 1
    # G: dense L → 32w (+ bias unless BN), [BN 2·2w], convT 4×4 2w→w (+ bias unless BN), [BN 2w], conv 3×3 w→1 + 1
    g_params = (L * 32 * w + (0 if bn else 32 * w) + (4 * w if bn else 0) + 16 * 2 * w * w + (0 if bn else w)
                + (2 * w if bn else 0) + 9 * w + 1)
    for conv in ("lax", "matmul"):
        vd = _shapes(dcgan_discriminator(width=w, norm=norm, conv=conv), X)
        vg = _shapes(dcgan_generator(latent_dim=L, width=w, norm=norm, conv=conv), Z[:, :L])
        assert _count(vd["params"]) == d_params
        assert _count(vg["params"]) == g_params
        assert _count(vd.get("batch_stats", {})) == (4 * w if bn else 0)  # mean and var of 2w channels
        assert _count(vg.get("batch_stats", {})) == (6 * w if bn else 0)  # 2w + w channels


# ----------------------------------------------------------------------------- modes


def test_batchnorm_train_and_eval_differ_and_running_stats_follow_momentum():
    D = dcgan_discriminator(width=4, norm="batchnorm", conv="lax")  # no dropout
    v = _init(D, None)
    eval_out = _apply(D, v, X)[0]
    train_out, upd = _apply(D, v, X, train=True)
    assert not np.allclose(eval_out, train_out, atol=1e-3)
    # the statistics BatchNorm saw: the pre-BN activations, computed here by hand
    p = v["params"]
    h = jax.nn.leaky_relu(jax.lax.conv_general_dilated(X, p["Conv_0"]["kernel"], (2, 2), "SAME", dimension_numbers=DN)
                          + p["Conv_0"]["bias"], 0.2)
    pre = np.asarray(jax.lax.conv_general_dilated(h, p["Conv_1"]["kernel"], (2, 2), "SAME", dimension_numbers=DN))
    mean, var = pre.mean(axis=(0, 1, 2)), pre.var(axis=(0, 1, 2))
    stats = upd["batch_stats"]["BatchNorm_0"]
    np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-4, atol=1e-6)  # 0.9 · 0 + 0.1 · mean
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * var, rtol=1e-4)  # 0.9 · 1 + 0.1 · var
    # eval mode uses the running statistics: an image's output does not depend on the rest of its batch
    np.testing.assert_allclose(_apply(D, v, X[::-1].copy())[0][::-1], eval_out, rtol=1e-5)
    vg = _init(G_BN, 16)
    out, updg = _apply(G_BN, vg, Z, train=True)
    assert not np.allclose(out, _apply(G_BN, vg, Z)[0], atol=1e-4)
    for a, b in zip(jax.tree_util.tree_leaves(updg["batch_stats"]), jax.tree_util.tree_leaves(vg["batch_stats"])):
        assert not np.allclose(a, b)


def test_dropout_only_in_train_mode():
    v = _init(D_BN, None)
    e1 = _apply(D_BN, v, X)[0]  # eval mode: no rng needed, deterministic
    t1, t2, t1_again = (_apply(D_BN, v, X, train=True, rng=jax.random.key(k))[0] for k in (1, 2, 1))
    np.testing.assert_array_equal(t1, t1_again)
    assert not np.allclose(t1, t2) and not np.allclose(t1, e1)
    vp = _init(D_PLAIN, None)  # no dropout, no BatchNorm: the mode changes nothing
    np.testing.assert_array_equal(_apply(D_PLAIN, vp, X, train=True)[0], _apply(D_PLAIN, vp, X)[0])


def test_work_as_networks():
    v = _init(D_BN, None)
    net = jaxgan.networks.network(D_BN, v)
    assert net.kind == "linen" and net.batchnorm and net.has_mode

    gnet = jaxgan.networks.network(G_PLAIN, _init(G_PLAIN, 16))

    @jax.jit
    def both(net, gnet, rng):
        return net(X), net.apply(net.params, net.state, X, train=True, rng=rng), gnet(Z)

    eval_out, (out, state), images = both(net, gnet, jax.random.key(3))
    np.testing.assert_allclose(eval_out, _apply(D_BN, v, X)[0], rtol=1e-6)
    ref, upd = _apply(D_BN, v, X, train=True, rng=jax.random.key(3))
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    np.testing.assert_allclose(state["batch_stats"]["BatchNorm_0"]["mean"], upd["batch_stats"]["BatchNorm_0"]["mean"],
                               rtol=1e-6)
    np.testing.assert_allclose(images, _apply(G_PLAIN, _init(G_PLAIN, 16), Z)[0], rtol=1e-6)
    # equal settings: equal, hashable modules (compiled code is reused); different settings differ
    assert dcgan_discriminator(width=4, conv="lax") == D_PLAIN
    assert hash(dcgan_generator(width=4, conv="lax")) == hash(G_PLAIN)
    assert dcgan_discriminator(width=5, conv="lax") != D_PLAIN and dcgan_generator(width=4) != G_PLAIN
    assert dcgan_generator().conv == "matmul"
    assert type(D_BN) is dcgan.DCGANDiscriminator and type(G_BN) is dcgan.DCGANGenerator


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,cls,needle", [
    (lambda: dcgan_discriminator(width=0), ArgumentError, "dcgan_discriminator argument `width`"),
    (lambda: dcgan_discriminator(width=2.5), ArgumentTypeError, "dcgan_discriminator argument `width`"),
    (lambda: dcgan_discriminator(activation="sigmoid"), ArgumentError, "dcgan_discriminator argument `activation`"),
    (lambda: dcgan_discriminator(norm="layernorm"), ArgumentError, "dcgan_discriminator argument `norm`"),
    (lambda: dcgan_discriminator(dropout=1.0), ArgumentError, "dcgan_discriminator argument `dropout`"),
    (lambda: dcgan_discriminator(dropout=-0.1), ArgumentError, "dcgan_discriminator argument `dropout`"),
    (lambda: dcgan_discriminator(conv="fft"), ArgumentError, "dcgan_discriminator argument `conv`"),
    (lambda: dcgan_generator(latent_dim=0), ArgumentError, "dcgan_generator argument `latent_dim`"),
    (lambda: dcgan_generator(width="8"), ArgumentTypeError, "dcgan_generator argument `width`"),
    (lambda: dcgan_generator(activation="gelu"), ArgumentError, "dcgan_generator argument `activation`"),
    (lambda: dcgan_generator(norm="batch"), ArgumentError, "dcgan_generator argument `norm`"),
])
def test_bad_arguments_are_named(call, cls, needle):
    with pytest.raises(cls, match=needle.replace("`", ".")):
        call()


def test_bad_input_shapes_are_named():
    with pytest.raises(ArgumentError, match=r"8×8×1 images.*\(4, 7, 7, 1\)"):
        _shapes(dcgan_discriminator(width=2), np.zeros((4, 7, 7, 1), np.float32))
    with pytest.raises(ArgumentError, match=r"\(B, 16\).*\(4, 8\)"):
        _shapes(dcgan_generator(width=2), np.zeros((4, 8), np.float32))


def test_missing_flax_names_the_extra(monkeypatch):
    monkeypatch.setattr(dcgan, "_CLASSES", {})
    monkeypatch.setitem(sys.modules, "flax.linen", None)  # `import flax.linen` now fails
    with pytest.raises(MissingExtraError, match=r'dcgan_generator.*pip install -e "\.\[flax\]"'):
        dcgan_generator()
