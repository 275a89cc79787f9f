"""Throughput of basin sweeps: state updates per second, jaxgan against baselines in the same run.

The workload of issue 3: the classic (minimax) field at pd = 0.2, Euler, lr = 1e-3, starts on
a grid D in [0.01, 0.99] x pg in [0.01, 2]. One table, printed as markdown:

- jaxgan float32 and float64, fates on (`jaxgan.basins`: domain guard, convergence, cycling,
  divergence, early exit), on 1 device and sharded over every CPU core exposed as a device
  (`--xla_force_host_platform_device_count`, set here before JAX starts);
- jaxgan bare scan: the same field and update rule (`rule.step` under `vmap` in a
  `fori_loop`, in chunks of `basins`' size, on 1 device (each chunk in parts on host threads,
  as `basins` runs them) and split over all of them with `jax.shard_map`), nothing else: the
  fates' overhead is measured against it, and it bounds what any bookkeeping could reach
  *in XLA* (XLA's own bare loop, not the machine's ceiling);
- the C loop, the machine's practical ceiling: the same field and Euler update as plain C
  (`benchmarks/c/sweep_loop.c`: float32, the same arithmetic, the same `f3` formula as the
  preset, OpenMP over every core, vectorised across starts), built here at run time with
  `gcc -O3 -march=native -ffast-math -fopenmp` into a temporary directory (skipped, with a
  note, when no C compiler is found; `$CC` picks another). Two loops: bare, and with the domain
  guard after every step (jaxgan's LEFT_DOMAIN / non-finite DIVERGED, frozen at the last state).
  Its results are checked against jaxgan's (fates, exit steps and final states);
- the article's pure-Python loop (one start, Python floats and `math.log`, as its script);
- NumPy vectorised over all starts (one array op per term, float64 and float32);
- numba (if installed): a compiled loop per start, single-threaded and `prange` over starts.

Compile time is reported apart (first call minus a warm call; for C, the gcc run); run time is
the best of `--repeats`. The table gives every row as a % of the C loop; since the machine may
be shared, jaxgan f32 fates on and the C loop are also timed alternately `--rounds` times and the
range of their ratio printed. Memory: the peak resident size of a fresh process that runs
4096 x 4096 starts.

On an AVX-512 CPU the benchmark asks XLA for 512-bit vectors (`--xla_cpu_prefer_vector_width=512`
in its own XLA_FLAGS, printed in the header; `--xla-default-vectors` keeps XLA's 256-bit default).

Usage: `python benchmarks/sweep_throughput.py [--quick] [--no-memory] [--rounds N]`; with
`--breakdown` it prints instead where the time of one update goes (variants of the bare loop, the
sweep kernel's fast step in its old and new layout, the C loop on one thread, NumPy's passes;
run it pinned to one core: `taskset -c 0 python benchmarks/sweep_throughput.py --breakdown`).
Accuracy of the preset's cheaper formula: `benchmarks/preset_accuracy.py`.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

CORES = os.cpu_count() or 1
if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={CORES}").strip()

import numpy as np  # noqa: E402


def wide_vectors(on):
    """Ask XLA:CPU for 512-bit vectors on an AVX-512 CPU (`--xla_cpu_prefer_vector_width=512`), for this
    process only, before JAX starts: XLA prefers 256-bit ones by default, and the wide ones made the
    sweep kernel 10-20% faster on an AVX-512 machine (benchmarks/RESULTS.md). The C loop gets 512-bit
    vectors from `-march=native` there too. The header of the table prints the XLA_FLAGS used."""
    if on and _has_avx512() and "xla_cpu_prefer_vector_width" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_prefer_vector_width=512").strip()

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


# ----------------------------------------------------------------------------- the C loop

C_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c", "sweep_loop.c")
C_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp")
LEFT_DOMAIN, DIVERGED, UNDECIDED = 4, 3, 0  # jaxgan.fates.Fate codes, as the C loop writes them


def build_c_loop(tmp, f3_log1p):
    """Compile benchmarks/c/sweep_loop.c into `tmp`. Returns `(executable, gcc seconds, compiler)`, or
    `(None, 0, why)` when there is no C compiler or the build fails."""
    cc = shutil.which(os.environ["CC"]) if os.environ.get("CC") else (shutil.which("gcc") or shutil.which("cc"))
    if not cc:
        return None, 0.0, f"no C compiler found ({'$CC=' + os.environ['CC'] if os.environ.get('CC') else 'gcc or cc'})"
    exe = os.path.join(tmp, "sweep_loop")
    cmd = [cc, *C_FLAGS, *(["-DF3_LOG1P"] if f3_log1p else []), C_SOURCE, "-o", exe, "-lm"]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        return None, 0.0, f"`{cc}` could not run: {e}"
    if out.returncode != 0:
        return None, 0.0, f"`{' '.join(cmd)}` failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}"
    dt = time.perf_counter() - t0
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()
    return exe, dt, (version[0] if version else cc)


def run_c_loop(exe, mode, starts, steps, repeats, f3_d0, tmp):
    """One run of the C loop (`mode` "bare" or "guarded") on float32 `starts` (n, 2), on every core.
    Returns `(first s, best s, threads, final (n, 2), fate (n,), exit step (n,), processor s of the best
    run)`; the times are of the loop alone, measured inside the process (no start-up, no I/O)."""
    n = len(starts)
    inp, outp = os.path.join(tmp, "starts.bin"), os.path.join(tmp, "final.bin")
    np.concatenate([starts[:, 0], starts[:, 1]]).astype(np.float32).tofile(inp)
    args = [exe, mode, str(steps), str(repeats), *(repr(float(np.float32(x))) for x in (PD, LR, f3_d0)), inp, outp]
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=dict(os.environ, OMP_NUM_THREADS=str(CORES)))
    first, best, threads, cpu = out.stdout.split()
    raw = np.fromfile(outp, np.float32)
    final = np.stack([raw[:n], raw[n:2 * n]], 1)
    fate, when = raw[2 * n:3 * n].view(np.int32), raw[3 * n:].view(np.int32)
    return float(first), float(best), int(threads), final, fate, when, float(cpu)


def compare_c_with_jaxgan(res, final, fate, when):
    """The guarded C loop against `jaxgan.basins` (f32, the same starts): the guard's fates and exit
    steps must be equal, an early decision of jaxgan (converged, cycling, bound) must not come after
    the C loop left the domain, and the final states of the starts both leave undecided, or both
    froze at the same step, must agree to float32 rounding. Returns `(ok, text)`."""
    jf, js = res.fate.ravel().astype(np.int32), res.step.ravel()
    jz = res.final.reshape(-1, res.final.shape[-1])[:, :2]
    guard = (jf == LEFT_DOMAIN) | ((jf == DIVERGED) & (fate == DIVERGED))
    same_guard = guard & (fate == jf) & (when == js)
    und = (jf == UNDECIDED) & (fate == UNDECIDED)
    early = ~guard & (jf != UNDECIDED)  # jaxgan decided at a check and stopped; the C loop ran on
    early_ok = early & ((fate == UNDECIDED) | (when >= js))
    n_bad = int(guard.sum() - same_guard.sum() + ((jf == UNDECIDED) & (fate != UNDECIDED)).sum()
                + early.sum() - early_ok.sum())
    both = und | same_guard
    diff = np.abs(final[both].astype(np.float64) - jz[both])
    scale = np.maximum(np.abs(jz[both]), 1.0)
    rel = float(np.max(diff / scale)) if both.any() else 0.0
    ok = n_bad == 0 and rel <= 1e-3
    text = (f"C loop (guarded) against jaxgan f32: {'agree' if ok else 'DIFFER'} — fates: {len(jf) - n_bad} of "
            f"{len(jf)} starts consistent ({int(same_guard.sum())} leave the domain at the same step in both, "
            f"{int(und.sum())} undecided in both, {int(early.sum())} decided early by jaxgan's checks); final "
            f"states of those {int(both.sum())}: max |difference| {float(diff.max()) if both.any() else 0:.2g} "
            f"(D, pg; at most {rel:.2g} of max(|value|, 1); tolerance 1e-3)")
    return ok, text


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
    on one device with chunks small enough to stay on one core; the sweep kernel's fast step in
    its old and new layout; the C loop on one thread with either f3; NumPy's single passes. Every
    variant is timed once per round (`--rounds`), the rounds alternating, and its range printed."""
    # Long because it lists every variant it times (the field's arithmetic, the kernel's layout, C, NumPy).
    import jax
    import jax.numpy as jnp

    from jaxgan import pointwise_field
    from jaxgan.dynamics import get_rule, probed_step
    from jaxgan.sweeps import engine

    n, steps, chunk = 1 << 16, 512 if args.quick else 2048, 8192
    c_log1p = np.float32(-np.log1p(np.float32(-0.5)))
    c_log = np.float32(-np.log(np.float32(1) - np.float32(0.5)))
    variants = {  # name: (dD/dt, dpg/dt) of (pd, D, pg), as jaxgan's autodiff computes them
        "jaxgan's field, f3 = -log1p(-D) (the preset before): pd (1/D) + pg (-(1/(1-D))), f3(D) - f3(D0)":
            lambda pd, d, pg: (pd * (1 / d) + pg * (-(1 / (1 - d))), -jnp.log1p(-d) - c_log1p),
        "jaxgan's field, f3 = -log(1 - D) (the preset now)":
            lambda pd, d, pg: (pd * (1 / d) + pg * (-(1 / (1 - d))), -jnp.log(1 - d) - c_log),
        "f3 = -log(1 - D), one division: (pd(1-D) - pg D) / (D(1-D)) (not jaxgan's autodiff form)":
            lambda pd, d, pg: ((pd * (1 - d) - pg * d) / (d * (1 - d)), -jnp.log(1 - d) - c_log),
        "no log: f3 = D (not the field; the cost of the log)":
            lambda pd, d, pg: (pd * (1 / d) + pg * (-(1 / (1 - d))), d - 0.5),
    }
    d0, p0 = (a.astype(np.float32) for a in grid(256))
    lr = jnp.float32(LR)
    timers = {}  # name: (function to time, note)
    for name, v in variants.items():
        @jax.jit
        def run(d, pg, lr, v=v):
            def body(i, z):
                vd, vp = v(jnp.float32(PD), *z)
                return z[0] + lr * vd, z[1] + lr * vp
            return jax.lax.fori_loop(0, steps, body, (d, pg))

        cs = [(jnp.asarray(d0[i:i + chunk]), jnp.asarray(p0[i:i + chunk])) for i in range(0, n, chunk)]
        timers[f"bare loop, {name}"] = (
            lambda run=run, cs=cs: jax.block_until_ready([run(a, b, lr) for a, b in cs]) and None,
            f"jax {jax.__version__}, 1 device, chunks of {chunk}")

    # The sweep kernel's fast step (the preset's field, Euler, the domain poisoning), old and new layout.
    field, rule = pointwise_field("minimax", PD), get_rule("euler")

    def tuple_step(f, zs, lr):  # the kernel before: one start's coordinates stacked for the field, poisoned apart
        z_new = probed_step(rule, f, jnp.stack(zs), (), lr)[0]
        return tuple(jnp.where(f.coordinate_in_domain(i, z_new[i]), z_new[i], jnp.nan) for i in range(len(zs)))

    @jax.jit
    def kernel_tuple(f, z, lr):
        step = jax.vmap(tuple_step, in_axes=(None, 0, None))
        return jax.lax.fori_loop(0, steps, lambda i, zs: step(f, zs, lr), (z[:, 0], z[:, 1]))

    @jax.jit
    def kernel_rows(f, z, lr):
        fast = functools.partial(engine._fast_rows, rule, None, None)
        return jax.lax.fori_loop(0, steps, lambda i, zr: fast(f, zr, (), lr)[0], z.T)

    zc = [jnp.asarray(np.stack([d0, p0], 1)[i:i + chunk]) for i in range(0, n, chunk)]
    for name, fn in (("coordinates as a tuple, stacked for the field (the kernel before)", kernel_tuple),
                     ("coordinate-major (n, c) array, one pass per update (the kernel now)", kernel_rows)):
        timers[f"sweep kernel's fast step: {name}"] = (
            lambda fn=fn: jax.block_until_ready([fn(field, z, lr) for z in zc]) and None,
            f"the preset's field, Euler, domain poisoning; 1 device, chunks of {chunk}")

    tmp = tempfile.TemporaryDirectory(prefix="jaxgan-cloop-")
    starts = np.stack([d0, p0], 1)[:n]
    for log1p, c3 in ((True, c_log1p), (False, c_log)):
        exe, _, cc = build_c_loop(os.path.join(tmp.name), log1p)
        if exe is None:
            print(f"note: the C loop is skipped: {cc}", file=sys.stderr)
            break
        exe_named = exe + ("_log1p" if log1p else "_log")
        os.replace(exe, exe_named)

        def c_run(exe=exe_named, c3=c3):
            env = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = "1"
            try:
                out = run_c_loop(exe, "bare", starts, steps, 0, c3, tmp.name)
                return out[1], out[-1]
            finally:
                os.environ.pop("OMP_NUM_THREADS") if env is None else os.environ.update(OMP_NUM_THREADS=env)

        timers[f"C loop, bare, 1 thread, f3 = {'-log1p(-D)' if log1p else '-log(1 - D)'}"] = (
            c_run, f"{cc.split(' (')[0]} {' '.join(C_FLAGS)}, timed inside the process")

    rates = {name: [] for name in timers}
    cpu_rates = {name: [] for name in timers}
    for name, (fn, _) in timers.items():
        fn()  # compile / warm
    for _ in range(max(1, args.rounds)):
        for name, (fn, _) in timers.items():
            best = best_cpu = math.inf
            for _ in range(max(1, args.repeats)):
                t0, c0 = time.perf_counter(), time.process_time()
                inside = fn()  # the C loop times itself: (wall, processor) of the loop alone
                wall, cpu = inside if inside is not None else (time.perf_counter() - t0, time.process_time() - c0)
                best, best_cpu = min(best, wall), min(best_cpu, cpu)
            rates[name].append(n * steps / best)
            cpu_rates[name].append(n * steps / best_cpu)
    tmp.cleanup()
    rows = [(name, rates[name], cpu_rates[name], note) for name, (_, note) in timers.items()]
    x = d0  # the grid's D values, as the loops see them at the start
    for name, fn in (("np.log1p(-D)", lambda: np.log1p(-x)), ("np.log(1 - D)", lambda: np.log(1 - x)),
                     ("pg / (1 - D)", lambda: x / (1 - x))):
        _, best = timed(fn, 20)
        rows.append((f"NumPy pass {name} (elements / s)", [n / best], None, f"numpy {np.__version__}, {n} elements"))
    _, best = timed(lambda: numpy_vectorised(d0, p0, PD, LR, 64), 1)
    rows.append(("NumPy vectorised loop (as in the main table)", [n * 64 / best], None, "float32"))
    print(f"## where the time goes — {jax.devices()[0].device_kind}, {CORES} cores"
          f"{' (AVX-512)' if _has_avx512() else ''}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
          f"updates (or elements) / s, range over {max(1, args.rounds)} alternating rounds")
    print()
    print("| loop | rate / s (median) | range | rate / processor-second (median, range) | notes |")
    print("|---|---:|---|---|---|")
    for name, rs, cs_, note in rows:
        cpu = f"{float(np.median(cs_)):.3g} ({min(cs_):.3g}–{max(cs_):.3g})" if cs_ else "—"
        print(f"| {name} | {float(np.median(rs)):.3g} | {min(rs):.3g}–{max(rs):.3g} | {cpu} | {note} |")


