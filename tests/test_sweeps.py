"""Sweeps: basins and parameter sweeps against independent references and analytic oracles.

Sizes are reduced from the issue's (256 x 256 starts, 10 000 steps) to keep the suite fast (the
NumPy reference of the classic field runs at the issue's size in test_sweeps_slow.py). Each distinct
kernel costs seconds to compile, so tests share them: most use one (minimax, chunk 256; `classic`),
the folder tests another (chunk 64), the lr sweeps one (`lr_sweep`: 56 jobs), the lr x pd sweeps
one (`phase_sweep`), the adaptive tests one (Wasserstein, chunk 64).
"""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import sweeps
from jaxgan.dynamics import Fate, Optimizer
from jaxgan.errors import ArgumentError, ArgumentTypeError, StoreError
from jaxgan.progress import ProgressEvent

MINIMAX = jaxgan.pointwise_field("minimax", 0.2)
KW = dict(chunk=256, check_every=16)  # one compiled kernel shared by most tests
D16, PG16 = (0.05, 0.95, 16), (0.05, 1.5, 16)


@pytest.fixture(scope="module")
def classic():
    """minimax, pd = 0.2, Euler lr = 1e-2, 16 x 16 starts, 2048 steps."""
    return sweeps.basins(MINIMAX, D16, PG16, steps=2048, lr=1e-2, **KW)


def _simulate_agrees(res, method, lr, steps, idx):
    """Each start of `idx` ends as `simulate` says: same fate/exit step for domain exits, and the
    same state at the decision step otherwise (bitwise)."""
    for i, j in idx:
        info = jaxgan.simulate(MINIMAX, [res.d[i], res.pg[j]], steps=steps, lr=lr, method=method, warn=False)
        path = info.path
        fate, k = Fate(int(res.fate[i, j])), int(res.step[i, j])
        if info.fate != Fate.UNDECIDED and (k < 0 or k >= info.exit_step):
            assert fate == info.fate and k == info.exit_step, (i, j, fate, k, info)
            np.testing.assert_array_equal(res.final[i, j], np.asarray(info.final))
        else:
            np.testing.assert_array_equal(res.final[i, j], np.asarray(path[steps if k < 0 else k]))


# ----------------------------------------------------------------------------- classic field


def test_basins_result_shapes_and_fractions(classic):
    r = classic
    assert r.fate.shape == r.step.shape == r.turns.shape == (16, 16) and r.final.shape == (16, 16, 2)
    assert r.fate.dtype == np.int8 and r.step.dtype == np.int32
    np.testing.assert_allclose(r.d, np.linspace(*D16[:2], 16))
    fr = r.fractions()
    assert set(fr) == {f.name for f in Fate} and math.isclose(sum(fr.values()), 1.0)
    assert sum(r.counts().values()) == 256
    # The classic field at lr = 1e-2: most starts converge, the low-pg corner left of D0 leaves.
    assert fr["CONVERGED"] > 0.9 and fr["LEFT_DOMAIN"] > 0 and fr["CYCLING"] == 0
    conv = r.mask("converged")
    dist = np.hypot(r.final[..., 0] - 0.5, r.final[..., 1] - 0.2)
    assert np.all(dist[conv] <= 1e-3) and np.all(r.step[conv] % 16 == 0)
    left = r.mask(Fate.LEFT_DOMAIN)
    assert np.all(r.starts()[left][:, 0] < 0.5)  # exits through pg < 0 happen where dpg/dt < 0
    assert np.all(r.step[r.fate == Fate.UNDECIDED] == -1) and np.all(r.step[r.fate != Fate.UNDECIDED] >= 0)


@pytest.mark.xla_defaults
def test_basins_agrees_with_simulate_start_by_start(classic):
    rng = np.random.default_rng(0)
    left = np.argwhere(classic.fate == Fate.LEFT_DOMAIN)[:4]
    idx = [tuple(x) for x in rng.integers(0, 16, size=(6, 2))] + [tuple(x) for x in left]
    _simulate_agrees(classic, "euler", 1e-2, 2048, idx)


@pytest.mark.xla_defaults
def test_last_block_may_be_shorter_than_check_every(classic):
    """steps = 600 with checks every 16: the last block has 8 steps, then a final check."""
    r = sweeps.basins(MINIMAX, D16, PG16, steps=600, lr=1e-2, **KW)
    assert r.settings["check_every"] == 16
    und = np.argwhere(r.fate == Fate.UNDECIDED)
    conv = np.argwhere(r.fate == Fate.CONVERGED)
    assert len(und) > 0 and len(conv) > 0
    _simulate_agrees(r, "euler", 1e-2, 600, [tuple(x) for x in und[:3]] + [tuple(x) for x in conv[-3:]])
    assert set(np.unique(r.step[r.fate == Fate.CONVERGED] % 16).tolist()) <= {0, 600 % 16}


# ----------------------------------------------------------------------------- the article's games


WASSERSTEIN = jaxgan.pointwise_field("wasserstein", 0.2)
W_D, W_PG = (-0.3, 0.3, 16), (0.02, 0.5, 16)


