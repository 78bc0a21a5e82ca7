"""Tests for jaxcnn.stats: t quantiles and CDFs against table values, hand-computed
intervals, the crossed (seeds × test examples) intervals against hand-computed ANOVAs and
their limits, the bootstrap against brute force and its textbook variance, coverage on
simulated data, and Holm against the textbook example (and statsmodels where installed)."""

import doctest
import importlib
import math
import pkgutil

import numpy as np
import pytest

import jaxcnn
from jaxcnn import stats as S

# Two-sided 95% critical values (t_{0.975, df}) and a few others, from standard t tables.
T_TABLE = [
    (0.975, 1, 12.7062047),
    (0.975, 2, 4.3026527),
    (0.975, 3, 3.1824463),
    (0.975, 4, 2.7764451),
    (0.975, 9, 2.2621572),
    (0.975, 29, 2.0452296),
    (0.975, 120, 1.9799304),
    (0.975, 1000, 1.9623391),
    (0.95, 5, 2.0150484),
    (0.995, 10, 3.1692727),
    (0.9, 1, 3.0776835),
    (0.99, 2, 6.9645567),
]


@pytest.mark.parametrize("p,df,want", T_TABLE, ids=[f"p{p}-df{df}" for p, df, _ in T_TABLE])
def test_t_quantile_table_values(p, df, want):
    assert abs(S.t_quantile(p, df) - want) < 1e-6
    assert abs(S.t_quantile(1 - p, df) + want) < 1e-6  # symmetry


def test_t_quantile_large_df_is_normal():
    z = 1.959963985
    assert abs(S.t_quantile(0.975, 1e9) - z) < 1e-8
    assert abs(S.t_quantile(0.975, math.inf) - z) < 1e-8
    assert S.t_quantile(0.5, 7) == 0.0
    # Monotone in df (heavier tails for fewer degrees of freedom), across the switch to
    # the series expansion at df = 1000.
    dfs = [1, 1.5, 3, 10, 100, 999, 1000, 1001, 1e4, 1e6]
    ts = [S.t_quantile(0.975, df) for df in dfs]
    assert all(a > b for a, b in zip(ts, ts[1:]))


def test_t_quantile_matches_scipy_on_a_grid():
    stats = pytest.importorskip("scipy.stats")  # test-only reference
    worst = 0.0
    for df in (0.3, 1, 1.5, 2, 2.5, 5, 17.5, 60, 500, 999, 1001, 5e3, 1e5, 1e8):
        for p in (1e-9, 1e-4, 0.01, 0.025, 0.2, 0.49, 0.51, 0.9, 0.975, 0.999):
            want = float(stats.t.ppf(p, df))
            got = S.t_quantile(p, df)
            worst = max(worst, abs(got - want) / max(1.0, abs(want)))
    assert worst < 1e-8, worst


@pytest.mark.parametrize("p,df,msg", [
    (0.0, 3, "p: expected a probability in (0, 1), got 0.0"),
    (1.0, 3, "p: expected a probability in (0, 1), got 1.0"),
    (math.nan, 3, "p: expected a probability in (0, 1), got nan"),
    (0.9, 0, "df: expected a positive number of degrees of freedom, got 0.0"),
    (0.9, -2, "df: expected a positive number of degrees of freedom, got -2.0"),
    (0.9, math.nan, "df: expected a positive number of degrees of freedom, got nan"),
    ("0.9", 3, "p: expected a number, got '0.9'"),
    (0.9, True, "df: expected a number, got True"),
])
def test_t_quantile_bad_inputs(p, df, msg):
    with pytest.raises(ValueError) as e:
        S.t_quantile(p, df)
    assert str(e.value) == msg


def test_summary():
    s = S.summary([1.0, 2.0, 4.0])
    assert s == {"mean": pytest.approx(7 / 3), "std": pytest.approx(math.sqrt(7 / 3)), "n": 3}
    assert S.summary(np.array([0.5], np.float32)) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert all(type(v) in (float, int) for v in s.values())  # JSON-ready


