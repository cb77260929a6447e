"""The Markdown renderer of the report (``report.md``): GitHub tables, no figures.

Figures live in ``plots/`` and in ``report.html``; this renderer leaves
:class:`~optbench.analysis.report_blocks.FigureRef` blocks out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optbench.analysis.formatting import format_table
from optbench.analysis.report_blocks import Section, Table, Text


def section_markdown(section: Section) -> str:
    """One section (with its subsections) as markdown."""
    parts = [f"{'#' * section.level} {section.title}"]
    for block in section.blocks:
        if isinstance(block, Text):
            parts.append(block.text)
        elif isinstance(block, Table):
            parts.append(format_table(block.frame))
    parts += [section_markdown(sub) for sub in section.subsections]
    return "\n\n".join(parts)


def render(sections: Sequence[Section | str], frames: Any = None) -> str:
    """The markdown report: every section, separated by blank lines."""
    del frames  # no figures
    texts = (s if isinstance(s, str) else section_markdown(s) for s in sections)
    return "\n\n".join(t for t in texts if t) + "\n"
