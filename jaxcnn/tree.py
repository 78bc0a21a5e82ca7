"""Pytree helpers shared by every module: key paths, array leaves, parameter counts.

``keypath_str`` names a leaf the same way everywhere (optimizer masks, metrics,
checkpoints, sharding reports), and ``count_params`` counts the ``nnx.Param``
entries of a model, also of an abstract ``nnx.eval_shape`` one.

Example:
    >>> import jax.numpy as jnp
    >>> [name for name, _ in array_leaves({"layers": [{"kernel": jnp.ones(2)}]})]
    ['layers/0/kernel']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["array_leaves", "count_params", "keypath_str"]


def keypath_str(path: Sequence[Any]) -> str:
    """A pytree key path as a ``/``-joined string, e.g. ``"layers/0/kernel"``.

    Dict keys, sequence indices and attribute names become path components; a trailing
    ``.value`` attribute (how an ``nnx.Variable`` stores its array) is dropped, so an
    ``nnx.State`` of ``Param`` variables and its pure-array version give the same strings.
    """
    tu = jax.tree_util
    parts = []
    for k in path:
        if isinstance(k, tu.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, tu.SequenceKey):
            parts.append(str(k.idx))
        elif isinstance(k, tu.GetAttrKey):
            parts.append(str(k.name))
        elif isinstance(k, tu.FlattenedIndexKey):
            parts.append(str(k.key))
        else:
            parts.append(str(k))
    if len(path) > 1 and isinstance(path[-1], tu.GetAttrKey) and path[-1].name == "value":
        parts.pop()
    return "/".join(parts)


def array_leaves(tree: Any) -> list[tuple[str, np.ndarray]]:
    """``(keypath_str(path), host array)`` for every array (or scalar) leaf of ``tree``.

    Host-side: pulls each leaf to NumPy; call it outside ``jit``.
    """
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float)):
            out.append((keypath_str(path), np.asarray(leaf)))
    return out


def count_params(model: Any) -> int:
    """Number of trainable parameters (``nnx.Param`` entries; BN statistics excluded).

    Works on abstract models too, so huge models can be counted without memory::

        count_params(nnx.eval_shape(lambda: SFC((32, 32, 3), 10, alpha=150,
                                                  rngs=nnx.Rngs(0))))
    """
    from flax import nnx  # flax only when a model is counted: `import jaxcnn` stays light

    return int(sum(math.prod(v.shape) for v in jax.tree.leaves(nnx.state(model, nnx.Param))))
