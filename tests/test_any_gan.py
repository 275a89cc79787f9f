"""Any GAN (issue 12): flax.linen, flax.nnx, equinox and plain-apply players trained by
`jaxgan.neural.train`, checked against independent oracles.

- a plain `apply(params, x)` that computes jaxgan's MLP with the same initial parameters gives the
  logs of the jaxgan `Net` GAN (an independent implementation of the network: the generic player
  path against jaxgan's own MLP path);
- the loss-Hessian extremes logged in the scan are the extreme eigenvalues of the dense `jax.hessian`
  of each player's loss, written here from the game's functions, when `krylov` ≥ the player's size;
- the quality logs are the host measures (`mixture_quality_of`, `digit_quality_of`, the classifier's
  class shares) of the samples regenerated from the final state and the seed's measurement inputs;
- a seed's run is the same bit for bit alone or beside other seeds (flax players);
- a seed whose run blows up is frozen, reported DIVERGED at the update its state went bad, NaN from
  there on, the other seeds untouched, no NaN in the summary;
- bad input is refused before anything is compiled.

Every GAN is tiny and trained once (module-scoped fixtures), six training programs in all: a flax
GAN (linen discriminator, nnx generator; three seeds, and one seed alone), the `Net` and plain-apply
GANs in float64, a tiny conv GAN on the digits, and the diverging GAN (plain discriminator,
equinox generator).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.flatten_util import ravel_pytree

from jaxgan import neural
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.fates import Fate
from jaxgan.neural import measurements, objectives, training
from jaxgan.neural.step import init_state, seed_keys, split_seed_key

# One set of tiny sizes: no kernel probe and no Krylov steps unless a test needs them.
_RUN = dict(steps=4, measure_every=2, n_eval=32, n_grid=4, n_bins=4, krylov=0, kernel_probe=False,
            fast_compile=True)


def _seed_parts(seed):
    """`(k_init, k_train, k_eval)` of a seed, as `train` splits them."""
    return split_seed_key(seed_keys(np.array([seed]))[0])


def _seed_state(r, i):
    """Seed `i`'s final `TrainState` (unstacked, on the host: no small program compiled per leaf)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[i], r.final)


def _k_eval(r, i):
    """Seed `i`'s measurement key."""
    return _seed_parts(int(r.seeds[i]))[2]


@functools.partial(jax.jit, static_argnames=("gan", "cfg", "n_params"))
def _regenerate(gan, cfg, n_params, k_eval, tg, sg):
    ev = measurements.eval_inputs(gan, cfg, k_eval, n_params)
    return objectives.generate(gan, tg, sg, ev.z, objectives.dropout_key(ev.batch, 0))[0]


def _regenerated(r, i):
    """The generated samples of seed `i`'s last checkpoint, recomputed from its final state and its
    fixed measurement noise (redrawn from its measurement key as the compiled run draws it)."""
    s = _seed_state(r, i)
    return _regenerate(r.gan, r.cfg, r.theta0.shape[1], _k_eval(r, i), s.tg, s.sg)


# ============================================================================ the players


@functools.cache
def _linen():
    """A small flax.linen MLP class (made once: equal modules share compiled programs)."""
    nn = pytest.importorskip("flax.linen")

    class MLP(nn.Module):
        out: int
        hidden: int = 4

        @nn.compact
        def __call__(self, x):
            x = x.reshape(x.shape[0], -1)
            return nn.Dense(self.out)(jnp.tanh(nn.Dense(self.hidden)(x)))

    return MLP


