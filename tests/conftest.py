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
