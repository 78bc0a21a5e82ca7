"""Tests of jaxcnn.train (single device, in process) and jaxcnn.io."""

import json
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxcnn import io as jaxcnn_io
from jaxcnn import train as T

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "scripts"))
from train_toy import MLP, toy_data  # noqa: E402

EPOCHS = 4


def _config(**kw):
    base = dict(epochs=EPOCHS, batch_size=64, eval_batch_size=48, progress=False)
    base.update(kw)
    return T.TrainConfig(**base)


@pytest.fixture(scope="module")
def run():
    """One training run of a BatchNorm MLP on a separable 3-class problem."""
    data = toy_data(n_train=520, n_test=100, dim=16, classes=3)  # 520 % 64 != 0: drop last
    model = MLP(16, 32, 3, rngs=nnx.Rngs(0))
    init_state = jax.tree.map(np.array, nnx.state(model))
    T.TRACE_COUNTS.clear()
    callback_calls = []

    def nonzeros(epoch, m):
        callback_calls.append(epoch)
        k = np.asarray(m.l1.kernel[...])
        return {"nonzeros": [int(np.count_nonzero(k))], "kernel_norm": float(np.linalg.norm(k))}

    results = T.train(model, optax.adam(1e-2), data, config=_config(),
                      key=jax.random.key(0), callbacks=[nonzeros])
    return dict(results=results, model=model, data=data, init_state=init_state,
                traces=dict(T.TRACE_COUNTS), callback_calls=callback_calls)


def test_learns_separable_problem(run):
    curves = run["results"]["curves"]
    assert run["results"]["final"]["test_acc"] > 0.8  # chance is 1/3
    assert curves["train_loss"][-1] < curves["train_loss"][0]
    assert curves["test_acc"][-1] >= curves["test_acc"][0]


def test_results_schema_and_json(run):
    r = run["results"]
    for key in ("config", "epochs_completed", "curves", "final", "wall_time", "device",
                "num_params", "num_train", "num_test", "steps_per_epoch", "sharding",
                "resumed_from"):
        assert key in r, key
    assert r["epochs_completed"] == EPOCHS and r["resumed_from"] is None
    assert r["config"]["epochs"] == EPOCHS and r["config"]["batch_size"] == 64
    assert r["steps_per_epoch"] == 520 // 64 and r["num_train"] == 520 and r["num_test"] == 100
    curves = r["curves"]
    for name in ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                 "wall_time", "nonzeros", "kernel_norm"):
        assert len(curves[name]) == EPOCHS, name
    assert curves["epoch"] == list(range(1, EPOCHS + 1))
    assert curves["step"][-1] == EPOCHS * (520 // 64)
    assert all(isinstance(v, float) for v in curves["train_loss"] + curves["test_acc"])
    assert curves["nonzeros"][0] == [16 * 32]
    assert run["callback_calls"] == list(range(1, EPOCHS + 1))
    assert set(r["final"]) >= {"train_loss", "train_acc", "test_loss", "test_acc", "epoch"}
    assert r["final"]["test_acc"] == curves["test_acc"][-1]
    # Test accuracy is over all 100 examples exactly (48-example batches, padded + masked).
    assert math.isclose(r["final"]["test_acc"] * 100, round(r["final"]["test_acc"] * 100))
    expected_params = 16 * 32 + 32 + 2 * 32 + 32 * 3 + 3
    assert r["num_params"] == expected_params
    assert r["device"]["platform"] == jax.devices()[0].platform and r["device"]["count"] == 1
    assert isinstance(r["wall_time"], float) and r["wall_time"] > 0
    assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_step_is_traced_once(run):
    assert run["traces"]["train_step"] == 1
    assert run["traces"]["eval_step"] == 1
    assert run["traces"]["permutation"] == 1


def test_batchnorm_train_vs_eval(run):
    model, data = run["model"], run["data"]
    init = run["init_state"]
    # Train mode updated the running statistics (init: mean 0, var 1) ...
    assert not np.allclose(np.asarray(model.bn.mean[...]), init["bn"]["mean"][...])
    assert not np.allclose(np.asarray(model.bn.var[...]), init["bn"]["var"][...])
    # ... the reported test loss is the eval-mode loss with those final statistics ...
    model.eval()
    before = np.asarray(model.bn.mean[...]).copy()
    logits = model(jnp.asarray(data["x_test"]))
    loss = float(jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits, data["y_test"])))
    np.testing.assert_allclose(loss, run["results"]["final"]["test_loss"], rtol=1e-5)
    np.testing.assert_array_equal(before, np.asarray(model.bn.mean[...]))  # eval: no update
    # ... which differs from the train-mode (batch statistics) loss.
    model.train()
    logits_train = model(jnp.asarray(data["x_test"]))
    assert not np.allclose(np.asarray(logits), np.asarray(logits_train), atol=1e-4)
    assert not np.allclose(before, np.asarray(model.bn.mean[...]))  # train: updated
    model.eval()


