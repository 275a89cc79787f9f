import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

# One cache folder for the whole test run, made by its first process (pytest, or pytest-xdist's controller)
# and inherited by the workers, the notebook kernels and the `jaxgan` commands run as child processes
# (`JAXGAN_CACHE_DIR`): the commands' persistent compilation cache (on by default in the CLI,
# `jaxgan.cli._cache`), so that programs several children compile are compiled once, and the digit
# classifier (`jaxgan.neural.quality`), trained once per run. The test processes themselves run without
# JAX's persistent cache, and never with the user's (a JAX_COMPILATION_CACHE_DIR of theirs is dropped):
# tests here count compiles. (Sharing JAX's cache between the workers and kernels as well, for programs
# that took a second or more to compile, made no measurable difference to the suite's time.)
if "JAXGAN_TEST_RUN_CACHE" not in os.environ:
    os.environ["JAXGAN_TEST_RUN_CACHE"] = tempfile.mkdtemp(prefix="jaxgan-test-cache-")
    _OWNER = True
else:
    _OWNER = False
_RUN_CACHE = os.environ["JAXGAN_TEST_RUN_CACHE"]
os.environ["JAXGAN_CACHE_DIR"] = _RUN_CACHE
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)

# XLA:CPU options of the test processes (workers, notebook kernels, the commands and scripts they start):
# the legacy elemental emitters in place of the fusion emitters, and backend optimisation level 0, which
# together take about a third off the suite's time (517 -> 347 s back to back on 2 cores), nearly all of it
# compiling (benchmarks/RESULTS.md, "the test suite in session 14"). They change how XLA generates code, not what jaxgan computes: every
# assertion with a tolerance holds under either. What they do change is the last bit of a number computed
# by two differently shaped programs (a seed alone or in a batch, a start in `basins` or in `simulate`),
# so the tests of those bit-for-bit guarantees, which hold under XLA's defaults (what a user runs), are
# marked `xla_defaults` and run in a child pytest with the caller's own XLA_FLAGS
# (`_run_under_xla_defaults`). `JAXGAN_TEST_XLA_DEFAULTS=1` runs the whole suite under XLA's defaults.
TEST_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
_XLA_DEFAULTS = os.environ.get("JAXGAN_TEST_XLA_DEFAULTS", "") not in ("", "0")
if "JAXGAN_TEST_USER_XLA_FLAGS" not in os.environ:  # the first process: remember the caller's own flags
    os.environ["JAXGAN_TEST_USER_XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    os.environ["JAXGAN_TEST_XLA_FLAGS"] = "" if _XLA_DEFAULTS else TEST_XLA_FLAGS
    os.environ["XLA_FLAGS"] = " ".join(f for f in (os.environ["JAXGAN_TEST_USER_XLA_FLAGS"],
                                                   os.environ["JAXGAN_TEST_XLA_FLAGS"]) if f)

import jax  # noqa: E402  (after the environment above: JAX reads it on import)
import pytest  # noqa: E402

# Tests never show figures.
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_unconfigure(config):
    if _OWNER:
        shutil.rmtree(_RUN_CACHE, ignore_errors=True)


@pytest.fixture
def x64():
    """Run a test with float64 enabled, restoring the previous setting afterwards."""
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)


# The files that take longest, longest first, and the quickest, last (CPU seconds of each file alone on a
# 2-core machine: benchmarks/RESULTS.md, "issue 13 — suite and table time, session 11"). pytest-xdist hands
# whole files to the workers (`--dist loadfile`) in the order they are collected (`--no-loadscope-reorder`,
# pyproject.toml): the long files start at once and the short ones fill in at the end, so that neither worker
# sits idle while the other finishes a long file. Files named in neither list (new ones) run in between, in
# their own order; a file's tests keep theirs.
LONGEST_FIRST = ("test_notebooks.py", "test_any_gan.py", "test_neural.py", "test_sweeps.py",
                 "test_kernels.py", "test_regularised.py", "test_networks.py", "test_neural_seeds.py",
                 "test_sweeps_store.py", "test_kernel_choice.py", "test_sweeps_slow.py", "test_plotting_cli.py",
                 "test_eigen.py")
