r"""Trust-region Newton-CG: Steihaug's CG inside the radius update of N&W Alg 4.1.

Each iteration solves the trust-region subproblem approximately with
:func:`~optbench.solvers.steihaug.steihaug_cg` on Hessian-vector products, optionally
preconditioned with the L-BFGS matrix of the previous CG run's curvature pairs (Morales
& Nocedal 2000) with the region in that preconditioner's norm, then compares the
actual with the predicted reduction (Nocedal & Wright, *Numerical Optimization*, 2nd
ed., Alg 4.1, Alg 7.2 and Sec 4.1 "scaling").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_number
from optbench.solvers.base import Solver, State
from optbench.solvers.steihaug import steihaug_cg
from optbench.solvers.truncated_cg import (
    CurvaturePair,
    LimitedMemoryPreconditioner,
    cg_iteration_cap,
    forcing_term,
    relative_grad_norm,
    validate_cg_options,
)


@dataclass
class TrustRegionState(State):
    """State of :class:`TrustNCG`: the iterate, f and g there, and the trust radius.

    ``radius`` is the radius :math:`\\Delta_{k+1}` the next subproblem will use (in the
    norm of its preconditioner); ``step_size`` is the length of the step taken,
    :math:`\\|x_{k+1} - x_k\\|_2` (0 after a rejected step); ``curvature_pairs`` are
    those of the last CG run that made any.
    """

    radius: float = 1.0
    last_accepted: bool = True
    initial_grad_norm: float = math.nan
    curvature_pairs: tuple[CurvaturePair, ...] = ()


def reduction_ratio(f: float, f_trial: float, predicted_reduction: float) -> float:
    r"""Actual over predicted reduction, safeguarded against rounding in f.

    .. math::
        \rho = \frac{f(x) - f(x + p) + \delta}{m(0) - m(p) + \delta}, \qquad
        \delta = 10\, \epsilon_{\text{mach}} \max(1, |f(x)|),

    as Conn, Gould & Toint (*Trust-Region Methods*, 2000, §17.4.2) recommend: once
    both reductions fall to the rounding level of f, the plain ratio (N&W eq 4.4) is
    noise and rejects good steps until the radius collapses; with :math:`\delta`
    it tends to 1 there and is unchanged elsewhere. A non-finite trial value gives
    :math:`-\infty` (a rejection).
    """
    if not math.isfinite(f_trial):
        return -math.inf
    delta = 10.0 * np.finfo(float).eps * max(1.0, abs(f))
    return (f - f_trial + delta) / (predicted_reduction + delta)


@SOLVERS.register("trust_ncg")
@dataclass(frozen=True)
class TrustNCG(Solver):
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
    (:class:`~optbench.solvers.truncated_cg.LimitedMemoryPreconditioner`, Morales &
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

    initial_radius: float = 1.0
    max_radius: float = 1e10
    eta: float = 0.15
    forcing: str = "sqrt"
    forcing_constant: float = 0.1
    max_cg_iter: int | None = None
    curvature_tol: float = 1e-12
    preconditioner: str = "lbfgs"
    preconditioner_memory: int = 10

    def __post_init__(self) -> None:
        for name in ("initial_radius", "max_radius"):
            value = getattr(self, name)
            if not is_number(value) or not value > 0:
                raise ValueError(f"{name}: must be a number > 0, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite, got {value!r}")
        if self.initial_radius > self.max_radius:
            raise ValueError(
                f"initial_radius: must be <= max_radius={self.max_radius!r}, "
                f"got {self.initial_radius!r}"
            )
        if not is_number(self.eta) or not 0 <= self.eta < 0.25:
            raise ValueError(f"eta: must be a number in [0, 0.25), got {self.eta!r}")
        validate_cg_options(self)

    def init(self, oracle: Oracle, x0: np.ndarray) -> TrustRegionState:
        x = np.array(x0, dtype=float, copy=True)
        f, g = oracle.value_and_grad(x)
        return TrustRegionState(
            x=x,
            f=f,
            g=g,
            radius=float(self.initial_radius),
            initial_grad_norm=norm2(g),
        )

    def step(self, oracle: Oracle, state: TrustRegionState) -> TrustRegionState:  # type: ignore[override]
        x, f, g, radius = state.x, state.f, state.g, state.radius
        grad_norm = norm2(g)
        ratio = relative_grad_norm(grad_norm, state.initial_grad_norm)
        eta_k = forcing_term(self.forcing, ratio, self.forcing_constant)
        pairs = state.curvature_pairs  # empty with preconditioner="none"
        sub = steihaug_cg(
            lambda v: oracle.hvp(x, v),
            g,
            radius,
            tolerance=eta_k * grad_norm,
            max_iter=cg_iteration_cap(self.max_cg_iter, g.size),
            curvature_tol=self.curvature_tol,
            preconditioner=LimitedMemoryPreconditioner(pairs).apply if pairs else None,
            keep_pairs=self.preconditioner_memory if self.preconditioner == "lbfgs" else 0,
        )
        info = {"cg_iters": sub.iterations, "cg_reason": sub.reason, "radius": radius}
        info["preconditioned"] = bool(pairs)
        pairs = sub.pairs or pairs  # a run without a positive-curvature step keeps the old
        if sub.reason == "non_finite":
            return state.replace(info=info).failed(f"trust_ncg: {sub.non_finite}")
        if not sub.predicted_reduction > 0:
            return state.replace(info=info).failed(
                f"trust_ncg: the model predicts no decrease ({sub.predicted_reduction:.3g}) "
                f"at gradient norm {grad_norm:.3g}"
            )
        trial = x + sub.step
        if state.last_accepted:
            f_trial, g_trial = oracle.value_and_grad(trial)
        else:
            f_trial, g_trial = oracle.value(trial), None
        rho = reduction_ratio(f, f_trial, sub.predicted_reduction)
        step_length = norm2(sub.step)  # in x; sub.step_norm is in M
        if rho < 0.25:
            radius = 0.25 * sub.step_norm
        elif rho > 0.75 and sub.hits_boundary:
            radius = min(2.0 * radius, self.max_radius)
        accepted = rho > self.eta
        info.update(rho=rho, accepted=accepted)
        if not accepted:
            new_state = state.replace(
                step_size=0.0,
                radius=radius,
                last_accepted=False,
                curvature_pairs=pairs,
                info=info,
            )
            if 0.25 * step_length <= np.finfo(float).eps * (1.0 + norm2(x)):
                return new_state.failed(
                    f"trust_ncg: trust radius {radius:.3g} fell below machine precision "
                    f"relative to |x| (last rho={rho:.3g})"
                )
            return new_state
        if g_trial is None:
            g_trial = oracle.grad(trial)
        return state.replace(
            x=trial,
            f=f_trial,
            g=g_trial,
            step_size=step_length,
            radius=radius,
            last_accepted=True,
            curvature_pairs=pairs,
            info=info,
        )
