"""β-LASSO's regime in the problem's own units: the first layer's gradient scale.

β-LASSO keeps a first-layer weight only where ``|∂L/∂w|`` can stand up to λ, so λ
decides *which* solution is reached and the training length only how fast. Studies
therefore state λ as a multiple of the first layer's median ``|∂L/∂W₁|`` at
initialisation (:func:`gradient_scale`) and check that the cumulative shrinkage
``λ Σ η`` (:func:`cumulative_lr`) reaches the initial weight scale ``std(W₁)``.

Which multiple: :func:`choose_multiple` applies one stated rule to a λ map (the first
layer's census at each multiple): the multiple with the most taps among those meeting
every gate (dead fraction, median taps per live unit, calibrated locality); if none
does, the most taps among those that localise (calibrated locality >=
:data:`LOCALISES`, dead below the gate); if none localises, the highest calibrated
locality. ``sharing_emergence`` picks its λ with it; ``learn_conv`` checks its preset's
λ against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxcnn import models
from jaxcnn.train import cosine_schedule

__all__ = ["GRAD_BATCH", "LOCALISES", "PICKED", "QUANTILES", "Gates", "choose_multiple",
           "cumulative_lr", "gate_results", "gradient_scale"]

#: Training examples of the gradient-scale measurement.
GRAD_BATCH = 512
#: Quantiles of ``|∂L/∂W₁|`` recorded.
QUANTILES = (0.1, 0.5, 0.9, 0.99)
#: Calibrated locality from which a λ "localises" (the fallback of :func:`choose_multiple`).
LOCALISES = 0.1
#: The chosen λ's census entries copied into the choice.
PICKED = ("dead_fraction", "taps_median", "calibrated_locality", "test_acc", "lambda_sum_lr")


@dataclasses.dataclass(frozen=True)
class Gates:
    """The gates of :func:`choose_multiple` on a first-layer census.

    Attributes:
      max_dead: the fraction of dead units must be below this.
      min_taps, max_taps: the median taps per live unit must lie in ``[min_taps, max_taps]``.
      min_locality: the calibrated locality must be at least this.
    """

    max_dead: float
    min_taps: float
    max_taps: float
    min_locality: float


def gate_results(row: Mapping, gates: Gates) -> dict[str, bool]:
    """Which gates a census row (``dead_fraction``, ``taps_median``,
    ``calibrated_locality`` or ``None``) meets."""
    cal = row.get("calibrated_locality")
    return {"dead": row["dead_fraction"] < gates.max_dead,
            "taps": gates.min_taps <= row["taps_median"] <= gates.max_taps,
            "locality": cal is not None and cal >= gates.min_locality}


def choose_multiple(rows: Sequence[dict], gates: Gates) -> dict:
    """The λ of a map by the rule of the module doc.

    Args:
      rows: one census per λ: ``multiple``, ``lambda``, ``dead_fraction``,
        ``taps_median``, ``calibrated_locality`` (``None``: not measurable) and any of
        :data:`PICKED`; each row gets a ``"gates"`` entry (:func:`gate_results`).
      gates: the gates.

    Returns:
      ``{"lambda", "multiple", "rule", "gates_met", "census"}``: the pick, the branch of
      the rule that applied (a sentence), whether it met every gate, and its
      :data:`PICKED` entries.

    Example:
      >>> rows = [{"multiple": m, "lambda": m, "dead_fraction": d, "taps_median": t,
      ...          "calibrated_locality": c}
      ...         for m, d, t, c in [(0.5, 0.0, 15, 0.08), (1.0, 0.0, 6, 0.22), (2.0, 0.3, 2, 0.3)]]
      >>> choose_multiple(rows, Gates(0.5, 4, 14, 0.5))["multiple"]
      1.0
    """
    for r in rows:
        r["gates"] = gate_results(r, gates)
    passing = [r for r in rows if all(r["gates"].values())]
    localising = [r for r in rows if r["gates"]["dead"] and
                  (r.get("calibrated_locality") or -1) >= LOCALISES]
    if passing:
        pick, rule = max(passing, key=lambda r: r["taps_median"]), "meets every gate"
    elif localising:
        pick = max(localising, key=lambda r: r["taps_median"])
        rule = (f"no λ meets every gate; the most taps among those that localise "
                f"(calibrated locality >= {LOCALISES}, dead < {gates.max_dead})")
    else:
        pick = max(rows, key=lambda r: r.get("calibrated_locality") or -1)
        rule = "no λ localises; the highest calibrated locality"
    return {"lambda": pick["lambda"], "multiple": pick["multiple"], "rule": rule,
            "gates_met": bool(passing), "census": {k: pick.get(k) for k in PICKED}}


def gradient_scale(model: nnx.Module, data: dict) -> dict:
    """The first layer's gradient scale at initialisation.

    Args:
      model: a model at initialisation (not modified: a clone is put in train mode).
      data: a dataset dict with ``x_train (n, *in_shape)`` and ``y_train (n,)``; the
        first :data:`GRAD_BATCH` examples are used.

    Returns:
      ``{"quantiles": {q: quantile of |∂L/∂W₁|}, "median": ..., "init_std": std(W₁)}``
      (cross-entropy loss, train mode).

    Example:
      >>> import numpy as np
      >>> from jaxcnn import models
      >>> m = models.SFC((8, 8, 1), 10, alpha=1, kernel_size=3, rngs=nnx.Rngs(0))
      >>> rng = np.random.default_rng(0)
      >>> data = {"x_train": rng.normal(size=(64, 8, 8, 1)).astype(np.float32),
      ...         "y_train": rng.integers(0, 10, 64)}
      >>> scale = gradient_scale(m, data)
      >>> 0 < scale["median"] < scale["quantiles"]["0.99"]
      True
    """
    model = nnx.clone(model)
    model.train()
    x = jnp.asarray(data["x_train"][:GRAD_BATCH])
    y = jnp.asarray(data["y_train"][:GRAD_BATCH])

    def loss(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    node = nnx.grad(loss)(model)  # a State, indexed like the model
    for part in models.first_layer_path(model).split("/"):
        node = node[int(part) if part.isdigit() else part]
    g = np.abs(np.asarray(node["kernel"][...])).ravel()
    w, _ = models.first_layer_dense(model)
    return {"quantiles": {str(q): float(np.quantile(g, q)) for q in QUANTILES},
            "median": float(np.median(g)), "init_std": float(np.std(np.asarray(w)))}


def cumulative_lr(lr: float, *, total_steps: int, steps: int) -> float:
    """``Σ η`` over the first ``steps`` steps of a cosine schedule of ``total_steps``.

    Example:
      >>> round(cumulative_lr(0.1, total_steps=1000, steps=1000), 3)  # 0.1 x (500 + 1/2)
      50.05
    """
    sched = cosine_schedule(lr, total_steps=total_steps)
    return float(jnp.sum(jax.vmap(sched)(jnp.arange(steps))))
