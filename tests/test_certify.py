"""Certified optima: optimality, agreement with scipy, dispatch, and the f* cache."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from optbench.problems import certify as certify_module
from optbench.problems import least_squares as least_squares_module
from optbench.problems.certify import (
    Certificate,
    cache_key,
    cached_f_star,
    certify,
    clear_f_star_cache,
)
from optbench.problems.least_squares import LeastSquares
from optbench.problems.logistic import Logistic
from optbench.problems.rosenbrock import Rosenbrock
from optbench.problems.softmax import Softmax

GTOL = 1e-10


@pytest.fixture(autouse=True)
def empty_cache():
    clear_f_star_cache()
    yield
    clear_f_star_cache()


SMALL_PROBLEMS = {
    "least_squares": lambda: LeastSquares(n_samples=60, n_features=8, cond=100.0),
    "least_squares_wide_l2": lambda: LeastSquares(n_samples=10, n_features=25, l2=0.01),
    "logistic": lambda: Logistic(n_samples=200, n_features=6, rho=0.5, l2=0.0),
    "logistic_intercept_csr": lambda: Logistic(
        n_samples=300, n_features=30, density=0.2, l2=0.01, fit_intercept=True
    ),
    "softmax": lambda: Softmax(n_samples=150, n_features=5, n_classes=4, l2=0.01),
    "softmax_no_l2": lambda: Softmax(n_samples=150, n_features=4, n_classes=3, l2=0.0),
}


@pytest.mark.parametrize("name", list(SMALL_PROBLEMS))
def test_certified_point_is_stationary_and_no_perturbation_improves_it(name):
    problem = SMALL_PROBLEMS[name]()
    certificate = certify(problem, gtol=GTOL)
    assert isinstance(certificate, Certificate)
    assert certificate.grad_norm <= GTOL
    assert 0.0 <= certificate.predicted_decrease <= 1e-12 * max(1.0, abs(certificate.f_star))
    assert np.linalg.norm(problem.grad(certificate.x_star)) == pytest.approx(
        certificate.grad_norm, rel=1e-6, abs=1e-15
    )
    assert certificate.f_star == problem.value_and_grad(certificate.x_star)[0]
    assert certificate.f_star == pytest.approx(problem.value(certificate.x_star), rel=1e-15)
    rng = np.random.default_rng(0)
    for scale in (1e-4, 1e-2, 1.0):
        for _ in range(5):
            perturbed = certificate.x_star + scale * rng.standard_normal(problem.dim)
            assert problem.value(perturbed) >= certificate.f_star


def test_least_squares_f_star_matches_scipy_lstsq():
    problem = LeastSquares(n_samples=300, n_features=40, cond=1e3, noise=0.5, seed=2)
    x_reference = scipy.linalg.lstsq(problem.A, problem.b)[0]
    certificate = certify(problem)
    assert certificate.method == "cholesky"
    assert certificate.f_star == pytest.approx(problem.value(x_reference), rel=1e-13)
    np.testing.assert_allclose(certificate.x_star, x_reference, rtol=1e-8, atol=1e-10)


def test_ridge_f_star_matches_scipy_lstsq_on_stacked_system():
    problem = LeastSquares(n_samples=30, n_features=12, cond=50.0, l2=0.2, seed=5)
    stacked = np.vstack([problem.A, np.sqrt(30 * 0.2) * np.eye(12)])
    x_reference = scipy.linalg.lstsq(stacked, np.concatenate([problem.b, np.zeros(12)]))[0]
    assert certify(problem).f_star == pytest.approx(problem.value(x_reference), rel=1e-13)


def test_lsqr_path_on_sparse_data_reaches_machine_precision(monkeypatch):
    rng = np.random.default_rng(1)
    A = scipy.sparse.random_array((400, 60), density=0.1, rng=rng, format="csr")
    b = rng.standard_normal(400)
    problem = LeastSquares(A=A, b=b, l2=1e-3)
    exact = certify(problem)
    monkeypatch.setattr(least_squares_module, "NORMAL_EQUATIONS_MAX_DIM", 0)
    iterative = certify(problem)
    assert (exact.method, iterative.method) == ("cholesky", "lsqr")
    assert iterative.f_star == pytest.approx(exact.f_star, rel=1e-13)


def test_rank_deficient_least_squares_uses_minimum_norm_solution():
    problem = LeastSquares(n_samples=8, n_features=20, l2=0.0, noise=1.0)
    certificate = certify(problem)
    assert certificate.method == "lstsq"
    assert certificate.f_star == pytest.approx(0.0, abs=1e-25)


@pytest.mark.parametrize("name", ["logistic", "logistic_intercept_csr", "softmax"])
def test_newton_cg_and_newton_cholesky_agree(monkeypatch, name):
    direct = certify(SMALL_PROBLEMS[name]())
    monkeypatch.setattr(certify_module, "CHOLESKY_MAX_DIM", 0)
    iterative = certify(SMALL_PROBLEMS[name]())
    assert (direct.method, iterative.method) == ("newton-cholesky", "newton-cg")
    assert iterative.f_star == pytest.approx(direct.f_star, rel=1e-14)


def test_rosenbrock_is_certified_analytically():
    certificate = certify(Rosenbrock(dim=10))
    assert (certificate.f_star, certificate.grad_norm, certificate.method) == (0.0, 0.0, "analytic")
    np.testing.assert_array_equal(certificate.x_star, np.ones(10))


def test_failure_to_reach_gtol_raises():
    X = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5], [-3.0, 0.0]])
    separable = Logistic(X=X, y=np.sign(X[:, 0]), l2=0.0)  # no minimizer: weights diverge
    with pytest.raises(RuntimeError, match=r"^certify: .* > gtol"):
        certify(separable, max_iter=10)
    # Given enough iterations the gradient does fall below gtol (the loss decays
    # exponentially along the separating direction), but the infimum 0 is not attained:
    # the Newton model still predicts a decrease of the order of f itself.
    with pytest.raises(RuntimeError, match=r"^certify: .* still predicts a decrease"):
        certify(separable)


def test_f_star_is_none_with_one_warning_when_certification_fails(certify_calls):
    X = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5], [-3.0, 0.0]])
    separable = Logistic(X=X, y=np.sign(X[:, 0]), l2=0.0)
    with pytest.warns(RuntimeWarning, match="f_star unknown: certify: "):
        assert separable.f_star is None
    assert separable.f_star is None  # remembered: no second attempt, no second warning
    assert len(certify_calls) == 1


@pytest.mark.parametrize(
    ("arguments", "name"), [({"gtol": 0.0}, "gtol"), ({"max_iter": 0}, "max_iter")]
)
def test_bad_arguments_raise(arguments, name):
    with pytest.raises(ValueError, match=rf"^{name}: "):
        certify(Rosenbrock(), **arguments)


# --------------------------------------------------------------------------- cache


def test_f_star_is_certified_once_per_instance_parameters(certify_calls):
    first = Logistic(n_samples=150, n_features=5, seed=3)
    value = first.f_star
    assert value == certify(first).f_star
    assert len(certify_calls) == 1
    same = Logistic(n_samples=150, n_features=5, seed=3)
    assert same.f_star == value and cached_f_star(first) == value
    assert len(certify_calls) == 1
    other_seed = Logistic(n_samples=150, n_features=5, seed=4)
    assert other_seed.f_star != value
    assert len(certify_calls) == 2


def test_user_data_is_keyed_by_its_bytes(certify_calls):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.choice([-1, 1], 50)
    assert cache_key(Logistic(X=X, y=y)) == cache_key(Logistic(X=X.copy(), y=y.copy()))
    assert cache_key(Logistic(X=X, y=y)) != cache_key(Logistic(X=X, y=y, l2=0.1))
    changed = X.copy()
    changed[0, 0] += 1e-9
    assert cache_key(Logistic(X=X, y=y)) != cache_key(Logistic(X=changed, y=y))
    assert cache_key(Logistic(X=X, y=y)) != cache_key(Logistic(X=scipy.sparse.csr_matrix(X), y=y))
    assert Logistic(X=X, y=y).f_star == Logistic(X=X.copy(), y=y).f_star
    assert len(certify_calls) == 1


def test_a_stored_f_star_is_used_without_recomputing(certify_calls):
    problem = Softmax(n_samples=100, n_features=3, n_classes=3)
    problem.f_star = 0.25
    assert problem.f_star == 0.25
    assert certify_calls == []
    problem.f_star = None  # back to the lazily certified value
    assert problem.f_star == certify(problem).f_star
    assert len(certify_calls) == 1
    with pytest.raises(ValueError, match=r"^f_star: "):
        problem.f_star = float("inf")
