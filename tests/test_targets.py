"""Fixed-target measures on hand-made traces and summaries (expected values by hand)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench.analysis.targets import (
    fixed_target_table,
    reference_values,
    run_table,
)


def trace_rows(run_id, problem, optimizer, f, f_star=None, iters=None):
    """Trace rows with cost = iteration + 1, time = iteration / 10, one f and one g a step."""
    iters = list(range(len(f))) if iters is None else iters
    rows = []
    for k, value in zip(iters, f, strict=True):
        rows.append(
            {
                "run_id": run_id,
                "problem": problem,
                "optimizer": optimizer,
                "iter": k,
                "time": k / 10,
                "f": value,
                "f_gap": value - f_star if f_star is not None else math.nan,
                "grad_norm": 1.0,
                "n_f": k + 1,
                "n_g": k + 1,
                "n_hvp": 0,
                "n_hess": 0,
                "cost": k + 1.0,
                "step_size": math.nan,
            }
        )
    return rows


def summary_row(run_id, problem, optimizer, trace, f_star=None, **extra):
    last = trace[-1]
    row = {
        "run_id": run_id,
        "problem": problem,
        "optimizer": optimizer,
        "solver_label": optimizer,
        "seed": 0,
        "status": "converged",
        "iters": last["iter"],
        "n_f": last["n_f"],
        "n_g": last["n_g"],
        "n_hvp": 0,
        "n_hess": 0,
        "cost": last["cost"],
        "time": last["time"],
        "f_final": last["f"],
        "f_gap_final": last["f"] - f_star if f_star is not None else math.nan,
        "grad_norm_final": 1.0,
        "dim": 2,
        "f0": trace[0]["f"],
    }
    row.update(extra)
    return row


@pytest.fixture
def results():
    """Problem ``quad`` has f* = 1 (certified); ``blackbox`` has f* unknown."""
    a = trace_rows("a", "quad", "gd", [5.0, 2.0, 1.01, 1.00001], f_star=1.0)
    b = trace_rows("b", "quad", "newton", [5.0, 3.0, 2.0], f_star=1.0)
    c = trace_rows("c", "blackbox", "gd", [10.0, 4.0, 2.5, 2.0])
    d = trace_rows("d", "blackbox", "newton", [10.0, 6.0, 3.0])
    traces = pd.DataFrame(a + b + c + d)
    summary = pd.DataFrame(
        [
            summary_row("a", "quad", "gd", a, 1.0, status="max_iter"),
            summary_row("b", "quad", "newton", b, 1.0, status="max_iter"),
            summary_row("c", "blackbox", "gd", c),
            summary_row("d", "blackbox", "newton", d, status="max_iter"),
        ]
    )
    # The runner's per-iteration record of target 1e-2 (f - f* = 0.01 at iteration 2).
    summary["iters_to_1e-02"] = [2, math.nan, math.nan, math.nan]
    summary["cost_to_1e-02"] = [3.0, math.nan, math.nan, math.nan]
    summary["time_to_1e-02"] = [0.2, math.nan, math.nan, math.nan]
    return summary, traces


def test_reference_values_certified_and_best_found(results):
    summary, traces = results
    refs = reference_values(run_table(summary, traces), traces)
    assert refs.loc["quad", "f_star_source"] == "certified"
    assert refs.loc["quad", "f_ref"] == pytest.approx(1.0)
    assert refs.loc["blackbox", "f_star_source"] == "best_found"
    assert refs.loc["blackbox", "f_ref"] == 2.0  # least value any run reached


def test_certified_hits_from_summary_and_traces(results):
    summary, traces = results
    table = fixed_target_table(summary, traces, [1e-2, 1e-4]).set_index(["run_id", "target"])
    hit = table.loc[("a", 1e-2)]
    assert (hit["reached"], hit["iters"], hit["cost"], hit["time"]) == (True, 2, 3.0, 0.2)
    assert hit["source"] == "summary" and hit["test"] == "absolute"
    assert hit["calls"] == 6  # n_f + n_g at the logged iteration 2
    # 1e-4 has no summary column: first trace row with f - 1 <= 1e-4 is iteration 3.
    hit = table.loc[("a", 1e-4)]
    assert (hit["reached"], hit["iters"], hit["cost"], hit["source"]) == (True, 3, 4.0, "trace")
    # b never gets below 1: censored at its final iteration, cost and time, not dropped.
    for target in (1e-2, 1e-4):
        miss = table.loc[("b", target)]
        assert not miss["reached"]
        assert (miss["iters"], miss["cost"], miss["time"], miss["calls"]) == (2, 3.0, 0.2, 6)
        assert miss["f_star_source"] == "certified"


def test_best_found_uses_more_wild_test(results):
    summary, traces = results
    table = fixed_target_table(summary, traces, [0.2, 1e-2]).set_index(["run_id", "target"])
    # f_L = 2, f0 = 10: tau = 0.2 needs f - 2 <= 0.2 * 8 = 1.6.
    assert table.loc[("c", 0.2), "iters"] == 2  # 2.5 - 2 = 0.5
    assert table.loc[("d", 0.2), "iters"] == 2  # 3 - 2 = 1 <= 1.6
    # tau = 1e-2 needs f - 2 <= 0.08: only c, at its last iteration.
    assert table.loc[("c", 1e-2), "reached"] and table.loc[("c", 1e-2), "iters"] == 3
    assert not table.loc[("d", 1e-2), "reached"]
    assert table.loc[("d", 1e-2), "iters"] == 2  # censored at its budget
    assert set(table.loc[["c", "d"], "f_star_source"]) == {"best_found"}
    assert set(table.loc[["c", "d"], "test"]) == {"relative"}


def test_summary_preferred_over_sparse_trace(results):
    summary, traces = results
    sparse = traces[~((traces["run_id"] == "a") & (traces["iter"] == 2))]
    table = fixed_target_table(summary, sparse, [1e-2]).set_index("run_id")
    assert table.loc["a", "iters"] == 2  # the summary's exact iteration
    assert np.isnan(table.loc["a", "calls"])  # iteration 2 was not logged
    # From the sparse trace alone the first logged hit is iteration 3: an upper bound.
    trace_only = fixed_target_table(summary.drop(columns="iters_to_1e-02"), sparse, [1e-2])
    assert trace_only.set_index("run_id").loc["a", "iters"] == 3


def test_relative_test_on_certified_problem(results):
    summary, traces = results
    # f* = 1, f0 = 5: tau = 0.1 needs f - 1 <= 0.4: a at iteration 2, b never.
    table = fixed_target_table(summary, traces, [0.1], test="relative").set_index("run_id")
    assert table.loc["a", "iters"] == 2 and table.loc["a", "test"] == "relative"
    assert not table.loc["b", "reached"]


def test_default_targets_come_from_the_summary(results):
    summary, traces = results
    table = fixed_target_table(summary, traces)
    assert sorted(set(table["target"])) == [1e-2]
    assert len(table) == 4


def test_needs_traces_where_summary_cannot_answer(results):
    summary, _ = results
    with pytest.raises(ValueError, match="pass traces"):
        fixed_target_table(summary, None, [1e-4])
    with pytest.raises(ValueError, match="test"):
        fixed_target_table(summary, None, [1e-2], test="both")


def test_traces_only_labels_by_optimizer(results):
    _, traces = results
    table = fixed_target_table(None, traces, [1e-4]).set_index("run_id")
    assert table.loc["a", "solver_label"] == "gd" and table.loc["a", "iters"] == 3
    doubled = pd.concat([traces, traces.assign(run_id=traces["run_id"] + "2")])
    with pytest.raises(ValueError, match="pass the summary"):
        fixed_target_table(None, doubled, [1e-4])


def test_scipy_methods_are_separate_families(results):
    summary, traces = results
    summary = summary.assign(optimizer=["scipy", "scipy", "gd", "gd"])
    summary["method"] = ["BFGS", "CG", None, None]
    runs = run_table(summary, traces).set_index("run_id")
    assert runs.loc["a", "family"] == "scipy[method=BFGS]"
    assert runs.loc["b", "family"] == "scipy[method=CG]"
    assert runs.loc["c", "family"] == "gd"
