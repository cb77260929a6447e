"""Derivatives, storage equivalence, memo, validation and bounds of the data losses."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse
import scipy.special

from optbench.problems import data, linalg, softmax
from optbench.problems.least_squares import LeastSquares
from optbench.problems.logistic import Logistic
from optbench.problems.softmax import Softmax
from optbench.registry import PROBLEMS

N_SAMPLES, N_FEATURES, N_CLASSES = 80, 7, 3


def _design(seed: int = 0) -> np.ndarray:
    """A dense matrix with about 40% zeros, so its CSR form is genuinely sparse."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    X[rng.random(X.shape) < 0.4] = 0.0
    return X


def _targets(family: str, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if family == "least_squares":
        return rng.standard_normal(N_SAMPLES)
    if family == "logistic":
        return rng.choice([-1.0, 1.0], N_SAMPLES)
    return np.arange(N_SAMPLES) % N_CLASSES  # every class present


def build(family: str, storage: str, l2: float, fit_intercept: bool = False):
    X = _design()
    if storage == "csr":
        X = scipy.sparse.csr_matrix(X)
    y = _targets(family)
    if family == "least_squares":
        return LeastSquares(A=X, b=y, l2=l2)
    if family == "logistic":
        return Logistic(X=X, y=y, l2=l2, fit_intercept=fit_intercept)
    return Softmax(X=X, y=y, l2=l2)


CASES = [
    (family, storage, l2, intercept)
    for family in ("least_squares", "logistic", "softmax")
    for storage in ("dense", "csr")
    for l2 in (0.0, 0.05)
    for intercept in ((False, True) if family == "logistic" else (False,))
]
CASE_IDS = [f"{f}-{s}-l2={l2}" + ("-intercept" if i else "") for f, s, l2, i in CASES]


@pytest.fixture(params=CASES, ids=CASE_IDS)
def problem(request):
    return build(*request.param)


def random_points(problem, count: int = 3, scale: float = 0.5) -> list[np.ndarray]:
    rng = np.random.default_rng(42)
    return [scale * rng.standard_normal(problem.dim) for _ in range(count)]


def extreme_point(problem, largest: float = 1e5) -> np.ndarray:
    """A point whose linear predictions reach ``largest`` in magnitude (most exceed 1e4)."""
    direction = np.random.default_rng(7).standard_normal(problem.dim)
    if isinstance(problem, Softmax):
        predictions = problem.X @ direction.reshape(problem.n_features, problem.n_classes)
    elif isinstance(problem, Logistic):
        predictions = problem._margins(direction)
    else:
        predictions = problem.A @ direction
    return direction * (largest / np.abs(predictions).max())


def central_difference_gradient(function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    gradient = np.empty_like(x)
    for j in range(x.size):
        shift = np.zeros_like(x)
        shift[j] = step * max(1.0, abs(x[j]))
        gradient[j] = (function(x + shift) - function(x - shift)) / (2 * shift[j])
    return gradient


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(actual - expected) / max(1.0, np.linalg.norm(expected)))


# --------------------------------------------------------------------------- derivatives


def test_gradient_matches_central_differences(problem):
    for x in random_points(problem):
        value, gradient = problem.value_and_grad(x)
        assert value == pytest.approx(problem.value(x), rel=1e-14, abs=1e-15)
        np.testing.assert_array_equal(problem.grad(x), gradient)
        assert relative_error(gradient, central_difference_gradient(problem.value, x)) < 1e-7


def test_extreme_point_is_finite_and_gradient_still_exact(problem):
    x = extreme_point(problem)
    value, gradient = problem.value_and_grad(x)
    assert np.isfinite(value) and np.isfinite(problem.value(x))
    assert np.isfinite(gradient).all()
    v = np.random.default_rng(3).standard_normal(problem.dim)
    assert np.isfinite(problem.hvp(x, v)).all()
    estimate = central_difference_gradient(problem.value, x, step=1e-7)
    assert relative_error(gradient, estimate) < 1e-5


@pytest.mark.parametrize("intercept", [False, True])
def test_logistic_value_equals_the_logaddexp_formula(intercept):
    problem = build("logistic", "dense", 0.05, intercept)
    for x in random_points(problem) + [extreme_point(problem)]:
        weights = x[: problem.n_features]
        margins = problem.y * (problem.X @ weights + (x[-1] if intercept else 0.0))
        expected = np.logaddexp(0.0, -margins).mean() + 0.025 * weights @ weights
        assert problem.value(x) == pytest.approx(expected, rel=1e-14)
        assert problem.value_and_grad(x)[0] == pytest.approx(expected, rel=1e-14)


def test_softmax_value_equals_the_logsumexp_formula():
    problem = build("softmax", "csr", 0.05)
    for x in random_points(problem) + [extreme_point(problem)]:
        logits = problem.X @ x.reshape(problem.n_features, problem.n_classes)
        losses = scipy.special.logsumexp(logits, axis=1) - logits[np.arange(N_SAMPLES), problem.y]
        expected = losses.mean() + 0.025 * x @ x
        assert problem.value(x) == pytest.approx(expected, rel=1e-14)
        assert problem.value_and_grad(x)[0] == pytest.approx(expected, rel=1e-14)


def test_hvp_matches_differences_of_gradients(problem):
    rng = np.random.default_rng(5)
    for x in random_points(problem):
        v = rng.standard_normal(problem.dim)
        step = 1e-5
        estimate = (problem.grad(x + step * v) - problem.grad(x - step * v)) / (2 * step)
        problem.value_and_grad(x)  # as Newton-CG uses it: the HVP follows a gradient at x
        assert relative_error(problem.hvp(x, v), estimate) < 1e-7


def test_hess_equals_hvp_columns_and_is_symmetric(problem):
    rng = np.random.default_rng(6)
    for x in random_points(problem):
        H = problem.hess(x)
        assert H.shape == (problem.dim, problem.dim)
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-14)
        v = rng.standard_normal(problem.dim)
        np.testing.assert_allclose(H @ v, problem.hvp(x, v), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("family", "intercept"), [("logistic", True), ("softmax", False)])
