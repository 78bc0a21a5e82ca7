"""Receptive-field alignment for :func:`jaxcnn.metrics.weight_sharing`.

The units of a dense weight ``W: (prod(in_shape), N)`` are unordered, so each is
aligned on its own window before units are compared: :func:`align_windows` finds every
unit's window of maximal squared mass (and, among those, most non-zero entries) under
each tie-break; :func:`permutation_null` builds the null that shuffles the non-zero
window values among the units reading the same input feature; :func:`best_partner`
gives each unit's best ``|cos|`` with a unit at another window position. All run
inside ``jax.jit`` with the shapes and the window static.

Example:
    >>> w = jnp.eye(4)[:, [1, 2]]  # 1-D, C_in = 1: one-hot units at pixels 1 and 2
    >>> vals, feats, start, kind = align_windows(w, (4, 1), (2,), False)
    >>> vals.shape, start[0, :, 0].tolist()  # 2**1 tie-breaks, 2 units, 2 entries
    ((2, 2, 2), [1, 2])
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.metrics.common import filter_maps

__all__ = ["align_windows", "best_partner", "permutation_null", "unit_rows"]


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


def best_partner(v, inside, start, valid, kind, chunk_size):
    """Per unit ``i``, under its tie-break ``t = kind_i``: max over valid units ``j`` at
    another start of ``|<v_ti, v_tj>| / ‖inside_ti ⊙ v_tj‖`` (rows of ``v_t`` unit-norm),
    and whether one exists. ``v, inside: (T, N, d)``, ``start: (T, N, n)``."""
    n_t, n = v.shape[:2]
    chunk = min(chunk_size, n)
    nb = -(-n // chunk)
    pad = nb * chunk - n

    def blocks(a, fill=0):
        a = jnp.pad(a, [(0, 0), (0, pad), *[(0, 0)] * (a.ndim - 2)], constant_values=fill)
        return jnp.moveaxis(a.reshape(n_t, nb, chunk, *a.shape[2:]), 1, 0)

    kp = jnp.pad(kind, (0, pad)).reshape(nb, chunk)
    hi = lax.Precision.HIGHEST

    def block(args):
        vb, mb, sb, kb = args  # (T, chunk, d), (T, chunk, d), (T, chunk, n), (chunk,)
        best, has = jnp.full((chunk,), -1.0, v.dtype), jnp.zeros((chunk,), bool)
        for t in range(n_t):
            dot = jnp.abs(jnp.matmul(vb[t], v[t].T, precision=hi))  # (chunk, n)
            den2 = jnp.matmul(mb[t], (v[t] * v[t]).T, precision=hi)  # ‖inside_i ⊙ v_j‖²
            sim = jnp.where(den2 > 0, dot / jnp.sqrt(jnp.where(den2 > 0, den2, 1)), 0.0)
            other = jnp.any(sb[t][:, None, :] != start[t][None, :, :], axis=-1)
            allowed = other & valid[None, :]
            mine = kb == t
            best = jnp.where(mine, jnp.max(jnp.where(allowed, sim, -1.0), axis=1), best)
            has = jnp.where(mine, jnp.any(allowed, axis=1), has)
        return best, has

    best, has = lax.map(block, (blocks(v), blocks(inside), blocks(start, -1), kp))
    return jnp.minimum(best.reshape(-1)[:n], 1.0), has.reshape(-1)[:n]


def unit_rows(v):
    """Rows of ``v`` scaled to unit norm (zero rows kept), and which rows are non-zero."""
    norm = jnp.linalg.norm(v, axis=-1, keepdims=True)
    return v / jnp.where(norm > 0, norm, 1), norm[..., 0] > 0
