"""The scipy baseline: scipy.optimize.minimize bridged into init/step by a worker thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.optimize

from optbench.problems.base import Problem
from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.runner import minimize
from optbench.solvers.scipy_baseline import _TIGHT_OPTIONS, SCIPY_METHODS, ScipyBaseline


def scipy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("optbench-scipy")]


def scipy_direct_counts(problem: Problem, method: str, iterations: int) -> dict[str, float]:
    """Oracle counts of scipy itself, stopped by its callback after ``iterations`` iterates."""
    oracle = Oracle(problem)
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result.x)
        if len(seen) >= iterations:
            raise StopIteration

    extra = {"hess": oracle.hess} if method == "trust-exact" else {}
    if method in ("Newton-CG", "trust-ncg", "trust-krylov"):
        extra = {"hessp": oracle.hvp}
    scipy.optimize.minimize(
        oracle.value_and_grad,
        problem.x0,
        jac=True,
        method=method,
        callback=callback,
        options=dict(_TIGHT_OPTIONS[method]),
        **extra,
    )
    assert len(seen) == iterations
    return oracle.counts()


@pytest.mark.parametrize("method", SCIPY_METHODS)
def test_each_method_converges_on_rosenbrock_with_scipys_own_counts(method):
    problem = Rosenbrock(2)
    result = minimize(problem, ScipyBaseline(method=method), gtol=1e-8, max_iter=2000)
    assert result.status == "converged", result.message
    assert result.grad_norm <= 1e-8
    assert not scipy_threads()
    ours = {"n_f": result.n_f, "n_g": result.n_g, "n_hvp": result.n_hvp}
    ours.update(n_hess=result.n_hess, n_r=result.n_r, n_J=result.n_J, cost=result.cost)
    ours.update(n_sample_g=result.n_sample_g, n_sample_hvp=result.n_sample_hvp)
    assert ours == scipy_direct_counts(problem, method, result.iters)


def test_runs_back_to_back_give_identical_results_and_leave_no_thread():
    solver = ScipyBaseline(method="BFGS")
    first = minimize(Rosenbrock(4), solver, gtol=1e-6, max_iter=500)
    second = minimize(Rosenbrock(4), solver, gtol=1e-6, max_iter=500)
    assert first.status == second.status == "converged"
    assert (first.iters, first.n_f, first.n_g) == (second.iters, second.n_f, second.n_g)
    np.testing.assert_array_equal(first.x, second.x)
    assert not scipy_threads()


def test_stopping_early_ends_the_blocked_worker():
    result = minimize(Rosenbrock(10), ScipyBaseline(method="trust-ncg"), max_iter=3)
    assert result.status == "max_iter"
    assert result.iters == 3
    assert not scipy_threads()


def test_close_right_after_init_ends_the_waiting_worker():
    solver, oracle = ScipyBaseline(method="L-BFGS-B"), Oracle(Rosenbrock(2))
    state = solver.init(oracle, np.array([-1.2, 1.0]))
    assert len(scipy_threads()) == 1
    solver.close(state)
    assert not scipy_threads()
    assert (oracle.n_f, oracle.n_g) == (1, 1)


def test_logged_values_match_the_iterates_without_extra_oracle_calls():
    solver, oracle = ScipyBaseline(method="Newton-CG"), Oracle(Rosenbrock(2))
    state = solver.init(oracle, np.array([-1.2, 1.0]))
    try:
        for _ in range(10):
            state = solver.step(oracle, state)
            f, g = oracle.problem.value_and_grad(state.x)
            assert state.f == f
            np.testing.assert_array_equal(state.g, g)
    finally:
        solver.close(state)
    assert not scipy_threads()


class WrongGradient(Problem):
    """f = |x|^2 / 2 with the gradient's sign flipped: scipy's line search must fail."""

    def __init__(self) -> None:
        self.dim, self.name, self.params = 3, "wrong_gradient", {}
        self.x0 = np.ones(3)

    def value_and_grad(self, x):
        return float(0.5 * x @ x), -x

    def hvp(self, x, v):
        return v


def test_scipy_ending_on_its_own_is_failed_with_its_message():
    result = minimize(WrongGradient(), ScipyBaseline(method="BFGS"), gtol=1e-8, max_iter=100)
    assert result.status == "failed"
    assert "stopped on its own" in result.message
    assert not scipy_threads()


def test_an_exception_inside_scipy_is_an_error_run():
    problem = Rosenbrock(6)
    problem.hess_max_dim = 4  # trust-exact's dense Hessian is refused
    result = minimize(problem, ScipyBaseline(method="trust-exact"), max_iter=10)
    assert result.status == "error"
    assert "hess_max_dim" in result.message
    assert not scipy_threads()


def test_invalid_method_names_the_field():
    with pytest.raises(ValueError, match=r"^method:.*did you mean 'L-BFGS-B'"):
        ScipyBaseline(method="L-BFGS")
