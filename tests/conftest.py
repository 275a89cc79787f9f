import os
import shutil
import tempfile

import jax
import pytest

# Tests never show figures.
os.environ.setdefault("MPLBACKEND", "Agg")

# `jaxgan` commands run as child processes keep their persistent compilation cache (on by default in
# the CLI, `jaxgan.cli._cache`) in a fresh temporary folder for the test session: programs that
# several children compile are compiled once, and nothing is read from or written to the user's
# own cache. This process is unaffected (it never turns the cache on; tests here count compiles); a
# test that needs another setting passes its own environment.
_CHILD_CACHE = tempfile.mkdtemp(prefix="jaxgan-test-cache-")
os.environ["JAXGAN_CACHE_DIR"] = _CHILD_CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_CHILD_CACHE, ignore_errors=True)


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
