"""Argument validation and normalisation, in one place, with one message form.

Every ``ValueError`` that jaxcnn raises is built by :func:`error` and reads
``"<argument>: expected <what>, got <what>"``, so users (and tests) see which
argument was wrong, what was expected and what was given (given values are shown
with ``repr``; a description wrapped in :class:`Text`, such as ``Text("shape (2, 3)")``
for an array, as it is). The generic checks
(:func:`check_int`, :func:`check_number`, :func:`check_scalar` (which also takes 0-d
arrays), :func:`check_bool`, :func:`check_choice`, :func:`check_key`) serve every
module; the geometric ones (:func:`geometry`,
:func:`normalize_padding`, ...) normalise kernel size, strides, padding and
dilation once into a :class:`Geometry`. All checks run on static values, i.e.
at trace time: they cost nothing under ``jax.jit``.

Example:
    >>> from jaxcnn.validation import check_int
    >>> check_int(3, name="epochs", minimum=0)
    3
    >>> check_int(-1, name="epochs", minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs: expected an int >= 0, got -1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Union

import numpy as np

__all__ = ["PADDING_MODES", "Geometry", "PaddingLike", "Text", "as_tuple", "check_bool",
           "check_choice", "check_groups", "check_input", "check_int", "check_key",
           "check_number", "check_scalar", "check_shape", "error", "geometry",
           "in_shape_tuple", "is_concrete", "is_int", "is_number", "kernel_size_tuple",
           "normalize_padding"]

PaddingLike = Union[str, int, Sequence[Sequence[int]]]
"""What ``padding`` accepts: a mode string, an int, or one ``(low, high)`` pair per dim."""

PADDING_MODES = ("VALID", "SAME", "CIRCULAR")
"""The padding mode strings (any case)."""


class Text(str):
    """A description to show as it is after "got" (no quotes), e.g. ``Text("shape (3,)")``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def error(name: str, expected: str, given: Any) -> ValueError:
    """The package's one error form: ``"<name>: expected <expected>, got <given!r>"``.

    Args:
      name: the argument (or ``argument['key']``) that was wrong.
      expected: what was expected, in words.
      given: what was given; rendered with ``repr``, so strings appear quoted (wrap a
        description in :class:`Text` to show it unquoted, e.g. ``Text(f"shape {x.shape}")``).

    Returns:
      The ``ValueError`` to raise (``raise error(...)``).
    """
    return ValueError(f"{name}: expected {expected}, got {given!r}")


def is_int(v: Any) -> bool:
    """True for Python and NumPy ints, False for bools (never a meaningful size)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v: Any) -> bool:
    """True for real Python/NumPy scalars (ints or floats), False for bools."""
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)))


def check_int(value: Any, *, name: str, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Returns ``int(value)`` if it is an int within ``[minimum, maximum]``.

    Raises:
      ValueError: ``"<name>: expected an int >= minimum, got <value>"``.
    """
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    what = "an int" + (" " + " and ".join(bounds) if bounds else "")
    if not is_int(value) or (minimum is not None and value < minimum) or (
            maximum is not None and value > maximum):
        raise error(name, what, value)
    return int(value)


def check_number(value: Any, *, name: str, minimum: float | None = None,
                 strict: bool = False, finite: bool = True) -> float:
    """Returns ``float(value)`` if it is a real number (``> minimum`` if ``strict``).

    Raises:
      ValueError: ``"<name>: expected a finite number >= minimum, got <value>"``.
    """
    what = "a finite number" if finite else "a number"
    if minimum is not None:
        what += f" {'>' if strict else '>='} {minimum}"
    if not is_number(value):
        raise error(name, what, value)
    v = float(value)
    if (finite and not math.isfinite(v)) or (minimum is not None and not (
            v > minimum or (not strict and v == minimum))):  # NaN fails every bound
        raise error(name, what, value)
    return v


def is_concrete(value: Any) -> bool:
    """False for a JAX tracer (a value traced under ``jax.jit``), True otherwise."""
    import jax

    return not isinstance(value, jax.core.Tracer)


def check_scalar(value: Any, *, name: str, minimum: float | None = None,
                 strict: bool = False, finite: bool = True) -> Any:
    """:func:`check_number` that also accepts 0-d NumPy/JAX arrays of a real dtype.

    A traced value (under ``jax.jit``) cannot be checked and is returned unchanged.

    Returns:
      ``float(value)`` for a concrete value, else ``value`` itself.

    Raises:
      ValueError: ``"<name>: expected a finite number >= minimum, got <value>"``.
    """
    if not is_concrete(value):
        return value
    if (not is_number(value) and hasattr(value, "dtype") and np.ndim(value) == 0
            and np.issubdtype(value.dtype, np.number)
            and not np.issubdtype(value.dtype, np.complexfloating)):
        value = np.asarray(value).item()  # a Python int/float, shown plainly in messages
    return check_number(value, name=name, minimum=minimum, strict=strict, finite=finite)


