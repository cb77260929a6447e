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
from optbench.solvers.trust_region import SubproblemResult, TrustRegionState


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
