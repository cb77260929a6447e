"""Every registered problem family x every solver configuration, through ``minimize``.

Each family's default (small) instance is run with every configuration of
:func:`golden_counts.solver_configurations` (each registered solver with its defaults,
``gd`` with ``"armijo"`` and ``"1/L"``, ``newton_cg`` with each forcing, ``scipy`` with
each method) on a small budget. A pair that does not apply is an explicit skip whose
reason comes from the problem's and the solver's properties
(:func:`golden_counts.inapplicable_reason`); :func:`test_skip_rule_matches_what_errors`
checks that rule against what the runner actually does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from family_examples import default_params
from golden_counts import Configuration, inapplicable_reason, solver_configurations

from optbench import list_problems, make_problem, minimize
from optbench.problems import Problem
from optbench.problems.catalog import catalog_names
from optbench.solvers import Status

FAMILIES = [name for name in list_problems() if name not in set(catalog_names())]
CONFIGURATIONS = solver_configurations()
GTOL = 1e-6
F_GAP_TOL = 1e-10
MAX_ITER = 40
#: Statuses a run may end with here (no time budget is set, and ``error`` is a bug).
VALID_STATUSES = {str(status) for status in Status} - {"running", "error", "max_time"}
COUNTERS = ("n_f", "n_g", "n_hvp", "n_hess", "n_sample_g", "n_sample_hvp", "cost")


def run(problem: Problem, configuration: Configuration, max_iter: int = MAX_ITER):
    return minimize(
        problem, configuration.make(), gtol=GTOL, f_gap_tol=F_GAP_TOL, max_iter=max_iter
    )


def test_the_matrix_is_complete() -> None:
    """Every registered family and solver takes part (the lists are not empty by accident)."""
    assert FAMILIES and set(FAMILIES).isdisjoint(catalog_names())
    from optbench import list_solvers

    assert {configuration.solver for configuration in CONFIGURATIONS} == set(list_solvers())


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=str)
@pytest.mark.parametrize("family", FAMILIES)
def test_pair_runs(family: str, configuration: Configuration) -> None:
    """Valid status, finite counts, a trace from iteration 0 with monotone counters."""
    problem = make_problem(family, **default_params(family))
    reason = inapplicable_reason(problem, configuration)
    if reason is not None:
        pytest.skip(reason)
    result = run(problem, configuration)
    context = f"{family} x {configuration}: {result.status}: {result.message}"

    assert result.status in VALID_STATUSES, context
    assert 0 <= result.iters <= MAX_ITER, context
    for name in COUNTERS:
        value = getattr(result, name)
        assert math.isfinite(value) and value >= 0, f"{name} = {value}; {context}"
    calls = result.n_f + result.n_g + result.n_hvp + result.n_hess + result.n_r + result.n_J
    calls += result.n_sample_g + result.n_sample_hvp
    assert calls > 0, context
    if result.status != "diverged":
        assert math.isfinite(result.f) and math.isfinite(result.grad_norm), context

    trace = result.trace
    assert trace["iter"].iloc[0] == 0, context
    assert trace["iter"].iloc[-1] == result.iters, context
    assert np.all(np.diff(trace["iter"]) > 0), context
    for name in (*COUNTERS, "time"):
        steps = np.diff(trace[name].to_numpy(dtype=float))
        assert np.all(steps >= 0), f"{name} decreases along the trace: {trace[name].tolist()}"
    last = trace.iloc[-1]
    for name in COUNTERS:
        assert last[name] == getattr(result, name), f"{name}: last trace row != result"
    assert last["time"] == result.time

    stopping_test_holds = result.grad_norm <= GTOL or result.f_gap <= F_GAP_TOL
    if result.status == "converged":
        assert stopping_test_holds, f"converged without a stopping test holding; {context}"
    elif result.status != "diverged":
        assert not stopping_test_holds, f"a stopping test held but no convergence; {context}"


def skip_rule_cases() -> list[tuple[str, dict]]:
    """Problems on which some configurations do not apply: L unknown, a tiny hess_max_dim."""
    return [
        ("rosenbrock", {"dim": 4}),
        ("logistic", {"n_samples": 40, "n_features": 6, "hess_max_dim": 5}),
    ]


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=str)
@pytest.mark.parametrize("case", skip_rule_cases(), ids=lambda case: case[0])
def test_skip_rule_matches_what_errors(case: tuple[str, dict], configuration) -> None:
    """A pair is skipped as inapplicable exactly when running it ends in ``error``."""
    family, params = case
    problem = make_problem(family, **params)
    assert problem.smoothness().L is None or problem.dim > problem.hess_max_dim
    reason = inapplicable_reason(problem, configuration)
    result = run(problem, configuration, max_iter=3)
    if reason is None:
        assert result.status != "error", f"{configuration} on {family}: {result.message}"
    else:
        assert result.status == "error", f"{reason}, but the run ended in {result.status}"
        named = ("L" in result.message, "hess_max_dim" in result.message, reason in result.message)
        assert any(named), result.message