@pytest.mark.parametrize("values,msg", [
    ([], "values: expected at least 1 value, got 0"),
    ([[1.0, 2.0]], "values: expected a 1-D sequence of numbers, got shape (1, 2)"),
    ([1.0, math.nan, 2.0], "values[1]: expected a finite value, got nan"),
    ([1.0, math.inf], "values[1]: expected a finite value, got inf"),
    (["a"], "values: expected a 1-D sequence of numbers, got ['a']"),
])
def test_summary_bad_inputs(values, msg):
    with pytest.raises(ValueError) as e:
        S.summary(values)
    assert str(e.value) == msg


def test_paired_difference_textbook_case():
    # d = a - b = [0.5, 1, 1.5, 0, 2]: mean 1, sum of squares 2.5, sd = sqrt(2.5 / 4).
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    b = [0.5, 1.0, 1.5, 4.0, 3.0]
    sd = math.sqrt(2.5 / 4)
    half = 2.7764451 * sd / math.sqrt(5)  # t_{0.975, 4}
    d = S.paired_difference(a, b)
    assert d["n"] == 5 and d["confidence"] == 0.95
    # t = 1 / (sd / sqrt(5)) = 2.8284271 on 4 df: two-sided p = 0.0474207 (t tables)
    assert d["p_value"] == pytest.approx(0.0474207, abs=1e-6)
    assert d["mean"] == pytest.approx(1.0, abs=1e-12)
    assert d["std"] == pytest.approx(sd, abs=1e-12)
    assert d["half_width"] == pytest.approx(half, abs=1e-6)
    assert d["ci_low"] == pytest.approx(1.0 - half, abs=1e-6)
    assert d["ci_high"] == pytest.approx(1.0 + half, abs=1e-6)
    assert S.format_ci(d, digits=2) == "+1.00 [+0.02, +1.98]"
    # 99%: t_{0.995, 4} = 4.6040949; swapping a and b flips the interval.
    d99 = S.paired_difference(b, a, confidence=0.99)
    half99 = 4.6040949 * sd / math.sqrt(5)
    assert d99["mean"] == pytest.approx(-1.0, abs=1e-12)
    assert d99["ci_low"] == pytest.approx(-1.0 - half99, abs=1e-6)
    assert d99["ci_high"] == pytest.approx(-1.0 + half99, abs=1e-6)


def test_paired_difference_single_pair_has_nan_interval():
    d = S.paired_difference([0.9], [0.8])
    assert d["mean"] == pytest.approx(0.1) and d["std"] == 0.0 and d["n"] == 1
    assert math.isnan(d["ci_low"]) and math.isnan(d["ci_high"]) and math.isnan(d["half_width"])
    assert math.isnan(d["p_value"])
    assert S.format_ci(d, scale=100) == "+10.0 (n=1)"


