"""The scanned-epoch trainer against a hand-written pure-JAX reference, and train_seeds."""

import dataclasses
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxcnn import models, optim
from jaxcnn import train as T

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "scripts"))
sys.path.insert(0, os.path.join(HERE, ".."))
from train_toy import MLP, toy_data  # noqa: E402

from benchmarks import scan_floor  # noqa: E402  (the hand-written reference)


def _config(**kw):
    base = dict(epochs=3, batch_size=32, eval_batch_size=40, progress=False)
    base.update(kw)
    return T.TrainConfig(**base)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _params(model):
    return jax.tree.map(np.asarray, nnx.state(model, nnx.Param))


def _assert_tree_rel(got, want, tol):
    """Relative error over all leaves together (a leaf whose gradient is exactly zero in
    theory, such as a bias before BatchNorm, holds only rounding noise on its own)."""
    got_l, want_l = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got_l) == len(want_l) > 0
    assert [g.shape for g in got_l] == [w.shape for w in want_l]
    flat = lambda leaves: np.concatenate([np.ravel(x) for x in leaves])  # noqa: E731
    err = _rel(flat(got_l), flat(want_l))
    assert err <= tol, err


# ----------------------------------------------------------------------------- scan


def test_scanned_epochs_equal_hand_written_reference():
    # benchmarks/scan_floor.py: the same recipe as a few pure JAX functions (split once,
    # scan of plain steps, no masks or shardings); BatchNorm state is carried through
    data = toy_data(n_train=300, n_test=70, dim=12, classes=3, seed=5)
    cfg = _config(epochs=4)
    ref_model = MLP(12, 24, 3, rngs=nnx.Rngs(3))
    new_model = MLP(12, 24, 3, rngs=nnx.Rngs(3))
    ref = scan_floor.train(ref_model, optax.adam(3e-3), data, key=jax.random.key(7),
                           config=cfg)
    new = T.train(new_model, optax.adam(3e-3), data, key=jax.random.key(7), config=cfg)
    for name in ("train_loss", "test_loss", "train_acc", "test_acc"):
        assert len(new["curves"][name]) == 4
        for got, want in zip(new["curves"][name], ref["curves"][name]):
            assert abs(got - want) <= 1e-6 * max(abs(want), 1e-12), (name, got, want)
    assert new["curves"]["train_loss"][-1] < new["curves"]["train_loss"][0]
    _assert_tree_rel(_params(new_model), _params(ref_model), 1e-6)


def test_log_every_chunks_give_the_same_run(caplog):
    data = toy_data(n_train=256, n_test=64, dim=8, classes=2, seed=1)
    runs = []
    for log_every in (0, 3):  # 8 steps: chunks of 3, 3, 2
        m = MLP(8, 16, 2, rngs=nnx.Rngs(0))
        with caplog.at_level("INFO", logger="jaxcnn.train"):
            runs.append(T.train(m, optax.sgd(0.05), data, config=_config(log_every=log_every)))
    assert runs[0]["curves"]["train_loss"] == pytest.approx(runs[1]["curves"]["train_loss"],
                                                             rel=1e-6)
    steps = [r.getMessage() for r in caplog.records if "step" in r.getMessage()
             and "epoch 1 step" in r.getMessage()]
    assert [s.split(":")[0] for s in steps] == ["epoch 1 step 3", "epoch 1 step 6",
                                                "epoch 1 step 8"]


def nan_at(step: int) -> optax.GradientTransformation:
    """Updates that are NaN at optimizer step ``step`` (0-based), zero-ish otherwise."""

    def init(params):
        return jnp.zeros([], jnp.int32)

    def update(grads, count, params=None):
        poison = jnp.where(count == step, jnp.nan, 0.0)
        return jax.tree.map(lambda g: -0.01 * g + poison, grads), count + 1

    return optax.GradientTransformation(init, update)


