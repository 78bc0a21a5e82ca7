"""Seed summaries and tables of ``experiments.learn_conv`` (importable on their own).

A learn_conv run trains every model for several seeds (:func:`jaxcnn.train.train_seeds`);
this module turns the per-seed measurements into one entry per model (per-seed list,
mean ± std summaries, mean curves), the paired comparisons (:data:`COMPARISONS`: 95% CIs
over seeds from :func:`jaxcnn.stats.paired_difference`, and for test accuracy also over
seeds and test examples from the stored per-example correctness,
:func:`experiments.harness.testnoise.crossed_cells`) and the Markdown tables the README
is rendered from (:func:`report_tables`). The figures are drawn from the results JSON by
:mod:`experiments.learn_conv.figures`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from experiments.harness.regime import Gates, choose_multiple
from experiments.harness.tables import format_table
from experiments.harness.testnoise import (CI_COLUMN, P_COLUMN, correct_matrix, crossed_cells,
                                           family_cells)
from jaxcnn import stats

NAME = "learn_conv"

__all__ = ["SUMMARY_METRICS", "COMPARISONS", "summarize_seeds", "aggregate_entry",
           "table_rows", "regime_rows", "lambda_rule", "RULE_GATES", "comparisons", "comparison_rows", "results_stem", "report_tables",
           "chance_note"]


#: Per-seed metrics summarised as mean / std / n: ``name -> path in a seed entry``.
SUMMARY_METRICS = {"test_acc": ("test_acc",), "train_acc": ("train_acc",),
                   "nonzeros": ("nonzeros",), "layer1_nonzeros": ("first_layer", "nonzeros"),
                   "locality": ("first_layer", "locality"),
                   "weight_sharing": ("first_layer", "weight_sharing"),
                   "ipr": ("first_layer", "ipr"),
                   "dead_fraction": ("first_layer", "dead_fraction"),
                   "taps_median": ("first_layer", "taps_median"),
                   "calibrated_locality": ("first_layer", "calibrated_locality"),
                   "sharing": ("first_layer", "sharing_unclipped"),
                   "sharing_power": ("first_layer", "sharing_power"),
                   "sharing_power_jitter": ("first_layer", "sharing_power_jitter"),
                   "change_calibrated_locality": ("first_layer", "change", "calibrated_locality"),
                   "change_sharing": ("first_layer", "change", "sharing_unclipped"),
                   "change_sharing_power": ("first_layer", "change", "sharing_power")}


def _get(d: dict, path: tuple) -> float | None:
    for k in path:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _mean_values(dicts: Sequence[dict]) -> dict:
    """Element-wise mean of dicts with the same keys: numbers (None if any is None),
    lists of numbers (per position) and nested dicts; other values from the first."""
    out = {}
    for k, v in dicts[0].items():
        vals = [d.get(k) for d in dicts]
        if all(x == v for x in vals):  # the same for every seed: keep it as it is
            out[k] = v
        elif isinstance(v, dict):
            out[k] = _mean_values(vals)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = None if any(x is None for x in vals) else float(np.mean(vals))
        elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) \
                and all(isinstance(x, list) and len(x) == len(v) for x in vals):
            out[k] = [float(m) for m in np.mean(np.asarray(vals, float), axis=0)]
        else:
            out[k] = v
    return out


def summarize_seeds(per_seed: Sequence[dict]) -> dict:
    """``{metric: {"mean", "std", "n"}}`` over seeds (metrics undefined for a seed skipped)."""
    out = {}
    for name, path in SUMMARY_METRICS.items():
        vals = [v for v in (_get(e, path) for e in per_seed) if v is not None]
        out[name] = stats.summary(vals) if vals else None
    return out


def aggregate_entry(entry: dict, per_seed: list[dict]) -> dict:
    """Fills ``entry`` with the per-seed list, the summaries and mean curves / metrics."""
    mean = _mean_values(per_seed)
    test_curves = np.asarray([e["curves"]["test_acc"] for e in per_seed], float)
    entry.update({
        "per_seed": per_seed, "stats": summarize_seeds(per_seed),
        "test_acc": mean["test_acc"], "train_acc": mean["train_acc"],
        "test_loss": mean["test_loss"], "nonzeros": int(round(mean["nonzeros"])),
        "nonzeros_by_layer": {k: int(round(v)) for k, v in mean["nonzeros_by_layer"].items()},
        "first_layer": mean["first_layer"],
        "curves": {**mean["curves"], "test_acc_std": list(test_curves.std(axis=0, ddof=1)
                                                          if len(per_seed) > 1 else
                                                          np.zeros(test_curves.shape[1]))},
        "epochs_completed": per_seed[0]["epochs_completed"],
        "resumed_from": per_seed[0]["resumed_from"],
    })
    return entry


def _fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def _ms(entry: dict, metric: str, digits: int) -> str:
    summ = (entry.get("stats") or {}).get(metric)
    return "-" if not summ else stats.format_mean_std(summ, digits=digits)


def _power(entry: dict, metric: str) -> str:
    """The sharing score's power (measured on the first seed)."""
    v = _get(entry["per_seed"][0], SUMMARY_METRICS[metric]) if entry.get("per_seed") else None
    return "-" if v is None else f"{v:.2f}"


