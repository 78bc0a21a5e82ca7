"""README result tables, rendered from the results JSON that produced them.

    python -m experiments.report                       # rewrite README.md's tables
    python -m experiments.report --check               # exit 1 if any table is stale
    python -m experiments.report --refresh results     # copy a run in, then rewrite

**Registering an experiment.** Every module in :data:`REGISTRY` (``experiments.NAME`` for
each name in :data:`EXPERIMENTS`) exposes ``report_tables(results: dict) -> dict[str, str]``
mapping a table id to Markdown table text, where ``results`` is the dict loaded from
``docs/results/NAME.json``. An id ``"main"`` becomes ``"NAME.main"``; an id that already
starts with ``"NAME."`` is kept as is. An experiment whose module, ``report_tables`` or
JSON is missing is skipped with a note.

**README blocks.** A table appears in the README between two markers::

    <!-- report:learn_conv.main -->
    ...replaced on every run...
    <!-- /report:learn_conv.main -->

The text between them becomes the table, an empty line and one source line built from
``results["provenance"]`` (see ``experiments.provenance``)::

    _Source: docs/results/learn_conv.json — commit 0123456789, 5 seeds, preset default,
    3120 s; command: `python -m experiments.learn_conv --seeds 5`._

(one line in the README; "(uncommitted changes)" follows the commit when the run was
made from a dirty checkout). A block whose id no experiment rendered is an error naming
the id; a rendered table without a block is only listed in a note. The README is
rewritten atomically and only when something changed.

**--check** writes nothing; it prints one line per stale table
(``README.md: table learn_conv.main differs from docs/results/learn_conv.json``) and exits
1, or prints ``README tables up to date`` and exits 0. Errors (unknown ids, malformed
markers, unreadable JSON) exit 2.

**--refresh RUN_DIR** first copies ``RUN_DIR/NAME.json`` into ``docs/results/NAME.json``
for every registered experiment present there, shrunk by :func:`shrink_curves` (every list
of more than :data:`MAX_CURVE_POINTS` numbers anywhere below a key named ``curves`` is
subsampled to exactly that many evenly spaced points, first and last kept; the indices
depend only on the list's length, so an x-axis list and its y values stay aligned), and
copies ``RUN_DIR/*.png`` into ``docs/figures/``; then it renders as above.

Paths given on the command line are relative to the working directory; the defaults are
the repository's own ``README.md``, ``docs/results`` and ``docs/figures``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxcnn.io import read_json, write_bytes_atomic, write_json_atomic, write_text_atomic

__all__ = [
    "EXPERIMENTS",
    "MAX_CURVE_POINTS",
    "REGISTRY",
    "Block",
    "Rendering",
    "ReportError",
    "find_blocks",
    "main",
    "refresh",
    "render_tables",
    "shrink_curves",
    "source_line",
    "update_readme",
]

#: Experiments whose tables the README can show, in README order.
EXPERIMENTS = ("learn_conv", "learn_conv_mnist", "learn_conv_mnist_shuffled", "mnist1d_table",
               "sample_efficiency", "ecnn", "nlgp_localization")
#: Experiment name -> module that defines ``report_tables`` (tests swap this mapping).
#: (``learn_conv`` writes ``learn_conv_<dataset>.json`` for datasets other than MNIST-1D.)
REGISTRY: dict[str, str] = {name: f"experiments.{name}" for name in EXPERIMENTS
                            if not name.startswith("learn_conv_")}
REGISTRY.update({name: "experiments.learn_conv" for name in EXPERIMENTS
                 if name.startswith("learn_conv_")})
#: Longest list of numbers kept under a ``curves`` key by ``--refresh``.
MAX_CURVE_POINTS = 200

REPO_ROOT = Path(__file__).resolve().parents[1]
_ID = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_MARKER = re.compile(rf"<!--\s*(/?)report:({_ID})\s*-->")


class ReportError(Exception):
    """Inputs that cannot be rendered: malformed README markers, unknown ids, bad JSON."""


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else as is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _relative_to(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (POSIX form) when it lies below it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# ------------------------------------------------------------------ rendering


@dataclasses.dataclass
class Rendering:
    """What the experiments rendered.

    Attributes:
        bodies: table id -> the full text of its README block (table + source line).
        sources: table id -> the results file it came from, as the source line shows it.
        skipped: experiment name -> why it rendered nothing.
    """

    bodies: dict[str, str] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


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


def _import_experiment(name: str, module_name: str):
    """The experiment module, or ``None`` when the module itself does not exist."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name
                                   or module_name.startswith(e.name + ".")):
            return None
        raise


