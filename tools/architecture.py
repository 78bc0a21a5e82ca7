"""Reports the code-health limits the project holds itself to (issue 10).

* no module over ``MAX_MODULE_LINES`` lines, no function over ``MAX_FUNCTION_LINES``
  lines, in ``jaxcnn/`` and ``experiments/``;
* no module imports another module's underscore names (``from m import _x``,
  ``import m._x``, ``m._x`` on an imported project module);
* every ``ValueError`` is built by :func:`jaxcnn.validation.error`, i.e. reads
  ``"<argument>: expected ..., got ..."``: no ``ValueError(...)`` is constructed
  anywhere else;
* the package is layered as ``docs/design.md`` says (:data:`LAYERS`): a ``jaxcnn``
  subpackage or module imports only the ones its row allows, so nothing imports upward;
* ``experiments`` is layered too (:data:`EXPERIMENT_LAYERS`): the harness
  (``experiments/harness/``) imports nothing else of ``experiments``, a study (any other
  folder, ``experiments/<study>/``) imports the harness and itself only — never another
  study, the registry or a command — and the commands (``registry``, ``all``, ``report``,
  ``plot``: the modules directly in ``experiments/``) import the harness and each other,
  reaching the studies only through the registry's names;
* no import cycle among the modules of ``experiments`` (any import, also inside a
  function, counts).

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
    "metrics": {"embed", "tree", "validation"}, "optim": {"embed", "tree", "validation"},
    "data": {"validation"}, "stats": {"validation"}, "train": {"io", "tree", "validation"},
}
#: The roles of ``experiments``' modules -> the roles each may import (``"study"``: its own
#: study only). The harness is the folder :data:`HARNESS`, the commands are the modules
#: :data:`COMMANDS` directly in ``experiments/``, every other folder is a study.
EXPERIMENT_LAYERS = {"harness": {"harness"}, "study": {"harness", "study"},
                     "command": {"harness", "command"}}
HARNESS = "harness"
COMMANDS = ("__init__", "registry", "all", "report", "plot")


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


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, relative ones resolved; for ``from M
    import n`` the module ``M.n`` when that is a module of the tree, else ``M``."""
    package = _module_name(path) if path.name == "__init__.py" else \
        ".".join(path.with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = any((ROOT / Path(*sub.split("."))).with_suffix(s).exists()
                                for s in (".py", ""))
                found.append((node.lineno, sub if is_module else base))
    return list(dict.fromkeys(found))


def _experiment_role(module: str) -> tuple[str, str | None]:
    """``(role, study)`` of a module of ``experiments`` (see :data:`EXPERIMENT_LAYERS`)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "command", None
    if parts[1] == HARNESS:
        return "harness", None
    is_package = (ROOT / "experiments" / parts[1]).is_dir()
    if len(parts) == 2 and not is_package:
        return ("command", None) if parts[1] in COMMANDS else ("unknown", None)
    return "study", parts[1]


def experiment_layer_violations() -> list[str]:
    """Every import inside ``experiments`` that :data:`EXPERIMENT_LAYERS` does not allow."""
    found = []
    for p in python_files(("experiments",)):
        role, study = _experiment_role(_module_name(p))
        if role == "unknown":
            found.append(f"{p}: module {p.stem!r} is not the harness, a study folder or one "
                         f"of the commands {COMMANDS}")
            continue
        for line, target in _imports(p):
            if target.split(".")[0] != "experiments" or target == "experiments":
                continue
            t_role, t_study = _experiment_role(target)
            if t_role not in EXPERIMENT_LAYERS[role] or (t_role == "study" and t_study != study):
                who = f"study {study}" if role == "study" else role
                found.append(f"{p}:{line}: {who} imports {target}")
    return found


def import_cycles(packages=("experiments",)) -> list[str]:
    """Every cycle of imports among the modules of ``packages`` (Tarjan's strongly
    connected components of more than one module, or a module importing itself)."""
    modules = {_module_name(p): p for p in python_files(packages)}
    graph = {m: sorted({t for _, t in _imports(p) if t in modules}) for m, p in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                cycles.append(" <-> ".join(sorted(component)))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return sorted(cycles)


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
        "experiments imports against the layering": experiment_layer_violations(),
        "import cycles in experiments": import_cycles(),
    }
    for title, items in problems.items():
        lines.append(f"{title}: {len(items)}")
        lines += [f"  {x}" for x in items]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(top=int(sys.argv[1]) if len(sys.argv) > 1 else 5))
