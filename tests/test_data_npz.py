"""Tests for jaxcnn.data.npz: a user's .npz file (round trip, every bad input, registry, CLI)."""

from __future__ import annotations

import argparse
import zipfile

import numpy as np
import pytest

from jaxcnn import data

from experiments.harness.cli import DATASETS, FILE_DATASETS, validate_args
from experiments.harness.datasets import load_data
from experiments.harness.errors import CLIError


def _arrays(rng=None, *, n_train=6, n_test=4, shape=(5, 3, 2), classes=3):
    rng = rng or np.random.default_rng(0)
    return {
        "x_train": rng.normal(size=(n_train, *shape)),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.normal(size=(n_test, *shape)),
        "y_test": np.arange(n_test)[::-1] % classes,
    }


def _write(tmp_path, name="d.npz", compressed=False, **arrays):
    path = tmp_path / name
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip(tmp_path, compressed):
    a = _arrays()
    a["x_train"] = a["x_train"].astype(np.float64)
    a["x_test"] = (a["x_test"] * 10).astype(np.int16)  # any real dtype is cast
    a["y_train"] = a["y_train"].astype(np.uint8)
    a["y_test"] = a["y_test"].astype(np.float32)  # integral floats are accepted
    path = _write(tmp_path, compressed=compressed, extra=np.zeros(3), **a)  # extras ignored
    for d in (data.npz(path), data.npz(str(path)), data.load("npz", path=path)):
        assert set(d) == set(data.SPLIT_KEYS)  # no extra keys, like the other loaders
        for k in ("x_train", "x_test"):
            assert d[k].dtype == np.float32 and d[k].flags.c_contiguous
            np.testing.assert_array_equal(d[k], a[k].astype(np.float32))
        for k in ("y_train", "y_test"):
            assert d[k].dtype == np.int32
            np.testing.assert_array_equal(d[k], a[k].astype(np.int32))
    assert data.infer_num_classes(d) == 3


