"""Griffe extension: the reStructuredText bits of jaxcnn's docstrings, as Markdown.

The docstrings are Google style with RST inline markup. Double-backtick literals are
already Markdown code; a few constructs are not, and are rewritten before parsing:

* a double-backtick literal that runs over several lines is joined onto one line
  (Python-Markdown code spans end at a line break);
* a ``Parameters:`` heading followed by a bullet list (a module's NNX variables, not
  its arguments) becomes a bold label, so griffe does not read it as the Args section;
* an ``Example:`` heading becomes ``Examples:`` (griffe's name for the section whose
  ``>>>`` lines it renders as code);
* cross-reference roles -- ``:func:`name``` (also ``:class:``, ``:mod:``, ``:data:``,
  ``:meth:``, ``:attr:``, ``:exc:``, ``:obj:``) -- become ``name`` in code;
* an RST simple table (``===`` borders) becomes a Markdown table;
* a paragraph ending in ``::`` (an RST literal block follows) ends in ``:`` and the
  indented block after it becomes a fenced code block.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|meth|attr|exc|obj|const):`~?([^`]+)`")


def _literal_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and line.strip() != "::":
            stripped = line.rstrip()[:-1]  # "text::" -> "text:"
            out.append(stripped)
            base = len(line) - len(line.lstrip())
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or
                                      len(lines[j]) - len(lines[j].lstrip()) > base):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                pad = " " * base
                out += ["", pad + "```text"]
                out += [pad + b[indent:] if b.strip() else "" for b in block]
                out += [pad + "```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


_LITERAL = re.compile(r"``(?!`)((?:(?!\n[ \t]*\n).)+?)``", re.S)  # within a paragraph
_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.M)
_PARAMS = re.compile(r"^(\s*)Parameters:\n(?=\s*[*-] )", re.M)


def _join_literal(match: re.Match) -> str:
    return "``" + re.sub(r"\s*\n\s*", " ", match.group(1)) + "``"


_BORDER = re.compile(r"^(\s*)(=+)( +=+)+\s*$")


def _simple_tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _BORDER.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        border, indent = lines[i], m.group(1)
        starts = [k.start() for k in re.finditer(r"=+", border)]
        rows: list[list[str]] = []
        header = None
        j = i + 1
        while j < len(lines):
            if _BORDER.match(lines[j]):
                if header is None and rows:
                    header, rows = rows, []
                    j += 1
                    continue
                break  # the closing border
            line = lines[j]
            cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line) + 1])]
            if rows and not cells[0]:  # continuation line: extend the previous row
                rows[-1] = [f"{p} {c}".strip() for p, c in zip(rows[-1], cells)]
            else:
                rows.append(cells)
            j += 1
        if j >= len(lines) or header is None:  # not a table after all
            out.append(lines[i])
            i += 1
            continue
        def fmt(cells):
            return indent + "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
        out.append(fmt([" ".join(col).strip() for col in zip(*header)]))
        out.append(indent + "|" + "|".join("---" for _ in starts) + "|")
        out += [fmt(r) for r in rows]
        i = j + 1
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    text = _LITERAL.sub(_join_literal, text)
    text = _EXAMPLE.sub(r"\1Examples:", text)
    text = _PARAMS.sub(r"\1**Parameters** (`nnx.Param` variables):\n\n", text)
    text = _simple_tables(text)
    return _literal_blocks(_ROLE.sub(r"`\1`", text))


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring when griffe loads an object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
