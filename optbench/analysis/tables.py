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
also importable from here. Column names and target naming are
:mod:`optbench.results_format`'s (re-exported here: ``target_column``, ``target_text``).
"""

from __future__ import annotations

import collections
import contextlib
import math
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
from optbench.results_format import (
    COUNT_COLUMNS,
    LATER_COUNT_COLUMNS,
    STATUSES,
    TARGET_METRICS,
    parameter_columns,
    target_column,
    target_text,
)
from optbench.results_format import summary_targets as format_summary_targets

__all__ = [
    "BAD_STATUSES",
    "FAMILY_PARAMS",
    "MAX_SETTINGS",
    "METRICS",
    "STATUSES",
    "TARGET_METRICS",
    "ResultsFrames",
    "aggregate",
    "aggregate_summary",
    "best_settings",
    "censored_median",
    "configurations",
    "family_key",
    "format_number",
    "format_spread",
    "format_table",
    "grouped_censored_median",
    "grouped_spread",
    "grouped_status_counts",
    "param_columns",
    "results_best_settings",
    "results_frames",
    "setting_ranks",
    "settings_of_aggregate",
    "solver_family",
    "status_counts",
    "summary_targets",
    "target_column",
    "target_text",
]

#: Solvers whose named parameter defines separate families (the one place of that rule).
FAMILY_PARAMS: dict[str, str] = {"scipy": "method"}

#: Settings of one solver family a report table shows (per problem where the table is
#: per problem): the best ones, with a line saying how many were left out; the
#: summary has them all. Every sweep of the shipped configs fits.
MAX_SETTINGS = 20

#: Statuses of runs that stopped without a usable answer.
BAD_STATUSES = ("diverged", "failed", "error")

#: The summary column of the step the runs took (a result, not the ``step_size``
#: parameter, which is ``param_step_size``).
USED_STEP = "step_size"
#: Per-run metrics aggregated over seeds, in table order.
METRICS = ("iters", *COUNT_COLUMNS, "cost", "time", "f_gap_final", "grad_norm_final")
#: Counts a summary written before them lacks, which reads as zero calls.
OPTIONAL_COUNTS = LATER_COUNT_COLUMNS


def settings_left_out(family: pd.Series, cap: int) -> str:
    """``"gd 20 of 10000, ..."``: the solver families of ``family`` (one per setting)
    with more than ``cap`` settings, for the line under a capped table."""
    counts = family.value_counts(sort=False)
    return ", ".join(f"{name} {cap} of {n}" for name, n in counts.items() if n > cap)


def summary_targets(summary: pd.DataFrame) -> list[float]:
    """The targets ε present as ``iters_to_<eps>`` columns of ``summary``, loosest first."""
    return format_summary_targets(summary.columns)


def param_columns(summary: pd.DataFrame) -> list[str]:
    """Columns of ``summary`` holding solver or problem parameters, in order."""
    return parameter_columns(summary.columns)


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
    """:func:`solver_family` of every row of ``summary``, as a Series aligned with it.

    Vectorised: only the rows of solvers in :data:`FAMILY_PARAMS` are formatted one by one.
    """
    if summary.empty:
        return pd.Series([], index=summary.index, dtype=object, name="family")
    families = summary["optimizer"].astype(str).to_numpy(dtype=object)
    for optimizer, param in FAMILY_PARAMS.items():
        if param not in summary:
            continue
        chosen = (families == optimizer) & summary[param].notna().to_numpy()
        values = summary[param].to_numpy(dtype=object)[chosen]
        families[chosen] = [f"{optimizer}[{param}={value}]" for value in values]
    return pd.Series(families.tolist(), index=summary.index, name="family")


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
    return _configurations(summary)[0]


def _configurations(summary: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`configurations`, and the position in it of every run's configuration.

    One ``groupby`` over ``(problem, solver_label)``; the parameters of a
    configuration are those of its first run.
    """
    params = param_columns(summary)
    columns = ["problem", "family", "solver_label", *params]
    if summary.empty:
        return pd.DataFrame([], columns=columns), np.zeros(0, dtype=np.intp)
    group = (
        summary.groupby(["problem", "solver_label"], sort=False, dropna=False)
        .ngroup()
        .to_numpy(dtype=np.intp)
    )
    first = np.unique(group, return_index=True)[1]  # group ids number first appearances
    firsts = summary.iloc[first]
    configs = firsts[["problem", "solver_label", *params]].assign(family=family_key(firsts))
    configs = configs[columns]
    records = configs.to_dict("records")
    problem_order = {p: i for i, p in enumerate(pd.unique(configs["problem"]))}

    def key(index: int) -> tuple:
        row = records[index]
        return (
            problem_order[row["problem"]],
            family_rank(row["family"]),
            tuple(_sort_key(row[p]) for p in params),
            row["solver_label"],
        )

    order = sorted(range(len(records)), key=key)
    position = np.empty(len(order), dtype=np.intp)
    position[order] = np.arange(len(order))
    frame = pd.DataFrame([records[i] for i in order], columns=columns)
    return frame, position[group]