def test_csr_hessians_use_sparse_products_and_are_exactly_symmetric(monkeypatch, family, intercept):
    def refuse(*args, **kwargs):
        raise AssertionError("CSR data densified by row blocks")

    dense = build(family, "dense", 0.05, intercept)
    x = random_points(dense)[0]
    expected = dense.hess(x)
    monkeypatch.setattr(linalg, "row_blocks", refuse)
    monkeypatch.setattr(softmax, "row_blocks", refuse)
    H = build(family, "csr", 0.05, intercept).hess(x)
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(H, expected, rtol=1e-13, atol=1e-15)


def test_importing_the_families_leaves_scipy_unloaded():
    script = (
        "import sys, optbench.problems as p\n"
        "p.list_problems()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stderr


def test_smoothness_bounds_the_hessian_spectrum(problem):
    bounds = problem.smoothness()
    assert bounds is problem.smoothness()  # computed once
    for x in random_points(problem) + [np.zeros(problem.dim)]:
        eigenvalues = np.linalg.eigvalsh(problem.hess(x))
        assert eigenvalues[-1] <= bounds.L * (1 + 1e-12)
        assert eigenvalues[0] >= bounds.mu - 1e-12 * bounds.L


def test_least_squares_smoothness_is_exact():
    problem = LeastSquares(n_samples=50, n_features=6, cond=30.0, l2=0.1)
    eigenvalues = np.linalg.eigvalsh(problem.hess(problem.x0))
    bounds = problem.smoothness()
    lipschitz, strong_convexity = bounds.L, bounds.mu
    assert lipschitz == pytest.approx(eigenvalues[-1], rel=1e-12)
    assert strong_convexity == pytest.approx(eigenvalues[0], rel=1e-10)


@pytest.mark.parametrize("with_ones_column", [False, True])
def test_lanczos_spectrum_bounds_agree_with_dense(monkeypatch, with_ones_column):
    X = scipy.sparse.csr_matrix(_design(3))
    exact_max, exact_min = linalg.gram_extreme_eigenvalues(X, with_ones_column)
    monkeypatch.setattr(linalg, "DENSE_SPECTRUM_MAX_DIM", 2)
    lanczos_max, lanczos_min = linalg.gram_extreme_eigenvalues(X, with_ones_column)
    # an upper bound on the largest eigenvalue, up to the rounding of both computations
    # (a few ulps of lambda_max: seen 2 ulps below eigvalsh's value on some BLAS kernels)
    assert exact_max * (1 - 1e-13) <= lanczos_max <= exact_max * (1 + 1e-8)
    assert lanczos_min == pytest.approx(exact_min, rel=1e-6)


# --------------------------------------------------------------------------- storage, labels, memo


@pytest.mark.parametrize(
    ("family", "l2", "intercept"),
    [("least_squares", 0.1, False), ("logistic", 0.0, True), ("logistic", 0.1, False)]
    + [("softmax", 0.0, False), ("softmax", 0.1, False)],
)
def test_dense_and_csr_data_agree(family, l2, intercept):
    dense = build(family, "dense", l2, intercept)
    sparse = build(family, "csr", l2, intercept)
    rng = np.random.default_rng(8)
    for x in random_points(dense):
        v = rng.standard_normal(dense.dim)
        assert sparse.value(x) == pytest.approx(dense.value(x), rel=1e-12)
        for method in ("grad", "hess"):
            np.testing.assert_allclose(
                getattr(sparse, method)(x), getattr(dense, method)(x), rtol=1e-12, atol=1e-15
            )
        np.testing.assert_allclose(sparse.hvp(x, v), dense.hvp(x, v), rtol=1e-12, atol=1e-15)
    sparse_lipschitz, dense_lipschitz = sparse.smoothness().L, dense.smoothness().L
    assert sparse_lipschitz == pytest.approx(dense_lipschitz, rel=1e-12)


def test_other_sparse_formats_are_converted_and_user_arrays_kept_by_reference():
    X = _design()
    y = _targets("logistic")
    assert Logistic(X=X, y=y).X is X
    X_csr = scipy.sparse.csr_matrix(X)
    assert Logistic(X=X_csr, y=y).X is X_csr
    from_coo = Logistic(X=scipy.sparse.coo_matrix(X), y=y)
    assert from_coo.X.format == "csr"
    x = random_points(from_coo)[0]
    assert from_coo.value(x) == pytest.approx(Logistic(X=X, y=y).value(x), rel=1e-14)


def test_logistic_labels_zero_one_equal_minus_one_plus_one():
    X, y = _design(), _targets("logistic")
    plus_minus = Logistic(X=X, y=y, fit_intercept=True)
    zero_one = Logistic(X=X, y=(y > 0).astype(int), fit_intercept=True)
    x = random_points(plus_minus)[0]
    assert zero_one.value(x) == plus_minus.value(x)
    np.testing.assert_array_equal(zero_one.grad(x), plus_minus.grad(x))


@pytest.mark.parametrize("family", ["logistic", "softmax"])
def test_memo_changes_time_not_results(family):
    problem = build(family, "dense", 0.05, family == "logistic")
    first, second = random_points(problem, 2)
    v = np.random.default_rng(9).standard_normal(problem.dim)
    fresh_at_second = build(family, "dense", 0.05, family == "logistic").hvp(second, v)
    problem.value_and_grad(first)
    np.testing.assert_array_equal(problem.hvp(second, v), fresh_at_second)  # new x: recomputed
    problem.value_and_grad(second)
    np.testing.assert_array_equal(problem.hvp(second, v), fresh_at_second)  # memo hit
    point = first.copy()
    problem.value_and_grad(point)
    point[0] += 1.0  # mutating the caller's array must not return stale weights
    fresh = build(family, "dense", 0.05, family == "logistic").hvp(point, v)
    np.testing.assert_array_equal(problem.hvp(point, v), fresh)


@pytest.mark.parametrize("storage", ["dense", "csr"])
@pytest.mark.parametrize("family", ["least_squares", "logistic", "softmax"])
def test_pickled_problems_hold_one_copy_of_the_data_and_agree(family, storage):
    problem = build(family, storage, 0.05, family == "logistic")
    x = random_points(problem)[0]
    problem.value_and_grad(x)
    clone = pickle.loads(pickle.dumps(problem))
    v = np.ones(problem.dim)
    np.testing.assert_array_equal(clone.hvp(x, v), problem.hvp(x, v))
    assert clone.value_and_grad(x)[0] == problem.value_and_grad(x)[0]
    if family != "least_squares":
        data_of = (lambda m: m.data) if storage == "csr" else (lambda m: m)
        assert np.shares_memory(data_of(clone._XT), data_of(clone.X))


# --------------------------------------------------------------------------- validation


BAD_PARAMETERS = [
    ("least_squares", {"l2": -1}, "l2"),
    ("least_squares", {"n_samples": 0}, "n_samples"),
    ("least_squares", {"cond": 0.5}, "cond"),
    ("least_squares", {"noise": -0.1}, "noise"),
    ("least_squares", {"seed": -1}, "seed"),
    ("least_squares", {"A": np.ones((5, 2))}, "b"),
    ("least_squares", {"A": np.ones((5, 2)), "b": np.ones(4)}, "b"),
    ("least_squares", {"A": np.ones(5), "b": np.ones(5)}, "A"),
    ("least_squares", {"A": np.ones((5, 2)), "b": np.ones(5), "cond": 3.0}, "cond"),
    ("logistic", {"l2": float("nan")}, "l2"),
    ("logistic", {"n_features": 2.5}, "n_features"),
    ("logistic", {"rho": 1.0}, "rho"),
    ("logistic", {"density": 0.0}, "density"),
    ("logistic", {"density": 0.1, "rho": 0.5}, "rho"),
    ("logistic", {"fit_intercept": "yes"}, "fit_intercept"),
    ("logistic", {"y": np.ones(3)}, "y"),
    ("logistic", {"X": np.ones((100, 2)), "y": np.ones(99)}, "y"),
    ("logistic", {"X": np.ones((4, 2)), "y": np.array([1, 2, 1, 2])}, "y"),
    ("logistic", {"X": np.array([[np.nan, 1.0]]), "y": np.ones(1)}, "X"),
    ("logistic", {"X": np.ones((4, 2)), "y": np.ones(4), "n_samples": 4}, "n_samples"),
    ("softmax", {"n_classes": 1}, "n_classes"),
    ("softmax", {"l2": -0.5}, "l2"),
    ("softmax", {"X": np.ones((4, 2)), "y": np.array([0, 1, -1, 0])}, "y"),
    ("softmax", {"X": np.ones((4, 2)), "y": np.array([0.5, 1, 0, 0])}, "y"),
    ("softmax", {"X": np.ones((4, 2)), "y": np.array([0, 3, 0, 1]), "n_classes": 3}, "y"),
    ("softmax", {"X": np.ones((4, 2)), "y": np.zeros(4, dtype=int)}, "y"),
]


@pytest.mark.parametrize(("family", "params", "name"), BAD_PARAMETERS)
def test_bad_parameters_raise_value_error_naming_the_parameter(family, params, name):
    with pytest.raises(ValueError, match=rf"^{name}: "):
        PROBLEMS.get(family)(**params)


def test_error_messages_read_well():
    with pytest.raises(ValueError, match=r"^y: length 99 does not match X with 100 rows$"):
        Logistic(X=np.ones((100, 2)), y=np.ones(99))
    with pytest.raises(ValueError, match=r"^l2: must be a finite number >= 0, got -1"):
        Logistic(l2=-1)


@pytest.mark.parametrize("family", ["least_squares", "logistic", "softmax"])
def test_points_of_the_wrong_shape_and_oversized_hessians_are_refused(family):
    problem = build(family, "dense", 0.1)
    with pytest.raises(ValueError, match=r"^x: expected shape"):
        problem.value(np.zeros(problem.dim + 1))
    with pytest.raises(ValueError, match=r"^v: expected shape"):
        problem.hvp(problem.x0, np.zeros(problem.dim - 1))
    problem.hess_max_dim = problem.dim - 1
    with pytest.raises(ValueError, match=r"^hess: "):
        problem.hess(problem.x0)


# --------------------------------------------------------------------------- families and data


@pytest.mark.parametrize(
    ("family", "dim"), [("least_squares", 20), ("logistic", 20), ("softmax", 100)]
)
def test_defaults_build_small_named_problems(family, dim):
    problem = PROBLEMS.get(family)()
    assert (problem.name, problem.dim, problem.x0.shape) == (family, dim, (dim,))
    assert all(not isinstance(v, np.ndarray) for v in problem.params.values())
    assert "l2" in problem.params


def test_least_squares_design_has_the_prescribed_condition_number():
    A, b, x_true = data.least_squares_data(200, 12, 1e3, 0.0, seed=4)
    singular_values = np.linalg.svd(A, compute_uv=False)
    assert singular_values[0] / singular_values[-1] == pytest.approx(1e3, rel=1e-10)
    assert singular_values[0] ** 2 / 200 == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(A @ x_true, b, rtol=1e-12, atol=1e-12)
    wide, _, _ = data.least_squares_data(5, 9, 10.0, 0.1, seed=4)
    assert wide.shape == (5, 9) and np.linalg.matrix_rank(wide) == 5


def test_correlated_features_follow_ar1():
    X = data.correlated_features(40_000, 3, 0.6, np.random.default_rng(0))
    correlation = np.corrcoef(X, rowvar=False)
    np.testing.assert_allclose(np.diag(X.T @ X) / 40_000, 1.0, atol=0.03)
    assert correlation[0, 1] == pytest.approx(0.6, abs=0.02)
    assert correlation[0, 2] == pytest.approx(0.36, abs=0.02)


def test_synthetic_data_is_seeded_and_well_formed():
    X, y, _ = data.logistic_data(500, 40, 0.0, 0.05, seed=3)
    again, y_again, _ = data.logistic_data(500, 40, 0.0, 0.05, seed=3)
    assert scipy.sparse.issparse(X) and X.format == "csr" and X.nnz == 1000
    assert abs(X - again).max() == 0 and np.array_equal(y, y_again)
    assert set(np.unique(y)) == {-1.0, 1.0}
    _, other, _ = data.logistic_data(500, 40, 0.0, 0.05, seed=4)
    assert not np.array_equal(y, other)
    features, labels, weights = data.softmax_data(300, 4, 6, seed=0)
    assert features.shape == (300, 4) and weights.shape == (4, 6)
    assert labels.min() >= 0 and labels.max() <= 5 and np.issubdtype(labels.dtype, np.integer)
