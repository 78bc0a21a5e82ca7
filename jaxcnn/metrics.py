"""How convolution-like is a dense layer? Metrics on dense weight matrices.

A dense weight ``W`` has shape ``(in_features, out_features)`` and is applied as
``x.reshape(*batch, -1) @ W``, the input being flattened in C order from
``in_shape = (*spatial, C_in)`` (1, 2 or 3 spatial dims). Column ``W[:, j]`` is hidden
unit ``j``'s filter; ``W[:, j].reshape(in_shape)`` is that filter as an image.

Reference scores (derived in each docstring and checked in ``tests/test_metrics.py``):

=====================  ==============  ===========  ==============  ===============
unit / matrix          ipr             locality     weight_sharing  conv_distance
=====================  ==============  ===========  ==============  ===============
conv-embedded          ipr(kernel)     1            1               0
locally connected      ~ 3/(k·C)       1            ≈ 0             > 0
random dense (D)       ≈ 3/D           ≈ k/S (+)    ≈ 0             ≈ 1
one-hot                1               1            —               —
=====================  ==============  ===========  ==============  ===============

(k = window size, S = spatial size.) :func:`weight_sharing` is calibrated against a
permutation null, so "nothing shared" is ≈ 0 at any number of units; the raw
:func:`aligned_filter_similarity` it builds on sits at a chance level that grows with the
number of units (:func:`weight_sharing_chance`).

All array metrics are pure, jittable functions (shapes and window sizes are static);
:func:`nonzeros` and :func:`sparsity` are host-side summaries that return Python numbers.
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

from jaxcnn.tree import array_leaves, keypath_str
from jaxcnn.validation import error

__all__ = [
    "ipr",
    "nonzeros",
    "sparsity",
    "keypath_str",
    "spatial_mass",
    "receptive_field_center",
    "Window",
    "best_window",
    "locality",
    "weight_sharing",
    "weight_sharing_stats",
    "SharingStats",
    "aligned_filter_similarity",
    "weight_sharing_chance",
    "conv_distance",
    "local_distance",
]


# --------------------------------------------------------------------------- validation


def _in_shape(in_shape: Any) -> tuple[int, ...]:
    expected = "a tuple (*spatial, C_in) with 1, 2 or 3 spatial dims and positive sizes"
    try:
        shape = tuple(int(s) for s in in_shape)
    except (TypeError, ValueError):
        raise error("in_shape", expected, in_shape) from None
    if not 2 <= len(shape) <= 4 or any(s < 1 for s in shape):
        raise error("in_shape", expected, in_shape)
    return shape


def _as_array(x: Any) -> Any:
    """jax/NumPy arrays (and tracers) as they are; anything else via NumPy.

    NumPy inputs go straight to the jitted kernels (no eager device copy to compile).
    """
    return x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x)


def _check_w(w: Any, in_shape: Any) -> tuple[jax.Array, tuple[int, ...]]:
    shape = _in_shape(in_shape)
    w = _as_array(w)
    d = math.prod(shape)
    if w.ndim != 2:
        raise error("w", f"a dense weight of shape (in_features, out_features) = ({d}, units)",
                   tuple(w.shape))
    if w.shape[0] != d:
        raise error("w", f"shape ({d}, out_features): in_features = prod(in_shape) = {d} for "
                   f"in_shape={shape}, not in_features={w.shape[0]}", tuple(w.shape))
    return w, shape


def _window(window: Any, spatial: tuple[int, ...]) -> tuple[int, ...]:
    n = len(spatial)
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        win = (int(window),) * n
    else:
        try:
            if isinstance(window, (str, bytes)):
                raise TypeError
            win = tuple(int(k) for k in window)
        except (TypeError, ValueError):
            raise error("window", f"an int or a tuple of {n} ints", window) from None
        if len(win) != n:
            raise error("window", f"{n} ints, one per spatial dim of {spatial}", window)
    if any(k < 1 or k > s for k, s in zip(win, spatial)):
        raise error("window", f"sizes in [1, spatial size], i.e. <= {spatial} per dim", win)
    return win


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise error(name, "a positive int", value)
    return int(value)


def _kernel_size(kernel_size: Any, n: int) -> tuple[int, ...]:
    if isinstance(kernel_size, (int, np.integer)):
        return (int(kernel_size),) * n
    return tuple(kernel_size)


def _maps(w: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """(in, out) -> (out, *spatial, C): each unit's filter as an image."""
    return w.T.reshape(w.shape[1], *shape)


