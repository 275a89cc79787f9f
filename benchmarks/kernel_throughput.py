"""Throughput and memory of the parametric kernel K_θ (jaxgan.kernels.parametric_kernel).

One table, one run; every case runs in its own subprocess so that its peak memory is its own.
The baseline, measured in the same run, is the plain recipe: the N×P Jacobian by
`jax.vmap(jax.grad(D))`, then `J @ J.T`, one jitted function.

Default table (issue 11: networks from the ecosystem, float32):

- a flax.linen MLP 1→512→512→1 (ReLU) on a 1-D grid, N = 2048: `parametric_kernel(module,
  variables, x)` — the dense stack is recognised and takes the structured path — against the plain
  recipe on `module.apply`;
- a flax.linen conv net on the 8×8 digit images (`jaxgan.datasets.load_digits`, in [-1, 1];
  conv 3×3 1→8, conv 3×3 8→16 stride 2, dense 256→32→1, ReLU; P = 9 505), N = 2048: the automatic
  choice (`algorithm="auto"`, what `kernels.kernel_choice` reports) and the kernel-vector-product
  path (`"kvp"`, to show why it is not chosen) against the plain recipe; and N = 16384 under the
  default 256 MiB `memory_budget` by the automatic path, where the plain recipe is not run (its
  N×P Jacobian alone exceeds the budget; see the table's last row). Above 1797 points the images
  are repeated with Gaussian noise (σ = 0.05) so that no two inputs are equal.

`--mlp`: the table of issue 4 instead (jaxgan's own MLPs: structured and row-block paths against
the plain recipe, the wide MLP 1→2048→2048→1, N = 16384). `--spectrum`: also run
`benchmarks/kernel_spectrum.py` (the matrix-free top of the spectrum) with the same `--quick`.

"compile" is the XLA compile time of the first call (jax.monitoring's `backend_compile_duration`
events); "run" is the median of the repeated calls after it (slow cases: run once, the first call
minus its compile time). Peak memory is the subprocess's peak resident set size minus its size
before the case (it includes the output K, n1·n2·4 bytes) and, for the plain recipe, XLA's own
`memory_analysis()` of the compiled computation.

    python benchmarks/kernel_throughput.py               # the issue 11 table (several minutes on 2 cores)
    python benchmarks/kernel_throughput.py --quick       # small sizes, a smoke test (< 1 minute)
    python benchmarks/kernel_throughput.py --mlp         # the issue 4 table (jaxgan MLPs)
    python benchmarks/kernel_throughput.py --spectrum    # also the matrix-free spectrum benchmark
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


# ---------------------------------------------------------------------------- issue 4: jaxgan MLPs (--mlp)
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

# ---------------------------------------------------------------------------- issue 11: the ecosystem (default)
# name: (net, width, n, method, repeats); net "flax-mlp" (1→w→w→1) or "digits-conv"
ECO = {
    "flax-mlp-plain": ("flax-mlp", 512, 2048, "plain", 0),
    "flax-mlp-auto": ("flax-mlp", 512, 2048, "auto", 3),
    "conv-plain": ("digits-conv", 0, 2048, "plain", 5),
    "conv-auto": ("digits-conv", 0, 2048, "auto", 5),
    "conv-kvp": ("digits-conv", 0, 2048, "kvp", 0),
    "conv-auto-N16384": ("digits-conv", 0, 16384, "auto", 0),
}
ECO_QUICK = {
    "flax-mlp-plain": ("flax-mlp", 128, 512, "plain", 1),
    "flax-mlp-auto": ("flax-mlp", 128, 512, "auto", 2),
    "conv-plain": ("digits-conv", 0, 256, "plain", 1),
    "conv-auto": ("digits-conv", 0, 256, "auto", 1),
    "conv-kvp": ("digits-conv", 0, 256, "kvp", 0),
    "conv-auto-N16384": ("digits-conv", 0, 1024, "auto", 0),
}


def _listen_compiles() -> list:
    import jax

    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: events.append(secs) if event.endswith("backend_compile_duration") else None)
    return events


def _plain_recipe(apply, params, x, out):
    """The baseline: `vmap(grad)` rows, `J Jᵀ`, one jitted function; XLA's bytes into `out`."""
    import jax
    import jax.numpy as jnp

    def plain(p, xs):
        jac = jax.vmap(jax.grad(lambda q, xi: apply(q, xi[None]).reshape(())), in_axes=(None, 0))(p, xs)
        j = jnp.concatenate([leaf.reshape(xs.shape[0], -1) for leaf in jax.tree_util.tree_leaves(jac)], axis=1)
        return j @ j.T

    compiled = jax.jit(plain).lower(params, x).compile()
    mem = compiled.memory_analysis()
    if mem is not None:
        out["xla_bytes"] = int(mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes)
    return lambda: compiled(params, x)


