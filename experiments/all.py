"""Runs every study at one preset, in order, into one output folder.

    python -m experiments.all --preset default --out results --overwrite      # `make figures`
    python -m experiments.all --preset smoke --out results/smoke --overwrite  # `make smoke`

The studies and their order are those of :mod:`experiments.registry` (equivalence,
learn_conv, mnist1d_table, nlgp_localization, ecnn, sample_efficiency, then any joined
through ``JAXCNN_STUDIES``). Each is called in-process as its ``main(argv)``
(``experiments.NAME.run.main``) with ``--preset``, ``--out``, ``--seed`` and, where given,
``--seeds``, ``--devices``, ``--no-progress``, ``--resume`` and ``--overwrite`` passed
through (a study without presets, such as ``equivalence``, gets only ``--out``, ``--seed``
and ``--overwrite``); each uses its own default dataset. ``--set`` is not a flag of
``all`` (the studies' preset fields differ): override a study's fields by running it
alone. A study whose module is missing (not written yet) or that fails is reported and
skipped, the others still run; the exit status is 1 if any study failed or was missing,
else 0. A study whose results JSON is already in ``--out`` refuses to run (its status:
exit status 2) unless ``--resume`` or ``--overwrite`` is given. ``--only a,b`` / ``--skip a,b`` pick a subset.
Writes ``OUT/all.json`` with the status and wall time of every study.
"""

from __future__ import annotations

import sys
import time
import traceback

from experiments import registry
from experiments.harness.cli import CLIError, RunOptions, build_parser, cli_main
from experiments.harness.outputs import write_results

NAME = "all"


def experiment_argv(name: str, options: RunOptions) -> list[str]:
    """The command line passed to the ``main`` of the study ``name``."""
    argv = ["--out", str(options.out), "--seed", str(options.seed)]
    if options.overwrite:
        argv.append("--overwrite")
    study = registry.study(name)
    if study is not None and not study.presets:
        return argv
    argv += ["--preset", options.preset]
    if options.seeds is not None:
        argv += ["--seeds", str(options.seeds)]
    if options.devices is not None:
        argv += ["--devices", str(options.devices)]
    if not options.progress:
        argv.append("--no-progress")
    if options.resume:
        argv.append("--resume")
    return argv


def select(options: RunOptions) -> list[str]:
    """The studies to run (``--only`` / ``--skip``), in registry order."""
    every = [s.name for s in registry.studies()]

    def names(text, flag):
        chosen = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in every]
        if unknown:
            raise CLIError(f"{flag}: expected names from {', '.join(every)}, "
                           f"got {', '.join(unknown)}")
        return chosen

    only, skip = options.extra.get("only"), options.extra.get("skip")
    chosen = names(only, "--only") if only else every
    skipped = names(skip, "--skip") if skip else []
    return [e for e in every if e in chosen and e not in skipped]


def run_one(name: str, argv: list[str]) -> dict:
    """Imports and runs one study; never raises (the status says what happened)."""
    t0 = time.perf_counter()
    study = registry.study(name) or registry.Study(name)
    run_module = study.resolve(study.run)
    try:
        main = study.main()
    except ModuleNotFoundError as e:
        if e.name is None or not run_module.startswith(e.name):
            raise
        print(f"all: {e.name} is missing (not written yet?); skipped", file=sys.stderr)
        return {"name": name, "status": "missing", "argv": argv, "wall_time": 0.0}
    except AttributeError:
        print(f"all: {run_module} has no main(argv); skipped", file=sys.stderr)
        return {"name": name, "status": "missing", "argv": argv, "wall_time": 0.0}
    print(f"\n=== {name}: python -m {study.module} {' '.join(argv)}", flush=True)
    status = "ok"
    try:
        main(argv)
    except SystemExit as e:  # argparse / CLI errors of the experiment
        if e.code not in (0, None):
            status = f"exit status {e.code}"
    except Exception as e:  # noqa: BLE001 - keep going with the other experiments
        traceback.print_exc()
        status = f"failed: {type(e).__name__}: {e}"
    wall = time.perf_counter() - t0
    print(f"=== {name}: {status} ({wall:.0f}s)", flush=True)
    return {"name": name, "status": status, "argv": argv, "wall_time": wall}


def run(options: RunOptions) -> dict:
    """Runs the selected studies; exits with status 1 if any did not succeed."""
    t0 = time.perf_counter()
    names = select(options)
    summary = [run_one(name, experiment_argv(name, options)) for name in names]
    results = {"experiment": NAME, "preset": options.preset, "seed": options.seed,
               "experiments": summary, "wall_time": time.perf_counter() - t0}
    path = write_results(options, results, NAME)
    print(f"\nall ({options.preset} preset, {results['wall_time']:.0f}s):")
    for s in summary:
        print(f"  {s['name']:18s} {s['status']} ({s['wall_time']:.0f}s)")
    if path is not None:
        print(f"wrote {path}")
    if any(s["status"] != "ok" for s in summary):
        raise SystemExit(1)
    return results


def main(argv=None):
    """CLI entry point: ``python -m experiments.all [flags]``."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=None, overrides=False)
    parser.add_argument("--only", default=None, help="comma-separated studies to run")
    parser.add_argument("--skip", default=None, help="comma-separated studies to skip")
    return cli_main(run, parser, argv, resumable=False)


if __name__ == "__main__":
    main()
