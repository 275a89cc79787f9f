"""Games: presets, the D0 solver, and the local stability criterion."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import games

ALL_PRESETS = ["minimax", "non_saturating", "wasserstein", "quadratic", "least_squares", "hinge",
               "kl", "reverse_kl", "pearson", "hellinger", "jensen_shannon"]

# D0 of each preset, derived by hand from f1' + f2' = 0 (f-GAN: D0 = f'(1)).
EXPECTED_D0 = {"minimax": 0.5, "non_saturating": 0.5, "wasserstein": 0.0, "quadratic": 1.0,
               "least_squares": 0.5, "hinge": 0.0, "kl": 1.0, "reverse_kl": -1.0, "pearson": 0.0,
               "hellinger": 0.0, "jensen_shannon": 0.0}


def test_registry_lists_every_required_preset():
    assert set(ALL_PRESETS) <= set(games.names())
    for name in ALL_PRESETS:
        game = games.get(name)
        assert game.name == name
        assert games.get(name) is game  # one object per preset: compiled fields are reused
        doc = getattr(games, name).__doc__
        assert doc and ("Source" in doc or "source" in doc), name


def test_aliases_and_passthrough():
    assert games.get("classic") is games.get("minimax")
    assert games.get("Non-Saturating") is games.get("non_saturating")
    g = games.get("quadratic")
    assert games.get(g) is g


def _solved(name):
    """The preset's functions and domain without its closed-form D0: the solver finds it."""
    return dataclasses.replace(games.get(name), d0=None)


@pytest.mark.parametrize("name", [n for n in ALL_PRESETS if n not in ("wasserstein", "hinge")])
def test_the_solver_finds_each_presets_closed_form_rest_value(name):
    # The presets give D0 in closed form (no solve at first use); it is exactly the solver's root, in
    # float32 and in float64 (whose solve holds to double precision), and the hand derivation's.
    assert games.get(name).d0 == EXPECTED_D0[name]
    assert _solved(name).rest_d(jnp.float32) == EXPECTED_D0[name]
    assert _solved(name).rest_d(jnp.float64) == EXPECTED_D0[name]
    assert games.get(name).rest_d() == EXPECTED_D0[name]


def test_the_undetermined_rest_values_are_given_and_the_solver_asks_for_wassersteins():
    # Wasserstein's f1' + f2' is zero everywhere, hinge's on all of (-1, 1): the presets choose D0 = 0.
    for name in ("wasserstein", "hinge"):
        assert games.get(name).rest_d() == EXPECTED_D0[name]
    with pytest.raises(ValueError, match="d0="):
        _solved("wasserstein").rest_d()


def test_solver_handles_a_root_near_a_domain_edge():
    # f1' + f2' = 1/D - 9/(1-D)  →  D0 = 0.1, close to the lower end of (0, 1).
    g = jaxgan.Game(jnp.log, lambda d: 9.0 * jnp.log1p(-d), lambda d: -jnp.log1p(-d),
                    name="skewed", d_domain=(0.0, 1.0))
    assert g.rest_d() == pytest.approx(0.1, rel=1e-6)


def test_no_root_names_the_game():
    g = jaxgan.Game(lambda d: d, lambda d: d, lambda d: d, name="rootless")
    with pytest.raises(ValueError, match="rootless.*no root"):
        g.rest_d()
    with pytest.raises(ValueError, match="rootless"):
        jaxgan.pointwise_field(g, 0.2)


def test_identically_zero_derivative_asks_for_d0():
    g = jaxgan.Game(lambda d: 2 * d, lambda d: -2 * d, lambda d: d, name="flat")
    with pytest.raises(ValueError, match="flat.*d0="):
        g.rest_d()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(f1=1.0), "f1"),
        (dict(f3="log"), "f3"),
        (dict(d_domain=(1.0, 0.0)), "d_domain"),
        (dict(d_domain=(0.0,)), "d_domain"),
        (dict(d_domain=(0.0, 1.0), d0=2.0), "d0"),
        (dict(name=""), "name"),
    ],
)
def test_bad_game_arguments(kwargs, match):
    base = dict(f1=jnp.log, f2=lambda d: jnp.log1p(-d), f3=jnp.log, name="g", d_domain=(0.0, 1.0))
    base.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        jaxgan.Game(**base)


