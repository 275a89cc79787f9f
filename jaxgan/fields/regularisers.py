"""Regulariser transforms `Field -> Field`, as data.

A regularised field is a `Regularised`: a frozen dataclass and a `Field` that wraps its `base`
field and holds its weight as a traced leaf; its velocity is a method. Everything else it knows
(its kind, flags such as `align`, `eps`, `n_nodes`, and the structure of `base`) is static
pytree data compared by value, so `consensus(r1(dirac_gan(), 0.3), 1.0)` built twice, or with
other weights, shares compiled code, and a weight can be vmapped.

The dict view every caller uses stays: `field.params` is the base's params plus each weight
under its name (`r1_gamma`, `r2_gamma`, `gp_lambda`, `noise_sigma`, `consensus_gamma`,
`sga_lambda`; `_2`, `_3`, ... when a kind repeats, numbered from the innermost layer out), and
`field.replace(name=value)` routes the value to the layer that owns it.

A gradient penalty (R1, R2, WGAN-GP) needs the discriminator's x-dependence, a `GANSpec` in
`field.get_meta("gan")`; instance noise needs `field.get_meta("perturbed_velocity")`, the game's
velocity with every real / generated sample shifted (see `jaxgan.fields.dirac_gan`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_value, check_bool, check_instance, check_int, check_scalar, where
from ..errors import ArgumentError, ArgumentTypeError
from .field import Field, _check_known, _check_param_value, _leaf_dtype

__all__ = ["Regularised", "GradientPenalty", "InstanceNoise", "Consensus", "SymplecticAdjustment",
           "r1", "r2", "wgan_gp", "instance_noise", "consensus", "sga"]

_PERTURBED = "perturbed_velocity"


# ----------------------------------------------------------------------------- the data type


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Regularised(Field):
    """A field `base` transformed by one regulariser of weight `weight` (a traced scalar).

    Build one with `r1`, `r2`, `wgan_gp`, `instance_noise`, `consensus` or `sga` (which check
    their arguments); the constructor itself does not check, because JAX rebuilds pytrees with
    placeholder leaves. The domain, labels, players and rest point are the base's; `meta` is
    the base's (without `"perturbed_velocity"` for regularisers after which noise cannot be
    added); `params`, `replace` and `velocity(params, z)` follow the `Field` conventions.
    """

    base: Field
    weight: Any

    prefix: ClassVar[str]  # the weight's name in `params` (before numbering)
    keeps_perturbation: ClassVar[bool] = False  # whether instance noise can still be added after it

    # -- pytree protocol: (base, weight) are children, the dataclass's other fields static aux data.
    def tree_flatten(self):
        return (self.base, self.weight), tuple(getattr(self, f.name) for f in dataclasses.fields(self)[2:])

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)

    # -- the layers and the dict view
    def layers(self) -> tuple[Field, list[tuple["Regularised", str]]]:
        """`(root, [(layer, weight name), ...])`: the unregularised field at the bottom and the
        regulariser layers from the innermost out, each with the name of its weight in `params`."""
        chain, field = [], self
        while isinstance(field, Regularised):
            chain.append(field)
            field = field.base
        taken, named = set(field.params), []
        for layer in reversed(chain):
            key = _new_key(taken, layer.prefix)
            taken.add(key)
            named.append((layer, key))
        return field, named

    @property
    def params(self) -> dict:
        """The root field's params and every layer's weight by name (a new dict each time)."""
        root, named = self.layers()
        return {**root.params, **{key: layer.weight for layer, key in named}}

    def replace(self, **values) -> "Field":
        """A copy with some parameters replaced: a weight name goes to its layer, any other name
        to the root field. Values keep the dtype they replace. Concrete values obey the
        constructors' rules (a weight is non-negative and finite; the root's parameters follow
        its `param_rules`, so a pointwise field's `d0` is refused); traced and batched values
        pass unchecked.

        **Raises:** `ArgumentError` for a name not in `params` (the message lists them) or a value
        its rule refuses; `ArgumentTypeError` for a non-numeric value (a bool included).
        """
        _check_known(self, values)
        for k, v in values.items():
            self.check_param("Field.replace", k, k, v)
        return self._replace(**values)

    @property
    def param_rules(self) -> tuple:
        """The root's `param_rules` and `"non-negative"` for every layer's weight."""
        root, named = self.layers()
        return tuple(sorted({**dict(root.param_rules), **{key: "non-negative" for _, key in named}}.items()))

    def check_param(self, fn: str, arg: str, name: str, value) -> None:
        """As `Field.check_param`, with each weight checked in its layer's dtype."""
        root, named = self.layers()
        for layer, key in named:
            if key == name:
                return _check_param_value(fn, arg, name, "non-negative", value, _leaf_dtype(layer.weight))
        return root.check_param(fn, arg, name, value)

    def _replace(self, **values) -> "Field":
        # `replace` without the value checks (see `Field._replace`).
        _check_known(self, values)
        root, named = self.layers()
        weights = {key for _, key in named}
        field = root._replace(**{k: v for k, v in values.items() if k not in weights})
        for layer, key in named:
            weight = layer.weight
            if key in values:
                weight = jnp.asarray(values[key], dtype=jnp.result_type(weight))
            field = dataclasses.replace(layer, base=field, weight=weight)
        return field

    def velocity(self, params, z):
        """`velocity(params, z)`: the field's velocity with `params` (the dict view) in place of
        its own, the `Field` convention."""
        return self._replace(**params)(z)

    def _perturbed_velocity(self, params, z, shift_real, shift_fake):
        # `meta["perturbed_velocity"]` of a layer that keeps it (and defines `_perturbed`), in the
        # Field convention.
        return self._replace(**params)._perturbed(z, shift_real, shift_fake)

    # -- what the base knows
    @property
    def rest_point(self):
        """The base's rest point (shape `(n,)`), or `None` when unknown."""
        return self.base.rest_point

    @property
    def lower(self):
        return self.base.lower

    @property
    def upper(self):
        return self.base.upper

    @property
    def closed(self):
        return self.base.closed

    @property
    def labels(self):
        return self.base.labels

    @property
    def players(self):
        return self.base.players

    @property
    def meta(self) -> tuple:
        meta = dict(self.base.meta)
        if _PERTURBED in meta:
            if self.keeps_perturbation:
                meta[_PERTURBED] = self._perturbed_velocity
            else:
                del meta[_PERTURBED]
        return tuple(sorted(meta.items()))


