"""Convergence figures of a results directory (``optbench plot DIR``).

Per problem, :func:`plot_results` draws ``f - f*`` (the gradient norm where f* is
unknown, as the axis title says) on a log axis against iterations, cost or time,
every solver configuration overlaid, plus a step-size sensitivity figure where a
step size was swept and one grid figure with a panel per problem.

Conventions:

- **Median and band across seeds.** Each seed's trace is interpolated (linearly in
  ``log10 y``) onto a common x grid. After a run stopped, its **last value is
  carried forward** ("what this run returns with a budget x"), so the median and
  the min–max band use every seed once it has started and never jump when a seed
  stops. Values are the actual trace values, not a best-so-far envelope.
- **Divergence.** Non-finite values count as ``+inf``: a median over a majority of
  diverged seeds is not drawn; the band of a partly diverged setting reaches the
  top of the axis.
- **Floor.** Values ``<= 0`` (an exact optimum) are drawn at the panel's floor,
  ``min(1e-16, smallest positive value)``.
- **Sweeps.** The best setting of each swept family (:func:`best_settings`) is
  drawn solid with its band; the other settings faded, without band.

The step-size sensitivity figure is drawn by :mod:`optbench.analysis.sensitivity`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.frames import results_frames
from optbench.analysis.sensitivity import plot_step_size_sensitivity
from optbench.analysis.tables import best_settings, family_key

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Quantities available on the x axis, and the figure formats.
X_COLUMNS = ("iter", "cost", "time")
FORMATS = style.FORMATS
#: Most x points of a median curve (the union of the seeds' x values, thinned).
GRID_POINTS = 400
#: Lowest value drawn on a log axis unless the data go lower.
LOG_FLOOR = style.LOG_FLOOR
#: ``log10`` stand-in for +inf while interpolating (above any double).
_LOG_INF = 400.0


def seed_envelope(
    runs: Sequence[tuple[np.ndarray, np.ndarray]], max_points: int = GRID_POINTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and min–max band across seeds of positive values on a common x grid.

    Parameters
    ----------
    runs : sequence of (x, y)
        One pair of arrays per seed, ``x`` non-decreasing, ``y > 0`` (``inf`` or
        ``NaN`` for a diverged value).
    max_points : int
        Grid size cap.

    Returns
    -------
    grid, median, low, high : ndarray
        ``median`` is ``NaN`` where more than half of the seeds are at ``+inf``;
        ``high`` is ``inf`` where some seed is. See the module docstring for the
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
    low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    median = np.where(median >= _LOG_INF / 2, np.nan, 10.0 ** np.minimum(median, 300))
    low = np.where(low >= _LOG_INF / 2, np.nan, 10.0 ** np.minimum(low, 300))
    high = np.where(high >= _LOG_INF / 2, np.inf, 10.0 ** np.minimum(high, 300))
    return grid, median, low, high


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


def draw_convergence(
    ax: Axes,
    traces: pd.DataFrame,
    summary: pd.DataFrame,
    problem: str,
    x: str = "iter",
    legend: bool = True,
) -> set[str]:
    """Draw the convergence curves of every configuration on ``problem`` into ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes
    traces, summary : DataFrame
        ``traces.parquet`` and ``summary.csv`` rows (other problems are ignored).
    problem : str
        Problem label.
    x : {"iter", "cost", "time"}
        The x quantity.
    legend : bool
        Add a legend to the right of the axes.

    Returns
    -------
    set of str
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
    handles, faded_families = [], []
    top = 0.0
    for solver_label, family in configs:
        rows = data[data["solver_label"] == solver_label].sort_values(["run_id", "iter"])
        runs = [(run[x].to_numpy(), run["_y"].to_numpy()) for _, run in rows.groupby("run_id")]
        grid, median, low, high = seed_envelope(runs)
        starts = [y[0] for _, y in runs if np.isfinite(y[0])]
        top = max(top, *starts) if starts else top
        is_solid = solver_label in solid
        line = ax.plot(
            grid,
            median,
            color=style.family_color(family),
            linestyle=style.family_linestyle(family),
            linewidth=style.BEST_WIDTH if is_solid else style.FADED_WIDTH,
            alpha=style.BEST_ALPHA if is_solid else style.FADED_ALPHA,
            label=solver_label,
        )[0]
        if is_solid:
            band_high = np.where(np.isinf(high), 1e300, high)
            ax.fill_between(
                grid, low, band_high, color=style.family_color(family), alpha=style.BAND_ALPHA, lw=0
            )
            if n_settings[family] > 1:
                line.set_label(f"{solver_label} (best of {n_settings[family]})")
            handles.append(line)
        elif family not in faded_families:
            faded_families.append(family)
            line.set_label(f"{family}: {n_settings[family] - 1} other settings")
            handles.append(line)
    ax.set_yscale("log")
    finite = data["_y"][np.isfinite(data["_y"])]
    if len(finite):
        top = min(top * 1e3, finite.max() * 3) if top > 0 else finite.max() * 3
        ax.set_ylim(max(finite.min() / 3, floor / 3), top)
    ax.set_xlabel(style.X_LABELS[x])
    ax.set_ylabel(style.y_label(y_column))
    ax.set_title(problem, fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    if legend and handles:
        n_seeds = data.groupby("solver_label")["run_id"].nunique().max()
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize="small",
            title=f"median of {n_seeds} seeds, band min–max" if n_seeds > 1 else "one seed",
            title_fontsize="small",
        )
    return {family for _, family in configs}


