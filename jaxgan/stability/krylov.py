"""Matrix-free eigen-analysis: Krylov iterations on a linear operator given as a matvec.

Used where the dimension is too large for a dense Jacobian (a network's parameters).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["arnoldi", "ritz_values"]


def arnoldi(matvec: Callable, v0, m: int):
    """`m` steps of the Arnoldi iteration on the linear operator `matvec` (pure JAX, jit-able).

    Builds an orthonormal basis `Q` of the Krylov space `span{v0, A v0, …}` and the Hessenberg
    matrix `H = Qᵀ A Q`, whose eigenvalues (Ritz values) approximate the eigenvalues of `A` of
    largest modulus first (Saad 2011, "Numerical Methods for Large Eigenvalue Problems", §6.3).
    Classical Gram-Schmidt applied twice ("CGS2") keeps `Q` orthonormal in float32. A breakdown
    (the Krylov space is invariant) stops the iteration; `H[:k, :k]` then holds exact eigenvalues.

    **Arguments:** `matvec`: `Float[Array, "p"] -> Float[Array, "p"]`; `v0`: start vector
    `(p,)`, non-zero; `m`: the number of steps (static, ≥ 1).

    **Returns:** `(H, k)`: `H: Float[Array, "m m"]` and `k` (int32 scalar), the number of valid
    columns (`m` unless the iteration broke down). Eigenvalues: `np.linalg.eigvals(H[:k, :k])`.
    """
    v0 = jnp.asarray(v0)
    p = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    Q = jnp.zeros((m + 1, p), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    H = jnp.zeros((m + 1, m), dtype)

    def body(j, carry):
        Q, H, k, alive, scale = carry
        w = matvec(Q[j])
        h1 = Q @ w
        w = w - Q.T @ h1
        h2 = Q @ w
        w = w - Q.T @ h2
        h = h1 + h2
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.linalg.norm(h))
        H = H.at[:, j].set(jnp.where(alive, h.at[j + 1].set(beta), 0.0))
        k = jnp.where(alive, j + 1, k)
        ok = alive & (beta > 100 * eps * jnp.maximum(scale, jnp.finfo(dtype).tiny))
        Q = Q.at[j + 1].set(jnp.where(ok, w / jnp.where(ok, beta, 1.0), 0.0))
        return Q, H, k, ok, scale

    init = (Q, H, jnp.int32(0), jnp.asarray(True), jnp.asarray(0.0, dtype))
    _, H, k, _, _ = jax.lax.fori_loop(0, m, body, init)
    return H[:m, :m], k


def ritz_values(H: np.ndarray, k: int, top: int) -> np.ndarray:
    """The `top` Ritz values of largest modulus from one Hessenberg matrix (NaN-padded), host side."""
    out = np.full(top, np.nan + 1j * np.nan, np.complex128)
    k = int(k)
    if k < 1 or not np.all(np.isfinite(H[:k, :k])):
        return out
    ev = np.linalg.eigvals(np.asarray(H[:k, :k], np.float64))
    ev = ev[np.lexsort((-ev.imag, -np.abs(ev)))][:top]
    out[: ev.size] = ev
    return out
