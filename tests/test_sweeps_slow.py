"""Sweeps at the issue's full size, and sharded over 4 host devices (another process). (Resuming after a real
kill: test_sweeps.py, with that file's compiled kernel.)"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxgan
from jaxgan import sweeps
from jaxgan.dynamics import Fate

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
    # the default chunk (256 starts here: the sharded program above, nothing compiled)
    n1 = sweeps.trace_count()
    assert a.settings["chunk"] == 256 and sweeps.basins(f, (0.01, 0.99, 16), (0.01, 2.0, 16), steps=8,
                                                        lr=1e-2).settings["chunk"] == 65536
    assert sweeps.trace_count() == n1
    # a sweep with per-start field parameters and optimiser hyper-parameters (batched, sharded inputs: a
    # field's and a method's, in one program)
    ring = [[0.02, 0.0], [0.0, 0.02], [-0.02, 0.0]]
    opt = jaxgan.Optimizer(optax.sgd, learning_rate=0.05, momentum=0.5)
    grid = {"momentum": [0.0, 0.5, 0.9], "learning_rate": [0.05, 0.2], "pd": [0.1, 0.2, 0.5, 1.0]}
    s4 = sweeps.sweep(f, grid, steps=1024, method=opt, offsets=ring, chunk=16, check_every=16)
    s1 = sweeps.sweep(f, grid, steps=1024, method=opt, offsets=ring, chunk=16, check_every=16, devices=devs[:1])
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(s4, name), getattr(s1, name))
    assert len(np.unique(s4.fate)) >= 2
    print("SHARDED-OK")
""")


def test_sharded_over_four_devices_equals_one_device():
    env = dict(ENV, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SHARDED-OK" in out.stdout


@pytest.mark.xla_defaults  # a long run: XLA's default code is faster, and worth its compile
def test_classic_fates_agree_with_numpy_reference_full_size(x64):
    """Issue item 6 at its stated size: 256 x 256 starts, 10 000 steps, float64. (Its 48 x 48 copy in
    test_sweeps.py went: the same assertions, a float64 kernel of its own to compile.)"""
    check_classic_against_numpy(256)


def _numpy_reference(pd, lr, d, pg, steps, check_every, tol, bound):
    """The documented rules in plain NumPy float64 (Euler on the classic field, guarded steps,
    CONVERGED / unbounded checks every `check_every` steps), vectorised over the starts still
    running (a start that ends is taken out of the arrays: the same numbers, half the time)."""
    n = d.size
    fate, step = np.zeros(n, np.int64), np.full(n, -1, np.int64)
    final = np.stack([d, pg], -1).astype(np.float64)
    idx, x, y = np.arange(n), final[:, 0].copy(), final[:, 1].copy()  # the running starts
    c = -np.log1p(-0.5)

    def stop(mask, kinds, t):  # the starts of `mask` end (at their current state) with `kinds` at step t
        nonlocal idx, x, y
        gone = idx[mask]
        fate[gone], step[gone] = kinds, t
        final[gone, 0], final[gone, 1] = x[mask], y[mask]
        keep = ~mask
        idx, x, y = idx[keep], x[keep], y[keep]
        return keep

    with np.errstate(all="ignore"):
        for t in range(steps):
            xn = x + lr * (pd * (1.0 / x) + y * (-1.0 / (1.0 - x)))
            yn = y + lr * (-np.log1p(-x) - c)
            inside = (xn > 0) & (xn < 1) & (yn >= 0) & (yn < np.inf)  # NaN compares False
            if not inside.all():
                out = ~inside
                finite = np.isfinite(xn[out]) & np.isfinite(yn[out])
                stop(out, np.where(finite, int(Fate.LEFT_DOMAIN), int(Fate.DIVERGED)), t)
                xn, yn = xn[inside], yn[inside]
            x, y = xn, yn
            if (t + 1) % check_every == 0 or t + 1 == steps:
                d2 = (x - 0.5) ** 2 + (y - pd) ** 2
                conv, div = d2 <= tol * tol, d2 > bound * bound
                if conv.any():
                    div = div[stop(conv, int(Fate.CONVERGED), t + 1)]
                if div.any():
                    stop(div, int(Fate.DIVERGED), t + 1)
    final[idx, 0], final[idx, 1] = x, y
    return fate, step, final


def check_classic_against_numpy(n, steps=10_000):
    """Basins of the classic field (pd = 0.2, Euler, lr = 1e-3, n x n starts on D in [0.01, 0.99],
    pg in [0.01, 2]) against `_numpy_reference`, in float64 (call under the x64 fixture)."""
    field = jaxgan.pointwise_field("minimax", 0.2)
    r = sweeps.basins(field, (0.01, 0.99, n), (0.01, 2.0, n), steps=steps, lr=1e-3, chunk=min(n * n, 8192))
    assert r.final.dtype == np.float64
    dd, pp = np.meshgrid(r.d, r.pg, indexing="ij")
    fate, step, final = _numpy_reference(0.2, 1e-3, dd.ravel(), pp.ravel(), steps, r.settings["check_every"],
                                         1e-3, 1e6)
    fate, step, final = fate.reshape(n, n), step.reshape(n, n), final.reshape(n, n, 2)
    agree = r.fate == fate
    assert agree.mean() >= 0.998, np.argwhere(~agree)
    assert {Fate.CONVERGED, Fate.LEFT_DOMAIN} <= set(np.unique(fate).tolist())
    same = agree & (r.step == step)
    assert same.mean() >= 0.99
    np.testing.assert_allclose(r.final[same], final[same], atol=1e-9)
