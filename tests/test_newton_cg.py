"""Truncated CG (the inner loop) and line-search Newton-CG (N&W Alg 7.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench.problems.base import Problem
from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.runner import minimize
from optbench.solvers.newton_cg import NewtonCG
from optbench.solvers.quasi_newton import LimitedMemoryInverse
from optbench.solvers.truncated_cg import forcing_term, truncated_cg


class Quadratic(Problem):
    """f(x) = 1/2 x'Ax + b'x with a dense symmetric A (test-local)."""

    def __init__(self, matrix: np.ndarray, linear: np.ndarray) -> None:
        self.matrix, self.linear = matrix, linear
        self.dim = len(linear)
        self.name = "quadratic"
        self.x0 = np.zeros(self.dim)
        self.params = {}

    def value_and_grad(self, x):
        ax = self.matrix @ x
        return float(0.5 * x @ ax + self.linear @ x), ax + self.linear

    def hvp(self, x, v):
        return self.matrix @ v


def matrix_with_eigenvalues(eigenvalues, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return (basis * np.asarray(eigenvalues, dtype=float)) @ basis.T


def test_inner_cg_with_three_distinct_eigenvalues_takes_three_hvps():
    eigenvalues = [1.0] * 5 + [4.0] * 4 + [25.0] * 3
    problem = Quadratic(matrix_with_eigenvalues(eigenvalues), np.ones(12))
    oracle = Oracle(problem)
    g = problem.grad(problem.x0)
    result = truncated_cg(
        lambda v: oracle.hvp(problem.x0, v), g, tolerance=1e-10 * np.linalg.norm(g), max_iter=12
    )
    assert oracle.n_hvp == 3
    assert result.iterations == 3
    assert result.reason == "residual"
    np.testing.assert_allclose(problem.matrix @ result.direction, -g, atol=1e-9)


def test_inner_cg_on_negative_curvature_first_iteration_returns_steepest_descent():
    matrix = np.diag([-1.0, 2.0, 3.0])
    g = np.array([1.0, 0.0, 0.0])
    result = truncated_cg(lambda v: matrix @ v, g, tolerance=1e-12, max_iter=3)
    assert result.reason == "negative_curvature"
    assert result.iterations == 1
    np.testing.assert_array_equal(result.direction, -g)


def test_inner_cg_on_later_negative_curvature_returns_last_iterate():
    matrix = np.diag([1.0, -1.0])
    g = np.array([1.0, 0.5])  # d0 = -g has curvature 1 - 0.25 > 0, d1 has negative curvature
    result = truncated_cg(lambda v: matrix @ v, g, tolerance=1e-12, max_iter=5)
    assert result.reason == "negative_curvature"
    assert result.iterations == 2
    alpha = (g @ g) / (g @ matrix @ g)
    np.testing.assert_allclose(result.direction, -alpha * g)
    assert g @ result.direction < 0


def test_inner_cg_respects_the_iteration_cap():
    problem = Quadratic(matrix_with_eigenvalues(np.linspace(1.0, 100.0, 20)), np.ones(20))
    result = truncated_cg(lambda v: problem.matrix @ v, np.ones(20), tolerance=1e-14, max_iter=4)
    assert result.reason == "max_iter"
    assert result.iterations == 4


def test_curvature_test_is_scale_invariant():
    matrix = np.diag([1e-3, 1.0])
    g = np.array([1.0, 1.0])
    plain = truncated_cg(lambda v: matrix @ v, g, tolerance=1e-12, max_iter=5)
    scaled = truncated_cg(lambda v: 1e-20 * (matrix @ v), 1e-20 * g, tolerance=1e-32, max_iter=5)
    assert plain.reason == scaled.reason == "residual"
    np.testing.assert_allclose(scaled.direction, plain.direction, rtol=1e-10)


# --- the limited-memory preconditioner from CG pairs (Morales & Nocedal 2000)


def test_preconditioner_is_the_bfgs_inverse_update_of_its_pairs():
    # N&W eq 6.17 applied densely, pair by pair, from H0 = gamma I (eq 7.20).
    rng = np.random.default_rng(1)
    factor = rng.standard_normal((30, 30))
    hessian = factor @ factor.T + np.eye(30)
    pairs = [(s, hessian @ s) for s in rng.standard_normal((6, 30))]
    s_new, y_new = pairs[-1]
    inverse = (s_new @ y_new) / (y_new @ y_new) * np.eye(30)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        v = np.eye(30) - rho * np.outer(y, s)
        inverse = v.T @ inverse @ v + rho * np.outer(s, s)
    preconditioner = LimitedMemoryInverse(pairs)
    for vector in rng.standard_normal((3, 30)):
        np.testing.assert_allclose(preconditioner.apply(vector), inverse @ vector, rtol=1e-10)


def test_cg_pairs_are_exact_and_the_preconditioner_inverts_the_hessian_on_them():
    matrix = matrix_with_eigenvalues(np.logspace(0, 4, 40), seed=2)
    g = np.random.default_rng(3).standard_normal(40)
    run = truncated_cg(lambda v: matrix @ v, g, tolerance=0.0, max_iter=8, keep_pairs=5)
    assert run.reason == "max_iter" and len(run.pairs) == 5
    for s, y in run.pairs:
        assert s @ y > 0
        np.testing.assert_allclose(y, matrix @ s, rtol=1e-12, atol=1e-12 * np.linalg.norm(y))
    # CG pairs are conjugate, so the BFGS matrix keeps every secant condition P y = s.
    preconditioner = LimitedMemoryInverse(run.pairs)
    for s, y in run.pairs:
        np.testing.assert_allclose(preconditioner.apply(y), s, rtol=1e-8, atol=1e-10)


def test_pairs_of_one_system_precondition_the_next_one():
    matrix = matrix_with_eigenvalues(np.logspace(0, 4, 60), seed=0)
    first_rhs, second_rhs = np.random.default_rng(0).standard_normal((2, 60))
    first = truncated_cg(
        lambda v: matrix @ v, first_rhs, tolerance=1e-8, max_iter=2000, keep_pairs=10
    )
    preconditioner = LimitedMemoryInverse(first.pairs)
    tolerance = 1e-8 * np.linalg.norm(second_rhs)
    plain = truncated_cg(lambda v: matrix @ v, second_rhs, tolerance=tolerance, max_iter=2000)
    preconditioned = truncated_cg(
        lambda v: matrix @ v,
        second_rhs,
        tolerance=tolerance,
        max_iter=2000,
        preconditioner=preconditioner.apply,
    )
    assert plain.reason == preconditioned.reason == "residual"
    assert preconditioned.iterations < 0.85 * plain.iterations
    residual = matrix @ preconditioned.direction + second_rhs
    assert np.linalg.norm(residual) <= 1.01 * tolerance  # the test is on the true residual


def test_preconditioned_cg_with_negative_curvature_first_returns_minus_p_g():
    pairs = [(np.array([1.0, 0.0, 0.0]), np.array([4.0, 0.0, 0.0]))]
    preconditioner = LimitedMemoryInverse(pairs)
    g = np.array([1.0, 1.0, 0.0])
    result = truncated_cg(
        lambda v: np.diag([-1.0, -1.0, 1.0]) @ v,
        g,
        tolerance=1e-12,
        max_iter=3,
        preconditioner=preconditioner.apply,
    )
    assert result.reason == "negative_curvature" and result.iterations == 1
    np.testing.assert_allclose(result.direction, -preconditioner.apply(g))
    assert g @ result.direction < 0


def test_preconditioner_rejects_no_pairs_and_non_positive_curvature():
    with pytest.raises(ValueError, match="^pairs:"):
        LimitedMemoryInverse([])
    with pytest.raises(ValueError, match="^pairs:"):
        LimitedMemoryInverse([(np.ones(2), -np.ones(2))])


def test_newton_cg_preconditions_from_the_second_iteration_and_plain_never():
    for preconditioner, expected in (("lbfgs", [False, True, True]), ("none", [False] * 3)):
        solver, oracle = NewtonCG(preconditioner=preconditioner), Oracle(Rosenbrock(10))
        state = solver.init(oracle, Rosenbrock(10).x0)
        used = []
        for _ in range(3):
            state = solver.step(oracle, state)
            used.append(state.info["preconditioned"])
        assert used == expected
        assert len(state.curvature_pairs) <= (10 if preconditioner == "lbfgs" else 0)


def test_preconditioning_saves_hessian_products_on_an_ill_conditioned_quadratic():
    # Newton-CG restarts CG every iteration; on a fixed Hessian the previous run's pairs
    # should make every later run cheaper.
    problem = Quadratic(matrix_with_eigenvalues(np.logspace(0, 5, 80), seed=4), np.ones(80))
    runs = {
        name: minimize(problem, NewtonCG(preconditioner=name), gtol=1e-9, max_iter=100)
        for name in ("none", "lbfgs")
    }
    assert runs["none"].status == runs["lbfgs"].status == "converged"
    assert runs["lbfgs"].n_hvp < runs["none"].n_hvp


@pytest.mark.parametrize(
    ("rule", "grad_ratio", "expected"),
    [("sqrt", 1e-4, 1e-2), ("sqrt", 4.0, 0.5), ("linear", 1e-4, 1e-4), ("constant", 7.0, 0.3)],
)
def test_forcing_terms(rule, grad_ratio, expected):
    assert forcing_term(rule, grad_ratio, 0.3) == pytest.approx(expected)


def test_newton_cg_solves_rosenbrock_2d():
    result = minimize(Rosenbrock(2), NewtonCG(), gtol=1e-8, max_iter=100)
    assert result.status == "converged"
    assert result.grad_norm <= 1e-8
    assert result.iters <= 100
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-7)


def test_newton_cg_counts_do_not_depend_on_the_number_of_identical_blocks():
    # ||g||_2 of m identical blocks is sqrt(m) times a block's, so the runner's gtol on
    # the 2-norm is scaled the same way: each run stops on the same per-block test.
    runs = {}
    for dim in (2, 100, 10000):
        gtol = 1e-8 * math.sqrt(dim / 2)
        result = minimize(Rosenbrock(dim, "extended"), NewtonCG(), gtol=gtol, max_iter=200)
        assert result.status == "converged"
        runs[dim] = (result.iters, result.n_f, result.n_g, result.n_hvp, result.n_hess)
    assert runs[2] == runs[100] == runs[10000]


class Scaled(Problem):
    """c * f for a wrapped problem (test-local)."""

    def __init__(self, problem: Problem, scale: float) -> None:
        self.problem, self.scale = problem, scale
        self.dim, self.x0, self.name, self.params = problem.dim, problem.x0, "scaled", {}

    def value_and_grad(self, x):
        value, grad = self.problem.value_and_grad(x)
        return self.scale * value, self.scale * grad

    def hvp(self, x, v):
        return self.scale * self.problem.hvp(x, v)


@pytest.mark.parametrize("forcing", ["sqrt", "linear", "constant"])
def test_newton_cg_counts_do_not_depend_on_the_scale_of_f(forcing):
    scale = 2.0**-30  # a power of two: scaling is exact in floating point
    plain = minimize(Rosenbrock(10), NewtonCG(forcing=forcing), gtol=1e-8, max_iter=500)
    scaled = minimize(
        Scaled(Rosenbrock(10), scale), NewtonCG(forcing=forcing), gtol=scale * 1e-8, max_iter=500
    )
    assert plain.status == scaled.status == "converged"
    assert (plain.iters, plain.n_f, plain.n_hvp) == (scaled.iters, scaled.n_f, scaled.n_hvp)
    np.testing.assert_array_equal(plain.x, scaled.x)


def test_newton_cg_evaluates_each_line_search_trial_once_and_nothing_else():
    solver, oracle = NewtonCG(), Oracle(Rosenbrock(2))
    state = solver.init(oracle, np.array([-1.2, 1.0]))
    evaluations = cg_iters = 0
    for _ in range(20):
        state = solver.step(oracle, state)
        evaluations += state.info["line_search_evals"]
        cg_iters += state.info["cg_iters"]
        f, g = oracle.problem.value_and_grad(state.x)
        assert state.f == f
        np.testing.assert_array_equal(state.g, g)
    assert oracle.n_f == oracle.n_g == 1 + evaluations
    assert oracle.n_hvp == cg_iters


def test_newton_cg_takes_the_exact_newton_step_on_a_quadratic():
    problem = Quadratic(matrix_with_eigenvalues([1.0, 2.0, 3.0, 10.0]), np.arange(4.0))
    result = minimize(problem, NewtonCG(forcing="constant", forcing_constant=1e-12), gtol=1e-10)
    assert result.status == "converged"
    assert result.iters == 1
    assert result.n_hvp == 4


def test_newton_cg_reports_a_line_search_failure_as_failed():
    class Unbounded(Quadratic):
        pass

    problem = Unbounded(np.zeros((3, 3)), np.ones(3))  # f = sum(x): no minimizer
    result = minimize(problem, NewtonCG(), gtol=1e-8, max_iter=10)
    assert result.status == "failed"
    assert "line search" in result.message


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"forcing": "cubic"}, "forcing"),
        ({"forcing_constant": 1.0}, "forcing_constant"),
        ({"max_cg_iter": 0}, "max_cg_iter"),
        ({"max_cg_iter": 2.5}, "max_cg_iter"),
        ({"curvature_tol": -1.0}, "curvature_tol"),
        ({"c1": 0.0}, "c1"),
        ({"c1": 0.5, "c2": 0.4}, "c2"),
        ({"max_line_search_evals": 0}, "max_line_search_evals"),
        ({"preconditioner": "ilu"}, "preconditioner"),
        ({"preconditioner_memory": 0}, "preconditioner_memory"),
        ({"preconditioner_memory": True}, "preconditioner_memory"),
    ],
)
def test_invalid_hyper_parameters_name_the_field(params, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        NewtonCG(**params)