@pytest.mark.parametrize("seeds", [None, [3, 4]])
def test_nan_mid_epoch_names_epoch_and_step(tmp_path, seeds):
    data = toy_data(n_train=256, n_test=64, dim=8, classes=2, seed=4)
    steps = 256 // 32
    bad = steps + 5  # optimizer step 13 writes NaN: epoch 2's step 6 is the first NaN loss
    ckpt = str(tmp_path / "ckpt")
    cfg = _config(epochs=3, checkpoint_dir=ckpt)
    with pytest.raises(T.NonFiniteLossError,
                       match=r"non-finite training loss nan at epoch 2, step 6 of 8 "
                             r"\(global step 14\)") as info:
        if seeds is None:
            T.train(MLP(8, 16, 2, rngs=nnx.Rngs(2)), nan_at(bad), data, config=cfg)
        else:
            T.train_seeds(lambda s: MLP(8, 16, 2, rngs=nnx.Rngs(s)), nan_at(bad), data,
                          seeds=seeds, config=cfg)
    err = info.value
    assert (err.epoch, err.step, err.global_step) == (2, 6, 14) and math.isnan(err.loss)
    if seeds is None:
        assert err.seed is None and sorted(os.listdir(ckpt)) == ["1"]
    else:
        assert err.seed == 3 and "(seed 3)" in str(err)
        assert sorted(os.listdir(os.path.join(ckpt, "seeds_3-4"))) == ["1"]


# ----------------------------------------------------------------------------- seeds


def _sconv(seed):
    return models.SConv((16, 1), 3, alpha=2, kernel_size=3, rngs=nnx.Rngs(seed))


def _sfc(seed):
    return models.SFC((16, 1), 3, alpha=2, kernel_size=3, rngs=nnx.Rngs(seed))


def _blasso(model):
    return optim.beta_lasso_partitioned(
        0.05, l1_by_label={"first": 2e-3, "rest": 1e-3, "no_l1": 0.0}, beta=20.0,
        label_fn=optim.first_layer_label_fn("features/0"))


def _signal_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(360, 16, 1)).astype(np.float32)
    y = (np.argmax(x[:, 2:5, 0].sum(1, keepdims=True) * np.array([1.0, -1.0, 0.3]), 1)
         + (x[:, 8, 0] > 1.0)).clip(0, 2).astype(np.int32)
    return {"x_train": x[:280], "y_train": y[:280], "x_test": x[280:], "y_test": y[280:]}


def _plain_mlp(seed):
    rngs = nnx.Rngs(seed)
    return nnx.Sequential(nnx.Linear(12, 24, rngs=rngs), jax.nn.relu,
                          nnx.Linear(24, 3, rngs=rngs))


CASES = {
    # No BatchNorm here: Adam turns the rounding noise on a bias right before a BatchNorm
    # (whose true gradient is 0) into +-lr steps; the BatchNorm case is the S-CONV's.
    "mlp": (_plain_mlp, lambda m: optax.adam(3e-3),
            lambda: toy_data(n_train=300, n_test=70, dim=12, classes=3, seed=5)),
    "bn-s-conv": (_sconv, lambda m: optax.sgd(0.05, momentum=0.9), _signal_data),
    "blasso-s-fc": (_sfc, _blasso, _signal_data),
}


@pytest.mark.parametrize("name", list(CASES))
def test_replica_equals_train_alone(name):
    make, make_tx, make_data = CASES[name]
    data, seeds = make_data(), [0, 5, 2]
    cfg = _config(epochs=2)
    trained, res = T.train_seeds(make, make_tx(None), data, seeds=seeds, config=cfg)
    assert res["seeds"] == seeds and len(trained) == len(res["per_seed"]) == 3
    for s, m, r in zip(seeds, trained, res["per_seed"]):
        alone = make(s)
        r1 = T.train(alone, make_tx(None), data, config=dataclasses.replace(cfg, seed=s))
        _assert_tree_rel(_params(m), _params(alone), 1e-5)
        if name == "bn-s-conv":  # batch statistics travel with each replica
            _assert_tree_rel(jax.tree.map(np.asarray, nnx.state(m, nnx.BatchStat)),
                             jax.tree.map(np.asarray, nnx.state(alone, nnx.BatchStat)), 1e-5)
        assert abs(r["final"]["test_loss"] - r1["final"]["test_loss"]) \
            <= 1e-5 * abs(r1["final"]["test_loss"])
        assert set(r) == set(r1) and r["config"] == r1["config"]
        assert set(r["curves"]) == set(r1["curves"])
    # Replicas really differ (their own init and data order).
    a, b = (jax.tree.leaves(_params(m))[0] for m in trained[:2])
    assert _rel(a, b) > 0.1
    if name == "blasso-s-fc":
        first = np.asarray(trained[0].features[0].kernel[...])
        assert 0 < np.count_nonzero(first) < first.size  # β-LASSO zeroed entries


