r"""Line-search Newton-CG (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg 7.1).

A truncated-CG direction on Hessian-vector products
(:func:`~optbench.solvers.truncated_cg.truncated_cg`), preconditioned by default with
the limited-memory BFGS matrix of the previous CG run's curvature pairs (Morales &
Nocedal 2000), followed by a strong Wolfe line search
(:func:`~optbench.solvers.linesearch.strong_wolfe`, N&W Alg 3.5/3.6) that tries the
Newton step :math:`\alpha = 1` first. It is the composition of the truncated-CG
direction (:class:`~optbench.solvers.truncated_cg.TruncatedCGOptions`) with a
:class:`~optbench.solvers.line_search_method.LineSearchMethod`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_integer
from optbench.solvers.line_search_method import DirectionResult, LineSearchMethod
from optbench.solvers.linesearch import (
    LineSearch,
    StrongWolfeSearch,
    check_line_search_constants,
)
from optbench.solvers.truncated_cg import HessianFreeState, TruncatedCGOptions, truncated_cg

#: State of :class:`NewtonCG`: the iterate, f and g there, :math:`\|g_0\|_2` (the
#: forcing term's scale) and the curvature pairs of the last CG run that made any.
NewtonCGState = HessianFreeState


@SOLVERS.register("newton_cg")
@dataclass(frozen=True)
class NewtonCG(LineSearchMethod[HessianFreeState], TruncatedCGOptions):
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
    (:class:`~optbench.solvers.quasi_newton.LimitedMemoryInverse`, Morales &
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

    c1: float = 1e-4
    c2: float = 0.9
    max_line_search_evals: int = 50

    failure_prefix = "newton_cg: "

    def __post_init__(self) -> None:
        self.check_cg_options()
        check_line_search_constants(self.c1, c2=self.c2)
        evals = self.max_line_search_evals
        if not is_integer(evals) or evals < 1:
            raise ValueError(f"max_line_search_evals: must be an integer >= 1, got {evals!r}")

    def init(self, oracle: Oracle, x0: np.ndarray) -> HessianFreeState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return HessianFreeState(x=x, f=f, g=g, initial_grad_norm=norm2(g))

    def direction(self, oracle: Oracle, state: HessianFreeState) -> DirectionResult:
        """Truncated CG on the Newton equations (N&W Alg 7.1), preconditioned by the last pairs."""
        x = state.x
        settings = self.cg_settings(state)
        cg = truncated_cg(lambda v: oracle.hvp(x, v), state.g, **settings)
        info = {
            "cg_iters": cg.iterations,
            "cg_reason": cg.reason,
            "preconditioned": settings["preconditioner"] is not None,
        }
        # A run without a positive-curvature step keeps the old pairs.
        updates = {"curvature_pairs": cg.pairs or state.curvature_pairs}
        if cg.reason == "non_finite":
            return DirectionResult(None, f"newton_cg: {cg.non_finite}", info, updates)
        return DirectionResult(cg.direction, "", info, updates)

    def make_line_search(self) -> LineSearch:
        """Strong Wolfe (N&W Alg 3.5/3.6) with ``c1``, ``c2`` and ``max_line_search_evals``."""
        return StrongWolfeSearch(self.c1, self.c2, self.max_line_search_evals)
