"""The conventions of ARCHITECTURE.md that every module shares: one exception family, one
`progress` argument, one calling convention, one result type for `simulate`."""

import math

import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import fields as F
from jaxgan.errors import ArgumentError, ArgumentTypeError, JaxganError
from jaxgan.progress import ProgressEvent, reporter

MINIMAX = jaxgan.pointwise_field("minimax", 0.2)

# One bad call per module: each must raise a jaxgan error (also a ValueError / TypeError) that names
# the function and the argument, before anything is compiled.
BAD_CALLS = [
    ("pointwise_field", lambda: jaxgan.pointwise_field("minimax", -1.0), ArgumentError, "pd"),
    ("games.get", lambda: jaxgan.games.get("no_such_game"), ArgumentError, "no_such_game"),
    ("r1", lambda: F.r1(F.dirac_gan(), -1.0), ArgumentError, "gamma"),
    ("simulate steps", lambda: jaxgan.simulate(MINIMAX, [0.5, 0.5], steps=1.5, lr=0.1), ArgumentTypeError, "steps"),
    ("simulate lr", lambda: jaxgan.simulate(MINIMAX, [0.5, 0.5], steps=10, lr=-0.1), ArgumentError, "simulate argument `lr`"),
    ("simulate method", lambda: jaxgan.simulate(MINIMAX, [0.5, 0.5], steps=10, lr=0.1, method="leap"),
     ArgumentError, "simulate argument `method`"),
    ("simulate z", lambda: jaxgan.simulate(MINIMAX, [0.5, 0.5, 0.5], steps=10, lr=0.1), ArgumentError, "`z`"),
    ("analyze", lambda: jaxgan.analyze("minimax"), ArgumentTypeError, "analyze argument `field`"),
    ("max_stable_lr", lambda: jaxgan.max_stable_lr(MINIMAX, method=optax.sgd(0.1)), ArgumentError, "method"),
    ("stability_region", lambda: jaxgan.stability_region(MINIMAX, lrs=[]), ArgumentError, "lrs"),
    ("lyapunov.check", lambda: jaxgan.lyapunov.check(MINIMAX, 3.0, [0, 0], [1, 1]), ArgumentTypeError, "V"),
    ("basins", lambda: jaxgan.basins(MINIMAX, (0.1, 0.9, 4), "x", steps=10, lr=0.1), ArgumentTypeError,
     "pg_range"),
    ("kernels", lambda: jaxgan.kernels.parametric_kernel(lambda p, x: x[0], {}, np.zeros((3, 1)), algorithm="fast"),
     ArgumentError, "algorithm"),
    ("plotting", lambda: jaxgan.plotting.phase_portrait(MINIMAX, d_range=(0.9, 0.1)), ArgumentError, "d_range"),
    ("Optimizer", lambda: jaxgan.Optimizer(optax.sgd, learning_rate=math.inf), ArgumentError, "learning_rate"),
    ("progress", lambda: reporter("basins", "yes", "basins", 3), ArgumentTypeError, "progress"),
]


