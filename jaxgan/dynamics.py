"""Update rules (how a field is run in discrete time) and `simulate`.

An update rule is a pair of pure functions, as in optax:

    state          = rule.init(field, z0)
    z_new, state   = rule.step(field, z, state, lr)

Built-in rules: `"euler"` (the article's script: every player from the old state),
`"alternating"` (players in turn, each seeing the others' new values), `"rk4"`,
`"extragradient"`, `"optimistic"`, and any `optax.GradientTransformation` (each player
ascends its own objective, so the optimiser is fed the gradient `-v(z)` of the loss).

Two more kinds of method share the same `method=` interface (in `simulate`,
`jaxgan.basins` and `jaxgan.sweep`):

- `Optimizer(optax.sgd, learning_rate=1e-3, momentum=0.9)`: an optax optimiser whose
  numeric hyper-parameters are *traced* (through `optax.inject_hyperparams`), so new values
  never recompile and sweeps can vary them per start;
- `"adaptive"` / `adaptive(...)`: adaptive continuous-time integration through diffrax
  (optional extra), where `lr` is the time between two states and a per-start event stops
  the solve as soon as the state leaves the domain.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_float, check_int
from .fates import Fate
from .fields import Field

__all__ = ["Fate", "UpdateRule", "get_rule", "rule_names", "simulate", "SimulationInfo", "DomainExitWarning",
           "Optimizer", "adaptive", "method_args"]


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


def rule_names() -> list[str]:
    """The names of the built-in update rules."""
    return list(_RULES)


@functools.lru_cache(maxsize=256)
def _optax_rule(tx) -> UpdateRule:
    def init(field, z0):
        return tx.init(z0)

    def step(field, z, state, lr):
        # optax minimises: the gradient of each player's loss is -v(z).
        updates, state = tx.update(-field(z), state, z)
        return z + updates.astype(z.dtype), state

    return UpdateRule(init, step, f"optax:{getattr(tx, '__name__', type(tx).__name__)}", takes_lr=False)


def _is_optax(method) -> bool:
    return hasattr(method, "init") and hasattr(method, "update") and callable(method.update)


# ----------------------------------------------------------------------------- traced optax


def _is_number(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return True
    return isinstance(v, (np.ndarray, jax.Array)) and np.ndim(v) == 0 and np.issubdtype(np.asarray(v).dtype, np.number)


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
    does not return an optax transformation; `ValueError` for a non-finite number.
    """

    def __init__(self, factory, *, static=(), **hyperparams):
        if not callable(factory):
            raise TypeError(f"Optimizer argument `factory` must be an optax optimiser factory (e.g. optax.sgd); got {factory!r}.")
        static = tuple(static)
        traced, fixed = {}, {}
        for k, v in hyperparams.items():
            if k not in static and _is_number(v):
                val = float(v)
                if not math.isfinite(val):
                    raise ValueError(f"Optimizer hyper-parameter `{k}` must be finite; got {v!r}.")
                traced[k] = val
            else:
                fixed[k] = v
        try:
            tx = factory(**hyperparams)
        except TypeError as exc:
            raise TypeError(f"Optimizer: {getattr(factory, '__name__', factory)!r} does not accept {sorted(hyperparams)}: {exc}") from None
        if not _is_optax(tx):
            raise TypeError(f"Optimizer argument `factory` must return an optax GradientTransformation; got {type(tx).__name__}.")
        try:
            hash(tuple(fixed.items()))
        except TypeError:
            raise TypeError(f"Optimizer: non-numeric hyper-parameters must be hashable; got {fixed!r}.") from None
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
            raise ValueError(f"{self.name} has no traced hyper-parameter(s) {sorted(unknown)}; it has {sorted(self.hyperparams)}.")
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


# ----------------------------------------------------------------------------- adaptive (diffrax)

_SOLVERS = ("tsit5", "dopri5", "dopri8", "bosh3", "heun")


