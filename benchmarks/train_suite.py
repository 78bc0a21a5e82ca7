"""Training suite: the scanned-epoch trainer and train_seeds against the old step loop.

    python -m benchmarks.train_suite                 # CPU: ~3 min on 2 cores
    python -m benchmarks.train_suite --seeds 1,8,64  # e.g. on a GPU
    python -m benchmarks.train_suite --quick         # tiny sizes (tests, dry runs)

Cases (all on MNIST-1D, 4000 train / 1000 test):

* ``cnn-old``: the MNIST-1D CNN recipe (Adam 1e-2, batch 100, 6000 steps) through the
  previous step-by-step loop, kept verbatim in ``benchmarks/old_train_loop.py``;
* ``cnn-train``: the same through :func:`jaxcnn.train.train`;
* ``cnn-seeds-K``: :func:`jaxcnn.train.train_seeds` with ``K`` seeds, and
  ``cnn-sequential-K``: ``K`` single-seed ``train`` runs one after another;
* ``sfc-blasso``: the S-FC (alpha 16) beta-LASSO run of ``learn_conv``'s default preset.

Reported per case: wall time including compilation, compile time alone (first epoch
minus a steady epoch), steady ms per optimizer step (median epoch / steps; for K seeds:
per step of all K replicas), and GFLOP/s of the model (XLA's cost analysis of one
training step's forward + backward, times the replicas). Ratios are taken within the one
run: new / old, and K seeds together / K sequential runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxcnn import models
from jaxcnn import train as T
from jaxcnn.train.steps import loss_and_correct
from jaxcnn.io import write_json_atomic

from benchmarks import old_train_loop


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The MNIST-1D CNN recipe and the S-FC beta-LASSO run (sizes shrink with --quick)."""

    steps: int = 6000
    batch_size: int = 100
    lr: float = 1e-2
    sfc_epochs: int = 30
    sfc_batch: int = 100
    sfc_alpha: int = 16
    n_train: int | None = None  # None: all 4000


QUICK = Recipe(steps=80, sfc_epochs=2, sfc_alpha=2, n_train=400)


def load(recipe: Recipe) -> dict:
    from jaxcnn import data as jdata

    d = jdata.mnist1d()
    if recipe.n_train:
        d = dict(d, x_train=d["x_train"][:recipe.n_train], y_train=d["y_train"][:recipe.n_train])
    return d


def cnn(seed: int) -> nnx.Module:
    return models.MNIST1DCNN((40, 1), 10, rngs=nnx.Rngs(seed))


