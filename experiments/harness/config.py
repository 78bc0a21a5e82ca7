"""The shared base of the studies' presets: frozen dataclasses that check themselves.

Every preset config derives from :class:`PresetConfig` and names the fields it checks
in class variables; ``__post_init__`` runs the checks (so a ``--set`` override that
breaks one fails in :func:`dataclasses.replace`, see :mod:`experiments.harness.overrides`) and
raises :func:`jaxcnn.validation.error`'s ``"<field>: expected ..., got ..."``.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Config(PresetConfig):
    ...     POSITIVE_INTS = ("epochs",)
    ...     epochs: int = 3
    >>> Config(epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs: expected an int >= 1, got 0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from jaxcnn.validation import error

__all__ = ["PresetConfig"]


@dataclasses.dataclass(frozen=True)
class PresetConfig:
    """Base of the experiments' preset configs (no fields of its own).

    The checks, in this order (each a class variable; empty: none):

    * ``MODELS``: ``models`` must be a non-empty subset of its keys (``None``: unchecked);
    * :meth:`check_fields`: a subclass's own checks;
    * ``POSITIVE_INTS``: fields that must be ints ``>= 1``;
    * ``NONNEGATIVE_FLOATS``: fields that must be floats ``>= 0``;
    * ``POSITIVE_INTS_OR_NONE``: fields that must be ints ``>= 1`` or ``None``.
    """

    MODELS: ClassVar[Mapping[str, Any] | None] = None
    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ()
    NONNEGATIVE_FLOATS: ClassVar[tuple[str, ...]] = ()
    POSITIVE_INTS_OR_NONE: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        if self.MODELS is not None:
            models = getattr(self, "models")
            unknown = [m for m in models if m not in self.MODELS]
            if unknown or not models:
                raise error("models", f"a non-empty subset of {list(self.MODELS)}", models)
        self.check_fields()
        for name in self.POSITIVE_INTS:
            if int(getattr(self, name)) < 1:
                raise error(name, "an int >= 1", getattr(self, name))
        for name in self.NONNEGATIVE_FLOATS:
            if not float(getattr(self, name)) >= 0:
                raise error(name, "a float >= 0", getattr(self, name))
        for name in self.POSITIVE_INTS_OR_NONE:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise error(name, "an int >= 1 or None", value)

    def check_fields(self) -> None:
        """A subclass's own checks (run after ``MODELS``, before the field lists)."""
