"""experiments.harness.testnoise: packed per-example correctness and the crossed table cells."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from flax import nnx

from experiments.harness import testnoise as tn
from experiments.harness.tables import holm_cells
from jaxcnn import models, stats


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 1000, 1001])
def test_pack_round_trip_is_exact(n):
    rng = np.random.default_rng(n)
    for bits in (rng.random(n) < 0.8, np.ones(n, bool), np.zeros(n, bool)):
        packed = tn.pack_correct(bits)
        assert isinstance(packed, str) and packed.isascii()
        assert len(packed) == 4 * math.ceil(math.ceil(n / 8) / 3)  # base64 of ceil(n/8) bytes
        back = tn.unpack_correct(packed, n)
        assert back.dtype == bool and back.shape == (n,) and np.array_equal(back, bits)
    # 0/1 ints pack like bools; the record survives JSON
    ints = (rng.random(n) < 0.5).astype(int)
    assert tn.pack_correct(ints) == tn.pack_correct(ints.astype(bool))
    rec = json.loads(json.dumps(tn.correct_record(ints)))
    assert rec["n"] == n and np.array_equal(tn.correct_matrix([{tn.KEY: rec}])[0], ints)


@pytest.mark.parametrize("call, message", [
    (lambda: tn.pack_correct([[1, 0]]), ("correct: expected a 1-D array of per-example "
                                         "correctness (bool or 0/1), got shape (1, 2)")),
    (lambda: tn.pack_correct([1, 2]), "correct[1]: expected 0 or 1 (wrong or right), got 2"),
    (lambda: tn.pack_correct([1.0, float("nan")]),
     "correct[1]: expected 0 or 1 (wrong or right), got nan"),
    (lambda: tn.unpack_correct("sIA=", 17),
     "packed: expected 3 bytes for n=17 examples, got 2 bytes"),
    (lambda: tn.unpack_correct("sIA=", 8),
     "packed: expected 1 bytes for n=8 examples, got 2 bytes"),
    (lambda: tn.unpack_correct("s!A=", 9), "packed: expected a base64 string, got 's!A='"),
    (lambda: tn.unpack_correct(b"sIA=", 9), "packed: expected a base64 string, got bytes"),
    (lambda: tn.unpack_correct("sIA=", -1), "n: expected an int >= 0, got -1"),
    (lambda: tn.correct_matrix([{tn.KEY: {"n": 2, "packed": "wA=="}},
                                {tn.KEY: {"n": 3, "packed": "wA=="}}]),
     "test_correct: expected the same number of test examples for every seed, got [2, 3]"),
    (lambda: tn.correct_matrix([{tn.KEY: "wA=="}]),
     "per_seed[0]['test_correct']: expected a mapping with keys n, packed, got 'wA=='"),
    (lambda: tn.crossed_cells(np.ones((2, 3), bool), np.ones((2, 4), bool)), None),
    (lambda: tn.crossed_cells(np.ones((2, 3), bool), scale=0),
     "scale: expected a finite number > 0.0, got 0"),
    (lambda: tn.correct_of(lambda x: x, np.eye(3), np.zeros(2, int)),
     "y: expected 3 labels (one per input), got 2"),
    (lambda: tn.correct_of(3, np.eye(3), np.zeros(3, int)),
     "model_or_logits_fn: expected an nnx.Module or a function x -> logits, got int"),
])
def test_bad_input_is_one_value_error(call, message):
    with pytest.raises(ValueError) as e:
        call()
    if message is not None:
        assert str(e.value) == message
    else:
        assert ": expected " in str(e.value)


def test_a_padding_bit_is_refused():
    with pytest.raises(ValueError, match="packed: expected no bit set past example 9"):
        tn.unpack_correct("sMA=", 9)  # 0xB0 0xC0: bit 10 set


def test_correct_matrix_of_old_results_is_none():
    rec = tn.correct_record([True, False])
    assert tn.correct_matrix([{tn.KEY: rec}, {"test_acc": 0.5}]) is None
    assert tn.correct_matrix([]) is None


def _tables(seed=0, shape=(5, 400)):
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(2.0, 1.5, shape[1])
    a = rng.random(shape) < 1 / (1 + np.exp(-(difficulty + rng.normal(0, 0.3, (shape[0], 1)))))
    b = rng.random(shape) < 1 / (1 + np.exp(-(difficulty - 0.3)))
    return a, b


def test_crossed_cells_equal_jaxcnn_stats():
    a, b = _tables()
    assert tn.crossed_cells(a) == stats.accuracy_interval(a)
    assert tn.crossed_cells(a, b) == stats.accuracy_difference(a, b)
    assert tn.crossed_cells(a, b, confidence=0.9) == stats.accuracy_difference(
        a, b, confidence=0.9)
    direct, pct = stats.accuracy_difference(a, b), tn.crossed_cells(a, b, scale=100)
    assert set(pct) == set(direct)
    for k, v in direct.items():
        if k in ("mean", "ci_low", "ci_high", "half_width", "se"):
            assert pct[k] == pytest.approx(100 * v, rel=1e-12)
        elif k.startswith("var_"):
            assert pct[k] == pytest.approx(1e4 * v, rel=1e-12)
        else:
            assert pct[k] == v, k
    # the mean is the seeds' paired accuracy difference; the interval is wider than the
    # seed-only t interval here (test-set noise dominates)
    seeds = stats.paired_difference(a.mean(1), b.mean(1))
    assert direct["mean"] == pytest.approx(seeds["mean"], abs=1e-12)


def test_family_cells_format_and_holm():
    a, b = _tables(1)
    diffs = [tn.crossed_cells(a, b), tn.crossed_cells(b, a), tn.crossed_cells(a, a), None]
    cells = tn.family_cells(diffs, digits=3)
    assert [set(c) for c in cells] == [{tn.CI_COLUMN, tn.P_COLUMN, "significant"}] * 4
    for c, d in zip(cells[:3], diffs):
        assert c[tn.CI_COLUMN] == stats.format_ci(d, digits=3)
    # Holm over the whole family: the missing entry counts as p = 1
    ref = holm_cells([*diffs[:3], {"p_value": 1.0}])
    assert [c[tn.P_COLUMN] for c in cells[:3]] == [r["p (Holm)"] for r in ref[:3]]
    assert [c["significant"] for c in cells[:3]] == [r["significant"] for r in ref[:3]]
    assert cells[3] == {tn.CI_COLUMN: "-", tn.P_COLUMN: "-", "significant": "-"}
    assert cells[0][tn.P_COLUMN] == cells[1][tn.P_COLUMN]  # a − b and b − a: one test
    assert cells[2]["significant"] == "no"  # identical models
    short = tn.family_cells(diffs, digits=1, scale=100, mean=False)
    assert short[0][tn.CI_COLUMN] == stats.format_ci(diffs[0], digits=1, scale=100).split(" ", 1)[1]
    assert short[0][tn.CI_COLUMN].startswith("[")
    assert tn.family_cells([None, None]) == [{tn.CI_COLUMN: "-", tn.P_COLUMN: "-",
                                              "significant": "-"}] * 2


def test_correct_of_matches_the_training_definition():
    model = models.SFC((40, 1), 10, alpha=1, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).normal(size=(37, 40, 1)).astype(np.float32)
    y = np.arange(37) % 10
    got = tn.correct_of(model, x, y, batch_size=10)
    ref = nnx.clone(model)
    ref.eval()
    expected = np.argmax(np.asarray(ref(x)), -1) == y
    assert got.dtype == bool and np.array_equal(got, expected)
    # float targets (one-hot) count like their labels
    assert np.array_equal(tn.correct_of(model, x, np.eye(10)[y]), expected)
    assert np.array_equal(tn.correct_of(lambda xb: ref(xb), x, y, batch_size=64), expected)
    assert tn.correct_of(model, x[:0], y[:0]).shape == (0,)
