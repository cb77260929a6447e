"""Run many :class:`~optbench.run.spec.RunSpec` s: serially, in joblib processes or on Dask.

:func:`execute_run` turns one spec and its built problem into a :class:`RunRecord`
(never raising: any exception becomes a record with status ``error``).
:func:`execute` runs a list of specs on a backend and hands every record to a
callback as soon as it is available, so the store can write it at once.

Work is planned as *tasks*: one task is a chunk of runs of one problem instance, of
about half a second of work (:class:`TaskPlanner`, which learns how long a run of each
instance takes as tasks end; the Dask backend plans by count, :func:`plan_tasks`),
executed in a worker by :func:`run_task`. Each worker process
keeps the last :data:`PROBLEM_CACHE_SIZE` built instances (:func:`cached_problem`),
so an instance's data is built once per worker, not once per run. A backend is a
function ``(tasks, jobs, blas_threads, **options) -> iterator of list[RunRecord]``
(``tasks`` an iterable of lists of specs, a :class:`TaskPlanner` from :func:`execute`)
registered in :data:`BACKENDS`; the Dask backend (:mod:`optbench.run.dask_backend`)
is imported only when used. The row format of records is :mod:`optbench.run.records`.

Every backend gets the resolved plugins of the experiment (``plugins=``,
:mod:`optbench.run.plugins`) and has each worker process import them before its first
task (:func:`~optbench.run.plugins.call_with_plugins`), so solvers and problems that
users register run in workers as they do in this process.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from optbench.problems.base import Problem
from optbench.registry import unknown_name_message
from optbench.results_format import TRACE_COLUMNS
from optbench.run.plugins import call_with_plugins, import_plugins
from optbench.run.records import (
    STORED_TRACE_COLUMNS,
    SUMMARY_KEY_COLUMNS,
    SUMMARY_RESULT_COLUMNS,
    TARGET_METRICS,
    RunRecord,
    combine_repeats,
    error_record,
    parameter_columns,
    summary_row,
    target_column,
)
from optbench.run.runner import run_solver
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.scalars import is_integer
from optbench.solvers import make_solver

__all__ = [
    "BACKENDS",
    "BackendError",
    "RunRecord",
    "blas_limit",
    "cached_problem",
    "clear_problem_cache",
    "execute",
    "execute_run",
    "execute_spec",
    "open_backend",
    "TaskPlanner",
    "plan_tasks",
    "run_task",
    # the row format, defined in optbench.run.records (re-exported for older imports)
    "STORED_TRACE_COLUMNS",
    "SUMMARY_KEY_COLUMNS",
    "SUMMARY_RESULT_COLUMNS",
    "TARGET_METRICS",
    "error_record",
    "parameter_columns",
    "summary_row",
    "target_column",
]

#: Built problem instances kept per process (least recently used evicted first).
PROBLEM_CACHE_SIZE = 4
#: Upper bound on the runs of one task of :func:`plan_tasks` (the Dask backend's
#: plan: it bounds the work lost with a dead worker).
PLANNED_TASK_RUNS = 16
#: Seconds of work a task of :class:`TaskPlanner` aims at.
TASK_SECONDS = 0.5
#: Runs of the first task of an instance (:class:`TaskPlanner`), before any has ended.
FIRST_TASK_RUNS = 1
#: Upper bound on the runs of one task of :class:`TaskPlanner`.
MAX_TASK_RUNS = 2000
#: Tasks per worker the runs left are cut into, at least, near the end.
TASKS_PER_WORKER_AT_THE_END = 2
#: Seconds after which the serial backend hands over the runs it finished in a task.
FLUSH_SECONDS = 1.0

_problem_cache: OrderedDict[str, Problem] = OrderedDict()
_cache_lock = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter: Any = None
_tasks_begun = 0


class BackendError(RuntimeError):
    """A backend cannot start or lost its cluster; the message is one line for the user.

    Raised for a missing optional extra, an unreachable scheduler, a lost connection
    or a task that fails outside any run. Runs already handed to the caller are kept.
    """


def _describe(stage: str, exc: BaseException) -> str:
    return f"{stage}: {type(exc).__name__}: {exc}"


def execute_run(spec: RunSpec, problem: Problem) -> RunRecord:
    """Run one spec on its built problem; never raises for a failing run.

    Builds the solver with :func:`~optbench.solvers.make_solver` and runs
    :func:`~optbench.run.runner.run_solver` from ``spec.start_point(problem)``,
    ``spec.repeat`` times (:func:`~optbench.run.records.combine_repeats`: the counts
    are the first repeat's, the trace the median-time repeat's, ``time`` the median).
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
        results = [
            run_solver(
                problem, solver, spec.stop, x0=x0, log=spec.log, targets=spec.targets,
                seed=spec.seed,
            )
            for _ in range(spec.repeat)
        ]  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        return error_record(spec, _describe("running", exc), dim)
    repeats = combine_repeats(results) if len(results) > 1 else None
    result = results[0]
    kept = results[repeats.kept] if repeats is not None else result
    columns = kept.recorder.columns
    rows = len(kept.recorder)
    f0 = columns["f"][0] if rows else math.nan
    trace = {
        "run_id": [spec.run_id] * rows,
        "problem": [spec.problem.label] * rows,
        "optimizer": [spec.solver] * rows,
        **{name: list(columns[name]) for name in TRACE_COLUMNS[2:]},
    }
    row = summary_row(spec, result, dim=dim, f0=f0, repeats=repeats)
    return RunRecord(spec.run_id, row, trace)


