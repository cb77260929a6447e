r"""SAGA (Defazio, Bach & Lacoste-Julien 2014): incremental gradients from a table.

On a finite sum :math:`f(x) = \frac1n\sum_i f_i(x) + \frac{\lambda}{2}\|x\|^2` SAGA keeps,
for every row :math:`i`, the gradient :math:`\nabla f_i(\phi_i)` at the last point
:math:`\phi_i` where row :math:`i` was drawn, and their mean. A step draws a batch
:math:`B` of :math:`b` rows and moves along an unbiased estimate of :math:`\nabla f(x)`:

.. math::
    v = \frac1b \sum_{j \in B} \bigl(\nabla f_j(x) - \nabla f_j(\phi_j)\bigr)
        + \frac1n \sum_{i=1}^n \nabla f_i(\phi_i) + \lambda x, \qquad
    x \leftarrow x - \gamma v ,

then stores :math:`\phi_j = x_{\text{old}}` for :math:`j \in B` and updates the mean
(A. Defazio, F. Bach and S. Lacoste-Julien, *SAGA: a fast incremental gradient method with
support for non-strongly convex composite objectives*, NeurIPS 2014, Sec. 2; with
:math:`\gamma = 1/(3L)` it converges linearly on strongly convex sums, their Thm. 1, and
:math:`L` is the largest smoothness constant of one term, :math:`L_{\max}`). The ridge
term is exact and not variance-reduced, as in scikit-learn's SAGA.

The table: for a linear model the gradient of row :math:`i` is :math:`a_i\,
\ell'(a_i^\top x)`, so the table stores the scalars :math:`\ell'_i` (one per row, or one
per row and class for softmax), never :math:`n \times d` gradients; the problem's
``sample_grads`` gives them and ``grad_from_scalars`` forms :math:`\frac1b\sum_j a_j s_j`.
The table is filled by one data pass at :math:`x_0` (the paper's initialization), and
each step costs :math:`b` sample gradients.
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
    ridge_gradient,
    run_generator,
    sample_count,
)


@dataclass
class SAGAState(State):
    """State of :class:`SAGA`.

    The table is updated in place (a copy per step would cost a pass over it), so a
    state handed to :meth:`SAGA.step` must not be reused afterwards.

    Attributes
    ----------
    table : ndarray
        The stored loss derivatives :math:`\\ell'_i(\\phi_i)`, shape ``(n,)`` or ``(n, k)``.
    table_mean : ndarray
        :math:`\\frac1n\\sum_i \\nabla f_i(\\phi_i)` without the ridge term.
    rng : numpy.random.Generator
        The run's generator.
    """

    table: np.ndarray = field(default_factory=lambda: np.empty(0))
    table_mean: np.ndarray = field(default_factory=lambda: np.empty(0))
    rng: np.random.Generator = field(default_factory=np.random.default_rng)


@SOLVERS.register("saga")
@dataclass(frozen=True)
class SAGA(Solver[SAGAState]):
    r"""SAGA: incremental gradients from a table of past ones (Defazio et al. 2014).

    Parameters
    ----------
    step_size : float or str
        The constant step :math:`\gamma`: a number, or ``"c/L_max"`` / ``"1/(c L_max)"``
        relative to the largest per-sample smoothness constant (the paper's
        :math:`1/(3L)` by default).
    batch_size : int
        Rows :math:`b` per step.
    """

    step_size: float | str = "1/(3 L_max)"
    batch_size: int = 1

    #: Iterates depend on the run's generator.
    deterministic: ClassVar[bool] = False
    #: The runner logs f and the gradient norm at data-pass intervals.
    stochastic: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_relative_step(self.step_size)
        check_batch_size("batch_size", self.batch_size)

    def incompatibility(self, problem: Any) -> str | None:
        """One line unless ``problem`` is a linear-model finite sum with per-sample scalars."""
        return finite_sum_incompatibility(problem, "saga", "sample_grads", "grad_from_scalars")

    def init(self, oracle: Oracle, x0: np.ndarray) -> SAGAState:
        """Resolve the step and fill the table at :math:`x_0` (one data pass)."""
        step_size = resolve_relative_step(self.step_size, oracle)
        x = np.array(x0, dtype=float)
        rows = np.arange(sample_count(oracle))
        table = np.array(oracle.sample_grads(x, rows), dtype=float)
        table_mean = oracle.grad_from_scalars(rows, table)
        return SAGAState(
            x=x, step_size=step_size, table=table, table_mean=table_mean, rng=run_generator(oracle)
        )

    def step(self, oracle: Oracle, state: SAGAState) -> SAGAState:
        r"""One step :math:`x \leftarrow x - \gamma v`; the drawn rows' entries are replaced."""
        x, table = state.x, state.table
        n_samples = sample_count(oracle)
        batch = draw_batch(state.rng, n_samples, self.batch_size)
        fresh = oracle.sample_grads(x, batch)
        correction = oracle.grad_from_scalars(batch, fresh - table[batch])
        direction = correction + state.table_mean
        direction += ridge_gradient(oracle.problem, x)
        table[batch] = fresh
        table_mean = state.table_mean + (len(batch) / n_samples) * correction
        step_size = float(state.step_size or 0.0)
        return state.replace(x=x - step_size * direction, table_mean=table_mean)
