"""Atomic file writes: a reader never sees a half-written results file or figure.

Every writer here writes to a temporary file in the destination's directory, flushes and
fsyncs it, then ``os.replace``-s it over the destination (atomic on POSIX and Windows
within one file system) and fsyncs the directory where the platform allows. A crash or
SIGKILL at any point leaves either the old file or the new one, never a mix; the temporary
file (``.NAME.*.tmp``) is removed on ordinary exceptions.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> write_json_atomic(os.path.join(d, "r.json"), {"acc": np.float32(0.5)})
    >>> read_json(os.path.join(d, "r.json"))
    {'acc': 0.5}
    >>> with atomic_write(os.path.join(d, "blob.bin")) as f:
    ...     _ = f.write(b"\\x00\\x01")
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import io
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np

from jaxcnn.validation import check_choice

__all__ = [
    "atomic_write",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_json_atomic",
    "read_json",
    "remove_temporaries",
    "savefig_atomic",
    "to_jsonable",
    "write_tree_npz_atomic",
    "read_tree_npz",
]

PathLike = str | os.PathLike


def _fsync_dir(directory: str) -> None:
    """Best-effort fsync of a directory so that a rename inside it is durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _default_mode() -> int:
    """0o666 minus the process umask (what ``open(path, "w")`` would have produced)."""
    # Reading the umask requires setting it; do it once, it is process-global anyway.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: str | None = None,
                 make_parents: bool = True) -> Iterator[IO[Any]]:
    """Opens a temporary file that replaces ``path`` atomically when the block exits.

    If the ``with`` block raises, ``path`` is left untouched and the temporary file is
    deleted. The new file keeps an existing destination's permission bits (otherwise the
    usual ``0o666 & ~umask``).

    Args:
        path: destination file.
        mode: ``"wb"`` (default) or ``"w"`` (text; ``encoding`` defaults to UTF-8).
        encoding: text encoding for ``mode="w"``.
        make_parents: create missing parent directories.

    Yields:
        A writable file object.

    Raises:
        ValueError: if ``mode`` is not ``"w"`` or ``"wb"``.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "example.txt")
        >>> with atomic_write(path, "w") as f:
        ...     _ = f.write("hello")
        >>> open(path).read()
        'hello'
    """
    check_choice(mode, ("w", "wb"), name="mode")
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    if make_parents:
        os.makedirs(directory, exist_ok=True)
    try:
        perm = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        perm = _default_mode()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, perm)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


#: How :func:`atomic_write` names its temporary files: ``.<name>.<8 random chars>.tmp``.
TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_temporaries(directory: PathLike) -> list[str]:
    """Deletes the temporary files that killed :func:`atomic_write` calls left behind.

    A process killed mid-write (SIGKILL, power loss) leaves its hidden temporary file
    (``.<name>.<random>.tmp``) next to the untouched destination. Call this when no other
    writer is active in ``directory`` (e.g. when a run resumes). Not recursive.

    Returns:
      The names removed, sorted.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = open(os.path.join(d, ".results.json.k2x9_abc.tmp"), "w")
        >>> remove_temporaries(d)
        ['.results.json.k2x9_abc.tmp']
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    removed = []
    for name in sorted(names):
        path = os.path.join(directory, name)
        if TEMPORARY_NAME.match(name) and os.path.isfile(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                removed.append(name)
    return removed


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Writes ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def to_jsonable(obj: Any) -> Any:
    """Converts ``obj`` to plain JSON types (dict/list/str/int/float/bool/None).

    Handles NumPy and JAX arrays and scalars (arrays become nested lists), tuples and sets
    (lists), mappings (keys become ``str``), dataclasses (``asdict``), enums (their value),
    ``pathlib.Path`` and dates (``str``/ISO format). Non-finite floats stay as Python floats
    (``json`` writes them as ``NaN``/``Infinity``).

    Raises:
        TypeError: for objects with no JSON representation.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (pathlib.PurePath,)):
        return str(obj)
    if isinstance(obj, (datetime.date, datetime.datetime)):
        return obj.isoformat()
    if hasattr(obj, "__array__"):  # np.ndarray, jax.Array
        arr = np.asarray(obj)
        return arr.tolist() if arr.ndim else arr.item()
    raise TypeError(f"obj: expected a JSON-serialisable value, got {type(obj).__name__}")


def write_json_atomic(path: PathLike, obj: Any, *, indent: int | None = 2,
                      sort_keys: bool = False) -> None:
    """Serialises ``obj`` (via :func:`to_jsonable`) and writes it to ``path`` atomically.

    Args:
        path: destination ``.json`` file; parents are created.
        obj: any value :func:`to_jsonable` accepts (NumPy/JAX scalars and arrays included).
        indent: ``json.dumps`` indentation (``None`` for one line).
        sort_keys: sort mapping keys.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "r.json")
        >>> write_json_atomic(path, {"curve": np.arange(3)}, indent=None)
        >>> read_json(path)
        {'curve': [0, 1, 2]}
    """
    text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=sort_keys)
    write_text_atomic(path, text + "\n")


def read_json(path: PathLike) -> Any:
    """Reads a JSON file (the counterpart of :func:`write_json_atomic`)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_tree_npz_atomic(path: PathLike, tree: Any, *, meta: Any = None) -> None:
    """Writes the array leaves of a pytree (in tree order) and JSON-able ``meta`` as one
    ``.npz``, atomically (a crash leaves the old file or none, never a partial one).

    The structure is not stored: :func:`read_tree_npz` takes it from a template.

    Example:
        >>> import tempfile, os, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
        >>> write_tree_npz_atomic(path, {"w": np.ones(2)}, meta={"step": 3})
        >>> read_tree_npz(path, {"w": np.zeros(2)})
        ({'w': array([1., 1.])}, {'step': 3})
    """
    import jax

    arrays = {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(tree))}
    with atomic_write(path) as f:
        np.savez(f, meta=np.asarray(json.dumps(to_jsonable(meta))), **arrays)


def read_tree_npz(path: PathLike, like: Any) -> tuple[Any, Any]:
    """``(tree, meta)`` from :func:`write_tree_npz_atomic`'s file; ``like`` is a pytree of
    the same structure whose leaves give the dtypes."""
    import jax

    leaves, treedef = jax.tree.flatten(like)
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        new = [np.asarray(z[f"leaf_{i:05d}"], dtype=x.dtype) for i, x in enumerate(leaves)]
    return jax.tree.unflatten(treedef, new), meta


def savefig_atomic(fig: Any, path: PathLike, **savefig_kwargs: Any) -> None:
    """Saves a Matplotlib figure atomically; the format comes from the file suffix.

    Args:
        fig: a ``matplotlib.figure.Figure``.
        path: destination, e.g. ``"out/fig3.png"``.
        **savefig_kwargs: passed to ``fig.savefig`` (``dpi``, ``bbox_inches``, ...).
    """
    fmt = savefig_kwargs.pop("format", None) or (pathlib.Path(path).suffix.lstrip(".") or None)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **savefig_kwargs)
    write_bytes_atomic(path, buf.getvalue())

