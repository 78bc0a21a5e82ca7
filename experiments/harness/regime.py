"""β-LASSO's regime in the problem's own units: the first layer's gradient scale.

β-LASSO keeps a first-layer weight only where ``|∂L/∂w|`` can stand up to λ, so λ
decides *which* solution is reached and the training length only how fast. Studies
therefore state λ as a multiple of the first layer's median ``|∂L/∂W₁|`` at
initialisation (:func:`gradient_scale`) and check that the cumulative shrinkage
``λ Σ η`` (:func:`cumulative_lr`) reaches the initial weight scale ``std(W₁)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxcnn import models
from jaxcnn.train import cosine_schedule

__all__ = ["GRAD_BATCH", "QUANTILES", "cumulative_lr", "gradient_scale"]

#: Training examples of the gradient-scale measurement.
GRAD_BATCH = 512
#: Quantiles of ``|∂L/∂W₁|`` recorded.
QUANTILES = (0.1, 0.5, 0.9, 0.99)


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
      >>> round(cumulative_lr(0.1, total_steps=1000, steps=1000), 3)
      50.0
    """
    sched = cosine_schedule(lr, total_steps=total_steps)
    return float(jnp.sum(jax.vmap(sched)(jnp.arange(steps))))
