"""Accuracy intervals that include test-set sampling: seeds × test examples, crossed.

A t interval over seeds (:func:`jaxcnn.stats.paired_difference`) treats each seed's
accuracy on one fixed test set as an observation, so it covers seed-to-seed variation
only: the test set, drawn once, is shared by every seed and its sampling error (about
``sqrt(p (1 - p) / n_test)``, 0.8 points for 1,000 digits at 93%) never averages out.
Here the data are the per-example correctness ``y[s, t]`` (seed ``s``, test example
``t``) and the target is the accuracy expected over *both* a new seed and a new test
example. Two methods, chosen with ``method=``:

* ``"crossed"`` (default) -- the crossed random-effects (two-way ANOVA) variance of the
  grand mean, ``Var = σ²_seed / S + σ²_example / T + σ²_residual / (S T)``, with the
  components estimated from the mean squares (``MS_seed = T·var(row means)``,
  ``MS_example = S·var(column means)``, ``MS_residual`` of the additive fit) and
  truncated at zero; the interval is ``mean ± t_q(df) · sqrt(Var)`` with Satterthwaite's
  degrees of freedom. With ``T = 1`` it is exactly the t interval over seeds, with
  ``S = 1`` the t interval over test examples.
* ``"bootstrap"`` -- the two-way ("pigeonhole") percentile bootstrap (Owen 2007):
  each replicate redraws ``S`` seeds and ``T`` test examples independently with
  replacement and recomputes the mean over the ``S x T`` grid; the interval is the
  ``(1 ± confidence) / 2`` percentiles of ``n_boot`` replicates (NumPy PCG64 seeded by
  ``seed``: deterministic). It counts the seed×example interaction about three times
  (Owen), so it is conservative where that term matters -- very much so for paired
  differences, whose per-example disagreements are mostly interaction -- and too narrow
  where few seeds dominate (the percentile bootstrap of 5 values).

Why ``"crossed"`` is the default: on simulated correctness tables (``y ~ Bernoulli(
sigmoid(difficulty_t + shift_s))``, about 90% accuracy, 5 seeds × 1,000 examples,
2,000 replications per setting, seed spread from test-dominated to seed-dominated) the
95% crossed intervals covered the truth 93.3-96.3% of the time, the bootstrap's
90.3-98.6%, and the t interval over seeds 87.7-93.5%; for a paired difference under
"no difference" the crossed test rejected 4.3-5.2% at the 5% level, the bootstrap
0.5% (test-dominated) to 9.2% (seed-dominated).
Smaller versions of these checks are ``tests/test_stats.py``'s coverage and null tests.

For two models the same computation runs on ``d = y_a - y_b`` (both models on the same
seeds and test examples, resampled together), and a two-sided p-value for "no
difference" comes with it: the crossed t test's, or the bootstrap's
``2 min(#{m* <= 0} + 1, #{m* >= 0} + 1) / (n_boot + 1)`` (capped at 1): about the
smallest ``1 - confidence`` whose percentile interval excludes 0, with the Monte Carlo
``+ 1``s that keep it above 0 (Davison & Hinkley 1997, ch. 4).

Example:
    >>> y = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], bool)
    >>> r = accuracy_interval(y)
    >>> r["mean"], r["n_seeds"], r["n_test"]
    (0.625, 2, 4)
"""

from __future__ import annotations

import math

import numpy as np

from jaxcnn.stats.checks import check_confidence, check_n_boot, check_seed, correctness
from jaxcnn.stats.tdist import t_quantile, t_two_sided_p
from jaxcnn.validation import check_choice

__all__ = ["accuracy_difference", "accuracy_interval", "bootstrap_means", "crossed_variance"]

_METHODS = ("crossed", "bootstrap")
_CHUNK = 256  # bootstrap replicates drawn and reduced at a time (fixed: results do not
#               depend on memory)


