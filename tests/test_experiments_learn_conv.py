"""Smoke runs and CLI errors of experiments.learn_conv, .sample_efficiency and .all.

The smoke presets run in-process through ``main([...])`` (as ``python -m`` would), then
the JSON schema and the PNG figures are checked; bad command lines must exit with
status 2 and one stderr line naming the offending flag, before any training.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from experiments import all as all_experiments
from experiments.harness.cli import RunOptions
from experiments.harness import testnoise
from experiments.harness.tables import format_table
from experiments.learn_conv import run as learn_conv
from experiments.learn_conv import tables as learn_conv_tables
from experiments.learn_conv.config import PRESETS as LC_PRESETS
from experiments.sample_efficiency import run as sample_efficiency
from experiments.sample_efficiency import tables as sample_efficiency_tables
from experiments.sample_efficiency.config import PRESETS as SE_PRESETS
from jaxcnn import stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_prob(v) -> bool:
    return isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0


def _check_png(path):
    assert path.is_file(), f"missing figure {path}"
    raw = path.read_bytes()
    assert len(raw) > 1000 and raw[:8] == PNG_MAGIC, f"{path} is not a PNG"
    import matplotlib.image

    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50


# ------------------------------------------------------------------ learn_conv


@pytest.fixture(scope="module")
def learn_conv_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("learn_conv")
    returned = learn_conv.main(["--preset", "smoke", "--out", str(out), "--no-progress"])
    return out, returned


def test_learn_conv_smoke_json_schema(learn_conv_out):
    out, returned = learn_conv_out
    res = json.loads((out / "learn_conv.json").read_text())
    cfg = LC_PRESETS["smoke"]
    for key in ("experiment", "preset", "dataset", "seed", "config", "reference", "models",
                "sweep", "device", "figures", "wall_time"):
        assert key in res, key
    assert res["experiment"] == "learn_conv" and res["preset"] == "smoke"
    assert res["dataset"] == "mnist1d" and res["config"]["in_shape"] == [40, 1]
    assert isinstance(res["wall_time"], float) and res["wall_time"] > 0
    assert res["device"]["platform"] in ("cpu", "gpu", "tpu", "cuda", "rocm")
    assert [m["key"] for m in res["models"]] == list(cfg.models)  # one entry per model
    assert len(res["sweep"]) == len(cfg.sweep)
    assert returned["models"][0]["key"] == cfg.models[0]
    for m in res["models"]:
        assert m["status"] == "ok"
        assert isinstance(m["parameters"], int) and m["parameters"] > 0
        assert isinstance(m["nonzeros"], int) and 0 < m["nonzeros"] <= m["parameters"]
        assert _is_prob(m["test_acc"]) and _is_prob(m["train_acc"])
        curves = m["curves"]
        assert curves["epoch"] == list(range(1, cfg.epochs + 1))
        assert len(curves["test_acc"]) == cfg.epochs
        assert all(_is_prob(a) for a in curves["test_acc"])
        assert set(curves["nonzeros"]) == set(m["nonzeros_by_layer"]) | {"total"}
        for layer, values in curves["nonzeros"].items():  # means over seeds
            assert len(values) == cfg.epochs and all(isinstance(v, (int, float)) for v in values)
        # Seeds: one entry each, ints exactly as counted, summaries over them.
        assert m["seeds"] == list(range(cfg.seeds)) == [p["seed"] for p in m["per_seed"]]
        for p in m["per_seed"]:
            assert _is_prob(p["test_acc"]) and isinstance(p["nonzeros"], int)
            for values in p["curves"]["nonzeros"].values():
                assert len(values) == cfg.epochs and all(isinstance(v, int) for v in values)
        accs = [p["test_acc"] for p in m["per_seed"]]
        st = m["stats"]["test_acc"]
        assert st["n"] == cfg.seeds and math.isclose(st["mean"], sum(accs) / len(accs))
        assert math.isclose(m["test_acc"], st["mean"])
        assert len(m["curves"]["test_acc_std"]) == cfg.epochs
        if m["key"] != "s-conv":  # different seeds: different initialisations
            assert len(set(accs)) > 1 or len(set(p["nonzeros"] for p in m["per_seed"])) > 1
        fl = m["first_layer"]
        assert fl["units"] > 0 and 0 <= fl["dead_units"] <= fl["units"]
        for k in ("ipr", "locality", "ipr_all_units", "locality_all_units"):
            assert _is_prob(fl[k]), (m["key"], k, fl[k])
        assert fl["weight_sharing"] is None or _is_prob(fl["weight_sharing"])
    by_key = {m["key"]: m for m in res["models"]}
    # exact structure: a conv / local first layer is local by construction
    assert by_key["s-conv"]["first_layer"]["locality"] > 0.99
    assert by_key["s-local"]["first_layer"]["locality"] > 0.99
    assert by_key["s-fc-blasso"]["first_layer"]["locality"] < 0.9  # 2 epochs: still dense
    # SGD makes no exact zeros; the reference counts are S-CONV < S-LOCAL < S-FC
    assert by_key["s-conv"]["nonzeros"] == by_key["s-conv"]["parameters"]
    refs = res["reference"]["first_layer_params"]
    assert refs["S-CONV layer 1"] < refs["S-LOCAL layer 1"] < refs["S-FC layer 1"]
    assert by_key["s-fc-blasso"]["optimizer"]["name"] == "beta_lasso"
    assert res["seeds"] == list(range(cfg.seeds))
    prov = res["provenance"]
    assert prov["preset"] == "smoke" and prov["seeds"] == res["seeds"]
    assert prov["command"].startswith("python -m experiments.learn_conv")
    assert prov["packages"]["jax"] and prov["wall_time"] > 0
    comps = {(c["a"], c["b"], c["metric"]): c for c in res["comparisons"]}
    c = comps[("S-CONV (SGD)", "S-LOCAL (SGD)", "test_acc")]
    a = [p["test_acc"] for p in by_key["s-conv"]["per_seed"]]
    b = [p["test_acc"] for p in by_key["s-local"]["per_seed"]]
    assert math.isclose(c["diff"]["mean"], sum(x - y for x, y in zip(a, b)) / len(a))
    assert c["diff"]["ci_low"] <= c["diff"]["mean"] <= c["diff"]["ci_high"]
    assert c["diff"]["n"] == cfg.seeds


def test_learn_conv_smoke_stores_test_correctness(learn_conv_out):
    # every seed's per-example correctness is stored and is exactly its test accuracy;
    # test-accuracy comparisons carry the interval over seeds and test examples
    out, _ = learn_conv_out
    res = json.loads((out / "learn_conv.json").read_text())
    n_test = res["config"]["num_test"]
    by_label = {}
    for m in res["models"] + res["sweep"]:
        correct = testnoise.correct_matrix(m["per_seed"])
        assert correct.shape == (len(m["seeds"]), n_test)
        accs = [p["test_acc"] for p in m["per_seed"]]
        assert np.allclose(correct.mean(axis=1), accs, atol=1e-6, rtol=0)
        by_label[m["label"]] = correct
    acc_comps = [c for c in res["comparisons"] if c["metric"] == "test_acc"]
    assert acc_comps and all("crossed" not in c for c in res["comparisons"]
                             if c["metric"] != "test_acc")
    for c in acc_comps:
        assert c["crossed"] == stats.accuracy_difference(by_label[c["a"]], by_label[c["b"]])
        assert math.isclose(c["crossed"]["mean"], c["diff"]["mean"], abs_tol=1e-6)
    rows = learn_conv_tables.comparison_rows(res["comparisons"])
    for c, row in zip(res["comparisons"], rows):
        if c["metric"] == "test_acc":
            assert row[testnoise.CI_COLUMN] == stats.format_ci(c["crossed"], digits=3).split(" ", 1)[1]
        else:
            assert row[testnoise.CI_COLUMN] == learn_conv_tables.NOT_TEST
        assert row[learn_conv_tables.P_HOLM] != "-" and row["significant"] in ("yes", "no")


def test_learn_conv_tables_render_old_results(learn_conv_out):
    # results written before correctness was stored: the crossed cells are "-", the
    # weight metrics keep their Holm p (the accuracy rows count as p = 1 in the family)
    _, returned = learn_conv_out
    old = json.loads(json.dumps(returned))
    for m in old["models"] + old["sweep"]:
        for p in m["per_seed"]:
            del p[testnoise.KEY]
    old["comparisons"] = learn_conv_tables.comparisons(old["models"])
    assert all("crossed" not in c for c in old["comparisons"])
    rows = learn_conv_tables.comparison_rows(old["comparisons"])
    for c, row in zip(old["comparisons"], rows):
        acc = c["metric"] == "test_acc"
        assert row[testnoise.CI_COLUMN] == ("-" if acc else learn_conv_tables.NOT_TEST)
        assert (row[learn_conv_tables.P_HOLM] == "-") == acc
    text = learn_conv_tables.report_tables(old)["learn_conv.comparisons"]
    assert "95% CI, seeds" in text and testnoise.CI_COLUMN in text


def test_learn_conv_smoke_figures(learn_conv_out):
    out, _ = learn_conv_out
    res = json.loads((out / "learn_conv.json").read_text())
    assert set(res["figures"]) == {"learn_conv_receptive_fields.png", "learn_conv_nonzeros.png",
                                   "learn_conv_accuracy_vs_nonzeros.png",
                                   "learn_conv_curves.png"}
    for name in res["figures"]:
        _check_png(out / name)


def test_learn_conv_smoke_prints_table(capsys, tmp_path, learn_conv_out):
    # reuse the fixture's run for the output check of a fresh, quick variant: table rows
    _, returned = learn_conv_out
    rows = learn_conv_tables.table_rows(returned["models"])
    assert [r["model"] for r in rows] == [m["label"] for m in returned["models"]]
    text = format_table(rows)
    assert "test accuracy" in text and "locality" in text and "IPR" in text
    tables = learn_conv_tables.report_tables(returned)
    # the default (and so smoke) preset states λ in gradient units: a regime table
    assert set(tables) == {"learn_conv.main", "learn_conv.comparisons", "learn_conv.regime"}
    assert tables["learn_conv.main"] == text and "±" in text
    assert "95% CI" in tables["learn_conv.comparisons"]


# ------------------------------------------------------------ sample_efficiency


def test_sample_efficiency_smoke(tmp_path):
    res = sample_efficiency.main(["--preset", "smoke", "--out", str(tmp_path),
                                  "--no-progress"])
    cfg = SE_PRESETS["smoke"]
    saved = json.loads((tmp_path / "sample_efficiency.json").read_text())
    assert saved["sizes"] == sorted(cfg.sizes) == res["sizes"]
    assert saved["orders"] == ["natural", "shuffled"]
    assert saved["models"] == list(cfg.models)
    assert len(saved["runs"]) == 2 * len(cfg.models) * len(cfg.sizes)  # seeds inside each
    for r in saved["runs"]:
        assert r["seeds"] == list(range(cfg.seeds)) and len(r["per_seed"]) == cfg.seeds
        assert r["test_acc"]["n"] == cfg.seeds
    comps = saved["comparisons"]
    assert {(c["a"], c["b"]) for c in comps} == set(sample_efficiency_tables.COMPARISONS)
    assert all(c["diff"]["n"] == cfg.seeds for c in comps)
    assert set(sample_efficiency_tables.report_tables(saved)) == {
        "sample_efficiency.natural", "sample_efficiency.natural.comparisons",
        "sample_efficiency.shuffled", "sample_efficiency.shuffled.comparisons"}
    steps = {r["steps"] for r in saved["runs"]}
    assert len(steps) == 1  # every run takes the same number of steps
    for r in saved["runs"]:
        assert r["status"] == "ok" and _is_prob(r["test_acc"]["mean"])
        assert all(_is_prob(p["test_acc"]) and _is_prob(p["train_acc"]) for p in r["per_seed"])
    for order in saved["orders"]:
        assert list(saved["summary"][order]) == list(cfg.models)
        for s in saved["summary"][order].values():
            assert s["n"] == saved["sizes"]
            assert len(s["test_acc_mean"]) == len(saved["sizes"])
            assert all(_is_prob(a) for a in s["test_acc_mean"])
    assert isinstance(saved["wall_time"], float) and saved["device"]["count"] >= 1
    _check_png(tmp_path / "sample_efficiency.png")
    _check_sample_efficiency_test_noise(saved)


def _check_sample_efficiency_test_noise(saved):
    """Per-example correctness equals each seed's accuracy; every comparison has its
    crossed interval; the tables show it, and render "-" from results without it."""
    ok = {(r["order"], r["model"], r["n"]): testnoise.correct_matrix(r["per_seed"])
          for r in saved["runs"]}
    for r in saved["runs"]:
        correct = ok[(r["order"], r["model"], r["n"])]
        assert correct.shape == (len(r["seeds"]), saved["config"]["num_test"])
        assert np.allclose(correct.mean(1), [p["test_acc"] for p in r["per_seed"]], atol=1e-6)
    for c in saved["comparisons"]:
        a, b = ok[(c["order"], c["a"], c["n"])], ok[(c["order"], c["b"], c["n"])]
        assert c["crossed"] == stats.accuracy_difference(a, b)
        assert math.isclose(c["crossed"]["mean"], c["diff"]["mean"], abs_tol=1e-6)
    text = sample_efficiency_tables.report_tables(saved)["sample_efficiency.natural.comparisons"]
    lines = text.splitlines()
    assert testnoise.CI_COLUMN in lines[0] and testnoise.P_COLUMN in lines[0]
    assert len(lines) == 2 + len(sample_efficiency_tables.COMPARISONS) * len(saved["sizes"])
    old = json.loads(json.dumps(saved))
    for c in old["comparisons"]:
        del c["crossed"]
    text = sample_efficiency_tables.report_tables(old)["sample_efficiency.natural.comparisons"]
    assert all(line.rstrip(" |").endswith("| -") for line in text.splitlines()[2:])


def test_tiled_split_repeats_subset_evenly():
    import numpy as np

    data = {"x_train": np.arange(20, dtype=np.float32).reshape(10, 2, 1),
            "y_train": np.arange(10, dtype=np.int32), "x_test": np.zeros((3, 2, 1)),
            "y_test": np.zeros(3, np.int32)}
    out = sample_efficiency.tiled_split(data, np.array([7, 2, 5]), 8)
    assert out["y_train"].tolist() == [7, 2, 5, 7, 2, 5, 7, 2]
    assert out["x_train"].shape == (8, 2, 1) and out["x_test"] is data["x_test"]


# ------------------------------------------------------------------ CLI errors


def _cifar_dir(tmp_path, kind):
    d = tmp_path / kind
    d.mkdir()
    if kind == "corrupt":
        (d / "cifar-10-python.tar.gz").write_bytes(b"this is not a tar archive" * 10)
    elif kind == "garbage_batches":
        for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            (d / n).write_bytes(b"\x00 not a pickle")
    return str(d)


BAD_INPUT = [
    (["--preset", "huge"], "--preset", "huge"),
    (["--dataset", "imagenet"], "--dataset", "imagenet"),
    (["--models", "s-conv,resnet"], "--models", "resnet"),
    (["--dataset", "cifar10"], "--data-path", "required"),
    (["--dataset", "cifar10", "--data-path", "@empty"], "--data-path", "data_batch_1"),
    (["--dataset", "cifar10", "--data-path", "@corrupt"], "--data-path", "tar"),
    (["--dataset", "cifar10", "--data-path", "@garbage_batches"], "--data-path", "pickle"),
    (["--dataset", "cifar10", "--data-path", "@missing"], "--data-path", "missing"),
    (["--devices", "999"], "--devices", "999"),
    (["--dataset", "mnist1d", "--data-path", "@empty"], "--data-path", "mnist1d"),
    (["--preset", "paper"], "--dataset", "cifar10"),
    (["--dataset", "nlgp", "--nlgp-shape", "2x2x2"], "--nlgp-shape", "2x2x2"),
    (["--nlgp-shape", "20x20"], "--nlgp-shape", "nlgp"),
    (["--set", "l1_scale=metres"], "l1_scale", "metres"),
]


def _argv(argv, tmp_path):
    out = []
    for a in argv:
        if a.startswith("@"):
            kind = a[1:]
            a = str(tmp_path / "missing") if kind == "missing" else _cifar_dir(tmp_path, kind)
        out.append(a)
    return out + ["--out", str(tmp_path / "out"), "--no-progress"]


@pytest.mark.parametrize("argv,flag,detail", BAD_INPUT,
                         ids=[" ".join(a[0]) for a in BAD_INPUT])
def test_learn_conv_bad_input_exits_2(capsys, tmp_path, argv, flag, detail):
    with pytest.raises(SystemExit) as exc:
        learn_conv.main(_argv(argv, tmp_path))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert flag in err and detail in err, err
    assert not (tmp_path / "out" / "learn_conv.json").exists()


@pytest.mark.parametrize("argv,flag,detail", [
    (["--preset", "huge"], "--preset", "huge"),
    (["--dataset", "mnist1d_shuffled"], "--dataset", "mnist1d_shuffled"),
    (["--dataset", "svhn"], "--data-path", "required"),
    (["--dataset", "svhn", "--data-path", "@empty"], "--data-path", "test_32x32.mat"),
    (["--devices", "999"], "--devices", "999"),
])
def test_sample_efficiency_bad_input_exits_2(capsys, tmp_path, argv, flag, detail):
    with pytest.raises(SystemExit) as exc:
        sample_efficiency.main(_argv(argv, tmp_path))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert flag in err and detail in err, err


# ------------------------------------------------------------------------- all


def test_all_passes_flags_through():
    args = RunOptions(name="all", out="res", seed=3, preset="smoke", devices=1,
                      progress=False, resume=False, overwrite=False)
    assert all_experiments.experiment_argv("learn_conv", args) == [
        "--out", "res", "--seed", "3", "--preset", "smoke", "--devices", "1", "--no-progress"]
    assert all_experiments.experiment_argv("equivalence", args) == ["--out", "res",
                                                                    "--seed", "3"]
    args = dataclasses.replace(args, overwrite=True)
    assert all_experiments.experiment_argv("ecnn", args) == [
        "--out", "res", "--seed", "3", "--overwrite", "--preset", "smoke", "--devices", "1",
        "--no-progress"]
    assert all_experiments.experiment_argv("equivalence", args) == [
        "--out", "res", "--seed", "3", "--overwrite"]


def test_all_tolerates_a_missing_experiment(capsys):
    status = all_experiments.run_one("no_such_experiment", ["--out", "x"])
    assert status["status"] == "missing"
    assert "experiments.no_such_experiment is missing" in capsys.readouterr().err


def test_all_bad_only_exits_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        all_experiments.main(["--only", "learn_conv,bogus", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--only" in err and "bogus" in err


# ------------------------------------------------------------ --dataset npz


def _write_npz(path, *, n_train=192, n_test=64, length=12, classes=3, **overrides):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(n_train, length, 1)).astype(np.float32),
              "y_train": rng.integers(0, classes, n_train),
              "x_test": rng.normal(size=(n_test, length, 1)).astype(np.float32),
              "y_test": rng.integers(0, classes, n_test)}
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("module", [learn_conv, sample_efficiency])
def test_npz_dataset_runs_end_to_end(module, tmp_path):
    data = _write_npz(tmp_path / "mine.npz")
    out = tmp_path / "out"
    argv = ["--preset", "smoke", "--dataset", "npz", "--data-path", str(data), "--out",
            str(out), "--no-progress", "--seeds", "2", "--set", "epochs=1"]
    if module is sample_efficiency:
        argv += ["--set", "sizes=(64, 128)", "--set", "models=s-conv,s-fc"]
    else:
        argv += ["--models", "s-conv,s-fc-blasso"]
    module.main(argv)
    stem = learn_conv_tables.results_stem("npz") if module is learn_conv else module.NAME
    res = json.loads((out / f"{stem}.json").read_text())
    assert res["dataset"] == "npz" and res["config"]["num_classes"] == 3
    assert res["config"]["in_shape"] == [12, 1] and res["config"]["epochs"] == 1
    assert res["overrides"]["epochs"] == 1 and res["seeds"] == [0, 1]


@pytest.mark.parametrize("overrides, detail", [
    ({"y_train": -np.ones(192, int)}, "labels >= 0"),
    ({"x_test": np.full((64, 12, 1), float("nan"), "float32")}, "finite"),
    ({"x_test": np.zeros((64, 10, 1), "float32")}, "x_test"),
])
def test_npz_dataset_bad_file_exits_2(capsys, tmp_path, overrides, detail):
    data = _write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(SystemExit) as exc:
        learn_conv.main(["--preset", "smoke", "--dataset", "npz", "--data-path", str(data),
                         "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data-path:" in err[0] and detail in err[0], err
    assert not (tmp_path / "out" / "learn_conv.json").exists()


def test_npz_dataset_needs_data_path(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        learn_conv.main(["--preset", "smoke", "--dataset", "npz", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "--data-path: required for --dataset npz" in capsys.readouterr().err


# ------------------------------------------------------------ --dataset mnist (2-D digits)


@pytest.mark.parametrize("module, dataset", [(learn_conv, "mnist"),
                                             (learn_conv, "mnist_shuffled"),
                                             (sample_efficiency, "mnist")])
def test_mnist_digits_smoke(module, dataset, tmp_path):
    argv = ["--preset", "smoke", "--dataset", dataset, "--out", str(tmp_path),
            "--no-progress", "--set", "epochs=1"]
    if module is sample_efficiency:  # it runs the shuffled order itself
        argv += ["--set", "sizes=(128,)", "--set", "models=s-conv,s-fc-blasso"]
    else:  # one seed of two models: the 28x28 data path, not the training, is tested here
        argv += ["--seeds", "1", "--set", "models=s-conv,s-fc-blasso"]
    module.main(argv)
    stem = learn_conv_tables.results_stem(dataset) if module is learn_conv else module.NAME
    res = json.loads((tmp_path / f"{stem}.json").read_text())
    assert res["config"]["in_shape"] == [28, 28, 1] and res["config"]["num_classes"] == 10
    assert res["config"]["kernel_size"] == 9  # KERNEL_SIZES["mnist"], as for CIFAR
    for run in res["models"] if module is learn_conv else res["runs"]:  # 28x28 correctness
        correct = testnoise.correct_matrix(run["per_seed"])
        assert correct.shape == (len(run["seeds"]), res["config"]["num_test"])
        assert np.allclose(correct.mean(1), [p["test_acc"] for p in run["per_seed"]], atol=1e-6)
    if module is learn_conv:
        by_key = {m["key"]: m for m in res["models"]}
        assert by_key["s-conv"]["first_layer"]["window"] == [9, 9]
        assert by_key["s-conv"]["stats"]["locality"]["mean"] > 0.99
        assert set(learn_conv_tables.report_tables(res)) >= {f"{stem}.main"}
        for name in res["figures"]:
            assert name.startswith(stem + "_")
            _check_png(tmp_path / name)
    else:
        assert res["orders"] == ["natural", "shuffled"]


@pytest.mark.parametrize("name", ["mnist1d", "mnist"])
def test_sample_efficiency_shuffled_order_is_the_shuffled_dataset(name):
    """sample_efficiency's own shuffled order of NAME is exactly ``NAME_shuffled``."""
    from jaxcnn import data as jdata

    orders = sample_efficiency.pixel_orders(jdata.load(name), shuffled=True)
    ref = jdata.load(f"{name}_shuffled")
    for key in ("x_train", "x_test", "y_train", "y_test"):
        np.testing.assert_array_equal(orders["shuffled"][key], ref[key])
    assert not np.array_equal(orders["natural"]["x_train"], ref["x_train"])


