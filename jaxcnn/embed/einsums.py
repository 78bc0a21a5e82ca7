"""The embeddings and their adjoints as chains of per-dim einsums, and the Gram maps.

``embed_shared`` maps a full-channel kernel ``(*ks, C_in, C_out)``, ``embed_local`` a
local kernel ``(*out, *ks, C_in, C_out)``, to the dense tensor ``(*in_spatial, C_in,
*out_spatial, C_out)``, contracting one spatial dim's selection table at a time;
``embed_shared_T`` and ``embed_local_T`` are their transposes (sums of the tied
entries). :func:`apply_pinv_shared` and :func:`apply_gram_local` apply the Gram
matrices (or their pseudo-inverses) of the projections. Without aliasing the
projections onto the convolutions are means of tied entries, which
:func:`tied_mean_dense` and :func:`tied_mean_local` compute by gathering the tied
entries and averaging their deviations from one of them (so equal entries give back
that entry bit for bit; see :func:`tied_mean_dense`). All are traced inside
``jax.jit`` with the :class:`jaxcnn.validation.Geometry` static.

Example:
    >>> from jaxcnn.validation import geometry
    >>> w = embed_shared(jnp.ones((2, 1, 1)), geometry((3,), (2,)))  # (3, 1, 2, 1)
    >>> w[:, 0, :, 0].tolist()  # input i, position p: 1 where a tap of p reads i
    [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.embed.tables import aliased, einsum, grams, letters, selection, taps
from jaxcnn.validation import Geometry

__all__ = [
    "apply_gram_local",
    "apply_pinv_shared",
    "as_float",
    "embed_local",
    "embed_local_T",
    "embed_shared",
    "embed_shared_T",
    "tied_mean_dense",
    "tied_mean_local",
]


def _chain(t: jax.Array, geom: Geometry, cur: list[str], step) -> jax.Array:
    """Contracts ``t`` with each spatial dim's 0/1 selection table ``(out, in, tap)``.

    ``cur`` names ``t``'s axes (einsum letters); ``step(d, last, cur)`` gives the axis
    names after contracting dim ``d``. The four embeddings below differ only in ``step``.
    """
    o, i, p, _, _ = letters(geom.ndim)
    sel = selection(geom)
    for d in range(geom.ndim):
        new = step(d, d == geom.ndim - 1, cur)
        t = einsum(f"{''.join(cur)},{o[d]}{i[d]}{p[d]}->{''.join(new)}", t,
                   jnp.asarray(sel[d], t.dtype))
        cur = new
    return t


def embed_shared(k_full: jax.Array, geom: Geometry) -> jax.Array:
    """``(*ks, C_in, C_out)`` -> ``(*in_spatial, C_in, *out_spatial, C_out)``."""
    o, i, p, c, e = letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(k_full, geom, list(o) + [c, e], lambda d, last, cur: dense if last else
                  [x for y in cur for x in ((i[d], p[d]) if y == o[d] else (y,))])


def embed_shared_T(w: jax.Array, geom: Geometry) -> jax.Array:
    """Transpose of :func:`embed_shared`: sums the tied entries -> ``(*ks, C_in, C_out)``."""
    o, i, p, c, e = letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(w, geom, dense, lambda d, last, cur: list(o) + [c, e] if last else
                  [o[d] if y == i[d] else y for y in cur if y != p[d]])


def embed_local(lk: jax.Array, geom: Geometry) -> jax.Array:
    """``(*out, *ks, C_in, C_out)`` -> ``(*in_spatial, C_in, *out_spatial, C_out)``."""
    o, i, p, c, e = letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(lk, geom, list(p) + list(o) + [c, e], lambda d, last, cur: dense if last
                  else [i[d] if y == o[d] else y for y in cur])


def embed_local_T(w: jax.Array, geom: Geometry) -> jax.Array:
    """Transpose of :func:`embed_local` -> ``(*out, *ks, C_in, C_out)``."""
    o, i, p, c, e = letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(w, geom, dense, lambda d, last, cur: list(p) + list(o) + [c, e] if last
                  else [o[d] if y == i[d] else y for y in cur])


def apply_pinv_shared(t: jax.Array, geom: Geometry) -> jax.Array:
    """``(G⁺ ⊗ I) t`` for ``t: (*ks, C_in, C_out)``: divide by tap counts, or pinv if aliased."""
    n = geom.ndim
    g = grams(geom)[1]
    if not aliased(geom):
        count = functools.reduce(np.multiply.outer, [np.diagonal(gd) for gd in g])
        count = count.reshape(*geom.kernel_size, 1, 1)
        safe = np.where(count > 0, count, 1.0)
        return jnp.where(count > 0, t / jnp.asarray(safe, t.dtype), jnp.zeros((), t.dtype))
    o, _, _, c, e = letters(n)
    cur = "".join(o) + c + e
    for d in range(n):
        pinv = jnp.asarray(np.linalg.pinv(g[d]), t.dtype)
        t = einsum(f"Z{o[d]},{cur.replace(o[d], 'Z')}->{cur}", pinv, t)
    return t


def apply_gram_local(t: jax.Array, geom: Geometry, pinv: bool) -> jax.Array:
    """Applies ``G_p`` (or ``G_p⁺``) per output position to ``t: (*out, *ks, C_in, C_out)``."""
    n = geom.ndim
    o, _, p, c, e = letters(n)
    cur = "".join(p) + "".join(o) + c + e
    for d, g in enumerate(grams(geom)[0]):
        m = np.stack([np.linalg.pinv(x) for x in g]) if pinv else g
        t = einsum(f"{p[d]}Z{o[d]},{cur.replace(o[d], 'Z')}->{cur}", jnp.asarray(m, t.dtype), t)
    return t


def _on_axes(a: np.ndarray, axes: tuple[int, ...], ndim: int) -> np.ndarray:
    """``a`` reshaped to broadcast with its dims on ``axes`` of an ``ndim``-dim grid."""
    shape = [1] * ndim
    for size, axis in zip(a.shape, axes):
        shape[axis] = size
    return a.reshape(shape)


def _tied(geom: Geometry):
    """Index grids of the tied entries, over ``(*ks, *out_spatial)`` (``2n`` axes).

    Returns ``(index, pos, valid, tap, first)``: per dim, the input position read and the
    output position (``2n``-grids), the validity mask (one ``2n``-grid), and per dim the
    tap and its first valid position (``n``-grids over the kernel offsets).
    """
    n = geom.ndim
    tab = taps(geom)
    index = tuple(_on_axes(t[0], (d, n + d), 2 * n) for d, t in enumerate(tab))
    pos = tuple(_on_axes(np.arange(m), (n + d,), 2 * n) for d, m in enumerate(geom.out_spatial))
    valid = functools.reduce(np.logical_and,
                             [_on_axes(t[1], (d, n + d), 2 * n) for d, t in enumerate(tab)])
    valid = np.broadcast_to(valid, (*geom.kernel_size, *geom.out_spatial))
    tap = tuple(_on_axes(np.arange(k), (d,), n) for d, k in enumerate(geom.kernel_size))
    first = tuple(t[2][o] for t, o in zip(tab, tap))
    return index, pos, valid, tap, first


def _mean_of_deviations(g: jax.Array, valid: np.ndarray, tap, first) -> jax.Array:
    """Mean over the positions of ``g: (*ks, *out, C_in, C_out)`` where ``valid``, as
    ``ref + sum(where(valid, g - ref, 0)) / count`` with ``ref`` at each tap's ``first``
    position; ``0`` for a tap with no valid position."""
    n = len(tap)
    pos_axes = tuple(range(n, 2 * n))
    ref = g[(*tap, *first)]  # (*ks, C_in, C_out)
    v = valid.reshape(*valid.shape, 1, 1)
    dev = jnp.where(v, g - jnp.expand_dims(ref, pos_axes), jnp.zeros((), g.dtype))
    count = valid.sum(axis=pos_axes).reshape(*valid.shape[:n], 1, 1)
    safe = np.where(count > 0, count, 1)
    mean = ref + dev.sum(axis=pos_axes) / jnp.asarray(safe, g.dtype)
    return jnp.where(count > 0, mean, jnp.zeros((), g.dtype))


def _nan_where_nonfinite(k: jax.Array, w: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``k: (*ks, C_in, C_out)`` with NaN in every channel pair where ``w`` (reduced over
    ``axes`` to ``(C_in, C_out)``) holds a non-finite entry."""
    ok = jnp.all(jnp.isfinite(w), axis=axes)
    return jnp.where(ok, k, jnp.full((), jnp.nan, k.dtype))


