"""Process liveness, and worker processes that leave Ctrl-C to their parent and end with it.

A joblib (loky) worker outlives a parent killed by SIGKILL or the OOM killer: it is
re-parented to init and keeps computing runs that nobody will collect, and loky's
resource trackers stay alive as long as a worker holds their pipe. :func:`watch_parent`
starts (once per process) a daemon thread that checks every :data:`POLL_INTERVAL`
seconds whether the parent is still alive and ends the worker with :func:`os._exit`
as soon as it is not: no ``finally`` block, atexit handler or pending result runs
after that, so a worker never writes or sends anything once its parent is gone. When
the last worker has exited, the trackers see their pipe close and exit too.

:func:`pid_alive` and :func:`process_start_time` also tell a results-directory lock
held by a live process from a stale one (:mod:`optbench.run.lock`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "EXIT_CODE",
    "POLL_INTERVAL",
    "become_worker",
    "interrupts_ignored",
    "pid_alive",
    "process_start_time",
    "watch_parent",
]

#: Seconds between two checks of the parent.
POLL_INTERVAL = 0.5
#: Exit status of a worker whose parent died.
EXIT_CODE = 70

_lock = threading.Lock()
_watched: int | None = None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (macOS): trust kill
        return True
    return state not in ("Z", "X")


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``None`` without ``/proc``).

    Together with the pid it names a process uniquely: a recycled pid has a later
    start time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process while it starts worker processes.

    An ignored signal stays ignored across ``exec``, and Python then installs no
    ``KeyboardInterrupt`` handler: workers started inside this context ignore Ctrl-C
    from their first instruction. Keep the context short (joblib starts its workers in
    a few milliseconds): a Ctrl-C inside it is lost. Outside the main thread (where
    signal handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def become_worker(parent_pid: int) -> None:
    """Make this process a worker of ``parent_pid`` (idempotent; call it in each task).

    Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the worker
    ignores it (the parent catches it and stops its workers; a worker interrupted in
    the middle of a task would print a traceback), and it exits when the parent dies
    (:func:`watch_parent`). Workers started in :func:`interrupts_ignored` ignore SIGINT
    from the start; this covers the ones a pool starts later to replace others.
    """
    if parent_pid == os.getpid():
        return
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent_pid)


def watch_parent(parent_pid: int, interval: float = POLL_INTERVAL) -> None:
    """End this process (status :data:`EXIT_CODE`) within ``interval`` s of ``parent_pid``'s death.

    Idempotent: the first call in a process starts the watchdog thread, later calls
    (every task calls it) return at once. Called in ``parent_pid`` itself (the serial
    backend) it does nothing.

    Parameters
    ----------
    parent_pid : int
        The pid of the process that collects this worker's results.
    interval : float
        Seconds between two checks.
    """
    global _watched
    if parent_pid == os.getpid():
        return
    with _lock:
        if _watched == parent_pid:
            return
        _watched = parent_pid
    # a direct child is re-parented when its parent dies: a changed getppid() is proof
    # of death that a recycled pid cannot fool; a grandchild asks whether the pid exists
    direct_child = os.getppid() == parent_pid

    def alive() -> bool:
        return os.getppid() == parent_pid if direct_child else pid_alive(parent_pid)

    threading.Thread(
        target=_watch, args=(alive, interval), name="optbench-parent-watchdog", daemon=True
    ).start()


def _watch(alive: Callable[[], bool], interval: float) -> None:
    while alive():
        time.sleep(interval)
    os._exit(EXIT_CODE)
