"""Smoke tests of experiments.mnist1d_table, experiments.nlgp_localization, experiments.ecnn.

Each smoke preset runs in-process through ``main([...])``; the JSON it writes is checked
(keys, types, finite values, curve lengths; for nlgp / ecnn: seeds, per-seed lists of
length n, summaries and ordered paired-difference intervals, ``report_tables`` keys) and
its PNG figures must be valid PNG files, and (ecnn, nlgp_localization) the figures drawn
again from the JSON alone (``experiments.NAME.figures.draw``) must equal the run's pixel
for pixel. A bad ``--preset`` must exit with status 2 and one stderr line naming
``--preset``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import math

import numpy as np
import pytest

from experiments.ecnn import run as ecnn
from experiments.harness import testnoise
from experiments.mnist1d_table import run as mnist1d_table
from experiments.nlgp_localization import run as nlgp_localization
from experiments.nlgp_localization.model import input_dim
from experiments.nlgp_localization.online import checkpoint_chunks, train_online


def _part(module, part):
    """The study module ``experiments.<study>.<part>`` of a study's run module."""
    return importlib.import_module(f"experiments.{module.NAME}.{part}")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _finite_numbers(obj, path="$"):
    """Yields (path, value) for every number in a JSON tree; asserts none is NaN/inf."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        assert math.isfinite(obj), f"non-finite value at {path}: {obj}"
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _finite_numbers(v, f"{path}.{k}")
        return
    assert isinstance(obj, list), f"unexpected type at {path}: {type(obj)}"
    for i, v in enumerate(obj):
        _finite_numbers(v, f"{path}[{i}]")


def _load(tmp_path, name):
    path = tmp_path / f"{name}.json"
    assert path.is_file()
    results = json.loads(path.read_text())
    _finite_numbers(results)
    assert isinstance(results["wall_time"], float) and results["wall_time"] > 0
    assert isinstance(results["device"], str)
    assert isinstance(results["config"], dict)
    return results


def _assert_png(path):
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000, path


def _smoke(module, tmp_path):
    return module.main(["--preset", "smoke", "--out", str(tmp_path), "--no-progress"])


def test_mnist1d_table_smoke(tmp_path):
    _smoke(mnist1d_table, tmp_path)
    res = _load(tmp_path, "mnist1d_table")
    cfg = mnist1d_table.PRESETS["smoke"]
    assert res["preset"] == "smoke"
    trained = mnist1d_table.model_names(cfg)
    baselines = [m for m in trained if m in mnist1d_table.BASELINES]
    per_dataset = len(baselines) * len(cfg.variants) + len(trained) - len(baselines)
    assert len(res["runs"]) == per_dataset * 2  # seeds inside each run
    assert res["seeds"] == list(range(cfg.seeds))
    for run in res["runs"]:
        assert run["model"] in trained and run["dataset"] in mnist1d_table.DATASETS
        assert run["variant"] in cfg.variants
        _assert_summary(run["test_acc"], cfg.seeds)
        assert len(run["per_seed"]) == cfg.seeds
        assert all(0.0 <= p["test_acc"] <= 100.0 for p in run["per_seed"])
        assert len(run["curves"]["test_acc"]) == run["epochs"]
        assert isinstance(run["num_params"], int) and run["num_params"] > 0
    by = {(r["model"], r["variant"], r["dataset"]): r for r in res["runs"]}
    # The torch recipe really changes the run (initialisation and batch order).
    assert by[("cnn", "torch", "mnist1d")]["per_seed"] != by[("cnn", "ours", "mnist1d")]["per_seed"]
    models_in_table = [r["model"] for r in res["table"]]
    assert models_in_table == (["cnn"] * len(cfg.variants) + ["fc_blasso"]
                               + list(mnist1d_table.PUBLISHED_ONLY))
    for row in res["table"]:
        if row["model"] in mnist1d_table.PUBLISHED:
            pub = mnist1d_table.PUBLISHED[row["model"]]
            assert (row["published_normal"], row["published_shuffled"]) == pub
        if row["model"] in trained:
            assert isinstance(row["ours_normal"], float)
            assert isinstance(row["ours_shuffled"], float)
            assert row["ours_normal_n"] == cfg.seeds
        else:
            assert row["ours_normal"] is None
        if row["model"] == "cnn":
            assert row["within_1sd_normal"] == (abs(row["ours_normal"] - 94.0)
                                                <= row["ours_normal_std"])
    assert set(res["acceptance"]) == {"cnn_ge_90", "mlp_within_6_of_68"}
    for c in res["comparisons"]:
        _assert_diff(c["diff"], cfg.seeds)
    fc = [r for r in res["runs"] if r["model"] == "fc_blasso"][0]
    assert 0 < fc["per_seed"][0]["first_layer_nonzeros"] <= fc["per_seed"][0]["first_layer_size"]
    _assert_tables(mnist1d_table, res, ["mnist1d_table.main", "mnist1d_table.comparisons"])
    assert res["provenance"]["seeds"] == res["seeds"]
    _assert_png(tmp_path / "mnist1d_table.png")
    _assert_mnist1d_table_test_noise(res)


def _assert_mnist1d_table_test_noise(res):
    """Per-example correctness equals each seed's accuracy (%); the comparisons' crossed
    intervals are in points; the table shows them, and "-" for results without them."""
    correct = {}
    for run in res["runs"]:
        c = testnoise.correct_matrix(run["per_seed"])
        assert c.shape[0] == len(run["seeds"])
        assert np.allclose(100 * c.mean(1), [p["test_acc"] for p in run["per_seed"]],
                           atol=1e-4)
        correct[(f"{mnist1d_table.LABELS[run['model']]} [{run['variant']}]",
                 run["dataset"])] = c
    assert res["comparisons"]
    for comp in res["comparisons"]:
        a, b = correct[(comp["a"], comp["dataset"])], correct[(comp["b"], comp["dataset"])]
        assert comp["crossed"] == testnoise.crossed_cells(a, b, scale=100)
        assert comp["crossed"]["mean"] == pytest.approx(comp["diff"]["mean"], abs=1e-4)
    tables = _part(mnist1d_table, "tables")
    header = tables.report_tables(res)["mnist1d_table.comparisons"].splitlines()[0]
    assert testnoise.CI_COLUMN in header and testnoise.P_COLUMN in header
    old = json.loads(json.dumps(res))
    for comp in old["comparisons"]:
        del comp["crossed"]
    rows = tables.report_tables(old)["mnist1d_table.comparisons"].splitlines()[2:]
    assert rows and all(r.rstrip(" |").endswith("| -") for r in rows)


def _assert_summary(s, n):
    """A ``stats.summary`` dict over ``n`` seeds."""
    assert set(s) == {"mean", "std", "n"} and s["n"] == n and s["std"] >= 0.0


def _assert_diff(d, n):
    """A ``stats.paired_difference`` dict over ``n >= 2`` seeds: ordered 95% interval."""
    assert {"mean", "std", "n", "ci_low", "ci_high", "half_width", "confidence"} <= set(d)
    assert d["n"] == n and d["confidence"] == 0.95
    assert d["ci_low"] <= d["mean"] <= d["ci_high"]
    assert d["half_width"] == pytest.approx((d["ci_high"] - d["ci_low"]) / 2, abs=1e-9)


def _assert_tables(module, res, keys):
    tables = _part(module, "tables").report_tables(res)
    assert sorted(tables) == sorted(keys)
    for text in tables.values():
        lines = text.splitlines()
        assert len(lines) >= 3 and lines[0].startswith("|") and set(lines[1]) <= set("|-")
        assert " n " in lines[0]
    return tables


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """``module -> (out folder, printed stdout)`` of its smoke run, run once per test module
    (the smoke test and the figure test share it)."""
    done = {}

    def get(module):
        if module.NAME not in done:
            out = tmp_path_factory.mktemp(module.NAME)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                _smoke(module, out)
            done[module.NAME] = (out, printed.getvalue())
        return done[module.NAME]

    return get


def _seeded_smoke(smoke_run, module):
    """``(out folder, printed, results, smoke preset, seeds)`` of a smoke run over the
    preset's seeds ``0 .. n - 1`` (checked, in the results and their provenance)."""
    tmp_path, printed = smoke_run(module)
    res = _load(tmp_path, module.NAME)
    cfg = module.PRESETS["smoke"]
    n = cfg.seeds
    assert res["seeds"] == list(range(n)) and res["provenance"]["seeds"] == res["seeds"]
    return tmp_path, printed, res, cfg, n


