"""Receptive-field alignment for :func:`jaxcnn.metrics.weight_sharing`.

The units of a dense weight ``W: (prod(in_shape), N)`` are unordered, so each is
aligned on its own window before units are compared: :func:`align_windows` finds every
unit's window of maximal squared mass (and, among those, most non-zero entries) under
each tie-break; :func:`anchored_views` re-centres each window on its heaviest pixels
(anchors), so that units keeping different subsets of one filter can be lined up by a
tap they share; :func:`permutation_null` builds the null that shuffles the non-zero
window values among the units reading the same input feature; :func:`best_evidence`
gives each unit's strongest evidence of agreement with a unit at another window
position, over all these alignments. All run inside ``jax.jit`` with the shapes and
the window static.

Example:
    >>> w = jnp.eye(4)[:, [1, 2]]  # 1-D, C_in = 1: one-hot units at pixels 1 and 2
    >>> vals, feats, start, kind = align_windows(w, (4, 1), (2,), False)
    >>> vals.shape, start[0, :, 0].tolist()  # 2**1 tie-breaks, 2 units, 2 entries
    ((2, 2, 2), [1, 2])
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.metrics.common import filter_maps
from jaxcnn.validation import Text, error

__all__ = ["align_windows", "anchored_views", "best_evidence", "pair_evidence",
           "permutation_null"]

EXACT_RESIDUAL = 1e-4
"""Relative squared residual below which two co-supported value sets count as exactly
proportional (float32 rounding of copies sits below it)."""


def align_windows(w, shape, win, periodic):
    """Every unit's windows under each tie-break, and the tie-break it is compared under.

    Returns ``vals (T, N, d)``, input-feature index ``feats (T, N, d)`` (−1 outside the
    input), ``start (T, N, n)`` (padded coordinates) and ``kind (N,)`` int32 in ``[0, T)``,
    with ``d = prod(win)·C``. Tie-break ``t`` takes, among a unit's windows of maximal
    squared mass (and, among those, most non-zero entries), the lowest start in the dims
    ``e`` with bit ``e`` of ``t`` clear and the highest in the others (row-major first on
    the box sums flipped along those dims); ``T = 2ⁿ``, or 1 when ``periodic`` (no
    border, lowest start). ``kind`` sets bit ``e`` for a unit whose lowest-start window
    stays inside the low border of dim ``e`` while its highest-start window reaches past
    the high border: a unit cut off (or ending) at the high border is lined up by its low
    edge, every other unit by its high edge."""
    spatial, n_out = shape[:-1], w.shape[1]
    maps, mass, count, feat, positions = _padded_views(w, shape, win, periodic)
    box = _fixed_order_box_sums(mass, win, positions).reshape(n_out, -1)
    # among the windows of maximal mass, those holding the most non-zero entries: a tap
    # too small to change the float sum still counts, so a window that drops it is no tie
    top = box == jnp.max(box, axis=1, keepdims=True)
    box = jnp.where(top, _fixed_order_box_sums(count, win, positions).reshape(n_out, -1),
                    -1).reshape(n_out, *positions)
    start = _tie_break_starts(box, positions, periodic)  # (T, N, n)
    kind = _comparison_kind(start, win, spatial, periodic)
    vals, feats = _cut_windows(maps, feat, start, win)
    return vals, feats, start, kind


def _padded_views(w, shape, win, periodic):
    """Filter maps ``(N, *P, C)``, mass and non-zero count ``(N, *P)`` and feature index
    ``(*P, C)`` (−1 on zero padding), padded so every window overlapping the input (or,
    ``periodic``, every wrapped window) starts at a position of ``positions``."""
    spatial = shape[:-1]
    maps = filter_maps(w, shape)  # (N, *S, C)
    mass = jnp.sum(maps * maps, axis=-1)  # (N, *S)
    feat = jnp.arange(math.prod(shape), dtype=jnp.int32).reshape(shape)
    if periodic:
        pad = [(0, k - 1) for k in win]
        mode, fill = "wrap", {}
        positions = spatial
    else:
        pad = [(k - 1, k - 1) for k in win]
        mode, fill = "constant", {"constant_values": 0}
        positions = tuple(s + k - 1 for s, k in zip(spatial, win))
    count = jnp.sum(maps != 0, axis=-1, dtype=jnp.int32)  # (N, *S) non-zero entries
    mass = jnp.pad(mass, [(0, 0), *pad], mode=mode, **fill)
    count = jnp.pad(count, [(0, 0), *pad], mode=mode, **fill)
    maps = jnp.pad(maps, [(0, 0), *pad, (0, 0)], mode=mode, **fill)
    feat = jnp.pad(feat, [*pad, (0, 0)], mode=mode, **({} if periodic else {"constant_values": -1}))
    return maps, mass, count, feat, positions


def _fixed_order_box_sums(x, win, positions):
    """``(N, *padded)`` -> ``(N, *positions)`` window sums, as shifted adds in a fixed order.

    Every window's sum is the same sequence of float operations on its values, so copies
    of a filter at different positions get bitwise-equal sums, and so do all windows
    holding the same non-zero entries (adding a zero is exact): ties are exact."""
    for e, (k, p) in enumerate(zip(win, positions)):
        ax = e + 1
        acc = lax.slice_in_dim(x, 0, p, axis=ax)
        for o in range(1, k):
            acc = acc + lax.slice_in_dim(x, o, o + p, axis=ax)
        x = acc
    return x


def _tie_break_starts(box, positions, periodic):
    """``(N, *positions)`` scores -> ``(T, N, n)`` int32 argmax start per tie-break ``t``
    (lowest start in the dims whose bit of ``t`` is clear, highest in the others)."""
    n_out, n = box.shape[0], len(positions)
    starts = []
    for t in range(1 if periodic else 2**n):
        high = [e for e in range(n) if t >> e & 1]
        b = jnp.flip(box, axis=[e + 1 for e in high]) if high else box
        idx = jnp.argmax(b.reshape(n_out, -1), axis=1)
        s = jnp.stack(jnp.unravel_index(idx, positions), axis=-1).astype(jnp.int32)
        flip = jnp.asarray([t >> e & 1 for e in range(n)], bool)
        starts.append(jnp.where(flip, jnp.asarray(positions, jnp.int32) - 1 - s, s))
    return jnp.stack(starts)


def _comparison_kind(start, win, spatial, periodic):
    """``(N,)`` int32 tie-break each unit is compared under (see :func:`align_windows`)."""
    n_out, n = start.shape[1], len(spatial)
    if periodic:
        return jnp.zeros((n_out,), jnp.int32)
    inside_low = start[0] >= jnp.asarray([k - 1 for k in win], jnp.int32)
    past_high = start[-1] >= jnp.asarray(spatial, jnp.int32)  # end p - (k-1) + k > S
    bits = (inside_low & past_high).astype(jnp.int32)
    return jnp.sum(bits << jnp.arange(n, dtype=jnp.int32), axis=-1)


def _cut_windows(maps, feat, start, win):
    """The windows at ``start (T, N, n)``: values and feature indices, ``(T, N, d)`` each."""
    c, zero = maps.shape[-1], jnp.int32(0)
    n_t, n_out = start.shape[:2]
    cut_v = jax.vmap(jax.vmap(lambda m, s: lax.dynamic_slice(m, (*s, zero), (*win, c)),
                              in_axes=(0, 0)), in_axes=(None, 0))
    cut_f = jax.vmap(jax.vmap(lambda s: lax.dynamic_slice(feat, (*s, zero), (*win, c))))
    vals = cut_v(maps, start).reshape(n_t, n_out, -1)
    feats = cut_f(start).reshape(n_t, n_out, -1)
    return vals, feats


def permutation_null(vals, feats, key, num_features):
    """Permutes the non-zero window values among the entries reading the same feature.

    ``vals, feats: (N, d)`` (one tie-break). The random order of the entries depends only
    on ``(unit, feature)``, so the windows of every tie-break of a unit (which hold the same
    non-zero entries) receive the same values: they are windows of one null matrix."""
    n, d = vals.shape
    flat_v, flat_f = vals.reshape(-1), feats.reshape(-1)
    m = flat_v.shape[0]
    movable = (flat_f >= 0) & (flat_v != 0)
    # fixed entries (zeros, outside the input) get a group of their own
    group = jnp.where(movable, flat_f, num_features + jnp.arange(m, dtype=jnp.int32))
    unit = jnp.repeat(jnp.arange(n, dtype=jnp.int32), d)
    u = jax.vmap(lambda i, f: jax.random.uniform(
        jax.random.fold_in(jax.random.fold_in(key, i), f)))(unit, jnp.maximum(flat_f, 0))
    by_random = jnp.lexsort((u, group))  # each group's entries, in random order
    by_index = jnp.argsort(group, stable=True)  # each group's entries, in unit order
    null = jnp.zeros_like(flat_v).at[by_index].set(flat_v[by_random])
    return null.reshape(vals.shape)


def anchored_views(vals, start, win, channels, anchors, spatial, periodic):
    """Each unit's window re-centred on each of its ``anchors`` heaviest pixels.

    ``vals (N, d)``, ``start (N, n)`` (one tie-break of :func:`align_windows`). Returns
    ``views (N, A, prod(2·win − 1)·C)`` (the window placed so that anchor ``a`` sits at
    the centre of a ``2k − 1`` box, which holds the whole window whatever the anchor),
    ``pos (N, A, n)`` int32 absolute anchor positions (padded coordinates; modulo the
    input size when ``periodic``) and ``ok (N, A)`` (the anchor pixel is non-zero).
    Anchors are the pixels of largest squared mass over channels, ties to the lowest
    row-major offset, so copies of a filter at different positions (scaled, or keeping
    different subsets of its taps) pick the same taps of the filter wherever they keep
    them. ``A = min(anchors, prod(win))``."""
    n_out = vals.shape[0]
    maps = vals.reshape(n_out, *win, channels)
    pm = jnp.sum(maps * maps, axis=-1).reshape(n_out, -1)
    a = min(anchors, pm.shape[1])
    order = jnp.argsort(-pm, axis=1, stable=True)[:, :a]
    ok = jnp.take_along_axis(pm, order, axis=1) > 0
    off = jnp.stack(jnp.unravel_index(order, win), axis=-1).astype(jnp.int32)  # (N, A, n)
    padded = jnp.pad(maps, [(0, 0)] + [(k - 1, k - 1) for k in win] + [(0, 0)])
    box, zero = tuple(2 * k - 1 for k in win), jnp.int32(0)
    cut = jax.vmap(jax.vmap(lambda m, s: lax.dynamic_slice(m, (*s, zero), (*box, channels)),
                            in_axes=(None, 0)))
    views = cut(padded, off).reshape(n_out, a, -1)
    pos = start[:, None, :] + off
    if periodic:
        pos = jnp.mod(pos, jnp.asarray(spatial, jnp.int32))
    return views, pos, ok


def pair_evidence(x, y, my, y2):
    """Evidence that units ``x (c, d)`` and ``y (N, d)`` agree on their common taps.

    ``my = (y != 0)``, ``y2 = y²`` (precomputed). On the co-support (entries non-zero in
    both, ``n_c`` of them) ``ρ`` is the correlation of the two units' values and
    ``r = 1 − ρ²`` the relative residual of the best affine fit ``y ≈ λ·x + μ`` (exact
    copies, scaled or sign-flipped: ``r = 0``). For unrelated values, i.i.d. with any
    mean, ``r ~ Beta((n_c − 2)/2, 1/2)``, so ``P(r ≤ r_obs) ≈ r^a / (a·B(a, ½))`` with
    ``a = (n_c − 2)/2``. Returns ``(E, n_c)``, ``E = −log`` of that tail probability,
    ``a·log(1/r) − ½·log(π(a + ¼))`` (Stirling for ``a·B(a, ½)``), with ``r`` floored at
    :data:`EXACT_RESIDUAL`; ``E ≈ 0`` where ``n_c < 3`` (two common taps always fit)."""
    hi = lax.Precision.HIGHEST
    mx = (x != 0).astype(x.dtype)
    nc = jnp.matmul(mx, my.T, precision=hi)
    sa = jnp.matmul(x, my.T, precision=hi)
    sb = jnp.matmul(mx, y.T, precision=hi)
    sab = jnp.matmul(x, y.T, precision=hi)
    saa = jnp.matmul(x * x, my.T, precision=hi)
    sbb = jnp.matmul(mx, y2.T, precision=hi)
    inv = 1.0 / jnp.maximum(nc, 1.0)
    cab = sab - sa * sb * inv  # co-moments about the co-support means
    caa = jnp.maximum(saa - sa * sa * inv, 0.0)
    cbb = jnp.maximum(sbb - sb * sb * inv, 0.0)
    # values (nearly) constant on the common taps have no correlation to speak of: the
    # co-moments are float rounding then
    spread = (caa > 1e-5 * saa) & (cbb > 1e-5 * sbb)
    rho2 = jnp.where(spread, cab * cab / jnp.maximum(caa * cbb, 1e-30), 0.0)
    r = jnp.clip(1.0 - rho2, EXACT_RESIDUAL, 1.0)
    a = jnp.maximum(nc - 2.0, 0.0) * 0.5
    e = a * -jnp.log(r) - 0.5 * jnp.log(jnp.pi * (a + 0.25))
    return jnp.maximum(e, 0.0), nc


def best_evidence(vals, start, kind, views, pos, ok, valid, chunk_size, pairs, base):
    """Per unit ``i``: the largest :func:`pair_evidence` over units ``j`` at another
    window position and over alignments, the number of such candidates with at least
    three common taps, and whether ``i`` has a partner at another position at all.

    Alignments: the tie-broken windows (``vals (T, N, d)``, ``start (T, N, n)``, unit
    ``i`` under tie-break ``kind_i``), and anchor ``p`` of ``i`` on anchor ``q`` of ``j``
    for each ``(p, q)`` of the static ``pairs`` (``views (N, A, D)``, ``pos (N, A, n)``,
    ``ok (N, A)``), where the anchors lie at different positions. ``valid (N,)``: units
    with a non-zero window. ``base``: a static bound on every coordinate (positions are
    compared as one int32 key each). Rows ``chunk_size`` at a time, grouped by tie-break
    (a block skips the tie-breaks none of its rows uses); alignments are scanned."""
    if base ** start.shape[-1] >= 2**31:
        raise error("in_shape", f"spatial sizes below {int(2 ** (31 / start.shape[-1]))} per "
                    "dim for weight sharing", Text(f"coordinates up to {base}"))
    n = vals.shape[1]
    chunk = min(chunk_size, n)
    nb = -(-n // chunk)
    views_a = jnp.moveaxis(views, 1, 0)  # (A, N, D)
    ctx = _Candidates(vals, (vals != 0).astype(vals.dtype), vals * vals, _linear(start, base),
                      views_a, (views_a != 0).astype(vals.dtype), views_a * views_a,
                      _linear(jnp.moveaxis(pos, 1, 0), base), jnp.moveaxis(ok, 1, 0), valid,
                      jnp.asarray(pairs, jnp.int32))
    order = jnp.argsort(kind, stable=True)  # rows grouped by tie-break
    rows = (jnp.moveaxis(vals, 1, 0)[order], ctx.key_t.T[order], kind[order], views[order],
            ctx.key_a.T[order], ok[order])

    def blocks(a, fill):
        a = jnp.pad(a, [(0, nb * chunk - n), *[(0, 0)] * (a.ndim - 1)], constant_values=fill)
        return a.reshape(nb, chunk, *a.shape[1:])

    best, count, has = lax.map(functools.partial(_block, ctx=ctx),
                               tuple(blocks(a, f) for a, f in zip(rows, (0, -1, -1, 0, -1, False))))
    back = jnp.argsort(order)
    return tuple(a.reshape(-1)[:n][back] for a in (best, count, has))


class _Candidates(NamedTuple):
    """Every unit as a partner: windows ``(T, N, d)``, their masks and squares, position
    keys ``(T, N)``; anchored views ``(A, N, D)``, masks, squares, keys ``(A, N)``, anchor
    validity ``(A, N)``; valid units ``(N,)``; the anchor pairs ``(P, 2)``."""

    vals: jax.Array
    masks_t: jax.Array
    sq_t: jax.Array
    key_t: jax.Array
    views: jax.Array
    masks_a: jax.Array
    sq_a: jax.Array
    key_a: jax.Array
    ok_a: jax.Array
    valid: jax.Array
    pairs: jax.Array


def _block(rows, ctx):
    """:func:`best_evidence` for one block of rows: ``(c, T, d)`` windows, ``(c, T)``
    keys, ``(c,)`` tie-breaks, ``(c, A, D)`` views, ``(c, A)`` keys and validity."""
    xt, kt, kb, xa, ka, oka = rows
    chunk, n = kb.shape[0], ctx.vals.shape[1]

    def by_window(carry, t):
        def compare(carry):
            best, count, other = carry
            e, nc = pair_evidence(xt[:, t], ctx.vals[t], ctx.masks_t[t], ctx.sq_t[t])
            allowed = (kt[:, t][:, None] != ctx.key_t[t][None, :]) & ctx.valid[None, :]
            mine = kb == t
            other = jnp.where(mine[:, None], allowed, other)
            best = jnp.where(mine, jnp.max(jnp.where(allowed, e, 0.0), axis=1), best)
            count = jnp.where(mine, jnp.sum(allowed & (nc >= 2.5), axis=1), count)
            return best, count, other

        # rows come sorted by tie-break: most blocks hold one or two of them
        return lax.cond(jnp.any(kb == t), compare, lambda c: c, carry), None

    init = (jnp.zeros((chunk,), ctx.vals.dtype), jnp.zeros((chunk,), jnp.int32),
            jnp.zeros((chunk, n), bool))
    (best, count, other), _ = lax.scan(by_window, init, jnp.arange(ctx.vals.shape[0]))

    def by_anchors(carry, pq):
        best, count = carry
        p, q = pq[0], pq[1]
        e, nc = pair_evidence(xa[:, p], ctx.views[q], ctx.masks_a[q], ctx.sq_a[q])
        allowed = other & (ka[:, p][:, None] != ctx.key_a[q][None, :]) \
            & oka[:, p][:, None] & ctx.ok_a[q][None, :]
        best = jnp.maximum(best, jnp.max(jnp.where(allowed, e, 0.0), axis=1))
        count = count + jnp.sum(allowed & (nc >= 2.5), axis=1)
        return (best, count), None

    (best, count), _ = lax.scan(by_anchors, (best, count), ctx.pairs)
    return best, count, jnp.any(other, axis=1)


def _linear(pos, base):
    """``(..., n)`` int32 coordinates (each in ``[0, base)``) as one int32 key each."""
    key = pos[..., 0]
    for e in range(1, pos.shape[-1]):
        key = key * base + pos[..., e]
    return key
