"""Throughput of basin sweeps: state updates per second, jaxgan against baselines in the same run.

The workload of issue 3: the classic (minimax) field at pd = 0.2, Euler, lr = 1e-3, starts on
a grid D in [0.01, 0.99] x pg in [0.01, 2]. One table, printed as markdown:

- jaxgan float32 and float64, fates on (`jaxgan.basins`: domain guard, convergence, cycling,
  divergence, early exit), on 1 device and sharded over every CPU core exposed as a device
  (`--xla_force_host_platform_device_count`, set here before JAX starts);
- jaxgan bare scan: the same field and update rule (`rule.step` under `vmap` in a
  `fori_loop`, in chunks of `basins`' size, on 1 device and split over all of them with
  `jax.shard_map`), nothing else: the fates' overhead is measured against it, and it is
  the ceiling of what any bookkeeping could reach;
- the article's pure-Python loop (one start, Python floats and `math.log`, as its script);
- NumPy vectorised over all starts (one array op per term, float64 and float32);
- numba (if installed): a compiled loop per start, single-threaded and `prange` over starts.

Compile time is reported apart (first call minus a warm call); run time is the best of
`--repeats`. Memory: the peak resident size of a fresh process that runs 4096 x 4096 starts.

Usage: `python benchmarks/sweep_throughput.py [--quick] [--no-memory]`; with `--breakdown` it
prints instead where the time of one update goes (variants of the bare loop, NumPy's passes).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import time

CORES = os.cpu_count() or 1
if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={CORES}").strip()

import numpy as np  # noqa: E402

PD, LR, D_RANGE, PG_RANGE = 0.2, 1e-3, (0.01, 0.99), (0.01, 2.0)


# ----------------------------------------------------------------------------- baselines


def article_python(d, pg, pd, lr, n_iter):
    """The article's script: one start, plain Python floats."""
    log = math.log
    for _ in range(n_iter):
        vd = pd / d - pg / (1.0 - d)
        vpg = -log(1.0 - d) + log(0.5)
        d = d + lr * vd
        pg = pg + lr * vpg
    return d, pg


def numpy_vectorised(d, pg, pd, lr, n_iter):
    """Every start at once, one NumPy operation per term."""
    c = np.log(np.asarray(0.5, d.dtype))
    lr = d.dtype.type(lr)
    pd = d.dtype.type(pd)
    for _ in range(n_iter):
        vd = pd / d - pg / (1 - d)
        vpg = c - np.log1p(-d)
        d = d + lr * vd
        pg = pg + lr * vpg
    return d, pg


def numba_kernels():
    try:
        import numba
    except ImportError:
        return None

    def body(d, pg, pd, lr, n_iter, out):
        for i in numba.prange(d.shape[0]):
            x, y = d[i], pg[i]
            for _ in range(n_iter):
                vd = pd / x - y / (1.0 - x)
                vpg = math.log(0.5) - math.log1p(-x)
                x = x + lr * vd
                y = y + lr * vpg
            out[i, 0] = x
            out[i, 1] = y

    serial = numba.njit(body, cache=False)
    parallel = numba.njit(body, parallel=True, cache=False)
    return serial, parallel, numba.__version__


# ----------------------------------------------------------------------------- helpers


def timed(fn, repeats):
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return first, best


def grid(n):
    d = np.linspace(*D_RANGE, n)
    pg = np.linspace(*PG_RANGE, n)
    dd, pp = np.meshgrid(d, pg, indexing="ij")
    return dd.ravel(), pp.ravel()


MEMORY_SCRIPT = r"""
import sys, time
import jax, jaxgan

def hwm():  # peak resident set of this process, MiB (VmHWM: reset by exec, unlike ru_maxrss)
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024

n, steps = int(sys.argv[1]), int(sys.argv[2])
field = jaxgan.pointwise_field("minimax", 0.2)
jaxgan.basins(field, (0.01, 0.99, 8), (0.01, 2.0, 8), steps=steps, lr=1e-3)  # jax and the kernel warm
base = hwm()
t0 = time.perf_counter()
res = jaxgan.basins(field, (0.01, 0.99, n), (0.01, 2.0, n), steps=steps, lr=1e-3)
dt = time.perf_counter() - t0
print(hwm(), base, dt, res.fate.size)
"""


