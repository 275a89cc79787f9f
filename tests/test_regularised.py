"""Dirac-GAN and bilinear games, regulariser transforms, discrete-time stability, the convergence table.

Every expectation is derived in the test's docstring from the paper it reproduces, not from the code.
Notation: a = f'(0) (logistic f(t) = -log(1 + e^{-t}): a = 1/2, f''(0) = -1/4; Wasserstein f(t) = t:
a = 1, f'' = 0).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import fields as F
from jaxgan.dynamics import Fate
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.stability.jacobians import field_jacobian

HALF = 0.5
DG = F.dirac_gan()
DW = F.dirac_gan("wasserstein")
BL = F.bilinear()
ZERO = jnp.zeros(2)


# The library's jitted Jacobian (`jax.jacfwd`, compiled once per field kind, weights are traced
# leaves): the very program `jaxgan.analyze` runs, so a field kind that a test also analyses is
# compiled once (`jaxgan.analyze` itself is exercised on these fields in the tests that check `kind`).
def jac(field):
    return np.asarray(field_jacobian(field, jnp.asarray(field.rest_point)), dtype=np.float64)


# A field (or its Jacobian) at given points, one compiled program per field kind: calling a field
# eagerly would compile each of its operations on its own.
_EV = jax.jit(lambda f, z: f(z))
_VEV = jax.jit(lambda f, z: jax.vmap(f)(z))


def ev(field, z):
    return np.asarray(_EV(field, jnp.asarray(z)))


def eigs(field):
    return sort_ev(np.linalg.eigvals(jac(field)))


def sort_ev(ev):
    ev = np.asarray(ev, dtype=complex)
    return ev[np.lexsort((ev.imag, ev.real))]


def quadratic_roots(b, c):
    """Roots of λ² + bλ + c (complex-safe), sorted like `analyze`."""
    d = np.sqrt(complex(b * b - 4 * c))
    return sort_ev([(-b - d) / 2, (-b + d) / 2])


# ----------------------------------------------------------------------------- the games


@pytest.mark.parametrize("f_name, fprime", [("logistic", lambda t: 1 / (1 + np.exp(t))), ("wasserstein", lambda t: 1.0 + 0 * t)])
def test_dirac_gan_velocity_closed_form(f_name, fprime):
    """Mescheder et al. 2018 (the Dirac-GAN, Sec. 2): with L(θ, ψ) = f(ψθ) + f(0), the discriminator ascends L and the
    generator descends it, so v = (-∂L/∂θ, ∂L/∂ψ) = (-f'(θψ)ψ, f'(θψ)θ). For the non-saturating
    generator, which ascends f(-ψθ): v_θ = ∂/∂θ f(-ψθ) = -f'(-θψ)ψ; v_ψ unchanged."""
    rng = np.random.default_rng(0)
    z = rng.uniform(-2, 2, size=(16, 2)).astype(np.float32)
    th, ps = z[:, 0].astype(np.float64), z[:, 1].astype(np.float64)
    v = np.asarray(_VEV(F.dirac_gan(f_name), jnp.asarray(z)))
    np.testing.assert_allclose(v, np.stack([-fprime(th * ps) * ps, fprime(th * ps) * th], -1), atol=1e-5)
    vns = np.asarray(_VEV(F.dirac_gan(f_name, "non_saturating"), jnp.asarray(z)))
    np.testing.assert_allclose(vns, np.stack([-fprime(-th * ps) * ps, fprime(th * ps) * th], -1), atol=1e-5)


def test_dirac_gan_custom_f_and_structure():
    """A user f(t) = -t²/2 + 2t has f'(t) = 2 - t, so v(θ, ψ) = (-(2 - θψ)ψ, (2 - θψ)θ) and the Jacobian at
    0 is [[0, -2], [2, 0]] (eigenvalues ±2i)."""
    def f(t):
        return -0.5 * t * t + 2.0 * t

    field = F.dirac_gan(f)
    np.testing.assert_allclose(ev(field, [0.5, 1.5]), [-(2 - 0.75) * 1.5, (2 - 0.75) * 0.5], rtol=1e-6)
    np.testing.assert_allclose(jac(field), [[0, -2], [2, 0]], atol=1e-6)
    assert DG.players == ((1,), (0,))  # the discriminator moves first in alternating updates
    assert DG.labels == ("theta", "psi") and np.all(np.asarray(DG.rest_point) == 0)
    assert isinstance(DG.get_meta("gan"), F.GANSpec)
    assert BL.get_meta("gan") is None and BL.players == ((1,), (0,))


@pytest.mark.parametrize("field, a", [(DG, HALF), (DW, 1.0), (F.dirac_gan("logistic", "non_saturating"), HALF)])
def test_dirac_gan_jacobian_is_a_centre(field, a):
    """Mescheder et al. 2018 (Dirac-GAN): the Jacobian at 0 is [[0, -f'(0)], [f'(0), 0]], eigenvalues ±f'(0)i
    (the non-saturating generator has the same Jacobian at 0)."""
    rep = jaxgan.analyze(field)
    np.testing.assert_allclose(rep.jacobian, [[0, -a], [a, 0]], atol=1e-6)
    np.testing.assert_allclose(rep.eigenvalues, [-a * 1j, a * 1j], atol=1e-6)
    assert rep.kind == "centre" and not rep.stable


