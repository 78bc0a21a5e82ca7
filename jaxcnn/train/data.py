"""Checking a dataset against the model and the loss, and putting it on the mesh."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcnn.train.sharding import place_from_host
from jaxcnn.validation import Text, error

__all__ = ["DATA_KEYS", "as_arrays", "check_targets", "check_augment", "means", "DeviceData"]

DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")


def as_arrays(data: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The four arrays of ``data`` as NumPy, with their shapes and values checked.

    Checks that every key is there, that each split has as many labels as examples and
    at least one example, that train and test examples have one shape, and that inputs
    (and float targets) are finite. ``float64`` inputs become ``float32``; integer labels
    ``int32``.

    Raises:
        ValueError: naming the offending ``data[...]`` entry, what was expected and given.
    """
    if not isinstance(data, Mapping):
        raise error("data", f"a mapping with keys {DATA_KEYS}", Text(type(data).__name__))
    missing = [k for k in DATA_KEYS if k not in data]
    if missing:
        raise error("data", f"keys {DATA_KEYS}", Text(f"a mapping without {missing}"))
    arrays = {k: np.asarray(data[k]) for k in DATA_KEYS}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
            raise error(f"data['y_{split}']", f"{x.shape[:1]} leading examples like "
                        f"data['x_{split}'] {x.shape}", Text(f"shape {y.shape}"))
        if x.shape[0] == 0:
            raise error(f"data['x_{split}']", "at least one example", 0)
        for name, a in ((f"x_{split}", x), (f"y_{split}", y)):
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
                raise error(f"data['{name}']", "a numeric array", Text(f"dtype {a.dtype}"))
            if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all():
                bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
                raise error(f"data['{name}']", "finite values",
                            Text(f"{bad} NaN or infinite entries"))
        if x.dtype == np.float64:  # JAX computes in float32 unless x64 is enabled
            arrays[f"x_{split}"] = x.astype(np.float32)
        if np.issubdtype(y.dtype, np.integer):
            arrays[f"y_{split}"] = y.astype(np.int32)
        elif np.issubdtype(y.dtype, np.floating):
            arrays[f"y_{split}"] = y.astype(np.float32)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise error("data['x_test']", f"example shape {arrays['x_train'].shape[1:]} (as x_train)",
                    Text(f"example shape {arrays['x_test'].shape[1:]}"))
    return arrays


def check_targets(arrays: Mapping[str, np.ndarray], *, num_outputs: int, loss: str) -> None:
    """Checks the labels / targets against the model's ``num_outputs`` and the ``loss``.

    Integer labels ``(N,)`` must lie in ``[0, num_outputs)``; float targets must have
    shape ``(N, num_outputs)``, and for ``loss="cross_entropy"`` be probabilities (rows
    >= 0 that sum to 1). Float labels of shape ``(N,)`` are refused for every loss.

    Raises:
        ValueError: naming ``data['y_train']`` or ``data['y_test']``.
    """
    for split in ("train", "test"):
        name, y = f"data['y_{split}']", arrays[f"y_{split}"]
        if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
            if y.ndim != 1:
                raise error(name, "integer labels of shape (N,)", Text(f"shape {y.shape}"))
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= num_outputs:
                raise error(name, f"integer labels in [0, {num_outputs}) (the model has "
                            f"{num_outputs} outputs)", Text(f"labels in [{lo}, {hi}]"))
            continue
        if y.ndim != 2 or y.shape[1] != num_outputs:
            raise error(name, f"integer labels (N,) or float targets (N, {num_outputs}) for "
                        f"loss={loss!r}", Text(f"{y.dtype} of shape {y.shape}"))
        if loss == "cross_entropy":
            sums = y.sum(axis=1)
            if (y < 0).any() or not np.allclose(sums, 1.0, atol=1e-3):
                raise error(name, "probability targets (rows >= 0 summing to 1) for "
                            "loss='cross_entropy'", Text(f"rows with min {float(y.min()):.4g} and "
                            f"sums in [{float(sums.min()):.4g}, {float(sums.max()):.4g}]"))


def check_augment(augment: Any, arrays: Mapping[str, np.ndarray], batch_size: int,
                  key: jax.Array) -> None:
    """Refuses an ``augment`` that is not a function ``(key, x) -> x`` keeping the shape
    and dtype of a training batch (checked abstractly, nothing is compiled)."""
    if augment is None:
        return
    if not callable(augment):
        raise error("augment", "a function (key, x_batch) -> x_batch or None",
                    Text(type(augment).__name__))
    x = arrays["x_train"]
    batch = jax.ShapeDtypeStruct((batch_size, *x.shape[1:]), x.dtype)
    try:
        out = jax.eval_shape(augment, jax.eval_shape(lambda k: k, key), batch)
    except (TypeError, ValueError) as err:
        raise error("augment", f"a function (key, x_batch) -> x_batch taking a batch of shape "
                    f"{batch.shape} and dtype {batch.dtype}",
                    Text(f"{type(err).__name__}: {err}")) from err
    if getattr(out, "shape", None) != batch.shape or getattr(out, "dtype", None) != batch.dtype:
        got = (f"shape {tuple(out.shape)} and dtype {out.dtype}" if hasattr(out, "shape")
               else type(out).__name__)
        raise error("augment", f"a function (key, x_batch) -> x_batch returning the batch's "
                    f"shape {batch.shape} and dtype {batch.dtype}", Text(got))


def means(sums: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """``(mean loss, accuracy)`` from per-step or per-batch sums (exactly summed)."""
    count = math.fsum(sums["count"])
    return math.fsum(sums["loss_sum"]) / count, math.fsum(sums["correct"]) / count


class DeviceData:
    """The dataset as global arrays sharded over ``data`` (padded, with a validity mask).

    ``splits["train"|"test"]`` hold ``x``, ``y`` (global arrays, sharded over the mesh's
    ``data`` axis), ``n`` (real examples), ``n_padded``, ``valid`` (bool per row) and
    ``index`` (global positions of the real rows), the last two replicated. In a
    multi-process run each process passes its own equal-sized slice; process ``p``'s rows
    come ``p``-th in the global arrays.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], mesh: Mesh):
        self.mesh = mesh
        self.sharding = NamedSharding(mesh, P("data"))
        self.replicated = NamedSharding(mesh, P())
        self.splits = {split: self._place(arrays[f"x_{split}"], arrays[f"y_{split}"])
                       for split in ("train", "test")}

    def _place(self, x: np.ndarray, y: np.ndarray) -> dict:
        nproc = jax.process_count()
        local_devices = sum(d.process_index == jax.process_index()
                            for d in self.mesh.devices.flat)
        n_local = x.shape[0]
        pad = (-n_local) % local_devices
        if pad:
            x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros((pad, *y.shape[1:]), y.dtype)])
        local_pad = n_local + pad
        gx = jax.make_array_from_process_local_data(
            self.sharding, x, (local_pad * nproc, *x.shape[1:]))
        gy = jax.make_array_from_process_local_data(
            self.sharding, y, (local_pad * nproc, *y.shape[1:]))
        valid = np.zeros((nproc, local_pad), bool)
        valid[:, :n_local] = True
        valid = valid.reshape(-1)
        index = np.flatnonzero(valid).astype(np.int32)
        return dict(x=gx, y=gy, n=int(n_local * nproc), n_padded=int(local_pad * nproc),
                    valid=place_from_host(valid, self.replicated),
                    index=place_from_host(index, self.replicated))
