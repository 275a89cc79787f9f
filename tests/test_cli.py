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
                          text=True, timeout=120,
                          env={**os.environ, "JAX_PLATFORMS": "cpu", "JAXGAN_NO_CACHE": "1"})  # not the user's cache
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


def test_progress_is_auto_or_off():
    from jaxgan.cli._common import progress_printer

    assert progress_printer(argparse.Namespace(quiet=True)) is False
    assert progress_printer(argparse.Namespace(quiet=False)) is None  # a bar when stderr is a terminal


def test_reproduce_passes_progress_auto_or_false(capsys, monkeypatch, tmp_path):
    got = []

    def fake_reproduce(out, *, progress, **kw):
        got.append(progress)
        with jaxgan.progress.reporter("reproduce", progress, "reproduce", 1) as report:
            report(1, "eigenvalues.png")
        return types.SimpleNamespace(files=["eigenvalues.png"], seconds=1.5)

    monkeypatch.setattr(jaxgan.article, "reproduce", fake_reproduce)
    code, out, err = run_cli(["reproduce", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and err == "" and got[-1] is None  # auto: stderr is not a terminal here
    assert out.splitlines() == [f"  {tmp_path / 'r' / 'eigenvalues.png'}", f"wrote 1 files to {tmp_path / 'r'} in 1.5 s"]
    code, out, err = run_cli(["reproduce", "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 0 and err == "" and got[-1] is False


# ----------------------------------------------------------------------------- paths and flags, before computing


@pytest.fixture
def no_computing(monkeypatch):
    """Every long library call a command makes, replaced by one that fails the test: an error that
    the command reports while these are in place was found before the computation started."""
    def computed(*a, **k):
        raise AssertionError("the computation started before the bad input was refused")

    for owner, name in ((jaxgan.sweeps, "basins"), (jaxgan.sweeps, "sweep"), (jaxgan.plotting, "phase_portrait"),
                        (jaxgan.article, "reproduce"), (jaxgan.kernels, "kernel_study"),
                        (jaxgan.tables, "convergence_table"), (jaxgan.neural, "batchnorm_experiment")):
        monkeypatch.setattr(owner, name, computed)


def _unwritable_folder(tmp_path) -> str:
    """A folder this process cannot create files in: a read-only one, or (as root, who may write
    anywhere permissions say no) /sys; skips when neither refuses."""
    import tempfile

    ro = tmp_path / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    for folder in (str(ro), "/sys"):
        try:
            fd, probe = tempfile.mkstemp(dir=folder)
        except OSError:
            return folder
        os.close(fd)
        os.remove(probe)
    pytest.skip("no folder here refuses writes")


SWEEP = ["--steps", "10", "--quiet"]
BASINS = ["basins", "minimax", "--d", "0.1", "0.9", "4", "--pg", "0.1", "1", "4"] + SWEEP
SWEEP_LR = ["sweep", "minimax", "--vary", "lr", "0.01", "0.1", "3"] + SWEEP
TABLE = ["table", "convergence", "--steps", "8", "--game", "dirac_gan", "--regulariser", "none", "--method", "euler",
         "--quiet"]


@pytest.mark.parametrize("argv, expect", [
    # an output file in a missing folder, or in a "folder" that is a file
    (["portrait", "minimax", "--out", "{tmp}/a_file/p.png"], "--out '{tmp}/a_file/p.png': '{tmp}/a_file' is a file"),
    (BASINS + ["--out", "{tmp}/missing/x.npz"], "--out '{tmp}/missing/x.npz': folder '{tmp}/missing' does not exist"),
    (BASINS + ["--out", "{tmp}/x.npz", "--png", "{tmp}/missing/x.png"], "--png '{tmp}/missing/x.png': folder"),
    (TABLE + ["--json", "{tmp}/missing/t.json"], "--json '{tmp}/missing/t.json': folder '{tmp}/missing' does not"),
    # a folder where a file is expected
    (["portrait", "minimax", "--out", "{tmp}/a_dir.png"], "--out '{tmp}/a_dir.png' is a folder; give a file name"),
    (BASINS + ["--out", "{tmp}/a_dir"], "--out '{tmp}/a_dir.npz' is a folder"),
    (SWEEP_LR + ["--out", "{tmp}/s.npz", "--png", "{tmp}/a_dir.png"], "--png '{tmp}/a_dir.png' is a folder"),
    (TABLE + ["--json", "{tmp}/a_dir"], "--json '{tmp}/a_dir' is a folder"),
    # a file where a folder is expected (itself, or a folder above it)
    (["reproduce", "--out", "{tmp}/a_file/figs"], "--out '{tmp}/a_file/figs': '{tmp}/a_file' is a file, not a folder"),
    (["kernel", "--width", "4", "--n", "6", "--out", "{tmp}/a_file"], "--out '{tmp}/a_file' exists and is not a folder"),
    (["experiment", "batchnorm", "--quick", "--out", "{tmp}/a_file"], "--out '{tmp}/a_file' exists and is not a"),
    (BASINS + ["--out", "{tmp}/x.npz", "--resume", "{tmp}/a_file"], "--resume '{tmp}/a_file' exists and is not a"),
    (SWEEP_LR + ["--out", "{tmp}/x.npz", "--resume", "{tmp}/a_file/chunks"], "--resume '{tmp}/a_file/chunks': '"),
    (BASINS + ["--out", "{tmp}/x.npz", "--resume", "{tmp}/x.npz"], "--resume '{tmp}/x.npz' is also an output file"),
    # a figure type matplotlib cannot write (was found after the whole computation)
    (BASINS + ["--out", "{tmp}/x.npz", "--png", "{tmp}/x.xyz"], "--png '{tmp}/x.xyz': unknown image type 'xyz'"),
    (SWEEP_LR + ["--out", "{tmp}/x.npz", "--png", "{tmp}/x"], "--png '{tmp}/x': unknown image type '(none)'"),
    # values the library refuses, named by their flag
    (["stability", "minimax", "--pd", "1e-300"], "error: --pd must be"),
    (["portrait", "minimax", "--pd", "1e300", "--out", "{tmp}/p.png"], "error: --pd must be"),
    (BASINS + ["--out", "{tmp}/x.npz", "--optax", "adam", "--hyper", "learning_rate=abc"], "--hyper 'learning_rate=abc'"),
    (SWEEP_LR + ["--out", "{tmp}/x.npz", "--n-starts", "3000000000"], "--n-starts must be at most"),
    (["kernel", "--game", "nope"], "error: --game: unknown game 'nope'"),
    (["experiment", "batchnorm", "--quick", "--game", "nope"], "error: --game: unknown game 'nope'"),
    (["portrait", "minimax", "--start", "nan", "0.5", "--out", "{tmp}/p.png"], "--start: expected a finite number"),
    (TABLE + ["--start", "1", "inf"], "--start: expected a finite number"),
])
def test_user_errors_are_one_line_before_computing(capsys, tmp_path, no_computing, argv, expect):
    (tmp_path / "a_file").write_text("user data")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir.png").mkdir()
    (tmp_path / "a_dir.npz").mkdir()
    before = sorted(os.listdir(tmp_path))
    code, out, err = run_cli([a.format(tmp=tmp_path) for a in argv], capsys)
    assert (code, out) == (2, ""), err
    assert expect.format(tmp=tmp_path) in err and len(err.splitlines()) == 1, err
    assert "argument `" not in err and "jax.config" not in err  # the flag, not the library's argument name
    assert sorted(os.listdir(tmp_path)) == before and (tmp_path / "a_file").read_text() == "user data"


@pytest.mark.parametrize("argv, expect", [
    (["portrait", "minimax", "--out", "{ro}/p.png"], "--out '{ro}/p.png': cannot write in folder '{ro}'"),
    (BASINS + ["--out", "{ro}/x.npz"], "--out '{ro}/x.npz': cannot write in folder '{ro}'"),
    (BASINS + ["--out", "{tmp}/x.npz", "--resume", "{ro}/chunks"], "--resume '{ro}/chunks': cannot write in folder"),
    (["reproduce", "--out", "{ro}/figs"], "--out '{ro}/figs': cannot write in folder '{ro}'"),
    (["kernel", "--out", "{ro}/k"], "--out '{ro}/k': cannot write in folder '{ro}'"),
    (TABLE + ["--json", "{ro}/t.json"], "--json '{ro}/t.json': cannot write in folder '{ro}'"),
])
def test_unwritable_locations_are_refused_before_computing(capsys, tmp_path, no_computing, argv, expect):
    ro = _unwritable_folder(tmp_path)
    code, out, err = run_cli([a.format(tmp=tmp_path, ro=ro) for a in argv], capsys)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert expect.format(tmp=tmp_path, ro=ro) in err


@pytest.mark.parametrize("argv, expect", [
    # checked by the library inside the long call, before it computes: the message names the flag
    (["reproduce", "--out", "{tmp}/r", "--dpi", "5"], "error: --dpi must be an integer in [30, 1200]; got 5."),
    (["kernel", "--width", "4", "--n", "6", "--seed", "-1"], "error: --seed must be an integer ≥ 0; got -1."),
    (["portrait", "minimax", "--start", "0.5", "0.5", "--steps", "3000000000", "--out", "{tmp}/p.png"],
     "error: --steps must be"),
    (TABLE + ["--lr", "1e300"], "error: --lr must be"),
    (BASINS + ["--out", "{tmp}/x.npz", "--lr", "1e300"], "error: --lr must be"),
    (SWEEP_LR[:2] + ["--vary", "nope", "0", "1", "3", "--out", "{tmp}/x.npz"], "error: --vary names an unknown"),
    (BASINS + ["--out", "{tmp}/x.npz", "--resume", "{tmp}/chunks", "--tol", "1e300"], "error: --tol must be"),
    (BASINS + ["--out", "{tmp}/x.npz", "--optax", "adam", "--hyper", "learning_rate=1e300"],
     "error: --hyper learning_rate must be"),
])
def test_library_errors_name_the_flag(capsys, tmp_path, argv, expect):
    code, out, err = run_cli([a.format(tmp=tmp_path) for a in argv], capsys)
    assert (code, out) == (2, ""), err
    assert expect in err and len(err.splitlines()) == 1, err
    assert "argument `" not in err and "jax.config" not in err
    assert os.listdir(tmp_path) == []


def test_float64_advice_is_for_the_command_line():
    from jaxgan._checks import X64_HINT
    from jaxgan.cli._common import flag_message

    msg = f"pointwise_field argument `pd` must be representable in float32; got 1e-300; {X64_HINT}."
    assert flag_message(msg, {"pd": "--pd"}) == ("--pd must be representable in float32; got 1e-300; run with "
                                                 "JAX_ENABLE_X64=1 in the environment to work in float64.")
    assert flag_message("`--d-range` must be two finite numbers; got [1, 0].", {}) == \
        "--d-range must be two finite numbers; got [1, 0]."
    # Only the names mapped are replaced.
    assert flag_message("analyze argument `z` must be inside; `pd` too", {"pd": "--pd"}) == \
        "analyze argument `z` must be inside; --pd too"


# ----------------------------------------------------------------------------- a failed run loses nothing


@pytest.mark.parametrize("failure", [RuntimeError("drawing failed"), KeyboardInterrupt()])
def test_failed_basins_keeps_the_users_files(capsys, tmp_path, monkeypatch, failure):
    # The result is computed and saved, then drawing the figure fails (a bug, or Ctrl-C): the files
    # the user had under those names are left as they were, and no temporary is left behind.
    (tmp_path / "x.npz").write_bytes(b"the user's result")
    (tmp_path / "x.png").write_bytes(b"the user's figure")
    drawn = []

    def draw(res):
        drawn.append(res)
        raise failure

    monkeypatch.setattr(jaxgan.plotting, "basins", draw)
    argv = BASINS + ["--out", str(tmp_path / "x.npz")]
    if isinstance(failure, KeyboardInterrupt):
        code, out, err = run_cli(argv, capsys)
        assert (code, out, err) == (130, "", "jaxgan basins: interrupted\n")
    else:
        with pytest.raises(RuntimeError, match="drawing failed"):
            cli.main(argv)
    assert len(drawn) == 1  # it did fail after the computation
    assert (tmp_path / "x.npz").read_bytes() == b"the user's result"
    assert (tmp_path / "x.png").read_bytes() == b"the user's figure"
    assert sorted(os.listdir(tmp_path)) == ["x.npz", "x.png"]


def test_staged_files_move_in_together_or_not_at_all(tmp_path):
    from jaxgan.cli._files import Staged

    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError):
        with Staged() as st:
            st.folder(str(tmp_path / "new" / "sub"))
            for name in ("a.txt", "new/sub/b.txt"):
                with open(st.file(str(tmp_path / name)), "w") as fh:
                    fh.write("new")
            raise RuntimeError("the last step failed")
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"
    with Staged() as st:
        st.folder(str(tmp_path / "new"))
        for name in ("a.txt", "new/b.txt"):
            with open(st.file(str(tmp_path / name)), "w") as fh:
                fh.write("new " + name)
    assert (tmp_path / "a.txt").read_text() == "new a.txt" and (tmp_path / "new" / "b.txt").read_text() == "new new/b.txt"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "new"]


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    # A process killed outright (SIGKILL) while writing x.npz leaves its temporary; the next run that
    # writes x.npz removes it, but never one of a live process.
    from jaxgan.article import temporary_path
    from jaxgan.cli._files import Staged

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = str(tmp_path / "x.npz")
    stale = temporary_path(target, ".npz").replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    live = temporary_path(target, ".npz").replace(f"-{os.getpid()}-", "-1-")  # pid 1 never dies
    for p in (stale, live):
        open(p, "w").close()
    with Staged() as st:
        with open(st.file(target), "w") as fh:
            fh.write("new")
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(live), "x.npz"])


