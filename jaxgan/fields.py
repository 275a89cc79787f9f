"""The `Field`: a pure JAX vector field `v(z) -> dz/dt` plus what is known about it.

Everything in jaxgan builds, analyses, runs or shows a `Field`. A field is a pytree:
its numeric parameters (`pd`, penalty weights, ...) are leaves, so a compiled function
that takes a field recompiles only when the *kind* of field changes, not its numbers.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import games as _games
from ._checks import check_int

__all__ = ["Field", "pointwise_field"]


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


@jax.tree_util.register_pytree_node_class
class Field:
    """A vector field `v(z) = velocity(params, z)` on states `z: Float[Array, "n"]`.

    **Arguments:**

    - `velocity`: `velocity(params, z) -> dz/dt`, pure JAX, `z` of shape `(n,)`.
    - `params`: a pytree of numbers the velocity reads (traced: changing them does not
      recompile anything that takes the field as an argument).
    - `rest_point`: the rest point `z*` (array of shape `(n,)`), or a function
      `rest_point(params) -> z*`, or `None` if unknown.
    - `lower`, `upper`: per-coordinate bounds of the domain (default: unbounded).
    - `closed`: per-coordinate pair `(lower_closed, upper_closed)`; default all open.
    - `name`: a short name for messages and figures.
    - `labels`: names of the coordinates (default `z0, z1, ...`).
    - `players`: groups of coordinate indices, one per player, in the order alternating
      updates visit them (default: one coordinate per player, in order).
    - `meta`: a dict of static extras (for example the `Game` a field came from, or what a
      regulariser needs); hashable values only.

    A field is callable: `field(z)` is `velocity(params, z)` and works under `vmap`.
    """

    def __init__(
        self,
        velocity: Callable[[Any, jax.Array], jax.Array],
        params: Any = None,
        *,
        rest_point: Any = None,
        lower: Sequence[float] | None = None,
        upper: Sequence[float] | None = None,
        closed: Sequence[tuple[bool, bool]] | None = None,
        name: str = "field",
        labels: Sequence[str] | None = None,
        players: Sequence[Sequence[int]] | None = None,
        meta: dict | None = None,
    ):
        if not callable(velocity):
            raise TypeError(f"Field argument `velocity` must be callable; got {type(velocity).__name__}.")
        self.velocity = velocity
        self.params = {} if params is None else params
        if callable(rest_point):
            self._rest_fn, self._rest_value = rest_point, None
        else:
            self._rest_fn = None
            self._rest_value = None if rest_point is None else jnp.asarray(rest_point, dtype=_float())
        n = _infer_dim(labels, lower, upper, self._rest_value)
        if n is None:
            raise ValueError("Field needs its dimension: pass `labels`, `lower`/`upper` or a `rest_point` array.")
        self.lower = tuple(float(v) for v in (lower if lower is not None else [-math.inf] * n))
        self.upper = tuple(float(v) for v in (upper if upper is not None else [math.inf] * n))
        self.closed = tuple(tuple(bool(b) for b in c) for c in (closed if closed is not None else [(False, False)] * n))
        self.labels = tuple(labels) if labels is not None else tuple(f"z{i}" for i in range(n))
        self.players = tuple(tuple(int(i) for i in p) for p in (players if players is not None else [(i,) for i in range(n)]))
        self.name = str(name)
        self.meta = tuple(sorted((meta or {}).items()))
        for arg, val in (("lower", self.lower), ("upper", self.upper), ("closed", self.closed), ("labels", self.labels)):
            if len(val) != n:
                raise ValueError(f"Field argument `{arg}` must have length {n} (the state dimension); got {len(val)}.")
        covered = sorted(i for p in self.players for i in p)
        if covered != list(range(n)):
            raise ValueError(f"Field argument `players` must partition the coordinates 0..{n - 1}; got {self.players}.")

    # -- pytree protocol: numbers are leaves, everything else is static.
    def tree_flatten(self):
        children = (self.params, self._rest_value)
        aux = (self.velocity, self._rest_fn, self.lower, self.upper, self.closed, self.name,
               self.labels, self.players, self.meta)
        return children, aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.params, obj._rest_value = children
        (obj.velocity, obj._rest_fn, obj.lower, obj.upper, obj.closed, obj.name,
         obj.labels, obj.players, obj.meta) = aux
        return obj

    # -- behaviour
    def __call__(self, z):
        return self.velocity(self.params, z)

    @property
    def dim(self) -> int:
        """The state dimension n."""
        return len(self.labels)

    @property
    def rest_point(self):
        """The rest point `z*` (shape `(n,)`), or `None` when unknown."""
        if self._rest_fn is not None:
            return jnp.asarray(self._rest_fn(self.params))
        return self._rest_value

    def get_meta(self, key, default=None):
        """A static extra stored with the field (e.g. `"game"`)."""
        return dict(self.meta).get(key, default)

    def in_domain(self, z) -> jax.Array:
        """Whether `z` (shape `(..., n)`) lies inside the field's domain; shape `(...)`. Pure JAX."""
        z = jnp.asarray(z)
        ok = jnp.all(jnp.isfinite(z), axis=-1)
        for i, (lo, hi, (clo, chi)) in enumerate(zip(self.lower, self.upper, self.closed)):
            zi = z[..., i]
            if math.isfinite(lo):
                ok = ok & ((zi >= lo) if clo else (zi > lo))
            if math.isfinite(hi):
                ok = ok & ((zi <= hi) if chi else (zi < hi))
        return ok

    def replace(self, **params) -> "Field":
        """A copy with some entries of a dict `params` replaced (e.g. `field.replace(pd=0.3)`)."""
        if not isinstance(self.params, dict):
            raise TypeError("Field.replace needs dict params.")
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(f"Field {self.name!r} has no parameter(s) {sorted(unknown)}; it has {sorted(self.params)}.")
        children, aux = self.tree_flatten()
        new = dict(self.params)
        new.update({k: jnp.asarray(v, dtype=jnp.result_type(self.params[k])) for k, v in params.items()})
        return Field.tree_unflatten(aux, (new, children[1]))

    def domain_str(self, max_items: int = 6) -> str:
        """The domain in words, e.g. `D ∈ (0, 1), pg ∈ [0, ∞)`; long states are abbreviated."""
        parts = []
        for lab, lo, hi, (clo, chi) in zip(self.labels, self.lower, self.upper, self.closed):
            parts.append(f"{lab} ∈ {'[' if clo else '('}{_fmt(lo)}, {_fmt(hi)}{']' if chi else ')'}")
        if len(parts) > max_items:
            head = max_items // 2
            parts = parts[:head] + [f"… ({len(parts) - max_items + 1} more) …"] + parts[-(max_items - head - 1):]
        return ", ".join(parts)

    def __repr__(self):
        return f"Field(name={self.name!r}, dim={self.dim}, params={_short(self.params)}, domain: {self.domain_str()})"


