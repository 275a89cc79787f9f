"""Small parametric games: the Dirac-GAN (Mescheder et al. 2018) and the bilinear game.

A sample-based GAN field describes its discriminator in a `GANSpec` (stored as
`field.get_meta("gan")`), which is what the gradient penalties of `jaxgan.fields.regularisers`
need; its `meta["perturbed_velocity"]` (the velocity with every real / generated sample
shifted) is what instance noise needs.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_type, bad_value, check_choice, where
from ..errors import ArgumentError, ArgumentTypeError
from .field import Field

__all__ = ["GANSpec", "dirac_gan", "bilinear"]


@dataclasses.dataclass(frozen=True)
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

    `params` is the GAN field's own params dict (a regularised field passes the params of the
    field it was built on, without its weights). All callables must be hashable (module-level
    functions are): the spec is static data of the field's pytree and compares by value.
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


@dataclasses.dataclass(frozen=True)
class _GANPerturbed:
    """`perturbed(params, z, shift_real, shift_fake)`: the velocity of a sample GAN, by autodiff
    of its losses, with every data sample shifted by `shift_real` and every generated one by
    `shift_fake` (both of shape `(data_dim,)`); a GAN field's `meta["perturbed_velocity"]`.
    A value (equal for equal specs), so rebuilt fields share compiled code."""

    spec: GANSpec

    def __call__(self, params, z, shift_real, shift_fake):
        spec, f = self.spec, self.spec.f
        n = z.shape[-1]
        dmask, gmask = spec.disc_mask(n, z.dtype), spec.gen_mask(n, z.dtype)
        disc = jax.vmap(lambda zz, x: spec.discriminator(params, zz, x), in_axes=(None, 0))

        def loss(zz):  # what the discriminator ascends
            fake = spec.generator_samples(params, zz) + shift_fake
            real = spec.data_samples(params, zz) + shift_real
            return jnp.mean(f(disc(zz, fake))) + jnp.mean(f(-disc(zz, real)))

        def gen_objective(zz):  # what the generator ascends
            if spec.generator == "minimax":
                return -loss(zz)
            fake = spec.generator_samples(params, zz) + shift_fake
            return jnp.mean(f(-disc(zz, fake)))

        v = dmask * jax.grad(loss)(z) + gmask * jax.grad(gen_objective)(z)
        return v.astype(z.dtype)


@dataclasses.dataclass(frozen=True)
class _GANVelocity:
    """`velocity(params, z)` of a sample GAN: the perturbed velocity with no shift."""

    spec: GANSpec

    def __call__(self, params, z):
        zero = jnp.zeros((self.spec.data_dim,), z.dtype)
        return _GANPerturbed(self.spec)(params, z, zero, zero)


def _dirac_disc(params, z, x):
    # D_psi(x) = psi * x
    return z[1] * x[0]


def _dirac_data(params, z):
    # data distribution delta_0
    return jnp.zeros((1, 1), z.dtype)


def _dirac_fake(params, z):
    # generator distribution delta_theta
    return jnp.reshape(z[0], (1, 1))


def _resolve_f(f, fn: str):
    """`(f, its name)` from a preset name or a scalar callable."""
    if isinstance(f, str):
        if f not in _F_PRESETS:
            raise bad_value(fn, "f", f"one of {', '.join(map(repr, _F_PRESETS))} or a callable f(t)", f)
        return _F_PRESETS[f], f
    if not callable(f):
        raise bad_type(fn, "f", f"a name ({', '.join(_F_PRESETS)}) or a callable f(t)", f)
    try:
        out = jax.eval_shape(f, jax.ShapeDtypeStruct((), jnp.result_type(float)))
    except Exception as exc:  # noqa: BLE001 - report what the callable did
        raise ArgumentTypeError(f"{where(fn, 'f')} must map a scalar to a scalar; calling it failed: {exc}") from None
    if getattr(out, "shape", None) != ():
        raise ArgumentError(f"{where(fn, 'f')} must return a scalar; got {out}.")
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
    `meta["perturbed_velocity"]` (for `instance_noise`). Two Dirac-GANs built with the same
    arguments share compiled code.

    **Raises:** `ArgumentError` for an unknown `f` name or `generator`, or an `f` that returns a
    non-scalar; `ArgumentTypeError` for an `f` that is neither a name nor a callable, or that fails
    on a scalar.
    """
    fn, fname = _resolve_f(f, "dirac_gan")
    check_choice("dirac_gan", "generator", generator, _GENERATORS)
    spec = GANSpec(fn, generator, _dirac_disc, _dirac_data, _dirac_fake, (1,), (0,), 1)
    name = "dirac_gan" + ("" if fname == "logistic" else f"[{fname}]") + ("" if generator == "minimax" else "[ns]")
    return Field(
        _GANVelocity(spec), {}, rest_point=np.zeros(2), name=name, labels=("theta", "psi"), players=((1,), (0,)),
        meta={"kind": "dirac_gan", "gan": spec, "perturbed_velocity": _GANPerturbed(spec)},
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
