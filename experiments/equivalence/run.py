"""One 2-D layer, four ways: the same map as conv, patches + dense, LCN, and FC.

    python -m experiments.equivalence [--out DIR] [--seed S]

A fixed computation: it has no preset fields and one PRNG key (``--seed``), so ``--set``
and ``--seeds`` are refused (argparse), not ignored.

Prints (and saves to ``DIR/equivalence.json``):

1. the maximum absolute difference between ``conv``, ``extract_patches`` followed
   by one shared ``dense`` map, ``local_conv`` with the kernel tied across
   positions, the exact dense matrix ``conv_to_dense`` applied to the flat
   input, ``lax.conv_general_dilated``, and FC-as-conv (a dense layer run as a
   convolution whose window is the whole input);
2. a table CNN vs LCN vs FC: parameters, non-zeros of the dense matrix, and the
   distance of each dense matrix to the conv and LCN subspaces (the orthogonal
   projections ``dense_to_conv`` / ``dense_to_local``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

import jaxcnn
from jaxcnn import embed, metrics

from experiments.harness.cli import RunOptions, experiment_main
from experiments.harness.outputs import publish
from experiments.harness.tables import format_table

NAME = "equivalence"
HI = lax.Precision.HIGHEST
#: The layer of the demo: input ``(H, W, C)``, kernel window, output channels, stride.
IN_SHAPE, KERNEL_SIZE, C_OUT, STRIDES = (12, 12, 3), (3, 3), 8, 2
#: Inputs per batch, and outputs of the FC layer run as a convolution.
BATCH, FC_UNITS = 4, 10


def layer_views(key, *, in_shape=IN_SHAPE, kernel_size=KERNEL_SIZE, c_out=C_OUT,
                strides=STRIDES, padding="SAME", dilation=1) -> dict:
    """Computes one layer as conv / patches+dense / tied LCN / dense matrix / FC-as-conv."""
    kx, kk, kw = jax.random.split(key, 3)
    x = jax.random.normal(kx, (BATCH, *in_shape))
    kernel = jax.random.normal(kk, (*kernel_size, in_shape[-1], c_out))
    geo = dict(strides=strides, padding=padding, dilation=dilation)
    out_spatial = jaxcnn.output_shape(in_shape[:-1], kernel_size, **geo)

    y_conv = jaxcnn.conv(x, kernel, **geo, precision=HI)
    patches = jaxcnn.extract_patches(x, kernel_size, **geo)
    y_patch = jaxcnn.dense(patches, kernel.reshape(-1, c_out), precision=HI)
    tied = embed.conv_to_local(kernel, in_shape, **geo)
    y_local = jaxcnn.local_conv(x, tied, **geo, precision=HI)
    W = embed.conv_to_dense(kernel, in_shape, **geo)
    y_dense = jnp.matmul(x.reshape(x.shape[0], -1), W, precision=HI).reshape(y_conv.shape)
    n = len(kernel_size)
    y_lax = lax.conv_general_dilated(
        x, kernel, (strides,) * n, padding, rhs_dilation=(dilation,) * n,
        dimension_numbers=lax.conv_dimension_numbers(x.shape, kernel.shape,
                                                     ("NHWC", "HWIO", "NHWC")),
        precision=HI)
    # LeCun's view, the other way round: an FC layer is a conv with a full window.
    W_fc = jax.random.normal(kw, (math.prod(in_shape), FC_UNITS))
    y_fc = jnp.matmul(x.reshape(x.shape[0], -1), W_fc, precision=HI)
    y_fc_conv = jaxcnn.conv(x, jaxcnn.fc_as_conv(W_fc, in_shape), precision=HI)

    diff = lambda a, b: float(jnp.max(jnp.abs(a - b)))
    return {
        "in_shape": list(in_shape), "kernel_size": list(kernel_size), "c_out": c_out,
        "out_spatial": list(out_spatial), **{k: v for k, v in geo.items()},
        "max_abs_diff_vs_conv": {
            "lax.conv_general_dilated": diff(y_conv, y_lax),
            "patches + shared dense": diff(y_conv, y_patch),
            "LCN with tied weights": diff(y_conv, y_local),
            "dense matrix (FC)": diff(y_conv, y_dense),
        },
        "max_abs_diff_fc_as_conv": diff(y_fc, y_fc_conv.reshape(y_fc.shape)),
        "output_scale": float(jnp.max(jnp.abs(y_conv))),
        "_arrays": (kernel, W, geo, out_spatial),
    }


def subspace_table(key, kernel, W_conv, in_shape, geo, out_spatial) -> list[dict]:
    """CNN / LCN / FC: parameters, non-zeros, and distances to the conv and LCN subspaces."""
    kernel_size = kernel.shape[:-2]
    c_in, c_out = kernel.shape[-2:]
    k1, k2 = jax.random.split(key)
    local = jax.random.normal(k1, (*out_spatial, *kernel_size, c_in, c_out))
    W_local = embed.local_to_dense(local, in_shape, **geo)
    W_fc = jax.random.normal(k2, W_conv.shape)

    def dist(W, to):
        distance = metrics.conv_distance if to == "conv" else metrics.local_distance
        return float(distance(W, in_shape, kernel_size, **geo))

    rows = []
    for name, params, W in (("CNN (conv)", kernel.size, W_conv),
                            ("LCN (local)", local.size, W_local),
                            ("FC (dense)", W_fc.size, W_fc)):
        rows.append({"layer": name, "parameters": int(params),
                     "dense shape": "x".join(map(str, W.shape)),
                     "non-zeros": int(jnp.count_nonzero(W)),
                     "dist to conv": dist(W, "conv"), "dist to LCN": dist(W, "local")})
    return rows


def run(options: RunOptions) -> dict:
    """Computes the layer every way, prints both tables; process 0 writes the JSON."""
    key = jax.random.PRNGKey(options.seed)
    views = layer_views(key)
    kernel, W, geo, out_spatial = views.pop("_arrays")
    print(f"One 2-D layer: input {tuple(views['in_shape'])}, kernel "
          f"{tuple(views['kernel_size'])} -> {views['c_out']} channels, stride "
          f"{views['strides']}, {views['padding']} padding -> output {tuple(out_spatial)}")
    print(f"(outputs have max |y| = {views['output_scale']:.3g})\n")
    diffs = [{"computed as": k, "max abs(y - conv(x))": v}
             for k, v in views["max_abs_diff_vs_conv"].items()]
    diffs.append({"computed as": "FC layer run as conv (full window)",
                  "max abs(y - conv(x))": views["max_abs_diff_fc_as_conv"]})
    print(format_table(diffs, floatfmt=".2e"))
    rows = subspace_table(jax.random.fold_in(key, 1), kernel, W, tuple(views["in_shape"]), geo,
                          out_spatial)
    print("\nThe same layer as a dense matrix: CNN ⊂ LCN ⊂ FC")
    print(format_table(rows, floatfmt=".3g"))
    results = {"layer": views, "subspaces": rows}
    publish(options, results, NAME)
    return results


main = experiment_main(run, NAME, __doc__, presets=False)


if __name__ == "__main__":
    main()