@pytest.mark.parametrize("name, call, cls, needle", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_the_jaxgan_family(name, call, cls, needle):
    with pytest.raises(cls) as info:
        call()
    assert isinstance(info.value, JaxganError)
    assert isinstance(info.value, ValueError if issubclass(cls, ValueError) else TypeError)
    assert needle in str(info.value), str(info.value)


def test_the_family_refines_the_builtins():
    assert issubclass(jaxgan.ArgumentError, ValueError) and issubclass(jaxgan.ArgumentTypeError, TypeError)
    assert issubclass(jaxgan.StoreError, ValueError)
    assert not issubclass(jaxgan.ArgumentError, TypeError)


def test_the_rule_goes_by_keyword():
    # The old positional form `step_spectral_radius(field, "euler", lr)` is refused with the hint.
    with pytest.raises(ArgumentTypeError, match=r"update rule is a keyword argument: max_stable_lr\(field, method="):
        jaxgan.max_stable_lr(MINIMAX, "alternating")
    with pytest.raises(TypeError):
        jaxgan.step_spectral_radius(MINIMAX, None, "euler", 0.1)  # only field and z are positional
    assert jaxgan.step_spectral_radius(MINIMAX, method="euler", lr=0.1) == pytest.approx(
        jaxgan.step_spectral_radius(MINIMAX, MINIMAX.rest_point, method="euler", lr=0.1))


def test_simulate_returns_one_trajectory_type():
    run = jaxgan.simulate(MINIMAX, [0.75, 0.9], steps=40, lr=0.05, save_every=10)
    assert isinstance(run, jaxgan.Trajectory)
    assert run.path.shape == (5, 2) and run.shape == (5, 2) and len(run) == 5
    np.testing.assert_array_equal(run.steps, [0, 10, 20, 30, 40])
    assert run.fate == jaxgan.Fate.UNDECIDED and run.exit_step == -1 and not run.stopped
    np.testing.assert_array_equal(np.asarray(run), np.asarray(run.path))
    np.testing.assert_array_equal(run[-1], run.final)
    assert run.method == "euler" and run.lr == 0.05 and run.field_name == "minimax"
    stopped = jaxgan.simulate(MINIMAX, [0.98, 1.5], steps=200, lr=0.05, warn=False)
    assert stopped.stopped and stopped.fate == jaxgan.Fate.LEFT_DOMAIN and 0 <= stopped.exit_step < 200
    with pytest.raises(AttributeError):
        stopped.fate = jaxgan.Fate.CONVERGED  # frozen


def test_progress_true_false_and_callable(capsys):
    events = []
    report = reporter("f", events.append, "task", 2)
    report(1, "first")
    report(2)
    assert events == [ProgressEvent("task", 1, 2, "first"), ProgressEvent("task", 2, 2, "")]
    assert str(events[0]) == "task: 1/2 first" and events[1].fraction == 1.0
    reporter("f", False, "task", 2)(1, "silent")
    reporter("f", None, "task", 2)(1, "silent")
    assert capsys.readouterr().err == ""
    bar = reporter("f", True, "task", 2)
    bar(1, "half")
    bar(2, "done")
    err = capsys.readouterr().err
    assert "task:" in err and "| 2/2 [" in err and err.endswith("done]\n")  # a tqdm bar, closed at the end


def test_register_rule_makes_a_name_work_everywhere():
    from jaxgan.dynamics import UpdateRule, register_rule, rule_names

    def heun(field, z, state, lr):
        k1 = field(z)
        return z + 0.5 * lr * (k1 + field(z + lr * k1)), state

    rule = register_rule(UpdateRule(lambda field, z0: (), heun, "heun_test", stages=True))
    assert "heun_test" in rule_names()
    a = jaxgan.simulate(MINIMAX, [0.75, 0.9], steps=20, lr=0.05, method="heun_test").final
    b = jaxgan.simulate(MINIMAX, [0.75, 0.9], steps=20, lr=0.05, method=rule).final
    np.testing.assert_array_equal(a, b)
    # Heun on a linearisation: |1 + hλ + (hλ)²/2| < 1; its bound is between Euler's (0.4) and RK4's.
    assert 0.4 < jaxgan.max_stable_lr(MINIMAX, method="heun_test") < jaxgan.max_stable_lr(MINIMAX, method="rk4")
    with pytest.raises(ArgumentError, match="built-in"):
        register_rule(UpdateRule(lambda f, z: (), heun, "euler"))


# ----------------------------------------------------------------------------- the test processes' XLA options
# (tests/conftest.py): the suite compiles with cheaper XLA options; a test marked `xla_defaults` runs in a
# child pytest under the caller's own XLA_FLAGS. Both halves are checked, so that a marked test can never
# pass by running under the cheaper options.

_OPTIONS = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=0")


def test_the_test_processes_compile_with_the_cheaper_options():
    import os

    flags = os.environ.get("XLA_FLAGS", "").split()
    if os.environ.get("JAXGAN_TEST_XLA_CHILD") or os.environ.get("JAXGAN_TEST_XLA_DEFAULTS", "") not in ("", "0"):
        assert not set(_OPTIONS) & set(flags), flags
    else:
        assert set(_OPTIONS) <= set(flags), flags
        assert os.environ["JAXGAN_TEST_XLA_FLAGS"].split() == list(_OPTIONS)


@pytest.mark.xla_defaults
def test_a_marked_test_runs_under_the_callers_own_xla_flags():
    import os

    flags = os.environ.get("XLA_FLAGS", "").split()
    assert not set(_OPTIONS) & set(flags), flags
    assert flags == os.environ["JAXGAN_TEST_USER_XLA_FLAGS"].split()
    assert os.environ["JAXGAN_TEST_XLA_FLAGS"] == ""
