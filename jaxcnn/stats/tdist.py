"""Student's t distribution in float64: CDF, quantile, two-sided p-value.

Thin validated wrappers of :data:`scipy.stats.t` (SciPy is a dependency of JAX itself),
with the project's argument checks and error messages; ``df = inf`` is the normal
distribution.

Example:
    >>> round(t_quantile(0.975, 4), 7)
    2.7764451
    >>> round(t_cdf(2.7764451, 4), 6)
    0.975
    >>> round(t_two_sided_p(2.2621572, 9), 6)
    0.05
"""

from __future__ import annotations

import math

from scipy import stats as _scipy_stats

from jaxcnn.validation import check_number, error

__all__ = ["t_cdf", "t_quantile", "t_two_sided_p"]


def _dist(df: float):
    """The frozen distribution: Student's t, or the standard normal for ``df = inf``."""
    return _scipy_stats.norm() if math.isinf(df) else _scipy_stats.t(df)


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution: the ``t`` with ``P(T <= t) = p``.

    Args:
        p: probability, ``0 < p < 1``.
        df: degrees of freedom, ``df > 0`` (need not be an integer; ``math.inf``: the
            normal quantile).

    Returns:
        The quantile as a ``float`` (negative for ``p < 0.5``), from
        :data:`scipy.stats.t` (its upper-tail inverse for ``p > 0.5``, so that ``p``
        near 1 loses no digits).

    Raises:
        ValueError: if ``p`` is not in ``(0, 1)`` or ``df`` is not positive.

    Example:
        >>> round(t_quantile(0.975, 4), 7)
        2.7764451
        >>> round(t_quantile(0.025, 9), 7)
        -2.2621572
    """
    p = check_number(p, name="p", finite=False)
    if not 0.0 < p < 1.0:
        raise error("p", "a probability in (0, 1)", p)
    dist = _dist(_check_df(df))
    if p == 0.5:
        return 0.0
    return float(-dist.isf(p) if p < 0.5 else dist.isf(1.0 - p))


def _check_df(df: object) -> float:
    df = check_number(df, name="df", finite=False)
    if not df > 0.0:  # also rejects NaN
        raise error("df", "a positive number of degrees of freedom", df)
    return df


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df`` degrees of freedom.

    Args:
        t: any number except NaN (``±inf`` give ``0`` and ``1``).
        df: degrees of freedom, ``df > 0`` (``math.inf``: the normal CDF).

    Returns:
        The probability as a ``float``.

    Raises:
        ValueError: if ``t`` is NaN or not a number, or ``df`` is not positive.

    Example:
        >>> round(t_cdf(-2.2621572, 9), 6)
        0.025
    """
    t = check_number(t, name="t", finite=False)
    if math.isnan(t):
        raise error("t", "a number (not NaN)", t)
    dist = _dist(_check_df(df))
    return float(dist.cdf(t))


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value ``P(|T| >= |t|)`` of a t statistic.

    Args:
        t: the statistic (``±inf`` gives ``0``).
        df: degrees of freedom, ``df > 0``.

    Returns:
        The p-value in ``[0, 1]``.

    Raises:
        ValueError: as :func:`t_cdf`.

    Example:
        >>> round(t_two_sided_p(-2.7764451, 4), 6)
        0.05
    """
    t = check_number(t, name="t", finite=False)
    if math.isnan(t):
        raise error("t", "a number (not NaN)", t)
    dist = _dist(_check_df(df))
    return float(min(1.0, 2.0 * dist.sf(abs(t))))
