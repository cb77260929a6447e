"""Performance and data profiles, runtime ECDF, tuned envelope on hand-made tables.

Every expected value is worked out by hand in the comments next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench.analysis.profiles import (
    data_profile,
    performance_profile,
    performance_ratios,
    runtime_ecdf,
    sweep_success_fraction,
    tuned_envelope,
)

INF = math.inf


def hit_table(work: dict[tuple[str, int], dict[str, float]], target: float = 1e-4) -> pd.DataFrame:
    """A hit table from ``{(problem, seed): {solver: cost or inf}}`` (iters = cost / 2)."""
    rows = []
    for (problem, seed), by_solver in work.items():
        for label, cost in by_solver.items():
            reached = math.isfinite(cost)
            rows.append(
                {
                    "problem": problem,
                    "seed": seed,
                    "solver_label": label,
                    "family": label.split("[")[0],
                    "dim": 2,
                    "target": target,
                    "reached": reached,
                    "cost": cost if reached else 1000.0,  # censored at the budget
                    "iters": cost / 2 if reached else 500.0,
                    "time": math.nan,
                    "calls": math.nan,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def table():
    return hit_table(
        {
            ("p1", 0): {"A": 10, "B": 20, "C": INF},  # r = 1, 2, inf
            ("p2", 0): {"A": 30, "B": 30, "C": 15},  # tie of A and B: r = 2, 2, 1
            ("p3", 0): {"A": INF, "B": INF, "C": INF},  # nobody: stays in the denominator
            ("p1", 1): {"A": 5, "B": 5, "C": 50},  # tie at the best: r = 1, 1, 10
        }
    )


def profile_at(profile: pd.DataFrame, solver: str, x: float, column: str = "tau") -> float:
    row = profile[(profile["solver_label"] == solver) & np.isclose(profile[column], x)]
    assert len(row) == 1, (solver, x)
    return float(row["fraction"].iloc[0])


def test_performance_ratios_with_failures_and_ties(table):
    ratios = performance_ratios(table, "cost")
    assert ratios.loc[("p1", 0)].tolist() == [1.0, 2.0, INF]
    assert ratios.loc[("p2", 0)].tolist() == [2.0, 2.0, 1.0]
    assert ratios.loc[("p3", 0)].tolist() == [INF, INF, INF]
    assert ratios.loc[("p1", 1)].tolist() == [1.0, 1.0, 10.0]


def test_performance_profile_values(table):
    profile = performance_profile(table, "cost", taus=[1, 1.5, 2, 10, 1e6])
    expected = {  # out of 4 instances, p3 unsolved by all
        "A": [2 / 4, 2 / 4, 3 / 4, 3 / 4, 3 / 4],
        "B": [1 / 4, 1 / 4, 3 / 4, 3 / 4, 3 / 4],
        "C": [1 / 4, 1 / 4, 1 / 4, 2 / 4, 2 / 4],
    }
    for solver, values in expected.items():
        got = [profile_at(profile, solver, tau) for tau in (1, 1.5, 2, 10, 1e6)]
        assert got == pytest.approx(values), solver


def test_default_tau_grid_holds_every_breakpoint(table):
    profile = performance_profile(table, "cost")
    assert sorted(set(profile["tau"])) == [1.0, 2.0, 10.0, 20.0]
    assert profile_at(profile, "C", 10.0) == 0.5


def test_metric_is_selectable(table):
    # iters = cost / 2 for reached runs: the same ratios; "time" is NaN for reached runs.
    assert performance_ratios(table, "iters").equals(performance_ratios(table, "cost"))
    with pytest.raises(ValueError, match="no value"):
        performance_ratios(table, "time")
    with pytest.raises(ValueError, match="metric"):
        performance_ratios(table, "speed")


def test_target_must_be_chosen_when_several(table):
    both = pd.concat([table, table.assign(target=1e-8)])
    with pytest.raises(ValueError, match="several targets"):
        performance_profile(both)
    assert performance_ratios(both, target=1e-8).equals(performance_ratios(table))


def test_trivial_instance_and_missing_runs():
    table = hit_table({("p", 0): {"A": 0.0, "B": 3.0, "C": INF}, ("q", 0): {"A": 2.0}})
    ratios = performance_ratios(table)
    # Least work 0 (target held at x0): every solver that reached it gets r = 1.
    assert ratios.loc[("p", 0)].tolist() == [1.0, 1.0, INF]
    # B and C have no run on q: a failure there.
    assert ratios.loc[("q", 0)].tolist() == [1.0, INF, INF]


def test_duplicate_runs_are_refused(table):
    with pytest.raises(ValueError, match="several runs of A"):
        performance_ratios(pd.concat([table, table.iloc[[0]]]))


def trace(run_id, problem, optimizer, f, calls, f_star=None):
    return [
        {
            "run_id": run_id,
            "problem": problem,
            "optimizer": optimizer,
            "iter": k,
            "time": 0.0,
            "f": value,
            "f_gap": value - f_star if f_star is not None else math.nan,
            "grad_norm": 1.0,
            "n_f": n,
            "n_g": n,
            "n_hvp": 0,
            "n_hess": 0,
            "cost": 1.5 * n,
            "step_size": math.nan,
        }
        for k, (value, n) in enumerate(zip(f, calls, strict=True))
    ]


@pytest.fixture
def traced():
    """p: dim 2, f* = 0 certified; q: dim 5, f* unknown (f_L = 1, the best found)."""
    rows = (
        trace("a_p", "p", "A", [10.0, 5.0, 0.5], [1, 2, 3], f_star=0.0)
        + trace("b_p", "p", "B", [10.0, 0.9], [1, 6], f_star=0.0)
        + trace("a_q", "q", "A", [4.0, 3.0, 2.0], [1, 2, 3])
        + trace("b_q", "q", "B", [4.0, 1.0], [1, 6])
    )
    traces = pd.DataFrame(rows)
    last = traces.groupby("run_id").tail(1).set_index("run_id")
    summary = pd.DataFrame(
        {
            "run_id": last.index.to_series(),
            "problem": last["problem"],
            "optimizer": last["optimizer"],
            "solver_label": last["optimizer"],
            "seed": 0,
            "status": "max_iter",
            "iters": last["iter"],
            "n_f": last["n_f"],
            "n_g": last["n_g"],
            "n_hvp": 0,
            "n_hess": 0,
            "cost": last["cost"],
            "time": 0.0,
            "f_final": last["f"],
            "f_gap_final": last["f_gap"],
            "dim": last["problem"].map({"p": 2, "q": 5}),
            "f0": traces.groupby("run_id")["f"].first(),
        }
    ).reset_index(drop=True)
    return summary, traces


def test_data_profile_from_traces(traced):
    summary, traces = traced
    # tau = 0.1. p: f - 0 <= 0.1 * 10 = 1: A at iter 2 (calls 3 + 3 = 6, kappa 6/3 = 2),
    # B at iter 1 (calls 12, kappa 4). q: f - 1 <= 0.1 * 3 = 0.3: A never (2 - 1 = 1),
    # B at iter 1 (calls 12, kappa 12 / 6 = 2).
    profile = data_profile(traces, 0.1, "dim+1", kappas=[1, 2, 3, 4, 100], summary=summary)
    assert [profile_at(profile, "A", k, "kappa") for k in (1, 2, 3, 4, 100)] == [
        0,
        0.5,
        0.5,
        0.5,
        0.5,
    ]
    assert [profile_at(profile, "B", k, "kappa") for k in (1, 2, 3, 4, 100)] == [0, 0.5, 0.5, 1, 1]


def test_data_profile_in_cost_units(traced):
    summary, traces = traced
    # cost = 1.5 n: A on p at 4.5; B on p and q at 9.
    profile = data_profile(traces, 0.1, "cost", summary=summary)
    assert sorted(set(profile["kappa"])) == [0.0, 4.5, 9.0, 18.0]
    assert profile_at(profile, "A", 4.5, "kappa") == 0.5
    assert profile_at(profile, "B", 4.5, "kappa") == 0.0
    assert profile_at(profile, "B", 9.0, "kappa") == 1.0


def test_data_profile_needs_dimension(traced):
    _, traces = traced
    with pytest.raises(ValueError, match="dim"):
        data_profile(traces, 0.1, "dim+1")
    with pytest.raises(ValueError, match="unit"):
        data_profile(traces, 0.1, "seconds")


def test_runtime_ecdf_over_problem_target_pairs(table):
    # Second target: only A on p1 reaches it, at cost 40.
    hard = hit_table(
        {
            ("p1", 0): {"A": 40, "B": INF, "C": INF},
            ("p2", 0): {"A": INF, "B": INF, "C": INF},
            ("p3", 0): {"A": INF, "B": INF, "C": INF},
            ("p1", 1): {"A": INF, "B": INF, "C": INF},
        },
        target=1e-8,
    )
    ecdf = runtime_ecdf(pd.concat([table, hard]), "cost", budgets=[5, 10, 30, 40])
    # 8 (instance, target) pairs. A: 5, 10, 30 (1e-4) and 40 (1e-8).
    got = [profile_at(ecdf, "A", b, "budget") for b in (5, 10, 30, 40)]
    assert got == [1 / 8, 2 / 8, 3 / 8, 4 / 8]
    # C: 15 and 50 at 1e-4.
    assert [profile_at(ecdf, "C", b, "budget") for b in (5, 10, 30, 40)] == [0, 0, 1 / 8, 1 / 8]


@pytest.fixture
def sweep():
    """gd swept over three step sizes on p (seeds 0, 1) and q; newton a single setting."""
    return hit_table(
        {
            ("p", 0): {"gd[s=1]": 50, "gd[s=2]": 30, "gd[s=3]": INF, "newton": 10},
            ("p", 1): {"gd[s=1]": 60, "gd[s=2]": 100, "gd[s=3]": INF, "newton": 10},
            ("q", 0): {"gd[s=1]": INF, "gd[s=2]": INF, "gd[s=3]": 7, "newton": INF},
        }
    )


def test_tuned_envelope_picks_one_setting_per_problem(sweep):
    tuned = tuned_envelope(sweep).set_index(["problem", "seed"])
    assert set(tuned["solver_label"]) == {"gd (tuned)"}
    # p: median costs gd[s=1] 55 and gd[s=2] 65, s=3 failed twice: s=1, on both seeds.
    assert tuned.loc[("p", 0), "tuned_setting"] == "gd[s=1]"
    assert tuned.loc[("p", 1), "tuned_setting"] == "gd[s=1]"
    assert tuned.loc[("p", 0), "cost"] == 50 and tuned.loc[("p", 1), "cost"] == 60
    assert tuned.loc[("q", 0), "tuned_setting"] == "gd[s=3]"
    # newton is not swept: no envelope for it.
    with_tuned = pd.concat([sweep, tuned.reset_index()])
    ratios = performance_ratios(with_tuned)
    assert ratios.loc[("q", 0), "gd (tuned)"] == 1.0
    assert ratios.loc[("p", 1), "gd (tuned)"] == 6.0
    # The envelope leaves the other solvers' ratios unchanged.
    assert ratios.drop(columns="gd (tuned)").equals(performance_ratios(sweep))


def test_sweep_success_fraction(sweep):
    fractions = sweep_success_fraction(sweep)
    assert fractions[["family", "n_settings", "n_runs"]].values.tolist() == [["gd", 3, 9]]
    # reached: p seed 0 two of three, p seed 1 two, q one: 5 of 9 runs.
    assert fractions["fraction"].iloc[0] == pytest.approx(5 / 9)
    per_problem = sweep_success_fraction(sweep, per_problem=True).set_index("problem")
    assert per_problem.loc["p", "fraction"] == pytest.approx(4 / 6)
    assert per_problem.loc["q", "fraction"] == pytest.approx(1 / 3)
