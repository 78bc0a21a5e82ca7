"""The studies, one line each: what ``python -m experiments.all``, ``.report`` and ``.plot``
read.

A study is one folder ``experiments/<name>/`` and one line in :data:`STUDIES`. The folder
holds (by convention; each :class:`Study` field can name another module):

* ``run.py``: ``main(argv=None)``, the study's command line
  (:func:`experiments.harness.cli.cli_main`), and ``__main__.py`` calling it, so that
  ``python -m experiments.<name>`` runs it;
* ``tables.py``: ``report_tables(results) -> {table id: Markdown}``, the README tables
  of its results JSON (:mod:`experiments.harness.render`);
* ``figures.py``: ``draw(results, out_dir) -> {file name: path}``, its figures from the
  results JSON alone;
* ``config.py``: its presets (:class:`experiments.harness.config.PresetConfig`).

A study imports the harness (:mod:`experiments.harness`) and its own modules only, never
another study (``tools/architecture.py`` checks it); this module names the studies by
string and imports them only when asked.

More studies (a test's toy study, a study kept outside this package) join through the
environment variable ``JAXCNN_STUDIES``: comma-separated module names, each defining
``STUDIES``, a sequence of :class:`Study`, appended after the built-in ones::

    JAXCNN_STUDIES=my_registry python -m experiments.all --only toy --out results

Example:
    >>> study("learn_conv").module
    'experiments.learn_conv'
    >>> study("learn_conv").results
    ('learn_conv', 'learn_conv_mnist', 'learn_conv_mnist_shuffled')
    >>> report_modules()["ecnn"]
    'experiments.ecnn.tables'
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jaxcnn.validation import Text, error

__all__ = ["ENV", "STUDIES", "Study", "report_modules", "studies", "study"]

#: The environment variable naming modules with more studies (their ``STUDIES``).
ENV = "JAXCNN_STUDIES"


@dataclasses.dataclass(frozen=True)
class Study:
    """One study: where its command line, tables and figures are.

    Module fields starting with ``.`` are inside :attr:`module` (``".run"`` is
    ``experiments.NAME.run``); others are full module names.

    Attributes:
      name: the study (``python -m experiments.NAME``; its results file ``NAME.json``
        carries ``"experiment": NAME``).
      package: the package of the study (``None``: ``experiments.NAME``).
      results: the results names (``RESULTS_DIR/<result>.json``) whose tables the README
        shows, in order (``None``: ``(name,)``; ``()``: none).
      presets: it takes ``--preset``, ``--devices``, ``--no-progress`` and ``--resume``
        (``experiments.all`` passes them on).
      run: the module with ``main(argv=None)``.
      tables: the module with ``report_tables(results)`` (``None``: no README tables).
      figures: the module with ``draw(results, out_dir)`` (``None``: no figures).
    """

    name: str
    package: str | None = None
    results: tuple[str, ...] | None = None
    presets: bool = True
    run: str = ".run"
    tables: str | None = ".tables"
    figures: str | None = ".figures"

    @property
    def module(self) -> str:
        """The study's package (``experiments.NAME`` unless :attr:`package` is set)."""
        return self.package or f"experiments.{self.name}"

    def resolve(self, module: str) -> str:
        """A module field as a full module name."""
        return f"{self.module}{module}" if module.startswith(".") else module

    def report_names(self) -> tuple[str, ...]:
        """The results names whose tables the README shows (none without :attr:`tables`)."""
        if self.tables is None:
            return ()
        return (self.name,) if self.results is None else tuple(self.results)

    def main(self) -> Callable[..., Any]:
        """The study's ``main(argv=None)`` (imports its run module).

        Raises:
          ModuleNotFoundError: the run module does not exist.
          AttributeError: it has no ``main``.
        """
        return getattr(importlib.import_module(self.resolve(self.run)), "main")

    def draw(self) -> Callable[[Mapping[str, Any], Any], Mapping[str, str]] | None:
        """The study's figure function ``draw(results, out_dir)``, or ``None`` if it has
        no figures (imports its figures module)."""
        if self.figures is None:
            return None
        return getattr(importlib.import_module(self.resolve(self.figures)), "draw")


#: The built-in studies, in the order ``python -m experiments.all`` runs them.
STUDIES: tuple[Study, ...] = (
    Study("equivalence", presets=False, tables=None, figures=None),
    Study("learn_conv", results=("learn_conv", "learn_conv_mnist", "learn_conv_mnist_shuffled")),
    Study("mnist1d_table"),
    Study("nlgp_localization", results=("nlgp_localization", "nlgp_localization_2d")),
    Study("ecnn"),
    Study("sample_efficiency"),
    Study("sharing_emergence"),
)


def _extra_studies(value: str) -> list[Study]:
    extra = []
    for module_name in (m.strip() for m in value.split(",") if m.strip()):
        found = getattr(importlib.import_module(module_name), "STUDIES", None)
        if not isinstance(found, Sequence) or not all(isinstance(s, Study) for s in found):
            raise error(ENV, f"modules with STUDIES, a sequence of Study ({module_name})",
                        Text(type(found).__name__))
        extra += list(found)
    return extra


def studies() -> tuple[Study, ...]:
    """Every study: :data:`STUDIES`, then those of the modules named by ``JAXCNN_STUDIES``.

    Raises:
      ValueError: two studies of one name, or a ``JAXCNN_STUDIES`` module without
        ``STUDIES``.
    """
    every = [*STUDIES, *_extra_studies(os.environ.get(ENV, ""))]
    names = [s.name for s in every]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise error("studies", "one study per name", Text(f"{', '.join(twice)} twice"))
    return tuple(every)


def study(name: str) -> Study | None:
    """The study called ``name``, or ``None``."""
    return next((s for s in studies() if s.name == name), None)


def report_modules(every: Sequence[Study] | None = None) -> dict[str, str]:
    """``{results name: module with report_tables}`` of every study with README tables, in
    registry order (what ``python -m experiments.report`` renders and ``--refresh``
    copies)."""
    every = studies() if every is None else every
    return {result: s.resolve(s.tables) for s in every for result in s.report_names()}
