"""optbench: a benchmark suite for smooth unconstrained optimization.

The public API is re-exported here and imported on first use (PEP 562), so that the
command line (``optbench --help``) starts without loading numpy, scipy or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "Oracle": "optbench.problems.oracle",
    "Problem": "optbench.problems.base",
    "Smoothness": "optbench.problems.base",
    "list_problems": "optbench.problems",
    "make_problem": "optbench.problems",
    "check_derivatives": "optbench.checks",
    "list_solvers": "optbench.solvers",
    "make_solver": "optbench.solvers",
    "minimize": "optbench.run.runner",
    "OptimizeResult": "optbench.run.result",
    "run": "optbench.run",
    "load": "optbench.run.results",
    "Results": "optbench.run.results",
}

__all__ = [
    "OptimizeResult",
    "Oracle",
    "Problem",
    "Results",
    "Smoothness",
    "check_derivatives",
    "list_problems",
    "list_solvers",
    "load",
    "make_problem",
    "make_solver",
    "minimize",
    "run",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'optbench' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if name == "run" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from optbench import run
    from optbench.checks import check_derivatives
    from optbench.problems import list_problems, make_problem
    from optbench.problems.base import Problem, Smoothness
    from optbench.problems.oracle import Oracle
    from optbench.run.result import OptimizeResult
    from optbench.run.results import Results, load
    from optbench.run.runner import minimize
    from optbench.solvers import list_solvers, make_solver
