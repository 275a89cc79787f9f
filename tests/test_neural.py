"""Tests of jaxgan.neural: measurements on cases with known answers, training, fates, bad input.

Compile time dominates: the training tests share compiled programs (the `quick` experiment's
configurations, the quadratic game's linear networks) through the module-level cache of
`neural.train`; the fate rules are tested on constructed results, without training.
"""

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import jaxgan
from jaxgan import neural
from jaxgan.dynamics import Optimizer
from jaxgan.errors import JaxganError
from jaxgan.fates import Fate
from jaxgan.neural import measurements, objectives, step, training
from jaxgan.neural.spec import program_key
from jaxgan.progress import ProgressEvent
from jaxgan.stability.krylov import ritz_values

# ============================================================================ data


def test_mixture_sample_density_and_bin_masses():
    data = neural.gaussian_mixture([-2.0, 1.0], [0.5, 1.0], [1.0, 3.0])
    assert data.weights == (0.25, 0.75)
    # Jitted: one program per call shape (eagerly, each jnp op of the density compiles its own).
    density = jax.jit(lambda x: data.density(x))
    x = np.asarray(jax.jit(lambda k: data.sample(k, 40000))(jax.random.PRNGKey(0)))
    assert x.shape == (40000, 1)
    mean = 0.25 * -2.0 + 0.75 * 1.0
    var = 0.25 * (0.25 + 4.0) + 0.75 * (1.0 + 1.0) - mean ** 2
    assert abs(x.mean() - mean) < 0.03 and abs(x.var() - var) < 0.06
    assert data.std() == pytest.approx(math.sqrt(var))
    grid = np.linspace(-8, 8, 4001)
    dens = np.asarray(density(jnp.asarray(grid)))
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-4)
    edges = (np.linspace(-8, 8, 41),)
    masses = data.bin_masses(edges)
    assert masses.sum() == pytest.approx(1.0, abs=1e-6)
    # Cell masses agree with the integrated density.
    pts = np.linspace(edges[0][:-1], edges[0][1:], 101, axis=1)  # (40 cells, 101 points)
    cell_dens = np.asarray(density(jnp.asarray(pts.ravel()))).reshape(pts.shape)
    np.testing.assert_allclose(masses, np.trapezoid(cell_dens, pts, axis=1), atol=1e-5)
    # 2-D: four modes, density integrates to 1.
    d2 = neural.default_data(2)
    g = np.linspace(-5, 5, 201)
    X, Y = np.meshgrid(g, g, indexing="ij")
    dd = np.asarray(jax.jit(lambda x: d2.density(x))(jnp.asarray(np.stack([X.ravel(), Y.ravel()], 1))))
    dd = dd.reshape(X.shape)
    assert np.trapezoid(np.trapezoid(dd, g, axis=1), g) == pytest.approx(1.0, abs=1e-3)
    assert jax.eval_shape(lambda k: d2.sample(k, 5), jax.random.PRNGKey(1)).shape == (5, 2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(means=[0.0, 1.0], stds=1.0, weights=[-1.0, 2.0]), "non-negative"),
    (dict(means=[0.0, 1.0], stds=1.0, weights=[0.0, 0.0]), "positive sum"),
    (dict(means=[0.0, 1.0], stds=[1.0, 0.0]), "stds"),
    (dict(means=[0.0, 1.0], stds=[1.0, 1.0, 1.0]), "same length"),
    (dict(means=[0.0, float("nan")], stds=1.0), "finite"),
])
def test_mixture_rejects_non_distributions(kwargs, match):
    with pytest.raises(ValueError, match=match):
        neural.gaussian_mixture(**kwargs)


# ============================================================================ measurements


def test_wasserstein_exact_and_gaussians():
    w = neural.wasserstein_1d
    assert float(w(jnp.array([0.0, 1.0]), jnp.array([1.0, 2.0]))) == pytest.approx(1.0)
    assert float(w(jnp.array([0.0]), jnp.array([0.0, 2.0]))) == pytest.approx(1.0)  # unequal sizes
    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    a = jax.random.normal(k1, (20000,))
    b = 0.7 + jax.random.normal(k2, (20000,))
    assert float(w(a, b)) == pytest.approx(0.7, abs=0.03)  # W1 = |μ1 − μ2| for equal σ
    # Sliced, 2-D: a shift μ gives mean_k |μ·u_k| over the evenly spaced directions.
    mu = np.array([0.6, -0.3])
    a2 = jax.random.normal(k1, (20000, 2))
    b2 = a2 + jnp.asarray(mu)  # the same sample, shifted: exact
    ang = np.pi * np.arange(16) / 16
    expect = np.mean(np.abs(mu[0] * np.cos(ang) + mu[1] * np.sin(ang)))
    assert float(neural.sliced_wasserstein(a2, b2, 16)) == pytest.approx(expect, rel=1e-4)


