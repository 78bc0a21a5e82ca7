"""Runs ``python -m MODULE ARGS`` and SIGKILLs itself at a chosen moment (fault injection).

    python tests/scripts/faulty.py [--kill-at KIND:N | --kill-after SECONDS]
        [--events FILE] -- MODULE ARGS...

Moments (``KIND:N``: the ``N``-th event of that kind, counted from 1):

* ``rename:N`` — right before the ``N``-th ``os.replace`` / ``os.rename`` of the process:
  a results JSON or PNG (``jaxcnn.io``'s atomic writers) or an orbax checkpoint file or
  step folder has been written to its temporary name and is not yet renamed. This is the
  last moment of every write.
* ``save:N`` — right after the ``N``-th checkpoint save was dispatched
  (``jaxcnn.train.checkpoint.CheckpointManager.save``), with orbax's write in flight.
* ``--kill-after S`` — at ``S`` seconds after start, wherever the run is (importing,
  compiling, training, writing).

``--events FILE`` records every event (``kind``, ``target``, ``t`` seconds) as JSON lines,
so a test can first profile an uninterrupted run and then pick its moments. The kill is
``os.kill(os.getpid(), SIGKILL)``: no ``finally`` blocks, no atexit, no flushing; only
what is on disk survives, as after a power cut of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import sys
import threading
import time

T0 = time.perf_counter()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Events:
    """Counts events per kind, logs them, and kills the process at the chosen one."""

    def __init__(self, kill_at: str | None, log: str | None):
        self.kind, self.n = (None, None)
        if kill_at:
            kind, _, n = kill_at.partition(":")
            self.kind, self.n = kind, int(n)
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.log = open(log, "a", buffering=1) if log else None  # noqa: SIM115

    def hit(self, kind: str, target: str) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if self.log is not None:
                self.log.write(json.dumps({"kind": kind, "target": os.path.basename(target),
                                           "t": time.perf_counter() - T0}) + "\n")
            if kind == self.kind and self.counts[kind] == self.n:
                _die()


def install(events: Events) -> None:
    """Wraps os.replace / os.rename and the trainer's checkpoint save."""
    for name in ("replace", "rename"):
        original = getattr(os, name)

        def wrapped(src, dst, *a, _original=original, **kw):
            events.hit("rename", str(dst))
            return _original(src, dst, *a, **kw)

        setattr(os, name, wrapped)
    from jaxcnn.train import checkpoint

    save = checkpoint.CheckpointManager.save

    def save_then_maybe_die(self, step, *a, **kw):
        out = save(self, step, *a, **kw)
        events.hit("save", f"{self.directory}/{step}")
        return out

    checkpoint.CheckpointManager.save = save_then_maybe_die


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--")
    p = argparse.ArgumentParser()
    p.add_argument("--kill-at", default=None)
    p.add_argument("--kill-after", type=float, default=None)
    p.add_argument("--events", default=None)
    opts = p.parse_args(argv[:split])
    module, args = argv[split + 1], argv[split + 2:]
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    install(Events(opts.kill_at, opts.events))
    if opts.kill_after is not None:
        timer = threading.Timer(opts.kill_after, _die)
        timer.daemon = True
        timer.start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
