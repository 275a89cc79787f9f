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
from ..stability.krylov import arnoldi, jvp_arnoldi, ritz_values
from .compiled import ProgramCache
from .data import uniform_pm1
from .metrics import cosine, histogram_kl, kde, sliced_wasserstein
from .objectives import Batch, d_call, d_objective, draw_batch, dropout_key, field_parts, g_objective, generate
from .players import NetPlayer, built, merge_params
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
    s, _ = ravel_pytree(start)
    e, _ = ravel_pytree(end)
    if s.shape != e.shape:
        raise ArgumentError(f"path_angle arguments `start` and `end` must have the same structure; got "
                            f"{s.shape} and {e.shape} parameters.")
    alphas = jnp.linspace(0.0, 1.0, n, dtype=s.dtype)
    return alphas, _segment_cosines(_static(field), start, end, alphas)


def _static(field: Callable):
    """`field` as a static argument of the programs below: itself when hashable (a second call with the
    same field and shapes reuses the compiled program), else a fresh wrapper (compiled for this call)."""
    try:
        hash(field)
    except TypeError:
        return functools.partial(field)
    return field


def _cosines_along(field, start, end, alphas):
    """`cos(v(θ_α), end − start)` at each of `alphas` (traced inside the caller's program)."""
    s, unravel = ravel_pytree(start)
    delta = ravel_pytree(end)[0] - s

    def one(a):
        v, _ = ravel_pytree(field(unravel(s + a * delta)))
        return cosine(v, delta)

    return jax.vmap(one)(alphas)


_segment_cosines = jax.jit(_cosines_along, static_argnames="field")


@functools.partial(jax.jit, static_argnames=("field", "m"))
def _field_hessenberg(field, z, key, m: int):
    flat, unravel = ravel_pytree(z)
    start = jax.random.normal(key, flat.shape, flat.dtype)
    return jvp_arnoldi(lambda t: ravel_pytree(field(unravel(t)))[0], flat, start, m)


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
    flat, _ = ravel_pytree(z)
    m = min(check_int("jacobian_eigenvalues", "m", m), flat.shape[0])
    top = m if top is None else check_int("jacobian_eigenvalues", "top", top)
    key = jax.random.PRNGKey(0) if key is None else key
    H, k = _field_hessenberg(_static(field), z, key, m)
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
    keep_params: bool = False
    hessians: bool = True  # each player's own loss Hessian (Lanczos) beside the game Jacobian's Arnoldi


class Grids(NamedTuple):
    """Where the measurements look (jit arguments). For a mixture in 1-D / 2-D: the x grid, histogram
    edges, data cell masses, KDE bandwidth. For `Samples`: `grid` holds fixed data samples (the
    probes), the rest is None, except for the digits: `probe_class` (the probes' labels) and the
    classifier with the real digits' feature statistics (`scorer`)."""

    grid: jax.Array  # (G, *sample_shape)
    edges: tuple | None  # per axis
    p_masses: jax.Array | None
    bandwidth: jax.Array | None
    probe_class: jax.Array | None = None  # (G,) int32
    scorer: tuple | None = None  # (classifier, ref_mean, ref_cov)


class EvalInputs(NamedTuple):
    """The fixed inputs of one seed's measurements (the same at every checkpoint)."""

    x: jax.Array  # (n_eval, *sample_shape) data samples
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
    k_first = key if gan.update == "simultaneous" else jax.random.split(key, gan.d_steps + 1)[0]
    batch = draw_batch(gan, k_first, gan.batch_size)
    fake, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))
    fake = jax.lax.stop_gradient(fake)
    u_real, _ = d_call(gan, st.td, st.sd, batch.x, train=True, key=dropout_key(batch, 1))
    u_fake, _ = d_call(gan, st.td, st.sd, fake, train=True, key=dropout_key(batch, 2))
    om, game = gan.d_output, gan.game
    w_real, w_fake = jax.grad(lambda a, b: jnp.mean(jax.vmap(game.f1)(om(a))) + jnp.mean(jax.vmap(game.f2)(om(b))),
                              argnums=(0, 1))(u_real, u_fake)
    y = jnp.concatenate([batch.x, fake])
    w = jnp.concatenate([w_real, w_fake])
    ku = _d_kernel_vp(gan, st, grid, y, w)
    return jax.vmap(jax.grad(om))(u_grid) * ku


