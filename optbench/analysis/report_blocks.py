"""What a report says, as data: sections of text, tables and figure references.

The report's sections (:data:`optbench.analysis.report.SECTION_BUILDERS`) return
:class:`Section` objects; the renderers (:mod:`~optbench.analysis.report_markdown`,
:mod:`~optbench.analysis.report_html`, :mod:`~optbench.analysis.report_latex`) turn
them into a file. Text uses a small markdown subset that every renderer understands:
``**bold**``, ```code```, lines starting with ``- `` (a list) and blank lines
between paragraphs. Table cells are numbers or such text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Text:
    """A paragraph or list in the markdown subset of the module docstring."""

    text: str


@dataclass
class Table:
    """A table: a DataFrame whose cells are numbers or text (its index is not shown).

    ``solver_column`` names the column holding solver labels (the HTML report filters
    rows by solver on it); ``kind`` says what the table is, for renderers that pick
    tables (LaTeX: ``ranking``, ``final``, ``fixed-target``, …).
    """

    frame: pd.DataFrame
    caption: str = ""
    solver_column: str | None = "solver"
    kind: str = ""


@dataclass
class FigureRef:
    """A figure of a registered plot kind (:mod:`optbench.analysis.plot_kinds`).

    ``problem`` selects the figures of one problem; ``None`` the kind's figures of the
    whole suite (a profile, the convergence grid).
    """

    kind: str
    problem: str | None = None


Block = Text | Table | FigureRef


@dataclass
class Section:
    """A titled part of the report with its blocks and subsections.

    ``key`` is a stable anchor (``[a-z0-9-]``); ``group`` files a subsection under a
    heading of the table of contents (problems under their suite); ``collapsible``
    sections are ``<details>`` in HTML.
    """

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    level: int = 2
    group: str | None = None
    collapsible: bool = False

    def walk(self) -> list[Section]:
        """This section and every subsection, depth first."""
        found = [self]
        for sub in self.subsections:
            found += sub.walk()
        return found
