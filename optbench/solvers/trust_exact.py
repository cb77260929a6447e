r"""Nearly exact trust-region subproblem (N&W Alg. 4.3, Moré–Sorensen), hard case included.

The subproblem :math:`\min_p g^\top p + \tfrac12 p^\top B p`, :math:`\|p\|_2 \le \Delta`,
has a global solution :math:`p^\star` with a multiplier :math:`\lambda \ge 0`
(N&W Thm. 4.1):

.. math:: (B + \lambda I)\,p^\star = -g, \qquad \lambda(\Delta - \|p^\star\|) = 0,
          \qquad B + \lambda I \succeq 0 .

:func:`exact_subproblem` follows N&W Alg. 4.3: if :math:`B \succ 0` and the Newton step
:math:`-B^{-1}g` lies inside, it is the answer (:math:`\lambda = 0`); otherwise Newton's
method on the secular equation :math:`\phi(\lambda) = 1/\Delta - 1/\|p(\lambda)\| = 0`
(N&W eq. 4.39), whose step is

.. math:: \lambda \leftarrow \lambda + \Bigl(\frac{\|p\|}{\|q\|}\Bigr)^2
          \frac{\|p\| - \Delta}{\Delta}, \qquad \|q\|^2 = p^\top (B + \lambda I)^{-1} p
          \qquad\text{(N&W eq. 4.44)},

safeguarded to the bracket :math:`(\max(0, -\lambda_1),\ \|g\|/\Delta - \lambda_1]`
(bisection when a step leaves it; Moré & Sorensen 1983, SIAM J. Sci. Stat. Comput.
4(3), 553–572). The quantities :math:`\|p\|`, :math:`\|q\|` are evaluated in the
eigenbasis of :math:`B` (one ``eigh`` per subproblem, :math:`B = Q \Lambda Q^\top`,
:math:`\tilde g = Q^\top g`, :math:`\|p(\lambda)\|^2 = \sum_i \tilde g_i^2 /
(\lambda_i + \lambda)^2`) instead of by a Cholesky factorization per iteration, which
gives the same iterates and the smallest eigenpair that the hard case needs.

*Hard case* (N&W Sec. 4.3, "the hard case"): when :math:`g` is orthogonal to the
eigenspace of :math:`\lambda_1 < 0` (its component there at most
``1e-10`` :math:`\|g\|`) and :math:`\|(B - \lambda_1 I)^{+} g\| < \Delta`, no
:math:`\lambda > -\lambda_1` reaches the boundary; the solution is

.. math:: p^\star = -(B - \lambda_1 I)^{+} g + \tau z, \qquad
          \|p^\star\| = \Delta \qquad\text{(N&W eq. 4.45)}

with :math:`z` a unit eigenvector of :math:`\lambda_1`.
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

#: Relative accuracy of :math:`\|p\|` against :math:`\Delta` on the boundary.
BOUNDARY_TOLERANCE = 1e-10
#: Largest number of secular-equation iterations.
MAX_ITERATIONS = 100
#: Relative size below which g's component in the lowest eigenspace counts as zero.
HARD_CASE_TOLERANCE = 1e-10


def exact_subproblem(hessian: np.ndarray, g: np.ndarray, radius: float) -> ModelStep:
    """The global minimizer of the trust-region model (N&W Alg. 4.3 with the hard case)."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    g_tilde = vectors.T @ g
    smallest = float(eigenvalues[0])
    scale = max(float(np.max(np.abs(eigenvalues))), 1.0)
    if smallest > 0:
        newton = -(g_tilde / eigenvalues)
        if norm2(newton) <= radius:
            return ModelStep(vectors @ newton, False, {"lambda": 0.0, "kind": "newton"})
    lowest = eigenvalues <= smallest + 1e-12 * scale
    g_norm = norm2(g)
    if smallest <= 0 and norm2(g_tilde[lowest]) <= HARD_CASE_TOLERANCE * max(g_norm, 1e-300):
        others = ~lowest
        partial = np.zeros_like(g_tilde)
        partial[others] = -g_tilde[others] / (eigenvalues[others] - smallest)
        partial_norm = norm2(partial)
        if partial_norm < radius:
            tau = math.sqrt(radius**2 - partial_norm**2)
            partial[int(np.argmax(lowest))] += tau  # the first eigenvector of lambda_1
            info = {"lambda": -smallest, "kind": "hard_case", "iterations": 0}
            return ModelStep(vectors @ partial, True, info)

    def norms(lam: float) -> tuple[float, float]:
        shifted = eigenvalues + lam
        p_norm = norm2(g_tilde / shifted)
        q_norm = math.sqrt(float(np.sum(g_tilde**2 / shifted**3)))
        return p_norm, q_norm

    lower = max(0.0, -smallest)
    upper = max(lower, g_norm / radius - smallest)
    lam = upper
    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        if not lower < lam <= upper:
            lam = 0.5 * (lower + upper) if upper > lower else upper
        p_norm, q_norm = norms(lam)
        if abs(p_norm - radius) <= BOUNDARY_TOLERANCE * radius:
            break
        if p_norm > radius:
            lower = lam
        else:
            upper = lam
        if upper - lower <= 1e-15 * max(upper, 1.0):
            break
        lam = lam + (p_norm / q_norm) ** 2 * (p_norm - radius) / radius
    step = vectors @ (-g_tilde / (eigenvalues + lam))
    info = {"lambda": lam, "kind": "boundary", "iterations": iterations}
    return ModelStep(step, True, info)


@SOLVERS.register("trust_exact")
@dataclass(frozen=True)
class TrustExact(DenseModelTrustRegion):
    r"""Trust region with the nearly exact subproblem (N&W Alg. 4.3, Moré–Sorensen), dense H.

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
        return exact_subproblem(hessian, g, radius)
