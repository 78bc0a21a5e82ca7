"""MNIST-1D (Greydanus & Kobak), generated offline by the ``mnist1d`` package.

The arrays are exactly those of ``mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())``
(4000 train / 1000 test signals of length 40, 10 classes, seed 42), cast to float32 /
int32 and given a trailing channel axis. Nothing is downloaded.

Generation takes a few seconds, so results are cached twice: in-process
(``functools.lru_cache``) and on disk as ``.npz`` under :func:`jaxcnn.data.cache_dir`
(``$JAXCNN_CACHE`` or ``~/.cache/jaxcnn``; written atomically via a temporary file and
``os.replace``; a missing, unwritable or corrupt cache is simply regenerated).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import tempfile
import warnings
from typing import Any

import jax
import numpy as np

from jaxcnn.data.common import cache_dir, check_permutation_key, finish, permute_pixels
from jaxcnn.validation import error

__all__ = ["mnist1d", "MNIST1D_DEFAULT_ARGS"]

#: The generator's defaults (``mnist1d.data.get_dataset_args()`` minus its download url).
MNIST1D_DEFAULT_ARGS: dict[str, Any] = {
    "num_samples": 5000,
    "train_split": 0.8,
    "template_len": 12,
    "padding": [36, 60],
    "scale_coeff": 0.4,
    "max_translation": 48,
    "corr_noise_scale": 0.25,
    "iid_noise_scale": 2e-2,
    "shear_scale": 0.75,
    "shuffle_seq": False,
    "final_seq_length": 40,
    "seed": 42,
}

_CACHE_VERSION = 1


def _generator_args(overrides: dict[str, Any]) -> dict[str, Any]:
    """The generator's own defaults updated with ``overrides`` (validated)."""
    try:
        import mnist1d.data as m1d
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jaxcnn.data.mnist1d needs the `mnist1d` package (pip install mnist1d)"
        ) from e
    args = m1d.get_dataset_args(as_dict=True)
    args.pop("url", None)
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise error("overrides", f"MNIST-1D generator arguments, i.e. keys of {sorted(args)}",
                    unknown)
    args.update(overrides)
    return args


def _to_jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_to_jsonable(u) for u in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _args_key(args: dict[str, Any]) -> str:
    return json.dumps({k: _to_jsonable(v) for k, v in sorted(args.items())}, sort_keys=True)


def _generate(args_json: str) -> dict[str, np.ndarray]:
    """Runs the package's generator, restoring the global RNG states it reseeds."""
    import mnist1d.data as m1d
    from mnist1d.utils import ObjectView

    args = json.loads(args_json)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        raw = m1d.make_dataset(ObjectView(dict(args)))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": np.asarray(raw["x"]),
        "y": np.asarray(raw["y"]),
        "x_test": np.asarray(raw["x_test"]),
        "y_test": np.asarray(raw["y_test"]),
    }


def _cache_path(args_json: str) -> str:
    digest = hashlib.sha256(f"v{_CACHE_VERSION}:{args_json}".encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), f"mnist1d-{digest}.npz")


def _read_cache(path: str, args_json: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["args"]) != args_json:
                return None
            return {k: np.array(f[k]) for k in ("x", "y", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _write_cache(path: str, args_json: str, raw: dict[str, np.ndarray]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, args=np.array(args_json), **raw)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as e:
        warnings.warn(f"could not write the MNIST-1D cache {path!r}: {e}", stacklevel=3)


@functools.lru_cache(maxsize=8)
def _load_raw(args_json: str, disk_cache: bool) -> dict[str, np.ndarray]:
    path = _cache_path(args_json) if disk_cache else None
    if path is not None and os.path.exists(path):
        raw = _read_cache(path, args_json)
        if raw is not None:
            return raw
    raw = _generate(args_json)
    if path is not None:
        _write_cache(path, args_json, raw)
    return raw


def mnist1d(
    *,
    shuffle_pixels: bool = False,
    permutation_key: jax.Array | None = None,
    standardize: bool = False,
    disk_cache: bool = True,
    **overrides: Any,
) -> dict[str, np.ndarray]:
    """MNIST-1D, generated offline with the ``mnist1d`` package's own generator.

    Returns exactly ``mnist1d.data.make_dataset(args)`` where ``args`` are the package's
    defaults (``get_dataset_args()``) updated with ``overrides``: with the defaults,
    5000 signals, ``train_split=0.8`` -> 4000 train / 1000 test, length 40, seed 42.
    ``x`` is the generator's ``x`` / ``x_test`` as float32 with a channel axis appended,
    ``y`` its labels as int32. The generator already centres and scales the whole data
    set (global mean 0, std 1), and the published baselines (logistic 32%, MLP 68%,
    CNN 94%) train on these raw values, so ``standardize`` defaults to **False** here
    (unlike the image loaders); ``True`` applies train-split standardization.

    The generator reseeds NumPy's and Python's global RNGs; this function saves and
    restores both, so calling it has no effect on global random state.

    Args:
        shuffle_pixels: apply one fixed random permutation of the 40 positions to train
            and test (the "pixels shuffled" benchmark), see
            :func:`jaxcnn.data.permute_pixels`. Requires ``permutation_key``.
        permutation_key: ``jax.random`` key choosing that permutation.
        standardize: per-channel standardization with training-split statistics.
        disk_cache: read/write the ``.npz`` cache under :func:`jaxcnn.data.cache_dir`
            (the in-process cache is always used).
        **overrides: generator arguments, e.g. ``num_samples=1000``, ``seed=0``,
            ``final_seq_length=40`` (any key of ``get_dataset_args()`` except ``url``).

    Returns:
        ``{"x_train": (4000, 40, 1) float32, "y_train": (4000,) int32,
        "x_test": (1000, 40, 1) float32, "y_test": (1000,) int32}`` with the defaults.
        Arrays are fresh copies; modifying them does not touch the cache.

    Raises:
        ValueError: unknown generator argument, or ``shuffle_pixels`` without a key.

    Example:
        >>> d = mnist1d()
        >>> d["x_train"].shape, d["y_train"].dtype
        ((4000, 40, 1), dtype('int32'))
        >>> ds = mnist1d(shuffle_pixels=True, permutation_key=jax.random.key(0))
    """
    permutation_key = check_permutation_key(shuffle_pixels, permutation_key)
    args_json = _args_key(_generator_args(overrides))
    raw = _load_raw(args_json, bool(disk_cache))
    data = finish(raw["x"][..., None].copy(), raw["y"], raw["x_test"][..., None].copy(),
                  raw["y_test"], standardize_inputs=standardize)
    if shuffle_pixels:
        data = permute_pixels(data, permutation_key)
    return data


def clear_cache() -> None:
    """Empties the in-process MNIST-1D cache (the on-disk cache is left alone)."""
    _load_raw.cache_clear()
