"""Convergence figures of a results directory (the ``convergence`` plot kind).

Per problem, :func:`convergence_figures` computes the figure data of ``f - f*`` (the
gradient norm where f* is unknown, as the axis title says) on a log axis against
iterations, cost or time, every solver configuration overlaid, and, for a suite of at
most :data:`MAX_GRID_PROBLEMS` problems, one grid figure with a panel per problem
(larger suites get per-problem figures only, never one giant grid).

Conventions:

- **Median and quantile band across seeds.** Each seed's trace is interpolated
  (linearly in ``log10 y``) onto a common x grid. After a run stopped, its **last
  value is carried forward** ("what this run returns with a budget x"), so the median
  and the band use every seed once it has started and never jump when a seed stops.
  The band spans the :data:`BAND` quantiles (25 % to 75 %, linear interpolation
  between seeds) of those values. Values are the actual trace values, not a
  best-so-far envelope.
- **Divergence.** Non-finite values count as ``+inf``: a median over a majority of
  diverged seeds is not drawn; the band of a partly diverged setting reaches the
  top of the axis.
- **Floor.** Values ``<= 0`` (an exact optimum) are drawn at the panel's floor,
  ``min(1e-16, smallest positive value)``.
- **Sweeps.** The best setting of each swept family (:func:`best_settings`) is
  drawn solid with its band; the other settings faded, without band, as one line
  collection.

The figures are data (:class:`~optbench.analysis.figure_data.FigureData`); the step-size
sensitivity figure is computed by :mod:`optbench.analysis.sensitivity`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.figure_data import Curve, FigureData, LegendEntry, Panel
from optbench.analysis.frames import ResultsFrames
from optbench.analysis.tables import best_settings, family_key

#: Quantities available on the x axis.
X_COLUMNS = ("iter", "cost", "time")
#: Most x points of a median curve (the union of the seeds' x values, thinned).
GRID_POINTS = 400
#: Quantiles across seeds spanned by the band around the median.
BAND = (0.25, 0.75)
#: Most problems drawn in the one-panel-per-problem grid figure.
MAX_GRID_PROBLEMS = 12
#: Lowest value drawn on a log axis unless the data go lower.
LOG_FLOOR = style.LOG_FLOOR
#: ``log10`` stand-in for +inf while interpolating (above any double).
_LOG_INF = 400.0
#: ``log10`` of the largest double: a band edge above it is infinite.
_LOG_MAX = 308.26


def seed_envelope(
    runs: Sequence[tuple[np.ndarray, np.ndarray]],
    max_points: int = GRID_POINTS,
    band: tuple[float, float] = BAND,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and quantile band across seeds of positive values on a common x grid.

    Parameters
    ----------
    runs : sequence of (x, y)
        One pair of arrays per seed, ``x`` non-decreasing, ``y > 0`` (``inf`` or
        ``NaN`` for a diverged value).
    max_points : int
        Grid size cap.
    band : (float, float)
        The quantiles of the band, e.g. ``(0, 1)`` for min–max.

    Returns
    -------
    grid, median, low, high : ndarray
        ``median`` is ``NaN`` where more than half of the seeds are at ``+inf``;
        ``high`` is ``inf`` where the upper quantile falls on a diverged seed, ``low``
        ``NaN`` where the lower one does. See the module docstring for the
        carry-forward rule.
    """
    xs = [np.asarray(x, dtype=float) for x, _ in runs]
    logs = []
    for _, y in runs:
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.log10(y)
        logs.append(np.where(np.isfinite(log), log, _LOG_INF))
    grid = np.unique(np.concatenate(xs))
    if grid.size > max_points:
        ends = [x[-1] for x in xs]
        grid = np.unique(np.concatenate([np.linspace(grid[0], grid[-1], max_points), ends]))
    values = np.full((len(xs), grid.size), np.nan)
    for row, x, log in zip(values, xs, logs, strict=True):
        inside = (grid >= x[0]) & (grid <= x[-1])
        row[inside] = np.interp(grid[inside], x, log)
        row[grid > x[-1]] = log[-1]
    median = np.nanmedian(values, axis=0)
    low, high = np.nanquantile(values, band, axis=0)
    median = np.where(median >= _LOG_INF / 2, np.nan, 10.0 ** np.minimum(median, 300))
    low = np.where(low > _LOG_MAX, np.nan, 10.0 ** np.minimum(low, 300))
    high = np.where(high > _LOG_MAX, np.inf, 10.0 ** np.minimum(high, 300))
    return grid, median, low, high


