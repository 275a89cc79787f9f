"""Continuous time: the linearisation of a field at a point, its eigenvalues and their verdict,
and the pointwise games' stability criterion stated with its numbers."""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import games as _games
from .._checks import check_instance, check_memory, check_values
from .._format import eigenvalues_text
from ..dynamics import Optimizer, UpdateRule, canonical_state, is_optax
from ..errors import ArgumentError, ArgumentTypeError
from ..fields import Field
from .jacobians import field_velocity, jacobian, velocity_and_jacobian
from .krylov import KRYLOV_STEPS, field_ritz, use_matrix_free

__all__ = ["StabilityReport", "analyze", "classify", "StabilityConditions", "stability_conditions",
           "eigenvalues_over", "point_or_rest", "check_linearisation", "OutsideDomainWarning", "KINDS"]


class OutsideDomainWarning(UserWarning):
    """A linearisation was asked for at a point outside the field's domain (where the field
    may still be finite, e.g. `pg < 0` for a pointwise field, but has no meaning)."""

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
    - `method`: `"dense"` (every eigenvalue, from the dense Jacobian) or `"arnoldi"` (the
      matrix-free path, for fields above `jaxgan.stability.krylov.DENSE_LIMIT` coordinates:
      `jacobian` is `None`, `eigenvalues` are the Ritz values of `krylov` Arnoldi steps on
      Jacobian-vector products, and `kind` and `stable` are read from them; see
      `jaxgan.stability.krylov` for what they can and cannot tell).
    - `residuals`: `Float[ndarray, "k"]`, `‖J x − θ x‖` of each Ritz pair (aligned with
      `eigenvalues`; small: converged), or `None` on the dense path.
    """

    point: np.ndarray
    velocity: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    kind: str
    stable: bool
    field_name: str = ""
    method: str = "dense"
    residuals: np.ndarray | None = None

    def __str__(self):
        eig = eigenvalues_text(self.eigenvalues, 6, spaced=False)
        how = "" if self.method == "dense" else f" ({self.eigenvalues.size} Ritz values, matrix-free Arnoldi)"
        return (f"{self.field_name} at {np.array2string(self.point, precision=6)}: {self.kind} "
                f"({'stable' if self.stable else 'not stable'}); eigenvalues{how} {eig}")

    def as_dict(self) -> dict:
        return {
            "field": self.field_name, "point": self.point.tolist(), "velocity": self.velocity.tolist(),
            "jacobian": None if self.jacobian is None else self.jacobian.tolist(),
            "eigenvalues": [[float(l.real), float(l.imag)] for l in self.eigenvalues],
            "kind": self.kind, "stable": self.stable, "method": self.method,
            "residuals": None if self.residuals is None else self.residuals.tolist(),
        }


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


def _is_method(value) -> bool:
    return isinstance(value, (str, UpdateRule, Optimizer)) or is_optax(value)


def point_or_rest(field: Field, z, fn: str = "analyze") -> jax.Array:
    """`z` canonicalised to shape `(n,)`, or the field's rest point when `z` is None.

    **Raises:** `ArgumentError` naming `fn` if there is no rest point and no `z`, or `z` has the
    wrong shape; `ArgumentTypeError` for a `z` that is an update rule (the calling convention is
    `fn(field, z=None, *, method=..., lr=...)`).
    """
    if z is None:
        rest = field.rest_point
        if rest is None:
            raise ArgumentError(f"{fn}: field {field.name!r} has no known rest point; pass `z` to work at a point.")
        return jnp.asarray(rest, dtype=jnp.result_type(float))
    if _is_method(z):
        raise ArgumentTypeError(f"{fn} argument `z` must be a point of shape ({field.dim},); got {z!r}. The update "
                                f"rule is a keyword argument: {fn}(field, method=..., lr=...).")
    z = canonical_state(field, z, fn, "z")
    if z.ndim != 1:
        raise ArgumentError(f"{fn} argument `z` must have shape ({field.dim},); got {tuple(z.shape)}.")
    return z


def check_field_param(fn: str, field: Field, param) -> str:
    """`param` if it names one of `field`'s parameters; else an `ArgumentError` listing them."""
    have = sorted(field.params) if isinstance(field.params, dict) else []
    if not isinstance(param, str) or param not in have:
        raise ArgumentError(f"{fn} argument `param` must name a parameter of field {field.name!r} ({have}); "
                            f"got {param!r}.")
    return param


def _point_text(p) -> str:
    return np.array2string(np.asarray(p, dtype=np.float64), threshold=8, precision=6)


