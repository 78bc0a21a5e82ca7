"""MkDocs hook: TeX math to MathML at build time (no JavaScript, works offline).

``pymdownx.arithmatex`` (``generic: true``) wraps ``$...$`` in
``<span class="arithmatex">\\(...\\)</span>`` and ``$$...$$`` in
``<div class="arithmatex">\\[...\\]</div>``; this hook replaces each with the MathML
that ``latex2mathml`` produces, which browsers render natively.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")

_INLINE = re.compile(r'<span class="arithmatex">\\\((.+?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.+?)\\\]</div>', re.S)


def _converter(display: str, page):
    def repl(match: re.Match) -> str:
        tex = html.unescape(match.group(1)).strip()
        try:
            mathml = convert(tex, display=display)
        except Exception as e:  # latex2mathml raises several exception types
            log.warning("%s: cannot convert math %r to MathML (%s)", page.file.src_uri, tex, e)
            return match.group(0)
        tag = "div" if display == "block" else "span"
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return repl


def on_page_content(content: str, page, config, files) -> str:
    content = _BLOCK.sub(_converter("block", page), content)
    return _INLINE.sub(_converter("inline", page), content)
