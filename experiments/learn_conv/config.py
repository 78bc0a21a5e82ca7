"""Presets of ``experiments.learn_conv`` (Neyshabur 2020: can an MLP learn to be a CNN?).

``paper`` is Neyshabur's CIFAR-10 S-FC setting: α = 150 (the S-FC has ≈ 256M weights),
batch 512, cosine learning rate from 0.1, 400 epochs, β-LASSO with β = 50 and the
λ grid {1e-6, 2e-6, 5e-6, 1e-5, 2e-5} searched separately for the first (conv-equivalent)
layer and for the later layers. Not reproduced: data augmentation and fp16.

``default`` is tuned for a 2-core CPU on MNIST-1D (4000 signals of length 40; a few
minutes). β-LASSO's λ is stated in the problem's own units, as on the digits and in
``experiments.sharing_emergence``: λ₁ = 1.0x the S-FC first layer's median
``|∂L/∂W₁|`` at initialisation (≈ 1.8e-3; later layers a quarter of it), the multiple
the rule of ``sharing_emergence`` picks (:func:`experiments.learn_conv.tables.lambda_rule`:
gates dead < 0.5, 0.4-1.6 windows of taps, calibrated locality >= 0.5; none met, so the
most taps among the λ that localise) from a λ map of this preset over {0.25, 0.5, 1, 1.5,
2, 3, 5}x (5 seeds; taps 26, 15, 6, 3, 2, 1.9, 3.8; dead 0, 0, 0, 0.02, 0.26, 0.77, 0.95;
calibrated locality 0.04, 0.09, 0.22, 0.33, 0.34, 0.49, 0.48)::

    python -m experiments.learn_conv --preset default --set "models=('s-fc-blasso',)" \
        --set "sweep=((0.25,0.0625),(0.5,0.125),(1.5,0.375),(2.0,0.5),(3.0,0.75),(5.0,1.25))"

The sweep keeps 0.5x, 2x and 5x, so every run re-checks the pick on its own points. β = 2
(the paper's 50 would put the threshold β·λ₁ at 58% of the initial weight scale): the
threshold is then 2.3% of ``std(W₁)`` ≈ 0.16, as the paper's 5e-4 is 2.8% of ≈ 0.018 for
a 3072-input layer; the cumulative shrinkage λ₁ Σ η is 2.7x ``std(W₁)`` (the paper ≈ 1x).
β-LASSO also uses a larger learning rate than SGD: it has no momentum (as in the paper),
SGD has momentum 0.9 (an effective step 10x its learning rate).

On the 2-D digits (``--dataset mnist`` or ``mnist_shuffled``) the default preset puts
β-LASSO in its own regime (:data:`DIGITS_REGIME`, :func:`presets_for`), as ``experiments.sharing_emergence`` sets it: β-LASSO keeps a weight only
where ``|∂L/∂w|`` can stand up to λ, so λ is stated in units of the first layer's median
gradient at initialisation (0.8x, the multiple sharing_emergence's λ map picked on the
14x14 digits; sweep 0.6x and 1.0x; later layers a quarter of it), β = 50 as in the
paper, and Σ η large enough that the cumulative shrinkage λ Σ η reaches the initial
weight scale ``std(W₁)`` (both are recorded in the results under ``regime``). The
default preset's absolute λ₁ = 3e-3 is ~14x that gradient scale on the digits, which
kills 96% of the first-layer units.
"""

from __future__ import annotations

import dataclasses
import itertools

from jaxcnn.validation import error

from experiments.harness import datasets, nets
from experiments.harness.config import PresetConfig

#: Every model this study knows, in table order: key -> (architecture, optimizer)
#: (:data:`experiments.harness.nets.MODELS`).
MODELS: dict[str, tuple[str, str]] = dict(nets.MODELS)

#: Table labels.
LABELS: dict[str, str] = {
    "s-conv": "S-CONV (SGD)",
    "s-local": "S-LOCAL (SGD)",
    "s-fc": "S-FC (SGD)",
    "s-fc-blasso": "S-FC (β-LASSO)",
    "s-fc-blasso-b0": "S-FC (β-LASSO, β=0)",
    "3-fc": "3-FC (SGD)",
}

#: First-layer kernel size per dataset when the preset does not fix one
#: (:data:`experiments.harness.datasets.KERNEL_SIZES`).
KERNEL_SIZES: dict[str, int] = dict(datasets.KERNEL_SIZES)

PAPER_LAMBDAS = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5)


