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
timeout 150 $PY benchmarks/train_throughput.py --steps 2000 --seeds 8 --conv lax 2>&1 | tee "$OUT/train_8_lax.txt"
timeout 110 $PY benchmarks/train_throughput.py --steps 2000 --seeds 8 --conv matmul --skip bare,map 2>&1 \
  | tee "$OUT/train_8_matmul.txt"
timeout 100 $PY benchmarks/train_throughput.py --steps 500 --seeds 32 --conv lax --skip bare,map 2>&1 \
  | tee "$OUT/train_32_lax.txt"
timeout 150 $PY benchmarks/sweep_throughput.py --n-side 1024 --no-memory --rounds 1 --repeats 2 2>&1 \
  | tee "$OUT/sweep.txt"
