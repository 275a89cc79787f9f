"""The one fate rule (jaxgan.fates): constructed paths, the tracker functions, and agreement with the sweeps."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import fates, sweeps
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.fates import Fate, FateRule, classify_path

try:
    from hypothesis import assume, given, settings, strategies as st
except ImportError:  # optional: the property tests below are skipped without it
    given = None

SPIRAL = FateRule(spiral_diverges=True)  # the convergence table's rule
NOISY = FateRule(tol=1e-6, cycle_rtol=math.inf, cycle_turns=1, r_min=0.5)  # a noisy-path rule


def _spiral(turns=20.0, per_turn=1.0, points=800, r0=1.0, phase=0.0, centre=(0.0, 0.0), clockwise=False):
    """A path of radius `r0·per_turn^(θ/2π)` around `centre`, `points` samples over `turns` turns."""
    t = np.linspace(0.0, 2 * np.pi * turns, points)
    r = r0 * per_turn ** (t / (2 * np.pi))
    a = phase + (-t if clockwise else t)
    return np.stack([centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)], -1)


# ----------------------------------------------------------------------------- constructed paths


def test_circle_is_cycling_and_counts_signed_turns():
    assert classify_path(_spiral(), [0, 0]) == Fate.CYCLING
    assert classify_path(_spiral(centre=(3.0, -2.0), phase=1.0), [3.0, -2.0]) == Fate.CYCLING
    rel = _spiral(turns=10.5, phase=0.3)  # 10 passes of the ray at angle 0 (either way)
    for sign, path in ((1, rel), (-1, rel * [1, -1])):
        state, _ = fates.track(FateRule(cycle_turns=1000), path[:, 0], path[:, 1], np.sum(path ** 2, -1))
        assert Fate(int(state.status)) == Fate.UNDECIDED and int(state.turns) == sign * 10


def test_inward_spiral_converges_outward_spiral_and_blow_up_diverge():
    assert classify_path(_spiral(per_turn=0.5), [0, 0]) == Fate.CONVERGED  # reaches tol = 1e-3
    assert classify_path(_spiral(per_turn=0.97, turns=5), [0, 0]) == Fate.UNDECIDED  # converging, not there yet
    out = _spiral(per_turn=1.2, turns=8)
    # The sweeps' rule leaves an outward spiral undecided until `bound`; the table's calls it DIVERGED.
    assert classify_path(out, [0, 0]) == Fate.UNDECIDED
    assert classify_path(out, [0, 0], rule=SPIRAL) == Fate.DIVERGED
    assert classify_path(out, [0, 0], rule=FateRule(bound=2.0)) == Fate.DIVERGED  # it reaches 1.2^8 = 4.3
    blow = np.stack([np.geomspace(1.0, 1e8, 50), np.zeros(50)], -1)  # no winding at all
    assert classify_path(blow, [0, 0]) == Fate.DIVERGED
    assert classify_path(blow[:20], [0, 0]) == Fate.UNDECIDED  # 1e8^(19/49) < bound = 1e6


def test_a_spiral_slower_than_cycle_rtol_is_cycling():
    """Documented: a return map within `cycle_rtol` of the identity is a closed orbit."""
    assert classify_path(_spiral(per_turn=1.005), [0, 0], rule=SPIRAL) == Fate.CYCLING
    assert classify_path(_spiral(per_turn=0.995), [0, 0]) == Fate.CYCLING
    assert classify_path(_spiral(per_turn=1.005), [0, 0], rule=FateRule(cycle_rtol=1e-3)) == Fate.UNDECIDED


def test_non_finite_and_preset_fates():
    path = _spiral(per_turn=0.5)
    bad = path.copy()
    bad[3, 1] = np.nan
    assert classify_path(bad, [0, 0]) == Fate.DIVERGED
    bad[3, 1] = np.inf
    assert classify_path(bad, [0, 0]) == Fate.DIVERGED  # beyond any bound
    assert classify_path(path, [0, 0], fate=Fate.LEFT_DOMAIN) == Fate.LEFT_DOMAIN  # would converge
    assert classify_path(_spiral(), [0, 0], fate=Fate.DIVERGED) == Fate.DIVERGED
    assert classify_path(path[:1] * 1e-4, [0, 0]) == Fate.CONVERGED  # the start itself is checked


def test_r_min_ignores_jitter_and_inf_rtol_counts_any_return():
    rng = np.random.default_rng(0)
    jitter = 0.05 * rng.standard_normal((600, 2))  # crosses the section at random radii
    assert classify_path(jitter, [0, 0], rule=NOISY._replace(r_min=0.0)) == Fate.CYCLING
    assert classify_path(jitter, [0, 0], rule=NOISY) == Fate.UNDECIDED
    assert classify_path(jitter, [0, 0]) == Fate.UNDECIDED  # the returns are far from the identity
    # A large orbit with an irregular radius: each turn returns elsewhere on the section.
    loop = _spiral(turns=6, points=240) * (1.0 + 0.3 * np.sin(np.linspace(0, 17.0, 240)))[:, None]
    assert classify_path(loop, [0, 0]) == Fate.UNDECIDED
    assert classify_path(loop, [0, 0], rule=NOISY) == Fate.CYCLING
    # Jitter on a large orbit: the orbit counts, r_min does not hide it.
    assert classify_path(loop + 0.05 * rng.standard_normal(loop.shape), [0, 0], rule=NOISY) == Fate.CYCLING


def test_plane_and_higher_dimensions():
    circle = _spiral(turns=6, points=300)
    path = np.stack([np.full(300, 0.2), circle[:, 0], np.zeros(300), circle[:, 1]], -1)
    rest = [0.2, 0.0, 0.0, 0.0]
    assert classify_path(path, rest, plane=(1, 3)) == Fate.CYCLING
    assert classify_path(path, rest) == Fate.UNDECIDED  # no winding in coordinates (0, 1)


# ----------------------------------------------------------------------------- the tracker functions


def test_track_is_elementwise_and_dates_the_decision():
    paths = np.stack([_spiral(), _spiral(per_turn=0.5), _spiral(per_turn=1.2, turns=8), _spiral() * 2e6])
    u, v = paths[..., 0].T, paths[..., 1].T  # (T, 4)
    state, index = fates.track(SPIRAL, u, v, u * u + v * v)
    assert [Fate(int(s)) for s in state.status] == [Fate.CYCLING, Fate.CONVERGED, Fate.DIVERGED, Fate.DIVERGED]
    assert index[3] == 0 and np.all(index[:3] > 0)
    for k in range(4):  # the same as one path at a time, decided at the same check
        s1, i1 = fates.track(SPIRAL, u[:, k], v[:, k], u[:, k] ** 2 + v[:, k] ** 2)
        assert int(s1.status) == int(state.status[k]) and int(i1) == int(index[k])
    # a decided start is left alone by later checks, and a preset fate stands from check 0
    k = int(index[1]) + 1
    early, _ = fates.track(SPIRAL, u[:k, 1], v[:k, 1], u[:k, 1] ** 2 + v[:k, 1] ** 2)
    for name in ("status", "turns", "last_return", "returns"):
        assert np.array_equal(getattr(early, name), getattr(state, name)[1]), name
    preset, index = fates.track(SPIRAL, u, v, u * u + v * v, Fate.LEFT_DOMAIN)
    assert np.all(preset.status == Fate.LEFT_DOMAIN) and np.all(index == 0) and np.all(preset.turns == 0)


def test_update_under_jit_and_vmap_with_traced_rule():
    path = _spiral(turns=5, points=200)
    u, v = jnp.asarray(path[:, 0]), jnp.asarray(path[:, 1])

    @jax.jit
    def run(rule, u, v):
        def body(k, tr):
            return fates.update(rule, tr, u[k], v[k], u[k] ** 2 + v[k] ** 2)

        return jax.lax.fori_loop(0, u.shape[0], body, fates.init(u[0], v[0])).status

    assert Fate(int(run(FateRule(), u, v))) == Fate.CYCLING
    assert Fate(int(run(FateRule(tol=2.0), u, v))) == Fate.CONVERGED  # same compiled program, new numbers
    assert run._cache_size() == 1
    batched = jax.vmap(lambda tol: run(FateRule(tol=tol), u, v))(jnp.array([1e-3, 2.0]))
    assert batched.tolist() == [Fate.CYCLING, Fate.CONVERGED]


def test_classify_path_compiles_once_per_shape():
    classify_path(_spiral(), [0, 0])
    n = fates._track._cache_size()
    for rule in (FateRule(tol=0.5), SPIRAL, NOISY, FateRule(cycle_rtol=math.inf, bound=math.inf)):
        classify_path(_spiral(per_turn=1.1), [0, 0], rule=rule)
    assert fates._track._cache_size() == n


# ----------------------------------------------------------------------------- one rule with the sweeps


def test_classify_path_agrees_with_the_sweeps_kernel():
    """A stored path saved every `check_every` steps is classified as the sweep classifies its start,
    and the check that decides it is the sweep's decision step."""
    pd, lr, k, steps = 0.2, 0.05, 16, 2048
    field = jaxgan.pointwise_field("wasserstein", pd)
    res = sweeps.basins(field, (-0.3, 0.3, 6), (0.05, 0.5, 6), steps=steps, lr=lr, method="alternating",
                        chunk=64, check_every=k)
    res_c = sweeps.basins(jaxgan.pointwise_field("minimax", pd), (0.1, 0.9, 6), (0.05, 1.5, 6), steps=steps,
                          lr=1e-2, chunk=64, check_every=k)
    seen = set()
    for r, f, method, step in ((res, field, "alternating", lr), (res_c, jaxgan.pointwise_field("minimax", pd),
                                                                 "euler", 1e-2)):
        for i in range(6):
            for j in range(6):
                traj = jaxgan.simulate(f, [r.d[i], r.pg[j]], steps=steps, lr=step, method=method, save_every=k,
                                       warn=False)
                fate = classify_path(np.asarray(traj.path), r.rest_point, fate=traj.fate)
                assert fate == Fate(int(r.fate[i, j])), (i, j, fate, r.fate[i, j])
                if fate in (Fate.CYCLING, Fate.CONVERGED):
                    rel = np.asarray(traj.path, np.float64) - r.rest_point
                    state, index = fates.track(FateRule(), rel[:, 0], rel[:, 1], np.sum(rel ** 2, -1))
                    assert int(index) * k == int(r.step[i, j]) and int(state.turns) == int(r.turns[i, j])
                seen.add(fate)
    assert {Fate.CYCLING, Fate.CONVERGED, Fate.LEFT_DOMAIN} <= seen


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("rule, exc, match", [
    (FateRule(tol=0.0), ArgumentError, r"`rule.tol` must be a positive finite number"),
    (FateRule(tol=1.0, bound=0.5), ArgumentError, r"`rule.bound` must be greater than `rule.tol`"),
    (FateRule(cycle_rtol=math.nan), ArgumentError, r"`rule.cycle_rtol`"),
    (FateRule(cycle_turns=0), ArgumentError, r"`rule.cycle_turns` must be an integer ≥ 1"),
    (FateRule(cycle_turns=2.0), ArgumentTypeError, r"`rule.cycle_turns`"),
    (FateRule(r_min=-1.0), ArgumentError, r"`rule.r_min` must be a non-negative"),
    (FateRule(spiral_diverges=1), ArgumentTypeError, r"`rule.spiral_diverges` must be True or False"),
    ((1e-3, 1e6), ArgumentTypeError, r"`rule` must be a jaxgan.fates.FateRule"),
])
def test_bad_rules(rule, exc, match):
    with pytest.raises(exc, match=match):
        classify_path(_spiral(turns=1, points=20), [0, 0], rule=rule)


