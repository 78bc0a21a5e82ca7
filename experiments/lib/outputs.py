"""Where the experiments write: results JSON and figures (process 0 only), checkpoints.

:func:`write_results` is the one place an experiment's results and figures are written,
and the one ``if`` that keeps the other processes of a multi-process run from writing
(:attr:`experiments.cli.RunOptions.writer`). It writes ``OUT/STEM.json`` first, then
draws the figures (:func:`experiments.figures.draw`) from that JSON as read back, so
``python -m experiments.plot OUT/STEM.json`` re-draws exactly the same figures.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from experiments.cli import CLIError, RunOptions
from experiments.common import save_json

__all__ = ["checkpoint_config", "write_results"]


def write_results(options: RunOptions, results: dict, stem: str, *,
                  figures: bool = True) -> Path | None:
    """Writes ``OUT/STEM.json`` and (``figures``) the figures drawn from it; process 0 only.

    The figures' file names go into ``results["figures"]`` (in drawing order) and the
    JSON is written again with them.

    Args:
      options: the run (``out``; ``writer``: nothing is written in other processes).
      results: the JSON-able results; updated in place with ``"figures"``.
      stem: file stem of the JSON.
      figures: draw the experiment's figures (:func:`experiments.figures.draw`).

    Returns:
      The JSON's path, or ``None`` in a process that does not write.
    """
    if not options.writer:
        return None
    path = save_json(results, options.out, stem)
    if figures:
        from experiments import figures as experiment_figures
        from jaxcnn.io import read_json

        drawn = experiment_figures.draw(read_json(path), options.out)
        results["figures"] = list(drawn)
        save_json(results, options.out, stem)
    return path


def checkpoint_config(options: RunOptions, cfg: Any, run_name: str) -> dict:
    """``TrainConfig`` checkpoint fields: on with ``--resume`` or a checkpointing preset.

    The run's folder is ``options.checkpoint_dir("PRESET-DATASET-RUN")``; with
    ``--overwrite`` the checkpoints of an earlier run are deleted first.

    Args:
      options: the run.
      cfg: the preset (``checkpoint``, ``checkpoint_every``).
      run_name: the training run inside the experiment.

    Raises:
      CLIError: a checkpointing preset finds checkpoints of an earlier run without
        ``--resume`` or ``--overwrite``.
    """
    if not (options.resume or cfg.checkpoint):
        return {}
    path = options.checkpoint_dir(f"{options.preset}-{options.dataset}-{run_name}")
    if options.overwrite and os.path.isdir(path):
        shutil.rmtree(path)
    if not options.resume and os.path.isdir(path) and os.listdir(path):
        raise CLIError(f"--resume: {path} holds checkpoints of an earlier run; pass --resume "
                       "to continue it, or use another --out")
    return {"checkpoint_dir": path, "resume": bool(options.resume),
            "checkpoint_every": cfg.checkpoint_every}
