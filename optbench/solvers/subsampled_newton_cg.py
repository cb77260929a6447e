r"""Subsampled Hessian Newton-CG (Byrd, Chin, Neveitt & Nocedal 2011).

On a finite sum :math:`f(x) = \frac1n\sum_i f_i(x)`, iteration :math:`k` takes the
gradient on a large sample :math:`S_k` (all rows by default) and runs truncated CG on the
Hessian of a much smaller sample :math:`H_k \subset S_k`,

.. math::
    \nabla^2 f_{H_k}(x_k)\, p = -\nabla f_{S_k}(x_k), \qquad
    \nabla^2 f_{H}(x)\, v = \frac1{|H|} \sum_{i \in H} \nabla^2 f_i(x)\, v ,

then backtracks from :math:`\alpha = 1` until
:math:`f_{S_k}(x_k + \alpha p) \le f_{S_k}(x_k) + c_1 \alpha\, \nabla f_{S_k}(x_k)^\top p`
(N&W Alg 3.1). A Hessian-vector product on :math:`|H|` rows costs :math:`|H|/n` of a full
one, so CG's products are cheap while the gradient, which decides where the iteration
converges, is accurate (R. H. Byrd, G. M. Chin, W. Neveitt and J. Nocedal, *On the use of
stochastic Hessian information in optimization methods for machine learning*, SIAM J.
Optim. 21(3), 977-995, 2011, Alg. 2.1 with a line search on the sampled function).
CG is the truncated CG of Newton-CG (N&W Alg 7.1,
:func:`~optbench.solvers.truncated_cg.truncated_cg`) with the same forcing terms and
curvature test; the paper caps it at a few iterations (here 10 by default).

With the full gradient (the default) every trial of the line search is one fused
value-and-gradient, so the accepted point's gradient is the next iteration's; with
``gradient_batch`` rows, gradient and trials are evaluated on the iteration's sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number, is_integer
from optbench.solvers.linesearch import armijo_backtracking, check_line_search_constants
from optbench.solvers.quasi_newton import CurvaturePair
from optbench.solvers.ray import Ray
from optbench.solvers.stochastic import (
    BatchSampler,
    StochasticSolver,
    StochasticState,
    run_generator,
)
from optbench.solvers.truncated_cg import HessianFreeState, TruncatedCGOptions, truncated_cg


@dataclass
class SubsampledNewtonState(StochasticState):
    """State of :class:`SubsampledNewtonCG`.

    ``f`` and ``g`` are the exact values at ``x`` with the full gradient, None with a
    sampled one (the runner then evaluates them at its log points). ``sampler`` draws
    the gradient sample (or, with the full gradient, the Hessian sample), without
    replacement.

    Attributes
    ----------
    initial_grad_norm : float
        :math:`\\|g_0\\|_2` of the first (sampled) gradient, the forcing term's scale.
    curvature_pairs : tuple of (ndarray, ndarray)
        The last CG run's pairs (the next run's preconditioner, if one is asked for).
    """

    initial_grad_norm: float = math.nan
    curvature_pairs: tuple[CurvaturePair, ...] = ()


@SOLVERS.register("subsampled_newton_cg")
@dataclass(frozen=True)
class SubsampledNewtonCG(StochasticSolver[SubsampledNewtonState], TruncatedCGOptions):
    r"""Newton-CG with a subsampled Hessian (Byrd, Chin, Neveitt & Nocedal 2011).

    Parameters
    ----------
    gradient_batch : int or None
        Rows of the gradient sample :math:`S_k`, drawn afresh each iteration; None for
        the full gradient.
    hessian_fraction : float
        :math:`|H_k| = \lceil \text{fraction} \cdot |S_k| \rceil`, in (0, 1].
    c1 : float
        Armijo constant in (0, 1).
    shrink : float
        Backtracking factor in (0, 1).
    forcing, forcing_constant, curvature_tol, preconditioner, preconditioner_memory
        The truncated-CG settings of ``newton_cg``
        (:class:`~optbench.solvers.truncated_cg.TruncatedCGOptions`); no preconditioner
        by default.
    max_cg_iter : int
        Cap on CG iterations per Newton step (10; the paper's small cap).
    """

    max_cg_iter: int | None = 10
    preconditioner: str = "none"
    gradient_batch: int | None = None
    hessian_fraction: float = 0.1
    c1: float = 1e-4
    shrink: float = 0.5

    def __post_init__(self) -> None:
        self.check_cg_options()
        batch = self.gradient_batch
        if batch is not None and not (is_integer(batch) and batch >= 1):
            raise ValueError(f"gradient_batch: must be None or an integer >= 1, got {batch!r}")
        fraction = self.hessian_fraction
        if not (is_finite_number(fraction) and 0 < fraction <= 1):
            raise ValueError(f"hessian_fraction: must be a number in (0, 1], got {fraction!r}")
        check_line_search_constants(self.c1, shrink=self.shrink)

    def _full_gradient(self, n_samples: int) -> bool:
        return self.gradient_batch is None or self.gradient_batch >= n_samples

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> SubsampledNewtonState:
        """The sampler; the full f and g at :math:`x_0` with the full gradient."""
        n_samples = int(oracle.n_samples or 0)
        x = np.array(x0, dtype=float)
        rng = rng or run_generator(0)
        if not self._full_gradient(n_samples):
            sampler = BatchSampler(n_samples, int(self.gradient_batch or 1), False, rng)
            return SubsampledNewtonState(x=x, sampler=sampler)
        hessian_rows = math.ceil(self.hessian_fraction * n_samples)
        value, grad = oracle.value_and_grad(x)
        return SubsampledNewtonState(
            x=x,
            f=value,
            g=grad,
            sampler=BatchSampler(n_samples, hessian_rows, False, rng),
            initial_grad_norm=norm2(grad),
        )

    def step(self, oracle: Oracle, state: SubsampledNewtonState) -> SubsampledNewtonState:
        """One Newton-CG step on the sampled Hessian, then Armijo backtracking."""
        assert state.sampler is not None
        x = state.x
        rows: np.ndarray | None = None
        if state.g is not None:
            value, grad = float(state.f or 0.0), state.g
            hessian_rows = state.sampler.next()
        else:
            rows = state.sampler.next()
            value, grad = oracle.value_and_grad_batch(x, rows)
            hessian_rows = rows[: math.ceil(self.hessian_fraction * len(rows))]
        initial_grad_norm = state.initial_grad_norm
        if not math.isfinite(initial_grad_norm):
            initial_grad_norm = norm2(grad)
        settings = self.cg_settings(
            HessianFreeState(
                x=x,
                g=grad,
                initial_grad_norm=initial_grad_norm,
                curvature_pairs=state.curvature_pairs,
            )
        )
        result = truncated_cg(lambda v: oracle.hvp_batch(x, v, hessian_rows), grad, **settings)
        if result.reason == "non_finite":
            return state.failed(f"CG on the sampled Hessian: {result.non_finite}")
        direction = result.direction
        slope = float(grad @ direction)
        if not slope < 0:
            direction, slope = -grad, -float(grad @ grad)
        if slope == 0.0:
            return state.failed("gradient is exactly zero: no descent direction")
        pairs = result.pairs if result.pairs else state.curvature_pairs
        if rows is None:
            ray = Ray(oracle, x, direction)
            search = armijo_backtracking(
                ray.value_and_slope, value, slope, c1=self.c1, shrink=self.shrink
            )
            if not search.success:
                return state.failed(f"line search: {search.reason}")
            x_new, value_new, grad_new = ray.point(search.step_size)
            return state.replace(
                x=x_new,
                f=value_new,
                g=grad_new,
                step_size=search.step_size,
                initial_grad_norm=initial_grad_norm,
                curvature_pairs=pairs,
                iteration=state.iteration + 1,
            )
        sample = rows

        def sampled_value(step_size: float) -> float:
            return float(oracle.value_and_grad_batch(x + step_size * direction, sample)[0])

        search = armijo_backtracking(sampled_value, value, slope, c1=self.c1, shrink=self.shrink)
        if not search.success:
            return state.failed(f"line search on the sample: {search.reason}")
        return state.replace(
            x=x + search.step_size * direction,
            step_size=search.step_size,
            initial_grad_norm=initial_grad_norm,
            curvature_pairs=pairs,
            iteration=state.iteration + 1,
        )
