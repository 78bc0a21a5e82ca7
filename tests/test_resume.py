"""SIGKILL a checkpointing training run, resume it, and compare with an uninterrupted run."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "scripts", "train_toy.py")
EPOCHS = 4


def _run_cmd(out, *extra):
    return [sys.executable, SCRIPT, "run", "--out", str(out), "--epochs", str(EPOCHS), *extra]


def _env():
    # Inherits conftest's XLA_FLAGS: all three runs compile with the same flags.
    return dict(os.environ, JAX_PLATFORMS="cpu")


def _finished_steps(ckpt):
    if not os.path.isdir(ckpt):
        return []
    return sorted(int(n) for n in os.listdir(ckpt) if re.fullmatch(r"\d+", n))


@pytest.mark.slow
def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
    ckpt = str(tmp_path / "ckpt")
    ref_out, resumed_out = tmp_path / "ref", tmp_path / "resumed"
    # The uninterrupted reference run and the run to be killed, side by side.
    ref = subprocess.Popen(_run_cmd(ref_out), env=_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    victim = subprocess.Popen(_run_cmd(tmp_path / "victim", "--ckpt", ckpt, "--sleep", "1.5"),
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 240
        while not _finished_steps(ckpt):
            assert victim.poll() is None, f"victim exited early: {victim.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert victim.returncode == -signal.SIGKILL
    steps_at_kill = _finished_steps(ckpt)
    assert steps_at_kill and steps_at_kill[-1] < EPOCHS, steps_at_kill

    resumed = subprocess.run(_run_cmd(resumed_out, "--ckpt", ckpt, "--resume"), env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    _, ref_err = ref.communicate(timeout=300)
    assert ref.returncode == 0, ref_err[-4000:]

    r_ref = json.loads((ref_out / "results.json").read_text())
    r_res = json.loads((resumed_out / "results.json").read_text())
    assert r_res["resumed_from"] in steps_at_kill
    assert r_res["epochs_completed"] == EPOCHS
    assert r_res["final"] == r_ref["final"]
    for name in ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                 "kernel_norm"):
        assert r_res["curves"][name] == r_ref["curves"][name], name
    p_ref, p_res = np.load(ref_out / "params.npz"), np.load(resumed_out / "params.npz")
    assert sorted(p_ref.files) == sorted(p_res.files)
    assert any("mean" in k for k in p_ref.files)  # batch statistics are compared too
    for k in p_ref.files:
        np.testing.assert_array_equal(p_res[k], p_ref[k], err_msg=k)
    assert _finished_steps(ckpt)[-1] == EPOCHS
    assert len(_finished_steps(ckpt)) <= 2  # keep_checkpoints=2
