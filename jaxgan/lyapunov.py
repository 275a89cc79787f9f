"""Lyapunov checks: does a candidate `V` decrease along a field, on a region?

A function `V` with a strict minimum at the rest point `z*` certifies stability on a region
when `dV/dt = ∇V(z)·v(z) ≤ 0` there (Lyapunov's direct method), and asymptotic stability
when the inequality is strict away from `z*` — or, with `≤` only, when no trajectory other
than `z*` stays in the set `{dV/dt = 0}` (LaSalle's invariance principle).

- `check(field, V, lower, upper)` evaluates `dV/dt` by autodiff (one JVP per point) on a grid,
  reports the fraction of points where it holds and the worst point.
- `quadratic(field)` builds `V(z) = (z - z*)ᵀ P (z - z*)` from the linearisation `A` at the rest
  point by solving the continuous Lyapunov equation `AᵀP + PA = -Q` (`solve_lyapunov`).
- `distance_squared(field)` is `V(z) = ‖z - z*‖²`, the article's certificate for its
  quadratic GAN.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_callable, check_float, check_instance, check_int, check_matrix, check_values
from .errors import ArgumentError, ArgumentTypeError
from .fields import Field
from .stability import field_jacobian, point_or_rest
from .stability.continuous import check_linearisation

__all__ = ["LyapunovCheck", "check", "QuadraticLyapunov", "quadratic", "solve_lyapunov", "distance_squared"]


# ----------------------------------------------------------------------------- the equation


def solve_lyapunov(a, q) -> jax.Array:
    """Solve the continuous Lyapunov equation `AᵀP + PA = -Q` for `P`.

    In row-major vectorisation `vec(XYZ) = (X ⊗ Zᵀ) vec(Y)`, so the equation is the linear
    system `(Aᵀ ⊗ I + I ⊗ Aᵀ) vec(P) = -vec(Q)` of size `n²`, solved by `jnp.linalg.solve`
    (fine for the small `n` of a field's state). It has a unique solution iff no two
    eigenvalues of `A` sum to zero; if `A` is Hurwitz and `Q` is positive definite, `P` is
    positive definite.

    **Arguments:** `a`: `Float[ArrayLike, "n n"]`; `q`: `Float[ArrayLike, "n n"]`.

    **Returns:** `P`: `Float[Array, "n n"]` (symmetrised when `Q` is symmetric).

    **Raises:** `ArgumentError` for non-square or mismatched shapes, non-finite entries, or a
    singular system (some `λᵢ + λⱼ = 0`, e.g. a centre).
    """
    # Host checks first: a NaN in `a` would otherwise reach the user as numpy's LinAlgError.
    a = jnp.asarray(check_matrix("solve_lyapunov", "a", a), dtype=jnp.result_type(float))
    q = jnp.asarray(check_matrix("solve_lyapunov", "q", q, a.shape[0]), dtype=a.dtype)
    n = a.shape[0]
    eye = jnp.eye(n, dtype=a.dtype)
    k = jnp.kron(a.T, eye) + jnp.kron(eye, a.T)
    ev = np.linalg.eigvals(np.asarray(a, dtype=np.float64))
    gap = np.min(np.abs(ev[:, None] + ev[None, :]))
    if gap <= 1e3 * float(jnp.finfo(a.dtype).eps) * max(1.0, float(np.max(np.abs(ev)))):
        raise ArgumentError(
            f"solve_lyapunov: AᵀP + PA = -Q has no unique solution: eigenvalues of `a` "
            f"({np.round(ev, 6).tolist()}) contain a pair summing to zero (a centre or a saddle-like pair)."
        )
    p = jnp.linalg.solve(k, -q.reshape(-1)).reshape(n, n)
    if bool(jnp.allclose(q, q.T)):
        p = 0.5 * (p + p.T)
    return p


@dataclasses.dataclass(frozen=True, eq=False)
class QuadraticLyapunov:
    """`V(z) = (z - z*)ᵀ P (z - z*)`, callable (pure JAX, works under `vmap`/`jit`).

    - `p`: `Float[Array, "n n"]`, the solution of `AᵀP + PA = -Q`.
    - `center`: the rest point `z*`; `a`: the Jacobian there; `q`: the right-hand side.
    - `positive_definite`: whether `P ≻ 0` (then `V` is a local certificate: `dV/dt = -(z-z*)ᵀQ(z-z*) +
      O(‖z - z*‖³)`).
    """

    p: jax.Array
    center: jax.Array
    a: jax.Array
    q: jax.Array
    positive_definite: bool

    def __call__(self, z):
        d = jnp.asarray(z) - self.center
        return jnp.einsum("...i,ij,...j->...", d, self.p, d)


def quadratic(field: Field, z=None, *, q=None) -> QuadraticLyapunov:
    """A quadratic Lyapunov function from the linearisation at the rest point.

    With `A = ∂v/∂z` at `z*` (`jaxgan.stability.field_jacobian`), solve `AᵀP + PA = -Q` (`solve_lyapunov`); then
    `V(z) = (z - z*)ᵀP(z - z*)` satisfies `dV/dt = -(z - z*)ᵀQ(z - z*)` for the linearised field,
    so it certifies the rest point locally. How far that reaches is what `check` measures.

    **Arguments:**

    - `field`: a `Field` with a rest point (or pass `z`).
    - `q`: `Float[ArrayLike, "n n"]`, symmetric positive definite (default: the identity).
    - `z`: the point to linearise at (default: `field.rest_point`).

    **Returns:** a `QuadraticLyapunov`.

    **Raises:** `ArgumentError` if the field or its Jacobian is not finite at the point (the
    message says where and the likely cause), if the linearisation is not Hurwitz (some eigenvalue has real part
    `≥ 0`: no quadratic certificate exists — for a centre, `AᵀP + PA = 0` is solved by many `P`
    and none gives a strict decrease), or `q` is not symmetric positive definite.
    """
    check_instance("quadratic", "field", field, Field, "a jaxgan Field")
    center = _center(field, z, "quadratic")
    n = field.dim
    dtype = center.dtype
    if q is None:
        q = jnp.eye(n, dtype=dtype)
    else:
        qn = np.asarray(check_matrix("quadratic", "q", q, n, dtype=dtype), dtype=np.float64)
        if not np.allclose(qn, qn.T) or np.min(np.linalg.eigvalsh(0.5 * (qn + qn.T))) <= 0:
            raise ArgumentError("quadratic argument `q` must be symmetric positive definite.")
        q = jnp.asarray(qn, dtype)
    a = field_jacobian(field, center)
    check_linearisation("quadratic", field, center, a)
    ev = np.linalg.eigvals(np.asarray(a, dtype=np.float64))
    if np.any(ev.real >= 0):
        raise ArgumentError(
            f"quadratic argument `field`: the linearisation of {field.name!r} at {np.asarray(center).tolist()} is "
            f"not Hurwitz (eigenvalues {np.round(ev, 6).tolist()}); AᵀP + PA = -Q has no positive definite "
            f"solution."
        )
    p = solve_lyapunov(a, q)
    pd = bool(np.min(np.linalg.eigvalsh(np.asarray(p, dtype=np.float64))) > 0)
    return QuadraticLyapunov(p, center, a, q, pd)


def distance_squared(field: Field, z=None) -> Callable:
    """`V(z) = ‖z - z*‖²` about the rest point `z*` (the article's "distance to the rest point").

    For the article's quadratic GAN (`f1 = -D²/2, f2 = D, f3 = -D`, rest point `(1, pd)`), with
    `u = D - 1`, `w = pg - pd`: `dD/dt = -pd·u + w`, `dpg/dt = -u`, so

        dV/dt = 2u(-pd·u + w) + 2w(-u) = -2·pd·u² ≤ 0    for every (D, pg),

    zero on the whole line `D = 1`, not only at the rest point. The certificate is therefore
    global on ℝ² but not strict; asymptotic stability follows from LaSalle (on `D = 1`,
    `dD/dt = w` vanishes only at `w = 0`). Caveat: `pg` is a density, and `V` only keeps a
    trajectory inside the disc of its starting distance; the discs that stay in `pg ≥ 0` have
    radius `≤ pd`. Starts farther out can cross `pg = 0` (e.g. `(3, 2)` at `pd = 1/2`).
    """
    check_instance("distance_squared", "field", field, Field, "a jaxgan Field")
    center = _center(field, z, "distance_squared")

    def V(zz):
        d = jnp.asarray(zz) - center
        return jnp.sum(d * d, axis=-1)

    return V


def _center(field: Field, z, fn: str) -> jax.Array:
    return point_or_rest(field, z, fn)


# ----------------------------------------------------------------------------- the check


@dataclasses.dataclass(frozen=True)
class LyapunovCheck:
    """The result of `check`.

    - `points`: `Float[ndarray, "N n"]`, the grid points checked (inside the domain, outside the
      excluded ball); `dvdt`: `Float[ndarray, "N"]`, `∇V·v` there.
    - `holds`: `dV/dt ≤ tol` at every point; `fraction`: the fraction of points where it does.
    - `strict`: `dV/dt < -tol` at every point; `fraction_strict`: the fraction where it does.
    - `worst_point`, `worst_value`: where `dV/dt` is largest, and its value.
    - `tol`: the tolerance used (per point: `rtol·‖∇V‖·‖v‖`, so exactly-zero decrease, as for a
      centre, counts as `≤ 0` but not as strict); `rtol`.
    - `passed`: `Bool[ndarray, "N"]`, where `dV/dt ≤ tol`; `labels`: the field's coordinate names.
    - `n_excluded`: grid points dropped (outside the domain, or in the ball of radius
      `exclude_radius` about the rest point, where `dV/dt → 0` and the sign is rounding noise).
    """

    points: np.ndarray
    dvdt: np.ndarray
    holds: bool
    fraction: float
    strict: bool
    fraction_strict: float
    worst_point: np.ndarray
    worst_value: float
    rtol: float
    n_excluded: int
    exclude_radius: float
    field_name: str = ""
    passed: np.ndarray | None = None
    labels: tuple = ()

    def __str__(self):
        verdict = ("dV/dt < 0 everywhere checked" if self.strict else
                   "dV/dt ≤ 0 everywhere checked (not strictly)" if self.holds else
                   "dV/dt > 0 somewhere")
        return (f"Lyapunov check on {self.field_name!r}: {verdict}; {len(self.dvdt)} points, "
                f"{100 * self.fraction:.2f}% with dV/dt ≤ 0, {100 * self.fraction_strict:.2f}% strictly; "
                f"worst dV/dt = {self.worst_value:.4g} at {np.array2string(self.worst_point, precision=4)} "
                f"({self.n_excluded} points excluded, ball radius {self.exclude_radius:g})")

    def as_dict(self) -> dict:
        return {"field": self.field_name, "n_points": int(len(self.dvdt)), "holds": self.holds,
                "fraction": self.fraction, "strict": self.strict, "fraction_strict": self.fraction_strict,
                "worst_point": self.worst_point.tolist(), "worst_value": self.worst_value,
                "n_excluded": self.n_excluded, "exclude_radius": self.exclude_radius}


def _bounds(field: Field, lower, upper):
    lo = check_values("check", "lower", lower, size=field.dim)
    hi = check_values("check", "upper", upper, size=field.dim)
    if np.any(hi <= lo):
        raise ArgumentError(f"check arguments `lower` < `upper` required; got {lo.tolist()} and {hi.tolist()}.")
    return lo, hi


def check(field: Field, V: Callable, lower, upper, *, n: int = 101, exclude_radius: float | None = None,
          rtol: float | None = None, z=None) -> LyapunovCheck:
    """Check `dV/dt = ∇V(z)·v(z) ≤ 0` on a grid over the box `[lower, upper]`.

    `dV/dt` is one forward-mode JVP of `V` along `v(z)` per point, all points in one
    jit-compiled `vmap`. Grid points outside the field's domain are dropped, and so are those
    within `exclude_radius` of the rest point: there `dV/dt` vanishes (quadratically, for a
    smooth `V` with a minimum at `z*`), so its sign is rounding noise, not a property of `V`.

    **Arguments:**

    - `field`: a `Field`.
    - `V`: `V(z) -> scalar` for `z: Float[Array, "n"]`, pure JAX.
    - `lower`, `upper`: `Float[ArrayLike, "n"]`, the box.
    - `n`: grid points per axis (`n**dim` in all).
    - `exclude_radius`: radius of the excluded ball about the rest point (default: 1e-3 of the
      box diagonal; 0 keeps every point); `z`: the centre of that ball if not the rest point.
    - `rtol`: a point passes when `dV/dt ≤ rtol·‖∇V‖·‖v‖` (default: 100 ulp of the float dtype).

    **Returns:** a `LyapunovCheck`.

    **Raises:** `ArgumentError`/`TypeError` for bad bounds, `n`, a `V` that is not callable or does
    not return a scalar, or a grid with no point left; before anything is compiled.
    """
    check_instance("check", "field", field, Field, "a jaxgan Field")
    check_callable("check", "V", V, "callable V(z) -> scalar")
    check_int("check", "n", n, 2)
    lo, hi = _bounds(field, lower, upper)
    if n ** field.dim > 4_000_000:
        raise ArgumentError(f"check argument `n`: {n}^{field.dim} grid points is too many; use a smaller `n`.")
    dtype = jnp.result_type(float)
    try:
        out = jax.eval_shape(V, jax.ShapeDtypeStruct((field.dim,), dtype))
    except Exception as exc:  # noqa: BLE001 - report what V did
        raise ArgumentTypeError(f"check argument `V` must map a state of shape ({field.dim},) to a scalar; calling it "
                        f"failed: {exc}") from None
    if not hasattr(out, "shape") or out.shape != ():
        raise ArgumentError(f"check argument `V` must return a scalar; got {getattr(out, 'shape', out)} for a state of "
                         f"shape ({field.dim},).")
    if rtol is None:
        rtol = 100 * float(jnp.finfo(dtype).eps)
    else:
        rtol = check_float("check", "rtol", rtol, sign="non-negative", dtype=np.float64)
    if exclude_radius is None:
        exclude_radius = 1e-3 * float(np.linalg.norm(hi - lo))
    else:  # a bool is not a radius; the distances are computed on the host in float64
        exclude_radius = check_float("check", "exclude_radius", exclude_radius, sign="non-negative",
                                     dtype=np.float64)
    center = None
    if z is not None or field.rest_point is not None:
        center = np.asarray(_center(field, z, "check"), dtype=np.float64)

    axes = [np.linspace(lo[i], hi[i], n) for i in range(field.dim)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, field.dim)
    keep = np.array(field.in_domain(jnp.asarray(pts, dtype)), dtype=bool)
    if center is not None and exclude_radius > 0:
        keep &= np.linalg.norm(pts - center, axis=-1) > exclude_radius
    n_excluded = int(np.sum(~keep))
    pts = pts[keep]
    if pts.shape[0] == 0:
        raise ArgumentError("check: no grid point left inside the domain and outside the excluded ball; widen the box.")

    def one(zz):
        v = field(zz)
        val, dv = jax.jvp(V, (zz,), (v,))
        gnorm = jnp.linalg.norm(jax.grad(V)(zz))
        return dv, gnorm * jnp.linalg.norm(v)

    dvdt, scale = jax.jit(jax.vmap(one))(jnp.asarray(pts, dtype))
    dvdt = np.asarray(dvdt, dtype=np.float64)
    tol = rtol * np.asarray(scale, dtype=np.float64)
    finite = np.isfinite(dvdt)
    ok = finite & (dvdt <= tol)
    ok_strict = finite & (dvdt < -tol)
    worst = int(np.argmax(np.where(finite, dvdt, np.inf)))
    return LyapunovCheck(
        points=pts, dvdt=dvdt, holds=bool(ok.all()), fraction=float(ok.mean()), strict=bool(ok_strict.all()),
        fraction_strict=float(ok_strict.mean()), worst_point=pts[worst], worst_value=float(dvdt[worst]),
        rtol=float(rtol), n_excluded=n_excluded, exclude_radius=float(exclude_radius), field_name=field.name,
        passed=ok, labels=field.labels,
    )
