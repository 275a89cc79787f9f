"""What every command shares: the parser, argument types, the user-error exception, output helpers."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable, NamedTuple

from ..errors import JaxganError

__all__ = ["CLIError", "Command"]


class CLIError(JaxganError):
    """A user error found by the command line itself: printed as one line, exit code 2."""


class Command(NamedTuple):
    """A subcommand: `add(parser)` declares its arguments, `run(args)` runs it and returns the exit code."""

    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    help: str


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        sys.stderr.write(f"jaxgan: error: {message}\n")
        raise SystemExit(2)


# ----------------------------------------------------------------------------- argument types
# Used as argparse `type=`: a bad value is an argparse error (one line, exit 2) naming the flag.


def positive_float(text: str) -> float:
    try:
        val = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (val > 0 and val < math.inf):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return val


def positive_int(text: str) -> int:
    try:
        val = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if val <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return val


def add_quiet(p: argparse.ArgumentParser, what: str = "no progress lines") -> None:
    p.add_argument("--quiet", action="store_true", help=what)


def progress_printer(args) -> Callable | bool:
    """The `progress=` of a long library call: `False` with `--quiet`, else a callable that prints each
    `jaxgan.progress.ProgressEvent` as one indented line on stderr (stdout keeps the results)."""
    if getattr(args, "quiet", False):
        return False
    return lambda event: print(f"  {event}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- output


def use_agg() -> None:
    """Draw off-screen unless the user chose a matplotlib backend (call before pyplot is imported)."""
    import os

    import matplotlib

    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def check_dpi(dpi: int) -> int:
    if dpi > 1200:
        raise CLIError(f"--dpi must be at most 1200; got {dpi}")
    return dpi


def check_folder_of(flag: str, path: str) -> str:
    """`path` if the folder it goes into exists."""
    import os

    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"{flag} {path!r}: folder {parent!r} does not exist")
    return path


def check_image_file(flag: str, path: str) -> str:
    """`path` if matplotlib can write its image type and its folder exists."""
    import os

    from matplotlib.backend_bases import FigureCanvasBase

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    kinds = FigureCanvasBase.get_supported_filetypes()
    if ext not in kinds:
        raise CLIError(f"{flag} {path!r}: unknown image type {ext or '(none)'!r}; use one of {', '.join(sorted(kinds))}")
    return check_folder_of(flag, path)


def save_figure(fig, path: str, dpi: int) -> None:
    """Write `fig` to `path` and close it; an unwritable path is a one-line error."""
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=dpi)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot write {path!r}: {exc}") from None
    finally:
        plt.close(fig)


def json_number(x):
    """A float for JSON: ±inf and nan as the strings "inf", "-inf", "nan"."""
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")