def _perturbed(field: Field, z, shift_real, shift_fake):
    """`field`'s velocity at `z` with shifted samples (the field supplies `"perturbed_velocity"`)."""
    if isinstance(field, Regularised):
        return field._perturbed(z, shift_real, shift_fake)
    return field.get_meta(_PERTURBED)(field.params, z, shift_real, shift_fake)


def _new_key(taken: set, prefix: str) -> str:
    if prefix not in taken:
        return prefix
    k = 2
    while f"{prefix}_{k}" in taken:
        k += 1
    return f"{prefix}_{k}"


# ----------------------------------------------------------------------------- gradient penalties


def _safe_norm(g):
    # ‖g‖ with gradient 0 (not NaN) at g = 0: the symmetric subgradient.
    s = jnp.sum(g * g)
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


_GL_T, _GL_W = np.polynomial.legendre.leggauss(8)
_GL_T, _GL_W = (_GL_T + 1.0) / 2.0, _GL_W / 2.0  # Gauss–Legendre on [0, 1]


def _penalty(kind: str, spec, params, z, er, ef):
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


_PENALTY_PREFIX = {"r1": "r1_gamma", "r2": "r2_gamma", "gp": "gp_lambda"}
_PENALTY_LABEL = {"r1": "R1", "r2": "R2", "gp": "GP"}


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GradientPenalty(Regularised):
    """`base` with a gradient penalty of kind `"r1"`, `"r2"` or `"gp"` (WGAN-GP), paid by the
    discriminator only: its velocity gets `-weight·∇_ψ penalty` (see `r1`, `r2`, `wgan_gp`)."""

    kind: str

    keeps_perturbation: ClassVar[bool] = True

    @property
    def prefix(self) -> str:
        return _PENALTY_PREFIX[self.kind]

    @property
    def name(self) -> str:
        return f"{_PENALTY_LABEL[self.kind]}({self.base.name})"

    def _penalty_grad(self, z, shift_real, shift_fake):
        spec = self.get_meta("gan")
        params = self.layers()[0].params  # the GAN's own params, as its spec expects
        g = jax.grad(lambda zz: _penalty(self.kind, spec, params, zz, shift_real, shift_fake))(z)
        return spec.disc_mask(z.shape[-1], z.dtype) * g  # only the discriminator pays the penalty

    def __call__(self, z):
        zero = jnp.zeros((self.get_meta("gan").data_dim,), z.dtype)
        return (self.base(z) - self.weight * self._penalty_grad(z, zero, zero)).astype(z.dtype)

    def _perturbed(self, z, shift_real, shift_fake):
        v = _perturbed(self.base, z, shift_real, shift_fake)
        return (v - self.weight * self._penalty_grad(z, shift_real, shift_fake)).astype(z.dtype)


