"""Lyapunov checks: the continuous Lyapunov equation, dV/dt on a grid, and the article's certificate."""

import numpy as np
import pytest

import jaxgan
from jaxgan import fields as F
from jaxgan import lyapunov as L


def _random_hurwitz(rng, n):
    m = rng.normal(size=(n, n))
    shift = np.max(np.linalg.eigvals(m).real) + 0.5
    return m - shift * np.eye(n)


def test_solve_lyapunov_residual_and_scipy():
    """AᵀP + PA = -Q: the residual vanishes (independent of any library), P is symmetric positive definite
    for Hurwitz A and Q ≻ 0 (Lyapunov's theorem), and P agrees with scipy's Bartels–Stewart solver
    (scipy solves AX + XAᴴ = Q, so X = P for A → Aᵀ, Q → -Q)."""
    rng = np.random.default_rng(0)
    for n in (2, 3, 4):
        a = _random_hurwitz(rng, n)
        b = rng.normal(size=(n, n))
        q = b @ b.T + np.eye(n)
        p = np.asarray(L.solve_lyapunov(a, q), dtype=np.float64)
        res = a.T @ p + p @ a + q
        assert np.max(np.abs(res)) < 2e-3 * np.max(np.abs(q)) * max(1, np.max(np.abs(p)))
        np.testing.assert_allclose(p, p.T, atol=1e-6)
        assert np.min(np.linalg.eigvalsh(p)) > 0
        scipy_linalg = pytest.importorskip("scipy.linalg")
        ref = scipy_linalg.solve_continuous_lyapunov(a.T, -q)
        np.testing.assert_allclose(p, ref, rtol=2e-3, atol=2e-4 * np.max(np.abs(ref)))


def test_solve_lyapunov_float64(x64):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a = _random_hurwitz(rng, 3)
    q = np.eye(3)
    p = np.asarray(L.solve_lyapunov(a, q))
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, scipy_linalg.solve_continuous_lyapunov(a.T, -q), rtol=1e-10, atol=1e-12)


def test_solve_lyapunov_errors():
    with pytest.raises(ValueError, match=r"`a` must be a square matrix"):
        L.solve_lyapunov(np.ones((2, 3)), np.eye(2))
    with pytest.raises(ValueError, match=r"`q` must be a matrix of shape \(2, 2\)"):
        L.solve_lyapunov(-np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match=r"no unique solution"):  # a centre: λ₁ + λ₂ = i - i = 0
        L.solve_lyapunov([[0.0, -1.0], [1.0, 0.0]], np.eye(2))


def test_quadratic_closed_form_for_the_quadratic_gan():
    """Quadratic GAN (f1 = -D²/2, f2 = D, f3 = -D): A = [[-pd, 1], [-1, 0]]. With Q = I, AᵀP + PA = -I reads
    (2,2): 2p₁₂ = -1; (1,1): -2pd·p₁₁ - 2p₁₂ = -1; (1,2): p₁₁ - pd·p₁₂ - p₂₂ = 0, so
    P = [[1/pd, -1/2], [-1/2, 1/pd + pd/2]]."""
    for pd in (0.5, 2.0):
        V = L.quadratic(jaxgan.pointwise_field("quadratic", pd))
        np.testing.assert_allclose(np.asarray(V.p), [[1 / pd, -0.5], [-0.5, 1 / pd + pd / 2]], rtol=1e-5)
        assert V.positive_definite
        np.testing.assert_allclose(np.asarray(V.center), [1.0, pd], atol=1e-7)
        d = np.array([0.3, -0.2])
        assert float(V(np.asarray(V.center) + d)) == pytest.approx(d @ np.asarray(V.p) @ d, rel=1e-5)


