"""Orbax checkpoints of the training state and the results so far."""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.io import to_jsonable
from jaxcnn.train.sharding import is_key, to_host
from jaxcnn.validation import Text, error

__all__ = ["CheckpointManager"]

logger = logging.getLogger("jaxcnn.train")


class CheckpointManager:
    """Orbax ``CheckpointManager`` over a state pytree + a JSON payload of results.

    The array tree is stored as a flat dict of leaves (``"00000"``, ...), typed PRNG keys as
    their ``key_data``, so that any pytree (nnx.State, optax namedtuples, stacked replicas)
    round-trips; the structure comes from the live template at restore time. Orbax
    finalises a step by an atomic rename, so a crash (even SIGKILL) leaves only complete
    checkpoints.

    Args:
        directory: the checkpoint folder (created if missing).
        keep: how many checkpoints to keep.
        template: a pytree like the state to be saved (shapes, dtypes, structure).
        shardings: the state's shardings (a pytree of the same structure).
    """

    def __init__(self, directory: str, *, keep: int, template: Any, shardings: Any):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self._leaves, self._treedef = jax.tree.flatten(template)
        self._shardings = jax.tree.leaves(shardings)
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options,
                                              item_names=("state", "results"))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def _flat(self, tree: Any) -> dict:
        return {f"{i:05d}": (jax.random.key_data(x) if is_key(x) else x)
                for i, x in enumerate(jax.tree.leaves(tree))}

    def save(self, step: int, tree: Any, results: Any, key: jax.Array) -> None:
        """Saves ``tree`` (arrays), ``results`` (JSON-able) and the data-order ``key``."""
        ocp = self._ocp
        payload = {"results": to_jsonable(results), "key_data": to_host(key).tolist(),
                   "num_leaves": len(self._leaves)}
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(self._flat(tree)),
            results=ocp.args.JsonSave(payload)))

    def _abstract(self) -> dict:
        abstract = {}
        for i, (x, s) in enumerate(zip(self._leaves, self._shardings)):
            shape, dtype = x.shape, x.dtype
            if is_key(x):
                kd = jax.eval_shape(jax.random.key_data, x)
                shape, dtype = kd.shape, kd.dtype
            abstract[f"{i:05d}"] = jax.ShapeDtypeStruct(shape, dtype, sharding=s)
        return abstract

    def restore_latest(self, key_impl: Any):
        """``(tree, results, key)`` from the newest restorable step, or ``None``."""
        ocp = self._ocp
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                out = self._manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(self._abstract()),
                    results=ocp.args.JsonRestore()))
            except Exception as err:  # a damaged checkpoint: fall back to an older one
                logger.warning("could not restore checkpoint %d in %s: %s", step,
                               self.directory, err)
                continue
            saved = out["results"]
            if saved.get("num_leaves") != len(self._leaves):
                raise error("checkpoint_dir", f"checkpoints of this model and optimizer "
                            f"({len(self._leaves)} arrays)",
                            Text(f"{saved.get('num_leaves')} arrays in {self.directory}"))
            leaves = []
            for i, x in enumerate(self._leaves):
                value = out["state"][f"{i:05d}"]
                if is_key(x):
                    value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(x))
                leaves.append(value)
            tree = jax.tree.unflatten(self._treedef, leaves)
            key_data = jnp.asarray(np.asarray(saved["key_data"], np.uint32))
            return tree, saved["results"], jax.random.wrap_key_data(key_data, impl=key_impl)
        return None

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
