"""Weight sharing of a dense layer's units, calibrated against a permutation null.

:func:`weight_sharing` asks whether the units of a dense weight ``W: (prod(in_shape),
N)`` are copies of a few filters at different positions, as the units of a
convolution are; :func:`weight_sharing_stats` returns its terms.

**Alignment.** Units are unordered, so each unit ``j`` (column ``W[:, j]``) is first
aligned on its receptive field: a window of size ``window`` holding the most squared
weight (box sums over all windows that overlap the input, zero-padded outside it, or
wrapping around when ``periodic``), and among those the most non-zero entries (so a
tap too small to change the float sum still pins the window). ``v_j`` = the unit
cropped to that window, ``prod(window)·C_in`` values, normalised. **Ties** (a support
smaller than the window, e.g. a filter cut off by a zero-padded border) are broken per
spatial dim, the same way for every unit of a comparison, towards the side where the
compared unit ``i`` is cut off: lowest start (the support's high edge on the window's
high edge) unless ``i``'s tied windows reach past the high border but not the low one,
then highest start (low edge on low edge). A filter cut off by a border keeps the edge
that faces away from it, and is lined up by that edge with its full copies; in ``n``
dims there are ``2ⁿ`` such tie-breaks (1 when ``periodic``) and each unit is compared
under its own (:func:`jaxcnn.metrics.alignment.align_windows`). Both breaks are exactly
translation-equivariant.

**The score.** With ``best_i = max_j |<v_i, v_j>| / ‖v_j restricted to i's in-input
entries‖`` (the ``|cos|`` on the entries where ``i``'s window lies inside the input, so
a truncated copy matches its full copies exactly) over the units ``j`` whose window
sits at another position (a copy at the same position is not sharing; the sign is
ignored)::

    S  = mean_i best_i                     over units with a non-zero window and
                                           a partner at another position
    S₀ = the same S for the null W̃
    weight_sharing = clip((S − S₀) / (1 − S₀), 0, 1)

**The null** ``W̃`` keeps every unit's window and its zero pattern and permutes the
non-zero values *across units*: for each input feature (pixel and channel), the
non-zero weights that the units' windows read from it are shuffled among those units
(one deterministic permutation per feature, drawn from ``key``; a unit's tie-broken
windows hold the same entries, so all of them are windows of this one ``W̃``, compared
with the same tie-breaks, starts and in-input entries as ``W``). It has the same
supports and the same values per input feature as ``W`` but no filter shared between
units; its ``S₀`` is the best-partner similarity that unrelated units reach by chance
at this number of units, window size, border truncation and value distribution. Both
terms are maxima over the same candidates, so the chance level (which grows with the
number of units, see :func:`jaxcnn.metrics.aligned_filter_similarity`) cancels and the
score does not drift with it.

**Scores.** 1 (up to float rounding) for a conv-embedded ``W``
(:func:`jaxcnn.embed.conv_to_dense`) with any padding — ``"VALID"``, ``"SAME"``,
explicit, or circular with ``periodic=True`` — any strides and number of channels, in
1, 2 or 3 dims, with a window equal to or larger than the kernel (a unit needs a full
copy at another position: an input hardly larger than the kernel, where every other
copy is cut off, scores a little below 1); ≈ 0 (≤ a few hundredths) for unrelated
units, e.g. locally connected with independent weights (padded or not), or random
dense; between, rising with ``f`` and a little below it, when a fraction ``f`` of the
units are copies of a few filters at different positions and the rest unrelated
(measured for ``f`` = .25, .5, .75: ≈ .2, .45, .7 on 28x28 with a 5x5 window, at 100
and at 2,000 units).

**Caveats.** The null mixes values of different window offsets, so unrelated units
that share a smooth envelope (large in the centre, small at the rim) score above 0; a
conv whose kernel entries are all equal is indistinguishable from its null (NaN); with
a window smaller than the kernel, the border units of a padded conv are cut
differently from their copies and the score drops below 1 (e.g. ≈ 0.89 for a SAME conv
on (40, 1) with kernel 9, window 7).

**Cost.** ``O(2ⁿ · N² · prod(window) · C_in)`` time, ``O(chunk_size · N)`` memory; a
``(784, 2000)`` layer with a 5x5 window takes about a tenth of a second on a CPU once
compiled.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxcnn.metrics.alignment import (
    align_windows,
    best_partner,
    permutation_null,
    unit_rows,
)
from jaxcnn.metrics.common import check_dense_weight, check_window
from jaxcnn.validation import check_int, check_key

__all__ = ["SharingStats", "weight_sharing", "weight_sharing_stats"]


class SharingStats(NamedTuple):
    """Result of :func:`weight_sharing_stats` (a pytree; jittable).

    Attributes:
      score: scalar in ``[0, 1]``, :func:`weight_sharing`'s value
        ``clip((similarity − null_similarity) / (1 − null_similarity), 0, 1)``; NaN where
        undefined (no unit scored, or ``null_similarity`` ≈ 1).
      similarity: ``S``, mean over the scored units of their best-partner ``|cos|``.
      null_similarity: ``S₀``, the same on the permutation null.
      units: int32 number of scored units (non-zero window and a partner at another
        window position).
    """

    score: jax.Array
    similarity: jax.Array
    null_similarity: jax.Array
    units: jax.Array


def weight_sharing(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    periodic: bool = False,
    key: jax.Array | None = None,
    chunk_size: int = 1024,
) -> jax.Array:
    """How much a dense layer's units share filters across positions, null-calibrated.

    Each unit ``j`` (column ``W[:, j]``; units in any order) is cropped to its best
    window, the one of size ``window`` holding most of its squared weight (ties broken
    towards the border that cuts a filter off), giving ``v_j``. With ``best_i`` the
    largest ``|cos(v_i, v_j)|`` over the units ``j`` whose window sits at another
    position (on the entries where ``i``'s window lies inside the input)::

        S  = mean_i best_i   over units with a non-zero window and such a partner
        S₀ = the same S for the null W̃: W with the non-zero window values permuted
             across units, per input feature (from ``key``), so nothing is shared
        weight_sharing = clip((S − S₀) / (1 − S₀), 0, 1)

    Scores: 1 (up to float rounding) for a conv-embedded ``W``
    (:func:`jaxcnn.embed.conv_to_dense`) with any padding, strides and channels, in
    1, 2 or 3 dims, with a window at least the kernel size; ≈ 0 for unrelated units
    (locally connected with independent weights, random dense); a little below ``f``
    when a fraction ``f`` of the units are copies. Alignment, ties, the null, caveats
    and cost in detail: :mod:`jaxcnn.metrics.sharing`.

    Args:
      w: ``(prod(in_shape), units)`` dense first-layer weight, units in any order.
      in_shape: ``(*spatial, C_in)`` with 1, 2 or 3 spatial dims.
      window: int or one size per spatial dim, e.g. the kernel size you expect.
      periodic: windows wrap around (torus inputs such as NLGP).
      key: ``jax.random`` key of the null's permutation (default ``jax.random.key(0)``,
        so the score is a deterministic function of ``w``).
      chunk_size: rows of the similarity matrix computed at once.

    Returns:
      A float32 scalar in ``[0, 1]``, NaN where undefined (see :class:`SharingStats`;
      :func:`weight_sharing_stats` also returns ``S``, ``S₀`` and the unit count).

    Example:
      >>> from jaxcnn.embed import conv_to_dense
      >>> k = jax.random.normal(jax.random.key(1), (5, 5, 1, 4))
      >>> w = conv_to_dense(k, (28, 28, 1))  # (784, 24 * 24 * 4)
      >>> round(float(weight_sharing(w, (28, 28, 1), 5)), 4)
      1.0
      >>> k1 = jax.random.normal(jax.random.key(3), (9, 1, 16))  # zero-padded, strided 1-D
      >>> w1 = conv_to_dense(k1, (40, 1), strides=2, padding="SAME")  # (40, 20 * 16)
      >>> round(float(weight_sharing(w1, (40, 1), 9)), 4)  # border units are cut-off copies
      1.0
      >>> lc = jnp.where(w != 0, jax.random.normal(jax.random.key(2), w.shape), 0.0)
      >>> float(weight_sharing(lc, (28, 28, 1), 5)) < 0.1  # same supports, nothing shared
      True
    """
    return weight_sharing_stats(
        w, in_shape, window, periodic=periodic, key=key, chunk_size=chunk_size
    ).score


def weight_sharing_stats(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    periodic: bool = False,
    key: jax.Array | None = None,
    chunk_size: int = 1024,
) -> SharingStats:
    """:func:`weight_sharing` with its terms: ``SharingStats(score, S, S₀, units)``.

    Same arguments as :func:`weight_sharing`.

    Example:
      >>> k = jnp.array([1., -2., 1.])  # 1-D conv, VALID, C_in = C_out = 1: 4 units
      >>> w = jnp.stack([jnp.zeros(6).at[q:q + 3].set(k) for q in range(4)], axis=1)
      >>> st = weight_sharing_stats(w, (6, 1), 3)
      >>> round(float(st.score), 4), round(float(st.similarity), 4), int(st.units)
      (1.0, 1.0, 4)
    """
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape[:-1])
    chunk_size = check_int(chunk_size, name="chunk_size", minimum=1)
    key = jax.random.key(0) if key is None else check_key(key)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return _weight_sharing_stats(w, key, shape, win, bool(periodic), chunk_size)


@functools.partial(jax.jit, static_argnames=("shape", "win", "periodic", "chunk_size"))
def _weight_sharing_stats(w, key, shape, win, periodic, chunk_size):
    vals, feats, start, kind = align_windows(w, shape, win, periodic)
    null = jax.vmap(permutation_null, in_axes=(0, 0, None, None))(
        vals, feats, key, math.prod(shape))
    inside = (feats >= 0).astype(vals.dtype)
    v, valid = unit_rows(vals)
    valid = valid[0]  # every tie-break holds the same non-zero entries
    v0, _ = unit_rows(null)  # the null keeps each unit's non-zero entries non-zero
    best, has = best_partner(v, inside, start, valid, kind, chunk_size)
    best0, _ = best_partner(v0, inside, start, valid, kind, chunk_size)
    scored = has & valid
    cnt = jnp.sum(scored)
    denom = jnp.maximum(cnt, 1).astype(v.dtype)
    s = jnp.sum(jnp.where(scored, best, 0.0)) / denom
    s0 = jnp.sum(jnp.where(scored, best0, 0.0)) / denom
    gap = 1.0 - s0
    score = jnp.clip((s - s0) / jnp.where(gap > 1e-6, gap, 1.0), 0.0, 1.0)
    undefined = (cnt == 0) | (gap <= 1e-6)
    nan = jnp.array(jnp.nan, v.dtype)
    return SharingStats(jnp.where(undefined, nan, score), jnp.where(cnt > 0, s, nan),
                        jnp.where(cnt > 0, s0, nan), cnt.astype(jnp.int32))