def test_dirac_gan_continuous_flow_keeps_the_radius():
    """d/dt (θ² + ψ²) = 2θ(-f'(θψ)ψ) + 2ψ(f'(θψ)θ) = 0: the continuous flow stays on circles (Mescheder et
    al. 2018). RK4 with a small step keeps the radius to O(h⁴); Euler instead spirals out."""
    for field in (DG, DW):
        path = np.asarray(jaxgan.simulate(field, [1.0, 0.5], steps=400, lr=0.05, method="rk4", save_every=4))
        r2 = np.sum(path**2, axis=1)
        np.testing.assert_allclose(r2, 1.25, rtol=2e-5)
        assert abs(np.unwrap(np.arctan2(path[:, 1], path[:, 0]))[-1] - np.arctan2(0.5, 1.0)) > 1.0  # it turns
    chk = jaxgan.lyapunov.check(DG, jaxgan.lyapunov.distance_squared(DG), [-2, -2], [2, 2], n=21)
    assert chk.holds and chk.fraction_strict == 0.0  # dV/dt ≡ 0: conserved, never strictly decreasing


def test_simultaneous_gd_on_dirac_gan_never_stable():
    """Simultaneous GD maps a perturbation by I + hJ with eigenvalues 1 ± h f'(0) i, so the spectral radius is
    √(1 + h² f'(0)²) > 1 for every h > 0 (Mescheder et al. 2018, simultaneous GD); alternating GD gives
    det = 1 and trace 2 - h²f'(0)², so radius 1 while h f'(0) ≤ 2 (alternating GD: not convergent either)."""
    for field, a in ((DG, HALF), (DW, 1.0)):
        for h in (0.01, 0.1, 0.5, 1.0, 3.0):
            assert jaxgan.step_spectral_radius(field, method="euler", lr=h) == pytest.approx(math.sqrt(1 + h * h * a * a), rel=1e-6)
        for h in (0.1, 1.0, 1.9 / a):
            assert jaxgan.step_spectral_radius(field, method="alternating", lr=h) == pytest.approx(1.0, abs=2e-6)
        assert jaxgan.max_stable_lr(field, method="euler") == 0.0


# ----------------------------------------------------------------------------- regularisers


@pytest.mark.parametrize("reg", [F.r1, F.r2])
@pytest.mark.parametrize("base, a", [(DG, HALF), (DW, 1.0)])
def test_gradient_penalty_eigenvalues(reg, base, a):
    """Mescheder et al. 2018 (R1/R2, Sec. 4, Theorem 4.1): on the Dirac-GAN ∇ₓD_ψ = ψ, so R1 = R2 = (γ/2)ψ² and
    v_ψ gains -γψ. The Jacobian [[0, -a], [a, -γ]] has λ² + γλ + a² = 0, λ = -γ/2 ± √(γ²/4 - a²): a double
    eigenvalue -a at γ = 2a, a stable focus below and a stable node above."""
    for gamma in (0.1, 0.3, 2 * a, 3.0):
        field = reg(base, gamma)
        np.testing.assert_allclose(jac(field), [[0, -a], [a, -gamma]], atol=1e-6)
        tol = 2e-3 if gamma == 2 * a else 1e-5  # a double eigenvalue is sensitive at √eps
        np.testing.assert_allclose(eigs(field), quadratic_roots(gamma, a * a), atol=tol)
    assert jaxgan.analyze(reg(base, 0.1)).kind == "stable focus"
    assert jaxgan.analyze(reg(base, 3.0)).kind == "stable node"


def test_r1_double_eigenvalue_float64(x64):
    """At γ = 2f'(0) = 1 (logistic) the eigenvalues coincide at -γ/2 = -1/2; in float64 to √eps."""
    rep = jaxgan.analyze(F.r1(F.dirac_gan(), 1.0))
    assert rep.jacobian.dtype == np.float64 and rep.point.dtype == np.float64
    np.testing.assert_allclose(rep.eigenvalues, [-0.5, -0.5], atol=1e-7)
    ev = eigs(F.r1(F.dirac_gan(), 0.3))
    np.testing.assert_allclose(sort_ev(ev), quadratic_roots(0.3, 0.25), atol=1e-12)


def test_consensus_eigenvalues():
    """Mescheder et al. 2017 (consensus optimisation): v - γ∇(½‖v‖²) = v - γJᵀv; at the rest point (v = 0) the
    Jacobian is J - γJᵀJ. For the Dirac-GAN JᵀJ = a²I, so the eigenvalues are -γa² ± a i."""
    for base, a in ((DG, HALF), (DW, 1.0)):
        for gamma in (0.2, 1.0, 3.0):
            np.testing.assert_allclose(sort_ev(eigs(F.consensus(base, gamma))),
                                       [-gamma * a * a - a * 1j, -gamma * a * a + a * 1j], atol=1e-5)