def check_linearisation(fn: str, field: Field, p, jac=None, *, warn_outside: bool = True,
                        stacklevel: int = 3, velocity=None) -> None:
    """Refuse a linearisation that is not finite, saying what, where and the likely cause; warn
    (`OutsideDomainWarning`) when a finite one is taken outside the field's domain.

    **Arguments:** `fn`: the public function (for messages); `field`; `p`: the point, shape
    `(n,)`; `jac`: the Jacobian there (host or device array), or `None` to check the velocity
    only; `warn_outside`: whether to warn for a point outside the domain; `stacklevel`: of the
    warning (3: the caller of the function that called this one); `velocity`: `field(p)` when the
    caller has it (else it is computed here).

    **Raises:** `ArgumentError` when the velocity or the Jacobian at `p` holds NaN or inf.
    """
    v = np.asarray(field_velocity(field, jnp.asarray(p)) if velocity is None else velocity, dtype=np.float64)
    inside = bool(field.in_domain(np.asarray(p), xp=np))
    bad_v = ~np.isfinite(v)
    bad_j = None if jac is None else ~np.isfinite(np.asarray(jac, dtype=np.float64))
    if not (bad_v.any() or (bad_j is not None and bad_j.any())):
        if not inside and warn_outside:
            warnings.warn(f"{fn}: the point z = {_point_text(p)} is outside the domain of field {field.name!r} "
                          f"({field.domain_str()}); the linearisation there describes no run of the dynamics.",
                          OutsideDomainWarning, stacklevel=stacklevel)
        return
    what = (f"the velocity ({int(bad_v.sum())} of {v.size} entries NaN/inf)" if bad_v.any()
            else f"the Jacobian ({int(bad_j.sum())} of {bad_j.size} entries NaN/inf)")
    if not inside:
        cause = (f"the point is outside the field's domain ({field.domain_str()}), where its formulas are "
                 f"undefined (e.g. the log of a non-positive number)")
    elif bad_v.any():
        cause = ("the field overflows or is undefined there (e.g. a log or a division at the edge of its "
                 "domain, or values too large for the working float)")
    else:
        cause = ("the field is not differentiable there (e.g. a square root or an absolute value at 0, or a "
                 "derivative that overflows)")
    raise ArgumentError(f"{fn}: {what} of field {field.name!r} at z = {_point_text(p)} is not finite; likely "
                        f"cause: {cause}. Choose a point inside the domain where the field is smooth.")


def check_dense_size(fn: str, field: Field, count: int = 1) -> None:
    """Refuse, before compiling, `count` dense `n×n` Jacobians of `field` (plus their float64 host
    copies and numpy's eigen-solver workspace, about 4 copies) that do not fit in memory."""
    n = field.dim
    check_memory(fn, f"{count} dense {n}×{n} Jacobian(s) and their eigenvalues", 4.0 * count * n * n * 8,
                 "use matrix-free eigenvalues on a field this large: `matrix_free=True` in analyze, "
                 "step_spectral_radius and max_stable_lr (jaxgan.stability.arnoldi on Jacobian-vector products)")


def _sorted_eigs(m) -> np.ndarray:
    ev = np.linalg.eigvals(np.asarray(m, dtype=np.float64))
    return ev[np.lexsort((ev.imag, ev.real))]


def analyze(field: Field, z=None, *, matrix_free: bool | None = None, krylov: int = KRYLOV_STEPS) -> StabilityReport:
    """Linearise `field` at its rest point (or at `z`) and classify the equilibrium.

    **Arguments:**

    - `field`: a `Field`.
    - `z`: the point (shape `(n,)`); default: `field.rest_point`.
    - `matrix_free`: `None` (default): dense up to `jaxgan.stability.krylov.DENSE_LIMIT`
      coordinates, matrix-free above (a network's parameters, `jaxgan.neural.parameter_field`);
      `True`/`False` forces one path. Matrix-free, the eigenvalues are the Ritz values of
      `krylov` Arnoldi steps on Jacobian-vector products: the exterior of the spectrum (largest
      modulus first), with residuals; the verdict `stable` then says every *Ritz value* has a
      negative real part, an estimate of the rightmost eigenvalue, not a proof (see
      `jaxgan.stability.krylov`).
    - `krylov`: Arnoldi steps of the matrix-free path (capped at `n`; `krylov ≥ n` gives every
      eigenvalue), default `KRYLOV_STEPS`.

    **Returns:** a `StabilityReport` (`.jacobian`, `.eigenvalues`, `.kind`, `.stable`, `.method`,
    `.residuals`).

    **Raises:** `ArgumentError` if `z` is omitted and the field has no rest point, `z` has the
    wrong shape, or the velocity or the Jacobian at the point is not finite (the message says
    which, where, and the likely cause, e.g. a point outside the domain); `ArgumentTypeError`/
    `ArgumentError` for a `matrix_free` that is not a bool or None, or a `krylov` that is not an
    int ≥ 1.

    **Warns:** `OutsideDomainWarning` for a point outside the field's domain where the field is
    finite (the linearisation is computed, but describes no run of the dynamics).

    Example: the classic GAN at pd = 0.2 is a stable focus with eigenvalues
    `-0.8 ± 1.833i` (= -4pd ± 2√(4pd² - 1)).
    """
    check_instance("analyze", "field", field, Field, "a jaxgan Field")
    free, krylov = use_matrix_free("analyze", field.dim, matrix_free, krylov)
    return linearise("analyze", field, point_or_rest(field, z, "analyze"), matrix_free=free, krylov=krylov)