def test_paired_difference_identical_runs_have_zero_width():
    d = S.paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert d["ci_low"] == d["ci_high"] == d["mean"] == 1.0
    assert d["p_value"] == 0.0  # a constant nonzero difference
    assert S.paired_difference([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0


@pytest.mark.parametrize("a,b,kw,msg", [
    ([1, 2, 3, 4, 5], [1, 2, 3, 4], {}, "b: expected 5 values like a, got 4"),
    ([], [], {}, "a: expected at least 1 value, got 0"),
    ([1, 2], [1, math.nan], {}, "b[1]: expected a finite value, got nan"),
    ([math.inf, 2], [1, 2], {}, "a[0]: expected a finite value, got inf"),
    ([1, 2], [1, 2], {"confidence": 1.0}, "confidence: expected a number in (0, 1), got 1.0"),
    ([1, 2], [1, 2], {"confidence": 95}, "confidence: expected a number in (0, 1), got 95.0"),
    ([1, 2], [1, 2], {"confidence": None}, "confidence: expected a number, got None"),
])
def test_paired_difference_bad_inputs(a, b, kw, msg):
    with pytest.raises(ValueError) as e:
        S.paired_difference(a, b, **kw)
    assert str(e.value) == msg


def test_format_mean_std():
    assert S.format_mean_std({"mean": 0.93125, "std": 0.0041, "n": 5}, scale=100) == "93.1 ± 0.4"
    assert S.format_mean_std(S.summary([1.0, 2.0, 3.0]), digits=3) == "2.000 ± 1.000"
    assert S.format_mean_std({"mean": 12.0, "std": 0.0, "n": 1}, digits=0) == "12"


def test_format_ci():
    d = {"mean": 0.023, "ci_low": 0.011, "ci_high": 0.035, "n": 5}
    assert S.format_ci(d, scale=100) == "+2.3 [+1.1, +3.5]"
    d = {"mean": -0.5, "ci_low": -1.25, "ci_high": 0.25, "n": 3}
    assert S.format_ci(d, digits=2) == "-0.50 [-1.25, +0.25]"


@pytest.mark.parametrize("call,msg", [
    (lambda: S.format_mean_std({"mean": 1.0, "n": 2}),
     "summary: expected a mapping with keys mean, std, n, got ['mean', 'n']"),
    (lambda: S.format_mean_std([1.0, 2.0]),
     "summary: expected a mapping with keys mean, std, n, got list"),
    (lambda: S.format_mean_std({"mean": "x", "std": 0.1, "n": 2}),
     "summary['mean']: expected a number, got 'x'"),
    (lambda: S.format_mean_std({"mean": 1.0, "std": 0.1, "n": 2}, digits=-1),
     "digits: expected an int >= 0, got -1"),
    (lambda: S.format_ci({"mean": 1.0, "ci_low": 0.0, "n": 2}),
     "diff: expected a mapping with keys mean, ci_low, ci_high, n, got ['ci_low', 'mean', 'n']"),
    (lambda: S.format_ci({"mean": 1.0, "ci_low": 0.0, "ci_high": 2.0, "n": 2}, scale=math.inf),
     "scale: expected a finite number, got inf"),
])
def test_format_bad_inputs(call, msg):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == msg


def test_docstring_examples():
    attempted = 0
    for mod in [S, *(importlib.import_module(f"jaxcnn.stats.{m.name}")
                     for m in pkgutil.iter_modules(S.__path__))]:
        result = doctest.testmod(mod, raise_on_error=False, extraglobs={"np": np})
        assert result.failed == 0, mod.__name__
        attempted += result.attempted
    assert attempted >= 35


def test_lazy_import():
    assert jaxcnn.stats is S


# ------------------------------------------------------------------ t CDF and p-values


@pytest.mark.parametrize("p,df,t", T_TABLE, ids=[f"p{p}-df{df}" for p, df, _ in T_TABLE])
def test_t_cdf_inverts_the_table(p, df, t):
    assert S.t_cdf(t, df) == pytest.approx(p, abs=1e-7)
    assert S.t_cdf(-t, df) == pytest.approx(1 - p, abs=1e-7)
    assert S.t_two_sided_p(t, df) == pytest.approx(2 * (1 - p), abs=1e-7)


def test_t_cdf_closed_forms_and_limits():
    for t in (-7.0, -1.3, 0.0, 0.4, 2.5, 30.0):
        assert S.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert S.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    assert S.t_cdf(1.959963985, math.inf) == pytest.approx(0.975, abs=1e-9)
    assert S.t_cdf(math.inf, 3) == 1.0 and S.t_cdf(-math.inf, 3) == 0.0
    assert S.t_two_sided_p(0.0, 5) == 1.0 and S.t_two_sided_p(-math.inf, 5) == 0.0
    # 2-sided p of the paired t test, df = 2, t = 7: 1 - 7 / sqrt(51) (df = 2 closed form)
    assert S.t_two_sided_p(7.0, 2) == pytest.approx(1 - 7 / math.sqrt(51), abs=1e-12)


def test_t_cdf_matches_scipy_on_a_grid():
    stats = pytest.importorskip("scipy.stats")
    for df in (0.5, 1, 3, 7.5, 30, 999, 1e5):
        for t in (-40.0, -3.0, -0.2, 0.0, 1.0, 2.5, 12.0):
            assert S.t_cdf(t, df) == pytest.approx(float(stats.t.cdf(t, df)), abs=1e-10)
            assert S.t_two_sided_p(t, df) == pytest.approx(
                float(2 * stats.t.sf(abs(t), df)), abs=1e-10)


@pytest.mark.parametrize("call,msg", [
    (lambda: S.t_cdf(math.nan, 3), "t: expected a number (not NaN), got nan"),
    (lambda: S.t_two_sided_p(math.nan, 3), "t: expected a number (not NaN), got nan"),
    (lambda: S.t_cdf(1.0, 0), "df: expected a positive number of degrees of freedom, got 0.0"),
    (lambda: S.t_cdf("1", 3), "t: expected a number, got '1'"),
    (lambda: S.t_two_sided_p(1.0, math.nan),
     "df: expected a positive number of degrees of freedom, got nan"),
])
def test_t_cdf_bad_inputs(call, msg):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == msg


def test_paired_t_p_value_agrees_with_the_interval():
    # p <= 1 - confidence exactly when the interval excludes 0 (same t distribution).
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(2, 9))
        a, b = rng.normal(size=n), rng.normal(size=n) + rng.normal() * 0.8
        d = S.paired_difference(a, b, confidence=0.9)
        excludes = d["ci_low"] > 0 or d["ci_high"] < 0
        if abs(d["p_value"] - 0.1) > 1e-9:
            assert excludes == (d["p_value"] < 0.1)


# ------------------------------------------------------------------ Holm


def test_holm_textbook_example():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    # (running max). In input order:
    r = S.holm([0.01, 0.04, 0.03, 0.005])
    assert r["p_adjusted"] == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert r["reject"] == [True, False, False, True]
    assert r["alpha"] == 0.05 and r["m"] == 4
    # Step-down stops at the first failure: 0.03 > 0.05 / 2, so 0.04 <= 0.05 is not rejected
    # even though it would be on its own.
    assert S.holm([0.01, 0.04, 0.03, 0.005], alpha=0.1)["reject"] == [True, True, True, True]
    assert S.holm([0.2])["p_adjusted"] == [0.2]
    r = S.holm(np.array([0.5, 0.5, 0.0, 1.0]))
    assert r["p_adjusted"] == [1.0, 1.0, 0.0, 1.0] and r["reject"] == [False, False, True, False]
    assert all(type(v) is float for v in r["p_adjusted"])
    assert all(type(v) is bool for v in r["reject"])


def test_holm_against_bonferroni_and_the_step_down_rule():
    rng = np.random.default_rng(11)
    for _ in range(300):
        m = int(rng.integers(1, 12))
        p = rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3)
        r = S.holm(p, alpha=0.05)
        adj = np.array(r["p_adjusted"])
        assert np.all(adj >= p - 1e-15) and np.all(adj <= np.minimum(1, m * p) + 1e-15)
        # the rule itself: reject p_(1..k) where k is the first i with p_(i) > alpha/(m-i+1)
        order = np.argsort(p, kind="stable")
        ok = p[order] <= 0.05 / (m - np.arange(m))
        k = m if ok.all() else int(np.argmin(ok))
        expect = np.zeros(m, bool)
        expect[order[:k]] = True
        assert r["reject"] == expect.tolist()


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(2)
    for _ in range(50):
        p = rng.uniform(0, 0.3, int(rng.integers(1, 15)))
        reject, adj, _, _ = multitest.multipletests(p, alpha=0.05, method="holm")
        r = S.holm(p)
        np.testing.assert_allclose(r["p_adjusted"], adj, atol=1e-15)
        assert r["reject"] == reject.tolist()


