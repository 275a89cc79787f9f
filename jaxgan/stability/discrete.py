"""Discrete time: stability of one full update of an update rule (optimiser state included).

Every function takes `(field, z=None, *, method=..., lr=...)`: `z` is the point (default: the
field's rest point) and `method` an update rule as everywhere in jaxgan (a name, an
`UpdateRule`, an optax transformation or a `jaxgan.Optimizer`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, check_instance, check_values
from ..dynamics import Optimizer, get_rule, method_args
from ..errors import ArgumentError, ArgumentTypeError
from ..fields import Field
from .continuous import check_field_param, check_linearisation, linearise, point_or_rest
from .jacobians import compiled_update_jacobian, update_jacobian, update_jacobians_over_lr
from .krylov import KRYLOV_STEPS, field_ritz, update_radii_over_lr, update_ritz, use_matrix_free

__all__ = ["step_jacobian", "step_spectral_radius", "max_stable_lr", "StabilityRegion", "stability_region",
           "spectral_radii"]


def spectral_radii(m) -> np.ndarray | float:
    """Spectral radii of a stack of matrices `(..., k, k)`, on the host in float64; NaN where a
    matrix is not finite. A single matrix gives a float."""
    m = np.asarray(m, dtype=np.float64)
    ok = np.all(np.isfinite(m), axis=(-2, -1))
    out = np.full(ok.shape, np.nan)
    if np.any(ok):
        out[ok] = np.max(np.abs(np.linalg.eigvals(m[ok])), axis=-1)
    return out if out.ndim else float(out)


def _step_setup(fn: str, field, z, method, lr):
    """`(point, rule, rule argument)` of a discrete-time check, every argument checked."""
    check_instance(fn, "field", field, Field, "a jaxgan Field")
    p = point_or_rest(field, z, fn)  # first: a rule passed where `z` goes gets the convention's hint
    rule, arg = method_args(method, lr, fn=fn)
    check_linearisation(fn, field, p, stacklevel=5)  # a NaN velocity (e.g. outside the domain) is named, not hinted at
    return p, rule, jax.tree_util.tree_map(lambda a: a.astype(p.dtype), arg)


def _step_jacobian(fn: str, field, z, method, lr) -> np.ndarray:
    p, rule, arg = _step_setup(fn, field, z, method, lr)
    return np.asarray(compiled_update_jacobian(field, p, arg, rule=rule))


def _free_radius(field, z, method, lr, krylov: int) -> float:
    """`step_spectral_radius` from Ritz values: for `"euler"` `max |1 + lr·θ|` over the Ritz
    values `θ` of the field's Jacobian (those of `I + lr·J`, the same Krylov space, without the
    cancellation `I + lr·J` suffers at small `lr`); for other rules the largest Ritz modulus of
    one full update's Jacobian (state and optimiser state)."""
    p, rule, arg = _step_setup("step_spectral_radius", field, z, method, lr)
    if rule.name == "euler" and not isinstance(method, Optimizer):
        theta = field_ritz(field, p, m=krylov).values
        return float(np.max(np.abs(1.0 + float(arg) * theta)))
    return float(np.max(np.abs(update_ritz(field, p, arg, rule=rule, m=krylov).values)))


def step_jacobian(field: Field, z=None, *, method="euler", lr=None) -> np.ndarray:
    """The Jacobian of one full update (state and optimiser state, flattened) at `z`.

    The optimiser state is the rule's `init` at the point (e.g. zero momentum for optax
    momentum, the previous field value for `"optimistic"`), which is a fixed point of the
    update at a rest point; so the Jacobian has size `n + (size of the optimiser state)`.

    **Arguments:** `field`: a `Field`; `z`: the point (default: the rest point); `method`: an
    update rule; `lr`: its step size (omit for optax transformations and `Optimizer`s).

    **Returns:** `Float[ndarray, "m m"]`.

    **Raises:** `ArgumentError` for a missing, non-positive or non-finite `lr` (or an `lr` given to
    a rule that carries its own), and as `analyze` for `z`.
    """
    return _step_jacobian("step_jacobian", field, z, method, lr)


