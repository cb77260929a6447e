"""The Oracle counts every call exactly and adds up cost in gradient-equivalents."""

from __future__ import annotations

import numpy as np
import pytest

import optbench
from optbench.problems.base import CostWeights
from optbench.problems.rosenbrock import Rosenbrock


@pytest.mark.parametrize("name", ["rosenbrock_2d", "logistic_small", "softmax_small"])
def test_counts_and_cost_are_exact(name):
    problem = optbench.make_problem(name)
    oracle = optbench.Oracle(problem)
    x = problem.x0 + 0.1
    v = np.ones(problem.dim)
    weights = problem.cost_weights
    oracle.value(x)
    oracle.grad(x)
    oracle.grad(x)
    oracle.value_and_grad(x)  # fused: one f and one g
    for _ in range(3):
        oracle.hvp(x, v)
    oracle.hess(x)
    assert (oracle.n_f, oracle.n_g, oracle.n_hvp, oracle.n_hess) == (2, 3, 3, 1)
    expected = (
        weights.value
        + 2 * weights.grad
        + weights.value_and_grad
        + 3 * weights.hvp
        + weights.hess_cost(problem.dim)
    )
    assert oracle.cost == pytest.approx(expected, rel=1e-15)
    assert oracle.counts() == {
        "n_f": 2, "n_g": 3, "n_hvp": 3, "n_hess": 1, "n_r": 0, "n_J": 0, "n_sample_g": 0,
        "n_sample_hvp": 0, "cost": oracle.cost,
    }  # fmt: skip


def test_oracle_returns_what_the_problem_returns():
    problem = Rosenbrock(dim=4)
    oracle = optbench.Oracle(problem)
    x = np.linspace(-1, 1, 4)
    v = np.arange(4.0)
    f, g = oracle.value_and_grad(x)
    assert f == problem.value(x)
    assert np.array_equal(g, problem.grad(x))
    assert np.array_equal(oracle.hvp(x, v), problem.hvp(x, v))
    assert np.array_equal(oracle.hess(x), problem.hess(x))


def test_default_hessian_cost_is_half_the_dimension():
    assert CostWeights().hess_cost(100) == 50
    assert CostWeights(hess=7.0).hess_cost(100) == 7.0
