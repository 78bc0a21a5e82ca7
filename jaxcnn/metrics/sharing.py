"""Weight sharing of a dense layer's units, by exact agreement, calibrated against a null.

:func:`weight_sharing` asks whether the units of a dense weight ``W: (prod(in_shape),
N)`` are copies of a few filters at different positions, as the units of a convolution
are — whole copies, or copies that each keep a different subset of the filter's taps
(as an L1-pruned or β-LASSO layer would share); :func:`weight_sharing_stats` returns
its terms, unclipped.

**Alignment.** Units are unordered, so each unit ``j`` (column ``W[:, j]``) is first
aligned on its receptive field: a window of size ``window`` holding the most squared
weight (box sums over all windows that overlap the input, zero-padded outside it, or
wrapping around when ``periodic``), and among those the most non-zero entries. Ties
(a support smaller than the window, e.g. a filter cut off by a zero-padded border) are
broken per spatial dim towards the side where the compared unit is cut off, so a
cut-off copy keeps the edge facing away from the border and is lined up by it with its
full copies (``2ⁿ`` tie-breaks in ``n`` dims, 1 when ``periodic``;
:func:`jaxcnn.metrics.alignment.align_windows`). Units that keep different subsets of
a filter need not line up by their windows, so each window is also re-centred on each
of its 2 heaviest pixels (**anchors**; copies of a filter pick the same taps of it
wherever they keep them), and two units are also compared with one's heaviest pixel
on each of the other's 2 anchors (3 anchor pairs). A partner must sit at another
window position (a copy at the same position is not sharing), and under an anchor pair
the anchors must lie at different positions.

**Evidence.** Two aligned units are compared on their *common taps* (entries non-zero
in both; ``n_c`` of them): if they are copies of one filter, the values there agree up
to scale and sign, whatever other taps either keeps. With ``ρ`` their correlation on
the common taps and ``r = 1 − ρ²`` (the relative residual of the best affine fit,
floored at ``1e-4``: float32 copies sit far below it), values unrelated between units
(i.i.d., whatever their mean or sign) give ``r ~ Beta((n_c − 2)/2, 1/2)``, so the
pair's evidence is ``E = −log P(r ≤ r_obs) ≈ a·log(1/r) − ½·log(π(a + ¼))`` with
``a = (n_c − 2)/2`` (0 for fewer than 3 common taps: two always fit). Unit ``i`` takes its best pair over
its ``K_i`` candidates (partners × alignments with at least 3 common taps); since the
best of ``K`` chance p-values has ``E ≈ log K``, its credit is::

    credit_i = clip((max E − log K_i) / 4, 0, 1)

— 1 for a partner agreeing beyond chance by a factor ``e⁴ ≈ 55``, 0 at the chance level.
Exact copies agreeing on 6 or more common taps earn full credit at any realistic ``N``;
on 5 taps up to about 1,000 units, on 4 taps partly at about 100; on 3 taps hardly
(three values fit two parameters to ``1e-4`` by chance about once in 150 candidates);
units of 1-2 taps are not compared at all. Approximate copies earn credit by the number
of taps that agree: ``ρ = 0.9`` on 25 common taps is as convincing as an exact copy.

**The score.** Over the units with at least 3 taps in their window and a partner at
another position::

    S  = mean_i credit_i
    S₀ = the same S for the null W̃
    weight_sharing = clip((S − S₀) / (1 − S₀), 0, 1)

**The null** ``W̃`` keeps every unit's window and its zero pattern and permutes the
non-zero values *across units*: for each input feature (pixel and channel), the
non-zero weights that the units' windows read from it are shuffled among those units
(one deterministic permutation per feature, drawn from ``key``; every tie-broken window
of a unit is a window of this one ``W̃``). It has the same supports, the same overlaps
between units and the same values per input feature as ``W``, but no filter shared
between units; its anchors are its own heaviest pixels. ``S₀`` is typically a few
hundredths (the margin of 4 above ``log K`` leaves chance little credit), so the score
is close to ``S``: about the fraction of units that have a partner, and a planted
fraction ``f`` of copies scores about ``f``.

**Scores.** 1 (up to float rounding) for a conv-embedded ``W``
(:func:`jaxcnn.embed.conv_to_dense`) with any padding — ``"VALID"``, ``"SAME"``,
explicit, or circular with ``periodic=True`` — any strides and number of channels, in
1, 2 or 3 dims, with a window equal to or larger than the kernel, as long as the units
keep at least 5-6 taps (border units cut down to 3-4 taps earn partial or no credit);
also 1 when every unit keeps a different half of the taps of one of a few shared
20-tap filters (at 100 units as at 2,000); ≈ 0 (≤ a few hundredths) for unrelated
units, e.g. locally connected with independent weights (padded or not), random dense,
or one-signed independent filters; ``≈ f`` when a fraction ``f`` of the units are
copies and the rest unrelated. Units with 1-2 taps are not compared (NaN when no unit
has 3); :func:`jaxcnn.metrics.sharing_power` says how much a given sparsity can show.

**Caveats.** The window crops each unit: taps outside a unit's best window are not
compared. A unit needs a copy at another position; the anchors find the offset only
when one unit's heaviest pixel is among the other's 2 heaviest (copies that keep
disjoint sets of heavy taps may be missed; among many copies, some keep the same).
Agreement is a correlation, so a filter whose taps are all equal has nothing to agree
on (a conv of constant kernels scores 0). Non-finite entries anywhere in ``w`` make
every term NaN.

**Cost.** ``O((t + 3) · N² · prod(2·window − 1) · C_in)`` time (six matrix products
per alignment, ``t`` the tie-breaks in use, mostly 1-2; all twice: ``W`` and its
null), ``O(chunk_size · N)`` memory; a ``(784, 2000)`` layer with a 5x5 window takes
about a second on a 2-core CPU once compiled.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.metrics.alignment import (
    align_windows,
    anchored_views,
    best_evidence,
    permutation_null,
)
from jaxcnn.metrics.common import all_finite, check_dense_weight, check_window
from jaxcnn.validation import check_int, check_key

__all__ = ["SharingStats", "weight_sharing", "weight_sharing_stats"]

ANCHORS = 2
"""Heaviest pixels of each window that units are also lined up by."""

MARGIN = 4.0
"""Evidence (nats) above the chance level ``log K`` that earns a unit full credit."""


class SharingStats(NamedTuple):
    """Result of :func:`weight_sharing_stats` (a pytree; jittable).

    Attributes:
      score: scalar in ``[0, 1]``, :func:`weight_sharing`'s value
        ``clip((similarity − null_similarity) / (1 − null_similarity), 0, 1)``; NaN where
        undefined (no unit scored, ``null_similarity`` ≈ 1, or non-finite ``w``).
      similarity: ``S``, mean over the scored units of their credit (the evidence of
        their best partner above chance, see :mod:`jaxcnn.metrics.sharing`).
      null_similarity: ``S₀``, the same on the permutation null.
      units: int32 number of scored units (at least 3 taps in the window and a partner
        at another window position).
      difference: ``S − S₀``, unclipped: negative where the units agree *less* than
        their null, so a comparison of two layers can fail in either direction.
      unclipped: ``(S − S₀) / (1 − S₀)``, the score before clipping.
    """

    score: jax.Array
    similarity: jax.Array
    null_similarity: jax.Array
    units: jax.Array
    difference: jax.Array
    unclipped: jax.Array


def weight_sharing(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    periodic: bool = False,
    key: jax.Array | None = None,
    chunk_size: int = 256,
) -> jax.Array:
    """How much a dense layer's units share filters across positions, null-calibrated.

    Each unit (column ``W[:, j]``; units in any order) is cropped to its best window and
    compared with the units at other positions, lined up by windows and by heaviest
    pixels, on the taps both keep: copies of a filter, whole or keeping different
    subsets of its taps, agree there up to scale and sign. Unit ``i``'s credit is how
    far its best agreement beats chance among its candidates (0 at chance, 1 beyond)::

        S  = mean_i credit_i   over units with >= 3 taps and a partner elsewhere
        S₀ = the same S for the null W̃: W with the non-zero window values permuted
             across units, per input feature (from ``key``), so nothing is shared
        weight_sharing = clip((S − S₀) / (1 − S₀), 0, 1)

    Scores: 1 for a conv-embedded ``W`` (any padding, strides, channels, 1-3 dims; a
    window at least the kernel; units of 5-6 taps or more) and for units each keeping a
    different half of a few shared filters; ≈ 0 for unrelated units; ≈ ``f`` when a
    fraction ``f`` are copies; units of 1-2 taps are not compared. In detail:
    :mod:`jaxcnn.metrics.sharing`. Applies to ``W − W₀`` as to ``W``.

    Args:
      w: ``(prod(in_shape), units)`` dense first-layer weight, units in any order.
      in_shape: ``(*spatial, C_in)`` with 1, 2 or 3 spatial dims, channel axis last.
      window: int or one size per spatial dim, e.g. the kernel size you expect (the
        spatial-rank rule of :mod:`jaxcnn.metrics`).
      periodic: windows wrap around (torus inputs such as NLGP).
      key: ``jax.random`` key of the null's permutation (default ``jax.random.key(0)``,
        so the score is a deterministic function of ``w``).
      chunk_size: rows of the similarity matrices computed at once.

    Returns:
      A float32 scalar in ``[0, 1]``, NaN where undefined (see :class:`SharingStats`;
      :func:`weight_sharing_stats` also returns ``S``, ``S₀``, ``S − S₀`` and the unit
      count).

    Example:
      >>> from jaxcnn.embed import conv_to_dense
      >>> k = jax.random.normal(jax.random.key(1), (5, 5, 1, 2))
      >>> w = conv_to_dense(k, (28, 28, 1))  # (784, 24 * 24 * 2)
      >>> round(float(weight_sharing(w, (28, 28, 1), 5)), 4)
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
    chunk_size: int = 256,
) -> SharingStats:
    """:func:`weight_sharing` with its terms, unclipped: see :class:`SharingStats`.

    Same arguments as :func:`weight_sharing`.

    Example:
      >>> k = jnp.array([1., -2., 3., 1.])  # 1-D conv, VALID, C_in = C_out = 1: 5 units
      >>> w = jnp.stack([jnp.zeros(8).at[q:q + 4].set(k) for q in range(5)], axis=1)
      >>> st = weight_sharing_stats(w, (8, 1), 4)
      >>> round(float(st.score), 4), round(float(st.similarity), 4), int(st.units)
      (1.0, 1.0, 5)
    """
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape)
    chunk_size = check_int(chunk_size, name="chunk_size", minimum=1)
    key = jax.random.key(0) if key is None else check_key(key)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return sharing_stats_kernel(w, key, shape, win, bool(periodic), chunk_size)