def cached_problem(problem_spec: ProblemSpec) -> Problem:
    """The built instance of ``problem_spec``, from this process's cache when there.

    The cache is keyed by :meth:`ProblemSpec.key` and keeps the
    :data:`PROBLEM_CACHE_SIZE` most recently used instances (memory: up to that many
    of the largest instances per process). A failed build is not cached. It is
    thread-safe (a Dask worker may run several tasks in threads): an instance is
    built by one thread while others asking for it wait. Building includes resolving
    its f* (certifying it on first use), so every run of the instance starts with it.
    """
    key = problem_spec.key()
    with _cache_lock:
        if key in _problem_cache:
            _problem_cache.move_to_end(key)
            return _problem_cache[key]
        build_lock = _build_locks.setdefault(key, threading.Lock())
    with build_lock:
        with _cache_lock:
            if key in _problem_cache:  # built by another thread meanwhile
                _problem_cache.move_to_end(key)
                return _problem_cache[key]
        try:
            problem = problem_spec.build()
            # f* is resolved here, once per instance and before any of its runs (a
            # lazy family certifies now, or reads its cache), not in the middle of a run.
            problem.f_star  # noqa: B018
        except BaseException:
            with _cache_lock:
                _build_locks.pop(key, None)
            raise
        with _cache_lock:
            _build_locks.pop(key, None)
            _problem_cache[key] = problem
            while len(_problem_cache) > PROBLEM_CACHE_SIZE:
                _problem_cache.popitem(last=False)
        return problem


def clear_problem_cache() -> None:
    """Drop this process's cached problem instances."""
    with _cache_lock:
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
    libraries), so it is entered once per task, not once per run. It first loads
    scipy's BLAS (threadpoolctl limits only libraries already loaded). The limit is
    process-wide, so concurrent tasks in threads of one process (a Dask worker with
    ``--nthreads`` > 1) share it: the first to enter sets it, the last to leave
    restores the previous setting (a concurrent different ``blas_threads`` gets the
    limit already in force).
    """
    if blas_threads is None:
        return nullcontext()
    return _shared_blas_limit(blas_threads)


@contextmanager
def _shared_blas_limit(blas_threads: int) -> Iterator[None]:
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            # threadpoolctl limits only the libraries already loaded: load scipy's BLAS
            # (numpy's is loaded) so that a run's first scipy.linalg call is limited too
            import scipy.linalg  # noqa: F401
            from threadpoolctl import threadpool_limits

            _blas_limiter = threadpool_limits(blas_threads, "blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


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
    :data:`PLANNED_TASK_RUNS` runs, so results stream back often. The Dask backend
    plans so; the others learn task sizes as they go (:class:`TaskPlanner`).
    """
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.problem.key(), []).append(spec)
    size = max(1, min(PLANNED_TASK_RUNS, math.ceil(len(specs) / (4 * max(1, jobs)))))
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


