"""CNN ⊂ LCN ⊂ FC, exactly: the embeddings as dense matrices and the projections back.

Every windowed layer is a linear map ``R^{in_features} -> R^{out_features}`` with
``in_features = prod(in_shape)``, ``in_shape = (*spatial, C_in)``, and
``out_features = prod(out_spatial) * C_out``. As a dense weight (Flax ``Linear``
layout, C-order flattening of ``(*spatial, C_in)`` and ``(*out_spatial, C_out)``)::

    x.reshape(*b, -1) @ conv_to_dense(kernel, in_shape, ...)
        == conv(x, kernel, ...).reshape(*b, -1)

The three layer families are nested linear subspaces of the dense weights:

* **CNN**: ``W = A k`` for a shared kernel ``k`` (``A`` = :func:`conv_to_dense`);
* **LCN**: ``W = B L`` for a local kernel ``L`` (``B`` = :func:`local_to_dense`),
  i.e. ``W`` is zero outside :func:`locality_mask`;
* **FC**: any ``W``.

How the maps are built
----------------------
Per spatial dim ``d`` the geometry (stride, dilation, padding) is a 0/1 *selection
tensor* ``S_d[o, i, p] = 1`` iff kernel tap ``o`` of output position ``p`` reads
input position ``i`` (``i = p*stride + o*dilation - pad_low``, wrapped modulo the
input size for ``"CIRCULAR"``, dropped when it falls on zero padding). The full
selection is the product over dims, so a shared kernel embeds as::

    W[i, c, p, e] = sum_o  prod_d S_d[o_d, i_d, p_d] * k[o, c, e]

computed as one small ``einsum`` per spatial dim (``precision=HIGHEST``). Each
entry of ``W`` is a sum of one product ``k * 1.0`` and zeros, hence *bit-exact*
(taps that alias under ``"CIRCULAR"`` padding with a window larger than the input
are summed, exactly as the convolution sums them). Memory is ``O(size of W)`` and
there is no Python loop over entries: the S-FC first layer (32x32x3 input, 9x9x3x64
kernel, stride 2, SAME; a 3072 x 16384 matrix) takes about a second on a laptop CPU.

Why the projections are "means of tied entries"
-----------------------------------------------
The orthogonal (Frobenius) projection of ``W`` onto the range of ``A`` is
``A k*`` with ``k* = argmin_k ||W - A k||_F = (AᵀA)⁺ Aᵀ W``. ``Aᵀ W`` *sums* the
entries of ``W`` tied to each kernel weight (it is the transpose of the
embedding, computed with the same einsums). Because ``A`` copies the same
channel block to every (tap, position) pair, ``AᵀA = G ⊗ I_channels`` with the
small ``K x K`` Gram matrix over kernel offsets (``K = prod(kernel_size)``)::

    G[o, o'] = #{(i, p): tap o and tap o' of position p both read input i}
             = ⊗_d G_d,   G_d[o, o'] = sum_{i,p} S_d[o, i, p] S_d[o', i, p].

Without aliasing ``G`` is diagonal and ``G[o, o]`` counts the positions where tap
``o`` falls on real input, so ``k*[o] = (sum of the tied entries) / (their
count)``: the projection is the mean of the tied entries — the least-squares
fit of one shared value to many copies. Taps that only ever fall on padding
(``G[o, o] = 0``) do not affect the map; the pseudo-inverse returns ``0`` for
them. With ``"CIRCULAR"`` padding and a window larger than the input, two taps
can read the same input (``G`` is not diagonal, ``A`` is not injective); then
``(AᵀA)⁺ = ⊗_d G_d⁺ ⊗ I`` still gives the exact projection, expressed as the
minimum-norm kernel. The same holds for the LCN with one Gram matrix per output
position, ``G_p = ⊗_d G_{d, p_d}``; without aliasing it is a 0/1 diagonal, so
:func:`dense_to_local` is the restriction of ``W`` to the window (entries on
padding -> 0).

Consequences (all tested): ``dense_to_conv(conv_to_dense(k)) == k`` wherever every
tap touches the input, ``conv_to_dense(dense_to_conv(.))`` is idempotent and its
residual is orthogonal to every convolution; likewise for the LCN.

All functions validate their arguments at trace time (``ValueError`` naming the
argument), are pure, and jit/vmap/grad-safe with the geometry as static
Python values. Results keep the input dtype (integers are promoted to float for
the projections only).
"""

