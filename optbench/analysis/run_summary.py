"""The few lines ``optbench run`` prints when it finishes; the full report is ``report.md``.

:func:`run_summary` gives, for each problem, its statuses counted and the best solver
configuration at every target (least median cost in gradient evaluations to reach
f − f* ≤ ε, by the censoring rule of :mod:`optbench.analysis.tables`), then the
number of runs that raised warnings and where the files are. Its length grows with
the number of problems and targets only, never with the number of runs or solvers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.analysis.frames import results_frames
from optbench.analysis.tables import (
    STATUSES,
    aggregate,
    summary_targets,
    target_column,
    target_text,
)
from optbench.results_format import PLOTS_DIR, REPORT_FILE, SUMMARY_FILE, TRACES_FILE


def status_tally(statuses: pd.Series) -> str:
    """``"converged 10, failed 2"``: each status present, best first, with its count."""
    counts = statuses.astype(str).value_counts()
    order = [s for s in STATUSES if s in counts] + sorted(set(counts.index) - set(STATUSES))
    return ", ".join(f"{status} {counts[status]}" for status in order)


def best_configuration(table: pd.DataFrame, eps: float) -> tuple[str, float] | None:
    """The configuration with the least median cost to ``eps`` in ``table`` (one problem).

    ``(solver_label, median cost)``; ties go to the first in table order (the
    report's order). ``None`` when no configuration has a median, i.e. none reached
    ε in more than half of its seeds.
    """
    medians = pd.to_numeric(table[target_column("cost", eps)], errors="coerce")
    finite = medians[np.isfinite(medians.to_numpy(dtype=float))]
    if finite.empty:
        return None
    best = finite.idxmin()
    return str(table.at[best, "solver_label"]), float(finite[best])


def best_lines(table: pd.DataFrame, targets: list[float]) -> list[str]:
    """One line per run of consecutive targets that share their best configuration.

    ``"  best to f - f* <= 1e-04 ... 1e-08: newton_cg (cost 7 ... 12)"``.
    """
    groups: list[tuple[str | None, list[float], list[float]]] = []
    for eps in sorted(targets, reverse=True):
        best = best_configuration(table, eps)
        label, cost = best if best is not None else (None, math.nan)
        if groups and groups[-1][0] == label:
            groups[-1][1].append(eps)
            groups[-1][2].append(cost)
        else:
            groups.append((label, [eps], [cost]))
    lines = []
    for label, levels, costs in groups:
        span = " ... ".join(dict.fromkeys((target_text(levels[0]), target_text(levels[-1]))))
        if label is None:
            lines.append(f"  best to f - f* <= {span}: none reached it")
            continue
        cost_span = " ... ".join(dict.fromkeys((f"{costs[0]:.4g}", f"{costs[-1]:.4g}")))
        lines.append(f"  best to f - f* <= {span}: {label} (cost {cost_span})")
    return lines


def run_summary(results: Any, report_path: str | Path | None = None) -> str:
    """A compact text summary of a results directory, for the terminal.

    Parameters
    ----------
    results : Results or ResultsFrames
        A loaded results directory.
    report_path : path, optional
        Where the full report was written (default ``<results dir>/report.md``).

    Returns
    -------
    str
        Lines ending with a newline: one heading, then per problem its statuses and
        its best configurations (:func:`best_lines`), then warnings and the files.
    """
    frames = results_frames(results)
    summary = frames.summary
    name = (frames.config or {}).get("name") or (
        Path(frames.path).name if frames.path is not None else "results"
    )
    lines = [f"{name}: {len(summary)} runs, {status_tally(summary['status'])}"]
    targets = summary_targets(summary)
    table = aggregate(frames, targets)
    runs_of = summary.groupby("problem", sort=False).indices  # one grouping, not a mask each
    rows_of = table.groupby("problem", sort=False).indices
    for problem in pd.unique(summary["problem"]):
        runs = summary.iloc[runs_of[problem]]
        lines.append(f"{problem}: {status_tally(runs['status'])}")
        rows = table.iloc[rows_of.get(problem, [])]
        if not targets or runs["f_gap_final"].isna().all():
            lines.append("  no fixed targets (f* unknown)" if targets else "  no targets")
            continue
        lines += best_lines(rows, targets)
    if "warnings" in summary:
        warned = summary["warnings"].fillna("").astype(str).str.len() > 0
        if warned.any():
            lines.append(f"warnings: {int(warned.sum())} runs raised some (column 'warnings')")
    if frames.path is not None:
        path = Path(frames.path)
        report = Path(report_path) if report_path is not None else path / REPORT_FILE
        lines.append(f"full report: {report}")
        lines.append(f"tables: {path / SUMMARY_FILE}, {path / TRACES_FILE}")
        if (path / PLOTS_DIR).is_dir():
            lines.append(f"figures: {path / PLOTS_DIR}")
    return "\n".join(lines) + "\n"
