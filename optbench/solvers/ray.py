r"""The restriction :math:`\phi(\alpha) = f(x + \alpha d)` of a counted oracle to a ray.

Line searches (:mod:`optbench.solvers.linesearch`) work on a scalar function; a
:class:`Ray` supplies it on an :class:`~optbench.problems.oracle.Oracle` and remembers
the last evaluation, so a solver gets :math:`f` and :math:`\nabla f` at the accepted
step without evaluating them again.
"""

from __future__ import annotations

import numpy as np

from optbench.problems.oracle import Oracle


class Ray:
    r"""The restriction :math:`\phi(\alpha) = f(x + \alpha d)` of a counted oracle.

    Every evaluation goes through the oracle (so it is counted); the last one is
    remembered so that :meth:`point` returns :math:`x + \alpha d`, :math:`f` and
    :math:`\nabla f` at the accepted step without evaluating them again.

    Parameters
    ----------
    oracle : Oracle
        The counted oracle.
    x : ndarray
        Base point.
    direction : ndarray
        Search direction :math:`d`.

    Examples
    --------
    >>> ray = Ray(oracle, x, -g)                                       # doctest: +SKIP
    >>> result = strong_wolfe(ray.value_and_slope, f, -(g @ g))        # doctest: +SKIP
    >>> x_new, f_new, g_new = ray.point(result.step_size)              # doctest: +SKIP
    """

    def __init__(self, oracle: Oracle, x: np.ndarray, direction: np.ndarray) -> None:
        self.oracle = oracle
        self.x = x
        self.direction = direction
        # (alpha, x + alpha d, f, grad f or None) of the last evaluation
        self._last: tuple[float, np.ndarray, float, np.ndarray | None] | None = None

    def value_and_slope(self, step_size: float) -> tuple[float, float]:
        r""":math:`(\phi(\alpha), \phi'(\alpha))` from one fused value-and-gradient."""
        point = self.x + step_size * self.direction
        value, grad = self.oracle.value_and_grad(point)
        self._last = (step_size, point, value, grad)
        return float(value), float(grad @ self.direction)

    def value(self, step_size: float) -> float:
        r""":math:`\phi(\alpha)` from one value evaluation."""
        point = self.x + step_size * self.direction
        value = self.oracle.value(point)
        self._last = (step_size, point, value, None)
        return float(value)

    def point(self, step_size: float) -> tuple[np.ndarray, float, np.ndarray]:
        r"""``(x + alpha d, f, grad f)``: remembered if ``alpha`` was the last evaluation
        and had a gradient, otherwise evaluated (and counted) now."""
        if self._last is None or self._last[0] != step_size or self._last[3] is None:
            self.value_and_slope(step_size)
        assert self._last is not None
        _, point, value, grad = self._last
        assert grad is not None
        return point, float(value), grad
