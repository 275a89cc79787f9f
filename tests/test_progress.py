"""Progress: a callable receives ordered `ProgressEvent`s; `True` draws a tqdm bar on stderr (never
stdout); `None` (the default) draws one only when stderr is a terminal; a bar is closed when the
work fails or is interrupted, so no half-drawn line is left."""

from __future__ import annotations

import io
import sys
import threading

import pytest
import tqdm

import jaxgan
from jaxgan import sweeps
from jaxgan.errors import ArgumentTypeError
from jaxgan.progress import ProgressEvent, reporter, stderr_is_terminal
from jaxgan.sweeps import runner

MINIMAX = jaxgan.pointwise_field("minimax", 0.2)
# 8 x 8 starts in chunks of 16: 4 chunks, one compiled kernel shared by every test here
GRID = dict(d_range=(0.3, 0.7, 8), pg_range=(0.05, 0.6, 8), steps=64, lr=0.2, chunk=16, check_every=16)


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def _terminal(monkeypatch) -> FakeTerminal:
    """Make stderr a fake terminal (in the test's body: pytest re-installs its capture after fixtures)."""
    fake = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", fake)
    return fake


def _open_bars():
    return set(tqdm.tqdm._instances)


def test_a_callable_receives_ordered_events():
    events = []
    res = sweeps.basins(MINIMAX, progress=events.append, **GRID)
    assert all(isinstance(ev, ProgressEvent) and ev.task == "basins" for ev in events)
    assert [(ev.done, ev.total) for ev in events] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert events[-1].fraction == 1.0 and "chunks of 16 starts" in events[-1].message
    assert res.fate.shape == (8, 8)


def test_true_draws_a_tqdm_bar_on_stderr_and_nothing_on_stdout(capsys):
    before = _open_bars()
    sweeps.basins(MINIMAX, progress=True, **GRID)
    out, err = capsys.readouterr()
    assert out == ""
    assert "basins:" in err and "| 4/4 [" in err and "chunk/s" in err and err.endswith("\n")
    assert _open_bars() <= before  # closed at the end


def test_auto_draws_on_a_terminal_and_is_silent_elsewhere(capsys, monkeypatch):
    assert not stderr_is_terminal()  # pytest captures stderr
    sweeps.basins(MINIMAX, **GRID)  # progress=None, the default
    assert capsys.readouterr() == ("", "")
    fake = _terminal(monkeypatch)
    assert stderr_is_terminal()
    sweeps.basins(MINIMAX, **GRID)
    text = fake.getvalue()
    assert "basins:" in text and "4/4" in text and text.endswith("\n")
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(sys, "stderr", None)  # no stderr at all (pythonw): silent, no crash
    assert not stderr_is_terminal()
    reporter("f", None, "task", 1)(1)
    reporter("f", True, "task", 1)(1)


def test_false_is_silent_even_on_a_terminal(monkeypatch, capsys):
    terminal = _terminal(monkeypatch)
    sweeps.basins(MINIMAX, progress=False, **GRID)
    assert terminal.getvalue() == "" and capsys.readouterr().out == ""


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_bar_is_closed_when_the_run_fails(monkeypatch, exc):
    """The chunk loop fails after the first chunk: the bar's line is ended before the error leaves."""
    terminal = _terminal(monkeypatch)
    real = runner._put
    calls = []

    def failing_put(arrays, sl, values):
        calls.append(sl)
        if len(calls) == 2:
            raise exc("stop")
        return real(arrays, sl, values)

    monkeypatch.setattr(runner, "_put", failing_put)
    before = _open_bars()
    try:
        sweeps.basins(MINIMAX, progress=True, **GRID)
    except exc:  # read stderr here, while the traceback still holds the run's frames (and its bar)
        text, still_open = terminal.getvalue(), _open_bars() - before
    else:
        pytest.fail("the run did not fail")
    assert "1/4" in text and text.endswith("\n") and not still_open  # stopped at chunk 1, line ended


def test_reporter_as_context_closes_its_bar(monkeypatch):
    terminal = _terminal(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        with reporter("f", True, "task", 3, unit="row") as report:
            report(1, "first row")
            raise KeyboardInterrupt
    text = terminal.getvalue()
    assert "task:" in text and "1/3" in text and "first row" in text and text.endswith("\n")
    assert text.count("\n") == 1
    report(2)  # after close: ignored by the bar, no error
    report.close()
    assert terminal.getvalue() == text


def test_reports_from_threads_reach_the_total(monkeypatch):
    terminal = _terminal(monkeypatch)
    events = []
    report = reporter("f", events.append, "task", 40)
    bar = reporter("f", True, "task", 40)
    lock, done = threading.Lock(), [0]

    def work():
        for _ in range(10):
            with lock:
                done[0] += 1
                n = done[0]
            report(n)
            bar(n)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ev.done for ev in events) == list(range(1, 41)) and len(events) == 40
    assert "40/40" in terminal.getvalue() and terminal.getvalue().endswith("\n")


def test_a_bad_progress_is_refused_before_any_compile():
    n0 = sweeps.trace_count()
    for bad in ("yes", 1, 0.5):
        with pytest.raises(ArgumentTypeError, match="`progress` must be True, False or a callable"):
            sweeps.sweep(MINIMAX, {"lr": [0.1]}, steps=8, offsets=[[0.01, 0.0]], progress=bad)
    assert sweeps.trace_count() == n0


def test_the_cli_draws_a_bar_on_a_terminal_only(monkeypatch, capsys, tmp_path):
    from jaxgan.cli import main

    argv = ["basins", "minimax", "--d", "0.3", "0.7", "8", "--pg", "0.05", "0.6", "8", "--steps", "64", "--lr",
            "0.2", "--chunk", "16", "--dpi", "20"]
    fake = _terminal(monkeypatch)
    assert main(argv + ["--out", str(tmp_path / "a.npz")]) == 0
    assert "basins:" in fake.getvalue() and "4/4" in fake.getvalue() and fake.getvalue().endswith("\n")
    out = capsys.readouterr().out
    assert "wrote" in out and "basins:" not in out and "\r" not in out  # stdout: results only
    quiet = _terminal(monkeypatch)
    assert main(argv + ["--out", str(tmp_path / "b.npz"), "--quiet"]) == 0
    assert quiet.getvalue() == ""
