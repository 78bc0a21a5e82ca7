"""The support of every locally connected layer as a boolean dense matrix.

Example:
    >>> locality_mask((3, 1), (2,)).astype(int).tolist()  # 1-D: 2 positions of 2 taps
    [[1, 0], [1, 1], [0, 1]]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import validation
from jaxcnn.embed.checks import check_dense_groups, check_kernel_size, spatial_dims
from jaxcnn.embed.tables import letters, selection
from jaxcnn.validation import Geometry

__all__ = ["locality_mask"]


def locality_mask(in_shape, kernel_size, *, out_channels: int = 1, strides=1, padding="VALID",
                  dilation=1, groups: int = 1) -> jax.Array:
    """Which (input feature, output feature) pairs a windowed layer can connect.

    ``True`` where some kernel tap of the output position reads that input
    position (not padding) and the channels are in the same group. It is the
    support of ``conv_to_dense(k)`` for a generic ``k``, and of every LCN; for
    VALID padding it has ``prod(out_spatial) * prod(kernel_size) * C_in *
    out_channels / groups`` entries.

    Args:
      in_shape: ``(*spatial, C_in)``.
      kernel_size: ``n`` ints.
      out_channels: ``C_out``.
      strides, padding, dilation, groups: as in :func:`conv_to_dense`.

    Returns:
      Bool ``(prod(in_shape), prod(out_spatial) * out_channels)``.

    Example:
      >>> int(locality_mask((5, 1), (3,)).sum())
      9
    """
    in_shape, n = spatial_dims(in_shape)
    ks = check_kernel_size(kernel_size, n, in_shape)
    out_channels = validation.check_int(out_channels, name="out_channels", minimum=1)
    c_in = in_shape[-1]
    groups = check_dense_groups(groups, c_in, out_channels)
    geom = validation.geometry(in_shape[:-1], ks, strides=strides, padding=padding,
                               dilation=dilation)
    return _locality_mask(geom, c_in, out_channels, groups)


@functools.partial(jax.jit, static_argnames=("geom", "c_in", "c_out", "groups"))
def _locality_mask(geom: Geometry, c_in: int, c_out: int, groups: int):
    n = geom.ndim
    _, i, p, c, e = letters(n)
    m = None
    for d, s in enumerate(selection(geom)):
        md = jnp.asarray(s.any(0))  # (n_in_d, n_out_d)
        m = md if m is None else m[..., None, None] & md.reshape(
            *(1,) * (2 * d), *md.shape)  # (..., i_d, p_d) interleaved
    ch = np.equal.outer(np.arange(c_in) // (c_in // groups), np.arange(c_out) // (c_out // groups))
    m = m[..., None, None] & jnp.asarray(ch)  # (i_0, p_0, ..., i_n-1, p_n-1, c, e)
    interleaved = [x for d in range(n) for x in (i[d], p[d])]
    src = "".join(interleaved) + c + e
    dst = "".join(i) + c + "".join(p) + e
    m = jnp.transpose(m, [src.index(x) for x in dst])
    return m.reshape(math.prod(geom.in_spatial) * c_in, -1)
