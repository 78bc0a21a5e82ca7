"""Plain-text (Markdown) tables: what the studies print and the README shows."""

from __future__ import annotations

import math
from collections.abc import Sequence

from jaxcnn import stats

__all__ = ["format_table", "holm_cells"]


def holm_cells(diffs: Sequence[dict], *, alpha: float = 0.05) -> list[dict]:
    """``"p (Holm)"`` and ``"significant"`` cells for one family of paired differences.

    Args:
      diffs: :func:`jaxcnn.stats.paired_difference` results (a ``p_value`` key each; a
        difference without one, e.g. from an older results file, gets ``"-"``), one
        family: every comparison of one table.
      alpha: the family-wise error rate.

    Returns:
      One ``{"p (Holm)": str, "significant": "yes" | "no" | "-"}`` per difference, in
      order (:func:`jaxcnn.stats.holm` over those with a finite p-value).

    Example:
      >>> holm_cells([{"p_value": 0.01}, {"p_value": 0.04}, {}])
      [{'p (Holm)': '0.020', 'significant': 'yes'}, {'p (Holm)': '0.040', 'significant': 'yes'}, {'p (Holm)': '-', 'significant': '-'}]
    """
    ps = [d.get("p_value") for d in diffs]
    have = [i for i, p in enumerate(ps) if p is not None and math.isfinite(p)]
    out = [{"p (Holm)": "-", "significant": "-"} for _ in diffs]
    if have:
        h = stats.holm([ps[i] for i in have], alpha=alpha)
        for i, p, rej in zip(have, h["p_adjusted"], h["reject"]):
            out[i] = {"p (Holm)": stats.format_p(p), "significant": "yes" if rej else "no"}
    return out


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None,
                 floatfmt: str = ".4g") -> str:
    """A plain-text (Markdown) table of ``rows``; missing cells are blank."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep, *(line(r) for r in cells)])
