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
from jax import lax

from jaxcnn.metrics.alignment import align_windows
from jaxcnn.metrics.common import check_dense_weight, check_window
from jaxcnn.metrics.sharing import SharingStats, sharing_stats_kernel
from jaxcnn.validation import Text, check_int, check_key, check_number, error

__all__ = ["SharingPower", "sharing_power", "sharing_stats_and_power"]


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
    Every draw runs in one compiled program (a loop over the draws; one compilation per
    shape of ``w``). Units of 10 taps give full power at 25% planted; units of 1-2 taps
    none (they are not even compared).

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
    return _stats_and_power(w, in_shape, window, stats_key=None, power=True, power_key=key,
                            fractions=fractions, periodic=periodic, draws=draws,
                            filters=filters, noise=noise, chunk_size=chunk_size)[1]


def sharing_stats_and_power(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    power: bool = True,
    periodic: bool = False,
    key: jax.Array | None = None,
    power_key: jax.Array | None = None,
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    draws: int = 10,
    filters: int = 4,
    noise: float = 0.0,
    chunk_size: int = 256,
) -> tuple[SharingStats, SharingPower | None]:
    """:func:`weight_sharing_stats` and (``power``) :func:`sharing_power` of ``w`` from one
    compiled program.

    The same numbers as ``(weight_sharing_stats(w, ..., key=key), sharing_power(w, ...,
    key=power_key))`` for a float32 ``w`` (``w`` is cast to float32), bitwise: the score
    is the first pass of :func:`sharing_power`'s loop over draws, and ``power=False``
    runs that pass alone. One compilation per shape of ``w`` (and ``len(fractions)``,
    ``draws``, ``filters``, ``chunk_size``) serves both, so a study that wants the power
    of some layers only compiles the score once.

    Args:
      w, in_shape, window, periodic, chunk_size: as for :func:`weight_sharing`.
      power: also the power (else ``None``, and the draws are not run).
      key: ``jax.random`` key of the score's null (default ``jax.random.key(0)``).
      power_key: ``key`` of :func:`sharing_power` (default ``jax.random.key(0)``).
      fractions, draws, filters, noise: as for :func:`sharing_power`.

    Returns:
      ``(SharingStats, SharingPower or None)``.

    Raises:
      ValueError: an invalid argument, or (``power``) a non-finite entry of ``w``.

    Example:
      >>> k = jnp.array([1., -2., 3., 1.])  # 1-D conv, VALID, C_in = C_out = 1: 5 units
      >>> w = jnp.stack([jnp.zeros(8).at[q:q + 4].set(k) for q in range(5)], axis=1)
      >>> st, p = sharing_stats_and_power(w, (8, 1), 4, power=False)
      >>> round(float(st.score), 4), int(st.units), p
      (1.0, 5, None)
    """
    key = jax.random.key(0) if key is None else check_key(key)
    return _stats_and_power(w, in_shape, window, stats_key=key, power=bool(power),
                            power_key=power_key, fractions=fractions, periodic=periodic,
                            draws=draws, filters=filters, noise=noise, chunk_size=chunk_size)


def _stats_and_power(w, in_shape, window, *, stats_key, power, power_key, fractions,
                     periodic, draws, filters, noise, chunk_size):
    """``(stats, power)``: the score with ``stats_key`` (``None``: not run, ``None``
    returned), the power with ``power_key`` (default key 0) if ``power`` (else ``None``)."""
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape)
    fr = _fractions(fractions)
    draws = check_int(draws, name="draws", minimum=2)
    power_key = jax.random.key(0) if power_key is None else check_key(power_key)
    filters = check_int(filters, name="filters", minimum=1)
    noise = float(check_number(noise, name="noise", minimum=0.0))
    chunk_size = check_int(chunk_size, name="chunk_size", minimum=1)
    w = np.asarray(w, np.float32)
    if power and not np.all(np.isfinite(w)):
        bad = int(w.size - np.count_nonzero(np.isfinite(w)))
        raise error("w", "finite values", Text(f"{bad} non-finite entries of {w.size}"))
    n = w.shape[1]
    # units shared per draw by number of live units (row 0: the no-sharing draws),
    # round(f · live) as Python rounds it
    n_shared = np.asarray([[0] * (n + 1)] + [[int(round(f * k)) for k in range(n + 1)]
                                            for f in fr], np.int32)
    keys = jax.random.split(power_key, (len(fr) + 1) * draws)
    taps, slots = jax.device_get(_score_draws(
        w, jax.random.key(0) if stats_key is None else stats_key, keys, n_shared, noise,
        np.int32(0 if stats_key is not None else 1), np.int32(1 + keys.shape[0] if power else 1),
        shape=shape, win=win, periodic=periodic, filters=filters, chunk_size=chunk_size))
    stats = None if stats_key is None else SharingStats(*(jnp.asarray(a[0]) for a in slots))
    if not power:
        return stats, None
    live = taps > 0
    taps_median = float(np.median(taps[live])) if live.any() else float("nan")
    unclipped = np.asarray(slots.unclipped[1:], np.float64).reshape(len(fr) + 1, draws)
    score = np.asarray(slots.score[1:], np.float64).reshape(len(fr) + 1, draws)
    null_u = unclipped[0]
    # no unit can be compared (1-2 taps): no threshold, nothing detected
    thr = float("nan") if np.all(np.isnan(null_u)) else float(
        np.quantile(np.where(np.isnan(null_u), -np.inf, null_u), 0.95))
    detection, mean_score = [], []
    for a in range(len(fr)):
        got = unclipped[a + 1]
        detection.append(float(np.mean(~np.isnan(got) & (got > thr))))
        mean_score.append(_nanmean(score[a + 1]))
    return stats, SharingPower(fr, tuple(detection), tuple(mean_score), thr, _nanmean(null_u),
                               draws, int(slots.units[1]), taps_median)


