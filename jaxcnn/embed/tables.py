"""Static geometry of the embeddings: 0/1 selection tables, Gram matrices, groups.

Per spatial dim ``d``, :func:`selection` gives the table ``S_d[o, i, p] = 1`` iff kernel
tap ``o`` of output position ``p`` reads input position ``i`` (NumPy, cached per
:class:`jaxcnn.validation.Geometry`); :func:`grams` the Gram matrices over kernel
offsets built from them; :func:`aliased` whether two taps of one position read the same
input (``"CIRCULAR"`` padding of a window larger than the input). :func:`expand_groups`
and :func:`diag_groups` convert between grouped and block-diagonal kernels. The
derivation is in the :mod:`jaxcnn.embed` docstring.

Example:
    >>> from jaxcnn.validation import geometry
    >>> s, = selection(geometry((4,), (3,)))  # 1-D, VALID: 2 positions of 3 taps
    >>> s[:, :, 0].tolist()  # position 0: tap o reads input o
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
"""

from __future__ import annotations

import functools
import string

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn import validation
from jaxcnn.validation import Geometry

__all__ = ["aliased", "diag_groups", "einsum", "expand_groups", "grams", "letters", "selection",
           "taps"]


_HI = lax.Precision.HIGHEST


@functools.lru_cache(maxsize=256)
def selection(geom: Geometry) -> tuple[np.ndarray, ...]:
    """Per-dim 0/1 selection tensors ``S_d[o, i, p]`` (int32) for ``geom``."""
    out = []
    for n_in, k, s, d, (lo, _), n_out in zip(geom.in_spatial, geom.kernel_size, geom.strides,
                                             geom.dilation, geom.pads, geom.out_spatial):
        o = np.arange(k)[:, None]
        p = np.arange(n_out)[None, :]
        pos = p * s + o * d - lo  # (k, n_out) position in unpadded coordinates
        if geom.wrap:
            valid = np.ones_like(pos, dtype=bool)
            pos = np.mod(pos, n_in)
        else:
            valid = (pos >= 0) & (pos < n_in)
        sel = np.zeros((k, n_in, n_out), np.int32)
        oo, pp = np.broadcast_to(o, pos.shape), np.broadcast_to(p, pos.shape)
        np.add.at(sel, (oo[valid], pos[valid], pp[valid]), 1)
        out.append(sel)
    return tuple(out)


@functools.lru_cache(maxsize=256)
def taps(geom: Geometry) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """Per-dim gather tables of the tied entries (for geometries without aliasing).

    Returns one ``(index, valid, first)`` per spatial dim: ``index[o, p]`` (int32) is
    the input position read by tap ``o`` of output position ``p`` (clipped into range
    where it falls on padding), ``valid[o, p]`` whether it reads real input, and
    ``first[o]`` (int32) the first position ``p`` at which tap ``o`` reads real input
    (``0`` for a tap that never does).
    """
    out = []
    for s in selection(geom):
        valid = s.any(axis=1)  # (k, n_out)
        index = np.argmax(s, axis=1).astype(np.int32)  # 0 where not valid
        first = np.argmax(valid, axis=1).astype(np.int32)
        out.append((index, valid, first))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def grams(geom: Geometry):
    """Per-dim Gram matrices over kernel offsets.

    Returns ``(G_pos, G)`` with ``G_pos[d]: (n_out_d, k_d, k_d)`` (one per output
    position, for the LCN) and ``G[d] = G_pos[d].sum(0)`` (for the CNN), float64.
    """
    g_pos = tuple(np.einsum("aip,bip->pab", s, s).astype(np.float64) for s in selection(geom))
    return g_pos, tuple(g.sum(0) for g in g_pos)


def _is_diag(m: np.ndarray) -> bool:
    return not np.any(m - np.diag(np.diagonal(m)))


def aliased(geom: Geometry) -> bool:
    """True when two taps of one position can read the same input (CIRCULAR only)."""
    return not all(_is_diag(g) for g in grams(geom)[1])


def letters(n: int):
    """Einsum letters: offsets o, inputs i, positions p (one per dim), channels c, e."""
    pool = string.ascii_letters
    if 3 * n + 2 > len(pool):  # pragma: no cover - 16-D convolutions
        raise validation.error("kernel_size", "at most 16 spatial dims", n)
    o, i, p = pool[:n], pool[n:2 * n], pool[2 * n:3 * n]
    return o, i, p, pool[3 * n], pool[3 * n + 1]


def einsum(spec: str, a, b):
    """``jnp.einsum`` at ``HIGHEST`` precision (exact 0/1 selections on every backend)."""
    return jnp.einsum(spec, a, b, precision=_HI)


def expand_groups(kernel: jax.Array, groups: int) -> jax.Array:
    """Grouped kernel ``(*ks, C_in/g, C_out)`` -> block-diagonal ``(*ks, C_in, C_out)``."""
    if groups == 1:
        return kernel
    *ks, cig, cout = kernel.shape
    cog = cout // groups
    x = kernel.reshape(*ks, 1, cig, groups, cog)
    eye = np.eye(groups, dtype=bool).reshape(groups, 1, groups, 1)
    return jnp.where(eye, x, jnp.zeros((), x.dtype)).reshape(*ks, groups * cig, cout)


def diag_groups(full: jax.Array, groups: int) -> jax.Array:
    """Block-diagonal part of ``(*ks, C_in, C_out)`` as a grouped kernel (transpose of expand)."""
    if groups == 1:
        return full
    *ks, cin, cout = full.shape
    cig, cog = cin // groups, cout // groups
    x = full.reshape(*ks, groups, cig, groups, cog)
    n = len(ks)
    x = jnp.diagonal(x, axis1=n, axis2=n + 2)  # (*ks, cig, cog, groups)
    return jnp.moveaxis(x, -1, -2).reshape(*ks, cig, cout)
