"""Quasi-Newton memory and the lbfgs and bfgs solvers, checked by hand-computable facts.

* the compact L-BFGS matrix equals the literal two-loop recursion (N&W Alg 7.4);
* the expanded BFGS update equals the product form of N&W eq 6.17 and satisfies the
  secant equation;
* with an exact line search on a strictly convex quadratic, L-BFGS (memory >= n) and
  BFGS reproduce the iterates of linear CG and stop in at most n iterations, and BFGS
  then holds the exact inverse Hessian (N&W Sec 6.1; Nazareth 1979); steepest descent
  with the same exact search does not finish in n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from optbench.problems.base import Problem
from optbench.problems.oracle import Oracle
from optbench.run.runner import minimize
from optbench.solvers import make_solver
from optbench.solvers.bfgs import BFGS
from optbench.solvers.lbfgs import LBFGS
from optbench.solvers.linesearch import LineSearch, LineSearchResult
from optbench.solvers.quasi_newton import (
    LimitedMemoryInverse,
    admissible_pair,
    bfgs_inverse_update,
    initial_inverse_scaling,
)
from optbench.solvers.ray import Ray


class Quadratic(Problem):
    """f(x) = 1/2 x'Ax - b'x with a dense symmetric positive definite A (test-local)."""

    def __init__(self, matrix: np.ndarray, rhs: np.ndarray, x0: np.ndarray) -> None:
        self.matrix, self.rhs = matrix, rhs
        self.dim = len(rhs)
        self.name = "quadratic"
        self.x0 = x0
        self.params = {}

    def value_and_grad(self, x):
        ax = self.matrix @ x
        return float(0.5 * x @ ax - self.rhs @ x), ax - self.rhs

    def hvp(self, x, v):
        return self.matrix @ v


def spd_matrix(eigenvalues, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return (basis * np.asarray(eigenvalues, dtype=float)) @ basis.T


def two_loop(pairs, v):
    """N&W Alg 7.4 written out, H0 = gamma I with gamma of eq 7.20 (reference)."""
    q = np.array(v, dtype=float)
    alphas = []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        q -= alpha * y
        alphas.append(alpha)
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        beta = (y @ r) / (y @ s)
        r += s * (alpha - beta)
    return r


def random_pairs(n, m, seed=1):
    rng = np.random.default_rng(seed)
    matrix = spd_matrix(np.linspace(1.0, 50.0, n), seed)
    steps = rng.standard_normal((m, n))
    return [(s, matrix @ s + 0.01 * rng.standard_normal(n)) for s in steps]


@pytest.mark.parametrize("memory", [1, 3, 7])
def test_compact_matrix_is_the_two_loop_recursion(memory):
    pairs = random_pairs(9, memory)
    assert all(admissible_pair(s, y) for s, y in pairs)
    v = np.random.default_rng(5).standard_normal(9)
    np.testing.assert_allclose(LimitedMemoryInverse(pairs).apply(v), two_loop(pairs, v), rtol=1e-11)


def test_limited_memory_matrix_satisfies_the_newest_secant_equation():
    pairs = random_pairs(6, 4)
    s, y = pairs[-1]
    np.testing.assert_allclose(LimitedMemoryInverse(pairs).apply(y), s, rtol=1e-10)


def test_bfgs_update_is_the_product_form_of_eq_6_17():
    rng = np.random.default_rng(3)
    n = 6
    inverse = spd_matrix(rng.uniform(0.5, 3.0, n), seed=4)
    s = rng.standard_normal(n)
    y = spd_matrix(np.linspace(1, 9, n), seed=2) @ s
    rho = 1.0 / (y @ s)
    left = np.eye(n) - rho * np.outer(s, y)
    expected = left @ inverse @ left.T + rho * np.outer(s, s)
    updated = bfgs_inverse_update(inverse.copy(), s, y)
    np.testing.assert_allclose(updated, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(updated @ y, s, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(updated) > 0)
    assert initial_inverse_scaling(s, y) == pytest.approx((s @ y) / (y @ y))


def test_admissible_pair_refuses_non_positive_curvature():
    s = np.array([1.0, 0.0])
    assert not admissible_pair(s, np.array([-1.0, 0.0]))
    assert not admissible_pair(s, np.array([0.0, 1.0]))
    assert admissible_pair(s, np.array([1.0, 1.0]))


class ExactQuadraticSearch(LineSearch):
    """alpha = -phi'(0) / d'Ad: the exact minimiser along d of a quadratic, one evaluation."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def search(self, ray: Ray, value0: float, slope0: float, initial_step: float):
        step = -slope0 / float(ray.direction @ self.matrix @ ray.direction)
        value, slope = ray.value_and_slope(step)
        return LineSearchResult(step, value, slope, 1, True, "exact")


def with_exact_search(solver_class, matrix, **params):
    """``solver_class`` whose line search is exact on the quadratic of ``matrix``."""

    @dataclass(frozen=True)
    class Exact(solver_class):
        exact: ClassVar[ExactQuadraticSearch] = ExactQuadraticSearch(matrix)

        def make_line_search(self):
            return self.exact

    return Exact(**params)


def conjugate_gradient_iterates(matrix, rhs, x0, steps):
    """Linear CG (N&W Alg 5.2) from x0: the iterates x_1 ... x_steps."""
    x, r = x0.copy(), matrix @ x0 - rhs
    p, iterates = -r, []
    for _ in range(steps):
        alpha = (r @ r) / (p @ matrix @ p)
        x = x + alpha * p
        r_next = r + alpha * (matrix @ p)
        p = -r_next + (r_next @ r_next) / (r @ r) * p
        r = r_next
        iterates.append(x)
    return iterates


