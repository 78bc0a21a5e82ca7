"""Per-example test correctness in results files, and intervals that include test-set noise.

A t interval over seeds (:func:`jaxcnn.stats.paired_difference`) treats each seed's
accuracy on the one fixed test set as an observation: it leaves out the test set's own
sampling error, which every seed shares. The studies therefore also store, per seed,
which test examples the final model gets right, and their comparison tables show the
interval over seeds *and* test examples (:func:`jaxcnn.stats.accuracy_difference`,
crossed random effects; :mod:`jaxcnn.stats.crossed`) next to the seed-only one.

* :func:`correct_of`: ``(n_test,)`` bool correctness of a trained model (eval mode), by
  the training loop's own definition (:func:`jaxcnn.train.steps.loss_and_correct`).
* :func:`pack_correct` / :func:`unpack_correct`: that vector as a short base64 string
  (one bit per example) and back, exactly; :func:`correct_record` /
  :func:`correct_matrix`: the JSON record ``{"n", "packed"}`` a per-seed entry keeps
  under :data:`KEY`, and the ``(n_seeds, n_test)`` matrix of a model's seeds (``None``
  for results written before correctness was stored).
* :func:`crossed_cells`: the :mod:`jaxcnn.stats` result of one accuracy or one paired
  difference, optionally scaled (``scale=100``: percent / points).
* :func:`family_cells`: the table cells of one table's family of such differences:
  :data:`CI_COLUMN`, :data:`P_COLUMN` (Holm-adjusted within the family,
  :func:`experiments.harness.tables.holm_cells`) and ``"significant"``.

Example:
    >>> rec = correct_record(np.array([True, False, True]))
    >>> rec
    {'n': 3, 'packed': 'oA=='}
    >>> correct_matrix([{KEY: rec}, {KEY: rec}]).shape
    (2, 3)
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from experiments.harness.tables import holm_cells
from jaxcnn import stats
from jaxcnn.stats.checks import correctness
from jaxcnn.train.steps import loss_and_correct
from jaxcnn.validation import Text, check_int, check_number, error

__all__ = ["CI_COLUMN", "KEY", "P_COLUMN", "correct_matrix", "correct_of", "correct_record",
           "crossed_cells", "family_cells", "pack_correct", "unpack_correct"]

#: The per-seed results key of a model's test correctness (a :func:`correct_record`).
KEY = "test_correct"
#: Column of the interval over seeds and test examples.
CI_COLUMN = "95% CI (seeds+test)"
#: Column of its Holm-adjusted p-value within the table.
P_COLUMN = "p (Holm, seeds+test)"
#: Keys of a :mod:`jaxcnn.stats` result in the accuracy's unit / its square.
_LINEAR = ("mean", "ci_low", "ci_high", "half_width", "se")
_SQUARED = ("var_seed", "var_example", "var_residual")


def _bool_vector(name: str, values: object) -> np.ndarray:
    """``values`` as a 1-D bool array; only bools or 0/1 accepted
    (:func:`jaxcnn.stats.checks.correctness` with ``ndim=1``)."""
    return correctness(name, values, ndim=1).astype(bool)


def pack_correct(correct: object) -> str:
    """Per-example correctness as base64 of its bits (``np.packbits``, big-endian).

    The string does not hold the length: keep ``n`` next to it (:func:`correct_record`).

    Args:
        correct: ``(n_test,)`` bool (or 0/1).

    Returns:
        ASCII base64 of ``ceil(n_test / 8)`` bytes; the last byte's unused bits are 0.

    Raises:
        ValueError: if ``correct`` is not 1-D or holds anything but 0/1.

    Example:
        >>> pack_correct([1, 0, 1, 1, 0, 0, 0, 0, 1])
        'sIA='
    """
    bits = _bool_vector("correct", correct)
    return base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")


def unpack_correct(packed: str, n: int) -> np.ndarray:
    """The exact inverse of :func:`pack_correct`.

    Args:
        packed: a :func:`pack_correct` string.
        n: the number of test examples it holds.

    Returns:
        ``(n,)`` bool.

    Raises:
        ValueError: if ``packed`` is not base64, holds another number of bytes than
            ``ceil(n / 8)``, or sets a bit past ``n``.

    Example:
        >>> unpack_correct('sIA=', 9).astype(int).tolist()
        [1, 0, 1, 1, 0, 0, 0, 0, 1]
    """
    n = check_int(n, name="n", minimum=0)
    if not isinstance(packed, str):
        raise error("packed", "a base64 string", Text(type(packed).__name__))
    try:
        raw = base64.b64decode(packed.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise error("packed", "a base64 string", packed[:40]) from None
    if len(raw) != -(-n // 8):
        raise error("packed", f"{-(-n // 8)} bytes for n={n} examples", Text(f"{len(raw)} bytes"))
    bits = np.unpackbits(np.frombuffer(raw, np.uint8))
    if bits[n:].any():
        raise error("packed", f"no bit set past example {n}", Text("a set padding bit"))
    return bits[:n].astype(bool)


def correct_record(correct: object) -> dict:
    """The JSON record of one seed's correctness: ``{"n": n_test, "packed": str}``.

    Example:
        >>> correct_record([True, True])
        {'n': 2, 'packed': 'wA=='}
    """
    bits = _bool_vector("correct", correct)
    return {"n": int(bits.size), "packed": pack_correct(bits)}


def correct_matrix(per_seed: Sequence[Mapping], key: str = KEY) -> np.ndarray | None:
    """``(n_seeds, n_test)`` bool correctness of one model from its per-seed entries.

    Args:
        per_seed: the model's per-seed result dicts, each with a :func:`correct_record`
            under ``key``.
        key: the record's key.

    Returns:
        Row ``s`` = seed ``s``'s correctness; ``None`` if any entry lacks the record
        (results written before correctness was stored) or there are no entries.

    Raises:
        ValueError: if a record is malformed or the seeds' test sets differ in size.

    Example:
        >>> correct_matrix([{"test_correct": {"n": 2, "packed": "gA=="}}]).tolist()
        [[True, False]]
        >>> correct_matrix([{"test_acc": 0.5}]) is None
        True
    """
    records = [p.get(key) if isinstance(p, Mapping) else None for p in per_seed]
    if not records or any(r is None for r in records):
        return None
    rows = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping) or "n" not in r or "packed" not in r:
            raise error(f"per_seed[{i}][{key!r}]", "a mapping with keys n, packed", r)
        rows.append(unpack_correct(r["packed"], r["n"]))
    if len({row.size for row in rows}) != 1:
        raise error(key, "the same number of test examples for every seed",
                    [row.size for row in rows])
    return np.stack(rows)


def correct_of(model_or_logits_fn: nnx.Module | Callable, x: object, y: object, *,
               batch_size: int = 1000) -> np.ndarray:
    """Per-example test correctness of a trained model, as the training loop counts it.

    An ``nnx.Module`` is evaluated on a clone in eval mode (BatchNorm running averages,
    no dropout), as :func:`jaxcnn.train.train_seeds` evaluates; any other callable is
    taken as ``x_batch -> logits``. Correct = argmax of the outputs equals the label
    (:func:`jaxcnn.train.steps.loss_and_correct`: also one-hot / sign targets).

    Args:
        model_or_logits_fn: the trained model, or a function ``(B, ...) -> (B, C)``.
        x: ``(n_test, ...)`` inputs.
        y: ``(n_test,)`` integer labels or ``(n_test, C)`` targets.
        batch_size: examples per forward pass.

    Returns:
        ``(n_test,)`` bool.

    Raises:
        ValueError: if ``x`` and ``y`` differ in length or the model is not callable.

    Example:
        >>> correct_of(lambda xb: xb, np.eye(3), np.array([0, 2, 2])).tolist()
        [True, False, True]
    """
    check_int(batch_size, name="batch_size", minimum=1)
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise error("y", f"{len(x)} labels (one per input)", len(y))
    if isinstance(model_or_logits_fn, nnx.Module):
        fn = nnx.clone(model_or_logits_fn)
        fn.eval()
    elif callable(model_or_logits_fn):
        fn = model_or_logits_fn
    else:
        raise error("model_or_logits_fn", "an nnx.Module or a function x -> logits",
                    Text(type(model_or_logits_fn).__name__))
    parts = []
    for i in range(0, len(x), batch_size):
        out = fn(jnp.asarray(x[i:i + batch_size]))
        parts.append(np.asarray(loss_and_correct(out, jnp.asarray(y[i:i + batch_size]),
                                                 "mse")[1]) > 0.5)
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def crossed_cells(correct_a: object, correct_b: object | None = None, *,
                  scale: float = 1.0, confidence: float = 0.95) -> dict:
    """One accuracy (``correct_b`` None) or paired difference ``a − b``, over seeds and
    test examples (crossed random effects; :mod:`jaxcnn.stats.crossed`).

    Args:
        correct_a: ``(n_seeds, n_test)`` bool correctness (:func:`correct_matrix`).
        correct_b: the same shape: the other model on the same seeds and test examples.
        scale: multiplies ``mean``, ``ci_low``, ``ci_high``, ``half_width``, ``se`` (and
            the variance components by ``scale**2``): ``100`` gives percent / points, the
            unit of the study's seed-only intervals. ``p_value`` and ``df`` are unchanged.
        confidence: the interval's coverage.

    Returns:
        :func:`jaxcnn.stats.accuracy_interval`'s (``b`` None) or
        :func:`jaxcnn.stats.accuracy_difference`'s dict (with ``p_value``), scaled.

    Raises:
        ValueError: as those functions (shapes, non-0/1 values), or a bad ``scale``.

    Example:
        >>> a = np.array([[1, 1, 1, 0], [1, 1, 0, 1]], bool)
        >>> b = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], bool)
        >>> d = crossed_cells(a, b, scale=100)
        >>> d["mean"], d["n_seeds"], d["n_test"], 0.0 < d["p_value"] < 1.0
        (37.5, 2, 4, True)
    """
    scale = check_number(scale, name="scale", minimum=0.0, strict=True)
    if correct_b is None:
        res = stats.accuracy_interval(correct_a, confidence=confidence)
    else:
        res = stats.accuracy_difference(correct_a, correct_b, confidence=confidence)
    if scale != 1.0:
        res.update({k: res[k] * scale for k in _LINEAR})
        res.update({k: res[k] * scale * scale for k in _SQUARED if k in res})
    return res


def _interval_text(d: Mapping, digits: int, scale: float, mean: bool) -> str:
    text = stats.format_ci(d, digits=digits, scale=scale)
    return text if mean or "[" not in text else text[text.index("["):]


def family_cells(diffs: Sequence[Mapping | None], *, digits: int = 1, scale: float = 1.0,
                 alpha: float = 0.05, mean: bool = True) -> list[dict]:
    """Table cells of one table's family of differences over seeds and test examples.

    Every entry counts toward the family's size, so Holm adjusts for all of the table's
    comparisons: an entry that is ``None`` (no correctness stored: an older results
    file) or has no finite ``p_value`` gets ``"-"`` cells and enters Holm as ``p = 1``
    (never rejected; the others keep the adjustment for the whole family).

    Args:
        diffs: :func:`crossed_cells` differences (or any dict with ``mean``, ``ci_low``,
            ``ci_high``, ``n``, ``p_value``), or ``None``, in table order.
        digits, scale: as :func:`jaxcnn.stats.format_ci`.
        alpha: the family-wise error rate.
        mean: show the mean before the interval (``False``: ``"[low, high]"`` only, for a
            table whose seed-only column already shows the same mean).

    Returns:
        One ``{CI_COLUMN: str, P_COLUMN: str, "significant": "yes" | "no" | "-"}`` per
        entry, in order.

    Example:
        >>> d = {"mean": 0.02, "ci_low": 0.01, "ci_high": 0.03, "n": 5, "p_value": 0.01}
        >>> [c[P_COLUMN] for c in family_cells([d, d, None], digits=2, scale=100)]
        ['0.030', '0.030', '-']
        >>> family_cells([d], digits=2, scale=100, mean=False)[0][CI_COLUMN]
        '[+1.00, +3.00]'
    """
    def usable(d):
        p = None if d is None else d.get("p_value")
        return p is not None and math.isfinite(p)

    holm = holm_cells([d if usable(d) else {"p_value": 1.0} for d in diffs], alpha=alpha)
    out = []
    for d, h in zip(diffs, holm):
        ci = "-" if d is None else _interval_text(d, digits, scale, mean)
        if usable(d):
            out.append({CI_COLUMN: ci, P_COLUMN: h["p (Holm)"], "significant": h["significant"]})
        else:
            out.append({CI_COLUMN: ci, P_COLUMN: "-", "significant": "-"})
    return out
