"""Study: test accuracy vs training-set size, CNN vs LCN vs FC vs β-LASSO FC, natural and
shuffled pixel order.

``python -m experiments.sample_efficiency`` (:mod:`experiments.sample_efficiency.run`,
which documents the protocol). Modules: ``config`` (presets), ``run`` (the sweep and the
command line), ``tables`` (README tables), ``figures`` (drawn from the results JSON
alone).
"""
