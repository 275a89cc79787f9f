"""`method=`: canonicalise what users pass as an update rule, once, before anything compiles.

A method is a rule name (`"euler"`, `"alternating"`, `"rk4"`, `"extragradient"`, `"optimistic"`,
`"adaptive"`), an `UpdateRule`, an optax transformation or a `jaxgan.Optimizer`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._checks import check_float, where
from ..errors import ArgumentError, ArgumentTypeError
from .adaptive import adaptive
from .optimizers import Optimizer
from .rules import _RULES, UpdateRule, is_optax, optax_rule

__all__ = ["get_rule", "method_args", "check_lr"]


def method_args(method, lr, dtype=None, fn: str | None = None):
    """Split `method` into a static `UpdateRule` and the traced value its `lr` slot receives.

    For a named rule or `UpdateRule` that is `lr` (checked); for a plain optax transformation
    a dummy 0 (it carries its own numbers, compiled in); for an `Optimizer` the dict of its
    numeric hyper-parameters, so new values never recompile.

    **Returns:** `(rule, arg)`; `arg` a scalar array of `dtype` (default: JAX's default float)
    or a dict of them.

    **Raises:** as `get_rule` and `check_lr`, before anything is compiled; messages name `fn`.
    """
    dtype = dtype or jnp.result_type(float)
    if isinstance(method, Optimizer):
        if lr is not None:
            raise ArgumentError(
                f"{where(fn, 'lr')} must be omitted for method {method.name!r}: the optimiser carries its own "
                f"learning rate; got lr={lr!r}."
            )
        return method.traced_rule, {k: jnp.asarray(v, dtype) for k, v in method.hyperparams.items()}
    rule = get_rule(method, fn)
    lr = check_lr(rule, lr, fn, dtype)
    return rule, jnp.asarray(0.0 if lr is None else lr, dtype)


def get_rule(method, fn: str | None = None) -> UpdateRule:
    """Canonicalise `method` (a name, an `UpdateRule` or an optax transformation) to an `UpdateRule`.

    **Raises:** `ArgumentError` listing the valid names for an unknown name; `ArgumentTypeError`
    otherwise. Messages name `fn`'s argument `method`.
    """
    if isinstance(method, UpdateRule):
        return method
    if isinstance(method, str):
        key = method.strip().lower().replace("-", "_")
        key = {"simultaneous": "euler", "gd": "euler", "alt": "alternating", "eg": "extragradient",
               "ogd": "optimistic", "diffrax": "adaptive"}.get(key, key)
        if key == "adaptive":
            return adaptive()
        if key not in _RULES:
            raise ArgumentError(
                f"{where(fn, 'method')}: unknown method {method!r}; expected one of {', '.join(_RULES)}, "
                f"adaptive, an optax GradientTransformation or a jaxgan.Optimizer."
            )
        return _RULES[key]
    if isinstance(method, Optimizer):
        # Values compiled in as constants; `method_args` gives the traced form.
        return optax_rule(method.transformation())
    if is_optax(method):
        return optax_rule(method)
    raise ArgumentTypeError(
        f"{where(fn, 'method')} must be a name ({', '.join(_RULES)}, adaptive), an UpdateRule, an optax "
        f"GradientTransformation or a jaxgan.Optimizer; got {type(method).__name__}."
    )


def check_lr(rule: UpdateRule, lr, fn: str | None = None, dtype=None):
    """Validate `lr` for `rule`: a positive finite number (not a bool) that `dtype` (default:
    JAX's default float, the one it is used in) holds without becoming 0 or inf; returns it
    (None for rules that carry their own)."""
    if not rule.takes_lr:
        if lr is not None:
            raise ArgumentError(
                f"{where(fn, 'lr')} must be omitted for method {rule.name!r}: an optax transformation carries "
                f"its own learning rate; got lr={lr!r}."
            )
        return None
    if lr is None:
        raise ArgumentError(f"{where(fn, 'lr')} is required for method {rule.name!r} (a positive step size).")
    if isinstance(lr, jax.core.Tracer):
        return lr
    check_float(fn, "lr", lr, dtype=dtype)
    return lr
