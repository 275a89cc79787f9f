"""XLA's options for jaxgan's programs that run briefly: the one home of both sets.

A program that runs once, or for a few thousand steps of a small state, spends nearly all of its
time compiling, so its compile options matter more than XLA's optimisations of the code:

- `FAST_COMPILE`: backend optimisation level 0. About half the CPU compile time and three times the
  run time. A seed's run stays bit-identical whatever its place in the batch
  (`tests/test_neural_seeds.py`). For `jaxgan.neural`'s training and measurement programs, when the
  run is short (`train(..., fast_compile=)`).
- `QUICK_COMPILE`: the same, and XLA:CPU's elemental emitters in place of its fusion emitters. About a
  third of the compile time. The numbers are equal to rounding, not bit for bit between programs of
  different shapes (a seed alone or in a batch), which is why training does not use it. For the
  convergence table's runs and the rest points' Jacobians (`jaxgan.tables`), which are compared to
  rounding.

Other backends ignore the CPU option.
"""

from __future__ import annotations

__all__ = ["FAST_COMPILE", "QUICK_COMPILE"]

FAST_COMPILE = {"xla_backend_optimization_level": 0}
QUICK_COMPILE = {**FAST_COMPILE, "xla_cpu_use_fusion_emitters": False}
