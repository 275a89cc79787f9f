"""Matrix-free eigen-analysis: Krylov iterations on a linear operator given as a matvec.

Used where the dimension is too large for a dense Jacobian (a network's parameters). Above
`DENSE_LIMIT` coordinates `analyze`, `step_spectral_radius` and `max_stable_lr` take their
eigenvalues here: `KRYLOV_STEPS` steps of Arnoldi on Jacobian-vector products (`jax.linearize`
once, then one JVP per step), of the field (`field_ritz`) or of one full update with its
optimiser state (`update_ritz`), never forming the Jacobian.

**What the Ritz values can tell.** An `m`-step Arnoldi iteration gives `m` Ritz values, which
converge first to the eigenvalues on the outer boundary of the spectrum (largest modulus, and
more generally the exterior, well-separated ones: Saad 2011, §6.7). The Krylov space of
`J − σI` (or of the step map `I + lr·J`) is that of `J`, so a shift changes nothing: the Ritz
values of `I + lr·J` are exactly `1 + lr·θ` for the Ritz values `θ` of `J`. Hence:

- the spectral radius of a step map (`step_spectral_radius`) is its top eigenvalue by modulus,
  which is exactly what Arnoldi finds first: a sound estimate (from below as it converges);
- the continuous-time verdict needs the *rightmost* eigenvalue (the largest real part). It lies
  on the boundary of the spectrum's convex hull, so the Ritz values approach it too, but slowly
  when it sits in a cluster (GAN Jacobians have many eigenvalues near 0); shift-invert or
  `exp(J)` would isolate it but are not available from JVPs alone. The rightmost Ritz value is
  an *estimate* of the spectral abscissa, and each Ritz value comes with its residual
  `‖J x − θ x‖` (`x` the unit Ritz vector), so a user sees which ones converged;
- for the same reason a Euler step limit from Ritz values (`max_stable_lr`) is the limit the
  exterior eigenvalues impose: an upper bound when an interior eigenvalue (near 0) is binding.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._checks import check_bool, check_int

__all__ = ["arnoldi", "jvp_arnoldi", "ritz_values", "Ritz", "ritz_pairs", "field_ritz", "update_ritz",
           "update_radii_over_lr", "DENSE_LIMIT", "KRYLOV_STEPS", "use_matrix_free"]

# Above this many coordinates the stability functions go matrix-free (see the module docstring):
# a dense 2000×2000 Jacobian costs 2000 JVPs and 32 MB in float64; a network's parameters are
# usually many more.
DENSE_LIMIT = 2000
# Arnoldi steps of the matrix-free path (each one JVP plus orthogonalisation against the basis).
KRYLOV_STEPS = 64


def _arnoldi(matvec: Callable, v0, m: int):
    """`arnoldi` with the whole `(m+1)×m` Hessenberg matrix: row `k` holds the residual norm
    `h[k, k-1]` of the last valid step, from which the Ritz pairs' residuals follow."""
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
    return H, k


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
    H, k = _arnoldi(matvec, v0, m)
    return H[:m, :m], k


def jvp_arnoldi(fun: Callable, x, v0, m: int, *, full: bool = False):
    """`arnoldi` on the Jacobian of `fun` at `x`, `u ↦ ∂fun/∂x · u`, by Jacobian-vector products
    (`jax.linearize` once, then one product per step): the Jacobian is never formed. The one home of
    this pattern: fields on their state (`field_ritz`), on a network's parameters
    (`jaxgan.neural.jacobian_eigenvalues`) and the game field of a GAN (`game_hessenberg`).

    **Arguments:** `fun`: `Float[Array, "p"] -> Float[Array, "p"]`; `x`: the point `(p,)`; `v0`, `m`:
    as `arnoldi`; `full`: return the whole `(m+1)×m` Hessenberg matrix (its last row holds the
    residual norm, from which the Ritz pairs' residuals follow).

    **Returns:** `(H, k)` as `arnoldi` (`H` is `(m+1, m)` with `full`).
    """
    _, lin = jax.linearize(fun, x)
    return _arnoldi(lin, v0, m) if full else arnoldi(lin, v0, m)


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


# ----------------------------------------------------------------------------- the matrix-free path


class Ritz(NamedTuple):
    """Ritz pairs of one Arnoldi run, host side.

    - `values`: `Complex[ndarray, "k"]`, the Ritz values (eigenvalues of `H[:k, :k]`).
    - `residuals`: `Float[ndarray, "k"]`, `‖A x − θ x‖` for each unit Ritz vector `x`
      (`|h[k, k-1]|·|last entry of the eigenvector of H|`, exact up to round-off); 0 after a
      breakdown (the Krylov space is invariant and the Ritz values are eigenvalues).
    - `steps`: `k`, the number of valid Arnoldi steps.
    """

    values: np.ndarray
    residuals: np.ndarray
    steps: int


