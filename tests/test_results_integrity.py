"""Incomplete or damaged results: report, plot and compare check the merged tables
against the per-run files, name what is missing or damaged, and rebuild them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from optbench.cli import main
from optbench.run.lock import ResultsLock
from optbench.run.results import load
from optbench.run.verify import verify_results

CONFIG = {
    "name": "integrity",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [{"name": "gd", "params": {"step_size": "armijo"}}, {"name": "newton_cg"}],
    "stop": {"gtol": 1e-6, "max_iter": 2000},
    "targets": [1e-2, 1e-6],
    "seeds": [0, 1, 2],
}
PLANNED = 12


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("integrity")
    config = folder / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = folder / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--no-plots"]) == 0
    return out


@pytest.fixture
def results(pristine, tmp_path) -> Path:
    """A fresh copy of the finished results directory."""
    return Path(shutil.copytree(pristine, tmp_path / "out"))


def warnings_of(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line]


def run_ids(directory: Path) -> list[str]:
    return sorted(path.stem for path in (directory / "runs").glob("*.json"))


def test_finished_results_pass_the_check_silently(pristine, capsys):
    check = verify_results(pristine)
    assert check.messages() == [] and check.merged_ok and len(check.finished) == PLANNED
    assert main(["report", str(pristine)]) == 0
    assert warnings_of(capsys) == []


def test_report_on_an_interrupted_directory_says_how_many_runs_are_missing(results, capsys):
    for run_id in run_ids(results)[:5]:  # as if interrupted: these never finished
        (results / "runs" / f"{run_id}.json").unlink()
        (results / "runs" / f"{run_id}.parquet").unlink()
    (results / "summary.csv").unlink()
    (results / "traces.parquet").unlink()

    assert main(["report", str(results)]) == 0
    warnings = warnings_of(capsys)
    assert warnings[0] == (
        f"optbench: warning: {results}: 7 of {PLANNED} runs finished, 5 missing; to run them: "
        f"optbench run {results}/config.yaml --out {results} --resume"
    )
    assert any("summary.csv: missing" in line for line in warnings)
    assert len(pd.read_csv(results / "summary.csv")) == 7  # rebuilt
    report = (results / "report.md").read_text()
    assert f"missing: 5 of {PLANNED} planned runs" in report

    resume = ["run", str(results / "config.yaml"), "--out", str(results), "--resume"]
    assert main([*resume, "--quiet", "--no-plots"]) == 0
    assert len(run_ids(results)) == PLANNED


def test_a_truncated_summary_is_detected_named_and_rebuilt(results, capsys):
    summary = results / "summary.csv"
    whole = summary.read_text()
    summary.write_text(whole[: whole.rindex("\n", 0, len(whole) - 1) + 30])  # last row cut
    assert main(["report", str(results)]) == 0
    warnings = warnings_of(capsys)
    assert f"optbench: warning: {summary}: cut short (its last row is incomplete)" in warnings
    assert warnings[-1].endswith("summary.csv and traces.parquet rebuilt from runs/")
    assert summary.read_text() == whole


def test_a_changed_value_is_named_by_run_and_column(results, capsys):
    summary = results / "summary.csv"
    whole = summary.read_text()
    frame = pd.read_csv(summary, dtype={"run_id": str})
    row = int(frame["iters"].to_numpy().argmax())  # a run with the most iterations
    iters = int(frame.loc[row, "iters"])
    frame.loc[row, "iters"] = int(str(iters)[0])  # "2000" cut to "2", row still whole
    frame.to_csv(summary, index=False)
    check = verify_results(results)
    run_id = frame.loc[row, "run_id"]
    assert f"{summary}: run {run_id} has iters = {str(iters)[0]}, its per-run file has {iters}" in (
        check.problems
    )
    assert check.rebuilt and summary.read_text() == whole


def test_a_damaged_run_file_is_set_aside_counted_missing_and_rerun(results, capsys):
    victim = run_ids(results)[0]
    (results / "runs" / f"{victim}.parquet").write_bytes(b"PAR1 cut")
    check = verify_results(results)
    assert check.missing == [victim]
    assert any(f"runs/{victim}.parquet: unreadable" in line for line in check.problems)
    assert (results / "runs" / f"{victim}.parquet.damaged").exists()
    assert len(pd.read_csv(results / "summary.csv")) == PLANNED - 1
    resume = ["run", str(results / "config.yaml"), "--out", str(results), "--resume"]
    assert main([*resume, "--quiet", "--no-plots"]) == 0
    assert victim in run_ids(results) and verify_results(results).messages() == []


def test_plot_uses_the_same_check(results, capsys):
    (results / "traces.parquet").write_bytes(b"not parquet")
    assert main(["plot", str(results), "--kind", "convergence"]) == 0
    warnings = warnings_of(capsys)
    assert any(f"{results / 'traces.parquet'}: unreadable" in line for line in warnings)
    assert verify_results(results).messages() == []


def test_compare_checks_and_rebuilds_before_comparing(pristine, results, capsys):
    summary = results / "summary.csv"
    whole = summary.read_text()
    summary.write_text(whole[:-40])
    assert main(["compare", str(results), str(pristine)]) == 0
    assert any("summary.csv: cut short" in line for line in warnings_of(capsys))
    assert summary.read_text() == whole


def test_compare_refuses_a_truncated_summary_without_per_run_files(pristine, tmp_path, capsys):
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    whole = (pristine / "summary.csv").read_text()
    (baseline / "summary.csv").write_text(whole[:-40])
    assert main(["compare", str(pristine), str(baseline)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{baseline / 'summary.csv'}: cut short" in err and "no per-run files" in err


def test_while_a_run_holds_the_lock_nothing_is_rewritten_and_runs_are_read(results, capsys):
    summary = results / "summary.csv"
    summary.write_text(summary.read_text()[:-40])
    damaged = summary.read_text()
    with ResultsLock(results):
        loaded = load(results)
        check = loaded.verify()
        assert not check.merged_ok and "in use by" in check.in_use
        assert check.messages()[-1].endswith("not rebuilt while in use; reading runs/ instead")
        assert summary.read_text() == damaged
        assert len(loaded.summary) == PLANNED and loaded.summary["iters"].notna().all()


def test_missing_runs_of_a_run_in_progress_are_not_sent_to_resume(results):
    (results / "runs" / f"{run_ids(results)[0]}.json").unlink()
    with ResultsLock(results, command="optbench run"):
        first = verify_results(results).messages()[0]
    assert first.startswith(f"{results}: {PLANNED - 1} of {PLANNED} runs finished, 1 not yet; ")
    assert "in use by optbench run" in first and "--resume" not in first
