"""Text formatting shared by tables, the command line and the article's report (private)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["complex_text", "eigenvalues_text", "number_text", "lr_text"]


def complex_text(value, digits: int = 6, *, spaced: bool = True, signed: bool = False, minus: str = "-") -> str:
    """`a ± bi` with `digits` significant digits; a real number (|b| below 1e-9·max(1, |value|))
    as `a`. `spaced=False` gives `a±bi`; `signed=True` always writes the sign of `a`; `minus`
    is the character between `a` and `b` when b < 0 (e.g. "−" for typeset text). `-0` never shows.
    """
    z = complex(value)
    re, im = z.real + 0.0, z.imag + 0.0
    head = f"{re:+.{digits}g}" if signed else f"{re:.{digits}g}"
    if abs(im) <= 1e-9 * max(1.0, abs(z)):
        return head
    sep = " " if spaced else ""
    return f"{head}{sep}{'+' if im >= 0 else minus}{sep}{abs(im):.{digits}g}i"


def eigenvalues_text(values, digits: int = 6, **kw) -> str:
    """The eigenvalues, comma-separated, each as `complex_text(value, digits, **kw)`."""
    return ", ".join(complex_text(v, digits, **kw) for v in np.ravel(np.asarray(values, dtype=complex)))


def number_text(x: float, digits: int = 6) -> str:
    """A float with `digits` significant digits; ±∞ as the symbol."""
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x + 0.0:.{digits}g}"


def lr_text(x, digits: int = 4, none: str = "0") -> str:
    """A step-size limit: `∞`, `none` for 0 (no stable step), else `digits` significant digits."""
    if x == math.inf or x == "inf":
        return "∞"
    return none if x == 0 else f"{float(x):.{digits}g}"
