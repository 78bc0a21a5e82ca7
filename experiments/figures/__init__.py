"""The figures of every experiment, drawn from its results JSON alone.

One module per experiment (``experiments.figures.NAME`` for ``results["experiment"] ==
NAME``), each with ``draw(results: Mapping, out_dir) -> dict[str, str]``: it writes the
experiment's PNG figures into ``out_dir`` and returns ``{file name: written path}``,
using nothing but ``results`` as ``json.loads`` returns it. The experiments call it right
after writing their JSON (:func:`experiments.lib.outputs.write_results`);
``python -m experiments.plot RESULTS.json`` calls it on a file.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jaxcnn.validation import error

__all__ = ["draw", "draw_each", "module_for"]


def module_for(results: Mapping[str, Any]):
    """The figure module of ``results["experiment"]`` (imported on demand, so a module that
    does not exist yet only fails for its own experiment).

    Raises:
      ValueError: ``results`` names no experiment, or one without a figure module.
    """
    name = results.get("experiment") if isinstance(results, Mapping) else None
    if not isinstance(name, str) or not name.isidentifier():
        raise error("results['experiment']", "the name of an experiment", name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise error("results['experiment']", "an experiment with a figure module "
                    f"({__name__}.NAME)", name) from None


def draw(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, str]:
    """Draws the figures of ``results`` into ``out_dir``; ``{file name: written path}``."""
    return module_for(results).draw(results, out_dir)


def draw_each(figures: Mapping[str, Callable[[Mapping, Path], Any]], results: Mapping[str, Any],
              out_dir: str | os.PathLike) -> dict[str, str]:
    """Calls ``plot(results, OUT_DIR/NAME)`` for each ``NAME: plot`` of ``figures``, in order.

    Returns:
      ``{file name: path of the PNG written}``, in drawing order.
    """
    written = {}
    for name, plot in figures.items():
        path = Path(out_dir) / name
        plot(results, path)
        written[name] = str(path)
    return written
