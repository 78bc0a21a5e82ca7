"""The equivalence demo: one layer computed five ways agrees; the subspace table is right."""

import json

import pytest

from experiments.equivalence import run as equivalence


def test_equivalence_demo_agrees_and_writes_json(tmp_path, capsys):
    results = equivalence.main(["--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "CNN ⊂ LCN ⊂ FC" in printed and "patches + shared dense" in printed
    on_disk = json.loads((tmp_path / "equivalence.json").read_text())
    assert on_disk["subspaces"] == results["subspaces"]

    scale = results["layer"]["output_scale"]
    assert scale > 1.0  # outputs are not trivially zero
    for name, diff in results["layer"]["max_abs_diff_vs_conv"].items():
        assert diff <= 1e-5 * scale, name
    assert results["layer"]["max_abs_diff_fc_as_conv"] <= 1e-5 * scale

    rows = {r["layer"].split()[0]: r for r in results["subspaces"]}
    # parameters: CNN < LCN < FC; the CNN and LCN matrices have the same support
    assert rows["CNN"]["parameters"] < rows["LCN"]["parameters"] < rows["FC"]["parameters"]
    assert rows["CNN"]["non-zeros"] == rows["LCN"]["non-zeros"] < rows["FC"]["non-zeros"]
    # distances: the CNN matrix lies in both subspaces, the LCN one only in its own
    assert rows["CNN"]["dist to conv"] < 1e-5 and rows["CNN"]["dist to LCN"] < 1e-5
    assert rows["LCN"]["dist to LCN"] < 1e-5 and rows["LCN"]["dist to conv"] > 0.5
    assert rows["FC"]["dist to LCN"] > 0.5 and rows["FC"]["dist to conv"] > 0.5


def test_equivalence_rejects_unknown_preset(capsys):
    with pytest.raises(SystemExit) as e:
        equivalence.main(["--preset", "huge"])
    assert e.value.code == 2
    assert "--preset: expected one of smoke, default, paper, got 'huge'" in capsys.readouterr().err
