"""Summaries, paired comparisons, the criterion and the README tables of
``sharing_emergence`` (importable on their own; the figures are in ``figures``).

Comparisons are paired over seeds (same initialisation and batch order at every dose),
95% t intervals (:func:`jaxcnn.stats.paired_difference`, seed-to-seed variation on the
fixed test set), Holm-adjusted within each family (:func:`jaxcnn.stats.holm`):

* ``dose``: β-LASSO(s) − β-LASSO(0), every s > 0;
* ``vs S-LOCAL``: β-LASSO(s) − S-LOCAL(s); ``vs S-FC SGD``: β-LASSO(s) − S-FC SGD(s);
* ``control``: shuffled β-LASSO(s) − shuffled β-LASSO(0), and β-LASSO(s) − shuffled(s).

Test accuracy (``test_acc``, on the untranslated test digits) is also compared over seeds
*and* test examples (``"crossed"``: :func:`experiments.harness.testnoise.crossed_cells` of
the per-example correctness each seed stores under
:data:`experiments.harness.testnoise.KEY`; it includes the test set's own sampling
error), Holm-adjusted within the same family, in which that comparison's crossed p-value
takes the place of its seed-only one. The metrics of the weights (sharing, locality,
equivariance, ...) involve no test labels, and the shifted test accuracy has no stored
correctness: for them the seed-only interval is the one; the table shows "–" in the
crossed columns, as it does for results written before correctness was stored.

"sharing" is the unclipped calibrated score ``(S − S₀) / (1 − S₀)`` (0 = its permutation
null, 1 = a convolution; negative possible).

**The criterion** (fixed before the run, :func:`criterion`): weight sharing emerges if,
at some dose ``s >= criterion_shift``, the dose interval of the sharing score lies
above 0, the β-LASSO score reaches 0.25 with power >= 0.8 at its own
sparsity, the dose interval of translation equivariance lies above 0 as well, and the
shuffled control's score stays within ±0.1 of 0. If the power is below 0.8 the answer is
"not detectable at this power", never "no".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from experiments.harness.tables import format_table
from experiments.harness.testnoise import CI_COLUMN, P_COLUMN, correct_matrix, crossed_cells
from jaxcnn import stats

__all__ = ["COMPARED", "SEED_METRICS", "comparisons", "criterion", "print_summary",
           "report_tables", "run_line", "summarize_seeds"]

NAME = "sharing_emergence"
#: Per-seed metrics summarised over seeds: name -> path in a seed entry.
SEED_METRICS = {
    "test_acc": ("test_acc",), "test_acc_shifted": ("test_acc_shifted",),
    "dead_fraction": ("first_layer", "dead_fraction"),
    "taps_median": ("first_layer", "taps_median"),
    "effective_taps": ("first_layer", "effective_taps_median"),
    "locality": ("first_layer", "locality"),
    "calibrated_locality": ("first_layer", "calibrated_locality"),
    "sharing": ("first_layer", "sharing"), "sharing_power": ("first_layer", "sharing_power"),
    "sharing_power_jitter": ("first_layer", "sharing_power_jitter"),
    "equivariance": ("first_layer", "equivariance"),
    "change_calibrated_locality": ("first_layer_change", "calibrated_locality"),
    "change_sharing": ("first_layer_change", "sharing"),
    "change_sharing_power": ("first_layer_change", "sharing_power"),
    "change_equivariance": ("first_layer_change", "equivariance"),
}
#: The metrics compared between runs.
COMPARED = ("sharing", "calibrated_locality", "equivariance", "test_acc", "test_acc_shifted")
#: Column titles of the criterion's checks.
CHECK_LABELS = {"sharing_up": "sharing above s = 0", "score": "sharing >= 0.25",
                "power": "power >= 0.8", "equivariance_up": "equivariance above s = 0",
                "control": "control within ±0.1"}
#: Thresholds of the criterion.
MIN_SCORE, MIN_POWER, CONTROL_BAND = 0.25, 0.8, 0.1


def _get(d, path):
    for k in path:
        d = d.get(k) if isinstance(d, Mapping) else None
    return d


def _values(entry: Mapping, metric: str) -> list:
    return [_get(e, SEED_METRICS[metric]) for e in entry["per_seed"]]


def summarize_seeds(per_seed: Sequence[Mapping]) -> dict:
    """``{metric: {"mean", "std", "n"} or None}`` over the seeds where it is defined.

    Only the :data:`SEED_METRICS` are read: other keys of a seed entry (its packed
    per-example correctness, :data:`experiments.harness.testnoise.KEY`) are left alone.
    """
    out = {}
    for name, path in SEED_METRICS.items():
        vals = [v for v in (_get(e, path) for e in per_seed) if v is not None]
        out[name] = stats.summary(vals) if vals else None
    return out


def _find(runs, key, shift, shuffled=False):
    for r in runs:
        if (r["key"], r["shift"], r["shuffled"]) == (key, shift, shuffled):
            return r
    return None


def _pairs(runs, cfg):
    """``(family, a, b)`` run pairs of the comparisons (both present)."""
    bl = "s-fc-blasso"
    shifts, ctrl = list(cfg["shifts"]), list(cfg["control_shifts"])
    out = [("dose", _find(runs, bl, s), _find(runs, bl, 0)) for s in shifts if s > 0]
    out += [("vs S-LOCAL", _find(runs, bl, s), _find(runs, "s-local", s)) for s in shifts]
    out += [("vs S-FC SGD", _find(runs, bl, s), _find(runs, "s-fc", s)) for s in shifts]
    out += [("control", _find(runs, bl, s, True), _find(runs, bl, 0, True))
            for s in ctrl if s > 0]
    out += [("control", _find(runs, bl, s), _find(runs, bl, s, True)) for s in ctrl]
    return [(f, a, b) for f, a, b in out if a is not None and b is not None]


def comparisons(runs: Sequence[Mapping], cfg) -> list[dict]:
    """Every paired comparison, with Holm-adjusted p-values within its family.

    Returns:
        One dict per (pair, metric) with both runs' values on at least 2 seeds:
        ``family``, ``a``, ``b``, ``shift``, ``a_run``, ``b_run``, ``metric``, the
        :func:`jaxcnn.stats.paired_difference` keys (over seeds), ``p_holm`` and
        ``significant``; for ``test_acc`` with per-example correctness stored in both
        runs also ``crossed``: the difference over seeds and test examples
        (:func:`crossed_cells`, with its ``p_holm`` and ``significant`` within the
        family, the crossed p standing in for the seed-only one).
    """
    cfg = cfg if isinstance(cfg, Mapping) else vars(cfg)
    rows = []
    for family, a, b in _pairs(runs, cfg):
        for metric in COMPARED:
            row = _compare(a, b, metric)
            if row is not None:
                rows.append({"family": family, "a": _name(a), "b": _name(b),
                             "shift": a["shift"], "a_run": _ident(a), "b_run": _ident(b),
                             "metric": metric, **row})
    for r, h in zip(rows, _holm_by_family(rows, lambda r: r["p_value"])):
        if h is not None:
            r.update(p_holm=h[0], significant=h[1])
    for r, h in zip(rows, _holm_by_family(rows, _crossed_p)):
        if h is not None and "crossed" in r:
            r["crossed"].update(p_holm=h[0], significant=h[1])
    return rows


def _compare(a: Mapping, b: Mapping, metric: str) -> dict | None:
    """``a − b`` in ``metric`` over the seeds where both are defined (``None``: < 2),
    with ``crossed`` for test accuracy when both runs stored per-example correctness."""
    va, vb = _values(a, metric), _values(b, metric)
    keep = [i for i, (x, y) in enumerate(zip(va, vb)) if x is not None and y is not None]
    if len(keep) < 2:
        return None
    out = stats.paired_difference([va[i] for i in keep], [vb[i] for i in keep])
    if metric == "test_acc":
        ca, cb = correct_matrix(a["per_seed"]), correct_matrix(b["per_seed"])
        if ca is not None and cb is not None and ca.shape == cb.shape:
            out["crossed"] = crossed_cells(ca[keep], cb[keep])
    return out


def _crossed_p(row: Mapping) -> float:
    """A comparison's p-value in the crossed family: over seeds and test examples where
    it has one, else over seeds."""
    return row["crossed"]["p_value"] if "crossed" in row else row["p_value"]


def _holm_by_family(rows: Sequence[Mapping], p_of) -> list[tuple[float, bool] | None]:
    """``(Holm-adjusted p, rejected at 5%)`` of each row within its family, over the
    family's rows with a finite ``p_of(row)`` (``None`` for the others)."""
    out = [None] * len(rows)
    for family in dict.fromkeys(r["family"] for r in rows):
        idx = [i for i, r in enumerate(rows) if r["family"] == family
               and math.isfinite(p_of(r))]
        if idx:
            h = stats.holm([p_of(rows[i]) for i in idx])
            for i, p, rej in zip(idx, h["p_adjusted"], h["reject"]):
                out[i] = (float(p), bool(rej))
    return out


