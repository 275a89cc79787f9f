"""Throughput and memory of the parametric kernel K_θ (jaxgan.kernels.parametric_kernel).

One table, one run. Every case runs in its own subprocess so that its peak memory is its own:

- the plain recipe (the baseline): the N×P Jacobian by `jax.vmap(jax.grad(D))`, then `J @ J.T`,
  one jitted function;
- jaxgan's structured path (per-layer factors, never the N×P Jacobian);
- jaxgan's generic row-block path (`algorithm="jacobian"`, any network; run with a 1 GiB budget for
  its two blocks of Jacobian rows — the default is 256 MiB);

on the MLP 1→512→512→1 (ReLU, float32) with N = 2048 points, the wide MLP 1→2048→2048→1 with
N = 4096 (the plain recipe would hold a 69 GB Jacobian there: not run), and N = 16384 points in
blocks. "compile" is the XLA compile time of the first call (from jax.monitoring's
`backend_compile_duration` events); "run" is the median of the repeated calls after it (for the
slow cases run once: the first call minus its compile time). Peak memory is the subprocess's peak resident set size minus its
size before the case (it includes the output K, n1·n2·4 bytes) and, for single jitted
functions, XLA's own `memory_analysis()` of the compiled computation.

    python benchmarks/kernel_throughput.py            # the full table (a few minutes on 2 cores)
    python benchmarks/kernel_throughput.py --quick    # small sizes, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _device() -> str:
    import jax

    d = jax.devices()[0]
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    kind = d.device_kind if d.platform != "cpu" else (cpu or platform.processor() or "cpu")
    return f"{d.platform}: {kind} ({os.cpu_count()} cores visible), jax {jax.__version__}"


# name: (width, n, method, repeats after the first call) — method "plain" is the baseline recipe
CASES = {
    "plain-512": (512, 2048, "plain", 1),
    "structured-512": (512, 2048, "structured", 5),
    "jacobian-512": (512, 2048, "jacobian", 0),
    "structured-2048w": (2048, 4096, "structured", 1),
    "jacobian-2048w": (2048, 256, "jacobian", 0),
    "structured-512-N16384": (512, 16384, "structured", 0),
}
QUICK = {
    "plain-512": (128, 512, "plain", 2),
    "structured-512": (128, 512, "structured", 3),
    "jacobian-512": (128, 512, "jacobian", 0),
    "structured-2048w": (256, 1024, "structured", 1),
    "jacobian-2048w": (256, 128, "jacobian", 0),
    "structured-512-N16384": (128, 4096, "structured", 0),
}
JACOBIAN_BUDGET = 2**30


def run_case(name: str, quick: bool) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxgan import kernels, nets

    width, n, method, repeats = (QUICK if quick else CASES)[name]
    init, apply = nets.mlp((1, width, width, 1), "relu")
    params = init(jax.random.PRNGKey(0))
    x = np.linspace(-3.0, 3.0, n, dtype=np.float32)
    out = {"case": name, "width": width, "n": n, "method": method, "n_params": apply.spec.n_params}
    compile_events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: compile_events.append(secs) if event.endswith("backend_compile_duration") else None)
    base_rss = _rss_bytes()
    if method == "plain":
        def plain(p, xs):
            jac = jax.vmap(jax.grad(lambda q, xi: apply(q, xi[None])[0]), in_axes=(None, 0))(p, xs)
            j = jnp.concatenate([leaf.reshape(xs.shape[0], -1) for leaf in jax.tree_util.tree_leaves(jac)], axis=1)
            return j @ j.T

        compiled = jax.jit(plain).lower(params, x).compile()
        mem = compiled.memory_analysis()
        if mem is not None:
            out["xla_bytes"] = int(mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes)
        fn = lambda: compiled(params, x)  # noqa: E731
    else:
        budget = JACOBIAN_BUDGET if method == "jacobian" else kernels.DEFAULT_MEMORY_BUDGET
        out["memory_budget"] = budget
        fn = lambda: kernels.parametric_kernel(apply, params, x, algorithm=method, memory_budget=budget)  # noqa: E731
    times = []
    t0 = time.perf_counter()
    k = fn()
    k.block_until_ready()
    first = time.perf_counter() - t0
    out["compile_s"] = sum(compile_events)
    for _ in range(repeats):
        k = None  # free the previous K before the next call
        t0 = time.perf_counter()
        k = fn()
        k.block_until_ready()
        times.append(time.perf_counter() - t0)
    out["run_s"] = statistics.median(times) if times else first - out["compile_s"]
    out["runs"] = len(times) or 1
    out["peak_rss_bytes"] = _peak_bytes() - base_rss
    k = np.asarray(k)
    out["k_checksum"] = [float(k[0, 0]), float(k[n // 2, n // 3]), float(k[-1, -1])]
    out["symmetric"] = bool(np.array_equal(k, k.T))
    out["device"] = _device()
    return out


def _fmt_bytes(b) -> str:
    if b is None:
        return "—"
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if args.case:
        print("RESULT " + json.dumps(run_case(args.case, args.quick)), flush=True)
        return 0
    cases = QUICK if args.quick else CASES
    results = {}
    for name in cases:
        cmd = [sys.executable, os.path.abspath(__file__), "--case", name] + (["--quick"] if args.quick else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            results[name] = {"case": name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        else:
            results[name] = json.loads(line[0][len("RESULT "):])
        print(f"  ... {name}: done", file=sys.stderr, flush=True)
    any_ok = next((r for r in results.values() if "device" in r), {})
    print(f"device: {any_ok.get('device', '?')}; float32; ReLU MLPs 1→w→w→1 on a 1-D grid")
    base = results.get("plain-512", {})
    rows = []
    header = ("| case | net | N | P | path | compile s | run s (runs) | speed-up vs plain | peak RSS Δ | XLA bytes | "
              "K symmetric |")
    print(header)
    print("|" + "---|" * 11)
    for name, r in results.items():
        width, n, method, _ = cases[name]
        net = f"1→{width}→{width}→1"
        if "error" in r:
            print(f"| {name} | {net} | {n} | | {method} | failed: {r['error'][:80]} | | | | | |")
            continue
        speed = ""
        if base.get("run_s") and r["width"] == base["width"] and r["n"] == base["n"]:
            speed = f"{base['run_s'] / r['run_s']:.1f}×"
        rows.append(r)
        path = method + (f" ({_fmt_bytes(r['memory_budget'])} budget)" if method == "jacobian" else "")
        print(f"| {name} | {net} | {n} | {r['n_params']:,} | {path} | {r['compile_s']:.2f} | {r['run_s']:.3f} ({r['runs']}) | "
              f"{speed} | {_fmt_bytes(r.get('peak_rss_bytes'))} | {_fmt_bytes(r.get('xla_bytes'))} | "
              f"{'yes' if r['symmetric'] else 'no'} |")
    wide = cases["structured-2048w"]
    p_wide = 2 * wide[0] + wide[0] * wide[0] + 2 * wide[0] + 1
    print(f"| plain-2048w | 1→{wide[0]}→{wide[0]}→1 | {wide[1]} | {p_wide:,} | plain | not run: the N×P Jacobian "
          f"alone is {wide[1] * p_wide * 4 / 1e9:.1f} GB | | | | | |")
    jw = results.get("jacobian-2048w", {})
    if "run_s" in jw:
        est = jw["run_s"] * (wide[1] / jw["n"]) ** 2
        print(f"| jacobian-2048w at N={wide[1]} | 1→{wide[0]}→{wide[0]}→1 | {wide[1]} | {p_wide:,} | jacobian | "
              f"| ≈{est:,.0f} (extrapolated ∝ N² from N={jw['n']}) | | | | |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