def test_histogram_kl_and_kde():
    data = neural.default_data(1)
    edges = (np.linspace(-4.0, 4.0, 33),)
    p = data.bin_masses(edges)
    same = jax.jit(lambda k: data.sample(k, 20000))(jax.random.PRNGKey(0))
    other = jax.jit(lambda k: neural.gaussian_mixture([0.0], 1.0).sample(k, 20000))(jax.random.PRNGKey(0))
    kl_same = float(neural.histogram_kl(p, same, edges))
    kl_other = float(neural.histogram_kl(p, other, edges))
    assert 0 <= kl_same < 0.01 and kl_other > 1.0
    x = jnp.linspace(-3, 3, 13)
    est = np.asarray(neural.kde(same, x, 0.15))
    np.testing.assert_allclose(est, np.asarray(jax.jit(lambda x: data.density(x, smooth=0.15))(x)), atol=0.03)


def test_path_angle_rotation_is_0_gradient_is_1():
    rot = jnp.array([[0.0, -1.0], [1.0, 0.0]])
    start = {"a": jnp.array([1.0, 0.5])}
    end = {"a": jnp.zeros(2)}
    _, c = neural.path_angle(lambda t: {"a": rot @ t["a"]}, start, end, n=11)
    np.testing.assert_allclose(np.asarray(c[:-1]), 0.0, atol=1e-6)  # v = 0 at the end point: NaN there
    assert np.isnan(c[-1])
    def descent(t):  # gradient of -|θ|²/2
        return {"a": -t["a"]}

    _, c = neural.path_angle(descent, start, end, n=11)
    np.testing.assert_allclose(np.asarray(c[:-1]), 1.0, atol=1e-6)
    programs = measurements._segment_cosines._cache_size()  # the same field, another segment: no new program
    _, c = neural.path_angle(descent, {"a": jnp.array([2.0, -3.0])}, {"a": jnp.array([0.5, -0.75])}, n=11)
    assert measurements._segment_cosines._cache_size() == programs
    np.testing.assert_allclose(np.asarray(c), 1.0, atol=1e-6)  # towards 0, short of it: v ∥ the segment
    eps = 0.3  # damped rotation: cos = ε / sqrt(1 + ε²) all along the segment
    _, c = neural.path_angle(lambda t: {"a": (rot - eps * jnp.eye(2)) @ t["a"]}, start, end, n=5)
    np.testing.assert_allclose(np.asarray(c[:-1]), eps / math.sqrt(1 + eps ** 2), rtol=1e-5)


def test_arnoldi_exact_on_small_matrix_and_breakdown():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(7, 7))
    H, k = neural.arnoldi(lambda v: jnp.asarray(A, jnp.float32) @ v, jnp.ones(7), 7)
    ev = ritz_values(np.asarray(H), int(k), 7)
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(np.linalg.eigvals(A)), atol=2e-4)
    # An invariant 2-D subspace: the iteration stops after 2 steps with the exact eigenvalues.
    B = np.diag([3.0, -2.0, 1.0, 0.5])
    H, k = neural.arnoldi(lambda v: jnp.asarray(B, jnp.float32) @ v, jnp.array([1.0, 1.0, 0.0, 0.0]), 4)
    assert int(k) == 2
    np.testing.assert_allclose(np.sort(ritz_values(np.asarray(H), int(k), 2).real), [-2.0, 3.0], atol=1e-5)
    assert neural.rotation_index(np.array([1j, -1j])) == np.inf
    assert neural.rotation_index(np.array([-1 + 1j, -1 - 1j, -2])) == pytest.approx(0.5)


