"""Presets of ``experiments.nlgp_localization`` (Ingrosso & Goldt 2022, PNAS).

Time is measured as in the paper: ``t = samples seen / D``; with one sample per step
(the paper's online SGD) that is ``steps / D``. The paper's headline run has
``D = 400`` (20x20), ``t = 10^2 -> 10^4``, lr 0.05; ``paper`` matches it, ``default``
is a 1-D ring scaled to a few CPU minutes.
"""

from __future__ import annotations

import dataclasses

from jaxcnn.validation import error

from experiments.harness.config import PresetConfig

#: Shapes the NLGP sampler handles: a ring ``(D,)`` or a torus ``(H, W)``.
INPUT_RANKS = (1, 2)
#: Readouts of the two-layer net.
READOUTS = ("learned", "fixed")


@dataclasses.dataclass(frozen=True)
class NLGPConfig(PresetConfig):
    """One NLGP-vs-GP localization run and a gain sweep.

    Attributes:
      shape: ``(D,)`` (ring) or ``(H, W)`` (torus).
      xi: correlation lengths ``(xi_0, xi_1)`` of the two classes (labels -1 / +1).
      gain: NLGP gain ``g`` of the main run.
      hidden: ``K``, hidden erf units of the two-layer net.
      readout: ``"fixed"`` (committee machine ``yhat = (1/K) sum_k g(.)``, only the first
        layer learns; the reference code's default "mf" mode) or ``"learned"``.
      use_bias: hidden biases ``b_k`` (needed: both classes are symmetric under
        ``x -> -x`` and the label is even, so a bias-free erf network -- an odd function
        of ``x`` -- cannot correlate with it).
      bias_init: biases start at ``+bias_init`` (first half of the units) and
        ``-bias_init`` (second half), breaking the symmetry as the reference code does.
      init_std: standard deviation of the initial first-layer weights.
      lr: base learning rate ``eta``. The first layer uses ``eta * K`` with a fixed
        ``1/K`` readout (mean-field scaling) and ``eta`` with a learned one.
      readout_lr: learning rate of a learned readout ``v``; ``None`` means ``eta / D``.
      bias_lr: learning rate of the biases; ``None`` means (first-layer lr) ``/ D``
        (so every parameter moves on the time scale ``t = steps/D``).
      batch_size: samples per SGD step (1: the paper's online SGD). With ``B > 1`` every
        learning rate is multiplied by ``B`` (the loss is a batch mean), so the drift per
        sample -- the ODE limit in ``t`` -- is unchanged and only the SGD noise drops.
      time_max: training length in units of ``t = samples / D``.
      chunk_steps: SGD steps per jitted ``lax.scan`` (fresh samples generated per chunk);
        checkpoints fall on chunk boundaries.
      num_checkpoints: log-spaced IPR checkpoints in ``t`` (plus ``t = 0``).
      gains: gain sweep (final IPR for NLGP and GP at each ``g``).
      sweep_time_max: training length of each sweep run (``t`` units).
      num_test: held-out samples for test MSE and classification error.
      p: exponent of the latent covariance (paper: 2).
      seeds: number of seeds (``--seeds`` overrides), trained together (the online loop
        is ``jax.vmap``-ed over a leading seed axis); every number is reported as
        mean ± std over seeds.
    """

    shape: tuple[int, ...] = (100,)
    xi: tuple[float, float] = (1.0, 3.0)
    gain: float = 3.0
    hidden: int = 8
    readout: str = "fixed"
    use_bias: bool = True
    bias_init: float = 1.0
    init_std: float = 0.1
    lr: float = 0.05
    readout_lr: float | None = None
    bias_lr: float | None = None
    batch_size: int = 10
    time_max: float = 2000.0
    chunk_steps: int = 1000
    num_checkpoints: int = 16
    gains: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)
    sweep_time_max: float = 1000.0
    num_test: int = 2000
    p: float = 2.0
    seeds: int = 5

    POSITIVE_INTS = ("hidden", "batch_size", "chunk_steps", "num_checkpoints", "num_test",
                     "seeds")

    def check_fields(self) -> None:
        """``shape`` a ring ``(D,)`` or a torus ``(H, W)``; ``readout`` one of
        :data:`READOUTS` (a ``--set`` that breaks one names itself)."""
        if len(self.shape) not in INPUT_RANKS:
            raise error("shape", "(D,) or (H, W)", self.shape)
        if self.readout not in READOUTS:
            raise error("readout", "'learned' or 'fixed'", self.readout)


PRESETS = {
    "smoke": NLGPConfig(shape=(24,), hidden=4, batch_size=1, time_max=40.0, chunk_steps=120,
                        num_checkpoints=4, gains=(1.0, 3.0), sweep_time_max=40.0,
                        num_test=256, seeds=2),
    "default": NLGPConfig(),
    "paper": NLGPConfig(shape=(20, 20), hidden=8, batch_size=1, time_max=10_000.0,
                        chunk_steps=20_000,
                        num_checkpoints=24, gains=(0.3, 1.0, 3.0, 10.0, 30.0),
                        sweep_time_max=10_000.0, num_test=4000, seeds=10),
}