@functools.cache
def _tiny_conv():
    """A tiny flax conv discriminator and dense generator for the 8×8 digits."""
    nn = pytest.importorskip("flax.linen")

    class ConvD(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = jnp.tanh(nn.Conv(4, (3, 3), strides=(2, 2))(x))  # (B, 4, 4, 4)
            return nn.Dense(1)(h.reshape(h.shape[0], -1))

    class DenseG(nn.Module):
        pixels: int = 64

        @nn.compact
        def __call__(self, z):
            return jnp.tanh(nn.Dense(self.pixels)(jnp.tanh(nn.Dense(8)(z))))

    return ConvD, DenseG


def _mlp_apply(params, x):
    """jaxgan's tanh MLP (`params["dense"][l] = {"w", "b"}`), written out: the plain-apply oracle."""
    h = x.reshape(x.shape[0], -1)
    for layer in params["dense"][:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    last = params["dense"][-1]
    out = h @ last["w"] + last["b"]
    return out[:, 0] if out.shape[1] == 1 else out


_NET = neural.Net((3,), "tanh")
_LATENT = 2


def _plain_factory(d_in, d_out):
    """`key -> (apply, params)` with the parameters jaxgan's `Net` player draws from `key`."""
    init = _NET.build(d_in, d_out)[0]
    return lambda key: (_mlp_apply, init(key))


def _x64_gans():
    """The jaxgan `Net` GAN and the same GAN with plain-apply players (1-D data, float64)."""
    common = dict(latent_dim=_LATENT, batch_size=8)
    net = neural.GAN(discriminator=_NET, generator=_NET, **common)
    plain = neural.GAN(discriminator=_plain_factory(1, 1), generator=_plain_factory(_LATENT, 1), **common)
    return net, plain


# D: 1·3 + 3 + 3·1 + 1 = 10 parameters; G: 2·3 + 3 + 3·1 + 1 = 13. Lanczos with `krylov` ≥ 13 spans
# each player's whole parameter space.
_P_D, _P_G = 10, 13
_X64_RUN = dict(steps=4, measure_every=2, n_eval=16, n_grid=4, n_bins=4, krylov=_P_G, kernel_probe=False,
                keep_params=True, fast_compile=True)


@pytest.fixture(scope="module")
def x64_runs():
    """The `Net` and plain-apply GANs trained in float64 from seeds 3, 5, with every checkpoint's parameters."""
    with jax.enable_x64(True):
        net, plain = _x64_gans()
        return {name: neural.train(gan, [3, 5], **_X64_RUN) for name, gan in (("net", net), ("plain", plain))}


def _nnx_generator(key):
    """A factory of a flax.nnx generator (2 → 4 → 2, tanh)."""
    nnx = pytest.importorskip("flax.nnx")
    rngs = nnx.Rngs(params=key)
    return nnx.Sequential(nnx.Linear(_LATENT, 4, rngs=rngs), nnx.tanh, nnx.Linear(4, 2, rngs=rngs))


@pytest.fixture(scope="module")
def linen_runs():
    """A flax GAN — a flax.linen discriminator (initialised per seed) and a factory of a flax.nnx
    generator — on a ring of 8 with wide modes (so that the quality measures are not all zero):
    seeds 2, 1, 0 together, and for the test of seeds (in a child pytest: tests/conftest.py, `xla_defaults`)
    seeds 2, 1 and seed 1 alone, each trained when a test first asks for it."""
    gan = neural.GAN(data=neural.ring_of_8(radius=1.0, std=0.3), discriminator=_linen()(1),
                     generator=_nnx_generator, latent_dim=_LATENT, batch_size=8)

    class Runs(dict):
        def __missing__(self, seeds):
            self[seeds] = neural.train(gan, list(seeds), **_RUN)
            return self[seeds]

    return Runs()


def _finite_logs(r):
    """Every log that is measured on this run is finite (row 0 of step_cos is NaN by definition)."""
    skip = {"step_cos", "kernel_cos", "kernel_gain", "kernel_cos_g", "kernel_gain_g", "classes_covered", "fd"}
    if r.cfg.krylov == 0:
        skip |= {"rotation", "hess_d_min", "hess_d_max", "hess_g_min", "hess_g_max"}
    for name, v in r.logs.items():
        if name not in skip:
            assert np.all(np.isfinite(v)), name
    assert np.all(np.isfinite(r.step_cos[:, 1:])) and np.all(np.isnan(r.step_cos[:, 0]))
    assert not np.any(r.fate == Fate.DIVERGED) and np.all(r.fate_step == -1)
    assert np.all(np.isfinite(r.theta_end)) and not np.array_equal(r.theta0, r.theta_end)


def test_flax_linen_and_nnx_players_train(linen_runs):
    r = linen_runs[(2, 1, 0)]
    _finite_logs(r)
    assert r.w1.shape == (3, 3) and r.d_grid.shape == (3, 3, 4) and r.g_mean.shape == (3, 3, 2)
    assert r.gan.label() == "D MLP / G _nnx_generator"
    # D: 2·4 + 4 + 4 + 1 = 17 parameters (linen); G: 2·4 + 4 + 4·2 + 2 = 22 (nnx).
    assert r.theta0.shape == (3, 17 + 22)
    # Initialised per seed: three seeds, three different starts.
    assert len({r.theta0[i].tobytes() for i in range(3)}) == 3
    assert len({r.theta_end[i].tobytes() for i in range(3)}) == 3
    # The linen discriminator was initialised from the seed's key as `module.init` does; D on the
    # grid at checkpoint 0 is the module's own output there (eval mode), through the output map.
    k_d = jax.random.split(_seed_parts(int(r.seeds[0]))[0])[0]
    variables = _linen()(1).init({"params": jax.random.split(k_d)[0], "dropout": jax.random.split(k_d)[1]},
                                 jnp.zeros((2, 2)))
    np.testing.assert_array_equal(ravel_pytree(variables["params"])[0], r.theta0[0, :17])
    d_on_grid = jax.jit(lambda v, x: jax.nn.sigmoid(_linen()(1).apply(v, x)[:, 0]))  # one program, not one per op
    np.testing.assert_allclose(r.d_grid[0, 0], np.asarray(d_on_grid(variables, jnp.asarray(r.grid, jnp.float32))),
                               rtol=1e-6, atol=1e-7)


def test_a_plain_apply_gan_logs_what_the_same_jaxgan_net_gan_logs(x64_runs):
    """An independent implementation of the same networks (plain apply, same initial parameters):
    the same training, measurements, Hessian extremes, game-Jacobian eigenvalues and fates to
    float64 rounding."""
    net, plain = x64_runs["net"], x64_runs["plain"]
    np.testing.assert_array_equal(net.theta0, plain.theta0)
    assert net.theta0.dtype == np.float64 and net.theta0.shape == (2, _P_D + _P_G)
    for name in ("w1", "J", "I", "field_norm", "step_cos", "g_mean", "g_std", "d_grid", "pg_grid", "kl",
                 "hess_d_min", "hess_d_max", "hess_g_min", "hess_g_max", "modes_covered", "high_quality", "theta"):
        a, b = getattr(net, name), getattr(plain, name)
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(np.sort_complex(plain.eigs[:, -1]), np.sort_complex(net.eigs[:, -1]), rtol=1e-7,
                               atol=1e-10)
    np.testing.assert_array_equal(net.fate, plain.fate)
    assert np.all(np.isfinite(plain.hess_g_min)) and np.all(np.isfinite(plain.eigs))


# ============================================================================ seeds


@pytest.mark.xla_defaults
def test_a_flax_seed_runs_the_same_alone_or_beside_others(linen_runs):
    # Seed 1 beside seed 2, and alone: `train` runs a lone seed beside a copy of itself, so both calls
    # share one compiled program (XLA compiles a batch of one as no batch, which summed in another
    # order: this test failed so on an AVX2 machine). Another number of seeds: tests/test_neural_seeds.py.
    both, alone = linen_runs[(2, 1)], linen_runs[(1,)]
    for name, v in alone.logs.items():
        np.testing.assert_array_equal(v[0], getattr(both, name)[1], err_msg=name)
    np.testing.assert_array_equal(alone.theta_end[0], both.theta_end[1])
    for a, b in zip(jax.tree_util.tree_leaves(alone.final), jax.tree_util.tree_leaves(both.final)):
        np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b)[1])
    assert not np.array_equal(both.theta_end[0], both.theta_end[1])


