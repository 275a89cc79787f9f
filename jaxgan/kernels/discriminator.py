"""`discriminator_field`: the kernel-induced GAN field of a given discriminator network."""

from __future__ import annotations

import numpy as np

from .._checks import check_bool
from ..errors import ArgumentError
from ..fields import Field, kernel_field
from .parametric import parametric_kernel
from .plan import check_algorithm
from .spectrum import spectrum

__all__ = ["discriminator_field"]


def discriminator_field(game, apply_fn, params, x, pd, weights, *, train: bool | None = None, K_G=None,
                        constant: str = "lagrange", normalize: bool = True, algorithm: str = "auto",
                        name: str | None = None, **kernel_kwargs) -> Field:
    """The kernel field of a discriminator network on points `x` (see `jaxgan.fields.kernel_field`).

    `K_D = parametric_kernel(apply_fn, params, x, train=train, algorithm=algorithm, **kernel_kwargs)`;
    with `normalize=True` it is divided by the largest eigenvalue of its integral operator
    (`spectrum(K_D, weights)`), so that `K_D W` has spectral radius 1 — a choice of time unit
    (the learning rate) that makes networks of different width and activation comparable.

    **Arguments:**

    - `game`: a `Game` or preset name.
    - `apply_fn`, `params`, `train`, `algorithm`, `**kernel_kwargs`: the discriminator (any network
      `parametric_kernel` accepts: a flax or equinox model with `params=None` or its variables)
      and how its kernel is computed, as in `parametric_kernel`.
    - `x`: `Float[Array, "n ..."]`, the points.
    - `pd`: `Float[Array, "n"]`, the data density at the points; `weights`: `Float[Array, "n"]`,
      the quadrature weights.
    - `K_G`, `constant`, `name`: as in `kernel_field`.
    - `normalize`: divide `K_D` by the largest eigenvalue of `K_D W`.

    **Returns:** the `Field` of `kernel_field(game, pd, weights, K_D, K_G, constant=constant)`.

    **Raises:** as `parametric_kernel`, `spectrum` and `kernel_field`; `ArgumentError` when
    `normalize` is asked of a kernel that is zero.
    """
    who = "discriminator_field"
    algorithm = check_algorithm(algorithm, who)
    normalize = check_bool(who, "normalize", normalize)
    k = parametric_kernel(apply_fn, params, x, train=train, algorithm=algorithm, **kernel_kwargs)
    if normalize:
        lam = spectrum(k, weights).eigenvalues[0]
        if not lam > 0:
            raise ArgumentError(f"{who}: the kernel of `apply_fn` at `params` is zero; nothing to normalise "
                                f"(pass normalize=False).")
        k = np.asarray(k) / lam
    return kernel_field(game, pd, weights, k, K_G, constant=constant, name=name)