def render_tables(results_dir: str | os.PathLike, *, readme_dir: str | os.PathLike | None = None,
                  registry: Mapping[str, str] | None = None) -> Rendering:
    """Renders every registered experiment's tables from ``results_dir/NAME.json``.

    Args:
        results_dir: folder of results JSON (``docs/results``).
        readme_dir: folder of the README; source lines show results paths relative to it
            (default: the working directory).
        registry: experiment name -> module name (default :data:`REGISTRY`).

    Returns:
        A :class:`Rendering`.

    Raises:
        ReportError: if a JSON file cannot be read, ``report_tables`` returns something
            other than a ``dict[str, str]``, or two experiments render the same id.
    """
    registry = REGISTRY if registry is None else registry
    results_dir = Path(results_dir)
    readme_dir = Path.cwd() if readme_dir is None else Path(readme_dir)
    out = Rendering()
    for name, module_name in registry.items():
        path = results_dir / f"{name}.json"
        shown = _relative_to(path, readme_dir)
        module = _import_experiment(name, module_name)
        if module is None:
            out.skipped[name] = f"module {module_name} not found"
            continue
        report_tables = getattr(module, "report_tables", None)
        if not callable(report_tables):
            out.skipped[name] = f"{module_name} has no report_tables"
            continue
        if not path.is_file():
            out.skipped[name] = f"{shown} not found"
            continue
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
        line = source_line(results, shown)
        for key, table in tables.items():
            if not isinstance(key, str) or not re.fullmatch(_ID, key):
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
    return out


