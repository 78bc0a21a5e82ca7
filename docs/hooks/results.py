"""MkDocs hook: the results page, rendered at build time from docs/results/*.json.

``docs/results.md`` holds two markers:

* ``<!-- results:readme -->`` becomes the README's "## What we found" section (its
  prose and figures), with every ``<!-- report:ID -->`` table block re-rendered from
  the committed results JSON by ``experiments.report`` -- the same code that writes the
  README's tables -- so the page never shows a hand-copied number. If the README's
  own tables differ from the JSON, a warning says so (an error under ``--strict``; fix
  it with ``python -m experiments.report``).
* ``<!-- results:figures -->`` becomes every PNG under ``docs/figures/``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.results")

SECTION = "## What we found"
_README_MARKER = "<!-- results:readme -->"
_FIGURES_MARKER = "<!-- results:figures -->"


def _readme_section(root: Path) -> str:
    from mkdocs.exceptions import PluginError  # here: repo_links is used without mkdocs

    from experiments import report  # the README tables' own renderer

    readme = (root / "README.md").read_text(encoding="utf-8")
    try:
        rendering = report.render_tables(root / "docs" / "results", readme_dir=root)
        text, changed, _ = report.update_readme(readme, rendering)
    except report.ReportError as e:
        raise PluginError(f"results page: {e}") from e
    if changed:
        log.warning("README.md tables differ from docs/results (%s); run "
                    "`python -m experiments.report`", ", ".join(changed))
    start = text.find(f"\n{SECTION}")
    if start < 0:
        raise PluginError(f"results page: README.md has no '{SECTION}' section")
    end = text.find("\n## ", start + 1)
    section = text[start + 1:end if end >= 0 else len(text)]
    lines = section.splitlines()
    # "## What we found (...)" is the page title; its "###" subsections become "##".
    lines[0] = "# " + lines[0][3:]
    section = "\n".join(re.sub(r"^###", "##", line) for line in lines)
    return repo_links(section.replace("](docs/figures/", "](figures/"))


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def repo_links(markdown: str) -> str:
    """Turns links to repository files outside ``docs/`` into text naming the file.

    The README links to source files (``experiments/<study>/run.py``) that are not
    documentation pages, so on the site they would be broken links (an error under
    ``--strict``). ``[its protocol](experiments/x/run.py)`` becomes
    ``its protocol (`experiments/x/run.py`)``; web links, anchors and ``figures/``
    links are kept.
    """
    def fix(m: re.Match) -> str:
        text, target = m.group(1), m.group(2)
        if re.match(r"^([a-z]+:|#|figures/)", target):
            return m.group(0)
        return f"{text} (`{target}`)"

    return _LINK.sub(fix, markdown)


def _gallery(docs_dir: Path) -> str:
    items = []
    for png in sorted((docs_dir / "figures").glob("*.png")):
        items.append(f"### `{png.stem}`\n\n![{png.stem}](figures/{png.name})")
    return "\n\n".join(items)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "results.md":
        return markdown
    docs_dir = Path(config["docs_dir"])
    root = Path(config["config_file_path"]).parent
    if _README_MARKER in markdown:
        markdown = markdown.replace(_README_MARKER, _readme_section(root))
    if _FIGURES_MARKER in markdown:
        markdown = markdown.replace(_FIGURES_MARKER, _gallery(docs_dir))
    return markdown
