"""The aggregate of a summary (one groupby) against a straightforward reference.

The reference below computes every configuration's row with a boolean mask over the
summary, as the aggregate was first written; the vectorised one must give the same
frame, column for column and row for row, dtypes included, and so must the best
settings chosen from it. Per configuration, the reference takes the censored target
metrics from the scalar ``censored_median`` (tested on its own in
``test_analysis_tables.py``), which the aggregate computes for every group at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from optbench.analysis.frames import ResultsFrames
from optbench.analysis.run_summary import run_summary
from optbench.analysis.style import family_rank
from optbench.analysis.tables import (
    BAD_STATUSES,
    METRICS,
    OPTIONAL_COUNTS,
    STATUSES,
    TARGET_METRICS,
    USED_STEP,
    _sort_key,
    aggregate,
    aggregate_summary,
    best_settings,
    censored_median,
    configurations,
    param_columns,
    solver_family,
    status_counts,
    summary_targets,
    target_column,
)

# --- the reference: one mask per configuration -----------------------------------------


def reference_configurations(summary: pd.DataFrame) -> pd.DataFrame:
    families = [solver_family(r) for r in summary.to_dict("records")]
    frame = summary.assign(family=pd.Series(families, index=summary.index, dtype=object))
    params = param_columns(summary)
    configs = frame.drop_duplicates(["problem", "solver_label"])[
        ["problem", "family", "solver_label", *params]
    ]
    problem_order = {p: i for i, p in enumerate(pd.unique(summary["problem"]))}

    def key(row: Mapping[str, Any]) -> tuple:
        return (
            problem_order[row["problem"]],
            family_rank(row["family"]),
            tuple(_sort_key(row[p]) for p in params),
            row["solver_label"],
        )

    rows = sorted(configs.to_dict("records"), key=key)
    return pd.DataFrame(rows, columns=configs.columns)


def reference_status_counts(statuses: Any) -> str:
    values = [str(s) for s in statuses]
    counts = pd.Series(values).value_counts()
    order = [s for s in STATUSES if s in counts] + sorted(set(counts.index) - set(STATUSES))
    return ", ".join(f"{s} {counts[s]}/{len(values)}" for s in order)


def _spread(values: np.ndarray) -> tuple[float, float, float]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    return (float(np.median(values)), float(values.min()), float(values.max()))


def _median_step(runs: pd.DataFrame) -> float:
    if USED_STEP not in runs:
        return math.nan
    steps = pd.to_numeric(runs[USED_STEP], errors="coerce").to_numpy(dtype=float)
    steps = steps[np.isfinite(steps)]
    return float(np.median(steps)) if steps.size else math.nan


def reference_aggregate(summary: pd.DataFrame, targets: Sequence[float] | None = None):
    targets = summary_targets(summary) if targets is None else list(targets)
    target_columns = [target_column(m, eps) for eps in targets for m in TARGET_METRICS]
    rows = []
    for config in reference_configurations(summary).to_dict("records"):
        runs = summary[
            (summary["problem"] == config["problem"])
            & (summary["solver_label"] == config["solver_label"])
        ]
        row = dict(config)
        row["n_runs"] = len(runs)
        row["n_converged"] = int((runs["status"] == "converged").sum())
        row["n_bad"] = int(runs["status"].isin(BAD_STATUSES).sum())
        row["status"] = reference_status_counts(runs["status"])
        row[USED_STEP] = _median_step(runs)
        for metric in METRICS:
            if metric in OPTIONAL_COUNTS and metric not in runs:
                values = np.zeros(len(runs))
            else:
                values = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
            row[metric], row[f"{metric}_min"], row[f"{metric}_max"] = _spread(values)
        for column in target_columns:
            values = pd.to_numeric(runs[column], errors="coerce").to_numpy(dtype=float)
            median, low, high, reached = censored_median(values)
            row[column], row[f"{column}_min"], row[f"{column}_max"] = median, low, high
            row[f"{column}_reached"] = reached
        rows.append(row)
    columns = ["problem", "family", "solver_label", *param_columns(summary)]
    columns += ["n_runs", "n_converged", "n_bad", "status", USED_STEP]
    columns += [f"{m}{end}" for m in METRICS for end in ("", "_min", "_max")]
    columns += [f"{c}{end}" for c in target_columns for end in ("", "_min", "_max", "_reached")]
    return pd.DataFrame(rows, columns=columns)


def _inf_if_nan(value: Any) -> float:
    value = float(value)
    return math.inf if math.isnan(value) else value


def reference_best(summary: pd.DataFrame, targets=None, *, swept_only: bool = True):
    table = reference_aggregate(summary, targets)
    targets = sorted(summary_targets(summary) if targets is None else targets)
    rows = []
    for (problem, family), group in table.groupby(["problem", "family"], sort=False):
        if swept_only and len(group) < 2:
            continue
        target = next(
            (eps for eps in targets if group[target_column("cost", eps)].notna().any()), None
        )
        cost_column = None if target is None else target_column("cost", target)

        def rank(row: Mapping[str, Any], cost_column: str | None = cost_column) -> tuple:
            cost = math.inf if cost_column is None else _inf_if_nan(row[cost_column])
            return (
                cost,
                _inf_if_nan(row["f_gap_final"]),
                _inf_if_nan(row["grad_norm_final"]),
                row["solver_label"],
            )

        best = min(group.to_dict("records"), key=rank)
        rows.append(
            {
                "problem": problem,
                "family": family,
                "solver_label": best["solver_label"],
                "n_settings": len(group),
                "target": math.nan if target is None else target,
                "cost_to_target": math.nan if cost_column is None else best[cost_column],
                USED_STEP: best[USED_STEP],
                "f_gap_final": best["f_gap_final"],
                "grad_norm_final": best["grad_norm_final"],
            }
        )
    columns = ["problem", "family", "solver_label", "n_settings", "target"]
    columns += ["cost_to_target", USED_STEP, "f_gap_final", "grad_norm_final"]
    return pd.DataFrame(rows, columns=columns)


# --- results to compare on -------------------------------------------------------------

SWEEP_CONFIG = {
    "name": "aggregate-check",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [
        {"name": "gd", "params": {"step_size": [1e-4, 1e-3, 2e-3, 0.1, 10.0]}},
        {"name": "gd", "params": {"step_size": ["armijo", "0.5/L"]}},
        {"name": "newton_cg"},
        {"name": "lbfgs", "params": {"memory": [3, 10]}},
        {"name": "scipy", "params": {"method": ["L-BFGS-B", "BFGS"]}},
    ],
    "stop": {"max_iter": 60, "gtol": 1e-8},
    "targets": [1e-2, 1e-4, 1e-6, 1e-8],
    "seeds": [0, 1, 2],
}


@pytest.fixture(scope="module")
def run_results(tmp_path_factory):
    """A real results directory: sweeps, seeds, diverged runs, targets missed and hit."""
    from optbench.run.experiment import run_experiment

    out = tmp_path_factory.mktemp("aggregate") / "results"
    return run_experiment(SWEEP_CONFIG, out=out, progress=False, plot=False, jobs=1)


def _with_failures(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with failed, error and unknown statuses, NaN cells, shuffled rows."""
    frame = summary.copy()
    rng = np.random.default_rng(0)
    picks = rng.choice(len(frame), size=min(12, len(frame)), replace=False)
    statuses = ["failed", "error", "max_cost", "interrupted"] * 3
    frame.loc[frame.index[picks], "status"] = statuses[: len(picks)]
    frame.loc[frame.index[picks[:4]], "f_gap_final"] = np.nan
    frame.loc[frame.index[picks[4:8]], USED_STEP] = np.inf
    frame.loc[frame.index[picks[:6]], "time"] = np.inf
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def _summaries(run_results) -> dict[str, pd.DataFrame]:
    from test_analysis_tables import hand_summary, make_results

    summary = run_results.summary
    scipy_like = make_results().summary  # scipy families, diverged runs, unknown f*
    return {
        "run": summary,
        "run with failures, shuffled": _with_failures(summary),
        "synthetic families": scipy_like,
        "synthetic with failures": _with_failures(scipy_like),
        "hand-made": hand_summary(),
        "one problem": summary[summary["problem"] == summary["problem"].iloc[0]],
        "no optional counts": summary.drop(columns=["n_r", "n_J", "n_sample_g", "n_sample_hvp"]),
    }


