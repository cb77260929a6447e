r"""Minibatch stochastic gradient descent (Robbins & Monro 1951).

.. math:: x_{k+1} = x_k - \alpha_k \nabla f_{B_k}(x_k), \qquad
          \nabla f_{B}(x) = \frac1{|B|}\sum_{i \in B} \nabla \ell_i(x) + \nabla R(x),

with :math:`B_k` drawn by :class:`~optbench.solvers.stochastic.BatchSampler` (with or
without replacement) and :math:`\alpha_k` from the step schedule
(:class:`~optbench.solvers.stochastic.ScheduleOptions`): Bottou, Curtis & Nocedal,
"Optimization Methods for Large-Scale Machine Learning", SIAM Review 60 (2018),
Algorithm 4.1. With a constant step it reaches a neighbourhood of the minimiser whose
size is proportional to the step and the variance of the minibatch gradients (their
Theorem 4.6), and stalls there; a diminishing schedule converges, slowly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.stochastic import (
    MinibatchOptions,
    ScheduleOptions,
    StepSizeOption,
    StochasticSolver,
    StochasticState,
    check_base_step,
    minibatch_gradient,
    moved,
    resolve_base_step,
)


@dataclass
class SGDState(StochasticState):
    """State of :class:`SGD`: ``base_step`` is the resolved base step :math:`\\alpha`."""

    base_step: float = 0.0


@SOLVERS.register("sgd")
@dataclass(frozen=True)
class SGD(ScheduleOptions, MinibatchOptions, StepSizeOption, StochasticSolver[SGDState]):
    r"""Minibatch stochastic gradient descent (Bottou, Curtis & Nocedal 2018, Alg 4.1).

    Parameters
    ----------
    step_size : float or str
        The base step :math:`\alpha`: a number > 0, ``"c/L"`` (:math:`c/L`, ``L`` the
        smoothness constant of :math:`f`) or ``"c/L_max"`` (the largest per-sample one).
    batch_size, replacement
        See :class:`~optbench.solvers.stochastic.MinibatchOptions`.
    schedule, decay_factor, decay_every
        See :class:`~optbench.solvers.stochastic.ScheduleOptions`.
    """

    step_size: float | str = "1/L_max"

    def __post_init__(self) -> None:
        check_base_step(self.step_size)
        self.check_minibatch_options()
        self.check_schedule_options()

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> SGDState:
        """Resolve the base step and start the sampler; no oracle call."""
        sampler = self.sampler(oracle, rng)
        base_step = resolve_base_step(self.step_size, oracle)
        return SGDState(x=np.array(x0, dtype=float), sampler=sampler, base_step=base_step)

    def step(self, oracle: Oracle, state: SGDState) -> SGDState:
        r"""One step on the next minibatch: :math:`x - \alpha_k \nabla f_{B_k}(x)`."""
        step_size = self.scheduled_step(state.base_step, state.iteration, oracle.cost)
        gradient = minibatch_gradient(oracle, state)
        return moved(state, gradient, x=state.x - step_size * gradient, step_size=step_size)
