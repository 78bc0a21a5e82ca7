"""Plotting helpers shared by the studies (matplotlib, Agg-safe, no global state).

Every function takes plain NumPy-convertible arrays and returns a matplotlib ``Figure``
(or draws on a given ``Axes``); saving is :func:`save_figure` (atomic PNG). Each study's
figures are drawn from its results JSON alone by its ``figures.draw(results, out_dir)``
(``experiments/<study>/figures.py``), which the study calls after its run and
``python -m experiments.plot`` calls on a file.

* :func:`receptive_field_grid` / :func:`receptive_fields_figure`: first-layer units'
  weights over input positions (Neyshabur 2020, Fig. 4; Ingrosso & Goldt 2022, Fig. 2):
  1-D inputs as heatmap rows sorted by receptive-field centre, 2-D inputs as small
  images (one channel: diverging colour map; three channels: RGB).
* :func:`line_panels`: one or more panels of labelled curves, with optional error bars,
  log axes and horizontal reference lines (accuracy vs epoch, non-zeros vs epoch,
  accuracy vs number of examples, IPR vs time, ...).
* :func:`scatter_labeled`: labelled points (e.g. test accuracy vs non-zeros).
* :func:`label_axes`: the scales, labels, title and legend of a one-panel figure.
* :func:`save_figure`: a figure saved as PNG atomically, then closed; :func:`draw_each`:
  a study's table of ``file name -> plot function`` drawn into one folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxcnn.validation import error

__all__ = ["new_figure", "select_units", "receptive_field_grid", "receptive_fields_figure",
           "line_panels", "scatter_labeled", "label_axes", "save_figure", "draw_each"]


def new_figure(ncols: int = 1, nrows: int = 1, *, panel_size=(4.0, 3.2), squeeze=False,
               **kwargs):
    """A figure with a grid of axes (``plt.subplots`` with a per-panel size).

    Returns:
      ``(fig, axes)``; ``axes`` is a 2-D array unless ``squeeze``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols,
                                                    panel_size[1] * nrows),
                             squeeze=squeeze, **kwargs)
    return fig, axes


def _unit_maps(w, in_shape) -> np.ndarray:
    """``(prod(in_shape), units)`` -> ``(units, *in_shape)`` as float64."""
    w = np.asarray(w, np.float64)
    if w.ndim != 2 or w.shape[0] != math.prod(in_shape):
        raise error("w", f"shape (prod(in_shape)={math.prod(in_shape)}, units)", w.shape)
    return w.T.reshape(w.shape[1], *in_shape)


def _centres(maps: np.ndarray) -> np.ndarray:
    """Centre of mass of the squared weights over spatial positions: ``(units, n)``."""
    mass = np.sum(maps ** 2, axis=-1)  # (units, *spatial)
    n = mass.ndim - 1
    total = mass.reshape(len(mass), -1).sum(1)
    safe = np.where(total > 0, total, 1.0)
    out = []
    for d in range(n):
        other = tuple(1 + e for e in range(n) if e != d)
        marg = mass.sum(axis=other) if other else mass
        out.append(marg @ np.arange(marg.shape[1]) / safe)
    return np.stack(out, axis=1)


def select_units(w, in_shape, num_units: int, *, by: str = "center") -> np.ndarray:
    """Indices of ``num_units`` non-zero units to show, sorted for display.

    Units with all-zero weights are skipped. ``by="center"`` sorts the non-zero units by
    receptive-field centre (row-major for 2-D) and takes evenly spaced ones, so the
    selection tiles the input; ``by="norm"`` takes the largest-norm units.

    Returns:
      An int array of at most ``num_units`` unit indices.
    """
    maps = _unit_maps(w, in_shape)
    norms = np.sqrt(np.sum(maps.reshape(len(maps), -1) ** 2, axis=1))
    alive = np.flatnonzero(norms > 0)
    if alive.size == 0 or num_units < 1:
        return np.zeros(0, int)
    if by == "norm":
        return alive[np.argsort(-norms[alive], kind="stable")[:num_units]]
    if by != "center":
        raise error("by", "'center' or 'norm'", by)
    c = _centres(maps[alive])
    order = alive[np.lexsort(c.T[::-1])]
    if order.size <= num_units:
        return order
    pick = np.round(np.linspace(0, order.size - 1, num_units)).astype(int)
    return order[pick]


