"""The results format's one home: names, readers, atomic writes, old directories, repeats."""

from __future__ import annotations

import ast
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optbench import results_format as rf
from optbench.bootstrap import median_interval, ratio_interval
from optbench.run.records import combine_repeats, summary_row
from optbench.run.runner import StopCriteria, run_solver
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.solvers import make_solver

PACKAGE = Path(rf.__file__).parent


# --- one home --------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["run", "analysis"])
def test_no_module_of_run_or_analysis_spells_the_format(layer):
    """File names, the temporary-file write and summary parsing live in results_format only
    (docstrings may name the files; code may not)."""
    names = {*rf.RESULT_FILES, rf.REPORT_FILE}
    for path in sorted((PACKAGE / layer).glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        literals = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
        ]
        assert not names & set(literals), (path.name, names & set(literals))
        assert "mkstemp" not in source and ".replace(path)" not in source, path.name
        spelled = [s for s in literals if rf.is_target_column(s) or s.endswith("_to_")]
        assert not spelled, (path.name, spelled)  # target column names


def test_results_format_is_a_leaf():
    imported = set()
    for node in ast.walk(ast.parse((PACKAGE / "results_format.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {m for m in imported if m.startswith(("optbench.run", "optbench.analysis"))}


# --- target columns ---------------------------------------------------------------------


def test_target_columns_round_trip():
    assert rf.target_column("cost", 1e-4) == "cost_to_1e-04"
    assert rf.target_column("iters", 1.5e-3) == "iters_to_1.5e-03"
    assert rf.parse_target_column("time_to_1.5e-03") == ("time", 1.5e-3)
    assert rf.parse_target_column("step_size") is None
    assert rf.parse_target_column("cost_to_x") is None
    columns = ["iters", "iters_to_1e-02", "cost_to_1e-02", "iters_to_1e-06", "cost_to_1e-08"]
    assert rf.summary_targets(columns) == [1e-2, 1e-6]  # cost_to_1e-08 has no iters column
    with pytest.raises(ValueError, match="did you mean 'cost'"):
        rf.target_column("costs", 1e-4)


def test_parameters_named_like_a_result_column_get_a_prefix():
    assert rf.parameter_column_name("step_size") == "param_step_size"
    assert rf.parameter_column_name("time_to_1e-02") == "param_time_to_1e-02"
    assert rf.parameter_column_name("memory") == "memory"
    assert rf.parameter_columns(["run_id", "memory", "step_size", "family", "cost_to_1e-2"]) == [
        "memory"
    ]


def test_used_step_size_is_the_median_of_the_steps_taken():
    assert rf.used_step_size([math.nan, 0.25, 0.25, 0.25]) == 0.25
    assert rf.used_step_size([None, 0.1, 0.4, 0.2]) == 0.2
    assert rf.used_step_size([math.nan, 0.0, 0.5, 0.0, 1.0]) == 0.75  # rejected steps are 0
    assert math.isnan(rf.used_step_size([math.nan]))


# --- reading ----------------------------------------------------------------------------


def _old_summary_csv(path: Path) -> Path:
    """A summary.csv as an older optbench wrote it: ``step_size`` is gd's parameter, no
    ``n_r``, ``n_J``, ``compile_time``, repeat or ``param_`` columns."""
    path.mkdir()
    text = (
        "run_id,problem,optimizer,solver_label,step_size,seed,status,message,iters,"
        "n_f,n_g,n_hvp,n_hess,cost,time,f_final,f_gap_final,grad_norm_final,dim,f0,"
        "warnings,iters_to_1e-02,cost_to_1e-02,time_to_1e-02\n"
        "012345678901,quad,gd,gd[step_size=1/L],1/L,0,converged,,10,11,11,0,0,11.0,0.01,"
        "1.0,0.0,1e-9,2,5.0,,3,4.0,0.003\n"
        "1e5000000000,quad,gd,gd[step_size=0.1],0.1,0,max_iter,reached,20,21,21,0,0,21.0,"
        "0.02,1.5,0.5,1e-3,2,5.0,,,,\n"
        "222222222222,quad,gd,gd[step_size=armijo],armijo,0,converged,,5,9,6,0,0,10.5,0.01,"
        "1.0,0.0,1e-9,2,5.0,,2,3.0,0.002\n"
        "333333333333,quad,newton,newton,,0,converged,,3,4,4,0,3,7.0,0.01,1.0,0.0,1e-12,2,"
        "5.0,,1,2.0,0.001\n"
    )
    (path / rf.SUMMARY_FILE).write_text(text, encoding="utf-8")
    return path


def test_an_old_summary_reads_in_the_current_format(tmp_path):
    summary = rf.read_summary(_old_summary_csv(tmp_path / "old"))
    assert summary["run_id"].tolist()[:2] == ["012345678901", "1e5000000000"]  # text, kept
    assert summary["message"].tolist() == ["", "reached", "", ""]
    assert summary["warnings"].tolist() == [""] * 4
    assert summary["param_step_size"].tolist()[:3] == ["1/L", "0.1", "armijo"]
    steps = summary["step_size"].tolist()
    assert math.isnan(steps[0]) and steps[1] == 0.1 and math.isnan(steps[2])  # c/L: re-run
    assert math.isnan(steps[3])
    assert summary["repeats"].tolist() == [1] * 4
    assert (summary[["n_r", "n_J"]] == 0).all().all() and (summary["compile_time"] == 0).all()
    assert summary["time_low"].isna().all() and summary["repeat_times"].tolist() == [""] * 4
    assert rf.parameter_columns(summary.columns) == ["param_step_size"]
    assert list(summary.columns) == rf.summary_column_order(summary.columns)


def test_an_old_results_directory_loads_reports_and_compares(tmp_path):
    from optbench.analysis.compare import compare_results
    from optbench.analysis.report import build_report
    from optbench.run.results import load

    old = _old_summary_csv(tmp_path / "old")
    results = load(old)
    assert "param_step_size" in results.summary
    assert "quad" in build_report(results)
    assert compare_results(old, old).exit_code == 0


def test_read_summary_of_the_current_format_changes_nothing(tmp_path):
    frame = rf.read_summary(_old_summary_csv(tmp_path / "old"))
    frame.to_csv(tmp_path / "new.csv", index=False)
    again = rf.read_summary(tmp_path / "new.csv")
    pd.testing.assert_frame_equal(again, frame)


# --- writing ----------------------------------------------------------------------------


def test_atomic_write_replaces_whole_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    rf.atomic_write_text(target, "first")
    rf.atomic_write_text(target, "second")
    assert target.read_text() == "second"
    mode = stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask

    def fails(temporary: Path) -> None:
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        rf.atomic_write(target, fails)
    assert target.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]
    copy = rf.atomic_copy(target, tmp_path / "copy.txt")
    assert copy.read_text() == "second"


# --- bootstrap --------------------------------------------------------------------------


def test_median_and_ratio_intervals_by_hand():
    assert median_interval(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)
    assert all(math.isnan(v) for v in median_interval(np.array([1.0])))
    low, high = median_interval(np.array([1.0, 3.0]))
    assert 1.0 <= low <= high <= 3.0  # medians of resamples of {1, 3}: 1, 2 or 3
    assert ratio_interval(np.array([2.0]), np.array([1.0])) == (2.0, 2.0, 2.0)
    slow = np.array([2.0, 2.1, 1.9, 2.0, 2.05])
    fast = np.array([1.0, 1.05, 0.95, 1.0, 1.02])
    ratio, low, high = ratio_interval(slow, fast)
    assert ratio == 2.0 and 1.25 < low <= ratio <= high < 2.3
    ratio, low, high = ratio_interval(fast, fast)
    assert ratio == 1.0 and low < 1.0 < high


# --- repeats ----------------------------------------------------------------------------

QUAD = ProblemSpec("least_squares", {"n_samples": 30, "n_features": 5, "seed": 0})


def _spec(**changes) -> RunSpec:
    fields = dict(
        problem=QUAD,
        solver="gd",
        solver_params={"step_size": "1/L"},
        seed=0,
        stop=StopCriteria(max_iter=40),
        targets=(1e-2,),
    )
    return RunSpec(**{**fields, **changes})


def test_the_step_size_column_is_the_resolved_step():
    spec = _spec()
    problem = spec.problem.build()
    result = run_solver(problem, make_solver("gd", step_size="1/L"), spec.stop, targets=(1e-2,))
    row = summary_row(spec, result)
    assert row["param_step_size"] == "1/L"
    assert row["step_size"] == 1.0 / problem.smoothness().L  # the number c/L, exactly
    armijo = run_solver(problem, make_solver("gd"), spec.stop)
    taken = armijo.trace["step_size"].to_numpy()[1:]
    assert armijo.step_size == float(np.median(taken[taken > 0]))


def test_repeats_report_the_median_time_and_its_interval(tmp_path):
    from optbench import run as run_experiment

    config = {
        "name": "rep",
        "problems": [{"family": "least_squares", "params": {"n_samples": 30, "n_features": 5}}],
        "solvers": [{"name": "gd", "params": {"step_size": "1/L"}}, {"name": "newton"}],
        "stop": {"max_iter": 40},
        "targets": [1e-2],
        "repeat": 3,
    }
    results = run_experiment(config, out=tmp_path / "rep", progress=False, plot=False)
    summary = results.summary
    assert summary["repeats"].tolist() == [3, 3]
    assert summary["warnings"].tolist() == ["", ""]
    for row in summary.itertuples():
        times = rf.parse_times(row.repeat_times)
        assert len(times) == 3 and row.time == float(np.median(times))
        assert min(times) <= row.time_low <= row.time <= row.time_high <= max(times)
    traces = results.traces
    assert traces.groupby("run_id")["iter"].apply(lambda s: s.is_unique).all()  # one trace
    runs = pd.read_csv(tmp_path / "rep" / rf.RUNS_FILE)
    assert runs["repeat"].tolist() == [3, 3]


def test_repeats_whose_counts_differ_are_flagged():
    spec = _spec(repeat=3)
    problem = spec.problem.build()
    solver = make_solver("gd", step_size="1/L")
    results = [
        run_solver(problem, solver, StopCriteria(max_iter=n), targets=(1e-2,)) for n in (5, 5, 7)
    ]
    repeats = combine_repeats(results)
    # gd with a fixed step: one fused value and gradient at x0 and at each step
    assert repeats.mismatch == "iters 5, 5, 7; n_f 6, 6, 8; n_g 6, 6, 8; cost 6.0, 6.0, 8.0"
    assert repeats.kept == 0  # the first repeat's trace when they disagree
    row = summary_row(spec, results[0], repeats=repeats)
    assert row["iters"] == 5 and row["repeats"] == 3
    assert row["warnings"].startswith(f"{rf.REPEAT_MISMATCH}: counts differ across repeats")
    agreeing = combine_repeats(results[:2])
    assert agreeing.mismatch == "" and agreeing.times == (results[0].time, results[1].time)


def test_execute_run_flags_a_run_whose_repeats_differ(monkeypatch):
    from optbench.run import tasks

    calls = []

    def drifting(problem, solver, stop, **kwargs):
        calls.append(1)
        drift = StopCriteria(max_iter=stop.max_iter + len(calls) - 1)  # one more each time
        return run_solver(problem, solver, drift, **kwargs)

    monkeypatch.setattr(tasks, "run_solver", drifting)
    spec = _spec(repeat=2, stop=StopCriteria(max_iter=4))
    record = tasks.execute_run(spec, spec.problem.build())
    assert len(calls) == 2
    assert record.summary["iters"] == 4
    assert "RepeatMismatch: counts differ across repeats: iters 4, 5" in record.summary["warnings"]
    assert record.trace["iter"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True])
def test_repeat_is_validated_with_one_line(tmp_path, capsys, value):
    import yaml

    from optbench.cli import main

    config = {
        "name": "bad",
        "problems": [{"family": "rosenbrock", "params": {"dim": 2}}],
        "solvers": [{"name": "newton"}],
        "repeat": value,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "repeat:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_resume_refuses_another_repeat_and_reads_old_runs_csv_as_one(tmp_path):
    from optbench import run as run_experiment

    config = {
        "name": "res",
        "problems": [{"family": "rosenbrock", "params": {"dim": 2}}],
        "solvers": [{"name": "newton"}],
    }
    out = tmp_path / "res"
    run_experiment(config, out=out, progress=False, plot=False)
    with pytest.raises(ValueError, match="cannot resume, repeat differs .* stored 1, config 2"):
        run_experiment({**config, "repeat": 2}, out=out, resume=True, progress=False, plot=False)
    runs = pd.read_csv(out / rf.RUNS_FILE)
    runs.drop(columns="repeat").to_csv(out / rf.RUNS_FILE, index=False)  # as written before
    resumed = run_experiment(config, out=out, resume=True, progress=False, plot=False)
    assert resumed.complete and resumed.summary["repeats"].tolist() == [1]
