"""The compiled programs of the trainer: the epoch scan, evaluation and the data order.

Every program is written for one replica and, for :func:`jaxcnn.train.train_seeds`,
``jax.vmap``-ed over a leading replica axis of the state (the data are shared). One
epoch is one XLA program: ``lax.scan`` over its steps, each gathering its batch on
device from the epoch's permutation (or ``ceil(steps / log_every)`` programs of
``log_every`` steps when the running loss is logged).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import NamedSharding

from jaxcnn.validation import Text, error

__all__ = ["TRACE_COUNTS", "loss_and_correct", "StepSpec", "Programs"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()
"""How often each compiled program was traced (keys ``epoch``, ``train_step``,
``eval_step``, ``permutation``); tests use it to check that nothing retraces."""


def loss_and_correct(out: jax.Array, y: jax.Array, loss: str):
    """Per-example loss and 0/1 correctness for a batch of outputs ``(B, C)``.

    Args:
        out: model outputs ``(B, C)``.
        y: integer labels ``(B,)`` or float targets ``(B, C)``.
        loss: ``"cross_entropy"`` or ``"mse"``.

    Returns:
        ``(per_example_loss (B,), correct (B,) float32)``.
    """
    if out.ndim != 2:
        raise error("model output", "shape (batch, classes)", Text(f"shape {tuple(out.shape)}"))
    out = out.astype(jnp.float32)
    if y.ndim == 1:  # integer labels
        labels = y
        target = jax.nn.one_hot(y, out.shape[-1], dtype=jnp.float32)
    elif y.shape == out.shape:  # float targets (one-hot, soft labels, regression)
        target = y.astype(jnp.float32)
        labels = jnp.argmax(target, -1) if out.shape[-1] > 1 else None
    else:
        raise error("y", f"labels (batch,) or targets {tuple(out.shape)}",
                    Text(f"shape {tuple(y.shape)}"))
    if loss == "cross_entropy":
        per_example = optax.softmax_cross_entropy(out, target)
    else:
        per_example = jnp.mean((out - target) ** 2, axis=-1)
    if labels is None:  # one output: sign agreement
        correct = jnp.sign(out[:, 0]) == jnp.sign(target[:, 0])
    else:
        correct = jnp.argmax(out, -1) == labels
    return per_example, correct.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """What the compiled programs are built from.

    Attributes:
        graph_train / graph_eval: the model's graph definition in train / eval mode.
        tx: the optax transform (``update(grads, state, params)``).
        loss: ``"cross_entropy"`` or ``"mse"``.
        batch_size / eval_batch_size: global batch sizes.
        num_eval_batches: evaluation batches covering the (padded) test set.
        shardings: ``(params, rest, opt_state)`` shardings (with the replica axis when
            ``replicas``).
        batch_sharding: sharding of a batch over ``data``; ``replicated``: ``P()``.
        replicas: vmap over a leading replica axis of the state (``train_seeds``).
        shuffle: a new order each epoch (else the rows in their given order).
    """

    graph_train: Any
    graph_eval: Any
    tx: optax.GradientTransformation
    loss: str
    batch_size: int
    eval_batch_size: int
    num_eval_batches: int
    shardings: tuple
    batch_sharding: NamedSharding
    replicated: NamedSharding
    replicas: bool = False
    shuffle: bool = True


def _sums(per_example, correct, mask):
    return {"loss_sum": jnp.sum(per_example * mask), "correct": jnp.sum(correct * mask),
            "count": jnp.sum(mask)}


class Programs:
    """The jitted permutation, epoch chunk and evaluation of one training run.

    ``chunk(length)`` returns the compiled scan of ``length`` steps
    ``(params, rest, opt_state, perm, x, y, start) -> (params, rest, opt_state, metrics,
    first_bad)``: ``metrics`` holds per-step ``loss_sum``, ``correct`` and ``count``
    (``(length,)``, or ``(replicas, length)``); ``first_bad`` the first step (counted
    within the epoch) whose loss was not finite, and that loss (``-1`` / ``0`` if none).
    """

    def __init__(self, spec: StepSpec):
        self.spec = spec
        self.batch_info: dict[str, Any] = {}
        self._chunks: dict[int, Any] = {}
        p_sh, r_sh, o_sh = spec.shardings
        rep = spec.replicated
        data_sh = (spec.batch_sharding, spec.batch_sharding)
        perm = self._vmap(self._permutation if spec.shuffle else self._fixed_order,
                          (0, None, None))
        self.permutation = jax.jit(perm, out_shardings=rep)
        evaluate = self._vmap(self._evaluate, (0, 0, None, None, None))
        self.evaluate = jax.jit(evaluate, in_shardings=(p_sh, r_sh, *data_sh, rep),
                                out_shardings=rep)

    def _vmap(self, fn, in_axes):
        return jax.vmap(fn, in_axes=in_axes) if self.spec.replicas else fn

    def chunk(self, length: int):
        """The compiled scan over ``length`` training steps (built once per length)."""
        if length not in self._chunks:
            spec = self.spec
            p_sh, r_sh, o_sh = spec.shardings
            fn = self._vmap(functools.partial(self._chunk, length=length),
                            (0, 0, 0, 0, None, None, None))
            self._chunks[length] = jax.jit(
                fn, in_shardings=(p_sh, r_sh, o_sh, spec.replicated, spec.batch_sharding,
                                  spec.batch_sharding, spec.replicated),
                out_shardings=(p_sh, r_sh, o_sh, spec.replicated, spec.replicated),
                donate_argnums=(0, 1, 2))
        return self._chunks[length]

    # ------------------------------------------------------------------ one replica

    @staticmethod
    def _permutation(key, epoch, index):
        """Epoch ``epoch``'s order of the real training rows: a pure function of the key."""
        TRACE_COUNTS["permutation"] += 1
        return index[jax.random.permutation(jax.random.fold_in(key, epoch), index.shape[0])]

    @staticmethod
    def _fixed_order(key, epoch, index):
        """The real training rows in their given order, every epoch."""
        TRACE_COUNTS["permutation"] += 1
        del key, epoch
        return index

    def _record_batch_sharding(self, sharding):  # called once, at compile time
        self.batch_info["devices"] = len(sharding.device_set)
        self.batch_info["spec"] = sharding.spec if hasattr(sharding, "spec") else str(sharding)

    def _step(self, params, rest, opt_state, x, y, idx):
        """One optimizer step on rows ``idx`` of ``(x, y)`` (train mode)."""
        TRACE_COUNTS["train_step"] += 1
        spec = self.spec
        batch = jax.lax.with_sharding_constraint({"x": x[idx], "y": y[idx]},
                                                 spec.batch_sharding)
        if not spec.replicas:
            jax.debug.inspect_array_sharding(batch["x"], callback=self._record_batch_sharding)
        mask = jnp.ones(idx.shape, jnp.float32)

        def loss_fn(p, r):
            m = nnx.merge(spec.graph_train, p, r, copy=True)
            per_example, correct = loss_and_correct(m(batch["x"]), batch["y"], spec.loss)
            loss = jnp.sum(per_example * mask) / jnp.maximum(jnp.sum(mask), 1.0)
            _, _, new_rest = nnx.split(m, nnx.Param, ...)
            return loss, (new_rest, _sums(per_example, correct, mask))

        (_, (new_rest, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params,
                                                                                   rest)
        updates, new_opt = spec.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_rest, new_opt, metrics

    def _chunk(self, params, rest, opt_state, perm, x, y, start, *, length):
        """``length`` steps from step ``start`` of the epoch whose order is ``perm``."""
        TRACE_COUNTS["epoch"] += 1
        bs = self.spec.batch_size

        def body(carry, i):
            params, rest, opt_state, bad_step, bad_loss = carry
            step = start + i
            idx = jax.lax.dynamic_slice_in_dim(perm, step * bs, bs)
            params, rest, opt_state, m = self._step(params, rest, opt_state, x, y, idx)
            loss = m["loss_sum"] / jnp.maximum(m["count"], 1.0)
            first = (bad_step < 0) & ~jnp.isfinite(loss)
            bad_step = jnp.where(first, step, bad_step)
            bad_loss = jnp.where(first, loss, bad_loss)
            return (params, rest, opt_state, bad_step, bad_loss), m

        carry = (params, rest, opt_state, jnp.int32(-1), jnp.float32(0.0))
        (params, rest, opt_state, bad_step, bad_loss), metrics = jax.lax.scan(
            body, carry, jnp.arange(length, dtype=jnp.int32))
        return params, rest, opt_state, metrics, {"step": bad_step, "loss": bad_loss}

    def _evaluate(self, params, rest, x, y, valid):
        """Per-batch summed loss / correct / count over the test rows (eval mode)."""
        spec = self.spec
        ebs, n = spec.eval_batch_size, x.shape[0]

        def body(_, i):
            TRACE_COUNTS["eval_step"] += 1
            idx = i * ebs + jnp.arange(ebs, dtype=jnp.int32)
            inside = idx < n
            idx = jnp.minimum(idx, n - 1)
            mask = (inside & valid[idx]).astype(jnp.float32)
            batch = jax.lax.with_sharding_constraint({"x": x[idx], "y": y[idx]},
                                                     spec.batch_sharding)
            m = nnx.merge(spec.graph_eval, params, rest, copy=True)
            per_example, correct = loss_and_correct(m(batch["x"]), batch["y"], spec.loss)
            return None, _sums(per_example, correct, mask)

        _, sums = jax.lax.scan(body, None, jnp.arange(spec.num_eval_batches, dtype=jnp.int32))
        return sums
