"""The strings report tables show: ``"mean ± std"``, ``"+mean [+low, +high]"``, p-values,
and one sentence per interval method (:func:`describe`).

Example:
    >>> format_ci({"mean": 0.023, "ci_low": 0.011, "ci_high": 0.035, "n": 5}, scale=100)
    '+2.3 [+1.1, +3.5]'
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from jaxcnn.validation import Text, check_choice, check_int, check_number, error

__all__ = ["METHODS", "describe", "format_ci", "format_mean_std", "format_p"]


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


def format_p(p: float, *, digits: int = 3) -> str:
    """A p-value for a table cell: ``"0.012"``, ``"<0.001"`` below ``10**-digits``, ``"-"``
    for NaN (no test: a single seed).

    Raises:
        ValueError: if ``p`` is not a number in ``[0, 1]`` (or NaN), or ``digits < 1``.

    Example:
        >>> format_p(0.0123), format_p(0.00002), format_p(1.0, digits=2)
        ('0.012', '<0.001', '1.00')
    """
    check_int(digits, name="digits", minimum=1)
    p = check_number(p, name="p", finite=False)
    if math.isnan(p):
        return "-"
    if not 0.0 <= p <= 1.0:
        raise error("p", "a probability in [0, 1]", p)
    if p < 10.0 ** -digits:
        return f"<{10.0 ** -digits:.{digits}f}"
    return f"{p:.{digits}f}"


METHODS = {
    "t_seeds": "{c}% t interval over seeds (n - 1 degrees of freedom) on the one fixed test "
               "set: seed-to-seed variation only, test-set sampling not included.",
    "crossed": "{c}% interval over seeds and test examples: the variance of the mean of the "
               "seeds × test-examples table as crossed random effects (σ²_seed / S + "
               "σ²_example / T + σ²_residual / (S·T), from the two-way ANOVA mean squares), "
               "with a t quantile at Satterthwaite's degrees of freedom; includes test-set "
               "sampling.",
    "bootstrap": "{c}% two-way percentile bootstrap ({n_boot} replicates, each redrawing the "
                 "seeds and the test examples independently with replacement; paired models "
                 "share the draws); includes test-set sampling.",
    "holm": "Holm step-down adjustment within each table's family of comparisons: a "
            "comparison is significant when its adjusted p-value is ≤ {alpha} (family-wise "
            "error rate ≤ {alpha}).",
}
"""One sentence per method, with ``{c}`` (percent), ``{n_boot}`` and ``{alpha}`` to fill
(:func:`describe`): ``"t_seeds"`` is :func:`jaxcnn.stats.paired_difference`,
``"crossed"`` and ``"bootstrap"`` the methods of :func:`jaxcnn.stats.accuracy_interval`
and :func:`jaxcnn.stats.accuracy_difference`, ``"holm"`` :func:`jaxcnn.stats.holm`."""


def describe(method: str, *, confidence: float = 0.95, n_boot: int = 10_000,
             alpha: float = 0.05) -> str:
    """The sentence a report prints under a table to say what its intervals are.

    Args:
        method: a key of :data:`METHODS` (``"t_seeds"``, ``"crossed"``, ``"bootstrap"``,
            ``"holm"``).
        confidence: the intervals' coverage (shown in percent).
        n_boot: bootstrap replicates (``"bootstrap"``).
        alpha: the family-wise error rate (``"holm"``).

    Raises:
        ValueError: for an unknown ``method``.

    Example:
        >>> describe("t_seeds", confidence=0.9).split(":")[0]
        '90% t interval over seeds (n - 1 degrees of freedom) on the one fixed test set'
    """
    check_choice(method, tuple(METHODS), name="method")
    c = check_number(confidence, name="confidence") * 100
    return METHODS[method].format(c=f"{c:g}", n_boot=f"{n_boot:,}", alpha=f"{alpha:g}")
