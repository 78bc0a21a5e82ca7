"""Why not one big MLP for everything? Test accuracy vs number of training examples.

    python -m experiments.sample_efficiency --preset default     # MNIST-1D, CPU minutes

CNN (S-CONV), LCN (S-LOCAL), FC (S-FC with SGD) and FC trained with β-LASSO (S-FC) on
nested random subsets of the training set (default 250, 500, 1000, 2000, 4000 MNIST-1D
signals), once with the inputs in their natural order and once with one fixed
permutation of the positions ("shuffled pixels": for MNIST-1D exactly the
``mnist1d_shuffled`` dataset). The convolution's prior (locality + weight sharing) should
pay off most with few examples and natural order, and should stop helping -- or hurt --
with shuffled positions, where an FC net is unaffected (it is permutation invariant, up
to its initialisation).

Every run takes the same number of optimizer steps (``epochs`` passes over the largest
set); a smaller training set is repeated (tiled) to the largest size, so each model has
one set of shapes and compiles once (JAX persistent compilation cache). All runs use the
full test split (or ``num_test`` of it). Every seed's per-example test correctness is
stored (packed bits, :mod:`experiments.harness.testnoise`), so each paired comparison
has its interval over seeds and over seeds *and* test examples (crossed random effects).

Writes ``OUT/sample_efficiency.json`` (config, every run, per-(order, model) accuracy
curves over n with mean and standard deviation over seeds, device, wall time) and then,
from that JSON alone (:mod:`experiments.sample_efficiency.figures`; ``python -m
experiments.plot OUT/sample_efficiency.json`` re-draws it), ``OUT/sample_efficiency.png``
(accuracy vs n, log x, one panel per pixel order), and prints one table per pixel order.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
from flax import nnx

from jaxcnn import stats
from jaxcnn.train import NonFiniteLossError, TrainConfig, train_seeds
from jaxcnn.train.distributed import process_slice

from experiments.harness.cache import enable_compilation_cache
from experiments.harness.cli import DATASETS, CLIError, RunOptions, experiment_main
from experiments.harness.datasets import kernel_size_for, load_dataset, num_classes
from experiments.harness.measures import first_layer_metrics, param_nonzeros
from experiments.harness.nets import make_optimizer, model_factory
from experiments.harness.outputs import checkpoint_config, write_results
from experiments.harness.provenance import provenance
from experiments.harness.testnoise import (KEY, correct_matrix, correct_of, correct_record,
                                           crossed_cells)
from experiments.sample_efficiency import figures
from experiments.sample_efficiency.config import LABELS, MODELS, PRESETS, SampleEfficiencyConfig
from experiments.sample_efficiency.tables import COMPARISONS, report_tables

NAME = "sample_efficiency"
#: ``*_shuffled`` datasets are this experiment's own "shuffled" order (e.g. of ``mnist1d``).
SUPPORTED = tuple(d for d in DATASETS if not d.endswith("_shuffled"))
SHUFFLE_SEED = 0  # as jaxcnn.data.DEFAULT_SHUFFLE_SEED: mnist1d shuffled == mnist1d_shuffled


def pixel_orders(data: dict, *, shuffled: bool) -> dict[str, dict]:
    """``{"natural": data, "shuffled": positions permuted once}`` (train and test alike)."""
    from jaxcnn.data import permute_pixels

    orders = {"natural": data}
    if shuffled:
        orders["shuffled"] = permute_pixels(data, jax.random.key(SHUFFLE_SEED))
    return orders


def nested_subsets(num_train: int, sizes, key: jax.Array) -> dict[int, np.ndarray]:
    """``{n: indices}``: the first ``n`` of one random permutation (nested subsets)."""
    perm = np.asarray(jax.random.permutation(key, num_train))
    return {n: perm[:n] for n in sizes}


def tiled_split(data: dict, idx: np.ndarray, rows: int) -> dict:
    """The training subset ``idx`` repeated (``np.resize``) to ``rows`` examples.

    Each example appears ``rows // n`` or ``rows // n + 1`` times; the test split is kept.
    """
    tiled = np.resize(idx, rows)
    return {"x_train": np.asarray(data["x_train"])[tiled],
            "y_train": np.asarray(data["y_train"])[tiled],
            "x_test": data["x_test"], "y_test": data["y_test"]}


def usable_sizes(cfg: SampleEfficiencyConfig, num_train: int) -> tuple[int, ...]:
    """The configured sizes that fit the training split (at least one must)."""
    sizes = tuple(sorted({int(n) for n in cfg.sizes if n <= num_train}))
    if not sizes:
        raise CLIError(f"--dataset: every training-set size of the preset {list(cfg.sizes)} "
                       f"exceeds the {num_train} training examples")
    dropped = sorted(set(cfg.sizes) - set(sizes))
    if dropped:
        print(f"sample_efficiency: skipping sizes {dropped} (only {num_train} training "
              "examples)")
    return sizes


def train_point(model_key: str, n: int, order: str, data: dict, *,
                cfg: SampleEfficiencyConfig, options: RunOptions, idx: np.ndarray,
                rows: int, kernel_size: int, num_classes: int, seeds: list[int]) -> dict:
    """Trains one model on ``n`` examples (tiled to ``rows``), all seeds together."""
    arch, opt = MODELS[model_key]
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    make = model_factory(arch, in_shape, num_classes, alpha=cfg.alpha, kernel_size=kernel_size)
    probe = nnx.eval_shape(lambda: make(seeds[0]))  # structure only: tx needs its paths
    total_steps = cfg.epochs * (rows // cfg.batch_size)
    tx, opt_desc = make_optimizer(opt, cfg, total_steps=total_steps, model=probe)
    run_name = f"{order}-{model_key}-n{n}"
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seeds[0],
                       devices=options.devices, progress=options.progress,
                       **checkpoint_config(options, cfg, run_name))
    entry = {"order": order, "model": model_key, "label": LABELS[model_key], "n": int(n),
             "seeds": seeds, "optimizer": opt_desc, "steps": total_steps, "status": "ok"}
    t0 = time.perf_counter()
    try:
        local = process_slice(tiled_split(data, idx, rows))  # this process's rows
        trained, res = train_seeds(make, tx, local, seeds=seeds, config=tcfg)
    except NonFiniteLossError as e:
        entry.update(status=f"diverged: {e}", test_acc=None, train_acc=None,
                     wall_time=time.perf_counter() - t0)
        return entry
    per_seed = []
    for m, r in zip(trained, res["per_seed"]):
        _, nnz, size = param_nonzeros(m)
        fl = first_layer_metrics(m, kernel_size, calibrated=False)
        per_seed.append({"seed": r["config"]["seed"], "test_acc": float(r["final"]["test_acc"]),
                         "train_acc": float(r["final"]["train_acc"]), "nonzeros": nnz,
                         "first_layer_locality": fl["locality"],
                         "first_layer_nonzeros": fl["nonzeros"],
                         KEY: correct_record(correct_of(m, data["x_test"], data["y_test"]))})
    entry.update(per_seed=per_seed, parameters=size,
                 test_acc=stats.summary([p["test_acc"] for p in per_seed]),
                 train_acc=stats.summary([p["train_acc"] for p in per_seed]),
                 device=res["per_seed"][0]["device"], wall_time=time.perf_counter() - t0)
    return entry


def summarize(runs: list[dict], orders, models, sizes) -> dict:
    """``{order: {model: {"n", "test_acc_mean", "test_acc_std", "seeds"}}}`` over seeds."""
    out = {}
    for order in orders:
        out[order] = {}
        for m in models:
            means, stds, counts = [], [], []
            for n in sizes:
                r = next((r for r in runs if r["order"] == order and r["model"] == m
                          and r["n"] == n and r["status"] == "ok"), None)
                means.append(r["test_acc"]["mean"] if r else None)
                stds.append(r["test_acc"]["std"] if r else None)
                counts.append(r["test_acc"]["n"] if r else 0)
            out[order][m] = {"label": LABELS[m], "n": list(sizes), "test_acc_mean": means,
                             "test_acc_std": stds, "seeds": counts}
    return out


#: Paired comparisons at every n (same subset, same batches per seed): ``(a, b)``, a − b.


def comparisons(runs: list[dict], orders, sizes) -> list[dict]:
    """Paired differences of test accuracy per order and n: ``diff`` over seeds (95% CI)
    and ``crossed`` over seeds and test examples (when both runs stored per-example
    correctness; :func:`~experiments.harness.testnoise.crossed_cells`)."""
    ok = {(r["order"], r["model"], r["n"]): r for r in runs if r["status"] == "ok"}
    out = []
    for order in orders:
        for a, b in COMPARISONS:
            for n in sizes:
                ra, rb = ok.get((order, a, n)), ok.get((order, b, n))
                if ra is None or rb is None:
                    continue
                comp = {"order": order, "a": a, "b": b, "n": n,
                        "diff": stats.paired_difference(
                            [p["test_acc"] for p in ra["per_seed"]],
                            [p["test_acc"] for p in rb["per_seed"]])}
                ca, cb = correct_matrix(ra["per_seed"]), correct_matrix(rb["per_seed"])
                if ca is not None and cb is not None:
                    comp["crossed"] = crossed_cells(ca, cb)
                out.append(comp)
    return out


def check_dataset(options: RunOptions) -> None:
    """Rejects the ``*_shuffled`` datasets: the shuffled order is this experiment's own."""
    if options.dataset not in SUPPORTED:
        raise CLIError(f"--dataset: expected one of {', '.join(SUPPORTED)} (the shuffled "
                       f"order is part of this experiment), got {options.dataset!r}")