def test_run_results_have_what_the_comparison_needs(run_results):
    summary = run_results.summary
    assert summary["problem"].nunique() == 2
    assert summary["seed"].nunique() == 3
    assert {"converged", "diverged", "max_iter"} <= set(summary["status"])
    assert summary[target_column("cost", 1e-8)].notna().any()
    assert summary[target_column("cost", 1e-8)].isna().any()


def test_aggregate_equals_the_reference(run_results):
    for name, summary in _summaries(run_results).items():
        expected = reference_aggregate(summary)
        got = aggregate_summary(summary)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)
        targets = summary_targets(summary)[1:3]
        pd.testing.assert_frame_equal(
            aggregate_summary(summary, targets), reference_aggregate(summary, targets), obj=name
        )


def test_configurations_equal_the_reference(run_results):
    for name, summary in _summaries(run_results).items():
        pd.testing.assert_frame_equal(
            configurations(summary), reference_configurations(summary), obj=name
        )


def test_best_settings_equal_the_reference(run_results):
    for name, summary in _summaries(run_results).items():
        for swept_only in (True, False):
            pd.testing.assert_frame_equal(
                best_settings(summary, swept_only=swept_only),
                reference_best(summary, swept_only=swept_only),
                check_exact=True,
                obj=f"{name}, swept_only={swept_only}",
            )
        no_targets = summary.drop(columns=[c for c in summary if "_to_" in c])
        pd.testing.assert_frame_equal(
            best_settings(no_targets), reference_best(no_targets), obj=f"{name} without targets"
        )