from __future__ import annotations

import functools
import math
import string

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn import validation
from jaxcnn.validation import Geometry

__all__ = [
    "conv_to_dense",
    "local_to_dense",
    "dense_to_conv",
    "dense_to_local",
    "conv_to_local",
    "local_to_conv",
    "locality_mask",
]

_HI = lax.Precision.HIGHEST


# ---------------------------------------------------------------- static geometry


@functools.lru_cache(maxsize=256)
def _selection(geom: Geometry) -> tuple[np.ndarray, ...]:
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
def _grams(geom: Geometry):
    """Per-dim Gram matrices over kernel offsets.

    Returns ``(G_pos, G)`` with ``G_pos[d]: (n_out_d, k_d, k_d)`` (one per output
    position, for the LCN) and ``G[d] = G_pos[d].sum(0)`` (for the CNN), float64.
    """
    g_pos = tuple(np.einsum("aip,bip->pab", s, s).astype(np.float64) for s in _selection(geom))
    return g_pos, tuple(g.sum(0) for g in g_pos)


def _is_diag(m: np.ndarray) -> bool:
    return not np.any(m - np.diag(np.diagonal(m)))


def _aliased(geom: Geometry) -> bool:
    """True when two taps of one position can read the same input (CIRCULAR only)."""
    return not all(_is_diag(g) for g in _grams(geom)[1])


def _letters(n: int):
    """Einsum letters: offsets o, inputs i, positions p (one per dim), channels c, e."""
    pool = string.ascii_letters
    if 3 * n + 2 > len(pool):  # pragma: no cover - 16-D convolutions
        raise validation.error("kernel_size", "at most 16 spatial dims", n)
    o, i, p = pool[:n], pool[n:2 * n], pool[2 * n:3 * n]
    return o, i, p, pool[3 * n], pool[3 * n + 1]


def _einsum(spec: str, a, b):
    return jnp.einsum(spec, a, b, precision=_HI)


# ------------------------------------------------------------------ group helpers


def _expand_groups(kernel: jax.Array, groups: int) -> jax.Array:
    """Grouped kernel ``(*ks, C_in/g, C_out)`` -> block-diagonal ``(*ks, C_in, C_out)``."""
    if groups == 1:
        return kernel
    *ks, cig, cout = kernel.shape
    cog = cout // groups
    x = kernel.reshape(*ks, 1, cig, groups, cog)
    eye = np.eye(groups, dtype=bool).reshape(groups, 1, groups, 1)
    return jnp.where(eye, x, jnp.zeros((), x.dtype)).reshape(*ks, groups * cig, cout)


def _diag_groups(full: jax.Array, groups: int) -> jax.Array:
    """Block-diagonal part of ``(*ks, C_in, C_out)`` as a grouped kernel (transpose of expand)."""
    if groups == 1:
        return full
    *ks, cin, cout = full.shape
    cig, cog = cin // groups, cout // groups
    x = full.reshape(*ks, groups, cig, groups, cog)
    n = len(ks)
    x = jnp.diagonal(x, axis1=n, axis2=n + 2)  # (*ks, cig, cog, groups)
    return jnp.moveaxis(x, -1, -2).reshape(*ks, cig, cout)


# ------------------------------------------------------------------- core einsums


def _chain(t: jax.Array, geom: Geometry, cur: list[str], step) -> jax.Array:
    """Contracts ``t`` with each spatial dim's 0/1 selection table ``(out, in, tap)``.

    ``cur`` names ``t``'s axes (einsum letters); ``step(d, last, cur)`` gives the axis
    names after contracting dim ``d``. The four embeddings below differ only in ``step``.
    """
    o, i, p, _, _ = _letters(geom.ndim)
    sel = _selection(geom)
    for d in range(geom.ndim):
        new = step(d, d == geom.ndim - 1, cur)
        t = _einsum(f"{''.join(cur)},{o[d]}{i[d]}{p[d]}->{''.join(new)}", t,
                    jnp.asarray(sel[d], t.dtype))
        cur = new
    return t


