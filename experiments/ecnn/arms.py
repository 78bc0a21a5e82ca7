"""The arms of ``experiments.ecnn``: the CNN, the eCNN of each relax epoch, the FC from scratch.

A module of the study (:mod:`experiments.ecnn.run` documents the protocol):
the models, the embedding check, the CNN snapshots at the relax epochs (kept in memory
and, with ``--resume``, as files) and the three kinds of training run. Every function
takes the preset (:class:`~experiments.ecnn.config.ECNNConfig`) and, where the command
line matters (devices, progress bars, checkpoints), the run's
:class:`~experiments.harness.cli.RunOptions`.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxcnn import metrics, models, optim, stats
from jaxcnn.io import read_tree_npz, write_tree_npz_atomic
from jaxcnn.train import TrainConfig, train_seeds
from jaxcnn.train.distributed import process_slice

from experiments.harness.cli import CLIError, RunOptions
from experiments.harness.testnoise import KEY as CORRECT_KEY
from experiments.harness.testnoise import correct_of, correct_record
from experiments.ecnn.config import ECNNConfig

__all__ = ["IN_SHAPE", "NUM_CLASSES", "PERCENT", "build_cnn", "build_fc",
           "conv_distance_callback", "conv_distance_of", "embed_checked", "load_snapshot",
           "logits", "optimizer", "relax_name", "relax_run", "resumed_arms", "run_checkpoint_dir",
           "save_snapshot", "scratch_run", "test_accuracy", "train_cnn", "train_config"]

#: MNIST-1D inputs: 40 positions, one channel.
IN_SHAPE = (40, 1)
#: MNIST-1D classes.
NUM_CLASSES = 10
#: Accuracies are stored in percent.
PERCENT = 100
#: The S-CONV's stride (its conv subspace is that of kernel ``k``, this stride, SAME).
CONV_STRIDE = 2


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


def optimizer(cfg: ECNNConfig, treatment: str = "same_lr") -> optax.GradientTransformation:
    """SGD with momentum and a constant learning rate; with ``treatment="conv_step"``
    the first layer's gradient is first rescaled by :func:`jaxcnn.optim.embedded_conv_step`
    (its conv component becomes the CNN's own gradient; FC models only)."""
    sgd = optax.sgd(cfg.learning_rate, momentum=cfg.momentum)
    if treatment == "same_lr":
        return sgd
    step = optim.embedded_conv_step("features/0", IN_SHAPE, (cfg.kernel_size,),
                                    strides=CONV_STRIDE, padding="SAME")
    return optax.chain(step, sgd)


def relax_name(relax: int, treatment: str) -> str:
    """The arm's key: ``relax_R`` (``same_lr``, as before treatments existed) or
    ``relax_R_TREATMENT``."""
    return f"relax_{relax}" if treatment == "same_lr" else f"relax_{relax}_{treatment}"


def conv_distance_of(model: nnx.Module, cfg: ECNNConfig) -> float:
    """Relative distance of the model's first layer (as a dense matrix) to the conv
    subspace of the S-CONV geometry (k, stride 2, SAME)."""
    w, in_shape = models.first_layer_dense(model)
    return float(metrics.conv_distance(w, in_shape, cfg.kernel_size, strides=CONV_STRIDE,
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
    return float(PERCENT) * float(np.mean(pred == data["y_test"]))


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


# ----------------------------------------------------------------------------- checkpoints


def run_checkpoint_dir(options: RunOptions, run_name: str) -> str | None:
    """``OUT/checkpoints/ecnn/PRESET-RUN`` with ``--resume``, else ``None`` (no checkpoints)."""
    return options.checkpoint_dir(f"{options.preset}-{run_name}") if options.resume else None


def train_config(cfg: ECNNConfig, options: RunOptions, epochs: int,
                 run_name: str) -> TrainConfig:
    """The trainer settings shared by every run (``train_seeds`` sets each replica's seed);
    with ``--resume``, checkpoints every epoch in :func:`run_checkpoint_dir` and resumes."""
    ckpt = run_checkpoint_dir(options, run_name)
    extra = {} if ckpt is None else {"checkpoint_dir": ckpt, "resume": True,
                                     "checkpoint_every": 1}
    return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, devices=options.devices,
                       progress=options.progress, **extra)


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


def _percent(values) -> list[float]:
    return [PERCENT * a for a in values]


def _store_correct(per_seed: list[dict], models_: list[nnx.Module], data: dict) -> None:
    """Adds each seed's final per-example test correctness (eval mode) under
    :data:`experiments.harness.testnoise.KEY`."""
    for p, m in zip(per_seed, models_):
        p[CORRECT_KEY] = correct_record(correct_of(m, data["x_test"], data["y_test"]))


def train_cnn(cfg: ECNNConfig, data: dict, options: RunOptions,
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
    ckpt = run_checkpoint_dir(options, "cnn")
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

    cnns, res = train_seeds(make, optimizer(cfg), process_slice(data), seeds=seeds,
                            config=train_config(cfg, options, cfg.epochs, "cnn"),
                            callbacks=[snapshot])
    if folder is not None:
        for s in seeds:
            for r in sorted(relax - set(snapshots[s])):
                snapshots[s][r] = load_snapshot(cfg, folder, s, r)
    per_seed = [{"seed": s, "test_acc": PERCENT * r["final"]["test_acc"],
                 "curves": {"epoch": r["curves"]["epoch"],
                            "test_acc": _percent(r["curves"]["test_acc"])}}
                for s, r in zip(seeds, res["per_seed"])]
    _store_correct(per_seed, cnns, data)
    arm = {"per_seed": per_seed, "num_params": models.count_params(cnns[0]),
           "wall_time": res["wall_time"], "resumed_from": _resumed_from(res)}
    return _with_summaries(arm, ("test_acc",)), snapshots


def _embedded(cfg: ECNNConfig, data: dict, seeds: list[int], relax: int,
              cnns: dict[int, nnx.Module]) -> tuple[dict, list[dict]]:
    """Each seed's embedded FC net and its record at the embedding (curves start here)."""
    fcs, per_seed = {}, []
    for s in seeds:
        fcs[s], check = embed_checked(cnns[s], data, cfg)
        acc0 = test_accuracy(fcs[s], data)
        per_seed.append({"seed": s, "embedding": check, "test_acc_at_embedding": acc0,
                         "curves": {"epoch": [relax], "test_acc": [acc0],
                                    "conv_distance": [check["conv_distance_at_embedding"]]}})
    return fcs, per_seed


def relax_run(cfg: ECNNConfig, data: dict, options: RunOptions, seeds: list[int],
              relax: int, cnns: dict[int, nnx.Module], *, treatment: str = "same_lr") -> dict:
    """Embeds each seed's CNN snapshot of epoch ``relax`` and trains it in FC space to the
    end, with :func:`optimizer` of ``treatment``.

    Returns:
      ``{"relax_epoch", "treatment", "per_seed": [{"seed", "embedding", "test_acc_at_embedding",
      "test_acc", "final_conv_distance", "curves": {"epoch", "test_acc",
      "conv_distance"}}], "test_acc", "test_acc_at_embedding", "final_conv_distance"
      (summaries over seeds), "max_embedding_diff", "num_params", "wall_time",
      "resumed_from"}``.
    """
    t0 = time.perf_counter()
    fcs, per_seed = _embedded(cfg, data, seeds, relax, cnns)
    remaining, resumed_from = cfg.epochs - relax, None
    finals = [fcs[s] for s in seeds]
    if remaining > 0:
        finals, res = train_seeds(lambda s: fcs[s], optimizer(cfg, treatment), process_slice(data),
                             seeds=seeds,
                             config=train_config(cfg, options, remaining,
                                                 relax_name(relax, treatment)),
                             callbacks=[conv_distance_callback(cfg)])
        resumed_from = _resumed_from(res)
        for p, r in zip(per_seed, res["per_seed"]):
            cur = r["curves"]
            p["curves"]["epoch"] += [relax + e for e in cur["epoch"]]
            p["curves"]["test_acc"] += _percent(cur["test_acc"])
            p["curves"]["conv_distance"] += cur["conv_distance"]
    for p in per_seed:
        p["test_acc"] = p["curves"]["test_acc"][-1]
        p["final_conv_distance"] = p["curves"]["conv_distance"][-1]
    _store_correct(per_seed, finals, data)
    arm = {"relax_epoch": relax, "treatment": treatment, "per_seed": per_seed,
           "max_embedding_diff": max(max(p["embedding"]["max_abs_diff_eval"],
                                         p["embedding"]["max_abs_diff_train"])
                                     for p in per_seed),
           "num_params": models.count_params(fcs[seeds[0]]),
           "wall_time": time.perf_counter() - t0, "resumed_from": resumed_from}
    return _with_summaries(arm, ("test_acc", "test_acc_at_embedding", "final_conv_distance"))


def scratch_run(cfg: ECNNConfig, data: dict, options: RunOptions,
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

    fcs, res = train_seeds(make, optimizer(cfg), process_slice(data), seeds=seeds,
                           config=train_config(cfg, options, cfg.epochs, "fc_scratch"),
                           callbacks=[conv_distance_callback(cfg)])
    per_seed = []
    for s, r in zip(seeds, res["per_seed"]):
        cur = r["curves"]
        per_seed.append({"seed": s, "test_acc": PERCENT * r["final"]["test_acc"],
                         "final_conv_distance": cur["conv_distance"][-1],
                         "curves": {"epoch": [0] + cur["epoch"],
                                    "test_acc": [None] + _percent(cur["test_acc"]),
                                    "conv_distance": [d0[s]] + cur["conv_distance"]}})
    _store_correct(per_seed, fcs, data)
    arm = {"per_seed": per_seed, "num_params": models.count_params(fcs[0]),
           "wall_time": res["wall_time"], "resumed_from": _resumed_from(res)}
    return _with_summaries(arm, ("test_acc", "final_conv_distance"))


def resumed_arms(cnn: dict, relax: list[dict], scratch: dict) -> dict | None:
    """``{arm: epoch}`` of the arms restored from checkpoints (``None``: none was)."""
    arms = {"cnn": cnn, **{relax_name(r["relax_epoch"], r.get("treatment", "same_lr")): r
                           for r in relax},
            "fc_scratch": scratch}
    out = {k: a["resumed_from"] for k, a in arms.items() if a["resumed_from"] is not None}
    return out or None
