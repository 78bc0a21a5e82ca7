"""Presets of ``experiments.sample_efficiency`` (test accuracy vs training-set size).

Every run takes the same number of optimizer steps (``epochs`` passes over the largest
training set): smaller sets are repeated to that size, so all runs of one model have the
same shapes and share one compilation. β-LASSO: λ₁ = 3e-3 (absolute), which at α = 8 is
≈ 1.2x the S-FC first layer's median ``|∂L/∂W₁|`` at initialisation on the full training
set (2.5e-3, measured with :func:`experiments.harness.regime.gradient_scale`) — between
the 1x that ``experiments.learn_conv``'s λ map picks on MNIST-1D and the 1.5x where its
units are still alive (see its config's docstring); β = 2 puts the threshold β·λ₁ at
3.8% of ``std(W₁)`` ≈ 0.16 (the paper: 2.8%).
"""

from __future__ import annotations

import dataclasses

from jaxcnn.validation import error

from experiments.harness import nets
from experiments.harness.config import PresetConfig

#: Models of the comparison: key -> (architecture, optimizer); labels in ``LABELS``.
MODELS: dict[str, tuple[str, str]] = {
    k: nets.MODELS[k] for k in ("s-conv", "s-local", "s-fc", "s-fc-blasso", "3-fc")}

LABELS: dict[str, str] = {
    "s-conv": "CNN (S-CONV)",
    "s-local": "LCN (S-LOCAL)",
    "s-fc": "FC (S-FC, SGD)",
    "s-fc-blasso": "FC (S-FC, β-LASSO)",
    "3-fc": "FC (3-FC, SGD)",
}


@dataclasses.dataclass(frozen=True)
class SampleEfficiencyConfig(PresetConfig):
    """Settings of a sample-efficiency sweep.

    Attributes:
      sizes: training-set sizes (nested random subsets of the training split); sizes
        above the split's size are dropped with a message.
      models: keys of :data:`MODELS`.
      shuffled: also run with one fixed permutation of the input positions (the
        permutation-invariant benchmark; for MNIST-1D exactly ``mnist1d_shuffled``).
      seeds: repetitions (initialisation and batch order; all seeds of a point train
        together). The nested training subsets are drawn once (from ``--seed``) and
        shared by every seed and model, so comparisons at one n are paired.
      alpha: channel multiplier of the S-* models.
      kernel_size: first-layer window (``None``: ``learn_conv``'s per-dataset default).
      epochs: passes over the largest training set; every run takes
        ``epochs * (max(sizes) // batch_size)`` steps.
      batch_size: training batch size.
      lr, momentum: SGD (cosine learning rate).
      blasso_lr, beta, l1_first, l1_rest: β-LASSO (cosine learning rate, no momentum).
      num_test: test examples (``None``: all).
      checkpoint_every: checkpoint period (epochs) with ``--resume``.
      checkpoint: always checkpoint (else only with ``--resume``).
    """

    sizes: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    models: tuple[str, ...] = ("s-conv", "s-local", "s-fc", "s-fc-blasso")
    shuffled: bool = True
    seeds: int = 5
    alpha: int = 8
    kernel_size: int | None = None
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    blasso_lr: float = 0.5
    beta: float = 2.0
    l1_first: float = 3e-3
    l1_rest: float = 5e-4
    num_test: int | None = None
    checkpoint_every: int = 5
    checkpoint: bool = False

    MODELS = MODELS
    POSITIVE_INTS = ("seeds", "alpha", "epochs", "batch_size", "checkpoint_every")

    def check_fields(self) -> None:
        """``sizes``: a non-empty tuple of ints ``>= 1``."""
        if not self.sizes or min(self.sizes) < 1:
            raise error("sizes", "positive ints", self.sizes)


PRESETS: dict[str, SampleEfficiencyConfig] = {
    "smoke": SampleEfficiencyConfig(sizes=(128, 256), alpha=2, epochs=2, batch_size=64,
                                    num_test=256, seeds=2),
    "default": SampleEfficiencyConfig(),
    "paper": SampleEfficiencyConfig(sizes=(250, 500, 1000, 2000, 4000), seeds=10, alpha=16,
                                    epochs=100, models=tuple(MODELS), checkpoint=True),
}