def test_game_jacobian_eigenvalues_by_jvp_match_dense(x64):
    gan = neural.GAN(discriminator=neural.Net((4,), "tanh"), generator=neural.Net((3,), "tanh"), latent_dim=2,
                     batch_size=16)
    st = neural.init_state(gan, jax.random.PRNGKey(0))
    v, theta = neural.game_field(gan, st, jax.random.PRNGKey(1))
    flat, unravel = ravel_pytree(theta)
    assert flat.dtype == jnp.float64
    jac = jax.jit(jax.jacfwd(lambda t: ravel_pytree(v(unravel(t)))[0]))
    dense = np.linalg.eigvals(np.asarray(jac(flat)))
    assert np.abs(dense.imag).max() > 0.1  # a real game: rotation (the coupling blocks are there)
    full = neural.jacobian_eigenvalues(v, theta, m=flat.shape[0])
    np.testing.assert_allclose(np.sort_complex(full), np.sort_complex(dense), atol=1e-9)
    top = neural.jacobian_eigenvalues(v, theta, m=12, top=2)
    lead = dense[np.argsort(-np.abs(dense))][:2]
    np.testing.assert_allclose(np.sort_complex(top), np.sort_complex(lead), rtol=1e-6)
    # The same field at another point (another checkpoint): the compiled program is reused.
    programs = measurements._field_hessenberg._cache_size()
    theta2 = jax.tree_util.tree_map(lambda a: 0.9 * a + 0.05, theta)
    top2 = neural.jacobian_eigenvalues(v, theta2, m=12, top=2)
    assert measurements._field_hessenberg._cache_size() == programs
    dense2 = np.linalg.eigvals(np.asarray(jac(ravel_pytree(theta2)[0])))
    lead2 = dense2[np.argsort(-np.abs(dense2))][:2]
    np.testing.assert_allclose(np.sort_complex(top2), np.sort_complex(lead2), rtol=1e-6)
    assert not np.allclose(np.sort_complex(top2), np.sort_complex(top))  # another point: other numbers


def test_penalties_on_a_linear_discriminator():
    # u(x) = a x + b: ∇ₓu = a, so R1 = R2 = γ/2 a² and WGAN-GP = λ (|a| − 1)².
    base = dict(discriminator=neural.Net(()), generator=neural.Net(()), game="wasserstein", latent_dim=1)
    batch = jax.jit(objectives.draw_batch, static_argnums=(0, 2))(neural.GAN(**base), jax.random.PRNGKey(0), 32)
    penalty = jax.jit(objectives.penalty, static_argnums=0)  # one program per GAN, not one per op
    td = {"dense": [{"w": jnp.array([[3.0]]), "b": jnp.array([0.2])}]}
    fake = batch.x + 1.0
    for pen, weight, expect in (("r1", 2.0, 9.0), ("r2", 0.5, 2.25), ("wgan_gp", 10.0, 40.0)):
        gan = neural.GAN(**base, penalty=pen, penalty_weight=weight)
        assert float(penalty(gan, td, None, batch, fake)) == pytest.approx(expect, rel=1e-5)


def test_output_maps_meet_the_game_domain():
    assert neural.output_map("minimax").kind == "sigmoid"
    assert neural.output_map("quadratic").kind == "identity"
    om = neural.output_map("hellinger")  # T < 1
    assert om.kind == "neg_softplus" and om.hi == 1.0
    u = jnp.linspace(-30, 30, 7)
    assert bool(jnp.all(om(u) < 1.0))  # saturation stays inside the open domain (clipped one ulp inside)
    s = neural.output_map("minimax")(jnp.array([-200.0, 0.0, 200.0]))
    assert 0.0 < float(s[0]) and float(s[1]) == 0.5 and float(s[2]) < 1.0
    om = neural.output_map(jaxgan.Game(jnp.log, lambda d: jnp.log(3.0 - d), jnp.log, name="affine",
                                       d_domain=(0.0, 3.0)))
    assert om.kind == "sigmoid" and float(om(jnp.array(0.0))) == pytest.approx(1.5)


def test_kernel_prediction_product_runs_compiled_and_matches_the_kernel():
    # The training loop calls kernels.kernel_vp on traced parameters and batches (eval-mode
    # BatchNorm kernel); compiled, it must equal the explicit kernel times g.
    init, apply = jaxgan.nets.mlp((1, 8, 8, 1), "relu", batchnorm=True)
    params = init(jax.random.PRNGKey(0))
    x_out = jnp.linspace(-2, 2, 9)[:, None]
    x_in = jnp.linspace(-1, 3, 6)[:, None]
    g = jnp.linspace(-1, 1, 6)
    ours = np.asarray(jax.jit(lambda p, a, b, v: jaxgan.kernels.kernel_vp(apply, p, a, b, v, train=False))(
        params, x_out, x_in, g))
    K = np.asarray(jaxgan.kernels.parametric_kernel(apply, params, x_out, x_in, train=False))
    np.testing.assert_allclose(ours, K @ np.asarray(g), rtol=1e-4, atol=1e-5)


