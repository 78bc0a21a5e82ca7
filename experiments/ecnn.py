"""d'Ascoli et al. 2019: embed a CNN into its equivalent FC net (eCNN) and keep training.

    python -m experiments.ecnn --preset smoke|default|paper [--out DIR]

An S-CONV (:class:`jaxcnn.models.SConv`, 1-D) is trained on MNIST-1D. At each relax
epoch ``r`` it is embedded exactly into an S-FC (:func:`jaxcnn.models.embed`,
``norm="channel"``: identical logits; the maximum difference is measured on the test
set and recorded) which is then trained in FC space for the remaining ``epochs - r``
epochs. Baselines: the CNN trained for the whole budget, and the same S-FC class
trained from scratch (standard initialisation). The distance of the FC first layer to
the convolution subspace (:func:`jaxcnn.metrics.conv_distance`) is logged every epoch.

Writes ``DIR/ecnn.json``, ``DIR/ecnn_relax.png`` (final accuracy vs relax epoch) and
``DIR/ecnn_conv_distance.png`` (distance to the conv subspace during training).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxcnn import metrics, models
from jaxcnn.train import TrainConfig, train

from experiments.common import (CLIError, build_parser, format_table, load_data, run_cli,
                                save_figure, save_json)
from experiments.configs.ecnn import PRESETS, ECNNConfig

NAME = "ecnn"
IN_SHAPE = (40, 1)
NUM_CLASSES = 10


# ----------------------------------------------------------------------------- pieces


def build_cnn(cfg: ECNNConfig, seed: int) -> models.SConv:
    """The S-CONV of the experiment."""
    return models.SConv(IN_SHAPE, NUM_CLASSES, alpha=cfg.alpha, kernel_size=cfg.kernel_size,
                        rngs=nnx.Rngs(seed))


def build_fc(cfg: ECNNConfig, seed: int) -> models.SFC:
    """The FC baseline: the very class :func:`models.embed` produces (S-FC with
    ``norm="channel"``), standard initialisation -- only the initialisation differs."""
    return models.SFC(IN_SHAPE, NUM_CLASSES, alpha=cfg.alpha, kernel_size=cfg.kernel_size,
                      norm="channel", rngs=nnx.Rngs(seed))


def optimizer(cfg: ECNNConfig) -> optax.GradientTransformation:
    """SGD with momentum and a constant learning rate (the same for every run)."""
    return optax.sgd(cfg.learning_rate, momentum=cfg.momentum)


def conv_distance_of(model: nnx.Module, cfg: ECNNConfig) -> float:
    """Relative distance of the model's first layer (as a dense matrix) to the conv
    subspace of the S-CONV geometry (k, stride 2, SAME)."""
    w, in_shape = models.first_layer_dense(model)
    return float(metrics.conv_distance(w, in_shape, cfg.kernel_size, strides=2,
                                       padding="SAME"))


def conv_distance_callback(cfg: ECNNConfig):
    """``(epoch, model) -> {"conv_distance": d}`` for :func:`jaxcnn.train.train`."""
    return lambda epoch, model: {"conv_distance": conv_distance_of(model, cfg)}


def logits(model: nnx.Module, x: np.ndarray, *, eval_mode: bool = True) -> jax.Array:
    """Logits of a copy of ``model`` (eval mode: BN running averages; else batch stats)."""
    m = nnx.clone(model)
    m.eval() if eval_mode else m.train()
    return m(jnp.asarray(x))


def test_accuracy(model: nnx.Module, data: dict) -> float:
    """Test accuracy (eval mode) in %."""
    pred = np.asarray(jnp.argmax(logits(model, data["x_test"]), -1))
    return 100.0 * float(np.mean(pred == data["y_test"]))


def embed_checked(cnn: nnx.Module, data: dict, cfg: ECNNConfig) -> tuple[nnx.Module, dict]:
    """``embed(cnn, to="fc")`` and the max |logit difference| in eval and train mode."""
    fc = models.embed(cnn, to="fc")
    x = data["x_test"]
    ref_e, out_e = logits(cnn, x), logits(fc, x)
    ref_t, out_t = logits(cnn, x, eval_mode=False), logits(fc, x, eval_mode=False)
    check = {"max_abs_diff_eval": float(jnp.max(jnp.abs(ref_e - out_e))),
             "max_abs_diff_train": float(jnp.max(jnp.abs(ref_t - out_t))),
             "logit_scale": float(jnp.max(jnp.abs(ref_e))),
             "conv_distance_at_embedding": conv_distance_of(fc, cfg)}
    return fc, check


def train_config(cfg: ECNNConfig, args: argparse.Namespace, epochs: int,
                 seed: int) -> TrainConfig:
    """The trainer settings shared by every run."""
    return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, seed=seed,
                       devices=args.devices, progress=not args.no_progress)


# ----------------------------------------------------------------------------- runs


def train_cnn(cfg: ECNNConfig, data: dict, args: argparse.Namespace,
              seed: int) -> tuple[dict, dict]:
    """Trains the CNN for the whole budget, snapshotting it at the relax epochs."""
    cnn = build_cnn(cfg, seed)
    snapshots = {0: nnx.clone(cnn)}
    relax = set(cfg.relax_epochs)

    def snapshot(epoch, model):
        if epoch in relax:
            snapshots[epoch] = nnx.clone(model)
        return None

    res = train(cnn, optimizer(cfg), data, config=train_config(cfg, args, cfg.epochs, seed),
                key=jax.random.key(seed), callbacks=[snapshot])
    return {"test_acc": 100 * res["final"]["test_acc"],
            "curves": {"epoch": res["curves"]["epoch"],
                       "test_acc": [100 * a for a in res["curves"]["test_acc"]]},
            "num_params": models.count_params(cnn), "wall_time": res["wall_time"]}, snapshots


def relax_run(cfg: ECNNConfig, data: dict, args: argparse.Namespace, seed: int,
              relax: int, cnn: nnx.Module) -> dict:
    """Embeds the CNN snapshot of epoch ``relax`` and trains it in FC space to the end."""
    fc, check = embed_checked(cnn, data, cfg)
    acc0 = test_accuracy(fc, data)
    out = {"relax_epoch": relax, "embedding": check, "test_acc_at_embedding": acc0,
           "curves": {"epoch": [relax], "test_acc": [acc0],
                      "conv_distance": [check["conv_distance_at_embedding"]]}}
    remaining = cfg.epochs - relax
    if remaining > 0:
        res = train(fc, optimizer(cfg), data,
                    config=train_config(cfg, args, remaining, seed),
                    key=jax.random.fold_in(jax.random.key(seed), relax),
                    callbacks=[conv_distance_callback(cfg)])
        cur = res["curves"]
        out["curves"]["epoch"] += [relax + e for e in cur["epoch"]]
        out["curves"]["test_acc"] += [100 * a for a in cur["test_acc"]]
        out["curves"]["conv_distance"] += cur["conv_distance"]
    out["test_acc"] = out["curves"]["test_acc"][-1]
    out["final_conv_distance"] = out["curves"]["conv_distance"][-1]
    out["num_params"] = models.count_params(fc)
    return out


def scratch_run(cfg: ECNNConfig, data: dict, args: argparse.Namespace, seed: int) -> dict:
    """The S-FC from a standard initialisation, trained for the whole budget."""
    fc = build_fc(cfg, seed + 1)
    d0 = conv_distance_of(fc, cfg)
    res = train(fc, optimizer(cfg), data, config=train_config(cfg, args, cfg.epochs, seed),
                key=jax.random.key(seed), callbacks=[conv_distance_callback(cfg)])
    cur = res["curves"]
    return {"test_acc": 100 * res["final"]["test_acc"],
            "final_conv_distance": cur["conv_distance"][-1],
            "curves": {"epoch": [0] + cur["epoch"],
                       "test_acc": [None] + [100 * a for a in cur["test_acc"]],
                       "conv_distance": [d0] + cur["conv_distance"]},
            "num_params": models.count_params(fc)}


# ----------------------------------------------------------------------------- figures


def plot_relax(results: dict, path) -> None:
    """Final test accuracy vs relax epoch, with the CNN and FC-from-scratch levels."""
    import matplotlib.pyplot as plt

    rel = results["relax"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot([r["relax_epoch"] for r in rel], [r["test_acc"] for r in rel], "o-", color="C3",
            label="eCNN (embedded at relax epoch, then FC)")
    ax.axhline(results["cnn"]["test_acc"], color="C0", ls="--", label="CNN, full budget")
    ax.axhline(results["fc_scratch"]["test_acc"], color="C2", ls=":",
               label="FC from scratch, full budget")
    ax.set_xlabel("relax epoch (CNN epochs before the embedding)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"MNIST-1D, budget {results['config']['epochs']} epochs")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_conv_distance(results: dict, path) -> None:
    """Distance of the FC first layer to the conv subspace vs epoch, per run."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    cmap = plt.get_cmap("viridis")
    rel = results["relax"]
    for i, r in enumerate(rel):
        if len(r["curves"]["epoch"]) > 1:
            ax.plot(r["curves"]["epoch"], r["curves"]["conv_distance"],
                    color=cmap(i / max(1, len(rel) - 1)), label=f"eCNN, relax {r['relax_epoch']}")
    sc = results["fc_scratch"]["curves"]
    ax.plot(sc["epoch"], sc["conv_distance"], "k--", label="FC from scratch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("||W - P_conv W|| / ||W|| (first layer)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    save_figure(fig, path)


# ----------------------------------------------------------------------------- driver


def check_config(cfg: ECNNConfig) -> None:
    """Rejects unusable presets with a one-line :class:`CLIError`."""
    if cfg.dataset not in ("mnist1d", "mnist1d_shuffled"):
        raise CLIError(f"dataset: expected mnist1d or mnist1d_shuffled, got {cfg.dataset!r}")
    bad = [r for r in cfg.relax_epochs if not 0 <= r <= cfg.epochs]
    if bad:
        raise CLIError(f"relax_epochs: expected values in [0, {cfg.epochs}], got {bad}")


def run(args: argparse.Namespace) -> dict:
    """CNN, eCNN at every relax epoch, FC from scratch; table, JSON and figures."""
    cfg = PRESETS[args.preset]
    check_config(cfg)
    if args.resume:
        print("note: ecnn keeps no checkpoints; --resume reruns from the start")
    start = time.perf_counter()
    data = load_data(cfg.dataset, **({} if cfg.num_samples is None
                                      else {"num_samples": cfg.num_samples}))
    seed = args.seed
    cnn, snapshots = train_cnn(cfg, data, args, seed)
    relax = [relax_run(cfg, data, args, seed, r, snapshots[r])
             for r in sorted(set(cfg.relax_epochs))]
    scratch = scratch_run(cfg, data, args, seed)
    results = {"experiment": NAME, "preset": args.preset, "seed": seed,
               "config": dataclasses.asdict(cfg), "cnn": cnn, "relax": relax,
               "fc_scratch": scratch,
               "max_embedding_diff": max(max(r["embedding"]["max_abs_diff_eval"],
                                             r["embedding"]["max_abs_diff_train"])
                                         for r in relax),
               "device": str(jax.devices()[0]), "devices": args.devices or 1,
               "wall_time": time.perf_counter() - start}
    plot_relax(results, Path(args.out) / "ecnn_relax.png")
    plot_conv_distance(results, Path(args.out) / "ecnn_conv_distance.png")
    path = save_json(results, args.out, NAME)
    print_table(results)
    print(f"wrote {path}")
    return results


def print_table(results: dict) -> None:
    """Final accuracy and conv distance per run."""
    rows = [{"run": "CNN (full budget)", "test acc %": results["cnn"]["test_acc"],
             "conv dist (end)": 0.0, "max |logit diff| at embed": None}]
    for r in results["relax"]:
        rows.append({"run": f"eCNN relax {r['relax_epoch']}", "test acc %": r["test_acc"],
                     "acc at embed %": r["test_acc_at_embedding"],
                     "conv dist (end)": r["final_conv_distance"],
                     "max |logit diff| at embed": max(r["embedding"]["max_abs_diff_eval"],
                                                       r["embedding"]["max_abs_diff_train"])})
    rows.append({"run": "FC from scratch", "test acc %": results["fc_scratch"]["test_acc"],
                 "conv dist (end)": results["fc_scratch"]["final_conv_distance"]})
    print(f"\neCNN on {results['config']['dataset']}, budget {results['config']['epochs']} "
          f"epochs (alpha={results['config']['alpha']})")
    print(format_table(rows, ["run", "test acc %", "acc at embed %", "conv dist (end)",
                              "max |logit diff| at embed"], floatfmt=".4g"))


def main(argv=None):
    """CLI entry point (see the module docstring)."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=None)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    main()
