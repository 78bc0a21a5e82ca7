"""Statistics and tables of ``experiments.ecnn``, from its results dict (``ecnn.json``).

:func:`comparisons` gives the paired differences stored under ``results["comparisons"]``;
:func:`report_tables` renders the README tables ``ecnn.main`` and ``ecnn.comparisons``
(``experiments.report`` calls it on the committed JSON); :func:`print_table` prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from jaxcnn import stats
from jaxcnn.validation import error

from experiments.harness.tables import format_table
from experiments.harness.testnoise import correct_matrix, crossed_cells, family_cells

__all__ = ["BASELINES", "comparisons", "print_table", "report_tables"]

#: The baselines every eCNN is compared with, in table order.
BASELINES = ("cnn", "fc_scratch")
#: Confidence levels are shown in percent.
PERCENT = 100
#: Their names in the tables.
BASELINE_NAMES = {"cnn": "CNN (full budget)", "fc_scratch": "FC from scratch",
                  "same_lr": "same relax, same lr"}
#: The FC-phase treatments' names in the tables (``experiments.ecnn.config.TREATMENTS``).
TREATMENT_NAMES = {"same_lr": "same lr", "conv_step": "CNN's conv step"}


def arm_name(arm: Mapping) -> str:
    """``"eCNN relax R"`` (results without treatments) or ``"eCNN relax R, TREATMENT"``."""
    t = arm.get("treatment")
    base = f"eCNN relax {arm['relax_epoch']}"
    return base if t is None else f"{base}, {TREATMENT_NAMES.get(t, t)}"


def nan_to_none(d: Mapping) -> dict:
    """JSON has no NaN: a missing interval (one seed) is stored as ``None``."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def comparisons(results: Mapping) -> list[dict]:
    """Paired differences (over seeds) in final test accuracy, in points.

    One row per relax epoch ``r``, treatment and baseline: ``{"arm": "eCNN relax r,
    TREATMENT", "relax_epoch", "treatment", "baseline": "cnn" | "fc_scratch" | "same_lr", "metric":
    "test_acc", "mean", "std", "n", "ci_low", "ci_high", "half_width", "confidence",
    "p_value", "seeds_test"}`` for ``eCNN(r) - baseline`` (95% t interval over seeds;
    ``None`` bounds with one seed); ``"seeds_test"`` is the same difference over seeds
    *and* test examples (:func:`experiments.harness.testnoise.crossed_cells`, points,
    with its ``p_value``), ``None`` where the results hold no per-example correctness.

    Raises:
      ValueError: a baseline was run on other seeds than the eCNN runs.
    """
    rows = []
    for r in results["relax"]:
        a = [p["test_acc"] for p in r["per_seed"]]
        seeds = [p["seed"] for p in r["per_seed"]]
        for baseline, base in _baselines(results, r):
            if [p["seed"] for p in base] != seeds:
                raise error(baseline, f"the seeds of the eCNN runs {seeds}",
                            [p["seed"] for p in base])
            diff = stats.paired_difference(a, [p["test_acc"] for p in base])
            ca, cb = correct_matrix(r["per_seed"]), correct_matrix(base)
            crossed = None if ca is None or cb is None else nan_to_none(
                crossed_cells(ca, cb, scale=PERCENT))
            rows.append({"arm": arm_name(r), "relax_epoch": r["relax_epoch"],
                         "treatment": r.get("treatment"), "baseline": baseline,
                         "metric": "test_acc", **nan_to_none(diff), "seeds_test": crossed})
    return rows


