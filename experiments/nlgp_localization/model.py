"""The model and the online-SGD kernels of ``experiments.nlgp_localization``.

A module of the study (:mod:`experiments.nlgp_localization.run` documents the
protocol): the two-layer erf network and its per-parameter step sizes, the labelled
NLGP / Gaussian-clone samples, and the jitted programs that run one chunk of online SGD
(:func:`make_chunk_fn`) and measure the networks (:func:`make_measure_fn`) for every
seed at once (a leading seed axis, ``jax.vmap``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn import data as jdata
from jaxcnn import metrics, models

from experiments.nlgp_localization.config import NLGPConfig

__all__ = ["build_net", "build_replicas", "first_layer_lr", "input_dim", "learning_rates",
           "make_chunk_fn", "make_measure_fn", "sample_task", "sample_tasks"]

#: Network seeds are drawn from ``[0, MAX_NET_SEED)`` (the int32 range of ``nnx.Rngs``).
MAX_NET_SEED = 2**31 - 1
#: Compiled programs kept per graph (one per ``gaussian`` and number of seeds is used).
PROGRAM_CACHE_SIZE = 16
#: Each sample's class is a fair coin.
LABEL_PROBABILITY = 0.5


def build_net(cfg: NLGPConfig, key: jax.Array) -> models.TwoLayerNet:
    """The two-layer erf network for ``cfg.shape`` (input ``(*shape, 1)``).

    ``W ~ N(0, init_std^2)``; biases ``+bias_init`` for the first half of the units and
    ``-bias_init`` for the second (symmetry breaking, as in the reference code).
    """
    seed = int(jax.random.randint(key, (), 0, MAX_NET_SEED))
    net = models.TwoLayerNet((*cfg.shape, 1), cfg.hidden, readout=cfg.readout,
                             use_bias=cfg.use_bias, rngs=nnx.Rngs(seed))
    net.W.set_value(net.W[...] * cfg.init_std)
    if cfg.use_bias:
        k = cfg.hidden
        signs = jnp.where(jnp.arange(k) < k // 2, 1.0, -1.0) if k > 1 else jnp.ones(1)
        net.b.set_value((cfg.bias_init * signs).astype(net.b[...].dtype))
    return net


def input_dim(cfg: NLGPConfig) -> int:
    """``D = prod(shape)``."""
    return math.prod(cfg.shape)


def first_layer_lr(cfg: NLGPConfig) -> float:
    """``eta * K`` for a fixed ``1/K`` readout (mean-field scaling), else ``eta``."""
    return cfg.lr * cfg.hidden if cfg.readout == "fixed" else cfg.lr


def learning_rates(params: nnx.State, cfg: NLGPConfig) -> nnx.State:
    """Per-leaf step sizes for ``W``, ``b`` and ``v`` (see :class:`NLGPConfig`), times ``B``."""
    d, lr_w = input_dim(cfg), first_layer_lr(cfg)
    lrs = {"W": lr_w,
           "b": cfg.bias_lr if cfg.bias_lr is not None else lr_w / d,
           "v": cfg.readout_lr if cfg.readout_lr is not None else cfg.lr / d}

    def one(path, _):  # batch mean: scale by B to keep the drift per sample
        return lrs[metrics.keypath_str(path).split("/")[-1]] * cfg.batch_size

    return jax.tree_util.tree_map_with_path(one, params)


def sample_task(key: jax.Array, n: int, cfg: NLGPConfig, gain: float,
                gaussian: bool) -> tuple[jax.Array, jax.Array]:
    """``n`` fresh labelled samples: ``x (n, *shape, 1)``, targets ``y (n, 1)`` in {-1, +1}.

    Each sample's class is a fair coin (``cfg.balanced``: exactly ``n // 2`` samples of
    class 0 and ``n - n // 2`` of class 1, in random order); class ``k`` is drawn from the
    NLGP (or its Gaussian clone) with correlation length ``xi[k]``. Jittable (``n``,
    ``cfg`` static).
    """
    k0, k1, ky = jax.random.split(key, 3)
    kw = dict(shape=cfg.shape, gain=gain, gaussian=gaussian, p=cfg.p)
    if cfg.balanced:  # draw only the samples used: half the sampler's work
        half = n // 2
        x = jnp.concatenate([jdata.nlgp(k0, half, xi=cfg.xi[0], **kw),
                             jdata.nlgp(k1, n - half, xi=cfg.xi[1], **kw)])
        order = jax.random.permutation(ky, n)
        label = order >= half
        return x[order], jnp.where(label, 1.0, -1.0).astype(jnp.float32)[:, None]
    x0 = jdata.nlgp(k0, n, xi=cfg.xi[0], **kw)
    x1 = jdata.nlgp(k1, n, xi=cfg.xi[1], **kw)
    label = jax.random.bernoulli(ky, LABEL_PROBABILITY, (n,))
    x = jnp.where(label.reshape(n, *([1] * (x0.ndim - 1))), x1, x0)
    y = jnp.where(label, 1.0, -1.0).astype(jnp.float32)[:, None]
    return x, y


@functools.lru_cache(maxsize=PROGRAM_CACHE_SIZE)
def make_chunk_fn(graphdef, cfg: NLGPConfig, gaussian: bool):
    """A jitted ``(params, rest, lrs, keys, index, gain) -> params``: ``chunk_steps`` online
    SGD steps of every seed's network at once.

    ``params`` and ``rest`` carry a leading seed axis ``S`` (stacked states of one
    ``graphdef``), ``keys`` is ``(S,)`` (one training key per seed); ``lrs`` and ``gain``
    are shared. Seed ``s``'s chunk ``index`` draws its samples from
    ``fold_in(keys[s], index)``. Per seed, the samples of the whole chunk are generated in
    one call (FFT sampler), then a ``lax.scan`` runs one SGD step per ``batch_size`` samples
    on the loss ``mean_batch (yhat - y)^2`` (PyTorch's ``mse_loss``, as in the reference
    code); the per-seed program is ``jax.vmap``-ed over the seed axis. ``gain`` and
    ``index`` are traced, so one compilation serves the whole run and gain sweep (one per
    ``gaussian`` and number of seeds).
    """
    steps, bs = cfg.chunk_steps, cfg.batch_size

    def loss_fn(params, rest, xb, yb):
        net = nnx.merge(graphdef, params, rest)
        return jnp.mean(jnp.sum((net(xb) - yb) ** 2, axis=-1))

    grad_fn = jax.grad(loss_fn)

    def one_seed(params, rest, lrs, key, index, gain):
        x, y = sample_task(jax.random.fold_in(key, index), steps * bs, cfg, gain, gaussian)
        xs = x.reshape(steps, bs, *x.shape[1:])
        ys = y.reshape(steps, bs, 1)

        def step(p, batch):
            grads = grad_fn(p, rest, *batch)
            return jax.tree.map(lambda a, g, lr: a - lr * g, p, grads, lrs), None

        params, _ = jax.lax.scan(step, params, (xs, ys))
        return params

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None, 0, None, None)))


@functools.lru_cache(maxsize=PROGRAM_CACHE_SIZE)
def make_measure_fn(graphdef):
    """A jitted ``(params, rest, x, y) -> (mse (S,), error (S,), iprs (S, K), W (S, D, K))``
    on stacked states and per-seed test sets ``x (S, n, *shape, 1)``, ``y (S, n, 1)``."""

    def one_seed(params, rest, x, y):
        net = nnx.merge(graphdef, params, rest)
        out = net(x)
        mse = jnp.mean(jnp.sum((out - y) ** 2, axis=-1))
        err = jnp.mean((jnp.sign(out[:, 0]) != y[:, 0]).astype(jnp.float32))
        w, _ = models.first_layer_dense(net)
        return mse, err, metrics.ipr(w, axis=0), w

    return jax.jit(jax.vmap(one_seed))


@functools.partial(jax.jit, static_argnames=("n", "cfg", "gaussian"))
def sample_tasks(keys: jax.Array, gain, *, n: int, cfg: NLGPConfig,
                 gaussian: bool) -> tuple[jax.Array, jax.Array]:
    """:func:`sample_task` for each key of ``keys (S,)``: ``x (S, n, *shape, 1)`` and
    ``y (S, n, 1)``."""
    return jax.vmap(lambda k: sample_task(k, n, cfg, gain, gaussian))(keys)


def build_replicas(cfg: NLGPConfig, keys: jax.Array):
    """``(graphdef, params, rest)``: one :func:`build_net` per key, states stacked on a
    leading seed axis."""
    splits = [nnx.split(build_net(cfg, k), nnx.Param, ...) for k in keys]
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)
    return splits[0][0], stack([p for _, p, _ in splits]), stack([r for _, _, r in splits])
