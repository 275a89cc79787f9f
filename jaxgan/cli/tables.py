"""`jaxgan table NAME`: summary tables (today: `convergence`)."""

from __future__ import annotations

import json

from .. import tables
from ._common import (
    CLIError,
    Command,
    Parser,
    add_quiet,
    finite_float,
    naming_flags,
    positive_float,
    positive_int,
    progress_printer,
)
from ._files import Staged, output_file

__all__ = ["COMMANDS"]


# ----------------------------------------------------------------------------- convergence


def _add_convergence(p):
    p.add_argument("--lr", type=positive_float, default=0.1, help="step size of the runs (default 0.1)")
    p.add_argument("--steps", type=positive_int, default=10000, help="steps per run (default 10000)")
    p.add_argument("--start", type=finite_float, nargs=2, default=(1.0, 1.0), metavar=("Z0", "Z1"),
                   help="the standard start (default 1 1)")
    p.add_argument("--game", action="append", default=None,
                   help="keep only this game (repeatable): dirac_gan, dirac_wgan, bilinear")
    p.add_argument("--regulariser", action="append", default=None,
                   help="keep only this regulariser (repeatable; its name before the parenthesis, e.g. r1, none)")
    p.add_argument("--method", action="append", default=None,
                   help="update rule (repeatable; default euler, alternating, extragradient, optimistic)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows as JSON to PATH")
    add_quiet(p, "no progress bar (one step per row, on stderr)")


def _regulariser_name(case) -> str:
    return case.regulariser.split("(")[0]


def _selected_cases(args) -> list:
    """The default cases, kept by --game and --regulariser (each checked against the names there are)."""
    cases = tables.default_convergence_cases()
    games = sorted({c.game for c in cases})
    regs = sorted({_regulariser_name(c) for c in cases})
    for given, valid, what in ((args.game, games, "--game"), (args.regulariser, regs, "--regulariser")):
        for g in given or ():
            if g not in valid:
                raise CLIError(f"{what} must be one of {', '.join(valid)}; got {g!r}")
    cases = [c for c in cases if (not args.game or c.game in args.game)
             and (not args.regulariser or _regulariser_name(c) in args.regulariser)]
    if not cases:
        raise CLIError("no (game, regulariser) pair of the default set matches the filters")
    return cases


# Library argument -> the flag its value comes from, for the library's messages.
_FLAGS = {"lr": "--lr", "steps": "--steps", "start": "--start", "z": "--start", "methods": "--method",
          "method": "--method"}


def _run_convergence(args):
    cases = _selected_cases(args)
    if args.steps < 8:
        raise CLIError(f"--steps must be at least 8; got {args.steps}")
    if args.json:
        output_file("--json", args.json)
    methods = tuple(args.method) if args.method else tables.DEFAULT_METHODS
    with naming_flags(_FLAGS):
        rows = tables.convergence_table(cases, methods, lr=args.lr, steps=args.steps, start=tuple(args.start),
                                        progress=progress_printer(args))
    print(tables.format_convergence_table(rows))
    if args.json:
        with Staged() as staged:
            try:
                with open(staged.file(args.json), "w") as fh:
                    json.dump([r.as_dict() for r in rows], fh, indent=1)
            except OSError as exc:
                raise CLIError(f"cannot write {args.json!r}: {exc}") from None
    return 0


# ----------------------------------------------------------------------------- the `table` command

_TABLES = {
    "convergence": Command(_add_convergence, _run_convergence,
                           "game × regulariser × optimiser: rest-point eigenvalues, continuous verdict, max stable "
                           "lr (simultaneous and alternating GD), spectral radius and fate from a standard start"),
}


def _add_table(p):
    sub = p.add_subparsers(dest="table", metavar="TABLE", parser_class=Parser)
    sub.required = True
    for name, cmd in _TABLES.items():
        cmd.add(sub.add_parser(name, help=cmd.help, description=cmd.help))


def _run_table(args):
    return _TABLES[args.table].run(args)


COMMANDS = {"table": Command(_add_table, _run_table, "print a summary table (see `jaxgan table -h`)")}