@pytest.mark.parametrize("p,kw,msg", [
    ([], {}, "p_values: expected at least 1 p-value, got 0"),
    ([0.1, math.nan], {}, "p_values[1]: expected a probability in [0, 1], got nan"),
    ([1.5], {}, "p_values[0]: expected a probability in [0, 1], got 1.5"),
    ([0.2, -0.01], {}, "p_values[1]: expected a probability in [0, 1], got -0.01"),
    ([[0.1, 0.2]], {}, "p_values: expected a 1-D sequence of probabilities, got shape (1, 2)"),
    (["x"], {}, "p_values: expected a 1-D sequence of probabilities, got ['x']"),
    ([0.1], {"alpha": 0.0}, "alpha: expected a number in (0, 1), got 0.0"),
    ([0.1], {"alpha": math.nan}, "alpha: expected a number in (0, 1), got nan"),
])
def test_holm_bad_inputs(p, kw, msg):
    with pytest.raises(ValueError) as e:
        S.holm(p, **kw)
    assert str(e.value) == msg


# ------------------------------------------------------------------ seeds x test examples


def _anova_by_hand(y):
    """Sums of squares of a two-way table by the textbook loops (one cell per pair)."""
    y = np.asarray(y, float)
    R, C = y.shape
    g = sum(y[i, j] for i in range(R) for j in range(C)) / (R * C)
    rows = [sum(y[i]) / C for i in range(R)]
    cols = [sum(y[:, j]) / R for j in range(C)]
    ss_a = C * sum((r - g) ** 2 for r in rows)
    ss_b = R * sum((c - g) ** 2 for c in cols)
    ss_t = sum((y[i, j] - g) ** 2 for i in range(R) for j in range(C))
    ss_e = ss_t - ss_a - ss_b  # the identity SS_total = SS_A + SS_B + SS_E
    return ss_a / (R - 1), ss_b / (C - 1), ss_e / ((R - 1) * (C - 1))


