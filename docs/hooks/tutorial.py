"""MkDocs hook: execute the jupytext notebooks under docs/ and render them as pages.

Every ``docs/*.py`` file that starts with a jupytext header (``# ---`` then
``# jupyter:``) is read with jupytext (percent format), executed top to bottom in a
fresh Jupyter kernel by nbclient, and turned into a generated Markdown page of the same
name (``tutorial.py`` -> ``tutorial.md``): Markdown cells as they are, code cells as
``python`` blocks, text outputs as ``text`` blocks, PNG outputs as image files next to
the page. The ``.py`` source stays in the site, downloadable.

A cell that raises fails the build (with the cell's traceback), so a stale tutorial
cannot be published; output on stderr is logged as a warning (an error under
``mkdocs build --strict``).
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient
from jupyter_client import KernelManager
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.tutorial")

_HEADER = ("# ---\n", "# jupyter:\n")


def _is_notebook(path: Path) -> bool:
    with open(path, encoding="utf-8") as f:
        head = [f.readline(), f.readline()]
    return tuple(head) == _HEADER


def _execute(path: Path):
    nb = jupytext.read(path, fmt="py:percent")
    # The kernel inherits this process's environment; CI sets MPLBACKEND=Agg, which
    # would keep matplotlib from sending figures back to the notebook.
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        with tempfile.TemporaryDirectory() as sockets:
            # IPC (Unix sockets in a private folder) rather than TCP on localhost.
            km = KernelManager(kernel_name="python3", transport="ipc",
                               ip=os.path.join(sockets, "kernel"))
            client = nbclient.NotebookClient(
                nb, km=km, timeout=600, kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}})
            try:
                client.execute()
            finally:
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
    except nbclient.exceptions.CellExecutionError as e:
        raise PluginError(f"{path.name}: a cell failed while executing the notebook:\n{e}") from e
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved
    return nb


def _fence(lang: str, text: str) -> str:
    text = text.rstrip("\n")
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _merge_streams(outputs: list) -> list:
    """Consecutive writes to one stream become one output (one text block per cell)."""
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + out["text"]}
        else:
            merged.append(out)
    return merged


def _to_markdown(nb, stem: str, name: str) -> tuple[str, dict[str, bytes]]:
    """The page's Markdown and its images (``{relative path: PNG bytes}``)."""
    parts: list[str] = []
    images: dict[str, bytes] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        parts.append(_fence("python", cell.source))
        for out in _merge_streams(cell.get("outputs", [])):
            kind = out.get("output_type")
            if kind == "stream":
                if out.get("name") == "stderr":
                    log.warning("%s, cell %d wrote to stderr:\n%s", name, index, out["text"])
                parts.append(_fence("text", out["text"]))
            elif kind in ("execute_result", "display_data"):
                bundle = out.get("data", {})
                if "image/png" in bundle:
                    image = f"{stem}_files/figure_{len(images) + 1}.png"
                    images[image] = base64.b64decode(bundle["image/png"])
                    parts.append(f"![figure {len(images)} of the {stem} notebook]({image})")
                elif "text/markdown" in bundle:
                    parts.append(bundle["text/markdown"])
                elif "text/plain" in bundle:
                    parts.append(_fence("text", bundle["text/plain"]))
    return "\n\n".join(parts) + "\n", images


def on_files(files: Files, config) -> Files:
    docs_dir = Path(config["docs_dir"])
    for file in list(files):
        if file.src_uri.endswith(".py") and "/" not in file.src_uri:
            path = docs_dir / file.src_uri
            if not _is_notebook(path):
                continue
            stem = path.stem
            t0 = time.perf_counter()
            nb = _execute(path)
            text, images = _to_markdown(nb, stem, file.src_uri)
            text += (f"\n---\n\n*This page was generated by executing "
                     f"[`docs/{file.src_uri}`]({file.src_uri}) during the docs build.*\n")
            files.append(File.generated(config, f"{stem}.md", content=text))
            for uri, png in images.items():
                files.append(File.generated(config, uri, content=png))
            log.info("executed %s in %.1f s (%d figures)", file.src_uri,
                     time.perf_counter() - t0, len(images))
    return files