# --------------------------------------------------------------------------- IPR, sparsity


def ipr(w: Any, axis: int = 0) -> jax.Array:
    """Inverse participation ratio along ``axis``: ``Σ_i w_i⁴ / (Σ_i w_i²)²``.

    For a dense weight ``(in_features, out_features)`` the default ``axis=0`` gives one value
    per hidden unit (Ingrosso & Goldt 2022). Scores: ``1/n`` for weight spread evenly over
    ``n`` entries, ``≈ 3/D`` for a random Gaussian vector of length ``D``, ``1`` for a
    one-hot vector; a conv-embedded (VALID) unit scores the IPR of its kernel. All-zero
    units score 0 (no NaN). Note: some public code reports the reciprocal (the
    "participation ratio"); this is not it. Computed on ``w / max|w|`` so float32 does not
    under/overflow.

    Args:
      w: array of any shape.
      axis: the axis summed over (the input dimension of each unit).

    Returns:
      ``w``'s shape without ``axis``.

    Example:
      >>> ipr(jnp.eye(4))  # one-hot units
      Array([1., 1., 1., 1.], dtype=float32)
      >>> ipr(jnp.ones((4, 2)))  # spread evenly over 4
      Array([0.25, 0.25], dtype=float32)
    """
    w = _as_array(w)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return _ipr(w, axis=int(axis))


@functools.partial(jax.jit, static_argnames="axis")
def _ipr(w, axis):
    m = jnp.max(jnp.abs(w), axis=axis, keepdims=True)
    u = w / jnp.where(m > 0, m, 1)
    s2 = jnp.sum(u * u, axis=axis)
    s4 = jnp.sum(u**4, axis=axis)
    return jnp.where(s2 > 0, s4 / jnp.where(s2 > 0, s2, 1) ** 2, 0.0)


def nonzeros(tree: Any) -> dict[str, int]:
    """Number of non-zero entries per array leaf, keyed by path string.

    Works on any pytree: nested dicts/lists, ``nnx.State`` (e.g. ``nnx.state(model,
    nnx.Param)``), a single array (key ``""``). Host-side: call it outside ``jit`` (it
    returns Python ints and pulls arrays to the host).

    Args:
      tree: pytree of arrays.

    Returns:
      ``{path: count}``, e.g. ``{"layers/0/kernel": 1234, "layers/0/bias": 64}``.

    Example:
      >>> nonzeros({"a": jnp.array([0., 1., 2.]), "b": [jnp.zeros(2)]})
      {'a': 2, 'b/0': 0}
    """
    return {k: int(np.count_nonzero(v)) for k, v in array_leaves(tree)}


def sparsity(tree: Any) -> dict[str, Any]:
    """Fraction of exactly-zero entries, overall and per leaf (host-side, outside jit).

    Args:
      tree: pytree of arrays (see :func:`nonzeros`).

    Returns:
      ``{"overall": float, "per_leaf": {path: float}, "nonzeros": int, "size": int}``
      (JSON-serialisable; an empty tree has ``overall = 0.0``).

    Example:
      >>> sparsity({"a": jnp.array([0., 1.]), "b": jnp.zeros(2)})["overall"]
      0.75
    """
    leaves = array_leaves(tree)
    per_leaf, nnz, size = {}, 0, 0
    for k, v in leaves:
        c = int(np.count_nonzero(v))
        per_leaf[k] = 1.0 - c / v.size if v.size else 0.0
        nnz += c
        size += int(v.size)
    overall = 1.0 - nnz / size if size else 0.0
    return {"overall": overall, "per_leaf": per_leaf, "nonzeros": nnz, "size": size}


# --------------------------------------------------------------------------- spatial structure


def spatial_mass(w: Any, in_shape: Sequence[int]) -> jax.Array:
    """Squared weight mass per unit and spatial position, summed over input channels.

    ``mass[j, *p] = Σ_c W[flat(*p, c), j]²``.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``.

    Returns:
      ``(out_features, *spatial)``.

    Example:
      >>> spatial_mass(jnp.ones((8, 3)), (4, 2)).shape
      (3, 4)
    """
    w, shape = _check_w(w, in_shape)
    return _spatial_mass(w, shape)


