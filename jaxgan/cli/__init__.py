"""The `jaxgan` command: thin wiring from names to library calls.

Each subcommand is a `Command(add, run, help)`: `add(parser)` declares its arguments and
`run(args)` parses nothing more than the flags, calls the library, and prints or saves.

Errors: bad input — a `jaxgan.errors.JaxganError`, raised by the library or by the command
line itself (`CLIError`) — ends in one line `jaxgan COMMAND: error: ...` on stderr and exit
code 2; argparse's own errors are one line and exit 2 too. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import JaxganError
from . import core, experiment, kernel, sweeps, tables
from ._common import CLIError, Command, Parser

__all__ = ["main", "build_parser", "CLIError"]

# In the order `jaxgan -h` lists them.
COMMANDS: dict[str, Command] = {**core.COMMANDS, **sweeps.COMMANDS, **kernel.COMMANDS, **tables.COMMANDS,
                                **experiment.COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    """The `jaxgan` parser, one subparser per command."""
    parser = Parser(prog="jaxgan", description="GAN training dynamics as vector fields.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, cmd in COMMANDS.items():
        cmd.add(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return parser


def _silence_stdout() -> None:
    """After a closed pipe (`jaxgan games | head`): send what is left of stdout nowhere."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv=None) -> int:
    """Run `jaxgan ARGV` (default: the process's arguments); returns the exit code.

    **Raises:** `SystemExit(2)` for arguments argparse rejects; any exception that is not a
    `JaxganError` (a bug), with its traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command].run(args) or 0)
    except BrokenPipeError:  # the reader left; not an error of ours
        _silence_stdout()
        return 0
    except JaxganError as exc:
        sys.stderr.write(f"jaxgan {args.command}: error: {exc}\n")
        return 2
