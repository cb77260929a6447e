r"""Barzilai–Borwein steps with the nonmonotone line search of Raydan (1997).

The global Barzilai–Borwein method (Raydan, SIAM J. Optim. 7(1), 26–33, 1997,
Algorithm GBB) moves along the negative gradient with a step length from the last
step :math:`s_{k-1} = x_k - x_{k-1}` and gradient change
:math:`y_{k-1} = g_k - g_{k-1}` (Barzilai & Borwein, IMA J. Numer. Anal. 8, 1988):

.. math::
    \alpha_k^{\text{long}} = \frac{s_{k-1}^\top s_{k-1}}{s_{k-1}^\top y_{k-1}}, \qquad
    \alpha_k^{\text{short}} = \frac{s_{k-1}^\top y_{k-1}}{y_{k-1}^\top y_{k-1}},

(the first a secant condition on :math:`\alpha^{-1} I \approx \nabla^2 f`, the second on
:math:`\alpha I \approx \nabla^2 f^{-1}`; N&W eq. 6.4 and 6.6 restricted to multiples
of the identity), kept in :math:`[\alpha_{\min}, \alpha_{\max}]`; when
:math:`s^\top y \le 0` it is :math:`\alpha_{\max}`, capped so the step is at most
:math:`\|x_k\| + 1` long, as Raydan does with his :math:`\delta`. The first step is
:math:`1/\|g_0\|_2`.

Globalisation: the trial :math:`x_k - \lambda \alpha_k g_k`, :math:`\lambda = 1` first, is
accepted when

.. math:: f(x_k - \lambda\alpha_k g_k) \le \max_{0 \le j \le \min(k, M-1)} f(x_{k-j})
          - \gamma \lambda \alpha_k g_k^\top g_k

(the nonmonotone condition of Grippo, Lampariello & Lucidi, SIAM J. Numer. Anal. 23(4),
1986, :math:`M` = ``memory``, :math:`\gamma` = ``c1``), and otherwise :math:`\lambda` is
replaced by the minimizer of the cubic (or quadratic) interpolant of the trials, kept
in :math:`[\sigma_1\lambda, \sigma_2\lambda] = [0.1\lambda, 0.5\lambda]` (Raydan's
safeguard; :func:`~optbench.solvers.linesearch.armijo_backtracking` with the reference
value in place of :math:`\phi(0)`). With ``memory=1`` this is a monotone Armijo search.

The composition: the direction :math:`-g_k` with the first trial step
:math:`\alpha_k` (:class:`~optbench.solvers.line_search_method.LineSearchMethod`'s
``initial_step``), the GLL reference as its ``reference_value``, and
:class:`NonmonotoneSearch` as the line search. Each trial is one fused value and
gradient (cost 1): near a solution the first trial is accepted, and a value (0.5) and
then a gradient (1) would cost more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number, is_integer
from optbench.solvers.base import EvaluatedState
from optbench.solvers.line_search_method import DirectionResult, LineSearchMethod
from optbench.solvers.linesearch import LineSearch, LineSearchResult, armijo_backtracking
from optbench.solvers.ray import Ray

FORMULAS = ("long", "short")


@dataclass(frozen=True)
class NonmonotoneSearch:
    """Backtracking from a reference value above f (GLL 1986), interpolated in [0.1, 0.5].

    ``value0`` is the method's reference value :math:`\\max_j f(x_{k-j})`; a
    :class:`~optbench.solvers.linesearch.LineSearch`.
    """

    c1: float = 1e-4
    max_evals: int = 60

    def search(
        self, ray: Ray, value0: float, slope0: float, initial_step: float
    ) -> LineSearchResult:
        return armijo_backtracking(
            ray.value_and_slope,
            value0,
            slope0,
            initial_step=initial_step,
            c1=self.c1,
            max_evals=self.max_evals,
            interpolate=True,
        )


@dataclass
class BarzilaiBorweinState(EvaluatedState):
    """State of :class:`BarzilaiBorwein`.

    Attributes
    ----------
    bb_step : float
        :math:`\\alpha_k`, the Barzilai–Borwein step length the next iteration tries.
    recent_values : list of float
        The last ``memory`` values of f, newest last (the nonmonotone reference).
    """

    bb_step: float = math.nan
    recent_values: list[float] = field(default_factory=list)


@SOLVERS.register("bb")
@dataclass(frozen=True)
class BarzilaiBorwein(LineSearchMethod[BarzilaiBorweinState]):
    r"""Barzilai–Borwein steps (long or short) with the nonmonotone search of Raydan 1997.

    Parameters
    ----------
    formula : {"long", "short"}
        :math:`s^\top s / s^\top y` (BB1) or :math:`s^\top y / y^\top y` (BB2).
    memory : int
        :math:`M \ge 1`, the number of past values in the nonmonotone reference (10 in
        Raydan's experiments).
    c1 : float
        :math:`\gamma \in (0, 1)` of the sufficient-decrease test.
    min_step, max_step : float
        :math:`0 < \alpha_{\min} < \alpha_{\max}`: bounds of the step length.
    """

    failure_prefix: ClassVar[str] = "bb "

    formula: str = "long"
    memory: int = 10
    c1: float = 1e-4
    min_step: float = 1e-30
    max_step: float = 1e30

    def __post_init__(self) -> None:
        if self.formula not in FORMULAS:
            raise ValueError(f"formula: must be one of {', '.join(FORMULAS)}; got {self.formula!r}")
        if not is_integer(self.memory) or self.memory < 1:
            raise ValueError(f"memory: must be an integer >= 1; got {self.memory!r}")
        if not is_finite_number(self.c1) or not 0 < self.c1 < 1:
            raise ValueError(f"c1: must be a number in (0, 1); got {self.c1!r}")
        for name in ("min_step", "max_step"):
            value = getattr(self, name)
            if not is_finite_number(value) or not value > 0:
                raise ValueError(f"{name}: must be a finite number > 0; got {value!r}")
        if not self.min_step < self.max_step:
            raise ValueError(
                f"min_step: must be < max_step = {self.max_step!r}; got {self.min_step!r}"
            )

    def _clipped(self, step: float) -> float:
        return min(max(step, self.min_step), self.max_step)

    def init(self, oracle: Oracle, x0: np.ndarray) -> BarzilaiBorweinState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        first = 1.0 / max(norm2(g), np.finfo(float).tiny)
        return BarzilaiBorweinState(
            x=x, f=f, g=g, bb_step=self._clipped(first), recent_values=[float(f)]
        )

    def direction(self, oracle: Oracle, state: BarzilaiBorweinState) -> DirectionResult:
        """The steepest-descent direction :math:`-g_k`."""
        return DirectionResult(-state.g)

    def make_line_search(self) -> LineSearch:
        """:class:`NonmonotoneSearch` with ``c1``."""
        return NonmonotoneSearch(c1=self.c1)

    def initial_step(self, state: BarzilaiBorweinState) -> float:
        """The Barzilai–Borwein step :math:`\\alpha_k`."""
        return state.bb_step

    def reference_value(self, state: BarzilaiBorweinState) -> float:
        """:math:`\\max_{0 \\le j < M} f(x_{k-j})` (Grippo, Lampariello & Lucidi)."""
        return max(state.recent_values)

    def accept(
        self, previous: BarzilaiBorweinState, state: BarzilaiBorweinState
    ) -> BarzilaiBorweinState:
        """The next step length from :math:`s_k, y_k`, and the value history."""
        s = state.x - previous.x
        y = state.g - previous.g
        s_dot_y = float(s @ y)
        if s_dot_y > 0:
            bb = float(s @ s) / s_dot_y if self.formula == "long" else s_dot_y / float(y @ y)
        else:  # Raydan: alpha_max, with the step no longer than |x| + 1
            bb = min(self.max_step, (norm2(state.x) + 1.0) / max(norm2(state.g), 1e-300))
        recent = [*previous.recent_values, float(state.f)][-self.memory :]
        return state.replace(bb_step=self._clipped(bb), recent_values=recent)
