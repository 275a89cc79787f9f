"""`jaxgan experiment NAME`: experiments on real networks (`batchnorm`, `landscape`)."""

from __future__ import annotations

import json
import os
import sys

from .. import neural, plotting
from ..neural import landscape as _landscape
from ._common import (
    CLIError,
    Command,
    add_quiet,
    get_game,
    naming_flags,
    positive_float,
    positive_int,
    progress_printer,
    save_figure,
    use_agg,
)
from ._files import Staged, output_folder

__all__ = ["COMMANDS"]


def _add_experiment(p):
    p.add_argument("name", choices=["batchnorm", "landscape"],
                   help="batchnorm: ReLU / leaky ReLU / tanh, each plain, with BatchNorm and with dropout, many seeds; "
                        "landscape: Berard et al. 2020's findings (rotation, not Nash, the path-angle bump) at the end "
                        "of NSGAN and WGAN-GP training, many seeds")
    p.add_argument("--quick", action="store_true",
                   help="the smallest size (compile-bound: batchnorm about 15 s on a 2-core CPU): batchnorm 4 seeds × "
                        "600 updates (digits: 300), landscape 4 seeds × 600 updates")
    p.add_argument("--small", action="store_true", help="the notebook's / README's size (minutes)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write NAME_table.md, NAME.json (batchnorm: also NAME_table.csv) and the figures (PNG) there")
    p.add_argument("--game", default=None, help="batchnorm: the game (default non_saturating)")
    p.add_argument("--data", choices=["ring", "grid", "digits", "mixture"], default=None,
                   help="landscape: the 2-D ring of 8 Gaussians (default), the grid of 25, or the 8×8 digits; "
                        "batchnorm: the 1-D mixture with MLPs (default) or the 8×8 digits with DCGAN conv nets")
    p.add_argument("--games", nargs="+", default=None, metavar="GAME",
                   help="landscape: non_saturating, wgan_gp (the Wasserstein game with WGAN-GP, λ = 10) or any "
                        "jaxgan game (default: non_saturating wgan_gp)")
    p.add_argument("--seeds", type=positive_int, default=None, help="seeds per configuration")
    p.add_argument("--steps", type=positive_int, default=None, help="updates per run")
    p.add_argument("--activations", nargs="+", choices=["relu", "leaky_relu", "tanh"], default=None,
                   help="activations to compare (default: the size's)")
    p.add_argument("--variants", nargs="+", choices=["plain", "batchnorm", "dropout"], default=None,
                   help="variants of each activation (default: the size's)")
    p.add_argument("--update", choices=["simultaneous", "alternating"], default="simultaneous")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="Adam step of both players (default: batchnorm 5e-4, landscape 1e-3)")
    p.add_argument("--workers", type=positive_int, default=2, help="configurations run concurrently (threads)")
    p.add_argument("--dpi", type=positive_int, default=110)
    add_quiet(p, "no progress bar (one step per configuration, on stderr)")


def _write_text(staged: Staged, target: str, text: str) -> None:
    try:
        with open(staged.file(target), "w") as fh:
            fh.write(text)
    except OSError as exc:
        raise CLIError(f"cannot write {target!r}: {exc}") from None


def _write_outputs(exp, table: str, out: str, size: str, dpi: int) -> int:
    """The table as Markdown, CSV and JSON and every figure as PNG into `out`, all or none (`Staged`);
    returns the figure count."""
    use_agg()
    figs = plotting.neural_experiment_figures(exp, path_angles=exp.path_angles(n_seeds=4 if size == "default" else 2))
    with Staged() as staged:
        staged.folder(out)
        _write_text(staged, os.path.join(out, "batchnorm_table.md"), table + "\n")
        _write_text(staged, os.path.join(out, "batchnorm_table.csv"), exp.csv())
        _write_text(staged, os.path.join(out, "batchnorm.json"), json.dumps(exp.to_json(), indent=1))
        for name, fig in figs.items():
            target = os.path.join(out, f"batchnorm_{name}.png")
            save_figure(fig, staged.file(target), dpi, name=target)
    return len(figs)