def test_summary_mean_std_and_schema():
    make, make_tx, make_data = CASES["mlp"]
    _, res = T.train_seeds(make, make_tx(None), make_data(), seeds=[1, 2, 3, 4],
                           config=_config(epochs=1), max_replicas=3)
    accs = [r["final"]["test_acc"] for r in res["per_seed"]]
    assert res["mean"]["test_acc"] == pytest.approx(np.mean(accs))
    assert res["std"]["test_acc"] == pytest.approx(np.std(accs, ddof=1))
    assert set(res["mean"]) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert res["max_replicas"] == 3 and res["seeds"] == [1, 2, 3, 4]
    assert [r["config"]["seed"] for r in res["per_seed"]] == [1, 2, 3, 4]


def test_max_replicas_groups_equal_one_program():
    make, make_tx, make_data = CASES["mlp"]
    data, cfg = make_data(), _config(epochs=2)
    _, together = T.train_seeds(make, make_tx(None), data, seeds=[0, 1, 2], config=cfg)
    _, grouped = T.train_seeds(make, make_tx(None), data, seeds=[0, 1, 2], config=cfg,
                               max_replicas=2)
    for a, b in zip(together["per_seed"], grouped["per_seed"]):
        assert a["final"]["test_loss"] == pytest.approx(b["final"]["test_loss"], rel=1e-5)
    # Groups of one size reuse the compiled programs: two groups of 2, one trace each.
    T.TRACE_COUNTS.clear()
    _, pairs = T.train_seeds(make, make_tx(None), data, seeds=[0, 1, 2, 3], config=cfg,
                             max_replicas=2)
    assert T.TRACE_COUNTS["epoch"] == 1 and T.TRACE_COUNTS["eval_step"] == 1
    assert [r["config"]["seed"] for r in pairs["per_seed"]] == [0, 1, 2, 3]
    for a, b in zip(together["per_seed"], pairs["per_seed"][:3]):
        assert a["final"]["test_loss"] == pytest.approx(b["final"]["test_loss"], rel=1e-5)


def test_seeds_callbacks_and_pruning_per_replica():
    make, make_tx, make_data = CASES["mlp"]
    calls = []

    def prune_and_count(epoch, m):
        calls.append(epoch)
        k = np.asarray(m.layers[0].kernel[...])
        m.layers[0].kernel[...] = jnp.where(jnp.abs(k) < 0.05, 0.0, k)
        return {"zeros": int(np.sum(np.asarray(m.layers[0].kernel[...]) == 0))}

    trained, res = T.train_seeds(make, make_tx(None), make_data(), seeds=[0, 1],
                                 config=_config(epochs=2), callbacks=[prune_and_count])
    assert calls == [1, 1, 2, 2]
    for m, r in zip(trained, res["per_seed"]):
        assert len(r["curves"]["zeros"]) == 2 and r["curves"]["zeros"][0] > 0
    assert res["per_seed"][0]["curves"]["zeros"] != res["per_seed"][1]["curves"]["zeros"]
    # Training went on from the pruned state, as it does for train alone.
    alone = make(1)
    r1 = T.train(alone, make_tx(None), make_data(), config=_config(epochs=2, seed=1),
                 callbacks=[prune_and_count])
    assert r1["curves"]["zeros"] == res["per_seed"][1]["curves"]["zeros"]
    _assert_tree_rel(_params(trained[1]), _params(alone), 1e-5)
    unpruned = make(1)
    T.train(unpruned, make_tx(None), make_data(), config=_config(epochs=2, seed=1))
    assert _rel(jax.tree.leaves(_params(unpruned))[1], jax.tree.leaves(_params(alone))[1]) > 1e-3


