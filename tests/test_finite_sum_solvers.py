"""SVRG, SAGA and subsampled Newton-CG on finite sums: their estimates, rates and seeds."""

from __future__ import annotations

import numpy as np
import pytest

from optbench import make_problem
from optbench.problems.oracle import Oracle
from optbench.run.config import ConfigError, load_config
from optbench.run.runner import minimize
from optbench.solvers import make_solver
from optbench.solvers.reciprocal_step import as_multiple, resolve_step
from optbench.solvers.saga import SAGA
from optbench.solvers.stochastic import run_generator
from optbench.solvers.subsampled_newton_cg import SubsampledNewtonCG
from optbench.solvers.svrg import SVRG

#: Data passes within which SVRG and SAGA reach f - f* <= 1e-8 on logistic_small, logged
#: every pass (measured 27 and 15 passes on seeds 0, 1, 2; the bound leaves room for other
#: seeds and numerical stacks).
VARIANCE_REDUCED_PASSES = {"svrg": 40.0, "saga": 25.0}


@pytest.fixture(scope="module")
def logistic_small():
    return make_problem("logistic_small")


def drive(solver, problem, seed, n_steps):
    """init with the generator of ``seed``, then ``n_steps`` steps; return the oracle and
    the last state."""
    oracle = Oracle(problem)
    state = solver.init(oracle, problem.x0, rng=run_generator(seed))
    for _ in range(n_steps):
        state = solver.step(oracle, state)
    return oracle, state


# --- the estimates are unbiased: their mean over all rows is the full gradient


def test_saga_direction_averages_to_the_full_gradient(logistic_small):
    problem = logistic_small
    oracle = Oracle(problem)
    rng = np.random.default_rng(1)
    state = SAGA(step_size=1.0).init(oracle, rng.standard_normal(problem.dim))
    x = rng.standard_normal(problem.dim)
    table, table_mean = state.table.copy(), state.table_mean.copy()
    # The SAGA direction for each row j (table as filled at the start point).
    fresh = problem.sample_derivatives(x, np.arange(problem.n_samples))
    directions = problem.X * (fresh - table)[:, None] + table_mean + problem.l2 * x
    np.testing.assert_allclose(directions.mean(axis=0), problem.grad(x), rtol=1e-10, atol=1e-14)
    # The solver's step moves along the direction of the row it drew, and stores it.
    new = SAGA(step_size=1.0).step(oracle, state.replace(x=x))
    (row,) = np.flatnonzero(new.table != table)
    np.testing.assert_allclose(x - new.x, directions[row], rtol=1e-12, atol=1e-15)
    assert new.table[row] == pytest.approx(fresh[row], rel=1e-12)
    np.testing.assert_allclose(
        new.table_mean,
        problem.grad_from_derivatives(np.arange(problem.n_samples), new.table),
        rtol=1e-12,
    )


def test_svrg_direction_averages_to_the_full_gradient(logistic_small):
    problem = logistic_small
    rng = np.random.default_rng(2)
    snapshot, x = rng.standard_normal((2, problem.dim))
    rows = np.arange(problem.n_samples)
    oracle = Oracle(problem)
    mean = (
        sum(oracle.grad_batch(x, rows[[i]]) - oracle.grad_batch(snapshot, rows[[i]]) for i in rows)
        / problem.n_samples
    )
    np.testing.assert_allclose(mean + problem.grad(snapshot), problem.grad(x), rtol=1e-10)


# --- convergence in data passes


@pytest.mark.parametrize("name", sorted(VARIANCE_REDUCED_PASSES))
def test_variance_reduced_methods_reach_1e_8(logistic_small, name):
    passes = VARIANCE_REDUCED_PASSES[name]
    result = minimize(logistic_small, name, f_gap_tol=1e-8, max_cost=passes, max_iter=10**7)
    assert result.status == "converged", result.message
    assert result.f_gap <= 1e-8
    assert result.cost <= passes + 1.0  # the budget is checked after the step that spent it


def test_subsampled_newton_cg_reaches_1e_8_where_sgd_stalls(logistic_small):
    # Measured on seeds 0, 1, 2: 23.5, 20.3 and 31.6 passes to 1e-8 (12-21 iterations),
    # while SGD after 40 passes is at f - f* = 6e-2 (default step 1/L_max) or 1.5e-3
    # (step 0.01): its noise floor. Asserted: the budget suffices for one, not the other.
    budget = 40.0
    result = minimize(
        logistic_small, "subsampled_newton_cg", f_gap_tol=1e-8, max_cost=budget, max_iter=10**4
    )
    assert result.status == "converged", result.message
    assert result.cost <= budget
    # Hessian products are sample products (a tenth of a full one each), never full ones.
    assert result.n_hvp == 0 and result.n_sample_hvp > 0
    for step_size in ("1/L_max", 0.01):
        sgd = minimize(
            logistic_small, "sgd", step_size=step_size, f_gap_tol=1e-8, max_cost=budget,
            max_iter=10**7,
        )  # fmt: skip
        assert sgd.status == "max_cost" and sgd.f_gap > 1e-6