# ============================================================================ Hessian extremes


@functools.partial(jax.jit, static_argnames=("gan", "cfg", "unravel"))
def _dense_loss_hessians(gan, cfg, unravel, k_eval, theta_flat):
    """The dense Hessians of each player's loss on the seed's fixed measurement batch, written from the
    game's functions and the plain apply: `−(mean f1(D(x)) + mean f2(D(G(z))))` in θ_D with G(z)
    fixed, `−mean f3(D(G(z)))` in θ_G."""
    ev = measurements.eval_inputs(gan, cfg, k_eval, theta_flat.shape[0])
    td, tg = unravel(theta_flat)
    fd, un_d = ravel_pytree(td)
    fg, un_g = ravel_pytree(tg)
    x, z = ev.batch.x, ev.batch.z
    om, game = gan.d_output, gan.game

    def d(params, x):
        return om(_mlp_apply(params, x))

    fake = _mlp_apply(tg, z).reshape(z.shape[0], 1)

    def loss_d(t):
        p = un_d(t)
        return -(jnp.mean(jax.vmap(game.f1)(d(p, x))) + jnp.mean(jax.vmap(game.f2)(d(p, fake))))

    def loss_g(t):
        return -jnp.mean(jax.vmap(game.f3)(d(td, _mlp_apply(un_g(t), z).reshape(z.shape[0], 1))))

    return jax.hessian(loss_d)(fd), jax.hessian(loss_g)(fg)


