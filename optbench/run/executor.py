"""Run many :class:`~optbench.run.spec.RunSpec` s: serially, in joblib processes or on Dask.

:func:`execute` runs a list of specs on a backend and hands the records to a callback
as soon as they are back, so the store can write them at once. With more than one job
and no backend named, it first runs tasks in this process for :data:`PROBE_SECONDS`
and starts the joblib workers only when the work left is worth their start
(:data:`WORKER_START_SECONDS`); see :func:`execute`. Work goes out as tasks
(:mod:`optbench.run.tasks`: runs of one problem instance, about half a second of work,
sized by :class:`~optbench.run.tasks.TaskPlanner`), each run in a worker by
:func:`~optbench.run.tasks.run_task`. A backend is a function
``(tasks, jobs, blas_threads, **options) -> iterator of list[RunRecord]`` (``tasks`` an
iterable of lists of specs, a :class:`~optbench.run.tasks.TaskPlanner` from
:func:`execute`) registered in :data:`BACKENDS`; the Dask backend
(:mod:`optbench.run.dask_backend`) is imported only when used. The row format of
records is :mod:`optbench.run.records`.

Every backend gets the resolved plugins of the experiment (``plugins=``,
:mod:`optbench.run.plugins`) and has each worker process import them before its first
task (:func:`~optbench.run.plugins.call_with_plugins`), so solvers and problems that
users register run in workers as they do in this process.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from optbench.registry import unknown_name_message
from optbench.run.plugins import call_with_plugins, import_plugins
from optbench.run.records import (
    STORED_TRACE_COLUMNS,
    SUMMARY_KEY_COLUMNS,
    SUMMARY_RESULT_COLUMNS,
    TARGET_METRICS,
    RunRecord,
    error_record,
    parameter_columns,
    summary_row,
    target_column,
)
from optbench.run.spec import RunSpec
from optbench.run.tasks import (
    TASK_SECONDS,
    BackendError,
    TaskPlanner,
    blas_limit,
    cached_problem,
    clear_problem_cache,
    execute_run,
    execute_spec,
    first_task,
    plan_tasks,
    run_task,
)
from optbench.scalars import is_integer

__all__ = [
    "BACKENDS",
    "FLUSH_SECONDS",
    "PROBE_MIN_RUNS",
    "PROBE_SECONDS",
    "WORKER_START_SECONDS",
    "execute",
    "open_backend",
    # defined in optbench.run.tasks (re-exported: the executor's public names before it)
    "BackendError",
    "TaskPlanner",
    "blas_limit",
    "cached_problem",
    "clear_problem_cache",
    "execute_run",
    "execute_spec",
    "plan_tasks",
    "run_task",
    # the row format, defined in optbench.run.records (re-exported for older imports)
    "RunRecord",
    "STORED_TRACE_COLUMNS",
    "SUMMARY_KEY_COLUMNS",
    "SUMMARY_RESULT_COLUMNS",
    "TARGET_METRICS",
    "error_record",
    "parameter_columns",
    "summary_row",
    "target_column",
]

#: Seconds after which the serial backend hands over the runs it finished in a task.
FLUSH_SECONDS = 1.0
#: Seconds of runs the automatic backend (no backend named, ``jobs > 1``) does in this
#: process before it decides whether the joblib workers are worth starting.
PROBE_SECONDS = 0.25
#: Seconds the joblib (loky) workers cost to start (fresh interpreters importing numpy,
#: scipy and optbench). Measured on the 2-core VM of 2026-12-04 as the wall time of
#: ``execute`` of two tiny runs with ``backend="joblib", jobs=2`` less with ``jobs=1``,
#: each in a fresh process: 0.65–0.80 s with the second core free, 1.5–1.9 s with
#: another process busy on it. One second is between the two.
WORKER_START_SECONDS = 1.0
#: The automatic backend probes only experiments of more runs than this; it starts the
#: workers at once for fewer. A probe may hold back one run's time (a first run is a
#: task of its own): 1/8 of the parallel time of 16 runs on two workers, at most
#: jobs/64 of it above this bound; starting the workers for few tiny runs wastes at most
#: their start (:data:`WORKER_START_SECONDS`).
PROBE_MIN_RUNS = 64


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
            yield from _run_here(tasks)
    finally:
        clear_problem_cache()


class _Probe:
    """What the runs done in this process by the automatic backend cost so far.

    A process's first task (imports, the first instance built) is counted in the
    probe's time but not in the seconds per run when later tasks measured them.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.runs = 0
        self.timed_seconds = 0.0
        self.timed_runs = 0

    def add(self, runs: int, seconds: float, first: bool) -> None:
        self.seconds += seconds
        self.runs += runs
        if not first:
            self.timed_seconds += seconds
            self.timed_runs += runs

    @property
    def done(self) -> bool:
        return self.seconds >= PROBE_SECONDS

    def seconds_per_run(self) -> float:
        if self.timed_runs:
            return self.timed_seconds / self.timed_runs
        return self.seconds / max(1, self.runs)

    def worth_workers(self, runs_left: int, workers: int) -> bool:
        """Whether ``workers`` processes finish ``runs_left`` runs sooner than this one,
        their start included: ``W / workers + start < W``, i.e.
        ``W > start * workers / (workers - 1)``, with ``W`` the work left."""
        work_left = self.seconds_per_run() * runs_left
        return work_left > WORKER_START_SECONDS * workers / (workers - 1)


