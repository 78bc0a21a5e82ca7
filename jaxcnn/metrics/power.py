"""How much weight sharing a layer's sparsity lets :func:`weight_sharing` see.

A sharing score near 0 means "no sharing" only if sharing, had it been there, would have
shown. :func:`sharing_power` plants shared filters into a layer with the observed
supports of ``w`` — the same units, the same taps per unit at the same places, the same
windows and borders — and reports, per planted fraction of shared units, how often
:func:`jaxcnn.metrics.weight_sharing_stats` tells the planted layer from the same
supports with nothing shared, and the mean score it gives. Where the detection rate at
the fraction of interest is below 0.8, a low score reads "not detectable here", not
"no sharing".

**The plant.** Each unit keeps the non-zero entries of its best window
(:func:`jaxcnn.metrics.best_window`'s window, tie-broken as the sharing score does;
taps outside it are dropped, as the score ignores them). Per draw, a random subset of
``round(f · units)`` live units is *shared*: each is given one of ``filters`` random
normal filters (the size of the window), read at its own taps' offsets in the window —
so shared units are exact copies (times ``1 + noise · N(0, 1)`` per tap) of a common
filter, each keeping the taps the observed unit has, at different positions. The other
units get independent normal values on their taps. The *no-sharing* draws (``f = 0``)
give the null distribution of the score at this sparsity.

**Detection.** A draw is detected when its unclipped score
(:attr:`jaxcnn.metrics.SharingStats.unclipped`) exceeds the 95th percentile of the
``draws`` no-sharing scores (linear interpolation between draws).

**Cost.** ``(len(fractions) + 1) · draws`` evaluations of the sharing score (one
compilation): seconds for hundreds of units, a few minutes at 2,000 units on a CPU.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.metrics.alignment import align_windows
from jaxcnn.metrics.common import check_dense_weight, check_window
from jaxcnn.metrics.sharing import sharing_stats_kernel
from jaxcnn.validation import Text, check_int, check_key, check_number, error

__all__ = ["SharingPower", "sharing_power"]


class SharingPower(NamedTuple):
    """Result of :func:`sharing_power` (host-side Python numbers and tuples).

    Attributes:
      fractions: the planted fractions of shared units.
      detection: per fraction, the share of planted draws whose unclipped sharing score
        exceeds ``threshold``.
      mean_score: per fraction, the mean :func:`jaxcnn.metrics.weight_sharing` score of
        the planted draws.
      threshold: the 95th percentile of the unclipped scores of the no-sharing draws.
      null_mean: their mean unclipped score.
      draws: draws per fraction (and of the no-sharing null).
      units: units scored by the sharing score (at least 2 taps in the window and a
        partner at another position).
      taps_median: median taps per live unit in its window.
    """

    fractions: tuple[float, ...]
    detection: tuple[float, ...]
    mean_score: tuple[float, ...]
    threshold: float
    null_mean: float
    draws: int
    units: int
    taps_median: float


def sharing_power(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    periodic: bool = False,
    key: jax.Array | None = None,
    draws: int = 10,
    filters: int = 4,
    noise: float = 0.0,
    chunk_size: int = 256,
) -> SharingPower:
    """Detection rate and mean score of :func:`weight_sharing` at ``w``'s sparsity.

    Shared filters are planted on ``w``'s own supports (see :mod:`jaxcnn.metrics.power`),
    a fraction ``f`` of the live units sharing one of ``filters`` filters; ``draws``
    planted layers per fraction are scored against ``draws`` with nothing shared.
    Host-side (loops over draws, one compiled score). Units of 10 taps give full power
    at 25% planted; units of 1-2 taps none (they are not even compared).

    Args:
      w: ``(prod(in_shape), units)``, e.g. a trained layer or its change ``W − W₀``.
      in_shape, window, periodic, chunk_size: as for :func:`weight_sharing`.
      fractions: planted fractions of shared live units, each in ``(0, 1]``.
      key: ``jax.random`` key of the plants and the scores' nulls (default
        ``jax.random.key(0)``).
      draws: planted layers per fraction, and no-sharing layers (>= 2).
      filters: number of shared filters.
      noise: relative jitter of each shared copy's taps (0: exact copies; 0.1 gives the
        power against approximate sharing, as learned weights would share).

    Returns:
      :class:`SharingPower`.

    Raises:
      ValueError: an invalid argument, or a non-finite entry of ``w`` (naming it).

    Example:
      >>> rng = np.random.default_rng(0)
      >>> w = np.zeros((40, 60), np.float32)  # 1-D, 40 pixels: units of 8 taps in 10
      >>> for j in range(60):
      ...     q = rng.integers(0, 31)
      ...     w[q + rng.choice(10, 8, replace=False), j] = rng.standard_normal(8)
      >>> sharing_power(w, (40, 1), 10, fractions=(0.25,), draws=4).detection
      (1.0,)
    """
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape)
    fr = _fractions(fractions)
    draws = check_int(draws, name="draws", minimum=2)
    key = jax.random.key(0) if key is None else check_key(key)
    w = np.asarray(w, np.float32)
    if not np.all(np.isfinite(w)):
        bad = int(w.size - np.count_nonzero(np.isfinite(w)))
        raise error("w", "finite values", Text(f"{bad} non-finite entries of {w.size}"))
    plants = _Plants(w, shape, win, bool(periodic), check_int(filters, name="filters", minimum=1),
                     float(check_number(noise, name="noise", minimum=0.0)),
                     check_int(chunk_size, name="chunk_size", minimum=1))
    return _power(plants, fr, draws, key)


def _power(plants, fr, draws, key) -> SharingPower:
    keys = jax.random.split(key, (len(fr) + 1) * draws).reshape(len(fr) + 1, draws)
    null = [plants.score(0.0, keys[0, i]) for i in range(draws)]
    null_u = np.array([u for u, _, _ in null])
    # no unit can be compared (1-2 taps): no threshold, nothing detected
    thr = float("nan") if np.all(np.isnan(null_u)) else float(
        np.quantile(np.where(np.isnan(null_u), -np.inf, null_u), 0.95))
    detection, mean_score = [], []
    for a, f in enumerate(fr):
        got = np.array([plants.score(f, keys[a + 1, i])[:2] for i in range(draws)])
        detection.append(float(np.mean(~np.isnan(got[:, 0]) & (got[:, 0] > thr))))
        mean_score.append(_nanmean(got[:, 1]))
    return SharingPower(fr, tuple(detection), tuple(mean_score), thr, _nanmean(null_u), draws,
                        null[0][2], plants.taps_median)


def _nanmean(x) -> float:
    x = np.asarray(x, np.float64)
    return float("nan") if np.all(np.isnan(x)) else float(np.nanmean(x))


class _Plants:
    """``w``'s window supports, and the sharing score of a layer planted on them."""

    def __init__(self, w, shape, win, periodic, filters, noise, chunk_size):
        vals, feats, _, _ = align_windows(jnp.asarray(w), shape, win, periodic)
        self.mask = np.asarray(vals[0] != 0)  # (N, d): the taps each unit keeps
        self.feat = np.asarray(feats[0])
        taps = self.mask.sum(axis=1)
        self.live = np.flatnonzero(taps > 0)
        self.taps_median = float(np.median(taps[self.live])) if self.live.size else float("nan")
        self.shape, self.win, self.periodic = shape, win, periodic
        self.filters, self.noise, self.chunk_size = filters, noise, chunk_size

    def score(self, frac, key):
        """``(unclipped, score, units)`` of one layer with ``frac`` of live units shared."""
        k_sel, k_plant, k_null = jax.random.split(key, 3)
        order = np.asarray(jax.random.permutation(k_sel, self.live.size))
        shared = np.zeros(self.mask.shape[0], bool)
        shared[self.live[order[:int(round(frac * self.live.size))]]] = True
        wp = _plant(jnp.asarray(self.mask), jnp.asarray(self.feat), jnp.asarray(shared),
                    k_plant, shape=self.shape, filters=self.filters, noise=self.noise)
        st = sharing_stats_kernel(wp, k_null, shape=self.shape, win=self.win,
                                  periodic=self.periodic, chunk_size=self.chunk_size)
        return float(st.unclipped), float(st.score), int(st.units)