def _unravel(r):
    """The function from flat `(θ_D, θ_G)` to the players' parameters of run `r` (a hashable `Partial`)."""
    s = _seed_state(r, 0)
    return ravel_pytree((s.td, s.tg))[1]


def test_hessian_extremes_are_those_of_the_dense_loss_hessians(x64_runs):
    r = x64_runs["plain"]
    with jax.enable_x64(True):
        unravel = _unravel(r)
        for i in range(r.n_seeds):
            for c in (0, len(r.steps) - 1):
                hd, hg = _dense_loss_hessians(r.gan, r.cfg, unravel, _k_eval(r, i), jnp.asarray(r.theta[i, c]))
                ed, eg = np.linalg.eigvalsh(np.asarray(hd)), np.linalg.eigvalsh(np.asarray(hg))
                assert len(ed) == _P_D and len(eg) == _P_G
                got = [r.hess_d_min[i, c], r.hess_d_max[i, c], r.hess_g_min[i, c], r.hess_g_max[i, c]]
                want = [ed[0], ed[-1], eg[0], eg[-1]]
                np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10 * max(abs(ed).max(), abs(eg).max()),
                                           err_msg=f"seed {i}, checkpoint {c}")
                tol = 1e-4
                nash = ed[0] >= -tol * abs(ed).max() and eg[0] >= -tol * abs(eg).max()
                assert r.is_local_nash(tol)[i, c] == nash
    # The small tanh networks at their start are not at a local Nash equilibrium: a saddle in D or G.
    assert np.any(r.hess_d_min < 0) or np.any(r.hess_g_min < 0)


# ============================================================================ keep_params, path-angle