def test_lambda_in_gradient_units(tmp_path):
    """``l1_scale="gradient"``: λ is a multiple of the S-FC first layer's median gradient
    at initialisation, measured before training and recorded with the shrinkage."""
    from experiments.harness.nets import model_factory
    from experiments.harness.regime import gradient_scale

    argv = ["--preset", "smoke", "--dataset", "digits", "--out", str(tmp_path),
            "--no-progress", "--seeds", "1", "--set", "epochs=1",
            "--set", "models=s-fc-blasso", "--set", "l1_scale=gradient",
            "--set", "l1_first=0.8", "--set", "l1_rest=0.2", "--set", "sweep=((1.6,0.4),)"]
    res = learn_conv.main(argv)
    regime = res["regime"]
    unit = regime["unit"]
    assert regime["l1_scale"] == "gradient" and unit == regime["gradient"]["median"] > 0
    # the unit is the median |dL/dW1| of seed 0's S-FC at init on the run's own data
    cfg = LC_PRESETS["smoke"]
    data, _ = learn_conv.prepare_data(
        RunOptions(name="learn_conv", preset="smoke", dataset="digits", seed=0), cfg)
    make = model_factory("s-fc", (8, 8, 1), 10, alpha=cfg.alpha, kernel_size=3)
    assert gradient_scale(make(0), data)["median"] == pytest.approx(unit, rel=1e-6)
    opt = res["models"][0]["optimizer"]
    assert opt["l1_first"] == pytest.approx(0.8 * unit) and opt["beta"] == 2.0
    assert opt["l1_rest"] == pytest.approx(0.2 * unit)
    assert res["config"]["l1_first"] == 0.8  # the preset as given, in gradient units
    sweep = res["sweep"][0]
    assert sweep["optimizer"]["l1_first"] == pytest.approx(1.6 * unit)
    assert sweep["label"].endswith("λ=1.6/0.4 x grad")
    assert regime["shrinkage_over_init_std"] == pytest.approx(
        regime["lambda_sum_lr"] / regime["gradient"]["init_std"])
    table = learn_conv_tables.report_tables(res)["learn_conv_digits.regime"]
    assert "(0.8x)" in table and table.count("\n") == 2


