"""Draw a :class:`~optbench.analysis.figure_data.FigureData` with matplotlib.

:func:`to_figure` builds the matplotlib figure, :func:`save` writes it (PNG, PDF or SVG,
atomically) and :func:`svg_markup` returns it as an ``<svg>`` element ready to be
inlined in an HTML page: text kept as text (``svg.fonttype: none``, so the file stays
small and the browser's sans-serif font draws it), no XML prolog, no DOCTYPE, no
metadata, and every ``id`` prefixed so that several figures on one page never share one.
An SVG file (:func:`svg_document`) is the same drawing with its XML prolog: the report
inlines a file's own ``<svg>`` element (:func:`save_all`), so each figure is drawn once.

Cheap by construction: the layout is chosen once from the figure data (fixed margins
in inches, legends in reserved space), log-axis tick labels and every title are plain
text (``10⁻⁴``, ``f − f*``) rather than mathtext, log axes spanning many decades have
no minor ticks, and the unlabelled curves of a panel (the settings of a sweep,
the faded lines) are drawn as one ``LineCollection``, whatever their number (beyond
:data:`MERGE_CURVES` of them, one path per style, an image inside SVG and PDF files);
only the labelled curves, which the legend needs, are separate artists.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import Formatter

from optbench.analysis import style
from optbench.analysis.figure_data import Curve, FigureData, LegendEntry, Panel
from optbench.results_format import atomic_write_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Largest finite value drawn for an infinite band edge (the top of any log axis).
_BAND_TOP = 1e300
#: Top of an infinite error bar (far above any axis; 1e300 overflows log-axis transforms).
_ERROR_TOP = 1e100
_SVG_START = re.compile(r"<svg\b")
_SVG_IDS = re.compile(r'(\bid="|href="#|url\(#)')
_SVG_METADATA: dict[str, Any] = {"Creator": None, "Date": None, "Format": None, "Type": None}


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_MATH_POWER = re.compile(
    r"^\$\\mathdefault\{(?:(?P<mantissa>[0-9.]+)\\times\s*)?(?P<base>[0-9.]+)\^\{(?P<exp>[-−0-9.]+)\}\}\$$"
)


def plain_power(label: str) -> str:
    """``"$\\mathdefault{10^{-4}}$"`` → ``"10⁻⁴"`` (``2\\times10^{3}`` → ``2×10³``).

    Log-axis tick labels as plain text: matplotlib parses mathtext for every new
    label, which costs more than the rest of drawing a figure's axes. Any other
    label is returned as it is.
    """
    match = _MATH_POWER.match(label)
    if match is None:
        return label
    exponent = match["exp"].replace("−", "-")
    if not re.fullmatch(r"-?[0-9]+", exponent):
        return label
    power = f"{match['base']}{exponent.translate(_SUPERSCRIPT)}"
    return f"{match['mantissa']}×{power}" if match["mantissa"] else power


class PlainLogFormatter(Formatter):
    """Wraps a tick formatter so that its mathtext powers come out as plain text."""

    def __init__(self, inner: Formatter) -> None:
        self.inner = inner

    def __call__(self, x: float, pos: int | None = None) -> str:
        return plain_power(self.inner(x, pos))

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs: Any) -> None:
        super().set_locs(locs)
        self.inner.set_locs(locs)


def _plain_log_labels(axis: Any) -> None:
    axis.set_major_formatter(PlainLogFormatter(axis.get_major_formatter()))
    axis.set_minor_formatter(PlainLogFormatter(axis.get_minor_formatter()))


def _step_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of a post-step curve through (x, y)."""
    if x.size < 2:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


#: A panel with more unlabelled curves than this draws them as one path per style,
#: the curves separated by gaps (NaN), and as an image inside SVG and PDF files.
MERGE_CURVES = 500


def _joined(curves: list[Curve]) -> np.ndarray:
    """The vertices of ``curves`` (step curves as steps) in one array, a NaN row
    between two curves: one path for all of them."""
    sizes = np.array([np.size(c.x) for c in curves])
    x = np.concatenate([np.asarray(c.x, dtype=float) for c in curves])
    y = np.concatenate([np.asarray(c.y, dtype=float) for c in curves])
    steps = np.array([c.drawstyle == "steps" and n > 1 for c, n in zip(curves, sizes, strict=True)])
    if steps.any():  # (x0, y0), (x1, y0), (x1, y1), ...: each point twice, one x and y less
        twice = np.where(steps, 2, 1)
        x_rep, y_rep = np.repeat(x, np.repeat(twice, sizes)), np.repeat(y, np.repeat(twice, sizes))
        new_starts = np.cumsum(sizes * twice) - sizes * twice
        keep_x = np.ones(x_rep.size, bool)
        keep_y = np.ones(y_rep.size, bool)
        keep_x[new_starts[steps]] = False
        keep_y[(new_starts + sizes * twice - 1)[steps]] = False
        x, y = x_rep[keep_x], y_rep[keep_y]
        sizes = np.where(steps, 2 * sizes - 1, sizes)
    points = np.full((sizes.sum() + len(curves), 2), np.nan)
    rows = np.arange(sizes.sum()) + np.repeat(np.arange(len(curves)), sizes)
    points[rows, 0], points[rows, 1] = x, y
    return points


