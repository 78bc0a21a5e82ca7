"""Statistics for results tables: seed summaries, intervals with and without test-set
sampling, and Holm-adjusted significance.

Host-side NumPy in float64 (no SciPy); every function returns plain Python
``float``/``int``/``bool``/``str`` values, so its output can go straight into a results
JSON. Two kinds of interval, and which is which matters:

* **Over seeds only** -- :func:`paired_difference` (and :func:`summary`): each seed's
  number on the one fixed test set is one observation; a t interval with ``n - 1``
  degrees of freedom. It leaves out test-set sampling: the test set is drawn once and
  shared by every seed, so its error (about ``sqrt(p (1 - p) / n_test)``, 0.8 points
  for 1,000 test digits) does not shrink with more seeds.
* **Over seeds and test examples** -- :func:`accuracy_interval` (one model) and
  :func:`accuracy_difference` (two models paired on the same seeds and test examples)
  take the per-example correctness ``(n_seeds, n_test)`` and include both sources:
  ``method="crossed"`` (default: crossed random-effects variance with a Satterthwaite t
  interval) or ``method="bootstrap"`` (two-way percentile bootstrap, seeded). The
  derivations, and why the crossed interval is the default, are in
  :mod:`jaxcnn.stats.crossed`.

Significance within a table: each comparison's two-sided ``p_value``
(:func:`paired_difference`, :func:`accuracy_difference`) goes into :func:`holm`, which
controls the family-wise error rate over the table's family of comparisons.
:func:`describe` gives the one sentence a report prints for each method.

* :func:`t_quantile`, :func:`t_cdf`, :func:`t_two_sided_p` -- Student's t for any
  ``df > 0`` (validated wrappers of :data:`scipy.stats.t`, :mod:`jaxcnn.stats.tdist`).
* :func:`format_mean_std`, :func:`format_ci`, :func:`format_p` -- table cells.

Example:
    >>> s = summary([93.0, 93.5, 92.8])
    >>> format_mean_std(s)
    '93.1 ± 0.4'
    >>> d = paired_difference([93.0, 93.5, 92.8], [91.0, 90.9, 91.2])
    >>> format_ci(d), format_p(d["p_value"])
    ('+2.1 [+0.8, +3.3]', '0.019')
    >>> holm([0.01, 0.04, 0.03, 0.005])["reject"]
    [True, False, False, True]
"""

from jaxcnn.stats.crossed import accuracy_difference, accuracy_interval
from jaxcnn.stats.formatting import METHODS, describe, format_ci, format_mean_std, format_p
from jaxcnn.stats.multiple import holm
from jaxcnn.stats.seeds import paired_difference, summary
from jaxcnn.stats.tdist import t_cdf, t_quantile, t_two_sided_p

__all__ = [
    "METHODS",
    "accuracy_difference",
    "accuracy_interval",
    "describe",
    "format_ci",
    "format_mean_std",
    "format_p",
    "holm",
    "paired_difference",
    "summary",
    "t_cdf",
    "t_quantile",
    "t_two_sided_p",
]