def test_wasserstein_euler_converges_nowhere_alternating_cycles():
    """Alternating updates on x = D, y = pg - pd conserve H = x² + y² - lr·x·y (a discrete
    symplectic map), so an orbit is the ellipse H = const, whose lowest pg is
    pd - sqrt(H / (1 - lr²/4)): inside the domain it is CYCLING, below pg = 0 it is LEFT_DOMAIN."""
    pd, lr = 0.2, 0.05
    field, rng, pgr = WASSERSTEIN, W_D, W_PG
    eu = sweeps.basins(field, rng, pgr, steps=2048, lr=lr, **KW)
    assert not np.any(eu.fate == Fate.CONVERGED)
    # Euler multiplies the radius by sqrt(1 + lr²) per step: every start spirals out and leaves.
    assert np.all(eu.fate == Fate.LEFT_DOMAIN)
    alt = sweeps.basins(field, rng, pgr, steps=2048, lr=lr, method="alternating", **KW)
    x, y = np.meshgrid(alt.d, alt.pg - pd, indexing="ij")
    reach = np.sqrt((x * x + y * y - lr * x * y) / (1 - lr * lr / 4)) / pd
    inside, outside = reach < 0.97, reach > 1.03
    assert inside.sum() >= 20 and outside.sum() >= 100
    assert np.all(alt.fate[inside] == Fate.CYCLING)
    assert np.all(alt.fate[outside] == Fate.LEFT_DOMAIN)
    assert not np.any(alt.fate == Fate.CONVERGED)
    # Counter-clockwise in (D, pg): dD/dt = pd - pg, dpg/dt = D.
    assert np.all(alt.turns[inside] >= 3)


def test_quadratic_converges_or_leaves_through_pg():
    """The article's quadratic GAN: V = |z - z*|² decreases (dV/dt = -2pd (D-1)²), so it never
    cycles or diverges; but pg is a density, and starts whose path dips below pg = 0 leave the
    domain: global stability holds only in the ball around the rest point that stays inside."""
    pd, lr = 0.5, 0.05
    field = jaxgan.pointwise_field("quadratic", pd)
    r = sweeps.basins(field, (-1.0, 3.0, 16), (0.02, 2.0, 16), steps=4096, lr=lr, **KW)
    assert set(np.unique(r.fate).tolist()) == {Fate.CONVERGED, Fate.LEFT_DOMAIN}
    left = r.mask("left_domain")
    zf = r.final[left]
    v_pg = -zf[:, 0] + 1.0  # dpg/dt = f3(D) - f3(1) = 1 - D
    assert np.all(zf[:, 1] >= 0) and np.all(zf[:, 1] + lr * v_pg < 0)  # the refused step went to pg < 0
    start = r.starts()
    dist = np.hypot(start[..., 0] - 1.0, start[..., 1] - pd)
    assert np.all(r.fate[dist < 0.8 * pd] == Fate.CONVERGED) and np.sum(dist < 0.8 * pd) >= 3
    assert left.mean() > 0.3  # where the density constraint matters


LRS = np.array([0.1, 0.2, 0.3, 0.36, 0.44, 0.5, 0.6])
RING = 0.02 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)


@pytest.fixture(scope="module")
def lr_sweep():
    """7 step sizes x 8 starts around the rest point: one kernel (56 jobs, padded to 64) that the other
    lr sweeps of this file (files, progress, the command line) share."""
    return sweeps.sweep(MINIMAX, {"lr": LRS}, steps=2048, offsets=RING, chunk=256)


def test_minimax_lr_sweep_boundary_is_max_stable_lr(lr_sweep):
    """Euler at pd = 0.2: converges near the rest point below max_stable_lr = 0.4, never above."""
    lrs, r = LRS, lr_sweep
    assert r.boundary.shape == () and abs(float(r.boundary) - 0.4) < 1e-5
    assert abs(float(r.boundary) - jaxgan.max_stable_lr(MINIMAX)) < 1e-12
    conv = r.fraction()
    np.testing.assert_array_equal(conv[lrs < 0.4], 1.0)
    np.testing.assert_array_equal(conv[lrs > 0.4], 0.0)
    # Time to converge: a distance 0.02 shrinks by rho = |1 + lr·λ| per step (λ = -0.8 ± 1.833i),
    # so about ln(0.02 / tol) / -ln(rho) steps: fastest at lr = 0.2, slowest next to the boundary.
    t = r.median_time()
    assert np.all(np.isnan(t[lrs > 0.4]))
    lam = jaxgan.analyze(MINIMAX).eigenvalues[0]
    pred = np.log(0.02 / 1e-3) / -np.log(np.abs(1 + lrs[lrs < 0.4] * lam))
    np.testing.assert_allclose(t[lrs < 0.4], pred, rtol=0.2, atol=r.settings["check_every"])
    assert np.argmin(t[lrs < 0.4]) == 1 and np.argmax(t[lrs < 0.4]) == 3


PDS, PHASE_LRS = np.array([0.1, 0.2, 0.35, 1.0]), np.geomspace(0.05, 1.5, 12)


@pytest.fixture(scope="module")
def phase_sweep():
    """lr x pd (12 x 4 points, 3 starts each): one kernel for the phase diagram and its figure."""
    return sweeps.sweep(MINIMAX, {"lr": PHASE_LRS, "pd": PDS}, steps=2048,
                        offsets=[[0.02, 0.0], [0.0, -0.02], [-0.02, 0.0]], chunk=256)