def test_crossed_interval_hand_computed():
    y = np.array([[1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 1, 1], [1, 1, 0, 1, 0, 1]], bool)
    R, C = y.shape
    ms_a, ms_b, ms_e = _anova_by_hand(y)
    var_seed, var_ex = (ms_a - ms_e) / C, (ms_b - ms_e) / R
    assert ms_a == 0.0  # every seed scores 4 / 6
    assert var_ex > 0 and var_seed < 0  # truncated: the seed term drops out
    var_mean = var_ex / C + ms_e / (R * C)  # = MS_B / (R C): one mean square, so df = C - 1
    r = S.accuracy_interval(y)
    assert r["mean"] == pytest.approx(2 / 3, abs=1e-15)
    assert r["var_seed"] == 0.0 and r["var_example"] == pytest.approx(var_ex, abs=1e-12)
    assert r["var_residual"] == pytest.approx(ms_e, abs=1e-12)
    assert r["se"] == pytest.approx(math.sqrt(var_mean), abs=1e-12)
    assert r["se"] == pytest.approx(math.sqrt(ms_b / (R * C)), abs=1e-12)
    assert r["df"] == C - 1
    half = S.t_quantile(0.975, C - 1) * math.sqrt(var_mean)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2 / 3 - half, 2 / 3 + half))
    assert r["n"] == r["n_seeds"] == 3 and r["n_test"] == 6 and r["method"] == "crossed"


def test_crossed_interval_unbiased_combination_and_satterthwaite():
    rng = np.random.default_rng(0)
    y = (rng.random((6, 300)) < np.clip(rng.normal(0.8, 0.2, 300)[None]
                                        + rng.normal(0, 0.05, 6)[:, None], 0, 1))
    ms_a, ms_b, ms_e = _anova_by_hand(y)
    R, C = y.shape
    assert ms_a > ms_e and ms_b > ms_e  # no truncation: the unbiased combination
    v = (ms_a + ms_b - ms_e) / (R * C)
    df = (ms_a + ms_b - ms_e) ** 2 / (ms_a ** 2 / (R - 1) + ms_b ** 2 / (C - 1)
                                      + ms_e ** 2 / ((R - 1) * (C - 1)))
    r = S.accuracy_interval(y, confidence=0.9)
    assert r["se"] == pytest.approx(math.sqrt(v), rel=1e-12)
    assert r["df"] == pytest.approx(df, rel=1e-12)
    assert r["half_width"] == pytest.approx(S.t_quantile(0.95, df) * math.sqrt(v), rel=1e-12)


def test_crossed_limits_are_the_one_factor_t_intervals():
    rng = np.random.default_rng(1)
    a, b = rng.random((7, 1)) < 0.6, rng.random((7, 1)) < 0.5
    # one test example: exactly the paired t interval over seeds
    d = S.accuracy_difference(a, b)
    ref = S.paired_difference(a[:, 0].astype(float), b[:, 0].astype(float))
    for k in ("mean", "ci_low", "ci_high", "half_width", "p_value"):
        assert d[k] == pytest.approx(ref[k], abs=1e-12), k
    assert d["df"] == 6
    # one seed: the t interval over test examples (their sample variance / T, T - 1 df)
    y = rng.random((1, 50)) < 0.7
    r = S.accuracy_interval(y)
    half = S.t_quantile(0.975, 49) * y.std(ddof=1) / math.sqrt(50)
    assert r["half_width"] == pytest.approx(half, abs=1e-12) and r["df"] == 49
    # one cell: nothing to estimate a spread from
    for method in ("crossed", "bootstrap"):
        one = S.accuracy_difference([[True]], [[False]], method=method, n_boot=100)
        assert one["mean"] == 1.0 and math.isnan(one["ci_low"]) and math.isnan(one["p_value"])


