"""Output locations checked before any work: a folder that exists or can be created, and
that this process may write.

Every command that writes (an experiment's ``--out``, ``python -m experiments.plot
--out``, ``python -m experiments.report``'s README and folders) checks each of its output
locations before it trains, draws or copies anything, so a bad location costs one line
and exit status 2 instead of a traceback after the work::

    python -m experiments.learn_conv: error: --out: expected a folder (existing, or one
    that can be created) that is writable, got 'notes.txt', an existing file

(one line). Nothing is created by the checks themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

from experiments.harness.errors import CLIError

__all__ = ["check_output_dir", "check_output_file"]

_FOLDER = "a folder (existing, or one that can be created) that is writable"


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be used as an output folder, or ``None``."""
    if folder.exists():
        if not folder.is_dir():
            return "an existing file"
        if not os.access(folder, os.W_OK | os.X_OK):
            return "a folder this process may not write to"
        return None
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"below the file {str(parent)!r}"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"inside {str(parent)!r}, where this process may not create folders"
    return None


def check_output_dir(path: str | os.PathLike, flag: str) -> None:
    """Refuses ``path`` unless it is a writable folder or can be created as one.

    The nearest existing ancestor of a folder that does not exist yet must be a folder
    this process may write into (so that ``mkdir -p`` will succeed).

    Args:
      path: the output folder.
      flag: the flag named in the message (``"--out"``).

    Raises:
      CLIError: ``<flag>: expected a folder (existing, or one that can be created) that is
        writable, got '<path>', <why>``.
    """
    why = _folder_problem(Path(path))
    if why is not None:
        raise CLIError(f"{flag}: expected {_FOLDER}, got {str(path)!r}, {why}")


def check_output_file(path: str | os.PathLike, flag: str) -> None:
    """Refuses a file ``path`` that cannot be (re)written atomically: it must not be a
    folder, and its folder must be writable or creatable (a temporary file is written
    next to it, then renamed).

    Raises:
      CLIError: ``<flag>: expected a writable file, got '<path>', <why>``.
    """
    target = Path(path)
    why = "a folder" if target.is_dir() else _folder_problem(target.absolute().parent)
    if why is not None:
        if why == "an existing file":  # the parent "folder" is a file
            why = f"below the file {str(target.absolute().parent)!r}"
        raise CLIError(f"{flag}: expected a writable file, got {str(path)!r}, {why}")
