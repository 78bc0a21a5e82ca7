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
full test split (or ``num_test`` of it).

Writes ``OUT/sample_efficiency.json`` (config, every run, per-(order, model) accuracy
curves over n with mean and standard deviation over seeds, device, wall time) and
``OUT/sample_efficiency.png`` (accuracy vs n, log x, one panel per pixel order), and
prints one table per pixel order.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from experiments import plots
from experiments.common import (CLIError, DATASETS, build_parser, format_table, run_cli,
                                save_figure, save_json)
from experiments.configs.sample_efficiency import LABELS, MODELS, PRESETS, SampleEfficiencyConfig
from experiments.learn_conv import (ARCH_IDS, build_model, checkpoint_config,
                                    enable_compilation_cache, first_layer_metrics,
                                    kernel_size_for, load_dataset, make_optimizer,
                                    param_nonzeros)
from jaxcnn.train import NonFiniteLossError, TrainConfig, train

NAME = "sample_efficiency"
#: ``mnist1d_shuffled`` is this experiment's "shuffled" order of ``mnist1d``.
SUPPORTED = tuple(d for d in DATASETS if d != "mnist1d_shuffled")
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


def train_point(model_key: str, n: int, seed_index: int, order: str, data: dict, *,
                cfg: SampleEfficiencyConfig, args: argparse.Namespace, idx: np.ndarray,
                rows: int, kernel_size: int, num_classes: int, root: jax.Array) -> dict:
    """Trains one model on ``n`` examples (tiled to ``rows``) and measures it."""
    arch, opt = MODELS[model_key]
    run_key = jax.random.fold_in(root, seed_index)
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    model = build_model(arch, in_shape, num_classes, alpha=cfg.alpha, kernel_size=kernel_size,
                        key=jax.random.fold_in(run_key, 100 + ARCH_IDS[arch]))
    total_steps = cfg.epochs * (rows // cfg.batch_size)
    tx, opt_desc = make_optimizer(opt, cfg, total_steps=total_steps, model=model)
    run_name = f"{order}-{model_key}-n{n}-s{seed_index}"
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=args.seed,
                       devices=args.devices, progress=not args.no_progress,
                       **checkpoint_config(args, cfg, run_name))
    entry = {"order": order, "model": model_key, "label": LABELS[model_key], "n": int(n),
             "seed_index": seed_index, "optimizer": opt_desc, "steps": total_steps,
             "status": "ok"}
    t0 = time.perf_counter()
    try:
        res = train(model, tx, tiled_split(data, idx, rows), config=tcfg,
                    key=jax.random.fold_in(run_key, 1))
    except NonFiniteLossError as e:
        entry.update(status=f"diverged: {e}", test_acc=None, train_acc=None,
                     wall_time=time.perf_counter() - t0)
        return entry
    _, nnz, size = param_nonzeros(model)
    fl = first_layer_metrics(model, kernel_size)
    entry.update(test_acc=float(res["final"]["test_acc"]),
                 train_acc=float(res["final"]["train_acc"]), parameters=size, nonzeros=nnz,
                 first_layer_locality=fl["locality"], first_layer_nonzeros=fl["nonzeros"],
                 device=res["device"], wall_time=time.perf_counter() - t0)
    return entry


def summarize(runs: list[dict], orders, models, sizes) -> dict:
    """``{order: {model: {"n", "test_acc_mean", "test_acc_std", "seeds"}}}`` over seeds."""
    out = {}
    for order in orders:
        out[order] = {}
        for m in models:
            means, stds, counts = [], [], []
            for n in sizes:
                accs = [r["test_acc"] for r in runs if r["order"] == order and r["model"] == m
                        and r["n"] == n and r["test_acc"] is not None]
                means.append(float(np.mean(accs)) if accs else None)
                stds.append(float(np.std(accs)) if accs else None)
                counts.append(len(accs))
            out[order][m] = {"label": LABELS[m], "n": list(sizes), "test_acc_mean": means,
                             "test_acc_std": stds, "seeds": counts}
    return out


def table(summary: dict, order: str) -> str:
    """One row per model, one column per training-set size (mean test accuracy)."""
    rows = []
    for m, s in summary[order].items():
        row = {"model": s["label"]}
        for n, mean, std, k in zip(s["n"], s["test_acc_mean"], s["test_acc_std"], s["seeds"]):
            cell = "-" if mean is None else f"{mean:.4f}"
            if mean is not None and k > 1:
                cell += f" ± {std:.3f}"
            row[f"n={n}"] = cell
        rows.append(row)
    return format_table(rows)


