"""Earlier results in ``--out`` (refused without ``--resume`` / ``--overwrite``) and the
resume of ecnn and nlgp_localization.

Refusal: exit status 2, one stderr line naming the folder and the file, nothing written.
Resume: a run with ``--resume`` is interrupted right after one of its checkpoints (an
exception injected in-process, like a crash: only the files on disk survive), rerun with
``--resume``, and its results JSON must equal an uninterrupted run's number for number
(exactly; wall times, provenance and ``resumed_from`` aside).
"""

from __future__ import annotations

import json

import pytest
from conftest import results_numbers

from experiments.ecnn import run as ecnn
from experiments.equivalence import run as equivalence
from experiments.learn_conv import run as learn_conv
from experiments.mnist1d_table import run as mnist1d_table
from experiments.nlgp_localization import run as nlgp_localization
from experiments.sample_efficiency import run as sample_efficiency
from experiments.harness.cli import RunOptions

MODULES = {"learn_conv": learn_conv, "mnist1d_table": mnist1d_table,
           "sample_efficiency": sample_efficiency, "ecnn": ecnn,
           "nlgp_localization": nlgp_localization, "equivalence": equivalence}
#: Fast settings per experiment (one epoch where the config has ``epochs``).
FAST = {"learn_conv": ["--preset", "smoke", "--set", "epochs=1"],
        "ecnn": ["--preset", "smoke", "--set", "epochs=1", "--set", "relax_epochs=(0,1)"]}


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name, extra, stem", [
    ("learn_conv", [], "learn_conv"),
    ("learn_conv", ["--dataset", "mnist"], "learn_conv_mnist"),
    ("mnist1d_table", [], "mnist1d_table"),
    ("sample_efficiency", [], "sample_efficiency"),
    ("ecnn", [], "ecnn"),
    ("nlgp_localization", [], "nlgp_localization"),
    ("equivalence", [], "equivalence"),
])
def test_earlier_results_are_refused(capsys, tmp_path, name, extra, stem):
    out = tmp_path / "results"
    out.mkdir()
    (out / f"{stem}.json").write_text('{"earlier": true}')
    before = _files(out)
    with pytest.raises(SystemExit) as e:
        MODULES[name].main(["--out", str(out), "--no-progress", *extra])
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"python -m experiments.{name}: error: --out: {out} already holds "
                     f"{stem}.json from an earlier run; pass --resume to continue it or "
                     "--overwrite to replace it"], lines
    assert _files(out) == before  # nothing trained, nothing written


def test_results_of_another_dataset_are_not_earlier_results(capsys, tmp_path):
    # learn_conv.json (MNIST-1D) does not block --dataset mnist, whose file is another one
    (tmp_path / "learn_conv.json").write_text("{}")
    def options(argv):
        return RunOptions.from_args(learn_conv.build_cli().parse_args(argv), argv)

    assert learn_conv.results_file(options(["--dataset", "mnist"])) == "learn_conv_mnist.json"
    assert learn_conv.results_file(options([])) == "learn_conv.json"


def test_resume_and_overwrite_together_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        ecnn.main(["--out", str(tmp_path), "--resume", "--overwrite"])
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--overwrite: expected either --resume" in lines[0], lines
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["learn_conv", "ecnn"])
@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_overwrite_or_resume_proceeds(tmp_path, name, flag):
    stem = MODULES[name].NAME
    (tmp_path / f"{stem}.json").write_text('{"earlier": true}')
    MODULES[name].main([*FAST[name], "--out", str(tmp_path), "--no-progress", flag])
    res = json.loads((tmp_path / f"{stem}.json").read_text())
    assert res["experiment"] == stem and "earlier" not in res


# ------------------------------------------------------------------ resume


def _interrupt_after(monkeypatch, owner, attr, n):
    """Makes ``owner.attr`` raise (a crash) right after its ``n``-th call has returned."""
    original, calls = getattr(owner, attr), []

    def wrapped(*a, **kw):
        out = original(*a, **kw)
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt(f"injected crash after {attr} call {n}")
        return out

    monkeypatch.setattr(owner, attr, wrapped)
    return calls


def _resume_matches_uninterrupted(tmp_path, monkeypatch, module, argv, owner, attr, n):
    ref_out, out = tmp_path / "ref", tmp_path / "resumed"
    module.main([*argv, "--out", str(ref_out)])
    with monkeypatch.context() as m:
        _interrupt_after(m, owner, attr, n)
        with pytest.raises(KeyboardInterrupt, match="injected crash"):
            module.main([*argv, "--out", str(out), "--resume"])
    assert not (out / f"{module.NAME}.json").exists()
    module.main([*argv, "--out", str(out), "--resume"])
    ref = json.loads((ref_out / f"{module.NAME}.json").read_text())
    res = json.loads((out / f"{module.NAME}.json").read_text())
    assert ref["resumed_from"] is None
    assert results_numbers(res) == results_numbers(ref)  # exact: bitwise-equal floats
    return res


@pytest.mark.slow
def test_ecnn_resume_is_identical(tmp_path, monkeypatch):
    from jaxcnn.train import run as train_run

    # 3 epochs, relax at 0, 1, 3: the crash comes after the CNN's epoch-2 checkpoint, so the
    # epoch-1 snapshot must come back from its file and epoch 3 is retrained.
    argv = ["--preset", "smoke", "--set", "epochs=3", "--set", "relax_epochs=(0,1,3)",
            "--no-progress"]
    res = _resume_matches_uninterrupted(tmp_path, monkeypatch, ecnn, argv, train_run.Run,
                                        "save", 2)
    assert res["resumed_from"] == {"cnn": 2}
    assert res["cnn"]["resumed_from"] == 2 and res["fc_scratch"]["resumed_from"] is None
    snaps = tmp_path / "resumed" / "checkpoints" / "ecnn" / "smoke-cnn" / "snapshots"
    assert sorted(p.name for p in snaps.iterdir()) == [
        "seed0-epoch1.npz", "seed0-epoch3.npz", "seed1-epoch1.npz", "seed1-epoch3.npz"]
    # a finished run resumed again is restored, not retrained, with the same numbers
    ecnn.main([*argv, "--out", str(tmp_path / "resumed"), "--resume"])
    again = json.loads((tmp_path / "resumed" / "ecnn.json").read_text())
    assert results_numbers(again) == results_numbers(res)
    assert again["resumed_from"] == {"cnn": 3, "relax_0": 3, "relax_1": 2,
                                     "relax_0_conv_step": 3, "relax_1_conv_step": 2,
                                     "fc_scratch": 3}


@pytest.mark.slow
def test_nlgp_localization_resume_is_identical(tmp_path, monkeypatch):
    from experiments.nlgp_localization import online as nlgp_online  # saves the run states

    # the 3rd state file written: inside the NLGP main run, after its second log
    argv = ["--preset", "smoke", "--no-progress"]
    res = _resume_matches_uninterrupted(tmp_path, monkeypatch, nlgp_localization, argv,
                                        nlgp_online, "save_online_state", 3)
    assert set(res["resumed_from"]) == {"nlgp"} and res["resumed_from"]["nlgp"] >= 1
    ckpt = tmp_path / "resumed" / "checkpoints" / "nlgp_localization"
    assert (ckpt / "smoke-nlgp" / "state.npz").is_file()
    assert (ckpt / "smoke-gp" / "state.npz").is_file()
