"""`jaxgan kernel`: the parametric kernel of an MLP discriminator, its spectrum and the kernel field's modes."""

from __future__ import annotations

import contextlib
import json
import os

from .. import kernels, plotting
from .._checks import check_interval
from ._common import CLIError, Command, get_game, naming_flags, positive_int, save_figure, use_agg
from ._files import Staged, output_folder

__all__ = ["COMMANDS"]


def _add_kernel(p):
    p.add_argument("--act", default="relu", choices=["relu", "leaky_relu", "tanh"], help="activation (default relu)")
    p.add_argument("--width", type=positive_int, default=256, help="hidden width (default 256)")
    p.add_argument("--depth", type=positive_int, default=2, help="number of hidden layers (default 2)")
    p.add_argument("--bn", action="store_true", help="BatchNorm after each hidden layer")
    p.add_argument("--bn-mode", choices=["train", "eval"], default="train",
                   help="with --bn: train = batch statistics (the kernel is an operator on the grid), "
                        "eval = running statistics calibrated on data samples (a kernel)")
    p.add_argument("--n", type=positive_int, default=200, help="grid points (default 200)")
    p.add_argument("--x-range", type=float, nargs=2, default=(-3.0, 3.0), metavar=("LO", "HI"),
                   help="the 1-D grid (default -3 3); data density pd = N(0, 1) on it")
    p.add_argument("--game", default="minimax", help="game of the kernel field (default minimax)")
    p.add_argument("--algorithm", default="auto", choices=list(kernels.ALGORITHMS),
                   help="how the kernel is computed (default auto: the structured path for jaxgan MLPs)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed (≥ 0)")
    p.add_argument("--x64", action="store_true", help="compute in float64 (resolves the spectrum's tail)")
    p.add_argument("--top-k", type=positive_int, default=None, metavar="K",
                   help="the top K eigenpairs only, matrix-free (Lanczos on kernel-vector products, K never "
                        "formed; no field modes); default: dense up to --dense-limit points, else the top 20")
    p.add_argument("--dense-limit", type=positive_int, default=kernels.study.DENSE_LIMIT, metavar="N",
                   help=f"the most grid points the kernel is formed for (default {kernels.study.DENSE_LIMIT}); beyond "
                        "it the top of the spectrum is computed matrix-free")
    p.add_argument("--compare", action="store_true",
                   help="also ReLU, tanh and ReLU+BatchNorm(train) discriminators of the same size")
    p.add_argument("--out", default=None, metavar="DIR", help="folder for figures and kernel_summary.json")


def _cases(args) -> list:
    """`(activation, batchnorm, mode)` of the asked network, then those --compare adds."""
    cases = [(args.act, args.bn, args.bn_mode)]
    if args.compare:
        for c in (("relu", False, "train"), ("tanh", False, "train"), ("relu", True, "train")):
            if c not in cases:
                cases.append(c)
    return cases


def _print_table(summary: list) -> None:
    if summary[0]["method"] == "top-k":  # matrix-free: no effective rank, no field
        print(f"{'network':<16}{'params':>9}{'top-k s':>10}{'λ1':>11}{'λ10/λ1':>10}{'λk/λ1':>10}{'products':>10}"
              f"{'max residual':>14}{'converged':>11}")
        for s in summary:
            lam = s["eigenvalues"]
            print(f"{s['network']:<16}{s['n_params']:>9}{s['kernel_seconds']:>10.3f}{lam[0]:>11.4g}"
                  f"{lam[min(9, len(lam) - 1)] / lam[0]:>10.2e}{lam[-1] / lam[0]:>10.2e}{s['n_matvecs']:>10}"
                  f"{max(s['residuals']):>14.2e}{str(s['converged']):>11}")
        return
    print(f"{'network':<16}{'params':>9}{'kernel s':>10}{'λ1':>11}{'λ10/λ1':>10}{'erank':>8}"
          f"{'damped':>8}{'neutral':>8}{'growing':>8}{'slowest damping':>17}")
    for s in summary:
        lam = s["eigenvalues"]
        l10 = lam[min(9, len(lam) - 1)] / lam[0]
        print(f"{s['network']:<16}{s['n_params']:>9}{s['kernel_seconds']:>10.3f}{lam[0]:>11.4g}{l10:>10.2e}"
              f"{s['effective_rank']:>8.2f}{s['field_damped']:>8}{s['field_neutral']:>8}{s['field_growing']:>8}"
              f"{s['field_slowest_damping']:>17.3g}")


