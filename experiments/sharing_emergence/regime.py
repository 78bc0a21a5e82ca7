"""The β-LASSO regime of ``sharing_emergence``: λ in units of the gradient, from a map.

β-LASSO keeps a first-layer weight only where ``|∂L/∂w|`` can stand up to λ, so λ decides
*which* solution is reached and the training length only how fast. The study therefore

1. measures the first layer's gradient scale at initialisation (:func:`gradient_scale`:
   quantiles of ``|∂L/∂W₁|`` over a batch of 512 training digits, and the initial weight
   scale, the standard deviation of ``W₁``);
2. trains S-FC β-LASSO (seed 0, no augmentation) at ``λ₁ = m · median |∂L/∂W₁|`` for every
   ``m`` of ``lambda_grid`` and takes a census of the first layer at fractions of training
   (:func:`lambda_map`: dead fraction, taps per live unit, calibrated locality, test
   accuracy, and the cumulative shrinkage ``λ Σ η`` so far);
3. picks the dose study's λ from the final census (:func:`choose_lambda`): the λ with the
   most taps among those meeting the gates (dead < ``max_dead``, median taps in
   ``[min_taps, max_taps]``, calibrated locality >= ``min_locality``); if none does, the
   λ with the most taps among those that localise (calibrated locality >=
   :data:`LOCALISES`, dead < ``max_dead``); if none localises either, the λ with the
   highest calibrated locality. The rule and which branch applied go into the results.

The map is taken without augmentation, so the choice does not look at the outcome the
dose study measures.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import metrics, models
from jaxcnn.train import TrainConfig, steps_per_epoch, train

from experiments.harness.nets import make_optimizer
from experiments.harness.regime import (LOCALISES, Gates, choose_multiple, cumulative_lr,
                                        gradient_scale)

__all__ = ["LOCALISES", "choose_lambda", "cumulative_lr", "gates", "gradient_scale",
           "lambda_map"]


def _census(model, cfg, key) -> dict:
    w, in_shape = models.first_layer_dense(model)
    w = np.asarray(w)
    out = metrics.census(w)._asdict()
    window = (cfg.kernel_size,) * (len(in_shape) - 1)
    cal = np.asarray(metrics.calibrated_locality(jnp.asarray(w), in_shape, window, key=key))
    out["calibrated_locality"] = float(np.nanmean(cal)) if np.isfinite(cal).any() else None
    return out


def lambda_map(make_model, data: dict, cfg, *, grad_median: float, progress: bool) -> list[dict]:
    """The census of S-FC β-LASSO (seed 0, no augmentation) per λ and training fraction."""
    n_steps = steps_per_epoch(len(data["y_train"]), batch_size=cfg.batch_size)
    total = cfg.epochs * n_steps
    marks = sorted({max(1, round(f * cfg.epochs)) for f in cfg.map_fractions})
    rows = []
    for m in cfg.lambda_grid:
        lam = float(m * grad_median)
        model = make_model(0)
        tx, _ = make_optimizer("blasso", cfg, total_steps=total, model=model, l1_first=lam,
                               l1_rest=lam * cfg.l1_rest_ratio)
        found = {}

        def census_cb(epoch, mdl, found=found):
            if epoch in marks:
                found[epoch] = _census(mdl, cfg, jax.random.key(epoch))

        res = train(model, tx, data, key=jax.random.key(0), callbacks=[census_cb],
                    config=TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size,
                                       progress=progress))
        acc = dict(zip(res["curves"]["epoch"], res["curves"]["test_acc"]))
        for epoch in marks:
            shrink = lam * cumulative_lr(cfg.blasso_lr, total_steps=total, steps=epoch * n_steps)
            rows.append({"multiple": float(m), "lambda": lam, "epoch": epoch,
                         "fraction": epoch / cfg.epochs, "lambda_sum_lr": shrink,
                         "test_acc": float(acc.get(epoch, np.nan)), **found[epoch]})
        print(f"  λ = {m:g} x gradient = {lam:.3g}: " + ", ".join(
            f"epoch {r['epoch']}: {r['taps_median']:g} taps, dead {r['dead_fraction']:.2f}, "
            f"cal. locality {_fmt(r['calibrated_locality'])}" for r in rows[-len(marks):]),
            flush=True)
    return rows


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def gates(cfg) -> Gates:
    """The study's gates (``max_dead``, ``min_taps``, ``max_taps``, ``min_locality``)."""
    return Gates(cfg.max_dead, cfg.min_taps, cfg.max_taps, cfg.min_locality)


def choose_lambda(rows: list[dict], cfg) -> dict:
    """The dose study's λ from the map's final censuses
    (:func:`experiments.harness.regime.choose_multiple` with :func:`gates`)."""
    final = [r for r in rows if r["epoch"] == max(x["epoch"] for x in rows)]
    return choose_multiple(final, gates(cfg))
