"""The compiled program of the trainer: a span of training steps, with the evaluations due.

The program is written for one replica and, for :func:`jaxcnn.train.train_seeds`,
``jax.vmap``-ed over a leading replica axis of the state (the data are shared).

**One program, any span.** ``segment(state, key, data, g0, g1, eval_every, epochs)``
runs the global optimizer steps ``[g0, g1)``: a ``fori_loop`` over the epochs it
touches, each drawing its order on device (``permutation(fold_in(key, epoch))``) and
running its steps in an inner ``fori_loop``; at the end of every epoch that is due an
evaluation (``epoch % eval_every == 0`` or the last, counting from 1) the test set is
evaluated in eval mode inside the same program (``lax.cond``). The bounds and the
evaluation rule are run-time values, so one compiled program serves a single epoch, a
chunk of ``log_every`` steps, a hundred epochs without a host round trip, every
``eval_every`` and a resumed run alike: the arithmetic of a step never depends on how the
run was cut into spans (resume and ``eval_every`` are bitwise exact). Per-step training
sums and per-batch evaluation sums come back in fixed-size buffers (``cap_steps``,
``cap_epochs``); the host sums them with ``math.fsum``.

**Augmentation.** With ``augment``, step ``g``'s batch becomes
``augment(augment_key(key, g), x_batch)`` before the model sees it: a pure function of
the run's data-order key and the global step, so runs are deterministic, resumable
bitwise, and replica ``s`` of ``train_seeds`` draws what ``train`` with seed ``s`` draws.

**Program cache.** Programs are kept (least recently used, :data:`PROGRAM_CACHE_SIZE`)
under everything they are built from: the model's graph, the optax transform *object*,
the loss, batch sizes, shardings and the ``augment`` *object*. A second ``train`` call
with the same transform and augmentation objects and data of the same shapes traces and
compiles nothing.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import NamedSharding

from jaxcnn.validation import Text, error

__all__ = ["TRACE_COUNTS", "PROGRAM_CACHE_SIZE", "CAP_STEPS", "CAP_EPOCHS", "augment_key",
           "loss_and_correct", "StepSpec", "Programs"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()
"""How often each part of the compiled program was traced (keys ``epoch`` (the whole
span program), ``train_step``, ``eval_step``, ``permutation``); tests use it to check
that nothing retraces."""

PROGRAM_CACHE_SIZE = 8
"""How many compiled trainer programs are kept for later ``train`` calls."""

CAP_STEPS = 8192
"""Training steps one program call may run at most (its per-step buffer; at least one
epoch)."""

CAP_EPOCHS = 1024
"""Epochs one program call may run at most (its evaluation buffer)."""

#: ``fold_in`` data of the augmentation stream (epochs, which fold the data order into the
#: same key, never get this far).
_AUGMENT_STREAM = 2**31 - 1


def augment_key(key: jax.Array, step) -> jax.Array:
    """The key of global optimizer step ``step``'s augmentation: a function of the run's
    data-order key (``jax.random.key(seed)`` by default) and the step only."""
    return jax.random.fold_in(jax.random.fold_in(key, _AUGMENT_STREAM), step)


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
    """What the compiled program is built from.

    Attributes:
        graph_train / graph_eval: the model's graph definition in train / eval mode.
        tx: the optax transform (``update(grads, state, params)``).
        loss: ``"cross_entropy"`` or ``"mse"``.
        batch_size / eval_batch_size: global batch sizes.
        steps_per_epoch: optimizer steps per epoch.
        num_eval_batches: evaluation batches covering the (padded) test set.
        shardings: ``(params, rest, opt_state)`` shardings (with the replica axis when
            ``replicas``).
        batch_sharding: sharding of a batch over ``data``; ``replicated``: ``P()``.
        replicas: vmap over a leading replica axis of the state (``train_seeds``).
        shuffle: a new order each epoch (else the rows in their given order).
        augment: ``(key, x_batch) -> x_batch`` applied to every training batch, or None.
    """

    graph_train: Any
    graph_eval: Any
    tx: optax.GradientTransformation
    loss: str
    batch_size: int
    eval_batch_size: int
    steps_per_epoch: int
    num_eval_batches: int
    shardings: tuple
    batch_sharding: NamedSharding
    replicated: NamedSharding
    replicas: bool = False
    shuffle: bool = True
    augment: Callable[[jax.Array, jax.Array], jax.Array] | None = None

    def cache_key(self) -> tuple:
        """A hashable key of everything the program depends on (shapes aside)."""
        leaves, treedef = jax.tree.flatten(self.shardings)
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["shardings"] = (tuple(leaves), treedef)
        return tuple(sorted(fields.items()))


_CACHE: collections.OrderedDict[tuple, Programs] = collections.OrderedDict()


def _sums(per_example, correct, mask):
    return {"loss_sum": jnp.sum(per_example * mask), "correct": jnp.sum(correct * mask),
            "count": jnp.sum(mask)}


def _zeros(shape):
    return {k: jnp.zeros(shape, jnp.float32) for k in ("loss_sum", "correct", "count")}


class Programs:
    """The jitted span program of one training run (see the module docstring).

    ``segment(params, rest, opt_state, key, x, y, index, x_test, y_test, valid, g0, g1,
    eval_every, epochs) -> (params, rest, opt_state, out)``: ``out["train"]`` holds the
    per-step ``loss_sum``, ``correct`` and ``count`` (``(cap_steps,)``, or
    ``(replicas, cap_steps)``; entry ``g - g0`` is step ``g``), ``out["eval"]`` the
    per-batch test sums of the evaluations in the span in order (``(cap_epochs,
    num_eval_batches)``), ``out["bad_step"]`` / ``out["bad_loss"]`` the first global step
    whose training loss was not finite and that loss (``-1`` / ``0`` if none).

    Use :meth:`get` to share programs between runs built from the same :class:`StepSpec`.
    """

    def __init__(self, spec: StepSpec):
        self.spec = spec
        self.batch_info: dict[str, Any] = {}
        n = spec.steps_per_epoch
        self.cap_epochs = max(1, min(CAP_EPOCHS, CAP_STEPS // n))
        self.cap_steps = self.cap_epochs * n
        p_sh, r_sh, o_sh = spec.shardings
        rep, batch = spec.replicated, spec.batch_sharding
        fn = self._segment
        if spec.replicas:
            fn = jax.vmap(fn, in_axes=(0, 0, 0, 0) + (None,) * 10)
        self.segment = jax.jit(
            fn, in_shardings=(p_sh, r_sh, o_sh, rep, batch, batch, rep, batch, batch, rep,
                              rep, rep, rep, rep),
            out_shardings=(p_sh, r_sh, o_sh, rep), donate_argnums=(0, 1, 2))

    @classmethod
    def get(cls, spec: StepSpec) -> Programs:
        """The cached programs of ``spec`` (built now if new or unhashable)."""
        try:
            key = spec.cache_key()
            hash(key)
        except TypeError:  # something unhashable in the spec: no sharing
            return cls(spec)
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        programs = _CACHE[key] = cls(spec)
        while len(_CACHE) > PROGRAM_CACHE_SIZE:
            _CACHE.popitem(last=False)
        return programs

    # ------------------------------------------------------------------ one replica

    def _order(self, key, epoch, index):
        """Epoch ``epoch``'s order of the real training rows: a pure function of the key
        (or the rows in their given order without ``shuffle``)."""
        TRACE_COUNTS["permutation"] += 1
        if not self.spec.shuffle:
            return index
        return index[jax.random.permutation(jax.random.fold_in(key, epoch), index.shape[0])]

    def _record_batch_sharding(self, sharding):  # called once, at compile time
        self.batch_info["devices"] = len(sharding.device_set)
        self.batch_info["spec"] = sharding.spec if hasattr(sharding, "spec") else str(sharding)

    def _augment(self, key, x):
        out = self.spec.augment(key, x)
        if getattr(out, "shape", None) != x.shape or getattr(out, "dtype", None) != x.dtype:
            got = (f"shape {tuple(out.shape)} and dtype {out.dtype}" if hasattr(out, "shape")
                   else type(out).__name__)
            raise error("augment", f"a function (key, x) -> x returning the batch's shape "
                        f"{tuple(x.shape)} and dtype {x.dtype}", Text(got))
        return out

    def _step(self, params, rest, opt_state, x, y, idx, akey):
        """One optimizer step on rows ``idx`` of ``(x, y)`` (train mode)."""
        TRACE_COUNTS["train_step"] += 1
        spec = self.spec
        batch = jax.lax.with_sharding_constraint({"x": x[idx], "y": y[idx]},
                                                 spec.batch_sharding)
        if not spec.replicas:
            jax.debug.inspect_array_sharding(batch["x"], callback=self._record_batch_sharding)
        xb = batch["x"] if akey is None else self._augment(akey, batch["x"])
        mask = jnp.ones(idx.shape, jnp.float32)

        def loss_fn(p, r):
            m = nnx.merge(spec.graph_train, p, r, copy=True)
            per_example, correct = loss_and_correct(m(xb), batch["y"], spec.loss)
            loss = jnp.sum(per_example * mask) / jnp.maximum(jnp.sum(mask), 1.0)
            _, _, new_rest = nnx.split(m, nnx.Param, ...)
            return loss, (new_rest, _sums(per_example, correct, mask))

        (_, (new_rest, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params,
                                                                                   rest)
        updates, new_opt = spec.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_rest, new_opt, metrics

    def _segment(self, params, rest, opt_state, key, x, y, index, x_test, y_test, valid,
                 g0, g1, eval_every, epochs):
        """Global steps ``[g0, g1)`` and the evaluations due at the epochs they end."""
        TRACE_COUNTS["epoch"] += 1
        spec = self.spec
        n, bs = spec.steps_per_epoch, spec.batch_size

        def epoch_body(e, carry):
            state, train_buf, eval_buf, j, bad_step, bad_loss = carry
            perm = self._order(key, e, index)
            first = jnp.where(e == g0 // n, g0 % n, 0)
            stop = jnp.where(e == (g1 - 1) // n, (g1 - 1) % n + 1, n)

            def step_body(i, c):
                (params, rest, opt_state), train_buf, bad_step, bad_loss = c
                g = e * n + i
                idx = jax.lax.dynamic_slice_in_dim(perm, i * bs, bs)
                akey = None if spec.augment is None else augment_key(key, g)
                params, rest, opt_state, m = self._step(params, rest, opt_state, x, y, idx,
                                                        akey)
                train_buf = jax.tree.map(lambda b, v: b.at[g - g0].set(v), train_buf, m)
                loss = m["loss_sum"] / jnp.maximum(m["count"], 1.0)
                new_bad = (bad_step < 0) & ~jnp.isfinite(loss)
                bad_step = jnp.where(new_bad, g, bad_step)
                bad_loss = jnp.where(new_bad, loss, bad_loss)
                return (params, rest, opt_state), train_buf, bad_step, bad_loss

            state, train_buf, bad_step, bad_loss = jax.lax.fori_loop(
                first, stop, step_body, (state, train_buf, bad_step, bad_loss))
            due = (stop == n) & (((e + 1) % eval_every == 0) | (e + 1 == epochs))

            def evaluate(eval_buf, j):
                sums = self._evaluate(state[0], state[1], x_test, y_test, valid)
                return jax.tree.map(lambda b, v: b.at[j].set(v), eval_buf, sums), j + 1

            eval_buf, j = jax.lax.cond(due, evaluate, lambda b, j: (b, j), eval_buf, j)
            return state, train_buf, eval_buf, j, bad_step, bad_loss

        carry = ((params, rest, opt_state), _zeros((self.cap_steps,)),
                 _zeros((self.cap_epochs, spec.num_eval_batches)), jnp.int32(0),
                 jnp.int32(-1), jnp.float32(0.0))
        (params, rest, opt_state), train_buf, eval_buf, _, bad_step, bad_loss = \
            jax.lax.fori_loop(g0 // n, (g1 - 1) // n + 1, epoch_body, carry)
        return params, rest, opt_state, {"train": train_buf, "eval": eval_buf,
                                         "bad_step": bad_step, "bad_loss": bad_loss}

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
