"""Progress reporting: one `progress` argument for every long-running function.

Every function of jaxgan that runs for a while (`basins`, `sweep`, `convergence_table`,
`reproduce`, the neural experiments) takes `progress=`:

- `False` (or `None`): silent;
- `True`: a one-line bar on standard error, redrawn in place;
- a callable: called with a `ProgressEvent` each time a unit of work ends (a chunk, a table
  row, a figure, a configuration), e.g. `progress=lambda ev: print(ev)` or a tqdm update.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable

from .errors import ArgumentTypeError

__all__ = ["ProgressEvent"]


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


def _stderr_bar(event: ProgressEvent) -> None:
    width = 30
    filled = int(width * event.fraction)
    tail = f" {event.message}" if event.message else ""
    sys.stderr.write(f"\r\x1b[K{event.task} [{'#' * filled}{'-' * (width - filled)}] {event.done}/{event.total}{tail}")
    if event.done >= event.total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def reporter(fn: str, progress, task: str, total: int) -> Callable[[int, str], None]:
    """Canonicalise a `progress` argument into `report(done, message="")`.

    **Arguments:** `fn`: the public function (for the error message); `progress`: `True`,
    `False`, `None` or a callable taking a `ProgressEvent`; `task`: the name events carry;
    `total`: the number of units.

    **Raises:** `ArgumentTypeError` for anything else.
    """
    if progress is None or progress is False:
        return lambda done, message="": None
    if progress is True:
        sink = _stderr_bar
    elif callable(progress):
        sink = progress
    else:
        raise ArgumentTypeError(f"{fn} argument `progress` must be True, False or a callable receiving a "
                                f"jaxgan.progress.ProgressEvent; got {progress!r}.")

    def report(done: int, message: str = "") -> None:
        sink(ProgressEvent(task, int(done), int(total), message))

    return report
