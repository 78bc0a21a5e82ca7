"""Figure of ``experiments.mnist1d_table``, from its results JSON alone.

``mnist1d_table.png``: grouped bars per model of the table (our recipe and the published
rows): ours / published (hatched) x normal / shuffled pixels (``results["table"]``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.harness.plots import save_figure

__all__ = ["BARS", "FILE", "draw", "plot_bars"]

#: The figure's file name.
FILE = "mnist1d_table.png"
#: The bars of one model: ``(table column, legend label, colour, hatch)``.
BARS = (("ours_normal", "ours, normal", "C0", None),
        ("published_normal", "published, normal", "C0", "//"),
        ("ours_shuffled", "ours, shuffled", "C1", None),
        ("published_shuffled", "published, shuffled", "C1", "//"))
#: Chance level of the 10 classes, in %.
CHANCE = 10


def plot_bars(rows: Sequence[Mapping[str, Any]]):
    """Grouped bars per model: ours / published x normal / shuffled; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(rows))
    width = 0.2
    for i, (key, label, color, hatch) in enumerate(BARS):
        vals = [r[key] if r[key] is not None else 0.0 for r in rows]
        ax.bar(x + (i - 1.5) * width, vals, width, label=label, color=color,
               alpha=1.0 if hatch is None else 0.45, hatch=hatch, edgecolor="k", lw=0.4)
    ax.set_xticks(x)
    ax.set_xticklabels([r["label"].replace(" (ours)", "\n(ours)") for r in rows], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 112)
    ax.axhline(CHANCE, color="gray", lw=0.6, ls=":")
    ax.legend(fontsize=7, ncol=4, loc="upper center")
    ax.set_title("MNIST-1D: ours vs published (hatched); missing bars = not published")
    return fig


def draw(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, str]:
    """Writes ``mnist1d_table.png`` (our recipe's rows and the published-only rows)."""
    rows = [r for r in results["table"] if r["variant"] in ("ours", None)]
    return {FILE: str(save_figure(plot_bars(rows), Path(out_dir) / FILE))}
