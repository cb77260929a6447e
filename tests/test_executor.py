"""The executor: run records, errors as records, per-worker problem cache, backends."""

from __future__ import annotations

import functools
import math
import os
import sys
from dataclasses import dataclass

import pytest

from optbench.registry import SOLVERS
from optbench.run import executor, tasks
from optbench.run.executor import (
    execute,
    execute_run,
    execute_spec,
    plan_tasks,
    run_task,
)
from optbench.run.records import (
    STORED_TRACE_COLUMNS,
    SUMMARY_RESULT_COLUMNS,
    RunRecord,
    target_column,
)
from optbench.run.runner import StopCriteria
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.solvers.base import Solver, State

ROSENBROCK_2 = ProblemSpec("rosenbrock", {"dim": 2})
ROSENBROCK_4 = ProblemSpec("rosenbrock", {"dim": 4})
TARGETS = (1e-2, 1e-6)


def make_spec(problem=ROSENBROCK_2, solver="gd", params=None, seed=0, max_iter=30) -> RunSpec:
    params = {"step_size": 1e-3} if params is None and solver == "gd" else params or {}
    return RunSpec(problem, solver, params, seed, StopCriteria(max_iter=max_iter), TARGETS)


@dataclass(frozen=True)
class RaisesInStep(Solver):
    """Test solver: a gradient step, then an exception at step ``fail_at``."""

    fail_at: int = 2

    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g, info={"k": 0})

    def step(self, oracle, state):
        if state.info["k"] + 1 == self.fail_at:
            raise RuntimeError("planted failure")
        x = state.x - 1e-3 * state.g
        f, g = oracle.value_and_grad(x)
        return State(x=x, f=f, g=g, info={"k": state.info["k"] + 1})


@pytest.fixture
def raising_solver():
    """Register ``raises_in_step`` for one test only (other tests iterate the registry)."""
    SOLVERS.register("raises_in_step")(RaisesInStep)
    yield "raises_in_step"
    SOLVERS._entries.pop("raises_in_step")


def test_target_column_names_round_trip_the_level():
    assert target_column("cost", 1e-4) == "cost_to_1e-04"
    assert target_column("iters", 1e-8) == "iters_to_1e-08"
    assert target_column("time", 1.5e-3) == "time_to_1.5e-03"
    assert target_column("iters", 1.5e-3) != target_column("iters", 2e-3)
    with pytest.raises(ValueError, match="did you mean 'cost'"):
        target_column("costs", 1e-4)


def test_execute_run_summary_and_trace():
    spec = make_spec(solver="newton", params={}, max_iter=100)
    problem = spec.problem.build()
    record = execute_run(spec, problem)
    summary = record.summary
    assert record.run_id == spec.run_id == summary["run_id"]
    assert list(summary)[:4] == ["run_id", "problem", "optimizer", "solver_label"]
    assert list(summary)[4 : 4 + len(SUMMARY_RESULT_COLUMNS)] == list(SUMMARY_RESULT_COLUMNS)
    assert summary["status"] == "converged"
    assert summary["dim"] == 2
    assert summary["f0"] == pytest.approx(problem.value(problem.x0))
    assert summary["problem"] == "rosenbrock[dim=2]"
    for eps in TARGETS:
        iters = summary[target_column("iters", eps)]
        assert 0 < iters <= summary["iters"]
        assert 0 < summary[target_column("cost", eps)] <= summary["cost"]
    assert (
        summary[target_column("iters", 1e-2)] <= summary[target_column("iters", 1e-6)]
    )  # a tighter target is reached later
    trace = record.trace
    assert tuple(trace) == STORED_TRACE_COLUMNS
    assert len(trace["iter"]) == summary["iters"] + 1
    assert set(trace["run_id"]) == {spec.run_id}
    assert trace["f"][-1] == summary["f_final"]


def test_solver_parameters_become_columns_and_never_reached_targets_are_nan():
    record = execute_spec(make_spec(params={"step_size": 1e-4}, max_iter=5))
    assert record.summary["step_size"] == 1e-4
    assert record.summary["status"] == "max_iter"
    assert math.isnan(record.summary[target_column("time", 1e-6)])


