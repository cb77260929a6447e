"""One writer per results directory: the lock, its takeover when stale, and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from optbench.cli import main
from optbench.run.lock import LOCK_FILE, ResultsLock, ResultsLocked
from optbench.run.processes import process_start_time

TINY = {
    "name": "locked",
    "problems": ["rosenbrock_2d"],
    "solvers": [{"name": "gd", "params": {"step_size": "armijo"}}],
    "stop": {"max_iter": 50},
    "seeds": [0, 1],
}


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(directory, **holder) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LOCK_FILE).write_text(json.dumps(holder))


def test_the_lock_names_its_holder_and_a_second_taker_is_refused(tmp_path):
    with ResultsLock(tmp_path / "out", command="optbench run") as lock:
        holder = json.loads(lock.path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(ResultsLocked, match=f"in use by optbench run \\(pid {os.getpid()}"):
            ResultsLock(tmp_path / "out").acquire()
    assert not (tmp_path / "out").exists()  # created by the lock, left empty: removed


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param({"pid": "dead"}, id="dead pid"),
        pytest.param({"pid": os.getpid(), "started": -1}, id="recycled pid"),
        pytest.param(None, id="unreadable"),
    ],
)
def test_a_stale_lock_on_this_host_is_taken_over(tmp_path, holder):
    if holder is None:
        (tmp_path / LOCK_FILE).write_text("{not json")
    else:
        pid = dead_pid() if holder["pid"] == "dead" else holder["pid"]
        write_lock(tmp_path, **{**holder, "pid": pid, "host": socket.gethostname()})
    with ResultsLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary files left


def test_a_live_lock_with_its_start_time_is_not_taken_over(tmp_path):
    pid = os.getppid()  # alive: the process that started the tests
    write_lock(tmp_path, pid=pid, host=socket.gethostname(), started=process_start_time(pid))
    with pytest.raises(ResultsLocked, match=f"pid {pid}"):
        ResultsLock(tmp_path).acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == pid  # left alone


def test_a_lock_from_another_host_is_kept_and_the_message_says_which_file_to_delete(tmp_path):
    write_lock(tmp_path, pid=dead_pid(), host="elsewhere.example", command="optbench run")
    with pytest.raises(ResultsLocked) as raised:
        ResultsLock(tmp_path).acquire()
    assert "elsewhere.example" in str(raised.value)
    assert f"delete {tmp_path / LOCK_FILE}" in str(raised.value)


@pytest.mark.parametrize("mode", ["--force", "--resume"])
def test_a_second_writer_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, mode):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--no-plots"]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    capsys.readouterr()
    with ResultsLock(out, command="optbench run"):  # a live writer: this process
        assert main(["run", str(config), "--out", str(out), mode, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"optbench: error: {out}: in use by optbench run (pid {os.getpid()}")
        after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != LOCK_FILE}
    assert after == before


def test_a_run_takes_over_a_stale_lock_and_releases_it(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    write_lock(out, pid=dead_pid(), host=socket.gethostname(), command="optbench run")
    assert main(["run", str(config), "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert len((out / "summary.csv").read_text().splitlines()) == 3
    assert not (out / LOCK_FILE).exists()
