"""Fields: construction, closed-form eigenvalues of every preset, rest points, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan.errors import ArgumentError, ArgumentTypeError

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
    with pytest.raises((ArgumentError, ArgumentTypeError), match="pd"):
        jaxgan.pointwise_field("minimax", pd)


def test_unknown_game_name():
    with pytest.raises(ValueError, match="unknown game 'foo'"):
        jaxgan.pointwise_field("foo", 0.2)


# ----------------------------------------------------------------------------- compiled code is shared


def test_pointwise_compiles_once_per_game():
    """The velocity is a value of the game: rebuilt fields, new pd and replaced pd share one compile per game."""
    ev = jax.jit(lambda f, z: f(z))
    z = jnp.array([0.3, 0.5])
    for pd in (0.2, 0.7, 1.3):
        ev(jaxgan.pointwise_field("minimax", pd), z)
        ev(jaxgan.pointwise_field("minimax", 0.2).replace(pd=pd), z)
    assert ev._cache_size() == 1
    ev(jaxgan.pointwise_field("quadratic", 0.2), z)
    assert ev._cache_size() == 2


def test_kernel_field_compiles_once_per_kind():
    """kernel_field: new numbers (same n) never recompile; another `constant` is another kind."""
    ev = jax.jit(lambda f, z: f(z))
    n = 3
    z = jnp.concatenate([jnp.full(n, 0.4), jnp.ones(n)])
    for scale in (1.0, 2.0):
        f = jaxgan.fields.kernel_field("minimax", scale * np.ones(n), np.full(n, 0.5), scale * np.eye(n))
        assert f.get_meta("kind") == "kernel" and f.get_meta("constant") == "lagrange"
        ev(f, z)
    assert ev._cache_size() == 1
    ev(jaxgan.fields.kernel_field("minimax", np.ones(n), np.full(n, 0.5), np.eye(n), constant="d0"), z)
    assert ev._cache_size() == 2


def test_no_unbounded_caches_in_fields():
    """Composition is data: no `lru_cache(maxsize=None)` keeps velocity functions alive."""
    import pathlib

    src = pathlib.Path(jaxgan.fields.__file__).parent
    files = sorted(src.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        assert "lru_cache" not in path.read_text(), path


# ----------------------------------------------------------------------------- one domain test


def _box():
    """A field on a box with every kind of end: [0, 1), (-1, ∞), (-∞, 2], (-∞, ∞)."""
    inf = math.inf
    return jaxgan.Field(lambda p, z: -z, lower=(0.0, -1.0, -inf, -inf), upper=(1.0, inf, 2.0, inf),
                        closed=((True, False), (False, False), (False, True), (False, False)))


def test_in_domain_host_and_device_agree():
    """in_domain(xp=numpy) and in_domain(xp=jax.numpy) agree with the bounds read by hand, including points on
    each boundary, non-finite values and float32 values next to a decimal bound."""
    f = _box()
    ok = [0.5, 0.0, 0.0, 0.0]
    cases = {  # state -> inside?
        (0.5, 0.0, 0.0, 0.0): True,
        (0.0, 0.0, 0.0, 0.0): True,      # lower end closed
        (1.0, 0.0, 0.0, 0.0): False,     # upper end open
        (0.5, -1.0, 0.0, 0.0): False,    # lower end open
        (0.5, 1e30, 2.0, 0.0): True,     # upper end closed, unbounded coordinate
        (0.5, math.inf, 0.0, 0.0): False,
        (0.5, 0.0, 0.0, math.nan): False,
        (0.5, 0.0, 0.0, -math.inf): False,
        (-1e-7, 0.0, 0.0, 0.0): False,
    }
    z = np.array(list(cases), dtype=np.float32)
    expect = np.array(list(cases.values()))
    host = f.in_domain(z, xp=np)
    assert isinstance(host, np.ndarray) and host.tolist() == expect.tolist()
    assert np.asarray(f.in_domain(jnp.asarray(z))).tolist() == expect.tolist()
    assert np.asarray(jax.jit(f.in_domain)(jnp.asarray(z))).tolist() == expect.tolist()
    assert bool(f.in_domain(np.array(ok), xp=np)) and f.in_domain(np.array(ok), xp=np).shape == ()
    # float32 next to a decimal bound: both sides compare in float32
    g = jaxgan.Field(lambda p, z: z, lower=(0.1,), closed=((False, False),))
    x = np.array([[np.float32(0.1)], [np.nextafter(np.float32(0.1), np.float32(1))]], np.float32)
    assert g.in_domain(x, xp=np).tolist() == np.asarray(g.in_domain(jnp.asarray(x))).tolist() == [False, True]


def test_coordinate_in_domain():
    """Each coordinate's own test; in_domain is their conjunction; elementwise with x's shape; traceable."""
    f = _box()
    x = np.array([[-1.0, 0.0, 0.5, 1.0], [2.0, 3.0, math.nan, -math.inf]], np.float32)
    expect = {
        0: [[False, True, True, False], [False, False, False, False]],
        1: [[False, True, True, True], [True, True, False, False]],
        2: [[True, True, True, True], [True, False, False, False]],
        3: [[True, True, True, True], [True, True, False, False]],
    }
    for i, want in expect.items():
        got_host = f.coordinate_in_domain(i, x, xp=np)
        got_dev = jax.jit(lambda v, i=i: f.coordinate_in_domain(i, v))(jnp.asarray(x))
        assert got_host.shape == x.shape and got_host.tolist() == want
        assert np.asarray(got_dev).tolist() == want
    z = np.random.default_rng(0).uniform(-2, 3, size=(64, 4)).astype(np.float32)
    conj = np.all([f.coordinate_in_domain(i, z[:, i], xp=np) for i in range(4)], axis=0)
    assert f.in_domain(z, xp=np).tolist() == conj.tolist()
    assert conj.any() and not conj.all()


def test_domain_tests_bad_input():
    f = _box()
    with pytest.raises(ArgumentError, match=r"Field.coordinate_in_domain argument `i` must be an integer in \[0, 3\]"):
        f.coordinate_in_domain(4, 0.0)
    with pytest.raises(ArgumentError, match=r"argument `i`"):
        f.coordinate_in_domain(-1, 0.0)
    with pytest.raises(ArgumentTypeError, match=r"argument `i`"):
        f.coordinate_in_domain(1.0, 0.0)
    with pytest.raises(ArgumentError, match=r"Field.in_domain argument `xp` must be numpy or jax.numpy"):
        f.in_domain(np.zeros(4), xp=math)
    with pytest.raises(ArgumentError, match=r"Field.in_domain argument `z` must have shape \(\.\.\., 4\); got shape \(3,\)"):
        f.in_domain(np.zeros(3))


# ----------------------------------------------------------------------------- the Field constructor


def test_field_constructor_checks():
    v = lambda p, z: -z  # noqa: E731
    with pytest.raises(ArgumentTypeError, match=r"Field argument `velocity` must be a callable"):
        jaxgan.Field("v", labels=("a",))
    with pytest.raises(ArgumentError, match=r"Field needs its dimension"):
        jaxgan.Field(v)
    with pytest.raises(ArgumentError, match=r"Field argument `upper` must have length 2"):
        jaxgan.Field(v, labels=("a", "b"), upper=(1.0,))
    with pytest.raises(ArgumentError, match=r"Field argument `lower` must be below `upper`.*coordinate 1"):
        jaxgan.Field(v, lower=(0.0, 1.0), upper=(1.0, 1.0))
    with pytest.raises(ArgumentError, match=r"Field argument `lower` must be numbers"):
        jaxgan.Field(v, lower=(math.nan,))
    with pytest.raises(ArgumentTypeError, match=r"Field argument `upper` must be a sequence of 1 numbers"):
        jaxgan.Field(v, labels=("a",), upper=("x",))
    with pytest.raises(ArgumentTypeError, match=r"Field argument `closed` must be pairs"):
        jaxgan.Field(v, labels=("a",), closed=((1, 0),))
    with pytest.raises(ArgumentError, match=r"Field argument `players` must partition the coordinates 0..1"):
        jaxgan.Field(v, labels=("a", "b"), players=((0,), (0,)))
    with pytest.raises(ArgumentError, match=r"Field argument `rest_point` must have shape \(2,\)"):
        jaxgan.Field(v, labels=("a", "b"), rest_point=[0.0, 0.0, 0.0])
    with pytest.raises(ArgumentTypeError, match=r"Field argument `name` must be a string"):
        jaxgan.Field(v, labels=("a",), name=3)
    with pytest.raises(ArgumentTypeError, match=r"Field argument `meta` must hold hashable values"):
        jaxgan.Field(v, labels=("a",), meta={"x": [1, 2]})
    f = jaxgan.Field(v, {"k": 1.0}, rest_point=[0.0, 0.0])
    assert f.dim == 2 and f.labels == ("z0", "z1") and f.players == ((0,), (1,))
    with pytest.raises(ArgumentError, match=r"has no parameter\(s\) \['pd'\]; it has \['k'\]"):
        f.replace(pd=1.0)
    with pytest.raises(ArgumentTypeError, match=r"Field.replace needs dict params"):
        jaxgan.Field(v, (1.0,), labels=("a",)).replace(k=1.0)
