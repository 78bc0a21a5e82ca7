"""The trainer's augmentation, evaluation cadence, multi-epoch programs, shape check and
progress-bar decision (tiny models, in process)."""

from __future__ import annotations

import dataclasses
import os
import sys
import types

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from jaxcnn import train as T
from jaxcnn.data.augment import Flip, Translate
from jaxcnn.train import loop as train_loop
from jaxcnn.train.run import Run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "scripts"))
from train_toy import MLP, toy_data  # noqa: E402

CURVE_KEYS = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc")
# One transform object for (nearly) every test: runs of one model, transform, batch sizes
# and augmentation share one compiled program (the trainer's program cache), which keeps
# this file fast.
TX = optax.sgd(0.05, momentum=0.9)


def _signals(seed=0):
    """1-D signals (N, 16, 1) of a 3-class toy problem."""
    d = toy_data(n_train=192, n_test=40, dim=16, classes=3, seed=seed)
    return {k: v.reshape(len(v), 16, 1) if k.startswith("x") else v for k, v in d.items()}


def _config(**kw):
    base = dict(epochs=3, batch_size=32, eval_batch_size=40, progress=False)
    base.update(kw)
    return T.TrainConfig(**base)


def _make(seed):
    return MLP(16, 24, 3, rngs=nnx.Rngs(seed))


def _leaves(model):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model))]


def _rows(results, epochs):
    """The curves' rows at ``epochs`` (without wall_time)."""
    c = results["curves"]
    at = {e: i for i, e in enumerate(c["epoch"])}
    return [{k: c[k][at[e]] for k in CURVE_KEYS} for e in epochs]


# ----------------------------------------------------------------------------- augment


def test_augmented_runs_are_deterministic_and_differ_from_plain():
    data, tx = _signals(), TX
    runs, models = [], []
    for aug in (Translate(2), Translate(2), None):
        m = _make(0)
        runs.append(T.train(m, tx, data, config=_config(), augment=aug))
        models.append(m)
    assert runs[0]["curves"] == {**runs[1]["curves"], "wall_time": runs[0]["curves"]["wall_time"]}
    for a, b in zip(_leaves(models[0]), _leaves(models[1])):
        np.testing.assert_array_equal(a, b)
    assert runs[0]["curves"]["train_loss"] != runs[2]["curves"]["train_loss"]
    # The stream follows the data-order key: another key, another run.
    other = T.train(_make(0), tx, data, config=_config(), key=jax.random.key(9),
                    augment=Translate(2))
    assert other["curves"]["train_loss"] != runs[0]["curves"]["train_loss"]


def test_augment_sees_each_step_key_and_batch():
    seen = []

    def spy(key, x):
        jax.debug.callback(lambda k, s: seen.append((np.asarray(k).tolist(), float(s))),
                           jax.random.key_data(key), x.sum())
        return x

    data = _signals()
    T.train(_make(0), TX, data, config=_config(epochs=2), key=jax.random.key(4), augment=spy)
    steps = 2 * (192 // 32)
    assert len(seen) == steps
    want = [jax.random.key_data(T.steps.augment_key(jax.random.key(4), g)).tolist()
            for g in range(steps)]
    assert [k for k, _ in seen] == want  # fold_in(fold_in(key, 2**31 - 1), global step)


def test_replica_equals_train_alone_with_augmentation():
    data, seeds = _signals(1), [0, 3]
    cfg = _config(epochs=2)
    trained, res = T.train_seeds(_make, TX, data, seeds=seeds, config=cfg,
                                 augment=Translate(3, mode="wrap"))
    for s, m, r in zip(seeds, trained, res["per_seed"]):
        alone = _make(s)
        r1 = T.train(alone, TX, data, config=dataclasses.replace(cfg, seed=s),
                     augment=Translate(3, mode="wrap"))
        got, want = (np.concatenate([x.ravel() for x in _leaves(mm)]) for mm in (m, alone))
        assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)
        assert abs(r["final"]["test_loss"] - r1["final"]["test_loss"]) \
            <= 1e-5 * abs(r1["final"]["test_loss"])
    assert res["per_seed"][0]["final"] != res["per_seed"][1]["final"]