def _nanmean(x) -> float:
    x = np.asarray(x, np.float64)
    return float("nan") if np.all(np.isnan(x)) else float(np.nanmean(x))


@functools.partial(jax.jit,
                   static_argnames=("shape", "win", "periodic", "filters", "chunk_size"))
def _score_draws(w, stats_key, keys, n_shared, noise, first, stop, *, shape, win, periodic,
                 filters, chunk_size):
    """The sharing score of ``w`` and of every draw of :func:`sharing_power`, in one loop.

    Pass 0 scores ``w`` itself with ``stats_key``; pass ``i >= 1`` plants draw ``i − 1``:
    ``k_sel, k_plant, k_null = split(keys[i − 1], 3)``, its first
    ``n_shared[(i − 1) // draws, live]`` units of ``jax.random.permutation(k_sel, live)``
    shared (``live``: units with a tap in their window), scored with ``k_null``. Only the
    passes ``first <= i < stop`` run (traced bounds: one compilation whatever runs); the
    others are left NaN (``units`` 0). Returns ``(taps per unit (N,), SharingStats of
    (1 + len(keys),) arrays)``."""
    vals, feats, _, _ = align_windows(w, shape, win, periodic)
    mask, feat = vals[0] != 0, feats[0]  # (N, d): the taps each unit keeps
    taps = jnp.sum(mask, axis=1)
    live = taps > 0
    n = mask.shape[0]
    n_live = jnp.sum(live, dtype=jnp.int32)
    live_idx = jnp.argsort(~live, stable=True)  # the live units in order, then the others
    rank = jnp.arange(n, dtype=jnp.int32)
    draws = keys.shape[0] // n_shared.shape[0]

    def planted(i):
        k_sel, k_plant, k_null = jax.random.split(keys[i - 1], 3)
        order = _permutation_of_prefix(k_sel, n_live, n)
        m = n_shared[(i - 1) // draws, n_live]
        shared = jnp.zeros((n,), bool).at[live_idx[order]].set(rank < m)
        return _plant(mask, feat, shared, k_plant, shape=shape, filters=filters,
                      noise=noise), k_null

    def one(i, out):
        x, k = lax.cond(i == 0, lambda i: (w, stats_key), planted, i)
        st = sharing_stats_kernel(x, k, shape, win, periodic, chunk_size)
        return jax.tree.map(lambda buf, v: buf.at[i].set(v), out, st)

    slots = 1 + keys.shape[0]
    nan = jnp.full((slots,), jnp.nan, w.dtype)
    init = SharingStats(nan, nan, nan, jnp.zeros((slots,), jnp.int32), nan, nan)
    return taps, lax.fori_loop(first, stop, one, init)


def _shuffle_rounds(size: int) -> int:
    """Sorting rounds of ``jax.random.permutation`` of ``size`` elements (its ``_shuffle``)."""
    return int(np.ceil(3 * np.log(max(1, size)) / np.log(np.iinfo(np.uint32).max)))


def _permutation_of_prefix(key, size, n):
    """``jax.random.permutation(key, size)`` for a traced ``size <= n``, in the first
    ``size`` entries of an ``(n,)`` int32 array (then ``size, ..., n − 1``).

    The same sort rounds on the same 32-bit sort keys (random bits are drawn per index,
    so the first ``size`` of ``n`` are those of ``size``); the other entries sort last
    (stable sort, key ``2³² − 1``), so one program serves every ``size``."""
    x = jnp.arange(n, dtype=jnp.int32)
    pos = jnp.arange(n, dtype=jnp.int32)
    rounds = jnp.asarray([_shuffle_rounds(s) for s in range(n + 1)], jnp.int32)[size]
    for r in range(_shuffle_rounds(n)):
        key, subkey = jax.random.split(key)
        bits = jax.random.bits(subkey, (n,), jnp.uint32)
        bits = jnp.where(pos < size, bits, jnp.uint32(np.iinfo(np.uint32).max))
        _, shuffled = lax.sort_key_val(bits, x, is_stable=True)
        x = jnp.where(r < rounds, shuffled, x)
    return x


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
