#!/usr/bin/env bash
# The benchmarks on a GPU machine, as one script (each with its own time limit, so that one slow part
# cannot eat the others' time). Run from the repository root; writes every table to $OUT (or ./out).
# The machine needs jax with CUDA, flax, optax, scikit-learn, numba and a C compiler; jaxgan is used
# from the working tree (PYTHONPATH), not installed.
set -u
OUT=${OUT:-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PY:-python3}
{ nvidia-smi -L; nproc; $PY -c "import jax, flax, optax; print('jax', jax.__version__, jax.devices())"; } \
  2>&1 | tee "$OUT/device.txt"
timeout 200 $PY benchmarks/train_throughput.py --steps 2000 --seeds 8 2>&1 | tee "$OUT/train_8.txt"
timeout 150 $PY benchmarks/train_throughput.py --steps 1000 --seeds 64 2>&1 | tee "$OUT/train_64.txt"
timeout 200 $PY benchmarks/sweep_throughput.py --n-side 1024 --no-memory --rounds 1 --repeats 2 2>&1 \
  | tee "$OUT/sweep.txt"
timeout 90 $PY benchmarks/kernel_throughput.py --quick 2>&1 | tee "$OUT/kernel.txt"
