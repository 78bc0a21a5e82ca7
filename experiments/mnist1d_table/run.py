"""The MNIST-1D table (Greydanus & Kobak): logistic, MLP, CNN, normal and shuffled pixels.

    python -m experiments.mnist1d_table --preset smoke|default|paper [--out DIR]

Trains the published baselines with the published recipe (Adam, lr 1e-2, batch 100,
6000 steps; logistic regression, MLP 40-100-100-10, CNN Conv1d(1,25,k5,s2,p1) ->
Conv1d(25,25,k3,s2,p1) x2 -> Linear(125,10)) on MNIST-1D and on MNIST-1D with one fixed
permutation of the 40 positions, and adds our row: a fully connected net trained with
β-LASSO (Neyshabur 2020), next to the same net trained with plain SGD as a control.
The published numbers (from the paper's own PyTorch code) are shown side by side,
including the published-only GRU and human rows.

Every row is the mean ± standard deviation over ``--seeds`` seeds (default preset 5,
paper 10), all seeds of a row trained together by :func:`jaxcnn.train.train_seeds`.
Each baseline runs in two recipes (``variants``): ``ours`` — Flax's default
initialisation (LeCun normal kernels, zero biases) and a new batch order every epoch —
and ``torch`` — the published code's details: PyTorch's default initialisation
(``U(±1/sqrt(fan_in))`` for weights and biases, :func:`jaxcnn.models.torch_default_init`)
and the training set sliced in its given order every epoch. The table says for each
whether our mean lies within one of our standard deviations of the published number,
and the paired difference ``torch − ours`` says what the recipe details change. Other
differences: the CNN flattens position-major (a permutation of the Linear's rows); the
reported accuracy is the test accuracy after the last step (the maximum over the
per-epoch evaluations is recorded too). Every seed's per-example test correctness is
stored (packed bits, :mod:`experiments.harness.testnoise`), so each paired difference
also has its interval over seeds *and* test examples (crossed random effects).

Writes ``DIR/mnist1d_table.json`` and then, from that JSON alone
(:mod:`experiments.mnist1d_table.figures`; ``python -m experiments.plot
DIR/mnist1d_table.json`` re-draws it), ``DIR/mnist1d_table.png`` (grouped bars, ours vs
published, normal vs shuffled).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from jaxcnn import metrics, models, stats
from jaxcnn.optim import beta_lasso_partitioned, first_layer_label_fn
from jaxcnn.train import TrainConfig, cosine_schedule, steps_per_epoch, train_seeds
from jaxcnn.train.distributed import barrier, process_slice
from jaxcnn.validation import error

from experiments.harness.cli import CLIError, RunOptions, experiment_main
from experiments.harness.datasets import load_data
from experiments.harness.outputs import write_results
from experiments.harness.provenance import provenance
from experiments.harness.testnoise import (KEY, correct_matrix, correct_of, correct_record,
                                           crossed_cells)
from experiments.mnist1d_table import figures
from experiments.mnist1d_table.config import PRESETS, MNIST1DTableConfig
from experiments.mnist1d_table.tables import report_tables

NAME = "mnist1d_table"
DATASETS = ("mnist1d", "mnist1d_shuffled")

#: Published test accuracy in % (Greydanus & Kobak, ICML 2024, MNIST-1D table):
#: ``{model: (normal, shuffled)}``; ``None`` = not published. Constants, not results.
PUBLISHED = {
    "logistic": (32.0, 32.0),
    "mlp": (68.0, 68.0),
    "cnn": (94.0, 56.0),
    "gru": (91.0, 57.0),
    "human": (96.0, 30.0),  # shuffled: "~30%"
}
#: MNIST-1D inputs: 40 positions, one channel; 10 classes.
IN_SHAPE = (40, 1)
NUM_CLASSES = 10
#: The locality window of the first-layer statistics.
LOCALITY_WINDOW = 9
#: Rows that exist only as published numbers (not trained here).
PUBLISHED_ONLY = ("gru", "human")

LABELS = {"logistic": "Logistic", "mlp": "MLP", "cnn": "CNN", "gru": "GRU",
          "human": "Human", "fc_blasso": "FC beta-LASSO (ours)",
          "fc_sgd": "FC SGD (ours)"}


# ----------------------------------------------------------------------------- models


def build_model(name: str, cfg: MNIST1DTableConfig, seed: int) -> nnx.Module:
    """A fresh model of the table: ``logistic``, ``mlp``, ``cnn``, ``fc_blasso``, ``fc_sgd``."""
    rngs = nnx.Rngs(seed)
    if name == "logistic":
        return models.Logistic(IN_SHAPE, NUM_CLASSES, rngs=rngs)
    if name == "mlp":
        return models.MNIST1DMLP(IN_SHAPE, NUM_CLASSES, rngs=rngs)
    if name == "cnn":
        return models.MNIST1DCNN(IN_SHAPE, NUM_CLASSES, rngs=rngs)
    if name in ("fc_blasso", "fc_sgd"):
        if cfg.blasso_model == "mlp":
            return models.MNIST1DMLP(IN_SHAPE, NUM_CLASSES, rngs=rngs)
        return models.SFC(IN_SHAPE, NUM_CLASSES, alpha=cfg.blasso_alpha, rngs=rngs)
    raise error("name", "a model of the table", name)


def build_optimizer(name: str, cfg: MNIST1DTableConfig, total_steps: int):
    """Adam (published recipe) for the baselines; β-LASSO / plain SGD for our FC rows.

    The β-LASSO net's first layer (its own λ) is :func:`jaxcnn.models.first_layer_path`.
    """
    if name in BASELINES:
        return optax.adam(cfg.learning_rate)
    lam = (cfg.blasso_l1_first, cfg.blasso_l1_rest) if name == "fc_blasso" else (0.0, 0.0)
    probe = nnx.eval_shape(lambda: build_model(name, cfg, 0))  # structure only
    return beta_lasso_partitioned(
        cosine_schedule(cfg.blasso_lr, total_steps=total_steps),
        l1_by_label={"first": lam[0], "rest": lam[1], "no_l1": 0.0},
        beta=cfg.blasso_beta if name == "fc_blasso" else 0.0,
        label_fn=first_layer_label_fn(models.first_layer_path(probe)))


def model_names(cfg: MNIST1DTableConfig) -> tuple[str, ...]:
    """Trained rows in table order."""
    return tuple(m for m in cfg.models if m != "fc_sgd" or cfg.sgd_control)


# ----------------------------------------------------------------------------- runs


def prepare_checkpoints(options: RunOptions, run_name: str,
                        cfg: MNIST1DTableConfig) -> str | None:
    """The run's checkpoint folder; a fresh run (no ``--resume``) starts from an empty one."""
    if cfg.checkpoint_every is None:
        return None
    path = options.checkpoint_dir(run_name)
    if not options.resume and Path(path).exists() and options.writer:
        shutil.rmtree(path)
    barrier(f"checkpoints {path}")  # no process writes before process 0 has deleted
    return path


