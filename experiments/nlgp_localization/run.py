"""Ingrosso & Goldt 2022: non-Gaussian inputs make a two-layer net's weights localise.

    python -m experiments.nlgp_localization --preset smoke|default|paper [--out DIR]
        [--seeds N] [--seed S]
    python -m experiments.nlgp_localization --torus [--preset ...]   # 20x20, 2-D results

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

Tiling. The units whose final IPR exceeds 5 x 3/D (the ``localised`` table's rule) get a
centre, the periodic centroid of their squared weights, and per seed their mean
nearest-neighbour distance on the ring / torus is compared with that of as many uniformly
random centres (a Monte Carlo null with a fixed key): ratio observed / null (> 1: the
units tile the field more evenly than chance) and percentile, summarised over the seeds
with at least two localised units (:mod:`experiments.nlgp_localization.tiling`; stored
under ``tiling`` with the centres).

Ring and torus. ``--torus`` takes the presets of
:data:`experiments.nlgp_localization.config.TORUS_PRESETS` (``default``: the paper's
20x20 setting scaled to a few CPU minutes; its docstring says where it departs from the
paper). A run on a torus (any ``(H, W)`` shape, also the ring presets' ``paper``) writes
``nlgp_localization_2d.json`` (``results_stem``), so ring and torus results share one
``--out`` and one ``docs/results``, and its checkpoints go to ``PRESET-2d-RUN``.

``report_tables(results)`` gives the Markdown tables ``STEM.main`` (IPR and test error vs
``t``), ``STEM.gain`` (with a gain sweep), ``STEM.comparisons``, ``STEM.localised`` and
``STEM.tiling`` (``STEM``: ``nlgp_localization`` or ``nlgp_localization_2d``); ``main()``
prints them.

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
paper's headline figure), ``nlgp_receptive_fields.png`` and ``nlgp_ipr_vs_gain.png`` (a
torus run: ``DIR/nlgp_localization_2d.json``, ``nlgp2d_ipr_vs_time.png``,
``nlgp2d_receptive_fields.png``, ``nlgp2d_tiling.png``), drawn from the JSON alone (:func:`experiments.nlgp_localization.figures.draw`, called by
:func:`experiments.harness.outputs.write_results`; their file names go into
``results["figures"]``); only process 0 of a multi-process run writes.

Layout (``experiments/nlgp_localization/``): this module is :func:`run` and :func:`main`;
the presets are in :mod:`experiments.nlgp_localization.config`, the network and the
jitted SGD chunks in :mod:`experiments.nlgp_localization.model`, the resumable online-SGD
runs in :mod:`experiments.nlgp_localization.online`, the main runs, gain sweep,
comparisons and results dict in :mod:`experiments.nlgp_localization.results`, the
centroids and the tiling statistic in :mod:`experiments.nlgp_localization.tiling`, the tables
in :mod:`experiments.nlgp_localization.tables`, the figures in
:mod:`experiments.nlgp_localization.figures`.
"""

from __future__ import annotations

import argparse
import time

from experiments.harness.cli import RunOptions, build_parser, cli_main
from experiments.harness.outputs import write_results
from experiments.harness.provenance import provenance
from experiments.nlgp_localization import figures
from experiments.nlgp_localization.config import NAME, PRESETS, presets_for, results_stem
from experiments.nlgp_localization.results import (gain_sweep, main_runs, results_dict,
                                                   run_checkpoint, seed_keys)
from experiments.nlgp_localization.tables import print_tables

__all__ = ["NAME", "PRESETS", "build_cli", "main", "resolve_config", "results_file", "run"]

#: The checkpoint tag of a torus run (``PRESET-2d-RUN``; a ring run has none).
TORUS_TAG = "2d"


def resolve_config(options: RunOptions):
    """``(config, applied overrides)``: the ring or (``--torus``) torus preset with the
    ``--set`` overrides applied (checked, :meth:`NLGPConfig.check_fields`)."""
    return options.preset_config(presets_for(bool(options.extra.get("torus"))))


def results_file(options: RunOptions) -> str:
    """The results JSON of a run in ``--out``: ``nlgp_localization.json`` for a ring,
    ``nlgp_localization_2d.json`` for a torus (:func:`results_stem` of the config's shape)."""
    return f"{results_stem(resolve_config(options)[0].shape)}.json"


def run(options: RunOptions) -> dict:
    """Runs the preset for every seed: NLGP vs GP curves, receptive fields, tiling, gain
    sweep; process 0 saves ``STEM.json`` and the PNGs drawn from it. ``options.argv``
    goes into the provenance record."""
    cfg, overrides = resolve_config(options)
    if options.devices not in (None, 1):
        print("note: online SGD runs on one device; --devices is ignored")
    start = time.perf_counter()
    seeds = options.seed_list(cfg.seeds)
    stem = results_stem(cfg.shape)
    k_main, k_sweep = seed_keys(seeds)
    checkpoint_for = run_checkpoint(options, tag="" if stem == NAME else TORUS_TAG)
    resumed = {}
    runs = main_runs(cfg, k_main, seeds=seeds, progress=options.progress,
                     checkpoint_for=checkpoint_for, resumed=resumed)
    sweep = gain_sweep(cfg, k_sweep, runs, seeds=seeds, progress=options.progress,
                       checkpoint_for=checkpoint_for, resumed=resumed)
    results = results_dict(cfg, runs, sweep, name=NAME, preset=options.preset, seeds=seeds,
                           overrides=overrides, resumed=resumed,
                           wall_time=time.perf_counter() - start)
    results["provenance"] = provenance(name=NAME, preset=options.preset, seeds=seeds,
                                       wall_time=results["wall_time"],
                                       argv=list(options.argv))
    path = write_results(options, results, stem, draw=figures.draw)
    if path is not None:
        print_tables(results)
        print(f"\nwrote {path} ({results['wall_time']:.0f} s)")
    return results


def build_cli() -> argparse.ArgumentParser:
    """The common parser (no ``--dataset``) plus ``--torus``."""
    parser = build_parser(NAME, __doc__.splitlines()[0], datasets=None)
    parser.add_argument("--torus", action="store_true",
                        help="the 2-D torus presets (default: 20x20, a few CPU minutes); "
                             "writes nlgp_localization_2d.json")
    return parser


def main(argv=None):
    """CLI entry point: ``python -m experiments.nlgp_localization [--torus] [flags]``."""
    return cli_main(run, build_cli(), argv, results_file=results_file)


if __name__ == "__main__":
    main()
