"""The program store (`jaxgan/_exported.py`): programs kept as `jax.export` artifacts, so that a later
process calls them without tracing them.

In this process (a store needs no change to `jax.config`): the convergence table through a store, cold
(exported and written) and warm (a fresh store on the same folder: loaded), against the table without
one; the oracle that a warm store traces nothing is a velocity that counts its traces. Then the key, and
bad folders and entries. The command's own use (`jaxgan table convergence`, cold and warm in fresh
processes) is in tests/test_cli_cache.py.
"""

from __future__ import annotations

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import _exported, tables

METHODS = ("optimistic",)  # an optimiser state in the runs
STEPS, N_SAVES = 200, 20
TRACES = []


def _counted_velocity(params, z):
    TRACES.append(str(z.dtype))  # Python runs once per trace of the velocity, not per evaluation
    return jnp.stack([-params["a"] * z[1], params["a"] * z[0] - params["b"] * z[1]]).astype(z.dtype)


def cases():
    counted = jaxgan.Field(_counted_velocity, {"a": jnp.float32(1.0), "b": jnp.float32(0.1)},
                           rest_point=jnp.zeros(2), name="counted")
    counted2 = jaxgan.Field(_counted_velocity, {"a": jnp.float32(2.0), "b": jnp.float32(0.3)},
                            rest_point=jnp.zeros(2), name="counted")
    return [tables.ConvergenceCase("counted", "none", counted),
            tables.ConvergenceCase("counted", "other", counted2),  # same kind: stacked
            tables.ConvergenceCase("dirac_gan", "r1(0.3)", jaxgan.fields.r1(jaxgan.fields.dirac_gan(), 0.3))]


def table():
    return tables.convergence_table(cases(), METHODS, steps=STEPS, n_saves=N_SAVES, progress=False)


def entries(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.rglob("*.exported")}


@pytest.fixture(scope="module")
def plain():
    return table()


@pytest.fixture(scope="module")
def stored(tmp_path_factory, plain):
    """A store filled by one table (cold), and that table's rows."""
    folder = tmp_path_factory.mktemp("programs")
    with _exported.using(str(folder)) as store:
        assert store is not None and _exported.active() is store
        rows = table()
    assert _exported.active() is None
    return folder, rows


def test_a_cold_store_gives_the_tables_numbers(plain, stored):
    folder, rows = stored
    assert [r.as_dict() for r in rows] == [r.as_dict() for r in plain]  # to the last digit
    # One program per update rule for the runs, and the rest points' Jacobians (in float64).
    assert len(entries(folder)) == len(METHODS) + 1
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in folder.iterdir())  # the owner's only


def test_a_warm_store_traces_nothing_and_gives_the_same_numbers(plain, stored):
    folder, _ = stored
    before = entries(folder)
    del TRACES[:]
    with _exported.using(str(folder)):  # a fresh store: nothing of the cold one kept in memory
        rows = table()
    assert TRACES == []  # no field was traced: every program was loaded
    assert [r.as_dict() for r in rows] == [r.as_dict() for r in plain]
    assert entries(folder) == before  # nothing written


def test_another_shape_or_setting_is_another_program(stored, tmp_path):
    folder, _ = stored
    store = _exported.ProgramStore(str(folder))
    field = cases()[2].field
    z = jnp.ones(2, jnp.float32)
    args = ((tables._called_once(field),), (z,))
    key = store.key("tables.at_points", args, {}, tables.QUICK_COMPILE)
    assert key == _exported.ProgramStore(str(tmp_path)).key("tables.at_points", args, {}, tables.QUICK_COMPILE)
    assert key == store.key("tables.at_points", ((tables._called_once(cases()[2].field),), (z,)), {},
                            tables.QUICK_COMPILE)  # another Field object of the same kind: functions' addresses differ
    others = [store.key("tables.other", args, {}, tables.QUICK_COMPILE),
              store.key("tables.at_points", ((tables._called_once(field),), (jnp.ones(3, jnp.float32),)), {},
                        tables.QUICK_COMPILE),
              store.key("tables.at_points", args, {"n_saves": 3}, tables.QUICK_COMPILE),
              store.key("tables.at_points", args, {}, {}),
              store.key("tables.at_points", ((tables._called_once(jaxgan.fields.r2(jaxgan.fields.dirac_gan(), 0.3)),),
                                             (z,)), {}, tables.QUICK_COMPILE)]
    with jax.default_matmul_precision("highest"):
        others.append(store.key("tables.at_points", args, {}, tables.QUICK_COMPILE))
    with jax.enable_x64(True):
        others.append(store.key("tables.at_points", ((tables._called_once(jax.tree_util.tree_map(
            tables._to_f64, field)),), (jnp.ones(2, jnp.float64),)), {}, tables.QUICK_COMPILE))
    assert len({key, *others}) == len(others) + 1


