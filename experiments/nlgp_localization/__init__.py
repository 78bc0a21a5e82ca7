"""Study: localization of first-layer weights under non-Gaussian inputs (Ingrosso & Goldt
2022), NLGP vs its Gaussian clone.

``python -m experiments.nlgp_localization`` (:mod:`experiments.nlgp_localization.run`,
which documents the protocol). Modules: ``config`` (presets), ``model`` (the network and
the jitted online-SGD chunks), ``online`` (the resumable per-seed runs), ``results`` (the
main runs, gain sweep, comparisons and results dict), ``tiling`` (unit centres and the
tiling statistic), ``run`` (the command line),
``tables`` (README tables), ``figures`` (drawn from the results JSON alone).
"""
