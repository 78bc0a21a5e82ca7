"""Tests for experiments.harness.overrides.apply_overrides (``--set NAME=VALUE``).

Type coverage on a small local dataclass; then every real preset dataclass (each study's
``experiments/<study>/config.py``; their own ``__post_init__`` checks must surface as one
line).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Literal, Optional

import pytest

from experiments.ecnn import config as ecnn
from experiments.harness.errors import CLIError
from experiments.harness.overrides import apply_overrides
from experiments.learn_conv import config as learn_conv
from experiments.mnist1d_table import config as mnist1d_table
from experiments.nlgp_localization import config as nlgp_localization
from experiments.sample_efficiency import config as sample_efficiency

REPO = Path(__file__).resolve().parents[1]
CONFIG_MODULES = (learn_conv, mnist1d_table, sample_efficiency, ecnn, nlgp_localization)


@dataclasses.dataclass(frozen=True)
class Local:
    n: int = 1
    x: float = 0.5
    flag: bool = False
    name: str = "a"
    maybe: int | None = None
    old_optional: Optional[float] = 1.0  # noqa: UP007 - the other spelling on purpose
    mode: Literal["fast", "slow"] = "fast"
    level: Literal[1, 2] = 1
    ints: tuple[int, ...] = (1, 2)
    names: tuple[str, ...] = ("a",)
    pair: tuple[float, float] = (1.0, 2.0)
    mixed: tuple[int, str] = (1, "a")
    pairs: tuple[tuple[float, float], ...] = ()
    maybe_ints: tuple[int, ...] | None = None
    shapes: tuple[tuple[int, ...], ...] = ((1,),)
    table: dict = dataclasses.field(default_factory=dict)
    derived: int = dataclasses.field(default=0, init=False)

    def __post_init__(self):
        if self.n < 0:
            raise ValueError(f"n: expected an int >= 0, got {self.n}")
        if self.n == 99 and self.x == 99.0:
            raise ValueError("n and x: not both 99")


def err(cfg, *items: str) -> str:
    with pytest.raises(CLIError) as info:
        apply_overrides(cfg, list(items))
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# -------------------------------------------------------------------- parsing


@pytest.mark.parametrize("item, field, value, record", [
    ("n=3", "n", 3, 3),
    ("maybe= -2 ", "maybe", -2, -2),
    ("n=1_000", "n", 1000, 1000),
    ("x=2", "x", 2.0, 2.0),
    ("x=1e-3", "x", 1e-3, 1e-3),
    ("flag=true", "flag", True, True),
    ("flag=YES", "flag", True, True),
    ("flag=1", "flag", True, True),
    ("flag=False", "flag", False, False),
    ("flag=no", "flag", False, False),
    ("flag=0", "flag", False, False),
    ("name=b c", "name", "b c", "b c"),
    ("name=", "name", "", ""),
    ("name=x=y", "name", "x=y", "x=y"),
    ("maybe=none", "maybe", None, None),
    ("maybe=None", "maybe", None, None),
    ("maybe=4", "maybe", 4, 4),
    ("old_optional=NONE", "old_optional", None, None),
    ("old_optional=3", "old_optional", 3.0, 3.0),
    ("mode=slow", "mode", "slow", "slow"),
    ("level=2", "level", 2, 2),
    ("ints=(3, 4, 5)", "ints", (3, 4, 5), [3, 4, 5]),
    ("ints=[3,4]", "ints", (3, 4), [3, 4]),
    ("ints=()", "ints", (), []),
    ("ints=", "ints", (), []),
    ("ints=7", "ints", (7,), [7]),
    ("ints=7,8", "ints", (7, 8), [7, 8]),
    ("names=s-conv,s-fc", "names", ("s-conv", "s-fc"), ["s-conv", "s-fc"]),
    ("names=('s-conv', \"s-fc\")", "names", ("s-conv", "s-fc"), ["s-conv", "s-fc"]),
    ('names=["x"]', "names", ("x",), ["x"]),
    ("names=mlp", "names", ("mlp",), ["mlp"]),
    ("pair=(1, 3)", "pair", (1.0, 3.0), [1.0, 3.0]),
    ("pair=[0.5, 2e-3]", "pair", (0.5, 2e-3), [0.5, 2e-3]),
    ("mixed=(2, 'b')", "mixed", (2, "b"), [2, "b"]),
    ("pairs=((1e-3, 5e-4),)", "pairs", ((1e-3, 5e-4),), [[1e-3, 5e-4]]),
    ("pairs=[[1, 2], [3, 4]]", "pairs", ((1.0, 2.0), (3.0, 4.0)), [[1.0, 2.0], [3.0, 4.0]]),
    ("maybe_ints=none", "maybe_ints", None, None),
    ("maybe_ints=(1,)", "maybe_ints", (1,), [1]),
    ("shapes=((2, 3), (4,))", "shapes", ((2, 3), (4,)), [[2, 3], [4]]),
])
def test_parses_each_type(item, field, value, record):
    cfg, rec = apply_overrides(Local(), [item])
    got = getattr(cfg, field)
    assert got == value and type(got) is type(value)
    if isinstance(value, tuple):
        assert all(type(a) is type(b) for a, b in zip(got, value))
    assert rec == {field: record}
    json.dumps(rec)  # JSON-able


def test_last_wins_record_order_and_no_items():
    base = Local()
    cfg, rec = apply_overrides(base, ["n=1", "x=3", "n=5"])
    assert (cfg.n, cfg.x) == (5, 3.0) and list(rec) == ["n", "x"] and rec["n"] == 5
    assert base.n == 1  # the preset is not modified
    cfg, rec = apply_overrides(base, ["n=-1", "n=2"])  # an earlier bad value is replaced
    assert cfg.n == 2
    assert apply_overrides(base, []) == (base, {})
    cfg, rec = apply_overrides(base, ("n=2",), flag="--override")
    assert cfg.n == 2


@pytest.mark.parametrize("items, message", [
    (["n"], "--set n: expected NAME=VALUE, got 'n'"),
    (["=3"], "--set =3: expected NAME=VALUE, got '=3'"),
    (["nn=3"], "--set: unknown field 'nn' of Local (fields: flag, ints, level, maybe, "
               "maybe_ints, mixed, mode, n, name, names, old_optional, pair, pairs, shapes, "
               "table, x)"),
    (["derived=1"], "--set: unknown field 'derived' of Local (fields: flag, "),
    (["table={}"], "--set table={}: field 'table' of type dict cannot be set from the "
                   "command line"),
    (["n=abc"], "--set n=abc: expected an int, got 'abc'"),
    (["n=3.0"], "--set n=3.0: expected an int, got '3.0'"),
    (["n=true"], "--set n=true: expected an int, got 'true'"),
    (["n="], "--set n=: expected an int, got ''"),
    (["x=abc"], "--set x=abc: expected a float, got 'abc'"),
    (["x=nan"], "--set x=nan: expected a finite float, got 'nan'"),
    (["x=inf"], "--set x=inf: expected a finite float, got 'inf'"),
    (["flag=maybe"], "--set flag=maybe: expected a bool (true/false, 1/0, yes/no), "
                     "got 'maybe'"),
    (["maybe=x"], "--set maybe=x: expected an int or none, got 'x'"),
    (["mode=medium"], "--set mode=medium: expected one of 'fast', 'slow', got 'medium'"),
    (["level=3"], "--set level=3: expected one of 1, 2, got '3'"),
    (["ints=(1, 'a')"], "--set ints=(1, 'a'): expected a tuple[int, ...] literal such as "
                        "(1, 2), got \"(1, 'a')\" (element [1]: 'a' is not an int)"),
    (["ints=(1, True)"], "(element [1]: True is not an int)"),
    (["ints=(1.5,)"], "(element [0]: 1.5 is not an int)"),
    (["ints=1,x"], "--set ints=1,x: expected a tuple[int, ...] literal such as (1, 2), "
                   "got '1,x' (expected an int, got 'x')"),
    (["ints=(1,"], "--set ints=(1,: expected a tuple[int, ...] literal such as (1, 2), "
                   "got '(1,'"),
    (["names=(1, 2)"], "(element [0]: 1 is not a string)"),
    (["pair=(1, 2, 3)"], "--set pair=(1, 2, 3): expected a tuple[float, float] literal such "
                         "as (0.5, 0.5), got '(1, 2, 3)' (3 elements, expected 2)"),
    (["pair=1"], "got '1' (not a tuple)"),
    (["pair=(1, 'a')"], "(element [1]: 'a' is not a float)"),
    (["pair=(1, nan)"], "expected a tuple[float, float] literal such as (0.5, 0.5), "
                        "got '(1, nan)'"),
    (["pairs=(1e-3, 5e-4)"], "--set pairs=(1e-3, 5e-4): expected a "
                             "tuple[tuple[float, float], ...] literal such as ((0.5, 0.5), "
                             "(0.5, 0.5)), got '(1e-3, 5e-4)' (element [0]: 0.001 is not a "
                             "tuple)"),
    (["pairs=((1, 2), (3,))"], "(element [1]: (3,) has 1 element, expected 2)"),
    (["shapes=1,2"], "--set shapes=1,2: expected a tuple[tuple[int, ...], ...] literal"),
    (["n=-1"], "--set n=-1: n: expected an int >= 0, got -1"),
    (["n=99", "x=99"], "--set n=99 --set x=99: n and x: not both 99"),
])
def test_bad_input_messages(items, message):
    assert message in err(Local(), *items)


def test_flag_name_in_messages():
    with pytest.raises(CLIError, match=r"^--override n=x: expected an int, got 'x'$"):
        apply_overrides(Local(), ["n=x"], flag="--override")


def test_programming_errors_are_type_errors():
    with pytest.raises(TypeError, match="cfg: expected a dataclass instance, got dict"):
        apply_overrides({}, ["n=1"])
    with pytest.raises(TypeError, match="cfg: expected a dataclass instance, got type"):
        apply_overrides(Local, ["n=1"])
    with pytest.raises(TypeError, match="items: expected a sequence"):
        apply_overrides(Local(), "n=1")


# ------------------------------------------------------------- real presets


def _presets() -> list:
    return [pytest.param(cfg, id=f"{mod.__name__.rsplit('.', 1)[-1]}-{preset}")
            for mod in CONFIG_MODULES for preset, cfg in mod.PRESETS.items()]


def _text(value) -> str:
    """A command-line spelling of a config value."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return repr(value)
    return str(value)