def _baselines(results: Mapping, arm: Mapping) -> list[tuple[str, list]]:
    """``(baseline, its per-seed entries)`` an eCNN arm is compared with: the CNN, the FC
    from scratch and, for a treatment other than ``same_lr`` that trained (relax epoch
    before the end), the ``same_lr`` arm of the same relax epoch (same CNN snapshot, same
    data order: the treatment's own effect)."""
    out = [(b, results[b]["per_seed"]) for b in BASELINES]
    t, epoch = arm.get("treatment"), arm["relax_epoch"]
    if t not in (None, "same_lr") and epoch < results["config"]["epochs"]:
        same = [r for r in results["relax"]
                if r.get("treatment") == "same_lr" and r["relax_epoch"] == epoch]
        out += [("same_lr", same[0]["per_seed"])] if same else []
    return out


def format_ci(diff: Mapping, **kw) -> str:
    """:func:`stats.format_ci` of a stored difference (``None`` bounds: no interval)."""
    return stats.format_ci(none_to_nan(diff), **kw)


def none_to_nan(d: Mapping) -> dict:
    """The inverse of :func:`nan_to_none`: a stored ``None`` back to NaN."""
    return {k: math.nan if v is None else v for k, v in d.items()}


def _main_rows(results: Mapping) -> list[dict]:
    ms = stats.format_mean_std
    cnn, scratch = results["cnn"], results["fc_scratch"]
    rows = [{"run": BASELINE_NAMES["cnn"], "n": cnn["test_acc"]["n"],
             "test acc %": ms(cnn["test_acc"]), "conv dist (end)": "0"}]
    for r in results["relax"]:
        rows.append({"run": arm_name(r), "n": r["test_acc"]["n"],
                     "test acc %": ms(r["test_acc"]),
                     "acc at embed %": ms(r["test_acc_at_embedding"]),
                     "conv dist (end)": ms(r["final_conv_distance"], digits=3),
                     "max abs logit diff at embed": f"{r['max_embedding_diff']:.2g}"})
    rows.append({"run": BASELINE_NAMES["fc_scratch"], "n": scratch["test_acc"]["n"],
                 "test acc %": ms(scratch["test_acc"]),
                 "conv dist (end)": ms(scratch["final_conv_distance"], digits=3)})
    return rows


def report_tables(results: Mapping) -> dict[str, str]:
    """The Markdown tables of a results dict (as saved in ``ecnn.json``).

    Returns:
      ``{"ecnn.main": per arm n, test accuracy, accuracy at the embedding, final conv
      distance (mean ± std over seeds) and the largest logit difference at the embedding
      (max over seeds), "ecnn.comparisons": eCNN(r) - CNN and eCNN(r) - FC from scratch
      in test accuracy (points): n, paired mean difference [95% t CI over seeds], the
      95% CI over seeds and test examples, its p-value Holm-adjusted within the table,
      and whether it is significant at 5% family-wise}``.
    """
    main = format_table(_main_rows(results),
                        ["run", "n", "test acc %", "acc at embed %", "conv dist (end)",
                         "max abs logit diff at embed"])
    diffs = results["comparisons"]
    crossed = [None if c.get("seeds_test") is None
               else none_to_nan(c["seeds_test"])
               for c in diffs]
    comp = [{"comparison": f"{c['arm']} - {BASELINE_NAMES[c['baseline']]}", "n": c["n"],
             f"Δ test acc (points) [{PERCENT * c['confidence']:.0f}% CI, seeds]": format_ci(c),
             **cells}
            for c, cells in zip(diffs, family_cells(crossed, mean=False))]
    return {"ecnn.main": main, "ecnn.comparisons": format_table(comp)}


def print_table(results: Mapping) -> None:
    """Prints the tables of :func:`report_tables` (mean ± std over seeds; paired CIs)."""
    cfg = results["config"]
    tables = report_tables(results)
    print(f"\neCNN on {cfg['dataset']}, budget {cfg['epochs']} epochs (alpha={cfg['alpha']}), "
          f"seeds {results['seeds']}: mean ± std over seeds")
    print(tables["ecnn.main"])
    print("\nPaired differences (same seeds): 95% t interval over seeds; interval and "
          "Holm-adjusted p over seeds and test examples")
    print(tables["ecnn.comparisons"])
