"""Measurements of the training dynamics: path-angle, game-Jacobian eigenvalues by Arnoldi iteration,
the rotation index, the article's kernel-induced prediction of the next step, and everything measured
at one checkpoint of the compiled training run."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._checks import check_int
from ..errors import ArgumentError
from ..kernels import kernel_vp
from ..stability.krylov import arnoldi, ritz_values
from .data import uniform_pm1
from .metrics import cosine, histogram_kl, kde, sliced_wasserstein
from .objectives import (Batch, d_objective, draw_batch, dropout_key, field_parts, g_objective, generate,
                         merge_params, net_call)
from .spec import GAN, ProgramKey
from .step import TrainState, d_steps_of

__all__ = ["path_angle", "jacobian_eigenvalues", "rotation_index"]


# ============================================================================ on any field


def path_angle(field: Callable, start, end, n: int = 21):
    """The path-angle of Berard et al. 2020 along the segment from `start` to `end`.

    For `θ_α = start + α (end − start)`, `α ∈ [0, 1]`, the cosine between the game field
    `v(θ_α)` and the segment's direction `end − start`. Near a rest point reached by attraction
    (a gradient field) the field points along the segment (cosine → 1); around a rest point the
    dynamics rotate about (a closed field) it is orthogonal to it (cosine → 0). Berard, Gidel,
    Almahairi, Vincent & Lacoste-Julien 2020, "A Closer Look at the Optimization Landscapes of
    Generative Adversarial Networks", ICLR (their Figure 2 plots exactly this curve, with `end`
    the end of training).

    **Arguments:** `field`: `v(θ)` on a pytree (or flat array) `θ`; `start`, `end`: two points of
    the same structure; `n ≥ 2`: points along the segment.

    **Returns:** `(alphas, cosines)`, two `Float[Array, "n"]` (NaN where `v(θ_α) = 0`).

    **Raises:** `ArgumentError` when `start` and `end` differ in structure or `n < 2`.
    """
    n = check_int("path_angle", "n", n, 2)
    s, unravel = ravel_pytree(start)
    e, _ = ravel_pytree(end)
    if s.shape != e.shape:
        raise ArgumentError(f"path_angle arguments `start` and `end` must have the same structure; got "
                            f"{s.shape} and {e.shape} parameters.")
    delta = e - s
    alphas = jnp.linspace(0.0, 1.0, n, dtype=s.dtype)

    def one(a):
        v, _ = ravel_pytree(field(unravel(s + a * delta)))
        return cosine(v, delta)

    return alphas, jax.jit(jax.vmap(one))(alphas)


def jacobian_eigenvalues(field: Callable, z, *, m: int = 20, top: int | None = None, key=None) -> np.ndarray:
    """Leading eigenvalues of the Jacobian of a field on parameters, by Jacobian-vector products.

    Arnoldi iteration (`jaxgan.stability.krylov.arnoldi`) on `u ↦ ∂v/∂θ · u` (`jax.linearize`
    once, then `m` JVPs), so the `p×p` Jacobian is never formed. With `m ≥ p` the result is every
    eigenvalue.

    **Arguments:** `field`: `v(z)` on a pytree state `z` (the players' parameters; output with the
    same structure); `z`: the point; `m`: Krylov steps (capped at the number of parameters); `top`: how many to return
    (default `m`); `key`: PRNG key for the start vector (default `PRNGKey(0)`).

    **Returns:** `Complex[ndarray, "top"]` (numpy), by decreasing modulus, NaN-padded after a
    breakdown.

    **Raises:** `ArgumentError`/`ArgumentTypeError` for `m` or `top` that are not positive ints.
    """
    flat, unravel = ravel_pytree(z)
    m = min(check_int("jacobian_eigenvalues", "m", m), flat.shape[0])
    top = m if top is None else check_int("jacobian_eigenvalues", "top", top)
    key = jax.random.PRNGKey(0) if key is None else key

    @jax.jit
    def run(flat, key):
        _, lin = jax.linearize(lambda t: ravel_pytree(field(unravel(t)))[0], flat)
        return arnoldi(lin, jax.random.normal(key, flat.shape, flat.dtype), m)

    H, k = run(flat, key)
    return ritz_values(np.asarray(H), int(k), top)


def rotation_index(eigenvalues, axis=-1) -> np.ndarray:
    """`Σ|Im λ| / Σ|Re λ|` over the given eigenvalues (NaNs ignored).

    0 for a purely attracting (or repelling) linearisation, ∞ for a pure rotation, 1 when
    rotation and attraction balance; NaN when there is nothing to measure.

    **Arguments:** `eigenvalues`: complex array; `axis`: the axis to reduce.
    **Returns:** a float array (the input's shape without `axis`).
    """
    ev = np.asarray(eigenvalues)
    with np.errstate(invalid="ignore", divide="ignore"):
        im = np.nansum(np.abs(ev.imag), axis=axis)
        re = np.nansum(np.abs(ev.real), axis=axis)
        out = np.where(re > 0, im / np.where(re > 0, re, 1.0), np.where(im > 0, np.inf, np.nan))
    return out


# ============================================================================ inside the training run


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The static sizes of one training run (part of the compile key)."""

    steps: int
    measure_every: int
    n_eval: int
    krylov: int
    n_proj: int
    kernel_probe: bool


class Grids(NamedTuple):
    """Where the measurements look: the x grid, histogram edges, data cell masses, KDE bandwidth."""

    grid: jax.Array  # (G, d)
    edges: tuple  # per axis
    p_masses: jax.Array
    bandwidth: jax.Array


class EvalInputs(NamedTuple):
    """The fixed inputs of one seed's measurements (the same at every checkpoint)."""

    x: jax.Array  # (n_eval, d) data samples
    z: jax.Array  # (n_eval, latent) generator noise
    batch: Batch  # the fixed batch of the game field
    v0: jax.Array  # (p,) Arnoldi start vector


def eval_inputs(gan: GAN, cfg: RunConfig, key, n_params: int) -> EvalInputs:
    """The fixed measurement inputs of a seed from its measurement key (`cfg`, `n_params` static)."""
    k_eval, k_batch, k_arn = jax.random.split(key, 3)
    big = draw_batch(gan, k_eval, cfg.n_eval)
    batch = draw_batch(gan, k_batch, gan.batch_size)
    return EvalInputs(big.x, big.z, batch, uniform_pm1(k_arn, (n_params,)))


def kernel_prediction(gan: GAN, st: TrainState, grid, u_grid, key):
    """The article's kernel-induced change of D on the grid for the update drawn from `key`.

    `ΔD(x) ∝ a'(u(x)) · Σ_i K_θ(x, y_i) ∂Ĵ/∂u(y_i)` over that update's (first discriminator)
    batch `y = (data, generated)`, with `K_θ` the eval-mode parametric kernel of the
    discriminator's raw output (`jaxgan.kernels.kernel_vp`) and `a` the output map. Shape `(G,)`.
    """
    _, d_apply = gan.d_net
    net = gan.discriminator
    k_first = key if gan.update == "simultaneous" else jax.random.split(key, gan.d_steps + 1)[0]
    batch = draw_batch(gan, k_first, gan.batch_size)
    fake, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))
    fake = jax.lax.stop_gradient(fake)
    u_real, _ = net_call(d_apply, net, st.td, st.sd, batch.x, train=True, key=dropout_key(batch, 1))
    u_fake, _ = net_call(d_apply, net, st.td, st.sd, fake, train=True, key=dropout_key(batch, 2))
    om, game = gan.d_output, gan.game
    w_real, w_fake = jax.grad(lambda a, b: jnp.mean(jax.vmap(game.f1)(om(a))) + jnp.mean(jax.vmap(game.f2)(om(b))),
                              argnums=(0, 1))(u_real, u_fake)
    y = jnp.concatenate([batch.x, fake])
    w = jnp.concatenate([w_real, w_fake])
    ku = kernel_vp(d_apply, merge_params(st.td, st.sd), grid, y, w, train=False)
    return jax.vmap(jax.grad(om))(u_grid) * ku


