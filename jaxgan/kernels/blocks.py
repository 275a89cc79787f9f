"""The kernel of any network from its Jacobian: row blocks sized to a memory budget
(`algorithm="jacobian"`), and the literal forward-mode recipe as a reference (`"jacfwd"`)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._checks import check_memory
from ..errors import ArgumentError
from .assembly import assemble, basis, blocks, crop, flatten_rows, gram, map_rows, take
from .plan import Plan, call

__all__: list = []


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _jac_rows_example(fn, skw, params, dkw, xb, exb):
    """Rows ∂D(x_i)/∂θ of a per-example network, `(b, P)`, by `vmap(grad)`."""
    first = jax.tree_util.tree_map(lambda a: a[:1], exb)
    dtype = jax.eval_shape(lambda: call(fn, skw, params, xb[:1], dkw, first)).dtype

    def single(p, x, e):
        return call(fn, skw, p, x[None], dkw, jax.tree_util.tree_map(lambda a: a[None], e))[0]

    grads = jax.vmap(jax.grad(single), in_axes=(None, 0, 0))(params, xb, exb)
    return flatten_rows(grads, xb.shape[0], dtype)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _jac_rows_coupled(fn, skw, params, dkw, x, ex, rows):
    """Rows ∂D(x_i; batch)/∂θ of a batch-coupled network for the rows selected by `rows` `(b, n)`."""
    out, vjp = jax.vjp(lambda p: call(fn, skw, p, x, dkw, ex), params)
    grads = map_rows(lambda e: vjp(e.astype(out.dtype))[0], rows)
    return flatten_rows(grads, rows.shape[0], out.dtype)


def jacobian_block_size(n1: int, n2: int, p: int, itemsize: int, budget: int, batch_size, symmetric: bool) -> int:
    """Rows per block of the Jacobian path: `batch_size` when given, else two blocks of `b·P` floats
    within `budget` bytes — and, for a symmetric kernel of 1024 points or more, at most a quarter of
    them: only the blocks on and above the diagonal are computed, so four blocks do 10 of the 16
    block products (62.5 % of the FLOPs of one whole `J Jᵀ`)."""
    if batch_size is not None:
        return min(batch_size, max(n1, n2))
    b = min(max(1, budget // (2 * p * itemsize)), max(n1, n2))
    if symmetric and n1 >= 1024:
        b = min(b, -(-n1 // 4))
    return b


def keeps_rows(n: int, p: int, itemsize: int, budget: int) -> bool:
    """Whether all `n` Jacobian rows fit `budget` bytes, so each row block is computed once and kept."""
    return n * p * itemsize <= budget


def kernel_jacobian(plan: Plan, params, batch_size, budget):
    """`K = J1 J2ᵀ` from Jacobian row blocks (`jacobian_block_size`); vjps of the full batch when
    the network is batch-coupled. Row blocks are kept once computed when all rows fit `budget`."""
    x1, x2 = plan.x1, plan.x2
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    itemsize = jnp.dtype(plan.dtype).itemsize
    b = jacobian_block_size(n1, n2, plan.n_params, itemsize, budget, batch_size, x2 is None)
    if plan.coupled:
        def rows_for(x, ex, n):
            return lambda i: _jac_rows_coupled(plan.fn, plan.skw, params, plan.dkw, x, ex,
                                               basis(n, *blocks(n, b)[i], b, plan.dtype))
    else:
        def rows_for(x, ex, n):
            return lambda i: _jac_rows_example(plan.fn, plan.skw, params, plan.dkw,
                                               *take((x, ex), *blocks(n, b)[i], b))
    rows1 = rows_for(x1, plan.ex1, n1)
    rows2 = None if x2 is None else rows_for(x2, plan.ex2, n2)
    return assemble(n1, n2, b, rows1, rows2, gram, x2 is None, plan.dtype,
                    cache1=x2 is None and keeps_rows(n1, plan.n_params, itemsize, budget),
                    cache2=x2 is not None and keeps_rows(n2, plan.n_params, itemsize, budget))


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _jacfwd_full(fn, skw, params, dkw, x, ex):
    flat, unravel = ravel_pytree(params)
    return jax.jacfwd(lambda f: call(fn, skw, unravel(f), x, dkw, ex))(flat)


def kernel_jacfwd(plan: Plan, params, budget, who: str = "parametric_kernel"):
    """`K = J1 J2ᵀ` with the full Jacobians over the flattened parameters by forward mode (P
    forward passes): the reference for small nets, refused when `J` exceeds `budget` bytes."""
    n_total = plan.x1.shape[0] + (0 if plan.x2 is None else plan.x2.shape[0])
    need = plan.n_params * n_total * jnp.dtype(plan.dtype).itemsize
    if need > budget:
        raise ArgumentError(
            f"{who}(algorithm='jacfwd') would hold a {n_total}×{plan.n_params} Jacobian "
            f"({need / 2**20:.1f} MiB > memory_budget {budget / 2**20:.1f} MiB) after {plan.n_params} forward "
            f"passes; it is the reference for small nets: use algorithm='structured' or 'jacobian'."
        )
    check_memory(who, f"algorithm='jacfwd' (a {n_total}×{plan.n_params} Jacobian)", need,
                 "use algorithm='structured' or 'jacobian'")
    j1 = _jacfwd_full(plan.fn, plan.skw, params, plan.dkw, plan.x1, plan.ex1)
    if plan.x2 is None:
        return crop(gram(j1, j1), j1.shape[0], j1.shape[0], 2)
    j2 = _jacfwd_full(plan.fn, plan.skw, params, plan.dkw, plan.x2, plan.ex2)
    return gram(j1, j2)
