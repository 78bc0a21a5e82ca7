"""Two processes on 127.0.0.1 (2 forced host devices each) vs one process on 4 devices.

The commands are the README's multi-host recipe (between ``<!-- multihost:begin -->`` and
``<!-- multihost:end -->``), with the coordinator's ``HOST_A:PORT`` replaced by
``127.0.0.1`` and a free port and ``--out results`` by a temporary folder. The processes
talk through JAX's gloo CPU collectives. Checked:

* the 2-process run's final losses and accuracies (every model, every seed) equal the
  1-process 4-device run's within 1e-5 relative;
* only process 0 writes results and figures;
* a 2-process run with ``--resume`` whose process 1 is SIGKILLed after the first
  checkpoint (the survivor is then killed too, as a cluster scheduler would), rerun with
  ``--resume``, completes with the same numbers.

Every process has a timeout and is killed in a ``finally``; ports are chosen free.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 150
RTOL = 1e-5
FINAL = ("train_loss", "train_acc", "test_loss", "test_acc")


def recipe_commands(readme: str) -> list[list[str]]:
    """The README recipe's commands, one per process (``python -m ...`` lines)."""
    block = readme.split("<!-- multihost:begin -->", 1)[1].split("<!-- multihost:end -->", 1)[0]
    lines = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("python -m")]
    return [shlex.split(ln) for ln in lines]


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _localize(cmd: list[str], out: Path, port: int, extra: list[str]) -> list[str]:
    text = [a.replace("HOST_A:PORT", f"127.0.0.1:{port}") for a in cmd]
    i = text.index("--out")
    text[i + 1] = str(out)
    assert text[0] == "python"
    return [sys.executable, *text[1:], *extra]


def _env(devices: int) -> dict:
    env = dict(os.environ)
    # conftest's cheaper-codegen flags stay (the same in both runs compared) + the devices
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(k, None)
    return env


@contextlib.contextmanager
def processes(cmds: list[list[str]], devices: int):
    """Starts one process per command; always kills what is left on exit."""
    procs = [subprocess.Popen(c, env=_env(devices), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in cmds]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            with contextlib.suppress(Exception):
                p.communicate(timeout=30)


def run_all(cmds, devices) -> list[str]:
    with processes(cmds, devices) as procs:
        outs = [p.communicate(timeout=TIMEOUT_S)[0] for p in procs]
        codes = [p.returncode for p in procs]
    assert codes == [0] * len(cmds), "\n\n".join(o[-3000:] for o in outs)
    return outs


def finals(results: dict) -> dict[str, float]:
    """Every final loss / accuracy of a learn_conv results dict, per model and seed."""
    out = {}
    for model in results["models"]:
        for entry in model["per_seed"]:
            key = f"{model['run_name']}/seed{entry['seed']}"
            for m in FINAL:
                if m in entry:
                    out[f"{key}/{m}"] = float(entry[m])
                elif m in entry.get("curves", {}):
                    out[f"{key}/{m}"] = float(entry["curves"][m][-1])
    return out


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys() and len(want) >= 4 * 2 * 3, sorted(want)
    bad = {k: (got[k], want[k]) for k in want
           if not np.isclose(got[k], want[k], rtol=RTOL, atol=0)}
    assert not bad, bad


@pytest.fixture(scope="module")
def recipe():
    cmds = recipe_commands((ROOT / "README.md").read_text())
    assert len(cmds) == 2 and [c[-1] for c in cmds] == ["0", "1"], cmds
    return cmds


@pytest.fixture(scope="module")
def single(recipe, tmp_path_factory):
    """The same run in one process on 4 devices (the process flags dropped)."""
    out = tmp_path_factory.mktemp("single")
    cmd = _localize(recipe[0], out, 0, [])
    i = cmd.index("--coordinator")
    cmd = cmd[:i] + cmd[i + 6:]  # --coordinator A --num-processes N --process-id I
    assert not any(a.startswith("--process") or a.startswith("--num-p") for a in cmd), cmd
    run_all([cmd], devices=4)
    return json.loads((out / "learn_conv.json").read_text())


def test_recipe_commands_are_parsed():
    text = ("x\n<!-- multihost:begin -->\n```\n# host A\npython -m experiments.learn_conv "
            "--out results --coordinator HOST_A:PORT --num-processes 2 --process-id 0\n"
            "python -m experiments.learn_conv --out results --coordinator HOST_A:PORT "
            "--num-processes 2 --process-id 1\n```\n<!-- multihost:end -->\n")
    cmds = recipe_commands(text)
    assert [c[-1] for c in cmds] == ["0", "1"]
    assert _localize(cmds[1], Path("/o"), 7, [])[5:7] == ["--coordinator", "127.0.0.1:7"]


def test_two_processes_equal_one_process(recipe, single, tmp_path):
    port = free_port()
    outs = run_all([_localize(c, tmp_path, port, []) for c in recipe], devices=2)
    res = json.loads((tmp_path / "learn_conv.json").read_text())
    assert_close(finals(res), finals(single))
    assert res["device"]["process_count"] == 2 if "process_count" in res.get(
        "device", {}) else True
    assert "wrote" in outs[0] and "wrote" not in outs[1]  # only process 0 writes
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 4, pngs


def _wait_for_checkpoint(folder: Path, procs, timeout_s: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        # os.walk ignores folders that vanish while it reads: orbax renames its temporary
        # step folders ("2.orbax-checkpoint-tmp" -> "2") under our feet.
        if any(re.fullmatch(r"\d+", d) for _, dirs, _ in os.walk(folder) for d in dirs):
            return
        assert all(p.poll() is None for p in procs), "a process ended before a checkpoint"
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint in {folder} after {timeout_s} s")


def test_sigkill_of_one_process_then_resume(recipe, single, tmp_path):
    def commands():
        port = free_port()
        return [_localize(c, tmp_path, port, ["--resume"]) for c in recipe]

    with processes(commands(), devices=2) as procs:
        _wait_for_checkpoint(tmp_path / "checkpoints", procs, TIMEOUT_S)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(timeout=30)
        time.sleep(1.0)  # the survivor may notice, or block in a collective
        if procs[0].poll() is None:
            procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=30)
    assert procs[1].returncode == -signal.SIGKILL
    assert not (tmp_path / "learn_conv.json").exists()
    run_all(commands(), devices=2)
    res = json.loads((tmp_path / "learn_conv.json").read_text())
    assert_close(finals(res), finals(single))
    resumed = [r.get("resumed_from") for r in _runs(res)]
    assert any(r is not None for r in resumed), resumed


def _runs(results: dict) -> list[dict]:
    """Every training run's results (dicts with a ``resumed_from`` key)."""
    found = []

    def walk(obj):
        if isinstance(obj, dict):
            if "resumed_from" in obj and "test_acc" in obj:
                found.append(obj)
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(results)
    return found
