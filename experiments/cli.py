"""The one command line of every experiment: flags -> :class:`RunOptions` -> ``run``.

Every experiment is a thin ``main()`` over :func:`cli_main`::

    def main(argv=None):
        return cli_main(run, build_parser(NAME, DESCRIPTION), argv,
                        results_file=f"{NAME}.json")

:func:`cli_main` parses the flags, rejects bad ones with one line on stderr and exit
status 2 (:class:`~experiments.common.CLIError`), starts ``jax.distributed`` when a
multi-process run is asked for (``--coordinator HOST:PORT --num-processes N
--process-id I``, or JAX's environment variables; before any other JAX call), refuses an
``--out`` that holds earlier results (unless ``--resume`` / ``--overwrite``), and calls
``run(options)`` with a typed, frozen :class:`RunOptions`. Only process 0 writes results
and figures (:attr:`RunOptions.writer`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.common import CLIError, build_parser, check_earlier_results, validate_args

__all__ = ["RunOptions", "build_parser", "cli_main"]

# argparse destinations that RunOptions has as fields; every other flag goes to `extra`.
_COMMON = ("preset", "dataset", "data_path", "devices", "out", "seed", "seeds", "overrides",
           "resume", "overwrite", "no_progress", "coordinator", "num_processes", "process_id")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run an experiment: everything the command line says, typed.

    Attributes:
      name: the experiment (``"learn_conv"``, ...).
      preset: ``"smoke"``, ``"default"`` or ``"paper"``.
      out: output folder (results JSON, figures, checkpoints).
      dataset: dataset name, ``None`` for experiments without ``--dataset``.
      data_path: file or folder of a file-based dataset.
      devices: local devices for data parallelism (``None``: the default, 1).
      seed: first PRNG seed; the runs use ``seed, seed + 1, ...``.
      seeds: number of seeds (``None``: the preset's).
      overrides: the ``--set NAME=VALUE`` strings, in order.
      resume: continue an earlier run from its checkpoints.
      overwrite: replace an earlier run's results.
      progress: show progress bars.
      argv: the command line, for the results' provenance.
      extra: the experiment's own flags (``{dest: value}``).
      num_processes: processes of a multi-process run (1: a single process).
    """

    name: str
    preset: str = "default"
    out: str = "results"
    dataset: str | None = None
    data_path: str | None = None
    devices: int | None = None
    seed: int = 0
    seeds: int | None = None
    overrides: tuple[str, ...] = ()
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    argv: tuple[str, ...] = ()
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    num_processes: int = 1

    @classmethod
    def from_args(cls, args: argparse.Namespace, argv: Sequence[str] = ()) -> RunOptions:
        """The options of a parsed (and validated) command line."""
        ns = vars(args)
        extra = {k: v for k, v in ns.items() if k not in _COMMON and not k.startswith("_")}
        return cls(name=ns["_name"], preset=args.preset, out=args.out,
                   dataset=ns.get("dataset"), data_path=ns.get("data_path"),
                   devices=args.devices, seed=args.seed, seeds=args.seeds,
                   overrides=tuple(args.overrides), resume=args.resume,
                   overwrite=bool(ns.get("overwrite")), progress=not args.no_progress,
                   argv=tuple(argv), extra=extra, num_processes=ns.get("_num_processes", 1))

    @property
    def writer(self) -> bool:
        """True in the process that writes results and figures (process 0)."""
        from jaxcnn.train.distributed import is_writer

        return self.num_processes == 1 or is_writer()

    def seed_list(self, default: int) -> list[int]:
        """The seeds of a run: ``seed, seed + 1, ...`` (``seeds`` or ``default`` many)."""
        n = default if self.seeds is None else self.seeds
        return list(range(self.seed, self.seed + n))

    def checkpoint_dir(self, run_name: str) -> str:
        """Where a run keeps its orbax checkpoints: ``OUT/checkpoints/NAME/RUN``."""
        return str(Path(self.out).absolute() / "checkpoints" / self.name / run_name)

    def preset_config(self, presets: Mapping[str, Any]) -> tuple[Any, dict]:
        """``(config, applied overrides)``: the preset with the ``--set`` overrides applied.

        Raises:
          CLIError: one line naming ``--set`` for a bad override.
        """
        from experiments.overrides import apply_overrides

        return apply_overrides(presets[self.preset], list(self.overrides))


def start_processes(args: argparse.Namespace) -> int:
    """``jax.distributed.initialize`` from the flags / environment; the process count.

    Raises:
      CLIError: for inconsistent settings (``--process-id`` >= ``--num-processes``, a
        missing ``--coordinator``, a malformed ``HOST:PORT``), naming the flag.
    """
    from jaxcnn.train import distributed

    try:
        return distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    except ValueError as e:
        name, _, rest = str(e).partition(":")
        flag = {"coordinator": "--coordinator", "num_processes": "--num-processes",
                "process_id": "--process-id"}.get(name, name)
        raise CLIError(f"{flag}:{rest}") from None


def cli_main(run: Callable[[RunOptions], Any], parser: argparse.ArgumentParser,
             argv: Sequence[str] | None = None, *,
             results_file: str | Callable[[RunOptions], str] | None = None) -> Any:
    """Parses ``argv``, starts the processes, checks ``--out``, runs ``run(options)``.

    User errors (bad flags, inconsistent process settings, earlier results in ``--out``,
    :class:`~experiments.common.CLIError` raised by ``run``) print one line on stderr and
    exit with status 2.

    Args:
      run: the experiment, ``RunOptions -> results``.
      parser: from :func:`build_parser` (experiments may add flags; they land in
        :attr:`RunOptions.extra`).
      argv: the command line (``None``: ``sys.argv[1:]``).
      results_file: the name of the results JSON inside ``--out`` (or ``options -> name``);
        if it exists, the run is refused before ``run``. ``None``: no check.
    """
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args._num_processes = start_processes(args)  # before any other JAX call
        validate_args(args)
        options = RunOptions.from_args(args, argv)
        if results_file is not None:
            name = results_file(options) if callable(results_file) else results_file
            check_earlier_results(args, name)
        return run(options)
    except CLIError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
