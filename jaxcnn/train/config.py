"""Hyperparameters of the trainer, its error type and its callback type."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, get_args

from flax import nnx

from jaxcnn.validation import Text, check_bool, check_choice, check_int, error

__all__ = ["Loss", "ShardMode", "Callback", "TrainConfig", "NonFiniteLossError"]

Loss = Literal["cross_entropy", "mse"]
"""The loss names :class:`TrainConfig` accepts: ``"cross_entropy"`` or ``"mse"``."""
ShardMode = Literal["none", "fsdp"]
"""Parameter placement on the ``data`` mesh axis: ``"none"`` (replicated) or ``"fsdp"``."""
Callback = Callable[[int, nnx.Module], "Mapping[str, Any] | None"]
"""A callback ``(epoch, model) -> dict | None``, called at every evaluation (every
``eval_every`` epochs and after the last); returned entries join the curves."""

LOSSES: tuple[str, ...] = get_args(Loss)
SHARD_MODES: tuple[str, ...] = get_args(ShardMode)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss.

    Attributes:
        epoch: 1-based epoch in which it happened.
        step: 0-based step within that epoch (``None`` for an evaluation loss).
        global_step: 0-based optimizer step counted from the start of training.
        loss: the offending value.
        seed: the replica's seed (:func:`jaxcnn.train.train_seeds`), else ``None``.
    """

    def __init__(self, message: str, *, epoch: int, step: int | None,
                 global_step: int | None, loss: float, seed: int | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.global_step = global_step
        self.loss = loss
        self.seed = seed

    @classmethod
    def in_training(cls, loss: float, global_step: int, steps_per_epoch: int, *,
                 seed: int | None = None) -> NonFiniteLossError:
        """The error for training step ``global_step`` (0-based)."""
        epoch, step = global_step // steps_per_epoch + 1, global_step % steps_per_epoch
        who = "" if seed is None else f" (seed {seed})"
        return cls(f"non-finite training loss {loss} at epoch {epoch}, step {step} of "
                   f"{steps_per_epoch} (global step {global_step}){who}; the last checkpoint "
                   "(if any) is from before this epoch", epoch=epoch, step=step,
                   global_step=global_step, loss=loss, seed=seed)

    @classmethod
    def in_evaluation(cls, loss: float, epoch: int, steps_per_epoch: int, *,
             seed: int | None = None) -> NonFiniteLossError:
        """The error for the evaluation after epoch ``epoch`` (1-based)."""
        g = epoch * steps_per_epoch
        who = "" if seed is None else f" (seed {seed})"
        return cls(f"non-finite test loss {loss} after epoch {epoch} (global step {g}){who}; "
                   "the last checkpoint (if any) is from before this epoch", epoch=epoch,
                   step=None, global_step=g, loss=loss, seed=seed)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :func:`train` (all JSON-serialisable; stored in the results).

    Attributes:
        epochs: number of passes over the training set.
        batch_size: global training batch size; must be a multiple of the device count.
        eval_batch_size: global evaluation batch size (a multiple of the device count);
            ``None``: 1024 rounded up to a multiple of the device count.
        seed: recorded in the results; the data-order key is ``jax.random.key(seed)``
            unless :func:`train` gets an explicit ``key``. :func:`train_seeds` sets it
            per replica.
        eval_every: evaluate every this many epochs (and always after the last one).
            Each evaluation adds one row to the curves (test metrics in eval mode, the
            epoch's running training metrics, the callbacks' entries);
            ``curves["epoch"]`` lists the epochs the rows hold. Callbacks are called at
            evaluations only. ``1``: every epoch.
        log_every: log the running training loss every this many steps through the
            ``logging`` module (``0``: only once per evaluation). The host then syncs
            after every chunk of ``log_every`` steps.
        checkpoint_every: save a checkpoint every this many epochs (and after the last).
        checkpoint_dir: orbax checkpoint directory; ``None`` disables checkpointing.
        resume: restore the latest checkpoint in ``checkpoint_dir`` (if any) and continue.
        keep_checkpoints: how many checkpoints orbax keeps (at least 2).
        devices: how many devices to use (the first ``devices`` of ``jax.devices()``);
            ``None``: all.
        shard_params: ``"none"`` (replicate parameters) or ``"fsdp"``.
        fsdp_min_size: under ``"fsdp"``, arrays smaller than this stay replicated.
        loss: ``"cross_entropy"`` (integer labels in ``[0, classes)`` or probability
            targets ``(N, classes)``) or ``"mse"`` (integer labels are one-hot encoded;
            float targets of the output's shape are used as they are). MSE is
            ``mean((out - target)**2)`` over outputs, averaged over examples.
        progress: show a tqdm bar over epochs (only on process 0, and only where someone
            watches: stderr is a terminal, or the code runs in a Jupyter kernel; never in
            redirected output or CI logs). The bar is refreshed about twice a second.
        shuffle: draw a new batch order every epoch (``permutation(fold_in(key,
            epoch))``); ``False``: the examples in their given order every epoch (batch
            ``i`` is rows ``i * batch_size ...``), as in loops that slice a fixed array.
    """

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int | None = None
    seed: int = 0
    eval_every: int = 1
    log_every: int = 0
    checkpoint_every: int = 1
    checkpoint_dir: str | None = None
    resume: bool = False
    keep_checkpoints: int = 2
    devices: int | None = None
    shard_params: ShardMode = "none"
    fsdp_min_size: int = 2**14
    loss: Loss = "cross_entropy"
    progress: bool = True
    shuffle: bool = True

    def __post_init__(self):
        minimums = {"epochs": 0, "batch_size": 1, "eval_batch_size": 1, "seed": 0,
                    "eval_every": 1, "log_every": 0, "checkpoint_every": 1, "keep_checkpoints": 2,
                    "fsdp_min_size": 0, "devices": 1}
        optional = ("eval_batch_size", "devices")  # None: derived from the device count
        for name, minimum in minimums.items():
            if not (name in optional and getattr(self, name) is None):
                check_int(getattr(self, name), name=name, minimum=minimum)
        check_choice(self.shard_params, SHARD_MODES, name="shard_params")
        check_choice(self.loss, LOSSES, name="loss")
        for name in ("resume", "progress", "shuffle"):
            check_bool(getattr(self, name), name=name)
        if self.resume and self.checkpoint_dir is None:
            raise error("resume", "a checkpoint_dir to resume from",
                        Text("resume=True with checkpoint_dir=None"))
