"""Derivative checks: every family passes, planted bugs fail, the error-vs-h table is a V."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from family_examples import REQUIRED_PARAMS

from optbench.check_report import check_text
from optbench.checks import DEFAULT_STEPS, check_derivatives
from optbench.problems import list_problems
from optbench.problems.rosenbrock import Rosenbrock
from optbench.registry import PROBLEMS

list_problems()  # imports every family module, which registers it
FOUNDATION_FAMILIES = {"least_squares", "logistic", "rosenbrock", "softmax"}

_rng = np.random.default_rng(3)
SPARSE_X = scipy.sparse.random(90, 12, density=0.2, format="csr", random_state=_rng)

# Small instances so the whole file runs in seconds. Each registered family is checked
# with its defaults plus these variants; a family missing here runs with defaults only.
VARIANTS = {
    "least_squares": [
        {"n_samples": 60, "n_features": 8, "cond": 100.0, "l2": 1e-3},
        {"A": SPARSE_X, "b": _rng.standard_normal(90), "l2": 1e-2},
    ],
    "logistic": [
        {"n_samples": 80, "n_features": 6, "l2": 1e-3},
        {"n_samples": 80, "n_features": 6, "rho": 0.5, "fit_intercept": True, "l2": 1e-2},
        {"n_samples": 200, "n_features": 60, "density": 0.1, "l2": 1e-3},
        {"X": SPARSE_X, "y": _rng.choice([0, 1], 90), "l2": 1e-3, "fit_intercept": True},
    ],
    "rosenbrock": [{"dim": 7, "variant": "chained"}, {"dim": 8, "variant": "extended"}],
    "softmax": [
        {"n_samples": 80, "n_features": 5, "n_classes": 4, "l2": 1e-3},
        {"X": SPARSE_X, "y": _rng.integers(0, 3, 90), "l2": 1e-3},
    ],
}


def _cases() -> list:
    cases = []
    for family in sorted(PROBLEMS.names()):
        defaults = REQUIRED_PARAMS.get(family, [{}])
        for index, params in enumerate([*defaults, *VARIANTS.get(family, [])]):
            cases.append(pytest.param(family, params, id=f"{family}-{index}"))
    return cases


def _build(family: str, params: dict):
    return PROBLEMS.get(family)(**params)


def test_the_foundation_families_are_registered() -> None:
    assert FOUNDATION_FAMILIES.issubset(PROBLEMS.names())


@pytest.mark.parametrize(("family", "params"), _cases())
def test_every_family_passes_at_three_random_points(family: str, params: dict) -> None:
    problem = _build(family, params)
    for seed in range(3):
        result = check_derivatives(problem, seed=seed)
        assert result.passed, check_text(result)
        assert result.grad_error <= 1e-6 and result.hvp_error <= 1e-6
        assert result.hess_error is not None and result.hess_error <= 1e-10


@pytest.mark.parametrize(("family", "params"), _cases())
def test_every_family_passes_at_an_extreme_point(family: str, params: dict) -> None:
    # Coordinates of size 1e4: logits |Xw| far beyond 1e4 for the data losses (saturated
    # sigmoid and softmax), a quartic of size 1e18 for Rosenbrock.
    problem = _build(family, params)
    x = 1e4 * np.random.default_rng(7).standard_normal(problem.dim)
    result = check_derivatives(problem, x=x, seed=7)
    assert result.point == "given x"
    assert result.passed, check_text(result)


class WrongGradient(Rosenbrock):
    """Rosenbrock whose gradient drops the factor 2 of the (1 - a)^2 term."""

    def value_and_grad(self, x):
        value, grad = super().value_and_grad(x)
        a = x[:-1]
        grad[:-1] -= 1.0 - a  # -2(1 - a) became -(1 - a)
        return value, grad

    def grad(self, x):
        return self.value_and_grad(x)[1]


class WrongHvp(Rosenbrock):
    """Rosenbrock whose HVP omits the off-diagonal coupling of the first term."""

    def hvp(self, x, v):
        out = super().hvp(x, v)
        out[0] -= -400.0 * x[0] * v[1]
        return out


class AsymmetricHessian(Rosenbrock):
    """Rosenbrock whose dense Hessian has a wrong (1, 0) entry."""

    def hess(self, x):
        H = super().hess(x)
        H[1, 0] *= 1.01
        return H


class InconsistentFusedValue(Rosenbrock):
    """Rosenbrock whose fused value_and_grad returns a slightly wrong value."""

    def value_and_grad(self, x):
        value, grad = super().value_and_grad(x)
        return value * (1 + 1e-6), grad


@pytest.mark.parametrize(
    ("problem_class", "failing"),
    [
        (WrongGradient, {"gradient", "gradient_coords", "hvp"}),
        (WrongHvp, {"hvp", "hess_vs_hvp", "hvp_symmetry"}),
        (AsymmetricHessian, {"hess_vs_hvp", "hess_symmetry"}),
        (InconsistentFusedValue, {"value_and_grad"}),
    ],
)
def test_a_planted_bug_fails_exactly_the_checks_that_see_it(problem_class, failing) -> None:
    result = check_derivatives(problem_class(dim=5), seed=1)
    assert not result.passed
    assert {o.name for o in result.outcomes if not o.passed} == failing, check_text(result)
    assert "verdict: FAIL" in check_text(result)


def test_a_wrong_gradient_fails_the_directional_check_alone_in_high_dimension() -> None:
    # Above coord_max_dim only the random-direction check sees the gradient; the error
    # of a random projection is diluted by about sqrt(dim) but stays far above rtol.
    result = check_derivatives(WrongGradient(dim=200), seed=0)
    assert result.outcome("gradient_coords").skipped
    assert not result.outcome("gradient").passed
    assert result.grad_error > 100 * result.outcome("gradient").tolerance


def test_error_against_step_is_a_v_with_second_order_truncation() -> None:
    result = check_derivatives(Rosenbrock(dim=2), seed=0)
    assert [row.step for row in result.table] == list(DEFAULT_STEPS)
    for name in ("gradient", "gradient_coords", "hvp"):
        errors = np.array([getattr(row, name) for row in result.table])
        best = int(np.argmin(errors))
        assert 0 < best < len(errors) - 1, name
        assert result.best_step[name] == DEFAULT_STEPS[best]
        assert errors[0] > 1e3 * errors[best] and errors[-1] > 1e3 * errors[best], name
        # Central differences: the truncation error falls like h^2, a factor of 100 for
        # the decade from h = 1e-1 to h = 1e-2 (table rows 0 and 2).
        assert 80 < errors[0] / errors[2] < 125, name


def test_skips_dense_checks_above_the_size_limits() -> None:
    result = check_derivatives(Rosenbrock(dim=60), hess_max_dim=10)
    skipped = {o.name for o in result.outcomes if o.skipped}
    assert skipped == {"gradient_coords", "hess_vs_hvp", "hess_symmetry"}
    assert result.hess_error is None
    assert result.symmetry_error is not None  # the HVP-operator symmetry still runs
    assert all(row.gradient_coords is None for row in result.table)
    assert result.passed
    assert "skipped (dim 60 > coord_max_dim 50)" in check_text(result)


def test_default_point_is_seeded_near_x0() -> None:
    problem = Rosenbrock(dim=4)
    first, again, other = (check_derivatives(problem, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.x, again.x)
    assert not np.array_equal(first.x, other.x)
    assert np.linalg.norm(first.x - problem.x0) < 2.0
    assert check_derivatives(problem, x=problem.x0).point == "x0"


def test_table_text_marks_the_best_step_of_each_column() -> None:
    result = check_derivatives(Rosenbrock(dim=3), seed=2)
    text = check_text(result)
    assert (
        text.splitlines()[0]
        == "derivative check: rosenbrock (dim 3) at random point near x0 (seed 2)"
    )
    assert text.count("*") == 3 + 1  # one per column, plus the legend line
    assert text.rstrip().endswith("verdict: PASS")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"x": np.zeros(3)}, "x:"),
        ({"x": np.array([np.nan, 0.0])}, "x:"),
        ({"steps": []}, "steps:"),
        ({"steps": [1e-3, -1e-4]}, "steps:"),
        ({"rtol": 0.0}, "rtol:"),
        ({"exact_rtol": -1.0}, "exact_rtol:"),
        ({"coord_max_dim": 2.5}, "coord_max_dim:"),
        ({"hess_max_dim": -1}, "hess_max_dim:"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(kwargs, field) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        check_derivatives(Rosenbrock(dim=2), **kwargs)