def train_points(options: RunOptions, cfg: SampleEfficiencyConfig, orders: dict, *,
                 sizes, rows: int, kernel_size: int, num_classes: int,
                 seeds: list[int], subsets: dict) -> list[dict]:
    """Every (order, model, n) point of the sweep, in order, with a progress line each."""
    runs = []
    points = [(order, m, n) for order in orders for m in cfg.models for n in sizes]
    for i, (order, m, n) in enumerate(points):
        entry = train_point(m, n, order, orders[order], cfg=cfg, options=options,
                            idx=subsets[n], rows=rows, kernel_size=kernel_size,
                            num_classes=num_classes, seeds=seeds)
        runs.append(entry)
        acc = entry["test_acc"]
        done = f"test acc {acc['mean']:.4f} ± {acc['std']:.4f}" if acc else entry["status"]
        print(f"[{i + 1}/{len(points)}] {order:8s} {entry['label']:20s} n={n:<6d} {done} "
              f"({entry['wall_time']:.1f}s)", flush=True)
    return runs


def run(options: RunOptions) -> dict:
    """Runs the sweep for validated ``options``; returns the results dict."""
    t_start = time.perf_counter()
    check_dataset(options)
    cfg, overrides = options.preset_config(PRESETS)
    cache = enable_compilation_cache()
    root = jax.random.key(options.seed)
    data, n_classes = prepare_data(options, cfg, root)
    num_train = len(data["y_train"])
    sizes = usable_sizes(cfg, num_train)
    rows = max(max(sizes), cfg.batch_size)
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    kernel_size = kernel_size_for(cfg, options.dataset, in_shape)
    orders = pixel_orders(data, shuffled=cfg.shuffled)
    seeds = options.seed_list(cfg.seeds)
    print(f"sample_efficiency: {options.dataset} {in_shape}, sizes {list(sizes)}, "
          f"{len(orders)} pixel orders x {len(cfg.models)} models = "
          f"{len(orders) * len(cfg.models) * len(sizes)} runs of "
          f"{len(seeds)} seeds x {cfg.epochs * (rows // cfg.batch_size)} steps", flush=True)
    runs = train_points(options, cfg, orders, sizes=sizes, rows=rows, kernel_size=kernel_size,
                        num_classes=n_classes, seeds=seeds,
                        subsets=nested_subsets(num_train, sizes, jax.random.fold_in(root, 3)))
    results = {
        "experiment": NAME, "preset": options.preset, "dataset": options.dataset,
        "seed": options.seed, "seeds": seeds, "overrides": overrides,
        "config": {**dataclasses.asdict(cfg), "sizes_run": list(sizes), "rows": rows,
                   "kernel_size": kernel_size, "in_shape": list(in_shape),
                   "num_classes": n_classes, "num_test": len(data["y_test"]),
                   "devices": options.devices, "compilation_cache": cache},
        "orders": list(orders), "models": list(cfg.models), "sizes": list(sizes),
        "runs": runs, "summary": summarize(runs, orders, cfg.models, sizes),
        "comparisons": comparisons(runs, orders, sizes),
        "device": next((r["device"] for r in runs if r.get("device")), None),
        "figures": [], "wall_time": time.perf_counter() - t_start,
    }
    results["provenance"] = provenance(name=NAME, preset=options.preset, seeds=seeds,
                                       wall_time=results["wall_time"], argv=options.argv)
    path = write_results(options, results, NAME, draw=figures.draw)
    print_summary(results)
    if path is not None:
        print(f"\nwrote {path} and {', '.join(results['figures'])}")
    return results


