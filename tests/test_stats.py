"""Tests for jaxcnn.stats: t quantiles against table values, hand-computed intervals."""

import doctest
import math

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
    assert S.format_ci(d, scale=100) == "+10.0 (n=1)"


def test_paired_difference_identical_runs_have_zero_width():
    d = S.paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert d["ci_low"] == d["ci_high"] == d["mean"] == 1.0


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
    result = doctest.testmod(S, raise_on_error=False)
    assert result.attempted >= 6 and result.failed == 0


def test_lazy_import():
    assert jaxcnn.stats is S
