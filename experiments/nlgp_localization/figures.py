"""The figures of ``experiments.nlgp_localization``, drawn from its results JSON alone.

    draw(json.load(open("results/nlgp_localization.json")), "results")

writes, for a ring run, ``nlgp_ipr_vs_time.png`` (the paper's headline figure: mean IPR
vs ``t``, NLGP vs GP), ``nlgp_receptive_fields.png`` (the final first-layer weights of
the first seed) and ``nlgp_ipr_vs_gain.png`` (the gain sweep); for a torus run
(``nlgp_localization_2d.json``) ``nlgp2d_ipr_vs_time.png``, ``nlgp2d_receptive_fields.png``
(every unit of every seed as an image, NLGP and GP, localised units starred and their
centres marked), ``nlgp2d_tiling.png`` (the localised units' centres on the torus and
their nearest-neighbour statistic against uniform centres) and, with a gain sweep,
``nlgp2d_ipr_vs_gain.png``. Everything comes from the results dict as ``json.loads``
returns it: ``config``, ``seeds``, ``summary``, ``curves`` (``t``, the ``ipr_mean``
mean/std over seeds, per-seed ``ipr_units``), ``receptive_fields``, ``tiling`` and
``gain_sweep``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from experiments.harness.plots import draw_each, label_axes, save_figure

__all__ = ["FIGURES", "FIGURES_2D", "draw", "figures_for", "plot_ipr_vs_gain",
           "plot_ipr_vs_time", "plot_receptive_fields", "plot_tiling", "plot_unit_images"]

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
#: Inches per unit image of the 2-D unit grid, and above it for the title.
UNIT_IMAGE, TITLE_ROOM = 0.95, 0.5
#: Inches of the tiling figure.
TILING_FIGURE_SIZE = (8.4, 4.4)


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


def _unit_title(iprs, j: int, threshold: float) -> str:
    """``IPR 0.041*``: the unit's final IPR, starred when it counts as localised."""
    return f"{iprs[j]:.3f}{'*' if iprs[j] > threshold else ''}"


def plot_unit_images(results: Mapping, path: str | os.PathLike) -> None:
    """2-D: every hidden unit's final first-layer weights as an ``H x W`` image, one row per
    (arm, seed), NLGP rows first; each image titled with the unit's final IPR (``*``:
    localised, above the ``tiling`` threshold) and the localised units' centres marked
    (``x``, :mod:`experiments.nlgp_localization.tiling`)."""
    import matplotlib.pyplot as plt

    cfg, tiling = results["config"], results["tiling"]
    shape, k, seeds = tuple(cfg["shape"]), cfg["hidden"], results["seeds"]
    rows = [(arm, i) for arm in RUNS for i in range(len(seeds))]
    fig, axes = plt.subplots(len(rows), k, squeeze=False,
                             figsize=(UNIT_IMAGE * k, UNIT_IMAGE * len(rows) + TITLE_ROOM))
    for row, (arm, i) in enumerate(rows):
        w = np.asarray(results["receptive_fields"][arm][i])
        iprs = results["curves"][arm]["per_seed"][i]["ipr_units"][-1]
        seed_tiling = tiling[arm]["per_seed"][i]
        centres = dict(zip(seed_tiling["units"], seed_tiling["centres"]))
        for j in range(k):
            ax, img = axes[row, j], w[:, j].reshape(shape)
            lim = np.abs(img).max() + TINY
            ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
            if j in centres:
                ax.plot(centres[j][1], centres[j][0], "kx", ms=5, mew=1.2)
            ax.set_title(_unit_title(iprs, j, tiling["threshold"]), fontsize=6, pad=1.5)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"{arm.upper()} s{seeds[i]}", fontsize=7)
    fig.suptitle(f"Final first-layer weights (title: final IPR, * > {tiling['threshold']:.3g}"
                 f" = 5 x 3/D; x: centre), D={results['summary']['D']}, "
                 f"t={cfg['time_max']:g}", fontsize=8)
    save_figure(fig, path)


def _tiling_panel(ax, results: Mapping, arm: str) -> None:
    """One arm's localised centres on the torus, one colour per seed, and its statistic."""
    shape, t = tuple(results["config"]["shape"]), results["tiling"][arm]
    for i, p in enumerate(t["per_seed"]):
        pts = np.asarray(p["centres"], float).reshape(-1, 2)
        ax.scatter(pts[:, 1], pts[:, 0], s=30, color=f"C{i}", label=f"seed {p['seed']} "
                   f"({len(pts)})", edgecolors="k", linewidths=0.4)
    ax.set_xlim(-0.5, shape[1] - 0.5)
    ax.set_ylim(shape[0] - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if t["n"]:
        what = (f"mean NN {t['mean_nn']['mean']:.2f} px vs uniform {t['null_mean']['mean']:.2f}"
                f"\nratio {t['ratio']['mean']:.2f}, percentile {t['percentile']['mean']:.0f}"
                f" ({t['n']} seeds with >= 2)")
    else:
        what = "no seed with >= 2 localised units"
    ax.set_title(f"{arm.upper()}: localised centres\n{what}", fontsize=8)
    if any(p["centres"] for p in t["per_seed"]):
        ax.legend(fontsize=6, loc="upper right", framealpha=0.6)


def plot_tiling(results: Mapping, path: str | os.PathLike) -> None:
    """The tiling panel: centres of the localised units (final IPR > 5 x 3/D) on the torus
    (periodic centroids of ``w^2``), NLGP and GP side by side, with the mean
    nearest-neighbour distance against uniformly random centres (``results["tiling"]``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(RUNS), figsize=TILING_FIGURE_SIZE)
    for ax, arm in zip(axes, RUNS):
        _tiling_panel(ax, results, arm)
    fig.tight_layout()
    save_figure(fig, path)


#: File name of each figure of a ring run -> ``(results, path) -> None``.
FIGURES = {"nlgp_ipr_vs_time.png": plot_ipr_vs_time,
           "nlgp_receptive_fields.png": plot_receptive_fields,
           "nlgp_ipr_vs_gain.png": plot_ipr_vs_gain}
#: The figures of a torus run (a gain plot only when it has a gain sweep).
FIGURES_2D = {"nlgp2d_ipr_vs_time.png": plot_ipr_vs_time,
              "nlgp2d_receptive_fields.png": plot_unit_images,
              "nlgp2d_tiling.png": plot_tiling}
GAIN_FIGURE_2D = {"nlgp2d_ipr_vs_gain.png": plot_ipr_vs_gain}


def figures_for(results: Mapping) -> dict:
    """:data:`FIGURES` for a ring run; for a torus run :data:`FIGURES_2D`, plus
    :data:`GAIN_FIGURE_2D` when it has a gain sweep."""
    if len(results["config"]["shape"]) == 1:
        return FIGURES
    return {**FIGURES_2D, **(GAIN_FIGURE_2D if results["gain_sweep"] else {})}


def draw(results: Mapping, out_dir: str | os.PathLike) -> dict[str, str]:
    """Draws every figure of a ``nlgp_localization.json`` / ``nlgp_localization_2d.json``
    results dict into ``out_dir`` (:func:`experiments.harness.plots.draw_each` of
    :func:`figures_for`); ``{file name: path}``."""
    return draw_each(figures_for(results), results, out_dir)