def accuracy_interval(correct, *, confidence: float = 0.95, method: str = "crossed",
                      seed: int = 0, n_boot: int = 10_000) -> dict:
    """Mean accuracy over seeds and test examples, with an interval including both.

    Args:
        correct: ``(n_seeds, n_test)`` bool (or 0/1) per-example correctness; row ``s``
            is seed ``s`` on the shared test set.
        confidence: coverage, in ``(0, 1)``.
        method: ``"crossed"`` (variance components, t interval) or ``"bootstrap"``
            (two-way percentile bootstrap); see the module docstring.
        seed: the bootstrap's NumPy seed (``method="bootstrap"`` only).
        n_boot: bootstrap replicates, at least 100 (``method="bootstrap"`` only).

    Returns:
        A dict of plain floats/ints/str: ``mean``, ``ci_low``, ``ci_high``,
        ``half_width`` (``(ci_high - ci_low) / 2``), ``se`` (standard error),
        ``n`` (= ``n_seeds``, as in :func:`jaxcnn.stats.paired_difference`),
        ``n_seeds``, ``n_test``, ``confidence``, ``method``; for ``"crossed"`` also
        ``df``, ``var_seed``, ``var_example``, ``var_residual`` (the components); for
        ``"bootstrap"`` also ``n_boot`` and ``seed``. Without any spread to estimate
        (one seed and one example) the interval is NaN.

    Raises:
        ValueError: if ``correct`` is not 2-D, is empty, or holds anything but 0/1
            (NaN included), or an option is out of range.

    Example:
        >>> y = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], bool)
        >>> r = accuracy_interval(y, method="bootstrap", n_boot=1000)
        >>> r["ci_low"] <= 0.625 <= r["ci_high"], r["method"]
        (True, 'bootstrap')
    """
    confidence, method, seed, n_boot = _options(confidence, method, seed, n_boot)
    y = correctness("correct", correct)
    return _interval(y, confidence, method, seed, n_boot, p_value=False)


def accuracy_difference(correct_a, correct_b, *, confidence: float = 0.95,
                        method: str = "crossed", seed: int = 0, n_boot: int = 10_000) -> dict:
    """Accuracy of model a minus model b, paired on seeds and test examples.

    ``correct_a[s, t]`` and ``correct_b[s, t]`` are the two models' correctness on test
    example ``t`` when trained with seed ``s``; the interval (and ``p_value``) include
    both seed-to-seed variation and test-set sampling (module docstring).

    Args:
        correct_a: ``(n_seeds, n_test)`` bool (or 0/1).
        correct_b: the same shape, same seeds and test examples in the same order.
        confidence, method, seed, n_boot: as in :func:`accuracy_interval`.

    Returns:
        :func:`accuracy_interval`'s dict for ``d = a - b``, plus ``p_value``: two-sided,
        for "no difference" (the crossed t test, or the bootstrap's percentile
        inversion), ready for :func:`jaxcnn.stats.holm`.

    Raises:
        ValueError: as :func:`accuracy_interval`, or if the shapes differ.

    Example:
        >>> a = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 1]], bool)
        >>> b = np.array([[1, 0, 1, 0, 0], [0, 1, 1, 0, 0]], bool)
        >>> d = accuracy_difference(a, b)
        >>> d["mean"], round(d["p_value"], 3)
        (0.4, 0.148)
    """
    confidence, method, seed, n_boot = _options(confidence, method, seed, n_boot)
    a = correctness("correct_a", correct_a)
    b = correctness("correct_b", correct_b, like=a)
    return _interval(a - b, confidence, method, seed, n_boot, p_value=True)


def _options(confidence, method, seed, n_boot):
    return (check_confidence(confidence), check_choice(method, _METHODS, name="method"),
            check_seed(seed), check_n_boot(n_boot))