def _import_diffrax():
    try:
        import diffrax
    except ImportError:
        raise ImportError(
            "method 'adaptive' needs the optional dependency diffrax; install it with "
            "`pip install 'jaxgan[diffrax]'` (or `pip install diffrax`)."
        ) from None
    return diffrax


def adaptive(solver: str = "tsit5", *, rtol: float = 1e-6, atol: float = 1e-8, max_steps: int = 4096) -> UpdateRule:
    """Adaptive continuous-time integration of the field through diffrax (optional extra).

    One "step" of this rule integrates `dz/dt = v(z)` over a time `lr` with an adaptive
    Runge-Kutta solver and a PID step-size controller, so `steps` steps cover the time
    `steps·lr`, the same time as `steps` Euler steps of size `lr`. A per-start diffrax
    `Event` stops the solve as soon as the state leaves the field's domain (or becomes
    non-finite): under `vmap` every start stops on its own, and the step is then refused
    (`Fate.LEFT_DOMAIN`, the start frozen at the last state inside) by `guarded_step`. A solve
    that fails (the step size collapses, `max_steps` exhausted) gives a non-finite state,
    hence `Fate.DIVERGED`.

    **Arguments:**

    - `solver`: `"tsit5"` (Tsitouras 2011, default), `"dopri5"`, `"dopri8"`, `"bosh3"`, `"heun"`.
    - `rtol`, `atol`: the controller's tolerances (positive).
    - `max_steps`: the most solver steps in one interval `lr`.

    **Returns:** an `UpdateRule` named `"adaptive:SOLVER"` (takes `lr`).

    **Raises:** `ImportError` if diffrax is not installed; `ValueError` for a bad argument.
    """
    if not isinstance(solver, str) or solver.lower() not in _SOLVERS:
        raise ValueError(f"adaptive argument `solver` must be one of {', '.join(_SOLVERS)}; got {solver!r}.")
    rtol, atol = check_float("adaptive", "rtol", rtol), check_float("adaptive", "atol", atol)
    max_steps = check_int("adaptive", "max_steps", max_steps)
    _import_diffrax()
    return _adaptive_rule(solver.lower(), float(rtol), float(atol), max_steps)


@functools.lru_cache(maxsize=64)
def _adaptive_rule(solver: str, rtol: float, atol: float, max_steps: int) -> UpdateRule:
    diffrax = _import_diffrax()
    solver_obj = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8,
                  "bosh3": diffrax.Bosh3, "heun": diffrax.Heun}[solver]()
    term = diffrax.ODETerm(lambda t, y, field: field(y))
    # Per-start exit event: stop as soon as the state is outside the domain (or non-finite).
    event = diffrax.Event(lambda t, y, field, **kwargs: ~field.in_domain(y))
    controller = diffrax.PIDController(rtol=rtol, atol=atol)

    def step(field, z, state, lr):
        lr = jnp.asarray(lr, z.dtype)
        sol = diffrax.diffeqsolve(term, solver_obj, jnp.zeros((), z.dtype), lr, None, z, args=field,
                                  stepsize_controller=controller, event=event, max_steps=max_steps,
                                  throw=False, saveat=diffrax.SaveAt(t1=True))
        ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
        z_new = jnp.where(ok, sol.ys[-1], jnp.nan).astype(z.dtype)
        return z_new, state

    return UpdateRule(_no_state, step, f"adaptive:{solver}")


def method_args(method, lr, dtype=None):
    """Split `method` into a static `UpdateRule` and the traced value its `lr` slot receives.

    For a named rule or `UpdateRule` that is `lr` (checked); for a plain optax transformation
    a dummy 0 (it carries its own numbers, compiled in); for an `Optimizer` the dict of its
    numeric hyper-parameters, so new values never recompile.

    **Returns:** `(rule, arg)`; `arg` a scalar array of `dtype` (default: JAX's default float)
    or a dict of them.

    **Raises:** as `get_rule` and `check_lr`, before anything is compiled.
    """
    dtype = dtype or jnp.result_type(float)
    if isinstance(method, Optimizer):
        if lr is not None:
            raise ValueError(
                f"`lr` must be omitted for method {method.name!r}: the optimiser carries its own "
                f"learning rate; got lr={lr!r}."
            )
        return method.traced_rule, {k: jnp.asarray(v, dtype) for k, v in method.hyperparams.items()}
    rule = get_rule(method)
    lr = check_lr(rule, lr)
    return rule, jnp.asarray(0.0 if lr is None else lr, dtype)


