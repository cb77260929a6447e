"""Run many :class:`~optbench.run.spec.RunSpec` s: serially, in joblib processes or on Dask.

:func:`execute` runs a list of specs on a backend and hands the records to a callback
as soon as they are back, so the store can write them at once. With more than one job
and no backend named, this process runs tasks itself while ``jobs - 1`` loky workers
start in the background and take tasks once they are up (:func:`_auto_backend`). Work
goes out as tasks (:mod:`optbench.run.tasks`: runs of one problem instance, about half
a second of work, sized by :class:`~optbench.run.tasks.TaskPlanner`), each run in a
worker by :func:`~optbench.run.tasks.run_task`. A backend is a function
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
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future
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
    BackendError,
    TaskPlanner,
    blas_environment,
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
    "WORKER_IDLE_SECONDS",
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

#: Seconds after which a task run in this process hands over the runs it finished.
FLUSH_SECONDS = 1.0
#: Seconds an idle worker of the automatic backend lives (joblib's default): workers
#: that :func:`open_backend` started for an experiment that then never runs exit then.
WORKER_IDLE_SECONDS = 300.0


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
                yield from _run_task_here(tasks, task)
    finally:
        clear_problem_cache()


def _run_task_here(
    tasks: Iterable[list[RunSpec]],
    task: Sequence[RunSpec],
    returned: Callable[[], Iterator[list[RunRecord]]] | None = None,
) -> Generator[list[RunRecord], None, None]:
    """Run one task in this process (:func:`_timed_batches`), telling a
    :class:`TaskPlanner` ``tasks`` its seconds."""
    start, first = time.perf_counter(), first_task()
    yield from _timed_batches(task, returned)
    if isinstance(tasks, TaskPlanner) and task:
        seconds = time.perf_counter() - start
        tasks.finished(task[0].problem.key(), len(task), None if first else seconds)


def _auto_backend(
    tasks: TaskPlanner,
    jobs: int,
    blas_threads: int | None,
    plugins: Sequence[str] = (),
) -> Iterator[list[RunRecord]]:
    """The backend when none is named and ``jobs > 1``: this process and ``jobs - 1``
    loky workers, all taking tasks from the one planner.

    This process runs tasks at once, as the serial backend does, while the workers
    start in the background (:class:`_Workers`); a worker gets its first task only once
    it is up, so an experiment this process finishes before then never waits for them.
    The records of the workers' tasks are handed over between two runs of this
    process, and at the end. After Ctrl-C, the runs finished here and the workers'
    tasks already back are yielded before the interrupt goes on; the workers' tasks in
    flight are lost, and the workers stopped.
    """
    import_plugins(plugins)
    workers = _Workers(tasks, tasks.workers - 1, blas_threads, plugins)
    try:
        with blas_limit(blas_threads):
            while (task := workers.next_task()) is not None:
                yield from _run_task_here(tasks, task, workers.returned)
        yield from workers.returned(wait=True)
    except KeyboardInterrupt:
        yield from workers.returned()  # the workers' finished tasks are kept too
        raise
    finally:
        workers.close()
        clear_problem_cache()


#: What a worker's callback says when the worker is up (it has answered an empty call).
_UP = "up"


def _worker_up() -> int:
    """The empty call a worker answers when it is up: unpickling it imports this module,
    so the worker has imported what a task needs (optbench's runner, numpy) before it
    takes one, and this process goes on with the runs meanwhile."""
    return os.getpid()


def _start_workers(count: int, blas_threads: int | None) -> tuple[Any, list[Future[Any]]]:
    """joblib's reusable loky executor with ``count`` workers, and one empty call per
    worker, done when a worker is up.

    The workers start in the background (or are those already started with the same
    settings: :func:`open_backend` starts them early), with SIGINT ignored and their
    BLAS thread variables at ``blas_threads``
    (:func:`~optbench.run.tasks.blas_environment`). It is the executor
    :class:`joblib.Parallel` uses, which may then reuse the workers.
    """
    from joblib.executor import get_memmapping_executor

    from optbench.run.processes import interrupts_ignored

    variables = None if blas_threads is None else blas_environment(blas_threads)
    with interrupts_ignored():  # the workers start here, and inherit it
        executor = get_memmapping_executor(count, timeout=WORKER_IDLE_SECONDS, env=variables)
        return executor, [executor.submit(_worker_up) for _ in range(count)]


def _processes(jobs: int) -> int:
    """Processes that run tasks at once for ``jobs`` (joblib semantics: -1, one per CPU)."""
    return jobs if jobs > 0 else os.cpu_count() or 1


class _Workers:
    """Loky worker processes that share a :class:`TaskPlanner` with this process.

    They start in the background, each with its BLAS thread variables at
    ``blas_threads`` (:func:`~optbench.run.tasks.environment_pins_blas`). A worker is
    handed a task only once it is up (it has answered an empty call), then one more each
    time it hands one back: a feeder thread here takes the task from the planner and
    submits it, so a worker never waits for this process to end a task of its own.
    Taking a task, here or for a worker, holds one lock, so once :meth:`next_task`
    finds the planner empty the tasks handed to workers are all known.

    Parameters
    ----------
    tasks : TaskPlanner
        The planner this process takes its own tasks from as well.
    count : int
        Worker processes.
    blas_threads : int or None
        BLAS threads in the workers (``None``: as this process's environment says).
    plugins : sequence of str
        Imported by each worker before its first task.
    """

    def __init__(
        self, tasks: TaskPlanner, count: int, blas_threads: int | None, plugins: Sequence[str]
    ) -> None:
        self._planner = tasks
        self._tasks = iter(tasks)
        self._closed = False
        self._call = (plugins, _worker_task, os.getpid())
        self._blas_threads = blas_threads
        self._lock = threading.Lock()
        self._handed = 0  # tasks taken for workers
        self._collected = 0  # of those, handed back here
        self._events: queue.SimpleQueue[Future[Any] | str | None] = queue.SimpleQueue()
        self._returned: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self._executor, calls = _start_workers(count, blas_threads)
        self._feeder = threading.Thread(target=self._feed, name="optbench-feeder", daemon=True)
        self._feeder.start()
        for call in calls:
            call.add_done_callback(lambda _: self._events.put(_UP))

    def next_task(self) -> list[RunSpec] | None:
        """The next task for this process, or ``None`` when the planner has no more."""
        with self._lock:
            return next(self._tasks, None)

    def returned(self, wait: bool = False) -> Iterator[list[RunRecord]]:
        """The records of the tasks workers have handed back (teaching the planner their
        seconds); with ``wait``, of all the tasks handed to them (once this process
        has found the planner empty). A worker's failure is raised here."""
        while True:
            with self._lock:
                if self._collected == self._handed:
                    return
            try:
                future = self._returned.get(block=wait)
            except queue.Empty:
                return
            self._collected += 1
            instance, records, seconds = future.result()
            self._planner.finished(instance, len(records), seconds)
            yield records

    def close(self) -> None:
        """Stop feeding the workers and stop them at once (tasks in flight, after an
        interrupt or an error here, are lost): idle, they would only make this
        process's exit wait for theirs (0.1 s), and the next experiment starts its own
        while it prepares (:func:`open_backend`)."""
        with self._lock:
            self._closed = True
        self._events.put(None)
        self._feeder.join()
        self._executor.shutdown(wait=False, kill_workers=True)

    def _feed(self) -> None:
        """Hand a task to each worker that is up or has handed one back (feeder thread)."""
        while (event := self._events.get()) is not None:
            if not isinstance(event, str):
                self._returned.put(event)
            with self._lock:
                task = None if self._closed else next(self._tasks, None)
                if task is None:
                    continue
                self._handed += 1
            try:
                future = self._executor.submit(
                    call_with_plugins, *self._call, task, self._blas_threads
                )
            except Exception as exc:  # noqa: BLE001 - raised where the records are collected
                future = Future()
                future.set_exception(exc)
            future.add_done_callback(self._events.put)


def _timed_batches(
    task: Sequence[RunSpec], returned: Callable[[], Iterator[list[RunRecord]]] | None = None
) -> Iterator[list[RunRecord]]:
    """Run ``task`` here, yielding its records every :data:`FLUSH_SECONDS` and at its end,
    and between two runs the records ``returned()`` has (those of workers' tasks)."""
    held: list[RunRecord] = []
    since = time.monotonic()
    try:
        for spec in task:
            held.append(execute_spec(spec))
            if returned is not None:
                yield from returned()
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
    backend: str | None,
    options: dict[str, Any] | None = None,
    jobs: int = 1,
    blas_threads: int | None = 1,
) -> AbstractContextManager[dict[str, Any]]:
    """Context that starts a backend's session and yields its options for :func:`execute`.

    For ``dask`` it connects to the scheduler at ``options["address"]`` (raising
    :class:`BackendError` at once when dask is not installed or the scheduler cannot
    be reached) and yields ``{"client": client}``; the client is closed on exit. With
    no backend named and ``jobs > 1``, it starts the workers that :func:`execute` will
    use (with the same ``jobs`` and ``blas_threads``) in the background, so that they
    start while the caller prepares the experiment. Other backends need no session:
    their options are yielded as they are. Opening the session before writing anything
    lets a bad address fail before any file exists.
    """
    if backend == "dask":
        from optbench.run.dask_backend import dask_session

        return dask_session(**(options or {}))
    processes = _processes(jobs)
    if backend is None and processes > 1:
        _start_workers(processes - 1, blas_threads)
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
        Tasks run at once (joblib semantics: ``-1`` means one per CPU).
    backend : {"serial", "joblib", "dask"} or None
        Where runs execute. ``None`` picks ``serial`` for ``jobs == 1``; else this
        process runs tasks itself while ``jobs - 1`` loky workers start in the
        background, each taking tasks once it is up, so a short experiment never waits
        for them (:func:`_auto_backend`). ``joblib`` starts ``jobs`` workers and waits
        for them. ``dask`` sends tasks to a Dask cluster (options ``address`` or
        ``client``, see :mod:`optbench.run.dask_backend`); the cluster's threads, not
        ``jobs``, decide how many run at once.
    progress : bool
        Show a progress bar (runs done, total, ETA) on stderr; it is shown only when
        stderr is a terminal.
    blas_threads : int or None
        BLAS threads per worker during runs (``None``: leave as is). Pinning to 1
        keeps runs independent of the number of workers and timings comparable.
    backend_options : dict, optional
        Extra keyword arguments of the backend (only with a ``backend`` named).
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
    if backend is None and backend_options:
        raise ValueError(
            f"backend_options: name the backend they are for ({', '.join(BACKENDS)}), "
            f"got options {sorted(backend_options)} and no backend"
        )
    if not specs:
        return
    tasks = TaskPlanner(specs, _processes(jobs))
    options = {"plugins": tuple(plugins), **(backend_options or {})}
    if backend is None:
        run = _serial_backend if tasks.workers == 1 else _auto_backend
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