def _fmt(v: float) -> str:
    return "∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:g}"


def _short(params) -> str:
    if isinstance(params, dict):
        return "{" + ", ".join(f"{k}={np.asarray(v).tolist() if _is_concrete(v) else '<traced>'}" for k, v in params.items()) + "}"
    return type(params).__name__


def _infer_dim(labels, lower, upper, rest):
    for seq in (labels, lower, upper):
        if seq is not None:
            return len(seq)
    if rest is not None:
        return int(rest.shape[-1])
    return None


def _float():
    return jnp.result_type(float)


def _check_scalar(fn: str, arg: str, value, *, positive: bool, what: str = ""):
    """A finite scalar, positive or non-negative (a traced value passes unchecked), as an array
    of the default float dtype; errors name `fn` and `arg`."""
    sign = "positive" if positive else "non-negative"
    if _is_concrete(value):
        try:
            val = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{fn} argument `{arg}` must be a {sign} number; got {value!r}.") from None
        if val.shape != ():
            raise ValueError(f"{fn} argument `{arg}` must be a scalar; got shape {val.shape}.")
        if not (np.isfinite(val) and (val > 0 if positive else val >= 0)):
            raise ValueError(f"{fn} argument `{arg}` must be {sign} and finite{what}; got {float(val)}.")
    return jnp.asarray(value, dtype=_float())


# ----------------------------------------------------------------------------- pointwise


@functools.lru_cache(maxsize=None)
def _pointwise_velocity(game: _games.Game):
    # One function object per game, so jit caches hit across pd values.
    def velocity(params, z):
        d, pg = z[0], z[1]
        pd, d0 = params["pd"], params["d0"]
        vd = pd * game.df1(d) + pg * game.df2(d)
        vpg = game.f3(d) - game.f3(d0)
        return jnp.stack([vd, vpg]).astype(z.dtype)

    return velocity


def _pointwise_rest(params):
    return jnp.stack([params["d0"], params["pd"]])


