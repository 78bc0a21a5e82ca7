"""The code-health limits of tools/architecture.py hold on the whole tree (issue 10)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "architecture", Path(__file__).resolve().parents[1] / "tools" / "architecture.py")
architecture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(architecture)


def test_no_module_over_the_limit():
    over = [(n, m) for n, m in architecture.module_sizes() if n > architecture.MAX_MODULE_LINES]
    assert not over, over


def test_no_function_over_the_limit():
    over = [(n, f) for n, f in architecture.function_sizes()
            if n > architecture.MAX_FUNCTION_LINES]
    assert not over, over


def test_no_underscore_imports_across_modules():
    assert architecture.underscore_imports() == []


def test_every_value_error_has_the_one_form():
    assert architecture.value_error_sites() == []


def test_nothing_imports_against_the_layering():
    assert architecture.layer_violations() == []


def test_the_checks_can_fail(tmp_path, monkeypatch):
    # A tree with one of each violation: every check must report it.
    pkg = tmp_path / "jaxcnn"
    pkg.mkdir()
    (tmp_path / "experiments").mkdir()
    for d in ("benchmarks", "tools"):
        (tmp_path / d).mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    (pkg / "bad.py").write_text(
        "from jaxcnn.conv import _helper\nimport jaxcnn.validation as v\n"
        f"def long():\n{body}\n    v._private()\n    raise ValueError('x must be 1')\n"
        + "\n" * 400)
    monkeypatch.setattr(architecture, "ROOT", tmp_path)
    assert architecture.module_sizes()[0][1] == "jaxcnn/bad.py"
    assert architecture.function_sizes()[0] == (73, "jaxcnn/bad.py:long")
    assert len(architecture.underscore_imports()) == 2
    assert architecture.value_error_sites() == ["jaxcnn/bad.py:75"]
    assert architecture.layer_violations() == ["jaxcnn/bad.py: module 'bad' has no row in LAYERS"]
    (pkg / "bad.py").unlink()
    (pkg / "patches.py").write_text("from jaxcnn import models\nimport jaxcnn.validation\n")
    assert architecture.layer_violations() == ["jaxcnn/patches.py:1: patches imports jaxcnn.models"]


@pytest.mark.parametrize("bad, message", [
    (lambda v: v.check_int(True, name="epochs", minimum=0), "epochs: expected an int >= 0, got True"),
    (lambda v: v.check_int(5, name="process_id", minimum=0, maximum=3),
     "process_id: expected an int >= 0 and <= 3, got 5"),
    (lambda v: v.check_number(float("nan"), name="lr", minimum=0, strict=True),
     "lr: expected a finite number > 0, got nan"),
    (lambda v: v.check_choice("adam", ("sgd", "blasso"), name="kind"),
     "kind: expected one of ('sgd', 'blasso'), got 'adam'"),
])
def test_generic_checks_message(bad, message):
    from jaxcnn import validation

    with pytest.raises(ValueError) as e:
        bad(validation)
    assert str(e.value) == message


def test_experiments_layering_and_cycles_can_fail(tmp_path, monkeypatch):
    # A planted experiments tree: the harness importing a study, a study importing another
    # study and the registry, a stray top-level module, and a cycle inside the harness.
    root = tmp_path / "experiments"
    for folder in ("harness", "alpha", "beta"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "registry.py").write_text("from experiments.harness import cli\n")
    (root / "harness" / "cli.py").write_text(
        "from experiments.harness.overrides import parse\n"
        "def later():\n    from experiments.alpha import tables\n")
    (root / "harness" / "overrides.py").write_text(
        "def parse():\n    from experiments.harness.cli import later\n")
    (root / "alpha" / "run.py").write_text(
        "from experiments.harness import cli\nfrom . import tables\n"
        "from experiments.beta.tables import rows\nfrom experiments import registry\n")
    (root / "alpha" / "tables.py").write_text("")
    (root / "beta" / "tables.py").write_text("rows = 1\n")
    (root / "stray.py").write_text("")
    monkeypatch.setattr(architecture, "ROOT", tmp_path)
    assert architecture.experiment_layer_violations() == [
        "experiments/alpha/run.py:3: study alpha imports experiments.beta.tables",
        "experiments/alpha/run.py:4: study alpha imports experiments.registry",
        "experiments/harness/cli.py:3: harness imports experiments.alpha.tables",
        "experiments/stray.py: module 'stray' is not the harness, a study folder or one of "
        "the commands ('__init__', 'registry', 'all', 'report', 'plot')",
    ]
    assert architecture.import_cycles() == [
        "experiments.harness.cli <-> experiments.harness.overrides"]
    # the same tree without the planted problems is clean
    (root / "harness" / "cli.py").write_text("from experiments.harness.overrides import parse\n")
    (root / "harness" / "overrides.py").write_text("def parse():\n    pass\n")
    (root / "alpha" / "run.py").write_text("from experiments.harness import cli\n"
                                           "from . import tables\n")
    (root / "stray.py").unlink()
    assert architecture.experiment_layer_violations() == []
    assert architecture.import_cycles() == []