def test_nlgp_localization_smoke(smoke_run):
    tmp_path, printed, res, cfg, n = _seeded_smoke(smoke_run, nlgp_localization)
    n_points = len(checkpoint_chunks(cfg, cfg.time_max)) + 1
    d = input_dim(cfg)
    for name in ("nlgp", "gp"):
        cur = res["curves"][name]
        assert len(cur["t"]) == n_points
        assert cur["t"][0] == 0.0 and cur["t"] == sorted(cur["t"])
        assert cur["t"][-1] == pytest.approx(cfg.time_max, rel=0.05)
        assert [p["seed"] for p in cur["per_seed"]] == res["seeds"]
        for p in cur["per_seed"]:
            for key in ("ipr_mean", "ipr_units", "test_mse", "test_error"):
                assert len(p[key]) == n_points, (name, key)
            assert all(len(u) == cfg.hidden for u in p["ipr_units"])
            # IPR of a D-vector lies in [1/D, 1]
            assert all(1.0 / d - 1e-6 <= v <= 1.0 for v in p["ipr_mean"])
            assert p["final_ipr"] == p["ipr_mean"][-1]
        assert len(cur["final_ipr"]) == n
        for key in ("ipr_mean", "test_error"):
            assert len(cur[key]["mean"]) == len(cur[key]["std"]) == n_points
            assert cur[key]["mean"][-1] == pytest.approx(
                sum(p[key][-1] for p in cur["per_seed"]) / n)
        fields = res["receptive_fields"][name]
        assert len(fields) == n
        assert all(len(w) == d and all(len(row) == cfg.hidden for row in w) for w in fields)
    # paired: the same seed starts both runs from the same weights
    assert res["curves"]["nlgp"]["per_seed"][0]["ipr_units"][0] == \
        res["curves"]["gp"]["per_seed"][0]["ipr_units"][0]
    s = res["summary"]
    for key in ("final_ipr_nlgp", "final_ipr_gp", "final_test_error_nlgp",
                "final_test_error_gp"):
        _assert_summary(s[key], n)
    _assert_diff(s["ipr_diff_nlgp_minus_gp"], n)
    assert s["ipr_diff_nlgp_minus_gp"]["mean"] == pytest.approx(
        s["final_ipr_nlgp"]["mean"] - s["final_ipr_gp"]["mean"], abs=1e-9)
    assert s["ipr_ratio_of_means"] == pytest.approx(s["final_ipr_nlgp"]["mean"]
                                                    / s["final_ipr_gp"]["mean"])
    assert isinstance(s["acceptance_ratio_ge_3"], bool)
    assert isinstance(s["acceptance_diff_ci_above_0"], bool)
    assert len(res["per_seed"]) == n
    assert [r["gain"] for r in res["gain_sweep"]] == list(cfg.gains)
    for r in res["gain_sweep"]:
        _assert_summary(r["ipr_nlgp"], n)
        _assert_summary(r["ipr_gp"], n)
        _assert_diff(r["ipr_diff_nlgp_minus_gp"], n)
        assert len(r["per_seed"]) == n
    assert len(res["comparisons"]) == 1 + len(cfg.gains)
    for c in res["comparisons"]:
        _assert_diff(c, n)
    tables = _assert_tables(nlgp_localization, res, ["nlgp_localization.main",
                                                     "nlgp_localization.gain",
                                                     "nlgp_localization.comparisons",
                                                     "nlgp_localization.localised",
                                                     "nlgp_localization.tiling"])
    assert tables["nlgp_localization.main"] in printed
    assert tables["nlgp_localization.localised"] in printed
    assert " ± " in tables["nlgp_localization.main"] and "[" in \
        tables["nlgp_localization.comparisons"]
    for name in ("nlgp_ipr_vs_time", "nlgp_receptive_fields", "nlgp_ipr_vs_gain"):
        _assert_png(tmp_path / f"{name}.png")


