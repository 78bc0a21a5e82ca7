"""Study: can a fully connected net learn to be a CNN? (Neyshabur 2020, S-CONV / S-LOCAL /
S-FC with SGD and β-LASSO.)

``python -m experiments.learn_conv`` (:mod:`experiments.learn_conv.run`, which documents
the protocol). Modules: ``config`` (presets), ``run`` (the training runs and the command
line), ``tables`` (seed summaries, paired comparisons, README tables), ``figures`` (drawn
from the results JSON alone).
"""
