"""Preconditioned CG-Steihaug: the trust region in the preconditioner's norm ||p||_M.

N&W Sec 4.1 ("scaling") and Alg 7.2 with :math:`P = M^{-1}`; Steihaug (1983); the
M-inner products from CG scalars of Gould, Lucidi, Roma & Toint (1999).
"""

from __future__ import annotations

import numpy as np
import pytest

from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run.runner import minimize
from optbench.solvers.quasi_newton import LimitedMemoryInverse
from optbench.solvers.steihaug import boundary_roots, steihaug_cg
from optbench.solvers.trust_ncg import TrustNCG


def symmetric(eigenvalues, seed):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return (basis * np.asarray(eigenvalues, dtype=float)) @ basis.T


def lbfgs_metric(hessian, seed, n_pairs=4):
    """An L-BFGS preconditioner P from exact pairs (s, Hs) and its inverse M."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n_pairs):
        s = rng.standard_normal(len(hessian))
        pairs.append((s, hessian @ s))
    apply = LimitedMemoryInverse(pairs).apply
    inverse_metric = np.column_stack([apply(e) for e in np.eye(len(hessian))])
    return apply, np.linalg.inv(inverse_metric)


def m_norm(metric, p):
    return float(np.sqrt(p @ metric @ p))


def model(matrix, g, p):
    return g @ p + 0.5 * p @ matrix @ p


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("radius", [1e-3, 0.1, 1.0, 100.0])
def test_step_stays_in_the_m_norm_region_and_reduces_the_model(seed, radius):
    rng = np.random.default_rng(seed)
    matrix = symmetric(rng.uniform(-1.0, 3.0, size=10), seed)
    apply, metric = lbfgs_metric(symmetric(rng.uniform(0.5, 4.0, size=10), seed + 1), seed)
    g = rng.standard_normal(10)
    result = steihaug_cg(
        lambda v: matrix @ v, g, radius, tolerance=1e-10, max_iter=50, preconditioner=apply
    )
    assert m_norm(metric, result.step) <= radius * (1 + 1e-9)
    assert result.step_norm == pytest.approx(m_norm(metric, result.step), rel=1e-8)
    assert result.predicted_reduction > 0
    assert result.predicted_reduction == pytest.approx(-model(matrix, g, result.step), rel=1e-9)
    if result.hits_boundary:
        assert m_norm(metric, result.step) == pytest.approx(radius, rel=1e-9)


def test_negative_curvature_ends_on_the_m_norm_boundary():
    matrix = np.diag([-2.0, 1.0, 3.0])
    apply, metric = lbfgs_metric(np.diag([4.0, 1.0, 0.5]), seed=0, n_pairs=2)
    g = metric @ np.array([-1.0, 0.3, -0.2])  # d0 = -P g has negative curvature
    for radius in (0.01, 1.0, 50.0):
        result = steihaug_cg(
            lambda v: matrix @ v, g, radius, tolerance=1e-12, max_iter=10, preconditioner=apply
        )
        assert result.reason == "negative_curvature"
        assert result.hits_boundary
        assert m_norm(metric, result.step) == pytest.approx(radius, rel=1e-9)
        assert result.predicted_reduction == pytest.approx(-model(matrix, g, result.step))


def test_first_negative_curvature_direction_is_minus_p_g():
    matrix = -np.eye(3)
    g = np.array([3.0, 4.0, -1.0])
    apply, metric = lbfgs_metric(np.diag([1.0, 2.0, 9.0]), seed=1, n_pairs=2)
    result = steihaug_cg(
        lambda v: matrix @ v, g, 2.0, tolerance=1e-12, max_iter=10, preconditioner=apply
    )
    assert result.iterations == 1
    direction = -apply(g)
    np.testing.assert_allclose(result.step, 2.0 * direction / m_norm(metric, direction))


def test_returns_the_newton_step_inside_the_m_norm_region():
    matrix = symmetric([1.0, 2.0, 5.0, 7.0, 11.0], seed=3)
    g = np.array([1.0, -2.0, 0.5, 0.0, 1.5])
    apply, metric = lbfgs_metric(matrix, seed=3, n_pairs=3)
    newton = -np.linalg.solve(matrix, g)
    radius = 10.0 * m_norm(metric, newton)
    result = steihaug_cg(
        lambda v: matrix @ v, g, radius, tolerance=1e-13, max_iter=20, preconditioner=apply
    )
    assert result.reason == "residual"
    assert not result.hits_boundary
    np.testing.assert_allclose(result.step, newton, rtol=1e-10, atol=1e-12)


def test_exact_preconditioner_solves_a_quadratic_in_one_product():
    """With H-conjugate pairs spanning the space, P = H^{-1} (the hereditary property of
    BFGS updates on a quadratic) and the first CG step is the Newton step."""
    matrix = symmetric([1.0, 3.0, 100.0], seed=5)
    _, eigenvectors = np.linalg.eigh(matrix)
    pairs = [(s, matrix @ s) for s in eigenvectors.T]
    apply = LimitedMemoryInverse(pairs).apply
    g = np.array([1.0, 2.0, -3.0])
    result = steihaug_cg(
        lambda v: matrix @ v, g, 1e6, tolerance=1e-10, max_iter=10, preconditioner=apply
    )
    assert result.iterations == 1
    np.testing.assert_allclose(result.step, -np.linalg.solve(matrix, g), rtol=1e-9)


def test_returns_positive_curvature_pairs():
    matrix = symmetric([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], seed=2)
    g = np.ones(6)
    result = steihaug_cg(lambda v: matrix @ v, g, 1e6, tolerance=1e-12, max_iter=50, keep_pairs=3)
    assert len(result.pairs) == min(3, result.iterations)
    for s, y in result.pairs:
        np.testing.assert_allclose(y, matrix @ s, atol=1e-12)
        assert s @ y > 0


def test_boundary_roots_in_the_m_norm():
    metric = np.array([[2.0, 0.5], [0.5, 1.0]])
    z, d = np.array([0.3, -0.1]), np.array([1.0, 2.0])
    low, high = boundary_roots(z @ metric @ z, z @ metric @ d, d @ metric @ d, 1.5)
    assert low < 0 < high
    for tau in (low, high):
        assert m_norm(metric, z + tau * d) == pytest.approx(1.5, rel=1e-14)


def test_preconditioned_trust_ncg_reuses_the_pairs():
    solver, oracle = TrustNCG(preconditioner="lbfgs"), Oracle(Rosenbrock(20))
    state = solver.init(oracle, Rosenbrock(20).x0)
    preconditioned = []
    for _ in range(5):
        state = solver.step(oracle, state)
        preconditioned.append(state.info["preconditioned"])
        assert 0 < len(state.curvature_pairs) <= solver.preconditioner_memory
    assert preconditioned[0] is False  # no pairs before the first CG run
    assert all(preconditioned[1:])


def test_unpreconditioned_trust_ncg_keeps_no_pairs():
    result = minimize(Rosenbrock(20), TrustNCG(preconditioner="none"), gtol=1e-6, max_iter=500)
    assert result.status == "converged"
    solver, oracle = TrustNCG(preconditioner="none"), Oracle(Rosenbrock(4))
    state = solver.step(oracle, solver.init(oracle, Rosenbrock(4).x0))
    assert state.curvature_pairs == ()
    assert state.info["preconditioned"] is False