def get_rule(method) -> UpdateRule:
    """Canonicalise `method` (a name, an `UpdateRule` or an optax transformation) to an `UpdateRule`.

    **Raises:** `ValueError` listing the valid names for an unknown name; `TypeError` otherwise.
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
            raise ValueError(
                f"unknown method {method!r}; expected one of {', '.join(_RULES)}, adaptive, an "
                f"optax GradientTransformation or a jaxgan.Optimizer."
            )
        return _RULES[key]
    if isinstance(method, Optimizer):
        # Values compiled in as constants; `method_args` gives the traced form.
        return _optax_rule(method.transformation())
    if _is_optax(method):
        return _optax_rule(method)
    raise TypeError(
        f"`method` must be a name ({', '.join(_RULES)}, adaptive), an UpdateRule, an optax "
        f"GradientTransformation or a jaxgan.Optimizer; got {type(method).__name__}."
    )


def check_lr(rule: UpdateRule, lr):
    """Validate `lr` for `rule`; returns it (None for rules that carry their own)."""
    if not rule.takes_lr:
        if lr is not None:
            raise ValueError(
                f"`lr` must be omitted for method {rule.name!r}: an optax transformation carries "
                f"its own learning rate; got lr={lr!r}."
            )
        return None
    if lr is None:
        raise ValueError(f"`lr` is required for method {rule.name!r} (a positive step size).")
    if isinstance(lr, jax.core.Tracer):
        return lr
    try:
        val = float(lr)
    except (TypeError, ValueError):
        raise TypeError(f"`lr` must be a positive number; got {lr!r}.") from None
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"`lr` must be positive and finite; got {lr!r}.")
    return lr


def canonical_state(field: Field, z, name: str = "z0") -> jax.Array:
    """`z` as a float array of shape `(..., n)` in JAX's default float dtype; clear errors otherwise."""
    try:
        arr = np.asarray(z, dtype=np.float64) if not isinstance(z, jax.Array) else z
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an array of shape ({field.dim},); got {z!r}.") from None
    if arr.ndim < 1 or arr.shape[-1] != field.dim:
        raise ValueError(
            f"`{name}` must have shape ({field.dim},) for field {field.name!r} "
            f"({', '.join(field.labels)}); got shape {tuple(arr.shape)}."
        )
    return jnp.asarray(arr, dtype=jnp.result_type(float))


class SimulationInfo(NamedTuple):
    """What `simulate(..., return_info=True)` reports besides the path.

    - `fate`: `Fate.LEFT_DOMAIN` or `Fate.DIVERGED` if the run stopped early, else `Fate.UNDECIDED`.
    - `exit_step`: the step whose update was refused (-1 if none).
    - `final`: the last state (shape `(n,)`).
    """

    fate: Fate
    exit_step: int
    final: jax.Array


class DomainExitWarning(UserWarning):
    """A trajectory stopped because its next step would leave the domain or be non-finite."""


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


@functools.partial(jax.jit, static_argnames=("rule", "n_saves", "save_every"))
def _simulate_jit(field, z0, lr, *, rule, n_saves, save_every):
    state0 = rule.init(field, z0)

    def inner(i, carry):
        z, state, status, exit_step, k0 = carry
        z, state, status, ex = guarded_step(rule, field, z, state, lr, status, k0 + i)
        exit_step = jnp.where((exit_step < 0) & (ex >= 0), ex, exit_step)
        return z, state, status, exit_step, k0

    def outer(carry, k):
        z, state, status, exit_step = carry
        z, state, status, exit_step, _ = jax.lax.fori_loop(
            0, save_every, inner, (z, state, status, exit_step, k * save_every)
        )
        return (z, state, status, exit_step), z

    init = (z0, state0, jnp.int32(Fate.UNDECIDED), jnp.int32(-1))
    (z, _, status, exit_step), path = jax.lax.scan(outer, init, jnp.arange(n_saves, dtype=jnp.int32))
    return jnp.concatenate([z0[None], path]), status, exit_step


