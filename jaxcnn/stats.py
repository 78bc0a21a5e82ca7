"""Small statistics helpers for results tables: seed summaries and paired differences.

Pure Python/NumPy in float64 (no SciPy): the Student-t quantile inverts a t CDF built on
the regularized incomplete beta function, evaluated by a continued fraction. Every
function returns plain Python ``float``/``int`` values, so its output can go straight into
a results JSON.

* :func:`t_quantile` -- Student-t quantile, accurate to ~1e-9 (absolute) for any
  ``df > 0`` (``df = inf`` gives the normal quantile).
* :func:`summary` -- mean, sample std (``ddof=1``) and count of one metric over seeds.
* :func:`paired_difference` -- mean of ``a_i - b_i`` with a two-sided t interval, for
  two methods run on the same seeds.
* :func:`format_mean_std`, :func:`format_ci` -- the strings report tables show.

Example:
    >>> s = summary([93.0, 93.5, 92.8])
    >>> format_mean_std(s)
    '93.1 ± 0.4'
    >>> d = paired_difference([93.0, 93.5, 92.8], [91.0, 90.9, 91.2])
    >>> format_ci(d)
    '+2.1 [+0.8, +3.3]'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

import numpy as np

from jaxcnn.validation import Text, check_int, check_number, error

__all__ = ["format_ci", "format_mean_std", "paired_difference", "summary", "t_quantile"]

_CF_EPS = 1e-15
_CF_TINY = 1e-300
_CF_MAX_ITER = 100_000
_LARGE_DF = 1e3  # above: series expansion of the quantile instead of inverting the CDF


# ------------------------------------------------------------------ validation


def _finite_vector(name: str, values: object) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array of finite numbers."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise error(name, "a 1-D sequence of numbers", values) from None
    if arr.ndim != 1:
        raise error(name, "a 1-D sequence of numbers", Text(f"shape {arr.shape}"))
    if arr.size == 0:
        raise error(name, "at least 1 value", 0)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise error(f"{name}[{bad[0]}]", "a finite value", float(arr[bad[0]]))
    return arr


# ------------------------------------------------------------------ Student t


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction ``1 / (1 + d1 / (1 + d2 / (1 + ...)))`` of ``I_x(a, b)``.

    ``d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1))`` and
    ``d_{2m} = m(b-m) x / ((a+2m-1)(a+2m))``, evaluated by the modified Lentz method.
    Converges quickly for ``x < (a+1)/(a+b+2)``.
    """
    f = c = 1.0
    d = 0.0
    for j in range(1, _CF_MAX_ITER):
        m, odd = divmod(j, 2)
        if odd:
            coef = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            coef = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + coef * d
        d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
        c = 1.0 + coef / c
        c = c if abs(c) > _CF_TINY else _CF_TINY
        delta = c * d
        f *= delta
        if abs(delta - 1.0) < _CF_EPS:
            return 1.0 / f
    raise RuntimeError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta ``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def _t_upper_tail(t: float, df: float) -> float:
    """``P(T > t)`` for ``t >= 0``: ``I_{df/(df+t^2)}(df/2, 1/2) / 2``."""
    return 0.5 * _betainc(0.5 * df, 0.5, df / (df + t * t))


def _t_log_pdf(t: float, df: float) -> float:
    return (math.lgamma(0.5 * (df + 1.0)) - math.lgamma(0.5 * df)
            - 0.5 * math.log(df * math.pi) - 0.5 * (df + 1.0) * math.log1p(t * t / df))


