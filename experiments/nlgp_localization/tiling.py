"""Where the localised units sit, and how evenly they tile the ring or torus.

A module of ``experiments.nlgp_localization``. Ingrosso & Goldt report that with NLGP
inputs the hidden units not only localise but *tile* the input space: their receptive
fields sit apart from each other, as a convolution's shifted copies of one filter do.
This module turns that into a calibrated number:

* the centre of a unit is the periodic (circular) centroid of its squared weights
  (:func:`periodic_centroid`: per axis, the angle of ``sum_i m_i exp(2 pi i x_i / n)``
  for the marginal mass ``m``), which is right across the wrap-around, where a plain
  centre of mass of a blob split over the edge lands in the middle of the field;
* the tiling statistic of ``k >= 2`` centres is their mean nearest-neighbour distance on
  the torus (:func:`mean_nn_distance`, periodic Euclidean distance);
* its null is the same statistic for ``k`` points drawn uniformly on the torus
  (:func:`uniform_nn_null`, Monte Carlo with an explicit PRNG key):
  :func:`tiling_statistic` reports the ratio observed / null mean (> 1: spread out more
  evenly than chance, < 1: clustered) and the percentile of the observed value in the
  null draws.

Reading it: the null ignores that two receptive fields of finite size rarely sit on top of
each other (such an exclusion alone pushes the ratio above 1), so a ratio clearly above 1
is tiling, and a ratio below 1 is clustering beyond anything exclusion explains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np

from jaxcnn import stats
from jaxcnn.validation import Text, error

__all__ = ["NULL_DRAWS", "arm_tiling", "centres_of", "mean_nn_distance", "periodic_centroid",
           "tiling_statistic", "torus_distances", "uniform_nn_null"]

#: Monte Carlo draws of the uniform null (the percentile's resolution is 1 / draws).
NULL_DRAWS = 4000
#: Ranks of the fields a centroid is defined on: a ring ``(D,)`` or a torus ``(H, W)``.
FIELD_RANKS = (1, 2)
#: Fewest points with a nearest neighbour.
MIN_POINTS = 2
#: Percentiles are shown in percent.
PERCENT = 100


def _check_shape(shape: Sequence[int], name: str = "shape") -> tuple[int, ...]:
    shape = tuple(shape)
    if len(shape) not in FIELD_RANKS or not all(isinstance(n, int) and n >= 1
                                                 for n in shape):
        raise error(name, "(D,) or (H, W) of ints >= 1", shape)
    return shape


def periodic_centroid(mass: np.ndarray) -> np.ndarray:
    """Circular centroid of a non-negative mass on a ring or torus.

    Per axis ``a`` of length ``n``, with the marginal mass ``m_i`` (summed over the other
    axis), the centre is ``n / (2 pi) * angle(sum_i m_i exp(2 pi i * i / n)) mod n``: the
    direction of the mass's mean on the circle, so a blob that wraps around the edge gets
    its centre at the edge, not in the middle.

    Args:
      mass: ``(D,)`` or ``(H, W)``, finite, ``>= 0``, with a positive total (e.g. a unit's
        squared weights as an image).

    Returns:
      ``(ndim,)`` float64 coordinates, each in ``[0, n_a)`` (pixel units, row first).

    Raises:
      ValueError: ``mass`` is not 1-D or 2-D, holds a negative or non-finite value, or
        sums to 0.

    Example:
      >>> m = np.zeros((20, 20)); m[0, 0] = m[0, 19] = m[19, 0] = m[19, 19] = 1.0
      >>> np.round(periodic_centroid(m), 6) % 20  # the corner, across both edges
      array([19.5, 19.5])
    """
    m = np.asarray(mass, np.float64)
    _check_shape(m.shape, "mass.shape")
    if not np.all(np.isfinite(m)) or np.any(m < 0) or not m.sum() > 0:
        raise error("mass", "finite values >= 0 with a positive sum",
                    Text(f"min {m.min():.3g}, sum {m.sum():.3g}"))
    centre = []
    for axis, n in enumerate(m.shape):
        marginal = m.sum(axis=tuple(a for a in range(m.ndim) if a != axis))
        phase = np.exp(2j * np.pi * np.arange(n) / n) @ marginal
        c = (np.angle(phase) * n / (2 * np.pi)) % n
        centre.append(0.0 if c >= n else c)  # -1e-17 % n rounds to n
    return np.asarray(centre)


def torus_distances(points: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Pairwise periodic Euclidean distances of points on a ring or torus.

    Args:
      points: ``(k, ndim)`` coordinates (any real values; taken modulo ``shape``).
      shape: ``(D,)`` or ``(H, W)``, the field's side lengths.

    Returns:
      ``(k, k)`` distances, ``sqrt(sum_a min(|d_a|, n_a - |d_a|)^2)`` with ``d_a`` the
      offset modulo ``n_a``.

    Raises:
      ValueError: ``points`` is not ``(k, len(shape))`` or ``shape`` is not a field shape.

    Example:
      >>> float(torus_distances(np.array([[0.5, 0.0], [19.5, 0.0]]), (20, 20))[0, 1])
      1.0
    """
    shape = _check_shape(shape)
    p = np.asarray(points, np.float64)
    if p.ndim != 2 or p.shape[1] != len(shape):
        raise error("points", f"(k, {len(shape)}) coordinates", Text(f"shape {p.shape}"))
    return _distances(p, shape)


