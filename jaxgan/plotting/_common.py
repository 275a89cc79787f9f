"""What every figure shares: a fresh `Axes`, axis labels, colours and the planar-field check."""

from __future__ import annotations

from .._checks import check_instance, where
from ..errors import ArgumentError

__all__ = ["axis_label"]

# Axis labels of the pointwise field's coordinates (the article puts D on x, pg on y).
POINTWISE_LABELS = {"D": "D (discriminator)", "pg": "p_g (generator density)"}

# Trajectories of a phase portrait, in order.
TRAJ_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")

# Configurations of a neural experiment, in order.
CONFIG_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf")


def new_axes(ax=None, figsize=(5.0, 4.0)):
    """`ax`, or the `Axes` of a new figure of size `figsize` (constrained layout)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def image_mosaic(images, rows: int, cols: int, *, background: float):
    """`(n, H, W)` images in [-1, 1] (clipped) as one `(rows·(H+2), cols·(W+2))` picture, row by row, each
    image framed by one pixel of `background` (so that neighbours stand apart); empty places are
    `background` too. Pick `background` to show as white in the colour map drawn with."""
    import numpy as np

    imgs = np.clip(np.asarray(images, np.float64), -1.0, 1.0)[: rows * cols]
    h, w = imgs.shape[1:]
    cells = np.full((rows * cols, h + 2, w + 2), float(background))
    cells[: len(imgs), 1:-1, 1:-1] = imgs
    return cells.reshape(rows, cols, h + 2, w + 2).transpose(0, 2, 1, 3).reshape(rows * (h + 2), cols * (w + 2))


def axis_label(field, i: int) -> str:
    """The axis label of coordinate `i` of `field` ("D (discriminator)", "p_g (generator density)" for
    the pointwise field's coordinates; the field's own label otherwise)."""
    lab = field.labels[i]
    return POINTWISE_LABELS.get(lab, lab)


def check_planar(fn: str, field):
    """`field` if it is a 2-D `Field` (a phase plane).

    **Raises:** `ArgumentTypeError` for a non-`Field`; `ArgumentError` for another dimension.
    """
    from ..fields import Field

    check_instance(fn, "field", field, Field, "a jaxgan Field")
    if field.dim != 2:
        raise ArgumentError(f"{where(fn, 'field')} must be 2-dimensional (a phase plane); got dim {field.dim} "
                            f"({field.name!r}).")
    return field


def is_geometric(values) -> bool:
    """Whether `values` (more than two, all positive) are evenly spaced on a log scale."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return v.size > 2 and bool(np.all(v > 0)) and bool(
        np.allclose(np.diff(np.log(v)), np.log(v[1] / v[0]), rtol=1e-3))
