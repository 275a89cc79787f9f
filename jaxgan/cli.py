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

def _use_agg() -> None:
    """Draw off-screen unless the user chose a matplotlib backend."""
    import os

    import matplotlib

    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def _json_num(x):
    import math

    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


def _fmt_bound(v: float) -> str:
    return "∞" if v == float("inf") else "-∞" if v == float("-inf") else f"{v:g}"


def _domain_text(game) -> str:
    lo, hi = game.d_domain
    if lo == float("-inf") and hi == float("inf"):
        return "ℝ"
    return f"({_fmt_bound(lo)}, {_fmt_bound(hi)})"


def _verdict(cond) -> str:
    if cond.stable:
        return "stable"
    if cond.coupling_ok and cond.curvature == 0:
        return "centre (not stable)"
    if cond.coupling > 0:
        return "saddle (unstable)"
    return "not stable"


def _eig_text(ev) -> str:
    parts = []
    for l in ev:
        re, im = float(l.real) + 0.0, float(l.imag)
        parts.append(f"{re:.6g}" if abs(im) < 1e-12 else f"{re:.6g} {'+' if im >= 0 else '-'} {abs(im):.6g}i")
    return ", ".join(parts)


def _short_source(source: str, width: int = 60) -> str:
    """Authors and year of each ';'-separated reference (the text before its quoted title)."""
    parts = [p.split("'")[0].strip().rstrip(",").strip() for p in source.split(";")]
    text = "; ".join(p for p in parts if p)
    return text if len(text) <= width else text[: width - 1] + "…"


def _add_games(p):
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run_games(args):
    import json

    from . import games
    from .stability import stability_conditions

    rows = []
    for name in games.names():
        g = games.get(name)
        try:
            cond = stability_conditions(g)
            d0, verdict = cond.d0, _verdict(cond)
        except ValueError as exc:  # a game without a rest point
            d0, verdict = None, f"no rest point ({exc})"
        rows.append({"name": name, "domain": _domain_text(g), "d0": d0, "verdict": verdict, "source": g.source})
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    src = [_short_source(r["source"]) for r in rows]
    table = [("name", "D domain", "D0", "stability (every pd > 0)", "source")]
    table += [(r["name"], r["domain"], "—" if r["d0"] is None else f"{r['d0']:.4g}", r["verdict"], s)
              for r, s in zip(rows, src)]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for k, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print("\nDetails: jaxgan stability GAME --pd 0.2")
    return 0


_COMMANDS["games"] = (_add_games, _run_games, "list the preset games: domain, D0, stability verdict, source")


