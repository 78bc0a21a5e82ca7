"""``--set NAME=VALUE``: override fields of an experiment's preset from the command line.

Each value is parsed against the field's annotated type, then the new config is built with
:func:`dataclasses.replace`, so the preset's own ``__post_init__`` validation runs. Every
problem is a :class:`~experiments.harness.errors.CLIError` of one line that names the flag
and the item, e.g. ``--set alpha=abc: expected an int, got 'abc'``.

========================  =======================================================
annotation                accepted VALUE
========================  =======================================================
``int``                   ``3``, ``-2``, ``1_000`` (not ``3.0`` or ``true``)
``float``                 ``0.1``, ``1e-3``, ``2`` (finite only)
``bool``                  ``true/false``, ``1/0``, ``yes/no`` (any case)
``str``                   the text, surrounding spaces removed
``X | None``              ``none`` (any case) or a VALUE of ``X``
``Literal[a, b]``         one of the options
``tuple[T, ...]``         a Python/JSON literal ``(1, 2)``, ``[1, 2]``, ``()``, a single
                          element ``5``, or bare comma-separated scalars ``s-conv,s-fc``
``tuple[T1, T2]``         a literal of exactly two elements ``(1.0, 3.0)``
tuples of tuples          a literal ``((1e-3, 5e-4), (1e-2, 5e-4))``
========================  =======================================================

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Config:
    ...     epochs: int = 30
    ...     models: tuple[str, ...] = ("s-conv",)
    >>> cfg, rec = apply_overrides(Config(), ["epochs=3", "models=s-conv,s-fc"])
    >>> cfg.epochs, cfg.models, rec
    (3, ('s-conv', 's-fc'), {'epochs': 3, 'models': ['s-conv', 's-fc']})
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, Union

from experiments.harness.errors import CLIError

__all__ = ["apply_overrides"]

C = TypeVar("C")
T = TypeVar("T")

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
_NONE = "none"


class _Bad(Exception):
    """A value does not fit a type; ``str(e)`` is ``expected ..., got ...``."""


# -------------------------------------------------------------------- type helpers


def _optional(tp: Any) -> tuple[bool, Any]:
    """``(True, X)`` for ``X | None`` / ``Optional[X]``; ``(False, tp)`` otherwise."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = typing.get_args(tp)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) < len(args):
            return True, (rest[0] if len(rest) == 1 else Union[rest])
    return False, tp


def _cases(tp: Any, *, optional: Callable[[Any], T], literal: Callable[[tuple], T],
           union: Callable[[tuple], T], variadic: Callable[[Any], T],
           fixed: Callable[[tuple], T], plain: Callable[[Any], T]) -> T:
    """The one case analysis of an annotation: calls the function of its kind.

    ``optional(X)`` for ``X | None``, ``literal(options)``, ``union(members)``,
    ``variadic(T)`` for ``tuple[T, ...]``, ``fixed(elements)`` for ``tuple[T1, T2]``, and
    ``plain(tp)`` for anything else (a scalar type).
    """
    is_opt, inner = _optional(tp)
    if is_opt:
        return optional(inner)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return literal(args)
    if origin in (Union, types.UnionType):
        return union(args)
    if origin is tuple:
        return variadic(args[0]) if len(args) == 2 and args[1] is Ellipsis else fixed(args)
    return plain(tp)


def _name(tp: Any) -> str:
    """A short spelling of an annotation: ``int``, ``tuple[float, float]``, ``str | None``."""
    return _cases(
        tp, optional=lambda inner: f"{_name(inner)} | None",
        literal=lambda options: f"Literal[{', '.join(map(repr, options))}]",
        union=lambda members: " | ".join(map(_name, members)),
        variadic=lambda elem: f"tuple[{_name(elem)}, ...]",
        fixed=lambda elems: f"tuple[{', '.join(map(_name, elems))}]" if elems else "tuple[()]",
        plain=lambda t: getattr(t, "__name__", str(t)))


def _example(tp: Any, second: bool = False) -> str:
    """An example literal of a type (for messages about tuples)."""
    def scalar(t):
        first, other = {int: ("1", "2"), float: ("0.5", "1.0"), bool: ("True", "False"),
                        str: ("'a'", "'b'")}.get(t, ("...", "..."))
        return other if second else first

    return _cases(
        tp, optional=lambda inner: _example(inner, second),
        literal=lambda options: repr(options[-1] if second else options[0]),
        union=lambda members: scalar(tp),
        variadic=lambda elem: f"({_example(elem)}, {_example(elem, True)})",
        fixed=lambda elems: f"({', '.join(map(_example, elems))}{',' if len(elems) == 1 else ''})",
        plain=scalar)


def _describe(tp: Any) -> str:
    """What a VALUE of type ``tp`` must look like, after ``expected``."""
    def tuple_literal(_):
        return f"a {_name(tp)} literal such as {_example(tp)}"

    return _cases(
        tp, optional=lambda inner: f"{_describe(inner)} or none",
        literal=lambda options: f"one of {', '.join(map(repr, options))}",
        union=lambda members: " or ".join(map(_describe, members)),
        variadic=tuple_literal, fixed=tuple_literal,
        plain=lambda t: {int: "an int", float: "a float", str: "a string",
                         bool: "a bool (true/false, 1/0, yes/no)"}.get(t, f"a {_name(t)}"))


