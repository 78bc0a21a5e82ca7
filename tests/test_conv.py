"""jaxcnn.conv / local_conv / mlp_conv / fc_as_conv / dense against lax and Flax references.

Every grid case draws fresh random inputs, compares the forward pass and the VJP
(random cotangent) w.r.t. input, kernel and bias, in float32 at HIGHEST precision,
to relative error <= 1e-5.
"""

from __future__ import annotations

import math
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

import jaxcnn
from conftest import (
    HIGHEST,
    assert_close,
    case_params,
    compare_vjp,
    circular_pads,
    dimension_numbers,
    lax_conv,
    lax_local_conv,
    make_cases,
    random_arrays,
)

TOL = 1e-5

CONV_CASES = make_cases(0, 48)
LOCAL_CASES = make_cases(1, 20, groups=(1,))


def _seed(case) -> int:
    return zlib.crc32(case.id.encode())


# -------------------------------------------------------------------------- conv


@pytest.mark.parametrize("case", case_params(CONV_CASES))
def test_conv_matches_lax(case):
    out_shape = (*case.batch, *case.out_spatial(), case.c_out)
    x, k, b, ct = random_arrays(_seed(case), case.x_shape, case.kernel_shape, (case.c_out,),
                                out_shape)
    kw = dict(case.geom, groups=case.groups)
    use_bias = _seed(case) % 2 == 0

    def ours(x, k, b):
        return jaxcnn.conv(x, k, b if use_bias else None, precision=HIGHEST, **kw)

    def ref(x, k, b):
        return lax_conv(x, k, b if use_bias else None, **kw)

    y = compare_vjp(ours, ref, (x, k, b), ct, names=("x", "kernel", "bias"), tol=TOL,
                    skip=() if use_bias else ("bias",), dtype=jnp.float32)
    assert y.shape == out_shape


@pytest.mark.parametrize("case", case_params(CONV_CASES))
def test_output_shape_matches_lax(case):
    """output_shape == the spatial shape lax produces (shape-only, no compile)."""
    x = jax.ShapeDtypeStruct(case.x_shape, jnp.float32)
    k = jax.ShapeDtypeStruct(case.kernel_shape, jnp.float32)
    ref = jax.eval_shape(lambda x, k: lax_conv(x, k, groups=case.groups, **case.geom), x, k)
    got = jaxcnn.output_shape(case.spatial, case.kernel_size, **case.geom)
    assert isinstance(got, tuple) and all(type(v) is int for v in got)
    assert got == ref.shape[len(case.batch):-1] == case.out_spatial()
    ours = jax.eval_shape(lambda x, k: jaxcnn.conv(x, k, groups=case.groups, **case.geom), x, k)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype


