"""The models and optimizers of ``learn_conv`` and ``sample_efficiency`` (Neyshabur 2020).

Architectures: ``s-conv``, ``s-local``, ``s-fc`` (:class:`jaxcnn.models.SConv`,
``SLocal``, ``SFC``) and ``3-fc`` (:class:`jaxcnn.models.ThreeFC`, sized like the S-FC).
Optimizers: SGD with momentum or β-LASSO (Algorithm 1), both with a cosine learning
rate; β-LASSO gets a separate λ for the first (conv-equivalent) layer, found by
:func:`jaxcnn.models.first_layer_path`, and for the later layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import optax
from flax import nnx

from jaxcnn import models, optim
from jaxcnn.train import cosine_schedule
from jaxcnn.validation import error

__all__ = ["ARCH_IDS", "INIT_FOLD", "MODELS", "OPTIMIZERS", "build_model",
           "first_layer_param_counts", "make_optimizer", "model_factory", "three_fc_width"]

#: Stable ids for PRNG folding: one initialisation per architecture (so S-FC SGD and
#: S-FC β-LASSO start from the same weights).
ARCH_IDS = {"s-conv": 0, "s-local": 1, "s-fc": 2, "3-fc": 3}
#: ``fold_in(key(seed), INIT_FOLD + ARCH_IDS[arch])`` is a model's initialisation key.
INIT_FOLD = 100
#: Optimizer kinds of :func:`make_optimizer`.
OPTIMIZERS = ("sgd", "blasso", "blasso-b0")
#: Every model a study can train, in table order: key -> (architecture, optimizer kind).
MODELS: dict[str, tuple[str, str]] = {
    "s-conv": ("s-conv", "sgd"),
    "s-local": ("s-local", "sgd"),
    "s-fc": ("s-fc", "sgd"),
    "s-fc-blasso": ("s-fc", "blasso"),
    "s-fc-blasso-b0": ("s-fc", "blasso-b0"),
    "3-fc": ("3-fc", "sgd"),
}


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
    raise error("arch", f"one of {list(ARCH_IDS)}", arch)


def three_fc_width(in_shape, num_classes: int, *, alpha: int, kernel_size: int) -> int:
    """The 3-FC width matching the S-FC's parameter count (counted abstractly)."""
    sfc = nnx.eval_shape(lambda: models.SFC(in_shape, num_classes, alpha=alpha,
                                            kernel_size=kernel_size, rngs=nnx.Rngs(0)))
    return models.ThreeFC.width_for_params(models.count_params(sfc), in_shape, num_classes)


def model_factory(arch: str, in_shape, num_classes: int, *, alpha: int,
                  kernel_size: int) -> Callable[[int], nnx.Module]:
    """``seed -> model``: one initialisation per (architecture, seed), so that S-FC SGD and
    S-FC β-LASSO of one seed start from the same weights (and see the same batches)."""

    def make(seed: int) -> nnx.Module:
        key = jax.random.fold_in(jax.random.key(seed), INIT_FOLD + ARCH_IDS[arch])
        return build_model(arch, in_shape, num_classes, alpha=alpha, kernel_size=kernel_size,
                           key=key)

    return make


def make_optimizer(kind: str, cfg: Any, *, total_steps: int, model: nnx.Module,
                   l1_first: float | None = None, l1_rest: float | None = None):
    """SGD (momentum, cosine LR) or β-LASSO (cosine LR, λ per layer group).

    Args:
      kind: ``"sgd"``, ``"blasso"`` (β = ``cfg.beta``) or ``"blasso-b0"`` (β = 0: plain
        ℓ1 subgradient, no thresholding).
      cfg: the preset (``lr``, ``momentum``, ``blasso_lr``, ``beta``, ``l1_first``,
        ``l1_rest``: a ``LearnConvConfig`` or a ``SampleEfficiencyConfig``).
      total_steps: optimizer steps of the run (cosine length).
      model: the model (or its ``nnx.eval_shape``); the parameters under
        :func:`jaxcnn.models.first_layer_path` get ``l1_first``.
      l1_first, l1_rest: λ of the first / later layers' weights (default: the preset's).

    Returns:
      ``(tx, description)`` with a JSON-able description of the optimizer.
    """
    if kind == "sgd":
        sched = cosine_schedule(cfg.lr, total_steps=total_steps)
        return optax.sgd(sched, momentum=cfg.momentum or None), {
            "name": "sgd", "lr": cfg.lr, "momentum": cfg.momentum, "schedule": "cosine"}
    if kind not in OPTIMIZERS:
        raise error("kind", "'sgd', 'blasso' or 'blasso-b0'", kind)
    l1_first = cfg.l1_first if l1_first is None else l1_first
    l1_rest = cfg.l1_rest if l1_rest is None else l1_rest
    beta = cfg.beta if kind == "blasso" else 0.0
    sched = cosine_schedule(cfg.blasso_lr, total_steps=total_steps)
    tx = optim.beta_lasso_partitioned(
        sched, l1_by_label={"first": l1_first, "rest": l1_rest, "no_l1": 0.0}, beta=beta,
        label_fn=optim.first_layer_label_fn(models.first_layer_path(model)))
    return tx, {"name": "beta_lasso", "lr": cfg.blasso_lr, "schedule": "cosine",
                "beta": beta, "l1_first": l1_first, "l1_rest": l1_rest,
                "threshold_first": beta * l1_first, "threshold_rest": beta * l1_rest}


def first_layer_param_counts(in_shape, num_classes: int, *, alpha: int,
                             kernel_size: int) -> dict[str, int]:
    """First-layer weight counts of S-CONV, S-LOCAL and S-FC (Fig. 3's reference lines)."""
    out = {}
    for label, cls in (("S-CONV layer 1", models.SConv), ("S-LOCAL layer 1", models.SLocal),
                       ("S-FC layer 1", models.SFC)):
        m = nnx.eval_shape(lambda cls=cls: cls(in_shape, num_classes, alpha=alpha,
                                               kernel_size=kernel_size, rngs=nnx.Rngs(0)))
        out[label] = int(math.prod(models.first_layer(m).kernel.shape))
    return out
