r"""The LaTeX renderer of the report (``report.tex``): booktabs tables for a paper.

The file is a fragment to ``\input`` into a document whose preamble loads
``booktabs``: one ``table`` environment per table of the report of the kinds in
:data:`LATEX_KINDS` (the ranking, the significant pairs, and per problem its final
state and fixed-target tables), each with ``\toprule``, ``\midrule``,
``\bottomrule``, a caption and a label. Text is escaped (``\ & % $ # _ { } ~ ^``);
the symbols the report uses (ε, τ, ≤, ∞, ‖∇f‖, …) become math; ``**bold**`` becomes
``\textbf``. Figures are not included (they are in ``plots/``, as PDF with
``optbench plot DIR --format pdf``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from optbench.analysis.formatting import format_number
from optbench.analysis.report_blocks import Section, Table

#: Table kinds written, in the order of the report.
LATEX_KINDS = ("ranking", "paired", "final", "fixed-target")

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SYMBOLS = {
    "ε": r"$\varepsilon$",
    "τ": r"$\tau$",
    "κ": r"$\kappa$",
    "ρ": r"$\rho$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "∞": r"$\infty$",
    "−": r"$-$",
    "–": "--",
    "—": "---",
    "‖": r"$\|$",
    "∇": r"$\nabla$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "∈": r"$\in$",
    "“": "``",
    "”": "''",
    "…": r"\ldots{}",
    "\u00a0": "~",
}
_MARKUP = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")
_NUMBER = re.compile(r"^(-?[0-9]|—|∞|-∞)")
_ADJACENT_MATH = re.compile(r"(?<!\\)\$\$")


def escape(text: str) -> str:
    """``text`` as LaTeX: specials escaped, the report's symbols as math (adjacent
    symbols in one math group)."""
    escaped = "".join(_SPECIAL.get(c) or _SYMBOLS.get(c) or c for c in str(text))
    return _ADJACENT_MATH.sub("", escaped)


def latex_text(text: str) -> str:
    r"""Escape ``text``, turning ``**bold**`` into ``\textbf`` and ```code``` into ``\texttt``."""
    parts, position = [], 0
    for match in _MARKUP.finditer(text):
        parts.append(escape(text[position : match.start()]))
        bold, code = match.groups()
        parts.append(rf"\textbf{{{escape(bold)}}}" if bold else rf"\texttt{{{escape(code)}}}")
        position = match.end()
    parts.append(escape(text[position:]))
    return "".join(parts)


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:-]+", "-", text).strip("-").lower() or "table"


def table_latex(table: Table, label: str) -> str:
    """One booktabs ``table`` environment."""
    frame = table.frame
    rows = [[format_number(value) for value in values] for values in frame.itertuples(index=False)]
    align = "".join(
        "r" if rows and all(_NUMBER.match(row[i]) for row in rows) else "l"
        for i in range(len(frame.columns))
    )
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_text(table.caption)}}}",
        rf"\label{{tab:{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_text(str(c)) for c in frame.columns) + r" \\",
        r"\midrule",
        *(" & ".join(latex_text(cell) for cell in row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines)


def render(sections: Sequence[Section | str], frames: Any = None) -> str:
    r"""The LaTeX fragment: the tables of :data:`LATEX_KINDS`, in report order.

    Parameters
    ----------
    sections : sequence of Section or str
        The report's sections (markdown strings are skipped).
    frames : ignored
        Figures are not written.
    """
    del frames
    title = next(
        (s.title for s in sections if isinstance(s, Section) and s.level == 1), "optbench report"
    )
    parts = [
        f"% {title}: tables (booktabs). In the preamble: \\usepackage{{booktabs}}",
        "% Written by optbench report --format latex.",
    ]
    labels: dict[str, int] = {}
    for section in sections:
        if not isinstance(section, Section):
            continue
        for part in section.walk():
            tables = [b for b in part.blocks if isinstance(b, Table) and b.kind in LATEX_KINDS]
            if tables:
                parts.append(f"\n% --- {part.title.replace(chr(10), ' ')}")
            for table in tables:
                label = _label(f"optbench-{table.kind}-{part.key}")
                labels[label] = labels.get(label, 0) + 1
                if labels[label] > 1:
                    label = f"{label}-{labels[label]}"
                parts.append(table_latex(table, label))
    return "\n".join(parts) + "\n"
