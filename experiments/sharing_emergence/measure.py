"""What ``sharing_emergence`` measures on a trained first layer and a trained model.

:func:`layer_measures` of a dense first layer ``W: (prod(in_shape), units)``:

* the census (:func:`jaxcnn.metrics.census`): dead units, taps per live unit (median and
  quartiles), effective taps (1/IPR);
* over the live units: raw locality, calibrated locality (0 = the unit's own values at
  random positions, 1 = inside one window), the sharing score **unclipped**,
  ``(S − S₀) / (1 − S₀)`` (0 = its permutation null, 1 = a convolution, negative = less
  alike than the null), with its terms ``S``, ``S₀``, ``S − S₀``
  (:func:`jaxcnn.metrics.weight_sharing_stats`), the sharing score's power at
  this sparsity (:func:`jaxcnn.metrics.sharing_power`: the detection rate of
  ``power_fraction`` planted copies, exact and with
  :data:`experiments.harness.measures.POWER_JITTER` relative jitter per tap) and the translation equivariance of the layer's
  pre-activations on test digits (:func:`jaxcnn.metrics.translation_equivariance`).

SGD first layers stay close to their initialisation, so for them the same measures are
taken on the learned change ``W − W₀`` too (:func:`model_measures`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from experiments.harness.measures import POWER_JITTER
from jaxcnn import metrics, models

__all__ = ["accuracy", "layer_measures", "model_measures"]


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


#: The unit metrics of :func:`layer_measures` (``None`` with fewer than 2 live units).
UNIT_METRICS = ("locality", "calibrated_locality", "sharing", "sharing_difference",
                "sharing_S", "sharing_S0",
                "sharing_units", "sharing_power", "sharing_power_jitter", "equivariance",
                "equivariance_by_shift")


def _linear(w):
    def apply(x):
        return x.reshape(x.shape[0], -1) @ w
    return apply


def layer_measures(w, in_shape, window, *, key: jax.Array, probe: np.ndarray,
                   equivariance_shifts, power_fraction: float) -> dict:
    """The census and the convolution-likeness of a dense first layer (JSON-able)."""
    w = np.asarray(w, np.float32)
    out = {k: (v if not isinstance(v, float) else _finite(v))
           for k, v in metrics.census(w)._asdict().items()}
    keys = jax.random.split(key, 4)
    if out["units"] - out["dead"] < 2:
        out.update(dict.fromkeys(UNIT_METRICS))
        return out
    # every unit, the dead ones too (the metrics skip them): one shape per model, so one
    # compilation of each metric per study
    wj = jnp.asarray(w)
    out["locality"] = _finite(np.nanmean(np.where(
        np.any(w != 0, axis=0), np.asarray(metrics.locality(wj, in_shape, window)), np.nan)))
    cal = np.asarray(metrics.calibrated_locality(wj, in_shape, window, key=keys[0]))
    out["calibrated_locality"] = _finite(np.nanmean(cal)) if np.isfinite(cal).any() else None
    st = metrics.weight_sharing_stats(wj, in_shape, window, key=keys[1])
    out.update(sharing=_finite(st.unclipped), sharing_difference=_finite(st.difference),
               sharing_S=_finite(st.similarity), sharing_S0=_finite(st.null_similarity),
               sharing_units=int(st.units))
    power = metrics.sharing_power(wj, in_shape, window, fractions=(power_fraction,),
                                  key=keys[2])
    out["sharing_power"] = _finite(power.detection[0])
    jittered = metrics.sharing_power(wj, in_shape, window, fractions=(power_fraction,),
                                     key=keys[2], noise=POWER_JITTER)
    out["sharing_power_jitter"] = _finite(jittered.detection[0])
    equi = np.asarray(metrics.translation_equivariance(
        _linear(wj), jnp.asarray(probe), shifts=tuple(equivariance_shifts), key=keys[3]))
    out["equivariance_by_shift"] = [_finite(v) for v in equi]
    out["equivariance"] = _finite(np.mean(equi))
    return out


def accuracy(model: nnx.Module, x: np.ndarray, y: np.ndarray, *, batch: int = 500) -> float:
    """Test accuracy of ``model`` (eval mode) on ``(x, y)``."""
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        logits = model(jnp.asarray(x[i:i + batch]))
        correct += int(jnp.sum(jnp.argmax(logits, -1) == jnp.asarray(y[i:i + batch])))
    return correct / len(y)


def model_measures(model: nnx.Module, model0: nnx.Module | None, *, window, key: jax.Array,
                   probe: np.ndarray, x_shifted: np.ndarray, y_test: np.ndarray,
                   equivariance_shifts, power_fraction: float) -> dict:
    """Shifted-test accuracy and :func:`layer_measures` of ``W`` (and of ``W − W₀`` when
    ``model0``, the same model at initialisation, is given)."""
    w, in_shape = models.first_layer_dense(model)
    kw = dict(probe=probe, equivariance_shifts=equivariance_shifts,
              power_fraction=power_fraction)
    k1, k2 = jax.random.split(key)
    out = {"test_acc_shifted": accuracy(model, x_shifted, y_test),
           "first_layer": layer_measures(w, in_shape, window, key=k1, **kw)}
    if model0 is not None:
        w0, _ = models.first_layer_dense(model0)
        out["first_layer_change"] = layer_measures(np.asarray(w) - np.asarray(w0), in_shape,
                                                   window, key=k2, **kw)
    return out