def test_subsampled_newton_cg_with_a_gradient_sample_decreases_f(logistic_small):
    problem = logistic_small
    solver = SubsampledNewtonCG(gradient_batch=500, hessian_fraction=0.2)
    oracle, state = drive(solver, problem, seed=0, n_steps=10)
    assert problem.value(state.x) < problem.value(problem.x0) - 0.1
    assert oracle.n_g == 0 and oracle.n_f == 0  # sampled evaluations only


# --- seeds


@pytest.mark.parametrize(
    ("solver", "n_steps"),
    [
        (SVRG(inner_steps=300), 400),
        (SAGA(batch_size=4), 400),
        (SubsampledNewtonCG(gradient_batch=300), 5),
    ],
    ids=["svrg", "saga", "subsampled_newton_cg"],
)
def test_same_seed_same_iterates_and_counts(logistic_small, solver, n_steps):
    first_oracle, first = drive(solver, logistic_small, 3, n_steps)
    again_oracle, again = drive(solver, logistic_small, 3, n_steps)
    _, other = drive(solver, logistic_small, 4, n_steps)
    assert np.array_equal(first.x, again.x)
    assert first_oracle.counts() == again_oracle.counts()
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize("name", ["svrg", "saga", "subsampled_newton_cg"])
def test_the_runner_seed_decides_the_run(logistic_small, name):
    def run(seed):
        return minimize(logistic_small, name, max_cost=4.0, max_iter=10**6, seed=seed)

    first, again, other = run(5), run(5), run(6)
    for column in ("iters", "cost", "n_g", "n_sample_g", "n_sample_hvp", "f"):
        assert getattr(first, column) == getattr(again, column), column
    assert list(first.trace["f"]) == list(again.trace["f"])
    assert first.f != other.f


# --- refusals and validation


@pytest.mark.parametrize("name", ["svrg", "saga", "subsampled_newton_cg"])
def test_refused_on_a_problem_that_is_not_a_finite_sum(name):
    result = minimize(make_problem("rosenbrock", dim=2), name, max_iter=5)
    assert result.status == "error"
    assert "needs a finite sum" in result.message
    assert "\n" not in result.message
    assert result.n_f == result.n_g == 0


@pytest.mark.parametrize("name", ["svrg", "saga", "subsampled_newton_cg"])
def test_a_config_pairing_them_with_a_problem_that_is_not_a_finite_sum_is_refused(name):
    config = {
        "name": "c",
        "problems": ["logistic_small", "rosenbrock_2d"],
        "solvers": [{"name": name}],
    }
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert message.startswith("solvers[0]: ") and "rosenbrock_2d is not one" in message
    assert "\n" not in message
    load_config({**config, "problems": ["logistic_small", "softmax_small"]})


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("svrg", {"step_size": "1/K"}, "step_size"),
        ("svrg", {"inner_steps": 0}, "inner_steps"),
        ("saga", {"batch_size": 1.5}, "batch_size"),
        ("saga", {"step_size": -1.0}, "step_size"),
        ("subsampled_newton_cg", {"hessian_fraction": 0.0}, "hessian_fraction"),
        ("subsampled_newton_cg", {"gradient_batch": 0}, "gradient_batch"),
    ],
)
def test_bad_hyper_parameters_are_one_line_naming_the_field(name, params, field):
    with pytest.raises(ValueError, match=f"^{field}: ") as info:
        make_solver(name, **params)
    assert "\n" not in str(info.value)


def test_reciprocal_step_forms(logistic_small):
    assert as_multiple("1/(3 L_max)") == f"{1 / 3!r}/L_max"
    assert as_multiple("1/(4*L)") == "0.25/L"
    assert as_multiple("0.5/L_max") == "0.5/L_max"
    assert as_multiple("1/(0 L_max)") == "1/(0 L_max)"  # left for the check to refuse
    l_max = logistic_small.smoothness().L_max
    oracle = Oracle(logistic_small)
    assert resolve_step("1/(3 L_max)", oracle) == pytest.approx(1 / (3 * l_max), rel=1e-15)
    assert resolve_step(0.25, oracle) == 0.25
    with pytest.raises(ValueError, match="^step_size: "):
        SAGA(step_size="1/(0 L_max)")
