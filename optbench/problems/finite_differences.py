r"""Hessian-vector products by finite differences of gradients.

With :math:`u = v/\|v\|` and the float64 unit roundoff :math:`\epsilon`,

.. math::

    \text{forward:}\quad \nabla^2 f(x)\,v \approx
        \frac{\nabla f(x + h u) - \nabla f(x)}{h}\,\|v\|,
        \qquad h = \epsilon^{1/2}\,(1 + \|x\|), \\
    \text{central:}\quad \nabla^2 f(x)\,v \approx
        \frac{\nabla f(x + h u) - \nabla f(x - h u)}{2h}\,\|v\|,
        \qquad h = \epsilon^{1/3}\,(1 + \|x\|).

Each step balances the truncation error, :math:`O(h)` forward and :math:`O(h^2)` central,
against the rounding error of the gradients, :math:`O(\epsilon/h)` (Nocedal & Wright,
2nd ed., §8.1): the best relative errors are about :math:`\epsilon^{1/2} \approx 1.5\cdot
10^{-8}` and :math:`\epsilon^{2/3} \approx 4\cdot 10^{-11}` times the scale of the next
derivative. The step is chosen per call from the scale of :math:`x` and taken along the
unit direction, so the error does not depend on how :math:`v` is scaled. The forward
formula costs one gradient besides :math:`\nabla f(x)` (which a solver usually has
already), the central one two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optbench.numerics import norm2

#: Unit roundoff of float64 and the step scales of the two formulas.
EPS = float(np.finfo(float).eps)
FORWARD_STEP = EPS**0.5
CENTRAL_STEP = EPS ** (1.0 / 3.0)

Gradient = Callable[[np.ndarray], np.ndarray]


def _direction(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, float] | None:
    norm = norm2(v)
    return None if norm == 0.0 else (v / norm, norm)


def central_difference_hvp(grad: Gradient, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    r""":math:`\nabla^2 f(x) v` by central differences of ``grad`` (two gradients)."""
    unit = _direction(x, v)
    if unit is None:
        return np.zeros_like(x, dtype=float)
    u, norm = unit
    h = CENTRAL_STEP * (1.0 + norm2(x))
    return (grad(x + h * u) - grad(x - h * u)) * (norm / (2.0 * h))


def forward_difference_hvp(
    grad: Gradient, x: np.ndarray, v: np.ndarray, grad_x: np.ndarray | None = None
) -> np.ndarray:
    r""":math:`\nabla^2 f(x) v` by forward differences (one gradient when ``grad_x`` is given)."""
    unit = _direction(x, v)
    if unit is None:
        return np.zeros_like(x, dtype=float)
    u, norm = unit
    h = FORWARD_STEP * (1.0 + norm2(x))
    base = grad(x) if grad_x is None else grad_x
    return (grad(x + h * u) - base) * (norm / h)
