"""Tests for jaxcnn.optim (β-LASSO, Neyshabur 2020 Algorithm 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxcnn.optim import (
    beta_lasso,
    beta_lasso_partitioned,
    first_layer_label_fn,
    keypath_str,
    path_label_fn,
)


def algorithm1(theta, grad, *, lr, l1, beta):
    """Algorithm 1 written out in NumPy (float32 throughout)."""
    theta = np.asarray(theta, np.float32)
    grad = np.asarray(grad, np.float32)
    lr, l1 = np.float32(lr), np.float32(l1)
    new = theta - lr * (grad + l1 * np.sign(theta))
    return new * (np.abs(new) >= np.float32(beta) * l1)


def _random_tree(seed, scale=1.0):
    # NumPy's seeded generator (explicit, reproducible, no per-shape PRNG compiles)
    rng = np.random.default_rng(seed)
    f = lambda *shape: jnp.asarray(scale * rng.standard_normal(shape), jnp.float32)  # noqa: E731
    return {"a": f(7, 5), "b": {"c": f(11), "d": f(2, 3, 4)}}


def _step(tx, params, grads, state):
    """One jitted update + apply (jit keeps the many small ops cheap on CPU)."""

    @jax.jit
    def f(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return f(params, grads, state)


@pytest.mark.parametrize("beta", [0.0, 5.0, 50.0])
def test_one_step_matches_algorithm1(beta):
    params = _random_tree(0, scale=0.05)
    grads = _random_tree(1)
    lr, l1 = 0.01, 1e-3
    tx = beta_lasso(lr, l1=l1, beta=beta)
    new, _ = _step(tx, params, grads, tx.init(params))
    ref = jax.tree_util.tree_map(lambda p, g: algorithm1(p, g, lr=lr, l1=l1, beta=beta), params, grads)
    for got, want in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-8)
        # the same entries are exactly zero
        np.testing.assert_array_equal(np.asarray(got) == 0, want == 0)
    if beta == 50.0:  # threshold 0.05 ~ |θ| scale: a real fraction is zeroed
        frac = np.mean(np.concatenate([np.ravel(x) == 0 for x in jax.tree_util.tree_leaves(new)]))
        assert 0.2 < frac < 0.9


def test_schedule_over_several_steps_matches_algorithm1():
    schedule = optax.cosine_decay_schedule(0.05, decay_steps=4)
    l1, beta = 2e-3, 10.0
    tx = beta_lasso(schedule, l1=l1, beta=beta)
    params = _random_tree(2, scale=0.1)
    ref = jax.tree_util.tree_map(np.asarray, params)
    state = tx.init(params)
    step = jax.jit(lambda p, g, s: _step(tx, p, g, s))  # one compile for all steps
    for i in range(4):
        grads = _random_tree(10 + i)
        params, state = step(params, grads, state)
        lr = float(schedule(i))  # evaluated at the count *before* the update
        ref = jax.tree_util.tree_map(lambda p, g: algorithm1(p, g, lr=lr, l1=l1, beta=beta), ref, grads)
        assert int(state.count) == i + 1
    for got, want in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(got) == 0, want == 0)


def test_beta_zero_is_subgradient_l1_sgd():
    params = _random_tree(3, scale=1e-3)  # tiny: would be cut by any β>0
    grads = _random_tree(4)
    lr, l1 = 0.1, 0.5
    tx = beta_lasso(lr, l1=l1, beta=0.0)
    new, _ = _step(tx, params, grads, tx.init(params))
    ref = jax.tree_util.tree_map(lambda p, g: p - lr * (g + l1 * jnp.sign(p)), params, grads)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), new, ref)
    assert all(np.all(np.asarray(x) != 0) for x in jax.tree_util.tree_leaves(new))


def test_l1_zero_is_plain_sgd_whatever_beta():
    params = _random_tree(5)
    grads = _random_tree(6)
    tx = beta_lasso(0.1, l1=0.0, beta=1000.0)
    new, _ = _step(tx, params, grads, tx.init(params))
    sgd = optax.sgd(0.1)
    upd, _ = sgd.update(grads, sgd.init(params), params)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), new, optax.apply_updates(params, upd)
    )


def test_entries_below_threshold_become_exactly_zero():
    l1, beta, lr = 0.01, 10.0, 0.1  # threshold 0.1
    params = {"w": jnp.array([0.5, 0.09, -0.05, 0.1005, -0.3, 0.0], jnp.float32)}
    grads = {"w": jnp.zeros(6, jnp.float32)}
    tx = beta_lasso(lr, l1=l1, beta=beta)
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)["w"]
    # θ' = θ - 1e-3 sign θ: 0.499, 0.089, -0.049, 0.0995, -0.299, 0
    np.testing.assert_array_equal(np.asarray(new)[[1, 2, 3, 5]], 0.0)
    np.testing.assert_allclose(np.asarray(new)[[0, 4]], [0.499, -0.299], rtol=1e-6)
    # zeroed entries get update exactly -θ
    np.testing.assert_array_equal(np.asarray(updates["w"])[[1, 2, 3]], -np.asarray(params["w"])[[1, 2, 3]])


def _sparse_regression(seed, n=200, d=50, k=5, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    support = np.sort(rng.choice(d, k, replace=False))
    w_true = np.zeros(d, np.float32)
    w_true[support] = rng.uniform(1.0, 2.0, k) * np.array([1, -1, 1, -1, 1][:k])
    y = (x @ w_true + noise * rng.standard_normal(n)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y), w_true, support


def _fit(tx, x, y, steps):
    def loss(w):
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    @jax.jit
    def run(w0):
        def body(carry, _):
            w, s = carry
            g = jax.grad(loss)(w)
            u, s = tx.update(g, s, w)
            return (optax.apply_updates(w, u), s), None

        (w, _), _ = jax.lax.scan(body, (w0, tx.init(w0)), None, length=steps)
        return w

    return np.asarray(run(jnp.zeros(x.shape[1], jnp.float32)))


def test_sparse_regression_recovers_support():
    x, y, w_true, support = _sparse_regression(7)
    w_bl = _fit(beta_lasso(0.3, l1=0.05, beta=5.0), x, y, steps=300)
    w_sgd = _fit(optax.sgd(0.3), x, y, steps=300)
    np.testing.assert_array_equal(np.flatnonzero(w_bl), support)
    np.testing.assert_allclose(w_bl[support], w_true[support], atol=0.15)
    assert np.count_nonzero(w_sgd) == x.shape[1]  # plain SGD: dense
    assert np.count_nonzero(np.abs(w_sgd) > 1e-3) > 25
    # the subgradient-only variant (β = 0) is not exactly sparse either
    w_sub = _fit(beta_lasso(0.3, l1=0.05, beta=0.0), x, y, steps=300)
    assert np.count_nonzero(w_sub) > 25


def test_last_in_chain_and_jit():
    params = _random_tree(8, scale=0.05)
    grads = _random_tree(9)
    tx = optax.chain(optax.clip_by_global_norm(1.0), beta_lasso(0.1, l1=1e-3, beta=20.0))
    state = tx.init(params)
    new, _ = jax.jit(lambda p, g, s: _step(tx, p, g, s))(params, grads, state)
    clipped, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())
    ref = jax.tree_util.tree_map(lambda p, g: algorithm1(p, g, lr=0.1, l1=1e-3, beta=20.0), params, clipped)
    for got, want in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-8)


class _MLP(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(6, 8, rngs=rngs), nnx.Linear(8, 3, rngs=rngs)])
        self.bn = nnx.BatchNorm(8, rngs=rngs)

    def __call__(self, x):
        return self.layers[1](nnx.relu(self.bn(self.layers[0](x))))


def _loss(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def test_nnx_optimizer():
    model = _MLP(nnx.Rngs(0))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((16, 6)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((16, 3)), jnp.float32)
    lr, l1, beta = 0.05, 1e-2, 5.0  # threshold 0.05: cuts small kernel entries
    opt = nnx.Optimizer(model, beta_lasso(lr, l1=l1, beta=beta), wrt=nnx.Param)
    before = jax.tree_util.tree_map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))

    @nnx.jit
    def train_step(model, opt, x, y):
        grads = nnx.grad(_loss)(model, x, y)
        opt.update(model, grads)
        return grads

    grads = train_step(model, opt, x, y)
    grads = jax.tree_util.tree_map(np.asarray, nnx.to_pure_dict(grads))
    after = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    ref = jax.tree_util.tree_map(lambda p, g: algorithm1(p, g, lr=lr, l1=l1, beta=beta), before, grads)
    n_zero = 0
    for got, want in zip(jax.tree_util.tree_leaves(after), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-7)
        n_zero += int(np.sum(np.asarray(got) == 0))
    assert n_zero > 0
    train_step(model, opt, x, y)  # a second jitted step runs
    assert int(opt.step[...]) == 2


def test_keypath_and_label_fns_on_nnx_state():
    model = _MLP(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    labels = first_layer_label_fn("layers/0")(state)
    flat = {keypath_str(p): lab for p, lab in jax.tree_util.tree_flatten_with_path(labels)[0]}
    assert flat == {
        "bn/bias": "no_l1",
        "bn/scale": "no_l1",
        "layers/0/bias": "no_l1",
        "layers/0/kernel": "first",
        "layers/1/bias": "no_l1",
        "layers/1/kernel": "rest",
    }
    # prefix matches whole components only
    assert first_layer_label_fn("fc1")({"fc1": {"kernel": 0}, "fc10": {"kernel": 0}}) == {
        "fc1": {"kernel": "first"},
        "fc10": {"kernel": "rest"},
    }
    fn = path_label_fn([(r"kernel$", "w")], default="other")
    assert fn({"a": [1, 2], "kernel": 3}) == {"a": ["other", "other"], "kernel": "w"}


def test_partitioned_applies_right_lambda_per_group():
    rng = np.random.default_rng(11)
    f = lambda scale, *shape: jnp.asarray(scale * rng.standard_normal(shape), jnp.float32)  # noqa: E731
    params = {
        "fc1": {"kernel": f(0.05, 5, 4), "bias": f(0.01, 4)},
        "fc2": {"kernel": f(0.05, 4, 3), "bias": f(0.01, 3)},
    }
    grads = jax.tree_util.tree_map(lambda p: f(1.0, *p.shape), params)
    lams = {"first": 1e-3, "rest": 4e-3, "no_l1": 0.0}
    lr, beta = 0.01, 10.0
    tx = beta_lasso_partitioned(lr, l1_by_label=lams, beta=beta, label_fn=first_layer_label_fn("fc1"))
    new, _ = jax.jit(lambda p, g, s: _step(tx, p, g, s))(params, grads, tx.init(params))
    group = {("fc1", "kernel"): "first", ("fc2", "kernel"): "rest", ("fc1", "bias"): "no_l1", ("fc2", "bias"): "no_l1"}
    for (layer, name), lab in group.items():
        want = algorithm1(params[layer][name], grads[layer][name], lr=lr, l1=lams[lab], beta=beta)
        got = np.asarray(new[layer][name])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(got == 0, want == 0)
    # biases are not regularized: plain SGD, no zeros
    assert np.all(np.asarray(new["fc1"]["bias"]) != 0)
    # the two kernel groups really differ: fc2 (λ=4e-3, threshold 0.04) loses more
    z1 = np.mean(np.asarray(new["fc1"]["kernel"]) == 0)
    z2 = np.mean(np.asarray(new["fc2"]["kernel"]) == 0)
    assert z2 > z1
    # per-label β
    tx2 = beta_lasso_partitioned(lr, l1_by_label=lams, beta={"first": 0.0, "rest": 10.0, "no_l1": 0.0},
                                 label_fn=first_layer_label_fn("fc1"))
    new2, _ = _step(tx2, params, grads, tx2.init(params))
    assert np.all(np.asarray(new2["fc1"]["kernel"]) != 0)


def test_partitioned_through_nnx_optimizer():
    model = _MLP(nnx.Rngs(3))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((16, 6)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((16, 3)), jnp.float32)
    tx = beta_lasso_partitioned(
        0.05, l1_by_label={"first": 1e-2, "rest": 0.0, "no_l1": 0.0}, beta=5.0,
        label_fn=first_layer_label_fn("layers/0"))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, opt, x, y):
        opt.update(model, nnx.grad(_loss)(model, x, y))

    train_step(model, opt, x, y)
    assert np.any(np.asarray(model.layers[0].kernel[...]) == 0)
    assert np.all(np.asarray(model.layers[1].kernel[...]) != 0)  # λ = 0: plain SGD


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(l1=-1.0, beta=1.0), r"^l1: expected a number >= 0, got -1.0$"),
        (dict(l1=1.0, beta=-2.0), r"^beta: expected a number >= 0, got -2.0$"),
        (dict(l1=float("nan"), beta=1.0), r"^l1: expected a number >= 0, got nan$"),
        (dict(l1="x", beta=1.0), r"^l1: expected a number >= 0, got 'x'$"),
        (dict(l1="0.1", beta=1.0), r"^l1: expected a number >= 0, got '0.1'$"),
        (dict(l1=0.1, beta=True), r"^beta: expected a number >= 0, got True$"),
        (dict(l1=0.1, beta=None), r"^beta: expected a number >= 0, got None$"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        beta_lasso(0.1, **kwargs)


@pytest.mark.parametrize("lr", ["0.1", -0.1, None, [0.1]])
def test_learning_rate_validated_when_built(lr):
    # Rejected when the transform is built, not as a TypeError at the first update.
    with pytest.raises(ValueError, match=r"^learning_rate: expected a number >= 0, got "):
        beta_lasso(lr, l1=1e-3, beta=1.0)


def test_numpy_and_jax_scalars_accepted():
    tx = beta_lasso(np.float32(0.1), l1=jnp.asarray(1e-3), beta=np.int64(2))
    p = {"w": jnp.ones(3)}
    updates, _ = tx.update(p, tx.init(p), p)
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.1 * (1 + 1e-3), rtol=1e-6)


def test_params_required():
    tx = beta_lasso(0.1, l1=1e-3, beta=1.0)
    p = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match=r"^params: expected the current parameters.*needs `params`.*got None$"):
        tx.update(p, tx.init(p))


def test_partitioned_validation():
    with pytest.raises(ValueError, match=r"^beta: expected a β for every label.*missing \['rest'\]"):
        beta_lasso_partitioned(0.1, l1_by_label={"first": 1.0, "rest": 1.0}, beta={"first": 1.0},
                               label_fn=lambda p: p)
    with pytest.raises(ValueError, match=r"^l1_by_label: expected a non-empty mapping.*got \{\}"):
        beta_lasso_partitioned(0.1, l1_by_label={}, beta=1.0, label_fn=lambda p: p)
    with pytest.raises(ValueError, match=r"^l1: expected a number >= 0, got -1.0$"):
        beta_lasso_partitioned(0.1, l1_by_label={"a": -1.0}, beta=1.0, label_fn=lambda p: p)