def first_layer_stats(model: nnx.Module) -> dict:
    """Non-zeros, mean IPR and 9-window locality of the first layer (dense view)."""
    w, in_shape = models.first_layer_dense(model)
    return {"first_layer_nonzeros": int(np.count_nonzero(np.asarray(w))),
            "first_layer_size": int(w.size),
            "first_layer_ipr": float(metrics.ipr(w).mean()),
            f"first_layer_locality{LOCALITY_WINDOW}": float(
                metrics.locality(w, in_shape, LOCALITY_WINDOW).mean())}


#: Baseline recipes: ``"ours"`` (Flax's default initialisation, a new batch order every
#: epoch) and ``"torch"`` (PyTorch's default initialisation, the training set in its
#: given order every epoch, as the published code slices it). Our FC rows use ``"ours"``.
VARIANTS = {"ours": {"torch_init": False, "shuffle": True},
            "torch": {"torch_init": True, "shuffle": False}}
BASELINES = ("logistic", "mlp", "cnn")


def model_factory(name: str, cfg: MNIST1DTableConfig, variant: str):
    """``seed -> model`` of a table row in a recipe variant."""

    def make(seed: int) -> nnx.Module:
        model = build_model(name, cfg, seed)
        if VARIANTS[variant]["torch_init"]:
            models.torch_default_init(model, key=jax.random.fold_in(jax.random.key(seed), 7))
        return model

    return make


