"""`top_spectrum`: the top of a kernel's spectrum from kernel-vector products, never forming `K`.

The weighted integral operator `T = K W` is similar to the symmetric `A = W^½ K W^½`; its top
`k` eigenpairs come from products `A u = W^½ J Jᵀ W^½ u` (`J = ∂D(x)/∂θ`, the `N×P` Jacobian
that is never formed either): one transposed and one forward linear map of the network per
product. Two kinds of product:

- `"linearized"` (any network): the network is linearised once (`jax.vjp` over the N points; its
  residuals are kept), and each product is that vjp followed by its transpose (`jax.linear_transpose`
  of the vjp is the jvp), so the forward pass is not recomputed. For a batch-coupled network
  (BatchNorm in train mode) this is the batch operator, as in `kernel_vp`.
- `"structured"` (jaxgan MLPs per example): the per-layer factors `Â` (layer inputs with a 1) and
  `G = ∂D/∂h` of `structured.py`, computed once; then `J_lᵀ u = Âᵀ diag(u) G` and
  `J_l M = rowsum((Â M) ⊙ G)`: two matrix products per layer instead of four.

Two eigensolvers (`algorithm=`): Lanczos with full reorthogonalisation and thick restarts (Wu &
Simon 2000, "Thick-restart Lanczos method for large symmetric eigenvalue problems", SIMAX 22), run
on the host in float64 with the products in the network's dtype; and LOBPCG (Knyazev 2001) through
`jax.experimental.sparse.linalg.lobpcg_standard` on blocks of products.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import bad_type, check_choice, check_float, check_int, check_values
from ..errors import ArgumentError, ConvergenceWarning
from ..progress import check_progress, reporter
from .plan import DEFAULT_MEMORY_BUDGET, Plan, call, check_budget, make_plan, mm
from .structured import _mlp_factors

__all__ = ["TopSpectrum", "top_spectrum", "EIGEN_ALGORITHMS"]

EIGEN_ALGORITHMS = ("lanczos", "lobpcg")


class TopSpectrum(NamedTuple):
    """The top `k` eigenpairs of a kernel's integral operator `(T f)(x) = Σ_j K(x, x_j) w_j f(x_j)`.

    - `eigenvalues`: `Float[ndarray, "k"]`, descending (those of `W^½ K W^½`, as in `KernelSpectrum`).
    - `eigenfunctions`: `Float[ndarray, "n k"]`; column i holds `φ_i` at the points, orthonormal in
      `L²(w)` (`Σ_j w_j φ_i(x_j) φ_l(x_j) = δ_il`), signed so that its largest entry in `W^½ φ` is positive.
    - `residuals`: `Float[ndarray, "k"]`: `‖T φ_i − λ_i φ_i‖_{L²(w)} / λ_1` (equal to
      `‖A u_i − λ_i u_i‖₂ / λ_1` for `A = W^½ K W^½`, `u_i = W^½ φ_i`). Lanczos reports its own
      estimate `|β_m s_mi|`, exact up to the round-off of the products (about `noise_floor / λ_1`);
      LOBPCG's are computed from one more block of products.
    - `converged`: whether every residual is ≤ `tol`.
    - `tol`: the tolerance used (relative to `λ_1`).
    - `n_matvecs`: the number of kernel-vector products (one per vector: a block of b counts b).
    - `algorithm`: `"lanczos"` or `"lobpcg"`; `product`: `"structured"` or `"linearized"`.
    - `noise_floor`: `eps·λ_1` with `eps` the machine epsilon of the network's dtype: eigenvalues
      below it are round-off (see "Precision" in `jaxgan.kernels`).
    - `weights`: the quadrature weights used, `Float[ndarray, "n"]`.
    - `seconds`: wall time (compilation included).
    """

    eigenvalues: np.ndarray
    eigenfunctions: np.ndarray
    residuals: np.ndarray
    converged: bool
    tol: float
    n_matvecs: int
    algorithm: str
    product: str
    noise_floor: float
    weights: np.ndarray
    seconds: float


# ============================================================================ the products


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _linearize(fn, skw, params, dkw, x, ex):
    """The vjp of `θ ↦ D(x)` at `params` (a pytree: its residuals cross the jit boundary)."""
    return jax.vjp(lambda p: call(fn, skw, p, x, dkw, ex), params)[1]


def _linearized_one(vjp, sw, u):
    """`W^½ K W^½ u` from the kept vjp and its transpose (the jvp)."""
    v = (sw * u).astype(sw.dtype)
    (ct,) = vjp(v)
    (out,) = jax.linear_transpose(vjp, v)((ct,))
    return sw * out


def _structured_one(factors, sw, u):
    """`W^½ K W^½ u` from the per-layer factors: `Σ_l rowsum((Â_l Â_lᵀ diag(v) G_l) ⊙ G_l) + V Vᵀ v`."""
    a_hat, g, vv = factors
    v = (sw * u).astype(sw.dtype)
    out = jnp.zeros_like(v)
    for a, gl in zip(a_hat, g):
        m = mm(a.T, v[:, None] * gl)
        out = out + jnp.sum(mm(a, m) * gl, axis=1)
    if vv is not None:
        out = out + mm(vv, mm(vv.T, v))
    return sw * out


_ONE = {"linearized": _linearized_one, "structured": _structured_one}


@functools.partial(jax.jit, static_argnames=("kind",))
def _product(kind, data, sw, u):
    """One product `A u`, `u: (n,)`."""
    return _ONE[kind](data, sw, u)


def _block(kind, data, sw, u, batch):
    """`A U` for a block `U: (n, b)`, `batch` columns at a time (traceable)."""
    one = functools.partial(_ONE[kind], data, sw)
    if batch >= u.shape[1]:
        return jax.vmap(one, in_axes=1, out_axes=1)(u)
    return jax.lax.map(one, u.T, batch_size=batch).T



def _operator(plan: Plan):
    """`(kind, data)`: the kept state of the products — the per-layer factors of a recognised dense
    stack (a jaxgan MLP, or a flax/equinox one in jaxgan's layout, `plan.mlp_params`) applied per
    example, else the vjp of the network on the whole batch (`plan.params`, the trainable pytree)."""
    if plan.spec is not None and plan.mlp_params is not None and not plan.coupled:
        return "structured", _mlp_factors(plan.spec, plan.mode, plan.mlp_params, plan.x1, plan.ex1)
    return "linearized", _linearize(plan.fn, plan.skw, plan.params, plan.dkw, plan.x1, plan.ex1)


def _nbytes(tree) -> int:
    return int(sum(np.dtype(leaf.dtype).itemsize * math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree)
                   if hasattr(leaf, "shape")))


# ============================================================================ Lanczos


def _lanczos(product, n, k, m, tol, max_iters, start, eps, report):
    """Thick-restart Lanczos with full (twice classical Gram-Schmidt) reorthogonalisation, host side,
    float64. `product`: `(n,) float64 -> (n,) float64`. Returns `(θ, Y, residuals, n_matvecs)` with
    residuals relative to `|θ_1|`: `A V_j = V_j H_j + β v_{j+1} e_jᵀ` holds throughout (also after a
    restart, where `H` is an arrowhead), so a Ritz pair `(θ, V s)` has residual `|β s_j|`."""
    v_basis = np.zeros((n, m + 1))
    h = np.zeros((m, m))
    v_basis[:, 0] = start / np.linalg.norm(start)
    rng = np.random.default_rng(0)
    j = n_mv = 0
    while True:
        w = product(v_basis[:, j])
        n_mv += 1
        q = v_basis[:, : j + 1]
        c = q.T @ w
        w -= q @ c
        c2 = q.T @ w
        w -= q @ c2
        c += c2
        h[: j + 1, j] = c
        h[j, : j + 1] = c
        beta = float(np.linalg.norm(w))
        j += 1
        theta, s = np.linalg.eigh(h[:j, :j])
        theta, s = theta[::-1], s[:, ::-1]
        scale = max(abs(theta[0]), np.finfo(np.float64).tiny)
        invariant = beta <= eps * scale
        res = np.abs(beta * s[j - 1, :]) / scale
        done = j >= k and bool(np.all(res[:k] <= tol))
        report(n_mv, f"{int(np.sum(res[:k] <= tol)) if j >= k else 0}/{k} converged")
        if done or (j == n) or n_mv >= max_iters:
            y = v_basis[:, :j] @ s[:, :k]
            return theta[:k], y, res[:k], n_mv
        if invariant:
            # The Krylov space is invariant (exact eigenpairs): go on with a fresh direction (what is
            # left of the spectrum, e.g. the zeros of a kernel of rank < k).
            w = rng.standard_normal(n)
            for _ in range(2):
                w -= v_basis[:, :j] @ (v_basis[:, :j].T @ w)
            beta_new = float(np.linalg.norm(w))
            w /= beta_new
        else:
            w /= beta
        if j == m:  # thick restart: keep the best p Ritz vectors and the residual direction
            p = min(m - 1, k + max(1, (m - k) // 2))
            v_basis[:, :p] = v_basis[:, :m] @ s[:, :p]
            h[:] = 0.0
            h[np.arange(p), np.arange(p)] = theta[:p]
            coupling = 0.0 if invariant else beta
            h[:p, p] = h[p, :p] = coupling * s[m - 1, :p]
            j = p
        v_basis[:, j] = w


# ============================================================================ LOBPCG


@functools.partial(jax.jit, static_argnames=("kind", "batch", "m", "tol"))
def _lobpcg(kind, data, sw, x0, batch, m, tol):
    from jax.experimental.sparse.linalg import lobpcg_standard

    theta, u, iters = lobpcg_standard(lambda x: _block(kind, data, sw, x, batch), x0, m=m, tol=tol)
    au = _block(kind, data, sw, u, batch)
    res = jnp.linalg.norm(au - u * theta[None, :], axis=0)
    return theta, u, res, iters


# ============================================================================ public


def _default_tol(dtype) -> float:
    return {8: 1e-10, 4: 1e-5}.get(jnp.dtype(dtype).itemsize, 1e-2)


def top_spectrum(model, params, x, k: int = 20, *, weights=None, algorithm: str = "lanczos", tol=None,
                 max_iters=None, train: bool | None = None, apply_kwargs: dict | None = None, x_kwargs=None,
                 batch_coupled: bool | None = None, rng=None, key=None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, progress=None) -> TopSpectrum:
    """The top `k` eigenvalues and eigenfunctions of a network's kernel operator, matrix-free.

    The same operator as `spectrum(parametric_kernel(model, params, x), weights)` — `T = K W`,
    through its symmetric form `W^½ K W^½` — but from kernel-vector products only (one transposed
    and one forward linear map of the network over the `N` points each): time `O(n_matvecs·N·P)`,
    memory `O(N·k)` plus one set of the network's activations on the `N` points (or, for jaxgan
    MLPs, their per-layer factors), where the dense route needs `O(N²P)` time and an `N×N` matrix.
    Use it for the top of the spectrum at large `N` (which directions the discriminator can move at
    all); the dense route for the whole spectrum at small `N`.

    **Arguments:**

    - `model`, `params`, `x`, `train`, `apply_kwargs`, `batch_coupled`, `rng`: as `parametric_kernel`
      (`model`: any network it accepts — an `apply(params, x)`, a jaxgan MLP, a flax or equinox
      model, `params=None` for models that carry their own; `x`: `Float[Array, "n ..."]`);
      `x_kwargs` is its `x1_kwargs` (per-example arguments such as a dropout mask). A
      batch-coupled network (BatchNorm in train mode) gives the batch operator. Dense stacks that
      `parametric_kernel` recognises take the structured products.
    - `k`: how many eigenpairs, `1 ≤ k ≤ n`.
    - `weights`: `Float[Array, "n"]`, positive quadrature weights; default all ones.
    - `algorithm`: `"lanczos"` (default: thick-restart Lanczos with full reorthogonalisation, one
      product per step, few products) or `"lobpcg"` (`jax.experimental.sparse.linalg.lobpcg_standard`
      on blocks of `k` products; needs `5k < n`; usually more products, but in blocks).
    - `tol`: residual tolerance relative to `λ_1` (see `TopSpectrum.residuals`); default `1e-5` in
      float32, `1e-10` in float64. Eigenvalues below `tol·λ_1` meet it trivially: they are bounded,
      not resolved.
    - `max_iters`: the most products (Lanczos, ≥ k) or block iterations (LOBPCG, ≥ 1); default
      `max(200, 10k)` (Lanczos), `100` (LOBPCG).
    - `key`: a `jax.random` key for the random start; default `PRNGKey(0)` (reproducible).
    - `memory_budget`: bytes for the products of one block (LOBPCG: how many columns at a time).
    - `progress`: `True` (a bar), `False`/`None`, or a callable receiving `ProgressEvent`s.

    **Returns:** a `TopSpectrum` (numpy float64 arrays).

    **Warns:** `jaxgan.errors.ConvergenceWarning` (with `.residuals`) when a residual is still above
    `tol` after `max_iters`; the result is returned with `converged=False`.

    **Raises:** as `parametric_kernel`, before anything is compiled; `ArgumentError` for `k` outside
    `[1, n]`, weights that are not positive or not of length `n`, an unknown `algorithm`, `"lobpcg"`
    with `5k ≥ n`, a non-positive `tol` or `memory_budget`; `ArgumentTypeError` for non-integer `k`
    or `max_iters`, a `key` that is not a `jax.random` key, a `progress` that is not a bool or callable.

    **Example:**

    ```python
    init, apply = jaxgan.nets.mlp((1, 512, 512, 1))
    x = jnp.linspace(-3, 3, 65536)
    top = jaxgan.kernels.top_spectrum(apply, init(jax.random.PRNGKey(0)), x, k=20)
    top.eigenvalues, top.residuals, top.n_matvecs
    ```
    """
    who = "top_spectrum"
    algorithm = check_choice(who, "algorithm", algorithm, EIGEN_ALGORITHMS)
    k_ok = check_int(who, "k", k, lo=1)
    plan = make_plan(who, model, params, x, None, train, apply_kwargs, x_kwargs, None, batch_coupled, rng=rng)
    n = plan.x1.shape[0]
    if k_ok > n:
        raise ArgumentError(f"{who} argument `k` must be an integer in [1, {n}] (at most the number of points "
                            f"in `x`); got {k_ok}.")
    k = k_ok
    if algorithm == "lobpcg" and 5 * k >= n:
        raise ArgumentError(f"{who}: algorithm='lobpcg' needs 5·k < n (here k = {k}, n = {n}); use "
                            f"algorithm='lanczos'.")
    w = np.ones(n) if weights is None else check_values(who, "weights", weights, sign="positive", size=n,
                                                        what="one quadrature weight or density value per point",
                                                        dtype=np.float64)
    dtype = jnp.dtype(plan.dtype)
    tol = _default_tol(dtype) if tol is None else check_float(who, "tol", tol, sign="positive", dtype=np.float64)
    default_iters = max(200, 10 * k) if algorithm == "lanczos" else 100
    # Lanczos needs k products for k Ritz pairs
    lo_iters = k if algorithm == "lanczos" else 1
    max_iters = default_iters if max_iters is None else check_int(who, "max_iters", max_iters, lo=lo_iters)
    memory_budget = check_budget(memory_budget, who)
    check_progress(who, progress)
    start = _start(who, key, n, k if algorithm == "lobpcg" else 1, dtype)
    eps = float(jnp.finfo(dtype).eps)
    with reporter(who, progress, "top_spectrum", max_iters, unit="product") as report:
        lam, u, res, n_mv, kind, seconds = _solve(plan, k, w, algorithm, tol, max_iters, start, eps,
                                                  memory_budget, report)
        converged = bool(np.all(res <= tol))
        report(max_iters, f"{'converged' if converged else 'NOT converged'} after {n_mv} products")
    if not converged:
        bad = int(np.sum(res > tol))
        warnings.warn(ConvergenceWarning(
            f"{who}: {bad} of {k} eigenpairs did not reach tol = {tol:.3g} (relative to λ_1) after {n_mv} products "
            f"({algorithm}, max_iters = {max_iters}); largest residual {float(np.max(res)):.3g}. Raise `max_iters` or "
            f"`tol`, or compute in float64.", residuals=res), stacklevel=2)
    sign = np.where(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])] < 0, -1.0, 1.0)
    phi = (u * sign[None, :]) / np.sqrt(w)[:, None]
    floor = eps * float(max(lam[0], 0.0))
    return TopSpectrum(lam, phi, res, converged, float(tol), int(n_mv), algorithm, kind, floor, w, seconds)


def _start(who, key, n, cols, dtype):
    """The random start `(n, cols)` drawn from `key` (default `PRNGKey(0)`)."""
    key = jax.random.PRNGKey(0) if key is None else key
    try:
        return jax.random.normal(key, (n, cols), dtype)
    except (TypeError, ValueError):
        raise bad_type(who, "key", "a jax.random key (jax.random.PRNGKey(seed) or jax.random.key(seed))", key) from None


def _solve(plan, k, w, algorithm, tol, max_iters, start, eps, memory_budget, report):
    """`(λ, U, residuals, n_matvecs, product kind, seconds)` of the symmetric operator `W^½ K W^½`
    (`U` orthonormal columns, residuals relative to `λ_1`)."""
    n, dtype = plan.x1.shape[0], jnp.dtype(plan.dtype)
    t0 = time.perf_counter()
    kind, data = _operator(plan)
    sw = jnp.asarray(np.sqrt(w), dtype)
    if algorithm == "lanczos":
        start = np.asarray(start[:, 0], np.float64)

        def product(u):
            return np.array(_product(kind, data, sw, jnp.asarray(u, dtype)), np.float64)

        m = min(n, max(3 * k, k + 30))
        lam, u, res, n_mv = _lanczos(product, n, k, m, tol, max_iters, start, eps, report)
    else:
        per_col = max(1, _nbytes(data))
        batch = int(max(1, min(k, memory_budget // per_col)))
        theta, uu, r, iters = _lobpcg(kind, data, sw, start, batch, max_iters, float(tol) / (20 * n))
        lam, u = np.asarray(theta, np.float64), np.asarray(uu, np.float64)
        order = np.argsort(-lam)
        lam, u = lam[order], u[:, order]
        res = np.asarray(r, np.float64)[order] / max(abs(lam[0]), np.finfo(np.float64).tiny)
        n_mv = k * (int(iters) + 2)
        report(n_mv, "")
    return lam, u, res, n_mv, kind, time.perf_counter() - t0
