"""Fields: construction, closed-form eigenvalues of every preset, rest points, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan

PDS = (0.05, 0.2, 0.5, 1.0, 2.0)

# Every preset's Jacobian at (D0, pd) is [[-c·pd, f2'], [f3', 0]] with f2'·f3' = -k, so
# λ² + c·pd·λ + k = 0, λ = (-c·pd ± √(c²pd² - 4k)) / 2. Hand-derived (c, k):
#   minimax / non-saturating: f1''+f2'' = -1/D² - 1/(1-D)² = -8 at 1/2, f2'f3' = (-2)(±2... ) = -4
#     → λ = -4pd ± 2√(4pd² - 1)  (the issue's formula)
#   wasserstein, hinge (inside |D|<1): c = 0, k = 1 → ±i
#   quadratic: f1'' = -1, f2' = 1, f3' = -1 → c = 1, k = 1
#   least squares: f1''+f2'' = -2, f2'(1/2) = -1/2, f3'(1/2) = 1/2 → c = 2, k = 1/4
#   f-GAN (f1 = T, f2 = -f*, f3 = f*, f*'(D0) = 1): c = f*''(D0), k = 1, with
#     KL: exp(t-1)'' = 1; reverse KL: 1/t² = 1; Pearson: 1/2; Hellinger: 2/(1-t)³ = 2;
#     Jensen-Shannon: 2eᵗ/(2-eᵗ)² = 2.
CK = {"minimax": (8.0, 4.0), "non_saturating": (8.0, 4.0), "wasserstein": (0.0, 1.0),
      "hinge": (0.0, 1.0), "quadratic": (1.0, 1.0), "least_squares": (2.0, 0.25),
      "kl": (1.0, 1.0), "reverse_kl": (1.0, 1.0), "pearson": (0.5, 1.0), "hellinger": (2.0, 1.0),
      "jensen_shannon": (2.0, 1.0)}


def closed_form(name, pd):
    c, k = CK[name]
    disc = np.sqrt(complex(c * c * pd * pd - 4 * k))
    ev = np.array([(-c * pd - disc) / 2, (-c * pd + disc) / 2])
    return ev[np.lexsort((ev.imag, ev.real))]


@pytest.mark.parametrize("name", sorted(CK))
def test_closed_form_eigenvalues(name):
    for pd in PDS:
        rep = jaxgan.analyze(jaxgan.pointwise_field(name, pd))
        np.testing.assert_allclose(rep.eigenvalues, closed_form(name, pd), atol=2e-5, rtol=2e-5)


def test_minimax_formula_from_the_issue():
    for pd in PDS:
        ev = jaxgan.analyze(jaxgan.pointwise_field("minimax", pd)).eigenvalues
        expect = -4 * pd + np.array([-1, 1]) * 2 * np.sqrt(complex(4 * pd * pd - 1))
        np.testing.assert_allclose(sorted(ev, key=lambda l: (l.real, l.imag)),
                                   sorted(expect, key=lambda l: (l.real, l.imag)), atol=2e-5)


def test_kinds():
    kinds = {
        ("minimax", 0.2): "stable focus",
        ("minimax", 1.0): "stable node",  # 4pd² - 1 > 0: real eigenvalues
        ("wasserstein", 0.2): "centre",
        ("hinge", 0.7): "centre",
        ("quadratic", 3.0): "stable node",
    }
    for (name, pd), kind in kinds.items():
        rep = jaxgan.analyze(jaxgan.pointwise_field(name, pd))
        assert rep.kind == kind, (name, pd, rep)
        assert rep.stable == kind.startswith("stable")
    # A saddle: reverse the generator (f3 → -f3) so that f2'·f3' > 0.
    g2 = jaxgan.Game(jnp.log, lambda d: jnp.log1p(-d), lambda d: jnp.log1p(-d), name="anti2", d_domain=(0.0, 1.0))
    assert jaxgan.analyze(jaxgan.pointwise_field(g2, 0.2)).kind == "saddle"
    # Unstable focus: a convex discriminator objective.
    g3 = jaxgan.Game(lambda d: 0.5 * d * d, lambda d: -d, lambda d: d, name="convex")
    assert jaxgan.analyze(jaxgan.pointwise_field(g3, 0.2)).kind == "unstable focus"


def test_rest_point_has_zero_velocity():
    for name in CK:
        for pd in PDS:
            f = jaxgan.pointwise_field(name, pd)
            z = f.rest_point
            assert z.shape == (2,)
            assert float(z[1]) == pytest.approx(pd)
            np.testing.assert_allclose(np.asarray(f(z)), 0.0, atol=1e-6)


def test_field_is_pure_and_vmaps():
    f = jaxgan.pointwise_field("minimax", 0.2)
    zs = jnp.stack([jnp.linspace(0.1, 0.9, 7), jnp.linspace(0.1, 2.0, 7)], axis=1)
    batched = jax.vmap(f)(zs)
    looped = jnp.stack([f(z) for z in zs])
    np.testing.assert_allclose(batched, looped, rtol=1e-6)
    # The article's classic field, written by hand.
    d, pg = np.asarray(zs[:, 0], np.float64), np.asarray(zs[:, 1], np.float64)
    np.testing.assert_allclose(batched[:, 0], 0.2 / d - pg / (1 - d), rtol=1e-5)
    np.testing.assert_allclose(batched[:, 1], -np.log(1 - d) + np.log(0.5), rtol=1e-5, atol=1e-6)


def test_field_is_a_pytree_with_traced_pd():
    f = jaxgan.pointwise_field("minimax", 0.2)
    leaves = jax.tree_util.tree_leaves(f)
    assert any(np.isclose(np.asarray(l), 0.2) for l in leaves)

    @jax.jit
    def speed(field, z):
        return jnp.linalg.norm(field(z))

    z = jnp.array([0.3, 0.5])
    a = speed(f, z)
    b = speed(jaxgan.pointwise_field("minimax", 0.7), z)
    assert speed._cache_size() == 1  # pd is a leaf: a new value is no new compile
    assert float(a) != float(b)
    g = f.replace(pd=0.7)
    np.testing.assert_allclose(g.rest_point, [0.5, 0.7])


def test_domain():
    f = jaxgan.pointwise_field("minimax", 0.2)
    inside = f.in_domain(jnp.array([[0.5, 0.2], [0.0, 0.2], [1.0, 0.2], [0.5, -0.1], [0.5, 0.0], [jnp.nan, 0.1]]))
    assert inside.tolist() == [True, False, False, False, True, False]
    assert f.labels == ("D", "pg")
    assert jaxgan.pointwise_field("quadratic", 0.2).in_domain(jnp.array([50.0, 1.0]))


@pytest.mark.parametrize("pd", [0.0, -0.1, math.nan, math.inf, [0.1, 0.2], "a"])
def test_bad_pd(pd):
    with pytest.raises((ValueError, TypeError), match="pd"):
        jaxgan.pointwise_field("minimax", pd)


def test_unknown_game_name():
    with pytest.raises(ValueError, match="unknown game 'foo'"):
        jaxgan.pointwise_field("foo", 0.2)
