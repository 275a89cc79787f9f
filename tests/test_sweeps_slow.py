"""Sweeps in other processes: sharding over 4 host devices, and resuming after a real kill."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxgan
from jaxgan import sweeps

pytestmark = pytest.mark.slow

ENV = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}

SHARDED = textwrap.dedent("""
    import jax, numpy as np, optax, jaxgan
    from jaxgan import sweeps
    devs = jax.devices()
    assert len(devs) == 4, devs
    f = jaxgan.pointwise_field("minimax", 0.2)
    kw = dict(steps=2048, lr=1e-2, chunk=256, check_every=16)
    n0 = sweeps.trace_count()
    a = sweeps.basins(f, (0.01, 0.99, 24), (0.01, 2.0, 24), **kw)                      # 4 devices
    b = sweeps.basins(f, (0.01, 0.99, 24), (0.01, 2.0, 24), devices=devs[:1], **kw)   # 1 device
    assert sweeps.trace_count() == n0 + 2  # two programs: sharded and not
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert len(np.unique(a.fate)) >= 2
    # each device runs its slice on its own: the sharded program has no collective at all
    from jaxgan.dynamics import get_rule
    mesh = jax.sharding.Mesh(np.asarray(devs), ("starts",))
    kernel = sweeps.engine._kernel(get_rule("euler"), (0, 1), None, None, mesh)
    f32, i32 = np.float32, np.int32
    hlo = kernel.lower(f, np.full((256, 2), 0.5, f32), f32(1e-2), i32(2048), f32(1e-3), f32(10.0), f32(1e-2),
                       i32(3), i32(16)).compile().as_text()
    collectives = ("all-reduce", "all-gather", "collective-permute", "all-to-all", "reduce-scatter")
    assert "while" in hlo and not any(c in hlo for c in collectives)
    assert a.settings["chunk"] == 256 and sweeps.basins(f, (0.01, 0.99, 2), (0.01, 2.0, 2), steps=8,
                                                        lr=1e-2).settings["chunk"] == 65536
    # a sweep with per-start field parameters and step sizes (batched, sharded inputs)
    ring = [[0.02, 0.0], [0.0, 0.02], [-0.02, 0.0]]
    grid = {"lr": [0.1, 0.3, 0.45], "pd": [0.1, 0.2, 0.5, 1.0]}
    s4 = sweeps.sweep(f, grid, steps=1024, offsets=ring, chunk=16, check_every=16)
    s1 = sweeps.sweep(f, grid, steps=1024, offsets=ring, chunk=16, check_every=16, devices=devs[:1])
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(s4, name), getattr(s1, name))
    opt = jaxgan.Optimizer(optax.sgd, learning_rate=0.05, momentum=0.5)
    m4 = sweeps.sweep(f, {"momentum": [0.0, 0.5, 0.9]}, steps=512, method=opt, offsets=ring, check_every=16)
    m1 = sweeps.sweep(f, {"momentum": [0.0, 0.5, 0.9]}, steps=512, method=opt, offsets=ring, check_every=16,
                      devices=devs[:1])
    np.testing.assert_array_equal(m4.final, m1.final)
    print("SHARDED-OK")
""")


def test_sharded_over_four_devices_equals_one_device():
    env = dict(ENV, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SHARDED-OK" in out.stdout


KILLED = textwrap.dedent("""
    import sys, jaxgan
    from jaxgan import sweeps
    f = jaxgan.pointwise_field("minimax", 0.2)
    sweeps.basins(f, (0.01, 0.99, 64), (0.01, 2.0, 64), steps=40_000, lr=1e-4, chunk=256, check_every=16,
                  out=sys.argv[1], progress=lambda ev: print(f"{ev.done}/{ev.total}", flush=True))
""")


def test_resume_after_a_real_kill_gives_the_uninterrupted_result(tmp_path):
    out = tmp_path / "chunks"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(out)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "3/16":
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    done = sorted(f for f in os.listdir(out) if f.startswith("chunk_"))
    assert 3 <= len(done) < 16, done  # killed midway
    field = jaxgan.pointwise_field("minimax", 0.2)
    kw = dict(steps=40_000, lr=1e-4, chunk=256, check_every=16)
    seen = []
    resumed = sweeps.basins(field, (0.01, 0.99, 64), (0.01, 2.0, 64), out=out,
                            progress=lambda ev: seen.append(ev.done), **kw)
    assert seen[0] == len(done) and seen[-1] == 16  # finished chunks were read back, not recomputed
    assert not [f for f in os.listdir(out) if ".tmp" in f]
    whole = sweeps.basins(field, (0.01, 0.99, 64), (0.01, 2.0, 64), **kw)
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name))
    assert resumed.settings == whole.settings


def test_classic_fates_agree_with_numpy_reference_full_size(x64):
    """Issue item 6 at its stated size: 256 x 256 starts, 10 000 steps, float64."""
    from test_sweeps import check_classic_against_numpy

    check_classic_against_numpy(256)
