"""The counted, timed view of a :class:`~optbench.problems.base.Problem`."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from optbench.problems.base import Problem, Smoothness


class Oracle:
    """What a solver sees of a problem: every call counted and timed.

    A fused :meth:`value_and_grad` counts one value and one gradient. ``cost`` adds up
    the work in gradient-equivalents with the problem family's
    :class:`~optbench.problems.base.CostWeights`. ``time`` is the wall time spent
    inside oracle calls. Use one fresh Oracle per run.

    Parameters
    ----------
    problem : Problem
        The problem to wrap.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.n_f = 0
        self.n_g = 0
        self.n_hvp = 0
        self.n_hess = 0
        self.cost = 0.0
        self.time = 0.0
        weights = problem.cost_weights
        self._w_value = weights.value
        self._w_grad = weights.grad
        self._w_value_and_grad = weights.value_and_grad
        self._w_hvp = weights.hvp
        self._w_hess = weights.hess_cost(problem.dim)

    @property
    def dim(self) -> int:
        """Number of variables of the wrapped problem."""
        return self.problem.dim

    def smoothness(self) -> Smoothness:
        """The problem's smoothness constants (free: not an oracle call)."""
        return self.problem.smoothness()

    def _timed(self, method: Callable[..., Any], *args: np.ndarray) -> Any:
        """Call ``method(*args)`` and add its wall time to :attr:`time`."""
        start = perf_counter()
        out = method(*args)
        self.time += perf_counter() - start
        return out

    def value(self, x: np.ndarray) -> float:
        """:math:`f(x)`; counts one f."""
        out = self._timed(self.problem.value, x)
        self.n_f += 1
        self.cost += self._w_value
        return out

    def grad(self, x: np.ndarray) -> np.ndarray:
        """:math:`\\nabla f(x)`; counts one g."""
        out = self._timed(self.problem.grad, x)
        self.n_g += 1
        self.cost += self._w_grad
        return out

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """:math:`(f(x), \\nabla f(x))` fused; counts one f and one g."""
        out = self._timed(self.problem.value_and_grad, x)
        self.n_f += 1
        self.n_g += 1
        self.cost += self._w_value_and_grad
        return out

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """:math:`\\nabla^2 f(x)\\,v`; counts one Hv."""
        out = self._timed(self.problem.hvp, x, v)
        self.n_hvp += 1
        self.cost += self._w_hvp
        return out

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Dense :math:`\\nabla^2 f(x)`; counts one H."""
        out = self._timed(self.problem.hess, x)
        self.n_hess += 1
        self.cost += self._w_hess
        return out

    def counts(self) -> dict[str, float]:
        """Current counters as a dict (``n_f, n_g, n_hvp, n_hess, cost``)."""
        return {
            "n_f": self.n_f,
            "n_g": self.n_g,
            "n_hvp": self.n_hvp,
            "n_hess": self.n_hess,
            "cost": self.cost,
        }
