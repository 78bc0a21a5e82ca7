"""Argument checks of the embeddings (static values, at trace time).

Each public function of :mod:`jaxcnn.embed` validates its arguments here and resolves
the layer's :class:`jaxcnn.validation.Geometry` once: :func:`conv_geometry` for a
shared kernel, :func:`local_geometry` for a local one, :func:`projection_geometry` for
a dense weight and a kernel size. Every error reads ``"<argument>: expected ..., got
..."`` (:func:`jaxcnn.validation.error`).

Example:
    >>> import numpy as np
    >>> geom, groups = conv_geometry(np.ones((3, 3, 2, 4)), (8, 8, 2), strides=1,
    ...                              padding="SAME", dilation=1, groups=1)
    >>> geom.out_spatial, groups
    ((8, 8), 1)
"""

from __future__ import annotations

import math

import jax

from jaxcnn import validation
from jaxcnn.validation import Geometry

__all__ = [
    "check_dense",
    "check_dense_groups",
    "check_kernel_ndim",
    "check_kernel_size",
    "conv_geometry",
    "local_geometry",
    "projection_geometry",
    "spatial_dims",
]

CONV_LAYOUT = "(*kernel_size, C_in // groups, C_out)"
LOCAL_LAYOUT = "(*out_spatial, *kernel_size, C_in, C_out)"


def spatial_dims(in_shape) -> tuple[tuple[int, ...], int]:
    """``in_shape`` as a tuple (:func:`jaxcnn.validation.in_shape_tuple`), and its spatial dims."""
    in_shape = validation.in_shape_tuple(in_shape)
    return in_shape, len(in_shape) - 1


def check_kernel_ndim(kernel: jax.Array, ndim: int, layout: str, in_shape) -> None:
    """Checks that ``kernel`` has ``ndim`` axes (``layout``, in words)."""
    if kernel.ndim != ndim:
        raise validation.error(
            "kernel", f"shape {layout} with ndim {ndim} (from in_shape={in_shape})",
            f"shape {tuple(kernel.shape)}")


def check_kernel_size(kernel_size, n: int, in_shape) -> tuple[int, ...]:
    """``kernel_size`` as ``n`` positive ints, one per spatial dim of ``in_shape``."""
    ks = validation.kernel_size_tuple(kernel_size)
    if len(ks) != n:
        raise validation.error(
            "kernel_size", f"{n} ints, one per spatial dim of in_shape={in_shape}", kernel_size)
    return ks


def check_dense(W: jax.Array, in_shape, geom: Geometry) -> int:
    """Checks ``W: (prod(in_shape), prod(out_spatial) * C_out)``; returns ``C_out``."""
    in_features = math.prod(in_shape)
    positions = math.prod(geom.out_spatial)
    if W.ndim != 2:
        raise validation.error("W", "a 2-D dense weight (in_features, out_features)",
                               f"shape {tuple(W.shape)}")
    if W.shape[0] != in_features or W.shape[1] % positions or W.shape[1] == 0:
        raise validation.error(
            "W", f"shape (prod(in_shape)={in_features}, prod(out_spatial)*C_out = "
            f"{positions}*C_out) for in_shape={in_shape} and output spatial shape "
            f"{geom.out_spatial}", f"shape {tuple(W.shape)}")
    return W.shape[1] // positions


def check_dense_groups(groups, c_in: int, c_out: int) -> int:
    """``groups`` of a layer ``C_in -> C_out`` (:func:`jaxcnn.validation.check_groups`)."""
    kernel_c_in = c_in // groups if validation.is_int(groups) and groups > 0 else 0
    return validation.check_groups(groups, c_in, c_out, kernel_c_in)


def conv_geometry(kernel: jax.Array, in_shape, *, strides, padding, dilation,
                  groups) -> tuple[Geometry, int]:
    """Checks a shared ``kernel`` ``(*kernel_size, C_in // groups, C_out)`` against
    ``in_shape``; returns its geometry and ``groups``."""
    in_shape, n = spatial_dims(in_shape)
    check_kernel_ndim(kernel, n + 2, CONV_LAYOUT, in_shape)
    groups = validation.check_groups(groups, in_shape[-1], kernel.shape[-1], kernel.shape[-2])
    geom = validation.geometry(in_shape[:-1], kernel.shape[:n], strides=strides, padding=padding,
                               dilation=dilation)
    return geom, groups


def local_geometry(kernel: jax.Array, in_shape, *, strides, padding,
                   dilation) -> tuple[Geometry, tuple[int, ...]]:
    """Checks a local ``kernel`` ``(*out_spatial, *kernel_size, C_in, C_out)`` against
    ``in_shape``; returns its geometry and ``in_shape`` as a tuple."""
    in_shape, n = spatial_dims(in_shape)
    check_kernel_ndim(kernel, 2 * n + 2, LOCAL_LAYOUT, in_shape)
    geom = validation.geometry(in_shape[:-1], kernel.shape[n:2 * n], strides=strides,
                               padding=padding, dilation=dilation)
    validation.check_shape(kernel, (*geom.out_spatial, *geom.kernel_size, in_shape[-1],
                                    kernel.shape[-1]), name="kernel",
                           what=f"{LOCAL_LAYOUT} for in_shape={in_shape} "
                           f"and output spatial shape {geom.out_spatial}")
    return geom, in_shape


def projection_geometry(W: jax.Array, in_shape, kernel_size, *, strides, padding,
                        dilation) -> tuple[Geometry, tuple[int, ...], int]:
    """Checks a dense ``W`` against ``in_shape`` and ``kernel_size``; returns the geometry,
    ``in_shape`` as a tuple and ``C_out``."""
    in_shape, n = spatial_dims(in_shape)
    ks = check_kernel_size(kernel_size, n, in_shape)
    geom = validation.geometry(in_shape[:-1], ks, strides=strides, padding=padding,
                               dilation=dilation)
    return geom, in_shape, check_dense(W, in_shape, geom)