def check_bool(value: Any, *, name: str) -> bool:
    """Returns ``bool(value)`` if it is a Python or NumPy bool (not ``0``/``1``).

    Raises:
      ValueError: ``"<name>: expected a bool, got <value>"``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise error(name, "a bool", value)
    return bool(value)


def check_key(key: Any, *, name: str = "key") -> Any:
    """Returns ``key`` if it is one JAX PRNG key (typed, shape ``()``, or legacy ``uint32[2]``).

    Raises:
      ValueError: ``"<name>: expected a jax.random key (e.g. jax.random.key(0)), got ..."``.
    """
    import jax

    what = "a single jax.random key, e.g. jax.random.key(0)"
    if key is None or isinstance(key, (int, np.integer)) or not hasattr(key, "dtype"):
        raise error(name, what, key)
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise error(name, what + " (shape ())",
                        Text(f"a key array of shape {tuple(key.shape)}"))
        return key
    if key.dtype == np.uint32 and tuple(key.shape) == (2,):
        return key
    raise error(name, what + " (typed key or legacy uint32[2])",
                Text(f"dtype {key.dtype} shape {tuple(key.shape)}"))


def check_choice(value: Any, choices: Sequence[Any], *, name: str) -> Any:
    """Returns ``value`` if it is one of ``choices``.

    Raises:
      ValueError: ``"<name>: expected one of (...), got <value>"``.
    """
    if value not in tuple(choices):
        raise error(name, f"one of {tuple(choices)}", value)
    return value


def as_tuple(value, n: int, *, name: str, minimum: int = 1) -> tuple[int, ...]:
    """Normalises an int or a length-``n`` sequence of ints to a tuple of ints.

    Args:
      value: an int (broadcast to all ``n`` dims) or a sequence of ``n`` ints.
      n: number of spatial dims.
      name: argument name used in error messages.
      minimum: smallest allowed value.

    Returns:
      A tuple of ``n`` Python ints.

    Raises:
      ValueError: if ``value`` has the wrong length, a non-int entry, or an
        entry below ``minimum``.
    """
    if is_int(value):
        out = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n or not all(is_int(v) for v in value):
            raise error(name, f"an int or a sequence of {n} ints (one per spatial dim)", value)
        out = tuple(int(v) for v in value)
    else:
        raise error(name, f"an int or a sequence of {n} ints (one per spatial dim)", value)
    if any(v < minimum for v in out):
        raise error(name, f"values >= {minimum}", value)
    return out


def kernel_size_tuple(kernel_size, *, name: str = "kernel_size") -> tuple[int, ...]:
    """Kernel size as a tuple; its length defines the number of spatial dims."""
    if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, str) and len(kernel_size) > 0:
        return as_tuple(kernel_size, len(kernel_size), name=name)
    raise error(name, "a non-empty sequence of positive ints, one per spatial dim, e.g. (3, 3)",
                kernel_size)


def normalize_padding(padding: PaddingLike, n: int, *, name: str = "padding"):
    """Normalises ``padding`` to a mode string or a tuple of ``n`` (low, high) pairs.

    Accepted: ``"VALID"``, ``"SAME"``, ``"CIRCULAR"`` (any case), a non-negative
    int (same on both sides of every dim), or a sequence of ``n`` pairs of
    non-negative ints.
    """
    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in PADDING_MODES:
            raise error(name, f"one of {PADDING_MODES}, an int, or {n} (low, high) pairs", padding)
        return mode
    if is_int(padding):
        if int(padding) < 0:
            raise error(name, "a non-negative int", padding)
        return ((int(padding), int(padding)),) * n
    if isinstance(padding, Sequence):
        ok = len(padding) == n and all(
            isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
            and all(is_int(v) and int(v) >= 0 for v in p)
            for p in padding
        )
        if not ok:
            raise error(name, f"{n} (low, high) pairs of non-negative ints (one per spatial dim)",
                        padding)
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    raise error(name, f"one of {PADDING_MODES}, an int, or {n} (low, high) pairs", padding)


class Geometry(NamedTuple):
    """Static geometry of one windowed layer (all tuples have one entry per spatial dim)."""

    in_spatial: tuple[int, ...]
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    wrap: bool  # True: CIRCULAR (periodic) padding, else zeros
    out_spatial: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.kernel_size)

    @property
    def window(self) -> int:
        return math.prod(self.kernel_size)


def geometry(in_spatial, kernel_size, *, strides=1, padding: PaddingLike = "VALID",
             dilation=1) -> Geometry:
    """Resolves padding and output size exactly as ``lax.conv_general_dilated``.

    ``"SAME"`` is lax's SAME (output ``ceil(in / stride)``, the extra pad on the
    high side); ``"CIRCULAR"`` wraps around with ``((k_eff - 1) // 2, k_eff // 2)``
    per dim, as Flax's ``Conv(padding="CIRCULAR")`` does.

    Raises:
      ValueError: for bad strides/dilation/padding or a window larger than the
        padded input.
    """
    ks = kernel_size_tuple(kernel_size)
    n = len(ks)
    # Public via output_shape(in_spatial, ...): never truncate floats (int(2.7) == 2) or
    # let a negative size or a non-sequence through (a TypeError / a silent wrong shape).
    if not (isinstance(in_spatial, Sequence) and not isinstance(in_spatial, str)
            and all(is_int(s) and int(s) >= 0 for s in in_spatial)):
        raise error("in_spatial", f"a sequence of {n} non-negative ints (the input's spatial "
                    "shape)", in_spatial)
    in_spatial = tuple(int(s) for s in in_spatial)
    if len(in_spatial) != n:
        raise error("in_spatial", f"{n} spatial dims (one per kernel_size entry, {ks})",
                    in_spatial)
    st = as_tuple(strides, n, name="strides")
    dl = as_tuple(dilation, n, name="dilation")
    pad = normalize_padding(padding, n)
    eff = tuple((k - 1) * d + 1 for k, d in zip(ks, dl))
    wrap = False
    if pad == "VALID":
        pads = ((0, 0),) * n
    elif pad == "SAME":
        pads = []
        for size, k, s in zip(in_spatial, eff, st):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        pads = tuple(pads)
    elif pad == "CIRCULAR":
        pads = tuple(((k - 1) // 2, k // 2) for k in eff)
        wrap = True
    else:
        pads = pad
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(in_spatial, pads))
    if any(k > p for k, p in zip(eff, padded)):
        raise error("kernel_size",
                    f"a dilated window (kernel-1)*dilation+1={eff} no larger than the padded "
                    f"input {padded} (input spatial shape {in_spatial}, padding {pads})", ks)
    out = tuple((p - k) // s + 1 for p, k, s in zip(padded, eff, st))
    return Geometry(in_spatial, ks, st, dl, pads, wrap, out)


def check_input(x, n: int, channels: int | None = None, *, name: str = "x",
                channels_from: str = "kernel") -> None:
    """Checks that ``x`` is ``(*batch, *spatial[n], C)`` with the expected channels."""
    if x.ndim < n + 1:
        raise error(name, f"an array of shape (*batch, *spatial[{n}], C) with ndim >= {n + 1}",
                    Text(f"shape {tuple(x.shape)}"))
    if channels is not None and x.shape[-1] != channels:
        raise error(name, f"{channels} input channels in the last axis (from {channels_from})",
                    Text(f"shape {tuple(x.shape)} with {x.shape[-1]} channels"))


def check_groups(groups, c_in: int, c_out: int, kernel_c_in: int) -> int:
    """Validates ``groups`` against channel counts; returns it as an int."""
    if not is_int(groups) or int(groups) < 1:
        raise error("groups", "a positive int", groups)
    groups = int(groups)
    if c_in % groups:
        raise error("groups", f"a divisor of the input channels ({c_in})", groups)
    if c_out % groups:
        raise error("groups", f"a divisor of the kernel's output channels ({c_out})", groups)
    if c_in // groups != kernel_c_in:
        raise error("kernel", f"shape (*kernel_size, C_in // groups = {c_in // groups}, C_out)",
                    Text(f"C_in // groups = {kernel_c_in} in the kernel (the input has {c_in} "
                         f"channels, groups={groups})"))
    return groups


def check_shape(arr, expected: tuple[int, ...], *, name: str, what: str = "") -> None:
    """Raises ``ValueError`` unless ``arr.shape == expected``."""
    if tuple(arr.shape) != tuple(expected):
        suffix = f" {what}" if what else ""
        raise error(name, f"shape {tuple(expected)}{suffix}", Text(f"shape {tuple(arr.shape)}"))


def in_shape_tuple(in_shape, *, name: str = "in_shape") -> tuple[int, ...]:
    """Validates ``in_shape = (*spatial, C_in)`` (at least one spatial dim)."""
    if not (isinstance(in_shape, Sequence) and not isinstance(in_shape, str) and len(in_shape) >= 2):
        raise error(name, "a sequence (*spatial, C_in) with at least one spatial dim", in_shape)
    return as_tuple(in_shape, len(in_shape), name=name)
