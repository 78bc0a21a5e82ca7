"""Does weight sharing emerge? A sparse FC net, translated digits, scores with power.

    python -m experiments.sharing_emergence --preset default     # 14x14 digits, CPU
    python -m experiments.sharing_emergence --preset paper       # 28x28 digits, one GPU

Protocol (``OUT/sharing_emergence.json``; tables and criterion:
:mod:`experiments.sharing_emergence.tables`):

1. **Regime** (:mod:`~experiments.sharing_emergence.regime`): the first layer's gradient
   scale at initialisation; a λ map of S-FC β-LASSO (seed 0, no augmentation) over λ in
   multiples of the median ``|∂L/∂W₁|``; the dose study's λ picked by a stated rule with
   gates on dead units, taps per live unit and calibrated locality.
2. **Dose study**: S-FC β-LASSO, S-FC SGD, S-LOCAL SGD and S-CONV SGD, each trained with
   random translations of up to ``s`` pixels for every ``s`` of ``shifts`` (the trainer's
   on-device augmentation, :func:`jaxcnn.data.augment.random_translate`, zeros shifted
   in), all seeds of a run together (:func:`jaxcnn.train.train_seeds`). For each seed the
   initialisation and the batch order are the same at every ``s``, so differences
   between doses are paired. **Negative control**: S-FC β-LASSO on pixel-shuffled digits,
   translated before the fixed permutation (``control_shifts``).
3. **Measures** per seed (:mod:`~experiments.sharing_emergence.measure`): test accuracy on
   the test digits (and which of them it gets right, packed:
   :mod:`experiments.harness.testnoise`) and on a once-translated copy (``test_shift``);
   the first layer's census, calibrated locality, the unclipped sharing score with its
   power at the observed sparsity, translation equivariance; the SGD models also on
   ``W − W₀``.
4. **Paired comparisons** (95% t intervals over seeds, Holm within the family; for test
   accuracy also the interval over seeds and test examples) and the criterion written
   before the run (the README states it).

Figures (drawn from the results JSON, :mod:`~experiments.sharing_emergence.figures`):
sharing and equivariance vs shift per model, first-layer units of β-LASSO at the
smallest and largest shift, the power curve.
"""

from __future__ import annotations

import dataclasses
import time

import jax
from flax import nnx

from jaxcnn import metrics, models
from jaxcnn.train import TrainConfig, steps_per_epoch, train_seeds

from experiments.harness.cache import enable_compilation_cache
from experiments.harness.cli import RunOptions, experiment_main
from experiments.harness.measures import shown_units_record
from experiments.harness.nets import make_optimizer, model_factory
from experiments.harness.outputs import checkpoint_config, publish
from experiments.harness.testnoise import KEY, correct_of, correct_record
from experiments.sharing_emergence import figures, regime, tables
from experiments.sharing_emergence.config import LABELS, MODELS, PRESETS
from experiments.sharing_emergence.data import augmenter, load_digits, shifted_test
from experiments.sharing_emergence.measure import model_measures

NAME = "sharing_emergence"
#: Planted fractions of the power curve.
POWER_CURVE_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
MEASURE_FOLD = 11


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of the dose study: a model, a dose, aligned or shuffled pixels."""

    key: str
    shift: int
    shuffled: bool = False

    @property
    def run_name(self) -> str:
        return f"{self.key}-s{self.shift}" + ("-shuffled" if self.shuffled else "")

    @property
    def label(self) -> str:
        return LABELS[self.key] + (" shuffled" if self.shuffled else "")


def run_specs(cfg) -> list[RunSpec]:
    """Every model at every shift, then the shuffled control."""
    sgd_shifts = cfg.shifts if cfg.sgd_shifts is None else cfg.sgd_shifts
    specs = []
    for shift in sorted(set(cfg.shifts) | set(sgd_shifts)):
        for key in cfg.models:
            doses = cfg.shifts if key == "s-fc-blasso" else sgd_shifts
            if shift in doses:
                specs.append(RunSpec(key, shift))
    return specs + [RunSpec("s-fc-blasso", shift, True) for shift in cfg.control_shifts]


@dataclasses.dataclass
class Setting:
    """What every run of one invocation shares."""

    options: RunOptions
    cfg: object
    seeds: list[int]
    data: dict
    shuffled: dict
    lam: float = 0.0

    def data_for(self, spec: RunSpec) -> dict:
        return self.shuffled if spec.shuffled else self.data

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.data["x_train"].shape[1:])

    @property
    def window(self) -> tuple[int, ...]:
        return (self.cfg.kernel_size,) * (len(self.in_shape) - 1)

    def total_steps(self) -> int:
        n = steps_per_epoch(len(self.data["y_train"]), batch_size=self.cfg.batch_size)
        return self.cfg.epochs * n


def _model_factory(spec: RunSpec, setting: Setting):
    arch, _ = MODELS[spec.key]
    return model_factory(arch, setting.in_shape, 10, alpha=setting.cfg.alpha,
                         kernel_size=setting.cfg.kernel_size)


def measure_seeds(spec: RunSpec, setting: Setting, make, trained, res) -> list[dict]:
    """Per-seed measurements of one run's trained replicas, each with its per-example
    correctness on the (untranslated) test digits, packed under
    :data:`experiments.harness.testnoise.KEY` (``test_acc``'s intervals over seeds and
    test examples)."""
    cfg, data = setting.cfg, setting.data_for(spec)
    sgd = MODELS[spec.key][1] == "sgd"
    x_shifted = shifted_test(data, cfg.test_shift, shuffled=spec.shuffled, side=cfg.side)
    out = []
    for seed, model, r in zip(setting.seeds, trained, res["per_seed"]):
        m = model_measures(model, make(seed) if sgd else None, window=setting.window,
                           key=jax.random.fold_in(jax.random.key(seed), MEASURE_FOLD),
                           probe=data["x_test"][:cfg.probe_examples], x_shifted=x_shifted,
                           y_test=data["y_test"], equivariance_shifts=cfg.equivariance_shifts,
                           power_fraction=cfg.power_fraction)
        correct = correct_of(model, data["x_test"], data["y_test"])
        out.append({"seed": seed, "test_acc": float(r["final"]["test_acc"]),
                    "train_acc": float(r["final"]["train_acc"]), KEY: correct_record(correct),
                    **m})
    return out


def power_curve(model: nnx.Module, setting: Setting) -> dict:
    """The sharing score's detection rate and mean score vs planted fraction, at the
    sparsity of ``model``'s first layer."""
    w, in_shape = models.first_layer_dense(model)
    p = metrics.sharing_power(w, in_shape, setting.window,
                              fractions=POWER_CURVE_FRACTIONS, key=jax.random.key(5))
    return {"fractions": list(POWER_CURVE_FRACTIONS),
            "detection": [float(v) for v in p.detection],
            "mean_score": [float(v) for v in p.mean_score]}


