"""The core commands: `games`, `stability`, `portrait`, `reproduce`."""

from __future__ import annotations

import json
import os

from .. import article, fields, games, plotting, stability
from .._checks import check_interval
from .._format import eigenvalues_text, lr_text, number_text
from ..errors import JaxganError
from ..dynamics import rule_names
from ._common import (
    CLIError,
    Command,
    add_quiet,
    check_dpi,
    finite_float,
    json_number,
    naming_flags,
    positive_float,
    positive_int,
    progress_printer,
    save_figure,
    use_agg,
)
from ._files import Staged, image_file, output_folder

__all__ = ["COMMANDS"]


# ----------------------------------------------------------------------------- games


def _domain_text(game) -> str:
    lo, hi = game.d_domain
    if lo == float("-inf") and hi == float("inf"):
        return "ℝ"
    return f"({number_text(lo)}, {number_text(hi)})"


def _short_source(source: str, width: int = 60) -> str:
    """Authors and year of each ';'-separated reference (the text before its quoted title)."""
    parts = [p.split("'")[0].strip().rstrip(",").strip() for p in source.split(";")]
    text = "; ".join(p for p in parts if p)
    return text if len(text) <= width else text[: width - 1] + "…"


def _game_row(name: str) -> dict:
    g = games.get(name)
    try:
        cond = stability.stability_conditions(g)
        d0, verdict = cond.d0, cond.verdict
    except JaxganError as exc:  # the game has no rest point in its domain (Game.rest_d)
        d0, verdict = None, f"no rest point ({exc})"
    return {"name": name, "domain": _domain_text(g), "d0": d0, "verdict": verdict, "source": g.source}


