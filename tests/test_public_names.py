"""The public names the README and docs/design.md list exist, and the list is complete.

* Every dotted ``jaxcnn.…`` / ``experiments.…`` name written in code (inline code spans
  and fenced blocks) of ``README.md`` and ``docs/design.md`` imports
  (``importlib.import_module`` of the longest importable prefix, then ``getattr``).
* Every name in the ``__all__`` of ``jaxcnn``, of each of its public subpackages and
  modules, and of ``jaxcnn.train.distributed`` appears in ``docs/design.md`` as a full
  dotted name (a module without ``__all__`` contributes the public names it defines).
* ``jaxcnn``'s namespace holds nothing public outside its ``__all__`` except its own
  submodules.

Each check is a plain function, and the last tests make sure each one can fail.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/design.md")
DESIGN = "docs/design.md"
TOPS = ("jaxcnn", "experiments")
# Placeholders of the prose, not names: `python -m experiments.NAME`.
PLACEHOLDERS = {"NAME", "MODULE"}
EXTRA_MODULES = ("jaxcnn.train.distributed",)  # public modules not in jaxcnn.__all__

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_DOTTED = re.compile(r"(?<![\w./-])(?:" + "|".join(TOPS) + r")(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


# ------------------------------------------------------------------ the checks


def code_text(markdown: str) -> list[str]:
    """The code of a Markdown text: fenced blocks, then inline code spans."""
    fences = [m.group(0) for m in _FENCE.finditer(markdown)]
    rest = _FENCE.sub("", markdown)
    return fences + [m.group(2) for m in _SPAN.finditer(rest)]


def documented_names(markdown: str) -> set[str]:
    """Every dotted ``jaxcnn.*`` / ``experiments.*`` name in the code of ``markdown``."""
    names = set()
    for code in code_text(markdown):
        for m in _DOTTED.finditer(code):
            if not PLACEHOLDERS & set(m.group(0).split(".")):
                names.add(m.group(0))
    return names


def resolve(name: str):
    """The object a dotted name denotes: longest importable module prefix, then getattr.

    Raises:
      ImportError / AttributeError: the name does not exist.
    """
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        try:
            obj = importlib.import_module(prefix)
        except ModuleNotFoundError as e:
            # Only "this prefix is not a module" moves on; a module that exists but
            # fails to import (a missing dependency inside it) is an error of its own.
            if e.name is None or not prefix.startswith(e.name):
                raise
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"no module named {parts[0]!r}")


def missing_names(names) -> list[str]:
    """The names of ``names`` that do not resolve, sorted."""
    missing = []
    for name in sorted(names):
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    return missing


def public_names(module: types.ModuleType) -> list[str]:
    """``module.__all__``, or the public names its own source defines at top level."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def undocumented(module_name: str, names, documented: set[str]) -> list[str]:
    """The ``module_name.NAME`` of ``names`` that ``documented`` does not hold."""
    return [f"{module_name}.{n}" for n in names if f"{module_name}.{n}" not in documented]


def extra_names(module: types.ModuleType) -> list[str]:
    """Public names of ``module``'s namespace outside its ``__all__``, except submodules."""
    allowed = set(module.__all__)
    extra = []
    for name, value in vars(module).items():
        if name.startswith("_") or name in allowed:
            continue
        if isinstance(value, types.ModuleType) and value.__name__ == f"{module.__name__}.{name}":
            continue  # a submodule, bound by importing it
        extra.append(name)
    return sorted(extra)


def contract_modules() -> list[str]:
    """``jaxcnn``, every module in ``jaxcnn.__all__``, and :data:`EXTRA_MODULES`."""
    import jaxcnn

    subs = [f"jaxcnn.{n}" for n in jaxcnn.__all__
            if isinstance(getattr(jaxcnn, n), types.ModuleType)]
    # `jaxcnn.conv` the function shadows the module of the same name: add it by name.
    subs += [f"jaxcnn.{n}" for n in jaxcnn.__all__
             if not isinstance(getattr(jaxcnn, n), types.ModuleType)
             and (ROOT / "jaxcnn" / f"{n}.py").exists()]
    return ["jaxcnn", *sorted(set(subs)), *EXTRA_MODULES]


def _read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


# ------------------------------------------------------------------ the contract


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_documented_name_exists(document):
    names = documented_names(_read(document))
    assert len(names) > 10, f"{document}: parsed only {sorted(names)}"
    assert missing_names(names) == [], (
        f"{document} names objects that do not exist: {missing_names(names)}")


@pytest.mark.parametrize("module_name", contract_modules())
def test_every_public_name_is_in_the_design_document(module_name):
    documented = documented_names(_read(DESIGN))
    module = importlib.import_module(module_name)
    if "." in module_name:  # `jaxcnn` itself is the page's subject, not a dotted name
        assert module_name in documented, f"{DESIGN} does not list the module {module_name}"
    missing = undocumented(module_name, public_names(module), documented)
    assert missing == [], f"{DESIGN} does not list these public names: {missing}"


def test_jaxcnn_namespace_is_its_all():
    import jaxcnn

    for name in jaxcnn.__all__:  # every public name resolves, lazy submodules included
        getattr(jaxcnn, name)
    assert extra_names(jaxcnn) == []
    assert sorted(set(jaxcnn.__all__)) == sorted(jaxcnn.__all__), "duplicates in __all__"


# ------------------------------------------------------------------ the checks can fail


@pytest.mark.parametrize("wrong", [
    "jaxcnn.no_such_function",
    "jaxcnn.models.NoSuchModel",
    "jaxcnn.metrics.sharing.no_such_score",
    "jaxcnn.no_such_package.thing",
    "jaxcnn.conv.conv.no_such_attribute",
    "experiments.no_such_experiment",
])
def test_the_collector_reports_a_wrong_name(wrong):
    text = f"The API: `jaxcnn.models.SConv`, `{wrong}`.\n\n```python\njaxcnn.conv(x, k)\n```\n"
    names = documented_names(text)
    assert names == {"jaxcnn.models.SConv", wrong, "jaxcnn.conv"}
    assert missing_names(names) == [wrong]


def test_the_parser_reads_code_only():
    text = ("prose jaxcnn.not_code is not a name; `python -m experiments.NAME` is a "
            "placeholder; a path `jaxcnn/io.py` is not dotted; ``jaxcnn.io.read_json(p)``\n"
            "```text\nsee jaxcnn.tree.keypath_str\n```\n")
    assert documented_names(text) == {"jaxcnn.io.read_json", "jaxcnn.tree.keypath_str"}


def test_the_completeness_check_reports_an_unlisted_name():
    documented = {"jaxcnn.stats.summary", "jaxcnn.stats.t_quantile"}
    assert undocumented("jaxcnn.stats", ["summary", "t_quantile", "format_ci"], documented) \
        == ["jaxcnn.stats.format_ci"]
    # A module without __all__ (this one) contributes the public names it defines.
    names = public_names(importlib.import_module(__name__))
    assert {"ROOT", "resolve", "documented_names"} <= set(names)
    assert "_read" not in names and "re" not in names


def test_the_namespace_check_reports_a_stray_name():
    fake = types.ModuleType("fakepkg")
    fake.__all__ = ["f"]
    fake.f = len
    fake.np = types.ModuleType("numpy")  # an imported module that is no submodule
    fake.sub = types.ModuleType("fakepkg.sub")
    fake.helper = len
    fake._private = 1
    assert extra_names(fake) == ["helper", "np"]
