"""Command line, devices, data and output helpers shared by every experiment.

Every experiment is ``python -m experiments.NAME --preset smoke|default|paper
[--dataset D] [--data-path P] [--devices N] [--out DIR] [--resume | --overwrite]
[--seed S]`` and writes ``DIR/NAME.json`` plus PNG figures. Bad input never reaches JAX:
it is rejected here with one clear line on stderr and exit status 2.

Earlier results. An ``--out`` folder that already holds the experiment's results JSON
(``results_file`` of :func:`run_cli`) is refused before any training, unless ``--resume``
(continue the earlier run from its checkpoints) or ``--overwrite`` (start afresh and
replace it) is given::

    python -m experiments.learn_conv: error: --out: results already holds learn_conv.json
    from an earlier run; pass --resume to continue it or --overwrite to replace it

(one line on stderr, exit status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

PRESETS = ("smoke", "default", "paper")
DATASETS = ("mnist1d", "mnist1d_shuffled", "digits", "mnist", "mnist_shuffled", "nlgp",
            "cifar10", "cifar100", "svhn", "npz")
FILE_DATASETS = ("cifar10", "cifar100", "svhn", "npz")


class CLIError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


def build_parser(name: str, description: str, *, datasets: Sequence[str] | None = DATASETS,
                 default_dataset: str | None = "mnist1d") -> argparse.ArgumentParser:
    """The common argument parser (experiments may add their own flags)."""
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
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds, trained together (default: the preset's)")
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


def validate_args(args: argparse.Namespace) -> argparse.Namespace:
    """Checks the common flags; raises :class:`CLIError` with a one-line reason."""
    if args.preset not in PRESETS:
        raise CLIError(f"--preset: expected one of {', '.join(PRESETS)}, got {args.preset!r}")
    datasets = getattr(args, "_datasets", ())
    if datasets:
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
    if getattr(args, "overwrite", False) and args.resume:
        raise CLIError("--overwrite: expected either --resume (continue the earlier run) or "
                       "--overwrite (replace it), got both")
    if args.seed < 0:
        raise CLIError(f"--seed: expected an int >= 0, got {args.seed}")
    if args.seeds is not None and args.seeds < 1:
        raise CLIError(f"--seeds: expected an int >= 1, got {args.seeds}")
    if args.devices is not None:
        import jax

        available = jax.local_device_count()
        if args.devices < 1 or args.devices > available:
            raise CLIError(f"--devices: expected an int in [1, {available}] (local "
                           f"{jax.default_backend()} devices), got {args.devices}")
    return args


def check_earlier_results(args: argparse.Namespace, results_file: str) -> None:
    """Refuses an ``--out`` that holds ``results_file`` unless ``--resume``/``--overwrite``.

    Raises:
      CLIError: ``--out: OUT already holds FILE from an earlier run; pass --resume to
        continue it or --overwrite to replace it``.
    """
    if args.resume or getattr(args, "overwrite", False):
        return
    if (Path(args.out) / results_file).exists():
        raise CLIError(f"--out: {args.out} already holds {results_file} from an earlier run; "
                       "pass --resume to continue it or --overwrite to replace it")


def run_cli(main: Callable[[argparse.Namespace], object], parser: argparse.ArgumentParser,
            argv: Sequence[str] | None = None, *,
            results_file: str | Callable[[argparse.Namespace], str] | None = None):
    """Parses ``argv``, validates, runs ``main(args)``; user errors exit with status 2.

    Args:
      main: the experiment, ``args -> results``.
      parser: from :func:`build_parser`.
      argv: the command line (``None``: ``sys.argv[1:]``).
      results_file: the name of the experiment's results JSON inside ``--out`` (or
        ``args -> name``, when it depends on the flags); if that file exists, the run is
        refused before ``main`` (:func:`check_earlier_results`). ``None``: no check.
    """
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # for the results' provenance
    try:
        validate_args(args)
        if results_file is not None:
            check_earlier_results(args, results_file(args) if callable(results_file)
                                  else results_file)
        return main(args)
    except CLIError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


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



def resolve_preset(args: argparse.Namespace, presets: dict):
    """The preset ``args.preset`` with the ``--set NAME=VALUE`` overrides applied.

    The applied overrides are kept in ``args._overrides`` (``{name: value}``) for the
    results JSON. Raises :class:`CLIError` (one line naming ``--set``) on bad overrides.
    """
    from experiments.overrides import apply_overrides

    cfg, args._overrides = apply_overrides(presets[args.preset], args.overrides)
    return cfg


def seed_list(args: argparse.Namespace, default: int) -> list[int]:
    """The seeds of a run: ``--seed``, ``--seed + 1``, ... (``--seeds`` or ``default`` many)."""
    n = default if args.seeds is None else args.seeds
    return list(range(args.seed, args.seed + n))


def checkpoint_dir(args: argparse.Namespace, run_name: str) -> str:
    """Where a run keeps its orbax checkpoints: ``OUT/checkpoints/NAME/RUN``."""
    return str(Path(args.out).absolute() / "checkpoints" / args._name / run_name)


def save_json(results: dict, out_dir: str | os.PathLike, name: str) -> Path:
    """Writes ``out_dir/name.json`` atomically (temp file + rename)."""
    from jaxcnn.io import write_json_atomic

    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, results)
    return path


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Saves a matplotlib figure as PNG atomically and closes it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    os.replace(tmp, path)
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