def train_one(name: str, variant: str, dataset: str, data: dict, cfg: MNIST1DTableConfig,
              seeds: list[int], options: RunOptions) -> dict:
    """Trains one (model, variant, dataset) for all seeds together; returns its entry."""
    n_train = data["x_train"].shape[0]
    epochs = max(1, math.ceil(cfg.steps * cfg.batch_size / n_train))
    total_steps = epochs * steps_per_epoch(n_train, batch_size=cfg.batch_size)
    make = model_factory(name, cfg, variant)
    tx = build_optimizer(name, cfg, total_steps)
    ckpt = prepare_checkpoints(options, f"{name}-{variant}-{dataset}", cfg)
    tcfg = TrainConfig(epochs=epochs, batch_size=cfg.batch_size, seed=seeds[0],
                       devices=options.devices, progress=options.progress,
                       checkpoint_dir=ckpt, resume=bool(options.resume and ckpt),
                       checkpoint_every=cfg.checkpoint_every or 1,
                       shuffle=VARIANTS[variant]["shuffle"])
    trained, res = train_seeds(make, tx, process_slice(data), seeds=seeds, config=tcfg)
    per_seed = []
    for m, r in zip(trained, res["per_seed"]):
        acc = r["curves"]["test_acc"]
        one = {"seed": r["config"]["seed"], "test_acc": 100 * r["final"]["test_acc"],
               "max_test_acc": 100 * max(acc), "train_acc": 100 * r["final"]["train_acc"],
               KEY: correct_record(correct_of(m, data["x_test"], data["y_test"]))}
        if name.startswith("fc_"):
            one.update(first_layer_stats(m))
        per_seed.append(one)
    curves = 100 * np.asarray([r["curves"]["test_acc"] for r in res["per_seed"]])
    return {"model": name, "variant": variant, "dataset": dataset, "seeds": seeds,
            "epochs": epochs, "steps": total_steps, "num_params": models.count_params(trained[0]),
            "per_seed": per_seed,
            **{k: stats.summary([p[k] for p in per_seed])
               for k in ("test_acc", "max_test_acc", "train_acc")},
            "wall_time": res["wall_time"],
            "curves": {"epoch": res["per_seed"][0]["curves"]["epoch"],
                       "test_acc": list(curves.mean(0)),
                       "test_acc_std": list(curves.std(0, ddof=1) if len(seeds) > 1
                                            else np.zeros(curves.shape[1]))}}


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (model, variant): mean ± std per dataset next to the published numbers.

    ``within_1sd_normal`` / ``_shuffled``: ``|ours - published| <= ours' std`` (None when
    nothing is published).
    """
    rows = []
    keys = list(dict.fromkeys((r["model"], r["variant"]) for r in runs))
    for name, variant in keys + [(n, None) for n in PUBLISHED_ONLY]:
        row = {"model": name, "variant": variant, "label": LABELS[name]}
        for i, ds in enumerate(DATASETS):
            key = "normal" if ds == "mnist1d" else "shuffled"
            r = next((r for r in runs if (r["model"], r["variant"], r["dataset"])
                      == (name, variant, ds)), None)
            pub = PUBLISHED.get(name)
            row[f"published_{key}"] = pub[i] if pub else None
            row[f"ours_{key}"] = r["test_acc"]["mean"] if r else None
            row[f"ours_{key}_std"] = r["test_acc"]["std"] if r else None
            row[f"ours_{key}_n"] = r["test_acc"]["n"] if r else None
            row[f"within_1sd_{key}"] = (None if not r or not pub else
                                        abs(r["test_acc"]["mean"] - pub[i])
                                        <= r["test_acc"]["std"])
        r0 = next((r for r in runs if (r["model"], r["variant"]) == (name, variant)), None)
        row["params"] = r0["num_params"] if r0 else None
        rows.append(row)
    return rows


def comparisons(runs: list[dict]) -> list[dict]:
    """Paired differences of test accuracy in points: ``diff`` over seeds (95% CI) and
    ``crossed`` over seeds and test examples (from the stored per-example correctness;
    absent without it), :func:`~experiments.harness.testnoise.crossed_cells`.

    ``fc_blasso − fc_sgd`` (same net, initialisation and batches: only λ differs) and,
    per baseline, ``torch − ours`` (the two recipes, paired by seed).
    """
    by = {(r["model"], r["variant"], r["dataset"]): r for r in runs}
    pairs = [(("fc_blasso", "ours"), ("fc_sgd", "ours"))]
    pairs += [((m, "torch"), (m, "ours")) for m in BASELINES]
    out = []
    for (ma, va), (mb, vb) in pairs:
        for ds in DATASETS:
            ra, rb = by.get((ma, va, ds)), by.get((mb, vb, ds))
            if ra and rb and ra["seeds"] == rb["seeds"]:
                comp = {"a": f"{LABELS[ma]} [{va}]", "b": f"{LABELS[mb]} [{vb}]",
                        "dataset": ds, "diff": stats.paired_difference(
                            [p["test_acc"] for p in ra["per_seed"]],
                            [p["test_acc"] for p in rb["per_seed"]])}
                ca, cb = correct_matrix(ra["per_seed"]), correct_matrix(rb["per_seed"])
                if ca is not None and cb is not None:
                    comp["crossed"] = crossed_cells(ca, cb, scale=100)
                out.append(comp)
    return out


def acceptance(rows: list[dict]) -> dict:
    """The project's acceptance: CNN >= 90% and MLP within 6 points of 68% (normal)."""
    by = {r["model"]: r for r in rows if r["variant"] in ("ours", None)}
    cnn, mlp = by.get("cnn", {}).get("ours_normal"), by.get("mlp", {}).get("ours_normal")
    return {"cnn_ge_90": cnn is not None and cnn >= 90.0,
            "mlp_within_6_of_68": mlp is not None and abs(mlp - 68.0) <= 6.0}


