"""``optbench run`` stopped from outside: Ctrl-C (SIGINT) and SIGKILL, in a subprocess.

The runs are gated, not slow: a plugin solver runs freely on the 2-D instance and, on
the 4-D one, waits in its first step until the test creates a gate file (and says it
waits in a file of its own). The command is therefore interrupted, on any machine and
under any load, after the 2-D runs are done and before any 4-D run is; a resume opens
the gate first. Nothing here times
the command: every wait polls with a generous deadline.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from run_layouts import finished_run_ids

SEEDS = 10
#: Runs of the free instance (written before the interrupt) and in all.
FREE_RUNS, RUNS = SEEDS, 2 * SEEDS
#: Gradient steps that wait for the file ``GATE`` on any instance but the 2-D one.
GATED_SOLVER = '''
import os
import time
from dataclasses import dataclass

from optbench.registry import SOLVERS
from optbench.solvers.base import Solver, State


@SOLVERS.register("gated")
@dataclass(frozen=True)
class Gated(Solver):
    """Fixed gradient steps; off the 2-D instance, first waits for the gate file."""

    step_size: float = 1e-4

    def init(self, oracle, x0):
        if oracle.dim != 2 and not os.path.exists({gate!r}):
            open({gate!r} + f".waiting.{{os.getpid()}}", "w").close()  # this process waits
        while oracle.dim != 2 and not os.path.exists({gate!r}):
            time.sleep(0.02)
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g)

    def step(self, oracle, state):
        x = state.x - self.step_size * state.g
        f, g = oracle.value_and_grad(x)
        return State(x=x, f=f, g=g)
'''
#: Seconds allowed for anything awaited here (never asserted as a speed).
DEADLINE = 60.0
COMMAND = [sys.executable, "-m", "optbench.cli"]


def finished_runs(out: Path) -> set[str]:
    return set(finished_run_ids(out))


def start_run(
    tmp_path: Path, *extra: str, backend: str | None = "joblib"
) -> tuple[subprocess.Popen, Path, Path]:
    """Start the gated runs (the gate closed) in their own process group; with two
    jobs, on ``backend`` (joblib: in workers only; None: the automatic backend, in this
    process and a worker)."""
    plugin = tmp_path / "gated.py"
    plugin.write_text(GATED_SOLVER.format(gate=str(gate(tmp_path))))
    config = tmp_path / "gated.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "interrupted",
                "plugins": [str(plugin)],
                "problems": [
                    {"family": "rosenbrock", "params": {"dim": 2}},
                    {"family": "rosenbrock", "params": {"dim": 4}},
                ],
                "solvers": [{"name": "gated"}],
                "stop": {"gtol": 1e-12, "max_iter": 200},
                "seeds": list(range(SEEDS)),
                "jobs": 2,
                **({"executor": {"backend": backend}} if backend else {}),
            }
        )
    )
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*COMMAND, "run", str(config), "--out", str(out), "--quiet", "--no-plots", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    _started.append(process)
    return process, config, out


#: The processes :func:`start_run` started, killed with their groups after each test.
_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_process_left_behind():
    """Whatever a test's outcome, its ``optbench run`` and workers end with it."""
    yield
    while _started:
        process = _started.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its group: the workers too
        process.communicate()


def gate(tmp_path: Path) -> Path:
    """The file whose existence lets the gated runs go on."""
    return tmp_path / "gate"


def wait_for_free_runs(process: subprocess.Popen, out: Path) -> None:
    """Wait until every run of the 2-D instance is written."""

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()}")
        return len(finished_runs(out)) == FREE_RUNS

    wait_for(ready, "the runs before the gate")


def wait_at_the_gate(process: subprocess.Popen, tmp_path: Path, processes: int) -> None:
    """Wait until ``processes`` processes wait at the gate: every free run is done then
    (the planner hands out the free instance's runs first)."""

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()}")
        return len(list(tmp_path.glob(gate(tmp_path).name + ".waiting.*"))) >= processes

    wait_for(ready, f"{processes} processes at the gate")


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    """The pids of ``pid``'s descendants (found in /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc"),
]


@pytest.mark.parametrize("backend", ["joblib", None])
def test_ctrl_c_keeps_the_finished_runs_says_so_in_one_line_and_resume_completes(tmp_path, backend):
    process, config, out = start_run(tmp_path, backend=backend)
    wait_at_the_gate(process, tmp_path, processes=2)  # two workers, or this one and one
    workers = children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    stdout, stderr = process.communicate(timeout=DEADLINE)
    wait_for(lambda: not any(alive(pid) for pid in workers), "the workers to exit")

    assert process.returncode == 130
    assert "Traceback" not in stderr and "Warning" not in stderr
    assert stderr.count("\n") == 1, stderr
    kept = finished_runs(out)
    assert len(kept) == FREE_RUNS
    assert f"{len(kept)} runs kept in {out}, {RUNS - len(kept)} missing" in stderr
    assert not (out / ".optbench.lock").exists()
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + len(kept)

    resume = shlex.split(stderr.split("to run the missing ones: ", 1)[1])
    gate(tmp_path).touch()
    assert resume[:2] == ["optbench", "run"] and "--resume" in resume
    done = subprocess.run(
        [*COMMAND, *resume[1:], "--quiet", "--no-plots"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert len(finished_runs(out)) == RUNS
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + RUNS


def test_sigkill_of_the_parent_ends_its_workers_and_nothing_is_written_after(tmp_path):
    process, _, out = start_run(tmp_path)
    workers: set[int] = set()
    try:
        wait_for_free_runs(process, out)
        workers = children(process.pid)
        assert len(workers) >= 2  # two loky workers (and the resource trackers)
        process.kill()
        process.wait(timeout=DEADLINE)
        wait_for(lambda: not any(alive(pid) for pid in workers), "the workers to exit")
        written = finished_runs(out)
        time.sleep(1.0)  # a worker still computing would write (or hand over) more
        assert finished_runs(out) == written
        assert len(written) == FREE_RUNS
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.kill()
        process.communicate()


def test_a_run_left_behind_by_sigkill_is_resumed(tmp_path):
    process, config, out = start_run(tmp_path, "--jobs", "1", backend=None)
    wait_for_free_runs(process, out)
    process.kill()
    process.communicate(timeout=DEADLINE)
    kept = finished_runs(out)
    gate(tmp_path).touch()
    # the dead run's lock is stale: the resume takes it over and runs only the rest
    done = subprocess.run(
        [*COMMAND, "run", str(config), "--out", str(out), "--resume", "--quiet", "--no-plots"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert kept < finished_runs(out) and len(finished_runs(out)) == RUNS
