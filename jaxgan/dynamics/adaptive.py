"""Adaptive continuous-time integration through diffrax (an optional extra)."""

from __future__ import annotations

import functools

import jax.numpy as jnp

from .._checks import check_choice, check_float, check_int
from .rules import UpdateRule, _no_state

__all__ = ["adaptive"]


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
    check_choice("adaptive", "solver", solver.lower() if isinstance(solver, str) else solver, _SOLVERS)
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
