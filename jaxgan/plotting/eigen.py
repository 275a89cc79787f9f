"""Eigenvalues in the complex plane: of rest-point Jacobians, and their locus along a parameter."""

from __future__ import annotations

from .._checks import bad_type, where
from ..errors import ArgumentError
from ._common import new_axes

__all__ = ["eigenvalues", "eigenvalue_locus"]


def _eig_pairs(fn: str, obj, labels) -> list:
    """`[(label or None, Field or StabilityReport)]` from one item, a list or a dict of them."""
    from ..fields import Field
    from ..stability import StabilityReport

    if isinstance(obj, dict):
        pairs = list(obj.items())
    elif isinstance(obj, (Field, StabilityReport)):
        pairs = [(None, obj)]
    elif isinstance(obj, (list, tuple)):
        pairs = [(None, o) for o in obj]
    else:
        raise bad_type(fn, "reports_or_fields", "a Field, a StabilityReport, or a list / dict of them", obj)
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(pairs):
            raise ArgumentError(f"{where(fn, 'labels')} must have one label per item ({len(pairs)}); "
                                f"got {len(labels)}.")
        pairs = [(lab, o) for lab, (_, o) in zip(labels, pairs)]
    return pairs


def _eig_items(fn: str, reports_or_fields, labels) -> list:
    """Normalise the inputs of `eigenvalues` to [(label, eigenvalues)]; fields are analysed here."""
    import numpy as np

    from ..fields import Field
    from ..stability import StabilityReport, analyze

    out = []
    for i, (lab, o) in enumerate(_eig_pairs(fn, reports_or_fields, labels)):
        if isinstance(o, Field):
            o = analyze(o)
        if not isinstance(o, StabilityReport):
            raise bad_type(fn, f"reports_or_fields[{i}]", "a Field or a StabilityReport", o)
        out.append((lab if lab is not None else o.field_name, np.asarray(o.eigenvalues, dtype=np.complex128)))
    return out


def _group_equal(items, rtol: float = 1e-5):
    """Merge items with the same eigenvalues (to `rtol`) into one, labels joined by ", "."""
    import numpy as np

    groups: list[list] = []
    for lab, ev in items:
        for g in groups:
            ref = g[1]
            if ref.shape == ev.shape and np.allclose(np.sort_complex(ref), np.sort_complex(ev), rtol=rtol,
                                                     atol=rtol * max(1.0, float(np.abs(ref).max(initial=0)))):
                g[0].append(lab)
                break
        else:
            groups.append([[lab], ev])
    return [(", ".join(str(l) for l in labs if l) or None, ev) for labs, ev in groups]


def _draw_half_planes(ax, items) -> None:
    """Limits around every eigenvalue and 0; the stable half-plane Re λ < 0 shaded, Re λ = 0 drawn."""
    import numpy as np

    allev = np.concatenate([ev for _, ev in items]) if items else np.zeros(0, complex)
    re_lo = min(float(allev.real.min()) if allev.size else -1.0, 0.0)
    re_hi = max(float(allev.real.max()) if allev.size else 1.0, 0.0)
    im = float(np.abs(allev.imag).max()) if allev.size else 1.0
    span = max(re_hi - re_lo, 0.5 * im, 0.2)
    x0, x1 = re_lo - 0.15 * span, re_hi + 0.35 * span
    y = max(im, 0.25 * span) * 1.3
    ax.axvspan(x0, 0.0, color="tab:green", alpha=0.10, lw=0, zorder=0)
    ax.axvline(0.0, color="k", lw=1.1, zorder=1)
    ax.axhline(0.0, color="0.6", lw=0.6, zorder=1)
    ax.text(x0 + 0.03 * (x1 - x0), y * 0.95, "stable: Re λ < 0", color="tab:green", fontsize=8, va="top")
    ax.text(0.02 * (x1 - x0), y * 0.95, "unstable", color="tab:red", fontsize=8, va="top")
    ax.set_xlim(x0, x1)
    ax.set_ylim(-y, y)


def eigenvalues(reports_or_fields, ax=None, labels=None, *, group: bool = True, title: str | None = None):
    """Eigenvalues of Jacobians in the complex plane, with the stability boundary.

    The imaginary axis (Re λ = 0, the boundary of continuous-time stability) is drawn and the stable
    half-plane Re λ < 0 shaded. Items whose eigenvalues coincide (e.g. minimax and non-saturating)
    stay visible: each item has its own hollow marker, drawn smaller than the one before.

    **Arguments:**

    - `reports_or_fields`: a `Field`, a `StabilityReport` (from `jaxgan.analyze`), or a list or dict
      (`label -> item`) of them; fields are analysed at their rest points.
    - `ax`: draw there (default: a new figure); `labels`: legend labels, one per item (default: the
      dict's keys or the fields' names); `group`: merge items with equal eigenvalues (relative
      tolerance 1e-5) into one legend entry ("kl, quadratic, reverse_kl"); `title`: default
      "Jacobian eigenvalues at the rest point".

    **Returns:** the `Axes`.

    **Raises:** `ArgumentTypeError` for other inputs; `ArgumentError` for a wrong number of labels.
    """
    import matplotlib.pyplot as plt

    items = _eig_items("eigenvalues", reports_or_fields, labels)
    if group:
        items = _group_equal(items)
    ax = new_axes(ax, figsize=(6.4, 4.2))
    markers = "oDs^vp<>hP"
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(items)
    for k, (lab, ev) in enumerate(items):
        size = 95 - 55 * (k / max(n - 1, 1))
        ax.scatter(ev.real, ev.imag, s=size, marker=markers[k % len(markers)], facecolors="none",
                   edgecolors=colours[k % len(colours)], linewidths=1.5, zorder=3 + k, label=lab)
    _draw_half_planes(ax, items)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title or "Jacobian eigenvalues at the rest point")
    if any(lab for lab, _ in items):
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7.5, frameon=False)
    return ax


def eigenvalue_locus(field, param: str, values, *, ax=None, cmap: str = "viridis", title: str | None = None):
    """How the rest point's eigenvalues move as one field parameter (e.g. a regulariser weight) varies.

    Each eigenvalue is drawn for every value (`jaxgan.stability.eigenvalues_over`), coloured by
    the value; the imaginary axis (the stability boundary) is a dashed line.

    **Arguments:** `field`: a `Field` with dict params; `param`: one of its parameter names (e.g.
    `"r1_gamma"`); `values`: 1-D values; `ax`, `cmap`, `title` as usual.

    **Returns:** the `Axes`.

    **Raises:** what `jaxgan.stability.eigenvalues_over` raises for a bad field, name or values.
    """
    import numpy as np

    from ..stability import eigenvalues_over

    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    ev = eigenvalues_over(field, param=param, values=vals)  # (P, n)
    ax = new_axes(ax, figsize=(5.2, 4.2))
    pts = ax.scatter(ev.real.ravel(), ev.imag.ravel(), c=np.repeat(vals, ev.shape[1]), cmap=cmap, s=14, zorder=3)
    ax.figure.colorbar(pts, ax=ax, shrink=0.9, label=param)
    ax.axvline(0.0, color="k", lw=0.8, ls="--", zorder=1)
    ax.axhline(0.0, color="0.6", lw=0.6, zorder=1)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title or f"{field.name}: eigenvalues at the rest point")
    return ax
