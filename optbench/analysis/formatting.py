"""Text of table cells and GitHub markdown tables (report, profile tables).

Numbers are compact (:func:`format_number`): 3 significant digits, integers in full,
"—" for a missing value and "∞" for a target never reached; :func:`format_spread`
writes a median with its min–max range across seeds.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

_NUMBER_START = re.compile(r"^(-?[0-9]|—|∞|-∞)")


def format_number(value: Any) -> str:
    """Compact text for a table cell: 3 significant digits, ``1.23e-09`` when tiny.

    Integers below 10**6 are written in full, other numbers from 1000 to 10**6
    rounded to whole units; NaN and None are "—"; infinities "∞".
    """
    if value is None or isinstance(value, str):
        return "—" if value is None else value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    value = float(value)
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e6:
        return str(int(value))
    if 1e3 <= magnitude < 1e6:  # whole units: never fewer digits than integer cells
        return f"{value:.0f}"
    if 1e-3 <= magnitude < 1e3:
        rounded = float(f"{value:.3g}")
        return str(int(rounded)) if rounded.is_integer() else f"{rounded:g}"
    return f"{value:.2e}"


def format_spread(median: float, low: float, high: float, reached: str = "") -> str:
    """``"median [min–max]"``, or the median alone when all seeds agree.

    ``reached`` (e.g. ``"1/3"``) is appended to "—" cells of censored targets.
    """
    if median is None or math.isnan(median):
        return f"— ({reached})" if reached else "—"
    if low == high == median or math.isnan(low):
        return format_number(median)
    return f"{format_number(median)} [{format_number(low)}–{format_number(high)}]"


def _is_numeric_column(column: pd.Series) -> bool:
    """Numbers, or text cells that all start like a formatted number ("12 [10–14]", "—")."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    cells = [str(v) for v in column if v is not None and str(v) != ""]
    return bool(cells) and all(_NUMBER_START.match(c) for c in cells)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_table(frame: pd.DataFrame) -> str:
    """Render ``frame`` as a GitHub markdown table (numbers via :func:`format_number`).

    Numeric columns, and text columns of formatted numbers, are right-aligned;
    strings are kept (``|`` escaped, newlines replaced by spaces).
    """
    header = [_escape(str(c)) for c in frame.columns]
    align = ["---:" if _is_numeric_column(frame[c]) else ":---" for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for row in frame.itertuples(index=False):
        cells = [_escape(format_number(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