# ============================================================================ training


def _linear_gan(lr):
    """D(x) = a x + b, G(z) = w z + c on N(1.5, 0.5²), the quadratic game, SGD with step `lr`."""
    sgd = Optimizer(optax.sgd, learning_rate=lr)
    return neural.GAN(data=neural.gaussian_mixture([1.5], 0.5), game="quadratic", discriminator=neural.Net(()),
                      generator=neural.Net(()), latent_dim=1, d_optimizer=sgd, g_optimizer=sgd, batch_size=256)


# `hessians=False`: no test here reads the players' Hessians, and the program is a quarter smaller.
_LINEAR_RUN = dict(seeds=2, steps=1000, measure_every=25, n_eval=512, n_grid=16, krylov=4, hessians=False)


@pytest.fixture(scope="module")
def linear_run():
    return neural.train(_linear_gan(0.05), **_LINEAR_RUN)


def test_quadratic_game_linear_discriminator_converges(linear_run):
    """The linear GAN of `_linear_gan`: the field on (a, b, c, w) is linear with a constant Jacobian
    (batch moments x̄, x², z̄): rest point a = 0, b = 1 = D0, c + w z̄ = mean of the data. Checked: the
    generator's mean and D on the grid at the end; the JVP eigenvalues against that matrix; the kernel
    prediction is exact (D is linear in its parameters, so the SGD step is exactly lr · K g).
    """
    lr, r = 0.05, linear_run
    gan = r.gan
    assert gan.d_output.kind == "identity"
    assert np.all(r.fate != Fate.DIVERGED)
    tail = slice(-8, None)
    assert np.all(np.abs(np.median(r.g_mean[:, tail, 0], axis=1) - 1.5) < 0.1)
    assert np.all(np.abs(r.d_grid[:, -1] - 1.0) < 0.15)
    np.testing.assert_allclose(r.kernel_cos[:, 1:], 1.0, atol=1e-4)
    np.testing.assert_allclose(r.kernel_gain[:, 1:], lr, rtol=1e-3)
    # ... and so is the generator's (G is linear in its parameters too). Near convergence its float32
    # change is a difference of nearly equal numbers: exact to 1e-4 over the first half of training.
    np.testing.assert_allclose(r.kernel_cos_g[:, 1:20], 1.0, atol=1e-4)
    np.testing.assert_allclose(r.kernel_gain_g[:, 1:20], lr, rtol=1e-3)
    np.testing.assert_allclose(r.kernel_cos_g[:, 1:], 1.0, atol=1e-3)
    # Analytic Jacobian on the fixed measurement batch of seed 0.
    # (jitted: one program, not one per op)
    ev = jax.jit(lambda: measurements.eval_inputs(gan, r.cfg, step.split_seed_key(step.seed_keys(r.seeds[:1])[0])[2],
                                                  4))()
    x, z = np.asarray(ev.batch.x[:, 0], np.float64), np.asarray(ev.batch.z[:, 0], np.float64)
    xb, x2, zb = x.mean(), (x * x).mean(), z.mean()
    # rows/cols: a, b (discriminator), c, w (generator)
    A = np.array([[-x2, -xb, 1.0, zb], [-xb, -1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [-zb, 0.0, 0.0, 0.0]])
    expect = np.linalg.eigvals(A)
    got = r.eigs[0, -1]
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(expect), atol=2e-4)
    assert np.abs(expect.imag).max() > 0.3  # the parameter dynamics spiral in: rotation + attraction


# A compile by XLA, or one read from a persistent cache where one is on: either is a program not reused.
_COMPILES = ("/jax/core/compile/backend_compile_duration", "/jax/compilation_cache/cache_retrieval_time_sec")


def test_a_new_learning_rate_reuses_the_compiled_program(linear_run):
    """Equal settings give equal (hash-equal) GANs; a GAN that differs only in its optimisers'
    numbers shares the compiled training program, and those numbers really reach the updates."""
    assert _linear_gan(0.05) == _linear_gan(0.05) and hash(_linear_gan(0.05)) == hash(_linear_gan(0.05))
    assert _linear_gan(0.05) != _linear_gan(0.0)
    assert program_key(_linear_gan(0.05)) == program_key(_linear_gan(0.0))
    compiles = []

    def listener(event, duration, **kw):
        if event in _COMPILES:
            compiles.append(event)

    programs = training.compiled_programs()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        still = neural.train(_linear_gan(0.0), **_LINEAR_RUN)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert training.compiled_programs() == programs and compiles == []
    np.testing.assert_array_equal(still.theta_end, still.theta0)  # lr = 0 read from the optimiser state
    assert np.abs(linear_run.theta_end - linear_run.theta0).max() > 0.1


