"""README result tables, rendered from the results JSON that produced them.

    python -m experiments.report                       # rewrite README.md's tables
    python -m experiments.report --check               # exit 1 if any table is stale
    python -m experiments.report --refresh results     # copy a run in, then rewrite

**Registering a study.** Every study of :mod:`experiments.registry` with tables has a
module (``experiments/<study>/tables.py``) with ``report_tables(results: dict) -> dict[str,
str]`` mapping a table id to Markdown table text, where ``results`` is the dict loaded from
``docs/results/NAME.json`` for each of the study's results names
(:func:`experiments.registry.report_modules`). An id ``"main"`` becomes ``"NAME.main"``; an
id that already starts with ``"NAME."`` is kept as is. A study whose module,
``report_tables`` or JSON is missing is skipped with a note.

**README blocks.** A table appears in the README between two markers::

    <!-- report:learn_conv.main -->
    ...replaced on every run...
    <!-- /report:learn_conv.main -->

The text between them becomes the table, an empty line and one source line built from
``results["provenance"]`` (see :mod:`experiments.harness.provenance`)::

    _Source: docs/results/learn_conv.json — commit 0123456789, 5 seeds, preset default,
    3120 s; command: `python -m experiments.learn_conv --seeds 5`._

(one line in the README; "(uncommitted changes)" follows the commit when the run was
made from a dirty checkout). A block whose id no experiment rendered is an error naming
the id; a rendered table without a block is only listed in a note. The README is
rewritten atomically and only when something changed.

**--check** writes nothing; it prints one line per stale table
(``README.md: table learn_conv.main differs from docs/results/learn_conv.json``) and exits
1, or prints ``README tables up to date`` and exits 0. Errors (unknown ids, malformed
markers, unreadable JSON, an output location that cannot be written: the README unless
``--check``, the ``--results`` and ``--figures`` folders with ``--refresh``, all checked
before anything is copied or written) print one line and exit 2.

**--refresh RUN_DIR** first copies ``RUN_DIR/NAME.json`` into ``docs/results/NAME.json``
for every registered results name present there, shrunk by :func:`shrink_curves` (every list
of more than :data:`MAX_CURVE_POINTS` numbers anywhere below a key named ``curves`` is
subsampled to exactly that many evenly spaced points, first and last kept; the indices
depend only on the list's length, so an x-axis list and its y values stay aligned), and
copies ``RUN_DIR/*.png`` into ``docs/figures/``; then it renders as above.

Paths given on the command line are relative to the working directory; the defaults are
the repository's own ``README.md``, ``docs/results`` and ``docs/figures``.

Layout: this module is the command line, over the registry; the harness renders the
tables (:mod:`experiments.harness.render`: :func:`render_tables`, :func:`source_line`),
finds and fills the README blocks (:mod:`experiments.harness.readme`: :func:`find_blocks`,
:func:`update_readme`) and refreshes (:mod:`experiments.harness.refresh`: :func:`refresh`,
:func:`shrink_curves`); their names are re-exported here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from jaxcnn.io import write_text_atomic

from experiments import registry as study_registry
from experiments.harness import render
from experiments.harness.errors import CLIError
from experiments.harness.locations import check_output_dir, check_output_file
from experiments.harness.readme import Block, Rendering, ReportError, find_blocks, update_readme
from experiments.harness.refresh import MAX_CURVE_POINTS, display_path, refresh, shrink_curves
from experiments.harness.render import source_line

__all__ = [
    "MAX_CURVE_POINTS",
    "REPO_ROOT",
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

REPO_ROOT = Path(__file__).resolve().parents[1]


def render_tables(results_dir: str | os.PathLike, *, readme_dir: str | os.PathLike | None = None,
                  registry: Mapping[str, str] | None = None) -> Rendering:
    """:func:`experiments.harness.render.render_tables` over the registry's studies.

    Args:
        results_dir: folder of results JSON (``docs/results``).
        readme_dir: folder of the README; source lines show results paths relative to it
            (default: the working directory).
        registry: results name -> module with ``report_tables`` (default:
            :func:`experiments.registry.report_modules`).
    """
    registry = study_registry.report_modules() if registry is None else registry
    return render.render_tables(results_dir, registry=registry, readme_dir=readme_dir)


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


def check_locations(options: ReportOptions) -> None:
    """Refuses output locations that cannot be written, before anything is done.

    Raises:
        ReportError: ``--readme`` (unless ``--check``), or with ``--refresh`` the
            ``--results`` / ``--figures`` folders, cannot be written (one line).
    """
    try:
        if not options.check:
            check_output_file(options.readme, "--readme")
        if options.refresh is not None:
            check_output_dir(options.results, "--results")
            check_output_dir(options.figures, "--figures")
    except CLIError as e:
        raise ReportError(str(e)) from None


def run(options: ReportOptions) -> int:
    """Runs the command described by ``options``; returns the exit status."""
    label = display_path(options.readme)
    check_locations(options)
    try:  # before --refresh writes anything
        text = options.readme.read_text(encoding="utf-8")
    except OSError as e:
        raise ReportError(f"--readme: cannot read {label} ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise ReportError(f"--readme: expected a UTF-8 text file, got {label} (byte "
                          f"{e.object[e.start]:#04x} at offset {e.start})") from None
    if options.refresh is not None:
        for path in refresh(options.refresh, options.results, options.figures,
                            registry=study_registry.report_modules()):
            print(f"refreshed {display_path(path)}")
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
