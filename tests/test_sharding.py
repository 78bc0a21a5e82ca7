"""Data-parallel and FSDP training on 8 fake CPU devices (in a subprocess)."""

import json
import os
import subprocess
import sys

import jax
import optax
import pytest
from flax import nnx

from jaxcnn import train as T

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "scripts", "train_toy.py")


@pytest.fixture(scope="module")
def sharded_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding") / "runs.json"
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env = dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, SCRIPT, "sharding", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dp", "fsdp"])
def test_same_loss_as_one_device(sharded_runs, name):
    single, multi = sharded_runs["single"]["final"], sharded_runs[name]["final"]
    for metric in ("train_loss", "test_loss"):
        assert abs(multi[metric] - single[metric]) <= 1e-4 * abs(single[metric]), metric
    assert multi["test_acc"] == single["test_acc"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dp", "fsdp"])
def test_batch_sharded_over_8_devices(sharded_runs, name):
    sharding = sharded_runs[name]["sharding"]
    assert sharding["mesh"] == {"data": 8}
    assert sharding["batch_devices"] == 8
    assert sharding["batch"][0] == "data"


@pytest.mark.slow
def test_params_replicated_without_fsdp(sharded_runs):
    run = sharded_runs["dp"]
    assert run["kernel_devices"] == 8 and all(a is None for a in run["kernel_spec"])
    assert run["kernel_shard_shape"] == [32, 64]  # every device holds the whole kernel
    assert all(all(a is None for a in s) for s in run["sharding"]["params"].values())


@pytest.mark.slow
def test_fsdp_shards_large_kernel(sharded_runs):
    run = sharded_runs["fsdp"]
    assert run["kernel_spec"] == [None, "data"]  # (32, 64): split the 64 over 8 devices
    assert run["kernel_shard_shape"] == [32, 8]
    assert run["sharding"]["params"]["l1/kernel"] == [None, "data"]
    # Small or 1-D arrays stay replicated.
    assert all(a is None for a in run["small_kernel_spec"])
    assert all(a is None for a in run["bn_mean_spec"])
    assert run["sharding"]["params"]["l1/bias"] == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seeds_dp", "seeds_fsdp"])
def test_seed_replicas_on_8_devices(sharded_runs, name):
    """train_seeds on a mesh: each replica data-parallel (and FSDP) over all 8 devices."""
    single, multi = sharded_runs["seeds_single"]["finals"], sharded_runs[name]["finals"]
    assert len(single) == len(multi) == 3
    for s, m in zip(single, multi):
        for metric in ("train_loss", "test_loss"):
            assert abs(m[metric] - s[metric]) <= 1e-4 * abs(s[metric]), metric
        assert m["test_acc"] == s["test_acc"]
    # Seed 0's replica equals the single-model run with seed 0.
    assert abs(single[0]["test_loss"] - sharded_runs["single"]["final"]["test_loss"]) \
        <= 1e-5 * abs(sharded_runs["single"]["final"]["test_loss"])
    run = sharded_runs[name]
    assert run["sharding"]["mesh"] == {"data": 8} and run["sharding"]["batch_devices"] == 8
    assert run["kernel_devices"] == 8
    spec, recorded = run["kernel_spec"], run["sharding"]["params"]["l1/kernel"]
    if name == "seeds_fsdp":  # (replica, 32, 64): the replica axis is never split
        assert spec == [None, "data"] and recorded == [None, "data"]  # seed 1's slice
    else:
        assert all(a is None for a in spec) and all(a is None for a in recorded)


def test_too_many_devices():
    n = jax.device_count()
    model = nnx.Linear(4, 2, rngs=nnx.Rngs(0))
    data = {"x_train": jax.numpy.zeros((8, 4)), "y_train": jax.numpy.zeros(8, int),
            "x_test": jax.numpy.zeros((8, 4)), "y_test": jax.numpy.zeros(8, int)}
    config = T.TrainConfig(epochs=1, batch_size=8, devices=n + 1, progress=False)
    with pytest.raises(ValueError, match=rf"devices: expected between 1 and {n}.*got {n + 1}"):
        T.train(model, optax.sgd(0.1), data, key=jax.random.key(0), config=config)
    with pytest.raises(ValueError, match="devices"):
        T.make_mesh(n + 1)
