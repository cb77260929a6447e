"""The runner with stochastic solvers: counts in data passes, log points, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from run_layouts import rewrite_batch_rows

import optbench
from optbench import make_problem, minimize
from optbench.run.runner import LogPolicy, run_solver
from optbench.run.schema import ConfigError
from optbench.solvers import make_solver


@pytest.fixture(scope="module")
def small():
    return make_problem("logistic_small")


def test_a_data_pass_is_n_sample_gradients_and_costs_one(small) -> None:
    n = small.n_samples
    result = minimize(small, "sgd", batch_size=10, max_cost=3, max_iter=10**6)
    assert result.status == "max_cost"
    assert (result.n_sample_g, result.n_f, result.n_g) == (3 * n, 0, 0)
    assert result.cost == pytest.approx(3.0, rel=1e-12)
    trace = result.trace
    # logged at iteration 0 and every data pass (the default for stochastic solvers)
    assert trace["iter"].tolist() == [0, n // 10, 2 * n // 10, 3 * n // 10]
    assert np.allclose(trace["cost"], [0, 1, 2, 3], rtol=1e-12, atol=0)
    assert trace["n_sample_g"].tolist() == [0, n, 2 * n, 3 * n]
    # the logged f is the full objective at the iterate, uncounted
    assert result.f == pytest.approx(small.value(result.x), rel=1e-14)
    assert result.grad_norm == pytest.approx(np.linalg.norm(small.grad(result.x)), rel=1e-12)


def test_same_seed_same_counts_and_iterates(small) -> None:
    def run(seed: int):
        return minimize(small, "sgd", batch_size=7, max_cost=2, max_iter=10**6, seed=seed)

    first, again, other = run(3), run(3), run(4)
    assert first.n_sample_g == again.n_sample_g and np.array_equal(first.x, again.x)
    assert first.trace["f"].tolist() == again.trace["f"].tolist()
    assert not np.array_equal(first.x, other.x)


def test_sgd_with_a_constant_step_stalls_at_a_noise_floor(small) -> None:
    result = minimize(
        small, "sgd", step_size="1/L_max", max_cost=20, max_iter=10**6, f_gap_tol=1e-8
    )
    assert result.status == "max_cost", result
    gaps = result.trace["f_gap"].to_numpy()
    assert gaps[-1] > 1e-8
    # no progress over the last half of the budget: a floor, not slow convergence
    assert gaps[len(gaps) // 2 :].min() > 0.1 * gaps[len(gaps) // 2 :].max()


def test_targets_and_stopping_tests_use_the_logged_points(small) -> None:
    result = minimize(
        small,
        "sgd",
        batch_size=50,
        step_size="1/L",
        schedule="step_decay",
        decay_every=2,
        max_cost=10,
        max_iter=10**6,
        log={"every_epochs": 0.5},
        targets=[1e-1, 1e-2],
    )
    trace = result.trace
    assert np.allclose(np.diff(trace["cost"].to_numpy()), 0.5, rtol=1e-9)
    assert result.targets, "no target reached: the test needs one"
    for eps, hit in result.targets.items():
        first = trace[trace["f_gap"] <= eps].iloc[0]
        assert (hit.iter, hit.cost) == (first["iter"], first["cost"])


def test_a_budget_between_log_points_is_observed_and_logged(small) -> None:
    result = minimize(small, "sgd", batch_size=10, max_iter=37)
    assert result.status == "max_iter"
    assert result.trace["iter"].tolist() == [0, 37]
    assert result.cost == pytest.approx(0.37, rel=1e-12)
    assert result.f == pytest.approx(small.value(result.x), rel=1e-14)


def test_deterministic_solvers_log_by_cost_and_hit_targets_at_every_iteration(small) -> None:
    result = minimize(
        small, "gd", step_size="1/L", max_iter=60, log={"every_epochs": 10}, targets=[1e-3]
    )
    costs = result.trace["cost"].to_numpy()
    assert costs[0] == 1.0 and set(costs[1:-1] % 10) == {0.0}
    hit = result.targets[1e-3]
    assert hit.iter not in set(result.trace["iter"])  # between two logged points


def test_stochastic_solvers_refuse_problems_that_are_not_finite_sums() -> None:
    result = run_solver(make_problem("rosenbrock", dim=2), make_solver("sgd"))
    assert result.status == "error"
    assert "needs a finite sum" in result.message and "\n" not in result.message


@pytest.mark.parametrize(
    "policy", [{"every": 2, "every_epochs": 1.0}, {"every_epochs": 0}, {"every_epochs": "x"}]
)
def test_log_policy_refuses_bad_settings_in_one_line(policy) -> None:
    with pytest.raises(ConfigError) as raised:
        LogPolicy(**policy)
    assert "\n" not in str(raised.value)


def test_sample_counts_in_results_and_old_results_read_them_as_zero(tmp_path) -> None:
    from optbench.run.store import ResultStore

    config = {
        "name": "stochastic",
        "problems": ["logistic_small"],
        "solvers": [{"name": "sgd", "params": {"batch_size": 100}}, {"name": "gd"}],
        "stop": {"max_iter": 100000, "max_cost": 2},
        "targets": [1e-1],
        "seeds": [0, 1],
    }
    out = tmp_path / "run"
    results = optbench.run(config, out=out, jobs=1, progress=False, plot=False)
    summary = results.summary
    sgd = summary[summary["optimizer"] == "sgd"]
    assert (sgd["n_sample_g"] == 2000).all() and (summary["n_sample_hvp"] == 0).all()
    assert (summary.loc[summary["optimizer"] == "gd", "n_sample_g"] == 0).all()
    assert {"n_sample_g", "n_sample_hvp"} <= set(results.traces.columns)
    runs_csv = (out / "runs.csv").read_text()
    assert "every_epochs" not in runs_csv  # unset: rows as before it existed
    later = ("n_sample_g", "n_sample_hvp")  # as batches written before the columns
    rewrite_batch_rows(out, lambda row: {k: v for k, v in row.items() if k not in later})
    merged = ResultStore(out).merged_summary()
    assert "n_sample_g" not in merged and "n_sample_hvp" not in merged
