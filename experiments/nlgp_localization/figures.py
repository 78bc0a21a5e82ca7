"""The figures of ``experiments.nlgp_localization``, drawn from its results JSON alone.

    draw(json.load(open("results/nlgp_localization.json")), "results")

writes ``nlgp_ipr_vs_time.png`` (the paper's headline figure: mean IPR vs ``t``, NLGP vs
GP), ``nlgp_receptive_fields.png`` (the final first-layer weights of the first seed) and
``nlgp_ipr_vs_gain.png`` (the gain sweep). Everything comes from the results dict as
``json.loads`` returns it: ``config``, ``seeds``, ``summary``, ``curves`` (``t`` and the
``ipr_mean`` mean/std over seeds), ``receptive_fields`` and ``gain_sweep``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from experiments.harness.plots import draw_each, label_axes, save_figure

__all__ = ["FIGURES", "draw", "plot_ipr_vs_gain", "plot_ipr_vs_time", "plot_receptive_fields"]

#: The two runs, in drawing order.
RUNS = ("nlgp", "gp")
#: IPR-vs-time curves: ``(label, run, colour)``.
TIME_CURVES = (("NLGP", "nlgp", "C3"), ("GP (Gaussian clone)", "gp", "C0"))
#: Gain-sweep curves: ``(run, format, colour, label)``.
GAIN_CURVES = (("nlgp", "o-", "C3", "NLGP"), ("gp", "s-", "C0", "GP"))
#: Inches of the figures.
TIME_FIGURE_SIZE = (5.2, 3.8)
GAIN_FIGURE_SIZE = (4.6, 3.4)
LINES_FIGURE_SIZE = (7, 5)
#: Inches per unit (width) and of both rows (height) of the 2-D receptive-field images.
IMAGE_WIDTH, IMAGES_HEIGHT = 1.3, 3.0
#: The ± std band on a log axis stops at this fraction of the mean.
BAND_FLOOR = 0.5
#: Opacity of the ± std bands.
BAND_ALPHA = 0.2
#: Added to a maximum before dividing by it (an all-zero unit stays zero).
TINY = 1e-12
#: Vertical offset between the normalised units of a 1-D receptive-field plot.
UNIT_OFFSET = 2.2


def plot_ipr_vs_time(results: Mapping, path: str | os.PathLike) -> None:
    """The headline figure: mean IPR vs ``t`` for NLGP and GP inputs (log-log), the mean
    over seeds with a ± std band."""
    import matplotlib.pyplot as plt

    cfg, s = results["config"], results["summary"]
    fig, ax = plt.subplots(figsize=TIME_FIGURE_SIZE)
    for label, name, color in TIME_CURVES:
        cur = results["curves"][name]
        t = np.asarray(cur["t"][1:])
        mean = np.asarray(cur["ipr_mean"]["mean"][1:])
        std = np.asarray(cur["ipr_mean"]["std"][1:])
        ax.plot(t, mean, "o-", color=color, label=label, ms=3)
        ax.fill_between(t, np.maximum(mean - std, BAND_FLOOR * mean), mean + std, color=color,
                        alpha=BAND_ALPHA, lw=0)
    ax.axhline(s["random_ipr_3_over_D"], color="gray", ls="--", lw=1, label="3/D (random)")
    label_axes(ax, xlabel="t = samples / D", ylabel="IPR of first-layer weights", log=True,
               title=f"D={s['D']}, K={cfg['hidden']}, g={cfg['gain']:g}, "
                     f"xi={tuple(cfg['xi'])}; mean ± std over {s['n']} seeds", title_size=8)
    save_figure(fig, path)


def plot_receptive_fields(results: Mapping, path: str | os.PathLike) -> None:
    """Final first-layer weights of every hidden unit of the first seed (1-D: lines;
    2-D: images)."""
    import matplotlib.pyplot as plt

    cfg = results["config"]
    shape, k, seed = tuple(cfg["shape"]), cfg["hidden"], results["seeds"][0]
    fields = {name: np.asarray(results["receptive_fields"][name][0]) for name in RUNS}
    if len(shape) == 1:
        fig, axes = plt.subplots(len(fields), 1, figsize=LINES_FIGURE_SIZE, sharex=True)
        for ax, (name, w) in zip(axes, fields.items()):
            for j in range(k):
                col = w[:, j] / (np.abs(w[:, j]).max() + TINY)
                ax.plot(col + UNIT_OFFSET * j, lw=1)
            ax.set_yticks([])
            ax.set_title(f"{name.upper()}: final weights of the {k} hidden units "
                         f"(normalised, offset; seed {seed})", fontsize=9)
        axes[-1].set_xlabel("input position")
    else:
        fig, axes = plt.subplots(len(fields), k, figsize=(IMAGE_WIDTH * k, IMAGES_HEIGHT),
                                 squeeze=False)
        for row, (name, w) in enumerate(fields.items()):
            for j in range(k):
                img = w[:, j].reshape(shape)
                lim = np.abs(img).max() + TINY
                axes[row, j].imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
                axes[row, j].set_xticks([])
                axes[row, j].set_yticks([])
            axes[row, 0].set_ylabel(f"{name.upper()} (seed {seed})")
    save_figure(fig, path)


def plot_ipr_vs_gain(results: Mapping, path: str | os.PathLike) -> None:
    """Final mean IPR vs gain ``g`` for NLGP and GP inputs (mean ± std over seeds)."""
    import matplotlib.pyplot as plt

    sweep, cfg = results["gain_sweep"], results["config"]
    g = [r["gain"] for r in sweep]
    fig, ax = plt.subplots(figsize=GAIN_FIGURE_SIZE)
    for name, fmt, color, label in GAIN_CURVES:
        ax.errorbar(g, [r[f"ipr_{name}"]["mean"] for r in sweep],
                    yerr=[r[f"ipr_{name}"]["std"] for r in sweep], fmt=fmt, color=color,
                    capsize=3, label=label)
    ax.axhline(results["summary"]["random_ipr_3_over_D"], color="gray", ls="--", lw=1,
               label="3/D")
    label_axes(ax, xlabel="gain g", ylabel=f"final mean IPR (t={cfg['sweep_time_max']:g})",
               title=f"mean ± std over {results['summary']['n']} seeds", log=True)
    save_figure(fig, path)


#: File name of each figure -> ``(results, path) -> None``.
FIGURES = {"nlgp_ipr_vs_time.png": plot_ipr_vs_time,
           "nlgp_receptive_fields.png": plot_receptive_fields,
           "nlgp_ipr_vs_gain.png": plot_ipr_vs_gain}


def draw(results: Mapping, out_dir: str | os.PathLike) -> dict[str, str]:
    """Draws every figure of a ``nlgp_localization.json`` results dict into ``out_dir``
    (:func:`experiments.harness.plots.draw_each` of :data:`FIGURES`); ``{file name: path}``."""
    return draw_each(FIGURES, results, out_dir)