@dataclasses.dataclass(frozen=True)
class LearnConvConfig(PresetConfig):
    """Settings of one ``learn_conv`` run.

    Attributes:
      models: keys of :data:`MODELS` to train, in table order.
      alpha: channel multiplier α of the S-* models (first layer: α channels at stride 2).
      kernel_size: first-layer window (S-CONV / S-LOCAL kernel, and the locality window of
        the metrics); ``None``: :data:`KERNEL_SIZES` of the dataset.
      epochs: passes over the training set (every model).
      batch_size: training batch size.
      lr: initial learning rate of SGD (cosine decay to 0).
      momentum: SGD momentum.
      blasso_lr: initial learning rate of β-LASSO (cosine decay to 0; no momentum).
      beta: β, the threshold multiplier (threshold β·λ).
      l1_first: λ of the first layer's weights (the layer that can become a conv).
      l1_rest: λ of the later layers' weights (biases and BatchNorm: λ = 0).
      l1_scale: the unit of ``l1_first``, ``l1_rest`` and ``sweep``: ``"absolute"``, or
        ``"gradient"``, multiples of the S-FC first layer's median ``|∂L/∂W₁|`` at
        initialisation (measured on seed 0's S-FC before training,
        :func:`experiments.harness.regime.gradient_scale`; the absolute λ and the
        cumulative shrinkage ``λ Σ η`` against ``std(W₁)`` go into the results).
      sweep: extra ``(l1_first, l1_rest)`` pairs for S-FC β-LASSO (a λ sweep: more
        points of test accuracy vs non-zeros); the main pair is not repeated.
      num_train: training examples (a random subset; ``None``: all).
      num_test: test examples (a random subset; ``None``: all).
      nlgp_shape: input shape of ``--dataset nlgp`` (``(D,)`` or ``(H, W)``), unless
        ``--nlgp-shape`` is given.
      nlgp_num_train: NLGP training examples (NLGP is sampled, so this sets its size).
      nlgp_num_test: NLGP test examples.
      units_shown: first-layer units per model in the receptive-field figure.
      checkpoint_every: checkpoint period in epochs when checkpointing.
      checkpoint: always checkpoint (else only with ``--resume``).
      datasets: datasets this preset supports (``None``: all).
      seeds: seeds per model (``--seeds`` overrides); all replicas of a model train
        together in one compiled program (:func:`jaxcnn.train.train_seeds`).
      max_replicas: at most this many seeds per compiled program (``None``: all).
    """

    models: tuple[str, ...] = ("s-conv", "s-local", "s-fc", "s-fc-blasso", "3-fc")
    alpha: int = 16
    kernel_size: int | None = None
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    blasso_lr: float = 0.5
    beta: float = 2.0
    l1_first: float = 1.0
    l1_rest: float = 0.25
    l1_scale: str = "gradient"
    sweep: tuple[tuple[float, float], ...] = ((0.5, 0.125), (2.0, 0.5), (5.0, 1.25))
    num_train: int | None = None
    num_test: int | None = None
    nlgp_shape: tuple[int, ...] = (20, 20)
    nlgp_num_train: int = 4000
    nlgp_num_test: int = 1000
    units_shown: int = 32
    checkpoint_every: int = 10
    checkpoint: bool = False
    datasets: tuple[str, ...] | None = None
    seeds: int = 5
    max_replicas: int | None = None

    MODELS = MODELS
    POSITIVE_INTS = ("alpha", "epochs", "batch_size", "units_shown", "checkpoint_every",
                     "nlgp_num_train", "nlgp_num_test", "seeds")
    NONNEGATIVE_FLOATS = ("lr", "blasso_lr", "beta", "l1_first", "l1_rest", "momentum")
    L1_SCALES = ("absolute", "gradient")

    def check_fields(self) -> None:
        if self.l1_scale not in self.L1_SCALES:
            raise error("l1_scale", f"one of {list(self.L1_SCALES)}", self.l1_scale)


PRESETS: dict[str, LearnConvConfig] = {
    "smoke": LearnConvConfig(models=("s-conv", "s-local", "s-fc-blasso"), alpha=2, epochs=2,
                             batch_size=64, num_train=512, num_test=256,
                             sweep=(), nlgp_shape=(8, 8), nlgp_num_train=512,
                             nlgp_num_test=256, units_shown=8, seeds=2),
    "default": LearnConvConfig(),
    "paper": LearnConvConfig(
        models=("s-conv", "s-local", "s-fc", "s-fc-blasso-b0", "s-fc-blasso", "3-fc"),
        alpha=150, kernel_size=9, epochs=400, batch_size=512, lr=0.1, momentum=0.9,
        blasso_lr=0.1, beta=50.0, l1_first=1e-5, l1_rest=1e-5, l1_scale="absolute",
        sweep=tuple(p for p in itertools.product(PAPER_LAMBDAS, PAPER_LAMBDAS)
                    if p != (1e-5, 1e-5)),
        units_shown=64, checkpoint_every=10, checkpoint=True, datasets=("cifar10",),
        seeds=10, max_replicas=2),
}


#: What the default preset changes on the 2-D digits (see the module doc).
DIGITS_REGIME = dict(blasso_lr=0.5, beta=50.0, l1_scale="gradient", l1_first=0.8,
                     l1_rest=0.2, sweep=((0.6, 0.15), (1.0, 0.25)))
#: The datasets :data:`DIGITS_REGIME` applies to.
DIGITS = ("mnist", "mnist_shuffled")


def presets_for(dataset: str | None) -> dict[str, LearnConvConfig]:
    """:data:`PRESETS` for ``dataset``: on the 2-D digits the default preset is in
    β-LASSO's gradient-unit regime (:data:`DIGITS_REGIME`)."""
    if dataset not in DIGITS:
        return PRESETS
    return {**PRESETS, "default": dataclasses.replace(PRESETS["default"], **DIGITS_REGIME)}
