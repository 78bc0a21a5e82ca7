"""Study: the eCNN (d'Ascoli, Sagun, Biroli, Bruna 2019): a CNN embedded in an FC net at
a relax epoch and trained on as an FC net.

``python -m experiments.ecnn`` (:mod:`experiments.ecnn.run`, which documents the
protocol). Modules: ``config`` (presets), ``arms`` (the CNN, the eCNN of each relax epoch,
the FC from scratch), ``run`` (the command line), ``tables`` (statistics and README
tables), ``figures`` (drawn from the results JSON alone).
"""
