"""Figures of ``experiments.sharing_emergence``, from its results JSON alone.

* ``sharing_emergence_dose.png``: the unclipped sharing score, translation equivariance and
  calibrated locality vs the translation dose, per model (mean ± 95% t half-width over
  seeds), the shuffled control dashed;
* ``sharing_emergence_units.png``: S-FC β-LASSO's first-layer units at the smallest and
  the largest dose (seed 0; Neyshabur's Fig. 4 analogue), from ``runs[*].shown_units``;
* ``sharing_emergence_power.png``: the sharing score's detection rate vs the planted
  shared fraction at the sparsity of those two layers (``runs[*].power_curve``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from experiments.harness import plots
from jaxcnn import stats

__all__ = ["draw"]

PANELS = {"sharing (unclipped score)": "sharing", "translation equivariance": "equivariance",
          "calibrated locality": "calibrated_locality"}


def _half_width(s: Mapping | None) -> float | None:
    if s is None or s["n"] < 2:
        return None
    return stats.t_quantile(0.975, s["n"] - 1) * s["std"] / math.sqrt(s["n"])


def _curves(results: Mapping[str, Any], metric: str) -> dict:
    curves: dict[str, list] = {}
    for run in results["runs"]:
        s = run["stats"].get(metric)
        if s is None:
            continue
        xs, ys, es = curves.setdefault(run["label"], ([], [], []))
        xs.append(run["shift"])
        ys.append(s["mean"])
        es.append(_half_width(s))
    return {k: (x, y, [0.0 if e is None else e for e in err]) for k, (x, y, err) in
            curves.items()}


def dose_figure(results: Mapping[str, Any], path: Path) -> None:
    panels = {title: _curves(results, metric) for title, metric in PANELS.items()}
    styles = {r["label"]: {"linestyle": "--"} for r in results["runs"] if r["shuffled"]}
    fig = plots.line_panels(panels, xlabel="translation dose s (pixels)", ylabel="score",
                            hlines={"null": 0.0}, styles=styles, sharey=False,
                            suptitle=f"sharing_emergence ({results['preset']} preset, "
                                     f"{len(results['seeds'])} seeds)")
    plots.save_figure(fig, path)


def _shown(results):
    out = {}
    for run in results["runs"]:
        rec = run.get("shown_units")
        if rec and rec["weights"]:
            shape = tuple(int(s) for s in rec["in_shape"])
            w = np.asarray(rec["weights"], np.float32).reshape(-1, int(np.prod(shape))).T
            out[f"{run['label']}, s = {run['shift']}"] = (w, shape)
    return out


def units_figure(results: Mapping[str, Any], path: Path) -> None:
    fields = _shown(results)
    fig = plots.receptive_fields_figure(fields, num_units=results["config"]["units_shown"],
                                        suptitle="first-layer units (seed 0)")
    plots.save_figure(fig, path)


def power_figure(results: Mapping[str, Any], path: Path) -> None:
    curves = {}
    for run in results["runs"]:
        pc = run.get("power_curve")
        if pc:
            curves[f"{run['label']}, s = {run['shift']}"] = (pc["fractions"], pc["detection"])
    fig = plots.line_panels({"power of the sharing score at the observed sparsity": curves},
                            xlabel="planted shared fraction", ylabel="detection rate",
                            hlines={"0.8": 0.8})
    plots.save_figure(fig, path)


def draw(results: Mapping[str, Any], out_dir) -> dict[str, str]:
    """Draws every figure into ``out_dir``; ``{file name: path}``."""
    figs = {"sharing_emergence_dose.png": dose_figure}
    if _shown(results):
        figs["sharing_emergence_units.png"] = units_figure
    if any(r.get("power_curve") for r in results["runs"]):
        figs["sharing_emergence_power.png"] = power_figure
    return plots.draw_each(figs, results, out_dir)
