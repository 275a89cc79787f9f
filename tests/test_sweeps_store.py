"""The chunk folder: its identity (what a folder holds, beyond names), chunk checksums, concurrent
writers, and the limits a sweep checks before compiling (issue "Trust", items 1-4).

Every grid is tiny (8 x 8 starts, 4 chunks of 16) and runs a few dozen steps: the tests are about
the folder, not the dynamics. The real-process tests are in the `slow` part at the end.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import sweeps
from jaxgan.errors import ArgumentError, ArgumentTypeError, StoreError
from jaxgan.sweeps import store as chunk_store

MINIMAX = jaxgan.pointwise_field("minimax", 0.2)
D8, PG8 = (0.05, 0.95, 8), (0.05, 1.5, 8)
KW = dict(steps=48, chunk=16, check_every=16)
NAMES = ("fate", "step", "final", "turns")


def _same(a, b):
    for name in NAMES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def _snapshot(folder):
    return {f: (folder / f).read_bytes() for f in sorted(os.listdir(folder))}


def _refused_then_resumes(tmp_path, field_a, kw_a, field_b, kw_b, match, *, d_range=D8, pg_range=PG8):
    """Run 1 (`field_a`, `kw_a`) writes half of its 4 chunks (as a killed run would); run 2 with
    another configuration into the same folder is refused with `match` and changes nothing; run 1
    again resumes to the uninterrupted result, bit for bit. (test_sweeps.py uses it too.)"""
    out, grid = tmp_path / "chunks", (d_range, pg_range)
    assert sweeps.basins(field_a, *grid, out=out, part=(0, 2), **kw_a) is None
    before = _snapshot(out)
    assert sorted(f for f in before if f.startswith("chunk_")) == ["chunk_000000.npz", "chunk_000002.npz"]
    n0 = sweeps.trace_count()
    with pytest.raises(StoreError, match=match):
        sweeps.basins(field_b, *grid, out=out, **kw_b)
    assert _snapshot(out) == before and sweeps.trace_count() == n0  # refused before compiling
    resumed = sweeps.basins(field_a, *grid, out=out, **kw_a)
    _same(resumed, sweeps.basins(field_a, *grid, **kw_a))
    return resumed


# ----------------------------------------------------------------------------- identity


COMPUTATION = "the computation of one update differs"


def test_two_plain_optax_transformations_with_one_name_do_not_mix(tmp_path):
    _refused_then_resumes(tmp_path, MINIMAX, dict(KW, method=optax.sgd(0.1)), MINIMAX,
                          dict(KW, method=optax.sgd(0.2)), COMPUTATION)


def _game(scale):
    return jaxgan.Game(jnp.log, lambda d: jnp.log1p(-d), lambda d: -scale * jnp.log1p(-d), name="same_name",
                       d_domain=(0.0, 1.0))


def test_two_games_with_one_name_do_not_mix(tmp_path):
    a, b = jaxgan.pointwise_field(_game(1.0), 0.2), jaxgan.pointwise_field(_game(2.0), 0.2)
    assert a.name == b.name and a.rest_point.tolist() == b.rest_point.tolist()
    _refused_then_resumes(tmp_path, a, dict(KW, lr=0.05), b, dict(KW, lr=0.05), COMPUTATION)


def _rotation(k):
    A = jnp.array([[-0.1, k], [-k, -0.1]])
    return jaxgan.Field(lambda p, z: A @ (z - 0.5), rest_point=jnp.array([0.5, 0.5]), name="custom",
                        labels=("D", "pg"))


def test_two_custom_velocities_with_one_name_do_not_mix(tmp_path):
    _refused_then_resumes(tmp_path, _rotation(1.0), dict(KW, lr=0.05), _rotation(1.5), dict(KW, lr=0.05),
                          COMPUTATION)


def test_a_different_number_is_named_with_both_values(tmp_path):
    out = tmp_path / "chunks"
    sweeps.basins(MINIMAX, D8, PG8, out=out, part=(0, 2), lr=0.001, **KW)
    with pytest.raises(StoreError, match=r"method\.lr: 0\.001 vs 0\.002"):
        sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.002, **KW)
    with pytest.raises(StoreError, match=r"field\.params\.pd: 0\.2\d* vs 0\.3"):
        sweeps.basins(MINIMAX.replace(pd=0.3), D8, PG8, out=out, lr=0.001, **KW)
    opt = jaxgan.Optimizer(optax.sgd, learning_rate=0.01, momentum=0.5)
    sweeps.basins(MINIMAX, D8, PG8, out=tmp_path / "opt", part=(1, 2), method=opt, **KW)
    with pytest.raises(StoreError, match=r"method\.hyperparams\.momentum: 0\.5 vs 0\.9"):
        sweeps.basins(MINIMAX, D8, PG8, out=tmp_path / "opt", method=opt.replace(momentum=0.9), **KW)


def test_a_sweep_of_other_starts_or_values_is_refused_and_its_own_resumes(tmp_path):
    out = tmp_path / "chunks"
    kw = dict(steps=48, chunk=4, check_every=16)
    grid, ring = {"lr": [0.1, 0.3, 0.5, 0.7]}, [[0.02, 0.0], [0.0, 0.02]]
    assert sweeps.sweep(MINIMAX, grid, offsets=ring, out=out, part=(1, 2), **kw) is None
    with pytest.raises(StoreError, match="the starts differ"):
        sweeps.sweep(MINIMAX, grid, offsets=[[0.02, 0.0], [0.0, 0.03]], out=out, **kw)
    with pytest.raises(StoreError, match=r"grid\.lr: \[0\.1, 0\.3, 0\.5, 0\.7\] vs \[0\.1, 0\.3, 0\.5, 0\.8\]"):
        sweeps.sweep(MINIMAX, {"lr": [0.1, 0.3, 0.5, 0.8]}, offsets=ring, out=out, **kw)
    resumed = sweeps.sweep(MINIMAX, grid, offsets=ring, out=out, **kw)
    _same(resumed, sweeps.sweep(MINIMAX, grid, offsets=ring, **kw))


# The fingerprint in other processes: see the writers below (each child prints it too).


def test_a_chunk_whose_arrays_do_not_match_their_checksum_is_refused(tmp_path):
    out = tmp_path / "chunks"
    sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.01, **KW)
    path = out / "chunk_000001.npz"
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    assert "checksum" in json.loads(str(arrays["__meta__"]))
    arrays["final"][3, 0] += np.float32(1e-3)  # a flipped number, the rest of the file intact
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(StoreError, match="do not match their checksum"):
        sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.01, **KW)


def test_a_folder_of_the_previous_format_is_refused_with_its_version(tmp_path):
    out = tmp_path / "chunks"
    sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.01, part=(0, 4), **KW)
    manifest = out / "manifest.json"
    meta = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(StoreError, match="folder format 1"):
        sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.01, **KW)


# ----------------------------------------------------------------------------- several writers


def test_setting_up_a_folder_removes_only_stale_temporaries(tmp_path):
    """A temporary of a live process (this one, or one on another host, recent) is never removed;
    one of a dead process on this host, or one older than `STALE_AFTER_S`, is."""
    out = tmp_path / "chunks"
    sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.01, part=(0, 4), **KW)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = chunk_store._host()
    names = {
        "live": f".chunk_000001.npz.{host}.{os.getpid()}.0a1b2c3d.tmp",
        "other_host": f".chunk_000002.npz.elsewhere.{dead.pid}.0a1b2c3d.tmp",
        "dead": f".chunk_000003.npz.{host}.{dead.pid}.0a1b2c3d.tmp",
        "old": ".chunk_000003.npz.elsewhere.1.0a1b2c3d.tmp",
    }
    for n in names.values():
        (out / n).write_bytes(b"half a chunk")
    old = time.time() - chunk_store.STALE_AFTER_S - 60
    os.utime(out / names["old"], (old, old))
    sweeps.basins(MINIMAX, D8, PG8, out=out, lr=0.01, part=(0, 4), **KW)  # sets the folder up again
    left = set(os.listdir(out))
    assert names["live"] in left and names["other_host"] in left
    assert names["dead"] not in left and names["old"] not in left


def test_the_last_part_to_finish_assembles_chunks_written_meanwhile(tmp_path):
    """Another process writes its chunks while this one runs (simulated by the progress callback
    copying them in): the process that completes the folder returns the whole result."""
    kw = dict(KW, lr=0.01)
    sweeps.basins(MINIMAX, D8, PG8, out=tmp_path / "other", part=(1, 2), **kw)
    out = tmp_path / "shared"

    def other_process_writes(ev):
        if ev.done == 0:
            for f in ("chunk_000001.npz", "chunk_000003.npz"):
                shutil.copy(tmp_path / "other" / f, out / f)

    res = sweeps.basins(MINIMAX, D8, PG8, out=out, part=(0, 2), progress=other_process_writes, **kw)
    _same(res, sweeps.basins(MINIMAX, D8, PG8, **kw))


# ----------------------------------------------------------------------------- limits and rules


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(plane=(0.0, 1)), ArgumentTypeError, "`plane` must be a pair of coordinate indices"),
    (dict(plane=(0, 1.5)), ArgumentTypeError, "`plane` must be a pair of coordinate indices"),
    (dict(plane=(False, True)), ArgumentTypeError, "`plane`"),
    (dict(part=(0.5, 2)), ArgumentTypeError, "`part` must be a pair \\(index, count\\) of integers"),
    (dict(part=(1, 2.0)), ArgumentTypeError, "`part` must be a pair"),
    (dict(steps=2**31), ArgumentError, "`steps` must be at most 2\\*\\*31 - 1"),
    (dict(cycle_turns=2**40), ArgumentError, "`cycle_turns` must be an integer in \\[1, 2147483647\\]"),
    (dict(d_range=(0.05, 0.95, 10**7), pg_range=(0.05, 1.5, 10**7)), ArgumentError,
     "would need about .* TiB of host memory, more than .* sweep a smaller grid"),
])
def test_limits_are_refused_before_compiling(tmp_path, kwargs, error, match):
    args = {**dict(d_range=D8, pg_range=PG8, steps=48, lr=0.01, check_every=16), **kwargs}
    if "part" in args:
        args["out"] = tmp_path / "p"
    n0 = sweeps.trace_count()
    with pytest.raises(error, match=match):
        sweeps.basins(MINIMAX, args.pop("d_range"), args.pop("pg_range"), **args)
    assert sweeps.trace_count() == n0
    assert not (tmp_path / "p").exists()


def test_a_chunk_too_large_for_a_device_is_refused(monkeypatch):
    from jaxgan.sweeps import limits

    monkeypatch.setattr(limits, "memory_limit", lambda devices: 2**20)  # a device of 1 MiB
    n0 = sweeps.trace_count()
    with pytest.raises(ArgumentError, match="a chunk of 65,536 starts would need about 8.0 MiB .* smaller `chunk=`"):
        sweeps.basins(MINIMAX, (0.05, 0.95, 256), (0.05, 1.5, 256), steps=8, lr=0.01, chunk=2**16,
                      devices=jaxgan.sweeps.runner.jax.local_devices()[:1])
    assert sweeps.trace_count() == n0


def test_swept_parameters_obey_their_constructors_rules():
    ring = [[0.02, 0.0]]
    n0 = sweeps.trace_count()
    with pytest.raises(ArgumentError, match="parameter 'd0' is derived"):
        sweeps.sweep(MINIMAX, {"d0": [0.4, 0.6]}, steps=8, lr=0.01, offsets=ring)
    consensus = jaxgan.fields.consensus(MINIMAX, 0.1)
    with pytest.raises(ArgumentError, match="consensus_gamma.* non-negative"):
        sweeps.sweep(consensus, {"consensus_gamma": [0.1, -0.5]}, steps=8, lr=0.01, offsets=ring)
    with pytest.raises(ArgumentError, match="representable in float32"):
        sweeps.sweep(MINIMAX, {"pd": [0.2, 1e-300]}, steps=8, lr=0.01, offsets=ring)
    with pytest.raises(ArgumentTypeError, match="sequence of numbers"):
        sweeps.sweep(MINIMAX, {"lr": [True, 0.1]}, steps=8, offsets=ring)
    assert sweeps.trace_count() == n0


# ----------------------------------------------------------------------------- real processes (slow)

ENV = dict(os.environ, XLA_FLAGS=os.environ.get("JAXGAN_TEST_XLA_FLAGS", ""))  # this process's XLA options
D16, PG16 = (0.05, 0.95, 16), (0.05, 1.5, 16)
KW16 = dict(steps=256, lr=0.01, chunk=16, check_every=16)  # 16 chunks

WRITER = textwrap.dedent("""
    import os, sys, time, numpy as np, optax, jaxgan
    from jaxgan import sweeps
    from jaxgan.dynamics import method_args
    from jaxgan.sweeps.identity import fingerprint
    out, index, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    field = jaxgan.pointwise_field("minimax", 0.2)
    for method, lr in (("rk4", 0.01), (optax.adam(1e-3), None)):  # for test_fingerprint_is_the_same_in_every_process
        print("FINGERPRINT", fingerprint(field, *method_args(method, lr), "float32"))
    print("READY", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    if index == count - 1:  # the last one sets the folder up while the others write their chunks
        while not (os.path.isdir(out) and any(f.startswith("chunk_") for f in os.listdir(out))):
            time.sleep(0.005)
    res = sweeps.basins(field, (0.05, 0.95, 16), (0.05, 1.5, 16), steps=256, lr=0.01, chunk=16, check_every=16,
                        out=out, part=(index, count))
    if res is not None:
        np.save(os.path.join(os.path.dirname(out), f"result_{index}.npy"), res.final)
    print("DONE", res is not None, flush=True)
""")


def _wait_ready(procs):
    """The lines each child printed before READY."""
    before = []
    for p in procs:
        lines = []
        while (line := p.stdout.readline()).strip() not in ("READY", ""):
            lines.append(line)
        assert line.strip() == "READY", (line, p.stderr.read()[-2000:] if p.poll() is not None else "")
        before.append(lines)
    return before


def _finish(procs, timeout=240):
    outs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == 0, stderr[-3000:]
        outs.append(stdout)
    return outs


@pytest.fixture(scope="module")
def writers(tmp_path_factory):
    """Three processes write one folder at the same time (`part=(i, 3)`): this one (part 0) and two
    children (parts 1 and 2, the last starting while the others write; their scripts start at different
    source lines). Returns the folder, the children's lines before READY and after, and this process's
    result."""
    tmp = tmp_path_factory.mktemp("writers")
    out, go = tmp / "shared", tmp / "go"
    procs = [subprocess.Popen([sys.executable, "-c", "\n" * (7 * i) + WRITER, str(out), str(i), "3", str(go)],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    try:
        printed = _wait_ready(procs)
        go.write_text("go")
        mine = sweeps.basins(MINIMAX, D16, PG16, out=out, part=(0, 3), **KW16)
    finally:
        go.write_text("go")  # (a child never waits for ever)
        outs = _finish(procs)
    return out, printed, outs, mine


def test_fingerprint_is_the_same_in_every_process(writers):
    """Two fresh processes (different source line numbers: the script starts on another line)
    agree with each other and with this one."""
    from jaxgan.dynamics import method_args
    from jaxgan.sweeps.identity import fingerprint

    _, printed, _, _ = writers
    runs = [[line.split()[1] for line in lines if line.startswith("FINGERPRINT ")] for lines in printed]
    assert runs[0] == runs[1] and len(runs[0]) == 2
    here = [fingerprint(MINIMAX, *method_args(m, lr), "float32") for m, lr in (("rk4", 0.01), (optax.adam(1e-3), None))]
    assert runs[0] == here and here[0] != here[1]


@pytest.mark.slow
def test_concurrent_writers_assemble_to_the_single_process_result(writers):
    """Three processes write one folder at the same time (`part=(i, 3)`), the last one starting
    while the others write; then one call assembles: bit for bit the single-process result."""
    out, _, outs, mine = writers
    assert all("DONE" in o for o in outs)
    single = sweeps.basins(MINIMAX, D16, PG16, **KW16)
    n0 = sweeps.trace_count()
    assembled = sweeps.basins(MINIMAX, D16, PG16, out=out, **KW16)
    assert sweeps.trace_count() == n0  # every chunk was there: nothing recomputed
    _same(assembled, single)
    results = [np.load(f) for f in out.parent.glob("result_*.npy")] + ([mine.final] if mine is not None else [])
    for final in results:  # a process that completed the folder returned the whole result
        np.testing.assert_array_equal(final, single.final)
    assert results  # the last one to finish had every chunk
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


DISTRIBUTED = textwrap.dedent("""
    import os, sys, numpy as np, jax
    port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
                               initialization_timeout=120)
    import jaxgan
    from jax.experimental import multihost_utils
    assert jax.process_count() == 2 and jax.process_index() == pid and len(jax.local_devices()) == 1
    field = jaxgan.pointwise_field("minimax", 0.2)
    kw = dict(steps=256, lr=0.01, chunk=16, check_every=16, out=out)
    part = jaxgan.basins(field, (0.05, 0.95, 16), (0.05, 1.5, 16), part=(jax.process_index(), jax.process_count()),
                         **kw)
    multihost_utils.sync_global_devices("every part is in")   # the README's barrier
    if jax.process_index() == 0:
        result = jaxgan.basins(field, (0.05, 0.95, 16), (0.05, 1.5, 16), **kw)
        np.savez(os.path.join(os.path.dirname(out), "assembled.npz"), fate=result.fate, step=result.step,
                 final=result.final, turns=result.turns)
    multihost_utils.sync_global_devices("assembled")
    print("DIST-OK", part is None, flush=True)
""")


@pytest.mark.slow
def test_the_readmes_multi_host_recipe_with_jax_distributed(tmp_path):
    """`jax.distributed.initialize` on localhost (CPU, two processes): each runs its part into one
    folder, a barrier, then process 0 assembles: bit for bit the single-process result."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", DISTRIBUTED, str(port), str(i), str(out)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = _finish(procs)
    assert all("DIST-OK" in o for o in outs), outs
    single = sweeps.basins(MINIMAX, D16, PG16, **KW16)
    with np.load(tmp_path / "assembled.npz") as data:
        for name in NAMES:
            np.testing.assert_array_equal(data[name], getattr(single, name))

# The two adaptive solvers' tolerances: test_sweeps.py (with that file's adaptive kernel).
