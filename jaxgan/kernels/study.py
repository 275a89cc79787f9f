"""`kernel_study`: one MLP discriminator on a 1-D grid — its parametric kernel, the kernel's
spectrum, the kernel-induced GAN field and that field's modes at its rest point.

This is the experiment of `jaxgan kernel` (the command prints and plots a `KernelStudy`): the
article's Section 3 made concrete for a network of a given activation, size and normalisation.
Beyond `dense_limit` points (or when `top_k` is given) the kernel is not formed: the top of its
spectrum comes matrix-free from `top_spectrum`, and the field (an N×N operator) is not built.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import games as _games
from .. import nets as _nets
from .._checks import check_bool, check_choice, check_int, check_interval
from ..fields import Field, kernel_field
from ..stability.modes import FieldModes, field_modes
from .parametric import parametric_kernel
from .plan import check_algorithm
from .eigen import TopSpectrum, top_spectrum
from .spectrum import KernelSpectrum, spectrum

__all__ = ["KernelStudy", "kernel_study", "BN_MODES"]

BN_MODES = ("train", "eval")
_CALIBRATION_SAMPLES = 512  # data samples whose statistics become BatchNorm's running statistics
DENSE_LIMIT = 4096  # beyond this many points kernel_study takes the matrix-free top of the spectrum
DEFAULT_TOP_K = 20


@dataclasses.dataclass(frozen=True, eq=False)
class KernelStudy:
    """One discriminator's kernel on a grid, its spectrum and its kernel field (see `kernel_study`).

    - `name`: the network, e.g. `"relu"`, `"tanh"`, `"relu+BN(train)"`, `"relu+BN(eval)"`.
    - `architecture`: its sizes, e.g. `"1→256→256→1"`.
    - `game`: the `Game` of the field.
    - `x`, `weights`, `pd`: `Float[ndarray, "n"]`: the grid, its trapezoid weights, and the data
      density `N(0, 1)` normalised so that `Σ w pd = 1` (float64).
    - `apply`, `params`: the network (`jaxgan.nets.mlp`), with BatchNorm's running statistics
      calibrated on data samples in eval mode.
    - `train`: the mode the kernel was computed in (`None` without BatchNorm).
    - `K`: `Float[ndarray, "n n"]`, the parametric kernel on the grid, in JAX's default float at
      the call (not normalised); `None` when matrix-free.
    - `spectrum`: the `KernelSpectrum` of `K` with the grid weights, or, matrix-free, the
      `TopSpectrum` of its top `k` eigenpairs (no effective rank: the rest is not computed).
    - `field`: the kernel field of `game` with `K_D = K / λ1` (spectral radius of `K_D W` is 1),
      a free-form generator and the Lagrange constant; `None` when matrix-free.
    - `modes`: the `FieldModes` of `field` at its rest point; `None` when matrix-free.
    - `seconds`: wall time of the kernel computation (compilation included), or matrix-free of
      `top_spectrum`.
    - `method`: `"dense"` (K formed, `numpy.linalg.eigh`) or `"top-k"` (matrix-free Lanczos).
    """

    name: str
    architecture: str
    game: _games.Game
    x: np.ndarray
    weights: np.ndarray
    pd: np.ndarray
    apply: _nets.MLPApply
    params: Any
    train: bool | None
    K: np.ndarray | None
    spectrum: KernelSpectrum | TopSpectrum
    field: Field | None
    modes: FieldModes | None
    seconds: float
    method: str = "dense"

    @property
    def n_params(self) -> int:
        """The number of trainable parameters of the network."""
        return self.apply.spec.n_params

    def summary(self, n_eigenvalues: int = 50) -> dict:
        """The study's numbers as a JSON-ready dict (what `jaxgan kernel --out` saves): the first
        `n_eigenvalues` kernel eigenvalues, rank measures, and the field's modes (matrix-free: the
        rank measures and the field's entries are `None`, and the Lanczos residuals are added)."""
        n_eigenvalues = check_int("KernelStudy.summary", "n_eigenvalues", n_eigenvalues, lo=1)
        sp, m = self.spectrum, self.modes
        out = {"network": self.name, "architecture": self.architecture, "n_params": self.n_params,
               "kernel_seconds": self.seconds, "method": self.method,
               "eigenvalues": sp.eigenvalues[:n_eigenvalues].tolist(), "noise_floor": sp.noise_floor}
        if isinstance(sp, TopSpectrum):
            out.update(effective_rank=None, participation_ratio=None, residuals=sp.residuals[:n_eigenvalues].tolist(),
                       converged=sp.converged, n_matvecs=sp.n_matvecs)
        else:
            out.update(effective_rank=sp.effective_rank, participation_ratio=sp.participation_ratio)
        if m is None:
            return dict(out, field_eigenvalues=None, field_resolution=None, field_damped=None, field_neutral=None,
                        field_growing=None, field_slowest_damping=None)
        return dict(out, field_eigenvalues=[[float(e.real), float(e.imag)] for e in m.eigenvalues],
                    field_resolution=m.resolution, field_damped=m.damped, field_neutral=m.neutral,
                    field_growing=m.growing, field_slowest_damping=m.slowest_damping)


