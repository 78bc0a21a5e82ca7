"""Translation equivariance of a layer, measured on its responses (no weights needed).

A convolution commutes with translations: the response of unit ``(p, c)`` to the input
shifted by ``s`` is unit ``(p − s, c)``'s response to the input (away from borders).
:func:`translation_equivariance` asks that of any layer, whatever its sparsity or
parametrisation, from its responses to a batch ``x``, to ``x`` rolled by ``s`` pixels
along a spatial axis, and to ``x`` mirrored along that axis:

* ``s_u = max_{v ≠ u} |corr(h_u(roll(x, s)), h_v(x))|`` over the batch: how well unit
  ``u``'s response to the shifted input is matched by another unit's response to the
  input (for a convolution, exactly, by its translated copy);
* ``n_u = max_{v ≠ u} |corr(h_u(flip(x)), h_v(x))|``: the same for the mirrored input,
  a transformation that moves each unit's receptive field elsewhere as a shift does
  but that no convolution (with asymmetric kernels) commutes with — the match any
  layer gets by chance from the data's correlations (smooth inputs make neighbouring
  random filters correlate), with the same candidates;
* per unit ``e_u = (s_u − n_u) / (1 − n_u)``; the score per shift is the median of
  ``e_u`` over units and axes.

Excluding ``v = u`` matters: on smooth inputs, any unit's response to a small shift is
close to its own response, so a random dense layer would otherwise look equivariant.
With it, for a random dense or a locally connected layer with independent filters
``s_u`` and ``n_u`` are maxima over the same kind of candidates (other independent
filters near the moved receptive field) and ``e_u`` is centred on 0 (a little below it
for a locally connected layer: the shifted query lacks one neighbour, ``u`` itself);
for a convolution ``s_u = 1`` for every unit away from the borders (the roll wraps the
input around, so units whose window crosses the seam are not matched; the median
ignores them while they are fewer than half). Scores: ≈ 1 for a convolution (any
padding, strides, channels), ≈ 0 for random dense and locally connected layers.
A convolution whose kernels are all mirror-symmetric matches the mirrored input too:
``n_u = 1`` and the score is NaN (undefined).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import Text, check_int, check_key, error, is_int

__all__ = ["translation_equivariance"]


def translation_equivariance(
    apply_fn: Callable[[jax.Array], jax.Array],
    x: Any,
    *,
    shifts: Sequence[int] = (1, 2, 4),
    key: jax.Array | None = None,
    max_units: int = 2048,
) -> jax.Array:
    """How far a layer's responses to shifted inputs are other units' responses.

    Functional and sparsity-free: only ``apply_fn``'s outputs are used. Per shift ``s``,
    the median over units and spatial axes of ``(s_u − n_u) / (1 − n_u)``: ``s_u`` the
    best ``|corr|`` over the batch between unit ``u``'s response to ``x`` rolled by ``s``
    and another unit's response to ``x``, ``n_u`` the same for ``x`` mirrored (the chance
    level). Scores: ≈ 1 for a convolution, ≈ 0 for random dense or locally connected
    layers. Definition and reasoning: :mod:`jaxcnn.metrics.equivariance`.

    Args:
      apply_fn: maps a batch ``(N, *spatial, C)`` to hidden responses ``(N, units)`` or
        ``(N, *out_spatial, C_out)`` (flattened to units), e.g. ``lambda x:
        x.reshape(len(x), -1) @ W`` or a model's first layer (with its nonlinearity,
        if you like).
      x: ``(N, *spatial, C)`` inputs, 1-3 spatial dims, ``N >= 3`` (a few hundred give
        stable correlations); the data the layer is meant for.
      shifts: positive ints, pixels rolled along each spatial axis.
      key: ``jax.random`` key choosing the units scored when there are more than
        ``max_units`` (default ``jax.random.key(0)``); every unit is a candidate match.
      max_units: at most this many units scored.

    Returns:
      ``(len(shifts),)`` float32; NaN where undefined (every unit constant, or
      non-finite inputs or responses).

    Example:
      >>> rng = np.random.default_rng(0)
      >>> x = rng.standard_normal((256, 16, 1)).astype(np.float32)  # 1-D, 16 pixels
      >>> k = rng.standard_normal(3).astype(np.float32)
      >>> conv = lambda x: jnp.stack([x[:, p:p + 3, 0] @ k for p in range(14)], axis=1)
      >>> translation_equivariance(conv, x, shifts=(1, 2)).round(3)
      Array([1., 1.], dtype=float32)
      >>> w = rng.standard_normal((16, 14)).astype(np.float32)  # random dense
      >>> bool(abs(translation_equivariance(lambda x: x[..., 0] @ w, x, shifts=(1,))[0]) < 0.2)
      True
    """
    x, shifts = _check(apply_fn, x, shifts)
    max_units = check_int(max_units, name="max_units", minimum=1)
    key = jax.random.key(0) if key is None else check_key(key)
    h0 = _responses(apply_fn, x)
    units = h0.shape[1]
    query = jnp.asarray(np.arange(units) if units <= max_units else np.sort(
        np.asarray(jax.random.choice(key, units, (max_units,), replace=False))))
    axes = range(1, x.ndim - 1)
    mirrored = [_responses(apply_fn, jnp.flip(x, axis=e)) for e in axes]
    out = []
    for s in shifts:
        per_axis = [_unit_scores(_responses(apply_fn, jnp.roll(x, s, axis=e)), hm, h0, query)
                    for e, hm in zip(axes, mirrored)]
        out.append(jnp.nanmedian(jnp.concatenate(per_axis)))
    return jnp.where(jnp.all(jnp.isfinite(x)), jnp.stack(out), jnp.nan)


def _check(apply_fn, x, shifts):
    """Checked ``x`` (float) and ``shifts`` (tuple of positive ints)."""
    if not callable(apply_fn):
        raise error("apply_fn", "a function of a batch x", apply_fn)
    x = x if isinstance(x, (jax.Array, np.ndarray)) else jnp.asarray(x)
    if x.ndim < 3 or x.ndim > 5:
        raise error("x", "a batch (N, *spatial, C) with 1, 2 or 3 spatial dims",
                    Text(f"shape {tuple(x.shape)}"))
    if x.shape[0] < 3:
        raise error("x", "a batch of at least 3 inputs", Text(f"shape {tuple(x.shape)}"))
    if isinstance(shifts, (str, bytes)) or not isinstance(shifts, Sequence) or not shifts \
            or not all(is_int(s) and s >= 1 for s in shifts):
        raise error("shifts", "a non-empty sequence of positive ints", shifts)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = jnp.asarray(x, jnp.float32)
    return x, tuple(int(s) for s in shifts)


def _responses(apply_fn, xs):
    """``apply_fn(xs)`` as ``(N, units)`` float32."""
    h = jnp.asarray(apply_fn(xs))
    if h.ndim < 2 or h.shape[0] != xs.shape[0] or math.prod(h.shape[1:]) < 2:
        raise error("apply_fn", f"responses (N, ...) of at least 2 units with N = "
                    f"{xs.shape[0]}, the batch size", Text(f"shape {tuple(h.shape)}"))
    return h.reshape(h.shape[0], -1).astype(jnp.float32)


@jax.jit
def _unit_scores(hs, hm, h0, query):
    """``(s_u − n_u) / (1 − n_u)`` for the query units from the responses to the shifted
    ``hs``, mirrored ``hm`` and original ``h0`` inputs (NaN: constant unit, ``n_u`` ≈ 1,
    or non-finite responses)."""
    z0, ok0 = _standardise(h0)
    zs, oks = _standardise(hs)
    zm, okm = _standardise(hm)
    zq, zsq = zm[:, query], zs[:, query]
    n = h0.shape[0]
    hi = jax.lax.Precision.HIGHEST
    self_mask = query[:, None] == jnp.arange(h0.shape[1])[None, :]
    cand = ok0[None, :] & ~self_mask
    c_shift = jnp.abs(jnp.matmul(zsq.T, z0, precision=hi)) / n
    c_null = jnp.abs(jnp.matmul(zq.T, z0, precision=hi)) / n
    s_u = jnp.minimum(jnp.max(jnp.where(cand, c_shift, -1.0), axis=1), 1.0)
    n_u = jnp.minimum(jnp.max(jnp.where(cand, c_null, -1.0), axis=1), 1.0)
    gap = 1.0 - n_u
    ok = ok0[query] & oks[query] & okm[query] & (gap > 1e-6) & jnp.any(cand, axis=1)
    finite = jnp.all(jnp.isfinite(h0)) & jnp.all(jnp.isfinite(hs)) & jnp.all(jnp.isfinite(hm))
    e = jnp.where(ok, (s_u - n_u) / jnp.where(ok, gap, 1.0), jnp.nan)
    return jnp.where(finite, e, jnp.nan)


def _standardise(h):
    """Columns to zero mean and unit (population) variance; constant columns flagged."""
    mu = jnp.mean(h, axis=0)
    c = h - mu
    sd = jnp.sqrt(jnp.mean(c * c, axis=0))
    ok = sd > 1e-6 * (jnp.abs(mu) + 1e-30)
    ok = ok & (sd > 0)
    return c / jnp.where(ok, sd, 1.0), ok
