r"""Adam (Kingma & Ba 2015) and AdamW, its decoupled weight decay (Loshchilov & Hutter 2019).

Adam, Algorithm 1 of Kingma & Ba, "Adam: a method for stochastic optimization", ICLR
2015, on minibatch gradients :math:`g_k = \nabla f_{B_k}(x_k)`, with :math:`m_0 = v_0 = 0`
and :math:`t = k + 1`:

.. math::
    m_{k+1} &= \beta_1 m_k + (1 - \beta_1) g_k, \qquad
    v_{k+1} = \beta_2 v_k + (1 - \beta_2) g_k \odot g_k, \\
    \hat m &= m_{k+1}/(1 - \beta_1^t), \qquad \hat v = v_{k+1}/(1 - \beta_2^t), \\
    x_{k+1} &= x_k - \alpha_k \bigl(\hat m / (\sqrt{\hat v} + \epsilon) + \lambda x_k\bigr),

where :math:`\lambda` = ``weight_decay`` is the decoupled weight decay of AdamW
(Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019, Algorithm 2,
with the schedule multiplier folded into :math:`\alpha_k`); :math:`\lambda = 0` is Adam.
The weight decay is not part of :math:`f`: with :math:`\lambda > 0` the iterates settle
near a minimiser of a different function, and f − f\* keeps a floor (the problem's own
``l2`` is the ridge term of :math:`f`, which both methods minimise).
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
class AdamState(StochasticState):
    """State of :class:`Adam`: the base step and the moment estimates :math:`m_k, v_k`."""

    base_step: float = 0.0
    first_moment: np.ndarray = field(default_factory=lambda: np.empty(0))
    second_moment: np.ndarray = field(default_factory=lambda: np.empty(0))


@SOLVERS.register("adam")
@dataclass(frozen=True)
class Adam(ScheduleOptions, MinibatchOptions, StepSizeOption, StochasticSolver[AdamState]):
    r"""Adam (Kingma & Ba 2015, Alg 1); ``weight_decay`` > 0 is AdamW (Loshchilov & Hutter 2019).

    Parameters
    ----------
    step_size : float or str
        The base step :math:`\alpha`: a number > 0, ``"c/L"`` or ``"c/L_max"``.
    beta1, beta2 : float
        Decay rates of the moment estimates, in [0, 1).
    epsilon : float
        Added to :math:`\sqrt{\hat v}`, > 0.
    weight_decay : float
        Decoupled weight decay :math:`\lambda \ge 0` (AdamW); 0 for Adam.
    batch_size, replacement, schedule, decay_factor, decay_every
        As for ``sgd``.
    """

    step_size: float | str = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_base_step(self.step_size)
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (is_finite_number(value) and 0 <= value < 1):
                raise ValueError(f"{name}: must be a number in [0, 1), got {value!r}")
        if not (is_finite_number(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"epsilon: must be a number > 0, got {self.epsilon!r}")
        if not (is_finite_number(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay: must be a number >= 0, got {self.weight_decay!r}")
        self.check_minibatch_options()
        self.check_schedule_options()

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> AdamState:
        """Zero moments; resolve the base step and start the sampler (no oracle call)."""
        return AdamState(
            x=np.array(x0, dtype=float),
            sampler=self.sampler(oracle, rng),
            base_step=resolve_base_step(self.step_size, oracle),
            first_moment=np.zeros(len(x0)),
            second_moment=np.zeros(len(x0)),
        )

    def step(self, oracle: Oracle, state: AdamState) -> AdamState:
        r"""One Adam (AdamW) step on the next minibatch."""
        step_size = self.scheduled_step(state.base_step, state.iteration, oracle.cost)
        gradient = minibatch_gradient(oracle, state)
        first = self.beta1 * state.first_moment + (1.0 - self.beta1) * gradient
        second = self.beta2 * state.second_moment + (1.0 - self.beta2) * gradient * gradient
        t = state.iteration + 1
        direction = first / (1.0 - self.beta1**t)
        direction /= np.sqrt(second / (1.0 - self.beta2**t)) + self.epsilon
        if self.weight_decay:
            direction += self.weight_decay * state.x
        return moved(
            state,
            gradient,
            x=state.x - step_size * direction,
            first_moment=first,
            second_moment=second,
            step_size=step_size,
        )


@SOLVERS.register("adamw")
@dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, Alg 2).

    The same method as ``adam`` with ``weight_decay`` = 0.01 by default (as PyTorch's
    AdamW); see :class:`Adam` for the parameters.
    """

    weight_decay: float = 1e-2