def tied_mean_dense(w: jax.Array, geom: Geometry) -> jax.Array:
    """``(G⁺ ⊗ I) Aᵀ w`` without aliasing: the mean of the tied entries of each kernel weight.

    ``w: (*in_spatial, C_in, *out_spatial, C_out)`` -> ``(*ks, C_in, C_out)``. The tied
    entries are gathered into ``(*ks, *out_spatial, C_in, C_out)`` (the nonzero pattern
    of a convolution, smaller than ``w``) and averaged as ``r + mean(x - r)``, ``r``
    the entry at the tap's first valid position. Mathematically the plain mean;
    numerically exact when the tied entries are equal (every deviation is ``0``, so
    ``r`` comes back bit for bit, where a float32 sum of ``P`` equal numbers divided by
    ``P`` can miss by an ulp), and as accurate otherwise. Taps that never read real
    input give ``0``. A non-finite entry anywhere in ``w`` (tied or not) makes its
    channel pair NaN at every tap, as the sum ``Aᵀ w`` does (``0 * nan = nan``): a
    broken weight is never hidden behind a finite kernel.
    """
    n = geom.ndim
    index, pos, valid, tap, first = _tied(geom)
    # Advanced indices split by the C_in slice: the (*ks, *out) grid axes go first.
    g = w[(*index, slice(None), *pos, slice(None))]
    spatial = (*range(n), *range(n + 1, 2 * n + 1))
    return _nan_where_nonfinite(_mean_of_deviations(g, valid, tap, first), w, spatial)


def tied_mean_local(lk: jax.Array, geom: Geometry) -> jax.Array:
    """:func:`tied_mean_dense` for a local kernel ``(*out, *ks, C_in, C_out)``: the mean over
    the positions where each tap reads real input, exact when those entries are equal
    (non-finite entries as in :func:`tied_mean_dense`)."""
    n = geom.ndim
    _, _, valid, tap, first = _tied(geom)
    g = jnp.moveaxis(lk, tuple(range(n)), tuple(range(n, 2 * n)))  # (*ks, *out, C_in, C_out)
    return _nan_where_nonfinite(_mean_of_deviations(g, valid, tap, first), lk,
                                tuple(range(2 * n)))


def as_float(x: jax.Array) -> jax.Array:
    """``x`` if it is floating (or complex), else ``x`` cast to the default float."""
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))
