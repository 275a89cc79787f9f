"""Figures. matplotlib is imported inside each function; functions return `Axes`/`Figure`
and never compute dynamics themselves (they call the library for that).

Conventions: D on the x-axis, pg on the y-axis (as in the article); a rest point is a
black star; every function takes an optional `ax=` and returns the `Axes` it drew on.
"""

from __future__ import annotations

__all__: list[str] = []


def _axes(ax=None, figsize=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


# ============================================================================ core figures
# (phase portrait, eigenvalues)


# ============================================================================ sweep figures


# ============================================================================ kernel figures


# ============================================================================ regulariser / stability-region figures


# ============================================================================ neural figures
