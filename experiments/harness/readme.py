"""README report blocks of ``experiments.report``: find them, replace their bodies.

A table appears in the README between two markers::

    <!-- report:learn_conv.main -->
    ...replaced on every run...
    <!-- /report:learn_conv.main -->

:func:`find_blocks` locates the blocks (and rejects malformed markers with a
:class:`ReportError`); :func:`update_readme` replaces every block's body with its
rendered table (a :class:`Rendering`, from
:func:`experiments.harness.render.render_tables`).
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["ID_PATTERN", "Block", "Rendering", "ReportError", "find_blocks", "update_readme"]

#: A table id: letters, digits, ``_``, ``.``, ``-`` (not starting with ``.`` or ``-``).
ID_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
MARKER = re.compile(rf"<!--\s*(/?)report:({ID_PATTERN})\s*-->")


class ReportError(Exception):
    """Inputs that cannot be rendered: malformed README markers, unknown ids, bad JSON."""


@dataclasses.dataclass
class Rendering:
    """What the experiments rendered.

    Attributes:
        bodies: table id -> the full text of its README block (table + source line).
        sources: table id -> the results file it came from, as the source line shows it.
        skipped: experiment name -> why it rendered nothing.
    """

    bodies: dict[str, str] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``<!-- report:ID -->`` ... ``<!-- /report:ID -->`` block of a README.

    Attributes:
        table_id: the ID.
        start: offset of the first character after the opening marker.
        end: offset of the closing marker (``text[start:end]`` is the body).
        line: 1-based line of the opening marker.
    """

    table_id: str
    start: int
    end: int
    line: int


def find_blocks(text: str, *, label: str = "README.md") -> list[Block]:
    """The report blocks of a README, in order.

    Args:
        text: README contents.
        label: the README's name in error messages.

    Returns:
        One :class:`Block` per block.

    Raises:
        ReportError: for a block that is never closed, a closing marker without (or not
            matching) its opening marker, nested blocks, or an id used twice.

    Example:
        >>> text = "a\\n<!-- report:x.y -->\\nold\\n<!-- /report:x.y -->\\n"
        >>> [(b.table_id, b.line, text[b.start:b.end]) for b in find_blocks(text)]
        [('x.y', 2, '\\nold\\n')]
    """
    blocks: list[Block] = []
    seen: dict[str, int] = {}
    open_id = None
    open_at = open_line = 0
    for m in MARKER.finditer(text):
        closing, table_id = m.group(1) == "/", m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        if not closing:
            if open_id is not None:
                raise ReportError(f"{label}: block report:{table_id} on line {line} starts "
                                  f"inside block report:{open_id} (line {open_line})")
            if table_id in seen:
                raise ReportError(f"{label}: table {table_id} has two blocks (lines "
                                  f"{seen[table_id]} and {line})")
            open_id, open_at, open_line = table_id, m.end(), line
            seen[table_id] = line
        elif open_id != table_id:
            where = f"; open block is report:{open_id}" if open_id else ""
            raise ReportError(f"{label}: closing marker /report:{table_id} on line {line} "
                              f"has no opening marker{where}")
        else:
            blocks.append(Block(table_id, open_at, m.start(), open_line))
            open_id = None
    if open_id is not None:
        raise ReportError(f"{label}: block report:{open_id} opened on line {open_line} is "
                          f"never closed")
    return blocks


def update_readme(text: str, rendering: Rendering, *, label: str = "README.md"
                  ) -> tuple[str, list[str], list[str]]:
    """Replaces every block's body with its rendered table.

    Args:
        text: README contents.
        rendering: from :func:`render_tables`.
        label: the README's name in error messages.

    Returns:
        ``(new_text, changed, unplaced)``: the new README, the ids whose block changed
        (README order), and the rendered ids that have no block (rendering order).

    Raises:
        ReportError: from :func:`find_blocks`, or for a block whose id was not rendered
            (the message names the id, and the skipped experiment when that is why).
    """
    blocks = find_blocks(text, label=label)
    for b in blocks:
        if b.table_id not in rendering.bodies:
            name = b.table_id.split(".", 1)[0]
            why = (f" (experiment {name} skipped: {rendering.skipped[name]})"
                   if name in rendering.skipped else "")
            raise ReportError(f"{label}: unknown table {b.table_id} on line {b.line}: no "
                              f"experiment rendered it{why}")
    pieces, changed, pos = [], [], 0
    for b in blocks:
        body = rendering.bodies[b.table_id]
        if text[b.start:b.end] != body:
            changed.append(b.table_id)
        pieces += [text[pos:b.start], body]
        pos = b.end
    pieces.append(text[pos:])
    placed = {b.table_id for b in blocks}
    unplaced = [t for t in rendering.bodies if t not in placed]
    return "".join(pieces), changed, unplaced
