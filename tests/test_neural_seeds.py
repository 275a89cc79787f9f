"""A seed's training run does not depend on the other seeds of the call; runs too large for memory
are refused up front.

Tiny networks (one hidden layer of 4 units, dropout in D so that the dropout masks are drawn too),
a handful of updates. Two programs: seed 1 alone in this process, and seeds 2, 1, 0, 3 in a child
process with two (host) devices, which splits them over the devices, two each: another number of
seeds, seed 1 in another place of its batch, and another device. (One program per process: the
number of seeds, the place and the devices are varied in one run, where a single-device run of three
seeds was a third program.)
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
_BESIDE = [2, 1, 0, 3]  # on two devices: [2, 1] on the first, [0, 3] on the second


@pytest.fixture(scope="module")
def alone(started):
    """Seed 1 trained alone, in this (single-device) process (while the child trains the others)."""
    return _seed_run(neural.train(_GAN, [1], **_RUN), 1)


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


_CHILD = """
import sys, numpy as np, jax
sys.path.insert(0, {tests!r})
import test_neural_seeds as t
from jaxgan import neural
assert jax.device_count() == 2, jax.devices()
r = neural.train(t._GAN, t._BESIDE, **t._RUN)
leaf = jax.tree_util.tree_leaves(r.final)[0]
assert len(leaf.sharding.device_set) == 2  # the seeds were split over the devices
assert [s.data.shape[0] for s in leaf.addressable_shards] == [2, 2]
np.savez({out!r}, **{{f"s{{s}}_{{k}}": v for s in t._BESIDE for k, v in t._seed_run(r, s).items()}})
"""


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The child process that trains seeds 2, 1, 0, 3 together on two (host) devices, started first so that
    it runs while this process trains seed 1 alone: `(its output file, the process)`."""
    out = tmp_path_factory.mktemp("seeds") / "beside.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    code = _CHILD.format(tests=os.path.dirname(__file__), out=str(out))
    err = out.with_suffix(".stderr")  # a file, not a pipe: a full pipe would stall the child while we train
    with open(err, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=fh)
    try:
        yield out, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def beside(started):
    """`{seed: its run}` of seeds 2, 1, 0, 3 trained together in a child process with two (host)
    devices, the seeds split over them."""
    out, proc = started
    proc.wait(timeout=600)
    assert proc.returncode == 0, out.with_suffix(".stderr").read_text()[-3000:]
    with np.load(out) as f:
        flat = dict(f)
    return {s: {k[len(f"s{s}_"):]: v for k, v in flat.items() if k.startswith(f"s{s}_")} for s in _BESIDE}


@pytest.mark.xla_defaults
def test_a_seed_runs_the_same_alone_or_beside_others_on_two_devices(alone, beside):
    """Seed 1 alone in a single-device process is seed 1 beside three other seeds, second in the batch,
    in a process whose two devices take two seeds each — bit for bit, every log, parameter and state."""
    assert np.isfinite(alone["log_w1"]).all() and not np.array_equal(alone["theta0"], alone["theta_end"])
    _assert_same(alone, beside[1])


@pytest.mark.xla_defaults
def test_the_other_seeds_are_runs_of_their_own(alone, beside):
    """Seeds 0, 2 and 3 are runs of their own, not copies of seed 1's or of each other's."""
    for s in (0, 2, 3):
        assert not np.array_equal(alone["theta0"], beside[s]["theta0"]), s
        assert not np.array_equal(alone["theta_end"], beside[s]["theta_end"]), s
    assert not np.array_equal(beside[0]["log_w1"], beside[2]["log_w1"])
    assert not np.array_equal(beside[0]["theta_end"], beside[3]["theta_end"])


def test_the_key_of_seed_s_is_jax_random_key_s():
    keys = step.seed_keys(np.array([0, 1, 2**32 - 1]))
    for k, s in zip(keys, (0, 1, 2**32 - 1)):
        np.testing.assert_array_equal(jax.random.key_data(k), jax.random.key_data(jax.random.key(s)))


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


def test_fast_compile_takes_true_false_or_quick():
    with pytest.raises(ArgumentError, match="fast_compile.*quick.*'fastest'"):
        neural.train(_GAN, 2, **(_RUN | {"fast_compile": "fastest"}))
    with pytest.raises(ArgumentTypeError, match="fast_compile"):
        neural.train(_GAN, 2, **(_RUN | {"fast_compile": 1}))