def _run_here(
    tasks: Iterable[list[RunSpec]], probe: _Probe | None = None
) -> Generator[list[RunRecord], None, None]:
    """Run tasks in this process (BLAS limited and plugins imported by the caller),
    feeding a :class:`TaskPlanner` the seconds of each; with a ``probe``, stop once it
    is :attr:`~_Probe.done`, the tasks left unrun in ``tasks``."""
    planner = tasks if isinstance(tasks, TaskPlanner) else None
    if probe is not None and planner is not None:
        planner.task_seconds = min(TASK_SECONDS, PROBE_SECONDS)
    try:
        for task in tasks:
            start, first = time.perf_counter(), first_task()
            yield from _timed_batches(task)
            seconds = time.perf_counter() - start
            if planner is not None and task:
                planner.finished(task[0].problem.key(), len(task), None if first else seconds)
            if probe is not None:
                probe.add(len(task), seconds, first)
                if probe.done:
                    return  # a for loop left by return does not close the planner
                if planner is not None:  # the next task ends about when the probe does
                    planner.task_seconds = min(TASK_SECONDS, PROBE_SECONDS - probe.seconds)
    finally:
        if planner is not None:
            planner.task_seconds = TASK_SECONDS


def _auto_backend(
    tasks: TaskPlanner,
    jobs: int,
    blas_threads: int | None,
    plugins: Sequence[str] = (),
    **options: Any,
) -> Iterator[list[RunRecord]]:
    """The backend when none is named and ``jobs > 1``: serial first, joblib if worth it.

    With at most :data:`PROBE_MIN_RUNS` runs it is the joblib backend. Otherwise this
    process runs tasks itself, as the serial backend does, for about
    :data:`PROBE_SECONDS`; then, with the seconds per run measured and the runs left
    (:attr:`TaskPlanner.runs_left`), it starts ``tasks.workers`` joblib workers only
    when the work left is more than :data:`WORKER_START_SECONDS` × workers /
    (workers − 1) (:meth:`_Probe.worth_workers`), else it finishes the runs itself.
    The workers take the tasks left from the same planner (nothing run twice), and
    this process's problem cache is cleared before they start. After Ctrl-C in the
    probe, the runs finished here are yielded before the interrupt goes on.
    """
    if tasks.runs_left <= PROBE_MIN_RUNS:
        yield from _joblib_backend(tasks, jobs, blas_threads, plugins, **options)
        return
    import_plugins(plugins)
    workers, tasks.workers = tasks.workers, 1  # one process runs the probe's tasks
    try:
        if workers > 1:
            probe = _Probe()
            with blas_limit(blas_threads):
                yield from _run_here(tasks, probe)
            if tasks.runs_left and probe.worth_workers(tasks.runs_left, workers):
                tasks.workers = workers  # the last tasks shared out between them
                clear_problem_cache()  # the workers build their own instances
                yield from _joblib_backend(tasks, jobs, blas_threads, plugins, **options)
                return
        with blas_limit(blas_threads):  # finished here
            yield from _run_here(tasks)
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
    (:mod:`optbench.run.processes`). Without a ``backend`` option the loky workers
    start with their BLAS thread variables set to ``blas_threads`` (joblib's
    ``inner_max_num_threads``), so every BLAS they load is limited from the start and
    :func:`~optbench.run.tasks.blas_limit` need not import scipy's in each of them
    (:func:`~optbench.run.tasks.environment_pins_blas`).
    """
    from joblib import Parallel, delayed, parallel_config

    from optbench.run.processes import interrupts_ignored

    pinned = blas_threads is not None and "backend" not in options
    config = (
        parallel_config(backend="loky", inner_max_num_threads=blas_threads)
        if pinned
        else nullcontext()
    )
    parent = os.getpid()
    task_in_worker = delayed(call_with_plugins)
    with config, interrupts_ignored():  # the workers start here, and inherit both
        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1, **options)
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
    start, first = time.perf_counter(), first_task()
    records = run_task(specs, blas_threads)
    return specs[0].problem.key(), records, None if first else time.perf_counter() - start


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
        Where runs execute. ``None`` picks ``serial`` for ``jobs == 1``; else, with
        more than :data:`PROBE_MIN_RUNS` runs (``joblib`` with fewer), this
        process runs tasks itself for about :data:`PROBE_SECONDS`, then starts
        ``jobs`` joblib workers for the runs left only when their estimated work
        (seconds per run so far × runs left) exceeds :data:`WORKER_START_SECONDS` ×
        jobs / (jobs − 1), what the workers' start costs against the time they save;
        otherwise it finishes them itself. ``joblib`` starts the workers at once.
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
    if backend is not None and backend not in BACKENDS:
        raise ValueError(unknown_name_message("executor backend", backend, list(BACKENDS)))
    if not specs:
        return
    tasks = TaskPlanner(specs, jobs if jobs > 0 else os.cpu_count() or 1)
    options = {"plugins": tuple(plugins), **(backend_options or {})}
    if backend is None:
        run = _serial_backend if jobs == 1 else _auto_backend
    else:
        run = BACKENDS[backend]
    batches = run(tasks, jobs, blas_threads, **options)
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