def test_sga_eigenvalues():
    """Balduzzi et al. 2018 (SGA): ξ_λ = ξ + λAᵀξ, A = ½(H - Hᵀ), H = ∂ξ/∂z. With ξ = -v and J = ∂v/∂z
    antisymmetric at the rest point (Dirac-GAN, bilinear), H = -J, A = -J, Aᵀ = J, so the velocity
    -ξ_λ = v + λJv has Jacobian J + λJ² = J - λa²I: eigenvalues -λa² ± a i (bilinear: a = 1)."""
    for base, a in ((DG, HALF), (DW, 1.0), (BL, 1.0)):
        for lam in (0.5, 1.0):
            np.testing.assert_allclose(sort_ev(eigs(F.sga(base, lam))),
                                       [-lam * a * a - a * 1j, -lam * a * a + a * 1j], atol=1e-5)
    # SGA is not consensus away from the rest point: it adds the antisymmetric part only.
    z = jnp.array([0.7, -1.2])
    assert not np.allclose(ev(F.sga(DG, 1.0), z), ev(F.consensus(DG, 1.0), z), atol=1e-3)


def test_sga_sign_alignment_against_an_explicit_jacobian(x64):
    """The alignment rule of Balduzzi et al. 2018 (Algorithm 1): λ·sign(⟨ξ,∇ℋ⟩⟨Aᵀξ,∇ℋ⟩/n + ε), computed
    here from the explicit Jacobian (jax.jacfwd) in NumPy, against the JVP/VJP implementation."""
    aligned = F.sga(DG, 1.0, align=True)
    assert aligned.name == "sga(dirac_gan, aligned)"
    # near the rest point the sign is + and the linearisation is that of plain SGA
    np.testing.assert_allclose(sort_ev(eigs(aligned)), sort_ev(eigs(F.sga(DG, 1.0))), atol=1e-10)
    flipped = 0
    zs = jnp.array([[-0.36559075, 2.971799], [0.7, -1.2], [2.0, 0.5], [-1.5, -2.5]])
    # the four points in one compiled program: the base field, its Jacobian, aligned and plain SGA
    at = jax.jit(lambda fs, zs: jax.vmap(lambda z: (fs[0](z), jax.jacfwd(fs[0])(z), fs[1](z), fs[2](z)))(zs))
    vs, Js, got_aligned, got_plain = (np.asarray(a) for a in at((DG, aligned, F.sga(DG, 1.0)), zs))
    for v, J, got_a, got_p in zip(vs, Js, got_aligned, got_plain):
        xi, H = -v, -J                      # the paper's variables: loss gradients and their Jacobian
        At_xi = 0.5 * (H.T - H) @ xi
        grad_ham = H.T @ xi
        sign = np.sign(xi @ grad_ham * (At_xi @ grad_ham) / 2 + 0.1)
        flipped += sign < 0
        np.testing.assert_allclose(got_a, -(xi + sign * At_xi), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got_p, -(xi + At_xi), rtol=1e-10, atol=1e-12)
    assert flipped == 1  # the first point is one where alignment reverses the adjustment
    with pytest.raises(ArgumentTypeError, match=r"sga argument `align` must be True or False"):
        F.sga(DG, 1.0, align="yes")
    with pytest.raises(ArgumentError, match=r"sga argument `eps` must be positive"):
        F.sga(DG, 1.0, align=True, eps=0.0)


def test_instance_noise_eigenvalues():
    """Mescheder et al. 2018 (instance noise): with noise N(0, σ²) on real and fake samples, L = E f(ψ(θ + ε₁)) +
    E f(-ψε₂), so ∂²L/∂ψ² at 0 is 2f''(0)σ² and the Jacobian is [[0, -a], [a, 2f''(0)σ²]]: eigenvalues
    f''(0)σ² ± √(f''(0)²σ⁴ - a²). Logistic: f''(0) = -1/4 (convergent); Wasserstein: f'' = 0 (centre)."""
    for sigma in (0.5, 1.0, 2.5):
        c = -0.25 * sigma**2
        np.testing.assert_allclose(sort_ev(eigs(F.instance_noise(DG, sigma))), quadratic_roots(-2 * c, 0.25), atol=1e-5)
    np.testing.assert_allclose(sort_ev(eigs(F.instance_noise(DW, 1.0))), [-1j, 1j], atol=1e-5)
    # σ = 0 is the unregularised field, everywhere.
    z = jnp.array([0.4, -0.9])
    np.testing.assert_allclose(ev(F.instance_noise(DG, 0.0), z), ev(DG, z), atol=1e-6)


