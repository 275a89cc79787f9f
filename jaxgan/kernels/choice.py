"""The automatic choice of algorithm for the parametric kernel of any network (`algorithm="auto"`).

Three exact paths compute `K = J1 J2ᵀ` (Novak, Sohl-Dickstein & Schoenholz 2022, "Fast finite
width neural tangent kernel", ICML, compare the same three strategies). With `N` inputs, `P`
parameters, `F` the FLOPs of one example's forward pass, `Cv` of its vjp (≈ 3F) and `Ct` of one
extra tangent of its jvp (≈ 2F):

- `"structured"` — recognised dense stacks (`plan.spec`): per-layer factors contracted as
  `Σ_l (Â Âᵀ) ⊙ (G Gᵀ)`, cost `N·Cv + N²·Σ_l (fan_in_l + 1 + width_l)`; always the cheapest
  where it applies.
- `"jacobian"` — Jacobian contraction: rows `∂D(x_i)/∂θ` by `vmap(grad)` in row blocks of `b`,
  cost `≈ N·Cv·(1 + N/2b) + N²·P` (the rows of the second block are recomputed for every block
  pair), memory `2·b·P` numbers for the two blocks of rows.
- `"kvp"` — kernel-vector products: for a block of `b` columns the directions `J2ᵀ e_j` (one
  vjp each) are computed once and every block of rows is `b` jvps along them; cost
  `≈ N·Cv + N²·(F/b + Ct)/2` (symmetric), memory `b·P` numbers and the tangents of `b × b`
  example-directions.

`F`, `Cv` and `Ct` are read from XLA's cost analysis of the *lowered* (not compiled) forward,
vjp and jvp of one example (of the whole batch for batch-coupled networks); the activations per
example are the sizes of the forward's intermediate values (its jaxpr). The choice is the path
with the fewest estimated FLOPs among those whose working set fits `memory_budget`.

**When each wins.** `Ct ≈ 2F ≥ 4P` as soon as every weight is used at least once per example, so
with ample memory the N²·P contraction of Jacobian rows beats the N²·Ct of jvps — by the
factor `F/P`, the number of times a weight is reused per example (≈ 2 for a dense layer, the
number of output positions for a convolution). Kernel-vector products win when `P` is so large
that the Jacobian row blocks are tiny (`b` of a few rows: the Jacobian path then recomputes
rows `N/2b` times) or do not fit at all (`2·P` numbers > budget, where kvp needs only `P` plus
activations), and for batch-coupled networks (BatchNorm in train mode), where every Jacobian row
is a vjp of the whole batch and the row-block path recomputes them block pair after block pair.

**Structured derivatives of convolutions — evaluated, not implemented.** For a convolution with
`S` output positions, a `k×k` kernel and `C_in → C_out` channels, the structured contraction
`Σ_{s,t} <patch_i,s, patch_j,t> <g_i,s, g_j,t>` costs `S²·(k²C_in + C_out)` per pair of examples
against `k²·C_in·C_out` (the layer's weights) for the Jacobian product; it wins only when
`S² < k²C_in·C_out / (k²C_in + C_out) ≤ min(k²C_in, C_out)`. On the 8×8 digit images
(`S = 64` before striding, 16 after a stride of 2) with 8–64 channels, `S² = 4096` (256) against
at most 64: the Jacobian product is 20× to 1000× cheaper per layer (the digit conv net of
`benchmarks/kernel_throughput.py`: conv 1→8 on 8×8, `S²(9+8) = 69 632` against 72; conv 8→16
stride 2, `256·(72+16) = 22 528` against 1152). So no structured path for convolutions. What
would win is a hybrid — the structured contraction for the *dense* layers of a conv net (its
flatten→dense layer holds most of the parameters) and Jacobian rows for the rest — which needs
the dense layers found inside an arbitrary model; not done.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import bytes_text
from ..errors import ArgumentError
from .blocks import jacobian_block_size, keeps_rows
from .plan import DEFAULT_MEMORY_BUDGET, Plan, call, check_batch_size, check_budget, make_plan

__all__ = ["KernelChoice", "PathCost", "kernel_choice"]

CANDIDATES = ("structured", "jacobian", "kvp")


@dataclasses.dataclass(frozen=True)
class PathCost:
    """The estimated cost of one path: `flops` (None: not estimated), `bytes` of its working set
    (K itself, `n1·n2` numbers, comes on top), its `block_size` (rows per block), whether it
    `fits` the memory budget (or applies at all), and a `note` in words."""

    algorithm: str
    flops: float | None
    bytes: int | None
    block_size: int | None
    fits: bool
    note: str = ""


@dataclasses.dataclass(frozen=True)
class KernelChoice:
    """The algorithm `parametric_kernel(..., algorithm="auto")` runs, and why.

    - `algorithm`: `"structured"`, `"jacobian"` or `"kvp"`.
    - `reason`: the choice in words, with the numbers it rests on.
    - `block_size`: rows (and, for kvp, columns) per block of the chosen path.
    - `candidates`: a `PathCost` per path considered (estimated FLOPs and bytes).
    - `n_params`, `forward_flops` (one example; the whole batch when `coupled`),
      `activation_bytes` (per example; the whole batch when `coupled`), `memory_budget`,
      `n1`, `n2`, `symmetric`, `coupled`.
    """

    algorithm: str
    reason: str
    block_size: int | None
    candidates: tuple
    n_params: int
    forward_flops: float
    activation_bytes: int
    memory_budget: int
    n1: int
    n2: int
    symmetric: bool
    coupled: bool

    def cost(self, algorithm: str) -> PathCost | None:
        """The `PathCost` of `algorithm`, or None when it was not considered."""
        return next((c for c in self.candidates if c.algorithm == algorithm), None)

    def __str__(self) -> str:
        lines = [f"{self.algorithm}: {self.reason}"]
        for c in self.candidates:
            flops = "—" if c.flops is None else f"{c.flops:.3g} FLOP"
            size = "—" if c.bytes is None else bytes_text(c.bytes)
            lines.append(f"  {c.algorithm:<10} {flops:>14}  {size:>10}  block {c.block_size}  "
                         f"{'fits' if c.fits else 'does not fit'}{'; ' + c.note if c.note else ''}")
        return "\n".join(lines)


# ============================================================================ measurements


def _lower(fn, *args):
    """`jax.jit(fn).lower(*args)`, or None when the model cannot be lowered on one example."""
    try:
        return jax.jit(fn).lower(*args)
    except Exception:
        return None


def _flops(lowered) -> float | None:
    if lowered is None:
        return None
    try:
        ca = lowered.cost_analysis()
    except Exception:  # a backend without cost analysis
        return None
    if isinstance(ca, (list, tuple)):
        ca = ca[0] if ca else None
    f = (ca or {}).get("flops")
    return float(f) if f is not None and f > 0 else None


def _activation_bytes(jaxpr, live) -> int:
    """The bytes of every value a jaxpr computes from its inputs flagged in `live` (the example,
    not the parameters), nested jaxprs included: what a vjp keeps, and what a jvp carries per
    tangent."""
    dep = {v for v, flag in zip(jaxpr.invars, live) if flag}
    total = 0
    for eqn in jaxpr.eqns:
        flags = [not hasattr(v, "val") and v in dep for v in eqn.invars]  # literals carry `val`
        if not any(flags):
            continue
        nested = False
        for p in eqn.params.values():
            for sub in (p if isinstance(p, (tuple, list)) else (p,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns") and len(inner.invars) == len(flags):
                    total += _activation_bytes(inner, flags)
                    nested = True
        for v in eqn.outvars:
            dep.add(v)
            aval = getattr(v, "aval", None)
            if not nested and hasattr(aval, "shape") and hasattr(aval, "dtype"):
                total += math.prod(aval.shape) * jnp.dtype(aval.dtype).itemsize
    return total


class _Units(NamedTuple):
    """Forward, vjp and extra-tangent FLOPs and activation bytes of one unit (one example, or the
    whole batch when coupled); `measured` False when XLA gave no cost analysis and the
    dense-layer guesses F = 2P, Cv = 3F, Ct = 2F were used."""

    f: float
    cv: float
    ct: float
    act: int
    measured: bool


_CACHE: dict = {}


def _shapes(tree):
    return (jax.tree_util.tree_structure(tree),
            tuple((tuple(jnp.shape(a)), str(jnp.result_type(a))) for a in jax.tree_util.tree_leaves(tree)))


def _units(plan: Plan, params) -> _Units:
    m = plan.x1.shape[0] if plan.coupled else 1
    x = plan.x1[:m]
    ex = jax.tree_util.tree_map(lambda a: a[:m], plan.ex1)
    key = (plan.fn, plan.skw, _shapes(params), _shapes(plan.dkw), _shapes(ex), tuple(x.shape), str(x.dtype))
    if key in _CACHE:
        return _CACHE[key]
    fn, skw, dkw = plan.fn, plan.skw, plan.dkw

    def fwd(p, xx, e):
        return call(fn, skw, p, xx, dkw, e)

    def vjp(p, xx, e):
        out, back = jax.vjp(lambda q: fwd(q, xx, e), p)
        return back(jnp.ones_like(out))[0]

    def jvp(p, t, xx, e):
        return jax.jvp(lambda q: fwd(q, xx, e), (p,), (t,))[1]

    f = _flops(_lower(fwd, params, x, ex))
    cv = _flops(_lower(vjp, params, x, ex))
    cj = _flops(_lower(jvp, params, params, x, ex))
    measured = f is not None and cv is not None and cj is not None
    if not measured:
        f = 2.0 * plan.n_params * m
        cv, cj = 3.0 * f, 3.0 * f
    try:
        closed = jax.make_jaxpr(fwd)(params, x, ex)
        n_p = len(jax.tree_util.tree_leaves(params))
        live = [k >= n_p for k in range(len(closed.jaxpr.invars))]  # the example and its keyword arguments
        act = _activation_bytes(closed.jaxpr, live)
    except Exception:  # a model that traces on a batch but not on one example: guess one layer per parameter row
        act = 4 * math.isqrt(plan.n_params) * jnp.dtype(plan.dtype).itemsize * m
    units = _Units(f, cv, max(cj - f, f), max(act, 1), measured)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = units
    return units


# ============================================================================ the cost model


def _pairs(nb1: int, nb2: int, symmetric: bool) -> int:
    return nb1 * (nb1 + 1) // 2 if symmetric else nb1 * nb2


def _jacobian_cost(plan, units, n1, n2, symmetric, budget, batch_size) -> PathCost:
    f, cv, _ct, act, _ = units
    p, s = plan.n_params, jnp.dtype(plan.dtype).itemsize
    b = jacobian_block_size(n1, n2, p, s, budget, batch_size, symmetric)
    nb1, nb2 = -(-n1 // b), -(-n2 // b)
    kept = keeps_rows(n1 if symmetric else n2, p, s, budget)
    if nb1 == 1 and nb2 == 1:
        row_blocks = 1 if symmetric else 2
    elif kept:  # each row block computed once (`kernel_jacobian` keeps them)
        row_blocks = nb1 if symmetric else nb1 + nb2
    else:
        row_blocks = nb1 + (nb1 * (nb1 - 1) // 2 if symmetric else nb1 * nb2)
    if plan.coupled:  # one forward of the batch and one backward per row
        rows = row_blocks * (f + b * (cv - f))
        nbytes = 2 * b * p * s + act
    else:
        rows = row_blocks * b * cv
        nbytes = 2 * b * p * s + b * act
    if kept and not (nb1 == 1 and nb2 == 1):
        nbytes += (n1 if symmetric else n2) * p * s
    flops = rows + _pairs(nb1, nb2, symmetric) * 2.0 * b * b * p
    fits = batch_size is not None or 2 * p * s <= budget
    note = (f"two blocks of {b} Jacobian rows of {p:,} parameters ({bytes_text(2 * b * p * s)})" if fits else
            f"two Jacobian rows of {p:,} parameters ({bytes_text(2 * p * s)}) exceed the budget")
    return PathCost("jacobian", flops, nbytes, b, fits, note)


def _kvp_bytes(b, p, s, act, n1, coupled):
    return b * p * s + (n1 * (b + 1) * act if coupled else b * (b + 1) * act)


def _kvp_cost(plan, units, n1, n2, symmetric, budget, batch_size) -> PathCost:
    f, cv, ct, act, _ = units
    p, s = plan.n_params, jnp.dtype(plan.dtype).itemsize
    if batch_size is not None:
        b, fits = batch_size, True
    else:
        b, fits = 0, False
        hi = max(n1, n2) if not plan.coupled else n2
        if _kvp_bytes(1, p, s, act, n1, plan.coupled) <= budget:
            lo, fits = 1, True
            while lo < hi:  # the largest b whose working set fits
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if _kvp_bytes(mid, p, s, act, n1, plan.coupled) <= budget else (lo, mid - 1)
            b = lo
    b = max(1, min(b, n2 if plan.coupled else max(n1, n2)))
    nbytes = _kvp_bytes(b, p, s, act, n1, plan.coupled)
    if plan.coupled:
        nb2 = -(-n2 // b)
        flops = nb2 * (f + b * (cv - f)) + nb2 * (f + b * ct)
    else:
        nb1, nb2 = -(-n1 // b), -(-n2 // b)
        flops = nb2 * b * cv + _pairs(nb1, nb2, symmetric) * (b * f + b * b * ct)
    note = (f"blocks of {b} directions ({bytes_text(b * p * s)}) and their tangents" if fits else
            f"one direction of {p:,} parameters and its tangents ({bytes_text(nbytes)}) exceed the budget")
    return PathCost("kvp", flops, nbytes, b, fits, note)


def _structured_cost(plan, units, n1, n2, symmetric) -> PathCost:
    sizes = getattr(plan.spec, "sizes", None)
    if not sizes:
        return PathCost("structured", None, None, None, True, "a recognised dense stack")
    width = sum(sizes[i] + 1 + sizes[i + 1] for i in range(len(sizes) - 1))
    pairs = n1 * (n1 + 1) / 2 if symmetric else n1 * n2
    flops = (n1 + (0 if symmetric else n2)) * units[1] + 2.0 * pairs * width
    return PathCost("structured", flops, None, None, True,
                    f"per-layer factors, {width:,} numbers per example instead of {plan.n_params:,}")


def choose(plan: Plan, params, budget: int, batch_size, who: str) -> KernelChoice:
    """The `KernelChoice` for a checked `plan` (see the module docstring)."""
    n1 = plan.x1.shape[0]
    symmetric = plan.x2 is None
    n2 = n1 if symmetric else plan.x2.shape[0]
    units = _units(plan, params)
    f, _cv, _ct, act, measured = units
    jac = _jacobian_cost(plan, units, n1, n2, symmetric, budget, batch_size)
    kvp = _kvp_cost(plan, units, n1, n2, symmetric, budget, batch_size)
    cands = (jac, kvp)
    src = "" if measured else " (XLA gave no cost analysis: dense-layer guesses F = 2P)"
    per = (f"P = {plan.n_params:,} parameters, one {'batch' if plan.coupled else 'example'}'s forward ≈ {f:.3g} FLOP"
           + ("" if plan.coupled else f" ({f / plan.n_params:.1f} per parameter)") + src)
    if plan.spec is not None:
        st = _structured_cost(plan, units, n1, n2, symmetric)
        return KernelChoice("structured", f"a recognised dense stack: {st.note}; {per}", None, (st,) + cands,
                            plan.n_params, f, act, budget, n1, n2, symmetric, plan.coupled)
    fitting = [c for c in cands if c.fits]
    if not fitting:
        two_rows = 2 * plan.n_params * jnp.dtype(plan.dtype).itemsize
        raise ArgumentError(
            f"{who} argument `memory_budget` ({bytes_text(budget)}) is too small for any exact path of this network "
            f"({per}): the Jacobian product needs at least {bytes_text(two_rows)} "
            f"(two rows), kernel-vector products at least {bytes_text(kvp.bytes)} (one direction and its tangents); "
            f"pass a larger `memory_budget`.")
    best = min(fitting, key=lambda c: (c.flops, c.algorithm != "jacobian"))
    other = next(c for c in cands if c is not best)
    if not other.fits:
        why = f"{other.note} ({bytes_text(budget)} budget); {best.algorithm}: {best.note}, ≈ {best.flops:.3g} FLOP"
    else:
        why = (f"≈ {best.flops:.3g} FLOP ({best.note}) against ≈ {other.flops:.3g} FLOP for {other.algorithm} "
               f"({other.note}), {bytes_text(budget)} budget")
    return KernelChoice(best.algorithm, f"{why}; {per}", best.block_size, cands, plan.n_params, f, act, budget,
                        n1, n2, symmetric, plan.coupled)


def kvp_block_size(plan: Plan, params, budget: int, batch_size, who: str) -> int:
    """Columns (and rows) per block for `algorithm="kvp"`: `batch_size`, or the largest block
    whose working set fits `budget`. **Raises** `ArgumentError` when not even one fits."""
    if batch_size is not None:
        return batch_size
    n1 = plan.x1.shape[0]
    n2 = n1 if plan.x2 is None else plan.x2.shape[0]
    cost = _kvp_cost(plan, _units(plan, params), n1, n2, plan.x2 is None, budget, None)
    if not cost.fits:
        raise ArgumentError(f"{who} argument `memory_budget` ({bytes_text(budget)}) is too small for "
                            f"algorithm='kvp': {cost.note}; pass a larger `memory_budget` or a `batch_size`.")
    return cost.block_size


def kernel_choice(model, params, x1, x2=None, *, memory_budget: int = DEFAULT_MEMORY_BUDGET, train: bool | None = None,
                  batch_size: int | None = None, apply_kwargs: dict | None = None, x1_kwargs: dict | None = None,
                  x2_kwargs: dict | None = None, batch_coupled: bool | None = None, rng=None) -> KernelChoice:
    """The algorithm `parametric_kernel(model, params, x1, x2, algorithm="auto")` would run, and why.

    Estimates, from the shapes alone (XLA's cost analysis of the lowered forward, vjp and jvp of
    one example; nothing is compiled or run), the FLOPs and the working set of each exact path —
    `"structured"` (recognised dense stacks), `"jacobian"` (row blocks of the N×P Jacobian),
    `"kvp"` (kernel-vector products assembled by blocks of columns) — and picks the cheapest that
    fits `memory_budget` (see `jaxgan.kernels.choice` for the cost model and when each path wins).

    **Arguments:** as `parametric_kernel` (`model` is its `apply_fn`: a plain `apply(params, x)`,
    a jaxgan MLP, a flax or equinox model; `params=None` for models that carry their own).

    **Returns:** a `KernelChoice`: `algorithm`, `reason` (in words, with the numbers),
    `block_size`, and a `PathCost` per candidate (`flops`, `bytes`, `block_size`, `fits`).
    `print(choice)` shows them as a small table.

    **Raises:** as `parametric_kernel`; `ArgumentError` when `memory_budget` holds no block of
    any path (it names the smallest working set needed).

    **Example:**

    ```python
    choice = jaxgan.kernels.kernel_choice(lambda p, x: module.apply({"params": p}, x).reshape(-1), params, images)
    print(choice.algorithm, choice.reason)
    ```
    """
    who = "kernel_choice"
    batch_size = check_batch_size(batch_size, who)
    budget = check_budget(memory_budget, who)
    plan = make_plan(who, model, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs, batch_coupled, rng=rng)
    return choose(plan, plan.params, budget, batch_size, who)

