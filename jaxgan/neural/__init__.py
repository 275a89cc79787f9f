"""Real networks: 1-D (and 2-D) GAN training with MLPs, and measurements of its dynamics.

The article jaxgan starts from (see the README) studies the *pointwise* field, where each x
evolves on its own, and claims from unpublished experiments that real training is hard "because
of the parametrisation": "BatchNorm in any network immediately turns the field into a closed one;
ReLU works better". This package trains real networks so that such claims can be measured:

- **data** (`data`): `GaussianMixture` (1-D default, 2-D too), a frozen spec with `sample` and
  `density`;
- **the spec** (`spec`): `GAN` (data, game, `Net` discriminator and generator, one optimiser per
  player — a `jaxgan.dynamics.Optimizer`, whose numbers are traced, or a plain optax
  transformation —, simultaneous or alternating updates, R1 / R2 / WGAN-GP penalties);
- **training** (`training`): `train(gan, seeds, steps=...)`: one jit-compiled `lax.scan` over
  checkpoints, all seeds at once with `vmap`, a `Fate` per seed (a non-finite loss or parameter
  freezes that seed and marks it diverged with the update it happened at — never a silent NaN);
  the result is a frozen `TrainResult`;
- **measurements** (`metrics`, `measurements`) along training, every `measure_every` updates: the
  1-D Wasserstein distance between samples (sliced in 2-D) and the KL divergence on a histogram
  grid; D on a grid of x and a kernel density estimate of pg there; the cosine between the game
  field and the step between checkpoints (`path_angle` gives the full path-angle of Berard et al.
  2020); the leading eigenvalues of the game Jacobian by Arnoldi iteration
  (`jaxgan.stability.krylov.arnoldi`) on its Jacobian-vector product (rotation vs attraction);
  and the article's kernel-induced prediction of the next change of D (the eval-mode parametric
  kernel times the variational derivatives, the product of `jaxgan.kernels.kernel_vp`) against
  the change the optimiser actually makes;
- **fates** (`verdicts`): `classify`, `winding_turns`;
- **the experiment** (`experiment`): `batchnorm_experiment`: ReLU / leaky ReLU / tanh, each plain,
  with BatchNorm and with dropout, many seeds, one table (also `jaxgan experiment batchnorm`).

**The game on real networks.** The discriminator network outputs a raw value `u(x) ∈ ℝ`; an
output map (`OutputMap`) sends it onto the game's D-domain (sigmoid for (0, 1), an affine
sigmoid for (lo, hi), softplus for half-lines, the identity for ℝ). On a batch of data `x_i` and
of generated samples `G(z_j)` the players ascend the empirical objectives of the article,

    Ĵ(θ_D) = mean_i f1(D(x_i)) + mean_j f2(D(G(z_j))) − penalty,    Î(θ_G) = mean_j f3(D(G(z_j))),

so the joint *game field* on the parameters is `v(θ) = (∇_θD Ĵ, ∇_θG Î)` (each optimiser is fed
the gradient of its player's loss, `-∇Ĵ` and `-∇Î`). With BatchNorm the networks run in train
mode during training (batch statistics; the discriminator sees the data batch and the generated
batch as two separate batches, as in the usual reference implementations) and D on the
measurement grid is evaluated in eval mode (running statistics).

**Numbers.** float32 by default, float64 when x64 is enabled. The output map is clipped one ulp
inside finite ends of the domain, so a saturated discriminator gives large but finite losses (and
a vanishing gradient, like PyTorch's clamped `BCELoss`) rather than `log 0`. Seed `s` has the key
`jax.random.key(s)` (threefry2x32, JAX's default); its draws are the same alone or batched with other
seeds (its arithmetic too, but where XLA orders a batch's sums by the number of seeds: see `train`).
"""

from ..stability.krylov import arnoldi
from .data import GaussianMixture, Samples, default_data, digits, gaussian_mixture, grid_of_25, ring_of_8, samples
from .dcgan import dcgan_discriminator, dcgan_generator
from .endpoint import EndPoint, EndSizes, end_point
from .field import FieldInputs, ParameterField, Unravel, parameter_field
from .landscape import (LANDSCAPE_DATA, LANDSCAPE_GAMES, LANDSCAPE_SIZES, Finding, LandscapeResult, LandscapeRun,
                        bump_score, landscape_experiment)
from .players import NetPlayer, NetworkPlayer, Player, player_of
from .quality import (DigitClassifier, digit_classifier, digit_quality, digit_quality_of, frechet_distance,
                      mixture_quality, mixture_quality_of, reference_stats)
from .experiment import DATA_KINDS, DIGITS_SIZES, EXPERIMENT_SIZES, VARIANTS, ExperimentResult, batchnorm_experiment
from .measurements import jacobian_eigenvalues, path_angle, rotation_index
from .metrics import histogram_kl, kde, sliced_wasserstein, wasserstein_1d
from .objectives import game_field
from .result import TrainResult
from .spec import GAN, PENALTIES, UPDATES, Net, OutputMap, output_map
from .step import TrainState, init_state, train_step
from .training import train
from .verdicts import classify, winding_turns

__all__ = [
    "GaussianMixture", "gaussian_mixture", "default_data", "ring_of_8", "grid_of_25", "Samples", "samples", "digits",
    "dcgan_discriminator", "dcgan_generator", "landscape_experiment", "LandscapeResult", "LandscapeRun", "Finding",
    "LANDSCAPE_SIZES", "LANDSCAPE_DATA", "LANDSCAPE_GAMES", "bump_score", "EndSizes", "EndPoint", "end_point", "parameter_field", "ParameterField", "FieldInputs", "Unravel", "Player", "NetPlayer", "NetworkPlayer", "player_of", "mixture_quality", "mixture_quality_of", "DigitClassifier",
    "digit_classifier", "digit_quality", "digit_quality_of", "reference_stats", "frechet_distance", "Net", "OutputMap", "output_map", "GAN",
    "train", "TrainResult", "wasserstein_1d", "sliced_wasserstein", "histogram_kl", "kde",
    "path_angle", "arnoldi", "jacobian_eigenvalues", "rotation_index", "game_field",
    "batchnorm_experiment", "ExperimentResult", "EXPERIMENT_SIZES", "DIGITS_SIZES", "DATA_KINDS", "PENALTIES", "UPDATES", "VARIANTS",
    "classify", "winding_turns", "init_state", "train_step", "TrainState",
]