def test_mse_loss():
    data = toy_data(n_train=256, n_test=64, dim=8, classes=2, seed=3)
    model = MLP(8, 16, 2, rngs=nnx.Rngs(1))
    results = T.train(model, optax.sgd(0.1, momentum=0.9), data, key=jax.random.key(1),
                      config=_config(epochs=3, loss="mse", batch_size=32, eval_batch_size=64))
    losses = results["curves"]["train_loss"]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert results["final"]["test_acc"] > 0.75
    model.eval()
    out = model(jnp.asarray(data["x_test"]))
    target = jax.nn.one_hot(data["y_test"], 2)
    np.testing.assert_allclose(float(jnp.mean((out - target) ** 2)),
                               results["final"]["test_loss"], rtol=1e-5)


def test_non_finite_loss_raises_and_keeps_checkpoint(tmp_path):
    data = toy_data(n_train=256, n_test=64, dim=8, classes=2, seed=4)
    steps = 256 // 32  # per epoch
    # A learning rate that explodes half-way through epoch 2.
    schedule = lambda step: jnp.where(step < steps + steps // 2, 0.01, 1e30)  # noqa: E731
    ckpt = str(tmp_path / "ckpt")
    cfg = _config(epochs=3, batch_size=32, checkpoint_dir=ckpt)
    model = MLP(8, 16, 2, rngs=nnx.Rngs(2))
    with pytest.raises(FloatingPointError,
                       match=r"non-finite training loss \S+ at epoch 2, step \d+") as info:
        T.train(model, optax.sgd(schedule), data, key=jax.random.key(2), config=cfg)
    err = info.value
    assert isinstance(err, T.NonFiniteLossError)
    assert err.epoch == 2 and steps // 2 < err.step < steps and not math.isfinite(err.loss)
    assert str(err.global_step) in str(err)
    assert sorted(os.listdir(ckpt)) == ["1"]  # epoch 1's checkpoint only

    # Without resume, a directory holding checkpoints is refused ...
    with pytest.raises(ValueError, match="resume"):
        T.train(MLP(8, 16, 2, rngs=nnx.Rngs(2)), optax.sgd(0.01), data,
                key=jax.random.key(2), config=cfg)
    # ... and resuming (with nothing left to train) restores the good epoch-1 state.
    fresh = MLP(8, 16, 2, rngs=nnx.Rngs(99))
    results = T.train(fresh, optax.sgd(schedule), data, key=jax.random.key(2),
                      config=_config(epochs=1, batch_size=32, checkpoint_dir=ckpt,
                                     resume=True))
    assert results["resumed_from"] == 1 and results["epochs_completed"] == 1
    assert len(results["curves"]["train_loss"]) == 1
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(nnx.state(fresh)))
    assert not np.allclose(np.asarray(fresh.l1.kernel[...]),
                           np.asarray(MLP(8, 16, 2, rngs=nnx.Rngs(99)).l1.kernel[...]))