def _draw_collection(ax: Axes, curves: list[Curve]) -> None:
    """Every unlabelled curve of a panel as one ``LineCollection``: a line per curve, or
    beyond :data:`MERGE_CURVES` curves one line per style (overlaps then do not darken)
    drawn as an image in vector formats."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    groups: dict[tuple[str, float, float, str], list[Curve]] = {}
    merge = len(curves) > MERGE_CURVES
    segments, colors, widths, styles = [], [], [], []
    for curve in curves:
        if merge:
            groups.setdefault((curve.color, curve.alpha, curve.width, curve.linestyle), []).append(
                curve
            )
            continue
        x, y = np.asarray(curve.x, dtype=float), np.asarray(curve.y, dtype=float)
        if curve.drawstyle == "steps":
            x, y = _step_points(x, y)
        segments.append(np.column_stack([x, y]))
        colors.append(to_rgba(curve.color, curve.alpha))
        widths.append(curve.width)
        styles.append(curve.linestyle)
    for (color, alpha, width, linestyle), members in groups.items():
        segments.append(_joined(members))
        colors.append(to_rgba(color, alpha))
        widths.append(width)
        styles.append(linestyle)
    lines = LineCollection(segments, colors=colors, linewidths=widths, linestyles=styles)
    lines.set_rasterized(merge)
    ax.add_collection(lines, autolim=True)
    ax.autoscale_view()


def _draw_curve(ax: Axes, curve: Curve) -> None:
    x, y = np.asarray(curve.x, dtype=float), np.asarray(curve.y, dtype=float)
    step = curve.drawstyle == "steps"
    if curve.err_low is not None and curve.err_high is not None:
        high = np.minimum(curve.err_high, _ERROR_TOP)  # an infinite bar runs off the top
        errors = np.nan_to_num(np.vstack([y - curve.err_low, high - y]), nan=0.0)
        ax.errorbar(
            x,
            y,
            yerr=np.maximum(errors, 0.0),
            color=curve.color,
            marker=curve.marker,
            linestyle=curve.linestyle,
            linewidth=curve.width,
            ms=4,
            capsize=2,
            label=curve.label,
        )
        return
    ax.plot(
        x,
        y,
        drawstyle="steps-post" if step else "default",
        color=curve.color,
        linestyle=curve.linestyle,
        linewidth=curve.width,
        alpha=curve.alpha,
        marker=curve.marker,
        label=curve.label,
    )
    if curve.low is not None and curve.high is not None:
        ax.fill_between(
            x,
            curve.low,
            np.where(np.isinf(curve.high), _BAND_TOP, curve.high),
            color=curve.color,
            alpha=curve.band_alpha,
            lw=0,
            step="post" if step else None,
        )


def _linestyle(name: str) -> Any:
    """A line style as matplotlib's type hints want it (any of its names)."""
    return name


def _svg_settings() -> Any:
    """SVG text as text (small files, browser fonts) and stable ids."""
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "optbench"})


def _legend_handles(entries: Iterable[LegendEntry]) -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            color=e.color,
            linestyle=_linestyle(e.linestyle),
            lw=e.width,
            alpha=e.alpha,
            marker=e.marker,
            markerfacecolor="none" if e.open_marker else e.color,
            label=e.label,
        )
        for e in entries
    ]


#: A log axis spanning more decades than this gets no minor ticks (each tick is two
#: lines and a text that matplotlib builds at every draw; the decades are labelled).
MINOR_TICK_DECADES = 3.0


def _sparse_minor_ticks(ax: Axes, panel: Panel) -> None:
    """No minor ticks on log axes spanning more than :data:`MINOR_TICK_DECADES`."""
    from matplotlib.ticker import NullLocator

    for axis, scale, limits in (
        (ax.xaxis, panel.xscale, ax.get_xlim()),
        (ax.yaxis, panel.yscale, ax.get_ylim()),
    ):
        low, high = sorted(limits)
        if scale == "log" and low > 0 and np.log10(high / low) > MINOR_TICK_DECADES:
            axis.set_minor_locator(NullLocator())


