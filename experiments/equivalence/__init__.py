"""Study: one 2-D layer four ways — conv, patches + dense, LCN, FC — computed and compared.

``python -m experiments.equivalence`` (:mod:`experiments.equivalence.run`). No presets,
README tables or figures.
"""
