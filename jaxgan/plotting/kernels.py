"""Figures of parametric kernels: the matrix, its spectrum and eigenfunctions, and the kernel field's
eigenvalues."""

from __future__ import annotations

from .._checks import where
from ..errors import ArgumentError
from ._common import new_axes, symlog_decades

__all__ = ["kernel_heatmap", "kernel_spectrum", "kernel_eigenfunctions", "kernel_field_eigenvalues"]


def kernel_heatmap(K, x=None, *, ax=None, title: str | None = None, cmap: str = "viridis"):
    """The kernel matrix `K[i, j] = K_θ(x_i, x_j)` as an image.

    **Arguments:** `K`: `(n, n)` (e.g. from `jaxgan.kernels.parametric_kernel`); `x`: the 1-D
    grid of the points (shape `(n,)`, sorted) to label the axes with, or `None` for indices;
    `ax`, `title`, `cmap` as usual.

    **Returns:** the `Axes` (with a colour bar).
    """
    import numpy as np

    k = np.asarray(K, dtype=np.float64)
    ax = new_axes(ax, figsize=(4.8, 4.0))
    if x is not None:
        xs = np.asarray(x, dtype=np.float64).reshape(-1)
        extent = (xs[0], xs[-1], xs[-1], xs[0])
        label = "x"
    else:
        extent, label = None, "index"
    im = ax.imshow(k, cmap=cmap, extent=extent, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, shrink=0.85, label="K(x, y)")
    ax.set_xlabel(label.replace("x", "y") if x is not None else "j")
    ax.set_ylabel(label if x is not None else "i")
    ax.set_title(title or "parametric kernel K(x, y)")
    return ax


def _as_spectrum(s):
    from .. import kernels

    return s if isinstance(s, (kernels.KernelSpectrum, kernels.TopSpectrum)) else kernels.spectrum(s)


def kernel_spectrum(spectra, *, ax=None, labels=None, show_floor: bool = True, title: str | None = None):
    """Eigenvalues of kernel integral operators, descending, on a log scale.

    **Arguments:** `spectra`: a `KernelSpectrum`, a `TopSpectrum` (the top k only, from
    `jaxgan.kernels.top_spectrum`: its legend gives k and the largest residual instead of the
    effective rank), a kernel matrix, or a dict `label -> any of these`; `show_floor`: dashed lines
    at each spectrum's round-off floor (`noise_floor`): eigenvalues below it are not resolved in the
    kernel's dtype.

    **Returns:** the `Axes`. Only positive eigenvalues can be drawn on a log scale; the legend
    says how many of each spectrum are ≤ 0.
    """
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    from .. import kernels

    items = spectra if isinstance(spectra, dict) else {labels or "": spectra}
    ax = new_axes(ax)
    for lab, s in items.items():
        s = _as_spectrum(s)
        lam = np.asarray(s.eigenvalues)
        pos = lam > 0
        k = np.arange(1, lam.size + 1)
        text = f"{lab} " if lab else ""
        if isinstance(s, kernels.TopSpectrum):
            text += f"(top {lam.size}, residual ≤ {float(np.max(s.residuals)):.1g}"
        else:
            text += f"(erank {s.effective_rank:.1f}"
        text += f", {int((~pos).sum())} ≤ 0)" if (~pos).any() else ")"
        line, = ax.semilogy(k[pos], lam[pos], ".-", ms=3, lw=1, label=text)
        if show_floor and s.noise_floor > 0:
            ax.axhline(s.noise_floor, color=line.get_color(), ls=":", lw=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index k")
    ax.set_ylabel("eigenvalue λ_k")
    ax.set_title(title or "kernel spectrum (dotted: round-off floor)")
    ax.legend(fontsize=7)
    return ax


def kernel_eigenfunctions(spec, x, *, k: int = 4, ax=None, title: str | None = None):
    """The leading `k` eigenfunctions `φ_1..φ_k` of a kernel's integral operator on a 1-D grid.

    **Arguments:** `spec`: a `KernelSpectrum`, a `TopSpectrum` or a kernel matrix; `x`: the grid
    `(n,)`; `k`: how many (at most the eigenfunctions there are).
    Eigenfunctions are orthonormal in `L²(w)`; their signs are fixed so that `Σ φ_k > 0`.

    **Returns:** the `Axes`.

    **Raises:** `ArgumentError` when `x` has another number of points than the kernel.
    """
    import numpy as np

    s = _as_spectrum(spec)
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    if xs.size != s.eigenfunctions.shape[0]:
        raise ArgumentError(f"{where('kernel_eigenfunctions', 'x')} must have {s.eigenfunctions.shape[0]} points; "
                            f"got {xs.size}.")
    ax = new_axes(ax)
    lam0 = s.eigenvalues[0]
    for i in range(min(k, s.eigenfunctions.shape[1])):
        phi = s.eigenfunctions[:, i]
        phi = phi if phi.sum() >= 0 else -phi
        ax.plot(xs, phi, lw=1.3, label=f"φ_{i + 1}  (λ/λ₁ = {s.eigenvalues[i] / lam0:.2g})")
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("φ_k(x)")
    ax.set_title(title or "leading eigenfunctions of the kernel")
    ax.legend(fontsize=7)
    return ax


def _symlog_real_axis(ax, tol: float) -> None:
    """A symmetric-log x-axis, linear inside `±tol`, with non-overlapping decade ticks (none inside the
    band but 0), and the band shaded grey."""
    ax.set_xscale("symlog", linthresh=tol)
    symlog_decades(ax, "x", tol)
    ax.axvspan(-tol, tol, color="0.85", zorder=0, lw=0)


def kernel_field_eigenvalues(fields, *, ax=None, title: str | None = None):
    """Eigenvalues of kernel-induced fields' Jacobians at their rest points, in the complex plane.

    **Arguments:** `fields`: a `Field` or a dict `label -> Field` (from `jaxgan.kernel_field` /
    `jaxgan.kernels.discriminator_field`); the eigenvalues and their resolution come from
    `jaxgan.kernels.field_modes` (the mass-preserving subspace for Lagrange fields).

    The real axis is symmetric-logarithmic, linear inside the largest resolution `√eps·max|λ|`
    (grey band): real parts there are round-off, those modes are neutral (rotation without
    resolved damping). The legend counts damped / neutral / growing modes.

    **Returns:** the `Axes`.
    """
    from .. import kernels

    items = fields if isinstance(fields, dict) else {fields.name: fields}
    ax = new_axes(ax, figsize=(5.8, 4.2))
    markers = "o^sDvP*X"
    modes = {lab: kernels.field_modes(f) for lab, f in items.items()}
    tol = max(m.resolution for m in modes.values()) or 1e-12
    for i, (lab, m) in enumerate(modes.items()):
        ev = m.eigenvalues
        ax.scatter(ev.real, ev.imag, s=16, marker=markers[i % len(markers)], alpha=0.65,
                   label=f"{lab}: {m.damped} damped / {m.neutral} neutral / {m.growing} growing")
    _symlog_real_axis(ax, tol)
    ax.axvline(0, color="k", lw=0.6)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel(f"Re λ (symlog; grey: |Re λ| ≤ {tol:.1g}, unresolved)")
    ax.set_ylabel("Im λ")
    ax.set_title(title or "Jacobian eigenvalues of the kernel field at its rest point")
    ax.legend(fontsize=7, loc="upper left")
    return ax