def _d_kernel_vp(gan: GAN, st: TrainState, x_out, x_in, w):
    """`K_θ(x_out, x_in) @ w` of the discriminator's raw output in eval mode (`kernel_vp`): jaxgan's
    MLPs through their own apply (the kernel reads their structure); any other network as a plain
    `apply(θ, x)` with its state held fixed."""
    player = gan.d_player
    if isinstance(player, NetPlayer):
        apply = built(player.net, player.d_in, player.d_out)[1]
        return kernel_vp(apply, merge_params(st.td, st.sd), x_out.reshape(x_out.shape[0], -1),
                         x_in.reshape(x_in.shape[0], -1), w, train=False)

    def apply(theta, x):
        return player.call(theta, st.sd, x, train=False)[0]

    return kernel_vp(apply, st.td, x_out, x_in, w)


def g_eval(gan: GAN, tg, sg, z):
    """The generator in eval mode at latent points `z (P, latent)`; shape `(P, *sample_shape)`."""
    return gan.g_player.call(tg, sg, z, train=False)[0].reshape((z.shape[0], *gan.data.sample_shape))


def g_kernel_prediction(gan: GAN, st: TrainState, z_probe, key):
    """The generator's side of the article's kernel view ("the same holds for the generator"):
    the kernel-induced change of G at the latent points `z_probe` for the update drawn from `key`,

        ΔG(z) ∝ Σ_j K_φ(z, z_j) ∂Î/∂G(z_j),   K_φ(z, z') = Σ_k ∂G(z)/∂φ_k ⊗ ∂G(z')/∂φ_k,

    over that update's generator batch, with `∂Î/∂G(z_j)` the gradient of the generator's
    objective with respect to each generated sample (the discriminator held as that update
    sees it: the old one for simultaneous updates, the one after the `d_steps` discriminator
    updates for alternating ones) and `K_φ` the eval-mode kernel of the generator's trainable
    parameters (matrix-valued for `d`-dimensional data). One vjp and one jvp. Shape `(P, *sample_shape)`.
    """
    if gan.update == "simultaneous":
        d_state, batch = st, draw_batch(gan, key, gan.batch_size)
    else:  # replay the discriminator updates of this step, as train_step does
        d_state, _, g_key = d_steps_of(gan, st, key)
        batch = draw_batch(gan, g_key, gan.batch_size)
    fake, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))

    def objective(x):  # Î as a function of the generated samples, as in g_objective
        u, _ = d_call(gan, d_state.td, d_state.sd, x, train=True, key=dropout_key(batch, 2))
        return jnp.mean(jax.vmap(gan.game.f3)(gan.d_output(u)))

    w = jax.grad(objective)(fake)
    _, vjp = jax.vjp(lambda t: g_eval(gan, t, st.sg, batch.z), st.tg)
    (direction,) = vjp(w.astype(fake.dtype))
    return jax.jvp(lambda t: g_eval(gan, t, st.sg, z_probe), (st.tg,), (direction,))[1]


def game_hessenberg(gan: GAN, st: TrainState, batch: Batch, v0, m: int):
    """Arnoldi on the Jacobian-vector products of the game field at `st` on a fixed batch (`jax.linearize`
    once, `m` products; `m` static): `(H, k)`, eigenvalues by `ritz_values` on the host."""
    theta_flat, unravel = ravel_pytree((st.td, st.tg))

    def v_flat(t):
        td, tg = unravel(t)
        return ravel_pytree(field_parts(gan, td, tg, st.sd, st.sg, batch))[0]

    return jvp_arnoldi(v_flat, theta_flat, v0, min(m, theta_flat.shape[0]))


