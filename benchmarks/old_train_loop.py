"""REFERENCE ONLY: the step-by-step trainer of jaxcnn 0.1.0 (before the scanned epochs).

Kept verbatim (apart from this note) as the baseline that ``benchmarks/train_suite.py``
times the new :func:`jaxcnn.train.train` against, and as the step-by-step reference that
``tests/test_train_seeds.py`` compares per-epoch losses with. It dispatches one jitted
step per Python iteration and syncs metrics to the host. Do not use it for new code.

Original module docstring: a small, general classification trainer for Flax NNX models and optax transforms.

:func:`train` fits any ``nnx.Module`` mapping a batch ``(B, *feature_shape)`` to outputs
``(B, C)`` with any ``optax.GradientTransformation`` (including ones that read the
parameters, such as :func:`jaxcnn.optim.beta_lasso`), on a dataset given as NumPy arrays.

Design:

* **Data on device.** The whole dataset is put on the accelerators once, sharded over the
  ``data`` axis of ``Mesh(devices, ("data",))``. Each epoch's order is a pure function of
  ``(key, epoch)``: ``permutation(fold_in(key, epoch), num_train)``, computed on device.
  Batches are gathered on device and sharded ``NamedSharding(mesh, P("data"))``. The last
  partial training batch is dropped; evaluation covers every test example exactly once
  (padded batches with a mask).
* **One compiled step.** The model is split with ``nnx.split(model, nnx.Param, ...)`` into
  a static graph definition, the parameters and the rest of its state (BatchNorm batch
  statistics, RNG counters, masks, ...). The train step
  ``(params, rest, opt_state, batch) -> (params, rest, opt_state, metrics)`` is one
  ``jax.jit`` with pinned in/out shardings and donated buffers, traced once per
  :func:`train` call; the model runs in ``model.train()`` mode inside it (batch statistics
  are updated and carried) and in ``model.eval()`` mode inside the eval step.
* **Parameters** are replicated (``shard_params="none"``) or FSDP-sharded
  (``shard_params="fsdp"``): every parameter and optimizer-state array with ``ndim >= 2``
  and ``size >= fsdp_min_size`` is split over ``data`` along its largest dimension that
  the device count divides; the rest is replicated. XLA inserts the gathers.
* **Checkpoints** (``checkpoint_dir``) are written with ``orbax.checkpoint``'s
  ``CheckpointManager`` every ``checkpoint_every`` epochs and after the last one: model
  state, optimizer state, epoch, PRNG key and the results so far. Orbax finalises a step
  by an atomic rename, so a crash (even SIGKILL) leaves only complete checkpoints; with
  ``resume=True`` the latest restorable one is loaded and training continues, reaching
  bitwise the same result as an uninterrupted run on the same device count (on CPU).
* **Non-finite loss** stops training with :class:`NonFiniteLossError` (a
  ``FloatingPointError``) naming the epoch, step and value; nothing is checkpointed after
  the last good epoch.

Multi-host use: call ``jax.distributed.initialize()`` (with coordinator address, process
count and id where the cluster is not auto-detected) at the very start of every process,
before any other JAX call. Then build the same model with the same seed in every process
and pass each process *its own equal-sized slice* of the examples in ``data``; the global
dataset is the concatenation in process order (built with
``jax.make_array_from_process_local_data``). ``checkpoint_dir`` must be on a file system
all processes share. Only process 0 shows a progress bar; every process gets the same
results dict.

Example:
    >>> import jax, numpy as np, optax
    >>> from flax import nnx
    >>> from jaxcnn.train import TrainConfig, train
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(512, 8)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int32)
    >>> data = {"x_train": x[:384], "y_train": y[:384], "x_test": x[384:], "y_test": y[384:]}
    >>> model = nnx.Sequential(nnx.Linear(8, 16, rngs=nnx.Rngs(0)), jax.nn.relu,
    ...                        nnx.Linear(16, 2, rngs=nnx.Rngs(1)))
    >>> results = train(model, optax.adam(1e-2), data, key=jax.random.key(0),
    ...                 config=TrainConfig(epochs=5, batch_size=64, progress=False))
    >>> results["final"]["test_acc"] > 0.9
    True
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcnn.io import to_jsonable

__all__ = [
    "TrainConfig",
    "NonFiniteLossError",
    "train",
    "cosine_schedule",
    "steps_per_epoch",
    "make_mesh",
    "param_sharding",
    "TRACE_COUNTS",
]

logger = logging.getLogger(__name__)

#: How many times each jitted function of :func:`train` was traced (for tests and
#: debugging retracing); keys ``"train_step"``, ``"eval_step"``, ``"permutation"``.
TRACE_COUNTS: collections.Counter[str] = collections.Counter()

_LOSSES = ("cross_entropy", "mse")
_SHARD_MODES = ("none", "fsdp")
_DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")
_BUILTIN_CURVES = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                   "wall_time")

Callback = Callable[[int, nnx.Module], "Mapping[str, Any] | None"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss.

    Attributes:
        epoch: 1-based epoch in which it happened.
        step: 0-based step within that epoch (``None`` for an evaluation loss).
        global_step: 0-based optimizer step counted from the start of training.
        loss: the offending value.
    """

    def __init__(self, message: str, *, epoch: int, step: int | None,
                 global_step: int | None, loss: float):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.global_step = global_step
        self.loss = loss


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :func:`train` (all JSON-serialisable; stored in the results).

    Attributes:
        epochs: number of passes over the training set.
        batch_size: global training batch size; must be a multiple of the device count.
        eval_batch_size: global evaluation batch size (a multiple of the device count);
            ``None``: 1024 rounded up to a multiple of the device count.
        seed: recorded in the results; the data-order key is ``jax.random.key(seed)``
            unless :func:`train` gets an explicit ``key``.
        log_every: log the running training loss every this many steps through the
            ``logging`` module (``0``: only once per epoch). Each log synchronises.
        checkpoint_every: save a checkpoint every this many epochs (and after the last).
        checkpoint_dir: orbax checkpoint directory; ``None`` disables checkpointing.
        resume: restore the latest checkpoint in ``checkpoint_dir`` (if any) and continue.
        keep_checkpoints: how many checkpoints orbax keeps (at least 2).
        devices: how many devices to use (the first ``devices`` of ``jax.devices()``);
            ``None``: all.
        shard_params: ``"none"`` (replicate parameters) or ``"fsdp"``.
        fsdp_min_size: under ``"fsdp"``, arrays smaller than this stay replicated.
        loss: ``"cross_entropy"`` (integer labels or probability targets) or ``"mse"``
            (integer labels are one-hot encoded; float targets of the output's shape are
            used as they are). MSE is ``mean((out - target)**2)`` over outputs, averaged
            over examples.
        progress: show a tqdm bar over epochs (only on a TTY, only on process 0).
    """

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int | None = None
    seed: int = 0
    log_every: int = 0
    checkpoint_every: int = 1
    checkpoint_dir: str | None = None
    resume: bool = False
    keep_checkpoints: int = 2
    devices: int | None = None
    shard_params: str = "none"
    fsdp_min_size: int = 2**14
    loss: str = "cross_entropy"
    progress: bool = True

    def __post_init__(self):
        def positive(name, value, minimum=1):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) \
                    or value < minimum:
                raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")

        positive("epochs", self.epochs, 0)
        positive("batch_size", self.batch_size)
        if self.eval_batch_size is not None:
            positive("eval_batch_size", self.eval_batch_size)
        positive("log_every", self.log_every, 0)
        positive("checkpoint_every", self.checkpoint_every)
        positive("keep_checkpoints", self.keep_checkpoints, 2)
        positive("fsdp_min_size", self.fsdp_min_size, 0)
        if self.devices is not None:
            positive("devices", self.devices)
        if self.shard_params not in _SHARD_MODES:
            raise ValueError(f"shard_params: expected one of {_SHARD_MODES}, "
                             f"got {self.shard_params!r}")
        if self.loss not in _LOSSES:
            raise ValueError(f"loss: expected one of {_LOSSES}, got {self.loss!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume: expected a checkpoint_dir to resume from, "
                             "got resume=True with checkpoint_dir=None")


# --------------------------------------------------------------------------- schedules


def cosine_schedule(learning_rate: float, *, total_steps: int,
                    warmup_steps: int = 0, end_value: float = 0.0) -> optax.Schedule:
    """Cosine decay from ``learning_rate`` to ``end_value``, after an optional linear warmup.

    A thin wrapper over ``optax.warmup_cosine_decay_schedule`` /
    ``optax.cosine_decay_schedule``; pass the result as any optax optimizer's
    ``learning_rate``.

    Args:
        learning_rate: peak learning rate.
        total_steps: total number of optimizer steps (warmup included), e.g.
            ``epochs * steps_per_epoch(num_train, batch_size=...)``.
        warmup_steps: linear warmup from 0 over this many steps.
        end_value: final learning rate.

    Returns:
        An ``optax.Schedule`` (step -> learning rate).

    Example:
        >>> sched = cosine_schedule(0.1, total_steps=1000, warmup_steps=10)
        >>> tx = optax.sgd(sched, momentum=0.9)
    """
    if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise ValueError(f"total_steps: expected an int >= 1, got {total_steps!r}")
    if not isinstance(warmup_steps, (int, np.integer)) or not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps: expected an int in [0, total_steps={total_steps}), "
                         f"got {warmup_steps!r}")
    if warmup_steps == 0:
        alpha = end_value / learning_rate if learning_rate else 0.0
        return optax.cosine_decay_schedule(learning_rate, total_steps, alpha=alpha)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=learning_rate, warmup_steps=warmup_steps,
        decay_steps=total_steps, end_value=end_value)


def steps_per_epoch(num_train: int, *, batch_size: int) -> int:
    """Optimizer steps per epoch of :func:`train`: ``num_train // batch_size``."""
    return int(num_train) // int(batch_size)


