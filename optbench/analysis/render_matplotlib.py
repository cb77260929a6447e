"""Draw a :class:`~optbench.analysis.figure_data.FigureData` with matplotlib.

:func:`to_figure` builds the matplotlib figure, :func:`save` writes it (PNG, PDF or SVG,
atomically) and :func:`svg_markup` returns it as an ``<svg>`` element ready to be
inlined in an HTML page: text kept as text (``svg.fonttype: none``, so the file stays
small and the browser's sans-serif font draws it), no XML prolog, no DOCTYPE, no
metadata, and every ``id`` prefixed so that several figures on one page never share one.

Cheap by construction: the unlabelled curves of a panel (the settings of a sweep, the
faded lines) are drawn as one ``LineCollection``, whatever their number; only the
labelled curves, which the legend needs, are separate artists.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optbench.analysis import style
from optbench.analysis.figure_data import Curve, FigureData, LegendEntry, Panel

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Largest finite value drawn for an infinite band edge (the top of any log axis).
_BAND_TOP = 1e300
_SVG_START = re.compile(r"<svg\b")
_SVG_IDS = re.compile(r'(\bid="|href="#|url\(#)')
_SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "optbench"}
_SVG_METADATA: dict[str, Any] = {"Creator": None, "Date": None, "Format": None, "Type": None}


def _step_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of a post-step curve through (x, y)."""
    if x.size < 2:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def _draw_collection(ax: Axes, curves: list[Curve]) -> None:
    """Every unlabelled curve of a panel as one ``LineCollection``."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    segments, colors, widths, styles = [], [], [], []
    for curve in curves:
        x, y = np.asarray(curve.x, dtype=float), np.asarray(curve.y, dtype=float)
        if curve.drawstyle == "steps":
            x, y = _step_points(x, y)
        segments.append(np.column_stack([x, y]))
        colors.append(to_rgba(curve.color, curve.alpha))
        widths.append(curve.width)
        styles.append(curve.linestyle)
    ax.add_collection(
        LineCollection(segments, colors=colors, linewidths=widths, linestyles=styles),
        autolim=True,
    )
    ax.autoscale_view()


def _draw_curve(ax: Axes, curve: Curve) -> None:
    x, y = np.asarray(curve.x, dtype=float), np.asarray(curve.y, dtype=float)
    step = curve.drawstyle == "steps"
    if curve.err_low is not None and curve.err_high is not None:
        errors = np.nan_to_num(
            np.vstack([y - curve.err_low, curve.err_high - y]), nan=0.0, posinf=_BAND_TOP
        )
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


def _legend_handles(entries: Iterable[LegendEntry]) -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            color=e.color,
            linestyle="none" if e.marker and e.linestyle == "none" else e.linestyle,
            lw=e.width,
            alpha=e.alpha,
            marker=e.marker,
            markerfacecolor="none" if e.open_marker else e.color,
            label=e.label,
        )
        for e in entries
    ]


def _draw_panel(ax: Axes, panel: Panel, extra: list[LegendEntry]) -> None:
    faded = [c for c in panel.curves if c.label is None and c.err_low is None]
    if faded:
        _draw_collection(ax, faded)
    for curve in panel.curves:
        if curve.label is not None or curve.err_low is not None:
            _draw_curve(ax, curve)
    if panel.xscale == "log":
        ax.set_xscale("log", base=panel.xscale_base)
    if panel.yscale == "log":
        ax.set_yscale("log")
    if panel.xlim is not None:
        ax.set_xlim(*panel.xlim)
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    if panel.invert_x:
        ax.invert_xaxis()
    for markers in panel.top_markers:
        style.mark_top(ax, markers.x, markers.marker, markers.color)
    if panel.plain_y_ticks:
        style.plain_log_ticks(ax)
    ax.set_title(panel.title, fontsize="medium")
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


def to_figure(data: FigureData) -> Figure:
    """The matplotlib figure of ``data`` (not registered with pyplot)."""
    count = len(data.panels)
    columns = max(1, min(data.columns, count))
    rows = -(-count // columns)
    fig = style.new_figure(data.width, data.height)
    axes = np.atleast_1d(
        fig.subplots(rows, columns, squeeze=False, sharey=data.share_y and count > 1)
    ).ravel()
    panel_legend = any(p.legend for p in data.panels)
    for ax, panel in zip(axes, data.panels, strict=False):
        _draw_panel(ax, panel, data.extra_legend if panel_legend else [])
    for ax in axes[count:]:
        ax.set_visible(False)
    if data.title:
        fig.suptitle(data.title, fontsize="medium")
    if not panel_legend and (data.legend_from_curves or data.extra_legend):
        handles: list[Any] = []
        if data.legend_from_curves:
            seen: dict[str, Any] = {}
            for ax in axes[:count]:
                for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                    seen.setdefault(label, handle)
            handles = list(seen.values())
        handles += _legend_handles(data.extra_legend)
        if handles:
            fig.legend(
                handles=handles,
                loc="outside lower center",
                ncols=max(1, min(len(handles), data.legend_columns)),
                fontsize="small",
            )
    return fig


def save(data: FigureData, path: Path) -> Path:
    """Draw ``data`` and write it to ``path`` (format from the suffix), atomically."""
    fig = to_figure(data)
    if Path(path).suffix == ".svg":
        import matplotlib

        with matplotlib.rc_context(_SVG_RC):
            return style.save_figure(fig, path)
    return style.save_figure(fig, path)


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
    import matplotlib

    fig = to_figure(data) if isinstance(data, FigureData) else data
    buffer = io.StringIO()
    with matplotlib.rc_context(_SVG_RC):
        fig.savefig(buffer, format="svg", metadata=_SVG_METADATA)
    text = buffer.getvalue()
    start = _SVG_START.search(text)
    text = text[start.start() :] if start else text
    return _SVG_IDS.sub(lambda m: f"{m.group(1)}{id_prefix}", text).strip()
