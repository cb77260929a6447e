"""Results directories end to end: files and columns, errors, jobs, interruption and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from run_layouts import finished_run_ids

from optbench.registry import SOLVERS
from optbench.results_format import TRACE_COLUMNS, atomic_write_text, target_column
from optbench.run.config import load_config
from optbench.run.experiment import exit_code, run_experiment
from optbench.run.results import load
from optbench.run.store import ResultStore
from optbench.solvers.base import Solver, State

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "name": "tiny",
    "problems": [{"family": "rosenbrock", "params": {"dim": [2, 4]}}],
    "solvers": [{"name": "gd", "params": {"step_size": [1e-3, 1e-2]}}, {"name": "newton"}],
    "stop": {"max_iter": 200},
    "targets": [1e-2, 1e-6],
    "seeds": [0, 1],
}
N_TINY = 2 * 3 * 2
SUMMARY_START = ["run_id", "problem", "optimizer", "solver_label", "param_step_size", "seed",
                 "status"]  # fmt: skip
SUMMARY_RESULTS = ["message", "iters", "n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J",
                   "n_sample_g", "n_sample_hvp", "cost", "time", "time_low", "time_high",
                   "repeats", "repeat_times", "compile_time", "step_size", "f_final",
                   "f_gap_final", "grad_norm_final", "dim", "f0", "warnings"]  # fmt: skip


def config(**changes) -> dict:
    return {**TINY, **changes}


def run(out: Path, **kwargs):
    kwargs.setdefault("plot", False)
    return run_experiment(kwargs.pop("cfg", TINY), out=out, progress=False, **kwargs)


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if c.startswith("time")])


def assert_same_results(path: Path, reference: Path) -> None:
    """Same summary.csv and traces.parquet except time columns; same runs.csv."""
    for name in ("summary.csv", "runs.csv"):
        pd.testing.assert_frame_equal(
            without_time(pd.read_csv(path / name)), without_time(pd.read_csv(reference / name))
        )
    pd.testing.assert_frame_equal(
        without_time(pd.read_parquet(path / "traces.parquet")),
        without_time(pd.read_parquet(reference / "traces.parquet")),
    )


def leftover_temporaries(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.name.startswith(".tmp-")]


@dataclass(frozen=True)
class Explodes(Solver):
    """Test solver that raises in ``init``."""

    def init(self, oracle, x0):
        raise ZeroDivisionError("planted")

    def step(self, oracle, state):  # pragma: no cover - never reached
        return State(x=state.x)


@pytest.fixture
def exploding_solver():
    SOLVERS.register("explodes")(Explodes)
    yield "explodes"
    SOLVERS._entries.pop("explodes")


def test_end_to_end_files_columns_and_statuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = run_experiment(TINY, progress=False, plot=False)  # default out: results/<name>
    out = tmp_path / "results" / "tiny"
    assert results.path == Path("results/tiny")
    for name in ("config.yaml", "runs.csv", "summary.csv", "traces.parquet", "environment.json"):
        assert (out / name).is_file(), name
    assert sorted(finished_run_ids(out)) == sorted(results.runs["run_id"])  # batches
    assert not leftover_temporaries(out)

    summary = results.summary
    targets = [target_column(m, eps) for eps in (1e-2, 1e-6) for m in ("iters", "cost", "time")]
    assert list(summary.columns) == SUMMARY_START + SUMMARY_RESULTS + targets
    assert len(summary) == N_TINY and summary["run_id"].is_unique
    assert list(summary["run_id"]) == list(results.runs["run_id"])  # spec order
    by_label = summary.groupby("solver_label")["status"].agg(set).to_dict()
    assert by_label == {
        "gd[step_size=0.001]": {"max_iter"},
        "gd[step_size=0.01]": {"diverged"},
        "newton": {"converged"},
    }
    newton = summary[summary["optimizer"] == "newton"]
    assert (newton["grad_norm_final"] <= 1e-8).all()
    assert summary.loc[summary["status"] == "max_iter", "iters"].eq(200).all()
    assert summary["dim"].tolist() == [2] * 6 + [4] * 6

    traces = results.traces
    assert list(traces.columns) == ["run_id", *TRACE_COLUMNS]
    assert set(traces["run_id"]) == set(summary["run_id"])
    last = traces.groupby("run_id", sort=False).last()
    assert (last.loc[summary["run_id"], "iter"].to_numpy() == summary["iters"].to_numpy()).all()
    first = traces.groupby("run_id", sort=False).first()
    assert (first.loc[summary["run_id"], "f"].to_numpy() == summary["f0"].to_numpy()).all()

    assert results.config["name"] == "tiny" and results.config["stop"]["max_iter"] == 200
    assert len(results.runs) == N_TINY
    assert json.loads(results.runs["stop"][0])["max_iter"] == 200
    environment = results.environment
    assert environment["blas_threads_for_runs"] == 1
    assert environment["packages"]["numpy"]
    assert results.complete and exit_code(results) == 0


def test_a_raising_solver_is_an_error_and_the_rest_finish(tmp_path, exploding_solver):
    solvers = [*TINY["solvers"], {"name": exploding_solver}]
    results = run(tmp_path / "out", cfg=config(solvers=solvers))
    summary = results.summary
    errors = summary[summary["status"] == "error"]
    assert len(summary) == N_TINY + 4
    assert set(errors["optimizer"]) == {exploding_solver} and len(errors) == 4
    assert errors["message"].str.contains("ZeroDivisionError: planted").all()
    assert (summary.loc[summary["status"] != "error", "optimizer"] != exploding_solver).all()
    assert exit_code(results) == 1


def test_two_jobs_give_the_serial_results(tmp_path):
    run(tmp_path / "serial", jobs=1)
    run(tmp_path / "parallel", jobs=2, cfg=config(executor={"backend": "joblib"}))
    assert_same_results(tmp_path / "parallel", tmp_path / "serial")
    run(tmp_path / "shared", jobs=2)  # the automatic backend: this process and a worker
    assert_same_results(tmp_path / "shared", tmp_path / "serial")


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run(reference)
    original = ResultStore.write_batch
    written = []

    def interrupt_after_five(self, records):
        original(self, records)
        written.extend(record.run_id for record in records)
        if len(written) >= 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(ResultStore, "write_batch", interrupt_after_five)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run(out)
    monkeypatch.undo()
    partial = load(out)
    assert 5 <= len(written) < N_TINY and not partial.complete  # finalized on the way out
    assert list(partial.summary["run_id"]) == [i for i in partial.runs["run_id"] if i in written]
    assert exit_code(partial) == 1
    resumed = run(out, resume=True)
    assert resumed.complete and len(resumed.environment["resumed"]) == 1
    assert_same_results(out, reference)


def test_killed_process_then_resumed_equals_uninterrupted(tmp_path):
    slow = config(solvers=[{"name": "gd", "params": {"step_size": [1e-4, 2e-4]}}],
                  stop={"max_iter": 4000}, seeds=[0, 1, 2])  # fmt: skip
    total = 2 * 2 * 3
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(slow))
    out = tmp_path / "killed"
    script = (
        "import sys; from optbench.run.experiment import run_experiment; "
        "run_experiment(sys.argv[1], out=sys.argv[2], progress=False, plot=False)"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", script, str(path), str(out)],
                               env=environment, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if len(finished_run_ids(out)) >= 2:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    done = len(finished_run_ids(out))
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert 2 <= done < total, "the run finished before it could be killed"
    assert not (out / "summary.csv").exists()

    resumed = run(out, cfg=path, resume=True)
    assert resumed.complete and not leftover_temporaries(out)
    run(tmp_path / "reference", cfg=path)
    assert_same_results(out, tmp_path / "reference")


def test_create_refuses_existing_results_unless_forced(tmp_path):
    out = tmp_path / "out"
    run(out, cfg=config(seeds=[0]))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"already holds results; use --resume .* or --force"):
        run(out, cfg=config(seeds=[0]))
    results = run(out, cfg=config(seeds=[0, 1]), force=True)
    assert len(results.summary) == N_TINY
    assert (out / "notes.txt").read_text() == "mine"  # only result files are replaced
    with pytest.raises(ValueError, match="exclude each other"):
        run(out, resume=True, force=True)


def test_resume_refuses_a_different_experiment(tmp_path):
    out = tmp_path / "out"
    run(out, cfg=config(seeds=[0]))
    with pytest.raises(ValueError, match=r"cannot resume, stop differs .* 200.* 300"):
        run(out, cfg=config(seeds=[0], stop={"max_iter": 300}), resume=True)
    with pytest.raises(
        ValueError, match=r"6 run\(s\) of the config are not in it, e\.g\. .*seed 1"
    ):
        run(out, cfg=config(seeds=[0, 1]), resume=True)
    with pytest.raises(ValueError, match="cannot resume, targets differs"):
        run(out, cfg=config(seeds=[0], targets=[1e-3]), resume=True)
    not_results = tmp_path / "other"
    not_results.mkdir()
    (not_results / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="not an optbench results directory"):
        run(not_results, resume=True)


def test_resume_of_a_complete_directory_runs_nothing(tmp_path):
    out = tmp_path / "out"
    run(out, cfg=config(seeds=[0]))
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    run(out, cfg=config(seeds=[0]), resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == before


def test_load_refuses_a_directory_without_results(tmp_path):
    with pytest.raises(ValueError) as info:
        load(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: not an optbench results directory (no summary.csv / runs/)"
    )


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from optbench.results_format import atomic_write

    target = tmp_path / "summary.csv"
    atomic_write_text(target, "old")

    def failing(temporary: Path) -> None:
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert not leftover_temporaries(tmp_path)


def test_plots_are_drawn_at_the_end(tmp_path):
    run(tmp_path / "out", cfg=config(seeds=[0]), plot=True)
    drawn = list((tmp_path / "out" / "plots").iterdir())
    assert drawn and all(p.suffix == ".svg" and p.read_bytes()[:5] == b"<?xml" for p in drawn)


def tiny_records(count: int = 3):
    from optbench.run.executor import execute_spec

    specs = list(load_config(config(seeds=[0])).runs)[:count]
    return specs, [execute_spec(spec) for spec in specs]


def test_a_batch_is_complete_or_absent(tmp_path, monkeypatch):
    from optbench import results_format

    specs, records = tiny_records()
    store = ResultStore(tmp_path / "out")
    store.create({"name": "tiny"}, specs)
    original = results_format.atomic_write_text

    def disk_full_at_the_summary(path, text):
        if str(path).endswith(".jsonl"):
            return results_format.atomic_write(path, lambda tmp: (_ for _ in ()).throw(OSError))
        return original(path, text)

    monkeypatch.setattr(results_format, "atomic_write_text", disk_full_at_the_summary)
    with pytest.raises(OSError):
        store.write_batch(records)
    monkeypatch.undo()
    runs = tmp_path / "out" / "runs"
    assert store.completed_run_ids() == set() and not leftover_temporaries(runs)
    assert [p.suffix for p in runs.iterdir()] == [".parquet"]  # the trace alone: no run
    store.open_existing(specs)  # a resume removes what the cut batch left
    assert list(runs.iterdir()) == []
    store.write_batch(records)
    assert store.completed_run_ids() == {s.run_id for s in specs}
    assert sorted(p.suffix for p in runs.iterdir()) == [".jsonl", ".parquet"]


def test_ctrl_c_while_a_batch_is_written_still_writes_it(tmp_path, monkeypatch):
    from optbench import results_format

    specs, records = tiny_records()
    store = ResultStore(tmp_path / "out")
    store.create({"name": "tiny"}, specs)
    original = results_format.atomic_write_text
    calls = []

    def interrupted_once(path, text):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return original(path, text)

    monkeypatch.setattr(results_format, "atomic_write_text", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        store.write_batch(records)
    assert calls[0] == calls[1]  # the same batch, written again
    assert store.completed_run_ids() == {s.run_id for s in specs}
    store.finalize()
    summary = load(tmp_path / "out").summary
    assert list(summary["run_id"]) == [s.run_id for s in specs]
    traces = load(tmp_path / "out").traces
    assert list(traces.groupby("run_id", sort=False).size()) == [len(r.trace["f"]) for r in records]
