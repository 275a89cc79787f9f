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
import functools
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _exported, fields as _fields
from ._checks import bad_value, check_float, check_instance, check_int, check_memory
from ._format import eigenvalues_text, lr_text
from ._xla import QUICK_COMPILE
from .dynamics import get_rule, method_args
from .dynamics.simulate import _simulate_jit, _start  # the compiled run of `simulate`, batched over cases here
from .errors import ArgumentError
from . import fates
from .fates import Fate, FateRule, check_rule
from .fields import Field
from .progress import reporter
from .stability import StabilityReport, analyze, classify, jacobian, max_stable_lr, step_spectral_radius

__all__ = ["ConvergenceCase", "ConvergenceRow", "default_convergence_cases", "convergence_table",
           "classify_path", "format_convergence_table", "CONVERGENCE_RULE", "rest_linearisations",
           "RestLinearisation"]

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
    - `progress`: `None` (default): a bar on stderr when stderr is a terminal; `True`: always a
      bar; `False`: silent; a callable: receives a `jaxgan.progress.ProgressEvent` per row (its
      message names the case, the method and the fate).

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
    save_every = max(1, steps // n_saves)
    steps = (steps // save_every) * save_every
    runs = _Runs(fn, cases, start, lr, steps, save_every)  # checks the start and the paths' memory, before compiling
    with reporter(fn, progress, fn, len(cases) * len(rules), unit="row") as report, \
            ThreadPoolExecutor(_WORKERS) as pool:
        # The runs compile on worker threads (XLA lets go of the GIL), while this one analyses the rest points.
        pending = {pool.submit(runs, method): method for method in rules}
        try:
            lins = rest_linearisations([c.field for c in cases], fn=fn)
            reps = [lin.report for lin in lins]
            lr_e = [max_stable_lr(lin.linear, method="euler") for lin in lins]
            lr_a = [max_stable_lr(lin.linear64, method="alternating") for lin in lins]
            cells = {}
            for future in as_completed(pending):
                method = pending[future]
                for k, (path, status) in future.result():
                    case, rep, rest = cases[k], reps[k], np.asarray(reps[k].point)
                    linear = _LINEARISABLE.get(method.name) is method
                    radius = step_spectral_radius(lins[k].linear if linear else case.field, method=method, lr=lr)
                    fate = classify_path(path.astype(np.float64), rest, rule=rule, fate=Fate(int(status)))
                    dist = float(np.linalg.norm(path[-1].astype(np.float64) - rest))
                    cells[k, method.name] = (radius, fate, dist)
                    report(len(cells), f"{case.game} + {case.regulariser} ({rep.kind}), {method.name}: "
                                       f"{fate.name.lower()}")
        except BaseException:  # an error or Ctrl-C: wait only for the runs already started
            for future in pending:
                future.cancel()
            raise
    return [ConvergenceRow(case.game, case.regulariser, method.name, rep.eigenvalues, rep.kind, rep.stable, lr_e[k],
                           lr_a[k], *cells[k, method.name], float(lr), steps, case.note)
            for k, (case, rep) in enumerate(zip(cases, reps)) for method in rules]


# ----------------------------------------------------------------------------- compiled once for all the cases
# Each case's field has its own kind (tree structure), and each kind compiles its own code. So that the table
# compiles one program per (update rule, kind) rather than five or six per case: the rest-point analysis runs
# on each field's linearisation there (one kind for every case: `_linear_velocity`), the Jacobians of all the
# fields come from one program, the cases of one kind run stacked and vmapped, the runs compile on
# worker threads while the main thread analyses the rest points, and each field's velocity is traced once
# per float for all these programs (`_called_once`).

# Rules whose update at a rest point is linearised by the field's Jacobian alone (they only evaluate the
# field, at points that coincide with the rest point there): the step's Jacobian is that of the linearisation.
_LINEARISABLE = {name: get_rule(name) for name in ("euler", "alternating", "extragradient", "optimistic", "rk4")}


def _linear_velocity(params, z):
    # v(z) = J·(z - z*): the linearisation of a field at z*, one velocity (one compiled kind) for every case.
    return (params["jacobian"] @ (z - params["point"])).astype(z.dtype)


def _linearisation(field: Field, point, jac) -> Field:
    """The linearisation of `field` at `point`, on the whole space (it is a linear map), with the field's
    players; not its name, labels or domain: those are static data, and every linearisation of one
    dimension and one order of players should share compiled code."""
    return Field(_linear_velocity, {"jacobian": jac, "point": point}, rest_point=point, players=field.players,
                 name="linearisation")


@functools.partial(jax.jit, inline=True)
def _velocity(field, z):
    # A field's velocity, traced once per kind of field and dtype (JAX keeps the trace of a jitted function):
    # the runs of every rule reuse one trace in the working float, the Jacobians one in float64, rather than
    # run the field's Python again (the regularisers' nested autodiff is slow to trace). `inline=True`: its
    # equations are copied into each program as if traced there, so the programs are those the field's own
    # code would give.
    return field(z)


def _traced_once(params, z):
    # The velocity of `_called_once(field)`: `params` is the field itself.
    return _velocity(params, z)


def _rest_of(params):
    return params.rest_point


def _called_once(field: Field) -> Field:
    """`field` as a plain `Field` whose velocity goes through `_velocity` (traced once, then reused): the
    same numbers (its leaves), domain, players and meta."""
    rest_fn = None if field.rest_point is None else _rest_of
    f = field
    return Field.tree_unflatten((_traced_once, rest_fn, f.lower, f.upper, f.closed, f.name, f.labels, f.players,
                                 f.meta, f.param_rules), (field, None))


# The programs here run once or for a few thousand steps of a 2-D state: compiling is all of their cost (in
# `table convergence` 56 runs took 28 s to compile and milliseconds to run). `QUICK_COMPILE` (jaxgan/_xla.py)
# compiles them in about a third of the time; the numbers are the same to rounding (a run that has reached
# rounding's floor, 1e-37 from the rest point, or 3e-8 where the field's terms cancel, ends on other digits
# than `simulate`'s; every verdict and fate is the same).


@functools.partial(jax.jit, compiler_options=QUICK_COMPILE)
def _at_points(fields, points):
    """Each field's velocity and Jacobian at its point: one program for every case."""
    return tuple((f(p), jacobian(f, p)) for f, p in zip(fields, points))


def _to_f64(leaf):
    arr = jnp.asarray(leaf)
    return arr.astype(jnp.float64) if jnp.issubdtype(arr.dtype, jnp.floating) else arr


class RestLinearisation(NamedTuple):
    """A field at its rest point (`rest_linearisations`): `report`, what `analyze(field)` gives (the
    same Jacobian, to rounding: float64's, rounded to the working float); `linear` and `linear64`, the
    linearisation `v(z) = J·(z - z*)` as a field in the working float and in float64 (for `max_stable_lr`'s
    float64 search)."""

    report: StabilityReport
    linear: Field
    linear64: Field


def _at_points64(fields, points) -> list:
    """Each field's velocity and Jacobian at its point, in float64 (x64 on in this call only), as NumPy:
    `_at_points` of `fields` (each through `_called_once`), through the program store where one is on."""
    with jax.enable_x64(True):
        fields64 = tuple(_called_once(jax.tree_util.tree_map(_to_f64, f)) for f in fields)
        points64 = tuple(jnp.asarray(np.asarray(p, np.float64)) for p in points)
        at64 = _exported.call("tables.at_points", _at_points, (fields64, points64), {}, QUICK_COMPILE)
        return [(np.asarray(v, np.float64), np.asarray(j, np.float64)) for v, j in at64]


def rest_linearisations(fields: Sequence[Field], *, fn: str = "rest_linearisations") -> list[RestLinearisation]:
    """Each field's analysis and linearisation at its rest point, compiled once for all the fields.

    The velocities and Jacobians of every field come from one compiled program, in float64; the
    working float's are those rounded (one program rather than one per float: it was half of the
    table's rest-point time). The linearisations are fields of one kind that share their compiled
    code: `max_stable_lr` and `step_spectral_radius` at the rest point give the field's own verdicts on
    them (an update rule that only evaluates the field, at points that coincide with the rest point
    there, has the same Jacobian), compiling once for all the fields rather than once per kind.

    **Arguments:** `fields`: `Field`s with rest points; `fn`: the public function, for messages.

    **Returns:** a `RestLinearisation` per field.

    **Raises:** as `analyze`, for a field without a rest point or not finite there.
    """
    fields = tuple(fields)
    for f in fields:
        if f.rest_point is None:
            analyze(f)  # raises: no rest point
    dtype = jnp.result_type(float)
    points = tuple(jnp.asarray(f.rest_point, dtype) for f in fields)
    out = []
    for f, p, (v64, j64) in zip(fields, points, _at_points64(fields, points)):
        v, jac = v64.astype(dtype), j64.astype(dtype)
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(jac))):
            analyze(f)  # raises, saying what is not finite where
        ev = np.linalg.eigvals(jac.astype(np.float64))  # as `analyze`: sorted by real, then imaginary part
        ev = ev[np.lexsort((ev.imag, ev.real))]
        kind = classify(ev, rtol=1000 * float(jnp.finfo(p.dtype).eps))
        report = StabilityReport(np.asarray(p), v, jac, ev, kind, kind.startswith("stable"), f.name)
        out.append(RestLinearisation(report, _linearisation(f, p, jac),
                                     _linearisation(f, np.asarray(p, np.float64), j64)))
    return out