def test_generator_kernel_prediction_sees_the_discriminator_of_its_update():
    """Alternating updates with 2 discriminator steps: the generator's step uses the discriminator
    after those steps. With linear networks and the quadratic game, dÎ/dG = -a (D's slope then), so
    the predicted change has the right size (gain = lr) only if the prediction replays them too."""
    sgd = optax.sgd(0.05)  # a plain optax transformation (its numbers compiled in) works too
    gan = neural.GAN(data=neural.gaussian_mixture([1.5], 0.5), game="quadratic", discriminator=neural.Net(()),
                     generator=neural.Net(()), latent_dim=1, d_optimizer=sgd, g_optimizer=sgd, batch_size=64,
                     update="alternating", d_steps=2)
    r = neural.train(gan, seeds=2, steps=100, measure_every=25, n_eval=64, n_grid=128, krylov=2, hessians=False)
    assert r.kernel_cos_g.shape == (2, 5) and np.isnan(r.kernel_cos_g[:, 0]).all()
    np.testing.assert_allclose(r.kernel_cos_g[:, 1:], 1.0, atol=1e-5)
    np.testing.assert_allclose(r.kernel_gain_g[:, 1:], 0.05, rtol=1e-4)


def _quick(**kw):
    return neural.batchnorm_experiment("quick", workers=1, **kw)


@pytest.fixture(scope="module")
def quick_run():
    events = []
    return _quick(variants=("plain",), progress=events.append), events


@pytest.fixture(scope="module")
def quick_plain(quick_run):
    return quick_run[0]


def test_experiment_reports_progress_events(quick_run):
    _, events = quick_run
    assert len(events) == 1 and isinstance(events[0], ProgressEvent)
    ev = events[0]
    assert (ev.task, ev.done, ev.total) == ("batchnorm_experiment", 1, 1)
    assert ev.message.startswith("relu: ") and "converged" in ev.message
    with pytest.raises(TypeError, match="progress"):
        neural.batchnorm_experiment("quick", progress="loud")


def test_training_is_reproducible_bit_for_bit(quick_plain):
    again = _quick(variants=("plain",))
    a, b = quick_plain.results["relu"], again.results["relu"]
    for k, v in a.logs.items():
        np.testing.assert_array_equal(v, b.logs[k], err_msg=k)
    np.testing.assert_array_equal(a.theta_end, b.theta_end)
    # A seed's run does not depend on the other seeds in the batch.
    gan = a.gan
    # The experiment's own sizes and compile options (`hessians=False`, `fast_compile="quick"`): its
    # compiled program serves this run too.
    programs = training.compiled_programs()
    r = neural.train(gan, [0, 5, 6, 7], steps=600, measure_every=30, n_eval=256, n_grid=32, krylov=6,
                     hessians=False, fast_compile="quick")
    assert training.compiled_programs() == programs
    for k in ("w1", "d_grid", "kernel_cos", "eigs"):
        np.testing.assert_array_equal(r.logs[k][0], a.logs[k][0], err_msg=k)


def test_quick_run_measurements_are_sane(quick_plain):
    r = quick_plain.results["relu"]
    n_chk = 600 // 30 + 1
    assert r.w1.shape == (4, n_chk) and r.d_grid.shape == (4, n_chk, 32) and r.eigs.shape == (4, n_chk, 6)
    assert np.all(np.isfinite(r.w1)) and np.all(r.fate != Fate.DIVERGED)
    assert np.median(r.w1[:, -1]) < 0.7 * np.median(r.w1[:, 0])  # the generator moves towards the data
    assert np.all((r.d_grid > 0) & (r.d_grid < 1))  # sigmoid output: inside the game's domain
    assert np.isnan(r.step_cos[:, 0]).all() and np.isfinite(r.step_cos[:, 1:]).all()
    assert np.all(np.abs(r.kernel_cos[:, 1:]) <= 1 + 1e-6)
    assert np.nanmean(r.kernel_cos) > 0.5  # plain nets: the kernel view predicts D's change
    assert np.all(np.abs(r.kernel_cos_g[:, 1:]) <= 1 + 1e-6) and np.nanmean(r.kernel_cos_g) > 0.3
    assert np.isfinite(r.rotation).all() and (np.abs(r.eigs.imag) > 0).any()
    a, c = r.path_angle(0)  # n = 21 points, as the command's figure (one compiled program for both)
    assert a.shape == c.shape == (21,) and np.all(np.abs(c) <= 1 + 1e-6)
    table = quick_plain.table()
    assert "nan" not in table.lower() and "| relu |" in table
    # The result is frozen and built with its final fates.
    np.testing.assert_array_equal(r.fate, neural.classify(r, tol=r.tol, tail=0.25))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.fate = r.fate
    for name, v in r.logs.items():  # every log is a named field of shape (S, C+1, ...)
        assert v is getattr(r, name) and v.shape[:2] == (4, n_chk), name