def test_default_preset_on_the_digits_is_in_gradient_units():
    from experiments.learn_conv.config import DIGITS_REGIME, presets_for

    for dataset in ("mnist", "mnist_shuffled"):
        cfg = presets_for(dataset)["default"]
        assert cfg.l1_scale == "gradient" and cfg.beta == 50.0
        assert {k: getattr(cfg, k) for k in DIGITS_REGIME} == DIGITS_REGIME
    assert presets_for("mnist1d")["default"] == LC_PRESETS["default"]
    assert presets_for("mnist")["paper"] == LC_PRESETS["paper"]


def test_default_preset_on_mnist1d_is_in_gradient_units_and_paper_is_absolute():
    cfg = LC_PRESETS["default"]
    assert (cfg.l1_scale, cfg.l1_first, cfg.l1_rest, cfg.beta) == ("gradient", 1.0, 0.25, 2.0)
    assert {a for a, _ in cfg.sweep} == {0.5, 2.0, 5.0}  # both sides of the rule's pick
    assert LC_PRESETS["paper"].l1_scale == "absolute" and LC_PRESETS["paper"].l1_first == 1e-5


def _blasso_entry(multiple, unit, *, dead, taps, cal, acc=0.8):
    stat = lambda v: {"mean": v, "std": 0.0, "n": 3}  # noqa: E731
    return {"key": "s-fc-blasso", "status": "ok", "optimizer": {"l1_first": multiple * unit},
            "first_layer": {"window": [9]},
            "stats": {"dead_fraction": stat(dead), "taps_median": stat(taps),
                      "calibrated_locality": stat(cal), "test_acc": stat(acc)}}


