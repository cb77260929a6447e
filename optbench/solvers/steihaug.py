r"""Steihaug's truncated CG for the trust-region subproblem (N&W Alg 7.2), preconditioned.

Approximately solves

.. math:: \min_{p}\; m(p) = g^\top p + \tfrac12 p^\top H p
          \quad \text{subject to} \quad \|p\|_M = \sqrt{p^\top M p} \le \Delta

with Hessian-vector products only, :math:`M = I` without a preconditioner. With a
preconditioner :math:`P = M^{-1}` the trust region is measured in the :math:`M`-norm
(N&W Sec 4.1 "scaling" and Sec 7.2 p. 171; Steihaug 1983, SIAM J. Numer. Anal. 20(3),
626-637; Gould, Lucidi, Roma & Toint 1999, SIAM J. Optim. 9(2), 504-525): in that norm the
CG iterates still grow monotonically (N&W Thm 7.3 for the transformed problem), so the
first boundary crossing is the only one. The driver is
:mod:`optbench.solvers.trust_ncg`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.solvers.truncated_cg import (
    CurvaturePair,
    has_nonpositive_curvature,
    non_finite_quantity,
)

#: Why a Steihaug run stopped.
STEIHAUG_REASONS = ("residual", "boundary", "negative_curvature", "max_iter", "non_finite")


@dataclass(frozen=True)
class SteihaugResult:
    """Outcome of :func:`steihaug_cg`.

    Attributes
    ----------
    step : ndarray
        The step :math:`p` with :math:`\\|p\\|_M \\le \\Delta` (up to rounding).
    predicted_reduction : float
        :math:`m(0) - m(p) = -(g^\\top p + \\frac12 p^\\top H p)`, accumulated from the
        CG scalars (no extra Hessian-vector product); positive unless ``g = 0``.
    iterations : int
        CG iterations, equal to the number of Hessian-vector products.
    reason : str
        One of ``STEIHAUG_REASONS``.
    hits_boundary : bool
        Whether :math:`\\|p\\|_M = \\Delta` (``"boundary"`` and ``"negative_curvature"``).
    step_norm : float
        :math:`\\|p\\|_M` (:math:`\\|p\\|_2` without a preconditioner), :math:`\\Delta` on
        the boundary.
    pairs : tuple of (ndarray, ndarray)
        The last ``keep_pairs`` curvature pairs :math:`(\\alpha_j d_j, \\alpha_j H d_j)`
        of the run (each with :math:`s^\\top y > 0`), oldest first.
    non_finite : str
        With ``reason == "non_finite"``, which quantity was not finite
        (:func:`~optbench.solvers.truncated_cg.non_finite_quantity`); empty otherwise.
    """

    step: np.ndarray
    predicted_reduction: float
    iterations: int
    reason: str
    hits_boundary: bool
    step_norm: float = 0.0
    pairs: tuple[CurvaturePair, ...] = ()
    non_finite: str = ""


def boundary_steps(z: np.ndarray, d: np.ndarray, radius: float) -> tuple[float, float]:
    r"""The roots :math:`\tau_- \le 0 \le \tau_+` of :math:`\|z + \tau d\|_2 = \Delta`.

    See :func:`boundary_roots`, which takes the inner products instead of the vectors.
    """
    return boundary_roots(float(z @ z), float(z @ d), float(d @ d), radius)


def boundary_roots(zz: float, zd: float, dd: float, radius: float) -> tuple[float, float]:
    r"""The roots :math:`\tau_- \le 0 \le \tau_+` of :math:`\|z + \tau d\|_M = \Delta`.

    Solves :math:`(d^\top M d)\tau^2 + 2 (z^\top M d)\tau + z^\top M z - \Delta^2 = 0`
    for :math:`\|z\|_M \le \Delta`, given ``zz`` :math:`= z^\top M z`, ``zd``
    :math:`= z^\top M d` and ``dd`` :math:`= d^\top M d > 0`, with the
    cancellation-free form of the quadratic formula.
    """
    zz_minus = zz - radius * radius
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
    preconditioner: Callable[[np.ndarray], np.ndarray] | None = None,
    keep_pairs: int = 0,
) -> SteihaugResult:
    r"""Preconditioned CG-Steihaug (N&W Alg 7.2): CG on :math:`Hp = -g` inside the region.

    With :math:`P = M^{-1}` (the identity without ``preconditioner``), from :math:`z_0 =
    0`, :math:`r_0 = g`, :math:`y_0 = P r_0`, :math:`d_0 = -y_0`, iteration :math:`j`:

    1. if :math:`d_j` has non-positive curvature (the scale-invariant test
       :func:`~optbench.solvers.truncated_cg.has_nonpositive_curvature`), return
       :math:`z_j + \tau d_j` on the boundary, with whichever root :math:`\tau` of
       :math:`\|z_j + \tau d_j\|_M = \Delta` gives the lower model value;
    2. :math:`\alpha_j = r_j^\top y_j / d_j^\top H d_j`; if
       :math:`\|z_j + \alpha_j d_j\|_M \ge \Delta` return :math:`z_j + \tau d_j` with
       :math:`\tau \ge 0` on the boundary;
    3. :math:`z_{j+1} = z_j + \alpha_j d_j`, :math:`r_{j+1} = r_j + \alpha_j H d_j`;
       return :math:`z_{j+1}` if :math:`\|r_{j+1}\|_2 \le` ``tolerance`` (the residual
       of the Newton equations, whatever :math:`P`);
    4. :math:`y_{j+1} = P r_{j+1}`, :math:`\beta_j = r_{j+1}^\top y_{j+1} / r_j^\top
       y_j`, :math:`d_{j+1} = -y_{j+1} + \beta_j d_j`.

    :math:`M` is never applied: the :math:`M`-inner products follow from the CG scalars
    (Gould, Lucidi, Roma & Toint 1999, eq 2.6; Conn, Gould & Toint, *Trust-Region
    Methods*, 2000, Sec 7.5.1), since :math:`M d_0 = -r_0` and :math:`r_{j+1} \perp d_j`:

    .. math::
        z_{j+1}^\top M z_{j+1} = z_j^\top M z_j + 2\alpha_j z_j^\top M d_j
            + \alpha_j^2 d_j^\top M d_j, \quad
        z_{j+1}^\top M d_{j+1} = \beta_j (z_j^\top M d_j + \alpha_j d_j^\top M d_j),
        \quad
        d_{j+1}^\top M d_{j+1} = r_{j+1}^\top y_{j+1} + \beta_j^2 d_j^\top M d_j .

    Without a preconditioner the three products are computed directly (the 2-norm
    iteration of N&W Alg 7.2). The model value is tracked without extra products: by
    conjugacy :math:`m(z_{j+1}) = m(z_j) - \frac12 \alpha_j r_j^\top y_j`, and on the
    boundary :math:`m(z_j + \tau d_j) = m(z_j) + \tau r_j^\top d_j + \frac12 \tau^2
    d_j^\top H d_j`. The iterates' :math:`M`-norms increase (N&W Thm 7.3 applied to the
    problem in the variables :math:`M^{1/2} p`), so the first boundary crossing is the
    only one. After ``max_iter`` iterations the last iterate is returned.

    Parameters
    ----------
    hvp : callable
        :math:`v \mapsto \nabla^2 f(x_k) v`; called once per iteration.
    grad : ndarray
        :math:`g = \nabla f(x_k)`.
    radius : float
        Trust radius :math:`\Delta > 0`, in the :math:`M`-norm.
    tolerance : float
        Absolute residual tolerance :math:`\eta_k \|g\|_2`.
    max_iter : int
        Cap on CG iterations, at least 1.
    curvature_tol : float
        :math:`\tau` of the curvature test.
    preconditioner : callable, optional
        :math:`v \mapsto P v = M^{-1} v`, symmetric positive definite (e.g.
        :meth:`~optbench.solvers.quasi_newton.LimitedMemoryInverse.apply`).
    keep_pairs : int
        How many of the run's last curvature pairs to return in ``pairs``; the
        direction that crosses the boundary (positive curvature) contributes its pair.
    """
    grad = np.asarray(grad, dtype=float)
    precondition = preconditioner if preconditioner is not None else _identity
    direct = preconditioner is None  # 2-norm: compute the inner products themselves
    pairs: deque[CurvaturePair] = deque(maxlen=keep_pairs)
    z = np.zeros_like(grad)
    r = grad.copy()
    y = precondition(r)
    d = -y
    ry = float(r @ y)
    zz, zd, dd = 0.0, 0.0, ry  # z'Mz, z'Md, d'Md
    model = 0.0  # m(z_j)
    if norm2(r) <= tolerance:
        return SteihaugResult(z, 0.0, 0, "residual", False)
    for j in range(max_iter):
        hd = hvp(d)
        curvature = float(d @ hd)
        hvp_norm, direction_norm = norm2(hd), norm2(d)
        if not (math.isfinite(curvature) and math.isfinite(hvp_norm)):
            quantity = non_finite_quantity(hd, hvp_norm, direction_norm)
            return SteihaugResult(
                z, -model, j + 1, "non_finite", False, math.sqrt(zz), tuple(pairs), quantity
            )
        if direct:
            zd, dd = float(z @ d), float(d @ d)
        if has_nonpositive_curvature(curvature, direction_norm, hvp_norm, curvature_tol):
            slope = float(r @ d)
            candidates = [
                (model + tau * slope + 0.5 * tau * tau * curvature, tau)
                for tau in boundary_roots(zz, zd, dd, radius)
            ]
            best_model, tau = min(candidates)
            return SteihaugResult(
                z + tau * d, -best_model, j + 1, "negative_curvature", True, radius, tuple(pairs)
            )
        alpha = ry / curvature
        if keep_pairs:
            pairs.append((alpha * d, alpha * hd))
        z_next = z + alpha * d
        zz_next = float(z_next @ z_next) if direct else zz + alpha * (2.0 * zd + alpha * dd)
        if zz_next >= radius * radius:
            tau = boundary_roots(zz, zd, dd, radius)[1]
            boundary_model = model + tau * float(r @ d) + 0.5 * tau * tau * curvature
            return SteihaugResult(
                z + tau * d, -boundary_model, j + 1, "boundary", True, radius, tuple(pairs)
            )
        z, zz = z_next, zz_next
        model -= 0.5 * alpha * ry
        r += alpha * hd
        if norm2(r) <= tolerance:
            return SteihaugResult(z, -model, j + 1, "residual", False, math.sqrt(zz), tuple(pairs))
        y = precondition(r)
        ry_next = float(r @ y)
        beta = ry_next / ry
        zd, dd = beta * (zd + alpha * dd), ry_next + beta * beta * dd
        d = -y + beta * d
        ry = ry_next
    return SteihaugResult(z, -model, max_iter, "max_iter", False, math.sqrt(zz), tuple(pairs))


def _identity(v: np.ndarray) -> np.ndarray:
    return v
