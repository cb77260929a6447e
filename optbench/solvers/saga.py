r"""SAGA (Defazio, Bach & Lacoste-Julien 2014): incremental gradients from a table.

On a finite sum :math:`f(x) = \frac1n\sum_i f_i(x) + R(x)` (:math:`R` the ridge term)
SAGA keeps, for every row :math:`i`, the gradient :math:`\nabla f_i(\phi_i)` at the last
point :math:`\phi_i` where row :math:`i` was drawn, and their mean. A step draws a batch
:math:`B` of :math:`b` rows and moves along an unbiased estimate of :math:`\nabla f(x)`:

.. math::
    v = \frac1b \sum_{j \in B} \bigl(\nabla f_j(x) - \nabla f_j(\phi_j)\bigr)
        + \frac1n \sum_{i=1}^n \nabla f_i(\phi_i) + \nabla R(x), \qquad
    x \leftarrow x - \gamma v ,

then stores :math:`\phi_j = x` (before the move) for :math:`j \in B` and updates the mean
(A. Defazio, F. Bach and S. Lacoste-Julien, *SAGA: a fast incremental gradient method with
support for non-strongly convex composite objectives*, NeurIPS 2014, Sec. 2; with
:math:`\gamma = 1/(3L)`, :math:`L` the largest smoothness constant of one term
(:math:`L_{\max}`), it converges linearly on strongly convex sums, their Thm 1). The
ridge term is exact, not variance-reduced, as in scikit-learn's SAGA.

The table: for a linear model the gradient of row :math:`i` is :math:`\tilde x_i\,
\ell_i'` (its row times the loss derivative in the linear predictor), so the table
holds the derivatives :math:`\ell_i'` (one number per row, or per row and class for
softmax: ``sample_derivatives``), never :math:`n \times d` gradients, and
``grad_from_derivatives`` forms :math:`\frac1b\sum_j \tilde x_j \otimes d_j`. It is
filled by one data pass at :math:`x_0` (the paper's initialization); then each step
costs :math:`b` sample gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.reciprocal_step import check_step, resolve_step
from optbench.solvers.stochastic import (
    MinibatchOptions,
    StepSizeOption,
    StochasticSolver,
    StochasticState,
)


@dataclass
class SAGAState(StochasticState):
    """State of :class:`SAGA`.

    The table is updated in place (a copy per step would cost a pass over it), so a
    state handed to :meth:`SAGA.step` must not be stepped from again.

    Attributes
    ----------
    table : ndarray
        The stored derivatives :math:`\\ell_i'(\\phi_i)`, shape ``(n,)`` or ``(n, K)``.
    table_mean : ndarray
        :math:`\\frac1n\\sum_i \\nabla f_i(\\phi_i)` without the ridge term.
    """

    table: np.ndarray = field(default_factory=lambda: np.empty(0))
    table_mean: np.ndarray = field(default_factory=lambda: np.empty(0))


@SOLVERS.register("saga")
@dataclass(frozen=True)
class SAGA(MinibatchOptions, StepSizeOption, StochasticSolver[SAGAState]):
    r"""SAGA: incremental gradients from a table of past ones (Defazio et al. 2014).

    Parameters
    ----------
    step_size : float or str
        The constant step :math:`\gamma`: a number, ``"c/L_max"`` or ``"1/(c L_max)"``
        (:math:`L_{\max}` the largest per-sample smoothness constant; the paper's
        :math:`1/(3L)` by default), or the same with :math:`L`.
    batch_size, replacement
        Rows :math:`b` per step, drawn with replacement (uniform rows, as in the paper;
        the default here) or from a fresh permutation each pass
        (:class:`~optbench.solvers.stochastic.MinibatchOptions`).
    """

    step_size: float | str = "1/(3 L_max)"
    replacement: bool = True

    def __post_init__(self) -> None:
        check_step(self.step_size)
        self.check_minibatch_options()

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> SAGAState:
        """Resolve the step and fill the table at :math:`x_0` (one data pass)."""
        step_size = resolve_step(self.step_size, oracle)
        sampler = self.sampler(oracle, rng)
        x = np.array(x0, dtype=float)
        rows = np.arange(sampler.n_samples)
        table = np.array(oracle.sample_derivatives(x, rows), dtype=float)
        return SAGAState(
            x=x,
            step_size=step_size,
            sampler=sampler,
            table=table,
            table_mean=oracle.grad_from_derivatives(rows, table),
        )

    def step(self, oracle: Oracle, state: SAGAState) -> SAGAState:
        r"""One step :math:`x \leftarrow x - \gamma v`; the drawn rows' entries are replaced."""
        assert state.sampler is not None
        x, table = state.x, state.table
        batch = state.sampler.next()
        fresh = oracle.sample_derivatives(x, batch)
        change = fresh - table[batch]
        correction = oracle.grad_from_derivatives(batch, change)
        direction = correction + state.table_mean
        direction += oracle.ridge_grad(x)
        if not np.isfinite(direction).all():
            return state.failed(f"non-finite SAGA direction at step {state.iteration}")
        # The mean moves by each distinct row's change once, however often it was drawn.
        rows: np.ndarray = batch
        first: slice | np.ndarray = slice(None)
        if len(batch) > 1:
            rows, first = np.unique(batch, return_index=True)
        if len(rows) < len(batch):
            correction = oracle.grad_from_derivatives(rows, change[first])
        table_mean = state.table_mean + (len(rows) / state.sampler.n_samples) * correction
        table[rows] = fresh[first]
        return state.replace(
            x=x - float(state.step_size or 0.0) * direction,
            table_mean=table_mean,
            iteration=state.iteration + 1,
        )
