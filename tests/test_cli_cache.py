"""The `jaxgan` command's persistent compilation cache (`jaxgan/cli/_cache.py`).

Each run that turns the cache on is a fresh process (JAX decides once per process whether it uses the
cache, and the test process must keep `jax.config` as it is): a few small `jaxgan stability` runs in
subprocesses, with `JAXGAN_CACHE_DIR` in a temporary folder. Oracles: the folder's files (JAX's
entries are named `<program>-<key>-cache`; a warm run that finds every program writes none), and the
command's output, which the cache must not change. What needs no cache (the folder rules, an unusable
folder, `--no-cache`) runs in-process, where nothing touches `jax.config`.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import jax
import pytest

from jaxgan import cli
from jaxgan.cli import _cache

ARGS = ["stability", "minimax", "--pd", "0.3"]  # a few small programs, float32 and float64


def child_env(cache_dir, **env) -> dict:
    """This process's environment for a child, without its JAX and jaxgan settings, the cache in `cache_dir`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("JAXGAN_", "JAX_"))}
    return {**environ, "JAXGAN_CACHE_DIR": str(cache_dir), "JAX_PLATFORMS": "cpu", **env}


def jaxgan(args, cache_dir, **env):
    """`jaxgan ARGS` as the command (a fresh process), with its cache in `cache_dir`."""
    return subprocess.run([sys.executable, "-m", "jaxgan.cli", *args], capture_output=True, text=True,
                          env=child_env(cache_dir, **env), timeout=600)


def entries(folder) -> dict:
    """JAX's cache entries in `folder`: name -> bytes."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith("-cache")}


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A cache folder (created by the run: it did not exist) filled by one run, and that run."""
    folder = tmp_path_factory.mktemp("cache") / "jaxgan" / "jax-cache"
    return folder, jaxgan(ARGS, folder)


def test_the_command_creates_and_fills_its_private_cache(filled):
    folder, run = filled
    assert run.returncode == 0, run.stderr
    assert run.stderr == "" and "minimax at pd = 0.3" in run.stdout
    assert len(entries(folder)) >= 3  # the small programs too (no compile-time threshold)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # JAX runs what it finds there: the owner's only


def test_a_warm_run_finds_every_program_and_prints_the_same(filled, tmp_path):
    folder, first = filled
    warm = tmp_path / "warm"
    shutil.copytree(folder, warm)
    before = entries(warm)
    run = jaxgan(ARGS, warm)
    assert run.returncode == 0 and run.stderr == "" and run.stdout == first.stdout
    assert entries(warm) == before  # nothing compiled afresh, so nothing written


def test_foreign_and_corrupted_entries_are_compiled_afresh(filled, tmp_path):
    # Entries under other keys (another jax version, another machine: JAX puts its version, the backend
    # and the compiler's flags in the key), entries that are garbage, and files that are not entries.
    folder, first = filled
    odd = tmp_path / "odd"
    odd.mkdir()
    real = entries(folder)
    names = sorted(real)
    foreign, corrupt = names[::2], names[1::2]
    for name in foreign:  # the same program under another key: never read
        program, key, _ = name.rsplit("-", 2)
        (odd / f"{program}-{key[::-1]}-cache").write_bytes(real[name])
    for name in corrupt:  # the right key, unreadable content
        (odd / name).write_bytes(b"not an executable" * 7)
    (odd / "notes.txt").write_text("not JAX's")
    (odd / "sub").mkdir()
    run = jaxgan(ARGS, odd)
    assert run.returncode == 0, run.stderr
    assert run.stdout == first.stdout
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxgan: warning: the compilation cache ")
    assert "cannot be read" in lines[0] and "remove the folder" in lines[0]
    after = entries(odd)
    assert set(foreign) <= set(after)  # missed under the foreign keys, compiled, written at their own
    assert all(after[name] == b"not an executable" * 7 for name in corrupt)  # JAX never overwrites an entry


TABLE = ["table", "convergence", "--game", "bilinear", "--method", "euler", "--method", "optimistic", "--steps", "400",
         "--quiet"]


def test_the_table_keeps_its_programs_traced_and_a_warm_run_loads_them(tmp_path, capsys):
    # The program store (`jaxgan._exported`) in the cache folder: the cold run exports and writes the
    # table's programs, the warm run loads them (and writes nothing), both print what the library prints.
    folder = tmp_path / "c"
    cold = jaxgan(TABLE, folder)
    assert cold.returncode == 0 and cold.stderr == "", cold.stderr
    programs = {p.relative_to(folder): p.read_bytes() for p in (folder / _cache.PROGRAMS).rglob("*.exported")}
    assert len(programs) == 2 + 1  # a program per update rule for the runs; the Jacobians (in float64)
    before = entries(folder)
    warm = jaxgan(TABLE, folder)
    assert warm.returncode == 0 and warm.stderr == "" and warm.stdout == cold.stdout
    assert entries(folder) == before
    assert {p.relative_to(folder): p.read_bytes() for p in (folder / _cache.PROGRAMS).rglob("*.exported")} == programs
    assert cli.main(TABLE) == 0  # in this process: no cache, no store
    assert capsys.readouterr().out == cold.stdout


