"""Minibatch evaluations of the finite-sum losses and their counting by the Oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from optbench import make_problem
from optbench.checks import check_derivatives
from optbench.problems.base import FiniteSum, Problem, is_finite_sum
from optbench.problems.oracle import Oracle

N_SAMPLES = 120


def _sparse_design(seed: int, n: int, d: int) -> scipy.sparse.csr_array:
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.3)
    dense[5] = 0.0  # an empty row
    return scipy.sparse.csr_array(dense)


def _instances() -> dict[str, Problem]:
    rng = np.random.default_rng(7)
    sparse = _sparse_design(1, N_SAMPLES, 9)
    return {
        "logistic": make_problem("logistic", n_samples=N_SAMPLES, n_features=8),
        "logistic_intercept": make_problem(
            "logistic", n_samples=N_SAMPLES, n_features=8, fit_intercept=True, l2=0.01
        ),
        "logistic_csr": make_problem("logistic", n_samples=N_SAMPLES, n_features=30, density=0.2),
        "softmax": make_problem("softmax", n_samples=N_SAMPLES, n_features=6, n_classes=3),
        "softmax_csr": make_problem(
            "softmax", X=sparse, y=rng.integers(0, 4, N_SAMPLES), n_classes=4, l2=0.1
        ),
        "least_squares": make_problem("least_squares", n_samples=N_SAMPLES, n_features=7),
        "least_squares_csr": make_problem(
            "least_squares", A=sparse, b=rng.standard_normal(N_SAMPLES), l2=0.01
        ),
    }


INSTANCES = _instances()


@pytest.fixture(params=sorted(INSTANCES))
def problem(request: pytest.FixtureRequest) -> Problem:
    return INSTANCES[request.param]


def _point(problem: Problem, seed: int = 3) -> np.ndarray:
    return 0.3 * np.random.default_rng(seed).standard_normal(problem.dim)


def _close(a: np.ndarray, b: np.ndarray) -> float:
    """Relative distance, to rounding of sums over the samples."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


class BatchView(Problem):
    """The batch objective f_B as a Problem, so the derivative checks apply to it."""

    def __init__(self, problem: Problem, idx: np.ndarray) -> None:
        assert isinstance(problem, FiniteSum)
        self.base, self.idx = problem, idx
        self.name, self.dim, self.x0, self.params = "batch", problem.dim, problem.x0, {}

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.base.value_and_grad_batch(x, self.idx)  # type: ignore[attr-defined]

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.base.hvp_batch(x, v, self.idx)  # type: ignore[attr-defined]


def test_data_losses_are_finite_sums_and_others_are_not() -> None:
    assert all(is_finite_sum(p) and p.n_samples == N_SAMPLES for p in INSTANCES.values())
    rosenbrock = make_problem("rosenbrock", dim=3)
    assert not is_finite_sum(rosenbrock) and rosenbrock.n_samples is None
    oracle = Oracle(rosenbrock)
    assert oracle.n_samples is None
    with pytest.raises(TypeError, match="not a finite sum"):
        oracle.grad_batch(rosenbrock.x0, np.arange(2))


@pytest.mark.parametrize("layout", ["random partition", "consecutive slices"])
def test_mean_over_a_partition_is_the_full_evaluation(problem: Problem, layout: str) -> None:
    x, v = _point(problem), _point(problem, seed=4)
    if layout == "random partition":
        batches = np.split(np.random.default_rng(0).permutation(N_SAMPLES), 8)
    else:
        batches = np.split(np.arange(N_SAMPLES), 6)
    values, grads = zip(*(problem.value_and_grad_batch(x, b) for b in batches), strict=True)
    value, grad = problem.value_and_grad(x)
    assert np.mean(values) == pytest.approx(value, rel=1e-13)
    assert _close(np.mean(grads, axis=0), grad) < 1e-13
    hvps = [problem.hvp_batch(x, v, b) for b in batches]
    assert _close(np.mean(hvps, axis=0), problem.hvp(x, v)) < 1e-13
    assert _close(np.mean([problem.grad_batch(x, b) for b in batches], axis=0), grad) < 1e-13


def test_batch_derivatives_match_finite_differences(problem: Problem) -> None:
    idx = np.array([3, 17, 17, 40, 99, 5])  # repeats and an empty row of the CSR design
    outcome = check_derivatives(BatchView(problem, idx), x=_point(problem), seed=1)
    assert outcome.passed, outcome


def test_sample_derivatives_rebuild_the_gradients(problem: Problem) -> None:
    x = _point(problem)
    every = np.arange(N_SAMPLES)
    table = problem.sample_derivatives(x, every)
    data_grad = problem.grad_from_derivatives(every, table)
    assert _close(data_grad + problem.ridge_grad(x), problem.grad(x)) < 1e-13
    idx = np.array([9, 2, 2, 71])
    rebuilt = problem.grad_from_derivatives(idx, problem.sample_derivatives(x, idx))
    assert _close(rebuilt + problem.ridge_grad(x), problem.grad_batch(x, idx)) < 1e-13
    # a table entry is one sample's derivative, wherever it was computed
    assert np.allclose(problem.sample_derivatives(x, idx)[0], table[9], rtol=1e-14, atol=0)


