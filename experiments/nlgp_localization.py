"""Ingrosso & Goldt 2022: non-Gaussian inputs make a two-layer net's weights localise.

    python -m experiments.nlgp_localization --preset smoke|default|paper [--out DIR]
        [--seeds N] [--seed S]

A two-layer network ``yhat = (1/K) sum_k erf((w_k . x / sqrt(D) + b_k) / sqrt(2))``
(:class:`jaxcnn.models.TwoLayerNet`, K hidden units, fixed committee readout by default)
is trained by **online SGD** (a fresh sample every step, MSE ``(y - yhat)^2``) to tell
apart two non-linear Gaussian processes (NLGP) with correlation lengths ``xi_0`` (label
-1) and ``xi_1`` (label +1), and, as the control, their Gaussian clones (GP: same
covariance, no higher-order structure). Localisation is measured by the mean inverse
participation ratio ``IPR(w) = sum w^4 / (sum w^2)^2`` of the hidden units' first-layer
weights (``~ 3/D`` for a random vector), logged at log-spaced times ``t = samples / D``.

Online SGD is a jitted ``lax.scan`` over chunks: one call generates ``chunk_steps x
batch_size`` fresh samples of each class with the FFT sampler (:func:`jaxcnn.data.nlgp`)
and scans the SGD steps over them; checkpoints fall on chunk boundaries.

Seeds. Every run is repeated for seeds ``SEED .. SEED + N - 1`` (``--seed``, ``--seeds``;
default: the preset's ``seeds``), all seeds in one program: the jitted chunk is
``jax.vmap``-ed over a leading seed axis of the parameters and PRNG keys. Seed ``s``
derives everything from ``jax.random.key(s)`` (split into a main and a sweep key). What
is paired: for one seed the NLGP run and its Gaussian-clone (GP) run use the same key,
hence the same initial weights, the same labels and the same white noise behind every
training and test sample (both samplers recolour the same FFT noise; only the link
``erf`` vs none and the spectrum differ), so ``NLGP - GP`` is a paired difference over
seeds (95% Student-t interval). The gain sweep pairs them the same way with key
``fold_in(sweep key, gain index)``. Reported: final IPR mean ± std for NLGP and GP, their
paired difference with its CI, the ratio of the means, the gain sweep (mean ± std per
gain) and the IPR-vs-time curves (mean with a ± std band).

``report_tables(results)`` gives the Markdown tables ``nlgp_localization.main`` (IPR and
test error vs ``t``), ``nlgp_localization.gain`` and ``nlgp_localization.comparisons``;
``main()`` prints them.

Resume. With ``--resume`` every online-SGD run (the NLGP and GP main runs, each run of the
gain sweep) saves its state -- parameters, chunk index, logged curves and the last logged
weights, plus the run's description (seeds, keys, gain, preset) -- every
:data:`CHECKPOINT_EVERY` chunks and at every logged time, atomically, to
``DIR/checkpoints/nlgp_localization/PRESET-RUN/state.npz`` (``RUN``: ``nlgp``, ``gp``,
``sweep<i>-nlgp``, ``sweep<i>-gp``); rerunning the same command with ``--resume`` after a
crash continues each run from its file (finished runs are restored, not retrained) and
gives the results of an uninterrupted run (the PRNG keys, the test sets and the rest of
the network state are recomputed from the seeds). The top-level ``resumed_from`` maps the
resumed runs to the chunk they continued from (``None``: nothing resumed). Without
``--resume`` nothing is saved.

Writes ``DIR/nlgp_localization.json`` and the figures ``nlgp_ipr_vs_time.png`` (the
paper's headline figure), ``nlgp_receptive_fields.png`` and ``nlgp_ipr_vs_gain.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn import data as jdata
from jaxcnn import metrics, models, stats
from jaxcnn.io import read_tree_npz, write_tree_npz_atomic

from experiments.common import (CLIError, build_parser, checkpoint_dir, format_table, run_cli,
                                save_figure, resolve_preset, save_json, seed_list)
from experiments.configs.nlgp_localization import PRESETS, NLGPConfig
from experiments.provenance import provenance

NAME = "nlgp_localization"

#: With ``--resume``, a run's state is saved every this many chunks (and at every log).
CHECKPOINT_EVERY = 20

#: Published reference (Ingrosso & Goldt 2022, D = 400): mean IPR at t = 1e2 and 1e4.
PUBLISHED_IPR = {"D": 400, "t": (1e2, 1e4), "nlgp": (0.008, 0.055), "gp": (0.008, 0.008)}


# ----------------------------------------------------------------------------- model / SGD


def build_net(cfg: NLGPConfig, key: jax.Array) -> models.TwoLayerNet:
    """The two-layer erf network for ``cfg.shape`` (input ``(*shape, 1)``).

    ``W ~ N(0, init_std^2)``; biases ``+bias_init`` for the first half of the units and
    ``-bias_init`` for the second (symmetry breaking, as in the reference code).
    """
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
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

    Each sample's class is a fair coin; class ``k`` is drawn from the NLGP (or its
    Gaussian clone) with correlation length ``xi[k]``. Jittable (``n``, ``cfg`` static).
    """
    k0, k1, ky = jax.random.split(key, 3)
    kw = dict(shape=cfg.shape, gain=gain, gaussian=gaussian, p=cfg.p)
    x0 = jdata.nlgp(k0, n, xi=cfg.xi[0], **kw)
    x1 = jdata.nlgp(k1, n, xi=cfg.xi[1], **kw)
    label = jax.random.bernoulli(ky, 0.5, (n,))
    x = jnp.where(label.reshape(n, *([1] * (x0.ndim - 1))), x1, x0)
    y = jnp.where(label, 1.0, -1.0).astype(jnp.float32)[:, None]
    return x, y


