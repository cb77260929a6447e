"""optbench: a benchmark suite for smooth unconstrained optimization."""

from optbench.problems import Oracle, Problem, Smoothness, list_problems, make_problem
from optbench.run.result import OptimizeResult
from optbench.run.runner import minimize
from optbench.solvers import list_solvers, make_solver

__all__ = [
    "OptimizeResult",
    "Oracle",
    "Problem",
    "Smoothness",
    "list_problems",
    "list_solvers",
    "make_problem",
    "make_solver",
    "minimize",
]
__version__ = "0.1.0"
