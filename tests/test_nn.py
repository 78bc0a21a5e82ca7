"""Tests for jaxcnn.nn: the NNX modules wrap the pure functions; init uses the true fan-in."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxcnn
from jaxcnn.nn import Conv, LocallyConnected, MLPConv, local_kernel_init
from tests.conftest import assert_close, lax_local_conv


def _normal(seed, shape):
    return jax.random.normal(jax.random.key(seed), shape)


def _randomize_bias(layer, seed=7):
    layer.bias.set_value(_normal(seed, layer.bias.shape))


# ----------------------------------------------------- module == wrapped function


@pytest.mark.parametrize("n,groups,padding,strides,dilation", [
    (1, 1, "SAME", 2, 1),
    (2, 2, ((1, 0), (2, 1)), (1, 2), (2, 1)),
    (3, 1, "CIRCULAR", 1, 1),
])
def test_conv_module_equals_function(n, groups, padding, strides, dilation):
    ks = (3, 2, 2)[:n]
    layer = Conv(4, 6, ks, strides=strides, padding=padding, dilation=dilation, groups=groups,
                 rngs=nnx.Rngs(0))
    _randomize_bias(layer)
    assert layer.kernel.shape == (*ks, 4 // groups, 6)
    assert layer.bias.shape == (6,)
    x = _normal(1, (2, *(7, 6, 5)[:n], 4))
    got = layer(x)
    want = jaxcnn.conv(x, layer.kernel[...], layer.bias[...], strides=strides, padding=padding,
                       dilation=dilation, groups=groups)
    np.testing.assert_array_equal(got, want)
    assert got.shape == (2, *layer.out_spatial((7, 6, 5)[:n]), 6)


def test_conv_matches_flax_nnx_conv():
    ours = Conv(3, 5, (3, 3), strides=2, padding="SAME", rngs=nnx.Rngs(0))
    theirs = nnx.Conv(3, 5, (3, 3), strides=2, padding="SAME", rngs=nnx.Rngs(0))
    assert ours.kernel.shape == theirs.kernel.shape  # same layout (HWIO)
    theirs.kernel.set_value(ours.kernel[...])
    x = _normal(2, (2, 9, 9, 3))
    assert_close(ours(x), theirs(x), tol=1e-5)


def test_conv_no_bias_and_dtype():
    layer = Conv(2, 3, (3,), use_bias=False, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    assert layer.bias is None
    assert len(jax.tree.leaves(nnx.state(layer, nnx.Param))) == 1
    y = layer(jnp.ones((4, 8, 2)))
    assert y.dtype == jnp.bfloat16 and y.shape == (4, 6, 3)
    assert layer.kernel.dtype == jnp.float32


@pytest.mark.parametrize("n,padding,strides", [(1, "SAME", 2), (2, "VALID", (2, 1))])
def test_local_module_equals_function(n, padding, strides):
    ks = (3, 2)[:n]
    spatial = (7, 6)[:n]
    layer = LocallyConnected(3, 4, ks, in_spatial=spatial, strides=strides, padding=padding,
                             rngs=nnx.Rngs(0))
    _randomize_bias(layer)
    out = jaxcnn.output_shape(spatial, ks, strides=strides, padding=padding)
    assert layer.out_spatial == out
    assert layer.kernel.shape == (*out, *ks, 3, 4)
    assert layer.bias.shape == (*out, 4)
    x = _normal(1, (2, *spatial, 3))
    got = layer(x)
    want = jaxcnn.local_conv(x, layer.kernel[...], layer.bias[...], strides=strides,
                             padding=padding)
    np.testing.assert_array_equal(got, want)
    if n == 2:  # an independent reference too
        ref = lax_local_conv(x, layer.kernel[...], layer.bias[...], strides=strides,
                             padding=padding)
        assert_close(got, ref, tol=1e-5)


def test_mlpconv_module_equals_function():
    layer = MLPConv(3, (8, 5, 2), (3, 3), strides=2, padding="SAME", activation=jnp.tanh,
                    rngs=nnx.Rngs(0))
    assert [k.shape for k in layer.kernels] == [(3, 3, 3, 8), (8, 5), (5, 2)]
    assert [b.shape for b in layer.biases] == [(8,), (5,), (2,)]
    for i, b in enumerate(layer.biases):
        b.set_value(_normal(10 + i, b.shape))
    x = _normal(1, (2, 7, 7, 3))
    got = nnx.jit(lambda m, x: m(x))(layer, x)
    layers = [(k[...], b[...]) for k, b in zip(layer.kernels, layer.biases)]
    want = jax.jit(lambda x, layers: jaxcnn.mlp_conv(
        x, layers, kernel_size=(3, 3), strides=2, padding="SAME", activation=jnp.tanh))(x, layers)
    assert got.shape == (2, 4, 4, 2)
    assert_close(got, want, tol=1e-6)


# ------------------------------------------------------------- initialisation


def _init_output_variance(layer, in_spatial, c_in, *, samples=64, seed=3):
    x = _normal(seed, (samples, *in_spatial, c_in))  # unit variance
    return float(jnp.var(layer(x)))


def _variance_ok(v, tol=0.15):
    return abs(v - 1.0) <= tol


def test_init_variance_conv_and_local():
    """Unit-variance input -> unit-variance pre-activations (2-D, 9x9 kernel, 16 channels)."""
    spatial, ks, c = (12, 12), (9, 9), 16
    conv = Conv(c, 64, ks, rngs=nnx.Rngs(0))
    local = LocallyConnected(c, 64, ks, in_spatial=spatial, rngs=nnx.Rngs(0))
    v_conv = _init_output_variance(conv, spatial, c)
    v_local = _init_output_variance(local, spatial, c)
    assert _variance_ok(v_conv), v_conv
    assert _variance_ok(v_local), v_local
    # the init itself: variance 1 / (prod(kernel_size) * C_in) per position
    fan_in = math.prod(ks) * c
    assert abs(float(jnp.var(local.kernel[...])) * fan_in - 1) < 0.05
    # He variant: variance 2 / fan_in
    he = local_kernel_init(2, scale=2.0)(jax.random.key(1), local.kernel.shape)
    assert abs(float(jnp.var(he)) * fan_in - 2) < 0.1


def test_init_variance_check_detects_wrong_fan_in():
    """The stock initializer (Linen ConvLocal's mistake) counts the 4x4 = 16 output
    positions in the fan-in: variance ~ 1/16, and the variance check catches it."""
    spatial, ks, c = (12, 12), (9, 9), 16
    wrong = LocallyConnected(c, 64, ks, in_spatial=spatial,
                             kernel_init=nnx.initializers.lecun_normal(), rngs=nnx.Rngs(0))
    v = _init_output_variance(wrong, spatial, c)
    assert not _variance_ok(v)
    assert abs(v * 16 - 1) < 0.15  # exactly the 1/P predicted


def test_init_variance_grouped_conv():
    conv = Conv(16, 32, (5, 5), groups=4, rngs=nnx.Rngs(0))  # fan-in 5*5*4
    assert _variance_ok(_init_output_variance(conv, (9, 9), 16, samples=128))


# ----------------------------------------------------------- jit and grad


def test_nnx_jit_and_grad():
    layers = {
        "conv": Conv(3, 4, (3, 3), strides=2, padding="SAME", rngs=nnx.Rngs(0)),
        "local": LocallyConnected(3, 4, (3, 3), in_spatial=(6, 6), strides=2, padding="SAME",
                                  rngs=nnx.Rngs(0)),
        "mlp": MLPConv(3, (5, 4), (3, 3), strides=2, padding="SAME", rngs=nnx.Rngs(0)),
    }
    x = _normal(1, (2, 6, 6, 3))

    def loss(m, x):
        return jnp.sum(m(x) ** 2)

    @nnx.jit
    def forward_and_grad(m, x):
        return m(x), nnx.grad(loss)(m, x)

    for name, layer in layers.items():
        y, grads = forward_and_grad(layer, x)
        if name != "mlp":  # (mlp: checked under jit above)
            assert_close(y, layer(x), tol=1e-6, name=name)
        params = nnx.state(layer, nnx.Param)
        assert jax.tree.structure(grads) == jax.tree.structure(params)
        for g, p in zip(jax.tree.leaves(grads), jax.tree.leaves(params)):
            assert g.shape == p.shape and bool(jnp.all(jnp.isfinite(g)))
            assert bool(jnp.any(g != 0))
    # against jax.grad of the pure function
    conv = layers["conv"]
    _, g_mod = forward_and_grad(conv, x)
    g_fn = jax.jit(jax.grad(lambda k: jnp.sum(jaxcnn.conv(x, k, conv.bias[...], strides=2,
                                                          padding="SAME") ** 2)))(conv.kernel[...])
    assert_close(g_mod["kernel"][...], g_fn, tol=1e-5)


# ------------------------------------------------------------------ errors


def test_errors_name_the_argument():
    r = nnx.Rngs(0)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv(3, 4, 3, rngs=r)  # int kernel_size is ambiguous
    with pytest.raises(ValueError, match="groups"):
        Conv(3, 4, (3,), groups=2, rngs=r)
    with pytest.raises(ValueError, match="in_features"):
        Conv(0, 4, (3,), rngs=r)
    with pytest.raises(ValueError, match="in_spatial"):
        LocallyConnected(3, 4, (3, 3), in_spatial=(8,), rngs=r)
    with pytest.raises(ValueError, match="kernel_size"):
        LocallyConnected(3, 4, (9, 9), in_spatial=(4, 4), rngs=r)  # window > input
    with pytest.raises(ValueError, match="hidden_features"):
        MLPConv(3, (), (3,), rngs=r)
    with pytest.raises(ValueError, match="x"):
        Conv(3, 4, (3, 3), rngs=r)(jnp.ones((2, 8, 8, 2)))  # wrong channels
    with pytest.raises(ValueError, match="ndim"):
        local_kernel_init(0)
