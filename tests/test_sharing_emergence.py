"""experiments.sharing_emergence: the λ rule, the criterion, the control's augmentation,
and the smoke preset end to end (JSON, tables, figures)."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from experiments.harness import testnoise
from experiments.harness.tables import format_table
from experiments.sharing_emergence import data as se_data
from experiments.sharing_emergence import regime, tables
from experiments.sharing_emergence.config import PRESETS, SharingEmergenceConfig
from jaxcnn import stats
from jaxcnn.data.augment import random_translate


def _row(mult, taps, dead, cal, epoch=10):
    return {"multiple": mult, "lambda": mult * 1e-4, "epoch": epoch, "taps_median": taps,
            "dead_fraction": dead, "calibrated_locality": cal, "test_acc": 0.9,
            "lambda_sum_lr": 0.05}


def test_choose_lambda_prefers_passing_gates_then_localising_then_best_locality():
    cfg = SharingEmergenceConfig()
    rows = [_row(0.3, 60, 0.0, 0.0), _row(0.6, 20, 0.1, 0.6), _row(1.0, 12, 0.2, 0.7)]
    c = regime.choose_lambda(rows, cfg)
    assert c["gates_met"] and c["multiple"] == 0.6  # the most taps among the passing ones
    rows = [_row(0.3, 60, 0.0, 0.0), _row(0.6, 20, 0.1, 0.2), _row(1.0, 5, 0.2, 0.3)]
    c = regime.choose_lambda(rows, cfg)
    assert not c["gates_met"] and c["multiple"] == 0.6 and "localise" in c["rule"]
    rows = [_row(0.3, 60, 0.0, 0.01), _row(0.6, 20, 0.6, 0.05), _row(1.0, 2, 0.9, None)]
    c = regime.choose_lambda(rows, cfg)
    assert c["multiple"] == 0.6 and c["rule"].startswith("no λ localises")
    # only the final census counts
    rows = [_row(1.0, 20, 0.0, 0.9, epoch=5), _row(1.0, 2, 0.0, 0.0, epoch=10)]
    assert not regime.choose_lambda(rows, cfg)["gates_met"]


def test_cumulative_lr_of_a_cosine_is_half_the_area():
    assert regime.cumulative_lr(0.1, total_steps=1000, steps=1000) == pytest.approx(50.0,
                                                                                   rel=1e-3)
    assert regime.cumulative_lr(0.1, total_steps=1000, steps=500) == pytest.approx(
        0.1 * 500 / 2 + 0.1 * 1000 / (2 * np.pi), rel=1e-3)


def _run(key, shift, shuffled, seeds_vals):
    per_seed = [{"first_layer": vals} for vals in seeds_vals]
    return {"key": key, "shift": shift, "shuffled": shuffled, "label": key,
            "per_seed": per_seed, "stats": tables.summarize_seeds(per_seed)}


def _results(score, power, control=0.0, equi_gain=0.2):
    cfg = {"shifts": (0, 2, 4), "control_shifts": (0, 4), "criterion_shift": 2}
    rng = np.random.default_rng(0)
    runs = []
    for s in cfg["shifts"]:
        gain = s / 4
        runs.append(_run("s-fc-blasso", s, False, [
            {"sharing": score * gain + 0.01 * rng.normal(), "sharing_power": power,
             "equivariance": 0.1 + equi_gain * gain + 0.01 * rng.normal()} for _ in range(5)]))
    for s in cfg["control_shifts"]:
        runs.append(_run("s-fc-blasso", s, True, [
            {"sharing": control + 0.01 * rng.normal(), "sharing_power": power,
             "equivariance": 0.0} for _ in range(5)]))
    res = {"runs": runs}
    res["comparisons"] = tables.comparisons(runs, cfg)
    return tables.criterion(res, cfg)


def test_criterion_reads_yes_no_and_not_detectable():
    assert _results(0.5, 0.9)["verdict"] == "yes"
    assert _results(0.5, 0.3)["verdict"] == "not detectable at this power"
    assert _results(0.0, 0.9)["verdict"] == "no"          # powered, no increase
    assert _results(0.5, 0.9, control=0.4)["verdict"] == "no"  # the control moves too
    assert _results(0.5, 0.9, equi_gain=0.0)["verdict"] == "no"  # equivariance disagrees


def test_comparisons_are_holm_adjusted_within_family():
    cfg = {"shifts": (0, 2, 4), "control_shifts": (), "criterion_shift": 2}
    runs = [_run("s-fc-blasso", s, False, [{"sharing": s * 0.1 + 0.01 * i} for i in range(3)])
            for s in cfg["shifts"]]
    rows = [r for r in tables.comparisons(runs, cfg) if r["metric"] == "sharing"]
    assert [r["family"] for r in rows] == ["dose", "dose"]
    for r in rows:
        assert r["p_holm"] >= r["p_value"]


def _acc_run(shift, correct, rng):
    """A β-LASSO run whose seeds store ``correct`` (``(n_seeds, n_test)``) and a score."""
    per_seed = [{"seed": i, "test_acc": float(c.mean()),
                 testnoise.KEY: testnoise.correct_record(c),
                 "first_layer": {"sharing": 0.1 * shift + 0.01 * rng.normal()}}
                for i, c in enumerate(correct)]
    return {"key": "s-fc-blasso", "shift": shift, "shuffled": False, "label": "β-LASSO",
            "per_seed": per_seed, "stats": tables.summarize_seeds(per_seed)}


def _acc_runs(n_seeds=4, n_test=200):
    rng = np.random.default_rng(1)
    correct = {s: rng.random((n_seeds, n_test)) < 0.6 + 0.05 * s for s in (0, 2, 4)}
    return [_acc_run(s, c, rng) for s, c in correct.items()], correct


ACC_CFG = {"shifts": (0, 2, 4), "control_shifts": (), "criterion_shift": 2}
ACC_SHOWN = {"dose": ("sharing", "test_acc")}


def test_test_acc_comparisons_cross_seeds_and_test_examples():
    runs, correct = _acc_runs()
    assert runs[0]["stats"]["test_acc"]["n"] == 4  # the packed record is not a metric
    rows = tables.comparisons(runs, ACC_CFG)
    acc = [r for r in rows if r["metric"] == "test_acc"]
    assert len(acc) == 2 and all("crossed" not in r for r in rows if r["metric"] != "test_acc")
    for r in acc:
        direct = stats.accuracy_difference(correct[r["shift"]], correct[0])
        assert {k: r["crossed"][k] for k in direct} == direct
        assert math.isclose(r["crossed"]["mean"], r["mean"], abs_tol=1e-12)
    # Holm within the family: the crossed p stands in for test_acc's seed-only p
    family = [r["crossed"]["p_value"] if "crossed" in r else r["p_value"] for r in rows]
    holm = stats.holm(family)
    for r, p in zip(rows, holm["p_adjusted"]):
        if "crossed" in r:
            assert r["crossed"]["p_holm"] == pytest.approx(p)
            assert r["crossed"]["significant"] == (p <= 0.05)
    table = tables.comparison_rows(rows, ACC_SHOWN)
    shown = [r for r in rows if r["metric"] in ACC_SHOWN["dose"]]
    assert len(table) == len(shown) == 4
    for r, row in zip(shown, table):
        if r["metric"] == "test_acc":
            ci = stats.format_ci(r["crossed"], digits=3)
            assert row[testnoise.CI_COLUMN] == ci[ci.index("["):]
            assert row[testnoise.P_COLUMN] == stats.format_p(r["crossed"]["p_holm"])
        else:
            assert row[testnoise.CI_COLUMN] == row[testnoise.P_COLUMN] == "–"
        assert row[tables.SEED_CI] == stats.format_ci(r, digits=3)
    header = format_table(table).splitlines()[0]
    assert "95% CI, seeds" in header and testnoise.CI_COLUMN in header
    assert testnoise.P_COLUMN in header


def test_results_without_test_correctness_render_dashes():
    runs, _ = _acc_runs()
    for run in runs:
        for p in run["per_seed"]:
            del p[testnoise.KEY]
    rows = tables.comparisons(json.loads(json.dumps(runs)), ACC_CFG)
    assert rows and all("crossed" not in r for r in rows)
    assert all("p_holm" in r for r in rows)
    table = tables.comparison_rows(rows, ACC_SHOWN)
    assert {row[testnoise.CI_COLUMN] for row in table} == {"–"}
    assert {row[testnoise.P_COLUMN] for row in table} == {"–"}
    assert all(row[tables.SEED_P] != "–" for row in table)


def test_control_translates_before_the_fixed_permutation():
    side = 7
    x = np.random.default_rng(0).random((4, side, side, 1)).astype(np.float32)
    perm = se_data.permutation(side)
    shuffled = np.asarray(se_data._permute(x, perm))
    fn = se_data.augmenter(2, shuffled=True, side=side)
    key = jax.random.key(3)
    expected = np.asarray(se_data._permute(random_translate(key, x, 2), perm))
    np.testing.assert_array_equal(np.asarray(fn(key, shuffled)), expected)
    assert se_data.augmenter(0, shuffled=True, side=side) is None
    assert se_data.augmenter(2, shuffled=True, side=side) == fn  # hashable: no retrace


def test_config_refuses_bad_fields():
    with pytest.raises(ValueError, match=r"^side: expected a divisor of 28"):
        SharingEmergenceConfig(side=9)
    with pytest.raises(ValueError, match=r"^shifts: expected shifts in \[0, 13\]"):
        SharingEmergenceConfig(shifts=(1, 2))
    with pytest.raises(ValueError, match=r"^lambda_grid: expected positive"):
        SharingEmergenceConfig(lambda_grid=(0.0,))


@pytest.mark.slow
def test_smoke_preset_end_to_end(tmp_path):
    from experiments.sharing_emergence.run import main

    results = main(["--preset", "smoke", "--out", str(tmp_path), "--no-progress"])
    written = json.loads((tmp_path / "sharing_emergence.json").read_text())
    cfg = PRESETS["smoke"]
    n_runs = len(cfg.models) * len(cfg.shifts) + len(cfg.control_shifts)
    assert len(written["runs"]) == n_runs == len(results["runs"])
    assert written["regime"]["choice"]["lambda"] > 0
    assert len(written["regime"]["map"]) == len(cfg.lambda_grid) * len(cfg.map_fractions)
    assert written["criterion"]["verdict"] in ("yes", "no", "not detectable at this power")
    n_test = len(se_data.load_digits(cfg.side)["y_test"])
    for run in written["runs"]:
        assert len(run["per_seed"]) == cfg.seeds
        assert 0 <= run["stats"]["test_acc"]["mean"] <= 1
        assert all(p[testnoise.KEY]["n"] == n_test for p in run["per_seed"])
        correct = testnoise.correct_matrix(run["per_seed"])
        assert np.allclose(correct.mean(axis=1), [p["test_acc"] for p in run["per_seed"]],
                           atol=1e-6, rtol=0)
    acc = [c for c in written["comparisons"] if c["metric"] == "test_acc"]
    assert acc and all("crossed" in c for c in acc)
    for c in acc:
        x = c["crossed"]
        assert math.isfinite(x["ci_low"]) and math.isfinite(x["ci_high"])
        assert x["ci_low"] <= x["mean"] <= x["ci_high"]
        assert math.isclose(x["mean"], c["mean"], abs_tol=1e-6)
        assert x["n_test"] == n_test and 0 <= x["p_holm"] <= 1
    assert {"sharing_emergence_dose.png"} <= set(written["figures"])
    for name in written["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    tabs = tables.report_tables(written)
    assert "verdict" in tabs["sharing_emergence.criterion"]
    assert testnoise.CI_COLUMN in tabs["sharing_emergence.comparisons"]
