"""Jacobians by autodiff: of a field, and of one full update of an update rule.

The one home of linearisations in jaxgan: analysis, stability regions, Lyapunov checks, the
sweeps' choice of check interval and the kernel fields' modes all take their Jacobians here.
Each function comes in a traceable form (use it inside `jit`/`vmap`) and, where it is called
from the host, a compiled one: one compile per kind of field (and update rule); the field's
numbers, the point and the step size are traced.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["jacobian", "field_jacobian", "field_velocity", "velocity_and_jacobian", "update_jacobian", "compiled_update_jacobian", "rest_update_jacobians",
           "update_jacobians_over_lr"]


def jacobian(field, z) -> jax.Array:
    """`∂v/∂z` of `field` at `z: Float[Array, "n"]`, shape `(n, n)`, by forward-mode autodiff (traceable)."""
    return jax.jacfwd(field)(z)


field_jacobian = jax.jit(jacobian)
field_jacobian.__doc__ = "`jacobian`, compiled once per kind of field (its numbers and `z` are traced)."

# Called from the host, a field's velocity runs as one program rather than op by op (each operation of the
# field's Python would compile its own little program on first use: ~40 for a regularised field).
field_velocity = jax.jit(lambda field, z: field(z))
field_velocity.__doc__ = "`field(z)`, compiled once per kind of field (its numbers and `z` are traced)."


@jax.jit
def velocity_and_jacobian(field, z):
    """`(field(z), jacobian(field, z))` in one program: shapes `(n,)` and `(n, n)`."""
    return field(z), jacobian(field, z)


def update_jacobian(field, z, lr, rule) -> jax.Array:
    """The Jacobian of one full update of `rule` at `z` and the rule's initial optimiser state there.

    The update is seen as a map on the flat vector `(z, optimiser state)`; at a rest point the
    initial state (zero momentum, the previous field value for optimistic GD) is a fixed point,
    so this is the linearisation of the discrete dynamics. Traceable.

    **Arguments:** `field`: a `Field`; `z`: `Float[Array, "n"]`; `lr`: the step (a traced scalar,
    or `None` for rules that carry their own); `rule`: an `UpdateRule`.

    **Returns:** `Float[Array, "m m"]`, `m = n + (size of the optimiser state)`.
    """
    flat0, unravel = ravel_pytree((z, rule.init(field, z)))

    def step(flat):
        zz, st = unravel(flat)
        return ravel_pytree(rule.step(field, zz, st, lr))[0]

    return jax.jacfwd(step)(flat0)


compiled_update_jacobian = jax.jit(update_jacobian, static_argnames=("rule",))


@functools.partial(jax.jit, static_argnames=("rule",))
def update_jacobians_over_lr(field, z, lrs, *, rule) -> jax.Array:
    """`update_jacobian` at one point for every step in `lrs: Float[Array, "L"]`; shape `(L, m, m)`."""
    return jax.vmap(lambda lr: update_jacobian(field, z, lr, rule))(lrs)


@functools.partial(jax.jit, static_argnames=("rule",))
def rest_update_jacobians(fields, lrs, *, rule) -> jax.Array:
    """`update_jacobian` at each field's rest point, batched: `fields` is a `Field` whose leaves
    have a leading batch axis `B`, `lrs: Float[Array, "B"]` (or a batched optimiser argument).

    **Returns:** `Float[Array, "B m m"]`.
    """
    def one(field, lr):
        z = jnp.asarray(field.rest_point, jnp.result_type(float))
        return update_jacobian(field, z, lr, rule)

    return jax.vmap(one)(fields, lrs)
