"""Tests for jaxcnn.metrics: planted structures with known scores."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from jaxcnn import metrics as M

_DN = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def conv_matrix(kernel, in_shape, *, circular=False):
    """Dense matrix of a stride-1 conv, built independently of jaxcnn.embed.

    Row i is the conv applied to the i-th one-hot input, so x.ravel() @ W == conv(x).ravel().
    VALID padding, or circular ("same"-size, wrap-around) when ``circular``.
    """
    d = math.prod(in_shape)
    n = len(in_shape) - 1
    x = np.eye(d, dtype=np.float32).reshape(d, *in_shape)
    if circular:
        ks = kernel.shape[:n]
        x = np.pad(x, [(0, 0)] + [((k - 1) // 2, k // 2) for k in ks] + [(0, 0)], mode="wrap")
    y = lax.conv_general_dilated(
        x, kernel, (1,) * n, "VALID", dimension_numbers=_DN[n], precision=lax.Precision.HIGHEST
    )
    return np.asarray(y).reshape(d, -1)


def _com(kernel_mass):
    """Centre of mass (per dim) of a (*k,) mass array, in kernel coordinates."""
    grids = np.meshgrid(*[np.arange(s) for s in kernel_mass.shape], indexing="ij")
    return np.array([(g * kernel_mass).sum() / kernel_mass.sum() for g in grids])


def _normal(seed, shape):
    # NumPy's seeded generator: explicit, reproducible, and no per-shape XLA compiles
    # (test inputs are built in NumPy throughout to keep the suite fast on CPU).
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


A = np.asarray


# ----------------------------------------------------------------------------- IPR


def test_ipr_reference_values():
    np.testing.assert_allclose(M.ipr(np.eye(5, dtype=np.float32)), np.ones(5))  # one-hot
    np.testing.assert_allclose(M.ipr(np.ones((8, 3), np.float32)), np.full(3, 1 / 8), rtol=1e-6)
    w = np.zeros((6, 2), np.float32)
    w[:3, 1] = [1.0, -1.0, 1.0]
    np.testing.assert_allclose(M.ipr(w), [0.0, 1 / 3], rtol=1e-6)  # all-zero unit -> 0
    # axis, scale invariance, float32 extremes (no under/overflow), no NaN gradient
    np.testing.assert_allclose(M.ipr(w.T, axis=1), [0.0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(M.ipr(np.float32(1e-25) * w), M.ipr(w), rtol=1e-6)
    np.testing.assert_allclose(M.ipr(np.float32(1e25) * w), M.ipr(w), rtol=1e-6)
    g = jax.grad(lambda a: M.ipr(a).sum())(w)
    assert np.all(np.isfinite(A(g)))
    # random Gaussian units: ≈ 3/D (and not the reciprocal)
    d = 1000
    r = A(jax.jit(M.ipr)(_normal(0, (d, 200))))
    np.testing.assert_allclose(r.mean() * d / 3, 1.0, atol=0.05)


# ----------------------------------------------------------------------------- planted (a)-(d)


IN2 = (10, 10, 3)
K2 = 3
W2 = (K2, K2)  # C_in = 3 = K2: an int window would be ambiguous (1-D with 10 channels?)
COUT2 = 4


@functools.lru_cache(maxsize=None)
def _conv2d():
    kernel = _normal(1, (K2, K2, IN2[-1], COUT2))
    return kernel, conv_matrix(kernel, IN2)  # (300, 8*8*4 = 256)


def test_conv_embedded_2d():
    kernel, w = _conv2d()
    assert w.shape == (300, 256)
    np.testing.assert_allclose(M.locality(w, IN2, W2), 1.0, atol=1e-6)
    assert float(M.locality(w, IN2, (2, 2)).max()) < 1.0  # a 3x3 kernel does not fit in 2x2
    assert float(M.weight_sharing(w, IN2, W2)) > 1 - 1e-5
    # IPR of unit (q, o) = IPR of kernel[..., o] (VALID conv: the unit *is* the kernel)
    k_ipr = A(M.ipr(kernel.reshape(-1, COUT2)))
    np.testing.assert_allclose(M.ipr(w), np.tile(k_ipr, 64), rtol=1e-5)
    # receptive-field centres: output position q + kernel centre of mass
    k_mass = (kernel**2).sum(axis=2)  # (3, 3, C_out)
    q = np.stack(np.meshgrid(np.arange(8), np.arange(8), indexing="ij"), -1).reshape(64, 1, 2)
    want = (q + np.stack([_com(k_mass[..., o]) for o in range(COUT2)])[None]).reshape(-1, 2)
    np.testing.assert_allclose(M.receptive_field_center(w, IN2), want, atol=1e-4)
    # best window: starts at the output position, centre q + 1
    win = M.best_window(w, IN2, W2)
    np.testing.assert_array_equal(A(win.start), np.repeat(q.reshape(64, 2), COUT2, axis=0))
    np.testing.assert_allclose(win.center, np.repeat(q.reshape(64, 2) + 1.0, COUT2, axis=0))


def test_locally_connected_random_2d():
    _, w_conv = _conv2d()
    w = np.where(w_conv != 0, _normal(2, w_conv.shape), 0.0)  # same support, independent
    np.testing.assert_allclose(M.locality(w, IN2, W2), 1.0, atol=1e-6)
    ws = float(M.aligned_filter_similarity(w, IN2, W2))
    chance = M.weight_sharing_chance(w.shape[1], 9 * IN2[-1])
    assert ws < 0.75
    np.testing.assert_allclose(ws, chance, rtol=0.1)
    assert float(M.weight_sharing(w, IN2, W2)) < 0.1  # calibrated: nothing shared


def test_random_dense_2d():
    in_shape = (16, 16, 2)
    d, n = 512, 256
    w = _normal(3, (d, n))
    loc = M.locality(w, in_shape, 3)
    ratio = A(loc).mean() / (9 / 256)
    assert 1.0 < ratio < 3.0  # ≈ window/total, inflated by the max over windows
    np.testing.assert_allclose(A(M.ipr(w)).mean() * d / 3, 1.0, atol=0.08)
    ws = float(M.aligned_filter_similarity(w, in_shape, 3))
    np.testing.assert_allclose(ws, M.weight_sharing_chance(n, 18), rtol=0.05)
    # documented asymptote: right order of magnitude, an over-estimate at this N, d
    assert 0.6 * math.sqrt(2 * math.log(n) / 18) < ws < math.sqrt(2 * math.log(n) / 18)
    ws5 = float(M.aligned_filter_similarity(w, in_shape, 5))
    np.testing.assert_allclose(ws5, M.weight_sharing_chance(n, 50), rtol=0.05)
    assert float(M.weight_sharing(w, in_shape, 3)) < 0.1


def test_one_hot_units():
    in_shape = (6, 5, 2)
    d = 60
    cols = np.array([0, 7, 33, 59])
    w = np.eye(d, dtype=np.float32)[:, cols]
    np.testing.assert_allclose(M.ipr(w), 1.0)
    np.testing.assert_allclose(M.locality(w, in_shape, (1, 1)), 1.0)
    np.testing.assert_allclose(M.locality(w, in_shape, (2, 3)), 1.0)
    pix = np.stack(np.unravel_index(cols, in_shape)[:2], -1).astype(np.float32)
    np.testing.assert_allclose(M.receptive_field_center(w, in_shape), pix, atol=1e-5)
    np.testing.assert_allclose(M.receptive_field_center(w, in_shape, periodic=True), pix, atol=1e-4)


def test_conv_embedded_1d():
    in_shape = (20, 2)
    kernel = _normal(4, (5, 2, 3))
    w = conv_matrix(kernel, in_shape)  # (40, 16*3)
    np.testing.assert_allclose(M.locality(w, in_shape, 5), 1.0, atol=1e-6)
    assert A(M.locality(w, in_shape, 4)).max() < 1.0
    assert float(M.weight_sharing(w, in_shape, 5)) > 1 - 1e-5
    k_mass = (kernel**2).sum(1)
    want = np.arange(16)[:, None, None] + np.stack([_com(k_mass[:, o]) for o in range(3)])[None]
    np.testing.assert_allclose(M.receptive_field_center(w, in_shape), want.reshape(-1, 1), atol=1e-4)
    # random 1-D dense: locality ≈ window/total (inflated by the max)
    r = M.locality(_normal(5, (40, 500)), in_shape, 5)
    assert 1.0 < A(r).mean() / (5 / 20) < 2.0


def test_conv_embedded_3d():
    in_shape = (5, 5, 5, 2)
    kernel = _normal(6, (3, 3, 3, 2, 2))
    w = conv_matrix(kernel, in_shape)  # (250, 27*2)
    np.testing.assert_allclose(M.locality(w, in_shape, 3), 1.0, atol=1e-6)
    np.testing.assert_allclose(M.locality(w, in_shape, (3, 3, 3), periodic=True), 1.0, atol=1e-6)
    assert float(M.weight_sharing(w, in_shape, 3)) > 1 - 1e-5
    assert M.receptive_field_center(w, in_shape).shape == (54, 3)
    lc = np.where(w != 0, _normal(7, w.shape), 0.0)
    assert float(M.aligned_filter_similarity(lc, in_shape, 3)) < 0.7
    assert float(M.weight_sharing(lc, in_shape, 3)) < 0.1


def test_circular_conv_needs_periodic():
    in_shape = (8, 8, 2)
    kernel = _normal(8, (3, 3, 2, 2))
    w = conv_matrix(kernel, in_shape, circular=True)  # (128, 8*8*2)
    np.testing.assert_allclose(M.locality(w, in_shape, 3, periodic=True), 1.0, atol=1e-6)
    flat = A(M.locality(w, in_shape, 3))
    assert flat.min() < 0.9 and flat.max() > 1 - 1e-6  # edge units wrap
    assert float(M.weight_sharing(w, in_shape, 3, periodic=True)) > 1 - 1e-5
    win = M.best_window(w, in_shape, 3, periodic=True)
    assert A(win.start).min() >= 0 and A(win.start).max() <= 7
    # centre of output q (padding 1 low) = q - 1 + com(kernel), mod 8
    k_mass = (kernel**2).sum(2)
    q = np.stack(np.meshgrid(np.arange(8), np.arange(8), indexing="ij"), -1).reshape(64, 1, 2)
    want = np.mod(q - 1 + np.stack([_com(k_mass[..., o]) for o in range(2)])[None], 8).reshape(-1, 2)
    got = A(M.receptive_field_center(w, in_shape, periodic=True))
    diff = np.abs(got - want)
    # the circular mean of a 3-wide bump equals its linear centre of mass up to a small bias
    np.testing.assert_array_less(np.minimum(diff, 8 - diff), 0.15)


# ----------------------------------------------------------------------------- details


def test_receptive_field_center_hand_cases():
    w = np.zeros((6, 3), np.float32)  # unit 2 all-zero
    w[[0, 5], 0] = 1.0
    w[2, 1] = 3.0
    c = A(M.receptive_field_center(w, (6, 1)))
    np.testing.assert_allclose(c[:2, 0], [2.5, 2.0])
    assert np.isnan(c[2, 0])
    cp = A(M.receptive_field_center(w, (6, 1), periodic=True))
    np.testing.assert_allclose(cp[:2, 0], [5.5, 2.0], atol=1e-5)  # wraps: between 5 and 0
    assert np.isnan(cp[2, 0])


def test_spatial_mass_and_best_window_ties():
    w = _normal(9, (24, 5))
    m = M.spatial_mass(w, (3, 4, 2))
    np.testing.assert_allclose(m, (w.T.reshape(5, 3, 4, 2) ** 2).sum(-1), rtol=1e-6)
    # mass spread evenly over 4 pixels of a 1-D signal: windows of size 6 tie -> first
    w = np.zeros((10, 2), np.float32)  # unit 1: all-zero
    w[3:7, 0] = 1.0
    win = jax.tree_util.tree_map(A, M.best_window(w, (10, 1), 6))
    assert win.start[0, 0] == 1 and win.fraction[0] == 1.0
    assert win.fraction[1] == 0.0 and win.start[1, 0] == 0
    win = jax.tree_util.tree_map(A, M.best_window(w, (10, 1), 2))
    np.testing.assert_allclose(win.fraction, [0.5, 0.0])
    assert win.start[0, 0] == 3 and win.center[0, 0] == 3.5
    # periodic window wrapping around the end
    w = np.zeros((10, 2), np.float32)
    w[[9, 0], 0] = 1.0
    assert A(M.locality(w, (10, 1), 2))[0] == 0.5
    win = jax.tree_util.tree_map(A, M.best_window(w, (10, 1), 2, periodic=True))
    assert win.fraction[0] == 1.0 and win.start[0, 0] == 9
    np.testing.assert_allclose(win.center[0], [9.5])


def test_aligned_filter_similarity_details():
    _, w = _conv2d()
    assert float(M.aligned_filter_similarity(w, IN2, W2)) > 1 - 1e-5
    wr = np.where(w != 0, _normal(10, w.shape), 0.0)
    full = float(M.aligned_filter_similarity(wr, IN2, W2))
    per = A(M.aligned_filter_similarity(wr, IN2, W2, per_unit=True, chunk_size=7))  # 37 chunks
    assert per.shape == (256,)
    np.testing.assert_allclose(per.mean(), full, rtol=1e-6)
    # a filter copied at one position only is not shared; units at one position -> NaN
    same_pos = np.zeros((10, 3), np.float32)
    same_pos[2:5] = _normal(11, (3, 3))
    assert np.isnan(float(M.aligned_filter_similarity(same_pos, (10, 1), 3)))
    # two copies at different positions plus one lonely unit at the first position
    k, k2 = np.array([1.0, 2.0, -1.0]), np.array([1.0, -1.0, 1.0])
    w2 = np.zeros((10, 3), np.float32)
    w2[0:3, 0], w2[5:8, 1], w2[0:3, 2] = k, -k, k2
    per = A(M.aligned_filter_similarity(w2, (10, 1), 3, per_unit=True))
    np.testing.assert_allclose(per[:2], 1.0, rtol=1e-6)  # |cos| = 1 (sign-flipped copy)
    np.testing.assert_allclose(per[2], abs(k @ k2) / np.linalg.norm(k) / np.linalg.norm(k2), rtol=1e-5)


def test_weight_sharing_chance_matches_monte_carlo():
    n, d = 64, 40
    v = _normal(12, (40, n, d)).astype(np.float64)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    c = np.abs(np.einsum("tid,tjd->tij", v, v)) - 2 * np.eye(n)
    mc = c.max(-1).mean()
    np.testing.assert_allclose(M.weight_sharing_chance(n, d), mc, rtol=0.03)
    np.testing.assert_allclose(M.weight_sharing_chance(2, 1000), math.sqrt(2 / (math.pi * 1000)), rtol=0.01)
    assert M.weight_sharing_chance(10**4, 20) < 1.0


# ----------------------------------------------------------------------------- weight sharing
#
# Planted first layers: `units` columns, each a filter on a window-sized support at a random
# VALID position (or, `padded`, at any position overlapping the input, cut off by its
# border); a fraction `frac` are copies of `n_filters` shared filters (at different
# positions), the others independent N(0, 1) filters. The contract: 1 for a conv (any
# padding), ≈ 0 for the permutation null, monotone in `frac` and stable in the number of
# units.

WS_CASES = {"1d": ((64, 2), 5), "2d": ((28, 28, 1), 5)}
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _planted(seed, in_shape, k, units, frac, n_filters=3, values=None, padded=False):
    rng = np.random.default_rng(seed)
    spatial, c = in_shape[:-1], in_shape[-1]
    n = len(spatial)
    rim = k - 1 if padded else 0  # zero padding around the input, cropped at the end
    positions = tuple(s - k + 1 + 2 * rim for s in spatial)
    draw = values or (lambda shape: rng.standard_normal(shape, dtype=np.float32))
    shared = [draw((k,) * n + (c,)) for _ in range(n_filters)]
    n_shared = int(round(frac * units))
    maps = np.zeros((units, *(s + 2 * rim for s in spatial), c), np.float32)
    for j in range(units):
        q = [int(rng.integers(0, p)) for p in positions]
        window = (j,) + tuple(slice(a, a + k) for a in q)
        maps[window] = shared[j % n_filters] if j < n_shared else draw((k,) * n + (c,))
    maps = maps[(slice(None),) + tuple(slice(rim, rim + s) for s in spatial)]
    w = maps.reshape(units, -1).T
    return np.ascontiguousarray(w[:, rng.permutation(units)])  # units are unordered


def _permuted_null(w, seed):
    """Same supports, values of each input feature permuted across the units using it."""
    rng = np.random.default_rng(seed)
    w = w.copy()
    for i in range(w.shape[0]):
        nz = np.flatnonzero(w[i])
        w[i, nz] = w[i, rng.permutation(nz)]
    return w


@functools.lru_cache(maxsize=None)
def _planted_scores(case, units, padded=False, seeds=3):
    in_shape, k = WS_CASES[case]
    return np.array([[float(M.weight_sharing(_planted(s, in_shape, k, units, f, padded=padded),
                                             in_shape, k))
                      for f in FRACTIONS] for s in range(seeds)]).mean(0)


@pytest.mark.parametrize("case", sorted(WS_CASES))
@pytest.mark.parametrize("c_out", [1, pytest.param(4, marks=pytest.mark.slow)])
def test_weight_sharing_conv_scores_one(case, c_out):
    embed = pytest.importorskip("jaxcnn.embed")
    in_shape, k = WS_CASES[case]
    n = len(in_shape) - 1
    kernel = _normal(20 + c_out, (k,) * n + (in_shape[-1], c_out))
    w = np.asarray(embed.conv_to_dense(kernel, in_shape))
    st = M.weight_sharing_stats(w, in_shape, k)
    assert float(st.score) > 1 - 1e-5 and float(st.similarity) > 1 - 1e-6
    assert float(st.null_similarity) < 0.95 and int(st.units) == w.shape[1]
    # a smaller kernel inside the window (tied windows), circular, strided: still 1
    small = _normal(30, (3,) * n + (in_shape[-1], c_out))
    assert float(M.weight_sharing(embed.conv_to_dense(small, in_shape), in_shape, k)) > 1 - 1e-5
    wc = embed.conv_to_dense(kernel, in_shape, padding="CIRCULAR")
    assert float(M.weight_sharing(wc, in_shape, k, periodic=True)) > 1 - 1e-5
    ws = embed.conv_to_dense(kernel, in_shape, strides=2)
    assert float(M.weight_sharing(ws, in_shape, k)) > 1 - 1e-5
    # and units in any order, rescaled, sign-flipped
    rng = np.random.default_rng(c_out)
    scale = rng.choice([-2.0, -0.5, 0.5, 3.0], size=w.shape[1]).astype(np.float32)
    assert float(M.weight_sharing((w * scale)[:, rng.permutation(w.shape[1])], in_shape, k)) > 1 - 1e-5


# zero-padded convs: (in_shape, kernel shape, conv_to_dense options, window). Their border
# units are cut-off copies of the kernel, on the top/left and on the bottom/right.
PADDED_CONVS = {
    "s-conv": ((40, 1), (9, 1, 16), {"strides": 2, "padding": "SAME"}, 9),  # the experiment's
    "1d-same": ((40, 1), (9, 1, 1), {"padding": "SAME"}, 9),
    "1d-int": ((64, 2), (5, 2, 4), {"strides": 2, "padding": 3}, 5),
    "1d-pairs": ((64, 2), (5, 2, 4), {"padding": ((4, 1),)}, 5),
    "1d-small": ((40, 1), (5, 1, 3), {"padding": "SAME"}, 9),  # kernel < window
    "1d-even": ((41, 1), (4, 1, 2), {"strides": 2, "padding": "SAME"}, 4),  # (1, 2) padding
    "2d-same": ((28, 28, 1), (5, 5, 1, 1), {"padding": "SAME"}, 5),
    "2d-k9-s2": ((28, 28, 1), (9, 9, 1, 2), {"strides": 2, "padding": "SAME"}, 9),
    "2d-small": ((12, 12, 3), (3, 3, 3, 4), {"padding": "SAME"}, 5),
    "2d-pairs": ((12, 12, 3), (3, 3, 3, 4), {"strides": 2, "padding": ((2, 0), (0, 2))}, 5),
    "3d-same": ((6, 6, 6, 2), (3, 3, 3, 2, 2), {"padding": "SAME"}, 3),
}


@pytest.mark.parametrize("case", sorted(PADDED_CONVS))
def test_weight_sharing_padded_conv_scores_one(case):
    embed = pytest.importorskip("jaxcnn.embed")
    in_shape, kshape, kw, win = PADDED_CONVS[case]
    # all kernel entries distinct (a random normal draw), so no two taps can stand in for
    # each other: a misaligned cut-off copy cannot match its full copies
    kernel = _normal(40 + sorted(PADDED_CONVS).index(case), kshape)
    assert np.unique(kernel).size == kernel.size
    w = np.asarray(embed.conv_to_dense(kernel, in_shape, **kw))
    st = M.weight_sharing_stats(w, in_shape, win)
    taps = np.sum(w != 0, axis=0)
    assert float(st.null_similarity) < 0.99 and int(st.units) == np.sum(taps >= 3), st
    # units in any order, rescaled, sign-flipped
    rng = np.random.default_rng(sorted(PADDED_CONVS).index(case))
    scale = rng.choice([-2.0, -0.5, 0.5, 3.0], size=w.shape[1]).astype(np.float32)
    ws = (w * scale)[:, rng.permutation(w.shape[1])]
    if taps.min() >= 5:
        assert float(st.score) > 1 - 1e-5 and float(st.similarity) > 1 - 1e-6, st
        assert float(M.weight_sharing(ws, in_shape, win)) > 1 - 1e-5
    else:
        # border units cut down to 3-4 taps can hardly be told from chance agreement
        # (the module's evidence): every unit of 5 or more taps has its full credit
        assert float(st.similarity) >= np.mean(taps[taps >= 3] >= 5) - 1e-6, st
        assert float(st.score) >= 0.85, st
        assert float(M.weight_sharing(ws, in_shape, win)) >= 0.85


def test_weight_sharing_padded_conv_integer_kernel():
    # exact arithmetic: distinct integer taps, 2-D SAME, stride 2, several channels
    embed = pytest.importorskip("jaxcnn.embed")
    kernel = np.random.default_rng(0).permutation(np.arange(1, 5 * 5 * 2 * 3 + 1))
    kernel = kernel.reshape(5, 5, 2, 3).astype(np.float32) * (-1.0) ** np.arange(3)
    w = embed.conv_to_dense(kernel, (16, 16, 2), strides=2, padding="SAME")
    st = M.weight_sharing_stats(w, (16, 16, 2), 5)
    assert float(st.score) > 1 - 1e-6 and float(st.similarity) > 1 - 1e-6, st


@pytest.mark.parametrize("case", ["2d-k9-s2", "2d-same", "2d-small", "3d-same"])
def test_weight_sharing_padded_sparse_conv_scores_one(case):
    # sparse kernels (exact zeros, e.g. after an L1 prox) and taps too small to change a
    # float sum of squares: the aligned windows are still exactly tied between copies.
    # (1-D kernels of 5-9 taps keep 2-4 at this density: too few to show sharing.)
    embed = pytest.importorskip("jaxcnn.embed")
    in_shape, kshape, kw, win = PADDED_CONVS[case]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        kernel = _normal(50 + seed, kshape) * (rng.random(kshape) < 0.4)
        kernel[rng.random(kshape) < 0.1] *= 1e-4
        w = embed.conv_to_dense(kernel, in_shape, **kw)
        assert float(M.weight_sharing(w, in_shape, win)) >= 0.9, seed


@pytest.mark.parametrize("case", ["s-conv", "1d-int", "2d-small"])
def test_weight_sharing_locally_connected_padded_scores_zero(case):
    # a padded conv's supports (cut off at the border) with independent weights: nothing shared
    embed = pytest.importorskip("jaxcnn.embed")
    in_shape, kshape, kw, win = PADDED_CONVS[case]
    w = np.asarray(embed.conv_to_dense(_normal(5, kshape), in_shape, **kw))
    scores = [float(M.weight_sharing(np.where(w != 0, _normal(s, w.shape), 0.0), in_shape, win))
              for s in range(3)]
    assert np.mean(scores) <= 0.1 and max(scores) <= 0.2, scores


@pytest.mark.parametrize("case", sorted(WS_CASES))
@pytest.mark.parametrize("units", [100, pytest.param(2000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("padded", [False, True])
def test_weight_sharing_null_scores_zero(case, units, padded):
    in_shape, k = WS_CASES[case]
    # the permutation null of fully shared units: same supports and values, nothing shared
    null = [float(M.weight_sharing(
        _permuted_null(_planted(s, in_shape, k, units, 1.0, padded=padded), s), in_shape, k))
        for s in range(5)]
    assert np.mean(null) <= 0.1 and max(null) <= 0.2, null
    # independent units of one sign: their raw similarity is high, but they share nothing
    rng = np.random.default_rng(units)
    pos = _planted(7, in_shape, k, units, 0.0, padded=padded,
                   values=lambda shape: np.abs(rng.standard_normal(shape, dtype=np.float32)))
    st = M.weight_sharing_stats(pos, in_shape, k)
    assert float(M.aligned_filter_similarity(pos, in_shape, k)) > 0.75
    assert float(st.score) <= 0.1 and abs(float(st.difference)) <= 0.1, st


@pytest.mark.parametrize("case", sorted(WS_CASES))
@pytest.mark.parametrize("padded", [False, True])
def test_weight_sharing_planted_fraction_monotone(case, padded):
    scores = _planted_scores(case, 100, padded)
    # (padded: a few copies are cut by the border down to too few taps to show sharing)
    assert scores[0] <= 0.1 and scores[-1] > (0.95 if padded else 1 - 1e-5), scores
    assert np.all(np.diff(scores) > 0.1), scores  # rises with the planted fraction
    np.testing.assert_allclose(scores, FRACTIONS, atol=0.12)  # ≈ the fraction of copies


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(WS_CASES))
@pytest.mark.parametrize("padded", [False, True])
def test_weight_sharing_planted_fraction_stable_in_units(case, padded):
    small, large = _planted_scores(case, 100, padded), _planted_scores(case, 2000, padded, 1)
    assert large[0] <= 0.1 and large[-1] > (0.95 if padded else 1 - 1e-5), large
    assert np.all(np.diff(large) > 0.1), large
    np.testing.assert_allclose(small, large, atol=0.1)  # no drift with the number of units
    if padded:
        return
    # the raw similarity it calibrates does drift: at fraction 0, 100 vs 2,000 units
    in_shape, k = WS_CASES[case]
    raw = [float(M.aligned_filter_similarity(_planted(0, in_shape, k, u, 0.0), in_shape, k))
           for u in (100, 2000)]
    assert raw[1] - raw[0] > 0.1, raw


def test_weight_sharing_details():
    in_shape, k = WS_CASES["1d"]
    w = _planted(3, in_shape, k, 100, 0.5)
    st = M.weight_sharing_stats(w, in_shape, k)
    assert isinstance(st, M.SharingStats) and int(st.units) == 100
    want = np.clip((st.similarity - st.null_similarity) / (1 - st.null_similarity), 0, 1)
    np.testing.assert_allclose(st.score, want, rtol=1e-6)
    assert float(M.weight_sharing(w, in_shape, k)) == float(st.score)  # deterministic
    np.testing.assert_allclose(M.weight_sharing(w, in_shape, k, chunk_size=7), st.score, rtol=1e-6)
    other = M.weight_sharing_stats(w, in_shape, k, key=jax.random.key(5))
    assert other.similarity == st.similarity and other.null_similarity != st.null_similarity
    assert abs(float(other.score) - float(st.score)) < 0.1
    # dead (all-zero) units are left out
    wd = np.concatenate([w, np.zeros((w.shape[0], 30), np.float32)], axis=1)
    std = M.weight_sharing_stats(wd, in_shape, k)
    assert int(std.units) == 100
    np.testing.assert_allclose(std.similarity, st.similarity, rtol=1e-6)
    # copies at one position only are not shared: no unit has a partner -> NaN
    same_pos = np.zeros((10, 3), np.float32)
    same_pos[2:5] = _normal(11, (3, 3))
    nan = M.weight_sharing_stats(same_pos, (10, 1), 3)
    assert np.isnan(float(nan.score)) and int(nan.units) == 0
    # a filter copied at two positions: both copies have a perfect partner, the third
    # unit none
    kern = np.array([1.0, 2.0, -1.0, 3.0, -2.0], np.float32)
    w2 = np.zeros((12, 3), np.float32)
    w2[0:5, 0], w2[6:11, 1], w2[3:8, 2] = kern, -kern, [1.0, -1.0, 1.0, 2.0, 0.5]
    st2 = M.weight_sharing_stats(w2, (12, 1), 5)
    assert int(st2.units) == 3 and 2 / 3 - 1e-6 <= float(st2.similarity) <= 2 / 3 + 0.1, st2
    # jit, with the key traced
    f = jax.jit(lambda a, key: M.weight_sharing(a, in_shape, k, key=key))
    np.testing.assert_allclose(f(w, jax.random.key(0)), st.score, rtol=1e-6)


def test_jit():
    _, w = _conv2d()
    loc = jax.jit(M.locality, static_argnums=(1, 2), static_argnames="periodic")(w, IN2, W2)
    np.testing.assert_allclose(loc, 1.0, atol=1e-6)
    ws = jax.jit(lambda a: M.weight_sharing(a, IN2, W2))(w)
    assert float(ws) > 1 - 1e-5
    c = jax.jit(lambda a: M.receptive_field_center(a, IN2, periodic=True))(w)
    assert c.shape == (256, 2)


def test_nonzeros_and_sparsity():
    tree = {"a": jnp.asarray(np.array([0.0, 1.0, 2.0])), "b": [np.zeros(2), np.ones((2, 2))]}
    nz = M.nonzeros(tree)
    assert nz == {"a": 2, "b/0": 0, "b/1": 4}
    assert all(type(v) is int for v in nz.values())
    sp = M.sparsity(tree)
    assert sp["overall"] == pytest.approx(3 / 9) and sp["nonzeros"] == 6 and sp["size"] == 9
    assert sp["per_leaf"] == pytest.approx({"a": 1 / 3, "b/0": 1.0, "b/1": 0.0})
    assert M.nonzeros(np.array([1.0, 0.0])) == {"": 1}

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(4, 3, rngs=rngs), nnx.Linear(3, 2, rngs=rngs)])

    state = nnx.state(Net(nnx.Rngs(0)), nnx.Param)
    nz = M.nonzeros(state)
    assert nz == {"layers/0/bias": 0, "layers/0/kernel": 12, "layers/1/bias": 0, "layers/1/kernel": 6}
    assert M.nonzeros(nnx.to_pure_dict(state)) == nz
    assert M.sparsity(state)["overall"] == pytest.approx(5 / 23)


# ----------------------------------------------------------------------------- embed distances


def test_conv_and_local_distance():
    embed = pytest.importorskip("jaxcnn.embed")
    kernel, w = _conv2d()
    # the test's independent construction agrees with jaxcnn.embed
    np.testing.assert_allclose(embed.conv_to_dense(kernel, IN2, padding="VALID"), w, atol=1e-5)
    assert float(M.conv_distance(w, IN2, W2)) < 1e-5
    assert float(M.local_distance(w, IN2, (3, 3))) < 1e-5
    lc = np.where(w != 0, _normal(13, w.shape), 0.0)
    assert float(M.local_distance(lc, IN2, W2)) < 1e-5
    assert float(M.conv_distance(lc, IN2, W2)) > 0.8
    rnd = _normal(14, w.shape)
    np.testing.assert_allclose(float(M.conv_distance(rnd, IN2, W2)), 1.0, atol=0.01)
    np.testing.assert_allclose(float(M.local_distance(rnd, IN2, W2)), math.sqrt(1 - 27 / 300), atol=0.01)
    assert float(M.conv_distance(np.zeros_like(w), IN2, W2)) == 0.0
    # 1-D, strided, SAME
    k1 = _normal(15, (5, 2, 3))
    w1 = embed.conv_to_dense(k1, (20, 2), strides=2, padding="SAME")
    assert float(M.conv_distance(w1, (20, 2), 5, strides=2, padding="SAME")) < 1e-5
    assert float(jax.jit(lambda a: M.conv_distance(a, IN2, W2))(w)) < 1e-5


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.locality(np.ones((30, 2)), (4, 4, 2), 3), r"^w: expected shape \(32, out_features\)"),
        (lambda: M.locality(np.ones(32), (4, 4, 2), 3), r"^w: .*\(in_features, out_features\).*\(32,\)"),
        (lambda: M.locality(np.ones((32, 2)), (4, 4, 2), (3, 3, 3)), r"^in_shape: expected .*3-D window \(3, 3, 3\)"),
        (lambda: M.locality(np.ones((32, 2)), (4, 4, 2), 5), r"^window: .*<= \(4, 4\).*\(5, 5\)"),
        (lambda: M.locality(np.ones((32, 2)), (4, 4, 2), 0), r"^window: expected sizes in .*got \(0, 0\)"),
        (lambda: M.spatial_mass(np.ones((32, 2)), (32,)), r"^in_shape: .*1, 2 or 3 spatial.*\(32,\)"),
        (lambda: M.spatial_mass(np.ones((32, 2)), (2, 2, 2, 2, 2)), r"^in_shape: expected"),
        (lambda: M.receptive_field_center(np.ones((32, 2)), (4, 4, 3)), r"in_features = prod\(in_shape\) = 48"),
        (lambda: M.weight_sharing(np.ones((32, 2)), (4, 4, 2), (2, 2), chunk_size=0),
         r"^chunk_size: expected an int >= 1, got 0$"),
        (lambda: M.aligned_filter_similarity(np.ones((32, 2)), (4, 4, 2), (2, 2), chunk_size=0),
         r"^chunk_size: expected an int >= 1"),
        (lambda: M.weight_sharing(np.ones((30, 2)), (4, 4, 2), (2, 2)),
         r"^w: expected shape \(32, out_features\).*in_features=30, got \(30, 2\)$"),
        (lambda: M.weight_sharing(np.ones(32), (4, 4, 2), (2, 2)),
         r"^w: expected a dense weight of shape \(in_features, out_features\).*got \(32,\)$"),
        (lambda: M.weight_sharing(np.ones((32, 2)), (4, 4, 2), (2, 2, 2)),
         r"^in_shape: expected \(\*spatial, C_in\) with 3 spatial dims for the 3-D window "
         r"\(2, 2, 2\), i.e. the channel axis last, got \(4, 4, 2\)$"),
        (lambda: M.weight_sharing(np.ones((32, 2)), (4, 4, 2), 5),
         r"^window: expected sizes in \[1, spatial size\].*<= \(4, 4\).*got \(5, 5\)$"),
        (lambda: M.weight_sharing(np.ones((32, 2)), (4, 4, 2), "3"),
         r"^window: expected an int or a tuple of 2 ints"),
        (lambda: M.weight_sharing(np.ones((32, 2)), (32,), 2),
         r"^in_shape: expected a tuple \(\*spatial, C_in\).*got \(32,\)$"),
        (lambda: M.weight_sharing(np.ones((32, 2)), (4, 4, 2), (2, 2), key=3),
         r"^key: expected a single jax.random key.*got 3$"),
        (lambda: M.weight_sharing_chance(1, 10), r"^num_units: expected an int >= 2, got 1$"),
        (lambda: M.conv_distance(np.ones((30, 2)), (4, 4, 2), 3), r"^w: .*in_features=30"),
    ],
)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