def test_lr_by_pd_phase_diagram_follows_the_boundary(phase_sweep):
    pds, lrs, r = PDS, PHASE_LRS, phase_sweep
    assert r.fate.shape == (12, 4, 3) and r.boundary.shape == (4,)
    for k, pd in enumerate(pds):
        b = jaxgan.max_stable_lr(jaxgan.pointwise_field("minimax", pd))
        assert r.boundary[k] == pytest.approx(b, rel=1e-6)
        assert np.all(r.fraction()[lrs < 0.9 * b, k] == 1.0), (pd, b)
        assert np.all(r.fraction()[lrs > 1.1 * b, k] == 0.0), (pd, b)
    # offsets are relative to each pd's rest point (0.5, pd)
    np.testing.assert_allclose(r.final[r.fate == Fate.CONVERGED][..., 0], 0.5, atol=1e-3)


# ----------------------------------------------------------------------------- methods


def test_optax_sgd_reproduces_euler_bitwise(classic):
    r = sweeps.basins(MINIMAX, D16, PG16, steps=2048, method=optax.sgd(1e-2), **KW)
    np.testing.assert_array_equal(r.fate, classic.fate)
    np.testing.assert_array_equal(r.step, classic.step)
    np.testing.assert_array_equal(r.final, classic.final)


def test_optax_optimistic_is_jaxgans_optimistic():
    a = sweeps.basins(MINIMAX, D16, PG16, steps=512, method=optax.optimistic_gradient_descent(1e-2), **KW)
    b = sweeps.basins(MINIMAX, D16, PG16, steps=512, lr=1e-2, method="optimistic", **KW)
    np.testing.assert_array_equal(a.fate, b.fate)
    np.testing.assert_array_equal(a.final, b.final)


def _heavy_ball(z, lr, beta, steps, field):
    """optax.sgd(lr, momentum=beta) on -v, in NumPy float64: m = beta m + g; z -= lr m."""
    z = np.array(z, np.float64)
    m = np.zeros_like(z)
    for _ in range(steps):
        m = beta * m - np.asarray(field(jnp.asarray(z)), np.float64)
        z = z - lr * m
    return z


def _adam(z, lr, steps, field, b1=0.9, b2=0.999, eps=1e-8):
    z = np.array(z, np.float64)
    m = np.zeros_like(z)
    v = np.zeros_like(z)
    for t in range(1, steps + 1):
        g = -np.asarray(field(jnp.asarray(z)), np.float64)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        z = z - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return z


@pytest.mark.parametrize("name", ["momentum", "adam", "extragradient", "alternating", "rk4"])
def test_methods_agree_with_simulate_and_references(name):
    field, d_range, pg_range, steps = MINIMAX, D16, PG16, 256
    method, lr = {"momentum": (Optimizer(optax.sgd, learning_rate=1e-2, momentum=0.5), None),
                  "adam": (Optimizer(optax.adam, learning_rate=1e-2), None),
                  "extragradient": ("extragradient", 1e-2), "alternating": ("alternating", 1e-2),
                  "rk4": ("rk4", 1e-2)}[name]
    if name == "alternating":  # the Wasserstein test's sweep (its kernel, compiled once; cycles and exits)
        field, d_range, pg_range, steps, lr = WASSERSTEIN, W_D, W_PG, 2048, 0.05
    r = sweeps.basins(field, d_range, pg_range, steps=steps, lr=lr, method=method, **KW)
    assert r.settings["method"]["name"] in (name, "optax:sgd", "optax:adam")
    # Start by start against `simulate` (an independent code path: one trajectory, per-step guard);
    # float32 kernels may round differently in the last place, hence a tolerance.
    for i, j in [(3, 4), (8, 8), (12, 2), (15, 15)]:
        info = jaxgan.simulate(field, [r.d[i], r.pg[j]], steps=steps, lr=lr, method=method, warn=False)
        path = info.path
        k = int(r.step[i, j])
        if info.fate != Fate.UNDECIDED:
            assert Fate(int(r.fate[i, j])) == info.fate and k == info.exit_step
        else:
            np.testing.assert_allclose(r.final[i, j], np.asarray(path[steps if k < 0 else k]), rtol=2e-5, atol=2e-6)
    # ... and against NumPy references of the optimisers' published formulas.
    z0, n = [0.7, 0.4], 64  # (Adam at lr 1e-2 leaves the domain from here after 92 steps)
    if name in ("momentum", "adam"):
        path = np.asarray(jaxgan.simulate(MINIMAX, z0, steps=n, method=method), np.float64)[-1]
        ref = _heavy_ball(z0, 1e-2, 0.5, n, MINIMAX) if name == "momentum" else _adam(z0, 1e-2, n, MINIMAX)
        np.testing.assert_allclose(path, ref, atol=1e-4)
        assert np.abs(path - z0).max() > 0.05  # it moved


