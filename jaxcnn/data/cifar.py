"""CIFAR-10 and CIFAR-100 from the standard "python version" files (no download).

Get ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` from
https://www.cs.toronto.edu/~kriz/cifar.html and pass either the archive itself, the
extracted folder (``cifar-10-batches-py`` / ``cifar-100-python``) or the folder that
contains either of them. Archives are read in one streaming pass with :mod:`tarfile`;
nothing is extracted to disk.

The batches are pickles whose ``b"data"`` is ``uint8 (N, 3072)``, each row channel-major
(1024 red, then 1024 green, then 1024 blue values, each 32x32 row-major); they are
returned channels-last ``(N, 32, 32, 3)``. Pickles are read with a restricted unpickler
that only accepts the NumPy array reconstruction the original files use, so a malicious
file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from typing import Any

import numpy as np

from jaxcnn.data.common import finish
from jaxcnn.validation import Text, check_choice, error

__all__ = ["cifar10", "cifar100", "CIFAR10_FILES", "CIFAR100_FILES"]

CIFAR10_FILES = (
    "cifar-10-batches-py",
    "cifar-10-python.tar.gz",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("test_batch",),
)
"""Standard CIFAR-10 names: (extracted folder, archive, training files, test files)."""
CIFAR100_FILES = ("cifar-100-python", "cifar-100-python.tar.gz", ("train",), ("test",))
"""Standard CIFAR-100 names: (extracted folder, archive, training files, test files)."""

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _expected(dataset: str, files) -> str:
    folder, archive, train, test = files
    return (
        f"the {dataset} archive {archive!r}, the extracted folder {folder!r} "
        f"containing {list(train + test)}, or a folder containing either"
    )


def _read_files(path: str | os.PathLike, dataset: str, files) -> dict[str, bytes]:
    """Returns {file name: raw bytes} for all standard files, from a folder or archive."""
    folder, archive, train, test = files
    names = list(train + test)
    path = os.fspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{dataset}: {path!r} does not exist; expected {_expected(dataset, files)}"
        )
    if os.path.isfile(path):
        return _read_archive(path, dataset, files)
    # a folder: the extracted folder itself, its parent, or a folder holding the archive
    for cand in (path, os.path.join(path, folder)):
        present = [n for n in names if os.path.isfile(os.path.join(cand, n))]
        if present:
            missing = [n for n in names if n not in present]
            if missing:
                raise FileNotFoundError(
                    f"{dataset}: {cand!r} lacks {missing}; expected {_expected(dataset, files)}"
                )
            out = {}
            for n in names:
                with open(os.path.join(cand, n), "rb") as f:
                    out[n] = f.read()
            return out
    if os.path.isfile(os.path.join(path, archive)):
        return _read_archive(os.path.join(path, archive), dataset, files)
    raise FileNotFoundError(
        f"{dataset}: found none of {names} in {path!r}; expected {_expected(dataset, files)}"
    )


def _read_archive(path: str, dataset: str, files) -> dict[str, bytes]:
    folder, _, train, test = files
    names = set(train + test)
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tf:
            for member in tf:  # one streaming pass, in archive order
                if not member.isfile():
                    continue
                parts = member.name.replace("\\", "/").split("/")
                base = parts[-1]
                if base in names and base not in out and (len(parts) < 2 or parts[-2] == folder):
                    fobj = tf.extractfile(member)
                    if fobj is not None:
                        out[base] = fobj.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        reason = " ".join(str(e).split())  # tarfile's reasons span several lines
        raise error("path", f"{_expected(dataset, files)}; an archive must be a readable "
                    f"tar file (reading this one failed: {reason})", path) from e
    missing = sorted(names - set(out))
    if missing:
        raise FileNotFoundError(
            f"{dataset}: archive {path!r} lacks {missing} (looked for {folder}/NAME); "
            f"expected {_expected(dataset, files)}"
        )
    return out


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:
        raise error(where, "a valid CIFAR pickle", Text(f"{type(e).__name__}: {e}")) from e
    if not isinstance(obj, dict):
        raise error(where, "a pickled dict", Text(type(obj).__name__))
    # the originals are Python 2 pickles with bytes keys; accept str keys too
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _batch(raw: bytes, where: str, label_key: str, num_classes: int):
    d = _unpickle(raw, where)
    for k in ("data", label_key):
        if k not in d:
            raise error(where, f"the keys of a standard CIFAR batch, including b{k!r}",
                        sorted(map(str, d)))
    x = np.asarray(d["data"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise error(where, "b'data' of uint8 (N, 3072)", Text(f"{x.dtype} {x.shape}"))
    y = np.asarray(d[label_key])
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise error(where, f"b{label_key!r} of {x.shape[0]} integer labels",
                    Text(f"{y.dtype} {y.shape}"))
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise error(where, f"labels in [0, {num_classes})",
                    Text(f"labels in [{y.min()}, {y.max()}]"))
    # channel-major rows -> (N, 3, 32, 32) -> channels last (N, 32, 32, 3)
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _load(path, dataset, files, label_key, num_classes, standardize):
    _, _, train, test = files
    raws = _read_files(path, dataset, files)
    splits = []
    for group in (train, test):
        xs, ys = zip(*(_batch(raws[n], f"{dataset} file {n!r} from {os.fspath(path)!r}",
                              label_key, num_classes) for n in group))
        splits.append((np.concatenate(xs), np.concatenate(ys)))
    (xtr, ytr), (xte, yte) = splits
    return finish(
        xtr.astype(np.float32) / 255.0, ytr, xte.astype(np.float32) / 255.0, yte,
        standardize_inputs=standardize,
    )


def cifar10(path: str | os.PathLike, *, standardize: bool = True) -> dict[str, np.ndarray]:
    """CIFAR-10 from the standard python-version files.

    Pixels are scaled to [0, 1], then (by default) standardized per channel with the
    training split's statistics.

    Args:
        path: ``cifar-10-python.tar.gz``, the extracted ``cifar-10-batches-py`` folder
            (``data_batch_1`` .. ``data_batch_5``, ``test_batch``), or a folder holding
            either.
        standardize: per-channel standardization with training-split statistics.

    Returns:
        ``{"x_train": (50000, 32, 32, 3) float32, "y_train": (50000,) int32,
        "x_test": (10000, 32, 32, 3) float32, "y_test": (10000,) int32}``.

    Raises:
        FileNotFoundError: the path or one of the expected files is missing (the
            message names the path and the expected file names).
        ValueError: a file is not a readable archive / CIFAR pickle.

    Example:
        >>> d = cifar10("~/data/cifar-10-python.tar.gz")  # doctest: +SKIP
        >>> d["x_train"].shape  # doctest: +SKIP
        (50000, 32, 32, 3)
    """
    return _load(path, "CIFAR-10", CIFAR10_FILES, "labels", 10, standardize)


def cifar100(
    path: str | os.PathLike, *, label: str = "fine", standardize: bool = True
) -> dict[str, np.ndarray]:
    """CIFAR-100 from the standard python-version files.

    Args:
        path: ``cifar-100-python.tar.gz``, the extracted ``cifar-100-python`` folder
            (``train``, ``test``), or a folder holding either.
        label: ``"fine"`` (100 classes, ``b"fine_labels"``) or ``"coarse"`` (20
            superclasses, ``b"coarse_labels"``).
        standardize: per-channel standardization with training-split statistics.

    Returns:
        ``{"x_train": (50000, 32, 32, 3) float32, "y_train": (50000,) int32,
        "x_test": (10000, 32, 32, 3) float32, "y_test": (10000,) int32}``.

    Raises:
        FileNotFoundError: missing path or files (the message names them).
        ValueError: bad ``label``, or an unreadable / malformed file.

    Example:
        >>> d = cifar100("~/data/cifar-100-python", label="coarse")  # doctest: +SKIP
        >>> int(d["y_train"].max())  # doctest: +SKIP
        19
    """
    check_choice(label, ("fine", "coarse"), name="label")
    num_classes = 100 if label == "fine" else 20
    return _load(path, "CIFAR-100", CIFAR100_FILES, f"{label}_labels", num_classes, standardize)