# --------------------------------------------------------------------------- sharding


def make_mesh(devices: int | None = None) -> Mesh:
    """The 1-D ``("data",)`` mesh over the first ``devices`` of ``jax.devices()``.

    Raises:
        ValueError: if more devices are asked for than exist.
    """
    available = jax.devices()
    n = len(available) if devices is None else int(devices)
    if not 1 <= n <= len(available):
        raise ValueError(f"devices: expected between 1 and {len(available)} "
                         f"(the {available[0].platform} devices available), got {devices}")
    return Mesh(np.array(available[:n]), ("data",))


def _fsdp_spec(shape: Sequence[int], n: int, min_size: int) -> P:
    """FSDP spec: split the largest dim divisible by ``n`` if ndim >= 2, size >= min_size."""
    if n == 1 or len(shape) < 2 or math.prod(shape) < min_size:
        return P()
    candidates = [i for i, d in enumerate(shape) if d % n == 0]
    if not candidates:
        return P()
    axis = max(candidates, key=lambda i: (shape[i], -i))
    return P(*[("data" if i == axis else None) for i in range(len(shape))])


def param_sharding(tree: Any, mesh: Mesh, *, mode: str = "none",
                   min_size: int = 2**14) -> Any:
    """Shardings for every array leaf of ``tree`` under ``mode`` ("none" or "fsdp").

    Args:
        tree: a pytree of arrays (or ``jax.ShapeDtypeStruct``s).
        mesh: a mesh with a ``data`` axis.
        mode: ``"none"``: everything replicated, ``NamedSharding(mesh, P())``;
            ``"fsdp"``: leaves with ``ndim >= 2`` and ``size >= min_size`` are split over
            ``data`` along their largest dimension divisible by the axis size.
        min_size: the FSDP size threshold.

    Returns:
        A pytree of ``NamedSharding`` with the structure of ``tree``.
    """
    if mode not in _SHARD_MODES:
        raise ValueError(f"mode: expected one of {_SHARD_MODES}, got {mode!r}")
    n = mesh.shape["data"]

    def one(leaf):
        if mode == "none" or _is_key(leaf):
            return NamedSharding(mesh, P())
        return NamedSharding(mesh, _fsdp_spec(tuple(leaf.shape), n, min_size))

    return jax.tree.map(one, tree)


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(x: Any) -> np.ndarray:
    if _is_key(x):
        x = jax.random.key_data(x)
    return np.asarray(jax.device_get(x))


