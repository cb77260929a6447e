r"""AdaGrad, diagonal version (Duchi, Hazan & Singer 2011).

On minibatch gradients :math:`g_k = \nabla f_{B_k}(x_k)`, with :math:`G_0 = 0`,

.. math:: G_{k+1} = G_k + g_k \odot g_k, \qquad
          x_{k+1} = x_k - \alpha_k\, g_k / (\sqrt{G_{k+1}} + \epsilon),

the diagonal update of Duchi, Hazan & Singer, "Adaptive subgradient methods for online
learning and stochastic optimization", JMLR 12 (2011), §1.1 (unconstrained, without
the projection). Each coordinate's step shrinks like :math:`1/\sqrt{k}` on its own
scale, so a constant :math:`\alpha` already gives a decreasing step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import is_finite_number
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
class AdagradState(StochasticState):
    """State of :class:`Adagrad`: the base step and the sums of squares :math:`G_k`."""

    base_step: float = 0.0
    squares: np.ndarray = field(default_factory=lambda: np.empty(0))


@SOLVERS.register("adagrad")
@dataclass(frozen=True)
class Adagrad(ScheduleOptions, MinibatchOptions, StepSizeOption, StochasticSolver[AdagradState]):
    r"""Diagonal AdaGrad (Duchi, Hazan & Singer 2011) on minibatch gradients.

    Parameters
    ----------
    step_size : float or str
        The base step :math:`\alpha`: a number > 0, ``"c/L"`` or ``"c/L_max"``.
    epsilon : float
        Added to :math:`\sqrt{G}`, > 0.
    batch_size, replacement, schedule, decay_factor, decay_every
        As for ``sgd`` (the default constant schedule is usual: AdaGrad decreases its
        steps by itself).
    """

    step_size: float | str = 0.1
    epsilon: float = 1e-10

    def __post_init__(self) -> None:
        check_base_step(self.step_size)
        if not (is_finite_number(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"epsilon: must be a number > 0, got {self.epsilon!r}")
        self.check_minibatch_options()
        self.check_schedule_options()

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> AdagradState:
        """Zero sums; resolve the base step and start the sampler (no oracle call)."""
        return AdagradState(
            x=np.array(x0, dtype=float),
            sampler=self.sampler(oracle, rng),
            base_step=resolve_base_step(self.step_size, oracle),
            squares=np.zeros(len(x0)),
        )

    def step(self, oracle: Oracle, state: AdagradState) -> AdagradState:
        r"""One AdaGrad step on the next minibatch."""
        step_size = self.scheduled_step(state.base_step, state.iteration, oracle.cost)
        gradient = minibatch_gradient(oracle, state)
        squares = state.squares + gradient * gradient
        x = state.x - step_size * gradient / (np.sqrt(squares) + self.epsilon)
        return moved(state, gradient, x=x, squares=squares, step_size=step_size)
