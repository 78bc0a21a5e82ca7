"""The training recipes: :func:`train` (one model) and :func:`train_seeds` (many seeds).

The results of one run (what :func:`train` returns, and each ``per_seed`` entry of
:func:`train_seeds`) are a JSON-able dict: ``"config"``, ``"epochs_completed"``,
``"curves"`` (``{"epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
"wall_time", *callback keys}``, one row per evaluation: every ``eval_every`` epochs and
after the last; ``curves["epoch"]`` lists the epochs the rows hold), ``"final"``
(``{"epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc"}``, the last
row), ``"wall_time"``, ``"device"`` (``{"platform", "device_kind", "count",
"process_count"}``), ``"num_params"``, ``"num_train"``, ``"num_test"``,
``"steps_per_epoch"``, ``"eval_batch_size"``, ``"sharding"`` and ``"resumed_from"``.
Training metrics are running means over the row's epoch's steps (train mode); test
metrics are computed in eval mode; ``curves["wall_time"]`` holds the seconds since the
previous row (time inside one program call shared out by steps; the first row includes
compilation).

When the host returns (each return is one compiled-program call; nothing else needs
it in between): at every evaluation when there are callbacks, at every checkpoint, after
every ``log_every`` steps, about every :data:`BAR_REFRESH_S` seconds while a progress bar
is shown, at most every :data:`~jaxcnn.train.steps.CAP_STEPS` steps, and at the end.
Without callbacks, checkpoints, logging or a bar a run of 150 epochs is one call.

Replicas on a mesh (:func:`train_seeds` with ``config.devices > 1``): the replica axis is
not sharded; each replica's arrays get the sharding a single run would give them
(replicated, or FSDP over ``data``) with the replica axis in front, and every replica's
batch is split over the ``data`` axis.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxcnn.io import to_jsonable
from jaxcnn.train.config import Callback, TrainConfig
from jaxcnn.train.data import as_arrays
from jaxcnn.train.run import FINAL_KEYS, Run
from jaxcnn.train.sharding import is_key

from jaxcnn.validation import Text, error, is_int

__all__ = ["train", "train_seeds", "show_progress", "in_notebook", "Augment"]

#: The final metrics summarised over seeds by :func:`train_seeds`.
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")

Augment = Callable[[jax.Array, jax.Array], jax.Array]
"""An augmentation ``(key, x_batch) -> x_batch`` run inside the compiled training step."""

logger = logging.getLogger("jaxcnn.train")


def _check_config(config: Any) -> TrainConfig:
    if not isinstance(config, TrainConfig):
        raise error("config", "a TrainConfig", Text(type(config).__name__))
    return config


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter (IPython) kernel: a notebook, JupyterLab, VS
    Code or Colab (IPython is never imported here just to ask)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    try:
        shell = get() if get is not None else None
    except Exception:  # noqa: BLE001  (a half-initialised IPython)
        return False
    if shell is None:
        return False
    if any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__):
        return True
    try:
        return "IPKernelApp" in getattr(shell, "config", {})
    except TypeError:
        return False


def show_progress(progress: bool, *, stream: Any = None, process_index: int | None = None
                  ) -> bool:
    """Whether to draw a progress bar: asked for (``progress``), on process 0, and where
    someone watches it — ``stream`` (default ``sys.stderr``) is a terminal, or the code
    runs in a Jupyter kernel (whose stderr is not a terminal). Redirected output, CI logs
    and batch jobs get no bar."""
    if not progress:
        return False
    if (jax.process_index() if process_index is None else process_index) != 0:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        pass
    return in_notebook()


def _progress_bar(config: TrainConfig, start: int, desc: str):
    if not show_progress(config.progress):
        return None
    from tqdm.auto import tqdm  # a widget in notebooks (with ipywidgets), text elsewhere

    return tqdm(total=config.epochs, initial=start, desc=desc, unit="epoch")


#: With a progress bar, the host returns about this often (seconds) to refresh it.
BAR_REFRESH_S = 0.5


def _fit(run: Run, callbacks: Sequence[Callback], checkpoint_dir: str | None,
         desc: str) -> list[dict]:
    """The loop shared by :func:`train` and :func:`train_seeds`: spans of steps, each one
    compiled-program call, cut where the host is needed (see :meth:`Run.next_stop`)."""
    t0 = time.perf_counter()
    run.open_checkpoints(checkpoint_dir)
    elapsed_before = float(run.results[0]["wall_time"])
    bar = _progress_bar(run.config, run.start_epoch, desc)
    n = run.n_steps
    g, total = run.start_epoch * n, run.config.epochs * n
    # The first span with a bar is one epoch (it includes compilation); later ones are
    # sized from the measured speed. Processes of a multi-process run must cut the run
    # identically (the program holds collectives), so there a bar means one-epoch spans.
    multi = jax.process_count() > 1
    bar_epochs = 1 if bar is not None or (multi and run.config.progress) else None
    since_row = 0.0  # seconds since the last row of the curves
    try:
        while g < total:
            ts = time.perf_counter()
            end = run.next_stop(g, callbacks=bool(callbacks), max_epochs=bar_epochs)
            rows = run.train_span(g, end)
            span_time = time.perf_counter() - ts
            done = g  # the step up to which time has been given to rows
            for epoch, train_metrics, test_metrics in rows:
                extras = (run.run_callbacks(epoch, callbacks) if callbacks
                          else [{} for _ in run.seeds])
                run.batch_placement()
                share = span_time * (epoch * n - done) / (end - g)
                done = epoch * n
                if callbacks:  # the callbacks' time goes to their row
                    share += time.perf_counter() - ts - span_time
                run.record(epoch, train_metrics, test_metrics, extras, since_row + share)
                since_row = 0.0
                _log_row(run, epoch, bar)
            since_row += span_time * (end - done) / (end - g)
            epochs_done = end // n
            run.advance(epochs_done, elapsed_before + time.perf_counter() - t0)
            if end % n == 0:
                run.save(epochs_done)
            if bar is not None:
                bar.update(epochs_done - bar.n)
                if not multi:
                    per_epoch = span_time * n / (end - g)
                    bar_epochs = max(1, int(BAR_REFRESH_S / max(per_epoch, 1e-9)))
            g = end
    finally:
        if bar is not None:
            bar.close()
        run.close()
    run.update_models()
    for m in run.models:
        m.eval()
    for res in run.results:
        res["wall_time"] = elapsed_before + time.perf_counter() - t0
    return [to_jsonable(r) for r in run.results]


def _log_row(run: Run, epoch: int, bar) -> None:
    finals = [r["final"] for r in run.results]
    mean = {k: float(np.mean([f[k] for f in finals])) for k in FINAL_KEYS}
    logger.info("epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f (%d replicas)",
                epoch, mean["train_loss"], mean["train_acc"], mean["test_loss"],
                mean["test_acc"], len(finals))
    if bar is not None:
        bar.set_postfix(loss=f"{mean['train_loss']:.4f}", acc=f"{mean['train_acc']:.3f}",
                        test_acc=f"{mean['test_acc']:.3f}", refresh=False)


def _data_key(key: Any, seed: int) -> jax.Array:
    if key is None:
        return jax.random.key(seed)
    if not is_key(key):  # raw uint32 key data
        return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))
    return key


def train(model: nnx.Module, tx: optax.GradientTransformation, data: Mapping[str, Any], *,
          config: TrainConfig, key: jax.Array | None = None,
          callbacks: Sequence[Callback] = (), augment: Augment | None = None) -> dict:
    """Trains ``model`` in place with ``tx`` on ``data``; returns a JSON-able results dict.

    One compiled program runs many epochs (batches gathered and augmented on device,
    evaluations inside); the host takes over only where needed (:mod:`jaxcnn.train.loop`).
    The model is checked on one example (``jax.eval_shape``) before anything compiles.

    Args:
        model: an ``nnx.Module`` mapping ``(B, *feature_shape)`` to ``(B, C)``. Its
            ``nnx.Param`` variables are trained; every other variable (BatchNorm batch
            statistics, RNG state, masks) is carried through the steps. Updated in place
            with the final state (and at every evaluation when there are callbacks) and
            left in ``eval()`` mode.
        tx: any optax transform; ``tx.update(grads, opt_state, params)`` gets the params.
        data: ``{"x_train": (N, *feature_shape), "y_train": (N,) int labels in [0, C) or
            (N, C) float targets, "x_test": (M, *feature_shape), "y_test": (M,) or (M, C)}``
            NumPy arrays, channels last, finite. In multi-process runs: this process's slice.
        config: a :class:`TrainConfig`.
        key: PRNG key for the data order (epoch ``e`` uses ``fold_in(key, e)``);
            ``None``: ``jax.random.key(config.seed)``. A resumed run uses the checkpointed key.
        callbacks: functions ``(epoch, model) -> dict | None`` called at every evaluation
            (``epoch`` counts from 1); their entries join the row in ``results["curves"]``.
            A callback may modify the model's variables (e.g. pruning); training
            continues from the modified state.
        augment: ``(key, x_batch) -> x_batch`` (same shape and dtype), run inside the
            compiled step on every training batch, e.g.
            ``jaxcnn.data.augment.Translate(4)``; its key is a function of the run's
            ``key`` and the global step (:func:`jaxcnn.train.steps.augment_key`).

    Returns:
        The run's results dict (``"config"``, ``"curves"`` per evaluation, ``"final"``,
        ``"device"``, ...; every key is listed in :mod:`jaxcnn.train.loop`).

    Raises:
        ValueError: bad data (keys, shapes, non-finite values, labels outside ``[0, C)``,
            examples the model cannot take), batch sizes not fitting the data or devices,
            a bad ``augment``, or a non-empty ``checkpoint_dir`` without ``resume=True``.
        NonFiniteLossError: the training (or test) loss became NaN or infinite. The model
            then holds its state from before the failing epoch's callbacks (its initial
            state if there are no callbacks); the last checkpoint is from before that epoch.

    Example:
        >>> import numpy as np, optax
        >>> from flax import nnx
        >>> x = np.random.default_rng(0).normal(size=(512, 8)).astype(np.float32)
        >>> y = (x[:, 0] > 0).astype(np.int32)
        >>> data = {"x_train": x[:384], "y_train": y[:384], "x_test": x[384:], "y_test": y[384:]}
        >>> model = nnx.Sequential(nnx.Linear(8, 16, rngs=nnx.Rngs(0)), jax.nn.relu,
        ...                        nnx.Linear(16, 2, rngs=nnx.Rngs(1)))
        >>> results = train(model, optax.adam(1e-2), data,
        ...                 config=TrainConfig(epochs=5, batch_size=64, progress=False))
        >>> results["final"]["test_acc"] > 0.9
        True
    """
    config = _check_config(config)
    run = Run([model], tx, as_arrays(data), config=config, keys=[_data_key(key, config.seed)],
              seeds=[config.seed], stacked=False, augment=augment)
    return _fit(run, callbacks, config.checkpoint_dir, "train")[0]


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise error("seeds", "a non-empty sequence of ints", seeds)
    if not all(is_int(s) and s >= 0 for s in seeds):
        raise error("seeds", "ints >= 0", list(seeds))
    if len(set(int(s) for s in seeds)) != len(seeds):
        raise error("seeds", "distinct seeds", list(seeds))
    return [int(s) for s in seeds]


def _structure(model: nnx.Module) -> tuple:
    graphdef, state = nnx.split(model)
    return graphdef, [(tuple(x.shape), str(x.dtype)) for x in jax.tree.leaves(state)]


def _build_models(make_model: Callable[[int], nnx.Module], seeds: Sequence[int],
                  reference: tuple | None) -> tuple[list[nnx.Module], tuple]:
    models = []
    for s in seeds:
        m = make_model(s)
        if not isinstance(m, nnx.Module):
            raise error("make_model", f"an nnx.Module for seed {s}", Text(type(m).__name__))
        structure = _structure(m)
        if reference is None:
            reference = structure
        elif structure != reference:
            raise error("make_model", "models of one structure for every seed",
                        Text(f"a different graph or parameter shapes for seed {s}"))
        models.append(m)
    return models, reference


def _summary(seeds: list[int], per_seed: list[dict], config: TrainConfig,
             max_replicas: int, t0: float) -> dict:
    finals = {k: np.array([r["final"][k] for r in per_seed], np.float64)
              for k in METRICS}
    ddof = 1 if len(seeds) > 1 else 0
    return to_jsonable({
        "seeds": seeds, "config": dataclasses.asdict(config), "max_replicas": max_replicas,
        "per_seed": per_seed,
        "mean": {k: float(v.mean()) for k, v in finals.items()},
        "std": {k: float(v.std(ddof=ddof)) for k, v in finals.items()},
        "wall_time": time.perf_counter() - t0,
    })


def train_seeds(make_model: Callable[[int], nnx.Module], tx: optax.GradientTransformation,
                data: Mapping[str, Any], *, seeds: Sequence[int], config: TrainConfig,
                callbacks: Sequence[Callback] = (), max_replicas: int | None = None,
                augment: Augment | None = None) -> tuple[list[nnx.Module], dict]:
    """Trains one model per seed, all replicas in one compiled program.

    Replica ``s`` is initialised by ``make_model(s)`` and sees the data in the order of
    ``jax.random.key(s)`` — exactly what ``train(make_model(s), tx, data, config=
    dataclasses.replace(config, seed=s))`` does alone. The models' states are stacked
    along a leading replica axis and the compiled program is ``jax.vmap``-ed over it.

    On a mesh the replica axis is not sharded (see :mod:`jaxcnn.train.loop`).
    ``max_replicas`` bounds how many replicas are compiled together; groups of
    ``max_replicas`` seeds (in order) then run one after another.

    Args:
        make_model: ``seed -> nnx.Module``; every seed must give the same structure.
        tx: the optax transform (one per replica is initialised with ``vmap(tx.init)``).
        data: as for :func:`train`.
        seeds: distinct ints >= 0.
        config: a :class:`TrainConfig`; its ``seed`` is replaced by each replica's.
            With ``checkpoint_dir``, each group checkpoints in its own sub-folder
            ``seeds_<first>-<last>`` (resume with the same seeds and ``max_replicas``).
        callbacks: as for :func:`train`, called for every replica's model.
        max_replicas: at most this many replicas per compiled program; ``None``: all.
        augment: as for :func:`train` (replica ``s`` draws the stream of seed ``s``).

    Returns:
        ``(models, results)``: the trained models in seed order (in ``eval()`` mode) and
        ``{"seeds", "config", "max_replicas", "per_seed": [train's results per seed],
        "mean": {train_loss, train_acc, test_loss, test_acc}, "std": {...} (ddof 1), ...}``.

    Raises:
        ValueError: as :func:`train`; empty or repeated ``seeds``, a bad ``max_replicas``.
        NonFiniteLossError: a replica's loss was not finite (``.seed`` names it).

    Example:
        >>> import numpy as np, optax
        >>> from flax import nnx
        >>> x = np.random.default_rng(0).normal(size=(512, 8)).astype(np.float32)
        >>> y = (x[:, 0] > 0).astype(np.int32)
        >>> data = {"x_train": x[:384], "y_train": y[:384], "x_test": x[384:], "y_test": y[384:]}
        >>> make = lambda s: nnx.Sequential(nnx.Linear(8, 16, rngs=nnx.Rngs(s)),
        ...                                 jax.nn.relu, nnx.Linear(16, 2, rngs=nnx.Rngs(s)))
        >>> models, res = train_seeds(make, optax.adam(1e-2), data, seeds=[0, 1, 2],
        ...                           config=TrainConfig(epochs=5, batch_size=64,
        ...                                              progress=False))
        >>> len(models), res["seeds"], res["mean"]["test_acc"] > 0.9
        (3, [0, 1, 2], True)
    """
    t0 = time.perf_counter()
    config = _check_config(config)
    seeds = _check_seeds(seeds)
    if max_replicas is None:
        max_replicas = len(seeds)
    elif not is_int(max_replicas) or max_replicas < 1:
        raise error("max_replicas", "an int >= 1 or None", max_replicas)
    models, per_seed = _train_groups(make_model, tx, as_arrays(data), seeds, config,
                                     callbacks, int(max_replicas), augment)
    return models, _summary(seeds, per_seed, config, int(max_replicas), t0)


def _train_groups(make_model, tx, arrays, seeds, config, callbacks, max_replicas, augment):
    """Trains ``seeds`` in groups of ``max_replicas``; ``(models, per-seed results)``."""
    models, per_seed, reference, programs, device_data = [], [], None, {}, None
    for i in range(0, len(seeds), max_replicas):
        group = seeds[i:i + max_replicas]
        group_models, reference = _build_models(make_model, group, reference)
        directory = None
        if config.checkpoint_dir is not None:
            directory = os.path.join(config.checkpoint_dir, f"seeds_{group[0]}-{group[-1]}")
        # Groups share the dataset on the mesh, and groups of one size their compiled
        # programs (one trace, one compile).
        run = Run(group_models, tx, arrays, config=config,
                  keys=[jax.random.key(s) for s in group], seeds=group, stacked=True,
                  programs=programs.get(len(group)), device_data=device_data,
                  augment=augment)
        programs[len(group)], device_data = run.programs, run.data
        per_seed += _fit(run, callbacks, directory, f"seeds {group[0]}-{group[-1]}")
        models += group_models
    return models, per_seed