def test_second_call_with_equal_augment_does_not_retrace():
    data, tx = _signals(), optax.sgd(0.1)  # a transform of its own: nothing cached yet
    T.TRACE_COUNTS.clear()
    T.train(_make(0), tx, data, config=_config(epochs=1), augment=Translate(1))
    # Another model of the same structure, more epochs, an equal augmentation: no trace.
    T.train(_make(1), tx, data, config=_config(epochs=2), augment=Translate(1))
    assert T.TRACE_COUNTS["epoch"] == 1 and T.TRACE_COUNTS["train_step"] == 1
    T.train(_make(0), tx, data, config=_config(epochs=1), augment=Translate(2))  # new setting
    assert T.TRACE_COUNTS["epoch"] == 2


@pytest.mark.parametrize("augment, match", [
    (lambda k, x: x[:, :8], r"^augment: expected a function \(key, x_batch\) -> x_batch "
                            r"returning the batch's shape \(32, 16, 1\) and dtype float32, "
                            r"got shape \(32, 8, 1\) and dtype float32$"),
    (lambda k, x: x.astype("float16"), r"^augment: .*got shape \(32, 16, 1\) and dtype float16$"),
    (lambda k, x: None, r"^augment: .*got NoneType$"),
    ("translate", r"^augment: expected a function \(key, x_batch\) -> x_batch or None, got str$"),
    (lambda k, x: x @ np.ones((2, 2), np.float32),
     r"^augment: expected a function \(key, x_batch\) -> x_batch taking a batch of shape "
     r"\(32, 16, 1\) and dtype float32, got TypeError"),
])
def test_bad_augment_is_refused_before_compiling(augment, match):
    T.TRACE_COUNTS.clear()
    with pytest.raises(ValueError, match=match):
        T.train(_make(0), optax.sgd(0.1), _signals(), config=_config(), augment=augment)
    with pytest.raises(ValueError, match=match):
        T.train_seeds(_make, optax.sgd(0.1), _signals(), seeds=[0, 1], config=_config(),
                      augment=augment)
    assert T.TRACE_COUNTS["epoch"] == 0


# ----------------------------------------------------------------------------- eval_every


def test_eval_every_rows_equal_evaluating_every_epoch():
    data, calls = _signals(2), []

    def cb(epoch, model):
        calls.append(epoch)
        return {"norm": float(np.linalg.norm(np.asarray(model.l1.kernel[...])))}

    every, sparse = _make(5), _make(5)
    r1 = T.train(every, TX, data, config=_config(epochs=7), callbacks=[cb])
    assert calls == list(range(1, 8))
    calls.clear()
    r3 = T.train(sparse, TX, data, config=_config(epochs=7, eval_every=3), callbacks=[cb])
    assert calls == [3, 6, 7]  # callbacks run at the evaluations
    assert r3["curves"]["epoch"] == [3, 6, 7] and r3["curves"]["step"] == [18, 36, 42]
    assert _rows(r3, [3, 6, 7]) == _rows(r1, [3, 6, 7])  # bitwise
    assert r3["curves"]["norm"] == [r1["curves"]["norm"][e - 1] for e in (3, 6, 7)]
    assert r3["final"] == r1["final"] and r3["epochs_completed"] == 7
    assert r3["config"]["eval_every"] == 3
    for a, b in zip(_leaves(every), _leaves(sparse)):
        np.testing.assert_array_equal(a, b)
    # Without callbacks the whole run is one program call; the rows are the same.
    r3b = T.train(_make(5), TX, data, config=_config(epochs=7, eval_every=3))
    assert _rows(r3b, [3, 6, 7]) == _rows(r1, [3, 6, 7])
    assert len(r3b["curves"]["wall_time"]) == 3


def test_config_eval_every_errors():
    with pytest.raises(ValueError, match=r"^eval_every: expected an int >= 1, got 0$"):
        T.TrainConfig(eval_every=0)


def _spans(monkeypatch):
    spans = []
    original = Run.train_span

    def spy(self, g0, g1):
        spans.append((g0, g1))
        return original(self, g0, g1)

    monkeypatch.setattr(Run, "train_span", spy)
    return spans