def simulate(field: Field, z0, *, steps: int, lr=None, method="euler", save_every: int = 1,
             return_info: bool = False, warn: bool = True):
    """Run one trajectory of `field` from `z0` with a discrete update rule.

    One `lax.scan` (an inner `fori_loop` of `save_every` steps per saved row), jit-compiled;
    no Python loop over steps. The computation runs in JAX's default float (float64 when
    x64 is enabled). The field's parameters and `lr` are traced: new values do not recompile.

    **Arguments:**

    - `field`: a `Field`.
    - `z0`: the start, shape `(n,)`.
    - `steps`: number of updates (positive int, a multiple of `save_every`).
    - `lr`: the step size (positive). Omit it for optax transformations.
    - `method`: `"euler"` (exactly the article's script: both players from the old state),
      `"alternating"` (players in turn: for the pointwise field D is updated first, then pg
      from the *new* D), `"rk4"`, `"extragradient"`, `"optimistic"`, an `UpdateRule`, any
      `optax.GradientTransformation` (e.g. `optax.sgd(1e-3)` reproduces `"euler"` with lr=1e-3),
      a `jaxgan.Optimizer` (optax with traced hyper-parameters: new values do not recompile),
      or `"adaptive"` / `adaptive(...)` (diffrax, optional extra: each step integrates the
      field adaptively over a time `lr`, stopping at a domain exit).
    - `save_every`: keep every k-th state.
    - `return_info`: also return a `SimulationInfo`.
    - `warn`: emit a `DomainExitWarning` when the trajectory stopped early.

    **Returns:** `path: Float[Array, "steps//save_every+1 n"]` (row 0 is `z0`), and the
    `SimulationInfo` if `return_info`. A trajectory whose next step would leave the domain
    (or be non-finite) stops there: later rows repeat the last valid state; never NaNs.

    **Raises:** `ValueError`/`TypeError` for a bad `z0`, `steps`, `save_every`, `lr` or `method`,
    before anything is compiled.
    """
    if not isinstance(field, Field):
        raise TypeError(f"`field` must be a jaxgan Field; got {type(field).__name__}.")
    rule, lr_arr = method_args(method, lr)
    steps = check_int("simulate", "steps", steps)
    save_every = check_int("simulate", "save_every", save_every)
    if steps % save_every:
        raise ValueError(f"`steps` ({steps}) must be a multiple of `save_every` ({save_every}).")
    z0 = canonical_state(field, z0)
    if z0.ndim != 1:
        raise ValueError(f"`z0` must have shape ({field.dim},); got {tuple(z0.shape)} (use jaxgan.basins for many starts).")
    if not bool(field.in_domain(z0)):
        raise ValueError(f"`z0` = {np.array2string(np.asarray(z0), threshold=8)} is outside the domain of field {field.name!r}: {field.domain_str()}.")
    lr_arr = jax.tree_util.tree_map(lambda a: a.astype(z0.dtype), lr_arr)
    path, status, exit_step = _simulate_jit(field, z0, lr_arr, rule=rule, n_saves=steps // save_every,
                                            save_every=save_every)
    fate = Fate(int(status))
    exit_step = int(exit_step)
    if fate != Fate.UNDECIDED and warn:
        what = ("leave the domain" + (" (or evaluate the field outside it)" if rule.stages else "")
                if fate == Fate.LEFT_DOMAIN else "be non-finite")
        warnings.warn(
            f"trajectory of {field.name!r} stopped at step {exit_step}: the next {rule.name} step "
            f"would {what} ({field.domain_str()}); later rows repeat the last valid state.",
            DomainExitWarning, stacklevel=2,
        )
    if return_info:
        return path, SimulationInfo(fate, exit_step, path[-1])
    return path