def step_spectral_radius(field: Field, z=None, *, method="euler", lr=None, matrix_free: bool | None = None,
                         krylov: int = KRYLOV_STEPS) -> float:
    """Spectral radius of the Jacobian of one update at the rest point (< 1: locally stable).

    The Jacobian is taken by autodiff through one full update of the state *and* the optimiser
    state (`step_jacobian`), so momentum, optimistic and alternating updates are covered. On
    the bilinear game `min_x max_y x·y` (`J = [[0, -1], [1, 0]]`) it gives √(1 + η²) for
    `"euler"`, 1 for `"alternating"` with η ≤ 2, and √(1 - η² + η⁴) for `"extragradient"`.

    **Arguments:** `field`: a `Field` with a rest point (or pass `z`); `z`: the point; `method`:
    `"euler"`, `"alternating"`, `"rk4"`, `"extragradient"`, `"optimistic"`, an `UpdateRule`, an
    optax transformation or a `jaxgan.Optimizer`; `lr`: the step size, positive (omit for optax
    transformations and `Optimizer`s); `matrix_free`: `None` (default: matrix-free above
    `jaxgan.stability.krylov.DENSE_LIMIT` coordinates), `True` or `False`; `krylov`: Arnoldi
    steps of the matrix-free path.

    Matrix-free, the radius is the largest Ritz modulus of `krylov` Arnoldi steps on JVPs of one
    update (for `"euler"`: `max |1 + lr·θ|` over the Ritz values `θ` of the field's Jacobian,
    the Ritz values of `I + lr·J`). The spectral radius is the top eigenvalue by modulus, the one
    Arnoldi finds first, so this is the right quantity, estimated from below as it converges.

    **Returns:** a float.

    **Raises:** `ArgumentError` for a missing, non-positive or non-finite `lr`, an `lr` given with
    a rule that carries its own, an unknown method, a field without a rest point and no `z`, an
    update that is not differentiable at the point, or a bad `matrix_free` / `krylov`.
    """
    check_instance("step_spectral_radius", "field", field, Field, "a jaxgan Field")
    free, krylov = use_matrix_free("step_spectral_radius", field.dim, matrix_free, krylov)
    if free:
        rho = _free_radius(field, z, method, lr, krylov)
        if not math.isfinite(rho):
            raise ArgumentError(
                f"step_spectral_radius: the Jacobian-vector products of one {get_rule(method).name!r} step of "
                f"field {field.name!r} at the point are not finite: the update is not differentiable there, so "
                f"it has no linearisation.")
        return rho
    m = _step_jacobian("step_spectral_radius", field, z, method, lr)
    if not np.all(np.isfinite(m)):
        raise ArgumentError(
            f"step_spectral_radius: the Jacobian of one {get_rule(method).name!r} step of field {field.name!r} at "
            f"the point is not finite: the update is not differentiable there (e.g. Adam's 1/√v at v = 0), so it "
            f"has no linearisation."
        )
    return float(spectral_radii(m))


def _to_f64(leaf):
    arr = jnp.asarray(leaf)
    return arr.astype(jnp.float64) if jnp.issubdtype(arr.dtype, jnp.floating) else arr


# A radius within a few ulp of 1 is marginal (e.g. a centre under alternating GD): not stable.
_MARGINAL = 1e-12


