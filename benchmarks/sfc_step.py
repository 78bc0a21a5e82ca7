"""Neyshabur's S-FC (alpha = 150) beta-LASSO training step at CIFAR shape, and its MFU.

    python -m benchmarks.sfc_step --out sfc.json            # paper scale (a GPU)
    python -m benchmarks.sfc_step --tiny --out sfc.json     # tiny sizes (CPU tests)

The step is the trainer's own: :func:`jaxcnn.train.train` on synthetic CIFAR-shaped
inputs (32x32x3, 10 classes, batch 512), the beta-LASSO transform of ``learn_conv``'s
paper preset, for a few epochs; steady ms/step is the median epoch time divided by its
steps. Both compute dtypes run: float32, and bfloat16 activations with float32
parameters (``SFC(dtype=bfloat16)``). FLOPs per step come from XLA's cost analysis of
one forward + backward; model FLOP utilisation (MFU) is achieved FLOP/s over the
*measured* peak of a large bfloat16 matmul on the same device. The projections are
``steps_per_epoch(50,000, batch) * epochs * ms/step`` for Neyshabur's 400- and
4000-epoch runs (evaluation excluded).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn import models
from jaxcnn import optim
from jaxcnn import train as T
from jaxcnn.io import write_json_atomic

from benchmarks.train_suite import step_flops


@dataclasses.dataclass(frozen=True)
class Size:
    alpha: int = 150
    batch: int = 512
    spatial: int = 32
    epochs: int = 3
    steps_per_epoch: int = 12
    matmul: int = 8192


TINY = Size(alpha=2, batch=16, spatial=8, epochs=2, steps_per_epoch=2, matmul=256)
PAPER_IMAGES = 50_000


def matmul_peak(n: int, repeats: int = 10) -> float:
    """Measured FLOP/s of an ``n x n @ n x n`` bfloat16 matmul (float32 accumulation)."""
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.bfloat16)
    b = jax.random.normal(kb, (n, n), jnp.bfloat16)
    f = jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32))
    jax.block_until_ready(f(a, b))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a, b))
        ts.append(time.perf_counter() - t0)
    return 2 * n**3 / min(ts)


def synthetic(size: Size) -> dict:
    rng = np.random.default_rng(0)
    n = size.batch * size.steps_per_epoch
    shape = (size.spatial, size.spatial, 3)
    return {"x_train": rng.normal(size=(n, *shape)).astype(np.float32),
            "y_train": rng.integers(0, 10, n).astype(np.int32),
            "x_test": rng.normal(size=(size.batch, *shape)).astype(np.float32),
            "y_test": rng.integers(0, 10, size.batch).astype(np.int32)}


def sfc(size: Size, dtype) -> nnx.Module:
    return models.SFC((size.spatial, size.spatial, 3), 10, alpha=size.alpha, dtype=dtype,
                      rngs=nnx.Rngs(0))


def blasso():
    return optim.beta_lasso_partitioned(
        0.1, l1_by_label={"first": 1e-5, "rest": 1e-5, "no_l1": 0.0}, beta=50.0,
        label_fn=optim.first_layer_label_fn("features/0"))


def run_dtype(size: Size, data: dict, dtype, peak: float) -> dict:
    model = sfc(size, dtype)
    flops = step_flops(model, data, size.batch)
    cfg = T.TrainConfig(epochs=size.epochs, batch_size=size.batch, progress=False)
    t0 = time.perf_counter()
    res = T.train(model, blasso(), data, config=cfg)
    wall = time.perf_counter() - t0
    times = res["curves"]["wall_time"]
    ms = 1e3 * statistics.median(times[1:]) / res["steps_per_epoch"]
    per_epoch = T.steps_per_epoch(PAPER_IMAGES, batch_size=size.batch)
    return {"dtype": jnp.dtype(dtype).name, "params": res["num_params"],
            "flops_per_step": flops, "ms_per_step": ms, "compile_s": times[0] - ms *
            res["steps_per_epoch"] / 1e3, "wall_s": wall,
            "tflops": flops / ms / 1e9, "mfu_vs_bf16_peak": flops / (ms / 1e3) / peak,
            "projected_hours": {str(e): per_epoch * e * ms / 3.6e6 for e in (400, 4000)},
            "final_train_loss": res["final"]["train_loss"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    size = TINY if args.tiny else Size()
    peak = matmul_peak(size.matmul)
    data = synthetic(size)
    rows = [run_dtype(size, data, jnp.dtype(d), peak) for d in args.dtypes.split(",")]
    out = {"meta": {"date": datetime.date.today().isoformat(),
                    "backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
                    "jax": jax.__version__, "size": dataclasses.asdict(size),
                    "bf16_matmul_peak_tflops": peak / 1e12}, "rows": rows}
    print(f"S-FC alpha={size.alpha} beta-LASSO step, batch {size.batch}, "
          f"{size.spatial}x{size.spatial}x3; bf16 matmul peak {peak / 1e12:.1f} TFLOP/s")
    for r in rows:
        print(f"  {r['dtype']}: {r['params'] / 1e6:.1f}M params, {r['ms_per_step']:.2f} ms/step,"
              f" {r['tflops']:.1f} TFLOP/s, MFU {100 * r['mfu_vs_bf16_peak']:.1f}%, projected "
              f"{r['projected_hours']['400']:.2f} h (400 ep) / "
              f"{r['projected_hours']['4000']:.1f} h (4000 ep)")
    if args.out:
        write_json_atomic(args.out, out, indent=1)
    return out


if __name__ == "__main__":
    main()