def _gaussian_grid(n: int, lo: float, hi: float):
    """`(x, w, pd)`: `n` equispaced points, trapezoid weights, and the `N(0, 1)` density
    normalised on the grid (`Σ w pd = 1`), all float64."""
    x = np.linspace(lo, hi, n)
    w = np.full(n, (hi - lo) / (n - 1))
    w[[0, -1]] *= 0.5
    pd = np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi)
    return x, w, pd / np.dot(w, pd)


def _network(activation, width, depth, batchnorm, bn_mode, seed):
    """`(apply, params, train)`: the MLP `1→width×depth→1`; in BatchNorm eval mode its running
    statistics are those of `_CALIBRATION_SAMPLES` data samples (momentum 1: exactly theirs)."""
    init, apply = _nets.mlp((1,) + (width,) * depth + (1,), activation, batchnorm=batchnorm, bn_momentum=1.0)
    key_init, key_data = jax.random.split(jax.random.PRNGKey(seed))
    params = init(key_init)
    train = None
    if batchnorm:
        train = bn_mode == "train"
        if not train:
            samples = jax.random.normal(key_data, (_CALIBRATION_SAMPLES, 1), dtype=params["dense"][0]["w"].dtype)
            _, params = apply(params, samples, train=True, update_stats=True)
    return apply, params, train