def _embed_shared(k_full: jax.Array, geom: Geometry) -> jax.Array:
    """``(*ks, C_in, C_out)`` -> ``(*in_spatial, C_in, *out_spatial, C_out)``."""
    o, i, p, c, e = _letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(k_full, geom, list(o) + [c, e], lambda d, last, cur: dense if last else
                  [x for y in cur for x in ((i[d], p[d]) if y == o[d] else (y,))])


def _embed_shared_T(w: jax.Array, geom: Geometry) -> jax.Array:
    """Transpose of :func:`_embed_shared`: sums the tied entries -> ``(*ks, C_in, C_out)``."""
    o, i, p, c, e = _letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(w, geom, dense, lambda d, last, cur: list(o) + [c, e] if last else
                  [o[d] if y == i[d] else y for y in cur if y != p[d]])


def _embed_local(lk: jax.Array, geom: Geometry) -> jax.Array:
    """``(*out, *ks, C_in, C_out)`` -> ``(*in_spatial, C_in, *out_spatial, C_out)``."""
    o, i, p, c, e = _letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(lk, geom, list(p) + list(o) + [c, e], lambda d, last, cur: dense if last
                  else [i[d] if y == o[d] else y for y in cur])


def _embed_local_T(w: jax.Array, geom: Geometry) -> jax.Array:
    """Transpose of :func:`_embed_local` -> ``(*out, *ks, C_in, C_out)``."""
    o, i, p, c, e = _letters(geom.ndim)
    dense = list(i) + [c] + list(p) + [e]
    return _chain(w, geom, dense, lambda d, last, cur: list(p) + list(o) + [c, e] if last
                  else [o[d] if y == i[d] else y for y in cur])


def _apply_pinv_shared(t: jax.Array, geom: Geometry) -> jax.Array:
    """``(G⁺ ⊗ I) t`` for ``t: (*ks, C_in, C_out)``: divide by tap counts, or pinv if aliased."""
    n = geom.ndim
    g = _grams(geom)[1]
    if not _aliased(geom):
        count = functools.reduce(np.multiply.outer, [np.diagonal(gd) for gd in g])
        count = count.reshape(*geom.kernel_size, 1, 1)
        safe = np.where(count > 0, count, 1.0)
        return jnp.where(count > 0, t / jnp.asarray(safe, t.dtype), jnp.zeros((), t.dtype))
    o, _, _, c, e = _letters(n)
    cur = "".join(o) + c + e
    for d in range(n):
        pinv = jnp.asarray(np.linalg.pinv(g[d]), t.dtype)
        t = _einsum(f"Z{o[d]},{cur.replace(o[d], 'Z')}->{cur}", pinv, t)
    return t


def _apply_gram_local(t: jax.Array, geom: Geometry, pinv: bool) -> jax.Array:
    """Applies ``G_p`` (or ``G_p⁺``) per output position to ``t: (*out, *ks, C_in, C_out)``."""
    n = geom.ndim
    o, _, p, c, e = _letters(n)
    cur = "".join(p) + "".join(o) + c + e
    for d, g in enumerate(_grams(geom)[0]):
        m = np.stack([np.linalg.pinv(x) for x in g]) if pinv else g
        t = _einsum(f"{p[d]}Z{o[d]},{cur.replace(o[d], 'Z')}->{cur}", jnp.asarray(m, t.dtype), t)
    return t


def _float(x: jax.Array) -> jax.Array:
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


@functools.partial(jax.jit, static_argnames=("geom", "groups"))
def _conv_to_dense(kernel, geom: Geometry, groups: int):
    w = _embed_shared(_expand_groups(kernel, groups), geom)
    return w.reshape(math.prod(w.shape[:geom.ndim + 1]), -1)


@functools.partial(jax.jit, static_argnames=("geom",))
def _local_to_dense(kernel, geom: Geometry):
    w = _embed_local(kernel, geom)
    return w.reshape(math.prod(w.shape[:geom.ndim + 1]), -1)


@functools.partial(jax.jit, static_argnames=("geom", "c_in", "groups"))
def _dense_to_conv(W, geom: Geometry, c_in: int, groups: int):
    W = _float(W)
    w = W.reshape(*geom.in_spatial, c_in, *geom.out_spatial, -1)
    t = _diag_groups(_embed_shared_T(w, geom), groups)
    return _apply_pinv_shared(t, geom)


