"""Shared helpers for the dataset loaders: validation, standardization, pixel permutation.

Every image-style loader in :mod:`jaxcnn.data` returns a plain ``dict`` with exactly four
NumPy arrays, so that it can be splatted (``**data``)::

    {"x_train": float32 (N_train, *spatial, C), "y_train": int32 (N_train,),
     "x_test":  float32 (N_test,  *spatial, C), "y_test":  int32 (N_test,)}

Static facts about a dataset (its input shape and number of classes) live in
:class:`DatasetInfo` records, see :data:`jaxcnn.data.INFO` and :func:`jaxcnn.data.info`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import Text, check_key, error

__all__ = [
    "DatasetInfo",
    "SPLIT_KEYS",
    "permute_pixels",
    "standardize",
    "cache_dir",
]

SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
"""The four arrays of every dataset dict, in order."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a named dataset.

    Attributes:
        name: registry name, as accepted by :func:`jaxcnn.data.load`.
        input_shape: shape of one example, channels last, e.g. ``(32, 32, 3)``;
            ``None`` where it is chosen by an argument (NLGP's ``shape``).
        num_classes: number of labels ``0 .. num_classes - 1`` (CIFAR-100: 100 for the
            fine labels, 20 with ``label="coarse"``).
        requires_path: whether the loader reads user-downloaded files (``path=``).
        description: one line about the source.
    """

    name: str
    input_shape: tuple[int, ...] | None
    num_classes: int | None
    requires_path: bool
    description: str


# ----------------------------------------------------------------------------- checks


def check_dataset(data: Any, name: str = "data") -> None:
    """Checks that ``data`` is a dataset dict with consistent splits."""
    if not isinstance(data, Mapping):
        raise error(name, f"a dict with keys {SPLIT_KEYS}", Text(type(data).__name__))
    missing = [k for k in SPLIT_KEYS if k not in data]
    if missing:
        raise error(name, f"a dict with keys {SPLIT_KEYS}", Text(f"a mapping missing {missing}"))
    xtr, xte = np.shape(data["x_train"]), np.shape(data["x_test"])
    if len(xtr) < 3:
        raise error(f"{name}['x_train']", "shape (N, *spatial, C) with at least one spatial dim",
                    Text(f"shape {xtr}"))
    if xtr[1:] != xte[1:]:
        raise error(f"{name}['x_test']", f"examples of shape {xtr[1:]} like x_train", xte[1:])


def check_permutation_key(shuffle_pixels: bool, permutation_key: Any) -> Any:
    """The checked ``permutation_key`` of a loader with ``shuffle_pixels``.

    Returns:
      The key (``None`` when ``shuffle_pixels`` is False).

    Raises:
      ValueError: no key with ``shuffle_pixels=True``, a key without it, or a value that
        is not a ``jax.random`` key.
    """
    if shuffle_pixels and permutation_key is None:
        raise error("permutation_key", "a jax.random key when shuffle_pixels=True",
                    permutation_key)
    if permutation_key is not None and not shuffle_pixels:
        raise error("permutation_key",
                    "None when shuffle_pixels=False (the key is only used to shuffle)",
                    Text("a key") if hasattr(permutation_key, "dtype") else permutation_key)
    return None if permutation_key is None else check_key(permutation_key, name="permutation_key")


# ---------------------------------------------------------------------- randomness

_MIN_NOISE = 1 << 12


def noise_bucket(n: int) -> int:
    """Rounds ``n`` up to ``m * 2**e`` with ``8 <= m <= 16`` (at most 12.5% extra), and to
    at least 4096, so that few distinct sizes (and compilations) occur."""
    if n <= _MIN_NOISE:
        return _MIN_NOISE
    e = n.bit_length() - 4
    return -(-n >> e) << e if n % (1 << e) else n


@functools.partial(jax.jit, static_argnames=("size",))
def normal_flat(key, size: int):
    """``size`` iid N(0, 1) float32 values. Threefry compiles slowly on CPU (about a
    second per distinct shape), so callers draw a flat vector of a bucketed size
    (:func:`noise_bucket`) and use a prefix, keeping compilations few."""
    return jax.random.normal(key, (size,), jnp.float32)


def random_permutation(key: jax.Array, n: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` (argsort of iid normals), int64."""
    u = np.asarray(normal_flat(key, noise_bucket(int(n))))[:n]
    return np.argsort(u, kind="stable").astype(np.int64)


# ------------------------------------------------------------------------ transforms


def standardize(data: Mapping[str, np.ndarray], *, eps: float = 1e-8) -> dict[str, np.ndarray]:
    """Per-channel standardization with statistics of the **training** split.

    ``mean_c`` and ``std_c`` are computed over all training examples and spatial
    positions of channel ``c`` (in float64), then ``(x - mean_c) / (std_c + eps)`` is
    applied to both splits, so no test statistics leak into the inputs.

    Args:
        data: dataset dict with ``x_train`` ``(N, *spatial, C)`` and ``x_test``.
        eps: added to the standard deviation (guards constant channels).

    Returns:
        A new dict; ``x_*`` are float32, labels are passed through unchanged.

    Example:
        >>> from jaxcnn.data import digits
        >>> d = standardize(digits(standardize=False))
        >>> float(abs(d["x_train"].mean())) < 1e-5
        True
    """
    check_dataset(data)
    xtr = np.asarray(data["x_train"], dtype=np.float64)
    axes = tuple(range(xtr.ndim - 1))
    mean = xtr.mean(axis=axes)
    std = xtr.std(axis=axes)
    out = dict(data)
    for k in ("x_train", "x_test"):
        out[k] = ((np.asarray(data[k], np.float64) - mean) / (std + eps)).astype(np.float32)
    return out


def permute_pixels(
    data: Mapping[str, np.ndarray],
    key: jax.Array,
    *,
    return_permutation: bool = False,
) -> dict[str, np.ndarray] | tuple[dict[str, np.ndarray], np.ndarray]:
    """Applies one fixed random permutation of spatial positions to both splits.

    With ``P = prod(spatial)``, every example ``x`` of shape ``(*spatial, C)`` becomes
    ``x.reshape(P, C)[perm].reshape(*spatial, C)`` (``perm`` a uniformly random
    permutation drawn from ``key``): output position ``i`` (row-major)
    holds input position ``perm[i]``; the ``C`` channels of a position stay together,
    and the *same* permutation is used for train and test. This destroys spatial
    locality while keeping all information (the permutation-invariant benchmark).

    Args:
        data: dataset dict (``x_*`` of shape ``(N, *spatial, C)``); other keys are copied.
        key: ``jax.random`` key choosing the permutation.
        return_permutation: also return ``perm`` (int64 NumPy array of length ``P``).

    Returns:
        The permuted dataset dict (a new dict; inputs are not modified), and ``perm`` if
        requested.

    Example:
        >>> from jaxcnn.data import mnist1d
        >>> d = permute_pixels(mnist1d(), jax.random.key(0))
        >>> d["x_train"].shape
        (4000, 40, 1)
    """
    check_dataset(data)
    key = check_key(key, name="key")
    spatial = tuple(np.shape(data["x_train"])[1:-1])
    num_pos = math.prod(spatial)
    perm = random_permutation(key, num_pos)
    out = dict(data)
    for k in ("x_train", "x_test"):
        x = np.asarray(data[k])
        n, c = x.shape[0], x.shape[-1]
        out[k] = x.reshape(n, num_pos, c)[:, perm].reshape(x.shape)
    return (out, perm) if return_permutation else out


def finish(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    standardize_inputs: bool,
) -> dict[str, np.ndarray]:
    """Builds the canonical dict: float32 inputs, int32 labels, optional standardization."""
    data = {
        "x_train": np.ascontiguousarray(x_train, dtype=np.float32),
        "y_train": np.ascontiguousarray(y_train, dtype=np.int32),
        "x_test": np.ascontiguousarray(x_test, dtype=np.float32),
        "y_test": np.ascontiguousarray(y_test, dtype=np.int32),
    }
    return standardize(data) if standardize_inputs else data


# ----------------------------------------------------------------------------- cache


def cache_dir() -> str:
    """The on-disk cache folder: ``$JAXCNN_CACHE`` if set, else ``~/.cache/jaxcnn``."""
    env = os.environ.get("JAXCNN_CACHE")
    if env:
        return os.path.expanduser(env)
    return os.path.join(os.path.expanduser("~"), ".cache", "jaxcnn")