class _NanAt:
    """An SGD whose k-th update (1-based) is NaN: a reproducible divergence."""

    def __init__(self, k, lr=0.01):
        self.k, self.lr = k, lr

    def init(self, params):
        return jnp.zeros((), jnp.int32)

    def update(self, grads, count, params=None):
        bad = count == self.k - 1
        upd = jax.tree_util.tree_map(lambda g: jnp.where(bad, jnp.nan, -self.lr * g), grads)
        return upd, count + 1


def test_nan_marks_the_seed_diverged_with_its_step():
    """2-D data; BatchNorm in D, dropout in G; alternating updates with two D steps; R1; a generator
    optimiser whose 37th update is NaN: each seed is frozen and marked diverged at update 37."""
    nan_g = optax.GradientTransformation(_NanAt(37).init, _NanAt(37).update)
    gan = neural.GAN(data=neural.default_data(2), discriminator=neural.Net((8,), "leaky_relu", batchnorm=True),
                     generator=neural.Net((8,), dropout=0.2), update="alternating", d_steps=2, penalty="r1",
                     penalty_weight=1.0, g_optimizer=nan_g, batch_size=32)
    r = neural.train(gan, seeds=2, steps=60, measure_every=10, n_eval=64, n_grid=36, n_bins=36, krylov=0,
                     hessians=False)
    assert r.grid.shape == (36, 2) and r.d_grid.shape == (2, 7, 36) and r.g_mean.shape == (2, 7, 2)
    assert list(r.fate) == [Fate.DIVERGED, Fate.DIVERGED]
    assert list(r.fate_step) == [37, 37]
    for name in ("w1", "kl", "kernel_cos", "step_cos"):  # checkpoints 0..30 measured, 40..60 not
        v = getattr(r, name)
        assert np.all(np.isfinite(v[:, 1:4])) and np.all(np.isnan(v[:, 4:])), name
    assert np.all(np.isfinite(r.theta_end))  # the state froze before the NaN
    s = r.summary()
    assert s["diverged"] == 2 and s["final_w1_median"] is None and s["diverged_at"] == [37, 37]
    exp = neural.ExperimentResult({"x": r}, [s | {"label": "x"}], dict(
        game="g", data="d", seeds=2, steps=60, update="alternating", lr=0.01, batch_size=32, hidden=[8],
        tol=r.tol, krylov=2), 0.0)
    table = exp.table()
    assert "n/a (all diverged)" in table and "nan" not in table.lower()


# ============================================================================ fates, on constructed runs