def status_counts(statuses: Iterable[str]) -> str:
    """``"converged 2/3, diverged 1/3"``: statuses from best to worst, with counts."""
    values = [str(s) for s in statuses]
    return _status_text(collections.Counter(values), len(values))


def _status_text(counts: Mapping[str, int], total: int) -> str:
    """:func:`status_counts` from the counts of each status."""
    present = [s for s in counts if counts[s]]
    order = [s for s in STATUSES if s in present] + sorted(set(present) - set(STATUSES))
    return ", ".join(f"{s} {counts[s]}/{total}" for s in order)


def grouped_status_counts(groups: np.ndarray, statuses: pd.Series, n_groups: int) -> list[str]:
    """:func:`status_counts` of the runs of each group, from one count of the pairs.

    Parameters
    ----------
    groups : ndarray of int
        The group (``0 .. n_groups - 1``) of every run.
    statuses : Series
        The status of every run, aligned with ``groups``.
    n_groups : int
        How many groups.

    Returns
    -------
    list of str
        One text per group, ``""`` for a group without runs.
    """
    codes, names = pd.factorize(statuses.astype(str), sort=False)
    width = max(len(names), 1)
    table = np.bincount(groups * width + codes, minlength=n_groups * width)
    table = table.reshape(n_groups, width)
    totals = table.sum(axis=1)
    names = [str(n) for n in names]
    texts: dict[tuple[int, ...], str] = {}  # many groups share their counts
    result = []
    for row, total in zip(table.tolist(), totals.tolist(), strict=True):
        key = tuple(row)
        if key not in texts:
            texts[key] = _status_text(dict(zip(names, row, strict=True)), total)
        result.append(texts[key])
    return result


