"""The GPU measurement script (issue 15) end to end at tiny sizes on the CPU."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_gpu_run_script_tiny_writes_one_json(tmp_path):
    out = tmp_path / "gpu"
    env = dict(os.environ, PYTHON=sys.executable, JAX_PLATFORMS="cpu")
    proc = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu_run.sh"), str(out),
                           "--tiny"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "gpu_results.json").read_text())
    for part in ("kernels", "train", "sfc"):
        assert result["status"][part]["rc"] == 0, (part, proc.stdout[-3000:])
        assert result["parts"][part] is not None, part
    rows = {r["case"]: r for r in result["parts"]["train"]["rows"]}
    assert {"cnn-floor", "cnn-train", "cnn-seeds-1", "cnn-seeds-2", "cnn-sequential-2"} <= set(rows)
    assert all(r["steady_ms_per_step"] > 0 and r["gflops"] > 0 for r in rows.values())
    sfc = {r["dtype"]: r for r in result["parts"]["sfc"]["rows"]}
    assert set(sfc) == {"bfloat16", "float32"}
    assert all(0 < r["mfu_vs_bf16_peak"] and r["projected_hours"]["4000"] > 0
               for r in sfc.values())
    assert result["verdicts"]["S-FC bf16 step MFU"] in ("met", "missed")
    assert result["verdicts"]["conv fwd+bwd float32 max ratio (ResNet shapes)"] == "not measured"
    assert "conv fwd+bwd float32 median ratio" in result["parts"]["kernels"]["summary"]
