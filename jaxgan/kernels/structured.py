"""The kernel of a jaxgan MLP by per-layer factors (`algorithm="structured"`), never the N×P Jacobian.

For a dense layer h_k = a_k W + b (k: example) and a BatchNorm affine map y_k = γ ⊙ x̂_k + β,

    ∂D_i/∂W = Σ_k a_k ⊗ G_ik,  ∂D_i/∂b = Σ_k G_ik,  ∂D_i/∂γ = Σ_k x̂_k ⊙ Gy_ik,  ∂D_i/∂β = Σ_k Gy_ik

with G_ik = ∂D_i/∂h_k and Gy_ik = ∂D_i/∂y_k (the taps of `nets._forward`). Per example (eval
mode) G_ik = 0 for k ≠ i, so with â = [a, 1]:

    K = Σ_layers (Â Âᵀ) ⊙ (G Gᵀ) + V Vᵀ,   V = [x̂ ⊙ Gy, Gy] over the BatchNorm layers;

batch-coupled (BatchNorm in train mode):

    K_ij = Σ_layers Σ_km (Â Âᵀ)_km <G_ik, G_jm> + V_i·V_j,   V_i = [Σ_k x̂_k ⊙ Gy_ik, Σ_k Gy_ik].

There Â Âᵀ = L Lᵀ with L = Â Q, Q (d+1, r) an orthonormal basis of the row space of Â (the
identity when d+1 ≤ n, else from an SVD, r = n): then K_ij = Σ_layers <Lᵀ G_i, Lᵀ G_j> + V_i·V_j,
rows of r·width numbers per layer instead of the (d+1)·width of the Jacobian.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from .. import nets as _nets
from .assembly import assemble, basis, blocks, gram, map_rows, take
from .plan import HIGHEST, Plan, mm

__all__: list = []


# ============================================================================ per example


@functools.partial(jax.jit, static_argnames=("spec", "train"))
def _mlp_factors(spec, train, params, xb, exb):
    """`(Â per layer, G per layer, V or None)` of a block of inputs (see the module docstring)."""
    dtype = params["dense"][0]["w"].dtype
    taps0 = _nets.zero_taps(spec, xb.shape[0], dtype)

    def total(taps):
        out, rec = _nets._forward(spec, params, xb, train=train, mask=exb.get("mask"), taps=taps)
        return jnp.sum(out), rec

    g, rec = jax.grad(total, has_aux=True)(taps0)
    ones = jnp.ones((xb.shape[0], 1), dtype)
    a_hat = [jnp.concatenate([a.astype(dtype), ones], axis=1) for a in rec["inputs"]]
    v = None
    if spec.batchnorm:
        v = jnp.concatenate([t for xh, gy in zip(rec["xhat"], g["y"]) for t in (xh * gy, gy)], axis=1)
    return a_hat, g["h"], v


@jax.jit
def _gram_factors(f1, f2):
    """The block `Σ_l (Â1 Â2ᵀ) ⊙ (G1 G2ᵀ) + V1 V2ᵀ` of two blocks of factors."""
    a1, g1, v1 = f1
    a2, g2, v2 = f2
    k = None
    for x1, y1, x2, y2 in zip(a1, g1, a2, g2):
        term = mm(x1, x2.T) * mm(y1, y2.T)
        k = term if k is None else k + term
    if v1 is not None:
        k = k + mm(v1, v2.T)
    return k


def _sizes(plan: Plan) -> tuple[int, int, int]:
    """`(n1, n2, itemsize)`: the rows of the two inputs (`n2 = n1` for a symmetric kernel) and
    the bytes of one entry."""
    n1 = plan.x1.shape[0]
    return n1, (n1 if plan.x2 is None else plan.x2.shape[0]), jnp.dtype(plan.dtype).itemsize


def _structured_per_example(plan: Plan, params, batch_size, budget):
    """Factors of width F per row; a block pair holds about four b×b matrices."""
    spec, x1, x2 = plan.spec, plan.x1, plan.x2
    n1, n2, itemsize = _sizes(plan)
    widths = spec.sizes
    f_width = sum(w + 1 for w in widths[:-1]) + sum(widths[1:]) + 2 * sum(spec.hidden) * spec.batchnorm
    if batch_size is None:
        c = 2 * f_width
        batch_size = max(1, int((-c + math.sqrt(c * c + 16 * budget / itemsize)) / 8))
    b = min(batch_size, max(n1, n2))
    train = plan.mode

    def rows_for(x, ex, n):
        return lambda i: _mlp_factors(spec, train, params, *take((x, ex), *blocks(n, b)[i], b))

    rows1 = rows_for(x1, plan.ex1, n1)
    rows2 = None if x2 is None else rows_for(x2, plan.ex2, n2)
    # Keep the factors of all rows when they fit the budget (else recompute them per block).
    keep = (n1 + n2) * f_width * itemsize <= budget // 2
    return assemble(n1, n2, b, rows1, rows2, _gram_factors, x2 is None, plan.dtype, cache1=keep, cache2=keep)


# ============================================================================ batch-coupled


@functools.partial(jax.jit, static_argnames=("spec",))
def _mlp_batch_inputs(spec, params, x, ex):
    """The augmented layer inputs `Â_l = [a_l, 1]` of a batch in train mode, one `(n, d_l+1)` per layer."""
    dtype = params["dense"][0]["w"].dtype
    _, rec = _nets._forward(spec, params, x, train=True, mask=ex.get("mask"))
    ones = jnp.ones((x.shape[0], 1), dtype)
    return [jnp.concatenate([a.astype(dtype), ones], axis=1) for a in rec["inputs"]]


@jax.jit  # one program per shape, not one per concatenate / svd / transpose dispatched eagerly
def _row_bases(a_hats):
    """Per layer: `None` (use Â itself) when d+1 ≤ n, else Q with orthonormal columns spanning
    the row space of all the given Â (stacked), so that Â Q Qᵀ = Â."""
    out = []
    for layer in zip(*a_hats):
        stacked = jnp.concatenate(layer, axis=0)
        if stacked.shape[1] <= stacked.shape[0]:
            out.append(None)
        else:
            out.append(jnp.linalg.svd(stacked, full_matrices=False)[2].T)  # (d+1, n_total)
    return out


@functools.partial(jax.jit, static_argnames=("spec",))
def _mlp_factors_coupled(spec, params, x, ex, rows, bases):
    """Rows of coupled factors for the outputs selected by `rows` `(b, n)`: `(b, F)`."""
    dtype = params["dense"][0]["w"].dtype
    taps0 = _nets.zero_taps(spec, x.shape[0], dtype)

    def outputs(taps):
        out, rec = _nets._forward(spec, params, x, train=True, mask=ex.get("mask"), taps=taps)
        return out[:, 0], rec

    _, vjp, rec = jax.vjp(outputs, taps0, has_aux=True)
    g = map_rows(lambda e: vjp(e.astype(dtype))[0], rows)  # leaves (b, n, width)
    ones = jnp.ones((x.shape[0], 1), dtype)
    b = rows.shape[0]
    parts = []
    for a, gh, q in zip(rec["inputs"], g["h"], bases):
        l_fac = jnp.concatenate([a.astype(dtype), ones], axis=1)
        if q is not None:
            l_fac = mm(l_fac, q)
        parts.append(jnp.einsum("kr,ikc->irc", l_fac, gh, precision=HIGHEST).reshape(b, -1))
    if spec.batchnorm:
        for xh, gy in zip(rec["xhat"], g["y"]):
            parts.append(jnp.einsum("kc,ikc->ic", xh, gy, precision=HIGHEST))
            parts.append(gy.sum(axis=1))
    return jnp.concatenate(parts, axis=1)


def _structured_coupled(plan: Plan, params, batch_size, budget):
    """BatchNorm in train mode: one vjp of the batch per output row, compressed to `Lᵀ G_i`."""
    spec, x1, x2 = plan.spec, plan.x1, plan.x2
    n1, n2, itemsize = _sizes(plan)
    widths = spec.sizes
    ex2 = plan.ex2 if x2 is not None else plan.ex1
    a_hats = [_mlp_batch_inputs(spec, params, x1, plan.ex1)]
    if x2 is not None:
        a_hats.append(_mlp_batch_inputs(spec, params, x2, ex2))
    bases = _row_bases(a_hats)
    f_width = sum((a.shape[1] if q is None else q.shape[1]) * c
                  for a, q, c in zip(a_hats[0], bases, widths[1:])) + 2 * sum(spec.hidden)
    g_width = sum(widths[1:]) + sum(spec.hidden)
    n_max = max(n1, n2)
    if batch_size is None:
        batch_size = max(1, (budget // 2) // ((n_max * g_width + 2 * f_width) * itemsize))
    b = min(batch_size, n_max)

    def rows_for(x, ex, n):
        return lambda i: _mlp_factors_coupled(spec, params, x, ex, basis(n, *blocks(n, b)[i], b, plan.dtype), bases)

    rows1 = rows_for(x1, plan.ex1, n1)
    rows2 = None if x2 is None else rows_for(x2, ex2, n2)
    keep = (n1 + n2) * f_width * itemsize <= budget // 2
    return assemble(n1, n2, b, rows1, rows2, gram, x2 is None, plan.dtype, cache1=keep, cache2=keep)


def kernel_structured(plan: Plan, params, batch_size, budget):
    """The kernel of a jaxgan MLP or a recognised dense stack (`plan.spec` set) from per-layer
    factors; `params` in jaxgan's MLP layout (`plan.mlp_params`)."""
    if plan.coupled:
        return _structured_coupled(plan, params, batch_size, budget)
    return _structured_per_example(plan, params, batch_size, budget)
