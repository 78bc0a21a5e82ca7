"""SVHN (cropped digits, format 2) from the standard ``.mat`` files (no download).

Get ``train_32x32.mat`` and ``test_32x32.mat`` (optionally ``extra_32x32.mat``) from
http://ufldl.stanford.edu/housenumbers/ and pass the folder that holds them.
Each file has ``X`` uint8 ``(32, 32, 3, N)`` and ``y`` ``(N, 1)`` with labels 1..10,
where 10 means the digit 0; labels are returned as the digit (``10 -> 0``).
"""

from __future__ import annotations

import os

import numpy as np

from jaxcnn.data.common import finish
from jaxcnn.validation import Text, error

__all__ = ["svhn", "SVHN_FILES"]

SVHN_FILES = ("train_32x32.mat", "test_32x32.mat", "extra_32x32.mat")
"""The standard SVHN file names (format 2, ``.mat``): train, test, extra."""


def _read_mat(path: str) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    where = f"SVHN file {path!r}"
    try:
        m = scipy.io.loadmat(path)
    except Exception as e:
        raise error(where, "a readable .mat file", Text(f"{type(e).__name__}: {e}")) from e
    if "X" not in m or "y" not in m:
        raise error(where, "the variables 'X' (32, 32, 3, N) and 'y' (N, 1)",
                    sorted(k for k in m if not k.startswith("__")))
    x, y = np.asarray(m["X"]), np.asarray(m["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise error(where, "'X' of shape (32, 32, 3, N)", Text(f"shape {x.shape}"))
    n = x.shape[3]
    if y.size != n or not np.issubdtype(y.dtype, np.number):
        raise error(where, f"'y' with {n} numeric labels", Text(f"{y.dtype} {y.shape}"))
    y = y.reshape(-1).astype(np.int64)
    if n and (y.min() < 0 or y.max() > 10):
        raise error(where, "labels in 1..10 (10 = digit 0)",
                    Text(f"labels in [{y.min()}, {y.max()}]"))
    y = np.where(y == 10, 0, y)
    return np.transpose(x, (3, 0, 1, 2)), y  # (N, 32, 32, 3)


def svhn(
    path: str | os.PathLike, *, extra: bool = False, standardize: bool = True
) -> dict[str, np.ndarray]:
    """SVHN cropped digits from ``train_32x32.mat`` / ``test_32x32.mat``.

    Pixels are scaled to [0, 1], then (by default) standardized per channel with the
    training split's statistics. Labels are digits 0..9 (the files' 10 becomes 0).

    Args:
        path: folder containing ``train_32x32.mat`` and ``test_32x32.mat`` (or the path
            of ``train_32x32.mat`` itself; its folder is used).
        extra: append ``extra_32x32.mat`` (531,131 examples) to the training split.
        standardize: per-channel standardization with training-split statistics.

    Returns:
        ``{"x_train": (73257, 32, 32, 3) float32, "y_train": (73257,) int32,
        "x_test": (26032, 32, 32, 3) float32, "y_test": (26032,) int32}``.

    Raises:
        FileNotFoundError: the folder or an expected file is missing (the message names
            the path and the expected file names).
        ValueError: a file is not a readable SVHN ``.mat`` file.

    Example:
        >>> d = svhn("~/data/svhn")  # doctest: +SKIP
        >>> d["x_test"].shape  # doctest: +SKIP
        (26032, 32, 32, 3)
    """
    folder = os.path.expanduser(os.fspath(path))
    if os.path.isfile(folder) and os.path.basename(folder) in SVHN_FILES:
        folder = os.path.dirname(folder) or "."
    needed = list(SVHN_FILES[:3] if extra else SVHN_FILES[:2])
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"SVHN: {folder!r} is not a folder; expected a folder containing {needed}"
        )
    missing = [f for f in needed if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FileNotFoundError(
            f"SVHN: {folder!r} lacks {missing}; expected a folder containing {needed}"
        )
    xtr, ytr = _read_mat(os.path.join(folder, SVHN_FILES[0]))
    if extra:
        xex, yex = _read_mat(os.path.join(folder, SVHN_FILES[2]))
        xtr, ytr = np.concatenate([xtr, xex]), np.concatenate([ytr, yex])
    xte, yte = _read_mat(os.path.join(folder, SVHN_FILES[1]))
    return finish(
        xtr.astype(np.float32) / 255.0, ytr, xte.astype(np.float32) / 255.0, yte,
        standardize_inputs=standardize,
    )
