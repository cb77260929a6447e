"""Assertions for users' own pytest suites: convergence and convergence regressions.

Both raise :class:`AssertionError` with the numbers in the message, so a failing test
says what happened without a debugger::

    from optbench.testing import assert_converges, assert_no_regression

    def test_my_solver_converges():
        assert_converges(make_problem("rosenbrock", dim=10), "newton_cg", gtol=1e-8)

    def test_no_convergence_regression(tmp_path):
        run("configs/quickstart.yaml", out=tmp_path)
        assert_no_regression(tmp_path, "results/baselines/quickstart")
"""

from __future__ import annotations

import os
from typing import Any

from optbench.analysis.compare import Comparison, IncomparableError, compare_results
from optbench.problems import Problem, make_problem
from optbench.run.result import OptimizeResult
from optbench.run.runner import minimize
from optbench.solvers import Solver

__all__ = ["assert_converges", "assert_no_regression"]


def assert_converges(
    problem: Problem | str,
    solver: str | Solver,
    gtol: float = 1e-8,
    max_iter: int = 1000,
    **params: Any,
) -> OptimizeResult:
    r"""Assert that ``solver`` reaches :math:`\|\nabla f\| \le` ``gtol`` within ``max_iter``.

    Parameters
    ----------
    problem : Problem or str
        A problem instance, or a family or catalog name for :func:`optbench.make_problem`.
    solver : str or Solver
        A registered solver name or a solver instance.
    gtol : float
        Gradient-norm tolerance of the stopping test.
    max_iter : int
        Iteration budget.
    **params
        Hyper-parameters of the solver.

    Returns
    -------
    OptimizeResult
        The run, for further checks.

    Raises
    ------
    AssertionError
        The run did not converge; the message gives the status and its message, the
        iterations, the final gradient norm and f − f*, and the oracle counts.
    """
    if isinstance(problem, str):
        problem = make_problem(problem)
    result = minimize(problem, solver, gtol=gtol, max_iter=max_iter, **params)
    if result.status != "converged":
        name = solver if isinstance(solver, str) else type(solver).__name__
        setting = f" with {params}" if params else ""
        raise AssertionError(
            f"{name}{setting} did not converge on {result.problem}: status {result.status}"
            f" ({result.message or 'no message'}) after {result.iters} iterations "
            f"(max_iter {max_iter}); grad_norm {result.grad_norm:.3e} (gtol {gtol:g}), "
            f"f {result.f:.6g}, f - f* {result.f_gap:.3e}; oracle calls n_f {result.n_f}, "
            f"n_g {result.n_g}, n_hvp {result.n_hvp}, n_hess {result.n_hess}, "
            f"cost {result.cost:g}"
        )
    return result


def assert_no_regression(
    new_dir: str | os.PathLike,
    baseline_dir: str | os.PathLike,
    metric: str = "counts",
    rtol: float | None = None,
    exact: bool = False,
    stack_rtol: float | None = None,
) -> Comparison:
    """Assert that no run in ``new_dir`` converges worse than in ``baseline_dir``.

    Parameters
    ----------
    new_dir, baseline_dir : path
        Results directories (``summary.csv``); see
        :func:`optbench.analysis.compare.compare_results` for what counts as worse.
    metric : {"counts", "iters", "cost", "time"}
        What ``rtol`` applies to; ``"time"`` also fails a slowdown whose bootstrap
        interval lies above ``1 + rtol``.
    rtol : float, optional
        Relative tolerance (default 0 for counts, 0.25 for time).
    exact, stack_rtol
        How results from different numerical stacks are judged (see
        :func:`~optbench.analysis.compare.compare_results`).

    Returns
    -------
    Comparison
        The comparison, when nothing regressed.

    Raises
    ------
    AssertionError
        Regressions (the message holds their table), or the directories cannot be
        compared (missing, unmatched runs).
    """
    try:
        comparison = compare_results(
            new_dir, baseline_dir, metric=metric, rtol=rtol, exact=exact, stack_rtol=stack_rtol
        )
    except IncomparableError as error:
        raise AssertionError(f"cannot compare {new_dir} with {baseline_dir}: {error}") from error
    if comparison.exit_code:
        raise AssertionError(
            f"convergence regressed in {new_dir} against {baseline_dir}:\n{comparison.table()}"
        )
    return comparison
