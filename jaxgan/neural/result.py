"""`TrainResult`: the logs, fates and final state of a neural training run, and what is read off them."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, check_int
from ..errors import ArgumentError
from ..fates import Fate
from .measurements import RunConfig, path_angle_of_seed
from .spec import GAN, program_key
from .step import TrainState, seed_keys, split_seed_key
from .verdicts import quiet, tail_start

__all__ = ["TrainResult", "LOG_NAMES"]

# The per-checkpoint logs of a run, in the order of `TrainResult`'s fields.
LOG_NAMES = ("w1", "kl", "g_mean", "g_std", "d_grid", "pg_grid", "J", "I", "field_norm", "step_cos", "eigs",
             "rotation", "kernel_cos", "kernel_gain", "kernel_cos_g", "kernel_gain_g", "hess_d_min", "hess_d_max",
             "hess_g_min", "hess_g_max", "modes_covered", "high_quality", "classes_covered", "fd")

_OPTIONAL_LOGS = ("hess_d_min", "hess_d_max", "hess_g_min", "hess_g_max", "modes_covered", "high_quality",
                  "classes_covered", "fd")


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """What `train` returns: logs per seed and checkpoint (numpy), fates, and the final state.

    Frozen; `dataclasses.replace` makes a changed copy. Logs have a leading seed axis `S` and a
    checkpoint axis `C + 1` (row 0 is before the first update; checkpoint `c` is after `steps[c]`
    updates); `G` grid points, `d` the data dimension. Rows at or after the update where a seed
    diverged are NaN.

    - `gan`: the `GAN`; `seeds: Int[ndarray, "S"]`; `steps: Int[ndarray, "C+1"]`.
    - `grid: Float[ndarray, "G d"]`; `pd_grid: Float[ndarray, "G"]`: the data density on the
      grid convolved with the KDE bandwidth (what `pg_grid` estimates when pg = pd).
    - `w1: (S, C+1)`: (sliced) Wasserstein-1 distance between generator and data samples.
    - `kl: (S, C+1)`: `KL(pd ‖ pg)` on the histogram grid.
    - `g_mean`, `g_std: (S, C+1, d)`: mean and standard deviation of the generated samples.
    - `d_grid`, `pg_grid: (S, C+1, G)`: D (after the output map, eval mode) and the KDE of pg on
      the grid.
    - `J`, `I: (S, C+1)`: the players' objectives on the measurement batch; `field_norm: (S, C+1)`:
      ‖v(θ)‖ there.
    - `step_cos: (S, C+1)`: cosine between the game field at checkpoint c−1 and the parameter step
      from c−1 to c (1 for gradient flow with small steps; lower when the path curves between
      checkpoints or the optimiser preconditions); NaN in row 0.
    - `eigs: Complex[ndarray, "S C+1 top"]`: leading Ritz values of the game Jacobian (by
      modulus; `top = 0` with `krylov=0`); `rotation: (S, C+1)`: their `rotation_index`.
    - `kernel_cos`, `kernel_gain: (S, C+1)`: the kernel-induced prediction of the next change of D
      on the grid against the actual change (cosine; ratio of norms, ≈ the learning rate for SGD);
      NaN in row 0 and everywhere with `kernel_probe=False`.
    - `kernel_cos_g`, `kernel_gain_g: (S, C+1)`: the same for the generator: the change of G at
      `G` fixed latent points predicted by the generator's parametric kernel.
    - `hess_d_min`, `hess_d_max`, `hess_g_min`, `hess_g_max: (S, C+1)`: the extreme eigenvalues of
      each player's own *loss* Hessian on the measurement batch — `∇²_θD(−Ĵ + penalty)` with the
      generated samples fixed and `∇²_θG(−Î)` — by `krylov` steps of Lanczos on Hessian-vector
      products (the extremes converge first). Minimisation convention, as Berard et al. 2020: a
      local Nash equilibrium has both minima ≥ 0 (`is_local_nash`). NaN with `krylov=0` or
      `hessians=False`.
    - `modes_covered`, `high_quality: (S, C+1)`: for a Gaussian mixture, the modes covered and
      the fraction of generated samples within 3σ of a mode (`jaxgan.neural.quality`); NaN otherwise.
    - `classes_covered`, `fd: (S, C+1)`: for the digits, the classes the digit classifier finds in
      the generated samples and the Fréchet distance on its features; NaN otherwise.
    - For `Samples` data the "grid" is `G` fixed data samples (the probes): `d_grid` is D there;
      for the digits `pg_grid` is the share of generated samples in each probe's class and
      `pd_grid` the data's share (the pointwise view, per class), NaN for other samples; `kl` is
      NaN (no density); `w1` is the sliced distance on the flattened samples.
    - `fate: Int[ndarray, "S"]` (`Fate` codes, see `classify`); `fate_step: Int[ndarray, "S"]`:
      the update that produced a non-finite value for diverged seeds (1-based; 0 when the initial state is
      already not finite on the measurement batch), else −1.
    - `theta0`, `theta_end: Float[ndarray, "S p"]`: the flat joint trainable parameters
      `(θ_D, θ_G)` at the start and the end.
    - `final`: the final `TrainState` (stacked over seeds); `tol`: the convergence tolerance;
      `cfg`: the run's sizes; `theta: Float[ndarray, "S C+1 p"]`: the parameters at every
      checkpoint with `train(..., keep_params=True)`, else None; `compile_s`, `run_s`: seconds spent compiling and running.
    """

    gan: GAN
    seeds: np.ndarray
    steps: np.ndarray
    grid: np.ndarray
    pd_grid: np.ndarray
    w1: np.ndarray
    kl: np.ndarray
    g_mean: np.ndarray
    g_std: np.ndarray
    d_grid: np.ndarray
    pg_grid: np.ndarray
    J: np.ndarray
    I: np.ndarray  # noqa: E741 (the article's name for the generator's objective)
    field_norm: np.ndarray
    step_cos: np.ndarray
    eigs: np.ndarray
    rotation: np.ndarray
    kernel_cos: np.ndarray
    kernel_gain: np.ndarray
    kernel_cos_g: np.ndarray
    kernel_gain_g: np.ndarray
    fate: np.ndarray
    fate_step: np.ndarray
    theta0: np.ndarray
    theta_end: np.ndarray
    final: TrainState | None
    tol: float
    cfg: RunConfig | None = None
    hess_d_min: np.ndarray | None = None
    hess_d_max: np.ndarray | None = None
    hess_g_min: np.ndarray | None = None
    hess_g_max: np.ndarray | None = None
    modes_covered: np.ndarray | None = None
    high_quality: np.ndarray | None = None
    classes_covered: np.ndarray | None = None
    fd: np.ndarray | None = None
    theta: np.ndarray | None = None
    compile_s: float = float("nan")
    run_s: float = float("nan")

    def __post_init__(self):
        for name in _OPTIONAL_LOGS:  # not measured: NaN, so that every log has the (S, C+1) shape
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(np.shape(self.w1), np.nan))

    @property
    def logs(self) -> dict[str, np.ndarray]:
        """The per-checkpoint logs as `{name: array}` (the fields named in `LOG_NAMES`)."""
        return {name: getattr(self, name) for name in LOG_NAMES}

    @property
    def n_seeds(self) -> int:
        """The number `S` of seeds."""
        return len(self.seeds)

    def final_distance(self) -> np.ndarray:
        """`w1` at the last checkpoint per seed (NaN for diverged seeds), shape `(S,)`."""
        return self.w1[:, -1]

    def mean_rotation(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the mean `rotation` over the last `tail` fraction of checkpoints (NaN if diverged)."""
        c0 = tail_start(len(self.steps), tail)
        with quiet():
            return np.nanmean(np.where(np.isfinite(self.rotation[:, c0:]), self.rotation[:, c0:], np.nan), axis=1)

    def _eig_median(self, tail: float, part) -> np.ndarray:
        """Per seed: the median over the last `tail` of checkpoints of `part(Ritz values)` (reduced over them)."""
        if not self.eigs.shape[-1]:
            return np.full(self.n_seeds, np.nan)
        c0 = tail_start(len(self.steps), tail)
        with quiet():
            return np.nanmedian(part(self.eigs[:, c0:]), axis=1)

    def max_imag(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the median over the last `tail` of checkpoints of max |Im λ| of the Ritz values."""
        return self._eig_median(tail, lambda ev: np.nanmax(np.abs(ev.imag), axis=2))

    def max_real(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the median over the last `tail` of checkpoints of max Re λ of the Ritz values
        (> 0: the game field repels along some direction)."""
        return self._eig_median(tail, lambda ev: np.nanmax(ev.real, axis=2))

    def min_real(self, tail: float = 0.5) -> np.ndarray:
        """Per seed: the median over the last `tail` of checkpoints of min Re λ of the Ritz values."""
        return self._eig_median(tail, lambda ev: np.nanmin(ev.real, axis=2))

    def path_angle(self, seed: int = 0, n: int = 21, *, start: int | None = None, end: int | None = None):
        """The path-angle (Berard et al. 2020; see `path_angle`) of one seed along the segment between
        two checkpoints — by default from its initial to its final parameters — with the game field on
        that seed's fixed measurement batch (the final running statistics).

        **Arguments:** `seed`: the seed's index; `n ≥ 2`: points along the segment; `start`, `end`:
        checkpoint indices (negative from the end; default the first and the last); checkpoints other
        than these two need `train(..., keep_params=True)`.

        **Returns:** `(alphas, cosines)`, numpy arrays of shape `(n,)`.

        **Raises:** `ArgumentError`/`ArgumentTypeError` for a seed index outside `[0, S)`, `n < 2`, a
        checkpoint outside the run or one whose parameters were not kept.
        """
        i = check_int("path_angle", "seed", seed, 0, self.n_seeds - 1)
        n = check_int("path_angle", "n", n, 2)
        k_eval = split_seed_key(seed_keys(self.seeds[i:i + 1])[0])[2]
        st = jax.tree_util.tree_map(lambda a: np.asarray(a)[i], self.final)  # on the host: no compile per leaf
        dtype = jax.tree_util.tree_leaves(st.td)[0].dtype
        a, c = path_angle_of_seed(program_key(self.gan), self.cfg, n, st, k_eval,
                                  jnp.asarray(self._theta_at(i, start, 0, "start"), dtype),
                                  jnp.asarray(self._theta_at(i, end, -1, "end"), dtype))
        return np.asarray(a), np.asarray(c)

    def _theta_at(self, seed: int, checkpoint, default: int, arg: str) -> np.ndarray:
        """The flat `(θ_D, θ_G)` of a seed at a checkpoint (see `path_angle`)."""
        n_chk = len(self.steps)
        c = default if checkpoint is None else check_int("path_angle", arg, checkpoint, -n_chk, n_chk - 1)
        c = c % n_chk
        if self.theta is not None:
            return self.theta[seed, c]
        if c in (0, n_chk - 1):
            return self.theta0[seed] if c == 0 else self.theta_end[seed]
        raise ArgumentError(f"path_angle argument `{arg}`: checkpoint {c} is neither the first nor the last, and this "
                            f"run did not keep its parameters; train with keep_params=True.")

    def is_local_nash(self, tol: float = 1e-4) -> np.ndarray:
        """Per seed and checkpoint: whether both players' loss Hessians are positive semi-definite on
        the measurement batch (smallest eigenvalue ≥ −`tol` · the largest |eigenvalue| of that player),
        the second-order condition of a local Nash equilibrium (Berard et al. 2020). `Bool[ndarray,
        "S C+1"]`; False where not measured."""
        tol = check_float("is_local_nash", "tol", tol, sign="non-negative")
        with quiet():
            ok = [(lo >= -tol * np.maximum(np.abs(lo), np.abs(hi))) for lo, hi in
                  ((self.hess_d_min, self.hess_d_max), (self.hess_g_min, self.hess_g_max))]
        return ok[0] & ok[1] & np.isfinite(self.hess_d_min) & np.isfinite(self.hess_g_min)

    def probe_index(self, x) -> int:
        """The index of the grid point nearest to `x`."""
        x = np.atleast_1d(np.asarray(x, np.float64))
        return int(np.argmin(np.sum((self.grid - x[None]) ** 2, axis=1)))

    def pointwise_trajectory(self, x, seed: int = 0):
        """The path of `(D(x), pg(x))` along training at the grid point nearest to `x`.

        **Returns:** `(x_used, D: (C+1,), pg: (C+1,), pd_x)`, where `pd_x` is the data density
        there convolved with the KDE bandwidth (the pg value the KDE shows when pg = pd).
        """
        i = self.probe_index(x)
        s = check_int("pointwise_trajectory", "seed", seed, 0, self.n_seeds - 1)
        return self.grid[i], self.d_grid[s, :, i], self.pg_grid[s, :, i], float(self.pd_grid[i])

    def summary(self) -> dict[str, Any]:
        """Counts of fates, median final distance over non-diverged seeds, rotation and eigenvalue
        medians, kernel-prediction and step cosines (None where undefined), and the updates at
        which seeds diverged."""
        fates = [Fate(int(f)) for f in self.fate]
        ok = self.fate != Fate.DIVERGED
        fd = self.final_distance()[ok]
        return {
            "label": self.gan.label(), "seeds": self.n_seeds,
            "converged": sum(f == Fate.CONVERGED for f in fates),
            "cycling": sum(f == Fate.CYCLING for f in fates),
            "diverged": sum(f == Fate.DIVERGED for f in fates),
            "undecided": sum(f == Fate.UNDECIDED for f in fates),
            "final_w1_median": float(np.median(fd)) if fd.size else None,
            "final_w1_mean": float(np.mean(fd)) if fd.size else None,
            "rotation_mean": _nanmean_or_none(self.mean_rotation(), ok),
            "max_imag_median": _nanmedian_or_none(self.max_imag(), ok),
            "max_real_median": _nanmedian_or_none(self.max_real(), ok),
            "min_real_median": _nanmedian_or_none(self.min_real(), ok),
            "kernel_cos_mean": _nanmean_or_none(self.kernel_cos, ok),
            "kernel_cos_g_mean": _nanmean_or_none(self.kernel_cos_g, ok),
            "step_cos_mean": _nanmean_or_none(self.step_cos, ok),
            "hess_d_min_median": _nanmedian_or_none(self.hess_d_min[:, -1], ok),
            "hess_g_min_median": _nanmedian_or_none(self.hess_g_min[:, -1], ok),
            "modes_covered_median": _nanmedian_or_none(self.modes_covered[:, -1], ok),
            "high_quality_median": _nanmedian_or_none(self.high_quality[:, -1], ok),
            "classes_covered_median": _nanmedian_or_none(self.classes_covered[:, -1], ok),
            "fd_median": _nanmedian_or_none(self.fd[:, -1], ok),
            "diverged_at": [int(s) for s in self.fate_step[~ok]],
        }


def _nanmean_or_none(a, ok):
    a = np.asarray(a)[ok]
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


def _nanmedian_or_none(a, ok):
    a = np.asarray(a)[ok]
    return float(np.nanmedian(a)) if np.isfinite(a).any() else None