@functools.partial(jax.jit, static_argnames="shape")
def _spatial_mass(w, shape):
    return jnp.sum(_maps(w, shape) ** 2, axis=-1)


def receptive_field_center(
    w: Any, in_shape: Sequence[int], *, periodic: bool = False
) -> jax.Array:
    """Centre of mass of each unit's squared weights over spatial positions.

    Per dim ``d`` with marginal mass ``m_d(p)``: ``Σ_p p·m_d(p) / Σ_p m_d(p)``; with
    ``periodic=True`` the circular mean ``S_d/(2π)·arg Σ_p m_d(p) e^{2πip/S_d}`` in
    ``[0, S_d)``. A conv-embedded VALID unit at output position ``q`` (stride 1) has centre
    ``q + centre_of_mass(kernel)``; a one-hot unit its pixel. All-zero units give NaN
    (undefined; use ``jnp.nanmean`` downstream).

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
    w, shape = _check_w(w, in_shape)
    return _rf_center(w, shape, bool(periodic))


@functools.partial(jax.jit, static_argnames=("shape", "periodic"))
def _rf_center(w, shape, periodic):
    mass = jnp.sum(_maps(w, shape) ** 2, axis=-1)  # (out, *spatial)
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
        centres.append(jnp.where(total > 0, c, jnp.nan))
    return jnp.stack(centres, axis=-1)


class Window(NamedTuple):
    """Result of :func:`best_window` (a pytree; jittable).

    Attributes:
      fraction: ``(out,)`` largest fraction of the unit's squared mass in one window.
      start: ``(out, n)`` int32 index of the best window's first corner (in ``[0, S)``;
        with ``periodic`` the window may wrap around).
      center: ``(out, n)`` float centre ``start + (k − 1)/2`` (mod ``S`` when periodic).
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
    Ties go to the lowest row-major position. All-zero units get fraction 0, start 0.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``.
      window: int or one size per spatial dim, each in ``[1, S_d]``.
      periodic: windows wrap around (torus).

    Returns:
      :class:`Window` ``(fraction (out,), start (out, n) int32, center (out, n))``.

    Example:
      >>> w = jnp.eye(6)[:, [4]]  # 1-D, one-hot at pixel 4
      >>> best_window(w, (6, 1), 3).start
      Array([[2]], dtype=int32)
    """
    w, shape = _check_w(w, in_shape)
    win = _window(window, shape[:-1])
    return _best_window(w, shape, win, bool(periodic))


@functools.partial(jax.jit, static_argnames=("shape", "win", "periodic"))
def _best_window(w, shape, win, periodic):
    spatial = shape[:-1]
    mass = jnp.sum(_maps(w, shape) ** 2, axis=-1)
    n_out = mass.shape[0]
    total = jnp.sum(mass.reshape(n_out, -1), axis=1)
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
    ``prod(window)·C_in`` grows). Use :func:`best_window` for the argmax window's centre.
    All-zero units score 0.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``.
      window: int or one size per spatial dim.
      periodic: windows wrap around (torus).

    Returns:
      ``(out_features,)`` in ``[0, 1]``.

    Example:
      >>> locality(jnp.eye(16), (4, 4, 1), 2).min()  # one-hot units
      Array(1., dtype=float32)
    """
    return best_window(w, in_shape, window, periodic=periodic).fraction