def _ident(entry: Mapping) -> list:
    return [entry["key"], entry["shift"], entry["shuffled"]]


def _name(entry: Mapping) -> str:
    return f"{entry['label']} s={entry['shift']}"


def _mean(entry, metric):
    s = (entry or {}).get("stats", {}).get(metric)
    return None if s is None else s["mean"]


def _comparison(rows, family, shift, metric):
    """The comparison of S-FC β-LASSO (aligned pixels) at ``shift`` in ``family``."""
    for r in rows:
        if (r["family"], r["metric"]) == (family, metric) and \
                list(r["a_run"]) == ["s-fc-blasso", shift, False]:
            return r
    return None


def criterion(results: Mapping, cfg) -> dict:
    """The criterion of the module docstring, evaluated per dose ``s >= criterion_shift``."""
    cfg = cfg if isinstance(cfg, Mapping) else vars(cfg)
    runs, rows = results["runs"], results["comparisons"]
    ctrl = [_mean(_find(runs, "s-fc-blasso", s, True), "sharing") for s in cfg["control_shifts"]]
    control_ok = bool(ctrl) and all(v is not None and abs(v) <= CONTROL_BAND for v in ctrl)
    doses = []
    for s in (s for s in cfg["shifts"] if s >= cfg["criterion_shift"]):
        run = _find(runs, "s-fc-blasso", s)
        share = _comparison(rows, "dose", s, "sharing")
        equi = _comparison(rows, "dose", s, "equivariance")
        score, power = _mean(run, "sharing"), _mean(run, "sharing_power")
        checks = {"sharing_up": bool(share and share["ci_low"] > 0),
                  "score": score is not None and score >= MIN_SCORE,
                  "power": power is not None and power >= MIN_POWER,
                  "equivariance_up": bool(equi and equi["ci_low"] > 0),
                  "control": control_ok}
        doses.append({"shift": s, "score": score, "power": power, "checks": checks})
    if any(all(d["checks"].values()) for d in doses):
        verdict = "yes"
    elif doses and all(not d["checks"]["power"] for d in doses):
        verdict = "not detectable at this power"
    else:
        verdict = "no"
    return {"verdict": verdict, "doses": doses, "control_scores": ctrl,
            "thresholds": {"score": MIN_SCORE, "power": MIN_POWER, "control": CONTROL_BAND}}