def _rule_results(preset_multiple, points, unit=2e-3):
    entries = [_blasso_entry(m, unit, **kw) for m, kw in points]
    main = next(e for e, (m, _) in zip(entries, points) if m == preset_multiple)
    return {"regime": {"unit": unit, "l1_first_multiple": preset_multiple},
            "models": [{"key": "s-conv", "status": "ok"}, main],
            "sweep": [e for e in entries if e is not main]}


def test_lambda_rule_picks_from_the_runs_own_points():
    points = [(0.5, dict(dead=0.0, taps=15.0, cal=0.08)),   # too many taps, not local
              (1.0, dict(dead=0.0, taps=6.0, cal=0.22)),    # localises, most taps
              (2.0, dict(dead=0.3, taps=2.0, cal=0.33)),    # localises, fewer taps
              (5.0, dict(dead=0.95, taps=4.0, cal=0.48))]   # dead
    rule = learn_conv_tables.lambda_rule(_rule_results(1.0, points))
    # window 9: taps gate 0.4-1.6 windows = 3.6-14.4
    assert rule["gates"] == {"max_dead": 0.5, "min_taps": pytest.approx(3.6),
                             "max_taps": pytest.approx(14.4), "min_locality": 0.5}
    assert rule["multiple"] == 1.0 and rule["agrees"] and not rule["gates_met"]
    assert "localise" in rule["rule"]
    assert [p["multiple"] for p in rule["points"]] == [0.5, 1.0, 2.0, 5.0]
    # a point meeting every gate wins over the localising ones
    points.append((1.5, dict(dead=0.1, taps=5.0, cal=0.6)))
    rule = learn_conv_tables.lambda_rule(_rule_results(1.0, points))
    assert rule["multiple"] == 1.5 and rule["gates_met"] and not rule["agrees"]
    regime = {"unit": 2e-3, "gradient": {"quantiles": {"0.9": 1.0, "0.99": 2.0},
                                         "init_std": 0.16},
              "l1_first": 2e-3, "l1_first_multiple": 1.0, "l1_rest": 5e-4,
              "l1_rest_multiple": 0.25, "threshold": 4e-3, "shrinkage_over_init_std": 2.7}
    row = learn_conv_tables.regime_rows(regime, rule)[0]
    assert row["rule's λ₁ (of the run's λ points)"] == "1.5x (≠ λ₁)"
    assert learn_conv_tables.regime_rows(regime)[0][
        "rule's λ₁ (of the run's λ points)"] == "–"


