"""The dask backend on a LocalCluster on loopback: same results as serial runs, one
build per worker and instance, streaming writes with resume, lost workers, error lines.

Tests that need ``distributed`` are skipped where it is not installed; the error line
for a missing extra is tested in ``test_executor.py`` (it needs no dask and must not
hide dask from this module's running cluster).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
from pathlib import Path

import pandas as pd
import pytest

from optbench.cli import main
from optbench.run import dask_backend
from optbench.run.executor import BackendError, execute, run_task
from optbench.run.experiment import run_experiment
from optbench.run.results import load
from optbench.run.runner import StopCriteria
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.run.store import ResultStore

# A scheduler's HTTP server (loopback) moves to another port when 8787 is taken.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

SWEEP = {
    "name": "dask_sweep",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [{"name": "gd", "params": {"step_size": [1e-3, "armijo"]}}, {"name": "newton"}],
    "stop": {"max_iter": 100},
    "targets": [1e-2, 1e-4],
    "seeds": [0, 1],
}
N_SWEEP = 2 * 3 * 2
ROSENBROCK = ProblemSpec("rosenbrock", {"dim": 3})


def specs_on_rosenbrock(count: int) -> list[RunSpec]:
    stop = StopCriteria(max_iter=50)
    return [
        RunSpec(ROSENBROCK, "gd", {"step_size": 1e-3}, seed, stop, (1e-2,)) for seed in range(count)
    ]


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if c == "time" or c.startswith("time_to_")])


def assert_same_results(path: Path, reference: Path) -> None:
    """Same summary and traces except time columns."""
    pd.testing.assert_frame_equal(
        without_time(pd.read_csv(path / "summary.csv")),
        without_time(pd.read_csv(reference / "summary.csv")),
    )
    pd.testing.assert_frame_equal(
        without_time(pd.read_parquet(path / "traces.parquet")),
        without_time(pd.read_parquet(reference / "traces.parquet")),
    )


def run(out: Path, **kwargs):
    return run_experiment(SWEEP, out=out, progress=False, plot=False, **kwargs)


def write_config(tmp_path: Path, **changes) -> Path:
    import yaml

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, **changes}))
    return path


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- functions executed on the workers (pickled by value, see the cluster fixture) ---


def _install_counters() -> None:
    """Count problem builds and runs per instance label in this worker process."""
    from collections import Counter

    from optbench.run import spec, tasks

    tasks.clear_problem_cache()
    originals = getattr(spec, "_test_originals", None)
    if originals is None:
        originals = spec._test_originals = (spec.ProblemSpec.build, tasks.execute_run)
    build, execute_run = originals
    spec._test_counts = counts = {"builds": Counter(), "runs": Counter(), "blas": Counter()}

    def counting_build(self):
        counts["builds"][self.label] += 1
        return build(self)

    def counting_execute_run(run_spec, problem):
        counts["runs"][run_spec.problem.label] += 1
        counts["blas"].update(_blas_threads())
        return execute_run(run_spec, problem)

    spec.ProblemSpec.build = counting_build
    tasks.execute_run = counting_execute_run


def _blas_threads() -> set[int]:
    """Threads of each BLAS library loaded in this process."""
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def _cached_instances() -> int:
    from optbench.run import tasks

    return len(tasks._problem_cache)


def _read_counters() -> dict:
    from optbench.run import spec

    return {name: dict(counter) for name, counter in spec._test_counts.items()}


def _kill_first_time(marker: str, task, blas_threads):
    """The task function: the first call anywhere kills its worker process."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return run_task(task, blas_threads)
    os._exit(1)


def _always_kill(task, blas_threads):
    os._exit(1)


