"""The runs of one ``learn_conv`` invocation and their λ.

:class:`RunSpec` is one training run (a model of the preset, or a point of the λ sweep);
:func:`run_specs` lists them; :func:`lambda_regime` turns a preset whose λ are in units
of the first layer's gradient scale (``l1_scale="gradient"``) into absolute λ, with the
record of that regime (:mod:`experiments.harness.regime`).
"""

from __future__ import annotations

import dataclasses

from flax import nnx

from experiments.harness.cli import CLIError
from experiments.harness.regime import cumulative_lr, gradient_scale
from experiments.learn_conv.config import LABELS, LearnConvConfig

__all__ = ["RunSpec", "lambda_regime", "run_specs"]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run: a model key of the config, and its λ pair for β-LASSO runs."""

    key: str
    l1_first: float | None = None
    l1_rest: float | None = None
    sweep: bool = False
    #: the gradient scale the λ pair is a multiple of (``l1_scale="gradient"``), or None
    unit: float | None = None

    @property
    def run_name(self) -> str:
        if self.l1_first is None:
            return self.key
        return f"{self.key}-l1f{self.l1_first:g}-l1r{self.l1_rest:g}"

    @property
    def label(self) -> str:
        if not self.sweep:
            return LABELS[self.key]
        if self.unit:
            return (f"{LABELS[self.key]} λ={self.l1_first / self.unit:.3g}/"
                    f"{self.l1_rest / self.unit:.3g} x grad")
        return f"{LABELS[self.key]} λ={self.l1_first:g}/{self.l1_rest:g}"


def run_specs(cfg: LearnConvConfig, *, unit: float | None = None) -> list[RunSpec]:
    """The main models, then the λ sweep (if S-FC β-LASSO is among the models).

    ``unit``: with ``cfg.l1_scale == "gradient"``, the gradient scale the preset's λ
    values are multiples of (the specs then carry absolute λ; ``cfg`` is the preset's).
    """
    specs = [RunSpec(k) for k in cfg.models]
    if "s-fc-blasso" in cfg.models:
        main = (cfg.l1_first, cfg.l1_rest)
        scale = unit if cfg.l1_scale == "gradient" else 1.0
        specs += [RunSpec("s-fc-blasso", a * scale, b * scale, sweep=True,
                          unit=unit if cfg.l1_scale == "gradient" else None)
                  for a, b in cfg.sweep if (a, b) != main]
    return specs


def lambda_regime(cfg: LearnConvConfig, data: dict, sfc: nnx.Module, *,
                  total_steps: int) -> tuple[LearnConvConfig, dict | None]:
    """``(config with absolute λ, regime record)``.

    With ``cfg.l1_scale == "gradient"`` the preset's λ are multiples of the median
    ``|∂L/∂W₁|`` of seed 0's S-FC at initialisation; the record holds that gradient
    scale, the absolute λ and the cumulative shrinkage ``λ₁ Σ η`` against the initial
    weight scale. With ``"absolute"``: ``(cfg, None)``.
    """
    if cfg.l1_scale != "gradient":
        return cfg, None
    grad = gradient_scale(sfc, data)
    unit = grad["median"]
    if not unit > 0:
        raise CLIError(f"--preset: λ in gradient units needs a non-zero median first-layer "
                       f"gradient, got {unit!r}")
    absolute = dataclasses.replace(cfg, l1_first=cfg.l1_first * unit,
                                   l1_rest=cfg.l1_rest * unit, l1_scale="absolute")
    shrink = absolute.l1_first * cumulative_lr(cfg.blasso_lr, total_steps=total_steps,
                                               steps=total_steps)
    return absolute, {
        "l1_scale": "gradient", "gradient": grad, "unit": unit,
        "l1_first_multiple": cfg.l1_first, "l1_rest_multiple": cfg.l1_rest,
        "l1_first": absolute.l1_first, "l1_rest": absolute.l1_rest,
        "threshold": cfg.beta * absolute.l1_first, "lambda_sum_lr": shrink,
        "shrinkage_over_init_std": shrink / grad["init_std"]}
