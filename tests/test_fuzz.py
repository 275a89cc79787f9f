"""A fuzz suite of the public API and the CLI: random types, shapes, magnitudes, NaN / inf and names.

The contract: every call ends in a `jaxgan.JaxganError` with a message naming the argument, or in a
finite, documented result; never another exception, a hang or a silent NaN. By default each property
tries 40 inputs (seconds); `JAXGAN_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py` runs a longer
search.
"""

import math
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import jaxgan  # noqa: E402
from jaxgan import cli  # noqa: E402
from jaxgan.errors import JaxganError  # noqa: E402

# Applied to each property (not loaded as a global profile, so the other hypothesis tests keep theirs).
# The default run is derandomised (the same inputs every time: CI never flickers); a longer run
# (JAXGAN_FUZZ_EXAMPLES=N) searches afresh.
_LONG = os.environ.get("JAXGAN_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(_LONG or 40), deadline=None, derandomize=_LONG is None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# What a user might pass where a number is expected.
ODD_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.sampled_from([0.0, -0.0, 1e-320, 1e300, -1e300, math.inf, -math.inf, math.nan, 1e38, 3.5e38]),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=3),
)
NAMES = st.one_of(st.sampled_from(jaxgan.games.names()), st.text(max_size=12), st.integers(), st.none())
MINIMAX = jaxgan.pointwise_field("minimax", 0.2)


def _finite_tree(x) -> bool:
    import jax

    return all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree_util.tree_leaves(x))


def _holds(call):
    """Run `call`: a JaxganError is fine (its message must name an argument); anything else
    raised is a failure of the contract; the result is returned."""
    try:
        return call(), None
    except JaxganError as exc:
        msg = str(exc)
        assert msg and ("argument" in msg or "`" in msg or ":" in msg), msg
        return None, exc


@FUZZ
@given(game=NAMES, pd=ODD_NUMBERS)
def test_pointwise_field(game, pd):
    field, err = _holds(lambda: jaxgan.pointwise_field(game, pd))
    if err is None:
        assert _finite_tree(field.params) and float(field.params["pd"]) > 0, field


@FUZZ
@given(z=st.lists(ODD_NUMBERS, min_size=0, max_size=3))
def test_analyze_at_any_point(z):
    rep, err = _holds(lambda: jaxgan.analyze(MINIMAX, z))
    if err is None:
        assert np.all(np.isfinite(rep.eigenvalues)) and np.all(np.isfinite(rep.jacobian)), rep


@FUZZ
@given(lr=ODD_NUMBERS, steps=st.sampled_from([1, 10, 0, -1, 2.5, True, "10", 2 ** 40]),
       method=st.sampled_from(["euler", "alternating", "rk4", "leapfrog", None, 3]))
def test_simulate(lr, steps, method):
    run, err = _holds(lambda: jaxgan.simulate(MINIMAX, [0.75, 0.9], steps=steps, lr=lr, method=method, warn=False))
    if err is None:
        assert np.all(np.isfinite(np.asarray(run.path))), run  # a run is frozen, never NaN
        assert run.fate in tuple(jaxgan.Fate)


@FUZZ
@given(method=st.sampled_from(["euler", "alternating", "rk4", "extragradient", "optimistic", "nope"]),
       lr=ODD_NUMBERS)
def test_step_spectral_radius(method, lr):
    rho, err = _holds(lambda: jaxgan.step_spectral_radius(MINIMAX, method=method, lr=lr))
    if err is None:
        assert math.isfinite(rho) and rho >= 0


@FUZZ
@given(lr_max=ODD_NUMBERS)
def test_max_stable_lr(lr_max):
    lr, err = _holds(lambda: jaxgan.max_stable_lr(MINIMAX, method="alternating", lr_max=lr_max))
    if err is None:
        assert lr >= 0 and not math.isnan(lr)


@FUZZ
@given(gamma=ODD_NUMBERS, kind=st.sampled_from(["r1", "r2", "wgan_gp", "consensus", "sga", "instance_noise"]))
def test_regularisers(gamma, kind):
    f, err = _holds(lambda: getattr(jaxgan.fields, kind)(jaxgan.fields.dirac_gan(), gamma))
    if err is None:
        assert _finite_tree(f.params) and all(float(v) >= 0 for v in f.params.values())


@FUZZ
@given(d=st.tuples(ODD_NUMBERS, ODD_NUMBERS, ODD_NUMBERS), pg=st.tuples(ODD_NUMBERS, ODD_NUMBERS, ODD_NUMBERS))
def test_basins_ranges_refused_before_compiling(d, pg):
    # Only inputs that the checks refuse are tried here (a valid grid would compile a sweep).
    from jaxgan._checks import check_grid_range

    try:
        check_grid_range("basins", "d_range", d)
        check_grid_range("basins", "pg_range", pg)
    except JaxganError:
        _, err = _holds(lambda: jaxgan.basins(MINIMAX, d, pg, steps=10, lr=0.1))
        assert err is not None