def plot_convergence_grid(
    traces: pd.DataFrame, summary: pd.DataFrame, problems: Sequence[str], x: str, path: Path
) -> Path:
    """One panel per problem (convergence curves), a shared legend of families."""
    from matplotlib.lines import Line2D

    ncols = min(3, len(problems))
    nrows = math.ceil(len(problems) / ncols)
    fig = style.new_figure(4.3 * ncols, 3.4 * nrows + 0.8)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    families: set[str] = set()
    for ax, problem in zip(axes, problems, strict=False):
        families |= draw_convergence(ax, traces, summary, problem, x, legend=False)
        ax.title.set_fontsize("small")
    for ax in axes[len(problems) :]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], color=style.family_color(f), linestyle=style.family_linestyle(f), label=f)
        for f in sorted(families, key=style.family_rank)
    ]
    handles += [
        Line2D([], [], color="gray", lw=style.BEST_WIDTH, label="best setting"),
        Line2D(
            [],
            [],
            color="gray",
            lw=style.FADED_WIDTH,
            alpha=style.FADED_ALPHA,
            label="other settings",
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5))
    return style.save_figure(fig, path)


def plot_results(
    results: Any, x: str = "iter", fmt: str = "png", out_dir: str | Path | None = None
) -> list[Path]:
    """Write every convergence figure of ``results`` and return the files written.

    Parameters
    ----------
    results : Results or ResultsFrames
        Needs ``summary`` and ``traces`` (``path`` unless ``out_dir`` is given).
    x : {"iter", "cost", "time"}
        x axis of the convergence curves.
    fmt : {"png", "pdf", "svg"}
        File format.
    out_dir : path, optional
        Default ``<results dir>/plots``.

    Returns
    -------
    list of Path
        Per problem ``convergence_<problem>[_<x>].<fmt>`` and, where a step size
        was swept, ``sensitivity_<problem>.<fmt>``; then ``convergence_grid[_<x>].<fmt>``.

    Raises
    ------
    ValueError
        Unknown ``x`` or ``fmt``, or no ``out_dir`` and no results directory.
    """
    if x not in X_COLUMNS:
        raise ValueError(f"x: must be one of {', '.join(X_COLUMNS)}, got {x!r}")
    style.check_format(fmt)
    frames = results_frames(results)
    out_dir = style.figure_dir(frames.path, out_dir, "plot_results")
    summary = frames.summary
    traces = frames.traces if frames.traces is not None else pd.DataFrame()
    problems = list(pd.unique(summary["problem"]))
    traced = set(traces["problem"]) if "problem" in traces else set()
    stems = style.unique_stems(problems)
    written = []
    for problem in problems:
        if problem in traced:
            fig = style.new_figure(8.5, 4.5)
            draw_convergence(fig.subplots(), traces, summary, problem, x)
            path = out_dir / style.figure_name("convergence", stems[problem], x, fmt)
            written.append(style.save_figure(fig, path))
        path = out_dir / style.figure_name("sensitivity", stems[problem], x, fmt)
        if plot_step_size_sensitivity(summary, problem, path) is not None:
            written.append(path)
    with_traces = [p for p in problems if p in traced]
    if with_traces:
        path = out_dir / style.figure_name("convergence_grid", "", x, fmt)
        written.append(plot_convergence_grid(traces, summary, with_traces, x, path))
    return written
