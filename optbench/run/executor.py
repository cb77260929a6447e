"""Run many :class:`~optbench.run.spec.RunSpec` s: serially or in joblib processes.

:func:`execute_run` turns one spec and its built problem into a :class:`RunRecord`
(never raising: any exception becomes a record with status ``error``).
:func:`execute` runs a list of specs on a backend and hands every record to a
callback as soon as it is available, so the store can write it at once.

Work is planned as *tasks*: one task is a chunk of runs of one problem instance
(:func:`plan_tasks`), executed in a worker by :func:`run_task`. Each worker process
keeps the last :data:`PROBLEM_CACHE_SIZE` built instances (:func:`cached_problem`),
so an instance's data is built once per worker, not once per run. A backend is a
function ``(tasks, jobs, blas_threads, **options) -> iterator of list[RunRecord]``
registered in :data:`BACKENDS`; a distributed backend plugs in there.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from optbench.problems.base import Problem
from optbench.registry import unknown_name_message
from optbench.run.result import TRACE_COLUMNS, OptimizeResult
from optbench.run.runner import run_solver
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.solvers import make_solver

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
    "cost",
    "time",
    "f_final",
    "f_gap_final",
    "grad_norm_final",
    "dim",
    "f0",
)
#: Metrics recorded at each target level ε, see :func:`target_column`.
TARGET_METRICS = ("iters", "cost", "time")
#: Trace columns as stored: ``run_id`` then the DESIGN trace columns.
STORED_TRACE_COLUMNS = ("run_id", *TRACE_COLUMNS)
#: Built problem instances kept per process (least recently used evicted first).
PROBLEM_CACHE_SIZE = 4
#: Upper bound on the runs of one task (bounds the work lost with a dead worker).
MAX_TASK_RUNS = 16

_problem_cache: OrderedDict[str, Problem] = OrderedDict()


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
        column = f"param_{name}" if name in reserved or _is_target_column(name) else name
        scalar = value is None or isinstance(value, (bool, int, float, str))
        columns[column] = value if scalar else json.dumps(value, sort_keys=True, default=str)
    return columns


def _is_target_column(name: str) -> bool:
    return any(name.startswith(f"{metric}_to_") for metric in TARGET_METRICS)


def summary_row(
    spec: RunSpec,
    result: OptimizeResult | None = None,
    *,
    dim: int | None = None,
    f0: float = math.nan,
    error: str = "",
) -> dict[str, Any]:
    """The summary row of a run (DESIGN "Results" plus ``solver_label, dim, f0``).

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
        row.update(cost=0.0, time=0.0, f_final=math.nan, f_gap_final=math.nan)
        row.update(grad_norm_final=math.nan)
    else:
        outcome = result.summary()
        row.update({name: outcome[name] for name in SUMMARY_RESULT_COLUMNS[1:-2]})
    row["dim"] = math.nan if dim is None else dim
    row["f0"] = f0
    hits = {} if result is None else result.targets
    for eps in spec.targets:
        hit = hits.get(float(eps))
        row[target_column("iters", eps)] = math.nan if hit is None else hit.iter
        row[target_column("cost", eps)] = math.nan if hit is None else hit.cost
        row[target_column("time", eps)] = math.nan if hit is None else hit.time
    return row


def _empty_trace() -> dict[str, list[Any]]:
    return {name: [] for name in STORED_TRACE_COLUMNS}


def error_record(spec: RunSpec, message: str, dim: int | None = None) -> RunRecord:
    """A record with status ``error`` for a run that failed before the runner ran."""
    return RunRecord(spec.run_id, summary_row(spec, dim=dim, error=message), _empty_trace())


def _describe(stage: str, exc: BaseException) -> str:
    return f"{stage}: {type(exc).__name__}: {exc}"


def execute_run(spec: RunSpec, problem: Problem) -> RunRecord:
    """Run one spec on its built problem; never raises for a failing run.

    Builds the solver with :func:`~optbench.solvers.make_solver` and runs
    :func:`~optbench.run.runner.run_solver` from ``spec.start_point(problem)``.
    Any exception (an invalid solver parameter, a bad start point, …) becomes a
    record with status ``error`` and the exception's type and message.

    Parameters
    ----------
    spec : RunSpec
        The run.
    problem : Problem
        The problem instance ``spec.problem`` describes (shared across runs: problems
        hold no state).

    Returns
    -------
    RunRecord
        The summary row and the trace (``run_id`` prepended to each trace row).
    """
    dim = getattr(problem, "dim", None)
    try:
        solver = make_solver(spec.solver, **spec.solver_params)
    except Exception as exc:  # noqa: BLE001 - an invalid parameter is an errored run
        return error_record(spec, _describe("building solver", exc), dim)
    try:
        x0 = spec.start_point(problem)
        result = run_solver(problem, solver, spec.stop, x0=x0, log=spec.log, targets=spec.targets)
    except Exception as exc:  # noqa: BLE001
        return error_record(spec, _describe("running", exc), dim)
    columns = result.recorder.columns
    rows = len(result.recorder)
    f0 = columns["f"][0] if rows else math.nan
    trace = {
        "run_id": [spec.run_id] * rows,
        "problem": [spec.problem.label] * rows,
        "optimizer": [spec.solver] * rows,
        **{name: list(columns[name]) for name in TRACE_COLUMNS[2:]},
    }
    return RunRecord(spec.run_id, summary_row(spec, result, dim=dim, f0=f0), trace)