@functools.lru_cache(maxsize=16)
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


@functools.lru_cache(maxsize=16)
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


def checkpoint_chunks(cfg: NLGPConfig, time_max: float) -> list[int]:
    """Chunk counts (>= 1, increasing, unique) at which to log: log-spaced in ``t``."""
    samples_per_chunk = cfg.chunk_steps * cfg.batch_size
    total = max(1, int(round(time_max * input_dim(cfg) / samples_per_chunk)))
    grid = np.geomspace(1, total, max(cfg.num_checkpoints, 2))
    return sorted({int(round(c)) for c in grid} | {total})


def build_replicas(cfg: NLGPConfig, keys: jax.Array):
    """``(graphdef, params, rest)``: one :func:`build_net` per key, states stacked on a
    leading seed axis."""
    splits = [nnx.split(build_net(cfg, k), nnx.Param, ...) for k in keys]
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)
    return splits[0][0], stack([p for _, p, _ in splits]), stack([r for _, _, r in splits])


def _mean_std(rows: list[list[float]]) -> dict:
    """``{"mean": [...], "std": [...]}`` over the first axis (std ``ddof=1``; 0 for one row)."""
    a = np.asarray(rows, np.float64)
    std = a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1:])
    return {"mean": a.mean(0).tolist(), "std": std.tolist()}


def save_online_state(path: str, params: nnx.State, state: dict) -> None:
    """Writes ``params`` and the JSON-able ``state`` atomically as one ``.npz``."""
    write_tree_npz_atomic(path, params, meta=state)


def load_online_state(path: str, params: nnx.State) -> tuple[nnx.State, dict]:
    """``(params, state)`` from :func:`save_online_state`'s file; ``params`` is the
    template (structure and dtypes)."""
    tree, state = read_tree_npz(path, params)
    return jax.tree.map(jnp.asarray, tree), state


