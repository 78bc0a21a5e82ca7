"""The device mesh, parameter shardings, and moving pytrees onto it.

Replicas (:func:`jaxcnn.train.train_seeds`) carry a leading replica axis on every state
leaf; that axis is never sharded (``P(None, *spec)``): each replica is data-parallel over
the whole mesh, exactly as a single :func:`jaxcnn.train.train` run would be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcnn.train.config import SHARD_MODES
from jaxcnn.validation import error

__all__ = ["make_mesh", "param_sharding", "fsdp_spec", "stacked_sharding", "is_key",
           "to_host", "place_from_host", "copy_to", "spec_as_list", "describe_devices"]


def make_mesh(devices: int | None = None) -> Mesh:
    """The 1-D ``("data",)`` mesh over the first ``devices`` of ``jax.devices()``.

    Raises:
        ValueError: if more devices are asked for than exist.

    Example:
        >>> make_mesh(1).shape["data"]
        1
    """
    available = jax.devices()
    n = len(available) if devices is None else int(devices)
    if not 1 <= n <= len(available):
        raise error("devices", f"between 1 and {len(available)} (the {available[0].platform} "
                    "devices available)", devices)
    return Mesh(np.array(available[:n]), ("data",))


def fsdp_spec(shape: Sequence[int], n: int, min_size: int) -> P:
    """FSDP rule: split the largest dim divisible by ``n`` if ndim >= 2 and size >= min_size.

    Example:
        >>> fsdp_spec((32, 64), 8, 1024)
        P(None, 'data')
    """
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
    if mode not in SHARD_MODES:
        raise error("mode", f"one of {SHARD_MODES}", mode)
    n = mesh.shape["data"]

    def one(leaf):
        if mode == "none" or is_key(leaf):
            return NamedSharding(mesh, P())
        return NamedSharding(mesh, fsdp_spec(tuple(leaf.shape), n, min_size))

    return jax.tree.map(one, tree)


def stacked_sharding(shardings: Any) -> Any:
    """The shardings of the same leaves with a leading, unsharded replica axis."""
    return jax.tree.map(lambda s: NamedSharding(s.mesh, P(None, *s.spec)), shardings)


def is_key(x: Any) -> bool:
    """Whether ``x`` is a typed PRNG key array."""
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_host(x: Any) -> np.ndarray:
    """A NumPy copy of ``x`` (a typed key becomes its ``key_data``)."""
    if is_key(x):
        x = jax.random.key_data(x)
    return np.asarray(jax.device_get(x))


def place_from_host(tree: Any, shardings: Any) -> Any:
    """Fresh global arrays with the given shardings from (identical per-process) values."""

    def one(x, sharding):
        host = to_host(x)
        arr = jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])
        return jax.random.wrap_key_data(arr, impl=jax.random.key_impl(x)) if is_key(x) else arr

    return jax.tree.map(one, tree, shardings)


def copy_to(tree: Any, shardings: Any) -> Any:
    """Copies of already-global arrays (never aliases: the training carry gets donated)."""
    return jax.tree.map(lambda x, s: jax.device_put(x, s, may_alias=False), tree, shardings)


def spec_as_list(spec: P) -> list:
    """A JSON-able form of a ``PartitionSpec``."""
    return [None if a is None else (a if isinstance(a, str) else list(a)) for a in spec]


def describe_devices(mesh: Mesh) -> dict:
    """``{"platform", "device_kind", "count", "process_count"}`` of the mesh."""
    devs = list(mesh.devices.flat)
    return {"platform": devs[0].platform, "device_kind": devs[0].device_kind,
            "count": len(devs), "process_count": jax.process_count()}
