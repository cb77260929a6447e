r"""The dogleg trust-region subproblem (N&W Sec. 4.1), for positive definite models.

With :math:`B \succ 0` the dogleg path runs from 0 to the unconstrained minimizer
along the steepest-descent direction,
:math:`p^U = -\frac{g^\top g}{g^\top B g}\, g` (N&W eq. 4.15), then straight to the
Newton step :math:`p^B = -B^{-1} g`:

.. math:: \tilde p(\tau) = \begin{cases} \tau p^U & 0 \le \tau \le 1 \\
          p^U + (\tau - 1)(p^B - p^U) & 1 \le \tau \le 2 \end{cases}
          \qquad\text{(N&W eq. 4.16)};

:func:`dogleg_subproblem` returns :math:`p^B` when it lies inside the region, else the
point where the path leaves it (:math:`\|\tilde p\|` increases along the path, N&W
Lemma 4.2): :math:`-\Delta g/\|g\|` when :math:`\|p^U\| \ge \Delta`, otherwise the
root :math:`\tau \in [1, 2]` of :math:`\|p^U + (\tau - 1)(p^B - p^U)\|^2 = \Delta^2`.

When the Cholesky factorization of :math:`B` fails (not positive definite) it returns
the Cauchy point (N&W eq. 4.11–4.12), :math:`-\tau_c \Delta g/\|g\|` with
:math:`\tau_c = 1` if :math:`g^\top B g \le 0`, else
:math:`\min(\|g\|^3/(\Delta\, g^\top B g), 1)`: the dogleg is defined for positive
definite models only, and the Cauchy point keeps global convergence (N&W Thm. 4.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.registry import SOLVERS
from optbench.solvers.dense_hessian_model import (
    DenseModelTrustRegion,
    ModelStep,
)


def cauchy_point(hessian: np.ndarray, g: np.ndarray, radius: float) -> np.ndarray:
    """The Cauchy point of N&W eq. 4.11–4.12."""
    g_norm = norm2(g)
    curvature = float(g @ (hessian @ g))
    tau = 1.0 if curvature <= 0 else min(g_norm**3 / (radius * curvature), 1.0)
    return -(tau * radius / g_norm) * g


def dogleg_subproblem(hessian: np.ndarray, g: np.ndarray, radius: float) -> ModelStep:
    """The dogleg step (N&W Sec. 4.1); the Cauchy point when B is not positive definite."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        factor = cho_factor(hessian, lower=True, check_finite=False)
    except LinAlgError:
        step = cauchy_point(hessian, g, radius)
        on_boundary = math.isclose(norm2(step), radius, rel_tol=1e-12)
        return ModelStep(step, on_boundary, {"kind": "cauchy"})
    newton = -cho_solve(factor, g, check_finite=False)
    if norm2(newton) <= radius:
        return ModelStep(newton, False, {"kind": "newton"})
    g_dot_g = float(g @ g)
    steepest = -(g_dot_g / float(g @ (hessian @ g))) * g
    steepest_norm = norm2(steepest)
    if steepest_norm >= radius:
        return ModelStep(-(radius / math.sqrt(g_dot_g)) * g, True, {"kind": "steepest"})
    # ||p_U + s d||^2 = radius^2 with d = p_B - p_U, s = tau - 1 in [0, 1]
    d = newton - steepest
    a = float(d @ d)
    b = float(steepest @ d)
    c = steepest_norm**2 - radius**2  # < 0
    s = -c / (b + math.sqrt(b * b - a * c))  # the positive root, without cancellation
    return ModelStep(steepest + s * d, True, {"kind": "dogleg", "tau": 1.0 + s})


@SOLVERS.register("dogleg")
@dataclass(frozen=True)
class Dogleg(DenseModelTrustRegion):
    r"""Dogleg trust region (N&W Sec. 4.1), dense Hessian; Cauchy point when B is not PD.

    Parameters
    ----------
    initial_radius : float
        :math:`\Delta_0 > 0`.
    max_radius : float
        :math:`\Delta_{\max} \ge \Delta_0`.
    eta : float
        Acceptance threshold :math:`\eta \in [0, 1/4)`.
    """

    def model_step(self, hessian: np.ndarray, g: np.ndarray, radius: float) -> ModelStep:
        return dogleg_subproblem(hessian, g, radius)