def pointwise_field(game: _games.Game | str, pd) -> Field:
    """The article's pointwise field of a game at one point x with data density `pd`.

        dD/dt  = pd f1'(D) + pg f2'(D)
        dpg/dt = f3(D) - f3(D0)

    on `z = (D, pg)`, with rest point `(D0, pd)`, domain `D ∈ d_domain`, `pg ≥ 0`.

    **Arguments:**

    - `game`: a `Game` or a preset name (see `jaxgan.games.names()`).
    - `pd`: the data density at the point, positive and finite (may be a traced value).

    **Returns:** a `Field` of dimension 2 with labels `("D", "pg")`, `params = {"pd", "d0"}`
    and `meta["game"] = game`.

    **Raises:** `ValueError` for a non-positive or non-finite `pd`, an unknown game name, or
    a game whose `f1' + f2'` has no root (no rest point).
    """
    game = _games.get(game)
    dtype = _float()
    _check_scalar("pointwise_field", "pd", pd, positive=True, what=" (a density)")
    d0 = game.rest_d(dtype)
    lo, hi = game.d_domain
    return Field(
        _pointwise_velocity(game),
        {"pd": jnp.asarray(pd, dtype=dtype), "d0": jnp.asarray(d0, dtype=dtype)},
        rest_point=_pointwise_rest,
        lower=(lo, 0.0),
        upper=(hi, math.inf),
        closed=((False, False), (True, False)),
        name=game.name,
        labels=("D", "pg"),
        meta={"game": game, "kind": "pointwise"},
    )


# ============================================================================ parametric games and regularisers
# Small parametric games (Dirac-GAN, bilinear) and regulariser transforms Field -> Field.
#
# A regulariser that needs the discriminator's x-dependence (R1, R2, WGAN-GP) reads it from
# `field.get_meta("gan")`, a `GANSpec`; instance noise reads `field.get_meta("perturbed_velocity")`,
# the game's velocity with every real / generated sample shifted. Every transform keeps its weight
# as a traced entry of `field.params` (a new weight does not recompile) and caches its velocity
# function per base velocity (jit caches hit across weights).

import dataclasses as _dataclasses

__all__ += ["GANSpec", "dirac_gan", "bilinear", "r1", "r2", "wgan_gp", "instance_noise", "consensus", "sga"]


@_dataclasses.dataclass(frozen=True)
class GANSpec:
    """What a sample-based GAN field tells its regularisers (stored as `field.get_meta("gan")`).

    The game, in the form of Mescheder et al. 2018 ("Which Training Methods for GANs do
    actually Converge?", Sec. 2): the discriminator ascends

        L(z) = mean_j f(D(y_j)) + mean_i f(-D(x_i)),    y_j generated, x_i data samples,

    the generator descends L ("minimax") or ascends mean_j f(-D(y_j)) ("non_saturating").

    - `f`: the scalar loss function `f(t)`.
    - `generator`: `"minimax"` or `"non_saturating"`.
    - `discriminator`: `D(params, z, x) -> scalar`, for one sample `x: Float[Array, "d"]`.
    - `data_samples`: `(params, z) -> Float[Array, "m d"]`, equally weighted.
    - `generator_samples`: `(params, z) -> Float[Array, "k d"]`, equally weighted.
    - `discriminator_coords`, `generator_coords`: which coordinates of `z` each player owns.
    - `data_dim`: `d`.

    All callables must be hashable (module-level functions are), so fields stay pytrees with
    static structure.
    """

    f: Callable
    generator: str
    discriminator: Callable
    data_samples: Callable
    generator_samples: Callable
    discriminator_coords: tuple
    generator_coords: tuple
    data_dim: int

    def disc_mask(self, n: int, dtype) -> jax.Array:
        """1 on the discriminator's coordinates, 0 elsewhere; shape `(n,)`."""
        return jnp.zeros((n,), dtype).at[jnp.asarray(self.discriminator_coords)].set(1)

    def gen_mask(self, n: int, dtype) -> jax.Array:
        """1 on the generator's coordinates, 0 elsewhere; shape `(n,)`."""
        return jnp.zeros((n,), dtype).at[jnp.asarray(self.generator_coords)].set(1)


def _logistic_f(t):
    # f(t) = -log(1 + exp(-t)): the standard GAN (Mescheder et al. 2018, Sec. 2); f'(0) = 1/2, f''(0) = -1/4.
    return jax.nn.log_sigmoid(t)


def _wasserstein_f(t):
    # f(t) = t: WGAN (Arjovsky et al. 2017); f'(0) = 1, f''(0) = 0.
    return t


_F_PRESETS = {"logistic": _logistic_f, "wasserstein": _wasserstein_f}
_GENERATORS = ("minimax", "non_saturating")


def _dirac_disc(params, z, x):
    # D_psi(x) = psi * x
    return z[1] * x[0]


def _dirac_data(params, z):
    # data distribution delta_0
    return jnp.zeros((1, 1), z.dtype)


def _dirac_fake(params, z):
    # generator distribution delta_theta
    return jnp.reshape(z[0], (1, 1))


