"""The runs and the results dict of ``experiments.nlgp_localization``.

A module of the study (:mod:`experiments.nlgp_localization.run` documents the protocol):
the NLGP and GP main runs, the gain sweep, their paired comparison (:func:`compare`), and
the JSON-ready results (:func:`results_dict`: summary, comparison rows, curves, receptive
fields). Every run is :func:`experiments.nlgp_localization.online.train_online`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from jaxcnn import stats
from jaxcnn.validation import error

from experiments.harness.cli import RunOptions
from experiments.nlgp_localization.config import NLGPConfig
from experiments.nlgp_localization.model import input_dim
from experiments.nlgp_localization.online import train_online
from experiments.nlgp_localization.tables import LOCALISED_FACTOR
from experiments.nlgp_localization.tiling import NULL_DRAWS, arm_tiling

__all__ = ["ACCEPTANCE_RATIO", "PUBLISHED_IPR", "RUNS", "compare",
           "gain_sweep", "main_runs", "results_dict", "run_checkpoint", "seed_keys"]

#: Published reference (Ingrosso & Goldt 2022, D = 400): mean IPR at t = 1e2 and 1e4.
PUBLISHED_IPR = {"D": 400, "t": (1e2, 1e4), "nlgp": (0.008, 0.055), "gp": (0.008, 0.008)}
#: Acceptance: the mean NLGP IPR is at least this many times the mean GP IPR.
ACCEPTANCE_RATIO = 3.0
#: The IPR of a random D-vector is about this over D.
RANDOM_IPR_TIMES_D = 3
#: The two runs of each setting: ``(name, gaussian)``.
RUNS = (("nlgp", False), ("gp", True))
#: The tiling null's PRNG seed (``fold_in(key(TILING_SEED), k)`` for ``k`` centres).
TILING_SEED = 0
#: Significant digits of the stored receptive fields.
FIELD_DIGITS = 4
#: Per-run keys of :func:`train_online` that are not curves.
NOT_CURVES = ("weights", "wall_time", "resumed_from")

#: ``run name -> state file`` (``None``: no checkpoints).
CheckpointFor = Callable[[str], str] | None


def run_checkpoint(options: RunOptions, *, tag: str = "") -> CheckpointFor:
    """With ``--resume``: ``run_name -> OUT/checkpoints/nlgp_localization/PRESET-RUN/state.npz``
    (``PRESET-TAG-RUN`` with a ``tag``, e.g. ``2d`` for a torus run; folder created);
    without: ``None`` (no checkpoints)."""
    if not options.resume:
        return None

    def path(run_name: str) -> str:
        folder = options.checkpoint_dir("-".join(p for p in (options.preset, tag, run_name)
                                                 if p))
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, "state.npz")

    return path


def seed_keys(seeds: list[int]) -> tuple[jax.Array, jax.Array]:
    """``(main keys, sweep keys)``, one of each per seed: ``split(key(s))``."""
    split = jax.vmap(jax.random.split)(jax.vmap(jax.random.key)(jnp.asarray(seeds)))
    return split[:, 0], split[:, 1]


def nan_to_none(d: Mapping) -> dict:
    """JSON has no NaN: a missing interval (one seed) is stored as ``None``."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def compare(nlgp: Mapping, gp: Mapping) -> dict:
    """Final IPR and test error of NLGP vs GP runs of the same seeds.

    Returns:
      ``{"ipr_nlgp", "ipr_gp", "test_error_nlgp", "test_error_gp"`` (summaries over seeds),
      ``"ipr_diff_nlgp_minus_gp"`` (:func:`jaxcnn.stats.paired_difference`, 95% CI;
      ``None`` bounds with one seed), ``"ratio_of_means"`` (mean NLGP IPR / mean GP IPR),
      ``"per_seed": [{"seed", "ipr_nlgp", "ipr_gp", "test_error_nlgp",
      "test_error_gp"}]}``.

    Raises:
      ValueError: the GP runs have other seeds than the NLGP runs.
    """
    seeds = [c["seed"] for c in nlgp["per_seed"]]
    if seeds != [c["seed"] for c in gp["per_seed"]]:
        raise error("gp", f"the seeds of the NLGP runs {seeds}",
                    [c["seed"] for c in gp["per_seed"]])
    out = {f"{m}_{n}": stats.summary(r[f"final_{m}"]) for m in ("ipr", "test_error")
           for n, r in (("nlgp", nlgp), ("gp", gp))}
    out["ipr_diff_nlgp_minus_gp"] = nan_to_none(
        stats.paired_difference(nlgp["final_ipr"], gp["final_ipr"]))
    out["ratio_of_means"] = out["ipr_nlgp"]["mean"] / out["ipr_gp"]["mean"]
    out["per_seed"] = [{"seed": s, "ipr_nlgp": a, "ipr_gp": b, "test_error_nlgp": e1,
                        "test_error_gp": e2}
                       for s, a, b, e1, e2 in zip(seeds, nlgp["final_ipr"], gp["final_ipr"],
                                                  nlgp["final_test_error"],
                                                  gp["final_test_error"])]
    return out


