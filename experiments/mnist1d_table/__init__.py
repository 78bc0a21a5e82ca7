"""Study: the MNIST-1D table (Greydanus & Kobak), normal and shuffled pixels, with our
β-LASSO row.

``python -m experiments.mnist1d_table`` (:mod:`experiments.mnist1d_table.run`, which
documents the protocol). Modules: ``config`` (presets), ``run`` (the runs and the command
line), ``tables`` (README tables), ``figures`` (drawn from the results JSON alone).
"""
