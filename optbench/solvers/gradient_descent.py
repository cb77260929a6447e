r"""Gradient descent with a fixed step, a multiple of :math:`1/L`, or Armijo backtracking.

.. math:: x_{k+1} = x_k - \alpha_k \nabla f(x_k)

* a number :math:`\alpha`: the same step every iteration, exactly one fused
  value-and-gradient per iteration (at the new iterate);
* ``"1/L"`` (or ``"c/L"``, any number :math:`c > 0`): :math:`\alpha = c/L` with
  :math:`L` from the problem's :meth:`~optbench.problems.base.Problem.smoothness`.
  With :math:`\alpha = 1/L` on an :math:`L`-smooth, :math:`\mu`-strongly convex
  function :math:`f_k - f^\star \le (1 - \mu/L)^k (f_0 - f^\star)` (Polyak 1963;
  Karimi, Nutini & Schmidt 2016, Thm. 1); with the number :math:`2/(L + \mu)`,
  :math:`\|x_k - x^\star\| \le ((\kappa - 1)/(\kappa + 1))^k \|x_0 - x^\star\|`,
  :math:`\kappa = L/\mu` (Nesterov 2004, Thm. 2.1.15);
* ``"armijo"``: backtracking line search, N&W Alg. 3.1, with
  :math:`c_1 = 10^{-4}` and halving; the first trial of iteration :math:`k+1` is
  ``growth`` × the step accepted at iteration :math:`k` (×2 by default), so the step
  can grow back after a short one and a step that fits is found with about one
  backtrack per iteration. Each trial is one fused value-and-gradient, so the accepted
  point's gradient is in hand.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number
from optbench.solvers.base import EvaluatedState, Solver
from optbench.solvers.linesearch import armijo_backtracking, check_line_search_constants
from optbench.solvers.ray import Ray


def inverse_lipschitz_multiple(step_size: object) -> float | None:
    """``c`` of a step size ``"c/L"`` (``c`` a finite number > 0, e.g. ``"1/L"``,
    ``"0.5/L"``, ``"1e-05/L"``), else ``None``."""
    if not isinstance(step_size, str) or not step_size.endswith("/L"):
        return None
    try:
        multiple = float(step_size[:-2])
    except ValueError:
        return None
    return multiple if math.isfinite(multiple) and multiple > 0 else None


def check_step_size(step_size: object, keywords: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` unless ``step_size`` is a finite number > 0, ``"c/L"`` with a
    number ``c > 0``, or one of ``keywords``."""
    if isinstance(step_size, str):
        ok = step_size in keywords or inverse_lipschitz_multiple(step_size) is not None
    else:
        ok = (
            isinstance(step_size, numbers.Real)
            and is_finite_number(step_size)
            and float(step_size) > 0
        )
    if not ok:
        allowed = "".join(f", or {name!r}" for name in keywords)
        raise ValueError(
            f"step_size: must be a number > 0, 'c/L' with a number c > 0 (e.g. '1/L')"
            f"{allowed}; got {step_size!r}"
        )


def resolve_step_size(step_size: float | str, oracle: Oracle) -> float:
    """The numeric step of a fixed-step rule: the number itself, or :math:`c/L`.

    Raises
    ------
    ValueError
        For ``"c/L"`` when the problem does not provide a finite ``L > 0``: a
        configuration error, raised from ``init`` (the runner records it as ``error``).
    """
    multiple = inverse_lipschitz_multiple(step_size)
    if multiple is None:
        return float(step_size)
    lipschitz = oracle.smoothness().L
    if lipschitz is None or not math.isfinite(lipschitz) or lipschitz <= 0:
        raise ValueError(
            f"step_size: {step_size!r} needs the Lipschitz constant L of the gradient, which "
            f"problem {oracle.problem.name!r} does not provide (smoothness().L = {lipschitz}); "
            "give a number or use 'armijo'"
        )
    return multiple / lipschitz


@dataclass
class GradientDescentState(EvaluatedState):
    """State of :class:`GradientDescent`.

    Attributes
    ----------
    next_step : float
        The fixed step, or (Armijo) the first trial step of the next iteration.
    """

    next_step: float = 1.0


@SOLVERS.register("gd")
@dataclass(frozen=True)
class GradientDescent(Solver[GradientDescentState]):
    r"""Gradient descent: fixed step, 1/L, or Armijo backtracking (N&W Alg. 3.1).

    Parameters
    ----------
    step_size : float, "c/L" or "armijo"
        A fixed step > 0; :math:`c/L` with :math:`L` from the problem (``"1/L"``,
        ``"0.5/L"``, … for step-size sweeps relative to :math:`1/L`); or a backtracking
        line search.
    c1 : float
        Armijo sufficient-decrease constant in (0, 1) (``"armijo"`` only).
    shrink : float
        Backtracking factor in (0, 1) (``"armijo"`` only).
    growth : float
        The first trial step of an iteration is ``growth`` times the previously
        accepted step; ``>= 1`` (``"armijo"`` only; 1 never lets the step grow).
    initial_step : float
        First trial step of the first iteration (``"armijo"`` only).
    """

    step_size: float | str = "armijo"
    c1: float = 1e-4
    shrink: float = 0.5
    growth: float = 2.0
    initial_step: float = 1.0

    def __post_init__(self) -> None:
        check_step_size(self.step_size, ("armijo",))
        check_line_search_constants(self.c1, shrink=self.shrink)
        if not (is_finite_number(self.growth) and self.growth >= 1.0):
            raise ValueError(f"growth: must be a number >= 1; got {self.growth!r}")
        if not (is_finite_number(self.initial_step) and self.initial_step > 0):
            raise ValueError(f"initial_step: must be a number > 0; got {self.initial_step!r}")

    def init(self, oracle: Oracle, x0: np.ndarray) -> GradientDescentState:
        """Evaluate f and g at ``x0``; resolve the step (``"1/L"`` may raise ValueError)."""
        if self.step_size == "armijo":
            next_step = float(self.initial_step)
        else:
            next_step = resolve_step_size(self.step_size, oracle)
        value, grad = oracle.value_and_grad(x0)
        return GradientDescentState(x=x0, f=value, g=grad, next_step=next_step)

    def step(self, oracle: Oracle, state: GradientDescentState) -> GradientDescentState:
        r"""One step :math:`x_{k+1} = x_k - \alpha_k \nabla f(x_k)`."""
        if self.step_size != "armijo":
            step_size = state.next_step
            x = state.x - step_size * state.g
            value, grad = oracle.value_and_grad(x)
            return state.replace(x=x, f=value, g=grad, step_size=step_size)
        slope = -float(state.g @ state.g)
        if slope == 0.0:
            return state.failed("gradient is exactly zero: no descent direction")
        ray = Ray(oracle, state.x, -state.g)
        search = armijo_backtracking(
            ray.value_and_slope,
            state.f,
            slope,
            initial_step=state.next_step,
            c1=self.c1,
            shrink=self.shrink,
        )
        if not search.success:
            return state.failed(f"line search: {search.reason}")
        x, value, grad = ray.point(search.step_size)
        return state.replace(
            x=x,
            f=value,
            g=grad,
            step_size=search.step_size,
            next_step=self.growth * search.step_size,
        )