def receptive_field_grid(ax_or_fig, w, in_shape, *, num_units: int = 32, title=None,
                         by: str = "center"):
    """Draws first-layer units' weights over input positions.

    Args:
      ax_or_fig: an ``Axes`` for 1-D inputs (heatmap: one row per unit, sorted by
        receptive-field centre; each row scaled to max |w| = 1, diverging colours) or,
        for 2-D inputs, a ``Figure`` or ``SubFigure`` to fill with a grid of small images
        (also accepted: an ``Axes``, whose area is then used for the grid).
      w: ``(prod(in_shape), units)`` dense first-layer weight
        (:func:`jaxcnn.models.first_layer_dense`).
      in_shape: ``(*spatial, C)`` with 1 or 2 spatial dims.
      num_units: at most this many (non-zero) units.
      title: panel title.
      by: unit selection, see :func:`select_units`.

    Returns:
      The indices of the units drawn.
    """
    in_shape = tuple(int(s) for s in in_shape)
    units = select_units(w, in_shape, num_units, by=by)
    maps = _unit_maps(w, in_shape)[units]
    scale = np.max(np.abs(maps.reshape(len(maps), -1)), axis=1) if len(maps) else np.zeros(0)
    maps = maps / np.where(scale > 0, scale, 1.0).reshape(-1, *([1] * len(in_shape)))
    n_spatial = len(in_shape) - 1
    if n_spatial == 1:
        ax = ax_or_fig
        rows = np.sum(maps, axis=-1) if in_shape[-1] > 1 else maps[..., 0]
        if len(rows) == 0:
            rows = np.zeros((1, in_shape[0]))
        ax.imshow(rows, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                  interpolation="nearest")
        ax.set_xlabel("input position")
        ax.set_ylabel("unit (sorted by centre)")
        ax.set_yticks([])
        if title:
            ax.set_title(title, fontsize=9)
        return units
    if n_spatial != 2:
        raise error("in_shape", "1 or 2 spatial dims", in_shape)
    _draw_unit_images(ax_or_fig, maps, in_shape, title)
    return units


def _draw_unit_images(ax_or_fig, maps: np.ndarray, in_shape, title) -> None:
    """2-D inputs: one small image per unit (scaled maps), in a grid filling a (sub)figure."""
    container = ax_or_fig
    if hasattr(ax_or_fig, "get_subplotspec"):  # an Axes: draw in its grid cell
        spec = ax_or_fig.get_subplotspec()
        container = ax_or_fig.figure.add_subfigure(spec)
        ax_or_fig.remove()
    k = max(len(maps), 1)
    cols = math.ceil(math.sqrt(k))
    grid_rows = math.ceil(k / cols)
    axes = np.atleast_1d(container.subplots(grid_rows, cols, squeeze=False).ravel())
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(maps):
            ax.axis("off")
            continue
        m = maps[i]
        if in_shape[-1] == 3:
            ax.imshow(np.clip((m + 1) / 2, 0, 1), interpolation="nearest")
        else:
            ax.imshow(np.sum(m, axis=-1) if in_shape[-1] > 1 else m[..., 0], cmap="RdBu_r",
                      vmin=-1, vmax=1, interpolation="nearest")
    if title:
        container.suptitle(title, fontsize=9)


def receptive_fields_figure(fields: Mapping[str, tuple], *, num_units: int = 32,
                            suptitle=None):
    """One receptive-field panel per model.

    Args:
      fields: ``{label: (w, in_shape)}`` (dense first-layer weight and its input shape).
      num_units: units per panel.
      suptitle: figure title.

    Returns:
      A matplotlib ``Figure``.
    """
    items = list(fields.items())
    if not items:
        raise error("fields", "at least one model", fields)
    n_spatial = len(items[0][1][1]) - 1
    ncols = min(len(items), 3 if n_spatial == 2 else len(items))
    nrows = math.ceil(len(items) / ncols)
    if n_spatial == 1:
        fig, axes = new_figure(ncols, nrows, panel_size=(3.0, 3.6))
        flat = axes.ravel()
        for ax, (label, (w, shape)) in zip(flat, items):
            receptive_field_grid(ax, w, shape, num_units=num_units, title=label)
        for ax in flat[len(items):]:
            ax.axis("off")
    else:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(3.6 * ncols, 3.8 * nrows), layout="constrained")
        subs = np.atleast_1d(fig.subfigures(nrows, ncols, squeeze=False).ravel())
        for sub, (label, (w, shape)) in zip(subs, items):
            receptive_field_grid(sub, w, shape, num_units=num_units, title=label)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _series_xy(data):
    """``(x, y)`` or ``(x, y, yerr)`` -> arrays with ``None`` turned into NaN."""
    x = np.asarray([np.nan if v is None else v for v in data[0]], np.float64)
    y = np.asarray([np.nan if v is None else v for v in data[1]], np.float64)
    err = None
    if len(data) > 2 and data[2] is not None:
        err = np.asarray([np.nan if v is None else v for v in data[2]], np.float64)
    return x, y, err