def test_nlgp_localization_replica_is_the_single_run():
    """Seed axis: replica s of a vmapped run equals the run of its key alone."""
    import jax

    cfg = nlgp_localization.PRESETS["smoke"]
    keys = jax.vmap(jax.random.key)(jax.numpy.arange(3))
    both = train_online(cfg, keys, gain=3.0, gaussian=False, time_max=10.0)
    alone = train_online(cfg, keys[2:], gain=3.0, gaussian=False, time_max=10.0, seeds=[2])
    assert alone["per_seed"][0]["seed"] == both["per_seed"][2]["seed"] == 2
    assert alone["per_seed"][0]["ipr_mean"] == pytest.approx(both["per_seed"][2]["ipr_mean"],
                                                             rel=1e-4)
    assert alone["per_seed"][0]["test_mse"] == pytest.approx(both["per_seed"][2]["test_mse"],
                                                             rel=1e-4)
    assert both["per_seed"][0]["ipr_mean"][-1] != both["per_seed"][1]["ipr_mean"][-1]


def test_ecnn_smoke(smoke_run):
    tmp_path, printed, res, cfg, n = _seeded_smoke(smoke_run, ecnn)
    relax_epochs = sorted(set(cfg.relax_epochs))
    assert [(r["treatment"], r["relax_epoch"]) for r in res["relax"]] == [
        (t, e) for t in ("same_lr", "conv_step") for e in relax_epochs]
    # the embedding is exact: identical logits at the moment of embedding
    assert res["max_embedding_diff"] < 1e-4
    for r in res["relax"]:
        assert [p["seed"] for p in r["per_seed"]] == res["seeds"]
        for key in ("test_acc", "test_acc_at_embedding", "final_conv_distance"):
            _assert_summary(r[key], n)
        for p in r["per_seed"]:
            emb = p["embedding"]
            assert emb["max_abs_diff_eval"] < 1e-4 and emb["max_abs_diff_train"] < 1e-4
            assert emb["conv_distance_at_embedding"] < 1e-4  # starts in the conv subspace
            length = cfg.epochs - r["relax_epoch"] + 1
            assert len(p["curves"]["epoch"]) == len(p["curves"]["conv_distance"]) == length
            assert 0.0 <= p["test_acc"] <= 100.0
    same, conv = res["relax"][:len(relax_epochs)], res["relax"][len(relax_epochs):]
    # the treatments start from the same embedded CNN and then step differently
    assert [p["test_acc_at_embedding"] for p in same[0]["per_seed"]] == [
        p["test_acc_at_embedding"] for p in conv[0]["per_seed"]]
    assert ([p["curves"]["conv_distance"] for p in same[0]["per_seed"]]
            != [p["curves"]["conv_distance"] for p in conv[0]["per_seed"]])
    # a relax at the end is each seed's own CNN (the snapshots are kept per seed): equal up
    # to one flipped test prediction (200 test samples in smoke), under either treatment
    for last in (same[-1], conv[-1]):
        assert last["relax_epoch"] == cfg.epochs
        for p, c in zip(last["per_seed"], res["cnn"]["per_seed"]):
            assert p["test_acc"] == pytest.approx(c["test_acc"], abs=0.51)
    sc = res["fc_scratch"]
    _assert_summary(sc["test_acc"], n)
    _assert_summary(sc["final_conv_distance"], n)
    assert len(sc["per_seed"]) == n
    for p in sc["per_seed"]:
        assert len(p["curves"]["conv_distance"]) == cfg.epochs + 1
        assert p["final_conv_distance"] > 0.5  # a standard FC layer is far from any conv
    _assert_summary(res["cnn"]["test_acc"], n)
    assert len(res["cnn"]["per_seed"]) == n
    assert all(len(p["curves"]["test_acc"]) == cfg.epochs for p in res["cnn"]["per_seed"])
    comps = res["comparisons"]
    # each arm against the CNN and the FC from scratch; a conv_step arm that trained also
    # against the same_lr arm of its relax epoch
    assert [(c["treatment"], c["relax_epoch"], c["baseline"]) for c in comps] == [
        (t, r, b) for t in ("same_lr", "conv_step") for r in relax_epochs
        for b in ("cnn", "fc_scratch", "same_lr")
        if b != "same_lr" or (t == "conv_step" and r < cfg.epochs)]
    for c in comps:
        _assert_diff(c, n)
        arm = next(r for r in res["relax"] if r["relax_epoch"] == c["relax_epoch"]
                   and r["treatment"] == c["treatment"])
        base = res[c["baseline"]] if c["baseline"] != "same_lr" else next(
            r for r in res["relax"] if r["relax_epoch"] == c["relax_epoch"]
            and r["treatment"] == "same_lr")
        assert c["mean"] == pytest.approx(arm["test_acc"]["mean"] - base["test_acc"]["mean"],
                                          abs=1e-9)
    # per-example correctness is stored and counts the very accuracy each arm reports
    from experiments.harness.testnoise import correct_matrix
    for arm in (res["cnn"], sc, *res["relax"]):
        acc = 100 * correct_matrix(arm["per_seed"]).mean(1)
        np.testing.assert_allclose(acc, [p["test_acc"] for p in arm["per_seed"]], atol=1e-6)
    assert all(c["seeds_test"] is not None for c in comps if c["relax_epoch"] < cfg.epochs)
    tables = _assert_tables(ecnn, res, ["ecnn.main", "ecnn.comparisons"])
    assert tables["ecnn.main"] in printed and tables["ecnn.comparisons"] in printed
    assert " ± " in tables["ecnn.main"] and "[" in tables["ecnn.comparisons"]
    assert "CNN's conv step" in tables["ecnn.comparisons"] and "p (Holm, seeds+test)" in tables[
        "ecnn.comparisons"]
    _assert_png(tmp_path / "ecnn_relax.png")
    _assert_png(tmp_path / "ecnn_conv_distance.png")