def band_text(band: tuple[float, float] = BAND) -> str:
    """``"25–75 %"``: the quantiles of a band, in words for legends and captions."""
    if band == (0.0, 1.0):
        return "min–max"
    return f"{100 * band[0]:g}–{100 * band[1]:g} %"


def figure_stem(kind: str, stem: str, x: str) -> str:
    """The file stem of a figure (:func:`optbench.analysis.style.figure_name` less the suffix)."""
    return style.figure_name(kind, stem, x, "fmt").removesuffix(".fmt")


def _labelled_traces(traces: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Traces with each run's ``solver_label``, ``seed`` and ``family``."""
    runs = summary[["run_id", "solver_label", "seed"]].assign(family=family_key(summary))
    columns = [c for c in traces.columns if c not in ("solver_label", "seed", "family")]
    return traces[columns].merge(runs, on="run_id", how="inner")


def drawn_solid(summary: pd.DataFrame, problem: str) -> set[str]:
    """Labels drawn solid on ``problem``: the best of each swept family and every
    setting of families that were not swept."""
    rows = summary[summary["problem"] == problem]
    best = best_settings(rows, swept_only=False)
    return set(best["solver_label"])


def _y_column(traces: pd.DataFrame) -> str:
    return "f_gap" if traces["f_gap"].notna().any() else "grad_norm"


def convergence_panel(
    traces: pd.DataFrame,
    summary: pd.DataFrame,
    problem: str,
    x: str = "iter",
    legend: bool = True,
) -> tuple[Panel, list[LegendEntry], set[str]]:
    """The convergence curves of every configuration on ``problem``.

    Parameters
    ----------
    traces, summary : DataFrame
        ``traces.parquet`` and ``summary.csv`` rows (other problems are ignored).
    problem : str
        Problem label.
    x : {"iter", "cost", "time"}
        The x quantity.
    legend : bool
        Whether the panel carries its own legend (at its right).

    Returns
    -------
    panel : Panel
        Median curves (the best settings with their band, labelled; the others faded,
        unlabelled), log y axis.
    legend_entries : list of LegendEntry
        One "<family>: k other settings" entry per family with faded settings.
    families : set of str
        The families drawn.
    """
    summary = summary[summary["problem"] == problem]
    data = _labelled_traces(traces[traces["problem"] == problem], summary)
    y_column = _y_column(data)
    solid = drawn_solid(summary, problem)
    values = data[y_column].to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    floor = min(LOG_FLOOR, positive.min()) if positive.size else LOG_FLOOR
    data = data.assign(_y=np.where(values <= 0, floor, values))
    configs = data.drop_duplicates("solver_label")[["solver_label", "family"]]
    configs = sorted(
        configs.itertuples(index=False),
        key=lambda c: (style.family_rank(c.family), c.solver_label not in solid, c.solver_label),
    )
    n_settings = data.groupby("family")["solver_label"].nunique()
    grouped = dict(tuple(data.sort_values(["run_id", "iter"]).groupby("solver_label", sort=False)))
    panel = Panel(xlabel=style.X_LABELS[x], ylabel=style.y_label(y_column), yscale="log")
    panel.title = problem
    extra: list[LegendEntry] = []
    top = 0.0
    for solver_label, family in configs:
        rows = grouped[solver_label]
        runs = [(run[x].to_numpy(), run["_y"].to_numpy()) for _, run in rows.groupby("run_id")]
        grid, median, low, high = seed_envelope(runs)
        starts = [y[0] for _, y in runs if np.isfinite(y[0])]
        top = max(top, *starts) if starts else top
        color = style.family_color(family)
        if solver_label in solid:
            label = str(solver_label)
            if n_settings[family] > 1:
                label = f"{solver_label} (best of {n_settings[family]})"
            panel.curves.append(
                Curve(
                    grid,
                    median,
                    label,
                    color,
                    style.family_linestyle(family),
                    style.BEST_WIDTH,
                    style.BEST_ALPHA,
                    low=low if len(runs) > 1 else None,
                    high=high if len(runs) > 1 else None,
                    band_alpha=style.BAND_ALPHA,
                )
            )
            continue
        panel.curves.append(
            Curve(
                grid,
                median,
                None,
                color,
                style.family_linestyle(family),
                style.FADED_WIDTH,
                style.FADED_ALPHA,
            )
        )
        entry = f"{family}: {n_settings[family] - 1} other settings"
        if all(e.label != entry for e in extra):
            extra.append(
                LegendEntry(
                    entry,
                    color,
                    style.family_linestyle(family),
                    style.FADED_WIDTH,
                    style.FADED_ALPHA,
                )
            )
    finite = data["_y"][np.isfinite(data["_y"])]
    if len(finite):
        top = min(top * 1e3, finite.max() * 3) if top > 0 else finite.max() * 3
        panel.ylim = (max(finite.min() / 3, floor / 3), top)
    if legend:
        n_seeds = data.groupby("solver_label")["run_id"].nunique().max()
        panel.legend = True
        panel.legend_title = (
            f"median of {n_seeds} seeds, band {band_text()}" if n_seeds > 1 else "one seed"
        )
    return panel, extra, {family for _, family in configs}


def convergence_figure(
    traces: pd.DataFrame, summary: pd.DataFrame, problem: str, x: str, stem: str
) -> FigureData:
    """The convergence figure of one problem (one panel, legend at its right)."""
    panel, extra, _ = convergence_panel(traces, summary, problem, x)
    n_seeds = summary.loc[summary["problem"] == problem, "seed"].nunique()
    band = f", {band_text()} band across seeds" if n_seeds > 1 else ""
    return FigureData(
        stem=figure_stem("convergence", stem, x),
        panels=[panel],
        extra_legend=extra,
        caption=f"Convergence on {problem}: median over {n_seeds} seed(s){band}, "
        f"against {style.X_LABELS[x]}.",
        problem=problem,
    )


def convergence_grid_figure(
    traces: pd.DataFrame, summary: pd.DataFrame, problems: Sequence[str], x: str
) -> FigureData:
    """One panel per problem (convergence curves), a shared legend of families."""
    columns = min(3, len(problems))
    rows = -(-len(problems) // columns)
    panels, families = [], set()
    for problem in problems:
        panel, _, drawn = convergence_panel(traces, summary, problem, x, legend=False)
        families |= drawn
        panels.append(panel)
    legend = [
        LegendEntry(f, style.family_color(f), style.family_linestyle(f))
        for f in sorted(families, key=style.family_rank)
    ]
    legend += [
        LegendEntry("best setting", width=style.BEST_WIDTH),
        LegendEntry("other settings", width=style.FADED_WIDTH, alpha=style.FADED_ALPHA),
    ]
    return FigureData(
        stem=figure_stem("convergence_grid", "", x),
        panels=panels,
        columns=columns,
        width=4.3 * columns,
        height=3.4 * rows + 0.8,
        extra_legend=legend,
        legend_columns=5,
        caption="Convergence on every problem, one panel each.",
    )


def convergence_figures(frames: ResultsFrames, x: str | None = "iter") -> list[FigureData]:
    """The ``convergence`` plot kind: a figure per problem with traces, and the grid.

    Parameters
    ----------
    frames : ResultsFrames
        Needs ``summary`` and ``traces``.
    x : {"iter", "cost", "time"}, optional
        x axis of the curves (default ``"iter"``).

    Returns
    -------
    list of FigureData
        Stems ``convergence_<problem>[_<x>]`` per problem, then
        ``convergence_grid[_<x>]`` when at most :data:`MAX_GRID_PROBLEMS` problems
        have traces.
    """
    x = x or "iter"
    if x not in X_COLUMNS:
        raise ValueError(f"x: must be one of {', '.join(X_COLUMNS)}, got {x!r}")
    summary = frames.summary
    traces = frames.traces if frames.traces is not None else pd.DataFrame()
    traced = set(traces["problem"]) if "problem" in traces else set()
    problems = [p for p in pd.unique(summary["problem"]) if p in traced]
    stems = style.unique_stems(list(pd.unique(summary["problem"])))
    figures = [convergence_figure(traces, summary, p, x, stems[p]) for p in problems]
    if problems and len(problems) <= MAX_GRID_PROBLEMS:
        figures.append(convergence_grid_figure(traces, summary, problems, x))
    return figures
