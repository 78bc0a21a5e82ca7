"""Smoke tests of experiments.mnist1d_table, experiments.nlgp_localization, experiments.ecnn.

Each smoke preset runs in-process through ``main([...])``; the JSON it writes is checked
(keys, types, finite values, curve lengths) and its PNG figures must be valid PNG files.
A bad ``--preset`` must exit with status 2 and one stderr line naming ``--preset``.
"""

from __future__ import annotations

import json
import math

import pytest

from experiments import ecnn, mnist1d_table, nlgp_localization

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
    assert len(res["runs"]) == len(trained) * 2 * cfg.seeds
    for run in res["runs"]:
        assert run["model"] in trained and run["dataset"] in mnist1d_table.DATASETS
        assert 0.0 <= run["test_acc"] <= 100.0
        assert len(run["curves"]["test_acc"]) == run["epochs"]
        assert isinstance(run["num_params"], int) and run["num_params"] > 0
    models_in_table = [r["model"] for r in res["table"]]
    assert models_in_table == list(trained) + list(mnist1d_table.PUBLISHED_ONLY)
    for row in res["table"]:
        if row["model"] in mnist1d_table.PUBLISHED:
            pub = mnist1d_table.PUBLISHED[row["model"]]
            assert (row["published_normal"], row["published_shuffled"]) == pub
        if row["model"] in trained:
            assert isinstance(row["ours_normal"], float)
            assert isinstance(row["ours_shuffled"], float)
        else:
            assert row["ours_normal"] is None
    assert set(res["acceptance"]) == {"cnn_ge_90", "mlp_within_6_of_68"}
    fc = [r for r in res["runs"] if r["model"] == "fc_blasso"][0]
    assert 0 < fc["first_layer_nonzeros"] <= fc["first_layer_size"]
    _assert_png(tmp_path / "mnist1d_table.png")


def test_nlgp_localization_smoke(tmp_path):
    _smoke(nlgp_localization, tmp_path)
    res = _load(tmp_path, "nlgp_localization")
    cfg = nlgp_localization.PRESETS["smoke"]
    n_points = len(nlgp_localization.checkpoint_chunks(cfg, cfg.time_max)) + 1
    for name in ("nlgp", "gp"):
        cur = res["curves"][name]
        for key in ("t", "ipr_mean", "ipr_units", "test_mse", "test_error"):
            assert len(cur[key]) == n_points, (name, key)
        assert cur["t"][0] == 0.0 and cur["t"] == sorted(cur["t"])
        assert cur["t"][-1] == pytest.approx(cfg.time_max, rel=0.05)
        assert all(len(u) == cfg.hidden for u in cur["ipr_units"])
        # IPR of a D-vector lies in [1/D, 1]
        d = nlgp_localization.input_dim(cfg)
        assert all(1.0 / d - 1e-6 <= v <= 1.0 for v in cur["ipr_mean"])
        w = res["receptive_fields"][name]
        assert len(w) == d and all(len(row) == cfg.hidden for row in w)
    s = res["summary"]
    assert s["ipr_ratio_nlgp_over_gp"] == pytest.approx(s["final_ipr_nlgp"] / s["final_ipr_gp"])
    assert isinstance(s["acceptance_ratio_ge_3"], bool)
    assert [r["gain"] for r in res["gain_sweep"]] == list(cfg.gains)
    for name in ("nlgp_ipr_vs_time", "nlgp_receptive_fields", "nlgp_ipr_vs_gain"):
        _assert_png(tmp_path / f"{name}.png")


def test_ecnn_smoke(tmp_path):
    _smoke(ecnn, tmp_path)
    res = _load(tmp_path, "ecnn")
    cfg = ecnn.PRESETS["smoke"]
    assert [r["relax_epoch"] for r in res["relax"]] == sorted(set(cfg.relax_epochs))
    # the embedding is exact: identical logits at the moment of embedding
    assert res["max_embedding_diff"] < 1e-4
    for r in res["relax"]:
        emb = r["embedding"]
        assert emb["max_abs_diff_eval"] < 1e-4 and emb["max_abs_diff_train"] < 1e-4
        assert emb["conv_distance_at_embedding"] < 1e-4  # starts in the conv subspace
        n = cfg.epochs - r["relax_epoch"] + 1
        assert len(r["curves"]["epoch"]) == len(r["curves"]["conv_distance"]) == n
        assert 0.0 <= r["test_acc"] <= 100.0
    # a relax at the end is the CNN itself
    last = res["relax"][-1]
    if last["relax_epoch"] == cfg.epochs:
        assert last["test_acc"] == pytest.approx(res["cnn"]["test_acc"], abs=1.0)
    sc = res["fc_scratch"]
    assert len(sc["curves"]["conv_distance"]) == cfg.epochs + 1
    assert sc["final_conv_distance"] > 0.5  # a standard FC layer is far from any conv
    assert len(res["cnn"]["curves"]["test_acc"]) == cfg.epochs
    _assert_png(tmp_path / "ecnn_relax.png")
    _assert_png(tmp_path / "ecnn_conv_distance.png")


@pytest.mark.parametrize("module", [mnist1d_table, nlgp_localization, ecnn],
                         ids=["mnist1d_table", "nlgp_localization", "ecnn"])
def test_unknown_preset_exits_2(module, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        module.main(["--preset", "huge", "--out", str(tmp_path), "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--preset" in err[0]
    assert not list(tmp_path.iterdir())  # nothing written
