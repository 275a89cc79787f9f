"""A phase portrait drawn again on the same grid replays the cached streamlines (`jaxgan reproduce` draws
each article field twice). Oracle: matplotlib's own `streamplot` (the first drawing, a cache miss); the
replay must give the same PNG byte for byte, with and without speed colours, and a changed grid must not
be served from the cache."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import jaxgan  # noqa: E402
from jaxgan import plotting  # noqa: E402
from jaxgan.plotting import portraits  # noqa: E402


def _png(field, **kw) -> bytes:
    ax = plotting.phase_portrait(field, trajectories=[], d_range=(0.3, 1.4), pg_range=(0.02, 0.5), grid=24,
                                 density=0.6, **kw)
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=50)
    plt.close(ax.figure)
    return buf.getvalue()


@pytest.mark.parametrize("speed", [True, False])
def test_replayed_streamlines_draw_the_same_png_as_streamplot(speed, monkeypatch):
    field = jaxgan.pointwise_field("quadratic", 0.2)
    portraits._STREAMS.clear()
    calls = []
    real = matplotlib.axes.Axes.streamplot
    monkeypatch.setattr(matplotlib.axes.Axes, "streamplot", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = _png(field, speed=speed, colorbar=speed)
    assert len(calls) == 1 and len(portraits._STREAMS) == 1
    second = _png(field, speed=speed, colorbar=speed)
    assert len(calls) == 1  # replayed, not integrated again
    assert second == first
    _png(jaxgan.pointwise_field("quadratic", 0.25), speed=speed)  # another field: integrated anew
    assert len(calls) == 2
    if speed:  # another colour map: the stored arrow colours do not apply, integrated anew
        _png(field, speed=speed, cmap="Reds")
        assert len(calls) == 3
