"""The sample-efficiency experiment's README tables, from its results JSON alone.

:func:`report_tables` (used by :mod:`experiments.report` and printed by
``python -m experiments.sample_efficiency``): per pixel order, test accuracy per model and
training-set size (mean ± std over seeds), and the paired differences of
:data:`COMPARISONS`, one row per comparison and size: the 95% CI over seeds, the 95% CI
over seeds and test examples (crossed; ``"-"`` for results without per-example
correctness) and its p-value, Holm-adjusted over the table (one pixel order's family).
"""

from __future__ import annotations

from experiments.harness.tables import format_table
from experiments.harness.testnoise import family_cells
from experiments.sample_efficiency.config import LABELS
from jaxcnn import stats

__all__ = ["COMPARISONS", "comparison_table", "report_tables", "table"]

#: The paired comparisons ``(a, b)``: ``a − b`` on the same seeds, sizes and orders.
COMPARISONS = (("s-conv", "s-fc"), ("s-fc-blasso", "s-fc"), ("s-conv", "s-fc-blasso"),
               ("s-fc-blasso", "s-local"))


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
    """Rows ``a − b`` at each training-set size ``n`` (in :data:`COMPARISONS` order, then
    n): the paired difference with its 95% CI over seeds, the 95% CI over seeds and test
    examples, and that test's p-value Holm-adjusted over the table's rows
    (:func:`~experiments.harness.testnoise.family_cells`)."""
    found = []
    for a, b in COMPARISONS:
        for n in sizes:
            c = next((c for c in comps if (c["order"], c["a"], c["b"], c["n"])
                      == (order, a, b, n)), None)
            if c is not None:
                found.append(c)
    cells = family_cells([c.get("crossed") for c in found], digits=3, mean=False)
    return format_table([{"comparison": f"{LABELS[c['a']]} − {LABELS[c['b']]}",
                          "train n": c["n"],
                          "difference [95% CI, seeds]": stats.format_ci(c["diff"], digits=3),
                          **cell} for c, cell in zip(found, cells)])


def report_tables(results: dict) -> dict[str, str]:
    """README tables: accuracy per order and the paired comparisons per order."""
    out = {}
    for order in results["orders"]:
        out[f"sample_efficiency.{order}"] = table(results["summary"], order)
        out[f"sample_efficiency.{order}.comparisons"] = comparison_table(
            results["comparisons"], order, results["sizes"])
    return out
