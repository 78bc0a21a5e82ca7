"""The GPU measurement script (issues 15, 26) end to end at tiny sizes on the CPU."""

import json
import os
import re
import subprocess
import sys

import pytest

from benchmarks import emergence_part, preflight
from benchmarks import run as bench_run
from experiments.sharing_emergence.config import MODELS, PRESETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_gpu_run_script_tiny_writes_one_json(tmp_path):
    out = tmp_path / "gpu"
    env = dict(os.environ, PYTHON=sys.executable, JAX_PLATFORMS="cpu")
    proc = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu_run.sh"), str(out),
                           "--tiny"], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "gpu_results.json").read_text())
    assert result["parts"]["preflight"]["passed"] is True
    assert [c["name"] for c in result["parts"]["preflight"]["checks"]] == [
        "versions", "tiny kernels", "tiny train", "tiny sfc", "tiny emergence", "tests"]
    for part in ("preflight", "kernels", "train", "sfc", "emergence"):
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
    emergence = result["parts"]["emergence"]
    assert {r["model"] for r in emergence["rows"]} == set(PRESETS["smoke"].models)
    assert all(r["epoch_s"] > 0 and r["compile_s"] >= 0 for r in emergence["rows"])
    assert emergence["projection"]["total_s"] > 0
    # a smoke projection is not the paper preset's: the target stays unmeasured
    assert result["verdicts"]["sharing_emergence paper preset, projected minutes"] == \
        "not measured"


def test_gpu_run_measured_steps_fit_seven_minutes():
    """The measured steps' time limits (the script without --tiny) add up to <= 420 s."""
    with open(os.path.join(ROOT, "benchmarks", "gpu_run.sh")) as f:
        script = f.read()
    measured = script.split("else\n", 1)[1].split("\nfi\n", 1)[0]
    limits = {m[0]: int(m[1]) for m in re.findall(r"step (\w+) (\d+) ", measured)}
    assert set(limits) == {"preflight", "kernels", "train", "sfc", "emergence"}
    assert sum(limits.values()) <= 420, limits


def test_preflight_without_a_gpu_stops_with_one_line(tmp_path, capsys):
    assert preflight.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "PREFLIGHT FAILED at 'versions' (backend: expected gpu, got 'cpu')" in out
    record = json.loads((tmp_path / "preflight.json").read_text())
    assert record["passed"] is False and record["versions"]["jax"]
    assert [c["name"] for c in record["checks"]] == ["versions"]  # nothing ran after it


def test_emergence_projection_counts_every_run_of_the_paper_preset():
    paper = PRESETS["paper"]
    rows = {k: {"compile_s": 2.0, "epoch_s": 0.01, "measure_s": 1.0} for k in MODELS}
    p = emergence_part.project(rows, paper)
    runs = 5 * 4 + 2  # four models at five doses, two shuffled controls
    assert p["runs"] == runs == len(p["per_run_s"])
    per_run = 2.0 + paper.epochs * 0.01 + 1.0
    lam_map = len(paper.lambda_grid) * (2.0 + paper.epochs * 0.01)
    assert p["total_s"] == pytest.approx(runs * per_run + lam_map)
    assert p["met"] == (p["total_minutes"] <= emergence_part.TARGET_MINUTES)


def test_kernels_targets_first_puts_the_target_cases_in_front():
    cases = bench_run.suite_cases("cpu", {"conv", "local_conv", "extract_patches"})
    ranked = sorted(cases, key=bench_run._target_rank)
    ranks = [bench_run._target_rank(c) for c in ranked]
    assert ranks == sorted(ranks) and ranks[0] == 0 and 2 in ranks
    first = [c for c in ranked if bench_run._target_rank(c) == 0]
    assert all(c.section == "conv" and c.mode == "fwd+bwd" for c in first)
