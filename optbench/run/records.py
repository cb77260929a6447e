"""The row format of results: summary and trace columns, run records, ``runs.csv`` rows.

Everything a worker sends back and the store writes is built here: a
:class:`RunRecord` holds one run's summary row (:func:`summary_row`) and its trace
(columns :data:`~optbench.results_format.STORED_TRACE_COLUMNS`); :func:`combine_repeats`
compares the repeats of a run; :func:`spec_row` is a run's row of ``runs.csv``. The
column names themselves are :mod:`optbench.results_format`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from optbench.results_format import (
    COUNT_COLUMNS,
    LATER_SUMMARY_COLUMNS,
    REPEAT_MISMATCH,
    STORED_TRACE_COLUMNS,
    SUMMARY_KEY_COLUMNS,
    SUMMARY_RESULT_COLUMNS,
    TARGET_METRICS,
    format_times,
    parameter_column_name,
    summary_column_order,
    target_column,
)
from optbench.run.result import OptimizeResult
from optbench.run.spec import RunSpec

__all__ = [
    "LATER_SUMMARY_COLUMNS",
    "STORED_TRACE_COLUMNS",
    "SUMMARY_KEY_COLUMNS",
    "SUMMARY_RESULT_COLUMNS",
    "TARGET_METRICS",
    "RunRecord",
    "dumps",
    "empty_trace",
    "error_record",
    "format_warnings",
    "json_default",
    "parameter_columns",
    "spec_row",
    "summary_row",
    "target_column",
]


@dataclass
class RunRecord:
    """What one run sends back from a worker: picklable plain data.

    Attributes
    ----------
    run_id : str
        The spec's :attr:`~optbench.run.spec.RunSpec.run_id`.
    summary : dict
        The summary row (columns in order, see :func:`summary_row`).
    trace : dict of str to list
        Trace columns (:data:`STORED_TRACE_COLUMNS`) as equal-length lists.
    """

    run_id: str
    summary: dict[str, Any]
    trace: dict[str, list[Any]]

    @property
    def status(self) -> str:
        """The run's status (``converged``, …, ``error``)."""
        return self.summary["status"]


def parameter_columns(params: dict[str, Any]) -> dict[str, Any]:
    """Solver parameters as summary columns.

    A name that clashes with another summary column gets a ``param_`` prefix; a
    value that is not a scalar is written as JSON text.
    """
    columns = {}
    for name, value in params.items():
        column = parameter_column_name(name)
        scalar = value is None or isinstance(value, (bool, int, float, str))
        columns[column] = value if scalar else json.dumps(value, sort_keys=True, default=str)
    return columns


#: Fields of a run that must be equal in every repeat (all but the times).
REPEAT_INVARIANTS = ("status", "iters", *COUNT_COLUMNS, "cost")


@dataclass(frozen=True)
class Repeats:
    """What the repeats of one run add to its summary row (see :func:`combine_repeats`).

    Attributes
    ----------
    times : tuple of float
        Each repeat's ``time``, in the order run.
    target_times : dict of float to tuple of float
        For each target level reached in every repeat, each repeat's time to it.
    mismatch : str
        Empty when every repeat had the first's counts and status, else what differed.
    kept : int
        The repeat whose trace is kept: the one with the median time (the lower of the
        two middle ones for an even count) when the repeats agree, else the first.
    """

    times: tuple[float, ...]
    target_times: dict[float, tuple[float, ...]]
    mismatch: str
    kept: int


