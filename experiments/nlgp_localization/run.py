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
paper's headline figure), ``nlgp_receptive_fields.png`` and ``nlgp_ipr_vs_gain.png``,
drawn from the JSON alone (:func:`experiments.nlgp_localization.figures.draw`, called by
:func:`experiments.harness.outputs.write_results`; their file names go into
``results["figures"]``); only process 0 of a multi-process run writes.

Layout (``experiments/nlgp_localization/``): this module is :func:`run` and :func:`main`;
the presets are in :mod:`experiments.nlgp_localization.config`, the network and the
jitted SGD chunks in :mod:`experiments.nlgp_localization.model`, the resumable online-SGD
runs in :mod:`experiments.nlgp_localization.online`, the main runs, gain sweep,
comparisons and results dict in :mod:`experiments.nlgp_localization.results`, the tables
in :mod:`experiments.nlgp_localization.tables`, the figures in
:mod:`experiments.nlgp_localization.figures`.
"""

from __future__ import annotations

import time

from experiments.harness.cli import RunOptions, experiment_main
from experiments.harness.outputs import publish
from experiments.nlgp_localization import figures
from experiments.nlgp_localization.config import PRESETS
from experiments.nlgp_localization.results import (gain_sweep, main_runs, results_dict,
                                                   run_checkpoint, seed_keys)
from experiments.nlgp_localization.tables import print_tables

__all__ = ["NAME", "main", "run"]

NAME = "nlgp_localization"


def run(options: RunOptions) -> dict:
    """Runs the preset for every seed: NLGP vs GP curves, receptive fields, gain sweep;
    process 0 saves the JSON and the PNGs drawn from it. ``options.argv`` goes into the
    provenance record."""
    cfg, overrides = options.preset_config(PRESETS)  # checked (NLGPConfig.check_fields)
    if options.devices not in (None, 1):
        print("note: online SGD runs on one device; --devices is ignored")
    start = time.perf_counter()
    seeds = options.seed_list(cfg.seeds)
    k_main, k_sweep = seed_keys(seeds)
    checkpoint_for, resumed = run_checkpoint(options), {}
    runs = main_runs(cfg, k_main, seeds=seeds, progress=options.progress,
                     checkpoint_for=checkpoint_for, resumed=resumed)
    sweep = gain_sweep(cfg, k_sweep, runs, seeds=seeds, progress=options.progress,
                       checkpoint_for=checkpoint_for, resumed=resumed)
    results = results_dict(cfg, runs, sweep, name=NAME, preset=options.preset, seeds=seeds,
                           overrides=overrides, resumed=resumed,
                           wall_time=time.perf_counter() - start)
    publish(options, results, NAME, seeds=seeds, show=print_tables, draw=figures.draw)
    return results


main = experiment_main(run, NAME, __doc__)


if __name__ == "__main__":
    main()
