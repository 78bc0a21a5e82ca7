"""Where a results file came from: commit, command, packages, device, date.

Every experiment stores ``results["provenance"] = provenance(...)`` next to its numbers,
and ``experiments.report`` prints it under each README table. Nothing here may fail an
experiment after it has trained: a missing ``git`` (or a copy that is not a checkout), a
package that is not installed, or a JAX backend that will not start each give ``None``
for the affected field.

Example:
    >>> p = provenance(name="learn_conv", preset="smoke", seeds=[0, 1], wall_time=12.5,
    ...                argv=["--preset", "smoke", "--seeds", "2"])
    >>> p["command"]
    'python -m experiments.learn_conv --preset smoke --seeds 2'
    >>> p["seeds"], p["wall_time"], sorted(p["device"])
    ([0, 1], 12.5, ['count', 'device_kind', 'platform'])
"""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from jaxcnn.validation import error

__all__ = ["PACKAGES", "REPO_ROOT", "git_state", "package_versions", "provenance"]

#: The repository root (``git`` runs here, whatever the working directory).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Distributions whose versions are recorded.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "chex", "orbax-checkpoint", "jaxcnn")


def _git(*args: str, cwd: Path) -> str | None:
    """Stdout of ``git ARGS`` in ``cwd``, or ``None`` if git is missing or fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):  # no git binary, timeout, bad cwd
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: str | Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout at ``root``.

    ``commit`` is ``git rev-parse HEAD``; ``dirty`` is whether tracked files differ from
    it (``git status --porcelain --untracked-files=no`` is non-empty). Both are ``None``
    when git is missing or ``root`` is not inside a checkout.
    """
    root = Path(root)
    commit = (_git("rev-parse", "HEAD", cwd=root) or "").strip()
    if not commit:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
    return commit, (None if status is None else bool(status.strip()))


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``importlib.metadata``); ``None`` if absent."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _device() -> dict:
    try:
        import jax

        devices = jax.devices()
        first = devices[0]
        return {"platform": first.platform, "device_kind": first.device_kind,
                "count": len(devices)}
    except Exception:  # noqa: BLE001 - provenance must never fail a finished run
        return {"platform": None, "device_kind": None, "count": None}


def provenance(*, name: str, preset: str | None, seeds: Sequence[int],
               wall_time: float | None, argv: Sequence[str] | None = None) -> dict:
    """A JSON-ready record of how a results file was produced.

    Args:
        name: experiment module name, e.g. ``"learn_conv"`` (``experiments.NAME``).
        preset: the preset the run used (``None`` for experiments without presets).
        seeds: the seeds that were run.
        wall_time: the run's wall-clock time in seconds.
        argv: the command-line arguments the experiment's ``main`` received; ``None``
            means ``sys.argv[1:]`` (pass ``argv`` explicitly when called in-process, e.g.
            from ``experiments.all``).

    Returns:
        A dict with ``git_commit`` (str or None), ``git_dirty`` (bool or None),
        ``command`` (``"python -m experiments.NAME ARGS"``, shell-quoted where needed),
        ``preset``, ``seeds`` (list of int), ``packages`` (name -> version or None),
        ``python``, ``platform``, ``device`` (``platform``, ``device_kind``, ``count`` of
        ``jax.devices()``), ``date`` (ISO 8601, UTC, seconds) and ``wall_time``.

    Raises:
        ValueError: if ``name`` is empty or ``seeds`` holds a non-integer.
    """
    if not isinstance(name, str) or not name:
        raise error("name", "an experiment module name", name)
    seed_list = []
    for s in seeds:
        if isinstance(s, bool) or not hasattr(s, "__index__"):
            raise error("seeds", "integers", s)
        seed_list.append(int(s))
    args = list(sys.argv[1:] if argv is None else argv)
    command = f"python -m experiments.{name}"
    if args:
        command += " " + shlex.join(str(a) for a in args)
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "command": command,
        "preset": preset,
        "seeds": seed_list,
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": _device(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time": None if wall_time is None else float(wall_time),
    }
