"""jaxgan.nets: MLP builders (shapes, modes, initialisation, errors)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import nets
from jaxgan.errors import ArgumentError, ArgumentTypeError

KEY = jax.random.PRNGKey(0)


def _hidden(params, x, act="relu"):
    """A one-hidden-layer forward pass written out by hand (numpy), for cross-checks."""
    w1, b1 = np.asarray(params["dense"][0]["w"]), np.asarray(params["dense"][0]["b"])
    return np.asarray(x).reshape(len(x), -1) @ w1 + b1


def test_shapes_and_input_ranks():
    init, apply = nets.mlp((1, 8, 1), "tanh")
    p = init(KEY)
    x = jnp.linspace(-1, 1, 5)
    out = apply(p, x)
    assert out.shape == (5,)
    np.testing.assert_array_equal(out, apply(p, x[:, None]))
    init2, apply2 = nets.mlp((2, 4, 3), "relu")
    out2 = apply2(init2(KEY), jnp.ones((6, 2)))
    assert out2.shape == (6, 3)
    assert out.dtype == jnp.result_type(float)


def test_forward_equals_hand_written():
    init, apply = nets.mlp((1, 16, 1), "leaky_relu", negative_slope=0.2)
    p = init(KEY)
    x = np.linspace(-2, 2, 9)
    h = _hidden(p, x)
    a = np.where(h >= 0, h, 0.2 * h)
    ref = a @ np.asarray(p["dense"][1]["w"])[:, 0] + float(p["dense"][1]["b"][0])
    np.testing.assert_allclose(apply(p, x), ref, rtol=1e-5, atol=1e-6)


def test_init_scales():
    # He initialisation: std of W = gain/sqrt(d_in); biases within ±1/sqrt(d_in).
    for act, gain in (("relu", math.sqrt(2)), ("tanh", 1.0), ("leaky_relu", math.sqrt(2 / (1 + 0.01 ** 2)))):
        init, apply = nets.mlp((256, 256, 1), act)
        p = init(KEY)
        w = np.asarray(p["dense"][0]["w"])
        assert abs(w.std() / (gain / 16.0) - 1) < 0.03
        assert np.all(np.abs(np.asarray(p["dense"][0]["b"])) <= 1 / 16.0)
        assert apply.spec.n_params == 256 * 256 + 256 + 256 + 1


def test_batchnorm_modes():
    init, apply = nets.mlp((1, 8, 8, 1), "relu", batchnorm=True, bn_momentum=1.0)
    p = init(KEY)
    x = jax.random.normal(jax.random.PRNGKey(1), (12,))
    train_out, p2 = apply(p, x, train=True, update_stats=True)
    # momentum 1: the running statistics are this batch's, so eval reproduces train on it.
    np.testing.assert_allclose(apply(p2, x), train_out, rtol=1e-5, atol=1e-5)
    # train mode couples the batch, eval mode does not.
    y = x.at[0].set(5.0)
    assert not np.allclose(apply(p, y, train=True)[1:], apply(p, x, train=True)[1:])
    np.testing.assert_array_equal(apply(p2, y)[1:], apply(p2, x)[1:])
    # batch statistics: the first hidden pre-activations are normalised over the batch.
    h = _hidden(p, x)
    mean, var = h.mean(0), h.var(0)
    np.testing.assert_allclose(p2["batch_stats"][0]["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p2["batch_stats"][0]["var"], var, rtol=1e-4)
    # default momentum 0.1 from (0, 1)
    init3, apply3 = nets.mlp((1, 8, 8, 1), "relu", batchnorm=True)
    _, p3 = apply3(p, x, train=True, update_stats=True)
    np.testing.assert_allclose(p3["batch_stats"][0]["mean"], 0.1 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p3["batch_stats"][0]["var"], 0.9 + 0.1 * var, rtol=1e-5)


def test_running_stats_are_not_parameters():
    init, apply = nets.mlp((1, 8, 1), "tanh", batchnorm=True)
    p = init(KEY)
    x = jnp.linspace(-1, 1, 7)
    g = jax.grad(lambda q: apply(q, x).sum())(p)
    assert all(float(jnp.abs(v).max()) == 0 for v in jax.tree_util.tree_leaves(g["batch_stats"]))
    assert float(jnp.abs(g["bn"][0]["scale"]).max()) > 0
    assert apply.spec.n_params == sum(np.size(v) for k, v in p.items() if k != "batch_stats"
                                      for v in jax.tree_util.tree_leaves(v))


def test_dropout():
    p_drop = 0.25
    init, apply = nets.mlp((1, 32, 1), "relu", dropout=p_drop)
    p = init(KEY)
    x = np.linspace(-1, 1, 6)
    masks = nets.dropout_masks(apply, jax.random.PRNGKey(3), 6)
    assert len(masks) == 1 and masks[0].shape == (6, 32)
    h = np.maximum(_hidden(p, x), 0) * np.asarray(masks[0]) / (1 - p_drop)
    ref = h @ np.asarray(p["dense"][1]["w"])[:, 0] + float(p["dense"][1]["b"][0])
    np.testing.assert_allclose(apply(p, x, train=True, mask=masks), ref, rtol=1e-5, atol=1e-6)
    # eval mode is the plain network
    h0 = np.maximum(_hidden(p, x), 0)
    np.testing.assert_allclose(apply(p, x), h0 @ np.asarray(p["dense"][1]["w"])[:, 0] + float(p["dense"][1]["b"][0]),
                               rtol=1e-5, atol=1e-6)
    k1, k2 = jax.random.PRNGKey(5), jax.random.PRNGKey(6)
    np.testing.assert_array_equal(apply(p, x, train=True, key=k1), apply(p, x, train=True, key=k1))
    assert not np.allclose(apply(p, x, train=True, key=k1), apply(p, x, train=True, key=k2))
    big = nets.dropout_masks(apply, k1, 4000)[0]
    assert abs(float(big.mean()) - (1 - p_drop)) < 0.01


def test_transformations_and_marker():
    init, apply = nets.mlp((2, 8, 1), "tanh")
    p = init(KEY)
    x = jnp.ones((3, 2))
    np.testing.assert_allclose(jax.jit(apply)(p, x), apply(p, x), rtol=1e-6)
    per_example = jax.vmap(lambda xi: apply(p, xi[None])[0])(x)
    np.testing.assert_allclose(per_example, apply(p, x), rtol=1e-6)
    assert nets.spec_of(apply) == apply.spec and nets.spec_of(lambda p, x: x) is None
    assert hash(apply) == hash(nets.mlp((2, 8, 1), "tanh")[1])
    assert "tanh" in repr(apply)


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(sizes=(1, 8, 1), activation="sigmoid"), ArgumentError, "activation"),
    (dict(sizes=(1, 0, 1)), ArgumentError, "sizes"),
    (dict(sizes=(1,)), ArgumentError, "sizes"),
    (dict(sizes="1,8,1"), ArgumentTypeError, "sizes"),
    (dict(sizes=(1, 8.0, 1)), ArgumentTypeError, "sizes"),
    (dict(sizes=(1, 1), batchnorm=True), ArgumentError, "hidden"),
    (dict(sizes=(1, 8, 1), dropout=1.0), ArgumentError, r"dropout` must be in \[0, 1\)"),
    (dict(sizes=(1, 8, 1), dropout="half"), ArgumentTypeError, "dropout"),
    (dict(sizes=(1, 8, 1), batchnorm="yes"), ArgumentTypeError, "batchnorm"),
    (dict(sizes=(1, 8, 1), bn_momentum=0.0), ArgumentError, r"bn_momentum` must be in \(0, 1\]"),
    (dict(sizes=(1, 8, 1), bn_momentum=1.5), ArgumentError, "bn_momentum"),
    (dict(sizes=(1, 8, 1), negative_slope=-0.1), ArgumentError, "negative_slope"),
    (dict(sizes=(1, 8, 1), bn_eps=0.0), ArgumentError, "bn_eps"),
])
def test_mlp_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        nets.mlp(**kwargs)


def test_apply_bad_input():
    init, apply = nets.mlp((2, 4, 1), "relu", dropout=0.5)
    p = init(KEY)
    with pytest.raises(ArgumentError, match="features"):
        apply(p, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="shape"):
        apply(p, jnp.ones((3,)))
    with pytest.raises(ValueError, match="shape"):
        apply(p, jnp.ones((3, 2, 1)))
    with pytest.raises(ValueError, match="key.*mask|mask"):
        apply(p, jnp.ones((3, 2)), train=True)
    with pytest.raises(ValueError, match=r"mask\[0\]"):
        apply(p, jnp.ones((3, 2)), train=True, mask=[jnp.ones((2, 4))])
    with pytest.raises(ValueError, match="update_stats"):
        apply(p, jnp.ones((3, 2)), update_stats=True)
    with pytest.raises(ArgumentTypeError, match="init argument `key`"):
        init(0)
    with pytest.raises(ArgumentTypeError, match="apply argument `train`"):
        apply(p, jnp.ones((3, 2)), train="yes")
    with pytest.raises(ArgumentTypeError, match="dropout_masks argument `key`"):
        nets.dropout_masks(apply, 3, 4)
    with pytest.raises(ArgumentTypeError, match="apply_or_spec"):
        nets.dropout_masks(lambda q, x: x, KEY, 4)
    with pytest.raises(ArgumentError, match="layout"):
        nets.check_params(apply.spec, {"dense": p["dense"][:1]})