def g_eval(gan: GAN, tg, sg, z):
    """The generator in eval mode at latent points `z (P, latent)`; shape `(P, d)`."""
    _, g_apply = gan.g_net
    return g_apply(merge_params(tg, sg), z, train=False).reshape(z.shape[0], gan.data.dim)


def g_kernel_prediction(gan: GAN, st: TrainState, z_probe, key):
    """The generator's side of the article's kernel view ("the same holds for the generator"):
    the kernel-induced change of G at the latent points `z_probe` for the update drawn from `key`,

        ΔG(z) ∝ Σ_j K_φ(z, z_j) ∂Î/∂G(z_j),   K_φ(z, z') = Σ_k ∂G(z)/∂φ_k ⊗ ∂G(z')/∂φ_k,

    over that update's generator batch, with `∂Î/∂G(z_j)` the gradient of the generator's
    objective with respect to each generated sample (the discriminator held as that update
    sees it: the old one for simultaneous updates, the one after the `d_steps` discriminator
    updates for alternating ones) and `K_φ` the eval-mode kernel of the generator's trainable
    parameters (matrix-valued for `d`-dimensional data). One vjp and one jvp. Shape `(P, d)`.
    """
    if gan.update == "simultaneous":
        d_state, batch = st, draw_batch(gan, key, gan.batch_size)
    else:  # replay the discriminator updates of this step, as train_step does
        d_state, _, g_key = d_steps_of(gan, st, key)
        batch = draw_batch(gan, g_key, gan.batch_size)
    _, d_apply = gan.d_net
    fake, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))

    def objective(x):  # Î as a function of the generated samples, as in g_objective
        u, _ = net_call(d_apply, gan.discriminator, d_state.td, d_state.sd, x, train=True,
                        key=dropout_key(batch, 2))
        return jnp.mean(jax.vmap(gan.game.f3)(gan.d_output(u)))

    w = jax.grad(objective)(fake)
    _, vjp = jax.vjp(lambda t: g_eval(gan, t, st.sg, batch.z), st.tg)
    (direction,) = vjp(w.astype(fake.dtype))
    return jax.jvp(lambda t: g_eval(gan, t, st.sg, z_probe), (st.tg,), (direction,))[1]