def test_the_host_returns_only_where_it_is_needed(monkeypatch, tmp_path):
    data, n = _signals(), 192 // 32
    spans = _spans(monkeypatch)
    T.train(_make(0), TX, data, config=_config(epochs=10, eval_every=4))
    assert spans == [(0, 10 * n)]  # one program call for the whole run
    spans.clear()
    T.train(_make(0), TX, data, config=_config(epochs=10, eval_every=4),
            callbacks=[lambda e, m: None])
    assert [b // n for _, b in spans] == [4, 8, 10]
    spans.clear()
    T.train(_make(0), TX, data,
            config=_config(epochs=5, checkpoint_every=2, checkpoint_dir=str(tmp_path / "c")))
    assert [b // n for _, b in spans] == [2, 4, 5]
    spans.clear()
    T.train(_make(0), TX, data, config=_config(epochs=2, log_every=4))
    assert spans == [(0, 4), (4, 6), (6, 10), (10, 12)]  # chunks restart every epoch
    spans.clear()
    monkeypatch.setattr(T.steps, "CAP_STEPS", 3 * n)  # the program's buffers
    T.train(_make(0), TX, data, config=_config(epochs=7, batch_size=31))
    assert [b for _, b in spans] == [3 * n, 6 * n, 7 * n]


def test_log_every_and_eval_every_together(caplog):
    data = _signals()
    with caplog.at_level("INFO", logger="jaxcnn.train"):
        r = T.train(_make(0), TX, data, config=_config(epochs=4, eval_every=2,
                                                                   log_every=4))
    ref = T.train(_make(0), TX, data, config=_config(epochs=4))
    assert _rows(r, [2, 4]) == _rows(ref, [2, 4])
    msgs = [rec.getMessage() for rec in caplog.records]
    assert sum(" step " in m for m in msgs) == 8  # two chunks per epoch
    assert [m.split(":")[0] for m in msgs if "test loss" in m] == ["epoch 2", "epoch 4"]


# ----------------------------------------------------------------------------- shapes


def test_model_not_taking_the_examples_is_refused_before_compiling():
    data = toy_data(n_train=64, n_test=16, dim=6, classes=2)
    model = nnx.Sequential(nnx.Linear(8, 4, rngs=nnx.Rngs(0)), jax.nn.relu,
                           nnx.Linear(4, 2, rngs=nnx.Rngs(1)))
    T.TRACE_COUNTS.clear()
    match = (r"^data\['x_train'\]: expected examples of the shape the model takes \(a batch "
             r"of 1 failed in the model: TypeError: .*\), got examples of shape \(6,\) "
             r"\(float32\)$")
    with pytest.raises(ValueError, match=match):
        T.train(model, optax.sgd(0.1), data, config=_config())
    with pytest.raises(ValueError, match=match):
        T.train_seeds(lambda s: MLP(8, 4, 2, rngs=nnx.Rngs(s)), optax.sgd(0.1), data,
                      seeds=[0, 1], config=_config())
    assert T.TRACE_COUNTS["epoch"] == 0


# ----------------------------------------------------------------------------- progress


class _Stream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


def _fake_ipython(monkeypatch, shell_class_name, config=None):
    shell = type(shell_class_name, (), {"config": config or {}})()
    module = types.SimpleNamespace(get_ipython=lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", module)


def test_progress_bar_decision(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    show = train_loop.show_progress
    assert show(True, stream=_Stream(True), process_index=0)
    assert not show(False, stream=_Stream(True), process_index=0)
    assert not show(True, stream=_Stream(True), process_index=1)  # only process 0
    assert not show(True, stream=_Stream(False), process_index=0)  # redirected / CI
    assert not show(True, stream=object(), process_index=0)  # no isatty at all
    _fake_ipython(monkeypatch, "ZMQInteractiveShell")  # a Jupyter kernel
    assert train_loop.in_notebook()
    assert show(True, stream=_Stream(False), process_index=0)
    assert not show(False, stream=_Stream(False), process_index=0)
    _fake_ipython(monkeypatch, "Shell", config={"IPKernelApp": {}})  # e.g. Colab's
    assert show(True, stream=_Stream(False), process_index=0)
    _fake_ipython(monkeypatch, "TerminalInteractiveShell")  # IPython in a terminal
    assert not show(True, stream=_Stream(False), process_index=0)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not train_loop.in_notebook()
