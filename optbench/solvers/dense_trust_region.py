r"""The trust-region iteration of N&W Alg. 4.1 on a dense Hessian, subproblem pluggable.

:class:`DenseTrustRegion` writes the outer loop once; a subclass supplies
:meth:`~DenseTrustRegion.subproblem`, an approximate minimizer of

.. math:: m_k(p) = f_k + g_k^\top p + \tfrac12 p^\top B_k p
          \quad\text{s.t.}\quad \|p\|_2 \le \Delta_k \qquad\text{(N&W eq. 4.3)}

with :math:`B_k = \nabla^2 f(x_k)` (one dense Hessian per accepted iterate). The ratio
:math:`\rho_k` (N&W eq. 4.4, with the rounding safeguard of
:func:`~optbench.solvers.trust_ncg.reduction_ratio`) updates the radius as Alg. 4.1:
:math:`\rho < 1/4` shrinks it to :math:`\tfrac14\|p_k\|`, :math:`\rho > 3/4` with a
boundary step doubles it (up to :math:`\Delta_{\max}`); the step is taken when
:math:`\rho > \eta`. A rejected step is an iteration with ``step_size = 0`` that keeps
the Hessian (no new evaluation). The trial point is evaluated fused (value and
gradient) since it is usually accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.scalars import is_number
from optbench.solvers.base import Solver, State
from optbench.solvers.trust_ncg import reduction_ratio


class SubproblemResult(NamedTuple):
    """A step of the trust-region subproblem.

    Attributes
    ----------
    step : ndarray
        :math:`p` with :math:`\\|p\\|_2 \\le \\Delta` (up to rounding).
    hits_boundary : bool
        Whether :math:`\\|p\\|_2 = \\Delta` (to the subproblem's tolerance).
    info : dict
        Diagnostics (iterations, the multiplier :math:`\\lambda`, the kind of step).
    """

    step: np.ndarray
    hits_boundary: bool
    info: dict[str, Any]


def model_reduction(hessian: np.ndarray, g: np.ndarray, step: np.ndarray) -> float:
    r""":math:`m(0) - m(p) = -(g^\top p + \tfrac12 p^\top B p)`."""
    return -float(g @ step + 0.5 * (step @ (hessian @ step)))


@dataclass
class DenseTrustRegionState(State):
    """State of a :class:`DenseTrustRegion` solver: the radius and the Hessian at ``x``."""

    radius: float = 1.0
    hessian: np.ndarray | None = None


@dataclass(frozen=True)
class DenseTrustRegion(Solver):
    r"""Base of the dense-Hessian trust-region solvers (N&W Alg. 4.1).

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

    def __post_init__(self) -> None:
        for name in ("initial_radius", "max_radius"):
            value = getattr(self, name)
            if not is_number(value) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
        if self.initial_radius > self.max_radius:
            raise ValueError(
                f"initial_radius: must be <= max_radius={self.max_radius!r}, "
                f"got {self.initial_radius!r}"
            )
        if not is_number(self.eta) or not 0 <= self.eta < 0.25:
            raise ValueError(f"eta: must be a number in [0, 0.25), got {self.eta!r}")

    def subproblem(self, hessian: np.ndarray, g: np.ndarray, radius: float) -> SubproblemResult:
        """An approximate minimizer of the model in the region (the subclass's part)."""
        raise NotImplementedError

    def incompatibility(self, problem: Any) -> str | None:
        if problem.dim > problem.hess_max_dim:
            return (
                f"{self.registry_name} needs a dense Hessian, and problem {problem.name!r} "
                f"has dim {problem.dim} > hess_max_dim = {problem.hess_max_dim}; use "
                "trust_ncg (Hessian-vector products) or raise hess_max_dim"
            )
        return None

    def init(self, oracle: Oracle, x0: np.ndarray) -> DenseTrustRegionState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return DenseTrustRegionState(x=x, f=f, g=g, radius=float(self.initial_radius))

    def step(self, oracle: Oracle, state: DenseTrustRegionState) -> DenseTrustRegionState:  # type: ignore[override]
        assert state.f is not None and state.g is not None
        x, f, g, radius = state.x, state.f, state.g, state.radius
        hessian = state.hessian if state.hessian is not None else oracle.hess(x)
        if not np.all(np.isfinite(hessian)):
            return state.failed(f"{self.registry_name}: Hessian has non-finite entries")
        sub = self.subproblem(hessian, g, radius)
        predicted = model_reduction(hessian, g, sub.step)
        info = dict(sub.info, radius=radius)
        if not predicted > 0:
            return state.replace(hessian=hessian, info=info).failed(
                f"{self.registry_name}: the model predicts no decrease ({predicted:.3g}) "
                f"at gradient norm {norm2(g):.3g}"
            )
        trial = x + sub.step
        f_trial, g_trial = oracle.value_and_grad(trial)
        rho = reduction_ratio(f, f_trial, predicted)
        step_length = norm2(sub.step)
        if rho < 0.25:
            radius = 0.25 * step_length
        elif rho > 0.75 and sub.hits_boundary:
            radius = min(2.0 * radius, self.max_radius)
        info.update(rho=rho, accepted=rho > self.eta)
        if not rho > self.eta:
            rejected = state.replace(step_size=0.0, radius=radius, hessian=hessian, info=info)
            if radius <= np.finfo(float).eps * (1.0 + norm2(x)):
                return rejected.failed(
                    f"{self.registry_name}: trust radius {radius:.3g} fell below machine "
                    f"precision relative to |x| (last rho = {rho:.3g})"
                )
            return rejected
        return state.replace(
            x=trial,
            f=f_trial,
            g=g_trial,
            step_size=step_length,
            radius=radius,
            hessian=None,
            info=info,
        )