def train_online(cfg: NLGPConfig, keys: jax.Array, *, gain: float, gaussian: bool,
                 time_max: float, seeds: list[int] | None = None,
                 progress: bool = False, checkpoint: str | None = None) -> dict:
    """Trains one two-layer net per key by online SGD (all at once) and logs IPR / test error.

    Replica ``s`` is exactly the single-network run of ``keys[s]``: ``k_init, k_test,
    k_train = split(keys[s], 3)`` give its initial weights, its test set and its training
    samples (chunk ``c`` from ``fold_in(k_train, c)``). The replicas run in one program
    (:func:`make_chunk_fn`, vmapped over the seed axis).

    Args:
      cfg: the preset.
      keys: PRNG keys, one per seed (a key array of shape ``(S,)``).
      gain: NLGP gain ``g``.
      gaussian: train on the Gaussian clones instead of the NLGP.
      time_max: training length in ``t = samples / D``.
      seeds: labels of the replicas (default ``0 .. S-1``), stored per seed.
      progress: print one line per checkpoint (means over seeds).
      checkpoint: a state file (:func:`save_online_state`), written every
        :data:`CHECKPOINT_EVERY` chunks and at every log; if it exists, the run continues
        from it. ``None``: no checkpoints.

    Returns:
      ``{"t": [...], "per_seed": [{"seed", "ipr_mean": [...], "ipr_units": [[...]],
      "test_mse": [...], "test_error": [...], "final_ipr", "final_test_error"}],
      "ipr_mean": {"mean": [...], "std": [...]}, "test_error": {"mean", "std"} (over seeds,
      per time), "final_ipr": [per seed], "final_test_error": [per seed],
      "weights": [per seed (D, K) list], "wall_time": s, "resumed_from": the chunk index
      a resumed run continued from, else None}``.

    Raises:
      FloatingPointError: the test MSE of some seed became non-finite (names the seed).
      CLIError: ``checkpoint`` holds the state of a different run (names ``--resume``).
    """
    num = int(keys.shape[0])
    seeds = list(range(num)) if seeds is None else list(seeds)
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    k_init, k_test, k_train = split[:, 0], split[:, 1], split[:, 2]
    graphdef, params, rest = build_replicas(cfg, k_init)
    lrs = learning_rates(jax.tree.map(lambda a: a[0], params), cfg)
    chunk = make_chunk_fn(graphdef, cfg, bool(gaussian))
    measure = make_measure_fn(graphdef)
    x_test, y_test = sample_tasks(k_test, jnp.float32(gain), n=cfg.num_test, cfg=cfg,
                                  gaussian=bool(gaussian))
    d, per_chunk = input_dim(cfg), cfg.chunk_steps * cfg.batch_size
    t_axis = []
    curves = [{"seed": s, "ipr_mean": [], "ipr_units": [], "test_mse": [], "test_error": []}
              for s in seeds]
    weights = None

    def log(n_chunks):
        nonlocal weights
        mse, err, iprs, w = jax.device_get(measure(params, rest, x_test, y_test))
        t_axis.append(n_chunks * per_chunk / d)
        for i, c in enumerate(curves):
            c["ipr_mean"].append(float(iprs[i].mean()))
            c["ipr_units"].append(iprs[i].tolist())
            c["test_mse"].append(float(mse[i]))
            c["test_error"].append(float(err[i]))
        weights = w
        if progress:
            print(f"  [{'GP' if gaussian else 'NLGP'} g={gain:g}, {num} seeds] "
                  f"t={t_axis[-1]:9.1f}  IPR={float(iprs.mean()):.4f}  "
                  f"test err={float(err.mean()):.3f}", flush=True)

    meta = {"seeds": seeds, "gain": float(gain), "gaussian": bool(gaussian),
            "time_max": float(time_max), "config": repr(cfg),
            "key_data": np.asarray(jax.random.key_data(keys)).tolist()}

    def save(done):
        if checkpoint is not None:
            save_online_state(checkpoint, params, {
                "meta": meta, "done": done, "t": t_axis, "curves": curves,
                "weights": None if weights is None else np.asarray(weights).tolist()})

    t0 = time.perf_counter()
    done, resumed_from, targets = 0, None, checkpoint_chunks(cfg, time_max)
    if checkpoint is not None and os.path.isfile(checkpoint):
        params, saved = load_online_state(checkpoint, params)
        if saved["meta"] != meta:
            raise CLIError(f"--resume: {checkpoint} holds the state of a different run "
                           "(seeds, gain or preset); rerun without --resume (with "
                           "--overwrite) or use another --out")
        done = resumed_from = int(saved["done"])
        t_axis, curves = saved["t"], saved["curves"]
        weights = np.asarray(saved["weights"], np.float32)
        targets = targets[len(t_axis) - 1:]  # the first log (t = 0) has no target
    else:
        log(0)
        save(0)
    for target in targets:
        while done < target:
            params = chunk(params, rest, lrs, k_train, jnp.int32(done), jnp.float32(gain))
            done += 1
            if done % CHECKPOINT_EVERY == 0 and done < target:
                save(done)
        log(done)
        save(done)
    for c in curves:
        if not all(math.isfinite(v) for v in c["test_mse"]):
            raise FloatingPointError(f"online SGD diverged (seed {c['seed']}, gain={gain}, "
                                     f"gaussian={gaussian}); lower lr={cfg.lr}")
        c["final_ipr"] = c["ipr_mean"][-1]
        c["final_test_error"] = c["test_error"][-1]
    return {"t": t_axis, "per_seed": curves,
            "ipr_mean": _mean_std([c["ipr_mean"] for c in curves]),
            "test_error": _mean_std([c["test_error"] for c in curves]),
            "final_ipr": [c["final_ipr"] for c in curves],
            "final_test_error": [c["final_test_error"] for c in curves],
            "weights": [np.asarray(wi).tolist() for wi in weights],
            "wall_time": time.perf_counter() - t0, "resumed_from": resumed_from}


