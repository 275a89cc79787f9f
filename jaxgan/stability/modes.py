"""The linearisation of a kernel field mode by mode: eigenvalues on the mass-preserving subspace,
counted as damped, neutral or growing to the resolution the field's dtype allows.

A kernel field (`jaxgan.fields.kernel_field`, `jaxgan.kernels.discriminator_field`) with the
Lagrange constant conserves the generator's mass `Σ_i w_i pg_i`, so its Jacobian has one
structural zero eigenvalue; `field_eigenvalues` removes it. Any other field gets the plain
eigenvalues of its Jacobian (the same as `jaxgan.analyze`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_instance
from ..fields import Field
from .continuous import check_dense_size, check_linearisation, point_or_rest
from .jacobians import field_jacobian

__all__ = ["FieldModes", "field_modes", "field_eigenvalues"]


class FieldModes(NamedTuple):
    """The linearisation of a kernel field at its rest point, mode by mode.

    - `eigenvalues`: `Complex[ndarray, "m"]` (see `field_eigenvalues`).
    - `resolution`: `√eps·max|λ|` (eps of the field's dtype). Real parts within it are not
      resolved: near-null directions of `K_D` give nearly defective pairs `λ ≈ -c·a ± 2i√(a·…)`
      for kernel eigenvalues `a → 0`, and a round-off `δ` in `K` or `J` moves such pairs by `√δ`.
    - `damped`, `neutral`, `growing`: how many eigenvalues have `Re λ` below `-resolution`, within
      it, above it. Neutral modes rotate without (resolved) damping: the directions the network
      cannot represent walk in circles, as the article describes.
    """

    eigenvalues: np.ndarray
    resolution: float
    damped: int
    neutral: int
    growing: int

    @property
    def slowest_damping(self) -> float:
        """`min(-Re λ)` over the damped modes (the slowest resolved decay rate); NaN if none is damped."""
        re = self.eigenvalues.real
        damped = re[re < -self.resolution]
        return float(-damped.max()) if damped.size else math.nan


def field_modes(field: Field, z=None) -> FieldModes:
    """Eigenvalues of a kernel field at its rest point (or at `z`), counted as damped / neutral / growing.

    **Arguments:** `field`: a `Field` (normally a kernel field); `z`: the point, shape `(n,)`;
    default: the field's rest point.

    **Returns:** a `FieldModes`; see there for the resolution `√eps·max|λ|`.

    **Raises:** as `field_eigenvalues`.
    """
    ev = field_eigenvalues(field, z)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(field.params)) if field.params else jnp.result_type(float)
    tol = math.sqrt(float(jnp.finfo(dtype).eps)) * float(np.max(np.abs(ev)) if ev.size else 0.0)
    re = ev.real
    return FieldModes(ev, tol, int(np.sum(re < -tol)), int(np.sum(np.abs(re) <= tol)), int(np.sum(re > tol)))


def _mass_preserving_basis(w: np.ndarray) -> np.ndarray:
    """`Q (2n, 2n-1)`: an orthonormal basis of `{v : Σ_i w_i v_pg,i = 0}` on states `(D, pg)`."""
    n = w.shape[0]
    c = np.zeros(2 * n)
    c[n:] = w
    c /= np.linalg.norm(c)
    return np.linalg.svd(c[None, :])[2][1:].T


def field_eigenvalues(field: Field, z=None) -> np.ndarray:
    """Eigenvalues of a kernel field's Jacobian at its rest point (or at `z`), sorted by real part.

    For `constant="lagrange"` kernel fields the Jacobian maps every vector into the
    mass-preserving subspace `{v : Σ_i w_i v_pg,i = 0}`, so its spectrum is that of the
    restriction `Qᵀ J Q` (`Q` an orthonormal basis of the subspace) plus one structural zero;
    the restriction's `2n - 1` eigenvalues are returned. For other fields: all eigenvalues, as
    `jaxgan.analyze` gives them.

    **Arguments:** `field`: a `Field`; `z`: the point, shape `(n,)`; default: the rest point.

    **Returns:** `Complex[ndarray, "m"]`, sorted by real part, then imaginary part.

    **Raises:** `ArgumentTypeError` when `field` is not a `Field`; `ArgumentError` when it has
    no rest point and no `z` is given, `z` has the wrong shape, the dense Jacobian would not fit
    in memory, or the field or its Jacobian is not finite at the point (said where and why).

    **Warns:** `OutsideDomainWarning` for a finite point outside the domain.
    """
    fn = "field_eigenvalues"
    check_instance(fn, "field", field, Field, "a jaxgan Field")
    z = point_or_rest(field, z, fn)
    check_dense_size(fn, field)
    jac = np.asarray(field_jacobian(field, z), dtype=np.float64)  # = jaxgan.analyze(field, z).jacobian
    check_linearisation(fn, field, z, jac)  # a NaN here was numpy's LinAlgError
    if field.get_meta("kind") == "kernel" and field.get_meta("constant") == "lagrange":
        q = _mass_preserving_basis(np.asarray(field.params["w"], dtype=np.float64))
        jac = q.T @ jac @ q
    ev = np.linalg.eigvals(jac)
    return ev[np.lexsort((ev.imag, ev.real))]
