"""Argument checks of :mod:`jaxcnn.stats`, in the library's one error form.

Every error reads ``"<argument>: expected ..., got ..."`` (:func:`jaxcnn.validation.error`)
and names the first offending element, e.g. ``"values[1]: expected a finite value, got
nan"`` or ``"correct_a[0, 3]: expected 0 or 1 (wrong or right), got nan"``.

Example:
    >>> finite_vector("values", [1, 2]).tolist()
    [1.0, 2.0]
    >>> correctness("correct", [[True, False]]).tolist()
    [[1.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

from jaxcnn.validation import Text, check_int, check_number, error

__all__ = ["check_confidence", "check_n_boot", "check_seed", "correctness", "finite_vector"]

MIN_BOOT = 100
"""The fewest bootstrap replicates accepted (a 95% percentile interval needs the tails)."""


def finite_vector(name: str, values: object) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array of finite numbers."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise error(name, "a 1-D sequence of numbers", values) from None
    if arr.ndim != 1:
        raise error(name, "a 1-D sequence of numbers", Text(f"shape {arr.shape}"))
    if arr.size == 0:
        raise error(name, "at least 1 value", 0)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise error(f"{name}[{bad[0]}]", "a finite value", float(arr[bad[0]]))
    return arr


def correctness(name: str, values: object, like: np.ndarray | None = None, *,
                ndim: int = 2) -> np.ndarray:
    """Per-example correctness (bool or 0/1) as a float64 array.

    With ``ndim=2`` (the default): ``(n_seeds, n_test)``, row ``s`` the test examples'
    correctness for seed ``s``, at least one of each; ``like`` (another model's checked
    array) fixes the shape, for paired comparisons. With ``ndim=1``: one model's
    ``(n_test,)`` vector (may be empty).
    """
    what = ("a 2-D (n_seeds, n_test) array of per-example correctness (bool or 0/1)"
            if ndim == 2 else "a 1-D array of per-example correctness (bool or 0/1)")
    try:
        raw = np.asarray(values)
        if raw.dtype == object:
            raise TypeError
        arr = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise error(name, what, Text(type(values).__name__)) from None
    if arr.ndim != ndim:
        raise error(name, what, Text(f"shape {arr.shape}"))
    if ndim == 2 and arr.size == 0:
        raise error(name, "at least 1 seed and 1 test example", Text(f"shape {arr.shape}"))
    if like is not None and arr.shape != like.shape:
        raise error(name, f"shape {like.shape} (the same seeds and test examples as "
                    "correct_a)", Text(f"shape {arr.shape}"))
    bad = np.argwhere((arr != 0.0) & (arr != 1.0))  # NaN compares unequal: caught here
    if bad.size:
        at = tuple(int(v) for v in bad[0])
        raise error(f"{name}[{', '.join(map(str, at))}]", "0 or 1 (wrong or right)",
                    raw[at].item())
    return arr


def check_confidence(confidence: object) -> float:
    """A coverage in ``(0, 1)``."""
    confidence = check_number(confidence, name="confidence", finite=False)
    if not 0.0 < confidence < 1.0:
        raise error("confidence", "a number in (0, 1)", confidence)
    return confidence


def check_n_boot(n_boot: object) -> int:
    """A number of bootstrap replicates, at least :data:`MIN_BOOT`."""
    return check_int(n_boot, name="n_boot", minimum=MIN_BOOT)


def check_seed(seed: object) -> int:
    """A NumPy generator seed: an int ``>= 0``."""
    return check_int(seed, name="seed", minimum=0)
