"""Reports the code-health limits the project holds itself to (issue 10).

* no module over ``MAX_MODULE_LINES`` lines, no function over ``MAX_FUNCTION_LINES``
  lines, in ``jaxcnn/`` and ``experiments/``;
* no module imports another module's underscore names (``from m import _x``,
  ``import m._x``, ``m._x`` on an imported project module);
* every ``ValueError`` is built by :func:`jaxcnn.validation.error`, i.e. reads
  ``"<argument>: expected ..., got ..."``: no ``ValueError(...)`` is constructed
  anywhere else;
* the package is layered as ``docs/design.md`` says (:data:`LAYERS`): a ``jaxcnn``
  subpackage or module imports only the ones its row allows, so nothing imports upward.

Run ``python tools/architecture.py`` for the report (the largest modules and
functions, and every violation); ``tests/test_architecture.py`` asserts it is clean.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jaxcnn", "experiments")
IMPORT_CHECKED = ("jaxcnn", "experiments", "benchmarks", "tools")
PROJECT_TOP = {"jaxcnn", "experiments", "benchmarks"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ERROR_HOME = Path("jaxcnn/validation.py")
#: ``jaxcnn`` module or subpackage -> what it may import inside ``jaxcnn`` (docs/design.md,
#: "Architecture"). ``jaxcnn/__init__.py`` re-exports the top-level names and is exempt.
LAYERS = {
    "validation": set(), "tree": set(), "io": {"validation"},
    "patches": {"validation"}, "conv": {"patches", "validation"},
    "embed": {"validation"}, "nn": {"conv", "validation"},
    "models": {"nn", "embed", "tree", "validation"},
    "metrics": {"embed", "tree", "validation"}, "optim": {"tree", "validation"},
    "data": {"validation"}, "stats": {"validation"}, "train": {"io", "tree", "validation"},
}


def python_files(packages=PACKAGES) -> list[Path]:
    """Every ``.py`` file under the given top-level folders, relative to the repo root."""
    return sorted(p.relative_to(ROOT) for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse((ROOT / path).read_text(), filename=str(path))


def module_sizes() -> list[tuple[int, str]]:
    """``(lines, path)`` of every module, largest first."""
    rows = [(len((ROOT / p).read_text().splitlines()), str(p)) for p in python_files()]
    return sorted(rows, reverse=True)


def function_sizes() -> list[tuple[int, str]]:
    """``(lines, "path:qualname")`` of every function (decorators excluded), largest first."""
    rows = []
    for p in python_files():
        def visit(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    rows.append((child.end_lineno - child.lineno + 1, f"{p}:{prefix}{child.name}"))
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
        visit(_tree(p), "")
    return sorted(rows, reverse=True)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def underscore_imports() -> list[str]:
    """Every place a module reaches into another project module's underscore names."""
    found = []
    for p in python_files(IMPORT_CHECKED):
        modules = set()  # local names bound to project modules
        for node in ast.walk(_tree(p)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if parts[0] not in PROJECT_TOP:
                    continue
                if any(_private(x) for x in parts):
                    found.append(f"{p}:{node.lineno}: from {node.module} import ...")
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{p}:{node.lineno}: from {node.module} import {alias.name}")
                    modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] in PROJECT_TOP:
                        if any(_private(x) for x in parts):
                            found.append(f"{p}:{node.lineno}: import {alias.name}")
                        modules.add(alias.asname or parts[0])
        for node in ast.walk(_tree(p)):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                found.append(f"{p}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def value_error_sites() -> list[str]:
    """Every ``ValueError`` constructed outside :func:`jaxcnn.validation.error`."""
    found = []
    for p in python_files():
        if p == ERROR_HOME:
            continue
        for node in ast.walk(_tree(p)):
            target = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                target = node.func.id
            elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Name):
                target = node.exc.id
            if target == "ValueError":
                found.append(f"{p}:{node.lineno}")
    return found


def layer_violations() -> list[str]:
    """Every import inside ``jaxcnn`` that its layer (:data:`LAYERS`) does not allow."""
    found = []
    for p in python_files(("jaxcnn",)):
        parts = p.with_suffix("").parts
        if parts == ("jaxcnn", "__init__"):
            continue
        layer = parts[1]
        allowed = LAYERS.get(layer)
        if allowed is None:
            found.append(f"{p}: module {layer!r} has no row in LAYERS")
            continue
        for node in ast.walk(_tree(p)):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
                if node.module == "jaxcnn":
                    targets = [f"jaxcnn.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                ps = t.split(".")
                if ps[0] == "jaxcnn" and len(ps) > 1 and ps[1] != layer and ps[1] not in allowed:
                    found.append(f"{p}:{node.lineno}: {layer} imports {t}")
    return found


def report(top: int = 5) -> str:
    """The report as text: the largest modules and functions, then each violation."""
    mods, funcs = module_sizes(), function_sizes()
    lines = [f"largest modules (limit {MAX_MODULE_LINES} lines):"]
    lines += [f"  {n:5d}  {name}" for n, name in mods[:top]]
    lines += [f"largest functions (limit {MAX_FUNCTION_LINES} lines):"]
    lines += [f"  {n:5d}  {name}" for n, name in funcs[:top]]
    problems = {
        "modules over the limit": [f"{n} {m}" for n, m in mods if n > MAX_MODULE_LINES],
        "functions over the limit": [f"{n} {f}" for n, f in funcs if n > MAX_FUNCTION_LINES],
        "underscore imports": underscore_imports(),
        "ValueError not built by jaxcnn.validation.error": value_error_sites(),
        "imports against the layering": layer_violations(),
    }
    for title, items in problems.items():
        lines.append(f"{title}: {len(items)}")
        lines += [f"  {x}" for x in items]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(top=int(sys.argv[1]) if len(sys.argv) > 1 else 5))
