"""Re-draws an experiment's figures from its results JSON alone.

    python -m experiments.plot RESULTS.json [--out DIR]

Reads ``RESULTS.json`` (written by ``python -m experiments.NAME``), picks the figure
module of its ``"experiment"`` (:mod:`experiments.figures`) and writes the PNG figures
into ``DIR`` (default: the JSON's folder), the same pixels the run itself drew. Problems
(a missing or unreadable file, an experiment without figures) print one line on stderr
and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.cli import CLIError

__all__ = ["build_parser", "main", "replot"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.plot",
                                description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, metavar="RESULTS.json",
                   help="a results file of python -m experiments.NAME")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the figures (default: the folder of RESULTS.json)")
    return p


def replot(results_path: str | Path, out_dir: str | Path | None = None) -> dict[str, str]:
    """Draws the figures of ``results_path`` into ``out_dir``; ``{file name: path}``.

    Raises:
      CLIError: the file cannot be read as JSON, or its experiment has no figures.
    """
    from experiments import figures
    from jaxcnn.io import read_json

    path = Path(results_path)
    try:
        results = read_json(path)
    except (OSError, ValueError) as e:
        raise CLIError(f"RESULTS.json: expected a readable results file, got {str(path)!r} "
                       f"({' '.join(str(e).split())})") from None
    try:
        module = figures.module_for(results)
    except ValueError as e:
        raise CLIError(f"RESULTS.json: {e}") from None
    return module.draw(results, path.parent if out_dir is None else Path(out_dir))


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
