"""Figures of ``experiments.learn_conv``, from its results JSON alone.

``STEM`` is :func:`experiments.learn_conv.tables.results_stem` of the dataset
(``learn_conv`` on MNIST-1D, ``learn_conv_<dataset>`` otherwise):

* ``STEM_receptive_fields.png``: first-layer units over input positions (Neyshabur 2020,
  Fig. 4 analog), from ``results["receptive_fields"]`` (absent in results written before
  it existed: then this figure is skipped);
* ``STEM_nonzeros.png``: non-zero weights per layer vs epoch of the S-FC runs, with the
  S-CONV and S-LOCAL first-layer weight counts as reference lines (Fig. 3 analog);
* ``STEM_accuracy_vs_nonzeros.png``: seed-mean test accuracy vs non-zeros;
* ``STEM_curves.png``: test accuracy vs epoch (mean ± std over seeds).

``results["receptive_fields"]`` is ``{"num_units": K, "models": [{"run_name", "label",
"in_shape", "weights"}, ...]}``: per main model (first seed) the shown units' weights, one
row of ``prod(in_shape)`` float32 values per unit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from experiments.harness import plots
from experiments.learn_conv.tables import results_stem

__all__ = ["RECEPTIVE_FIELDS", "draw", "receptive_fields_entries"]

#: The results key of the receptive-field figure's data.
RECEPTIVE_FIELDS = "receptive_fields"


def receptive_fields_entries(results: Mapping[str, Any]) -> dict[str, tuple]:
    """``{label: (w (prod(in_shape), k) float32, in_shape)}`` of the shown units."""
    out = {}
    for m in (results.get(RECEPTIVE_FIELDS) or {}).get("models", []):
        shape = tuple(int(s) for s in m["in_shape"])
        w = np.asarray(m["weights"], np.float32).reshape(-1, int(np.prod(shape))).T
        out[m["label"]] = (w, shape)
    return out


def _title(results: Mapping[str, Any]) -> str:
    return f"{results['dataset']} ({results['preset']} preset)"


def _nonzeros_figure(results: Mapping[str, Any], fc_runs: list):
    """Non-zeros per layer vs epoch of the S-FC runs (one panel per layer)."""
    panels = {}
    for i, layer in enumerate(fc_runs[0]["nonzeros_by_layer"]):
        curves = {}
        for e in fc_runs:
            y = [e["nonzeros_by_layer_init"][layer], *e["curves"]["nonzeros"][layer]]
            curves[e["label"]] = (list(range(len(y))), y)
        panels[f"layer {i + 1} ({layer})"] = curves
    styles = {e["label"]: ({"linestyle": "--"} if e["optimizer"]["name"] == "sgd" else
                           {"alpha": 0.5} if e["sweep"] else {"linewidth": 2})
              for e in fc_runs}
    refs = {k: v for k, v in results["reference"]["first_layer_params"].items()
            if not k.startswith("S-FC")}
    return plots.line_panels(panels, xlabel="epoch", ylabel="non-zero weights", logy=True,
                             panel_hlines={next(iter(panels)): refs}, styles=styles,
                             sharey=False,
                             suptitle=f"S-FC non-zeros per layer, {_title(results)}")


def _scatter_figure(results: Mapping[str, Any], entries: list):
    """Test accuracy vs non-zeros (seed means; the λ sweep as one series)."""
    pts = [(e["label"] if not e["sweep"] else "S-FC (β-LASSO) λ sweep",
            float(e["nonzeros"]), float(e["test_acc"])) for e in entries]
    return plots.scatter_labeled(pts, xlabel="non-zero parameters", ylabel="test accuracy",
                                 logx=True,
                                 title=f"Test accuracy vs non-zeros, {_title(results)}")


def _curves_figure(results: Mapping[str, Any], entries: list):
    """Test accuracy vs epoch of the main models (mean ± std over seeds)."""
    curves = {e["label"]: (e["curves"]["epoch"], e["curves"]["test_acc"],
                           e["curves"].get("test_acc_std"))
              for e in entries if not e["sweep"]}
    return plots.line_panels({_title(results): curves}, xlabel="epoch",
                             ylabel="test accuracy", legend_loc="lower right")


def draw(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, str]:
    """Writes the PNG figures of a learn_conv results dict; ``{file name: path}``."""
    out, stem = Path(out_dir), results_stem(results["dataset"])
    entries = [e for e in results["models"] + results["sweep"] if e["status"] == "ok"]
    fc_runs = [e for e in entries if e["architecture"] == "s-fc"]
    shown = receptive_fields_entries(results)
    makers = {}  # file name -> () -> Figure, drawn and saved one at a time
    if shown:
        makers[f"{stem}_receptive_fields.png"] = lambda: plots.receptive_fields_figure(
            shown, num_units=int(results[RECEPTIVE_FIELDS]["num_units"]),
            suptitle=f"First-layer receptive fields, {_title(results)}")
    if fc_runs:
        makers[f"{stem}_nonzeros.png"] = lambda: _nonzeros_figure(results, fc_runs)
    if entries:
        makers[f"{stem}_accuracy_vs_nonzeros.png"] = lambda: _scatter_figure(results, entries)
        makers[f"{stem}_curves.png"] = lambda: _curves_figure(results, entries)
    return {name: str(plots.save_figure(make(), out / name)) for name, make in makers.items()}