def ritz_pairs(H, k) -> Ritz:
    """The Ritz values and their residuals from an `(m+1)×m` Hessenberg matrix with `k` valid
    columns (host side, float64). A non-finite `H` gives NaN values and residuals."""
    H = np.asarray(H, np.float64)
    k = int(k)
    if k < 1 or not np.all(np.isfinite(H[:k + 1, :k])):
        n = max(k, 1)
        return Ritz(np.full(n, np.nan + 1j * np.nan), np.full(n, np.nan), k)
    ev, vec = np.linalg.eig(H[:k, :k])
    beta = abs(H[k, k - 1]) if k < H.shape[0] else 0.0
    return Ritz(ev.astype(np.complex128), beta * np.abs(vec[-1, :]), k)


def _start(n: int, dtype):
    """The fixed start vector of the matrix-free path: standard normal from key 0 (deterministic)."""
    return jax.random.normal(jax.random.PRNGKey(0), (n,), dtype)


@functools.partial(jax.jit, static_argnames=("m",))
def _field_arnoldi(field, z, *, m: int):
    return jvp_arnoldi(field, z, _start(z.shape[0], z.dtype), min(m, z.shape[0]), full=True)


def field_ritz(field, z, *, m: int = KRYLOV_STEPS) -> Ritz:
    """Ritz pairs of the field's Jacobian `∂v/∂z` at `z` from `m` Arnoldi steps on JVPs (`m`
    capped at the dimension; `m ≥ n` gives every eigenvalue). One compile per kind of field
    and `m`; the field's numbers and `z` are traced."""
    H, k = _field_arnoldi(field, z, m=m)
    return ritz_pairs(H, k)


def _update_linear(field, z, lr, rule):
    """`(flat0, u ↦ ∂(one update)/∂(z, optimiser state) · u)` at `z` and the rule's initial state."""
    flat0, unravel = ravel_pytree((z, rule.init(field, z)))

    def step(flat):
        zz, st = unravel(flat)
        return ravel_pytree(rule.step(field, zz, st, lr))[0]

    _, lin = jax.linearize(step, flat0)
    return flat0, lin


@functools.partial(jax.jit, static_argnames=("rule", "m"))
def _update_arnoldi(field, z, lr, *, rule, m: int):
    flat0, lin = _update_linear(field, z, lr, rule)
    return _arnoldi(lin, _start(flat0.shape[0], flat0.dtype), min(m, flat0.shape[0]))


def update_ritz(field, z, lr, *, rule, m: int = KRYLOV_STEPS) -> Ritz:
    """Ritz pairs of the Jacobian of one full update of `rule` (state and optimiser state, as
    `jaxgan.stability.update_jacobian`) at `z`, from `m` Arnoldi steps on JVPs of the update."""
    H, k = _update_arnoldi(field, z, lr, rule=rule, m=m)
    return ritz_pairs(H, k)


@functools.partial(jax.jit, static_argnames=("rule", "m"))
def _update_arnoldi_over_lr(field, z, lrs, *, rule, m: int):
    # `lax.map`, not `vmap`: each Arnoldi keeps an (m+1)×p basis, too much to hold for every lr.
    return jax.lax.map(lambda lr: _update_arnoldi(field, z, lr, rule=rule, m=m), lrs)


def update_radii_over_lr(field, z, lrs, *, rule, m: int = KRYLOV_STEPS) -> np.ndarray:
    """The largest Ritz modulus of one update's Jacobian for every step in `lrs` (`Float[ndarray, "L"]`,
    NaN where the Jacobian is not finite): the matrix-free `spectral_radii` of
    `update_jacobians_over_lr`."""
    Hs, ks = _update_arnoldi_over_lr(field, z, lrs, rule=rule, m=m)
    Hs, ks = np.asarray(Hs), np.asarray(ks)
    return np.array([np.max(np.abs(ritz_pairs(H, k).values)) for H, k in zip(Hs, ks)])


def use_matrix_free(fn: str, dim: int, matrix_free, krylov) -> tuple[bool, int]:
    """`(matrix-free?, Krylov steps)` from the `matrix_free=` and `krylov=` arguments of `fn`:
    `matrix_free=None` means "above `DENSE_LIMIT` coordinates"; `krylov` is an int ≥ 1.

    **Raises:** `ArgumentTypeError`/`ArgumentError` naming the argument.
    """
    krylov = check_int(fn, "krylov", krylov)
    if matrix_free is None:
        return dim > DENSE_LIMIT, krylov
    return check_bool(fn, "matrix_free", matrix_free), krylov
