"""Convergence tables and the markdown report on hand-made results."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from optbench.analysis.formatting import format_number, format_spread, format_table
from optbench.analysis.frames import ResultsFrames
from optbench.analysis.report import SECTION_BUILDERS, build_report, print_report, write_report
from optbench.analysis.tables import (
    aggregate_summary,
    best_settings,
    censored_median,
    family_key,
    solver_family,
    status_counts,
    summary_targets,
    target_column,
)

TARGETS = (1e-2, 1e-4, 1e-6, 1e-8)
SEEDS = (0, 1, 2)
#: Problems: label -> (f* known, initial f - f* or gradient norm).
PROBLEMS = {
    "quadratic[dim=10]": (True, 10.0),
    "rosenbrock[dim=100,variant=chained]": (True, 500.0),
    "logistic_unknown_fstar": (False, 3.0),
}
#: Solver configurations: (optimizer, params, contraction per iteration, cost per iteration).
#: A contraction above 1 diverges.
CONFIGS = [
    ("gd", {"step_size": 0.01}, 0.97, 1.0),
    ("gd", {"step_size": 0.1}, 0.80, 1.0),
    ("gd", {"step_size": 1.0}, 3.0, 1.0),
    ("newton_cg", {"forcing": "sqrt"}, 0.2, 4.0),
    ("scipy", {"method": "L-BFGS-B"}, 0.5, 1.2),
    ("scipy", {"method": "BFGS"}, 0.55, 1.1),
]
MAX_ITER = 150


def _label(optimizer: str, params: dict) -> str:
    body = ",".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items())
    )
    return f"{optimizer}[{body}]"


def make_results(path=None) -> ResultsFrames:
    """Synthetic results: linear convergence traces and the matching summary rows."""
    trace_frames, summary_rows = [], []
    run = 0
    for problem, (f_star_known, start) in PROBLEMS.items():
        for optimizer, params, rate, cost_per_iter in CONFIGS:
            for seed in SEEDS:
                run += 1
                run_id = f"run{run:04d}"
                seed_rate = rate * (1 + 0.02 * seed) if rate < 1 else rate
                values = [start * (1 + 0.1 * seed)]
                status, message = "max_iter", "iteration budget reached"
                while len(values) <= MAX_ITER:
                    if values[-1] <= 1e-10:
                        status, message = "converged", "gtol reached"
                        break
                    if values[-1] > 1e12:
                        values[-1] = math.inf
                        status, message = "diverged", f"f = inf at iteration {len(values) - 1}"
                        break
                    values.append(values[-1] * seed_rate)
                iters = np.arange(len(values))
                values = np.array(values)
                cost = cost_per_iter * (iters + 1)
                time = 1e-4 * cost * (1 + 0.05 * seed)
                f_gap = values if f_star_known else np.full(len(values), np.nan)
                trace_frames.append(
                    pd.DataFrame(
                        {
                            "run_id": run_id,
                            "problem": problem,
                            "optimizer": optimizer,
                            "iter": iters,
                            "time": time,
                            "f": 1.0 + values,
                            "f_gap": f_gap,
                            "grad_norm": np.sqrt(values),
                            "n_f": iters + 1,
                            "n_g": iters + 1,
                            "n_hvp": 3 * iters if optimizer == "newton_cg" else 0,
                            "n_hess": 0,
                            "cost": cost,
                            "step_size": params.get("step_size", np.nan),
                        }
                    )
                )
                row = {
                    "run_id": run_id,
                    "problem": problem,
                    "optimizer": optimizer,
                    "solver_label": _label(optimizer, params),
                    "param_step_size": params.get("step_size", np.nan),
                    "forcing": params.get("forcing"),
                    "method": params.get("method"),
                    "seed": seed,
                    "status": status,
                    "message": message,
                    "iters": int(iters[-1]),
                    "n_f": int(iters[-1] + 1),
                    "n_g": int(iters[-1] + 1),
                    "n_hvp": int(3 * iters[-1]) if optimizer == "newton_cg" else 0,
                    "n_hess": 0,
                    "cost": float(cost[-1]),
                    "time": float(time[-1]),
                    "step_size": params.get("step_size", np.nan),  # the fixed step used
                    "f_final": 1.0 + values[-1],
                    "f_gap_final": f_gap[-1],
                    "grad_norm_final": math.sqrt(values[-1]),
                    "dim": 10,
                    "f0": 1.0 + values[0],
                }
                for eps in TARGETS:
                    hit = np.flatnonzero(f_gap <= eps)
                    for metric, series in (("iters", iters), ("cost", cost), ("time", time)):
                        row[target_column(metric, eps)] = series[hit[0]] if hit.size else np.nan
                summary_rows.append(row)
    return ResultsFrames(
        summary=pd.DataFrame(summary_rows),
        traces=pd.concat(trace_frames, ignore_index=True),
        config={"name": "synthetic", "stop": {"gtol": 1e-5, "max_iter": MAX_ITER}},
        path=path,
    )


def _runs(values: dict[str, list], **common) -> pd.DataFrame:
    """Three runs of one configuration with the given per-seed column values."""
    frame = pd.DataFrame({"seed": [0, 1, 2], **values})
    for key, value in common.items():
        frame[key] = value
    return frame


def _hits(eps: str, iters: list, cost: list, time: list) -> dict[str, list]:
    """The summary columns of target ``eps`` (e.g. ``"1e-04"``): iterations, cost, time."""
    return {f"iters_to_{eps}": iters, f"cost_to_{eps}": cost, f"time_to_{eps}": time}


#: Columns of every run of :func:`hand_summary`.
HAND_COMMON = {"problem": "p", "n_f": 1, "n_g": 1, "n_hvp": 0, "n_hess": 0, "grad_norm_final": 1e-9}


def _gd_runs(
    step_size: float, values: dict[str, list], message: str | list[str] = ""
) -> pd.DataFrame:
    """Three runs of gd with ``step_size`` (see :func:`_runs`)."""
    label = f"gd[step_size={step_size:g}]"
    common = dict(optimizer="gd", solver_label=label, step_size=step_size, message=message)
    return _runs(values, **common, **HAND_COMMON)


def hand_summary() -> pd.DataFrame:
    """Two gd step sizes and one newton_cg on a problem, exact numbers per seed."""
    small = _gd_runs(
        0.01,
        {
            "run_id": ["a0", "a1", "a2"],
            "status": ["converged", "converged", "max_iter"],
            "iters": [10, 40, 20],
            "cost": [10.0, 40.0, 20.0],
            "time": [0.1, 0.4, 0.2],
            "f_gap_final": [1e-9, 3e-9, 2e-9],
            **_hits("1e-04", [5.0, np.nan, 7.0], [5.0, np.nan, 7.0], [0.05, np.nan, 0.07]),
            **_hits("1e-08", [9.0, np.nan, np.nan], [9.0, np.nan, np.nan], [0.09, np.nan, np.nan]),
        },
    )
    large = _gd_runs(
        1.0,
        {
            "run_id": ["b0", "b1", "b2"],
            "status": ["converged", "diverged", "converged"],
            "iters": [6, 3, 8],
            "cost": [6.0, 3.0, 8.0],
            "time": [0.06, 0.03, 0.08],
            "f_gap_final": [1e-9, np.inf, 1e-9],
            **_hits("1e-04", [3.0, np.nan, 4.0], [3.0, np.nan, 4.0], [0.03, np.nan, 0.04]),
            **_hits("1e-08", [np.nan] * 3, [np.nan] * 3, [np.nan] * 3),
        },
        message=["", "f = inf at iteration 3", ""],
    )
    newton = _runs(
        {
            "run_id": ["c0", "c1", "c2"],
            "status": ["converged"] * 3,
            "iters": [2, 2, 2],
            "cost": [8.0, 8.0, 8.0],
            "time": [0.01, 0.02, 0.03],
            "f_gap_final": [1e-12] * 3,
            **_hits("1e-04", [1.0] * 3, [4.0] * 3, [0.005] * 3),
            **_hits("1e-08", [2.0] * 3, [8.0] * 3, [0.01] * 3),
        },
        optimizer="newton_cg",
        solver_label="newton_cg",
        message="",
        **HAND_COMMON,
    )
    return pd.concat([small, large, newton], ignore_index=True)


def test_solver_family_separates_scipy_methods():
    assert solver_family({"optimizer": "gd", "method": "L-BFGS-B"}) == "gd"
    assert solver_family({"optimizer": "scipy", "method": "BFGS"}) == "scipy[method=BFGS]"
    assert solver_family({"optimizer": "scipy", "method": np.nan}) == "scipy"
    summary = make_results().summary
    families = set(family_key(summary))
    assert families == {"gd", "newton_cg", "scipy[method=L-BFGS-B]", "scipy[method=BFGS]"}


def test_aggregate_medians_spreads_and_status_counts():
    table = aggregate_summary(hand_summary()).set_index("solver_label")
    small = table.loc["gd[step_size=0.01]"]
    assert small["status"] == "converged 2/3, max_iter 1/3"
    assert small["n_converged"] == 2
    assert (small["iters"], small["iters_min"], small["iters_max"]) == (20, 10, 40)
    assert small["time"] == pytest.approx(0.2)
    large = table.loc["gd[step_size=1]"]
    assert large["status"] == "converged 2/3, diverged 1/3"
    # inf counts in the median and the spread of the final gap
    assert large["f_gap_final"] == pytest.approx(1e-9)
    assert large["f_gap_final_max"] == math.inf
    assert list(table.index) == ["gd[step_size=0.01]", "gd[step_size=1]", "newton_cg"]


def test_censoring_rule_needs_more_than_half_reached():
    table = aggregate_summary(hand_summary(), targets=[1e-4, 1e-8]).set_index("solver_label")
    small = table.loc["gd[step_size=0.01]"]
    # 2 of 3 reached 1e-4: median of {5, 7, inf} is 7, spread up to inf
    assert small["iters_to_1e-04"] == 7
    assert small["iters_to_1e-04_min"] == 5
    assert small["iters_to_1e-04_max"] == math.inf
    assert small["iters_to_1e-04_reached"] == 2
    # 1 of 3 reached 1e-8: no median
    assert math.isnan(small["cost_to_1e-08"])
    assert small["cost_to_1e-08_reached"] == 1
    assert table.loc["newton_cg", "cost_to_1e-08"] == 8
    assert (
        censored_median(np.array([1.0, 2.0, np.nan, np.nan]))[0]
        != censored_median(np.array([1.0, 2.0, 3.0, np.nan]))[0]
    )
    assert math.isnan(censored_median(np.array([1.0, 2.0, np.nan, np.nan]))[0])
    assert censored_median(np.array([1.0, 2.0, 3.0, np.nan]))[0] == 2.5


def test_configurations_sorted_by_parameter_value():
    """Numbers ascending (also read back as text), then multiples c/L, then rules."""
    gd_runs = hand_summary().query("optimizer == 'gd'")
    steps = ["armijo", "2/L", "0.5", "0.5/L", "1e-05"]  # first appearance order
    summary = pd.concat(
        [
            gd_runs.iloc[:3].assign(solver_label=f"gd[step_size={v}]", param_step_size=v)
            for v in steps
        ],
        ignore_index=True,
    )
    order = aggregate_summary(summary)["solver_label"].tolist()
    assert order == [f"gd[step_size={v}]" for v in ["1e-05", "0.5", "0.5/L", "2/L", "armijo"]]


def test_unknown_target_is_an_error():
    with pytest.raises(ValueError, match="1e-06"):
        aggregate_summary(hand_summary(), targets=[1e-6])


def test_target_columns_are_named_as_the_runner_names_them():
    """A level such as 1.5e-3 keeps its digits (``iters_to_1.5e-03``), as in summary.csv."""
    from optbench import results_format
    from optbench.run import records

    assert target_column is records.target_column is results_format.target_column  # one home
    for eps in (1e-2, 1e-4, 1.5e-3, 2e-3, 1 / 3, 1e-300):
        assert results_format.parse_target_column(target_column("cost", eps)) == ("cost", eps)
    summary = hand_summary().rename(columns=lambda c: c.replace("1e-04", "1.5e-03"))
    assert summary_targets(summary) == [1.5e-3, 1e-8]
    table = aggregate_summary(summary).set_index("solver_label")
    assert table.loc["gd[step_size=0.01]", "iters_to_1.5e-03"] == 7
    assert "| solver | ε = 1.5e-03 | ε = 1e-08 |" in build_report(summary)


def test_best_setting_uses_tightest_reached_target():
    summary = hand_summary()
    best = best_settings(summary)
    # only gd is swept; 1e-8 is reached by no gd setting with a majority, so 1e-4 decides
    assert list(best["family"]) == ["gd"]
    assert best.loc[0, "solver_label"] == "gd[step_size=1]"
    assert best.loc[0, "target"] == 1e-4
    assert best.loc[0, "cost_to_target"] == 4
    everything = best_settings(summary, swept_only=False)
    assert set(everything["family"]) == {"gd", "newton_cg"}


def test_best_setting_tie_is_broken_by_final_gap():
    summary = hand_summary()
    tie = summary["solver_label"] == "gd[step_size=1]"
    small = summary["solver_label"] == "gd[step_size=0.01]"
    summary.loc[tie, "cost_to_1e-04"] = [7.0, np.nan, 6.0]  # median 7, as the small step
    summary.loc[small, "f_gap_final"] = [1e-11, 1e-11, 1e-11]
    best = best_settings(summary)
    assert best.loc[0, "cost_to_target"] == 7
    assert best.loc[0, "solver_label"] == "gd[step_size=0.01]"
    summary.loc[small, "f_gap_final"] = [1e-7, 1e-7, 1e-7]
    assert best_settings(summary).loc[0, "solver_label"] == "gd[step_size=1]"


def test_best_setting_without_targets_uses_final_values():
    summary = make_results().summary
    best = best_settings(summary).set_index(["problem", "family"])
    unknown = best.loc[("logistic_unknown_fstar", "gd")]
    assert math.isnan(unknown["target"])
    assert unknown["solver_label"] == "gd[step_size=0.1]"
    known = best.loc[("quadratic[dim=10]", "gd")]
    assert known["target"] == 1e-8
    assert known["solver_label"] == "gd[step_size=0.1]"


def test_format_number_is_compact():
    assert format_number(1234) == "1234"
    assert format_number(3.14159) == "3.14"
    assert format_number(123456.7) == "123457"
    assert format_number(1008.5) == "1008"
    assert format_number(180.5) == "180"
    assert format_number(0.012345) == "0.0123"
    assert format_number(1.23456e-9) == "1.23e-09"
    assert format_number(2.5e7) == "2.50e+07"
    assert format_number(0.0) == "0"
    assert format_number(np.nan) == "—"
    assert format_number(np.inf) == "∞"
    assert format_spread(20.0, 10.0, 40.0) == "20 [10–40]"
    assert format_spread(8.0, 8.0, 8.0) == "8"
    assert format_spread(np.nan, 9.0, np.inf, "1/3") == "— (1/3)"
    assert status_counts(["diverged", "converged", "converged"]) == "converged 2/3, diverged 1/3"


def test_moved_names_are_still_importable_from_tables():
    from optbench.analysis import formatting, frames, tables

    assert tables.ResultsFrames is frames.ResultsFrames
    assert tables.results_frames is frames.results_frames
    for name in ("format_number", "format_spread", "format_table"):
        assert getattr(tables, name) is getattr(formatting, name)


def test_format_table_is_markdown():
    frame = pd.DataFrame({"solver": ["gd|x", "newton"], "iters": [12, 3], "gap": [1e-10, 0.5]})
    lines = format_table(frame).splitlines()
    assert lines[0] == "| solver | iters | gap |"
    assert lines[1] == "| :--- | ---: | ---: |"
    assert lines[2] == "| gd\\|x | 12 | 1.00e-10 |"
    assert lines[3] == "| newton | 3 | 0.5 |"


def test_report_lists_every_problem_and_bad_runs(tmp_path):
    results = make_results(tmp_path)
    environment = {
        "python": {"version": "3.11.4"},
        "packages": {"numpy": "2.0", "matplotlib": "3.9"},
        "cpu": {"model": "EPYC", "count": 2},
        "blas": [{"internal_api": "openblas", "version": "0.3", "package": "numpy",
                  "num_threads": 2}],
        "git": {"revision": "0123456789abcdef", "dirty": True},
    }  # fmt: skip
    (tmp_path / "environment.json").write_text(json.dumps(environment))
    text = build_report(results)
    for problem in PROBLEMS:
        assert f"### {problem}" in text
    assert (
        "environment: Python 3.11.4 · numpy 2.0 · CPU EPYC ×2 · BLAS openblas 0.3 for numpy "
        "(2 threads) · git 0123456789 (uncommitted changes)\n"
    ) in text
    diverged = results.summary[results.summary["status"] == "diverged"]
    assert len(diverged) == 9
    for message in diverged["message"]:
        assert message in text
    status_part = text.split("## Statuses")[1]
    assert status_part.count("| diverged |") == len(diverged)
    assert "**gd[step_size=0.1]**" in text
    assert "f* is unknown for this problem" in text
    assert summary_targets(results.summary) == list(TARGETS)
    path = write_report(results)
    assert path == tmp_path / "report.md"
    assert path.read_text() == text


def test_report_markdown_tables_are_well_formed():
    text = build_report(make_results())
    for block in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.strip().splitlines()}
        assert len(widths) == 1, block


def test_report_sections_can_be_extended(capsys):
    def extra_section(context):
        return f"## Extra\n\n{len(context.table)} rows"

    SECTION_BUILDERS.insert(2, extra_section)
    try:
        print_report(hand_summary())
    finally:
        SECTION_BUILDERS.remove(extra_section)
    out = capsys.readouterr().out
    assert "## Extra\n\n3 rows" in out
    assert out.index("## Extra") < out.index("## Statuses")
    assert "f = inf at iteration 3" in out


def test_report_of_no_runs_and_of_an_error_traceback():
    empty = hand_summary().iloc[:0]
    assert aggregate_summary(empty).empty
    assert best_settings(empty).empty
    assert "No finished runs" in build_report(empty)
    summary = hand_summary()
    summary.loc[summary["run_id"] == "c1", "status"] = "error"
    summary.loc[summary["run_id"] == "c1", "message"] = (
        "Traceback (most recent call last):\n  File 'x.py'\nValueError: boom | here\n"
    )
    text = build_report(summary)
    assert "| error | ValueError: boom \\| here | c1 |" in text
    assert "Traceback" not in text