def assert_same_path(iterates, expected, problem):
    """Each iterate within 1e-5 |x0 - x*| of CG's (rounding grows with the condition)."""
    scale = np.linalg.norm(problem.x0 - np.linalg.solve(problem.matrix, problem.rhs))
    for k, (got, want) in enumerate(zip(iterates, expected, strict=True), start=1):
        assert np.linalg.norm(got - want) <= 1e-5 * scale, f"iterate {k}"


N = 8
EIGENVALUES = np.geomspace(1.0, 1e3, N)


def quadratic_problem():
    matrix = spd_matrix(EIGENVALUES, seed=7)
    rng = np.random.default_rng(8)
    return Quadratic(matrix, rng.standard_normal(N), rng.standard_normal(N))


def iterate(solver, problem, max_steps):
    """Steps until ||g|| <= 1e-10 ||g0||: the iterates, and the last state."""
    oracle = Oracle(problem)
    state = solver.init(oracle, problem.x0)
    tolerance = 1e-10 * np.linalg.norm(state.g)
    iterates = []
    while np.linalg.norm(state.g) > tolerance and len(iterates) < max_steps:
        state = solver.step(oracle, state)
        assert state.status == "running", state.message
        iterates.append(state.x)
    return iterates, state


def test_steepest_descent_with_exact_search_is_far_from_done_after_n_steps():
    """The quadratic is hard enough that finishing in n steps means conjugacy."""
    problem = quadratic_problem()
    x = problem.x0
    g0 = problem.grad(x)
    for _ in range(N):
        g = problem.grad(x)
        x = x - (g @ g) / (g @ problem.matrix @ g) * g
    assert np.linalg.norm(problem.grad(x)) > 1e-2 * np.linalg.norm(g0)


@pytest.mark.parametrize("memory", [N, N + 5])
def test_lbfgs_with_exact_search_reproduces_cg_and_stops_within_n(memory):
    problem = quadratic_problem()
    solver = with_exact_search(LBFGS, problem.matrix, memory=memory)
    iterates, state = iterate(solver, problem, max_steps=3 * N)
    assert len(iterates) <= N
    expected = conjugate_gradient_iterates(problem.matrix, problem.rhs, problem.x0, len(iterates))
    assert_same_path(iterates, expected, problem)
    np.testing.assert_allclose(state.x, np.linalg.solve(problem.matrix, problem.rhs), rtol=1e-8)


def test_bfgs_with_exact_search_follows_cg_and_holds_the_exact_inverse_after_n():
    """After n steps the gradient is at rounding level of the dense update (the last
    direction H_{n-1} g_{n-1} loses about 1e-6 relative on this condition number 1e3,
    the limited-memory form does not) and H_n = A^{-1} (N&W Sec 6.1)."""
    problem = quadratic_problem()
    solver = with_exact_search(BFGS, problem.matrix)
    iterates, state = iterate(solver, problem, max_steps=N)
    expected = conjugate_gradient_iterates(problem.matrix, problem.rhs, problem.x0, len(iterates))
    assert_same_path(iterates, expected, problem)
    assert np.linalg.norm(state.g) <= 1e-5 * np.linalg.norm(problem.grad(problem.x0))
    if len(iterates) == N:  # n independent pairs
        exact = np.linalg.inv(problem.matrix)
        assert np.linalg.norm(state.inverse - exact) <= 1e-9 * np.linalg.norm(exact)


@pytest.mark.parametrize("name", ["lbfgs", "bfgs"])
def test_wolfe_solvers_converge_on_the_quadratic(name):
    problem = quadratic_problem()
    result = minimize(problem, make_solver(name), gtol=1e-9, max_iter=200)
    assert result.status == "converged", result.message
    np.testing.assert_allclose(result.x, np.linalg.solve(problem.matrix, problem.rhs), rtol=1e-6)
    assert result.n_f == result.n_g  # every evaluation fused


def test_lbfgs_keeps_at_most_memory_pairs_newest_last():
    problem = quadratic_problem()
    oracle = Oracle(problem)
    solver = LBFGS(memory=3)
    state = solver.init(oracle, problem.x0)
    previous = state
    for _ in range(6):
        previous, state = state, solver.step(oracle, state)
    assert len(state.pairs) == 3
    s, y = state.pairs[-1]
    np.testing.assert_allclose(s, state.x - previous.x)
    np.testing.assert_allclose(y, state.g - previous.g)


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("lbfgs", {"memory": 0}, "memory"),
        ("lbfgs", {"c2": 1e-5}, "c2"),
        ("bfgs", {"max_dim": 0}, "max_dim"),
        ("bfgs", {"max_line_search_evals": 0}, "max_line_search_evals"),
    ],
)
def test_invalid_parameters_name_the_field(name, params, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        make_solver(name, **params)


def test_bfgs_refuses_a_problem_above_max_dim_before_any_evaluation():
    problem = quadratic_problem()
    result = minimize(problem, make_solver("bfgs", max_dim=N - 1), gtol=1e-9)
    assert result.status == "error"
    assert "max_dim = 7" in result.message and "lbfgs" in result.message
    assert "\n" not in result.message
    assert result.n_f == result.n_g == 0


def test_bfgs_discards_an_inverse_that_gives_no_descent_direction():
    problem = quadratic_problem()
    oracle = Oracle(problem)
    solver = BFGS()
    state = solver.init(oracle, problem.x0)
    state = state.replace(inverse=-np.eye(N))  # as if rounding had made H indefinite
    moved = solver.step(oracle, state)
    assert moved.status == "running", moved.message
    assert moved.resets == 1 and moved.info["reset"]
    assert moved.f < state.f
    np.testing.assert_allclose(moved.x - state.x, -moved.step_size * state.g)
    assert np.all(np.linalg.eigvalsh(moved.inverse) > 0)  # rebuilt by eq 6.20 and 6.17