def test_empty_summary_gives_empty_tables(run_results):
    empty = run_results.summary.iloc[:0]
    pd.testing.assert_frame_equal(aggregate_summary(empty), reference_aggregate(empty))
    pd.testing.assert_frame_equal(best_settings(empty), reference_best(empty))


def test_status_counts_by_one_count(run_results):
    statuses = _with_failures(run_results.summary)["status"]
    assert status_counts(statuses) == reference_status_counts(statuses)
    assert status_counts([]) == ""


def test_aggregate_is_computed_once_per_results(run_results, monkeypatch):
    import optbench.analysis.tables as tables

    calls = []
    original = tables.aggregate_summary

    def counted(summary, targets=None):
        calls.append(1)
        return original(summary, targets)

    monkeypatch.setattr(tables, "aggregate_summary", counted)
    first = aggregate(run_results)
    assert aggregate(run_results) is first
    assert aggregate(run_results, summary_targets(run_results.summary)) is first
    run_summary(run_results)
    best = tables.results_best_settings(run_results)
    assert tables.results_best_settings(run_results) is best
    assert len(calls) == 1
    other = aggregate(run_results, [1e-4])
    assert other is not first and len(calls) == 2
    frames = ResultsFrames(summary=run_results.summary.copy())
    aggregate(frames)
    assert len(calls) == 3  # another summary object: its own aggregate
    pd.testing.assert_frame_equal(best, best_settings(run_results.summary))


def test_report_and_printed_summary_share_one_aggregate(run_results, monkeypatch):
    import optbench.analysis.tables as tables
    from optbench.analysis.report import build_sections
    from optbench.run.results import load

    results = load(run_results.path)  # a fresh Results: nothing kept yet
    calls = []
    original = tables.aggregate_summary
    monkeypatch.setattr(
        tables, "aggregate_summary", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    build_sections(results)
    run_summary(results)
    assert len(calls) == 1
    results.verify()  # re-reads the tables: what was derived from them goes too
    run_summary(results)
    assert len(calls) == 2


def test_run_summary_lines_per_problem_as_by_masks(run_results):
    from test_analysis_tables import make_results

    from optbench.analysis.run_summary import best_lines, status_tally

    for results in (make_results(), run_results):
        summary = results.summary
        targets = summary_targets(summary)
        table = reference_aggregate(summary, targets)
        expected = []
        for problem in pd.unique(summary["problem"]):
            runs = summary[summary["problem"] == problem]
            expected.append(f"{problem}: {status_tally(runs['status'])}")
            if runs["f_gap_final"].isna().all():
                expected.append("  no fixed targets (f* unknown)")
                continue
            expected += best_lines(table[table["problem"] == problem], targets)
        lines = run_summary(results).splitlines()
        assert lines[1 : 1 + len(expected)] == expected