def _crop(maps: jax.Array, start: jax.Array, win: tuple[int, ...], periodic: bool) -> jax.Array:
    """(out, *spatial, C), (out, n) -> (out, prod(win) * C) windows, row-major, channel fastest."""
    if periodic:
        pad = [(0, 0)] + [(0, k - 1) for k in win] + [(0, 0)]
        maps = jnp.pad(maps, pad, mode="wrap")
    c = maps.shape[-1]

    def one(m, s):
        return lax.dynamic_slice(m, (*s, jnp.int32(0)), (*win, c)).reshape(-1)

    return jax.vmap(one)(maps, start)


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

    Units are unordered, so each unit ``j`` (column ``W[:, j]``) is first aligned on its
    receptive field: a window of size ``window`` holding the most squared weight (box
    sums over all windows that overlap the input, zero-padded outside it, or wrapping
    around when ``periodic``), and among those the most non-zero entries (so a tap too
    small to change the float sum still pins the window). ``v_j`` = the unit cropped to
    that window,
    ``prod(window)·C_in`` values, normalised. **Ties** (a support smaller than the
    window, e.g. a filter cut off by a zero-padded border) are broken per spatial dim,
    the same way for every unit of a comparison, towards the side where the compared
    unit ``i`` is cut off: lowest start (the support's high edge on the window's high
    edge) unless ``i``'s tied windows reach past the high border but not the low one, then
    highest start (low edge on low edge). A filter cut off by a border keeps the edge
    that faces away from it, and is lined up by that edge with its full copies; in
    ``n`` dims there are ``2ⁿ`` such tie-breaks (1 when ``periodic``) and each unit is
    compared under its own. Both breaks are exactly translation-equivariant. With
    ``best_i = max_j |<v_i, v_j>| / ‖v_j restricted to i's in-input entries‖`` (the
    ``|cos|`` on the entries where ``i``'s window lies inside the input, so a truncated
    copy matches its full copies exactly) over the units ``j`` whose window sits at
    another position (a copy at the same position is not sharing; the sign is
    ignored)::

        S  = mean_i best_i                     over units with a non-zero window and
                                               a partner at another position
        S₀ = the same S for the null W̃
        weight_sharing = clip((S − S₀) / (1 − S₀), 0, 1)

    **The null** ``W̃`` keeps every unit's window and its zero pattern and permutes the
    non-zero values *across units*: for each input feature (pixel and channel), the
    non-zero weights that the units' windows read from it are shuffled among those
    units (one deterministic permutation per feature, drawn from ``key``; a unit's
    tie-broken windows hold the same entries, so all of them are windows of this one
    ``W̃``, compared with the same tie-breaks, starts and in-input entries as ``W``).
    It has the same supports and the same values per input feature as ``W`` but no
    filter shared between units; its ``S₀`` is the best-partner similarity that
    unrelated units reach by chance at this number of units, window size, border
    truncation and value distribution. Both terms are maxima over the same candidates,
    so the chance level (which grows with the number of units, see
    :func:`aligned_filter_similarity`) cancels and the score does not drift with it.

    Scores: 1 (up to float rounding) for a conv-embedded ``W``
    (:func:`jaxcnn.embed.conv_to_dense`) with any padding — ``"VALID"``, ``"SAME"``,
    explicit, or circular with ``periodic=True`` — any strides and number of channels,
    in 1, 2 or 3 dims, with a window equal to or larger than the kernel (a unit needs a
    full copy at another position: an input hardly larger than the kernel, where every
    other copy is cut off, scores a little below 1); ≈ 0 (≤ a few hundredths) for
    unrelated units, e.g. locally connected with independent weights (padded or not),
    or random dense; between, rising with ``f`` and a little below it, when a fraction
    ``f`` of the units are copies of a few filters at different positions and the rest
    unrelated (measured for ``f`` = .25, .5, .75: ≈ .2, .45, .7 on 28x28 with a 5x5
    window, at 100 and at 2,000 units). Caveats: the null mixes values of different
    window offsets, so unrelated units that share a smooth envelope (large in the
    centre, small at the rim) score above 0; a conv whose kernel entries are all equal is
    indistinguishable from its null (NaN); with a window smaller than the kernel, the
    border units of a padded conv are cut differently from their copies and the score
    drops below 1 (e.g. ≈ 0.89 for a SAME conv on (40, 1) with kernel 9, window 7).

    Cost: ``O(2ⁿ · N² · prod(window) · C_in)`` time, ``O(chunk_size · N)`` memory; a
    ``(784, 2000)`` layer with a 5x5 window takes about a tenth of a second on a CPU
    once compiled.

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
    w, shape = _check_w(w, in_shape)
    win = _window(window, shape[:-1])
    chunk_size = _positive_int("chunk_size", chunk_size)
    if key is None:
        key = jax.random.key(0)
    elif not (hasattr(key, "dtype") and (jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
                                         and key.shape == ()
                                         or key.dtype == jnp.uint32 and key.shape == (2,))):
        raise error("key", "a single jax.random key, e.g. jax.random.key(0)", key)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return _weight_sharing_stats(w, key, shape, win, bool(periodic), chunk_size)


