"""Toy models, data and a CLI for the trainer's subprocess tests.

Importable (``toy_data``, ``MLP``) and runnable:

    python tests/scripts/train_toy.py run --out DIR [--epochs 4] [--ckpt DIR] [--resume]
        [--sleep 0.5] [--devices N] [--shard none|fsdp]
        -> DIR/results.json, DIR/params.npz (final parameters, flattened by path)
    python tests/scripts/train_toy.py sharding --out FILE.json
        -> 1-device, 8-device data-parallel and 8-device FSDP runs (needs 8 devices)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from jaxcnn.train import TrainConfig, train, train_seeds  # noqa: E402


def toy_data(n_train: int = 512, n_test: int = 200, dim: int = 16, classes: int = 2,
             seed: int = 0) -> dict:
    """Linearly separable Gaussian blobs: label = argmax of ``classes`` random projections."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, classes))
    x = rng.normal(size=(n_train + n_test, dim)).astype(np.float32)
    y = np.argmax(x @ w, axis=-1).astype(np.int32)
    return {"x_train": x[:n_train], "y_train": y[:n_train],
            "x_test": x[n_train:], "y_test": y[n_train:]}


class MLP(nnx.Module):
    """Linear -> BatchNorm -> relu -> Linear, on flattened inputs ``(B, ...) -> (B, out)``."""

    def __init__(self, din: int, hidden: int, dout: int, *, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(din, hidden, rngs=rngs)
        self.bn = nnx.BatchNorm(hidden, momentum=0.9, rngs=rngs)
        self.l2 = nnx.Linear(hidden, dout, rngs=rngs)

    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        return self.l2(jax.nn.relu(self.bn(self.l1(x))))


def flat_params(model: nnx.Module) -> dict[str, np.ndarray]:
    state = nnx.state(model)
    return {"/".join(map(str, path)): np.asarray(v.get_value() if hasattr(v, "get_value") else v)
            for path, v in nnx.to_flat_state(state)}


def cmd_run(args) -> None:
    data = toy_data()
    model = MLP(16, 32, 2, rngs=nnx.Rngs(0))
    config = TrainConfig(epochs=args.epochs, batch_size=64, eval_batch_size=64,
                         checkpoint_dir=args.ckpt, resume=args.resume, devices=args.devices,
                         shard_params=args.shard, fsdp_min_size=256, progress=False)

    def slow(epoch, model):
        time.sleep(args.sleep)
        return {"kernel_norm": float(np.linalg.norm(np.asarray(model.l1.kernel[...])))}

    results = train(model, optax.adam(1e-2), data, key=jax.random.key(1), config=config,
                    callbacks=[slow])
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "params.npz"), **flat_params(model))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f)


def cmd_sharding(args) -> None:
    assert jax.device_count() == 8, jax.device_count()
    data = toy_data(n_train=512, n_test=100, dim=32, classes=4)
    out = {}
    for name, devices, shard in [("single", 1, "none"), ("dp", 8, "none"),
                                 ("fsdp", 8, "fsdp")]:
        model = MLP(32, 64, 4, rngs=nnx.Rngs(0))
        config = TrainConfig(epochs=2, batch_size=64, eval_batch_size=64, devices=devices,
                             shard_params=shard, fsdp_min_size=1024, progress=False)
        results = train(model, optax.sgd(0.05, momentum=0.9), data, key=jax.random.key(0),
                        config=config)
        kernel = model.l1.kernel[...]
        out[name] = {
            "final": results["final"], "sharding": results["sharding"],
            "kernel_spec": [a for a in kernel.sharding.spec],
            "kernel_devices": len(kernel.sharding.device_set),
            "kernel_shard_shape": list(kernel.addressable_shards[0].data.shape),
            "small_kernel_spec": [a for a in model.l2.kernel[...].sharding.spec],
            "bn_mean_spec": [a for a in model.bn.mean[...].sharding.spec],
        }
    for name, devices, shard in [("seeds_single", 1, "none"), ("seeds_dp", 8, "none"),
                                 ("seeds_fsdp", 8, "fsdp")]:
        config = TrainConfig(epochs=2, batch_size=64, eval_batch_size=64, devices=devices,
                             shard_params=shard, fsdp_min_size=1024, progress=False)
        trained, results = train_seeds(lambda s: MLP(32, 64, 4, rngs=nnx.Rngs(s)),
                                       optax.sgd(0.05, momentum=0.9), data, seeds=[0, 1, 2],
                                       config=config)
        kernel = trained[1].l1.kernel[...]
        out[name] = {"finals": [r["final"] for r in results["per_seed"]],
                     "sharding": results["per_seed"][0]["sharding"],
                     "kernel_spec": [a for a in kernel.sharding.spec],
                     "kernel_devices": len(kernel.sharding.device_set)}
    with open(args.out, "w") as f:
        json.dump(out, f)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--out", required=True)
    run.add_argument("--epochs", type=int, default=4)
    run.add_argument("--ckpt", default=None)
    run.add_argument("--resume", action="store_true")
    run.add_argument("--sleep", type=float, default=0.0)
    run.add_argument("--devices", type=int, default=None)
    run.add_argument("--shard", default="none")
    shard = sub.add_parser("sharding")
    shard.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    {"run": cmd_run, "sharding": cmd_sharding}[args.cmd](args)


if __name__ == "__main__":
    main()