def test_keep_params_keeps_every_checkpoint_and_path_angle_uses_them(x64_runs):
    r = x64_runs["plain"]
    n_chk, p = len(r.steps), _P_D + _P_G
    assert r.theta.shape == (2, n_chk, p)
    np.testing.assert_array_equal(r.theta[:, 0], r.theta0)
    np.testing.assert_array_equal(r.theta[:, -1], r.theta_end)
    assert not np.array_equal(r.theta[:, 1], r.theta[:, 2])
    with jax.enable_x64(True):
        alphas, cos = r.path_angle(1, n=5, start=1, end=2)
        np.testing.assert_allclose(alphas, np.linspace(0, 1, 5))
        assert cos.shape == (5,) and np.all(np.abs(cos) <= 1 + 1e-12)
        # The cosine at α = 0 and 1: the game field on the seed's fixed measurement batch (public
        # `game_field`, its batch key is the second split of the seed's measurement key) at the
        # checkpoint's parameters against the segment's direction.
        k_batch = jax.random.split(_k_eval(r, 1), 3)[1]
        st = _seed_state(r, 1)
        unravel = ravel_pytree((st.td, st.tg))[1]

        @jax.jit  # one program for the oracle (drawing the batch included), not one per eager op
        def field(thetas):
            v, _ = neural.game_field(r.gan, st, k_batch)
            return jax.vmap(lambda t: ravel_pytree(v(unravel(t)))[0])(thetas)

        delta = r.theta[1, 2] - r.theta[1, 1]
        got = np.asarray(field(jnp.asarray(r.theta[1, 1:3])))
        for a, row in ((0, 0), (-1, 1)):
            want = got[row] @ delta / (np.linalg.norm(got[row]) * np.linalg.norm(delta))
            np.testing.assert_allclose(cos[a], want, rtol=1e-9, atol=1e-12)
        # Default: from the first to the last checkpoint.
        _, cos_all = r.path_angle(1, n=5)
        _, cos_ends = r.path_angle(1, n=5, start=0, end=-1)
        np.testing.assert_array_equal(cos_all, cos_ends)


def test_path_angle_at_a_middle_checkpoint_needs_keep_params(linen_runs):
    r = linen_runs[(2, 1, 0)]
    assert r.theta is None and len(r.steps) == 3
    for kw, arg in ((dict(start=1), "start"), (dict(end=1), "end")):
        with pytest.raises(ArgumentError, match=f"`{arg}`.*keep_params=True"):
            r.path_angle(0, **kw)
    with pytest.raises(ArgumentError, match="`start`"):
        r.path_angle(0, start=3)


# ============================================================================ quality


def test_mixture_quality_logs_are_those_of_the_regenerated_samples(linen_runs):
    r = linen_runs[(2, 1, 0)]
    ring = r.gan.data
    for i in range(r.n_seeds):
        q = neural.mixture_quality_of(_regenerated(r, i), ring)
        assert r.modes_covered[i, -1] == q["modes_covered"]
        np.testing.assert_allclose(r.high_quality[i, -1], q["high_quality"], atol=1.5 / r.cfg.n_eval)
    assert np.all((0 <= r.modes_covered) & (r.modes_covered <= 8) & (r.modes_covered == np.round(r.modes_covered)))
    assert np.all((0 <= r.high_quality) & (r.high_quality <= 1))
    assert np.any(r.high_quality > 0) and np.any(r.modes_covered > 0)  # the wide ring: not trivially zero
    assert np.all(np.isnan(r.classes_covered)) and np.all(np.isnan(r.fd))


@pytest.fixture(scope="module")
def digits_run():
    pytest.importorskip("sklearn")
    conv_d, dense_g = _tiny_conv()
    gan = neural.GAN(data=neural.digits(), discriminator=conv_d(), generator=dense_g(), latent_dim=4,
                     batch_size=8)
    return neural.train(gan, [0, 1], steps=2, measure_every=2, n_eval=32, n_grid=20, krylov=0, kernel_probe=False,
                        fast_compile=True)