def _distances(p: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(..., k, ndim)`` points -> ``(..., k, k)`` periodic distances (unchecked)."""
    n = np.asarray(shape, np.float64)
    d = np.abs(p[..., :, None, :] - p[..., None, :, :]) % n
    d = np.minimum(d, n - d)
    return np.sqrt((d ** 2).sum(-1))


def _mean_nn(d: np.ndarray) -> np.ndarray:
    """``(..., k, k)`` distances -> ``(...)`` mean nearest-neighbour distance."""
    d = d + np.diag(np.full(d.shape[-1], np.inf))
    return d.min(axis=-1).mean(axis=-1)


def mean_nn_distance(points: np.ndarray, shape: Sequence[int]) -> float:
    """Mean over points of the periodic distance to the nearest other point.

    Args:
      points: ``(k, ndim)`` coordinates, ``k >= 2``.
      shape: ``(D,)`` or ``(H, W)``.

    Returns:
      The mean nearest-neighbour distance (pixel units).

    Raises:
      ValueError: fewer than two points, or bad ``points`` / ``shape``.

    Example:
      >>> mean_nn_distance(np.array([[0.0, 0.0], [0.0, 10.0]]), (20, 20))
      10.0
    """
    d = torus_distances(points, shape)
    if len(d) < MIN_POINTS:
        raise error("points", f"at least {MIN_POINTS} points", Text(f"{len(d)}"))
    return float(_mean_nn(d))


def uniform_nn_null(num_points: int, shape: Sequence[int], *, key: jax.Array,
                    draws: int = NULL_DRAWS) -> np.ndarray:
    """The mean nearest-neighbour distance of ``num_points`` uniform points, ``draws`` times.

    Args:
      num_points: ``k >= 2`` points per draw.
      shape: ``(D,)`` or ``(H, W)``; each coordinate is uniform on ``[0, n_a)``.
      key: ``jax.random`` key of the draws.
      draws: number of Monte Carlo draws (``>= 1``).

    Returns:
      ``(draws,)`` float64 null values of :func:`mean_nn_distance`.

    Raises:
      ValueError: ``num_points < 2``, ``draws < 1`` or a bad ``shape``.

    Example:
      >>> null = uniform_nn_null(4, (20, 20), key=jax.random.key(0), draws=500)
      >>> null.shape, bool(3.0 < null.mean() < 8.0)
      ((500,), True)
    """
    shape = _check_shape(shape)
    if not isinstance(num_points, int) or num_points < MIN_POINTS:
        raise error("num_points", f"an int >= {MIN_POINTS}", num_points)
    if not isinstance(draws, int) or draws < 1:
        raise error("draws", "an int >= 1", draws)
    u = np.asarray(jax.random.uniform(key, (draws, num_points, len(shape))), np.float64)
    return _mean_nn(_distances(u * np.asarray(shape, np.float64), shape))


def tiling_statistic(centres: np.ndarray, shape: Sequence[int], *, key: jax.Array,
                     draws: int = NULL_DRAWS) -> dict | None:
    """The mean nearest-neighbour distance of ``centres`` against the uniform null.

    Args:
      centres: ``(k, ndim)`` unit centres (:func:`periodic_centroid`).
      shape: ``(D,)`` or ``(H, W)``.
      key: ``jax.random`` key of the null (:func:`uniform_nn_null` with ``k`` points).
      draws: null draws.

    Returns:
      ``None`` for ``k < 2`` (no nearest neighbour); else ``{"num_units": k, "mean_nn":
      observed, "null_mean", "null_std", "ratio": observed / null mean, "percentile":
      100 x (fraction of null draws below the observed value, ties counted half)}``.

    Example:
      >>> even = np.array([[2.5, 2.5], [2.5, 12.5], [12.5, 2.5], [12.5, 12.5]])
      >>> out = tiling_statistic(even, (20, 20), key=jax.random.key(0), draws=500)
      >>> out["mean_nn"], out["ratio"] > 1.5, out["percentile"] > 99
      (10.0, True, True)
    """
    centres = np.asarray(centres, np.float64).reshape(-1, len(_check_shape(shape)))
    if len(centres) < MIN_POINTS:
        return None
    observed = mean_nn_distance(centres, shape)
    null = uniform_nn_null(len(centres), shape, key=key, draws=draws)
    below = np.mean(null < observed) + 0.5 * np.mean(null == observed)
    return {"num_units": len(centres), "mean_nn": observed, "null_mean": float(null.mean()),
            "null_std": float(null.std(ddof=1)) if draws > 1 else 0.0,
            "ratio": observed / float(null.mean()),
            "percentile": float(PERCENT * below)}


def centres_of(weights: np.ndarray, shape: Sequence[int], units: Sequence[int]) -> list:
    """The periodic centroids of the squared weights of ``units``.

    Args:
      weights: ``(D, K)`` first-layer weights, column ``j`` unit ``j``.
      shape: ``(D,)`` or ``(H, W)`` with ``prod(shape) == D``.
      units: the unit indices.

    Returns:
      One ``[coordinates]`` list per unit (:func:`periodic_centroid` of ``w_j**2``).

    Raises:
      ValueError: ``weights`` is not ``(prod(shape), K)``.

    Example:
      >>> w = np.zeros((8, 2)); w[7, 0] = w[0, 0] = 1.0; w[3, 1] = 1.0
      >>> centres_of(w, (8,), [0, 1])
      [[7.5], [3.0]]
    """
    shape = _check_shape(shape)
    w = np.asarray(weights, np.float64)
    if w.ndim != 2 or w.shape[0] != math.prod(shape):
        raise error("weights", f"({math.prod(shape)}, K) weights", Text(f"shape {w.shape}"))
    return [periodic_centroid(w[:, j].reshape(shape) ** 2).tolist() for j in units]


def arm_tiling(weights: Sequence, final_iprs: Sequence, seeds: Sequence[int],
               shape: Sequence[int], *, threshold: float, key: jax.Array,
               draws: int = NULL_DRAWS) -> dict:
    """The tiling of one arm's localised units, per seed and summarised over seeds.

    Args:
      weights: per seed, the final ``(D, K)`` first-layer weights.
      final_iprs: per seed, the ``K`` final per-unit IPRs.
      seeds: the seeds (labels).
      shape: ``(D,)`` or ``(H, W)``.
      threshold: a unit is localised when its final IPR exceeds this.
      key: the null's key; ``k`` centres are compared with the draws of
        ``fold_in(key, k)`` (one null per number of centres, shared by seeds and arms).
      draws: null draws.

    Returns:
      ``{"per_seed": [{"seed", "units": localised unit indices, "centres": their
      :func:`periodic_centroid` s, "statistic": :func:`tiling_statistic` or None}],
      "n": seeds with a statistic (>= 2 localised units), "mean_nn", "null_mean",
      "ratio", "percentile"`` (:func:`jaxcnn.stats.summary` over those seeds, ``None``
      without any), ``"ratio_minus_1"``: ratio - 1 over those seeds with its 95% t
      interval (:func:`jaxcnn.stats.paired_difference` against 1; ``None`` bounds with one
      seed, ``None`` with none)``}``.
    """
    per_seed = []
    for seed, w, iprs in zip(seeds, weights, final_iprs):
        units = [j for j, v in enumerate(iprs) if v > threshold]
        centres = centres_of(w, shape, units)
        stat = tiling_statistic(np.asarray(centres), shape, key=jax.random.fold_in(
            key, len(units)), draws=draws) if len(units) >= MIN_POINTS else None
        per_seed.append({"seed": seed, "units": units, "centres": centres, "statistic": stat})
    stats_ = [p["statistic"] for p in per_seed if p["statistic"] is not None]
    out = {"per_seed": per_seed, "n": len(stats_)}
    for name in ("mean_nn", "null_mean", "ratio", "percentile"):
        out[name] = stats.summary([s[name] for s in stats_]) if stats_ else None
    out["ratio_minus_1"] = None
    if stats_:
        diff = stats.paired_difference([s["ratio"] for s in stats_], [1.0] * len(stats_))
        out["ratio_minus_1"] = {k: None if isinstance(v, float) and math.isnan(v) else v
                                for k, v in diff.items()}
    return out
