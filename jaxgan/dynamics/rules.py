"""Update rules: how a field is run in discrete time, as pairs of pure functions (as in optax).

    state          = rule.init(field, z0)
    z_new, state   = rule.step(field, z, state, lr)

Built-in rules: `"euler"` (the article's script: every player from the old state),
`"alternating"` (players in turn, each seeing the others' new values), `"rk4"`,
`"extragradient"`, `"optimistic"`, and any `optax.GradientTransformation` (each player
ascends its own objective, so the optimiser is fed the gradient `-v(z)` of the loss).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from .._checks import check_instance
from ..errors import ArgumentError
from ..fields import Field

__all__ = ["UpdateRule", "rule_names", "register_rule", "EULER", "ALTERNATING", "RK4", "EXTRAGRADIENT", "OPTIMISTIC"]


class UpdateRule(NamedTuple):
    """A discrete-time update rule as a pair of pure functions.

    - `init(field, z0) -> state`: the rule's own state (a pytree; `()` when stateless).
    - `step(field, z, state, lr) -> (z_new, state_new)`: one update; `lr` is the step
      size (ignored by rules that carry their own, such as optax transformations).
    - `name`: for messages and tables.
    - `takes_lr`: whether `lr` must be given.
    - `stages`: whether the guarded update (`simulate`, the sweeps) watches every point
      where `step` evaluates the field, refusing a step that evaluates it outside the domain
      (LEFT_DOMAIN). Set it only when `step` calls `field` directly, not inside `lax`
      control flow or another library; the built-in `alternating`, `rk4` and
      `extragradient` rules do. Otherwise only the result of the step is checked.
    """

    init: Callable[[Field, jax.Array], Any]
    step: Callable[[Field, jax.Array, Any, Any], tuple[jax.Array, Any]]
    name: str
    takes_lr: bool = True
    stages: bool = False


def _no_state(field, z0):
    return ()


def _euler_step(field, z, state, lr):
    return z + lr * field(z), state


def _alternating_step(field, z, state, lr):
    # Players in turn (for the pointwise field: D first, then pg from the new D).
    for group in field.players:
        idx = jnp.asarray(group)
        z = z.at[idx].add(lr * field(z)[idx])
    return z, state


def _rk4_step(field, z, state, lr):
    k1 = field(z)
    k2 = field(z + 0.5 * lr * k1)
    k3 = field(z + 0.5 * lr * k2)
    k4 = field(z + lr * k3)
    return z + (lr / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), state


def _extragradient_step(field, z, state, lr):
    # Korpelevich 1976; Gidel et al. 2019: look ahead, then step with the look-ahead field.
    z_half = z + lr * field(z)
    return z + lr * field(z_half), state


def _optimistic_init(field, z0):
    return field(z0)  # the previous field value; the first step is then plain Euler


def _optimistic_step(field, z, v_prev, lr):
    # Optimistic gradient (Popov 1980; Daskalakis et al. 2018): z += 2 lr v(z) - lr v(z_prev).
    v = field(z)
    return z + lr * (2.0 * v - v_prev), v


EULER = UpdateRule(_no_state, _euler_step, "euler")
ALTERNATING = UpdateRule(_no_state, _alternating_step, "alternating", stages=True)
RK4 = UpdateRule(_no_state, _rk4_step, "rk4", stages=True)
EXTRAGRADIENT = UpdateRule(_no_state, _extragradient_step, "extragradient", stages=True)
OPTIMISTIC = UpdateRule(_optimistic_init, _optimistic_step, "optimistic")

_RULES = {r.name: r for r in (EULER, ALTERNATING, RK4, EXTRAGRADIENT, OPTIMISTIC)}
_BUILT_IN = frozenset(_RULES)


def register_rule(rule: UpdateRule) -> UpdateRule:
    """Make `rule` available by its name: `method=rule.name` then works in `simulate`, the sweeps,
    the stability functions and the CLI's `--method`.

    **Raises:** `ArgumentTypeError` for something that is not an `UpdateRule`; `ArgumentError`
    when the name is taken by a built-in rule.
    """
    check_instance("register_rule", "rule", rule, UpdateRule, "an UpdateRule")
    if rule.name in _BUILT_IN:
        raise ArgumentError(f"register_rule argument `rule`: the name {rule.name!r} is a built-in rule's.")
    _RULES[rule.name] = rule
    return rule


def rule_names() -> list[str]:
    """The names of the built-in update rules."""
    return list(_RULES)


@functools.lru_cache(maxsize=256)
def optax_rule(tx) -> UpdateRule:
    def init(field, z0):
        return tx.init(z0)

    def step(field, z, state, lr):
        # optax minimises: the gradient of each player's loss is -v(z).
        updates, state = tx.update(-field(z), state, z)
        return z + updates.astype(z.dtype), state

    return UpdateRule(init, step, f"optax:{getattr(tx, '__name__', type(tx).__name__)}", takes_lr=False)


def is_optax(method) -> bool:
    """Whether `method` looks like an optax `GradientTransformation` (has `init` and `update`)."""
    return hasattr(method, "init") and hasattr(method, "update") and callable(method.update)
