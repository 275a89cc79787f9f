"""Fields: the `Field` every part of jaxgan builds, analyses, runs or shows, and the fields it ships.

- `field`: the `Field` class (a pytree: numbers are leaves, everything else static data).
- `pointwise`: `pointwise_field(game, pd)`, the article's field of a game at one point.
- `kernel`: `kernel_field`, the kernel-induced (non-pointwise) field on a grid of points.
- `toys`: the Dirac-GAN and the bilinear game, and the `GANSpec` a sample GAN shares with
  its regularisers.
- `regularisers`: `r1`, `r2`, `wgan_gp`, `instance_noise`, `consensus`, `sga`, each a
  `Regularised` field that wraps its base (composition as data).
"""

from .field import Field
from .kernel import kernel_field
from .pointwise import pointwise_field
from .regularisers import (Consensus, GradientPenalty, InstanceNoise, Regularised, SymplecticAdjustment,
                           consensus, instance_noise, r1, r2, sga, wgan_gp)
from .toys import GANSpec, bilinear, dirac_gan

__all__ = [
    "Field", "pointwise_field", "kernel_field", "GANSpec", "dirac_gan", "bilinear",
    "Regularised", "GradientPenalty", "InstanceNoise", "Consensus", "SymplecticAdjustment",
    "r1", "r2", "wgan_gp", "instance_noise", "consensus", "sga",
]