def _print_table(table: list) -> None:
    """Rows of strings in aligned columns; a rule under the first (the header)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for k, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def _add_games(p):
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run_games(args):
    rows = [_game_row(name) for name in games.names()]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    table = [("name", "D domain", "D0", "stability (every pd > 0)", "source")]
    table += [(r["name"], r["domain"], "—" if r["d0"] is None else f"{r['d0']:.4g}", r["verdict"],
               _short_source(r["source"])) for r in rows]
    _print_table(table)
    print("\nDetails: jaxgan stability GAME --pd 0.2")
    return 0


# ----------------------------------------------------------------------------- stability


def _add_stability(p):
    p.add_argument("game", metavar="GAME", help="a preset game (see `jaxgan games`)")
    p.add_argument("--pd", type=positive_float, default=0.2, help="data density at the point (default 0.2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _stability_json(game, pd, rep, cond, lrs) -> str:
    import numpy as np

    out = {"game": game.name, "pd": pd, "rest_point": [float(v) for v in rep.point],
           "velocity_at_rest": [float(v) for v in rep.velocity],
           "jacobian": np.asarray(rep.jacobian, dtype=float).tolist(),
           "eigenvalues": [[float(l.real), float(l.imag)] for l in rep.eigenvalues],
           "kind": rep.kind, "stable": bool(rep.stable),
           "criterion": cond.as_dict(), "criterion_text": cond.explain(),
           "max_stable_lr": {m: json_number(v) for m, v in lrs.items()}}
    return json.dumps(out, indent=1, ensure_ascii=False)


def _stability_text(game, pd, rep, cond, lrs) -> str:
    import numpy as np

    j = np.asarray(rep.jacobian, dtype=float)
    lr_txt = ", ".join(f"{m} {lr_text(v, 6, none='0 (no step is stable)')}" for m, v in lrs.items())
    return "\n".join([
        f"{game.name} at pd = {pd:g}",
        f"rest point (D0, pd) = ({rep.point[0]:.6g}, {rep.point[1]:.6g})",
        f"Jacobian at the rest point = [[{j[0, 0]:.6g}, {j[0, 1]:.6g}], [{j[1, 0]:.6g}, {j[1, 1]:.6g}]]",
        f"eigenvalues: {eigenvalues_text(rep.eigenvalues, 6)}",
        f"kind: {rep.kind} ({'locally asymptotically stable' if rep.stable else 'not asymptotically stable'})",
        "criterion:",
        "  " + cond.explain().replace("\n", "\n  "),
        f"largest stable step (|1 + lr·λ| < 1 for Euler; autodiff of one update otherwise): {lr_txt}",
    ])


def _run_stability(args):
    game = games.get(args.game)
    with naming_flags({"pd": "--pd"}):
        field = fields.pointwise_field(game, args.pd)
    rep = stability.analyze(field)
    cond = stability.stability_conditions(game)
    lrs = {m: stability.max_stable_lr(field, method=m) for m in ("euler", "alternating")}
    print((_stability_json if args.json else _stability_text)(game, args.pd, rep, cond, lrs))
    return 0


# ----------------------------------------------------------------------------- portrait


def _add_portrait(p):
    p.add_argument("game", metavar="GAME", help="a preset game (see `jaxgan games`)")
    p.add_argument("--pd", type=positive_float, default=0.2, help="data density at the point (default 0.2)")
    p.add_argument("--start", type=finite_float, nargs=2, action="append", metavar=("D", "PG"),
                   help="a trajectory's start (repeat for more); none: the field alone")
    p.add_argument("--steps", type=positive_int, default=100_000, help="steps per trajectory (default 100000)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="step size (default 1e-3, the article's)")
    p.add_argument("--method", choices=rule_names(), default="euler",
                   help="update rule (default euler: the article's script)")
    p.add_argument("--d-range", type=float, nargs=2, metavar=("LO", "HI"), help="x-axis interval")
    p.add_argument("--pg-range", type=float, nargs=2, metavar=("LO", "HI"), help="y-axis interval")
    p.add_argument("--dpi", type=positive_int, default=150, help="resolution (default 150)")
    p.add_argument("--out", required=True, metavar="FILE", help="the image file (.png, .pdf, .svg, ...)")


# Library argument -> the flag its value comes from, for the library's messages.
_PORTRAIT_FLAGS = {"pd": "--pd", "steps": "--steps", "lr": "--lr", "method": "--method", "starts": "--start",
                   "z": "--start", "d_range": "--d-range", "pg_range": "--pg-range"}


def _run_portrait(args):
    import numpy as np

    game = games.get(args.game)
    out = image_file("--out", args.out)
    d_range = check_interval(None, "--d-range", args.d_range)
    pg_range = check_interval(None, "--pg-range", args.pg_range)
    check_dpi(args.dpi)
    with naming_flags(_PORTRAIT_FLAGS):
        field = fields.pointwise_field(game, args.pd)
        starts = args.start or []
        for d, pg in starts:
            if not bool(field.in_domain(np.asarray([d, pg]))):
                raise CLIError(f"--start {d:g} {pg:g} is outside the domain of {game.name!r}: {field.domain_str()}")
        use_agg()
        with Staged() as staged:
            ax = plotting.phase_portrait(field, starts=starts or None, steps=args.steps, lr=args.lr,
                                         method=args.method, d_range=d_range, pg_range=pg_range, colorbar=True)
            save_figure(ax.figure, staged.file(out), args.dpi, name=args.out)
    print(f"wrote {args.out}")
    return 0


# ----------------------------------------------------------------------------- reproduce


def _add_reproduce(p):
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the figures and tables")
    p.add_argument("--pd", type=positive_float, default=0.2, help="data density (default 0.2, the article's)")
    p.add_argument("--steps", type=positive_int, default=100_000, help="Euler steps (default 100000)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="step size (default 1e-3)")
    p.add_argument("--start", type=finite_float, nargs=2, default=(0.75, 0.9), metavar=("D", "PG"),
                   help="the trajectory's start (default 0.75 0.9)")
    p.add_argument("--no-extra", action="store_true",
                   help="do not add the in-domain orbits to the Wasserstein and quadratic figures")
    p.add_argument("--dpi", type=positive_int, default=150, help="resolution (default 150)")
    add_quiet(p, "print only the summary line")


_REPRODUCE_FLAGS = {"out": "--out", "pd": "--pd", "steps": "--steps", "lr": "--lr", "start": "--start",
                    "z": "--start", "dpi": "--dpi"}


def _run_reproduce(args):
    output_folder("--out", args.out)
    use_agg()
    with naming_flags(_REPRODUCE_FLAGS):
        try:
            res = article.reproduce(args.out, pd=args.pd, steps=args.steps, lr=args.lr, start=tuple(args.start),
                                    with_extra=not args.no_extra, dpi=args.dpi, progress=progress_printer(args))
        except OSError as exc:
            raise CLIError(f"cannot write into {args.out!r}: {exc}") from None
    if not args.quiet:
        for f in res.files:
            print(f"  {os.path.join(args.out, f)}")
    print(f"wrote {len(res.files)} files to {args.out} in {res.seconds:.1f} s")
    return 0


COMMANDS = {
    "games": Command(_add_games, _run_games, "list the preset games: domain, D0, stability verdict, source"),
    "stability": Command(_add_stability, _run_stability,
                         "rest point, Jacobian, eigenvalues, the stability criterion and the largest stable "
                         "steps of a game"),
    "portrait": Command(_add_portrait, _run_portrait,
                        "phase portrait of a game's field with trajectories from the given starts"),
    "reproduce": Command(_add_reproduce, _run_reproduce,
                         "write the article's figures and a stability table of every preset game into a folder"),
}
