"""Raw aligned-filter similarity between units, and its chance level.

Each unit of a dense weight ``W: (prod(in_shape), out_features)`` is cropped to its
best window (:func:`jaxcnn.metrics.best_window`) and compared with the units whose
window sits elsewhere: :func:`aligned_filter_similarity` is the mean best-partner
``|cos|``. It is uncalibrated (unrelated units score above 0, more so the more units
there are): :func:`weight_sharing_chance` is its expected value for random units, and
:func:`jaxcnn.metrics.weight_sharing` the null-calibrated score built on the same idea.

Example:
    >>> w = jnp.stack([jnp.zeros(5).at[q:q + 2].set(1.) for q in range(4)], axis=1)
    >>> round(float(aligned_filter_similarity(w, (5, 1), 2)), 4)  # one filter, 4 places
    1.0
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.metrics.common import check_dense_weight, check_window, filter_maps
from jaxcnn.metrics.spatial import find_best_window
from jaxcnn.validation import check_int

__all__ = ["aligned_filter_similarity", "weight_sharing_chance"]


def _crop(maps: jax.Array, start: jax.Array, win: tuple[int, ...], periodic: bool) -> jax.Array:
    """(out, *spatial, C), (out, n) -> (out, prod(win) * C) windows, row-major, channel fastest."""
    if periodic:
        pad = [(0, 0)] + [(0, k - 1) for k in win] + [(0, 0)]
        maps = jnp.pad(maps, pad, mode="wrap")
    c = maps.shape[-1]

    def one(m, s):
        return lax.dynamic_slice(m, (*s, jnp.int32(0)), (*win, c)).reshape(-1)

    return jax.vmap(one)(maps, start)


def aligned_filter_similarity(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    periodic: bool = False,
    per_unit: bool = False,
    chunk_size: int = 1024,
) -> jax.Array:
    """Aligned-filter similarity: mean best-partner ``|cos|`` of the units' best windows.

    This was ``weight_sharing`` before that name got a calibrated score
    (:func:`weight_sharing`); it is kept as a raw, uncalibrated similarity. Its value
    for unrelated units is not 0 but grows with the number of units (see
    :func:`weight_sharing_chance`), so compare it only at equal ``N`` and ``d``.

    Units are unordered, so each is first aligned to its own best window
    (:func:`best_window`), giving ``v_j`` = the filter cropped to that window, a vector of
    length ``d = prod(window)·C_in`` (row-major, channel fastest). Then::

        score_j = max_{i : start_i ≠ start_j} |cos(v_i, v_j)|,   result = mean_j score_j

    (only units whose window sits at a *different* position count, so copies of a filter at
    one position are not "shared"; units with no such partner are left out of the mean, and
    NaN is returned if none has one, or if ``w`` has a non-finite entry).

    Scores: a conv-embedded ``W`` (each output channel at several positions) scores 1 up
    to rounding. For random units (random dense, or locally connected with independent
    weights) the cosines are ≈ N(0, 1/d) and the score is the expected max of ``N − 1`` of
    their absolute values — :func:`weight_sharing_chance` ``(N, d)``, ≈ ``sqrt(2 ln N / d)``
    for large N and d (an over-estimate at moderate N).

    Memory: similarities are computed ``chunk_size`` rows at a time, ``O(chunk_size · N)``
    floats, so N of tens of thousands is fine; time is ``O(N² d)``.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.
      window: int or one size per spatial dim (e.g. the kernel size you expect; the
        spatial-rank rule of :mod:`jaxcnn.metrics`).
      periodic: windows wrap around (torus).
      per_unit: return ``score_j`` per unit (NaN for units without partner) instead of
        the mean.
      chunk_size: rows of the similarity matrix computed at once.

    Returns:
      A scalar in ``[0, 1]`` (or ``(out_features,)`` with ``per_unit``).

    Example:
      >>> k = jnp.array([1., -2., 1.])  # 1-D conv, VALID, C_in = C_out = 1
      >>> w = jnp.stack([jnp.zeros(6).at[q:q + 3].set(k) for q in range(4)], axis=1)
      >>> round(float(aligned_filter_similarity(w, (6, 1), 3)), 4)
      1.0
    """
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape)
    chunk_size = check_int(chunk_size, name="chunk_size", minimum=1)
    return _aligned_similarity(w, shape, win, bool(periodic), bool(per_unit), chunk_size)


@functools.partial(
    jax.jit, static_argnames=("shape", "win", "periodic", "per_unit", "chunk_size")
)
def _aligned_similarity(w, shape, win, periodic, per_unit, chunk_size):
    finite = jnp.all(jnp.isfinite(w))
    w = jnp.where(jnp.isfinite(w), w, 0.0)
    start = find_best_window(w, shape, win, periodic).start
    v = _crop(filter_maps(w, shape), start, win, periodic)
    norm = jnp.linalg.norm(v, axis=1, keepdims=True)
    v = v / jnp.where(norm > 0, norm, 1)

    n = v.shape[0]
    chunk = min(chunk_size, n)
    nb = -(-n // chunk)
    pad = nb * chunk - n
    vp = jnp.pad(v, ((0, pad), (0, 0))).reshape(nb, chunk, -1)
    sp = jnp.pad(start, ((0, pad), (0, 0)), constant_values=-1).reshape(nb, chunk, -1)

    def block(args):
        vb, sb = args
        cos = jnp.abs(jnp.matmul(vb, v.T, precision=lax.Precision.HIGHEST))  # (chunk, n)
        allowed = jnp.any(sb[:, None, :] != start[None, :, :], axis=-1)
        return jnp.max(jnp.where(allowed, cos, -1.0), axis=1), jnp.any(allowed, axis=1)

    best, has = lax.map(block, (vp, sp))
    best, has = best.reshape(-1)[:n], has.reshape(-1)[:n]
    best = jnp.minimum(best, 1.0)
    if per_unit:
        return jnp.where(has & finite, best, jnp.nan)
    cnt = jnp.sum(has)
    mean = jnp.sum(jnp.where(has, best, 0.0)) / jnp.maximum(cnt, 1)
    return jnp.where((cnt > 0) & finite, mean, jnp.nan)


def weight_sharing_chance(num_units: int, dim: int, *, grid: int = 4001) -> float:
    """Expected :func:`aligned_filter_similarity` of ``num_units`` independent random units.

    (The chance level of the raw similarity; the calibrated :func:`weight_sharing` needs
    none, its chance level is ≈ 0.)


    For independent isotropic vectors in ``d = dim`` dimensions, ``cos²`` is
    ``Beta(1/2, (d−1)/2)``, so with ``M = num_units − 1`` partners
    ``E[max |cos|] = ∫₀¹ (1 − F(t)^M) dt``, ``F(t) = I_{t²}(1/2, (d−1)/2)``; this is
    evaluated numerically. Large-N, large-d asymptote: ``sqrt(2 ln N / d)``.

    Args:
      num_units: N >= 2.
      dim: ``prod(window) · C_in`` >= 2.
      grid: integration points.

    Returns:
      A Python float in ``(0, 1)``.

    Example:
      >>> round(weight_sharing_chance(2, 1000), 3)  # E|cos| ≈ sqrt(2/(π d))
      0.025
    """
    m = check_int(num_units, name="num_units", minimum=2) - 1
    d = check_int(dim, name="dim", minimum=2)
    t = np.linspace(0.0, 1.0, int(grid))
    # 1 − F(t) = I_{1−t²}((d−1)/2, 1/2), accurate where F ≈ 1
    q = np.asarray(
        jax.scipy.special.betainc((d - 1) / 2.0, 0.5, jnp.asarray(1.0 - t**2, jnp.float32)),
        np.float64,
    )
    q = np.clip(q, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        integrand = -np.expm1(m * np.log1p(-np.minimum(q, 1.0 - 1e-300)))
    integrand[q >= 1.0] = 1.0
    return float(np.trapezoid(integrand, t))