def test_optimizer_hyperparameters_sweep_without_recompiling():
    opt = Optimizer(optax.sgd, learning_rate=1e-2, momentum=0.0)
    ring = [[0.03, 0.0], [0.0, 0.03], [-0.03, 0.0], [0.0, -0.03]]
    grid = {"momentum": [0.0, 0.5, 0.9], "learning_rate": [1e-2, 5e-2]}
    n0 = sweeps.trace_count()
    r = sweeps.sweep(MINIMAX, grid, steps=512, method=opt, offsets=ring, chunk=256, check_every=16)
    assert sweeps.trace_count() == n0 + 1 and r.fate.shape == (3, 2, 4) and r.boundary is None
    # The same points in another order, from another base optimiser: new values, same structure
    # and size, so no new compile; every point gives the same numbers as before.
    grid2 = {"momentum": [0.9, 0.5, 0.0], "learning_rate": [5e-2, 1e-2]}
    r2 = sweeps.sweep(MINIMAX, grid2, steps=512, method=opt.replace(learning_rate=0.3), offsets=ring, chunk=256,
                      check_every=16)
    assert sweeps.trace_count() == n0 + 1
    np.testing.assert_array_equal(r2.fate, r.fate[::-1, ::-1])
    np.testing.assert_array_equal(r2.final, r.final[::-1, ::-1])
    assert len(np.unique(r.fate)) > 1  # the hyper-parameters matter
    with pytest.raises(ValueError, match="'lr' needs a method with a step size"):
        sweeps.sweep(MINIMAX, {"lr": [0.1]}, steps=8, method=opt, offsets=ring)


class _CompileCounter:
    # A compile by XLA, or one read from a persistent cache where one is on.
    EVENTS = ("/jax/core/compile/backend_compile_duration", "/jax/compilation_cache/cache_retrieval_time_sec")

    def __init__(self):
        self.n = 0

    def __call__(self, event, duration, **kwargs):
        if event in self.EVENTS:
            self.n += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def test_traced_values_do_not_recompile(classic):
    """lr, pd, steps, tol and optimiser hyper-parameters are traced: no new compilation."""
    n0 = sweeps.trace_count()
    with _CompileCounter() as cc:
        sweeps.basins(MINIMAX.replace(pd=0.3), D16, PG16, steps=1024, lr=2e-2, tol=1e-4, **KW)
        sweeps.basins(jaxgan.pointwise_field("minimax", 0.7), D16, PG16, steps=4096, lr=5e-3, **KW)
    assert sweeps.trace_count() == n0 and cc.n == 0
    # The default check_every depends on lr (the rotation per step): it is traced too.
    a16 = sweeps.basins(MINIMAX, D16, PG16, steps=1024, lr=1e-2, chunk=KW["chunk"])
    n1 = sweeps.trace_count()
    with _CompileCounter() as cc:
        a64 = sweeps.basins(MINIMAX, D16, PG16, steps=1024, lr=2.5e-3, chunk=KW["chunk"])
    assert a64.settings["check_every"] != a16.settings["check_every"]
    assert sweeps.trace_count() == n1 and cc.n == 0
    # simulate with a traced optax optimiser: one compile for any values.
    kw = dict(steps=64, method=Optimizer(optax.sgd, learning_rate=1e-2, momentum=0.9))
    jaxgan.simulate(MINIMAX, [0.7, 0.4], warn=False, **kw)
    with _CompileCounter() as cc:
        for lr_, mom in [(2e-2, 0.5), (5e-3, 0.0)]:
            a = jaxgan.simulate(MINIMAX, [0.7, 0.4], steps=64, warn=False, method=Optimizer(optax.sgd, learning_rate=lr_,
                                                                               momentum=mom))
    assert cc.n == 0
    b = jaxgan.simulate(MINIMAX, [0.7, 0.4], steps=64, warn=False, method=optax.sgd(5e-3, momentum=0.0))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_chunking_does_not_change_results(classic):
    r = sweeps.basins(MINIMAX, D16, PG16, steps=2048, lr=1e-2, chunk=64, check_every=16)  # the folder tests' kernel
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(r, name), getattr(classic, name))


def test_a_chunk_split_over_host_threads_equals_the_chunk_run_whole(classic, phase_sweep, monkeypatch):
    """On one CPU device each chunk runs as parts of its own, one per host thread, several chunks in
    flight (`jaxgan.sweeps.runner`): bit for bit the chunks run whole — with the field and the step
    size shared by every start, and with both swept (cut into the parts with the starts)."""
    from jaxgan.sweeps import runner

    threads, run_part = [], runner._run_part

    def recording(*args):
        threads.append(threading.current_thread().name)
        return run_part(*args)

    # Five cores and parts of at least 32 starts: 256 starts in chunks of 100 (the last one 56, padded)
    # run as 3 parts of 34 each (the chunk rounded up to 102); the sweep's 144 jobs in chunks of 64
    # as 2 parts of 32, 3 chunks in flight to keep the 5 threads busy.
    monkeypatch.setattr(runner, "_host_cores", lambda: 5)
    monkeypatch.setattr(runner, "_MIN_PART", 32)
    monkeypatch.setattr(runner, "_run_part", recording)
    r = sweeps.basins(MINIMAX, D16, PG16, steps=2048, lr=1e-2, chunk=100, check_every=16)
    assert len(threads) == 3 * 3 and all(t.startswith("jaxgan-sweep") for t in threads)
    s = sweeps.sweep(MINIMAX, {"lr": PHASE_LRS, "pd": PDS}, steps=2048,
                     offsets=[[0.02, 0.0], [0.0, -0.02], [-0.02, 0.0]], chunk=64)
    assert len(threads) == 9 + 3 * 2
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(r, name), getattr(classic, name))
        np.testing.assert_array_equal(getattr(s, name), getattr(phase_sweep, name))


