"""Fates: what became of one start, and the one rule that decides it.

`Fate` is the status code every run reports (`simulate`, the sweeps, the convergence table,
neural training).
"""

from __future__ import annotations

import enum

__all__ = ["Fate"]


class Fate(enum.IntEnum):
    """What became of one start.

    - `UNDECIDED`: still running when the step budget ran out (or not classified).
    - `CONVERGED`: reached the rest point within tolerance.
    - `CYCLING`: bounded, not converging, and winding around the rest point.
    - `DIVERGED`: a non-finite or unbounded state.
    - `LEFT_DOMAIN`: the next step would leave the field's domain, or evaluate the field
      outside it (an `rk4` stage, an `extragradient` look-ahead); the start was frozen.

    The sweeps (`jaxgan.basins`, `jaxgan.sweep`) decide CYCLING by a Poincaré section: the
    ray from the rest point along the first coordinate of the winding plane. Each signed
    crossing of that ray is one full turn around the rest point (the accumulated winding
    angle, in turns); a start is CYCLING once `cycle_turns` consecutive turns in the same
    direction each return to the ray within a relative distance `cycle_rtol` of the
    previous return (the return map is the identity: a closed orbit, neither spiralling in
    nor out). See `jaxgan.sweeps` for the other rules.
    """

    UNDECIDED = 0
    CONVERGED = 1
    CYCLING = 2
    DIVERGED = 3
    LEFT_DOMAIN = 4