# A slow disk: each file written in the cache folder is written in two halves, 0.5 s apart, whichever way
# it is written (JAX's `write_bytes`, `open`, `os.fdopen`), while another thread compiles the same program
# and looks it up. An entry written in place is read half written ("incomplete or truncated stream").
_SLOW_DISK_RACE = """
import builtins, os, pathlib, sys, threading, time, warnings
import jax, jax.numpy as jnp
from jaxgan.cli._cache import compilation_cache
from jax._src import path as jax_path  # the class of JAX's cache paths (etils' epath where installed)

folder = pathlib.Path(sys.argv[1])
armed, writing = threading.Event(), threading.Event()

class Slow:
    def __init__(self, f):
        self.f = f
    def write(self, data):
        half = len(data) // 2
        self.f.write(data[:half]); self.f.flush()
        if armed.is_set():
            writing.set()  # the first half is on disk
        time.sleep(0.5)
        return half + self.f.write(data[half:])
    def __getattr__(self, name):
        return getattr(self.f, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.f.__exit__(*exc)

real_open, real_fdopen, write_bytes = builtins.open, os.fdopen, jax_path.Path.write_bytes
def slow_open(file, mode="r", *args, **kwargs):
    f = real_open(file, mode, *args, **kwargs)
    return Slow(f) if "w" in mode and str(file).startswith(str(folder)) else f
def slow_fdopen(fd, mode="r", *args, **kwargs):
    f = real_fdopen(fd, mode, *args, **kwargs)
    return Slow(f) if "w" in mode else f
def slow_write_bytes(path, data):
    with slow_open(str(path), "wb") as f:
        return f.write(data)
builtins.open, os.fdopen, jax_path.Path.write_bytes = slow_open, slow_fdopen, slow_write_bytes

def make():  # a new function each call, the same program: found only in the persistent cache
    def program(x):
        for i in range(3):
            x = jnp.sin(x) @ x + i
        return x
    return program

with compilation_cache(True), warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    x = jnp.ones((8, 8)).block_until_ready()
    armed.set()
    first = threading.Thread(target=lambda: jax.jit(make())(x).block_until_ready())
    first.start()
    assert writing.wait(120)  # the first thread is writing its entry
    again = jax.jit(make())(x)  # looks the program up
    first.join()
print(float(again.sum()), len(said))
"""


def test_threads_never_read_an_entry_still_being_written(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    run = subprocess.run([sys.executable, "-c", _SLOW_DISK_RACE, str(folder)], capture_output=True, text=True,
                         env=child_env(folder), timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no "entry that cannot be read"
    assert run.stdout.split()[1] == "0"
    assert len([name for name in entries(folder) if name.startswith("jit_program-")]) == 1


def test_no_cache_leaves_the_folder_alone(filled, tmp_path, capsys, monkeypatch):
    # In this process (`--no-cache` leaves `jax.config` alone, which the test checks): the same output
    # as the run that filled the cache, and no folder.
    folder, first = filled
    unused = tmp_path / "unused"
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(unused))
    monkeypatch.delenv("JAXGAN_NO_CACHE", raising=False)
    before = jax.config.jax_compilation_cache_dir
    code = cli.main(["--no-cache", *ARGS], cache=True)
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and out == first.stdout
    assert not unused.exists() and jax.config.jax_compilation_cache_dir == before


# ----------------------------------------------------------------------------- in-process: no cache turned on


def test_the_folder_rules(tmp_path):
    home = os.path.expanduser("~")
    assert _cache.cache_dir({}) == os.path.join(home, ".cache", "jaxgan", "jax-cache")
    assert _cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "jaxgan" / "jax-cache")
    assert _cache.cache_dir({"XDG_CACHE_HOME": "x", "JAXGAN_CACHE_DIR": str(tmp_path / "c")}) == str(tmp_path / "c")
    assert _cache.cache_dir({"JAXGAN_CACHE_DIR": "", "XDG_CACHE_HOME": ""}) == _cache.cache_dir({})
    assert [_cache.cache_disabled({"JAXGAN_NO_CACHE": v}) for v in ("1", "yes", "TRUE", "0", "", "false", "off")] \
        == [True, True, True, False, False, False, False]
    assert not _cache.cache_disabled({})


def _unwritable(tmp_path):
    """A cache folder that cannot be created, whoever runs the tests (root included): under a file."""
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file" / "jax-cache"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_off_means_off_even_with_an_unwritable_folder(capsys, monkeypatch, tmp_path, how):
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(_unwritable(tmp_path)))
    if how == "env":
        monkeypatch.setenv("JAXGAN_NO_CACHE", "1")
    before = jax.config.jax_compilation_cache_dir
    code = cli.main((["--no-cache"] if how == "flag" else []) + ["games"], cache=True)
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and "minimax" in out
    assert jax.config.jax_compilation_cache_dir == before


def test_an_unwritable_folder_is_one_warning_and_the_run_goes_on(capsys, monkeypatch, tmp_path):
    folder = _unwritable(tmp_path)
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(folder))
    monkeypatch.delenv("JAXGAN_NO_CACHE", raising=False)
    before = jax.config.jax_compilation_cache_dir
    code = cli.main(["games"], cache=True)
    out, err = capsys.readouterr()
    assert code == 0 and "minimax" in out
    assert err.count("\n") == 1 and err.startswith(f"jaxgan: warning: cannot use the compilation cache {str(folder)!r}")
    assert "--no-cache" in err and "JAXGAN_CACHE_DIR" in err
    assert jax.config.jax_compilation_cache_dir == before  # not turned on


def test_main_called_from_a_program_leaves_jax_config_alone(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("JAXGAN_NO_CACHE", raising=False)
    before = jax.config.jax_compilation_cache_dir
    assert cli.main(["games"]) == 0
    assert jax.config.jax_compilation_cache_dir == before and not (tmp_path / "c").exists()
    capsys.readouterr()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert _cache._unusable(str(folder)) is not None
    finally:
        folder.chmod(0o700)