def _constructed_run(n_chk=121, n_grid=33, turns=12.0):
    """A `TrainResult` built by hand on the default data and game (D0 = 1/2, D-scale 1/2), 4 seeds:

    0. a large counter-clockwise loop of (D(x), pg(x)) around (D0, pd(x)) at every x, of scaled
       radius 0.8, `turns` turns over the run (a closed orbit), W1 large: CYCLING;
    1. (D, pg) sliding straight into (D0, pd) and W1 → 0.001: CONVERGED;
    2. the loop of seed 0 until update 400, then non-finite (the run marked it diverged): DIVERGED;
    3. the loop of seed 0, clockwise: CYCLING.
    """
    gan = neural.GAN()
    grid = np.linspace(-4.0, 4.0, n_grid)[:, None]
    pd = np.asarray(jax.jit(lambda x: gan.data.density(x, smooth=0.125))(jnp.asarray(grid)), np.float64)
    steps = np.arange(n_chk) * 10
    phase = 2 * np.pi * turns * np.arange(n_chk) / (n_chk - 1)
    decay = 0.3 * np.exp(-np.arange(n_chk) / 10.0)
    u = np.stack([0.8 * np.cos(phase), decay, 0.8 * np.cos(phase), 0.8 * np.cos(phase)])  # (D - D0) / s
    v = np.stack([0.8 * np.sin(phase), decay, 0.8 * np.sin(phase), -0.8 * np.sin(phase)])  # (pg - pd) / pd
    d_grid = np.broadcast_to((0.5 + 0.5 * u)[:, :, None], (4, n_chk, n_grid)).copy()
    pg_grid = pd[None, None, :] * (1.0 + v[:, :, None])
    w1 = np.stack([np.full(n_chk, 0.6), 1e-3 + decay, np.full(n_chk, 0.6), np.full(n_chk, 0.6)])
    dead = steps >= 400
    for a in (d_grid, pg_grid):
        a[2, dead] = np.nan
    w1[2, dead] = np.nan
    nan = np.full((4, n_chk), np.nan)
    return neural.TrainResult(
        gan=gan, seeds=np.arange(4), steps=steps, grid=grid, pd_grid=pd, w1=w1, kl=nan, g_mean=nan[..., None],
        g_std=nan[..., None], d_grid=d_grid, pg_grid=pg_grid, J=nan, I=nan, field_norm=nan, step_cos=nan,
        eigs=np.zeros((4, n_chk, 0), complex), rotation=nan, kernel_cos=nan, kernel_gain=nan, kernel_cos_g=nan,
        kernel_gain_g=nan, fate=np.array([0, 0, Fate.DIVERGED, 0]), fate_step=np.array([-1, -1, 400, -1]),
        theta0=np.zeros((4, 3)), theta_end=np.zeros((4, 3)), final=None, tol=0.05)


def test_classify_cycling_converged_diverged():
    r = _constructed_run()
    fates = neural.classify(r, tol=0.05)
    assert [Fate(int(f)) for f in fates] == [Fate.CYCLING, Fate.CONVERGED, Fate.DIVERGED, Fate.CYCLING]
    # Built once with its fates: a copy, not an assignment.
    done = dataclasses.replace(r, fate=fates)
    np.testing.assert_array_equal(neural.classify(done, tol=0.05), fates)
    assert done.summary()["cycling"] == 2 and done.summary()["diverged_at"] == [400]


def test_classify_uses_the_one_rule_with_a_minimum_radius():
    # The same loops at scaled radius 0.4: inside r_min = 0.5 they are the jitter the rule ignores,
    # with r_min = 0.3 they are loops again (jaxgan.fates decides, as for the sweeps and tables).
    r = _constructed_run()
    small = dataclasses.replace(r, d_grid=0.5 + 0.5 * (r.d_grid - 0.5),
                                pg_grid=r.pd_grid + 0.5 * (r.pg_grid - r.pd_grid))
    assert [Fate(int(f)) for f in neural.classify(small, tol=0.05)] == [
        Fate.UNDECIDED, Fate.CONVERGED, Fate.DIVERGED, Fate.UNDECIDED]
    assert [Fate(int(f)) for f in neural.classify(small, tol=0.05, r_min=0.3)] == [
        Fate.CYCLING, Fate.CONVERGED, Fate.DIVERGED, Fate.CYCLING]


def test_winding_turns_count_signed_loops():
    r = _constructed_run()
    turns = neural.winding_turns(r, tail=0.5)
    assert turns.shape[0] == 4 and turns.shape[1] >= 5  # the probes where pd ≥ max(pd)/5
    np.testing.assert_allclose(turns[0], 6.0, atol=1e-6)  # the last half of 12 turns, counter-clockwise
    np.testing.assert_allclose(turns[3], -6.0, atol=1e-6)
    np.testing.assert_array_equal(turns[1], 0.0)  # inside r_min all along
    assert np.isnan(turns[2]).all()
    np.testing.assert_allclose(neural.winding_turns(r, tail=1.0)[0], 12.0, atol=1e-6)
    with pytest.raises(ValueError, match="tail"):
        neural.winding_turns(r, tail=1.5)


