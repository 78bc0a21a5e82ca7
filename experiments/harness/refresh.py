"""``experiments.report --refresh``: copy a run's results and figures into the docs.

:func:`refresh` copies ``RUN_DIR/NAME.json`` (shrunk by :func:`shrink_curves`) into
``docs/results`` for every registered experiment present there, and ``RUN_DIR/*.png``
into ``docs/figures``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxcnn.io import read_json, write_bytes_atomic, write_json_atomic
from jaxcnn.validation import check_int

from experiments.harness.readme import ReportError

__all__ = ["MAX_CURVE_POINTS", "display_path", "refresh", "relative_path", "shrink_curves"]

#: Longest list of numbers kept under a ``curves`` key by ``--refresh``.
MAX_CURVE_POINTS = 200
#: Fewest points a shrunk curve keeps: its first and its last.
MIN_CURVE_POINTS = 2


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else as is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def relative_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (POSIX form) when it lies below it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


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
    check_int(max_points, name="max_points", minimum=MIN_CURVE_POINTS)

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
            figures_dir: str | os.PathLike, *, registry: Mapping[str, str],
            max_points: int = MAX_CURVE_POINTS) -> list[Path]:
    """Copies a run's results JSON (shrunk) and PNG figures into the documentation folders.

    Args:
        run_dir: an experiment output folder (``--out`` of the experiments).
        results_dir: where ``NAME.json`` goes (``docs/results``).
        figures_dir: where ``*.png`` goes (``docs/figures``).
        registry: results name -> module (``experiments.registry.report_modules()``);
            only these names' JSON are copied.
        max_points: passed to :func:`shrink_curves`.

    Returns:
        The files written.

    Raises:
        ReportError: if ``run_dir`` is not a folder or holds no registered experiment's
            JSON, or a JSON file cannot be read.
    """
    run_dir, results_dir, figures_dir = Path(run_dir), Path(results_dir), Path(figures_dir)
    if not run_dir.is_dir():
        raise ReportError(f"--refresh: expected a run folder, got {display_path(run_dir)}")
    written = []
    for name in registry:
        src = run_dir / f"{name}.json"
        if not src.is_file():
            continue
        try:
            data = read_json(src)
        except (OSError, ValueError) as e:
            raise ReportError(f"{display_path(src)}: cannot read results JSON ({e})") from e
        dst = results_dir / f"{name}.json"
        write_json_atomic(dst, shrink_curves(data, max_points))
        written.append(dst)
    if not written:
        raise ReportError(f"--refresh: expected NAME.json for some of {', '.join(registry)} "
                          f"in {display_path(run_dir)}, found none")
    for src in sorted(run_dir.glob("*.png")):
        dst = figures_dir / src.name
        write_bytes_atomic(dst, src.read_bytes())
        written.append(dst)
    return written