def test_seeds_checkpoint_resume_is_bitwise(tmp_path):
    make, make_tx, make_data = CASES["mlp"]
    data = make_data()
    ckpt = str(tmp_path / "ckpt")
    _, full = T.train_seeds(make, make_tx(None), data, seeds=[0, 1], config=_config(epochs=3))
    T.train_seeds(make, make_tx(None), data, seeds=[0, 1],
                  config=_config(epochs=2, checkpoint_dir=ckpt))
    m2, resumed = T.train_seeds(make, make_tx(None), data, seeds=[0, 1],
                                config=_config(epochs=3, checkpoint_dir=ckpt, resume=True))
    for a, b in zip(full["per_seed"], resumed["per_seed"]):
        assert b["resumed_from"] == 2
        assert a["curves"]["train_loss"] == b["curves"]["train_loss"]
        assert a["final"] == b["final"]
    with pytest.raises(ValueError, match=r"^resume: expected True"):
        T.train_seeds(make, make_tx(None), data, seeds=[0, 1],
                      config=_config(epochs=3, checkpoint_dir=ckpt))


def test_second_train_seeds_call_traces_once_each():
    make, make_tx, make_data = CASES["mlp"]
    data = make_data()
    T.TRACE_COUNTS.clear()
    T.train_seeds(make, make_tx(None), data, seeds=[0, 1, 2], config=_config(epochs=3))
    assert T.TRACE_COUNTS["epoch"] == 1 and T.TRACE_COUNTS["train_step"] == 1
    assert T.TRACE_COUNTS["eval_step"] == 1 and T.TRACE_COUNTS["permutation"] == 1


# ----------------------------------------------------------------------------- bad input


def _toy():
    return toy_data(n_train=64, n_test=16, dim=4, classes=2)


def _mlp(seed=0):
    return MLP(4, 8, 2, rngs=nnx.Rngs(seed))


@pytest.mark.parametrize("mutate, match", [
    (lambda d: dict(d, y_train=d["y_train"] + 10),
     r"^data\['y_train'\]: expected integer labels in \[0, 2\) \(the model has 2 outputs\), "
     r"got labels in \[10, 11\]$"),
    (lambda d: dict(d, y_test=np.full_like(d["y_test"], -1)),
     r"^data\['y_test'\]: expected integer labels in \[0, 2\).*got labels in \[-1, -1\]$"),
    (lambda d: dict(d, y_train=d["y_train"].astype(np.float32) + 0.5),
     r"^data\['y_train'\]: expected integer labels \(N,\) or float targets \(N, 2\) for "
     r"loss='cross_entropy', got float32 of shape \(64,\)$"),
    (lambda d: dict(d, y_train=np.full((64, 2), 0.3, np.float32)),
     r"^data\['y_train'\]: expected probability targets \(rows >= 0 summing to 1\)"),
    (lambda d: dict(d, x_train=np.where(np.arange(64)[:, None] == 7, np.nan, d["x_train"])),
     r"^data\['x_train'\]: expected finite values, got 4 NaN or infinite entries$"),
    (lambda d: dict(d, x_test=np.full_like(d["x_test"], np.inf)),
     r"^data\['x_test'\]: expected finite values, got 64 NaN"),
    (lambda d: dict(d, y_train=np.zeros((64, 2, 1), np.int32)),
     r"^data\['y_train'\]: expected integer labels of shape \(N,\), got shape \(64, 2, 1\)$"),
])
def test_bad_data_is_refused_before_training(mutate, match):
    data = mutate(_toy())
    with pytest.raises(ValueError, match=match):
        T.train(_mlp(), optax.sgd(0.1), data, config=_config())
    with pytest.raises(ValueError, match=match):
        T.train_seeds(_mlp, optax.sgd(0.1), data, seeds=[0, 1], config=_config())


