"""A seed's training run does not depend on the other seeds of the call; runs too large for memory
are refused up front.

Tiny networks (one hidden layer of 4 units, dropout in D so that the dropout masks are drawn too),
a handful of updates: the two calls compile two small programs (seed 1 alone, then seeds 2, 1, 0:
another number of seeds, seed 1 in another place of the batch), and a child process a third (two
devices, seeds 0, 1).
"""

import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxgan import neural
from jaxgan.errors import ArgumentError, ArgumentTypeError
from jaxgan.neural import step

_GAN = neural.GAN(discriminator=neural.Net((4,), dropout=0.25), generator=neural.Net((4,)), latent_dim=2,
                  batch_size=8)
_RUN = dict(steps=6, measure_every=3, n_eval=8, n_grid=4, n_bins=4, krylov=2, fast_compile=True)
_SEED_SETS = ([1], [2, 1, 0])


@pytest.fixture(scope="module")
def runs():
    return {tuple(s): neural.train(_GAN, s, **_RUN) for s in _SEED_SETS}


def _seed_run(r, seed):
    """Every per-seed array of `r` for `seed`: logs, parameters, fates, final state."""
    i = list(r.seeds).index(seed)
    out = {f"log_{k}": v[i] for k, v in r.logs.items()}
    out.update(theta0=r.theta0[i], theta_end=r.theta_end[i], fate=r.fate[i], fate_step=r.fate_step[i])
    for j, leaf in enumerate(jax.tree_util.tree_leaves(r.final)):
        out[f"final_{j}"] = np.asarray(leaf)[i]
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_a_seed_runs_the_same_alone_or_beside_others(runs):
    alone = _seed_run(runs[(1,)], 1)
    assert np.isfinite(alone["log_w1"]).all() and not np.array_equal(alone["theta0"], alone["theta_end"])
    for seeds in _SEED_SETS[1:]:
        _assert_same(alone, _seed_run(runs[tuple(seeds)], 1))
    # Seeds 0 and 2 are runs of their own, not copies of seed 1's or of each other's.
    three = runs[(2, 1, 0)]
    assert not np.array_equal(alone["theta_end"], _seed_run(three, 0)["theta_end"])
    assert not np.array_equal(alone["theta_end"], _seed_run(three, 2)["theta_end"])
    assert not np.array_equal(_seed_run(three, 0)["log_w1"], _seed_run(three, 2)["log_w1"])


def test_the_key_of_seed_s_is_jax_random_key_s():
    keys = step.seed_keys(np.array([0, 1, 2**32 - 1]))
    for k, s in zip(keys, (0, 1, 2**32 - 1)):
        np.testing.assert_array_equal(jax.random.key_data(k), jax.random.key_data(jax.random.key(s)))


_CHILD = """
import sys, numpy as np, jax
sys.path.insert(0, {tests!r})
import test_neural_seeds as t
from jaxgan import neural
assert jax.device_count() == 2, jax.devices()
r = neural.train(t._GAN, [0, 1], **t._RUN)
assert len(jax.tree_util.tree_leaves(r.final)[0].sharding.device_set) == 2  # the seeds were split
np.savez({out!r}, **t._seed_run(r, 1))
"""


def test_a_seed_runs_the_same_with_two_devices(runs, tmp_path):
    """In a process with two (host) devices the two seeds are split over them; seed 1's run is the
    one of a single-device process."""
    out = tmp_path / "seed1.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    code = _CHILD.format(tests=os.path.dirname(__file__), out=str(out))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as f:
        _assert_same(_seed_run(runs[(1,)], 1), dict(f))


@pytest.mark.parametrize("kw, exc, match", [
    (dict(seeds=10**9), ArgumentError, r"train: training 1000000000 seeds \(.* each.*\) would need about .*TiB.*"
                                       r"of memory.*; train fewer seeds"),
    (dict(seeds=2, steps=10**8, measure_every=1), ArgumentError, "100000001 checkpoints.*larger `measure_every`"),
    (dict(seeds=2**33), ArgumentError, r"`seeds` must be an integer in \[1, 4294967296\]"),
    (dict(seeds=[0, -1]), ArgumentError, r"`seeds` must be ints in \[0, 2\*\*32\).*got -1"),
    (dict(seeds=[2**32]), ArgumentError, r"`seeds` must be ints in \[0, 2\*\*32\).*got 4294967296"),
    (dict(seeds=True), ArgumentTypeError, "`seeds`"),
    (dict(seeds=2, steps=2**31, measure_every=2**30), ArgumentError, r"`steps` must be an integer in \[1, "),
])
def test_runs_that_cannot_be_held_are_refused_up_front(kw, exc, match):
    t0 = time.perf_counter()
    with pytest.raises(exc, match=match):
        neural.train(_GAN, **kw)
    assert time.perf_counter() - t0 < 5.0  # nothing was allocated or compiled


def test_networks_too_wide_for_memory_are_refused():
    wide = neural.GAN(discriminator=neural.Net((10**5, 10**5)))
    with pytest.raises(ArgumentError, match=r"2 seeds \(.*GiB each: 100\d+ parameters.*smaller networks"):
        neural.train(wide, seeds=2)