def test_errors_become_records(raising_solver):
    unknown_solver = execute_spec(make_spec(solver="no_such_solver", params={}))
    bad_param = execute_spec(make_spec(params={"step_size": 1e-3, "lr": 1.0}))
    bad_problem = execute_spec(make_spec(problem=ProblemSpec("rosenbrock", {"dim": 1})))
    raising = execute_spec(make_spec(solver=raising_solver, params={"fail_at": 3}))
    for record, words in [
        (unknown_solver, ["building solver", "no_such_solver"]),
        (bad_param, ["building solver", "'lr'"]),
        (bad_problem, ["building problem rosenbrock[dim=1]", "dim"]),
        (raising, ["RuntimeError", "planted failure"]),
    ]:
        assert record.status == "error"
        for word in words:
            assert word in record.summary["message"]
    assert raising.summary["iters"] == 2  # the steps before the failure are kept
    assert len(raising.trace["iter"]) == 3
    assert math.isnan(bad_problem.summary["dim"])
    assert bad_problem.trace["iter"] == []


def test_problem_built_once_per_process(monkeypatch):
    builds = []
    original = ProblemSpec.build

    def counting_build(self):
        builds.append(self.label)
        return original(self)

    monkeypatch.setattr(ProblemSpec, "build", counting_build)
    tasks.clear_problem_cache()
    specs = [make_spec(problem, seed=seed) for problem in (ROSENBROCK_2, ROSENBROCK_4)
             for seed in (0, 1, 2)]  # fmt: skip
    records = []
    execute(specs, records.extend, progress=False)
    assert sorted(builds) == ["rosenbrock[dim=2]", "rosenbrock[dim=4]"]
    assert [r.run_id for r in records] == [s.run_id for s in specs]


def test_problem_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(tasks, "PROBLEM_CACHE_SIZE", 2)
    tasks.clear_problem_cache()
    for dim in (2, 3, 4, 5):
        tasks.cached_problem(ProblemSpec("rosenbrock", {"dim": dim}))
    assert len(tasks._problem_cache) == 2
    assert tasks.cached_problem(ProblemSpec("rosenbrock", {"dim": 5})).dim == 5
    tasks.clear_problem_cache()


def test_plan_tasks_keeps_runs_of_one_instance_together():
    specs = [
        make_spec(problem, seed=seed)
        for seed in range(5)
        for problem in (ROSENBROCK_2, ROSENBROCK_4)
    ]  # interleaved problems
    tasks = plan_tasks(specs, jobs=2)
    assert sorted(s.run_id for t in tasks for s in t) == sorted(s.run_id for s in specs)
    for task in tasks:
        assert len({s.problem.key() for s in task}) == 1
    assert len(tasks) > 2  # several tasks per worker, for load balance