@functools.lru_cache(maxsize=None)
def _gan_velocity(spec: GANSpec):
    """`(velocity(params, z), perturbed(params, z, shift_real, shift_fake))` of a sample GAN, by autodiff."""
    f = spec.f

    def perturbed(params, z, er, ef):
        n = z.shape[-1]
        dmask, gmask = spec.disc_mask(n, z.dtype), spec.gen_mask(n, z.dtype)
        disc = jax.vmap(lambda zz, x: spec.discriminator(params, zz, x), in_axes=(None, 0))

        def loss(zz):  # what the discriminator ascends
            fake = spec.generator_samples(params, zz) + ef
            real = spec.data_samples(params, zz) + er
            return jnp.mean(f(disc(zz, fake))) + jnp.mean(f(-disc(zz, real)))

        def gen_objective(zz):  # what the generator ascends
            if spec.generator == "minimax":
                return -loss(zz)
            fake = spec.generator_samples(params, zz) + ef
            return jnp.mean(f(-disc(zz, fake)))

        v = dmask * jax.grad(loss)(z) + gmask * jax.grad(gen_objective)(z)
        return v.astype(z.dtype)

    def velocity(params, z):
        zero = jnp.zeros((spec.data_dim,), z.dtype)
        return perturbed(params, z, zero, zero)

    return velocity, perturbed


def _resolve_f(f, fn: str):
    if isinstance(f, str):
        if f not in _F_PRESETS:
            raise ValueError(f"{fn} argument `f` must be one of {sorted(_F_PRESETS)} or a callable f(t); got {f!r}.")
        return _F_PRESETS[f], f
    if not callable(f):
        raise TypeError(f"{fn} argument `f` must be a name ({', '.join(_F_PRESETS)}) or a callable f(t); "
                        f"got {type(f).__name__}.")
    try:
        out = jax.eval_shape(f, jax.ShapeDtypeStruct((), _float()))
    except Exception as exc:  # noqa: BLE001 - report what the callable did
        raise TypeError(f"{fn} argument `f` must map a scalar to a scalar; calling it failed: {exc}") from None
    if getattr(out, "shape", None) != ():
        raise ValueError(f"{fn} argument `f` must return a scalar; got {out}.")
    return f, getattr(f, "__name__", "f")


def dirac_gan(f: str | Callable = "logistic", generator: str = "minimax") -> Field:
    """The Dirac-GAN of Mescheder et al. 2018 ("Which Training Methods for GANs do actually
    Converge?", Sec. 2): generator `δ_θ`, discriminator `D_ψ(x) = ψ·x`, data `δ_0`.

    The discriminator ascends `L(θ, ψ) = f(ψθ) + f(0)`; the minimax generator descends it,
    the non-saturating one ascends `f(-ψθ)`. For the minimax generator the field is

        v(θ, ψ) = (-f'(θψ)·ψ,  f'(θψ)·θ),

    rest point `0`, Jacobian there `[[0, -f'(0)], [f'(0), 0]]` (eigenvalues `±f'(0)i`: a centre;
    the non-saturating generator has the same Jacobian), and the continuous flow keeps `θ² + ψ²`.
    The velocity is computed by autodiff of the loss, so any `f` works.

    **Arguments:**

    - `f`: `"logistic"` (`f(t) = -log(1 + e^{-t})`, the standard GAN, `f'(0) = 1/2`),
      `"wasserstein"` (`f(t) = t`, `f'(0) = 1`) or a callable scalar `f(t)` (pass the same function
      object each time to share compiled code).
    - `generator`: `"minimax"` or `"non_saturating"`.

    **Returns:** a `Field` on `z = (θ, ψ)` (labels `("theta", "psi")`), unbounded, rest point `0`,
    `players = ((1,), (0,))` (alternating updates move the discriminator first), with
    `meta["gan"]` a `GANSpec` (the discriminator's x-dependence, for `r1`, `r2`, `wgan_gp`) and
    `meta["perturbed_velocity"]` (for `instance_noise`).

    **Raises:** `ValueError`/`TypeError` for an unknown `f` or `generator`, or an `f` that does not
    map a scalar to a scalar.
    """
    fn, fname = _resolve_f(f, "dirac_gan")
    if generator not in _GENERATORS:
        raise ValueError(f"dirac_gan argument `generator` must be one of {_GENERATORS}; got {generator!r}.")
    spec = GANSpec(fn, generator, _dirac_disc, _dirac_data, _dirac_fake, (1,), (0,), 1)
    velocity, perturbed = _gan_velocity(spec)
    name = "dirac_gan" + ("" if fname == "logistic" else f"[{fname}]") + ("" if generator == "minimax" else "[ns]")
    return Field(
        velocity, {}, rest_point=np.zeros(2), name=name, labels=("theta", "psi"), players=((1,), (0,)),
        meta={"kind": "dirac_gan", "gan": spec, "perturbed_velocity": perturbed},
    )