def figure(summary: dict, title: str):
    """Accuracy vs n (log x), one panel per pixel order."""
    panels = {}
    for order, by_model in summary.items():
        panels[f"{order} order"] = {
            s["label"]: (s["n"], s["test_acc_mean"],
                         s["test_acc_std"] if max(s["seeds"], default=0) > 1 else None)
            for s in by_model.values()}
    return plots.line_panels(panels, xlabel="training examples", ylabel="test accuracy",
                             logx=True, suptitle=title, legend_loc="lower right")


def run(args: argparse.Namespace) -> dict:
    """Runs the sweep for parsed, validated ``args``; returns the results dict."""
    t_start = time.perf_counter()
    if args.dataset not in SUPPORTED:
        raise CLIError(f"--dataset: expected one of {', '.join(SUPPORTED)} (the shuffled "
                       f"order is part of this experiment), got {args.dataset!r}")
    cfg = PRESETS[args.preset]
    cache = enable_compilation_cache()
    root = jax.random.key(args.seed)
    data = load_dataset(args, key=jax.random.fold_in(root, 2))
    if cfg.num_test is not None and cfg.num_test < len(data["y_test"]):
        data = {**data, "x_test": data["x_test"][:cfg.num_test],
                "y_test": data["y_test"][:cfg.num_test]}
    from jaxcnn import data as jdata

    num_classes = jdata.info(args.dataset).num_classes
    num_train = len(data["y_train"])
    sizes = usable_sizes(cfg, num_train)
    rows = max(max(sizes), cfg.batch_size)
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    kernel_size = kernel_size_for(cfg, args.dataset, in_shape)
    orders = pixel_orders(data, shuffled=cfg.shuffled)
    total = len(orders) * len(cfg.models) * len(sizes) * cfg.seeds
    print(f"sample_efficiency: {args.dataset} {in_shape}, sizes {list(sizes)}, "
          f"{len(orders)} pixel orders x {len(cfg.models)} models x {cfg.seeds} seed(s) = "
          f"{total} runs of {cfg.epochs * (rows // cfg.batch_size)} steps", flush=True)

    runs, device, i = [], None, 0
    for seed_index in range(cfg.seeds):
        subsets = nested_subsets(num_train, sizes, jax.random.fold_in(
            jax.random.fold_in(root, 3), seed_index))
        for order, odata in orders.items():
            for m in cfg.models:
                for n in sizes:
                    i += 1
                    entry = train_point(m, n, seed_index, order, odata, cfg=cfg, args=args,
                                        idx=subsets[n], rows=rows, kernel_size=kernel_size,
                                        num_classes=num_classes, root=root)
                    device = device or entry.get("device")
                    runs.append(entry)
                    acc = entry["test_acc"]
                    print(f"[{i}/{total}] {order:8s} {entry['label']:20s} n={n:<6d} "
                          f"{'test acc %.4f' % acc if acc is not None else entry['status']} "
                          f"({entry['wall_time']:.1f}s)", flush=True)
    summary = summarize(runs, orders, cfg.models, sizes)
    fig = figure(summary, f"Test accuracy vs training-set size, {args.dataset} "
                          f"({args.preset} preset)")
    fig_path = save_figure(fig, f"{args.out}/{NAME}.png")
    results = {
        "experiment": NAME, "preset": args.preset, "dataset": args.dataset, "seed": args.seed,
        "config": {**dataclasses.asdict(cfg), "sizes_run": list(sizes), "rows": rows,
                   "kernel_size": kernel_size, "in_shape": list(in_shape),
                   "num_classes": num_classes, "num_test": len(data["y_test"]),
                   "devices": args.devices, "compilation_cache": cache},
        "orders": list(orders), "models": list(cfg.models), "sizes": list(sizes),
        "runs": runs, "summary": summary, "device": device, "figures": [fig_path.name],
        "wall_time": time.perf_counter() - t_start,
    }
    path = save_json(results, args.out, NAME)
    print(f"\nSample efficiency: {args.dataset}, {args.preset} preset "
          f"({results['wall_time']:.0f}s), test accuracy")
    for order in orders:
        print(f"\n{order} pixel order:")
        print(table(summary, order))
    print(f"\nwrote {path} and {fig_path.name}")
    return results


def main(argv=None):
    """CLI entry point: ``python -m experiments.sample_efficiency [flags]``."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=SUPPORTED)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    main()
