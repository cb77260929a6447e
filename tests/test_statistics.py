"""Bootstrap intervals, ERT with censoring, paired Wilcoxon tests with Holm, the score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optbench.analysis.ert import bootstrap_ert, ert_table, expected_running_time
from optbench.analysis.paired_tests import censored_log_ratios, holm_adjust, paired_wilcoxon
from optbench.analysis.score import instance_scores, profile_score
from optbench.bootstrap import percentile_interval, resample_indices


def hit_table(work: dict[str, list[float]], target: float = 1e-6) -> pd.DataFrame:
    """A hit table: solver -> cost per instance (inf = not reached, censored at 100)."""
    rows = []
    for solver, values in work.items():
        for instance, value in enumerate(values):
            reached = math.isfinite(value)
            spent = value if reached else 100.0
            rows.append(
                {
                    "problem": f"p{instance // 2}",
                    "seed": instance % 2,
                    "solver_label": solver,
                    "target": target,
                    "reached": reached,
                    "iters": spent,
                    "cost": spent,
                    "time": spent / 1000,
                    "calls": spent,
                }
            )
    return pd.DataFrame(rows)


def test_resamples_are_seeded_and_in_range() -> None:
    first = resample_indices(7, 50, seed=3)
    assert first.shape == (50, 7)
    assert np.array_equal(first, resample_indices(7, 50, seed=3))
    assert not np.array_equal(first, resample_indices(7, 50, seed=4))
    assert first.min() >= 0 and first.max() <= 6


def test_percentile_interval_takes_sample_values() -> None:
    # Inverted CDF: the smallest x with F(x) >= 0.025 is 3 among 1..100, and 98 for 0.975.
    assert percentile_interval(np.arange(1.0, 101.0), 0.95) == (3.0, 98.0)
    assert percentile_interval(np.array([4.0, 1.0, np.inf, np.inf]), 0.5) == (1.0, np.inf)
    with pytest.raises(ValueError, match="level"):
        percentile_interval(np.ones(3), 1.0)


def test_ert_counts_censored_work() -> None:
    # Two hits at 10 and 20 and a run that spent 30 without reaching it: 60 / 2.
    assert expected_running_time(np.array([10.0, 20.0, 30.0]), np.array([1, 1, 0])) == 30.0
    assert expected_running_time(np.array([5.0, 6.0]), np.array([0, 0])) == math.inf


def test_bootstrap_ert_hand_computed_case() -> None:
    # Runs: 10 (reached) and 30 (censored). A resample is {10,10} -> 10 w.p. 1/4,
    # {10,30} -> 40 w.p. 1/2, {30,30} -> inf w.p. 1/4; the 30 % and 70 % quantiles of
    # 1000 resamples are both 40, and the 95 % interval is (10, inf).
    work, reached = np.array([10.0, 30.0]), np.array([True, False])
    assert bootstrap_ert(work, reached, level=0.4, seed=0) == (40.0, 40.0)
    assert bootstrap_ert(work, reached, seed=0) == (10.0, math.inf)


def test_bootstrap_ert_matches_a_loop_over_the_same_draws() -> None:
    rng = np.random.default_rng(1)
    work = rng.uniform(1, 50, size=9)
    reached = rng.uniform(size=9) < 0.7
    draws = resample_indices(9, 200, seed=5)
    values = [expected_running_time(work[row], reached[row]) for row in draws]
    assert bootstrap_ert(work, reached, n_resamples=200, seed=5) == percentile_interval(
        np.array(values)
    )


def test_ert_table_groups_over_seeds() -> None:
    hits = hit_table({"a": [10.0, math.inf, 4.0, 6.0], "b": [math.inf, math.inf, 1.0, 1.0]})
    table = ert_table(hits, n_resamples=100).set_index(["problem", "solver_label"])
    assert table.loc[("p0", "a"), "ert_cost"] == (10.0 + 100.0) / 1
    assert table.loc[("p0", "a"), "success_rate"] == 0.5
    assert table.loc[("p0", "b"), "ert_iters"] == math.inf
    assert table.loc[("p1", "b"), "ert_cost"] == 1.0
    assert table.loc[("p1", "a"), ["ert_cost_low", "ert_cost_high"]].tolist() == [4.0, 6.0]
    assert table.loc[("p1", "a"), "runs"] == 2


def test_holm_hand_computed() -> None:
    adjusted = holm_adjust(np.array([0.01, 0.04, 0.03, 0.005]))
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max.
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_wilcoxon_without_censoring_is_scipys() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(1, 100, size=12)
    b = a * rng.uniform(0.6, 1.2, size=12)
    pairs = paired_wilcoxon(hit_table({"a": list(a), "b": list(b)}))
    expected = stats.wilcoxon(np.log(a) - np.log(b)).pvalue
    assert pairs.loc[0, "p_value"] == pytest.approx(expected, rel=1e-12)
    assert pairs.loc[0, "p_holm"] == pytest.approx(expected, rel=1e-12)
    assert pairs.loc[0, "median_ratio"] == pytest.approx(np.median(a / b))


def test_censored_differences_rank_above_every_finite_one() -> None:
    d = censored_log_ratios(
        np.array([1.0, 2.0, np.inf, np.inf, 8.0]), np.array([2.0, 2.0, 4.0, np.inf, np.inf])
    )
    big = math.log(2.0) + 1.0
    np.testing.assert_allclose(d, [-math.log(2.0), 0.0, big, 0.0, -big])


def test_significance_and_direction() -> None:
    rng = np.random.default_rng(3)
    slow = rng.uniform(10, 100, size=16)
    table = hit_table({"fast": list(slow / 2), "slow": list(slow), "same": list(slow * 1.0)})
    pairs = paired_wilcoxon(table).set_index(["solver_a", "solver_b"])
    assert pairs.loc[("fast", "slow"), "significant"]
    assert pairs.loc[("fast", "slow"), "better"] == "fast"
    assert pairs.loc[("fast", "same"), "better"] == "fast"
    assert pairs.loc[("same", "slow"), "compared"] == 0
    assert not pairs.loc[("same", "slow"), "significant"]
    assert pairs.loc[("same", "slow"), "better"] == ""
    raw = pairs["p_value"].to_numpy()
    np.testing.assert_allclose(pairs["p_holm"], holm_adjust(raw))


def test_score_of_known_profiles() -> None:
    # "best" is fastest everywhere (score 1); "late" needs 2.5x on every instance,
    # (4 - 2.5) / 3 = 0.5; "half" is as fast on half and fails the rest: 0.5.
    table = hit_table(
        {
            "best": [1.0, 2.0, 3.0, 4.0],
            "late": [2.5, 5.0, 7.5, 10.0],
            "half": [1.0, 2.0, math.inf, math.inf],
        }
    )
    scores = profile_score(table, n_resamples=200).set_index("solver_label")
    assert scores.loc["best", ["score", "score_low", "score_high"]].tolist() == [1.0, 1.0, 1.0]
    assert scores.loc["late", "score"] == pytest.approx(0.5)
    assert scores.loc["late", ["score_low", "score_high"]].tolist() == pytest.approx([0.5, 0.5])
    assert scores.loc["half", "score"] == pytest.approx(0.5)
    assert scores.loc["half", "score_low"] < 0.5 < scores.loc["half", "score_high"]
    assert scores.loc["half", "solved"] == 0.5
    assert list(scores.index)[0] == "best"


def test_instance_scores_integrate_the_step_profile() -> None:
    ratios = np.array([1.0, 1.5, 3.9, 4.0, 7.0, np.inf])
    taus = np.linspace(1.0, 4.0, 300001)
    for r, share in zip(ratios, instance_scores(ratios), strict=True):
        numeric = np.trapezoid((taus >= r).astype(float), taus) / 3.0
        assert share == pytest.approx(numeric, abs=1e-4)


def test_the_report_ranks_solvers_with_intervals(tmp_path) -> None:
    import optbench
    from optbench.analysis.formatting import format_number
    from optbench.analysis.report import build_report
    from optbench.analysis.targets import fixed_target_table

    config = {
        "name": "ranked",
        "problems": ["rosenbrock_2d", "logistic_small"],
        "solvers": [{"name": "newton_cg"}, {"name": "gd", "params": {"step_size": "armijo"}}],
        "stop": {"gtol": 1e-8, "max_iter": 300},
        "targets": [1e-6],
        "seeds": [0, 1, 2],
    }
    results = optbench.run(config, out=tmp_path / "out", progress=False, plot=False)
    text = build_report(results)
    section = text[text.index("## Ranking, with uncertainty") : text.index("## Results by")]
    hits = fixed_target_table(results.summary, results.traces)
    scores = profile_score(hits, "cost", 1e-6).set_index("solver_label")
    for solver in ("newton_cg", "gd[step_size=armijo]"):
        low, high = scores.loc[solver, ["score_low", "score_high"]]
        interval = f"[{format_number(low)}, {format_number(high)}]"
        assert f"| {solver} | {format_number(scores.loc[solver, 'score'])} {interval} |" in section
    assert "ERT cost [95 % interval]" in section and "| logistic_small | newton_cg |" in section