@functools.partial(jax.jit, static_argnames=("geom", "c_in"))
def _dense_to_local(W, geom: Geometry, c_in: int):
    W = _float(W)
    w = W.reshape(*geom.in_spatial, c_in, *geom.out_spatial, -1)
    t = _embed_local_T(w, geom)  # already zero on padding taps
    return _apply_gram_local(t, geom, pinv=True) if _aliased(geom) else t


@functools.partial(jax.jit, static_argnames=("geom", "groups"))
def _conv_to_local(kernel, geom: Geometry, groups: int):
    k = _expand_groups(kernel, groups)
    return jnp.broadcast_to(k, (*geom.out_spatial, *k.shape))


@functools.partial(jax.jit, static_argnames=("geom", "groups"))
def _local_to_conv(kernel, geom: Geometry, groups: int):
    # (G⁺ ⊗ I) Aᵀ B L  with  Aᵀ B L = sum_p G_p L_p.
    t = _apply_gram_local(_float(kernel), geom, pinv=False)
    t = t.sum(axis=tuple(range(geom.ndim)))
    return _apply_pinv_shared(_diag_groups(t, groups), geom)


@functools.partial(jax.jit, static_argnames=("geom", "c_in", "c_out", "groups"))
def _locality_mask(geom: Geometry, c_in: int, c_out: int, groups: int):
    n = geom.ndim
    _, i, p, c, e = _letters(n)
    m = None
    for d, s in enumerate(_selection(geom)):
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


# ---------------------------------------------------------------------- validation


def _spatial_dims(in_shape) -> tuple[tuple[int, ...], int]:
    in_shape = validation.in_shape_tuple(in_shape)
    return in_shape, len(in_shape) - 1


def _check_kernel_ndim(kernel: jax.Array, ndim: int, layout: str, in_shape) -> None:
    if kernel.ndim != ndim:
        raise validation.error("kernel", f"shape {layout} with ndim {ndim} (from in_shape={in_shape})",
                           f"shape {tuple(kernel.shape)}")


def _kernel_size(kernel_size, n: int, in_shape) -> tuple[int, ...]:
    ks = validation.kernel_size_tuple(kernel_size)
    if len(ks) != n:
        raise validation.error("kernel_size", f"{n} ints, one per spatial dim of in_shape={in_shape}",
                           kernel_size)
    return ks


def _check_dense(W: jax.Array, in_shape, geom: Geometry) -> int:
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


# -------------------------------------------------------------------------- public


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
    in_shape, n = _spatial_dims(in_shape)
    _check_kernel_ndim(kernel, n + 2, "(*kernel_size, C_in // groups, C_out)", in_shape)
    groups = validation.check_groups(groups, in_shape[-1], kernel.shape[-1], kernel.shape[-2])
    geom = validation.geometry(in_shape[:-1], kernel.shape[:n], strides=strides, padding=padding,
                            dilation=dilation)
    return _conv_to_dense(kernel, geom, groups)


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
    in_shape, n = _spatial_dims(in_shape)
    _check_kernel_ndim(kernel, 2 * n + 2, "(*out_spatial, *kernel_size, C_in, C_out)", in_shape)
    geom = validation.geometry(in_shape[:-1], kernel.shape[n:2 * n], strides=strides,
                            padding=padding, dilation=dilation)
    validation.check_shape(kernel, (*geom.out_spatial, *geom.kernel_size, in_shape[-1],
                                 kernel.shape[-1]), name="kernel",
                        what=f"(*out_spatial, *kernel_size, C_in, C_out) for in_shape={in_shape} "
                        f"and output spatial shape {geom.out_spatial}")
    return _local_to_dense(kernel, geom)