def _write_outputs(out: str, studies: list, summary: list, game, grid: dict) -> None:
    """The figures (four; two when matrix-free: no K, no field) and kernel_summary.json into the
    folder `out`: all or none (`Staged`)."""
    use_agg()
    first = studies[0]
    arch = first.architecture
    top = first.method == "top-k"
    what = f"top {first.spectrum.eigenvalues.size}" if top else "spectrum"
    figures = {}
    if not top:
        figures["kernel.png"] = plotting.kernel_heatmap(first.K, first.x, title=f"K_θ(x, y): {first.name} {arch}")
    figures["spectrum.png"] = plotting.kernel_spectrum({s.name: s.spectrum for s in studies},
                                                       title=f"{what} of K W on {grid['n']} points, {arch}")
    figures["eigenfunctions.png"] = plotting.kernel_eigenfunctions(
        first.spectrum, first.x, k=4, title=f"leading eigenfunctions: {first.name} {arch}")
    if not top:
        figures["field_eigenvalues.png"] = plotting.kernel_field_eigenvalues(
            {s.name: s.field for s in studies}, title=f"{game.name} kernel field at its rest point, {arch}")
    with Staged() as staged:
        staged.folder(out)
        for name, ax in figures.items():
            save_figure(ax.figure, staged.file(os.path.join(out, name)), 120, name=os.path.join(out, name))
        target = os.path.join(out, "kernel_summary.json")
        try:
            with open(staged.file(target), "w") as fh:
                json.dump({"grid": grid, "game": game.name, "cases": summary}, fh, indent=1)
        except OSError as exc:
            raise CLIError(f"cannot write {target!r}: {exc}") from None
    print(f"wrote {', '.join(figures)}, kernel_summary.json to {out}")


# Library argument -> the flag its value comes from, for the library's messages.
_FLAGS = {"activation": "--act", "width": "--width", "depth": "--depth", "batchnorm": "--bn", "bn_mode": "--bn-mode",
          "n": "--n", "x_range": "--x-range", "game": "--game", "algorithm": "--algorithm", "seed": "--seed",
          "top_k": "--top-k", "dense_limit": "--dense-limit"}


def _run_kernel(args):
    import jax

    game = get_game("--game", args.game)
    lo, hi = check_interval(None, "--x-range", args.x_range)
    if args.n < 2:
        raise CLIError(f"--n must be at least 2; got {args.n}")
    if args.top_k is not None and args.top_k > args.n:
        raise CLIError(f"--top-k must be at most --n ({args.n}); got {args.top_k}")
    if args.dense_limit < 2:
        raise CLIError(f"--dense-limit must be at least 2; got {args.dense_limit}")
    if args.out:
        output_folder("--out", args.out)
    # float64 only inside this block (the figures recompute the fields' modes, so they are drawn
    # inside it too): jaxgan never changes jax.config.
    with jax.enable_x64(True) if args.x64 else contextlib.nullcontext():
        with naming_flags(_FLAGS, x64_hint="pass --x64 to work in float64"):
            studies = [kernels.kernel_study(activation=act, width=args.width, depth=args.depth, batchnorm=bn,
                                            bn_mode=mode, n=args.n, x_range=(lo, hi), game=game,
                                            algorithm=args.algorithm, seed=args.seed, top_k=args.top_k,
                                            dense_limit=args.dense_limit)
                       for act, bn, mode in _cases(args)]
        arch = studies[0].architecture
        summary = [s.summary() for s in studies]
        if studies[0].method == "top-k":
            k = studies[0].spectrum.eigenvalues.size
            print(f"top {k} eigenpairs of K W for {arch} discriminators on {args.n} points in [{lo:g}, {hi:g}] "
                  f"({'float64' if args.x64 else 'float32'}), matrix-free: Lanczos on kernel-vector products, K "
                  f"never formed ({'--top-k' if args.top_k else f'more than --dense-limit {args.dense_limit} points'})")
            _print_table(summary)
            print(f"residuals ‖Tφ − λφ‖/λ1 (tol {studies[0].spectrum.tol:g}); the kernel field (2n×2n) and its modes "
                  f"are not computed matrix-free: use n ≤ --dense-limit for them")
        else:
            print(f"parametric kernel of {arch} discriminators on {args.n} points in [{lo:g}, {hi:g}] "
                  f"({'float64' if args.x64 else 'float32'}, algorithm {args.algorithm}); field: {game.name}, "
                  f"pd = N(0,1)")
            _print_table(summary)
            print(f"field modes at the rest point: |Re λ| ≤ √eps·max|λ| counts as neutral (unresolved); the kernel is "
                  f"normalised to λ1(K W) = 1{'' if args.x64 else '; float32: pass --x64 to resolve slow modes'}")
        if args.out:
            _write_outputs(args.out, studies, summary, game, {"n": args.n, "lo": lo, "hi": hi})
    return 0


COMMANDS = {
    "kernel": Command(_add_kernel, _run_kernel,
                      "parametric kernel of an MLP discriminator: heatmap, spectrum, eigenfunctions, "
                      "and the kernel-induced field's eigenvalues"),
}