def _add_stability(p):
    p.add_argument("game", metavar="GAME", help="a preset game (see `jaxgan games`)")
    p.add_argument("--pd", type=_positive_float, default=0.2, help="data density at the point (default 0.2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _stability_data(game, pd):
    from .fields import pointwise_field
    from .stability import analyze, max_stable_lr, stability_conditions

    field = pointwise_field(game, pd)
    rep = analyze(field)
    cond = stability_conditions(game)
    lrs = {m: max_stable_lr(field, m) for m in ("euler", "alternating")}
    return field, rep, cond, lrs


def _run_stability(args):
    import json

    import numpy as np

    game = _game_arg(args.game)
    _, rep, cond, lrs = _stability_data(game, args.pd)
    if args.json:
        out = {"game": game.name, "pd": args.pd, "rest_point": [float(v) for v in rep.point],
               "velocity_at_rest": [float(v) for v in rep.velocity],
               "jacobian": np.asarray(rep.jacobian, dtype=float).tolist(),
               "eigenvalues": [[float(l.real), float(l.imag)] for l in rep.eigenvalues],
               "kind": rep.kind, "stable": bool(rep.stable),
               "criterion": cond.as_dict(), "criterion_text": cond.explain(),
               "max_stable_lr": {m: _json_num(v) for m, v in lrs.items()}}
        print(json.dumps(out, indent=1, ensure_ascii=False))
        return 0
    j = np.asarray(rep.jacobian, dtype=float)
    lr_txt = ", ".join(f"{m} {('∞' if v == float('inf') else '0 (no step is stable)' if v == 0 else f'{v:.6g}')}"
                       for m, v in lrs.items())
    print(f"{game.name} at pd = {args.pd:g}")
    print(f"rest point (D0, pd) = ({rep.point[0]:.6g}, {rep.point[1]:.6g})")
    print(f"Jacobian at the rest point = [[{j[0, 0]:.6g}, {j[0, 1]:.6g}], [{j[1, 0]:.6g}, {j[1, 1]:.6g}]]")
    print(f"eigenvalues: {_eig_text(rep.eigenvalues)}")
    print(f"kind: {rep.kind} ({'locally asymptotically stable' if rep.stable else 'not asymptotically stable'})")
    print("criterion:")
    print("  " + cond.explain().replace("\n", "\n  "))
    print(f"largest stable step (|1 + lr·λ| < 1 for Euler; autodiff of one update otherwise): {lr_txt}")
    return 0


_COMMANDS["stability"] = (_add_stability, _run_stability,
                          "rest point, Jacobian, eigenvalues, the stability criterion and the largest stable "
                          "steps of a game")


def _check_out_file(path: str) -> str:
    import os

    from matplotlib.backend_bases import FigureCanvasBase

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    kinds = FigureCanvasBase.get_supported_filetypes()
    if ext not in kinds:
        raise CLIError(f"--out {path!r}: unknown image type {ext or '(none)'!r}; use one of {', '.join(sorted(kinds))}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"--out {path!r}: folder {parent!r} does not exist")
    return path


def _range_arg(flag: str, value):
    import math

    if value is None:
        return None
    lo, hi = value
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise CLIError(f"{flag} must be two finite numbers LO < HI; got {lo:g} {hi:g}")
    return (lo, hi)


def _add_portrait(p):
    from .dynamics import rule_names

    p.add_argument("game", metavar="GAME", help="a preset game (see `jaxgan games`)")
    p.add_argument("--pd", type=_positive_float, default=0.2, help="data density at the point (default 0.2)")
    p.add_argument("--start", type=float, nargs=2, action="append", metavar=("D", "PG"),
                   help="a trajectory's start (repeat for more); none: the field alone")
    p.add_argument("--steps", type=_positive_int, default=100_000, help="steps per trajectory (default 100000)")
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="step size (default 1e-3, the article's)")
    p.add_argument("--method", choices=rule_names(), default="euler",
                   help="update rule (default euler: the article's script)")
    p.add_argument("--d-range", type=float, nargs=2, metavar=("LO", "HI"), help="x-axis interval")
    p.add_argument("--pg-range", type=float, nargs=2, metavar=("LO", "HI"), help="y-axis interval")
    p.add_argument("--dpi", type=_positive_int, default=150, help="resolution (default 150)")
    p.add_argument("--out", required=True, metavar="FILE", help="the image file (.png, .pdf, .svg, ...)")


def _run_portrait(args):
    import numpy as np

    game = _game_arg(args.game)
    out = _check_out_file(args.out)
    d_range = _range_arg("--d-range", args.d_range)
    pg_range = _range_arg("--pg-range", args.pg_range)
    if args.dpi > 1200:
        raise CLIError(f"--dpi must be at most 1200; got {args.dpi}")
    from .fields import pointwise_field

    field = pointwise_field(game, args.pd)
    starts = args.start or []
    for d, pg in starts:
        if not bool(field.in_domain(np.asarray([d, pg]))):
            raise CLIError(f"--start {d:g} {pg:g} is outside the domain of {game.name!r}: {field.domain_str()}")
    _use_agg()
    import matplotlib.pyplot as plt

    from . import plotting

    ax = plotting.phase_portrait(field, starts=starts or None, steps=args.steps, lr=args.lr, method=args.method,
                                 d_range=d_range, pg_range=pg_range, colorbar=True)
    try:
        ax.figure.savefig(out, dpi=args.dpi)
    except OSError as exc:
        raise CLIError(f"cannot write {out!r}: {exc}") from None
    finally:
        plt.close(ax.figure)
    print(f"wrote {out}")
    return 0


_COMMANDS["portrait"] = (_add_portrait, _run_portrait,
                         "phase portrait of a game's field with trajectories from the given starts")


def _add_reproduce(p):
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the figures and tables")
    p.add_argument("--pd", type=_positive_float, default=0.2, help="data density (default 0.2, the article's)")
    p.add_argument("--steps", type=_positive_int, default=100_000, help="Euler steps (default 100000)")
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="step size (default 1e-3)")
    p.add_argument("--start", type=float, nargs=2, default=(0.75, 0.9), metavar=("D", "PG"),
                   help="the trajectory's start (default 0.75 0.9)")
    p.add_argument("--no-extra", action="store_true",
                   help="do not add the in-domain orbits to the Wasserstein and quadratic figures")
    p.add_argument("--dpi", type=_positive_int, default=150, help="resolution (default 150)")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")


