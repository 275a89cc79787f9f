"""The exceptions jaxgan raises on purpose.

Every error jaxgan raises because of what it was given derives from `JaxganError`, and also
from the built-in it refines, so code written against the built-ins (`except ValueError`)
keeps working:

- `ArgumentError` (a `ValueError`): an argument of the right kind with a wrong value — a
  negative step size, an unknown game name, an inverted range.
- `ArgumentTypeError` (a `TypeError`): an argument of the wrong kind — a string where a
  `Field` is expected, a float where a count is expected.
- `StoreError` (a `ValueError`): a saved result or a sweep folder that cannot be used — a
  folder of another sweep, a corrupt or foreign file.
- `MissingExtraError` (an `ImportError`): an optional package a feature needs is not installed;
  the message is one line naming the extra to install (`pip install -e ".[xarray]"`).

One warning: `ConvergenceWarning` (a `UserWarning`), an iterative method that stopped at its
limit before reaching its tolerance; it carries the residuals (`.residuals`) and the result is
returned anyway.

Anything else that escapes jaxgan (a plain `ValueError` from inside JAX, an `AssertionError`)
is a bug or an environment problem, not bad input: the command line keeps its traceback.
"""

from __future__ import annotations

__all__ = ["JaxganError", "ArgumentError", "ArgumentTypeError", "StoreError", "MissingExtraError", "ConvergenceWarning"]


class JaxganError(Exception):
    """Base class of every error jaxgan raises about its input."""


class ArgumentError(JaxganError, ValueError):
    """An argument has an acceptable type but a value jaxgan cannot use."""


class ArgumentTypeError(JaxganError, TypeError):
    """An argument has a type jaxgan cannot use."""


class StoreError(JaxganError, ValueError):
    """A saved result or a sweep folder that cannot be read, resumed or written."""


class MissingExtraError(JaxganError, ImportError):
    """An optional package is missing; the message names the extra that installs it."""


class ConvergenceWarning(UserWarning):
    """An iterative method stopped at its limit before reaching its tolerance; `residuals` holds
    what it reached (e.g. `jaxgan.kernels.top_spectrum`)."""

    def __init__(self, message: str, residuals=None):
        super().__init__(message)
        self.residuals = residuals