def train_run(spec: RunSpec, setting: Setting) -> dict:
    """Trains (all seeds together) and measures one run; returns its JSON entry."""
    cfg, options = setting.cfg, setting.options
    make = _model_factory(spec, setting)
    probe = make(setting.seeds[0])
    opt = MODELS[spec.key][1]
    tx, opt_desc = make_optimizer(opt, cfg, total_steps=setting.total_steps(), model=probe,
                                  l1_first=setting.lam, l1_rest=setting.lam * cfg.l1_rest_ratio)
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=setting.seeds[0],
                       devices=options.devices, progress=options.progress,
                       **checkpoint_config(options, cfg, spec.run_name))
    t0 = time.perf_counter()
    trained, res = train_seeds(make, tx, setting.data_for(spec), seeds=setting.seeds,
                               config=tcfg,
                               augment=augmenter(spec.shift, shuffled=spec.shuffled,
                                                 side=cfg.side))
    train_seconds = time.perf_counter() - t0
    per_seed = measure_seeds(spec, setting, make, trained, res)
    entry = {"key": spec.key, "label": spec.label, "run_name": spec.run_name,
             "shift": spec.shift, "shuffled": spec.shuffled, "optimizer": opt_desc,
             "parameters": models.count_params(probe), "seeds": setting.seeds,
             "per_seed": per_seed, "stats": tables.summarize_seeds(per_seed),
             "wall_time": time.perf_counter() - t0, "train_seconds": train_seconds,
             "device": res["per_seed"][0]["device"]}
    if spec.key == "s-fc-blasso" and not spec.shuffled and spec.shift in (
            min(cfg.shifts), max(cfg.shifts)):
        entry["power_curve"] = power_curve(trained[0], setting)
        entry["shown_units"] = shown_units_record(trained[0], cfg.units_shown)
    return entry


def choose_regime(setting: Setting) -> dict:
    """The gradient scale, the λ map and the chosen λ (sets ``setting.lam``)."""
    make = _model_factory(RunSpec("s-fc-blasso", 0), setting)
    grad = regime.gradient_scale(make(0), setting.data)
    print(f"gradient scale at init: median |dL/dW1| {grad['median']:.3g}, "
          f"init std(W1) {grad['init_std']:.3g}; λ map ({len(setting.cfg.lambda_grid)} runs)",
          flush=True)
    rows = regime.lambda_map(make, setting.data, setting.cfg, grad_median=grad["median"],
                             progress=setting.options.progress)
    choice = regime.choose_lambda(rows, setting.cfg)
    setting.lam = choice["lambda"]
    print(f"chosen λ1 = {choice['lambda']:.3g} ({choice['multiple']:g} x gradient): "
          f"{choice['rule']}", flush=True)
    return {"gradient": grad, "map": rows, "choice": choice}


def run(options: RunOptions) -> dict:
    """Runs the study for validated ``options``; returns the results dict."""
    t_start = time.perf_counter()
    cfg, overrides = options.preset_config(PRESETS)
    setting = Setting(options, cfg, options.seed_list(cfg.seeds),
                      load_digits(cfg.side), load_digits(cfg.side, shuffled=True))
    specs = run_specs(cfg)
    print(f"sharing_emergence: digits {setting.in_shape}, alpha={cfg.alpha}, window "
          f"{cfg.kernel_size}, {cfg.epochs} epochs, {len(specs)} runs x "
          f"{len(setting.seeds)} seeds", flush=True)
    results = {"experiment": NAME, "preset": options.preset, "seed": options.seed,
               "seeds": setting.seeds, "overrides": overrides,
               "config": {**dataclasses.asdict(cfg), "in_shape": list(setting.in_shape),
                          "compilation_cache": enable_compilation_cache()},
               "regime": choose_regime(setting), "runs": [], "figures": []}
    for i, spec in enumerate(specs):
        entry = train_run(spec, setting)
        results["runs"].append(entry)
        print(f"[{i + 1}/{len(specs)}] {tables.run_line(entry)} ({entry['wall_time']:.1f}s)",
              flush=True)
    results["comparisons"] = tables.comparisons(results["runs"], cfg)
    results["criterion"] = tables.criterion(results, cfg)
    results["wall_time"] = time.perf_counter() - t_start
    publish(options, results, NAME, seeds=setting.seeds, show=tables.print_summary,
            draw=figures.draw)
    return results


main = experiment_main(run, NAME, __doc__)

if __name__ == "__main__":
    main()
