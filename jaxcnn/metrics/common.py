"""Argument checks and array views shared by the metrics (static values, trace time).

A dense weight ``W`` has shape ``(in_features, out_features)`` with ``in_features =
prod(in_shape)`` and ``in_shape = (*spatial, C_in)``, 1, 2 or 3 spatial dims, the
channel axis always last. :func:`check_dense_weight` validates both;
:func:`check_window` a window size against ``in_shape`` under the spatial-rank rule
below; :func:`filter_maps` views each unit's filter as an image.

**Spatial rank.** ``in_shape`` alone cannot say whether its last entry is the channel
axis or a spatial size whose channel axis was forgotten: ``(28, 28)`` is either 1-D of
length 28 with 28 channels or 28x28 without ``C_in``. The window settles it:

* a tuple window fixes the rank, ``len(window)`` spatial dims, so ``in_shape`` must
  have ``len(window) + 1`` entries (``(28, 28)`` with ``(5, 5)`` is refused, naming
  ``in_shape``);
* an int window is accepted only where ``in_shape`` reads one way: it has 3 spatial
  dims already, or ``C_in == 1`` (both readings then compute the same), or ``C_in`` is
  smaller than the window (it cannot be a spatial size of that window). Otherwise
  (``(28, 28)`` with ``5``, ``(10, 10, 3)`` with ``3``) it is refused, naming
  ``in_shape``: give the window as a tuple, one size per spatial dim.

Example:
    >>> w, shape = check_dense_weight(np.ones((8, 3)), (4, 2))
    >>> shape, filter_maps(w, shape).shape
    ((4, 2), (3, 4, 2))
    >>> check_window((2, 2), (4, 4, 1))
    (2, 2)
    >>> check_window(5, (28, 28))
    Traceback (most recent call last):
    ...
    ValueError: in_shape: expected (*spatial, C_in) that reads one way with the int window 5 (its last entry 28 could be a spatial size: 1-D with 28 channels, or 2-D without the channel axis?); give the window as a tuple, one size per spatial dim, got (28, 28)
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import error, in_shape_tuple, is_int

__all__ = ["all_finite", "as_array", "check_dense_weight", "check_in_shape", "check_rank",
           "check_window", "filter_maps"]

IN_SHAPE = "a tuple (*spatial, C_in) with 1, 2 or 3 spatial dims and positive sizes"


def check_in_shape(in_shape: Any) -> tuple[int, ...]:
    """``in_shape`` as a tuple of ints, checked by :func:`jaxcnn.validation.in_shape_tuple`.

    The metrics also need 1, 2 or 3 spatial dims (at most 4 entries).

    Raises:
      ValueError: ``"in_shape: expected a tuple (*spatial, C_in) with 1, 2 or 3 spatial
        dims and positive sizes, got ..."``.
    """
    try:
        shape = in_shape_tuple(in_shape)
    except ValueError:
        raise error("in_shape", IN_SHAPE, in_shape) from None
    if len(shape) > 4:
        raise error("in_shape", IN_SHAPE, in_shape)
    return shape


def as_array(x: Any) -> Any:
    """jax/NumPy arrays (and tracers) as they are; anything else via NumPy.

    NumPy inputs go straight to the jitted kernels (no eager device copy to compile).
    """
    return x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x)


def check_dense_weight(w: Any, in_shape: Any) -> tuple[Any, tuple[int, ...]]:
    """Checks ``w: (prod(in_shape), out_features)``; returns ``(w, in_shape tuple)``."""
    shape = check_in_shape(in_shape)
    w = as_array(w)
    d = math.prod(shape)
    if w.ndim != 2:
        raise error("w", f"a dense weight of shape (in_features, out_features) = ({d}, units)",
                    tuple(w.shape))
    if w.shape[0] != d:
        raise error("w", f"shape ({d}, out_features): in_features = prod(in_shape) = {d} for "
                    f"in_shape={shape}, not in_features={w.shape[0]}", tuple(w.shape))
    return w, shape


def check_rank(size: Any, shape: tuple[int, ...], *, name: str = "window") -> tuple[int, ...]:
    """A size per spatial dim (int or tuple) under the spatial-rank rule of this module.

    ``shape`` is the full ``in_shape`` ``(*spatial, C_in)``; returns one int per spatial
    dim (not range-checked). Raises naming ``in_shape`` where the two cannot be read
    together, naming ``name`` where ``size`` is no int or tuple of 1-3 ints."""
    spatial, c = shape[:-1], shape[-1]
    n = len(spatial)
    if is_int(size):
        k = int(size)
        if n < 3 and 1 <= k <= c and c > 1:
            raise error("in_shape", f"(*spatial, C_in) that reads one way with the int {name} "
                        f"{k} (its last entry {c} could be a spatial size: {n}-D with {c} "
                        f"channels, or {n + 1}-D without the channel axis?); give the {name} "
                        "as a tuple, one size per spatial dim", shape)
        return (k,) * n
    try:
        if isinstance(size, (str, bytes)):
            raise TypeError
        win = tuple(int(k) if is_int(k) else _not_int() for k in size)
    except (TypeError, ValueError):
        raise error(name, f"an int or a tuple of {n} ints", size) from None
    if not 1 <= len(win) <= 3:
        raise error(name, "one size per spatial dim (1, 2 or 3 ints)", size)
    if len(win) != n:
        plural = "s" if len(win) > 1 else ""
        raise error("in_shape", f"(*spatial, C_in) with {len(win)} spatial dim{plural} for the "
                    f"{len(win)}-D {name} {win}, i.e. the channel axis last", shape)
    return win


def check_window(window: Any, shape: tuple[int, ...], *, name: str = "window") -> tuple[int, ...]:
    """A window size (int or one per spatial dim) as a tuple, each in ``[1, S_d]``.

    ``shape`` is the full ``in_shape`` ``(*spatial, C_in)``; the spatial-rank rule of
    this module's docstring decides whether it can be read with this window
    (:func:`check_rank`).
    """
    win = check_rank(window, shape, name=name)
    spatial = shape[:-1]
    if any(k < 1 or k > s for k, s in zip(win, spatial)):
        raise error(name, f"sizes in [1, spatial size], i.e. <= {spatial} per dim", win)
    return win


def _not_int():
    raise TypeError


def filter_maps(w: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """(in, out) -> (out, *spatial, C): each unit's filter as an image."""
    return w.T.reshape(w.shape[1], *shape)


def all_finite(x: jax.Array) -> jax.Array:
    """Scalar bool: every entry of ``x`` is finite (jittable)."""
    return jnp.all(jnp.isfinite(x))
