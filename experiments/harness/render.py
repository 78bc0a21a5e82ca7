"""README tables rendered from results JSON: :func:`render_tables` and :func:`source_line`.

Every study whose tables the README shows has a module with ``report_tables(results:
dict) -> dict[str, str]`` mapping a table id to Markdown table text, where ``results`` is
the dict loaded from ``RESULTS_DIR/NAME.json``; the registry (``NAME -> module``,
:func:`experiments.registry.report_modules`) names them. An id ``"main"`` becomes
``"NAME.main"``; an id that already starts with ``"NAME."`` is kept as is. A study whose
module, ``report_tables`` or JSON is missing is skipped with a note. Every table is
followed by an empty line and one source line built from ``results["provenance"]``
(:mod:`experiments.harness.provenance`).
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxcnn.io import read_json

from experiments.harness.readme import ID_PATTERN, Rendering, ReportError
from experiments.harness.refresh import relative_path

__all__ = ["render_tables", "source_line"]


def source_line(results: Mapping[str, Any], shown_path: str) -> str:
    """The italic ``_Source: ..._`` line printed under a table, from ``results["provenance"]``.

    Missing fields read "unknown" rather than failing, so an old results file still renders.

    Example:
        >>> prov = {"git_commit": "0123456789abcdef", "git_dirty": False, "seeds": [0, 1],
        ...         "preset": "smoke", "wall_time": 12.4,
        ...         "command": "python -m experiments.ecnn --preset smoke"}
        >>> source_line({"provenance": prov}, "docs/results/ecnn.json")
        '_Source: docs/results/ecnn.json — commit 0123456789, 2 seeds, preset smoke, 12 s; command: `python -m experiments.ecnn --preset smoke`._'
    """  # noqa: E501
    prov = results.get("provenance")
    if not isinstance(prov, Mapping):
        return f"_Source: {shown_path} — no provenance recorded._"
    commit = prov.get("git_commit")
    parts = [f"commit {commit[:10]}" if isinstance(commit, str) and commit else "commit unknown"]
    if prov.get("git_dirty"):
        parts[0] += " (uncommitted changes)"
    seeds = prov.get("seeds")
    if isinstance(seeds, list):
        parts.append(f"{len(seeds)} seed" + ("" if len(seeds) == 1 else "s"))
    else:
        parts.append("seeds unknown")
    preset = prov.get("preset")
    parts.append(f"preset {preset}" if preset is not None else "no preset")
    wall = prov.get("wall_time")
    if isinstance(wall, (int, float)) and not isinstance(wall, bool) and math.isfinite(wall):
        parts.append(f"{wall:.0f} s")
    else:
        parts.append("wall time unknown")
    command = prov.get("command")
    tail = ""
    if isinstance(command, str) and command:
        fence = "``" if "`" in command else "`"
        pad = " " if fence == "``" else ""
        tail = f"; command: {fence}{pad}{command}{pad}{fence}"
    return f"_Source: {shown_path} — {', '.join(parts)}{tail}._"


def _import_experiment(module_name: str):
    """The experiment module, or ``None`` when the module itself does not exist."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name
                                   or module_name.startswith(e.name + ".")):
            return None
        raise


def _experiment_tables(module_name: str, path: Path, shown: str) -> tuple[Mapping, str] | str:
    """``(report_tables(results), source line)`` of one experiment, or why it renders nothing.

    Raises:
        ReportError: the JSON cannot be read or is not an object, or ``report_tables``
            returns something other than a mapping.
    """
    module = _import_experiment(module_name)
    if module is None:
        return f"module {module_name} not found"
    report_tables = getattr(module, "report_tables", None)
    if not callable(report_tables):
        return f"{module_name} has no report_tables"
    if not path.is_file():
        return f"{shown} not found"
    try:
        results = read_json(path)
    except (OSError, ValueError) as e:
        raise ReportError(f"{shown}: cannot read results JSON ({e})") from e
    if not isinstance(results, dict):
        raise ReportError(f"{shown}: expected a JSON object, got {type(results).__name__}")
    try:
        tables = report_tables(results)
    except Exception as e:
        e.add_note(f"while rendering {module_name}.report_tables({shown})")
        raise
    if not isinstance(tables, Mapping):
        raise ReportError(f"{module_name}.report_tables: expected a dict of table id -> "
                          f"Markdown, got {type(tables).__name__}")
    return tables, source_line(results, shown)


def _add_tables(out: Rendering, name: str, module_name: str, shown: str, tables: Mapping,
                line: str) -> None:
    """Adds one experiment's tables (ids prefixed with ``name.``) to ``out``."""
    for key, table in tables.items():
        if not isinstance(key, str) or not re.fullmatch(ID_PATTERN, key):
            raise ReportError(f"{module_name}.report_tables: expected table ids of letters,"
                              f" digits, '_', '.', '-', got {key!r}")
        if not isinstance(table, str):
            raise ReportError(f"{module_name}.report_tables: expected Markdown text for "
                              f"table {key!r}, got {type(table).__name__}")
        table_id = key if key.startswith(f"{name}.") else f"{name}.{key}"
        if table_id in out.bodies:
            raise ReportError(f"{module_name}.report_tables: table {table_id} rendered "
                              f"twice (by {out.sources[table_id]} and {shown})")
        out.bodies[table_id] = "\n" + table.strip("\n") + "\n\n" + line + "\n"
        out.sources[table_id] = shown


def render_tables(results_dir: str | os.PathLike, *, registry: Mapping[str, str],
                  readme_dir: str | os.PathLike | None = None) -> Rendering:
    """Renders every registered experiment's tables from ``results_dir/NAME.json``.

    Args:
        results_dir: folder of results JSON (``docs/results``).
        readme_dir: folder of the README; source lines show results paths relative to it
            (default: the working directory).
        registry: results name -> name of the module that defines ``report_tables``
            (``experiments.registry.report_modules()``).

    Returns:
        A :class:`Rendering`.

    Raises:
        ReportError: if a JSON file cannot be read, ``report_tables`` returns something
            other than a ``dict[str, str]``, or two experiments render the same id.
    """
    results_dir = Path(results_dir)
    readme_dir = Path.cwd() if readme_dir is None else Path(readme_dir)
    out = Rendering()
    for name, module_name in registry.items():
        path = results_dir / f"{name}.json"
        shown = relative_path(path, readme_dir)
        got = _experiment_tables(module_name, path, shown)
        if isinstance(got, str):
            out.skipped[name] = got
        else:
            _add_tables(out, name, module_name, shown, *got)
    return out
