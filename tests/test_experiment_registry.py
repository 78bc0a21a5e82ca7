"""A new study is one folder and one registry line (issue 20).

A toy study is written into a temporary folder (``toy_study/``: ``run.py``, ``tables.py``,
``figures.py``) and registered by one line (``Study("toy", package="toy_study")``) in a
module named by ``JAXCNN_STUDIES``; ``python -m experiments.all`` runs it,
``python -m experiments.report`` renders and refreshes its README table and
``python -m experiments.plot`` re-draws its figure from the JSON alone.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from experiments import all as all_studies
from experiments import plot, registry, report

ROOT = Path(__file__).resolve().parents[1]

TOY = {
    "__init__.py": '"""A toy study: a few numbers per seed."""\n',
    "run.py": '''
        """A toy study: a few numbers per seed, one table, one figure."""

        from experiments.harness.cli import RunOptions, experiment_main
        from experiments.harness.outputs import publish
        from toy_study import figures

        NAME = "toy"
        SIZES = {"smoke": 3, "default": 5, "paper": 8}


        def run(options: RunOptions) -> dict:
            seeds = options.seed_list(2)
            results = {"experiment": NAME, "preset": options.preset, "seeds": seeds,
                       "values": [[s * 0.5 + i for i in range(SIZES[options.preset])]
                                  for s in seeds],
                       "wall_time": 0.25}
            publish(options, results, NAME, seeds=seeds, draw=figures.draw)
            return results


        main = experiment_main(run, NAME, __doc__)
        ''',
    "tables.py": '''
        from experiments.harness.tables import format_table


        def report_tables(results):
            rows = [{"seed": s, "sum": sum(v)} for s, v in zip(results["seeds"],
                                                                results["values"])]
            return {"main": format_table(rows, floatfmt=".2f")}
        ''',
    "figures.py": '''
        from pathlib import Path

        from experiments.harness import plots


        def draw(results, out_dir):
            curves = {f"seed {s}": (list(range(len(v))), v)
                      for s, v in zip(results["seeds"], results["values"])}
            fig = plots.line_panels({"toy": curves}, xlabel="i", ylabel="value")
            path = plots.save_figure(fig, Path(out_dir) / "toy.png")
            return {"toy.png": str(path)}
        ''',
}
REGISTRY_LINE = ('from experiments.registry import Study\n\n'
                 'STUDIES = (Study("toy", package="toy_study"),)\n')
README = "# Toy\n\n<!-- report:toy.main -->\n<!-- /report:toy.main -->\n\nEnd.\n"


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy study's folder and its registry line, importable and registered."""
    src = tmp_path / "src"
    (src / "toy_study").mkdir(parents=True)
    for name, text in TOY.items():
        (src / "toy_study" / name).write_text(textwrap.dedent(text).lstrip())
    (src / "toy_registry.py").write_text(REGISTRY_LINE)
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setenv(registry.ENV, "toy_registry")
    for name in [m for m in sys.modules if m.startswith(("toy_study", "toy_registry"))]:
        monkeypatch.delitem(sys.modules, name)
    return src


def test_toy_study_runs_through_all_report_and_plot(toy, tmp_path, capsys):
    assert registry.study("toy") == registry.Study("toy", package="toy_study")
    assert registry.report_modules()["toy"] == "toy_study.tables"
    out = tmp_path / "run"
    summary = all_studies.main(["--preset", "smoke", "--out", str(out), "--only", "toy"])
    assert [(s["name"], s["status"]) for s in summary["experiments"]] == [("toy", "ok")]
    results = json.loads((out / "toy.json").read_text())
    assert results["figures"] == ["toy.png"] and len(results["values"][0]) == 3
    assert results["provenance"]["seeds"] == [0, 1]
    assert (out / "toy.png").is_file()

    readme = tmp_path / "README.md"
    readme.write_text(README)
    docs = tmp_path / "docs"
    capsys.readouterr()
    assert report.main(["--readme", str(readme), "--results", str(docs / "results"),
                        "--figures", str(docs / "figures"), "--refresh", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "updated table toy.main" in printed and "refreshed" in printed
    assert (docs / "results" / "toy.json").is_file()
    assert (docs / "figures" / "toy.png").is_file()
    text = readme.read_text()
    assert "| seed | sum  |" in text and "| 1    | 4.50 |" in text
    assert "command: `python -m experiments.toy --out " in text and "--preset smoke" in text
    assert report.main(["--check", "--readme", str(readme),
                        "--results", str(docs / "results")]) == 0

    redrawn = tmp_path / "redrawn"
    written = plot.main([str(out / "toy.json"), "--out", str(redrawn)])
    assert list(written) == ["toy.png"]
    import matplotlib.image

    assert np.array_equal(matplotlib.image.imread(redrawn / "toy.png"),
                          matplotlib.image.imread(out / "toy.png"))


def test_toy_study_registered_through_the_environment_in_a_fresh_process(toy, tmp_path):
    out = tmp_path / "run"
    env_path = f"{toy}:{ROOT}"
    cmd = [sys.executable, "-m", "experiments.all", "--preset", "smoke", "--out", str(out),
           "--only", "toy", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": env_path, registry.ENV: "toy_registry"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "experiments.plot", str(out / "toy.json")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out / 'toy.png'}"


def test_registry_refuses_duplicates_and_bad_modules(tmp_path, monkeypatch):
    (tmp_path / "dup_registry.py").write_text(
        'from experiments.registry import Study\nSTUDIES = (Study("ecnn"),)\n')
    (tmp_path / "empty_registry.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.ENV, "dup_registry")
    with pytest.raises(ValueError, match=r"^studies: expected one study per name, got ecnn "
                                         r"twice$"):
        registry.studies()
    monkeypatch.setenv(registry.ENV, "empty_registry")
    with pytest.raises(ValueError, match=r"^JAXCNN_STUDIES: expected modules with STUDIES"):
        registry.studies()


def test_builtin_registry():
    names = [s.name for s in registry.STUDIES]
    assert {"equivalence", "learn_conv", "mnist1d_table", "nlgp_localization", "ecnn",
            "sample_efficiency"} <= set(names)
    assert names[0] == "equivalence"  # the quick check first in `make figures`
    for s in registry.STUDIES:  # every study is a folder with its entry points
        assert (ROOT / "experiments" / s.name / "__main__.py").is_file(), s.name
        assert callable(s.main())
        assert s.draw() is None or callable(s.draw())
        if s.tables is not None:
            assert callable(importlib.import_module(s.resolve(s.tables)).report_tables)
    modules = registry.report_modules(registry.STUDIES)
    assert list(modules)[:3] == ["learn_conv", "learn_conv_mnist", "learn_conv_mnist_shuffled"]
    assert "equivalence" not in modules and modules["ecnn"] == "experiments.ecnn.tables"