def test_shapes_booleans_and_standardize(tmp_path):
    a = _arrays(shape=(7, 1), n_train=5, n_test=1)  # 1-D signals, one test example
    a["x_train"] = a["x_train"] > 0  # bool inputs become 0/1
    d = data.npz(_write(tmp_path, **a))
    assert d["x_train"].shape == (5, 7, 1) and set(np.unique(d["x_train"])) <= {0.0, 1.0}
    a = _arrays(shape=(4, 4, 2, 3))  # 3 spatial dims
    a["x_train"] = a["x_train"] * 5 + 2
    d = data.load("npz", path=_write(tmp_path, "s.npz", **a), standardize=True)
    m = d["x_train"].reshape(-1, 3)
    np.testing.assert_allclose(m.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(m.std(0), 1, atol=1e-4)
    assert d["y_test"].dtype == np.int32


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _write(tmp_path, **_arrays())
    assert data.npz("~/d.npz")["x_train"].shape == (6, 5, 3, 2)


def _bad(tmp_path, name="d.npz", **changes):
    a = _arrays()
    a.update(changes)
    return _write(tmp_path, name, **{k: v for k, v in a.items() if v is not None})


@pytest.mark.parametrize("changes, message", [
    (dict(y_test=None), r"^path: expected an .npz file \(numpy.savez\) with arrays x_train, "
                        r"y_train, x_test, y_test, got '.*d.npz' without y_test \(arrays: "
                        r"x_train, y_train, x_test\)$"),
    (dict(x_train=None, y_train=None), r"without x_train, y_train \(arrays: x_test, y_test\)"),
    (dict(x_test=np.zeros((4, 5, 3, 1))),
     r"^x_test in '.*d.npz': expected examples of shape \(5, 3, 2\) like x_train, "
     r"got \(5, 3, 1\)$"),
    (dict(x_test=np.zeros((4, 5, 3))),
     r"^x_test in '.*d.npz': expected examples of shape \(5, 3, 2\) like x_train, got \(5, 3\)$"),
    (dict(x_train=np.zeros((6, 5))),
     r"^x_train in '.*d.npz': expected shape \(N, \*spatial, C\) with at least one spatial "
     r"dim \(channels last; add a channel axis with x\[\.\.\., None\]\), got shape \(6, 5\)$"),
    (dict(x_train=np.zeros((0, 5, 3, 2)), y_train=np.zeros(0, np.int64)),
     r"^x_train in '.*d.npz': expected at least one example, got shape \(0, 5, 3, 2\)$"),
    (dict(x_test=np.zeros((0, 5, 3, 2)), y_test=np.zeros(0, np.int64)),
     r"^x_test in '.*d.npz': expected at least one example"),
    (dict(y_train=np.arange(5)),
     r"^y_train in '.*d.npz': expected 6 labels of shape \(6,\) \(one per example of "
     r"x_train; integer classes, not one-hot\), got shape \(5,\)$"),
    (dict(y_test=np.eye(3)[[0, 1, 2, 0]]),
     r"^y_test in '.*d.npz': expected 4 labels of shape \(4,\) .*got shape \(4, 3\)$"),
    (dict(y_test=np.array([0, 1, 2])), r"^y_test in .*expected 4 labels.*got shape \(3,\)$"),
    (dict(y_train=np.array([0, 1, 2, 0, 1.5, 2])),
     r"^y_train in '.*d.npz': expected integer class labels, got float64 values such as "
     r"1.5$"),
    (dict(y_train=np.array([0, 1, 2, 0, np.nan, 2])),
     r"^y_train in .*expected integer class labels, got float64 values such as .*nan"),
    (dict(y_train=np.array(list("abcabc"))),
     r"^y_train in '.*d.npz': expected integer class labels, got dtype <U1$"),
    (dict(y_train=np.ones(6, bool)),
     r"^y_train in .*expected integer class labels, got dtype bool$"),
    (dict(y_test=np.array([0, -1, 2, 0])),
     r"^y_test in '.*d.npz': expected class labels >= 0, got -1$"),
    (dict(y_test=np.array([0, 1, 2, 2**31])),
     r"^y_test in '.*d.npz': expected class labels < 2\*\*31, got 2147483648$"),
    (dict(x_train=np.where(np.arange(180).reshape(6, 5, 3, 2) == 37, np.nan, 0.0)),
     r"^x_train in '.*d.npz': expected finite values \(in float32\), got 1 NaN/inf entries "
     r"\(first in example 1\)$"),
    (dict(x_test=np.full((4, 5, 3, 2), 1e300)),
     r"^x_test in '.*d.npz': expected finite values \(in float32\), got 120 NaN/inf entries "
     r"\(first in example 0\)$"),
    (dict(x_train=np.zeros((6, 5, 3, 2), complex)),
     r"^x_train in '.*d.npz': expected a real numeric array, got dtype complex128$"),
    (dict(x_test=np.full((4, 5, 3, 2), "a")),
     r"^x_test in '.*d.npz': expected a real numeric array, got dtype <U1$"),
])
def test_bad_arrays(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        data.npz(_bad(tmp_path, **changes))


def test_object_arrays_are_not_unpickled(tmp_path):
    a = _arrays()
    a["y_train"] = np.array([0, 1, None, 0, 1, 2], dtype=object)
    path = tmp_path / "d.npz"
    np.savez(path, **a)  # savez pickles object arrays
    with pytest.raises(ValueError, match=r"^y_train in '.*d.npz': expected a numeric array, "
                                         r"got an object array \(pickled objects are not "
                                         r"loaded\)$"):
        data.npz(path)


def test_bad_files(tmp_path):
    expected = (r"path: expected an .npz file \(numpy.savez\) with arrays x_train, y_train, "
                r"x_test, y_test, got ")
    with pytest.raises(FileNotFoundError, match=rf"^{expected}'.*nope.npz', which does not "
                                                r"exist$"):
        data.npz(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match=rf"^{expected}the folder '.*'$"):
        data.npz(tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=rf"^{expected}'.*junk.npz', which is not a zip/npz "
                                         r"archive$"):
        data.npz(tmp_path / "junk.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match="which is not a zip/npz archive"):
        data.npz(tmp_path / "one.npy")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:  # a zip, but not of arrays
        z.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match=r"without x_train, y_train, x_test, y_test "
                                         r"\(arrays: notes.txt\)$"):
        data.npz(tmp_path / "other.zip")
    with zipfile.ZipFile(tmp_path / "broken.npz", "w") as z:  # right names, junk content
        for k in data.SPLIT_KEYS:
            z.writestr(f"{k}.npy", b"garbage")
    with pytest.raises(ValueError, match=r"^x_train in '.*broken.npz': expected a readable "
                                         r"\.npy array, got 7 bytes that are not \.npy "
                                         r"data$"):
        data.npz(tmp_path / "broken.npz")


def test_registry():
    assert "npz" in data.NAMES
    i = data.info("npz")
    assert i.requires_path and i.input_shape is None and i.num_classes is None
    with pytest.raises(ValueError, match=r"^path: expected .*\(required for dataset 'npz'\), "
                                         r"got None$"):
        data.load("npz")
    assert data.infer_num_classes({"y_train": np.array([0, 4]), "y_test": np.array([7])}) == 8


# --------------------------------------------------------------- experiments CLI


def _args(**kw):
    ns = argparse.Namespace(preset="smoke", dataset="npz", data_path=None, seed=0, seeds=None,
                            devices=None, _datasets=DATASETS)
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_cli_names_data_path(tmp_path):
    assert "npz" in DATASETS and "npz" in FILE_DATASETS
    good = _write(tmp_path, **_arrays())
    d = load_data("npz", path=str(good))
    assert d["x_train"].shape == (6, 5, 3, 2)
    with pytest.raises(CLIError, match=r"^--data-path: required for --dataset npz \(your .npz "
                                       r"file with x_train, y_train, x_test, y_test\); nothing "
                                       r"is downloaded$"):
        validate_args(_args())
    with pytest.raises(CLIError, match=r"^--data-path: expected an existing file or folder"):
        validate_args(_args(data_path=str(tmp_path / "nope.npz")))
    assert validate_args(_args(data_path=str(good))).data_path == str(good)
    with pytest.raises(CLIError, match=r"^--data-path: only used with cifar10, cifar100, svhn, "
                                       r"npz; --dataset digits is generated offline$"):
        validate_args(_args(dataset="digits", data_path=str(good)))
    for path, message in [
        (tmp_path / "nope.npz", r"which does not exist"),
        (_bad(tmp_path, "a.npz", y_test=None), r"without y_test"),
        (_bad(tmp_path, "b.npz", y_train=np.array([0, 1, 2, 0, 1.5, 2])),
         r"y_train in '.*b.npz': expected integer class labels"),
    ]:
        with pytest.raises(CLIError, match=rf"^--data-path: .*{message}") as e:
            load_data("npz", path=str(path))
        assert "\n" not in str(e.value)
