"""Presets of ``experiments.sharing_emergence``.

The regime follows Neyshabur 2020's β-LASSO (β = 50, cosine learning rate from 0.1, no
momentum) with λ chosen **in units of the problem's own gradient scale**: the λ grid is
``lambda_grid`` times the median ``|∂L/∂W₁|`` of the first layer at initialisation,
measured at the start of every run, and the λ of the dose study is picked from the map
those values give (:mod:`experiments.sharing_emergence.regime`). Training is long enough
that the cumulative shrinkage ``λ Σ η`` reaches the first layer's initial weight scale
(the paper: ≈ 1x), which the results record.

Departures from the paper, and why:

* ``default``: the 5,000 real digits mean-pooled to 14x14 (a 4x smaller first layer, so
  that 5 seeds of the whole grid fit in ~15 CPU minutes), α = 8, a 5x5 window (the 14x14
  analogue of 9x9 on 28x28), 150 epochs, and shifts {0, 2, 4} (the 14x14 analogues of
  {0, 4, 8} pixels at 28x28), the SGD models at {0, 4} only (their runs cost as much as
  β-LASSO's; the paired comparisons with them are at those doses). No other
  augmentation; float32.
* ``paper``: the digits at 28x28, α = 16, 9x9 windows, 400 epochs, shifts {0, 1, 2, 4, 8},
  10 seeds — sized for one GPU, not run on the CPU. Estimate until it is measured on
  one: 22 runs (β-LASSO and the three SGD models at 5 doses, 2 controls) of 10 seeds,
  each seed 1.6M training examples (4,000 x 400 epochs) at ≈ 1.2-3.7M multiply-adds
  forward (S-CONV / S-LOCAL / S-FC), so ≈ 6 x 2.5M x 1.6M x 220 ≈ 5e15 FLOP; at 10-15
  TFLOP/s sustained (float32, the seeds of a run vmapped into one program) that is 6-8
  minutes of training on one H200; the 22 x 12,800 = 282k steps take 4.7 minutes if
  a step takes 1 ms. The λ map (4 runs of seed 0) and the metrics come on top.
* ``smoke``: a few seconds, for CI; it checks the code, not the science.
"""

from __future__ import annotations

import dataclasses

from experiments.harness.config import PresetConfig
from jaxcnn.validation import error

__all__ = ["LABELS", "MODELS", "PRESETS", "SharingEmergenceConfig"]

#: Every model of the study, in table order: key -> (architecture, optimizer).
MODELS: dict[str, tuple[str, str]] = {
    "s-fc-blasso": ("s-fc", "blasso"),
    "s-fc": ("s-fc", "sgd"),
    "s-local": ("s-local", "sgd"),
    "s-conv": ("s-conv", "sgd"),
}

#: Table labels.
LABELS: dict[str, str] = {
    "s-fc-blasso": "S-FC (β-LASSO)",
    "s-fc": "S-FC (SGD)",
    "s-local": "S-LOCAL (SGD)",
    "s-conv": "S-CONV (SGD)",
}


