"""Markdown tables from ``benchmarks.run --out`` JSON files.

    python -m benchmarks.report after.json                 # one run
    python -m benchmarks.report before.json after.json     # side by side (ratios)
"""

from __future__ import annotations

import json
import sys


def _key(r):
    return (r["section"], r["name"], r.get("mode", ""), r.get("dtype", ""))


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def table(runs: list[dict], labels: list[str]) -> str:
    rows = {}
    order = []
    for run in runs:
        for r in run["rows"]:
            if "ratio" not in r and "mem_ratio" not in r:
                continue
            k = _key(r)
            if k not in rows:
                rows[k] = {}
                order.append(k)
    for i, run in enumerate(runs):
        for r in run["rows"]:
            if _key(r) in rows:
                rows[_key(r)][i] = r
    head = ["section", "case", "mode", "dtype"]
    for lab in labels:
        head += [f"ratio {lab}", f"mem {lab}"]
    last = labels[-1]
    head += [f"jaxcnn ms ({last})", f"lax ms ({last})", f"err ({last})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in order:
        cells = list(k)
        for i in range(len(runs)):
            r = rows[k].get(i, {})
            cells += [_fmt(r.get("ratio")), _fmt(r.get("mem_ratio"))]
        r = rows[k].get(len(runs) - 1, {})
        cells += [_fmt(r.get("t_jaxcnn_ms"), ".3g"), _fmt(r.get("t_lax_ms"), ".3g"),
                  _fmt(r.get("err"), ".1e")]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    keys = []
    for run in runs:
        keys += [k for k in run["summary"] if k not in keys]
    lines.append("| summary | " + " | ".join(labels) + " | target |")
    lines.append("|---|" + "---|" * (len(labels) + 1))
    targets = runs[-1].get("targets", {})
    for k in keys:
        vals = [_fmt(run["summary"].get(k)) for run in runs]
        t = targets.get(k)
        lines.append(f"| {k} | " + " | ".join(vals) + f" | {'<= ' + str(t) if t else ''} |")
    return "\n".join(lines)


def main(argv=None):
    paths = (argv if argv is not None else sys.argv[1:])
    if not paths:
        print(__doc__)
        return
    runs = [json.load(open(p)) for p in paths]
    labels = ["before", "after"] if len(runs) == 2 else [str(i) for i in range(len(runs))]
    if len(runs) == 1:
        labels = ["run"]
    print(table(runs, labels))


if __name__ == "__main__":
    main()
