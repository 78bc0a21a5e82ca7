"""Closed-form weight counts of Neyshabur et al.'s models (:func:`paper_param_count`).

Example:
    >>> paper_param_count("3-fc", s=8, alpha=1, c=10, width=4)
    824
"""

from __future__ import annotations

from jaxcnn import validation
from jaxcnn.models.windowed import DEEP, SHALLOW

__all__ = ["PAPER_MODELS", "paper_param_count"]

PAPER_MODELS = ("s-conv", "s-local", "s-fc", "d-conv", "d-local", "d-fc", "3-fc")


def paper_param_count(name: str, *, s: int, alpha: int, c: int, in_channels: int = 3,
                      kernel_size: int | None = None, width: int | None = None) -> int:
    """Closed-form weight counts (biases and BN parameters excluded) for ``s x s`` inputs.

    With ``C = in_channels``, ``k = kernel_size`` (9 for S-*, 3 for D-*), ``a = alpha``:

    * ``"s-conv"``:  ``k²Ca + (s/2)²a·24a + 24ac = 6s²a² + (k²C + 24c)a``
      (``= 6s²a² + (243 + 24c)a`` for ``k = 9, C = 3``, the paper's formula);
    * ``"s-local"``: ``6s²a² + ((s/2)²k²C + 24c)a`` (each of the ``(s/2)²`` positions owns
      a ``k²C x a`` map; ``= 6s²a² + (243s²/4 + 24c)a``);
    * ``"s-fc"``:    ``6s²a² + (Cs²·s²/4 + 24c)a`` (``= 6s²a² + (3s⁴/4 + 24c)a``);
    * ``"d-conv"``:  ``k²(C + 254a)a + 4s²a² + 64ac``: conv weights
      ``k²·a·(C + 2a + 4a + 8a + 16a + 32a + 64a + 128a)``, then
      ``(s/16)²·16a·64a = 4s²a²`` and ``64ac``; ``= (2286 + 4s²)a² + (27 + 64c)a``
      for ``k = 3, C = 3``;
    * ``"d-local"``: conv weights times output positions
      ``s²k²Ca + s²k²a²(2/4 + 4/4 + 8/16 + 16/16 + 32/64 + 64/64 + 128/256)``
      ``= s²k²Ca + 5k²s²a²`` plus ``4s²a² + 64ac``;
      ``= 49s²a² + (27s² + 64c)a`` for ``k = 3, C = 3``;
    * ``"d-fc"``:    dense maps between the layer sizes ``Cs², s²a, s²a/2, s²a/2, s²a/4,
      s²a/4, s²a/8, s²a/8, s²a/16``: ``Cs⁴a + (127/128)s⁴a² + 4s²a² + 64ac``;
    * ``"3-fc"``:    ``Cs²w + w² + wc`` (needs ``width=w``).

    Args:
      name: one of the above (case-insensitive; ``_`` works for ``-``).
      s: image side (even for S-*, a multiple of 16 for D-*).
      alpha: channel multiplier.
      c: number of classes.
      in_channels: ``C``.
      kernel_size: ``k``; default 9 (S-*) or 3 (D-*).
      width: hidden width for ``"3-fc"``.

    Returns:
      The count as an int.

    Example:
      >>> paper_param_count("s-fc", s=32, alpha=150, c=10)  # ~ 256M, the paper's choice
      256240800
    """
    key = str(name).lower().replace("_", "-")
    if key not in PAPER_MODELS:
        raise validation.error("name", f"one of {PAPER_MODELS}", name)
    s = validation.check_int(s, name="s", minimum=1)
    a = validation.check_int(alpha, name="alpha", minimum=1)
    c = validation.check_int(c, name="c", minimum=1)
    C = validation.check_int(in_channels, name="in_channels", minimum=1)
    if key == "3-fc":
        return _three_fc_count(s, c, C, width)
    plan = SHALLOW if key[0] == "s" else DEEP
    k = validation.check_int(plan.default_kernel_size if kernel_size is None else kernel_size,
                             name="kernel_size", minimum=1)
    count = _shallow_count if plan is SHALLOW else _deep_count
    return count(key, s, a, c, C, k)


def _three_fc_count(s: int, c: int, C: int, width) -> int:
    if width is None:
        raise validation.error("width", "an int for '3-fc'", width)
    w = validation.check_int(width, name="width", minimum=1)
    return C * s * s * w + w * w + w * c


def _shallow_count(key: str, s: int, a: int, c: int, C: int, k: int) -> int:
    if s % 2:
        raise validation.error("s", "an even image side (the stride-2 layer halves it)", s)
    hidden = SHALLOW.hidden_per_alpha * a                      # FC(24a)
    fc = (s // 2) ** 2 * a * hidden + hidden * c
    first = {"s-conv": k * k * C * a, "s-local": (s // 2) ** 2 * k * k * C * a,
             "s-fc": C * s * s * (s // 2) ** 2 * a}[key]
    return first + fc


def _deep_count(key: str, s: int, a: int, c: int, C: int, k: int) -> int:
    if s % 16:
        raise validation.error("s", "a multiple of 16 (four stride-2 layers)", s)
    hidden = DEEP.hidden_per_alpha * a                         # FC(64a)
    tail = (s // 16) ** 2 * 16 * a * hidden + hidden * c
    chans = [C] + [m * a for m, _ in DEEP.stages]
    if key == "d-conv":
        return sum(k * k * ci * co for ci, co in zip(chans[:-1], chans[1:])) + tail
    side, sizes, total = s, [C * s * s], 0
    for (_, stride), ci, co in zip(DEEP.stages, chans[:-1], chans[1:]):
        side //= stride
        if key == "d-local":
            total += side * side * k * k * ci * co
        sizes.append(side * side * co)
    if key == "d-fc":
        total = sum(x * y for x, y in zip(sizes[:-1], sizes[1:]))
    return total + tail
