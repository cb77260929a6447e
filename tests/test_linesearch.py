"""Line searches: the returned step satisfies its conditions, or the search says why not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.solvers.interpolation import cubic_minimizer, quadratic_minimizer
from optbench.solvers.linesearch import armijo_backtracking, strong_wolfe
from optbench.solvers.ray import Ray

# --- Moré & Thuente (1994), "Line search algorithms with guaranteed sufficient
# decrease", ACM TOMS 20(3), Table 1-6: φ and φ' of their six test functions.


def mt1(alpha: float, beta: float = 2.0) -> tuple[float, float]:
    return -alpha / (alpha**2 + beta), (alpha**2 - beta) / (alpha**2 + beta) ** 2


def mt2(alpha: float, beta: float = 0.004) -> tuple[float, float]:
    s = alpha + beta
    return s**5 - 2.0 * s**4, 5.0 * s**4 - 8.0 * s**3


def mt3(alpha: float, beta: float = 0.01, ell: int = 39) -> tuple[float, float]:
    if alpha <= 1.0 - beta:
        base, base_slope = 1.0 - alpha, -1.0
    elif alpha >= 1.0 + beta:
        base, base_slope = alpha - 1.0, 1.0
    else:
        base, base_slope = (alpha - 1.0) ** 2 / (2.0 * beta) + beta / 2.0, (alpha - 1.0) / beta
    wave = 2.0 * (1.0 - beta) / (ell * math.pi)
    angle = ell * math.pi * alpha / 2.0
    return base + wave * math.sin(angle), base_slope + (1.0 - beta) * math.cos(angle)


def yanai(beta1: float, beta2: float):
    def gamma(beta: float) -> float:
        return math.sqrt(1.0 + beta**2) - beta

    def phi(alpha: float) -> tuple[float, float]:
        r1 = math.sqrt((1.0 - alpha) ** 2 + beta2**2)
        r2 = math.sqrt(alpha**2 + beta1**2)
        value = gamma(beta1) * r1 + gamma(beta2) * r2
        slope = -gamma(beta1) * (1.0 - alpha) / r1 + gamma(beta2) * alpha / r2
        return value, slope

    return phi


# (name, phi, c1, c2): c2 is Moré & Thuente's η for each function; c1 is theirs where
# it is below η, else 1e-4 (they use μ = η for 2-6, we require c1 < c2 as N&W do).
MORE_THUENTE = [
    ("mt1", mt1, 1e-3, 0.1),
    ("mt2", mt2, 1e-4, 0.1),
    ("mt3", mt3, 1e-4, 0.1),
    ("mt4", yanai(1e-3, 1e-3), 1e-4, 1e-3),
    ("mt5", yanai(1e-2, 1e-3), 1e-4, 1e-3),
    ("mt6", yanai(1e-3, 1e-2), 1e-4, 1e-3),
]
INITIAL_STEPS = [1e-3, 1e-1, 1e1, 1e3]


class Counted:
    """Wrap φ to count its calls (independently of what the search reports)."""

    def __init__(self, phi):
        self.phi = phi
        self.calls = 0

    def __call__(self, alpha):
        self.calls += 1
        return self.phi(alpha)


def assert_armijo(phi, result, c1):
    value0, slope0 = phi(0.0)
    value, _ = phi(result.step_size)
    assert result.step_size > 0
    assert value <= value0 + c1 * result.step_size * slope0
    assert result.value == pytest.approx(value, rel=0, abs=0)


def assert_strong_wolfe(phi, result, c1, c2):
    assert_armijo(phi, result, c1)
    _, slope0 = phi(0.0)
    _, slope = phi(result.step_size)
    assert abs(slope) <= -c2 * slope0
    assert result.slope == slope


@pytest.mark.parametrize("initial_step", INITIAL_STEPS)
@pytest.mark.parametrize(
    ("name", "phi", "c1", "c2"), MORE_THUENTE, ids=[t[0] for t in MORE_THUENTE]
)
def test_strong_wolfe_on_more_thuente_functions(name, phi, c1, c2, initial_step):
    counted = Counted(phi)
    value0, slope0 = phi(0.0)
    result = strong_wolfe(counted, value0, slope0, initial_step=initial_step, c1=c1, c2=c2)
    assert result.success, result.reason
    assert result.evaluations == counted.calls <= 20
    assert_strong_wolfe(phi, result, c1, c2)


@pytest.mark.parametrize("interpolate", [False, True])
@pytest.mark.parametrize("initial_step", INITIAL_STEPS)
@pytest.mark.parametrize(
    ("name", "phi", "c1", "c2"), MORE_THUENTE, ids=[t[0] for t in MORE_THUENTE]
)
def test_armijo_on_more_thuente_functions(name, phi, c1, c2, initial_step, interpolate):
    counted = Counted(phi)
    value0, slope0 = phi(0.0)
    result = armijo_backtracking(
        counted, value0, slope0, initial_step=initial_step, c1=c1, interpolate=interpolate
    )
    assert result.success, result.reason
    assert result.evaluations == counted.calls
    assert_armijo(phi, result, c1)
    # The first trial is accepted when it is acceptable; otherwise a trial that was
    # rejected came before the accepted one, which is never longer than the first.
    assert result.step_size <= initial_step


def test_armijo_value_only_phi_gives_no_slope():
    def phi(alpha):
        return (alpha - 1.0) ** 2

    result = armijo_backtracking(phi, 1.0, -2.0, initial_step=4.0)
    assert result.success
    assert result.slope is None
    assert result.step_size == 1.0  # 4 → 2 (f = 1, no decrease) → 1
    assert result.evaluations == 3


def test_armijo_shrinks_by_the_given_factor():
    calls = []

    def phi(alpha):
        calls.append(alpha)
        return -alpha if alpha <= 0.0100001 else 1.0

    result = armijo_backtracking(phi, 0.0, -1.0, initial_step=1.0, shrink=0.1)
    assert result.success
    assert calls == pytest.approx([1.0, 0.1, 0.01])


def test_interpolation_needs_fewer_trials_on_a_quadratic():
    # φ(α) = (α - 0.01)^2 - 1e-4, minimizer 0.01: the quadratic interpolant is exact,
    # but the safeguard allows at most a 10x cut per trial.
    def phi(alpha):
        return (alpha - 0.01) ** 2 - 1e-4, 2.0 * (alpha - 0.01)

    value0, slope0 = phi(0.0)
    plain = armijo_backtracking(phi, value0, slope0, initial_step=1.0)
    fitted = armijo_backtracking(phi, value0, slope0, initial_step=1.0, interpolate=True)
    assert plain.success and fitted.success
    assert fitted.evaluations < plain.evaluations
    assert_armijo(phi, fitted, 1e-4)


# Random convex quadratics φ(α) = ½ c α² + s α, minimizer α* = -s / c, first trial
# α* · 2^k: both searches must succeed within their default budget of 50 evaluations.
quadratics = {
    "curvature": st.floats(1e-6, 1e6),
    "slope0": st.floats(-1e6, -1e-6),
    "log2_initial_over_minimizer": st.floats(-40.0, 40.0),
}


@settings(max_examples=200, deadline=None)
@given(**quadratics)
def test_strong_wolfe_on_random_quadratics(curvature, slope0, log2_initial_over_minimizer):
    def phi(alpha):
        return 0.5 * curvature * alpha**2 + slope0 * alpha, curvature * alpha + slope0

    minimizer = -slope0 / curvature
    initial_step = minimizer * 2.0**log2_initial_over_minimizer
    result = strong_wolfe(phi, 0.0, slope0, initial_step=initial_step, max_step=1e3 * minimizer)
    assert result.success, result.reason
    assert_strong_wolfe(phi, result, 1e-4, 0.9)


@settings(max_examples=200, deadline=None)
@given(**quadratics, interpolate=st.booleans())
def test_armijo_on_random_quadratics(curvature, slope0, log2_initial_over_minimizer, interpolate):
    def phi(alpha):
        return 0.5 * curvature * alpha**2 + slope0 * alpha

    minimizer = -slope0 / curvature
    initial_step = minimizer * 2.0**log2_initial_over_minimizer
    result = armijo_backtracking(
        phi, 0.0, slope0, initial_step=initial_step, interpolate=interpolate
    )
    assert result.success, result.reason
    assert phi(result.step_size) <= 1e-4 * result.step_size * slope0
    if initial_step <= minimizer:  # acceptable as is: the first trial is taken
        assert result.evaluations == 1 and result.step_size == initial_step
    if not interpolate:  # Armijo holds on (0, 2(1 - c1) α*]; halving reaches it
        assert result.evaluations <= max(1, math.ceil(log2_initial_over_minimizer)) + 1


# --- failures are reported, never raised


@pytest.mark.parametrize("slope0", [0.0, 1.0, math.nan])
@pytest.mark.parametrize("search", [armijo_backtracking, strong_wolfe])
def test_non_descent_direction_fails_without_evaluating(search, slope0):
    counted = Counted(lambda alpha: (alpha, 1.0))
    result = search(counted, 0.0, slope0)
    assert not result.success
    assert counted.calls == 0 and result.evaluations == 0
    assert result.step_size == 0.0
    assert "descent" in result.reason or "non-finite" in result.reason


def test_wolfe_fails_when_the_function_decreases_linearly_forever():
    counted = Counted(lambda alpha: (-alpha, -1.0))
    result = strong_wolfe(counted, 0.0, -1.0, max_step=100.0)
    assert not result.success
    assert "max_step" in result.reason
    assert result.step_size == 100.0  # the best point seen is reported
    assert counted.calls == result.evaluations < 10


def test_wolfe_fails_when_evaluations_run_out():
    result = strong_wolfe(lambda alpha: (-alpha, -1.0), 0.0, -1.0, max_evals=5)
    assert not result.success
    assert result.evaluations == 5
    assert "after 5 evaluations" in result.reason


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_everywhere_fails_with_a_reason(bad):
    wolfe = strong_wolfe(lambda alpha: (bad, bad), 1.0, -1.0, max_evals=30)
    armijo = armijo_backtracking(lambda alpha: bad, 1.0, -1.0, max_evals=30)
    for result in (wolfe, armijo):
        assert not result.success
        assert result.step_size == 0.0 and result.value == 1.0
        assert result.evaluations <= 30
    assert "non-finite" in wolfe.reason
    assert "Armijo" in armijo.reason and "30 evaluations" in armijo.reason


def test_searches_back_away_from_overflow():
    # Finite only for alpha < 0.3; minimizer of the finite part at 0.25.
    def phi(alpha):
        if alpha >= 0.3:
            return math.nan, math.nan
        return (alpha - 0.25) ** 2, 2.0 * (alpha - 0.25)

    value0, slope0 = phi(0.0)
    wolfe = strong_wolfe(phi, value0, slope0, initial_step=1.0)
    armijo = armijo_backtracking(lambda a: phi(a)[0], value0, slope0, initial_step=1.0)
    assert wolfe.success and armijo.success
    assert_strong_wolfe(phi, wolfe, 1e-4, 0.9)
    assert armijo.step_size < 0.3


@pytest.mark.parametrize("search", [armijo_backtracking, strong_wolfe])
def test_no_tiny_step_is_accepted_where_no_step_is_acceptable(search):
    # φ rises although φ'(0) claims descent (a wrong gradient). Backtracking shrinks
    # α until the rise is far below the rounding noise of φ(0) = 1; still no step.
    result = search(lambda alpha: (1.0 + 1e-3 * alpha, 1e-3), 1.0, -1.0, max_evals=60)
    assert not result.success
    assert result.step_size == 0.0 and result.value == 1.0
    assert result.evaluations <= 60


def test_zoom_reports_a_collapsed_bracket():
    # Claims descent at 0 but φ has a kink: no point satisfies strong Wolfe with c2 small.
    def phi(alpha):
        return abs(alpha - 1.0) - 1.0, math.copysign(1.0, alpha - 1.0)

    result = strong_wolfe(phi, 0.0, -1.0, initial_step=3.0, c2=0.1, max_evals=200)
    assert not result.success
    assert "rounding level" in result.reason
    assert result.evaluations < 200
    assert result.step_size == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("c1", {"c1": 0.0}),
        ("c1", {"c1": 1.0}),
        ("c2", {"c1": 0.5, "c2": 0.4}),
        ("c2", {"c2": 1.0}),
        ("initial_step", {"initial_step": -1.0}),
        ("max_evals", {"max_evals": 0}),
        ("max_step", {"max_step": 0.0}),
    ],
)
def test_strong_wolfe_rejects_invalid_constants(field, kwargs):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        strong_wolfe(mt1, *mt1(0.0), **kwargs)


@pytest.mark.parametrize(("field", "kwargs"), [("shrink", {"shrink": 1.0}), ("c1", {"c1": -0.1})])
def test_armijo_rejects_invalid_constants(field, kwargs):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        armijo_backtracking(mt1, *mt1(0.0), **kwargs)


# --- interpolation helpers


def test_names_from_before_the_split_are_still_importable_from_linesearch():
    from optbench.solvers import interpolation, linesearch, ray

    assert linesearch.Ray is ray.Ray
    assert linesearch.cubic_minimizer is interpolation.cubic_minimizer
    assert linesearch.quadratic_minimizer is interpolation.quadratic_minimizer


def test_cubic_minimizer_recovers_a_cubic():
    # φ(α) = α^3 - 3α (local minimizer 1), sampled at 0 and 2.
    def phi(a):
        return a**3 - 3 * a, 3 * a**2 - 3

    assert cubic_minimizer(0.0, *phi(0.0), 2.0, *phi(2.0)) == pytest.approx(1.0)
    assert cubic_minimizer(2.0, *phi(2.0), 0.0, *phi(0.0)) == pytest.approx(1.0)
    assert cubic_minimizer(1.0, 0.0, 1.0, 1.0, 0.0, 1.0) is None


def test_quadratic_minimizer_recovers_a_parabola():
    assert quadratic_minimizer(0.0, 1.0, -2.0, 3.0, 4.0) == pytest.approx(1.0)
    assert quadratic_minimizer(0.0, 0.0, -1.0, 1.0, -2.0) is None  # concave


# --- Ray: the accepted point comes back without a second evaluation


def test_ray_returns_the_accepted_point_without_reevaluating():
    oracle = Oracle(Rosenbrock(dim=2))
    x = np.array([-1.2, 1.0])
    f0, g0 = oracle.value_and_grad(x)
    ray = Ray(oracle, x, -g0)
    result = strong_wolfe(ray.value_and_slope, f0, -(g0 @ g0))
    assert result.success
    calls = oracle.n_f, oracle.n_g
    assert calls == (1 + result.evaluations, 1 + result.evaluations)
    x_new, f_new, g_new = ray.point(result.step_size)
    assert (oracle.n_f, oracle.n_g) == calls
    np.testing.assert_allclose(x_new, x - result.step_size * g0)
    f_check, g_check = Rosenbrock(dim=2).value_and_grad(x_new)
    assert f_new == f_check == result.value
    np.testing.assert_array_equal(g_new, g_check)


def test_ray_evaluates_the_gradient_after_a_value_only_search():
    oracle = Oracle(Rosenbrock(dim=2))
    x = np.array([-1.2, 1.0])
    f0, g0 = oracle.value_and_grad(x)
    ray = Ray(oracle, x, -g0)
    result = armijo_backtracking(ray.value, f0, -(g0 @ g0))
    assert result.success
    assert (oracle.n_f, oracle.n_g) == (1 + result.evaluations, 1)
    _, f_new, g_new = ray.point(result.step_size)
    assert (oracle.n_f, oracle.n_g) == (2 + result.evaluations, 2)
    assert f_new == result.value
    assert g_new.shape == (2,)


# --- values at rounding level: slopes decide (approximate Armijo, Hager & Zhang 2005)


def flat_valued(alpha):
    """φ(α) = 1 + 1e-20 (α² - 2α): every value rounds to 1.0, the slopes are exact."""
    return 1.0 + 1e-20 * (alpha**2 - 2.0 * alpha), 1e-20 * (2.0 * alpha - 2.0)


def test_values_at_rounding_level_are_decided_by_slopes():
    assert flat_valued(1.0)[0] == flat_valued(0.0)[0] == 1.0
    wolfe = strong_wolfe(flat_valued, 1.0, -2e-20)
    armijo = armijo_backtracking(flat_valued, 1.0, -2e-20)
    for result in (wolfe, armijo):
        assert result.success, result.reason
        assert result.step_size == 1.0 and result.evaluations == 1
    # Too long a step is still rejected: φ'(3) = 4e-20 > (1 - 2 c1) |φ'(0)|.
    long = armijo_backtracking(flat_valued, 1.0, -2e-20, initial_step=3.0)
    assert long.success and long.step_size == 1.5


def test_value_only_armijo_cannot_see_below_rounding():
    result = armijo_backtracking(lambda a: flat_valued(a)[0], 1.0, -2e-20, max_evals=10)
    assert not result.success


def test_a_measurable_but_insufficient_decrease_is_still_rejected():
    # mt1 from α = 1000: φ fell by 1e-3 only, far less than c1 α |φ'(0)| = 0.05.
    result = armijo_backtracking(mt1, *mt1(0.0), initial_step=1000.0)
    assert result.success and result.step_size < 1000.0
    assert_armijo(mt1, result, 1e-4)
