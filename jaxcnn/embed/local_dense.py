"""LCN ⊂ FC: the dense matrix of a locally connected layer, and the projection back.

:func:`local_to_dense` is the embedding ``L -> B L``; :func:`dense_to_local` the
orthogonal projection, which keeps each output position's window of ``W`` (an exact
restriction without ``"CIRCULAR"`` aliasing; see the :mod:`jaxcnn.embed` docstring).

Example:
    >>> L = jnp.arange(4.).reshape(2, 2, 1, 1)  # 1-D, 2 positions of 2 taps
    >>> local_to_dense(L, (3, 1)).tolist()  # column p: position p's own kernel
    [[0.0, 0.0], [1.0, 2.0], [0.0, 3.0]]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxcnn.embed.checks import local_geometry, projection_geometry
from jaxcnn.embed.einsums import apply_gram_local, as_float, embed_local, embed_local_T
from jaxcnn.embed.tables import aliased
from jaxcnn.validation import Geometry

__all__ = ["dense_to_local", "local_to_dense"]


def local_to_dense(kernel: jax.Array, in_shape, *, strides=1, padding="VALID", dilation=1
                   ) -> jax.Array:
    """The dense matrix of a locally connected layer (the exact LCN ⊂ FC embedding).

    Args:
      kernel: local kernel ``(*out_spatial, *kernel_size, C_in, C_out)``.
      in_shape: ``(*spatial, C_in)``.
      strides, padding, dilation: as in :func:`conv_to_dense`.

    Returns:
      ``W: (prod(in_shape), prod(out_spatial) * C_out)`` with
      ``x.reshape(*b, -1) @ W == local_conv(x, kernel, ...).reshape(*b, -1)``.
      Weights of taps that fall on zero padding do not appear in ``W``.

    Example:
      >>> k = jnp.ones((4, 4, 3, 3, 2, 5))
      >>> local_to_dense(k, (6, 6, 2)).shape
      (72, 80)
    """
    kernel = jnp.asarray(kernel)
    geom, _ = local_geometry(kernel, in_shape, strides=strides, padding=padding,
                             dilation=dilation)
    return _local_to_dense(kernel, geom)


def dense_to_local(W: jax.Array, in_shape, kernel_size, *, strides=1, padding="VALID",
                   dilation=1) -> jax.Array:
    """Orthogonal projection of a dense weight onto the locally connected layers.

    Keeps, for every output position, the entries of ``W`` inside its window
    (the rest of ``W`` is the residual, orthogonal to every LCN). Window taps that
    fall on zero padding come back as ``0``. With ``"CIRCULAR"`` aliasing (two
    taps of one position reading the same input) the per-position Gram matrix
    ``G_p`` is not diagonal and ``G_p⁺`` gives the exact (minimum-norm) projection.

    Hence ``dense_to_local(local_to_dense(L)) == L`` wherever the taps touch the
    input, and ``local_to_dense(dense_to_local(W))`` is the orthogonal projector
    (equal to ``W * locality_mask(...)`` without aliasing).

    Args:
      W: ``(prod(in_shape), prod(out_spatial) * C_out)``.
      in_shape: ``(*spatial, C_in)``.
      kernel_size: ``n`` ints.
      strides, padding, dilation: as in :func:`conv_to_dense`.

    Returns:
      Local kernel ``(*out_spatial, *kernel_size, C_in, C_out)`` (float).

    Example:
      >>> W = jnp.ones((6 * 6 * 2, 4 * 4 * 5))
      >>> dense_to_local(W, (6, 6, 2), (3, 3)).shape
      (4, 4, 3, 3, 2, 5)
    """
    W = jnp.asarray(W)
    geom, in_shape, _ = projection_geometry(W, in_shape, kernel_size, strides=strides,
                                            padding=padding, dilation=dilation)
    return _dense_to_local(W, geom, in_shape[-1])


@functools.partial(jax.jit, static_argnames=("geom",))
def _local_to_dense(kernel, geom: Geometry):
    w = embed_local(kernel, geom)
    return w.reshape(math.prod(w.shape[:geom.ndim + 1]), -1)


@functools.partial(jax.jit, static_argnames=("geom", "c_in"))
def _dense_to_local(W, geom: Geometry, c_in: int):
    W = as_float(W)
    w = W.reshape(*geom.in_spatial, c_in, *geom.out_spatial, -1)
    t = embed_local_T(w, geom)  # already zero on padding taps
    return apply_gram_local(t, geom, pinv=True) if aliased(geom) else t
