"""The counted view of a :class:`~optbench.problems.base.Problem`."""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.problems.base import (
    FiniteSum,
    Problem,
    Smoothness,
    is_finite_sum,
    is_least_squares,
)

#: The call counters of an Oracle, in the order of the results' columns.
COUNTERS = ("n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J", "n_sample_g", "n_sample_hvp")


class Oracle:
    """What a solver sees of a problem: every call counted.

    A fused :meth:`value_and_grad` counts one value and one gradient. Least-squares-shaped
    problems (:class:`~optbench.problems.base.LeastSquaresShaped`) also offer
    :meth:`residuals` and :meth:`jacobian`, counted as ``n_r`` and ``n_J``. Finite sums
    (:class:`~optbench.problems.base.FiniteSum`) also offer minibatch evaluations, counted
    per sample: ``n_sample_g`` sample gradients and ``n_sample_hvp`` sample HVPs. ``cost``
    adds up the work in gradient-equivalents with the problem family's
    :class:`~optbench.problems.base.CostWeights`; a sample gradient costs
    ``1/n_samples`` of a gradient and a sample HVP ``1/n_samples`` of an HVP, so one data
    pass of sample gradients costs as one full gradient (1). Use one fresh Oracle per run.

    The Oracle does not time its calls: the runner times the solver's ``init`` and
    ``step`` (:func:`~optbench.run.runner.run_solver`), which is what results report;
    timing every call as well cost two clock reads per call and was reported nowhere.

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
        self.n_sample_g = 0
        self.n_sample_hvp = 0
        self.cost = 0.0
        weights = problem.cost_weights
        self._w_value = weights.value
        self._w_grad = weights.grad
        self._w_value_and_grad = weights.value_and_grad
        self._w_hvp = weights.hvp
        self._w_hess = weights.hess_cost(problem.dim)
        self._w_residuals = weights.residuals
        self._w_jacobian = weights.jacobian
        samples = problem.n_samples if is_finite_sum(problem) else None
        self._w_sample_grad = weights.grad / samples if samples else 0.0
        self._w_sample_hvp = weights.hvp / samples if samples else 0.0

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

    @property
    def n_samples(self) -> int | None:
        """Number of samples of a finite-sum problem, else None (free)."""
        return self.problem.n_samples if is_finite_sum(self.problem) else None

    def smoothness(self) -> Smoothness:
        """The problem's smoothness constants, ``L_max`` of a finite sum included
        (free: not an oracle call)."""
        return self.problem.smoothness()

    def value(self, x: np.ndarray) -> float:
        """:math:`f(x)`; counts one f."""
        out = self.problem.value(x)
        self.n_f += 1
        self.cost += self._w_value
        return out

    def grad(self, x: np.ndarray) -> np.ndarray:
        """:math:`\\nabla f(x)`; counts one g."""
        out = self.problem.grad(x)
        self.n_g += 1
        self.cost += self._w_grad
        return out

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """:math:`(f(x), \\nabla f(x))` fused; counts one f and one g."""
        out = self.problem.value_and_grad(x)
        self.n_f += 1
        self.n_g += 1
        self.cost += self._w_value_and_grad
        return out

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """:math:`\\nabla^2 f(x)\\,v`; counts one Hv."""
        out = self.problem.hvp(x, v)
        self.n_hvp += 1
        self.cost += self._w_hvp
        return out

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Dense :math:`\\nabla^2 f(x)`; counts one H."""
        out = self.problem.hess(x)
        self.n_hess += 1
        self.cost += self._w_hess
        return out

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The residuals :math:`r(x)` of a least-squares-shaped problem; counts one r."""
        self._require_least_squares("residuals")
        out = self.problem.residuals(x)  # type: ignore[attr-defined]
        self.n_r += 1
        self.cost += self._w_residuals
        return out

    def jacobian(self, x: np.ndarray) -> Any:
        """The Jacobian :math:`J(x)` of a least-squares-shaped problem; counts one J."""
        self._require_least_squares("jacobian")
        out = self.problem.jacobian(x)  # type: ignore[attr-defined]
        self.n_J += 1
        self.cost += self._w_jacobian
        return out

    def value_and_grad_batch(self, x: np.ndarray, idx: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean value and gradient over the rows ``idx`` plus the ridge term; counts
        ``len(idx)`` sample gradients."""
        problem = self._finite_sum("value_and_grad_batch")
        out = problem.value_and_grad_batch(x, idx)
        self._count_sample_grads(len(idx))
        return out

    def grad_batch(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Mean gradient over the rows ``idx`` plus the ridge term; counts ``len(idx)``
        sample gradients."""
        problem = self._finite_sum("grad_batch")
        out = problem.grad_batch(x, idx)
        self._count_sample_grads(len(idx))
        return out

    def hvp_batch(self, x: np.ndarray, v: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Mean Hessian-vector product over the rows ``idx`` plus the ridge term; counts
        ``len(idx)`` sample HVPs."""
        problem = self._finite_sum("hvp_batch")
        out = problem.hvp_batch(x, v, idx)
        self.n_sample_hvp += len(idx)
        self.cost += len(idx) * self._w_sample_hvp
        return out

    def sample_derivatives(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The loss derivatives of the rows ``idx`` (each a compressed sample gradient);
        counts ``len(idx)`` sample gradients."""
        problem = self._finite_sum("sample_derivatives")
        out = problem.sample_derivatives(x, idx)
        self._count_sample_grads(len(idx))
        return out

    def grad_from_derivatives(self, idx: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
        """Mean of the rows ``idx`` times given derivatives (no ridge term).

        Timed but not counted: it is linear algebra on the data with numbers the solver
        already holds, and reveals nothing new about :math:`f`.
        """
        problem = self._finite_sum("grad_from_derivatives")
        return problem.grad_from_derivatives(idx, derivatives)

    def ridge_grad(self, x: np.ndarray) -> np.ndarray:
        """The ridge term's gradient (free: not an oracle call)."""
        return self._finite_sum("ridge_grad").ridge_grad(x)

    def _count_sample_grads(self, count: int) -> None:
        self.n_sample_g += count
        self.cost += count * self._w_sample_grad

    def _finite_sum(self, what: str) -> FiniteSum:
        if not is_finite_sum(self.problem):
            raise TypeError(
                f"{what}: problem {self.problem.name!r} is not a finite sum "
                "(it offers no minibatch evaluations)"
            )
        return self.problem  # type: ignore[return-value]

    def _require_least_squares(self, what: str) -> None:
        if not is_least_squares(self.problem):
            raise TypeError(
                f"{what}: problem {self.problem.name!r} is not least-squares shaped "
                "(it offers no residuals or Jacobian)"
            )

    def counts(self) -> dict[str, float]:
        """Current counters as a dict (``n_f, n_g, n_hvp, n_hess, n_r, n_J, n_sample_g,
        n_sample_hvp, cost``)."""
        out: dict[str, float] = {name: getattr(self, name) for name in COUNTERS}
        out["cost"] = self.cost
        return out