def linearise(fn: str, field: Field, p, *, matrix_free: bool = False, krylov: int = KRYLOV_STEPS) -> StabilityReport:
    """`analyze` at the canonical point `p`, with messages and warnings naming `fn`."""
    if matrix_free:
        return _linearise_free(fn, field, p, krylov)
    check_dense_size(fn, field)
    v, jac = (np.asarray(a) for a in velocity_and_jacobian(field, p))
    check_linearisation(fn, field, p, jac, stacklevel=4, velocity=v)  # the warning points at the user's call
    ev = _sorted_eigs(jac)
    kind = classify(ev, rtol=1000 * float(jnp.finfo(p.dtype).eps))
    return StabilityReport(np.asarray(p), v, jac, ev, kind, kind.startswith("stable"), field.name)


def _linearise_free(fn: str, field: Field, p, krylov: int) -> StabilityReport:
    """`linearise` from the Ritz values of `krylov` Arnoldi steps on JVPs (no Jacobian)."""
    check_linearisation(fn, field, p, stacklevel=5)  # the velocity; the Ritz values are checked below
    ritz = field_ritz(field, p, m=krylov)
    if not np.all(np.isfinite(ritz.values)):
        raise ArgumentError(f"{fn}: the Jacobian-vector products of field {field.name!r} at z = {_point_text(p)} "
                            f"are not finite; likely cause: the field is not differentiable there (e.g. a "
                            f"derivative that overflows). Choose a point where the field is smooth.")
    order = np.lexsort((ritz.values.imag, ritz.values.real))
    ev, res = ritz.values[order], ritz.residuals[order]
    kind = classify(ev, rtol=1000 * float(jnp.finfo(p.dtype).eps))
    return StabilityReport(np.asarray(p), np.asarray(field_velocity(field, p)), None, ev, kind, kind.startswith("stable"),
                           field.name, "arnoldi", res)


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

    @property
    def verdict(self) -> str:
        """The verdict in a few words: "stable", "centre (not stable)", "saddle (unstable)" or "not stable"."""
        if self.stable:
            return "stable"
        if self.coupling_ok and self.curvature == 0:
            return "centre (not stable)"
        if self.coupling > 0:
            return "saddle (unstable)"
        return "not stable"

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
    game = _games.get(game, "stability_conditions")
    dtype = jnp.result_type(float)
    d0 = jnp.asarray(game.rest_d(dtype), dtype)
    curv = float(jax.grad(game.df1)(d0) + jax.grad(game.df2)(d0))
    df2 = float(game.df2(d0))
    df3 = float(game.df3(d0))
    return StabilityConditions(game.name, float(d0), curv, df2 * df3, df2, df3)


def eigenvalues_over(field: Field, z=None, *, param: str, values) -> np.ndarray:
    """Eigenvalues of the Jacobian at the rest point as one field parameter varies.

    All Jacobians come from one jit-compiled `vmap` over `values` (the parameter is a traced
    leaf), eigenvalues on the host, each row sorted like `analyze` (by real, then imaginary part).

    **Arguments:** `field`: a `Field` with dict params; `z`: the point (default: the rest point,
    recomputed for each value); `param`: one of the field's parameter names (e.g. `"r1_gamma"`);
    `values`: `Float[ArrayLike, "P"]`.

    **Returns:** `Complex[ndarray, "P n"]`.

    **Raises:** `ArgumentError` for an unknown `param`, bad `values` (each checked by the
    parameter's rule, as `Field.replace` does), no rest point, or a Jacobian that is not finite
    for some value (the message names the value and the point).
    """
    fn = "eigenvalues_over"
    check_instance(fn, "field", field, Field, "a jaxgan Field")
    check_field_param(fn, field, param)
    vals = check_values(fn, "values", values)
    field.check_param(fn, "values", param, vals)
    check_dense_size(fn, field, vals.size)
    z_fixed = None if z is None else point_or_rest(field, z, fn)
    if z is None:
        point_or_rest(field, None, fn)  # refuses a field without a rest point, before compiling
    dtype = jnp.result_type(float)

    def jac(v):
        f = field.replace(**{param: v})
        p = z_fixed if z_fixed is not None else jnp.asarray(f.rest_point, dtype)
        return jacobian(f, p)

    m = np.asarray(jax.jit(jax.vmap(jac))(jnp.asarray(vals, dtype)), dtype=np.float64)
    bad = ~np.all(np.isfinite(m), axis=(-2, -1))
    if bad.any():
        i = int(np.argmax(bad))
        f = field.replace(**{param: vals[i]})
        p = z_fixed if z_fixed is not None else jnp.asarray(f.rest_point, dtype)
        check_linearisation(f"{fn} ({param} = {vals[i]:g}, {int(bad.sum())} of {bad.size} values)", f, p, m[i],
                            warn_outside=False)
    ev = np.linalg.eigvals(m).astype(np.complex128)
    order = np.lexsort((ev.imag, ev.real), axis=-1)
    return np.take_along_axis(ev, order, axis=-1)