def main_runs(cfg: NLGPConfig, keys: jax.Array, *, seeds: list[int], progress: bool = False,
              checkpoint_for: CheckpointFor = None, resumed: dict | None = None) -> dict:
    """The NLGP and GP runs of the main gain, ``{"nlgp": run, "gp": run}``.

    Both use the same keys: the same initial weights, white noise, labels and test noise.
    ``resumed[name]`` is set to the chunk each resumed run continued from.
    """
    runs = {}
    for name, gaussian in RUNS:
        runs[name] = train_online(cfg, keys, gain=cfg.gain, gaussian=gaussian,
                                  time_max=cfg.time_max, seeds=seeds, progress=progress,
                                  checkpoint=checkpoint_for(name) if checkpoint_for else None)
        if resumed is not None and runs[name]["resumed_from"] is not None:
            resumed[name] = runs[name]["resumed_from"]
    return runs


def gain_sweep(cfg: NLGPConfig, keys: jax.Array, main: Mapping, *, seeds: list[int],
               progress: bool = False, checkpoint_for: CheckpointFor = None,
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
        for name, gaussian in RUNS:
            if g == cfg.gain and cfg.sweep_time_max == cfg.time_max:
                runs[name] = main[name]
                continue
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


def summary(cfg: NLGPConfig, seeds: list[int], main_cmp: Mapping) -> dict:
    """The headline numbers: final IPR / test error of NLGP and GP, their paired difference,
    the ratio of means and the acceptance checks."""
    d = input_dim(cfg)
    diff = main_cmp["ipr_diff_nlgp_minus_gp"]
    return {
        "D": d, "random_ipr_3_over_D": RANDOM_IPR_TIMES_D / d, "n": len(seeds),
        "final_ipr_nlgp": main_cmp["ipr_nlgp"], "final_ipr_gp": main_cmp["ipr_gp"],
        "ipr_diff_nlgp_minus_gp": diff, "ipr_ratio_of_means": main_cmp["ratio_of_means"],
        "final_test_error_nlgp": main_cmp["test_error_nlgp"],
        "final_test_error_gp": main_cmp["test_error_gp"],
        "acceptance_ratio_ge_3": bool(main_cmp["ratio_of_means"] >= ACCEPTANCE_RATIO),
        "acceptance_diff_ci_above_0": (None if diff["ci_low"] is None
                                       else bool(diff["ci_low"] > 0.0)),
    }


def comparison_rows(cfg: NLGPConfig, main_cmp: Mapping, sweep: list[dict]) -> list[dict]:
    """The paired NLGP - GP differences in final IPR: the main run, then each gain."""
    rows = [{"comparison": "NLGP - GP", "run": "main", "gain": float(cfg.gain),
             "time_max": float(cfg.time_max), "metric": "final_ipr",
             **main_cmp["ipr_diff_nlgp_minus_gp"],
             "ratio_of_means": main_cmp["ratio_of_means"]}]
    rows += [{"comparison": "NLGP - GP", "run": "gain sweep", "gain": r["gain"],
              "time_max": r["time_max"], "metric": "final_ipr",
              **r["ipr_diff_nlgp_minus_gp"], "ratio_of_means": r["ratio_of_means"]}
             for r in sweep]
    return rows


def tiling_record(cfg: NLGPConfig, runs: Mapping, seeds: list[int]) -> dict:
    """How the localised units (final IPR > ``LOCALISED_FACTOR`` x 3/D) tile the field, per
    arm (:func:`experiments.nlgp_localization.tiling.arm_tiling`; null: uniform centres,
    :data:`NULL_DRAWS` draws from ``key(TILING_SEED)``)."""
    threshold = LOCALISED_FACTOR * RANDOM_IPR_TIMES_D / input_dim(cfg)
    key = jax.random.key(TILING_SEED)
    out = {"threshold": threshold, "null_draws": NULL_DRAWS, "null_seed": TILING_SEED}
    for name, r in runs.items():
        out[name] = arm_tiling(r["weights"], [c["ipr_units"][-1] for c in r["per_seed"]],
                               seeds, cfg.shape, threshold=threshold, key=key)
    return out


def rounded(weights: list, digits: int = FIELD_DIGITS) -> list:
    """Nested lists of floats rounded to ``digits`` significant digits (smaller JSON)."""
    if isinstance(weights, list):
        return [rounded(w, digits) for w in weights]
    return float(f"{weights:.{digits}g}")


def results_dict(cfg: NLGPConfig, runs: Mapping, sweep: list[dict], *, name: str,
                 preset: str, seeds: list[int], overrides: dict, resumed: dict,
                 wall_time: float) -> dict:
    """The JSON-ready results of a run (without its provenance).

    ``curves`` holds each main run's logged curves (everything of :func:`train_online` but
    the weights), ``receptive_fields`` each main run's final first-layer weights per seed
    (``(D, K)`` lists, :data:`FIELD_DIGITS` significant digits), ``tiling`` the centres of
    the localised units and their tiling statistic (:func:`tiling_record`).
    """
    main_cmp = compare(runs["nlgp"], runs["gp"])
    return {
        "experiment": name, "preset": preset, "seeds": seeds, "overrides": overrides,
        "config": dataclasses.asdict(cfg), "published": PUBLISHED_IPR,
        "summary": summary(cfg, seeds, main_cmp), "per_seed": main_cmp["per_seed"],
        "comparisons": comparison_rows(cfg, main_cmp, sweep),
        "curves": {n: {k: v for k, v in r.items() if k not in NOT_CURVES}
                   for n, r in runs.items()},
        "receptive_fields": {n: rounded(r["weights"]) for n, r in runs.items()},
        "tiling": tiling_record(cfg, runs, seeds),
        "gain_sweep": sweep, "device": str(jax.devices()[0]),
        "resumed_from": resumed or None, "wall_time": wall_time,
    }