def test_identical_models_and_constant_differences():
    rng = np.random.default_rng(3)
    y = rng.random((4, 30)) < 0.8
    for method in ("crossed", "bootstrap"):
        d = S.accuracy_difference(y, y, method=method, n_boot=200)
        assert d["mean"] == d["ci_low"] == d["ci_high"] == 0.0 and d["p_value"] == 1.0
        ones = np.ones((4, 30), bool)
        d = S.accuracy_difference(ones, ~ones, method=method, n_boot=200)
        assert d["mean"] == d["ci_low"] == d["ci_high"] == 1.0
        assert d["p_value"] == (0.0 if method == "crossed" else 2 / 201)


def test_bootstrap_replicates_are_the_two_way_resample():
    # Brute force with the same draws: seed rows first, then example columns per chunk.
    from jaxcnn.stats.crossed import bootstrap_means

    rng = np.random.default_rng(9)
    y = (rng.random((3, 7)) < 0.6).astype(float)
    reps = bootstrap_means(y, seed=4, n_boot=300)
    draw = np.random.default_rng(4)
    rows = draw.integers(0, 3, size=(300, 3))
    cols = np.concatenate([draw.integers(0, 7, size=(n, 7)) for n in (256, 44)])
    expect = [y[rows[b]][:, cols[b]].mean() for b in range(300)]
    np.testing.assert_allclose(reps, expect, atol=1e-15)


def test_bootstrap_is_seeded_and_has_the_plug_in_binomial_variance():
    rng = np.random.default_rng(4)
    y = rng.random((1, 1000)) < 0.9
    r1 = S.accuracy_interval(y, method="bootstrap", seed=3, n_boot=4000)
    assert r1 == S.accuracy_interval(y, method="bootstrap", seed=3, n_boot=4000)
    assert r1 != S.accuracy_interval(y, method="bootstrap", seed=4, n_boot=4000)
    # One seed: resampling T examples gives var = p (1 - p) / T (the plug-in binomial),
    # estimated from 4000 replicates to ~1.1% (relative, sd of an sd); 5% tolerance.
    p = y.mean()
    assert r1["se"] == pytest.approx(math.sqrt(p * (1 - p) / 1000), rel=0.05)
    # the percentile interval is then close to the normal one
    assert r1["half_width"] == pytest.approx(1.96 * r1["se"], rel=0.1)
    assert r1["n_boot"] == 4000 and r1["seed"] == 3 and r1["method"] == "bootstrap"
    assert all(type(v) in (float, int, str) for v in r1.values())


