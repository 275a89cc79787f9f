"""`spectrum`: eigenvalues, eigenfunctions and effective rank of a kernel's integral operator."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_matrix, check_values
from ..errors import ArgumentError

__all__ = ["KernelSpectrum", "spectrum"]


class KernelSpectrum(NamedTuple):
    """The eigen-decomposition of a kernel's integral operator `(T f)(x) = Σ_j K(x, x_j) w_j f(x_j)`.

    - `eigenvalues`: `Float[ndarray, "n"]`, descending (those of `W^½ K W^½`).
    - `eigenfunctions`: `Float[ndarray, "n n"]`; column k holds `φ_k` at the points, normalised in
      `L²(w)`: `Σ_i w_i φ_k(x_i) φ_l(x_i) = δ_kl`, and `T φ_k = λ_k φ_k`.
    - `effective_rank`: `exp(H(p))` with `p_k = λ_k / Σ λ` over the non-negative eigenvalues — the
      entropy effective rank of Roy & Vetterli (2007), "The effective rank: a measure of effective
      dimensionality", EUSIPCO: between 1 (one direction) and n (a flat spectrum).
    - `participation_ratio`: `(Σ λ)² / Σ λ²`, a second, cruder count of directions.
    - `noise_floor`: `eps·λ_max` with `eps` the machine epsilon of the kernel's dtype; eigenvalues
      below it are round-off (a float32 kernel: below ~1e-8–1e-7·λ_max, see "Precision" in `jaxgan.kernels`).
    - `weights`: the quadrature weights used.
    """

    eigenvalues: np.ndarray
    eigenfunctions: np.ndarray
    effective_rank: float
    participation_ratio: float
    noise_floor: float
    weights: np.ndarray


def spectrum(K, weights=None) -> KernelSpectrum:
    """Eigenvalues, eigenfunctions and effective rank of a kernel's integral operator.

    On points `x_i` with quadrature weights (or data density) `w_i`, the operator
    `(T f)(x_i) = Σ_j K(x_i, x_j) w_j f(x_j)` is `K W` (`W = diag(w)`), similar to the symmetric
    `W^½ K W^½ = U Λ Uᵀ`; its eigenfunctions are `φ = W^{-½} U`, orthonormal in `L²(w)`. In
    gradient flow the component of `∂J/∂D` along `φ_k` is learned at rate `λ_k`, so a fast decay
    means the discriminator follows only a few directions (the spectral bias of networks).

    **Arguments:**

    - `K`: `Float[Array, "n n"]`, symmetric (checked to a relative 1e-4; symmetrised).
    - `weights`: `Float[Array, "n"]`, positive; default all ones (the eigen-decomposition of `K`
      itself). Use the grid spacing, or `density × spacing`, for the continuous operator.

    **Returns:** a `KernelSpectrum` (numpy float64 arrays; the decomposition runs in float64 on the
    host with `numpy.linalg.eigh`, `O(n³)`).

    **Raises:** `ArgumentError` for a non-square, non-finite or non-symmetric `K`, or weights that
    are not positive or not of length n; `ArgumentTypeError` for a `K` or weights that are not arrays.
    """
    who = "spectrum"
    k_in = check_matrix(who, "K", K, dtype=np.float64)  # the spectrum is computed on the host in float64
    n = k_in.shape[0]
    eps = float(np.finfo(k_in.dtype).eps) if np.issubdtype(k_in.dtype, np.floating) else float(np.finfo(np.float64).eps)
    k = k_in.astype(np.float64)
    scale = float(np.max(np.abs(k))) or 1.0
    asym = float(np.max(np.abs(k - k.T)))
    if asym > 1e-4 * scale:
        raise ArgumentError(f"spectrum argument `K` must be symmetric; max |K - Kᵀ| = {asym:.3g} "
                            f"(max |K| = {scale:.3g}). A cross-kernel K(x1, x2) has no spectrum.")
    k = 0.5 * (k + k.T)
    w = np.ones(n) if weights is None else check_values(who, "weights", weights, sign="positive", size=n,
                                                        what="one quadrature weight or density value per point",
                                                        dtype=np.float64)
    sw = np.sqrt(w)
    lam, u = np.linalg.eigh(sw[:, None] * k * sw[None, :])
    lam, u = lam[::-1], u[:, ::-1]
    phi = u / sw[:, None]
    pos = np.clip(lam, 0.0, None)
    total = float(pos.sum())
    if total > 0:
        p = pos[pos > 0] / total
        erank = float(np.exp(-np.sum(p * np.log(p))))
        pr = total ** 2 / float(np.sum(pos ** 2))
    else:
        erank, pr = 0.0, 0.0
    floor = eps * float(max(lam[0], 0.0))
    return KernelSpectrum(lam, phi, erank, pr, floor, w)