class TaskPlanner:
    """Cuts runs into tasks of about :data:`TASK_SECONDS` of work, learning as tasks end.

    Runs of one instance stay together (first-appearance order of instances, spec
    order within one), so a worker builds an instance once. The size of the next task
    of an instance is :data:`TASK_SECONDS` over the seconds a run of it took in the
    tasks that ended (:meth:`finished`): tiny runs travel by the hundred, so a task's
    fixed cost (sending it, one batch of files written) is small beside its work,
    while long runs go one or a few at a time, so results stream back and a dead worker
    loses little. Before any task of an instance has ended, tasks are small: one round
    of ``workers`` tasks of :data:`FIRST_TASK_RUNS` runs, then rounds of twice as
    many; near the end, no task takes more than a
    share of the runs left (:data:`TASKS_PER_WORKER_AT_THE_END` per worker), so the
    workers finish together. Iterating it yields the tasks; a backend that runs tasks
    in other processes reports each task's seconds from there.

    Parameters
    ----------
    specs : sequence of RunSpec
        The runs.
    workers : int
        Tasks that run at once.
    """

    def __init__(self, specs: Sequence[RunSpec], workers: int) -> None:
        self.specs = list(specs)
        self.workers = max(1, workers)
        self._seconds_per_run: dict[str, float] = {}

    def finished(self, instance: str, runs: int, seconds: float | None) -> None:
        """Learn from a task of ``runs`` runs of ``instance`` (its :meth:`ProblemSpec.key`)
        that took ``seconds`` (wall time, in its worker; ``None``: it teaches nothing, as
        the first task of a process, which pays for imports and building the instance)."""
        if runs and seconds is not None:
            self._seconds_per_run[instance] = seconds / runs

    def __iter__(self) -> Iterator[list[RunSpec]]:
        groups: dict[str, list[RunSpec]] = {}
        for spec in self.specs:
            groups.setdefault(spec.problem.key(), []).append(spec)
        left = len(self.specs)
        for key, group in groups.items():
            start, blind = 0, 0
            while start < len(group):
                per_run = self._seconds_per_run.get(key)
                if per_run is None:  # nothing learnt yet: small tasks, doubling per round
                    size = FIRST_TASK_RUNS * 2 ** (blind // self.workers)
                    blind += 1
                else:
                    size = int(TASK_SECONDS / per_run) if per_run > 0 else MAX_TASK_RUNS
                if self.workers > 1:  # the last tasks shared out, so workers end together
                    size = min(size, math.ceil(left / (TASKS_PER_WORKER_AT_THE_END * self.workers)))
                size = max(1, min(size, MAX_TASK_RUNS))
                task = group[start : start + size]
                start += len(task)
                left -= len(task)
                yield task


def _serial_backend(
    tasks: Iterable[list[RunSpec]],
    jobs: int,
    blas_threads: int | None,
    plugins: Sequence[str] = (),
) -> Iterator[list[RunRecord]]:
    """Run in this process, yielding the records of each task when it ends, or sooner
    once :data:`FLUSH_SECONDS` have passed since the first record held (cache cleared at
    the end). After Ctrl-C, the records held are yielded before the interrupt goes on."""
    import_plugins(plugins)
    try:
        with blas_limit(blas_threads):
            for task in tasks:
                start, first = time.perf_counter(), _first_task()
                yield from _timed_batches(task)
                if isinstance(tasks, TaskPlanner) and task:
                    seconds = None if first else time.perf_counter() - start
                    tasks.finished(task[0].problem.key(), len(task), seconds)
    finally:
        clear_problem_cache()


def _timed_batches(task: Sequence[RunSpec]) -> Iterator[list[RunRecord]]:
    held: list[RunRecord] = []
    since = time.monotonic()
    try:
        for spec in task:
            held.append(execute_spec(spec))
            if time.monotonic() - since >= FLUSH_SECONDS:
                yield held
                held, since = [], time.monotonic()
    except KeyboardInterrupt:
        if held:  # finished runs: handed over before the interrupt goes on
            yield held
        raise
    if held:
        yield held


def _joblib_backend(
    tasks: Iterable[list[RunSpec]],
    jobs: int,
    blas_threads: int | None,
    plugins: Sequence[str] = (),
    **options: Any,
) -> Iterator[list[RunRecord]]:
    """Run tasks in ``jobs`` joblib (loky) worker processes; yield as they finish.

    ``options`` go to :class:`joblib.Parallel` (e.g. ``backend="loky"``). Workers
    leave Ctrl-C to this process and exit within a second of its death
    (:mod:`optbench.run.processes`).
    """
    from joblib import Parallel, delayed

    from optbench.run.processes import interrupts_ignored

    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1, **options)
    parent = os.getpid()
    task_in_worker = delayed(call_with_plugins)
    with interrupts_ignored():  # the workers start here, and inherit it
        outputs = parallel(
            task_in_worker(plugins, _worker_task, parent, task, blas_threads) for task in tasks
        )
    for instance, records, seconds in outputs:
        if isinstance(tasks, TaskPlanner):
            tasks.finished(instance, len(records), seconds)
        yield records


def _worker_task(
    parent_pid: int, specs: Sequence[RunSpec], blas_threads: int | None
) -> tuple[str, list[RunRecord], float | None]:
    """:func:`run_task` in a worker of ``parent_pid``
    (:func:`optbench.run.processes.become_worker`): the task's instance
    (:meth:`ProblemSpec.key`), its records and its seconds (wall time in the worker;
    ``None`` for the worker's first task, see :meth:`TaskPlanner.finished`)."""
    from optbench.run.processes import become_worker

    become_worker(parent_pid)
    start, first = time.perf_counter(), _first_task()
    records = run_task(specs, blas_threads)
    return specs[0].problem.key(), records, None if first else time.perf_counter() - start


def _first_task() -> bool:
    """Whether this process runs its first task (marks that it has begun one)."""
    global _tasks_begun
    with _cache_lock:
        _tasks_begun += 1
        return _tasks_begun == 1