def _run_reproduce(args):
    import os

    _use_agg()
    from .article import reproduce

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out!r} exists and is not a folder")
    progress = None if args.quiet else (lambda msg: print(f"  {msg}", flush=True))
    try:
        res = reproduce(args.out, pd=args.pd, steps=args.steps, lr=args.lr, start=tuple(args.start),
                        with_extra=not args.no_extra, dpi=args.dpi, progress=progress)
    except OSError as exc:
        raise CLIError(f"cannot write into {args.out!r}: {exc}") from None
    if not args.quiet:
        for f in res.files:
            print(f"  {os.path.join(args.out, f)}")
    print(f"wrote {len(res.files)} files to {args.out} in {res.seconds:.1f} s")
    return 0


_COMMANDS["reproduce"] = (_add_reproduce, _run_reproduce,
                          "write the article's figures and a stability table of every preset game into a folder")


# ============================================================================ sweeps commands


def _run_and_save(compute, out):
    """Run a sweep and save its result; missing extras and unwritable paths become one-line errors."""
    try:
        res = compute()
        return res, res.save(out)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {out!r}: {exc}") from None
# (basins, sweep)

_SWEEP_METHODS = ("euler", "alternating", "rk4", "extragradient", "optimistic", "adaptive")


def _triple(flag: str, value, *, positive: bool = False):
    """`LO HI N` from argparse strings: finite floats, an integer N >= 1."""
    import math

    lo_s, hi_s, n_s = value
    try:
        lo, hi = float(lo_s), float(hi_s)
        n = int(n_s)
    except ValueError:
        raise CLIError(f"{flag} expects LO HI N (two numbers and an integer); got {' '.join(value)}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CLIError(f"{flag} bounds must be finite; got {lo_s} {hi_s}")
    if n < 1:
        raise CLIError(f"{flag} N must be >= 1; got {n_s}")
    if hi < lo or (hi == lo and n > 1):
        raise CLIError(f"{flag} must have LO < HI (an empty or inverted range); got {lo_s} {hi_s}")
    if positive and lo <= 0:
        raise CLIError(f"{flag} values must be positive; got LO = {lo_s}")
    return lo, hi, n


def _sweep_method(args):
    """(method, lr) from --method / --optax / --hyper / --lr."""
    if args.optax is None:
        if args.hyper:
            raise CLIError("--hyper needs --optax NAME (the optimiser whose hyper-parameters they are)")
        return args.method, (args.lr if args.lr is not None else 1e-3)
    import optax

    from .dynamics import Optimizer

    if args.method != "euler":
        raise CLIError("give either --method or --optax, not both")
    if args.lr is not None:
        raise CLIError(f"--lr is not used with --optax {args.optax}: give --hyper learning_rate=VALUE")
    factory = getattr(optax, args.optax, None)
    if not callable(factory) or args.optax.startswith("_"):
        raise CLIError(f"--optax {args.optax!r} is not an optax optimiser (e.g. sgd, adam, rmsprop, "
                       f"optimistic_gradient_descent)")
    hyper = {}
    for item in args.hyper or []:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--hyper expects KEY=VALUE; got {item!r}")
        try:
            hyper[key] = float(val)
        except ValueError:
            hyper[key] = {"true": True, "false": False}.get(val.lower(), val)
    hyper.setdefault("learning_rate", 1e-3)
    return Optimizer(factory, **hyper), None


def _sweep_common(p, *, steps: int):
    p.add_argument("game", metavar="GAME", help="a preset game (see `jaxgan games`)")
    p.add_argument("--pd", type=_positive_float, default=0.2, help="data density at the point (default 0.2)")
    p.add_argument("--steps", type=_positive_int, default=steps, help=f"updates per start (default {steps})")
    p.add_argument("--lr", type=_positive_float, default=None, help="step size (default 1e-3)")
    p.add_argument("--method", choices=_SWEEP_METHODS, default="euler",
                   help="update rule (default euler; adaptive needs diffrax)")
    p.add_argument("--optax", metavar="NAME", help="an optax optimiser instead of --method (e.g. sgd, adam)")
    p.add_argument("--hyper", action="append", metavar="KEY=VALUE",
                   help="a hyper-parameter of --optax (repeat), e.g. learning_rate=0.01 momentum=0.9")
    p.add_argument("--tol", type=_positive_float, default=1e-3, help="convergence distance (default 1e-3)")
    p.add_argument("--chunk", type=_positive_int, default=None,
                   help="starts per chunk (default: 65536 on CPUs, 2**20 on accelerators; a resumed sweep keeps its own)")
    p.add_argument("--resume", metavar="DIR", help="folder of chunk files: rerun to resume a killed sweep")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="the result file (.npz)")
    p.add_argument("--png", metavar="FILE", help="the figure (default: FILE.npz with .png)")
    p.add_argument("--dpi", type=_positive_int, default=150, help="resolution (default 150)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _sweep_outputs(args):
    import os

    out = args.out if args.out.endswith(".npz") else args.out + ".npz"
    png = args.png or os.path.splitext(out)[0] + ".png"
    for path, flag in ((out, "--out"), (png, "--png")):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise CLIError(f"{flag} {path!r}: folder {parent!r} does not exist")
    if args.dpi > 1200:
        raise CLIError(f"--dpi must be at most 1200; got {args.dpi}")
    return out, png


def _default_d_range(game, n: int):
    import math

    lo, hi = game.d_domain
    d0 = game.rest_d()
    if math.isfinite(lo) and math.isfinite(hi):
        pad = 0.01 * (hi - lo)
        return lo + pad, hi - pad, n
    lo2 = lo + 0.01 if math.isfinite(lo) else d0 - 2.0
    hi2 = hi - 0.01 if math.isfinite(hi) else d0 + 2.0
    return lo2, hi2, n


def _save_figure(ax, png: str, dpi: int):
    import matplotlib.pyplot as plt

    try:
        ax.figure.savefig(png, dpi=dpi)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot write {png!r}: {exc}") from None
    finally:
        plt.close(ax.figure)


def _add_basins(p):
    _sweep_common(p, steps=10_000)
    p.add_argument("--d", nargs=3, metavar=("LO", "HI", "N"),
                   help="starts in D: N points from LO to HI (default: the domain less 1%%, 128 points)")
    p.add_argument("--pg", nargs=3, metavar=("LO", "HI", "N"), help="starts in pg (default 0.01 2 128)")


def _run_basins(args):
    game = _game_arg(args.game)
    out, png = _sweep_outputs(args)
    d_range = _triple("--d", args.d) if args.d else _default_d_range(game, 128)
    pg_range = _triple("--pg", args.pg) if args.pg else (0.01, 2.0, 128)
    method, lr = _sweep_method(args)
    _use_agg()
    from . import plotting
    from .fields import pointwise_field
    from .sweeps import basins

    field = pointwise_field(game, args.pd)
    res, path = _run_and_save(lambda: basins(field, d_range, pg_range, steps=args.steps, lr=lr, method=method,
                                             tol=args.tol, chunk=args.chunk, out=args.resume,
                                             progress=not args.quiet), out)
    _save_figure(plotting.basins(res), png, args.dpi)
    fr = ", ".join(f"{k.lower()} {100 * v:.1f}%" for k, v in res.fractions().items() if v)
    print(f"{game.name}: {res.fate.size} starts, {fr}")
    print(f"wrote {path} and {png}")
    return 0


_COMMANDS["basins"] = (_add_basins, _run_basins,
                       "basins of attraction: the fate of every start on a (D, pg) grid, saved with a figure")


def _add_sweep(p):
    _sweep_common(p, steps=4096)
    p.add_argument("--vary", nargs=4, action="append", required=True, metavar=("NAME", "LO", "HI", "N"),
                   help="a swept parameter (lr, pd, or an --optax hyper-parameter) and its range; one or two")
    p.add_argument("--log", action="append", default=[], metavar="NAME",
                   help="space this --vary parameter geometrically")
    p.add_argument("--radius", type=_positive_float, default=0.05,
                   help="starts on a circle of this radius around the rest point (default 0.05)")
    p.add_argument("--n-starts", type=_positive_int, default=8, help="starts on the circle (default 8)")


def _run_sweep(args):
    import numpy as np

    game = _game_arg(args.game)
    out, png = _sweep_outputs(args)
    if len(args.vary) > 2:
        raise CLIError(f"--vary at most twice (a phase diagram has two axes); got {len(args.vary)}")
    grid = {}
    for name, *rng in args.vary:
        if name in grid:
            raise CLIError(f"--vary {name} given twice")
        lo, hi, n = _triple(f"--vary {name}", rng, positive=name in ("lr", "pd") or name in args.log)
        grid[name] = np.geomspace(lo, hi, n) if name in args.log else np.linspace(lo, hi, n)
    unknown_log = [n for n in args.log if n not in grid]
    if unknown_log:
        raise CLIError(f"--log {unknown_log[0]}: not a --vary parameter")
    method, lr = _sweep_method(args)
    if "lr" in grid and args.lr is not None:
        raise CLIError("--lr and --vary lr: give one")
    if "lr" in grid:
        lr = None
    angles = np.linspace(0.0, 2 * np.pi, args.n_starts, endpoint=False)
    offsets = np.stack([args.radius * np.cos(angles), args.radius * np.sin(angles)], axis=1)
    _use_agg()
    from . import plotting
    from .fields import pointwise_field
    from .sweeps import sweep

    field = pointwise_field(game, args.pd)
    res, path = _run_and_save(lambda: sweep(field, grid, steps=args.steps, lr=lr, method=method, offsets=offsets,
                                            tol=args.tol, chunk=args.chunk, out=args.resume,
                                            progress=not args.quiet), out)
    _save_figure(plotting.phase_diagram(res), png, args.dpi)
    print(f"{game.name}: {res.fate.size} runs over {' x '.join(f'{n}[{len(v)}]' for n, v in zip(res.names, res.values))}, "
          f"converged overall {100 * float(np.mean(res.fraction())):.1f}%")
    if res.boundary is not None:
        b = np.asarray(res.boundary).ravel()
        print(f"analytic max stable lr: {b.min():.4g} .. {b.max():.4g}")
    print(f"wrote {path} and {png}")
    return 0


_COMMANDS["sweep"] = (_add_sweep, _run_sweep,
                      "phase diagram: fraction converged and time to converge over a grid of lr, pd or "
                      "optimiser hyper-parameters, with the analytic stability boundary")


# ============================================================================ kernel commands

def _add_kernel(p):
    p.add_argument("--act", default="relu", choices=["relu", "leaky_relu", "tanh"], help="activation (default relu)")
    p.add_argument("--width", type=_positive_int, default=256, help="hidden width (default 256)")
    p.add_argument("--depth", type=_positive_int, default=2, help="number of hidden layers (default 2)")
    p.add_argument("--bn", action="store_true", help="BatchNorm after each hidden layer")
    p.add_argument("--bn-mode", choices=["train", "eval"], default="train",
                   help="with --bn: train = batch statistics (the kernel is an operator on the grid), "
                        "eval = running statistics calibrated on data samples (a kernel)")
    p.add_argument("--n", type=_positive_int, default=200, help="grid points (default 200)")
    p.add_argument("--x-range", type=float, nargs=2, default=(-3.0, 3.0), metavar=("LO", "HI"),
                   help="the 1-D grid (default -3 3); data density pd = N(0, 1) on it")
    p.add_argument("--game", default="minimax", help="game of the kernel field (default minimax)")
    p.add_argument("--method", default="auto", choices=["auto", "structured", "jacobian", "jacfwd"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--x64", action="store_true", help="compute in float64 (resolves the spectrum's tail)")
    p.add_argument("--compare", action="store_true",
                   help="also ReLU, tanh and ReLU+BatchNorm(train) discriminators of the same size")
    p.add_argument("--out", default=None, help="folder for figures and kernel_summary.json")


def _kernel_case(act, width, depth, bn, bn_mode, x, w, pd, game, method, seed):
    """One discriminator: its kernel on the grid, spectrum and kernel-field eigenvalues."""
    import time

    import jax
    import numpy as np

    from . import kernels, nets

    init, apply = nets.mlp((1,) + (width,) * depth + (1,), act, batchnorm=bn, bn_momentum=1.0)
    key_init, key_data = jax.random.split(jax.random.PRNGKey(seed))
    params = init(key_init)
    train = None
    if bn:
        train = bn_mode == "train"
        if not train:  # running statistics = those of 512 data samples
            samples = jax.random.normal(key_data, (512, 1), dtype=params["dense"][0]["w"].dtype)
            _, params = apply(params, samples, train=True, update_stats=True)
    t0 = time.perf_counter()
    k = kernels.parametric_kernel(apply, params, x, train=train, method=method)
    k.block_until_ready()
    seconds = time.perf_counter() - t0
    spec = kernels.spectrum(k, w)
    name = act + (f"+BN({bn_mode})" if bn else "")
    field = kernels.kernel_field(game, pd, w, np.asarray(k) / spec.eigenvalues[0], name=f"{game.name}/{name}")
    modes = kernels.field_modes(field)
    return {"name": name, "K": k, "spectrum": spec, "field": field, "modes": modes, "seconds": seconds,
            "n_params": apply.spec.n_params}


def _run_kernel(args):
    import json
    import os

    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import numpy as np

    game = _game_arg(args.game)
    lo, hi = args.x_range
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise CLIError(f"--x-range must be two finite numbers LO < HI; got {lo} {hi}")
    if args.n < 2:
        raise CLIError(f"--n must be at least 2; got {args.n}")
    dtype = np.float64 if args.x64 else np.float32
    x = np.linspace(lo, hi, args.n)
    w = np.full(args.n, (hi - lo) / (args.n - 1))
    w[[0, -1]] *= 0.5  # trapezoid rule
    pd = np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi)
    pd = pd / np.dot(w, pd)
    cases = [(args.act, args.bn, args.bn_mode)]
    if args.compare:
        for c in (("relu", False, "train"), ("tanh", False, "train"), ("relu", True, "train")):
            if c not in cases:
                cases.append(c)
    results = [_kernel_case(a, args.width, args.depth, bn, mode, x.astype(dtype), w, pd, game, args.method,
                            args.seed) for a, bn, mode in cases]
    arch = f"1→{'→'.join([str(args.width)] * args.depth)}→1"
    print(f"parametric kernel of {arch} discriminators on {args.n} points in [{lo:g}, {hi:g}] "
          f"({'float64' if args.x64 else 'float32'}, method {args.method}); field: {game.name}, pd = N(0,1)")
    print(f"{'network':<16}{'params':>9}{'kernel s':>10}{'λ1':>11}{'λ10/λ1':>10}{'erank':>8}"
          f"{'damped':>8}{'neutral':>8}{'growing':>8}{'slowest damping':>17}")
    summary = []
    for r in results:
        lam, m = r["spectrum"].eigenvalues, r["modes"]
        ev = m.eigenvalues
        damped = ev.real[ev.real < -m.resolution]
        slowest = float(-damped.max()) if damped.size else float("nan")
        l10 = lam[min(9, lam.size - 1)] / lam[0]
        print(f"{r['name']:<16}{r['n_params']:>9}{r['seconds']:>10.3f}{lam[0]:>11.4g}{l10:>10.2e}"
              f"{r['spectrum'].effective_rank:>8.2f}{m.damped:>8}{m.neutral:>8}{m.growing:>8}{slowest:>17.3g}")
        summary.append({"network": r["name"], "architecture": arch, "n_params": r["n_params"],
                        "kernel_seconds": r["seconds"], "eigenvalues": lam[:50].tolist(),
                        "effective_rank": r["spectrum"].effective_rank,
                        "participation_ratio": r["spectrum"].participation_ratio,
                        "noise_floor": r["spectrum"].noise_floor,
                        "field_eigenvalues": [[float(e.real), float(e.imag)] for e in ev],
                        "field_resolution": m.resolution, "field_damped": m.damped,
                        "field_neutral": m.neutral, "field_growing": m.growing,
                        "field_slowest_damping": slowest})
    print(f"field modes at the rest point: |Re λ| ≤ √eps·max|λ| counts as neutral (unresolved); the kernel is "
          f"normalised to λ1(K W) = 1{'' if args.x64 else '; float32: pass --x64 to resolve slow modes'}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from . import plotting

        os.makedirs(args.out, exist_ok=True)
        first = results[0]
        ax = plotting.kernel_heatmap(first["K"], x, title=f"K_θ(x, y): {first['name']} {arch}")
        ax.figure.savefig(os.path.join(args.out, "kernel.png"), dpi=120)
        ax = plotting.kernel_spectrum({r["name"]: r["spectrum"] for r in results},
                                      title=f"spectrum of K W on {args.n} points, {arch}")
        ax.figure.savefig(os.path.join(args.out, "spectrum.png"), dpi=120)
        ax = plotting.kernel_eigenfunctions(first["spectrum"], x, k=4,
                                            title=f"leading eigenfunctions: {first['name']} {arch}")
        ax.figure.savefig(os.path.join(args.out, "eigenfunctions.png"), dpi=120)
        ax = plotting.kernel_field_eigenvalues({r["name"]: r["field"] for r in results},
                                               title=f"{game.name} kernel field at its rest point, {arch}")
        ax.figure.savefig(os.path.join(args.out, "field_eigenvalues.png"), dpi=120)
        plt.close("all")
        with open(os.path.join(args.out, "kernel_summary.json"), "w") as fh:
            json.dump({"grid": {"n": args.n, "lo": lo, "hi": hi}, "game": game.name, "cases": summary}, fh, indent=1)
        print(f"wrote kernel.png, spectrum.png, eigenfunctions.png, field_eigenvalues.png, kernel_summary.json "
              f"to {args.out}")
    return 0


_COMMANDS["kernel"] = (_add_kernel, _run_kernel,
                       "parametric kernel of an MLP discriminator: heatmap, spectrum, eigenfunctions, "
                       "and the kernel-induced field's eigenvalues")


# ============================================================================ table commands
# `jaxgan table NAME`: each table registers in _TABLES[name] = (add_fn(parser), run_fn(args), help).

_TABLES: dict = {}


def _add_table(p):
    sub = p.add_subparsers(dest="table", metavar="TABLE", parser_class=_Parser)
    sub.required = True
    for name, (add, _run, help_) in _TABLES.items():
        add(sub.add_parser(name, help=help_, description=help_))


def _run_table(args):
    return _TABLES[args.table][1](args)


_COMMANDS["table"] = (_add_table, _run_table, "print a summary table (see `jaxgan table -h`)")


def _add_convergence(p):
    p.add_argument("--lr", type=_positive_float, default=0.1, help="step size of the runs (default 0.1)")
    p.add_argument("--steps", type=_positive_int, default=10000, help="steps per run (default 10000)")
    p.add_argument("--start", type=float, nargs=2, default=(1.0, 1.0), metavar=("Z0", "Z1"),
                   help="the standard start (default 1 1)")
    p.add_argument("--game", action="append", default=None,
                   help="keep only this game (repeatable): dirac_gan, dirac_wgan, bilinear")
    p.add_argument("--regulariser", action="append", default=None,
                   help="keep only this regulariser (repeatable; its name before the parenthesis, e.g. r1, none)")
    p.add_argument("--method", action="append", default=None,
                   help="update rule (repeatable; default euler, alternating, extragradient, optimistic)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows as JSON to PATH")


def _run_convergence(args):
    import json

    from . import tables

    cases = tables.default_convergence_cases()
    games = sorted({c.game for c in cases})
    regs = sorted({c.regulariser.split("(")[0] for c in cases})
    for given, valid, what in ((args.game, games, "--game"), (args.regulariser, regs, "--regulariser")):
        for g in given or ():
            if g not in valid:
                raise CLIError(f"{what} must be one of {', '.join(valid)}; got {g!r}")
    cases = [c for c in cases if (not args.game or c.game in args.game)
             and (not args.regulariser or c.regulariser.split("(")[0] in args.regulariser)]
    if not cases:
        raise CLIError("no (game, regulariser) pair of the default set matches the filters")
    if args.steps < 8:
        raise CLIError(f"--steps must be at least 8; got {args.steps}")
    methods = tuple(args.method) if args.method else tables.DEFAULT_METHODS
    rows = tables.convergence_table(cases, methods, lr=args.lr, steps=args.steps, start=tuple(args.start),
                                    progress=lambda line: sys.stderr.write(f"  {line}\n"))
    print(tables.format_convergence_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.as_dict() for r in rows], fh, indent=1)
    return 0


_TABLES["convergence"] = (_add_convergence, _run_convergence,
                          "game × regulariser × optimiser: rest-point eigenvalues, continuous verdict, max stable "
                          "lr (simultaneous and alternating GD), spectral radius and fate from a standard start")


# ============================================================================ neural commands

def _add_experiment(p):
    p.add_argument("name", choices=["batchnorm"],
                   help="batchnorm: ReLU / leaky ReLU / tanh, each plain, with BatchNorm and with dropout, many seeds")
    p.add_argument("--quick", action="store_true",
                   help="the smallest size: ReLU plain and with BatchNorm, 4 seeds × 600 updates "
                        "(compile-bound, well under a minute)")
    p.add_argument("--small", action="store_true", help="the notebook's size (about a minute)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write batchnorm_table.md/.csv/.json and the figures (PNG) there")
    p.add_argument("--game", default="non_saturating", help="the game (default non_saturating)")
    p.add_argument("--seeds", type=_positive_int, default=None, help="seeds per configuration")
    p.add_argument("--steps", type=_positive_int, default=None, help="updates per run")
    p.add_argument("--activations", nargs="+", choices=["relu", "leaky_relu", "tanh"], default=None,
                   help="activations to compare (default: the size's)")
    p.add_argument("--variants", nargs="+", choices=["plain", "batchnorm", "dropout"], default=None,
                   help="variants of each activation (default: the size's)")
    p.add_argument("--update", choices=["simultaneous", "alternating"], default="simultaneous")
    p.add_argument("--lr", type=_positive_float, default=5e-4, help="Adam step of both players (default 5e-4)")
    p.add_argument("--workers", type=_positive_int, default=2, help="configurations run concurrently (threads)")
    p.add_argument("--dpi", type=_positive_int, default=110)


def _run_experiment(args):
    import json
    import os

    from . import neural

    if args.quick and args.small:
        raise CLIError("choose at most one of --quick and --small")
    size = "quick" if args.quick else "small" if args.small else "default"
    game = _game_arg(args.game)
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
    exp = neural.batchnorm_experiment(size, game=game, seeds=args.seeds, steps=args.steps, update=args.update,
                                      lr=args.lr, workers=args.workers, activations=args.activations,
                                      variants=args.variants,
                                      progress=lambda line: print("  " + line, file=sys.stderr, flush=True))
    table = exp.table()
    print(table)
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from . import plotting

        with open(os.path.join(args.out, "batchnorm_table.md"), "w") as fh:
            fh.write(table + "\n")
        with open(os.path.join(args.out, "batchnorm_table.csv"), "w") as fh:
            fh.write(exp.csv())
        with open(os.path.join(args.out, "batchnorm.json"), "w") as fh:
            json.dump(exp.to_json(), fh, indent=1)
        figs = plotting.neural_experiment_figures(exp, path_angles=exp.path_angles(n_seeds=4 if size == "default"
                                                                                   else 2))
        for name, fig in figs.items():
            fig.savefig(os.path.join(args.out, f"batchnorm_{name}.png"), dpi=args.dpi)
            plt.close(fig)
        print(f"wrote {len(figs)} figures and the table to {args.out}", file=sys.stderr)
    return 0


_COMMANDS["experiment"] = (_add_experiment, _run_experiment,
                           "run an experiment on real networks (batchnorm: does BatchNorm make GAN training cycle?)")



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
    except BrokenPipeError:
        # `jaxgan games | head`: the reader left; not an error of ours.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except CLIError as exc:
        sys.stderr.write(f"jaxgan {args.command}: error: {exc}\n")
        return 2
    except (ValueError, TypeError) as exc:
        # Library input errors are one line, never a traceback.
        sys.stderr.write(f"jaxgan {args.command}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
