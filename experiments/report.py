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

Layout: this tool renders the tables (:func:`render_tables`, :func:`source_line`) and is
the command line; the README blocks are :mod:`experiments.report_readme`
(:func:`find_blocks`, :func:`update_readme`), ``--refresh`` is
:mod:`experiments.report_refresh` (:func:`refresh`, :func:`shrink_curves`).
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

from jaxcnn.io import read_json, write_text_atomic

from experiments.report_readme import (ID_PATTERN, Block, Rendering, ReportError, find_blocks,
                                       update_readme)
from experiments.report_refresh import (MAX_CURVE_POINTS, display_path, refresh,
                                        relative_path, shrink_curves)

__all__ = [
    "EXPERIMENTS",
    "MAX_CURVE_POINTS",
    "REGISTRY",
    "Block",
    "Rendering",
    "ReportError",
    "ReportOptions",
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
#: Experiments whose ``report_tables`` lives in a library module of their own.
TABLE_MODULES = {"ecnn": "experiments.ecnn_tables",
                 "nlgp_localization": "experiments.nlgp_tables",
                 "mnist1d_table": "experiments.mnist1d_tables",
                 "sample_efficiency": "experiments.sample_efficiency_tables",
                 "learn_conv": "experiments.learn_conv_results"}
#: Experiment name -> module that defines ``report_tables`` (tests swap this mapping).
#: (``learn_conv`` writes ``learn_conv_<dataset>.json`` for datasets other than MNIST-1D.)
REGISTRY: dict[str, str] = {name: TABLE_MODULES.get(name, f"experiments.{name}")
                            for name in EXPERIMENTS if not name.startswith("learn_conv_")}
REGISTRY.update({name: "experiments.learn_conv_results" for name in EXPERIMENTS
                 if name.startswith("learn_conv_")})

REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ rendering


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
        shown = relative_path(path, readme_dir)
        got = _experiment_tables(module_name, path, shown)
        if isinstance(got, str):
            out.skipped[name] = got
        else:
            _add_tables(out, name, module_name, shown, *got)
    return out


# ------------------------------------------------------------------ command line


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """What ``python -m experiments.report`` is asked to do.

    Attributes:
        readme: the README to check or rewrite.
        results: folder of results JSON.
        figures: where ``--refresh`` copies PNGs.
        check: write nothing; report stale tables.
        refresh: a run folder to copy in first (``None``: none).
    """

    readme: Path = REPO_ROOT / "README.md"
    results: Path = REPO_ROOT / "docs" / "results"
    figures: Path = REPO_ROOT / "docs" / "figures"
    check: bool = False
    refresh: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReportOptions:
        """The options of a parsed command line (unset folders: the repository's)."""
        given = {"readme": args.readme, "results": args.results, "figures": args.figures}
        return cls(check=args.check, refresh=args.refresh,
                   **{k: v for k, v in given.items() if v is not None})


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


def run(options: ReportOptions) -> int:
    """Runs the command described by ``options``; returns the exit status."""
    label = display_path(options.readme)
    if options.refresh is not None:
        for path in refresh(options.refresh, options.results, options.figures,
                            registry=REGISTRY):
            print(f"refreshed {display_path(path)}")
    try:
        text = options.readme.read_text(encoding="utf-8")
    except OSError as e:
        raise ReportError(f"--readme: cannot read {label} ({e.strerror})") from e
    rendering = render_tables(options.results, readme_dir=options.readme.parent)
    new_text, changed, unplaced = update_readme(text, rendering, label=label)
    for name, why in rendering.skipped.items():
        print(f"note: skipped {name}: {why}")
    if unplaced:
        print(f"note: tables without a block in {label}: {', '.join(unplaced)}")
    if options.check:
        for table_id in changed:
            print(f"{label}: table {table_id} differs from {rendering.sources[table_id]}")
        if changed:
            return 1
        print("README tables up to date")
        return 0
    if not changed:
        print("README tables up to date")
        return 0
    write_text_atomic(options.readme, new_text)
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
        return run(ReportOptions.from_args(args))
    except ReportError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