def test_instance_noise_velocity_cross_check():
    """Independent check of the Gauss–Hermite expectation: Monte-Carlo of the closed-form noisy velocity
    v_θ = -E f'(ψ(θ+ε₁))ψ, v_ψ = E f'(ψ(θ+ε₁))(θ+ε₁) - E f'(-ψε₂)ε₂ (logistic f' = 1/(1+eᵗ))."""
    th, ps, s = 0.8, -1.1, 0.6
    eps = np.random.default_rng(1).normal(size=400_000) * s
    fp = lambda t: 1 / (1 + np.exp(t))  # noqa: E731
    vt = -np.mean(fp(ps * (th + eps))) * ps
    vp = np.mean(fp(ps * (th + eps)) * (th + eps)) - np.mean(fp(-ps * eps) * eps)
    got = ev(F.instance_noise(DG, s), [th, ps])
    np.testing.assert_allclose(got, [vt, vp], atol=4e-3)


def test_wgan_gp_on_dirac_gan():
    """Gulrajani et al. 2017, eq. 3: λE(‖∇ₓD(x̂)‖ - 1)² with ∇ₓD_ψ = ψ is λ(|ψ| - 1)², so the Wasserstein
    Dirac-GAN becomes v = (-ψ, θ - 2λ(|ψ| - 1)sign ψ). Mescheder et al. 2018: not convergent. Each half
    plane is linear: for ψ > 0, v = (-ψ, θ + 2λ(1 - ψ)) with equilibrium (-2λ, 0) on the boundary and
    eigenvalues -λ ± √(λ² - 1). For λ ≥ 1 (a node) a run from (1, 1) stalls at (-2λ, 0⁺), not at 0; for
    λ < 1 (a focus) it crosses into ψ < 0, whose branch pulls towards (2λ, 0): it keeps oscillating."""
    lam = 0.7
    field = F.wgan_gp(DW, lam)
    for th, ps in ((0.3, 1.5), (-1.0, -0.4), (2.0, 0.2)):
        expect = [-ps, th - 2 * lam * (abs(ps) - 1) * np.sign(ps)]
        np.testing.assert_allclose(ev(field, [th, ps]), expect, atol=1e-5)
    np.testing.assert_allclose(ev(field, ZERO), [0, 0], atol=1e-7)  # subgradient 0 at ψ = 0
    path = np.asarray(jaxgan.simulate(field, [1.0, 1.0], steps=4000, lr=0.05, save_every=10))
    d = np.linalg.norm(path[-100:], axis=1)
    assert d.min() > 1.0 and d.max() - d.min() > 0.1  # oscillating, far from the rest point
    end = np.asarray(jaxgan.simulate(field.replace(gp_lambda=1.0), [1.0, 1.0], steps=4000, lr=0.05)[-1])
    np.testing.assert_allclose(end, [-2.0, 0.0], atol=1e-3)
    assert end[1] > 0


def test_composability():
    """consensus(r1(g, γ), γ₂): the rest point Jacobian is J - γ₂JᵀJ with J = [[0, -a], [a, -γ]]
    (Mescheder 2017 applied to the R1 field); r1 twice adds the weights (R1 is linear in γ)."""
    g1, g2 = 0.3, 0.8
    J = np.array([[0, -HALF], [HALF, -g1]])
    expect = sort_ev(np.linalg.eigvals(J - g2 * J.T @ J))
    field = F.consensus(F.r1(DG, g1), g2)
    assert set(field.params) == {"r1_gamma", "consensus_gamma"}
    np.testing.assert_allclose(sort_ev(eigs(field)), expect, atol=1e-5)
    twice = F.r1(F.r1(DG, 0.2), 0.5)
    assert set(twice.params) == {"r1_gamma", "r1_gamma_2"}
    np.testing.assert_allclose(sort_ev(eigs(twice)), quadratic_roots(0.7, 0.25), atol=1e-5)
    # Noise on a penalised field: both terms add to the ψ-diagonal: [[0, -a], [a, -γ + 2f''(0)σ²]].
    both = F.instance_noise(F.r1(DG, 0.2), 1.0)
    np.testing.assert_allclose(jac(both), [[0, -HALF], [HALF, -0.2 - 0.5]], atol=1e-5)
    assert "gan" in dict(F.sga(both, 1.0).meta)  # gradient penalties still apply after consensus / SGA
    F.r1(F.consensus(DG, 1.0), 0.1)


def test_weights_are_traced_parameters():
    """A new weight is a new leaf value, not a new field kind: no recompilation, and the weight can be vmapped."""
    a, b = F.r1(DG, 0.3), F.r1(DG, 0.7)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    np.testing.assert_allclose(sort_ev(eigs(a.replace(r1_gamma=0.7))), sort_ev(eigs(b)), atol=1e-6)
    from jaxgan.dynamics.simulate import _simulate_jit

    jaxgan.simulate(F.consensus(DG, 0.5), [1.0, 1.0], steps=10, lr=0.1)
    before = _simulate_jit._cache_size()
    for g in (0.1, 2.0):
        jaxgan.simulate(F.consensus(DG, g), [1.0, 1.0], steps=10, lr=0.1)
    assert _simulate_jit._cache_size() == before
    gammas = jnp.array([0.5, 1.0, 2.0])
    jacs = jax.jit(jax.vmap(lambda g: jax.jacfwd(F.consensus(DG, g))(ZERO)))(gammas)
    np.testing.assert_allclose(np.asarray(jacs[:, 0, 0]), -np.asarray(gammas) * 0.25, atol=1e-6)