def combine_repeats(results: Sequence[OptimizeResult]) -> Repeats:
    """Compare the repeats of a run and collect their times.

    Counts (``iters``, every oracle count, ``cost``) and the status must be the same in
    every repeat: a run is deterministic given its spec, and only its clock may vary.
    Where they differ, ``mismatch`` names each field that did with its values, e.g.
    ``"n_f 12, 12, 13"``.
    """
    if not results:
        raise ValueError("combine_repeats: no results")
    first = results[0].summary()
    differing = []
    for name in REPEAT_INVARIANTS:
        values = [r.summary()[name] for r in results]
        if any(v != first[name] for v in values):
            differing.append(f"{name} {', '.join(str(v) for v in values)}")
    times = tuple(float(r.time) for r in results)
    reached = set.intersection(*(set(r.targets) for r in results))
    target_times = {eps: tuple(r.targets[eps].time for r in results) for eps in sorted(reached)}
    kept = sorted(range(len(times)), key=lambda i: (times[i], i))[(len(times) - 1) // 2]
    return Repeats(times, target_times, "; ".join(differing), 0 if differing else kept)


def summary_row(
    spec: RunSpec,
    result: OptimizeResult | None = None,
    *,
    dim: int | None = None,
    f0: float = math.nan,
    error: str = "",
    repeats: Repeats | None = None,
) -> dict[str, Any]:
    """The summary row of a run (the results columns plus ``solver_label, dim, f0, warnings``).

    Parameters
    ----------
    spec : RunSpec
        The run.
    result : OptimizeResult, optional
        Its outcome (the first repeat's); ``None`` when the run failed before the
        runner started, in which case the status is ``error`` with message ``error``,
        the counts are 0 and the values NaN.
    dim : int, optional
        Problem dimension (NaN when unknown).
    f0 : float
        f at the starting point.
    error : str
        Message of an error raised outside the runner.
    repeats : Repeats, optional
        The run's repeats (the config's ``repeat``): ``time`` and every ``time_to_ε``
        are then medians over them, ``time_low, time_high`` the percentile-bootstrap
        95% interval of the median time (:func:`optbench.bootstrap.median_interval`);
        counts stay ``result``'s, and repeats whose counts or status differ add a
        ``RepeatMismatch`` entry to ``warnings``. Without it: one repeat, no interval.
    """
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "problem": spec.problem.label,
        "optimizer": spec.solver,
        "solver_label": spec.solver_label,
        **parameter_columns(spec.solver_params),
        "seed": spec.seed,
    }
    if result is None:
        row.update(status="error", message=error, iters=0, n_f=0, n_g=0, n_hvp=0, n_hess=0)
        row.update(n_r=0, n_J=0, n_sample_g=0, n_sample_hvp=0)
        row.update(cost=0.0, time=0.0, compile_time=0.0, step_size=math.nan, f_final=math.nan)
        row.update(f_gap_final=math.nan, grad_norm_final=math.nan)
    else:
        outcome = result.summary()
        row.update({name: outcome[name] for name in SUMMARY_RESULT_COLUMNS if name in outcome})
    row.update(time_low=math.nan, time_high=math.nan, repeats=1, repeat_times="")
    warnings = dict(result.warnings) if result is not None else {}
    target_times: dict[float, float] = {}
    if repeats is not None and len(repeats.times) > 1:
        import numpy as np

        from optbench.bootstrap import median_interval

        row["time"] = float(np.median(repeats.times))
        row["time_low"], row["time_high"] = median_interval(np.asarray(repeats.times))
        row["repeats"] = len(repeats.times)
        row["repeat_times"] = format_times(repeats.times)
        target_times = {eps: float(np.median(t)) for eps, t in repeats.target_times.items()}
        if repeats.mismatch:
            key = f"{REPEAT_MISMATCH}: counts differ across repeats: {repeats.mismatch}"
            warnings[key] = 1
    row["dim"] = math.nan if dim is None else dim
    row["f0"] = f0
    row["warnings"] = format_warnings(warnings)
    hits = {} if result is None else result.targets
    for eps in spec.targets:
        hit = hits.get(float(eps))
        row[target_column("iters", eps)] = math.nan if hit is None else hit.iter
        row[target_column("cost", eps)] = math.nan if hit is None else hit.cost
        time = math.nan if hit is None else target_times.get(float(eps), hit.time)
        row[target_column("time", eps)] = time
    return {name: row[name] for name in _column_order(tuple(row))}


@lru_cache(maxsize=256)
def _column_order(columns: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`summary_column_order` of ``columns``, remembered: the runs of an experiment
    share a few column lists."""
    return tuple(summary_column_order(columns))


def format_warnings(counts: Mapping[str, int]) -> str:
    """The ``warnings`` summary column: distinct warnings with their counts.

    ``"<Category>: <message> (xN)"`` for each, most frequent first (then by text),
    joined by ``"; "``; empty when the run raised none.

    >>> format_warnings({"RuntimeWarning: overflow encountered in matmul": 3})
    'RuntimeWarning: overflow encountered in matmul (x3)'
    """
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(f"{key} (x{count})" for key, count in ordered)


def empty_trace() -> dict[str, list[Any]]:
    """Trace columns with no rows."""
    return {name: [] for name in STORED_TRACE_COLUMNS}


def error_record(spec: RunSpec, message: str, dim: int | None = None) -> RunRecord:
    """A record with status ``error`` for a run that failed before the runner ran
    (or was lost with its worker): counts 0, values NaN, no trace rows."""
    return RunRecord(spec.run_id, summary_row(spec, dim=dim, error=message), empty_trace())


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars as Python numbers, anything else as text."""
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def dumps(value: Any) -> str:
    """``value`` as JSON text with sorted keys (numpy scalars allowed)."""
    return json.dumps(value, sort_keys=True, default=json_default)


def spec_row(spec: RunSpec) -> dict[str, Any]:
    """One ``runs.csv`` row: the run's identity, parameters and settings.

    Problem and solver parameters are also kept as JSON text (``problem_params``,
    ``solver_params``) so a row describes its run exactly; ``stop``, ``targets`` and
    ``log`` are JSON too; ``repeat`` is the number of repeats.
    """
    return {
        "run_id": spec.run_id,
        "problem": spec.problem.label,
        "problem_name": spec.problem.name,
        "problem_params": dumps(spec.problem.params),
        "optimizer": spec.solver,
        "solver_label": spec.solver_label,
        **parameter_columns(spec.solver_params),
        "solver_params": dumps(spec.solver_params),
        "seed": spec.seed,
        "stop": dumps(spec.stop.model_dump()),
        "targets": dumps([float(t) for t in spec.targets]),
        "log": dumps(_log_settings(spec)),
        "repeat": dumps(spec.repeat),
    }


def _log_settings(spec: RunSpec) -> dict[str, Any]:
    """The run's log policy as stored: ``every_epochs`` only when set, so the rows of
    results written before it existed still match on resume."""
    settings = spec.log.model_dump()
    if settings.get("every_epochs") is None:
        settings.pop("every_epochs", None)
    return settings
