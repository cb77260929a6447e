r"""Truncated conjugate gradients for the Newton equations, on Hessian-vector products.

The inner solver of line-search Newton-CG (Nocedal & Wright, *Numerical
Optimization*, 2nd ed., Alg 7.1): CG applied to :math:`\nabla^2 f(x_k)\, p = -\nabla
f(x_k)` from :math:`z_0 = 0`, stopped early by a forcing term, by negative curvature
or by an iteration cap. The Hessian is only touched through products ``hvp(d)``.

This module is the *truncated-CG direction part* of the solvers that use it
(``newton_cg`` with a line search, ``trust_ncg`` through the Steihaug subproblem): the
forcing terms (N&W eq 7.3 and Thm 7.2), the scale-invariant curvature test, the
hyper-parameters both share (:class:`TruncatedCGOptions`, with their validation and the
per-iteration CG settings) and the state they both carry (:class:`HessianFreeState`).
The preconditioner built from the previous CG run's curvature pairs (Morales & Nocedal
2000) is the L-BFGS matrix of :mod:`optbench.solvers.quasi_newton`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from optbench.numerics import norm2
from optbench.scalars import is_integer, is_number
from optbench.solvers.base import EvaluatedState
from optbench.solvers.quasi_newton import CurvaturePair, LimitedMemoryInverse

#: Forcing rules for the inner residual test :math:`\|r\|_2 \le \eta_k \|g\|_2`.
FORCING_RULES = ("sqrt", "linear", "constant")
#: Preconditioners of the inner CG: none, or L-BFGS from the last run's curvature pairs.
PRECONDITIONERS = ("none", "lbfgs")

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

    The adaptive choices of Eisenstat & Walker (1996, SIAM J. Sci. Comput. 17(1),
    16-32) measure how well the last linear model predicted the new gradient; on a
    quadratic it predicts exactly, their :math:`\eta_k` falls to rounding level and CG
    solves far past any useful accuracy (on the least-squares row of
    ``benchmarks/vs_scipy.py``, plain CG: choice 1 spent the whole cap of 4000 products,
    choice 2 about 3100, ``sqrt`` 1300-2300 over five seeds). Only the stopping
    tolerance, which the runner owns, could bound that last solve, so they are not
    offered.

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


def non_finite_quantity(hd: np.ndarray, hvp_norm: float, direction_norm: float) -> str:
    r"""Name the inner-CG quantity that is not finite, for a solver's failure message.

    Called once :math:`d^\top H d` or :math:`\|Hd\|_2` is not finite. Either the
    Hessian-vector product itself has a non-finite entry (the problem's fault), or it
    is finite and CG's own arithmetic overflowed: the curvature :math:`d^\top H d`
    (e.g. Rosenbrock from :math:`x_0 = (10^{40}, 10^{40})`, where :math:`\|d\| \approx
    10^{122}` and :math:`\|Hd\| \approx 10^{206}`), or the norm :math:`\|Hd\|_2`
    itself, beyond the largest float.

    Parameters
    ----------
    hd : ndarray
        The Hessian-vector product :math:`Hd`.
    hvp_norm : float
        :math:`\|Hd\|_2`.
    direction_norm : float
        :math:`\|d\|_2`.
    """
    if not math.isfinite(hvp_norm) and not np.isfinite(hd).all():
        return "non-finite Hessian-vector product"
    if not math.isfinite(hvp_norm):
        return "the norm of the Hessian-vector product overflowed (its entries are finite)"
    return (
        f"CG's curvature d'Hd overflowed (|d| = {direction_norm:.3g}, |Hd| = {hvp_norm:.3g}); "
        "the Hessian-vector product is finite"
    )


def cg_iteration_cap(max_cg_iter: int | None, dim: int) -> int:
    """The CG iteration cap: ``max_cg_iter``, or ``20 * dim`` when it is ``None``.

    CG terminates in ``dim`` iterations only in exact arithmetic; on ill-conditioned
    Hessians rounding delays it, so the default leaves room (as scipy's Newton-CG
    does) and the forcing term or the curvature test ends the run first.
    """
    return max_cg_iter if max_cg_iter is not None else DEFAULT_CG_CAP_PER_DIM * dim


class CGSettings(TypedDict):
    """Keyword arguments of :func:`truncated_cg` and
    :func:`~optbench.solvers.steihaug.steihaug_cg` for one outer iteration."""

    tolerance: float
    max_iter: int
    curvature_tol: float
    preconditioner: Callable[[np.ndarray], np.ndarray] | None
    keep_pairs: int


@dataclass
class HessianFreeState(EvaluatedState):
    r"""State of a solver whose direction is truncated CG on Hessian-vector products.

    Attributes
    ----------
    initial_grad_norm : float
        :math:`\|g_0\|_2`, the scale of the relative forcing term.
    curvature_pairs : tuple of (ndarray, ndarray)
        The curvature pairs of the last CG run that made any (the preconditioner of the
        next run); empty with ``preconditioner="none"``.
    """

    initial_grad_norm: float = math.nan
    curvature_pairs: tuple[CurvaturePair, ...] = ()


@dataclass(frozen=True)
class TruncatedCGOptions:
    r"""Hyper-parameters of the truncated-CG direction, shared by ``newton_cg`` and ``trust_ncg``.

    A solver lists this class among its bases (a frozen dataclass), calls
    :meth:`check_cg_options` in ``__post_init__`` and :meth:`cg_settings` at the start
    of each iteration.

    Parameters
    ----------
    forcing : {"sqrt", "linear", "constant"}
        Forcing rule of the CG residual test (:func:`forcing_term`).
    forcing_constant : float
        :math:`\eta_k` for ``forcing="constant"``, in (0, 1).
    max_cg_iter : int or None
        Cap on CG iterations (Hessian-vector products) per outer iteration; ``None``
        means ``20 n`` (:func:`cg_iteration_cap`).
    curvature_tol : float
        :math:`\tau` of the scale-invariant curvature test, in [0, 1).
    preconditioner : {"lbfgs", "none"}
        Precondition CG with the L-BFGS matrix of the previous run's curvature pairs
        (:class:`~optbench.solvers.quasi_newton.LimitedMemoryInverse`), or plain CG.
    preconditioner_memory : int
        Number :math:`m \ge 1` of pairs kept (the last ones of the run).
    """

    forcing: str = "sqrt"
    forcing_constant: float = 0.1
    max_cg_iter: int | None = None
    curvature_tol: float = 1e-12
    preconditioner: str = "lbfgs"
    preconditioner_memory: int = 10

    def check_cg_options(self) -> None:
        """Raise :class:`ValueError` naming the first invalid CG field and its allowed values."""
        forcing, constant = self.forcing, self.forcing_constant
        max_cg_iter, curvature_tol = self.max_cg_iter, self.curvature_tol
        if forcing not in FORCING_RULES:
            raise ValueError(f"forcing: must be one of {', '.join(FORCING_RULES)}, got {forcing!r}")
        if not is_number(constant) or not 0 < constant < 1:
            raise ValueError(f"forcing_constant: must be a number in (0, 1), got {constant!r}")
        if max_cg_iter is not None and not (is_integer(max_cg_iter) and max_cg_iter >= 1):
            raise ValueError(f"max_cg_iter: must be None or an integer >= 1, got {max_cg_iter!r}")
        if not is_number(curvature_tol) or not 0 <= curvature_tol < 1:
            raise ValueError(f"curvature_tol: must be a number in [0, 1), got {curvature_tol!r}")
        if self.preconditioner not in PRECONDITIONERS:
            raise ValueError(
                f"preconditioner: must be one of {', '.join(PRECONDITIONERS)}, "
                f"got {self.preconditioner!r}"
            )
        if not (is_integer(self.preconditioner_memory) and self.preconditioner_memory >= 1):
            raise ValueError(
                "preconditioner_memory: must be an integer >= 1, "
                f"got {self.preconditioner_memory!r}"
            )

    def cg_settings(self, state: HessianFreeState) -> CGSettings:
        r"""The CG settings of the iteration at ``state``.

        Residual tolerance :math:`\eta_k \|g_k\|_2` with the relative forcing term,
        the iteration cap, and the preconditioner of the previous run's pairs (none
        before the first run that made any, or with ``preconditioner="none"``).
        """
        grad_norm = norm2(state.g)
        ratio = relative_grad_norm(grad_norm, state.initial_grad_norm)
        eta_k = forcing_term(self.forcing, ratio, self.forcing_constant)
        pairs = state.curvature_pairs
        return CGSettings(
            tolerance=eta_k * grad_norm,
            max_iter=cg_iteration_cap(self.max_cg_iter, state.g.size),
            curvature_tol=self.curvature_tol,
            preconditioner=LimitedMemoryInverse(pairs).apply if pairs else None,
            keep_pairs=self.preconditioner_memory if self.preconditioner == "lbfgs" else 0,
        )


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
    pairs : tuple of (ndarray, ndarray)
        The last ``keep_pairs`` curvature pairs :math:`(s_j, y_j)` of the run, oldest
        first (empty unless ``keep_pairs > 0``).
    non_finite : str
        With ``reason == "non_finite"``, which quantity was not finite
        (:func:`non_finite_quantity`); empty otherwise.
    """

    direction: np.ndarray
    iterations: int
    reason: str
    residual_norm: float
    pairs: tuple[CurvaturePair, ...] = ()
    non_finite: str = ""


