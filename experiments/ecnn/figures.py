"""The figures of ``experiments.ecnn``, drawn from its results JSON alone.

    draw(json.load(open("results/ecnn.json")), "results")

writes ``ecnn_relax.png`` (final accuracy vs relax epoch) and ``ecnn_conv_distance.png``
(distance of the FC first layer to the conv subspace during training). Everything comes
from the results dict as ``json.loads`` returns it: ``config.epochs``, the arms' summaries
(``relax[*].test_acc``, ``cnn.test_acc``, ``fc_scratch.test_acc``) and the per-seed curves
(``relax[*].per_seed[*].curves``, ``fc_scratch.per_seed[*].curves``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from experiments.harness import plots

__all__ = ["FIGURES", "by_treatment", "draw", "plot_conv_distance", "plot_relax"]

#: Inches of each figure.
FIGURE_SIZE = (5, 3.6)
#: Opacity of the ± std bands of the baselines.
BAND_ALPHA = 0.15
#: The baselines in the relax figure: ``(arm, colour, line style, label)``.
BASELINE_LINES = (("cnn", "C0", "--", "CNN, full budget"),
                  ("fc_scratch", "C2", ":", "FC from scratch, full budget"))


#: Legend names of the FC-phase treatments.
TREATMENT_LABELS = {"same_lr": "same lr after embedding",
                    "conv_step": "CNN's conv step after embedding"}


def by_treatment(results: Mapping) -> dict:
    """``{treatment: [relax arms in order]}`` (``None``: results without treatments)."""
    out: dict = {}
    for r in results["relax"]:
        out.setdefault(r.get("treatment"), []).append(r)
    return out


def _mean_std_curve(per_seed: Sequence[Mapping], key: str) -> tuple[list, np.ndarray,
                                                                     np.ndarray]:
    """``(epochs, mean, std)`` of ``curves[key]`` over seeds (std ``ddof=1``; 0 for one)."""
    vals = np.asarray([p["curves"][key] for p in per_seed], np.float64)
    std = vals.std(0, ddof=1) if len(vals) > 1 else np.zeros(vals.shape[1])
    return per_seed[0]["curves"]["epoch"], vals.mean(0), std


def plot_relax(results: Mapping, path: str | os.PathLike) -> None:
    """Final test accuracy vs relax epoch (mean ± std over seeds, error bars), with the
    CNN and FC-from-scratch levels (mean line, ± std band)."""
    import matplotlib.pyplot as plt

    n = results["relax"][0]["test_acc"]["n"]
    fig, ax = plt.subplots(figsize=FIGURE_SIZE)
    for (treatment, rel), color in zip(by_treatment(results).items(), ("C3", "C1", "C4")):
        label = "eCNN (embedded at relax epoch, then FC)"
        ax.errorbar([r["relax_epoch"] for r in rel], [r["test_acc"]["mean"] for r in rel],
                    yerr=[r["test_acc"]["std"] for r in rel], fmt="o-", color=color,
                    capsize=3, label=label if treatment is None
                    else f"{label}, {TREATMENT_LABELS.get(treatment, treatment)}")
    for arm, color, ls, label in BASELINE_LINES:
        acc = results[arm]["test_acc"]
        ax.axhline(acc["mean"], color=color, ls=ls, label=label)
        ax.axhspan(acc["mean"] - acc["std"], acc["mean"] + acc["std"], color=color,
                   alpha=BAND_ALPHA, lw=0)
    plots.label_axes(ax, xlabel="relax epoch (CNN epochs before the embedding)",
                     ylabel="final test accuracy (%)",
                     title=f"MNIST-1D, budget {results['config']['epochs']} epochs, "
                           f"mean ± std over {n} seeds", legend_size=7)
    plots.save_figure(fig, path)


def plot_conv_distance(results: Mapping, path: str | os.PathLike) -> None:
    """Distance of the FC first layer to the conv subspace vs epoch: mean over seeds with a
    ± std band (error bars for curves of 12 points or fewer), per run."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    n = results["fc_scratch"]["test_acc"]["n"]
    panels, styles = {}, {"FC from scratch": {"color": "k", "linestyle": "--"}}
    for treatment, rel in by_treatment(results).items():
        curves = {}
        for i, r in enumerate(rel):
            if len(r["per_seed"][0]["curves"]["epoch"]) > 1:
                label = f"eCNN, relax {r['relax_epoch']}"
                curves[label] = _mean_std_curve(r["per_seed"], "conv_distance")
                styles[label] = {"color": cmap(i / max(1, len(rel) - 1))}
        curves["FC from scratch"] = _mean_std_curve(results["fc_scratch"]["per_seed"],
                                                    "conv_distance")
        title = f"mean ± std over {n} seeds"
        panels[title if treatment is None
               else f"{TREATMENT_LABELS.get(treatment, treatment)}: {title}"] = curves
    fig = plots.line_panels(panels, xlabel="epoch",
                            ylabel="||W - P_conv W|| / ||W|| (first layer)", styles=styles,
                            panel_size=FIGURE_SIZE)
    for ax in fig.axes:
        ax.set_ylim(bottom=0)
    plots.save_figure(fig, path)


#: File name of each figure -> ``(results, path) -> None``.
FIGURES = {"ecnn_relax.png": plot_relax, "ecnn_conv_distance.png": plot_conv_distance}


def draw(results: Mapping, out_dir: str | os.PathLike) -> dict[str, str]:
    """Draws every figure of an ``ecnn.json`` results dict into ``out_dir``
    (:func:`experiments.harness.plots.draw_each` of :data:`FIGURES`); ``{file name: path}``."""
    return plots.draw_each(FIGURES, results, out_dir)