def test_an_unreadable_entry_is_exported_again_with_one_warning(plain, stored, tmp_path):
    folder, _ = stored
    said = []
    bad = tmp_path / "bad"
    for name, data in entries(folder).items():  # every entry truncated to half
        (bad / _exported._salt()).mkdir(parents=True, exist_ok=True)
        (bad / _exported._salt() / name).write_bytes(data[: len(data) // 2])
    with _exported.using(str(bad), said.append):
        rows = table()
    assert [r.as_dict() for r in rows] == [r.as_dict() for r in plain]
    assert len(said) == 1 and "cannot be read" in said[0] and str(bad) in said[0]
    rewritten = entries(bad)
    assert set(rewritten) == set(entries(folder))
    for data in rewritten.values():  # whole again (the bytes may differ: the trace's source locations)
        jax.export.deserialize(bytearray(data))


def test_an_unwritable_folder_is_one_warning_and_the_numbers_stay(plain, tmp_path):
    said = []
    (tmp_path / "a-file").write_text("not a folder")
    with _exported.using(str(tmp_path / "a-file" / "programs"), said.append):
        rows = table()
    assert [r.as_dict() for r in rows] == [r.as_dict() for r in plain]
    assert len(said) == 1 and "cannot write the program store" in said[0] and "tracing every program" in said[0]


def test_a_new_salt_removes_the_other_salts_folders(tmp_path):
    old = tmp_path / "0123456789abcdef01234567"
    old.mkdir()
    (old / "x.exported").write_bytes(b"an entry of another jaxgan")
    (tmp_path / "a-file").write_text("kept: not a salt's folder")
    store = _exported.ProgramStore(str(tmp_path))
    out = store.call("test.double", _double, (jnp.arange(3.0),), {}, {})
    np.testing.assert_array_equal(np.asarray(out), [0.0, 2.0, 4.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([_exported._salt(), "a-file"])


@jax.jit
def _double(x):
    return 2 * x


@jax.jit
def _double_and_tell(x):
    jax.debug.callback(lambda v: None, x)  # a host callback: jax.export refuses it
    return 2 * x


def test_a_program_jax_cannot_export_runs_as_usual_and_is_not_kept(tmp_path):
    store = _exported.ProgramStore(str(tmp_path))
    for _ in range(2):
        out = store.call("test.double_and_tell", _double_and_tell, (jnp.arange(3.0),), {}, {})
        np.testing.assert_array_equal(np.asarray(out), [0.0, 2.0, 4.0])
    assert list(tmp_path.rglob("*.exported")) == []


def test_without_flatbuffers_no_store_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(_exported, "available", lambda: False)
    with _exported.using(str(tmp_path)) as store:
        assert store is None and _exported.active() is None
        np.testing.assert_array_equal(np.asarray(_exported.call("test.double", _double, (jnp.ones(2),))), [2.0, 2.0])
    assert list(tmp_path.iterdir()) == []


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@jax.jit
def _affine(x, pair):
    return {"y": 2 * x + pair[0], "z": jnp.sum(pair[1])}


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(shape=st.lists(st.integers(0, 3), max_size=3), dtype=st.sampled_from(["float32", "int32", "bool"]),
       seed=st.integers(0, 2 ** 16))
def test_any_arguments_through_a_store_give_the_direct_call(tmp_path_factory, shape, dtype, seed):
    # Pytrees of arrays of any small shape and dtype (empty ones too): the store's call (exported, then
    # loaded by a fresh store on the same folder) equals the direct call, bit for bit.
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=shape) * 10).astype(dtype)
    pair = (jnp.asarray(rng.normal(size=shape)).astype(jnp.float32), jnp.arange(len(shape), dtype=jnp.int32))
    want = _affine(x, pair)
    folder = str(tmp_path_factory.mktemp("store"))
    for _ in range(2):  # cold, then warm
        got = _exported.ProgramStore(folder).call("test.affine", _affine, (x, pair), {}, {})
        assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(list(pathlib.Path(folder).rglob("*.exported"))) == 1
