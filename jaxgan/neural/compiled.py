"""One home for the neural programs compiled ahead of time: cached per static arguments and shapes.

`train`, the end-point measurements and the path-angle lower their jitted function themselves and
compile it (with XLA options where a short run makes compile time all of the cost), so that compile
time can be reported apart and a program is compiled once per GAN structure, sizes and argument
shapes. `ProgramCache` is that cache.
"""

from __future__ import annotations

import threading

import jax

from .._xla import FAST_COMPILE, QUICK_COMPILE  # for short runs (see jaxgan/_xla.py)

__all__ = ["FAST_COMPILE", "ProgramCache"]


_OPTIONS = {False: None, True: FAST_COMPILE, "quick": QUICK_COMPILE}
_TRACING = threading.Lock()  # one trace at a time (traces hold the GIL); compiles run side by side


class ProgramCache:
    """The compiled programs of one jitted function, keyed by its static arguments, the shapes,
    dtypes and shardings of the others, x64 and the compiler options (at most `limit`, then cleared).

    `cache(statics, args, fast=False)` returns the compiled program; call it with `*args`. `fast`:
    `False` (XLA's defaults), `True` (`FAST_COMPILE`) or `"quick"` (`QUICK_COMPILE`)."""

    def __init__(self, jitted, *, limit: int = 64):
        self._jitted, self._limit, self._programs, self._lock = jitted, limit, {}, threading.Lock()

    def __len__(self) -> int:
        return len(self._programs)

    def __call__(self, statics: tuple, args: tuple, *, fast: bool | str = False):
        return self.lower(statics, args, fast=fast)()

    def lower(self, statics: tuple, args: tuple, *, fast: bool | str = False):
        """`cache(...)` in two halves: lowers now (unless the program is cached) and returns a function
        of no arguments that compiles (once) and returns the program. Lowering holds the GIL and
        compiling does not: a caller can lower its next program while this one compiles elsewhere."""
        sig = tuple((tuple(a.shape), str(a.dtype), str(getattr(a, "sharding", "")))
                    for a in jax.tree_util.tree_leaves(args))
        key = (statics, sig, bool(jax.config.jax_enable_x64), fast)
        with self._lock:
            hit = self._programs.get(key)
        if hit is not None:
            return lambda: hit
        with _TRACING:
            lowered = self._jitted.lower(*statics, *args)

        def compile_program():
            program = lowered.compile(_OPTIONS[fast])
            with self._lock:
                if len(self._programs) >= self._limit:
                    self._programs.clear()
                return self._programs.setdefault(key, program)

        return compile_program
