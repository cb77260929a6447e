r"""Trust-region Newton-CG: Steihaug's CG inside the radius update of N&W Alg 4.1.

Each iteration solves the trust-region subproblem approximately with
:func:`~optbench.solvers.steihaug.steihaug_cg` on Hessian-vector products, optionally
preconditioned with the L-BFGS matrix of the previous CG run's curvature pairs (Morales
& Nocedal 2000) with the region in that preconditioner's norm, then compares the
actual with the predicted reduction (Nocedal & Wright, *Numerical Optimization*, 2nd
ed., Alg 4.1, Alg 7.2 and Sec 4.1 "scaling"). It is the composition of the
truncated-CG direction (:class:`~optbench.solvers.truncated_cg.TruncatedCGOptions`)
with the trust-region driver :class:`~optbench.solvers.trust_region.TrustRegionMethod`,
Steihaug's CG being the subproblem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.steihaug import steihaug_cg
from optbench.solvers.truncated_cg import HessianFreeState, TruncatedCGOptions
from optbench.solvers.trust_region import SubproblemResult, TrustRegionMethod, TrustRegionState


@dataclass
class TrustNCGState(TrustRegionState, HessianFreeState):
    """State of :class:`TrustNCG`: the trust-region state, :math:`\\|g_0\\|_2` and the
    curvature pairs of the last CG run that made any (a rejected step's run included)."""


@SOLVERS.register("trust_ncg")
@dataclass(frozen=True)
class TrustNCG(TruncatedCGOptions, TrustRegionMethod[TrustNCGState]):
    r"""Trust-region Newton-CG: preconditioned CG-Steihaug steps, radius update of N&W Alg 4.1.

    Iteration :math:`k` computes :math:`p_k` by CG-Steihaug (N&W Alg 7.2) in the region
    :math:`\|p\|_{M_k} \le \Delta_k` with residual tolerance :math:`\eta_k \|g_k\|_2`
    (forcing term as in ``newton_cg``), then

    .. math::
        \rho_k = \frac{f(x_k) - f(x_k + p_k)}{m_k(0) - m_k(p_k)}, \qquad
        \Delta_{k+1} = \begin{cases}
            \tfrac14 \|p_k\|_{M_k} & \rho_k < \tfrac14 \\
            \min(2\Delta_k, \Delta_{\max}) & \rho_k > \tfrac34,\ \|p_k\|_{M_k} = \Delta_k \\
            \Delta_k & \text{otherwise,}
        \end{cases}

    and :math:`x_{k+1} = x_k + p_k` if :math:`\rho_k > \eta`, else :math:`x_k`.
    The shrink uses :math:`\tfrac14\|p_k\|` instead of N&W's :math:`\tfrac14\Delta_k`
    (they are equal when the step is on the boundary): after an interior step is
    rejected, :math:`\tfrac14\Delta_k` could still contain the same step and repeat it.

    Work per iteration: the CG products, then f at the trial point. The trial point
    is evaluated fused (value and gradient, cost 1) when the previous trial was
    accepted, and value-only (cost 0.5, plus a gradient of cost 1 on acceptance)
    after a rejection, when another rejection is more likely: fusing pays when the
    acceptance probability exceeds 1/2. An accepted point is never evaluated again.
    A rejected step is still one iteration of the runner (x, f and g unchanged, the
    radius smaller, ``step_size = 0``). A non-finite trial value counts as a
    rejection.

    With ``preconditioner="lbfgs"`` CG is preconditioned, as in ``newton_cg``,
    by the L-BFGS inverse-Hessian approximation :math:`M_k^{-1}` of the last
    ``preconditioner_memory`` curvature pairs of the previous CG run
    (:class:`~optbench.solvers.quasi_newton.LimitedMemoryInverse`, Morales &
    Nocedal 2000), and the region is measured in the norm
    :math:`\|p\|_{M_k} = (p^\top M_k p)^{1/2}` of the L-BFGS Hessian approximation
    :math:`M_k`: the preconditioned Steihaug method (Steihaug 1983, SIAM J. Numer.
    Anal. 20(3), 626-637; N&W Sec 4.1 "scaling" and Sec 7.2 p. 171; Gould, Lucidi, Roma
    & Toint 1999), whose CG iterates grow monotonically in that norm. :math:`M_0 = I`
    (no pairs yet), and :math:`M_k` changes with every CG run that makes pairs (a
    rejected step's run included, since it explored the same Hessian), so
    :math:`\Delta_k` is a length in a norm that changes between iterations; the
    convergence theory of trust-region methods allows that when the norms stay
    uniformly equivalent (Conn, Gould & Toint, *Trust-Region Methods*, 2000, Ch. 6).
    ``"lbfgs"`` is the default and ``preconditioner="none"`` is plain CG-Steihaug in
    the 2-norm. The default is chosen on total oracle calls, the measure the benchmark
    compares: on ``benchmarks/vs_scipy.py`` (seeds 0-4) ``"lbfgs"`` needs 20 calls
    instead of 26 on every logistic row, 31-32 instead of 33-34 on softmax, 1168
    instead of 1325 on least squares seed 0, 116 instead of 105 on 2-D Rosenbrock and
    1615 instead of 1850 on chained Rosenbrock 100. It pays in iterations on
    non-convex problems: a norm built from a few pairs stretches the step along a
    direction of negative curvature, the radius collapses over a run of rejections,
    and in the next norm it is too small and takes many doublings to recover (chained
    Rosenbrock 100: 278 iterations instead of 165, 49 of them rejected). Choose
    ``"none"`` where iterations matter more than oracle calls.

    With ``"none"`` the radius is a length in x, so unlike ``newton_cg`` the iterates
    depend on the scale of x (and on stacking identical blocks, which lengthens steps
    by the square root of their number). With ``"lbfgs"``, once pairs exist,
    :math:`\|p\|_{M_k}^2 \approx p^\top \nabla^2 f\, p` has the units of f: the
    radius no longer depends on the scale of x, but on the scale of f and, alike, on
    stacking. ``initial_radius = 1`` is scipy's default;
    ``max_radius = 1e10`` leaves the radius effectively unbounded, since it only
    grows after boundary steps the model predicted well (:math:`\rho_k > 3/4`).

    Parameters
    ----------
    initial_radius : float
        :math:`\Delta_0 > 0`.
    max_radius : float
        :math:`\Delta_{\max} \ge \Delta_0`.
    eta : float
        Acceptance threshold :math:`\eta \in [0, 1/4)`.
    forcing : {"sqrt", "linear", "constant"}
        Forcing rule of the CG residual test, see
        :func:`~optbench.solvers.truncated_cg.forcing_term`.
    forcing_constant : float
        :math:`\eta_k` for ``forcing="constant"``, in (0, 1).
    max_cg_iter : int or None
        Cap on CG iterations per subproblem; ``None`` means ``20 n``
        (:func:`~optbench.solvers.truncated_cg.cg_iteration_cap`).
    curvature_tol : float
        :math:`\tau` of the scale-invariant curvature test
        :math:`d^\top H d \le \tau \|d\|_2 \|Hd\|_2`.
    preconditioner : {"none", "lbfgs"}
        Precondition CG with the previous run's curvature pairs and measure the region
        in their L-BFGS norm, or plain CG-Steihaug in the 2-norm.
    preconditioner_memory : int
        Number :math:`m \ge 1` of pairs kept (the last ones of the run), as in
        ``newton_cg``.
    """

    def __post_init__(self) -> None:
        self.check_trust_region_options()
        self.check_cg_options()

    def init(self, oracle: Oracle, x0: np.ndarray) -> TrustNCGState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return TrustNCGState(
            x=x,
            f=f,
            g=g,
            radius=float(self.initial_radius),
            initial_grad_norm=norm2(g),
        )

    def subproblem(self, oracle: Oracle, state: TrustNCGState, radius: float) -> SubproblemResult:
        """Preconditioned CG-Steihaug (N&W Alg 7.2) in the region of the preconditioner's norm."""
        x = state.x
        settings = self.cg_settings(state)
        sub = steihaug_cg(lambda v: oracle.hvp(x, v), state.g, radius, **settings)
        info = {
            "cg_iters": sub.iterations,
            "cg_reason": sub.reason,
            "preconditioned": settings["preconditioner"] is not None,
        }
        # A run without a positive-curvature step keeps the old pairs.
        updates = {"curvature_pairs": sub.pairs or state.curvature_pairs}
        return SubproblemResult(
            step=sub.step,
            predicted_reduction=sub.predicted_reduction,
            hits_boundary=sub.hits_boundary,
            step_norm=sub.step_norm,
            failure=sub.non_finite if sub.reason == "non_finite" else "",
            info=info,
            updates=updates,
        )
