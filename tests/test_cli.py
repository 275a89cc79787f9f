"""The `jaxgan` command: each command against the library and closed forms, and its one error story
(bad input: one line, exit 2; a bug: its traceback), its progress lines, and that it leaves
`jax.config` as it found it.

Oracles: the closed forms of the minimax field at pd (λ = -4pd ± 2√(4pd² - 1), Euler's largest
stable step 2pd, alternating's -2pd + √(4pd² + 1)) and `jaxgan.analyze` as a cross-check.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import types

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxgan  # noqa: E402
from jaxgan import cli  # noqa: E402
from jaxgan.errors import ArgumentError, JaxganError  # noqa: E402
from jaxgan.progress import ProgressEvent  # noqa: E402


def run_cli(argv, capsys):
    """`jaxgan ARGV` in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def minimax_eigs(pd):
    s = 2 * np.sqrt(complex(4 * pd * pd - 1))
    return np.array([-4 * pd - s, -4 * pd + s])


# ----------------------------------------------------------------------------- the commands


def test_games_table_and_json(capsys):
    code, out, err = run_cli(["games"], capsys)
    assert code == 0 and err == ""
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    for name in jaxgan.games.names():
        assert name in lines
    assert "stable" in lines["minimax"] and "centre" in lines["wasserstein"]
    code, out, _ = run_cli(["games", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == jaxgan.games.names()
    by = {r["name"]: r for r in rows}
    assert by["minimax"]["d0"] == pytest.approx(0.5) and by["quadratic"]["d0"] == pytest.approx(1.0)
    assert by["minimax"]["verdict"] == "stable" and by["hinge"]["verdict"].startswith("centre")


@pytest.mark.parametrize("pd", [0.2, 0.35])
def test_stability_json_matches_closed_forms_and_analyze(capsys, pd):
    code, out, err = run_cli(["stability", "minimax", "--pd", str(pd), "--json"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    ev = np.array([complex(*e) for e in data["eigenvalues"]])
    rep = jaxgan.analyze(jaxgan.pointwise_field("minimax", pd))
    np.testing.assert_allclose(ev, rep.eigenvalues, rtol=1e-6)
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(minimax_eigs(pd)), rtol=1e-5)
    np.testing.assert_allclose(data["jacobian"], [[-8 * pd, -2], [2, 0]], rtol=1e-5)
    assert data["kind"] == "stable focus" and data["stable"] is True
    assert data["criterion"]["curvature"] == pytest.approx(-8) and data["criterion"]["coupling"] == pytest.approx(-4)
    assert data["max_stable_lr"]["euler"] == pytest.approx(2 * pd, rel=1e-5)
    assert data["max_stable_lr"]["alternating"] == pytest.approx(-2 * pd + math.sqrt(4 * pd * pd + 1), rel=1e-5)


def test_stability_text(capsys):
    code, out, _ = run_cli(["stability", "wasserstein"], capsys)
    assert code == 0
    assert "centre" in out and "FAILS" in out and "(f1''+f2'')(D0) = 0" in out
    assert "euler 0 (no step is stable)" in out


@pytest.mark.parametrize("argv, expect", [
    (["stability", "nope"], "valid names: hellinger"),
    (["stability", "minimax", "--pd", "0"], "--pd"),
    (["stability", "minimax", "--pd", "nan"], "--pd"),
    (["portrait", "minimax", "--start", "1.5", "0.9", "--out", "{tmp}/p.png"], "outside the domain"),
    (["portrait", "minimax", "--out", "{tmp}/p.xyz"], "use one of"),
    (["portrait", "minimax", "--out", "{tmp}/missing/p.png"], "does not exist"),
    (["portrait", "minimax", "--method", "foo", "--out", "{tmp}/p.png"], "choose from"),
    (["portrait", "minimax", "--steps", "0", "--out", "{tmp}/p.png"], "--steps"),
    (["portrait", "minimax", "--d-range", "1", "0", "--out", "{tmp}/p.png"], "--d-range"),
    (["portrait", "nope", "--out", "{tmp}/p.png"], "valid names"),
    (["reproduce", "--out", "{tmp}/a_file"], "not a folder"),
    (["reproduce", "--out", "{tmp}/r", "--lr", "-1"], "--lr"),
    (["frobnicate"], "choose from"),
])
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, argv, expect):
    (tmp_path / "a_file").write_text("user data")
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert expect in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (tmp_path / "a_file").read_text() == "user data"
    assert not (tmp_path / "p.png").exists()


def test_entry_point_subprocess_error_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "jaxgan.cli", "stability", "classicc"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "valid names" in proc.stderr and "minimax" in proc.stderr


def test_portrait_command_writes_png(capsys, tmp_path):
    out = tmp_path / "p.png"
    code, stdout, err = run_cli(["portrait", "minimax", "--pd", "0.2", "--start", "0.75", "0.9", "--start", "0.3",
                                 "0.5", "--steps", "2000", "--out", str(out)], capsys)
    assert code == 0 and err == "" and str(out) in stdout
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000


def test_every_command_is_listed_in_order():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == ["games", "stability", "portrait", "reproduce", "basins", "sweep", "kernel", "table",
                                 "experiment"]


# ----------------------------------------------------------------------------- one error story


def test_cli_error_is_a_jaxgan_error():
    assert issubclass(cli.CLIError, JaxganError)


def test_library_input_error_is_one_line_exit_2(capsys, monkeypatch):
    def bad_input(*a, **k):
        raise ArgumentError("analyze argument `z` must be inside the domain; got 7.")

    monkeypatch.setattr(jaxgan.stability, "analyze", bad_input)
    code, out, err = run_cli(["stability", "minimax"], capsys)
    assert code == 2 and out == ""
    assert err == "jaxgan stability: error: analyze argument `z` must be inside the domain; got 7.\n"


@pytest.mark.parametrize("exc", [ValueError("a bug, not bad input"), TypeError("a bug, not bad input")])
def test_library_bug_keeps_its_traceback(capsys, monkeypatch, exc):
    # A plain ValueError / TypeError from inside the library is a bug: it propagates (the console script
    # then prints its traceback and exits 1), never "exit 2, one line".
    def bug(*a, **k):
        raise exc

    monkeypatch.setattr(jaxgan.stability, "analyze", bug)
    with pytest.raises(type(exc), match="a bug, not bad input"):
        cli.main(["stability", "minimax"])
    assert capsys.readouterr().err == ""


def test_kernel_x64_leaves_jax_config_as_it_found_it(capsys, monkeypatch):
    # `--x64` computes in float64 (the kernel comes back float64) without switching x64 on for the
    # rest of the process: jaxgan never changes jax.config.
    assert not jax.config.jax_enable_x64
    dtypes = []
    real = jaxgan.kernels.kernel_study

    def spy(*a, **k):
        out = real(*a, **k)
        dtypes.append(out.K.dtype)
        return out

    monkeypatch.setattr(jaxgan.kernels, "kernel_study", spy)
    try:
        code = cli.main(["kernel", "--x64", "--width", "4", "--depth", "1", "--n", "6"])
        x64_after = jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", False)  # keep the other tests in float32 even if this one fails
    assert code == 0 and "float64" in capsys.readouterr().out
    assert dtypes == [np.float64]
    assert x64_after is False
    assert jax.numpy.ones(1).dtype == np.float32


# ----------------------------------------------------------------------------- progress


def test_progress_lines_are_the_events_on_stderr(capsys):
    from jaxgan.cli._common import progress_printer

    assert progress_printer(argparse.Namespace(quiet=True)) is False
    show = progress_printer(argparse.Namespace(quiet=False))
    show(ProgressEvent("basins", 2, 8, "chunk 2"))
    assert capsys.readouterr() == ("", "  basins: 2/8 chunk 2\n")


def test_reproduce_passes_a_progress_callable_or_false(capsys, monkeypatch, tmp_path):
    got = []

    def fake_reproduce(out, *, progress, **kw):
        got.append(progress)
        if progress:
            progress(ProgressEvent("reproduce", 1, 1, "eigenvalues.png"))
        return types.SimpleNamespace(files=["eigenvalues.png"], seconds=1.5)

    monkeypatch.setattr(jaxgan.article, "reproduce", fake_reproduce)
    code, out, err = run_cli(["reproduce", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and err == "  reproduce: 1/1 eigenvalues.png\n"
    assert out.splitlines() == [f"  {tmp_path / 'r' / 'eigenvalues.png'}", f"wrote 1 files to {tmp_path / 'r'} in 1.5 s"]
    code, out, err = run_cli(["reproduce", "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 0 and err == "" and got[-1] is False
