"""Tests for the calibrated metrics of jaxcnn.metrics (issue 21, issue 25 items 1-2).

Planted first layers with known answers: convolutions, units keeping different subsets
of a few shared filters, unrelated units of the same sparsity; sharing power at a given
sparsity; calibrated locality; functional translation equivariance; the census; the
learned change W − W0; non-finite input; the spatial-rank rule. The 2,000-unit versions
of the planted tests are marked slow (the sharing score is O(N²) and the test suite
compiles with XLA's cheapest settings).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import metrics as M

embed = pytest.importorskip("jaxcnn.embed")

A = np.asarray


def _normal(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


# ----------------------------------------------------------------------------- planted layers

# subsets of shared filters: (in_shape, window); a filter has 20 taps in the window
SUB = {"1d": ((100, 1), 25), "2d": ((28, 28, 1), 5)}


@functools.lru_cache(maxsize=None)
def subsets(seed, case, units, frac, keep, n_filters=4, taps=20):
    """``units`` units at random VALID positions, each with ``keep`` taps in its window:
    a fraction ``frac`` keep a random subset of one of ``n_filters`` shared ``taps``-tap
    filters (a different subset per unit), the others ``keep`` independent normal taps."""
    in_shape, k = SUB[case]
    rng = np.random.default_rng(seed)
    spatial, c = in_shape[:-1], in_shape[-1]
    n = len(spatial)
    d = k**n * c

    def filt(nt):
        f = np.zeros(d, np.float32)
        f[rng.choice(d, nt, replace=False)] = rng.standard_normal(nt)
        return f

    shared = [filt(taps) for _ in range(n_filters)]
    n_shared = int(round(frac * units))
    maps = np.zeros((units, *spatial, c), np.float32)
    for j in range(units):
        q = [int(rng.integers(0, s - k + 1)) for s in spatial]
        if j < n_shared:
            f = shared[j % n_filters].copy()
            nz = np.flatnonzero(f)
            f[rng.choice(nz, nz.size - keep, replace=False)] = 0.0
        else:
            f = filt(keep)
        maps[(j,) + tuple(slice(a, a + k) for a in q)] = f.reshape((k,) * n + (c,))
    w = maps.reshape(units, -1).T
    return np.ascontiguousarray(w[:, rng.permutation(units)])


def sharing(w, case, seed=0):
    in_shape, k = SUB[case]
    return M.weight_sharing_stats(w, in_shape, (k,) * (len(in_shape) - 1),
                                  key=jax.random.key(seed))


# conv layers of about 100 and 2,000 units: (in_shape, kernel shape), VALID, stride 1
CONVS = {
    ("1d", 100): ((104, 1), (5, 1, 1)),
    ("1d", 2000): ((104, 1), (5, 1, 20)),
    ("2d", 100): ((12, 12, 1), (3, 3, 1, 1)),
    ("2d", 2000): ((28, 28, 1), (5, 5, 1, 4)),  # 2,304 units
}


@functools.lru_cache(maxsize=None)
def conv_layer(case, units):
    in_shape, kshape = CONVS[(case, units)]
    w = A(embed.conv_to_dense(_normal(units, kshape), in_shape))
    return w, in_shape, kshape[:-2]


@functools.lru_cache(maxsize=None)
def smooth_inputs(in_shape, n=256, sigma=1.5, seed=0):
    """Gaussian-blurred white noise (neighbouring pixels correlate, as in images)."""
    x = _normal(seed, (n, *in_shape))
    axes = tuple(range(1, len(in_shape)))
    f = np.fft.fftn(x, axes=axes)
    grids = np.meshgrid(*[np.fft.fftfreq(s) for s in in_shape[:-1]], indexing="ij")
    g = np.exp(-2 * (np.pi * sigma) ** 2 * sum(k**2 for k in grids))
    return np.real(np.fft.ifftn(f * g[None, ..., None], axes=axes)).astype(np.float32)


def dense_fn(w):
    return lambda x: jnp.asarray(x).reshape(x.shape[0], -1) @ w


# ----------------------------------------------------------------------------- conv embeddings


def _check_conv_embedding(case, units):
    w, in_shape, ks = conv_layer(case, units)
    st = M.weight_sharing_stats(w, in_shape, ks)
    assert float(st.score) >= 0.95 and int(st.units) == w.shape[1], st
    cl = A(M.calibrated_locality(w, in_shape, ks))
    assert np.nanmean(cl) >= 0.95 and np.mean(np.isnan(cl)) == 0, cl
    eq = A(M.translation_equivariance(dense_fn(w), smooth_inputs(in_shape), shifts=(1, 2, 4)))
    assert np.all(eq >= 0.95), eq


@pytest.mark.parametrize("case", ["1d", "2d"])
def test_conv_embedding_scores_one_100_units(case):
    _check_conv_embedding(case, 100)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["1d", "2d"])
def test_conv_embedding_scores_one_2000_units(case):
    _check_conv_embedding(case, 2000)


# ----------------------------------------------------------------------------- shared subsets

FRACS = (0.0, 0.25, 0.5, 1.0)
KEEPS = (3, 5, 10, 20)


def _check_subsets(case, units):
    full = float(sharing(subsets(0, case, units, 1.0, 20), case).score)
    half = float(sharing(subsets(0, case, units, 1.0, 10), case).score)
    assert full >= 0.9 and half >= 0.6, (full, half)
    # unrelated units of the same taps per unit: mean of 5 draws, unclipped
    unrelated = [float(sharing(subsets(s, case, units, 0.0, 10), case, s).unclipped)
                 for s in range(5)]
    assert abs(np.mean(unrelated)) <= 0.1, unrelated
    # monotone in the shared fraction (half the taps kept) and in the taps kept (all shared)
    by_frac = [float(sharing(subsets(1, case, units, f, 10), case).score) for f in FRACS]
    by_keep = [float(sharing(subsets(1, case, units, 1.0, k), case).score) for k in KEEPS]
    for scores in (by_frac, by_keep):
        assert np.all(np.diff(scores) >= -0.05) and scores[-1] - scores[0] >= 0.8, scores
    assert by_frac[1] >= 0.15 and by_frac[2] >= 0.35, by_frac  # ≈ the planted fraction
    # two taps always fit each other: such units are not compared at all
    two = sharing(subsets(1, case, units, 1.0, 2), case)
    assert int(two.units) == 0 and np.isnan(float(two.score)), two


@pytest.mark.parametrize("case", ["1d", "2d"])
def test_shared_subsets_100_units(case):
    _check_subsets(case, 100)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["1d", "2d"])
def test_shared_subsets_2000_units(case):
    _check_subsets(case, 2000)


def test_sharing_stats_unclipped_terms():
    st = sharing(subsets(3, "2d", 100, 0.5, 10), "2d")
    np.testing.assert_allclose(st.difference, st.similarity - st.null_similarity, rtol=1e-6)
    np.testing.assert_allclose(st.unclipped, st.difference / (1 - st.null_similarity), rtol=1e-5)
    np.testing.assert_allclose(st.score, np.clip(st.unclipped, 0, 1), rtol=1e-6)
    # a comparison can fail either way: unrelated units sit on both sides of their null
    diffs = [float(sharing(subsets(s, "2d", 100, 0.0, 10), "2d", s).difference)
             for s in range(5)]
    assert min(diffs) < 0 < max(diffs), diffs


# ----------------------------------------------------------------------------- sharing power


def test_sharing_power_with_ten_taps():
    w = subsets(4, "2d", 100, 0.0, 10)  # unrelated units of 10 taps: only the supports count
    p = M.sharing_power(w, (28, 28, 1), (5, 5), fractions=(0.25, 1.0), draws=5)
    assert isinstance(p, M.SharingPower) and p.fractions == (0.25, 1.0) and p.draws == 5
    assert p.detection[0] >= 0.8 and p.detection[1] == 1.0, p
    assert 0.15 <= p.mean_score[0] <= 0.4 and p.mean_score[1] >= 0.9, p
    assert p.taps_median == 10 and p.units == 100 and p.threshold < 0.1, p


def test_sharing_power_none_with_one_or_two_taps():
    rng = np.random.default_rng(5)
    w = np.zeros((784, 100), np.float32)
    for j in range(100):  # 1 or 2 taps in a 5x5 window at a random position
        r, c = rng.integers(0, 24, 2)
        taps = rng.choice(25, rng.integers(1, 3), replace=False)
        w[(r + taps // 5) * 28 + c + taps % 5, j] = rng.standard_normal(taps.size)
    p = M.sharing_power(w, (28, 28, 1), (5, 5), fractions=(0.25,), draws=5)
    assert p.detection[0] <= 0.2 and p.taps_median <= 2, p
    # with approximate copies (10% jitter) ten taps still show
    w10 = subsets(4, "2d", 100, 0.0, 10)
    p10 = M.sharing_power(w10, (28, 28, 1), (5, 5), fractions=(0.25,), draws=3, noise=0.1)
    assert p10.detection[0] >= 0.6, p10


def test_sharing_power_arguments():
    w = subsets(4, "2d", 100, 0.0, 10)
    for kw, match in [({"fractions": ()}, r"^fractions: expected a non-empty"),
                      ({"fractions": (0.0,)}, r"^fractions: expected .*\(0, 1\]"),
                      ({"draws": 1}, r"^draws: expected an int >= 2"),
                      ({"noise": -1.0}, r"^noise: expected")]:
        with pytest.raises(ValueError, match=match):
            M.sharing_power(w, (28, 28, 1), (5, 5), **kw)


# ----------------------------------------------------------------------------- calibrated locality


def _three_tap_units(seed, compact, units=200, in_shape=(28, 28, 1)):
    rng = np.random.default_rng(seed)
    w = np.zeros((math.prod(in_shape), units), np.float32)
    for j in range(units):
        if compact:  # three taps inside a 3x3 patch
            r, c = rng.integers(0, 26, 2)
            t = rng.choice(9, 3, replace=False)
            idx = (r + t // 3) * 28 + c + t % 3
        else:  # three taps anywhere
            idx = rng.choice(784, 3, replace=False)
        w[idx, j] = rng.standard_normal(3)
    return w


def test_calibrated_locality_sparse_units():
    compact = A(M.calibrated_locality(_three_tap_units(0, True), (28, 28, 1), (5, 5)))
    scattered = A(M.calibrated_locality(_three_tap_units(1, False), (28, 28, 1), (5, 5)))
    raw = A(M.locality(_three_tap_units(1, False), (28, 28, 1), (5, 5)))
    assert raw.mean() > 0.5  # the raw fraction calls scattered 3-tap units local...
    assert compact.mean() >= 0.9 and scattered.mean() <= 0.1, (compact.mean(), scattered.mean())


def test_calibrated_locality_reference_values():
    w, in_shape, ks = conv_layer("2d", 100)
    lc = np.where(w != 0, _normal(6, w.shape), 0.0)
    assert np.nanmean(A(M.calibrated_locality(lc, in_shape, ks))) >= 0.95  # locally connected
    rnd = A(M.calibrated_locality(_normal(7, (144, 300)), in_shape, ks))
    assert abs(rnd.mean()) <= 0.05, rnd.mean()  # random dense: as local as scattered
    # undefined: a one-tap unit (every placement is local), an all-zero unit, a window
    # covering the input
    one = np.zeros((144, 3), np.float32)
    one[5, 0], one[[5, 6], 1] = 1.0, [1.0, -1.0]
    got = A(M.calibrated_locality(one, in_shape, ks))
    assert np.isnan(got[0]) and np.isnan(got[2]) and got[1] == pytest.approx(1.0)
    assert np.all(np.isnan(A(M.calibrated_locality(lc, in_shape, (12, 12)))))
    # deterministic by default, the key changes only the Monte Carlo null
    a = A(M.calibrated_locality(rnd_w := _normal(8, (144, 20)), in_shape, ks))
    np.testing.assert_array_equal(a, A(M.calibrated_locality(rnd_w, in_shape, ks)))
    b = A(M.calibrated_locality(rnd_w, in_shape, ks, key=jax.random.key(1)))
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 0.1
    f = jax.jit(lambda m, k: M.calibrated_locality(m, in_shape, ks, key=k))
    np.testing.assert_allclose(f(rnd_w, jax.random.key(0)), a, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- equivariance


@functools.lru_cache(maxsize=None)
def _equivariance_layers(case, units):
    w, in_shape, _ = conv_layer(case, units)
    lc = np.where(w != 0, _normal(9, w.shape), 0.0)
    rnd = _normal(10, w.shape)
    return in_shape, {"conv": w, "lcn": lc, "dense": rnd}


def _check_equivariance(case, units):
    in_shape, layers = _equivariance_layers(case, units)
    x = smooth_inputs(in_shape)
    got = {name: A(M.translation_equivariance(dense_fn(w), x, shifts=(1, 2, 4)))
           for name, w in layers.items()}
    assert np.all(got["conv"] >= 0.9), got
    assert np.all(got["dense"] <= 0.1) and np.all(got["lcn"] <= 0.1), got
    # with a nonlinearity too
    relu = {name: A(M.translation_equivariance(lambda a, w=w: jax.nn.relu(dense_fn(w)(a)), x,
                                               shifts=(1, 4)))
            for name, w in layers.items()}
    assert np.all(relu["conv"] >= 0.9) and np.all(relu["lcn"] <= 0.1), relu
    assert np.all(relu["dense"] <= 0.1), relu


@pytest.mark.parametrize("case", ["1d", "2d"])
def test_translation_equivariance_100_units(case):
    _check_equivariance(case, 100)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["1d", "2d"])
def test_translation_equivariance_2000_units(case):
    _check_equivariance(case, 2000)


def test_translation_equivariance_details():
    w, in_shape, _ = conv_layer("2d", 100)
    x = smooth_inputs(in_shape)
    # a conv layer given as a function of the image, output (N, H, W, C)
    kernel = _normal(100, (3, 3, 1, 1))
    from jaxcnn import conv

    got = A(M.translation_equivariance(lambda a: conv(a, kernel), x, shifts=(1,)))
    assert got.shape == (1,) and got[0] >= 0.95
    # max_units: a random subset of units is scored, every unit is a candidate
    sub = A(M.translation_equivariance(dense_fn(w), x, shifts=(2,), max_units=30))
    assert sub[0] >= 0.95
    # dead (constant) units are ignored; all constant -> NaN
    wd = np.concatenate([w, np.zeros((144, 10), np.float32)], axis=1)
    assert A(M.translation_equivariance(dense_fn(wd), x, shifts=(1,)))[0] >= 0.95
    assert np.isnan(A(M.translation_equivariance(lambda a: jnp.zeros((len(a), 5)), x,
                                                 shifts=(1,)))[0])
    for call, match in [
        (lambda: M.translation_equivariance(dense_fn(w), x, shifts=()), r"^shifts: expected"),
        (lambda: M.translation_equivariance(dense_fn(w), x, shifts=(0,)), r"^shifts: expected"),
        (lambda: M.translation_equivariance(dense_fn(w), x[0, 0], shifts=(1,)), r"^x: expected"),
        (lambda: M.translation_equivariance(dense_fn(w), x[:2], shifts=(1,)), r"^x: expected"),
        (lambda: M.translation_equivariance(3, x, shifts=(1,)), r"^apply_fn: expected"),
        (lambda: M.translation_equivariance(lambda a: a.sum(), x, shifts=(1,)),
         r"^apply_fn: expected responses"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()


# ----------------------------------------------------------------------------- census, W − W0


def test_census():
    w = np.zeros((10, 5), np.float32)
    w[:4, 0] = 1.0  # 4 equal taps: effective taps 4
    w[:2, 1] = [3.0, 1e-3]  # 2 taps, one dominating: effective taps ≈ 1
    w[0, 2] = -2.0
    c = M.census(w)
    assert isinstance(c, M.Census) and (c.units, c.dead) == (5, 2)
    assert c.dead_fraction == 0.4 and c.taps_median == 2.0
    assert (c.taps_q25, c.taps_q75) == (1.5, 3.0)
    assert c.effective_taps_median == pytest.approx(1.0, abs=1e-3)
    assert c.effective_taps_q75 == pytest.approx(2.5, abs=1e-3)
    assert all(isinstance(v, (int, float)) for v in c)
    dead = M.census(np.zeros((4, 3)))
    assert dead.dead_fraction == 1.0 and math.isnan(dead.taps_median)
    with pytest.raises(ValueError, match=r"^w0: expected shape \(10, 5\)"):
        M.census(w, w0=np.zeros((10, 4)))
    with pytest.raises(ValueError, match=r"^w: expected a dense weight"):
        M.census(np.zeros(4))


def test_metrics_of_the_learned_change():
    # an SGD-like layer: a large random initialisation plus a small learned convolution
    w_conv, in_shape, ks = conv_layer("2d", 100)
    w0 = _normal(11, w_conv.shape)
    w = w0 + 0.05 * w_conv
    assert float(M.weight_sharing(w, in_shape, ks)) <= 0.1  # the weights: the init
    assert abs(np.mean(A(M.calibrated_locality(w, in_shape, ks)))) <= 0.1
    assert float(M.weight_sharing(w - w0, in_shape, ks)) >= 0.95  # the change: a conv
    assert np.nanmean(A(M.calibrated_locality(w - w0, in_shape, ks))) >= 0.95
    assert M.census(w).taps_median == 144 and M.census(w, w0=w0).taps_median == 9
    x = smooth_inputs(in_shape)
    assert A(M.translation_equivariance(dense_fn(w - w0), x, shifts=(1,)))[0] >= 0.95


# ----------------------------------------------------------------------------- non-finite input


def _nonfinite_weights(value):
    w, in_shape, ks = conv_layer("2d", 100)
    w = w.copy()
    w[20, 7] = value  # one entry of unit 7
    return w, in_shape, ks


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_weights_never_score(value):
    w, in_shape, ks = _nonfinite_weights(value)
    bad = 7

    def per_unit_nan(x):  # NaN for the bad unit, finite elsewhere
        x = A(x)
        assert np.isnan(x[bad]).all() and np.isfinite(np.delete(x, bad, axis=0)).all(), x

    per_unit_nan(M.ipr(w))
    per_unit_nan(M.locality(w, in_shape, ks))
    per_unit_nan(M.best_window(w, in_shape, ks).fraction)
    per_unit_nan(M.best_window(w, in_shape, ks).center)
    per_unit_nan(M.receptive_field_center(w, in_shape))
    per_unit_nan(M.receptive_field_center(w, in_shape, periodic=True))
    cl = A(M.calibrated_locality(w, in_shape, ks))
    assert np.isnan(cl[bad]) and np.isfinite(np.delete(cl, bad)).all()
    mass = A(M.spatial_mass(w, in_shape))
    assert np.isnan(mass[bad]).any() and np.isfinite(np.delete(mass, bad, axis=0)).all()
    # whole-matrix scores: NaN
    for score in (M.weight_sharing(w, in_shape, ks),
                  *M.weight_sharing_stats(w, in_shape, ks)[:3],
                  *M.weight_sharing_stats(w, in_shape, ks)[4:],
                  M.aligned_filter_similarity(w, in_shape, ks),
                  M.conv_distance(w, in_shape, ks), M.local_distance(w, in_shape, ks),
                  jax.jit(lambda a: M.weight_sharing(a, in_shape, ks))(w)):
        assert np.isnan(float(score)), score
    assert np.isnan(A(M.aligned_filter_similarity(w, in_shape, ks, per_unit=True))).all()
    # host-side summaries: ValueError naming the argument
    for call, name in [(lambda: M.census(w), "w"), (lambda: M.census(np.zeros_like(w), w0=w), "w0"),
                       (lambda: M.sharing_power(w, in_shape, ks, draws=2), "w"),
                       (lambda: M.nonzeros({"layer": {"kernel": w}}), r"tree\['layer/kernel'\]"),
                       (lambda: M.sparsity([w]), r"tree\['0'\]")]:
        with pytest.raises(ValueError, match=rf"^{name}: expected finite values, got 1 non-finite"):
            call()
    # equivariance: non-finite inputs or responses
    x = smooth_inputs(in_shape).copy()
    assert np.isnan(A(M.translation_equivariance(dense_fn(w), x, shifts=(1,)))).all()
    x[3, 2, 2, 0] = value
    w_ok = conv_layer("2d", 100)[0]
    assert np.isnan(A(M.translation_equivariance(dense_fn(w_ok), x, shifts=(1,)))).all()


def test_one_nan_entry_turns_a_convolution_into_nan_not_zero():
    # issue 25: one NaN made a conv-embedded matrix score 0.0 ("not shared")
    w, in_shape, ks = _nonfinite_weights(np.nan)
    w_clean = conv_layer("2d", 100)[0]
    assert float(M.weight_sharing(w_clean, in_shape, ks)) > 0.99
    assert np.isnan(float(M.weight_sharing(w, in_shape, ks)))
    all_nan = np.full((144, 2), np.nan, np.float32)
    assert np.isnan(A(M.ipr(all_nan))).all()  # was 0
    assert np.isnan(A(M.locality(all_nan, in_shape, ks))).all()  # was 0


# ----------------------------------------------------------------------------- spatial rank


def test_spatial_rank_is_unambiguous():
    w = _normal(12, (784, 6))
    # issue 25: the channel axis forgotten, (28, 28) read as 1-D with 28 channels
    msg = r"^in_shape: expected \(\*spatial, C_in\) that reads one way with the int window 5"
    for f in (M.locality, M.best_window, M.weight_sharing, M.weight_sharing_stats,
              M.aligned_filter_similarity, M.calibrated_locality, M.sharing_power):
        with pytest.raises(ValueError, match=msg + r".*got \(28, 28\)$"):
            f(w, (28, 28), 5)
        # a tuple window fixes the rank; an in_shape of another rank is refused
        with pytest.raises(ValueError, match=r"^in_shape: expected \(\*spatial, C_in\) with 2 "
                           r"spatial dims for the 2-D window \(5, 5\).*got \(28, 28\)$"):
            f(w, (28, 28), (5, 5))
    with pytest.raises(ValueError, match=r"^in_shape: .*int kernel_size 3"):
        M.conv_distance(_normal(13, (300, 4)), (10, 10, 3), 3)
    with pytest.raises(ValueError, match=r"^in_shape: .*2-D kernel_size"):
        M.local_distance(_normal(13, (300, 4)), (100, 3), (3, 3))
    # unambiguous int windows: C_in = 1, C_in < window, 3 spatial dims
    np.testing.assert_allclose(A(M.locality(w, (28, 28, 1), 5)), A(M.locality(w, (28, 28, 1), (5, 5))))
    assert A(M.locality(w, (196, 4), 5)).shape == (6,)  # 1-D, 4 channels, window 5 > 4
    assert A(M.locality(_normal(14, (250, 3)), (5, 5, 5, 2), 2)).shape == (3,)
    assert A(M.locality(w, (28, 28), (5,))).shape == (6,)  # 1-D with 28 channels, if meant
    np.testing.assert_allclose(A(M.locality(w, (392, 2), (5,))), A(M.locality(w, (392, 2), 5)))