def _cells(line: str) -> list:
    """The cells of a markdown table row (`|` escaped as `\\|` stays inside its cell)."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_experiment_table_is_a_well_formed_markdown_table():
    r = _constructed_run()
    r = dataclasses.replace(r, fate=neural.classify(r, tol=0.05))
    settings = dict(game="non_saturating", data="d", seeds=4, steps=1200, update="simultaneous", lr=5e-4,
                    batch_size=64, hidden=[16, 16], tol=0.05, krylov=6)
    exp = neural.ExperimentResult({"relu": r, "relu + batchnorm": r}, [r.summary() | {"label": lab} for lab in
                                                                        ("relu", "relu + batchnorm")], settings, 1.0)
    rows = [line for line in exp.table().splitlines() if line.startswith("|")]
    assert len(rows) == 4 and set(rows[1]) == set("|-")
    n = len(_cells(rows[1]))
    assert n == 11 and all(len(_cells(row)) == n for row in rows), [len(_cells(row)) for row in rows]
    assert "max \\|Im λ\\|" in rows[0] and _cells(rows[2])[0].strip() == "relu"
    assert "1/4" in rows[2] and "(at update 400–400)" in rows[2] and "nan" not in exp.table().lower()


# ============================================================================ bad input


@pytest.mark.parametrize("make, exc, match", [
    (lambda: neural.Net((8,), "swish"), ValueError, "activation"),
    (lambda: neural.Net((8, 0)), ValueError, "≥ 1"),
    (lambda: neural.Net((8, 2.5)), TypeError, "ints"),
    (lambda: neural.Net((), batchnorm=True), ValueError, "hidden"),
    (lambda: neural.GAN(game="quadratic", d_output="sigmoid"), ValueError, "rest value D0 = 1"),
    (lambda: neural.GAN(game="minimax", d_output="identity"), ValueError, "not inside"),
    (lambda: neural.GAN(game="nope"), ValueError, "unknown game"),
    (lambda: neural.GAN(data=[0.0, 1.0]), TypeError, "GaussianMixture"),
    (lambda: neural.GAN(penalty="r3"), ValueError, "penalty"),
    (lambda: neural.GAN(update="sometimes"), ValueError, "update"),
    (lambda: neural.GAN(d_steps=3), ValueError, "alternating"),
    (lambda: neural.GAN(discriminator=neural.Net((4,), batchnorm=True), batch_size=1), ValueError, "batch_size"),
    (lambda: neural.GAN(d_optimizer="adam"), TypeError, "optax"),
    (lambda: neural.GAN(latent_dim=0), ValueError, "latent_dim"),
    (lambda: neural.OutputMap("cubic"), ValueError, "kind"),
    (lambda: neural.output_map("minimax", "relu"), ValueError, "output_map argument `kind`"),
    (lambda: neural.gaussian_mixture(3.0, 1.0), TypeError, "means"),
    (lambda: neural.default_data(3), ValueError, "dim"),
    (lambda: neural.batchnorm_experiment("huge"), ValueError, "size"),
    (lambda: neural.batchnorm_experiment("quick", variants=("plain", "layernorm")), ValueError, "variants"),
])
def test_bad_specs_raise(make, exc, match):
    with pytest.raises(exc, match=match) as info:
        make()
    assert isinstance(info.value, JaxganError)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(steps=25, measure_every=10), ValueError, "multiple"),
    (dict(seeds=0), ValueError, "seeds"),
    (dict(seeds=[0.5, 1.5]), TypeError, "seeds"),
    (dict(krylov=-1), ValueError, "krylov"),
    (dict(tail=1.5), ValueError, "tail"),
    (dict(n_eval=4), ValueError, "n_eval"),
])
def test_bad_train_arguments_raise_before_compiling(kw, exc, match):
    with pytest.raises(exc, match=match) as info:
        neural.train(neural.GAN(), **kw)
    assert isinstance(info.value, JaxganError)


def test_cli_experiment_quick(tmp_path, capsys, quick_plain):
    from jaxgan import cli

    assert cli.main(["experiment", "batchnorm", "--quick", "--small"]) == 2
    out = tmp_path / "bn"
    # The plain variant only: its program is already compiled by `quick_plain` (BatchNorm training is
    # exercised by the NaN test's smaller program).
    assert cli.main(["experiment", "batchnorm", "--quick", "--variants", "plain", "--workers", "1",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| relu |" in text and "nan" not in text.lower()
    for name in ("batchnorm_table.md", "batchnorm_table.csv", "batchnorm.json", "batchnorm_distances.png",
                 "batchnorm_d_over_time.png", "batchnorm_eigenvalues.png", "batchnorm_pointwise.png",
                 "batchnorm_path_angle.png"):
        assert (out / name).stat().st_size > 0, name
