"""Tables that summarise many analyses at once (the data behind `jaxgan table ...`).

`convergence_table` reproduces the convergence verdicts of the GAN-optimisation literature
on small games (Mescheder et al. 2017, "The Numerics of GANs"; Mescheder et al. 2018, "Which
Training Methods for GANs do actually Converge?"; Balduzzi et al. 2018; Gidel et al. 2019):
for each (game × regulariser × optimiser) it reports the rest point's eigenvalues, the
continuous-time verdict, the largest stable step of simultaneous and alternating GD, the
spectral radius of the chosen optimiser at the chosen step, and what happens from a standard
start.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from . import fields as _fields
from ._checks import bad_value, check_float, check_instance, check_int
from ._format import eigenvalues_text, lr_text
from .dynamics import get_rule, simulate
from .errors import ArgumentError
from . import fates
from .fates import Fate, FateRule, check_rule
from .fields import Field
from .progress import reporter
from .stability import analyze, max_stable_lr, step_spectral_radius

__all__ = ["ConvergenceCase", "ConvergenceRow", "default_convergence_cases", "convergence_table",
           "classify_path", "format_convergence_table", "CONVERGENCE_RULE"]

# The fate rule of the table (see jaxgan.fates): a run is a finite stretch, often too short for
# a slow outward spiral to pass `bound`, so an outward spiral is DIVERGED.
CONVERGENCE_RULE = FateRule(spiral_diverges=True)


class ConvergenceCase(NamedTuple):
    """One (game, regulariser) pair: names for the table and the `Field` itself.

    `note` flags a case whose linearisation does not decide its fate (e.g. a non-smooth field).
    """

    game: str
    regulariser: str
    field: Field
    note: str = ""


def default_convergence_cases() -> list[ConvergenceCase]:
    """The default set: Dirac-GAN (logistic and Wasserstein `f`) and the bilinear game, each
    unregularised and with the regularisers that apply to it.

    Weights: R1/R2 `γ = 0.3`, instance noise `σ = 0.7`, consensus `γ = 1`, SGA `λ = 1`,
    WGAN-GP `λ = 1` (on the Wasserstein Dirac-GAN, its natural loss).
    """
    F = _fields
    dg = F.dirac_gan("logistic")
    dw = F.dirac_gan("wasserstein")
    bl = F.bilinear()
    gp_note = ("‖∇ₓD‖ = |ψ| is not differentiable at ψ = 0: the eigenvalues are the smooth branch's; runs "
               "stall on ψ = 0 away from the rest point (Mescheder et al. 2018)")
    return [
        ConvergenceCase("dirac_gan", "none", dg),
        ConvergenceCase("dirac_gan", "r1(0.3)", F.r1(dg, 0.3)),
        ConvergenceCase("dirac_gan", "r2(0.3)", F.r2(dg, 0.3)),
        ConvergenceCase("dirac_gan", "noise(0.7)", F.instance_noise(dg, 0.7)),
        ConvergenceCase("dirac_gan", "consensus(1)", F.consensus(dg, 1.0)),
        ConvergenceCase("dirac_gan", "sga(1)", F.sga(dg, 1.0)),
        ConvergenceCase("dirac_wgan", "none", dw),
        ConvergenceCase("dirac_wgan", "wgan_gp(1)", F.wgan_gp(dw, 1.0), gp_note),
        ConvergenceCase("dirac_wgan", "r1(0.3)", F.r1(dw, 0.3)),
        ConvergenceCase("dirac_wgan", "noise(0.7)", F.instance_noise(dw, 0.7)),
        ConvergenceCase("dirac_wgan", "consensus(1)", F.consensus(dw, 1.0)),
        ConvergenceCase("bilinear", "none", bl),
        ConvergenceCase("bilinear", "consensus(1)", F.consensus(bl, 1.0)),
        ConvergenceCase("bilinear", "sga(1)", F.sga(bl, 1.0)),
    ]


DEFAULT_METHODS = ("euler", "alternating", "extragradient", "optimistic")


@dataclasses.dataclass(frozen=True)
class ConvergenceRow:
    """One row of the convergence table.

    - `game`, `regulariser`, `method`: names; `note`: see `ConvergenceCase`.
    - `eigenvalues`: `Complex[ndarray, "n"]` of the Jacobian at the rest point; `kind`, `stable`:
      the continuous-time verdict (`stable`: every real part < 0).
    - `lr_max_euler`, `lr_max_alternating`: `max_stable_lr` of simultaneous / alternating GD
      (0: no step is asymptotically stable).
    - `radius`: spectral radius of one `method` step of size `lr` at the rest point.
    - `fate`: of the run from `start` (`steps` steps, saved `n_saves` times), by
      `jaxgan.fates.classify_path` with the table's rule; `distance`: final distance to the
      rest point; `lr`, `steps`.
    """

    game: str
    regulariser: str
    method: str
    eigenvalues: np.ndarray
    kind: str
    stable: bool
    lr_max_euler: float
    lr_max_alternating: float
    radius: float
    fate: Fate
    distance: float
    lr: float
    steps: int
    note: str = ""

    def as_dict(self) -> dict:
        return {"game": self.game, "regulariser": self.regulariser, "method": self.method,
                "eigenvalues": [[float(l.real), float(l.imag)] for l in self.eigenvalues], "kind": self.kind,
                "stable": self.stable, "lr_max_euler": self.lr_max_euler,
                "lr_max_alternating": self.lr_max_alternating, "radius": self.radius, "fate": self.fate.name,
                "distance": self.distance, "lr": self.lr, "steps": self.steps, "note": self.note}


def classify_path(path, rest, *, rule: FateRule = CONVERGENCE_RULE, fate=Fate.UNDECIDED, plane=(0, 1)) -> Fate:
    """`jaxgan.fates.classify_path` with the table's rule by default: the fate of one stored
    trajectory, each saved state a check, an outward spiral DIVERGED.

    **Arguments:** `path`: `Float[ArrayLike, "T n"]`; `rest`: `Float[ArrayLike, "n"]`; `rule`,
    `fate`, `plane`: as in `jaxgan.fates.classify_path`.

    **Returns:** a `Fate`. **Raises:** as `jaxgan.fates.classify_path`.
    """
    return fates.classify_path(path, rest, rule=rule, fate=fate, plane=plane)


def convergence_table(cases: Sequence[ConvergenceCase] | None = None, methods: Sequence = DEFAULT_METHODS, *,
                      lr: float = 0.1, steps: int = 10000, start=(1.0, 1.0), n_saves: int = 500,
                      rule: FateRule = CONVERGENCE_RULE, progress=None) -> list[ConvergenceRow]:
    """The (game × regulariser × optimiser) convergence table.

    For each case: `analyze` at the rest point (eigenvalues, kind), `max_stable_lr` for
    `"euler"` (closed form) and `"alternating"` (autodiff Jacobian of one update, scan and
    bisection); for each method: `step_spectral_radius` at `lr`, and one `simulate` run from
    `start`, saved `n_saves` times and classified by `jaxgan.fates.classify_path` (each saved
    state a check of the fate rule; a domain exit or non-finite step of the run stands).

    With the defaults this reproduces the literature's verdicts: the unregularised Dirac-GAN is a
    centre (simultaneous GD spirals out, alternating GD cycles); R1, R2, instance noise (logistic
    `f`), consensus and SGA make it a stable focus or node and every method converges; the
    Wasserstein Dirac-GAN stays a centre under instance noise and does not converge under WGAN-GP;
    on the bilinear game, simultaneous GD diverges, alternating cycles, extragradient and
    optimistic GD converge.

    **Arguments:**

    - `cases`: `ConvergenceCase`s (default `default_convergence_cases()`).
    - `methods`: update rules that take a step size (names or `UpdateRule`s).
    - `lr`: the step size of the runs (positive); `steps`: their length; `start`: the start
      (shape `(2,)` for the default cases); `n_saves`: saved states per run, the checks of the
      classification (the run must turn by less than half a turn between two of them).
    - `rule`: the fate rule (default `CONVERGENCE_RULE`: the sweeps' numbers, and an outward
      spiral is DIVERGED).
    - `progress`: `True` for a bar on stderr, a callable receiving a
      `jaxgan.progress.ProgressEvent` per row (its message names the case, the method and the
      fate), or `False`/`None` for silence.

    **Returns:** a list of `ConvergenceRow` (cases outer, methods inner).

    **Raises:** `jaxgan.errors.ArgumentError`/`ArgumentTypeError` for bad `lr`, `steps`,
    `n_saves`, `methods`, `rule`, `progress` or cases, before any run.
    """
    fn = "convergence_table"
    cases = default_convergence_cases() if cases is None else list(cases)
    for i, c in enumerate(cases):
        check_instance(fn, f"cases[{i}]", c, ConvergenceCase, "a ConvergenceCase")
    rules = _step_rules(fn, methods)
    check_float(fn, "lr", lr)
    check_int(fn, "steps", steps, 8)
    check_int(fn, "n_saves", n_saves, 8)
    rule = check_rule(fn, rule)
    report = reporter(fn, progress, fn, len(cases) * len(rules))
    save_every = max(1, steps // n_saves)
    steps = (steps // save_every) * save_every
    rows = []
    for case in cases:
        rep = analyze(case.field)
        lr_e = max_stable_lr(case.field, method="euler")
        lr_a = max_stable_lr(case.field, method="alternating")
        rest = np.asarray(rep.point)
        for method in rules:
            radius = step_spectral_radius(case.field, method=method, lr=lr)
            run = simulate(case.field, start, steps=steps, lr=lr, method=method, save_every=save_every, warn=False)
            fate = classify_path(np.asarray(run.path, dtype=np.float64), rest, rule=rule, fate=run.fate)
            dist = float(np.linalg.norm(np.asarray(run.final, dtype=np.float64) - rest))
            rows.append(ConvergenceRow(case.game, case.regulariser, method.name, rep.eigenvalues, rep.kind,
                                       rep.stable, lr_e, lr_a, radius, fate, dist, float(lr), steps, case.note))
            report(len(rows), f"{case.game} + {case.regulariser} ({rep.kind}), {method.name}: {fate.name.lower()}")
    return rows


def _step_rules(fn: str, methods) -> list:
    """`methods` as update rules that take a step size (at least one)."""
    rules = [get_rule(m) for m in methods]
    if not rules:
        raise bad_value(fn, "methods", "at least one update rule", methods)
    for r in rules:
        if not r.takes_lr:
            raise ArgumentError(f"{fn} argument `methods`: {r.name!r} carries its own step size; "
                                f"use rules that take `lr`.")
    return rules


def format_convergence_table(rows: Sequence[ConvergenceRow]) -> str:
    """A plain-text table of `rows` (one line per row, notes as footnotes)."""
    header = ("game", "regulariser", "eigenvalues", "continuous", "lr* sim", "lr* alt", "method", "ρ(lr)",
              "fate", "|z-z*|")
    notes: list[str] = []
    body = []
    for r in rows:
        mark = ""
        if r.note:
            if r.note not in notes:
                notes.append(r.note)
            mark = "*" * (notes.index(r.note) + 1)
        body.append((r.game, r.regulariser + mark, eigenvalues_text(r.eigenvalues, 3, spaced=False, signed=True),
                     r.kind, lr_text(r.lr_max_euler, 3), lr_text(r.lr_max_alternating, 3), r.method,
                     f"{r.radius:.4f}", r.fate.name.lower(), f"{r.distance:.2e}"))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(header), line(["-" * w for w in widths])] + [line(b) for b in body]
    if rows:
        out.append("")
        out.append(f"lr = {rows[0].lr:g}, {rows[0].steps} steps from the standard start; lr* = largest stable step "
                   f"(0: none); ρ(lr) = spectral radius of one step at the rest point.")
    for i, n in enumerate(notes):
        out.append(f"{'*' * (i + 1)} {n}")
    return "\n".join(out)
