"""The studies of jaxcnn, one folder each, on one harness.

* ``experiments/<study>/``: one study (``learn_conv``, ``mnist1d_table``,
  ``sample_efficiency``, ``nlgp_localization``, ``ecnn``, ``equivalence``): its presets,
  runs, tables and figures; ``python -m experiments.<study>`` runs it.
* :mod:`experiments.harness`: what every study shares (command line, presets, outputs,
  provenance, report, plots, shared study code); it imports no study.
* :mod:`experiments.registry`: the studies, one line each, read by
  ``python -m experiments.all`` (every study into one folder), ``python -m
  experiments.report`` (the README tables) and ``python -m experiments.plot`` (a results
  file's figures).

A study imports the harness and itself only; ``tools/architecture.py`` checks the
layering.
"""