def _align(w, shape, win, periodic):
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
    spatial, c = shape[:-1], shape[-1]
    n, n_out = len(spatial), w.shape[1]
    maps = _maps(w, shape)  # (N, *S, C)
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

    # separable box sums as shifted adds in a fixed order: every window's sum is the same
    # sequence of float operations on its values, so copies of a filter at different
    # positions get bitwise-equal sums, and so do all windows holding the same non-zero
    # entries (adding a zero is exact): the ties below are exact
    def box_sums(x):
        for e, (k, p) in enumerate(zip(win, positions)):
            ax = e + 1
            acc = lax.slice_in_dim(x, 0, p, axis=ax)
            for o in range(1, k):
                acc = acc + lax.slice_in_dim(x, o, o + p, axis=ax)
            x = acc
        return x

    box = box_sums(mass).reshape(n_out, -1)
    # among the windows of maximal mass, those holding the most non-zero entries: a tap
    # too small to change the float sum still counts, so a window that drops it is no tie
    top = box == jnp.max(box, axis=1, keepdims=True)
    box = jnp.where(top, box_sums(count).reshape(n_out, -1), -1).reshape(n_out, *positions)
    starts = []
    for t in range(1 if periodic else 2**n):
        high = [e for e in range(n) if t >> e & 1]
        b = jnp.flip(box, axis=[e + 1 for e in high]) if high else box
        idx = jnp.argmax(b.reshape(n_out, -1), axis=1)
        s = jnp.stack(jnp.unravel_index(idx, positions), axis=-1).astype(jnp.int32)
        flip = jnp.asarray([t >> e & 1 for e in range(n)], bool)
        starts.append(jnp.where(flip, jnp.asarray(positions, jnp.int32) - 1 - s, s))
    start = jnp.stack(starts)  # (T, N, n)
    if periodic:
        kind = jnp.zeros((n_out,), jnp.int32)
    else:
        inside_low = start[0] >= jnp.asarray([k - 1 for k in win], jnp.int32)
        past_high = start[-1] >= jnp.asarray(spatial, jnp.int32)  # end p - (k-1) + k > S
        bits = (inside_low & past_high).astype(jnp.int32)
        kind = jnp.sum(bits << jnp.arange(n, dtype=jnp.int32), axis=-1)
    zero = jnp.int32(0)
    cut_v = jax.vmap(jax.vmap(lambda m, s: lax.dynamic_slice(m, (*s, zero), (*win, c)),
                              in_axes=(0, 0)), in_axes=(None, 0))
    cut_f = jax.vmap(jax.vmap(lambda s: lax.dynamic_slice(feat, (*s, zero), (*win, c))))
    vals = cut_v(maps, start).reshape(start.shape[0], n_out, -1)
    feats = cut_f(start).reshape(start.shape[0], n_out, -1)
    return vals, feats, start, kind


def _permutation_null(vals, feats, key, num_features):
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


def _best_partner(v, inside, start, valid, kind, chunk_size):
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


def _unit_rows(v):
    norm = jnp.linalg.norm(v, axis=-1, keepdims=True)
    return v / jnp.where(norm > 0, norm, 1), norm[..., 0] > 0


@functools.partial(jax.jit, static_argnames=("shape", "win", "periodic", "chunk_size"))
def _weight_sharing_stats(w, key, shape, win, periodic, chunk_size):
    vals, feats, start, kind = _align(w, shape, win, periodic)
    null = jax.vmap(_permutation_null, in_axes=(0, 0, None, None))(
        vals, feats, key, math.prod(shape))
    inside = (feats >= 0).astype(vals.dtype)
    v, valid = _unit_rows(vals)
    valid = valid[0]  # every tie-break holds the same non-zero entries
    v0, _ = _unit_rows(null)  # the null keeps each unit's non-zero entries non-zero
    best, has = _best_partner(v, inside, start, valid, kind, chunk_size)
    best0, _ = _best_partner(v0, inside, start, valid, kind, chunk_size)
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
    NaN is returned if none has one).

    Scores: a conv-embedded ``W`` (each output channel at several positions) scores 1 up
    to rounding. For random units (random dense, or locally connected with independent
    weights) the cosines are ≈ N(0, 1/d) and the score is the expected max of ``N − 1`` of
    their absolute values — :func:`weight_sharing_chance` ``(N, d)``, ≈ ``sqrt(2 ln N / d)``
    for large N and d (an over-estimate at moderate N).

    Memory: similarities are computed ``chunk_size`` rows at a time, ``O(chunk_size · N)``
    floats, so N of tens of thousands is fine; time is ``O(N² d)``.

    Args:
      w: ``(prod(in_shape), out_features)``.
      in_shape: ``(*spatial, C_in)``.
      window: int or one size per spatial dim (e.g. the kernel size you expect).
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
    w, shape = _check_w(w, in_shape)
    win = _window(window, shape[:-1])
    chunk_size = _positive_int("chunk_size", chunk_size)
    return _aligned_similarity(w, shape, win, bool(periodic), bool(per_unit), chunk_size)


