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
import math
from typing import Callable, NamedTuple, Sequence

import numpy as np

from . import fields as _fields
from ._checks import check_float, check_int
from .dynamics import Fate, get_rule, simulate
from .fields import Field
from .stability import analyze, max_stable_lr, step_spectral_radius

__all__ = ["ConvergenceCase", "ConvergenceRow", "default_convergence_cases", "convergence_table",
           "classify_path", "format_convergence_table"]


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
    - `fate`: from `start`, after `steps` steps (`classify_path`); `distance`: final distance to
      the rest point; `lr`, `steps`.
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


def classify_path(path, rest, *, fate: Fate = Fate.UNDECIDED, atol: float = 1e-3,
                  grow: float = 10.0) -> Fate:
    """Name the fate of one saved trajectory.

    Rules, in order: a `fate` already set by `simulate` (diverged / left the domain) stands;
    final distance to `rest` `≤ atol·max(1, d₀)` → `CONVERGED`; non-finite or `≥ grow·d₀` →
    `DIVERGED`. Otherwise compare the mean distance of the last quarter with the second
    quarter's: ratio > 1.25, or > 1.05 with the final distance ≥ 2·d₀ → `DIVERGED` (still
    moving away, e.g. spiralling out); ratio ≥ 0.8 and the second half winds at least half a
    turn around the rest point (in the first two coordinates) → `CYCLING`; everything else
    (still converging, or stalled away from the rest point) → `UNDECIDED`.

    **Arguments:** `path`: `Float[ArrayLike, "T n"]` (`T ≥ 8`); `rest`: `Float[ArrayLike, "n"]`.
    **Returns:** a `Fate`.
    """
    path = np.asarray(path, dtype=np.float64)
    rest = np.asarray(rest, dtype=np.float64)
    if path.ndim != 2 or path.shape[0] < 8:
        raise ValueError(f"classify_path argument `path` must have shape (T ≥ 8, n); got {path.shape}.")
    if fate != Fate.UNDECIDED:
        return Fate(fate)
    d = np.linalg.norm(path - rest, axis=-1)
    d0 = d[0]
    if not np.all(np.isfinite(d)):
        return Fate.DIVERGED
    if d[-1] <= atol * max(1.0, d0):
        return Fate.CONVERGED
    if d[-1] >= grow * max(d0, atol):
        return Fate.DIVERGED
    T = path.shape[0]
    q2, q4 = np.mean(d[T // 4: T // 2]), np.mean(d[3 * T // 4:])
    ratio = q4 / max(q2, 1e-300)
    if ratio > 1.25 or (ratio > 1.05 and d[-1] >= 2.0 * d0):
        return Fate.DIVERGED
    rel = path[T // 2:, :2] - rest[:2]
    winding = abs(np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))[-1] - np.arctan2(rel[0, 1], rel[0, 0]))
    if winding >= math.pi and ratio >= 0.8:
        return Fate.CYCLING
    return Fate.UNDECIDED


def convergence_table(cases: Sequence[ConvergenceCase] | None = None, methods: Sequence = DEFAULT_METHODS, *,
                      lr: float = 0.1, steps: int = 10000, start=(1.0, 1.0), n_saves: int = 500,
                      progress: Callable[[str], None] | None = None) -> list[ConvergenceRow]:
    """The (game × regulariser × optimiser) convergence table.

    For each case: `analyze` at the rest point (eigenvalues, kind), `max_stable_lr` for
    `"euler"` (closed form) and `"alternating"` (autodiff Jacobian of one update, scan and
    bisection); for each method: `step_spectral_radius` at `lr`, and one `simulate(...,
    return_info=True)` run from `start`, classified by `classify_path`.

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
      (shape `(2,)` for the default cases); `n_saves`: rows kept per run for the classification.
    - `progress`: optional callback receiving one line per case.

    **Returns:** a list of `ConvergenceRow` (cases outer, methods inner).

    **Raises:** `ValueError`/`TypeError` for bad `lr`, `steps`, `methods` or cases, before any run.
    """
    cases = default_convergence_cases() if cases is None else list(cases)
    for i, c in enumerate(cases):
        if not isinstance(c, ConvergenceCase):
            raise TypeError(f"convergence_table argument `cases[{i}]` must be a ConvergenceCase; got {type(c).__name__}.")
    rules = [get_rule(m) for m in methods]
    if not rules:
        raise ValueError("convergence_table argument `methods` must name at least one update rule.")
    for r in rules:
        if not r.takes_lr:
            raise ValueError(f"convergence_table argument `methods`: {r.name!r} carries its own step size; "
                             f"use rules that take `lr`.")
    check_float("convergence_table", "lr", lr)
    check_int("convergence_table", "steps", steps, 8)
    check_int("convergence_table", "n_saves", n_saves, 8)
    save_every = max(1, steps // n_saves)
    steps = (steps // save_every) * save_every
    rows = []
    for case in cases:
        rep = analyze(case.field)
        lr_e = max_stable_lr(case.field, "euler")
        lr_a = max_stable_lr(case.field, "alternating")
        rest = np.asarray(rep.point)
        for rule in rules:
            radius = step_spectral_radius(case.field, rule, lr)
            path, info = simulate(case.field, start, steps=steps, lr=lr, method=rule, save_every=save_every,
                                  return_info=True, warn=False)
            path = np.asarray(path, dtype=np.float64)
            fate = classify_path(path, rest, fate=info.fate)
            dist = float(np.linalg.norm(np.asarray(info.final, dtype=np.float64) - rest))
            rows.append(ConvergenceRow(case.game, case.regulariser, rule.name, rep.eigenvalues, rep.kind, rep.stable,
                                       lr_e, lr_a, radius, fate, dist, float(lr), steps, case.note))
        if progress is not None:
            progress(f"{case.game} + {case.regulariser}: {rep.kind}")
    return rows


def _eig_str(ev) -> str:
    parts = []
    for l in np.asarray(ev, dtype=complex) + 0.0:  # + 0.0 turns -0.0 into 0.0
        if abs(l.imag) < 1e-9:
            parts.append(f"{l.real:+.3g}")
        else:
            parts.append(f"{l.real:+.3g}{'+' if l.imag >= 0 else '-'}{abs(l.imag):.3g}i")
    return ", ".join(parts)


def _lr_str(x: float) -> str:
    return "∞" if math.isinf(x) else "0" if x == 0 else f"{x:.3g}"


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
        body.append((r.game, r.regulariser + mark, _eig_str(r.eigenvalues), r.kind, _lr_str(r.lr_max_euler),
                     _lr_str(r.lr_max_alternating), r.method, f"{r.radius:.4f}", r.fate.name.lower(),
                     f"{r.distance:.2e}"))
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