def _first_unstable(radii, hi: float, points: int = 600, rtol: float = 1e-12) -> float:
    """The smallest lr in (0, hi] with radius ≥ 1 (every smaller lr stable), by a log-spaced scan
    of `points` steps and bisection to relative width `rtol`; 0.0 when no small lr is stable,
    `math.inf` when all of (0, hi] is stable.

    `radii(lrs: ndarray) -> ndarray` evaluates the spectral radius at many step sizes at once.
    """
    grid = np.geomspace(hi * 1e-5, hi, points)
    rho = radii(grid)
    stable = rho < 1.0 - _MARGINAL
    # Small steps may be marginal to double precision (RK4 on a centre: ρ = 1 - O(lr⁶)).
    # A marginal prefix that turns stable counts as stable; one that never does (alternating
    # GD on a centre: ρ = 1 exactly) does not, and growth (ρ > 1) never does.
    marginal = np.abs(rho - 1.0) <= _MARGINAL
    first_stable = int(np.argmax(stable)) if stable.any() else grid.size
    if first_stable == grid.size or not np.all(marginal[:first_stable]):
        return 0.0
    bad = first_stable + np.flatnonzero(~stable[first_stable:])
    if bad.size == 0:
        return math.inf
    a, b = float(grid[bad[0] - 1]), float(grid[bad[0]])
    for _ in range(40):
        mids = np.linspace(a, b, 18)[1:-1]  # 16 points per round (4 bits), one compile
        first_bad = np.flatnonzero(~(radii(mids) < 1.0 - _MARGINAL))
        if first_bad.size == 0:
            a = float(mids[-1])
        else:
            j = first_bad[0]
            b = float(mids[j])
            if j > 0:
                a = float(mids[j - 1])
        if b - a <= rtol * b:
            break
    return 0.5 * (a + b)


def max_stable_lr(field: Field, z=None, *, method="euler", lr_max: float | None = None,
                  matrix_free: bool | None = None, krylov: int = KRYLOV_STEPS) -> float:
    """The largest step for which the discrete update is locally stable at the rest point.

    For `"euler"` this is the closed form: one step maps a perturbation by `I + lr·J`, with
    eigenvalues `1 + lr·λ`, and `|1 + lr·λ| < 1` iff `lr < -2 Re(λ) / |λ|²`, so

        max_stable_lr = min over eigenvalues λ of  -2 Re(λ) / |λ|²

    (0 if some Re λ ≥ 0: no step is stable). For other rules it is the first `lr` at which
    the spectral radius of the autodiff Jacobian of one update (`step_spectral_radius`,
    here in float64) reaches 1, found by a log-spaced scan from `lr_max·1e-5` and bisection:
    every smaller step is stable. Steps so small that the radius is 1 to double precision
    (RK4 on a centre: ρ = 1 - O(lr⁶)) count as stable when larger steps are; a radius that is
    1 at every step (alternating GD on a centre) is marginal, not stable, and gives 0.

    **Arguments:** `field`: a `Field`; `z`: the point (default: rest point); `method`:
    `"euler"`, `"alternating"`, `"rk4"`, `"extragradient"`, `"optimistic"` or an `UpdateRule`
    (a rule with a step size); `lr_max`: the largest lr searched (default 100 / max|λ|);
    `matrix_free`: `None` (default: matrix-free above `jaxgan.stability.krylov.DENSE_LIMIT`
    coordinates), `True` or `False`; `krylov`: Arnoldi steps of the matrix-free path.

    Matrix-free, the eigenvalues `λ` above are the Ritz values of `krylov` Arnoldi steps on
    JVPs (for `"euler"`), or each radius is the largest Ritz modulus of one update's Jacobian
    (other rules; a coarser scan: 64 steps, bisection to 1e-6 relative, in the working float).
    The Ritz values are the exterior eigenvalues: the limit they impose is an upper bound on
    the true one when an interior eigenvalue (e.g. one near 0 with a real part ≥ 0) binds.

    **Returns:** a float: 0.0 if no positive step is stable, `math.inf` if stable up to `lr_max`.

    **Raises:** `ArgumentError` for a rule without a step size, an `lr_max` that is not a
    positive finite number (checked for every method, `"euler"` included; a bool is refused), or
    as `analyze` (a point where the field or its Jacobian is not finite).

    Example: the classic GAN at pd = 0.2 has λ = -0.8 ± 1.833i, so lr < 1.6/4 = 0.4.
    """
    fn = "max_stable_lr"
    check_instance(fn, "field", field, Field, "a jaxgan Field")
    # Checked for every method (even "euler", which does not use it): a bad value is a slip. The
    # search runs in float64.
    lr_max = None if lr_max is None else check_float(fn, "lr_max", lr_max, dtype=np.float64)
    rule = get_rule(method, fn)
    if not rule.takes_lr or isinstance(method, Optimizer):
        raise ArgumentError(f"{fn} argument `method` must be a rule with a step size; {rule.name!r} carries its own.")
    free, krylov = use_matrix_free(fn, field.dim, matrix_free, krylov)
    p = point_or_rest(field, z, fn)
    ev = linearise(fn, field, p, matrix_free=free, krylov=krylov).eigenvalues
    if rule.name == "euler":
        if np.any(ev.real >= 0):
            return 0.0
        return float(np.min(-2.0 * ev.real / np.abs(ev) ** 2))
    hi = 100.0 / (float(np.max(np.abs(ev))) or 1.0) if lr_max is None else lr_max
    if free:
        # In the working float: the bisection stops at 1e-6 relative, and a field of a network's
        # size is usually float32 all through.
        return _first_unstable(
            lambda lrs: update_radii_over_lr(field, p, jnp.asarray(lrs, p.dtype), rule=rule, m=krylov),
            hi, points=64, rtol=1e-6)
    # In float64 whatever the working precision (a scoped switch, restored on exit): at small
    # steps the radius is 1 - O(lr²) for extragradient/optimistic on a centre, which float32
    # cannot tell from 1.
    with jax.enable_x64(True):
        field64 = jax.tree_util.tree_map(_to_f64, field)
        p64 = jnp.asarray(np.asarray(p, np.float64))

        def radii(lrs):
            m = update_jacobians_over_lr(field64, p64, jnp.asarray(lrs, jnp.float64), rule=rule)
            return spectral_radii(np.asarray(m))  # eigenvalues on the host: eig is not on every backend

        return _first_unstable(radii, hi)


