"""Where a unit's weight sits: spatial mass, receptive-field centre, best window.

A dense weight ``W: (prod(in_shape), out_features)`` is read as one filter image per
unit, ``W[:, j].reshape(in_shape)``, ``in_shape = (*spatial, C_in)``. The squared
weight summed over channels is the unit's spatial mass (:func:`spatial_mass`); its
centre (:func:`receptive_field_center`), the window holding most of it
(:func:`best_window`) and that window's share of it (:func:`locality`) say how local
the unit is; :func:`calibrated_locality` measures that share against the same unit's
weights scattered at random. All are pure and jittable (shapes and window sizes are
static); a unit with a non-finite weight gets NaN.

Example:
    >>> locality(jnp.eye(4), (4, 1), 2)  # one-hot units: all mass in one window
    Array([1., 1., 1., 1.], dtype=float32)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.metrics.common import check_dense_weight, check_window, filter_maps
from jaxcnn.validation import check_int, check_key

__all__ = [
    "Window",
    "best_window",
    "calibrated_locality",
    "find_best_window",
    "locality",
    "receptive_field_center",
    "spatial_mass",
]


def spatial_mass(w: Any, in_shape: Sequence[int]) -> jax.Array:
    """Squared weight mass per unit and spatial position, summed over input channels.

    ``mass[j, *p] = Σ_c W[flat(*p, c), j]²``.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.

    Returns:
      ``(out_features, *spatial)``; NaN where a weight is not finite.

    Example:
      >>> spatial_mass(jnp.ones((8, 3)), (4, 2)).shape
      (3, 4)
    """
    w, shape = check_dense_weight(w, in_shape)
    return _spatial_mass(w, shape)


@functools.partial(jax.jit, static_argnames="shape")
def _spatial_mass(w, shape):
    mass = jnp.sum(filter_maps(w, shape) ** 2, axis=-1)
    return jnp.where(jnp.isfinite(mass), mass, jnp.nan)


def receptive_field_center(
    w: Any, in_shape: Sequence[int], *, periodic: bool = False
) -> jax.Array:
    """Centre of mass of each unit's squared weights over spatial positions.

    Per dim ``d`` with marginal mass ``m_d(p)``: ``Σ_p p·m_d(p) / Σ_p m_d(p)``; with
    ``periodic=True`` the circular mean ``S_d/(2π)·arg Σ_p m_d(p) e^{2πip/S_d}`` in
    ``[0, S_d)``. A conv-embedded VALID unit at output position ``q`` (stride 1) has centre
    ``q + centre_of_mass(kernel)``; a one-hot unit its pixel. All-zero units give NaN
    (undefined; use ``jnp.nanmean`` downstream), and so do units with a non-finite
    weight.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``.
      periodic: treat each spatial dim as a ring (torus), as for NLGP inputs.

    Returns:
      ``(out_features, n_spatial)`` float positions in pixel units.

    Example:
      >>> w = jnp.eye(5)[:, [1, 3]]  # one-hot at pixels 1 and 3, 1-D, C_in = 1
      >>> receptive_field_center(w, (5, 1))
      Array([[1.],
             [3.]], dtype=float32)
    """
    w, shape = check_dense_weight(w, in_shape)
    return _rf_center(w, shape, bool(periodic))


@functools.partial(jax.jit, static_argnames=("shape", "periodic"))
def _rf_center(w, shape, periodic):
    mass = jnp.sum(filter_maps(w, shape) ** 2, axis=-1)  # (out, *spatial)
    spatial = shape[:-1]
    n = len(spatial)
    total = jnp.sum(mass, axis=tuple(range(1, n + 1)))
    safe = jnp.where(total > 0, total, 1)
    centres = []
    for d, size in enumerate(spatial):
        other = tuple(1 + e for e in range(n) if e != d)
        marg = jnp.sum(mass, axis=other)  # (out, S_d)
        pos = jnp.arange(size, dtype=marg.dtype)
        if periodic:
            ang = 2 * jnp.pi * pos / size
            re_, im_ = marg @ jnp.cos(ang), marg @ jnp.sin(ang)
            c = jnp.mod(jnp.arctan2(im_, re_) * size / (2 * jnp.pi), size)
        else:
            c = (marg @ pos) / safe
        centres.append(jnp.where((total > 0) & jnp.isfinite(total), c, jnp.nan))
    return jnp.stack(centres, axis=-1)


class Window(NamedTuple):
    """Result of :func:`best_window` (a pytree; jittable).

    Attributes:
      fraction: ``(out,)`` largest fraction of the unit's squared mass in one window
        (NaN for a unit with a non-finite weight).
      start: ``(out, n)`` int32 index of the best window's first corner (in ``[0, S)``;
        with ``periodic`` the window may wrap around).
      center: ``(out, n)`` float centre ``start + (k − 1)/2`` (mod ``S`` when periodic;
        NaN for a unit with a non-finite weight).
    """

    fraction: jax.Array
    start: jax.Array
    center: jax.Array


def _box_sums(mass: jax.Array, win: tuple[int, ...], periodic: bool) -> jax.Array:
    """(out, *spatial) -> (out, *positions) window sums (reduce_window, exact per window)."""
    if periodic:
        pad = [(0, 0)] + [(0, k - 1) for k in win]
        mass = jnp.pad(mass, pad, mode="wrap")
    return lax.reduce_window(
        mass, jnp.array(0, mass.dtype), lax.add, (1, *win), (1,) * mass.ndim, "VALID"
    )


def best_window(
    w: Any, in_shape: Sequence[int], window: int | Sequence[int], *, periodic: bool = False
) -> Window:
    """The window of size ``window`` holding most of each unit's squared weight mass.

    ``fraction[j] = max_q Σ_{p ∈ q + window} mass[j, p] / Σ_p mass[j, p]`` over all window
    positions ``q`` (VALID positions; every position with wrap-around when ``periodic``).
    Ties go to the lowest row-major position. All-zero units get fraction 0, start 0;
    units with a non-finite weight fraction and centre NaN.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.
      window: int or one size per spatial dim, each in ``[1, S_d]`` (a tuple fixes the
        spatial rank; an int only where ``in_shape`` reads one way, see
        :mod:`jaxcnn.metrics`).
      periodic: windows wrap around (torus).

    Returns:
      :class:`Window` ``(fraction (out,), start (out, n) int32, center (out, n))``.

    Example:
      >>> w = jnp.eye(6)[:, [4]]  # 1-D, one-hot at pixel 4
      >>> best_window(w, (6, 1), 3).start
      Array([[2]], dtype=int32)
    """
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape)
    return find_best_window(w, shape, win, bool(periodic))


@functools.partial(jax.jit, static_argnames=("shape", "win", "periodic"))
def find_best_window(w, shape, win, periodic):
    """:func:`best_window` on checked arguments (``shape``, ``win`` tuples; jitted)."""
    spatial = shape[:-1]
    mass = jnp.sum(filter_maps(w, shape) ** 2, axis=-1)
    n_out = mass.shape[0]
    total = jnp.sum(mass.reshape(n_out, -1), axis=1)
    finite = jnp.isfinite(total)
    mass = jnp.where(finite.reshape(-1, *[1] * len(spatial)), mass, 0.0)
    box = _box_sums(mass, win, periodic)
    pos_shape = box.shape[1:]
    flat = box.reshape(n_out, -1)
    idx = jnp.argmax(flat, axis=1)
    best = jnp.take_along_axis(flat, idx[:, None], axis=1)[:, 0]
    frac = jnp.where(total > 0, jnp.minimum(best / jnp.where(total > 0, total, 1), 1.0), 0.0)
    start = jnp.stack(jnp.unravel_index(idx, pos_shape), axis=-1).astype(jnp.int32)
    half = jnp.asarray([(k - 1) / 2 for k in win], dtype=frac.dtype)
    center = start.astype(frac.dtype) + half
    if periodic:
        center = jnp.mod(center, jnp.asarray(spatial, dtype=frac.dtype))
    frac = jnp.where(finite, frac, jnp.nan)
    center = jnp.where(finite[:, None], center, jnp.nan)
    return Window(frac, start, center)


def locality(
    w: Any, in_shape: Sequence[int], window: int | Sequence[int], *, periodic: bool = False
) -> jax.Array:
    """Per unit, the largest fraction of squared-weight mass that one window captures.

    ``locality[j] = max_q Σ_{p ∈ q + window} mass[j, p] / Σ_p mass[j, p]`` with ``mass``
    from :func:`spatial_mass` (box sums by ``lax.reduce_window``; no loop over units).

    Scores: a conv-embedded or locally connected unit whose kernel fits in the window
    scores exactly 1 (up to float rounding; clipped to ≤ 1), as does a one-hot unit. A
    random dense unit scores about ``prod(window)/prod(spatial)`` — somewhat more, because
    the max over ~``prod(spatial)`` correlated windows sits a few standard deviations above
    the mean box (about ×2 for a 3x3 window with 2 channels on 16x16; → ×1 as
    ``prod(window)·C_in`` grows). A sparse unit is local by construction (a one-tap unit
    scores 1 wherever its tap is): :func:`calibrated_locality` compares the fraction
    with the same weights scattered at random. Use :func:`best_window` for the argmax
    window's centre. All-zero units score 0, units with a non-finite weight NaN.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.
      window: int or one size per spatial dim (see :func:`best_window`).
      periodic: windows wrap around (torus).

    Returns:
      ``(out_features,)`` in ``[0, 1]``.

    Example:
      >>> locality(jnp.eye(16), (4, 4, 1), 2).min()  # one-hot units
      Array(1., dtype=float32)
    """
    return best_window(w, in_shape, window, periodic=periodic).fraction


def calibrated_locality(
    w: Any,
    in_shape: Sequence[int],
    window: int | Sequence[int],
    *,
    periodic: bool = False,
    key: jax.Array | None = None,
    draws: int = 32,
) -> jax.Array:
    """Per unit, locality above its chance level: ``(locality − null) / (1 − null)``.

    ``locality`` is :func:`locality`'s raw mass fraction; ``null`` is its expectation
    when the same unit's weights (the same non-zero values, so the same tap count and
    magnitudes) are placed at uniformly random positions of the input (pixel and
    channel), estimated as the mean over ``draws`` random permutations of the input
    features (one permutation per draw, shared by all units: each unit on its own still
    sees a uniformly random placement).

    Scores: 1 for a unit whose weight sits in one window while scattered copies of it
    would not (a conv or locally connected unit whose kernel fits the window; a compact
    3-tap unit); ≈ 0 for a unit no more local than its scattered self (random dense,
    whatever its sparsity; 3 taps scattered over the input), below 0 for one less local.
    NaN where undefined: the null reaches 1 (a one-tap unit, or a window covering the
    input: any placement is local), an all-zero unit, or a non-finite weight. Average
    with ``jnp.nanmean``.

    Args:
      w: ``(prod(in_shape), out_features)``, e.g. a layer or its change ``W − W₀``.
      in_shape: ``(*spatial, C_in)``, the channel axis last.
      window: int or one size per spatial dim (see :func:`best_window`).
      periodic: windows wrap around (torus).
      key: ``jax.random`` key of the placements (default ``jax.random.key(0)``).
      draws: random placements averaged for the null.

    Returns:
      ``(out_features,)`` float32, at most 1.

    Example:
      >>> w = jnp.zeros((100, 2))  # 10x10, C_in = 1: two units of 3 taps
      >>> w = w.at[jnp.array([11, 12, 21]), 0].set(1.0)  # neighbouring pixels
      >>> w = w.at[jnp.array([0, 45, 99]), 1].set(1.0)  # scattered pixels
      >>> locality(w, (10, 10, 1), 2)  # a third of the mass even for the scattered one
      Array([1.        , 0.33333334], dtype=float32)
      >>> calibrated_locality(w, (10, 10, 1), 2).round(2)  # 1: local; <= 0: by chance
      Array([ 1.  , -0.14], dtype=float32)
    """
    w, shape = check_dense_weight(w, in_shape)
    win = check_window(window, shape)
    draws = check_int(draws, name="draws", minimum=1)
    key = jax.random.key(0) if key is None else check_key(key)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return _calibrated_locality(w, key, shape, win, bool(periodic), draws)


@functools.partial(jax.jit, static_argnames=("shape", "win", "periodic", "draws"))
def _calibrated_locality(w, key, shape, win, periodic, draws):
    loc = find_best_window(w, shape, win, periodic).fraction
    d = w.shape[0]

    def one(k):
        perm = jax.random.permutation(k, d)
        return find_best_window(w[perm], shape, win, periodic).fraction

    null = jnp.mean(lax.map(one, jax.random.split(key, draws)), axis=0)
    gap = 1.0 - null
    ok = (gap > 1e-6) & (loc > 0)
    return jnp.where(ok, (loc - null) / jnp.where(ok, gap, 1.0), jnp.nan)
