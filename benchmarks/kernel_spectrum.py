"""The top of a kernel's spectrum, matrix-free (jaxgan.kernels.top_spectrum), against the dense route.

One table, one run; every case runs in its own subprocess so that its peak memory is its own
(`resource.getrusage` maxrss of the child, which includes the Python interpreter and JAX, ~0.3 GiB):

- `top-20, N = 65536, float32`: the top 20 eigenpairs of the kernel operator `K W` (trapezoid
  weights on [-3, 3]) of the jaxgan MLP 1→512→512→1 (ReLU), by Lanczos on kernel-vector products
  (structured products: the MLP's per-layer factors). The dense route would hold a 16 GiB `K`
  (float32) and need about 1.4·10¹⁴ flops to form it: not run.
- `top-20, N = 4096, float64` against the dense route in the same run: `parametric_kernel`
  (structured) + `spectrum` (`numpy.linalg.eigh`), max relative difference of the top 20 eigenvalues
  and the time ratio.
- `generic products` (optional, `--generic`): the same MLP written as a plain function (so the
  products are the linearised vjp and its transpose, the path of any network) at N = 16384.

"wall" is the whole `top_spectrum` call, compilation and the factors included; "product" is the
median time of one kernel-vector product measured afterwards, so that `wall − n_matvecs·product`
is the fixed cost (compile, factors). Residuals are the Lanczos estimates `‖T φ − λ φ‖ / λ_1`.

    python benchmarks/kernel_spectrum.py            # the table (about 3 minutes on 2 cores)
    python benchmarks/kernel_spectrum.py --quick    # small sizes, a smoke test
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

CASES = {
    "large": dict(n=65536, k=20, x64=False, dense=False, generic=False),
    "agree": dict(n=4096, k=20, x64=True, dense=True, generic=False),
    "generic": dict(n=16384, k=20, x64=False, dense=False, generic=True),
}
QUICK = {
    "large": dict(n=4096, k=10, x64=False, dense=False, generic=False),
    "agree": dict(n=512, k=10, x64=True, dense=True, generic=False),
    "generic": dict(n=1024, k=10, x64=False, dense=False, generic=True),
}


def _device() -> str:
    import jax

    d = jax.devices()[0]
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    kind = d.device_kind if d.platform != "cpu" else (cpu or platform.processor() or "cpu")
    return f"{d.platform}: {kind} ({os.cpu_count()} cores visible), jax {jax.__version__}"


def _run_case(n: int, k: int, x64: bool, dense: bool, generic: bool, width: int = 512) -> dict:
    """One case in this process (called in a fresh subprocess by `rows`)."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", x64)  # a benchmark script, not the library
    import jaxgan
    from jaxgan.kernels import eigen

    init, apply = jaxgan.nets.mlp((1, width, width, 1))
    params = init(jax.random.PRNGKey(0))
    model = (lambda p, xx: apply(p, xx)) if generic else apply
    x = np.linspace(-3.0, 3.0, n)
    w = np.full(n, 6.0 / (n - 1))
    w[[0, -1]] *= 0.5
    xs = x[:, None].astype(np.float64 if x64 else np.float32)
    t0, c0 = time.perf_counter(), time.process_time()
    top = jaxgan.kernels.top_spectrum(model, params, xs, k, weights=w)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # one product in steady state (the jitted product is compiled by now)
    plan = eigen.make_plan("bench", model, params, xs, None, None, None, None, None, None)
    kind, data = eigen._operator(plan)
    sw = jax.numpy.asarray(np.sqrt(w), plan.dtype)
    u = jax.numpy.asarray(np.random.default_rng(0).standard_normal(n), plan.dtype)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        eigen._product(kind, data, sw, u).block_until_ready()
        times.append(time.perf_counter() - t)
    row = {"n": n, "k": k, "dtype": "float64" if x64 else "float32", "wall": wall, "cpu": cpu, "n_matvecs": top.n_matvecs,
           "product_s": statistics.median(times), "product": top.product, "converged": top.converged,
           "max_residual": float(np.max(top.residuals)), "tol": top.tol,
           "lambda_ratio": float(top.eigenvalues[-1] / top.eigenvalues[0]),
           "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if dense:
        t, c = time.perf_counter(), time.process_time()
        kmat = np.asarray(jaxgan.kernels.parametric_kernel(apply, params, xs))
        sp = jaxgan.kernels.spectrum(kmat, w)
        row["dense_s"], row["dense_cpu"] = time.perf_counter() - t, time.process_time() - c
        row["max_rel_diff"] = float(np.max(np.abs(top.eigenvalues / sp.eigenvalues[:k] - 1)))
        row["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def rows(quick: bool = False, generic: bool = False) -> list[dict]:
    """The rows of the table, each case in a fresh subprocess: a list of dicts (see `_run_case`)."""
    cases = QUICK if quick else CASES
    out = []
    for name, case in cases.items():
        if case["generic"] and not generic:
            continue
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", json.dumps(case)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"case {name} failed:\n{proc.stderr[-4000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["case"] = name
        print(f"[{name}] {json.dumps(row)}", file=sys.stderr, flush=True)
        out.append(row)
    return out


def table(rows_: list[dict], device: str) -> str:
    """The rows as one text table."""
    head = (f"{'case':<9}{'N':>7}{'k':>4}{'dtype':>9}{'product':>12}{'wall s':>9}{'cpu s':>8}{'matvecs':>9}{'s/product':>11}"
            f"{'max resid':>11}{'λk/λ1':>10}{'peak GiB':>10}{'dense s':>9}{'cpu s':>8}{'ratio':>8}{'max rel diff':>14}")
    lines = [f"top_spectrum (Lanczos) on the jaxgan MLP 1→512→512→1, ReLU; {device}", head]
    for r in rows_:
        dense = (f"{r['dense_s']:>9.1f}{r['dense_cpu']:>8.1f}{r['dense_s'] / r['wall']:>7.1f}×"
                 f"{r['max_rel_diff']:>14.2e}" if "dense_s" in r else f"{'—':>9}{'—':>8}{'—':>8}{'—':>14}")
        lines.append(f"{r['case']:<9}{r['n']:>7}{r['k']:>4}{r['dtype']:>9}{r['product']:>12}{r['wall']:>9.1f}{r['cpu']:>8.1f}"
                     f"{r['n_matvecs']:>9}{r['product_s']:>11.3f}{r['max_residual']:>11.1e}{r['lambda_ratio']:>10.1e}"
                     f"{r['peak_gib']:>10.2f}" + dense)
    lines.append("wall: the top_spectrum call (compile and factors included); cpu: its process CPU time (all "
                 "threads; on a machine shared with other jobs cpu/cores is the better estimate of a quiet wall)")
    lines.append("ratio: dense route wall time (parametric_kernel + spectrum's eigh) / matrix-free wall time at the "
                 "same N (> 1: matrix-free faster); max rel diff: top-k eigenvalues against the dense eigh; "
                 "residuals relative to λ_1; converged: " + ", ".join(f"{r['case']}={r['converged']}" for r in rows_))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.add_argument("--generic", action="store_true", help="also the generic (linearised) products at N = 16384")
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case is not None:
        print(json.dumps(_run_case(**json.loads(args.case))))
        return 0
    print(table(rows(args.quick, args.generic), _device()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
