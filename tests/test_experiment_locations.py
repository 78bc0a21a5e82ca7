"""Output locations checked before any work, and ``--resume`` with nothing to resume.

Issue 25, items 3 and 5: an ``--out`` that is a file (or lies below one) costs one line on
stderr in the library's form and exit status 2 before any training, for every study and
for ``experiments.all`` (before: learn_conv trained every model, then died with a
FileExistsError traceback); ``--resume`` with no checkpoint of an earlier run says so in
one line and starts fresh (before: silently).
"""

from __future__ import annotations

import json

import pytest

from experiments import all as all_studies
from experiments.ecnn import run as ecnn
from experiments.equivalence import run as equivalence
from experiments.harness import locations
from experiments.harness.errors import CLIError
from experiments.learn_conv import run as learn_conv
from experiments.mnist1d_table import run as mnist1d_table
from experiments.nlgp_localization import run as nlgp_localization
from experiments.sample_efficiency import run as sample_efficiency

MAINS = {"learn_conv": learn_conv.main, "mnist1d_table": mnist1d_table.main,
         "sample_efficiency": sample_efficiency.main, "ecnn": ecnn.main,
         "nlgp_localization": nlgp_localization.main, "equivalence": equivalence.main,
         "all": all_studies.main}
EXPECTED = "a folder (existing, or one that can be created) that is writable"


@pytest.fixture
def no_training(monkeypatch):
    """Loading a dataset (every training study's first step) fails the test: the refusal
    must come first."""
    import jaxcnn.data

    def boom(*args, **kwargs):
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(jaxcnn.data, "load", boom)


@pytest.mark.parametrize("name", list(MAINS))
@pytest.mark.parametrize("where", ["file", "below_file"])
def test_out_that_is_a_file_exits_2_before_any_work(name, where, tmp_path, capsys,
                                                     no_training):
    taken = tmp_path / "results.txt"
    taken.write_text("notes")
    out = taken if where == "file" else taken / "sub"
    argv = ["--out", str(out)] + ([] if name == "equivalence" else ["--no-progress"])
    if name == "all":
        argv += ["--preset", "smoke", "--only", "learn_conv"]
    with pytest.raises(SystemExit) as exc:
        MAINS[name](argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    why = "an existing file" if where == "file" else f"below the file {str(taken)!r}"
    assert err == [f"python -m experiments.{name}: error: --out: expected {EXPECTED}, got "
                   f"{str(out)!r}, {why}"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]
    assert taken.read_text() == "notes"


def test_learn_conv_out_file_is_refused_by_the_command_line(tmp_path):
    # the same through `python -m` in a fresh process: one line, exit 2, in seconds
    import subprocess
    import sys
    from pathlib import Path

    taken = tmp_path / "results"
    taken.write_text("")
    done = subprocess.run([sys.executable, "-m", "experiments.learn_conv", "--preset",
                           "default", "--out", str(taken), "--no-progress"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"python -m experiments.learn_conv: error: --out: expected {EXPECTED}, got "
        f"{str(taken)!r}, an existing file"], done.stderr
    assert done.stdout == ""


def test_location_checks(tmp_path, monkeypatch):
    locations.check_output_dir(tmp_path, "--out")  # an existing folder
    locations.check_output_dir(tmp_path / "a" / "b", "--out")  # can be created
    assert not (tmp_path / "a").exists()  # the check creates nothing
    locations.check_output_file(tmp_path / "README.md", "--readme")
    with pytest.raises(CLIError, match=r"^--readme: expected a writable file, got '.*', a "
                                       r"folder$"):
        locations.check_output_file(tmp_path, "--readme")
    (tmp_path / "f").write_text("")
    with pytest.raises(CLIError, match=r"below the file"):
        locations.check_output_file(tmp_path / "f" / "README.md", "--readme")
    # a folder this process may not write to (os.access says so; root may write anywhere)
    monkeypatch.setattr(locations.os, "access", lambda path, mode: False)
    with pytest.raises(CLIError, match=r"a folder this process may not write to$"):
        locations.check_output_dir(tmp_path, "--out")
    with pytest.raises(CLIError, match=r"where this process may not create folders$"):
        locations.check_output_dir(tmp_path / "new", "--out")


FAST = ["--preset", "smoke", "--set", "epochs=1", "--seeds", "1", "--models", "s-conv",
        "--no-progress"]


def test_resume_with_nothing_to_resume_says_so_and_starts_fresh(tmp_path, capsys):
    out = tmp_path / "results"
    learn_conv.main([*FAST, "--out", str(out), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    root = out.absolute() / "checkpoints" / "learn_conv"
    assert err == [f"python -m experiments.learn_conv: note: --resume: nothing to resume in "
                   f"{root}; starting fresh"], err
    fresh = json.loads((out / "learn_conv.json").read_text())
    assert fresh["models"][0]["resumed_from"] is None
    # now there are checkpoints: a second --resume continues them, without the note
    learn_conv.main([*FAST, "--out", str(out), "--resume"])
    assert "nothing to resume" not in capsys.readouterr().err
    again = json.loads((out / "learn_conv.json").read_text())
    assert again["models"][0]["resumed_from"] == 1


def test_all_leaves_the_resume_note_to_the_studies(tmp_path, capsys):
    # experiments.all keeps no checkpoints of its own: it passes --resume on to the studies
    # that take it (equivalence does not) and says nothing itself
    all_studies.main(["--out", str(tmp_path), "--resume", "--only", "equivalence"])
    assert "nothing to resume" not in capsys.readouterr().err
