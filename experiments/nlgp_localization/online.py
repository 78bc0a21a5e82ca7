"""Online SGD of ``experiments.nlgp_localization``: every seed's run, logged and resumable.

A module of the study (:mod:`experiments.nlgp_localization.run` documents the
protocol). :func:`train_online` runs one NLGP (or Gaussian-clone) online-SGD run for all
seeds at once and logs the mean IPR and the test error at log-spaced times
(:func:`checkpoint_chunks`); an :class:`OnlineRun` holds such a run while it trains.
With a state file (``--resume``) the run saves itself every :data:`CHECKPOINT_EVERY`
chunks and at every log (:func:`save_online_state`) and continues from the file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxcnn.io import read_tree_npz, write_tree_npz_atomic

from experiments.harness.cli import CLIError
from experiments.nlgp_localization.config import NLGPConfig
from experiments.nlgp_localization.model import (build_replicas, input_dim, learning_rates,
                                                 make_chunk_fn, make_measure_fn,
                                                 sample_tasks)

__all__ = ["CHECKPOINT_EVERY", "OnlineRun", "checkpoint_chunks", "load_online_state",
           "mean_std", "save_online_state", "start_online", "train_online"]

#: With ``--resume``, a run's state is saved every this many chunks (and at every log).
CHECKPOINT_EVERY = 20
#: Fewest log times in ``t`` (besides ``t = 0``): the first chunk and the last.
MIN_LOGS = 2
#: Keys of a run's per-seed curves (one value per logged time).
CURVE_KEYS = ("ipr_mean", "ipr_units", "test_mse", "test_error")


def checkpoint_chunks(cfg: NLGPConfig, time_max: float) -> list[int]:
    """Chunk counts (>= 1, increasing, unique) at which to log: log-spaced in ``t``."""
    samples_per_chunk = cfg.chunk_steps * cfg.batch_size
    total = max(1, int(round(time_max * input_dim(cfg) / samples_per_chunk)))
    grid = np.geomspace(1, total, max(cfg.num_checkpoints, MIN_LOGS))
    return sorted({int(round(c)) for c in grid} | {total})


def mean_std(rows: list[list[float]]) -> dict:
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


@dataclasses.dataclass
class OnlineRun:
    """One online-SGD run of every seed while it trains (made by :func:`start_online`).

    Attributes:
      cfg, gain, gaussian: the run.
      seeds: the replicas' labels.
      params, rest, lrs: stacked parameters (leading seed axis), the rest of the network
        state, the per-leaf step sizes.
      chunk, measure: the jitted programs (:func:`make_chunk_fn`, :func:`make_measure_fn`).
      k_train: the training keys ``(S,)``.
      x_test, y_test: the per-seed test sets.
      meta: what identifies the run in its state file.
      checkpoint: the state file (``None``: no checkpoints).
      done: chunks trained so far.
      t: the logged times.
      curves: per seed, ``{"seed", "ipr_mean", "ipr_units", "test_mse", "test_error"}``.
      weights: the first-layer weights ``(S, D, K)`` at the last log.
    """

    cfg: NLGPConfig
    gain: float
    gaussian: bool
    seeds: list[int]
    params: Any
    rest: Any
    lrs: Any
    chunk: Callable
    measure: Callable
    k_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    meta: dict
    checkpoint: str | None = None
    done: int = 0
    t: list = dataclasses.field(default_factory=list)
    curves: list = dataclasses.field(default_factory=list)
    weights: Any = None

    def log(self, progress: bool = False) -> None:
        """Measures every replica on its test set and appends to the curves."""
        mse, err, iprs, w = jax.device_get(self.measure(self.params, self.rest,
                                                        self.x_test, self.y_test))
        cfg = self.cfg
        self.t.append(self.done * cfg.chunk_steps * cfg.batch_size / input_dim(cfg))
        for i, c in enumerate(self.curves):
            c["ipr_mean"].append(float(iprs[i].mean()))
            c["ipr_units"].append(iprs[i].tolist())
            c["test_mse"].append(float(mse[i]))
            c["test_error"].append(float(err[i]))
        self.weights = w
        if progress:
            print(f"  [{'GP' if self.gaussian else 'NLGP'} g={self.gain:g}, "
                  f"{len(self.seeds)} seeds] t={self.t[-1]:9.1f}  "
                  f"IPR={float(iprs.mean()):.4f}  test err={float(err.mean()):.3f}",
                  flush=True)

    def save(self) -> None:
        """Writes the state file (nothing without one)."""
        if self.checkpoint is not None:
            save_online_state(self.checkpoint, self.params, {
                "meta": self.meta, "done": self.done, "t": self.t, "curves": self.curves,
                "weights": None if self.weights is None else np.asarray(self.weights).tolist()})

    def restore(self) -> int:
        """Continues from the state file; returns the chunk it continues from.

        Raises:
          CLIError: the file holds the state of a different run (names ``--resume``).
        """
        self.params, saved = load_online_state(self.checkpoint, self.params)
        if saved["meta"] != self.meta:
            raise CLIError(f"--resume: {self.checkpoint} holds the state of a different run "
                           "(seeds, gain or preset); rerun without --resume (with "
                           "--overwrite) or use another --out")
        self.done = int(saved["done"])
        self.t, self.curves = saved["t"], saved["curves"]
        self.weights = np.asarray(saved["weights"], np.float32)
        return self.done

    def train_to(self, target: int) -> None:
        """Trains chunk by chunk up to ``target`` chunks, saving every
        :data:`CHECKPOINT_EVERY` chunks before the target."""
        while self.done < target:
            self.params = self.chunk(self.params, self.rest, self.lrs, self.k_train,
                                     jnp.int32(self.done), jnp.float32(self.gain))
            self.done += 1
            if self.done % CHECKPOINT_EVERY == 0 and self.done < target:
                self.save()

    def result(self, wall_time: float, resumed_from: int | None) -> dict:
        """The run's record (see :func:`train_online`).

        Raises:
          FloatingPointError: the test MSE of some seed became non-finite.
        """
        curves = self.curves
        for c in curves:
            if not all(math.isfinite(v) for v in c["test_mse"]):
                raise FloatingPointError(f"online SGD diverged (seed {c['seed']}, "
                                         f"gain={self.gain}, gaussian={self.gaussian}); "
                                         f"lower lr={self.cfg.lr}")
            c["final_ipr"] = c["ipr_mean"][-1]
            c["final_test_error"] = c["test_error"][-1]
        return {"t": self.t, "per_seed": curves,
                "ipr_mean": mean_std([c["ipr_mean"] for c in curves]),
                "test_error": mean_std([c["test_error"] for c in curves]),
                "final_ipr": [c["final_ipr"] for c in curves],
                "final_test_error": [c["final_test_error"] for c in curves],
                "weights": [np.asarray(wi).tolist() for wi in self.weights],
                "wall_time": wall_time, "resumed_from": resumed_from}


def start_online(cfg: NLGPConfig, keys: jax.Array, *, gain: float, gaussian: bool,
                 time_max: float, seeds: list[int],
                 checkpoint: str | None = None) -> OnlineRun:
    """The untrained run of ``keys``: ``k_init, k_test, k_train = split(keys[s], 3)`` give
    seed ``s``'s initial weights, test set and training samples."""
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    k_init, k_test, k_train = split[:, 0], split[:, 1], split[:, 2]
    graphdef, params, rest = build_replicas(cfg, k_init)
    lrs = learning_rates(jax.tree.map(lambda a: a[0], params), cfg)
    chunk = make_chunk_fn(graphdef, cfg, bool(gaussian))
    measure = make_measure_fn(graphdef)
    x_test, y_test = sample_tasks(k_test, jnp.float32(gain), n=cfg.num_test, cfg=cfg,
                                  gaussian=bool(gaussian))
    meta = {"seeds": seeds, "gain": float(gain), "gaussian": bool(gaussian),
            "time_max": float(time_max), "config": repr(cfg),
            "key_data": np.asarray(jax.random.key_data(keys)).tolist()}
    curves = [{"seed": s, **{k: [] for k in CURVE_KEYS}} for s in seeds]
    return OnlineRun(cfg, gain, gaussian, seeds, params, rest, lrs, chunk, measure, k_train,
                     x_test, y_test, meta, checkpoint, curves=curves)


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
    seeds = list(range(int(keys.shape[0]))) if seeds is None else list(seeds)
    run = start_online(cfg, keys, gain=gain, gaussian=gaussian, time_max=time_max,
                       seeds=seeds, checkpoint=checkpoint)
    t0 = time.perf_counter()
    resumed_from, targets = None, checkpoint_chunks(cfg, time_max)
    if checkpoint is not None and os.path.isfile(checkpoint):
        resumed_from = run.restore()
        targets = targets[len(run.t) - 1:]  # the first log (t = 0) has no target
    else:
        run.log(progress)
        run.save()
    for target in targets:
        run.train_to(target)
        run.log(progress)
        run.save()
    return run.result(time.perf_counter() - t0, resumed_from)
