"""scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set; no download)."""

from __future__ import annotations

import jax
import numpy as np

from jaxcnn.data.common import finish, random_permutation
from jaxcnn.validation import check_key, error, is_number

__all__ = ["digits"]


def digits(
    *,
    standardize: bool = True,
    test_fraction: float = 0.2,
    key: jax.Array | None = None,
) -> dict[str, np.ndarray]:
    """The 1797 8x8 digit images of ``sklearn.datasets.load_digits``, split train/test.

    Pixel values (0..16) are scaled to [0, 1], then (by default) standardized with the
    training split's mean and std. The split is a random permutation drawn from
    ``key``: the last ``round(test_fraction * 1797)`` permuted examples are the test set.
    ``key=None`` means ``jax.random.key(0)``, a fixed documented split, so
    ``digits()`` is the same dataset on every call and machine.

    Args:
        standardize: per-channel standardization with training-split statistics.
        test_fraction: fraction of examples in the test split, in (0, 1).
        key: ``jax.random`` key for the split (default: ``jax.random.key(0)``).

    Returns:
        ``{"x_train": (N_train, 8, 8, 1) float32, "y_train": (N_train,) int32,
        "x_test": (N_test, 8, 8, 1) float32, "y_test": (N_test,) int32}``,
        ``N_test = round(0.2 * 1797) = 359`` by default.

    Example:
        >>> d = digits()
        >>> d["x_train"].shape, d["x_test"].shape
        ((1438, 8, 8, 1), (359, 8, 8, 1))
    """
    if not is_number(test_fraction) or not 0.0 < float(test_fraction) < 1.0:
        raise error("test_fraction", "a number in (0, 1)", test_fraction)
    key = jax.random.key(0) if key is None else check_key(key, name="key")
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("jaxcnn.data.digits needs scikit-learn (pip install scikit-learn)") from e
    bunch = load_digits()
    x = np.asarray(bunch.images, np.float64)[..., None] / 16.0  # (1797, 8, 8, 1)
    y = np.asarray(bunch.target)
    n = x.shape[0]
    n_test = int(round(float(test_fraction) * n))
    if not 0 < n_test < n:
        raise error("test_fraction", f"a fraction of the {n} examples that leaves both splits "
                    f"non-empty (this one gives {n_test} test examples)", test_fraction)
    perm = random_permutation(key, n)
    tr, te = perm[: n - n_test], perm[n - n_test :]
    return finish(x[tr], y[tr], x[te], y[te], standardize_inputs=standardize)
