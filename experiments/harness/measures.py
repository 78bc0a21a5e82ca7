"""What ``learn_conv`` and ``sample_efficiency`` measure on a trained model.

* :func:`param_nonzeros`: exact non-zeros per weight matrix (in forward order,
  :func:`jaxcnn.models.kernel_paths`) and over all trainable entries;
* :func:`first_layer_metrics`: IPR, locality and weight sharing of the first layer's
  non-zero units (on :func:`jaxcnn.models.first_layer_dense`), with the census and the
  calibrated metrics (:func:`calibrated_metrics`), also of the learned change ``W − W₀``;
* :func:`shown_units`: the first-layer units a receptive-field figure shows, and
  :func:`shown_units_record`, the same as JSON (float32 values in their shortest form).

Arrays of at most :data:`HOST_COUNT_LIMIT` entries are counted on the host (no
compilation); larger ones (a paper-scale S-FC has ~10^8 first-layer weights) on the
device, so that only the counts leave the accelerator. The small ones also enter the
compiled metrics as NumPy arrays, so a trained (sharded) layer and its initialisation
share one compilation per shape; the sharing score and its power are one program per
shape (:func:`jaxcnn.metrics.power.sharing_stats_and_power`), compiled once for every
layer of that shape whatever its sparsity and whether its power is measured.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from experiments.harness import plots
from jaxcnn import metrics, models
from jaxcnn.metrics import sharing_stats_and_power
from jaxcnn.tree import keypath_str

__all__ = ["HOST_COUNT_LIMIT", "MAX_SHARING_UNITS", "NNZ_PREFIX", "POWER_FRACTION",
           "alive_units", "sharing_view",
           "calibrated_metrics", "first_layer_metrics",
           "nonzeros_callback", "param_nonzeros", "shown_units", "shown_units_record"]

#: Arrays with at most this many entries are counted / selected on the host.
HOST_COUNT_LIMIT = 2**24
#: Prefix of the per-epoch non-zero counts in a training run's curves.
NNZ_PREFIX = "nnz:"


def param_nonzeros(model: nnx.Module) -> tuple[dict[str, int], int, int]:
    """Exact non-zeros of the weight matrices (by layer, in order), all params, size.

    Returns:
      ``({kernel path: non-zeros}, non-zeros of all trainable entries, their number)``;
      the kernel paths in forward order (:func:`jaxcnn.models.kernel_paths`).
    """
    flat = jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]
    names = [keypath_str(path) for path, _ in flat]
    leaves = [leaf for _, leaf in flat]
    sizes = [int(np.prod(leaf.shape)) for leaf in leaves]
    if sum(sizes) <= HOST_COUNT_LIMIT:
        counts = [int(np.count_nonzero(np.asarray(leaf))) for leaf in leaves]
    else:
        counts = [int(c) for c in _count_nonzero_leaves(leaves)]
    by_name = dict(zip(names, counts))
    by_layer = {path: by_name[path] for path in models.kernel_paths(model)}
    return by_layer, sum(counts), sum(sizes)


@jax.jit
def _count_nonzero_leaves(leaves):
    return [jnp.count_nonzero(x) for x in leaves]


def nonzeros_callback(epoch: int, model: nnx.Module) -> dict:
    """Per-epoch callback for :func:`jaxcnn.train.train`: non-zeros per weight matrix."""
    del epoch
    by_layer, total, _ = param_nonzeros(model)
    return {**{NNZ_PREFIX + k: v for k, v in by_layer.items()}, NNZ_PREFIX + "total": total}


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def alive_units(w: jax.Array) -> np.ndarray:
    """Boolean ``(units,)``: columns of ``w`` with a non-zero entry (host-side if small)."""
    if w.size <= HOST_COUNT_LIMIT:
        return np.any(np.asarray(w) != 0, axis=0)
    return np.asarray(jnp.any(w != 0, axis=0))


#: Planted shared fraction whose detection rate is reported as the sharing score's power.
POWER_FRACTION = 0.25
#: Relative per-tap jitter of the planted copies of the second power figure
#: (``sharing_power_jitter``): learned sharing is approximate, and a power measured on
#: exact copies alone overstates what the score would see.
POWER_JITTER = 0.1
#: Planted layers (and null layers) per power estimate: at 10 draws a detection rate has
#: a standard error up to 0.16 and one seed's estimate moved from 0.4 to 1.0 between
#: keys; at 50 it is at most 0.07.
POWER_DRAWS = 50
#: Layers with more units than this have their sharing score and its power measured on
#: this many live units drawn at random (the score's cost grows as units²; a 28x28 S-FC
#: with α = 16 has 3,136 units, whose power takes ~10x longer than on 1,024).
MAX_SHARING_UNITS = 1024


def sharing_view(w: jax.Array, key: jax.Array) -> tuple[jax.Array, int]:
    """``(columns the sharing score is measured on, number of live units among them)``.

    ``w`` itself when it has at most :data:`MAX_SHARING_UNITS` units; otherwise its live
    units (a random :data:`MAX_SHARING_UNITS` of them if more), padded with all-zero
    (dead, unscored) columns to :data:`MAX_SHARING_UNITS`, so every large layer has one
    shape (one compilation). The columns are taken on the host when ``w`` is small
    (:data:`HOST_COUNT_LIMIT`), else by one fixed-shape gather on the device.
    """
    alive = alive_units(w)
    if w.shape[1] <= MAX_SHARING_UNITS:
        return w, int(alive.sum())
    idx = np.flatnonzero(alive)
    if idx.size > MAX_SHARING_UNITS:
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
        idx = np.sort(rng.choice(idx, MAX_SHARING_UNITS, replace=False))
    take = np.zeros(MAX_SHARING_UNITS, np.int32)
    take[:idx.size] = idx
    keep = np.arange(MAX_SHARING_UNITS) < idx.size
    if w.size <= HOST_COUNT_LIMIT:
        w = np.asarray(w)
        return np.where(keep, w[:, take], np.zeros((), w.dtype)), int(idx.size)
    return _take_columns(w, take, keep), int(idx.size)


@jax.jit
def _take_columns(w, take, keep):
    return jnp.where(keep, w[:, take], jnp.zeros((), w.dtype))


def _on_host(w):
    """``w`` as NumPy when small (:data:`HOST_COUNT_LIMIT`): every compiled metric then
    sees one input type (a trained layer's sharded array and its initialisation's are
    otherwise two signatures, two compilations) and the host-side counts need no copy."""
    return np.asarray(w) if w.size <= HOST_COUNT_LIMIT else w


def calibrated_metrics(w: jax.Array, in_shape, window, *, periodic: bool, power: bool,
                       key: jax.Array) -> dict:
    """The census and calibrated metrics of a dense layer (every unit passed, so one
    compilation per shape): dead fraction, median taps per live unit, mean calibrated
    locality, the unclipped sharing score ``(S − S₀) / (1 − S₀)``, and (``power``) the
    detection rate of :data:`POWER_FRACTION` planted shared units at this sparsity, as
    exact copies (``sharing_power``) and with :data:`POWER_JITTER` relative jitter per
    tap (``sharing_power_jitter``). Sharing and its power are measured on :func:`sharing_view` (at most
    :data:`MAX_SHARING_UNITS` live units; ``sharing_units_measured`` says how many), by
    one compiled program whether the power is wanted or not
    (:func:`jaxcnn.metrics.power.sharing_stats_and_power`)."""
    return _calibrated(w, in_shape, window, periodic=periodic, power=power, key=key)[0]


def _calibrated(w, in_shape, window, *, periodic, power, key) -> tuple[dict, float | None]:
    """:func:`calibrated_metrics` and the clipped sharing score of the same statistics
    (:func:`jaxcnn.metrics.weight_sharing`'s value with the same null)."""
    w = _on_host(w)
    k1, k2, k3 = jax.random.split(key, 3)
    c = metrics.census(np.asarray(w), effective=False)
    cal = np.asarray(metrics.calibrated_locality(w, in_shape, window, periodic=periodic,
                                                 key=k1))
    ws, measured = sharing_view(w, jax.random.fold_in(key, 7))
    st, p = sharing_stats_and_power(ws, in_shape, window, power=power, periodic=periodic,
                                    key=k2, power_key=k3, fractions=(POWER_FRACTION,),
                                    draws=POWER_DRAWS)
    out = {"dead_fraction": c.dead_fraction, "taps_median": _nan_to_none(c.taps_median),
           "calibrated_locality": (_nan_to_none(float(np.nanmean(cal)))
                                   if np.isfinite(cal).any() else None),
           "sharing_unclipped": _nan_to_none(float(st.unclipped)),
           "sharing_units": int(st.units), "sharing_units_measured": measured,
           "sharing_power": None, "sharing_power_jitter": None}
    if power:
        out["sharing_power"] = float(p.detection[0])
        jittered = metrics.sharing_power(ws, in_shape, window, fractions=(POWER_FRACTION,),
                                         periodic=periodic, key=k3, noise=POWER_JITTER,
                                         draws=POWER_DRAWS)
        out["sharing_power_jitter"] = float(jittered.detection[0])
    return out, _nan_to_none(float(st.score))


def _raw_metrics(w, in_shape, window, periodic) -> tuple[dict, np.ndarray]:
    """Counts, chance levels, IPR and raw locality (means over live units; ``None`` when
    every unit is dead), and the live-unit mask."""
    alive = alive_units(w)
    units, n_alive = int(alive.size), int(alive.sum())
    nnz = (np.count_nonzero(np.asarray(w)) if w.size <= HOST_COUNT_LIMIT
           else jnp.count_nonzero(w))
    ipr = np.asarray(metrics.ipr(w, axis=0))
    loc = np.asarray(metrics.locality(w, in_shape, window, periodic=periodic))
    out = {"units": units, "dead_units": units - n_alive, "nonzeros": int(nnz),
           "size": int(w.size), "window": list(window), "periodic": bool(periodic),
           "ipr_random": 3.0 / math.prod(in_shape),
           "locality_random": math.prod(window) / math.prod(in_shape[:-1]),
           "ipr_all_units": float(np.nan_to_num(ipr).mean()),
           "locality_all_units": float(np.nan_to_num(loc).mean()),
           "ipr": float(ipr[alive].mean()) if n_alive else None,
           "locality": float(loc[alive].mean()) if n_alive else None, "change": None}
    return out, alive


def first_layer_metrics(model: nnx.Module, kernel_size: int, *, periodic: bool = False,
                        model0: nnx.Module | None = None, power: bool = True,
                        calibrated: bool = True, key: jax.Array | None = None) -> dict:
    """IPR, locality and weight sharing of the first layer's non-zero units.

    Args:
      model: a trained model (any of :func:`experiments.harness.nets.build_model`).
      kernel_size: the window (per spatial dim) of locality and weight sharing.
      periodic: windows wrap around (NLGP inputs live on a ring/torus).
      model0: the same model at initialisation: the calibrated metrics are then also
        taken on the learned change ``W − W₀`` (key ``change``); SGD layers stay close
        to their initialisation, so ``W`` alone mostly measures the init.
      power: also the sharing score's power (:func:`jaxcnn.metrics.sharing_power`, the
        costliest metric; a property of the layer's sparsity pattern).
      calibrated: compute weight sharing and the calibrated metrics (``False``: only the
        counts, IPR and raw locality; those keys are then absent).
      key: PRNG key of the calibrated metrics' nulls (default ``jax.random.key(0)``).

    Returns:
      A JSON-able dict: ``units``, ``dead_units`` (all-zero), ``nonzeros``, ``ipr``,
      ``locality`` (raw, means over the non-zero units; ``None`` when undefined),
      ``weight_sharing`` (:func:`jaxcnn.metrics.weight_sharing`, i.e.
      ``sharing_unclipped`` clipped to ``[0, 1]``: one evaluation, one null), the
      calibrated metrics of :func:`calibrated_metrics` (``dead_fraction``,
      ``taps_median``, ``calibrated_locality``, ``sharing_unclipped``, ``sharing_power``),
      ``change`` (the same on ``W − W₀``, or ``None``), the means over all units
      (``*_all_units``; dead units score 0), and the chance levels of a random dense
      unit (``ipr_random`` ≈ 3/D, ``locality_random`` ≈ window/D).
    """
    key = jax.random.key(0) if key is None else key
    w, in_shape = models.first_layer_dense(model)
    window = (int(kernel_size),) * (len(in_shape) - 1)
    wh = _on_host(w)
    out, alive = _raw_metrics(wh, in_shape, window, periodic)
    n_alive = int(alive.sum())
    if not calibrated:
        return out
    if model0 is not None:
        w0, _ = models.first_layer_dense(model0)
        out["change"] = calibrated_metrics(w - w0, in_shape, window, periodic=periodic,
                                           power=power, key=jax.random.fold_in(key, 1))
    if n_alive == 0:
        out.update(weight_sharing=None, dead_fraction=1.0, taps_median=None,
                   calibrated_locality=None, sharing_unclipped=None, sharing_units=0,
                   sharing_power=None, sharing_power_jitter=None)
        return out
    cal, out["weight_sharing"] = _calibrated(wh, in_shape, window, periodic=periodic,
                                             power=power, key=key)
    out.update(cal)
    return out


def shown_units(model: nnx.Module, num_units: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The first-layer columns of the receptive-field figure (chosen on device if large).

    Non-zero units sorted by receptive-field centre, evenly spaced
    (:func:`experiments.harness.plots.select_units`); only those columns come to the host.

    Returns:
      ``(w_shown (prod(in_shape), k), in_shape)``.
    """
    w, in_shape = models.first_layer_dense(model)
    idx = np.flatnonzero(alive_units(w))
    if idx.size == 0:
        return np.zeros((w.shape[0], 0), np.float32), tuple(in_shape)
    if w.size <= HOST_COUNT_LIMIT:  # small: on the host, no compilation
        w = np.asarray(w)
        return w[:, plots.select_units(w, in_shape, num_units)], tuple(in_shape)
    centres = np.asarray(metrics.receptive_field_center(w[:, idx], in_shape))
    order = idx[np.lexsort(centres.T[::-1])]
    if order.size > num_units:
        order = order[np.round(np.linspace(0, order.size - 1, num_units)).astype(int)]
    return np.asarray(w[:, order]), tuple(in_shape)


def shown_units_record(model: nnx.Module, num_units: int) -> dict:
    """:func:`shown_units` as JSON: ``{"in_shape": [...], "weights": [[...], ...]}``.

    ``weights`` has one row per shown unit (its weights over the flattened input,
    ``prod(in_shape)`` numbers), float32 values written in their shortest exact form
    (``float(np.float32(w)) `` is the trained weight again).
    """
    w, in_shape = shown_units(model, num_units)
    rows = np.asarray(w, np.float32).T
    return {"in_shape": [int(s) for s in in_shape],
            "weights": [[float(str(v)) for v in row] for row in rows]}
