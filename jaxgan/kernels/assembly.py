"""Block-by-block assembly of a kernel matrix on the device, shared by the Jacobian and the
structured paths.

A path supplies `rows(i)` (the factors of row block `i`, padded to `b` rows so that every block
has one compiled shape) and `gram(rows_i, rows_j)` (the `(b, b)` block of `K`); `assemble`
writes the blocks into `K` in place, computing only the blocks on and above the diagonal of a
symmetric kernel.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .plan import mm

__all__: list = []


def flatten_rows(tree, b: int, dtype):
    """The leaves of a pytree with a leading axis `b`, flattened and concatenated: `(b, P)`."""
    return jnp.concatenate([leaf.reshape(b, -1).astype(dtype) for leaf in jax.tree_util.tree_leaves(tree)], axis=1)


def blocks(n: int, b: int):
    """`[(start, end), ...]`: `n` rows in blocks of `b` (the last one may be short)."""
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def take(tree, s: int, e: int, b: int):
    """Rows s:e of every leaf, padded to b rows by repeating row e-1 (the padding is discarded)."""
    idx = np.minimum(np.arange(s, s + b), e - 1)
    return jax.tree_util.tree_map(lambda a: a[idx], tree)


def basis(n: int, s: int, e: int, b: int, dtype):
    """Rows s:e of the n×n identity, padded with zero rows to b rows."""
    rows = np.zeros((b, n), dtype=np.dtype(dtype))
    rows[np.arange(e - s), np.arange(s, e)] = 1
    return jnp.asarray(rows)


@functools.partial(jax.jit, static_argnames=("h", "w", "mode"))
def crop(blk, h: int, w: int, mode: int):
    """`blk[:h, :w]`; mode 1: transposed; mode 2: symmetrised (a diagonal block)."""
    blk = blk[:h, :w]
    return blk.T if mode == 1 else 0.5 * (blk + blk.T) if mode == 2 else blk


@functools.partial(jax.jit, static_argnames=("h", "w", "mode"), donate_argnums=0)
def _put(out, blk, i, j, h: int, w: int, mode: int):
    """Write `crop(blk, h, w, mode)` into `out` at rows i, columns j, in place (donated buffer)."""
    return jax.lax.dynamic_update_slice(out, crop(blk, h, w, mode).astype(out.dtype), (i, j))


@jax.jit
def gram(a, b):
    """`a bᵀ` at the highest precision."""
    return mm(a, b.T)


def map_rows(f, rows):
    """`vmap(f)(rows)`, except on CPU, where it is a sequential `lax.map`: XLA's CPU backend runs
    the batched (vmapped) backward pass of batch statistics (BatchNorm in train mode) about 100×
    slower than a loop over the rows."""
    if jax.default_backend() == "cpu":
        return jax.lax.map(f, rows)
    return jax.vmap(f)(rows)


class _RowCache:
    """`rows(i)`, remembered when `keep` (the factors of all rows fit the budget)."""

    def __init__(self, rows, keep: bool):
        self.rows, self.keep, self.cache = rows, keep, {}

    def __call__(self, i):
        if i in self.cache:
            return self.cache[i]
        r = self.rows(i)
        if self.keep:
            self.cache[i] = r
        return r


def assemble(n1, n2, b, rows1, rows2, gram_fn, symmetric, dtype, cache1=False, cache2=False):
    """Fill K `(n1, n2)` block by block on the device: `gram_fn(rows1(i), rows2(j))` is the (b, b)
    block (padded). With `symmetric` (`rows2` unused) only the blocks on and above the diagonal are
    computed; the others are their transposes. `cache1`, `cache2`: keep each block's rows once
    computed. Peak memory: K itself plus the working set of one block pair."""
    blocks1, blocks2 = blocks(n1, b), blocks(n2, b)
    if len(blocks1) == 1 and len(blocks2) == 1:
        r1 = rows1(0)
        blk = gram_fn(r1, r1 if symmetric else rows2(0))
        if blk.shape == (n1, n2) and not symmetric:
            return blk
        return crop(blk, n1, n2, 2 if symmetric else 0)
    get1 = _RowCache(rows1, cache1)
    get2 = get1 if symmetric else _RowCache(rows2, cache2)
    out = jnp.zeros((n1, n2), dtype)
    for i, (s1, e1) in enumerate(blocks1):
        ri = get1(i)
        for j, (s2, e2) in enumerate(blocks2):
            if symmetric and j < i:
                continue
            blk = gram_fn(ri, ri if symmetric and j == i else get2(j))
            out = put_block(out, blk, (s1, e1), (s2, e2), symmetric=symmetric, diagonal=i == j)
    return out


def put_block(out, blk, rows: tuple, cols: tuple, *, symmetric: bool, diagonal: bool):
    """Place the (padded) block `blk` at `rows × cols` of K `out`; for a symmetric K also its
    transpose at `cols × rows` (a diagonal block fills its lower triangle from its upper one)."""
    (s1, e1), (s2, e2) = rows, cols
    if symmetric and diagonal:
        return _put(out, blk, s1, s2, h=e1 - s1, w=e2 - s2, mode=2)
    out = _put(out, blk, s1, s2, h=e1 - s1, w=e2 - s2, mode=0)
    return _put(out, blk, s2, s1, h=e1 - s1, w=e2 - s2, mode=1) if symmetric else out