def test_float64_of_one_thread_reaches_the_host_threads(monkeypatch):
    """`with jax.enable_x64(True):` holds in the calling thread only; the parts run on the pool's
    threads still compute in float64, the numbers of the chunk run whole in the calling thread."""
    from jaxgan.sweeps import runner

    if not hasattr(jax, "enable_x64"):
        pytest.skip("this jax has no thread-local jax.enable_x64")
    grid = dict(d_range=(0.01, 0.99, 12), pg_range=(0.01, 2.0, 12), steps=128, lr=0.05, check_every=16)
    monkeypatch.setattr(runner, "_MIN_PART", 32)
    monkeypatch.setattr(runner, "_host_cores", lambda: 2)
    with jax.enable_x64(True):
        split = sweeps.basins(MINIMAX, chunk=64, **grid)  # 3 chunks, 2 parts each
        whole = sweeps.basins(MINIMAX, chunk=256, **grid)  # one program, run in this thread
    assert split.final.dtype == np.float64 and split.settings["dtype"] == "float64"
    assert len(np.unique(whole.fate)) == 3
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(split, name), getattr(whole, name))


def test_adaptive_continuous_time_circles():
    """diffrax (optional): Wasserstein in continuous time rotates on circles around (0, pd);
    a circle of radius < pd stays inside (CYCLING), one of radius > pd leaves through pg = 0
    (a per-start exit event)."""
    pytest.importorskip("diffrax")
    pd = 0.2
    field = jaxgan.pointwise_field("wasserstein", pd)
    path = np.asarray(jaxgan.simulate(field, [0.1, 0.2], steps=40, lr=0.05, method="adaptive"), np.float64)
    t = 0.05 * np.arange(41)
    np.testing.assert_allclose(path[:, 0], 0.1 * np.cos(t), atol=1e-5)
    np.testing.assert_allclose(path[:, 1] - pd, 0.1 * np.sin(t), atol=1e-5)
    r = sweeps.basins(field, (-0.3, 0.3, 8), (0.02, 0.5, 8), steps=256, lr=0.1, method="adaptive", chunk=64)
    x, y = np.meshgrid(r.d, r.pg - pd, indexing="ij")
    rad = np.hypot(x, y) / pd
    assert np.all(r.fate[rad < 0.95] == Fate.CYCLING) and np.all(r.fate[rad > 1.05] == Fate.LEFT_DOMAIN)
    assert np.all(r.final[r.fate == Fate.LEFT_DOMAIN][:, 1] >= 0)


def test_two_adaptive_solvers_tolerances_do_not_mix(tmp_path):
    """A chunk folder of the adaptive rule at one `rtol` refuses a run at another (issue "Trust"; the
    folder tests are in test_sweeps_store.py). Wasserstein, chunks of 64 starts: the kernel of
    `test_adaptive_continuous_time_circles` (diffrax programs are the costliest to compile)."""
    pytest.importorskip("diffrax")
    from test_sweeps_store import COMPUTATION, _refused_then_resumes

    field = jaxgan.pointwise_field("wasserstein", 0.2)
    kw = dict(steps=4, chunk=64, check_every=2, lr=0.1)
    _refused_then_resumes(tmp_path, field, dict(kw, method=jaxgan.dynamics.adaptive()), field,
                          dict(kw, method=jaxgan.dynamics.adaptive(rtol=1e-5)), COMPUTATION,
                          d_range=(-0.3, 0.3, 16), pg_range=(0.02, 0.5, 16))


def test_adaptive_without_diffrax_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "diffrax", None)  # `import diffrax` now raises ImportError
    with pytest.raises(ImportError, match="pip install 'jaxgan\\[diffrax\\]'"):
        jaxgan.adaptive()
    with pytest.raises(ImportError, match="diffrax"):
        sweeps.basins(MINIMAX, D16, PG16, steps=8, lr=0.1, method="adaptive")


# ----------------------------------------------------------------------------- files


def test_save_load_roundtrip(tmp_path, classic):
    p = classic.save(tmp_path / "b")
    assert p.endswith(".npz")
    back = sweeps.BasinsResult.load(p)
    for name in ("fate", "step", "final", "turns", "d", "pg", "rest_point"):
        np.testing.assert_array_equal(getattr(back, name), getattr(classic, name))
    assert back.settings == json.loads(json.dumps(classic.settings)) and back.labels == ("D", "pg")
    assert back.fractions() == classic.fractions()
    assert isinstance(sweeps.load(p), sweeps.BasinsResult)
    with np.load(p, allow_pickle=False) as data:  # no pickle anywhere
        assert all(data[k].dtype != object for k in data.files)


def test_sweep_result_roundtrip(tmp_path, lr_sweep):
    r = lr_sweep
    back = sweeps.load(r.save(tmp_path / "s.npz"))
    assert isinstance(back, sweeps.SweepResult) and back.names == ("lr",)
    np.testing.assert_array_equal(back.fate, r.fate)
    np.testing.assert_array_equal(back.boundary, r.boundary)
    np.testing.assert_array_equal(back.values[0], r.values[0])
    assert back.relative


