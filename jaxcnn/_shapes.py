"""Argument normalisation and validation, in one place.

Every public function of jaxcnn funnels its geometric arguments (kernel size,
strides, padding, dilation) through this module. All checks run on static
shapes, i.e. at trace time: they cost nothing under ``jax.jit``.

Error messages follow one pattern: ``"<argument>: expected <what>, got <what>"``,
so users (and tests) can see which argument was wrong and why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, Union

import numpy as np

PaddingLike = Union[str, int, Sequence[Sequence[int]]]

PADDING_MODES = ("VALID", "SAME", "CIRCULAR")


def _err(name: str, expected: str, given) -> ValueError:
    return ValueError(f"{name}: expected {expected}, got {given!r}")


def _is_int(v) -> bool:
    # bool is an int subclass but never a meaningful size.
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


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
    if _is_int(value):
        out = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n or not all(_is_int(v) for v in value):
            raise _err(name, f"an int or a sequence of {n} ints (one per spatial dim)", value)
        out = tuple(int(v) for v in value)
    else:
        raise _err(name, f"an int or a sequence of {n} ints (one per spatial dim)", value)
    if any(v < minimum for v in out):
        raise _err(name, f"values >= {minimum}", value)
    return out


def kernel_size_tuple(kernel_size, *, name: str = "kernel_size") -> tuple[int, ...]:
    """Kernel size as a tuple; its length defines the number of spatial dims."""
    if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, str) and len(kernel_size) > 0:
        return as_tuple(kernel_size, len(kernel_size), name=name)
    raise _err(name, "a non-empty sequence of positive ints, one per spatial dim, e.g. (3, 3)",
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
            raise _err(name, f"one of {PADDING_MODES}, an int, or {n} (low, high) pairs", padding)
        return mode
    if _is_int(padding):
        if int(padding) < 0:
            raise _err(name, "a non-negative int", padding)
        return ((int(padding), int(padding)),) * n
    if isinstance(padding, Sequence):
        ok = len(padding) == n and all(
            isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
            and all(_is_int(v) and int(v) >= 0 for v in p)
            for p in padding
        )
        if not ok:
            raise _err(name, f"{n} (low, high) pairs of non-negative ints (one per spatial dim)",
                       padding)
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    raise _err(name, f"one of {PADDING_MODES}, an int, or {n} (low, high) pairs", padding)


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
            and all(_is_int(s) and int(s) >= 0 for s in in_spatial)):
        raise _err("in_spatial", f"a sequence of {n} non-negative ints (the input's spatial "
                   "shape)", in_spatial)
    in_spatial = tuple(int(s) for s in in_spatial)
    if len(in_spatial) != n:
        raise _err("in_spatial", f"{n} spatial dims (one per kernel_size entry, {ks})",
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
        raise _err("kernel_size",
                   f"a dilated window (kernel-1)*dilation+1={eff} no larger than the padded "
                   f"input {padded} (input spatial shape {in_spatial}, padding {pads})", ks)
    out = tuple((p - k) // s + 1 for p, k, s in zip(padded, eff, st))
    return Geometry(in_spatial, ks, st, dl, pads, wrap, out)


def check_input(x, n: int, channels: int | None = None, *, name: str = "x",
                channels_from: str = "kernel") -> None:
    """Checks that ``x`` is ``(*batch, *spatial[n], C)`` with the expected channels."""
    if x.ndim < n + 1:
        raise _err(name, f"an array of shape (*batch, *spatial[{n}], C) with ndim >= {n + 1}",
                   f"shape {tuple(x.shape)}")
    if channels is not None and x.shape[-1] != channels:
        raise _err(name, f"{channels} input channels in the last axis (from {channels_from})",
                   f"shape {tuple(x.shape)} with {x.shape[-1]} channels")


def check_groups(groups, c_in: int, c_out: int, kernel_c_in: int) -> int:
    """Validates ``groups`` against channel counts; returns it as an int."""
    if not _is_int(groups) or int(groups) < 1:
        raise _err("groups", "a positive int", groups)
    groups = int(groups)
    if c_in % groups:
        raise _err("groups", f"a divisor of the input channels ({c_in})", groups)
    if c_out % groups:
        raise _err("groups", f"a divisor of the kernel's output channels ({c_out})", groups)
    if c_in // groups != kernel_c_in:
        raise _err("kernel", f"shape (*kernel_size, C_in // groups = {c_in // groups}, C_out)",
                   f"C_in // groups = {kernel_c_in} in the kernel (the input has {c_in} "
                   f"channels, groups={groups})")
    return groups


def check_shape(arr, expected: tuple[int, ...], *, name: str, what: str = "") -> None:
    """Raises ``ValueError`` unless ``arr.shape == expected``."""
    if tuple(arr.shape) != tuple(expected):
        suffix = f" {what}" if what else ""
        raise _err(name, f"shape {tuple(expected)}{suffix}", f"shape {tuple(arr.shape)}")


def in_shape_tuple(in_shape, *, name: str = "in_shape") -> tuple[int, ...]:
    """Validates ``in_shape = (*spatial, C_in)`` (at least one spatial dim)."""
    if not (isinstance(in_shape, Sequence) and not isinstance(in_shape, str) and len(in_shape) >= 2):
        raise _err(name, "a sequence (*spatial, C_in) with at least one spatial dim", in_shape)
    return as_tuple(in_shape, len(in_shape), name=name)