@dataclasses.dataclass(frozen=True)
class SharingEmergenceConfig(PresetConfig):
    """Settings of one ``sharing_emergence`` run.

    Attributes:
      models: keys of :data:`MODELS` trained at every shift, in table order.
      side: the digits are mean-pooled to ``side x side`` (28: the original images;
        must divide 28).
      alpha: channel multiplier α of the S-* models (first layer: α channels at stride 2).
      kernel_size: first-layer window of S-CONV / S-LOCAL and of every metric.
      epochs: passes over the 4,000 training digits (every run).
      batch_size: training batch size.
      lr: initial SGD learning rate (cosine to 0).
      momentum: SGD momentum.
      blasso_lr: initial β-LASSO learning rate (cosine to 0; no momentum).
      beta: β, the threshold multiplier (threshold β·λ).
      lambda_grid: the λ map's first-layer λ, as multiples of the median first-layer
        ``|∂L/∂W₁|`` at initialisation.
      l1_rest_ratio: the later layers' λ as a fraction of the first layer's.
      map_fractions: fractions of training at which the λ map takes its census.
      min_taps, max_taps: the gate on the median taps per live unit.
      max_dead: the gate on the fraction of dead first-layer units.
      min_locality: the gate on the calibrated locality.
      shifts: the translation doses (pixels, uniform in [-s, s] per spatial dim) of
        S-FC β-LASSO.
      sgd_shifts: the doses of the SGD models (``None``: ``shifts``).
      control_shifts: doses of the pixel-shuffled negative control (S-FC β-LASSO).
      test_shift: the shift of the shifted test set (same for every model and dose).
      equivariance_shifts: shifts of :func:`jaxcnn.metrics.translation_equivariance`
        (even: the S-* first layers have stride 2, so a convolution maps a shift by 2
        pixels, not 1, to a shift of its output positions).
      power_fraction: planted shared fraction whose detection rate is "the power".
      criterion_shift: the criterion reads the doses ``s >= criterion_shift`` (4 pixels
        at 28x28; its 14x14 analogue 2).
      probe_examples: test digits fed to the equivariance test.
      units_shown: first-layer units per model in the receptive-field figure.
      seeds: seeds per run (``--seeds`` overrides).
      checkpoint: always checkpoint the dose study's runs (else only with ``--resume``).
      checkpoint_every: checkpoint period in epochs when checkpointing.
    """

    models: tuple[str, ...] = ("s-fc-blasso", "s-fc", "s-local", "s-conv")
    side: int = 14
    alpha: int = 8
    kernel_size: int = 5
    epochs: int = 150
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    blasso_lr: float = 0.1
    beta: float = 50.0
    lambda_grid: tuple[float, ...] = (0.4, 0.6, 0.8, 1.0)
    l1_rest_ratio: float = 0.25
    map_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    min_taps: int = 10
    max_taps: int = 40
    max_dead: float = 0.5
    min_locality: float = 0.5
    shifts: tuple[int, ...] = (0, 2, 4)
    sgd_shifts: tuple[int, ...] | None = (0, 4)
    control_shifts: tuple[int, ...] = (0, 4)
    test_shift: int = 2
    equivariance_shifts: tuple[int, ...] = (2, 4)
    power_fraction: float = 0.25
    criterion_shift: int = 2
    probe_examples: int = 256
    units_shown: int = 24
    seeds: int = 5
    checkpoint: bool = False
    checkpoint_every: int = 25

    MODELS = MODELS
    POSITIVE_INTS = ("side", "alpha", "kernel_size", "epochs", "batch_size", "min_taps",
                     "max_taps", "probe_examples", "units_shown", "seeds", "criterion_shift",
                     "checkpoint_every")
    NONNEGATIVE_FLOATS = ("lr", "momentum", "blasso_lr", "beta", "l1_rest_ratio", "max_dead",
                          "min_locality", "power_fraction")

    def check_fields(self) -> None:
        if 28 % int(self.side):
            raise error("side", "a divisor of 28 (7, 14 or 28)", self.side)
        if not self.lambda_grid or min(self.lambda_grid) <= 0:
            raise error("lambda_grid", "positive multiples of the gradient scale",
                        self.lambda_grid)
        for name in ("shifts", "sgd_shifts", "control_shifts"):
            values = getattr(self, name) or ()
            if values and (0 not in values or min(values) < 0 or max(values) >= self.side):
                raise error(name, f"shifts in [0, {self.side - 1}] including 0", values)
        if not self.shifts:
            raise error("shifts", "at least the shift 0", self.shifts)
        if not all(0 < f <= 1 for f in self.map_fractions) or not self.map_fractions:
            raise error("map_fractions", "fractions in (0, 1]", self.map_fractions)


PRESETS: dict[str, SharingEmergenceConfig] = {
    "smoke": SharingEmergenceConfig(models=("s-fc-blasso", "s-conv"), side=7, alpha=2,
                                    kernel_size=3, epochs=2, batch_size=256,
                                    lambda_grid=(1.0,), map_fractions=(1.0,),
                                    shifts=(0, 1), sgd_shifts=(0, 1), control_shifts=(0, 1),
                                    test_shift=1,
                                    equivariance_shifts=(2,), probe_examples=64,
                                    criterion_shift=1,
                                    units_shown=8, seeds=2),
    "default": SharingEmergenceConfig(),
    "paper": SharingEmergenceConfig(side=28, alpha=16, kernel_size=9, epochs=400,
                                    lambda_grid=(0.25, 0.5, 1.0, 2.0),
                                    shifts=(0, 1, 2, 4, 8), sgd_shifts=None,
                                    control_shifts=(0, 8),
                                    test_shift=4, equivariance_shifts=(2, 4, 8),
                                    criterion_shift=4,
                                    probe_examples=512, units_shown=32, seeds=10),
}
