r"""Truncated conjugate gradients for the Newton equations, on Hessian-vector products.

The inner solver of line-search Newton-CG (Nocedal & Wright, *Numerical
Optimization*, 2nd ed., Alg 7.1): CG applied to :math:`\nabla^2 f(x_k)\, p = -\nabla
f(x_k)` from :math:`z_0 = 0`, stopped early by a forcing term, by negative curvature
or by an iteration cap. The Hessian is only touched through products ``hvp(d)``.

Shared pieces used by both Newton-CG drivers live here too: the forcing terms
(N&W eq 7.3 and Thm 7.2) and the scale-invariant curvature test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Forcing rules for the inner residual test :math:`\|r\|_2 \le \eta_k \|g\|_2`.
FORCING_RULES = ("sqrt", "linear", "constant")

#: ``max_cg_iter=None`` caps CG at this many iterations per variable.
DEFAULT_CG_CAP_PER_DIM = 20

#: Why an inner CG run stopped.
CG_REASONS = ("residual", "negative_curvature", "max_iter", "non_finite")


def forcing_term(rule: str, grad_ratio: float, constant: float) -> float:
    r"""The forcing term :math:`\eta_k` of the inner residual test.

    .. math::
        \eta_k = \begin{cases}
            \min(0.5, \sqrt{\gamma_k}) & \text{sqrt (superlinear, N\&W eq 7.3)} \\
            \min(0.5, \gamma_k) & \text{linear (quadratic rate, N\&W Thm 7.2)} \\
            c & \text{constant (linear rate)}
        \end{cases}
        \qquad \gamma_k = \frac{\|\nabla f(x_k)\|_2}{\|\nabla f(x_0)\|_2} .

    N&W use :math:`\gamma_k = \|\nabla f(x_k)\|` itself; any :math:`\gamma_k`
    proportional to it gives the same rates (N&W Thm 7.2). Measuring the gradient
    relative to the start makes :math:`\eta_k` dimensionless: it does not change when
    f is multiplied by a constant, nor when identical independent blocks are stacked
    (the 2-norm of the gradient grows like the square root of their number), so
    iteration and oracle counts on a separable problem do not depend on its size.

    Parameters
    ----------
    rule : {"sqrt", "linear", "constant"}
        Which forcing sequence.
    grad_ratio : float
        :math:`\gamma_k = \|\nabla f(x_k)\|_2 / \|\nabla f(x_0)\|_2`.
    constant : float
        :math:`c`, used by ``"constant"`` only.
    """
    if rule == "sqrt":
        return min(0.5, math.sqrt(grad_ratio))
    if rule == "linear":
        return min(0.5, grad_ratio)
    if rule == "constant":
        return constant
    raise ValueError(f"forcing: must be one of {', '.join(FORCING_RULES)}, got {rule!r}")


def relative_grad_norm(grad_norm: float, initial_grad_norm: float) -> float:
    r""":math:`\|g_k\|_2 / \|g_0\|_2`, and 0 when the start is already stationary."""
    return grad_norm / initial_grad_norm if initial_grad_norm > 0 else 0.0


def has_nonpositive_curvature(
    curvature: float, direction_norm: float, hvp_norm: float, curvature_tol: float
) -> bool:
    r"""The scale-invariant curvature test :math:`d^\top H d \le \varepsilon \|d\|_2^2`.

    With :math:`\varepsilon = \tau \|Hd\|_2 / \|d\|_2` (``tau = curvature_tol``), i.e.
    :math:`d^\top H d \le \tau\, \|d\|_2 \|Hd\|_2`: the cosine between :math:`d` and
    :math:`Hd` is at most :math:`\tau`. The test is unchanged when :math:`d` or
    :math:`f` is scaled and when identical blocks are stacked. For a positive definite
    :math:`H` with condition number :math:`\kappa` that cosine is at least
    :math:`2\sqrt{\kappa}/(1+\kappa)`, so ``tau = 1e-12`` only flags curvature that is
    non-positive up to rounding (:math:`\kappa \gtrsim 10^{24}`). A zero product
    :math:`Hd = 0` counts as non-positive.
    """
    return curvature <= curvature_tol * direction_norm * hvp_norm


def cg_iteration_cap(max_cg_iter: int | None, dim: int) -> int:
    """The CG iteration cap: ``max_cg_iter``, or ``20 * dim`` when it is ``None``.

    CG terminates in ``dim`` iterations only in exact arithmetic; on ill-conditioned
    Hessians rounding delays it, so the default leaves room (as scipy's Newton-CG
    does) and the forcing term or the curvature test ends the run first.
    """
    return max_cg_iter if max_cg_iter is not None else DEFAULT_CG_CAP_PER_DIM * dim


def validate_cg_options(
    forcing: str, forcing_constant: float, max_cg_iter: int | None, curvature_tol: float
) -> None:
    """Check the inner-CG hyper-parameters shared by ``newton_cg`` and ``trust_ncg``.

    Raises
    ------
    ValueError
        Naming the first invalid field and its allowed values.
    """
    if forcing not in FORCING_RULES:
        raise ValueError(f"forcing: must be one of {', '.join(FORCING_RULES)}, got {forcing!r}")
    if not _is_real(forcing_constant) or not 0 < forcing_constant < 1:
        raise ValueError(f"forcing_constant: must be a number in (0, 1), got {forcing_constant!r}")
    if max_cg_iter is not None and (
        isinstance(max_cg_iter, bool) or not isinstance(max_cg_iter, int) or max_cg_iter < 1
    ):
        raise ValueError(f"max_cg_iter: must be None or an integer >= 1, got {max_cg_iter!r}")
    if not _is_real(curvature_tol) or not 0 <= curvature_tol < 1:
        raise ValueError(f"curvature_tol: must be a number in [0, 1), got {curvature_tol!r}")


def _is_real(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


@dataclass(frozen=True)
class TruncatedCGResult:
    """Outcome of :func:`truncated_cg`.

    Attributes
    ----------
    direction : ndarray
        The search direction :math:`p_k` (a descent direction unless ``reason`` is
        ``"non_finite"``).
    iterations : int
        CG iterations, equal to the number of Hessian-vector products.
    reason : str
        One of ``CG_REASONS``.
    residual_norm : float
        :math:`\\|r\\|_2` of the returned iterate (CG recurrence, not recomputed).
    """

    direction: np.ndarray
    iterations: int
    reason: str
    residual_norm: float


def truncated_cg(
    hvp: Callable[[np.ndarray], np.ndarray],
    grad: np.ndarray,
    *,
    tolerance: float,
    max_iter: int,
    curvature_tol: float = 1e-12,
) -> TruncatedCGResult:
    r"""Solve :math:`H p = -g` approximately by CG from :math:`z_0 = 0` (N&W Alg 7.1).

    With :math:`r_0 = g`, :math:`d_0 = -g`, each iteration is

    .. math::
        \alpha_j = \frac{r_j^\top r_j}{d_j^\top H d_j}, \quad
        z_{j+1} = z_j + \alpha_j d_j, \quad
        r_{j+1} = r_j + \alpha_j H d_j, \quad
        d_{j+1} = -r_{j+1} + \frac{r_{j+1}^\top r_{j+1}}{r_j^\top r_j} d_j ,

    and returns :math:`z_{j+1}` as soon as :math:`\|r_{j+1}\|_2 \le` ``tolerance``.
    When :math:`d_j` has non-positive curvature (:func:`has_nonpositive_curvature`) it
    returns :math:`-g` at :math:`j = 0` and :math:`z_j` otherwise; after ``max_iter``
    iterations it returns the last iterate.

    Parameters
    ----------
    hvp : callable
        :math:`v \mapsto \nabla^2 f(x_k) v`; called once per iteration.
    grad : ndarray
        :math:`g = \nabla f(x_k)`.
    tolerance : float
        Absolute residual tolerance, :math:`\eta_k \|g\|_2` for Newton-CG.
    max_iter : int
        Cap on CG iterations (Hessian-vector products), at least 1.
    curvature_tol : float
        :math:`\tau` of the curvature test.

    Returns
    -------
    TruncatedCGResult
    """
    z = np.zeros_like(grad)
    r = np.array(grad, dtype=float, copy=True)
    d = -r
    rr = float(r @ r)
    residual_norm = math.sqrt(rr)
    if residual_norm <= tolerance:
        return TruncatedCGResult(z, 0, "residual", residual_norm)
    for j in range(max_iter):
        hd = hvp(d)
        curvature = float(d @ hd)
        hvp_norm = float(np.linalg.norm(hd))
        if not (math.isfinite(curvature) and math.isfinite(hvp_norm)):
            return TruncatedCGResult(z, j + 1, "non_finite", residual_norm)
        if has_nonpositive_curvature(curvature, math.sqrt(float(d @ d)), hvp_norm, curvature_tol):
            direction = -np.asarray(grad, dtype=float) if j == 0 else z
            return TruncatedCGResult(direction, j + 1, "negative_curvature", residual_norm)
        alpha = rr / curvature
        z += alpha * d
        r += alpha * hd
        rr_next = float(r @ r)
        residual_norm = math.sqrt(rr_next)
        if residual_norm <= tolerance:
            return TruncatedCGResult(z, j + 1, "residual", residual_norm)
        d = -r + (rr_next / rr) * d
        rr = rr_next
    return TruncatedCGResult(z, max_iter, "max_iter", residual_norm)
