r"""Nesterov's accelerated gradient method, with optional adaptive restart.

With step :math:`h` (:math:`1/L` by default), from :math:`y_0 = x_0`:

.. math::
    x_{k+1} = y_k - h\,\nabla f(y_k), \qquad
    y_{k+1} = x_{k+1} + \beta_k\,(x_{k+1} - x_k).

Momentum :math:`\beta_k`:

* strongly convex, :math:`\mu > 0` known (Nesterov 2004, §2.2.1, Constant Step
  Scheme III): :math:`\beta = (1 - \sqrt{h\mu})/(1 + \sqrt{h\mu})`, which is
  :math:`(\sqrt{\kappa} - 1)/(\sqrt{\kappa} + 1)` for :math:`h = 1/L`, :math:`\kappa = L/\mu`;
* otherwise (Nesterov 1983; Beck & Teboulle 2009, FISTA):
  :math:`t_0 = 1`, :math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2})/2`,
  :math:`\beta_k = (t_k - 1)/t_{k+1}`.

Restart (O'Donoghue & Candès 2015, "Adaptive restart for accelerated gradient
schemes") sets :math:`\beta = 0` and :math:`t = 1` for one step:

* ``"gradient"``: when :math:`\nabla f(y_k)^\top (x_{k+1} - x_k) > 0` — their gradient
  scheme, exactly, and free;
* ``"function"``: when the objective increased, :math:`f(y_k) > f(y_{k-1})`. Their
  function scheme tests :math:`f(x_k) > f(x_{k-1})`; we test the values at the points
  where the oracle is evaluated, :math:`y_k`, which are known for free (testing
  :math:`x_k` would cost an extra value per iteration).

Reported iterate
----------------
The one fused value-and-gradient per iteration is at the extrapolated point
:math:`y_k`; :math:`f` and :math:`\nabla f` are never evaluated at :math:`x_k`. So the
iterate reported (``state.x``, the runner's stopping test, the returned ``x``) is
:math:`y_k`, with its exact :math:`f(y_k)` and :math:`\nabla f(y_k)`: the trace is
honest and costs nothing extra, but :math:`f(y_k)` need not decrease monotonically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.base import EvaluatedState, Solver
from optbench.solvers.gradient_descent import check_step_size, resolve_step_size

MOMENTUM_RULES = ("auto", "convex", "strongly_convex")
RESTART_RULES = ("none", "function", "gradient")


@dataclass
class NesterovState(EvaluatedState):
    r"""State of :class:`Nesterov`; ``x`` is the extrapolated point :math:`y_k`.

    Attributes
    ----------
    gradient_point : ndarray
        :math:`x_k`, the last gradient-step point (:math:`x_0` at the start).
    fixed_step : float
        The step :math:`h`.
    momentum_constant : float or None
        The strongly convex :math:`\beta`, or ``None`` for the :math:`t_k` sequence.
    t : float
        :math:`t_k` of the convex momentum sequence.
    restart_next : bool
        Whether the next step restarts (function scheme: f went up).
    restarts : int
        Number of restarts so far.
    """

    gradient_point: np.ndarray = field(default_factory=lambda: np.empty(0))
    fixed_step: float = math.nan
    momentum_constant: float | None = None
    t: float = 1.0
    restart_next: bool = False
    restarts: int = 0


@SOLVERS.register("nesterov")
@dataclass(frozen=True)
class Nesterov(Solver[NesterovState]):
    r"""Nesterov's accelerated gradient (2004, §2.2.1); adaptive restart (O'Donoghue & Candès).

    Parameters
    ----------
    step_size : float or "c/L"
        The step :math:`h`: a number > 0, or :math:`c/L` with :math:`L` from the problem
        (``"1/L"``, ``"0.5/L"``, …).
    momentum : {"auto", "convex", "strongly_convex"}
        ``"strongly_convex"`` uses the constant :math:`\beta` from :math:`\mu > 0` (an
        error if the problem does not provide it), ``"convex"`` the :math:`t_k`
        sequence, ``"auto"`` the former when :math:`\mu > 0` is known, else the latter.
    restart : {"none", "function", "gradient"}
        Adaptive restart scheme.
    """

    step_size: float | str = "1/L"
    momentum: str = "auto"
    restart: str = "none"

    def __post_init__(self) -> None:
        check_step_size(self.step_size)
        if self.momentum not in MOMENTUM_RULES:
            raise ValueError(
                f"momentum: must be one of {', '.join(MOMENTUM_RULES)}; got {self.momentum!r}"
            )
        if self.restart not in RESTART_RULES:
            raise ValueError(
                f"restart: must be one of {', '.join(RESTART_RULES)}; got {self.restart!r}"
            )

    def init(self, oracle: Oracle, x0: np.ndarray) -> NesterovState:
        """Evaluate at :math:`y_0 = x_0`; resolve the step and the momentum rule.

        Raises
        ------
        ValueError
            ``step_size="c/L"`` without a known L, or ``momentum="strongly_convex"``
            without a known :math:`\\mu > 0` (configuration errors).
        """
        fixed_step = resolve_step_size(self.step_size, oracle)
        value, grad = oracle.value_and_grad(x0)
        return NesterovState(
            x=x0,
            f=value,
            g=grad,
            gradient_point=x0,
            fixed_step=fixed_step,
            momentum_constant=self._momentum_constant(oracle, fixed_step),
        )

    def _momentum_constant(self, oracle: Oracle, fixed_step: float) -> float | None:
        if self.momentum == "convex":
            return None
        mu = oracle.smoothness().mu
        if mu is None or not math.isfinite(mu) or mu <= 0:
            if self.momentum == "strongly_convex":
                raise ValueError(
                    f"momentum: 'strongly_convex' needs mu > 0, which problem "
                    f"{oracle.problem.name!r} does not provide (smoothness().mu = {mu}); "
                    "use 'auto' or 'convex'"
                )
            return None
        root = math.sqrt(min(fixed_step * mu, 1.0))
        return (1.0 - root) / (1.0 + root)

    def step(self, oracle: Oracle, state: NesterovState) -> NesterovState:
        r"""Gradient step from :math:`y_k`, then extrapolation to :math:`y_{k+1}`."""
        gradient_point = state.x - state.fixed_step * state.g
        difference = gradient_point - state.gradient_point
        restart = state.restart_next or (
            self.restart == "gradient" and float(state.g @ difference) > 0.0
        )
        if restart:
            momentum, t_next = 0.0, 1.0
        elif state.momentum_constant is not None:
            momentum, t_next = state.momentum_constant, state.t
        else:
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * state.t**2))
            momentum = (state.t - 1.0) / t_next
        extrapolated = gradient_point + momentum * difference
        value, grad = oracle.value_and_grad(extrapolated)
        return state.replace(
            x=extrapolated,
            f=value,
            g=grad,
            step_size=state.fixed_step,
            gradient_point=gradient_point,
            t=t_next,
            restart_next=self.restart == "function" and value > state.f,
            restarts=state.restarts + int(restart),
        )
