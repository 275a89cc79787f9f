"""The game field of a real GAN on its parameters, as a jaxgan `Field`.

`parameter_field(gan)` gives the game field `v(θ) = (∇_θD Ĵ, ∇_θG Î)` of a GAN on one fixed
batch (data, noise, dropout masks; running statistics held fixed, the train-mode objectives of
`game_field`) as a `jaxgan.Field` on the flat parameter vector `z = ravel(θ_D, θ_G)`, and the
current point `z`. Every tool of jaxgan then applies to a real network as it does to the 2-D
fields:

```python
import jaxgan
from jaxgan import neural

gan = neural.GAN(discriminator=neural.Net((16,), "tanh"), generator=neural.Net((16,), "tanh"),
                 latent_dim=2, batch_size=64)
field, z = neural.parameter_field(gan, seed=0)          # z: the initial parameters of seed 0
report = jaxgan.analyze(field, z)                        # eigenvalues of the game Jacobian there
rho = jaxgan.step_spectral_radius(field, z, method="euler", lr=1e-2)
traj = jaxgan.simulate(field, z, steps=100, lr=1e-2)     # gradient descent-ascent on one batch
theta_d, theta_g = field.get_meta("unravel")(traj.final) # back to the players' pytrees
```

**Large networks.** Above `jaxgan.stability.krylov.DENSE_LIMIT` parameters (2000) `analyze`,
`step_spectral_radius` and `max_stable_lr` take their eigenvalues matrix-free: `krylov`
Arnoldi steps on Jacobian-vector products of the field (or of one update), never the `P×P`
Jacobian. The spectral radius of a step map is its top eigenvalue by modulus, which Arnoldi
finds first; the continuous-time verdict (the rightmost eigenvalue) rests on the Ritz values,
an estimate whose residuals the report carries (`StabilityReport.residuals`); see
`jaxgan.stability.krylov`.

**The pytree.** The batch and the running statistics are the field's traced parameters
(`field.params`, a `FieldInputs`); the GAN's structure and the parameter layout are static
and compared by value. So a compiled function that takes the field (`simulate`, the Arnoldi
iteration, …) is reused for another batch, another seed or another state of the same GAN: only
a GAN of another structure (or another batch size) compiles again.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._checks import bad_type, check_instance, check_int
from ..errors import ArgumentError
from ..fields import Field
from .objectives import Batch, draw_batch, field_parts
from .spec import GAN, ProgramKey, program_key
from .step import TrainState, init_state, seed_keys, split_seed_key

__all__ = ["parameter_field", "ParameterField", "FieldInputs", "Unravel"]


class FieldInputs(NamedTuple):
    """The traced parameters of a GAN's parameter field: the fixed `batch` and the running
    statistics `sd`, `sg` of the discriminator and the generator (None without BatchNorm)."""

    batch: Batch
    sd: Any
    sg: Any


@dataclasses.dataclass(frozen=True)
class Unravel:
    """The way back from the flat parameter vector to the players' pytrees (hashable, static).

    `unravel(z) -> (θ_D, θ_G)` for `z: Float[Array, "P"]` (the first `n_d` entries are θ_D's);
    the leaves take `z`'s dtype. `ravel(θ_D, θ_G)` goes the other way (as
    `jax.flatten_util.ravel_pytree((θ_D, θ_G))[0]`).
    """

    treedef: Any  # of (θ_D, θ_G)
    shapes: tuple  # leaf shapes, in leaf order
    n_d: int  # entries of θ_D

    @property
    def size(self) -> int:
        """`P`, the number of parameters."""
        return int(sum(math.prod(s) for s in self.shapes))

    def __call__(self, z):
        sizes = [math.prod(s) for s in self.shapes]
        cuts = np.cumsum([0, *sizes])
        leaves = [z[a:b].reshape(s) for a, b, s in zip(cuts[:-1], cuts[1:], self.shapes)]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    @staticmethod
    def ravel(theta_d, theta_g):
        """The flat vector `z` of `(θ_D, θ_G)`."""
        return ravel_pytree((theta_d, theta_g))[0]


@dataclasses.dataclass(frozen=True)
class GameVelocity:
    """The velocity `v(params, z)` of a parameter field: `field_parts` at `unravel(z)`, flattened."""

    program: ProgramKey  # the GAN, compared by structure (its optimisers play no part here)
    unravel: Unravel

    def __call__(self, params: FieldInputs, z):
        # Compiled (and inlined under an outer `jit`): called eagerly, as `analyze` checks the
        # velocity at its point, a network's field would otherwise compile op by op.
        return _velocity(self, params, z)


@functools.partial(jax.jit, static_argnums=0)
def _velocity(velocity: GameVelocity, params: FieldInputs, z):
    td, tg = velocity.unravel(z)
    gd, gg = field_parts(velocity.program.gan, td, tg, params.sd, params.sg, params.batch)
    return ravel_pytree((gd, gg))[0].astype(z.dtype)


class ParameterField(NamedTuple):
    """What `parameter_field` returns: the `field` and the point `z` (`Float[Array, "P"]`, the
    current parameters `ravel(θ_D, θ_G)`). Unpacks as `field, z = parameter_field(gan)`."""

    field: Field
    z: jax.Array


def _labels(treedef_paths, shapes) -> list[str]:
    """One label per parameter: the player, the leaf's path and the entry, e.g. `D.dense.0.w[0,3]`."""
    out = []
    for path, shape in zip(treedef_paths, shapes):
        player = "D" if path[0].idx == 0 else "G"
        keys = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path[1:]]
        stem = ".".join([player, *keys])
        if not shape:
            out.append(stem)
            continue
        for idx in np.ndindex(*shape):
            out.append(f"{stem}[{','.join(map(str, idx))}]")
    return out