def test_digit_quality_logs(digits_run):
    r = digits_run
    labels = r.gan.data.labels
    assert r.grid.shape == (20, 8, 8, 1) and r.pg_grid.shape == (2, 2, 20)
    cc = r.classes_covered
    assert np.all((0 <= cc) & (cc <= 10) & (cc == np.round(cc)))
    assert np.all(np.isfinite(r.fd) & (r.fd >= 0))
    assert np.all(np.isnan(r.kl)) and np.all(np.isnan(r.modes_covered)) and np.all(np.isnan(r.high_quality))
    # The probes are real digits, round robin over the classes: each class twice.
    probe_class = np.asarray([labels[np.flatnonzero(np.all(r.gan.data.array == g, axis=(1, 2, 3)))[0]]
                              for g in r.grid])
    assert sorted(np.bincount(probe_class, minlength=10)) == [2] * 10
    share = np.bincount(labels, minlength=10) / len(labels)
    np.testing.assert_allclose(r.pd_grid, share[probe_class])
    assert np.all(np.abs(r.pd_grid - 0.1) < 0.005)
    # pg at a probe: the share of generated samples the classifier puts in its class; over the
    # distinct classes the shares sum to one.
    first = [int(np.flatnonzero(probe_class == c)[0]) for c in range(10)]
    np.testing.assert_allclose(r.pg_grid[:, :, first].sum(axis=-1), 1.0, atol=1e-6)
    for c in range(10):
        same = np.flatnonzero(probe_class == c)
        np.testing.assert_array_equal(r.pg_grid[:, :, same], r.pg_grid[:, :, same[:1]].repeat(len(same), -1))
    # At the last checkpoint: the host's classifier and digit quality of the regenerated samples.
    clf = neural.digit_classifier()
    for i in range(2):
        fake = _regenerated(r, i)
        shares = np.bincount(np.asarray(clf.predict(fake)), minlength=10) / fake.shape[0]
        np.testing.assert_allclose(r.pg_grid[i, -1, first], shares, atol=1e-6)
        q = neural.digit_quality_of(fake, clf)
        assert r.classes_covered[i, -1] == q["classes_covered"]
        np.testing.assert_allclose(r.fd[i, -1], q["fd"], rtol=1e-3)


# ============================================================================ divergence


_DIV_LR = 0.25


def _clock_d(params, x):
    """A plain discriminator with a clock: `c` rises by about `_DIV_LR` per update (∂Ĵ/∂c = 1 −
    mean G(z)² ∈ [0.75, 1] on the data ±1 against |G| ≤ 0.5, for the Wasserstein game and plain SGD);
    the network's output overflows to inf once `c > 1` (at finite parameters)."""
    x = x.reshape(x.shape[0])
    u = params["w"] * x + params["b"] + params["c"] * x ** 2
    return u + jnp.where(params["c"] > 1.0, jnp.inf, 0.0)


def _half_tanh(x):
    return 0.5 * jnp.tanh(x)


def _eqx_generator(key):
    """A factory of an equinox generator (per example: 2 → 4 → 1), bounded by 0.5."""
    eqx = pytest.importorskip("equinox")
    return eqx.nn.MLP(_LATENT, 1, 4, 1, activation=jnp.tanh, final_activation=_half_tanh, key=key)


def _clock_params(key):
    return {"w": jnp.zeros(()), "b": jnp.zeros(()), "c": jax.random.uniform(key, (), minval=-1.0, maxval=1.0)}


def _div_gan():
    import optax

    sgd = optax.sgd(_DIV_LR)
    return neural.GAN(data=neural.samples(np.array([[-1.0], [1.0]])), game="wasserstein", d_output="identity",
                      discriminator=lambda key: (_clock_d, _clock_params(key)), generator=_eqx_generator,
                      latent_dim=_LATENT, batch_size=8, d_optimizer=sgd, g_optimizer=sgd)


@pytest.fixture(scope="module")
def div_run():
    gan = _div_gan()
    c0 = {s: float(init_state(gan, _seed_parts(s)[0]).td["c"]) for s in range(40)}
    late = [s for s in c0 if c0[s] < -0.7][:1]  # c ≤ -0.7 + 6 · 0.25 = 0.8 after 6 updates: never
    early = [s for s in c0 if c0[s] > 0.3][:2]  # c > 0.3 + 4 · 0.1875 > 1 within 4 updates
    seeds = late + early
    return neural.train(gan, seeds, steps=6, measure_every=1, n_eval=8, n_grid=2, krylov=0, kernel_probe=False,
                        keep_params=True, fast_compile=True), c0


