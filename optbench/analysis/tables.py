"""Convergence tables: per problem, one row per solver configuration, median over seeds.

Conventions (used by the report, the plots and the comparisons built on them):

- **Family.** A solver family is the solver name, except for solvers listed in
  :data:`FAMILY_PARAMS`, whose named parameter makes distinct families:
  ``scipy`` with ``method=L-BFGS-B`` is the family ``scipy[method=L-BFGS-B]``.
  Colours and "best setting" choices are per family.
- **Median and spread.** Every metric is the median over seeds with the
  **min–max** range as its spread (few seeds, typically 3: an IQR would only
  interpolate between them). ``NaN`` values (e.g. ``f_gap_final`` where f* is
  unknown) are left out; ``inf`` values count.
- **Censoring.** A run that never reached a target ε counts as ``+inf`` for the
  iterations, cost and time to ε. The median is shown only when *more than half*
  of the seeds reached ε (then it is finite and the true median of the censored
  sample); otherwise it is ``NaN`` (rendered "—"). The spread's maximum is ``inf``
  when some seed did not reach ε.

The results container (:mod:`optbench.analysis.frames`) and the text of table cells
(:mod:`optbench.analysis.formatting`) have their own modules; their public names are
also importable from here.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from optbench.analysis.formatting import format_number as format_number
from optbench.analysis.formatting import format_spread as format_spread
from optbench.analysis.formatting import format_table as format_table
from optbench.analysis.frames import ResultsFrames as ResultsFrames
from optbench.analysis.frames import results_frames as results_frames
from optbench.analysis.style import family_rank

#: Solvers whose named parameter defines separate families (the one place of that rule).
FAMILY_PARAMS: dict[str, str] = {"scipy": "method"}

#: Statuses from best to worst (order of status counts in tables).
STATUSES = ("converged", "max_iter", "max_cost", "max_time", "diverged", "failed", "error")
#: Statuses of runs that stopped without a usable answer.
BAD_STATUSES = ("diverged", "failed", "error")

#: Per-run metrics aggregated over seeds, in table order.
METRICS = (
    "iters",
    "n_f",
    "n_g",
    "n_hvp",
    "n_hess",
    "n_r",
    "n_J",
    "n_sample_g",
    "n_sample_hvp",
    "cost",
    "time",
    "f_gap_final",
    "grad_norm_final",
)
#: Counts of residual vectors and Jacobians (least-squares-shaped problems) and of
#: sample gradients and HVPs (minibatches of finite sums): a summary written before they
#: existed has no such columns, which reads as zero calls.
OPTIONAL_COUNTS = ("n_r", "n_J", "n_sample_g", "n_sample_hvp")
#: Fixed-target metrics: ``<metric>_to_<eps>`` columns of ``summary.csv`` (:func:`target_column`).
TARGET_METRICS = ("iters", "cost", "time")

#: Summary columns that are not solver or problem parameters.
SUMMARY_COLUMNS = frozenset(
    ["run_id", "problem", "optimizer", "solver_label", "family", "seed", "status", "message"]
    + ["f_final", "dim", "f0", *METRICS]
)

_TARGET_COLUMN = re.compile(r"^(iters|cost|time)_to_(.+)$")


def target_text(eps: float) -> str:
    """A target level as the summary's column names write it: ``1e-04``, ``1.5e-03``.

    The fewest mantissa digits that give ``eps`` back (as the runner writes its
    columns, :func:`optbench.run.records.target_column`), so distinct levels never
    share a name.
    """
    eps = float(eps)
    for digits in range(16):
        text = f"{eps:.{digits}e}"
        if float(text) == eps:
            return text
    return f"{eps:.16e}"


def target_column(metric: str, eps: float) -> str:
    """Name of a fixed-target column: ``target_column("cost", 1e-4) == "cost_to_1e-04"``,
    ``target_column("iters", 1.5e-3) == "iters_to_1.5e-03"`` (see :func:`target_text`)."""
    return f"{metric}_to_{target_text(eps)}"


def summary_targets(summary: pd.DataFrame) -> list[float]:
    """The targets ε present as ``iters_to_<eps>`` columns, loosest first."""
    found = set()
    for column in summary.columns:
        match = _TARGET_COLUMN.match(str(column))
        if match and match.group(1) == "iters":
            found.add(float(match.group(2)))
    return sorted(found, reverse=True)


def param_columns(summary: pd.DataFrame) -> list[str]:
    """Columns of ``summary`` holding solver or problem parameters, in order."""
    return [
        column
        for column in summary.columns
        if column not in SUMMARY_COLUMNS and not _TARGET_COLUMN.match(str(column))
    ]


def solver_family(row: Mapping[str, Any]) -> str:
    """The family of one run: its solver name, or ``name[param=value]`` for
    solvers in :data:`FAMILY_PARAMS` (``scipy[method=L-BFGS-B]``).

    Parameters
    ----------
    row : mapping
        Has ``optimizer`` and, for those solvers, the family parameter.
    """
    optimizer = str(row["optimizer"])
    param = FAMILY_PARAMS.get(optimizer)
    if param is not None:
        value = row.get(param)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return f"{optimizer}[{param}={value}]"
    return optimizer


def family_key(summary: pd.DataFrame) -> pd.Series:
    """:func:`solver_family` of every row of ``summary``, as a Series aligned with it."""
    if summary.empty:
        return pd.Series([], index=summary.index, dtype=object, name="family")
    records = summary.to_dict("records")
    return pd.Series([solver_family(r) for r in records], index=summary.index, name="family")


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers first (ascending), then multiples ``"c/L"`` by ``c``, then other text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (3, 0.0, "")
    text = str(value)
    for rank, number in ((0, text), (1, text[:-2] if text.endswith("/L") else None)):
        if number is not None:
            with contextlib.suppress(ValueError):
                return (rank, float(number), "")
    return (2, 0.0, text)


def configurations(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, solver configuration) in display order.

    Problems keep their order of first appearance; configurations are sorted by
    family (registry order), then by parameter values (numerically where numeric).

    Returns
    -------
    DataFrame
        Columns ``problem, family, solver_label`` and the parameter columns.
    """
    frame = summary.assign(family=family_key(summary))
    params = param_columns(summary)
    configs = frame.drop_duplicates(["problem", "solver_label"])[
        ["problem", "family", "solver_label", *params]
    ]
    problem_order = {p: i for i, p in enumerate(pd.unique(summary["problem"]))}

    def key(row: Mapping[str, Any]) -> tuple:
        return (
            problem_order[row["problem"]],
            family_rank(row["family"]),
            tuple(_sort_key(row[p]) for p in params),
            row["solver_label"],
        )

    rows = sorted(configs.to_dict("records"), key=key)
    return pd.DataFrame(rows, columns=configs.columns)