def _supported(tp: Any) -> bool:
    return _cases(
        tp, optional=_supported,
        literal=lambda options: all(isinstance(a, (str, int, float, bool)) for a in options),
        union=lambda members: all(map(_supported, members)),
        variadic=_supported, fixed=lambda elems: all(map(_supported, elems)),
        plain=lambda t: t in (int, float, bool, str))


# ------------------------------------------------------------------------ parsing


def _first(parse: Callable[[Any], T], candidates: Sequence, failure: str) -> T:
    """``parse(c)`` of the first candidate ``c`` it does not raise :class:`_Bad` for
    (the options of a ``Literal``, the members of a union); else ``_Bad(failure)``."""
    for c in candidates:
        try:
            return parse(c)
        except _Bad:
            pass
    raise _Bad(failure)


def _matching(value: Any, option: Any) -> Any:
    """``option`` if ``value`` equals it and has its type (``True`` is not ``1``)."""
    if value == option and type(value) is type(option):
        return option
    raise _Bad(f"{value!r} is not {option!r}")


def _from_text(text: str, tp: Any) -> Any:
    """Parses command-line text as a value of ``tp``; raises :class:`_Bad`."""
    is_opt, inner = _optional(tp)
    if is_opt:
        if text.strip().lower() == _NONE:
            return None
        try:
            return _from_text(text, inner)
        except _Bad as e:  # "expected an int, ..." -> "expected an int or none, ..."
            inner_expected = f"expected {_describe(inner)}"
            raise _Bad(str(e).replace(inner_expected, f"expected {_describe(tp)}", 1)) from None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    s = text.strip()
    if origin is Literal:
        return _first(lambda option: _matching(_scalar_from_text(s, type(option)), option),
                      args, f"expected {_describe(tp)}, got {text!r}")
    if origin in (Union, types.UnionType):
        return _first(lambda member: _from_text(text, member), args,
                      f"expected {_describe(tp)}, got {text!r}")
    if origin is tuple:
        return _tuple_from_text(text, tp)
    return _scalar_from_text(s, tp, shown=text)


def _scalar_from_text(s: str, tp: type, *, shown: str | None = None) -> Any:
    shown = s if shown is None else shown
    if tp is bool:
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
    elif tp is int:
        try:
            return int(s)
        except ValueError:
            pass
    elif tp is float:
        try:
            v = float(s)
        except ValueError:
            pass
        else:
            if math.isfinite(v):
                return v
            raise _Bad(f"expected a finite float, got {shown!r}")
    elif tp is str:
        return s
    raise _Bad(f"expected {_describe(tp)}, got {shown!r}")


def _literal(s: str) -> tuple[bool, Any]:
    """``(True, value)`` if ``s`` is a Python or JSON literal, else ``(False, None)``."""
    try:
        return True, ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return True, json.loads(s)
    except (ValueError, RecursionError):
        return False, None


def _tuple_from_text(text: str, tp: Any) -> tuple:
    s = text.strip()
    args = typing.get_args(tp)
    variadic = len(args) == 2 and args[1] is Ellipsis
    if not s and variadic:
        return ()
    ok, obj = _literal(s)
    if not ok:
        # bare comma-separated scalars: models=s-conv,s-fc
        elem = args[0] if variadic else None
        if variadic and typing.get_origin(_optional(elem)[1]) is not tuple \
                and not any(c in s for c in "()[]'\""):
            try:
                return tuple(_from_text(p, elem) for p in s.split(","))
            except _Bad as e:
                raise _Bad(f"expected {_describe(tp)}, got {text!r} ({e})") from None
        raise _Bad(f"expected {_describe(tp)}, got {text!r}")
    if variadic and not isinstance(obj, (list, tuple)):
        obj = (obj,)  # a single element: sizes=500
    try:
        return _check(obj, tp, "")
    except _Bad as e:
        raise _Bad(f"expected {_describe(tp)}, got {text!r} ({e})") from None