def player_hessians(gan: GAN, st: TrainState, batch: Batch, fake, v0, m: int):
    """Arnoldi (on a symmetric operator: Lanczos with full reorthogonalisation) on the Hessian-vector
    products of each player's own loss on a fixed batch — `−(Ĵ − penalty)` in θ_D with the generated
    samples `fake` fixed, `−Î` in θ_G — the minimisation convention of Berard et al. 2020.

    **Arguments:** `v0`: the start vectors, `(p_D + p_G,)` (split between the players); `m`: steps
    (static; capped at each player's parameter count).

    **Returns:** `{"hd": (H, k), "hg": (H, k)}`; the extremes on the host by `hessian_extremes`.
    """
    fake = jax.lax.stop_gradient(fake)
    td_flat, un_d = ravel_pytree(st.td)
    tg_flat, un_g = ravel_pytree(st.tg)

    def loss_d(t):
        return -d_objective(gan, un_d(t), st.sd, fake, batch, update_stats=False)[0]

    def loss_g(t):
        return -g_objective(gan, un_g(t), st.sg, st.td, st.sd, batch, update_stats=False)[0]

    out = {}
    for name, loss, flat, start in (("hd", loss_d, td_flat, v0[:td_flat.shape[0]]),
                                    ("hg", loss_g, tg_flat, v0[td_flat.shape[0]:])):
        _, hvp = jax.linearize(jax.grad(loss), flat)
        out[name] = arnoldi(hvp, start, min(m, flat.shape[0]))
    return out


def hessian_extremes(h, k) -> tuple[float, float]:
    """The smallest and largest Ritz values of a symmetric operator from its Arnoldi matrix `H[:k, :k]`
    (tridiagonal up to rounding: symmetrised), in float64; `(nan, nan)` when nothing was built or it is
    not finite. Lanczos: the min is an upper bound of the true minimum, the max a lower bound of the
    true maximum, and both converge first."""
    h, k = np.asarray(h, np.float64), int(k)
    if k < 1 or not np.all(np.isfinite(h[:k, :k])):
        return np.nan, np.nan
    ev = np.linalg.eigvalsh(0.5 * (h[:k, :k] + h[:k, :k].T))
    return float(ev[0]), float(ev[-1])


def _views(gan: GAN, cfg: RunConfig, st: TrainState, grids: Grids, ev: EvalInputs, fake, u_grid):
    """The distribution logs: distances, the pointwise (D, pg) view and the sample quality.

    Mixtures in 1-D / 2-D: KL on the histogram, pg by KDE on the grid. `Samples`: pg is not
    estimable at a point of an image space; for the digits the view is per class — at each probe
    (a real digit) pg is the share of generated samples the digit classifier puts in its class
    (pd: the data's share) — and NaN for other samples."""
    from . import quality

    n_grid = grids.grid.shape[0]
    flat_fake = fake.reshape(fake.shape[0], -1)
    nan = jnp.full((), jnp.nan, flat_fake.dtype)
    out = {"w1": sliced_wasserstein(ev.x.reshape(ev.x.shape[0], -1), flat_fake, cfg.n_proj),
           "g_mean": jnp.mean(flat_fake, axis=0), "g_std": jnp.std(flat_fake, axis=0),
           "d_grid": gan.d_output(u_grid)}
    if grids.edges is not None:  # a mixture in 1-D / 2-D
        means, stds, weights = gan.data.arrays(flat_fake.dtype)
        out.update(kl=histogram_kl(grids.p_masses, fake, grids.edges), pg_grid=kde(fake, grids.grid, grids.bandwidth),
                   **quality.mixture_quality(fake, means, stds, weights), classes_covered=nan, fd=nan)
        return out
    out["kl"] = nan
    if grids.scorer is None:
        out.update(pg_grid=jnp.full((n_grid,), jnp.nan, flat_fake.dtype), modes_covered=nan, high_quality=nan,
                   classes_covered=nan, fd=nan)
        return out
    classifier, ref_mean, ref_cov = grids.scorer
    shares = jnp.mean(jax.nn.one_hot(jnp.argmax(classifier.logits(fake), axis=-1), 10, dtype=flat_fake.dtype), axis=0)
    out.update(pg_grid=shares[grids.probe_class], modes_covered=nan, high_quality=nan,
               **quality.digit_quality(fake, classifier, ref_mean, ref_cov))
    return out


