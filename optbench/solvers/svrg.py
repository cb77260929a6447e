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
from typing import Any, ClassVar

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.base import Solver, State
from optbench.solvers.finite_sum import (
    check_batch_size,
    check_relative_step,
    draw_batch,
    finite_sum_incompatibility,
    resolve_relative_step,
    run_generator,
    sample_count,
)


@dataclass
class SVRGState(State):
    """State of :class:`SVRG`.

    Attributes
    ----------
    snapshot : ndarray
        :math:`\\tilde x`.
    snapshot_grad : ndarray
        :math:`\\tilde\\mu = \\nabla f(\\tilde x)`.
    inner_left : int
        Inner steps left before the next snapshot.
    rng : numpy.random.Generator
        The run's generator.
    """

    snapshot: np.ndarray = field(default_factory=lambda: np.empty(0))
    snapshot_grad: np.ndarray = field(default_factory=lambda: np.empty(0))
    inner_left: int = 0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)


@SOLVERS.register("svrg")
@dataclass(frozen=True)
class SVRG(Solver[SVRGState]):
    r"""SVRG: snapshot full gradient, variance-reduced inner steps (Johnson & Zhang 2013).

    Parameters
    ----------
    step_size : float or str
        The constant step :math:`\eta`: a number, or ``"c/L_max"`` / ``"1/(c L_max)"``
        relative to the largest per-sample smoothness constant.
    batch_size : int
        Rows :math:`b` per inner step.
    inner_steps : int or None
        Inner steps :math:`m` per snapshot; None means :math:`\lceil 2n/b \rceil` (two data
        passes of inner steps, Johnson & Zhang's choice :math:`m = 2n` for convex losses).
    """

    step_size: float | str = "1/(3 L_max)"
    batch_size: int = 1
    inner_steps: int | None = None

    #: Iterates depend on the run's generator.
    deterministic: ClassVar[bool] = False
    #: The runner logs f and the gradient norm at data-pass intervals.
    stochastic: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_relative_step(self.step_size)
        check_batch_size("batch_size", self.batch_size)
        check_batch_size("inner_steps", self.inner_steps, allow_none=True)

    def incompatibility(self, problem: Any) -> str | None:
        """One line unless ``problem`` is a finite sum with minibatch gradients."""
        return finite_sum_incompatibility(problem, "svrg", "grad_batch")

    def _inner_steps(self, n_samples: int) -> int:
        if self.inner_steps is not None:
            return int(self.inner_steps)
        return -(-2 * n_samples // self.batch_size)

    def init(self, oracle: Oracle, x0: np.ndarray) -> SVRGState:
        """Resolve the step; the first snapshot is taken by the first step."""
        step_size = resolve_relative_step(self.step_size, oracle)
        return SVRGState(
            x=np.array(x0, dtype=float),
            step_size=step_size,
            snapshot=np.array(x0, dtype=float),
            inner_left=0,
            rng=run_generator(oracle),
        )

    def step(self, oracle: Oracle, state: SVRGState) -> SVRGState:
        r"""One inner step :math:`x \leftarrow x - \eta v_t`, after a new snapshot when due."""
        x, snapshot, snapshot_grad = state.x, state.snapshot, state.snapshot_grad
        n_samples = sample_count(oracle)
        inner_left = state.inner_left
        if inner_left == 0:
            snapshot, snapshot_grad = x, oracle.grad(x)
            inner_left = self._inner_steps(n_samples)
        batch = draw_batch(state.rng, n_samples, self.batch_size)
        direction = oracle.grad_batch(x, batch) - oracle.grad_batch(snapshot, batch)
        direction += snapshot_grad
        step_size = float(state.step_size or 0.0)
        return state.replace(
            x=x - step_size * direction,
            snapshot=snapshot,
            snapshot_grad=snapshot_grad,
            inner_left=inner_left - 1,
        )