def _check_field(fn: str, field) -> Field:
    check_instance(fn, "field", field, Field, "a jaxgan Field")
    if not isinstance(field.params, dict):
        raise ArgumentTypeError(f"{where(fn, 'field')} must have dict params (to add its weight); field "
                                f"{field.name!r} has {type(field.params).__name__} params.")
    return field


def _need_meta(fn: str, field: Field, key: str, what: str):
    val = field.get_meta(key)
    if val is None:
        raise ArgumentError(
            f"{where(fn, 'field')} must supply {what} (Field meta {key!r}, as jaxgan.fields.dirac_gan() "
            f"does); field {field.name!r} has none."
        )
    return val


def _gradient_penalty(fn: str, kind: str, arg: str, field, weight) -> GradientPenalty:
    field = _check_field(fn, field)
    _need_meta(fn, field, "gan", "the discriminator's x-dependence to compute ∇ₓD")
    weight = check_scalar(fn, arg, weight, sign="non-negative")
    return GradientPenalty(field, weight, kind)


def r1(field: Field, gamma) -> GradientPenalty:
    """Zero-centred gradient penalty on the data, R1 (Mescheder et al. 2018, "Which Training
    Methods for GANs do actually Converge?", Sec. 4, with Theorem 4.1 on its convergence):

        R1(ψ) = (γ/2) · E_{x∼p_D} ‖∇ₓD_ψ(x)‖²,

    subtracted from the discriminator's objective (the `γ/2` convention of the paper): the
    discriminator's velocity gets `-∇_ψ R1`. On the Dirac-GAN `R1 = (γ/2)ψ²`, and the Jacobian at
    the rest point `[[0, -f'(0)], [f'(0), -γ]]` has eigenvalues `-γ/2 ± √(γ²/4 - f'(0)²)` (a double
    eigenvalue at `γ = 2f'(0)`): locally convergent for every `γ > 0`.

    **Arguments:** `field`: a sample-GAN field with `meta["gan"]` (e.g. `dirac_gan()`); `gamma`:
    the weight, `≥ 0` (a traced leaf, named `"r1_gamma"` in `params`, or `"r1_gamma_2"`, ... when
    already present).

    **Returns:** a `GradientPenalty` field with the same domain and rest point.

    **Raises:** `ArgumentError` if `field` lacks `meta["gan"]` or `gamma` is not a scalar, negative
    or not finite; `ArgumentTypeError` for a non-Field or a non-numeric weight.
    """
    return _gradient_penalty("r1", "r1", "gamma", field, gamma)


