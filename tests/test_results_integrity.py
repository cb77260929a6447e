"""Incomplete or damaged results: report, plot and compare check the merged tables
against the run files (batches), name what is missing or damaged, and rebuild them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from run_layouts import batch_rows, finished_run_ids, to_per_run_layout

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
    return sorted(finished_run_ids(directory))


def batches(directory: Path) -> dict[str, list[str]]:
    """Run ids of each batch of ``directory``, by batch name."""
    return {
        name: [row["run_id"] for row in rows]
        for name, rows in batch_rows(directory / "runs").items()
    }


def test_finished_results_pass_the_check_silently(pristine, capsys):
    check = verify_results(pristine)
    assert check.messages() == [] and check.merged_ok and len(check.finished) == PLANNED
    assert main(["report", str(pristine)]) == 0
    assert warnings_of(capsys) == []


def test_report_on_an_interrupted_directory_says_how_many_runs_are_missing(results, capsys):
    name, lost = next(iter(batches(results).items()))  # as if interrupted: never finished
    (results / "runs" / f"{name}.jsonl").unlink()  # its trace alone: cut between the files
    (results / "summary.csv").unlink()
    (results / "traces.parquet").unlink()
    kept = PLANNED - len(lost)

    assert main(["report", str(results)]) == 0
    warnings = warnings_of(capsys)
    assert warnings[0] == (
        f"optbench: warning: {results}: {kept} of {PLANNED} runs finished, {len(lost)} missing; "
        f"to run them: optbench run {results}/config.yaml --out {results} --resume"
    )
    assert any("summary.csv: missing" in line for line in warnings)
    assert len(pd.read_csv(results / "summary.csv")) == kept  # rebuilt
    report = (results / "report.md").read_text()
    assert f"missing: {len(lost)} of {PLANNED} planned runs" in report

    resume = ["run", str(results / "config.yaml"), "--out", str(results), "--resume"]
    assert main([*resume, "--quiet", "--no-plots"]) == 0
    assert len(run_ids(results)) == PLANNED
    assert not (results / "runs" / f"{name}.parquet").exists()  # the orphan trace removed


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
    assert f"{summary}: run {run_id} has iters = {str(iters)[0]}, its run file has {iters}" in (
        check.problems
    )
    assert check.rebuilt and summary.read_text() == whole


@pytest.mark.parametrize("damage", ["trace", "summary"])
def test_a_damaged_batch_is_set_aside_its_runs_counted_missing_and_rerun(results, damage):
    name, victims = list(batches(results).items())[-1]
    if damage == "trace":
        (results / "runs" / f"{name}.parquet").write_bytes(b"PAR1 cut")
    else:  # a summary line cut short
        path = results / "runs" / f"{name}.jsonl"
        path.write_text(path.read_text()[:-30])
    damaged = "parquet" if damage == "trace" else "jsonl"
    check = verify_results(results)
    assert sorted(check.missing) == sorted(victims)
    problem = f"runs/{name}.{damaged}: unreadable"
    assert any(problem in line and "its runs count as missing" in line for line in check.problems)
    assert (results / "runs" / f"{name}.{damaged}.damaged").exists()  # kept, set aside
    assert len(pd.read_csv(results / "summary.csv")) == PLANNED - len(victims)
    resume = ["run", str(results / "config.yaml"), "--out", str(results), "--resume"]
    assert main([*resume, "--quiet", "--no-plots"]) == 0
    assert set(victims) <= set(run_ids(results)) and verify_results(results).messages() == []


def test_a_batch_holding_a_run_of_another_is_set_aside(results):
    first, second = list(batches(results))[:2]
    runs = results / "runs"
    copied = runs / f"{first}.jsonl"
    extra = (runs / f"{second}.jsonl").read_text().splitlines()[0]
    copied.write_text(copied.read_text() + extra + "\n")  # a run of the second, again
    check = verify_results(results)
    assert any("also in" in line for line in check.problems) and check.rebuilt
    assert (runs / f"{second}.jsonl.damaged").exists() or (runs / f"{first}.jsonl.damaged").exists()
    summary = pd.read_csv(results / "summary.csv", dtype={"run_id": str})
    assert summary["run_id"].is_unique


def test_results_in_the_per_run_layout_load_verify_and_resume(pristine, results):
    """Directories written before batches: one .parquet and one .json per run."""
    ids = to_per_run_layout(results)
    assert sorted(ids) == run_ids(pristine) and not list((results / "runs").glob("batch-*"))
    assert verify_results(results).messages() == []  # merged tables agree with the run files
    for name in ("summary.csv", "traces.parquet"):
        (results / name).unlink()
    lost = ids[:3]
    for run_id in lost:  # as if interrupted before these
        (results / "runs" / f"{run_id}.json").unlink()
    loaded = load(results)
    assert len(loaded.summary) == PLANNED - 3 and not loaded.complete
    resume = ["run", str(results / "config.yaml"), "--out", str(results), "--resume"]
    assert main([*resume, "--quiet", "--no-plots"]) == 0
    assert run_ids(results) == run_ids(pristine) and verify_results(results).messages() == []
    assert len(list((results / "runs").glob("*.json"))) == PLANNED - 3  # the old files stay
    for name in ("summary.csv", "runs.csv"):
        expected = pd.read_csv(pristine / name, dtype={"run_id": str})
        actual = pd.read_csv(results / name, dtype={"run_id": str})
        pd.testing.assert_frame_equal(without_time(actual), without_time(expected))
    expected = pd.read_parquet(pristine / "traces.parquet")
    actual = pd.read_parquet(results / "traces.parquet")
    pd.testing.assert_frame_equal(without_time(actual), without_time(expected))


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if str(c).startswith("time")])


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


def test_compare_refuses_a_truncated_summary_without_run_files(pristine, tmp_path, capsys):
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    whole = (pristine / "summary.csv").read_text()
    (baseline / "summary.csv").write_text(whole[:-40])
    assert main(["compare", str(pristine), str(baseline)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{baseline / 'summary.csv'}: cut short" in err and "no run files" in err


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
    name, lost = next(iter(batches(results).items()))
    (results / "runs" / f"{name}.jsonl").unlink()
    with ResultsLock(results, command="optbench run"):
        first = verify_results(results).messages()[0]
    kept = PLANNED - len(lost)
    assert first.startswith(f"{results}: {kept} of {PLANNED} runs finished, {len(lost)} not yet; ")
    assert "in use by optbench run" in first and "--resume" not in first
