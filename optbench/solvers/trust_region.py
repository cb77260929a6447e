r"""The trust-region driver: one radius update, pluggable subproblems (N&W Alg 4.1).

A trust-region method (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Ch. 4)
minimises a model :math:`m_k(p) = f_k + g_k^\top p + \tfrac12 p^\top B_k p` in the
region :math:`\|p\| \le \Delta_k`, compares the actual with the predicted reduction and
moves the radius. :class:`TrustRegionMethod` writes that loop once; a solver supplies
the *subproblem* (:meth:`TrustRegionMethod.subproblem`): Steihaug's CG on
Hessian-vector products (``trust_ncg``), and in the same way an exact solution by
Moré–Sorensen, a dogleg step or a Levenberg–Marquardt step. The subproblem returns a
:class:`SubproblemResult` with the step, the model's predicted reduction, whether the
step is on the boundary, its length in the region's norm, and any state it carries to
the next iteration (curvature pairs, a factorisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.scalars import is_number
from optbench.solvers.base import EvaluatedState, Solver


@dataclass
class TrustRegionState(EvaluatedState):
    """State of a :class:`TrustRegionMethod`: the iterate, f and g there, and the radius.

    ``radius`` is the radius :math:`\\Delta_{k+1}` the next subproblem will use (in the
    subproblem's norm); ``step_size`` is the length of the step taken,
    :math:`\\|x_{k+1} - x_k\\|_2` (0 after a rejected step); ``last_accepted`` whether
    the last trial step was accepted.
    """

    radius: float = 1.0
    last_accepted: bool = True


#: The state type of a trust-region method.
TrustRegionStateT = TypeVar("TrustRegionStateT", bound=TrustRegionState)


@dataclass(frozen=True)
class SubproblemResult:
    r"""An approximate solution of the trust-region subproblem.

    Attributes
    ----------
    step : ndarray
        :math:`p` with :math:`\|p\| \le \Delta` (up to rounding).
    predicted_reduction : float
        :math:`m(0) - m(p)`.
    hits_boundary : bool
        Whether :math:`\|p\| = \Delta` (the radius may then grow).
    step_norm : float
        :math:`\|p\|` in the norm of the region.
    failure : str
        Why the subproblem has no usable step (the solver's failure message), else empty.
    info : dict
        Diagnostics (inner iterations, their stopping reason, …), stored in ``State.info``.
    updates : dict
        State fields the subproblem changes, kept whether the step is accepted or not.
    """

    step: np.ndarray
    predicted_reduction: float
    hits_boundary: bool
    step_norm: float
    failure: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    updates: dict[str, Any] = field(default_factory=dict)


def reduction_ratio(f: float, f_trial: float, predicted_reduction: float) -> float:
    r"""Actual over predicted reduction, safeguarded against rounding in f.

    .. math::
        \rho = \frac{f(x) - f(x + p) + \delta}{m(0) - m(p) + \delta}, \qquad
        \delta = 10\, \epsilon_{\text{mach}} \max(1, |f(x)|),

    as Conn, Gould & Toint (*Trust-Region Methods*, 2000, §17.4.2) recommend: once
    both reductions fall to the rounding level of f, the plain ratio (N&W eq 4.4) is
    noise and rejects good steps until the radius collapses; with :math:`\delta`
    it tends to 1 there and is unchanged elsewhere. A non-finite trial value gives
    :math:`-\infty` (a rejection).
    """
    if not math.isfinite(f_trial):
        return -math.inf
    delta = 10.0 * np.finfo(float).eps * max(1.0, abs(f))
    return (f - f_trial + delta) / (predicted_reduction + delta)


@dataclass(frozen=True)
class TrustRegionMethod(Solver[TrustRegionStateT], Generic[TrustRegionStateT]):
    r"""A solver that is a trust-region subproblem inside the radius update of N&W Alg 4.1.

    Iteration :math:`k` asks :meth:`subproblem` for a step :math:`p_k` in the region of
    radius :math:`\Delta_k`, evaluates f at :math:`x_k + p_k`, then

    .. math::
        \rho_k = \frac{f(x_k) - f(x_k + p_k)}{m_k(0) - m_k(p_k)}, \qquad
        \Delta_{k+1} = \begin{cases}
            \tfrac14 \|p_k\| & \rho_k < \tfrac14 \\
            \min(2\Delta_k, \Delta_{\max}) & \rho_k > \tfrac34,\ \|p_k\| = \Delta_k \\
            \Delta_k & \text{otherwise,}
        \end{cases}

    (:math:`\rho_k` safeguarded by :func:`reduction_ratio`) and :math:`x_{k+1} = x_k +
    p_k` if :math:`\rho_k > \eta`, else :math:`x_k`. The shrink uses :math:`\tfrac14
    \|p_k\|` instead of N&W's :math:`\tfrac14\Delta_k` (equal on the boundary): after an
    interior step is rejected, :math:`\tfrac14\Delta_k` could contain the same step.

    The trial point is evaluated fused (value and gradient, cost 1) when the previous
    trial was accepted, and value-only (cost 0.5, plus a gradient of cost 1 on
    acceptance) after a rejection, when another rejection is more likely: fusing pays
    when the acceptance probability exceeds 1/2. A rejected step is one iteration of
    the runner (x, f and g unchanged, the radius smaller, ``step_size = 0``); the run
    fails once a quarter of the rejected step is below machine precision relative to
    :math:`\|x\|`.

    Parameters
    ----------
    initial_radius : float
        :math:`\Delta_0 > 0`.
    max_radius : float
        :math:`\Delta_{\max} \ge \Delta_0`.
    eta : float
        Acceptance threshold :math:`\eta \in [0, 1/4)`.
    """

    initial_radius: float = 1.0
    max_radius: float = 1e10
    eta: float = 0.15

    def check_trust_region_options(self) -> None:
        """Raise :class:`ValueError` naming the first invalid radius or ``eta`` field."""
        for name in ("initial_radius", "max_radius"):
            value = getattr(self, name)
            if not is_number(value) or not value > 0:
                raise ValueError(f"{name}: must be a number > 0, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite, got {value!r}")
        if self.initial_radius > self.max_radius:
            raise ValueError(
                f"initial_radius: must be <= max_radius={self.max_radius!r}, "
                f"got {self.initial_radius!r}"
            )
        if not is_number(self.eta) or not 0 <= self.eta < 0.25:
            raise ValueError(f"eta: must be a number in [0, 0.25), got {self.eta!r}")

    def subproblem(
        self, oracle: Oracle, state: TrustRegionStateT, radius: float
    ) -> SubproblemResult:
        """An approximate minimiser of the model at ``state`` within ``radius``."""
        raise NotImplementedError

    def step(self, oracle: Oracle, state: TrustRegionStateT) -> TrustRegionStateT:
        """One subproblem, one trial evaluation, the ratio test and the radius update."""
        name = self.registry_name
        x, f, radius = state.x, state.f, state.radius
        sub = self.subproblem(oracle, state, radius)
        info = {**sub.info, "radius": radius}
        if sub.failure:
            return state.replace(info=info).failed(f"{name}: {sub.failure}")
        if not sub.predicted_reduction > 0:
            return state.replace(info=info).failed(
                f"{name}: the model predicts no decrease ({sub.predicted_reduction:.3g}) "
                f"at gradient norm {norm2(state.g):.3g}"
            )
        trial = x + sub.step
        g_trial: np.ndarray | None
        if state.last_accepted:
            f_trial, g_trial = oracle.value_and_grad(trial)
        else:
            f_trial, g_trial = oracle.value(trial), None
        rho = reduction_ratio(f, f_trial, sub.predicted_reduction)
        step_length = norm2(sub.step)  # in x; sub.step_norm is in the region's norm
        if rho < 0.25:
            radius = 0.25 * sub.step_norm
        elif rho > 0.75 and sub.hits_boundary:
            radius = min(2.0 * radius, self.max_radius)
        accepted = rho > self.eta
        info.update(rho=rho, accepted=accepted)
        if not accepted:
            new_state = state.replace(
                step_size=0.0, radius=radius, last_accepted=False, info=info, **sub.updates
            )
            if 0.25 * step_length <= np.finfo(float).eps * (1.0 + norm2(x)):
                return new_state.failed(
                    f"{name}: trust radius {radius:.3g} fell below machine precision "
                    f"relative to |x| (last rho={rho:.3g})"
                )
            return new_state
        if g_trial is None:
            g_trial = oracle.grad(trial)
        return state.replace(
            x=trial,
            f=f_trial,
            g=g_trial,
            step_size=step_length,
            radius=radius,
            last_accepted=True,
            info=info,
            **sub.updates,
        )
