"""The tables of ``experiments.nlgp_localization``, from its results dict.

:func:`report_tables` renders the README tables ``STEM.main`` (IPR and test error vs
``t``), ``STEM.gain``, ``STEM.comparisons``, ``STEM.localised`` and ``STEM.tiling`` from
``STEM.json`` -- ``nlgp_localization`` for a ring, ``nlgp_localization_2d`` for a torus
(``experiments.report`` calls it on each committed JSON); :func:`print_tables` prints
them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from jaxcnn import stats

from experiments.harness.tables import format_table
from experiments.nlgp_localization.config import results_stem

__all__ = ["LOCALISED_FACTOR", "comparison_rows", "format_ci", "gain_rows",
           "localised_fractions", "localised_rows", "print_tables", "report_tables",
           "tiling_rows", "time_rows"]

#: Errors and confidence levels are shown in percent.
PERCENT = 100
#: A unit is "localised" when its final IPR exceeds this multiple of the random level 3/D.
LOCALISED_FACTOR = 5


def localised_fractions(results: Mapping, *, factor: float = LOCALISED_FACTOR) -> dict:
    """Per arm and seed, the fraction of hidden units whose final IPR exceeds ``factor``
    times the random level ``3/D`` (the mean IPR can hide a mix of localised and
    delocalised units).

    Returns:
      ``{"threshold": factor * 3/D, "nlgp": [per seed], "gp": [per seed],
      "diff": paired NLGP - GP difference (:func:`jaxcnn.stats.paired_difference`)}``.

    Example:
      >>> curves = {arm: {"per_seed": [{"ipr_units": [[0.0], [0.2, 0.03, 0.2, 0.03]]},
      ...                              {"ipr_units": [[0.0], [0.2, 0.2, 0.2, 0.03]]}]}
      ...           for arm in ("nlgp", "gp")}
      >>> out = localised_fractions({"curves": curves, "summary": {"random_ipr_3_over_D": 0.03}})
      >>> out["threshold"], out["nlgp"]
      (0.15, [0.5, 0.75])
    """
    threshold = factor * results["summary"]["random_ipr_3_over_D"]
    out = {"threshold": round(threshold, 12)}
    for arm in ("nlgp", "gp"):
        out[arm] = [sum(v > threshold for v in c["ipr_units"][-1]) / len(c["ipr_units"][-1])
                    for c in results["curves"][arm]["per_seed"]]
    out["diff"] = stats.paired_difference(out["nlgp"], out["gp"])
    return out


def format_ci(diff: Mapping, **kw) -> str:
    """:func:`stats.format_ci` of a stored difference (``None`` bounds: no interval)."""
    return stats.format_ci({k: math.nan if v is None else v for k, v in diff.items()}, **kw)


def time_rows(results: Mapping) -> list[dict]:
    """Mean IPR and test error (%) vs ``t`` for NLGP and GP (mean ± std over seeds)."""
    ms = stats.format_mean_std
    cur, n = results["curves"], len(results["seeds"])

    def cell(name, key, i, **kw):
        return ms({"mean": cur[name][key]["mean"][i], "std": cur[name][key]["std"][i],
                   "n": n}, **kw)

    return [{"t": f"{t:g}", "n": n, "IPR NLGP": cell("nlgp", "ipr_mean", i, digits=4),
             "IPR GP": cell("gp", "ipr_mean", i, digits=4),
             "test err NLGP %": cell("nlgp", "test_error", i, scale=PERCENT),
             "test err GP %": cell("gp", "test_error", i, scale=PERCENT)}
            for i, t in enumerate(cur["nlgp"]["t"])]


def gain_rows(results: Mapping) -> list[dict]:
    """Final IPR per gain of the sweep (mean ± std), ratio of means, test error."""
    ms = stats.format_mean_std
    return [{"gain": f"{r['gain']:g}", "t": f"{r['time_max']:g}", "n": r["ipr_nlgp"]["n"],
             "IPR NLGP": ms(r["ipr_nlgp"], digits=4), "IPR GP": ms(r["ipr_gp"], digits=4),
             "ratio of means": f"{r['ratio_of_means']:.2f}",
             "test err NLGP %": ms(r["test_error_nlgp"], scale=PERCENT),
             "test err GP %": ms(r["test_error_gp"], scale=PERCENT)}
            for r in results["gain_sweep"]]


def comparison_rows(results: Mapping) -> list[dict]:
    """The paired NLGP - GP difference in final IPR [95% CI] of each comparison row."""
    return [{"comparison": f"{c['comparison']} ({c['run']})", "gain": f"{c['gain']:g}",
             "t": f"{c['time_max']:g}", "n": c["n"],
             f"Δ final IPR [{PERCENT * c['confidence']:.0f}% CI]": format_ci(c, digits=4),
             "ratio of means": f"{c['ratio_of_means']:.2f}"}
            for c in results["comparisons"]]


def localised_rows(results: Mapping) -> list[dict]:
    """The localised fraction per arm with its paired difference (one row)."""
    ms, n = stats.format_mean_std, len(results["seeds"])
    loc = localised_fractions(results)
    return [{f"units with final IPR > {LOCALISED_FACTOR} x 3/D": f"> {loc['threshold']:.3g}",
             "n": n, "fraction NLGP": ms(stats.summary(loc["nlgp"]), digits=2),
             "fraction GP": ms(stats.summary(loc["gp"]), digits=2),
             "NLGP − GP [95% CI]": format_ci(loc["diff"], digits=2)}]


def tiling_rows(results: Mapping) -> list[dict]:
    """Per arm: how evenly the localised units' centres spread over the field, against
    uniformly random centres (``results["tiling"]``, :mod:`experiments.nlgp_localization.tiling`);
    ``n``: the seeds with at least two localised units (the others have no statistic).

    Example:
      >>> arm = {"per_seed": [{"units": [5, 6]}, {"units": []}], "n": 1,
      ...        "mean_nn": {"mean": 9.0, "std": 0.0, "n": 1},
      ...        "null_mean": {"mean": 6.0, "std": 0.0, "n": 1},
      ...        "ratio": {"mean": 1.5, "std": 0.0, "n": 1},
      ...        "percentile": {"mean": 90.0, "std": 0.0, "n": 1},
      ...        "ratio_minus_1": {"mean": 0.5, "ci_low": None, "ci_high": None, "n": 1}}
      >>> row = tiling_rows({"tiling": {"nlgp": arm, "gp": {**arm, "n": 0}}})[0]
      >>> row["localised units per seed"], row["ratio observed / null"]
      ('2, 0', '1.50')
    """
    ms, rows = stats.format_mean_std, []
    for arm, label in (("nlgp", "NLGP"), ("gp", "GP")):
        t = results["tiling"][arm]
        some = t["n"] > 0

        def cell(name, digits=2, t=t, some=some):
            return ms(t[name], digits=digits) if some else "–"

        rows.append({"arm": label,
                     "localised units per seed": ", ".join(str(len(p["units"]))
                                                           for p in t["per_seed"]),
                     "n": t["n"],
                     "mean NN distance (px)": cell("mean_nn"),
                     "uniform null (px)": cell("null_mean"),
                     "ratio observed / null": cell("ratio"),
                     "ratio − 1 [95% CI]": format_ci(t["ratio_minus_1"], digits=2)
                     if some else "–",
                     "null percentile": cell("percentile", digits=0)})
    return rows


def report_tables(results: Mapping) -> dict[str, str]:
    """The Markdown tables of a results dict (as saved in ``STEM.json``, ``STEM`` =
    :func:`~experiments.nlgp_localization.config.results_stem`: ``nlgp_localization`` for a
    ring, ``nlgp_localization_2d`` for a torus).

    Returns:
      ``{"STEM.main"``: mean IPR and test error (%) vs ``t`` for NLGP and GP, mean ± std
      over seeds, with n; ``"STEM.gain"`` (when the run has a gain sweep): final IPR per
      gain (mean ± std), ratio of means, test error; ``"STEM.comparisons"``: the paired
      NLGP - GP difference in final IPR [95% CI], n and the ratio of means, for the main
      run and each gain of the sweep; ``"STEM.localised"``: the fraction of units with
      final IPR above 5x the random level per arm, with the paired difference
      (:func:`localised_fractions`); ``"STEM.tiling"`` (results with ``tiling``): the
      localised units' mean nearest-neighbour distance against uniform centres
      (:func:`tiling_rows`)``}``.
    """
    stem = results_stem(results["config"]["shape"])
    tables = {"main": time_rows(results)}
    if results["gain_sweep"]:
        tables["gain"] = gain_rows(results)
    tables["comparisons"] = comparison_rows(results)
    tables["localised"] = localised_rows(results)
    if "tiling" in results:
        tables["tiling"] = tiling_rows(results)
    return {f"{stem}.{k}": format_table(v) for k, v in tables.items()}


def print_tables(results: Mapping) -> None:
    """Prints the tables of :func:`report_tables` (IPR vs time, gain sweep, comparisons,
    localised units, tiling)."""
    tables = report_tables(results)
    stem, s = results_stem(results["config"]["shape"]), results["summary"]
    print(f"\nNLGP localization (shape {tuple(results['config']['shape'])}, D={s['D']}, "
          f"3/D={s['random_ipr_3_over_D']:.4f}), seeds {results['seeds']}: mean ± std over "
          f"seeds; published (D=400): NLGP 0.008 -> 0.055, GP ~0.008 over t = 1e2 -> 1e4")
    print(tables[f"{stem}.main"])
    print(f"final IPR ratio of means NLGP/GP = {s['ipr_ratio_of_means']:.2f} "
          f"(acceptance >= 3: {'yes' if s['acceptance_ratio_ge_3'] else 'NO'})")
    titles = {"gain": "Gain sweep (final mean IPR)",
              "comparisons": "Paired differences NLGP - GP over seeds (95% t interval)",
              "localised": f"Localised units (final IPR > {LOCALISED_FACTOR} x 3/D)",
              "tiling": "Tiling: mean nearest-neighbour distance of the localised units' "
                        "centres vs uniformly random centres (n: seeds with >= 2 localised "
                        "units)"}
    for key, title in titles.items():
        if f"{stem}.{key}" in tables:
            print(f"\n{title}")
            print(tables[f"{stem}.{key}"])
