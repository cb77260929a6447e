r"""Line-search methods: a direction part, then a line search along it.

A line-search method (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Ch. 3) is

.. math:: x_{k+1} = x_k + \alpha_k p_k ,

with a *direction* :math:`p_k` (steepest descent, a quasi-Newton inverse applied to
:math:`-g_k`, Newton by modified Cholesky, truncated CG on Hessian-vector products, …)
and a step length :math:`\alpha_k` from a *line search* (Armijo backtracking or strong
Wolfe, :mod:`optbench.solvers.linesearch`). :class:`LineSearchMethod` writes the
iteration once; a solver supplies the two parts:

* :meth:`LineSearchMethod.direction` returns a :class:`DirectionResult`: the direction,
  or why there is none, and any state fields the direction part updates (kept on
  failure too, e.g. the shift of a modified Cholesky);
* :meth:`LineSearchMethod.make_line_search` returns a
  :class:`~optbench.solvers.linesearch.LineSearch` built from the solver's constants;
* optional hooks: :meth:`~LineSearchMethod.initial_step` (the first trial,
  :math:`\alpha = 1` by default), :meth:`~LineSearchMethod.reference_value` (the
  value the sufficient-decrease test compares with, :math:`f(x_k)` by default; a
  nonmonotone method returns the largest of its last few values there, Grippo,
  Lampariello & Lucidi 1986) and :meth:`~LineSearchMethod.accept` (what the method
  remembers of an accepted step: curvature pairs, an inverse-Hessian update).

Every trial of the search is one fused value-and-gradient along a
:class:`~optbench.solvers.ray.Ray`; the accepted trial is the last evaluated, so f and g
at :math:`x_{k+1}` are never evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.solvers.base import EvaluatedState, Solver
from optbench.solvers.linesearch import LineSearch
from optbench.solvers.ray import Ray

#: The state type of a line-search method (f and g always present).
EvaluatedStateT = TypeVar("EvaluatedStateT", bound=EvaluatedState)


@dataclass(frozen=True)
class DirectionResult:
    """What a direction part returns.

    Attributes
    ----------
    direction : ndarray or None
        The search direction :math:`p_k`, a descent direction; ``None`` when there is
        none (then ``failure`` says why).
    failure : str
        Why there is no direction (the solver's failure message), else empty.
    info : dict
        Diagnostics of the direction part (CG iterations, Cholesky attempts, …),
        stored in ``State.info``.
    updates : dict
        State fields the direction part changes, applied whether or not the step then
        succeeds.
    """

    direction: np.ndarray | None
    failure: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    updates: dict[str, Any] = field(default_factory=dict)


class LineSearchMethod(Solver[EvaluatedStateT], Generic[EvaluatedStateT]):
    """A solver that is a direction part composed with a line search (see the module)."""

    #: Prepended to the line-search failure message (e.g. ``"newton_cg: "``).
    failure_prefix: ClassVar[str] = ""

    def direction(self, oracle: Oracle, state: EvaluatedStateT) -> DirectionResult:
        """The search direction at ``state`` (the direction part)."""
        raise NotImplementedError

    def make_line_search(self) -> LineSearch:
        """The line search (the globalisation part), built from the solver's constants."""
        raise NotImplementedError

    def initial_step(self, state: EvaluatedStateT) -> float:
        r"""The first trial step :math:`\alpha` of the search at ``state``: 1 by default."""
        return 1.0

    def reference_value(self, state: EvaluatedStateT) -> float:
        """The value the sufficient-decrease test compares with: f at ``state`` by default."""
        return state.f

    def accept(self, previous: EvaluatedStateT, state: EvaluatedStateT) -> EvaluatedStateT:
        """``state`` after an accepted step from ``previous`` (hook: memory updates)."""
        return state

    def step(self, oracle: Oracle, state: EvaluatedStateT) -> EvaluatedStateT:
        r"""One iteration :math:`x_{k+1} = x_k + \alpha_k p_k`."""
        found = self.direction(oracle, state)
        info = dict(found.info)
        if found.direction is None:
            return state.replace(**found.updates, info=info).failed(found.failure)
        slope = float(state.g @ found.direction)
        ray = Ray(oracle, state.x, found.direction)
        search = self.make_line_search().search(
            ray, self.reference_value(state), slope, self.initial_step(state)
        )
        info["line_search_evals"] = search.evaluations
        if not search.success:
            return state.replace(**found.updates, info=info).failed(
                f"{self.failure_prefix}line search: {search.reason}"
            )
        x, value, grad = ray.point(search.step_size)
        moved = state.replace(
            x=x, f=value, g=grad, step_size=search.step_size, info=info, **found.updates
        )
        return self.accept(state, moved)
