"""One training run on the mesh: a single model, or a stack of replicas trained together.

:class:`Run` holds what both :func:`jaxcnn.train.train` and
:func:`jaxcnn.train.train_seeds` need: the state on the mesh, the compiled programs, the
checkpoint manager and the per-replica results. The host loop (``loop.py``) asks it for
one epoch at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
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
from jaxcnn.train.data import DeviceData, check_targets
from jaxcnn.train.sharding import (copy_to, describe_devices, make_mesh, param_sharding,
                                   place_from_host, spec_as_list, stacked_sharding, to_host)
from jaxcnn.train.steps import Programs, StepSpec
from jaxcnn.validation import Text, error

__all__ = ["BUILTIN_CURVES", "Run"]

logger = logging.getLogger("jaxcnn.train")

BUILTIN_CURVES = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                  "wall_time")
FINAL_KEYS = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc")


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
    """

    def __init__(self, models: Sequence[nnx.Module], tx: optax.GradientTransformation,
                 arrays: Mapping[str, np.ndarray], *, config: TrainConfig,
                 keys: Sequence[jax.Array], seeds: Sequence[int], stacked: bool,
                 programs: Programs | None = None,
                 device_data: DeviceData | None = None):
        self.models, self.config, self.stacked = list(models), config, stacked
        self.seeds = [int(s) for s in seeds]
        self.mesh = make_mesh(config.devices)
        self.replicated = NamedSharding(self.mesh, P())
        eval_bs = _eval_batch_size(config, self.mesh.shape["data"])
        graph_train, graph_eval = self._split_models()
        if device_data is None:
            check_targets(arrays, num_outputs=self._num_outputs(graph_eval, arrays),
                          loss=config.loss)
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
        self.programs = programs or Programs(StepSpec(
            graph_train=graph_train, graph_eval=graph_eval, tx=tx, loss=config.loss,
            batch_size=config.batch_size, eval_batch_size=eval_bs,
            num_eval_batches=-(-te["n_padded"] // eval_bs), shardings=self.shardings,
            batch_sharding=self.data.sharding, replicated=self.replicated, replicas=stacked,
            shuffle=config.shuffle))
        self.results = [self._new_results(s, eval_bs) for s in self.seeds]
        self.manager = None
        self.start_epoch = 0

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
        x = jax.ShapeDtypeStruct((1, *arrays["x_train"].shape[1:]), arrays["x_train"].dtype)
        out = jax.eval_shape(lambda p, r, x: nnx.merge(graph_eval, p, r, copy=True)(x),
                             self._params0[0], self._rest0[0], x)
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

    # ------------------------------------------------------------------ one epoch

    def train_epoch(self, epoch: int) -> list[tuple[float, float]]:
        """Runs epoch ``epoch`` (0-based); returns ``(train_loss, train_acc)`` per replica.

        Raises:
            NonFiniteLossError: for the first replica (in seed order) whose loss was not
                finite, naming its first bad step.
        """
        cfg, tr = self.config, self.data.splits["train"]
        perm = self.programs.permutation(self.key, np.int32(epoch), tr["index"])
        length = cfg.log_every or self.n_steps
        metrics, bads = [], []
        for start in range(0, self.n_steps, length):
            chunk = self.programs.chunk(min(length, self.n_steps - start))
            self.params, self.rest, self.opt_state, m, bad = chunk(
                self.params, self.rest, self.opt_state, perm, tr["x"], tr["y"],
                np.int32(start))
            metrics.append(m)
            bads.append(bad)
            if cfg.log_every:
                m = jax.device_get(m)
                logger.info("epoch %d step %d: loss %.6g", epoch + 1,
                            start + m["count"].shape[-1],
                            float(np.sum(m["loss_sum"]) / np.sum(m["count"])))
        metrics, bads = jax.device_get((metrics, bads))
        self._raise_if_bad(epoch, bads)
        sums = {k: np.concatenate([np.reshape(m[k], (len(self.seeds), -1)) for m in metrics],
                                  axis=1) for k in ("loss_sum", "correct", "count")}
        return [(math.fsum(sums["loss_sum"][r]) / math.fsum(sums["count"][r]),
                 math.fsum(sums["correct"][r]) / math.fsum(sums["count"][r]))
                for r in range(len(self.seeds))]

    def _raise_if_bad(self, epoch: int, bads: list[dict]) -> None:
        for r, seed in enumerate(self.seeds):
            for bad in bads:
                step = int(np.reshape(bad["step"], -1)[r])
                if step >= 0:
                    loss = float(np.reshape(bad["loss"], -1)[r])
                    g = epoch * self.n_steps + step
                    who = f" (seed {seed})" if self.stacked else ""
                    raise NonFiniteLossError(
                        f"non-finite training loss {loss} at epoch {epoch + 1}, step {step} "
                        f"of {self.n_steps} (global step {g}){who}; the last checkpoint (if "
                        f"any) is from before this epoch", epoch=epoch + 1, step=step,
                        global_step=g, loss=loss, seed=seed if self.stacked else None)

    def evaluate(self, epoch: int) -> list[tuple[float, float]]:
        """``(test_loss, test_acc)`` per replica in eval mode, after epoch ``epoch``."""
        te = self.data.splits["test"]
        sums = jax.device_get(self.programs.evaluate(self.params, self.rest, te["x"], te["y"],
                                                     te["valid"]))
        out = []
        for r, seed in enumerate(self.seeds):
            loss_sum, correct, count = (math.fsum(np.reshape(sums[k], (len(self.seeds), -1))[r])
                                        for k in ("loss_sum", "correct", "count"))
            loss = loss_sum / count
            if not math.isfinite(loss):
                g = (epoch + 1) * self.n_steps
                who = f" (seed {seed})" if self.stacked else ""
                raise NonFiniteLossError(
                    f"non-finite test loss {loss} after epoch {epoch + 1} (global step {g})"
                    f"{who}; the last checkpoint (if any) is from before this epoch",
                    epoch=epoch + 1, step=None, global_step=g, loss=loss,
                    seed=seed if self.stacked else None)
            out.append((loss, correct / count))
        return out

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
               epoch_time: float, elapsed: float) -> None:
        """Appends epoch ``epoch`` (0-based) to every replica's curves and ``final``."""
        info = self.programs.batch_info
        for res, (tl, ta), (vl, va), extra in zip(self.results, train, test, extras):
            row = {"epoch": epoch + 1, "step": (epoch + 1) * self.n_steps, "train_loss": tl,
                   "train_acc": ta, "test_loss": vl, "test_acc": va, "wall_time": epoch_time}
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
            res["epochs_completed"] = epoch + 1
            if info:
                res["sharding"]["batch"] = spec_as_list(info["spec"]) \
                    if not isinstance(info["spec"], str) else info["spec"]
                res["sharding"]["batch_devices"] = info["devices"]
            res["final"] = {k: row[k] for k in FINAL_KEYS}
            res["wall_time"] = elapsed

    def batch_placement(self) -> None:
        """Fills in the batch sharding of stacked runs (not inspectable under vmap)."""
        if self.stacked and not self.programs.batch_info:
            self.programs.batch_info.update(spec=self.data.sharding.spec,
                                            devices=len(self.data.sharding.device_set))


def elapsed_since(t0: float, before: float) -> float:
    return before + time.perf_counter() - t0