@functools.partial(jax.jit, static_argnums=(0, 2))
def _draw_batch(program: ProgramKey, key, n: int) -> Batch:
    """`draw_batch` compiled once per GAN structure and batch size (not op by op)."""
    return draw_batch(program.gan, key, n)


def _batchnorm(gan: GAN) -> bool:
    """Whether either player has BatchNorm (a batch then needs ≥ 2 samples)."""
    return bool(gan.d_player.batchnorm or gan.g_player.batchnorm)


def _check_key(fn: str, key):
    """`key` if it is one PRNG key (typed, or a legacy `uint32[2]`), else an `ArgumentTypeError`."""
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    legacy = isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32
    if not ((typed and key.shape == ()) or (legacy and key.shape == (2,))):
        raise bad_type(fn, "batch_key", "one PRNG key (jax.random.key(s) or jax.random.PRNGKey(s))", key)
    return key


def _check_state(fn: str, gan: GAN, state) -> TrainState:
    """`state` if it has the structure and shapes of `gan`'s `init_state`, else an `ArgumentError`."""
    ref = init_state(gan, jax.random.PRNGKey(0))
    want = jax.tree_util.tree_map(lambda a: np.shape(a), (ref.td, ref.tg, ref.sd, ref.sg))
    parts = tuple(getattr(state, k, None) for k in ("td", "tg", "sd", "sg"))
    if not all(hasattr(state, k) for k in ("td", "tg", "sd", "sg")):
        raise ArgumentError(f"{fn} argument `state` must be a jaxgan.neural.TrainState of this GAN (from "
                            f"init_state(gan, key) or a trained run); got {type(state).__name__}.")
    try:
        got = jax.tree_util.tree_map(lambda a: np.shape(a), parts)
        same = jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want) and got == want
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ArgumentError(f"{fn} argument `state` must have the parameters of this GAN ({gan.label()}): "
                            f"the structure and shapes of init_state(gan, key) (one seed, not stacked); "
                            f"its (θ_D, θ_G, stats) do not match.")
    return state


