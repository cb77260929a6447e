r"""Limited-memory BFGS with a strong Wolfe line search (N&W Alg 7.5).

Nocedal & Wright, *Numerical Optimization*, 2nd ed., Sec 7.2: the direction is
:math:`p_k = -H_k g_k` with :math:`H_k` the BFGS matrix of the last :math:`m` pairs
:math:`(s_i, y_i)` applied to :math:`H_k^0 = \gamma_k I` (two-loop recursion, Alg 7.4;
:math:`\gamma_k` eq 7.20), computed by
:class:`~optbench.solvers.quasi_newton.LimitedMemoryInverse`; the step length satisfies
the strong Wolfe conditions (Alg 3.5/3.6), which keep :math:`s_k^\top y_k > 0`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_integer
from optbench.solvers.base import EvaluatedState
from optbench.solvers.line_search_method import DirectionResult, LineSearchMethod
from optbench.solvers.linesearch import LineSearch, StrongWolfeSearch, check_line_search_constants
from optbench.solvers.quasi_newton import CurvaturePair, LimitedMemoryInverse, admissible_pair


def first_trial_step(grad: np.ndarray) -> float:
    r"""The first trial step of a quasi-Newton method: :math:`\min(1, 1/\|g_0\|_2)`.

    Before any curvature pair exists the direction is :math:`-g_0`; this trial keeps
    the first step no longer than 1 in x (as scipy's BFGS and L-BFGS-B do), where the
    Newton-like :math:`\alpha = 1` would step :math:`\|g_0\|_2`, whatever the scale of f.
    """
    grad_norm = norm2(grad)
    return min(1.0, 1.0 / grad_norm) if grad_norm > 0 else 1.0


def check_quasi_newton_fields(c1: float, c2: float, max_line_search_evals: int) -> None:
    """Validate the strong Wolfe constants and evaluation cap of a quasi-Newton solver."""
    check_line_search_constants(c1, c2=c2)
    if not is_integer(max_line_search_evals) or max_line_search_evals < 1:
        raise ValueError(
            f"max_line_search_evals: must be an integer >= 1, got {max_line_search_evals!r}"
        )


@dataclass
class LBFGSState(EvaluatedState):
    """State of :class:`LBFGS`.

    Attributes
    ----------
    pairs : tuple of (ndarray, ndarray)
        The last ``memory`` pairs :math:`(s_i, y_i)` with :math:`s_i^\\top y_i > 0`,
        oldest first.
    skipped_updates : int
        Steps whose pair failed the curvature test and was not stored.
    """

    pairs: tuple[CurvaturePair, ...] = ()
    skipped_updates: int = 0


@SOLVERS.register("lbfgs")
@dataclass(frozen=True)
class LBFGS(LineSearchMethod[LBFGSState]):
    r"""L-BFGS (N&W Alg 7.5): two-loop direction from the last ``memory`` pairs, strong Wolfe.

    .. math::
        p_k = -H_k g_k, \qquad x_{k+1} = x_k + \alpha_k p_k, \qquad
        s_k = x_{k+1} - x_k, \quad y_k = g_{k+1} - g_k ,

    with :math:`H_k` the result of :math:`m` BFGS updates (N&W eq 7.19) of
    :math:`H_k^0 = \gamma_k I`,

    .. math:: \gamma_k = \frac{s_{k-1}^\top y_{k-1}}{y_{k-1}^\top y_{k-1}}
              \qquad \text{(N\&W eq 7.20)},

    applied by the two-loop recursion (N&W Alg 7.4, in the compact form of Byrd,
    Nocedal & Schnabel 1994). :math:`\alpha_k` satisfies the strong Wolfe conditions
    (N&W Alg 3.5/3.6), trying :math:`\alpha = 1` first, and :math:`\min(1, 1/\|g_0\|_2)`
    at the first iteration, whose direction is :math:`-g_0`. A pair is stored only if
    :math:`s^\top y > 10^{-10} \|s\|_2 \|y\|_2`
    (:func:`~optbench.solvers.quasi_newton.admissible_pair`); the oldest pair is
    dropped beyond ``memory``. Each trial of the search is one fused
    value-and-gradient; f and g at the accepted point are never evaluated again.
    Storage :math:`2mn` numbers; work per iteration :math:`O(mn)`.

    Parameters
    ----------
    memory : int
        Number :math:`m \ge 1` of pairs kept (N&W Sec 7.2 suggest 3 to 20; scipy's
        L-BFGS-B uses 10).
    c1, c2 : float
        Strong Wolfe constants, :math:`0 < c_1 < c_2 < 1` (0.9 for quasi-Newton, N&W p. 142).
    max_line_search_evals : int
        Cap on line-search evaluations per iteration.
    """

    memory: int = 10
    c1: float = 1e-4
    c2: float = 0.9
    max_line_search_evals: int = 50

    failure_prefix = "lbfgs: "

    def __post_init__(self) -> None:
        if not is_integer(self.memory) or self.memory < 1:
            raise ValueError(f"memory: must be an integer >= 1, got {self.memory!r}")
        check_quasi_newton_fields(self.c1, self.c2, self.max_line_search_evals)

    def init(self, oracle: Oracle, x0: np.ndarray) -> LBFGSState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return LBFGSState(x=x, f=f, g=g)

    def direction(self, oracle: Oracle, state: LBFGSState) -> DirectionResult:
        """:math:`-H_k g_k` by the two-loop recursion; :math:`-g_0` before any pair."""
        if not state.pairs:
            return DirectionResult(-state.g, info={"pairs": 0})
        inverse = LimitedMemoryInverse(state.pairs)
        return DirectionResult(-inverse.apply(state.g), info={"pairs": len(state.pairs)})

    def make_line_search(self) -> LineSearch:
        """Strong Wolfe (N&W Alg 3.5/3.6) with ``c1``, ``c2``, ``max_line_search_evals``."""
        return StrongWolfeSearch(self.c1, self.c2, self.max_line_search_evals)

    def initial_step(self, state: LBFGSState) -> float:
        """1, and :math:`\\min(1, 1/\\|g_0\\|_2)` while there is no pair."""
        return 1.0 if state.pairs else first_trial_step(state.g)

    def accept(self, previous: LBFGSState, state: LBFGSState) -> LBFGSState:
        """Store :math:`(s_k, y_k)` if it has positive curvature; drop the oldest beyond m."""
        s, y = state.x - previous.x, state.g - previous.g
        if not admissible_pair(s, y):
            return state.replace(skipped_updates=state.skipped_updates + 1)
        return state.replace(pairs=_newest(state.pairs, (s, y), self.memory))


def _newest(
    pairs: Sequence[CurvaturePair], pair: CurvaturePair, memory: int
) -> tuple[CurvaturePair, ...]:
    """The last ``memory - 1`` of ``pairs`` followed by ``pair``."""
    return (*pairs[max(0, len(pairs) + 1 - memory) :], pair)
