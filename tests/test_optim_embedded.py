"""Tests for jaxcnn.optim.embedded_conv_step: an embedded CNN layer's conv component
gets the CNN's own gradient step in FC space."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxcnn import conv_to_dense, dense_to_conv, models
from jaxcnn.optim import embedded_conv_step

IN_SHAPE = (40, 1)
GEOMETRY = {"strides": 2, "padding": "SAME"}


def _loss(model, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def _grads(model, x, y):
    model.train()
    return nnx.grad(_loss)(model, x, y)


@pytest.fixture(scope="module")
def pair():
    """A trained-looking S-CONV, its exact S-FC embedding, a batch, and both gradients."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((32, *IN_SHAPE)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, 32))
    cnn = models.SConv(IN_SHAPE, 10, alpha=3, kernel_size=9, rngs=nnx.Rngs(5))
    fc = models.embed(cnn, to="fc")
    return x, y, cnn, fc, _grads(cnn, x, y), _grads(fc, x, y)


def _project(w):
    return conv_to_dense(dense_to_conv(w, IN_SHAPE, (9,), **GEOMETRY), IN_SHAPE, **GEOMETRY)


def _transformed(grads):
    tx = embedded_conv_step("features/0", IN_SHAPE, (9,), **GEOMETRY)
    out, _ = jax.jit(tx.update)(grads, tx.init(grads))
    return out


def test_conv_component_is_the_cnn_gradient_embedded(pair):
    _, _, cnn, _, g_cnn, g_fc = pair
    g = g_fc["features"][0]["kernel"][...]
    new = _transformed(g_fc)["features"][0]["kernel"][...]
    want = conv_to_dense(g_cnn["features"][0]["kernel"][...], IN_SHAPE, **GEOMETRY)
    scale = float(jnp.max(jnp.abs(want)))
    np.testing.assert_allclose(_project(new), want, atol=1e-5 * scale)
    # and the plain gradient's conv component was about P = 20 times smaller
    ratio = float(jnp.linalg.norm(_project(g)) / jnp.linalg.norm(want))
    assert 1 / 25 < ratio < 1 / 10, ratio


def test_orthogonal_component_is_unchanged(pair):
    g_fc = pair[5]
    g = g_fc["features"][0]["kernel"][...]
    new = _transformed(g_fc)["features"][0]["kernel"][...]
    np.testing.assert_allclose(new - _project(new), g - _project(g), atol=1e-6)
    assert float(jnp.linalg.norm(g - _project(g))) > 0  # a real orthogonal part


def test_bias_gets_the_per_channel_sum_and_other_leaves_pass(pair):
    g_fc = pair[5]
    out = _transformed(g_fc)
    b = np.asarray(g_fc["features"][0]["bias"][...]).reshape(-1, 3)
    nb = np.asarray(out["features"][0]["bias"][...]).reshape(-1, 3)
    np.testing.assert_allclose(nb.mean(0), b.sum(0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(nb - nb.mean(0), b - b.mean(0), atol=1e-7)
    for path in (("hidden", 0, "kernel"), ("head", "kernel"), ("feature_norms", 0, "scale")):
        a, c = g_fc, out
        for k in path:
            a, c = a[k], c[k]
        np.testing.assert_array_equal(a[...], c[...])


def test_one_sgd_step_moves_the_projected_kernel_as_the_cnn_step(pair):
    x, y, cnn, fc, g_cnn, g_fc = pair
    lr = 0.05
    tx = optax.chain(embedded_conv_step("features/0", IN_SHAPE, (9,), **GEOMETRY),
                     optax.sgd(lr))
    params = nnx.state(fc, nnx.Param)
    updates, _ = tx.update(g_fc, tx.init(params), params)
    new = optax.apply_updates(params, updates)["features"][0]["kernel"][...]
    k = cnn.features[0].kernel[...] - lr * g_cnn["features"][0]["kernel"][...]
    k_new = dense_to_conv(new, IN_SHAPE, (9,), **GEOMETRY)
    np.testing.assert_allclose(k_new, k, atol=1e-6)
    # the plain step would have moved it about 20 times less
    plain = params["features"][0]["kernel"][...] - lr * g_fc["features"][0]["kernel"][...]
    moved = dense_to_conv(plain, IN_SHAPE, (9,), **GEOMETRY) - cnn.features[0].kernel[...]
    assert float(jnp.linalg.norm(moved)) < 0.1 * float(jnp.linalg.norm(k - cnn.features[0].kernel[...]))


def test_two_dimensional_groups_geometry_against_the_definition():
    in_shape, ks, geo = (6, 5, 4), (3, 2), {"strides": (1, 2), "padding": "SAME", "groups": 2}
    rng = np.random.default_rng(0)
    k = jnp.asarray(rng.standard_normal((*ks, 2, 6)), jnp.float32)
    embed = lambda kk: conv_to_dense(kk, in_shape, **geo)  # noqa: E731
    g = jnp.asarray(rng.standard_normal(embed(k).shape), jnp.float32)
    tx = embedded_conv_step("w", in_shape, ks, **geo)
    new = tx.update({"w": {"kernel": g}}, tx.init(None))[0]["w"]["kernel"]
    at_g = jax.linear_transpose(embed, k)(g)[0]  # Aᵀ g, the CNN's gradient
    proj = lambda w: embed(dense_to_conv(w, in_shape, ks, **geo))  # noqa: E731
    np.testing.assert_allclose(proj(new), embed(at_g), atol=1e-4)
    np.testing.assert_allclose(new - proj(new), g - proj(g), atol=1e-5)


def test_missing_layer_is_refused_naming_it():
    tx = embedded_conv_step("features/1", IN_SHAPE, (9,), **GEOMETRY)
    with pytest.raises(ValueError, match=r"^layer: expected a path whose 'features/1/kernel' "
                                         r"leaf is in the updates, got 'features/1'$"):
        tx.update({"features": [{"kernel": jnp.zeros((40, 20))}]}, tx.init(None))


def test_kernel_of_the_wrong_shape_is_refused():
    tx = embedded_conv_step("w", IN_SHAPE, (9,), **GEOMETRY)
    with pytest.raises(ValueError, match=r"^W: expected"):
        tx.update({"w": {"kernel": jnp.zeros((39, 20))}}, tx.init(None))