def anchor_pairs(a):
    """The anchor pairs ``(p, q)`` compared: ``p`` or ``q`` is a unit's heaviest pixel."""
    return tuple((p, q) for p in range(a) for q in range(a) if p == 0 or q == 0)


def unit_credit(vals, start, kind, valid, shape, win, periodic, chunk_size):
    """Per unit: credit in ``[0, 1]`` and whether it has a partner at another position."""
    views, pos, ok = anchored_views(vals[0], start[0], win, shape[-1], ANCHORS, shape[:-1],
                                    periodic)
    base = max(shape[:-1]) + 2 * max(win)  # padded coordinates are below it
    best, count, has = best_evidence(vals, start, kind, views, pos, ok, valid, chunk_size,
                                     anchor_pairs(views.shape[1]), base)
    chance = jnp.log(jnp.maximum(count, 1).astype(best.dtype))
    return jnp.clip((best - chance) / MARGIN, 0.0, 1.0), has


@functools.partial(jax.jit, static_argnames=("shape", "win", "periodic", "chunk_size"))
def sharing_stats_kernel(w, key, shape, win, periodic, chunk_size):
    finite = all_finite(w)
    w = jnp.where(jnp.isfinite(w), w, 0.0)  # keep the alignment well-defined; NaN below
    vals, feats, start, kind = align_windows(w, shape, win, periodic)
    null = jax.vmap(permutation_null, in_axes=(0, 0, None, None))(
        vals, feats, key, math.prod(shape))
    taps = jnp.sum(vals[0] != 0, axis=1)  # every tie-break holds the same non-zero entries
    valid = taps > 0
    credit, has = lax.map(lambda v: unit_credit(v, start, kind, valid, shape, win, periodic,
                                                chunk_size), jnp.stack([vals, null]))
    (credit, credit0), has = credit, has[0]
    scored = has & (taps >= 3)  # two taps always fit: they cannot show sharing
    cnt = jnp.sum(scored)
    denom = jnp.maximum(cnt, 1).astype(credit.dtype)
    s = jnp.sum(jnp.where(scored, credit, 0.0)) / denom
    s0 = jnp.sum(jnp.where(scored, credit0, 0.0)) / denom
    gap = 1.0 - s0
    unclipped = (s - s0) / jnp.where(gap > 1e-6, gap, 1.0)
    nan = jnp.array(jnp.nan, credit.dtype)
    some = (cnt > 0) & finite
    defined = some & (gap > 1e-6)
    return SharingStats(
        jnp.where(defined, jnp.clip(unclipped, 0.0, 1.0), nan),
        jnp.where(some, s, nan), jnp.where(some, s0, nan), cnt.astype(jnp.int32),
        jnp.where(some, s - s0, nan), jnp.where(defined, unclipped, nan))