def test_soft_targets_and_mse_float_targets_accepted():
    d = _toy()
    soft = dict(d, y_train=np.eye(2, dtype=np.float32)[d["y_train"]] * 0.8 + 0.1)
    T.train(_mlp(), optax.sgd(0.1), soft, config=_config(epochs=1))
    reg = dict(d, y_train=np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    T.train(_mlp(), optax.sgd(0.1), reg, config=_config(epochs=1, loss="mse"))


@pytest.mark.parametrize("seeds, kwargs, match", [
    ([], {}, r"^seeds: expected a non-empty sequence of ints, got \[\]$"),
    ("01", {}, r"^seeds: expected a non-empty sequence of ints, got '01'$"),
    ([0, 0], {}, r"^seeds: expected distinct seeds, got \[0, 0\]$"),
    ([0, 1.5], {}, r"^seeds: expected ints >= 0, got \[0, 1.5\]$"),
    ([0, -1], {}, r"^seeds: expected ints >= 0, got \[0, -1\]$"),
    ([0, 1], {"max_replicas": 0}, r"^max_replicas: expected an int >= 1 or None, got 0$"),
])
def test_bad_seeds(seeds, kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.train_seeds(_mlp, optax.sgd(0.1), _toy(), seeds=seeds, config=_config(), **kwargs)


def test_models_of_different_structure_are_refused():
    def make(seed):
        return MLP(4, 8 + seed, 2, rngs=nnx.Rngs(seed))

    with pytest.raises(ValueError, match=r"^make_model: expected models of one structure for "
                                         r"every seed, got a different graph or parameter "
                                         r"shapes for seed 1$"):
        T.train_seeds(make, optax.sgd(0.1), _toy(), seeds=[0, 1], config=_config())
    with pytest.raises(ValueError, match=r"^make_model: expected an nnx.Module for seed 0, "
                                         r"got int$"):
        T.train_seeds(lambda s: s, optax.sgd(0.1), _toy(), seeds=[0], config=_config())


def test_config_errors():
    with pytest.raises(ValueError, match=r"^seed: expected an int >= 0, got -3$"):
        T.TrainConfig(seed=-3)
    with pytest.raises(ValueError, match=r"^config: expected a TrainConfig, got dict$"):
        T.train(_mlp(), optax.sgd(0.1), _toy(), config={"epochs": 1})


def test_fixed_order_without_shuffle_equals_hand_loop():
    """shuffle=False: batch i of every epoch is rows i*B..(i+1)*B (as the MNIST-1D code)."""
    data = toy_data(n_train=128, n_test=32, dim=6, classes=2, seed=9)
    model = nnx.Sequential(nnx.Linear(6, 8, rngs=nnx.Rngs(0)), jax.nn.relu,
                                   nnx.Linear(8, 2, rngs=nnx.Rngs(1)))
    ref = nnx.clone(model)
    T.train(model, optax.sgd(0.1), data, config=_config(epochs=2, shuffle=False))
    graph, params = nnx.split(ref, nnx.Param)
    for _ in range(2):
        for i in range(128 // 32):
            xb, yb = data["x_train"][32 * i:32 * (i + 1)], data["y_train"][32 * i:32 * (i + 1)]

            def loss(p):
                out = nnx.merge(graph, p)(xb)
                return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean()

            params = jax.tree.map(lambda p, g: p - 0.1 * g, params, jax.grad(loss)(params))
    _assert_tree_rel(_params(model), jax.tree.map(np.asarray, params), 1e-6)
    shuffled = nnx.clone(ref)
    T.train(shuffled, optax.sgd(0.1), data, config=_config(epochs=2))
    assert _rel(jax.tree.leaves(_params(shuffled))[0], jax.tree.leaves(_params(model))[0]) > 1e-4
    with pytest.raises(ValueError, match=r"^shuffle: expected a bool, got 'no'$"):
        T.TrainConfig(shuffle="no")
