"""Merges the outputs of ``benchmarks/gpu_run.sh`` into one JSON and checks issue 26's targets.

    python -m benchmarks.gpu_report OUT      # reads OUT/{preflight,kernels,train,sfc,emergence}.json
                                             # writes OUT/gpu_results.json, prints targets
"""

from __future__ import annotations

import json
import os
import sys

PARTS = ("preflight", "kernels", "train", "sfc", "emergence")

#: Issue 26's targets: ``name: (bound, "<=" | ">=")``.
TARGETS = {
    "conv fwd+bwd float32 max ratio (ResNet shapes)": (1.25, "<="),
    "conv fwd+bwd bfloat16 max ratio (ResNet shapes)": (1.25, "<="),
    "local_conv fwd+bwd float32 median ratio": (0.3, "<="),
    "S-FC bf16 step MFU": (0.40, ">="),
    "train_seeds 8 seeds / 1 seed wall": (2.0, "<="),
    "sharing_emergence paper preset, projected minutes": (8.0, "<="),
}


def _load(path: str):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def measured(parts: dict) -> dict:
    """The numbers the targets are about, from whatever parts exist."""
    out = {}
    summary = (parts.get("kernels") or {}).get("summary", {})
    for name in TARGETS:
        if name in summary:
            out[name] = summary[name]
    ratios = (parts.get("train") or {}).get("ratios", {})
    if "seeds8_vs_seeds1_wall" in ratios:
        out["train_seeds 8 seeds / 1 seed wall"] = ratios["seeds8_vs_seeds1_wall"]
    for row in (parts.get("sfc") or {}).get("rows", []):
        if row["dtype"] == "bfloat16":
            out["S-FC bf16 step MFU"] = row["mfu_vs_bf16_peak"]
    emergence = parts.get("emergence") or {}
    projection = emergence.get("projection")
    if projection and emergence["meta"]["preset"] == "paper":
        out["sharing_emergence paper preset, projected minutes"] = projection["total_minutes"]
    return out


def verdicts(values: dict) -> dict:
    out = {}
    for name, (bound, op) in TARGETS.items():
        if name not in values:
            out[name] = "not measured"
            continue
        ok = values[name] <= bound if op == "<=" else values[name] >= bound
        out[name] = "met" if ok else "missed"
    return out


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        raise SystemExit("usage: python -m benchmarks.gpu_report OUT (a folder)")
    folder = argv[0]
    parts = {p: _load(os.path.join(folder, f"{p}.json")) for p in PARTS}
    status = {p: _load(os.path.join(folder, f"{p}.status.json")) for p in PARTS}
    values = measured(parts)
    result = {"parts": parts, "status": status, "measured": values,
              "targets": {k: list(v) for k, v in TARGETS.items()},
              "verdicts": verdicts(values)}
    with open(os.path.join(folder, "gpu_results.json"), "w") as f:
        json.dump(result, f, indent=1)
    pre = parts.get("preflight")
    print("preflight:", "not run" if pre is None else "passed" if pre.get("passed") else
          f"FAILED ({[c for c in pre['checks'] if not c['ok']]})")
    for name, verdict in result["verdicts"].items():
        bound, op = TARGETS[name]
        value = f"{values[name]:.3f}" if name in values else "-"
        print(f"{name:50s} {value:>8s}  target {op} {bound}: {verdict}")
    print(f"wrote {os.path.join(folder, 'gpu_results.json')}")
    return result


if __name__ == "__main__":
    main()
