r"""Line-search Newton-CG (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg 7.1).

A truncated-CG direction on Hessian-vector products
(:func:`~optbench.solvers.truncated_cg.truncated_cg`), preconditioned by default with
the limited-memory BFGS matrix of the previous CG run's curvature pairs (Morales &
Nocedal 2000), followed by a strong Wolfe line search
(:func:`~optbench.solvers.linesearch.strong_wolfe`, N&W Alg 3.5/3.6) that tries the
Newton step :math:`\alpha = 1` first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_integer
from optbench.solvers.base import Solver, State
from optbench.solvers.linesearch import check_line_search_constants, strong_wolfe
from optbench.solvers.ray import Ray
from optbench.solvers.truncated_cg import (
    CurvaturePair,
    LimitedMemoryPreconditioner,
    cg_iteration_cap,
    forcing_term,
    relative_grad_norm,
    truncated_cg,
    validate_cg_options,
)

#: ``preconditioner`` choices: none (plain CG, N&W Alg 7.1) or L-BFGS from CG pairs.


@dataclass
class NewtonCGState(State):
    """State of :class:`NewtonCG`: the iterate, f and g there, :math:`\\|g_0\\|_2` (the
    forcing term's scale) and the curvature pairs of the last CG run that made any."""

    initial_grad_norm: float = math.nan
    curvature_pairs: tuple[CurvaturePair, ...] = ()


@SOLVERS.register("newton_cg")
@dataclass(frozen=True)
class NewtonCG(Solver):
    r"""Line-search Newton-CG (N&W Alg 7.1): preconditioned truncated CG, then strong Wolfe.

    Iteration :math:`k` runs CG on :math:`\nabla^2 f(x_k)\, p = -g_k` from 0 until

    .. math:: \|r_j\|_2 \le \eta_k \|g_k\|_2, \qquad
              \eta_k = \min\bigl(0.5, \sqrt{\gamma_k}\bigr) \text{ (sqrt)},\;
              \min(0.5, \gamma_k) \text{ (linear)} \text{ or } c \text{ (constant)},

    with :math:`\gamma_k = \|g_k\|_2 / \|g_0\|_2` (N&W eq 7.3 with the gradient
    measured relative to the start, see
    :func:`~optbench.solvers.truncated_cg.forcing_term`), or until a CG direction has
    non-positive curvature, :math:`d^\top H d \le \tau \|d\|_2 \|Hd\|_2` (then
    :math:`p_k = -g_k` at the first CG iteration, the last CG iterate otherwise), or
    until ``max_cg_iter`` iterations. With ``preconditioner="lbfgs"`` CG is preconditioned
    (N&W Alg 5.3) by the L-BFGS inverse-Hessian approximation of the last
    ``preconditioner_memory`` curvature pairs :math:`(\alpha_j d_j, \alpha_j H d_j)` of
    the previous CG run
    (:class:`~optbench.solvers.truncated_cg.LimitedMemoryPreconditioner`, Morales &
    Nocedal 2000): successive Newton systems are similar, and the pairs carry what the
    previous run learnt about the Hessian. The residual test stays on the Newton
    equations themselves. Then

    .. math:: x_{k+1} = x_k + \alpha_k p_k

    with :math:`\alpha_k` satisfying the strong Wolfe conditions (:math:`c_1, c_2`),
    :math:`\alpha = 1` tried first. Every trial of the line search is one fused
    value-and-gradient; the accepted one is the last evaluated, so f and g at
    :math:`x_{k+1}` are never evaluated again.

    All tests, and the preconditioner, are invariant under scaling of f and under
    stacking identical independent blocks, so iteration and oracle counts on a
    separable problem do not depend on the number of blocks.

    Parameters
    ----------
    forcing : {"sqrt", "linear", "constant"}
        Forcing rule of the CG residual test (superlinear, quadratic, linear rate).
    forcing_constant : float
        :math:`\eta_k` for ``forcing="constant"``, in (0, 1).
    max_cg_iter : int or None
        Cap on CG iterations (HVPs) per outer iteration; ``None`` means ``20 n``
        (:func:`~optbench.solvers.truncated_cg.cg_iteration_cap`).
    curvature_tol : float
        :math:`\tau` of the scale-invariant curvature test, in [0, 1).
    preconditioner : {"lbfgs", "none"}
        Precondition CG with the previous run's curvature pairs, or plain CG.
    preconditioner_memory : int
        Number :math:`m \ge 1` of pairs kept (the last ones of the run); 10 is the usual
        L-BFGS memory (N&W Sec 7.2 suggest 3 to 20; scipy's L-BFGS-B uses 10).
    c1, c2 : float
        Strong Wolfe constants, :math:`0 < c_1 < c_2 < 1`.
    max_line_search_evals : int
        Cap on line-search evaluations per iteration.
    """

    forcing: str = "sqrt"
    forcing_constant: float = 0.1
    max_cg_iter: int | None = None
    curvature_tol: float = 1e-12
    preconditioner: str = "lbfgs"
    preconditioner_memory: int = 10
    c1: float = 1e-4
    c2: float = 0.9
    max_line_search_evals: int = 50

    def __post_init__(self) -> None:
        validate_cg_options(self)
        check_line_search_constants(self.c1, c2=self.c2)
        evals = self.max_line_search_evals
        if not is_integer(evals) or evals < 1:
            raise ValueError(f"max_line_search_evals: must be an integer >= 1, got {evals!r}")

    def init(self, oracle: Oracle, x0: np.ndarray) -> NewtonCGState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return NewtonCGState(x=x, f=f, g=g, initial_grad_norm=norm2(g))

    def step(self, oracle: Oracle, state: NewtonCGState) -> NewtonCGState:  # type: ignore[override]
        x, f, g = state.x, state.f, state.g
        grad_norm = norm2(g)
        ratio = relative_grad_norm(grad_norm, state.initial_grad_norm)
        eta_k = forcing_term(self.forcing, ratio, self.forcing_constant)
        pairs = state.curvature_pairs  # empty with preconditioner="none"
        cg = truncated_cg(
            lambda v: oracle.hvp(x, v),
            g,
            tolerance=eta_k * grad_norm,
            max_iter=cg_iteration_cap(self.max_cg_iter, g.size),
            curvature_tol=self.curvature_tol,
            preconditioner=LimitedMemoryPreconditioner(pairs).apply if pairs else None,
            keep_pairs=self.preconditioner_memory if self.preconditioner == "lbfgs" else 0,
        )
        info = {"cg_iters": cg.iterations, "cg_reason": cg.reason, "preconditioned": bool(pairs)}
        pairs = cg.pairs or pairs  # a run without a positive-curvature step keeps the old
        if cg.reason == "non_finite":
            return state.replace(info=info).failed(f"newton_cg: {cg.non_finite}")
        slope0 = float(g @ cg.direction)
        ray = Ray(oracle, x, cg.direction)
        search = strong_wolfe(
            ray.value_and_slope,
            f,
            slope0,
            initial_step=1.0,
            c1=self.c1,
            c2=self.c2,
            max_evals=self.max_line_search_evals,
        )
        info["line_search_evals"] = search.evaluations
        if not search.success:
            return state.replace(info=info).failed(f"newton_cg: line search: {search.reason}")
        x_new, f_new, g_new = ray.point(search.step_size)
        return state.replace(
            x=x_new,
            f=f_new,
            g=g_new,
            step_size=search.step_size,
            curvature_pairs=pairs,
            info=info,
        )
