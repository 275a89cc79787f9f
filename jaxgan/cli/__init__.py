"""The `jaxgan` command: thin wiring from names to library calls.

Each subcommand is a `Command(add, run, help)`: `add(parser)` declares its arguments and
`run(args)` parses nothing more than the flags, calls the library, and prints or saves.

Errors: bad input — a `jaxgan.errors.JaxganError`, raised by the library or by the command
line itself (`CLIError`) — ends in one line `jaxgan COMMAND: error: ...` on stderr and exit
code 2, found before the computation starts where it can be (paths included: `_files`); the
message names the flag the value came from. argparse's own errors are one line and exit 2 too.
Anything else is a bug and keeps its traceback.

Interrupts: Ctrl-C (SIGINT) and SIGTERM end the command with one line and exit code 130 / 143,
after removing its temporary files and folders; the files the user had are left as they were. The
process then exits at once, without waiting for work that cannot be stopped (a sweep's parts of a
chunk running on host threads).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from ..errors import JaxganError
from . import core, experiment, kernel, sweeps, tables
from ._cache import compilation_cache
from ._common import CLIError, Command, Parser, flag_message

__all__ = ["main", "build_parser", "CLIError"]

# In the order `jaxgan -h` lists them.
COMMANDS: dict[str, Command] = {**core.COMMANDS, **sweeps.COMMANDS, **kernel.COMMANDS, **tables.COMMANDS,
                                **experiment.COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    """The `jaxgan` parser, one subparser per command."""
    parser = Parser(prog="jaxgan", description="GAN training dynamics as vector fields.",
                    epilog="Exit codes: 0 done; 2 bad input (one line on stderr, found before computing); "
                           "130 interrupted (Ctrl-C), 143 terminated (SIGTERM). A failed or interrupted run "
                           "leaves the files you had as they were.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, cmd in COMMANDS.items():
        cmd.add(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return parser


def _silence_stdout() -> None:
    """After a closed pipe (`jaxgan games | head`): send what is left of stdout nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every cleanup (`finally`, `except BaseException`) runs;
    a `KeyboardInterrupt`, so code that handles Ctrl-C handles it too."""


@contextlib.contextmanager
def _sigterm_raises():
    """Inside: SIGTERM raises `Terminated` instead of killing the process on the spot (which would leave
    temporary files behind). Only in the main thread (the only one Python delivers signals to)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv=None, *, cache: bool | None = None) -> int:
    """Run `jaxgan ARGV` (default: the process's arguments); returns the exit code.

    Exit codes: 0 done; 2 bad input (one line on stderr); 130 interrupted (Ctrl-C), 143 terminated
    (SIGTERM), each after the command removed its temporaries.

    `cache`: whether to turn on JAX's persistent compilation cache for the rest of the process
    (`jaxgan.cli._cache`: `--no-cache` and `JAXGAN_NO_CACHE=1` still turn it off). Default: on when
    `argv` is None (the `jaxgan` command itself), off when a program passes `argv`, so that calling
    `main([...])` leaves `jax.config` as it was.

    **Raises:** `SystemExit(2)` for arguments argparse rejects; any exception that is not a
    `JaxganError` (a bug), with its traceback.
    """
    args = build_parser().parse_args(argv)
    use_cache = (argv is None if cache is None else bool(cache)) and not getattr(args, "no_cache", False)
    try:
        with _sigterm_raises(), compilation_cache(use_cache):
            return int(COMMANDS[args.command].run(args) or 0)
    except BrokenPipeError:  # the reader left; not an error of ours
        _silence_stdout()
        return 0
    except JaxganError as exc:
        sys.stderr.write(f"jaxgan {args.command}: error: {flag_message(str(exc), {})}\n")
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        sys.stderr.write(f"jaxgan {args.command}: {'terminated (SIGTERM)' if terminated else 'interrupted'}\n")
        code = 143 if terminated else 130
        if argv is None:  # the command itself, not a program that called main
            _exit_unless_alone(code)
        return code


def _exit_unless_alone(code: int) -> None:
    """End the process now where another thread still runs work that cannot be stopped (a sweep's
    part of a chunk, which XLA runs to its end), rather than wait for it at exit. The command's
    temporaries are gone by now; what it wrote is complete or was never renamed into place."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
