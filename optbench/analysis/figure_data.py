"""What a figure shows, as data: curves, bands and markers on panels, no drawing.

The plot kinds of :mod:`optbench.analysis.plot_kinds` compute a :class:`FigureData`;
a renderer (:mod:`optbench.analysis.render_matplotlib`: PNG, PDF, SVG) draws it. The
objects hold numpy arrays and style hints (colour, line style, width, alpha) only, so
a test can read the numbers a figure would show without matplotlib.

This module imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: How a curve joins its points: straight lines, or steps held until the next x.
Drawstyle = Literal["line", "steps"]


@dataclass
class Curve:
    """One line (median, profile, sweep) with an optional band or error bars.

    ``low``/``high`` are a band drawn around the line (filled), ``err_low``/``err_high``
    vertical error bars at each point; both are absolute y values, aligned with ``x``.
    A curve with ``label=None`` is left out of the legend.
    """

    x: np.ndarray
    y: np.ndarray
    label: str | None
    color: str
    linestyle: str = "-"
    width: float = 1.8
    alpha: float = 1.0
    drawstyle: Drawstyle = "line"
    marker: str | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    band_alpha: float = 0.15
    err_low: np.ndarray | None = None
    err_high: np.ndarray | None = None


@dataclass
class TopMarkers:
    """Markers at the top edge of a panel at x values in data units (× diverged, …)."""

    x: list[float]
    marker: str
    color: str


@dataclass
class LegendEntry:
    """A legend line not tied to one curve (e.g. "settings of a sweep")."""

    label: str
    color: str = "gray"
    linestyle: str = "-"
    width: float = 1.8
    alpha: float = 1.0
    marker: str | None = None
    open_marker: bool = False


@dataclass
class Panel:
    """One axes: its curves, scales, limits and titles."""

    curves: list[Curve] = field(default_factory=list)
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xscale: str = "linear"
    yscale: str = "linear"
    xscale_base: float = 10.0
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    invert_x: bool = False
    plain_y_ticks: bool = False
    top_markers: list[TopMarkers] = field(default_factory=list)
    #: Legend at the right of this panel (per-panel legends; the figure legend is separate).
    legend: bool = False
    legend_title: str = ""


@dataclass
class FigureData:
    """A figure: panels in a grid, a title, a shared legend and the file stem it saves as.

    ``legend`` lists the entries of a figure-wide legend below the panels: curve labels
    (taken from the first panel's labelled curves) when ``legend_from_curves`` is set,
    followed by ``extra_legend``.
    """

    stem: str
    panels: list[Panel]
    title: str = ""
    columns: int = 1
    width: float = 8.5
    height: float = 4.5
    share_y: bool = False
    legend_from_curves: bool = False
    extra_legend: list[LegendEntry] = field(default_factory=list)
    legend_columns: int = 3
    #: What the figure shows in one sentence (the HTML report's caption, alt text).
    caption: str = ""
    #: The problem a per-problem figure belongs to (None: the whole suite).
    problem: str | None = None
    #: Whether the HTML report shows it (its SVG is kept only then).
    in_report: bool = True

    def curve_labels(self) -> list[str]:
        """Labels of every labelled curve, panel by panel (each once)."""
        labels: list[str] = []
        for panel in self.panels:
            for curve in panel.curves:
                if curve.label is not None and curve.label not in labels:
                    labels.append(curve.label)
        return labels
