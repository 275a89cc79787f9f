"""Wall time of every `jaxgan` command in a fresh process: without the cache, cold, warm.

For each command, at the size a new user runs it (the README's commands), three fresh processes:

- `no cache`: `jaxgan --no-cache ...` (the baseline: what every run cost before the cache);
- `cold`: with the persistent compilation cache in a new, empty folder (compiles and writes it);
- `warm`: the same folder again (loads what the cold run compiled).

Printed per command: wall seconds of each, the CPU seconds (user + system) of the process, and warm /
no-cache as a ratio. The difference between the cold and warm runs is (about) XLA's compile time; what
is left warm is Python's import, tracing, the run itself and the output. The first row is `import
jaxgan.cli` alone, the floor of every command.

Other jobs on a shared machine slow every column alike: compare the ratios, and read CPU seconds
beside the wall time (the load average is printed before and after).

Usage: `python benchmarks/startup.py [--only reproduce,table] [--list]`
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# name -> the arguments after `jaxgan` ({tmp}: a scratch folder of the run).
COMMANDS = {
    "games": ["games"],
    "stability": ["stability", "minimax", "--pd", "0.2"],
    "portrait": ["portrait", "minimax", "--start", "0.75", "0.9", "--out", "{tmp}/portrait.png"],
    "reproduce": ["reproduce", "--out", "{tmp}/figures", "--quiet"],
    "table convergence": ["table", "convergence", "--quiet"],
    "basins": ["basins", "minimax", "--pd", "0.2", "--steps", "20000", "--lr", "0.01", "--d", "0.01", "0.99", "128",
               "--pg", "0.01", "2", "128", "--out", "{tmp}/basins.npz"],
    "sweep": ["sweep", "minimax", "--vary", "lr", "0.1", "0.6", "6", "--steps", "4096", "--out", "{tmp}/sweep.npz"],
    "kernel": ["kernel", "--act", "relu", "--width", "512", "--bn", "--out", "{tmp}/kernel"],
    "experiment batchnorm --quick": ["experiment", "batchnorm", "--quick", "--quiet"],
}


def _run(argv: list[str], env: dict, tmp: str) -> tuple[float, float, int]:
    """(wall s, CPU s, exit code) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([a.replace("{tmp}", tmp) for a in argv], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        sys.stderr.write(f"  {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}\n")
    return wall, cpu, proc.returncode


def _device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform} ({d.device_kind}), {os.cpu_count()} cores, {platform.processor() or platform.machine()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None, help="comma-separated command names (see --list)")
    ap.add_argument("--list", action="store_true", help="list the commands and exit")
    args = ap.parse_args()
    if args.list:
        for name, argv in COMMANDS.items():
            print(f"{name:30s} jaxgan {' '.join(argv)}")
        return 0
    names = list(COMMANDS) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown:
        ap.error(f"unknown command(s) {unknown}; see --list")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXGAN_")}
    env.setdefault("MPLBACKEND", "Agg")
    jaxgan = [sys.executable, "-m", "jaxgan.cli"]
    print(f"device: {_device()}; jax {__import__('jax').__version__}; load average before: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    header = f"{'command':30s} {'no cache':>9s} {'cold':>9s} {'warm':>9s} {'warm/no':>8s}   CPU s: no / cold / warm"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="jaxgan-startup-") as root:
        wall, cpu, _ = _run([sys.executable, "-c", "import jaxgan.cli"], env, root)
        print(f"{'(import jaxgan.cli)':30s} {wall:9.1f} {'':9s} {'':9s} {'':8s}   {cpu:.1f}")
        for name in names:
            times = {}
            for mode in ("no cache", "cold", "warm"):
                tmp = tempfile.mkdtemp(dir=root)
                run_env = {**env, "JAXGAN_CACHE_DIR": os.path.join(root, f"cache-{name.replace(' ', '-')}")}
                flags = ["--no-cache"] if mode == "no cache" else []
                times[mode] = _run(jaxgan + flags + COMMANDS[name], run_env, tmp)
                shutil.rmtree(tmp, ignore_errors=True)
            failed = any(t[2] for t in times.values())
            w = {m: t[0] for m, t in times.items()}
            c = " / ".join(f"{t[1]:.1f}" for t in times.values())
            print(f"{name:30s} {w['no cache']:9.1f} {w['cold']:9.1f} {w['warm']:9.1f} "
                  f"{w['warm'] / w['no cache']:8.2f}   {c}{'   (FAILED: see stderr)' if failed else ''}", flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
