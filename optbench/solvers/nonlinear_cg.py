r"""Nonlinear conjugate gradients with a strong Wolfe line search (N&W Ch. 5.2).

Each iteration (N&W Alg. 5.4 with the choices of :math:`\beta` of Sec. 5.2):

.. math::
    x_{k+1} = x_k + \alpha_k p_k, \qquad
    p_{k+1} = -g_{k+1} + \beta_{k+1} p_k, \qquad
    y_k = g_{k+1} - g_k,

with :math:`\alpha_k` satisfying the strong Wolfe conditions (N&W eq. 3.7, Alg. 3.5/3.6)
and :math:`c_2 = 0.1` (N&W recommend a small :math:`c_2` so that the line search is
close to exact, which the conjugacy of the directions relies on), and

* ``"fr"`` Fletcher–Reeves (N&W eq. 5.41a):
  :math:`\beta = g_{k+1}^\top g_{k+1} / g_k^\top g_k`;
* ``"pr_plus"`` Polak–Ribière+ (N&W eq. 5.44–5.45):
  :math:`\beta = \max\{0,\ g_{k+1}^\top y_k / g_k^\top g_k\}`;
* ``"hs"`` Hestenes–Stiefel (N&W eq. 5.46):
  :math:`\beta = g_{k+1}^\top y_k / y_k^\top p_k`;
* ``"hz"`` Hager–Zhang (2005, SIAM J. Optim. 16(1), 170–192, eq. 1.3 with the lower
  bound of eq. 2.4, :math:`\eta = 0.01`):
  :math:`\beta = \max\bigl\{(y_k - 2 p_k \|y_k\|^2 / y_k^\top p_k)^\top g_{k+1} / y_k^\top
  p_k,\ -1 / (\|p_k\| \min(\eta, \|g_k\|))\bigr\}`.

Restarts (N&W Sec. 5.2, "restarts"): :math:`\beta = 0` (a steepest-descent step) when
two consecutive gradients are far from orthogonal,
:math:`|g_{k+1}^\top g_k| \ge \nu\, g_{k+1}^\top g_{k+1}` (N&W eq. 5.52, :math:`\nu` =
``restart_threshold`` = 0.1), whenever the new direction is not a descent direction
(possible with ``"pr_plus"``, ``"hs"`` and ``"hz"`` under an inexact line search), and,
if ``restart_every`` is set, every that many iterations (N&W's periodic restart, useful
mainly for small n; off by default: on the MGH suite it cost more calls than it saved).

The first trial step of each search interpolates a quadratic to :math:`f_{k-1}`,
:math:`f_k` and :math:`\phi'(0) = g_k^\top p_k` (N&W eq. 3.60), enlarged by 1 % as N&W
suggest after it: :math:`\alpha_0 = 2.02\,(f_k - f_{k-1}) / g_k^\top p_k` (at the first
iteration :math:`1/\|g_0\|_2`; after a step that did not decrease f, the last step).
N&W's further cap :math:`\alpha_0 \le 1` is for Newton-type directions, whose unit step
is natural; CG's directions have no natural length (capped, the data losses, whose
steps are often well above 1, took up to 3× the calls).

Per iteration: the line search's fused value-and-gradient trials, no Hessian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number, is_integer
from optbench.solvers.base import EvaluatedState
from optbench.solvers.line_search_method import DirectionResult, LineSearchMethod
from optbench.solvers.linesearch import (
    LineSearch,
    StrongWolfeSearch,
    check_line_search_constants,
)

BETA_RULES = ("fr", "pr_plus", "hs", "hz")
#: :math:`\eta` of the Hager–Zhang lower bound (their eq. 2.4).
HAGER_ZHANG_ETA = 0.01


@dataclass
class NonlinearCGState(EvaluatedState):
    r"""State of :class:`NonlinearCG`.

    Attributes
    ----------
    direction : ndarray or None
        The direction :math:`p_k` the next step searches along.
    slope : float
        :math:`g_k^\top p_k`.
    since_restart : int
        Iterations since the last steepest-descent direction.
    restarts : int
        Steepest-descent restarts so far (the first direction not counted).
    next_initial_step : float
        The first trial of the next search (N&W eq. 3.60); NaN before the first step.
    """

    direction: np.ndarray | None = None
    slope: float = math.nan
    since_restart: int = 0
    restarts: int = 0
    next_initial_step: float = math.nan


def conjugacy_beta(rule: str, g_new: np.ndarray, g_old: np.ndarray, direction: np.ndarray) -> float:
    r"""The coefficient :math:`\beta_{k+1}` of ``rule`` (see the module docstring).

    Returns NaN when the rule's denominator is zero (the caller restarts).
    """
    y = g_new - g_old
    if rule == "fr":
        denominator = float(g_old @ g_old)
        return float(g_new @ g_new) / denominator if denominator > 0 else math.nan
    if rule == "pr_plus":
        denominator = float(g_old @ g_old)
        return max(0.0, float(g_new @ y) / denominator) if denominator > 0 else math.nan
    curvature = float(y @ direction)
    if curvature == 0 or not math.isfinite(curvature):
        return math.nan
    if rule == "hs":
        return float(g_new @ y) / curvature
    # Hager–Zhang with the lower bound that keeps the direction a descent direction.
    beta = float((y - (2.0 * float(y @ y) / curvature) * direction) @ g_new) / curvature
    floor = -1.0 / (norm2(direction) * min(HAGER_ZHANG_ETA, norm2(g_old)))
    return max(beta, floor)


@SOLVERS.register("nonlinear_cg")
@dataclass(frozen=True)
class NonlinearCG(LineSearchMethod[NonlinearCGState]):
    r"""Nonlinear CG (FR, PR+, HS or HZ β) with restarts and a strong Wolfe search (N&W 5.2).

    Parameters
    ----------
    beta : {"fr", "pr_plus", "hs", "hz"}
        Fletcher–Reeves (N&W 5.41a), Polak–Ribière+ (N&W 5.44–5.45), Hestenes–Stiefel
        (N&W 5.46) or Hager–Zhang (2005).
    c1 : float
        Sufficient-decrease constant in (0, 1).
    c2 : float
        Curvature constant in (c1, 1); 0.1 as N&W advise for CG (with
        ``"fr"``, :math:`c_2 < 1/2` guarantees descent, N&W Lemma 5.6).
    restart_threshold : float
        :math:`\nu` of the orthogonality test N&W eq. 5.52, in (0, 1].
    restart_every : int or None
        Restart with steepest descent every this many iterations (the dimension
        :math:`n` is N&W's choice); ``None`` for no periodic restart.
    """

    failure_prefix: ClassVar[str] = "nonlinear_cg "

    beta: str = "pr_plus"
    c1: float = 1e-4
    c2: float = 0.1
    restart_threshold: float = 0.1
    restart_every: int | None = None

    def __post_init__(self) -> None:
        if self.beta not in BETA_RULES:
            raise ValueError(f"beta: must be one of {', '.join(BETA_RULES)}; got {self.beta!r}")
        check_line_search_constants(self.c1, c2=self.c2)
        threshold = self.restart_threshold
        if not is_finite_number(threshold) or not 0 < threshold <= 1:
            raise ValueError(f"restart_threshold: must be a number in (0, 1]; got {threshold!r}")
        every = self.restart_every
        if every is not None and (not is_integer(every) or every < 1):
            raise ValueError(f"restart_every: must be an integer >= 1 or null; got {every!r}")

    def init(self, oracle: Oracle, x0: np.ndarray) -> NonlinearCGState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return NonlinearCGState(x=x, f=f, g=g, direction=-g, slope=-float(g @ g))

    def direction(self, oracle: Oracle, state: NonlinearCGState) -> DirectionResult:
        """:math:`p_k`, computed when the previous step was accepted (:meth:`accept`)."""
        return DirectionResult(state.direction)

    def make_line_search(self) -> LineSearch:
        """Strong Wolfe (N&W Alg. 3.5/3.6) with ``c1``, ``c2``."""
        return StrongWolfeSearch(c1=self.c1, c2=self.c2)

    def initial_step(self, state: NonlinearCGState) -> float:
        """N&W eq. 3.60; :math:`1/\\|g_0\\|_2` at the first iteration."""
        if state.next_initial_step > 0:
            return state.next_initial_step
        return 1.0 / max(norm2(state.g), np.finfo(float).tiny)

    @staticmethod
    def _next_initial_step(f_previous: float, state: NonlinearCGState, slope: float) -> float:
        """N&W eq. 3.60 (enlarged 1 %); the last step when f did not decrease."""
        assert state.step_size is not None
        decrease = f_previous - state.f
        if slope < 0 and decrease > 0:
            return 2.02 * decrease / -slope
        return state.step_size

    def accept(self, previous: NonlinearCGState, state: NonlinearCGState) -> NonlinearCGState:
        """The next direction :math:`p_{k+1} = -g_{k+1} + \\beta_{k+1} p_k`, or a restart."""
        assert previous.direction is not None and state.step_size is not None
        g, direction = state.g, previous.direction
        since_restart = previous.since_restart + 1
        g_new_sq = float(g @ g)
        beta = conjugacy_beta(self.beta, g, previous.g, direction)
        restart = (
            (self.restart_every is not None and since_restart >= self.restart_every)
            or abs(float(g @ previous.g)) >= self.restart_threshold * g_new_sq
            or not math.isfinite(beta)
        )
        new_direction = -g if restart else -g + beta * direction
        new_slope = float(g @ new_direction)
        if not restart and not new_slope < 0:  # not a descent direction: restart
            restart, new_direction, new_slope = True, -g, -g_new_sq
        info = {**state.info, "beta": 0.0 if restart else beta, "restart": restart}
        return state.replace(
            direction=new_direction,
            slope=new_slope,
            since_restart=0 if restart else since_restart,
            restarts=previous.restarts + int(restart),
            next_initial_step=self._next_initial_step(previous.f, state, new_slope),
            info=info,
        )