def _draw_panel(ax: Axes, panel: Panel, extra: list[LegendEntry]) -> None:
    faded = [c for c in panel.curves if c.label is None and c.err_low is None]
    if faded:
        _draw_collection(ax, faded)
    for curve in panel.curves:
        if curve.label is not None or curve.err_low is not None:
            _draw_curve(ax, curve)
    if panel.xscale == "log":
        ax.set_xscale("log", base=panel.xscale_base)
        _plain_log_labels(ax.xaxis)
    if panel.yscale == "log":
        ax.set_yscale("log")
        _plain_log_labels(ax.yaxis)
    if panel.xlim is not None:
        ax.set_xlim(*panel.xlim)
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    if panel.invert_x:
        ax.invert_xaxis()
    _sparse_minor_ticks(ax, panel)
    for markers in panel.top_markers:
        style.mark_top(ax, markers.x, markers.marker, markers.color)
    if panel.plain_y_ticks:
        style.plain_log_ticks(ax)
    # y given: matplotlib then places the title without measuring the tick labels
    ax.set_title(panel.title, fontsize="medium", y=1.0)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if panel.legend:
        handles, _ = ax.get_legend_handles_labels()
        handles += _legend_handles(extra)
        if handles:
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                fontsize="small",
                title=panel.legend_title or None,
                title_fontsize="small",
            )


#: Fixed margins in inches: around the grid of panels, between panels, per text line.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_TOP = 0.85, 0.25, 0.55, 0.15
PANEL_GAP_X, PANEL_GAP_Y = 0.75, 0.8
TITLE_LINE, LEGEND_ROW = 0.24, 0.2
#: Width in inches of a legend character (font size "small") and of a legend handle.
LEGEND_CHAR, LEGEND_HANDLE = 0.066, 0.65


@dataclass(frozen=True)
class Layout:
    """Where the panels go, in inches, chosen once from the figure data (no draw pass)."""

    width: float
    height: float
    left: float
    right: float
    bottom: float
    top: float
    gap_x: float
    gap_y: float

    def apply(self, fig: Figure, rows: int, columns: int) -> None:
        """Place the subplot grid of ``fig``."""
        inner_w = self.width - self.left - self.right
        inner_h = self.height - self.bottom - self.top
        panel_w = (inner_w - (columns - 1) * self.gap_x) / columns
        panel_h = (inner_h - (rows - 1) * self.gap_y) / rows
        fig.subplots_adjust(
            left=self.left / self.width,
            right=1 - self.right / self.width,
            bottom=self.bottom / self.height,
            top=1 - self.top / self.height,
            wspace=self.gap_x / max(panel_w, 0.1),
            hspace=self.gap_y / max(panel_h, 0.1),
        )


def _lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


def _legend_width(labels: list[str], title: str = "") -> float:
    longest = max([len(label) for label in labels] + [len(title) - 6, 0])
    return LEGEND_CHAR * longest + LEGEND_HANDLE


def layout(data: FigureData, rows: int, columns: int, legend_rows: int) -> Layout:
    """The fixed layout of ``data``: margins for titles, axis labels and legends.

    A panel legend (``Panel.legend``) sits at the right of its panel, in a margin as
    wide as its longest label; a figure legend sits below the panels, one row of
    height :data:`LEGEND_ROW` per row of entries. The figure grows by the legend so
    that panels keep their size.
    """
    width, height = data.width, data.height
    right, bottom = MARGIN_RIGHT, MARGIN_BOTTOM
    panel_legend = [p for p in data.panels if p.legend]
    if panel_legend:
        labels = [c.label for p in panel_legend for c in p.curves if c.label] + [
            e.label for e in data.extra_legend
        ]
        legend = _legend_width(labels, panel_legend[0].legend_title)
        right += legend
        width = max(width, 5.0 + legend)
    if legend_rows:
        bottom += LEGEND_ROW * legend_rows + 0.25
        height += LEGEND_ROW * legend_rows
    title_lines = max((_lines(p.title) for p in data.panels), default=0)
    top = MARGIN_TOP + TITLE_LINE * title_lines + TITLE_LINE * 1.2 * _lines(data.title)
    left = MARGIN_LEFT if any(p.ylabel for p in data.panels) else MARGIN_LEFT - 0.3
    return Layout(width, height, left, right, bottom, top, PANEL_GAP_X, PANEL_GAP_Y)