@pytest.mark.parametrize("cfg", _presets())
def test_every_field_of_every_preset_round_trips(cfg):
    """Setting each field to its own value (as text) parses and leaves the config equal."""
    fields = [f.name for f in dataclasses.fields(cfg) if f.init]
    items = [f"{n}={_text(getattr(cfg, n))}" for n in fields]
    new, rec = apply_overrides(cfg, items)
    assert new == cfg and type(new) is type(cfg)
    assert list(rec) == fields
    json.dumps(rec)
    unknown = err(cfg, "no_such_field=1")
    assert unknown.startswith(f"--set: unknown field 'no_such_field' of {type(cfg).__name__} "
                              f"(fields: {', '.join(sorted(fields))})")


def test_learn_conv_preset():
    cfg = learn_conv.PRESETS["smoke"]
    new, rec = apply_overrides(cfg, ["alpha=3", "models=s-conv,s-fc", "sweep=((1e-3,5e-4),)",
                                     "kernel_size=none", "lr=1", "checkpoint=yes"])
    assert (new.alpha, new.models, new.sweep, new.kernel_size, new.lr, new.checkpoint) == (
        3, ("s-conv", "s-fc"), ((1e-3, 5e-4),), None, 1.0, True)
    assert rec == {"alpha": 3, "models": ["s-conv", "s-fc"], "sweep": [[1e-3, 5e-4]],
                   "kernel_size": None, "lr": 1.0, "checkpoint": True}
    assert err(cfg, "alpah=3").startswith(
        "--set: unknown field 'alpah' of LearnConvConfig (fields: alpha, batch_size, ")
    assert err(cfg, "alpha=abc") == "--set alpha=abc: expected an int, got 'abc'"
    assert err(cfg, "epochs") == "--set epochs: expected NAME=VALUE, got 'epochs'"
    # the config's own validation, attributed to the item that fails it
    assert err(cfg, "epochs=3", "alpha=0") == "--set alpha=0: alpha: expected an int >= 1, got 0"
    assert err(cfg, "models=s-conv,nope") == (
        "--set models=s-conv,nope: models: expected a non-empty subset of ['s-conv', "
        "'s-local', 's-fc', 's-fc-blasso', 's-fc-blasso-b0', '3-fc'], got ('s-conv', 'nope')")
    assert err(cfg, "lr=-1") == "--set lr=-1: lr: expected a float >= 0, got -1.0"
    assert "element [0]: 0.001 is not a tuple" in err(cfg, "sweep=(1e-3,5e-4)")