@dataclasses.dataclass(frozen=True)
class StabilityRegion:
    """Spectral radii of one update at the rest point over a grid.

    - `lrs`: `Float[ndarray, "L"]`, the step sizes.
    - `values`: `Float[ndarray, "P"]` of the second hyper-parameter, or `None`.
    - `radius`: `Float[ndarray, "P L"]` (or `"L"` without a second axis); `< 1`: locally stable;
      NaN where the update is not differentiable at the point (e.g. Adam at zero second moment).
    - `method`, `param`, `field_name`: labels for figures and tables.
    """

    lrs: np.ndarray
    values: np.ndarray | None
    radius: np.ndarray
    method: str
    param: str | None
    field_name: str

    @property
    def stable(self) -> np.ndarray:
        """Boolean mask of `radius < 1` (shape of `radius`)."""
        return self.radius < 1.0

    def max_stable_lr(self) -> np.ndarray:
        """Per value, the largest grid lr such that every smaller grid lr is stable (0 if none)."""
        ok = np.atleast_2d(self.stable)
        first_bad = np.where(ok.all(axis=1), ok.shape[1], np.argmin(ok, axis=1))
        out = np.where(first_bad > 0, self.lrs[np.maximum(first_bad - 1, 0)], 0.0)
        return out if self.values is not None else out[0]


def _region_setup(fn: str, field: Field, method, param, values):
    """`(rule, base_arg, lr_key, param_kind)`: how one grid point `(lr, value)` becomes a rule
    argument and a field; `param_kind` is "field", "optimizer" or None."""
    if isinstance(method, Optimizer):
        rule, base = method_args(method, None, fn=fn)
        if "learning_rate" not in base:
            raise ArgumentError(f"{fn} argument `method`: {method!r} has no traced `learning_rate` for the lrs axis; "
                                f"build it as jaxgan.Optimizer(factory, learning_rate=..., ...).")
        kind = None
        if param is not None:
            kind = "optimizer" if param in base else "field"
    else:
        if callable(method) and not isinstance(method, str) and not hasattr(method, "init"):
            raise ArgumentTypeError(f"{fn} argument `method` must be an update rule; got the callable {method!r}. For "
                                    f"an optimiser hyper-parameter axis pass method=jaxgan.Optimizer(optax.sgd, "
                                    f"learning_rate=0.1, momentum=0.0), param=\"momentum\".")
        rule = get_rule(method, fn)
        if not rule.takes_lr:
            raise ArgumentError(f"{fn} argument `method`: {rule.name!r} carries its own step size; pass a "
                                f"jaxgan.Optimizer, whose learning_rate is traced, instead.")
        base, kind = None, (None if param is None else "field")
    if kind == "field":
        check_field_param(fn, field, param)
    if (param is None) != (values is None):
        raise ArgumentError(f"{fn} arguments `param` and `values` go together: `param` names a field parameter "
                            f"or an Optimizer hyper-parameter, `values` its grid; got param={param!r}.")
    return rule, base, kind


