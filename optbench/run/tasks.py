"""Tasks: runs of one problem instance, planned, then run in a worker process.

:func:`execute_run` turns one spec and its built problem into a
:class:`~optbench.run.records.RunRecord` (never raising: any exception becomes a record
with status ``error``). A task is a chunk of runs of one instance: :class:`TaskPlanner`
cuts the runs into tasks of about :data:`TASK_SECONDS` of work, learning how long a run
of each instance takes as tasks end; :func:`plan_tasks` cuts by count (the Dask
backend's plan). :func:`run_task` runs a task in the calling process, a worker: BLAS
pinned (:func:`blas_limit`) and each instance built once per process
(:func:`cached_problem` keeps the last :data:`PROBLEM_CACHE_SIZE`).
:class:`BackendError` is what a backend raises when it cannot run tasks.

The backends that send tasks to workers are :mod:`optbench.run.executor` (serial,
joblib) and :mod:`optbench.run.dask_backend`; both import this module, and this module
imports neither.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from optbench.problems.base import Problem
from optbench.run.records import RunRecord, combine_repeats, error_record, summary_row
from optbench.run.runner import run_solver
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.solvers import make_solver

__all__ = [
    "FIRST_TASK_RUNS",
    "MAX_TASK_RUNS",
    "PLANNED_TASK_RUNS",
    "PROBLEM_CACHE_SIZE",
    "TASK_SECONDS",
    "BLAS_THREAD_VARIABLES",
    "BackendError",
    "TaskPlanner",
    "blas_environment",
    "blas_limit",
    "cached_problem",
    "clear_problem_cache",
    "environment_pins_blas",
    "execute_run",
    "execute_spec",
    "first_task",
    "plan_tasks",
    "run_task",
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
        **columns,  # fresh lists, in TRACE_COLUMNS order
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


#: The variables BLAS libraries read their thread count from when they load.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def blas_environment(blas_threads: int) -> dict[str, str]:
    """Each of :data:`BLAS_THREAD_VARIABLES` set to ``blas_threads``: the environment
    of a worker process whose every BLAS starts with that many threads."""
    return dict.fromkeys(BLAS_THREAD_VARIABLES, str(blas_threads))


def environment_pins_blas(blas_threads: int) -> bool:
    """Whether every BLAS loaded from now on starts with ``blas_threads`` threads: this
    process's environment holds :func:`blas_environment` (the workers of
    :func:`~optbench.run.executor.execute` start with it)."""
    pinned = blas_environment(blas_threads).items()
    return all(os.environ.get(name) == value for name, value in pinned)


@contextmanager
def _shared_blas_limit(blas_threads: int) -> Iterator[None]:
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            # threadpoolctl limits only the libraries already loaded: load scipy's BLAS
            # (numpy's is loaded) so that a run's first scipy.linalg call is limited too,
            # unless the environment already gives any BLAS loaded later that limit (it
            # costs a worker 0.12 s to import scipy.linalg before its first task)
            if not environment_pins_blas(blas_threads):
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
    loses little. Before any task of an instance has ended, tasks are
    :data:`FIRST_TASK_RUNS` runs (growing them blind put a few long runs into one
    task, and the workers ended apart); near the end, no task takes more than a
    share of the runs left (:data:`TASKS_PER_WORKER_AT_THE_END` per worker), so the
    workers finish together. Iterating it yields the tasks, each run once: a planner is
    one iterator, so a second loop over it goes on where the first stopped (the
    automatic backend of :func:`~optbench.run.executor.execute` takes tasks from one
    planner for its own process and for its workers, under a lock). A backend that runs
    tasks in other processes reports each task's seconds from there.

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
        self._left = len(self.specs)
        self._tasks = self._plan()

    @property
    def runs_left(self) -> int:
        """Runs not handed out in a task yet."""
        return self._left

    def finished(self, instance: str, runs: int, seconds: float | None) -> None:
        """Learn from a task of ``runs`` runs of ``instance`` (its :meth:`ProblemSpec.key`)
        that took ``seconds`` (wall time, in its worker; ``None``: it teaches nothing, as
        the first task of a process, which pays for imports and building the instance)."""
        if runs and seconds is not None:
            self._seconds_per_run[instance] = seconds / runs

    def __iter__(self) -> Iterator[list[RunSpec]]:
        return self._tasks

    def _plan(self) -> Iterator[list[RunSpec]]:
        groups: dict[str, list[RunSpec]] = {}
        for spec in self.specs:
            groups.setdefault(spec.problem.key(), []).append(spec)
        for key, group in groups.items():
            start = 0
            while start < len(group):
                per_run = self._seconds_per_run.get(key)
                if per_run is None:  # nothing learnt yet: small tasks
                    size = FIRST_TASK_RUNS
                else:
                    size = int(TASK_SECONDS / per_run) if per_run > 0 else MAX_TASK_RUNS
                if self.workers > 1:  # the last tasks shared out, so workers end together
                    share = TASKS_PER_WORKER_AT_THE_END * self.workers
                    size = min(size, math.ceil(self._left / share))
                size = max(1, min(size, MAX_TASK_RUNS))
                task = group[start : start + size]
                start += len(task)
                self._left -= len(task)
                yield task


def first_task() -> bool:
    """Whether this process runs its first task (marks that it has begun one)."""
    global _tasks_begun
    with _cache_lock:
        _tasks_begun += 1
        return _tasks_begun == 1