def _bilinear_velocity(params, z):
    # min_x max_y x·y: x descends (dx/dt = -y), y ascends (dy/dt = x).
    return jnp.stack([-z[1], z[0]]).astype(z.dtype)


def bilinear() -> Field:
    """The bilinear game `min_x max_y x·y`: `v(x, y) = (-y, x)`, a pure rotation (centre) about 0.

    The standard test of game optimisers (Gidel et al. 2019, "A Variational Inequality Perspective
    on Generative Adversarial Networks"; "Negative Momentum for Improved Game Dynamics"):
    simultaneous GD spirals out (radius `√(1 + η²)`), alternating GD stays on closed orbits
    (radius 1 for `η ≤ 2`), extragradient converges (radius `√(1 - η² + η⁴)`).

    **Returns:** a `Field` on `(x, y)`, unbounded, rest point 0, `players = ((1,), (0,))` (the
    maximising player, like a discriminator, moves first in alternating updates). It has no
    discriminator, so `r1`, `r2`, `wgan_gp` and `instance_noise` do not apply to it.
    """
    return Field(_bilinear_velocity, {}, rest_point=np.zeros(2), name="bilinear", labels=("x", "y"),
                 players=((1,), (0,)), meta={"kind": "bilinear"})


# ----------------------------------------------------------------------------- transform helpers


def _check_field(fn: str, field) -> Field:
    if not isinstance(field, Field):
        raise TypeError(f"{fn} argument `field` must be a jaxgan Field; got {type(field).__name__}.")
    if not isinstance(field.params, dict):
        raise TypeError(f"{fn} argument `field` must have dict params (to add its weight); field "
                        f"{field.name!r} has {type(field.params).__name__} params.")
    return field


def _check_weight(fn: str, arg: str, value):
    """A non-negative finite scalar (or a traced value, unchecked) in the default float dtype."""
    return _check_scalar(fn, arg, value, positive=False)


def _need_meta(fn: str, field: Field, key: str, what: str):
    val = field.get_meta(key)
    if val is None:
        raise ValueError(
            f"{fn} argument `field` must supply {what} (Field meta {key!r}, as jaxgan.fields.dirac_gan() "
            f"does); field {field.name!r} has none."
        )
    return val


def _new_key(params: dict, prefix: str) -> str:
    if prefix not in params:
        return prefix
    k = 2
    while f"{prefix}_{k}" in params:
        k += 1
    return f"{prefix}_{k}"


def _derived(field: Field, velocity, key: str, value, name: str, *, meta=None, drop=()) -> Field:
    params = dict(field.params)
    params[key] = value
    new_meta = {k: v for k, v in field.meta if k not in drop}
    new_meta.update(meta or {})
    rest = field._rest_fn if field._rest_fn is not None else field._rest_value
    return Field(velocity, params, rest_point=rest, lower=field.lower, upper=field.upper, closed=field.closed,
                 name=name, labels=field.labels, players=field.players, meta=new_meta)


def _safe_norm(g):
    # ‖g‖ with gradient 0 (not NaN) at g = 0: the symmetric subgradient.
    s = jnp.sum(g * g)
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


_GL_T, _GL_W = np.polynomial.legendre.leggauss(8)
_GL_T, _GL_W = (_GL_T + 1.0) / 2.0, _GL_W / 2.0  # Gauss–Legendre on [0, 1]


def _penalty(kind: str, spec: GANSpec, params, z, er, ef):
    """The penalty without its weight, at state `z`, samples shifted by `er` / `ef`."""
    grad_x = jax.vmap(jax.grad(lambda x: spec.discriminator(params, z, x)))
    if kind == "r1":
        g = grad_x(spec.data_samples(params, z) + er)
        return 0.5 * jnp.mean(jnp.sum(g * g, axis=-1))
    if kind == "r2":
        g = grad_x(spec.generator_samples(params, z) + ef)
        return 0.5 * jnp.mean(jnp.sum(g * g, axis=-1))
    # WGAN-GP: E over pairs (real, fake) and t ~ U[0, 1] of (‖∇D(t x + (1-t) y)‖ - 1)²;
    # the t-expectation by 8-point Gauss–Legendre, so the field stays deterministic.
    real = spec.data_samples(params, z) + er
    fake = spec.generator_samples(params, z) + ef
    t = jnp.asarray(_GL_T, z.dtype)[:, None, None, None]
    xhat = t * real[None, :, None, :] + (1 - t) * fake[None, None, :, :]  # (q, m, k, d)
    g = grad_x(xhat.reshape(-1, spec.data_dim))
    norms = jax.vmap(_safe_norm)(g).reshape(xhat.shape[:-1])
    w = jnp.asarray(_GL_W, z.dtype)[:, None, None]
    return jnp.sum(w * jnp.mean((norms - 1.0) ** 2, axis=(1, 2), keepdims=True))


