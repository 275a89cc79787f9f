"""The automatic choice of kernel algorithm (kernels/choice.py), the kernel-vector-product path
(`algorithm="kvp"`, kernels/kvp.py) and the digits data (datasets.py).

Oracle: the explicit full-batch Jacobian `jax.jacrev` over the flattened parameters, `J1 J2ᵀ`, in
float64 — independent of the row-block and kvp assemblies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import datasets, kernels, nets
from jaxgan.errors import ArgumentError, MissingExtraError

nn = pytest.importorskip("flax.linen")


class ConvNet(nn.Module):
    wide: int = 16

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(3, (3, 3))(x))
        x = nn.tanh(nn.Conv(4, (3, 3), strides=2)(x))
        x = nn.tanh(nn.Dense(self.wide)(x.reshape(x.shape[0], -1)))
        return nn.Dense(1)(x)


class Attention(nn.Module):
    """Self-attention over the 8 rows of an 8×8 image (8 tokens of 8 features), then a readout."""

    @nn.compact
    def __call__(self, x):
        t = x.reshape(x.shape[0], 8, 8)
        t = t + nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=8)(t, t)
        return nn.Dense(1)(jnp.tanh(t).mean(axis=1))


def _residual(p, x):
    """A dense residual block: h = tanh(x W1); h + tanh(h W2 + b); readout."""
    h = jnp.tanh(x.reshape(x.shape[0], -1) @ p["w1"])
    h = h + jnp.tanh(h @ p["w2"] + p["b2"])
    return h @ p["w3"]


def _residual_bn(p, x):
    """The residual block with batch statistics (BatchNorm in train mode): batch-coupled."""
    h = x.reshape(x.shape[0], -1) @ p["w1"]
    h = (h - h.mean(0)) / jnp.sqrt(h.var(0) + 1e-3) * p["g"]
    h = h + jnp.tanh(h @ p["w2"] + p["b2"])
    return h @ p["w3"]


def _f64(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)  # on the host: no compiles


def _flax(module, key, x):
    params = _f64(jax.jit(module.init)(key, x[:1])["params"])  # one compile, not one per op
    return (lambda p, xx: module.apply({"params": p}, xx).reshape(-1)), params


def _residual_params(seed, wide=6):
    r = np.random.default_rng(seed)  # host numbers: no compiled op per draw
    return {"w1": r.normal(size=(64, wide)) / 8, "w2": r.normal(size=(wide, wide)) / 3,
            "b2": 0.1 * r.normal(size=wide), "w3": r.normal(size=wide) / 3, "g": 1.0 + 0.1 * np.arange(wide)}


def _inputs(seed, n, shape=(8, 8, 1)):
    return np.random.default_rng(seed).normal(size=(n,) + shape)


def _oracle(apply, params, x):
    leaves = jax.tree_util.tree_leaves(jax.jit(jax.jacrev(lambda p: apply(p, x)))(params))
    j = np.concatenate([np.asarray(a).reshape(np.shape(x)[0], -1) for a in leaves], axis=1)  # on the host
    return j @ j.T


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def _model(name, key, x):
    if name == "conv":
        return _flax(ConvNet(), key, x)
    if name == "attention":
        return _flax(Attention(), key, x)
    return _residual, _f64({k: v for k, v in _residual_params(0).items() if k != "g"})


@pytest.mark.parametrize("name", ["conv", "residual", "attention"])
def test_kvp_equals_jacobian(x64, name):
    x = _inputs(1, 10)
    apply, params = _model(name, jax.random.PRNGKey(0), x)
    k_kvp = np.asarray(kernels.parametric_kernel(apply, params, x, algorithm="kvp", batch_size=4))  # 3 blocks, padded
    k_jac = np.asarray(kernels.parametric_kernel(apply, params, x, algorithm="jacobian", batch_size=4))
    assert k_kvp.dtype == np.float64 and k_kvp.shape == (10, 10)
    assert _rel(k_kvp, k_jac) < 1e-10
    assert np.array_equal(k_kvp, k_kvp.T)
    if name == "residual":  # the explicit full-batch Jacobian product, and x2 given (cheap to compile here)
        assert _rel(k_kvp, _oracle(apply, params, x)) < 1e-10
        k2 = kernels.parametric_kernel(apply, params, x[:7], x[3:], algorithm="kvp", batch_size=4)
        assert k2.shape == (7, 7) and _rel(k2, k_jac[:7, 3:]) < 1e-10  # a rectangular kernel, every block


def test_kvp_batch_coupled_equals_oracle(x64):
    x = _inputs(2, 9, (64,))
    params = _f64(_residual_params(3))
    want = _oracle(_residual_bn, params, x)
    k = kernels.parametric_kernel(_residual_bn, params, x, algorithm="kvp", batch_size=4, batch_coupled=True)
    kj = kernels.parametric_kernel(_residual_bn, params, x, algorithm="jacobian", batch_size=4, batch_coupled=True)
    assert _rel(k, want) < 1e-10 and _rel(kj, want) < 1e-10
    assert np.array_equal(np.asarray(k), np.asarray(k).T)
    choice = kernels.kernel_choice(_residual_bn, params, x, batch_coupled=True)
    assert choice.coupled and choice.forward_flops > 0


@pytest.fixture(scope="module")
def big_dense():
    """A conv net whose dense layer holds most of its P = 8 591 parameters (float32)."""
    x = _inputs(4, 10).astype(np.float32)
    module = ConvNet(wide=128)
    params = jax.jit(module.init)(jax.random.PRNGKey(5), x[:1])["params"]
    return (lambda p, xx: module.apply({"params": p}, xx).reshape(-1)), params, x


def test_choice_kvp_when_jacobian_rows_do_not_fit(big_dense):
    apply, params, x = big_dense
    p = sum(a.size for a in jax.tree_util.tree_leaves(params))
    roomy = kernels.kernel_choice(apply, params, x)
    assert roomy.algorithm == "jacobian" and roomy.block_size == 10 and roomy.n_params == p
    assert roomy.cost("jacobian").flops < roomy.cost("kvp").flops  # each weight of a conv is reused per position
    assert "jacobian" in str(roomy) and "kvp" in str(roomy)
    budget = int(1.5 * p * 4)  # one row of P float32 fits, two do not
    tight = kernels.kernel_choice(apply, params, x, memory_budget=budget)
    assert tight.algorithm == "kvp" and not tight.cost("jacobian").fits and tight.cost("kvp").fits
    assert f"{p:,}" in tight.reason and "budget" in tight.reason
    assert tight.cost("kvp").bytes <= budget
    # the automatic path runs kvp there, and equals the Jacobian product
    k_auto = kernels.parametric_kernel(apply, params, x, memory_budget=budget)
    k_jac = kernels.parametric_kernel(apply, params, x, algorithm="jacobian")
    assert _rel(k_auto, np.asarray(k_jac)) < 1e-5


def test_choice_on_jaxgan_mlp_is_structured():
    init, apply = nets.mlp((1, 16, 16, 1))
    params = init(jax.random.PRNGKey(0))
    x = np.linspace(-1, 1, 12, dtype=np.float32)
    choice = kernels.kernel_choice(apply, params, x)
    assert choice.algorithm == "structured" and choice.cost("structured").flops < choice.cost("jacobian").flops
    assert "kvp" in kernels.ALGORITHMS


def test_bad_input(big_dense):
    apply, params, x = big_dense
    with pytest.raises(ArgumentError, match="memory_budget.*too small"):
        kernels.kernel_choice(apply, params, x, memory_budget=1000)
    with pytest.raises(ArgumentError, match="memory_budget.*too small"):
        kernels.parametric_kernel(apply, params, x, memory_budget=1000)
    with pytest.raises(ArgumentError, match="algorithm='kvp'"):
        kernels.parametric_kernel(apply, params, x, algorithm="kvp", memory_budget=1000)
    with pytest.raises(ArgumentError, match="batch_size"):
        kernels.kernel_choice(apply, params, x, batch_size=0)
    with pytest.raises(ArgumentError, match="structured"):
        kernels.parametric_kernel(apply, params, x, algorithm="structured")
    with pytest.raises(ArgumentError, match="one scalar per input"):
        kernels.kernel_choice(lambda p, xx: apply(p, xx)[:, None] * jnp.ones(3), params, x)


# ============================================================================ digits


def test_load_digits():
    pytest.importorskip("sklearn")
    d = datasets.load_digits()
    assert d.images.shape == (1797, 8, 8, 1) and d.images.dtype == np.float32
    assert d.images.min() == -1.0 and d.images.max() == 1.0
    assert d.labels.shape == (1797,) and d.labels.dtype == np.int32
    assert np.array_equal(np.bincount(d.labels), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    flat = datasets.load_digits(layout="flat", value_range=(0, 16), dtype="float64", classes=(3, 8))
    assert flat.images.shape == (357, 64) and set(np.unique(flat.labels)) == {3, 8}
    assert np.all(flat.images == np.round(flat.images))  # the original grey levels 0..16
    assert np.array_equal(datasets.load_digits(layout="nhw").images, d.images[..., 0])
    first = d.images[0].copy()
    d.images[0] = 5  # a fresh copy each call
    assert np.array_equal(datasets.load_digits().images[0], first)
    for kw in ({"layout": "nchw"}, {"value_range": (1, 0)}, {"classes": (10,)}, {"dtype": "int32"}):
        with pytest.raises(ArgumentError):
            datasets.load_digits(**kw)


def test_load_digits_without_sklearn(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    datasets._raw.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[digits\]"'):
            datasets.load_digits()
    finally:
        datasets._raw.cache_clear()