def _truth(mu, sd):
    """E[sigmoid(X)], X ~ N(mu, sd^2), by Gauss-Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    return float(np.sum(w / (1 + np.exp(-(mu + sd * x)))) / math.sqrt(2 * math.pi))


@pytest.mark.parametrize("seed_sd", [0.05, 0.3])
def test_coverage_on_simulated_seeds_by_examples(seed_sd):
    # Correctness y[s, t] ~ Bernoulli(sigmoid(difficulty_t + shift_s)), difficulty ~ N(2.5,
    # 1.5^2), shift ~ N(0, seed_sd^2): about 90% accuracy, 5 seeds, 400 test examples.
    # The truth is the accuracy expected over a new seed AND a new test example.
    rng = np.random.default_rng(2024)
    truth = _truth(2.5, math.hypot(1.5, seed_sd))
    hits = {"crossed": 0, "bootstrap": 0, "t_seeds": 0}
    reps = 300
    for r in range(reps):
        logit = rng.normal(2.5, 1.5, 400)[None] + rng.normal(0, seed_sd, 5)[:, None]
        y = rng.random((5, 400)) < 1 / (1 + np.exp(-logit))
        for method in ("crossed", "bootstrap"):
            i = S.accuracy_interval(y, method=method, seed=r, n_boot=400)
            hits[method] += i["ci_low"] <= truth <= i["ci_high"]
        acc = y.mean(axis=1)
        hits["t_seeds"] += abs(acc.mean() - truth) <= (S.t_quantile(0.975, 4) *
                                                      acc.std(ddof=1) / math.sqrt(5))
    cover = {k: v / reps for k, v in hits.items()}
    # 300 replications: a 95% coverage is estimated to +-0.013 (sd); bands of ~3 sd.
    assert 0.91 <= cover["crossed"] <= 0.99, cover
    assert 0.90 <= cover["bootstrap"] <= 0.995, cover
    if seed_sd == 0.05:  # the test set dominates: the t interval over seeds undercovers
        assert cover["t_seeds"] < 0.90, cover


def test_difference_p_values_under_the_null():
    # Two models with the same distribution on the same test examples (shared difficulty,
    # independent seeds and noise): the crossed test rejects at about its level; the
    # two-way bootstrap, which counts the seed x example interaction about three times
    # (Owen 2007), is very conservative for paired differences.
    rng = np.random.default_rng(7)
    reps, rejected = 300, {"crossed": 0, "bootstrap": 0}
    for r in range(reps):
        difficulty = rng.normal(2.5, 1.5, 400)[None]
        a, b = (rng.random((5, 400)) < 1 / (1 + np.exp(-(difficulty + rng.normal(
            0, 0.05, 5)[:, None]))) for _ in range(2))
        for method in rejected:
            p = S.accuracy_difference(a, b, method=method, seed=r, n_boot=400)["p_value"]
            rejected[method] += p <= 0.05
    rate = {k: v / reps for k, v in rejected.items()}
    assert 0.015 <= rate["crossed"] <= 0.09, rate  # 0.05 +- 3 sd of 300 replications
    assert rate["bootstrap"] <= 0.03, rate


@pytest.mark.parametrize("call,msg", [
    (lambda: S.accuracy_interval([1, 0, 1]),
     "correct: expected a 2-D (n_seeds, n_test) array of per-example correctness "
     "(bool or 0/1), got shape (3,)"),
    (lambda: S.accuracy_interval(np.zeros((2, 0))),
     "correct: expected at least 1 seed and 1 test example, got shape (2, 0)"),
    (lambda: S.accuracy_interval([[1, 0], [1, math.nan]]),
     "correct[1, 1]: expected 0 or 1 (wrong or right), got nan"),
    (lambda: S.accuracy_interval([[1, 0.5]]),
     "correct[0, 1]: expected 0 or 1 (wrong or right), got 0.5"),
    (lambda: S.accuracy_interval([["a", "b"]]),
     "correct: expected a 2-D (n_seeds, n_test) array of per-example correctness "
     "(bool or 0/1), got list"),
    (lambda: S.accuracy_difference([[1, 0]], [[1, 0, 1]]),
     "correct_b: expected shape (1, 2) (the same seeds and test examples as correct_a), "
     "got shape (1, 3)"),
    (lambda: S.accuracy_difference([[1, math.inf]], [[1, 0]]),
     "correct_a[0, 1]: expected 0 or 1 (wrong or right), got inf"),
    (lambda: S.accuracy_interval([[1, 0]], method="t"),
     "method: expected one of ('crossed', 'bootstrap'), got 't'"),
    (lambda: S.accuracy_interval([[1, 0]], method="bootstrap", n_boot=10),
     "n_boot: expected an int >= 100, got 10"),
    (lambda: S.accuracy_interval([[1, 0]], seed=-1), "seed: expected an int >= 0, got -1"),
    (lambda: S.accuracy_difference([[1]], [[0]], confidence=95),
     "confidence: expected a number in (0, 1), got 95.0"),
])
def test_accuracy_bad_inputs(call, msg):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == msg


# ------------------------------------------------------------------ report text


def test_format_p_and_describe():
    assert S.format_p(0.04742) == "0.047" and S.format_p(0.0) == "<0.001"
    assert S.format_p(math.nan) == "-" and S.format_p(0.5, digits=1) == "0.5"
    with pytest.raises(ValueError, match=r"^p: expected a probability in \[0, 1\], got 1.5$"):
        S.format_p(1.5)
    assert set(S.METHODS) == {"t_seeds", "crossed", "bootstrap", "holm"}
    assert "test-set sampling not included" in S.describe("t_seeds")
    assert S.describe("crossed").startswith("95% interval over seeds and test examples")
    assert "includes test-set sampling" in S.describe("crossed")
    assert "(2,000 replicates" in S.describe("bootstrap", n_boot=2000)
    assert "≤ 0.1 " in S.describe("holm", alpha=0.1)
    with pytest.raises(ValueError, match="^method: expected one of"):
        S.describe("anova")
