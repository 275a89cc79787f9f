"""Tests of `jaxgan.neural.parameter_field`: a real GAN's game field on its parameters as a jaxgan
`Field`, and the matrix-free (Arnoldi on JVPs) path of `analyze`, `step_spectral_radius` and
`max_stable_lr`.

Oracles: `field_parts` (the training's own gradients) for the velocity; the dense Jacobian's
eigenvalues (numpy) for the Ritz values of a full Arnoldi run (`krylov = P` gives all of them);
`max |1 + lr·λ|` for the Euler step's radius; hand-written Euler updates on the parameter pytree
for `simulate`; the bilinear game's closed form (extragradient stable iff lr < 1) for the
matrix-free step-size search. One small GAN (P = 86) is shared so its programs compile once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxgan
from jaxgan import neural
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.neural import field as pf_module
from jaxgan.neural.field import parameter_field
from jaxgan.neural.objectives import draw_batch, field_parts
from jaxgan.stability import continuous, discrete, krylov

TINY = neural.GAN(discriminator=neural.Net((4,), "tanh"), generator=neural.Net((4,), "tanh"), latent_dim=2,
                  batch_size=16)  # P = 30: for argument checks (nothing compiled)
SMALL = neural.GAN(discriminator=neural.Net((12,), "tanh"), generator=neural.Net((12,), "tanh"), latent_dim=2,
                   batch_size=16)
P_SMALL = (12 + 12 + 12 + 1) + (2 * 12 + 12 + 12 + 1)  # θ_D: 1→12→1, θ_G: 2→12→1


# The oracle: the training's own field on the players' pytrees (one compile for every test).
_parts = jax.jit(field_parts, static_argnums=0)


def _match(a, b, tol):
    """Largest distance from an eigenvalue of either set to the nearest of the other (Hausdorff)."""
    a, b = np.asarray(a), np.asarray(b)
    d = np.abs(a[:, None] - b[None, :])
    return max(d.min(axis=1).max(), d.min(axis=0).max()) <= tol


def test_velocity_is_field_parts_flattened_and_reuses_compiled_code(x64):
    field, z = parameter_field(SMALL, seed=3)
    assert field.dim == z.shape[0] == P_SMALL and z.dtype == jnp.float64
    unravel = field.get_meta("unravel")
    td, tg = unravel(z)
    n_d = ravel_pytree(td)[0].shape[0]
    assert field.players == (tuple(range(n_d)), tuple(range(n_d, P_SMALL)))
    assert field.labels[0].startswith("D.") and field.labels[-1].startswith("G.") and len(set(field.labels)) == P_SMALL
    assert field.get_meta("gan_label") == SMALL.label() and field.rest_point is None
    st = field.params
    gd, gg = _parts(SMALL, td, tg, st.sd, st.sg, st.batch)
    np.testing.assert_allclose(field(z), ravel_pytree((gd, gg))[0], rtol=1e-12, atol=1e-14)
    # The way back and forth.
    np.testing.assert_array_equal(unravel.ravel(td, tg), z)
    # Another seed, state or batch of the same GAN is new leaf values only: no new compile.
    compiled = pf_module._velocity._cache_size()
    f2, z2 = parameter_field(SMALL, seed=4)
    f3, _ = parameter_field(SMALL, neural.init_state(SMALL, jax.random.PRNGKey(1)), batch_key=jax.random.key(9))
    assert not np.allclose(z2, z) and not np.allclose(f2(z), field(z))
    f2(z2), f3(z)
    assert pf_module._velocity._cache_size() == compiled


def test_dense_and_arnoldi_eigenvalues_agree_and_euler_radius_is_closed_form(x64):
    field, z = parameter_field(SMALL, seed=1)
    dense = jaxgan.analyze(field, z)  # P ≤ DENSE_LIMIT: the dense path
    free = jaxgan.analyze(field, z, matrix_free=True, krylov=P_SMALL)  # every eigenvalue, from JVPs
    assert dense.method == "dense" and dense.residuals is None and free.method == "arnoldi" and free.jacobian is None
    ev = np.linalg.eigvals(dense.jacobian)
    scale = np.max(np.abs(ev))
    # A low-rank Jacobian (16 samples) breaks the iteration down early: its Ritz values are then exact.
    assert _match(free.eigenvalues, ev, 1e-8 * scale) and np.all(free.residuals <= 1e-8 * scale)
    assert free.kind == dense.kind and free.stable == dense.stable
    for lr in (0.05, 0.7):
        want = np.max(np.abs(1.0 + lr * ev))
        got = jaxgan.step_spectral_radius(field, z, lr=lr, matrix_free=True, krylov=P_SMALL)
        assert got == pytest.approx(want, rel=1e-10)
    # Euler's step limit: the closed form on the same eigenvalues (0 when some Re λ ≥ 0).
    want = 0.0 if np.any(ev.real >= 0) else float(np.min(-2 * ev.real / np.abs(ev) ** 2))
    assert jaxgan.max_stable_lr(field, z, matrix_free=True, krylov=P_SMALL) == pytest.approx(want)
    assert jaxgan.max_stable_lr(field, z) == pytest.approx(want)
    # The top eigenvalue from fewer Arnoldi steps than parameters (the default number: the program that
    # `test_large_network_goes_matrix_free` runs too).
    assert krylov.KRYLOV_STEPS < P_SMALL
    few = jaxgan.analyze(field, z, matrix_free=True)
    assert few.eigenvalues.size <= krylov.KRYLOV_STEPS
    top, i = ev[np.argmax(np.abs(ev))], np.argmax(np.abs(few.eigenvalues))
    assert abs(few.eigenvalues[i] - top) <= 1e-6 * abs(top) and few.residuals[i] <= 1e-6 * abs(top)


def test_simulate_euler_is_hand_written_gradient_descent_ascent(x64):
    field, z = parameter_field(SMALL, seed=2)
    lr, k = 0.05, 4
    traj = jaxgan.simulate(field, z, steps=k, lr=lr)
    # By hand on the pytrees, with the training's own field on seed 2's state and measurement batch.
    k_init, _, k_eval = jax.random.split(jax.random.key(2), 3)
    st = neural.init_state(SMALL, k_init)
    batch = jax.jit(draw_batch, static_argnums=(0, 2))(SMALL, jax.random.split(k_eval, 3)[1], SMALL.batch_size)
    euler = jax.jit(lambda theta, grads: jax.tree_util.tree_map(lambda t, g: t + lr * g, theta, grads))
    theta = (st.td, st.tg)
    rows = [ravel_pytree(theta)[0]]
    for _ in range(k):
        theta = euler(theta, _parts(SMALL, *theta, st.sd, st.sg, batch))
        rows.append(ravel_pytree(theta)[0])
    np.testing.assert_allclose(traj.path, np.stack(rows), rtol=1e-12, atol=1e-14)
    assert not np.allclose(traj.path[-1], traj.path[0])


def test_large_network_goes_matrix_free(monkeypatch, x64):
    # A GAN of two 64-64 MLPs has more parameters than the dense limit (counted from its sizes) ...
    gan = neural.GAN(discriminator=neural.Net((64, 64), "tanh"), generator=neural.Net((64, 64), "tanh"),
                     latent_dim=2, batch_size=16)
    assert gan.d_player.n_params()[0] + gan.g_player.n_params()[0] == 4353 + 4417 > krylov.DENSE_LIMIT
    # ... and the switch is the same for any field above the limit: here SMALL's (P = 86) under a lowered
    # limit, whose Arnoldi program (the default number of steps) the test above has compiled.
    monkeypatch.setattr(krylov, "DENSE_LIMIT", P_SMALL - 1)
    field, z = parameter_field(SMALL, seed=1)
    assert field.dim == P_SMALL > krylov.DENSE_LIMIT

    def no_dense(*args, **kwargs):
        raise AssertionError("a dense Jacobian was formed")

    monkeypatch.setattr(continuous, "velocity_and_jacobian", no_dense)
    monkeypatch.setattr(discrete, "compiled_update_jacobian", no_dense)
    report = jaxgan.analyze(field, z)
    assert report.method == "arnoldi" and report.jacobian is None
    assert 1 <= report.eigenvalues.size <= krylov.KRYLOV_STEPS and np.all(np.isfinite(report.eigenvalues))
    assert report.residuals.shape == report.eigenvalues.shape
    assert "Ritz values" in str(report) and report.as_dict()["method"] == "arnoldi"
    lr = 0.1
    rho = jaxgan.step_spectral_radius(field, z, lr=lr)
    assert rho == pytest.approx(np.max(np.abs(1 + lr * report.eigenvalues)), rel=1e-6)
    # A dense request of this size is the user's choice (refused before compiling if it cannot fit).
    with pytest.raises((AssertionError, ArgumentError), match="dense"):
        jaxgan.analyze(field, z, matrix_free=False)


def test_matrix_free_step_search_on_the_bilinear_closed_form():
    # Extragradient on min_x max_y xy maps a mode by 1 + hλ + (hλ)², |·|² = 1 - h² + h⁴: stable iff h < 1.
    f = jaxgan.fields.bilinear()
    assert jaxgan.max_stable_lr(f, method="extragradient", matrix_free=True) == pytest.approx(1.0, rel=1e-5)
    assert jaxgan.step_spectral_radius(f, method="extragradient", lr=0.5, matrix_free=True) == pytest.approx(
        np.sqrt(1 - 0.25 + 0.0625), rel=1e-6)
    # The classic GAN at pd = 0.2: λ = -0.8 ± 1.833i, Euler stable iff lr < 0.4 (the article's limit).
    g = jaxgan.pointwise_field("classic", pd=0.2)
    assert jaxgan.max_stable_lr(g, matrix_free=True) == pytest.approx(0.4, rel=1e-5)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: parameter_field(TINY, neural.init_state(neural.GAN(discriminator=neural.Net((5,), "tanh"),
                                                                generator=neural.Net((4,), "tanh"), latent_dim=2),
                                                     jax.random.PRNGKey(0))), ArgumentError, "`state`"),
    (lambda: parameter_field(TINY, (1, 2)), ArgumentError, "`state`"),
    (lambda: parameter_field(TINY, batch_size=0), ArgumentError, "`batch_size`"),
    (lambda: parameter_field(TINY, batch_size=2.5), ArgumentTypeError, "`batch_size`"),
    (lambda: parameter_field(TINY, seed=-1), ArgumentError, "`seed`"),
    (lambda: parameter_field(TINY, batch_key="key"), ArgumentTypeError, "`batch_key`"),
    (lambda: parameter_field("gan"), ArgumentTypeError, "`gan`"),
])
def test_bad_input_is_named(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_bad_matrix_free_arguments_are_named():
    field, z = parameter_field(TINY)
    with pytest.raises(ArgumentTypeError, match="analyze argument `matrix_free`"):
        jaxgan.analyze(field, z, matrix_free="yes")
    with pytest.raises(ArgumentError, match="step_spectral_radius argument `krylov`"):
        jaxgan.step_spectral_radius(field, z, lr=0.1, krylov=0)
    with pytest.raises(ArgumentError, match=r"analyze argument `z` must have shape \(30,\)"):
        jaxgan.analyze(field, z[:-1])