def breakdown(args):
    """One table: the bare Euler loop of the classic field with parts of its arithmetic changed,
    on one device with chunks small enough to stay on one core, against NumPy's single passes."""
    import jax
    import jax.numpy as jnp

    n, steps, chunk = 1 << 16, 512 if args.quick else 2048, 8192
    c = np.float32(math.log(0.5))
    variants = {  # name: (dD/dt, dpg/dt) of (pd, D, pg)
        "as jaxgan's field: pd/D - pg/(1-D), log(0.5) - log1p(-D)":
            lambda pd, d, pg: (pd / d - pg / (1 - d), c - jnp.log1p(-d)),
        "log(1 - D) instead of log1p(-D)": lambda pd, d, pg: (pd / d - pg / (1 - d), c - jnp.log(1 - d)),
        "one division: (pd(1-D) - pg D) / (D(1-D))":
            lambda pd, d, pg: ((pd * (1 - d) - pg * d) / (d * (1 - d)), c - jnp.log1p(-d)),
        "no log: log(0.5) - D (not the field; the cost of the log)":
            lambda pd, d, pg: (pd / d - pg / (1 - d), c - d),
    }
    d0, p0 = (a.astype(np.float32) for a in grid(256))
    rows = []
    for name, v in variants.items():
        @jax.jit
        def run(d, pg, lr, v=v):
            def body(i, z):
                vd, vp = v(jnp.float32(PD), *z)
                return z[0] + lr * vd, z[1] + lr * vp
            return jax.lax.fori_loop(0, steps, body, (d, pg))

        cs = [(jnp.asarray(d0[i:i + chunk]), jnp.asarray(p0[i:i + chunk])) for i in range(0, n, chunk)]
        first, best = timed(lambda: jax.block_until_ready([run(a, b, jnp.float32(LR)) for a, b in cs]), args.repeats)
        rows.append((f"bare loop, {name}", n * steps / best, f"jax {jax.__version__}, 1 device, chunks of {chunk}"))
    x = d0  # the grid's D values, as the loops see them at the start
    for name, fn in (("np.log1p(-D)", lambda: np.log1p(-x)), ("np.log(1 - D)", lambda: np.log(1 - x)),
                     ("pg / (1 - D)", lambda: x / (1 - x))):
        _, best = timed(fn, 20)
        rows.append((f"NumPy pass {name} (elements / s)", n / best, f"numpy {np.__version__}, {n} elements"))
    _, best = timed(lambda: numpy_vectorised(d0, p0, PD, LR, 64), 1)
    rows.append(("NumPy vectorised loop (as in the main table)", n * 64 / best, "float32"))
    print(f"## where the time goes — {jax.devices()[0].device_kind}, {CORES} cores; updates (or elements) / s")
    print()
    print("| loop | rate / s | notes |")
    print("|---|---:|---|")
    for name, rate, note in rows:
        print(f"| {name} | {rate:.3g} | {note} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--no-memory", action="store_true", help="skip the 4096 x 4096 memory run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--breakdown", action="store_true",
                    help="instead of the main table: where the time of one update goes (variants of the bare loop "
                         "on one core, and NumPy's passes)")
    args = ap.parse_args(argv)
    if args.breakdown:
        return breakdown(args)

    import jax
    import jax.numpy as jnp

    import jaxgan
    from jaxgan import sweeps
    from jaxgan.dynamics import get_rule

    n_side = 128 if args.quick else 256
    steps = 512 if args.quick else 2048
    n_starts = n_side * n_side
    rows = []  # (name, updates/s, compile s, note)

    devs = jax.local_devices()
    field = jaxgan.pointwise_field("minimax", PD)
    res_chunk = [None]  # basins' default chunk, read from its result

    def jaxgan_row(label, devices, x64=False):
        prev = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", x64)
        try:
            f = jaxgan.pointwise_field("minimax", PD)
            kw = dict(steps=steps, lr=LR, devices=devices)
            first, best = timed(lambda: sweeps.basins(f, (*D_RANGE, n_side), (*PG_RANGE, n_side), **kw),
                                args.repeats)
            res = sweeps.basins(f, (*D_RANGE, n_side), (*PG_RANGE, n_side), **kw)
        finally:
            jax.config.update("jax_enable_x64", prev)
        und = res.fractions()["UNDECIDED"]
        rows.append((label, n_starts * steps / best, first - best,
                     f"chunks of {res.settings['chunk']}, check_every={res.settings['check_every']}, "
                     f"{100 * und:.0f}% undecided at the end"))
        res_chunk[0] = res.settings["chunk"]
        return best

    # jaxgan, fates on
    t_f32_1 = jaxgan_row("jaxgan f32, fates on, 1 device", devs[:1])
    if len(devs) > 1:
        t_f32_all = jaxgan_row(f"jaxgan f32, fates on, {len(devs)} devices (sharded)", devs)
    jaxgan_row("jaxgan f64, fates on, 1 device", devs[:1], x64=True)
    if len(devs) > 1:
        jaxgan_row(f"jaxgan f64, fates on, {len(devs)} devices (sharded)", devs, x64=True)

    # jaxgan bare scan: the same field and rule, no guard, no fates, in chunks of basins' size
    rule = get_rule("euler")
    chunk = res_chunk[0]

    def bare_loop(f, z, lr):
        def one(zs, lr_):
            z_new, _ = rule.step(f, jnp.stack(zs), (), lr_)
            return tuple(z_new[i] for i in range(2))

        step = jax.vmap(one, in_axes=(0, None))
        zs = jax.lax.fori_loop(0, steps, lambda i, zs: step(zs, lr), (z[:, 0], z[:, 1]))
        return jnp.stack(zs, 1)

    d0, p0 = grid(n_side)
    z = jnp.asarray(np.stack([d0, p0], 1), jnp.float32)
    chunks = [z[i:i + chunk] for i in range(0, n_starts, chunk)]
    lr32 = jnp.float32(LR)

    def bare_row(label, devices):
        if len(devices) == 1:
            fn = jax.jit(bare_loop)
            cs = chunks
        else:  # every device runs its slice of the chunk, as basins does
            from jax.sharding import NamedSharding, PartitionSpec as P

            mesh = jax.sharding.Mesh(np.asarray(devices), ("starts",))
            fn = jax.jit(jax.shard_map(bare_loop, mesh=mesh, in_specs=(P(), P("starts"), P()),
                                       out_specs=P("starts")))
            cs = [jax.device_put(c, NamedSharding(mesh, P("starts"))) for c in chunks]

        def run():
            jax.block_until_ready([fn(field, c, lr32) for c in cs])

        first, best = timed(run, args.repeats)
        rows.append((label, n_starts * steps / best, first - best, f"chunks of {chunk}"))
        return best

    t_bare = bare_row("jaxgan f32, bare scan (no guard, no fates), 1 device", devs[:1])
    if len(devs) > 1:
        t_bare_all = bare_row(f"jaxgan f32, bare scan (no guard, no fates), {len(devs)} devices", devs)

    # the article's Python loop
    py_iters = 20_000 if args.quick else 100_000
    _, best = timed(lambda: article_python(0.75, 0.9, PD, LR, py_iters), 1)
    t_py = best / py_iters
    rows.append(("article's pure-Python loop (1 start)", 1 / t_py, 0.0, "Python floats, math.log"))

    # NumPy vectorised
    np_steps = max(steps // 8, 16)
    for dt in (np.float64, np.float32):
        d, pg = d0.astype(dt), p0.astype(dt)
        _, best = timed(lambda: numpy_vectorised(d, pg, PD, LR, np_steps), 1)
        rows.append((f"NumPy vectorised, {np.dtype(dt).name}", n_starts * np_steps / best, 0.0,
                     f"{np_steps} steps, all starts"))

    # numba
    kernels = numba_kernels()
    if kernels is not None:
        serial, parallel, ver = kernels
        for name, fn_ in (("numba, 1 thread", serial), (f"numba prange, {CORES} threads", parallel)):
            for dt in (np.float64, np.float32):
                d, p = d0.astype(dt), p0.astype(dt)
                out = np.empty((n_starts, 2), dt)
                t0 = time.perf_counter()
                fn_(d[:2], p[:2], dt(PD), dt(LR), 1, out[:2])  # compile for these types
                comp = time.perf_counter() - t0
                _, best = timed(lambda: fn_(d, p, dt(PD), dt(LR), steps, out), max(1, args.repeats - 1))
                rows.append((f"{name} ({np.dtype(dt).name})", n_starts * steps / best, comp,
                             f"numba {ver}, fastmath off"))

    # memory: a fresh process, 4096 x 4096 starts
    mem = None
    if not args.no_memory:
        n_mem, steps_mem = (1024, 64) if args.quick else (4096, 256)
        env = dict(os.environ, XLA_FLAGS="")
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n_mem), str(steps_mem)],
                             capture_output=True, text=True, env=env, check=True)
        peak, base, dt, size = out.stdout.split()
        mem = (n_mem, steps_mem, float(peak), float(base), float(dt))

    # the table
    py_rate = 1 / t_py
    np_rate = next(r[1] for r in rows if r[0].startswith("NumPy vectorised, float32"))
    nb_rate = max((r[1] for r in rows if r[0].startswith("numba")), default=None)
    device = f"{jax.default_backend()}: {len(devs)} x {devs[0].device_kind}"
    cpu = platform.processor() or platform.machine()
    print(f"## sweep throughput — minimax field, pd = {PD}, Euler, lr = {LR}, D in {list(D_RANGE)}, "
          f"pg in {list(PG_RANGE)}")
    print()
    print(f"device: {device}; host: {CORES} cores ({cpu}); jax {jax.__version__}, numpy {np.__version__}; "
          f"{n_starts} starts x {steps} steps for jaxgan and numba")
    print()
    print("| implementation | state updates / s | vs Python | vs NumPy f32 | vs best numba | compile s | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, rate, comp, note in rows:
        nb = f"{rate / nb_rate:.2f}x" if nb_rate else "—"
        print(f"| {name} | {rate:.3g} | {rate / py_rate:.0f}x | {rate / np_rate:.1f}x | {nb} | {comp:.2f} | {note} |")
    print()
    print(f"fates and domain checks vs bare scan (f32, same chunking): {100 * (t_f32_1 / t_bare - 1):+.0f}% time "
          f"on 1 device" + (f", {100 * (t_f32_all / t_bare_all - 1):+.0f}% on {len(devs)} devices"
                            if len(devs) > 1 else ""))
    best_bare = n_starts * steps / (min(t_bare, t_bare_all) if len(devs) > 1 else t_bare)
    print(f"ceiling: the field and update alone (bare scan, best of the rows above) run at {best_bare:.3g} "
          f"updates / s = {best_bare / np_rate:.1f}x NumPy f32 on this machine")
    if mem:
        n_mem, steps_mem, peak, base, dt = mem
        res_mib = n_mem * n_mem * (1 + 4 + 4 + 2 * 4) / 2 ** 20
        print(f"memory: {n_mem} x {n_mem} = {n_mem * n_mem} starts, {steps_mem} steps, f32: peak RSS {peak:.0f} MiB "
              f"of the whole process (jax, jaxgan and a warm kernel: {base:.0f} MiB; the result arrays "
              f"themselves: {res_mib:.0f} MiB), {dt:.1f} s")


if __name__ == "__main__":
    main()
