"""Run tasks on an existing Dask distributed cluster (the ``dask`` executor backend).

``executor: {backend: dask, address: tcp://HOST:PORT}`` in a config, or
``optbench run CONFIG --dask ADDRESS``, sends the runs to the scheduler at that
address. Each task (runs of one problem instance, :func:`~optbench.run.tasks.plan_tasks`)
is :func:`~optbench.run.tasks.run_task` executed in a worker process, so the
worker's per-process problem cache builds an instance once and reuses it for every
later task of that instance, and BLAS is pinned per task as in the other backends.
Records stream back as tasks finish (:func:`distributed.as_completed`) and the caller
writes each at once, so a lost connection or a dead worker loses only runs in flight.

When the runs end (or stop), each worker drops the instances it cached, so a
long-lived shared cluster does not keep their memory.

A task lost with its worker (:class:`distributed.KilledWorker`, a closed comm, or a
future cancelled by the cluster) is resubmitted :data:`RESUBMISSIONS` time(s), then its
runs are recorded as ``error`` with the reason. The scheduler itself already reruns a
task whose worker died up to ``distributed.scheduler.allowed-failures`` times (default
3) before it reports :class:`~distributed.KilledWorker`. A failing *run* never reaches
this module as an exception: :func:`~optbench.run.tasks.execute_run` records it.

Workers need optbench and its dependencies importable, at the same version as the
client, and the experiment's plugins: each task imports them in its worker process first
(once per process, :func:`~optbench.run.plugins.call_with_plugins`); a plugin file must
exist at the same absolute path on every worker's machine. Dask is imported only when
this backend is used; without it the backend fails with one line naming the optional
extra.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import CancelledError  # what a cancelled Dask future raises
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import TYPE_CHECKING, Any

from optbench.run.plugins import call_with_plugins
from optbench.run.records import RunRecord, error_record
from optbench.run.spec import RunSpec
from optbench.run.tasks import BackendError, clear_problem_cache, plan_tasks, run_task

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = [
    "CONNECT_TIMEOUT",
    "MISSING_EXTRA_MESSAGE",
    "RESUBMISSIONS",
    "check_address",
    "cluster_description",
    "connect",
    "dask_backend",
    "dask_session",
]

#: Seconds to wait for the scheduler to answer, and then for a first worker.
CONNECT_TIMEOUT = 10.0
#: Times a task lost with its worker is submitted again before its runs become errors.
RESUBMISSIONS = 1
#: The one line shown when the optional extra is not installed.
MISSING_EXTRA_MESSAGE = (
    'executor.backend: dask needs the optional extra: pip install "optbench[dask]"'
)
#: Reason of the futures cancelled when the client loses its scheduler.
_CONNECTION_LOST = "scheduler-connection-lost"

logger = logging.getLogger(__name__)


def import_distributed() -> ModuleType:
    """The ``distributed`` package, or :class:`BackendError` naming the optional extra."""
    try:
        import distributed
    except ImportError:
        raise BackendError(MISSING_EXTRA_MESSAGE) from None
    return distributed


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def check_address(address: str) -> str:
    """Validate a scheduler address such as ``tcp://127.0.0.1:8786`` (scheme optional).

    Raises
    ------
    BackendError
        The address has an unknown scheme, no host or no valid port.
    """
    import_distributed()
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(str(address))
        get_backend(scheme)
        host, _ = parse_host_port(location) if scheme != "inproc" else ("inproc", 0)
        if not host:
            raise ValueError("missing host")
    except ValueError as exc:
        raise BackendError(
            f"executor.address: not a Dask scheduler address ({_one_line(exc)}), got "
            f"{address!r}; expected tcp://HOST:PORT"
        ) from None
    return str(address)


def connect(address: str, timeout: float | None = None) -> Client:
    """A :class:`distributed.Client` of the scheduler at ``address`` with a worker.

    Parameters
    ----------
    address : str
        The scheduler's address, e.g. ``tcp://127.0.0.1:8786``.
    timeout : float, optional
        Seconds to wait for the scheduler, then again for at least one worker
        (default :data:`CONNECT_TIMEOUT`).

    Raises
    ------
    BackendError
        Dask is not installed, the address is invalid, the scheduler does not answer
        in time, or it has no worker in time (one line each).
    """
    distributed = import_distributed()
    address = check_address(address)
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise BackendError(
            f"executor.address: cannot connect to the Dask scheduler at {address} "
            f"within {timeout:g} s: {_one_line(exc)}"
        ) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, ValueError):
        client.close()
        raise BackendError(
            f"executor.address: the Dask scheduler at {address} has no worker after "
            f"{timeout:g} s; start some with: dask worker {address}"
        ) from None
    return client


@contextmanager
def dask_session(
    address: str | None = None,
    client: Client | None = None,
    connect_timeout: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Context yielding ``{"client": client}`` for :func:`dask_backend`.

    A given ``client`` is used as it is (and left open); otherwise one is connected to
    ``address`` (:func:`connect`) and closed on exit.

    Raises
    ------
    BackendError
        As :func:`connect`, or neither an address nor a client is given.
    """
    if client is not None:
        yield {"client": client}
        return
    if address is None:
        import_distributed()
        raise BackendError(
            "executor.address: the dask backend needs the scheduler's address: "
            "executor: {backend: dask, address: tcp://HOST:PORT} or --dask ADDRESS"
        )
    client = connect(address, connect_timeout)
    try:
        yield {"client": client}
    finally:
        client.close()