def cached_problem(problem_spec: ProblemSpec) -> Problem:
    """The built instance of ``problem_spec``, from this process's cache when there.

    The cache is keyed by :meth:`ProblemSpec.key` and keeps the
    :data:`PROBLEM_CACHE_SIZE` most recently used instances (memory: up to that many
    of the largest instances per process). A failed build is not cached.
    """
    key = problem_spec.key()
    if key in _problem_cache:
        _problem_cache.move_to_end(key)
        return _problem_cache[key]
    problem = problem_spec.build()
    _problem_cache[key] = problem
    while len(_problem_cache) > PROBLEM_CACHE_SIZE:
        _problem_cache.popitem(last=False)
    return problem


def clear_problem_cache() -> None:
    """Drop this process's cached problem instances."""
    _problem_cache.clear()


def execute_spec(spec: RunSpec) -> RunRecord:
    """Build (or reuse) the spec's problem and run it; never raises for a failing run."""
    try:
        problem = cached_problem(spec.problem)
    except Exception as exc:  # noqa: BLE001 - a problem that cannot be built is an error run
        return error_record(spec, _describe(f"building problem {spec.problem.label}", exc))
    return execute_run(spec, problem)


def blas_limit(blas_threads: int | None) -> AbstractContextManager[Any]:
    """Context limiting BLAS to ``blas_threads`` threads (``None``: no limit).

    Entering it costs about a millisecond (threadpoolctl inspects the loaded
    libraries), so it is entered once per task, not once per run.
    """
    if blas_threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(blas_threads, "blas")


def run_task(specs: Sequence[RunSpec], blas_threads: int | None = 1) -> list[RunRecord]:
    """Run a task (runs of one problem instance) in this process; the worker entry point.

    Parameters
    ----------
    specs : sequence of RunSpec
        The runs, executed in order.
    blas_threads : int or None
        BLAS threads during the runs (:func:`threadpoolctl.threadpool_limits`);
        ``None`` leaves the process's setting alone.
    """
    with blas_limit(blas_threads):
        return [execute_spec(spec) for spec in specs]


def plan_tasks(specs: Sequence[RunSpec], jobs: int) -> list[list[RunSpec]]:
    """Group runs by problem instance and cut each group into chunks.

    Runs of one instance stay together (first-appearance order of instances, spec
    order within one), so a worker builds an instance once and reuses it. The
    chunk size aims at about four tasks per worker for load balance, at most
    :data:`MAX_TASK_RUNS` runs, so results stream back often.
    """
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.problem.key(), []).append(spec)
    size = max(1, min(MAX_TASK_RUNS, math.ceil(len(specs) / (4 * max(1, jobs)))))
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def _serial_backend(
    tasks: list[list[RunSpec]], jobs: int, blas_threads: int | None
) -> Iterator[list[RunRecord]]:
    """Run in this process, yielding each run as it ends (cache cleared at the end)."""
    try:
        with blas_limit(blas_threads):
            for task in tasks:
                for spec in task:
                    yield [execute_spec(spec)]
    finally:
        clear_problem_cache()


def _joblib_backend(
    tasks: list[list[RunSpec]], jobs: int, blas_threads: int | None, **options: Any
) -> Iterator[list[RunRecord]]:
    """Run tasks in ``jobs`` joblib (loky) worker processes; yield as they finish.

    ``options`` go to :class:`joblib.Parallel` (e.g. ``backend="loky"``).
    """
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1, **options)
    yield from parallel(delayed(run_task)(task, blas_threads) for task in tasks)


#: Execution backends by name: ``(tasks, jobs, blas_threads, **options)`` → records.
BACKENDS: dict[str, Callable[..., Iterator[list[RunRecord]]]] = {
    "serial": _serial_backend,
    "joblib": _joblib_backend,
}


def execute(
    specs: Sequence[RunSpec],
    on_record: Callable[[RunRecord], None],
    jobs: int = 1,
    backend: str | None = None,
    progress: bool = True,
    blas_threads: int | None = 1,
    backend_options: dict[str, Any] | None = None,
) -> None:
    """Run ``specs`` and pass every record to ``on_record`` as soon as it is back.

    A failing run is a record with status ``error``; it never stops the others.
    Exceptions raised by ``on_record`` or by the backend itself (a dead worker
    process) and ``KeyboardInterrupt`` propagate: records already handed over are
    kept by the caller, runs in flight are lost.

    Parameters
    ----------
    specs : sequence of RunSpec
        The runs.
    on_record : callable
        Called in this process with each :class:`RunRecord`, in completion order.
    jobs : int
        Worker processes (joblib semantics: ``-1`` means one per CPU).
    backend : {"serial", "joblib"} or None
        Where runs execute; ``None`` picks ``serial`` for ``jobs == 1``, else ``joblib``.
    progress : bool
        Show a progress bar (runs done, total, ETA) on stderr; it is shown only when
        stderr is a terminal.
    blas_threads : int or None
        BLAS threads per worker during runs (``None``: leave as is). Pinning to 1
        keeps runs independent of the number of workers and timings comparable.
    backend_options : dict, optional
        Extra keyword arguments of the backend.
    """
    from tqdm import tqdm

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs: must be a positive integer or -1, got {jobs!r}")
    backend = backend or ("serial" if jobs == 1 else "joblib")
    if backend not in BACKENDS:
        raise ValueError(unknown_name_message("executor backend", backend, list(BACKENDS)))
    if not specs:
        return
    tasks = plan_tasks(specs, jobs if jobs > 0 else os.cpu_count() or 1)
    batches = BACKENDS[backend](tasks, jobs, blas_threads, **(backend_options or {}))
    errors = 0
    with tqdm(
        total=len(specs),
        unit="run",
        file=sys.stderr,
        disable=None if progress else True,
        dynamic_ncols=True,
    ) as bar:
        for records in batches:
            for record in records:
                on_record(record)
                errors += record.status == "error"
            bar.update(len(records))
            if errors:
                bar.set_postfix(errors=errors, refresh=False)
