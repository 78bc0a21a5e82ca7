"""Argument checks and array views shared by the metrics (static values, trace time).

A dense weight ``W`` has shape ``(in_features, out_features)`` with ``in_features =
prod(in_shape)`` and ``in_shape = (*spatial, C_in)``, 1, 2 or 3 spatial dims.
:func:`check_dense_weight` validates both; :func:`check_window` a window size against
the spatial shape; :func:`filter_maps` views each unit's filter as an image.

Example:
    >>> w, shape = check_dense_weight(np.ones((8, 3)), (4, 2))
    >>> shape, filter_maps(w, shape).shape
    ((4, 2), (3, 4, 2))
    >>> check_window(2, (4, 4))
    (2, 2)
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from jaxcnn.validation import error, in_shape_tuple, is_int

__all__ = ["as_array", "check_dense_weight", "check_in_shape", "check_window", "filter_maps"]

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


def check_window(window: Any, spatial: tuple[int, ...]) -> tuple[int, ...]:
    """A window size (int or one per spatial dim) as a tuple, each in ``[1, S_d]``."""
    n = len(spatial)
    if is_int(window):
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


def filter_maps(w: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """(in, out) -> (out, *spatial, C): each unit's filter as an image."""
    return w.T.reshape(w.shape[1], *shape)
