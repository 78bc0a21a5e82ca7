"""Sparsity of weights: the inverse participation ratio per unit, zero counts, a census.

:func:`ipr` is a pure, jittable array metric (NaN for a unit with a non-finite weight);
:func:`nonzeros`, :func:`sparsity` and :func:`census` are host-side summaries that
return Python numbers, and refuse non-finite weights with a ``ValueError`` naming the
argument (a diverged model has no sparsity to report).

Example:
    >>> ipr(jnp.eye(3))
    Array([1., 1., 1.], dtype=float32)
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.metrics.common import as_array
from jaxcnn.tree import array_leaves
from jaxcnn.validation import Text, error

__all__ = ["Census", "census", "ipr", "nonzeros", "sparsity"]


def ipr(w: Any, axis: int = 0) -> jax.Array:
    """Inverse participation ratio along ``axis``: ``Σ_i w_i⁴ / (Σ_i w_i²)²``.

    For a dense weight ``(in_features, out_features)`` the default ``axis=0`` gives one value
    per hidden unit (Ingrosso & Goldt 2022). Scores: ``1/n`` for weight spread evenly over
    ``n`` entries, ``≈ 3/D`` for a random Gaussian vector of length ``D``, ``1`` for a
    one-hot vector; a conv-embedded (VALID) unit scores the IPR of its kernel. All-zero
    units score 0; units with a non-finite weight NaN. Note: some public code reports the
    reciprocal (the "participation ratio"); this is not it. Computed on ``w / max|w|`` so
    float32 does not under/overflow.

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
    w = as_array(w)
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = jnp.asarray(w, jnp.float32)
    return _ipr(w, axis=int(axis))


@functools.partial(jax.jit, static_argnames="axis")
def _ipr(w, axis):
    m = jnp.max(jnp.abs(w), axis=axis, keepdims=True)
    u = w / jnp.where(m > 0, m, 1)
    s2 = jnp.sum(u * u, axis=axis)
    s4 = jnp.sum(u**4, axis=axis)
    finite = jnp.all(jnp.isfinite(w), axis=axis)
    value = jnp.where(s2 > 0, s4 / jnp.where(s2 > 0, s2, 1) ** 2, 0.0)
    return jnp.where(finite, value, jnp.nan)


def nonzeros(tree: Any) -> dict[str, int]:
    """Number of non-zero entries per array leaf, keyed by path string.

    Works on any pytree: nested dicts/lists, ``nnx.State`` (e.g. ``nnx.state(model,
    nnx.Param)``), a single array (key ``""``). Host-side: call it outside ``jit`` (it
    returns Python ints and pulls arrays to the host).

    Args:
      tree: pytree of arrays.

    Returns:
      ``{path: count}``, e.g. ``{"layers/0/kernel": 1234, "layers/0/bias": 64}``.

    Raises:
      ValueError: ``"tree['<path>']: expected finite values, got ..."`` for a leaf
        with a NaN or infinite entry.

    Example:
      >>> nonzeros({"a": jnp.array([0., 1., 2.]), "b": [jnp.zeros(2)]})
      {'a': 2, 'b/0': 0}
    """
    return {k: int(np.count_nonzero(v)) for k, v in _finite_leaves(tree)}


def _finite_leaves(tree: Any, name: str = "tree") -> list[tuple[str, np.ndarray]]:
    leaves = array_leaves(tree)
    for k, v in leaves:
        if np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
            bad = int(np.size(v) - np.count_nonzero(np.isfinite(v)))
            raise error(f"{name}[{k!r}]" if k else name, "finite values",
                        Text(f"{bad} non-finite entries of {np.size(v)}"))
    return leaves


