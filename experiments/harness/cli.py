"""The one command line of every experiment: flags -> :class:`RunOptions` -> ``run``.

Every study is a thin ``main()`` over :func:`cli_main`::

    def main(argv=None):
        return cli_main(run, build_parser(NAME, DESCRIPTION), argv,
                        results_file=f"{NAME}.json")

and one without flags of its own takes exactly that from :func:`experiment_main`
(``main = experiment_main(run, NAME, __doc__)``).

:func:`cli_main` parses the flags, rejects bad ones with one line on stderr and exit
status 2 (:class:`CLIError`), starts ``jax.distributed`` when a multi-process run is asked
for (``--coordinator HOST:PORT --num-processes N --process-id I``, or JAX's environment
variables; before any other JAX call), refuses an ``--out`` that cannot be written
(:func:`experiments.harness.locations.check_output_dir`) or that holds earlier results
(unless ``--resume`` / ``--overwrite``), says so in one line when ``--resume`` finds
nothing to resume (and starts fresh), and calls ``run(options)`` with a typed, frozen
:class:`RunOptions`. Only process 0 writes results and figures (:attr:`RunOptions.writer`,
:func:`experiments.harness.outputs.write_results`).

Every experiment is ``python -m experiments.NAME --preset smoke|default|paper
[--dataset D] [--data-path P] [--devices N] [--out DIR] [--resume | --overwrite]
[--seed S]``. Earlier results: an ``--out`` folder that already holds the experiment's
results JSON is refused before any training, unless ``--resume`` (continue the earlier
run from its checkpoints) or ``--overwrite`` (start afresh and replace it) is given::

    python -m experiments.learn_conv: error: --out: results already holds learn_conv.json
    from an earlier run; pass --resume to continue it or --overwrite to replace it
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxcnn.io import remove_temporaries

from experiments.harness.errors import CLIError
from experiments.harness.locations import check_output_dir
from experiments.harness.overrides import apply_overrides

__all__ = ["CLIError", "DATASETS", "FILE_DATASETS", "PRESETS", "RunOptions", "build_parser",
           "check_earlier_results", "cli_main", "experiment_main", "nothing_to_resume",
           "validate_args"]

PRESETS = ("smoke", "default", "paper")
DATASETS = ("mnist1d", "mnist1d_shuffled", "digits", "mnist", "mnist_shuffled", "nlgp",
            "cifar10", "cifar100", "svhn", "npz")
FILE_DATASETS = ("cifar10", "cifar100", "svhn", "npz")

# argparse destinations that RunOptions has as fields; every other flag goes to `extra`.
_COMMON = ("preset", "dataset", "data_path", "devices", "out", "seed", "seeds", "overrides",
           "resume", "overwrite", "no_progress", "coordinator", "num_processes", "process_id")


def build_parser(name: str, description: str, *, datasets: Sequence[str] | None = DATASETS,
                 default_dataset: str | None = "mnist1d", seeds: bool = True,
                 overrides: bool = True) -> argparse.ArgumentParser:
    """The common argument parser (experiments may add their own flags).

    ``seeds=False`` / ``overrides=False`` leave out ``--seeds`` / ``--set`` (for a command
    without seeds or preset fields: argparse then refuses them instead of ignoring them).
    """
    p = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=description)
    p.add_argument("--preset", default="default",
                   help=f"one of {', '.join(PRESETS)} (smoke: seconds, CI; default: CPU "
                        "minutes; paper: published scale, GPU)")
    if datasets:
        p.add_argument("--dataset", default=default_dataset,
                       help=f"one of {', '.join(datasets)}")
        p.add_argument("--data-path", default=None,
                       help="folder or archive with the standard files (cifar10/cifar100/svhn), "
                        "or the .npz file of --dataset npz")
    p.add_argument("--devices", type=int, default=None,
                   help="number of local devices for data parallelism (default: 1)")
    p.add_argument("--out", default="results", help="output folder for JSON and figures")
    p.add_argument("--seed", type=int, default=0,
                   help="first PRNG seed; the runs use seeds SEED, SEED+1, ...")
    if seeds:
        p.add_argument("--seeds", type=int, default=None,
                       help="number of seeds, trained together (default: the preset's)")
    if overrides:
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="NAME=VALUE",
                       help="override a field of the preset (repeatable), e.g. --set epochs=5")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last checkpoint in OUT/checkpoints/NAME")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh and replace the results of an earlier run in OUT "
                        "(without it, or --resume, such a folder is refused)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    g = p.add_argument_group("multi-process runs (jax.distributed; default: the environment "
                             "variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, "
                             "JAX_PROCESS_ID)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0, the same in every process")
    g.add_argument("--num-processes", type=int, default=None, metavar="N",
                   help="number of processes taking part")
    g.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="this process's id, 0 <= I < N (process 0 writes the results)")
    p.set_defaults(_datasets=tuple(datasets or ()), _name=name)
    return p


def _check_dataset(args: argparse.Namespace, datasets: Sequence[str]) -> None:
    if args.dataset not in datasets:
        raise CLIError(f"--dataset: expected one of {', '.join(datasets)}, "
                       f"got {args.dataset!r}")
    if args.dataset in FILE_DATASETS:
        if not args.data_path:
            what = ("your .npz file with x_train, y_train, x_test, y_test"
                    if args.dataset == "npz" else
                    "the folder or archive with the standard files")
            raise CLIError(f"--data-path: required for --dataset {args.dataset} ({what}); "
                           "nothing is downloaded")
        if not os.path.exists(args.data_path):
            raise CLIError(f"--data-path: expected an existing file or folder, "
                           f"got {args.data_path!r}")
    elif args.data_path:
        raise CLIError(f"--data-path: only used with {', '.join(FILE_DATASETS)}; "
                       f"--dataset {args.dataset} is generated offline")


def validate_args(args: argparse.Namespace) -> argparse.Namespace:
    """Checks the common flags; raises :class:`CLIError` with a one-line reason."""
    if args.preset not in PRESETS:
        raise CLIError(f"--preset: expected one of {', '.join(PRESETS)}, got {args.preset!r}")
    datasets = getattr(args, "_datasets", ())
    if datasets:
        _check_dataset(args, datasets)
    if getattr(args, "overwrite", False) and args.resume:
        raise CLIError("--overwrite: expected either --resume (continue the earlier run) or "
                       "--overwrite (replace it), got both")
    if args.seed < 0:
        raise CLIError(f"--seed: expected an int >= 0, got {args.seed}")
    seeds = getattr(args, "seeds", None)
    if seeds is not None and seeds < 1:
        raise CLIError(f"--seeds: expected an int >= 1, got {seeds}")
    if args.devices is not None:
        import jax

        if jax.process_count() > 1:  # the mesh must hold devices of every process
            raise CLIError(f"--devices: expected no value in a run of {jax.process_count()} "
                           f"processes (the mesh is all {jax.device_count()} devices), got "
                           f"{args.devices}")
        available = jax.local_device_count()
        if args.devices < 1 or args.devices > available:
            raise CLIError(f"--devices: expected an int in [1, {available}] (local "
                           f"{jax.default_backend()} devices), got {args.devices}")
    return args


def check_earlier_results(args: Any, results_file: str) -> None:
    """Refuses an ``--out`` that holds ``results_file`` unless ``--resume``/``--overwrite``.

    Args:
      args: parsed flags or :class:`RunOptions` (``out``, ``resume``, ``overwrite``).
      results_file: the name of the results JSON inside ``out``.

    Raises:
      CLIError: ``--out: OUT already holds FILE from an earlier run; pass --resume to
        continue it or --overwrite to replace it``.
    """
    if args.resume or getattr(args, "overwrite", False):
        return
    if (Path(args.out) / results_file).exists():
        raise CLIError(f"--out: {args.out} already holds {results_file} from an earlier run; "
                       "pass --resume to continue it or --overwrite to replace it")


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
    def from_args(cls, args: argparse.Namespace, argv: Sequence[str] = (), *,
                  num_processes: int = 1) -> RunOptions:
        """The options of a parsed (and validated) command line."""
        ns = vars(args)
        extra = {k: v for k, v in ns.items() if k not in _COMMON and not k.startswith("_")}
        return cls(name=ns["_name"], preset=args.preset, out=args.out,
                   dataset=ns.get("dataset"), data_path=ns.get("data_path"),
                   devices=args.devices, seed=args.seed, seeds=ns.get("seeds"),
                   overrides=tuple(ns.get("overrides", ())), resume=args.resume,
                   overwrite=bool(ns.get("overwrite")), progress=not args.no_progress,
                   argv=tuple(argv), extra=extra, num_processes=num_processes)

    @property
    def writer(self) -> bool:
        """True in the process that writes results and figures (process 0)."""
        from jaxcnn.train.distributed import is_writer

        return self.num_processes == 1 or is_writer()

    def seed_list(self, default: int) -> list[int]:
        """The seeds of a run: ``seed, seed + 1, ...`` (``seeds`` or ``default`` many)."""
        n = default if self.seeds is None else self.seeds
        return list(range(self.seed, self.seed + n))

    def checkpoint_root(self) -> str:
        """The folder of every checkpoint of this experiment: ``OUT/checkpoints/NAME``."""
        return str(Path(self.out).absolute() / "checkpoints" / self.name)

    def checkpoint_dir(self, run_name: str) -> str:
        """Where a run keeps its orbax checkpoints: ``OUT/checkpoints/NAME/RUN``."""
        return str(Path(self.checkpoint_root()) / run_name)

    def preset_config(self, presets: Mapping[str, Any]) -> tuple[Any, dict]:
        """``(config, applied overrides)``: the preset with the ``--set`` overrides applied.

        Raises:
          CLIError: one line naming ``--set`` for a bad override.
        """
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


def nothing_to_resume(options: RunOptions) -> bool:
    """True when ``--resume`` finds no file under :meth:`RunOptions.checkpoint_root`."""
    root = options.checkpoint_root()
    return not any(files for _, _, files in os.walk(root))


def cli_main(run: Callable[[RunOptions], Any], parser: argparse.ArgumentParser,
             argv: Sequence[str] | None = None, *,
             results_file: str | Callable[[RunOptions], str] | None = None,
             resumable: bool = True) -> Any:
    """Parses ``argv``, starts the processes, checks ``--out``, runs ``run(options)``.

    User errors (bad flags, inconsistent process settings, an ``--out`` that is a file or
    cannot be written, earlier results in ``--out``, :class:`CLIError` raised by ``run``)
    print one line on stderr and exit with status 2, before any work. With ``--resume``
    and no checkpoint of an earlier run under ``OUT/checkpoints/NAME``, the writing
    process says so in one line on stderr (``... note: --resume: nothing to resume in
    PATH; starting fresh``) and the run starts fresh.

    Args:
      run: the experiment, ``RunOptions -> results``.
      parser: from :func:`build_parser` (experiments may add flags; they land in
        :attr:`RunOptions.extra`).
      argv: the command line (``None``: ``sys.argv[1:]``).
      results_file: the name of the results JSON inside ``--out`` (or ``options -> name``);
        if it exists, the run is refused before ``run``. ``None``: no check.
      resumable: the command keeps checkpoints of its own under ``OUT/checkpoints/NAME``
        (``False`` for ``experiments.all``, which passes ``--resume`` on).
    """
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        num_processes = start_processes(args)  # before any other JAX call
        validate_args(args)
        options = RunOptions.from_args(args, argv, num_processes=num_processes)
        check_output_dir(options.out, "--out")
        if results_file is not None:
            name = results_file(options) if callable(results_file) else results_file
            check_earlier_results(args, name)
        if resumable and options.resume and options.writer and nothing_to_resume(options):
            print(f"{parser.prog}: note: --resume: nothing to resume in "
                  f"{options.checkpoint_root()}; starting fresh", file=sys.stderr, flush=True)
        if (options.resume or options.overwrite) and options.writer:
            remove_temporaries(options.out)  # left by a process killed mid-write
        if options.writer:
            return run(options)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return run(options)  # other processes: no tables, no progress lines
    except CLIError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def experiment_main(run: Callable[[RunOptions], Any], name: str, doc: str, *,
                    datasets: Sequence[str] | None = None,
                    presets: bool = True) -> Callable[..., Any]:
    """The ``main(argv=None)`` of an experiment without flags of its own.

    It is :func:`cli_main` over :func:`build_parser` (``doc``'s first line as the
    description, ``datasets`` as the ``--dataset`` choices; ``None``: no ``--dataset``),
    refusing an ``--out`` that holds ``NAME.json``.

    Args:
      run: the experiment, ``RunOptions -> results``.
      name: the experiment (``python -m experiments.NAME``).
      doc: the experiment's module docstring.
      datasets: the ``--dataset`` choices.
      presets: the experiment has preset fields and seeds; ``False`` (a fixed
        computation): no ``--seeds`` and no ``--set``, which argparse then refuses.
    """

    def main(argv: Sequence[str] | None = None) -> Any:
        parser = build_parser(name, doc.splitlines()[0], datasets=datasets, seeds=presets,
                              overrides=presets)
        return cli_main(run, parser, argv, results_file=f"{name}.json")

    main.__doc__ = f"CLI entry point: ``python -m experiments.{name} [flags]``."
    main.__module__ = getattr(run, "__module__", main.__module__)
    return main
