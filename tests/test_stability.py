"""Stability: continuous-time reports and discrete-time step limits, against closed forms."""

import math

import numpy as np
import pytest

import jaxgan
from jaxgan.stability import classify


def test_report_fields():
    rep = jaxgan.analyze(jaxgan.pointwise_field("minimax", 0.2))
    np.testing.assert_allclose(rep.jacobian, [[-1.6, -2.0], [2.0, 0.0]], atol=1e-5)
    np.testing.assert_allclose(rep.point, [0.5, 0.2], atol=1e-7)
    assert rep.kind == "stable focus" and rep.stable
    d = rep.as_dict()
    assert d["eigenvalues"][0] == pytest.approx([-0.8, -math.sqrt(4 - 0.64)], abs=1e-5)
    assert "stable focus" in str(rep)


def test_analyze_at_a_given_point():
    f = jaxgan.pointwise_field("quadratic", 0.5)
    rep = jaxgan.analyze(f, z=[2.0, 1.0])
    # The quadratic field is linear: J = [[-pd, 1], [-1, 0]] everywhere.
    np.testing.assert_allclose(rep.jacobian, [[-0.5, 1.0], [-1.0, 0.0]], atol=1e-6)
    assert np.abs(rep.velocity).max() > 0.1
    with pytest.raises(ValueError, match="`z` must have shape"):
        jaxgan.analyze(f, z=[1.0, 2.0, 3.0])


def test_classify_cases():
    assert classify([-1, -2]) == "stable node"
    assert classify([1, 2]) == "unstable node"
    assert classify([-1 + 1j, -1 - 1j]) == "stable focus"
    assert classify([1 + 1j, 1 - 1j]) == "unstable focus"
    assert classify([1j, -1j]) == "centre"
    assert classify([-1, 2]) == "saddle"
    assert classify([0, -1]) == "degenerate"


@pytest.mark.parametrize("pd", [0.1, 0.2, 0.35, 1.0])
def test_max_stable_lr_euler_closed_form_and_autodiff(pd):
    """|1 + lr λ| < 1 ⇔ lr < -2Re λ/|λ|². Minimax: |λ|² = 4 (complex case), Re λ = -4pd → lr* = 2pd."""
    f = jaxgan.pointwise_field("minimax", pd)
    lr = jaxgan.max_stable_lr(f)
    if 4 * pd * pd < 1:
        assert lr == pytest.approx(2 * pd, rel=1e-5)
    else:
        # Real eigenvalues: the most negative one sets the limit, lr* = 2/|λ_min|.
        lam = -4 * pd - 2 * math.sqrt(4 * pd * pd - 1)
        assert lr == pytest.approx(-2 / lam, rel=1e-5)
    # Checked by autodiff through one Euler step.
    assert jaxgan.step_spectral_radius(f, method="euler", lr=lr * 0.99) < 1.0
    assert jaxgan.step_spectral_radius(f, method="euler", lr=lr * 1.01) > 1.0
    assert jaxgan.max_stable_lr(jaxgan.pointwise_field("minimax", 0.2)) == pytest.approx(0.4, rel=1e-5)


def test_max_stable_lr_alternating_closed_form():
    """Alternating GD on J = [[a, b], [c, 0]]: M = [[1+ha, hb], [hc(1+ha), 1+h²bc]], det = 1+ha,
    tr = 2 + ha + h²bc. Jury: |det| < 1 and |tr| < 1 + det  ⇒  h < 2/|a| and k h² + 2|a|h - 4 < 0
    with k = -bc, i.e. h < (√(a² + 4k) - |a|)/k."""
    for name, pd in (("minimax", 0.2), ("quadratic", 0.5), ("least_squares", 1.0)):
        f = jaxgan.pointwise_field(name, pd)
        (a, b), (c, _) = jaxgan.analyze(f).jacobian
        k = -b * c
        expect = min(2 / abs(a), (math.sqrt(a * a + 4 * k) - abs(a)) / k)
        assert jaxgan.max_stable_lr(f, method="alternating") == pytest.approx(expect, rel=1e-4), name


def test_max_stable_lr_rk4_matches_stability_polynomial():
    """RK4 maps a linear mode by R(hλ) = 1 + hλ + (hλ)²/2 + (hλ)³/6 + (hλ)⁴/24."""
    f = jaxgan.pointwise_field("minimax", 0.2)
    ev = jaxgan.analyze(f).eigenvalues
    hs = np.linspace(1e-4, 3.0, 300001)
    R = lambda x: 1 + x + x**2 / 2 + x**3 / 6 + x**4 / 24
    ok = np.all(np.abs(R(hs[:, None] * ev[None, :])) < 1, axis=1)
    expect = hs[np.argmin(ok)]  # first h that is not stable
    assert jaxgan.max_stable_lr(f, method="rk4") == pytest.approx(expect, rel=1e-4)


def test_no_stable_step_for_a_centre():
    f = jaxgan.pointwise_field("wasserstein", 0.2)
    assert jaxgan.max_stable_lr(f) == 0.0
    assert jaxgan.max_stable_lr(f, method="alternating") == 0.0  # |λ| = 1 exactly: marginal, not stable
    # Simultaneous GD on a centre: radius √(1 + lr²) > 1 for every lr.
    assert jaxgan.step_spectral_radius(f, method="euler", lr=0.3) == pytest.approx(math.sqrt(1 + 0.09), rel=1e-6)


def test_field_without_rest_point():
    f = jaxgan.Field(lambda p, z: -z, labels=("x", "y"))
    with pytest.raises(ValueError, match="no known rest point"):
        jaxgan.analyze(f)
    assert jaxgan.analyze(f, z=[0.0, 0.0]).kind == "stable node"


def test_max_stable_lr_on_a_centre_for_methods_that_damp_rotation():
    """On the Wasserstein centre (λ = ±i):
    - extragradient maps a mode by 1 + hλ + (hλ)², |·|² = 1 - h² + h⁴ < 1 iff h < 1;
    - RK4: |R(iy)|² = 1 - y⁶/72 + y⁸/576 < 1 iff y < 2√2 (ρ = 1 - O(h⁶): below double
      precision at small h, yet stable);
    - optimistic GD: roots μ of μ² - (1 + 2hλ)μ + hλ = 0, checked here with numpy.roots."""
    f = jaxgan.pointwise_field("wasserstein", 0.2)
    assert jaxgan.max_stable_lr(f, method="extragradient") == pytest.approx(1.0, rel=1e-6)
    assert jaxgan.max_stable_lr(f, method="rk4") == pytest.approx(2 * math.sqrt(2), rel=1e-6)
    hs = np.linspace(1e-3, 1.0, 100_000)
    ok = [max(abs(np.roots([1, -(1 + 2j * h), 1j * h]))) < 1 for h in hs]
    expect = hs[int(np.argmin(ok))]
    assert jaxgan.max_stable_lr(f, method="optimistic") == pytest.approx(expect, rel=1e-4)
