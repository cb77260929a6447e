r"""Stochastic variance-reduced gradient (SVRG; Johnson & Zhang 2013).

On a finite sum :math:`f(x) = \frac1n\sum_i f_i(x)` (ridge term included in every
:math:`f_i`), each outer loop fixes a snapshot :math:`\tilde x` and its full gradient
:math:`\tilde\mu = \nabla f(\tilde x)`, then takes :math:`m` inner steps

.. math::
    v_t = \frac1b \sum_{i \in B_t} \bigl(\nabla f_i(x_t) - \nabla f_i(\tilde x)\bigr)
          + \tilde\mu, \qquad x_{t+1} = x_t - \eta\, v_t ,

with :math:`B_t` a batch of :math:`b` rows drawn uniformly. :math:`v_t` is an unbiased
estimate of :math:`\nabla f(x_t)` whose variance vanishes as :math:`x_t` and
:math:`\tilde x` approach the minimizer, so a constant step converges linearly
(R. Johnson and T. Zhang, *Accelerating stochastic gradient descent using predictive
variance reduction*, NeurIPS 2013, Procedure SVRG; the next snapshot is the last inner
iterate, their option I). A snapshot costs one full gradient (one data pass); an inner
step costs :math:`2b` sample gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_integer
from optbench.solvers.reciprocal_step import check_step, resolve_step
from optbench.solvers.stochastic import (
    MinibatchOptions,
    StepSizeOption,
    StochasticSolver,
    StochasticState,
)


@dataclass
class SVRGState(StochasticState):
    """State of :class:`SVRG`.

    Attributes
    ----------
    snapshot : ndarray
        :math:`\\tilde x`.
    snapshot_grad : ndarray
        :math:`\\tilde\\mu = \\nabla f(\\tilde x)`.
    inner_left : int
        Inner steps left before the next snapshot (0: take one at the next step).
    """

    snapshot: np.ndarray = field(default_factory=lambda: np.empty(0))
    snapshot_grad: np.ndarray = field(default_factory=lambda: np.empty(0))
    inner_left: int = 0


@SOLVERS.register("svrg")
@dataclass(frozen=True)
class SVRG(MinibatchOptions, StepSizeOption, StochasticSolver[SVRGState]):
    r"""SVRG: snapshot full gradients, variance-reduced inner steps (Johnson & Zhang 2013).

    Parameters
    ----------
    step_size : float or str
        The constant step :math:`\eta`: a number, ``"c/L_max"`` or ``"1/(c L_max)"``
        (:math:`L_{\max}` the largest per-sample smoothness constant), or the same with
        :math:`L`.
    batch_size, replacement
        Rows :math:`b` per inner step, drawn with replacement (uniform rows, as in the
        paper; the default here) or from a fresh permutation each pass
        (:class:`~optbench.solvers.stochastic.MinibatchOptions`).
    inner_steps : int or None
        Inner steps :math:`m` per snapshot; None means :math:`\lceil 2n/b \rceil` (Johnson
        & Zhang's :math:`m = 2n` for convex losses).
    """

    step_size: float | str = "1/(3 L_max)"
    replacement: bool = True
    inner_steps: int | None = None

    def __post_init__(self) -> None:
        check_step(self.step_size)
        self.check_minibatch_options()
        inner = self.inner_steps
        if inner is not None and not (is_integer(inner) and inner >= 1):
            raise ValueError(f"inner_steps: must be None or an integer >= 1, got {inner!r}")

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> SVRGState:
        """Resolve the step; the first step takes the first snapshot."""
        sampler = self.sampler(oracle, rng)
        return SVRGState(
            x=np.array(x0, dtype=float),
            step_size=resolve_step(self.step_size, oracle),
            sampler=sampler,
        )

    def step(self, oracle: Oracle, state: SVRGState) -> SVRGState:
        r"""One inner step :math:`x \leftarrow x - \eta v_t`, after a new snapshot when due."""
        assert state.sampler is not None
        x, snapshot, snapshot_grad = state.x, state.snapshot, state.snapshot_grad
        inner_left = state.inner_left
        if inner_left == 0:
            snapshot, snapshot_grad = x, oracle.grad(x)
            n_samples = state.sampler.n_samples
            inner_left = self.inner_steps or -(-2 * n_samples // self.batch_size)
        batch = state.sampler.next()
        direction = oracle.grad_batch(x, batch) - oracle.grad_batch(snapshot, batch)
        direction += snapshot_grad
        if not np.isfinite(direction).all():
            return state.failed(f"non-finite SVRG direction at step {state.iteration}")
        return state.replace(
            x=x - float(state.step_size or 0.0) * direction,
            snapshot=snapshot,
            snapshot_grad=snapshot_grad,
            inner_left=inner_left - 1,
            iteration=state.iteration + 1,
        )
