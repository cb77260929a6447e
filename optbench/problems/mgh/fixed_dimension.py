r"""Moré–Garbow–Hillstrom problems 1–19: the functions of fixed dimension ``n``.

Each class follows section 3 of Moré, Garbow & Hillstrom, "Testing Unconstrained
Optimization Software", ACM TOMS 7(1):17–41, 1981 (MGH): the residuals
:math:`r_i(x)`, the standard starting point :math:`x_0` and the optimal values the
paper reports. Derivatives are analytic and vectorised over the residuals; since
``n <= 11`` here, the second-order term :math:`\sum_i w_i \nabla^2 r_i(x)` is built as a
small ``n × n`` matrix (:meth:`MGHFunction.residual_hessian`) and applied to ``v``.

Where the paper lets ``m`` vary (Jennrich–Sampson, Gulf, Box, Brown–Dennis, Biggs) the
default is the size the paper's reported optimum refers to or, where it names none,
the one of the authors' own Fortran (TOMS Algorithm 566, the software of the paper;
MINPACK-1's ``ssqfcn`` for Jennrich–Sampson): each class says which. Data tables and
starting points were checked against the MINPACK-1 test routines ``ssqfcn``/``initpt``
(Garbow, Hillstrom & Moré 1980) and TOMS Algorithm 566; the printed paper has a typo in
problem 11 ("mi" stands for a minus sign), implemented here as
:math:`|y_i - x_2|`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from optbench.problems.mgh.definition import MGHFunction, register

__all__ = [
    "BARD_Y",
    "GAUSSIAN_Y",
    "KOWALIK_OSBORNE_U",
    "KOWALIK_OSBORNE_Y",
    "MEYER_Y",
    "OSBORNE_1_Y",
    "OSBORNE_2_Y",
]

#: Bard (MGH problem 8), the 15 observations :math:`y_i`.
BARD_Y = np.array(
    [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
)
#: Gaussian (MGH problem 9), the 15 observations :math:`y_i` (symmetric about i = 8).
GAUSSIAN_Y = np.array(
    [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
     0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]
)  # fmt: skip
#: Meyer (MGH problem 10), the 16 observations :math:`y_i`.
MEYER_Y = np.array(
    [34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0,
     8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0]
)  # fmt: skip
#: Kowalik–Osborne (MGH problem 15), the 11 observations :math:`y_i`.
KOWALIK_OSBORNE_Y = np.array(
    [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
)
#: Kowalik–Osborne, the 11 abscissae :math:`u_i` (as printed, 1/6 rounded to 0.167 etc.).
KOWALIK_OSBORNE_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])
#: Osborne 1 (MGH problem 17), the 33 observations :math:`y_i`.
OSBORNE_1_Y = np.array(
    [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
     0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
     0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]
)  # fmt: skip
#: Osborne 2 (MGH problem 19), the 65 observations :math:`y_i`.
OSBORNE_2_Y = np.array(
    [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725,
     0.746, 0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724,
     0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495,
     0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429,
     0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632,
     0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
     0.428, 0.292, 0.162, 0.098, 0.054]
)  # fmt: skip


class _SmallMGHFunction(MGHFunction):
    """A fixed-``n`` MGH function: the second-order term as a dense ``n × n`` matrix.

    Subclasses implement :meth:`residual_hessian`; :meth:`residual_curvature` applies it.
    """

    #: The paper's reported optimal value at the default sizes (None: not reported).
    f_star_published: ClassVar[float | None] = None
    #: The paper's starting point.
    start: ClassVar[tuple[float, ...]]

    def x0(self) -> np.ndarray:
        return np.array(self.start, dtype=np.float64)

    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.residual_hessian(x, w) @ v

    def published_f_star(self) -> float | None:
        if self.m != self.default_m:
            return None
        return self.f_star_published


class _VariableM(_SmallMGHFunction):
    """An MGH function with fixed ``n`` and any ``m`` in ``[min_m, max_m]``."""

    min_m: ClassVar[int]
    max_m: ClassVar[int | None] = None

    @classmethod
    def check_sizes(cls, n: int, m: int) -> None:
        if n != cls.default_n:
            raise ValueError(f"n: must be {cls.default_n} for {cls.name}, got {n}")
        if m < cls.min_m or (cls.max_m is not None and m > cls.max_m):
            upper = "" if cls.max_m is None else f" and <= {cls.max_m}"
            raise ValueError(f"m: must be >= {cls.min_m}{upper} for {cls.name}, got {m}")


@register
class Rosenbrock(_SmallMGHFunction):
    r"""MGH 1, Rosenbrock: :math:`r = (10(x_2 - x_1^2),\ 1 - x_1)`; f* = 0 at (1, 1)."""

    number, name, default_n, default_m = 1, "rosenbrock", 2, 2
    known_minimisers = ((1.0, 1.0),)
    start = (-1.2, 1.0)
    f_star_published = 0.0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.array([[-20.0 * w[0], 0.0], [0.0, 0.0]])


@register
class FreudensteinRoth(_SmallMGHFunction):
    r"""MGH 2, Freudenstein and Roth.

    :math:`r_1 = -13 + x_1 + ((5 - x_2) x_2 - 2) x_2`,
    :math:`r_2 = -29 + x_1 + ((x_2 + 1) x_2 - 14) x_2`, from :math:`x_0 = (0.5, -2)`
    (the paper's; NL2SOL's test set starts at (15, -2)). f* = 0 at (5, 4); MGH also
    reports the local minimum f = 48.9842… at (11.41…, -0.8968…).
    """

    number, name, default_n, default_m = 2, "freudenstein_roth", 2, 2
    known_minimisers = ((5.0, 4.0),)
    start = (0.5, -2.0)
    f_star_published = 0.0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        x1, x2 = x
        return np.array(
            [-13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2, -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2]
        )

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        x2 = x[1]
        return np.array([[1.0, (10.0 - 3.0 * x2) * x2 - 2.0], [1.0, (3.0 * x2 + 2.0) * x2 - 14.0]])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        x2 = x[1]
        return np.array([[0.0, 0.0], [0.0, w[0] * (10.0 - 6.0 * x2) + w[1] * (6.0 * x2 + 2.0)]])


@register
class PowellBadlyScaled(_SmallMGHFunction):
    r"""MGH 3, Powell badly scaled.

    :math:`r = (10^4 x_1 x_2 - 1,\ e^{-x_1} + e^{-x_2} - 1.0001)` from (0, 1);
    f* = 0 at (1.098…e-5, 9.106…).
    """

    number, name, default_n, default_m = 3, "powell_badly_scaled", 2, 2
    known_minimisers = ((1.098e-5, 9.106),)
    start = (0.0, 1.0)
    f_star_published = 0.0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.array([1e4 * x[0] * x[1] - 1.0, np.exp(-x[0]) + np.exp(-x[1]) - 1.0001])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return np.array([[1e4 * x[1], 1e4 * x[0]], [-np.exp(-x[0]), -np.exp(-x[1])]])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        coupling = 1e4 * w[0]
        return np.array([[w[1] * np.exp(-x[0]), coupling], [coupling, w[1] * np.exp(-x[1])]])


@register
class BrownBadlyScaled(_SmallMGHFunction):
    r"""MGH 4, Brown badly scaled.

    :math:`r = (x_1 - 10^6,\ x_2 - 2\cdot 10^{-6},\ x_1 x_2 - 2)` from (1, 1);
    f* = 0 at (1e6, 2e-6).
    """

    number, name, default_n, default_m = 4, "brown_badly_scaled", 2, 3
    known_minimisers = ((1e6, 2e-6),)
    start = (1.0, 1.0)
    f_star_published = 0.0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return np.array([[1.0, 0.0], [0.0, 1.0], [x[1], x[0]]])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.array([[0.0, w[2]], [w[2], 0.0]])


@register
class Beale(_SmallMGHFunction):
    r"""MGH 5, Beale: :math:`r_i = y_i - x_1 (1 - x_2^i)`, y = (1.5, 2.25, 2.625).

    From (1, 1); f* = 0 at (3, 0.5).
    """

    number, name, default_n, default_m = 5, "beale", 2, 3
    known_minimisers = ((3.0, 0.5),)
    start = (1.0, 1.0)
    f_star_published = 0.0
    _y = np.array([1.5, 2.25, 2.625])
    _i = np.arange(1.0, 4.0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self._y - x[0] * (1.0 - x[1] ** self._i)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        i = self._i
        return np.column_stack([x[1] ** i - 1.0, x[0] * i * x[1] ** (i - 1.0)])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        i = self._i
        cross = float(w @ (i * x[1] ** (i - 1.0)))
        # i (i - 1) x2^(i - 2), with the i = 1 term exactly zero (no 0 * x2^-1).
        second = float(w[1:] @ (i[1:] * (i[1:] - 1.0) * x[1] ** (i[1:] - 2.0)))
        return np.array([[0.0, cross], [cross, x[0] * second]])


@register
class JennrichSampson(_VariableM):
    r"""MGH 6, Jennrich and Sampson: :math:`r_i = 2 + 2i - (e^{i x_1} + e^{i x_2})`.

    Any ``m >= 2``; the default ``m = 10`` is the size of the paper's reported
    f = 124.362… at :math:`x_1 = x_2 = 0.2578…`. From (0.3, 0.4).
    """

    number, name, default_n, default_m = 6, "jennrich_sampson", 2, 10
    min_m = 2
    start = (0.3, 0.4)
    f_star_published = 124.362

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        self._i = np.arange(1.0, self.m + 1.0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        i = self._i
        return 2.0 + 2.0 * i - np.exp(i * x[0]) - np.exp(i * x[1])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        i = self._i
        return np.column_stack([-i * np.exp(i * x[0]), -i * np.exp(i * x[1])])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        weights = -w * self._i**2
        return np.diag([weights @ np.exp(self._i * x[0]), weights @ np.exp(self._i * x[1])])


@register
class HelicalValley(_SmallMGHFunction):
    r"""MGH 7, helical valley.

    :math:`r = (10(x_3 - 10\theta),\ 10(\sqrt{x_1^2 + x_2^2} - 1),\ x_3)` with
    :math:`2\pi\theta = \arctan(x_2/x_1)` for :math:`x_1 > 0` and
    :math:`\arctan(x_2/x_1) + \pi` for :math:`x_1 < 0` (so :math:`\theta \in (-1/4, 3/4]`,
    cut along the negative :math:`x_2` axis; at :math:`x_1 = 0`,
    :math:`\theta = \operatorname{sign}(x_2)/4` as in MINPACK). From (-1, 0, 0);
    f* = 0 at (1, 0, 0).
    """

    number, name, default_n, default_m = 7, "helical_valley", 3, 3
    known_minimisers = ((1.0, 0.0, 0.0),)
    start = (-1.0, 0.0, 0.0)
    f_star_published = 0.0

    @staticmethod
    def _theta(x1: float, x2: float) -> float:
        if x1 == 0.0:
            return 0.25 if x2 >= 0.0 else -0.25
        theta = np.arctan(x2 / x1) / (2.0 * np.pi)
        return theta + 0.5 if x1 < 0.0 else theta

    def residuals(self, x: np.ndarray) -> np.ndarray:
        x1, x2, x3 = x
        theta = self._theta(x1, x2)
        return np.array([10.0 * (x3 - 10.0 * theta), 10.0 * (np.hypot(x1, x2) - 1.0), x3])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        x1, x2, _ = x
        radius_sq = x1 * x1 + x2 * x2
        radius = np.sqrt(radius_sq)
        scale = 100.0 / (2.0 * np.pi * radius_sq)  # 100 * d(theta)/d(x1, x2) = scale * (-x2, x1)
        return np.array(
            [[scale * x2, -scale * x1, 10.0], [10.0 * x1 / radius, 10.0 * x2 / radius, 0.0],
             [0.0, 0.0, 1.0]]
        )  # fmt: skip

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        x1, x2, _ = x
        radius_sq = x1 * x1 + x2 * x2
        radius = np.sqrt(radius_sq)
        # Hessian of theta: (1 / 2 pi rho^4) [[2 x1 x2, x2^2 - x1^2], [., -2 x1 x2]].
        theta_scale = -100.0 * w[0] / (2.0 * np.pi * radius_sq**2)
        # Hessian of rho: (1 / rho^3) [[x2^2, -x1 x2], [., x1^2]].
        radius_scale = 10.0 * w[1] / (radius_sq * radius)
        h11 = theta_scale * 2.0 * x1 * x2 + radius_scale * x2 * x2
        h12 = theta_scale * (x2 * x2 - x1 * x1) - radius_scale * x1 * x2
        h22 = -theta_scale * 2.0 * x1 * x2 + radius_scale * x1 * x1
        return np.array([[h11, h12, 0.0], [h12, h22, 0.0], [0.0, 0.0, 0.0]])


@register
class Bard(_SmallMGHFunction):
    r"""MGH 8, Bard: :math:`r_i = y_i - (x_1 + u_i / (v_i x_2 + w_i x_3))`.

    :math:`u_i = i`, :math:`v_i = 16 - i`, :math:`w_i = \min(u_i, v_i)`, data
    :data:`BARD_Y`. From (1, 1, 1); f* = 8.21487…e-3 (MGH also reports f = 17.4286… at
    (0.8406…, -∞, -∞), not attained).
    """

    number, name, default_n, default_m = 8, "bard", 3, 15
    start = (1.0, 1.0, 1.0)
    f_star_published = 8.21487e-3
    _u = np.arange(1.0, 16.0)
    _v = 16.0 - _u
    _w = np.minimum(_u, _v)

    def _denominator(self, x: np.ndarray) -> np.ndarray:
        return self._v * x[1] + self._w * x[2]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return BARD_Y - (x[0] + self._u / self._denominator(x))

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        ratio = self._u / self._denominator(x) ** 2
        return np.column_stack([-np.ones(15), ratio * self._v, ratio * self._w])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        weights = -2.0 * w * self._u / self._denominator(x) ** 3
        vw = np.column_stack([self._v, self._w])
        H = np.zeros((3, 3))
        H[1:, 1:] = (vw * weights[:, None]).T @ vw
        return H


@register
class Gaussian(_SmallMGHFunction):
    r"""MGH 9, Gaussian: :math:`r_i = x_1 \exp(-x_2 (t_i - x_3)^2 / 2) - y_i`.

    :math:`t_i = (8 - i)/2`, data :data:`GAUSSIAN_Y`. From (0.4, 1, 0);
    f* = 1.12793…e-8.
    """

    number, name, default_n, default_m = 9, "gaussian", 3, 15
    start = (0.4, 1.0, 0.0)
    f_star_published = 1.12793e-8
    _t = (8.0 - np.arange(1.0, 16.0)) / 2.0

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shift = self._t - x[2]
        return shift, np.exp(-0.5 * x[1] * shift**2)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        _, bell = self._parts(x)
        return x[0] * bell - GAUSSIAN_Y

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        shift, bell = self._parts(x)
        return np.column_stack([bell, -0.5 * x[0] * shift**2 * bell, x[0] * x[1] * shift * bell])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        x1, x2 = x[0], x[1]
        shift, bell = self._parts(x)
        wb = w * bell
        s2 = shift**2
        h12 = -0.5 * float(wb @ s2)
        h13 = x2 * float(wb @ shift)
        h22 = 0.25 * x1 * float(wb @ s2**2)
        h23 = x1 * float(wb @ (shift - 0.5 * x2 * shift * s2))
        h33 = x1 * x2 * float(wb @ (x2 * s2 - 1.0))
        return np.array([[0.0, h12, h13], [h12, h22, h23], [h13, h23, h33]])


@register
class Meyer(_SmallMGHFunction):
    r"""MGH 10, Meyer: :math:`r_i = x_1 \exp(x_2 / (t_i + x_3)) - y_i`, :math:`t_i = 45 + 5i`.

    Data :data:`MEYER_Y`. From (0.02, 4000, 250) (the paper's; the same in MINPACK-1's
    and NL2SOL's test sets); f* = 87.9458… (NIST StRD, data set MGH10, certifies
    87.945855171). Badly scaled: at the minimiser :math:`x \approx (0.0056, 6181, 345)`
    the Jacobian's columns differ by nine orders of magnitude, and the rounding of
    :math:`\partial f/\partial x_1 = 2\sum_i e_i r_i` (terms of size 1e7 that cancel)
    keeps :math:`\|\nabla f\|` near 1e-4 at best in float64: ``certify_gtol = 1e-3``.
    """

    number, name, default_n, default_m = 10, "meyer", 3, 16
    start = (0.02, 4000.0, 250.0)
    f_star_published = 87.9458
    certify_gtol = 1e-3
    # NIST StRD MGH10's certified parameters: Newton from x0 reaches the minimum on some
    # numerical stacks only (with numpy's SSE/AVX2 kernels it stalls at ||g|| ~ 1e-2).
    known_minimisers = ((5.6096364710e-3, 6.1813463463e3, 3.4522363462e2),)
    _t = 45.0 + 5.0 * np.arange(1.0, 17.0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return x[0] * np.exp(x[1] / (self._t + x[2])) - MEYER_Y

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        q = self._t + x[2]
        e = np.exp(x[1] / q)
        return np.column_stack([e, x[0] * e / q, -x[0] * x[1] * e / q**2])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        x1, x2 = x[0], x[1]
        q = self._t + x[2]
        we = w * np.exp(x2 / q)
        h12 = float(we @ (1.0 / q))
        h13 = -x2 * float(we @ q**-2.0)
        h22 = x1 * float(we @ q**-2.0)
        h23 = -x1 * float(we @ ((x2 + q) / q**3))
        h33 = x1 * x2 * float(we @ ((x2 + 2.0 * q) / q**4))
        return np.array([[0.0, h12, h13], [h12, h22, h23], [h13, h23, h33]])


@register
class GulfResearchDevelopment(_VariableM):
    r"""MGH 11, Gulf research and development: :math:`r_i = \exp(-|y_i - x_2|^{x_3} / x_1) - t_i`.

    :math:`t_i = i/100`, :math:`y_i = 25 + (-50 \ln t_i)^{2/3}`; :math:`3 \le m \le 100`.
    The printed paper reads :math:`|y_i\ \mathrm{mi}\ x_2|`, where "mi" is a minus sign
    (some ports read it as a product :math:`y_i m i x_2`; the authors' Algorithm 566
    uses :math:`|y_i - x_2|`). The paper gives no single ``m``; the default 99 is that of
    Algorithm 566. From (5, 2.5, 0.15); f* = 0 at (50, 25, 1.5). At ``m = 100``,
    :math:`y_{100} = 25` and the residual is not twice differentiable at :math:`x_2 = 25`
    when :math:`x_3 < 2`; the second derivatives there are left infinite.
    """

    number, name, default_n, default_m = 11, "gulf_research_development", 3, 99
    known_minimisers = ((50.0, 25.0, 1.5),)
    min_m, max_m = 3, 100
    start = (5.0, 2.5, 0.15)
    f_star_published = 0.0

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        self._t = np.arange(1.0, self.m + 1.0) / 100.0
        self._y = 25.0 + (-50.0 * np.log(self._t)) ** (2.0 / 3.0)

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """``distance = |y - x2|``, its sign, ``log(distance)`` (0 where 0), ``power``, ``e``."""
        difference = self._y - x[1]
        distance = np.abs(difference)
        positive = distance > 0.0
        log_distance = np.log(np.where(positive, distance, 1.0))
        power = np.where(positive, np.exp(x[2] * log_distance), 0.0)  # distance ** x3
        return distance, np.sign(difference), log_distance, power, np.exp(-power / x[0])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        *_, e = self._parts(x)
        return e - self._t

    def _power_gradient(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        distance, sign, log_distance, power, e = self._parts(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            # d(power)/d(x2) = -x3 distance^(x3 - 1) sign; zero where distance = 0 (x3 > 1).
            d_x2 = np.where(distance > 0.0, -x[2] * power / distance * sign, 0.0)
        d_x3 = power * log_distance
        return distance, sign, log_distance, power, e, d_x2, d_x3

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        _, _, _, power, e, d_x2, d_x3 = self._power_gradient(x)
        x1 = x[0]
        # r = exp(g) - t with g = -power / x1.
        return e[:, None] * np.column_stack([power / x1**2, -d_x2 / x1, -d_x3 / x1])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        distance, sign, log_distance, power, e, d_x2, d_x3 = self._power_gradient(x)
        x1, x3 = x[0], x[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            d_x2x2 = x3 * (x3 - 1.0) * power / distance**2
            d_x2x3 = -sign * power / distance * (1.0 + x3 * log_distance)
        d_x3x3 = power * log_distance**2
        g = np.column_stack([power / x1**2, -d_x2 / x1, -d_x3 / x1])
        second = np.empty((self.m, 3, 3))
        second[:, 0, 0] = -2.0 * power / x1**3
        second[:, 0, 1] = second[:, 1, 0] = d_x2 / x1**2
        second[:, 0, 2] = second[:, 2, 0] = d_x3 / x1**2
        second[:, 1, 1] = -d_x2x2 / x1
        second[:, 1, 2] = second[:, 2, 1] = -d_x2x3 / x1
        second[:, 2, 2] = -d_x3x3 / x1
        weights = w * e  # Hessian of exp(g): exp(g) (g g^T + Hess g)
        return (g * weights[:, None]).T @ g + np.einsum("i,ijk->jk", weights, second)


@register
class Box3D(_VariableM):
    r"""MGH 12, Box three-dimensional.

    :math:`r_i = e^{-t_i x_1} - e^{-t_i x_2} - x_3 (e^{-t_i} - e^{-10 t_i})`,
    :math:`t_i = 0.1 i`, any ``m >= 3``. The paper names no ``m``; the default 10 is
    that of Algorithm 566. From (0, 10, 20); f* = 0 at (1, 10, 1), (10, 1, -1) and
    wherever :math:`x_1 = x_2`, :math:`x_3 = 0`.
    """

    number, name, default_n, default_m = 12, "box_3d", 3, 10
    known_minimisers = ((1.0, 10.0, 1.0),)
    min_m = 3
    start = (0.0, 10.0, 20.0)
    f_star_published = 0.0

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        self._t = 0.1 * np.arange(1.0, self.m + 1.0)
        self._c = np.exp(-self._t) - np.exp(-10.0 * self._t)

    def published_f_star(self) -> float | None:
        return 0.0  # zero at (1, 10, 1) for every m

    def residuals(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        return np.exp(-t * x[0]) - np.exp(-t * x[1]) - x[2] * self._c

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        return np.column_stack([-t * np.exp(-t * x[0]), t * np.exp(-t * x[1]), -self._c])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        weights = w * self._t**2
        return np.diag(
            [weights @ np.exp(-self._t * x[0]), -(weights @ np.exp(-self._t * x[1])), 0.0]
        )


@register
class PowellSingular(_SmallMGHFunction):
    r"""MGH 13, Powell singular.

    :math:`r = (x_1 + 10 x_2,\ \sqrt5 (x_3 - x_4),\ (x_2 - 2x_3)^2,\ \sqrt{10}(x_1 - x_4)^2)`
    from (3, -1, 0, 1); f* = 0 at the origin, where the Hessian is singular.
    """

    number, name, default_n, default_m = 13, "powell_singular", 4, 4
    known_minimisers = ((0.0, 0.0, 0.0, 0.0),)
    start = (3.0, -1.0, 0.0, 1.0)
    f_star_published = 0.0
    _a = np.array([0.0, 1.0, -2.0, 0.0])  # r3 = (a.x)^2
    _b = np.array([1.0, 0.0, 0.0, -1.0])  # r4 = sqrt(10) (b.x)^2

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.array(
            [x[0] + 10.0 * x[1], np.sqrt(5.0) * (x[2] - x[3]), (self._a @ x) ** 2,
             np.sqrt(10.0) * (self._b @ x) ** 2]
        )  # fmt: skip

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        root5 = np.sqrt(5.0)
        return np.array(
            [[1.0, 10.0, 0.0, 0.0], [0.0, 0.0, root5, -root5], 2.0 * (self._a @ x) * self._a,
             2.0 * np.sqrt(10.0) * (self._b @ x) * self._b]
        )  # fmt: skip

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return 2.0 * w[2] * np.outer(self._a, self._a) + 2.0 * np.sqrt(10.0) * w[3] * np.outer(
            self._b, self._b
        )


@register
class Wood(_SmallMGHFunction):
    r"""MGH 14, Wood.

    :math:`r = (10(x_2 - x_1^2),\ 1 - x_1,\ \sqrt{90}(x_4 - x_3^2),\ 1 - x_3,\
    \sqrt{10}(x_2 + x_4 - 2),\ (x_2 - x_4)/\sqrt{10})` from (-3, -1, -3, -1);
    f* = 0 at (1, 1, 1, 1).
    """

    number, name, default_n, default_m = 14, "wood", 4, 6
    known_minimisers = ((1.0, 1.0, 1.0, 1.0),)
    start = (-3.0, -1.0, -3.0, -1.0)
    f_star_published = 0.0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        x1, x2, x3, x4 = x
        return np.array(
            [10.0 * (x2 - x1**2), 1.0 - x1, np.sqrt(90.0) * (x4 - x3**2), 1.0 - x3,
             np.sqrt(10.0) * (x2 + x4 - 2.0), (x2 - x4) / np.sqrt(10.0)]
        )  # fmt: skip

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        root10, root90 = np.sqrt(10.0), np.sqrt(90.0)
        return np.array(
            [[-20.0 * x[0], 10.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0],
             [0.0, 0.0, -2.0 * root90 * x[2], root90], [0.0, 0.0, -1.0, 0.0],
             [0.0, root10, 0.0, root10], [0.0, 1.0 / root10, 0.0, -1.0 / root10]]
        )  # fmt: skip

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.diag([-20.0 * w[0], 0.0, -2.0 * np.sqrt(90.0) * w[2], 0.0])


@register
class KowalikOsborne(_SmallMGHFunction):
    r"""MGH 15, Kowalik and Osborne.

    :math:`r_i = y_i - x_1 (u_i^2 + u_i x_2)/(u_i^2 + u_i x_3 + x_4)`, data
    :data:`KOWALIK_OSBORNE_Y`, :data:`KOWALIK_OSBORNE_U`. From
    (0.25, 0.39, 0.415, 0.39); f* = 3.07505…e-4 (MGH also reports f = 1.02734…e-3 at
    (+∞, -14.07…, -∞, -∞), not attained).
    """

    number, name, default_n, default_m = 15, "kowalik_osborne", 4, 11
    start = (0.25, 0.39, 0.415, 0.39)
    f_star_published = 3.07505e-4
    _u = KOWALIK_OSBORNE_U

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = self._u
        return u * (u + x[1]), u * (u + x[2]) + x[3]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        numerator, denominator = self._parts(x)
        return KOWALIK_OSBORNE_Y - x[0] * numerator / denominator

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        numerator, denominator = self._parts(x)
        u, x1 = self._u, x[0]
        ratio = x1 * numerator / denominator**2
        return np.column_stack([-numerator / denominator, -x1 * u / denominator, ratio * u, ratio])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        numerator, denominator = self._parts(x)
        u, x1 = self._u, x[0]
        d1, d2, d3 = w / denominator, w / denominator**2, w / denominator**3
        H = np.zeros((4, 4))
        H[0, 1] = -(d1 @ u)
        H[0, 2] = d2 @ (numerator * u)
        H[0, 3] = d2 @ numerator
        H[1, 2] = x1 * (d2 @ u**2)
        H[1, 3] = x1 * (d2 @ u)
        H[2, 2] = -2.0 * x1 * (d3 @ (numerator * u**2))
        H[2, 3] = -2.0 * x1 * (d3 @ (numerator * u))
        H[3, 3] = -2.0 * x1 * (d3 @ numerator)
        return np.triu(H) + np.triu(H, 1).T


@register
class BrownDennis(_VariableM):
    r"""MGH 16, Brown and Dennis.

    :math:`r_i = (x_1 + t_i x_2 - e^{t_i})^2 + (x_3 + x_4 \sin t_i - \cos t_i)^2`,
    :math:`t_i = i/5`, any ``m >= 4``; the default ``m = 20`` is the size of the paper's
    reported f = 85822.2…. From (25, 5, -5, -1), the paper's (some ports start at
    (25, 5, -5, 1)).
    """

    number, name, default_n, default_m = 16, "brown_dennis", 4, 20
    min_m = 4
    start = (25.0, 5.0, -5.0, -1.0)
    f_star_published = 85822.2

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        t = np.arange(1.0, self.m + 1.0) / 5.0
        zeros, ones = np.zeros_like(t), np.ones_like(t)
        self._grad_a = np.column_stack([ones, t, zeros, zeros])  # gradient of a_i
        self._grad_b = np.column_stack([zeros, zeros, ones, np.sin(t)])  # gradient of b_i
        self._offset_a, self._offset_b = np.exp(t), np.cos(t)

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._grad_a @ x - self._offset_a, self._grad_b @ x - self._offset_b

    def residuals(self, x: np.ndarray) -> np.ndarray:
        a, b = self._parts(x)
        return a * a + b * b

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        a, b = self._parts(x)
        return 2.0 * (a[:, None] * self._grad_a + b[:, None] * self._grad_b)

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        weighted_a = self._grad_a * w[:, None]
        weighted_b = self._grad_b * w[:, None]
        return 2.0 * (weighted_a.T @ self._grad_a + weighted_b.T @ self._grad_b)


@register
class Osborne1(_SmallMGHFunction):
    r"""MGH 17, Osborne 1: :math:`r_i = y_i - (x_1 + x_2 e^{-t_i x_4} + x_3 e^{-t_i x_5})`.

    :math:`t_i = 10(i - 1)`, data :data:`OSBORNE_1_Y`. From (0.5, 1.5, -1, 0.01, 0.02);
    f* = 5.46489…e-5.
    """

    number, name, default_n, default_m = 17, "osborne_1", 5, 33
    start = (0.5, 1.5, -1.0, 0.01, 0.02)
    f_star_published = 5.46489e-5
    _t = 10.0 * np.arange(33.0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        return OSBORNE_1_Y - (x[0] + x[1] * np.exp(-t * x[3]) + x[2] * np.exp(-t * x[4]))

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        e4, e5 = np.exp(-t * x[3]), np.exp(-t * x[4])
        return np.column_stack([-np.ones(33), -e4, -e5, x[1] * t * e4, x[2] * t * e5])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        t = self._t
        we4, we5 = w * np.exp(-t * x[3]), w * np.exp(-t * x[4])
        H = np.zeros((5, 5))
        H[1, 3] = H[3, 1] = we4 @ t
        H[2, 4] = H[4, 2] = we5 @ t
        H[3, 3] = -x[1] * (we4 @ t**2)
        H[4, 4] = -x[2] * (we5 @ t**2)
        return H


@register
class BiggsEXP6(_VariableM):
    r"""MGH 18, Biggs EXP6.

    :math:`r_i = x_3 e^{-t_i x_1} - x_4 e^{-t_i x_2} + x_6 e^{-t_i x_5} - y_i`,
    :math:`t_i = 0.1 i`, :math:`y_i = e^{-t_i} - 5 e^{-10 t_i} + 3 e^{-4 t_i}`, any
    ``m >= 6``; the default ``m = 13`` is the size of the paper's reported local minimum
    f = 5.65565…e-3 (and Algorithm 566's). From (1, 2, 1, 1, 1, 1); f* = 0 at
    (1, 10, 1, 5, 4, 3) for every ``m``.
    """

    number, name, default_n, default_m = 18, "biggs_exp6", 6, 13
    known_minimisers = ((1.0, 10.0, 1.0, 5.0, 4.0, 3.0),)
    min_m = 6
    start = (1.0, 2.0, 1.0, 1.0, 1.0, 1.0)
    f_star_published = 0.0

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        super().__init__(n, m)
        t = 0.1 * np.arange(1.0, self.m + 1.0)
        self._t = t
        self._y = np.exp(-t) - 5.0 * np.exp(-10.0 * t) + 3.0 * np.exp(-4.0 * t)

    def published_f_star(self) -> float | None:
        return 0.0  # zero at (1, 10, 1, 5, 4, 3) for every m

    def _exponentials(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = self._t
        return np.exp(-t * x[0]), np.exp(-t * x[1]), np.exp(-t * x[4])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        e1, e2, e5 = self._exponentials(x)
        return x[2] * e1 - x[3] * e2 + x[5] * e5 - self._y

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        t = self._t
        e1, e2, e5 = self._exponentials(x)
        return np.column_stack([-t * x[2] * e1, t * x[3] * e2, e1, -e2, -t * x[5] * e5, e5])

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        t = self._t
        e1, e2, e5 = self._exponentials(x)
        wt, wt2 = w * t, w * t**2
        H = np.zeros((6, 6))
        H[0, 0] = x[2] * (wt2 @ e1)
        H[0, 2] = H[2, 0] = -(wt @ e1)
        H[1, 1] = -x[3] * (wt2 @ e2)
        H[1, 3] = H[3, 1] = wt @ e2
        H[4, 4] = x[5] * (wt2 @ e5)
        H[4, 5] = H[5, 4] = -(wt @ e5)
        return H


@register
class Osborne2(_SmallMGHFunction):
    r"""MGH 19, Osborne 2.

    :math:`r_i = y_i - (x_1 e^{-t_i x_5} + \sum_{k=2}^{4} x_k e^{-(t_i - x_{k+7})^2 x_{k+4}})`,
    :math:`t_i = (i - 1)/10`, data :data:`OSBORNE_2_Y` (:math:`y_{18} = 0.626` as in the
    paper and MINPACK-1; one port prints 0.625). From
    (1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5); f* = 4.01377…e-2.
    """

    number, name, default_n, default_m = 19, "osborne_2", 11, 65
    start = (1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5)
    f_star_published = 4.01377e-2
    _t = np.arange(65.0) / 10.0
    #: Indices (amplitude, rate, centre) of the three Gaussian terms.
    _bumps = ((1, 5, 8), (2, 6, 9), (3, 7, 10))

    def _terms(self, x: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The decay ``exp(-t x5)`` and, per bump, ``(t - centre, exp(-(t - centre)^2 rate))``."""
        t = self._t
        bumps = []
        for _, rate, centre in self._bumps:
            shift = t - x[centre]
            bumps.append((shift, np.exp(-(shift**2) * x[rate])))
        return np.exp(-t * x[4]), bumps

    def residuals(self, x: np.ndarray) -> np.ndarray:
        decay, bumps = self._terms(x)
        model = x[0] * decay
        for (amplitude, _, _), (_, bell) in zip(self._bumps, bumps, strict=True):
            model = model + x[amplitude] * bell
        return OSBORNE_2_Y - model

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        decay, bumps = self._terms(x)
        J = np.empty((65, 11))
        J[:, 0] = -decay
        J[:, 4] = x[0] * self._t * decay
        for (amplitude, rate, centre), (shift, bell) in zip(self._bumps, bumps, strict=True):
            c, s = x[amplitude], x[rate]
            J[:, amplitude] = -bell
            J[:, rate] = c * shift**2 * bell
            J[:, centre] = -2.0 * c * s * shift * bell
        return J

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        decay, bumps = self._terms(x)
        t = self._t
        H = np.zeros((11, 11))
        # Minus the Hessian of the model, weighted.
        H[0, 4] = H[4, 0] = (w * decay) @ t
        H[4, 4] = -x[0] * ((w * decay) @ t**2)
        for (amplitude, rate, centre), (shift, bell) in zip(self._bumps, bumps, strict=True):
            c, s = x[amplitude], x[rate]
            wb = w * bell
            s2 = shift**2
            H[amplitude, rate] = H[rate, amplitude] = wb @ s2
            H[amplitude, centre] = H[centre, amplitude] = -2.0 * s * (wb @ shift)
            H[rate, rate] = -c * (wb @ s2**2)
            H[rate, centre] = H[centre, rate] = -c * (wb @ (shift * (2.0 - 2.0 * s * s2)))
            H[centre, centre] = -2.0 * c * s * (wb @ (2.0 * s * s2 - 1.0))
        return H
