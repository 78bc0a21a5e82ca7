"""The one user error of the experiments' command lines.

:class:`CLIError` is raised for a bad flag, an inconsistent setting or an output location
that cannot be written; :func:`experiments.harness.cli.cli_main` prints it as one line on
stderr (``python -m experiments.NAME: error: <flag>: expected ..., got ...``) and exits
with status 2. It lives in a module of its own so that every harness module can raise it
without importing the command line (no import cycle).
"""

from __future__ import annotations

__all__ = ["CLIError"]


class CLIError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""