def test_a_diverging_seed_is_frozen_and_reported_at_its_step(div_run):
    r, c0 = div_run
    assert [c0[int(s)] < 0 for s in r.seeds] == [True, False, False]
    # θ = (b, c, w of D; a, b of G), flattened in key order: D's c is entry 1.
    clock = r.theta[:, :, 1]
    np.testing.assert_array_equal(clock[:, 0], [c0[int(s)] for s in r.seeds])
    for i, seed in enumerate(r.seeds):
        bad = np.flatnonzero(clock[i] > 1.0)
        if i == 0:  # the late seed: untouched by its neighbours' blow-up
            assert bad.size == 0 and r.fate[i] != Fate.DIVERGED and r.fate_step[i] == -1
            for name in ("w1", "J", "I", "field_norm", "g_mean", "d_grid"):
                assert np.all(np.isfinite(getattr(r, name)[i])), name
            assert np.all((np.diff(clock[i]) >= 0.75 * _DIV_LR - 1e-6) & (np.diff(clock[i]) <= _DIV_LR + 1e-6))
            continue
        # The first state whose network overflows is the update that made it; the seed is frozen there.
        k = int(bad[0])
        assert 1 <= k <= 4
        assert r.fate[i] == Fate.DIVERGED and r.fate_step[i] == r.steps[k], (r.fate_step[i], r.steps[k])
        np.testing.assert_array_equal(r.theta[i, k:], np.broadcast_to(r.theta[i, k], r.theta[i, k:].shape))
        np.testing.assert_array_equal(r.theta_end[i], r.theta[i, k])
        for name in ("w1", "J", "I", "field_norm", "g_mean", "d_grid", "step_cos"):
            v = getattr(r, name)[i]
            assert np.all(np.isfinite(v[int(name == "step_cos"):k])) and np.all(np.isnan(v[k:])), (name, v)
    summary = r.summary()
    assert summary["diverged"] == 2 and summary["diverged_at"] == [int(f) for f in r.fate_step[1:]]
    for key, value in summary.items():
        if isinstance(value, float):
            assert math.isfinite(value), key


def test_an_equinox_generator_is_initialised_per_seed_and_run_per_example(div_run):
    eqx = pytest.importorskip("equinox")
    r, _ = div_run
    for i in range(r.n_seeds):
        model = _eqx_generator(jax.random.split(_seed_parts(int(r.seeds[i]))[0])[1])
        np.testing.assert_array_equal(ravel_pytree(eqx.filter(model, eqx.is_inexact_array))[0], r.theta0[i, 3:])
    # At checkpoint 0 the generated samples are the model's outputs, one latent point at a time.
    z = measurements.eval_inputs(r.gan, r.cfg, _k_eval(r, 0), r.theta0.shape[1]).z
    model = _eqx_generator(jax.random.split(_seed_parts(int(r.seeds[0]))[0])[1])
    fake = np.asarray(eqx.filter_jit(lambda m, z: jax.lax.map(m, z))(model, z))  # one latent point at a time
    assert fake.shape == (r.cfg.n_eval, 1)
    np.testing.assert_allclose(r.g_mean[0, 0], fake.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.g_std[0, 0], fake.std(axis=0), rtol=1e-4, atol=1e-6)


# ============================================================================ bad input


def _refused(build, exc, match):
    """`build()` raises `exc` matching `match`, and compiles no training program."""
    before = training.compiled_programs()
    with pytest.raises(exc, match=match):
        build()
    assert training.compiled_programs() == before


def test_bad_data_is_refused():
    _refused(lambda: neural.GAN(data=np.zeros((4, 2))), ArgumentTypeError, "`data`")
    _refused(lambda: neural.GAN(data="digits"), ArgumentTypeError, "`data`")
    _refused(lambda: neural.samples(np.zeros((1, 2))), ArgumentError, "`array`.*N ≥ 2")
    _refused(lambda: neural.samples(np.array([[0.0], [np.nan]])), ArgumentError, "`array`.*finite")
    _refused(lambda: neural.samples(np.array([[0.0], [np.inf]])), ArgumentError, "`array`.*finite")
    _refused(lambda: neural.samples(np.zeros((3, 2)), labels=[0, 1]), ArgumentError, "`labels`")
    _refused(lambda: neural.samples(np.zeros((3, 2)), labels=[0.5, 1.0, 2.0]), ArgumentError, "`labels`")
    _refused(lambda: neural.samples([["a", "b"], ["c", "d"]]), ArgumentTypeError, "`array`")


