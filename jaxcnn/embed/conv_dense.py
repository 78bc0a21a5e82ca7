"""CNN ⊂ FC: the dense matrix of a convolution, and the projection of a dense weight back.

:func:`conv_to_dense` is the embedding ``k -> A k`` (each entry of ``A k`` an exact copy
of a kernel weight or zero); :func:`dense_to_conv` the orthogonal projection
``W -> (AᵀA)⁺ Aᵀ W``, the mean of the entries of ``W`` tied to each kernel weight (see
the :mod:`jaxcnn.embed` docstring), exact bit for bit on a convolution's matrix. Both
are jitted with the geometry static.

Example:
    >>> k = jnp.arange(3.).reshape(3, 1, 1)  # 1-D, VALID, C_in = C_out = 1
    >>> conv_to_dense(k, (4, 1)).tolist()  # column p: the kernel placed at p
    [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0], [0.0, 2.0]]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxcnn.embed.checks import check_dense_groups, conv_geometry, projection_geometry
from jaxcnn.embed.einsums import (
    apply_pinv_shared,
    as_float,
    embed_shared,
    embed_shared_T,
    tied_mean_dense,
)
from jaxcnn.embed.tables import aliased, diag_groups, expand_groups
from jaxcnn.validation import Geometry

__all__ = ["conv_to_dense", "dense_to_conv"]


def conv_to_dense(kernel: jax.Array, in_shape, *, strides=1, padding="VALID", dilation=1,
                  groups: int = 1) -> jax.Array:
    """The dense matrix of a convolution (the exact CNN ⊂ FC embedding).

    Args:
      kernel: ``(*kernel_size, C_in // groups, C_out)`` (HWIO).
      in_shape: ``(*spatial, C_in)``; ``n = len(in_shape) - 1`` spatial dims.
      strides: int or ``n`` ints.
      padding: ``"VALID"``, ``"SAME"``, ``"CIRCULAR"``, int, or ``n`` ``(low, high)`` pairs.
      dilation: int or ``n`` ints.
      groups: feature groups (must divide ``C_in`` and ``C_out``).

    Returns:
      ``W: (prod(in_shape), prod(out_spatial) * C_out)``, the kernel's dtype, with
      ``x.reshape(*b, -1) @ W == conv(x, kernel, ...).reshape(*b, -1)``. Every entry
      is an exact copy of a kernel weight or zero (or, for taps aliased by
      ``"CIRCULAR"`` padding of a window larger than the input, their sum).

    Example:
      >>> k = jnp.ones((9, 9, 3, 64))
      >>> conv_to_dense(k, (32, 32, 3), strides=2, padding="SAME").shape
      (3072, 16384)
    """
    kernel = jnp.asarray(kernel)
    geom, groups = conv_geometry(kernel, in_shape, strides=strides, padding=padding,
                                 dilation=dilation, groups=groups)
    return _conv_to_dense(kernel, geom, groups)


def dense_to_conv(W: jax.Array, in_shape, kernel_size, *, strides=1, padding="VALID",
                  dilation=1, groups: int = 1) -> jax.Array:
    """Orthogonal projection of a dense weight onto the convolutions, as a kernel.

    Returns ``k* = argmin_k ||W - conv_to_dense(k)||_F = (AᵀA)⁺ Aᵀ W``. ``Aᵀ W`` sums
    the entries of ``W`` tied to each kernel weight, and ``AᵀA = G ⊗ I`` where
    ``G`` is the Gram matrix over kernel offsets (:mod:`jaxcnn.embed` docstring). Normally ``G``
    is diagonal with the number of positions at which each tap reads real input,
    so ``k*`` is the **mean of the tied entries** (entries of ``W`` outside the
    convolution's pattern, and channel pairs across groups, are ignored). Taps
    that never touch the input come back as ``0``. With ``"CIRCULAR"`` padding of
    a window larger than the input (aliased taps) the exact pseudo-inverse is used
    and ``k*`` is the minimum-norm minimiser.

    The mean is taken as ``r + mean(x - r)`` over the gathered tied entries (``r``
    one of them), so ``dense_to_conv(conv_to_dense(k)) == k`` **bit for bit** wherever
    every tap touches the input (and taps do not alias; the aliased pseudo-inverse is
    exact to float rounding), and ``conv_to_dense(dense_to_conv(W))`` is the orthogonal
    projector. A non-finite entry of ``W`` makes its channel pair NaN at every tap.

    Args:
      W: ``(prod(in_shape), prod(out_spatial) * C_out)`` (``x @ W`` layout).
      in_shape: ``(*spatial, C_in)``.
      kernel_size: ``n`` ints.
      strides, padding, dilation, groups: as in :func:`conv_to_dense`.

    Returns:
      Kernel ``(*kernel_size, C_in // groups, C_out)`` (float).

    Example:
      >>> k = jax.random.normal(jax.random.key(0), (3, 3, 2, 4))
      >>> W = conv_to_dense(k, (8, 8, 2), padding="SAME")
      >>> bool(jnp.array_equal(dense_to_conv(W, (8, 8, 2), (3, 3), padding="SAME"), k))
      True
    """
    W = jnp.asarray(W)
    geom, in_shape, c_out = projection_geometry(W, in_shape, kernel_size, strides=strides,
                                                padding=padding, dilation=dilation)
    c_in = in_shape[-1]
    groups = check_dense_groups(groups, c_in, c_out)
    return _dense_to_conv(W, geom, c_in, groups)


@functools.partial(jax.jit, static_argnames=("geom", "groups"))
def _conv_to_dense(kernel, geom: Geometry, groups: int):
    w = embed_shared(expand_groups(kernel, groups), geom)
    return w.reshape(math.prod(w.shape[:geom.ndim + 1]), -1)


@functools.partial(jax.jit, static_argnames=("geom", "c_in", "groups"))
def _dense_to_conv(W, geom: Geometry, c_in: int, groups: int):
    W = as_float(W)
    w = W.reshape(*geom.in_spatial, c_in, *geom.out_spatial, -1)
    if not aliased(geom):  # the mean of the tied entries, exact when they are equal
        return diag_groups(tied_mean_dense(w, geom), groups)
    t = diag_groups(embed_shared_T(w, geom), groups)
    return apply_pinv_shared(t, geom)
