"""Fuzzing the experiments' command lines with bad flags: exit 2, one line, nothing written.

Issue 25, item 9. Every experiment CLI (each study of :data:`experiments.registry.STUDIES`,
``experiments.all``, ``experiments.plot``, ``experiments.report``) is called in-process as
``main(argv)`` with at least 20 kinds of bad flags, each of which must be refused before
any work:

* exit status 2 (``SystemExit(2)``, or ``main`` returning 2 for ``experiments.report``);
* stderr is one line ``<prog>: error: <flag ...>: ...`` naming a flag (or the positional
  argument) that was given, or argparse's own refusal (its usage block, then one
  ``<prog>: error: ...`` line); nothing on stdout;
* the output location (a ``tmp_path`` subfolder) is not created, and existing folders
  given gain no file.

A safety net makes a flag that is *accepted* fail fast instead of training: the first
step of real work of every study (``RunOptions.seed_list``, which every study with a
preset calls after checking its config; ``layer_views`` for ``equivalence``; ``run_one``
for ``experiments.all``) raises :class:`WorkStarted`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from experiments import registry
from experiments.harness import cli

ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", registry.ENV)
STUDIES = [s.name for s in registry.STUDIES]


class WorkStarted(Exception):
    """Raised where an experiment would start its real work: the flags were accepted."""


def _work_started(*args, **kwargs):
    raise WorkStarted


@pytest.fixture(autouse=True)
def _guard(monkeypatch):
    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(cli.RunOptions, "seed_list", _work_started)
    import experiments.all
    import experiments.equivalence.run

    monkeypatch.setattr(experiments.equivalence.run, "layer_views", _work_started)
    monkeypatch.setattr(experiments.all, "run_one", _work_started)


def _main(name):
    if name == "all":
        import experiments.all

        return experiments.all.main
    return registry.study(name).main()


# ------------------------------------------------------------------ the bad flags

# kind -> flags, with {tmp} for a folder holding `afile` (a file), {out} for the --out of the
# call. Each must be refused by every study CLI and by experiments.all (a flag a CLI does
# not have is refused by argparse, which is a refusal too).
COMMON = {
    "unknown preset": ["--preset", "nosuch"],
    "--seeds 0": ["--seeds", "0"],
    "--seeds -1": ["--seeds", "-1"],
    "--seeds not an int": ["--seeds", "x"],
    "--seed -1": ["--seed", "-1"],
    "--seed a float": ["--seed", "1.5"],
    "--devices 0": ["--devices", "0"],
    "--devices more than there are": ["--devices", "4096"],
    "--devices not an int": ["--devices", "two"],
    "--set unknown field": ["--set", "nosuchfield=1"],
    "--set seeds=0": ["--set", "seeds=0"],
    "--set epochs=-3": ["--set", "epochs=-3"],
    "--set seeds=abc": ["--set", "seeds=abc"],
    "--set seeds=1.5": ["--set", "seeds=1.5"],
    "--set without =": ["--set", "seeds"],
    "--out an existing file": ["--out", "{tmp}/afile"],
    "--out below a file": ["--out", "{tmp}/afile/sub"],
    "unknown flag": ["--nosuch"],
    "stray positional": ["extra"],
    "--num-processes 0": ["--num-processes", "0"],
    "--process-id out of range": ["--coordinator", "127.0.0.1:12355", "--num-processes", "2",
                                  "--process-id", "5"],
    "--process-id alone": ["--process-id", "0"],
    "--coordinator malformed": ["--coordinator", "bad", "--num-processes", "2",
                                "--process-id", "0"],
    "--coordinator port out of range": ["--coordinator", "127.0.0.1:99999",
                                        "--num-processes", "2", "--process-id", "0"],
    "--resume with --overwrite": ["--resume", "--overwrite"],
    "--dataset unknown": ["--dataset", "nosuch"],
    "--data-path missing": ["--dataset", "npz", "--data-path", "{tmp}/missing.npz"],
    "--data-path for a generated dataset": ["--data-path", "{tmp}/afile"],
}

# Kinds of one CLI only.
OWN = {
    "learn_conv": {
        "--models unknown": ["--models", "nosuch"],
        "--models empty": ["--models", ","],
        "--nlgp-shape without nlgp": ["--nlgp-shape", "20x20"],
        "--nlgp-shape malformed": ["--dataset", "nlgp", "--nlgp-shape", "20y20"],
        "--preset paper on mnist1d": ["--preset", "paper", "--dataset", "mnist1d"],
        "--dataset npz without --data-path": ["--dataset", "npz"],
    },
    "sample_efficiency": {
        "--dataset shuffled": ["--dataset", "mnist1d_shuffled"],
    },
    "all": {
        "--only unknown": ["--only", "nosuch"],
        "--skip unknown": ["--skip", "learn_conv,nosuch"],
    },
}

# The results JSON a study refuses to overwrite without --resume / --overwrite.
EARLIER = {s: f"{s}.json" for s in STUDIES}


def _cases():
    for name in [*STUDIES, "all"]:
        for kind, flags in {**COMMON, **OWN.get(name, {})}.items():
            yield pytest.param(name, kind, flags, id=f"{name}: {kind}")
        if name in EARLIER:
            yield pytest.param(name, "--out holding earlier results", ["{earlier}"],
                               id=f"{name}: --out holding earlier results")


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


ARGPARSE_LINE = re.compile(r"^(usage: |\s+\S|$)")


def _check_refusal(prog: str, err: str, argv: list[str]) -> str:
    """The one error line of ``err``; asserts the form (see the module docstring)."""
    lines = err.rstrip("\n").split("\n")
    last = lines[-1]
    assert last.startswith(f"{prog}: error: "), f"not a one-line refusal of {prog}: {err!r}"
    message = last[len(f"{prog}: error: "):]
    if len(lines) > 1:  # argparse: its usage block, then the error line
        assert lines[0].startswith("usage: ") and all(
            ARGPARSE_LINE.match(line) for line in lines[1:-1]), f"more than one line: {err!r}"
        return message
    # Our own form names the flag first ("--set seeds=0: ..."), or the positional argument,
    # or the given file whose content is wrong ("README.md: unknown table ... on line 1").
    named = re.match(r"^(--[a-z][a-z-]*|RESULTS\.json)\b", message) or any(
        message.startswith(f"{a}:") for a in argv if not a.startswith("-"))
    assert named, f"{prog}: the error does not start with what it is about: {last!r}"
    return message


@pytest.mark.parametrize("name, kind, flags", list(_cases()))
def test_study_cli_refuses_bad_flags(name, kind, flags, tmp_path, capsys):
    """Exit 2, one line on stderr naming the flag, no output folder, before any work."""
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "out"
    if flags == ["{earlier}"]:
        out.mkdir()
        (out / EARLIER[name]).write_text(json.dumps({"experiment": name}))
        flags = []
    argv = [f.format(tmp=tmp_path) for f in flags]
    if "--out" not in argv:
        argv = ["--out", str(out), *argv]
    if "--preset" not in argv:
        argv = ["--preset", "smoke", *argv]
    before = _files(tmp_path)
    try:
        _main(name)(argv)
    except SystemExit as e:
        code = e.code
    except WorkStarted:
        pytest.fail(f"python -m experiments.{name} {' '.join(argv)}: accepted ({kind}); "
                    "the run would start")
    else:
        pytest.fail(f"python -m experiments.{name} {' '.join(argv)}: returned ({kind})")
    captured = capsys.readouterr()
    assert code == 2, f"exit status {code} for {kind}: {captured.err!r}"
    _check_refusal(f"python -m experiments.{name}", captured.err, argv)
    assert captured.out == "", f"printed on stdout: {captured.out!r}"
    assert _files(tmp_path) == before, "a file or folder was written"


def test_at_least_20_kinds_per_cli():
    """The issue asks for 20 kinds of bad flags for every experiment CLI."""
    for name in [*STUDIES, "all"]:
        kinds = len(COMMON) + len(OWN.get(name, {})) + (name in EARLIER)
        assert kinds >= 20, (name, kinds)
    assert len(PLOT) >= 20 and len(REPORT) >= 20


# ------------------------------------------------------------------- experiments.plot

PLOT = {
    "no RESULTS.json": [],
    "missing file": ["{tmp}/missing.json", "--out", "{out}"],
    "a folder as RESULTS.json": ["{tmp}", "--out", "{out}"],
    "empty file": ["{tmp}/empty.json", "--out", "{out}"],
    "not JSON": ["{tmp}/broken.json", "--out", "{out}"],
    "not UTF-8": ["{tmp}/binary.json", "--out", "{out}"],
    "a JSON list": ["{tmp}/list.json", "--out", "{out}"],
    "a JSON number": ["{tmp}/number.json", "--out", "{out}"],
    "no experiment": ["{tmp}/noname.json", "--out", "{out}"],
    "experiment not a string": ["{tmp}/int.json", "--out", "{out}"],
    "experiment a path": ["{tmp}/path.json", "--out", "{out}"],
    "unknown study": ["{tmp}/unknown.json", "--out", "{out}"],
    "study without figures": ["{tmp}/equivalence.json", "--out", "{out}"],
    "--out an existing file": ["{tmp}/good.json", "--out", "{tmp}/afile"],
    "--out below a file": ["{tmp}/good.json", "--out", "{tmp}/afile/sub"],
    "--out without a value": ["{tmp}/good.json", "--out"],
    "unknown flag": ["{tmp}/good.json", "--out", "{out}", "--nosuch"],
    "two results files": ["{tmp}/good.json", "{tmp}/good.json", "--out", "{out}"],
    "--preset (not a flag of plot)": ["{tmp}/good.json", "--out", "{out}", "--preset", "smoke"],
    "RESULTS.json below a file": ["{tmp}/afile/r.json", "--out", "{out}"],
}


def _plot_inputs(tmp: Path) -> None:
    (tmp / "afile").write_text("not a folder")
    (tmp / "empty.json").write_text("")
    (tmp / "broken.json").write_text("{not json")
    (tmp / "binary.json").write_bytes(b"\xff\xfe\x00{")
    for stem, value in {"list": [1, 2], "number": 3, "noname": {"preset": "smoke"},
                        "int": {"experiment": 5}, "path": {"experiment": "../learn_conv"},
                        "unknown": {"experiment": "nosuch"},
                        "equivalence": {"experiment": "equivalence"},
                        "good": {"experiment": "learn_conv"}}.items():
        (tmp / f"{stem}.json").write_text(json.dumps(value))


@pytest.mark.parametrize("kind", list(PLOT))
def test_plot_refuses_bad_arguments(kind, tmp_path, capsys):
    from experiments import plot

    _plot_inputs(tmp_path)
    out = tmp_path / "out"
    argv = [a.format(tmp=tmp_path, out=out) for a in PLOT[kind]]
    before = _files(tmp_path)
    with pytest.raises(SystemExit) as e:
        got = plot.main(argv)
        pytest.fail(f"python -m experiments.plot {' '.join(argv)}: drew {got} ({kind})")
    captured = capsys.readouterr()
    assert e.value.code == 2, captured.err
    _check_refusal("python -m experiments.plot", captured.err, argv)
    assert captured.out == ""
    assert not out.exists() and _files(tmp_path) == before


# ----------------------------------------------------------------- experiments.report

REPORT = {
    "unknown flag": ["--nosuch"],
    "stray positional": ["extra"],
    "--check with --refresh": ["--check", "--refresh", "{run}"],
    "--readme a folder": ["--readme", "{tmp}"],
    "--readme below a file": ["--readme", "{tmp}/afile/README.md"],
    "--readme missing": ["--readme", "{tmp}/missing.md"],
    "--readme without a value": ["--readme"],
    "--results a file (--refresh)": ["--refresh", "{run}", "--results", "{tmp}/afile"],
    "--results below a file (--refresh)": ["--refresh", "{run}", "--results",
                                           "{tmp}/afile/results"],
    "--figures a file (--refresh)": ["--refresh", "{run}", "--figures", "{tmp}/afile"],
    "--figures below a file (--refresh)": ["--refresh", "{run}", "--figures",
                                           "{tmp}/afile/figures"],
    "--refresh missing": ["--refresh", "{tmp}/missing"],
    "--refresh a file": ["--refresh", "{tmp}/afile"],
    "--refresh without a value": ["--refresh"],
    "--check with an unknown flag": ["--check", "--nosuch"],
    "--preset (not a flag of report)": ["--preset", "smoke"],
    "--out (not a flag of report)": ["--out", "{tmp}/out"],
    "--readme with an unknown block": ["--readme", "{tmp}/unknown_block.md"],
    "--readme with an unclosed block": ["--readme", "{tmp}/unclosed.md"],
    "--readme not UTF-8": ["--readme", "{tmp}/binary.md"],
}


def _report_inputs(tmp: Path) -> dict:
    (tmp / "afile").write_text("not a folder")
    (tmp / "README.md").write_text("# readme\n")
    (tmp / "unknown_block.md").write_text("<!-- report:nosuch.main -->\nx\n"
                                          "<!-- /report:nosuch.main -->\n")
    (tmp / "unclosed.md").write_text("<!-- report:learn_conv.main -->\nx\n")
    (tmp / "binary.md").write_bytes(b"\xff\xfe\x00#")
    for d in ("run", "results", "figures"):
        (tmp / d).mkdir()
    (tmp / "run" / "learn_conv.json").write_text(json.dumps({"experiment": "learn_conv"}))
    return {"run": tmp / "run"}


@pytest.mark.parametrize("kind", list(REPORT))
def test_report_refuses_bad_arguments(kind, tmp_path, capsys):
    from experiments import report

    places = _report_inputs(tmp_path)
    argv = [a.format(tmp=tmp_path, **places) for a in REPORT[kind]]
    # Never the repository's README or docs folders: every location given explicitly.
    defaults = {"--readme": tmp_path / "README.md", "--results": tmp_path / "results",
                "--figures": tmp_path / "figures"}
    for flag, path in defaults.items():
        if flag not in argv:
            argv += [flag, str(path)]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    try:
        code = report.main(argv)
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    assert code == 2, f"status {code} for {kind}: {captured.err!r} {captured.out!r}"
    prog = "python -m experiments.report"
    if captured.err.startswith("report: error: "):  # report's own errors use the short name
        prog = "report"
    _check_refusal(prog, captured.err, argv)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "a file was written or changed"
