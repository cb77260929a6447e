"""The report formats: each one file name and one renderer module.

A renderer is a function ``render(sections, frames) -> str`` (``frames``: the
:class:`~optbench.analysis.frames.ResultsFrames` of the report, for renderers that
draw figures). The command line takes its ``--format`` choices from
:data:`REPORT_FORMATS`; this module imports nothing heavy, so ``optbench --help``
stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from optbench.results_format import REPORT_FILE, REPORT_HTML_FILE, REPORT_LATEX_FILE

#: Format name -> (file written in the results directory, ``"module:function"``).
REPORT_FORMATS: dict[str, tuple[str, str]] = {
    "html": (REPORT_HTML_FILE, "optbench.analysis.report_html:render"),
    "md": (REPORT_FILE, "optbench.analysis.report_markdown:render"),
    "latex": (REPORT_LATEX_FILE, "optbench.analysis.report_latex:render"),
}
#: What ``optbench run`` and ``optbench report`` write unless told otherwise.
DEFAULT_FORMATS = ("html", "md")


def renderer(name: str) -> tuple[str, Callable[..., str]]:
    """The file name and render function of format ``name``; ``ValueError`` if unknown."""
    if name not in REPORT_FORMATS:
        raise ValueError(f"format: must be one of {', '.join(REPORT_FORMATS)}, got {name!r}")
    file_name, target = REPORT_FORMATS[name]
    module, _, function = target.partition(":")
    render: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return file_name, render