def _dask_backend(
    tasks: Iterable[list[RunSpec]],
    jobs: int,
    blas_threads: int | None,
    plugins: Sequence[str] = (),
    **options: Any,
) -> Iterator[list[RunRecord]]:
    """Run tasks on a Dask cluster; see :func:`optbench.run.dask_backend.dask_backend`."""
    from optbench.run.dask_backend import dask_backend

    return dask_backend(tasks, jobs, blas_threads, plugins=plugins, **options)


#: Execution backends by name: ``(tasks, jobs, blas_threads, plugins, **options)`` → records.
BACKENDS: dict[str, Callable[..., Iterator[list[RunRecord]]]] = {
    "serial": _serial_backend,
    "joblib": _joblib_backend,
    "dask": _dask_backend,
}


def open_backend(
    backend: str | None, options: dict[str, Any] | None = None
) -> AbstractContextManager[dict[str, Any]]:
    """Context that starts a backend's session and yields its options for :func:`execute`.

    For ``dask`` it connects to the scheduler at ``options["address"]`` (raising
    :class:`BackendError` at once when dask is not installed or the scheduler cannot
    be reached) and yields ``{"client": client}``; the client is closed on exit. Other
    backends need no session: their options are yielded as they are. Opening the
    session before writing anything lets a bad address fail before any file exists.
    """
    if backend == "dask":
        from optbench.run.dask_backend import dask_session

        return dask_session(**(options or {}))
    return nullcontext(dict(options or {}))


def execute(
    specs: Sequence[RunSpec],
    on_records: Callable[[list[RunRecord]], None],
    jobs: int = 1,
    backend: str | None = None,
    progress: bool = True,
    blas_threads: int | None = 1,
    backend_options: dict[str, Any] | None = None,
    plugins: Sequence[str] = (),
) -> None:
    """Run ``specs`` and pass the records to ``on_records`` as soon as they are back.

    A failing run is a record with status ``error``; it never stops the others.
    Exceptions raised by ``on_records`` or by the backend itself (a dead worker
    process, :class:`BackendError`) and ``KeyboardInterrupt`` propagate: records
    already handed over are kept by the caller (the serial backend hands over the
    runs it finished before the interrupt goes on), runs in flight are lost.

    Parameters
    ----------
    specs : sequence of RunSpec
        The runs.
    on_records : callable
        Called in this process with a list of :class:`RunRecord` at a time, in
        completion order: the records of one task, or (serial backend) of the runs
        finished in about :data:`FLUSH_SECONDS`. The store writes each list as a batch.
    jobs : int
        Worker processes (joblib semantics: ``-1`` means one per CPU).
    backend : {"serial", "joblib", "dask"} or None
        Where runs execute; ``None`` picks ``serial`` for ``jobs == 1``, else ``joblib``.
        ``dask`` sends tasks to a Dask cluster (options ``address`` or ``client``,
        see :mod:`optbench.run.dask_backend`); the cluster's threads, not ``jobs``,
        decide how many run at once.
    progress : bool
        Show a progress bar (runs done, total, ETA) on stderr; it is shown only when
        stderr is a terminal.
    blas_threads : int or None
        BLAS threads per worker during runs (``None``: leave as is). Pinning to 1
        keeps runs independent of the number of workers and timings comparable.
    backend_options : dict, optional
        Extra keyword arguments of the backend.
    plugins : sequence of str
        Resolved plugins (module names, absolute ``.py`` paths; see
        :func:`~optbench.run.plugins.load_plugins`) that every worker process imports
        before its first task. A plugin that cannot be imported in a worker raises
        :class:`~optbench.run.plugins.PluginError` (on Dask, :class:`BackendError`).
    """
    from tqdm import tqdm

    if not is_integer(jobs) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs: must be a positive integer or -1, got {jobs!r}")
    backend = backend or ("serial" if jobs == 1 else "joblib")
    if backend not in BACKENDS:
        raise ValueError(unknown_name_message("executor backend", backend, list(BACKENDS)))
    if not specs:
        return
    tasks = TaskPlanner(specs, jobs if jobs > 0 else os.cpu_count() or 1)
    options = {"plugins": tuple(plugins), **(backend_options or {})}
    batches = BACKENDS[backend](tasks, jobs, blas_threads, **options)
    errors = 0
    try:
        with tqdm(
            total=len(specs),
            unit="run",
            file=sys.stderr,
            disable=None if progress else True,
            dynamic_ncols=True,
        ) as bar:
            for records in batches:
                on_records(records)
                errors += sum(record.status == "error" for record in records)
                bar.update(len(records))
                if errors:
                    bar.set_postfix(errors=errors, refresh=False)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # a backend stops its work in flight at once, not when collected
            with warnings.catch_warnings():  # joblib warns about the results it drops
                warnings.simplefilter("ignore", UserWarning)
                close()