def test_argument_errors():
    data = toy_data(n_train=64, n_test=16, dim=4, classes=2)
    model = MLP(4, 8, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"batch_size.*64.*128"):
        T.train(model, optax.sgd(0.1), data, key=jax.random.key(0),
                config=_config(batch_size=128))
    with pytest.raises(ValueError, match=r"data.*x_test"):
        T.train(model, optax.sgd(0.1), {k: v for k, v in data.items() if k != "x_test"},
                key=jax.random.key(0), config=_config())
    bad = dict(data, y_train=data["y_train"][:10])
    with pytest.raises(ValueError, match=r"y_train"):
        T.train(model, optax.sgd(0.1), bad, key=jax.random.key(0), config=_config())
    with pytest.raises(ValueError, match=r"shard_params.*'fsdp'.*'zero'"):
        T.TrainConfig(shard_params="zero")
    with pytest.raises(ValueError, match=r"loss.*'hinge'"):
        T.TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match=r"epochs.*-1"):
        T.TrainConfig(epochs=-1)
    with pytest.raises(ValueError, match=r"keep_checkpoints.*>= 2.*1"):
        T.TrainConfig(keep_checkpoints=1)
    with pytest.raises(ValueError, match=r"resume.*checkpoint_dir"):
        T.TrainConfig(resume=True)


def test_cosine_schedule():
    s = T.cosine_schedule(0.1, total_steps=100)
    np.testing.assert_allclose([s(0), s(50), s(100)], [0.1, 0.05, 0.0], atol=1e-7)
    w = T.cosine_schedule(0.1, total_steps=100, warmup_steps=10)
    np.testing.assert_allclose([w(0), w(5), w(10), w(100)], [0.0, 0.05, 0.1, 0.0], atol=1e-7)
    assert T.steps_per_epoch(520, batch_size=64) == 8
    with pytest.raises(ValueError, match="warmup_steps"):
        T.cosine_schedule(0.1, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        T.cosine_schedule(0.1, total_steps=0)


def test_fsdp_spec_rule():
    assert T.fsdp_spec((32, 64), 8, 1024) == jax.sharding.PartitionSpec(None, "data")
    assert T.fsdp_spec((64, 32), 8, 1024) == jax.sharding.PartitionSpec("data", None)
    assert T.fsdp_spec((3, 3, 16, 12), 4, 0) == jax.sharding.PartitionSpec(
        None, None, "data", None)
    assert T.fsdp_spec((30, 7), 8, 0) == jax.sharding.PartitionSpec()  # nothing divisible
    assert T.fsdp_spec((4096,), 8, 0) == jax.sharding.PartitionSpec()  # 1-D
    assert T.fsdp_spec((8, 8), 8, 1024) == jax.sharding.PartitionSpec()  # too small


# ----------------------------------------------------------------------------- _io


def test_write_json_atomic_roundtrip(tmp_path):
    path = tmp_path / "sub" / "r.json"
    obj = {"a": np.float32(0.5), "b": np.arange(3), "c": (1, 2), "d": jnp.ones(2),
           "e": {1: np.int64(7)}, "f": None}
    jaxcnn_io.write_json_atomic(path, obj)
    assert jaxcnn_io.read_json(path) == {"a": 0.5, "b": [0, 1, 2], "c": [1, 2], "d": [1.0, 1.0],
                                   "e": {"1": 7}, "f": None}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp files left
    with pytest.raises(TypeError, match="obj"):
        jaxcnn_io.write_json_atomic(path, {"bad": object()})
    assert jaxcnn_io.read_json(path)["a"] == 0.5  # old file intact


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "fig.png"
    jaxcnn_io.write_bytes_atomic(path, b"old")
    os.chmod(path, 0o640)
    with pytest.raises(RuntimeError):
        with jaxcnn_io.atomic_write(path) as f:
            f.write(b"partial")
            raise RuntimeError("crash mid-write")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
    jaxcnn_io.write_text_atomic(path, "new")
    assert path.read_text() == "new" and (os.stat(path).st_mode & 0o777) == 0o640
    with pytest.raises(ValueError, match="mode"):
        with jaxcnn_io.atomic_write(path, "a"):
            pass