def test_load_refuses_foreign_or_corrupt_files(tmp_path, classic):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    with pytest.raises(StoreError, match="not a jaxgan basins result file"):
        sweeps.BasinsResult.load(foreign)
    good = classic.save(tmp_path / "good.npz")
    with pytest.raises(StoreError, match="expected 'jaxgan.sweep'"):
        sweeps.SweepResult.load(good)
    raw = open(good, "rb").read()
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(StoreError, match="not a jaxgan basins result file"):
        sweeps.BasinsResult.load(corrupt)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(StoreError):
        sweeps.load(text)


def test_resume_folder_refuses_foreign_or_corrupt_and_overwrites_nothing(tmp_path, classic):
    kw = dict(steps=2048, lr=1e-2, chunk=64, check_every=16)
    # a folder that is not ours
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="without a jaxgan manifest"):
        sweeps.basins(MINIMAX, D16, PG16, out=other, **kw)
    assert os.listdir(other) == ["notes.txt"]
    # a complete run, then the same call again: everything read back, identical
    out = tmp_path / "run"
    first = sweeps.basins(MINIMAX, D16, PG16, out=out, **kw)
    files = sorted(os.listdir(out))
    assert files == ["chunk_000000.npz", "chunk_000001.npz", "chunk_000002.npz", "chunk_000003.npz",
                     "manifest.json"]
    np.testing.assert_array_equal(first.fate, classic.fate)
    n0 = sweeps.trace_count()
    again = sweeps.basins(MINIMAX, D16, PG16, out=out, **kw)
    assert sweeps.trace_count() == n0
    for name in ("fate", "step", "final", "turns"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    # without `chunk`, a resumed sweep keeps the folder's chunking (the default would differ)
    kept = sweeps.basins(MINIMAX, D16, PG16, out=out, **{**kw, "chunk": None})
    assert sweeps.trace_count() == n0 and kept.settings["chunk"] == 64
    np.testing.assert_array_equal(kept.final, first.final)
    # different settings into the same folder: refused
    with pytest.raises(StoreError, match="different sweep; what differs .*method.lr: 0.01 vs 0.02"):
        sweeps.basins(MINIMAX, D16, PG16, out=out, **{**kw, "lr": 2e-2})
    with pytest.raises(StoreError, match="chunk: 64 vs 128"):
        sweeps.basins(MINIMAX, D16, PG16, out=out, **{**kw, "chunk": 128})
    # a corrupt chunk: refused, and left as it was
    bad = out / "chunk_000002.npz"
    bad.write_bytes(b"garbage")
    stamp = {f: (out / f).read_bytes() for f in os.listdir(out)}
    with pytest.raises(StoreError, match="corrupt chunk file"):
        sweeps.basins(MINIMAX, D16, PG16, out=out, **kw)
    assert {f: (out / f).read_bytes() for f in os.listdir(out)} == stamp
    # a chunk of another sweep (valid file, wrong digest): refused too
    bad.write_bytes((tmp_path / "run" / "chunk_000001.npz").read_bytes())
    with pytest.raises(StoreError, match="another sweep or chunk"):
        sweeps.basins(MINIMAX, D16, PG16, out=out, **kw)


def test_parts_assemble_to_the_full_result(tmp_path, classic):
    kw = dict(steps=2048, lr=1e-2, chunk=64, check_every=16, out=tmp_path / "shared")
    assert sweeps.basins(MINIMAX, D16, PG16, part=(1, 2), **kw) is None
    assert sorted(os.listdir(tmp_path / "shared"))[:2] == ["chunk_000001.npz", "chunk_000003.npz"]
    whole = sweeps.basins(MINIMAX, D16, PG16, part=(0, 2), **kw)
    np.testing.assert_array_equal(whole.final, classic.final)
    with pytest.raises(ArgumentError, match="`part` needs `out`"):
        sweeps.basins(MINIMAX, D16, PG16, steps=8, lr=1e-2, part=(0, 2))


def test_progress_events_bar_and_silence(tmp_path, capsys):
    """One event when the run starts (chunks already in `out` count as done), then one per chunk."""
    kw = dict(steps=256, lr=1e-2, chunk=64, check_every=16)
    seen = []
    sweeps.basins(MINIMAX, D16, PG16, out=tmp_path / "p", part=(0, 2), progress=seen.append, **kw)
    assert all(isinstance(ev, ProgressEvent) and ev.task == "basins" for ev in seen)
    assert [(ev.done, ev.total) for ev in seen] == [(0, 2), (1, 2), (2, 2)]  # this part's 2 chunks of 4
    assert "chunks of 64 starts" in seen[-1].message
    seen.clear()
    sweeps.basins(MINIMAX, D16, PG16, out=tmp_path / "p", progress=seen.append, **kw)
    assert [(ev.done, ev.total) for ev in seen] == [(2, 4), (3, 4), (4, 4)]  # two chunks read back
    capsys.readouterr()
    sweeps.sweep(MINIMAX, {"lr": LRS}, steps=64, offsets=RING, chunk=256, check_every=16, progress=True)
    err = capsys.readouterr().err
    assert "sweep:" in err and "1/1 [" in err and "chunks of 256 starts" in err and err.endswith("\n")  # tqdm
    sweeps.sweep(MINIMAX, {"lr": LRS}, steps=64, offsets=RING, chunk=256, check_every=16, progress=False)
    assert capsys.readouterr().err == ""
    n0 = sweeps.trace_count()
    with pytest.raises(ArgumentTypeError, match="`progress` must be True, False or a callable"):
        sweeps.basins(MINIMAX, D16, PG16, progress="yes", **kw)
    assert sweeps.trace_count() == n0


KILLED = textwrap.dedent("""
    import sys, jaxgan
    from jaxgan import sweeps
    f = jaxgan.pointwise_field("minimax", 0.2)
    sweeps.basins(f, (0.01, 0.99, 64), (0.01, 2.0, 64), steps=40_000, lr=1e-4, chunk=256, check_every=16,
                  out=sys.argv[1], progress=lambda ev: print(f"{ev.done}/{ev.total}", flush=True))
""")


@pytest.mark.slow
@pytest.mark.xla_defaults  # long runs: XLA's default code is faster, and worth its compile
def test_resume_after_a_real_kill_gives_the_uninterrupted_result(tmp_path):
    """Killed (SIGKILL) after 3 of its 16 chunks, another process resumes the folder: the uninterrupted
    result. (Chunks of 256 starts: this file's kernel, compiled once here.)"""
    out = tmp_path / "chunks"
    env = dict(os.environ, XLA_FLAGS=os.environ.get("JAXGAN_TEST_XLA_FLAGS", ""))  # this process's XLA options
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(out)], env=env, stdout=subprocess.PIPE,
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


