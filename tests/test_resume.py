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


# ------------------------------------------------------------------ in process (fast)
# A run stopped after a checkpoint (an exception in a callback stands in for the kill:
# what is left is the checkpoint either way) and resumed, against the uninterrupted run,
# with augmentation, an evaluation cadence and spans of several epochs.

import jax  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from jaxcnn import train as T  # noqa: E402
from jaxcnn.data.augment import Translate  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "scripts"))
from train_toy import MLP, toy_data  # noqa: E402

_TX = optax.adam(1e-2)  # one object: every run below shares one compiled program
_AUG = Translate(2, mode="wrap")


class _Stop(Exception):
    pass


def _signals():
    d = toy_data(n_train=160, n_test=40, dim=12, classes=3, seed=7)
    return {k: v.reshape(len(v), 12, 1) if k.startswith("x") else v for k, v in d.items()}


def _cfg(**kw):
    return T.TrainConfig(**{**dict(epochs=6, batch_size=32, eval_batch_size=40,
                                   eval_every=2, progress=False), **kw})


def _stop_after(epoch):
    def cb(e, model):
        if e >= epoch:
            raise _Stop
    return cb


def _assert_same(resumed, model, ref, ref_model):
    assert resumed["final"] == ref["final"] and resumed["epochs_completed"] == 6
    for k in ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc"):
        assert resumed["curves"][k] == ref["curves"][k], k
    for a, b in zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(ref_model))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("stop", [1, 3, 4])  # an odd epoch holds no row with eval_every=2
def test_interrupted_augmented_run_resumes_bitwise(tmp_path, stop):
    data, ckpt = _signals(), str(tmp_path / "ckpt")
    ref_model = MLP(12, 16, 3, rngs=nnx.Rngs(0))
    ref = T.train(ref_model, _TX, data, config=_cfg(), augment=_AUG)  # one program call
    # Checkpoints every epoch; the callback runs at evaluations (epochs 2, 4, 6), so the
    # run stops right after the evaluation at or after `stop`, before that epoch's
    # checkpoint: the latest checkpoint is the epoch before.
    with pytest.raises(_Stop):
        T.train(MLP(12, 16, 3, rngs=nnx.Rngs(0)), _TX, data, augment=_AUG,
                config=_cfg(checkpoint_dir=ckpt), callbacks=[_stop_after(stop)])
    model = MLP(12, 16, 3, rngs=nnx.Rngs(0))
    resumed = T.train(model, _TX, data, augment=_AUG,
                      config=_cfg(checkpoint_dir=ckpt, resume=True, checkpoint_every=5))
    assert resumed["resumed_from"] == 2 * -(-stop // 2) - 1
    _assert_same(resumed, model, ref, ref_model)


def test_train_seeds_augmented_resume_is_bitwise(tmp_path):
    data, ckpt = _signals(), str(tmp_path / "ckpt")
    make = lambda s: MLP(12, 16, 3, rngs=nnx.Rngs(s))  # noqa: E731
    ref_models, ref = T.train_seeds(make, _TX, data, seeds=[0, 1], config=_cfg(),
                                    augment=_AUG)
    with pytest.raises(_Stop):
        T.train_seeds(make, _TX, data, seeds=[0, 1], augment=_AUG,
                      config=_cfg(checkpoint_dir=ckpt), callbacks=[_stop_after(4)])
    models, resumed = T.train_seeds(make, _TX, data, seeds=[0, 1], augment=_AUG,
                                    config=_cfg(checkpoint_dir=ckpt, resume=True))
    for r, m, rr, rm in zip(resumed["per_seed"], models, ref["per_seed"], ref_models):
        assert r["resumed_from"] == 3
        _assert_same(r, m, rr, rm)