# ----------------------------------------------------------------------------- figures


def plot_ipr_vs_time(results: dict, path) -> None:
    """The headline figure: mean IPR vs ``t`` for NLGP and GP inputs (log-log), the mean
    over seeds with a ± std band."""
    import matplotlib.pyplot as plt

    cfg, s = results["config"], results["summary"]
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for label, name, color in (("NLGP", "nlgp", "C3"), ("GP (Gaussian clone)", "gp", "C0")):
        cur = results["curves"][name]
        t = np.asarray(cur["t"][1:])
        mean = np.asarray(cur["ipr_mean"]["mean"][1:])
        std = np.asarray(cur["ipr_mean"]["std"][1:])
        ax.plot(t, mean, "o-", color=color, label=label, ms=3)
        ax.fill_between(t, np.maximum(mean - std, 0.5 * mean), mean + std, color=color,
                        alpha=0.2, lw=0)
    ax.axhline(s["random_ipr_3_over_D"], color="gray", ls="--", lw=1, label="3/D (random)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t = samples / D")
    ax.set_ylabel("IPR of first-layer weights")
    ax.set_title(f"D={s['D']}, K={cfg['hidden']}, g={cfg['gain']:g}, xi={tuple(cfg['xi'])}; "
                 f"mean ± std over {s['n']} seeds", fontsize=8)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_receptive_fields(results: dict, path) -> None:
    """Final first-layer weights of every hidden unit of the first seed (1-D: lines;
    2-D: images)."""
    import matplotlib.pyplot as plt

    cfg = results["config"]
    shape, k, seed = tuple(cfg["shape"]), cfg["hidden"], results["seeds"][0]
    fields = {name: np.asarray(results["receptive_fields"][name][0]) for name in ("nlgp", "gp")}
    if len(shape) == 1:
        fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        for ax, (name, w) in zip(axes, fields.items()):
            for j in range(k):
                col = w[:, j] / (np.abs(w[:, j]).max() + 1e-12)
                ax.plot(col + 2.2 * j, lw=1)
            ax.set_yticks([])
            ax.set_title(f"{name.upper()}: final weights of the {k} hidden units "
                         f"(normalised, offset; seed {seed})", fontsize=9)
        axes[-1].set_xlabel("input position")
    else:
        fig, axes = plt.subplots(2, k, figsize=(1.3 * k, 3.0), squeeze=False)
        for row, (name, w) in enumerate(fields.items()):
            for j in range(k):
                img = w[:, j].reshape(shape)
                lim = np.abs(img).max() + 1e-12
                axes[row, j].imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
                axes[row, j].set_xticks([])
                axes[row, j].set_yticks([])
            axes[row, 0].set_ylabel(f"{name.upper()} (seed {seed})")
    save_figure(fig, path)