def test_unknown_game_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*minimax"):
        games.get("minmax")


def test_criterion_states_the_numbers():
    c = jaxgan.stability_conditions("minimax")
    # (f1''+f2'')(1/2) = -1/D² - 1/(1-D)² = -8; f2'(1/2) = -2; f3'(1/2) = 2.
    assert c.curvature == pytest.approx(-8.0)
    assert c.df2 == pytest.approx(-2.0) and c.df3 == pytest.approx(2.0)
    assert c.coupling == pytest.approx(-4.0)
    assert c.stable
    text = c.explain()
    assert "-8" in text and "-4" in text and "stable" in text
    w = jaxgan.stability_conditions("wasserstein")
    assert w.curvature == 0.0 and not w.stable and "centre" in w.explain()


def _random_game(rng, i):
    a1, a2, b1, b2, c1, c2, g1, g2 = rng.normal(size=8)
    return jaxgan.Game(
        lambda d: a1 * d + 0.5 * b1 * d * d + 0.3 * c1 * jnp.sin(d),
        lambda d: a2 * d + 0.5 * b2 * d * d + 0.3 * c2 * jnp.sin(d),
        lambda d: g1 * d + 0.5 * g2 * d * d,
        name=f"random{i}", d_domain=(-10.0, 10.0),
    )


def test_criterion_agrees_with_eigenvalues_on_random_games():
    """Stable iff trace < 0 and det > 0 with trace = pd(f1''+f2''), det = -f2'f3' (2×2 Jacobian)."""
    rng = np.random.default_rng(7)
    checked = {True: 0, False: 0}
    for i in range(6):  # each random game compiles its own programs: these 6 are 3 stable and 3 unstable games
        game = _random_game(rng, i)
        try:
            cond = jaxgan.stability_conditions(game)
        except ValueError:
            continue  # no root in the domain: a legitimate outcome for a random game
        for pd in (0.3, 1.7):
            rep = jaxgan.analyze(jaxgan.pointwise_field(game, pd))
            assert np.max(np.abs(rep.velocity)) < 1e-4
            assert rep.stable == cond.stable, (game.name, pd, rep.eigenvalues, cond)
            checked[cond.stable] += 1
    assert checked[True] >= 5 and checked[False] >= 5, checked


def test_minimax_cheap_f3_is_as_accurate_as_log1p():
    # The minimax preset computes f3 = -log(1 - D) (cheaper than -log1p(-D) in XLA). The fields use
    # f3 only through differences f3(D) - f3(D0) and f2 only through f2': against float64, in
    # float32 over D in (0, 1), the difference must be as accurate as with log1p (within 2 ulp of
    # the larger term; 1.63 observed for both), f2' and f3' unchanged, and D0 exactly 1/2.
    import jax

    game = games.get("minimax")
    tiny = np.geomspace(np.finfo(np.float32).tiny, 0.5, 20_000)
    d32 = np.unique(np.concatenate([tiny, 1.0 - tiny, np.linspace(0, 1, 20_001)]).astype(np.float32))
    d32 = d32[(d32 > 0) & (d32 < 1)]
    d64 = d32.astype(np.float64)
    assert game.rest_d(jnp.float32) == 0.5
    half = jnp.float32(0.5)
    ref = -np.log1p(-d64) + np.log1p(-0.5)
    unit = np.spacing(np.maximum(-np.log1p(-d64), np.log(2.0)).astype(np.float32)).astype(np.float64)
    old_f3 = lambda d: -jnp.log1p(-d)  # noqa: E731
    errs = {}
    for name, f3 in (("preset", game.f3), ("log1p", old_f3)):
        got = np.asarray(jax.jit(jax.vmap(lambda d, f3=f3: f3(d) - f3(half)))(jnp.asarray(d32)), np.float64)
        errs[name] = np.max(np.abs(got - ref) / unit)
    assert errs["preset"] <= 2.0, errs
    assert errs["log1p"] <= 2.0, errs  # the reference formula meets the same bound (the test can tell)
    for fn, old in ((game.df3, jax.grad(old_f3)), (game.df2, jax.grad(lambda d: jnp.log1p(-d)))):
        assert np.array_equal(np.asarray(jax.vmap(fn)(jnp.asarray(d32))), np.asarray(jax.vmap(old)(jnp.asarray(d32))))
