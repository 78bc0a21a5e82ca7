"""Summaries over seeds: mean and spread, and the paired t interval of two methods.

Both treat each seed's number (e.g. a test accuracy on one fixed test set) as one
observation: their intervals cover seed-to-seed variation only. For intervals that also
cover test-set sampling, see :mod:`jaxcnn.stats.crossed`.

Example:
    >>> summary([93.0, 93.5, 92.8])["n"]
    3
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jaxcnn.stats.checks import check_confidence, finite_vector
from jaxcnn.stats.tdist import t_quantile, t_two_sided_p
from jaxcnn.validation import error

__all__ = ["paired_difference", "summary"]


def summary(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation and count of one metric over seeds.

    Args:
        values: a non-empty 1-D sequence of finite numbers (one per seed).

    Returns:
        ``{"mean": float, "std": float, "n": int}``; ``std`` uses ``ddof=1`` and is
        ``0.0`` when ``n == 1``.

    Raises:
        ValueError: if ``values`` is empty, not 1-D, or holds a non-finite number.

    Example:
        >>> summary([1.0, 2.0, 3.0])
        {'mean': 2.0, 'std': 1.0, 'n': 3}
    """
    arr = finite_vector("values", values)
    n = int(arr.size)
    std = float(np.std(arr, ddof=1)) if n > 1 else 0.0
    return {"mean": float(np.mean(arr)), "std": std, "n": n}


def paired_difference(a: Sequence[float], b: Sequence[float], *,
                      confidence: float = 0.95) -> dict:
    """Mean paired difference ``a_i - b_i`` with a two-sided Student-t interval.

    For two methods run on the same seeds (``a[i]`` and ``b[i]`` share seed ``i``). With
    ``d = a - b``, the interval is ``mean(d) ± t_{(1+confidence)/2, n-1} * sd(d) / sqrt(n)``.
    ``p_value`` is the paired t test's two-sided p-value for "no difference" (``t =
    mean(d) / (sd(d) / sqrt(n))``, ``n - 1`` degrees of freedom), for
    :func:`jaxcnn.stats.holm`. This interval covers seed-to-seed variation on one fixed
    test set only; :func:`jaxcnn.stats.accuracy_difference` adds test-set sampling. With
    a single pair there is no interval: ``ci_low``, ``ci_high``, ``half_width`` and
    ``p_value`` are NaN (and ``std`` is ``0.0``, as in :func:`summary`).

    Args:
        a: values of the first method, one per seed (finite).
        b: values of the second method, same length and seed order as ``a`` (finite).
        confidence: coverage of the interval, in ``(0, 1)``.

    Returns:
        ``{"mean", "std", "n", "ci_low", "ci_high", "half_width", "confidence",
        "p_value"}``: floats, except ``n`` (int).

    Raises:
        ValueError: if ``a`` or ``b`` is empty, not 1-D or non-finite, if their lengths
            differ, or if ``confidence`` is not in ``(0, 1)``.

    Example:
        >>> d = paired_difference([3.0, 4.0, 5.0], [1.0, 2.0, 2.0])
        >>> round(d["mean"], 4), d["n"], round(d["half_width"], 4), round(d["p_value"], 4)
        (2.3333, 3, 1.4342, 0.0198)
    """
    confidence = check_confidence(confidence)
    a_arr = finite_vector("a", a)
    b_arr = finite_vector("b", b)
    if b_arr.size != a_arr.size:
        raise error("b", f"{a_arr.size} values like a", b_arr.size)
    s = summary(a_arr - b_arr)
    n, mean, std = s["n"], s["mean"], s["std"]
    if n < 2:
        half = p_value = math.nan
    else:
        se = std / math.sqrt(n)
        half = t_quantile(0.5 * (1.0 + confidence), n - 1) * se
        if se > 0.0:
            p_value = t_two_sided_p(mean / se, n - 1)
        else:  # every pair differs by the same amount: certain, or no difference at all
            p_value = 1.0 if mean == 0.0 else 0.0
    return {**s, "ci_low": mean - half, "ci_high": mean + half, "half_width": half,
            "confidence": confidence, "p_value": p_value}