# ------------------------------------------------------------------ README blocks


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``<!-- report:ID -->`` ... ``<!-- /report:ID -->`` block of a README.

    Attributes:
        table_id: the ID.
        start: offset of the first character after the opening marker.
        end: offset of the closing marker (``text[start:end]`` is the body).
        line: 1-based line of the opening marker.
    """

    table_id: str
    start: int
    end: int
    line: int


def find_blocks(text: str, *, label: str = "README.md") -> list[Block]:
    """The report blocks of a README, in order.

    Args:
        text: README contents.
        label: the README's name in error messages.

    Returns:
        One :class:`Block` per block.

    Raises:
        ReportError: for a block that is never closed, a closing marker without (or not
            matching) its opening marker, nested blocks, or an id used twice.

    Example:
        >>> text = "a\\n<!-- report:x.y -->\\nold\\n<!-- /report:x.y -->\\n"
        >>> [(b.table_id, b.line, text[b.start:b.end]) for b in find_blocks(text)]
        [('x.y', 2, '\\nold\\n')]
    """
    blocks: list[Block] = []
    seen: dict[str, int] = {}
    open_id = None
    open_at = open_line = 0
    for m in _MARKER.finditer(text):
        closing, table_id = m.group(1) == "/", m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        if not closing:
            if open_id is not None:
                raise ReportError(f"{label}: block report:{table_id} on line {line} starts "
                                  f"inside block report:{open_id} (line {open_line})")
            if table_id in seen:
                raise ReportError(f"{label}: table {table_id} has two blocks (lines "
                                  f"{seen[table_id]} and {line})")
            open_id, open_at, open_line = table_id, m.end(), line
            seen[table_id] = line
        elif open_id != table_id:
            where = f"; open block is report:{open_id}" if open_id else ""
            raise ReportError(f"{label}: closing marker /report:{table_id} on line {line} "
                              f"has no opening marker{where}")
        else:
            blocks.append(Block(table_id, open_at, m.start(), open_line))
            open_id = None
    if open_id is not None:
        raise ReportError(f"{label}: block report:{open_id} opened on line {open_line} is "
                          f"never closed")
    return blocks


def update_readme(text: str, rendering: Rendering, *, label: str = "README.md"
                  ) -> tuple[str, list[str], list[str]]:
    """Replaces every block's body with its rendered table.

    Args:
        text: README contents.
        rendering: from :func:`render_tables`.
        label: the README's name in error messages.

    Returns:
        ``(new_text, changed, unplaced)``: the new README, the ids whose block changed
        (README order), and the rendered ids that have no block (rendering order).

    Raises:
        ReportError: from :func:`find_blocks`, or for a block whose id was not rendered
            (the message names the id, and the skipped experiment when that is why).
    """
    blocks = find_blocks(text, label=label)
    for b in blocks:
        if b.table_id not in rendering.bodies:
            name = b.table_id.split(".", 1)[0]
            why = (f" (experiment {name} skipped: {rendering.skipped[name]})"
                   if name in rendering.skipped else "")
            raise ReportError(f"{label}: unknown table {b.table_id} on line {b.line}: no "
                              f"experiment rendered it{why}")
    pieces, changed, pos = [], [], 0
    for b in blocks:
        body = rendering.bodies[b.table_id]
        if text[b.start:b.end] != body:
            changed.append(b.table_id)
        pieces += [text[pos:b.start], body]
        pos = b.end
    pieces.append(text[pos:])
    placed = {b.table_id for b in blocks}
    unplaced = [t for t in rendering.bodies if t not in placed]
    return "".join(pieces), changed, unplaced


# ------------------------------------------------------------------ refresh


def _is_number_list(value: list) -> bool:
    numbers = 0
    for v in value:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        numbers += 1
    return numbers > 0


def shrink_curves(obj: Any, max_points: int = MAX_CURVE_POINTS) -> Any:
    """Subsamples long curves: the copy of ``obj`` that ``--refresh`` commits.

    Every list of numbers (``None`` entries allowed) longer than ``max_points`` anywhere
    below a mapping key named ``curves`` is replaced by ``max_points`` of its entries at
    evenly spaced indices ``round(linspace(0, n - 1, max_points))``, so the first and last
    points are kept and lists of equal length (steps and values) stay aligned. Everything
    else is copied unchanged.

    Args:
        obj: a JSON value (dicts, lists, numbers, strings, ...).
        max_points: the most points kept per list, at least 2.

    Returns:
        A new JSON value; ``obj`` is not modified.

    Raises:
        ValueError: if ``max_points`` is below 2.

    Example:
        >>> r = shrink_curves({"curves": {"acc": list(range(1000))}, "raw": list(range(1000))})
        >>> len(r["curves"]["acc"]), r["curves"]["acc"][0], r["curves"]["acc"][-1], len(r["raw"])
        (200, 0, 999, 1000)
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise ValueError(f"max_points: expected an int >= 2, got {max_points!r}")

    def walk(value: Any, under_curves: bool) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v, under_curves or k == "curves") for k, v in value.items()}
        if isinstance(value, list):
            if under_curves and len(value) > max_points and _is_number_list(value):
                idx = np.round(np.linspace(0, len(value) - 1, max_points)).astype(int)
                return [value[i] for i in idx]
            return [walk(v, under_curves) for v in value]
        return value

    return walk(obj, False)