def test_players_that_do_not_fit_the_data_are_refused():
    mlp = _linen()
    ring = neural.ring_of_8()
    # The discriminator must give one scalar per sample.
    _refused(lambda: neural.GAN(data=ring, discriminator=mlp(3)), ArgumentError, "`discriminator`.*one scalar")
    _refused(lambda: neural.GAN(data=ring, discriminator=lambda key: (lambda p, x: x @ p, jnp.ones((2, 3)))),
             ArgumentError, "`discriminator`.*one scalar")
    # The generator's outputs must reshape to the data's samples.
    _refused(lambda: neural.GAN(data=ring, generator=mlp(3)), ArgumentError, r"`generator`.*shape \(2,\)")
    _refused(lambda: neural.GAN(data=ring, generator=lambda key: (lambda p, z: z @ p, jnp.ones((4, 3)))),
             ArgumentError, "`generator`")
    pytest.importorskip("sklearn")
    conv_d, dense_g = _tiny_conv()
    _refused(lambda: neural.GAN(data=neural.digits(), discriminator=conv_d(), generator=dense_g(63), latent_dim=4),
             ArgumentError, r"`generator`.*\(8, 8, 1\)")
    # A discriminator that cannot take the data's samples at all.
    _refused(lambda: neural.GAN(data=ring, discriminator=lambda key: (lambda p, x: x @ p, jnp.ones(5))),
             ArgumentError, "`discriminator`")


def test_other_bad_gans_are_refused():
    _refused(lambda: neural.GAN(penalty="r3"), ArgumentError, "`penalty`")
    _refused(lambda: neural.GAN(discriminator=42), ArgumentTypeError, "`discriminator`")
    _refused(lambda: neural.GAN(generator="relu"), ArgumentTypeError, "`generator`")
    _refused(lambda: neural.GAN(discriminator=np.ones(3)), ArgumentTypeError, "`discriminator`")
    # The Wasserstein game's rest value D0 = 0 is outside a sigmoid's range.
    _refused(lambda: neural.GAN(game="wasserstein", d_output="sigmoid"), ArgumentError, "D0")
    # A factory of a non-network.
    _refused(lambda: neural.GAN(discriminator=lambda key: 3.0), (ArgumentError, ArgumentTypeError),
             "`discriminator`")


# ============================================================================ samples, property-based


_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float32, _SHAPES, elements=st.floats(-1e3, 1e3, width=32)))
def test_samples_accepts_any_finite_array_of_two_or_more_samples(arr):
    if arr.shape[0] < 2:
        with pytest.raises(ArgumentError, match="`array`"):
            neural.samples(arr)
        return
    data = neural.samples(arr)
    shape = arr.shape[1:] if arr.ndim > 1 else (1,)
    assert data.sample_shape == shape and data.n == arr.shape[0] and data.dim == math.prod(shape)
    drawn = np.asarray(data.sample(jax.random.key(0), 6))
    assert drawn.shape == (6, *shape)
    rows = arr.reshape(arr.shape[0], -1)
    for x in drawn.reshape(6, -1):
        assert np.any(np.all(rows == x, axis=1))
    assert neural.samples(arr) == data and hash(neural.samples(arr)) == hash(data)


@pytest.mark.parametrize("bad", [np.float32(1.0), np.zeros((0,)), np.zeros((3, 0)), np.zeros((0, 2))],
                         ids=["scalar", "empty", "empty-samples", "no-samples"])
def test_samples_of_bad_shapes_are_refused(bad):
    with pytest.raises(ArgumentError, match="`array`"):
        neural.samples(bad)
