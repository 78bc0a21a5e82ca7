"""d'Ascoli et al. 2019: embed a CNN into its equivalent FC net (eCNN) and keep training.

    python -m experiments.ecnn --preset smoke|default|paper [--out DIR] [--seeds N] [--seed S]

An S-CONV (:class:`jaxcnn.models.SConv`, 1-D) is trained on MNIST-1D. At each relax
epoch ``r`` it is embedded exactly into an S-FC (:func:`jaxcnn.models.embed`,
``norm="channel"``: identical logits; the maximum difference is measured on the test
set and recorded) which is then trained in FC space for the remaining ``epochs - r``
epochs, under each FC-phase treatment of the preset (``"same_lr"``: the CNN's SGD step
as it is; ``"conv_step"``: the first layer's conv component given the CNN's own step,
:func:`jaxcnn.optim.embedded_conv_step`; :mod:`experiments.ecnn.config` says why).
Baselines: the CNN trained for the whole budget, and the same S-FC class
trained from scratch (standard initialisation). The distance of the FC first layer to
the convolution subspace (:func:`jaxcnn.metrics.conv_distance`) is logged every epoch.

Seeds. Every arm (the CNN, the eCNN of each relax epoch, the FC from scratch) is trained
once per seed ``s`` in ``SEED .. SEED + N - 1`` (``--seed``, ``--seeds``; default: the
preset's ``seeds``), all seeds of an arm in one vmapped program
(:func:`jaxcnn.train.train_seeds`). The CNN of seed ``s`` is initialised from seed ``s``
and sees the data in the order of ``jax.random.key(s)``; its snapshots at the relax epochs
are kept per seed, and the eCNN of seed ``s`` starts from seed ``s``'s snapshot (its FC
phase again uses the data order of ``key(s)``, from that order's first epoch). The FC
from scratch of seed ``s`` is initialised from seed ``s + 1`` and sees the order of
``key(s)``. Every number is a mean ± std over seeds; every comparison is a paired
difference over the same seeds with a 95% Student-t interval: eCNN(r) - CNN pairs an
eCNN with the very CNN it was embedded from; eCNN(r) - FC from scratch pairs runs that
share the seed's data order (their initialisations differ by design).

``report_tables(results)`` gives the Markdown tables ``ecnn.main`` (per arm: n, test
accuracy, accuracy at the embedding, conv distance, embedding error) and
``ecnn.comparisons`` (paired differences in test accuracy, with their 95% CI); ``main()``
prints both.

Resume. With ``--resume`` every training run checkpoints each epoch (orbax, via
:func:`jaxcnn.train.train_seeds`) under ``DIR/checkpoints/ecnn/PRESET-RUN/`` (``RUN``:
``cnn``, ``relax_R`` (``relax_R_conv_step``), ``fc_scratch``), and the CNN snapshots at the relax epochs are saved
as ``DIR/checkpoints/ecnn/PRESET-cnn/snapshots/seed<S>-epoch<E>.npz``; rerunning the same
command with ``--resume`` after a crash continues from the latest checkpoints (runs that
finished are restored, not retrained) and gives the results of an uninterrupted run. Each
arm records ``resumed_from`` (the epoch it was restored at, ``None`` for a fresh run);
the top-level ``resumed_from`` maps the resumed arms to theirs (``None``: nothing
resumed). Without ``--resume`` nothing is checkpointed.

Writes ``DIR/ecnn.json``, ``DIR/ecnn_relax.png`` (final accuracy vs relax epoch) and
``DIR/ecnn_conv_distance.png`` (distance to the conv subspace during training). The
figures are drawn from the JSON alone (:func:`experiments.ecnn.figures.draw`, called by
:func:`experiments.harness.outputs.write_results`; their file names go into
``results["figures"]``), and only process 0 of a multi-process run writes.

Layout (``experiments/ecnn/``): this module is :func:`run` and :func:`main`; the presets
are in :mod:`experiments.ecnn.config`, the arms in :mod:`experiments.ecnn.arms`, the
statistics and tables in :mod:`experiments.ecnn.tables`, the figures in
:mod:`experiments.ecnn.figures`.
"""

from __future__ import annotations

import dataclasses
import time

import jax

from experiments.ecnn import figures
from experiments.ecnn.arms import relax_run, resumed_arms, scratch_run, train_cnn
from experiments.ecnn.config import PRESETS
from experiments.ecnn.tables import comparisons, print_table
from experiments.harness.cli import RunOptions, experiment_main
from experiments.harness.datasets import load_data
from experiments.harness.outputs import publish

__all__ = ["NAME", "main", "run"]

NAME = "ecnn"


def run(options: RunOptions) -> dict:
    """CNN, eCNN at every relax epoch, FC from scratch (every seed); tables, JSON, figures.

    The command line (``options.argv``) goes into the provenance record; process 0 writes
    the JSON and then the figures drawn from it (:func:`experiments.ecnn.figures.draw`).
    """
    cfg, overrides = options.preset_config(PRESETS)  # checked (ECNNConfig.check_fields)
    start = time.perf_counter()
    data = load_data(cfg.dataset, **({} if cfg.num_samples is None
                                      else {"num_samples": cfg.num_samples}))
    seeds = options.seed_list(cfg.seeds)
    cnn, snapshots = train_cnn(cfg, data, options, seeds)
    relax = [relax_run(cfg, data, options, seeds, r, {s: snapshots[s][r] for s in seeds},
                       treatment=t)
             for t in cfg.treatments for r in sorted(set(cfg.relax_epochs))]
    scratch = scratch_run(cfg, data, options, seeds)
    results = {"experiment": NAME, "preset": options.preset, "seeds": seeds,
               "overrides": overrides, "config": dataclasses.asdict(cfg), "cnn": cnn,
               "relax": relax, "fc_scratch": scratch,
               "max_embedding_diff": max(r["max_embedding_diff"] for r in relax),
               "resumed_from": resumed_arms(cnn, relax, scratch),
               "device": str(jax.devices()[0]), "devices": options.devices or 1}
    results["comparisons"] = comparisons(results)
    results["wall_time"] = time.perf_counter() - start
    publish(options, results, NAME, seeds=seeds, show=print_table, gap="",
            draw=figures.draw)
    return results


main = experiment_main(run, NAME, __doc__)


if __name__ == "__main__":
    main()