def stability_region(field: Field, z=None, *, method="euler", lrs, param: str | None = None,
                     values=None) -> StabilityRegion:
    """Spectral radius of one update at the rest point over step sizes and a second hyper-parameter.

    Each entry is `step_spectral_radius` (autodiff Jacobian of one full update, state plus
    optimiser state); all Jacobians of the grid come from one jit-compiled, vmapped function,
    and their eigenvalues are taken on the host. Stability regions of game optimisers are the
    object of Gidel et al. 2019 ("Negative Momentum for Improved Game Dynamics") and
    Mescheder et al. 2017 ("The Numerics of GANs").

    **Arguments:**

    - `field`: a `Field` with a rest point (or pass `z`); `z`: the point (default: the rest
      point, recomputed for each parameter value).
    - `method`: a rule that takes a step size (`"euler"`, `"alternating"`, `"rk4"`,
      `"extragradient"`, `"optimistic"`, an `UpdateRule`), or a `jaxgan.Optimizer` whose traced
      `learning_rate` runs over `lrs` (e.g. `Optimizer(optax.sgd, learning_rate=0.1, momentum=0.0)`).
    - `lrs`: `Float[ArrayLike, "L"]`, positive step sizes.
    - `param`: the second axis: a field parameter (e.g. `"r1_gamma"`) or, with an `Optimizer`,
      one of its hyper-parameters (e.g. `"momentum"`); `values`: `Float[ArrayLike, "P"]`, its grid.

    **Returns:** a `StabilityRegion` with `radius` of shape `(P, L)` (or `(L,)`).

    **Raises:** `ArgumentError`/`ArgumentTypeError` for bad `lrs`, `values`, `param` or `method`, or a
    field without a rest point, before anything is compiled.
    """
    fn = "stability_region"
    check_instance(fn, "field", field, Field, "a jaxgan Field")
    lrs = check_values(fn, "lrs", lrs, sign="positive")
    rule, base, kind = _region_setup(fn, field, method, param, values)
    vals = None if values is None else check_values(fn, "values", values)
    if kind == "field":
        field.check_param(fn, "values", param, vals)  # the rule `Field.replace` applies
    z_fixed = None if z is None else point_or_rest(field, z, fn)
    if z is None:
        point_or_rest(field, None, fn)  # refuses a field without a rest point, before compiling
    # The field itself must be finite where it is linearised (a NaN there is not a NaN radius).
    check_linearisation(fn, field, z_fixed if z_fixed is not None else point_or_rest(field, None, fn))
    dtype = jnp.result_type(float)

    def jac(lr, val):
        f = field.replace(**{param: val}) if kind == "field" else field
        p = z_fixed if z_fixed is not None else jnp.asarray(f.rest_point, dtype)
        if base is None:
            return update_jacobian(f, p, lr, rule)
        arg = {**base, "learning_rate": lr, **({param: val} if kind == "optimizer" else {})}
        return update_jacobian(f, p, arg, rule)

    val_arr = jnp.asarray(vals if vals is not None else [0.0], dtype)
    jacs = jax.jit(jax.vmap(jax.vmap(jac, in_axes=(0, None)), in_axes=(None, 0)))(jnp.asarray(lrs, dtype), val_arr)
    radius = spectral_radii(np.asarray(jacs, dtype=np.float64))
    return StabilityRegion(lrs, vals, radius if vals is not None else radius[0], rule.name, param, field.name)
