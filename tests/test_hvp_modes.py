"""HVP routes: every route agrees with the analytic HVP within its stated accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import make_problem, minimize
from optbench.cli import main
from optbench.hvp_modes import MODES, RoutedHvp, measure_hvp_modes
from optbench.problems.finite_differences import forward_difference_hvp
from optbench.problems.oracle import Oracle

pytest.importorskip("jax", reason="the AD routes need the extra: pip install 'optbench[jax]'")

#: Largest relative error of each route on a well-scaled instance: rounding for AD,
#: about eps^(1/2) forward and eps^(2/3) central (finite_differences' notes), with margin.
TOLERANCE = {
    "analytic": 0.0,
    "ad_fwd_rev": 1e-13,
    "ad_rev_rev": 1e-13,
    "fd_forward": 1e-6,
    "fd_central": 1e-8,
}


@pytest.mark.parametrize("name", ["rosenbrock_2d", "logistic_small", "softmax_small"])
def test_every_route_within_its_accuracy(name: str) -> None:
    rows = measure_hvp_modes(make_problem(name), rounds=1, batch_seconds=1e-4)
    assert [row.mode for row in rows] == list(MODES)
    for row in rows:
        assert row.rel_error <= TOLERANCE[row.mode], row
        assert row.seconds > 0 and math.isfinite(row.ratio)


def test_routes_without_a_twin_say_why() -> None:
    rows = {row.mode: row for row in measure_hvp_modes(make_problem("mgh_01_rosenbrock"), rounds=1)}
    assert "no JAX twin" in rows["ad_fwd_rev"].note and math.isnan(rows["ad_rev_rev"].seconds)
    assert rows["fd_central"].rel_error <= TOLERANCE["fd_central"]


def test_forward_difference_reuses_the_given_gradient() -> None:
    problem = make_problem("rosenbrock", dim=4)
    x, v = np.array([0.5, -0.2, 1.0, 0.3]), np.array([1.0, 0.0, -1.0, 2.0])
    calls = []

    def grad(y):
        calls.append(y)
        return problem.grad(y)

    approx = forward_difference_hvp(grad, x, v, grad_x=problem.grad(x))
    assert len(calls) == 1
    exact = problem.hvp(x, v)
    assert np.linalg.norm(approx - exact) <= 1e-6 * np.linalg.norm(exact)


def test_a_routed_problem_counts_fd_hvps_as_two_gradients_and_solves_alike() -> None:
    base = make_problem("logistic_small")
    fd, ad = RoutedHvp(base, "fd"), RoutedHvp(base, "ad")
    oracle = Oracle(fd)
    oracle.hvp(base.x0, np.ones(base.dim))
    assert oracle.cost == 2.0 and Oracle(ad).problem.cost_weights.hvp == 1.0
    reference = minimize(base, "newton_cg", gtol=1e-8)
    for routed in (fd, ad):
        result = minimize(routed, "newton_cg", gtol=1e-8)
        assert result.status == "converged" and result.iters == reference.iters
    assert fd.f_star == base.f_star and fd.x0 is base.x0
    with pytest.raises(ValueError, match="mode: must be 'ad' or 'fd'"):
        RoutedHvp(base, "exact")


def test_cli_prints_the_routes(capsys) -> None:
    assert main(["check", "rosenbrock_2d", "--hvp-modes", "--x0"]) == 0
    out = capsys.readouterr().out
    assert "HVP routes: rosenbrock_2d (dim 2) at x0" in out
    for mode in MODES:
        assert mode in out


def test_a_function_problem_is_its_own_twin() -> None:
    import jax.numpy as jnp

    problem = make_problem(
        "function", f=lambda x: jnp.sum(x**4) + jnp.sum(x[1:] * x[:-1]), x0=[1.0, -2.0, 0.5]
    )
    rows = {row.mode: row for row in measure_hvp_modes(problem, rounds=1, batch_seconds=1e-4)}
    assert rows["ad_rev_rev"].rel_error <= TOLERANCE["ad_rev_rev"]
    assert rows["fd_central"].rel_error <= TOLERANCE["fd_central"]
