"""Presets of ``experiments.ecnn`` (d'Ascoli, Sagun, Biroli, Bruna 2019: the eCNN).

An S-CONV (one conv layer k=9, alpha channels, stride 2, SAME, BN, ReLU -> FC(24 alpha)
-> FC(10)) on MNIST-1D is embedded exactly into its S-FC at several relax epochs and
trained on in FC space for the rest of the budget. Every run uses SGD with momentum and
a constant learning rate, with a fresh momentum buffer after the embedding; the FC phase
runs under each of :data:`TREATMENTS`:

* ``"same_lr"``: the same learning rate before and after the embedding. In FC space the
  gradient step along the conv subspace is ``(η / P) dL/dk`` for a tap read at ``P``
  positions (``P`` ≈ 20 here), so the convolutional part trains ~``P`` times slower
  than it did as a CNN.
* ``"conv_step"``: the first layer's gradient rescaled by
  :func:`jaxcnn.optim.embedded_conv_step`, so its conv component is the CNN's own
  gradient (the same effective step as before the embedding) and the component
  orthogonal to the conv subspace keeps the plain step.

What d'Ascoli et al. do at the embedding (learning rate, optimizer state) could not be
read here: the stored copies of the paper hold its abstract only, which says "resuming
the training in FCN space" and nothing about the step. ``"same_lr"`` is that phrase
read literally; ``"conv_step"`` removes the ``1/P`` slow-down it implies.
"""

from __future__ import annotations

import dataclasses

from jaxcnn.validation import error

from experiments.harness.config import PresetConfig

#: The datasets the S-CONV geometry fits.
DATASETS = ("mnist1d", "mnist1d_shuffled")
#: How the FC phase after the embedding steps (module docstring).
TREATMENTS = ("same_lr", "conv_step")


@dataclasses.dataclass(frozen=True)
class ECNNConfig(PresetConfig):
    """Settings of the eCNN experiment.

    Attributes:
      dataset: ``"mnist1d"`` or ``"mnist1d_shuffled"``.
      alpha: S-CONV channels (the S-FC first layer is ``40 x 20 alpha``).
      kernel_size: conv window (9, Neyshabur's S-CONV).
      epochs: total budget (CNN epochs + FC epochs) of every run.
      relax_epochs: epochs at which the CNN is embedded (0: an FC net initialised as an
        embedded random CNN; ``epochs``: the trained CNN itself).
      batch_size: training batch size.
      learning_rate: SGD learning rate (constant).
      momentum: SGD momentum.
      num_samples: MNIST-1D generator size (``None``: the standard 5000); smoke only.
      treatments: the FC-phase treatments run at every relax epoch (:data:`TREATMENTS`).
      seeds: number of seeds (``--seeds`` overrides): every arm (CNN, each relax epoch
        and treatment, FC from scratch) is trained once per seed, all seeds of an arm in
        one vmapped program, and every number is reported as mean ± std over seeds.
    """

    dataset: str = "mnist1d"
    alpha: int = 8
    kernel_size: int = 9
    epochs: int = 40
    relax_epochs: tuple[int, ...] = (0, 2, 5, 10, 20, 40)
    batch_size: int = 100
    learning_rate: float = 0.02
    momentum: float = 0.9
    num_samples: int | None = None
    treatments: tuple[str, ...] = TREATMENTS
    seeds: int = 5

    POSITIVE_INTS = ("alpha", "kernel_size", "batch_size", "seeds")
    NONNEGATIVE_FLOATS = ("learning_rate", "momentum")
    POSITIVE_INTS_OR_NONE = ("num_samples",)

    def check_fields(self) -> None:
        """``dataset`` one of :data:`DATASETS`, ``epochs >= 1``, every relax epoch in
        ``[0, epochs]`` (a ``--set`` that breaks one names itself, e.g. ``--set
        epochs=-3: epochs: expected an int >= 1, got -3``)."""
        if self.dataset not in DATASETS:
            raise error("dataset", " or ".join(DATASETS), self.dataset)
        if int(self.epochs) < 1:  # before relax_epochs, whose range it sets
            raise error("epochs", "an int >= 1", self.epochs)
        bad = [r for r in self.relax_epochs if not 0 <= r <= self.epochs]
        if bad:
            raise error("relax_epochs", f"values in [0, {self.epochs}]", bad)
        if not self.treatments or any(t not in TREATMENTS for t in self.treatments):
            raise error("treatments", f"a non-empty tuple of {TREATMENTS}", self.treatments)


PRESETS = {
    "smoke": ECNNConfig(alpha=2, epochs=2, relax_epochs=(0, 2), num_samples=1000,
                        seeds=2),
    "default": ECNNConfig(),
    "paper": ECNNConfig(alpha=32, epochs=200, relax_epochs=(0, 5, 10, 20, 50, 100, 200),
                        seeds=10),
}