SHORTEST_LAST = ("test_games.py", "test_stability.py", "test_dynamics.py", "test_fates.py", "test_fuzz.py",
                 "test_lyapunov.py", "test_fields.py", "test_nets.py", "test_conventions.py", "test_progress.py",
                 "test_docs.py", "test_architecture.py")


def pytest_collection_modifyitems(config, items):
    first = {name: i for i, name in enumerate(LONGEST_FIRST)}
    last = {name: i for i, name in enumerate(SHORTEST_LAST, start=len(first) + 1)}
    middle = len(first)
    items.sort(key=lambda item: first.get(item.path.name, last.get(item.path.name, middle)))  # a stable sort


# ----------------------------------------------------------------------------- tests under XLA's defaults


def pytest_configure(config):
    config.addinivalue_line("markers", "xla_defaults: a bit-for-bit guarantee of XLA's default code generation, "
                                       "or a run long enough that XLA's default code pays for its compile: run "
                                       "in a child pytest without the test processes' XLA options "
                                       "(tests/conftest.py)")


_CHILD_RESULTS: dict = {}  # nodeid -> (outcome, message) of the marked tests already run in a child


def _run_under_xla_defaults(item) -> tuple[str, str]:
    """Run every `xla_defaults` test of `item`'s file that this session selected in one child pytest, with
    the caller's own XLA_FLAGS; returns `item`'s (outcome, message): "passed", "failed" or "skipped"."""
    if item.nodeid not in _CHILD_RESULTS:
        ids = [i.nodeid for i in item.session.items
               if i.path == item.path and i.get_closest_marker("xla_defaults") is not None]
        report = os.path.join(tempfile.mkdtemp(prefix="xla-defaults-", dir=_RUN_CACHE), "report.xml")
        env = dict(os.environ, XLA_FLAGS=os.environ["JAXGAN_TEST_USER_XLA_FLAGS"], JAXGAN_TEST_XLA_FLAGS="",
                   JAXGAN_TEST_XLA_CHILD="1")
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                               f"--junitxml={report}", "--rootdir", str(item.config.rootpath), *ids],
                              cwd=str(item.config.rootpath), env=env, capture_output=True, text=True, timeout=900)
        cases = {}
        if os.path.exists(report):
            for case in ElementTree.parse(report).getroot().iter("testcase"):
                name = case.get("name")
                for kind in ("failure", "error", "skipped"):
                    found = case.find(kind)
                    if found is not None:
                        outcome = "skipped" if kind == "skipped" else "failed"
                        cases[name] = (outcome, (found.get("message") or "") + "\n" + (found.text or ""))
                        break
                else:
                    cases[name] = ("passed", "")
        tail = (done.stdout + done.stderr)[-3000:]
        for nodeid in ids:
            name = nodeid.split("::", 1)[1]
            _CHILD_RESULTS[nodeid] = cases.get(name, ("failed", f"the child pytest (exit {done.returncode}) did not "
                                                               f"report this test:\n{tail}"))
    return _CHILD_RESULTS[item.nodeid]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if item.get_closest_marker("xla_defaults") is None or os.environ.get("JAXGAN_TEST_XLA_CHILD") or _XLA_DEFAULTS:
        return None  # the usual protocol: here, this process already runs under XLA's defaults
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)

    def call():
        outcome, message = _run_under_xla_defaults(item)
        if outcome == "failed":
            pytest.fail(f"under XLA's defaults, in a child pytest:\n{message}", pytrace=False)
        if outcome == "skipped":
            pytest.skip(message.strip().splitlines()[0] if message.strip() else "skipped in the child pytest")

    def teardown():  # what the tests before this one set up and the next one does not need (as pytest's own)
        item.session._setupstate.teardown_exact(nextitem)

    for when, fn in (("setup", lambda: None), ("call", call), ("teardown", teardown)):
        info = pytest.CallInfo.from_call(fn, when=when)
        report = ihook.pytest_runtest_makereport(item=item, call=info)
        ihook.pytest_runtest_logreport(report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