def _raise_outside_runs(task, blas_threads):
    raise RuntimeError("planted outside any run")


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on 127.0.0.1, no dashboard.

    The workers' environment asks BLAS for 2 threads (the nanny's default is 1), so
    that the per-task limit of 1 is what the tasks observe.

    ``allowed_failures=0`` makes the scheduler report a task whose worker died at once
    (``KilledWorker``) instead of rerunning it itself, so the backend's own
    resubmission is what the lost-worker tests exercise.
    """
    distributed = pytest.importorskip(
        "distributed", reason="the optional dask extra is not installed"
    )
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    environment = dict(os.environ)  # nannies set OMP_NUM_THREADS, ... in this process too
    try:
        with distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"allowed_failures": 0},
            env=dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "2"),
        ) as local_cluster:
            yield local_cluster
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        os.environ.clear()
        os.environ.update(environment)


@pytest.fixture(scope="module")
def client(cluster):
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "out"
    run(out, jobs=1)
    return out


# --- on the cluster -------------------------------------------------------------------


def test_sweep_equals_serial_and_builds_once_per_worker(tmp_path, cluster, client, serial):
    client.wait_for_workers(2, timeout=60)  # a worker killed by another test restarts
    client.run(_install_counters)
    executor_config = {"backend": "dask", "address": cluster.scheduler_address}
    results = run_experiment(
        {**SWEEP, "executor": executor_config}, out=tmp_path / "dask", progress=False, plot=False
    )
    counts = client.run(_read_counters)
    outside_tasks = client.run(_blas_threads)
    assert set(client.run(_cached_instances).values()) == {0}  # memory freed at the end

    assert results.complete and len(results.summary) == N_SWEEP
    assert_same_results(tmp_path / "dask", serial)
    executor_info = results.environment["executor"]
    assert executor_info["backend"] == "dask" and executor_info["workers"] == 2
    assert executor_info["scheduler"] == cluster.scheduler_address

    assert len(counts) == 2
    builds = [n for worker in counts.values() for n in worker["builds"].values()]
    runs = {label: 0 for label in ("rosenbrock_2d", "logistic_small")}
    for worker in counts.values():
        assert worker["builds"].keys() == worker["runs"].keys()
        for label, n in worker["runs"].items():
            runs[label] += n
    assert builds and set(builds) == {1}  # each instance built once on each worker
    assert runs == {"rosenbrock_2d": N_SWEEP // 2, "logistic_small": N_SWEEP // 2}
    assert sum(builds) < N_SWEEP  # ... and reused for the other runs of that instance
    # BLAS pinned to one thread during every run (the workers' own setting is 2 where
    # the machine has 2 cores or more: the limit is set in the task's thread)
    assert {n for worker in counts.values() for n in worker["blas"]} == {1}, outside_tasks


def test_interrupted_then_resumed_on_the_cluster_equals_serial(
    tmp_path, cluster, client, monkeypatch, serial
):
    client.wait_for_workers(2, timeout=60)
    original = ResultStore.write_batch
    written = []

    def interrupt_after_three(self, records):
        original(self, records)
        written.extend(record.run_id for record in records)
        if len(written) >= 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ResultStore, "write_batch", interrupt_after_three)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run(out, dask_address=cluster.scheduler_address)
    monkeypatch.undo()
    partial = load(out)
    # each task's runs are written as one batch as soon as it is back
    assert set(partial.summary["run_id"]) == set(written) and not partial.complete
    config = str(write_config(tmp_path))
    arguments = ["run", config, "--out", str(out), "--resume", "--quiet", "--no-plots"]
    assert main([*arguments, "--dask", cluster.scheduler_address]) == 0
    assert load(out).complete
    assert_same_results(out, serial)


def test_a_lost_scheduler_stops_with_one_line_and_keeps_finished_runs(
    tmp_path, cluster, monkeypatch, serial
):
    """Closing a second cluster after the first record: the rest of the runs are lost."""
    from distributed import LocalCluster

    doomed = LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    original = ResultStore.write_batch

    def write_then_close_the_cluster(self, records):
        original(self, records)
        if doomed.status.name == "running":
            doomed.close()

    monkeypatch.setattr(ResultStore, "write_batch", write_then_close_the_cluster)
    out = tmp_path / "lost"
    try:
        with pytest.raises(BackendError, match="lost the connection to the Dask scheduler at .*"
                           "--resume"):  # fmt: skip
            run(out, dask_address=doomed.scheduler_address)
    finally:
        doomed.close()
    monkeypatch.undo()
    partial = load(out)
    assert 1 <= len(partial.summary) < N_SWEEP  # finished runs kept, merged on the way out
    run(out, resume=True, jobs=1)
    assert_same_results(out, serial)


def test_a_task_failing_outside_any_run_stops_with_one_line(client, monkeypatch):
    monkeypatch.setattr(dask_backend, "run_task", _raise_outside_runs)
    with pytest.raises(BackendError, match="outside any run: RuntimeError: planted outside"):
        execute(specs_on_rosenbrock(2), print, backend="dask", backend_options={"client": client})


def test_a_task_lost_with_its_worker_is_resubmitted_once(tmp_path, client, monkeypatch, caplog):
    specs = specs_on_rosenbrock(6)
    reference = {}
    execute(specs, lambda rs: reference.update((r.run_id, r) for r in rs), progress=False)
    marker = tmp_path / "killed-once"
    monkeypatch.setattr(dask_backend, "run_task", functools.partial(_kill_first_time, str(marker)))
    records = {}
    with caplog.at_level(logging.WARNING, logger=dask_backend.__name__):
        execute(
            specs,
            lambda rs: records.update((r.run_id, r) for r in rs),
            backend="dask",
            progress=False,
            backend_options={"client": client},
        )
    assert marker.exists()  # a worker was killed ...
    assert "lost with a Dask worker (KilledWorker" in caplog.text  # ... and its task resubmitted
    assert records.keys() == reference.keys()
    for run_id, record in records.items():
        assert record.status == "max_iter"
        assert record.trace["f"] == reference[run_id].trace["f"]


def test_a_task_lost_twice_is_recorded_as_error(client, monkeypatch):
    monkeypatch.setattr(dask_backend, "run_task", _always_kill)
    records = []
    execute(
        specs_on_rosenbrock(1),
        records.extend,
        backend="dask",
        progress=False,
        backend_options={"client": client},
    )
    [record] = records
    assert record.status == "error"
    assert record.summary["message"].startswith(
        "lost with its Dask worker on 2 submissions: KilledWorker: the worker tcp://127.0.0.1:"
    )
    assert record.trace["iter"] == []


def test_a_plugin_file_is_imported_by_the_workers_that_run_its_solver(
    tmp_path, cluster, client, isolated_plugins
):
    from test_plugins import (
        assert_plugin_equals_gd,
        plugin_vs_gd_config,
        unique,
        write_solver_plugin,
    )

    client.wait_for_workers(2, timeout=60)  # a worker killed by another test restarts
    solver, log = unique("fixed_step"), tmp_path / "imports.log"
    plugin = write_solver_plugin(tmp_path / "my_solver.py", solver, log)
    executor_config = {"backend": "dask", "address": cluster.scheduler_address}
    config = plugin_vs_gd_config(solver, str(plugin), executor=executor_config)

    results = run_experiment(config, out=tmp_path / "out", progress=False, plot=False)

    assert_plugin_equals_gd(results.summary, solver)
    importers = log.read_text().split()
    assert len(importers) == len(set(importers)), "a process imported the plugin twice"
    workers = {str(pid) for pid in client.run(os.getpid).values()}
    assert str(os.getpid()) in importers and set(importers) - {str(os.getpid())} <= workers
    assert len(importers) >= 2  # the workers that ran tasks imported it before running them


# --- error lines ----------------------------------------------------------------------


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 0.5)
    address = f"tcp://127.0.0.1:{free_loopback_port()}"
    out = tmp_path / "out"
    code = main(["run", str(write_config(tmp_path)), "--dask", address, "--out", str(out)])
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith(
        f"optbench: error: executor.address: cannot connect to the Dask scheduler at {address} "
        "within 0.5 s:"
    )
    assert stderr.count("\n") == 1
    assert not out.exists()  # nothing written before the cluster answers


def test_bad_address_is_one_line(tmp_path):
    pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    with pytest.raises(BackendError, match=r"not a Dask scheduler address .* expected tcp://HOST"):
        run(tmp_path / "out", dask_address="127.0.0.1:notaport")


def test_dask_backend_without_address_is_one_line(tmp_path):
    pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    with pytest.raises(BackendError, match=r"needs the scheduler's address: .* or --dask ADDRESS"):
        run_experiment(
            {**SWEEP, "executor": {"backend": "dask"}}, out=tmp_path / "out", progress=False
        )
    assert not (tmp_path / "out").exists()