def sparsity(tree: Any) -> dict[str, Any]:
    """Fraction of exactly-zero entries, overall and per leaf (host-side, outside jit).

    Args:
      tree: pytree of arrays (see :func:`nonzeros`).

    Returns:
      ``{"overall": float, "per_leaf": {path: float}, "nonzeros": int, "size": int}``
      (JSON-serialisable; an empty tree has ``overall = 0.0``).

    Raises:
      ValueError: for a leaf with a non-finite entry, as :func:`nonzeros`.

    Example:
      >>> sparsity({"a": jnp.array([0., 1.]), "b": jnp.zeros(2)})["overall"]
      0.75
    """
    leaves = _finite_leaves(tree)
    per_leaf, nnz, size = {}, 0, 0
    for k, v in leaves:
        c = int(np.count_nonzero(v))
        per_leaf[k] = 1.0 - c / v.size if v.size else 0.0
        nnz += c
        size += int(v.size)
    overall = 1.0 - nnz / size if size else 0.0
    return {"overall": overall, "per_leaf": per_leaf, "nonzeros": nnz, "size": size}


class Census(NamedTuple):
    """Result of :func:`census`: Python numbers (``_asdict()`` is JSON-able).

    Attributes:
      units: number of units (columns).
      dead: units whose weights are all exactly zero.
      dead_fraction: ``dead / units``.
      taps_median, taps_q25, taps_q75: non-zero weights per live unit (median and
        quartiles; NaN when every unit is dead).
      effective_taps_median, effective_taps_q25, effective_taps_q75: ``1 / ipr`` per live
        unit, the number of taps its weight is effectively spread over (``n`` for ``n``
        equal taps; fewer when a few taps dominate).
    """

    units: int
    dead: int
    dead_fraction: float
    taps_median: float
    taps_q25: float
    taps_q75: float
    effective_taps_median: float
    effective_taps_q25: float
    effective_taps_q75: float


def census(w: Any, *, w0: Any = None, effective: bool = True) -> Census:
    """Who is alive in a first layer, and on how many taps: a host-side summary.

    Per unit (column of ``w``, or of the learned change ``w − w0`` when ``w0`` is
    given): dead (all exactly zero) or live; a live unit's taps (non-zero entries) and
    effective taps ``1 / ipr``. Report the unit metrics (locality, sharing, ...) over
    the live units, with the dead fraction beside them: a dead unit has no receptive
    field.

    Args:
      w: ``(in_features, units)`` dense weight.
      w0: optional weight of the same shape, e.g. the initialisation: the census is then
        of ``w − w0`` (a unit whose weights never moved counts as dead).
      effective: also the effective taps (an IPR on the device over the live units,
        compiled once per number of live units); ``False``: those are NaN and nothing
        is compiled (the counts are taken on the host).

    Returns:
      :class:`Census`.

    Raises:
      ValueError: ``w`` (or ``w0``) is not 2-D, the shapes differ, or an entry is not
        finite (naming the argument).

    Example:
      >>> w = np.zeros((6, 4), np.float32)
      >>> w[:3, 0] = 1.0; w[0, 1] = 5.0; w[:2, 2] = [2.0, -2.0]  # unit 3 is dead
      >>> c = census(w)
      >>> c.dead, c.dead_fraction, c.taps_median, c.taps_q75, c.effective_taps_median
      (1, 0.25, 2.0, 2.5, 2.0)
      >>> census(w, w0=w).dead  # nothing learned: every unit of the change is dead
      4
    """
    a = _finite_matrix(w, "w")
    if w0 is not None:
        b = _finite_matrix(w0, "w0")
        if b.shape != a.shape:
            raise error("w0", f"shape {a.shape}, the shape of w", Text(f"shape {b.shape}"))
        a = a.astype(np.result_type(a, b, np.float32)) - b
    taps = np.count_nonzero(a, axis=0)
    live = taps > 0
    units, dead = int(a.shape[1]), int(np.sum(~live))
    t = taps[live].astype(np.float64)
    eff = (1.0 / np.asarray(ipr(a[:, live].astype(np.float32)), np.float64)
           if effective and t.size else np.empty(0))

    def q(x, p):
        return float(np.quantile(x, p)) if x.size else float("nan")

    return Census(units, dead, dead / units if units else float("nan"),
                  q(t, 0.5), q(t, 0.25), q(t, 0.75), q(eff, 0.5), q(eff, 0.25), q(eff, 0.75))


def _finite_matrix(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise error(name, "a dense weight of shape (in_features, units)", Text(f"shape {a.shape}"))
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise error(name, "real numbers", Text(f"dtype {a.dtype}"))
    if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise error(name, "finite values", Text(f"{bad} non-finite entries of {a.size}"))
    return a
