"""The MNIST-1D table experiment's README tables, from its results JSON alone.

:func:`report_tables` (used by :mod:`experiments.report` and printed by
``python -m experiments.mnist1d_table``) renders ``mnist1d_table.main`` (test accuracy in
%, mean ± std over seeds, next to the published numbers) and
``mnist1d_table.comparisons`` (paired differences in points: the 95% CI over seeds, the
95% CI over seeds and test examples -- ``"-"`` for results without per-example
correctness -- and its p-value, Holm-adjusted over the table).
"""

from __future__ import annotations

from experiments.harness.tables import format_table
from experiments.harness.testnoise import family_cells
from jaxcnn import stats

__all__ = ["report_tables", "table_rows"]


def _cell(r: dict, key: str) -> str:
    if r.get(key) is None:
        return "-"
    if r.get(f"{key}_n"):
        return stats.format_mean_std({"mean": r[key], "std": r[f"{key}_std"],
                                      "n": r[f"{key}_n"]}, digits=1)
    return f"{r[key]:.1f}"


def _within(v) -> str:
    return "-" if v is None else ("yes" if v else "no")


def table_rows(rows: list[dict]) -> list[dict]:
    """The Markdown rows of the main table (accuracy in %, mean ± std over seeds)."""
    return [{"model": r["label"], "recipe": r["variant"] or "published only",
             "n": r.get("ours_normal_n") or "-",
             "ours": _cell(r, "ours_normal"), "published": _cell(r, "published_normal"),
             "within 1 sd": _within(r["within_1sd_normal"]),
             "ours shuffled": _cell(r, "ours_shuffled"),
             "published shuffled": _cell(r, "published_shuffled"),
             "within 1 sd (shuffled)": _within(r["within_1sd_shuffled"]),
             "params": r["params"] if r["params"] is not None else "-"} for r in rows]


def report_tables(results: dict) -> dict[str, str]:
    """README tables: ``mnist1d_table.main`` and ``mnist1d_table.comparisons``."""
    out = {"mnist1d_table.main": format_table(table_rows(results["table"]))}
    comps = results.get("comparisons")
    if comps:
        cells = family_cells([c.get("crossed") for c in comps], digits=1, mean=False)
        out["mnist1d_table.comparisons"] = format_table([
            {"comparison": f"{c['a']} − {c['b']}", "dataset": c["dataset"],
             "n": c["diff"]["n"], "points [95% CI, seeds]": stats.format_ci(c["diff"]),
             **cell} for c, cell in zip(comps, cells)])
    return out
