"""The `jaxgan` command: thin wiring from names to library calls.

Each subcommand is a pair: `_add_NAME(subparsers)` declares its arguments and
`_run_NAME(args)` runs it. Bad names and values end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


# Each section below registers its subcommands: name -> (add_fn(parser), run_fn(args), help).
_COMMANDS: dict = {}


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        sys.stderr.write(f"jaxgan: error: {message}\n")
        raise SystemExit(2)


def _game_arg(name: str):
    from . import games

    try:
        return games.get(name)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        val = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (val > 0 and val < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return val


def _positive_int(text: str) -> int:
    try:
        val = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if val <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return val


# ============================================================================ core commands
# (games, stability, portrait, reproduce)


# ============================================================================ sweeps commands


# ============================================================================ kernel commands


# ============================================================================ table commands


# ============================================================================ neural commands


# ============================================================================ main

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxgan", description="GAN training dynamics as vector fields.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (add, _run, help_) in _COMMANDS.items():
        add(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _add, run, _help = _COMMANDS[args.command]
    try:
        return int(run(args) or 0)
    except CLIError as exc:
        sys.stderr.write(f"jaxgan {args.command}: error: {exc}\n")
        return 2
    except (ValueError, TypeError) as exc:
        # Library input errors are one line, never a traceback.
        sys.stderr.write(f"jaxgan {args.command}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
