"""Gradient descent and Nesterov's method against their convergence theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import make_problem
from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.runner import minimize
from optbench.solvers.gradient_descent import GradientDescent
from optbench.solvers.nesterov import Nesterov

# Relative slack for rounding in the computed L, mu and f*: bounds hold to this factor.
ROUNDING_SLACK = 1.0 + 1e-9


@pytest.fixture(scope="module")
def least_squares():
    """Strongly convex least squares, kappa = cond^2 = 100, with its exact minimizer."""
    problem = make_problem("least_squares", n_samples=200, n_features=20, cond=10.0, seed=3)
    minimizer = np.linalg.solve(problem.A.T @ problem.A, problem.A.T @ problem.b)
    smoothness = problem.smoothness()
    assert smoothness.L / smoothness.mu == pytest.approx(100.0, rel=1e-6)
    return problem, minimizer


def run_steps(solver, problem, n_steps):
    """Drive init/step directly; return the oracle and every state (iterate 0 first)."""
    oracle = Oracle(problem)
    states = [solver.init(oracle, problem.x0)]
    for _ in range(n_steps):
        states.append(solver.step(oracle, states[-1]))
    return oracle, states


# --- gradient descent


def test_gd_one_over_L_contracts_the_gap_by_one_minus_mu_over_L(least_squares):
    problem, _ = least_squares
    smoothness = problem.smoothness()
    rate = 1.0 - smoothness.mu / smoothness.L
    result = minimize(problem, GradientDescent(step_size="1/L"), f_gap_tol=1e-10, max_iter=5000)
    assert result.status == "converged"
    trace = result.trace
    assert list(trace["iter"]) == list(range(result.iters + 1))
    gaps = trace["f_gap"].to_numpy()
    bound = rate ** trace["iter"].to_numpy() * gaps[0]
    assert np.all(gaps <= bound * ROUNDING_SLACK)
    # Exactly one fused value-and-gradient per iteration, plus the one at x0.
    assert result.n_f == result.n_g == result.iters + 1
    assert np.all(trace["step_size"].iloc[1:] == 1.0 / smoothness.L)


def test_gd_two_over_L_plus_mu_contracts_the_distance(least_squares):
    problem, minimizer = least_squares
    smoothness = problem.smoothness()
    kappa = smoothness.L / smoothness.mu
    rate = (kappa - 1.0) / (kappa + 1.0)
    solver = GradientDescent(step_size=2.0 / (smoothness.L + smoothness.mu))
    _, states = run_steps(solver, problem, 300)
    distances = np.array([np.linalg.norm(state.x - minimizer) for state in states])
    bound = rate ** np.arange(len(states)) * distances[0]
    meaningful = bound > 1e-9 * distances[0]  # above the rounding of x*
    assert meaningful.sum() > 100
    assert np.all(distances[meaningful] <= bound[meaningful] * ROUNDING_SLACK)


def test_gd_armijo_satisfies_sufficient_decrease_at_every_step():
    result = minimize(Rosenbrock(dim=2), GradientDescent(), gtol=1e-8, max_iter=500)
    assert result.status == "max_iter"  # GD is slow on Rosenbrock; 500 steps suffice here
    trace = result.trace
    f, grad_norm, step = (trace[c].to_numpy() for c in ("f", "grad_norm", "step_size"))
    decrease = f[1:] - f[:-1]
    assert np.all(decrease < 0)  # monotone
    assert np.all(decrease <= -1e-4 * step[1:] * grad_norm[:-1] ** 2)  # Armijo, c1 = 1e-4
    assert f[-1] < 1e-2 * f[0]
    # Trial steps grow x2 from the last accepted one: the accepted steps vary.
    assert len(set(step[1:])) > 3


def test_gd_armijo_reaches_tolerance_on_least_squares(least_squares):
    problem, minimizer = least_squares
    result = minimize(problem, GradientDescent(), gtol=1e-8, max_iter=5000)
    assert result.status == "converged"
    assert result.grad_norm <= 1e-8
    np.testing.assert_allclose(result.x, minimizer, atol=1e-6)
    # Each trial is one fused evaluation; about two trials per iteration with growth x2.
    assert result.n_f == result.n_g
    assert result.n_f <= 2.5 * result.iters


@pytest.mark.parametrize("multiple", ["0.5", "1", "1.5", "1e-05"])
def test_gd_step_size_as_a_multiple_of_one_over_L(least_squares, multiple):
    problem, _ = least_squares
    step_size = float(multiple) / problem.smoothness().L
    relative = minimize(problem, GradientDescent(step_size=f"{multiple}/L"), max_iter=20)
    absolute = minimize(problem, GradientDescent(step_size=step_size), max_iter=20)
    assert relative.trace["step_size"].iloc[-1] == step_size
    np.testing.assert_array_equal(relative.x, absolute.x)


def test_gd_one_over_L_needs_a_known_L():
    problem = Rosenbrock(dim=2)
    with pytest.raises(ValueError, match=r"^step_size: '1/L' needs the Lipschitz constant"):
        GradientDescent(step_size="1/L").init(Oracle(problem), problem.x0)
    result = minimize(problem, GradientDescent(step_size="1/L"))
    assert result.status == "error"
    assert "'1/L' needs the Lipschitz constant" in result.message


def test_gd_reports_line_search_failure_as_failed():
    # With the gradient's sign flipped, -g is an ascent direction: no step is acceptable.
    problem = make_problem("least_squares", n_samples=50, n_features=5, cond=3.0, seed=0)

    class WrongGradient(type(problem)):
        def value_and_grad(self, x):
            value, grad = super().value_and_grad(x)
            return value, -grad

    wrong = WrongGradient(A=problem.A, b=problem.b)
    result = minimize(wrong, GradientDescent(), max_iter=10, x0=np.ones(5))
    assert result.status == "failed"
    assert result.message.startswith("line search: no step satisfying the Armijo condition")
    assert result.iters == 1


# --- Nesterov


def test_nesterov_strongly_convex_rate(least_squares):
    # Nesterov 2004, Thm. 2.2.3 with gamma_0 = mu (Constant Step Scheme III), at x_k:
    # f(x_k) - f* <= (1 - sqrt(mu/L))^k (f(x_0) - f* + mu/2 ||x_0 - x*||^2).
    problem, minimizer = least_squares
    smoothness = problem.smoothness()
    f_star = problem.value(minimizer)
    _, states = run_steps(Nesterov(momentum="strongly_convex"), problem, 150)
    x0 = problem.x0
    initial = problem.value(x0) - f_star + 0.5 * smoothness.mu * np.sum((x0 - minimizer) ** 2)
    for k, state in enumerate(states):
        bound = (1.0 - math.sqrt(smoothness.mu / smoothness.L)) ** k * initial
        if bound < 1e-11:
            break
        assert problem.value(state.gradient_point) - f_star <= bound * ROUNDING_SLACK
    assert k > 100


def test_nesterov_convex_rate(least_squares):
    # Beck & Teboulle 2009, Thm. 4.4: f(x_k) - f* <= 2 L ||x_0 - x*||^2 / (k + 1)^2.
    problem, minimizer = least_squares
    lipschitz = problem.smoothness().L
    f_star = problem.value(minimizer)
    _, states = run_steps(Nesterov(momentum="convex"), problem, 200)
    distance_sq = np.sum((problem.x0 - minimizer) ** 2)
    for k, state in enumerate(states):
        bound = 2.0 * lipschitz * distance_sq / (k + 1) ** 2
        assert problem.value(state.gradient_point) - f_star <= bound * ROUNDING_SLACK


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"momentum": "convex"},
        {"momentum": "convex", "restart": "function"},
        {"momentum": "convex", "restart": "gradient"},
        {"restart": "function"},
    ],
)
def test_nesterov_needs_fewer_iterations_than_gd(least_squares, params):
    problem, _ = least_squares
    gd = minimize(problem, GradientDescent(step_size="1/L"), gtol=1e-8, max_iter=5000)
    accelerated = minimize(problem, Nesterov(**params), gtol=1e-8, max_iter=5000)
    assert gd.status == accelerated.status == "converged"
    assert accelerated.iters < gd.iters
    if params.get("momentum") != "convex" or "restart" in params:
        assert 3 * accelerated.iters < gd.iters  # sqrt(kappa) = 10 vs kappa = 100
    # One fused value-and-gradient per iteration, at the extrapolated point.
    assert accelerated.n_f == accelerated.n_g == accelerated.iters + 1


def test_restart_helps_the_convex_momentum_on_a_strongly_convex_problem(least_squares):
    problem, _ = least_squares
    plain = minimize(problem, Nesterov(momentum="convex"), gtol=1e-8)
    for scheme in ("function", "gradient"):
        restarted = minimize(problem, Nesterov(momentum="convex", restart=scheme), gtol=1e-8)
        assert restarted.status == "converged"
        assert 2 * restarted.iters < plain.iters


def test_nesterov_reports_the_point_where_its_gradient_was_evaluated(least_squares):
    problem, _ = least_squares
    result = minimize(problem, Nesterov(), gtol=1e-8)
    assert result.status == "converged"
    assert np.linalg.norm(problem.grad(result.x)) == pytest.approx(result.grad_norm, rel=1e-12)
    assert result.f == pytest.approx(problem.value(result.x), rel=1e-14)


def test_function_restart_counts_restarts(least_squares):
    problem, _ = least_squares
    _, states = run_steps(Nesterov(momentum="convex", restart="function"), problem, 100)
    values = np.array([state.f for state in states])
    increases = int(np.sum(values[1:] > values[:-1]))
    assert increases > 0
    assert states[-1].restarts == increases - int(states[-1].restart_next)


def test_nesterov_strongly_convex_momentum_needs_mu():
    problem = make_problem("logistic", n_samples=50, n_features=3, fit_intercept=True, seed=0)
    assert problem.smoothness().mu == 0.0
    with pytest.raises(ValueError, match=r"^momentum: 'strongly_convex' needs mu > 0"):
        Nesterov(momentum="strongly_convex").init(Oracle(problem), problem.x0)
    state = Nesterov().init(Oracle(problem), problem.x0)  # auto: falls back to t_k
    assert state.momentum_constant is None


# --- validation


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("step_size", {"step_size": -0.1}),
        ("step_size", {"step_size": 0}),
        ("step_size", {"step_size": math.inf}),
        ("step_size", {"step_size": "1/l"}),
        ("step_size", {"step_size": "-1/L"}),
        ("step_size", {"step_size": "0/L"}),
        ("step_size", {"step_size": "nan/L"}),
        ("step_size", {"step_size": "/L"}),
        ("step_size", {"step_size": True}),
        ("c1", {"c1": 0.0}),
        ("c1", {"c1": 1.0}),
        ("shrink", {"shrink": 1.0}),
        ("growth", {"growth": 0.5}),
        ("initial_step", {"initial_step": 0.0}),
    ],
)
def test_gd_rejects_invalid_hyper_parameters(field, params):
    with pytest.raises(ValueError, match=rf"^{field}: must be"):
        GradientDescent(**params)


def test_gd_step_size_message_lists_the_allowed_values():
    with pytest.raises(ValueError) as error:
        GradientDescent(step_size=-0.1)
    assert str(error.value) == (
        "step_size: must be a number > 0, 'c/L' with a number c > 0 (e.g. '1/L'), "
        "or 'armijo'; got -0.1"
    )


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("step_size", {"step_size": "armijo"}),
        ("step_size", {"step_size": -1.0}),
        ("momentum", {"momentum": "fast"}),
        ("restart", {"restart": "always"}),
    ],
)
def test_nesterov_rejects_invalid_hyper_parameters(field, params):
    with pytest.raises(ValueError, match=rf"^{field}: must be"):
        Nesterov(**params)


def test_solvers_are_registered():
    from optbench.registry import SOLVERS

    assert SOLVERS.get("gd") is GradientDescent
    assert SOLVERS.get("nesterov") is Nesterov
