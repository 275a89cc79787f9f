"""The guarded update: a step that would leave the domain, evaluate the field outside it or
become non-finite is refused, and the start is frozen with its fate. Used by `simulate` and
by the sweeps (jaxgan's one definition of LEFT_DOMAIN and of a non-finite DIVERGED)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..fates import Fate
from ..fields import Field
from .rules import UpdateRule

__all__ = ["canonical_state", "probed_step", "guarded_step"]


def canonical_state(field: Field, z, fn: str | None = None, name: str = "z") -> jax.Array:
    """`z` as a float array of shape `(..., n)` in JAX's default float dtype.

    **Raises:** `ArgumentTypeError` for something that is not an array of numbers,
    `ArgumentError` for a last axis that is not the field's dimension; the message names
    `fn`'s argument `name`.
    """
    where = f"{fn} argument `{name}`" if fn else f"`{name}`"
    if isinstance(z, (str, bytes)):
        raise ArgumentTypeError(f"{where} must be an array of shape ({field.dim},); got {z!r}.")
    try:
        arr = np.asarray(z, dtype=np.float64) if not isinstance(z, jax.Array) else z
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where} must be an array of shape ({field.dim},); got {z!r}.") from None
    if arr.ndim < 1 or arr.shape[-1] != field.dim:
        raise ArgumentError(
            f"{where} must have shape ({field.dim},) for field {field.name!r} "
            f"({', '.join(field.labels[:6])}{', …' if field.dim > 6 else ''}); got shape {tuple(arr.shape)}."
        )
    return jnp.asarray(arr, dtype=jnp.result_type(float))


class _StageProbe:
    """The field as a rule sees it during one update, noting whether the rule evaluates it
    outside the domain (an RK4 stage, an extragradient look-ahead, alternating's mixed point).

    Evaluations at the update's own starting point `z` (already accepted) are not checked.
    The note is a side effect of tracing, hence only for rules that declare `stages`.
    """

    def __init__(self, field: Field, z):
        self._field, self._z = field, z
        self.outside = False  # a Python False until some evaluation point needs a check

    def __call__(self, x):
        if x is not self._z:
            self.outside = self.outside | ~self._field.in_domain(x)
        return self._field(x)

    def __getattr__(self, name):
        return getattr(self._field, name)


def probed_step(rule: UpdateRule, field: Field, z, state, lr):
    """`rule.step(field, z, state, lr)`, plus whether it evaluated the field outside its domain.

    Returns `(z_new, state_new, outside)`; `outside` is a boolean scalar, or the Python
    `False` when the rule evaluated the field only at `z` or does not declare `stages`.
    """
    if not rule.stages:
        z_new, state_new = rule.step(field, z, state, lr)
        return z_new, state_new, False
    probe = _StageProbe(field, z)
    z_new, state_new = rule.step(probe, z, state, lr)
    return z_new, state_new, probe.outside


def guarded_step(rule: UpdateRule, field: Field, z, state, lr, status, step_index):
    """One update that is refused when it would leave the domain or become non-finite.

    A step that needs the field outside its domain (an intermediate stage of `rk4` or the
    look-ahead of `extragradient`) is refused as LEFT_DOMAIN too, even when its result lands
    back inside: the field has no value there (the log of a negative number, for the
    article's games). `status` is an int32 `Fate` code; once non-zero the state stays
    frozen. Returns `(z, state, status, exit_step_or_minus_1)`.
    """
    z_new, state_new, stage_out = probed_step(rule, field, z, state, lr)
    finite = jnp.all(jnp.isfinite(z_new))
    inside = field.in_domain(z_new) & ~stage_out
    running = status == Fate.UNDECIDED
    accept = running & inside
    new_status = jnp.where(
        running & ~inside,
        jnp.where(finite | stage_out, jnp.int32(Fate.LEFT_DOMAIN), jnp.int32(Fate.DIVERGED)),
        status,
    )
    z_out = jnp.where(accept, z_new, z)
    state_out = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), state_new, state)
    exit_step = jnp.where(running & ~inside, jnp.asarray(step_index, jnp.int32), jnp.int32(-1))
    return z_out, state_out, new_status, exit_step
