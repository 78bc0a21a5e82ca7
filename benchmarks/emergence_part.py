"""The largest part of the sharing_emergence ``paper`` preset that fits a GPU step, timed,
and the whole preset's wall time projected from it.

    python -m benchmarks.emergence_part --epochs 8 --out OUT/emergence.json   # one GPU
    python -m benchmarks.emergence_part --tiny                               # CPU dry run

What runs: each of the study's four models (S-FC β-LASSO, S-FC / S-LOCAL / S-CONV SGD)
once, at the preset's largest translation dose, with all of the preset's seeds vmapped
into one program (:func:`jaxcnn.train.train_seeds`, the study's own ``train_run``:
augmentation, evaluation every epoch and the per-seed measures included), for
``--epochs`` epochs instead of 400. λ is the preset's middle multiple of the measured
gradient scale (the study's map picks it; the cost of a step does not depend on it).

Per model: compile seconds (JAX's compilation events), seconds per epoch after
compilation, measurement seconds. Projection of the full preset: for every run of
:func:`experiments.sharing_emergence.run.run_specs` (22 at the paper preset),
``compile + epochs x per-epoch + measure`` of its model; plus the λ map
(``len(lambda_grid)`` single-seed S-FC β-LASSO runs of the preset's epochs, charged at
the all-seeds per-epoch cost: an upper bound). Compilations are not shared between runs
in the projection (the study's runs of one model at two doses do share one program when
JAX's compilation cache is on, so this too is an upper bound).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import statistics
import sys
import time

import jax

from jaxcnn.io import write_json_atomic

from benchmarks.train_suite import CompileTimer
from experiments.harness.cli import RunOptions
from experiments.harness.nets import model_factory
from experiments.sharing_emergence import regime
from experiments.sharing_emergence import run as study
from experiments.sharing_emergence.config import MODELS, PRESETS
from experiments.sharing_emergence.data import load_digits

#: Target of issue 26: the paper preset in at most this many minutes on one H200.
TARGET_MINUTES = 8.0


def part_config(preset: str, epochs: int | None):
    """The preset with ``epochs`` epochs (``None``: the preset's) and no checkpoints."""
    cfg = PRESETS[preset]
    return dataclasses.replace(cfg, epochs=epochs or cfg.epochs, checkpoint=False)


def time_model(key: str, setting: study.Setting) -> dict:
    """Trains and measures ``key`` at the largest dose; its compile/epoch/measure seconds."""
    spec = study.RunSpec(key, max(setting.cfg.shifts))
    with CompileTimer() as timer:
        t0 = time.perf_counter()
        entry = study.train_run(spec, setting)
        wall = time.perf_counter() - t0
    train_s = entry["train_seconds"]
    compile_s = timer.overlap(t0, t0 + train_s)
    epochs = setting.cfg.epochs
    return {"model": key, "run_name": spec.run_name, "seeds": len(setting.seeds),
            "epochs": epochs, "wall_s": wall, "train_s": train_s, "compile_s": compile_s,
            "epoch_s": max(train_s - compile_s, 0.0) / epochs,
            "measure_s": wall - train_s,
            "test_acc_median": statistics.median(s["test_acc"] for s in entry["per_seed"])}


def project(rows: dict, paper) -> dict:
    """Projected seconds of the whole ``paper`` preset from the per-model ``rows``."""
    runs = study.run_specs(paper)
    per_run = {}
    for spec in runs:
        r = rows[spec.key]
        per_run[spec.run_name] = r["compile_s"] + paper.epochs * r["epoch_s"] + r["measure_s"]
    blasso = rows["s-fc-blasso"]
    lam_map = len(paper.lambda_grid) * (blasso["compile_s"] + paper.epochs * blasso["epoch_s"])
    total = sum(per_run.values()) + lam_map
    return {"runs": len(runs), "per_run_s": per_run, "lambda_map_s": lam_map,
            "total_s": total, "total_minutes": total / 60,
            "target_minutes": TARGET_MINUTES, "met": total / 60 <= TARGET_MINUTES}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8, help="epochs of each timed run")
    ap.add_argument("--tiny", action="store_true", help="the smoke preset (CPU, seconds)")
    ap.add_argument("--out", default=None, help="write JSON here (after every model)")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        raise SystemExit(f"--epochs: expected a positive int, got {args.epochs}")
    preset = "smoke" if args.tiny else "paper"
    cfg = part_config(preset, 1 if args.tiny else args.epochs)
    options = RunOptions(name=study.NAME, preset=preset, out="/tmp", progress=False)
    setting = study.Setting(options, cfg, list(range(cfg.seeds)), load_digits(cfg.side),
                            load_digits(cfg.side, shuffled=True))
    make_sfc = model_factory(MODELS["s-fc-blasso"][0], setting.in_shape, 10, alpha=cfg.alpha,
                             kernel_size=cfg.kernel_size)
    grad = regime.gradient_scale(make_sfc(0), setting.data)
    multiples = sorted(cfg.lambda_grid)
    setting.lam = grad["median"] * multiples[len(multiples) // 2]
    meta = {"date": datetime.date.today().isoformat(), "backend": jax.default_backend(),
            "device": jax.devices()[0].device_kind, "jax": jax.__version__,
            "preset": preset, "epochs": cfg.epochs, "seeds": cfg.seeds,
            "in_shape": list(setting.in_shape), "lambda": setting.lam,
            "command": "python -m benchmarks.emergence_part " + " ".join(
                sys.argv[1:] if argv is None else argv)}
    print(f"sharing_emergence {preset} part: digits {setting.in_shape}, {cfg.seeds} seeds, "
          f"{cfg.epochs} epochs per model, shift {max(cfg.shifts)}", flush=True)
    rows: dict[str, dict] = {}
    out: dict = {"meta": meta, "rows": []}
    for key in (k for k in MODELS if k in cfg.models):
        rows[key] = time_model(key, setting)
        r = rows[key]
        print(f"  {key:12s} compile {r['compile_s']:6.1f} s, {r['epoch_s']:7.3f} s/epoch, "
              f"measure {r['measure_s']:5.1f} s, test acc {r['test_acc_median']:.3f}",
              flush=True)
        out["rows"] = list(rows.values())
        if args.out:
            write_json_atomic(args.out, out, indent=1)
    if set(rows) == set(PRESETS[preset].models):
        out["projection"] = project(rows, PRESETS[preset])
        p = out["projection"]
        print(f"projected {preset} preset ({p['runs']} runs + λ map): "
              f"{p['total_minutes']:.1f} min (target <= {TARGET_MINUTES:g})")
        if args.out:
            write_json_atomic(args.out, out, indent=1)
    return out


if __name__ == "__main__":
    main()