def r2(field: Field, gamma) -> GradientPenalty:
    """Zero-centred gradient penalty on the generated samples, R2 (Mescheder et al. 2018, "Which
    Training Methods for GANs do actually Converge?", Sec. 4, Theorem 4.1):

        R2(θ, ψ) = (γ/2) · E_{x∼p_θ} ‖∇ₓD_ψ(x)‖²,

    paid by the discriminator only (its velocity gets `-∇_ψ R2`). On the Dirac-GAN it equals R1:
    eigenvalues `-γ/2 ± √(γ²/4 - f'(0)²)` at the rest point.

    **Arguments / Returns / Raises:** as `r1`; the parameter is `"r2_gamma"`.
    """
    return _gradient_penalty("r2", "r2", "gamma", field, gamma)


def wgan_gp(field: Field, lam) -> GradientPenalty:
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
    return _gradient_penalty("wgan_gp", "gp", "lam", field, lam)


# ----------------------------------------------------------------------------- instance noise


_MAX_NOISE_EVALUATIONS = 100_000


def _hermite_grid(n_nodes: int, data_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite nodes `(q, d)` and weights `(q,)` for `E f(ε)`, `ε ~ N(0, I_d)`."""
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)  # probabilists' Hermite: weight e^{-x²/2}
    w = w / math.sqrt(2.0 * math.pi)
    grid = np.stack(np.meshgrid(*([x] * data_dim), indexing="ij"), -1).reshape(-1, data_dim)
    wgrid = np.prod(np.stack(np.meshgrid(*([w] * data_dim), indexing="ij"), -1).reshape(-1, data_dim), -1)
    return grid, wgrid


def _data_dim(field: Field) -> int:
    spec = field.get_meta("gan")
    return spec.data_dim if spec is not None else 1


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class InstanceNoise(Regularised):
    """`base` with every data and generated sample perturbed by `N(0, weight²·I)` noise, the
    expectation by a tensor Gauss–Hermite rule of `n_nodes` nodes per dimension (see `instance_noise`)."""

    n_nodes: int = 16

    prefix: ClassVar[str] = "noise_sigma"
    keeps_perturbation: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return f"noise({self.base.name})"

    def _perturbed(self, z, shift_real, shift_fake):
        grid, wgrid = _hermite_grid(self.n_nodes, _data_dim(self))
        nodes, weights = jnp.asarray(grid, z.dtype), jnp.asarray(wgrid, z.dtype)
        s = self.weight

        def at(a, b):
            return _perturbed(self.base, z, shift_real + s * a, shift_fake + s * b)

        vals = jax.vmap(lambda a: jax.vmap(lambda b: at(a, b))(nodes))(nodes)  # (q, q, n)
        return jnp.einsum("i,j,ijn->n", weights, weights, vals).astype(z.dtype)

    def __call__(self, z):
        zero = jnp.zeros((_data_dim(self),), z.dtype)
        return self._perturbed(z, zero, zero)


def instance_noise(field: Field, sigma, *, n_nodes: int = 16) -> InstanceNoise:
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
    - `n_nodes`: quadrature nodes per dimension (positive int; static: a new value compiles anew).

    **Returns:** an `InstanceNoise` field with the same domain and rest point.

    **Raises:** `ArgumentError` if `field` lacks `meta["perturbed_velocity"]`, `sigma` is negative,
    or the quadrature would need more than 10⁵ evaluations; `ArgumentTypeError` for bad types.
    """
    fn = "instance_noise"
    field = _check_field(fn, field)
    _need_meta(fn, field, _PERTURBED, "the game's velocity with shifted samples")
    n_nodes = check_int(fn, "n_nodes", n_nodes)
    data_dim = _data_dim(field)
    if n_nodes ** (2 * data_dim) > _MAX_NOISE_EVALUATIONS:
        raise bad_value(fn, "n_nodes", f"small enough that n_nodes^(2·{data_dim}) quadrature evaluations "
                        f"are at most {_MAX_NOISE_EVALUATIONS}", n_nodes)
    sigma = check_scalar(fn, "sigma", sigma, sign="non-negative")
    return InstanceNoise(field, sigma, n_nodes)


# ----------------------------------------------------------------------------- consensus and SGA


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Consensus(Regularised):
    """`base` with consensus optimisation of weight `weight`: `v - weight·Jᵀv` (see `consensus`)."""

    prefix: ClassVar[str] = "consensus_gamma"

    @property
    def name(self) -> str:
        return f"consensus({self.base.name})"

    def __call__(self, z):
        v, vjp = jax.vjp(self.base, z)
        (jtv,) = vjp(v)  # ∇(½‖v‖²) = Jᵀv
        return (v - self.weight * jtv).astype(z.dtype)


def consensus(field: Field, gamma) -> Consensus:
    """Consensus optimisation (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs"):

        v_γ(z) = v(z) - γ·∇(½‖v(z)‖²) = v(z) - γ·J(z)ᵀ v(z),

    with `J = ∂v/∂z` by autodiff (one vector–Jacobian product). At a rest point the Jacobian is
    `J - γJᵀJ`; for the Dirac-GAN (`JᵀJ = f'(0)²I`) the eigenvalues are `-γf'(0)² ± f'(0)i`.

    **Arguments:** `field`: any `Field` with dict params; `gamma`: `γ ≥ 0` (parameter
    `"consensus_gamma"`).

    **Returns:** a `Consensus` field with the same domain and rest point (meta
    `"perturbed_velocity"` is dropped: noise cannot be added after consensus).

    **Raises:** `ArgumentError` for a negative, non-finite or non-scalar `gamma`;
    `ArgumentTypeError` for a non-Field, a Field without dict params or a non-numeric `gamma`.
    """
    field = _check_field("consensus", field)
    return Consensus(field, check_scalar("consensus", "gamma", gamma, sign="non-negative"))


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SymplecticAdjustment(Regularised):
    """`base` with symplectic gradient adjustment of weight `weight`, with the sign-alignment
    rule when `align` (threshold `eps`) (see `sga`)."""

    align: bool = False
    eps: float = 0.1

    prefix: ClassVar[str] = "sga_lambda"

    @property
    def name(self) -> str:
        return f"sga({self.base.name}, aligned)" if self.align else f"sga({self.base.name})"

    def __call__(self, z):
        v, vjp = jax.vjp(self.base, z)
        (jtv,) = vjp(v)
        jv = jax.jvp(self.base, (z,), (v,))[1]
        # Aᵀv with A = ½(H - Hᵀ), H = -J the Jacobian of the loss gradients ξ = -v: Aᵀ = ½(J - Jᵀ).
        av = 0.5 * (jv - jtv)
        lam = self.weight
        if self.align:
            # ∇ℋ = Hᵀξ = Jᵀv for ℋ = ½‖ξ‖²; ⟨ξ, ∇ℋ⟩⟨Aᵀξ, ∇ℋ⟩ = ⟨v, Jᵀv⟩⟨Aᵀv, Jᵀv⟩ (two sign flips).
            a_b = jnp.vdot(v, jtv) * jnp.vdot(av, jtv)
            lam = lam * jnp.where(a_b / v.size + self.eps >= 0, 1.0, -1.0)
        return (v + lam * av).astype(z.dtype)


def sga(field: Field, lam, *, align: bool = False, eps: float = 0.1) -> SymplecticAdjustment:
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
    `align` and `eps` are static: a new value compiles anew.

    **Returns:** a `SymplecticAdjustment` field; as `consensus`.

    **Raises:** as `consensus`; `ArgumentTypeError` for a non-bool `align`; `ArgumentError` for
    `eps` not positive and finite.
    """
    field = _check_field("sga", field)
    lam = check_scalar("sga", "lam", lam, sign="non-negative")
    align = check_bool("sga", "align", align)
    eps = float(check_scalar("sga", "eps", eps, sign="positive"))
    return SymplecticAdjustment(field, lam, align, eps)
