"""Small real datasets, as NumPy arrays: the 8×8 handwritten digits that scikit-learn ships.

`load_digits` returns the 1 797 grey-level images of `sklearn.datasets.load_digits` (UCI
"Optical Recognition of Handwritten Digits", 8×8 pixels with integer values 0–16; no download)
scaled linearly to a chosen range — `[-1, 1]` by default, the range of a `tanh` generator's
output, so the same arrays serve as the real data of a GAN and as inputs of a discriminator
whose kernel is studied. Layouts: `"nhwc"` `(n, 8, 8, 1)` for convolutions (flax's default
layout), `"nhw"` `(n, 8, 8)`, `"flat"` `(n, 64)` for dense networks.

scikit-learn is an optional extra (`pip install -e ".[digits]"`), imported only when the data
are loaded.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ._checks import bad_type, check_choice, check_values
from .errors import ArgumentError, MissingExtraError

__all__ = ["Digits", "load_digits", "LAYOUTS", "DIGITS_EXTRA"]

LAYOUTS = ("nhwc", "nhw", "flat")
DIGITS_EXTRA = 'pip install -e ".[digits]"'
_MAX_PIXEL = 16.0  # the digits' grey levels are the integers 0..16


class Digits(NamedTuple):
    """The digit images and their labels (host NumPy arrays).

    - `images`: `Float[ndarray, "n 8 8 1"]` (`"nhwc"`), `"n 8 8"` (`"nhw"`) or `"n 64"` (`"flat"`),
      grey level 0 mapped to `value_range[0]` and 16 (full ink) to `value_range[1]`.
    - `labels`: `Int[ndarray, "n"]` (int32), the digit 0–9 each image shows.
    """

    images: np.ndarray
    labels: np.ndarray


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise MissingExtraError(f"jaxgan.datasets.load_digits needs scikit-learn: {DIGITS_EXTRA}") from None
    bunch = sk_load_digits()
    images, labels = np.asarray(bunch.images, np.float64), np.asarray(bunch.target, np.int32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(*, layout: str = "nhwc", value_range=(-1.0, 1.0), dtype="float32", classes=None) -> Digits:
    """The 1 797 8×8 digit images of scikit-learn, scaled to `value_range`, with their labels.

    **Arguments:**

    - `layout`: `"nhwc"` (default) → images `(n, 8, 8, 1)`, one channel last (convolutions);
      `"nhw"` → `(n, 8, 8)`; `"flat"` → `(n, 64)`, row-major pixels (dense networks).
    - `value_range`: `(lo, hi)`, finite, `lo < hi`: grey level 0 (no ink) becomes `lo`, 16 (full
      ink) becomes `hi`, linearly. Default `(-1, 1)`.
    - `dtype`: a NumPy floating dtype (default float32).
    - `classes`: `None` (all ten digits) or a sequence of digits 0–9 to keep (in the original
      order of the images).

    **Returns:** a `Digits(images, labels)` of NumPy arrays (fresh copies: writable); without
    `classes`, `n = 1797`.

    **Raises:** `ArgumentError` for an unknown `layout`, `value_range` not two finite increasing
    numbers, a non-floating `dtype`, `classes` outside 0–9 or empty; `jaxgan.errors.MissingExtraError`
    (an `ImportError`) naming `pip install -e ".[digits]"` when scikit-learn is missing.

    **Example:**

    ```python
    images, labels = jaxgan.datasets.load_digits()                  # (1797, 8, 8, 1) in [-1, 1], (1797,)
    flat = jaxgan.datasets.load_digits(layout="flat", value_range=(0, 1), classes=(0, 1)).images
    ```
    """
    who = "load_digits"
    check_choice(who, "layout", layout, LAYOUTS)
    lo, hi = (float(v) for v in check_values(who, "value_range", value_range, size=2, what="(lo, hi)",
                                             dtype=np.float64))
    if not lo < hi:
        raise ArgumentError(f"{who} argument `value_range` must be (lo, hi) with lo < hi; got {tuple(value_range)!r}.")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise bad_type(who, "dtype", "a NumPy floating dtype", dtype) from None
    if not np.issubdtype(dt, np.floating):
        raise ArgumentError(f"{who} argument `dtype` must be a floating dtype; got {dt}.")
    keep = None
    if classes is not None:
        wanted = check_values(who, "classes", classes, what="digits 0-9", dtype=np.float64)
        if not np.all((wanted == np.round(wanted)) & (wanted >= 0) & (wanted <= 9)):
            raise ArgumentError(f"{who} argument `classes` must hold digits 0-9; got {list(classes)!r}.")
        keep = wanted.astype(np.int32)
    images, labels = _raw()
    if keep is not None:
        mask = np.isin(labels, keep)
        images, labels = images[mask], labels[mask]
    scaled = (lo + (hi - lo) * (images / _MAX_PIXEL)).astype(dt)
    shape = {"nhwc": (-1, 8, 8, 1), "nhw": (-1, 8, 8), "flat": (-1, 64)}[layout]
    return Digits(scaled.reshape(shape), labels.copy())
