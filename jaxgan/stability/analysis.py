"""Local stability: Jacobians by autodiff, eigenvalues, verdicts in continuous and discrete time."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import games as _games
from ..dynamics import canonical_state, check_lr, get_rule
from ..fields import Field
from .jacobians import compiled_update_jacobian, field_jacobian, jacobian, update_jacobian, update_jacobians_over_lr

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


def point_or_rest(field: Field, z, fn: str = "analyze") -> jax.Array:
    """`z` canonicalised to shape `(n,)`, or the field's rest point when `z` is None.

    **Raises:** `ValueError` naming `fn` if there is no rest point and no `z`, or `z` has the
    wrong shape.
    """
    if z is None:
        rest = field.rest_point
        if rest is None:
            raise ValueError(f"{fn}: field {field.name!r} has no known rest point; pass `z=` to work at a point.")
        return jnp.asarray(rest, dtype=jnp.result_type(float))
    z = canonical_state(field, z, "z")
    if z.ndim != 1:
        raise ValueError(f"{fn} argument `z` must have shape ({field.dim},); got {tuple(z.shape)}.")
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
    p = point_or_rest(field, z)
    jac = np.asarray(field_jacobian(field, p))
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
    game = _games.get(game)
    dtype = jnp.result_type(float)
    d0 = jnp.asarray(game.rest_d(dtype), dtype)
    curv = float(jax.grad(game.df1)(d0) + jax.grad(game.df2)(d0))
    df2 = float(game.df2(d0))
    df3 = float(game.df3(d0))
    return StabilityConditions(game.name, float(d0), curv, df2 * df3, df2, df3)


# ----------------------------------------------------------------------------- discrete time


def step_jacobian(field: Field, method="euler", lr=None, z=None) -> np.ndarray:
    """The Jacobian of one full update (state and optimiser state, flattened) at the rest point.

    The optimiser state is the rule's `init` at the point (e.g. zero momentum for optax
    momentum, the previous field value for `"optimistic"`), which is a fixed point of the
    update there; so the Jacobian has size `n + (size of the optimiser state)`.

    **Raises:** `ValueError` for a missing, non-positive or non-finite `lr` (or an `lr` given to
    an optax transformation, which carries its own), and as `analyze` for `z`.
    """
    if not isinstance(field, Field):
        raise TypeError(f"`field` must be a jaxgan Field; got {type(field).__name__}.")
    rule = get_rule(method)
    lr = check_lr(rule, lr)
    p = point_or_rest(field, z)
    lr_arr = None if lr is None else jnp.asarray(lr, dtype=p.dtype)
    return np.asarray(compiled_update_jacobian(field, p, lr_arr, rule=rule))


def step_spectral_radius(field: Field, method="euler", lr=None, z=None) -> float:
    """Spectral radius of the Jacobian of one update at the rest point (< 1: locally stable).

    The Jacobian is taken by autodiff through one full update of the state *and* the optimiser
    state (`step_jacobian`), so momentum, optimistic and alternating updates are covered. On
    the bilinear game `min_x max_y x·y` (`J = [[0, -1], [1, 0]]`) it gives √(1 + η²) for
    `"euler"`, 1 for `"alternating"` with η ≤ 2, and √(1 - η² + η⁴) for `"extragradient"`.

    **Arguments:**

    - `field`: a `Field` with a rest point (or pass `z`).
    - `method`: `"euler"`, `"alternating"`, `"rk4"`, `"extragradient"`, `"optimistic"`, an
      `UpdateRule`, or an optax transformation.
    - `lr`: the step size, positive (omit for optax transformations).
    - `z`: the point (default: the rest point).

    **Returns:** a float.

    **Raises:** `ValueError` for a missing, non-positive or non-finite `lr`, an `lr` given with
    an optax transformation, an unknown method, or a field without a rest point and no `z`.
    """
    m = step_jacobian(field, method, lr, z)
    if not np.all(np.isfinite(m)):
        raise ValueError(
            f"the Jacobian of one {get_rule(method).name!r} step of field {field.name!r} at the point is not finite: "
            f"the update is not differentiable there (e.g. Adam's 1/√v at v = 0), so it has no linearisation."
        )
    return float(_radii(m))


def max_stable_lr(field: Field, method="euler", *, z=None, lr_max: float | None = None) -> float:
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
    p = point_or_rest(field, z)
    # In float64 whatever the working precision (a scoped switch, restored on exit): at small
    # steps the radius is 1 - O(lr²) for extragradient/optimistic on a centre, which float32
    # cannot tell from 1.
    with jax.enable_x64(True):
        field64 = jax.tree_util.tree_map(_to_f64, field)
        p64 = jnp.asarray(np.asarray(p, np.float64))

        def radii(lrs):
            m = np.asarray(update_jacobians_over_lr(field64, p64, jnp.asarray(lrs, jnp.float64), rule=rule))
            # Eigenvalues on the host: non-symmetric eig is not available on every backend.
            return _radii(m)

        # A radius within a few ulp of 1 is marginal (e.g. a centre under alternating GD): not stable.
        tol = 1e-12
        grid = np.geomspace(hi * 1e-5, hi, 600)
        rho = radii(grid)
        stable = rho < 1.0 - tol
        # Small steps may be marginal to double precision (RK4 on a centre: ρ = 1 - O(lr⁶)).
        # A marginal prefix that turns stable counts as stable; one that never does (alternating
        # GD on a centre: ρ = 1 exactly) does not, and growth (ρ > 1) never does.
        marginal = np.abs(rho - 1.0) <= tol
        first_stable = int(np.argmax(stable)) if stable.any() else grid.size
        if first_stable == grid.size or not np.all(marginal[:first_stable]):
            return 0.0
        bad = first_stable + np.flatnonzero(~stable[first_stable:])
        if bad.size == 0:
            return math.inf
        a, b = float(grid[bad[0] - 1]), float(grid[bad[0]])
        for _ in range(40):
            mids = np.linspace(a, b, 18)[1:-1]  # 16 points per round (4 bits), one compile
            first_bad = np.flatnonzero(~(radii(mids) < 1.0 - tol))
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


def _to_f64(leaf):
    arr = jnp.asarray(leaf)
    return arr.astype(jnp.float64) if jnp.issubdtype(arr.dtype, jnp.floating) else arr



# ============================================================================ stability regions
# The spectral radius of one update over a grid of step sizes and a second hyper-parameter.

__all__ += ["StabilityRegion", "stability_region", "eigenvalues_over"]


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


def _grid_arg(name: str, values, positive: bool) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"stability_region argument `{name}` must be a 1-D array of numbers; got {values!r}.") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"stability_region argument `{name}` must be a non-empty 1-D array; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        what = "positive and finite" if positive else "finite"
        raise ValueError(f"stability_region argument `{name}` must be {what}; got {arr.tolist()}.")
    return arr


def stability_region(field: Field, method="euler", lrs=None, *, param: str | None = None, values=None,
                     z=None) -> StabilityRegion:
    """Spectral radius of one update at the rest point over step sizes and a second hyper-parameter.

    Each entry is `step_spectral_radius` (autodiff Jacobian of one full update, state plus
    optimiser state); all Jacobians of the grid come from one jit-compiled, vmapped function,
    and their eigenvalues are taken on the host. Stability regions of game optimisers are the
    object of Gidel et al. 2019 ("Negative Momentum for Improved Game Dynamics") and
    Mescheder et al. 2017 ("The Numerics of GANs").

    **Arguments:**

    - `field`: a `Field` with a rest point (or pass `z`).
    - `method`: a rule that takes a step size (`"euler"`, `"alternating"`, `"rk4"`,
      `"extragradient"`, `"optimistic"`, an `UpdateRule`), **or** a factory `method(lr, value)`
      returning an optax transformation (for example `lambda lr, b: optax.sgd(lr, momentum=b)`);
      the factory is called with traced numbers.
    - `lrs`: `Float[ArrayLike, "L"]`, positive step sizes.
    - `param`: with a rule: the name of a field parameter (e.g. `"r1_gamma"`) swept over
      `values`; with a factory: a label for the factory's second argument (default `"value"`).
    - `values`: `Float[ArrayLike, "P"]` (required with `param` or a factory).
    - `z`: the point (default: the rest point, recomputed for each parameter value).

    **Returns:** a `StabilityRegion` with `radius` of shape `(P, L)` (or `(L,)`).

    **Raises:** `ValueError`/`TypeError` for bad `lrs`, `values`, `param` or `method`, or a field
    without a rest point, before anything is compiled.
    """
    if not isinstance(field, Field):
        raise TypeError(f"`field` must be a jaxgan Field; got {type(field).__name__}.")
    if lrs is None:
        raise ValueError("stability_region argument `lrs` is required (a 1-D array of positive step sizes).")
    lrs = _grid_arg("lrs", lrs, True)
    is_factory = callable(method) and not isinstance(method, str) and not _is_rule_like(method)
    if is_factory:
        if values is None:
            raise ValueError("stability_region argument `values` is required with a factory `method(lr, value)`.")
        param = param or "value"
        rule, name = None, getattr(method, "__name__", "optax")
    else:
        rule = get_rule(method)
        if not rule.takes_lr:
            raise ValueError(f"stability_region argument `method`: {rule.name!r} carries its own step size; pass "
                             f"a factory `method(lr, value)` returning the optax transformation instead.")
        name = rule.name
        if param is not None:
            if not isinstance(field.params, dict) or param not in field.params:
                have = sorted(field.params) if isinstance(field.params, dict) else []
                raise ValueError(f"stability_region argument `param` must name a parameter of field "
                                 f"{field.name!r} ({have}); got {param!r}.")
            if values is None:
                raise ValueError("stability_region argument `values` is required with `param`.")
        elif values is not None:
            raise ValueError("stability_region argument `values` needs `param` (a field parameter name) or a "
                             "factory `method`.")
    vals = None if values is None else _grid_arg("values", values, False)
    if z is None and field.rest_point is None:
        raise ValueError(f"field {field.name!r} has no known rest point; pass `z=`.")
    z_fixed = None if z is None else point_or_rest(field, z)
    dtype = jnp.result_type(float)

    def jac(lr, val):
        f = field
        if rule is not None and param is not None:
            f = field.replace(**{param: val})
        p = z_fixed if z_fixed is not None else jnp.asarray(f.rest_point, dtype)
        if rule is None:
            r, lr_arg = _uncached_optax_rule(method(lr, val)), None
        else:
            r, lr_arg = rule, lr
        return update_jacobian(f, p, lr_arg, r)

    lr_arr = jnp.asarray(lrs, dtype)
    val_arr = jnp.asarray(vals if vals is not None else [0.0], dtype)
    jacs = jax.jit(jax.vmap(jax.vmap(jac, in_axes=(0, None)), in_axes=(None, 0)))(lr_arr, val_arr)
    radius = _radii(np.asarray(jacs, dtype=np.float64))
    if vals is None:
        radius = radius[0]
    return StabilityRegion(lrs, vals, radius, name, param, field.name)


def _radii(m: np.ndarray) -> np.ndarray:
    """Spectral radii of a stack of matrices `(..., k, k)`; NaN where a matrix is not finite."""
    m = np.asarray(m, dtype=np.float64)
    ok = np.all(np.isfinite(m), axis=(-2, -1))
    out = np.full(ok.shape, np.nan)
    if np.any(ok):
        out[ok] = np.max(np.abs(np.linalg.eigvals(m[ok])), axis=-1)
    return out if out.ndim else float(out)


def _is_rule_like(method) -> bool:
    from ..dynamics import UpdateRule, _is_optax

    return isinstance(method, UpdateRule) or _is_optax(method)


def _uncached_optax_rule(tx):
    # The dynamics' optax rule without its cache (the factory's transform closes over tracers).
    from ..dynamics import _optax_rule

    return _optax_rule.__wrapped__(tx)


def eigenvalues_over(field: Field, param: str, values, *, z=None) -> np.ndarray:
    """Eigenvalues of the Jacobian at the rest point as one field parameter varies.

    All Jacobians come from one jit-compiled `vmap` over `values` (the parameter is a traced
    leaf), eigenvalues on the host, each row sorted like `analyze` (by real, then imaginary part).

    **Arguments:** `field`: a `Field` with dict params; `param`: one of its parameter names (e.g.
    `"r1_gamma"`); `values`: `Float[ArrayLike, "P"]`; `z`: the point (default: the rest point,
    recomputed for each value).

    **Returns:** `Complex[ndarray, "P n"]`.

    **Raises:** `ValueError` for an unknown `param`, bad `values`, or no rest point.
    """
    if not isinstance(field, Field):
        raise TypeError(f"`field` must be a jaxgan Field; got {type(field).__name__}.")
    if not isinstance(field.params, dict) or param not in field.params:
        have = sorted(field.params) if isinstance(field.params, dict) else []
        raise ValueError(f"eigenvalues_over argument `param` must name a parameter of field {field.name!r} "
                         f"({have}); got {param!r}.")
    try:
        vals = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"eigenvalues_over argument `values` must be a 1-D array of numbers; got {values!r}.") from None
    if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ValueError(f"eigenvalues_over argument `values` must be a non-empty 1-D array of finite numbers; "
                         f"got shape {vals.shape}.")
    if z is None and field.rest_point is None:
        raise ValueError(f"field {field.name!r} has no known rest point; pass `z=`.")
    z_fixed = None if z is None else point_or_rest(field, z)
    dtype = jnp.result_type(float)

    def jac(v):
        f = field.replace(**{param: v})
        p = z_fixed if z_fixed is not None else jnp.asarray(f.rest_point, dtype)
        return jacobian(f, p)

    m = np.asarray(jax.jit(jax.vmap(jac))(jnp.asarray(vals, dtype)), dtype=np.float64)
    ev = np.linalg.eigvals(m).astype(np.complex128)
    order = np.lexsort((ev.imag, ev.real), axis=-1)
    return np.take_along_axis(ev, order, axis=-1)
