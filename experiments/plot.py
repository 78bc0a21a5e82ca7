"""Re-draws a study's figures from its results JSON alone.

    python -m experiments.plot RESULTS.json [--out DIR]

Reads ``RESULTS.json`` (written by ``python -m experiments.NAME``), looks its
``"experiment"`` up in :mod:`experiments.registry` and calls that study's
``figures.draw``, which writes the PNG figures into ``DIR`` (default: the JSON's folder),
the same pixels the run itself drew. Problems (a missing or unreadable file, a study
without figures, an ``--out`` that is a file or cannot be written: checked before
anything is drawn) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxcnn.io import read_json

from experiments import registry
from experiments.harness.errors import CLIError
from experiments.harness.locations import check_output_dir

__all__ = ["build_parser", "figure_function", "main", "replot"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.plot",
                                description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, metavar="RESULTS.json",
                   help="a results file of python -m experiments.NAME")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the figures (default: the folder of RESULTS.json)")
    return p


def figure_function(results: Mapping[str, Any]):
    """The ``draw(results, out_dir)`` of the study named by ``results["experiment"]``.

    Raises:
      CLIError: ``results`` names no study, or one without figures.
    """
    name = results.get("experiment") if isinstance(results, Mapping) else None
    if not isinstance(name, str) or not name.isidentifier():
        raise CLIError(f"RESULTS.json: results['experiment']: expected the name of a study, "
                       f"got {name!r}")
    found = registry.study(name)
    draw = None if found is None else found.draw()
    if draw is None:
        known = [s.name for s in registry.studies() if s.figures is not None]
        raise CLIError(f"RESULTS.json: results['experiment']: expected a study with figures "
                       f"({', '.join(known)}), got {name!r}")
    return draw


def replot(results_path: str | Path, out_dir: str | Path | None = None) -> dict[str, str]:
    """Draws the figures of ``results_path`` into ``out_dir``; ``{file name: path}``.

    Raises:
      CLIError: the file cannot be read as JSON, its study has no figures, or ``out_dir``
        cannot be written (checked before drawing).
    """
    path = Path(results_path)
    out = path.parent if out_dir is None else Path(out_dir)
    try:
        results = read_json(path)
    except (OSError, ValueError) as e:
        raise CLIError(f"RESULTS.json: expected a readable results file, got {str(path)!r} "
                       f"({' '.join(str(e).split())})") from None
    draw = figure_function(results)
    check_output_dir(out, "--out")
    return dict(draw(results, out))


def main(argv: Sequence[str] | None = None) -> dict[str, str]:
    """CLI entry point: ``python -m experiments.plot RESULTS.json [--out DIR]``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        written = replot(args.results, args.out)
    except CLIError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    for path in written.values():
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    main()
