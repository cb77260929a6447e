"""Warnings raised during a run are counted on the run (``warnings`` column), not shown."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import yaml

from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.executor import execute_run
from optbench.run.records import format_warnings
from optbench.run.runner import StopCriteria, minimize, run_solver
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.run_warnings import in_this_run, recording_warnings
from optbench.solvers.base import Solver, State


@dataclass(frozen=True)
class WarnsInStep(Solver):
    """Test solver: a gradient step that warns twice and overflows a numpy product."""

    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g)

    def step(self, oracle, state):
        warnings.warn("planted warning", UserWarning, stacklevel=1)
        warnings.warn("planted warning", UserWarning, stacklevel=1)
        np.array([1e200]) * np.array([1e200])  # RuntimeWarning: overflow encountered in multiply
        x = state.x - 1e-4 * state.g
        f, g = oracle.value_and_grad(x)
        return State(x=x, f=f, g=g)


class WarningRosenbrock(Rosenbrock):
    """Rosenbrock whose fused evaluation warns (to be called from scipy's thread)."""

    def value_and_grad(self, x):
        warnings.warn("warned by the problem", RuntimeWarning, stacklevel=1)
        return super().value_and_grad(x)


def test_a_runs_warnings_are_counted_on_it_and_not_shown(capfd):
    filters_before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a shown warning would raise here
        result = run_solver(Rosenbrock(2), WarnsInStep(), StopCriteria(max_iter=3))
    assert result.status == "max_iter", result.message
    assert result.warnings == {
        "UserWarning: planted warning": 6,
        "RuntimeWarning: overflow encountered in multiply": 3,
    }
    assert capfd.readouterr().err == ""
    assert list(warnings.filters) == filters_before  # the filters are restored


def test_warnings_raised_in_the_scipy_thread_belong_to_the_run(capfd):
    result = minimize(WarningRosenbrock(2), "scipy", method="L-BFGS-B", max_iter=5)
    assert result.warnings["RuntimeWarning: warned by the problem"] >= 5
    assert capfd.readouterr().err == ""


def test_a_run_sets_no_context_variable():
    """numpy looks its error state and allocator up in a thread's context, uncached
    once the thread has set any context variable: a run must not set one."""
    seen = []

    @dataclass(frozen=True)
    class LooksAtTheContext(WarnsInStep):
        def step(self, oracle, state):
            seen.append(dict(contextvars.copy_context()))
            return super().step(oracle, state)

    outside = dict(contextvars.copy_context())
    result = run_solver(Rosenbrock(2), LooksAtTheContext(), StopCriteria(max_iter=2))
    assert result.warnings["UserWarning: planted warning"] == 4  # still counted
    assert seen == [outside, outside]


def test_a_thread_in_this_run_counts_in_it_and_others_do_not():
    def warn(text):
        warnings.warn(text, UserWarning, stacklevel=1)

    with warnings.catch_warnings(record=True) as shown, recording_warnings() as counts:
        for target, text in ((in_this_run(warn), "in the run"), (warn, "outside")):
            thread = threading.Thread(target=target, args=(text,))
            thread.start()
            thread.join()
    assert dict(counts) == {"UserWarning: in the run": 1}
    assert [str(w.message) for w in shown] == ["outside"]  # shown as usual


def test_concurrent_runs_in_threads_each_count_their_own():
    counts: dict[str, dict[str, int]] = {}
    barrier = threading.Barrier(2)

    def run(name: str, times: int) -> None:
        with recording_warnings() as record:
            barrier.wait()
            for _ in range(times):
                warnings.warn(f"from {name}", UserWarning, stacklevel=1)
            barrier.wait()
        counts[name] = dict(record)

    threads = [threading.Thread(target=run, args=(name, n)) for name, n in (("a", 2), ("b", 3))]
    showwarning_before = warnings.showwarning
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == {"a": {"UserWarning: from a": 2}, "b": {"UserWarning: from b": 3}}
    assert warnings.showwarning is showwarning_before


def test_the_summary_column_lists_distinct_warnings_most_frequent_first():
    assert format_warnings({}) == ""
    assert format_warnings({"UserWarning: b": 1, "RuntimeWarning: a": 4, "UserWarning: a": 1}) == (
        "RuntimeWarning: a (x4); UserWarning: a (x1); UserWarning: b (x1)"
    )
    spec = RunSpec(ProblemSpec("rosenbrock", {"dim": 2}), "gd", {"step_size": 1e100}, 0,
                   StopCriteria(max_iter=10), ())  # fmt: skip
    record = execute_run(spec, spec.problem.build())
    assert record.status == "diverged"
    assert "RuntimeWarning: overflow encountered in" in record.summary["warnings"]
    quiet = RunSpec(ProblemSpec("rosenbrock", {"dim": 2}), "newton", {}, 0, StopCriteria(), ())
    assert execute_run(quiet, quiet.problem.build()).summary["warnings"] == ""


def test_joblib_workers_record_warnings_and_print_nothing(tmp_path):
    """End to end in a fresh process: loky workers inherit its stderr, which stays empty."""
    config = {
        "name": "warns",
        "problems": [{"family": "rosenbrock", "params": {"dim": [2, 3]}}],
        "solvers": [{"name": "gd", "params": {"step_size": [1e100, 1e-3]}}],
        "stop": {"max_iter": 20},
        "jobs": 2,
        "executor": {"backend": "joblib"},  # workers from the start, whatever the work
    }
    path = tmp_path / "warns.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "optbench.cli", "run", str(path), "--out", str(out)]
    finished = subprocess.run([*command, "--no-plots"], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    warned = summary[summary["step_size"] == 1e100]
    assert len(warned) == 2
    assert warned["warnings"].str.contains("RuntimeWarning: overflow encountered in").all()
    assert (summary.loc[summary["step_size"] == 1e-3, "warnings"] == "").all()


@pytest.mark.parametrize("category", [UserWarning, RuntimeWarning])
def test_outside_a_run_warnings_are_shown_as_usual(category):
    with pytest.warns(category, match="outside"):
        warnings.warn("outside any run", category, stacklevel=1)