def _grouped_sort(groups: np.ndarray, values: np.ndarray, n_groups: int) -> tuple:
    """Each group's values sorted, NaN last: (sorted values, group starts, group sizes)."""
    order = np.lexsort((values, groups))
    sizes = np.bincount(groups, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    return values[order], starts, sizes


def _grouped_median(ordered: np.ndarray, starts: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the first ``count`` values of each group of ``ordered`` (NaN if none).

    The middle value, or the mean of the two middle values, as :func:`numpy.median`.
    """
    has = count > 0
    low = starts + np.maximum(count - 1, 0) // 2
    high = starts + count // 2
    low, high = np.where(has, low, 0), np.where(has, high, 0)
    if not ordered.size:
        return np.full(count.shape, math.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        median = np.where(low == high, ordered[low], (ordered[low] + ordered[high]) / 2)
    return np.where(has, median, math.nan)


def grouped_spread(
    groups: np.ndarray, values: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max of the non-NaN values of each group (NaN where none).

    :func:`_spread` of every group at once: one sort of ``values`` by group.
    """
    ordered, starts, _ = _grouped_sort(groups, values, n_groups)
    count = np.bincount(groups, weights=~np.isnan(values), minlength=n_groups).astype(np.intp)
    has = count > 0
    if not ordered.size:
        empty = np.full(n_groups, math.nan)
        return empty, empty.copy(), empty.copy()
    low = np.where(has, ordered[starts.clip(max=ordered.size - 1)], math.nan)
    last = (starts + count - 1).clip(min=0, max=ordered.size - 1)
    high = np.where(has, ordered[last], math.nan)
    return _grouped_median(ordered, starts, count), low, high


def grouped_censored_median(
    groups: np.ndarray, values: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`censored_median` of every group at once (NaN = censored = ``+inf``).

    Returns
    -------
    tuple of ndarray
        ``(median, min, max, n_reached)``, one entry per group.
    """
    reached = np.bincount(groups, weights=~np.isnan(values), minlength=n_groups).astype(np.intp)
    filled = np.where(np.isnan(values), math.inf, values)
    ordered, starts, sizes = _grouped_sort(groups, filled, n_groups)
    if not ordered.size:
        empty = np.full(n_groups, math.nan)
        return empty, empty.copy(), empty.copy(), reached
    has = reached > 0
    majority = has & (2 * reached > sizes)
    median = np.where(majority, _grouped_median(ordered, starts, sizes), math.nan)
    low = np.where(has, ordered[starts.clip(max=ordered.size - 1)], math.nan)
    last = (starts + sizes - 1).clip(min=0, max=ordered.size - 1)
    high = np.where(has, ordered[last], math.nan)
    return median, low, high, reached


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
        n_bad`` (diverged, failed or error), ``status`` (e.g. ``"converged 3/3"``),
        ``step_size`` (the median over seeds of the step the runs took, NaN where the
        summary has none);
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
    configs, position = _configurations(summary)
    n = len(configs)
    columns = ["problem", "family", "solver_label", *param_columns(summary)]
    columns += ["n_runs", "n_converged", "n_bad", "status", USED_STEP]
    columns += [f"{m}{end}" for m in METRICS for end in ("", "_min", "_max")]
    columns += [f"{c}{end}" for c in target_columns for end in ("", "_min", "_max", "_reached")]
    if n == 0:
        return pd.DataFrame([], columns=columns)
    status = summary["status"]
    data: dict[str, Any] = {c: configs[c] for c in configs.columns}
    data["n_runs"] = np.bincount(position, minlength=n)
    data["n_converged"] = np.bincount(position, weights=status.eq("converged"), minlength=n)
    data["n_bad"] = np.bincount(position, weights=status.isin(BAD_STATUSES), minlength=n)
    for name in ("n_converged", "n_bad"):
        data[name] = data[name].astype(np.int64)
    data["status"] = grouped_status_counts(position, status, n)
    if USED_STEP in summary:
        steps = _numbers(summary[USED_STEP])
        steps[~np.isfinite(steps)] = math.nan
        data[USED_STEP] = grouped_spread(position, steps, n)[0]
    else:
        data[USED_STEP] = np.full(n, math.nan)
    for metric in METRICS:
        if metric in OPTIONAL_COUNTS and metric not in summary:
            values = np.zeros(len(summary))
        else:
            values = _numbers(summary[metric])
        spread = grouped_spread(position, values, n)
        for end, value in zip(("", "_min", "_max"), spread, strict=True):
            data[f"{metric}{end}"] = value
    for column in target_columns:
        censored = grouped_censored_median(position, _numbers(summary[column]), n)
        for end, value in zip(("", "_min", "_max", "_reached"), censored, strict=True):
            data[f"{column}{end}"] = value
    return pd.DataFrame({c: data[c] for c in columns}, columns=columns)


def _numbers(column: pd.Series) -> np.ndarray:
    """A summary column as floats (text that is no number as NaN), a new array."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, copy=True)


def aggregate(results: Any, targets: Sequence[float] | None = None) -> pd.DataFrame:
    """:func:`aggregate_summary` of ``results``, computed once per results object.

    Parameters
    ----------
    results : Results or ResultsFrames or DataFrame
        A ``Results`` (its :attr:`~optbench.run.results.Results.frames`) or frames keep
        the aggregate: later calls with the same targets return the same DataFrame
        (read-only: copy it before changing it). A bare summary is aggregated anew.
    targets : sequence of float, optional
        Default all present in the summary (the same key as passing them all).
    """
    frames = results_frames(results)
    summary = frames.summary
    targets = summary_targets(summary) if targets is None else [float(t) for t in targets]
    key = ("aggregate", tuple(targets))
    return frames.derived(key, lambda: aggregate_summary(summary, targets))


def results_best_settings(
    results: Any, targets: Sequence[float] | None = None, *, swept_only: bool = True
) -> pd.DataFrame:
    """:func:`best_settings` of ``results`` from its kept :func:`aggregate` (kept too)."""
    frames = results_frames(results)
    targets = summary_targets(frames.summary) if targets is None else [float(t) for t in targets]
    key = ("best_settings", tuple(targets), swept_only)
    table = aggregate(frames, targets)
    return frames.derived(key, lambda: settings_of_aggregate(table, targets, swept_only))


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
        final-value fallback was used), ``cost_to_target``, ``step_size`` (the step
        the best setting took, median over seeds: ``"c/L"`` resolved), ``f_gap_final``,
        ``grad_norm_final``.
    """
    targets = summary_targets(summary) if targets is None else list(targets)
    return settings_of_aggregate(aggregate_summary(summary, targets), targets, swept_only)


#: Columns of :func:`best_settings`.
BEST_COLUMNS = (
    "problem",
    "family",
    "solver_label",
    "n_settings",
    "target",
    "cost_to_target",
    USED_STEP,
    "f_gap_final",
    "grad_norm_final",
)


def settings_of_aggregate(
    table: pd.DataFrame, targets: Sequence[float], swept_only: bool = True
) -> pd.DataFrame:
    """:func:`best_settings` from the aggregate of the summary (:func:`aggregate_summary`
    with the same ``targets``).

    One pass over ``table``: each (problem, family) group's tightest target reached,
    then one sort of the rows by (group, cost, final f − f*, final gradient norm, label).
    """
    if table.empty:
        return pd.DataFrame([], columns=list(BEST_COLUMNS))
    targets = sorted(targets)
    group, sizes, order, chosen, cost = _settings_order(table, targets)
    n_groups = sizes.size
    starts = np.cumsum(sizes) - sizes
    best = order[starts]  # the first row of each group in that order
    keep = np.flatnonzero(sizes >= 2) if swept_only else np.arange(n_groups)
    if not keep.size:
        return pd.DataFrame([], columns=list(BEST_COLUMNS))
    rows = best[keep]
    target_index = chosen[keep]
    found = target_index >= 0
    target_values = np.asarray(targets, dtype=float)
    data = {
        "problem": table["problem"].to_numpy()[rows],
        "family": table["family"].to_numpy()[rows],
        "solver_label": table["solver_label"].to_numpy()[rows],
        "n_settings": sizes[keep].astype(np.int64),
        "target": np.where(found, target_values[target_index.clip(min=0)], math.nan)
        if target_values.size
        else np.full(keep.size, math.nan),
        "cost_to_target": np.where(found, cost[rows], math.nan),
        USED_STEP: table[USED_STEP].to_numpy(dtype=float)[rows],
        "f_gap_final": table["f_gap_final"].to_numpy(dtype=float)[rows],
        "grad_norm_final": table["grad_norm_final"].to_numpy(dtype=float)[rows],
    }
    return pd.DataFrame(data, columns=list(BEST_COLUMNS))


def setting_ranks(table: pd.DataFrame, targets: Sequence[float]) -> np.ndarray:
    """The rank of every row of the aggregate ``table`` among the settings of its
    (problem, family): 0 for the best setting (:func:`best_settings`' criterion), 1 for
    the next, and so on.

    Parameters
    ----------
    table : DataFrame
        :func:`aggregate_summary` with ``targets``.
    targets : sequence of float
        The targets of ``table``.
    """
    if table.empty:
        return np.zeros(0, dtype=np.intp)
    group, sizes, order, _, _ = _settings_order(table, sorted(targets))
    starts = np.cumsum(sizes) - sizes
    ranks = np.empty(len(table), dtype=np.intp)
    ranks[order] = np.arange(len(table)) - starts[group[order]]
    return ranks


def _settings_order(
    table: pd.DataFrame, targets: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The settings of each (problem, family) of the aggregate, best first.

    Returns ``(group, sizes, order, chosen, cost)``: each row's group (numbered by first
    appearance), the groups' sizes, the rows sorted by (group, cost to the group's
    tightest reached target, final f − f*, final gradient norm, label), each group's
    target index into the ascending ``targets`` (-1: none reached) and each row's cost
    to it (+inf where none).
    """
    group = (
        table.groupby(["problem", "family"], sort=False, dropna=False)
        .ngroup()
        .to_numpy(dtype=np.intp)
    )
    n_groups = int(group.max()) + 1
    sizes = np.bincount(group, minlength=n_groups)
    cost = np.full(len(table), math.inf)
    chosen = np.full(n_groups, -1)
    for index, eps in enumerate(targets):  # ascending: the first reached is the tightest
        costs = table[target_column("cost", eps)].to_numpy(dtype=float)
        reached = np.bincount(group, weights=~np.isnan(costs), minlength=n_groups) > 0
        chosen[reached & (chosen < 0)] = index
    for index, eps in enumerate(targets):
        rows = chosen[group] == index
        cost[rows] = table[target_column("cost", eps)].to_numpy(dtype=float)[rows]
    labels = table["solver_label"].astype(str).to_numpy(dtype=object)
    label_rank = np.unique(labels, return_inverse=True)[1]
    order = np.lexsort(
        (
            label_rank,
            _inf_where_nan(table["grad_norm_final"]),
            _inf_where_nan(table["f_gap_final"]),
            np.where(np.isnan(cost), math.inf, cost),
            group,
        )
    )
    return group, sizes, order, chosen, cost


def _inf_where_nan(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype=float)
    return np.where(np.isnan(values), math.inf, values)
