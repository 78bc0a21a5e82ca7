"""The tables of ``experiments.nlgp_localization``, from its results dict.

:func:`report_tables` renders the README tables ``nlgp_localization.main`` (IPR and test
error vs ``t``), ``nlgp_localization.gain`` and ``nlgp_localization.comparisons`` from
``nlgp_localization.json`` (``experiments.report`` calls it on the committed JSON);
:func:`print_tables` prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from jaxcnn import stats

from experiments.harness.tables import format_table

__all__ = ["LOCALISED_FACTOR", "format_ci", "localised_fractions", "print_tables",
           "report_tables"]

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


def report_tables(results: Mapping) -> dict[str, str]:
    """The Markdown tables of a results dict (as saved in ``nlgp_localization.json``).

    Returns:
      ``{"nlgp_localization.main"``: mean IPR and test error (%) vs ``t`` for NLGP and GP,
      mean ± std over seeds, with n; ``"nlgp_localization.gain"``: final IPR per gain
      (mean ± std), ratio of means, test error; ``"nlgp_localization.comparisons"``: the
      paired NLGP - GP difference in final IPR [95% CI], n and the ratio of means, for the
      main run and each gain of the sweep; ``"nlgp_localization.localised"``: the
      fraction of units with final IPR above 5x the random level per arm, with the
      paired difference (:func:`localised_fractions`)``}``.
    """
    ms = stats.format_mean_std
    cur, n = results["curves"], len(results["seeds"])

    def cell(name, key, i, **kw):
        return ms({"mean": cur[name][key]["mean"][i], "std": cur[name][key]["std"][i],
                   "n": n}, **kw)

    rows = [{"t": f"{t:g}", "n": n, "IPR NLGP": cell("nlgp", "ipr_mean", i, digits=4),
             "IPR GP": cell("gp", "ipr_mean", i, digits=4),
             "test err NLGP %": cell("nlgp", "test_error", i, scale=PERCENT),
             "test err GP %": cell("gp", "test_error", i, scale=PERCENT)}
            for i, t in enumerate(cur["nlgp"]["t"])]
    gain = [{"gain": f"{r['gain']:g}", "t": f"{r['time_max']:g}", "n": r["ipr_nlgp"]["n"],
             "IPR NLGP": ms(r["ipr_nlgp"], digits=4), "IPR GP": ms(r["ipr_gp"], digits=4),
             "ratio of means": f"{r['ratio_of_means']:.2f}",
             "test err NLGP %": ms(r["test_error_nlgp"], scale=PERCENT),
             "test err GP %": ms(r["test_error_gp"], scale=PERCENT)}
            for r in results["gain_sweep"]]
    comp = [{"comparison": f"{c['comparison']} ({c['run']})", "gain": f"{c['gain']:g}",
             "t": f"{c['time_max']:g}", "n": c["n"],
             f"Δ final IPR [{PERCENT * c['confidence']:.0f}% CI]": format_ci(c, digits=4),
             "ratio of means": f"{c['ratio_of_means']:.2f}"}
            for c in results["comparisons"]]
    loc = localised_fractions(results)
    localised = [{"units with final IPR > 5 x 3/D": f"> {loc['threshold']:.3g}", "n": n,
                  "fraction NLGP": ms(stats.summary(loc["nlgp"]), digits=2),
                  "fraction GP": ms(stats.summary(loc["gp"]), digits=2),
                  "NLGP − GP [95% CI]": format_ci(loc["diff"], digits=2)}]
    return {"nlgp_localization.main": format_table(rows),
            "nlgp_localization.gain": format_table(gain),
            "nlgp_localization.comparisons": format_table(comp),
            "nlgp_localization.localised": format_table(localised)}


def print_tables(results: Mapping) -> None:
    """Prints the tables of :func:`report_tables` (IPR vs time, gain sweep, comparisons)."""
    tables = report_tables(results)
    s = results["summary"]
    print(f"\nNLGP localization (D={s['D']}, 3/D={s['random_ipr_3_over_D']:.4f}), seeds "
          f"{results['seeds']}: mean ± std over seeds; published (D=400): NLGP 0.008 -> "
          f"0.055, GP ~0.008 over t = 1e2 -> 1e4")
    print(tables["nlgp_localization.main"])
    print(f"final IPR ratio of means NLGP/GP = {s['ipr_ratio_of_means']:.2f} "
          f"(acceptance >= 3: {'yes' if s['acceptance_ratio_ge_3'] else 'NO'})")
    print("\nGain sweep (final mean IPR)")
    print(tables["nlgp_localization.gain"])
    print("\nPaired differences NLGP - GP over seeds (95% t interval)")
    print(tables["nlgp_localization.comparisons"])
    print(f"\nLocalised units (final IPR > {LOCALISED_FACTOR} x 3/D)")
    print(tables["nlgp_localization.localised"])