@functools.lru_cache(maxsize=None)
def _penalised_velocity(base_velocity, base_perturbed, spec: GANSpec, key: str, kind: str):
    def pen_grad(params, z, er, ef):
        g = jax.grad(lambda zz: _penalty(kind, spec, params, zz, er, ef))(z)
        return spec.disc_mask(z.shape[-1], z.dtype) * g  # only the discriminator pays the penalty

    def velocity(params, z):
        zero = jnp.zeros((spec.data_dim,), z.dtype)
        return (base_velocity(params, z) - params[key] * pen_grad(params, z, zero, zero)).astype(z.dtype)

    if base_perturbed is None:
        return velocity, None

    def perturbed(params, z, er, ef):
        return (base_perturbed(params, z, er, ef) - params[key] * pen_grad(params, z, er, ef)).astype(z.dtype)

    return velocity, perturbed


def _gradient_penalty(fn: str, kind: str, prefix: str, arg: str, label: str, field, weight) -> Field:
    field = _check_field(fn, field)
    spec = _need_meta(fn, field, "gan", "the discriminator's x-dependence to compute ∇ₓD")
    weight = _check_weight(fn, arg, weight)
    key = _new_key(field.params, prefix)
    velocity, perturbed = _penalised_velocity(field.velocity, field.get_meta("perturbed_velocity"), spec, key, kind)
    meta = {"perturbed_velocity": perturbed} if perturbed is not None else {}
    return _derived(field, velocity, key, weight, f"{label}({field.name})", meta=meta, drop=("perturbed_velocity",))


# ----------------------------------------------------------------------------- gradient penalties


def r1(field: Field, gamma) -> Field:
    """Zero-centred gradient penalty on the data, R1 (Mescheder et al. 2018, "Which Training
    Methods for GANs do actually Converge?", Sec. 4, with Theorem 4.1 on its convergence):

        R1(ψ) = (γ/2) · E_{x∼p_D} ‖∇ₓD_ψ(x)‖²,

    subtracted from the discriminator's objective (the `γ/2` convention of the paper): the
    discriminator's velocity gets `-∇_ψ R1`. On the Dirac-GAN `R1 = (γ/2)ψ²`, and the Jacobian at
    the rest point `[[0, -f'(0)], [f'(0), -γ]]` has eigenvalues `-γ/2 ± √(γ²/4 - f'(0)²)` (a double
    eigenvalue at `γ = 2f'(0)`): locally convergent for every `γ > 0`.

    **Arguments:** `field`: a sample-GAN field with `meta["gan"]` (e.g. `dirac_gan()`); `gamma`:
    the weight, `≥ 0` (stored as the traced parameter `"r1_gamma"`, or `"r1_gamma_2"`, ... when
    already present).

    **Returns:** a `Field` with the same domain and rest point.

    **Raises:** `ValueError` if `field` lacks `meta["gan"]` or `gamma` is negative or not finite;
    `TypeError` for a non-Field or non-numeric weight.
    """
    return _gradient_penalty("r1", "r1", "r1_gamma", "gamma", "R1", field, gamma)


def r2(field: Field, gamma) -> Field:
    """Zero-centred gradient penalty on the generated samples, R2 (Mescheder et al. 2018, "Which
    Training Methods for GANs do actually Converge?", Sec. 4, Theorem 4.1):

        R2(θ, ψ) = (γ/2) · E_{x∼p_θ} ‖∇ₓD_ψ(x)‖²,

    paid by the discriminator only (its velocity gets `-∇_ψ R2`). On the Dirac-GAN it equals R1:
    eigenvalues `-γ/2 ± √(γ²/4 - f'(0)²)` at the rest point.

    **Arguments / Returns / Raises:** as `r1`; the parameter is `"r2_gamma"`.
    """
    return _gradient_penalty("r2", "r2", "r2_gamma", "gamma", "R2", field, gamma)


def wgan_gp(field: Field, lam) -> Field:
    """The WGAN-GP penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3):

        λ · E_{x̂} (‖∇ₓD(x̂)‖ - 1)²,   x̂ = t·x + (1 - t)·y,  x ∼ p_D, y ∼ p_θ, t ∼ U[0, 1],

    subtracted from the discriminator's objective. The expectation over `t` is an 8-point
    Gauss–Legendre rule (deterministic field), over samples an average over all pairs. At
    `∇ₓD = 0` the norm is not differentiable; its subgradient 0 is used. On the Dirac-GAN the
    penalty is `λ(|ψ| - 1)²`: it pushes `|ψ|` towards 1, so the field is discontinuous at
    `ψ = 0` and the rest point is not locally convergent (Mescheder et al. 2018: "WGAN-GP with a finite
    number of discriminator updates per generator update does not always converge") — the
    autodiff Jacobian there is that of the smooth branch and says nothing; simulate instead.

    **Arguments:** `field`: a sample-GAN field with `meta["gan"]`; `lam`: the weight `λ ≥ 0`
    (parameter `"gp_lambda"`). **Returns / Raises:** as `r1`.
    """
    return _gradient_penalty("wgan_gp", "gp", "gp_lambda", "lam", "GP", field, lam)


