"""Sparsity of weights: the inverse participation ratio per unit, and zero counts.

:func:`ipr` is a pure, jittable array metric; :func:`nonzeros` and :func:`sparsity` are
host-side summaries of any pytree that return Python numbers.

Example:
    >>> ipr(jnp.eye(3))
    Array([1., 1., 1.], dtype=float32)
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.metrics.common import as_array
from jaxcnn.tree import array_leaves

__all__ = ["ipr", "nonzeros", "sparsity"]


def ipr(w: Any, axis: int = 0) -> jax.Array:
    """Inverse participation ratio along ``axis``: ``Σ_i w_i⁴ / (Σ_i w_i²)²``.

    For a dense weight ``(in_features, out_features)`` the default ``axis=0`` gives one value
    per hidden unit (Ingrosso & Goldt 2022). Scores: ``1/n`` for weight spread evenly over
    ``n`` entries, ``≈ 3/D`` for a random Gaussian vector of length ``D``, ``1`` for a
    one-hot vector; a conv-embedded (VALID) unit scores the IPR of its kernel. All-zero
    units score 0 (no NaN). Note: some public code reports the reciprocal (the
    "participation ratio"); this is not it. Computed on ``w / max|w|`` so float32 does not
    under/overflow.

    Args:
      w: array of any shape.
      axis: the axis summed over (the input dimension of each unit).

    Returns:
      ``w``'s shape without ``axis``.

    Example:
      >>> ipr(jnp.eye(4))  # one-hot units
      Array([1., 1., 1., 1.], dtype=float32)
      >>> ipr(jnp.ones((4, 2)))  # spread evenly over 4
      Array([0.25, 0.25], dtype=float32)
    """
    w = as_array(w)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return _ipr(w, axis=int(axis))


@functools.partial(jax.jit, static_argnames="axis")
def _ipr(w, axis):
    m = jnp.max(jnp.abs(w), axis=axis, keepdims=True)
    u = w / jnp.where(m > 0, m, 1)
    s2 = jnp.sum(u * u, axis=axis)
    s4 = jnp.sum(u**4, axis=axis)
    return jnp.where(s2 > 0, s4 / jnp.where(s2 > 0, s2, 1) ** 2, 0.0)


def nonzeros(tree: Any) -> dict[str, int]:
    """Number of non-zero entries per array leaf, keyed by path string.

    Works on any pytree: nested dicts/lists, ``nnx.State`` (e.g. ``nnx.state(model,
    nnx.Param)``), a single array (key ``""``). Host-side: call it outside ``jit`` (it
    returns Python ints and pulls arrays to the host).

    Args:
      tree: pytree of arrays.

    Returns:
      ``{path: count}``, e.g. ``{"layers/0/kernel": 1234, "layers/0/bias": 64}``.

    Example:
      >>> nonzeros({"a": jnp.array([0., 1., 2.]), "b": [jnp.zeros(2)]})
      {'a': 2, 'b/0': 0}
    """
    return {k: int(np.count_nonzero(v)) for k, v in array_leaves(tree)}


def sparsity(tree: Any) -> dict[str, Any]:
    """Fraction of exactly-zero entries, overall and per leaf (host-side, outside jit).

    Args:
      tree: pytree of arrays (see :func:`nonzeros`).

    Returns:
      ``{"overall": float, "per_leaf": {path: float}, "nonzeros": int, "size": int}``
      (JSON-serialisable; an empty tree has ``overall = 0.0``).

    Example:
      >>> sparsity({"a": jnp.array([0., 1.]), "b": jnp.zeros(2)})["overall"]
      0.75
    """
    leaves = array_leaves(tree)
    per_leaf, nnz, size = {}, 0, 0
    for k, v in leaves:
        c = int(np.count_nonzero(v))
        per_leaf[k] = 1.0 - c / v.size if v.size else 0.0
        nnz += c
        size += int(v.size)
    overall = 1.0 - nnz / size if size else 0.0
    return {"overall": overall, "per_leaf": per_leaf, "nonzeros": nnz, "size": size}
