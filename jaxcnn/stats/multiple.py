"""Multiple comparisons: Holm's step-down adjustment of a family of p-values.

A results table that reports many intervals at 95% will show some that exclude zero by
chance. :func:`holm` controls the family-wise error rate (the probability of *any*
false rejection in the family) at ``alpha`` under arbitrary dependence between the
tests (Holm 1979), and is uniformly more powerful than Bonferroni.

Example:
    >>> holm([0.01, 0.04, 0.03, 0.005])["p_adjusted"]
    [0.03, 0.06, 0.06, 0.02]
"""

from __future__ import annotations

import numpy as np

from jaxcnn.validation import Text, check_number, error

__all__ = ["holm"]


def holm(p_values, *, alpha: float = 0.05) -> dict:
    """Holm-Bonferroni adjusted p-values and rejections for one family of comparisons.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted
    value of the ``i``-th is ``max_{j <= i} min(1, (m - j + 1) p_(j))`` (the running
    maximum keeps the order); a comparison is rejected ("significant") when its adjusted
    value is ``<= alpha``, which is Holm's step-down procedure: reject while
    ``p_(i) <= alpha / (m - i + 1)``, stop at the first failure. Results come back in
    the input order.

    Args:
        p_values: a non-empty 1-D sequence of probabilities in ``[0, 1]`` (one per
            comparison of the family; leave out comparisons that have no p-value).
        alpha: family-wise error rate, in ``(0, 1)``.

    Returns:
        ``{"p_adjusted": list[float], "reject": list[bool], "alpha": float, "m": int}``.

    Raises:
        ValueError: if ``p_values`` is empty, not 1-D, or holds a value outside
            ``[0, 1]`` (NaN included), or ``alpha`` is not in ``(0, 1)``.

    Example:
        >>> r = holm([0.01, 0.04, 0.03, 0.005])
        >>> r["reject"]
        [True, False, False, True]
    """
    alpha = check_number(alpha, name="alpha", finite=False)
    if not 0.0 < alpha < 1.0:
        raise error("alpha", "a number in (0, 1)", alpha)
    try:
        p = np.asarray(p_values, dtype=np.float64)
    except (TypeError, ValueError):
        raise error("p_values", "a 1-D sequence of probabilities", p_values) from None
    if p.ndim != 1:
        raise error("p_values", "a 1-D sequence of probabilities", Text(f"shape {p.shape}"))
    if p.size == 0:
        raise error("p_values", "at least 1 p-value", 0)
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # NaN fails both
    if bad.size:
        raise error(f"p_values[{bad[0]}]", "a probability in [0, 1]", float(p[bad[0]]))
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return {"p_adjusted": [float(v) for v in adjusted],
            "reject": [bool(v <= alpha) for v in adjusted], "alpha": alpha, "m": int(m)}
