r"""Line-search Gauss–Newton on the residuals and Jacobian (N&W Sec. 10.3).

For :math:`f(x) = c\,\|r(x)\|_2^2` (a least-squares-shaped problem,
:class:`~optbench.problems.base.LeastSquaresShaped`) each iteration takes the
Gauss–Newton direction, the minimizer of the linearized residual (N&W eq. 10.23),

.. math:: p_k = \arg\min_p \|J_k p + r_k\|_2 ,

computed from an orthogonal factorization of :math:`J_k` (never the normal equations
:math:`J^\top J p = -J^\top r`, whose condition number is squared; N&W Sec. 10.2), the
minimum-norm solution when :math:`J_k` is rank deficient (``numpy.linalg.lstsq``; a
sparse Jacobian goes to LSQR). It is a descent direction whenever :math:`J_k^\top r_k
\ne 0` (N&W eq. 10.24). A backtracking search (N&W Alg. 3.1 with safeguarded
interpolation) tries :math:`\alpha = 1` first on :math:`\phi(\alpha) = c\|r(x_k + \alpha
p_k)\|^2`, evaluating residuals only; the Jacobian is evaluated once, at the accepted
point, and gives :math:`\nabla f = 2c\,J^\top r` there.

On a zero-residual problem the rate is quadratic, and on a linear one with
:math:`r(x^\star) = 0` the first step lands on :math:`x^\star` (N&W Sec. 10.3).

Per iteration: one residual vector per trial (cost 0.5) and one Jacobian (cost 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from optbench.numerics import norm2
from optbench.problems.base import is_least_squares
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.base import Solver, State
from optbench.solvers.linesearch import armijo_backtracking, check_line_search_constants


def least_squares_incompatibility(solver: str, problem: Any, name: str = "") -> str | None:
    """The one-line refusal of a residual-based ``solver`` on ``problem``, or None.

    ``problem`` is an instance or, when a config is validated before anything is built,
    the family class (then ``name`` is the instance's label).
    """
    if is_least_squares(problem):
        return None
    return (
        f"{solver} needs residuals and a Jacobian, and problem "
        f"{name or getattr(problem, 'name', '?')!r} is not least-squares shaped; "
        "use a gradient-based solver"
    )


def gauss_newton_direction(jacobian: Any, residuals: np.ndarray) -> np.ndarray:
    r"""The minimum-norm minimizer of :math:`\|J p + r\|_2` (dense: SVD; sparse: LSQR)."""
    if isinstance(jacobian, np.ndarray):
        return np.linalg.lstsq(jacobian, -residuals, rcond=None)[0]
    from scipy.sparse.linalg import lsqr  # imported here: `optbench list` must start fast

    return lsqr(jacobian, -residuals, atol=1e-14, btol=1e-14)[0]


@dataclass
class GaussNewtonState(State):
    """State of :class:`GaussNewton`: also the residuals and Jacobian at ``x``."""

    residuals: np.ndarray | None = None
    jacobian: Any = None


@SOLVERS.register("gauss_newton")
@dataclass(frozen=True)
class GaussNewton(Solver[GaussNewtonState]):
    r"""Gauss–Newton (N&W Sec. 10.3): lstsq direction, backtracking on the residuals.

    Parameters
    ----------
    c1 : float
        Sufficient-decrease constant in (0, 1).
    max_evals : int
        Largest number of residual evaluations of one line search.
    """

    #: Refused at config validation on families without residuals and a Jacobian.
    needs_least_squares: ClassVar[bool] = True

    c1: float = 1e-4
    max_evals: int = 50

    def __post_init__(self) -> None:
        check_line_search_constants(self.c1)
        if not isinstance(self.max_evals, int) or self.max_evals < 1:
            raise ValueError(f"max_evals: must be an integer >= 1; got {self.max_evals!r}")

    def incompatibility(self, problem: Any) -> str | None:
        return least_squares_incompatibility("gauss_newton", problem)

    def init(self, oracle: Oracle, x0: np.ndarray) -> GaussNewtonState:
        x = np.array(x0, dtype=float, copy=True)
        residuals = oracle.residuals(x)
        jacobian = oracle.jacobian(x)
        scale = oracle.residual_scale
        f = scale * float(residuals @ residuals)
        g = 2.0 * scale * (jacobian.T @ residuals)
        return GaussNewtonState(x=x, f=f, g=g, residuals=residuals, jacobian=jacobian)

    def step(self, oracle: Oracle, state: GaussNewtonState) -> GaussNewtonState:
        assert state.f is not None and state.g is not None and state.residuals is not None
        direction = gauss_newton_direction(state.jacobian, state.residuals)
        if not np.all(np.isfinite(direction)):
            return state.failed("gauss_newton: non-finite Gauss-Newton direction")
        slope = float(state.g @ direction)
        scale = oracle.residual_scale
        last: dict[float, np.ndarray] = {}

        def phi(step_size: float) -> float:
            residuals = oracle.residuals(state.x + step_size * direction)
            last.clear()
            last[step_size] = residuals
            return scale * float(residuals @ residuals)

        search = armijo_backtracking(
            phi, state.f, slope, c1=self.c1, max_evals=self.max_evals, interpolate=True
        )
        info = {"line_search_evals": search.evaluations, "direction_norm": norm2(direction)}
        if not search.success:
            return state.replace(info=info).failed(f"gauss_newton line search: {search.reason}")
        x = state.x + search.step_size * direction
        residuals = last[search.step_size]
        jacobian = oracle.jacobian(x)
        return state.replace(
            x=x,
            f=search.value,
            g=2.0 * scale * (jacobian.T @ residuals),
            residuals=residuals,
            jacobian=jacobian,
            step_size=search.step_size,
            info=info,
        )
