"""Trajectories: the article's script, conserved/decreasing quantities, update rules, bad input."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan.dynamics import DomainExitWarning, Fate


def article_script(pd, d, pg, lr, n_iter, generator="classic"):
    """The article's script, verbatim in NumPy (both players from the old state)."""

    def get_v(d, pg, pd):
        vd = pd / d - pg / (1. - d)
        if generator == "classic":
            vpg = -np.log(1. - d) + np.log(0.5)
        else:
            vpg = np.log(d) - np.log(0.5)
        return vd, vpg

    d_hist, pg_hist = [], []
    for _ in range(n_iter):
        d_hist.append(d)
        pg_hist.append(pg)
        vd, vpg = get_v(d, pg, pd)
        d = d + lr * vd
        pg = pg + lr * vpg
    d_hist.append(d)
    pg_hist.append(pg)
    return np.stack([d_hist, pg_hist], axis=1)


@pytest.mark.parametrize("game, generator", [("minimax", "classic"), ("non_saturating", "modified")])
def test_euler_is_the_articles_script_float64(x64, game, generator):
    ref = article_script(0.2, 0.75, 0.9, 1e-3, 100_000, generator)
    path = jaxgan.simulate(jaxgan.pointwise_field(game, 0.2), [0.75, 0.9], steps=100_000, lr=1e-3)
    assert path.dtype == jnp.float64 and path.shape == (100_001, 2)
    np.testing.assert_allclose(np.asarray(path), ref, rtol=0, atol=1e-9)


def test_float32_and_float64_agree_to_float32_precision(x64):
    f64 = np.asarray(jaxgan.simulate(jaxgan.pointwise_field("minimax", 0.2), [0.75, 0.9], steps=20_000,
                                     lr=1e-3, save_every=100))
    jax.config.update("jax_enable_x64", False)
    f = jaxgan.pointwise_field("minimax", 0.2)
    f32 = jaxgan.simulate(f, [0.75, 0.9], steps=20_000, lr=1e-3, save_every=100)
    assert f32.dtype == jnp.float32
    # Far from the rest point the two agree to a few f32 ulp; near it the f32 update lr·v drops
    # below half an ulp of pg and the state stalls within ~ulp/(lr·|J|) ≈ 2e-5 of it.
    far = np.hypot(f64[:, 0] - 0.5, f64[:, 1] - 0.2) > 1e-2
    np.testing.assert_allclose(np.asarray(f32, np.float64)[far], f64[far], atol=2e-6)
    np.testing.assert_allclose(np.asarray(f32, np.float64), f64, atol=5e-5)
    # ... and both are far from trivially equal to the start: the path moved.
    assert np.abs(f64[-1] - f64[0]).max() > 0.1


def test_wasserstein_euler_radius_grows_by_sqrt_1_plus_lr2(x64):
    """z' - z* = (I + lr·A)(z - z*), A = [[0,-1],[1,0]], and |I + lr A| scales every vector by √(1+lr²)."""
    lr, pd = 0.01, 0.4
    f = jaxgan.pointwise_field("wasserstein", pd)
    path = np.asarray(jaxgan.simulate(f, [0.3, 0.5], steps=500, lr=lr))
    r = np.hypot(path[:, 0] - 0.0, path[:, 1] - pd)
    np.testing.assert_allclose(r[1:] / r[:-1], math.sqrt(1 + lr * lr), rtol=1e-12)


def test_quadratic_lyapunov_decreases_along_rk4(x64):
    """V = ½((D-1)² + (pg-pd)²): dV/dt = (D-1)(pg - pd·D) - (pg-pd)(D-1) = -pd(D-1)² ≤ 0."""
    pd = 1.0
    f = jaxgan.pointwise_field("quadratic", pd)
    for z0 in ([1.5, 1.4], [0.5, 0.6], [1.0, 1.8]):  # within distance 1 of (1, pd): pg stays ≥ 0
        run = jaxgan.simulate(f, z0, steps=4000, lr=1e-2, method="rk4")
        assert run.exit_step == -1 and not run.stopped
        path = np.asarray(run)
        v = 0.5 * ((path[:, 0] - 1) ** 2 + (path[:, 1] - pd) ** 2)
        assert np.all(np.diff(v) <= 1e-15), z0
        assert v[-1] < 0.5 * v[0]


def test_rk4_is_fourth_order(x64):
    f = jaxgan.pointwise_field("minimax", 0.2)
    ref = np.asarray(jaxgan.simulate(f, [0.75, 0.9], steps=4096, lr=1.0 / 1024, method="rk4"))[-1]
    errs = []
    for n in (128, 256, 512):
        end = np.asarray(jaxgan.simulate(f, [0.75, 0.9], steps=n, lr=4.0 / n, method="rk4"))[-1]
        errs.append(np.abs(end - ref).max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 3.8), orders


def test_alternating_updates_d_first_then_pg_from_new_d(x64):
    f = jaxgan.pointwise_field("minimax", 0.2)
    z = np.array([0.75, 0.9])
    lr = 0.05
    path = np.asarray(jaxgan.simulate(f, z, steps=1, lr=lr, method="alternating"))
    d1 = z[0] + lr * (0.2 / z[0] - z[1] / (1 - z[0]))
    pg1 = z[1] + lr * (-np.log(1 - d1) + np.log(0.5))
    np.testing.assert_allclose(path[1], [d1, pg1], rtol=1e-14)


