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
from dataclasses import replace

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


def seed_envelopes(
    x: np.ndarray,
    y: np.ndarray,
    run: np.ndarray,
    config: np.ndarray,
    max_points: int = GRID_POINTS,
    band: tuple[float, float] = BAND,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`seed_envelope` of every configuration at once, in time linear in the rows.

    Parameters
    ----------
    x, y : ndarray
        Trace rows, sorted by configuration, then run, then ``x`` (non-decreasing
        within a run); ``y > 0`` (``inf`` or ``NaN`` for a diverged value).
    run, config : ndarray of int
        Each row's run and configuration codes (runs of one configuration contiguous).
    max_points, band
        As in :func:`seed_envelope`.

    Returns
    -------
    grid_config, grid, median, low, high : ndarray
        One entry per grid point, configuration by configuration (``grid_config``
        non-decreasing); the values as in :func:`seed_envelope`.

    Notes
    -----
    Each run's ``log10 y`` is found at every grid point of its configuration by one
    ``searchsorted`` over (run, rank of x) keys and interpolated between its two
    neighbours (as ``np.interp``); the median and quantiles across seeds are taken
    for all configurations with the same number of seeds at once
    (:func:`_row_statistics`). Only grids
    longer than ``max_points`` are thinned one by one (each has that many points,
    so there are at most rows / ``max_points`` of them).
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.log10(np.asarray(y, dtype=float))
    log = np.where(np.isfinite(log), log, _LOG_INF)
    run = np.asarray(run)
    config = np.asarray(config)
    if x.size == 0:
        empty = np.zeros(0)
        return np.zeros(0, dtype=int), empty, empty, empty, empty
    # runs: first and last row, configuration
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    last = np.r_[first[1:] - 1, x.size - 1]
    row_run = np.repeat(np.arange(first.size), np.diff(np.r_[first, x.size]))
    run_config = config[first]
    run_end = x[last]
    # the grid of each configuration: the union of its runs' x values, thinned
    order = np.lexsort((x, config))
    cx, cc = x[order], config[order]
    fresh = np.r_[True, (cx[1:] != cx[:-1]) | (cc[1:] != cc[:-1])]
    grid, grid_config = cx[fresh], cc[fresh]
    configs, runs_per_config = np.unique(run_config, return_counts=True)
    long = np.flatnonzero(np.bincount(grid_config) > max_points)
    if long.size:
        kept = ~np.isin(grid_config, long)
        parts, owners = [grid[kept]], [grid_config[kept]]
        for c in long:
            own = grid[grid_config == c]
            ends = run_end[run_config == c]
            thinned = np.unique(np.concatenate([np.linspace(own[0], own[-1], max_points), ends]))
            parts.append(thinned)
            owners.append(np.full(thinned.size, c))
        grid, grid_config = np.concatenate(parts), np.concatenate(owners)
        order = np.lexsort((grid, grid_config))
        grid, grid_config = grid[order], grid_config[order]
    # queries: every (grid point, run) of a configuration, grid-major
    index = np.searchsorted(configs, grid_config)
    seeds = runs_per_config[index]  # runs of the grid point's configuration
    run_start = np.searchsorted(run_config, configs)  # runs are grouped by configuration
    query_grid = np.repeat(np.arange(grid.size), seeds)
    within = np.arange(query_grid.size) - np.repeat(np.cumsum(seeds) - seeds, seeds)
    query_run = run_start[index][query_grid] + within
    at = grid[query_grid]
    # the last row of the query's run with x <= the grid point
    _, ranks = np.unique(np.concatenate([x, at]), return_inverse=True)
    scale = np.int64(ranks.max() + 1)
    keys = row_run.astype(np.int64) * scale + ranks[: x.size]
    k = np.searchsorted(keys, query_run.astype(np.int64) * scale + ranks[x.size :], "right") - 1
    started = (k >= 0) & (row_run[np.maximum(k, 0)] == query_run)
    stopped = at >= run_end[query_run]
    values = np.full(at.size, np.nan)
    values[stopped] = log[last[query_run[stopped]]]
    inside = started & ~stopped
    k = k[inside]
    x0, x1, l0, l1 = x[k], x[k + 1], log[k], log[k + 1]
    values[inside] = (l1 - l0) / (x1 - x0) * (at[inside] - x0) + l0
    median, low, high = np.empty(grid.size), np.empty(grid.size), np.empty(grid.size)
    query_seeds = seeds[query_grid]
    for count in np.unique(seeds):
        table = values[query_seeds == count].reshape(-1, count)
        points = seeds == count
        median[points], low[points], high[points] = _row_statistics(table, band)
    median = np.where(median >= _LOG_INF / 2, np.nan, 10.0 ** np.minimum(median, 300))
    low = np.where(low > _LOG_MAX, np.nan, 10.0 ** np.minimum(low, 300))
    high = np.where(high > _LOG_MAX, np.inf, 10.0 ** np.minimum(high, 300))
    return grid_config, grid, median, low, high


def _row_statistics(
    table: np.ndarray, band: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.nanmedian`` and ``np.nanquantile(band)`` (linear) of each row, vectorised.

    numpy's NaN-aware quantile loops over the rows in Python; here one sort per
    table: the non-NaN values of a row come first, ``n`` of them, and the quantile
    ``p`` lies between the values at ``floor(p (n - 1))`` and the next (numpy's
    interpolation formula). A row of NaN gives NaN.
    """
    if table.shape[1] == 1:
        column = table[:, 0]
        return column, column.copy(), column.copy()
    ordered = np.sort(table, axis=1)
    count = (~np.isnan(table)).sum(axis=1)
    rows = np.arange(table.shape[0])
    last = np.maximum(count - 1, 0)
    middle = last // 2
    below, above = ordered[rows, middle], ordered[rows, np.minimum(middle + 1, last)]
    median = np.where(count % 2 == 1, below, (below + above) / 2)
    quantiles = []
    for p in band:
        position = p * last
        lower = np.floor(position).astype(int)
        weight = position - lower
        a, b = ordered[rows, lower], ordered[rows, np.minimum(lower + 1, last)]
        difference = b - a
        quantiles.append(
            np.where(weight >= 0.5, b - difference * (1 - weight), a + difference * weight)
        )
    empty = count == 0
    median[empty] = np.nan
    return median, np.where(empty, np.nan, quantiles[0]), np.where(empty, np.nan, quantiles[1])


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
        carry-forward rule; :func:`seed_envelopes` computes it for many
        configurations at once.
    """
    x = np.concatenate([np.asarray(r[0], dtype=float) for r in runs])
    y = np.concatenate([np.asarray(r[1], dtype=float) for r in runs])
    run = np.repeat(np.arange(len(runs)), [len(r[0]) for r in runs])
    _, grid, median, low, high = seed_envelopes(x, y, run, np.zeros(x.size, int), max_points, band)
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


def _solid(summary: pd.DataFrame) -> set[tuple[str, str]]:
    """``(problem, solver_label)`` drawn solid: the best of each swept family on each
    problem and every setting of families that were not swept (one
    :func:`best_settings` for all problems)."""
    best = best_settings(summary, swept_only=False)
    return set(zip(best["problem"].astype(str), best["solver_label"].astype(str), strict=True))


def drawn_solid(summary: pd.DataFrame, problem: str) -> set[str]:
    """Labels drawn solid on ``problem``: the best of each swept family and every
    setting of families that were not swept."""
    return {label for p, label in _solid(summary[summary["problem"] == problem]) if p == problem}


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
    panels = convergence_panels(traces[traces["problem"] == problem], summary, [problem], x)
    panel, extra, families = panels[problem]
    return (_with_legend(panel) if legend else panel), extra, families


def convergence_panels(
    traces: pd.DataFrame, summary: pd.DataFrame, problems: Sequence[str], x: str = "iter"
) -> dict[str, tuple[Panel, list[LegendEntry], set[str]]]:
    """:func:`convergence_panel` (without legend) of each of ``problems``, in time linear
    in the trace rows: one merge of the labels, one :func:`best_settings`, one
    ``groupby`` by problem and :func:`seed_envelopes` per problem."""
    if set(pd.unique(summary["problem"])) - set(problems):
        summary = summary[summary["problem"].isin(problems)]
        traces = traces[traces["problem"].isin(problems)]
    data = _labelled_traces(traces, summary)
    solid = _solid(summary)
    panels = {}
    for problem, rows in data.groupby("problem", sort=False).indices.items():
        panels[str(problem)] = _panel(data.take(rows), str(problem), x, solid)
    return {p: panels[p] for p in problems if p in panels}


def _panel(
    data: pd.DataFrame, problem: str, x: str, solid: set[tuple[str, str]]
) -> tuple[Panel, list[LegendEntry], set[str]]:
    """The convergence panel (no legend) of one problem's labelled trace rows."""
    y_column = _y_column(data)
    values = data[y_column].to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    floor = min(LOG_FLOOR, positive.min()) if positive.size else LOG_FLOOR
    shown = np.where(values <= 0, floor, values)
    config_code, found = pd.factorize(data["solver_label"].astype(str))
    labels = [str(label) for label in found.tolist()]
    run_code, _ = pd.factorize(data["run_id"])
    order = np.lexsort((data["iter"].to_numpy(), run_code, config_code))
    config_code, run_code = config_code[order], run_code[order]
    xs, ys = data[x].to_numpy(dtype=float)[order], shown[order]
    grid_config, grid, median, low, high = seed_envelopes(xs, ys, run_code, config_code)
    bounds = np.searchsorted(grid_config, np.arange(len(labels) + 1))
    first = np.r_[True, run_code[1:] != run_code[:-1]]
    runs_of = np.bincount(config_code[first], minlength=len(labels))
    starts = ys[first]
    finite_starts = starts[np.isfinite(starts)]
    top = float(finite_starts.max()) if finite_starts.size else 0.0
    families = data["family"].astype(str).to_numpy()[order][first]
    family_of = dict(zip(config_code[first], families, strict=True))
    n_settings = pd.Series(list(family_of.values())).value_counts().to_dict()
    ranked = sorted(
        range(len(labels)),
        key=lambda c: (
            style.family_rank(family_of[c]),
            (problem, labels[c]) not in solid,
            labels[c],
        ),
    )
    panel = Panel(xlabel=style.X_LABELS[x], ylabel=style.y_label(y_column), yscale="log")
    panel.title = problem
    extra: list[LegendEntry] = []
    for c in ranked:
        family, label = family_of[c], str(labels[c])
        part = slice(bounds[c], bounds[c + 1])
        color, linestyle = style.family_color(family), style.family_linestyle(family)
        if (problem, label) in solid:
            if n_settings[family] > 1:
                label = f"{label} (best of {n_settings[family]})"
            banded = runs_of[c] > 1
            panel.curves.append(
                Curve(
                    grid[part],
                    median[part],
                    label,
                    color,
                    linestyle,
                    style.BEST_WIDTH,
                    style.BEST_ALPHA,
                    low=low[part] if banded else None,
                    high=high[part] if banded else None,
                    band_alpha=style.BAND_ALPHA,
                )
            )
            continue
        panel.curves.append(
            Curve(
                grid[part],
                median[part],
                None,
                color,
                linestyle,
                style.FADED_WIDTH,
                style.FADED_ALPHA,
            )
        )
        entry = f"{family}: {n_settings[family] - 1} other settings"
        if all(e.label != entry for e in extra):
            extra.append(LegendEntry(entry, color, linestyle, style.FADED_WIDTH, style.FADED_ALPHA))
    finite = shown[np.isfinite(shown)]
    if finite.size:
        top = min(top * 1e3, finite.max() * 3) if top > 0 else finite.max() * 3
        panel.ylim = (max(finite.min() / 3, floor / 3), top)
    panel.legend_title = (
        f"median of {runs_of.max()} seeds, band {band_text()}" if runs_of.max() > 1 else "one seed"
    )
    return panel, extra, set(families)


def _with_legend(panel: Panel) -> Panel:
    """``panel`` with its own legend at its right (titled by the seeds it shows)."""
    return replace(panel, legend=True)


def _without_legend(panel: Panel) -> Panel:
    return replace(panel, legend=False, legend_title="")


def convergence_figure(
    traces: pd.DataFrame,
    summary: pd.DataFrame,
    problem: str,
    x: str,
    stem: str,
    panel: tuple[Panel, list[LegendEntry], set[str]] | None = None,
) -> FigureData:
    """The convergence figure of one problem (one panel, legend at its right);
    ``panel``: its :func:`convergence_panels` entry, when computed already."""
    if panel is None:
        panel = convergence_panels(traces, summary, [problem], x)[problem]
    shown, extra, _ = panel
    n_seeds = summary.loc[summary["problem"] == problem, "seed"].nunique()
    band = f", {band_text()} band across seeds" if n_seeds > 1 else ""
    return FigureData(
        stem=figure_stem("convergence", stem, x),
        panels=[_with_legend(shown)],
        extra_legend=extra,
        caption=f"Convergence on {problem}: median over {n_seeds} seed(s){band}, "
        f"against {style.X_LABELS[x]}.",
        problem=problem,
    )


def convergence_grid_figure(
    traces: pd.DataFrame,
    summary: pd.DataFrame,
    problems: Sequence[str],
    x: str,
    panels: dict[str, tuple[Panel, list[LegendEntry], set[str]]] | None = None,
    of: int | None = None,
) -> FigureData:
    """One panel per problem (convergence curves), a shared legend of families;
    ``panels``: their :func:`convergence_panels`, when computed already; ``of``: the
    number of problems when ``problems`` are the first of a larger suite."""
    if panels is None:
        panels = convergence_panels(traces, summary, problems, x)
    columns = min(3, len(problems))
    rows = -(-len(problems) // columns)
    drawn, families = [], set()
    for problem in problems:
        panel, _, used = panels[problem]
        families |= used
        drawn.append(_without_legend(panel))
    legend = [
        LegendEntry(f, style.family_color(f), style.family_linestyle(f))
        for f in sorted(families, key=style.family_rank)
    ]
    legend += [
        LegendEntry("best setting", width=style.BEST_WIDTH),
        LegendEntry("other settings", width=style.FADED_WIDTH, alpha=style.FADED_ALPHA),
    ]
    caption = "Convergence on every problem, one panel each."
    if of is not None and of > len(problems):
        caption = f"Convergence on the first {len(problems)} of {of} problems, one panel each."
    return FigureData(
        stem=figure_stem("convergence_grid", "", x),
        panels=drawn,
        columns=columns,
        width=4.3 * columns,
        height=3.4 * rows + 0.8,
        extra_legend=legend,
        legend_columns=5,
        caption=caption,
    )


def _traced_problems(frames: ResultsFrames, x: str | None) -> tuple[str, pd.DataFrame, list[str]]:
    x = x or "iter"
    if x not in X_COLUMNS:
        raise ValueError(f"x: must be one of {', '.join(X_COLUMNS)}, got {x!r}")
    traces = frames.traces if frames.traces is not None else pd.DataFrame()
    traced = set(pd.unique(traces["problem"])) if "problem" in traces else set()
    problems = [str(p) for p in pd.unique(frames.summary["problem"]) if p in traced]
    return x, traces, problems


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
        have traces. Each problem's panel is computed once for both.
    """
    x, traces, problems = _traced_problems(frames, x)
    summary = frames.summary
    panels = convergence_panels(traces, summary, problems, x)
    stems = style.unique_stems([str(p) for p in pd.unique(summary["problem"])])
    figures = [convergence_figure(traces, summary, p, x, stems[p], panels[p]) for p in problems]
    if problems and len(problems) <= MAX_GRID_PROBLEMS:
        figures.append(convergence_grid_figure(traces, summary, problems, x, panels))
    return figures


def convergence_summary_figures(frames: ResultsFrames, x: str | None = "iter") -> list[FigureData]:
    """The ``convergence`` kind at ``--plots summary``: the grid only, of the first
    :data:`MAX_GRID_PROBLEMS` problems with traces (one figure whatever the suite)."""
    x, traces, problems = _traced_problems(frames, x)
    if not problems:
        return []
    shown = problems[:MAX_GRID_PROBLEMS]
    panels = convergence_panels(traces, frames.summary, shown, x)
    return [convergence_grid_figure(traces, frames.summary, shown, x, panels, len(problems))]
