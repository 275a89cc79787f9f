"""The parametric kernel of a network, its spectrum, and the kernel-induced GAN field.

Section 3 of the article (see `shared/seed/NOTES.md`): with `D` parametrised by `θ` and gradient
ascent `dθ/dt = ∂J/∂θ`, the discriminator moves in function space as

    dD(x)/dt = ∫ ∂J/∂D(y) K_θ(x, y) dy,    K_θ(x, y) = Σ_j ∂D(x)/∂θ_j · ∂D(y)/∂θ_j,

the "parametric kernel of the system" — what is now called the empirical neural tangent kernel
(Jacot, Gabriel & Hongler 2018, "Neural Tangent Kernel", NeurIPS). This module computes it for
any `apply(params, x)` with a scalar output per input:

- `parametric_kernel` — the matrix `K[i, j] = K_θ(x1_i, x2_j)`, by one of three paths:
  `"structured"` (jaxgan MLPs: per-layer factor contraction, never the N×P Jacobian),
  `"jacobian"` (any network: Jacobian row blocks sized to a memory budget, symmetric blocks when
  `x2` is omitted) and `"jacfwd"` (the literal recipe, P forward passes: a reference for small nets);
- `kernel_vp` — `K(x_out, x_in) @ g` by one vjp and one jvp, without forming `K`;
- `spectrum` — eigenvalues, eigenfunctions and effective rank of the integral operator;
- `kernel_field` — the non-pointwise GAN field on a grid of points, driven by kernels `K_D`
  and `K_G`; a `jaxgan.Field`, so `analyze`, `simulate` and the sweeps apply unchanged;
- `discriminator_field`, `field_eigenvalues`, `field_modes` — the field of a given discriminator
  network and its linearisation at the rest point.

**BatchNorm.** In eval mode a BatchNorm network is an ordinary function of each input and `K` is
a kernel. In train mode `D(x_i)` depends on the whole batch (through its statistics), so
`K = J Jᵀ` with `J = ∂D(batch)/∂θ` the full-batch Jacobian is an *operator on that batch*: its
entries change when any other point of the batch changes. For jaxgan MLPs with BatchNorm or
dropout the functions here refuse to guess: pass `train=False` (kernel) or `train=True`
(batch operator). Dropout is supported in eval mode, or in train mode with a fixed per-example
mask (passed through `x1_kwargs={"mask": ...}`).

**Precision.** A float32 kernel's eigenvalues are wrong below about `1e-8·λ_max`: for the
MLPs 1→256→256→1 (ReLU and tanh) on 512 points the float32 spectrum differs from the float64
one by up to 2e-8·λ_max, so everything below that (`KernelSpectrum.noise_floor = eps·λ_max`,
1.2e-7·λ_max in float32, is a safe bound) is round-off, not structure — and these spectra decay
below 1e-8 within a few dozen eigenvalues. Enable float64
(`jax.config.update("jax_enable_x64", True)` before creating the parameters) to resolve the tail.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import dynamics as _dynamics
from . import fields as _fields
from . import games as _games
from . import nets as _nets

__all__ = [
    "parametric_kernel", "kernel_vp", "spectrum", "KernelSpectrum", "kernel_field", "discriminator_field",
    "field_eigenvalues", "field_modes", "FieldModes", "METHODS", "DEFAULT_MEMORY_BUDGET",
]

METHODS = ("auto", "structured", "jacobian", "jacfwd")
DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes
_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HIGHEST)


# ============================================================================ input checks


class _Static:
    """Hashable holder for a static callable: value equality when hashable, else identity."""

    __slots__ = ("obj", "_key")

    def __init__(self, obj):
        self.obj = obj
        try:
            hash(obj)
            self._key = ("v", obj)
        except TypeError:
            self._key = ("id", id(obj))

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        if not isinstance(other, _Static):
            return False
        if self._key[0] == "id" or other._key[0] == "id":
            return self.obj is other.obj
        return self.obj is other.obj or self.obj == other.obj


class _Plan(NamedTuple):
    fn: _Static
    spec: Any  # nets.MLPSpec or None
    skw: tuple  # static keyword arguments of apply_fn, sorted (name, value) pairs
    dkw: dict  # array-valued keyword arguments, passed unchanged
    x1: np.ndarray  # host arrays: blocks are sliced on the host
    x2: np.ndarray | None
    ex1: dict  # per-example keyword arguments of x1 (leading axis n1)
    ex2: dict
    coupled: bool  # outputs depend on the whole batch (BatchNorm in train mode)
    dtype: Any
    n_params: int


def _is_arraylike(v) -> bool:
    return isinstance(v, (jax.Array, np.ndarray)) or (hasattr(v, "shape") and hasattr(v, "dtype"))


def _split_kwargs(kw: dict, who: str):
    static, dynamic = [], {}
    for k, v in kw.items():
        if any(_is_arraylike(leaf) for leaf in jax.tree_util.tree_leaves(v)):
            dynamic[k] = v
        else:
            try:
                hash(v)
            except TypeError:
                raise TypeError(f"{who} argument `apply_kwargs[{k!r}]` must be hashable or a pytree of arrays; "
                                f"got {type(v).__name__}.") from None
            static.append((k, v))
    return tuple(sorted(static, key=lambda kv: kv[0])), dynamic


def _as_points(x, name: str, who: str, spec, traceable: bool = False) -> np.ndarray:
    """Inputs as a host array `(n, ...)` (row blocks are sliced on the host: no compiled gathers);
    with `traceable`, a traced value is kept as it is."""
    if x is None:
        raise TypeError(f"{who} argument `{name}` must be an array of inputs; got None.")
    try:
        arr = x if (traceable and isinstance(x, jax.core.Tracer)) else np.asarray(x)
    except jax.errors.TracerArrayConversionError:
        raise TypeError(f"{who} runs a blocked loop on the host and cannot be traced (jit/vmap/grad); "
                        f"pass concrete arrays as `{name}` (use kernel_vp inside jit).") from None
    except (TypeError, ValueError):
        raise TypeError(f"{who} argument `{name}` must be an array of inputs; got {type(x).__name__}.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{who} argument `{name}` must be a numeric array; got dtype {arr.dtype}.")
    if spec is not None:
        d = spec.sizes[0]
        if arr.ndim not in (1, 2) or (arr.ndim == 1 and d != 1):
            want = f"(n, {d})" + (" or (n,)" if d == 1 else "")
            raise ValueError(f"{who} argument `{name}` must have shape {want} for the MLP {spec.sizes}; "
                             f"got shape {tuple(arr.shape)} (rank {arr.ndim}).")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.shape[1] != d:
            raise ValueError(f"{who} argument `{name}` must have {d} features (shape (n, {d})) for the MLP "
                             f"{spec.sizes}; got shape {tuple(arr.shape)}.")
    elif arr.ndim < 1:
        raise ValueError(f"{who} argument `{name}` must have a leading axis of examples, shape (n, ...); "
                         f"got a scalar.")
    if arr.shape[0] < 1:
        raise ValueError(f"{who} argument `{name}` must hold at least one input; got shape {tuple(arr.shape)}.")
    if not np.issubdtype(arr.dtype, np.inexact):
        arr = arr.astype(jnp.result_type(float))
    return arr


def _check_example_kwargs(kw, n: int, name: str, who: str, traceable: bool = False) -> dict:
    if kw is None:
        return {}
    if not isinstance(kw, dict):
        raise TypeError(f"{who} argument `{name}` must be a dict of per-example keyword arguments; "
                        f"got {type(kw).__name__}.")
    for k, v in kw.items():
        for leaf in jax.tree_util.tree_leaves(v):
            shape = jnp.shape(leaf)
            if len(shape) < 1 or shape[0] != n:
                raise ValueError(f"{who} argument `{name}[{k!r}]` must have a leading axis of {n} (one entry per "
                                 f"input); got a leaf of shape {shape}.")
    conv = (lambda a: a if isinstance(a, jax.core.Tracer) else np.asarray(a)) if traceable else np.asarray
    try:
        return {k: jax.tree_util.tree_map(conv, v) for k, v in kw.items()}
    except jax.errors.TracerArrayConversionError:
        raise TypeError(f"{who} cannot be traced (jit/vmap/grad); pass concrete arrays in `{name}`.") from None


def _check_params(params, who: str) -> int:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"{who} argument `params` has no array leaves; nothing to differentiate.")
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not (_is_arraylike(leaf) and jnp.issubdtype(jnp.result_type(leaf), jnp.floating)):
            raise TypeError(
                f"{who} argument `params` must be a pytree of floating arrays; leaf {jax.tree_util.keystr(path)} "
                f"is {type(leaf).__name__} of dtype {getattr(leaf, 'dtype', None)} (for equinox modules, pass "
                f"the array part from eqx.partition and close over the rest)."
            )
    return int(sum(math.prod(jnp.shape(leaf)) for leaf in leaves))


def _check_method(method, who: str) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"{who} argument `method` must be one of {', '.join(METHODS)}; got {method!r}.")
    return method


def _check_batch_size(batch_size, who: str):
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{who} argument `batch_size` must be a positive int or None; got {batch_size!r}.")
    if batch_size < 1:
        raise ValueError(f"{who} argument `batch_size` must be ≥ 1; got {batch_size}.")
    return int(batch_size)


def _check_budget(budget, who: str) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer, float)) or not budget > 0 \
            or not math.isfinite(budget):
        raise ValueError(f"{who} argument `memory_budget` must be a positive number of bytes; got {budget!r}.")
    return int(budget)


def _plan(who, apply_fn, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs, batch_coupled,
          names=("x1", "x2"), traceable=False) -> _Plan:
    if not callable(apply_fn):
        raise TypeError(f"{who} argument `apply_fn` must be callable as apply_fn(params, x); "
                        f"got {type(apply_fn).__name__}.")
    n_params = _check_params(params, who)
    spec = _nets.spec_of(apply_fn)
    n1_name, n2_name = names
    x1 = _as_points(x1, n1_name, who, spec, traceable)
    x2 = None if x2 is None else _as_points(x2, n2_name, who, spec, traceable)
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"{who}: `{n1_name}` and `{n2_name}` must have the same feature shape; got "
                         f"{tuple(x1.shape[1:])} and {tuple(x2.shape[1:])}.")
    ex1 = _check_example_kwargs(x1_kwargs, x1.shape[0], f"{n1_name}_kwargs", who, traceable)
    if x2 is None:
        if x2_kwargs is not None:
            raise ValueError(f"{who} argument `{n2_name}_kwargs` given without `{n2_name}`.")
        ex2 = {}
    else:
        ex2 = _check_example_kwargs(x2_kwargs, x2.shape[0], f"{n2_name}_kwargs", who, traceable)
        if set(ex1) != set(ex2):
            raise ValueError(f"{who}: `{n1_name}_kwargs` and `{n2_name}_kwargs` must name the same per-example "
                             f"arguments; got {sorted(ex1)} and {sorted(ex2)}.")
    if apply_kwargs is not None and not isinstance(apply_kwargs, dict):
        raise TypeError(f"{who} argument `apply_kwargs` must be a dict; got {type(apply_kwargs).__name__}.")
    kw = dict(apply_kwargs or {})
    if train is not None and not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"{who} argument `train` must be True, False or None; got {train!r}.")
    if spec is not None:
        _nets.check_params(spec, params)
        if kw:
            raise ValueError(f"{who}: a jaxgan MLP takes its mode through `train=` and its dropout masks through "
                             f"`{n1_name}_kwargs={{'mask': ...}}`; `apply_kwargs` must be empty, got {sorted(kw)}.")
        if train is None and (spec.batchnorm or spec.dropout > 0):
            raise ValueError(
                f"{who}: the MLP {spec.sizes} has " + ("BatchNorm" if spec.batchnorm else "dropout")
                + "; choose `train=False` (eval mode: running statistics, no dropout — a kernel K(x, y)) or "
                "`train=True` (batch statistics: an operator on the batch, the full-batch Jacobian product"
                + ("; dropout then needs a fixed per-example mask" if spec.dropout > 0 else "") + ")."
            )
        train = bool(train)
        extra = set(ex1) - {"mask"}
        if extra:
            raise ValueError(f"{who}: a jaxgan MLP takes only `mask` per example; got {sorted(extra)}.")
        if train and spec.dropout > 0 and "mask" not in ex1:
            raise ValueError(f"{who}: dropout in train mode needs a fixed per-example mask: pass "
                             f"`{n1_name}_kwargs={{'mask': jaxgan.nets.dropout_masks(apply, key, n)}}`"
                             + (f" (and `{n2_name}_kwargs`)" if x2 is not None else "") + ".")
        if not (train and spec.dropout > 0) and ex1:
            raise ValueError(f"{who}: a dropout mask is used only in train mode with dropout > 0; remove "
                             f"`{n1_name}_kwargs`.")
        coupled = train and spec.batchnorm
        if batch_coupled is not None and bool(batch_coupled) != coupled:
            raise ValueError(f"{who} argument `batch_coupled={batch_coupled}` contradicts the MLP: with train={train} "
                             f"and batchnorm={spec.batchnorm} it is {coupled}; leave it None.")
        kw = {"train": train}
    else:
        if train is not None:
            kw["train"] = bool(train)
        coupled = bool(batch_coupled) if batch_coupled is not None else False
    skw, dkw = _split_kwargs(kw, who)
    fn = _Static(apply_fn)
    # Output check: one scalar per input (abstract evaluation, nothing is compiled).
    for x, ex, name in ((x1, ex1, n1_name), (x2, ex2, n2_name)):
        if x is None:
            continue
        m = x.shape[0] if coupled else min(2, x.shape[0])
        try:
            out = jax.eval_shape(lambda p, xx, e: _raw_call(fn, skw, p, xx, dkw, e), params, x[:m],
                                 jax.tree_util.tree_map(lambda a: a[:m], ex))
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{who}: apply_fn(params, {name}) failed: {exc}") from None
        if not hasattr(out, "shape") or out.shape not in ((m,), (m, 1)):
            raise ValueError(f"{who} argument `apply_fn` must return one scalar per input, shape ({m},) or ({m}, 1) "
                             f"for {m} inputs; got {getattr(out, 'shape', type(out).__name__)}.")
        if not jnp.issubdtype(out.dtype, jnp.floating):
            raise TypeError(f"{who} argument `apply_fn` must return floating values; got dtype {out.dtype}.")
        dtype = out.dtype
    return _Plan(fn, spec, skw, dkw, x1, x2, ex1, ex2, coupled, dtype, n_params)


# ============================================================================ evaluation helpers


def _raw_call(fn: _Static, skw, params, x, dkw, ex):
    return fn.obj(params, x, **dict(skw), **dkw, **ex)


def _call(fn: _Static, skw, params, x, dkw, ex):
    out = _raw_call(fn, skw, params, x, dkw, ex)
    return out.reshape(x.shape[0])


def _flatten_rows(tree, b: int, dtype):
    return jnp.concatenate([leaf.reshape(b, -1).astype(dtype) for leaf in jax.tree_util.tree_leaves(tree)], axis=1)


def _blocks(n: int, b: int):
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def _take(tree, s: int, e: int, b: int):
    """Rows s:e of every leaf, padded to b rows by repeating row e-1 (the padding is discarded)."""
    idx = np.minimum(np.arange(s, s + b), e - 1)
    return jax.tree_util.tree_map(lambda a: a[idx], tree)


def _basis(n: int, s: int, e: int, b: int, dtype):
    """Rows s:e of the n×n identity, padded with zero rows to b rows."""
    rows = np.zeros((b, n), dtype=np.dtype(dtype))
    rows[np.arange(e - s), np.arange(s, e)] = 1
    return jnp.asarray(rows)


@functools.partial(jax.jit, static_argnames=("h", "w", "mode"))
def _crop(blk, h: int, w: int, mode: int):
    """`blk[:h, :w]`; mode 1: transposed; mode 2: symmetrised (a diagonal block)."""
    blk = blk[:h, :w]
    return blk.T if mode == 1 else 0.5 * (blk + blk.T) if mode == 2 else blk


@functools.partial(jax.jit, static_argnames=("h", "w", "mode"), donate_argnums=0)
def _put(out, blk, i, j, h: int, w: int, mode: int):
    """Write `_crop(blk, h, w, mode)` into `out` at rows i, columns j, in place (donated buffer)."""
    return jax.lax.dynamic_update_slice(out, _crop(blk, h, w, mode).astype(out.dtype), (i, j))


def _assemble(n1, n2, b, rows1, rows2, gram, symmetric, dtype, cache1=False, cache2=False):
    """Fill K block by block on the device: `gram(rows1(i), rows2(j))` is the (b, b) block (padded).
    With `symmetric` only the blocks on and above the diagonal are computed; the others are their
    transposes. Peak memory: K itself plus the working set of one block pair."""
    blocks1, blocks2 = _blocks(n1, b), _blocks(n2, b)
    if len(blocks1) == 1 and len(blocks2) == 1:
        r1 = rows1(0)
        blk = gram(r1, r1 if symmetric else rows2(0))
        if blk.shape == (n1, n2) and not symmetric:
            return blk
        return _crop(blk, n1, n2, 2 if symmetric else 0)
    c1, c2 = {}, {}

    def get(i, fn, cache, keep):
        if i in cache:
            return cache[i]
        r = fn(i)
        if keep:
            cache[i] = r
        return r

    out = jnp.zeros((n1, n2), dtype)
    for i, (s1, e1) in enumerate(blocks1):
        ri = get(i, rows1, c1, cache1)
        for j, (s2, e2) in enumerate(blocks2):
            if symmetric and j < i:
                continue
            if symmetric:
                rj = ri if j == i else get(j, rows1, c1, cache1)
            else:
                rj = get(j, rows2, c2, cache2)
            blk = gram(ri, rj)
            if symmetric and i == j:
                out = _put(out, blk, s1, s2, h=e1 - s1, w=e2 - s2, mode=2)
                continue
            out = _put(out, blk, s1, s2, h=e1 - s1, w=e2 - s2, mode=0)
            if symmetric:
                out = _put(out, blk, s2, s1, h=e1 - s1, w=e2 - s2, mode=1)
    return out


def _map_rows(f, rows):
    """`vmap(f)(rows)`, except on CPU, where it is a sequential `lax.map`: XLA's CPU backend runs
    the batched (vmapped) backward pass of batch statistics (BatchNorm in train mode) about 100×
    slower than a loop over the rows."""
    if jax.default_backend() == "cpu":
        return jax.lax.map(f, rows)
    return jax.vmap(f)(rows)


@jax.jit
def _gram(a, b):
    return _mm(a, b.T)


# ============================================================================ the Jacobian paths


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _jac_rows_example(fn, skw, params, dkw, xb, exb):
    """Rows ∂D(x_i)/∂θ of a per-example network, `(b, P)`, by `vmap(grad)`."""
    dtype = jax.eval_shape(lambda: _call(fn, skw, params, xb[:1], dkw, jax.tree_util.tree_map(lambda a: a[:1], exb))).dtype

    def single(p, x, e):
        return _call(fn, skw, p, x[None], dkw, jax.tree_util.tree_map(lambda a: a[None], e))[0]

    grads = jax.vmap(jax.grad(single), in_axes=(None, 0, 0))(params, xb, exb)
    return _flatten_rows(grads, xb.shape[0], dtype)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _jac_rows_coupled(fn, skw, params, dkw, x, ex, basis):
    """Rows ∂D(x_i; batch)/∂θ of a batch-coupled network for the rows selected by `basis` `(b, n)`."""
    out, vjp = jax.vjp(lambda p: _call(fn, skw, p, x, dkw, ex), params)
    grads = _map_rows(lambda e: vjp(e.astype(out.dtype))[0], basis)
    return _flatten_rows(grads, basis.shape[0], out.dtype)


def _kernel_jacobian(plan: _Plan, params, batch_size, budget):
    x1, x2 = plan.x1, plan.x2
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    itemsize = jnp.dtype(plan.dtype).itemsize
    if batch_size is None:
        batch_size = max(1, budget // (2 * plan.n_params * itemsize))
    b = min(batch_size, max(n1, n2))
    if plan.coupled:
        def rows_for(x, ex, n):
            return lambda i: _jac_rows_coupled(plan.fn, plan.skw, params, plan.dkw, x, ex,
                                               _basis(n, *_blocks(n, b)[i], b, plan.dtype))
    else:
        def rows_for(x, ex, n):
            return lambda i: _jac_rows_example(plan.fn, plan.skw, params, plan.dkw,
                                               *_take((x, ex), *_blocks(n, b)[i], b))
    rows1 = rows_for(x1, plan.ex1, n1)
    rows2 = None if x2 is None else rows_for(x2, plan.ex2, n2)
    return _assemble(n1, n2, b, rows1, rows2, _gram, x2 is None, plan.dtype)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _jacfwd_full(fn, skw, params, dkw, x, ex):
    flat, unravel = ravel_pytree(params)
    return jax.jacfwd(lambda f: _call(fn, skw, unravel(f), x, dkw, ex))(flat)


def _kernel_jacfwd(plan: _Plan, params, budget):
    n_total = plan.x1.shape[0] + (0 if plan.x2 is None else plan.x2.shape[0])
    need = plan.n_params * n_total * jnp.dtype(plan.dtype).itemsize
    if need > budget:
        raise ValueError(
            f"parametric_kernel(method='jacfwd') would hold a {n_total}×{plan.n_params} Jacobian "
            f"({need / 2**20:.1f} MiB > memory_budget {budget / 2**20:.1f} MiB) after {plan.n_params} forward "
            f"passes; it is the reference for small nets: use method='structured' or 'jacobian'."
        )
    j1 = _jacfwd_full(plan.fn, plan.skw, params, plan.dkw, plan.x1, plan.ex1)
    if plan.x2 is None:
        return _crop(_gram(j1, j1), j1.shape[0], j1.shape[0], 2)
    j2 = _jacfwd_full(plan.fn, plan.skw, params, plan.dkw, plan.x2, plan.ex2)
    return _gram(j1, j2)


# ============================================================================ the structured path
#
# For a dense layer h_k = a_k W + b (k: example) and a BatchNorm affine map y_k = γ ⊙ x̂_k + β,
#   ∂D_i/∂W = Σ_k a_k ⊗ G_ik,   ∂D_i/∂b = Σ_k G_ik,   ∂D_i/∂γ = Σ_k x̂_k ⊙ Gy_ik,   ∂D_i/∂β = Σ_k Gy_ik
# with G_ik = ∂D_i/∂h_k and Gy_ik = ∂D_i/∂y_k (taps in nets._forward). Per example (eval mode)
# G_ik = 0 for k ≠ i, so with â = [a, 1]:
#   K = Σ_layers (Â Âᵀ) ⊙ (G Gᵀ) + V Vᵀ,   V = [x̂ ⊙ Gy, Gy] over the BatchNorm layers;
# batch-coupled (BatchNorm in train mode):
#   K_ij = Σ_layers Σ_km (Â Âᵀ)_km <G_ik, G_jm> + V_i·V_j,   V_i = [Σ_k x̂_k ⊙ Gy_ik, Σ_k Gy_ik].
# There Â Âᵀ = L Lᵀ with L = Â Q, Q (d+1, r) an orthonormal basis of the row space of Â (the
# identity when d+1 ≤ n, else from an SVD, r = n): then K_ij = Σ_layers <Lᵀ G_i, Lᵀ G_j> + V_i·V_j,
# rows of r·width numbers per layer instead of the (d+1)·width of the Jacobian.


@functools.partial(jax.jit, static_argnames=("spec", "train"))
def _mlp_factors(spec, train, params, xb, exb):
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
    a1, g1, v1 = f1
    a2, g2, v2 = f2
    k = None
    for x1, y1, x2, y2 in zip(a1, g1, a2, g2):
        term = _mm(x1, x2.T) * _mm(y1, y2.T)
        k = term if k is None else k + term
    if v1 is not None:
        k = k + _mm(v1, v2.T)
    return k


@functools.partial(jax.jit, static_argnames=("spec",))
def _mlp_batch_inputs(spec, params, x, ex):
    """The augmented layer inputs `Â_l = [a_l, 1]` of a batch in train mode, one `(n, d_l+1)` per layer."""
    dtype = params["dense"][0]["w"].dtype
    _, rec = _nets._forward(spec, params, x, train=True, mask=ex.get("mask"))
    ones = jnp.ones((x.shape[0], 1), dtype)
    return [jnp.concatenate([a.astype(dtype), ones], axis=1) for a in rec["inputs"]]


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
def _mlp_factors_coupled(spec, params, x, ex, basis, bases):
    """Rows of coupled factors for the outputs selected by `basis` `(b, n)`: `(b, F)`."""
    dtype = params["dense"][0]["w"].dtype
    taps0 = _nets.zero_taps(spec, x.shape[0], dtype)

    def outputs(taps):
        out, rec = _nets._forward(spec, params, x, train=True, mask=ex.get("mask"), taps=taps)
        return out[:, 0], rec

    _, vjp, rec = jax.vjp(outputs, taps0, has_aux=True)
    g = _map_rows(lambda e: vjp(e.astype(dtype))[0], basis)  # leaves (b, n, width)
    ones = jnp.ones((x.shape[0], 1), dtype)
    b = basis.shape[0]
    parts = []
    for a, gh, q in zip(rec["inputs"], g["h"], bases):
        l_fac = jnp.concatenate([a.astype(dtype), ones], axis=1)
        if q is not None:
            l_fac = _mm(l_fac, q)
        parts.append(jnp.einsum("kr,ikc->irc", l_fac, gh, precision=_HIGHEST).reshape(b, -1))
    if spec.batchnorm:
        for xh, gy in zip(rec["xhat"], g["y"]):
            parts.append(jnp.einsum("kc,ikc->ic", xh, gy, precision=_HIGHEST))
            parts.append(gy.sum(axis=1))
    return jnp.concatenate(parts, axis=1)


def _kernel_structured(plan: _Plan, params, batch_size, budget):
    spec = plan.spec
    x1, x2 = plan.x1, plan.x2
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    itemsize = jnp.dtype(plan.dtype).itemsize
    widths = spec.sizes
    if plan.coupled:
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
            return lambda i: _mlp_factors_coupled(spec, params, x, ex, _basis(n, *_blocks(n, b)[i], b, plan.dtype),
                                                  bases)

        rows1 = rows_for(x1, plan.ex1, n1)
        rows2 = None if x2 is None else rows_for(x2, ex2, n2)
        keep = (n1 + n2) * f_width * itemsize <= budget // 2
        return _assemble(n1, n2, b, rows1, rows2, _gram, x2 is None, plan.dtype, cache1=keep, cache2=keep)
    # per example: factors of width F per row; a block pair holds ~4 b×b matrices.
    f_width = sum(w + 1 for w in widths[:-1]) + sum(widths[1:]) + 2 * sum(spec.hidden) * spec.batchnorm
    if batch_size is None:
        c = 2 * f_width
        batch_size = max(1, int((-c + math.sqrt(c * c + 16 * budget / itemsize)) / 8))
    b = min(batch_size, max(n1, n2))
    train = dict(plan.skw)["train"]

    def rows_for(x, ex, n):
        return lambda i: _mlp_factors(spec, train, params, *_take((x, ex), *_blocks(n, b)[i], b))

    rows1 = rows_for(x1, plan.ex1, n1)
    rows2 = None if x2 is None else rows_for(x2, plan.ex2, n2)
    # Keep the factors of all rows when they fit the budget (else recompute them per block).
    keep = (n1 + n2) * f_width * itemsize <= budget // 2
    return _assemble(n1, n2, b, rows1, rows2, _gram_factors, x2 is None, plan.dtype, cache1=keep, cache2=keep)


# ============================================================================ public kernel API


def parametric_kernel(apply_fn: Callable, params, x1, x2=None, *, method: str = "auto", batch_size: int | None = None,
                      train: bool | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                      apply_kwargs: dict | None = None, x1_kwargs: dict | None = None, x2_kwargs: dict | None = None,
                      batch_coupled: bool | None = None) -> jax.Array:
    """The parametric kernel `K[i, j] = Σ_p ∂D(x1_i)/∂θ_p · ∂D(x2_j)/∂θ_p` of a network.

    The article's `K_θ(x, y)` (Section 3), i.e. the empirical neural tangent kernel (Jacot et
    al. 2018). `K` is symmetric positive semi-definite when `x2` is omitted.

    **Arguments:**

    - `apply_fn`: `apply_fn(params, x, **kwargs) -> Float[Array, "b"]` (or `"b 1"`): one scalar
      per input, for a batch `x` of shape `(b, ...)`. Any pytree of floating arrays works as
      `params` (plain dicts, flax variables, the array part of an equinox module). The `apply` of
      `jaxgan.nets.mlp` is recognised and takes the structured path.
    - `params`: the parameters θ.
    - `x1`: `Float[Array, "n1 ..."]`, inputs along the leading axis (for a jaxgan MLP: `(n1, d)`,
      or `(n1,)` when `d = 1`).
    - `x2`: `Float[Array, "n2 ..."]` with the same feature shape, or `None` for `x2 = x1` (then
      only the blocks on and above the diagonal are computed and `K` is exactly symmetric).
    - `method`:
      - `"auto"` (default): `"structured"` for jaxgan MLPs, else `"jacobian"`.
      - `"structured"`: jaxgan MLPs only. Per-layer factors — layer inputs `a` and back-propagated
        derivatives `G = ∂D/∂h` — contracted as `Σ_l ([a,1][a,1]ᵀ) ⊙ (G Gᵀ)`; cost `O(N² Σ widths)`,
        memory `O(N Σ widths)`, never the `N×P` Jacobian. With BatchNorm in train mode the factors
        are batch-coupled (`∂D_i/∂h_k` for all pairs k, one vjp of the batch per output row); each
        row is compressed to `Lᵀ G_i` with `L L ᵀ = [a,1][a,1]ᵀ`, `r = min(N, width+1)` numbers per
        hidden unit instead of the `width+1` of the Jacobian.
      - `"jacobian"`: any network. Jacobian rows (`vmap(grad)`, or vjps of the full batch when
        batch-coupled) in row blocks of `batch_size` rows, two blocks held at a time; blocks above
        the diagonal only when `x2` is omitted.
      - `"jacfwd"`: the literal recipe of the design brief — the Jacobian over the flattened
        parameters by forward mode, i.e. P forward passes, then `J1 J2ᵀ`. For small nets and as a
        reference only (refused when the `N×P` Jacobian exceeds `memory_budget`).
    - `batch_size`: rows per block (≥ 1); default: sized to `memory_budget`.
    - `train`: the mode of networks with BatchNorm or dropout. **Required** for such jaxgan MLPs:
      `False` — eval mode (running statistics, no dropout): the result is the *kernel*
      `K_θ(x1_i, x2_j)`; `True` — train mode (batch statistics): the result is the *operator*
      `J1 J2ᵀ` with `J1 = ∂D(x1 as one batch)/∂θ` (and `J2` the same for `x2` as its own batch),
      whose entries depend on the whole batch. For other functions a non-None `train` is
      forwarded as `apply_fn(..., train=train)`.
    - `memory_budget`: bytes for the working set of one block pair (default 256 MiB: for the
      `"jacobian"` path two blocks of `b` Jacobian rows, `2·b·P` floats; a larger budget means
      larger blocks and fewer recomputed rows); the output `K` itself (`n1·n2` floats) comes on top.
    - `apply_kwargs`: further keyword arguments of `apply_fn`, the same for every input.
    - `x1_kwargs`, `x2_kwargs`: per-example keyword arguments (leaves with a leading axis `n1`,
      `n2`), sliced with the rows — e.g. a fixed dropout mask `{"mask": nets.dropout_masks(...)}`.
    - `batch_coupled`: for functions other than jaxgan MLPs, `True` when an output depends on the
      whole batch (then `x1` is one batch and `K` the full-batch operator). Default `False`.

    **Returns:** `Float[Array, "n1 n2"]` in the dtype of `apply_fn`'s output (float64 if the
    parameters and inputs are float64), assembled block by block in place on the default device.
    The function drives a loop over blocks on the host, so it cannot itself be traced by
    `jit`/`vmap`/`grad` (use `kernel_vp` there). Matrix products run at `Precision.HIGHEST`.

    **Raises:** `TypeError`/`ValueError` naming the argument, before anything is compiled: a
    non-callable `apply_fn`, output not one scalar per input, `x` of the wrong rank, feature
    shapes of `x1` and `x2` that differ, `batch_size < 1`, an unknown `method`, `"structured"`
    for a network that is not a jaxgan MLP, a missing `train` for BatchNorm/dropout MLPs.

    **Example:**

    ```python
    init, apply = jaxgan.nets.mlp((1, 512, 512, 1))
    params = init(jax.random.PRNGKey(0))
    x = jnp.linspace(-2, 2, 256)
    K = jaxgan.kernels.parametric_kernel(apply, params, x)     # (256, 256), structured path
    ```
    """
    who = "parametric_kernel"
    method = _check_method(method, who)
    batch_size = _check_batch_size(batch_size, who)
    budget = _check_budget(memory_budget, who)
    plan = _plan(who, apply_fn, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs, batch_coupled)
    if method == "auto":
        method = "structured" if plan.spec is not None else "jacobian"
    if method == "structured":
        if plan.spec is None:
            raise ValueError("parametric_kernel(method='structured') needs the apply of a jaxgan.nets.mlp; "
                             f"got {apply_fn!r}: use method='jacobian' (any network).")
        return _kernel_structured(plan, params, batch_size, budget)
    if method == "jacobian":
        return _kernel_jacobian(plan, params, batch_size, budget)
    return _kernel_jacfwd(plan, params, budget)


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _kvp(fn, skw, params, dkw, x_out, ex_out, x_in, ex_in, g):
    out_in, vjp = jax.vjp(lambda p: _call(fn, skw, p, x_in, dkw, ex_in), params)

    def one(gv):
        (cot,) = vjp(gv.astype(out_in.dtype))
        return jax.jvp(lambda p: _call(fn, skw, p, x_out, dkw, ex_out), (params,), (cot,))[1]

    return one(g) if g.ndim == 1 else jax.vmap(one, in_axes=1, out_axes=1)(g)


def kernel_vp(apply_fn: Callable, params, x_out, x_in, g, *, train: bool | None = None,
              apply_kwargs: dict | None = None, out_kwargs: dict | None = None, in_kwargs: dict | None = None):
    """The kernel-vector product `K(x_out, x_in) @ g` without forming `K`: one vjp, one jvp.

    `K g = J_out (J_inᵀ g)`: the vjp of `D(x_in)` with cotangent `g` gives the parameter
    direction `J_inᵀ g` (the gradient of `Σ_j g_j D(x_in_j)`), and the jvp of `D(x_out)` along it
    gives the result — exactly the first-order change of `D(x_out)` under the step
    `θ += ∇θ Σ_j g_j D(x_in_j)` (the article's derivation with `g = w ⊙ ∂J/∂D`). Cost: about
    three evaluations of the network; memory: one set of activations and one parameter vector.

    **Arguments:** as `parametric_kernel` (with `x_out`, `x_in` for `x1`, `x2` and `out_kwargs`,
    `in_kwargs` for the per-example keyword arguments), and `g`: `Float[Array, "n_in"]` or
    `Float[Array, "n_in m"]` (m vectors at once). The networks are evaluated on the full batches
    `x_out` and `x_in`, so for a BatchNorm MLP with `train=True` this is the batch operator.

    **Returns:** `Float[Array, "n_out"]` (or `"n_out m"`). Unlike `parametric_kernel` it is a pure
    JAX function of `params`, `x_out`, `x_in` and `g`: it works under `jit`, `vmap` and `grad`.

    **Raises:** as `parametric_kernel`, and `ValueError` for `g` of the wrong shape.
    """
    who = "kernel_vp"
    plan = _plan(who, apply_fn, params, x_out, x_in, train, apply_kwargs, out_kwargs, in_kwargs, None,
                 names=("x_out", "x_in"), traceable=True)
    try:
        g = jnp.asarray(g)
    except (TypeError, ValueError):
        raise TypeError(f"kernel_vp argument `g` must be an array; got {type(g).__name__}.") from None
    n_in = plan.x2.shape[0]
    if g.ndim not in (1, 2) or g.shape[0] != n_in:
        raise ValueError(f"kernel_vp argument `g` must have shape ({n_in},) or ({n_in}, m) to match `x_in`; "
                         f"got shape {tuple(g.shape)}.")
    return _kvp(plan.fn, plan.skw, params, plan.dkw, plan.x1, plan.ex1, plan.x2, plan.ex2, g)


# ============================================================================ spectrum


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
      below it are round-off (a float32 kernel: below ~1e-8–1e-7·λ_max, see the module docstring).
    - `weights`: the quadrature weights used.
    """

    eigenvalues: np.ndarray
    eigenfunctions: np.ndarray
    effective_rank: float
    participation_ratio: float
    noise_floor: float
    weights: np.ndarray


def _check_weights(weights, n: int, who: str, name: str = "weights") -> np.ndarray:
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{who} argument `{name}` must be an array of {n} positive numbers; got {weights!r}.") from None
    if w.shape != (n,):
        raise ValueError(f"{who} argument `{name}` must have shape ({n},) (one weight per point); got shape {w.shape}.")
    if not np.all(np.isfinite(w) & (w > 0)):
        bad = w[~(np.isfinite(w) & (w > 0))]
        raise ValueError(f"{who} argument `{name}` must be positive and finite (quadrature weights or a density); "
                         f"got {bad[:3].tolist()}{'…' if bad.size > 3 else ''}.")
    return w


def _check_square(k, who: str, name: str) -> np.ndarray:
    try:
        arr = np.asarray(k)
    except (TypeError, ValueError):
        raise TypeError(f"{who} argument `{name}` must be a square matrix; got {type(k).__name__}.") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ValueError(f"{who} argument `{name}` must be a square matrix (n, n); got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{who} argument `{name}` must hold finite numbers.")
    return arr


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

    **Raises:** `ValueError` for a non-square, non-finite or non-symmetric `K`, or weights that are
    not positive or not of length n.
    """
    who = "spectrum"
    k_in = _check_square(K, who, "K")
    n = k_in.shape[0]
    eps = float(np.finfo(k_in.dtype).eps) if np.issubdtype(k_in.dtype, np.floating) else float(np.finfo(np.float64).eps)
    k = k_in.astype(np.float64)
    scale = float(np.max(np.abs(k))) or 1.0
    asym = float(np.max(np.abs(k - k.T)))
    if asym > 1e-4 * scale:
        raise ValueError(f"spectrum argument `K` must be symmetric; max |K - Kᵀ| = {asym:.3g} "
                         f"(max |K| = {scale:.3g}). A cross-kernel K(x1, x2) has no spectrum.")
    k = 0.5 * (k + k.T)
    w = np.ones(n) if weights is None else _check_weights(weights, n, who)
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


# ============================================================================ the kernel-induced field


_CONSTANTS = ("lagrange", "d0")


@functools.lru_cache(maxsize=None)
def _kernel_velocity(game: _games.Game, constant: str, free_generator: bool):
    df1, df2, f3 = jax.vmap(game.df1), jax.vmap(game.df2), jax.vmap(game.f3)

    def velocity(params, z):
        n = params["w"].shape[0]
        d, pg = z[:n], z[n:]
        w, pd = params["w"], params["pd"]
        grad_d = pd * df1(d) + pg * df2(d)  # ∂J/∂D at each point
        vd = _mm(params["K_D"], w * grad_d)
        f3d = f3(d)
        if constant == "d0":
            r = w * (f3d - game.f3(params["d0"]))
            vpg = r / w if free_generator else _mm(params["K_G"], r)
        else:
            # Lagrange multiplier of Σ w pg = const in the metric K_G:
            # dpg = K_G W (f3(D) - c 1), c = wᵀ K_G W f3 / wᵀ K_G w.
            if free_generator:
                u, s = f3d, jnp.ones_like(w)
            else:
                u, s = _mm(params["K_G"], w * f3d), _mm(params["K_G"], w)
            c = jnp.dot(w, u) / jnp.dot(w, s)
            vpg = u - c * s
        return jnp.concatenate([vd, vpg]).astype(z.dtype)

    return velocity


def _kernel_rest(params):
    n = params["w"].shape[0]
    return jnp.concatenate([jnp.full((n,), params["d0"]), params["pd"]])


def kernel_field(game, pd, weights, K_D, K_G=None, *, constant: str = "lagrange", name: str | None = None):
    """The kernel-induced (non-pointwise) GAN field on points `x_1..x_n` with weights `w_i`.

    The article's function-space dynamics (Section 3) discretised on a grid: with `g_j` the
    variational derivative of the discriminator's objective at `x_j`,

        dD_i/dt  = Σ_j K_D(x_i, x_j) w_j [pd_j f1'(D_j) + pg_j f2'(D_j)]
        dpg_i/dt = Σ_j K_G(x_i, x_j) w_j [f3(D_j) - c]

    on the state `z = (D_1..D_n, pg_1..pg_n)`. The generator's `c`:

    - `constant="lagrange"` (default): the Lagrange multiplier that keeps `Σ_j w_j pg_j` fixed
      (the normalisation of the density pg), `c = wᵀ K_G W f3(D) / wᵀ K_G w` — the projection of
      the generator's update onto mass-preserving directions. At the rest point `c = f3(D0)`:
      the Lagrange constant is the article's `f3(D0)`. The mass `Σ w pg` is conserved exactly, so
      the Jacobian has one structural zero eigenvalue (left eigenvector `(0, w)`) and
      `jaxgan.analyze` calls the rest point "degenerate"; `field_eigenvalues` gives the spectrum
      on the mass-preserving subspace.
    - `constant="d0"`: the article's constant `c = f3(D0)` (no conservation).

    With `K_D = K_G = diag(1/w)` (a free-form discriminator and generator) and `constant="d0"`
    every pair `(D_i, pg_i)` follows exactly the pointwise field `jaxgan.pointwise_field(game,
    pd_i)`; with `"lagrange"` the same up to the shared constant `c(D)` in place of `f3(D0)`.

    **Arguments:**

    - `game`: a `Game` or preset name.
    - `pd`: `Float[Array, "n"]`, the data density at the points (positive).
    - `weights`: `Float[Array, "n"]`, quadrature weights (positive), e.g. the grid spacing.
    - `K_D`: `Float[Array, "n n"]`, the discriminator's kernel on the points (normally symmetric
      PSD, e.g. from `parametric_kernel`).
    - `K_G`: `Float[Array, "n n"]`, the generator's kernel; default `None` = `diag(1/w)`, a
      free-form density.
    - `constant`: `"lagrange"` or `"d0"`, see above.
    - `name`: the field's name (default `"<game>/kernel"`).

    **Returns:** a `Field` of dimension `2n` with labels `D[i]`, `pg[i]`, players `(D…, pg…)`,
    domain `D_i ∈ game.d_domain`, `pg_i ≥ 0`, rest point `(D0, …, D0, pd_1, …, pd_n)`,
    `params = {"pd", "w", "K_D", ["K_G"], "d0"}` and `meta = {"game", "kind": "kernel", "constant"}`.

    **Raises:** `ValueError` naming the argument for weights or `pd` that are not positive or of
    the wrong length, kernels of the wrong shape or non-finite, an unknown `constant`, or a game
    without rest point.
    """
    who = "kernel_field"
    game = _games.get(game)
    if constant not in _CONSTANTS:
        raise ValueError(f"kernel_field argument `constant` must be one of {', '.join(_CONSTANTS)}; got {constant!r}.")
    try:
        n = int(np.shape(weights)[0]) if np.ndim(weights) == 1 else -1
    except (TypeError, ValueError, IndexError):
        n = -1
    if n < 1:
        raise ValueError(f"kernel_field argument `weights` must be a 1-D array of positive numbers; "
                         f"got shape {np.shape(weights)}.")
    w = _check_weights(weights, n, who)
    try:
        pd_arr = _check_weights(pd, n, who, name="pd")
    except ValueError as exc:
        raise ValueError(str(exc).replace("quadrature weights or a density", "a data density")) from None
    dtype = jnp.result_type(float)
    kd = _check_square(K_D, who, "K_D")
    if kd.shape[0] != n:
        raise ValueError(f"kernel_field argument `K_D` must have shape ({n}, {n}) to match `weights`; got {kd.shape}.")
    params = {"pd": jnp.asarray(pd_arr, dtype), "w": jnp.asarray(w, dtype), "K_D": jnp.asarray(kd, dtype),
              "d0": jnp.asarray(game.rest_d(dtype), dtype)}
    if K_G is not None:
        kg = _check_square(K_G, who, "K_G")
        if kg.shape[0] != n:
            raise ValueError(f"kernel_field argument `K_G` must have shape ({n}, {n}) to match `weights`; got {kg.shape}.")
        params["K_G"] = jnp.asarray(kg, dtype)
    lo, hi = game.d_domain
    return _fields.Field(
        _kernel_velocity(game, constant, K_G is None),
        params,
        rest_point=_kernel_rest,
        lower=(lo,) * n + (0.0,) * n,
        upper=(hi,) * n + (math.inf,) * n,
        closed=((False, False),) * n + ((True, False),) * n,
        name=name or f"{game.name}/kernel",
        labels=tuple(f"D[{i}]" for i in range(n)) + tuple(f"pg[{i}]" for i in range(n)),
        players=(tuple(range(n)), tuple(range(n, 2 * n))),
        meta={"game": game, "kind": "kernel", "constant": constant},
    )


def discriminator_field(game, apply_fn, params, x, pd, weights, *, train: bool | None = None, K_G=None,
                        constant: str = "lagrange", normalize: bool = True, method: str = "auto",
                        name: str | None = None, **kernel_kwargs):
    """The kernel field of a discriminator network on points `x` (see `kernel_field`).

    `K_D = parametric_kernel(apply_fn, params, x, train=train, method=method, **kernel_kwargs)`;
    with `normalize=True` it is divided by the largest eigenvalue of its integral operator
    (`spectrum(K_D, weights)`), so that `K_D W` has spectral radius 1 — a choice of time unit
    (the learning rate) that makes networks of different width and activation comparable.

    **Returns:** the `Field` of `kernel_field(game, pd, weights, K_D, K_G, constant=constant)`.
    """
    k = parametric_kernel(apply_fn, params, x, train=train, method=method, **kernel_kwargs)
    if normalize:
        lam = spectrum(k, weights).eigenvalues[0]
        if not lam > 0:
            raise ValueError("discriminator_field: the kernel is zero; nothing to normalise.")
        k = k / lam
    return kernel_field(game, pd, weights, k, K_G, constant=constant, name=name)


class FieldModes(NamedTuple):
    """The linearisation of a kernel field at its rest point, mode by mode.

    - `eigenvalues`: `Complex[ndarray, "m"]` (see `field_eigenvalues`).
    - `resolution`: `√eps·max|λ|` (eps of the field's dtype). Real parts within it are not
      resolved: near-null directions of `K_D` give nearly defective pairs `λ ≈ -c·a ± 2i√(a·…)`
      for kernel eigenvalues `a → 0`, and a round-off `δ` in `K` or `J` moves such pairs by `√δ`.
    - `damped`, `neutral`, `growing`: how many eigenvalues have `Re λ` below `-resolution`, within
      it, above it. Neutral modes rotate without (resolved) damping: the directions the network
      cannot represent walk in circles, as the article describes.
    """

    eigenvalues: np.ndarray
    resolution: float
    damped: int
    neutral: int
    growing: int


def field_modes(field, z=None) -> FieldModes:
    """Eigenvalues of a kernel field at its rest point, counted as damped / neutral / growing.

    **Returns:** a `FieldModes`; see there for the resolution `√eps·max|λ|`.
    """
    ev = field_eigenvalues(field, z)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(field.params)) if field.params else jnp.result_type(float)
    tol = math.sqrt(float(jnp.finfo(dtype).eps)) * float(np.max(np.abs(ev)) if ev.size else 0.0)
    re = ev.real
    return FieldModes(ev, tol, int(np.sum(re < -tol)), int(np.sum(np.abs(re) <= tol)), int(np.sum(re > tol)))


@jax.jit
def _jit_jacobian(field, z):
    return jax.jacfwd(field)(z)


def field_eigenvalues(field, z=None) -> np.ndarray:
    """Eigenvalues of a kernel field's Jacobian at its rest point (or at `z`), sorted by real part.

    For `constant="lagrange"` fields the Jacobian maps every vector into the mass-preserving
    subspace `{v : Σ_i w_i v_pg,i = 0}`, so its spectrum is that of the restriction `Qᵀ J Q`
    (`Q` an orthonormal basis of the subspace) plus one structural zero; the restriction's
    `2n - 1` eigenvalues are returned. For other fields: all eigenvalues of `jaxgan.analyze`.

    **Returns:** `Complex[ndarray, "m"]`.
    """
    if not isinstance(field, _fields.Field):
        raise TypeError(f"field_eigenvalues argument `field` must be a jaxgan Field; got {type(field).__name__}.")
    if z is None:
        if field.rest_point is None:
            raise ValueError(f"field {field.name!r} has no known rest point; pass `z`.")
        z = field.rest_point
    z = _dynamics.canonical_state(field, z, "z")
    jac = np.asarray(_jit_jacobian(field, z), dtype=np.float64)  # = jaxgan.analyze(field, z).jacobian
    if field.get_meta("kind") == "kernel" and field.get_meta("constant") == "lagrange":
        n = field.dim // 2
        c = np.zeros(2 * n)
        c[n:] = np.asarray(field.params["w"], dtype=np.float64)
        c /= np.linalg.norm(c)
        q = np.linalg.svd(c[None, :])[2][1:].T  # (2n, 2n-1), orthonormal, ⟂ c
        jac = q.T @ jac @ q
    ev = np.linalg.eigvals(jac)
    return ev[np.lexsort((ev.imag, ev.real))]
