"""jaxgan.networks: every adapter (flax.linen, flax.nnx, equinox, plain) gives the kernel of the
explicit Jacobian product; dense stacks are recognised from the model and take the structured
path (to 1e-10 in float64), other models (convolutions, residual blocks, another activation) are
not and still give the exact kernel; a rebuilt network reuses compiled code; bad input is named.

Models are built once per module (small widths) and cast to float64 inside the `x64` tests."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import kernels, networks
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.kernels import blocks, structured
from jaxgan.kernels.plan import make_plan

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")
eqx = pytest.importorskip("equinox")
warnings.filterwarnings("ignore", message=".*BatchNorm.*mode.*")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(7, 3))  # the inputs of every test (float64 under x64)
X2 = RNG.normal(size=(4, 3))


def _f64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, np.float64)) if eqx.is_inexact_array(a) else a,
                                  tree)


def _explicit(f, params, x1, x2=None):
    """`J1 J2ᵀ` from full reverse-mode Jacobians of the batch outputs over the parameters, flattened
    on the host (one compiled Jacobian per call: eager evaluation, `ravel_pytree` included, would
    compile every operation)."""
    jac = jax.jit(lambda q, x: jax.jacrev(lambda r: f(r, x).reshape(-1))(q))

    def rows(x):
        leaves = jax.tree_util.tree_leaves(jac(params, x))
        return np.concatenate([np.asarray(a).reshape(np.shape(x)[0], -1) for a in leaves], axis=1)

    j1 = rows(x1)
    j2 = j1 if x2 is None else rows(x2)
    return j1 @ j2.T


def _rel(k, ref):
    return float(np.abs(np.asarray(k) - ref).max() / np.abs(ref).max())


def _plan(model, params, x, train=None, rng=None):
    return make_plan("t", model, params, x, None, train, None, None, None, None, rng=rng)


# ============================================================================ the models (built once)


class Dense(nn.Module):
    widths: tuple = (6, 5)
    act: str = "tanh"
    bn: bool = False
    drop: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        act = {"tanh": nn.tanh, "relu": nn.relu, "leaky": lambda h: nn.leaky_relu(h, 0.2), "gelu": nn.gelu}[self.act]
        for w in self.widths:
            x = nn.Dense(w)(x)
            if self.bn:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.8)(x)
            x = act(x)
            if self.drop:
                x = nn.Dropout(self.drop, deterministic=not train)(x)
        return nn.Dense(1)(x)


class Residual(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.Dense(3)(x)
        return nn.Dense(1)(x + nn.relu(h))


class Conv(nn.Module):
    @nn.compact
    def __call__(self, x):  # x: (n, 3) seen as a 1-D signal of length 3 with one channel
        h = nn.relu(nn.Conv(2, (2,))(x[:, :, None]))
        return nn.Dense(1)(h.reshape(h.shape[0], -1))


def _random_like(shapes, seed=1):
    """Random arrays of the shapes of a pytree of ShapeDtypeStructs (float32; variances positive):
    built on the host, so that making a model compiles nothing."""
    rng = np.random.default_rng(seed)

    def draw(path, sd):
        if sd.dtype == jnp.bool_:
            return jnp.asarray(np.ones(sd.shape, bool))
        if jax.tree_util.keystr(path).endswith("['var']"):
            return jnp.asarray(rng.uniform(0.5, 2.0, sd.shape).astype(np.float32))
        return jnp.asarray((rng.normal(size=sd.shape) / np.sqrt(max(sd.shape[0], 1))).astype(np.float32))

    return jax.tree_util.tree_map_with_path(draw, shapes)


def _linen(module, seed=1, x=X):
    return module, _random_like(jax.eval_shape(module.init, jax.random.PRNGKey(1), x[:2].astype(np.float32)), seed)


@pytest.fixture(scope="module")
def linen_models():
    return {"tanh": _linen(Dense()), "bn_drop": _linen(Dense(act="relu", bn=True, drop=0.3)),
            "leaky": _linen(Dense(act="leaky")), "gelu": _linen(Dense(act="gelu")), "res": _linen(Residual()),
            "conv": _linen(Conv())}


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(3, 5, rngs=rngs)
        self.bn = nnx.BatchNorm(5, rngs=rngs)
        self.l2 = nnx.Linear(5, 1, rngs=rngs)

    def __call__(self, x):
        return self.l2(nnx.leaky_relu(self.bn(self.l1(x))))


@pytest.fixture(scope="module")
def eqx_models():
    def build():
        k = jax.random.split(jax.random.PRNGKey(2), 3)
        mlp = eqx.nn.MLP(3, "scalar", 5, 2, activation=jax.nn.relu, key=k[0])
        seq = eqx.nn.Sequential([eqx.nn.Linear(3, 4, key=k[1]), eqx.nn.BatchNorm(4, axis_name="batch", mode="ema"),
                                 eqx.nn.Lambda(jnp.tanh), eqx.nn.Dropout(0.2), eqx.nn.Linear(4, "scalar", key=k[2])])
        return mlp, *eqx.nn.make_with_state(lambda: seq)()

    shapes = eqx.filter_eval_shape(build)  # arrays drawn on the host: nothing compiled
    arrays, static = eqx.partition(shapes, lambda a: isinstance(a, jax.ShapeDtypeStruct))
    mlp, seq, state = eqx.combine(_random_like(arrays, seed=2), static)
    state = state.set(seq.layers[1].ema_state_index, (jnp.asarray(RNG.normal(size=4)), jnp.asarray(RNG.uniform(0.5, 2, 4))))
    return mlp, seq, state, eqx.nn.Sequential([seq.layers[i] for i in (0, 1, 2, 4)])  # the last without dropout


# ============================================================================ every adapter = explicit product


def test_linen_dense_stacks_take_the_structured_path(x64, linen_models):
    module, v = linen_models["tanh"]
    v = _f64(v)
    ref = _explicit(lambda p, x: module.apply({"params": p}, x), v["params"], X)
    plan = _plan(module, v, X)
    assert plan.spec == jaxgan.nets.MLPSpec((3, 6, 5, 1), "tanh")
    for algorithm in ("auto", "structured", "jacobian"):
        k = kernels.parametric_kernel(module, v, X, algorithm=algorithm)
        assert k.dtype == jnp.float64 and _rel(k, ref) < 1e-10, algorithm
    # the params collection alone works too, and the cross kernel
    ref12 = _explicit(lambda p, x: module.apply({"params": p}, x), v["params"], X, X2)
    assert _rel(kernels.parametric_kernel(module, v["params"], X, X2), ref12) < 1e-10


def test_linen_batchnorm_and_dropout(x64, linen_models):
    module, v = linen_models["bn_drop"]
    v = _f64(v)
    stats = v["batch_stats"]

    def ev(p, x):
        return module.apply({"params": p, "batch_stats": stats}, x, train=False)

    ref = _explicit(ev, v["params"], X)
    assert _plan(module, v, X, train=False).spec.batchnorm  # recognised in eval mode (dropout off)
    assert _rel(kernels.parametric_kernel(module, v, X, train=False), ref) < 1e-10
    # train mode: BatchNorm of the batch and one dropout draw for the whole batch: the batch operator
    key = jax.random.PRNGKey(5)

    def tr(p, x):
        return module.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"],
                            rngs={"dropout": key})[0]

    plan = _plan(module, v, X, train=True, rng=key)
    assert plan.coupled and plan.spec is None  # random masks: the generic path
    k = kernels.parametric_kernel(module, v, X, train=True, rng=key, batch_size=3, algorithm="jacobian")
    assert _rel(k, _explicit(tr, v["params"], X)) < 1e-10


def test_linen_batchnorm_train_mode_structured(x64):
    module, v = _linen(Dense(act="relu", bn=True))
    v = _f64(v)

    def tr(p, x):
        return module.apply({"params": p, "batch_stats": v["batch_stats"]}, x, train=True, mutable=["batch_stats"])[0]

    plan = _plan(module, v, X, train=True)
    assert plan.coupled and plan.spec is not None and plan.spec.batchnorm
    assert _rel(kernels.parametric_kernel(module, v, X, train=True), _explicit(tr, v["params"], X)) < 1e-10


def test_nnx_module(x64):
    model = NnxNet(nnx.Rngs(0))
    graph, state = nnx.split(model)  # (nnx modules are built eagerly: one small model)
    model = nnx.merge(graph, _f64(state))
    model.eval()
    net = networks.network(model)
    assert net.kind == "nnx" and net.batchnorm and model.bn.use_running_average  # the model is left as it is

    def ev(p, x):
        g, _, rest = nnx.split(model, nnx.Param, ...)
        return nnx.merge(g, p, rest)(x)

    ref = _explicit(ev, net.params, X)
    plan = _plan(model, None, X, train=False)
    assert plan.spec is not None and plan.spec.activation == "leaky_relu" and plan.spec.negative_slope == 0.01
    assert _rel(kernels.parametric_kernel(model, None, X, train=False), ref) < 1e-10
    assert _rel(kernels.parametric_kernel(model, None, X, train=False, algorithm="jacobian"), ref) < 1e-10
    model.train()  # its own switch does not matter: train= decides
    assert _rel(kernels.parametric_kernel(model, None, X, train=False), ref) < 1e-10


def test_equinox_mlp_and_sequential_with_state(x64, eqx_models):
    mlp, seq_drop, state, seq = _f64(eqx_models)
    arrays, static = eqx.partition(mlp, eqx.is_inexact_array)
    ref = _explicit(lambda p, x: jax.vmap(eqx.combine(p, static))(x), arrays, X)
    assert _plan(mlp, None, X).spec == jaxgan.nets.MLPSpec((3, 5, 5, 1), "relu")
    assert _rel(kernels.parametric_kernel(mlp, None, X), ref) < 1e-10
    assert _rel(kernels.parametric_kernel(mlp, arrays, X), ref) < 1e-10  # its arrays given explicitly
    is_index = lambda v: isinstance(v, eqx.nn.StateIndex)  # noqa: E731
    arr, stat = eqx.partition(seq, eqx.is_inexact_array, is_leaf=is_index)
    refs = {}
    for train in (False, True):
        def f(p, x):
            m = eqx.nn.inference_mode(eqx.combine(p, stat), value=not train)
            fresh = jax.tree_util.tree_unflatten(*reversed(jax.tree_util.tree_flatten(state)))  # equinox: not reused
            return jax.vmap(lambda xi: m(xi, fresh), axis_name="batch", out_axes=(0, None))(x)[0]

        ref = refs[train] = _explicit(f, arr, X)
        net = networks.network(seq, state=state)
        plan = _plan(net, None, X, train=train)
        assert plan.spec is not None and plan.spec.batchnorm and plan.coupled == train
        assert _rel(kernels.parametric_kernel(net, None, X, train=train), ref) < 1e-10
        assert _rel(kernels.parametric_kernel(seq, state, X, train=train, algorithm="jacobian"), ref) < 1e-10
    # dropout in eval mode is the identity: recognised, the same kernel
    assert _rel(kernels.parametric_kernel(seq_drop, state, X, train=False), refs[False]) < 1e-10


def test_plain_apply_and_kernel_vp(x64, linen_models):
    module, v = linen_models["tanh"]
    p = _f64(v["params"])

    def apply(params, x):
        return module.apply({"params": params}, x)[:, 0]

    net = networks.network(apply, p)
    assert net.kind == "plain" and _plan(net, None, X).spec is None  # plain functions are never recognised
    ref = _explicit(apply, p, X)
    assert _rel(kernels.parametric_kernel(net, None, X), ref) < 1e-10
    g = RNG.normal(size=(7, 2))
    for model, params in ((module, _f64(v)), (net, None)):
        np.testing.assert_allclose(kernels.kernel_vp(model, params, X, X, g), ref @ g, rtol=1e-10,
                                   atol=1e-10 * np.abs(ref).max())
    out, new_state = net.apply(net.params, net.state, X, train=False)
    assert out.shape == (7,) and new_state is None
    # a jaxgan MLP as a Network goes back to itself (structured); a Network passes through jit
    init, mlp = jaxgan.nets.mlp((3, 4, 1), "tanh")
    q = init(jax.random.PRNGKey(0))
    net = networks.network(mlp, q)
    assert net.kind == "jaxgan" and _plan(net, None, X).spec == mlp.spec
    np.testing.assert_allclose(kernels.parametric_kernel(net, None, X), kernels.parametric_kernel(mlp, q, X),
                               rtol=1e-13)
    np.testing.assert_allclose(jax.jit(lambda n, x: n(x))(net, X), mlp(q, X), rtol=1e-13)


def test_other_models_are_not_recognised_and_stay_exact(x64, linen_models, eqx_models):
    for name in ("res", "conv", "gelu"):  # gelu: a tanh inside, refused by the numerical check
        module, v = linen_models[name]
        v = _f64(v)
        assert networks.recognise(module, v, x=X) is None, name
        ref = _explicit(lambda p, x: module.apply({"params": p}, x), v["params"], X)
        assert _rel(kernels.parametric_kernel(module, v, X, algorithm="jacobian"), ref) < 1e-10, name
        with pytest.raises(ArgumentError, match="structured"):
            kernels.parametric_kernel(module, v, X, algorithm="structured")
    rec = networks.recognise(*linen_models["leaky"], x=3)
    assert rec.spec.activation == "leaky_relu" and rec.spec.negative_slope == 0.2
    w0 = np.asarray(linen_models["leaky"][1]["params"]["Dense_0"]["kernel"])
    np.testing.assert_array_equal(np.asarray(rec.params["dense"][0]["w"]), w0)  # flax (in, out): as it is
    _, _, state, seq = eqx_models
    rec = networks.recognise(seq, state, x=X)
    assert rec.spec.bn_eps == 1e-5 and rec.spec.sizes == (3, 4, 1)
    w = np.asarray(seq.layers[0].weight)
    np.testing.assert_array_equal(np.asarray(rec.params["dense"][0]["w"]), w.T)  # equinox (out, in): transposed


# ============================================================================ compiled code is shared


def test_a_rebuilt_network_does_not_recompile(linen_models):
    module, v = linen_models["conv"]
    x = X.astype(np.float32)
    kernels.parametric_kernel(networks.network(module, v), None, x, algorithm="jacobian")
    before = blocks._jac_rows_example._cache_size()
    for _ in range(2):  # a new Network, a new (equal) module, new parameter values
        v2 = jax.tree_util.tree_map(lambda a: a * 1.5, v)
        kernels.parametric_kernel(networks.network(Conv(), v2), None, x, algorithm="jacobian")
        kernels.parametric_kernel(Conv(), v2, x, algorithm="jacobian")
    assert blocks._jac_rows_example._cache_size() == before
    module, v = linen_models["tanh"]
    kernels.parametric_kernel(module, v, x)
    before = structured._mlp_factors._cache_size()
    kernels.parametric_kernel(Dense(), jax.tree_util.tree_map(lambda a: a + 0.1, v), x)
    assert structured._mlp_factors._cache_size() == before


# ============================================================================ bad input


def _compiled():
    """How many kernel and recognition functions have been compiled so far."""
    from jaxgan.networks import dense

    fns = (blocks._jac_rows_example, blocks._jac_rows_coupled, structured._mlp_factors, dense._mismatch)
    return sum(f._cache_size() for f in fns)


def test_bad_input(linen_models, eqx_models):
    pk = kernels.parametric_kernel
    module, v = linen_models["tanh"]
    x = X.astype(np.float32)
    compiled = _compiled()
    m2 = Dense(widths=(4,))
    with pytest.raises(ArgumentError, match="one scalar per input"):
        pk(*_linen(nn.Sequential([nn.Dense(2)])), x)  # (variables drawn on the host: no eager init)
    with pytest.raises(ArgumentError, match="params.*does not fit"):
        pk(module, _linen(m2)[1], x)
    with pytest.raises(ArgumentError, match="params.*'intermediates'"):
        pk(module, {**v, "intermediates": {}}, x)
    with pytest.raises(ArgumentError, match="params.*None"):
        pk(module, None, x)
    bn_module, bn_v = linen_models["bn_drop"]
    with pytest.raises(ArgumentError, match="BatchNorm.*train=False.*train=True"):
        pk(bn_module, bn_v, x)
    with pytest.raises(ArgumentError, match="dropout.*rng="):
        pk(bn_module, bn_v, x, train=True)
    with pytest.raises(ArgumentTypeError, match="key"):
        pk(bn_module, bn_v, x, train=True, rng=3)
    with pytest.raises(ArgumentError, match="train=False.*train=True"):
        pk(*_linen(Dense(drop=0.5)), x)  # dropout alone needs train= too
    mlp, seq, state, _ = eqx_models
    with pytest.raises(ArgumentError, match="eqx.nn.State"):
        pk(seq, None, x, train=False)
    with pytest.raises(ArgumentError, match="params.*does not fit"):
        pk(mlp, eqx.partition(seq, eqx.is_inexact_array)[0], x)
    with pytest.raises(ArgumentError, match="BatchNorm"):
        pk(seq, state, x)

    class WithCache(nnx.Module):
        def __init__(self):
            self.l = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
            self.c = nnx.Cache(jnp.zeros(3))

        def __call__(self, x):
            return self.l(x)

    with pytest.raises(ArgumentError, match="model.*Cache"):
        pk(WithCache(), None, x)
    with pytest.raises(ArgumentError, match="params.*None"):
        pk(lambda p, xx: xx[:, 0], None, x)
    with pytest.raises(ArgumentError, match="x1.*missing.*params=None"):
        pk(mlp, x)
    with pytest.raises(ArgumentTypeError, match="model"):
        networks.network(3.0, {})
    assert _compiled() == compiled  # every error above came before anything was compiled


# ============================================================================ properties


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(widths=st.lists(st.integers(1, 4), min_size=1, max_size=2), act=st.sampled_from(["tanh", "relu", "leaky"]),
       d=st.integers(1, 3), bn=st.booleans())
def test_recognised_structured_equals_generic(widths, act, d, bn):
    with jax.enable_x64(True):
        module = Dense(tuple(widths), act, bn)
        x = np.random.default_rng(len(widths)).normal(size=(5, d))
        v = _f64(_linen(module, seed=len(widths) + d, x=x)[1])
        train = False if bn else None
        assert _plan(module, v, x, train=train).spec is not None
        k = kernels.parametric_kernel(module, v, x, train=train, algorithm="structured")
        ref = kernels.parametric_kernel(module, v, x, train=train, algorithm="jacobian")
        assert _rel(k, np.asarray(ref)) < 1e-10