@functools.partial(
    jax.jit, static_argnames=("shape", "win", "periodic", "per_unit", "chunk_size")
)
def _aligned_similarity(w, shape, win, periodic, per_unit, chunk_size):
    start = _best_window(w, shape, win, periodic).start
    v = _crop(_maps(w, shape), start, win, periodic)
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
        return jnp.where(has, best, jnp.nan)
    cnt = jnp.sum(has)
    return jnp.where(cnt > 0, jnp.sum(jnp.where(has, best, 0.0)) / jnp.maximum(cnt, 1), jnp.nan)


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
    if int(num_units) < 2:
        raise error("num_units", "an int >= 2", num_units)
    if int(dim) < 2:
        raise error("dim", "an int >= 2", dim)
    m, d = int(num_units) - 1, int(dim)
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


# --------------------------------------------------------------------------- subspace distances


def _rel_dist(w: jax.Array, p: jax.Array) -> jax.Array:
    num = jnp.linalg.norm((w - p).reshape(-1))
    den = jnp.linalg.norm(w.reshape(-1))
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0.0)


def conv_distance(
    w: Any,
    in_shape: Sequence[int],
    kernel_size: int | Sequence[int],
    *,
    strides: Any = 1,
    padding: Any = "VALID",
    dilation: Any = 1,
    groups: int = 1,
) -> jax.Array:
    """Relative distance of a dense weight to the convolution subspace.

    ``‖W − P W‖_F / ‖W‖_F`` with ``P W = conv_to_dense(dense_to_conv(W, ...), ...)`` the
    orthogonal projection onto dense matrices of convolutions with these settings (from
    :mod:`jaxcnn.embed`). 0 for a conv-embedded ``W``; close to 1 for a random dense
    ``W`` (the subspace has few dimensions); in between for locally connected weights.
    0 for ``W = 0``.

    Args:
      w: ``(prod(in_shape), prod(out_spatial) · C_out)``.
      in_shape: ``(*spatial, C_in)``.
      kernel_size, strides, padding, dilation, groups: the conv geometry (DESIGN.md
        conventions).

    Returns:
      Scalar in ``[0, 1]``.
    """
    from jaxcnn.embed import conv_to_dense, dense_to_conv  # lazy: avoids import cycles

    w, shape = _check_w(w, in_shape)
    kernel_size = _kernel_size(kernel_size, len(shape) - 1)
    kw = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    kernel = dense_to_conv(w, shape, kernel_size, **kw)
    return _rel_dist(w, conv_to_dense(kernel, shape, **kw))


def local_distance(
    w: Any,
    in_shape: Sequence[int],
    kernel_size: int | Sequence[int],
    *,
    strides: Any = 1,
    padding: Any = "VALID",
    dilation: Any = 1,
) -> jax.Array:
    """Relative distance of a dense weight to the locally connected subspace.

    ``‖W − P W‖_F / ‖W‖_F`` with ``P W = local_to_dense(dense_to_local(W, ...), ...)``
    (keeps the entries inside each unit's window, zeroes the rest). 0 for conv-embedded
    or locally connected ``W``; ≈ ``sqrt(1 − window/total)`` for random dense ``W``.

    Args:
      w: ``(prod(in_shape), prod(out_spatial) · C_out)``.
      in_shape: ``(*spatial, C_in)``.
      kernel_size, strides, padding, dilation: the local-conv geometry.

    Returns:
      Scalar in ``[0, 1]``.
    """
    from jaxcnn.embed import dense_to_local, local_to_dense  # lazy: avoids import cycles

    w, shape = _check_w(w, in_shape)
    kernel_size = _kernel_size(kernel_size, len(shape) - 1)
    kw = dict(strides=strides, padding=padding, dilation=dilation)
    kernel = dense_to_local(w, shape, kernel_size, **kw)
    return _rel_dist(w, local_to_dense(kernel, shape, **kw))
