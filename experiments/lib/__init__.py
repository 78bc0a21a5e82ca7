"""Library code shared by the experiment scripts (no script imports another script).

* :mod:`experiments.lib.nets`: the Neyshabur models (S-CONV, S-LOCAL, S-FC, 3-FC), one
  initialisation per (architecture, seed), and their optimizers (SGD, β-LASSO).
* :mod:`experiments.lib.measures`: exact non-zero counts and the first-layer metrics
  (locality, weight sharing, IPR) of a trained model, and the units a receptive-field
  figure shows.
* :mod:`experiments.lib.datasets`: loading, sub-sampling, first-layer window per dataset.
* :mod:`experiments.lib.outputs`: the one place results and figures are written (process
  0 only) and reported, and the checkpoint settings of a run.
"""
