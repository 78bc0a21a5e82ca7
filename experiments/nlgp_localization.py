"""Ingrosso & Goldt 2022: non-Gaussian inputs make a two-layer net's weights localise.

    python -m experiments.nlgp_localization --preset smoke|default|paper [--out DIR]

A two-layer network ``yhat = (1/K) sum_k erf((w_k . x / sqrt(D) + b_k) / sqrt(2))``
(:class:`jaxcnn.models.TwoLayerNet`, K hidden units, fixed committee readout by default) is trained by **online SGD** (a fresh sample every step,
MSE ``(y - yhat)^2``) to tell apart two non-linear Gaussian processes (NLGP) with
correlation lengths ``xi_0`` (label -1) and ``xi_1`` (label +1), and, as the control, their
Gaussian clones (GP: same covariance, no higher-order structure). Localisation is
measured by the mean inverse participation ratio ``IPR(w) = sum w^4 / (sum w^2)^2`` of the
hidden units' first-layer weights (``~ 3/D`` for a random vector), logged at log-spaced
times ``t = samples / D``.

Online SGD is a jitted ``lax.scan`` over chunks: one call generates ``chunk_steps x
batch_size`` fresh samples of each class with the FFT sampler (:func:`jaxcnn.data.nlgp`)
and scans the SGD steps over them; checkpoints fall on chunk boundaries.

Writes ``DIR/nlgp_localization.json`` and the figures ``nlgp_ipr_vs_time.png`` (the
paper's headline figure), ``nlgp_receptive_fields.png`` and ``nlgp_ipr_vs_gain.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn import data as jdata
from jaxcnn import metrics, models

from experiments.common import (CLIError, build_parser, format_table, run_cli, save_figure,
                                save_json)
from experiments.configs.nlgp_localization import PRESETS, NLGPConfig

NAME = "nlgp_localization"

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
    """A jitted ``(params, rest, lrs, key, gain) -> params``: ``chunk_steps`` online SGD steps.

    The samples of the whole chunk are generated in one call (FFT sampler), then a
    ``lax.scan`` runs one SGD step per ``batch_size`` samples on the loss
    ``mean_batch (yhat - y)^2`` (PyTorch's ``mse_loss``, as in the reference code). ``gain`` is traced, so one compilation serves the
    whole gain sweep (one per ``gaussian``).
    """
    steps, bs = cfg.chunk_steps, cfg.batch_size

    def loss_fn(params, rest, xb, yb):
        net = nnx.merge(graphdef, params, rest)
        return jnp.mean(jnp.sum((net(xb) - yb) ** 2, axis=-1))

    grad_fn = jax.grad(loss_fn)

    @jax.jit
    def chunk(params, rest, lrs, key, gain):
        x, y = sample_task(key, steps * bs, cfg, gain, gaussian)
        xs = x.reshape(steps, bs, *x.shape[1:])
        ys = y.reshape(steps, bs, 1)

        def step(p, batch):
            grads = grad_fn(p, rest, *batch)
            return jax.tree.map(lambda a, g, lr: a - lr * g, p, grads, lrs), None

        params, _ = jax.lax.scan(step, params, (xs, ys))
        return params

    return chunk


def checkpoint_chunks(cfg: NLGPConfig, time_max: float) -> list[int]:
    """Chunk counts (>= 1, increasing, unique) at which to log: log-spaced in ``t``."""
    samples_per_chunk = cfg.chunk_steps * cfg.batch_size
    total = max(1, int(round(time_max * input_dim(cfg) / samples_per_chunk)))
    grid = np.geomspace(1, total, max(cfg.num_checkpoints, 2))
    return sorted({int(round(c)) for c in grid} | {total})


@jax.jit
def _evaluate(graphdef, params, rest, x, y):
    net = nnx.merge(graphdef, params, rest)
    out = net(x)
    mse = jnp.mean(jnp.sum((out - y) ** 2, axis=-1))
    err = jnp.mean((jnp.sign(out[:, 0]) != y[:, 0]).astype(jnp.float32))
    return mse, err


def unit_iprs(graphdef, params, rest) -> np.ndarray:
    """IPR of each hidden unit's first-layer weight vector (a ``(K,)`` array)."""
    net = nnx.merge(graphdef, params, rest)
    w, _ = models.first_layer_dense(net)
    return np.asarray(metrics.ipr(w, axis=0))


def train_online(cfg: NLGPConfig, key: jax.Array, *, gain: float, gaussian: bool,
                 time_max: float, progress: bool = False) -> dict:
    """Trains one two-layer net by online SGD and logs IPR / test error over time.

    Args:
      cfg: the preset.
      key: PRNG key (network init, training samples and the test set all derive from it).
      gain: NLGP gain ``g``.
      gaussian: train on the Gaussian clones instead of the NLGP.
      time_max: training length in ``t = samples / D``.
      progress: print one line per checkpoint.

    Returns:
      ``{"t": [...], "ipr_mean": [...], "ipr_units": [[...]], "test_mse": [...],
      "test_error": [...], "final_ipr": float, "weights": (D, K) list, "wall_time": s}``.
    """
    k_init, k_test, k_train = jax.random.split(key, 3)
    net = build_net(cfg, k_init)
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    lrs = learning_rates(params, cfg)
    chunk = make_chunk_fn(graphdef, cfg, bool(gaussian))
    x_test, y_test = sample_task(k_test, cfg.num_test, cfg, jnp.float32(gain), gaussian)
    d, per_chunk = input_dim(cfg), cfg.chunk_steps * cfg.batch_size
    curves = {"t": [], "ipr_mean": [], "ipr_units": [], "test_mse": [], "test_error": []}

    def log(n_chunks):
        iprs = unit_iprs(graphdef, params, rest)
        mse, err = _evaluate(graphdef, params, rest, x_test, y_test)
        curves["t"].append(n_chunks * per_chunk / d)
        curves["ipr_mean"].append(float(iprs.mean()))
        curves["ipr_units"].append(iprs.tolist())
        curves["test_mse"].append(float(mse))
        curves["test_error"].append(float(err))
        if progress:
            print(f"  [{'GP' if gaussian else 'NLGP'} g={gain:g}] t={curves['t'][-1]:9.1f}  "
                  f"IPR={curves['ipr_mean'][-1]:.4f}  test err={float(err):.3f}", flush=True)

    t0 = time.perf_counter()
    log(0)
    done = 0
    for target in checkpoint_chunks(cfg, time_max):
        while done < target:
            params = chunk(params, rest, lrs, jax.random.fold_in(k_train, done),
                           jnp.float32(gain))
            done += 1
        log(done)
    if not all(math.isfinite(v) for v in curves["test_mse"]):
        raise FloatingPointError(f"online SGD diverged (gain={gain}, gaussian={gaussian}); "
                                 f"lower lr={cfg.lr}")
    w, _ = models.first_layer_dense(nnx.merge(graphdef, params, rest))
    return {**curves, "final_ipr": curves["ipr_mean"][-1],
            "final_test_error": curves["test_error"][-1],
            "weights": np.asarray(w).tolist(), "wall_time": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- figures


def plot_ipr_vs_time(runs: dict, cfg: NLGPConfig, path) -> None:
    """The headline figure: mean IPR vs ``t`` for NLGP and GP inputs (log-log)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for label, run, color in (("NLGP", runs["nlgp"], "C3"), ("GP (Gaussian clone)",
                                                             runs["gp"], "C0")):
        t = np.asarray(run["t"][1:])
        ax.plot(t, run["ipr_mean"][1:], "o-", color=color, label=label, ms=3)
        units = np.asarray(run["ipr_units"][1:])
        ax.fill_between(t, units.min(1), units.max(1), color=color, alpha=0.15)
    ax.axhline(3 / input_dim(cfg), color="gray", ls="--", lw=1, label="3/D (random)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t = samples / D")
    ax.set_ylabel("IPR of first-layer weights")
    ax.set_title(f"D={input_dim(cfg)}, K={cfg.hidden}, g={cfg.gain:g}, xi={cfg.xi}")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_receptive_fields(runs: dict, cfg: NLGPConfig, path) -> None:
    """Final first-layer weights of every hidden unit (1-D: lines; 2-D: images)."""
    import matplotlib.pyplot as plt

    k = cfg.hidden
    if len(cfg.shape) == 1:
        fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        for ax, name in zip(axes, ("nlgp", "gp")):
            w = np.asarray(runs[name]["weights"])
            for j in range(k):
                col = w[:, j] / (np.abs(w[:, j]).max() + 1e-12)
                ax.plot(col + 2.2 * j, lw=1)
            ax.set_yticks([])
            ax.set_title(f"{name.upper()}: final weights of the {k} hidden units "
                         f"(normalised, offset)", fontsize=9)
        axes[-1].set_xlabel("input position")
    else:
        fig, axes = plt.subplots(2, k, figsize=(1.3 * k, 3.0), squeeze=False)
        for row, name in enumerate(("nlgp", "gp")):
            w = np.asarray(runs[name]["weights"])
            for j in range(k):
                img = w[:, j].reshape(cfg.shape)
                lim = np.abs(img).max() + 1e-12
                axes[row, j].imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
                axes[row, j].set_xticks([])
                axes[row, j].set_yticks([])
            axes[row, 0].set_ylabel(name.upper())
    save_figure(fig, path)


def plot_ipr_vs_gain(sweep: list[dict], cfg: NLGPConfig, path) -> None:
    """Final mean IPR vs gain ``g`` for NLGP and GP inputs."""
    import matplotlib.pyplot as plt

    g = [r["gain"] for r in sweep]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.plot(g, [r["ipr_nlgp"] for r in sweep], "o-", color="C3", label="NLGP")
    ax.plot(g, [r["ipr_gp"] for r in sweep], "s-", color="C0", label="GP")
    ax.axhline(3 / input_dim(cfg), color="gray", ls="--", lw=1, label="3/D")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gain g")
    ax.set_ylabel(f"final mean IPR (t={cfg.sweep_time_max:g})")
    ax.legend(fontsize=8)
    save_figure(fig, path)


# ----------------------------------------------------------------------------- driver


def gain_sweep(cfg: NLGPConfig, key: jax.Array, main_runs: dict, *,
               progress: bool = False) -> list[dict]:
    """Final IPR (NLGP and GP) for each gain in ``cfg.gains`` (reuses the main run's gain
    when the sweep length equals the main run's)."""
    rows = []
    for i, g in enumerate(cfg.gains):
        row = {"gain": float(g)}
        for name, gaussian in (("nlgp", False), ("gp", True)):
            if g == cfg.gain and cfg.sweep_time_max == cfg.time_max:
                run = main_runs[name]
            else:
                run = train_online(cfg, jax.random.fold_in(key, i), gain=g, gaussian=gaussian,
                                   time_max=cfg.sweep_time_max, progress=progress)
            row[f"ipr_{name}"] = run["final_ipr"]
            row[f"test_error_{name}"] = run["final_test_error"]
        row["ratio"] = row["ipr_nlgp"] / row["ipr_gp"]
        rows.append(row)
    return rows


def check_config(cfg: NLGPConfig) -> None:
    """Rejects unusable presets with a one-line :class:`CLIError`."""
    if len(cfg.shape) not in (1, 2):
        raise CLIError(f"shape: expected (D,) or (H, W), got {cfg.shape}")
    if cfg.readout not in ("learned", "fixed"):
        raise CLIError(f"readout: expected 'learned' or 'fixed', got {cfg.readout!r}")


def run(args: argparse.Namespace) -> dict:
    """Runs the preset: NLGP vs GP curves, receptive fields, gain sweep; saves JSON + PNGs."""
    cfg = PRESETS[args.preset]
    check_config(cfg)
    progress = not args.no_progress
    if args.devices not in (None, 1):
        print("note: online SGD runs on one device; --devices is ignored")
    if args.resume:
        print("note: nlgp_localization keeps no checkpoints; --resume reruns from the start")
    start = time.perf_counter()
    key = jax.random.key(args.seed)
    k_main, k_sweep = jax.random.split(key)
    runs = {}
    for name, gaussian in (("nlgp", False), ("gp", True)):
        # same key for both: same initial weights, same noise, only the inputs differ
        runs[name] = train_online(cfg, k_main, gain=cfg.gain, gaussian=gaussian,
                                  time_max=cfg.time_max, progress=progress)
    sweep = gain_sweep(cfg, k_sweep, runs, progress=progress)
    d = input_dim(cfg)
    summary = {
        "D": d, "random_ipr_3_over_D": 3 / d,
        "final_ipr_nlgp": runs["nlgp"]["final_ipr"], "final_ipr_gp": runs["gp"]["final_ipr"],
        "ipr_ratio_nlgp_over_gp": runs["nlgp"]["final_ipr"] / runs["gp"]["final_ipr"],
        "final_test_error_nlgp": runs["nlgp"]["final_test_error"],
        "final_test_error_gp": runs["gp"]["final_test_error"],
    }
    summary["acceptance_ratio_ge_3"] = bool(summary["ipr_ratio_nlgp_over_gp"] >= 3.0)
    results = {
        "experiment": NAME, "preset": args.preset, "seed": args.seed,
        "config": dataclasses.asdict(cfg), "published": PUBLISHED_IPR,
        "summary": summary, "curves": {n: {k: v for k, v in r.items() if k != "weights"}
                                       for n, r in runs.items()},
        "receptive_fields": {n: r["weights"] for n, r in runs.items()},
        "gain_sweep": sweep, "device": str(jax.devices()[0]),
        "wall_time": time.perf_counter() - start,
    }
    out = args.out
    plot_ipr_vs_time(runs, cfg, f"{out}/nlgp_ipr_vs_time.png")
    plot_receptive_fields(runs, cfg, f"{out}/nlgp_receptive_fields.png")
    plot_ipr_vs_gain(sweep, cfg, f"{out}/nlgp_ipr_vs_gain.png")
    path = save_json(results, out, NAME)
    print_tables(results)
    print(f"\nwrote {path}")
    return results


def print_tables(results: dict) -> None:
    """Prints the IPR-vs-time table (NLGP vs GP) and the gain sweep."""
    cur = results["curves"]
    rows = [{"t": t, "IPR NLGP": a, "IPR GP": b, "test err NLGP": e1, "test err GP": e2}
            for t, a, b, e1, e2 in zip(cur["nlgp"]["t"], cur["nlgp"]["ipr_mean"],
                                       cur["gp"]["ipr_mean"], cur["nlgp"]["test_error"],
                                       cur["gp"]["test_error"])]
    s = results["summary"]
    print(f"\nNLGP localization (D={s['D']}, 3/D={s['random_ipr_3_over_D']:.4f}); published "
          f"(D=400): NLGP 0.008 -> 0.055, GP ~0.008 over t = 1e2 -> 1e4")
    print(format_table(rows, floatfmt=".4g"))
    print(f"final IPR ratio NLGP/GP = {s['ipr_ratio_nlgp_over_gp']:.2f} "
          f"(acceptance >= 3: {'yes' if s['acceptance_ratio_ge_3'] else 'NO'})")
    print("\nGain sweep (final mean IPR)")
    print(format_table(results["gain_sweep"], floatfmt=".4g"))


def main(argv=None):
    """CLI entry point (see the module docstring)."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=None)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    main()
