"""Tests for experiments.report (README tables from results JSON) and
experiments.harness.provenance.

A fake study is registered through a monkeypatched ``experiments.registry.STUDIES``; every
file lives under ``tmp_path``. ``test_repository_readme_is_up_to_date`` checks the real
README against the real docs/results once that folder holds JSON.
"""

import doctest
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from experiments import registry
from experiments import report as R
from experiments.harness import provenance as P

PROV = {
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "git_dirty": False,
    "command": "python -m experiments.fake --preset smoke --seeds 3",
    "preset": "smoke",
    "seeds": [0, 1, 2],
    "wall_time": 41.7,
}
SOURCE = ("_Source: docs/results/fake.json — commit 0123456789, 3 seeds, preset smoke, 42 s; "
          "command: `python -m experiments.fake --preset smoke --seeds 3`._")
README = """# Title

Intro text.

<!-- report:fake.main -->
(placeholder)
<!-- /report:fake.main -->

Between.

<!-- report:fake.extra -->
<!-- /report:fake.extra -->

End.
"""


def _fake_report_tables(results):
    rows = "\n".join(f"| {k} | {v:.1f} |" for k, v in results["acc"].items())
    return {"main": f"| model | acc |\n|---|---|\n{rows}\n",
            "fake.extra": "| a |\n|---|\n| 1 |",
            "unplaced": "| b |\n|---|\n| 2 |"}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A tmp 'repository': README.md, docs/results/fake.json and a registered fake module."""
    module = types.ModuleType("fake_experiment_for_report")
    module.report_tables = _fake_report_tables
    monkeypatch.setitem(sys.modules, module.__name__, module)
    no_tables = types.ModuleType("fake_experiment_without_tables")
    monkeypatch.setitem(sys.modules, no_tables.__name__, no_tables)
    monkeypatch.delenv(registry.ENV, raising=False)
    monkeypatch.setattr(registry, "STUDIES", (
        registry.Study("fake", tables=module.__name__),
        registry.Study("absent", tables="fake_experiment_not_installed"),
        registry.Study("bare", tables=no_tables.__name__),
    ))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "fake.json").write_text(
        json.dumps({"acc": {"cnn": 93.14, "mlp": 88.05}, "provenance": PROV}))
    (tmp_path / "README.md").write_text(README)
    return tmp_path


def _main(*args):
    return R.main(["--readme", "README.md", "--results", "docs/results", *args])


def test_render_replaces_blocks_and_keeps_the_rest(repo, capsys):
    assert _main() == 0
    out = capsys.readouterr().out
    assert "README.md: updated table fake.main from docs/results/fake.json" in out
    assert "README.md: updated table fake.extra from docs/results/fake.json" in out
    assert "note: skipped absent: module fake_experiment_not_installed not found" in out
    assert "note: skipped bare: fake_experiment_without_tables has no report_tables" in out
    assert "note: tables without a block in README.md: fake.unplaced" in out
    text = (repo / "README.md").read_text()
    assert text == README.replace("(placeholder)\n", (
        "| model | acc |\n|---|---|\n| cnn | 93.1 |\n| mlp | 88.0 |\n\n" + SOURCE + "\n")
    ).replace("<!-- report:fake.extra -->\n", (
        "<!-- report:fake.extra -->\n| a |\n|---|\n| 1 |\n\n" + SOURCE + "\n"))


def test_render_is_idempotent_and_check_passes(repo, capsys):
    assert _main() == 0
    first = (repo / "README.md").read_text()
    capsys.readouterr()
    assert _main() == 0
    assert "README tables up to date" in capsys.readouterr().out
    assert (repo / "README.md").read_text() == first
    assert _main("--check") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "README tables up to date"


def test_check_fails_after_a_hand_edit_and_writes_nothing(repo, capsys):
    assert _main() == 0
    edited = (repo / "README.md").read_text().replace("| cnn | 93.1 |", "| cnn | 99.9 |")
    (repo / "README.md").write_text(edited)
    capsys.readouterr()
    assert _main("--check") == 1
    lines = capsys.readouterr().out.splitlines()
    assert "README.md: table fake.main differs from docs/results/fake.json" in lines
    assert not any("fake.extra differs" in line for line in lines)
    assert (repo / "README.md").read_text() == edited
    # New numbers in the JSON make the check fail too; a render then fixes both.
    (repo / "docs/results/fake.json").write_text(
        json.dumps({"acc": {"cnn": 90.0, "mlp": 88.05}, "provenance": PROV}))
    assert _main("--check") == 1
    assert _main() == 0 and _main("--check") == 0
    assert "| cnn | 90.0 |" in (repo / "README.md").read_text()


def test_unknown_table_id_is_an_error(repo, capsys):
    text = README + "\n<!-- report:fake.nope -->\n<!-- /report:fake.nope -->\n"
    (repo / "README.md").write_text(text)
    assert _main() == 2
    err = capsys.readouterr().err
    assert "unknown table fake.nope on line 16" in err
    assert (repo / "README.md").read_text() == text
    assert _main("--check") == 2


def test_block_of_a_skipped_experiment_names_the_reason(repo, capsys):
    (repo / "docs/results/fake.json").unlink()
    assert _main("--check") == 2
    err = capsys.readouterr().err
    assert ("unknown table fake.main on line 5: no experiment rendered it (experiment fake "
            "skipped: docs/results/fake.json not found)") in err


@pytest.mark.parametrize("text,msg", [
    ("<!-- report:a.b -->\n", "README.md: block report:a.b opened on line 1 is never closed"),
    ("x\n<!-- /report:a.b -->\n",
     "README.md: closing marker /report:a.b on line 2 has no opening marker"),
    ("<!-- report:a.b -->\n<!-- report:a.c -->\n",
     "README.md: block report:a.c on line 2 starts inside block report:a.b (line 1)"),
    ("<!-- report:a.b -->\n<!-- /report:a.c -->\n",
     "README.md: closing marker /report:a.c on line 2 has no opening marker; open block is "
     "report:a.b"),
    ("<!-- report:a.b --><!-- /report:a.b -->\n<!-- report:a.b --><!-- /report:a.b -->",
     "README.md: table a.b has two blocks (lines 1 and 2)"),
])
def test_malformed_markers(text, msg):
    with pytest.raises(R.ReportError) as e:
        R.find_blocks(text)
    assert str(e.value) == msg


def test_bad_report_tables_output(repo, monkeypatch):
    module = sys.modules["fake_experiment_for_report"]
    monkeypatch.setattr(module, "report_tables", lambda results: {"main": 3})
    with pytest.raises(R.ReportError, match="expected Markdown text for table 'main', got int"):
        R.render_tables("docs/results")
    monkeypatch.setattr(module, "report_tables", lambda results: [])
    with pytest.raises(R.ReportError, match="expected a dict of table id -> Markdown, got list"):
        R.render_tables("docs/results")
    (repo / "docs/results/fake.json").write_text("{not json")
    with pytest.raises(R.ReportError, match="docs/results/fake.json: cannot read results JSON"):
        R.render_tables("docs/results")


def test_source_line_variants():
    shown = "docs/results/x.json"
    assert R.source_line({}, shown) == "_Source: docs/results/x.json — no provenance recorded._"
    prov = {**PROV, "git_dirty": True, "seeds": [7], "preset": None, "wall_time": None,
            "command": "python -m experiments.x --set `a`=1"}
    assert R.source_line({"provenance": prov}, shown) == (
        "_Source: docs/results/x.json — commit 0123456789 (uncommitted changes), 1 seed, "
        "no preset, wall time unknown; command: `` python -m experiments.x --set `a`=1 ``._")
    assert R.source_line({"provenance": {}}, shown) == (
        "_Source: docs/results/x.json — commit unknown, seeds unknown, no preset, "
        "wall time unknown._")


def test_refresh_shrinks_curves_and_copies_figures(repo, capsys):
    run = repo / "run"
    run.mkdir()
    long = [float(i) for i in range(1001)]
    data = {
        "curves": {"test_acc": long, "epochs": list(range(1001)), "short": [1.0, 2.0]},
        "models": [{"name": "cnn", "curves": [{"loss": long[:450] + [None]}],
                    "weights": list(range(500))}],
        "raw": long,
        "provenance": PROV,
        "acc": {"cnn": 93.14, "mlp": 88.05},
    }
    (run / "fake.json").write_text(json.dumps(data))
    (run / "fake_curves.png").write_bytes(b"\x89PNG fake")
    (run / "notes.txt").write_text("not copied")
    assert _main("--refresh", "run", "--figures", "docs/figures") == 0
    out = capsys.readouterr().out
    assert "refreshed docs/results/fake.json" in out
    assert "refreshed docs/figures/fake_curves.png" in out
    got = json.loads((repo / "docs/results/fake.json").read_text())
    acc, epochs = got["curves"]["test_acc"], got["curves"]["epochs"]
    assert len(acc) == len(epochs) == 200
    assert acc[0] == 0.0 and acc[-1] == 1000.0 and acc == [float(e) for e in epochs]
    assert acc == sorted(set(acc))  # distinct, increasing indices
    assert got["curves"]["short"] == [1.0, 2.0]
    loss = got["models"][0]["curves"][0]["loss"]
    assert len(loss) == 200 and loss[0] == 0.0 and loss[-1] is None
    assert got["models"][0]["weights"] == list(range(500))  # not under "curves"
    assert got["raw"] == long
    assert (repo / "docs/figures/fake_curves.png").read_bytes() == b"\x89PNG fake"
    assert not (repo / "docs/figures/notes.txt").exists()
    assert "| cnn | 93.1 |" in (repo / "README.md").read_text()


def test_refresh_errors(repo, capsys):
    assert _main("--refresh", "missing_dir") == 2
    assert "--refresh: expected a run folder, got missing_dir" in capsys.readouterr().err
    (repo / "empty").mkdir()
    assert _main("--refresh", "empty") == 2
    assert "expected NAME.json for some of fake, absent, bare in empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _main("--refresh", "empty", "--check")


def test_output_locations_are_checked_before_anything_is_written(repo, capsys):
    run = repo / "run"
    run.mkdir()
    (run / "fake.json").write_text(json.dumps({"acc": {"cnn": 50.0}, "provenance": PROV}))
    (run / "fake_curves.png").write_bytes(b"\x89PNG fake")
    (repo / "taken").write_text("a file")
    before = (repo / "docs/results/fake.json").read_text()
    readme = (repo / "README.md").read_text()
    assert _main("--refresh", "run", "--figures", "taken/figures") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["report: error: --figures: expected a folder (existing, or one that can be "
                   "created) that is writable, got 'taken/figures', below the file "
                   f"{str(repo / 'taken')!r}"], err
    assert (repo / "docs/results/fake.json").read_text() == before  # nothing copied
    assert R.main(["--readme", "docs", "--results", "docs/results"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["report: error: --readme: expected a writable file, got 'docs', a "
                   "folder"], err
    assert (repo / "README.md").read_text() == readme


@pytest.mark.parametrize("n", [201, 1000, 12345])
def test_shrink_curves_keeps_first_last_and_length(n):
    values = list(range(n))
    got = R.shrink_curves({"a": {"curves": [values, {"x": values}]}})
    for curve in (got["a"]["curves"][0], got["a"]["curves"][1]["x"]):
        assert len(curve) == R.MAX_CURVE_POINTS
        assert curve[0] == 0 and curve[-1] == n - 1
        assert all(a < b for a, b in zip(curve, curve[1:]))
    assert R.shrink_curves({"curves": values[:200]}) == {"curves": values[:200]}
    mixed = ["a"] * 300
    assert R.shrink_curves({"curves": mixed})["curves"] == mixed  # not numbers
    assert len(R.shrink_curves({"curves": values}, max_points=2)["curves"]) == 2
    with pytest.raises(ValueError, match="max_points: expected an int >= 2, got 1"):
        R.shrink_curves({}, max_points=1)


def test_docstring_examples():
    from experiments.harness import readme, refresh, render

    for module in (render, readme, refresh, P, registry):
        result = doctest.testmod(module, raise_on_error=False)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


# ------------------------------------------------------------------ provenance


def test_provenance_fields():
    p = P.provenance(name="fake", preset="smoke", seeds=range(2), wall_time=3,
                     argv=["--out", "my results", "--seeds", "2"])
    assert p["command"] == "python -m experiments.fake --out 'my results' --seeds 2"
    assert p["seeds"] == [0, 1] and p["preset"] == "smoke" and p["wall_time"] == 3.0
    assert set(p["packages"]) == set(P.PACKAGES) and p["packages"]["numpy"]
    assert p["device"]["platform"] and p["device"]["count"] >= 1
    assert p["date"].endswith("+00:00")
    json.dumps(p)  # JSON-ready as is
    commit, dirty = P.git_state()
    if commit is not None:  # this checkout
        assert len(commit) == 40 and isinstance(dirty, bool)
        assert p["git_commit"] == commit


def test_provenance_argv_default(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["x.py", "--preset", "default"])
    assert P.provenance(name="a", preset=None, seeds=[], wall_time=None)["command"] == (
        "python -m experiments.a --preset default")
    assert P.provenance(name="a", preset=None, seeds=[], wall_time=None,
                        argv=[])["command"] == "python -m experiments.a"


def test_provenance_without_git(monkeypatch, tmp_path):
    assert P.git_state(tmp_path) == (None, None)  # not a checkout

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    p = P.provenance(name="a", preset="smoke", seeds=[0], wall_time=1.0)
    assert p["git_commit"] is None and p["git_dirty"] is None
    assert P.package_versions(["surely-not-installed-pkg"]) == {"surely-not-installed-pkg": None}
    with pytest.raises(ValueError, match="seeds: expected integers, got 0.5"):
        P.provenance(name="a", preset=None, seeds=[0.5], wall_time=1.0)


# ------------------------------------------------------------------ the real README


def test_repository_readme_is_up_to_date(capsys):
    results = R.REPO_ROOT / "docs" / "results"
    if not any(results.glob("*.json")):
        pytest.skip("docs/results holds no results JSON yet "
                    "(run `python -m experiments.report --refresh RUN_DIR`)")
    status = R.main(["--check", "--readme", str(R.REPO_ROOT / "README.md"),
                     "--results", str(results)])
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