def test_lambda_rule_needs_gradient_units_and_two_points():
    points = [(1.0, dict(dead=0.0, taps=6.0, cal=0.22)), (2.0, dict(dead=0.3, taps=2.0, cal=0.3))]
    res = _rule_results(1.0, points)
    assert learn_conv_tables.lambda_rule({**res, "regime": None}) is None
    assert learn_conv_tables.lambda_rule({**res, "sweep": []}) is None
    assert learn_conv_tables.lambda_rule(res)["multiple"] == 1.0


def test_sharing_view_caps_large_layers_to_live_units(monkeypatch):
    import jax
    import jax.numpy as jnp

    from experiments.harness import measures

    monkeypatch.setattr(measures, "MAX_SHARING_UNITS", 8)
    rng = np.random.default_rng(0)
    small = jnp.asarray(rng.normal(size=(16, 8)), jnp.float32)
    view, live = measures.sharing_view(small, jax.random.key(0))
    assert view is small and live == 8  # small layers are measured whole
    w = np.zeros((16, 20), np.float32)
    w[:, [1, 4, 9]] = rng.normal(size=(16, 3))  # 3 live units of 20
    view, live = measures.sharing_view(jnp.asarray(w), jax.random.key(0))
    assert view.shape == (16, 8) and live == 3
    np.testing.assert_array_equal(np.asarray(view[:, :3]), w[:, [1, 4, 9]])
    assert not np.asarray(view[:, 3:]).any()  # padding: dead columns, never scored
    w = rng.normal(size=(16, 20)).astype(np.float32)  # 20 live units: 8 drawn of them
    view, live = measures.sharing_view(jnp.asarray(w), jax.random.key(1))
    cols = {tuple(c) for c in w.T.round(6)}
    assert live == 8 and all(tuple(c) in cols for c in np.asarray(view).T.round(6))
    again, _ = measures.sharing_view(jnp.asarray(w), jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(view), np.asarray(again))  # deterministic
