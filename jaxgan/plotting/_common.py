"""What every figure shares: a fresh `Axes`, axis labels, colours and the planar-field check."""

from __future__ import annotations

from .._checks import check_instance, check_int, where
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


def image_mosaic(images, rows: int, cols: int, *, background: float = -1.0):
    """Small images as one picture for `imshow`: row by row, each framed by one pixel of `background`.

    **Arguments:**

    - `images`: `Float[ArrayLike, "n H W"]` or `"n H W 1"` (one channel, as `jaxgan.neural.digits()`
      gives them), values in [-1, 1] (clipped); the first `rows·cols` are drawn.
    - `rows`, `cols`: the grid (positive ints); places without an image are `background`.
    - `background`: the frames' and empty places' value (default -1: white in `cmap="gray_r"` with
      `vmin=-1, vmax=1`, which draws the digits dark on white).

    **Returns:** `Float[ndarray, "rows·(H+2) cols·(W+2)"]`.

    **Raises:** `ArgumentError` for images of another shape or a grid that is not positive ints.

    Example: `plt.imshow(image_mosaic(digits.array[:64], 8, 8), cmap="gray_r", vmin=-1, vmax=1)`.
    """
    import numpy as np

    fn = "image_mosaic"
    rows, cols = check_int(fn, "rows", rows), check_int(fn, "cols", cols)
    try:
        imgs = np.asarray(images, np.float64)
    except (TypeError, ValueError):  # ragged lists, text
        raise ArgumentError(f"{where(fn, 'images')} must be an array of images, (n, H, W) or (n, H, W, 1); "
                            f"got {type(images).__name__} {str(images)[:40]!r}.") from None
    if imgs.ndim == 4 and imgs.shape[-1] == 1:
        imgs = imgs[..., 0]
    if imgs.ndim != 3 or 0 in imgs.shape:
        raise ArgumentError(f"{where(fn, 'images')} must be images of shape (n, H, W) or (n, H, W, 1); "
                            f"got shape {imgs.shape}.")
    imgs = np.clip(imgs, -1.0, 1.0)[: rows * cols]
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


def symlog_decades(ax, which: str, linthresh: float, *, clear: float = 30.0) -> None:
    """Decade ticks of a symmetric-log axis of `ax` (`which`: "x" or "y", its scale already set and
    its data drawn) whose labels do not overlap: every decade, or every other, third, ... as many
    as the axis's length holds (a label such as "−10⁻⁴" takes about half an inch across, a fifth of
    one in height), and none but 0 within `clear · linthresh` of 0 (the linear band's labels would
    run into 0's). The axis keeps its current limits."""
    import math

    from matplotlib.ticker import FixedLocator, SymmetricalLogLocator

    get_lim, set_lim = (ax.get_xlim, ax.set_xlim) if which == "x" else (ax.get_ylim, ax.set_ylim)
    limits = get_lim()
    lo, hi = sorted(limits)
    neg = math.log10(-lo / linthresh) if lo < -linthresh else 0.0  # decades shown on each side of 0
    pos = math.log10(hi / linthresh) if hi > linthresh else 0.0
    if lo > linthresh:
        pos -= math.log10(lo / linthresh)
    if hi < -linthresh:
        neg -= math.log10(-hi / linthresh)
    box = ax.get_position()
    width, height = ax.figure.get_size_inches()
    room = max(3, int(box.width * width / 0.55) if which == "x" else int(box.height * height / 0.3))
    step = max(1, math.ceil((neg + pos) / room))
    loc = SymmetricalLogLocator(base=10.0 ** step, linthresh=linthresh)
    ticks = [t for t in loc.tick_values(lo, hi) if t == 0 or abs(t) >= clear * linthresh]
    (ax.xaxis if which == "x" else ax.yaxis).set_major_locator(FixedLocator(ticks))
    set_lim(*limits)
