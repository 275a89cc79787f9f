"""What every command shares: the parser, argument types, the user-error exception, output helpers."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
from typing import Callable, Iterator, Mapping, NamedTuple

from .._checks import X64_HINT
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
    """jaxgan's parsers: errors are one line, and every (sub)command takes the global flags
    (`--no-cache`, before or after the command's name)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # SUPPRESS: a subcommand's parser sets it only when given, so `jaxgan --no-cache table ...` stays on.
        self.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS,
                          help="do not use the persistent compilation cache (also JAXGAN_NO_CACHE=1; its folder: "
                               "JAXGAN_CACHE_DIR, default ~/.cache/jaxgan/jax-cache)")

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


def finite_float(text: str) -> float:
    try:
        val = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(val):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
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


def progress_printer(args) -> Callable | bool | None:
    """The `progress=` of a long library call: `False` with `--quiet`, else `None`: a tqdm bar on stderr
    when stderr is a terminal, nothing in a pipe or a log (stdout keeps the results either way)."""
    return False if getattr(args, "quiet", False) else None


# ----------------------------------------------------------------------------- flags in library errors

# The subject of a library message: "`fn` argument `name`" or a bare "`name`" (`_checks.where`).
_SUBJECT = re.compile(r"(?:[A-Za-z_][\w.]* argument )?`([A-Za-z_]\w*)`")
# A flag the command line checked with `_checks` (`check_interval(None, "--d-range", ...)`): "`--d-range`".
_FLAG = re.compile(r"`(--[^`]+)`")


#: How a command-line user enables float64 (the library's hint speaks of `jax.config`).
X64_ENV_HINT = "run with JAX_ENABLE_X64=1 in the environment to work in float64"


def flag_message(message: str, flags: Mapping[str, str], x64_hint: str = X64_ENV_HINT) -> str:
    """`message` with each library argument named in `flags` replaced by its flag: "pointwise_field
    argument `pd` must be ..." becomes "--pd must be ..."; other names are left as they are. The
    library's advice to enable float64 in a program becomes `x64_hint`."""
    message = _FLAG.sub(r"\1", message.replace(X64_HINT, x64_hint))
    return _SUBJECT.sub(lambda m: flags.get(m.group(1), m.group(0)), message)


@contextlib.contextmanager
def naming_flags(flags: Mapping[str, str], x64_hint: str = X64_ENV_HINT) -> Iterator[None]:
    """Inside: a `JaxganError` from the library becomes a `CLIError` whose message names the flags
    (`flags`: library argument name -> the flag its value came from, e.g. `{"out": "--resume"}`)."""
    try:
        yield
    except CLIError:
        raise
    except JaxganError as exc:
        raise CLIError(flag_message(str(exc), flags, x64_hint)) from None


def get_game(flag: str | None, name: str):
    """The preset game `name`; an unknown name is an error that names `flag` (None: a positional GAME)."""
    from .. import games

    try:
        return games.get(name)
    except JaxganError as exc:
        raise CLIError(f"{flag}: {exc}" if flag else str(exc)) from None


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


def save_figure(fig, path: str, dpi: int, *, name: str | None = None) -> None:
    """Write `fig` to `path` (a temporary of `Staged`, whose suffix is the target's) and close it; a
    failure is a one-line error naming `name` (the user's path)."""
    import os

    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=dpi, format=os.path.splitext(path)[1].lstrip(".").lower() or None)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot write {name or path!r}: {exc}") from None
    finally:
        plt.close(fig)


def json_number(x):
    """A float for JSON: ±inf and nan as the strings "inf", "-inf", "nan"."""
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")
