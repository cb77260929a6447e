"""Hand-checkable tests of nonlinear_cg, bb, trust_exact, dogleg, gauss_newton and
levenberg_marquardt: each against a result known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import make_problem, minimize
from optbench.problems.base import LeastSquaresShaped, Problem
from optbench.problems.oracle import Oracle
from optbench.run.schema import ConfigError
from optbench.solvers import make_solver
from optbench.solvers.dogleg import cauchy_point, dogleg_subproblem
from optbench.solvers.levenberg_marquardt import damped_step
from optbench.solvers.nonlinear_cg import BETA_RULES
from optbench.solvers.trust_exact import exact_subproblem


class Quadratic(Problem):
    r""":math:`f(x) = \tfrac12 x^\top A x - b^\top x` with a symmetric positive definite A."""

    def __init__(self, matrix: np.ndarray, rhs: np.ndarray) -> None:
        self.matrix, self.rhs = matrix, rhs
        self.name, self.dim, self.params = "quadratic", rhs.size, {}
        self.x0 = np.zeros(rhs.size)
        solution = np.linalg.solve(matrix, rhs)
        self.f_star = float(-0.5 * rhs @ solution)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        ax = self.matrix @ x
        return float(0.5 * x @ ax - self.rhs @ x), ax - self.rhs

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.matrix @ v


class LinearResiduals(LeastSquaresShaped, Problem):
    r""":math:`f(x) = \|Ax - b\|^2` with :math:`b = A x^\star` (zero residual at x*)."""

    residual_scale = 1.0

    def __init__(self, matrix: np.ndarray, solution: np.ndarray, x0: np.ndarray) -> None:
        self.matrix, self.solution = matrix, solution
        self.rhs = matrix @ solution
        self.n_residuals = matrix.shape[0]
        self.name, self.dim, self.params = "linear_residuals", matrix.shape[1], {}
        self.x0, self.f_star = x0, 0.0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self.matrix @ x - self.rhs

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return self.matrix

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        r = self.residuals(x)
        return float(r @ r), 2.0 * self.matrix.T @ r

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return 2.0 * self.matrix.T @ (self.matrix @ v)


def spd_matrix(n: int, condition: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.geomspace(1.0, condition, n)) @ q.T


def linear_cg_iterates(matrix: np.ndarray, rhs: np.ndarray, steps: int) -> list[np.ndarray]:
    """N&W Alg. 5.2 from x = 0, written out here as the reference."""
    x = np.zeros(rhs.size)
    r = matrix @ x - rhs
    p = -r
    iterates = []
    for _ in range(steps):
        ap = matrix @ p
        alpha = (r @ r) / (p @ ap)
        x = x + alpha * p
        r_new = r + alpha * ap
        p = -r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
        iterates.append(x.copy())
    return iterates


@pytest.mark.parametrize("beta", BETA_RULES)
def test_nonlinear_cg_with_exact_line_search_is_linear_cg(beta: str) -> None:
    """On a quadratic, every beta rule with an exact search gives the iterates of linear CG."""
    n = 6
    matrix, rhs = spd_matrix(n, 50.0), np.arange(1.0, n + 1)
    problem = Quadratic(matrix, rhs)
    # c2 tiny: the strong Wolfe search is exact to 1e-10 in the slope
    solver = make_solver("nonlinear_cg", beta=beta, c1=1e-12, c2=1e-10, restart_threshold=1.0)
    oracle = Oracle(problem)
    state = solver.init(oracle, problem.x0)
    for k, expected in enumerate(linear_cg_iterates(matrix, rhs, n - 1)):
        state = solver.step(oracle, state)
        assert state.status == "running", state.message
        assert np.allclose(state.x, expected, rtol=1e-6, atol=1e-8), (k, state.x, expected)
    assert state.restarts == 0


def test_nonlinear_cg_restarts_every_n_and_when_gradients_are_not_orthogonal() -> None:
    result = minimize(make_problem("mgh_01_rosenbrock"), "nonlinear_cg", gtol=1e-6)
    assert result.status == "converged"
    solver = make_solver("nonlinear_cg", restart_every=1)  # restart every step = steepest descent
    oracle = Oracle(make_problem("mgh_05_beale"))
    state = solver.init(oracle, oracle.problem.x0)
    state = solver.step(oracle, state)
    assert np.array_equal(state.direction, -state.g) and state.restarts == 1


def test_bb_on_a_multiple_of_the_identity_steps_to_the_minimizer() -> None:
    """With A = cI the first BB step is exact: s^T s / s^T y = 1/c, so x_2 = x*."""
    n, c = 5, 3.0
    rhs = np.linspace(-1.0, 2.0, n)
    problem = Quadratic(c * np.eye(n), rhs)
    for formula in ("long", "short"):
        solver = make_solver("bb", formula=formula)
        oracle = Oracle(problem)
        state = solver.init(oracle, problem.x0)
        state = solver.step(oracle, state)
        assert state.bb_step == pytest.approx(1.0 / c, rel=1e-14)
        state = solver.step(oracle, state)
        assert np.allclose(state.x, rhs / c, rtol=1e-14, atol=1e-14)


def test_bb_step_is_an_inverse_rayleigh_quotient_and_the_search_is_nonmonotone() -> None:
    matrix = spd_matrix(8, 1e3, seed=1)
    problem = Quadratic(matrix, np.ones(8))
    eigenvalues = np.linalg.eigvalsh(matrix)
    oracle = Oracle(problem)
    solver = make_solver("bb")
    state = solver.init(oracle, problem.x0)
    values = [state.f]
    for _ in range(60):
        state = solver.step(oracle, state)
        values.append(state.f)
        assert (
            1 / eigenvalues[-1] * (1 - 1e-12) <= state.bb_step <= 1 / eigenvalues[0] * (1 + 1e-12)
        )
        # GLL: never above the largest of the last `memory` values
        assert state.f <= max(values[-11:-1])
    assert any(b > a for a, b in zip(values, values[1:], strict=False)), "never nonmonotone"


def test_trust_exact_solves_the_hard_case() -> None:
    """N&W Sec. 4.3: g orthogonal to the eigenvector of lambda_1 < 0 and a small pseudo-step."""
    hessian = np.diag([-1.0, 1.0, 2.0])
    g = np.array([0.0, 1.0, 1.0])
    radius = 1.0
    sub = exact_subproblem(hessian, g, radius)
    assert sub.info["kind"] == "hard_case"
    # p = -(B + I)^+ g + tau e_1 with ||p|| = 1: (tau, -1/2, -1/3)
    tau = math.sqrt(1.0 - 1 / 4 - 1 / 9)
    assert np.allclose(np.abs(sub.step), [tau, 0.5, 1 / 3], rtol=1e-12)
    assert np.allclose(sub.step[1:], [-0.5, -1 / 3], rtol=1e-12)
    # Theorem 4.1 with lambda = 1
    assert np.allclose((hessian + np.eye(3)) @ sub.step, -g, atol=1e-12)
    assert np.linalg.norm(sub.step) == pytest.approx(radius, rel=1e-12)


def model(hessian: np.ndarray, g: np.ndarray, p: np.ndarray) -> float:
    return float(g @ p + 0.5 * p @ hessian @ p)


@pytest.mark.parametrize("seed", range(5))
def test_trust_exact_meets_the_optimality_conditions(seed: int) -> None:
    """Thm. 4.1 on random indefinite models, and no point of the sphere does better."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((5, 5))
    hessian, g, radius = a + a.T, rng.standard_normal(5), 0.7
    sub = exact_subproblem(hessian, g, radius)
    lam = sub.info["lambda"]
    assert lam >= -np.linalg.eigvalsh(hessian)[0] - 1e-9
    assert np.allclose((hessian + lam * np.eye(5)) @ sub.step, -g, atol=1e-8)
    assert np.linalg.norm(sub.step) == pytest.approx(radius, rel=1e-8)
    samples = rng.standard_normal((20000, 5))
    samples *= radius / np.linalg.norm(samples, axis=1, keepdims=True)
    best_sampled = np.min(samples @ g + 0.5 * np.einsum("ij,jk,ik->i", samples, hessian, samples))
    assert model(hessian, g, sub.step) <= best_sampled + 1e-12


