r"""Interpolated trial steps for line searches on :math:`\phi(\alpha) = f(x + \alpha d)`.

The minimizers of the cubic and quadratic interpolants of Nocedal & Wright, *Numerical
Optimization*, 2nd ed., Sec. 3.5 (eqs. 3.57-3.59), and the safeguarded choices of the
next trial made from them by :func:`~optbench.solvers.linesearch.strong_wolfe`:
:func:`extrapolation_step` while bracketing (Alg. 3.5) and :func:`zoom_step` inside a
bracket (Alg. 3.6), and :func:`backtracking_step` for interpolated backtracking
(N&W p. 58). All functions are pure functions of scalars and of :class:`Trial`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

#: Interpolated trial steps are kept this fraction of the bracket width away from its ends.
SAFEGUARD_MARGIN = 0.1
#: Values whose relative difference is below this are treated as equal (rounding noise);
#: decisions between them rely on slopes.
VALUE_NOISE = 1e-12
#: Zoom bisects when two interpolated trials did not shrink the bracket below this factor.
BISECTION_TRIGGER = 0.66


class Trial(NamedTuple):
    r"""One evaluated point of a search: :math:`(\alpha, \phi(\alpha), \phi'(\alpha))`."""

    step_size: float
    value: float
    slope: float

    @property
    def finite(self) -> bool:
        """Whether both the value and the slope are finite."""
        return math.isfinite(self.value) and math.isfinite(self.slope)


def cubic_minimizer(
    a: float, value_a: float, slope_a: float, b: float, value_b: float, slope_b: float
) -> float | None:
    r"""Minimizer of the cubic Hermite interpolant of two points (N&W eq. 3.59).

    .. math::
        \alpha = b - (b - a)\,\frac{\phi'(b) + d_2 - d_1}{\phi'(b) - \phi'(a) + 2 d_2},
        \quad d_1 = \phi'(a) + \phi'(b) - 3\,\frac{\phi(a) - \phi(b)}{a - b},
        \quad d_2 = \operatorname{sign}(b - a)\sqrt{d_1^2 - \phi'(a)\phi'(b)} .

    Returns ``None`` when the cubic has no local minimizer or the data are not finite.
    """
    if a == b:
        return None
    d1 = slope_a + slope_b - 3.0 * (value_a - value_b) / (a - b)
    radicand = d1 * d1 - slope_a * slope_b
    if not math.isfinite(radicand) or radicand < 0.0:
        return None
    d2 = math.copysign(math.sqrt(radicand), b - a)
    denominator = slope_b - slope_a + 2.0 * d2
    if denominator == 0.0:
        return None
    candidate = b - (b - a) * (slope_b + d2 - d1) / denominator
    return candidate if math.isfinite(candidate) else None


def quadratic_minimizer(
    a: float, value_a: float, slope_a: float, b: float, value_b: float
) -> float | None:
    r"""Minimizer of the quadratic through :math:`\phi(a), \phi'(a), \phi(b)`, if convex.

    .. math:: \alpha = a - \frac{\phi'(a)\,(b - a)^2}{2\,[\phi(b) - \phi(a) - \phi'(a)(b - a)]}
    """
    curvature = value_b - value_a - slope_a * (b - a)
    if not math.isfinite(curvature) or curvature <= 0.0:
        return None
    candidate = a - slope_a * (b - a) ** 2 / (2.0 * curvature)
    return candidate if math.isfinite(candidate) else None


def secant_minimizer(a: float, slope_a: float, b: float, slope_b: float) -> float | None:
    r"""Zero of the secant of the slopes, :math:`a - \phi'(a)\,(b - a)/(\phi'(b) - \phi'(a))`.

    The minimizer of the quadratic with slopes :math:`\phi'(a), \phi'(b)`; ``None`` when
    the slopes are equal.
    """
    if slope_a == slope_b:
        return None
    candidate = a - slope_a * (b - a) / (slope_b - slope_a)
    return candidate if math.isfinite(candidate) else None


def indistinguishable(value_a: float, value_b: float) -> bool:
    """Whether two values differ by no more than rounding (then only slopes are informative)."""
    return abs(value_a - value_b) <= VALUE_NOISE * max(abs(value_a), abs(value_b))


def worse_beyond_noise(value: float, reference: float) -> bool:
    """``value >= reference`` by more than rounding noise."""
    return value >= reference and not indistinguishable(value, reference)


def extrapolation_step(previous: Trial, current: Trial) -> float:
    r"""Next bracketing trial beyond ``current`` (N&W Alg. 3.5).

    The minimizer of the cubic through the last two trials (N&W eq. 3.59), kept in
    :math:`[\alpha_i + \Delta, \alpha_i + 4\Delta]` with
    :math:`\Delta = \alpha_i - \alpha_{i-1}`; the upper end when the cubic has no
    minimizer.
    """
    delta = current.step_size - previous.step_size
    lower, upper = current.step_size + delta, current.step_size + 4.0 * delta
    candidate = cubic_minimizer(*previous, *current)
    if candidate is None:
        return upper
    return min(max(candidate, lower), upper)


def zoom_step(low: Trial, high: Trial, widths: list[float]) -> float:
    r"""Next trial inside the bracket of N&W Alg. 3.6, interpolated and safeguarded.

    ``low`` is the end with the lower value (it satisfies sufficient decrease);
    ``high`` the other end, possibly with non-finite data; ``widths`` the bracket
    widths at the previous trials of this zoom. The candidate is the secant of the
    slopes when the two values agree to rounding (their difference is noise), else the
    cubic of both ends (N&W eq. 3.59), else the quadratic from ``low`` (eq. 3.57); it
    is kept ``SAFEGUARD_MARGIN`` of the bracket width away from the ends. The midpoint
    is returned instead when no candidate lies inside the bracket, or when the last
    two trials did not shrink the bracket below ``BISECTION_TRIGGER`` of its width
    (the rule of Moré & Thuente 1994, ACM TOMS 20(3), 286-307), which guarantees that
    the bracket shrinks geometrically.
    """
    left, right = min(low.step_size, high.step_size), max(low.step_size, high.step_size)
    if len(widths) >= 2 and right - left > BISECTION_TRIGGER * widths[-2]:
        return 0.5 * (left + right)
    candidate = None
    if high.finite and indistinguishable(low.value, high.value):
        candidate = secant_minimizer(low.step_size, low.slope, high.step_size, high.slope)
    elif high.finite:
        candidate = cubic_minimizer(*low, *high)
    if candidate is None and math.isfinite(high.value):
        candidate = quadratic_minimizer(*low, high.step_size, high.value)
    if candidate is None or not left <= candidate <= right:
        return 0.5 * (left + right)
    margin = SAFEGUARD_MARGIN * (right - left)
    return min(max(candidate, left + margin), right - margin)


def backtracking_step(start: Trial, trial: Trial, shrink: float) -> float:
    r"""Next backtracking trial after ``trial`` failed the Armijo test (N&W p. 58).

    The minimizer of the cubic through ``start`` (:math:`\alpha = 0`) and ``trial``
    (N&W eq. 3.59) when the trial's slope is finite, else of the quadratic through
    :math:`\phi(0), \phi'(0), \phi(\alpha)` (eq. 3.57), kept in
    :math:`[0.1\,\alpha, 0.5\,\alpha]`; :math:`\rho\alpha` (``shrink``) when the value
    is not finite or the interpolant has no minimizer.
    """
    fallback = shrink * trial.step_size
    if not math.isfinite(trial.value):
        return fallback
    if math.isfinite(trial.slope):
        candidate = cubic_minimizer(*start, *trial)
    else:
        candidate = quadratic_minimizer(*start, trial.step_size, trial.value)
    if candidate is None:
        return fallback
    return min(max(candidate, 0.1 * trial.step_size), 0.5 * trial.step_size)