def _fractions(fractions: Any) -> tuple[float, ...]:
    what = "a non-empty sequence of fractions in (0, 1]"
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence) \
            or len(fractions) == 0:
        raise error("fractions", what, fractions)
    out = []
    for f in fractions:
        try:
            v = float(check_number(f, name="fractions", minimum=0.0))
        except ValueError:
            raise error("fractions", what, fractions) from None
        if not 0.0 < v <= 1.0:
            raise error("fractions", what, fractions)
        out.append(v)
    return tuple(out)


@functools.partial(jax.jit, static_argnames=("shape", "filters"))
def _plant(mask, feat, shared, key, *, shape, filters, noise):
    """A planted ``(prod(shape), N)`` weight: ``mask (N, d)`` taps at input features
    ``feat (N, d)``; shared units read filter ``g_j`` at their window offsets."""
    n, d = mask.shape
    kf, kg, kn, ki = jax.random.split(key, 4)
    bank = jax.random.normal(kf, (filters, d))
    g = jax.random.randint(kg, (n,), 0, filters)
    copy = bank[g] * (1.0 + noise * jax.random.normal(kn, (n, d)))
    own = jax.random.normal(ki, (n, d))
    vals = jnp.where(mask, jnp.where(shared[:, None], copy, own), 0.0)
    rows = jnp.where(mask, feat, 0)
    cols = jnp.broadcast_to(jnp.arange(n)[:, None], (n, d))
    return jnp.zeros((math.prod(shape), n), vals.dtype).at[rows, cols].add(vals)
