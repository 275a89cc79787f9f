import os
import shutil
import tempfile

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
