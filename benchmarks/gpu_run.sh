#!/usr/bin/env bash
# The whole GPU measurement (issue 26) as one script; its steps' time limits add up to
# 7 minutes (420 s), which leaves room for one rerun inside a 15-minute device budget:
#   0. preflight (100 s; 73 s on the 2-core CPU): versions, every step below at tiny sizes, a quick test subset
#      (benchmarks/preflight.py); anything failing stops the script here with one line;
#   1. kernels (110 s): conv fwd+bwd vs lax (= cuDNN) at the ResNet shapes (batch 128),
#      the S-CONV first layer and MNIST-1D, float32 + bfloat16, then local_conv; the
#      JSON is rewritten after every case, so a time limit keeps what was measured;
#   2. train (70 s): the MNIST-1D CNN recipe through train_seeds with 1, 8 and 64 seeds
#      (+ the hand-written lax.scan floor and 8 sequential runs);
#   3. sfc (55 s): Neyshabur's S-FC alpha=150 beta-LASSO step at 32x32x3, batch 512,
#      bf16 + f32, MFU against the measured bf16 matmul peak, 400/4000-epoch projections;
#   4. emergence (85 s): the sharing_emergence paper preset's four models, 10 seeds, a few
#      epochs each, and the whole preset's wall time projected from them.
# Everything lands in OUT/ and is merged into OUT/gpu_results.json.
#
# Usage:  bash benchmarks/gpu_run.sh OUT [--tiny]     (--tiny: the CPU dry run)
# Wheels: mnist1d and mlxtend are not on the GPU image; `make gpu-wheels` puts them in
# .whl/ (git-ignored), and the device call carries .whl.
set -uo pipefail
OUT=${1:?usage: gpu_run.sh OUT [--tiny]}
TINY=${2:-}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1 && ! $PY -c "import mnist1d, mlxtend" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.txt" 2>&1 || true

step() {  # step NAME TIMEOUT_S COMMAND...: run, log, keep going on failure
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "== $name (limit ${limit} s): $*"
  timeout "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  local rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0)), \"limit\": $limit}" \
    > "$OUT/$name.status.json"
  echo "== $name: rc=$rc in $((SECONDS - t0)) s"
  return $rc
}

if [ "$TINY" = "--tiny" ]; then
  step preflight 900 $PY -m benchmarks.preflight "$OUT" --cpu-ok || {
    echo "preflight failed: see $OUT/preflight.log"; $PY -m benchmarks.gpu_report "$OUT"; exit 1; }
  step kernels 300 $PY -m benchmarks.run --suite gpu --only conv,local_conv --filter mnist1d \
    --repeats 1 --sample-ms 5 --out "$OUT/kernels.json"
  step train 300 $PY -m benchmarks.train_suite --quick --seeds 1,2 --no-sfc --no-torch \
    --out "$OUT/train.json"
  step sfc 300 $PY -m benchmarks.sfc_step --tiny --out "$OUT/sfc.json"
  step emergence 300 $PY -m benchmarks.emergence_part --tiny --out "$OUT/emergence.json"
else
  step preflight 100 $PY -m benchmarks.preflight "$OUT" || {
    echo "preflight failed (see $OUT/preflight.log): the measured steps were not run"
    $PY -m benchmarks.gpu_report "$OUT"; exit 1; }
  step kernels 110 $PY -m benchmarks.run --suite gpu --only conv,local_conv --mode fwd+bwd \
    --targets-first --repeats 5 --sample-ms 20 --out "$OUT/kernels.json"
  step train 70 $PY -m benchmarks.train_suite --seeds 1,8,64 --no-sfc --no-torch \
    --out "$OUT/train.json"
  step sfc 55 $PY -m benchmarks.sfc_step --out "$OUT/sfc.json"
  step emergence 85 $PY -m benchmarks.emergence_part --epochs 8 --out "$OUT/emergence.json"
fi
$PY -m benchmarks.gpu_report "$OUT"