def table_rows(entries: Sequence[dict]) -> list[dict]:
    """Rows of the printed / README table (one per model): mean ± std over the seeds."""
    rows = []
    for e in entries:
        ok = e["status"] == "ok"
        sgd = e.get("optimizer", {}).get("name") == "sgd"
        rows.append({
            "model": e["label"],
            "n": len(e.get("seeds") or []),
            "non-zeros": _ms(e, "nonzeros", 0) if ok else "-",
            "layer-1 non-zeros": _ms(e, "layer1_nonzeros", 0) if ok else "-",
            "test accuracy": _ms(e, "test_acc", 3) if ok else "diverged",
            "dead": _ms(e, "dead_fraction", 2) if ok else "-",
            "taps / live unit": _ms(e, "taps_median", 1) if ok else "-",
            "locality": _ms(e, "locality", 3) if ok else "-",
            "cal. locality": _ms(e, "calibrated_locality", 3) if ok else "-",
            "sharing (unclipped)": _ms(e, "sharing", 3) if ok else "-",
            "power": _power(e, "sharing_power") if ok else "-",
            "power (10% jitter)": _power(e, "sharing_power_jitter") if ok else "-",
            "IPR": _ms(e, "ipr", 3) if ok else "-",
            "W−W₀ cal. locality": _ms(e, "change_calibrated_locality", 3) if sgd else "",
            "W−W₀ sharing": _ms(e, "change_sharing", 3) if sgd else "",
        })
    return rows


#: Paired comparisons over seeds: ``(a, b, metric, what is paired)``; a − b per seed.
COMPARISONS = (
    ("s-fc-blasso", "s-fc", "test_acc", "same initialisation and batches"),
    ("s-fc-blasso", "s-fc", "locality", "same initialisation and batches"),
    ("s-conv", "s-fc-blasso", "test_acc", "same batches"),
    ("s-conv", "s-local", "test_acc", "same batches"),
    ("s-fc-blasso", "s-local", "sharing", "same batches"),
    ("s-fc-blasso", "s-fc", "calibrated_locality", "same initialisation and batches"),
)


