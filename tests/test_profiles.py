"""Performance and data profiles, runtime ECDF, tuned envelope on hand-made tables.

Every expected value is worked out by hand in the comments next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_targets import summary_row

from optbench.analysis.profiles import (
    data_profile,
    default_data_unit,
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
    runs = [
        ("a_p", "p", "A", [10.0, 5.0, 0.5], [1, 2, 3]),
        ("b_p", "p", "B", [10.0, 0.9], [1, 6]),
        ("a_q", "q", "A", [4.0, 3.0, 2.0], [1, 2, 3]),
        ("b_q", "q", "B", [4.0, 1.0], [1, 6]),
    ]
    f_star, dim = {"p": 0.0, "q": None}, {"p": 2, "q": 5}
    trace_rows, summary_rows = [], []
    for run_id, problem, optimizer, f, calls in runs:
        rows = trace(run_id, problem, optimizer, f, calls, f_star=f_star[problem])
        trace_rows += rows
        summary_rows.append(
            summary_row(
                run_id,
                problem,
                optimizer,
                rows,
                f_star[problem],
                status="max_iter",
                dim=dim[problem],
            )
        )
    return pd.DataFrame(summary_rows), pd.DataFrame(trace_rows)


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


def test_failures_never_count_even_at_infinite_tau(table):
    profile = performance_profile(table, "cost", taus=[math.inf])
    # Solved fractions: A 3/4, B 3/4, C 2/4 (p3 unsolved by all).
    assert [profile_at(profile, s, math.inf) for s in "ABC"] == [0.75, 0.75, 0.5]


def suite_traces() -> pd.DataFrame:
    """quad: f* = 0 certified, dim 2; blackbox: f* unknown, dim 3 (f_L = 2, best found)."""
    return pd.DataFrame(
        trace("n_quad", "quad", "newton", [1.0, 1e-4, 1e-9], [1, 2, 3], f_star=0.0)
        + trace("g1_quad", "quad", "gd", [1.0, 0.5, 0.05, 5e-3, 5e-4], [1, 2, 3, 4, 5], 0.0)
        + trace("g2_quad", "quad", "gd", [1.0, 2.0, 4.0], [1, 2, 3], f_star=0.0)
        + trace("n_bb", "blackbox", "newton", [10.0, 2.5, 2.0], [1, 2, 3])
        + trace("g1_bb", "blackbox", "gd", [10.0, 6.0, 2.05, 2.0001], [1, 2, 3, 4])
        + trace("g2_bb", "blackbox", "gd", [10.0, 20.0], [1, 2])
    )


def suite_summary(traces: pd.DataFrame) -> pd.DataFrame:
    first = traces.groupby("run_id", sort=False).head(1).set_index("run_id")
    last = traces.groupby("run_id", sort=False).tail(1).set_index("run_id")
    labels = {"n": "newton", "g1": "gd[step_size=0.1]", "g2": "gd[step_size=1]"}
    summary = pd.DataFrame(
        {
            "run_id": last.index,
            "problem": last["problem"].to_numpy(),
            "optimizer": last["optimizer"].to_numpy(),
            "solver_label": [labels[r.split("_")[0]] for r in last.index],
            "step_size": [{"g1": 0.1, "g2": 1.0}.get(r.split("_")[0]) for r in last.index],
            "seed": 0,
            "status": ["converged", "max_iter", "diverged", "converged", "max_iter", "diverged"],
            "message": "",
            "iters": last["iter"].to_numpy(),
            "n_f": last["n_f"].to_numpy(),
            "n_g": last["n_g"].to_numpy(),
            "n_hvp": 0,
            "n_hess": 0,
            "cost": last["cost"].to_numpy(),
            "time": 0.0,
            "f_final": last["f"].to_numpy(),
            "f_gap_final": last["f_gap"].to_numpy(),
            "grad_norm_final": 1.0,
            "dim": last["problem"].map({"quad": 2, "blackbox": 3}).to_numpy(),
            "f0": first["f"].to_numpy(),
        }
    )
    # The runner's columns (f* known on quad only): newton hits 1e-2 at iteration 1,
    # 1e-6 at 2; gd[0.1] hits 1e-2 at 3 (f = 5e-3) and never 1e-6.
    for metric, newton, gd in (("iters", (1, 2), (3, None)), ("cost", (2.0, 3.0), (4.0, None))):
        for k, target in enumerate(("1e-02", "1e-06")):
            column = [newton[k], gd[k], None, None, None, None]
            summary[f"{metric}_to_{target}"] = pd.array(column, dtype="Float64").astype(float)
    for target in ("1e-02", "1e-06"):
        summary[f"time_to_{target}"] = summary[f"iters_to_{target}"] * 0.0
    return summary


@pytest.fixture
def results_dir(tmp_path):
    traces = suite_traces()
    suite_summary(traces).to_csv(tmp_path / "summary.csv", index=False)
    traces.to_parquet(tmp_path / "traces.parquet")
    (tmp_path / "config.yaml").write_text("name: suite\ntargets: [1.0e-2, 1.0e-6]\n")
    return tmp_path


def test_profile_tables(results_dir):
    from optbench.analysis.profile_tables import profile_tables

    text = profile_tables(results_dir)
    assert "Over 2 problem instances" in text
    assert "f* unknown for blackbox" in text
    # Tightest target reached: 1e-6, by newton only (quad at cost 3; blackbox f - 2 <=
    # 1e-6 * 8 at iteration 2).
    assert "### Performance profile: cost to ε = 1e-06" in text
    assert "| newton | 1 | 1 | 1 | 1 | 1 |" in text
    assert "| gd (tuned) | 0 | 0 | 0 | 0 | 0 |" in text
    # Fractions reaching 1e-2 and 1e-6: gd[0.1] reaches 1e-2 on both (blackbox:
    # 2.05 - 2 <= 0.08), never 1e-6; the tuned gd is gd[0.1] here.
    assert "| gd (tuned) | 1 | 0 |" in text
    assert "| gd[step_size=1] | 0 | 0 |" in text
    # Data profile, tau = 1e-3 (kappa = 1, 10, 100, 1000): newton at 4 calls / 3 on
    # quad and 6 / 4 on blackbox; gd[0.1] at 10 / 3 and 8 / 4. Both > 1, < 10.
    assert "| newton | 0 | 1 | 1 | 1 |" in text
    assert "| gd[step_size=0.1] | 0 | 1 | 1 | 1 |" in text


@pytest.mark.parametrize(
    ("kind", "x", "name"),
    [
        ("profile", None, "performance_profile.png"),
        ("profile", "iter", "performance_profile_iters.png"),
        ("data-profile", None, "data_profile.png"),
        ("ecdf", "cost", "ecdf.png"),
        ("sensitivity", None, "sensitivity_fraction.png"),
    ],
)
def test_plot_profiles_writes_png(results_dir, kind, x, name):
    from optbench.analysis.plot_kinds import write_plots

    written = write_plots(results_dir, kind, x=x)
    assert written == [results_dir / "plots" / name]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_profiles_refuses_bad_arguments(results_dir):
    from optbench.analysis.plot_kinds import write_plots as plot_profiles

    with pytest.raises(ValueError, match="kind"):
        plot_profiles(results_dir, "histogram")
    with pytest.raises(ValueError, match="x: must be 'dim"):
        plot_profiles(results_dir, "data-profile", x="time")
    with pytest.raises(ValueError, match="format"):
        plot_profiles(results_dir, "ecdf", fmt="jpg")
    from optbench.analysis.frames import ResultsFrames

    newton = ResultsFrames(
        summary=pd.read_csv(results_dir / "summary.csv").query("optimizer == 'newton'"),
        traces=pd.read_parquet(results_dir / "traces.parquet"),
        path=results_dir,
    )
    assert plot_profiles(newton, "sensitivity") == []  # nothing swept, no figure


def test_tiny_targets_are_not_confused_with_each_other():
    """np.isclose's default atol (1e-8) would make 1e-10 match 1e-8 and 1e-9."""
    rows = [
        {
            "problem": "p",
            "seed": 0,
            "solver_label": solver,
            "target": target,
            "reached": True,
            "cost": cost,
        }
        for target in (1e-8, 1e-9, 1e-10)
        for solver, cost in (("a", 10.0 / target**0.1), ("b", 20.0))
    ]
    table = pd.DataFrame(rows)
    for target in (1e-8, 1e-9, 1e-10):
        ratios = performance_ratios(table, "cost", target=target)
        assert ratios.shape == (1, 2)
        expected = {"a": 10.0 / target**0.1, "b": 20.0}
        best = min(expected.values())
        assert ratios.loc[("p", 0), "a"] == pytest.approx(expected["a"] / best)


def test_data_profiles_of_stochastic_runs_are_in_cost() -> None:
    """Sample gradients are not oracle calls: with any, the default unit is cost."""
    full = pd.DataFrame({"n_f": [3, 5], "n_g": [3, 5], "n_sample_g": [0, 0]})
    assert default_data_unit(full) == "dim+1"
    assert default_data_unit(full.drop(columns="n_sample_g")) == "dim+1"  # older results
    assert default_data_unit(full.assign(n_sample_g=[0, 4000])) == "cost"
    assert default_data_unit(full.assign(n_sample_hvp=[np.nan, 10.0])) == "cost"