def cluster_description(client: Client) -> dict[str, Any]:
    """Where the runs execute: scheduler address and threads per worker (for the record)."""
    threads = dict(sorted(client.nthreads().items()))
    return {
        "backend": "dask",
        "scheduler": _scheduler_address(client),
        "workers": len(threads),
        "threads": sum(threads.values()),
        "threads_per_worker": threads,
    }


def dask_backend(
    tasks: Iterable[list[RunSpec]],
    jobs: int,
    blas_threads: int | None,
    address: str | None = None,
    client: Client | None = None,
    connect_timeout: float | None = None,
    plugins: Sequence[str] = (),
) -> Iterator[list[RunRecord]]:
    """Run ``tasks`` on a Dask cluster and yield each task's records as it finishes.

    The runs are planned again for the cluster's total number of worker threads
    (``jobs`` is not used: the cluster decides how many tasks run at once).

    Parameters
    ----------
    tasks : iterable of list of RunSpec
        The tasks (runs of one problem instance each), planned again here.
    jobs : int
        Ignored (the signature of every backend).
    blas_threads : int or None
        BLAS threads during each task (:func:`~optbench.run.tasks.blas_limit`).
    address : str, optional
        The scheduler, e.g. ``tcp://127.0.0.1:8786``; used when ``client`` is None.
    client : distributed.Client, optional
        A connected client (left open); see :func:`~optbench.run.executor.open_backend`.
    connect_timeout : float, optional
        Seconds to wait for the scheduler and for a worker (default
        :data:`CONNECT_TIMEOUT`).
    plugins : sequence of str
        Resolved plugins, imported by each worker process before its first task.

    Yields
    ------
    list of RunRecord
        The records of one task, in completion order of tasks.

    Raises
    ------
    BackendError
        Dask is missing, the scheduler cannot be reached or the connection is lost
        (runs in flight are lost, the rest were yielded), or a task failed on a worker
        outside any run (for instance optbench or a plugin cannot be imported there).
    """
    with dask_session(address, client, connect_timeout) as session:
        yield from _stream(session["client"], tasks, blas_threads, tuple(plugins))


def _stream(
    client: Client,
    tasks: Iterable[list[RunSpec]],
    blas_threads: int | None,
    plugins: tuple[str, ...],
) -> Iterator[list[RunRecord]]:
    distributed = import_distributed()
    threads = sum(client.nthreads().values()) or 1
    planned = plan_tasks([spec for task in tasks for spec in task], threads)
    submitted: dict[Future, tuple[list[RunSpec], int]] = {}

    def submit(task: list[RunSpec], attempt: int) -> Future:
        key = f"optbench-run-{uuid.uuid4().hex}"
        future = client.submit(call_with_plugins, plugins, run_task, task, blas_threads, key=key)
        submitted[future] = (task, attempt)
        return future

    finished = distributed.as_completed([submit(task, 0) for task in planned], loop=client.loop)
    try:
        for future in finished:
            task, attempt = submitted.pop(future)
            try:
                records = future.result()
            except Exception as exc:  # noqa: BLE001 - classified below
                reason = _lost_reason(client, exc)
                if attempt < RESUBMISSIONS:
                    logger.warning(
                        "optbench: %d run(s) of %s lost with a Dask worker (%s); resubmitting",
                        len(task),
                        task[0].problem.label,
                        reason,
                    )
                    finished.add(submit(task, attempt + 1))
                    continue
                message = f"lost with its Dask worker on {attempt + 1} submissions: {reason}"
                records = [error_record(spec, message) for spec in task]
            yield records
    finally:
        if client.status == "running":
            # best effort: stop the work in flight and free the workers' memory of the
            # instances they cached; never hide an exception under way
            with suppress(Exception):
                if submitted:
                    client.cancel(list(submitted))
                client.run(clear_problem_cache, on_error="ignore")


def _scheduler_address(client: Client) -> str:
    """The address of ``client``'s scheduler, ``"?"`` once the client has closed (as it
    does after failing to reconnect), which drops its handle on the scheduler."""
    address = None if client.scheduler is None else client.scheduler.address
    return "?" if address is None else address


def _lost_reason(client: Client, exc: Exception) -> str:
    """Why a task was lost with its worker, or :class:`BackendError` when it was not.

    Raises
    ------
    BackendError
        The client lost its scheduler (resubmitting cannot help), or the task raised
        outside any run (it would fail again).
    """
    from distributed import KilledWorker
    from distributed.comm import CommClosedError

    cancel_reason = getattr(exc, "reason", None)
    if cancel_reason == _CONNECTION_LOST or client.status not in ("running", "connecting"):
        raise BackendError(
            f"lost the connection to the Dask scheduler at {_scheduler_address(client)}: "
            "the runs in flight were not recorded; run again with --resume to finish"
        ) from exc
    if isinstance(exc, KilledWorker):
        worker = getattr(exc.last_worker, "address", exc.last_worker)
        return f"KilledWorker: the worker {worker} died while running it"
    if isinstance(exc, (CommClosedError, CancelledError)):
        return f"{type(exc).__name__}: {_one_line(exc)}"
    raise BackendError(
        f"a task failed on the Dask cluster outside any run: {type(exc).__name__}: "
        f"{_one_line(exc)} (are the same optbench and plugins importable on every worker?)"
    ) from exc
