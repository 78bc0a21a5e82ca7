"""The embeddings and their adjoints as chains of per-dim einsums, and the Gram maps.

``embed_shared`` maps a full-channel kernel ``(*ks, C_in, C_out)``, ``embed_local`` a
local kernel ``(*out, *ks, C_in, C_out)``, to the dense tensor ``(*in_spatial, C_in,
*out_spatial, C_out)``, contracting one spatial dim's selection table at a time;
``embed_shared_T`` and ``embed_local_T`` are their transposes (sums of the tied
entries). :func:`apply_pinv_shared` and :func:`apply_gram_local` apply the Gram
matrices (or their pseudo-inverses) of the projections. All are traced inside
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

from jaxcnn.embed.tables import aliased, einsum, grams, letters, selection
from jaxcnn.validation import Geometry

__all__ = [
    "apply_gram_local",
    "apply_pinv_shared",
    "as_float",
    "embed_local",
    "embed_local_T",
    "embed_shared",
    "embed_shared_T",
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


def as_float(x: jax.Array) -> jax.Array:
    """``x`` if it is floating (or complex), else ``x`` cast to the default float."""
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))
