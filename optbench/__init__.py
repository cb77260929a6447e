"""optbench: a benchmark suite for smooth unconstrained optimization."""

from optbench.problems import Oracle, Problem, Smoothness, list_problems, make_problem

__all__ = ["Oracle", "Problem", "Smoothness", "list_problems", "make_problem"]
__version__ = "0.1.0"