def line_panels(panels: Mapping[str, Mapping[str, Sequence]], *, xlabel: str, ylabel: str,
                logx: bool = False, logy: bool = False,
                hlines: Mapping[str, float] | None = None,
                panel_hlines: Mapping[str, Mapping[str, float]] | None = None,
                styles: Mapping[str, dict] | None = None, sharey: bool = True,
                suptitle=None, legend_loc="best", panel_size=(4.6, 3.4)):
    """Labelled curves, one panel per entry of ``panels``.

    Args:
      panels: ``{panel title: {curve label: (x, y) or (x, y, yerr)}}``; with ``yerr``
        (e.g. the standard deviation over seeds) a curve of more than 12 points is drawn
        as its mean with a shaded ``y ± yerr`` band, a shorter one with error bars.
      xlabel, ylabel: axis labels.
      logx, logy: log-scaled axes.
      hlines: ``{label: y}`` horizontal reference lines drawn in every panel.
      panel_hlines: ``{panel title: {label: y}}`` reference lines of single panels.
      styles: ``{curve label: matplotlib kwargs}`` (e.g. ``{"linestyle": "--"}``).
      sharey: share the y axis between panels.
      suptitle: figure title.
      legend_loc: legend position (matplotlib ``loc``).
      panel_size: inches per panel.

    Returns:
      A matplotlib ``Figure``.
    """
    if not panels:
        raise error("panels", "at least one panel", panels)
    fig, axes = new_figure(len(panels), 1, panel_size=panel_size, sharey=sharey)
    styles = styles or {}
    for ax, (title, curves) in zip(axes.ravel(), panels.items()):
        for label, data in curves.items():
            x, y, err = _series_xy(data)
            kw = {"marker": "o" if len(x) <= 12 else None, "markersize": 4, **styles.get(label,
                                                                                    {})}
            if err is not None and len(x) > 12:  # a curve: mean with a +-err band
                line, = ax.plot(x, y, label=label, **kw)
                y_arr, e_arr = np.asarray(y, float), np.asarray(err, float)
                ax.fill_between(x, y_arr - e_arr, y_arr + e_arr, color=line.get_color(),
                                alpha=0.2, linewidth=0)
            elif err is not None:
                ax.errorbar(x, y, yerr=err, label=label, capsize=2, **kw)
            else:
                ax.plot(x, y, label=label, **kw)
        refs = {**(hlines or {}), **(panel_hlines or {}).get(title, {})}
        for i, (label, yv) in enumerate(refs.items()):
            ax.axhline(yv, color=f"C{7 + i}", linestyle=":", linewidth=1.2, label=label)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc=legend_loc)
    axes[0, 0].set_ylabel(ylabel)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def scatter_labeled(points: Sequence[tuple[str, float, float]], *, xlabel: str, ylabel: str,
                    logx: bool = False, title=None, annotate: bool = True):
    """Labelled points: ``[(label, x, y), ...]``; equal labels share a colour.

    Returns:
      A matplotlib ``Figure``.
    """
    fig, axes = new_figure(1, 1, panel_size=(5.4, 4.0))
    ax = axes[0, 0]
    colours: dict[str, str] = {}
    for label, x, y in points:
        first = label not in colours
        colours.setdefault(label, f"C{len(colours) % 10}")
        ax.scatter([x], [y], color=colours[label], s=36, label=label if first else None,
                   zorder=3)
    if annotate:
        for label, x, y in points:
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def label_axes(ax, *, xlabel: str, ylabel: str, title: str, title_size: float = 9,
               legend_size: float = 8, log: bool = False) -> None:
    """Finishes a one-panel figure: log-log scales (``log``), axis labels, title, legend."""
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=title_size)
    ax.legend(fontsize=legend_size)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Saves a matplotlib figure as PNG atomically (:func:`jaxcnn.io.savefig_atomic`) and
    closes it."""
    import matplotlib.pyplot as plt

    from jaxcnn.io import savefig_atomic

    path = Path(path)
    savefig_atomic(fig, path, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def draw_each(figures: Mapping[str, Callable[[Mapping, Path], Any]], results: Mapping[str, Any],
              out_dir: str | os.PathLike) -> dict[str, str]:
    """Calls ``plot(results, OUT_DIR/NAME)`` for each ``NAME: plot`` of ``figures``, in order.

    Returns:
      ``{file name: path of the PNG written}``, in drawing order.
    """
    written = {}
    for name, plot in figures.items():
        path = Path(out_dir) / name
        plot(results, path)
        written[name] = str(path)
    return written
