r"""Minibatch SGD with heavy-ball or Nesterov momentum.

Heavy ball (Polyak 1964), with the velocity :math:`v_0 = 0`,

.. math:: v_{k+1} = \mu v_k - \alpha_k \nabla f_{B_k}(x_k), \qquad x_{k+1} = x_k + v_{k+1};

Nesterov's momentum in the form of Sutskever, Martens, Dahl & Hinton, "On the importance
of initialization and momentum in deep learning", ICML 2013, eqs. (3)–(4): the gradient
is taken at the look-ahead point,

.. math:: v_{k+1} = \mu v_k - \alpha_k \nabla f_{B_k}(x_k + \mu v_k), \qquad
          x_{k+1} = x_k + v_{k+1}.

:math:`B_k`, :math:`\alpha_k`: as in :mod:`optbench.solvers.sgd`. A constant step
:math:`\alpha` moves about :math:`\alpha/(1 - \mu)` per unit gradient once the velocity
has built up, hence the smaller default base step.
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
    moved,
    resolve_base_step,
)


@dataclass
class MomentumState(StochasticState):
    """State of :class:`SGDMomentum`: the base step and the velocity :math:`v_k`."""

    base_step: float = 0.0
    velocity: np.ndarray = field(default_factory=lambda: np.empty(0))


@SOLVERS.register("sgd_momentum")
@dataclass(frozen=True)
class SGDMomentum(
    ScheduleOptions, MinibatchOptions, StepSizeOption, StochasticSolver[MomentumState]
):
    r"""Minibatch SGD with heavy-ball (Polyak 1964) or Nesterov momentum (Sutskever et al. 2013).

    Parameters
    ----------
    step_size : float or str
        The base step :math:`\alpha`: a number > 0, ``"c/L"`` or ``"c/L_max"``.
    momentum : float
        :math:`\mu \in [0, 1)` (0 is plain SGD).
    nesterov : bool
        Take the gradient at the look-ahead point :math:`x_k + \mu v_k`.
    batch_size, replacement, schedule, decay_factor, decay_every
        As for ``sgd``.
    """

    step_size: float | str = "0.1/L_max"
    momentum: float = 0.9
    nesterov: bool = False

    def __post_init__(self) -> None:
        check_base_step(self.step_size)
        if not (is_finite_number(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum: must be a number in [0, 1), got {self.momentum!r}")
        if not isinstance(self.nesterov, bool):
            raise ValueError(f"nesterov: must be True or False, got {self.nesterov!r}")
        self.check_minibatch_options()
        self.check_schedule_options()

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> MomentumState:
        """Zero velocity; resolve the base step and start the sampler (no oracle call)."""
        return MomentumState(
            x=np.array(x0, dtype=float),
            sampler=self.sampler(oracle, rng),
            base_step=resolve_base_step(self.step_size, oracle),
            velocity=np.zeros(len(x0)),
        )

    def step(self, oracle: Oracle, state: MomentumState) -> MomentumState:
        r"""One momentum step on the next minibatch."""
        assert state.sampler is not None
        step_size = self.scheduled_step(state.base_step, state.iteration, oracle.cost)
        velocity = self.momentum * state.velocity
        point = state.x + velocity if self.nesterov else state.x
        gradient = oracle.grad_batch(point, state.sampler.next())
        velocity -= step_size * gradient
        return moved(state, gradient, x=state.x + velocity, velocity=velocity, step_size=step_size)