def _t_quantile_expansion(z: float, df: float) -> float:
    """Cornish-Fisher expansion of the t quantile in ``1/df`` around the normal ``z``.

    Abramowitz & Stegun 26.7.5 to order ``df**-4``. Used for ``df > _LARGE_DF``, where it
    agrees with the exact inversion to ~2e-10 even at ``p = 1e-12`` and is the more
    accurate of the two as ``df`` grows (the continued fraction slowly loses digits).
    """
    z2 = z * z
    g1 = z * (z2 + 1.0) / 4.0
    g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0
    g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0
    g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution: the ``t`` with ``P(T <= t) = p``.

    Inverts the t CDF (regularized incomplete beta, float64) by Newton steps safeguarded
    by bisection for ``df <= 1000``, and uses the Cornish-Fisher series in ``1/df`` above;
    either way the result is accurate to ~1e-9 absolute. ``df = 1`` and ``df = 2`` use
    their closed forms, ``df = inf`` the normal quantile. For ``df < 1`` and extreme ``p``
    a quantile beyond ``1e150`` in magnitude is returned as ``±inf``.

    Args:
        p: probability, ``0 < p < 1``.
        df: degrees of freedom, ``df > 0`` (need not be an integer; ``math.inf`` allowed).

    Returns:
        The quantile as a ``float`` (negative for ``p < 0.5``).

    Raises:
        ValueError: if ``p`` is not in ``(0, 1)`` or ``df`` is not positive.

    Example:
        >>> round(t_quantile(0.975, 4), 7)
        2.7764451
        >>> round(t_quantile(0.025, 9), 7)
        -2.2621572
    """
    p = check_number(p, name="p", finite=False)
    df = check_number(df, name="df", finite=False)
    if not 0.0 < p < 1.0:
        raise error("p", "a probability in (0, 1)", p)
    if not df > 0.0:  # also rejects NaN
        raise error("df", "a positive number of degrees of freedom", df)
    if p == 0.5:
        return 0.0
    if math.isinf(df):
        return statistics.NormalDist().inv_cdf(p)
    sign = 1.0 if p > 0.5 else -1.0
    q = min(p, 1.0 - p)  # upper-tail probability of |t|
    if df == 1.0:  # Cauchy: tan(pi (p - 1/2)), written in q so that tiny q stays exact
        return sign / math.tan(math.pi * q)
    if df == 2.0:
        return sign * (1.0 - 2.0 * q) / math.sqrt(2.0 * q * (1.0 - q))
    z = -statistics.NormalDist().inv_cdf(q)
    if df > _LARGE_DF:
        return sign * _t_quantile_expansion(z, df)
    return sign * _t_upper_quantile(q, z, df)


def _t_upper_quantile(q: float, z: float, df: float) -> float:
    """The ``t >= 0`` with ``P(T > t) = q``: Newton steps on the tail, safeguarded by bisection.

    ``z`` is the normal quantile of ``q`` (the start is its first Cornish-Fisher term);
    ``inf`` where ``t`` would pass ``1e150`` (``df << 1`` and ``q`` tiny).
    """
    # Bracket: lo has tail >= q, hi has tail < q (tail is decreasing in t).
    lo, hi = 0.0, 1.0
    while _t_upper_tail(hi, df) >= q:
        lo, hi = hi, 2.0 * hi
        if hi > 1e150:  # df << 1 and p extreme: t * t would overflow float64
            return math.inf
    t = z + (z ** 3 + z) / (4.0 * df)  # first Cornish-Fisher term
    if not lo < t < hi:
        t = 0.5 * (lo + hi)
    for _ in range(400):
        f = _t_upper_tail(t, df) - q
        if f > 0.0:
            lo = t
        else:
            hi = t
        pdf = math.exp(_t_log_pdf(t, df))
        # tail' = -pdf, so the Newton step is t + f / pdf; bisect where it leaves the bracket.
        new = t + f / pdf if pdf > 0.0 else math.inf
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - t) <= 1e-13 * max(1.0, abs(t)) or hi - lo <= 1e-14 * max(1.0, hi):
            t = new
            break
        t = new
    return t


# ------------------------------------------------------------------ summaries


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
    arr = _finite_vector("values", values)
    n = int(arr.size)
    std = float(np.std(arr, ddof=1)) if n > 1 else 0.0
    return {"mean": float(np.mean(arr)), "std": std, "n": n}


def paired_difference(a: Sequence[float], b: Sequence[float], *,
                      confidence: float = 0.95) -> dict:
    """Mean paired difference ``a_i - b_i`` with a two-sided Student-t interval.

    For two methods run on the same seeds (``a[i]`` and ``b[i]`` share seed ``i``). With
    ``d = a - b``, the interval is ``mean(d) ± t_{(1+confidence)/2, n-1} * sd(d) / sqrt(n)``.
    With a single pair there is no interval: ``ci_low``, ``ci_high`` and ``half_width`` are
    NaN (and ``std`` is ``0.0``, as in :func:`summary`).

    Args:
        a: values of the first method, one per seed (finite).
        b: values of the second method, same length and seed order as ``a`` (finite).
        confidence: coverage of the interval, in ``(0, 1)``.

    Returns:
        ``{"mean", "std", "n", "ci_low", "ci_high", "half_width", "confidence"}``: floats,
        except ``n`` (int).

    Raises:
        ValueError: if ``a`` or ``b`` is empty, not 1-D or non-finite, if their lengths
            differ, or if ``confidence`` is not in ``(0, 1)``.

    Example:
        >>> d = paired_difference([3.0, 4.0, 5.0], [1.0, 2.0, 2.0])
        >>> round(d["mean"], 4), d["n"], round(d["half_width"], 4)
        (2.3333, 3, 1.4342)
    """
    confidence = check_number(confidence, name="confidence", finite=False)
    if not 0.0 < confidence < 1.0:
        raise error("confidence", "a number in (0, 1)", confidence)
    a_arr = _finite_vector("a", a)
    b_arr = _finite_vector("b", b)
    if b_arr.size != a_arr.size:
        raise error("b", f"{a_arr.size} values like a", b_arr.size)
    s = summary(a_arr - b_arr)
    n = s["n"]
    if n < 2:
        half = math.nan
    else:
        half = t_quantile(0.5 * (1.0 + confidence), n - 1) * s["std"] / math.sqrt(n)
    return {**s, "ci_low": s["mean"] - half, "ci_high": s["mean"] + half, "half_width": half,
            "confidence": confidence}


# ------------------------------------------------------------------ formatting


def _fields(name: str, obj: object, keys: tuple[str, ...]) -> list[float]:
    if not isinstance(obj, Mapping) or any(k not in obj for k in keys):
        got = sorted(obj) if isinstance(obj, Mapping) else Text(type(obj).__name__)
        raise error(name, f"a mapping with keys {', '.join(keys)}", got)
    return [check_number(obj[k], name=f"{name}[{k!r}]", finite=False) for k in keys]


def _check_format_args(digits: object, scale: object) -> float:
    check_int(digits, name="digits", minimum=0)
    return check_number(scale, name="scale")


def format_mean_std(summary: Mapping, *, digits: int = 1, scale: float = 1.0) -> str:
    """``"mean ± std"`` of a :func:`summary` dict, for a table cell.

    A single seed (``n == 1``) shows the mean alone: a ``± 0.0`` would claim a spread that
    was never measured.

    Args:
        summary: a dict with ``mean``, ``std`` and ``n`` (as :func:`summary` returns).
        digits: decimals shown.
        scale: multiplies mean and std first (``100`` turns a fraction into percent).

    Returns:
        e.g. ``"93.1 ± 0.4"``.

    Raises:
        ValueError: if a key is missing or a value is not a number.

    Example:
        >>> format_mean_std({"mean": 0.9312, "std": 0.0041, "n": 5}, scale=100)
        '93.1 ± 0.4'
        >>> format_mean_std({"mean": 0.9312, "std": 0.0, "n": 1}, digits=2, scale=100)
        '93.12'
    """
    scale = _check_format_args(digits, scale)
    mean, std, n = _fields("summary", summary, ("mean", "std", "n"))
    if n == 1:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def format_ci(diff: Mapping, *, digits: int = 1, scale: float = 1.0) -> str:
    """``"+mean [+low, +high]"`` of a :func:`paired_difference` dict, signs always shown.

    Without an interval (one pair: NaN bounds) the count is shown instead:
    ``"+2.3 (n=1)"``.

    Args:
        diff: a dict with ``mean``, ``ci_low``, ``ci_high`` and ``n``.
        digits: decimals shown.
        scale: multiplies every number first (``100`` turns a fraction into points).

    Returns:
        e.g. ``"+2.3 [+1.1, +3.5]"``.

    Raises:
        ValueError: if a key is missing or a value is not a number.

    Example:
        >>> format_ci({"mean": 0.023, "ci_low": 0.011, "ci_high": 0.035, "n": 5}, scale=100)
        '+2.3 [+1.1, +3.5]'
    """
    scale = _check_format_args(digits, scale)
    mean, low, high, n = _fields("diff", diff, ("mean", "ci_low", "ci_high", "n"))
    head = f"{mean * scale:+.{digits}f}"
    if math.isnan(low) or math.isnan(high):
        return f"{head} (n={int(n)})"
    return f"{head} [{low * scale:+.{digits}f}, {high * scale:+.{digits}f}]"
