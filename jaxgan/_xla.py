"""XLA's options for jaxgan's programs that run briefly: the one home of both sets.

A program that runs once, or for a few thousand steps of a small state, spends nearly all of its
time compiling, so its compile options matter more than XLA's optimisations of the code:

- `FAST_COMPILE`: backend optimisation level 0. About half the CPU compile time and three times the
  run time.
- `QUICK_COMPILE`: the same, and XLA:CPU's elemental emitters in place of its fusion emitters: about
  half again of the compile time (their MLIR pipeline costs most of a compile at level 0), the code
  runs a little slower. For `jaxgan.neural`'s training and measurement programs when the run is short
  (`train(..., fast_compile=)`; the BatchNorm program of `jaxgan experiment batchnorm --quick`
  compiles in 4.6 s instead of 8.0 s on 2 cores), and for the convergence table's runs and the rest
  points' Jacobians (`jaxgan.tables`). The numbers are the same to rounding; a training run's last bits
  differ (and grow over its updates). `FAST_COMPILE` keeps a seed's run the same alone or beside others
  where XLA's defaults do, on one device or split over two (`tests/test_neural_seeds.py`); with the
  elemental emitters the run split over two devices differed in one bit of the Adam state (an AVX2
  machine), which is why `train`'s default for short runs is `FAST_COMPILE`.

Other backends ignore the CPU option.
"""

from __future__ import annotations

__all__ = ["FAST_COMPILE", "QUICK_COMPILE"]

FAST_COMPILE = {"xla_backend_optimization_level": 0}
QUICK_COMPILE = {**FAST_COMPILE, "xla_cpu_use_fusion_emitters": False}
