"""The kernel of any network by kernel-vector products assembled into `K` by blocks of columns
(`algorithm="kvp"`).

For a block of `b` columns `j` of `K`, the directions `J(x2_j)ᵀ` (the vjps of one-hot
cotangents: per-example gradients, `b·P` numbers) are computed once; then every block of `b`
rows `i` is `K[i, j] = J(x1_i) · J(x2_j)ᵀ`, the jvps of `D(x1_i)` along those `b` directions
(`vmap` of one `jvp` over the directions). Nothing of size `N×P` is ever held: one block of
directions (`b·P`) and the tangents of `b` rows along `b` directions (`b²` activations of one
example). Cost: `n2` vjps of one example, and `n1·n2` tangent passes (`n1·n2/b` primal passes);
see `choice.py` for when that beats the row-block Jacobian product.

Batch-coupled networks (BatchNorm in train mode): the directions are vjps of the whole batch
`x2` with one-hot cotangents, and each block of columns is the jvp of the whole batch `x1`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .assembly import _put, basis, blocks, crop, map_rows, put_block, take
from .plan import Plan, call

__all__: list = []


def _one(tree):
    return jax.tree_util.tree_map(lambda a: a[None], tree)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _directions(fn, skw, params, dkw, xb, exb):
    """`J(x_j)ᵀ` for a block of inputs: per-example gradients, a pytree like `params` with a
    leading axis `b`."""
    def single(p, x, e):
        return call(fn, skw, p, x[None], dkw, _one(e))[0]

    return jax.vmap(jax.grad(single), in_axes=(None, 0, 0))(params, xb, exb)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _block(fn, skw, params, dkw, xb, exb, dirs):
    """`K[rows, cols] = J(x_rows) · dirs`: the jvps of `D(xb)` along each direction, `(b_rows, b_cols)`."""
    def along(t):
        return jax.jvp(lambda p: call(fn, skw, p, xb, dkw, exb), (params,), (t,))[1]

    return jax.vmap(along, out_axes=1)(dirs)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _directions_coupled(fn, skw, params, dkw, x, ex, rows):
    """`J(batch)ᵀ e` for the one-hot cotangents `rows` `(b, n)` of a batch-coupled network."""
    out, vjp = jax.vjp(lambda p: call(fn, skw, p, x, dkw, ex), params)
    return map_rows(lambda e: vjp(e.astype(out.dtype))[0], rows)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _columns_coupled(fn, skw, params, dkw, x, ex, dirs):
    """`J(batch) · dirs`, `(n, b)`: the jvps of the whole batch along each direction."""
    def along(t):
        return jax.jvp(lambda p: call(fn, skw, p, x, dkw, ex), (params,), (t,))[1]

    return map_rows(along, dirs).T


@functools.partial(jax.jit, donate_argnums=0)
def _symmetrise(k):
    return 0.5 * (k + k.T)


def kernel_kvp(plan: Plan, params, b: int):
    """`K` by kernel-vector products, blocks of `b` columns (and `b` rows); only the blocks on
    and above the diagonal when `x2` is omitted (then `K` is exactly symmetric)."""
    x1, x2 = plan.x1, plan.x2
    symmetric = x2 is None
    x2, ex2 = (x1, plan.ex1) if symmetric else (x2, plan.ex2)
    n1, n2 = x1.shape[0], x2.shape[0]
    dtype = plan.dtype
    args = (plan.fn, plan.skw, params, plan.dkw)
    if plan.coupled:
        b = min(b, n2)
        out = jnp.zeros((n1, n2), dtype)
        for s, e in blocks(n2, b):
            dirs = _directions_coupled(*args, x2, ex2, basis(n2, s, e, b, dtype))
            out = _put(out, _columns_coupled(*args, x1, plan.ex1, dirs).astype(dtype), 0, s, h=n1, w=e - s, mode=0)
        return _symmetrise(out) if symmetric else out
    b = min(b, max(n1, n2))
    blocks1, blocks2 = blocks(n1, b), blocks(n2, b)
    rows1 = [take((x1, plan.ex1), s, e, b) for s, e in blocks1]
    if len(blocks1) == 1 and len(blocks2) == 1:
        blk = _block(*args, *rows1[0], _directions(*args, *take((x2, ex2), 0, n2, b)))
        return crop(blk.astype(dtype), n1, n2, 2 if symmetric else 0)
    out = jnp.zeros((n1, n2), dtype)
    for j, (s2, e2) in enumerate(blocks2):
        dirs = _directions(*args, *take((x2, ex2), s2, e2, b))
        for i, (s1, e1) in enumerate(blocks1):
            if symmetric and i > j:
                break
            blk = _block(*args, *rows1[i], dirs).astype(dtype)
            out = put_block(out, blk, (s1, e1), (s2, e2), symmetric=symmetric, diagonal=i == j)
    return out