def test_optax_sgd_reproduces_euler(x64):
    f = jaxgan.pointwise_field("minimax", 0.2)
    a = jaxgan.simulate(f, [0.75, 0.9], steps=2000, lr=1e-2)
    b = jaxgan.simulate(f, [0.75, 0.9], steps=2000, method=optax.sgd(1e-2))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12)


def test_save_every():
    f = jaxgan.pointwise_field("minimax", 0.2)
    full = jaxgan.simulate(f, [0.75, 0.9], steps=300, lr=1e-2)
    sparse = jaxgan.simulate(f, [0.75, 0.9], steps=300, lr=1e-2, save_every=30)
    assert sparse.shape == (11, 2)
    np.testing.assert_allclose(sparse, full[::30], rtol=1e-6)


def test_leaving_the_domain_stops_and_reports():
    f = jaxgan.pointwise_field("minimax", 0.2)
    with pytest.warns(DomainExitWarning, match="stopped at step"):
        info = jaxgan.simulate(f, [0.98, 1.5], steps=200, lr=0.05)
    path = np.asarray(info.path)
    assert np.all(np.isfinite(path))
    assert info.fate == Fate.LEFT_DOMAIN and 0 <= info.exit_step < 200
    assert np.all(path[info.exit_step:] == path[info.exit_step])  # frozen at the last valid state
    assert np.all((path[:, 0] > 0) & (path[:, 0] < 1) & (path[:, 1] >= 0))
    # The quadratic GAN leaves through pg < 0.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = jaxgan.simulate(jaxgan.pointwise_field("quadratic", 0.2), [3.0, 0.1], steps=1000,
                                  lr=1e-2, warn=False)
    assert info.fate == Fate.LEFT_DOMAIN and float(info.final[1]) >= 0


@pytest.mark.parametrize("z0, lr", [([0.005, 0.001], 0.05), ([0.021779661, 0.001], 0.2)])
def test_a_stage_outside_the_domain_is_left_domain(z0, lr):
    # RK4's first stage z + lr/2 k1 leaves the domain (D jumps past 1 from the first start, pg
    # drops below 0 from the second). From the first start the step ends in NaN
    # (once reported DIVERGED); from the second it lands back inside (once accepted). The
    # field has no value at the stage either way: the step is refused as LEFT_DOMAIN.
    from jaxgan.dynamics import get_rule

    f = jaxgan.pointwise_field("minimax", 0.2)
    z = jnp.asarray(z0, jnp.float32)
    stage = z + 0.5 * lr * f(z)
    assert not bool(f.in_domain(stage))  # the oracle: the stage is outside
    plain, _ = get_rule("rk4").step(f, z, (), lr)
    assert bool(f.in_domain(plain)) == (z0[0] > 0.01)
    info = jaxgan.simulate(f, z0, steps=3, lr=lr, method="rk4", warn=False)
    assert info.fate == Fate.LEFT_DOMAIN and info.exit_step == 0
    np.testing.assert_array_equal(np.asarray(info.path), np.broadcast_to(np.asarray(z), (4, 2)))
    # the sweeps' fast path agrees (it poisons the step, then replays it with the guard)
    from jaxgan import sweeps

    r = sweeps.basins(f, (z0[0], 0.5, 2), (z0[1], 0.5, 2), steps=3, lr=lr, method="rk4", check_every=3)
    assert Fate(int(r.fate[0, 0])) == Fate.LEFT_DOMAIN and int(r.step[0, 0]) == 0


def test_parameters_are_traced_no_recompile():
    from jaxgan.dynamics.simulate import _simulate_jit

    f = jaxgan.pointwise_field("non_saturating", 0.2)
    jaxgan.simulate(f, [0.75, 0.9], steps=50, lr=1e-3)
    before = _simulate_jit._cache_size()
    for pd, lr in ((0.3, 2e-3), (0.9, 5e-3)):
        jaxgan.simulate(jaxgan.pointwise_field("non_saturating", pd), [0.6, 0.9], steps=50, lr=lr)
    assert _simulate_jit._cache_size() == before


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(steps=0, lr=1e-3), ValueError, "steps"),
        (dict(steps=-5, lr=1e-3), ValueError, "steps"),
        (dict(steps=1.5, lr=1e-3), TypeError, "steps"),
        (dict(steps=10, lr=0.0), ValueError, "lr"),
        (dict(steps=10, lr=-1e-3), ValueError, "lr"),
        (dict(steps=10, lr=math.nan), ValueError, "lr"),
        (dict(steps=10), ValueError, "lr"),
        (dict(steps=10, lr=1e-3, method="leapfrog"), ValueError, "unknown method 'leapfrog'"),
        (dict(steps=10, lr=1e-3, method=optax.sgd(1e-3)), ValueError, "lr"),
        (dict(steps=10, lr=1e-3, save_every=3), ValueError, "save_every"),
        (dict(steps=10, lr=1e-3, save_every=0), ValueError, "save_every"),
    ],
)
def test_bad_simulate_arguments(kwargs, err, match):
    f = jaxgan.pointwise_field("minimax", 0.2)
    with pytest.raises(err, match=match):
        jaxgan.simulate(f, [0.75, 0.9], **kwargs)


@pytest.mark.parametrize("z0, match", [([0.5], "shape"), ([[0.5, 0.2]], "shape"), ([1.5, 0.2], "outside the domain"),
                                       ([0.5, -0.1], "outside the domain")])
def test_bad_start(z0, match):
    with pytest.raises(ValueError, match=match):
        jaxgan.simulate(jaxgan.pointwise_field("minimax", 0.2), z0, steps=10, lr=1e-3)
