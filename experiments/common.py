"""Data, compilation-cache and output helpers shared by the experiments.

Every experiment is ``python -m experiments.NAME --preset smoke|default|paper
[--dataset D] [--data-path P] [--devices N] [--out DIR] [--resume | --overwrite]
[--seed S] [--coordinator HOST:PORT --num-processes N --process-id I]`` and writes
``DIR/NAME.json`` plus PNG figures. The command line itself (:class:`CLIError`,
:func:`~experiments.cli.build_parser`, :class:`~experiments.cli.RunOptions`,
:func:`~experiments.cli.cli_main`) lives in :mod:`experiments.cli`; the names other code
imports from here (``CLIError``, ``DATASETS``, ``FILE_DATASETS``, ``validate_args``) are
re-exported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from experiments.cli import DATASETS, FILE_DATASETS, CLIError, validate_args

__all__ = ["CLIError", "DATASETS", "FILE_DATASETS", "enable_compilation_cache",
           "format_table", "load_data", "save_figure", "save_json", "validate_args"]


def load_data(name: str, *, path: str | None = None, **kwargs) -> dict:
    """Loads a dataset by name (``jaxcnn.data.load``); file problems become :class:`CLIError`.

    The error names ``--data-path`` for file-based datasets and ``--dataset`` otherwise,
    on one line.
    """
    from jaxcnn import data as jdata

    try:
        return jdata.load(name, path=path, **kwargs)
    except (FileNotFoundError, ValueError, OSError, EOFError) as e:
        flag = "--data-path" if name in FILE_DATASETS else "--dataset"
        raise CLIError(f"{flag}: {' '.join(str(e).split())}") from None


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turns on JAX's persistent compilation cache (unless one is configured already).

    Identical programs (same model, optimizer and shapes) are then compiled once per
    machine instead of once per :func:`jaxcnn.train.train` call.

    Args:
      path: cache folder; default ``jaxcnn.data.cache_dir()/xla``.

    Returns:
      The cache folder in use, or ``None`` when disabled by ``JAXCNN_NO_COMPILE_CACHE=1``.
    """
    import jax

    if os.environ.get("JAXCNN_NO_COMPILE_CACHE", "0") == "1":
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    from jaxcnn.data import cache_dir

    path = path or os.path.join(cache_dir(), "xla")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path



def save_json(results: dict, out_dir: str | os.PathLike, name: str) -> Path:
    """Writes ``out_dir/name.json`` atomically (temp file + rename)."""
    from jaxcnn.io import write_json_atomic

    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, results)
    return path


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Saves a matplotlib figure as PNG atomically (:func:`jaxcnn.io.savefig_atomic`) and
    closes it."""
    import matplotlib.pyplot as plt

    from jaxcnn.io import savefig_atomic

    path = Path(path)
    savefig_atomic(fig, path, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None,
                 floatfmt: str = ".4g") -> str:
    """A plain-text (Markdown) table of ``rows``; missing cells are blank."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep, *(line(r) for r in cells)])
