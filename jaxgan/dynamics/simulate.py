"""`simulate`: one trajectory of a field under an update rule, as one compiled `lax.scan`."""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_bool, check_instance, check_int, check_memory
from ..errors import ArgumentError
from ..fates import Fate
from ..fields import Field
from .guard import canonical_state, guarded_step
from .methods import method_args

__all__ = ["Trajectory", "simulate", "DomainExitWarning", "MAX_STEPS"]

MAX_STEPS = 2**31 - 1  # the step counter of the compiled loop is an int32


class DomainExitWarning(UserWarning):
    """A trajectory stopped because its next step would leave the domain or be non-finite."""


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """One run of `simulate`: the saved states and where the run stopped.

    - `path`: `Float[Array, "T n"]`, the saved states; row 0 is the start, row `k` the state
      after `k·save_every` steps. After a refused step the rows repeat the last valid state.
    - `steps`: `Int[ndarray, "T"]`, the step number of each row.
    - `fate`: `Fate.LEFT_DOMAIN` or `Fate.DIVERGED` if a step was refused, else
      `Fate.UNDECIDED` (the run used all its steps; whether it converged is a question for
      `jaxgan.fates.classify_path`).
    - `exit_step`: the step whose update was refused (-1 if none).
    - `method`, `lr`, `field_name`: how it was run, for labels.

    A `Trajectory` converts to its path wherever an array is expected: `np.asarray(traj)`,
    `jnp.asarray(traj)`, `traj[-1]`, `len(traj)`, `traj.shape`, `traj.dtype`; the plotting functions
    also read its fate to mark where it stopped.
    """

    path: jax.Array
    steps: np.ndarray
    fate: Fate
    exit_step: int
    method: str = ""
    lr: float | None = None
    field_name: str = ""

    @property
    def final(self) -> jax.Array:
        """The last state, `Float[Array, "n"]` (the last valid one if a step was refused)."""
        return self.path[-1]

    @property
    def stopped(self) -> bool:
        """Whether a step was refused (the run stopped early)."""
        return self.fate != Fate.UNDECIDED

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self.path)
        return arr if dtype is None else arr.astype(dtype)

    def __jax_array__(self):
        return self.path

    def __len__(self) -> int:
        return int(self.path.shape[0])

    def __getitem__(self, index):
        return self.path[index]

    @property
    def shape(self) -> tuple:
        """The shape of `path`."""
        return tuple(self.path.shape)

    @property
    def dtype(self):
        """The dtype of `path` (JAX's default float when the run was made)."""
        return self.path.dtype


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


def _start(field: Field, z) -> jax.Array:
    z0 = canonical_state(field, z, "simulate", "z")
    if z0.ndim != 1:
        raise ArgumentError(f"simulate argument `z` must have shape ({field.dim},); got {tuple(z0.shape)} "
                            f"(use jaxgan.basins for many starts).")
    if not bool(field.in_domain(z0)):
        raise ArgumentError(f"simulate argument `z` = {np.array2string(np.asarray(z0), threshold=8)} is outside "
                            f"the domain of field {field.name!r}: {field.domain_str()}.")
    return z0


def simulate(field: Field, z, *, steps: int, lr=None, method="euler", save_every: int = 1,
             warn: bool = True) -> Trajectory:
    """Run one trajectory of `field` from `z` with a discrete update rule.

    One `lax.scan` (an inner `fori_loop` of `save_every` steps per saved row), jit-compiled;
    no Python loop over steps. The computation runs in JAX's default float (float64 when
    x64 is enabled). The field's parameters and `lr` are traced: new values do not recompile.

    **Arguments:**

    - `field`: a `Field`.
    - `z`: the start, shape `(n,)`, inside the field's domain.
    - `steps`: number of updates (an int in [1, 2³¹ - 1], a multiple of `save_every`).
    - `lr`: the step size (positive). Omit it for optax transformations and `Optimizer`s.
    - `method`: `"euler"` (exactly the article's script: both players from the old state),
      `"alternating"` (players in turn: for the pointwise field D is updated first, then pg
      from the *new* D), `"rk4"`, `"extragradient"`, `"optimistic"`, an `UpdateRule`, any
      `optax.GradientTransformation` (e.g. `optax.sgd(1e-3)` reproduces `"euler"` with lr=1e-3),
      a `jaxgan.Optimizer` (optax with traced hyper-parameters: new values do not recompile),
      or `"adaptive"` / `adaptive(...)` (diffrax, optional extra: each step integrates the
      field adaptively over a time `lr`, stopping at a domain exit).
    - `save_every`: keep every k-th state. The saved path must fit in memory (checked before
      compiling, with the estimate).
    - `warn`: emit a `DomainExitWarning` when the trajectory stopped early.

    **Returns:** a `Trajectory` (`.path: Float[Array, "steps//save_every+1 n"]`, `.fate`,
    `.exit_step`, `.final`). A trajectory whose next step would leave the domain (or be
    non-finite) stops there: later rows repeat the last valid state; never NaNs.

    **Raises:** `ArgumentError`/`ArgumentTypeError` for a bad `z`, `steps`, `save_every`, `lr` or
    `method`, for `steps` beyond 2³¹ - 1, or a saved path larger than the machine's memory,
    before anything is compiled.
    """
    check_instance("simulate", "field", field, Field, "a jaxgan Field")
    rule, lr_arr = method_args(method, lr, fn="simulate")
    # Step numbers are int32 inside the compiled loop: 2³¹ - 1 is the most it can count.
    steps = check_int("simulate", "steps", steps, hi=MAX_STEPS)
    save_every = check_int("simulate", "save_every", save_every, hi=MAX_STEPS)
    warn = check_bool("simulate", "warn", warn)
    if steps % save_every:
        raise ArgumentError(f"simulate argument `steps` ({steps}) must be a multiple of `save_every` ({save_every}).")
    z0 = _start(field, z)
    rows = steps // save_every + 1
    # The saved path and its copy with the start prepended are alive together.
    check_memory("simulate", f"the saved path ({rows} rows × {field.dim} × {z0.dtype.name}, twice)",
                 2.0 * rows * field.dim * z0.dtype.itemsize,
                 "save fewer rows with a larger `save_every` (e.g. steps // 1000), or run in pieces "
                 "from the last state")
    lr_arr = jax.tree_util.tree_map(lambda a: a.astype(z0.dtype), lr_arr)
    path, status, exit_step = _simulate_jit(field, z0, lr_arr, rule=rule, n_saves=steps // save_every,
                                            save_every=save_every)
    fate, exit_step = Fate(int(status)), int(exit_step)
    if fate != Fate.UNDECIDED and warn:
        what = ("leave the domain" + (" (or evaluate the field outside it)" if rule.stages else "")
                if fate == Fate.LEFT_DOMAIN else "be non-finite")
        warnings.warn(
            f"trajectory of {field.name!r} stopped at step {exit_step}: the next {rule.name} step "
            f"would {what} ({field.domain_str()}); later rows repeat the last valid state.",
            DomainExitWarning, stacklevel=2,
        )
    lr_value = float(lr) if lr is not None and not isinstance(lr, jax.core.Tracer) else None
    return Trajectory(path, np.arange(path.shape[0]) * save_every, fate, exit_step, rule.name, lr_value, field.name)
