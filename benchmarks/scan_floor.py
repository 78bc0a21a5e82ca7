"""The hand-written floor of training: the trainer's recipe as a few pure JAX functions.

The model is split once (``nnx.split(model, nnx.Param, ...)``); one epoch is one jitted
``lax.scan`` of the plain step (gather the batch of the epoch's permutation, forward in
train mode, cross-entropy, backward, ``tx.update``), with no masks, shardings, callbacks,
checkpoints or checks; evaluation is one jitted ``lax.scan`` over test batches in eval
mode. The data order and every metric follow :func:`jaxcnn.train.train` (epoch ``e``'s
order is ``permutation(fold_in(key, e), num_train)``, the last partial batch is dropped,
training metrics are means over the epoch's steps), so on one device it is the same run.

``benchmarks/train_suite.py`` times it as the floor the trainer is measured against
(``cnn-floor``); ``tests/test_train_seeds.py`` compares the trainer's curves and final
parameters with it. It replaced the verbatim copy of the pre-scan trainer (issue 20).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

__all__ = ["train"]


def _loss(graph, params, rest, x, y):
    """Mean cross-entropy of a batch, the new rest state and the batch's sums."""
    model = nnx.merge(graph, params, rest, copy=True)
    out = model(x).astype(jnp.float32)
    per_example = optax.softmax_cross_entropy(out, jax.nn.one_hot(y, out.shape[-1]))
    correct = jnp.sum((jnp.argmax(out, -1) == y).astype(jnp.float32))
    new_rest = nnx.split(model, nnx.Param, ...)[2]
    return jnp.sum(per_example) / x.shape[0], (new_rest, jnp.sum(per_example), correct)


def _programs(graph, graph_eval, tx, batch_size: int, steps: int, eval_batch: int):
    """The jitted epoch ``(params, rest, opt, perm, x, y) -> (..., loss sums, correct)``
    and evaluation ``(params, rest, x, y) -> (loss sum, correct)``."""

    def step(carry, i):
        params, rest, opt_state, perm, x, y = carry
        idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
        grad_fn = jax.value_and_grad(lambda p, r: _loss(graph, p, r, x[idx], y[idx]),
                                     has_aux=True)
        (_, (rest, loss_sum, correct)), grads = grad_fn(params, rest)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, rest, opt_state, perm, x, y), (loss_sum, correct)

    @jax.jit
    def epoch(params, rest, opt_state, perm, x, y):
        (params, rest, opt_state, *_), sums = jax.lax.scan(
            step, (params, rest, opt_state, perm, x, y), jnp.arange(steps))
        return params, rest, opt_state, sums

    @jax.jit
    def evaluate(params, rest, x, y):
        n = x.shape[0]

        def batch(_, i):
            idx = i * eval_batch + jnp.arange(eval_batch)
            mask = (idx < n).astype(jnp.float32)
            idx = jnp.minimum(idx, n - 1)
            out = nnx.merge(graph_eval, params, rest, copy=True)(x[idx]).astype(jnp.float32)
            per = optax.softmax_cross_entropy(out, jax.nn.one_hot(y[idx], out.shape[-1]))
            hit = (jnp.argmax(out, -1) == y[idx]).astype(jnp.float32)
            return None, (jnp.sum(per * mask), jnp.sum(hit * mask))

        return jax.lax.scan(batch, None, jnp.arange(-(-n // eval_batch)))[1]

    return epoch, evaluate


def train(model: nnx.Module, tx: optax.GradientTransformation, data: Mapping[str, Any], *,
          config: Any, key: jax.Array | None = None, evaluate_every_epoch: bool = True
          ) -> dict:
    """Trains ``model`` in place like :func:`jaxcnn.train.train` on one device (integer
    labels, cross-entropy); returns ``{"curves", "final", "steps_per_epoch"}`` in the
    trainer's schema (``curves``: ``epoch``, ``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc`` (``None`` when not evaluated), ``wall_time`` of the epoch's training).

    Args:
      model: an ``nnx.Module``; its ``Param`` variables are trained, the rest carried.
      tx: the optax transform.
      data: ``x_train``, ``y_train`` (int labels), ``x_test``, ``y_test``.
      config: a :class:`jaxcnn.train.TrainConfig` (``epochs``, ``batch_size``,
        ``eval_batch_size``, ``seed``).
      key: the data-order key (``None``: ``jax.random.key(config.seed)``).
      evaluate_every_epoch: evaluate after every epoch (else after the last one only).
    """
    key = jax.random.key(config.seed) if key is None else key
    x, y = jnp.asarray(data["x_train"], jnp.float32), jnp.asarray(data["y_train"], jnp.int32)
    x_test = jnp.asarray(data["x_test"], jnp.float32)
    y_test = jnp.asarray(data["y_test"], jnp.int32)
    n, bs = int(y.shape[0]), int(config.batch_size)
    steps = n // bs
    model.eval()
    graph_eval = nnx.split(model, nnx.Param, ...)[0]
    model.train()
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    opt_state = tx.init(params)
    epoch_fn, evaluate = _programs(graph, graph_eval, tx, bs, steps,
                                   int(config.eval_batch_size or 1024))
    curves = {k: [] for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc",
                              "wall_time")}
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        params, rest, opt_state, (loss_sums, correct) = epoch_fn(params, rest, opt_state,
                                                                 perm, x, y)
        loss_sums, correct = np.asarray(loss_sums), np.asarray(correct)
        curves["wall_time"].append(time.perf_counter() - t0)
        curves["epoch"].append(epoch + 1)
        curves["train_loss"].append(math.fsum(loss_sums) / (steps * bs))
        curves["train_acc"].append(math.fsum(correct) / (steps * bs))
        test = (None, None)
        if evaluate_every_epoch or epoch == config.epochs - 1:
            sums = [np.asarray(s) for s in evaluate(params, rest, x_test, y_test)]
            test = (math.fsum(sums[0]) / len(y_test), math.fsum(sums[1]) / len(y_test))
        curves["test_loss"].append(test[0])
        curves["test_acc"].append(test[1])
    nnx.update(model, params, rest)
    model.eval()
    final = {k: curves[k][-1] for k in ("epoch", "train_loss", "train_acc", "test_loss",
                                        "test_acc")} if config.epochs else {}
    return {"curves": curves, "final": final, "steps_per_epoch": steps,
            "epochs_completed": config.epochs}
