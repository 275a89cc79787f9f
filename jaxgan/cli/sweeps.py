"""The sweep commands: `basins` (fates over a grid of starts) and `sweep` (phase diagrams)."""

from __future__ import annotations

import os

from .. import fields, games, plotting, sweeps
from .._checks import check_float, check_grid_range
from ._common import (
    CLIError,
    Command,
    add_quiet,
    check_dpi,
    naming_flags,
    positive_float,
    positive_int,
    save_figure,
    use_agg,
)
from ._files import Staged, image_file, output_file, output_folder

__all__ = ["COMMANDS"]

_SWEEP_METHODS = ("euler", "alternating", "rk4", "extragradient", "optimistic", "adaptive")


def _triple(flag: str, value, *, positive: bool = False):
    """`LO HI N` from argparse strings: finite floats LO < HI, an integer N >= 1 (LO > 0 with `positive`)."""
    try:
        lo, hi, n = float(value[0]), float(value[1]), int(value[2])
    except ValueError:
        raise CLIError(f"{flag} expects LO HI N (two numbers and an integer); got {' '.join(value)}") from None
    lo, hi, n = check_grid_range(None, flag, (lo, hi, n))
    if positive:
        check_float(None, f"{flag} LO", lo)
    return lo, hi, n


def _optax_method(args):
    """An `Optimizer` from --optax NAME and its --hyper KEY=VALUE pairs (learning_rate default 1e-3)."""
    import optax

    from ..dynamics import Optimizer

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
            if val.lower() not in ("true", "false"):
                raise CLIError(f"--hyper {item!r}: VALUE must be a number, true or false") from None
            hyper[key] = val.lower() == "true"
    hyper.setdefault("learning_rate", 1e-3)
    with naming_flags({k: f"--hyper {k}" for k in hyper}):
        return Optimizer(factory, **hyper)


def _sweep_method(args):
    """(method, lr) from --method / --optax / --hyper / --lr."""
    if args.optax is None:
        if args.hyper:
            raise CLIError("--hyper needs --optax NAME (the optimiser whose hyper-parameters they are)")
        return args.method, (args.lr if args.lr is not None else 1e-3)
    if args.method != "euler":
        raise CLIError("give either --method or --optax, not both")
    if args.lr is not None:
        raise CLIError(f"--lr is not used with --optax {args.optax}: give --hyper learning_rate=VALUE")
    return _optax_method(args), None


def _sweep_common(p, *, steps: int):
    p.add_argument("game", metavar="GAME", help="a preset game (see `jaxgan games`)")
    p.add_argument("--pd", type=positive_float, default=0.2, help="data density at the point (default 0.2)")
    p.add_argument("--steps", type=positive_int, default=steps, help=f"updates per start (default {steps})")
    p.add_argument("--lr", type=positive_float, default=None, help="step size (default 1e-3)")
    p.add_argument("--method", choices=_SWEEP_METHODS, default="euler",
                   help="update rule (default euler; adaptive needs diffrax)")
    p.add_argument("--optax", metavar="NAME", help="an optax optimiser instead of --method (e.g. sgd, adam)")
    p.add_argument("--hyper", action="append", metavar="KEY=VALUE",
                   help="a hyper-parameter of --optax (repeat), e.g. learning_rate=0.01 momentum=0.9")
    p.add_argument("--tol", type=positive_float, default=1e-3, help="convergence distance (default 1e-3)")
    p.add_argument("--chunk", type=positive_int, default=None,
                   help="starts per chunk (default: 65536 on CPUs, 2**20 on accelerators; a resumed sweep keeps its own)")
    p.add_argument("--resume", metavar="DIR", help="folder of chunk files: rerun to resume a killed sweep")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="the result file (.npz)")
    p.add_argument("--png", metavar="FILE", help="the figure (default: FILE.npz with .png)")
    p.add_argument("--dpi", type=positive_int, default=150, help="resolution (default 150)")
    add_quiet(p, "no progress bar")


def _sweep_outputs(args):
    """(result file, figure file), checked before anything is computed; --resume too."""
    out = args.out if args.out.endswith(".npz") else args.out + ".npz"
    png = args.png or os.path.splitext(out)[0] + ".png"
    output_file("--out", out)
    image_file("--png", png) if args.png else output_file("--out", png)
    if args.resume is not None:
        resume = output_folder("--resume", args.resume)
        if resume in (os.path.abspath(out), os.path.abspath(png)):
            raise CLIError(f"--resume {args.resume!r} is also an output file; give the chunks their own folder")
    check_dpi(args.dpi)
    return out, png


def _run_and_save(compute, draw, out: str, png: str, dpi: int):
    """Run a sweep, then save its result and figure together: both or neither (`Staged`), so a failed
    run leaves existing files as they were. Missing extras and unwritable paths become one-line errors."""
    with Staged() as staged:
        try:
            res = compute()
        except ImportError as exc:
            raise CLIError(str(exc)) from None
        except OSError as exc:  # the chunk folder of --resume
            raise CLIError(f"--resume: {exc}") from None
        try:
            res.save(staged.file(out))
        except OSError as exc:
            raise CLIError(f"cannot write {out!r}: {exc}") from None
        save_figure(draw(res).figure, staged.file(png), dpi, name=png)
    return res


def _default_d_range(game, n: int):
    """N starts in D: the domain less 1% of its width, or D0 ± 2 towards an infinite end."""
    import math

    lo, hi = game.d_domain
    d0 = game.rest_d()
    if math.isfinite(lo) and math.isfinite(hi):
        pad = 0.01 * (hi - lo)
        return lo + pad, hi - pad, n
    lo2 = lo + 0.01 if math.isfinite(lo) else d0 - 2.0
    hi2 = hi - 0.01 if math.isfinite(hi) else d0 + 2.0
    return lo2, hi2, n


