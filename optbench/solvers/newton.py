r"""Newton's method with a dense Hessian, modified Cholesky, and a line search.

Each iteration (N&W Alg. 3.2, line-search Newton with Hessian modification):

1. :math:`H_k = \nabla^2 f(x_k)` (one dense Hessian);
2. the smallest :math:`\tau_k` in the sequence of N&W Alg. 3.3 (Cholesky with added
   multiple of the identity) for which :math:`H_k + \tau_k I = L_k L_k^\top` succeeds:
   :math:`\tau_0 = 0` if :math:`\min_i (H_k)_{ii} > 0`, else
   :math:`-\min_i (H_k)_{ii} + \beta`; then :math:`\tau \leftarrow \max(2\tau, \beta)`,
   :math:`\beta = 10^{-3}` (``min_shift``, ``shift_growth`` = 2 as in Alg. 3.3);
3. :math:`p_k = -(H_k + \tau_k I)^{-1} \nabla f(x_k)` by two triangular solves;
4. a line search along :math:`p_k` that tries :math:`\alpha = 1` first: Armijo
   backtracking (N&W Alg. 3.1) or strong Wolfe (N&W Alg. 3.5/3.6); each trial is one
   fused value-and-gradient, so :math:`f` and :math:`\nabla f` at the new iterate come
   with the accepted step.

Per iteration: one Hessian and (near the solution, where :math:`\alpha = 1` is
accepted) one value-and-gradient. Where :math:`\nabla^2 f` is positive definite near a
minimizer, convergence is quadratic (N&W Thm. 3.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number
from optbench.solvers.base import EvaluatedState
from optbench.solvers.line_search_method import DirectionResult, LineSearchMethod
from optbench.solvers.linesearch import (
    ArmijoSearch,
    LineSearch,
    StrongWolfeSearch,
    check_line_search_constants,
)

LINE_SEARCHES = ("armijo", "wolfe")
#: Largest number of Cholesky attempts of Alg. 3.3 before the step fails.
MAX_FACTORIZATIONS = 100


@dataclass
class NewtonState(EvaluatedState):
    r"""State of :class:`Newton`.

    Attributes
    ----------
    shift : float
        :math:`\tau` added to the diagonal of the last Hessian (0 when it was positive
        definite with a positive diagonal).
    factorizations : int
        Cholesky attempts in the last iteration.
    """

    shift: float = 0.0
    factorizations: int = 0


@SOLVERS.register("newton")
@dataclass(frozen=True)
class Newton(LineSearchMethod[NewtonState]):
    r"""Newton's method: dense Hessian, Cholesky + multiple of I (N&W Alg. 3.3), line search.

    Parameters
    ----------
    line_search : {"armijo", "wolfe"}
        Backtracking (N&W Alg. 3.1, halving) or strong Wolfe (N&W Alg. 3.5/3.6); both
        try :math:`\alpha = 1` first.
    c1 : float
        Sufficient-decrease constant in (0, 1).
    c2 : float
        Curvature constant in (c1, 1) (``"wolfe"`` only).
    min_shift : float
        :math:`\beta` of N&W Alg. 3.3: the first shift tried when the Hessian has a
        non-positive diagonal entry is :math:`\beta - \min_i H_{ii}`, and no shift is
        smaller than :math:`\beta` once one is needed.
    shift_growth : float
        Factor (> 1) by which the shift grows after a failed Cholesky (2 in Alg. 3.3).
    """

    line_search: str = "armijo"
    c1: float = 1e-4
    c2: float = 0.9
    min_shift: float = 1e-3
    shift_growth: float = 2.0

    def __post_init__(self) -> None:
        if self.line_search not in LINE_SEARCHES:
            raise ValueError(
                f"line_search: must be one of {', '.join(LINE_SEARCHES)}; got {self.line_search!r}"
            )
        check_line_search_constants(self.c1, c2=self.c2)
        if not is_finite_number(self.min_shift) or self.min_shift <= 0:
            raise ValueError(f"min_shift: must be a number > 0; got {self.min_shift!r}")
        if not is_finite_number(self.shift_growth) or self.shift_growth <= 1:
            raise ValueError(f"shift_growth: must be a number > 1; got {self.shift_growth!r}")

    def init(self, oracle: Oracle, x0: np.ndarray) -> NewtonState:
        """Evaluate f and g at ``x0``.

        Raises
        ------
        ValueError
            When the problem is too large for a dense Hessian (``dim > hess_max_dim``).
        """
        problem = oracle.problem
        if oracle.dim > problem.hess_max_dim:
            raise ValueError(
                f"newton needs a dense Hessian, but dim = {oracle.dim} exceeds "
                f"hess_max_dim = {problem.hess_max_dim} for problem {problem.name!r}; "
                "use newton_cg or trust_ncg (Hessian-vector products), or raise "
                "hess_max_dim in make_problem"
            )
        value, grad = oracle.value_and_grad(x0)
        return NewtonState(x=x0, f=value, g=grad)

    def direction(self, oracle: Oracle, state: NewtonState) -> DirectionResult:
        r"""The modified-Newton direction :math:`-(\nabla^2 f + \tau I)^{-1} g` (N&W Alg. 3.3)."""
        hessian = oracle.hess(state.x)
        if not np.all(np.isfinite(hessian)):
            return DirectionResult(None, "Hessian has non-finite entries")
        factor, shift, attempts = self._factor_with_shift(hessian)
        progress = {"shift": shift, "factorizations": attempts}
        if factor is None:
            return DirectionResult(
                None,
                f"modified Cholesky (N&W Alg. 3.3): no positive definite H + tau I after "
                f"{attempts} attempts (last tau = {shift:.3g})",
            )
        from scipy.linalg import cho_solve  # imported here: `optbench list` must start fast

        direction = -cho_solve(factor, state.g, check_finite=False)
        return DirectionResult(direction, updates=progress)

    def make_line_search(self) -> LineSearch:
        """Armijo backtracking (N&W Alg. 3.1) or strong Wolfe (Alg. 3.5/3.6)."""
        if self.line_search == "armijo":
            return ArmijoSearch(c1=self.c1)
        return StrongWolfeSearch(c1=self.c1, c2=self.c2)

    def _factor_with_shift(
        self, hessian: np.ndarray
    ) -> tuple[tuple[np.ndarray, bool] | None, float, int]:
        r"""N&W Alg. 3.3: Cholesky of :math:`H + \tau I` for growing :math:`\tau`.

        Returns the factor (``None`` if every attempt failed), :math:`\tau` and the
        number of attempts.
        """
        from scipy.linalg import LinAlgError, cho_factor

        smallest_diagonal = float(np.min(np.diag(hessian)))
        shift = 0.0 if smallest_diagonal > 0 else self.min_shift - smallest_diagonal
        diagonal = np.diag_indices_from(hessian)
        for attempt in range(1, MAX_FACTORIZATIONS + 1):
            shifted = hessian.copy()
            shifted[diagonal] += shift
            try:
                return cho_factor(shifted, overwrite_a=True, check_finite=False), shift, attempt
            except LinAlgError:
                if attempt < MAX_FACTORIZATIONS:
                    shift = max(self.shift_growth * shift, self.min_shift)
        return None, shift, MAX_FACTORIZATIONS