def test_compositions_share_compiled_code():
    """Composition as data: a weight is a leaf and everything else static data compared by value, so a
    new weight, a replaced weight or the same composition rebuilt from scratch does not recompile;
    another static part (here `n_nodes`) is another kind of field and does."""
    ev = jax.jit(lambda f, z: f(z))
    z = jnp.array([0.7, -1.2])
    builds = [
        lambda w: F.consensus(F.r1(F.dirac_gan(), w), 1.0),
        lambda w: F.sga(F.instance_noise(F.r2(F.dirac_gan(), 0.1), w, n_nodes=4), 0.5, align=True),
        lambda w: F.wgan_gp(F.dirac_gan(), w),
    ]
    for k, build in enumerate(builds, start=1):
        first = np.asarray(ev(build(0.3), z))
        assert ev._cache_size() == k
        second = np.asarray(ev(build(0.9), z))
        ev(build(0.3).replace(**{name: 2.0 for name in build(0.3).params}), z)
        assert ev._cache_size() == k
        assert not np.allclose(first, second)
    ev(F.sga(F.instance_noise(F.r2(F.dirac_gan(), 0.1), 0.3, n_nodes=5), 0.5, align=True), z)
    assert ev._cache_size() == len(builds) + 1


def test_replace_routes_to_layers_with_traced_and_batched_values():
    """`replace` sends a weight to the layer that owns it (names numbered from the innermost layer out) and
    anything else to the base; it accepts traced values (under jit) and batched leaves (under vmap), as
    the sweeps use it. Expectation from the R1 and consensus Jacobians of test_composability:
    J = [[0, -a], [a, -γ]] with γ the summed R1 weights, then J - c·JᵀJ."""
    f = F.consensus(F.r1(F.r1(DG, 0.2), 0.5), 1.0)
    assert list(f.params) == ["r1_gamma", "r1_gamma_2", "consensus_gamma"]
    g = f.replace(r1_gamma_2=0.1)
    assert isinstance(g, F.Consensus) and isinstance(g.base, F.GradientPenalty)
    assert float(g.base.weight) == pytest.approx(0.1) and float(g.base.base.weight) == pytest.approx(0.2)
    assert float(f.base.weight) == pytest.approx(0.5)  # the original is unchanged
    with pytest.raises(ArgumentError,
                       match=r"no parameter\(s\) \['gamma'\]; it has \['consensus_gamma', 'r1_gamma', 'r1_gamma_2'\]"):
        f.replace(gamma=1.0)

    def expect_j11(gamma, c):
        J = np.array([[0, -HALF], [HALF, -gamma]])
        return (J - c * J.T @ J)[1, 1]

    z = jnp.array([0.3, -0.4])
    traced = jax.jit(lambda ff, w: ff.replace(r1_gamma=w, consensus_gamma=2 * w)(z))(f, 0.4)
    np.testing.assert_allclose(traced, ev(F.consensus(F.r1(F.r1(DG, 0.4), 0.5), 0.8), z), rtol=1e-6)
    gammas = np.array([0.1, 0.5, 1.0], np.float32)
    batched = jax.tree_util.tree_map(lambda a: np.broadcast_to(np.asarray(a), (3,) + np.shape(a)), f)
    batched = batched.replace(r1_gamma=gammas)
    jacs = jax.jit(jax.vmap(lambda ff: jax.jacfwd(ff)(ZERO)))(batched)
    np.testing.assert_allclose(np.asarray(jacs[:, 1, 1]), [expect_j11(g + 0.5, 1.0) for g in (0.1, 0.5, 1.0)], atol=1e-6)


def test_regularised_fields_keep_the_field_conventions():
    """The dict view of a composition works like a plain Field's: `velocity(params, z)` evaluates it with other
    params, a plain Field built from `(velocity, params)` is the same field, and `meta["perturbed_velocity"]`
    (kept by penalties and noise) with zero shifts is the velocity."""
    both = F.instance_noise(F.r1(DG, 0.2), 1.0, n_nodes=6)
    z = jnp.array([0.8, -0.6])
    other = both.replace(noise_sigma=0.5)
    np.testing.assert_allclose(jax.jit(both.velocity)(other.params, z), ev(other, z), rtol=1e-6)
    plain = F.Field(both.velocity, both.params, rest_point=both.rest_point, labels=both.labels)
    np.testing.assert_allclose(ev(plain, z), ev(both, z), rtol=1e-6)
    zero = jnp.zeros(1)
    np.testing.assert_allclose(jax.jit(both.get_meta("perturbed_velocity"))(both.params, z, zero, zero), ev(both, z),
                               rtol=1e-6)
    assert both.name == "noise(R1(dirac_gan))" and both.labels == DG.labels and both.players == DG.players
    assert both.lower == DG.lower and both.closed == DG.closed and both.get_meta("kind") == "dirac_gan"
    assert "perturbed_velocity" not in dict(F.consensus(both, 1.0).meta)
    assert "r1_gamma=0.2" in repr(both)


