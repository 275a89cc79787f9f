"""`kernel_vp`: the kernel-vector product `K(x_out, x_in) @ g` without forming `K` (traceable)."""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from .._checks import bad_type
from ..errors import ArgumentError
from .plan import call, make_plan

__all__ = ["kernel_vp"]


@functools.partial(jax.jit, static_argnames=("fn", "skw"))
def _kvp(fn, skw, params, dkw, x_out, ex_out, x_in, ex_in, g):
    out_in, vjp = jax.vjp(lambda p: call(fn, skw, p, x_in, dkw, ex_in), params)

    def one(gv):
        (cot,) = vjp(gv.astype(out_in.dtype))
        return jax.jvp(lambda p: call(fn, skw, p, x_out, dkw, ex_out), (params,), (cot,))[1]

    return one(g) if g.ndim == 1 else jax.vmap(one, in_axes=1, out_axes=1)(g)


def kernel_vp(apply_fn: Callable, params, x_out, x_in, g, *, train: bool | None = None,
              apply_kwargs: dict | None = None, out_kwargs: dict | None = None, in_kwargs: dict | None = None,
              rng=None):
    """The kernel-vector product `K(x_out, x_in) @ g` without forming `K`: one vjp, one jvp.

    `K g = J_out (J_inᵀ g)`: the vjp of `D(x_in)` with cotangent `g` gives the parameter
    direction `J_inᵀ g` (the gradient of `Σ_j g_j D(x_in_j)`), and the jvp of `D(x_out)` along it
    gives the result — exactly the first-order change of `D(x_out)` under the step
    `θ += ∇θ Σ_j g_j D(x_in_j)` (the article's derivation with `g = w ⊙ ∂J/∂D`). Cost: about
    three evaluations of the network; memory: one set of activations and one parameter vector.

    **Arguments:** as `parametric_kernel` (any network as `apply_fn`, `params=None` for models
    that carry their own, `rng` for dropout in train mode; `x_out`, `x_in` for `x1`, `x2` and
    `out_kwargs`, `in_kwargs` for the per-example keyword arguments), and `g`: `Float[Array, "n_in"]` or
    `Float[Array, "n_in m"]` (m vectors at once). The networks are evaluated on the full batches
    `x_out` and `x_in`, so for a BatchNorm MLP with `train=True` this is the batch operator.

    **Returns:** `Float[Array, "n_out"]` (or `"n_out m"`). Unlike `parametric_kernel` it is a pure
    JAX function of `params`, `x_out`, `x_in` and `g`: it works under `jit`, `vmap` and `grad`.

    **Raises:** as `parametric_kernel`, and `ArgumentError` for `g` of the wrong shape
    (`ArgumentTypeError` when it is not an array).
    """
    who = "kernel_vp"
    plan = make_plan(who, apply_fn, params, x_out, x_in, train, apply_kwargs, out_kwargs, in_kwargs, None,
                     names=("x_out", "x_in"), traceable=True, rng=rng, recognise=False)
    try:
        g = jnp.asarray(g)
    except (TypeError, ValueError):
        raise bad_type(who, "g", "an array", g) from None
    n_in = plan.x2.shape[0]
    if g.ndim not in (1, 2) or g.shape[0] != n_in:
        raise ArgumentError(f"{who} argument `g` must have shape ({n_in},) or ({n_in}, m) to match `x_in`; "
                            f"got shape {tuple(g.shape)}.")
    return _kvp(plan.fn, plan.skw, plan.params, plan.dkw, plan.x1, plan.ex1, plan.x2, plan.ex2, g)
