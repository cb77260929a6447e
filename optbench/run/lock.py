"""One writer per results directory: the lock file ``<dir>/.optbench.lock``.

``optbench run`` holds the lock from before it writes anything until it has merged the
tables, so two ``--force`` runs cannot delete each other's files and two ``--resume``
runs cannot both do the missing work: the second one stops at once with
:class:`ResultsLocked` (one line naming the holder). ``report``, ``plot`` and
``compare`` take it only while they rebuild damaged merged tables.

The lock file names its holder (pid, host, the process's start time and the command),
and is created with a hard link from a complete temporary file, an atomic
create-if-absent that also works on network file systems. A lock whose holder is dead
is *stale* and is taken over: its host is this machine and its pid is not alive, or
the pid was recycled (its start time differs), or the file is unreadable. A lock held
from another machine is never taken over, since its holder cannot be checked from
here; the message says which file to delete if that run is known to be gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from optbench.run.processes import pid_alive, process_start_time

__all__ = ["LOCK_FILE", "ResultsLock", "ResultsLocked"]

#: Name of the lock file inside a results directory.
LOCK_FILE = ".optbench.lock"
#: Attempts to create the lock when racing other processes for a stale one.
_ATTEMPTS = 5


class ResultsLocked(RuntimeError):
    """Another live process holds the results directory's lock (one-line message)."""


class ResultsLock:
    """The lock of one results directory; a context manager (see the module docstring).

    Parameters
    ----------
    directory : path-like
        The results directory (created if missing).
    command : str
        What the holder does, shown to a process that finds the lock taken.
    """

    def __init__(self, directory: Path | str, command: str = "optbench run") -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.command = command
        self._owner: dict[str, Any] | None = None
        self._created_directory = False

    def __enter__(self) -> ResultsLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def holder(self) -> dict[str, Any] | None:
        """The lock file's contents, or ``None`` when nobody holds the lock."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable (damaged): stale

    def in_use(self) -> str:
        """The one-line message naming the lock's live holder, or ``""`` when the lock
        is free or stale."""
        holder = self.holder()
        return "" if holder is None or _is_stale(holder) else self._locked_message(holder)

    def acquire(self) -> None:
        """Take the lock, taking over a stale one.

        Raises
        ------
        ResultsLocked
            A live process (or one on another machine) holds it.
        """
        self._created_directory = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": process_start_time(os.getpid()),
            "command": self.command,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        for _ in range(_ATTEMPTS):
            if self._create(owner):
                self._owner = owner
                return
            holder = self.holder()
            if holder is None:  # released meanwhile
                continue
            if not _is_stale(holder):
                raise ResultsLocked(self._locked_message(holder))
            self._remove_stale(holder)
        raise ResultsLocked(self._locked_message(self.holder() or {}))

    def release(self) -> None:
        """Remove the lock file if this object holds it, and the directory if
        :meth:`acquire` created it and nothing was written into it."""
        if self._owner is not None and self.holder() == self._owner:
            self.path.unlink(missing_ok=True)
        self._owner = None
        if self._created_directory:
            with suppress(OSError):  # not empty: results were written
                self.directory.rmdir()

    def _create(self, owner: dict[str, Any]) -> bool:
        temporary = self.directory / f"{LOCK_FILE}.{owner['pid']}.tmp"
        temporary.write_text(json.dumps(owner) + "\n", encoding="utf-8")
        try:
            os.link(temporary, self.path)  # fails if the lock exists: atomic, NFS-safe
        except FileExistsError:
            return False
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def _remove_stale(self, stale: dict[str, Any]) -> None:
        """Move the stale lock aside; put it back if another process replaced it first."""
        aside = self.directory / f"{LOCK_FILE}.{os.getpid()}.stale"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            moved = {}
        if moved != stale:  # a live lock taken meanwhile: restore it unless replaced again
            with suppress(FileExistsError):
                os.link(aside, self.path)
        aside.unlink(missing_ok=True)

    def _locked_message(self, holder: dict[str, Any]) -> str:
        who = (
            f"{holder.get('command', 'optbench')} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, since {holder.get('since', '?')})"
        )
        hint = ""
        if holder.get("host") not in (None, socket.gethostname()):
            hint = f"; if it is no longer running, delete {self.path}"
        return f"{self.directory}: in use by {who}; wait for it to finish{hint}"


def _is_stale(holder: dict[str, Any]) -> bool:
    """Whether the lock's holder is known to be dead (only decidable on this host)."""
    if not holder:  # written whole by a link, so an unreadable lock is a damaged one
        return True
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if not pid_alive(pid):
        return True
    started = holder.get("started")
    return started is not None and process_start_time(pid) not in (None, started)