def comparisons(entries: Sequence[dict]) -> list[dict]:
    """Paired differences of :data:`COMPARISONS` present in ``entries``: ``diff`` over
    seeds (95% CI) and, for test accuracy with per-example correctness stored in both
    entries, ``crossed``: over seeds and test examples (:func:`crossed_cells`)."""
    by_key = {e["key"]: e for e in entries if e["status"] == "ok"}
    out = []
    for a, b, metric, paired in COMPARISONS:
        if a not in by_key or b not in by_key:
            continue
        ea, eb = by_key[a], by_key[b]
        va = [_get(s, SUMMARY_METRICS[metric]) for s in ea["per_seed"]]
        vb = [_get(s, SUMMARY_METRICS[metric]) for s in eb["per_seed"]]
        if ea["seeds"] != eb["seeds"] or any(v is None for v in va + vb):
            continue
        comp = {"a": ea["label"], "b": eb["label"], "metric": metric, "paired": paired,
                "seeds": ea["seeds"], "diff": stats.paired_difference(va, vb)}
        ca, cb = correct_matrix(ea["per_seed"]), correct_matrix(eb["per_seed"])
        if metric == "test_acc" and ca is not None and cb is not None:
            comp["crossed"] = crossed_cells(ca, cb)
        out.append(comp)
    return out


#: The table's p column: test accuracy's p includes test-set noise, a weight metric's
#: (no test set involved) is the seed-only one.
P_HOLM = "p (Holm; acc: seeds+test)"
#: The table's short form of what a comparison is paired on (``COMPARISONS``' 4th field).
PAIRED_SHORT = {"same initialisation and batches": "init + batches", "same batches": "batches"}
#: The crossed-interval cell of a metric of the weights (the test set plays no part).
NOT_TEST = "n/a (no test set)"


def comparison_rows(comps: Sequence[dict]) -> list[dict]:
    """One row per paired comparison: the 95% t interval over seeds, for test accuracy
    the 95% interval over seeds and test examples (``comp["crossed"]``; ``"-"`` in results
    without per-example correctness), and, over the table's comparisons as one family,
    Holm-adjusted p-values (:func:`family_cells`): test accuracy's from the interval
    over seeds and test examples, a weight metric's from the seed-only one."""
    acc = [c["metric"] == "test_acc" for c in comps]
    cells = family_cells([c.get("crossed") if a else c["diff"] for c, a in zip(comps, acc)],
                         digits=3, mean=False)
    return [{"comparison": f"{c['a']} − {c['b']}", "metric": c["metric"].replace("_", " "),
             "paired on": PAIRED_SHORT.get(c["paired"], c["paired"]), "n": c["diff"]["n"],
             "difference [95% CI, seeds]": stats.format_ci(c["diff"], digits=3),
             CI_COLUMN: cell[CI_COLUMN] if a else NOT_TEST, P_HOLM: cell[P_COLUMN],
             "significant": cell["significant"]}
            for c, a, cell in zip(comps, acc, cells)]


def results_stem(dataset: str) -> str:
    """File stem of a run's JSON, figures and README table ids: ``learn_conv`` on the
    default dataset (MNIST-1D), ``learn_conv_<dataset>`` otherwise (so runs on several
    datasets can share one ``--out``)."""
    return NAME if dataset == "mnist1d" else f"{NAME}_{dataset}"


#: The gates of the λ rule (:func:`experiments.harness.regime.choose_multiple`) with the
#: taps in units of the window's size: sharing_emergence's gates (10-40 taps of a 5x5
#: window, dead < 0.5, calibrated locality >= 0.5) for any window.
RULE_GATES = {"max_dead": 0.5, "min_taps": 0.4, "max_taps": 1.6, "min_locality": 0.5}