def refresh(run_dir: str | os.PathLike, results_dir: str | os.PathLike,
            figures_dir: str | os.PathLike, *, registry: Mapping[str, str] | None = None,
            max_points: int = MAX_CURVE_POINTS) -> list[Path]:
    """Copies a run's results JSON (shrunk) and PNG figures into the documentation folders.

    Args:
        run_dir: an experiment output folder (``--out`` of the experiments).
        results_dir: where ``NAME.json`` goes (``docs/results``).
        figures_dir: where ``*.png`` goes (``docs/figures``).
        registry: experiment name -> module (default :data:`REGISTRY`); only these
            names' JSON are copied.
        max_points: passed to :func:`shrink_curves`.

    Returns:
        The files written.

    Raises:
        ReportError: if ``run_dir`` is not a folder or holds no registered experiment's
            JSON, or a JSON file cannot be read.
    """
    registry = REGISTRY if registry is None else registry
    run_dir, results_dir, figures_dir = Path(run_dir), Path(results_dir), Path(figures_dir)
    if not run_dir.is_dir():
        raise ReportError(f"--refresh: expected a run folder, got {_display(run_dir)}")
    written = []
    for name in registry:
        src = run_dir / f"{name}.json"
        if not src.is_file():
            continue
        try:
            data = read_json(src)
        except (OSError, ValueError) as e:
            raise ReportError(f"{_display(src)}: cannot read results JSON ({e})") from e
        dst = results_dir / f"{name}.json"
        write_json_atomic(dst, shrink_curves(data, max_points))
        written.append(dst)
    if not written:
        raise ReportError(f"--refresh: expected NAME.json for some of {', '.join(registry)} "
                          f"in {_display(run_dir)}, found none")
    for src in sorted(run_dir.glob("*.png")):
        dst = figures_dir / src.name
        write_bytes_atomic(dst, src.read_bytes())
        written.append(dst)
    return written


# ------------------------------------------------------------------ command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.report",
        description="Render the README's result tables from docs/results/*.json.")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if any README table differs from its JSON")
    p.add_argument("--readme", type=Path, default=None,
                   help="README to update (default: the repository's README.md)")
    p.add_argument("--results", type=Path, default=None,
                   help="folder of results JSON (default: the repository's docs/results)")
    p.add_argument("--figures", type=Path, default=None,
                   help="where --refresh copies PNGs (default: the repository's docs/figures)")
    p.add_argument("--refresh", type=Path, default=None, metavar="RUN_DIR",
                   help="first copy RUN_DIR/NAME.json (curves subsampled) and RUN_DIR/*.png in")
    return p


def run(args: argparse.Namespace) -> int:
    """Runs the command described by parsed ``args``; returns the exit status."""
    readme = args.readme if args.readme is not None else REPO_ROOT / "README.md"
    results_dir = args.results if args.results is not None else REPO_ROOT / "docs" / "results"
    figures_dir = args.figures if args.figures is not None else REPO_ROOT / "docs" / "figures"
    label = _display(readme)
    if args.refresh is not None:
        for path in refresh(args.refresh, results_dir, figures_dir):
            print(f"refreshed {_display(path)}")
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError as e:
        raise ReportError(f"--readme: cannot read {label} ({e.strerror})") from e
    rendering = render_tables(results_dir, readme_dir=readme.parent)
    new_text, changed, unplaced = update_readme(text, rendering, label=label)
    for name, why in rendering.skipped.items():
        print(f"note: skipped {name}: {why}")
    if unplaced:
        print(f"note: tables without a block in {label}: {', '.join(unplaced)}")
    if args.check:
        for table_id in changed:
            print(f"{label}: table {table_id} differs from {rendering.sources[table_id]}")
        if changed:
            return 1
        print("README tables up to date")
        return 0
    if not changed:
        print("README tables up to date")
        return 0
    write_text_atomic(readme, new_text)
    for table_id in changed:
        print(f"{label}: updated table {table_id} from {rendering.sources[table_id]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0 (ok), 1 (``--check`` found stale tables), 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.check and args.refresh is not None:
        parser.error("--check and --refresh exclude each other (--refresh writes files)")
    try:
        return run(args)
    except ReportError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
