"""The harness every study runs on: command line, presets, outputs, report, plots, shared
study code. It imports nothing of the studies (``tools/architecture.py`` checks it), and
its modules import each other without a cycle.

* :mod:`~experiments.harness.errors`: :class:`CLIError`, the one user error (one line,
  exit status 2).
* :mod:`~experiments.harness.cli`: the common flags, :class:`RunOptions`, ``cli_main`` and
  ``experiment_main`` (every study's ``main``).
* :mod:`~experiments.harness.locations`: output folders and files checked before any work.
* :mod:`~experiments.harness.overrides`: ``--set NAME=VALUE`` against a preset's field types.
* :mod:`~experiments.harness.config`: ``PresetConfig``, the self-checking base of every
  preset.
* :mod:`~experiments.harness.provenance`: commit, command, packages, device, date of a run.
* :mod:`~experiments.harness.outputs`: results JSON and figures, written atomically by
  process 0 only; checkpoint settings.
* :mod:`~experiments.harness.cache`: JAX's persistent compilation cache.
* :mod:`~experiments.harness.tables`: Markdown tables.
* :mod:`~experiments.harness.plots`: matplotlib helpers, ``save_figure``, ``draw_each``.
* :mod:`~experiments.harness.render`, :mod:`~experiments.harness.readme`,
  :mod:`~experiments.harness.refresh`: the README tables from results JSON
  (``python -m experiments.report``).
* :mod:`~experiments.harness.datasets`, :mod:`~experiments.harness.nets`,
  :mod:`~experiments.harness.measures`: study code shared by ``learn_conv`` and
  ``sample_efficiency`` (and ``ecnn``, ``mnist1d_table`` for loading data): datasets,
  the Neyshabur models and optimizers, what is measured on a trained model.
"""