# ----------------------------------------------------------------------- rendering


def _cell(entry, metric, digits=3):
    s = (entry.get("stats") or {}).get(metric)
    return "–" if s is None else stats.format_mean_std(s, digits=digits)


def run_line(entry: Mapping) -> str:
    """One progress line of a finished run."""
    return (f"{_name(entry)}: test acc {_cell(entry, 'test_acc')}, sharing "
            f"{_cell(entry, 'sharing')} (power {_cell(entry, 'sharing_power', 2)}), "
            f"cal. locality {_cell(entry, 'calibrated_locality')}, taps "
            f"{_cell(entry, 'taps_median', 1)}")


def dose_rows(runs: Sequence[Mapping]) -> list[dict]:
    """The dose table: one row per run."""
    rows = []
    for e in runs:
        change = e["key"] != "s-fc-blasso"
        rows.append({
            "model": e["label"], "s": e["shift"], "n": len(e["per_seed"]),
            "test acc": _cell(e, "test_acc"), "shifted acc": _cell(e, "test_acc_shifted"),
            "dead": _cell(e, "dead_fraction", 2), "taps / live unit": _cell(e, "taps_median", 1),
            "cal. locality": _cell(e, "calibrated_locality"),
            "sharing (unclipped)": _cell(e, "sharing"), "power": _cell(e, "sharing_power", 2),
            "power (10% jitter)": _cell(e, "sharing_power_jitter", 2),
            "equivariance": _cell(e, "equivariance"),
            "W−W₀ sharing": _cell(e, "change_sharing") if change else "",
            "W−W₀ equivariance": _cell(e, "change_equivariance") if change else ""})
    return rows


