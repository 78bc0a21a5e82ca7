"""Data preparation shared by the studies.

The dataset of ``--dataset`` / ``--data-path`` (:func:`load_data`, :func:`load_dataset`;
file problems become one-line :class:`~experiments.harness.errors.CLIError`\\ s), random
sub-sets of its splits, its number of classes, and the first-layer window per dataset
(:data:`KERNEL_SIZES`, :func:`kernel_size_for`; the Neyshabur models of ``learn_conv``
and ``sample_efficiency``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from experiments.harness.cli import FILE_DATASETS, RunOptions
from experiments.harness.errors import CLIError

__all__ = ["DEFAULT_KERNEL_SIZE", "KERNEL_SIZES", "kernel_size_for", "load_data",
           "load_dataset", "num_classes", "subsample"]

#: First-layer kernel size per dataset when the preset does not fix one (the paper's 9
#: for 32x32 images; it must fit the input, e.g. 3 for 8x8 digits).
KERNEL_SIZES: dict[str, int] = {
    "mnist1d": 9, "mnist1d_shuffled": 9, "digits": 3, "mnist": 9, "mnist_shuffled": 9,
    "nlgp": 5,
    "cifar10": 9, "cifar100": 9, "svhn": 9,
}
#: First-layer window of a dataset that :data:`KERNEL_SIZES` does not list (e.g. ``npz``).
DEFAULT_KERNEL_SIZE = 9


def load_data(name: str, *, path: str | None = None, **kwargs) -> dict:
    """Loads a dataset by name (``jaxcnn.data.load``); file problems become :class:`CLIError`.

    The error names ``--data-path`` for file-based datasets and ``--dataset`` otherwise,
    on one line.
    """
    from jaxcnn import data as jdata

    try:
        return jdata.load(name, path=path, **kwargs)
    except (FileNotFoundError, ValueError, OSError, EOFError) as e:
        flag = "--data-path" if name in FILE_DATASETS else "--dataset"
        raise CLIError(f"{flag}: {' '.join(str(e).split())}") from None


def kernel_size_for(cfg: Any, dataset: str, in_shape: Sequence[int]) -> int:
    """The first-layer window: the preset's ``kernel_size``, else the dataset's
    (:data:`KERNEL_SIZES`), capped by the input size."""
    k = (cfg.kernel_size if cfg.kernel_size is not None
         else KERNEL_SIZES.get(dataset, DEFAULT_KERNEL_SIZE))
    return int(min(k, *in_shape[:-1]))


def load_dataset(options: RunOptions, *, key: jax.Array, nlgp_shape=(20, 20),
                 nlgp_num_train: int = 4000, nlgp_num_test: int = 1000) -> dict:
    """Loads ``options.dataset``; file problems become a one-line ``--data-path`` error.

    ``nlgp`` is sampled (from ``key``) with the given shape and split sizes.
    """
    kw: dict = {}
    if options.dataset == "nlgp":
        kw = dict(key=key, shape=tuple(nlgp_shape), num_train=nlgp_num_train,
                  num_test=nlgp_num_test)
    return load_data(options.dataset, path=options.data_path, **kw)


def subsample(data: Mapping[str, np.ndarray], key: jax.Array, *, num_train: int | None,
              num_test: int | None) -> dict:
    """A random subset of each split (``None``: keep the split as it is)."""
    out = dict(data)
    for split, n, k in (("train", num_train, 0), ("test", num_test, 1)):
        total = len(data[f"y_{split}"])
        if n is None or n >= total:
            continue
        idx = np.sort(np.asarray(jax.random.permutation(jax.random.fold_in(key, k), total))[:n])
        out[f"x_{split}"] = np.asarray(data[f"x_{split}"])[idx]
        out[f"y_{split}"] = np.asarray(data[f"y_{split}"])[idx]
    return out


def num_classes(dataset: str, data: Mapping[str, Any]) -> int:
    """The dataset's number of classes (from its registry entry, else from the labels)."""
    from jaxcnn import data as jdata

    return jdata.info(dataset).num_classes or jdata.infer_num_classes(data)