def prepare_data(options: RunOptions, cfg: SampleEfficiencyConfig,
                 root: jax.Array) -> tuple[dict, int]:
    """The dataset (test split cut to ``cfg.num_test``) and its number of classes."""
    data = load_dataset(options, key=jax.random.fold_in(root, 2))
    if cfg.num_test is not None and cfg.num_test < len(data["y_test"]):
        data = {**data, "x_test": data["x_test"][:cfg.num_test],
                "y_test": data["y_test"][:cfg.num_test]}
    return data, num_classes(options.dataset, data)


def print_summary(results: dict) -> None:
    """The README's tables of the run, per pixel order."""
    tables = report_tables(results)
    print(f"\nSample efficiency: {results['dataset']}, {results['preset']} preset "
          f"({results['wall_time']:.0f}s), test accuracy")
    for order in results["orders"]:
        print(f"\n{order} pixel order ({len(results['seeds'])} seeds, mean ± std):")
        print(tables[f"sample_efficiency.{order}"])
        print(f"paired differences (a − b), {order} order: 95% CI over seeds, and over "
              "seeds and test examples (crossed), Holm-adjusted within the table:")
        print(tables[f"sample_efficiency.{order}.comparisons"])


main = experiment_main(run, NAME, __doc__, datasets=SUPPORTED)


if __name__ == "__main__":
    main()
