"""One training run on the mesh: a single model, or a stack of replicas trained together.

:class:`Run` holds what both :func:`jaxcnn.train.train` and
:func:`jaxcnn.train.train_seeds` need: the state on the mesh, the compiled programs, the
checkpoint manager and the per-replica results. The host loop (``loop.py``) asks it for
one span of steps at a time (:meth:`Run.next_stop`, :meth:`Run.train_span`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcnn.io import to_jsonable
from jaxcnn.tree import count_params, keypath_str
from jaxcnn.train.checkpoint import CheckpointManager
from jaxcnn.train.config import Callback, NonFiniteLossError, TrainConfig
from jaxcnn.train.data import DeviceData, check_augment, check_targets, means
from jaxcnn.train.sharding import (copy_to, describe_devices, make_mesh, param_sharding,
                                   place_from_host, spec_as_list, stacked_sharding, to_host)
from jaxcnn.train.steps import Programs, StepSpec
from jaxcnn.validation import Text, error

__all__ = ["BUILTIN_CURVES", "Run"]

logger = logging.getLogger("jaxcnn.train")

BUILTIN_CURVES = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                  "wall_time")
FINAL_KEYS = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc")
SUM_KEYS = ("loss_sum", "correct", "count")


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _eval_batch_size(config: TrainConfig, ndev: int) -> int:
    if config.batch_size % ndev:
        raise error("batch_size", f"a multiple of the device count {ndev}", config.batch_size)
    eval_bs = config.eval_batch_size or -(-1024 // ndev) * ndev
    if eval_bs % ndev:
        raise error("eval_batch_size", f"a multiple of the device count {ndev}", eval_bs)
    return eval_bs


class Run:
    """The state, programs, checkpoints and results of one (possibly stacked) run.

    Args:
        models: the models to train in place; more than one only with ``stacked``.
        tx: the optax transform.
        arrays: the dataset, already checked by :func:`jaxcnn.train.data.as_arrays`.
        config: the run's :class:`TrainConfig` (``seed`` is replaced per replica).
        keys: one data-order key per model.
        seeds: each replica's recorded seed.
        stacked: vmap over a leading replica axis (even for one model).
        programs: the compiled programs of an earlier run of the same models (same
            structure, transform, config and number of replicas) to reuse instead of
            tracing and compiling them again (``train_seeds``' groups).
        device_data: the dataset already on this mesh (an earlier run's ``data``), so it
            is not checked and transferred again.
        augment: ``(key, x_batch) -> x_batch`` applied to every training batch, or None.
    """

    def __init__(self, models: Sequence[nnx.Module], tx: optax.GradientTransformation,
                 arrays: Mapping[str, np.ndarray], *, config: TrainConfig,
                 keys: Sequence[jax.Array], seeds: Sequence[int], stacked: bool,
                 programs: Programs | None = None,
                 device_data: DeviceData | None = None,
                 augment: Callable[[jax.Array, jax.Array], jax.Array] | None = None):
        self.models, self.config, self.stacked = list(models), config, stacked
        self.seeds = [int(s) for s in seeds]
        self.mesh = make_mesh(config.devices)
        self.replicated = NamedSharding(self.mesh, P())
        eval_bs = _eval_batch_size(config, self.mesh.shape["data"])
        graph_train, graph_eval = self._split_models()
        if device_data is None:
            check_targets(arrays, num_outputs=self._num_outputs(graph_eval, arrays),
                          loss=config.loss)
            check_augment(augment, arrays, config.batch_size, keys[0])
            device_data = DeviceData(arrays, self.mesh)
        self.data = device_data
        tr, te = self.data.splits["train"], self.data.splits["test"]
        self.n_steps = tr["n"] // config.batch_size
        if self.n_steps == 0:
            raise error("batch_size", f"at most the number of training examples {tr['n']}",
                        config.batch_size)
        self._place_state(tx)
        self.key_impl = jax.random.key_impl(keys[0])
        key = _stack(keys) if stacked else keys[0]
        self.key = place_from_host(key, self.replicated)
        self.programs = programs or Programs.get(StepSpec(
            graph_train=graph_train, graph_eval=graph_eval, tx=tx, loss=config.loss,
            batch_size=config.batch_size, eval_batch_size=eval_bs,
            steps_per_epoch=self.n_steps, num_eval_batches=-(-te["n_padded"] // eval_bs),
            shardings=self.shardings, batch_sharding=self.data.sharding,
            replicated=self.replicated, replicas=stacked, shuffle=config.shuffle,
            augment=augment))
        self.results = [self._new_results(s, eval_bs) for s in self.seeds]
        self.manager = None
        self.start_epoch = 0
        self._partial: dict[str, np.ndarray] = {}  # steps of an unfinished epoch

    # ------------------------------------------------------------------ set-up

    def _split_models(self):
        """Graph definitions (train / eval mode) and the host state of every model."""
        splits = []
        for m in self.models:
            m.train()
            splits.append(nnx.split(m, nnx.Param, ...))
        first = self.models[0]
        first.eval()
        graph_eval = nnx.split(first, nnx.Param, ...)[0]
        first.train()
        self._params0 = [s[1] for s in splits]
        self._rest0 = [s[2] for s in splits]
        return splits[0][0], graph_eval

    def _num_outputs(self, graph_eval, arrays) -> int:
        """The model's outputs per example, from its abstract evaluation on one example
        (nothing is compiled); a model that cannot take the examples is refused here."""
        x = jax.ShapeDtypeStruct((1, *arrays["x_train"].shape[1:]), arrays["x_train"].dtype)
        try:
            out = jax.eval_shape(lambda p, r, x: nnx.merge(graph_eval, p, r, copy=True)(x),
                                 self._params0[0], self._rest0[0], x)
        except (TypeError, ValueError) as err:
            reason = " ".join(str(err).split())[:300]
            raise error("data['x_train']", "examples of the shape the model takes (a batch "
                        f"of 1 failed in the model: {type(err).__name__}: {reason})",
                        Text(f"examples of shape {tuple(x.shape[1:])} ({x.dtype})")) from err
        if len(out.shape) != 2:
            raise error("model output", "shape (batch, classes)",
                        Text(f"shape {tuple(out.shape)} for a batch of 1"))
        return int(out.shape[1])

    def _place_state(self, tx) -> None:
        """Params, rest and optimizer state on the mesh, with their shardings."""
        cfg = self.config
        shard = dict(mode=cfg.shard_params, min_size=cfg.fsdp_min_size)
        p_sh = param_sharding(self._params0[0], self.mesh, **shard)
        r_sh = param_sharding(self._rest0[0], self.mesh, **shard)
        o_sh = param_sharding(jax.eval_shape(tx.init, self._params0[0]), self.mesh, **shard)
        self.param_specs = {keypath_str(path): spec_as_list(s.spec) for path, s in
                            jax.tree_util.tree_leaves_with_path(p_sh)}
        init = tx.init
        params, rest = self._params0[0], self._rest0[0]
        if self.stacked:
            p_sh, r_sh, o_sh = (stacked_sharding(s) for s in (p_sh, r_sh, o_sh))
            params, rest = _stack(self._params0), _stack(self._rest0)
            init = jax.vmap(tx.init)
        self.shardings = (p_sh, r_sh, o_sh)
        self.params = place_from_host(params, p_sh)
        self.rest = place_from_host(rest, r_sh)
        self.opt_state = jax.jit(init, out_shardings=o_sh)(self.params)
        self.num_params = count_params(self.models[0])

    def _new_results(self, seed: int, eval_bs: int) -> dict:
        tr, te = self.data.splits["train"], self.data.splits["test"]
        return {
            "config": dataclasses.asdict(dataclasses.replace(self.config, seed=seed)),
            "epochs_completed": 0, "curves": {k: [] for k in BUILTIN_CURVES}, "final": {},
            "wall_time": 0.0, "device": describe_devices(self.mesh),
            "num_params": self.num_params, "num_train": tr["n"], "num_test": te["n"],
            "steps_per_epoch": self.n_steps, "eval_batch_size": eval_bs,
            "sharding": {"mode": self.config.shard_params,
                         "mesh": {"data": self.mesh.shape["data"]},
                         "batch": None, "batch_devices": None,
                         "params": self.param_specs},
            "resumed_from": None,
        }

    # ------------------------------------------------------------------ checkpoints

    def open_checkpoints(self, directory: str | None) -> None:
        """Opens ``directory`` and, with ``config.resume``, restores its latest state."""
        if directory is None:
            return
        state = (self.params, self.rest, self.opt_state)
        self.manager = CheckpointManager(directory, keep=self.config.keep_checkpoints,
                                         template=state, shardings=self.shardings)
        restored = self.manager.restore_latest(self.key_impl) if self.config.resume else None
        if restored is None and self.manager.latest_step() is not None:
            raise error("resume", f"True to continue from the checkpoints in checkpoint_dir="
                        f"{directory!r} (latest epoch {self.manager.latest_step()}; or use an "
                        "empty directory)", self.config.resume)
        if restored is None:
            return
        (self.params, self.rest, self.opt_state), saved, saved_key = restored
        if not np.array_equal(to_host(saved_key), to_host(self.key)):
            logger.warning("resume: the checkpointed data-order key differs from the key "
                           "passed to train; continuing with the checkpointed key")
        self.key = place_from_host(saved_key, self.replicated)
        self.start_epoch = int(saved[0]["epochs_completed"])
        for res, old in zip(self.results, saved):
            for name in ("curves", "epochs_completed", "final", "wall_time"):
                res[name] = old[name]
            res["resumed_from"] = self.start_epoch
        logger.info("resumed from %s at epoch %d", directory, self.start_epoch)

    def save(self, epoch: int) -> None:
        cfg = self.config
        if self.manager is not None and (epoch % cfg.checkpoint_every == 0
                                         or epoch == cfg.epochs):
            self.manager.save(epoch, (self.params, self.rest, self.opt_state), self.results,
                              self.key)

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()

    # ------------------------------------------------------------------ spans of steps

    def is_eval_epoch(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (counted from 1) ends with an evaluation."""
        return epoch % self.config.eval_every == 0 or epoch == self.config.epochs

    def next_stop(self, g: int, *, callbacks: bool, max_epochs: int | None = None) -> int:
        """The global step at which the span starting at step ``g`` returns to the host.

        The next point the host is needed at: the end of a ``log_every`` chunk, an
        evaluation with callbacks to call, a checkpoint, ``max_epochs`` epochs (the
        progress bar), the end of training, or the program's capacity.
        """
        cfg, n = self.config, self.n_steps
        end = cfg.epochs * n
        epoch, i = divmod(g, n)
        if cfg.log_every:
            return min(end, epoch * n + min(n, (i // cfg.log_every + 1) * cfg.log_every))
        end = min(end, g + self.programs.cap_steps)
        if max_epochs is not None:
            end = min(end, (epoch + max_epochs) * n)
        if callbacks:
            end = min(end, _next_multiple(epoch + 1, cfg.eval_every) * n)
        if self.manager is not None:
            end = min(end, _next_multiple(epoch + 1, cfg.checkpoint_every) * n)
        return end

    def train_span(self, g0: int, g1: int) -> list[tuple[int, list, list]]:
        """Runs global steps ``[g0, g1)`` in one program call.

        Returns:
            ``(epoch, train, test)`` for every evaluated epoch that ended in the span, in
            order: ``epoch`` counted from 1, ``train`` the epoch's ``(train_loss,
            train_acc)`` and ``test`` its ``(test_loss, test_acc)`` per replica.

        Raises:
            NonFiniteLossError: for the first epoch with a non-finite training loss (the
                first replica in seed order, naming its first bad step), or a non-finite
                test loss at an evaluation.
        """
        cfg, n, reps = self.config, self.n_steps, len(self.seeds)
        tr, te = self.data.splits["train"], self.data.splits["test"]
        self.params, self.rest, self.opt_state, out = self.programs.segment(
            self.params, self.rest, self.opt_state, self.key, tr["x"], tr["y"], tr["index"],
            te["x"], te["y"], te["valid"], np.int32(g0), np.int32(g1),
            np.int32(cfg.eval_every), np.int32(cfg.epochs))
        out = jax.device_get(out)
        steps = {k: np.reshape(out["train"][k], (reps, -1))[:, :g1 - g0] for k in SUM_KEYS}
        evals = {k: np.reshape(out["eval"][k], (reps, self.programs.cap_epochs, -1))
                 for k in SUM_KEYS}
        bad_step, bad_loss = (np.reshape(out[k], -1) for k in ("bad_step", "bad_loss"))
        if cfg.log_every:
            e, i = divmod(g1 - 1, n)
            logger.info("epoch %d step %d: loss %.6g", e + 1, i + 1,
                        float(np.sum(steps["loss_sum"]) / np.sum(steps["count"])))
        steps = {k: np.concatenate([self._partial[k], v], 1) if self._partial else v
                 for k, v in steps.items()}
        first = g1 - steps["count"].shape[1]  # the global step of steps[:, 0]
        rows, evaluated = [], 0
        for epoch in range(g0 // n, (g1 - 1) // n + 1):  # 0-based
            self._raise_if_bad(epoch, bad_step, bad_loss)
            if (epoch + 1) * n > g1 or not self.is_eval_epoch(epoch + 1):
                continue
            lo = epoch * n - first
            train = [means({k: v[r, lo:lo + n] for k, v in steps.items()})
                     for r in range(reps)]
            test = [means({k: v[r, evaluated] for k, v in evals.items()})
                    for r in range(reps)]
            evaluated += 1
            self._raise_if_bad_test(epoch, test)
            rows.append((epoch + 1, train, test))
        keep = g1 % n  # the steps of an unfinished epoch, kept for the next span
        self._partial = {k: v[:, v.shape[1] - keep:] for k, v in steps.items()} if keep else {}
        return rows

    def _raise_if_bad(self, epoch: int, bad_step: np.ndarray, bad_loss: np.ndarray) -> None:
        for r, seed in enumerate(self.seeds):
            if bad_step[r] >= 0 and bad_step[r] // self.n_steps == epoch:
                raise NonFiniteLossError.in_training(
                    float(bad_loss[r]), int(bad_step[r]), self.n_steps,
                    seed=seed if self.stacked else None)

    def _raise_if_bad_test(self, epoch: int, test: list[tuple[float, float]]) -> None:
        for (loss, _), seed in zip(test, self.seeds):
            if not math.isfinite(loss):
                raise NonFiniteLossError.in_evaluation(loss, epoch + 1, self.n_steps,
                                              seed=seed if self.stacked else None)

    # ------------------------------------------------------------------ callbacks, models

    def replica_state(self, r: int) -> tuple[Any, Any]:
        if not self.stacked:
            return self.params, self.rest
        return jax.tree.map(lambda a: a[r], (self.params, self.rest))

    def update_models(self) -> None:
        """Writes the current state into the models (in place)."""
        for r, m in enumerate(self.models):
            nnx.update(m, *self.replica_state(r))

    def run_callbacks(self, epoch: int, callbacks: Sequence[Callback]) -> list[dict]:
        """Calls every callback on every replica's model; returns the extras per replica."""
        extras, changed = [], False
        self.update_models()
        for r, m in enumerate(self.models):
            before = jax.tree.leaves(nnx.state(m))
            extra: dict[str, Any] = {}
            for cb in callbacks:
                extra.update(cb(epoch, m) or {})
            extras.append(extra)
            after = jax.tree.leaves(nnx.state(m))
            changed |= len(before) != len(after) or any(a is not b for a, b in
                                                        zip(before, after))
        if changed or not self.stacked:  # the carry is donated: never alias the models
            self._read_back_models()
        return extras

    def _read_back_models(self) -> None:
        splits = [nnx.split(m, nnx.Param, ...) for m in self.models]
        params = [s[1] for s in splits]
        rest = [s[2] for s in splits]
        ref_p, ref_r = self._params0[0], self._rest0[0]
        if any(jax.tree.structure(p) != jax.tree.structure(ref_p)
               or jax.tree.structure(q) != jax.tree.structure(ref_r)
               for p, q in zip(params, rest)):
            raise error("callbacks", "the model's variables to keep their structure",
                        Text("a changed state tree"))
        p_sh, r_sh, _ = self.shardings
        if self.stacked:
            self.params, self.rest = (copy_to(_stack(t), s) for t, s in
                                      ((params, p_sh), (rest, r_sh)))
        else:
            self.params, self.rest = copy_to(params[0], p_sh), copy_to(rest[0], r_sh)

    def record(self, epoch: int, train: list, test: list, extras: list[dict],
               row_time: float) -> None:
        """Appends the evaluation after epoch ``epoch`` (counted from 1) to every replica's
        curves and ``final``; ``row_time``: seconds since the previous row."""
        info = self.programs.batch_info
        for res, (tl, ta), (vl, va), extra in zip(self.results, train, test, extras):
            row = {"epoch": epoch, "step": epoch * self.n_steps, "train_loss": tl,
                   "train_acc": ta, "test_loss": vl, "test_acc": va, "wall_time": row_time}
            curves = res["curves"]
            for name, value in row.items():
                curves[name].append(value)
            for name, value in extra.items():
                if name in BUILTIN_CURVES:
                    raise error("callbacks", f"metric names other than {BUILTIN_CURVES}", name)
                curves.setdefault(name, [None] * (len(curves["epoch"]) - 1))
                curves[name].append(to_jsonable(value))
            for values in curves.values():  # pad callback curves that skipped an epoch
                if len(values) < len(curves["epoch"]):
                    values.append(None)
            if info:
                res["sharding"]["batch"] = spec_as_list(info["spec"]) \
                    if not isinstance(info["spec"], str) else info["spec"]
                res["sharding"]["batch_devices"] = info["devices"]
            res["final"] = {k: row[k] for k in FINAL_KEYS}

    def advance(self, epochs_completed: int, elapsed: float) -> None:
        """Records how far training got (whole epochs) and the wall time so far."""
        for res in self.results:
            res["epochs_completed"] = epochs_completed
            res["wall_time"] = elapsed

    def batch_placement(self) -> None:
        """Fills in the batch sharding of stacked runs (not inspectable under vmap)."""
        if self.stacked and not self.programs.batch_info:
            self.programs.batch_info.update(spec=self.data.sharding.spec,
                                            devices=len(self.data.sharding.device_set))


def _next_multiple(k: int, m: int) -> int:
    """The smallest multiple of ``m`` that is ``>= k``."""
    return -(-k // m) * m