def test_l_max_bounds_every_sample_hessian(problem: Problem) -> None:
    smoothness = problem.smoothness()
    assert smoothness.L_max is not None and smoothness.L is not None
    assert smoothness.L_max * (1 + 1e-12) >= smoothness.L
    x = _point(problem)
    largest = 0.0
    for i in range(N_SAMPLES):
        hessian = BatchView(problem, np.array([i])).hess(x)
        largest = max(largest, float(np.linalg.eigvalsh(hessian)[-1]))
    assert largest <= smoothness.L_max * (1 + 1e-12)
    if problem.params.get("fit_intercept") is False and "n_classes" not in problem.params:
        # logistic: sigma' <= 1/4 is attained at margin 0, i.e. x = 0
        largest_at_zero = max(
            float(np.linalg.eigvalsh(BatchView(problem, np.array([i])).hess(0 * x))[-1])
            for i in range(N_SAMPLES)
        )
        assert largest_at_zero == pytest.approx(smoothness.L_max, rel=1e-10)


def test_bad_indices_are_refused_in_one_line(problem: Problem) -> None:
    x = _point(problem)
    for idx in (np.array([0, N_SAMPLES]), np.array([-1, 2]), np.array([], dtype=int),
                np.array([0.0, 1.0]), np.zeros((2, 2), dtype=int)):  # fmt: skip
        with pytest.raises(ValueError, match=r"^idx: ") as raised:
            problem.grad_batch(x, idx)
        assert "\n" not in str(raised.value)
    with pytest.raises(ValueError, match=r"^derivatives: expected shape"):
        problem.grad_from_derivatives(np.arange(3), np.zeros(4))


def test_oracle_counts_sample_gradients_and_hvps_as_fractions_of_a_pass(problem: Problem) -> None:
    oracle = Oracle(problem)
    x = _point(problem)
    for batch in np.split(np.arange(N_SAMPLES), 4):  # one data pass of sample gradients
        oracle.grad_batch(x, batch)
    assert oracle.n_sample_g == N_SAMPLES and oracle.n_g == 0
    assert oracle.cost == pytest.approx(problem.cost_weights.grad, rel=1e-12)
    oracle.value_and_grad_batch(x, np.arange(30))
    oracle.sample_derivatives(x, np.arange(30))
    assert oracle.n_sample_g == N_SAMPLES + 60
    before = oracle.cost
    oracle.grad_from_derivatives(np.arange(30), oracle.problem.sample_derivatives(x, np.arange(30)))
    oracle.ridge_grad(x)
    assert oracle.cost == before and oracle.n_sample_g == N_SAMPLES + 60  # free
    oracle.hvp_batch(x, x, np.arange(N_SAMPLES // 2))
    assert oracle.n_sample_hvp == N_SAMPLES // 2
    assert oracle.cost == pytest.approx(before + 0.5 * problem.cost_weights.hvp, rel=1e-12)
    counts = oracle.counts()
    assert (counts["n_sample_g"], counts["n_sample_hvp"]) == (N_SAMPLES + 60, N_SAMPLES // 2)


def test_consecutive_rows_are_a_view_of_dense_data() -> None:
    problem = INSTANCES["logistic"]
    rows, selector = problem._batch_rows(np.arange(10, 20))  # type: ignore[attr-defined]
    assert isinstance(selector, slice) and np.shares_memory(rows, problem.X)  # type: ignore[attr-defined]
    rows, selector = problem._batch_rows(np.array([10, 12]))  # type: ignore[attr-defined]
    assert not isinstance(selector, slice) and rows.shape == (2, problem.dim)


def test_gathered_sparse_rows_multiply_as_scipy_rows() -> None:
    from optbench.problems.linalg import SparseRows

    X = _sparse_design(4, 50, 12)
    rng = np.random.default_rng(0)
    idx = np.array([5, 7, 7, 0, 49, 5])  # row 5 is empty; repeats
    rows = SparseRows(X, idx)
    w, r = rng.standard_normal(12), rng.standard_normal(idx.size)
    assert rows.shape == (6, 12)
    assert np.allclose(rows @ w, X[idx] @ w, rtol=1e-14, atol=1e-15)
    assert np.allclose(rows.T @ r, X[idx].T @ r, rtol=1e-14, atol=1e-15)


def test_large_sparse_batches_take_scipy_rows_with_the_same_result(monkeypatch) -> None:
    import optbench.problems.linear_model as linear_model

    problem = INSTANCES["logistic_csr"]
    x, idx = _point(problem), np.random.default_rng(1).integers(0, N_SAMPLES, 40)
    gathered = problem.value_and_grad_batch(x, idx)
    monkeypatch.setattr(linear_model, "SPARSE_GATHER_MAX_ROWS", 0)
    assert not isinstance(problem._batch_rows(idx)[0], linear_model.SparseRows)  # type: ignore[attr-defined]
    sliced = problem.value_and_grad_batch(x, idx)
    assert sliced[0] == pytest.approx(gathered[0], rel=1e-14)
    assert _close(sliced[1], gathered[1]) < 1e-14
