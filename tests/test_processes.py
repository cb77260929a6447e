"""Process liveness and worker processes that leave Ctrl-C to their parent and end with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from optbench.run.processes import interrupts_ignored, pid_alive, process_start_time

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
DEADLINE = 20.0


def test_pid_alive_and_start_time():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert pid_alive(os.getpid()) and not pid_alive(child.pid)
    assert process_start_time(os.getpid()) == process_start_time(os.getpid()) is not None
    assert process_start_time(child.pid) is None


def sigint_ignored_in_child() -> bool:
    status = subprocess.run(
        ["grep", "SigIgn", "/proc/self/status"], capture_output=True, text=True
    ).stdout
    return bool(int(status.split()[1], 16) & (1 << (signal.SIGINT - 1)))


def test_workers_started_while_interrupts_are_ignored_ignore_ctrl_c():
    assert not sigint_ignored_in_child()
    with interrupts_ignored():
        assert sigint_ignored_in_child()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_worker_exits_when_its_parent_dies(tmp_path):
    """The parent starts a worker that calls become_worker, then dies without a word."""
    pid_file = tmp_path / "worker.pid"
    worker = textwrap.dedent(
        f"""
        import os, sys, time
        from optbench.run.processes import become_worker
        become_worker(os.getppid())
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(120)
        sys.exit(0)
        """
    )
    parent = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {worker!r}])
        while not os.path.exists({str(pid_file)!r}):
            time.sleep(0.05)
        time.sleep(0.2)
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=60)
    worker_pid = int(pid_file.read_text())
    deadline = time.monotonic() + DEADLINE
    try:
        while pid_alive(worker_pid):
            assert time.monotonic() < deadline, "the orphaned worker is still running"
            time.sleep(0.05)
    finally:
        if pid_alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