def test_runs_execute_with_blas_pinned(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads_seen(spec):
        threads = {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
        return RunRecord(spec.run_id, {"status": "max_iter", "threads": threads}, {})

    monkeypatch.setattr(tasks, "execute_spec", blas_threads_seen)  # in a worker's task
    monkeypatch.setattr(executor, "execute_spec", blas_threads_seen)  # in the serial backend
    assert [r.summary["threads"] for r in run_task([make_spec()], blas_threads=1)] == [{1}]
    records = []
    execute([make_spec(seed=0), make_spec(seed=1)], records.extend, progress=False)
    assert [r.summary["threads"] for r in records] == [{1}, {1}]


def without_time(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "time" and not k.startswith("time_to_")}


def test_joblib_gives_the_serial_records():
    specs = [
        make_spec(problem, solver, params, seed)
        for problem in (ROSENBROCK_2, ROSENBROCK_4)
        for solver, params in [("gd", {"step_size": 1e-3}), ("newton", {}), ("nope", {})]
        for seed in (0, 1)
    ]
    serial, parallel = {}, {}
    execute(specs, lambda rs: serial.update((r.run_id, r) for r in rs), jobs=1, progress=False)
    execute(
        specs,
        lambda rs: parallel.update((r.run_id, r) for r in rs),
        jobs=2,
        backend="joblib",  # workers only (jobs=2 alone also runs tasks in this process)
        progress=False,
    )
    assert serial.keys() == parallel.keys() == {s.run_id for s in specs}
    for run_id, record in serial.items():
        other = parallel[run_id]
        assert without_time(record.summary) == pytest.approx(
            without_time(other.summary), nan_ok=True
        )
        assert record.trace["f"] == other.trace["f"]
    assert sum(r.status == "error" for r in parallel.values()) == 4


def test_execute_rejects_bad_arguments():
    with pytest.raises(ValueError, match="jobs"):
        execute([make_spec()], print, jobs=0)
    with pytest.raises(ValueError, match="did you mean 'joblib'"):
        execute([make_spec()], print, backend="jobib")


def test_dask_backend_without_the_extra_is_one_line(tmp_path, monkeypatch, capsys):
    import yaml

    from optbench.cli import main
    from optbench.run import dask_backend
    from optbench.run.executor import BackendError
    from optbench.run.experiment import run_experiment

    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    message = 'executor.backend: dask needs the optional extra: pip install "optbench[dask]"'
    config = {
        "name": "tiny",
        "problems": ["rosenbrock_2d"],
        "solvers": [{"name": "newton"}],
        "executor": {"backend": "dask", "address": "tcp://127.0.0.1:8786"},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"optbench: error: {message}\n"
    with pytest.raises(BackendError) as info:
        run_experiment({**config, "executor": {}}, out=out, dask_address="tcp://127.0.0.1:8786")
    assert str(info.value) == dask_backend.MISSING_EXTRA_MESSAGE == message
    with pytest.raises(BackendError, match="optional extra"):
        execute([make_spec()], print, backend="dask", progress=False)
    assert not out.exists()  # refused before anything is written


def test_problem_cache_builds_once_for_concurrent_threads(monkeypatch):
    """Threads of one process (a Dask worker with --nthreads > 1) share one build."""
    import threading
    import time

    builds = []
    original = ProblemSpec.build

    def slow_build(self):
        builds.append(self.label)
        time.sleep(0.05)  # let the other threads ask while the build is in progress
        return original(self)

    monkeypatch.setattr(ProblemSpec, "build", slow_build)
    tasks.clear_problem_cache()
    start = threading.Barrier(4)
    problems = []

    def ask():
        start.wait()
        problems.append(tasks.cached_problem(ROSENBROCK_4))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == ["rosenbrock[dim=4]"]
    assert len(problems) == 4 and all(p is problems[0] for p in problems)
    tasks.clear_problem_cache()


def test_the_environment_pins_blas_only_when_every_thread_variable_says_so(monkeypatch):
    for name in tasks.BLAS_THREAD_VARIABLES:
        monkeypatch.setenv(name, "1")
    assert tasks.environment_pins_blas(1)
    assert not tasks.environment_pins_blas(2)
    monkeypatch.delenv("MKL_NUM_THREADS")  # a BLAS reading it could load with any count
    assert not tasks.environment_pins_blas(1)


def test_joblib_workers_start_with_the_blas_limit_in_their_environment(monkeypatch):
    """The loky workers get blas_threads as joblib's inner_max_num_threads (their BLAS
    variables), so their blas_limit need not import scipy; not with a joblib backend
    option of the caller's."""
    import joblib

    configs = []
    real = joblib.parallel_config

    def recording(*args, **kwargs):
        configs.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(joblib, "parallel_config", recording)
    records: list[RunRecord] = []
    specs = [make_spec(seed=seed) for seed in range(2)]
    execute(specs, records.extend, jobs=2, backend="joblib", progress=False, blas_threads=1)
    assert len(records) == 2
    assert configs == [{"backend": "loky", "inner_max_num_threads": 1}]
    execute(
        specs, records.extend, jobs=2, backend="joblib", progress=False,
        backend_options={"backend": "loky"},
    )  # fmt: skip
    assert len(records) == 4 and len(configs) == 1


def test_blas_limit_holds_until_the_last_concurrent_task_ends(monkeypatch):
    """A task ending in one thread does not lift the limit of a task still running.

    threadpoolctl is replaced by a recorder of the process-wide setting: OpenBLAS
    0.3.31 ignores a limit set from a non-main thread once the main thread has set
    one, so the real libraries cannot show this in a test process.
    """
    import threading

    import threadpoolctl

    class RecordedLimits:
        current = "unlimited"

        def __init__(self, limits, user_api):
            assert user_api == "blas"
            self.previous, RecordedLimits.current = RecordedLimits.current, limits

        def restore_original_limits(self):
            RecordedLimits.current = self.previous

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", RecordedLimits)
    first_done = threading.Event()

    def blas_threads_seen(spec):
        if spec.seed == 1:
            assert first_done.wait(timeout=10)
        return RunRecord(spec.run_id, {"status": "max_iter", "threads": RecordedLimits.current}, {})

    monkeypatch.setattr(tasks, "execute_spec", blas_threads_seen)
    seen = {}

    def task(seed):
        [record] = run_task([make_spec(seed=seed)], blas_threads=1)
        seen[seed] = record.summary["threads"]
        if seed == 0:
            first_done.set()

    later = threading.Thread(target=task, args=(1,))
    later.start()
    task(0)  # ends while the other task is still running
    later.join()
    assert seen == {0: 1, 1: 1}
    assert RecordedLimits.current == "unlimited"  # restored once both have ended


def interrupted_at_the_third_run(monkeypatch) -> tuple[list[RunSpec], list[str]]:
    """Four specs whose third run raises KeyboardInterrupt (``execute_spec`` replaced),
    and the list of the run ids that ran before it."""
    specs = [make_spec(seed=seed) for seed in range(4)]
    ran: list[str] = []

    def interrupted_at_the_third(spec):
        if len(ran) == 2:
            raise KeyboardInterrupt
        ran.append(spec.run_id)
        return RunRecord(spec.run_id, {"status": "max_iter"}, {})

    monkeypatch.setattr(executor, "execute_spec", interrupted_at_the_third)
    return specs, ran


def test_ctrl_c_in_a_serial_task_hands_over_the_runs_it_finished(monkeypatch):
    specs, ran = interrupted_at_the_third_run(monkeypatch)
    monkeypatch.setattr(tasks, "FIRST_TASK_RUNS", 100)  # one task
    handed: list[list[str]] = []
    with pytest.raises(KeyboardInterrupt):
        execute(specs, lambda rs: handed.append([r.run_id for r in rs]), progress=False)
    assert handed == [ran] and ran == [s.run_id for s in specs[:2]]


def test_serial_runs_are_handed_over_per_task_or_after_a_second(monkeypatch):
    specs = [make_spec(seed=seed) for seed in range(6)]
    clock = iter(range(1000))  # 0.4 s pass at every reading of the clock
    monkeypatch.setattr(executor.time, "monotonic", lambda: next(clock) * 0.4)
    monkeypatch.setattr(
        executor, "execute_spec", lambda spec: RunRecord(spec.run_id, {"status": "max_iter"}, {})
    )
    handed: list[int] = []
    monkeypatch.setattr(tasks, "FIRST_TASK_RUNS", 100)  # one task
    execute(specs, lambda rs: handed.append(len(rs)), progress=False)
    assert sum(handed) == 6 and len(handed) > 1  # 0.4 s a run: handed over every 3 runs
    assert handed[0] == 3


def test_task_sizes_follow_the_time_a_run_takes():
    specs = [make_spec(problem, seed=seed) for problem in (ROSENBROCK_2, ROSENBROCK_4)
             for seed in range(3000)]  # fmt: skip
    planner = tasks.TaskPlanner(specs, workers=2)
    planned = []
    for task in planner:  # a task ends when two more have been handed out
        planned.append(task)
        if len(planned) >= 3:
            ended = planned[-3]
            per_run = 1e-3 if ended[0].problem == ROSENBROCK_2 else 0.2  # tiny runs, then long
            planner.finished(ended[0].problem.key(), len(ended), per_run * len(ended))
    assert [s.run_id for t in planned for s in t] == [s.run_id for s in specs]  # spec order
    assert all(len({s.problem.key() for s in task}) == 1 for task in planned)
    sizes = [len(t) for t in planned]
    first = tasks.FIRST_TASK_RUNS  # nothing learnt yet: small tasks
    assert sizes[:3] == [first, first, first]
    tiny = int(tasks.TASK_SECONDS / 1e-3)
    assert sizes[3] == tiny  # then by time, half a second a task
    long_runs = [len(t) for t in planned if t[0].problem == ROSENBROCK_4]
    assert long_runs[0] == tasks.FIRST_TASK_RUNS and max(long_runs[3:]) <= int(
        tasks.TASK_SECONDS / 0.2
    )
    assert sizes[-1] == 1  # the last runs shared out between the workers


def sweep(runs: int) -> list[RunSpec]:
    """Tiny deterministic runs on two instances (the second after the first's)."""
    steps = [1e-4 * (1 + k / runs) for k in range(runs // 2)]
    return [
        make_spec(problem, params={"step_size": step}, max_iter=10)
        for problem in (ROSENBROCK_2, ROSENBROCK_4)
        for step in steps
    ]


def run_ids_handed(specs, **kwargs) -> tuple[list[str], dict[str, RunRecord]]:
    handed: list[str] = []
    records: dict[str, RunRecord] = {}

    def collect(batch):
        handed.extend(r.run_id for r in batch)
        records.update((r.run_id, r) for r in batch)

    execute(specs, collect, progress=False, **kwargs)
    return handed, records


def assert_same_counts(records: dict, reference: dict) -> None:
    assert records.keys() == reference.keys()
    for run_id, record in reference.items():
        assert without_time(records[run_id].summary) == pytest.approx(
            without_time(record.summary), nan_ok=True
        )
        assert records[run_id].trace["f"] == record.trace["f"]


def test_two_jobs_finish_here_what_ends_before_the_workers_are_up(workers_spy):
    """The workers start in the background; a short experiment never waits for them."""
    spy = workers_spy(up_after=30.0)  # never up in this test
    specs = sweep(128)
    handed, records = run_ids_handed(specs, jobs=2)
    assert spy.handed == [0]  # no task handed to a worker: all ran here
    assert sorted(handed) == sorted(s.run_id for s in specs)  # every run exactly once
    _, serial = run_ids_handed(specs, jobs=1)
    assert_same_counts(records, serial)


def test_two_jobs_share_the_runs_between_this_process_and_a_worker(workers_spy):
    spy = workers_spy(wait_for_workers=True)
    specs = sweep(128)
    handed, records = run_ids_handed(specs, jobs=2)
    assert spy.handed[0] > 0  # a worker ran tasks, and this process did too (it waited)
    assert len(handed) == len(set(handed)) == len(specs)  # nothing twice, nothing lost
    assert set(handed) == {s.run_id for s in specs}
    _, serial = run_ids_handed(specs, jobs=1)
    assert_same_counts(records, serial)
    assert tasks._problem_cache == {}  # this process's instances dropped at the end


def test_a_worker_failure_stops_the_experiment(workers_spy, monkeypatch):
    spy = workers_spy(wait_for_workers=True)
    # what a worker calls, replaced by a builtin (pickled by reference) that raises there
    monkeypatch.setattr(executor, "call_with_plugins", functools.partial(divmod, 1, 0))
    with pytest.raises(TypeError):
        run_ids_handed(sweep(128), jobs=2)
    assert spy.handed[0] > 0


def test_ctrl_c_in_a_task_here_hands_over_the_runs_it_finished(monkeypatch, workers_spy):
    specs, ran = interrupted_at_the_third_run(monkeypatch)
    monkeypatch.setattr(tasks, "FIRST_TASK_RUNS", 100)  # one task
    spy = workers_spy(up_after=30.0)
    handed: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        execute(specs, lambda rs: handed.extend(r.run_id for r in rs), jobs=2, progress=False)
    assert handed == ran == [s.run_id for s in specs[:2]]
    assert spy.handed == [0]


def test_workers_start_with_their_blas_threads_pinned():
    pool, calls = executor._start_workers(1, blas_threads=3)
    assert [call.result() != os.getpid() for call in calls] == [True]  # a worker is up
    pinned = {name: pool.submit(os.getenv, name).result() for name in tasks.BLAS_THREAD_VARIABLES}
    assert pinned == dict.fromkeys(tasks.BLAS_THREAD_VARIABLES, "3")
    pool.shutdown(wait=True, kill_workers=True)


def test_open_backend_starts_the_workers_that_execute_uses(monkeypatch):
    pools = []
    original = executor._start_workers

    def recording(*args):
        pools.append(original(*args))
        return pools[-1]

    monkeypatch.setattr(executor, "_start_workers", recording)
    with executor.open_backend(None, None, jobs=2, blas_threads=1) as options:
        assert options == {} and len(pools) == 1  # started before anything runs
        handed, _ = run_ids_handed(sweep(8), jobs=2, blas_threads=1)
    assert sorted(handed) == sorted(s.run_id for s in sweep(8))
    assert len(pools) == 2 and pools[1][0] is pools[0][0]  # the same workers, reused
    with executor.open_backend("serial", None, jobs=2):
        assert len(pools) == 2  # a backend named: nothing started


def test_backend_options_name_their_backend():
    with pytest.raises(ValueError, match="backend_options: name the backend they are for"):
        execute(sweep(2), print, jobs=2, backend_options={"backend": "loky"})


def test_a_planner_is_one_iterator_shared_by_its_loops():
    specs = sweep(10)
    planner = tasks.TaskPlanner(specs, workers=2)
    assert planner.runs_left == len(specs)
    first = next(iter(planner))
    assert planner.runs_left == len(specs) - len(first)
    rest = [task for task in planner]  # a second loop goes on where the first stopped
    assert [s.run_id for t in [first, *rest] for s in t] == [s.run_id for s in specs]
    assert planner.runs_left == 0 and list(planner) == []
