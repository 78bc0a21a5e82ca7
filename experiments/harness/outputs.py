"""Where the studies write: results JSON and figures (process 0 only), checkpoints.

:func:`write_results` is the one place a study's results and figures are written, and
the one ``if`` that keeps the other processes of a multi-process run from writing
(:attr:`experiments.harness.cli.RunOptions.writer`). It draws the figures (the study's
``figures.draw``, passed as ``draw``) from the results exactly as they read back from
JSON, then writes ``OUT/STEM.json`` last (:func:`save_json`, atomic): the JSON is the
run's completion mark, so a run killed while drawing leaves no results file (and
``--resume`` redoes the figures), and ``python -m experiments.plot OUT/STEM.json``
re-draws exactly the same figures. :func:`publish` is the common end of a study's
``run``: provenance, then :func:`write_results`, then the tables and ``wrote PATH``
printed by the writing process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxcnn.io import to_jsonable
from jaxcnn.train.distributed import barrier

from experiments.harness.cli import RunOptions
from experiments.harness.errors import CLIError
from experiments.harness.provenance import provenance

__all__ = ["Draw", "checkpoint_config", "publish", "save_json", "write_results"]

#: A study's figure function: ``draw(results as read from JSON, out_dir) -> {file name:
#: written path}``.
Draw = Callable[[Mapping[str, Any], str], Mapping[str, str]]


def save_json(results: dict, out_dir: str | os.PathLike, name: str) -> Path:
    """Writes ``out_dir/name.json`` atomically (temp file + rename)."""
    from jaxcnn.io import write_json_atomic

    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, results)
    return path


def write_results(options: RunOptions, results: dict, stem: str, *,
                  draw: Draw | None = None) -> Path | None:
    """Writes ``OUT/STEM.json`` and the figures ``draw`` makes of it; process 0 only.

    The figures are drawn first, from ``json.loads`` of the serialised results (what
    reading the JSON back gives); their file names go into ``results["figures"]`` (in
    drawing order); the JSON is written last, once.

    Args:
      options: the run (``out``; ``writer``: nothing is written in other processes).
      results: the JSON-able results; updated in place with ``"figures"``.
      stem: file stem of the JSON.
      draw: the study's figure function (``None``: no figures, no ``"figures"`` key).

    Returns:
      The JSON's path, or ``None`` in a process that does not write.
    """
    if not options.writer:
        return None
    if draw is not None:
        as_read = json.loads(json.dumps(to_jsonable(results)))
        results["figures"] = list(draw(as_read, options.out))
    return save_json(results, options.out, stem)


def publish(options: RunOptions, results: dict, name: str, *,
            seeds: Sequence[int] | None = None, show: Callable[[dict], Any] | None = None,
            draw: Draw | None = None, gap: str = "\n") -> Path | None:
    """Records the provenance, writes ``OUT/NAME.json`` and the figures, reports them.

    Args:
      options: the run.
      results: the JSON-able results, with ``"wall_time"`` when ``seeds`` is given;
        updated in place (``"provenance"``, ``"figures"``).
      name: the experiment, also the file stem of the JSON.
      seeds: the run's seeds: sets ``results["provenance"]``
        (:func:`experiments.harness.provenance.provenance`) first; ``None``: no provenance.
      show: prints the results' tables (only in the process that writes).
      draw: the study's figure function (:func:`write_results`; ``None``: no figures).
      gap: printed before ``wrote PATH`` (the last line, in the process that writes).

    Returns:
      The JSON's path, or ``None`` in a process that does not write.
    """
    if seeds is not None:
        results["provenance"] = provenance(name=name, preset=options.preset, seeds=seeds,
                                           wall_time=results["wall_time"],
                                           argv=list(options.argv))
    path = write_results(options, results, name, draw=draw)
    if path is not None:
        if show is not None:
            show(results)
        print(f"{gap}wrote {path}")
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
    if options.overwrite and os.path.isdir(path) and options.writer:
        shutil.rmtree(path)
    barrier(f"checkpoints {path}")  # no process writes before process 0 has deleted
    if not options.resume and os.path.isdir(path) and os.listdir(path):
        raise CLIError(f"--resume: {path} holds checkpoints of an earlier run; pass --resume "
                       "to continue it, or use another --out")
    return {"checkpoint_dir": path, "resume": bool(options.resume),
            "checkpoint_every": cfg.checkpoint_every}
