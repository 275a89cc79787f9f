"""The identity of a sweep: everything that changes its numbers, for the chunk folder's manifest.

A name is not an identity: every plain optax transformation is called "optax", two games may
share a name, an adaptive solver's tolerances and a custom velocity have none. So the identity
holds, besides the JSON settings of the sweep (grid, steps, dtype, chunking, check settings,
the field's parameter values, the method's hyper-parameters):

- `computation`: a SHA-256 of the StableHLO text of ONE guarded update of the rule on the field
  at abstract shapes (plus the rule's `init`, the rest point and the domain test). Everything
  compiled in is in that text: the game's functions, a custom velocity and the constants it
  closes over, the constants of a plain optax transformation, the adaptive solver's settings,
  the domain's bounds, the players' order. It is lowered for the CPU whatever the machine (so
  that hosts of different kinds agree) and without debug information (no source locations), so
  it is the same in every process and on every host that runs the same jaxgan and JAX.
- `leaves`: a digest of the values of every leaf of the field (parameters, a stored rest point,
  regulariser weights), in their own dtypes.

Values of traced arguments (`lr`, an `Optimizer`'s hyper-parameters) are in the settings. A
velocity that calls back into Python (`jax.pure_callback`) is fingerprinted by the call, not by
the body of the Python function: the field's name and parameters must tell such fields apart.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics import UpdateRule, guarded_step
from ..fields import Field
from .store import array_digest

__all__ = ["fingerprint", "identity"]


def _abstract(tree):
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), tree)


def fingerprint(field: Field, rule: UpdateRule, arg, dtype) -> str:
    """SHA-256 (hex) of the lowered program text of one guarded update of `rule` on `field`, with
    the field's leaves and `arg` abstract (their values are not in it) and the state of `dtype`."""

    def one_update(field, z, arg):
        state = rule.init(field, z)
        z_new, state_new, status, exit_step = guarded_step(rule, field, z, state, arg, jnp.int32(0), jnp.int32(0))
        return z_new, state_new, status, exit_step, field.rest_point, field.in_domain(z)

    z = jax.ShapeDtypeStruct((field.dim,), np.dtype(dtype))
    traced = jax.jit(one_update).trace(_abstract(field), z, _abstract(arg))
    try:
        lowered = traced.lower(lowering_platforms=("cpu",))  # the same text on every kind of host
    except Exception:  # a JAX without CPU lowering here: the local platform's text (still deterministic)
        lowered = traced.lower()
    text = lowered.as_text(debug_info=False)  # no `loc(...)`: source lines do not change numbers
    return hashlib.sha256(text.encode()).hexdigest()


def identity(field: Field, rule: UpdateRule, arg, dtype) -> dict:
    """The JSON-able part of a sweep's identity that its settings do not already hold (see the
    module's docstring)."""
    leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(field)]
    return {"computation": fingerprint(field, rule, arg, dtype), "leaves": array_digest(*leaves),
            "rule": {"name": rule.name, "takes_lr": bool(rule.takes_lr), "stages": bool(rule.stages)}}