def test_dogleg_is_the_newton_step_inside_the_region() -> None:
    hessian, g = spd_matrix(4, 10.0, seed=2), np.array([1.0, -2.0, 0.5, 1.0])
    newton = -np.linalg.solve(hessian, g)
    sub = dogleg_subproblem(hessian, g, radius=2.0 * np.linalg.norm(newton))
    assert sub.info["kind"] == "newton" and not sub.hits_boundary
    assert np.allclose(sub.step, newton, rtol=1e-12)
    # between the Cauchy and the Newton step: on the boundary, model below the Cauchy point's
    radius = 0.5 * np.linalg.norm(newton)
    sub = dogleg_subproblem(hessian, g, radius)
    assert sub.hits_boundary and np.linalg.norm(sub.step) == pytest.approx(radius, rel=1e-12)
    assert model(hessian, g, sub.step) <= model(hessian, g, cauchy_point(hessian, g, radius))
    # a tiny region: the steepest-descent step to the boundary
    sub = dogleg_subproblem(hessian, g, 1e-6)
    assert np.allclose(sub.step, -1e-6 * g / np.linalg.norm(g), rtol=1e-12)


def test_dogleg_falls_back_to_the_cauchy_point_for_an_indefinite_model() -> None:
    hessian, g = np.diag([1.0, -1.0]), np.array([1.0, 1.0])
    sub = dogleg_subproblem(hessian, g, 0.5)
    assert sub.info["kind"] == "cauchy"
    # g^T B g = 0 <= 0: tau = 1, the steepest-descent step to the boundary
    assert np.allclose(sub.step, -0.5 * g / np.sqrt(2.0))


