"""Distances of a dense weight to the convolution and locally connected subspaces.

``‖W − P W‖_F / ‖W‖_F`` with ``P`` the orthogonal projection onto the dense matrices
of convolutions (:func:`conv_distance`) or of locally connected layers
(:func:`local_distance`) of a given geometry, built from the exact embeddings and
projections of :mod:`jaxcnn.embed`.

Example:
    >>> from jaxcnn.embed import conv_to_dense
    >>> w = conv_to_dense(jnp.ones((3, 1, 2)), (6, 1))  # 1-D VALID conv, (6, 4 * 2)
    >>> float(conv_distance(w, (6, 1), 3)), float(local_distance(w, (6, 1), 3))
    (0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxcnn.embed import conv_to_dense, dense_to_conv, dense_to_local, local_to_dense
from jaxcnn.metrics.common import check_dense_weight, check_rank

__all__ = ["conv_distance", "local_distance"]


def _rel_dist(w: jax.Array, p: jax.Array) -> jax.Array:
    num = jnp.linalg.norm((w - p).reshape(-1))
    den = jnp.linalg.norm(w.reshape(-1))
    dist = jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0.0)
    return jnp.where(jnp.isfinite(den) & jnp.isfinite(num), dist, jnp.nan)


def conv_distance(
    w: Any,
    in_shape: Sequence[int],
    kernel_size: int | Sequence[int],
    *,
    strides: Any = 1,
    padding: Any = "VALID",
    dilation: Any = 1,
    groups: int = 1,
) -> jax.Array:
    """Relative distance of a dense weight to the convolution subspace.

    ``‖W − P W‖_F / ‖W‖_F`` with ``P W = conv_to_dense(dense_to_conv(W, ...), ...)`` the
    orthogonal projection onto dense matrices of convolutions with these settings (from
    :mod:`jaxcnn.embed`). 0 for a conv-embedded ``W``; close to 1 for a random dense
    ``W`` (the subspace has few dimensions); in between for locally connected weights.
    0 for ``W = 0``.

    Args:
      w: ``(prod(in_shape), prod(out_spatial) · C_out)``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.
      kernel_size, strides, padding, dilation, groups: the conv geometry
        (the conventions of ``docs/design.md``; an int ``kernel_size`` only where
        ``in_shape`` reads one way, the spatial-rank rule of :mod:`jaxcnn.metrics`).

    Returns:
      Scalar in ``[0, 1]``.
    """
    w, shape = check_dense_weight(w, in_shape)
    kernel_size = check_rank(kernel_size, shape, name="kernel_size")
    kw = {"strides": strides, "padding": padding, "dilation": dilation, "groups": groups}
    kernel = dense_to_conv(w, shape, kernel_size, **kw)
    return _rel_dist(w, conv_to_dense(kernel, shape, **kw))


def local_distance(
    w: Any,
    in_shape: Sequence[int],
    kernel_size: int | Sequence[int],
    *,
    strides: Any = 1,
    padding: Any = "VALID",
    dilation: Any = 1,
) -> jax.Array:
    """Relative distance of a dense weight to the locally connected subspace.

    ``‖W − P W‖_F / ‖W‖_F`` with ``P W = local_to_dense(dense_to_local(W, ...), ...)``
    (keeps the entries inside each unit's window, zeroes the rest). 0 for conv-embedded
    or locally connected ``W``; ≈ ``sqrt(1 − window/total)`` for random dense ``W``;
    NaN for a ``W`` with a non-finite entry.

    Args:
      w: ``(prod(in_shape), prod(out_spatial) · C_out)``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.
      kernel_size, strides, padding, dilation: the local-conv geometry (``kernel_size``
        as for :func:`conv_distance`).

    Returns:
      Scalar in ``[0, 1]``.
    """
    w, shape = check_dense_weight(w, in_shape)
    kernel_size = check_rank(kernel_size, shape, name="kernel_size")
    kw = {"strides": strides, "padding": padding, "dilation": dilation}
    kernel = dense_to_local(w, shape, kernel_size, **kw)
    return _rel_dist(w, local_to_dense(kernel, shape, **kw))