def truncated_cg(
    hvp: Callable[[np.ndarray], np.ndarray],
    grad: np.ndarray,
    *,
    tolerance: float,
    max_iter: int,
    curvature_tol: float = 1e-12,
    preconditioner: Callable[[np.ndarray], np.ndarray] | None = None,
    keep_pairs: int = 0,
) -> TruncatedCGResult:
    r"""Solve :math:`H p = -g` approximately by (preconditioned) CG from :math:`z_0 = 0`.

    N&W Alg 7.1 with the preconditioned CG of N&W Alg 5.3: with :math:`r_0 = g`,
    :math:`y_0 = P r_0`, :math:`d_0 = -y_0` (:math:`P \approx H^{-1}` symmetric positive
    definite, the identity without ``preconditioner``), each iteration is

    .. math::
        \alpha_j = \frac{r_j^\top y_j}{d_j^\top H d_j}, \quad
        z_{j+1} = z_j + \alpha_j d_j, \quad
        r_{j+1} = r_j + \alpha_j H d_j, \quad
        y_{j+1} = P r_{j+1}, \quad
        d_{j+1} = -y_{j+1} + \frac{r_{j+1}^\top y_{j+1}}{r_j^\top y_j} d_j ,

    and returns :math:`z_{j+1}` as soon as :math:`\|r_{j+1}\|_2 \le` ``tolerance`` (the
    residual of the Newton equations itself, whatever :math:`P`). When :math:`d_j` has
    non-positive curvature (:func:`has_nonpositive_curvature`) it returns :math:`d_0 =
    -Pg` (steepest descent :math:`-g` without preconditioner) at :math:`j = 0` and
    :math:`z_j` otherwise; after ``max_iter`` iterations it returns the last iterate.

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
    preconditioner : callable, optional
        :math:`v \mapsto P v`, symmetric positive definite (e.g.
        :meth:`~optbench.solvers.quasi_newton.LimitedMemoryInverse.apply`).
    keep_pairs : int
        How many of the run's last curvature pairs :math:`(\alpha_j d_j, \alpha_j H
        d_j)` to return in ``pairs`` (each has :math:`s^\top y > 0`).

    Returns
    -------
    TruncatedCGResult
    """
    grad = np.asarray(grad, dtype=float)
    precondition = preconditioner if preconditioner is not None else _identity
    pairs: deque[CurvaturePair] = deque(maxlen=keep_pairs)
    z = np.zeros_like(grad)
    r = grad.copy()
    y = precondition(r)
    d = -y
    ry = float(r @ y)
    residual_norm = norm2(r)
    if residual_norm <= tolerance:
        return TruncatedCGResult(z, 0, "residual", residual_norm)
    for j in range(max_iter):
        hd = hvp(d)
        curvature = float(d @ hd)
        hvp_norm, direction_norm = norm2(hd), norm2(d)
        if not (math.isfinite(curvature) and math.isfinite(hvp_norm)):
            quantity = non_finite_quantity(hd, hvp_norm, direction_norm)
            return TruncatedCGResult(
                z, j + 1, "non_finite", residual_norm, tuple(pairs), non_finite=quantity
            )
        if has_nonpositive_curvature(curvature, direction_norm, hvp_norm, curvature_tol):
            direction = -precondition(grad) if j == 0 else z
            return TruncatedCGResult(
                direction, j + 1, "negative_curvature", residual_norm, tuple(pairs)
            )
        alpha = ry / curvature
        z += alpha * d
        r += alpha * hd
        if keep_pairs:
            pairs.append((alpha * d, alpha * hd))
        residual_norm = norm2(r)
        if residual_norm <= tolerance:
            return TruncatedCGResult(z, j + 1, "residual", residual_norm, tuple(pairs))
        y = precondition(r)
        ry_next = float(r @ y)
        d = -y + (ry_next / ry) * d
        ry = ry_next
    return TruncatedCGResult(z, max_iter, "max_iter", residual_norm, tuple(pairs))


def _identity(v: np.ndarray) -> np.ndarray:
    return v