def _ritz_hessenberg(gan: GAN, cfg: RunConfig, st: TrainState, batch: Batch, v0, theta_flat):
    """Arnoldi on the JVP of the game field at `st` (fixed batch): `(H, k)`."""
    _, unravel = ravel_pytree((st.td, st.tg))

    def v_flat(t):
        td, tg = unravel(t)
        return ravel_pytree(field_parts(gan, td, tg, st.sd, st.sg, batch))[0]

    _, lin = jax.linearize(v_flat, theta_flat)
    return arnoldi(lin, v0, min(cfg.krylov, theta_flat.shape[0]))


def measure(gan: GAN, cfg: RunConfig, st: TrainState, grids: Grids, ev: EvalInputs, next_key):
    """All measurements of one checkpoint (one seed).

    **Returns:** `(logs, v, theta, d_grid, pred)`: the dict of this checkpoint's logs, the flat game
    field and parameters (for the step cosine), D on the grid, and (with `kernel_probe`) the
    kernel-induced predictions `(ΔD on the grid, ΔG at the probes, G at the probes)` of the update
    drawn from `next_key` (compared with the actual change one checkpoint later), else None.
    """
    batch = ev.batch
    fake, _ = generate(gan, st.tg, st.sg, ev.z, dropout_key(batch, 0))
    _, d_apply = gan.d_net
    u_grid = d_apply(merge_params(st.td, st.sd), grids.grid, train=False)
    d_grid = gan.d_output(u_grid)
    gd, gg = field_parts(gan, st.td, st.tg, st.sd, st.sg, batch)
    vflat, _ = ravel_pytree((gd, gg))
    theta_flat, _ = ravel_pytree((st.td, st.tg))
    fake_b, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))
    out = {"w1": sliced_wasserstein(ev.x, fake, cfg.n_proj), "kl": histogram_kl(grids.p_masses, fake, grids.edges),
           "g_mean": jnp.mean(fake, axis=0), "g_std": jnp.std(fake, axis=0), "d_grid": d_grid,
           "pg_grid": kde(fake, grids.grid, grids.bandwidth), "field_norm": jnp.linalg.norm(vflat),
           "J": d_objective(gan, st.td, st.sd, fake_b, batch, update_stats=False)[1][0],
           "I": g_objective(gan, st.tg, st.sg, st.td, st.sd, batch, update_stats=False)[0]}
    if cfg.krylov > 0:
        out["hess"], out["krylov_k"] = _ritz_hessenberg(gan, cfg, st, batch, ev.v0, theta_flat)
    pred = None
    if cfg.kernel_probe:
        z_probe = ev.z[:grids.grid.shape[0]]
        pred = (kernel_prediction(gan, st, grids.grid, u_grid, next_key),
                g_kernel_prediction(gan, st, z_probe, next_key), g_eval(gan, st.tg, st.sg, z_probe))
    return out, vflat, theta_flat, d_grid, pred


@functools.partial(jax.jit, static_argnames=("program", "cfg", "n"))
def path_angle_of_seed(program: ProgramKey, cfg: RunConfig, n: int, st: TrainState, k_eval, start_flat, end_flat):
    """`path_angle` of one trained seed from `start_flat` to `end_flat` (flat `(θ_D, θ_G)`), with the
    game field on that seed's fixed measurement batch (drawn from its measurement key `k_eval`)."""
    gan = program.gan
    _, unravel = ravel_pytree((st.td, st.tg))
    batch = eval_inputs(gan, cfg, k_eval, start_flat.shape[0]).batch

    def v(theta):
        td, tg = theta
        return field_parts(gan, td, tg, st.sd, st.sg, batch)

    return path_angle(v, unravel(start_flat), unravel(end_flat), n)
