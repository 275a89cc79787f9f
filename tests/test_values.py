"""Issue 14 ("Trust"), items 3-5 for fields, dynamics, stability, lyapunov, kernels and nets:
no silent change of a value, limits refused up front, NaN and out-of-domain explained.

Every test here fails on the code before the issue: the old code accepted the value silently,
crashed deep inside JAX/numpy, or returned a NaN / a wrong number.
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxgan
from jaxgan import _checks
from jaxgan.errors import ArgumentError, ArgumentTypeError

F = jaxgan.fields
MINIMAX = jaxgan.pointwise_field("minimax", 0.2)
OUTSIDE = [1.5, 0.2]  # D > 1: log(1 - D) is NaN there
X64_HINT = 'jax.config.update("jax_enable_x64", True)'


# ----------------------------------------------------------------------------- 3. values


@pytest.mark.parametrize("pd, becomes", [(1e-300, "into 0"), (1e300, "into inf"), (1e-40, "into 0")])
def test_pd_that_the_working_float_cannot_hold_is_refused(pd, becomes):
    if jnp.result_type(float) != jnp.float32:
        pytest.skip("the float32 default")
    with pytest.raises(ArgumentError, match="float32") as err:
        jaxgan.pointwise_field("minimax", pd)
    assert becomes in str(err.value) and X64_HINT in str(err.value)


def test_tiny_pd_is_fine_in_float64(x64):
    f = jaxgan.pointwise_field("minimax", 1e-300)
    assert f.params["pd"].dtype == jnp.float64 and float(f.params["pd"]) == 1e-300


@pytest.mark.parametrize("lr", [1e-300, 1e300])
def test_lr_that_float32_cannot_hold_is_refused(lr):
    with pytest.raises(ArgumentError, match="lr.*float32"):
        jaxgan.simulate(MINIMAX, [0.4, 0.2], steps=2, lr=lr)


@pytest.mark.parametrize("true", [np.array(True), jnp.asarray(True), np.bool_(True)])
def test_booleans_are_not_numbers(true):
    with pytest.raises(ArgumentTypeError):
        jaxgan.pointwise_field("minimax", true)
    with pytest.raises(ArgumentTypeError):
        F.consensus(MINIMAX, true)
    with pytest.raises(ArgumentTypeError):
        MINIMAX.replace(pd=true)
    with pytest.raises(ArgumentTypeError):
        jaxgan.kernel_field("minimax", [0.5, 0.5], [true, true], np.eye(2))


def test_optimizer_hyperparameters():
    with pytest.raises(ArgumentTypeError, match="learning_rate"):
        jaxgan.Optimizer(optax.sgd, learning_rate=True)  # ran as learning_rate 1.0
    with pytest.raises(ArgumentError, match="float32"):
        jaxgan.Optimizer(optax.sgd, learning_rate=1e-300)  # ran as 0
    opt = jaxgan.Optimizer(optax.sgd, learning_rate=0.1, momentum=0.9, nesterov=True)  # a real flag
    assert opt.static == {"nesterov": True}


@pytest.mark.parametrize("kw, error, words", [
    (dict(pd=-1.0), ArgumentError, "positive"),
    (dict(pd=0.0), ArgumentError, "positive"),
    (dict(pd=math.nan), ArgumentError, "finite"),
    (dict(pd=math.inf), ArgumentError, "finite"),
    (dict(pd=True), ArgumentTypeError, "bool"),
    (dict(pd="0.3"), ArgumentTypeError, "number"),
    (dict(d0=0.3), ArgumentError, "derived"),
])
def test_replace_obeys_the_constructor(kw, error, words):
    with pytest.raises((ArgumentError, ArgumentTypeError), match=words) as err:
        MINIMAX.replace(**kw)
    assert isinstance(err.value, (error, ArgumentTypeError))


def test_replace_of_a_regularised_field_obeys_the_constructors():
    field = F.consensus(F.r1(F.dirac_gan(), 0.3), 1.0)
    with pytest.raises(ArgumentError, match="r1_gamma.*non-negative"):
        field.replace(r1_gamma=-0.1)
    with pytest.raises(ArgumentError, match="finite"):
        field.replace(consensus_gamma=math.nan)
    g = F.consensus(MINIMAX, 0.5)
    with pytest.raises(ArgumentError, match="derived"):
        g.replace(d0=0.4)
    with pytest.raises(ArgumentError, match="positive"):
        g.replace(pd=-0.2)
    assert float(g.replace(consensus_gamma=0.0, pd=0.3).params["pd"]) == pytest.approx(0.3)


def test_replace_still_takes_traced_and_batched_values():
    z = jnp.array([0.4, 0.2])
    traced = jax.jit(lambda f, w: f.replace(pd=w)(z))(MINIMAX, -1.0)  # traced: unchecked, as before
    assert traced.shape == (2,)
    batched = MINIMAX.replace(pd=jnp.array([0.1, 0.2, 0.3]))  # a concrete batch, as the sweeps build
    assert batched.params["pd"].shape == (3,)
    g = F.consensus(MINIMAX, 0.5)
    assert np.all(np.isfinite(np.asarray(g.velocity(g.params, z))))  # routes d0 internally


def test_kernel_field_replace_and_param_rules():
    f = jaxgan.kernel_field("minimax", [0.5, 0.5], [1.0, 1.0], np.eye(2))
    with pytest.raises(ArgumentError, match="positive"):
        f.replace(w=jnp.array([1.0, -1.0]))
    with pytest.raises(ArgumentError, match="derived"):
        f.replace(d0=0.2)
    with pytest.raises(ArgumentError, match="param_rules"):
        jaxgan.Field(lambda p, z: z, {"a": 1.0}, labels=("x",), param_rules={"a": "odd"})


def test_swept_values_obey_the_parameter_rule():
    with pytest.raises(ArgumentError, match="values.*positive"):
        jaxgan.stability.eigenvalues_over(MINIMAX, param="pd", values=[-0.1, 0.2])
    with pytest.raises(ArgumentError, match="values.*non-negative"):
        jaxgan.stability_region(F.consensus(MINIMAX, 0.1), lrs=[0.1], param="consensus_gamma", values=[-1.0])


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.integers(-2**70, 2**70)))
def test_check_scalar_never_changes_a_value(value):
    """Property: a value is refused with a jaxgan error, or kept (to the working float's precision)
    and never turned into 0, inf or NaN."""
    try:
        out = _checks.check_scalar("f", "x", value, sign="any")
    except (ArgumentError, ArgumentTypeError) as err:
        assert "`x`" in str(err)
        return
    got = float(out)
    assert math.isfinite(got) and (got == 0) == (value == 0)
    assert got == pytest.approx(float(value), rel=1e-6)


# ----------------------------------------------------------------------------- 4. limits


def test_steps_beyond_int32_refused_before_compiling():
    with pytest.raises(ArgumentError, match="steps.*2147483647"):
        jaxgan.simulate(MINIMAX, [0.4, 0.2], steps=2**31, lr=0.1)  # was an OverflowError inside JAX


def test_a_path_larger_than_memory_is_refused(monkeypatch):
    monkeypatch.setattr(_checks, "memory_limit", lambda: 10_000)
    with pytest.raises(ArgumentError, match="saved path.*save_every"):
        jaxgan.simulate(MINIMAX, [0.4, 0.2], steps=4096, lr=0.1)
    # The way out works: save fewer rows.
    assert jaxgan.simulate(MINIMAX, [0.4, 0.2], steps=4096, lr=0.1, save_every=1024).shape == (5, 2)


def test_kernel_and_network_larger_than_memory_are_refused(monkeypatch):
    init, apply = jaxgan.nets.mlp((1, 4, 1))
    params = init(jax.random.PRNGKey(0))
    x = jnp.linspace(-1, 1, 512)
    with pytest.raises(ArgumentError, match="memory_budget"):
        jaxgan.kernels.parametric_kernel(apply, params, x[:4], memory_budget=1e30)
    monkeypatch.setattr(_checks, "memory_limit", lambda: 2**20)
    with pytest.raises(ArgumentError, match="512×512 kernel.*kernel_vp"):
        jaxgan.kernels.parametric_kernel(apply, params, x, memory_budget=2**19)
    with pytest.raises(ArgumentError, match="MLP.*narrower"):
        jaxgan.nets.mlp((1, 1024, 1024, 1))[0](jax.random.PRNGKey(0))


# ----------------------------------------------------------------------------- 5. NaN, domain


def test_analyze_where_the_field_is_nan_says_where_and_why():
    # Was numpy's LinAlgError ("Array must not contain infs or NaNs").
    with pytest.raises(ArgumentError, match=r"analyze: the velocity .* at z = \[1.5 0.2\].*outside the field's domain"):
        jaxgan.analyze(MINIMAX, OUTSIDE)


def test_analyze_outside_the_domain_warns():
    with pytest.warns(jaxgan.stability.OutsideDomainWarning, match="outside the domain"):
        report = jaxgan.analyze(MINIMAX, [0.5, -0.1])  # pg < 0: finite, but no run goes there
    assert np.all(np.isfinite(report.velocity))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jaxgan.analyze(MINIMAX)  # the rest point: no warning


@pytest.mark.parametrize("call", [
    lambda: jaxgan.max_stable_lr(MINIMAX, OUTSIDE),
    lambda: jaxgan.max_stable_lr(MINIMAX, OUTSIDE, method="rk4"),
    lambda: jaxgan.stability_region(MINIMAX, OUTSIDE, lrs=[0.1, 0.2]),
    lambda: jaxgan.stability.step_spectral_radius(MINIMAX, OUTSIDE, lr=0.1),
    lambda: jaxgan.stability.eigenvalues_over(MINIMAX, [0.0, 0.2], param="pd", values=[0.1, 0.2]),
    lambda: jaxgan.lyapunov.quadratic(MINIMAX, OUTSIDE),
], ids=["max_stable_lr", "max_stable_lr-rk4", "stability_region", "step_spectral_radius", "eigenvalues_over",
        "quadratic"])
def test_nan_linearisations_are_explained(call):
    with pytest.raises(ArgumentError, match="not finite; likely cause: the point is outside"):
        call()


def test_solve_lyapunov_refuses_nan():
    with pytest.raises(ArgumentError, match="`a` must hold finite"):
        jaxgan.lyapunov.solve_lyapunov(np.full((2, 2), np.nan), np.eye(2))


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("lr_max, error", [(math.nan, ArgumentError), (-1.0, ArgumentError), (0.0, ArgumentError),
                                           (math.inf, ArgumentError), (True, ArgumentTypeError)])
def test_max_stable_lr_validates_lr_max(method, lr_max, error):
    # Was 0.0 (a wrong number) for "rk4" with NaN, and unchecked for "euler".
    with pytest.raises(error, match="lr_max"):
        jaxgan.max_stable_lr(MINIMAX, method=method, lr_max=lr_max)


def test_bools_refused_in_games_and_lyapunov_checks():
    import dataclasses

    game = jaxgan.games.get("minimax")
    with pytest.raises(ArgumentTypeError, match="d0"):
        dataclasses.replace(game, d0=True)  # was D0 = 1.0, outside (0, 1) only by luck
    with pytest.raises(ArgumentError, match="d_domain"):
        dataclasses.replace(game, d_domain=(False, 1.0))
    v = jaxgan.lyapunov.distance_squared(MINIMAX)
    with pytest.raises(ArgumentTypeError, match="exclude_radius"):
        jaxgan.lyapunov.check(MINIMAX, v, [0.1, 0.0], [0.9, 1.0], n=5, exclude_radius=True)
    with pytest.raises(ArgumentError, match="rtol"):
        jaxgan.lyapunov.check(MINIMAX, v, [0.1, 0.0], [0.9, 1.0], n=5, rtol=math.nan)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=3),
                 st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=3)))
def test_replace_either_refuses_or_keeps_a_valid_pd(value):
    """Property: `replace(pd=...)` raises a jaxgan error, or the field's `pd` is positive, finite
    and equal to the value (to float32 precision): never 0, inf, NaN or a bool turned into 1."""
    try:
        f = MINIMAX.replace(pd=value)
    except (ArgumentError, ArgumentTypeError) as err:
        assert "Field.replace argument `pd`" in str(err)
        return
    pd = np.asarray(f.params["pd"], dtype=np.float64)
    assert np.all(np.isfinite(pd)) and np.all(pd > 0)
    np.testing.assert_allclose(pd, np.asarray(value, dtype=np.float64), rtol=1e-6)


@pytest.mark.parametrize("value, dtype, ok", [(1e-300, np.float32, False), (1e-300, np.float64, True),
                                              (1e-320, np.float64, False), (3e38, np.float32, True),
                                              (4e38, np.float32, False), (0.0, np.float32, True)])
def test_check_float_in_the_dtype_it_is_used_in(value, dtype, ok):
    if ok:
        assert _checks.check_float("f", "x", value, sign="any", dtype=dtype) == value
    else:
        with pytest.raises(ArgumentError, match=np.dtype(dtype).name):
            _checks.check_float("f", "x", value, sign="any", dtype=dtype)


def test_dense_jacobians_larger_than_memory_are_refused(monkeypatch):
    monkeypatch.setattr(_checks, "memory_limit", lambda: 100)  # 4 copies of a 2×2 float64 need 128 B
    with pytest.raises(ArgumentError, match="dense 2×2 Jacobian.*arnoldi"):
        jaxgan.analyze(MINIMAX)
    with pytest.raises(ArgumentError, match="dense"):
        jaxgan.stability.field_eigenvalues(MINIMAX)


def test_field_eigenvalues_where_the_field_is_nan():
    with pytest.raises(ArgumentError, match="field_eigenvalues.*outside the field's domain"):
        jaxgan.stability.field_eigenvalues(MINIMAX, OUTSIDE)  # was numpy's LinAlgError


def test_a_tiny_matrix_entry_is_rounding_not_a_changed_parameter():
    k = np.array([[1.0, 1e-40], [1e-40, 1.0]])  # a subnormal in float32: kernels have such tails
    assert _checks.check_matrix("f", "K", k)[0, 1] == 1e-40
    jaxgan.kernel_field("minimax", [0.5, 0.5], [1.0, 1.0], k).replace(K_D=k)
    with pytest.raises(ArgumentError, match="inf"):
        _checks.check_matrix("f", "K", k * 1e79)
