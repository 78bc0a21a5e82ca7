"""d'Ascoli et al. 2019: embed a CNN into its equivalent FC net (eCNN) and keep training.

    python -m experiments.ecnn --preset smoke|default|paper [--out DIR] [--seeds N] [--seed S]

An S-CONV (:class:`jaxcnn.models.SConv`, 1-D) is trained on MNIST-1D. At each relax
epoch ``r`` it is embedded exactly into an S-FC (:func:`jaxcnn.models.embed`,
``norm="channel"``: identical logits; the maximum difference is measured on the test
set and recorded) which is then trained in FC space for the remaining ``epochs - r``
epochs. Baselines: the CNN trained for the whole budget, and the same S-FC class
trained from scratch (standard initialisation). The distance of the FC first layer to
the convolution subspace (:func:`jaxcnn.metrics.conv_distance`) is logged every epoch.

Seeds. Every arm (the CNN, the eCNN of each relax epoch, the FC from scratch) is trained
once per seed ``s`` in ``SEED .. SEED + N - 1`` (``--seed``, ``--seeds``; default: the
preset's ``seeds``), all seeds of an arm in one vmapped program
(:func:`jaxcnn.train.train_seeds`). The CNN of seed ``s`` is initialised from seed ``s``
and sees the data in the order of ``jax.random.key(s)``; its snapshots at the relax epochs
are kept per seed, and the eCNN of seed ``s`` starts from seed ``s``'s snapshot (its FC
phase again uses the data order of ``key(s)``, from that order's first epoch). The FC
from scratch of seed ``s`` is initialised from seed ``s + 1`` and sees the order of
``key(s)``. Every number is a mean ± std over seeds; every comparison is a paired
difference over the same seeds with a 95% Student-t interval: eCNN(r) - CNN pairs an
eCNN with the very CNN it was embedded from; eCNN(r) - FC from scratch pairs runs that
share the seed's data order (their initialisations differ by design).

``report_tables(results)`` gives the Markdown tables ``ecnn.main`` (per arm: n, test
accuracy, accuracy at the embedding, conv distance, embedding error) and
``ecnn.comparisons`` (paired differences in test accuracy, with their 95% CI); ``main()``
prints both.

Resume. With ``--resume`` every training run checkpoints each epoch (orbax, via
:func:`jaxcnn.train.train_seeds`) under ``DIR/checkpoints/ecnn/PRESET-RUN/`` (``RUN``:
``cnn``, ``relax_R``, ``fc_scratch``), and the CNN snapshots at the relax epochs are saved
as ``DIR/checkpoints/ecnn/PRESET-cnn/snapshots/seed<S>-epoch<E>.npz``; rerunning the same
command with ``--resume`` after a crash continues from the latest checkpoints (runs that
finished are restored, not retrained) and gives the results of an uninterrupted run. Each
arm records ``resumed_from`` (the epoch it was restored at, ``None`` for a fresh run);
the top-level ``resumed_from`` maps the resumed arms to theirs (``None``: nothing
resumed). Without ``--resume`` nothing is checkpointed.

Writes ``DIR/ecnn.json``, ``DIR/ecnn_relax.png`` (final accuracy vs relax epoch) and
``DIR/ecnn_conv_distance.png`` (distance to the conv subspace during training).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxcnn import metrics, models, stats
from jaxcnn.io import read_tree_npz, write_tree_npz_atomic
from jaxcnn.train import TrainConfig, train_seeds

from experiments import plots
from experiments.common import (CLIError, build_parser, checkpoint_dir, format_table,
                                load_data, resolve_preset, run_cli, save_figure, save_json,
                                seed_list)
from experiments.configs.ecnn import PRESETS, ECNNConfig
from experiments.provenance import provenance

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
    """``(epoch, model) -> {"conv_distance": d}`` for :func:`jaxcnn.train.train_seeds`."""
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


def run_checkpoint_dir(args: argparse.Namespace, run_name: str) -> str | None:
    """``OUT/checkpoints/ecnn/PRESET-RUN`` with ``--resume``, else ``None`` (no checkpoints)."""
    return checkpoint_dir(args, f"{args.preset}-{run_name}") if args.resume else None


def train_config(cfg: ECNNConfig, args: argparse.Namespace, epochs: int,
                 run_name: str) -> TrainConfig:
    """The trainer settings shared by every run (``train_seeds`` sets each replica's seed);
    with ``--resume``, checkpoints every epoch in :func:`run_checkpoint_dir` and resumes."""
    ckpt = run_checkpoint_dir(args, run_name)
    extra = {} if ckpt is None else {"checkpoint_dir": ckpt, "resume": True,
                                     "checkpoint_every": 1}
    return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, devices=args.devices,
                       progress=not args.no_progress, **extra)


def _resumed_from(res: dict) -> int | None:
    """The epoch ``train_seeds`` restored its replicas at (``None``: a fresh run)."""
    return res["per_seed"][0].get("resumed_from")


def _snapshot_path(folder: str, seed: int, epoch: int) -> str:
    return os.path.join(folder, f"seed{seed}-epoch{epoch}.npz")


def save_snapshot(model: nnx.Module, folder: str, seed: int, epoch: int) -> None:
    """Writes the state of ``model`` atomically as an ``.npz`` (:func:`write_tree_npz_atomic`)."""
    write_tree_npz_atomic(_snapshot_path(folder, seed, epoch), nnx.state(model))


def load_snapshot(cfg: ECNNConfig, folder: str, seed: int, epoch: int) -> nnx.Module:
    """The CNN of seed ``seed`` after ``epoch`` epochs, from :func:`save_snapshot`'s file.

    Raises:
      CLIError: the file is missing (names ``--resume`` and the file).
    """
    path = _snapshot_path(folder, seed, epoch)
    if not os.path.isfile(path):
        raise CLIError(f"--resume: expected the CNN snapshot {path} of the earlier run, "
                       "got no such file; rerun without --resume (with --overwrite)")
    model = build_cnn(cfg, seed)
    state, _ = read_tree_npz(path, nnx.state(model))
    nnx.update(model, jax.tree.map(jnp.asarray, state))
    return model


# ----------------------------------------------------------------------------- runs


def _with_summaries(arm: dict, keys: tuple[str, ...]) -> dict:
    """Adds ``arm[k] = stats.summary([p[k] for p in arm["per_seed"]])`` for each key."""
    for k in keys:
        arm[k] = stats.summary([p[k] for p in arm["per_seed"]])
    return arm


def train_cnn(cfg: ECNNConfig, data: dict, args: argparse.Namespace,
              seeds: list[int]) -> tuple[dict, dict[int, dict[int, nnx.Module]]]:
    """Trains one CNN per seed for the whole budget, snapshotting each at the relax epochs.

    With ``--resume`` the snapshots are also saved as files (:func:`save_snapshot`) and
    those of epochs a resumed run did not retrain are read back from them.

    Returns:
      ``(arm, snapshots)``: ``arm = {"per_seed": [{"seed", "test_acc", "curves": {"epoch",
      "test_acc"}}], "test_acc": summary, "num_params", "wall_time", "resumed_from"}`` and
      ``snapshots[seed][epoch]``, a copy of seed ``seed``'s CNN after ``epoch`` epochs.
    """
    snapshots: dict[int, dict[int, nnx.Module]] = {s: {} for s in seeds}
    owner: dict[int, int] = {}  # id(replica model) -> seed
    relax = set(cfg.relax_epochs)
    ckpt = run_checkpoint_dir(args, "cnn")
    folder = None if ckpt is None else os.path.join(ckpt, "snapshots")

    def make(seed):
        cnn = build_cnn(cfg, seed)
        owner[id(cnn)] = seed
        snapshots[seed][0] = nnx.clone(cnn)
        return cnn

    def snapshot(epoch, model):
        if epoch in relax:
            seed = owner[id(model)]
            snapshots[seed][epoch] = nnx.clone(model)
            if folder is not None:  # before this epoch's checkpoint: never missing on resume
                save_snapshot(model, folder, seed, epoch)
        return None

    cnns, res = train_seeds(make, optimizer(cfg), data, seeds=seeds,
                            config=train_config(cfg, args, cfg.epochs, "cnn"),
                            callbacks=[snapshot])
    if folder is not None:
        for s in seeds:
            for r in sorted(relax - set(snapshots[s])):
                snapshots[s][r] = load_snapshot(cfg, folder, s, r)
    per_seed = [{"seed": s, "test_acc": 100 * r["final"]["test_acc"],
                 "curves": {"epoch": r["curves"]["epoch"],
                            "test_acc": [100 * a for a in r["curves"]["test_acc"]]}}
                for s, r in zip(seeds, res["per_seed"])]
    arm = {"per_seed": per_seed, "num_params": models.count_params(cnns[0]),
           "wall_time": res["wall_time"], "resumed_from": _resumed_from(res)}
    return _with_summaries(arm, ("test_acc",)), snapshots


def relax_run(cfg: ECNNConfig, data: dict, args: argparse.Namespace, seeds: list[int],
              relax: int, cnns: dict[int, nnx.Module]) -> dict:
    """Embeds each seed's CNN snapshot of epoch ``relax`` and trains it in FC space to the end.

    Returns:
      ``{"relax_epoch", "per_seed": [{"seed", "embedding", "test_acc_at_embedding",
      "test_acc", "final_conv_distance", "curves": {"epoch", "test_acc",
      "conv_distance"}}], "test_acc", "test_acc_at_embedding", "final_conv_distance"
      (summaries over seeds), "max_embedding_diff", "num_params", "wall_time",
      "resumed_from"}``.
    """
    t0 = time.perf_counter()
    fcs, per_seed = {}, []
    for s in seeds:
        fcs[s], check = embed_checked(cnns[s], data, cfg)
        acc0 = test_accuracy(fcs[s], data)
        per_seed.append({"seed": s, "embedding": check, "test_acc_at_embedding": acc0,
                         "curves": {"epoch": [relax], "test_acc": [acc0],
                                    "conv_distance": [check["conv_distance_at_embedding"]]}})
    remaining, resumed_from = cfg.epochs - relax, None
    if remaining > 0:
        _, res = train_seeds(lambda s: fcs[s], optimizer(cfg), data, seeds=seeds,
                             config=train_config(cfg, args, remaining, f"relax_{relax}"),
                             callbacks=[conv_distance_callback(cfg)])
        resumed_from = _resumed_from(res)
        for p, r in zip(per_seed, res["per_seed"]):
            cur = r["curves"]
            p["curves"]["epoch"] += [relax + e for e in cur["epoch"]]
            p["curves"]["test_acc"] += [100 * a for a in cur["test_acc"]]
            p["curves"]["conv_distance"] += cur["conv_distance"]
    for p in per_seed:
        p["test_acc"] = p["curves"]["test_acc"][-1]
        p["final_conv_distance"] = p["curves"]["conv_distance"][-1]
    arm = {"relax_epoch": relax, "per_seed": per_seed,
           "max_embedding_diff": max(max(p["embedding"]["max_abs_diff_eval"],
                                         p["embedding"]["max_abs_diff_train"])
                                     for p in per_seed),
           "num_params": models.count_params(fcs[seeds[0]]),
           "wall_time": time.perf_counter() - t0, "resumed_from": resumed_from}
    return _with_summaries(arm, ("test_acc", "test_acc_at_embedding", "final_conv_distance"))


def scratch_run(cfg: ECNNConfig, data: dict, args: argparse.Namespace,
                seeds: list[int]) -> dict:
    """The S-FC from a standard initialisation (seed ``s + 1``), trained for the whole budget.

    Returns:
      ``{"per_seed": [{"seed", "test_acc", "final_conv_distance", "curves": {"epoch",
      "test_acc", "conv_distance"}}], "test_acc", "final_conv_distance" (summaries),
      "num_params", "wall_time", "resumed_from"}`` (the curves start at epoch 0, with no
      accuracy).
    """
    d0 = {}

    def make(seed):
        fc = build_fc(cfg, seed + 1)
        d0[seed] = conv_distance_of(fc, cfg)
        return fc

    fcs, res = train_seeds(make, optimizer(cfg), data, seeds=seeds,
                           config=train_config(cfg, args, cfg.epochs, "fc_scratch"),
                           callbacks=[conv_distance_callback(cfg)])
    per_seed = []
    for s, r in zip(seeds, res["per_seed"]):
        cur = r["curves"]
        per_seed.append({"seed": s, "test_acc": 100 * r["final"]["test_acc"],
                         "final_conv_distance": cur["conv_distance"][-1],
                         "curves": {"epoch": [0] + cur["epoch"],
                                    "test_acc": [None] + [100 * a for a in cur["test_acc"]],
                                    "conv_distance": [d0[s]] + cur["conv_distance"]}})
    arm = {"per_seed": per_seed, "num_params": models.count_params(fcs[0]),
           "wall_time": res["wall_time"], "resumed_from": _resumed_from(res)}
    return _with_summaries(arm, ("test_acc", "final_conv_distance"))


def resumed_arms(cnn: dict, relax: list[dict], scratch: dict) -> dict | None:
    """``{arm: epoch}`` of the arms restored from checkpoints (``None``: none was)."""
    arms = {"cnn": cnn, **{f"relax_{r['relax_epoch']}": r for r in relax},
            "fc_scratch": scratch}
    out = {k: a["resumed_from"] for k, a in arms.items() if a["resumed_from"] is not None}
    return out or None


def _nan_to_none(d: dict) -> dict:
    """JSON has no NaN: a missing interval (one seed) is stored as ``None``."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def comparisons(results: dict) -> list[dict]:
    """Paired differences (over seeds) in final test accuracy, in points.

    One row per relax epoch ``r`` and baseline: ``{"arm": "eCNN relax r", "relax_epoch",
    "baseline": "cnn" | "fc_scratch", "metric": "test_acc", "mean", "std", "n", "ci_low",
    "ci_high", "half_width", "confidence"}`` for ``eCNN(r) - baseline`` (95% t interval;
    ``None`` bounds with one seed).
    """
    rows = []
    for r in results["relax"]:
        a = [p["test_acc"] for p in r["per_seed"]]
        for baseline in ("cnn", "fc_scratch"):
            base = results[baseline]["per_seed"]
            if [p["seed"] for p in base] != [p["seed"] for p in r["per_seed"]]:
                raise ValueError(f"{baseline}: expected the seeds of the eCNN runs")
            diff = stats.paired_difference(a, [p["test_acc"] for p in base])
            rows.append({"arm": f"eCNN relax {r['relax_epoch']}",
                         "relax_epoch": r["relax_epoch"], "baseline": baseline,
                         "metric": "test_acc", **_nan_to_none(diff)})
    return rows


# ----------------------------------------------------------------------------- figures


def _mean_std_curve(per_seed: list[dict], key: str) -> tuple[list, np.ndarray, np.ndarray]:
    """``(epochs, mean, std)`` of ``curves[key]`` over seeds (std ``ddof=1``; 0 for one)."""
    vals = np.asarray([p["curves"][key] for p in per_seed], np.float64)
    std = vals.std(0, ddof=1) if len(vals) > 1 else np.zeros(vals.shape[1])
    return per_seed[0]["curves"]["epoch"], vals.mean(0), std


def plot_relax(results: dict, path) -> None:
    """Final test accuracy vs relax epoch (mean ± std over seeds, error bars), with the
    CNN and FC-from-scratch levels (mean line, ± std band)."""
    import matplotlib.pyplot as plt

    rel = results["relax"]
    n = rel[0]["test_acc"]["n"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.errorbar([r["relax_epoch"] for r in rel], [r["test_acc"]["mean"] for r in rel],
                yerr=[r["test_acc"]["std"] for r in rel], fmt="o-", color="C3", capsize=3,
                label="eCNN (embedded at relax epoch, then FC)")
    for arm, color, ls, label in (("cnn", "C0", "--", "CNN, full budget"),
                                  ("fc_scratch", "C2", ":", "FC from scratch, full budget")):
        acc = results[arm]["test_acc"]
        ax.axhline(acc["mean"], color=color, ls=ls, label=label)
        ax.axhspan(acc["mean"] - acc["std"], acc["mean"] + acc["std"], color=color,
                   alpha=0.15, lw=0)
    ax.set_xlabel("relax epoch (CNN epochs before the embedding)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"MNIST-1D, budget {results['config']['epochs']} epochs, "
                 f"mean ± std over {n} seeds", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_conv_distance(results: dict, path) -> None:
    """Distance of the FC first layer to the conv subspace vs epoch: mean over seeds with a
    ± std band (error bars for curves of 12 points or fewer), per run."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    rel = results["relax"]
    curves, styles = {}, {}
    for i, r in enumerate(rel):
        if len(r["per_seed"][0]["curves"]["epoch"]) > 1:
            label = f"eCNN, relax {r['relax_epoch']}"
            curves[label] = _mean_std_curve(r["per_seed"], "conv_distance")
            styles[label] = {"color": cmap(i / max(1, len(rel) - 1))}
    curves["FC from scratch"] = _mean_std_curve(results["fc_scratch"]["per_seed"],
                                                "conv_distance")
    styles["FC from scratch"] = {"color": "k", "linestyle": "--"}
    n = results["fc_scratch"]["test_acc"]["n"]
    fig = plots.line_panels({f"mean ± std over {n} seeds": curves}, xlabel="epoch",
                            ylabel="||W - P_conv W|| / ||W|| (first layer)", styles=styles,
                            panel_size=(5, 3.6))
    fig.axes[0].set_ylim(bottom=0)
    save_figure(fig, path)


# ----------------------------------------------------------------------------- tables


def _ci(diff: dict, **kw) -> str:
    """:func:`stats.format_ci` of a stored difference (``None`` bounds: no interval)."""
    return stats.format_ci({k: math.nan if v is None else v for k, v in diff.items()}, **kw)


def report_tables(results: dict) -> dict[str, str]:
    """The Markdown tables of a results dict (as saved in ``ecnn.json``).

    Returns:
      ``{"ecnn.main": per arm n, test accuracy, accuracy at the embedding, final conv
      distance (mean ± std over seeds) and the largest logit difference at the embedding
      (max over seeds), "ecnn.comparisons": eCNN(r) - CNN and eCNN(r) - FC from scratch
      in test accuracy (points): paired mean difference [95% CI] and n}``.
    """
    ms = stats.format_mean_std
    cnn, scratch = results["cnn"], results["fc_scratch"]
    rows = [{"run": "CNN (full budget)", "n": cnn["test_acc"]["n"],
             "test acc %": ms(cnn["test_acc"]), "conv dist (end)": "0"}]
    for r in results["relax"]:
        rows.append({"run": f"eCNN relax {r['relax_epoch']}", "n": r["test_acc"]["n"],
                     "test acc %": ms(r["test_acc"]),
                     "acc at embed %": ms(r["test_acc_at_embedding"]),
                     "conv dist (end)": ms(r["final_conv_distance"], digits=3),
                     "max abs logit diff at embed": f"{r['max_embedding_diff']:.2g}"})
    rows.append({"run": "FC from scratch", "n": scratch["test_acc"]["n"],
                 "test acc %": ms(scratch["test_acc"]),
                 "conv dist (end)": ms(scratch["final_conv_distance"], digits=3)})
    main = format_table(rows, ["run", "n", "test acc %", "acc at embed %", "conv dist (end)",
                               "max abs logit diff at embed"])
    names = {"cnn": "CNN (full budget)", "fc_scratch": "FC from scratch"}
    comp = [{"comparison": f"{c['arm']} - {names[c['baseline']]}", "n": c["n"],
             f"Δ test acc (points) [{100 * c['confidence']:.0f}% CI]": _ci(c)}
            for c in results["comparisons"]]
    return {"ecnn.main": main, "ecnn.comparisons": format_table(comp)}


def print_table(results: dict) -> None:
    """Prints the tables of :func:`report_tables` (mean ± std over seeds; paired CIs)."""
    cfg = results["config"]
    tables = report_tables(results)
    print(f"\neCNN on {cfg['dataset']}, budget {cfg['epochs']} epochs (alpha={cfg['alpha']}), "
          f"seeds {results['seeds']}: mean ± std over seeds")
    print(tables["ecnn.main"])
    print("\nPaired differences over seeds (same seeds; 95% t interval)")
    print(tables["ecnn.comparisons"])


# ----------------------------------------------------------------------------- driver


def check_config(cfg: ECNNConfig) -> None:
    """Rejects unusable presets with a one-line :class:`CLIError`."""
    if cfg.dataset not in ("mnist1d", "mnist1d_shuffled"):
        raise CLIError(f"dataset: expected mnist1d or mnist1d_shuffled, got {cfg.dataset!r}")
    bad = [r for r in cfg.relax_epochs if not 0 <= r <= cfg.epochs]
    if bad:
        raise CLIError(f"relax_epochs: expected values in [0, {cfg.epochs}], got {bad}")
    if cfg.seeds < 1:
        raise CLIError(f"seeds: expected an int >= 1, got {cfg.seeds}")


def run(args: argparse.Namespace, argv=None) -> dict:
    """CNN, eCNN at every relax epoch, FC from scratch (every seed); tables, JSON, figures.

    ``argv`` (the command line ``main`` got; ``None``: ``sys.argv[1:]``) goes into the
    provenance record.
    """
    cfg = resolve_preset(args, PRESETS)
    check_config(cfg)
    start = time.perf_counter()
    data = load_data(cfg.dataset, **({} if cfg.num_samples is None
                                      else {"num_samples": cfg.num_samples}))
    seeds = seed_list(args, cfg.seeds)
    cnn, snapshots = train_cnn(cfg, data, args, seeds)
    relax = [relax_run(cfg, data, args, seeds, r, {s: snapshots[s][r] for s in seeds})
             for r in sorted(set(cfg.relax_epochs))]
    scratch = scratch_run(cfg, data, args, seeds)
    results = {"experiment": NAME, "preset": args.preset, "seeds": seeds,
               "overrides": getattr(args, "_overrides", {}),
               "config": dataclasses.asdict(cfg), "cnn": cnn, "relax": relax,
               "fc_scratch": scratch,
               "max_embedding_diff": max(r["max_embedding_diff"] for r in relax),
               "resumed_from": resumed_arms(cnn, relax, scratch),
               "device": str(jax.devices()[0]), "devices": args.devices or 1}
    results["comparisons"] = comparisons(results)
    results["wall_time"] = time.perf_counter() - start
    plot_relax(results, Path(args.out) / "ecnn_relax.png")
    plot_conv_distance(results, Path(args.out) / "ecnn_conv_distance.png")
    results["provenance"] = provenance(name=NAME, preset=args.preset, seeds=seeds,
                                       wall_time=results["wall_time"], argv=argv)
    path = save_json(results, args.out, NAME)
    print_table(results)
    print(f"wrote {path}")
    return results


def main(argv=None):
    """CLI entry point (see the module docstring)."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=None)
    return run_cli(lambda args: run(args, argv), parser, argv, results_file=f"{NAME}.json")


if __name__ == "__main__":
    main()