@pytest.mark.parametrize("module", [ecnn, nlgp_localization],
                         ids=["ecnn", "nlgp_localization"])
def test_figures_are_redrawn_from_the_json_alone(module, smoke_run, tmp_path):
    """``draw(json.load(...), other_dir)`` writes the run's very PNGs (pixel-equal)."""
    from matplotlib.image import imread

    from experiments.plot import figure_function

    out, _ = smoke_run(module)
    with open(out / f"{module.NAME}.json") as f:
        results = json.load(f)
    drawer = _part(module, "figures")
    assert figure_function(results) is drawer.draw
    written = drawer.draw(results, tmp_path)
    run_pngs = sorted(p.name for p in out.glob("*.png"))
    assert run_pngs and sorted(written) == run_pngs == sorted(results["figures"])
    for name in run_pngs:
        assert written[name] == str(tmp_path / name)
        ours, theirs = imread(tmp_path / name), imread(out / name)
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs), name


@pytest.mark.parametrize("module", [mnist1d_table, nlgp_localization, ecnn],
                         ids=["mnist1d_table", "nlgp_localization", "ecnn"])
def test_unknown_preset_exits_2(module, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        module.main(["--preset", "huge", "--out", str(tmp_path), "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--preset" in err[0]
    assert not list(tmp_path.iterdir())  # nothing written


def test_nlgp_localised_fraction_counts_units_above_five_times_random():
    from experiments.nlgp_localization.tables import localised_fractions, report_tables

    def curves(finals):
        return {"per_seed": [{"ipr_units": [[0.0] * len(f), f]} for f in finals]}

    res = {"summary": {"random_ipr_3_over_D": 0.03},
           "curves": {"nlgp": curves([[0.2, 0.03, 0.16, 0.03], [0.2, 0.2, 0.2, 0.2],
                                      [0.149, 0.03, 0.03, 0.03]]),
                      "gp": curves([[0.03] * 4, [0.151, 0.03, 0.03, 0.03], [0.03] * 4])}}
    out = localised_fractions(res)
    assert out["threshold"] == pytest.approx(0.15)
    assert out["nlgp"] == [0.5, 1.0, 0.0]  # 0.149 is not above 5 x 0.03
    assert out["gp"] == [0.0, 0.25, 0.0]
    assert out["diff"]["mean"] == pytest.approx((0.5 + 0.75 + 0.0) / 3)
    assert localised_fractions(res, factor=1)["gp"] == [0.0, 0.25, 0.0]  # > 0.03 strictly