def test_bad_input():
    with pytest.raises(ArgumentError, match=r"r1 argument `field` must supply the discriminator's x-dependence"):
        F.r1(BL, 1.0)
    for fn in (F.r2, F.wgan_gp):
        with pytest.raises(ArgumentError, match=r"argument `field` must supply"):
            fn(BL, 1.0)
    with pytest.raises(ArgumentError, match=r"instance_noise argument `field` must supply .*perturbed_velocity"):
        F.instance_noise(F.consensus(DG, 1.0), 0.5)
    with pytest.raises(ArgumentError, match=r"r1 argument `gamma` must be non-negative and finite; got -1"):
        F.r1(DG, -1.0)
    with pytest.raises(ArgumentError, match=r"consensus argument `gamma`.*got nan"):
        F.consensus(DG, float("nan"))
    with pytest.raises(ArgumentError, match=r"sga argument `lam`"):
        F.sga(DG, -0.1)
    with pytest.raises(ArgumentError, match=r"wgan_gp argument `lam`"):
        F.wgan_gp(DW, -2)
    with pytest.raises(ArgumentError, match=r"instance_noise argument `sigma`"):
        F.instance_noise(DG, -0.5)
    with pytest.raises(ArgumentError, match=r"argument `gamma` must be a scalar"):
        F.r2(DG, [1.0, 2.0])
    with pytest.raises(ArgumentTypeError, match=r"consensus argument `gamma` must be a non-negative number"):
        F.consensus(DG, "big")
    with pytest.raises(ArgumentTypeError, match=r"sga argument `field` must be a jaxgan Field"):
        F.sga(lambda z: z, 1.0)
    with pytest.raises(ArgumentError, match=r"dirac_gan argument `f` must be one of"):
        F.dirac_gan("hinge")
    with pytest.raises(ArgumentTypeError, match=r"dirac_gan argument `f`"):
        F.dirac_gan(3.0)
    with pytest.raises(ArgumentError, match=r"dirac_gan argument `f` must return a scalar"):
        F.dirac_gan(lambda t: jnp.stack([t, t]))
    with pytest.raises(ArgumentError, match=r"dirac_gan argument `generator`"):
        F.dirac_gan(generator="saturating")
    with pytest.raises(ArgumentError, match=r"instance_noise argument `n_nodes`"):
        F.instance_noise(DG, 1.0, n_nodes=0)
    with pytest.raises(ArgumentError, match=r"instance_noise argument `n_nodes` must be small enough .* at most 100000"):
        F.instance_noise(DG, 1.0, n_nodes=400)  # 400² > 10⁵ (data dimension 1)
    with pytest.raises(ArgumentTypeError, match=r"consensus argument `field` must have dict params"):
        F.consensus(jaxgan.Field(lambda p, z: -p[0] * z, (jnp.ones(()),), labels=("a", "b")), 1.0)
    # step sizes
    for lr in (0.0, -0.1, float("inf")):
        with pytest.raises(ValueError, match=r"step_spectral_radius argument `lr` must be a positive finite number"):
            jaxgan.step_spectral_radius(DG, method="euler", lr=lr)
    with pytest.raises(ValueError, match=r"`lr` is required"):
        jaxgan.step_spectral_radius(DG, method="alternating")
    with pytest.raises(ValueError, match=r"`lr` must be omitted"):
        jaxgan.step_spectral_radius(DG, method=optax.sgd(0.1), lr=0.1)
    with pytest.raises(ValueError, match=r"unknown method"):
        jaxgan.step_spectral_radius(DG, method="leapfrog", lr=0.1)
    # Adam's 1/√v is not differentiable at v = 0 (its state at the rest point): an error, not a NaN radius.
    with pytest.raises(ValueError, match=r"not finite: the update is not differentiable there"):
        jaxgan.step_spectral_radius(BL, method=optax.adam(0.01))


# ----------------------------------------------------------------------------- discrete time, bilinear game


