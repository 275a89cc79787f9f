"""`Optimizer`: an optax optimiser family whose numeric hyper-parameters are traced values."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float
from ..errors import ArgumentError, ArgumentTypeError
from .rules import UpdateRule, is_optax

__all__ = ["Optimizer"]


def _is_number(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return True
    return isinstance(v, (np.ndarray, jax.Array)) and np.ndim(v) == 0 and np.issubdtype(np.asarray(v).dtype, np.number)


def _flag_names(factory) -> set:
    """Keyword arguments of `factory` whose default is a bool (flags such as `nesterov`); every
    keyword when the signature cannot be read."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return _ALL
    return {k for k, p in params.items() if isinstance(p.default, bool)}


class _All(set):
    def __contains__(self, item):
        return True


_ALL = _All()


class Optimizer:
    """An optax optimiser family whose numeric hyper-parameters are traced values.

    `Optimizer(optax.sgd, learning_rate=1e-3, momentum=0.9)` runs exactly like
    `optax.sgd(1e-3, momentum=0.9)` (each player ascends its own objective: the optimiser
    is fed `-v(z)`), but the numbers live in the optimiser state (through
    `optax.inject_hyperparams`) instead of the compiled code: `simulate`, `jaxgan.basins`
    and `jaxgan.sweep` compile once per *family* and structure, and a sweep can give every
    start its own `learning_rate`, `momentum`, `b1`, ...

    **Arguments:**

    - `factory`: an optax optimiser factory (`optax.sgd`, `optax.adam`,
      `optax.optimistic_gradient_descent`, ...), called with the keywords below.
    - `static`: names of keyword arguments that must stay Python values (flags such as
      `nesterov=True` are static automatically: every non-numeric keyword is).
    - `**hyperparams`: the keyword arguments; numeric ones are traced.

    Which keywords are given is part of the structure (e.g. `momentum=0.0` builds a
    momentum trace, omitting it does not); the optimiser's `init` must not depend on the
    values (true of optax's optimisers, whose states start at zero).

    **Raises:** `TypeError` if `factory` is not callable, does not accept the keywords, or
    does not return an optax transformation, or for a bool given where the factory's default is
    not a flag (`learning_rate=True`); `ValueError` for a non-finite number or one the working
    float cannot hold (it would become 0 or inf).
    """

    def __init__(self, factory, *, static=(), **hyperparams):
        if not callable(factory):
            raise ArgumentTypeError(f"Optimizer argument `factory` must be an optax optimiser factory (e.g. optax.sgd); got {factory!r}.")
        static = tuple(static)
        traced, fixed = {}, {}
        flags = _flag_names(factory)
        for k, v in hyperparams.items():
            if isinstance(v, (bool, np.bool_)) and k not in static and k not in flags:
                # `learning_rate=True` would run as 1.0: a bool is only a flag where the factory's
                # default is one (e.g. `nesterov`).
                raise ArgumentTypeError(f"Optimizer argument `{k}` must be a number (the factory's `{k}` is not a "
                                        f"True/False flag); got {v!r}. Pass static=({k!r},) if it really is a flag.")
            if k not in static and _is_number(v):
                # Checked in the working float: the value is cast to it when the optimiser runs.
                traced[k] = check_float("Optimizer", k, v, sign="any")
            else:
                fixed[k] = v
        try:
            tx = factory(**hyperparams)
        except TypeError as exc:
            raise ArgumentTypeError(f"Optimizer: {getattr(factory, '__name__', factory)!r} does not accept {sorted(hyperparams)}: {exc}") from None
        if not is_optax(tx):
            raise ArgumentTypeError(f"Optimizer argument `factory` must return an optax GradientTransformation; got {type(tx).__name__}.")
        try:
            hash(tuple(fixed.items()))
        except TypeError:
            raise ArgumentTypeError(f"Optimizer: non-numeric hyper-parameters must be hashable; got {fixed!r}.") from None
        self.factory = factory
        self.hyperparams = dict(traced)
        self.static = dict(fixed)
        self._tx = tx

    @property
    def name(self) -> str:
        return f"optax:{getattr(self.factory, '__name__', type(self.factory).__name__)}"

    def transformation(self):
        """The plain optax transformation with these values (compiled in as constants)."""
        return self._tx

    def replace(self, **hyperparams) -> "Optimizer":
        """A copy with some numeric hyper-parameters replaced (same structure, no recompile)."""
        unknown = set(hyperparams) - set(self.hyperparams)
        if unknown:
            raise ArgumentError(f"{self.name} has no traced hyper-parameter(s) {sorted(unknown)}; it has {sorted(self.hyperparams)}.")
        return Optimizer(self.factory, static=tuple(self.static), **{**self.static, **self.hyperparams, **hyperparams})

    @property
    def traced_rule(self) -> UpdateRule:
        """The update rule that reads the hyper-parameters from its `lr` slot (a dict)."""
        return _optimizer_rule(self.factory, tuple(sorted(self.hyperparams)), tuple(sorted(self.static.items())))

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in {**self.hyperparams, **self.static}.items())
        return f"Optimizer({getattr(self.factory, '__name__', self.factory)}, {kw})"


@functools.lru_cache(maxsize=256)
def _optimizer_rule(factory, names, static) -> UpdateRule:
    import optax

    static = dict(static)
    tx = optax.inject_hyperparams(factory, static_args=tuple(static))(**{n: 0.0 for n in names}, **static)

    def init(field, z0):
        return tx.init(z0)

    def step(field, z, state, hyper):
        # The numbers come in through the `lr` slot (traced); the state's copy is replaced.
        # (numeric defaults the user did not give, e.g. adam's b1, stay as the factory set them)
        hp = {k: jnp.asarray(hyper[k], dtype=jnp.result_type(v)) if k in hyper else v
              for k, v in state.hyperparams.items()}
        state = state._replace(hyperparams=hp)
        updates, state = tx.update(-field(z), state, z)
        return z + updates.astype(z.dtype), state

    name = f"optax:{getattr(factory, '__name__', type(factory).__name__)}"
    return UpdateRule(init, step, name, takes_lr=False)
