"""Newton's method: quadratic convergence, Hessian modification, line searches, errors."""

from __future__ import annotations

import numpy as np
import pytest

from optbench import make_problem
from optbench.problems.base import Problem
from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.runner import minimize
from optbench.solvers.newton import Newton

LINE_SEARCHES = ["armijo", "wolfe"]


@pytest.mark.parametrize("line_search", LINE_SEARCHES)
def test_newton_on_rosenbrock_from_the_standard_start(line_search):
    problem = Rosenbrock(dim=2)
    np.testing.assert_array_equal(problem.x0, [-1.2, 1.0])
    result = minimize(problem, Newton(line_search=line_search), gtol=1e-8, max_iter=100)
    assert result.status == "converged", result.message
    assert result.grad_norm <= 1e-8
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-8)
    assert result.n_hess == result.iters
    assert result.n_f == result.n_g  # every evaluation is a fused value-and-gradient
    assert result.iters <= 30


@pytest.fixture(scope="module")
def logistic():
    return make_problem("logistic", n_samples=500, n_features=10, seed=1)


def hessian_lipschitz_bound(problem) -> float:
    r"""An upper bound on the Lipschitz constant M of the logistic Hessian.

    :math:`\nabla^2 f = \frac1n \sum_i \sigma'(m_i) a_i a_i^\top + \lambda I` and
    :math:`|\sigma''| \le 1/(6\sqrt3)`, so
    :math:`M \le \frac{1}{6\sqrt3}\,\mathrm{mean}_i \|a_i\|^3`.
    """
    row_norms = np.linalg.norm(problem.X, axis=1)
    return float(np.mean(row_norms**3)) / (6.0 * np.sqrt(3.0))


@pytest.mark.parametrize("line_search", LINE_SEARCHES)
def test_newton_converges_quadratically_on_logistic(logistic, line_search):
    solver = Newton(line_search=line_search)
    oracle = Oracle(logistic)
    states = [solver.init(oracle, logistic.x0)]
    while np.linalg.norm(states[-1].g) > 1e-10 and len(states) <= 10:
        states.append(solver.step(oracle, states[-1]))
    assert np.linalg.norm(states[-1].g) <= 1e-10
    assert len(states) - 1 <= 10  # iterations
    # x*: one more Newton step from a point where ||g|| <= 1e-10 is exact to rounding.
    minimizer = solver.step(oracle, states[-1]).x
    errors = np.array([np.linalg.norm(state.x - minimizer) for state in states])
    # Theory (N&W Thm. 3.5 with unit steps): e_{k+1} <= M / (2 lambda_min) e_k^2.
    # lambda_min of the Hessian near x* is taken with a factor 2 of slack.
    lambda_min = np.linalg.eigvalsh(logistic.hess(minimizer))[0]
    bound = hessian_lipschitz_bound(logistic) / lambda_min
    local = [k for k in range(len(errors) - 1) if errors[k] < 0.1 and errors[k + 1] > 1e-13]
    assert len(local) >= 2  # at least two steps observed in the quadratic regime
    for k in local:
        assert states[k + 1].step_size == 1.0
        assert errors[k + 1] <= bound * errors[k] ** 2
    # The ratio settles to a constant (about 0.42 here); under a linear rate it would
    # grow like 1/e_k between consecutive steps (here by ~200x).
    ratios = [errors[k + 1] / errors[k] ** 2 for k in local]
    assert max(ratios) <= 2.0 * min(ratios)


def test_newton_minimizes_a_strongly_convex_quadratic_in_one_step():
    problem = make_problem("least_squares", n_samples=100, n_features=8, cond=50.0, seed=2)
    result = minimize(problem, Newton(), gtol=1e-9)
    assert result.status == "converged"
    assert result.iters == 1
    assert (result.n_f, result.n_g, result.n_hess) == (2, 2, 1)
    assert result.trace["step_size"].iloc[1] == 1.0


# --- Hessian modification (N&W Alg. 3.3)