def status_counts(statuses: Iterable[str]) -> str:
    """``"converged 2/3, diverged 1/3"``: statuses from best to worst, with counts."""
    values = [str(s) for s in statuses]
    counts = pd.Series(values).value_counts()
    order = [s for s in STATUSES if s in counts] + sorted(set(counts.index) - set(STATUSES))
    return ", ".join(f"{s} {counts[s]}/{len(values)}" for s in order)


def _spread(values: np.ndarray) -> tuple[float, float, float]:
    """Median, min and max of the non-NaN values (NaN, NaN, NaN when there are none)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    return (float(np.median(values)), float(values.min()), float(values.max()))


def censored_median(values: np.ndarray) -> tuple[float, float, float, int]:
    """Median, min, max and count reached of a target metric with censored runs.

    ``NaN`` marks a run that did not reach the target; it counts as ``+inf``. The
    median is returned only when more than half of the runs reached the target.

    Parameters
    ----------
    values : ndarray
        One value per seed, NaN when censored.

    Returns
    -------
    tuple
        ``(median, min, max, n_reached)``; ``max`` is ``inf`` when some run was
        censored, the median ``NaN`` when at most half reached.
    """
    values = np.asarray(values, dtype=float)
    reached = int(np.count_nonzero(~np.isnan(values)))
    if reached == 0:
        return (math.nan, math.nan, math.nan, 0)
    filled = np.where(np.isnan(values), np.inf, values)
    median = float(np.median(filled)) if 2 * reached > values.size else math.nan
    return (median, float(filled.min()), float(filled.max()), reached)


def aggregate_summary(
    summary: pd.DataFrame, targets: Sequence[float] | None = None
) -> pd.DataFrame:
    """Per problem, one row per solver configuration, aggregated over seeds.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` rows (one per run).
    targets : sequence of float, optional
        Targets ε to tabulate; default all present in ``summary``.

    Returns
    -------
    DataFrame
        Columns ``problem, family, solver_label, <params>, n_runs, n_converged,
        n_bad`` (diverged, failed or error), ``status`` (e.g. ``"converged 3/3"``);
        for every metric ``m`` of :data:`METRICS`: ``m`` (median), ``m_min``,
        ``m_max``; for every target
        column ``c`` (``iters_to_1e-04``, ...): ``c``, ``c_min``, ``c_max`` and
        ``c_reached`` (see the censoring rule in the module docstring).

    Raises
    ------
    ValueError
        If a requested target has no columns in ``summary``.
    """
    targets = summary_targets(summary) if targets is None else list(targets)
    target_columns = [target_column(m, eps) for eps in targets for m in TARGET_METRICS]
    missing = [c for c in target_columns if c not in summary.columns]
    if missing:
        raise ValueError(f"summary has no target columns {missing}")
    frame = summary.assign(family=family_key(summary))
    rows = []
    for config in configurations(summary).to_dict("records"):
        runs = frame[
            (frame["problem"] == config["problem"])
            & (frame["solver_label"] == config["solver_label"])
        ]
        row = dict(config)
        row["n_runs"] = len(runs)
        row["n_converged"] = int((runs["status"] == "converged").sum())
        row["n_bad"] = int(runs["status"].isin(BAD_STATUSES).sum())
        row["status"] = status_counts(runs["status"])
        for metric in METRICS:
            if metric in OPTIONAL_COUNTS and metric not in runs:
                values = np.zeros(len(runs))
            else:
                values = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
            row[metric], row[f"{metric}_min"], row[f"{metric}_max"] = _spread(values)
        for column in target_columns:
            values = pd.to_numeric(runs[column], errors="coerce").to_numpy(dtype=float)
            median, low, high, reached = censored_median(values)
            row[column], row[f"{column}_min"], row[f"{column}_max"] = median, low, high
            row[f"{column}_reached"] = reached
        rows.append(row)
    columns = ["problem", "family", "solver_label", *param_columns(summary)]
    columns += ["n_runs", "n_converged", "n_bad", "status"]
    columns += [f"{m}{end}" for m in METRICS for end in ("", "_min", "_max")]
    columns += [f"{c}{end}" for c in target_columns for end in ("", "_min", "_max", "_reached")]
    return pd.DataFrame(rows, columns=columns)


def best_settings(
    summary: pd.DataFrame,
    targets: Sequence[float] | None = None,
    *,
    swept_only: bool = True,
) -> pd.DataFrame:
    """The best configuration of each solver family on each problem.

    The criterion: the least median cost to the tightest target ε that some
    setting of the family reached (median defined under the censoring rule); ties
    are broken by the median final ``f - f*``, then the median final gradient
    norm, then the label. Where no setting reached any target (or f* is unknown),
    the least median final ``f - f*`` (then gradient norm, then label) wins.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` rows.
    targets : sequence of float, optional
        Targets to consider; default all present in ``summary``.
    swept_only : bool
        Only families with more than one configuration on the problem (default);
        ``False`` also lists single-setting families.

    Returns
    -------
    DataFrame
        Columns ``problem, family, solver_label, n_settings, target`` (NaN when the
        final-value fallback was used), ``cost_to_target``, ``f_gap_final``,
        ``grad_norm_final``.
    """
    table = aggregate_summary(summary, targets)
    targets = sorted(summary_targets(summary) if targets is None else targets)
    rows = []
    for (problem, family), group in table.groupby(["problem", "family"], sort=False):
        if swept_only and len(group) < 2:
            continue
        target = next(
            (eps for eps in targets if group[target_column("cost", eps)].notna().any()), None
        )
        cost_column = None if target is None else target_column("cost", target)

        def rank(row: Mapping[str, Any], cost_column: str | None = cost_column) -> tuple:
            cost = math.inf if cost_column is None else _inf_if_nan(row[cost_column])
            return (
                cost,
                _inf_if_nan(row["f_gap_final"]),
                _inf_if_nan(row["grad_norm_final"]),
                row["solver_label"],
            )

        best = min(group.to_dict("records"), key=rank)
        rows.append(
            {
                "problem": problem,
                "family": family,
                "solver_label": best["solver_label"],
                "n_settings": len(group),
                "target": math.nan if target is None else target,
                "cost_to_target": math.nan if cost_column is None else best[cost_column],
                "f_gap_final": best["f_gap_final"],
                "grad_norm_final": best["grad_norm_final"],
            }
        )
    columns = [
        "problem",
        "family",
        "solver_label",
        "n_settings",
        "target",
        "cost_to_target",
        "f_gap_final",
        "grad_norm_final",
    ]
    return pd.DataFrame(rows, columns=columns)


def _inf_if_nan(value: Any) -> float:
    value = float(value)
    return math.inf if math.isnan(value) else value
