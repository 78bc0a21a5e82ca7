"""CNN ⊂ LCN: a shared kernel tiled over positions, and the projection back.

:func:`conv_to_local` repeats the kernel at every output position; :func:`local_to_conv`
projects a local kernel onto the convolutions without building the dense matrix (the
mean over positions of each tap, where it reads real input).

Example:
    >>> L = conv_to_local(jnp.ones((2, 1, 1)), (3, 1))  # (2 positions, 2 taps, 1, 1)
    >>> local_to_conv(L * jnp.array([1., 3.])[:, None, None, None], (3, 1)).ravel().tolist()
    [2.0, 2.0]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxcnn.embed.checks import check_dense_groups, conv_geometry, local_geometry
from jaxcnn.embed.einsums import apply_gram_local, apply_pinv_shared, as_float, tied_mean_local
from jaxcnn.embed.tables import aliased, diag_groups, expand_groups
from jaxcnn.validation import Geometry

__all__ = ["conv_to_local", "local_to_conv"]


def conv_to_local(kernel: jax.Array, in_shape, *, strides=1, padding="VALID", dilation=1,
                  groups: int = 1) -> jax.Array:
    """A shared kernel tiled over positions: the exact CNN ⊂ LCN embedding.

    ``local_conv(x, conv_to_local(k, ...), ...) == conv(x, k, ...)`` and
    ``local_to_dense(conv_to_local(k)) == conv_to_dense(k)``. Grouped kernels are
    expanded to block-diagonal full-channel kernels (zeros across groups).

    Args:
      kernel: ``(*kernel_size, C_in // groups, C_out)``.
      in_shape: ``(*spatial, C_in)`` (fixes the output spatial shape).
      strides, padding, dilation, groups: as in :func:`conv_to_dense`.

    Returns:
      Local kernel ``(*out_spatial, *kernel_size, C_in, C_out)``.

    Example:
      >>> conv_to_local(jnp.ones((3, 3, 2, 5)), (6, 6, 2)).shape
      (4, 4, 3, 3, 2, 5)
    """
    kernel = jnp.asarray(kernel)
    geom, groups = conv_geometry(kernel, in_shape, strides=strides, padding=padding,
                                 dilation=dilation, groups=groups)
    return _conv_to_local(kernel, geom, groups)


def local_to_conv(kernel: jax.Array, in_shape, *, strides=1, padding="VALID", dilation=1,
                  groups: int = 1) -> jax.Array:
    """Orthogonal projection of a locally connected layer onto the convolutions.

    Equal to ``dense_to_conv(local_to_dense(kernel, ...), ...)`` without building
    the dense matrix: each shared weight is the **mean over positions** of the
    local weights, taken over the positions where that tap reads real input
    (taps on zero padding do not change the layer, so they carry no weight;
    with VALID or CIRCULAR padding this is the plain mean over positions).
    Channel pairs across groups are dropped. With ``"CIRCULAR"`` aliasing the
    exact Gram pseudo-inverse is used.

    The mean is taken as ``r + mean(x - r)`` (``r`` the tap's entry at its first valid
    position), so ``local_to_conv(conv_to_local(k)) == k`` **bit for bit** wherever
    every tap touches the input and taps do not alias. A non-finite entry makes its
    channel pair NaN at every tap. (The projection in the *parameter* space of local
    kernels, ignoring that padding taps are inert, would be
    ``kernel.mean(axis=range(n))``; it differs only where taps fall on padding.)

    Args:
      kernel: local kernel ``(*out_spatial, *kernel_size, C_in, C_out)``.
      in_shape: ``(*spatial, C_in)``.
      strides, padding, dilation, groups: as in :func:`conv_to_dense`.

    Returns:
      Kernel ``(*kernel_size, C_in // groups, C_out)`` (float).

    Example:
      >>> local_to_conv(jnp.ones((4, 4, 3, 3, 2, 5)), (6, 6, 2)).shape
      (3, 3, 2, 5)
    """
    kernel = jnp.asarray(kernel)
    geom, in_shape = local_geometry(kernel, in_shape, strides=strides, padding=padding,
                                    dilation=dilation)
    groups = check_dense_groups(groups, in_shape[-1], kernel.shape[-1])
    return _local_to_conv(kernel, geom, groups)


@functools.partial(jax.jit, static_argnames=("geom", "groups"))
def _conv_to_local(kernel, geom: Geometry, groups: int):
    k = expand_groups(kernel, groups)
    return jnp.broadcast_to(k, (*geom.out_spatial, *k.shape))


@functools.partial(jax.jit, static_argnames=("geom", "groups"))
def _local_to_conv(kernel, geom: Geometry, groups: int):
    if not aliased(geom):  # the mean over valid positions, exact when the entries are equal
        return diag_groups(tied_mean_local(as_float(kernel), geom), groups)
    # (G⁺ ⊗ I) Aᵀ B L  with  Aᵀ B L = sum_p G_p L_p.
    t = apply_gram_local(as_float(kernel), geom, pinv=False)
    t = t.sum(axis=tuple(range(geom.ndim)))
    return apply_pinv_shared(diag_groups(t, groups), geom)
