"""The step-size sensitivity figure of one problem (``sensitivity_<problem>.<fmt>``).

Where a solver's ``step_size`` was swept, :func:`plot_step_size_sensitivity` draws the
final accuracy (left) and the iterations to a target (right) against the step size,
log-log, one line per sweep: medians across seeds with min–max error bars (the
aggregate of :func:`optbench.analysis.tables.aggregate_summary`). Settings where most
seeds diverged, failed or raised are marked × at the top of the axes, those that did
not reach the target an open triangle. Steps given as multiples of 1/L (``"c/L"``) are
drawn at the step the runs used, as a sweep of their own.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.tables import (
    aggregate_summary,
    param_columns,
    summary_targets,
    target_column,
    target_text,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: The swept parameter of the sensitivity figure.
SENSITIVITY_PARAM = "step_size"


#: Suffixes of the sweeps of steps relative to a smoothness constant.
RELATIVE_SWEEPS = (" (c/L)", " (c/L_max)")


def _relative_sweep(value: object) -> str:
    """``" (c/L)"`` for a step ``"c/L"``, ``" (c/L_max)"`` for ``"c/L_max"``, else ``""``."""
    text = str(value)
    if text.endswith("/L_max"):
        return " (c/L_max)"
    return " (c/L)" if text.endswith("/L") else ""


def numeric_step_sizes(rows: pd.DataFrame, traces: pd.DataFrame | None = None) -> pd.Series:
    """The step size of each summary row as a number (NaN when it has none).

    Numbers (also numbers read back as text) are taken as they are. A step ``"c/L"``
    (a multiple of 1/L; also ``"c/L_max"``) is resolved to the step the run actually
    used: the median of its finite trace ``step_size`` values. Other rules
    (``"armijo"``) are NaN.
    """
    used = pd.Series(dtype=float)
    if traces is not None and {"run_id", SENSITIVITY_PARAM} <= set(traces.columns):
        logged = traces[["run_id", SENSITIVITY_PARAM]].dropna()
        used = logged.groupby("run_id")[SENSITIVITY_PARAM].median()
    values = []
    for run_id, value in zip(rows["run_id"], rows[SENSITIVITY_PARAM], strict=True):
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            relative = bool(_relative_sweep(value))
            values.append(float(used.get(run_id, math.nan)) if relative else math.nan)
    return pd.Series(values, index=rows.index, dtype=float)


def _swept_groups(
    summary: pd.DataFrame, problem: str, traces: pd.DataFrame | None = None
) -> list[tuple[str, pd.DataFrame]]:
    """Aggregated rows of each step-size sweep on ``problem``: (name, rows by step).

    Settings of a family are one sweep when they differ only in the step size;
    steps given as ``"c/L"`` form a sweep of their own (``"gd (c/L)"``). The
    numeric step is in the column ``_step``.
    """
    if SENSITIVITY_PARAM not in summary.columns:
        return []
    rows = summary[summary["problem"] == problem]
    rows = rows.assign(
        _step=numeric_step_sizes(rows, traces),
        _sweep=[_relative_sweep(v) for v in rows[SENSITIVITY_PARAM]],
    )
    rows = rows[np.isfinite(rows["_step"]) & (rows["_step"] > 0)]
    if rows.empty:
        return []
    table = aggregate_summary(rows)
    others = [c for c in param_columns(rows) if c not in (SENSITIVITY_PARAM, "_step", "_sweep")]
    groups = []
    for key, group in table.groupby(["family", "_sweep", *others], sort=False, dropna=False):
        if group["_step"].nunique() < 2:
            continue
        varying = [
            f"{c}={v}"
            for c, v in zip(others, key[2:], strict=True)
            if table.loc[table["family"] == key[0], c].nunique() > 1
        ]
        name = f"{key[0]}[{','.join(varying)}]" if varying else key[0]
        groups.append((name + key[1], group.sort_values("_step")))
    return sorted(groups, key=lambda g: (style.family_rank(g[1]["family"].iloc[0]), g[0]))


def plot_step_size_sensitivity(
    summary: pd.DataFrame, problem: str, path: Path, traces: pd.DataFrame | None = None
) -> Path | None:
    """Final accuracy and iterations to target against step size, log-log.

    Left: median final ``f - f*`` (gradient norm where f* is unknown) with min–max
    error bars. Right: median iterations to the tightest target that some setting
    reached (total iterations where none did). A setting where most seeds
    diverged, failed or raised is an × at the top of both axes; one whose median
    did not reach the target is an open triangle at the top of the right axis.
    Steps given as ``"c/L"`` are drawn at the step the runs used (their trace
    ``step_size``, so ``traces`` is needed) as a sweep of their own, ``gd (c/L)``;
    rules without a fixed step (``"armijo"``) are left out.

    Returns
    -------
    Path or None
        ``path``, or ``None`` (nothing written) when no step size was swept.
    """
    groups = _swept_groups(summary, problem, traces)
    if not groups:
        return None
    table = pd.concat([g for _, g in groups])
    f_known = table["f_gap_final"].notna().any()
    final = "f_gap_final" if f_known else "grad_norm_final"
    targets = sorted(summary_targets(summary))
    eps = next((e for e in targets if table[target_column("iters", e)].notna().any()), None)
    work = "iters" if eps is None else target_column("iters", eps)
    fig = style.new_figure(10, 4.2)
    left, right = fig.subplots(1, 2, sharex=True)
    seen: dict[Axes, list[float]] = {left: [], right: []}
    for name, group in groups:
        color = style.family_color(group["family"].iloc[0])
        bad = group["n_bad"] * 2 > group["n_runs"]
        for ax, column in ((left, final), (right, work)):
            seen[ax] += _draw_sweep(ax, group[~bad], column, color, name)
            style.mark_top(ax, group.loc[bad, "_step"].tolist(), "x", color)
        censored = group[~bad & group[work].isna()]
        style.mark_top(right, censored["_step"].tolist(), "^", color)
    steps = table["_step"]
    left.set_xlim(steps.min() / 1.5, steps.max() * 1.5)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step size")
        ax.grid(True, which="major", alpha=0.3)
        if seen[ax]:
            # room above the data for the markers at the top of the axis
            ax.set_ylim(min(seen[ax]) / 3, max(seen[ax]) * 30)
    style.plain_log_ticks(right)
    left.set_ylabel(f"final {style.y_label('f_gap' if f_known else 'grad_norm')}")
    right.set_ylabel(
        "iterations (until stop)" if eps is None else f"iterations to f − f* ≤ {target_text(eps)}"
    )
    fig.suptitle(f"Step-size sensitivity on {problem}", fontsize="medium")
    _sensitivity_legend(fig, left)
    style.save_figure(fig, path)
    return path


def _draw_sweep(ax: Axes, group: pd.DataFrame, column: str, color: str, name: str) -> list[float]:
    """Median of ``column`` against step size with min–max error bars; returns the
    finite values drawn (an infinite maximum, a censored seed, runs off the top)."""
    ok = group[np.isfinite(group[column].astype(float))]
    y = ok[column].clip(lower=style.LOG_FLOOR).to_numpy(dtype=float)
    low = ok[f"{column}_min"].clip(lower=style.LOG_FLOOR).to_numpy(dtype=float)
    high = ok[f"{column}_max"].to_numpy(dtype=float)
    errors = np.nan_to_num(np.vstack([y - low, high - y]), nan=0.0, posinf=1e300)
    ax.errorbar(
        ok["_step"],
        y,
        yerr=errors,
        color=color,
        marker="s" if name.endswith(RELATIVE_SWEEPS) else "o",
        linestyle="--" if name.endswith(RELATIVE_SWEEPS) else "-",
        ms=4,
        capsize=2,
        label=name,
    )
    values = np.concatenate([y, low, high])
    return values[np.isfinite(values)].tolist()


def _sensitivity_legend(fig: Any, ax: Axes) -> None:
    from matplotlib.lines import Line2D

    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="gray", marker="x", linestyle="none", label="diverged / failed"),
        Line2D(
            [],
            [],
            color="gray",
            marker="^",
            markerfacecolor="none",
            linestyle="none",
            label="target not reached",
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
