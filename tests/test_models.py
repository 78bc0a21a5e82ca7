"""Tests for jaxcnn.models: shapes, parameter counts, BN modes, exact embeddings."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxcnn import models as M
from jaxcnn.models import (DConv, DFC, DLocal, Logistic, MNIST1DCNN, MNIST1DMLP, SConv, SFC,
                           SLocal, ThreeFC, TwoLayerNet, count_params, embed, first_layer,
                           first_layer_dense, paper_param_count)
from tests.conftest import assert_close, rel_err


def _normal(seed, shape):
    return jax.random.normal(jax.random.key(seed), shape)


def _apply(model, x):
    return model(x)


# One jitted function for the whole file: nnx.jit caches on (graphdef, shapes), so models
# of the same class and configuration share one compilation across tests.
_forward = nnx.jit(_apply)


def _build(cls, *args, seed=0, **kw):
    """``cls(*args, **kw)`` built abstractly and filled with NumPy random values.

    Real initialisation compiles one XLA program per parameter shape (seconds each on
    a busy CPU); the initialisers are tested in test_nn.py, so most tests here use this.
    Weights ~ N(0, 1/prod(shape[:-1])), biases and BN shifts ~ 0.3 N(0, 1), BN scales ~ 1 + 0.3 N,
    running means ~ 0.3 N, running variances ~ U(0.5, 1.5).
    """
    model = nnx.eval_shape(lambda: cls(*args, rngs=nnx.Rngs(0), **kw))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)][-1]
        shape = leaf.shape
        if name in ("kernel", "W"):
            v = rng.standard_normal(shape) / math.sqrt(math.prod(shape[:-1]))
        elif name == "scale":
            v = 1.0 + 0.3 * rng.standard_normal(shape)
        elif name == "var":
            v = rng.uniform(0.5, 1.5, shape)
        else:  # bias, mean, v
            v = 0.3 * rng.standard_normal(shape)
        return jnp.asarray(v, leaf.dtype)

    state = nnx.state(model)
    nnx.update(model, jax.tree_util.tree_map_with_path(fill, state))
    return model


# ------------------------------------------------------------------ shapes


_WINDOWED = (SConv, SLocal, SFC, DConv, DLocal, DFC)


@pytest.mark.parametrize("in_shape", [(8, 8, 3), (16, 2), (4, 4, 4, 1)], ids=["2d", "1d", "3d"])
def test_output_shapes(in_shape):
    """Output shapes by abstract evaluation (construction and forward traced, not compiled)."""
    x = jax.ShapeDtypeStruct((3, *in_shape), jnp.float32)
    makers = [lambda cls=cls: cls(in_shape, 5, alpha=2, kernel_size=3, rngs=nnx.Rngs(0))
              for cls in _WINDOWED]
    makers += [lambda: ThreeFC(in_shape, 5, width=16, rngs=nnx.Rngs(0)),
               lambda: MNIST1DMLP(in_shape, 5, rngs=nnx.Rngs(0)),
               lambda: Logistic(in_shape, 5, rngs=nnx.Rngs(0)),
               lambda: TwoLayerNet(in_shape, 4, out_features=5, rngs=nnx.Rngs(0))]
    if len(in_shape) == 2:
        makers.append(lambda: MNIST1DCNN(in_shape, 5, rngs=nnx.Rngs(0)))
    built = [nnx.eval_shape(make) for make in makers]
    for model in built:
        y = nnx.eval_shape(_apply, model, x)
        assert y.shape == (3, 5), type(model).__name__
    n, s = len(in_shape) - 1, in_shape[0]
    sconv, sfc, dconv = built[0], built[2], built[3]
    assert sconv.layer_shapes[0][1] == (*(s // 2,) * n, 2)
    assert dconv.layer_shapes[-1][1] == (*(math.ceil(s / 16),) * n, 32)
    assert sfc.features[0].kernel.shape == (math.prod(in_shape), (s // 2) ** n * 2)
    # extra batch dims are fine (BN reduces over all of them)
    x2 = jax.ShapeDtypeStruct((1, 3, *in_shape), jnp.float32)
    assert nnx.eval_shape(_apply, sconv, x2).shape == (1, 3, 5)


def test_real_init_forward_finite():
    """A really initialised model runs and gives finite, non-constant logits."""
    model = SConv((8, 8, 3), 5, alpha=2, kernel_size=5, rngs=nnx.Rngs(0))
    y = _forward(model, _normal(0, (8, 8, 8, 3)))
    assert y.shape == (8, 5) and bool(jnp.all(jnp.isfinite(y))) and float(jnp.std(y)) > 0


def test_dconv_channel_plan():
    m = nnx.eval_shape(lambda: DConv((32, 32, 3), 10, alpha=1, rngs=nnx.Rngs(0)))
    assert [spec[1:] for spec in m.specs] == [(1, (1, 1)), (2, (2, 2)), (2, (1, 1)), (4, (2, 2)),
                                              (4, (1, 1)), (8, (2, 2)), (8, (1, 1)), (16, (2, 2))]
    assert m.layer_shapes[-1][1] == (2, 2, 16)
    assert m.hidden[0].kernel.shape == (64, 64)  # (s/16)^2 * 16a -> 64a


# --------------------------------------------------------------- param counts


def test_mnist1d_baseline_param_counts():
    assert count_params(_build(MNIST1DMLP)) == 15_210
    cnn = _build(MNIST1DCNN)
    assert cnn.flat_features == 125  # lengths 40 -> 19 -> 10 -> 5, 5 * 25
    assert [c.kernel.shape for c in cnn.convs] == [(5, 1, 25), (3, 25, 25), (3, 25, 25)]
    assert count_params(cnn) == 5_210
    assert count_params(_build(Logistic)) == 410


def _abstract(cls, **kw):
    return nnx.eval_shape(lambda: cls((32, 32, 3), 10, rngs=nnx.Rngs(0), **kw))


def test_paper_param_counts_table(capsys):
    """Our exact counts (abstract models, nothing allocated) vs the closed forms."""
    rows = []
    for alpha in (150, 15):
        for name, cls in (("s-conv", SConv), ("s-local", SLocal), ("s-fc", SFC),
                          ("d-conv", DConv), ("d-local", DLocal), ("d-fc", DFC)):
            ours = count_params(_abstract(cls, alpha=alpha))
            formula = paper_param_count(name, s=32, alpha=alpha, c=10)
            rows.append((name, alpha, ours, formula, ours / formula - 1))
    # the paper's own formulas, literally
    s, c = 32, 10
    for a in (150, 15):
        assert paper_param_count("s-conv", s=s, alpha=a, c=c) == 6 * s**2 * a**2 + (243 + 24 * c) * a
        assert paper_param_count("s-fc", s=s, alpha=a, c=c) == (
            6 * s**2 * a**2 + (3 * s**4 // 4 + 24 * c) * a)
    width = ThreeFC.width_for_params(paper_param_count("s-fc", s=32, alpha=150, c=10),
                                     (32, 32, 3), 10)
    three = count_params(_abstract(ThreeFC, width=width))
    three_formula = paper_param_count("3-fc", s=32, alpha=1, c=10, width=width)
    rows.append(("3-fc", f"w={width}", three, three_formula, three / three_formula - 1))
    with capsys.disabled():
        print("\nmodel    alpha       ours          formula       rel.diff")
        for name, a, ours, formula, diff in rows:
            print(f"{name:8s} {a!s:>6s} {ours:14,d} {formula:14,d}   {diff:+.2e}")
    for name, a, ours, formula, diff in rows:
        assert abs(diff) < 0.01, (name, a, ours, formula)
    assert abs(rows[2][2] / 256e6 - 1) < 0.01  # S-FC at alpha=150: ~256M
    assert abs(three / rows[2][2] - 1) < 0.01   # 3-FC sized to match it


# ---------------------------------------------------------------- BN modes


def test_train_eval_modes_differ():
    model = _build(SConv, (8, 8, 3), 5, alpha=2, kernel_size=5)
    x = 3.0 + 2.0 * _normal(1, (8, 8, 8, 3))
    bn = model.feature_norms[0]
    assert not bn.use_running_average  # starts in training mode
    mean0 = bn.mean[...]
    y_train = _forward(model, x)
    assert not np.allclose(bn.mean[...], mean0)  # running stats were updated
    model.eval()
    assert all(n.use_running_average for n in (*model.feature_norms, *model.hidden_norms))
    mean1 = bn.mean[...]
    y_eval = _forward(model, x)
    np.testing.assert_array_equal(bn.mean[...], mean1)  # not updated in eval mode
    assert rel_err(y_eval, y_train) > 1e-2
    # eval mode: an example's output does not depend on the rest of the batch
    x2 = x.at[1:].set(0.0)
    assert_close(_forward(model, x2)[:1], y_eval[:1], tol=1e-5)
    model.train()
    assert not bn.use_running_average


def test_train_step_under_nnx_jit_updates_batch_stats():
    model = _build(SConv, (8, 8, 3), 5, alpha=2, kernel_size=5)
    x, y = _normal(1, (8, 8, 8, 3)), jnp.arange(8) % 5

    @nnx.jit
    def grads(model, x, y):
        def loss(model):
            logits = model(x)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))
        return nnx.value_and_grad(loss)(model)

    var0 = model.feature_norms[0].var[...]
    loss, g = grads(model, x, y)
    assert np.isfinite(float(loss))
    assert not np.allclose(model.feature_norms[0].var[...], var0)
    assert jax.tree.structure(g) == jax.tree.structure(nnx.state(model, nnx.Param))


# ------------------------------------------------------------------- embed


@pytest.mark.parametrize("cls,to,in_shape", [
    (SConv, "fc", (8, 8, 3)),
    (SConv, "local", (8, 8, 3)),
    (SLocal, "fc", (8, 8, 3)),
    (DConv, "fc", (8, 8, 3)),
    (SConv, "fc", (12, 2)),
], ids=["sconv-fc", "sconv-local", "slocal-fc", "dconv-fc", "sconv-fc-1d"])
def test_embed_identical_outputs(cls, to, in_shape):
    """eCNN: identical logits in train and eval mode, identical running-stat updates.

    The source has random biases, BN affine parameters and running statistics
    (``_build``), so every part of the map matters."""
    kernel_size = 5 if cls in (SConv, SLocal) else 3
    src = _build(cls, in_shape, 5, alpha=2, kernel_size=kernel_size)
    dst = embed(src, to=to)
    assert type(dst) is {"fc": {SConv: SFC, SLocal: SFC, DConv: DFC},
                         "local": {SConv: SLocal, DConv: DLocal}}[to][cls]
    assert dst.norm == "channel"
    x = 1.0 + _normal(5, (8, *in_shape))
    # train mode: batch statistics, and the running averages move identically
    y_src, y_dst = _forward(src, x), _forward(dst, x)
    assert_close(y_dst, y_src, tol=1e-5, name="train")
    for a, b in zip(jax.tree.leaves(nnx.state(src, nnx.BatchStat)),
                    jax.tree.leaves(nnx.state(dst, nnx.BatchStat))):
        assert_close(b, a, tol=1e-5, name="batch stats")
    # eval mode: running averages; the mode is carried over by embed
    src.eval()
    dst2 = embed(src, to=to)
    assert all(n.use_running_average for n in (*dst2.feature_norms, *dst2.hidden_norms))
    assert_close(_forward(dst2, x), _forward(src, x), tol=1e-5, name="eval")


def test_embed_local_unit_norm_and_weights():
    src = _build(SLocal, (6, 6, 2), 3, alpha=2, kernel_size=3, norm="unit")
    dst = embed(src, to="fc")
    assert dst.norm == "unit" and dst.feature_norms[0].scale.shape == (3 * 3 * 2,)
    src.eval()
    dst.eval()
    x = _normal(2, (4, 6, 6, 2))
    assert_close(_forward(dst, x), _forward(src, x), tol=1e-5)
    assert_close(first_layer_dense(dst)[0], first_layer_dense(src)[0], tol=0)


def test_embed_errors():
    cnn = _build(SConv, (8, 8, 3), 3, alpha=1)
    with pytest.raises(ValueError, match="to"):
        embed(cnn, to="conv")
    with pytest.raises(ValueError, match="model"):
        embed(_build(SFC, (8, 8, 3), 3, alpha=1), to="fc")
    with pytest.raises(ValueError, match="model"):
        embed(_build(SLocal, (8, 8, 3), 3, alpha=1), to="local")
    with pytest.raises(ValueError, match="model"):
        embed(_build(MNIST1DMLP), to="fc")


# --------------------------------------------------------- first layer dense


@pytest.mark.parametrize("cls,args,kw", [
    (SConv, ((8, 8, 3), 4), dict(alpha=2, kernel_size=5)),
    (SLocal, ((8, 8, 3), 4), dict(alpha=2, kernel_size=5)),
    (SFC, ((8, 8, 3), 4), dict(alpha=2)),
    (DConv, ((12, 2), 4), dict(alpha=1)),
    (MNIST1DCNN, (), {}),
    (ThreeFC, ((6, 6, 1), 4), dict(width=8)),
    (TwoLayerNet, ((10, 10, 1), 6), {}),
], ids=["sconv", "slocal", "sfc", "dconv-1d", "mnist1dcnn", "3fc", "twolayer"])
def test_first_layer_dense_matches_first_layer(cls, args, kw):
    model = _build(cls, *args, **kw)
    W, in_shape = first_layer_dense(model)
    assert in_shape == model.in_shape
    x = _normal(3, (5, *in_shape))
    if isinstance(model, TwoLayerNet):
        h, h0 = model.preactivations(x), model.preactivations(jnp.zeros_like(x))
    else:
        layer = first_layer(model)
        if isinstance(layer, nnx.Linear):
            x_in, zero = x.reshape(5, -1), jnp.zeros((5, W.shape[0]))
        else:
            x_in, zero = x, jnp.zeros_like(x)
        h, h0 = layer(x_in).reshape(5, -1), layer(zero).reshape(5, -1)  # h0: the bias map
        assert bool(jnp.any(h0 != 0))
    assert W.shape == (math.prod(in_shape), h.shape[-1])
    assert_close(x.reshape(5, -1) @ W, h - h0, tol=1e-5)


# ------------------------------------------------------------- two-layer net


def test_two_layer_net():
    net = TwoLayerNet((20, 20, 1), 8, readout="fixed", rngs=nnx.Rngs(0))
    assert net.W.shape == (400, 8)
    ipr = jnp.sum(net.W[...] ** 4, 0) / jnp.sum(net.W[...] ** 2, 0) ** 2
    assert abs(float(ipr.mean()) * 400 / 3 - 1) < 0.2  # ~3/D at init
    x = _normal(1, (16, 20, 20, 1))
    y = net(x)
    assert y.shape == (16, 1)
    g = M.erf_activation(net.preactivations(x))
    assert_close(y, g.mean(-1, keepdims=True), tol=1e-6)  # fixed readout: mean of g
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(net)
    assert set(grads.keys()) == {"W"}  # the fixed readout is not a parameter
    learned = TwoLayerNet((400, 1), 8, out_features=2, readout="learned", use_bias=True,
                          rngs=nnx.Rngs(0))
    assert count_params(learned) == 400 * 8 + 8 + 8 * 2
    with pytest.raises(ValueError, match="readout"):
        TwoLayerNet((400, 1), 8, readout="frozen", rngs=nnx.Rngs(0))


# ------------------------------------------------------------------ errors


def test_model_errors():
    r = nnx.Rngs(0)
    with pytest.raises(ValueError, match="norm"):
        SFC((8, 8, 3), 3, alpha=1, norm="layer", rngs=r)
    with pytest.raises(ValueError, match="alpha"):
        SConv((8, 8, 3), 3, alpha=0, rngs=r)
    with pytest.raises(ValueError, match="in_shape"):
        SConv((3,), 3, alpha=1, rngs=r)
    with pytest.raises(ValueError, match="kernel_size"):
        SConv((8, 8, 3), 3, alpha=1, kernel_size=(3, 3, 3), rngs=r)
    with pytest.raises(ValueError, match="x"):
        SConv((8, 8, 3), 3, alpha=1, rngs=r)(jnp.ones((2, 8, 8, 1)))
    with pytest.raises(ValueError, match="s"):
        paper_param_count("s-conv", s=31, alpha=1, c=10)
    with pytest.raises(ValueError, match="name"):
        paper_param_count("vgg", s=32, alpha=1, c=10)
    with pytest.raises(ValueError, match="model"):
        first_layer_dense(nnx.Linear(3, 4, rngs=r))