def _check(obj: Any, tp: Any, where: str) -> Any:
    """Checks (and normalises) a literal-parsed value against ``tp``; tuples for lists."""
    is_opt, inner = _optional(tp)
    if is_opt:
        return None if obj is None else _check(obj, inner, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    at = f"element {where}: " if where else ""
    if origin is Literal:
        return _first(lambda option: _matching(obj, option), args,
                      f"{at}{obj!r} is not {_describe(tp)}")
    if origin in (Union, types.UnionType):
        return _first(lambda member: _check(obj, member, where), args,
                      f"{at}{obj!r} is not {_describe(tp)}")
    if origin is tuple:
        if not isinstance(obj, (list, tuple)):
            raise _Bad(f"{at}{obj!r} is not a tuple" if where else "not a tuple")
        if len(args) == 2 and args[1] is Ellipsis:
            elems = [args[0]] * len(obj)
        else:
            elems = list(args)
            if len(obj) != len(elems):
                n = f"{len(obj)} element{'' if len(obj) == 1 else 's'}, expected {len(elems)}"
                raise _Bad(f"{at}{_fmt(obj)} has {n}" if where else n)
        return tuple(_check(o, t, f"{where}[{i}]") for i, (o, t) in enumerate(zip(obj, elems)))
    if tp is bool:
        if isinstance(obj, bool):
            return obj
    elif tp is int:
        if isinstance(obj, int) and not isinstance(obj, bool):
            return obj
    elif tp is float:
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            if not math.isfinite(obj):
                raise _Bad(f"{at}{obj!r} is not a finite float")
            return float(obj)
    elif tp is str:
        if isinstance(obj, str):
            return obj
    raise _Bad(f"{at}{_fmt(obj)} is not {_describe(tp)}")


def _fmt(obj: Any) -> str:
    return repr(tuple(obj)) if isinstance(obj, list) else repr(obj)


def _jsonable(v: Any) -> Any:
    return [_jsonable(x) for x in v] if isinstance(v, (tuple, list)) else v


# -------------------------------------------------------------------------- public


def apply_overrides(cfg: C, items: Sequence[str], *, flag: str = "--set") -> tuple[C, dict]:
    """Applies ``NAME=VALUE`` overrides to a frozen dataclass config.

    Args:
      cfg: a dataclass instance (an experiment preset, e.g. ``LearnConvConfig``).
      items: ``NAME=VALUE`` strings (``args.overrides``); for a repeated NAME the last wins.
      flag: the flag named in error messages.

    Returns:
      ``(new_cfg, record)``: the config built with :func:`dataclasses.replace` (so its
      ``__post_init__`` checks ran) and ``{name: value}`` of the parsed values, JSON-able
      (tuples become lists), in order of first appearance, for the results JSON. With no
      items, ``cfg`` itself and ``{}``.

    Raises:
      CLIError: one line naming ``flag``: an item without ``=``, an unknown or non-init
        field, a value that does not parse as the field's type, or the config's own
        validation (``ValueError``/``TypeError`` of ``__post_init__``).
      TypeError: ``cfg`` is not a dataclass instance (a programming error).

    Example:
      >>> import dataclasses
      >>> @dataclasses.dataclass(frozen=True)
      ... class Config:
      ...     xi: tuple[float, float] = (1.0, 3.0)
      ...     readout_lr: float | None = 0.1
      >>> cfg, rec = apply_overrides(Config(), ["xi=(1, 2)", "readout_lr=none"])
      >>> cfg.xi, cfg.readout_lr, rec
      ((1.0, 2.0), None, {'xi': [1.0, 2.0], 'readout_lr': None})
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"cfg: expected a dataclass instance, got {type(cfg).__name__}")
    if isinstance(items, str):
        raise TypeError(f"items: expected a sequence of 'NAME=VALUE' strings, got {items!r}")
    parsed, source = _parse_items(cfg, items, flag)
    if not parsed:
        return cfg, {}
    try:
        new = dataclasses.replace(cfg, **parsed)
    except (ValueError, TypeError) as e:
        raise CLIError(f"{_culprit(cfg, parsed, source, flag)}: {' '.join(str(e).split())}") \
            from None
    return new, {k: _jsonable(v) for k, v in parsed.items()}


def _parse_items(cfg: Any, items: Sequence[str], flag: str) -> tuple[dict, dict]:
    """``({name: parsed value}, {name: its NAME=VALUE item})``; the last of a name wins.

    Raises:
      CLIError: an item without ``=``, an unknown or non-init field, a field type that
        cannot be set, or a value that does not parse as the field's type.
    """
    cls = type(cfg)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cfg) if f.init}
    parsed: dict[str, Any] = {}
    source: dict[str, str] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CLIError(f"{flag} {item}: expected NAME=VALUE, got {item!r}")
        if name not in fields:
            raise CLIError(f"{flag}: unknown field {name!r} of {cls.__name__} "
                           f"(fields: {', '.join(sorted(fields))})")
        tp = hints.get(name, fields[name].type)
        if not _supported(tp):
            raise CLIError(f"{flag} {item}: field {name!r} of type {_name(tp)} cannot be "
                           "set from the command line")
        try:
            value = _from_text(text, tp)
        except _Bad as e:
            raise CLIError(f"{flag} {item}: {e}") from None
        parsed[name] = value
        source[name] = item
    return parsed, source


def _culprit(cfg: Any, parsed: dict, source: dict, flag: str) -> str:
    """``--set ITEM`` of the override that fails the config's checks on its own, else all."""
    for name, value in parsed.items():
        try:
            dataclasses.replace(cfg, **{name: value})
        except (ValueError, TypeError):
            return f"{flag} {source[name]}"
    return " ".join(f"{flag} {source[n]}" for n in parsed)
