"""A user's own dataset from one ``.npz`` file (``numpy.savez`` / ``savez_compressed``).

The file holds four arrays, channels last (other arrays in the file are ignored)::

    x_train (N_train, *spatial, C)   any real numeric dtype, finite
    y_train (N_train,)               integer class labels >= 0 (integral floats are cast)
    x_test  (N_test,  *spatial, C)   same example shape as x_train
    y_test  (N_test,)

Make one with::

    np.savez("mine.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)

The file is read with ``allow_pickle=False``: object arrays are refused, nothing is
unpickled. The shape and number of classes come from the file, so
``jaxcnn.data.info("npz")`` has ``input_shape=None`` and ``num_classes=None``; use
:func:`infer_num_classes` on the loaded dict.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from jaxcnn.data.common import SPLIT_KEYS, finish
from jaxcnn.validation import Text, error

__all__ = ["npz", "infer_num_classes"]

_INT32_MAX = int(np.iinfo(np.int32).max)


def _where(key: str, path: str) -> str:
    return f"{key} in {path!r}"


def _read(path: str) -> dict[str, np.ndarray]:
    """The four arrays of the file, as stored; ValueError / FileNotFoundError otherwise."""
    expected = f"an .npz file (numpy.savez) with arrays {', '.join(SPLIT_KEYS)}"
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: expected {expected}, got {path!r}, which does not exist")
    if os.path.isdir(path):
        raise error("path", expected, Text(f"the folder {path!r}"))
    if not zipfile.is_zipfile(path):
        raise error("path", expected, Text(f"{path!r}, which is not a zip/npz archive"))
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise error("path", expected, Text(f"{path!r}, which numpy cannot read "
                                           f"({type(e).__name__}: {e})")) from e
    with f:
        if not isinstance(f, np.lib.npyio.NpzFile):  # pragma: no cover - zip checked above
            raise error("path", expected, Text(f"{path!r}, a single array"))
        missing = [k for k in SPLIT_KEYS if k not in f.files]
        if missing:
            raise error("path", expected, Text(f"{path!r} without {', '.join(missing)} "
                                               f"(arrays: {', '.join(f.files) or 'none'})"))
        return {k: _array(f, k, path) for k in SPLIT_KEYS}


def _array(f, key: str, path: str) -> np.ndarray:
    """The array ``key`` of the open npz ``f``; ValueError if it is not readable .npy data."""
    where = _where(key, path)
    try:
        out = f[key]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise error(where, "a numeric array",
                        Text("an object array (pickled objects are not loaded)")) from e
        raise error(where, "a readable .npy array", Text(f"{type(e).__name__}: {e}")) from e
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise error(where, "a readable .npy array", Text(f"{type(e).__name__}: {e}")) from e
    if not isinstance(out, np.ndarray):  # numpy returns non-.npy members as bytes
        raise error(where, "a readable .npy array",
                    Text(f"{len(out)} bytes that are not .npy data"))
    return out


def _inputs(x: np.ndarray, key: str, path: str) -> np.ndarray:
    where = _where(key, path)
    if x.dtype.kind not in "biuf":
        raise error(where, "a real numeric array", Text(f"dtype {x.dtype}"))
    if x.ndim < 3:
        raise error(where, "shape (N, *spatial, C) with at least one spatial dim (channels "
                    "last; add a channel axis with x[..., None])", Text(f"shape {x.shape}"))
    if x.shape[0] == 0:
        raise error(where, "at least one example", Text(f"shape {x.shape}"))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argmax(bad.reshape(len(x), -1).any(axis=1)))
        raise error(where, "finite values (in float32)",
                    Text(f"{int(bad.sum())} NaN/inf entries (first in example {first})"))
    return x


def _labels(y: np.ndarray, n: int, key: str, path: str) -> np.ndarray:
    where = _where(key, path)
    if y.ndim != 1 or y.shape[0] != n:
        raise error(where, f"{n} labels of shape ({n},) (one per example of x_{key[2:]}; "
                    "integer classes, not one-hot)", Text(f"shape {y.shape}"))
    if y.dtype.kind == "f":
        frac = ~np.isfinite(y) | (y != np.round(y))
        if frac.any():
            raise error(where, "integer class labels",
                        Text(f"{y.dtype} values such as {y[np.argmax(frac)].item()!r}"))
    elif y.dtype.kind not in "iu":
        raise error(where, "integer class labels", Text(f"dtype {y.dtype}"))
    if y.min() < 0:
        raise error(where, "class labels >= 0", y.min().item())
    if y.max() > _INT32_MAX:
        raise error(where, "class labels < 2**31", y.max().item())
    return y.astype(np.int32)


def npz(path: str | os.PathLike, *, standardize: bool = False) -> dict[str, np.ndarray]:
    """A dataset from a user's ``.npz`` file with ``x_train, y_train, x_test, y_test``.

    Inputs are used as stored (cast to float32) unless ``standardize=True``, which
    standardizes per channel with the training split's statistics like the image loaders.

    Args:
        path: the ``.npz`` file (``~`` is expanded).
        standardize: per-channel standardization with training-split statistics.

    Returns:
        ``{"x_train": float32 (N_train, *spatial, C), "y_train": int32 (N_train,),
        "x_test": float32 (N_test, *spatial, C), "y_test": int32 (N_test,)}``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is a folder or not an npz archive; an array is missing or
            unreadable, an object array, not real numeric, has no spatial dim or no
            examples, or non-finite values; ``x_test``'s example shape differs from
            ``x_train``'s; the labels are not one integer (or integral float) >= 0 per
            example. Each message names the array and the file.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
        >>> np.savez(p, x_train=np.zeros((6, 5, 1)), y_train=[0, 1, 2, 0, 1, 2],
        ...          x_test=np.ones((2, 5, 1)), y_test=[2, 0])
        >>> d = npz(p)
        >>> d["x_train"].shape, d["y_test"].dtype, infer_num_classes(d)
        ((6, 5, 1), dtype('int32'), 3)
    """
    path = os.path.expanduser(os.fspath(path))
    raw = _read(path)
    x_train = _inputs(raw["x_train"], "x_train", path)
    x_test = _inputs(raw["x_test"], "x_test", path)
    if x_test.shape[1:] != x_train.shape[1:]:
        raise error(_where("x_test", path), f"examples of shape {x_train.shape[1:]} like x_train",
                    x_test.shape[1:])
    y_train = _labels(raw["y_train"], len(x_train), "y_train", path)
    y_test = _labels(raw["y_test"], len(x_test), "y_test", path)
    return finish(x_train, y_train, x_test, y_test, standardize_inputs=standardize)


def infer_num_classes(data) -> int:
    """``1 +`` the largest label of either split: the classes of a dataset dict.

    For datasets without a fixed number of classes (``info("npz").num_classes is None``).

    Example:
        >>> infer_num_classes({"y_train": np.array([0, 3]), "y_test": np.array([1])})
        4
    """
    return 1 + max(int(np.max(data["y_train"])), int(np.max(data["y_test"])))
