"""The sample-efficiency experiment's README tables, from its results JSON alone.

:func:`report_tables` (used by :mod:`experiments.report` and printed by
``python -m experiments.sample_efficiency``): per pixel order, test accuracy per model and
training-set size (mean ± std over seeds), and the paired differences of
:data:`COMPARISONS` with their 95% CI.
"""

from __future__ import annotations

from experiments.harness.tables import format_table
from experiments.sample_efficiency.config import LABELS
from jaxcnn import stats

__all__ = ["COMPARISONS", "comparison_table", "report_tables", "table"]

#: The paired comparisons ``(a, b)``: ``a − b`` on the same seeds, sizes and orders.
COMPARISONS = (("s-conv", "s-fc"), ("s-fc-blasso", "s-fc"), ("s-conv", "s-fc-blasso"))


def table(summary: dict, order: str) -> str:
    """One row per model, one column per training-set size (mean ± std test accuracy)."""
    rows = []
    for m, s in summary[order].items():
        row = {"model": s["label"], "seeds": max(s["seeds"], default=0)}
        for n, mean, std, k in zip(s["n"], s["test_acc_mean"], s["test_acc_std"], s["seeds"]):
            row[f"n={n}"] = "-" if mean is None else stats.format_mean_std(
                {"mean": mean, "std": std, "n": k}, digits=3)
        rows.append(row)
    return format_table(rows)


def comparison_table(comps: list[dict], order: str, sizes) -> str:
    """Rows ``a − b``, columns n: the paired difference with its 95% CI."""
    rows = []
    for a, b in COMPARISONS:
        row = {"comparison": f"{LABELS[a]} − {LABELS[b]}"}
        for n in sizes:
            c = next((c for c in comps if (c["order"], c["a"], c["b"], c["n"])
                      == (order, a, b, n)), None)
            row[f"n={n}"] = "-" if c is None else stats.format_ci(c["diff"], digits=3)
        if len(row) > 1 and any(v != "-" for k, v in row.items() if k != "comparison"):
            rows.append(row)
    return format_table(rows)


def report_tables(results: dict) -> dict[str, str]:
    """README tables: accuracy per order and the paired comparisons per order."""
    out = {}
    for order in results["orders"]:
        out[f"sample_efficiency.{order}"] = table(results["summary"], order)
        out[f"sample_efficiency.{order}.comparisons"] = comparison_table(
            results["comparisons"], order, results["sizes"])
    return out