def test_bad_paths():
    circle = _spiral(turns=1, points=20)
    with pytest.raises(ArgumentError, match=r"classify_path argument `path` must be an array of shape \(T ≥ 1"):
        classify_path(circle[:, 0], [0])
    with pytest.raises(ArgumentError, match="`rest` must be an array of shape"):
        classify_path(circle, [0, 0, 0])
    with pytest.raises(ArgumentTypeError, match="`path` must be an array of numbers"):
        classify_path([["a", "b"]], [0, 0])
    with pytest.raises(ArgumentError, match="`plane` must be two distinct"):
        classify_path(circle, [0, 0], plane=(1, 1))
    with pytest.raises(ArgumentError, match="`fate` must be a jaxgan Fate"):
        classify_path(circle, [0, 0], fate=9)


# ----------------------------------------------------------------------------- properties


if given is not None:
    _ANGLE_STEP = st.floats(0.05, 2.5)  # radians between two saved points (< π: crossings are seen)

    @settings(max_examples=40, deadline=None, database=None)
    @given(r0=st.floats(0.01, 100.0), step=_ANGLE_STEP, phase=st.floats(-np.pi, np.pi), cw=st.booleans(),
           cx=st.floats(-10, 10), cy=st.floats(-10, 10))
    def test_property_any_sampled_circle_cycles(r0, step, phase, cw, cx, cy):
        angle = phase + (-1 if cw else 1) * step * np.arange(600)  # at least 4.7 turns
        ends = np.array([angle[0], angle[-1]]) / (2 * np.pi)
        assume(np.all(np.abs(ends - np.round(ends)) > 1e-6))  # not on the section within float32 rounding
        path = np.stack([cx + r0 * np.cos(angle), cy + r0 * np.sin(angle)], -1)
        assert classify_path(path, [cx, cy], rule=SPIRAL) == Fate.CYCLING
        rel = path - [cx, cy]
        state, _ = fates.track(FateRule(cycle_turns=10 ** 6), rel[:, 0], rel[:, 1], np.sum(rel ** 2, -1))
        # one signed turn per multiple of 2π passed (the section is the ray at angle 0)
        assert int(state.turns) == math.floor(angle[-1] / (2 * np.pi)) - math.floor(angle[0] / (2 * np.pi))

    @settings(max_examples=40, deadline=None, database=None)
    @given(growth=st.floats(1.03, 3.0), step=_ANGLE_STEP, phase=st.floats(-np.pi, np.pi))
    def test_property_outward_spirals_diverge_inward_never_cycle(growth, step, phase):
        t = step * np.arange(800)  # at least 6.3 turns: enough for 3 outward returns
        a = phase + t
        for g, expected in ((growth, {Fate.DIVERGED}), (1 / growth, {Fate.CONVERGED, Fate.UNDECIDED})):
            r = g ** (t / (2 * np.pi))
            path = np.stack([r * np.cos(a), r * np.sin(a)], -1)
            assert classify_path(path, [0, 0], rule=SPIRAL) in expected
            assert classify_path(path, [0, 0]) != Fate.CYCLING