def test_quadratic_errors():
    with pytest.raises(ValueError, match=r"not Hurwitz"):
        L.quadratic(F.dirac_gan())  # a centre: no strict quadratic certificate
    with pytest.raises(ValueError, match=r"`q` must be symmetric positive definite"):
        L.quadratic(F.r1(F.dirac_gan(), 0.5), q=[[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"`q` must be a matrix of shape \(2, 2\)"):
        L.quadratic(F.r1(F.dirac_gan(), 0.5), q=np.eye(3))
    with pytest.raises(ValueError, match=r"no known rest point"):
        L.quadratic(jaxgan.Field(lambda p, z: -z, labels=("a", "b")))


def test_article_quadratic_gan_certificate():
    """The article: V = distance² to the rest point certifies its quadratic GAN globally. With u = D - 1,
    w = pg - pd: dD/dt = pd(-D) + pg = -pd·u + w and dpg/dt = -D + 1 = -u, so
    dV/dt = 2u(-pd·u + w) - 2wu = -2pd·u² ≤ 0 everywhere — but = 0 on the whole line D = 1, so the
    certificate is global and non-strict (asymptotic stability then follows from LaSalle)."""
    pd = 0.5
    f = jaxgan.pointwise_field("quadratic", pd)
    chk = L.check(f, L.distance_squared(f), [-10.0, 0.0], [10.0, 20.0], n=101)
    assert chk.holds and chk.fraction == 1.0
    assert not chk.strict and 0.98 < chk.fraction_strict < 1.0  # the grid column D = 1 (x = 0.2·55 - 10 = 1)
    u = chk.points[:, 0] - 1.0
    np.testing.assert_allclose(chk.dvdt, -2 * pd * u**2, atol=1e-5 * np.max(2 * pd * u**2))
    on_line = np.isclose(chk.points[:, 0], 1.0)
    assert np.all(~chk.passed | on_line | (chk.dvdt < 0)) and np.all(chk.dvdt[on_line] == pytest.approx(0, abs=1e-5))
    assert chk.worst_value == pytest.approx(0.0, abs=1e-5) and chk.worst_point[0] == pytest.approx(1.0)



def test_article_claim_needs_the_domain_caveat():
    """What the certificate does and does not give. On ℝ² (the field without the constraint pg ≥ 0),
    LaSalle gives global convergence: a far start reaches (1, pd). But pg is a density: V only bounds a
    trajectory by its start's distance, so the sublevel sets of V that stay in pg ≥ 0 are the discs of
    radius ≤ pd about (1, pd) — starts there converge without leaving the domain; a start farther out,
    e.g. (3, 2), crosses pg = 0 (dpg/dt = 1 - D < 0 while D > 1) and the run stops there."""
    pd = 0.5
    f = jaxgan.pointwise_field("quadratic", pd)
    free = jaxgan.Field(f.velocity, f.params, rest_point=[1.0, pd], labels=f.labels)
    end = np.asarray(jaxgan.simulate(free, [-6.0, 15.0], steps=3000, lr=0.02, method="rk4")[-1])
    np.testing.assert_allclose(end, [1.0, pd], atol=1e-3)
    for ang in np.linspace(0, 2 * np.pi, 5)[:-1]:
        z0 = [1.0 + 0.99 * pd * np.cos(ang), pd + 0.99 * pd * np.sin(ang)]
        run = jaxgan.simulate(f, z0, steps=3000, lr=0.02, method="rk4")
        assert run.fate == jaxgan.Fate.UNDECIDED  # never refused a step: stayed in pg ≥ 0
        np.testing.assert_allclose(np.asarray(run.final), [1.0, pd], atol=1e-3)
    info = jaxgan.simulate(f, [3.0, 2.0], steps=3000, lr=0.02, method="rk4", warn=False)
    assert info.fate == jaxgan.Fate.LEFT_DOMAIN


def test_check_reports_failures_and_the_worst_point():
    """V = -‖z - z*‖² on the quadratic GAN: dV/dt = +2pd·u² ≥ 0, largest where |u| = |D - 1| is largest:
    at D = -4 on the box D ∈ [-4, 4] (|u| = 5)."""
    pd = 1.0
    f = jaxgan.pointwise_field("quadratic", pd)
    d2 = L.distance_squared(f)
    chk = L.check(f, lambda z: -d2(z), [-4.0, 0.0], [4.0, 3.0], n=41)
    assert not chk.holds and chk.fraction < 0.1
    assert chk.worst_point[0] == pytest.approx(-4.0) and chk.worst_value == pytest.approx(2 * pd * 25, rel=1e-5)
    assert "dV/dt > 0 somewhere" in str(chk) and chk.as_dict()["holds"] is False


def test_exclusion_ball_and_centre():
    """The excluded ball drops exactly the grid points within its radius of the rest point (counted here
    independently); on a centre (Wasserstein pointwise field, dV/dt ≡ 0 for V = distance²) every point passes
    `≤ 0` but none strictly."""
    f = jaxgan.pointwise_field("wasserstein", 1.0)
    lo, hi, n, r = np.array([-1.0, 0.0]), np.array([1.0, 2.0]), 21, 0.25
    chk = L.check(f, L.distance_squared(f), lo, hi, n=n, exclude_radius=r)
    g = np.stack(np.meshgrid(np.linspace(-1, 1, n), np.linspace(0, 2, n), indexing="ij"), -1).reshape(-1, 2)
    assert chk.n_excluded == int(np.sum(np.linalg.norm(g - [0.0, 1.0], axis=1) <= r))
    assert chk.holds and chk.fraction_strict == 0.0
    none = L.check(f, L.distance_squared(f), lo, hi, n=n, exclude_radius=0.0)
    assert none.n_excluded == 0 and len(none.dvdt) == n * n


def test_quadratic_v_certifies_locally():
    """V from the linearisation: dV/dt = -(z - z*)ᵀQ(z - z*) + O(‖z - z*‖³), so near the rest point of the R1
    Dirac-GAN dV/dt ≈ -‖z‖² (Q = I) and the check holds strictly on a small box."""
    f = F.r1(F.dirac_gan(), 0.5)
    V = L.quadratic(f)
    chk = L.check(f, V, [-0.05, -0.05], [0.05, 0.05], n=21)
    assert chk.strict
    r2 = np.sum(chk.points**2, axis=1)
    np.testing.assert_allclose(chk.dvdt, -r2, rtol=0.1, atol=1e-7)


def test_check_bad_input():
    f = jaxgan.pointwise_field("quadratic", 0.5)
    with pytest.raises(ValueError, match=r"`V` must return a scalar"):
        L.check(f, lambda z: z * 2.0, [0, 0], [1, 1])
    with pytest.raises(TypeError, match=r"`V` must be callable"):
        L.check(f, 3.0, [0, 0], [1, 1])
    with pytest.raises(TypeError, match=r"`V` must map a state"):
        L.check(f, lambda z: z[5] + undefined_name, [0, 0], [1, 1])  # noqa: F821
    with pytest.raises(ValueError, match=r"`lower` must have shape \(2,\)"):
        L.check(f, L.distance_squared(f), [0, 0, 0], [1, 1])
    with pytest.raises(ValueError, match=r"`lower` < `upper`"):
        L.check(f, L.distance_squared(f), [1, 0], [0, 1])
    with pytest.raises(ValueError, match=r"`n` must be an integer ≥ 2"):
        L.check(f, L.distance_squared(f), [0, 0], [1, 1], n=1)
    with pytest.raises(ValueError, match=r"`exclude_radius`"):
        L.check(f, L.distance_squared(f), [0, 0], [1, 1], exclude_radius=-1.0)
    with pytest.raises(ValueError, match=r"no grid point left"):
        L.check(f, L.distance_squared(f), [0.9, 0.4], [1.1, 0.6], n=3, exclude_radius=1.0)