# ----------------------------------------------------------------------------- instance noise


@functools.lru_cache(maxsize=None)
def _noisy_velocity(base_perturbed, key: str, data_dim: int, n_nodes: int):
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)  # probabilists' Hermite: weight e^{-x²/2}
    w = w / math.sqrt(2.0 * math.pi)
    grid = np.stack(np.meshgrid(*([x] * data_dim), indexing="ij"), -1).reshape(-1, data_dim)
    wgrid = np.prod(np.stack(np.meshgrid(*([w] * data_dim), indexing="ij"), -1).reshape(-1, data_dim), -1)

    def perturbed(params, z, er, ef):
        s = params[key]
        nodes = jnp.asarray(grid, z.dtype)
        weights = jnp.asarray(wgrid, z.dtype)

        def at(a, b):
            return base_perturbed(params, z, er + s * a, ef + s * b)

        vals = jax.vmap(lambda a: jax.vmap(lambda b: at(a, b))(nodes))(nodes)  # (q, q, n)
        return jnp.einsum("i,j,ijn->n", weights, weights, vals).astype(z.dtype)

    def velocity(params, z):
        zero = jnp.zeros((data_dim,), z.dtype)
        return perturbed(params, z, zero, zero)

    return velocity, perturbed


def instance_noise(field: Field, sigma, *, n_nodes: int = 16) -> Field:
    """Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017; analysed by Mescheder et al.
    2018, "Which Training Methods for GANs do actually Converge?", Sec. 3, instance noise): every data
    and generated sample is perturbed by independent `N(0, σ²I)` noise, and the field is the
    expectation over the noise.

    The expectation is a tensor Gauss–Hermite rule with `n_nodes` nodes per data dimension, for
    the real and the fake noise independently (exact for polynomials of degree `< 2·n_nodes`).
    On the Dirac-GAN the Jacobian at the rest point is `[[0, -f'(0)], [f'(0), 2f''(0)σ²]]`, with
    eigenvalues `f''(0)σ² ± √(f''(0)²σ⁴ - f'(0)²)`: convergent iff `f''(0) < 0` (logistic: yes;
    Wasserstein, `f'' ≡ 0`: still a centre).

    Order matters: `instance_noise(r1(g), σ)` penalises the noisy data, `r1(instance_noise(g, σ), γ)`
    the clean data.

    **Arguments:**

    - `field`: a field with `meta["perturbed_velocity"]` (`dirac_gan()`, and gradient penalties or
      instance noise applied to it; `consensus`/`sga` remove it: apply noise before them).
    - `sigma`: the noise scale `σ ≥ 0` (parameter `"noise_sigma"`).
    - `n_nodes`: quadrature nodes per dimension (positive int).

    **Returns:** a `Field` with the same domain and rest point.

    **Raises:** `ValueError` if `field` lacks `meta["perturbed_velocity"]`, `sigma` is negative, or the
    quadrature would need more than 10⁵ evaluations; `TypeError` for bad types.
    """
    fn = "instance_noise"
    field = _check_field(fn, field)
    base_perturbed = _need_meta(fn, field, "perturbed_velocity",
                                "the game's velocity with shifted samples")
    spec = field.get_meta("gan")
    data_dim = spec.data_dim if spec is not None else 1
    check_int(fn, "n_nodes", n_nodes)
    if n_nodes ** (2 * data_dim) > 100_000:
        raise ValueError(f"{fn} argument `n_nodes`: {n_nodes}^(2·{data_dim}) quadrature evaluations is too many; "
                         f"use fewer nodes.")
    sigma = _check_weight(fn, "sigma", sigma)
    key = _new_key(field.params, "noise_sigma")
    velocity, perturbed = _noisy_velocity(base_perturbed, key, data_dim, int(n_nodes))
    return _derived(field, velocity, key, sigma, f"noise({field.name})", meta={"perturbed_velocity": perturbed})


# ----------------------------------------------------------------------------- consensus and SGA


@functools.lru_cache(maxsize=None)
def _consensus_velocity(base_velocity, key: str):
    def velocity(params, z):
        v, vjp = jax.vjp(lambda zz: base_velocity(params, zz), z)
        (jtv,) = vjp(v)  # ∇(½‖v‖²) = Jᵀv
        return (v - params[key] * jtv).astype(z.dtype)

    return velocity