def test_bilinear_closed_forms():
    """Gidel et al. 2019 (variational-inequality perspective; negative momentum), J = [[0, -1], [1, 0]]:
    simultaneous GD: I + ηJ, |1 ± ηi| = √(1 + η²);
    alternating GD: M = [[1, -η], [η, 1 - η²]] (either order), det 1, trace 2 - η²: radius 1 for η ≤ 2,
      else (|t| + √(t² - 4))/2 with t = 2 - η²;
    extragradient: I + ηJ(I + ηJ) = (1 - η²)I + ηJ, radius √((1 - η²)² + η²) = √(1 - η² + η⁴);
    optimistic GD z⁺ = z + 2ηJz - ηJz⁻: per eigenvalue μ = ±i of J, λ² - (1 + 2ημ)λ + ημ = 0."""
    for eta in (0.05, 0.3, 1.0, 1.9, 2.5):
        assert jaxgan.step_spectral_radius(BL, method="euler", lr=eta) == pytest.approx(math.sqrt(1 + eta**2), rel=1e-6)
        t = 2 - eta**2
        alt = 1.0 if eta <= 2 else (abs(t) + math.sqrt(t * t - 4)) / 2
        assert jaxgan.step_spectral_radius(BL, method="alternating", lr=eta) == pytest.approx(alt, abs=2e-6)
        assert jaxgan.step_spectral_radius(BL, method="extragradient", lr=eta) == pytest.approx(
            math.sqrt(1 - eta**2 + eta**4), rel=1e-6)
        og = max(abs(r) for mu in (1j, -1j) for r in np.roots([1, -(1 + 2 * eta * mu), eta * mu]))
        assert jaxgan.step_spectral_radius(BL, method="optimistic", lr=eta) == pytest.approx(og, rel=1e-5)
    # optimistic's state (the previous field value) is part of the Jacobian: 2 + 2 = 4.
    assert jaxgan.step_jacobian(BL, method="optimistic", lr=0.1).shape == (4, 4)
    # 1 - η² + η⁴ < 1 ⇔ η < 1: stable below, unstable above.
    rad = jaxgan.stability_region(BL, method="extragradient", lrs=[0.3, 0.99, 1.01, 1.5]).radius
    assert np.all((rad < 1) == np.array([True, True, False, False]))


def test_optax_matches_closed_forms():
    """optax.sgd(η) is simultaneous GD. With momentum β (m⁺ = g + βm, z⁺ = z - ηm⁺, g = -Jz):
    z⁺ = z + ηJz + β(z - z⁻), so per eigenvalue μ of J: λ² - (1 + β + ημ)λ + β = 0 (heavy ball; Gidel et
    al. 2019, negative momentum)."""
    eta = 0.3
    assert jaxgan.step_spectral_radius(BL, method=optax.sgd(eta)) == pytest.approx(math.sqrt(1 + eta**2), rel=1e-6)
    for beta in (-0.5, 0.5):
        expect = max(abs(r) for mu in (1j, -1j) for r in np.roots([1, -(1 + beta + eta * mu), beta]))
        assert jaxgan.step_spectral_radius(BL, method=optax.sgd(eta, momentum=beta)) == pytest.approx(expect, rel=1e-5)


def test_stability_region_matches_closed_form():
    """R1 Dirac-GAN (logistic), Euler: |1 + hλ| < 1 ⇔ h < -2Reλ/|λ|². For γ < 1, λ = -γ/2 ± i√(1/4 - γ²/4),
    |λ|² = 1/4, so h* = 4γ; for γ > 1 (real λ) h* = 2/|λ_min| = 2/(γ/2 + √(γ²/4 - 1/4))."""
    lrs = np.geomspace(0.02, 20, 400)
    gammas = np.array([0.1, 0.4, 0.8, 1.5, 3.0])
    reg = jaxgan.stability_region(F.r1(DG, 0.5), method="euler", lrs=lrs, param="r1_gamma", values=gammas)
    assert reg.radius.shape == (5, 400)
    expect = np.where(gammas < 1, 4 * gammas, 2 / (gammas / 2 + np.sqrt(np.maximum(gammas**2 / 4 - 0.25, 0))))
    got = reg.max_stable_lr()
    ratio = lrs[1] / lrs[0]
    assert np.all(got <= expect * (1 + 1e-6)) and np.all(got * ratio >= expect * (1 - 1e-6))
    # An Optimizer's hyper-parameter as the second axis: simultaneous heavy ball on the bilinear game is
    # never stable (Gidel et al. 2019, negative momentum).
    heavy_ball = jaxgan.Optimizer(optax.sgd, learning_rate=0.1, momentum=0.0)
    mom = jaxgan.stability_region(BL, method=heavy_ball, lrs=np.geomspace(0.01, 2, 20),
                                  param="momentum", values=np.linspace(-0.9, 0.9, 7))
    assert mom.radius.shape == (7, 20) and np.all(mom.radius > 1 - 1e-6)
    eta, beta = mom.lrs[5], mom.values[2]
    expect = max(abs(r) for mu in (1j, -1j) for r in np.roots([1, -(1 + beta + eta * mu), beta]))
    assert mom.radius[2, 5] == pytest.approx(expect, rel=1e-5)
    one_d = jaxgan.stability_region(BL, method="extragradient", lrs=[0.5, 0.99, 1.01])
    np.testing.assert_allclose(one_d.radius, np.sqrt(1 - one_d.lrs**2 + one_d.lrs**4), rtol=1e-6)
    with pytest.raises(ValueError, match=r"`lrs` must hold finite positive numbers"):
        jaxgan.stability_region(BL, method="euler", lrs=[0.1, -1.0])
    with pytest.raises(ValueError, match=r"`param` must name a parameter"):
        jaxgan.stability_region(DG, method="euler", lrs=[0.1], param="gamma", values=[1.0])
    with pytest.raises(ValueError, match=r"`param` and `values` go together"):
        jaxgan.stability_region(DG, method="euler", lrs=[0.1], values=[1.0])
    with pytest.raises(TypeError, match=r"must be an update rule.*jaxgan.Optimizer"):  # the old factory form
        jaxgan.stability_region(BL, method=lambda lr, b: optax.sgd(lr, momentum=b), lrs=[0.1],
                                param="momentum", values=[0.5])
    with pytest.raises(TypeError, match=r"update rule is a keyword argument"):  # the old positional form
        jaxgan.step_spectral_radius(BL, "euler")


