"""The step-size sensitivity figure of one problem (``sensitivity_<problem>.<fmt>``).

Where a solver's ``step_size`` was swept, :func:`step_size_figure` computes the figure of the
final accuracy (left) and the iterations to a target (right) against the step size,
log-log, one line per sweep: medians across seeds with min–max error bars (the
aggregate of :func:`optbench.analysis.tables.aggregate_summary`). Settings where most
seeds diverged, failed or raised are marked × at the top of the axes, those that did
not reach the target an open triangle. Every setting is drawn at the step its runs
used, the summary's ``step_size`` column (the solver's resolved step: ``"c/L"`` as
the number c/L); steps given as multiples of 1/L are a sweep of their own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.figure_data import Curve, FigureData, LegendEntry, Panel, TopMarkers
from optbench.analysis.frames import ResultsFrames
from optbench.analysis.tables import (
    USED_STEP,
    aggregate_summary,
    param_columns,
    summary_targets,
    target_column,
    target_text,
)
from optbench.results_format import parameter_column_name
from optbench.solvers.reciprocal_step import as_multiple

#: The swept hyper-parameter of the sensitivity figure (the solver's ``step_size``,
#: written ``param_step_size`` in the summary, see :mod:`optbench.results_format`).
SENSITIVITY_PARAM = parameter_column_name("step_size")


#: Suffixes of the sweeps of steps relative to a smoothness constant.
RELATIVE_SWEEPS = (" (c/L)", " (c/L_max)")


def _relative_sweep(value: object) -> str:
    """``" (c/L)"`` for a step ``"c/L"``, ``" (c/L_max)"`` for ``"c/L_max"``, else ``""``
    (the reciprocal forms ``"1/(c L)"``, ``"1/(c L_max)"`` count as their multiples)."""
    text = str(as_multiple(value) if isinstance(value, str) else value)
    if text.endswith("/L_max"):
        return " (c/L_max)"
    return " (c/L)" if text.endswith("/L") else ""


def is_fixed_step(value: Any) -> bool:
    """Whether a ``step_size`` hyper-parameter is a fixed step: a number, ``"c/L"`` or
    ``"c/L_max"`` (not a rule such as ``"armijo"``, nor missing)."""
    if isinstance(value, str):
        if _relative_sweep(value):
            return True
        try:
            value = float(value)
        except ValueError:
            return False
    return isinstance(value, (int, float)) and math.isfinite(value)


def _swept_groups(summary: pd.DataFrame, problem: str) -> list[tuple[str, pd.DataFrame]]:
    """Aggregated rows of each step-size sweep on ``problem``: (name, rows by step).

    Settings of a family are one sweep when they differ only in the step size;
    steps given as ``"c/L"`` form a sweep of their own (``"gd (c/L)"``). The step the
    runs used (the summary's ``step_size``) is in the column ``_step``.
    """
    return swept_groups(summary[summary["problem"] == problem]).get(problem, [])


def swept_groups(summary: pd.DataFrame) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """:func:`_swept_groups` of every problem, from one :func:`aggregate_summary` of
    the fixed-step rows and one ``groupby`` (the step rules are read once per distinct
    ``step_size`` value, not once per run)."""
    if SENSITIVITY_PARAM not in summary.columns or USED_STEP not in summary.columns:
        return {}
    given = summary[SENSITIVITY_PARAM]
    distinct = pd.unique(given)
    fixed = dict(zip(distinct, (is_fixed_step(v) for v in distinct), strict=True))
    sweep = dict(zip(distinct, (_relative_sweep(v) for v in distinct), strict=True))
    rows = summary[given.map(fixed).to_numpy(dtype=bool)]
    rows = rows.assign(
        _step=pd.to_numeric(rows[USED_STEP], errors="coerce"),
        _sweep=rows[SENSITIVITY_PARAM].map(sweep),
    )
    rows = rows[np.isfinite(rows["_step"]) & (rows["_step"] > 0)]
    if rows.empty:
        return {}
    table = aggregate_summary(rows)
    others = [c for c in param_columns(rows) if c not in (SENSITIVITY_PARAM, "_step", "_sweep")]
    varying = (
        table.groupby(["problem", "family"], sort=False)[others].nunique() > 1 if others else None
    )
    found: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    keys = ["problem", "family", "_sweep", *others]
    for key, group in table.groupby(keys, sort=False, dropna=False):
        if group["_step"].nunique() < 2:
            continue
        problem, family, suffix = str(key[0]), key[1], key[2]
        shown = varying.loc[(key[0], family)] if varying is not None else {}
        named = [f"{c}={v}" for c, v in zip(others, key[3:], strict=True) if shown[c]]
        name = f"{family}[{','.join(named)}]" if named else family
        found.setdefault(problem, []).append((name + suffix, group.sort_values("_step")))
    return {
        problem: sorted(groups, key=lambda g: (style.family_rank(g[1]["family"].iloc[0]), g[0]))
        for problem, groups in found.items()
    }


def step_size_figure(
    summary: pd.DataFrame,
    problem: str,
    stem: str = "",
    groups: list[tuple[str, pd.DataFrame]] | None = None,
) -> FigureData | None:
    """Final accuracy and iterations to target against step size, log-log.

    Left: median final ``f - f*`` (gradient norm where f* is unknown) with min–max
    error bars. Right: median iterations to the tightest target that some setting
    reached (total iterations where none did). A setting where most seeds
    diverged, failed or raised is an × at the top of both axes; one whose median
    did not reach the target is an open triangle at the top of the right axis.
    Every setting is drawn at the step its runs used (the summary's ``step_size``);
    steps given as ``"c/L"`` are a sweep of their own, ``gd (c/L)``; rules without a
    fixed step (``"armijo"``) are left out. A summary written before the
    ``step_size`` column has the step only for numeric settings: its ``"c/L"``
    settings are left out until the results are re-run.

    ``groups``: the problem's entry of :func:`swept_groups`, when computed already.

    Returns
    -------
    FigureData or None
        Stem ``sensitivity_<stem>``; ``None`` when no step size was swept.
    """
    if groups is None:
        groups = _swept_groups(summary, problem)
    if not groups:
        return None
    table = pd.concat([g for _, g in groups])
    f_known = table["f_gap_final"].notna().any()
    final = "f_gap_final" if f_known else "grad_norm_final"
    targets = sorted(summary_targets(summary))
    eps = next((e for e in targets if table[target_column("iters", e)].notna().any()), None)
    work = "iters" if eps is None else target_column("iters", eps)
    steps = table["_step"]
    left = Panel(
        xlabel="step size",
        ylabel=f"final {style.y_label('f_gap' if f_known else 'grad_norm')}",
        xscale="log",
        yscale="log",
        xlim=(steps.min() / 1.5, steps.max() * 1.5),
    )
    right = Panel(
        xlabel="step size",
        ylabel="iterations (until stop)"
        if eps is None
        else f"iterations to f − f* ≤ {target_text(eps)}",
        xscale="log",
        yscale="log",
        xlim=left.xlim,
        plain_y_ticks=True,
    )
    seen: dict[int, list[float]] = {id(left): [], id(right): []}
    for name, group in groups:
        color = style.family_color(group["family"].iloc[0])
        bad = group["n_bad"] * 2 > group["n_runs"]
        for panel, column in ((left, final), (right, work)):
            curve, values = _sweep_curve(group[~bad], column, color, name)
            panel.curves.append(curve)
            seen[id(panel)] += values
            if bad.any():
                panel.top_markers.append(TopMarkers(group.loc[bad, "_step"].tolist(), "x", color))
        censored = group[~bad & group[work].isna()]
        if len(censored):
            right.top_markers.append(TopMarkers(censored["_step"].tolist(), "^", color))
    for panel in (left, right):
        if seen[id(panel)]:
            # room above the data for the markers at the top of the axis
            panel.ylim = (min(seen[id(panel)]) / 3, max(seen[id(panel)]) * 30)
    right.curves = [
        Curve(
            c.x,
            c.y,
            None,
            c.color,
            c.linestyle,
            c.width,
            c.alpha,
            c.drawstyle,
            c.marker,
            err_low=c.err_low,
            err_high=c.err_high,
        )
        for c in right.curves
    ]  # labelled once, in the left panel
    return FigureData(
        stem=f"sensitivity_{stem}" if stem else "sensitivity",
        panels=[left, right],
        columns=2,
        width=10,
        height=4.2,
        title=f"Step-size sensitivity on {problem}",
        legend_from_curves=True,
        extra_legend=[
            LegendEntry("diverged / failed", marker="x", linestyle="none"),
            LegendEntry("target not reached", marker="^", linestyle="none", open_marker=True),
        ],
        legend_columns=4,
        caption=f"Step-size sensitivity on {problem}: medians over seeds with min–max bars.",
        problem=problem,
    )


def step_size_figures(frames: ResultsFrames, x: str | None = None) -> list[FigureData]:
    """The ``step-size`` plot kind: one figure per problem whose step size was swept."""
    del x  # the x axis is the step size
    summary = frames.summary
    problems = [str(p) for p in pd.unique(summary["problem"])]
    stems = style.unique_stems(problems)
    swept = swept_groups(summary)
    figures = (step_size_figure(summary, p, stems[p], swept[p]) for p in problems if p in swept)
    return [figure for figure in figures if figure is not None]


def _sweep_curve(
    group: pd.DataFrame, column: str, color: str, name: str
) -> tuple[Curve, list[float]]:
    """Median of ``column`` against step size with min–max error bars, and the finite
    values drawn (an infinite maximum, a censored seed, runs off the top)."""
    ok = group[np.isfinite(group[column].astype(float))]
    y = ok[column].clip(lower=style.LOG_FLOOR).to_numpy(dtype=float)
    low = ok[f"{column}_min"].clip(lower=style.LOG_FLOOR).to_numpy(dtype=float)
    high = ok[f"{column}_max"].to_numpy(dtype=float)
    relative = name.endswith(RELATIVE_SWEEPS)
    curve = Curve(
        ok["_step"].to_numpy(dtype=float),
        y,
        name,
        color,
        "--" if relative else "-",
        marker="s" if relative else "o",
        err_low=low,
        err_high=high,
    )
    values = np.concatenate([y, low, high])
    return curve, values[np.isfinite(values)].tolist()