def main(argv=None):
    # Long because it is the benchmark's one script: every row of the table, timed in turn, then the table.
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--no-memory", action="store_true", help="skip the 4096 x 4096 memory run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-side", type=int, default=None,
                    help="starts per axis (default 256, 128 with --quick; a GPU wants more, e.g. 1024)")
    ap.add_argument("--chunk", type=int, default=None, help="basins' chunk of starts (default: basins' own)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate jaxgan f32 fates on and the C loop this many times (one run each) and print the "
                         "range of their ratio")
    ap.add_argument("--breakdown", action="store_true",
                    help="instead of the main table: where the time of one update goes (variants of the bare loop "
                         "on one core, and NumPy's passes)")
    ap.add_argument("--xla-default-vectors", action="store_true",
                    help="keep XLA:CPU's default vector width (by default this process asks for 512-bit vectors on "
                         "an AVX-512 CPU)")
    args = ap.parse_args(argv)
    wide_vectors(not args.xla_default_vectors)
    if args.breakdown:
        return breakdown(args)

    import jax
    import jax.numpy as jnp

    import jaxgan
    from jaxgan import sweeps
    from jaxgan.dynamics import get_rule

    n_side = args.n_side or (128 if args.quick else 256)
    steps = 512 if args.quick else 2048
    n_starts = n_side * n_side
    rows = []  # (name, updates/s, compile s, note)

    devs = jax.local_devices()
    chunk_kw = {} if args.chunk is None else {"chunk": args.chunk}
    field = jaxgan.pointwise_field("minimax", PD)
    res_chunk = [None]  # basins' default chunk, read from its result

    def basins_f32(devices):
        return sweeps.basins(field, (*D_RANGE, n_side), (*PG_RANGE, n_side), steps=steps, lr=LR, devices=devices,
                             **chunk_kw)

    def jaxgan_row(label, devices, x64=False):
        prev = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", x64)
        try:
            f = jaxgan.pointwise_field("minimax", PD)
            kw = dict(steps=steps, lr=LR, devices=devices, **chunk_kw)
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
        return best, res

    # jaxgan, fates on
    t_f32_1, res_f32 = jaxgan_row("jaxgan f32, fates on, 1 device", devs[:1])
    f32_rows = [(rows[-1][0], devs[:1])]
    if len(devs) > 1:
        t_f32_all, _ = jaxgan_row(f"jaxgan f32, fates on, {len(devs)} devices (sharded)", devs)
        f32_rows.append((rows[-1][0], devs))
    jaxgan_row("jaxgan f64, fates on, 1 device", devs[:1], x64=True)
    if len(devs) > 1:
        jaxgan_row(f"jaxgan f64, fates on, {len(devs)} devices (sharded)", devs, x64=True)

    # jaxgan bare scan: the same field and rule, no guard, no fates, in chunks of basins' size, with
    # the state coordinate-major (n, c) as the sweep kernel holds it (one elementwise pass per update)
    rule = get_rule("euler")
    chunk = res_chunk[0]

    def bare_loop(f, z, lr):
        def one(z1, lr_):
            return rule.step(f, z1, (), lr_)[0]

        step = jax.vmap(one, in_axes=(1, None), out_axes=1)
        return jax.lax.fori_loop(0, steps, lambda i, zr: step(zr, lr), z.T).T

    d0, p0 = grid(n_side)
    starts32 = np.stack([d0, p0], 1).astype(np.float32)
    z = jnp.asarray(starts32)
    chunks = [z[i:i + chunk] for i in range(0, n_starts, chunk)]
    lr32 = jnp.float32(LR)

    def bare_row(label, devices):
        if len(devices) == 1:  # as basins does: parts of each chunk on host threads, one per core
            from concurrent.futures import ThreadPoolExecutor

            from jaxgan.sweeps import runner

            _, k, threads, _ = runner._programs(devices, n_starts, chunk)  # basins' own cut
            threads = max(1, threads)
            fn = jax.jit(bare_loop)
            parts = [p for c in chunks for p in jnp.split(c, k)]

            def run():
                with ThreadPoolExecutor(threads) as ex:
                    list(ex.map(lambda p: fn(field, p, lr32).block_until_ready(), parts))

            first, best = timed(run, args.repeats)
            rows.append((label, n_starts * steps / best, first - best,
                         f"chunks of {chunk}" + (f", {k} parts each on host threads" if threads > 1 else "")))
            return best
        # several devices: every device runs its slice of the chunk, as basins does
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

    # the C loop: the same arithmetic as jaxgan's field, with the preset's own f3 formula
    game = jaxgan.games.get("minimax")
    f3_log1p = float(game.f3(jnp.float32(1e-10))) != 0.0  # -log1p(-D) keeps 1e-10; -log(1 - D) rounds to 0
    f3_d0 = np.float32(game.f3(jnp.float32(game.rest_d(jnp.float32))))
    f3_text = "-log1p(-D)" if f3_log1p else "-log(1 - D)"
    tmp = tempfile.TemporaryDirectory(prefix="jaxgan-cloop-")
    exe, gcc_s, cc_note = build_c_loop(tmp.name, f3_log1p)
    c_rate = c_guarded_rate = None
    c_check = None
    if exe is None:
        print(f"note: the C loop is skipped: {cc_note}", file=sys.stderr)
    else:
        for mode in ("bare", "guarded"):
            first, best, threads, final, fate, when, _ = run_c_loop(exe, mode, starts32, steps, args.repeats,
                                                                    f3_d0, tmp.name)
            rate = n_starts * steps / best
            what = "bare" if mode == "bare" else "domain guard after every step"
            rows.append((f"C loop, {what}, {threads} threads", rate, gcc_s,
                         f"{cc_note.split(' (')[0]} {' '.join(C_FLAGS)}, f32, f3 = {f3_text}, blocks of 256 starts"))
            if mode == "bare":
                c_rate = rate
            else:
                c_guarded_rate = rate
                c_check = compare_c_with_jaxgan(res_f32, final, fate, when)

    # alternating rounds: jaxgan f32 fates on and the C loop, one run each, ratio per round, of the wall
    # time and of the processor time (all threads; on a shared machine the latter is the steadier measure)
    ratios = {label: [] for label, _ in f32_rows}
    cpu_ratios = {label: [] for label, _ in f32_rows}
    if exe is not None:
        for _ in range(args.rounds):
            for label, devices in f32_rows:
                t0, c0 = time.perf_counter(), time.process_time()
                basins_f32(devices)
                t_j, c_j = time.perf_counter() - t0, time.process_time() - c0
                out = run_c_loop(exe, "bare", starts32, steps, 0, f3_d0, tmp.name)
                ratios[label].append(out[1] / t_j)
                cpu_ratios[label].append(out[-1] / c_j)
    tmp.cleanup()

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
    print(f"device: {device}; host: {CORES} cores ({cpu}{', AVX-512' if _has_avx512() else ''}); jax {jax.__version__}, "
          f"numpy {np.__version__}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; {n_starts} starts x {steps} steps "
          f"for jaxgan, the C loop and numba")
    print()
    print("| implementation | state updates / s | % of C loop | vs Python | vs NumPy f32 | vs best numba | compile s | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, rate, comp, note in rows:
        nb = f"{rate / nb_rate:.2f}x" if nb_rate else "—"
        pc = f"{100 * rate / c_rate:.0f}%" if c_rate else "—"
        print(f"| {name} | {rate:.3g} | {pc} | {rate / py_rate:.0f}x | {rate / np_rate:.1f}x | {nb} | {comp:.2f} | {note} |")
    print()
    print(f"fates and domain checks vs bare scan (f32, same chunking): {100 * (t_f32_1 / t_bare - 1):+.0f}% time "
          f"on 1 device" + (f", {100 * (t_f32_all / t_bare_all - 1):+.0f}% on {len(devs)} devices"
                            if len(devs) > 1 else ""))
    best_bare = n_starts * steps / (min(t_bare, t_bare_all) if len(devs) > 1 else t_bare)
    line = (f"XLA's bare loop: the field and update alone (bare scan, best of the rows above) run at {best_bare:.3g} "
            f"updates / s = {best_bare / np_rate:.1f}x NumPy f32")
    if c_rate:
        line += f" = {100 * best_bare / c_rate:.0f}% of the C loop"
    print(line)
    if c_rate:
        print(f"the machine's practical ceiling: the C loop (bare) at {c_rate:.3g} updates / s, with the domain guard "
              f"{c_guarded_rate:.3g}; jaxgan f32 fates on = "
              + ", ".join(f"{100 * r[1] / c_rate:.0f}% ({r[0].split(', ')[-1]})" for r in rows if r[0] in ratios)
              + " of the bare C loop (target >= 35%)")
        for what, rs in (("wall time", ratios), ("processor time, all threads", cpu_ratios)):
            print(f"alternating rounds (one run each, the bare C loop right after jaxgan), {what}: jaxgan f32 fates on "
                  f"/ C loop = " + "; ".join(f"{label.split(', ')[-1]}: {100 * min(v):.0f}-{100 * max(v):.0f}% over "
                                             f"{len(v)} rounds" for label, v in rs.items() if v))
        print(c_check[1])
    else:
        print(f"the C loop (the machine's ceiling) was skipped: {cc_note}")
    if mem:
        n_mem, steps_mem, peak, base, dt = mem
        res_mib = n_mem * n_mem * (1 + 4 + 4 + 2 * 4) / 2 ** 20
        print(f"memory: {n_mem} x {n_mem} = {n_mem * n_mem} starts, {steps_mem} steps, f32: peak RSS {peak:.0f} MiB "
              f"of the whole process (jax, jaxgan and a warm kernel: {base:.0f} MiB; the result arrays "
              f"themselves: {res_mib:.0f} MiB), {dt:.1f} s")


def _has_avx512():
    try:
        with open("/proc/cpuinfo") as fh:
            return "avx512f" in fh.read()
    except OSError:
        return False


if __name__ == "__main__":
    main()
