"""Local stability: Jacobians by autodiff, eigenvalues, verdicts in continuous and discrete time."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import games as _games
from .dynamics import canonical_state, check_lr, get_rule
from .fields import Field

__all__ = [
    "StabilityReport", "analyze", "classify", "StabilityConditions", "stability_conditions",
    "max_stable_lr", "step_jacobian", "step_spectral_radius",
]

KINDS = ("stable node", "unstable node", "stable focus", "unstable focus", "centre", "saddle", "degenerate")


@dataclasses.dataclass(frozen=True)
class StabilityReport:
    """Linearisation of a field at a point.

    - `point`: where (shape `(n,)`); `velocity`: the field there (≈ 0 at a rest point).
    - `jacobian`: `Float[Array, "n n"]`, by `jax.jacfwd`.
    - `eigenvalues`: `Complex[Array, "n"]`, sorted by real part, then imaginary part.
    - `kind`: one of "stable node", "unstable node", "stable focus", "unstable focus",
      "centre", "saddle", "degenerate".
    - `stable`: True iff every eigenvalue has a strictly negative real part (asymptotic
      stability; a centre is *not* stable in this sense).
    """

    point: np.ndarray
    velocity: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    kind: str
    stable: bool
    field_name: str = ""

    def __str__(self):
        eig = ", ".join(_fmt_complex(l) for l in self.eigenvalues)
        return (f"{self.field_name} at {np.array2string(self.point, precision=6)}: {self.kind} "
                f"({'stable' if self.stable else 'not stable'}); eigenvalues {eig}")

    def as_dict(self) -> dict:
        return {
            "field": self.field_name, "point": self.point.tolist(), "velocity": self.velocity.tolist(),
            "jacobian": self.jacobian.tolist(),
            "eigenvalues": [[float(l.real), float(l.imag)] for l in self.eigenvalues],
            "kind": self.kind, "stable": self.stable,
        }


def _fmt_complex(l) -> str:
    if abs(l.imag) < 1e-12:
        return f"{l.real:.6g}"
    return f"{l.real:.6g}{'+' if l.imag >= 0 else '-'}{abs(l.imag):.6g}i"


def classify(eigenvalues, *, rtol: float | None = None) -> str:
    """Name the kind of equilibrium from its eigenvalues.

    A real part counts as zero when |Re λ| ≤ rtol·max(1, max|λ|) (default rtol: 1000 ulp of
    the eigenvalues' precision), likewise an imaginary part.
    """
    raw = np.asarray(eigenvalues)
    ev = raw.astype(np.complex128)
    if rtol is None:
        real_dtype = raw.real.dtype if np.issubdtype(raw.dtype, np.inexact) else np.float64
        rtol = 1000 * np.finfo(real_dtype).eps
    tol = rtol * max(1.0, float(np.max(np.abs(ev))) if ev.size else 1.0)
    re, im = ev.real, ev.imag
    zero_re = np.abs(re) <= tol
    complex_ = np.abs(im) > tol
    if np.any(np.abs(ev) <= tol):
        return "degenerate"
    if np.all(zero_re):
        return "centre" if np.all(complex_) else "degenerate"
    if np.any(zero_re):
        return "degenerate"
    if np.all(re < 0):
        return "stable focus" if np.any(complex_) else "stable node"
    if np.all(re > 0):
        return "unstable focus" if np.any(complex_) else "unstable node"
    return "saddle"


def _point(field: Field, z):
    if z is None:
        rest = field.rest_point
        if rest is None:
            raise ValueError(f"field {field.name!r} has no known rest point; pass `z=` to analyse it at a point.")
        return jnp.asarray(rest, dtype=jnp.result_type(float))
    z = canonical_state(field, z, "z")
    if z.ndim != 1:
        raise ValueError(f"`z` must have shape ({field.dim},); got {tuple(z.shape)}.")
    return z


def _sorted_eigs(m) -> np.ndarray:
    ev = np.linalg.eigvals(np.asarray(m, dtype=np.float64))
    return ev[np.lexsort((ev.imag, ev.real))]


def analyze(field: Field, z=None) -> StabilityReport:
    """Linearise `field` at its rest point (or at `z`) and classify the equilibrium.

    **Arguments:**

    - `field`: a `Field`.
    - `z`: the point (shape `(n,)`); default: `field.rest_point`.

    **Returns:** a `StabilityReport` (`.jacobian`, `.eigenvalues`, `.kind`, `.stable`).

    **Raises:** `ValueError` if `z` is omitted and the field has no rest point, or `z` has
    the wrong shape.

    Example: the classic GAN at pd = 0.2 is a stable focus with eigenvalues
    `-0.8 ± 1.833i` (= -4pd ± 2√(4pd² - 1)).
    """
    if not isinstance(field, Field):
        raise TypeError(f"`field` must be a jaxgan Field; got {type(field).__name__}.")
    p = _point(field, z)
    jac = np.asarray(jax.jacfwd(field)(p))
    ev = _sorted_eigs(jac)
    kind = classify(ev, rtol=1000 * float(jnp.finfo(p.dtype).eps))
    return StabilityReport(np.asarray(p), np.asarray(field(p)), jac, ev, kind, kind.startswith("stable"), field.name)


# ----------------------------------------------------------------------------- the criterion


@dataclasses.dataclass(frozen=True)
class StabilityConditions:
    """The local criterion of a pointwise game, with its numbers.

    At the rest point `(D0, pd)` the Jacobian is `[[pd·(f1''+f2'')(D0), f2'(D0)], [f3'(D0), 0]]`:
    trace = pd·(f1''+f2'')(D0), determinant = -f2'(D0)·f3'(D0). So for every pd > 0 the rest
    point is locally asymptotically stable iff

        (1) (f1'' + f2'')(D0) < 0      (the discriminator's objective is concave at D0)
        (2) f2'(D0) · f3'(D0) < 0      (the generator pushes against the discriminator)
    """

    game: str
    d0: float
    curvature: float  # (f1'' + f2'')(D0)
    coupling: float  # f2'(D0) * f3'(D0)
    df2: float
    df3: float

    @property
    def curvature_ok(self) -> bool:
        return self.curvature < 0

    @property
    def coupling_ok(self) -> bool:
        return self.coupling < 0

    @property
    def stable(self) -> bool:
        return self.curvature_ok and self.coupling_ok

    def explain(self) -> str:
        def mark(ok):
            return "holds" if ok else "FAILS"

        lines = [
            f"game {self.game!r}: rest point D0 = {self.d0:.6g}, pg = pd",
            f"  (1) (f1''+f2'')(D0) = {self.curvature:.6g} < 0 : {mark(self.curvature_ok)}",
            f"  (2) f2'(D0)·f3'(D0) = {self.df2:.6g} × {self.df3:.6g} = {self.coupling:.6g} < 0 : {mark(self.coupling_ok)}",
        ]
        if self.stable:
            verdict = "locally asymptotically stable for every pd > 0"
        elif self.coupling_ok and self.curvature == 0:
            verdict = "not asymptotically stable: a centre (pure rotation) for every pd > 0"
        elif not self.coupling_ok and self.coupling > 0:
            verdict = "unstable: a saddle for every pd > 0"
        else:
            verdict = "not locally asymptotically stable"
        lines.append(f"  verdict: {verdict}")
        return "\n".join(lines)

    __str__ = explain

    def as_dict(self) -> dict:
        return {"game": self.game, "d0": self.d0, "curvature": self.curvature, "coupling": self.coupling,
                "df2": self.df2, "df3": self.df3, "curvature_ok": self.curvature_ok,
                "coupling_ok": self.coupling_ok, "stable": self.stable}


def stability_conditions(game) -> StabilityConditions:
    """State and evaluate the local stability criterion of a pointwise game.

    **Arguments:** `game`: a `Game` or a preset name.

    **Returns:** a `StabilityConditions` (print it, or read `.curvature`, `.coupling`, `.stable`).
    """
    game = _games.get(game)
    dtype = jnp.result_type(float)
    d0 = jnp.asarray(game.rest_d(dtype), dtype)
    curv = float(jax.grad(game.df1)(d0) + jax.grad(game.df2)(d0))
    df2 = float(game.df2(d0))
    df3 = float(game.df3(d0))
    return StabilityConditions(game.name, float(d0), curv, df2 * df3, df2, df3)


# ----------------------------------------------------------------------------- discrete time


def _full_state_map(field: Field, method, lr, z):
    """The update as a map on the flat vector (z, optimiser state), and the flat rest state."""
    rule = get_rule(method)
    lr = check_lr(rule, lr)
    state0 = rule.init(field, z)
    flat0, unravel = ravel_pytree((z, state0))
    lr_arr = None if lr is None else jnp.asarray(lr, dtype=z.dtype)

    def step(flat):
        zz, st = unravel(flat)
        z_new, st_new = rule.step(field, zz, st, lr_arr)
        return ravel_pytree((z_new, st_new))[0]

    return step, flat0


def step_jacobian(field: Field, method="euler", lr=None, z=None) -> np.ndarray:
    """The Jacobian of one full update (state and optimiser state, flattened) at the rest point.

    The optimiser state is the rule's `init` at the point (e.g. zero momentum), which is a
    fixed point of the update there.
    """
    p = _point(field, z)
    step, flat0 = _full_state_map(field, method, lr, p)
    return np.asarray(jax.jacfwd(step)(flat0))


def step_spectral_radius(field: Field, method="euler", lr=None, z=None) -> float:
    """Spectral radius of the Jacobian of one update at the rest point (< 1: locally stable).

    **Arguments:**

    - `field`: a `Field` with a rest point (or pass `z`).
    - `method`: a rule name, an `UpdateRule` or an optax transformation.
    - `lr`: the step size (omit for optax transformations).
    """
    return float(np.max(np.abs(np.linalg.eigvals(step_jacobian(field, method, lr, z)))))


def max_stable_lr(field: Field, method="euler", *, z=None, lr_max: float | None = None) -> float:
    """The largest step for which the discrete update is locally stable at the rest point.

    For `"euler"` this is the closed form: one step maps a perturbation by `I + lr·J`, with
    eigenvalues `1 + lr·λ`, and `|1 + lr·λ| < 1` iff `lr < -2 Re(λ) / |λ|²`, so

        max_stable_lr = min over eigenvalues λ of  -2 Re(λ) / |λ|²

    (0 if some Re λ ≥ 0: no step is stable). For other rules it is the first `lr` at which
    the spectral radius of the autodiff Jacobian of one update (`step_spectral_radius`)
    reaches 1, found by a log-spaced scan and bisection: every smaller step is stable.

    **Arguments:**

    - `field`: a `Field`; `method`: `"euler"`, `"alternating"`, `"rk4"`, `"extragradient"`,
      `"optimistic"` or an `UpdateRule`; `z`: the point (default: rest point);
    - `lr_max`: the largest lr searched (default 100 / max|λ|); returns `math.inf` if stable
      up to there.

    **Returns:** a float (0.0 if no positive step is stable).

    Example: the classic GAN at pd = 0.2 has λ = -0.8 ± 1.833i, so lr < 1.6/4 = 0.4.
    """
    rule = get_rule(method)
    if not rule.takes_lr:
        raise ValueError(f"max_stable_lr needs a rule with a step size; method {rule.name!r} carries its own.")
    rep = analyze(field, z)
    ev = rep.eigenvalues
    if rule.name == "euler":
        if np.any(ev.real >= 0):
            return 0.0
        return float(np.min(-2.0 * ev.real / np.abs(ev) ** 2))
    scale = float(np.max(np.abs(ev))) or 1.0
    hi = lr_max if lr_max is not None else 100.0 / scale
    p = _point(field, z)
    state0 = rule.init(field, p)
    flat0, unravel = ravel_pytree((p, state0))

    def jac_at(lr):
        def stepf(flat):
            zz, st = unravel(flat)
            return ravel_pytree(rule.step(field, zz, st, lr))[0]

        return jax.jacfwd(stepf)(flat0)

    jacs = jax.jit(jax.vmap(jac_at))

    def radii(lrs):
        # Eigenvalues on the host: non-symmetric eig is not available on every backend.
        m = np.asarray(jacs(jnp.asarray(lrs, p.dtype)), dtype=np.float64)
        return np.max(np.abs(np.linalg.eigvals(m)), axis=-1)

    # A radius within a few ulp of 1 is marginal (e.g. a centre under alternating GD): not stable.
    tol = 16 * float(jnp.finfo(p.dtype).eps)
    grid = np.geomspace(hi * 1e-5, hi, 600)
    rho = radii(grid)
    bad = np.flatnonzero(~(rho < 1.0 - tol))
    if bad.size == 0:
        return math.inf
    if bad[0] == 0:
        return 0.0
    a, b = float(grid[bad[0] - 1]), float(grid[bad[0]])
    for _ in range(40):
        mids = np.linspace(a, b, 18)[1:-1]  # 16 points per round: 4 bits each, one compile
        r = radii(mids)
        ok = r < 1.0 - tol
        first_bad = np.flatnonzero(~ok)
        if first_bad.size == 0:
            a = float(mids[-1])
        else:
            j = first_bad[0]
            b = float(mids[j])
            if j > 0:
                a = float(mids[j - 1])
        if b - a <= 1e-12 * b:
            break
    return 0.5 * (a + b)