def map_rows(regime: Mapping) -> list[dict]:
    """The λ map: one row per λ and census epoch."""
    def fmt(v, f=".3f"):
        return "–" if v is None else format(v, f)
    return [{"λ₁ (x grad)": f"{r['lambda']:.2g} ({r['multiple']:g})", "epoch": r["epoch"],
             "λΣη": fmt(r["lambda_sum_lr"]), "dead": fmt(r["dead_fraction"], ".2f"),
             "taps / live unit": fmt(r["taps_median"], "g"),
             "cal. locality": fmt(r.get("calibrated_locality")),
             "test acc": fmt(r["test_acc"])} for r in regime["map"]]


#: The comparisons the README shows: family -> metrics (the JSON holds every one).
SHOWN = {"dose": ("sharing", "equivariance", "calibrated_locality", "test_acc_shifted"),
         "vs S-LOCAL": ("sharing", "equivariance", "test_acc"),
         "vs S-FC SGD": ("sharing", "calibrated_locality"),
         "control": ("sharing", "equivariance")}


#: Columns of the seed-only interval and its Holm-adjusted p / decision (within the family).
SEED_CI, SEED_P, SEED_SIGNIFICANT = ("difference [95% CI, seeds]", "p (Holm, seeds)",
                                     "significant (seeds)")


def comparison_rows(rows: Sequence[Mapping], shown: Mapping = SHOWN) -> list:
    """The comparisons table: the 95% t interval over seeds and its Holm-adjusted p
    (within the family, over every metric), and for test accuracy the 95% interval over
    seeds and test examples with its Holm-adjusted p (:data:`CI_COLUMN`,
    :data:`P_COLUMN`; "–" for the other metrics and for results without per-example
    correctness)."""
    out = []
    for r in rows:
        if r["metric"] not in shown.get(r["family"], ()):
            continue
        out.append({"family": r["family"], "comparison": f"{r['a']} − {r['b']}",
                    "metric": r["metric"], "n": r["n"],
                    SEED_CI: stats.format_ci(r, digits=3),
                    SEED_P: stats.format_p(r["p_holm"]) if "p_holm" in r else "–",
                    SEED_SIGNIFICANT: "yes" if r.get("significant") else "no",
                    **_crossed_columns(r.get("crossed"))})
    return out


def _crossed_columns(crossed: Mapping | None) -> dict:
    """:data:`CI_COLUMN` (the interval only: the seed-only column shows the same mean)
    and :data:`P_COLUMN` of a stored ``crossed`` difference; "–" without one."""
    if crossed is None:
        return {CI_COLUMN: "–", P_COLUMN: "–"}
    text = stats.format_ci(crossed, digits=3)
    p = crossed.get("p_holm")
    return {CI_COLUMN: text[text.index("["):] if "[" in text else text,
            P_COLUMN: "–" if p is None else stats.format_p(p)}


def regime_text(results: Mapping) -> str:
    """The regime in one table: gradient scale, chosen λ, rule, gates."""
    g, c = results["regime"]["gradient"], results["regime"]["choice"]
    q = g["quantiles"]
    row = {"median ∣∂L/∂W₁∣": f"{g['median']:.2g}", "p90": f"{q['0.9']:.2g}",
           "p99": f"{q['0.99']:.2g}", "init std(W₁)": f"{g['init_std']:.3f}",
           "chosen λ₁": f"{c['lambda']:.2g} ({c['multiple']:g} x median)",
           "λΣη": f"{c['census']['lambda_sum_lr']:.3f}", "gates met": str(c["gates_met"]),
           "rule": c["rule"]}
    return format_table([row])


def report_tables(results: Mapping) -> dict[str, str]:
    """``{table id: Markdown}`` of the README (``sharing_emergence.regime``, ``.map``,
    ``.dose``, ``.comparisons``, ``.criterion``)."""
    crit = results["criterion"]
    crit_rows = [{"s": d["shift"],
                  "β-LASSO sharing": "–" if d["score"] is None else f"{d['score']:.3f}",
                  "its power": "–" if d["power"] is None else f"{d['power']:.2f}",
                  **{CHECK_LABELS[k]: "yes" if v else "no" for k, v in d["checks"].items()}}
                 for d in crit["doses"]]
    return {f"{NAME}.regime": regime_text(results),
            f"{NAME}.map": format_table(map_rows(results["regime"])),
            f"{NAME}.dose": format_table(dose_rows(results["runs"])),
            f"{NAME}.comparisons": format_table(comparison_rows(results["comparisons"])),
            f"{NAME}.criterion": format_table(crit_rows) + f"\n\nverdict: **{crit['verdict']}**"}


def print_summary(results: Mapping) -> None:
    """The tables as the README shows them."""
    for name, table in report_tables(results).items():
        print(f"\n{name}\n{table}")
