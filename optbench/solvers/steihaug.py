r"""Steihaug's truncated CG for the trust-region subproblem (N&W Alg 7.2).

Approximately solves

.. math:: \min_{p}\; m(p) = g^\top p + \tfrac12 p^\top H p
          \quad \text{subject to} \quad \|p\|_2 \le \Delta

with Hessian-vector products only. The driver is :mod:`optbench.solvers.trust_ncg`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optbench.solvers.truncated_cg import has_nonpositive_curvature

#: Why a Steihaug run stopped.
STEIHAUG_REASONS = ("residual", "boundary", "negative_curvature", "max_iter", "non_finite")


@dataclass(frozen=True)
class SteihaugResult:
    """Outcome of :func:`steihaug_cg`.

    Attributes
    ----------
    step : ndarray
        The step :math:`p` with :math:`\\|p\\|_2 \\le \\Delta` (up to rounding).
    predicted_reduction : float
        :math:`m(0) - m(p) = -(g^\\top p + \\frac12 p^\\top H p)`, accumulated from the
        CG scalars (no extra Hessian-vector product); positive unless ``g = 0``.
    iterations : int
        CG iterations, equal to the number of Hessian-vector products.
    reason : str
        One of ``STEIHAUG_REASONS``.
    hits_boundary : bool
        Whether :math:`\\|p\\|_2 = \\Delta` (``"boundary"`` and ``"negative_curvature"``).
    """

    step: np.ndarray
    predicted_reduction: float
    iterations: int
    reason: str
    hits_boundary: bool


def boundary_steps(z: np.ndarray, d: np.ndarray, radius: float) -> tuple[float, float]:
    r"""The roots :math:`\tau_- \le 0 \le \tau_+` of :math:`\|z + \tau d\|_2 = \Delta`.

    Solves :math:`(d^\top d)\tau^2 + 2 (z^\top d)\tau + z^\top z - \Delta^2 = 0` for
    :math:`\|z\|_2 \le \Delta`, with the cancellation-free form of the quadratic formula.
    """
    dd = float(d @ d)
    zd = float(z @ d)
    zz_minus = float(z @ z) - radius * radius
    discriminant = math.sqrt(max(zd * zd - dd * zz_minus, 0.0))
    if zd >= 0.0:
        q = -(zd + discriminant)
        tau_plus = zz_minus / q if q != 0.0 else 0.0
        tau_minus = q / dd
    else:
        q = -zd + discriminant
        tau_plus = q / dd
        tau_minus = zz_minus / q if q != 0.0 else 0.0
    return min(tau_minus, tau_plus), max(tau_minus, tau_plus)


def steihaug_cg(
    hvp: Callable[[np.ndarray], np.ndarray],
    grad: np.ndarray,
    radius: float,
    *,
    tolerance: float,
    max_iter: int,
    curvature_tol: float = 1e-12,
) -> SteihaugResult:
    r"""CG-Steihaug (N&W Alg 7.2): CG on :math:`Hp = -g` kept inside the trust region.

    From :math:`z_0 = 0`, :math:`r_0 = g`, :math:`d_0 = -g`, iteration :math:`j`:

    1. if :math:`d_j` has non-positive curvature (the scale-invariant test
       :func:`~optbench.solvers.truncated_cg.has_nonpositive_curvature`), return
       :math:`z_j + \tau d_j` on the boundary, with whichever root :math:`\tau` of
       :math:`\|z_j + \tau d_j\| = \Delta` gives the lower model value;
    2. :math:`\alpha_j = r_j^\top r_j / d_j^\top H d_j`; if
       :math:`\|z_j + \alpha_j d_j\| \ge \Delta` return :math:`z_j + \tau d_j` with
       :math:`\tau \ge 0` on the boundary;
    3. :math:`z_{j+1} = z_j + \alpha_j d_j`, :math:`r_{j+1} = r_j + \alpha_j H d_j`;
       return :math:`z_{j+1}` if :math:`\|r_{j+1}\|_2 \le` ``tolerance``;
    4. :math:`d_{j+1} = -r_{j+1} + (r_{j+1}^\top r_{j+1} / r_j^\top r_j)\, d_j`.

    The model value is tracked without extra products: by conjugacy
    :math:`m(z_{j+1}) = m(z_j) - \frac12 \alpha_j r_j^\top r_j`, and on the boundary
    :math:`m(z_j + \tau d_j) = m(z_j) + \tau r_j^\top d_j + \frac12 \tau^2 d_j^\top H d_j`.
    The iterates' norms increase (N&W Thm 7.3), so the first boundary crossing is the
    only one. After ``max_iter`` iterations the last iterate is returned.

    Parameters
    ----------
    hvp : callable
        :math:`v \mapsto \nabla^2 f(x_k) v`; called once per iteration.
    grad : ndarray
        :math:`g = \nabla f(x_k)`.
    radius : float
        Trust radius :math:`\Delta > 0`.
    tolerance : float
        Absolute residual tolerance :math:`\eta_k \|g\|_2`.
    max_iter : int
        Cap on CG iterations, at least 1.
    curvature_tol : float
        :math:`\tau` of the curvature test.
    """
    grad = np.asarray(grad, dtype=float)
    z = np.zeros_like(grad)
    r = grad.copy()
    d = -r
    rr = float(r @ r)
    model = 0.0  # m(z_j)
    if math.sqrt(rr) <= tolerance:
        return SteihaugResult(z, 0.0, 0, "residual", False)
    for j in range(max_iter):
        hd = hvp(d)
        curvature = float(d @ hd)
        hvp_norm = float(np.linalg.norm(hd))
        if not (math.isfinite(curvature) and math.isfinite(hvp_norm)):
            return SteihaugResult(z, -model, j + 1, "non_finite", False)
        if has_nonpositive_curvature(curvature, math.sqrt(float(d @ d)), hvp_norm, curvature_tol):
            slope = float(r @ d)
            candidates = [
                (model + tau * slope + 0.5 * tau * tau * curvature, tau)
                for tau in boundary_steps(z, d, radius)
            ]
            best_model, tau = min(candidates)
            return SteihaugResult(z + tau * d, -best_model, j + 1, "negative_curvature", True)
        alpha = rr / curvature
        z_next = z + alpha * d
        if float(z_next @ z_next) >= radius * radius:
            tau = boundary_steps(z, d, radius)[1]
            boundary_model = model + tau * float(r @ d) + 0.5 * tau * tau * curvature
            return SteihaugResult(z + tau * d, -boundary_model, j + 1, "boundary", True)
        z = z_next
        model -= 0.5 * alpha * rr
        r += alpha * hd
        rr_next = float(r @ r)
        if math.sqrt(rr_next) <= tolerance:
            return SteihaugResult(z, -model, j + 1, "residual", False)
        d = -r + (rr_next / rr) * d
        rr = rr_next
    return SteihaugResult(z, -model, max_iter, "max_iter", False)