# ----------------------------------------------------------------------------- table and CLI


def test_classify_path():
    t = np.linspace(0, 40 * np.pi, 800)
    circle = np.stack([np.cos(t), np.sin(t)], -1)
    assert jaxgan.tables.classify_path(circle, [0, 0]) == Fate.CYCLING
    assert jaxgan.tables.classify_path(circle * np.exp(-t / 5)[:, None], [0, 0]) == Fate.CONVERGED
    assert jaxgan.tables.classify_path(circle * np.exp(t / 100)[:, None], [0, 0]) == Fate.DIVERGED
    assert jaxgan.tables.classify_path(circle * np.exp(-t / 200)[:, None], [0, 0]) == Fate.UNDECIDED
    line = np.stack([np.linspace(1, 2, 50), np.zeros(50)], -1)  # moving away, no winding, within `bound`
    assert jaxgan.tables.classify_path(line, [0, 0]) == Fate.UNDECIDED
    far = jaxgan.tables.CONVERGENCE_RULE._replace(bound=1.5)  # the same rule with a bound it crosses
    assert jaxgan.tables.classify_path(line, [0, 0], rule=far) == Fate.DIVERGED
    stalled = np.stack([np.minimum(np.linspace(1, 4, 50), 2.0), np.zeros(50)], -1)  # stopped at distance 2
    assert jaxgan.tables.classify_path(stalled, [0, 0]) == Fate.UNDECIDED
    assert jaxgan.tables.classify_path(line, [0, 0], fate=Fate.LEFT_DOMAIN) == Fate.LEFT_DOMAIN


def test_convergence_table_verdicts():
    """The literature's verdicts: bilinear — simultaneous GD diverges, alternating cycles, extragradient
    converges (Gidel et al. 2019); R1 Dirac-GAN (γ = 0.3) converges for all three, with simultaneous-GD
    step limit 4γ = 1.2 (see test_stability_region_matches_closed_form)."""
    T = jaxgan.tables
    cases = {(c.game, c.regulariser): c for c in T.default_convergence_cases()}
    rows = T.convergence_table([cases["bilinear", "none"]], ("euler", "alternating", "extragradient"), lr=0.1,
                               steps=3000)
    rows += T.convergence_table([cases["dirac_gan", "r1(0.3)"]], ("alternating",), lr=0.1, steps=3000)
    got = {(r.game, r.method): r for r in rows}
    assert got["bilinear", "euler"].fate == Fate.DIVERGED
    assert got["bilinear", "alternating"].fate == Fate.CYCLING
    assert got["bilinear", "extragradient"].fate == Fate.CONVERGED
    assert got["bilinear", "euler"].radius == pytest.approx(math.sqrt(1.01), rel=1e-6)
    assert got["bilinear", "euler"].lr_max_euler == 0.0 and got["bilinear", "euler"].kind == "centre"
    r = got["dirac_gan", "alternating"]
    assert r.fate == Fate.CONVERGED and r.stable and r.distance < 1e-3
    assert r.lr_max_euler == pytest.approx(1.2, rel=1e-5)
    text = T.format_convergence_table(rows)
    assert "bilinear" in text and "diverged" in text and "cycling" in text
    with pytest.raises(ValueError, match=r"`lr`"):
        T.convergence_table(list(cases.values()), lr=-1.0)
    with pytest.raises(ValueError, match=r"unknown method"):
        T.convergence_table(list(cases.values()), ("euler", "nope"))


def test_cli_table_convergence(capsys):
    from jaxgan.cli import main

    assert main(["table", "convergence", "--game", "bilinear", "--regulariser", "none", "--method", "euler",
                 "--steps", "400"]) == 0
    out = capsys.readouterr().out
    assert "bilinear" in out and "euler" in out and "1.0050" in out
    assert main(["table", "convergence", "--game", "nope"]) == 2
    assert "--game must be one of" in capsys.readouterr().err

