r"""The dense-Hessian model shared by the ``trust_exact`` and ``dogleg`` subproblems.

Both plug into the trust-region driver
(:class:`~optbench.solvers.trust_region.TrustRegionMethod`) with the model
:math:`m_k(p) = f_k + g_k^\top p + \tfrac12 p^\top B_k p`, :math:`B_k = \nabla^2 f(x_k)`
(N&W eq. 4.3), one dense Hessian per accepted iterate: after a rejected step the
iterate is unchanged and the Hessian is reused, not evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.solvers.trust_region import SubproblemResult, TrustRegionMethod, TrustRegionState


class ModelStep(NamedTuple):
    """A subproblem's step: ``step``, whether it is on the boundary, and diagnostics."""

    step: np.ndarray
    hits_boundary: bool
    info: dict[str, Any]


@dataclass
class DenseModelState(TrustRegionState):
    """Trust-region state with the dense Hessian of the iterate ``hessian_x`` it belongs to."""

    hessian: np.ndarray | None = None
    hessian_x: np.ndarray | None = None


def model_hessian(oracle: Oracle, state: DenseModelState) -> np.ndarray:
    """:math:`\\nabla^2 f(x_k)`: reused when ``state.x`` is the iterate it was built at."""
    if state.hessian is not None and state.hessian_x is state.x:
        return state.hessian
    return oracle.hess(state.x)


def model_reduction(hessian: np.ndarray, g: np.ndarray, step: np.ndarray) -> float:
    r""":math:`m(0) - m(p) = -(g^\top p + \tfrac12 p^\top B p)`."""
    return -float(g @ step + 0.5 * (step @ (hessian @ step)))


def dense_hessian_incompatibility(solver: str, problem: Any) -> str | None:
    """The one-line refusal of a dense-Hessian ``solver`` on too large a ``problem``."""
    if problem.dim <= problem.hess_max_dim:
        return None
    return (
        f"{solver} needs a dense Hessian, and problem {problem.name!r} has dim "
        f"{problem.dim} > hess_max_dim = {problem.hess_max_dim}; use trust_ncg "
        "(Hessian-vector products) or raise hess_max_dim"
    )


def dense_subproblem_result(
    state: DenseModelState, hessian: np.ndarray, found: ModelStep
) -> SubproblemResult:
    """The driver's :class:`SubproblemResult` (2-norm), keeping the Hessian for a retry."""
    return SubproblemResult(
        step=found.step,
        predicted_reduction=model_reduction(hessian, state.g, found.step),
        hits_boundary=found.hits_boundary,
        step_norm=norm2(found.step),
        info=found.info,
        updates={"hessian": hessian, "hessian_x": state.x},
    )


@dataclass(frozen=True)
class DenseModelTrustRegion(TrustRegionMethod[DenseModelState]):
    """The trust-region driver on the dense quadratic model: a subclass gives the step.

    Shared by ``trust_exact`` and ``dogleg``: options, the dense-Hessian size check,
    the start, and the Hessian (reused after a rejected step) handed to
    :meth:`model_step`, the subproblem solver of the subclass.
    """

    def __post_init__(self) -> None:
        self.check_trust_region_options()

    def incompatibility(self, problem: Any) -> str | None:
        return dense_hessian_incompatibility(self.registry_name, problem)

    def init(self, oracle: Oracle, x0: np.ndarray) -> DenseModelState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return DenseModelState(x=x, f=f, g=g, radius=float(self.initial_radius))

    def model_step(self, hessian: np.ndarray, g: np.ndarray, radius: float) -> ModelStep:
        """The subproblem's step for the model (g, hessian) within ``radius``."""
        raise NotImplementedError

    def subproblem(self, oracle: Oracle, state: DenseModelState, radius: float) -> SubproblemResult:
        hessian = model_hessian(oracle, state)
        if not np.all(np.isfinite(hessian)):
            return SubproblemResult(
                state.g, 0.0, False, 0.0, failure="Hessian has non-finite entries"
            )
        return dense_subproblem_result(state, hessian, self.model_step(hessian, state.g, radius))
