r"""BFGS with a dense inverse-Hessian approximation and a strong Wolfe line search (N&W Alg 6.1).

Nocedal & Wright, *Numerical Optimization*, 2nd ed., Sec 6.1: the direction is
:math:`p_k = -H_k g_k` with the dense :math:`n \times n` matrix :math:`H_k` updated by
the BFGS formula (eq 6.17, :func:`~optbench.solvers.quasi_newton.bfgs_inverse_update`),
:math:`H_0` scaled by eq 6.20 before the first update. Storage and work per iteration
are :math:`O(n^2)`, so the solver refuses problems above ``max_dim`` variables (use
``lbfgs`` there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_integer
from optbench.solvers.base import EvaluatedState
from optbench.solvers.lbfgs import check_quasi_newton_fields, first_trial_step
from optbench.solvers.line_search_method import DirectionResult, LineSearchMethod
from optbench.solvers.linesearch import LineSearch, StrongWolfeSearch
from optbench.solvers.quasi_newton import (
    admissible_pair,
    bfgs_inverse_update,
    initial_inverse_scaling,
)


@dataclass
class BFGSState(EvaluatedState):
    """State of :class:`BFGS`.

    Attributes
    ----------
    inverse : ndarray or None
        :math:`H_k`, ``None`` before the first update (:math:`H_0 = I`). Updated in
        place on every accepted step: a state's matrix belongs to the newest state.
    skipped_updates : int
        Steps whose pair failed the curvature test (no update).
    resets : int
        Times :math:`H_k` was discarded because :math:`-H_k g_k` was not a descent
        direction.
    """

    inverse: np.ndarray | None = None
    skipped_updates: int = 0
    resets: int = 0


@SOLVERS.register("bfgs")
@dataclass(frozen=True)
class BFGS(LineSearchMethod[BFGSState]):
    r"""BFGS (N&W Alg 6.1): dense inverse update (eq 6.17), :math:`H_0` by eq 6.20, strong Wolfe.

    .. math::
        p_k = -H_k g_k, \qquad x_{k+1} = x_k + \alpha_k p_k, \qquad
        H_{k+1} = (I - \rho_k s_k y_k^\top) H_k (I - \rho_k y_k s_k^\top)
                  + \rho_k s_k s_k^\top, \quad \rho_k = 1 / y_k^\top s_k ,

    with :math:`s_k = x_{k+1} - x_k`, :math:`y_k = g_{k+1} - g_k`. The first direction
    is :math:`-g_0` (:math:`H_0 = I`, first trial :math:`\min(1, 1/\|g_0\|_2)`); before
    the first update :math:`H_0` is replaced by :math:`\frac{y^\top s}{y^\top y} I`
    (N&W eq 6.20). :math:`\alpha_k` satisfies the strong Wolfe conditions (N&W Alg
    3.5/3.6), :math:`\alpha = 1` tried first. A pair without
    :math:`s^\top y > 10^{-10}\|s\|_2\|y\|_2` is skipped
    (:func:`~optbench.solvers.quasi_newton.admissible_pair`); if rounding leaves
    :math:`g_k^\top H_k g_k \le 0`, :math:`H_k` is discarded and the step restarts
    from :math:`-g_k`. Storage :math:`n^2`
    numbers, work :math:`O(n^2)` per iteration.

    Parameters
    ----------
    c1, c2 : float
        Strong Wolfe constants, :math:`0 < c_1 < c_2 < 1`.
    max_line_search_evals : int
        Cap on line-search evaluations per iteration.
    max_dim : int
        Largest number of variables accepted (the matrix has ``max_dim**2`` entries);
        a larger problem ends its run in ``error`` with one line before any evaluation.
    """

    c1: float = 1e-4
    c2: float = 0.9
    max_line_search_evals: int = 50
    max_dim: int = 2000

    failure_prefix = "bfgs: "

    def __post_init__(self) -> None:
        check_quasi_newton_fields(self.c1, self.c2, self.max_line_search_evals)
        if not is_integer(self.max_dim) or self.max_dim < 1:
            raise ValueError(f"max_dim: must be an integer >= 1, got {self.max_dim!r}")

    def incompatibility(self, problem: Any) -> str | None:
        """Refuse a problem with more than ``max_dim`` variables (a dense n x n matrix)."""
        if problem.dim > self.max_dim:
            return (
                f"bfgs keeps a dense {problem.dim} x {problem.dim} matrix, but dim = "
                f"{problem.dim} exceeds max_dim = {self.max_dim}; use lbfgs, or raise max_dim"
            )
        return None

    def init(self, oracle: Oracle, x0: np.ndarray) -> BFGSState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return BFGSState(x=x, f=f, g=g)

    def direction(self, oracle: Oracle, state: BFGSState) -> DirectionResult:
        r""":math:`-H_k g_k`; :math:`-g_k` before the first update and after a reset.

        In floating point :math:`H_k` can lose positive definiteness after many
        updates (:math:`g^\top H g \le 0` up to rounding); then the matrix is
        discarded and the iteration restarts from :math:`-g_k` (:math:`H = I`, scaled
        again by eq 6.20 at the next update).
        """
        if state.inverse is None:
            return DirectionResult(-state.g)
        direction = -(state.inverse @ state.g)
        if float(state.g @ direction) < 0:
            return DirectionResult(direction)
        return DirectionResult(
            -state.g, info={"reset": True}, updates={"inverse": None, "resets": state.resets + 1}
        )

    def make_line_search(self) -> LineSearch:
        """Strong Wolfe (N&W Alg 3.5/3.6) with ``c1``, ``c2``, ``max_line_search_evals``."""
        return StrongWolfeSearch(self.c1, self.c2, self.max_line_search_evals)

    def initial_step(self, state: BFGSState) -> float:
        """1, and :math:`\\min(1, 1/\\|g_0\\|_2)` before the first update."""
        return 1.0 if state.inverse is not None else first_trial_step(state.g)

    def accept(self, previous: BFGSState, state: BFGSState) -> BFGSState:
        """The BFGS update (eq 6.17) of :math:`H_k`, with eq 6.20 before the first."""
        s, y = state.x - previous.x, state.g - previous.g
        if not admissible_pair(s, y):
            return state.replace(skipped_updates=state.skipped_updates + 1)
        inverse = state.inverse
        if inverse is None:
            inverse = initial_inverse_scaling(s, y) * np.eye(s.size)
        return state.replace(inverse=bfgs_inverse_update(inverse, s, y))