# ----------------------------------------------------------------------------- basins


def _add_basins(p):
    _sweep_common(p, steps=10_000)
    p.add_argument("--d", nargs=3, metavar=("LO", "HI", "N"),
                   help="starts in D: N points from LO to HI (default: the domain less 1%%, 128 points)")
    p.add_argument("--pg", nargs=3, metavar=("LO", "HI", "N"), help="starts in pg (default 0.01 2 128)")


def _flags(args, **more) -> dict:
    """Library argument -> flag, for the library's messages (`out` of the sweeps is the chunk folder)."""
    return {"pd": "--pd", "steps": "--steps", "lr": "--lr", "method": "--optax" if args.optax else "--method",
            "tol": "--tol", "chunk": "--chunk", "out": "--resume", **more}


def _run_basins(args):
    game = games.get(args.game)
    out, png = _sweep_outputs(args)
    d_range = _triple("--d", args.d) if args.d else _default_d_range(game, 128)
    pg_range = _triple("--pg", args.pg) if args.pg else (0.01, 2.0, 128)
    method, lr = _sweep_method(args)
    use_agg()
    with naming_flags(_flags(args, d_range="--d", pg_range="--pg")):
        field = fields.pointwise_field(game, args.pd)
        res = _run_and_save(lambda: sweeps.basins(field, d_range, pg_range, steps=args.steps, lr=lr, method=method,
                                                  tol=args.tol, chunk=args.chunk, out=args.resume,
                                                  progress=False if args.quiet else None),
                            plotting.basins, out, png, args.dpi)
    fr = ", ".join(f"{k.lower()} {100 * v:.1f}%" for k, v in res.fractions().items() if v)
    print(f"{game.name}: {res.fate.size} starts, {fr}")
    print(f"wrote {out} and {png}")
    return 0


# ----------------------------------------------------------------------------- sweep


def _add_sweep(p):
    _sweep_common(p, steps=4096)
    p.add_argument("--vary", nargs=4, action="append", required=True, metavar=("NAME", "LO", "HI", "N"),
                   help="a swept parameter (lr, pd, or an --optax hyper-parameter) and its range; one or two")
    p.add_argument("--log", action="append", default=[], metavar="NAME",
                   help="space this --vary parameter geometrically")
    p.add_argument("--radius", type=positive_float, default=0.05,
                   help="starts on a circle of this radius around the rest point (default 0.05)")
    p.add_argument("--n-starts", type=positive_int, default=8, help="starts on the circle (default 8)")


_MAX_STARTS = 2**24  # --n-starts: 256 MiB of float64 offsets, made here before the library sees them


def _sweep_grid(args) -> dict:
    """`{name: values}` from the --vary and --log flags."""
    import numpy as np

    if len(args.vary) > 2:
        raise CLIError(f"--vary at most twice (a phase diagram has two axes); got {len(args.vary)}")
    grid = {}
    for name, *rng in args.vary:
        if name in grid:
            raise CLIError(f"--vary {name} given twice")
        lo, hi, n = _triple(f"--vary {name}", rng, positive=name in ("lr", "pd") or name in args.log)
        grid[name] = np.geomspace(lo, hi, n) if name in args.log else np.linspace(lo, hi, n)
    if args.n_starts > _MAX_STARTS:
        raise CLIError(f"--n-starts must be at most {_MAX_STARTS} (the starts are held in memory); got {args.n_starts}")
    unknown_log = [n for n in args.log if n not in grid]
    if unknown_log:
        raise CLIError(f"--log {unknown_log[0]}: not a --vary parameter")
    return grid


def _circle_offsets(radius: float, n: int):
    """`n` offsets evenly spaced on a circle of `radius`, shape `(n, 2)`."""
    import numpy as np

    angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _run_sweep(args):
    import numpy as np

    game = games.get(args.game)
    out, png = _sweep_outputs(args)
    grid = _sweep_grid(args)
    method, lr = _sweep_method(args)
    if "lr" in grid and args.lr is not None:
        raise CLIError("--lr and --vary lr: give one")
    if "lr" in grid:
        lr = None
    use_agg()
    with naming_flags({"pd": "--pd"}):
        field = fields.pointwise_field(game, args.pd)
    # A swept name is the library's argument name too (pd, lr, a hyper-parameter): name its --vary.
    flags = _flags(args, grid="--vary", offsets="--radius", **{n: f"--vary {n}" for n in grid})
    with naming_flags(flags):
        res = _run_and_save(lambda: sweeps.sweep(field, grid, steps=args.steps, lr=lr, method=method,
                                                 offsets=_circle_offsets(args.radius, args.n_starts),
                                                 tol=args.tol, chunk=args.chunk, out=args.resume,
                                                 progress=False if args.quiet else None),
                            plotting.phase_diagram, out, png, args.dpi)
    axes = " x ".join(f"{n}[{len(v)}]" for n, v in zip(res.names, res.values))
    print(f"{game.name}: {res.fate.size} runs over {axes}, "
          f"converged overall {100 * float(np.mean(res.fraction())):.1f}%")
    if res.boundary is not None:
        b = np.asarray(res.boundary).ravel()
        print(f"analytic max stable lr: {b.min():.4g} .. {b.max():.4g}")
    print(f"wrote {out} and {png}")
    return 0


COMMANDS = {
    "basins": Command(_add_basins, _run_basins,
                      "basins of attraction: the fate of every start on a (D, pg) grid, saved with a figure"),
    "sweep": Command(_add_sweep, _run_sweep,
                     "phase diagram: fraction converged and time to converge over a grid of lr, pd or "
                     "optimiser hyper-parameters, with the analytic stability boundary"),
}
