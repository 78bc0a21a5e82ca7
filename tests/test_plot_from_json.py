"""Figures come from the results JSON alone: re-drawn from the file, they are pixel-equal.

learn_conv, sample_efficiency and mnist1d_table run their smoke presets (cut further
where a flag allows) into one folder each; ``python -m experiments.plot RESULTS.json
--out OTHER`` (in a fresh process for learn_conv, whose receptive-field figure needs the
``receptive_fields`` data of the JSON; :func:`experiments.plot.main` for the others)
re-draws every figure, and each PNG must decode to the same pixels as the run's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import plot
from experiments.learn_conv import figures as learn_conv_figures
from experiments.learn_conv import run as learn_conv
from experiments.mnist1d_table import run as mnist1d_table
from experiments.sample_efficiency import run as sample_efficiency

ROOT = Path(__file__).resolve().parents[1]

#: experiment -> (module, fast smoke command line, results file).
RUNS = {
    "learn_conv": (learn_conv, ["--preset", "smoke", "--seeds", "2", "--set", "epochs=1"],
                   "learn_conv.json"),
    "sample_efficiency": (sample_efficiency,
                          ["--preset", "smoke", "--seeds", "2", "--set", "epochs=1",
                           "--set", "sizes=(64, 128)", "--set", "models=s-conv,s-fc-blasso"],
                          "sample_efficiency.json"),
    "mnist1d_table": (mnist1d_table, ["--preset", "smoke", "--set", "steps=20"],
                      "mnist1d_table.json"),
}


@pytest.fixture(scope="module")
def results_of(tmp_path_factory):
    """``name -> path of its results JSON``; each experiment runs once per module."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            module, argv, results_file = RUNS[name]
            out = tmp_path_factory.mktemp(name)
            module.main([*argv, "--out", str(out), "--no-progress"])
            done[name] = out / results_file
        return done[name]

    return get


def _pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(path)


@pytest.mark.parametrize("name", list(RUNS))
def test_figures_redrawn_from_json_are_pixel_equal(results_of, name, tmp_path):
    results_path = results_of(name)
    results = json.loads(results_path.read_text())
    assert results["experiment"] == name and results["figures"]
    redrawn = tmp_path / "redrawn"
    if name == "learn_conv":  # a fresh process: nothing but the file
        done = subprocess.run([sys.executable, "-m", "experiments.plot", str(results_path),
                               "--out", str(redrawn)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        written = {Path(line.split(" ", 1)[1]).name: line.split(" ", 1)[1]
                   for line in done.stdout.splitlines() if line.startswith("wrote ")}
    else:
        written = plot.main([str(results_path), "--out", str(redrawn)])
    assert list(written) == results["figures"]  # the same figures, in the same order
    for figure in results["figures"]:
        ours, again = _pixels(results_path.parent / figure), _pixels(redrawn / figure)
        assert ours.shape == again.shape and ours.ndim == 3, figure
        assert np.array_equal(ours, again), f"{figure} differs when re-drawn from the JSON"


def test_learn_conv_json_holds_the_receptive_fields(results_of):
    results_path = results_of("learn_conv")
    results = json.loads(results_path.read_text())
    rf = results["receptive_fields"]
    assert rf["num_units"] == results["config"]["units_shown"]
    assert [m["run_name"] for m in rf["models"]] == [m["run_name"] for m in results["models"]]
    for m in rf["models"]:
        d = int(np.prod(m["in_shape"]))
        assert 0 < len(m["weights"]) <= rf["num_units"]
        assert all(len(row) == d for row in m["weights"])
        w = np.asarray(m["weights"], np.float32)
        assert np.all(np.any(w != 0, axis=1))  # shown units are alive
    # without the data (results of an older run) the other figures are still drawn
    older = {k: v for k, v in results.items() if k != "receptive_fields"}
    assert plot.figure_function(older) is learn_conv_figures.draw
    assert "learn_conv_receptive_fields.png" not in learn_conv_figures.draw(
        older, results_path.parent / "older")


def test_plot_refuses_a_file_without_figures(tmp_path, capsys):
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"experiment": "no_such_experiment"}))
    for path in (bad, tmp_path / "missing.json"):
        with pytest.raises(SystemExit) as exc:
            plot.main([str(path)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "RESULTS.json:" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json"]


def test_plot_refuses_an_out_that_is_a_file_before_drawing(results_of, tmp_path, capsys):
    results_path = results_of("mnist1d_table")
    taken = tmp_path / "figures.png"
    taken.write_bytes(b"not a folder")
    for out, why in ((taken, "an existing file"), (taken / "sub", "below the file")):
        with pytest.raises(SystemExit) as exc:
            plot.main([str(results_path), "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(
            "python -m experiments.plot: error: --out: expected a folder"), err
        assert f"got {str(out)!r}, {why}" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures.png"]
    assert taken.read_bytes() == b"not a folder"