def plot_ipr_vs_gain(results: dict, path) -> None:
    """Final mean IPR vs gain ``g`` for NLGP and GP inputs (mean ± std over seeds)."""
    import matplotlib.pyplot as plt

    sweep, cfg = results["gain_sweep"], results["config"]
    g = [r["gain"] for r in sweep]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for name, fmt, color, label in (("nlgp", "o-", "C3", "NLGP"), ("gp", "s-", "C0", "GP")):
        ax.errorbar(g, [r[f"ipr_{name}"]["mean"] for r in sweep],
                    yerr=[r[f"ipr_{name}"]["std"] for r in sweep], fmt=fmt, color=color,
                    capsize=3, label=label)
    ax.axhline(results["summary"]["random_ipr_3_over_D"], color="gray", ls="--", lw=1,
               label="3/D")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gain g")
    ax.set_ylabel(f"final mean IPR (t={cfg['sweep_time_max']:g})")
    ax.set_title(f"mean ± std over {results['summary']['n']} seeds", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


# ----------------------------------------------------------------------------- statistics


def _nan_to_none(d: dict) -> dict:
    """JSON has no NaN: a missing interval (one seed) is stored as ``None``."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def compare(nlgp: dict, gp: dict) -> dict:
    """Final IPR and test error of NLGP vs GP runs of the same seeds.

    Returns:
      ``{"ipr_nlgp", "ipr_gp", "test_error_nlgp", "test_error_gp"`` (summaries over seeds),
      ``"ipr_diff_nlgp_minus_gp"`` (:func:`jaxcnn.stats.paired_difference`, 95% CI;
      ``None`` bounds with one seed), ``"ratio_of_means"`` (mean NLGP IPR / mean GP IPR),
      ``"per_seed": [{"seed", "ipr_nlgp", "ipr_gp", "test_error_nlgp",
      "test_error_gp"}]}``.
    """
    seeds = [c["seed"] for c in nlgp["per_seed"]]
    if seeds != [c["seed"] for c in gp["per_seed"]]:
        raise ValueError("gp: expected the seeds of the NLGP runs")
    out = {f"{m}_{n}": stats.summary(r[f"final_{m}"]) for m in ("ipr", "test_error")
           for n, r in (("nlgp", nlgp), ("gp", gp))}
    out["ipr_diff_nlgp_minus_gp"] = _nan_to_none(
        stats.paired_difference(nlgp["final_ipr"], gp["final_ipr"]))
    out["ratio_of_means"] = out["ipr_nlgp"]["mean"] / out["ipr_gp"]["mean"]
    out["per_seed"] = [{"seed": s, "ipr_nlgp": a, "ipr_gp": b, "test_error_nlgp": e1,
                        "test_error_gp": e2}
                       for s, a, b, e1, e2 in zip(seeds, nlgp["final_ipr"], gp["final_ipr"],
                                                  nlgp["final_test_error"],
                                                  gp["final_test_error"])]
    return out


# ----------------------------------------------------------------------------- driver


def gain_sweep(cfg: NLGPConfig, keys: jax.Array, main_runs: dict, *, seeds: list[int],
               progress: bool = False, checkpoint_for=None,
               resumed: dict | None = None) -> list[dict]:
    """NLGP vs GP final IPR for each gain in ``cfg.gains``, every seed (reuses the main runs
    for the main gain when the sweep length equals the main run's).

    Gain ``i`` of seed ``s`` uses ``fold_in(keys[s], i)`` for both NLGP and GP. Returns one
    ``{"gain", "time_max", **compare(nlgp, gp)}`` per gain. ``checkpoint_for(run_name)``
    (``sweep<i>-nlgp`` / ``sweep<i>-gp``) gives the state file of a run (``None``: none);
    ``resumed[run_name]`` is set to the chunk each resumed run continued from.
    """
    rows = []
    for i, g in enumerate(cfg.gains):
        runs = {}
        for name, gaussian in (("nlgp", False), ("gp", True)):
            if g == cfg.gain and cfg.sweep_time_max == cfg.time_max:
                runs[name] = main_runs[name]
            else:
                run_name = f"sweep{i}-{name}"
                runs[name] = train_online(
                    cfg, jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, i), gain=g,
                    gaussian=gaussian, time_max=cfg.sweep_time_max, seeds=seeds,
                    progress=progress,
                    checkpoint=checkpoint_for(run_name) if checkpoint_for else None)
                if resumed is not None and runs[name]["resumed_from"] is not None:
                    resumed[run_name] = runs[name]["resumed_from"]
        rows.append({"gain": float(g), "time_max": float(cfg.sweep_time_max),
                     **compare(runs["nlgp"], runs["gp"])})
    return rows


def check_config(cfg: NLGPConfig) -> None:
    """Rejects unusable presets with a one-line :class:`CLIError`."""
    if len(cfg.shape) not in (1, 2):
        raise CLIError(f"shape: expected (D,) or (H, W), got {cfg.shape}")
    if cfg.readout not in ("learned", "fixed"):
        raise CLIError(f"readout: expected 'learned' or 'fixed', got {cfg.readout!r}")
    if cfg.seeds < 1:
        raise CLIError(f"seeds: expected an int >= 1, got {cfg.seeds}")


def run_checkpoint(args: argparse.Namespace):
    """With ``--resume``: ``run_name -> OUT/checkpoints/nlgp_localization/PRESET-RUN/state.npz``
    (folder created); without: ``None`` (no checkpoints)."""
    if not args.resume:
        return None

    def path(run_name: str) -> str:
        folder = checkpoint_dir(args, f"{args.preset}-{run_name}")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, "state.npz")

    return path


def run(args: argparse.Namespace, argv=None) -> dict:
    """Runs the preset for every seed: NLGP vs GP curves, receptive fields, gain sweep;
    saves JSON + PNGs. ``argv`` (what ``main`` got) goes into the provenance record."""
    cfg = resolve_preset(args, PRESETS)
    check_config(cfg)
    progress = not args.no_progress
    if args.devices not in (None, 1):
        print("note: online SGD runs on one device; --devices is ignored")
    start = time.perf_counter()
    seeds = seed_list(args, cfg.seeds)
    split = jax.vmap(jax.random.split)(jax.vmap(jax.random.key)(jnp.asarray(seeds)))
    k_main, k_sweep = split[:, 0], split[:, 1]
    checkpoint_for = run_checkpoint(args)
    runs, resumed = {}, {}
    for name, gaussian in (("nlgp", False), ("gp", True)):
        # same keys for both: same initial weights, white noise, labels and test noise
        runs[name] = train_online(cfg, k_main, gain=cfg.gain, gaussian=gaussian,
                                  time_max=cfg.time_max, seeds=seeds, progress=progress,
                                  checkpoint=checkpoint_for(name) if checkpoint_for else None)
        if runs[name]["resumed_from"] is not None:
            resumed[name] = runs[name]["resumed_from"]
    sweep = gain_sweep(cfg, k_sweep, runs, seeds=seeds, progress=progress,
                       checkpoint_for=checkpoint_for, resumed=resumed)
    d = input_dim(cfg)
    main_cmp = compare(runs["nlgp"], runs["gp"])
    diff = main_cmp["ipr_diff_nlgp_minus_gp"]
    summary = {
        "D": d, "random_ipr_3_over_D": 3 / d, "n": len(seeds),
        "final_ipr_nlgp": main_cmp["ipr_nlgp"], "final_ipr_gp": main_cmp["ipr_gp"],
        "ipr_diff_nlgp_minus_gp": diff, "ipr_ratio_of_means": main_cmp["ratio_of_means"],
        "final_test_error_nlgp": main_cmp["test_error_nlgp"],
        "final_test_error_gp": main_cmp["test_error_gp"],
        "acceptance_ratio_ge_3": bool(main_cmp["ratio_of_means"] >= 3.0),
        "acceptance_diff_ci_above_0": (None if diff["ci_low"] is None
                                       else bool(diff["ci_low"] > 0.0)),
    }
    comparisons = [{"comparison": "NLGP - GP", "run": "main", "gain": float(cfg.gain),
                    "time_max": float(cfg.time_max), "metric": "final_ipr", **diff,
                    "ratio_of_means": main_cmp["ratio_of_means"]}]
    comparisons += [{"comparison": "NLGP - GP", "run": "gain sweep", "gain": r["gain"],
                     "time_max": r["time_max"], "metric": "final_ipr",
                     **r["ipr_diff_nlgp_minus_gp"], "ratio_of_means": r["ratio_of_means"]}
                    for r in sweep]
    results = {
        "experiment": NAME, "preset": args.preset, "seeds": seeds,
        "overrides": getattr(args, "_overrides", {}),
        "config": dataclasses.asdict(cfg), "published": PUBLISHED_IPR,
        "summary": summary, "per_seed": main_cmp["per_seed"], "comparisons": comparisons,
        "curves": {n: {k: v for k, v in r.items()
                       if k not in ("weights", "wall_time", "resumed_from")}
                   for n, r in runs.items()},
        "receptive_fields": {n: r["weights"] for n, r in runs.items()},
        "gain_sweep": sweep, "device": str(jax.devices()[0]),
        "resumed_from": resumed or None,
        "wall_time": time.perf_counter() - start,
    }
    out = args.out
    plot_ipr_vs_time(results, f"{out}/nlgp_ipr_vs_time.png")
    plot_receptive_fields(results, f"{out}/nlgp_receptive_fields.png")
    plot_ipr_vs_gain(results, f"{out}/nlgp_ipr_vs_gain.png")
    results["provenance"] = provenance(name=NAME, preset=args.preset, seeds=seeds,
                                       wall_time=results["wall_time"], argv=argv)
    path = save_json(results, out, NAME)
    print_tables(results)
    print(f"\nwrote {path}")
    return results


# ----------------------------------------------------------------------------- tables


def _ci(diff: dict, **kw) -> str:
    """:func:`stats.format_ci` of a stored difference (``None`` bounds: no interval)."""
    return stats.format_ci({k: math.nan if v is None else v for k, v in diff.items()}, **kw)


def report_tables(results: dict) -> dict[str, str]:
    """The Markdown tables of a results dict (as saved in ``nlgp_localization.json``).

    Returns:
      ``{"nlgp_localization.main"``: mean IPR and test error (%) vs ``t`` for NLGP and GP,
      mean ± std over seeds, with n; ``"nlgp_localization.gain"``: final IPR per gain
      (mean ± std), ratio of means, test error; ``"nlgp_localization.comparisons"``: the
      paired NLGP - GP difference in final IPR [95% CI], n and the ratio of means, for the
      main run and each gain of the sweep``}``.
    """
    ms = stats.format_mean_std
    cur, n = results["curves"], len(results["seeds"])

    def cell(name, key, i, **kw):
        return ms({"mean": cur[name][key]["mean"][i], "std": cur[name][key]["std"][i],
                   "n": n}, **kw)

    rows = [{"t": f"{t:g}", "n": n, "IPR NLGP": cell("nlgp", "ipr_mean", i, digits=4),
             "IPR GP": cell("gp", "ipr_mean", i, digits=4),
             "test err NLGP %": cell("nlgp", "test_error", i, scale=100),
             "test err GP %": cell("gp", "test_error", i, scale=100)}
            for i, t in enumerate(cur["nlgp"]["t"])]
    gain = [{"gain": f"{r['gain']:g}", "t": f"{r['time_max']:g}", "n": r["ipr_nlgp"]["n"],
             "IPR NLGP": ms(r["ipr_nlgp"], digits=4), "IPR GP": ms(r["ipr_gp"], digits=4),
             "ratio of means": f"{r['ratio_of_means']:.2f}",
             "test err NLGP %": ms(r["test_error_nlgp"], scale=100),
             "test err GP %": ms(r["test_error_gp"], scale=100)}
            for r in results["gain_sweep"]]
    comp = [{"comparison": f"{c['comparison']} ({c['run']})", "gain": f"{c['gain']:g}",
             "t": f"{c['time_max']:g}", "n": c["n"],
             f"Δ final IPR [{100 * c['confidence']:.0f}% CI]": _ci(c, digits=4),
             "ratio of means": f"{c['ratio_of_means']:.2f}"}
            for c in results["comparisons"]]
    return {"nlgp_localization.main": format_table(rows),
            "nlgp_localization.gain": format_table(gain),
            "nlgp_localization.comparisons": format_table(comp)}


def print_tables(results: dict) -> None:
    """Prints the tables of :func:`report_tables` (IPR vs time, gain sweep, comparisons)."""
    tables = report_tables(results)
    s = results["summary"]
    print(f"\nNLGP localization (D={s['D']}, 3/D={s['random_ipr_3_over_D']:.4f}), seeds "
          f"{results['seeds']}: mean ± std over seeds; published (D=400): NLGP 0.008 -> "
          f"0.055, GP ~0.008 over t = 1e2 -> 1e4")
    print(tables["nlgp_localization.main"])
    print(f"final IPR ratio of means NLGP/GP = {s['ipr_ratio_of_means']:.2f} "
          f"(acceptance >= 3: {'yes' if s['acceptance_ratio_ge_3'] else 'NO'})")
    print("\nGain sweep (final mean IPR)")
    print(tables["nlgp_localization.gain"])
    print("\nPaired differences NLGP - GP over seeds (95% t interval)")
    print(tables["nlgp_localization.comparisons"])


def main(argv=None):
    """CLI entry point (see the module docstring)."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=None)
    return run_cli(lambda args: run(args, argv), parser, argv, results_file=f"{NAME}.json")


if __name__ == "__main__":
    main()
