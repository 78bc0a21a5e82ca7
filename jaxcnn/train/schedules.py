"""Learning-rate schedules and step counts of the trainer."""

from __future__ import annotations

import numpy as np
import optax

from jaxcnn.validation import error

__all__ = ["cosine_schedule", "steps_per_epoch"]


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
        >>> round(float(sched(10)), 6)
        0.1
    """
    if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise error("total_steps", "an int >= 1", total_steps)
    if not isinstance(warmup_steps, (int, np.integer)) or not 0 <= warmup_steps < total_steps:
        raise error("warmup_steps", f"an int in [0, total_steps={total_steps})", warmup_steps)
    if warmup_steps == 0:
        alpha = end_value / learning_rate if learning_rate else 0.0
        return optax.cosine_decay_schedule(learning_rate, total_steps, alpha=alpha)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=learning_rate, warmup_steps=warmup_steps,
        decay_steps=total_steps, end_value=end_value)


def steps_per_epoch(num_train: int, *, batch_size: int) -> int:
    """Optimizer steps per epoch of :func:`jaxcnn.train.train`: ``num_train // batch_size``.

    Example:
        >>> steps_per_epoch(520, batch_size=64)
        8
    """
    return int(num_train) // int(batch_size)
