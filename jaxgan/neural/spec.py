"""What defines one GAN training setup: the discriminator's output map (`OutputMap`, `output_map`)
and the whole spec (`GAN`), with its players (`players.py`), data and optimisers."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import games as _games
from .._checks import bad_type, check_choice, check_float, check_instance, check_int
from ..dynamics import Optimizer
from ..errors import ArgumentError
from .data import GaussianMixture, Samples, default_data
from .players import Net, Player, player_of

__all__ = ["Net", "OutputMap", "output_map", "GAN", "PENALTIES", "UPDATES", "OUTPUT_KINDS", "DEFAULT_OPTIMIZER",
           "transformation", "program_key"]

PENALTIES = ("r1", "r2", "wgan_gp")
UPDATES = ("simultaneous", "alternating")
OUTPUT_KINDS = ("identity", "sigmoid", "softplus", "neg_softplus", "tanh")

# Adam with β1 = 0.5, the usual GAN setting; its numbers are traced (see `transformation`).
DEFAULT_OPTIMIZER = Optimizer(optax.adam, learning_rate=1e-3, b1=0.5, b2=0.999)


# ============================================================================ output maps


@dataclasses.dataclass(frozen=True)
class OutputMap:
    """The map from the discriminator's raw output `u ∈ ℝ` onto the game's D-domain.

    `kind`: `"identity"` (ℝ), `"sigmoid"` (`lo + (hi − lo)·σ(u)`, onto (lo, hi)), `"softplus"`
    (`lo + softplus(u)`, onto (lo, ∞)), `"neg_softplus"` (`hi − softplus(−u)`, onto (−∞, hi)),
    `"tanh"` (`tanh u`, onto (−1, 1)). All increasing; the result is clipped one ulp inside finite
    ends (floating-point saturation would otherwise reach them).

    **Raises:** `ArgumentError` for an unknown `kind`.
    """

    kind: str
    lo: float = -math.inf
    hi: float = math.inf

    def __post_init__(self):
        check_choice("OutputMap", "kind", self.kind, OUTPUT_KINDS)

    def __call__(self, u):
        if self.kind == "identity":
            return u
        if self.kind == "sigmoid":
            s = jax.nn.sigmoid(u)
            d = s if (self.lo, self.hi) == (0.0, 1.0) else self.lo + (self.hi - self.lo) * s
        elif self.kind == "softplus":
            d = self.lo + jax.nn.softplus(u)
        elif self.kind == "neg_softplus":
            d = self.hi - jax.nn.softplus(-u)
        else:
            d = jnp.tanh(u)
        # In floating point a saturated map lands *on* a finite end of the domain (sigmoid(20) == 1 in
        # float32), where the game's functions are infinite: keep D one ulp inside.
        dtype = np.dtype(jnp.result_type(d))
        return jnp.clip(d, _inside(self.lo, self.hi, dtype), _inside(self.hi, self.lo, dtype))

    @property
    def range(self) -> tuple[float, float]:
        """`(lo, hi)`, the open interval the map lands in."""
        return (self.lo, self.hi)

    def __str__(self):
        return {"identity": "identity", "sigmoid": f"sigmoid onto ({self.lo:g}, {self.hi:g})",
                "softplus": f"{self.lo:g} + softplus", "neg_softplus": f"{self.hi:g} − softplus(−u)",
                "tanh": "tanh"}[self.kind]


def _inside(end: float, other: float, dtype):
    """The float of `dtype` next to `end` towards `other` (a normal number: CPUs flush subnormals to
    zero), or None for an infinite end."""
    if not math.isfinite(end):
        return None
    v = np.nextafter(np.asarray(end, dtype), np.asarray(other, dtype))
    tiny = np.finfo(dtype).tiny
    if abs(v) < tiny:
        v = np.asarray(math.copysign(tiny, other - end), dtype)
    return float(v)


_NAMED_OUTPUTS = {"identity": OutputMap("identity"), "sigmoid": OutputMap("sigmoid", 0.0, 1.0),
                  "tanh": OutputMap("tanh", -1.0, 1.0), "softplus": OutputMap("softplus", 0.0, math.inf)}


def _auto_output(lo: float, hi: float) -> OutputMap:
    if math.isfinite(lo) and math.isfinite(hi):
        return OutputMap("sigmoid", lo, hi)
    if math.isfinite(lo):
        return OutputMap("softplus", lo, math.inf)
    if math.isfinite(hi):
        return OutputMap("neg_softplus", -math.inf, hi)
    return OutputMap("identity")


def output_map(game, kind: str | OutputMap = "auto", *, fn: str = "output_map", arg: str = "kind") -> OutputMap:
    """The output map for `game`'s D-domain (`"auto"`), or a named/given one checked against it.

    **Arguments:** `game`: a `jaxgan.Game` or preset name; `kind`: `"auto"`, one of
    `"identity"`, `"sigmoid"`, `"tanh"`, `"softplus"`, or an `OutputMap`; `fn`, `arg`: the
    function and argument named in error messages (`GAN` passes `"GAN"`, `"d_output"`).

    **Returns:** an `OutputMap` whose range lies in the D-domain and contains the rest value `D0`.

    **Raises:** `ArgumentError` if the map's range is not inside the game's domain (the
    objectives would be evaluated outside it) or does not contain `D0` (training could never
    reach the rest point), for an unknown name, or when the game's objectives are not finite at `D0`.
    """
    game = _games.get(game)
    lo, hi = game.d_domain
    if isinstance(kind, OutputMap):
        om = kind
    elif isinstance(kind, str) and kind == "auto":
        om = _auto_output(lo, hi)
    elif isinstance(kind, str) and kind in _NAMED_OUTPUTS:
        om = _NAMED_OUTPUTS[kind]
    else:
        raise ArgumentError(f"{fn} argument `{arg}` must be 'auto', one of {', '.join(_NAMED_OUTPUTS)} or an "
                            f"OutputMap; got {kind!r}.")
    where = f"{fn}: the discriminator's output map {om} has range ({om.lo:g}, {om.hi:g}), which"
    if om.lo < lo or om.hi > hi:
        raise ArgumentError(f"{where} is not inside the D-domain ({lo:g}, {hi:g}) of game {game.name!r}; use "
                            f"{arg}='auto'.")
    d0 = game.rest_d()
    if not (om.lo < d0 < om.hi):
        raise ArgumentError(f"{where} does not contain the rest value D0 = {d0:g} of game {game.name!r}: the "
                            f"discriminator's output cannot meet the game's rest point.")
    vals = [float(f(jnp.asarray(d0, jnp.float32))) for f in (game.f1, game.f2, game.f3)]
    if not all(math.isfinite(v) for v in vals):
        raise ArgumentError(f"{fn}: game {game.name!r} has non-finite objectives at its rest value D0 = {d0:g} "
                            f"(f1, f2, f3 = {vals}); its domain and functions disagree.")
    return om


# ============================================================================ optimisers


def _is_transformation(opt) -> bool:
    return hasattr(opt, "init") and hasattr(opt, "update") and callable(opt.update)


def _check_optimizer(fn: str, arg: str, opt):
    if opt is None:
        return DEFAULT_OPTIMIZER
    if isinstance(opt, Optimizer) or _is_transformation(opt):
        return opt
    raise bad_type(fn, arg, "a jaxgan.dynamics.Optimizer or an optax GradientTransformation", opt)


def transformation(opt) -> optax.GradientTransformation:
    """The optax transformation that runs `opt` in training.

    An `Optimizer` becomes `optax.inject_hyperparams(factory)(...)`: its numbers live in the
    optimiser state (traced), so GANs that differ only in them share one compiled program. A plain
    optax transformation is used as it is (its numbers are compiled in).
    """
    if isinstance(opt, Optimizer):
        return optax.inject_hyperparams(opt.factory, static_args=tuple(opt.static))(**opt.static, **opt.hyperparams)
    return opt


def _optimizer_key(opt, *, values: bool):
    """What identifies an optimiser: for an `Optimizer` its family, static arguments and (with
    `values`) its numbers; a plain optax transformation is itself (compared by identity)."""
    if not isinstance(opt, Optimizer):
        return opt
    numbers = tuple(sorted(opt.hyperparams.items())) if values else tuple(sorted(opt.hyperparams))
    return ("Optimizer", opt.factory, numbers, tuple(sorted(opt.static.items())))


# ============================================================================ the GAN spec


@dataclasses.dataclass(frozen=True, eq=False)
class GAN:
    """Everything that defines one GAN training setup (frozen, hashable, compared by value).

    **Arguments:**

    - `data`: a `GaussianMixture` (default `default_data(1)`; `ring_of_8()`, `grid_of_25()`) or
      `Samples` (any array of samples; `digits()`).
    - `game`: a `jaxgan.Game` or preset name (default `"non_saturating"`); its `f1, f2, f3` act
      on the discriminator's output.
    - `discriminator`, `generator`: each a `Net` spec (jaxgan's MLPs; default `Net()`: ReLU,
      hidden (32, 32)), a `flax.linen.Module` without variables (initialised per seed by
      `module.init` on an example batch), or a factory `key -> model` / `key -> (model, params)` of
      anything `jaxgan.networks.network` accepts (flax.nnx, equinox, plain `apply(params, x)`).
      The discriminator takes a batch `(B, *sample_shape)` and gives one scalar per sample; the
      generator takes `(B, latent_dim)` and gives outputs that reshape to `(B, *sample_shape)`.
    - `latent_dim`: dimension of the generator's Gaussian noise (default 4).
    - `d_optimizer`, `g_optimizer`: a `jaxgan.dynamics.Optimizer` (default
      `Optimizer(optax.adam, learning_rate=1e-3, b1=0.5, b2=0.999)`) or a plain optax
      `GradientTransformation`. An `Optimizer`'s numbers are traced: two GANs that differ only in
      them (e.g. the learning rate) share one compiled training program. A plain transformation
      is compared by identity and its numbers are compiled in: reuse the same object.
    - `update`: `"simultaneous"` (both players from the same parameters and batch: the
      article's Euler scheme) or `"alternating"` (`d_steps` discriminator updates, each on a
      fresh batch, then one generator update against the new discriminator).
    - `d_steps`: discriminator updates per generator update (alternating only).
    - `penalty`: `None`, `"r1"`, `"r2"` or `"wgan_gp"`; `penalty_weight`: γ (R1/R2) or λ (GP).
      R1/R2 subtract `γ/2 · mean ‖∇ₓ u(x)‖²` on data / on generated samples from Ĵ (Mescheder,
      Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?", ICML);
      WGAN-GP subtracts `λ · mean (‖∇ₓ u(x̂)‖ − 1)²` at random interpolates `x̂` (Gulrajani et al.
      2017, "Improved Training of Wasserstein GANs", NeurIPS). `u` is the raw (pre-output-map)
      output, as in Mescheder et al.'s implementation.
    - `batch_size`: samples of data and of noise per update (≥ 2 with BatchNorm).
    - `d_output`: `"auto"` (see `output_map`), a name, or an `OutputMap`.

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument, before anything is
    compiled; in particular for a game whose D-domain the output map cannot meet (see
    `output_map`), a discriminator whose output is not one scalar per sample, a generator whose
    output does not reshape to the data's sample shape, a penalty unknown to the game's setup.
    """

    data: GaussianMixture = None
    game: Any = "non_saturating"
    discriminator: Net = Net()
    generator: Net = Net()
    latent_dim: int = 4
    d_optimizer: Any = None
    g_optimizer: Any = None
    update: str = "simultaneous"
    d_steps: int = 1
    penalty: str | None = None
    penalty_weight: float = 1.0
    batch_size: int = 128
    d_output: Any = "auto"
    d_player: Player = dataclasses.field(default=None, init=False, repr=False)
    g_player: Player = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self):
        who = "GAN"
        data = default_data(1) if self.data is None else self.data
        check_instance(who, "data", data, (GaussianMixture, Samples), "a GaussianMixture or Samples",
                       " (see jaxgan.neural.gaussian_mixture, samples, digits)")
        object.__setattr__(self, "data", data)
        try:
            game = _games.get(self.game)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{who} argument `game`: {exc}") from None
        object.__setattr__(self, "game", game)
        for name in ("d_optimizer", "g_optimizer"):
            object.__setattr__(self, name, _check_optimizer(who, name, getattr(self, name)))
        check_int(who, "latent_dim", self.latent_dim)
        shape = data.sample_shape
        object.__setattr__(self, "d_player", player_of(self.discriminator, shape, (), who=who, arg="discriminator"))
        object.__setattr__(self, "g_player", player_of(self.generator, (self.latent_dim,), shape, who=who,
                                                       arg="generator"))
        check_choice(who, "update", self.update, UPDATES)
        check_int(who, "d_steps", self.d_steps)
        if self.d_steps > 1 and self.update != "alternating":
            raise ArgumentError(f"{who} argument `d_steps` > 1 needs update='alternating'; got "
                                f"d_steps={self.d_steps} with update={self.update!r}.")
        check_choice(who, "penalty", self.penalty, (None, *PENALTIES))
        object.__setattr__(self, "penalty_weight", check_float(who, "penalty_weight", self.penalty_weight,
                                                                sign="non-negative"))
        bmin = 2 if (self.d_player.batchnorm or self.g_player.batchnorm) else 1
        check_int(who, "batch_size", self.batch_size, bmin)
        object.__setattr__(self, "d_output", output_map(game, self.d_output, fn=who, arg="d_output"))

    def _key(self, *, values: bool) -> tuple:
        # The players stand for the networks (a Net, or the compiled structure of any other model).
        fields = tuple(getattr(self, f.name) for f in dataclasses.fields(self)
                       if f.name not in ("d_optimizer", "g_optimizer", "discriminator", "generator"))
        return fields + (_optimizer_key(self.d_optimizer, values=values),
                         _optimizer_key(self.g_optimizer, values=values))

    def __eq__(self, other):
        return isinstance(other, GAN) and self._key(values=True) == other._key(values=True)

    def __hash__(self):
        return hash(self._key(values=True))

    def label(self) -> str:
        """`"D <net> / G <net>"` (see `Net.label`; other networks by their class or factory name)."""
        return f"D {self.d_player.label()} / G {self.g_player.label()}"


@dataclasses.dataclass(frozen=True, eq=False)
class ProgramKey:
    """A `GAN` as the static argument of a compiled function: equal for GANs that differ only in
    their `Optimizer`s' numbers, which the compiled code reads from the optimiser state.

    `gan` is the first GAN of its structure that was compiled; use it for structure only.
    """

    gan: GAN

    def __eq__(self, other):
        return isinstance(other, ProgramKey) and self.gan._key(values=False) == other.gan._key(values=False)

    def __hash__(self):
        return hash(self.gan._key(values=False))


def program_key(gan: GAN) -> ProgramKey:
    """The compile-cache key of `gan` (see `ProgramKey`)."""
    return ProgramKey(gan)