@pytest.mark.parametrize(
    ("hessian", "expected_first_shift"),
    [
        (np.diag([-1.0, 2.0]), 1.0 + 1e-3),  # negative diagonal: tau_0 = -min a_ii + beta
        (np.array([[1.0, 2.0], [2.0, 1.0]]), None),  # indefinite, positive diagonal
        (np.diag([3.0, 2.0]), 0.0),  # positive definite: no shift
    ],
)
def test_cholesky_with_added_multiple_of_the_identity(hessian, expected_first_shift):
    factor, shift, attempts = Newton()._factor_with_shift(hessian)
    assert factor is not None
    smallest_eigenvalue = np.linalg.eigvalsh(hessian)[0]
    assert smallest_eigenvalue + shift > 0
    if expected_first_shift is not None:
        assert shift == pytest.approx(expected_first_shift)
        assert attempts == 1
    else:
        # tau runs 0, beta, 2 beta, 4 beta, ...: the first one that makes H + tau I
        # positive definite, so the one before it did not.
        assert shift == pytest.approx(1e-3 * 2.0 ** (attempts - 2))
        assert smallest_eigenvalue + shift / 2 <= 0


def test_indefinite_hessian_still_gives_a_descent_step():
    problem = Rosenbrock(dim=2)
    x0 = np.array([0.0, 1.0])  # Hessian diag(-398, 200): indefinite
    assert np.linalg.eigvalsh(problem.hess(x0))[0] < 0
    oracle = Oracle(problem)
    solver = Newton()
    state = solver.init(oracle, x0)
    next_state = solver.step(oracle, state)
    assert next_state.shift > 398.0
    assert next_state.f < state.f
    result = minimize(problem, solver, x0=x0, gtol=1e-8, max_iter=100)
    assert result.status == "converged"


# --- failures and configuration errors


class WrongGradientQuadratic(Problem):
    """f = ||x||^2 with a gradient of the wrong sign (and an optional NaN Hessian)."""

    def __init__(self, dim: int = 3, nan_hessian: bool = False) -> None:
        self.name, self.dim, self.params = "wrong_gradient", dim, {}
        self.x0 = np.ones(dim)
        self.nan_hessian = nan_hessian

    def value_and_grad(self, x):
        return float(x @ x), -2.0 * x

    def hvp(self, x, v):
        return 2.0 * v

    def hess(self, x):
        return np.full((self.dim, self.dim), np.nan) if self.nan_hessian else 2.0 * np.eye(self.dim)


@pytest.mark.parametrize("line_search", LINE_SEARCHES)
def test_line_search_failure_is_reported_as_failed(line_search):
    result = minimize(WrongGradientQuadratic(), Newton(line_search=line_search), max_iter=5)
    assert result.status == "failed"
    assert result.message.startswith("line search: ")
    assert result.iters == 1
    np.testing.assert_array_equal(result.x, np.ones(3))  # no silent tiny step


def test_non_finite_hessian_is_reported_as_failed():
    result = minimize(WrongGradientQuadratic(nan_hessian=True), Newton(), max_iter=5)
    assert result.status == "failed"
    assert result.message == "Hessian has non-finite entries"


def test_newton_refuses_problems_too_large_for_a_dense_hessian():
    problem = make_problem("rosenbrock", dim=10, hess_max_dim=5)
    with pytest.raises(ValueError, match=r"^newton needs a dense Hessian, but dim = 10"):
        Newton().init(Oracle(problem), problem.x0)
    result = minimize(problem, Newton())
    assert result.status == "error"
    assert (result.n_f, result.n_hess) == (0, 0)


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("line_search", {"line_search": "bfgs"}),
        ("c1", {"c1": 0.0}),
        ("c2", {"c2": 1e-5}),
        ("c2", {"c2": 1.5}),
        ("min_shift", {"min_shift": 0.0}),
        ("min_shift", {"min_shift": float("nan")}),
        ("shift_growth", {"shift_growth": 1.0}),
    ],
)
def test_newton_rejects_invalid_hyper_parameters(field, params):
    with pytest.raises(ValueError, match=rf"^{field}: must be"):
        Newton(**params)