def _place_from_host(tree: Any, shardings: Any) -> Any:
    """Fresh global arrays with the given shardings from (identical per-process) values."""

    def one(x, sharding):
        if _is_key(x):
            data = _to_host(x)
            arr = jax.make_array_from_callback(data.shape, sharding, lambda idx: data[idx])
            return jax.random.wrap_key_data(arr, impl=jax.random.key_impl(x))
        host = _to_host(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(one, tree, shardings)


def _copy_to(tree: Any, shardings: Any) -> Any:
    """Copies of already-global arrays (never aliases: the carry gets donated)."""
    return jax.tree.map(lambda x, s: jax.device_put(x, s, may_alias=False), tree, shardings)


def _spec_as_list(spec: P) -> list:
    return [None if a is None else (a if isinstance(a, str) else list(a)) for a in spec]


# --------------------------------------------------------------------------- losses


def _loss_and_correct(out: jax.Array, y: jax.Array, loss: str):
    """Per-example loss and 0/1 correctness for a batch of outputs ``(B, C)``."""
    if out.ndim != 2:
        raise ValueError(f"model output: expected shape (batch, classes), got {out.shape}")
    out = out.astype(jnp.float32)
    if y.ndim == 1:  # integer labels
        labels = y
        target = jax.nn.one_hot(y, out.shape[-1], dtype=jnp.float32)
    elif y.shape == out.shape:  # float targets (one-hot, soft labels, regression)
        target = y.astype(jnp.float32)
        labels = jnp.argmax(target, -1) if out.shape[-1] > 1 else None
    else:
        raise ValueError(f"y: expected labels (batch,) or targets {out.shape}, got {y.shape}")
    if loss == "cross_entropy":
        per_example = optax.softmax_cross_entropy(out, target)
    else:
        per_example = jnp.mean((out - target) ** 2, axis=-1)
    if labels is None:  # one output: sign agreement
        correct = (jnp.sign(out[:, 0]) == jnp.sign(target[:, 0]))
    else:
        correct = jnp.argmax(out, -1) == labels
    return per_example, correct.astype(jnp.float32)


# --------------------------------------------------------------------------- data


class _DeviceData:
    """The dataset as global arrays sharded over ``data`` (padded, with a validity mask)."""

    def __init__(self, data: Mapping[str, Any], mesh: Mesh):
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise ValueError(f"data: expected keys {_DATA_KEYS}, missing {missing}")
        arrays = {k: np.asarray(data[k]) for k in _DATA_KEYS}
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
                raise ValueError(f"data['y_{split}']: expected {x.shape[:1]} leading examples "
                                 f"like data['x_{split}'] {x.shape}, got {y.shape}")
            if x.shape[0] == 0:
                raise ValueError(f"data['x_{split}']: expected at least one example, got 0")
        if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
            raise ValueError(f"data['x_test']: expected example shape "
                             f"{arrays['x_train'].shape[1:]}, got {arrays['x_test'].shape[1:]}")
        self.mesh = mesh
        self.sharding = NamedSharding(mesh, P("data"))
        self.replicated = NamedSharding(mesh, P())
        nproc = jax.process_count()
        local_devices = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
        self.splits = {}
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if x.dtype == np.float64:  # JAX computes in float32 unless x64 is enabled
                x = x.astype(np.float32)
            if np.issubdtype(y.dtype, np.integer):
                y = y.astype(np.int32)
            elif np.issubdtype(y.dtype, np.floating):
                y = y.astype(np.float32)
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
            # Global positions of real examples (process p's rows come p-th).
            valid = np.zeros((nproc, local_pad), bool)
            valid[:, :n_local] = True
            valid = valid.reshape(-1)
            index = np.flatnonzero(valid).astype(np.int32)
            self.splits[split] = dict(
                x=gx, y=gy, n=int(n_local * nproc), n_padded=int(local_pad * nproc),
                valid=_place_from_host(valid, self.replicated),
                index=_place_from_host(index, self.replicated))


# --------------------------------------------------------------------------- training


def _describe_devices(mesh: Mesh) -> dict:
    devs = list(mesh.devices.flat)
    return {"platform": devs[0].platform, "device_kind": devs[0].device_kind,
            "count": len(devs), "process_count": jax.process_count()}


def _count_params(params: Any) -> int:
    return int(sum(np.prod(x.shape, dtype=np.int64) for x in jax.tree.leaves(params)))


def _path_str(path) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    if len(parts) > 1 and parts[-1] == "value":  # the array inside an nnx.Variable
        parts.pop()
    return "/".join(parts)


def _new_results(config: TrainConfig) -> dict:
    return {"config": dataclasses.asdict(config), "epochs_completed": 0,
            "curves": {k: [] for k in _BUILTIN_CURVES}, "final": {}, "wall_time": 0.0}


def _use_progress(config: TrainConfig) -> bool:
    return bool(config.progress and jax.process_index() == 0
                and getattr(sys.stderr, "isatty", lambda: False)())


def train(model: nnx.Module, tx: optax.GradientTransformation, data: Mapping[str, Any], *,
          config: TrainConfig, key: jax.Array | None = None,
          callbacks: Sequence[Callback] = ()) -> dict:
    """Trains ``model`` in place with ``tx`` on ``data``; returns a JSON-able results dict.

    Args:
        model: an ``nnx.Module`` mapping ``(B, *feature_shape)`` to ``(B, C)``. Its
            ``nnx.Param`` variables are trained; every other variable (BatchNorm batch
            statistics, RNG state, masks) is carried through the steps. Updated in place
            with the final state (and at the end of every epoch when there are callbacks)
            and left in ``eval()`` mode.
        tx: any optax transform; ``tx.update(grads, opt_state, params)`` gets the params.
        data: ``{"x_train": (N, *feature_shape), "y_train": (N,) int labels or (N, C)
            float targets, "x_test": (M, *feature_shape), "y_test": (M,) or (M, C)}``
            NumPy arrays, channels last. In multi-process runs: this process's slice.
        config: a :class:`TrainConfig`.
        key: PRNG key for the data order (epoch ``e`` uses ``fold_in(key, e)``);
            ``None``: ``jax.random.key(config.seed)``. A resumed run uses the checkpointed key.
        callbacks: functions ``(epoch, model) -> dict | None`` called after every epoch
            (``epoch`` counts completed epochs from 1, ``model`` holds the current state).
            Returned entries (floats, ints, lists) are appended to ``results["curves"]``
            under their names. A callback may modify the model's variables (e.g. pruning);
            training continues from the modified state.

    Returns:
        ``{"config", "epochs_completed", "curves": {"epoch", "step", "train_loss",
        "train_acc", "test_loss", "test_acc", "wall_time", *callback keys} (one entry per
        epoch), "final": {"epoch", "step", "train_loss", "train_acc", "test_loss",
        "test_acc"}, "wall_time", "device": {"platform", "device_kind", "count",
        "process_count"}, "num_params", "num_train", "num_test", "steps_per_epoch",
        "sharding", "resumed_from"}``. Training metrics are running means over the
        epoch's steps (train mode); test metrics are computed in eval mode.

    Raises:
        ValueError: bad data shapes, batch sizes not fitting the data or devices, too
            many devices, or a non-empty ``checkpoint_dir`` without ``resume=True``.
        NonFiniteLossError: the training (or test) loss became NaN or infinite. The model
            then holds its state from before the failing epoch's callbacks (its initial
            state if there are no callbacks); the last checkpoint is from before that epoch.

    Example:
        >>> results = train(model, optax.sgd(0.1), data, key=jax.random.key(0),
        ...                 config=TrainConfig(epochs=3, batch_size=64))  # doctest: +SKIP
        >>> results["curves"]["test_acc"]  # doctest: +SKIP
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if key is None:
        key = jax.random.key(config.seed)
    elif not _is_key(key):  # raw uint32 key data
        key = jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))
    key_impl = jax.random.key_impl(key)
    start_time = time.perf_counter()
    mesh = make_mesh(config.devices)
    ndev = mesh.shape["data"]
    if config.batch_size % ndev:
        raise ValueError(f"batch_size: expected a multiple of the device count {ndev}, "
                         f"got {config.batch_size}")
    eval_bs = config.eval_batch_size or -(-1024 // ndev) * ndev
    if eval_bs % ndev:
        raise ValueError(f"eval_batch_size: expected a multiple of the device count {ndev}, "
                         f"got {eval_bs}")

    dd = _DeviceData(data, mesh)
    tr, te = dd.splits["train"], dd.splits["test"]
    n_steps = tr["n"] // config.batch_size
    if n_steps == 0:
        raise ValueError(f"batch_size: expected at most the number of training examples "
                         f"{tr['n']}, got {config.batch_size}")
    n_eval = -(-te["n_padded"] // eval_bs)
    replicated = NamedSharding(mesh, P())
    batch_sharding = dd.sharding
    key = _place_from_host(key, replicated)

    # --- model state, shardings, optimizer state
    model.train()
    graph_train, params0, rest0 = nnx.split(model, nnx.Param, ...)
    model.eval()
    graph_eval, _, _ = nnx.split(model, nnx.Param, ...)
    model.train()
    p_sh = param_sharding(params0, mesh, mode=config.shard_params,
                          min_size=config.fsdp_min_size)
    r_sh = param_sharding(rest0, mesh, mode=config.shard_params,
                          min_size=config.fsdp_min_size)
    params = _place_from_host(params0, p_sh)
    rest = _place_from_host(rest0, r_sh)
    opt_abstract = jax.eval_shape(tx.init, params)
    o_sh = param_sharding(opt_abstract, mesh, mode=config.shard_params,
                          min_size=config.fsdp_min_size)
    opt_state = jax.jit(tx.init, out_shardings=o_sh)(params)
    loss_name = config.loss

    # --- jitted functions (traced once per call of train)
    def permutation(key, epoch, index):
        TRACE_COUNTS["permutation"] += 1
        return index[jax.random.permutation(jax.random.fold_in(key, epoch), index.shape[0])]

    def take_train(x, y, perm, start):
        """The training batch ``perm[start:start + batch_size]``, sharded over ``data``."""
        idx = jax.lax.dynamic_slice_in_dim(perm, start, config.batch_size)
        batch = {"x": x[idx], "y": y[idx], "mask": jnp.ones(idx.shape, jnp.float32)}
        return jax.lax.with_sharding_constraint(batch, batch_sharding)

    def take_eval(x, y, valid, start):
        """Test rows ``start:start + eval_bs`` (clipped), with a mask of the real ones."""
        idx = start + jnp.arange(eval_bs, dtype=jnp.int32)
        inside = idx < x.shape[0]
        idx = jnp.minimum(idx, x.shape[0] - 1)
        mask = (inside & valid[idx]).astype(jnp.float32)
        batch = {"x": x[idx], "y": y[idx], "mask": mask}
        return jax.lax.with_sharding_constraint(batch, batch_sharding)

    def metrics_of(per_example, correct, mask):
        return {"loss_sum": jnp.sum(per_example * mask), "correct": jnp.sum(correct * mask),
                "count": jnp.sum(mask)}

    batch_info: dict[str, Any] = {}

    def record_batch_sharding(sharding):  # called once, at compile time
        batch_info["devices"] = len(sharding.device_set)
        batch_info["spec"] = (_spec_as_list(sharding.spec) if hasattr(sharding, "spec")
                              else str(sharding))

    def train_step(params, rest, opt_state, x, y, perm, start):
        """One optimizer step on batch ``perm[start:start + batch_size]`` (train mode)."""
        TRACE_COUNTS["train_step"] += 1
        batch = take_train(x, y, perm, start)
        jax.debug.inspect_array_sharding(batch["x"], callback=record_batch_sharding)

        def loss_fn(p, r):
            m = nnx.merge(graph_train, p, r, copy=True)
            per_example, correct = _loss_and_correct(m(batch["x"]), batch["y"], loss_name)
            mask = batch["mask"]
            loss = jnp.sum(per_example * mask) / jnp.maximum(jnp.sum(mask), 1.0)
            _, _, new_rest = nnx.split(m, nnx.Param, ...)
            return loss, (new_rest, metrics_of(per_example, correct, mask))

        (_, (new_rest, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, rest)
        updates, new_opt = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_rest, new_opt, metrics

    def eval_step(params, rest, x, y, valid, start):
        """Summed loss/correct/count over test rows ``start:start + eval_bs`` (eval mode)."""
        TRACE_COUNTS["eval_step"] += 1
        batch = take_eval(x, y, valid, start)
        m = nnx.merge(graph_eval, params, rest, copy=True)
        per_example, correct = _loss_and_correct(m(batch["x"]), batch["y"], loss_name)
        return metrics_of(per_example, correct, batch["mask"])

    metric_sh = {"loss_sum": replicated, "correct": replicated, "count": replicated}
    data_sh = (batch_sharding, batch_sharding, replicated, replicated)
    permutation_j = jax.jit(permutation, out_shardings=replicated)
    train_step_j = jax.jit(train_step, in_shardings=(p_sh, r_sh, o_sh, *data_sh),
                           out_shardings=(p_sh, r_sh, o_sh, metric_sh),
                           donate_argnums=(0, 1, 2))
    eval_step_j = jax.jit(eval_step, in_shardings=(p_sh, r_sh, *data_sh),
                          out_shardings=metric_sh)

    def evaluate(params, rest):
        outs = [eval_step_j(params, rest, te["x"], te["y"], te["valid"], np.int32(i * eval_bs))
                for i in range(n_eval)]
        outs = jax.device_get(outs)
        loss_sum = sum(float(o["loss_sum"]) for o in outs)
        correct = sum(float(o["correct"]) for o in outs)
        count = sum(float(o["count"]) for o in outs)
        return loss_sum / count, correct / count

    # --- results skeleton, checkpoints
    results = _new_results(config)
    results.update({
        "device": _describe_devices(mesh),
        "num_params": _count_params(params0),
        "num_train": tr["n"], "num_test": te["n"], "steps_per_epoch": n_steps,
        "eval_batch_size": eval_bs,
        "sharding": {
            "mode": config.shard_params, "mesh": {"data": ndev},
            "batch": None, "batch_devices": None,  # filled in when the step compiles
            "params": {_path_str(path): _spec_as_list(s.spec) for path, s in
                       jax.tree_util.tree_leaves_with_path(p_sh)},
        },
        "resumed_from": None,
    })
    template = (params, rest, opt_state)
    template_sh = (p_sh, r_sh, o_sh)
    start_epoch = 0
    manager = None
    if config.checkpoint_dir is not None:
        manager = _CheckpointManager(config, template, template_sh)
        restored = manager.restore_latest(key_impl) if config.resume else None
        if restored is None and manager.latest_step() is not None:
            raise ValueError(
                f"resume: expected True to continue from the checkpoints in checkpoint_dir="
                f"{config.checkpoint_dir!r} (latest epoch {manager.latest_step()}), got "
                f"{config.resume}; pass resume=True or use an empty directory")
        if restored is not None:
            (params, rest, opt_state), saved, saved_key = restored
            if not np.array_equal(_to_host(saved_key), _to_host(key)):
                logger.warning("resume: the checkpointed data-order key differs from the key "
                               "passed to train; continuing with the checkpointed key")
            key = _place_from_host(saved_key, replicated)
            start_epoch = int(saved["epochs_completed"])
            for name in ("curves", "epochs_completed", "final", "wall_time"):
                results[name] = saved[name]
            results["resumed_from"] = start_epoch
            logger.info("resumed from %s at epoch %d", config.checkpoint_dir, start_epoch)

    epochs_iter = range(start_epoch, config.epochs)
    bar = None
    if _use_progress(config):
        from tqdm.auto import tqdm
        bar = tqdm(epochs_iter, desc="train", unit="epoch", initial=start_epoch,
                   total=config.epochs)
        epochs_iter = bar
    elapsed_before = float(results["wall_time"])
    try:
        for epoch in epochs_iter:  # 0-based; reported as epoch + 1
            t0 = time.perf_counter()
            perm = permutation_j(key, np.int32(epoch), tr["index"])
            step_metrics = []
            for i in range(n_steps):
                params, rest, opt_state, m = train_step_j(
                    params, rest, opt_state, tr["x"], tr["y"], perm,
                    np.int32(i * config.batch_size))
                step_metrics.append(m)
                if config.log_every and (i + 1) % config.log_every == 0:
                    recent = jax.device_get(step_metrics[-config.log_every:])
                    logger.info("epoch %d step %d: loss %.6g", epoch + 1, i + 1,
                                sum(float(r["loss_sum"]) for r in recent)
                                / sum(float(r["count"]) for r in recent))
            step_metrics = jax.device_get(step_metrics)
            global_step = (epoch + 1) * n_steps
            for i, m in enumerate(step_metrics):
                loss_i = float(m["loss_sum"]) / float(m["count"])
                if not math.isfinite(loss_i):
                    raise NonFiniteLossError(
                        f"non-finite training loss {loss_i} at epoch {epoch + 1}, step {i} of "
                        f"{n_steps} (global step {epoch * n_steps + i}); the last checkpoint "
                        f"(if any) is from before this epoch",
                        epoch=epoch + 1, step=i, global_step=epoch * n_steps + i, loss=loss_i)
            count = sum(float(m["count"]) for m in step_metrics)
            train_loss = sum(float(m["loss_sum"]) for m in step_metrics) / count
            train_acc = sum(float(m["correct"]) for m in step_metrics) / count
            test_loss, test_acc = evaluate(params, rest)
            if not math.isfinite(test_loss):
                raise NonFiniteLossError(
                    f"non-finite test loss {test_loss} after epoch {epoch + 1} (global step "
                    f"{global_step}); the last checkpoint (if any) is from before this epoch",
                    epoch=epoch + 1, step=None, global_step=global_step, loss=test_loss)

            extra: dict[str, Any] = {}
            if callbacks:
                nnx.update(model, params, rest)
                for cb in callbacks:
                    out = cb(epoch + 1, model)
                    if out:
                        extra.update(out)
                _, new_params, new_rest = nnx.split(model, nnx.Param, ...)
                if (jax.tree.structure(new_params) != jax.tree.structure(params0)
                        or jax.tree.structure(new_rest) != jax.tree.structure(rest0)):
                    raise ValueError("callbacks: expected the model's variables to keep their "
                                     "structure, got a changed state tree")
                # Copy: the model keeps its arrays, the carry gets donated.
                params, rest = _copy_to(new_params, p_sh), _copy_to(new_rest, r_sh)

            epoch_time = time.perf_counter() - t0
            curves = results["curves"]
            row = {"epoch": epoch + 1, "step": global_step, "train_loss": train_loss,
                   "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                   "wall_time": epoch_time}
            for name, value in row.items():
                curves[name].append(value)
            for name, value in extra.items():
                if name in _BUILTIN_CURVES:
                    raise ValueError(f"callbacks: expected metric names other than "
                                     f"{_BUILTIN_CURVES}, got {name!r}")
                curves.setdefault(name, [None] * (len(curves["epoch"]) - 1))
                curves[name].append(to_jsonable(value))
            for name, values in curves.items():  # pad callback curves that skipped a epoch
                if len(values) < len(curves["epoch"]):
                    values.append(None)
            results["epochs_completed"] = epoch + 1
            if batch_info:
                results["sharding"]["batch"] = batch_info["spec"]
                results["sharding"]["batch_devices"] = batch_info["devices"]
            results["final"] = {k: row[k] for k in ("epoch", "step", "train_loss",
                                                    "train_acc", "test_loss", "test_acc")}
            results["wall_time"] = elapsed_before + time.perf_counter() - start_time
            logger.info("epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f (%.2fs)",
                        epoch + 1, train_loss, train_acc, test_loss, test_acc, epoch_time)
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.3f}",
                                test_acc=f"{test_acc:.3f}")
            if manager is not None and ((epoch + 1) % config.checkpoint_every == 0
                                        or epoch + 1 == config.epochs):
                manager.save(epoch + 1, (params, rest, opt_state), results, key)
    finally:
        if bar is not None:
            bar.close()
        if manager is not None:
            manager.close()

    nnx.update(model, params, rest)
    model.eval()
    results["wall_time"] = elapsed_before + time.perf_counter() - start_time
    return to_jsonable(results)


# --------------------------------------------------------------------------- checkpoints


class _CheckpointManager:
    """Orbax ``CheckpointManager`` over (params, rest, opt_state) + results JSON.

    The array tree is stored as a flat dict of leaves (``"00000"``, ...), typed PRNG keys as
    their ``key_data``, so that any pytree (nnx.State, optax namedtuples) round-trips; the
    structure comes from the live template at restore time.
    """

    def __init__(self, config: TrainConfig, template: Any, shardings: Any):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self._leaves, self._treedef = jax.tree.flatten(template)
        self._shardings = jax.tree.leaves(shardings)
        self._directory = os.path.abspath(config.checkpoint_dir)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=config.keep_checkpoints, create=True, cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(self._directory, options=options,
                                              item_names=("state", "results"))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def _flat(self, tree: Any) -> dict:
        leaves = jax.tree.leaves(tree)
        return {f"{i:05d}": (jax.random.key_data(x) if _is_key(x) else x)
                for i, x in enumerate(leaves)}

    def save(self, step: int, tree: Any, results: dict, key: jax.Array) -> None:
        ocp = self._ocp
        payload = dict(to_jsonable(results))
        payload["key_data"] = _to_host(key).tolist()
        payload["num_leaves"] = len(self._leaves)
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(self._flat(tree)),
            results=ocp.args.JsonSave(payload)))

    def restore_latest(self, key_impl: Any):
        """Returns ``(tree, results, key)`` from the newest restorable step, or None."""
        ocp = self._ocp
        for step in sorted(self._manager.all_steps(), reverse=True):
            abstract = {}
            for i, (x, s) in enumerate(zip(self._leaves, self._shardings)):
                shape, dtype = x.shape, x.dtype
                if _is_key(x):
                    kd = jax.eval_shape(jax.random.key_data, x)
                    shape, dtype = kd.shape, kd.dtype
                abstract[f"{i:05d}"] = jax.ShapeDtypeStruct(shape, dtype, sharding=s)
            try:
                out = self._manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), results=ocp.args.JsonRestore()))
            except Exception as err:  # a damaged checkpoint: fall back to an older one
                logger.warning("could not restore checkpoint %d in %s: %s", step,
                               self._directory, err)
                continue
            saved = out["results"]
            if saved.get("num_leaves") != len(self._leaves):
                raise ValueError(f"checkpoint_dir: expected checkpoints of this model and "
                                 f"optimizer ({len(self._leaves)} arrays), got "
                                 f"{saved.get('num_leaves')} arrays in {self._directory}")
            leaves = []
            for i, x in enumerate(self._leaves):
                value = out["state"][f"{i:05d}"]
                if _is_key(x):
                    value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(x))
                leaves.append(value)
            tree = jax.tree.unflatten(self._treedef, leaves)
            key_data = jnp.asarray(np.asarray(saved["key_data"], np.uint32))
            key = jax.random.wrap_key_data(key_data, impl=key_impl)
            return tree, saved, key
        return None

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def config_from(config: Any) -> TrainConfig:
    """This module's TrainConfig from a :class:`jaxcnn.train.TrainConfig` (shared fields)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in dataclasses.asdict(config).items() if k in names})