@pytest.mark.parametrize(
    "batch,groups,padding",
    [((7,), 1, "SAME"), ((2, 4), 2, ((1, 0), (2, 1))), ((5,), 4, "CIRCULAR")],
    ids=["b7-g1-same", "b2x4-g2-asym", "b5-g4-circular"],
)
def test_conv_large_batch_matches_lax(batch, groups, padding):
    """Inputs whose patch tensor is a few MB: large enough for conv to split the batch
    into chunks (with and without a remainder) on CPU; values and VJP still match lax."""
    x_shape, k_shape = (*batch, 30, 30, 8), (3, 3, 8 // groups, 8)
    out = jaxcnn.output_shape((30, 30), (3, 3), padding=padding)
    x, k, b, ct = random_arrays(sum(batch) + groups, x_shape, k_shape, (8,), (*batch, *out, 8))
    kw = dict(padding=padding, groups=groups)
    conv_mod = sys.modules["jaxcnn.conv"]  # make sure the chunked path is what we test
    geom = jaxcnn.validation.geometry((30, 30), (3, 3), padding=padding)
    xb = jax.ShapeDtypeStruct((math.prod(batch), 30, 30, 8), jnp.float32)
    assert conv_mod._conv_chunk(xb, k, geom) < math.prod(batch)
    compare_vjp(lambda x, k, b: jaxcnn.conv(x, k, b, precision=HIGHEST, **kw),
                lambda x, k, b: lax_conv(x, k, b, **kw), (x, k, b), ct,
                names=("x", "kernel", "bias"), tol=TOL, dtype=jnp.float32)


def test_output_shape_many_geometries():
    """A denser seeded sweep of output_shape against lax (eval_shape only: cheap)."""
    for case in make_cases(7, 150):
        x = jax.ShapeDtypeStruct(case.x_shape, jnp.float32)
        k = jax.ShapeDtypeStruct(case.kernel_shape, jnp.float32)
        ref = jax.eval_shape(lambda x, k: lax_conv(x, k, groups=case.groups, **case.geom), x, k)
        got = jaxcnn.output_shape(case.spatial, case.kernel_size, **case.geom)
        assert got == ref.shape[len(case.batch):-1], case.id


def test_output_shape_docstring_example():
    assert jaxcnn.output_shape((32, 32), (9, 9), strides=2, padding="SAME") == (16, 16)
    assert jaxcnn.output_shape((10,), (3,), padding="CIRCULAR", strides=3) == (4,)
    assert jaxcnn.output_shape((7, 7), (3, 3), padding=((2, 0), (0, 1)), dilation=2) == (5, 4)


def test_conv_default_precision_and_no_bias():
    """Default precision, bias=None, padding string in lower case."""
    x, k = random_arrays(3, (2, 7, 6, 4), (3, 2, 4, 5))
    y = jaxcnn.conv(x, k, padding="same", strides=(2, 1))
    assert_close(y, lax_conv(x, k, padding="SAME", strides=(2, 1)), tol=1e-4)


def test_conv_with_one_by_one_kernel_is_dense():
    x, k = random_arrays(4, (2, 5, 5, 3), (1, 1, 3, 7))
    y = jaxcnn.conv(x, k, precision=HIGHEST)
    assert_close(y, jaxcnn.dense(x, k[0, 0], precision=HIGHEST), tol=TOL)
    assert_close(y, jnp.einsum("...c,cd->...d", x, k[0, 0], precision=HIGHEST), tol=TOL)


# ---------------------------------------------------------------- CIRCULAR vs Flax


@pytest.mark.parametrize(
    "x_shape,ks,strides,dilation,groups",
    [
        ((2, 9, 3), (3,), 1, 1, 1),
        ((2, 8, 4), (4,), 2, 1, 2),
        ((1, 7, 6, 4), (3, 2), (2, 1), (1, 2), 2),
        ((2, 5, 6, 2), (2, 3), 1, 2, 1),
        ((1, 4, 5, 3, 2), (2, 3, 2), (1, 2, 1), 1, 1),
    ],
    ids=["1d-k3", "1d-k4-st2-g2", "2d-k3x2-st2x1-dl1x2-g2", "2d-k2x3-dl2", "3d-k2x3x2"],
)
def test_conv_circular_matches_flax(x_shape, ks, strides, dilation, groups):
    c_in, c_out = x_shape[-1], 4
    x, k, b = random_arrays(len(x_shape) * 31 + sum(ks), x_shape, (*ks, c_in // groups, c_out),
                            (c_out,))

    @jax.jit
    def run(x, k, b):
        # Flax module built inside jit (its random init is then never compiled on its own)
        layer = nnx.Conv(c_in, c_out, ks, strides=strides, padding="CIRCULAR",
                         kernel_dilation=dilation, feature_group_count=groups,
                         precision=HIGHEST, rngs=nnx.Rngs(0))
        layer.kernel[...] = k
        layer.bias[...] = b
        got = jaxcnn.conv(x, k, b, strides=strides, padding="CIRCULAR", dilation=dilation,
                          groups=groups, precision=HIGHEST)
        return got, layer(x)

    got, want = run(x, k, b)
    assert_close(got, want, tol=TOL, name="circular vs flax")
    # ... and the pad widths really are Flax's ((k_eff - 1) // 2, k_eff // 2).
    n = len(ks)
    dl = (dilation,) * n if isinstance(dilation, int) else dilation
    assert circular_pads(ks, dl) == [((e - 1) // 2, e // 2)
                                     for e in ((kk - 1) * d + 1 for kk, d in zip(ks, dl))]


def test_circular_wraps_around():
    """A delta at the last position, circular 1-D conv with kernel [1, 0, 0]:
    the output at position 0 reads x[-1] (wrap), which zero padding would not."""
    x = jnp.zeros((1, 5, 1)).at[0, -1, 0].set(1.0)
    k = jnp.array([1.0, 0.0, 0.0]).reshape(3, 1, 1)
    y = jaxcnn.conv(x, k, padding="CIRCULAR")
    np.testing.assert_array_equal(np.asarray(y[0, :, 0]), [1.0, 0, 0, 0, 0])
    y0 = jaxcnn.conv(x, k, padding=1)
    np.testing.assert_array_equal(np.asarray(y0[0, :, 0]), [0.0, 0, 0, 0, 0])


# ----------------------------------------------------------------------- local conv


@pytest.mark.parametrize("case", case_params(LOCAL_CASES))
def test_local_conv_matches_lax(case):
    out = case.out_spatial()
    out_shape = (*case.batch, *out, case.c_out)
    x, k, b, ct = random_arrays(_seed(case), case.x_shape,
                                (*out, *case.kernel_size, case.c_in, case.c_out),
                                (*out, case.c_out), out_shape)
    use_bias = _seed(case) % 2 == 0

    def ours(x, k, b):
        return jaxcnn.local_conv(x, k, b if use_bias else None, precision=HIGHEST, **case.geom)

    def ref(x, k, b):
        return lax_local_conv(x, k, b if use_bias else None, **case.geom)

    y = compare_vjp(ours, ref, (x, k, b), ct, names=("x", "kernel", "bias"), tol=TOL,
                    skip=() if use_bias else ("bias",), dtype=jnp.float32)
    assert y.shape == out_shape


def test_local_conv_with_tied_weights_is_conv():
    """A local kernel that repeats one HWIO kernel at every position == conv."""
    x, k, b = random_arrays(5, (2, 7, 6, 3), (3, 2, 3, 4), (4,))
    out = jaxcnn.output_shape((7, 6), (3, 2), strides=(2, 1), padding="SAME")
    local = jnp.broadcast_to(k, (*out, *k.shape))
    y_local = jaxcnn.local_conv(x, local, jnp.broadcast_to(b, (*out, 4)), strides=(2, 1),
                                padding="SAME", precision=HIGHEST)
    y_conv = jaxcnn.conv(x, k, b, strides=(2, 1), padding="SAME", precision=HIGHEST)
    assert_close(y_local, y_conv, tol=TOL)


def test_local_conv_weights_are_unshared():
    """Changing the kernel at one output position changes only that output."""
    x, k = random_arrays(6, (1, 6, 6, 2), (4, 4, 3, 3, 2, 3))
    y = jaxcnn.local_conv(x, k)
    y2 = jaxcnn.local_conv(x, k.at[1, 2].multiply(-1.0))
    diff = np.array(jnp.abs(y2 - y).sum(-1)[0])
    assert diff[1, 2] > 0
    diff[1, 2] = 0
    assert np.all(diff == 0)


# ------------------------------------------------------------------------ mlp_conv


def _mlp_reference(x, layers, kernel_size, activation, **geom):
    """conv (HWIO first layer) -> act -> 1x1 conv -> act ... all via lax."""
    n = len(kernel_size)
    h = x
    for i, (w, b) in enumerate(layers):
        if i == 0:
            k = w.reshape(*kernel_size, x.shape[-1], w.shape[-1])
            h = lax_conv(h, k, b, **geom)
        else:
            h = lax_conv(h, w.reshape((1,) * n + w.shape), b)
        if i < len(layers) - 1:
            h = activation(h)
    return h


@pytest.mark.parametrize(
    "x_shape,ks,geom,hidden,activation",
    [
        ((2, 9, 3), (3,), dict(strides=2, padding="SAME"), (8, 5), jax.nn.relu),
        ((7, 6, 2), (2, 3), dict(padding=((1, 0), (0, 2)), dilation=(2, 1)), (6,), jnp.tanh),
        ((2, 6, 7, 3), (3, 3), dict(padding="CIRCULAR", strides=(1, 2)), (8, 6, 4), jax.nn.gelu),
        ((1, 2, 4, 5, 4, 2), (2, 2, 1), dict(padding=1), (5, 3), jax.nn.relu),
        ((2, 5, 5, 3), (1, 1), {}, (4, 4), jax.nn.relu),
    ],
    ids=["1d-same-st2", "2d-unbatched-asym-dl", "2d-circular-3layers", "3d-2batch", "1x1"],
)
def test_mlp_conv_matches_conv_stack(x_shape, ks, geom, hidden, activation):
    c_in = x_shape[-1]
    sizes = (math.prod(ks) * c_in, *hidden)
    shapes = []
    for a, b_ in zip(sizes[:-1], sizes[1:]):
        shapes += [(a, b_), (b_,)]
    arrays = random_arrays(len(hidden) * 7 + len(x_shape), x_shape, *shapes)
    x, flat = arrays[0], arrays[1:]
    layers = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(hidden))]

    def ours(x, layers):
        return jaxcnn.mlp_conv(x, layers, kernel_size=ks, activation=activation,
                               precision=HIGHEST, **geom)

    def ref(x, layers):
        return _mlp_reference(x, layers, ks, activation, **geom)

    out_shape = jax.eval_shape(ref, x, layers).shape
    ct = random_arrays(99, out_shape)[0]
    # forward + gradients through x and every layer (one compile)
    compare_vjp(ours, ref, (x, layers), ct, names=("x", "layers"), tol=TOL, dtype=jnp.float32)



def test_mlp_conv_layer_formats():
    """HWIO first kernel, dict layers and bias-free layers all give the same result."""
    ks, c_in = (2, 3), 3
    x, w0, b0, w1, b1 = random_arrays(21, (2, 6, 7, c_in), (ks[0] * ks[1] * c_in, 8), (8,),
                                      (8, 4), (4,))
    layers = [(w0, b0), (w1, b1)]
    kw = dict(kernel_size=ks, padding="SAME", strides=(1, 2), precision=HIGHEST)

    @jax.jit
    def run(x, layers):
        (w0, b0), (w1, b1) = layers
        return dict(
            pairs=jaxcnn.mlp_conv(x, layers, **kw),
            ref=_mlp_reference(x, layers, ks, jax.nn.relu, padding="SAME", strides=(1, 2)),
            dicts=jaxcnn.mlp_conv(x, [dict(kernel=w0.reshape(*ks, c_in, 8), bias=b0),
                                      dict(w=w1, b=b1)], **kw),
            arrays=jaxcnn.mlp_conv(x, [w0, (w1,)], **kw),
            arrays_ref=_mlp_reference(x, [(w0, jnp.zeros(8)), (w1, jnp.zeros(4))], ks,
                                      jax.nn.relu, padding="SAME", strides=(1, 2)),
        )

    r = run(x, layers)
    assert r["pairs"].shape == (2, 6, 4, 4)
    assert_close(r["pairs"], r["ref"], tol=TOL, name="(w, b) pairs")
    assert_close(r["dicts"], r["ref"], tol=TOL, name="dict/HWIO layers")
    assert_close(r["arrays"], r["arrays_ref"], tol=TOL, name="bare arrays (no bias)")


def test_mlp_conv_single_layer_is_conv():
    x, w, b = random_arrays(8, (2, 6, 6, 3), (27, 5), (5,))
    got = jaxcnn.mlp_conv(x, [(w, b)], kernel_size=(3, 3), padding="SAME", precision=HIGHEST)
    want = jaxcnn.conv(x, w.reshape(3, 3, 3, 5), b, padding="SAME", precision=HIGHEST)
    assert_close(got, want, tol=TOL)


# ----------------------------------------------------------------- fc_as_conv, dense


@pytest.mark.parametrize("in_shape,batch", [((4, 4, 3), (2,)), ((7, 2), ()), ((3, 2, 4, 2), (2, 3))],
                         ids=["2d", "1d-unbatched", "3d-2batch"])
def test_fc_as_conv_equals_dense(in_shape, batch):
    x, W, b = random_arrays(len(in_shape), (*batch, *in_shape), (math.prod(in_shape), 6), (6,))
    kernel = jaxcnn.fc_as_conv(W, in_shape)
    assert kernel.shape == (*in_shape, 6)
    y = jaxcnn.conv(x, kernel, b, precision=HIGHEST)
    n = len(in_shape) - 1
    assert y.shape == (*batch, *(1,) * n, 6)
    want = jnp.matmul(x.reshape(*batch, -1), W, precision=HIGHEST) + b
    assert_close(y.reshape(*batch, 6), want, tol=TOL)
    assert_close(jaxcnn.dense(x.reshape(*batch, -1), W, b, precision=HIGHEST), want, tol=TOL)


def test_dense_matches_matmul_and_flax_linear():
    x, w, b = random_arrays(9, (3, 4, 5), (5, 7), (7,))
    assert_close(jaxcnn.dense(x, w, precision=HIGHEST),
                 np.asarray(x, np.float64) @ np.asarray(w, np.float64), tol=TOL)

    @jax.jit
    def run(x, w, b):
        lin = nnx.Linear(5, 7, precision=HIGHEST, rngs=nnx.Rngs(0))
        lin.kernel[...] = w
        lin.bias[...] = b
        return jaxcnn.dense(x, w, b, precision=HIGHEST), lin(x)

    got, want = run(x, w, b)
    assert_close(got, want, tol=TOL, name="dense vs nnx.Linear")
    assert jaxcnn.dense(x[0, 0], w).shape == (7,)


def test_conv_gradient_wrt_random_projection():
    """jax.grad of a scalar projection agrees with lax for all three arguments."""
    kw = dict(strides=(2, 1), padding=((1, 2), (0, 1)), dilation=(1, 2), groups=2)
    out = jaxcnn.output_shape((8, 3), (3, 2), strides=(2, 1), padding=kw["padding"],
                              dilation=(1, 2))
    assert out == (5, 2)
    x, k, b, r = random_arrays(10, (2, 8, 3, 4), (3, 2, 2, 6), (6,), (2, *out, 6))

    def loss(f):
        return lambda x, k, b: jnp.vdot(r, f(x, k, b))

    g = jax.grad(loss(lambda x, k, b: jaxcnn.conv(x, k, b, precision=HIGHEST, **kw)),
                 argnums=(0, 1, 2))(x, k, b)
    g_ref = jax.grad(loss(lambda x, k, b: lax_conv(x, k, b, **kw)), argnums=(0, 1, 2))(x, k, b)
    for a, c, nm in zip(g, g_ref, "xkb"):
        assert_close(a, c, tol=TOL, name=nm)


def test_dimension_numbers_helper_matches_lax_default_layout():
    """Sanity check of the reference itself: our channels-last lax call equals a
    hand-transposed NCHW/OIHW lax call."""
    x, k = random_arrays(11, (2, 6, 5, 4), (3, 2, 4, 3))
    ref = lax_conv(x, k, strides=(1, 2), padding="SAME")
    nchw = lax.conv_general_dilated(jnp.moveaxis(x, -1, 1), jnp.transpose(k, (3, 2, 0, 1)),
                                    (1, 2), "SAME", precision=HIGHEST)
    assert_close(ref, jnp.moveaxis(nchw, 1, -1), tol=TOL)
    assert dimension_numbers(3) == ("NDHWC", "DHWIO", "NDHWC")