def consensus(field: Field, gamma) -> Field:
    """Consensus optimisation (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs"):

        v_γ(z) = v(z) - γ·∇(½‖v(z)‖²) = v(z) - γ·J(z)ᵀ v(z),

    with `J = ∂v/∂z` by autodiff (one vector–Jacobian product). At a rest point the Jacobian is
    `J - γJᵀJ`; for the Dirac-GAN (`JᵀJ = f'(0)²I`) the eigenvalues are `-γf'(0)² ± f'(0)i`.

    **Arguments:** `field`: any `Field` with dict params; `gamma`: `γ ≥ 0` (parameter
    `"consensus_gamma"`).

    **Returns:** a `Field` with the same domain and rest point (meta `"perturbed_velocity"` is
    dropped: noise cannot be added after consensus).

    **Raises:** `ValueError` for a negative or non-finite `gamma`; `TypeError` for bad types.
    """
    field = _check_field("consensus", field)
    gamma = _check_weight("consensus", "gamma", gamma)
    key = _new_key(field.params, "consensus_gamma")
    return _derived(field, _consensus_velocity(field.velocity, key), key, gamma, f"consensus({field.name})",
                    drop=("perturbed_velocity",))


@functools.lru_cache(maxsize=None)
def _sga_velocity(base_velocity, key: str, align: bool, eps: float):
    def velocity(params, z):
        fn = lambda zz: base_velocity(params, zz)  # noqa: E731
        v, vjp = jax.vjp(fn, z)
        (jtv,) = vjp(v)
        jv = jax.jvp(fn, (z,), (v,))[1]
        # Aᵀv with A = ½(H - Hᵀ), H = -J the Jacobian of the loss gradients ξ = -v: Aᵀ = ½(J - Jᵀ).
        av = 0.5 * (jv - jtv)
        lam = params[key]
        if align:
            # ∇ℋ = Hᵀξ = Jᵀv for ℋ = ½‖ξ‖²; ⟨ξ, ∇ℋ⟩⟨Aᵀξ, ∇ℋ⟩ = ⟨v, Jᵀv⟩⟨Aᵀv, Jᵀv⟩ (two sign flips).
            a_b = jnp.vdot(v, jtv) * jnp.vdot(av, jtv)
            lam = lam * jnp.where(a_b / v.size + eps >= 0, 1.0, -1.0)
        return (v + lam * av).astype(z.dtype)

    return velocity


def sga(field: Field, lam, *, align: bool = False, eps: float = 0.1) -> Field:
    """Symplectic gradient adjustment (Balduzzi et al. 2018, "The Mechanics of n-Player
    Differentiable Games", Algorithm 1):

        ξ_λ = ξ + λ·Aᵀξ,   A = ½(H - Hᵀ),

    with `ξ = -v` the simultaneous gradient of the players' losses and `H = ∂ξ/∂z = -J` the game
    Hessian. As a velocity, `v_λ = v + λ·Aᵀv = v + (λ/2)(Jv - Jᵀv)`, by one JVP and one VJP.
    For a pure rotation (`J` antisymmetric, e.g. Dirac-GAN or bilinear at the rest point) the
    Jacobian becomes `J + λJ²`: Dirac-GAN eigenvalues `-λf'(0)² ± f'(0)i`, bilinear `-λ ± i`.

    With `align=True` the sign of λ follows the paper's alignment rule, so that the adjustment
    points towards stable fixed points and away from unstable ones:
    `λ ← λ·sign(⟨ξ, ∇ℋ⟩⟨Aᵀξ, ∇ℋ⟩ / n + ε)` with `ℋ = ½‖ξ‖²` (so `∇ℋ = Jᵀv`) and `n` the
    dimension of the state. Near a rest point the product vanishes (fourth order in `v`), the
    sign is `+`, and the linearisation is that of `align=False`.

    **Arguments:** `field`: any `Field` with dict params; `lam`: `λ ≥ 0` (parameter
    `"sga_lambda"`); `align`: use the sign-alignment rule; `eps`: its `ε > 0` (the paper's 1/10).

    **Returns / Raises:** as `consensus`; `ValueError` for `eps` not positive and finite.
    """
    field = _check_field("sga", field)
    lam = _check_weight("sga", "lam", lam)
    if not isinstance(align, (bool, np.bool_)):
        raise TypeError(f"sga argument `align` must be True or False; got {align!r}.")
    eps = float(_check_scalar("sga", "eps", eps, positive=True))
    key = _new_key(field.params, "sga_lambda")
    name = f"sga({field.name}, aligned)" if align else f"sga({field.name})"
    return _derived(field, _sga_velocity(field.velocity, key, bool(align), eps), key, lam, name,
                    drop=("perturbed_velocity",))