def parameter_field(gan: GAN, state=None, *, seed: int = 0, batch_key=None, batch_size: int | None = None
                    ) -> ParameterField:
    """The game field of `gan` on its parameters, on one fixed batch, as a jaxgan `Field`.

    The field is `z ↦ ravel(∇_θD Ĵ, ∇_θG Î)` at `(θ_D, θ_G) = unravel(z)`: the directions in which
    each player ascends its own objective (`game_field`, train mode, running statistics held
    fixed), on the flat parameter vector `z = ravel(θ_D, θ_G)` of length `P`. Euler steps of it
    with step `lr` are simultaneous gradient descent-ascent with learning rate `lr` on that batch.

    - domain: unbounded; no rest point (pass the point: `analyze(field, z)`);
    - `players`: (the indices of θ_D, those of θ_G), so `method="alternating"` updates D, then G;
    - `labels`: one per parameter, `"D.<leaf path>[i,j]"` / `"G.…"` (e.g. `D.dense.0.w[0,3]`);
    - `meta`: `"kind"`: `"parameters"`; `"gan_label"`: `gan.label()`; `"unravel"`: an `Unravel`,
      `field.get_meta("unravel")(z) -> (θ_D, θ_G)`;
    - `params`: a `FieldInputs` (batch, statistics): traced, so another batch or state of the
      same GAN reuses compiled code.

    **Arguments:**

    - `gan`: a `jaxgan.neural.GAN`.
    - `state`: a `TrainState` of this GAN (one seed: from `init_state`, or a slice of a
      `TrainResult.final`); default: the initial state of seed `seed`, as `train` initialises it.
    - `seed`: an int in `[0, 2³²)`: the initial state when `state` is None, and the default batch.
    - `batch_key`: PRNG key of the fixed batch (data, noise, GP weights, dropout masks); default:
      the fixed measurement batch `train` draws for seed `seed` (the batch of its `eigs` log).
    - `batch_size`: samples in the batch (default `gan.batch_size`; ≥ 2 with BatchNorm).

    **Returns:** a `ParameterField` `(field, z)`, `z: Float[Array, "P"]` the state's parameters.

    **Raises:** `ArgumentTypeError` for a `gan` that is not a `GAN`, a `seed` or `batch_size`
    that is not an int, a `batch_key` that is not one PRNG key; `ArgumentError` for a `seed` outside `[0, 2³²)`, a `batch_size` < 1 (< 2
    with BatchNorm), or a `state` whose structure or shapes are not this GAN's.
    """
    fn = "parameter_field"
    check_instance(fn, "gan", gan, GAN, "a jaxgan.neural.GAN")
    seed = check_int(fn, "seed", seed, 0, 2**32 - 1)
    bmin = 2 if _batchnorm(gan) else 1
    n = gan.batch_size if batch_size is None else check_int(fn, "batch_size", batch_size, bmin)
    k_init, _, k_eval = split_seed_key(seed_keys(np.array([seed]))[0])
    state = init_state(gan, k_init) if state is None else _check_state(fn, gan, state)
    key = jax.random.split(k_eval, 3)[1] if batch_key is None else _check_key(fn, batch_key)
    batch = _draw_batch(program_key(gan), key, n)
    theta = (state.td, state.tg)
    z, _ = ravel_pytree(theta)
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(theta)
    shapes = tuple(tuple(np.shape(leaf)) for _, leaf in with_paths)
    n_d = ravel_pytree(state.td)[0].shape[0]
    unravel = Unravel(treedef, shapes, n_d)
    field = Field(GameVelocity(program_key(gan), unravel), FieldInputs(batch, state.sd, state.sg),
                  name=f"parameter field ({gan.label()})", labels=_labels([p for p, _ in with_paths], shapes),
                  players=(range(n_d), range(n_d, z.shape[0])),
                  meta={"kind": "parameters", "gan_label": gan.label(), "unravel": unravel})
    return ParameterField(field, jnp.asarray(z))