def test_sigterm_ends_the_command_cleanly(capsys, tmp_path, monkeypatch):
    # SIGTERM during the computation: cleanups run (exit 143, one line), the user's file is kept, and
    # the handler that was there before is back afterwards.
    import signal

    (tmp_path / "x.npz").write_bytes(b"the user's result")

    def killed(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    def unhandled(signum, frame):  # the test's own: reached only if the command installed none
        raise AssertionError("the command did not handle SIGTERM")

    monkeypatch.setattr(jaxgan.sweeps, "basins", killed)
    before = signal.signal(signal.SIGTERM, unhandled)
    try:
        code, out, err = run_cli(BASINS + ["--out", str(tmp_path / "x.npz")], capsys)
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert (code, out, err) == (143, "", "jaxgan basins: terminated (SIGTERM)\n")
    assert after is unhandled
    assert os.listdir(tmp_path) == ["x.npz"] and (tmp_path / "x.npz").read_bytes() == b"the user's result"


def test_kernel_algorithm_flag_offers_every_algorithm():
    """`jaxgan kernel --algorithm` offers exactly the kernels' algorithms (kvp included)."""
    from jaxgan import kernels
    from jaxgan.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flag = next(a for a in sub.choices["kernel"]._actions if "--algorithm" in a.option_strings)
    assert list(flag.choices) == list(kernels.ALGORITHMS) and "kvp" in flag.choices