def _interval(y: np.ndarray, confidence: float, method: str, seed: int, n_boot: int, *,
              p_value: bool) -> dict:
    S, T = y.shape
    mean = float(y.mean())
    if method == "crossed":
        out = crossed_variance(y)
        se = math.sqrt(out.pop("var_mean"))
        if S * T == 1:
            half = p = math.nan
        else:
            half = t_quantile(0.5 * (1.0 + confidence), out["df"]) * se
            p = t_two_sided_p(mean / se, out["df"]) if se > 0 else float(mean == 0.0)
        low, high = mean - half, mean + half
    else:
        reps = bootstrap_means(y, seed=seed, n_boot=n_boot)
        se = float(np.std(reps, ddof=1))
        alpha = 1.0 - confidence
        low, high = (float(v) for v in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
        below, above = int(np.sum(reps <= 0.0)), int(np.sum(reps >= 0.0))
        p = min(1.0, 2.0 * (min(below, above) + 1) / (n_boot + 1))
        if S * T == 1:
            low = high = p = math.nan
        out = {"n_boot": n_boot, "seed": seed}
    res = {"mean": mean, "ci_low": low, "ci_high": high, "half_width": 0.5 * (high - low),
           "se": se, "n": S, "n_seeds": S, "n_test": T, "confidence": confidence,
           "method": method, **out}
    if p_value:
        res["p_value"] = p
    return res


def crossed_variance(y: np.ndarray) -> dict:
    """Variance components of a seeds × examples table and the variance of its mean.

    Two-way random effects, one observation per cell: ``E[MS_seed] = σ²_r + T σ²_seed``,
    ``E[MS_example] = σ²_r + S σ²_example``, ``E[MS_residual] = σ²_r``; each component
    is estimated by solving these and truncating at zero, and ``var_mean`` is
    ``σ²_seed / S + σ²_example / T + σ²_r / (S T)`` (with neither component truncated,
    ``(MS_seed + MS_example - MS_residual) / (S T)``, unbiased). ``df`` is
    Satterthwaite's for that linear combination of mean squares. One seed or one
    example leaves only the other factor: its sample variance over the count, ``n - 1``
    df (``NaN`` df for a single cell).

    Args:
        y: ``(S, T)`` float64 array (checked by the caller).

    Returns:
        ``{"var_mean", "df", "var_seed", "var_example", "var_residual"}`` (floats).
    """
    S, T = y.shape
    m = y.mean()
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    ms_seed = T * float(np.sum((rows - m) ** 2)) / (S - 1) if S > 1 else 0.0
    ms_ex = S * float(np.sum((cols - m) ** 2)) / (T - 1) if T > 1 else 0.0
    if S == 1 or T == 1:  # one factor: its mean square over the count
        n = S * T
        return {"var_mean": (ms_seed + ms_ex) / n, "df": float(n - 1) if n > 1 else math.nan,
                "var_seed": ms_seed / T, "var_example": ms_ex / S, "var_residual": 0.0}
    df_r = (S - 1) * (T - 1)
    ms_r = float(np.sum((y - rows[:, None] - cols[None, :] + m) ** 2)) / df_r
    var_seed = max(0.0, (ms_seed - ms_r) / T)
    var_ex = max(0.0, (ms_ex - ms_r) / S)
    # var_mean = sum_i c_i MS_i / (S T): a component truncated at 0 drops its MS and its -MS_r.
    terms = [(ms_r * (1 - (var_seed > 0) - (var_ex > 0)), df_r)]
    if var_seed > 0:
        terms.append((ms_seed, S - 1))
    if var_ex > 0:
        terms.append((ms_ex, T - 1))
    total = sum(c for c, _ in terms)
    denom = sum(c * c / d for c, d in terms)
    df = total * total / denom if denom > 0 else float(df_r)
    return {"var_mean": total / (S * T), "df": max(1.0, df), "var_seed": var_seed,
            "var_example": var_ex, "var_residual": ms_r}


def bootstrap_means(y: np.ndarray, *, seed: int, n_boot: int) -> np.ndarray:
    """``n_boot`` two-way bootstrap replicates of ``y.mean()`` for ``y: (S, T)``.

    Replicate ``b`` draws seed indices ``i`` (``S`` of them) and example indices ``j``
    (``T``), each uniformly with replacement, and returns ``mean(y[i][:, j])``, computed
    as ``u_b · y · v_b / (S T)`` from the draw counts ``u_b``, ``v_b``. The seed
    indices are drawn first, then the example indices in fixed chunks of replicates,
    from ``np.random.default_rng(seed)``: the result depends only on ``seed``,
    ``n_boot`` and ``y``.
    """
    S, T = y.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, S, size=(n_boot, S))
    u = np.zeros((n_boot, S))
    np.add.at(u, (np.arange(n_boot)[:, None], rows), 1.0)
    out = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(n_boot, start + _CHUNK)
        n = stop - start
        cols = rng.integers(0, T, size=(n, T)) + T * np.arange(n)[:, None]
        v = np.bincount(cols.ravel(), minlength=n * T).reshape(n, T).astype(np.float64)
        out[start:stop] = np.einsum("bs,bs->b", u[start:stop], v @ y.T) / (S * T)
    return out
