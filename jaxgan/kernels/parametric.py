"""`parametric_kernel`: the kernel matrix of a network on sets of points, by the algorithm chosen."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ArgumentError
from .._checks import X64_HINT, check_memory
from .blocks import kernel_jacfwd, kernel_jacobian
from .plan import DEFAULT_MEMORY_BUDGET, check_algorithm, check_batch_size, check_budget, choose_algorithm, make_plan
from .structured import kernel_structured

__all__ = ["parametric_kernel"]


def parametric_kernel(apply_fn: Callable, params=None, x1=None, x2=None, *, algorithm: str = "auto",
                      batch_size=None, train: bool | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                      apply_kwargs=None, x1_kwargs=None, x2_kwargs=None, batch_coupled: bool | None = None,
                      rng=None) -> jax.Array:
    """The parametric kernel `K[i, j] = Σ_p ∂D(x1_i)/∂θ_p · ∂D(x2_j)/∂θ_p` of a network.

    The article's `K_θ(x, y)` (Section 3), i.e. the empirical neural tangent kernel (Jacot et
    al. 2018). `K` is symmetric positive semi-definite when `x2` is omitted.

    **Arguments:**

    - `apply_fn`: the network: anything `jaxgan.networks.network` accepts — a plain
      `apply_fn(params, x, **kwargs) -> Float[Array, "b"]` (or `"b 1"`, one scalar per input for a
      batch `x` of shape `(b, ...)`; any pytree of floating arrays works as `params`), the `apply`
      of `jaxgan.nets.mlp`, a flax.linen module (with its variables as `params`), a flax.nnx or
      equinox module (`params=None`: they carry their own; an `eqx.nn.State` may be passed as
      `params`), or a `jaxgan.networks.Network`. jaxgan MLPs, and flax/equinox dense stacks
      recognised by `jaxgan.networks.recognise`, take the structured path.
    - `params`: the parameters θ (`None` for models that carry their own). For flax and equinox
      models only the trainable parameters enter `K` (not BatchNorm statistics).
    - `x1`: `Float[Array, "n1 ..."]`, inputs along the leading axis (for a jaxgan MLP: `(n1, d)`,
      or `(n1,)` when `d = 1`).
    - `x2`: `Float[Array, "n2 ..."]` with the same feature shape, or `None` for `x2 = x1` (then
      only the blocks on and above the diagonal are computed and `K` is exactly symmetric).
    - `algorithm`: how `K` is computed (the same numbers to round-off):
      - `"auto"` (default): `"structured"` for jaxgan MLPs and recognised dense stacks, else the
        cheapest of `"jacobian"` and `"kvp"` that fits `memory_budget`, by estimated FLOPs
        (`kernels.kernel_choice` reports the choice and its numbers).
      - `"structured"`: jaxgan MLPs and recognised dense stacks only. Per-layer factors — layer inputs `a` and back-propagated
        derivatives `G = ∂D/∂h` — contracted as `Σ_l ([a,1][a,1]ᵀ) ⊙ (G Gᵀ)`; cost `O(N² Σ widths)`,
        memory `O(N Σ widths)`, never the `N×P` Jacobian. With BatchNorm in train mode the factors
        are batch-coupled (`∂D_i/∂h_k` for all pairs k, one vjp of the batch per output row); each
        row is compressed to `Lᵀ G_i` with `L L ᵀ = [a,1][a,1]ᵀ`, `r = min(N, width+1)` numbers per
        hidden unit instead of the `width+1` of the Jacobian.
      - `"jacobian"`: any network. Jacobian rows (`vmap(grad)`, or vjps of the full batch when
        batch-coupled) in row blocks of `batch_size` rows, two blocks held at a time; blocks above
        the diagonal only when `x2` is omitted.
      - `"kvp"`: any network. Kernel-vector products by blocks of `b` columns: the directions
        `J2ᵀ e_j` (one vjp each) once per block, then the jvps of `b` rows along them; holds one
        block of directions (`b·P`) and the tangents of `b×b` examples, never two blocks of
        Jacobian rows — the path when those do not fit (`batch_size` sets `b`).
      - `"jacfwd"`: the literal recipe of the design brief — the Jacobian over the flattened
        parameters by forward mode, i.e. P forward passes, then `J1 J2ᵀ`. For small nets and as a
        reference only (refused when the `N×P` Jacobian exceeds `memory_budget`).
    - `batch_size`: rows per block (≥ 1); default: sized to `memory_budget`.
    - `train`: the mode of networks with BatchNorm or dropout. **Required** for such jaxgan MLPs:
      `False` — eval mode (running statistics, no dropout): the result is the *kernel*
      `K_θ(x1_i, x2_j)`; `True` — train mode (batch statistics): the result is the *operator*
      `J1 J2ᵀ` with `J1 = ∂D(x1 as one batch)/∂θ` (and `J2` the same for `x2` as its own batch),
      whose entries depend on the whole batch. Required in the same way for flax/equinox models
      with BatchNorm or dropout (their own switch is set: a linen `train`/`deterministic`/…
      keyword, nnx `.train()`/`.eval()`, `eqx.nn.inference_mode`). For plain functions a
      non-None `train` is forwarded as `apply_fn(..., train=train)`.
    - `memory_budget`: bytes for the working set of one block pair (default 256 MiB: for the
      `"jacobian"` path two blocks of `b` Jacobian rows, `2·b·P` floats; a larger budget means
      larger blocks and fewer recomputed rows); the output `K` itself (`n1·n2` floats) comes on top.
    - `apply_kwargs`: further keyword arguments of `apply_fn`, the same for every input.
    - `x1_kwargs`, `x2_kwargs`: per-example keyword arguments (leaves with a leading axis `n1`,
      `n2`), sliced with the rows — e.g. a fixed dropout mask `{"mask": nets.dropout_masks(...)}`.
    - `batch_coupled`: for plain functions, `True` when an output depends on the whole batch
      (then `x1` is one batch and `K` the full-batch operator). Default `False`; for models it is
      known (train mode with BatchNorm or dropout).
    - `rng`: a PRNG key, for flax.linen and equinox models with dropout in train mode: one draw
      of the masks for the whole batch (`x1` and `x2` each), so the result is the full-batch
      operator like BatchNorm in train mode. nnx models draw from their own `nnx.Rngs`.

    **Returns:** `Float[Array, "n1 n2"]` in the dtype of `apply_fn`'s output (float64 if the
    parameters and inputs are float64), assembled block by block in place on the default device.
    The function drives a loop over blocks on the host, so it cannot itself be traced by
    `jit`/`vmap`/`grad` (use `kernel_vp` there). A kernel (plus one block pair of
    `memory_budget`) larger than the machine's memory is refused before anything is compiled.
    Matrix products run at `Precision.HIGHEST`.

    **Raises:** before anything is compiled, naming the argument: `ArgumentTypeError` for arguments
    of the wrong kind (a non-callable `apply_fn`, non-floating `params`, a non-integer `batch_size`);
    `ArgumentError` for an output that is not one scalar per input, `x` of the wrong rank, feature
    shapes that differ, `batch_size < 1`, an unknown `algorithm`, `"structured"` for a network that
    is not a jaxgan MLP, a missing `train` for BatchNorm/dropout MLPs, `"jacfwd"` beyond the budget.

    **Example:**

    ```python
    init, apply = jaxgan.nets.mlp((1, 512, 512, 1))
    x = jnp.linspace(-2, 2, 256)
    K = jaxgan.kernels.parametric_kernel(apply, init(jax.random.PRNGKey(0)), x)  # (256, 256), structured
    ```
    """
    who = "parametric_kernel"
    algorithm = check_algorithm(algorithm, who)
    batch_size = check_batch_size(batch_size, who)
    budget = check_budget(memory_budget, who)
    plan = make_plan(who, apply_fn, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs, batch_coupled,
                     rng=rng)
    params = plan.params  # the trainable pytree (a flax/equinox model's, whatever was passed)
    algorithm = choose_algorithm(plan, algorithm, who, params=params, budget=budget, batch_size=batch_size)
    n1 = plan.x1.shape[0]
    n2 = n1 if plan.x2 is None else plan.x2.shape[0]
    check_memory(who, f"the {n1}×{n2} kernel in {jnp.dtype(plan.dtype).name} (plus one block pair)",
                 n1 * n2 * jnp.dtype(plan.dtype).itemsize + budget,
                 "compute it on fewer inputs, or use kernels.kernel_vp (products K·g without forming K)")
    if algorithm == "structured":
        k = kernel_structured(plan, plan.mlp_params, batch_size, budget)
    elif algorithm == "jacobian":
        k = kernel_jacobian(plan, params, batch_size, budget)
    elif algorithm == "kvp":  # kernel-vector products by blocks of columns (kvp.py; sized by choice.py)
        from .choice import kvp_block_size
        from .kvp import kernel_kvp

        k = kernel_kvp(plan, params, kvp_block_size(plan, params, budget, batch_size, who))
    else:
        k = kernel_jacfwd(plan, params, budget, who)
    return _finite_or_explained(who, k, plan)


def _finite_or_explained(who: str, k, plan):
    """`k`, or an `ArgumentError` saying why it is not finite: never a silent NaN kernel."""
    bad = ~np.isfinite(np.asarray(k))
    if not bad.any():
        return k
    i, j = (int(v) for v in np.argwhere(bad)[0])
    scale = float(np.max(np.abs(np.asarray(plan.x1)))) if np.size(plan.x1) else 0.0
    raise ArgumentError(
        f"{who}: the kernel is not finite ({int(bad.sum())} of {bad.size} entries, the first at [{i}, {j}]) in "
        f"{jnp.dtype(plan.dtype).name}; the inputs reach |x| = {scale:.3g} and the parameters' gradients there "
        f"overflow (or the network returns NaN). Rescale the inputs, or {X64_HINT}.")