def measure(gan: GAN, cfg: RunConfig, st: TrainState, grids: Grids, ev: EvalInputs, next_key):
    """All measurements of one checkpoint (one seed).

    **Returns:** `(logs, v, theta, d_grid, pred)`: the dict of this checkpoint's logs, the flat game
    field and parameters (for the step cosine), D on the grid, and (with `kernel_probe`) the
    kernel-induced predictions `(ΔD on the grid, ΔG at the probes, G at the probes)` of the update
    drawn from `next_key` (compared with the actual change one checkpoint later), else None.
    """
    batch = ev.batch
    fake, _ = generate(gan, st.tg, st.sg, ev.z, dropout_key(batch, 0))
    u_grid, _ = d_call(gan, st.td, st.sd, grids.grid, train=False, key=None)
    gd, gg = field_parts(gan, st.td, st.tg, st.sd, st.sg, batch)
    vflat, _ = ravel_pytree((gd, gg))
    theta_flat, _ = ravel_pytree((st.td, st.tg))
    fake_b, _ = generate(gan, st.tg, st.sg, batch.z, dropout_key(batch, 0))
    out = _views(gan, cfg, st, grids, ev, fake, u_grid)
    out.update(field_norm=jnp.linalg.norm(vflat),
               J=d_objective(gan, st.td, st.sd, fake_b, batch, update_stats=False)[1][0],
               I=g_objective(gan, st.tg, st.sg, st.td, st.sd, batch, update_stats=False)[0])
    if cfg.krylov > 0:
        out["hess"], out["krylov_k"] = game_hessenberg(gan, st, batch, ev.v0, cfg.krylov)
    if cfg.krylov > 0 and cfg.hessians:
        for name, (h, k) in player_hessians(gan, st, batch, fake_b, ev.v0, cfg.krylov).items():
            out[name], out[name + "_k"] = h, k
    pred = None
    if cfg.kernel_probe:
        z_probe = ev.z[:grids.grid.shape[0]]
        pred = (kernel_prediction(gan, st, grids.grid, u_grid, next_key),
                g_kernel_prediction(gan, st, z_probe, next_key), g_eval(gan, st.tg, st.sg, z_probe))
    return out, vflat, theta_flat, out["d_grid"], pred


def path_angle_of_seed(program: ProgramKey, cfg: RunConfig, n: int, st: TrainState, k_eval, start_flat, end_flat):
    """`path_angle` of one trained seed from `start_flat` to `end_flat` (flat `(θ_D, θ_G)`), with the
    game field on that seed's fixed measurement batch (drawn from its measurement key `k_eval`).

    Compiled once per GAN structure, sizes and shapes, with XLA's backend optimisation off: `n` field
    evaluations run in no time, the compile is all of it (as the end-point program's, `endpoint.py`)."""
    args = (st, k_eval, start_flat, end_flat)
    return _PATH_ANGLE_PROGRAMS((program, cfg, n), args, fast="quick")(*args)


@functools.partial(jax.jit, static_argnames=("program", "cfg", "n"))
def _path_angle_jit(program: ProgramKey, cfg: RunConfig, n: int, st: TrainState, k_eval, start_flat, end_flat):
    gan = program.gan
    _, unravel = ravel_pytree((st.td, st.tg))
    batch = eval_inputs(gan, cfg, k_eval, start_flat.shape[0]).batch

    def v(theta):
        td, tg = theta
        return field_parts(gan, td, tg, st.sd, st.sg, batch)

    # The field is a closure over this trace: traced here, not through `path_angle`'s cache of programs.
    alphas = jnp.linspace(0.0, 1.0, n, dtype=start_flat.dtype)
    return alphas, _cosines_along(v, unravel(start_flat), unravel(end_flat), alphas)


_PATH_ANGLE_PROGRAMS = ProgramCache(_path_angle_jit)