# The `jaxgan` command itself (`main()` reads sys.argv), with Ctrl-C's default handler: a background
# shell starts its children with SIGINT ignored, and Python then installs none.
_COMMAND = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from jaxgan.cli import main
sys.argv[0] = "jaxgan"
sys.exit(main())
"""


@pytest.mark.skipif(sweeps.runner._host_cores() < 2, reason="a sweep runs on host threads with two cores or more")
def test_ctrl_c_and_sigterm_end_a_long_sweep_at_once(tmp_path):
    """`jaxgan basins` interrupted while its chunks run on the host threads (each chunk a minute or more:
    two billion steps of lr 1e-9 decide nothing) ends within seconds, with its line and exit 130 / 143;
    the resume folder keeps what it had (its manifest, no chunk, no temporary) and no result is written."""
    env = dict(os.environ, XLA_FLAGS=os.environ.get("JAXGAN_TEST_XLA_FLAGS", ""), JAX_PLATFORMS="cpu")
    procs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        folder = tmp_path / sig.name
        folder.mkdir()
        argv = ["basins", "minimax", "--d", "0.01", "0.99", "16", "--pg", "0.01", "2", "16", "--steps", "2000000000",
                "--lr", "1e-9", "--chunk", "32", "--resume", str(folder / "chunks"), "--out", str(folder / "fates.npz"),
                "--quiet"]
        procs[sig] = (folder, subprocess.Popen([sys.executable, "-c", _COMMAND, *argv], env=env,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        results = {}
        for sig, (folder, proc) in procs.items():
            t0 = time.monotonic()
            while not (folder / "chunks" / "manifest.json").exists():  # the sweep has started
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() - t0 < 240, "the sweep never started"
                time.sleep(0.05)
            time.sleep(0.5)
            proc.send_signal(sig)
            t0 = time.monotonic()
            results[sig] = (proc.wait(timeout=200), proc.communicate()[1], time.monotonic() - t0)
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    assert results[signal.SIGINT][:2] == (130, "jaxgan basins: interrupted\n")
    assert results[signal.SIGTERM][:2] == (143, "jaxgan basins: terminated (SIGTERM)\n")
    for sig, (folder, _) in procs.items():
        assert results[sig][2] < 30, results[sig]  # not the minutes its running chunks would take
        assert sorted(os.listdir(folder)) == ["chunks"] and os.listdir(folder / "chunks") == ["manifest.json"]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_range=(0.9, 0.1, 8)), "`d_range` is inverted"),
    (dict(d_range=(0.5, 0.5, 8)), "`d_range` is empty"),
    (dict(pg_range=(0.1, 1.0, 0)), "`pg_range`: n must be ≥ 1"),
    (dict(pg_range=(0.1, math.inf, 8)), "`pg_range` must have finite bounds"),
    (dict(d_range=(0.1, float("nan"), 8)), "`d_range` must have finite bounds"),
    (dict(d_range=(0.1, 0.9)), "`d_range` must be a triple"),
    (dict(d_range=(0.0, 1.0, 8)), "outside the domain"),
    (dict(steps=0), "`steps` must be an integer ≥ 1"),
    (dict(lr=0.0), "`lr` must be (a )?positive"),
    (dict(lr=-1e-3), "`lr` must be (a )?positive"),
    (dict(lr=None), "`lr` is required"),
    (dict(method="newton"), "unknown method 'newton'"),
    (dict(method=optax.sgd(1e-2)), "`lr` must be omitted"),
    (dict(tol=-1.0), "`tol` must be a positive"),
    (dict(chunk=0), "`chunk` must be an integer ≥ 1"),
    (dict(plane=(0, 0)), "`plane` must be two distinct"),
    (dict(plane=(0, 2)), "`plane` must be two distinct"),
    (dict(bound=1e-4), "`bound` must be greater than `tol`"),
    (dict(cycle_turns=0), "`cycle_turns` must be an integer ≥ 1"),
    (dict(cycle_rtol=-0.1), "`cycle_rtol` must be a positive number"),
    (dict(devices=[]), "`devices` must be a non-empty list of jax devices"),
    (dict(part=(2, 2)), "`part` must be \\(index, count\\)"),
])
def test_bad_input_fails_before_compiling(kwargs, match):
    args = dict(d_range=D16, pg_range=PG16, steps=64, lr=1e-2)
    args.update(kwargs)
    n0 = sweeps.trace_count()
    with pytest.raises((ArgumentError, ArgumentTypeError), match=match):
        sweeps.basins(MINIMAX, args.pop("d_range"), args.pop("pg_range"), **args)
    assert sweeps.trace_count() == n0


def test_bad_input_fields_and_sweeps():
    no_rest = jaxgan.Field(lambda p, z: -z, labels=("a", "b"))
    with pytest.raises(ArgumentError, match="has no rest point"):
        sweeps.basins(no_rest, D16, PG16, steps=8, lr=0.1)
    with pytest.raises(ArgumentTypeError, match="jaxgan.pointwise_field"):
        sweeps.basins("minimax", D16, PG16, steps=8, lr=0.1)
    ring = [[0.01, 0.0]]
    for grid, match in [({}, "non-empty mapping"), ({"lr": []}, "1-D sequence of at least 1"),
                        ({"lr": [0.1, -0.2]}, "finite positive numbers"), ({"pd": [0.0, 0.2]}, r"grid\[.pd.\]` must be positive"),
                        ({"beta": [1.0]}, "unknown parameter 'beta'"), ({"lr": [0.1, math.nan]}, "finite")]:
        with pytest.raises((ArgumentError, ArgumentTypeError), match=match):
            sweeps.sweep(MINIMAX, grid, steps=8, offsets=ring)
    with pytest.raises(ArgumentError, match="exactly one of"):
        sweeps.sweep(MINIMAX, {"lr": [0.1]}, steps=8)
    with pytest.raises(ArgumentError, match="exactly one of"):
        sweeps.sweep(MINIMAX, {"lr": [0.1]}, steps=8, offsets=ring, starts=[[0.5, 0.2]])
    with pytest.raises(ArgumentError, match="outside the domain"):
        sweeps.sweep(MINIMAX, {"lr": [0.1]}, steps=8, offsets=[[0.6, 0.0]])
    with pytest.raises(ArgumentError, match="shape"):
        sweeps.sweep(MINIMAX, {"lr": [0.1]}, steps=8, starts=[[0.5, 0.2, 0.1]])


# ----------------------------------------------------------------------------- figures


def test_figures(tmp_path, classic, phase_sweep):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxgan import plotting

    ax = plotting.basins(classic)
    assert ax.get_xlabel().startswith("D") and len(ax.collections) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(s.startswith("converged") for s in labels) and "rest point" in labels
    ax.figure.savefig(tmp_path / "basins.png")
    plt.close(ax.figure)
    r = phase_sweep  # lr first: the image is drawn transposed
    ax = plotting.phase_diagram(r)
    assert ax.get_xlabel() == "lr" and ax.get_ylabel() == "pd"
    (line,) = [ln for ln in ax.get_lines() if "max stable" in ln.get_label()]
    np.testing.assert_allclose(line.get_xdata(), r.boundary)
    ax.figure.savefig(tmp_path / "phase.png")
    plt.close(ax.figure)
    with pytest.raises(TypeError, match="BasinsResult"):
        plotting.basins(r)


# ----------------------------------------------------------------------------- command line


def test_cli_basins_and_sweep(tmp_path, capsys):
    from jaxgan.cli import main

    out = tmp_path / "b.npz"
    rc = main(["basins", "minimax", "--d", "0.05", "0.95", "16", "--pg", "0.05", "1.5", "16", "--steps", "512",
               "--lr", "0.01", "--chunk", "256", "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0 and cap.err == "" and f"wrote {out}" in cap.out  # no bar: stderr is not a terminal here
    res = sweeps.BasinsResult.load(out)
    assert res.fate.shape == (16, 16) and (tmp_path / "b.png").stat().st_size > 10_000
    rc = main(["sweep", "minimax", "--vary", "lr", "0.1", "0.6", "7", "--steps", "256", "--radius", "0.02",
               "--n-starts", "8", "--chunk", "256", "--out", str(tmp_path / "s.npz"), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0 and cap.err == "" and "analytic max stable lr: 0.4" in cap.out
    s = sweeps.SweepResult.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(s.fraction() > 0.5, s.values[0] < 0.4)
    for argv in (["basins", "minimax", "--d", "0.9", "0.1", "8"], ["basins", "minimax", "--d", "0", "1", "8"],
                 ["basins", "minimax", "--lr", "-1"], ["basins", "nope"], ["basins", "minimax", "--method", "newton"],
                 ["sweep", "minimax", "--vary", "beta", "0", "1", "3"], ["sweep", "minimax", "--vary", "lr", "0", "1", "3"],
                 ["basins", "minimax", "--optax", "sgd", "--lr", "0.1"], ["basins", "minimax", "--optax", "nothing"]):
        assert _exit_code(main, argv + ["--out", str(tmp_path / "x.npz")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, (argv, err)
    assert not (tmp_path / "x.npz").exists()


def _exit_code(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code