def lambda_rule(results: dict) -> dict | None:
    """The λ the rule of ``sharing_emergence`` picks from this run's own β-LASSO λ
    points (the main λ and the sweep, means over seeds), or ``None`` (λ not in gradient
    units, or fewer than two points).

    Returns:
      ``{"gates", "points": [{"multiple", "dead_fraction", "taps_median",
      "calibrated_locality", "test_acc", "gates"}], "multiple", "rule", "gates_met",
      "preset_multiple", "agrees"}``.
    """
    regime = results.get("regime")
    entries = [e for e in results.get("models", []) + (results.get("sweep") or [])
               if e["key"] == "s-fc-blasso" and e.get("status", "ok") == "ok"
               and e.get("first_layer")]
    if not regime or len(entries) < 2:
        return None
    taps = int(np.prod(entries[0]["first_layer"]["window"]))
    gates = Gates(RULE_GATES["max_dead"], RULE_GATES["min_taps"] * taps,
                  RULE_GATES["max_taps"] * taps, RULE_GATES["min_locality"])
    rows = []
    for e in entries:
        st = e["stats"]
        mean = {k: (st.get(k) or {}).get("mean") for k in
                ("dead_fraction", "taps_median", "calibrated_locality", "test_acc")}
        if mean["dead_fraction"] is None or mean["taps_median"] is None:
            continue
        rows.append({"multiple": round(e["optimizer"]["l1_first"] / regime["unit"], 6),
                     "lambda": e["optimizer"]["l1_first"], **mean})
    if len(rows) < 2:
        return None
    choice = choose_multiple(rows, gates)
    preset = regime["l1_first_multiple"]
    return {"gates": dataclasses.asdict(gates), "points": sorted(rows, key=lambda r: r["multiple"]), "multiple": choice["multiple"],
            "rule": choice["rule"], "gates_met": choice["gates_met"],
            "preset_multiple": preset, "agrees": bool(np.isclose(choice["multiple"], preset))}


def regime_rows(regime: dict, rule: dict | None = None) -> list[dict]:
    """One row: the β-LASSO regime of a run whose λ is in gradient units, and the λ the
    rule of ``sharing_emergence`` picks from the run's own λ points (:func:`lambda_rule`;
    "–" without a sweep)."""
    q = regime["gradient"]["quantiles"]
    picks = "–" if rule is None else (f"{rule['multiple']:g}x" +
                                      (" (= λ₁)" if rule["agrees"] else " (≠ λ₁)"))
    return [{"gradient scale (median, init)": f"{regime['unit']:.3g}",
             "gradient p90 / p99": f"{q['0.9']:.3g} / {q['0.99']:.3g}",
             "std(W₁) at init": f"{regime['gradient']['init_std']:.3g}",
             "λ₁ (x median)": f"{regime['l1_first']:.3g} ({regime['l1_first_multiple']:g}x)",
             "λ later (x median)": f"{regime['l1_rest']:.3g} ({regime['l1_rest_multiple']:g}x)",
             "threshold β·λ₁": f"{regime['threshold']:.3g}",
             "λ₁ Σ η / std(W₁)": f"{regime['shrinkage_over_init_std']:.2f}",
             "rule's λ₁ (of the run's λ points)": picks}]


def report_tables(results: dict) -> dict[str, str]:
    """The README tables of a results dict: ``STEM.main``, ``STEM.comparisons``,
    ``STEM.sweep`` and (λ in gradient units) ``STEM.regime`` (``STEM`` =
    :func:`results_stem` of its dataset)."""
    stem = results_stem(results["dataset"])
    tables = {f"{stem}.main": format_table(table_rows(results["models"]))}
    if results.get("regime"):
        tables[f"{stem}.regime"] = format_table(regime_rows(results["regime"],
                                                            lambda_rule(results)))
    if results.get("comparisons"):
        tables[f"{stem}.comparisons"] = format_table(comparison_rows(results["comparisons"]))
    if results.get("sweep"):
        main = [e for e in results["models"] if e["key"] == "s-fc-blasso"]
        rows = table_rows(main + results["sweep"])
        tables[f"{stem}.sweep"] = format_table(rows)
    return tables


def chance_note(entries: Sequence[dict]) -> str:
    """One line with the random-dense-unit reference values of the first-layer metrics."""
    fl = next((e["first_layer"] for e in entries if e.get("first_layer")), None)
    if fl is None:
        return ""
    return (f"reference (random dense unit): locality ≈ {fl['locality_random']:.3f} "
            f"(window {'x'.join(map(str, fl['window']))}), IPR ≈ 3/D = {fl['ipr_random']:.3f}"
            ", weight sharing 0 (permutation null; 1 = a convolution)"
            "; first-layer metrics are means over non-zero units")