def _timed(fn, repeats, events, out):
    """Run `fn` once (compile included) and `repeats` more times; fill compile_s, run_s, runs."""
    import numpy as np

    t0 = time.perf_counter()
    k = fn()
    k.block_until_ready()
    first = time.perf_counter() - t0
    out["compile_s"] = sum(events)
    times = []
    for _ in range(repeats):
        k = None  # free the previous K before the next call
        t0 = time.perf_counter()
        k = fn()
        k.block_until_ready()
        times.append(time.perf_counter() - t0)
    out["run_s"] = statistics.median(times) if times else first - out["compile_s"]
    out["runs"] = len(times) or 1
    k = np.asarray(k)
    n = k.shape[0]
    out["k_checksum"] = [float(k[0, 0]), float(k[n // 2, n // 3]), float(k[-1, -1])]
    out["symmetric"] = bool(np.array_equal(k, k.T))


def run_case(name: str, quick: bool) -> dict:
    import jax
    import numpy as np

    from jaxgan import kernels, nets

    width, n, method, repeats = (QUICK if quick else CASES)[name]
    init, apply = nets.mlp((1, width, width, 1), "relu")
    params = init(jax.random.PRNGKey(0))
    x = np.linspace(-3.0, 3.0, n, dtype=np.float32)
    out = {"case": name, "width": width, "n": n, "method": method, "n_params": apply.spec.n_params}
    events = _listen_compiles()
    base_rss = _rss_bytes()
    if method == "plain":
        fn = _plain_recipe(apply, params, x, out)
    else:
        budget = JACOBIAN_BUDGET if method == "jacobian" else kernels.DEFAULT_MEMORY_BUDGET
        out["memory_budget"] = budget
        fn = lambda: kernels.parametric_kernel(apply, params, x, algorithm=method, memory_budget=budget)  # noqa: E731
    _timed(fn, repeats, events, out)
    out["peak_rss_bytes"] = _peak_bytes() - base_rss
    out["device"] = _device()
    return out


def _eco_model(net: str, width: int):
    """`(flax module, input maker)` of an issue-11 network."""
    import flax.linen as nn
    import numpy as np

    if net == "flax-mlp":
        class MLP(nn.Module):
            @nn.compact
            def __call__(self, x):
                x = nn.relu(nn.Dense(width)(x))
                x = nn.relu(nn.Dense(width)(x))
                return nn.Dense(1)(x)

        return MLP(), lambda n: np.linspace(-3.0, 3.0, n, dtype=np.float32)[:, None]

    class DigitsConv(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (3, 3))(x))
            x = nn.relu(nn.Conv(16, (3, 3), strides=(2, 2))(x))
            x = nn.relu(nn.Dense(32)(x.reshape(x.shape[0], -1)))
            return nn.Dense(1)(x)

    def digits(n):
        from jaxgan.datasets import load_digits

        images = load_digits().images  # (1797, 8, 8, 1) in [-1, 1]
        reps = -(-n // images.shape[0])
        x = np.concatenate([images] * reps)[:n].copy()
        extra = x[images.shape[0]:]
        extra += np.random.default_rng(0).normal(0.0, 0.05, extra.shape).astype(np.float32)
        return x

    return DigitsConv(), digits


def run_eco_case(name: str, quick: bool) -> dict:
    import jax

    from jaxgan import kernels

    net, width, n, method, repeats = (ECO_QUICK if quick else ECO)[name]
    module, inputs = _eco_model(net, width)
    x = inputs(n)
    variables = jax.jit(module.init)(jax.random.PRNGKey(0), x[:1])
    params = variables["params"]
    out = {"case": name, "net": net, "width": width, "n": n, "method": method,
           "n_params": sum(a.size for a in jax.tree_util.tree_leaves(params))}
    events = _listen_compiles()
    base_rss = _rss_bytes()
    if method == "plain":
        fn = _plain_recipe(lambda p, xs: module.apply({"params": p}, xs), params, x, out)
    else:
        budget = kernels.DEFAULT_MEMORY_BUDGET
        out["memory_budget"] = budget
        t0 = time.perf_counter()
        choice = kernels.kernel_choice(module, variables, x, memory_budget=budget)
        out["choice_s"] = time.perf_counter() - t0
        out["chosen"] = choice.algorithm if method == "auto" else method
        out["choice"] = str(choice)
        out["estimates"] = {c.algorithm: [c.flops, c.bytes, c.block_size, c.fits] for c in choice.candidates}
        fn = lambda: kernels.parametric_kernel(module, variables, x, algorithm=method, memory_budget=budget)  # noqa: E731
    _timed(fn, repeats, events, out)
    out["peak_rss_bytes"] = _peak_bytes() - base_rss
    out["device"] = _device()
    return out


def _fmt_bytes(b) -> str:
    if b is None:
        return "—"
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def _run_all(cases, quick: bool, flag: str) -> dict:
    results = {}
    for name in cases:
        cmd = [sys.executable, os.path.abspath(__file__), flag, name] + (["--quick"] if quick else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            results[name] = {"case": name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        else:
            results[name] = json.loads(line[0][len("RESULT "):])
        print(f"  ... {name}: done", file=sys.stderr, flush=True)
    return results


def _mlp_table(results, cases) -> None:
    any_ok = next((r for r in results.values() if "device" in r), {})
    print(f"device: {any_ok.get('device', '?')}; float32; ReLU MLPs 1→w→w→1 on a 1-D grid")
    base = results.get("plain-512", {})
    print("| case | net | N | P | path | compile s | run s (runs) | speed-up vs plain | peak RSS Δ | XLA bytes | "
          "K symmetric |")
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


def _eco_table(results, cases) -> None:
    any_ok = next((r for r in results.values() if "device" in r), {})
    print(f"device: {any_ok.get('device', '?')}; float32; flax.linen models; memory_budget 256 MiB")
    print("| case | net | N | P | path (chosen) | choice s | compile s | run s (runs) | speed-up vs plain | "
          "peak RSS Δ | XLA bytes | K symmetric |")
    print("|" + "---|" * 12)
    nets = {"flax-mlp": lambda w: f"flax MLP 1→{w}→{w}→1", "digits-conv": lambda w: "digits conv net"}
    for name, r in results.items():
        net, width, n, method, _ = cases[name]
        label = nets[net](width)
        if "error" in r:
            print(f"| {name} | {label} | {n} | | {method} | failed: {r['error'][:90]} | | | | | | |")
            continue
        base = results.get(f"{'flax-mlp' if net == 'flax-mlp' else 'conv'}-plain", {})
        speed = ""
        if base.get("run_s") and base.get("n") == n:
            speed = f"{base['run_s'] / r['run_s']:.1f}×"
        path = method if method == "plain" else f"{method} ({r['chosen']})" if method == "auto" else method
        choice_s = f"{r['choice_s']:.2f}" if "choice_s" in r else ""
        print(f"| {name} | {label} | {n} | {r['n_params']:,} | {path} | {choice_s} | {r['compile_s']:.2f} | "
              f"{r['run_s']:.3f} ({r['runs']}) | {speed} | {_fmt_bytes(r.get('peak_rss_bytes'))} | "
              f"{_fmt_bytes(r.get('xla_bytes'))} | {'yes' if r['symmetric'] else 'no'} |")
    big = results.get("conv-auto-N16384", {})
    small = results.get("conv-plain", {})
    if "n_params" in big:
        n, p = big["n"], big["n_params"]
        xla = ""
        if small.get("xla_bytes"):
            xla = (f"; XLA's working set of the plain recipe, {_fmt_bytes(small['xla_bytes'])} at N = {small['n']}, "
                   f"scales ∝ N: ≈ {_fmt_bytes(small['xla_bytes'] * n / small['n'])}")
        jac, budget = n * p * 4, big["memory_budget"]
        cmp = "exceeds" if jac > budget else "is within (quick sizes)"
        print(f"| conv-plain-N{n} | digits conv net | {n} | {p:,} | plain | not run: its N×P Jacobian alone "
              f"({_fmt_bytes(jac)}) {cmp} the {_fmt_bytes(budget)} budget{xla} | | | | | | |")
    for name, r in results.items():
        if r.get("choice"):
            print(f"\n{name} — kernel_choice:\n" + "\n".join("    " + ln for ln in r["choice"].splitlines()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test, < 1 minute)")
    ap.add_argument("--mlp", action="store_true", help="the issue 4 table (jaxgan MLPs) instead")
    ap.add_argument("--spectrum", action="store_true", help="also run benchmarks/kernel_spectrum.py")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    ap.add_argument("--eco-case", help=argparse.SUPPRESS)
    ap.add_argument("--only", help="run only these cases (comma-separated names)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if args.case:
        print("RESULT " + json.dumps(run_case(args.case, args.quick)), flush=True)
        return 0
    if args.eco_case:
        print("RESULT " + json.dumps(run_eco_case(args.eco_case, args.quick)), flush=True)
        return 0
    if args.mlp:
        cases = QUICK if args.quick else CASES
        results = _run_all(cases, args.quick, "--case")
        _mlp_table(results, cases)
    else:
        cases = ECO_QUICK if args.quick else ECO
        if args.only:
            cases = {k: v for k, v in cases.items() if k in args.only.split(",")}
        results = _run_all(cases, args.quick, "--eco-case")
        _eco_table(results, cases)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.spectrum:
        return _spectrum(args.quick)
    return 0


def _spectrum(quick: bool) -> int:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_spectrum.py")
    if not os.path.exists(path):
        print("\n--spectrum: benchmarks/kernel_spectrum.py is not there; nothing to run.")
        return 0
    import importlib.util

    spec = importlib.util.spec_from_file_location("kernel_spectrum", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    print()
    return mod.main(["--quick"] if quick else [])


if __name__ == "__main__":
    raise SystemExit(main())
