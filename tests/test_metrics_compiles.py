"""The sharing score, its power and the first-layer metrics compile once per shape (issue 22).

* :func:`jaxcnn.metrics.sharing_power` runs every draw in one compiled loop; its numbers
  are those of the per-draw host loop it replaced (kept here as the reference), bitwise;
  the in-program permutation of the live units is ``jax.random.permutation``'s;
* :func:`jaxcnn.metrics.power.sharing_stats_and_power` gives the numbers of
  :func:`jaxcnn.metrics.weight_sharing_stats` and :func:`jaxcnn.metrics.sharing_power`,
  bitwise, from one program, whether the power is asked for or not;
* a second call on a layer of the same shape (other sparsity, other number of live
  units, other keys, power or not) compiles nothing, for these and for
  :func:`experiments.harness.measures.first_layer_metrics`;
* ``census(..., effective=False)`` compiles nothing.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import COMPILE_EVENT, count_compiles

from jaxcnn import metrics as M
from jaxcnn.metrics import power as P
from jaxcnn.metrics.alignment import align_windows
from jaxcnn.metrics.sharing import sharing_stats_kernel


def _layer(seed, shape, units, density, dead=0.0, copies=True):
    """A sparse ``(prod(shape), units)`` layer, a fraction ``dead`` of all-zero units, and
    (``copies``) every third unit a copy of another (so some units agree exactly)."""
    rng = np.random.default_rng(seed)
    d = math.prod(shape)
    w = rng.standard_normal((d, units)).astype(np.float32) * (rng.random((d, units)) < density)
    if copies:
        w[:, 1::3] = w[:, ::3][:, :w[:, 1::3].shape[1]]
    w[:, rng.random(units) < dead] = 0.0
    return w.astype(np.float32)


# ----------------------------------------------------------------------------- reference

_plant_jit = jax.jit(P._plant, static_argnames=("shape", "filters"))


def _reference_power(w, shape, win, fractions, draws, key, periodic=False, filters=4,
                     noise=0.0, chunk_size=256):
    """The per-draw host loop :func:`sharing_power` ran before it became one program."""
    vals, feats, _, _ = align_windows(jnp.asarray(w), shape, win, periodic)
    mask, feat = np.asarray(vals[0] != 0), np.asarray(feats[0])
    taps = mask.sum(axis=1)
    live = np.flatnonzero(taps > 0)
    taps_median = float(np.median(taps[live])) if live.size else float("nan")

    def score(frac, k):
        k_sel, k_plant, k_null = jax.random.split(k, 3)
        order = np.asarray(jax.random.permutation(k_sel, live.size))
        shared = np.zeros(mask.shape[0], bool)
        shared[live[order[:int(round(frac * live.size))]]] = True
        wp = _plant_jit(jnp.asarray(mask), jnp.asarray(feat), jnp.asarray(shared), k_plant,
                        shape=shape, filters=filters, noise=noise)
        st = sharing_stats_kernel(wp, k_null, shape, win, periodic, chunk_size)
        return float(st.unclipped), float(st.score), int(st.units)

    keys = jax.random.split(key, (len(fractions) + 1) * draws).reshape(len(fractions) + 1, draws)
    null = [score(0.0, keys[0, i]) for i in range(draws)]
    null_u = np.array([u for u, _, _ in null])
    thr = float("nan") if np.all(np.isnan(null_u)) else float(
        np.quantile(np.where(np.isnan(null_u), -np.inf, null_u), 0.95))
    detection, mean_score = [], []
    for a, f in enumerate(fractions):
        got = np.array([score(f, keys[a + 1, i])[:2] for i in range(draws)])
        detection.append(float(np.mean(~np.isnan(got[:, 0]) & (got[:, 0] > thr))))
        mean_score.append(P._nanmean(got[:, 1]))
    return M.SharingPower(tuple(fractions), tuple(detection), tuple(mean_score), thr,
                          P._nanmean(null_u), draws, null[0][2], taps_median)


def _same(a, b):
    """Equal tuples of numbers / tuples, NaN equal to NaN (bitwise for floats)."""
    return np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


# ----------------------------------------------------------------------------- permutation


def test_permutation_of_prefix_is_jax_permutation():
    perm = jax.jit(P._permutation_of_prefix, static_argnums=2)
    key = jax.random.key(11)
    for n, sizes in [(1, (0, 1)), (9, (0, 1, 2, 5, 9)), (320, (1, 3, 84, 317, 320)),
                     (1700, (1625, 1626, 1700))]:  # 1626+: two sort rounds
        for size in sizes:
            got = np.asarray(perm(key, size, n))
            np.testing.assert_array_equal(got[:size], np.asarray(jax.random.permutation(key, size)))
            np.testing.assert_array_equal(got[size:], np.arange(size, n))
    assert perm._cache_size() == 4  # one program per n, whatever the size
    assert P._shuffle_rounds(1625) == 1 and P._shuffle_rounds(1626) == 2


# ----------------------------------------------------------------------------- power


@pytest.mark.parametrize("case", ["1d", "1d-noise", "2d", "2d-periodic"])
def test_power_equals_the_per_draw_loop(case):
    shape, win, units, density, dead = {
        "1d": ((40, 1), (9,), 64, 0.1, 0.3), "1d-noise": ((40, 1), (9,), 64, 0.3, 0.0),
        "2d": ((12, 12, 1), (5, 5), 48, 0.1, 0.2),
        "2d-periodic": ((10, 10, 1), (4, 4), 40, 0.15, 0.0)}[case]
    w = _layer(3, shape, units, density, dead)
    kw = dict(periodic=case.endswith("periodic"), noise=0.1 if "noise" in case else 0.0)
    key = jax.random.key(5)
    got = M.sharing_power(w, shape, win, fractions=(0.25, 1.0), draws=3, key=key, **kw)
    ref = _reference_power(w, shape, win, (0.25, 1.0), 3, key, **kw)
    assert got.fractions == ref.fractions and got.draws == ref.draws == 3
    assert got.units == ref.units and _same(got.taps_median, ref.taps_median)
    for name in ("detection", "mean_score", "threshold", "null_mean"):
        assert _same(getattr(got, name), getattr(ref, name)), (name, got, ref)


def test_stats_and_power_are_the_separate_functions_bitwise():
    shape, win = (40, 1), (9,)
    w = _layer(4, shape, 96, 0.2, 0.1)
    k, kp = jax.random.key(2), jax.random.key(8)
    ref_st = M.weight_sharing_stats(w, shape, win, key=k)
    ref_p = M.sharing_power(w, shape, win, fractions=(0.25,), key=kp)
    st, p = P.sharing_stats_and_power(w, shape, win, power=False, key=k, power_key=kp,
                                      fractions=(0.25,))
    assert p is None
    st2, p2 = P.sharing_stats_and_power(w, shape, win, key=k, power_key=kp, fractions=(0.25,))
    for a, b, c in zip(ref_st, st, st2):
        assert isinstance(b, jax.Array) and b.dtype == a.dtype
        assert _same(a, b) and _same(a, c)
    assert p2 == ref_p
    # non-finite weights: a NaN score without the power, refused with it
    bad = w.copy()
    bad[3, 5] = np.nan
    st, _ = P.sharing_stats_and_power(bad, shape, win, power=False)
    assert np.isnan(float(st.score)) and int(st.units) == int(M.weight_sharing_stats(
        bad, shape, win).units)
    with pytest.raises(ValueError, match=r"^w: expected finite values"):
        P.sharing_stats_and_power(bad, shape, win)


def test_one_compilation_per_shape_whatever_the_sparsity_keys_or_power():
    shape, win = (40, 1), (9,)
    first = _layer(6, shape, 72, 0.3, 0.0)
    P.sharing_stats_and_power(first, shape, win, fractions=(0.25,), draws=4)
    M.sharing_power(first, shape, win, fractions=(0.25,), draws=4)
    size = P._score_draws._cache_size()
    with count_compiles((COMPILE_EVENT,)) as compiles:
        for seed, (density, dead, power) in enumerate([(0.05, 0.5, True), (0.6, 0.0, False),
                                                       (0.2, 0.9, True), (0.0, 0.0, False)]):
            w = _layer(7 + seed, shape, 72, density, dead, copies=False)
            P.sharing_stats_and_power(w, shape, win, power=power, fractions=(0.25,), draws=4,
                                      key=jax.random.key(seed),
                                      power_key=jax.random.key(100 + seed), noise=0.1 * seed)
            M.sharing_power(w, shape, win, fractions=(0.25,), draws=4,
                            key=jax.random.key(seed))
    assert compiles == [] and P._score_draws._cache_size() == size


# ----------------------------------------------------------------------------- census


def test_census_without_effective_taps_compiles_nothing():
    w = _layer(9, (40, 1), 53, 0.2, 0.3)
    full = M.census(w)
    with count_compiles((COMPILE_EVENT,)) as compiles:
        counts = M.census(w, effective=False)
    assert compiles == []
    for name in ("units", "dead", "dead_fraction", "taps_median", "taps_q25", "taps_q75"):
        assert getattr(counts, name) == getattr(full, name)
    assert all(np.isnan(getattr(counts, f"effective_taps_{q}")) for q in ("median", "q25", "q75"))


# ----------------------------------------------------------------------------- first layer


def _sparsify(model, keep):
    from jaxcnn import models

    layer = models.first_layer(model)
    layer.kernel[...] = layer.kernel[...] * jnp.asarray(keep, layer.kernel[...].dtype)
    return model


def test_first_layer_metrics_compile_once_per_shape():
    from experiments.harness import measures
    from experiments.harness.nets import model_factory
    from jaxcnn import models

    make = model_factory("s-fc", (40, 1), 10, alpha=2, kernel_size=9)
    rng = np.random.default_rng(0)
    shape = models.first_layer(make(0)).kernel[...].shape
    first = measures.first_layer_metrics(_sparsify(make(0), rng.random(shape) < 0.3), 9,
                                         model0=make(0), power=True)
    with count_compiles((COMPILE_EVENT,)) as compiles:
        keep = (rng.random(shape) < 0.1) & (rng.random(shape[1]) < 0.6)  # other live units
        again = measures.first_layer_metrics(_sparsify(make(1), keep), 9, model0=make(1),
                                             power=False, key=jax.random.key(3))
        measures.first_layer_metrics(make(2), 9, power=True)  # dense: every unit live
    assert compiles == [], f"{len(compiles)} compilations on a second layer of one shape"
    assert again["dead_units"] > 0 and again["sharing_power"] is None
    assert again["sharing_power_jitter"] is None and first["sharing_power_jitter"] is not None
    for out in (first, again, first["change"]):
        u = out["sharing_unclipped"]
        if "weight_sharing" in out:  # the clipped score of the same statistics
            assert out["weight_sharing"] == (None if u is None else min(max(u, 0.0), 1.0))


def test_calibrated_metrics_are_the_public_metrics():
    from experiments.harness import measures

    shape, win = (40, 1), (9,)
    w = _layer(12, shape, 80, 0.25, 0.2)
    key = jax.random.key(4)
    got = measures.calibrated_metrics(w, shape, win, periodic=False, power=True, key=key)
    k1, k2, k3 = jax.random.split(key, 3)
    c = M.census(w)
    st = M.weight_sharing_stats(w, shape, win, key=k2)
    assert got["dead_fraction"] == c.dead_fraction and got["taps_median"] == c.taps_median
    assert got["calibrated_locality"] == float(np.nanmean(np.asarray(
        M.calibrated_locality(w, shape, win, key=k1))))
    assert got["sharing_unclipped"] == float(st.unclipped)
    assert got["sharing_units"] == int(st.units)
    assert got["sharing_units_measured"] == int(np.any(w != 0, axis=0).sum())
    assert got["sharing_power"] == M.sharing_power(
        w, shape, win, fractions=(measures.POWER_FRACTION,), key=k3,
        draws=measures.POWER_DRAWS).detection[0]
    jittered = M.sharing_power(w, shape, win, fractions=(measures.POWER_FRACTION,), key=k3,
                               noise=measures.POWER_JITTER,
                               draws=measures.POWER_DRAWS).detection[0]
    assert got["sharing_power_jitter"] == jittered
    assert got["sharing_power_jitter"] <= got["sharing_power"]  # jitter hides sharing


def test_sharing_view_host_and_device_columns_agree(monkeypatch):
    from experiments.harness import measures

    monkeypatch.setattr(measures, "MAX_SHARING_UNITS", 8)
    w = _layer(13, (16, 1), 20, 0.5, 0.3, copies=False)
    host, n_host = measures.sharing_view(w, jax.random.key(1))
    monkeypatch.setattr(measures, "HOST_COUNT_LIMIT", 0)  # every array "large"
    dev, n_dev = measures.sharing_view(jnp.asarray(w), jax.random.key(1))
    assert isinstance(host, np.ndarray) and isinstance(dev, jax.Array)
    assert n_host == n_dev == 8 and host.shape == dev.shape == (16, 8)
    np.testing.assert_array_equal(host, np.asarray(dev))