def test_other_presets():
    cfg, rec = apply_overrides(nlgp_localization.PRESETS["smoke"],
                               ["xi=(1, 2)", "readout_lr=none", "shape=(8, 8)"])
    assert (cfg.xi, cfg.readout_lr, cfg.shape) == ((1.0, 2.0), None, (8, 8))
    assert rec == {"xi": [1.0, 2.0], "readout_lr": None, "shape": [8, 8]}
    assert "got '(1.0,)' (1 element, expected 2)" in err(
        nlgp_localization.PRESETS["smoke"], "xi=(1.0,)")
    cfg, _ = apply_overrides(sample_efficiency.PRESETS["smoke"], ["sizes=100,200"])
    assert cfg.sizes == (100, 200)
    assert err(sample_efficiency.PRESETS["smoke"], "sizes=(0,)").startswith(
        "--set sizes=(0,): sizes: expected positive ints")
    cfg, _ = apply_overrides(mnist1d_table.PRESETS["smoke"], ["checkpoint_every=none"])
    assert cfg.checkpoint_every is None
    cfg, _ = apply_overrides(ecnn.PRESETS["smoke"], ["relax_epochs=0,1", "num_samples=100"])
    assert cfg.relax_epochs == (0, 1) and cfg.num_samples == 100


# ------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("module, item, message", [
    ("learn_conv", "alpah=3", "--set: unknown field 'alpah' of LearnConvConfig"),
    ("sample_efficiency", "epochs=x", "--set epochs=x: expected an int, got 'x'"),
    ("mnist1d_table", "seeds=0", "--set seeds=0:"),
])
def test_bad_set_exits_2_with_one_line(tmp_path, module, item, message):
    proc = subprocess.run(
        [sys.executable, "-m", f"experiments.{module}", "--preset", "smoke",
         "--set", item, "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written
