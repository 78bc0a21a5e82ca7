"""A small, general classification trainer for Flax NNX models and optax transforms.

:func:`train` fits any ``nnx.Module`` mapping a batch ``(B, *feature_shape)`` to outputs
``(B, C)`` with any ``optax.GradientTransformation`` (including ones that read the
parameters, such as :func:`jaxcnn.optim.beta_lasso`), on a dataset given as NumPy arrays.
:func:`train_seeds` trains one such model per seed, all replicas in one compiled program.

Design (one file each):

* ``config.py`` — :class:`TrainConfig`, :class:`NonFiniteLossError`, the loss names.
* ``schedules.py`` — :func:`cosine_schedule`, :func:`steps_per_epoch`.
* ``sharding.py`` — the ``("data",)`` mesh, replicated / FSDP parameter shardings,
  moving pytrees onto the mesh. **Parameters** are replicated (``shard_params="none"``)
  or FSDP-sharded (``"fsdp"``): every parameter and optimizer-state array with
  ``ndim >= 2`` and ``size >= fsdp_min_size`` is split over ``data`` along its largest
  dimension that the device count divides. XLA inserts the gathers.
* ``data.py`` — checks of the dataset against the model and the loss; the dataset put
  on the accelerators once, sharded over ``data``. Each epoch's order is a pure function
  of ``(key, epoch)``: ``permutation(fold_in(key, epoch), num_train)``, computed on
  device. The last partial training batch is dropped; evaluation covers every test
  example exactly once (padded batches with a mask).
* ``steps.py`` — the compiled program. **One XLA program for any span of steps**: a
  ``fori_loop`` over epochs (each drawing its order on device) around a ``fori_loop``
  over their steps, each gathering its batch on device from the permutation, optionally
  augmenting it (``augment(key, x_batch)``, key from the run's key and the global step),
  and evaluating the test set in eval mode inside the program at the end of every epoch
  due an evaluation (``eval_every``, and the last). The span's bounds are run-time
  values, so the same compiled program runs one epoch or a hundred, and how a run is
  cut into spans never changes its numbers. The training step splits the model with
  ``nnx.split(model, nnx.Param, ...)`` into the parameters and the rest of its state
  (BatchNorm statistics, RNG counters, masks), runs it in ``train()`` mode and carries
  both; the first non-finite loss and its step ride along in the carry. For replicas
  the program is ``vmap``-ed over a leading replica axis. Programs are cached across
  calls (same model structure, transform object, augmentation and batch sizes).
* ``checkpoint.py`` — **orbax checkpoints** (``checkpoint_dir``) every
  ``checkpoint_every`` epochs and after the last one: model state, optimizer state, PRNG
  key and the results so far. Orbax finalises a step by an atomic rename, so a crash
  (even SIGKILL) leaves only complete checkpoints; with ``resume=True`` the latest
  restorable one is loaded and training continues, reaching bitwise the same result as
  an uninterrupted run on the same device count (on CPU).
* ``run.py`` / ``loop.py`` — the state of one run and the host loop; :func:`train` and
  :func:`train_seeds`. The host gets control back only where it is needed — callbacks
  (at evaluations), checkpoints, ``log_every`` chunks, about twice a second for a
  progress bar — so without those a whole run is one program call (at most
  :data:`~jaxcnn.train.steps.CAP_STEPS` steps each).

**Compilation** dominates short runs (about 1 s for the MNIST-1D CNN on a 2-core CPU,
a quarter of its 150-epoch run). JAX can keep compiled programs on disk and reuse them in
the next process; in your own scripts turn it on before the first compilation::

    import jax
    jax.config.update("jax_compilation_cache_dir", "/path/to/cache")  # or $JAX_COMPILATION_CACHE_DIR
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

(the experiments do this under ``$JAXCNN_CACHE/xla``). Within one process, a second
:func:`train` call with the same transform and augmentation objects compiles nothing.

A **non-finite loss** stops training with :class:`NonFiniteLossError` (a
``FloatingPointError``) naming the epoch, step and value; nothing is checkpointed after
the last good epoch.

Multi-host use (:mod:`jaxcnn.train.distributed`): call
:func:`~jaxcnn.train.distributed.initialize` (coordinator address, process count and id,
from arguments or JAX's environment variables; gloo collectives on CPU) at the very start
of every process, before any other JAX call. Then build the same model with the same
seed in every process and pass each process *its own equal-sized slice* of the examples
(:func:`~jaxcnn.train.distributed.process_slice`); the global dataset is the
concatenation in process order (built with ``jax.make_array_from_process_local_data``).
``checkpoint_dir`` must be on a file system all processes share (each writes its shards).
Only process 0 shows a progress bar; every process gets the same results dict.

Example:
    >>> import jax, numpy as np, optax
    >>> from flax import nnx
    >>> from jaxcnn.train import TrainConfig, train
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(512, 8)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int32)
    >>> data = {"x_train": x[:384], "y_train": y[:384], "x_test": x[384:], "y_test": y[384:]}
    >>> model = nnx.Sequential(nnx.Linear(8, 16, rngs=nnx.Rngs(0)), jax.nn.relu,
    ...                        nnx.Linear(16, 2, rngs=nnx.Rngs(1)))
    >>> results = train(model, optax.adam(1e-2), data, key=jax.random.key(0),
    ...                 config=TrainConfig(epochs=5, batch_size=64, progress=False))
    >>> results["final"]["test_acc"] > 0.9
    True
"""

from jaxcnn.train.config import Callback, Loss, NonFiniteLossError, ShardMode, TrainConfig
from jaxcnn.train.loop import train, train_seeds
from jaxcnn.train.schedules import cosine_schedule, steps_per_epoch
from jaxcnn.train.sharding import fsdp_spec, make_mesh, param_sharding
from jaxcnn.train.steps import TRACE_COUNTS

__all__ = [
    "TrainConfig",
    "NonFiniteLossError",
    "Loss",
    "ShardMode",
    "Callback",
    "train",
    "train_seeds",
    "cosine_schedule",
    "steps_per_epoch",
    "make_mesh",
    "param_sharding",
    "fsdp_spec",
    "TRACE_COUNTS",
]