def epochs_for(recipe: Recipe, data: dict) -> int:
    return max(1, -(-recipe.steps * recipe.batch_size // len(data["y_train"])))


def step_flops(model: nnx.Module, data: dict, batch_size: int) -> float:
    """FLOPs of one forward + backward on a batch, from XLA's cost analysis."""
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    x = jnp.asarray(data["x_train"][:batch_size])
    y = jnp.asarray(data["y_train"][:batch_size])

    def loss(p, r):
        out = nnx.merge(graph, p, r, copy=True)(x)
        return jnp.mean(loss_and_correct(out, y, "cross_entropy")[0])

    cost = jax.jit(jax.grad(loss)).lower(params, rest).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan")))


def summarise(name: str, results: list[dict], wall: float, *, flops: float,
              replicas: int = 1) -> dict:
    """Row of the table from train-schema results (one per sequential run)."""
    compile_s, steady_ms = 0.0, []
    for r in results:
        times = r["curves"]["wall_time"]
        steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
        compile_s += max(times[0] - steady, 0.0)
        steady_ms.append(1e3 * steady / r["steps_per_epoch"])
    ms = statistics.median(steady_ms)
    return {"case": name, "wall_s": wall, "compile_s": compile_s, "steady_ms_per_step": ms,
            "gflops": replicas * flops / (ms * 1e6), "replicas": replicas,
            "runs": len(results), "test_acc": [r["final"]["test_acc"] for r in results]}


def run_cnn_cases(recipe: Recipe, data: dict, seeds: list[int]) -> list[dict]:
    epochs = epochs_for(recipe, data)
    cfg = T.TrainConfig(epochs=epochs, batch_size=recipe.batch_size, progress=False)
    flops = step_flops(cnn(0), data, recipe.batch_size)
    rows = []
    t0 = time.perf_counter()
    old = old_train_loop.train(cnn(0), optax.adam(recipe.lr), data,
                               config=old_train_loop.config_from(cfg))
    rows.append(summarise("cnn-old", [old], time.perf_counter() - t0, flops=flops))
    t0 = time.perf_counter()
    new = T.train(cnn(0), optax.adam(recipe.lr), data, config=cfg)
    rows.append(summarise("cnn-train", [new], time.perf_counter() - t0, flops=flops))
    for k in seeds:
        t0 = time.perf_counter()
        _, res = T.train_seeds(cnn, optax.adam(recipe.lr), data, seeds=list(range(k)),
                               config=cfg)
        rows.append(summarise(f"cnn-seeds-{k}", res["per_seed"][:1], time.perf_counter() - t0,
                              flops=flops, replicas=k))
        if k > 1 and k <= 8:
            t0 = time.perf_counter()
            seq = [T.train(cnn(s), optax.adam(recipe.lr), data,
                           config=dataclasses.replace(cfg, seed=s)) for s in range(k)]
            rows.append(summarise(f"cnn-sequential-{k}", seq, time.perf_counter() - t0,
                                  flops=flops))
    return rows


def run_sfc_case(recipe: Recipe, data: dict) -> dict:
    from experiments import learn_conv
    from experiments.configs.learn_conv import LearnConvConfig

    cfg = dataclasses.replace(LearnConvConfig(), epochs=recipe.sfc_epochs,
                              batch_size=recipe.sfc_batch, alpha=recipe.sfc_alpha)
    model = learn_conv.build_model("s-fc", (40, 1), 10, alpha=cfg.alpha, kernel_size=9,
                                   key=jax.random.key(0))
    total = cfg.epochs * T.steps_per_epoch(len(data["y_train"]), batch_size=cfg.batch_size)
    tx, _ = learn_conv.make_optimizer("blasso", cfg, total_steps=total, model=model)
    flops = step_flops(model, data, cfg.batch_size)
    t0 = time.perf_counter()
    res = T.train(model, tx, data, config=T.TrainConfig(epochs=cfg.epochs,
                                                         batch_size=cfg.batch_size,
                                                         progress=False))
    return summarise("sfc-blasso", [res], time.perf_counter() - t0, flops=flops)


def ratios(rows: list[dict]) -> dict:
    by = {r["case"]: r for r in rows}
    out = {}
    if "cnn-old" in by and "cnn-train" in by:
        out["train_vs_old_wall"] = by["cnn-train"]["wall_s"] / by["cnn-old"]["wall_s"]
        out["train_vs_old_steady"] = (by["cnn-train"]["steady_ms_per_step"]
                                      / by["cnn-old"]["steady_ms_per_step"])
    for r in rows:
        if r["case"].startswith("cnn-seeds-"):
            k = r["replicas"]
            seq = by.get(f"cnn-sequential-{k}")
            if seq:
                out[f"seeds{k}_vs_sequential_wall"] = r["wall_s"] / seq["wall_s"]
            if "cnn-seeds-1" in by and k > 1:
                out[f"seeds{k}_vs_seeds1_wall"] = r["wall_s"] / by["cnn-seeds-1"]["wall_s"]
    return out


TARGETS = {"train_vs_old_wall": 0.6, "train_vs_old_steady": 0.5,
           "seeds8_vs_sequential_wall": 1.1}


def print_table(rows: list[dict], rat: dict) -> None:
    print("| case | wall s (incl. compile) | compile s | steady ms/step | GFLOP/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['wall_s']:.2f} | {r['compile_s']:.2f} | "
              f"{r['steady_ms_per_step']:.3f} | {r['gflops']:.2f} |")
    print()
    for k, v in rat.items():
        tgt = TARGETS.get(k)
        mark = "" if tgt is None else (f" (target <= {tgt}: "
                                       f"{'met' if v <= tgt else 'MISSED'})")
        print(f"{k}: {v:.3f}{mark}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="1,8", help="comma-separated replica counts")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--no-sfc", dest="sfc", action="store_false")
    ap.add_argument("--out", default=None, help="write JSON here")
    args = ap.parse_args(argv)
    recipe = QUICK if args.quick else Recipe()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    data = load(recipe)
    t0 = time.perf_counter()
    rows = run_cnn_cases(recipe, data, seeds)
    if args.sfc:
        rows.append(run_sfc_case(recipe, data))
    rat = ratios(rows)
    meta = dict(date=datetime.date.today().isoformat(), backend=jax.default_backend(),
                device=jax.devices()[0].device_kind, jax=jax.__version__,
                machine=platform.processor() or platform.machine(),
                command="python -m benchmarks.train_suite " + " ".join(argv or sys.argv[1:]),
                recipe=dataclasses.asdict(recipe), suite_s=time.perf_counter() - t0)
    print_table(rows, rat)
    print(f"\nsuite: {meta['suite_s']:.0f} s on {meta['backend']} ({meta['device']})")
    out = dict(meta=meta, rows=rows, ratios=rat, targets=TARGETS)
    if args.out:
        write_json_atomic(args.out, out, indent=1)
    return out


if __name__ == "__main__":
    main()