@FUZZ
@given(hp=ODD_NUMBERS)
def test_optimizer_hyperparameters(hp):
    import optax

    opt, err = _holds(lambda: jaxgan.Optimizer(optax.sgd, learning_rate=hp))
    if err is None:
        assert all(math.isfinite(v) for v in opt.hyperparams.values())


CLI_WORDS = st.sampled_from(["games", "stability", "minimax", "wasserstein", "nope", "--pd", "0.2", "-1", "nan",
                             "inf", "1e-300", "--json", "--x64", "x", "--steps", "0", "3", "--lr", "--help-me"])


@FUZZ
@given(argv=st.lists(CLI_WORDS, min_size=0, max_size=5))
def test_cli_never_crashes(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse: usage errors and --help
        code = exc.code
    out = capsys.readouterr()
    assert code in (0, 2), (argv, code, out.err)
    if code == 2:
        assert out.err.count("\n") <= 2 and "Traceback" not in out.err, out.err


BOUNDS = st.one_of(st.none(), st.lists(ODD_NUMBERS, min_size=0, max_size=3))


@FUZZ
@given(lower=BOUNDS, upper=BOUNDS, rest=BOUNDS, name=st.one_of(st.text(max_size=4), st.integers(), st.none()))
def test_field_constructor(lower, upper, rest, name):
    field, err = _holds(lambda: jaxgan.Field(lambda p, z: -z, {}, rest_point=rest, lower=lower, upper=upper,
                                             name=name))
    if err is None:
        assert field.dim >= 1 and all(lo < hi for lo, hi in zip(field.lower, field.upper)), field


@FUZZ
@given(x=st.one_of(st.lists(ODD_NUMBERS, max_size=4), st.lists(st.lists(st.floats(width=32), min_size=1,
                                                                         max_size=2), max_size=3)),
       algorithm=st.sampled_from(["auto", "structured", "jacobian", "jacfwd", "fast", None]))
def test_parametric_kernel_inputs(x, algorithm):
    init, apply = _small_mlp()
    k, err = _holds(lambda: jaxgan.kernels.parametric_kernel(apply, init, x, algorithm=algorithm))
    if err is None:
        assert np.all(np.isfinite(np.asarray(k))) and np.asarray(k).shape[0] == np.asarray(k).shape[1]


_MLP = []


def _small_mlp():
    # One tiny network for every example (its kernel compiles once per shape).
    if not _MLP:
        import jax

        init, apply = jaxgan.nets.mlp((1, 4, 1), "tanh")
        _MLP.append((init(jax.random.PRNGKey(0)), apply))
    return _MLP[0]


@FUZZ
@given(images=st.one_of(ODD_NUMBERS, st.lists(st.lists(st.lists(st.floats(width=32), min_size=1, max_size=3),
                                                        min_size=1, max_size=3), max_size=4)),
       shape=st.lists(st.integers(0, 4), min_size=0, max_size=5), rows=st.integers(-1, 4) | ODD_NUMBERS,
       cols=st.integers(1, 4))
@hypothesis.example(images="", shape=[2, 3, 3], rows=1, cols=1)  # text
@hypothesis.example(images=[[[1.0], [1.0, 2.0]]], shape=[2, 3, 3, 1], rows=2, cols=1)  # ragged
def test_image_mosaic_inputs(images, shape, rows, cols):
    # Nested lists (ragged or not), odd scalars, and arrays of any small shape.
    for arg in (images, np.zeros(shape)):
        out, err = _holds(lambda: jaxgan.plotting.image_mosaic(arg, rows, cols))
        if err is None:
            a = np.asarray(arg, np.float64)
            h, w = a.shape[1:3]
            assert out.shape == (rows * (h + 2), cols * (w + 2))
            assert np.all((out >= -1) & (out <= 1)) or np.isnan(a).any()


_WHOLE = []


def _whole_basins():
    # 144 starts run as one chunk of 256, one program: CONVERGED, LEFT_DOMAIN (replayed) and UNDECIDED.
    if not _WHOLE:
        _WHOLE.append(jaxgan.basins(MINIMAX, (0.01, 0.99, 12), (0.01, 2.0, 12), steps=128, lr=0.05, chunk=256,
                                    check_every=16))
    return _WHOLE[0]


@settings(FUZZ, max_examples=int(_LONG or 5))  # each example compiles a kernel for its part's shape
@given(cores=st.integers(1, 6), min_part=st.integers(1, 48), chunk=st.integers(5, 150))
def test_a_sweep_split_over_host_threads_any_way_is_the_sweep(cores, min_part, chunk):
    """However a sweep on one CPU device is cut (chunks of any size, the last one short; parts of a
    chunk rounded up to the threads; more chunks in flight than two), its numbers are the same."""
    from jaxgan.sweeps import runner

    whole = _whole_basins()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_host_cores", lambda: cores)
        mp.setattr(runner, "_MIN_PART", min_part)
        r = jaxgan.basins(MINIMAX, (0.01, 0.99, 12), (0.01, 2.0, 12), steps=128, lr=0.05, chunk=chunk,
                          check_every=16)
    assert len(set(np.unique(whole.fate).tolist())) == 3
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(r, name), getattr(whole, name))