@pytest.mark.parametrize("solver", ["gauss_newton", "levenberg_marquardt"])
def test_zero_residual_linear_problem_is_solved_in_one_step(solver: str) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((10, 4))
    solution = np.array([1.0, -2.0, 3.0, 0.5])
    problem = LinearResiduals(matrix, solution, x0=np.array([0.5, 0.5, 0.5, 0.5]))
    result = minimize(problem, solver, gtol=1e-9, max_iter=5)
    assert result.status == "converged" and result.iters == 1, result.message
    assert result.n_J == 2  # at x0 and at x1
    assert np.allclose(result.x, solution, rtol=1e-12)


def test_levenberg_marquardt_step_meets_the_scaled_region() -> None:
    """Moré's lambda: ||D p|| within 10 % of Delta, p = -(J^T J + lambda D^2)^{-1} J^T r."""
    rng = np.random.default_rng(4)
    jacobian, residuals = rng.standard_normal((8, 3)), rng.standard_normal(8)
    scaling = np.array([1.0, 3.0, 0.5])
    step, lam = damped_step(jacobian, residuals, scaling, radius=0.05, damping=0.0)
    assert lam > 0
    assert abs(np.linalg.norm(scaling * step) - 0.05) <= 0.1 * 0.05
    normal = jacobian.T @ jacobian + lam * np.diag(scaling**2)
    assert np.allclose(normal @ step, -jacobian.T @ residuals, atol=1e-10)
    step, lam = damped_step(jacobian, residuals, scaling, radius=1e6, damping=0.0)
    assert lam == 0.0
    assert np.allclose(step, np.linalg.lstsq(jacobian, -residuals, rcond=None)[0])


@pytest.mark.parametrize(
    "name", ["mgh_01_rosenbrock", "mgh_07_helical_valley", "mgh_08_bard", "mgh_12_box_3d"]
)
def test_levenberg_marquardt_reaches_the_certified_optimum(name: str) -> None:
    problem = make_problem(name)
    result = minimize(problem, "levenberg_marquardt", gtol=1e-8, max_iter=200)
    assert result.status == "converged", result.message
    assert result.f - problem.f_star <= 1e-8 * max(1.0, abs(problem.f_star))


@pytest.mark.parametrize("solver", ["gauss_newton", "levenberg_marquardt"])
def test_residual_solvers_are_refused_on_problems_without_residuals(solver: str) -> None:
    problem = make_problem("logistic_small")
    reason = make_solver(solver).incompatibility(problem)
    assert reason is not None and solver in reason and "logistic_small" in reason
    assert "\n" not in reason
    result = minimize(problem, solver, max_iter=3)
    assert result.status == "error" and solver in result.message


def test_config_validation_refuses_a_residual_solver_before_any_run(tmp_path) -> None:
    from optbench.run.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nproblems:\n  - mgh_05_beale\n  - logistic_small\n"
        "solvers:\n  - name: gauss_newton\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path).runs  # noqa: B018 - expansion validates
    message = str(raised.value)
    assert "gauss_newton" in message and "logistic_small" in message and "\n" not in message


@pytest.mark.parametrize("solver", ["trust_exact", "dogleg"])
def test_dense_hessian_solvers_are_refused_above_hess_max_dim(solver: str) -> None:
    problem = make_problem("rosenbrock", dim=20, hess_max_dim=10)
    reason = make_solver(solver).incompatibility(problem)
    assert reason is not None and solver in reason and "hess_max_dim = 10" in reason


def test_nonlinear_cg_reaching_an_exact_zero_gradient_does_not_raise() -> None:
    # Variably dimensioned from x0: PR+ lands on the minimiser with g = 0 exactly, where
    # the next initial step of N&W eq. 3.60 divided by a zero slope.
    result = minimize(make_problem("mgh_25_variably_dimensioned"), "nonlinear_cg", gtol=0.0,
                      max_iter=200)  # fmt: skip
    assert result.status != "error", result.message