# ----------------------------------------------------------------------------- output


def check_config(cfg: MNIST1DTableConfig) -> None:
    """Rejects unusable presets with a one-line :class:`CLIError`."""
    if cfg.blasso_model not in ("sfc", "mlp"):
        raise CLIError(f"blasso_model: expected 'sfc' or 'mlp', got {cfg.blasso_model!r}")
    if not cfg.variants or set(cfg.variants) - set(VARIANTS):
        raise CLIError(f"variants: expected a non-empty subset of {list(VARIANTS)}, "
                       f"got {list(cfg.variants)}")
    unknown = set(cfg.models) - set(LABELS) | set(cfg.models) & set(PUBLISHED_ONLY)
    if unknown:
        raise CLIError(f"models: expected names among logistic, mlp, cnn, fc_blasso, "
                       f"fc_sgd, got {sorted(unknown)}")


def train_all(options: RunOptions, cfg: MNIST1DTableConfig, seeds: list[int]) -> list[dict]:
    """Every (dataset, model, recipe) of the table, all seeds of each together."""
    gen = {} if cfg.num_samples is None else {"num_samples": cfg.num_samples}
    runs = []
    for dataset in DATASETS:
        data = load_data(dataset, **gen)
        for name in model_names(cfg):
            for variant in (cfg.variants if name in BASELINES else ("ours",)):
                if options.progress:
                    print(f"[{dataset}] {name} ({variant} recipe), seeds {seeds}", flush=True)
                runs.append(train_one(name, variant, dataset, data, cfg, seeds, options))
    return runs


def print_summary(results: dict, runs: list[dict], cfg: MNIST1DTableConfig) -> None:
    """The README's tables, the β-LASSO net's first-layer sparsity and the acceptance."""
    tables = report_tables(results)
    seeds = results["seeds"]
    print(f"\nMNIST-1D test accuracy (%), final step; mean ± std over {len(seeds)} seed(s); "
          f"{cfg.steps} steps, batch {cfg.batch_size}")
    print(tables["mnist1d_table.main"])
    if "mnist1d_table.comparisons" in tables:
        print("\nPaired differences (a − b, points): 95% CI over seeds, and over seeds and "
              "test examples (crossed), Holm-adjusted within the table:")
        print(tables["mnist1d_table.comparisons"])
    fc = [r for r in runs if r["model"] == "fc_blasso"]
    if fc:
        print(f"FC net for beta-LASSO: {cfg.blasso_model} "
              f"(alpha={cfg.blasso_alpha}); first-layer non-zeros "
              f"{fc[0]['per_seed'][0]['first_layer_nonzeros']}/"
              f"{fc[0]['per_seed'][0]['first_layer_size']} (seed {seeds[0]})")
    print(f"acceptance: {results['acceptance']}")


def run(options: RunOptions) -> dict:
    """Trains every (model, dataset, seed), prints the table, writes JSON and the figure."""
    cfg, overrides = options.preset_config(PRESETS)
    check_config(cfg)
    start = time.perf_counter()
    seeds = options.seed_list(cfg.seeds)
    runs = train_all(options, cfg, seeds)
    rows = summarize(runs)
    results = {"experiment": NAME, "preset": options.preset, "seed": options.seed,
               "seeds": seeds, "overrides": overrides,
               "config": dataclasses.asdict(cfg), "published": PUBLISHED, "variants": VARIANTS,
               "table": rows, "comparisons": comparisons(runs),
               "acceptance": acceptance(rows), "runs": runs,
               "device": str(jax.devices()[0]), "devices": options.devices or 1,
               "wall_time": time.perf_counter() - start, "figures": []}
    results["provenance"] = provenance(name=NAME, preset=options.preset, seeds=seeds,
                                       wall_time=results["wall_time"], argv=options.argv)
    path = write_results(options, results, NAME, draw=figures.draw)
    print_summary(results, runs, cfg)
    if path is not None:
        print(f"wrote {path}")
    return results


main = experiment_main(run, NAME, __doc__)


if __name__ == "__main__":
    main()
