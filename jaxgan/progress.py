"""Progress reporting: one `progress` argument for every long-running function.

Every function of jaxgan that runs for a while (`basins`, `sweep`, `convergence_table`,
`reproduce`, the neural experiments) takes `progress=`:

- `None` (auto): a tqdm bar on standard error when standard error is a terminal, else silent
  (a log file, a pipe, a notebook or a test never gets a bar it did not ask for);
- `True`: a tqdm bar on standard error, always;
- `False`: silent;
- a callable: called with a `ProgressEvent` each time a unit of work ends (a chunk, a table
  row, a figure, a configuration), e.g. `progress=lambda ev: print(ev)`.

Bars never write to standard output (results stay clean there) and are closed when the work
ends, fails or is interrupted, so no half-drawn line is left before a traceback. tqdm's own
environment variables apply (`TQDM_DISABLE=1` turns every bar off, `TQDM_MININTERVAL=1` redraws
less often).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from typing import Any, Callable

from .errors import ArgumentTypeError

__all__ = ["ProgressEvent", "Reporter", "check_progress", "reporter", "stderr_is_terminal"]


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """One unit of work finished.

    - `task`: the function reporting (`"basins"`, `"sweep"`, `"convergence_table"`, ...).
    - `done`, `total`: units finished so far and in all (`done ≤ total`).
    - `message`: what just finished, in words (may be empty).
    """

    task: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """`done / total` (1.0 for an empty task)."""
        return self.done / self.total if self.total else 1.0

    def __str__(self) -> str:
        tail = f" {self.message}" if self.message else ""
        return f"{self.task}: {self.done}/{self.total}{tail}"


def stderr_is_terminal() -> bool:
    """Whether `sys.stderr` is an interactive terminal (what `progress=None` draws a bar for)."""
    stream = sys.stderr
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def check_progress(fn: str, progress) -> None:
    """Refuse a `progress` argument that is not `None`, `True`, `False` or a callable.

    **Raises:** `ArgumentTypeError` ("`fn` argument `progress` must be …; got …").
    """
    if progress is None or isinstance(progress, bool) or callable(progress):
        return
    raise ArgumentTypeError(f"{fn} argument `progress` must be True, False or a callable receiving a "
                            f"jaxgan.progress.ProgressEvent (or None: a bar on a terminal); got {progress!r}.")


class Reporter:
    """`report(done, message="")` for one task: sends a `ProgressEvent` to a callable, or draws a
    tqdm bar on standard error, or does nothing.

    Use it as a context manager (`with reporter(...) as report:`) so that the bar is closed when
    the work fails or is interrupted; it also closes itself when `done` reaches `total`, and
    `close()` may be called any number of times. Calls from several threads are serialised.
    """

    def __init__(self, task: str, total: int, sink: Callable[[ProgressEvent], Any] | None, bar: bool,
                 unit: str = "it"):
        self.task, self.total, self.unit = task, int(total), unit
        self._sink = sink
        self._lock = threading.RLock()
        self._bar = None
        if bar and sys.stderr is not None and self.total > 0:  # nothing to show for an empty task
            from tqdm import tqdm  # a core dependency; imported here so that `import jaxgan` stays light

            self._bar = tqdm(total=self.total, desc=task, unit=unit, file=sys.stderr, leave=True,
                             dynamic_ncols=True)

    @property
    def active(self) -> bool:
        """Whether anything receives the reports (a callable, or an open bar)."""
        return self._sink is not None or self._bar is not None

    def __call__(self, done: int, message: str = "") -> None:
        done = int(done)
        with self._lock:
            if self._sink is not None:
                self._sink(ProgressEvent(self.task, done, self.total, message))
            bar = self._bar
            if bar is None:
                return
            if message:
                bar.set_postfix_str(message, refresh=False)
            if done > bar.n:
                bar.update(done - bar.n)
            else:
                bar.refresh()
            if done >= self.total:
                self._close_bar()

    def _close_bar(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.close()

    def close(self) -> None:
        """End the bar's line (a no-op for a callable, silence, or a bar already closed)."""
        with self._lock:
            self._close_bar()

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def reporter(fn: str, progress, task: str, total: int, *, unit: str = "it") -> Reporter:
    """Canonicalise a `progress` argument into a `Reporter`, `report(done, message="")`.

    **Arguments:** `fn`: the public function (for the error message); `progress`: `None` (a bar
    when standard error is a terminal, else silent), `True` (a bar), `False` (silent) or a
    callable taking a `ProgressEvent`; `task`: the name events (and the bar) carry; `total`: the
    number of units; `unit`: what a unit is called on the bar (`"chunk"`, `"row"`, ...).

    **Returns:** a `Reporter`; a bar is drawn from the start (`0/total`), so the time before the
    first unit ends (compiling, often) is visible too.

    **Raises:** `ArgumentTypeError` for any other `progress`.
    """
    check_progress(fn, progress)
    if progress is None:
        progress = stderr_is_terminal()
    if isinstance(progress, bool):
        return Reporter(task, total, None, progress, unit)
    return Reporter(task, total, progress, False, unit)
