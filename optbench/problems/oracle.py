"""The counted, timed view of a :class:`~optbench.problems.base.Problem`."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from optbench.problems.base import Problem, Smoothness, is_least_squares

#: The call counters of an Oracle, in the order of the results' columns.
COUNTERS = ("n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J")


class Oracle:
    """What a solver sees of a problem: every call counted and timed.

    A fused :meth:`value_and_grad` counts one value and one gradient. Least-squares-shaped
    problems (:class:`~optbench.problems.base.LeastSquaresShaped`) also offer
    :meth:`residuals` and :meth:`jacobian`, counted as ``n_r`` and ``n_J``. ``cost`` adds up
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
        self.n_r = 0
        self.n_J = 0
        self.cost = 0.0
        self.time = 0.0
        weights = problem.cost_weights
        self._w_value = weights.value
        self._w_grad = weights.grad
        self._w_value_and_grad = weights.value_and_grad
        self._w_hvp = weights.hvp
        self._w_hess = weights.hess_cost(problem.dim)
        self._w_residuals = weights.residuals
        self._w_jacobian = weights.jacobian

    @property
    def dim(self) -> int:
        """Number of variables of the wrapped problem."""
        return self.problem.dim

    @property
    def least_squares(self) -> bool:
        """Whether the problem offers :meth:`residuals` and :meth:`jacobian` (free)."""
        return is_least_squares(self.problem)

    @property
    def residual_scale(self) -> float:
        """The factor ``c`` of :math:`f = c\\|r\\|^2` (free; least-squares problems only)."""
        self._require_least_squares("residual_scale")
        return self.problem.residual_scale  # type: ignore[attr-defined]

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

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The residuals :math:`r(x)` of a least-squares-shaped problem; counts one r."""
        self._require_least_squares("residuals")
        out = self._timed(self.problem.residuals, x)  # type: ignore[attr-defined]
        self.n_r += 1
        self.cost += self._w_residuals
        return out

    def jacobian(self, x: np.ndarray) -> Any:
        """The Jacobian :math:`J(x)` of a least-squares-shaped problem; counts one J."""
        self._require_least_squares("jacobian")
        out = self._timed(self.problem.jacobian, x)  # type: ignore[attr-defined]
        self.n_J += 1
        self.cost += self._w_jacobian
        return out

    def _require_least_squares(self, what: str) -> None:
        if not is_least_squares(self.problem):
            raise TypeError(
                f"{what}: problem {self.problem.name!r} is not least-squares shaped "
                "(it offers no residuals or Jacobian)"
            )

    def counts(self) -> dict[str, float]:
        """Current counters as a dict (``n_f, n_g, n_hvp, n_hess, n_r, n_J, cost``)."""
        out: dict[str, float] = {name: getattr(self, name) for name in COUNTERS}
        out["cost"] = self.cost
        return out
