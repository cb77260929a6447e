r"""Trust-region Levenberg–Marquardt in the manner of Moré (1978), MINPACK's ``lmder``.

For :math:`f(x) = c\,\|r(x)\|_2^2` each iteration solves the scaled trust-region
subproblem of N&W eq. 10.31 (Moré 1978, "The Levenberg–Marquardt algorithm:
implementation and theory", LNM 630, eq. 3.3)

.. math:: \min_p \tfrac12\|J_k p + r_k\|^2 \quad\text{s.t.}\quad \|D_k p\| \le \Delta_k ,

whose solution is :math:`p(\lambda) = -(J^\top J + \lambda D^\top D)^{-1} J^\top r` with
:math:`\lambda = 0` when the Gauss–Newton step is inside (within 10 %), else
:math:`\lambda > 0` with :math:`\bigl|\|D p(\lambda)\| - \Delta\bigr| \le 0.1\,\Delta`,
found by Moré's safeguarded Newton iteration on
:math:`1/\|Dp(\lambda)\| - 1/\Delta` (Moré 1978 Sec. 5; N&W Alg. 4.3 in the scaled
norm): with :math:`J^\top J + \lambda D^2 = L L^\top` and
:math:`q = L^{-1} D^2 p / \|Dp\|`,

.. math:: \lambda \leftarrow \lambda + \frac{\|Dp\| - \Delta}{\Delta}
          \frac{\|Dp\|^2}{\|L^{-1} D^2 p\|^2},

started from the previous :math:`\lambda` clipped to the bounds :math:`[\ell, u]`,
:math:`u = \|D^{-1} J^\top r\| / \Delta`, :math:`\ell` the first Newton iterate from
0 when :math:`J` has full rank, else 0 (from :math:`\|D^{-1}J^\top r\| / \|D p^{GN}\|`
when that is 0), each iterate at least the current :math:`\ell` (lmpar's rules). The scaling
:math:`D_k = \operatorname{diag}(\max(D_{k-1}, \|J_k e_i\|))` is Moré's eq. 6.3 (a zero
column counts as 1). The ratio :math:`\rho` of actual to predicted reduction (the
prediction :math:`\|J p\|^2 + 2\lambda\|Dp\|^2`, free of cancellation) drives lmder's
update: :math:`\rho \le 1/4` shrinks :math:`\Delta` to :math:`\mu \min(\Delta,
10\|Dp\|)` with :math:`\mu \in [0.1, 0.5]` from a quadratic fit of the reduction;
:math:`\rho \ge 3/4` or :math:`\lambda = 0` sets :math:`\Delta = 2\|Dp\|`. A step is
taken when :math:`\rho \ge 10^{-4}`. :math:`\Delta_0 = 100\|D_0 x_0\|` (100 if that is 0),
reduced to :math:`\|D_0 p_0\|` after the first subproblem (as lmder does).

Departure from lmder: each :math:`p(\lambda)` comes from a fresh Householder QR of
the stacked matrix :math:`[J;\ \sqrt{\lambda} D]` (:math:`R^\top R = J^\top J +
\lambda D^2`, so :math:`L = R^\top` above) rather than lmder's one pivoted QR of
:math:`J` updated by Givens rotations per :math:`\lambda`, and the Gauss–Newton step
is ``numpy.linalg.lstsq`` (minimum norm when :math:`J` is rank deficient). The Jacobian
is dense; a sparse one is densified (so the solver is for small and medium :math:`n`).

Per iteration: one residual vector (cost 0.5); a Jacobian (cost 1) after an accepted
step. A rejected step is an iteration with ``step_size = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number
from optbench.solvers.base import Solver, State
from optbench.solvers.gauss_newton import least_squares_incompatibility

#: Relative accuracy of :math:`\|Dp\|` against :math:`\Delta` (lmpar's 0.1).
RADIUS_TOLERANCE = 0.1
#: Largest number of iterations of the :math:`\lambda` search (lmpar's 10).
MAX_LAMBDA_ITERATIONS = 10
#: Acceptance threshold of :math:`\rho` (lmder's 1e-4).
ACCEPT = 1e-4


@dataclass
class LevenbergMarquardtState(State):
    r"""State of :class:`LevenbergMarquardt`.

    Attributes
    ----------
    residuals, jacobian : ndarray
        :math:`r` and :math:`J` (dense) at ``x``.
    scaling : ndarray
        The diagonal of :math:`D_k`.
    radius : float
        :math:`\Delta_k` of the next subproblem.
    damping : float
        :math:`\lambda` of the last subproblem (the next search starts from it).
    """

    residuals: np.ndarray | None = None
    jacobian: np.ndarray | None = None
    scaling: np.ndarray | None = None
    radius: float = math.nan
    damping: float = 0.0


def _dense(matrix: Any) -> np.ndarray:
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix, dtype=float)


def _column_norms(jacobian: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->j", jacobian, jacobian))
    return np.where(norms > 0, norms, 1.0)


def damped_step(
    jacobian: np.ndarray, residuals: np.ndarray, scaling: np.ndarray, radius: float, damping: float
) -> tuple[np.ndarray, float]:
    r"""The step :math:`p(\lambda)` of the scaled subproblem and its :math:`\lambda` (lmpar).

    Returns :math:`(p, \lambda)` with :math:`\lambda = 0` and the minimum-norm
    Gauss–Newton step when :math:`\|Dp\| \le 1.1\,\Delta`, else :math:`\lambda > 0` with
    :math:`\|Dp(\lambda)\|` within 10 % of :math:`\Delta` (or after 10 iterations).
    ``damping`` is the previous :math:`\lambda`, the first guess.
    """
    from scipy.linalg import solve_triangular

    gradient = jacobian.T @ residuals  # J^T r
    gauss_newton = np.linalg.lstsq(jacobian, -residuals, rcond=None)[0]
    scaled_norm = norm2(scaling * gauss_newton)
    if scaled_norm <= (1.0 + RADIUS_TOLERANCE) * radius:
        return gauss_newton, 0.0
    d_squared = scaling * scaling

    m, n = jacobian.shape
    padded_residuals = np.concatenate([residuals, np.zeros(n)])

    def solve(lam: float) -> tuple[np.ndarray, float, float] | None:
        """p(lam), ||D p|| and ||R^{-T} D^2 p / ||Dp|| ||^2 from a QR of [J; sqrt(lam) D]."""
        stacked = np.vstack([jacobian, math.sqrt(lam) * np.diag(scaling)])
        q_factor, r_factor = np.linalg.qr(stacked)
        if np.min(np.abs(np.diag(r_factor))) <= 1e-300:
            return None
        step = -solve_triangular(r_factor, q_factor.T @ padded_residuals, check_finite=False)
        norm = norm2(scaling * step)
        q = solve_triangular(r_factor, d_squared * step / norm, trans="T", check_finite=False)
        return step, norm, float(q @ q)

    def newton_increment(norm: float, q_squared: float) -> float:
        return (norm - radius) / radius / q_squared if q_squared > 0 else 0.0

    lower = 0.0
    at_zero = solve(0.0)
    if at_zero is not None and np.linalg.matrix_rank(jacobian) == jacobian.shape[1]:
        lower = max(0.0, newton_increment(at_zero[1], at_zero[2]))
    gradient_norm = norm2(gradient / scaling)
    upper = gradient_norm / radius
    lam = min(max(damping, lower), upper)
    if lam == 0.0:
        lam = gradient_norm / scaled_norm
    best: tuple[np.ndarray, float] | None = None
    for _ in range(MAX_LAMBDA_ITERATIONS):
        if lam <= 0.0:
            lam = max(np.finfo(float).tiny, 1e-3 * upper)
        solved = solve(lam)
        if solved is None:  # numerically singular at this lambda: more damping
            lower = lam
            lam = 10.0 * lam
            continue
        step, norm, q_squared = solved
        best = (step, lam)
        if abs(norm - radius) <= RADIUS_TOLERANCE * radius:
            break
        if norm > radius:
            lower = max(lower, lam)
        else:
            upper = min(upper, lam)
        lam = max(lower, lam + newton_increment(norm, q_squared))
    if best is None:
        raise FloatingPointError("J^T J + lambda D^2 is not positive definite for any lambda")
    return best


@SOLVERS.register("levenberg_marquardt")
@dataclass(frozen=True)
class LevenbergMarquardt(Solver[LevenbergMarquardtState]):
    r"""Trust-region Levenberg–Marquardt with Moré's scaling and λ search (MINPACK lmder).

    Parameters
    ----------
    initial_radius_factor : float
        lmder's ``factor``: :math:`\Delta_0 = \text{factor}\cdot\|D_0 x_0\|`, or
        ``factor`` when that is 0.
    """

    #: Refused at config validation on families without residuals and a Jacobian.
    needs_least_squares: ClassVar[bool] = True

    initial_radius_factor: float = 100.0

    def __post_init__(self) -> None:
        factor = self.initial_radius_factor
        if not is_finite_number(factor) or not factor > 0:
            raise ValueError(f"initial_radius_factor: must be a number > 0; got {factor!r}")

    def incompatibility(self, problem: Any) -> str | None:
        return least_squares_incompatibility("levenberg_marquardt", problem)

    def init(self, oracle: Oracle, x0: np.ndarray) -> LevenbergMarquardtState:
        x = np.array(x0, dtype=float, copy=True)
        residuals = oracle.residuals(x)
        jacobian = _dense(oracle.jacobian(x))
        scale = oracle.residual_scale
        scaling = _column_norms(jacobian)
        radius = self.initial_radius_factor * norm2(scaling * x)
        return LevenbergMarquardtState(
            x=x,
            f=scale * float(residuals @ residuals),
            g=2.0 * scale * (jacobian.T @ residuals),
            residuals=residuals,
            jacobian=jacobian,
            scaling=scaling,
            radius=radius if radius > 0 else self.initial_radius_factor,
        )

    def step(self, oracle: Oracle, state: LevenbergMarquardtState) -> LevenbergMarquardtState:
        assert state.residuals is not None and state.jacobian is not None
        assert state.scaling is not None
        residuals, jacobian, scaling = state.residuals, state.jacobian, state.scaling
        try:
            step, lam = damped_step(jacobian, residuals, scaling, state.radius, state.damping)
        except FloatingPointError as error:
            return state.failed(f"levenberg_marquardt: {error}")
        if not np.all(np.isfinite(step)):
            return state.failed("levenberg_marquardt: non-finite step")
        scaled_norm = norm2(scaling * step)
        radius = state.radius
        if state.step_size is None:  # lmder: the first step bounds the initial radius
            radius = min(radius, scaled_norm)
        residual_norm = norm2(residuals)
        trial = state.x + step
        trial_residuals = oracle.residuals(trial)
        trial_norm = norm2(trial_residuals)
        # lmder's reductions, relative to ||r||^2
        jp = norm2(jacobian @ step) / residual_norm
        damping_term = math.sqrt(lam) * scaled_norm / residual_norm
        predicted = jp**2 + 2.0 * damping_term**2
        actual = (
            1.0 - (trial_norm / residual_norm) ** 2 if 0.1 * trial_norm < residual_norm else -1.0
        )
        rho = actual / predicted if predicted > 0 else 0.0
        if rho <= 0.25:
            directional = -(jp**2 + damping_term**2)
            shrink = 0.5 if actual >= 0 else 0.5 * directional / (directional + 0.5 * actual)
            if 0.1 * trial_norm >= residual_norm or shrink < 0.1:
                shrink = 0.1
            radius = shrink * min(radius, scaled_norm / 0.1)
            lam = lam / shrink
        elif lam == 0.0 or rho >= 0.75:
            radius = scaled_norm / 0.5
            lam = 0.5 * lam
        info = {"rho": rho, "damping": lam, "radius": radius}
        if not (rho >= ACCEPT and math.isfinite(trial_norm)):
            rejected = state.replace(step_size=0.0, radius=radius, damping=lam, info=info)
            if radius <= np.finfo(float).eps * norm2(scaling * state.x):
                return rejected.failed(
                    f"levenberg_marquardt: trust radius {radius:.3g} fell below machine "
                    f"precision relative to |D x| (last rho = {rho:.3g})"
                )
            return rejected
        new_jacobian = _dense(oracle.jacobian(trial))
        scale = oracle.residual_scale
        return state.replace(
            x=trial,
            f=scale * trial_norm**2,
            g=2.0 * scale * (new_jacobian.T @ trial_residuals),
            residuals=trial_residuals,
            jacobian=new_jacobian,
            scaling=np.maximum(scaling, _column_norms(new_jacobian)),
            radius=radius,
            damping=lam,
            step_size=norm2(step),
            info=info,
        )
