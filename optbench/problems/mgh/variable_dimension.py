r"""MGH problems 20–35: the test functions whose number of variables ``n`` varies.

Moré, Garbow & Hillstrom, "Testing Unconstrained Optimization Software", ACM TOMS
7(1):17–41, 1981 (MGH below), section 3, problems (20) to (35). Each class gives the
residuals :math:`r_i`, their Jacobian, the second-order term
:math:`\sum_i w_i \nabla^2 r_i(x)\, v`, the standard starting point and the optimal
value MGH reports, following the paper's formulas (indices below are the paper's,
from 1).

Sizes
-----
MGH lets ``n`` vary and ties ``m`` to it (``m = n``, ``n + 1``, ``n + 2``, ``2n``) or
fixes it (Watson, ``m = 31``), except for the linear functions (32)–(34) and Chebyquad
(35), where any ``m >= n`` is allowed. Given only ``n``, a class takes the ``m`` the
paper ties to it; for (32)–(34) that is ``m = 2n`` and for (35) ``m = n``.

MGH names no standard ``n`` for these functions. The defaults (``default_n``,
``default_m``) are sizes for which MGH states the optimal value: one of the sizes MGH
lists where it lists some (Watson ``n = 6``, Penalty I and II ``n = 10``, Chebyquad
``n = m = 8``), and otherwise the sizes of the MINPACK-1 test drivers that accompany
the paper (``n = 10`` for (21) and (23)–(31), ``n = 5, m = 10`` for (32)–(34)), with
``n = 12`` for the extended Powell function, whose ``n`` must be a multiple of 4.

Published optimal values
------------------------
MGH prints optimal values truncated to six digits ("2.28767... 10^-3");
:meth:`~optbench.problems.mgh.definition.MGHFunction.published_f_star` returns them as
printed, so they are accurate to about 1e-5 relative. Where MGH gives a closed form
(the linear functions) or zero, it is exact.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.polynomial import chebyshev

from optbench.problems.mgh.definition import MGHFunction, register
from optbench.scalars import is_integer

__all__ = [
    "BroydenBanded",
    "BroydenTridiagonal",
    "BrownAlmostLinear",
    "Chebyquad",
    "DiscreteBoundaryValue",
    "DiscreteIntegralEquation",
    "ExtendedPowellSingular",
    "ExtendedRosenbrock",
    "LinearFullRank",
    "LinearRank1",
    "LinearRank1ZeroColumnsRows",
    "PenaltyI",
    "PenaltyII",
    "Trigonometric",
    "VariablyDimensioned",
    "VariableSizeFunction",
    "Watson",
]


class VariableSizeFunction(MGHFunction):
    """An MGH function whose ``n`` varies, with ``m`` tied to ``n`` or free above it.

    Subclasses describe their sizes by class attributes; :meth:`check_sizes` enforces
    them with one-line errors naming ``n`` or ``m``.

    Attributes
    ----------
    min_n, max_n : int, int or None
        Bounds on ``n`` (``max_n = None``: unbounded).
    n_multiple : int
        ``n`` must be a multiple of it (2 for the extended Rosenbrock function, 4 for
        the extended Powell function).
    m_free : bool
        ``True`` where MGH allows any ``m >= n``; otherwise ``m`` must equal
        :meth:`m_for` of ``n``.
    m_rule : str
        How ``m`` follows from ``n``, as printed in errors (``"n + 1"``, ``"2n"``).
    """

    min_n: ClassVar[int] = 1
    max_n: ClassVar[int | None] = None
    n_multiple: ClassVar[int] = 1
    m_free: ClassVar[bool] = False
    m_rule: ClassVar[str] = "n"

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        n = self.default_n if n is None else n
        if m is None:
            self.check_n(n)
            m = self.m_for(n)
        super().__init__(n, m)
        self.n, self.m = int(self.n), int(self.m)

    @classmethod
    def m_for(cls, n: int) -> int:
        """The ``m`` MGH ties to ``n`` (if ``m_free``: the ``m`` used given only ``n``)."""
        return n

    @classmethod
    def n_rule(cls) -> str:
        """The rule on ``n`` in words, as printed in errors."""
        kind = {1: "an integer", 2: "an even integer", 4: "a multiple of 4"}[cls.n_multiple]
        upper = "" if cls.max_n is None else f" and <= {cls.max_n}"
        return f"{kind} >= {cls.min_n}{upper}"

    @classmethod
    def check_n(cls, n: int) -> None:
        """Raise ``ValueError("n: must be ..., got ...")`` unless MGH allows ``n``."""
        allowed = (
            is_integer(n)
            and n >= cls.min_n
            and (cls.max_n is None or n <= cls.max_n)
            and n % cls.n_multiple == 0
        )
        if not allowed:
            raise ValueError(f"n: must be {cls.n_rule()} for {cls.name}, got {n!r}")

    @classmethod
    def check_sizes(cls, n: int, m: int) -> None:
        """Raise ``ValueError`` naming ``n`` or ``m`` for sizes MGH does not allow."""
        cls.check_n(n)
        if cls.m_free:
            if not (is_integer(m) and m >= n):
                raise ValueError(f"m: must be an integer >= n = {n} for {cls.name}, got {m!r}")
        elif not (is_integer(m) and m == cls.m_for(n)):
            raise ValueError(
                f"m: must be {cls.m_rule} = {cls.m_for(n)} for {cls.name} with n = {n}, got {m!r}"
            )


def _tridiagonal(diagonal: np.ndarray, below: float, above: float) -> np.ndarray:
    """The dense ``n × n`` matrix with ``diagonal`` and constant sub- and super-diagonals."""
    n = diagonal.size
    matrix = np.zeros((n, n))
    index = np.arange(n)
    matrix[index, index] = diagonal
    matrix[index[1:], index[:-1]] = below
    matrix[index[:-1], index[1:]] = above
    return matrix


def _window_sums(values: np.ndarray, before: int, after: int) -> np.ndarray:
    r"""``s_k = sum(values[max(0, k - before) : k + after + 1]) - values[k]``, in O(n)."""
    n = values.size
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    index = np.arange(n)
    low = np.maximum(index - before, 0)
    high = np.minimum(index + after, n - 1)
    return cumulative[high + 1] - cumulative[low] - values


@register
class Watson(VariableSizeFunction):
    r"""Watson function, MGH problem (20) (Kowalik and Osborne 1968).

    With :math:`t_i = i/29`,

    .. math::
        r_i(x) = \sum_{j=2}^{n} (j-1)\, x_j t_i^{j-2}
                 - \Bigl(\sum_{j=1}^{n} x_j t_i^{j-1}\Bigr)^2 - 1 \quad (1 \le i \le 29),
        \qquad r_{30} = x_1, \qquad r_{31} = x_2 - x_1^2 - 1,

    for :math:`2 \le n \le 31` and ``m = 31``; :math:`x_0 = 0`. MGH reports
    :math:`f^* = 2.28767\ldots\cdot 10^{-3}` for ``n = 6``,
    :math:`1.39976\ldots\cdot 10^{-6}` for ``n = 9`` and
    :math:`4.72238\ldots\cdot 10^{-10}` for ``n = 12``. (A later MATLAB collection of
    these problems adds :math:`2.48631\ldots\cdot 10^{-20}` for ``n = 20``; it is not
    in the 1981 paper and is not used here.)

    With :math:`P_i = \sum_j x_j t_i^{j-1}`, each :math:`r_i` (``i <= 29``) has Hessian
    :math:`-2\, \tau_i \tau_i^\top` where :math:`\tau_i = (t_i^{j-1})_j`, and
    :math:`\nabla^2 r_{31} = -2 e_1 e_1^\top`.
    """

    number = 20
    name = "watson"
    default_n = 6
    default_m = 31
    min_n = 2
    max_n = 31
    m_rule = "31"

    _PUBLISHED: ClassVar[dict[int, float]] = {6: 2.28767e-3, 9: 1.39976e-6, 12: 4.72238e-10}

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        t = np.arange(1, 30) / 29.0
        self._powers = t[:, None] ** np.arange(self.n)  # t_i^(j-1), shape (29, n)
        self._slopes = np.zeros_like(self._powers)  # (j-1) t_i^(j-2)
        self._slopes[:, 1:] = np.arange(1, self.n) * self._powers[:, :-1]

    @classmethod
    def m_for(cls, n: int) -> int:
        return 31

    def x0(self) -> np.ndarray:
        return np.zeros(self.n)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        polynomial = self._powers @ x
        r = np.empty(31)
        r[:29] = self._slopes @ x - polynomial**2 - 1.0
        r[29] = x[0]
        r[30] = x[1] - x[0] ** 2 - 1.0
        return r

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        polynomial = self._powers @ x
        jac = np.zeros((31, self.n))
        jac[:29] = self._slopes - 2.0 * polynomial[:, None] * self._powers
        jac[29, 0] = 1.0
        jac[30, 0] = -2.0 * x[0]
        jac[30, 1] = 1.0
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = -2.0 * (self._powers.T @ (w[:29] * (self._powers @ v)))
        out[0] -= 2.0 * w[30] * v[0]
        return out

    def published_f_star(self) -> float | None:
        return self._PUBLISHED.get(self.n)


@register
class ExtendedRosenbrock(VariableSizeFunction):
    r"""Extended Rosenbrock function, MGH problem (21) (Spedicato 1975).

    .. math:: r_{2i-1}(x) = 10\,(x_{2i} - x_{2i-1}^2), \qquad r_{2i}(x) = 1 - x_{2i-1},

    for even ``n`` and ``m = n``; :math:`x_0 = (-1.2, 1, \ldots, -1.2, 1)`;
    :math:`f^* = 0` at :math:`(1, \ldots, 1)`.
    """

    number = 21
    name = "extended_rosenbrock"
    default_n = 10
    default_m = 10
    min_n = 2
    n_multiple = 2

    def x0(self) -> np.ndarray:
        return np.tile([-1.2, 1.0], self.n // 2)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        odd, even = x[0::2], x[1::2]
        r = np.empty(self.n)
        r[0::2] = 10.0 * (even - odd**2)
        r[1::2] = 1.0 - odd
        return r

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        jac = np.zeros((self.n, self.n))
        odd_index = np.arange(0, self.n, 2)
        jac[odd_index, odd_index] = -20.0 * x[odd_index]
        jac[odd_index, odd_index + 1] = 10.0
        jac[odd_index + 1, odd_index] = -1.0
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n)
        out[0::2] = -20.0 * w[0::2] * v[0::2]
        return out

    def published_f_star(self) -> float | None:
        return 0.0


@register
class ExtendedPowellSingular(VariableSizeFunction):
    r"""Extended Powell singular function, MGH problem (22) (Spedicato 1975).

    For each block :math:`i = 1, \ldots, n/4`,

    .. math::
        r_{4i-3} = x_{4i-3} + 10\, x_{4i-2}, \quad
        r_{4i-2} = \sqrt5\,(x_{4i-1} - x_{4i}), \quad
        r_{4i-1} = (x_{4i-2} - 2 x_{4i-1})^2, \quad
        r_{4i} = \sqrt{10}\,(x_{4i-3} - x_{4i})^2,

    for ``n`` a multiple of 4 and ``m = n``; :math:`x_0 = (3, -1, 0, 1, \ldots)`;
    :math:`f^* = 0` at the origin, where the Hessian is singular.
    """

    number = 22
    name = "extended_powell_singular"
    default_n = 12
    default_m = 12
    min_n = 4
    n_multiple = 4

    def x0(self) -> np.ndarray:
        return np.tile([3.0, -1.0, 0.0, 1.0], self.n // 4)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        a, b, c, d = x.reshape(-1, 4).T
        r = np.empty((self.n // 4, 4))
        r[:, 0] = a + 10.0 * b
        r[:, 1] = np.sqrt(5.0) * (c - d)
        r[:, 2] = (b - 2.0 * c) ** 2
        r[:, 3] = np.sqrt(10.0) * (a - d) ** 2
        return r.ravel()

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        a, b, c, d = x.reshape(-1, 4).T
        blocks = np.zeros((self.n // 4, 4, 4))
        blocks[:, 0, 0], blocks[:, 0, 1] = 1.0, 10.0
        blocks[:, 1, 2], blocks[:, 1, 3] = np.sqrt(5.0), -np.sqrt(5.0)
        blocks[:, 2, 1] = 2.0 * (b - 2.0 * c)
        blocks[:, 2, 2] = -4.0 * (b - 2.0 * c)
        blocks[:, 3, 0] = 2.0 * np.sqrt(10.0) * (a - d)
        blocks[:, 3, 3] = -2.0 * np.sqrt(10.0) * (a - d)
        jac = np.zeros((self.n, self.n))
        start = 4 * np.arange(self.n // 4)[:, None, None]  # the n/4 diagonal blocks
        jac[start + np.arange(4)[:, None], start + np.arange(4)] = blocks
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        # Hessians: 2 u u^T with u = (0, 1, -2, 0) and 2 sqrt(10) q q^T with q = (1, 0, 0, -1).
        va, vb, vc, vd = v.reshape(-1, 4).T
        w3, w4 = w[2::4], w[3::4]
        along_u = 2.0 * w3 * (vb - 2.0 * vc)
        along_q = 2.0 * np.sqrt(10.0) * w4 * (va - vd)
        out = np.zeros((self.n // 4, 4))
        out[:, 0] = along_q
        out[:, 1] = along_u
        out[:, 2] = -2.0 * along_u
        out[:, 3] = -along_q
        return out.ravel()

    def published_f_star(self) -> float | None:
        return 0.0


@register
class PenaltyI(VariableSizeFunction):
    r"""Penalty function I, MGH problem (23) (Gill, Murray and Pitfield 1972).

    .. math::
        r_i(x) = \sqrt{a}\,(x_i - 1) \quad (1 \le i \le n), \qquad
        r_{n+1}(x) = \sum_{j=1}^{n} x_j^2 - \tfrac14, \qquad a = 10^{-5},

    with ``m = n + 1``; :math:`x_0 = (1, 2, \ldots, n)`. MGH reports
    :math:`f^* = 2.24997\ldots\cdot 10^{-5}` for ``n = 4`` and
    :math:`7.08765\ldots\cdot 10^{-5}` for ``n = 10``.
    """

    number = 23
    name = "penalty_1"
    default_n = 10
    default_m = 11
    m_rule = "n + 1"

    _A = 1e-5
    _PUBLISHED: ClassVar[dict[int, float]] = {4: 2.24997e-5, 10: 7.08765e-5}

    @classmethod
    def m_for(cls, n: int) -> int:
        return n + 1

    def x0(self) -> np.ndarray:
        return np.arange(1.0, self.n + 1)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.append(np.sqrt(self._A) * (x - 1.0), x @ x - 0.25)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        jac = np.zeros((self.n + 1, self.n))
        np.fill_diagonal(jac, np.sqrt(self._A))
        jac[self.n] = 2.0 * x
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        return 2.0 * w[self.n] * v

    def published_f_star(self) -> float | None:
        return self._PUBLISHED.get(self.n)


@register
class PenaltyII(VariableSizeFunction):
    r"""Penalty function II, MGH problem (24) (Gill, Murray and Pitfield 1972).

    With :math:`a = 10^{-5}` and :math:`y_i = e^{i/10} + e^{(i-1)/10}`,

    .. math::
        r_1 = x_1 - 0.2, \qquad
        r_i = \sqrt{a}\,\bigl(e^{x_i/10} + e^{x_{i-1}/10} - y_i\bigr) \quad (2 \le i \le n),

        r_i = \sqrt{a}\,\bigl(e^{x_{i-n+1}/10} - e^{-1/10}\bigr) \quad (n < i < 2n), \qquad
        r_{2n} = \sum_{j=1}^{n} (n - j + 1)\, x_j^2 - 1,

    with ``m = 2n``; :math:`x_0 = (1/2, \ldots, 1/2)`. MGH reports
    :math:`f^* = 9.37629\ldots\cdot 10^{-6}` for ``n = 4`` and
    :math:`2.93660\ldots\cdot 10^{-4}` for ``n = 10``.
    """

    number = 24
    name = "penalty_2"
    default_n = 10
    default_m = 20
    m_rule = "2n"

    _A = 1e-5
    _PUBLISHED: ClassVar[dict[int, float]] = {4: 9.37629e-6, 10: 2.93660e-4}

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        i = np.arange(2, self.n + 1)
        self._y = np.exp(i / 10.0) + np.exp((i - 1) / 10.0)
        self._weights = np.arange(self.n, 0, -1.0)  # n - j + 1

    @classmethod
    def m_for(cls, n: int) -> int:
        return 2 * n

    def x0(self) -> np.ndarray:
        return np.full(self.n, 0.5)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        n, root_a = self.n, np.sqrt(self._A)
        e = np.exp(x / 10.0)
        r = np.empty(2 * n)
        r[0] = x[0] - 0.2
        r[1:n] = root_a * (e[1:] + e[:-1] - self._y)
        r[n : 2 * n - 1] = root_a * (e[1:] - np.exp(-0.1))
        r[2 * n - 1] = self._weights @ x**2 - 1.0
        return r

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        n = self.n
        slope = np.sqrt(self._A) * np.exp(x / 10.0) / 10.0
        k = np.arange(1, n)
        jac = np.zeros((2 * n, n))
        jac[0, 0] = 1.0
        jac[k, k] = slope[1:]
        jac[k, k - 1] = slope[:-1]
        jac[n + k - 1, k] = slope[1:]
        jac[2 * n - 1] = 2.0 * self._weights * x
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        n = self.n
        # Each exponential residual is convex in one coordinate: d2/dx_j2 = sqrt(a) e^{x_j/10}/100.
        coefficient = np.zeros(n)
        coefficient[1:] += w[1:n] + w[n : 2 * n - 1]
        coefficient[:-1] += w[1:n]
        curvature = np.sqrt(self._A) * np.exp(x / 10.0) / 100.0
        return curvature * coefficient * v + 2.0 * w[2 * n - 1] * self._weights * v

    def published_f_star(self) -> float | None:
        return self._PUBLISHED.get(self.n)


@register
class VariablyDimensioned(VariableSizeFunction):
    r"""Variably dimensioned function, MGH problem (25).

    .. math::
        r_i = x_i - 1 \quad (1 \le i \le n), \qquad
        r_{n+1} = \sum_{j=1}^{n} j\,(x_j - 1), \qquad
        r_{n+2} = \Bigl(\sum_{j=1}^{n} j\,(x_j - 1)\Bigr)^2,

    with ``m = n + 2``; :math:`x_0 = (1 - j/n)_j`; :math:`f^* = 0` at
    :math:`(1, \ldots, 1)`.
    """

    number = 25
    name = "variably_dimensioned"
    default_n = 10
    default_m = 12
    m_rule = "n + 2"

    @classmethod
    def m_for(cls, n: int) -> int:
        return n + 2

    def x0(self) -> np.ndarray:
        return 1.0 - np.arange(1, self.n + 1) / self.n

    def residuals(self, x: np.ndarray) -> np.ndarray:
        weighted = np.arange(1, self.n + 1) @ (x - 1.0)
        return np.concatenate((x - 1.0, [weighted, weighted**2]))

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        j = np.arange(1.0, self.n + 1)
        weighted = j @ (x - 1.0)
        return np.vstack((np.eye(self.n), j, 2.0 * weighted * j))

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        j = np.arange(1.0, self.n + 1)
        return 2.0 * w[self.n + 1] * (j @ v) * j

    def published_f_star(self) -> float | None:
        return 0.0


@register
class Trigonometric(VariableSizeFunction):
    r"""Trigonometric function, MGH problem (26) (Spedicato 1975).

    .. math::
        r_i(x) = n - \sum_{j=1}^{n} \cos x_j + i\,(1 - \cos x_i) - \sin x_i,

    with ``m = n``; :math:`x_0 = (1/n, \ldots, 1/n)`. MGH reports :math:`f^* = 0`
    (attained at the origin); from :math:`x_0` descent methods usually reach a local
    minimum with a positive value instead.
    """

    number = 26
    name = "trigonometric"
    default_n = 10
    default_m = 10

    def x0(self) -> np.ndarray:
        return np.full(self.n, 1.0 / self.n)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        cos = np.cos(x)
        return self.n - cos.sum() + np.arange(1, self.n + 1) * (1.0 - cos) - np.sin(x)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        sin, cos = np.sin(x), np.cos(x)
        jac = np.tile(sin, (self.n, 1))
        jac[np.diag_indices(self.n)] += np.arange(1, self.n + 1) * sin - cos
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        sin, cos = np.sin(x), np.cos(x)
        return (w.sum() * cos + w * (np.arange(1, self.n + 1) * cos + sin)) * v

    def published_f_star(self) -> float | None:
        return 0.0


@register
class BrownAlmostLinear(VariableSizeFunction):
    r"""Brown almost-linear function, MGH problem (27) (Brown 1969).

    .. math::
        r_i(x) = x_i + \sum_{j=1}^{n} x_j - (n + 1) \quad (1 \le i < n), \qquad
        r_n(x) = \prod_{j=1}^{n} x_j - 1,

    with ``m = n``; :math:`x_0 = (1/2, \ldots, 1/2)`. MGH reports :math:`f^* = 0` at
    :math:`(\alpha, \ldots, \alpha, \alpha^{1-n})` with
    :math:`n\alpha^n - (n+1)\alpha^{n-1} + 1 = 0` (in particular :math:`\alpha = 1`)
    and :math:`f = 1` at :math:`(0, \ldots, 0, n + 1)`; the published value is the
    smaller.

    The product's derivatives are computed without division by a coordinate that may
    be zero: the gradient from prefix and suffix products, the Hessian-vector product
    from the zero pattern of ``x`` (see :meth:`residual_curvature`).
    """

    number = 27
    name = "brown_almost_linear"
    default_n = 10
    default_m = 10

    def x0(self) -> np.ndarray:
        return np.full(self.n, 0.5)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r = x + (x.sum() - (self.n + 1))
        r[-1] = np.prod(x) - 1.0
        return r

    @staticmethod
    def _product_gradient(x: np.ndarray) -> np.ndarray:
        r""":math:`(\prod_{l \ne j} x_l)_j` as prefix times suffix products."""
        prefix = np.concatenate(([1.0], np.cumprod(x[:-1])))
        suffix = np.concatenate((np.cumprod(x[::-1])[:-1][::-1], [1.0]))
        return prefix * suffix

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        jac = np.ones((self.n, self.n))
        jac[np.diag_indices(self.n)] += 1.0
        jac[-1] = self._product_gradient(x)
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        r"""Only :math:`r_n` is curved: :math:`w_n (\nabla^2 \Pi)\, v` in O(n).

        :math:`(\nabla^2 \Pi\, v)_j = \sum_{k \ne j} v_k \prod_{l \notin \{j, k\}} x_l`.
        With ``x``'s zeros replaced by ones (``q``, product ``Q``), a term is nonzero
        only when no zero of ``x`` lies outside :math:`\{j, k\}`, and then equals
        :math:`Q v_k / (q_j q_k)`; counting the zeros gives each sum in closed form.
        """
        zero = x == 0.0
        q = np.where(zero, 1.0, x)
        scaled = v / q
        sum_nonzero = scaled[~zero].sum()
        sum_zero = v[zero].sum()
        zeros_elsewhere = np.count_nonzero(zero) - zero  # zeros of x other than x_j
        # k must be nonzero when x_j's product has no other zero, or be the one other zero.
        term = np.where(
            zeros_elsewhere == 0,
            sum_nonzero - np.where(zero, 0.0, scaled),
            np.where(zeros_elsewhere == 1, sum_zero - np.where(zero, v, 0.0), 0.0),
        )
        return w[-1] * np.prod(q) / q * term

    def published_f_star(self) -> float | None:
        return 0.0


class _DiscretizedBVP(VariableSizeFunction):
    """Shared grid of MGH (28) and (29): :math:`h = 1/(n+1)`, :math:`t_i = i h`."""

    default_n = 10
    default_m = 10

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        self._h = 1.0 / (self.n + 1)
        self._t = np.arange(1, self.n + 1) * self._h

    def x0(self) -> np.ndarray:
        return self._t * (self._t - 1.0)

    def published_f_star(self) -> float | None:
        return 0.0


@register
class DiscreteBoundaryValue(_DiscretizedBVP):
    r"""Discrete boundary value function, MGH problem (28) (Moré and Cosnard 1979).

    .. math::
        r_i(x) = 2x_i - x_{i-1} - x_{i+1} + \tfrac{h^2}{2}\,(x_i + t_i + 1)^3,
        \qquad h = \tfrac{1}{n+1},\ t_i = i h,\ x_0 = x_{n+1} = 0,

    with ``m = n``; :math:`x_0 = (t_j (t_j - 1))_j`; :math:`f^* = 0`.
    """

    number = 28
    name = "discrete_boundary_value"

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r = 2.0 * x + self._h**2 / 2.0 * (x + self._t + 1.0) ** 3
        r[1:] -= x[:-1]
        r[:-1] -= x[1:]
        return r

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        diagonal = 2.0 + 1.5 * self._h**2 * (x + self._t + 1.0) ** 2
        return _tridiagonal(diagonal, -1.0, -1.0)

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        return 3.0 * self._h**2 * (x + self._t + 1.0) * w * v


@register
class DiscreteIntegralEquation(_DiscretizedBVP):
    r"""Discrete integral equation function, MGH problem (29) (Moré and Cosnard 1979).

    .. math::
        r_i(x) = x_i + \tfrac{h}{2}\Bigl[(1 - t_i) \sum_{j=1}^{i} t_j (x_j + t_j + 1)^3
                 + t_i \sum_{j=i+1}^{n} (1 - t_j)(x_j + t_j + 1)^3\Bigr],

    with :math:`h = 1/(n+1)`, :math:`t_i = i h`, ``m = n``;
    :math:`x_0 = (t_j (t_j - 1))_j`; :math:`f^* = 0`.

    In matrix form :math:`r = x + \tfrac{h}{2} K u` with :math:`u_j = (x_j + t_j + 1)^3`
    and the Green's kernel :math:`K_{ij} = (1 - t_i) t_j` for :math:`j \le i`,
    :math:`t_i (1 - t_j)` for :math:`j > i`. Residuals and the second-order term use
    cumulative sums (O(n)); only the Jacobian, which is dense, forms :math:`K`.
    """

    number = 29
    name = "discrete_integral_equation"

    def residuals(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        cubes = (x + t + 1.0) ** 3
        lower = np.cumsum(t * cubes)  # sum over j <= i
        right = (1.0 - t) * cubes
        upper = right.sum() - np.cumsum(right)  # sum over j > i
        return x + self._h / 2.0 * ((1.0 - t) * lower + t * upper)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        kernel = np.tril(np.outer(1.0 - t, t)) + np.triu(np.outer(t, 1.0 - t), 1)
        jac = self._h / 2.0 * kernel * (3.0 * (x + t + 1.0) ** 2)
        jac[np.diag_indices(self.n)] += 1.0
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        t = self._t
        # (K^T w)_j = t_j sum_{i >= j} (1 - t_i) w_i + (1 - t_j) sum_{i < j} t_i w_i
        from_below = np.cumsum(((1.0 - t) * w)[::-1])[::-1]
        from_above = np.concatenate(([0.0], np.cumsum(t * w)[:-1]))
        kernel_t_w = t * from_below + (1.0 - t) * from_above
        return 3.0 * self._h * (x + t + 1.0) * kernel_t_w * v


@register
class BroydenTridiagonal(VariableSizeFunction):
    r"""Broyden tridiagonal function, MGH problem (30) (Broyden 1965).

    .. math:: r_i(x) = (3 - 2x_i)\,x_i - x_{i-1} - 2x_{i+1} + 1, \qquad x_0 = x_{n+1} = 0,

    with ``m = n``; :math:`x_0 = (-1, \ldots, -1)`; :math:`f^* = 0`.
    """

    number = 30
    name = "broyden_tridiagonal"
    default_n = 10
    default_m = 10

    def x0(self) -> np.ndarray:
        return np.full(self.n, -1.0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r = (3.0 - 2.0 * x) * x + 1.0
        r[1:] -= x[:-1]
        r[:-1] -= 2.0 * x[1:]
        return r

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return _tridiagonal(3.0 - 4.0 * x, -1.0, -2.0)

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        return -4.0 * w * v

    def published_f_star(self) -> float | None:
        return 0.0


@register
class BroydenBanded(VariableSizeFunction):
    r"""Broyden banded function, MGH problem (31) (Broyden 1971).

    .. math::
        r_i(x) = x_i (2 + 5 x_i^2) + 1 - \sum_{j \in J_i} x_j (1 + x_j), \quad
        J_i = \{ j \ne i : \max(1, i - m_l) \le j \le \min(n, i + m_u) \},

    with :math:`m_l = 5`, :math:`m_u = 1`, ``m = n``; :math:`x_0 = (-1, \ldots, -1)`;
    :math:`f^* = 0`. The band sums use cumulative sums (O(n)).
    """

    number = 31
    name = "broyden_banded"
    default_n = 10
    default_m = 10

    _LOWER = 5  # m_l
    _UPPER = 1  # m_u

    def x0(self) -> np.ndarray:
        return np.full(self.n, -1.0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        band = _window_sums(x * (1.0 + x), self._LOWER, self._UPPER)
        return x * (2.0 + 5.0 * x**2) + 1.0 - band

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        n = self.n
        in_band = np.tri(n, n, self._UPPER) - np.tri(n, n, -self._LOWER - 1)
        jac = -in_band * (1.0 + 2.0 * x)
        jac[np.diag_indices(n)] = 2.0 + 15.0 * x**2
        return jac

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        # x_j appears in r_i for j - m_u <= i <= j + m_l, i != j, with second derivative -2.
        transposed_band = _window_sums(w, self._UPPER, self._LOWER)
        return (30.0 * x * w - 2.0 * transposed_band) * v

    def published_f_star(self) -> float | None:
        return 0.0


class _LinearFunction(VariableSizeFunction):
    """MGH (32)–(34): affine residuals, any ``m >= n``, :math:`x_0 = (1, \\ldots, 1)`."""

    default_n = 5
    default_m = 10
    m_free = True
    affine_residuals = True

    @classmethod
    def m_for(cls, n: int) -> int:
        return 2 * n

    def x0(self) -> np.ndarray:
        return np.ones(self.n)

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.zeros(self.n)


@register
class LinearFullRank(_LinearFunction):
    r"""Linear function — full rank, MGH problem (32).

    .. math::
        r_i(x) = x_i - \tfrac{2}{m} \sum_{j=1}^{n} x_j - 1 \quad (1 \le i \le n), \qquad
        r_i(x) = -\tfrac{2}{m} \sum_{j=1}^{n} x_j - 1 \quad (n < i \le m),

    for ``m >= n``; :math:`x_0 = (1, \ldots, 1)`; :math:`f^* = m - n` at
    :math:`(-1, \ldots, -1)`.
    """

    number = 32
    name = "linear_full_rank"

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r = np.full(self.m, -2.0 / self.m * x.sum() - 1.0)
        r[: self.n] += x
        return r

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        jac = np.full((self.m, self.n), -2.0 / self.m)
        jac[np.diag_indices(self.n)] += 1.0
        return jac

    def published_f_star(self) -> float | None:
        return float(self.m - self.n)


@register
class LinearRank1(_LinearFunction):
    r"""Linear function — rank 1, MGH problem (33).

    .. math:: r_i(x) = i \sum_{j=1}^{n} j\,x_j - 1 \quad (1 \le i \le m),

    for ``m >= n``; :math:`x_0 = (1, \ldots, 1)`;
    :math:`f^* = \frac{m(m-1)}{2(2m+1)}` at any point where
    :math:`\sum_j j x_j = \frac{3}{2m+1}`.
    """

    number = 33
    name = "linear_rank_1"

    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(1.0, self.m + 1), np.arange(1.0, self.n + 1)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        rows, columns = self._factors()
        return rows * (columns @ x) - 1.0

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return np.outer(*self._factors())

    def published_f_star(self) -> float | None:
        m = self.m
        return m * (m - 1) / (2.0 * (2 * m + 1))

    def minimisers(self) -> tuple[tuple[float, ...], ...]:
        """One point of the minimising hyperplane: :math:`x_1 = 3/(2m+1)`, the rest 0."""
        return ((3.0 / (2 * self.m + 1),) + (0.0,) * (self.n - 1),)


@register
class LinearRank1ZeroColumnsRows(LinearRank1):
    r"""Linear function — rank 1 with zero columns and rows, MGH problem (34).

    .. math::
        r_1 = r_m = -1, \qquad
        r_i(x) = (i - 1) \sum_{j=2}^{n-1} j\,x_j - 1 \quad (2 \le i \le m - 1),

    for ``m >= n``; :math:`x_0 = (1, \ldots, 1)`;
    :math:`f^* = \frac{m^2 + 3m - 6}{2(2m - 3)}` at any point where
    :math:`\sum_{j=2}^{n-1} j x_j = \frac{3}{2m-3}`. For ``n <= 2`` no variable enters
    and ``f = m`` everywhere; MGH's formula presumes ``n >= 3``, so
    :meth:`published_f_star` gives ``None`` there.
    """

    number = 34
    name = "linear_rank_1_zero_columns_rows"

    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(self.m, dtype=float)  # i - 1
        rows[-1] = 0.0
        columns = np.arange(1.0, self.n + 1)
        columns[0] = 0.0
        columns[-1] = 0.0
        return rows, columns

    def published_f_star(self) -> float | None:
        if self.n < 3:
            return None
        m = self.m
        return (m**2 + 3 * m - 6) / (2.0 * (2 * m - 3))

    def minimisers(self) -> tuple[tuple[float, ...], ...]:
        """One minimiser: :math:`x_2 = 3/(2(2m-3))`, the rest 0 (needs ``n >= 3``)."""
        if self.n < 3:
            return ()
        return ((0.0, 3.0 / (2 * (2 * self.m - 3))) + (0.0,) * (self.n - 2),)


@register
class Chebyquad(VariableSizeFunction):
    r"""Chebyquad function, MGH problem (35) (Fletcher 1965).

    .. math::
        r_i(x) = \frac1n \sum_{j=1}^{n} T_i(x_j) - \int_0^1 T_i(\xi)\, d\xi,
        \qquad \int_0^1 T_i = 0 \ (i \text{ odd}), \ -\frac{1}{i^2 - 1} \ (i \text{ even}),

    where :math:`T_i` is the Chebyshev polynomial of degree ``i`` shifted to
    :math:`[0, 1]`, :math:`T_i(\xi) = \cos(i \arccos(2\xi - 1))`; any ``m >= n``
    (``m = n`` given only ``n``); :math:`x_0 = (j/(n+1))_j`. MGH reports
    :math:`f^* = 0` for ``m = n`` with :math:`1 \le n \le 7` and ``n = 9``,
    :math:`3.51687\ldots\cdot 10^{-3}` for ``m = n = 8`` and
    :math:`6.50395\ldots\cdot 10^{-3}` for ``m = n = 10``.

    All points and degrees at once: the values :math:`T_i(y_j)` (:math:`y = 2x - 1`)
    by numpy's Chebyshev Vandermonde matrix, the derivatives by
    :math:`T_i' = i\,U_{i-1}` with the Chebyshev polynomials of the second kind from
    cumulative sums over degrees of one parity,
    :math:`U_k = 2\sum_{j \equiv k\ (2),\, j \le k} T_j - [k \text{ even}]`, and
    likewise :math:`U_k' = 2\sum_{j \equiv k\ (2),\, j \le k} T_j'`,
    :math:`T_i'' = i\,U_{i-1}'`. These are polynomial identities, valid for every
    real ``x``.
    """

    number = 35
    name = "chebyquad"
    default_n = 8
    default_m = 8
    m_free = True

    _PUBLISHED_SQUARE: ClassVar[dict[int, float]] = {8: 3.51687e-3, 10: 6.50395e-3}

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        degree = np.arange(1, self.m + 1)
        self._integrals = np.zeros(self.m)
        even = degree % 2 == 0
        self._integrals[even] = -1.0 / (degree[even] ** 2 - 1.0)

    def x0(self) -> np.ndarray:
        return np.arange(1, self.n + 1) / (self.n + 1.0)

    def _values(self, x: np.ndarray) -> np.ndarray:
        """:math:`T_i(y_j)` for ``i = 0..m``, shape ``(n, m + 1)``."""
        return chebyshev.chebvander(2.0 * x - 1.0, self.m)

    @staticmethod
    def _parity_sums(columns: np.ndarray) -> np.ndarray:
        r"""Column ``k`` of the result is :math:`2\sum_{j \le k,\, j \equiv k\ (2)} c_j`."""
        sums = np.empty_like(columns)
        sums[:, 0::2] = 2.0 * np.cumsum(columns[:, 0::2], axis=1)
        sums[:, 1::2] = 2.0 * np.cumsum(columns[:, 1::2], axis=1)
        return sums

    def _derivatives(self, values: np.ndarray) -> np.ndarray:
        """:math:`T_i'(y_j)` for ``i = 1..m`` (derivative in ``y``), shape ``(n, m)``."""
        second_kind = self._parity_sums(values[:, : self.m])  # U_k, k = 0..m-1, ...
        second_kind[:, 0::2] -= 1.0  # ... less 1 for even k
        return np.arange(1, self.m + 1) * second_kind

    def _second_derivatives(self, first: np.ndarray) -> np.ndarray:
        """:math:`T_i''(y_j)` for ``i = 1..m`` from :math:`T_i'` (``i = 1..m``)."""
        # T'_j for j = 0..m-1 (T'_0 = 0) give U'_k for k = 0..m-1.
        lower = np.concatenate((np.zeros((first.shape[0], 1)), first[:, :-1]), axis=1)
        return np.arange(1, self.m + 1) * self._parity_sums(lower)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self._values(x)[:, 1:].mean(axis=0) - self._integrals

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        # d/dx T_i(2x - 1) = 2 T_i'(y)
        return 2.0 / self.n * self._derivatives(self._values(x)).T

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        second = self._second_derivatives(self._derivatives(self._values(x)))
        return 4.0 / self.n * (second @ w) * v

    def published_f_star(self) -> float | None:
        if self.m != self.n:
            return None
        if self.n <= 7 or self.n == 9:
            return 0.0
        return self._PUBLISHED_SQUARE.get(self.n)
