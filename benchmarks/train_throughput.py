"""Training throughput of the digits DCGAN at 8 seeds: jaxgan against the usual way, in the same run.

The workload of issue 12 (item 6): the small DCGAN of `jaxgan.neural.dcgan_discriminator` /
`dcgan_generator` (width 16, latent 16, no BatchNorm unless `--norm batchnorm`, convolutions as
matmuls unless `--conv lax`) on scikit-learn's
8×8 digits in [-1, 1], the non-saturating GAN (discriminator on the raw logit with the sigmoid
cross-entropy, generator maximising log D(G(z))), Adam(2e-4, b1=0.5) for both players, batches of
`--batch-size` data images drawn uniformly with replacement and as many Gaussian latents,
alternating updates (one discriminator update on a batch, then one generator update on a fresh
batch of latents against the updated discriminator — jaxgan's `update="alternating"`, and what
the PyTorch DCGAN example does). One table, rows:

- **usual way**: what a flax/optax user writes — `@jax.jit def step(state, batch_key)` doing the D
  and G updates, called from a Python loop (`key, sub = jax.random.split(key)` then
  `state, losses = step(state, sub)`), one seed at a time, the losses left on the device (no sync
  per step). Every seed is run in full, in sequence (the row's time is the sum over the seeds);
  the step is compiled once (same shapes) and that compile is reported apart.
- **bare vmap + scan**: the same step function, `jax.vmap` over the seeds of a `lax.scan` over the
  updates, by hand: what any JAX program of this shape could reach (no jaxgan).
- **bare lax.map + scan**: the same, the seeds one after another inside one compiled program
  (`lax.map`): no Python loop, no batched kernels. On XLA:CPU, `vmap`ping seeds of a conv net
  makes batched-weight (grouped) convolutions, slower per seed than one seed's; this row tells
  that cost apart from the Python loop's.
- **jaxgan, measurements off**: `jaxgan.neural.train(gan, seeds, steps=S, measure_every=S,
  krylov=0, kernel_probe=False)`: one compiled program, seeds vmapped, the divergence guard per
  seed, only the start and end checkpoints measured.
- **jaxgan, measurements on**: the same every `--measure-every` updates with the default
  measurements (game-Jacobian eigenvalues by Arnoldi, `--krylov` steps; the kernel probe off).

Throughput is seed-updates per second (one update = one D and one G update of one seed) over run
time only; compile time (trace + XLA) is its own column. The ratio is each row's rate over the
usual way's. On a GPU (or any accelerator) the same script runs unchanged; it prints the device
kind and platform and the jax version.

Usage: `python benchmarks/train_throughput.py [--quick] [--steps N] [--seeds N] [--batch-size N]
[--conv lax|matmul] [--norm batchnorm] [--skip usual,bare,map,jaxgan,measured]`
(`--quick`: 200 updates, a smoke test under a minute).
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import sys
import time

import numpy as np

LR, B1 = 2e-4, 0.5


# ----------------------------------------------------------------------------- the usual way


def usual_way(D, G, images, *, batch_size: int, latent_dim: int):
    """`(init, step)`: a flax/optax DCGAN training step written plainly, as a user would.

    `init(seed) -> state`; `step(state, batch_key) -> (state, (d_loss, g_loss))`, jitted. BatchNorm
    (when the models have it) runs in train mode with `mutable=["batch_stats"]`; dropout draws from
    the `"dropout"` rng.
    """
    import jax
    import jax.numpy as jnp
    import optax

    tx = optax.adam(LR, b1=B1)
    data = jnp.asarray(images)
    n = data.shape[0]

    def init(seed):
        kd, kg, kdrop = jax.random.split(jax.random.key(seed), 3)
        vd = D.init({"params": kd, "dropout": kdrop}, data[:2])
        vg = G.init({"params": kg}, jnp.zeros((2, latent_dim), data.dtype))
        pd, sd = vd["params"], vd.get("batch_stats", {})
        pg, sg = vg["params"], vg.get("batch_stats", {})
        return (pd, sd, tx.init(pd), pg, sg, tx.init(pg))

    def d_apply(p, s, x, key):
        out, upd = D.apply({"params": p, "batch_stats": s}, x, train=True, rngs={"dropout": key},
                           mutable=["batch_stats"])
        return out, upd.get("batch_stats", {})

    def g_apply(p, s, z):
        out, upd = G.apply({"params": p, "batch_stats": s}, z, train=True, mutable=["batch_stats"])
        return out, upd.get("batch_stats", {})

    @jax.jit
    def step(state, batch_key):
        pd, sd, od, pg, sg, og = state
        kx, kz, kz2, k1, k2, k3 = jax.random.split(batch_key, 6)
        x = data[jax.random.randint(kx, (batch_size,), 0, n)]
        z = jax.random.normal(kz, (batch_size, latent_dim), data.dtype)
        fake, sg = g_apply(pg, sg, z)
        fake = jax.lax.stop_gradient(fake)

        def d_loss(p):
            real_logit, s = d_apply(p, sd, x, k1)
            fake_logit, s = d_apply(p, s, fake, k2)
            loss = jnp.mean(jax.nn.softplus(-real_logit)) + jnp.mean(jax.nn.softplus(fake_logit))
            return loss, s

        (ld, sd), gd = jax.value_and_grad(d_loss, has_aux=True)(pd)
        upd, od = tx.update(gd, od, pd)
        pd = optax.apply_updates(pd, upd)

        z2 = jax.random.normal(kz2, (batch_size, latent_dim), data.dtype)

        def g_loss(p):
            fake, s = g_apply(p, sg, z2)
            logit, _ = d_apply(pd, sd, fake, k3)  # D's statistics are not updated by G's step
            return jnp.mean(jax.nn.softplus(-logit)), s

        (lg, sg), gg = jax.value_and_grad(g_loss, has_aux=True)(pg)
        upd, og = tx.update(gg, og, pg)
        pg = optax.apply_updates(pg, upd)
        return (pd, sd, od, pg, sg, og), (ld, lg)

    return init, step


def run_usual(init, step, seeds, steps):
    """The Python loop, one seed after another. Returns (compile_s, run_s, final losses per seed)."""
    import jax

    state = init(seeds[0])
    times = []
    for _ in range(2):  # compile = the first call (trace + XLA + one step) minus the second (one step)
        t0 = time.perf_counter()
        jax.block_until_ready(step(state, jax.random.key(0)))
        times.append(time.perf_counter() - t0)
    compile_s = times[0] - times[1]
    run_s, losses = 0.0, []
    for seed in seeds:
        state = init(seed)
        key = jax.random.key(10_000 + seed)
        jax.block_until_ready(state)
        t0 = time.perf_counter()
        for _ in range(steps):
            key, sub = jax.random.split(key)
            state, loss = step(state, sub)
        jax.block_until_ready((state, loss))
        run_s += time.perf_counter() - t0
        losses.append([float(v) for v in loss])
    return compile_s, run_s, np.asarray(losses)


def run_bare(init, step, seeds, steps, *, batched: str = "vmap"):
    """The same step in one compiled program, by hand: a `lax.scan` over updates, `vmap`ped over
    seeds (`batched="vmap"`) or run for one seed after another (`"map"`: `lax.map`)."""
    import jax

    states = jax.tree_util.tree_map(lambda *a: jax.numpy.stack(a), *[init(s) for s in seeds])
    keys = jax.vmap(jax.random.key)(jax.numpy.asarray(seeds, jax.numpy.uint32) + 10_000)

    def one(state, key):
        def body(st, i):
            st, loss = step(st, jax.random.fold_in(key, i))
            return st, None
        st, _ = jax.lax.scan(body, state, jax.numpy.arange(steps))
        return st, step(st, key)[1]

    program = jax.jit(jax.vmap(one) if batched == "vmap" else lambda s, k: jax.lax.map(lambda a: one(*a), (s, k)))
    t0 = time.perf_counter()
    compiled = program.lower(states, keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(states, keys))
    run_s = time.perf_counter() - t0
    return compile_s, run_s, np.stack([np.asarray(v) for v in out[1]], axis=1)


# ----------------------------------------------------------------------------- jaxgan


def run_jaxgan(D, G, seeds, steps, *, batch_size, latent_dim, measure_every, krylov):
    """`jaxgan.neural.train` on the same GAN; `(compile_s, run_s, result)`."""
    import optax

    import jaxgan

    neural = jaxgan.neural
    opt = jaxgan.dynamics.Optimizer(optax.adam, learning_rate=LR, b1=B1, b2=0.999)
    gan = neural.GAN(discriminator=D, generator=G, data=neural.digits(), latent_dim=latent_dim,
                     game="non_saturating", d_optimizer=opt, g_optimizer=opt, update="alternating",
                     batch_size=batch_size)
    kw = dict(steps=steps, measure_every=measure_every, krylov=krylov, kernel_probe=False)
    params = inspect.signature(neural.train).parameters
    if "fast_compile" in params:
        kw["fast_compile"] = False  # full XLA optimisation, as jax.jit does for the other rows
    result = neural.train(gan, list(seeds), **kw)
    return result.compile_s, result.run_s, result


# ----------------------------------------------------------------------------- the table


def _device():
    import jax

    d = jax.devices()[0]
    return f"{d.device_kind} ({d.platform}, {jax.device_count()} device(s))"


def _row(name, compile_s, run_s, seed_updates, base_rate):
    rate = seed_updates / run_s
    ratio = "" if base_rate is None else f"{rate / base_rate:.2f}×"
    return f"| {name} | {compile_s:.2f} | {run_s:.2f} | {rate:,.0f} | {ratio} |", rate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 updates: a smoke test")
    ap.add_argument("--steps", type=int, help="updates per seed (default 2000; --quick 200)")
    ap.add_argument("--seeds", type=int, default=8, help="seeds (default 8)")
    ap.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    ap.add_argument("--width", type=int, default=16, help="the networks' width (default 16)")
    ap.add_argument("--latent-dim", type=int, default=16, help="latent dimension (default 16)")
    ap.add_argument("--norm", choices=("none", "batchnorm"), default="none", help="BatchNorm in both players")
    ap.add_argument("--measure-every", type=int, help="updates per checkpoint of the 'measurements on' row "
                                                        "(default steps / 10)")
    ap.add_argument("--krylov", type=int, default=8, help="Arnoldi steps of the 'measurements on' row (default 8)")
    ap.add_argument("--skip", default="", help="rows to leave out, comma-separated: usual,bare,map,jaxgan,measured")
    ap.add_argument("--conv", choices=("matmul", "lax"), default="matmul",
                    help="the players' convolutions (jaxgan.neural.dcgan `conv=`; default matmul; lax: flax's nn.Conv)")
    args = ap.parse_args(argv)
    steps = args.steps or (200 if args.quick else 2000)
    measure_every = args.measure_every or max(1, steps // 10)
    if steps % measure_every:
        ap.error(f"--steps ({steps}) must be a multiple of --measure-every ({measure_every})")
    skip = set(filter(None, args.skip.split(",")))

    import jax

    import jaxgan
    from jaxgan.neural.dcgan import dcgan_discriminator, dcgan_generator

    norm = None if args.norm == "none" else args.norm
    D = dcgan_discriminator(width=args.width, norm=norm, conv=args.conv)
    G = dcgan_generator(latent_dim=args.latent_dim, width=args.width, norm=norm, conv=args.conv)
    images = jaxgan.datasets.load_digits().images
    seeds = list(range(args.seeds))
    total = args.seeds * steps
    print(f"# digits DCGAN (width {args.width}, latent {args.latent_dim}, norm {args.norm}, conv {args.conv}), batch "
          f"{args.batch_size}, {steps} alternating updates × {args.seeds} seeds, Adam({LR:g}, b1={B1})")
    print(f"# device: {_device()}; jax {jax.__version__}; python {platform.python_version()}; "
          f"{os.cpu_count()} CPU cores; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("# seed-updates/s over run time; compile (trace + XLA) apart; ratio against the usual way\n")
    print("| row | compile s | run s | seed-updates/s | ratio |")
    print("|---|---|---|---|---|")
    init, step = usual_way(D, G, images, batch_size=args.batch_size, latent_dim=args.latent_dim)
    base = None
    if "usual" not in skip:
        c, r, _ = run_usual(init, step, seeds, steps)
        line, base = _row(f"usual way: jitted step in a Python loop, {args.seeds} seeds in sequence", c, r, total,
                          None)
        print(line, flush=True)
    if "bare" not in skip:
        c, r, _ = run_bare(init, step, seeds, steps)
        print(_row(f"bare vmap + scan of the same step ({args.seeds} seeds, by hand)", c, r, total, base)[0],
              flush=True)
    if "map" not in skip:
        c, r, _ = run_bare(init, step, seeds, steps, batched="map")
        print(_row("bare lax.map + scan of the same step (seeds in sequence, one program)", c, r, total, base)[0],
              flush=True)
    ready = hasattr(jaxgan.neural, "digits")
    if not ready:
        print("| jaxgan | — | — | — | (jaxgan.neural.digits / flax players not available in this version) |")
        return 0
    if "jaxgan" not in skip:
        c, r, _ = run_jaxgan(D, G, seeds, steps, batch_size=args.batch_size, latent_dim=args.latent_dim,
                             measure_every=steps, krylov=0)
        print(_row("jaxgan `train`, measurements off (krylov=0, 2 checkpoints)", c, r, total, base)[0], flush=True)
    if "measured" not in skip:
        c, r, _ = run_jaxgan(D, G, seeds, steps, batch_size=args.batch_size, latent_dim=args.latent_dim,
                             measure_every=measure_every, krylov=args.krylov)
        print(_row(f"jaxgan `train`, measurements every {measure_every} (krylov={args.krylov})", c, r, total,
                   base)[0], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