def kernel_study(*, activation: str = "relu", width: int = 256, depth: int = 2, batchnorm: bool = False,
                 bn_mode: str = "train", n: int = 200, x_range=(-3.0, 3.0), game="minimax",
                 algorithm: str = "auto", seed: int = 0, top_k: int | None = None,
                 dense_limit: int = DENSE_LIMIT, progress=None) -> KernelStudy:
    """The parametric kernel of an MLP discriminator on a 1-D grid, its spectrum, and the modes
    of the kernel-induced GAN field at its rest point.

    The network `1 → width (× depth) → 1` is initialised from `seed`; its kernel `K` on `n`
    equispaced points of `x_range` gives the spectrum of `K W` (trapezoid weights `W`), and the
    kernel field of `game` with `K_D = K / λ1` and the data density `pd = N(0, 1)` on the grid
    gives its modes (`jaxgan.stability.field_modes`: damped, neutral, growing).

    On more than `dense_limit` points, or when `top_k` is given, `K` is never formed: the top
    `top_k` (default 20) eigenpairs of `K W` come from `top_spectrum` (Lanczos on kernel-vector
    products, memory `O(n·k)`), and the field and its modes — `2n`-dimensional, dense — are skipped
    (`K`, `field`, `modes` are `None`; `method == "top-k"`).

    Computes in JAX's default float: float32, or float64 when enabled — for float64 without
    touching the global setting, call it inside `with jax.enable_x64(True):` (and use the
    returned `field` and `params` there too; `K` and the spectra are host arrays). The function
    itself never changes `jax.config`.

    **Arguments:** (keyword-only)

    - `activation`: `"relu"`, `"leaky_relu"` or `"tanh"`.
    - `width`, `depth`: the hidden width and number of hidden layers (≥ 1).
    - `batchnorm`: BatchNorm after each hidden layer.
    - `bn_mode`: with BatchNorm, `"train"` (batch statistics: `K` is an operator on the grid) or
      `"eval"` (running statistics of 512 data samples from `N(0, 1)`: a kernel).
    - `n`: grid points (≥ 2); `x_range`: `(lo, hi)`, the grid's ends.
    - `game`: a `Game` or preset name.
    - `algorithm`: as in `parametric_kernel` (the dense route only).
    - `seed`: a non-negative int; the network's weights and the calibration samples derive from it.
    - `top_k`: `None` (dense up to `dense_limit` points, else the top 20 matrix-free) or an int in
      `[1, n]`: the top `top_k` eigenpairs, matrix-free, whatever `n`.
    - `dense_limit`: the most points the dense route is used for (default 4096: a 64 MiB float32 `K`).
    - `progress`: `progress=` of `top_spectrum` (matrix-free only).

    **Returns:** a `KernelStudy`.

    **Raises:** `ArgumentError`/`ArgumentTypeError` naming the argument, before anything is
    computed.

    **Example:**

    ```python
    s = jaxgan.kernels.kernel_study(activation="tanh", width=64, n=100)
    s.spectrum.effective_rank, s.modes.damped, s.modes.neutral
    ```
    """
    who = "kernel_study"
    check_choice(who, "activation", activation, _nets.ACTIVATIONS)
    width = check_int(who, "width", width, lo=1)
    depth = check_int(who, "depth", depth, lo=1)
    batchnorm = check_bool(who, "batchnorm", batchnorm)
    check_choice(who, "bn_mode", bn_mode, BN_MODES)
    n = check_int(who, "n", n, lo=2)
    lo, hi = check_interval(who, "x_range", x_range, allow_none=False)
    game = _games.get(game, "kernel_study")
    algorithm = check_algorithm(algorithm, who)
    seed = check_int(who, "seed", seed, lo=0)
    top_k = None if top_k is None else check_int(who, "top_k", top_k, lo=1, hi=n)
    dense_limit = check_int(who, "dense_limit", dense_limit, lo=2)

    x, w, pd = _gaussian_grid(n, lo, hi)
    apply, params, train = _network(activation, width, depth, batchnorm, bn_mode, seed)
    name = activation + (f"+BN({bn_mode})" if batchnorm else "")
    arch = "1→" + "→".join([str(width)] * depth) + "→1"
    if top_k is not None or n > dense_limit:
        top = top_spectrum(apply, params, x.astype(jnp.result_type(float)), min(n, top_k or DEFAULT_TOP_K),
                           weights=w, train=train, progress=progress)
        return KernelStudy(name=name, architecture=arch, game=game, x=x, weights=w, pd=pd, apply=apply,
                           params=params, train=train, K=None, spectrum=top, field=None, modes=None,
                           seconds=top.seconds, method="top-k")
    t0 = time.perf_counter()
    k = parametric_kernel(apply, params, x.astype(jnp.result_type(float)), train=train, algorithm=algorithm)
    k = np.asarray(k.block_until_ready())
    seconds = time.perf_counter() - t0
    spec = spectrum(k, w)
    field = kernel_field(game, pd, w, k / spec.eigenvalues[0], name=f"{game.name}/{name}")
    return KernelStudy(name=name, architecture=arch, game=game,
                       x=x, weights=w, pd=pd, apply=apply, params=params, train=train, K=k, spectrum=spec,
                       field=field, modes=field_modes(field), seconds=seconds)
