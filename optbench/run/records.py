"""The row format of results: summary and trace columns, run records, ``runs.csv`` rows.

Everything a worker sends back and the store writes is built here: a
:class:`RunRecord` holds one run's summary row (:func:`summary_row`) and its trace
(columns :data:`STORED_TRACE_COLUMNS`, Arrow types :func:`trace_schema`);
:func:`spec_row` is a run's row of ``runs.csv``. This module is the one home of the columns.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optbench.registry import unknown_name_message
from optbench.run.result import TRACE_COLUMNS, OptimizeResult
from optbench.run.spec import RunSpec

if TYPE_CHECKING:
    import pyarrow as pa

#: Leading summary columns; the solver's parameters follow them.
SUMMARY_KEY_COLUMNS = ("run_id", "problem", "optimizer", "solver_label")
#: Summary columns after the solver's parameters; the target columns follow them.
SUMMARY_RESULT_COLUMNS = (
    "seed",
    "status",
    "message",
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
    "compile_time",
    "f_final",
    "f_gap_final",
    "grad_norm_final",
    "dim",
    "f0",
    "warnings",
)
#: Count columns added after the first results format: a results directory written
#: before them has none, which reads as zero calls (see :func:`summary_column_order`).
LATER_COUNT_COLUMNS = ("n_r", "n_J", "n_sample_g", "n_sample_hvp")
#: Summary columns added later, with the value a run written before them reads as:
#: the counts above, and ``compile_time`` (seconds compiling the problem's oracles when
#: it was built, outside ``time``; 0 for the native families).
LATER_SUMMARY_COLUMNS: dict[str, int | float] = {
    "n_r": 0,
    "n_J": 0,
    "n_sample_g": 0,
    "n_sample_hvp": 0,
    "compile_time": 0.0,
}
#: Summary columns holding text (possibly empty) rather than numbers.
TEXT_SUMMARY_COLUMNS = ("message", "warnings")
#: Metrics recorded at each target level ε, see :func:`target_column`.
TARGET_METRICS = ("iters", "cost", "time")
#: Trace columns as stored: ``run_id`` then the trace columns.
STORED_TRACE_COLUMNS = ("run_id", *TRACE_COLUMNS)
_TARGET_COLUMN = re.compile(rf"^({'|'.join(TARGET_METRICS)})_to_")


def target_column(metric: str, eps: float) -> str:
    """Summary column name of ``metric`` at target level ``eps``.

    The level is written with the fewest mantissa digits that give ``eps`` back,
    so ``target_column("cost", 1e-4) == "cost_to_1e-04"`` and distinct levels never
    share a column (``1.5e-3`` → ``"iters_to_1.5e-03"``).

    Parameters
    ----------
    metric : {"iters", "cost", "time"}
        What is recorded at the first iterate with ``f - f* <= eps``.
    eps : float
        The target level of ``f - f*``.
    """
    if metric not in TARGET_METRICS:
        raise ValueError(unknown_name_message("target metric", metric, TARGET_METRICS))
    eps = float(eps)
    for digits in range(17):
        text = f"{eps:.{digits}e}"
        if float(text) == eps:
            break
    return f"{metric}_to_{text}"


def is_target_column(name: str) -> bool:
    """Whether ``name`` is a fixed-target column such as ``cost_to_1e-04``."""
    return bool(_TARGET_COLUMN.match(name))


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
    reserved = {*SUMMARY_KEY_COLUMNS, *SUMMARY_RESULT_COLUMNS}
    columns = {}
    for name, value in params.items():
        column = f"param_{name}" if name in reserved or is_target_column(name) else name
        scalar = value is None or isinstance(value, (bool, int, float, str))
        columns[column] = value if scalar else json.dumps(value, sort_keys=True, default=str)
    return columns


def summary_row(
    spec: RunSpec,
    result: OptimizeResult | None = None,
    *,
    dim: int | None = None,
    f0: float = math.nan,
    error: str = "",
) -> dict[str, Any]:
    """The summary row of a run (the results columns plus ``solver_label, dim, f0, warnings``).

    Parameters
    ----------
    spec : RunSpec
        The run.
    result : OptimizeResult, optional
        Its outcome; ``None`` when the run failed before the runner started, in
        which case the status is ``error`` with message ``error``, the counts are 0
        and the values NaN.
    dim : int, optional
        Problem dimension (NaN when unknown).
    f0 : float
        f at the starting point.
    error : str
        Message of an error raised outside the runner.
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
        row.update(cost=0.0, time=0.0, compile_time=0.0, f_final=math.nan)
        row.update(f_gap_final=math.nan, grad_norm_final=math.nan)
    else:
        outcome = result.summary()
        row.update({name: outcome[name] for name in SUMMARY_RESULT_COLUMNS if name in outcome})
    row["dim"] = math.nan if dim is None else dim
    row["f0"] = f0
    row["warnings"] = format_warnings(result.warnings if result is not None else {})
    hits = {} if result is None else result.targets
    for eps in spec.targets:
        hit = hits.get(float(eps))
        row[target_column("iters", eps)] = math.nan if hit is None else hit.iter
        row[target_column("cost", eps)] = math.nan if hit is None else hit.cost
        row[target_column("time", eps)] = math.nan if hit is None else hit.time
    return row


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


def summary_column_order(columns: Iterable[str]) -> list[str]:
    """Summary columns in their order: keys, solver parameters, results, targets.

    Parameters and targets keep their order of first appearance in ``columns``. The
    :data:`LATER_SUMMARY_COLUMNS` appear only when ``columns`` has them, so the runs of a
    results directory written before them merge into the summary they had.
    """
    columns = list(dict.fromkeys(columns))
    fixed = {*SUMMARY_KEY_COLUMNS, *SUMMARY_RESULT_COLUMNS}
    params = [c for c in columns if c not in fixed and not is_target_column(c)]
    targets = [c for c in columns if c not in fixed and is_target_column(c)]
    results = [c for c in SUMMARY_RESULT_COLUMNS if c not in LATER_SUMMARY_COLUMNS or c in columns]
    return [*SUMMARY_KEY_COLUMNS, *params, *results, *targets]


def trace_schema() -> pa.Schema:
    """Arrow schema of the stored trace columns."""
    import pyarrow as pa

    types = {"run_id": pa.string(), "problem": pa.string(), "optimizer": pa.string()}
    integers = {"iter", "n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J", "n_sample_g", "n_sample_hvp"}
    return pa.schema(
        [
            (name, types.get(name, pa.int64() if name in integers else pa.float64()))
            for name in STORED_TRACE_COLUMNS
        ]
    )


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
    ``log`` are JSON too.
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
    }


def _log_settings(spec: RunSpec) -> dict[str, Any]:
    """The run's log policy as stored: ``every_epochs`` only when set, so the rows of
    results written before it existed still match on resume."""
    settings = spec.log.model_dump()
    if settings.get("every_epochs") is None:
        settings.pop("every_epochs", None)
    return settings