def dense_to_conv(W: jax.Array, in_shape, kernel_size, *, strides=1, padding="VALID",
                  dilation=1, groups: int = 1) -> jax.Array:
    """Orthogonal projection of a dense weight onto the convolutions, as a kernel.

    Returns ``k* = argmin_k ||W - conv_to_dense(k)||_F = (AᵀA)⁺ Aᵀ W``. ``Aᵀ W`` sums
    the entries of ``W`` tied to each kernel weight, and ``AᵀA = G ⊗ I`` where
    ``G`` is the Gram matrix over kernel offsets (module docstring). Normally ``G``
    is diagonal with the number of positions at which each tap reads real input,
    so ``k*`` is the **mean of the tied entries** (entries of ``W`` outside the
    convolution's pattern, and channel pairs across groups, are ignored). Taps
    that never touch the input come back as ``0``. With ``"CIRCULAR"`` padding of
    a window larger than the input (aliased taps) the exact pseudo-inverse is used
    and ``k*`` is the minimum-norm minimiser.

    Hence ``dense_to_conv(conv_to_dense(k)) == k`` wherever every tap touches the
    input, and ``conv_to_dense(dense_to_conv(W))`` is the orthogonal projector.

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
      >>> bool(jnp.allclose(dense_to_conv(W, (8, 8, 2), (3, 3), padding="SAME"), k))
      True
    """
    W = jnp.asarray(W)
    in_shape, n = _spatial_dims(in_shape)
    ks = _kernel_size(kernel_size, n, in_shape)
    geom = validation.geometry(in_shape[:-1], ks, strides=strides, padding=padding,
                            dilation=dilation)
    c_out = _check_dense(W, in_shape, geom)
    c_in = in_shape[-1]
    groups = validation.check_groups(groups, c_in, c_out,
                                  c_in // groups if validation.is_int(groups) and groups > 0 else 0)
    return _dense_to_conv(W, geom, c_in, groups)


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
    in_shape, n = _spatial_dims(in_shape)
    ks = _kernel_size(kernel_size, n, in_shape)
    geom = validation.geometry(in_shape[:-1], ks, strides=strides, padding=padding,
                            dilation=dilation)
    _check_dense(W, in_shape, geom)
    return _dense_to_local(W, geom, in_shape[-1])


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
    in_shape, n = _spatial_dims(in_shape)
    _check_kernel_ndim(kernel, n + 2, "(*kernel_size, C_in // groups, C_out)", in_shape)
    groups = validation.check_groups(groups, in_shape[-1], kernel.shape[-1], kernel.shape[-2])
    geom = validation.geometry(in_shape[:-1], kernel.shape[:n], strides=strides, padding=padding,
                            dilation=dilation)
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

    Hence ``local_to_conv(conv_to_local(k)) == k`` wherever every tap touches the
    input. (The projection in the *parameter* space of local kernels, ignoring
    that padding taps are inert, would be ``kernel.mean(axis=range(n))``; it
    differs only where taps fall on padding.)

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
    in_shape, n = _spatial_dims(in_shape)
    _check_kernel_ndim(kernel, 2 * n + 2, "(*out_spatial, *kernel_size, C_in, C_out)", in_shape)
    geom = validation.geometry(in_shape[:-1], kernel.shape[n:2 * n], strides=strides,
                            padding=padding, dilation=dilation)
    validation.check_shape(kernel, (*geom.out_spatial, *geom.kernel_size, in_shape[-1],
                                 kernel.shape[-1]), name="kernel",
                        what=f"(*out_spatial, *kernel_size, C_in, C_out) for in_shape={in_shape} "
                        f"and output spatial shape {geom.out_spatial}")
    c_in, c_out = in_shape[-1], kernel.shape[-1]
    groups = validation.check_groups(groups, c_in, c_out,
                                  c_in // groups if validation.is_int(groups) and groups > 0 else 0)
    return _local_to_conv(kernel, geom, groups)


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
    in_shape, n = _spatial_dims(in_shape)
    ks = _kernel_size(kernel_size, n, in_shape)
    if not validation.is_int(out_channels) or out_channels < 1:
        raise validation.error("out_channels", "a positive int", out_channels)
    c_in = in_shape[-1]
    groups = validation.check_groups(groups, c_in, int(out_channels),
                                  c_in // groups if validation.is_int(groups) and groups > 0 else 0)
    geom = validation.geometry(in_shape[:-1], ks, strides=strides, padding=padding,
                            dilation=dilation)
    return _locality_mask(geom, c_in, int(out_channels), groups)
