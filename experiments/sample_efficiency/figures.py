"""Figure of ``experiments.sample_efficiency``, from its results JSON alone.

``sample_efficiency.png``: test accuracy vs number of training examples (log x), one
panel per pixel order, mean ± std over seeds (``results["summary"]``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.harness import plots

__all__ = ["FILE", "draw", "figure"]

#: The figure's file name.
FILE = "sample_efficiency.png"


def figure(summary: Mapping[str, Any], title: str):
    """Accuracy vs n (log x), one panel per pixel order."""
    panels = {}
    for order, by_model in summary.items():
        panels[f"{order} order"] = {
            s["label"]: (s["n"], s["test_acc_mean"],
                         s["test_acc_std"] if max(s["seeds"], default=0) > 1 else None)
            for s in by_model.values()}
    return plots.line_panels(panels, xlabel="training examples", ylabel="test accuracy",
                             logx=True, suptitle=title, legend_loc="lower right")


def draw(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, str]:
    """Writes ``sample_efficiency.png`` into ``out_dir``; ``{file name: path}``."""
    fig = figure(results["summary"], f"Test accuracy vs training-set size, "
                                     f"{results['dataset']} ({results['preset']} preset)")
    return {FILE: str(plots.save_figure(fig, Path(out_dir) / FILE))}
