r"""Quasi-Newton memory: limited-memory BFGS pairs and the dense BFGS inverse update.

One home for the secant matrices of Nocedal & Wright, *Numerical Optimization*, 2nd
ed., Ch. 6-7:

* :class:`LimitedMemoryInverse`: the L-BFGS inverse-Hessian approximation of a few
  curvature pairs :math:`(s_j, y_j)`, the matrix of the two-loop recursion (N&W Alg
  7.4) with :math:`H_k^0 = \gamma_k I`, :math:`\gamma_k` of N&W eq 7.20, applied in
  compact form. It is the direction of the ``lbfgs`` solver and the preconditioner of
  ``newton_cg`` and ``trust_ncg``;
* :func:`bfgs_inverse_update`: the dense BFGS update of the inverse Hessian (N&W eq
  6.17), the direction of the ``bfgs`` solver, and :func:`initial_inverse_scaling`
  (N&W eq 6.20).

The module is a leaf of the solvers: numpy (and scipy's triangular solve) only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A curvature pair :math:`(s_j, y_j)`: a step and the change of gradient along it
#: (for a CG run :math:`(\alpha_j d_j, \alpha_j H d_j)`).
CurvaturePair = tuple[np.ndarray, np.ndarray]


def admissible_pair(s: np.ndarray, y: np.ndarray, tolerance: float = 1e-10) -> bool:
    r"""Whether :math:`(s, y)` may enter a BFGS update: :math:`s^\top y > \tau \|s\|_2 \|y\|_2`.

    The curvature condition :math:`s^\top y > 0` (N&W eq 6.7), which a Wolfe step
    guarantees in exact arithmetic, with a scale-invariant margin so that a pair whose
    curvature is zero up to rounding never makes the update indefinite (the cosine
    between :math:`s` and :math:`y` must exceed ``tolerance``).
    """
    sy = float(s @ y)
    return sy > tolerance * float(np.sqrt(s @ s)) * float(np.sqrt(y @ y))


class LimitedMemoryInverse:
    r"""The L-BFGS inverse-Hessian approximation of a few curvature pairs.

    The ``lbfgs`` solver builds it from its last :math:`m` steps and gradient changes
    (N&W Alg 7.5). As a preconditioner: Morales & Nocedal (2000, "Automatic
    preconditioning by limited memory quasi-Newton updating", SIAM J. Optim. 10(4),
    1079-1096) precondition the CG run of a
    Hessian-free Newton iteration with the limited-memory BFGS matrix built from pairs
    :math:`(s_j, y_j) = (\alpha_j d_j, \alpha_j \nabla^2 f(x_{k-1}) d_j)` that the previous
    CG run produced: they satisfy :math:`y_j = \nabla^2 f(x_{k-1}) s_j` exactly, so
    :math:`P` reproduces the inverse of the previous Hessian on the directions CG
    explored, and the next, similar system needs fewer products.

    :math:`P` is the matrix of the L-BFGS two-loop recursion (N&W Alg 7.4) from
    :math:`H_0 = \gamma I`, :math:`\gamma = s^\top y / y^\top y` of the newest pair (N&W
    eq 7.20), applied in the compact form of Byrd, Nocedal & Schnabel (1994, Math.
    Program. 63, 129-156, Thm 2.2): with :math:`S = [s_j]`, :math:`Y = [y_j]`,
    :math:`R` the upper triangle of :math:`S^\top Y` and :math:`D` its diagonal,

    .. math::
        P v = \gamma v + S w_1 + \gamma Y w_2, \qquad
        w_2 = -R^{-1} S^\top v, \qquad
        w_1 = R^{-\top}\bigl((D + \gamma Y^\top Y)\, R^{-1} S^\top v - \gamma Y^\top v\bigr),

    a few matrix-vector products with the :math:`m \times n` blocks instead of
    :math:`4m` vector operations.

    :math:`P` is symmetric positive definite because every pair has :math:`s^\top y =
    \alpha_j^2\, d_j^\top H d_j > 0` (CG only steps along positive curvature). It is
    unchanged when f is scaled (:math:`y` and :math:`P^{-1}` scale alike, so the CG
    iterates do not) and acts block by block on identical independent blocks.

    Parameters
    ----------
    pairs : sequence of (ndarray, ndarray)
        Curvature pairs :math:`(s_j, y_j)`, oldest first, each with :math:`s^\top y > 0`.
    """

    def __init__(self, pairs: Sequence[CurvaturePair]) -> None:
        if not pairs:
            raise ValueError("pairs: need at least one curvature pair")
        self.s = np.array([s for s, _ in pairs], dtype=float)  # m x n, one pair a row
        self.y = np.array([y for _, y in pairs], dtype=float)
        sy = self.s @ self.y.T
        if not np.all(np.diag(sy) > 0):
            raise ValueError("pairs: every pair needs s'y > 0")
        self.gamma = float(sy[-1, -1] / (self.y[-1] @ self.y[-1]))
        from scipy.linalg import solve_triangular  # here: `optbench list` must start fast

        self.r_inv = solve_triangular(np.triu(sy), np.eye(len(sy)))
        self.middle = np.diag(np.diag(sy)) + self.gamma * (self.y @ self.y.T)

    def apply(self, v: np.ndarray) -> np.ndarray:
        r""":math:`P v`: the result of the two-loop recursion (N&W Alg 7.4), in compact form."""
        u = self.r_inv @ (self.s @ v)
        w1 = self.r_inv.T @ (self.middle @ u - self.gamma * (self.y @ v))
        return self.gamma * v + self.s.T @ w1 - self.gamma * (self.y.T @ u)


def initial_inverse_scaling(s: np.ndarray, y: np.ndarray) -> float:
    r""":math:`\gamma = s^\top y / y^\top y` (N&W eq 6.20 and 7.20).

    The scale of :math:`H_0 = \gamma I` before the first BFGS update (N&W eq 6.20) and
    of :math:`H_k^0` in L-BFGS (eq 7.20): it matches the size of the true inverse
    Hessian along the newest step.
    """
    return float(s @ y) / float(y @ y)


def bfgs_inverse_update(inverse: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""The BFGS update of the inverse Hessian approximation (N&W eq 6.17), in place.

    .. math::
        H_{k+1} = (I - \rho_k s_k y_k^\top)\, H_k\, (I - \rho_k y_k s_k^\top)
                  + \rho_k s_k s_k^\top, \qquad \rho_k = \frac{1}{y_k^\top s_k},

    expanded so that it costs two rank-one updates and one matrix-vector product:
    with :math:`u = H_k y_k`,

    .. math::
        H_{k+1} = H_k - \rho (s u^\top + u s^\top)
                  + \bigl(\rho^2\, y^\top u + \rho\bigr) s s^\top .

    The result is symmetric positive definite when :math:`H_k` is and
    :math:`s^\top y > 0` (N&W Sec 6.1); the caller checks the latter
    (:func:`admissible_pair`).

    Parameters
    ----------
    inverse : ndarray
        :math:`H_k`, symmetric :math:`n \times n`; overwritten with :math:`H_{k+1}`.
    s, y : ndarray
        :math:`s_k = x_{k+1} - x_k`, :math:`y_k = \nabla f_{k+1} - \nabla f_k`.

    Returns
    -------
    ndarray
        ``inverse``, updated.
    """
    rho = 1.0 / float(y @ s)
    u = inverse @ y
    coefficient = rho * rho * float(y @ u) + rho
    inverse -= rho * (np.outer(s, u) + np.outer(u, s))
    inverse += coefficient * np.outer(s, s)
    return inverse