def _simulate_groups(fields, starts, lr, *, rule, n_saves, save_every):
    """`simulate`'s run of every group of cases: `fields[g]` one field (`starts[g]`: `(n,)`) or a stack of
    fields of one kind (`starts[g]`: `(k, n)`, vmapped). Returns a `(path, status, exit_step)` per group."""
    def run(field, z):
        return _simulate_jit(field, z, lr, rule=rule, n_saves=n_saves, save_every=save_every)

    return tuple(run(f, z) if z.ndim == 1 else jax.vmap(run)(f, z) for f, z in zip(fields, starts))


# One program per update rule for every case, compiled with the table's options (`simulate`'s own loop
# inside). One program per rule and kind compiled a third slower in all (56 programs for the default table).
_simulate_groups = jax.jit(_simulate_groups, static_argnames=("rule", "n_saves", "save_every"),
                           compiler_options=QUICK_COMPILE)

# Threads that run (and so compile) the table's runs at once, one update rule each.
_WORKERS = max(2, min(4, os.cpu_count() or 1))


class _Runs:
    """The table's runs: `runs(method)` -> `[(case index, (path, status))]` for every case.

    One compiled program per update rule (`_simulate_groups`): the cases of one kind (tree structure)
    of field are stacked (`jax.tree.map(jnp.stack)`: their numbers are traced leaves) and vmapped; a case
    alone of its kind runs `simulate`'s own loop. Compiled with XLA's quick options (`QUICK_COMPILE`): the
    same numbers as `simulate`'s to rounding. Through the program store where one is on (`jaxgan._exported`:
    the `jaxgan` command's).
    """

    def __init__(self, fn, cases, start, lr, steps, save_every):
        z0 = [_start(c.field, start) for c in cases]
        self.lr, self.dtype, self.n_saves, self.save_every = lr, z0[0].dtype, steps // save_every, save_every
        rows, dim = self.n_saves + 1, max(c.field.dim for c in cases)
        check_memory(fn, f"the saved paths ({len(cases)} runs × {rows} rows × {dim} × {self.dtype.name}, twice)",
                     2.0 * len(cases) * rows * dim * self.dtype.itemsize,
                     "save fewer rows (a smaller `n_saves`), or run fewer cases at once")
        kinds: dict = {}
        for k, c in enumerate(cases):
            kinds.setdefault(jax.tree_util.tree_structure(c.field), []).append(k)
        self.groups = list(kinds.values())
        self.fields = tuple(
            _called_once(cases[g[0]].field) if len(g) == 1 else
            _called_once(jax.tree_util.tree_map(lambda *x: jnp.stack(x), *(cases[k].field for k in g)))
            for g in self.groups)
        self.starts = tuple(z0[g[0]] if len(g) == 1 else jnp.stack([z0[k] for k in g]) for g in self.groups)

    def __call__(self, method) -> list:
        rule, lr = method_args(method, self.lr, fn="simulate")
        out = _exported.call("tables.simulate_groups", _simulate_groups,
                             (self.fields, self.starts, lr.astype(self.dtype)),
                             dict(rule=rule, n_saves=self.n_saves, save_every=self.save_every), QUICK_COMPILE)
        rows = []
        for group, (path, status, _) in zip(self.groups, out):
            path, status = np.asarray(path), np.asarray(status)
            if len(group) == 1:
                rows.append((group[0], (path, status)))
            else:
                rows.extend((k, (path[i], status[i])) for i, k in enumerate(group))
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