def to_figure(data: FigureData) -> Figure:
    """The matplotlib figure of ``data`` (not registered with pyplot).

    The layout is chosen once (:func:`layout`), not by matplotlib's constrained
    layout, which measures every text at every draw.
    """
    from matplotlib.figure import Figure

    count = len(data.panels)
    columns = max(1, min(data.columns, count))
    rows = -(-count // columns)
    panel_legend = any(p.legend for p in data.panels)
    handles: list[Any] = []
    fig = Figure()
    axes = np.atleast_1d(
        fig.subplots(rows, columns, squeeze=False, sharey=data.share_y and count > 1)
    ).ravel()
    for ax, panel in zip(axes, data.panels, strict=False):
        _draw_panel(ax, panel, data.extra_legend if panel_legend else [])
    for ax in axes[count:]:
        ax.set_visible(False)
    if not panel_legend and (data.legend_from_curves or data.extra_legend):
        if data.legend_from_curves:
            seen: dict[str, Any] = {}
            for ax in axes[:count]:
                for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                    seen.setdefault(label, handle)
            handles = list(seen.values())
        handles += _legend_handles(data.extra_legend)
    legend_columns = max(1, min(len(handles), data.legend_columns))
    place = layout(data, rows, columns, -(-len(handles) // legend_columns) if handles else 0)
    fig.set_size_inches(place.width, place.height)
    place.apply(fig, rows, columns)
    if data.title:
        fig.suptitle(data.title, fontsize="medium", y=1 - 0.08 / place.height, va="top")
    if handles:
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.04 / place.height),
            ncols=legend_columns,
            fontsize="small",
        )
    return fig


def _save_figure(fig: Figure, path: Path) -> tuple[Path, str | None]:
    """Write ``fig`` to ``path`` (format from the suffix); an SVG file also returns its
    text (:func:`svg_document`), the one drawing of the figure as SVG."""
    if Path(path).suffix == ".svg":
        document = svg_document(fig)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, document), document
    return style.save_figure(fig, path), None


def save(data: FigureData, path: Path) -> Path:
    """Draw ``data`` and write it to ``path`` (format from the suffix), atomically."""
    return _save_figure(to_figure(data), path)[0]


def save_all(data: FigureData, path: Path, *, svg: bool = False) -> tuple[Path, str | None]:
    """Draw ``data`` once: write ``path`` and, with ``svg``, also return its ``<svg>``
    element for the HTML report.

    An SVG ``path`` is drawn once: the file holds :func:`svg_document` and the element
    returned is the same text without its XML prolog and DOCTYPE. A PNG or PDF ``path``
    is written, then the same matplotlib figure is drawn again as SVG (:func:`raw_svg`).
    """
    fig = to_figure(data)
    written, document = _save_figure(fig, path)
    if not svg:
        return written, None
    return written, svg_element(document) if document is not None else raw_svg(fig)


def svg_document(fig: Figure) -> str:
    """``fig`` as an SVG file: text kept as text, stable ids, no date or other metadata,
    so that the same figure gives the same bytes."""
    buffer = io.StringIO()
    with _svg_settings():
        fig.savefig(buffer, format="svg", metadata=_SVG_METADATA)
    return buffer.getvalue()


def svg_element(document: str) -> str:
    """The ``<svg>`` element of an SVG file's text (no XML prolog, no DOCTYPE)."""
    start = _SVG_START.search(document)
    return (document[start.start() :] if start else document).strip()


def raw_svg(fig: Figure) -> str:
    """``fig`` as an ``<svg>`` element: no prolog, DOCTYPE or metadata, ids as drawn."""
    return svg_element(svg_document(fig))


def prefix_ids(svg: str, id_prefix: str) -> str:
    """Prepend ``id_prefix`` to every ``id`` of ``svg`` and every reference to one."""
    return _SVG_IDS.sub(lambda m: f"{m.group(1)}{id_prefix}", svg)


def svg_markup(data: FigureData | Figure, id_prefix: str) -> str:
    """``data`` drawn as an ``<svg>`` element for inlining, ids prefixed with ``id_prefix``.

    Parameters
    ----------
    data : FigureData or matplotlib Figure
        What to draw.
    id_prefix : str
        Prepended to every ``id`` and to every reference to one (``href="#…"``,
        ``url(#…)``); distinct per figure of a page.
    """
    fig = to_figure(data) if isinstance(data, FigureData) else data
    return prefix_ids(raw_svg(fig), id_prefix)
