#!/usr/bin/env bash
# The whole GPU measurement of issue 15 as one script (< 8 min on an H100/H200):
#   1. kernels vs lax (= cuDNN): conv fwd+bwd at the ResNet shapes (batch 128) and the
#      S-CONV first layer, float32 + bfloat16; local_conv; extract_patches; memory;
#   2. the MNIST-1D CNN recipe through train_seeds with 1, 8 and 64 seeds (+ the hand-written
#      lax.scan floor);
#   3. Neyshabur's S-FC alpha=150 beta-LASSO step at 32x32x3, batch 512, bf16 + f32,
#      MFU against the measured bf16 matmul peak, projected 400/4000-epoch wall time.
# Everything lands in OUT/ and is merged into OUT/gpu_results.json.
#
# Usage:  bash benchmarks/gpu_run.sh OUT [--tiny]     (--tiny: CPU-sized dry run)
# Wheels: packages missing on the GPU machine (mnist1d) may lie in .whl/ as wheels:
#   python3 -m pip download --no-deps -d .whl mnist1d==0.0.2.post1
set -uo pipefail
OUT=${1:?usage: gpu_run.sh OUT [--tiny]}
TINY=${2:-}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1 && ! $PY -c "import mnist1d" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
$PY -c "import jax; print('devices:', jax.devices())" | tee "$OUT/devices.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.txt" 2>&1 || true

step() {  # step NAME TIMEOUT_S COMMAND...: run, log, keep going on failure
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "== $name: $*"
  timeout "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  local rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0))}" > "$OUT/$name.status.json"
  echo "== $name: rc=$rc in $((SECONDS - t0)) s"
}

if [ "$TINY" = "--tiny" ]; then
  step kernels 300 $PY -m benchmarks.run --suite gpu --only conv,local_conv --filter mnist1d \
    --repeats 1 --sample-ms 5 --out "$OUT/kernels.json"
  step train 300 $PY -m benchmarks.train_suite --quick --seeds 1,2 --no-sfc --out "$OUT/train.json"
  step sfc 300 $PY -m benchmarks.sfc_step --tiny --out "$OUT/sfc.json"
else
  step kernels 240 $PY -m benchmarks.run --suite gpu --out "$OUT/kernels.json"
  step train 150 $PY -m benchmarks.train_suite --seeds 1,8,64 --no-sfc --out "$OUT/train.json"
  step sfc 120 $PY -m benchmarks.sfc_step --out "$OUT/sfc.json"
fi
$PY -m benchmarks.gpu_report "$OUT"