# Library argument -> the flag its value comes from, for the library's messages.
_FLAGS = {"game": "--game", "data": "--data", "seeds": "--seeds", "steps": "--steps", "update": "--update", "lr": "--lr",
          "workers": "--workers", "activations": "--activations", "variants": "--variants"}


def _run_experiment(args):
    if args.quick and args.small:
        raise CLIError("choose at most one of --quick and --small")
    size = "quick" if args.quick else "small" if args.small else "default"
    if args.name == "landscape":
        return _run_landscape(args, size)
    if args.data not in (None, "mixture", "digits"):
        raise CLIError(f"--data of `jaxgan experiment batchnorm` must be mixture or digits; got {args.data!r}")
    if args.games is not None:
        raise CLIError("--games is an option of `jaxgan experiment landscape`, not of batchnorm")
    game = get_game("--game", args.game or "non_saturating")
    if args.out is not None:
        output_folder("--out", args.out)
    with naming_flags(_FLAGS):
        exp = neural.batchnorm_experiment(size, game=game, seeds=args.seeds, steps=args.steps, update=args.update,
                                          lr=5e-4 if args.lr is None else args.lr, workers=args.workers,
                                          activations=args.activations, data=args.data or "mixture",
                                          variants=args.variants, progress=progress_printer(args))
    table = exp.table()
    print(table)
    if args.out is not None:
        n_figs = _write_outputs(exp, table, args.out, size, args.dpi)
        print(f"wrote {n_figs} figures and the table to {args.out}", file=sys.stderr)
    return 0


def _write_landscape(result, text: str, out: str, dpi: int) -> int:
    """The table (with the findings) as Markdown, the JSON and every figure as PNG into `out`, all or none."""
    use_agg()
    figs = plotting.landscape_figures(result)
    with Staged() as staged:
        staged.folder(out)
        _write_text(staged, os.path.join(out, "landscape_table.md"), text + "\n")
        _write_text(staged, os.path.join(out, "landscape.json"), json.dumps(result.to_json(), indent=1))
        for name, fig in figs.items():
            target = os.path.join(out, f"landscape_{name}.png")
            save_figure(fig, staged.file(target), dpi, name=target)
    return len(figs)


_LANDSCAPE_FLAGS = {"data": "--data", "games": "--games", "seeds": "--seeds", "steps": "--steps",
                    "update": "--update", "lr": "--lr", "workers": "--workers"}


def _run_landscape(args, size: str):
    """`jaxgan experiment landscape`: every flag checked (by the library, before it compiles) first."""
    for flag, value in (("--game", args.game), ("--activations", args.activations), ("--variants", args.variants)):
        if value is not None:
            raise CLIError(f"{flag} is an option of `jaxgan experiment batchnorm`; landscape takes --games")
    if args.out is not None:
        output_folder("--out", args.out)
    kw = dict(data=args.data or "ring", seeds=args.seeds, steps=args.steps, size=size, update=args.update,
              lr=1e-3 if args.lr is None else args.lr, workers=args.workers, progress=progress_printer(args))
    if args.games is not None:
        kw["games"] = tuple(args.games)
    with naming_flags(_LANDSCAPE_FLAGS):
        result = _landscape.landscape_experiment(**kw)
    text = result.table() + "\n\n" + result.check_text()
    print(text)
    if args.out is not None:
        n_figs = _write_landscape(result, text, args.out, args.dpi)
        print(f"wrote {n_figs} figures and the table to {args.out}", file=sys.stderr)
    return 0


COMMANDS = {
    "experiment": Command(_add_experiment, _run_experiment,
                          "run an experiment on real networks (batchnorm: does BatchNorm make GAN training cycle? "
                          "landscape: Berard et al. 2020's findings on the end of training)"),
}
