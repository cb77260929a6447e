"""CG-Steihaug (N&W Alg 7.2) and the trust-region Newton-CG driver (N&W Alg 4.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optbench
from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.runner import StopCriteria, minimize
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.solvers.steihaug import boundary_steps, steihaug_cg
from optbench.solvers.trust_ncg import TrustNCG
from optbench.solvers.trust_region import reduction_ratio


def symmetric(eigenvalues, seed):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return (basis * np.asarray(eigenvalues, dtype=float)) @ basis.T


def model(matrix, g, p):
    return g @ p + 0.5 * p @ matrix @ p


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("radius", [1e-3, 0.1, 1.0, 100.0])
def test_steihaug_step_stays_in_the_region_and_reduces_the_model(seed, radius):
    rng = np.random.default_rng(seed)
    matrix = symmetric(rng.uniform(-1.0, 3.0, size=10), seed)
    g = rng.standard_normal(10)
    result = steihaug_cg(lambda v: matrix @ v, g, radius, tolerance=1e-10, max_iter=50)
    assert np.linalg.norm(result.step) <= radius * (1 + 1e-12)
    assert result.predicted_reduction > 0
    assert result.predicted_reduction == pytest.approx(-model(matrix, g, result.step), rel=1e-9)
    if result.hits_boundary:
        assert np.linalg.norm(result.step) == pytest.approx(radius, rel=1e-12)


def test_steihaug_hits_the_boundary_on_negative_curvature():
    matrix = np.diag([-2.0, 1.0, 3.0])
    g = np.array([1.0, 0.3, -0.2])  # d0 = -g already has negative curvature
    for radius in (0.01, 1.0, 50.0):
        result = steihaug_cg(lambda v: matrix @ v, g, radius, tolerance=1e-12, max_iter=10)
        assert result.reason == "negative_curvature"
        assert result.hits_boundary
        assert np.linalg.norm(result.step) == pytest.approx(radius, rel=1e-12)
        assert result.predicted_reduction == pytest.approx(-model(matrix, g, result.step))


def test_steihaug_first_direction_with_negative_curvature_goes_along_minus_g():
    matrix = np.diag([-1.0, -1.0])
    g = np.array([3.0, 4.0])
    result = steihaug_cg(lambda v: matrix @ v, g, 2.0, tolerance=1e-12, max_iter=10)
    assert result.iterations == 1
    np.testing.assert_allclose(result.step, -2.0 * g / 5.0)


def test_steihaug_returns_the_newton_step_inside_the_region():
    matrix = symmetric([1.0, 2.0, 5.0, 7.0, 11.0], seed=3)
    g = np.array([1.0, -2.0, 0.5, 0.0, 1.5])
    newton = -np.linalg.solve(matrix, g)
    result = steihaug_cg(
        lambda v: matrix @ v, g, 10.0 * np.linalg.norm(newton), tolerance=1e-13, max_iter=20
    )
    assert result.reason == "residual"
    assert not result.hits_boundary
    np.testing.assert_allclose(result.step, newton, rtol=1e-10, atol=1e-12)


def test_steihaug_truncates_a_newton_step_outside_the_region_on_the_boundary():
    matrix = np.diag([1.0, 10.0])
    g = np.array([-5.0, -5.0])  # Newton step (5, 0.5) has norm ~5.02
    result = steihaug_cg(lambda v: matrix @ v, g, 1.0, tolerance=1e-12, max_iter=10)
    assert result.reason == "boundary"
    assert np.linalg.norm(result.step) == pytest.approx(1.0)


def test_boundary_steps_are_the_roots():
    z, d = np.array([0.3, -0.1]), np.array([1.0, 2.0])
    low, high = boundary_steps(z, d, 1.5)
    assert low < 0 < high
    for tau in (low, high):
        assert np.linalg.norm(z + tau * d) == pytest.approx(1.5, rel=1e-14)


@pytest.mark.parametrize("preconditioner", ["lbfgs", "none"])
def test_trust_ncg_solves_rosenbrock_2d(preconditioner):
    solver = TrustNCG(preconditioner=preconditioner)
    result = minimize(Rosenbrock(2), solver, gtol=1e-8, max_iter=100)
    assert result.status == "converged"
    assert result.grad_norm <= 1e-8
    assert result.iters <= 100
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-7)


def test_trust_ncg_evaluates_one_trial_per_iteration_and_never_an_accepted_point_again():
    solver, oracle = TrustNCG(initial_radius=100.0), Oracle(Rosenbrock(2))
    state = solver.init(oracle, np.array([-1.2, 1.0]))
    accepted = rejected = gradients = 0
    for _ in range(25):
        previous = state
        state = solver.step(oracle, state)
        # fused value-and-gradient after an acceptance, value only after a rejection
        gradients += 1 if previous.last_accepted or state.info["accepted"] else 0
        if state.info["accepted"]:
            accepted += 1
            assert state.step_size > 0
        else:
            rejected += 1
            np.testing.assert_array_equal(state.x, previous.x)
            assert state.f == previous.f
            assert state.step_size == 0.0
            assert state.radius < previous.radius
    assert rejected > 0  # a radius of 100 from (-1.2, 1) must be cut back
    assert oracle.n_f == 1 + accepted + rejected
    assert oracle.n_g == 1 + gradients
    f, g = oracle.problem.value_and_grad(state.x)
    assert state.f == f
    np.testing.assert_array_equal(state.g, g)


def test_trust_ncg_never_exceeds_the_radius():
    result = minimize(
        Rosenbrock(20), TrustNCG(initial_radius=0.5, max_radius=0.5), gtol=1e-6, max_iter=500
    )
    assert result.status == "converged"
    assert result.trace["step_size"].max() <= 0.5 * (1 + 1e-12)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"initial_radius": 0.0}, "initial_radius"),
        ({"max_radius": -1.0}, "max_radius"),
        ({"initial_radius": 10.0, "max_radius": 1.0}, "initial_radius"),
        ({"eta": 0.25}, "eta"),
        ({"eta": -0.1}, "eta"),
        ({"forcing": "quadratic"}, "forcing"),
        ({"forcing_constant": 0.0}, "forcing_constant"),
        ({"max_cg_iter": -3}, "max_cg_iter"),
        ({"curvature_tol": 2.0}, "curvature_tol"),
        ({"preconditioner": "jacobi"}, "preconditioner"),
        ({"preconditioner_memory": 0}, "preconditioner_memory"),
    ],
)
def test_invalid_hyper_parameters_name_the_field(params, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        TrustNCG(**params)


def test_reduction_ratio_is_safeguarded_at_the_rounding_level_of_f():
    f = 3.99
    assert reduction_ratio(f, f - 0.5, 1.0) == pytest.approx(0.5, rel=1e-14)
    # both reductions below the rounding of f: the plain ratio would be 0 or negative
    assert reduction_ratio(f, f, 1e-17) == pytest.approx(1.0, abs=0.02)
    assert reduction_ratio(f, float("nan"), 1.0) == -math.inf


def test_default_trust_ncg_converges_where_rounding_stalled_it():
    """Seed 1 of chained Rosenbrock 100 ends in the local minimum f = 3.99; without the
    safeguard the radius collapsed there at a gradient norm of 1.9e-8 > gtol."""
    problem = optbench.make_problem("rosenbrock_chained_100")
    spec = RunSpec(ProblemSpec("rosenbrock_chained_100"), "trust_ncg", {}, 1, StopCriteria())
    result = optbench.minimize(
        problem, "trust_ncg", gtol=1e-8, max_iter=1000, x0=spec.start_point(problem)
    )
    assert result.status == "converged", result.message


@pytest.mark.parametrize("solver", ["trust_ncg", "newton_cg"])
def test_cg_overflow_names_the_curvature_not_the_hessian_vector_product(solver):
    """From (1e40, 1e40) the HVPs (~1e206) are finite; CG's d'Hd (~1e328) overflows."""
    result = minimize(Rosenbrock(2), solver, x0=np.array([1e40, 1e40]), max_iter=5)
    assert result.status == "failed"
    assert result.message.startswith(f"{solver}: CG's curvature d'Hd overflowed (|d| = ")
    assert "the Hessian-vector product is finite" in result.message


def test_a_non_finite_hessian_vector_product_is_named_as_such():
    result = steihaug_cg(
        lambda v: np.full_like(v, np.nan), np.ones(3), 1.0, tolerance=1e-8, max_iter=5
    )
    assert result.reason == "non_finite"
    assert result.non_finite == "non-finite Hessian-vector product"
