r"""Line searches on a scalar function :math:`\phi(\alpha) = f(x + \alpha d)`.

* :func:`armijo_backtracking`: N&W Alg. 3.1, optionally with safeguarded interpolation;
* :func:`strong_wolfe`: N&W Alg. 3.5 (bracketing) and Alg. 3.6 (zoom).

``strong_wolfe`` needs ``phi(alpha) -> (value, slope)``, :math:`\text{slope} =
\phi'(\alpha) = \nabla f(x + \alpha d)^\top d`. ``armijo_backtracking`` takes that
callable or a value-only ``phi(alpha) -> value``. On a counted oracle a fused
value-and-gradient costs 1, a value 0.5 plus 1 for the gradient still needed at the
accepted point, so the fused form is no dearer when at most two trials are needed (the
usual case for Newton and for gradient descent with step growth), and it keeps slopes
for the rounding-level test of :class:`SufficientDecrease`. :mod:`optbench.solvers.ray`
builds both forms on an oracle; :mod:`optbench.solvers.interpolation` picks the trials.

Failures never raise: a non-descent direction, exhausted evaluations, ``max_step``
reached or a bracket shrunk to rounding level give ``success=False`` and a ``reason``.
Invalid constants (``c1``, ``c2``, ``shrink``, …) are programming errors: ValueError.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from optbench.scalars import is_finite_number, is_integer, is_number
from optbench.solvers.interpolation import (
    VALUE_NOISE,
    Trial,
    backtracking_step,
    extrapolation_step,
    worse_beyond_noise,
    zoom_step,
)

# Re-exported (``import X as X``) from before the split, so existing imports keep working.
from optbench.solvers.interpolation import cubic_minimizer as cubic_minimizer
from optbench.solvers.interpolation import quadratic_minimizer as quadratic_minimizer
from optbench.solvers.ray import Ray as Ray


@dataclass(frozen=True)
class LineSearchResult:
    r"""Outcome of a line search.

    Attributes
    ----------
    step_size : float
        The accepted :math:`\alpha` on success. On failure the trial with the lowest
        finite value below :math:`\phi(0)`, or ``0.0`` if there was none.
    value : float
        :math:`\phi` at ``step_size``.
    slope : float or None
        :math:`\phi'` at ``step_size`` when known (``None`` for a value-only ``phi``).
    evaluations : int
        Number of calls of ``phi``.
    success : bool
        Whether the requested conditions hold at ``step_size``.
    reason : str
        Why the search stopped, in words (used as the solver's failure message).
    """

    step_size: float
    value: float
    slope: float | None
    evaluations: int
    success: bool
    reason: str


def check_line_search_constants(
    c1: float, c2: float | None = None, shrink: float | None = None, prefix: str = ""
) -> None:
    r"""Validate line-search constants; raise ``ValueError`` naming the field.

    Requires :math:`0 < c_1 < 1`, :math:`c_1 < c_2 < 1` and :math:`0 < \text{shrink} < 1`.
    ``prefix`` is prepended to the field names in the message (e.g. ``"line_search."``).
    """
    if not is_number(c1) or not 0.0 < c1 < 1.0:
        raise ValueError(f"{prefix}c1: must be a number in (0, 1); got {c1!r}")
    if c2 is not None and (not is_number(c2) or not c1 < c2 < 1.0):
        raise ValueError(f"{prefix}c2: must be a number in (c1, 1) = ({c1:g}, 1); got {c2!r}")
    if shrink is not None and (not is_number(shrink) or not 0.0 < shrink < 1.0):
        raise ValueError(f"{prefix}shrink: must be a number in (0, 1); got {shrink!r}")


def _check_budget(initial_step: float, max_evals: int, max_step: float | None = None) -> None:
    if not is_finite_number(initial_step) or not initial_step > 0:
        raise ValueError(f"initial_step: must be a finite number > 0; got {initial_step!r}")
    if not is_integer(max_evals) or max_evals < 1:
        raise ValueError(f"max_evals: must be an integer >= 1; got {max_evals!r}")
    if max_step is not None and (not is_number(max_step) or not max_step > 0):
        raise ValueError(f"max_step: must be a number > 0; got {max_step!r}")


def _not_descent(value0: float, slope0: float) -> LineSearchResult | None:
    """The failure result when the search cannot start, else ``None``."""
    if not (math.isfinite(value0) and math.isfinite(slope0)):
        reason = f"non-finite value {value0} or slope {slope0} at step 0"
    elif slope0 >= 0.0:
        reason = f"not a descent direction (slope at step 0 is {slope0:.3g} >= 0)"
    else:
        return None
    return LineSearchResult(0.0, value0, slope0, 0, False, reason)


class _Best:
    """The lowest finite trial value below ``phi(0)``, reported on failure."""

    def __init__(self, value0: float, slope0: float) -> None:
        self.step_size, self.value = 0.0, value0
        self.slope: float | None = slope0

    def update(self, step_size: float, value: float, slope: float | None) -> None:
        if math.isfinite(value) and value < self.value:
            self.step_size, self.value, self.slope = step_size, value, slope

    def failure(self, evaluations: int, reason: str) -> LineSearchResult:
        return LineSearchResult(self.step_size, self.value, self.slope, evaluations, False, reason)


@dataclass(frozen=True)
class SufficientDecrease:
    r"""The Armijo test of one search, with a slope-based form where values are noise.

    Normally a trial passes when :math:`\phi(\alpha) - \phi(0) \le c_1 \alpha \phi'(0)`
    (N&W eq. 3.4; tested as a difference so that a decrease below the rounding of
    :math:`\phi(0)` is not mistaken for one).

    Near a minimizer with :math:`f^\star \ne 0` the decrease predicted by the slope,
    :math:`\alpha|\phi'(0)|`, falls below the rounding noise
    :math:`\epsilon_f` = ``VALUE_NOISE`` :math:`\cdot|\phi(0)|` of the values, which then
    cannot confirm any decrease: a value test would fail, or accept whichever step
    happened to round downwards. When that holds for the search's first trial (and for
    the trial itself), and the slope is known, a trial passes instead when its value
    fell by more than :math:`\epsilon_f`, or stayed within :math:`\epsilon_f` with
    :math:`\phi'(\alpha) \le (2c_1 - 1)\,\phi'(0)` — the first approximate Wolfe
    condition of Hager & Zhang (2005, SIAM J. Optim. 16(1), 170-192): the Armijo test
    of the quadratic with slopes :math:`\phi'(0), \phi'(\alpha)`. Deciding the form from
    the first trial means backtracking never reaches the slope-based form by shrinking
    the step, so it cannot accept a tiny step along a direction that does not descend.
    """

    value0: float
    slope0: float
    c1: float
    initial_step: float

    def __call__(self, step_size: float, value: float, slope: float | None = None) -> bool:
        if not math.isfinite(value):
            return False
        change = value - self.value0
        noise = VALUE_NOISE * abs(self.value0)
        if slope is None or -self.slope0 * max(step_size, self.initial_step) > noise:
            return change <= self.c1 * step_size * self.slope0
        if change < -noise:  # a decrease beyond noise exceeds the required one
            return True
        return abs(change) <= noise and slope <= (2.0 * self.c1 - 1.0) * self.slope0


def armijo_backtracking(
    phi: Callable[[float], float] | Callable[[float], tuple[float, float]],
    value0: float,
    slope0: float,
    initial_step: float = 1.0,
    c1: float = 1e-4,
    shrink: float = 0.5,
    max_evals: int = 50,
    interpolate: bool = False,
) -> LineSearchResult:
    r"""Backtracking line search for the sufficient-decrease (Armijo) condition.

    N&W Alg. 3.1: starting from :math:`\alpha = \alpha_0` (``initial_step``), accept the
    first :math:`\alpha` with

    .. math:: \phi(\alpha) \le \phi(0) + c_1\, \alpha\, \phi'(0)     \qquad \text{(N&W eq. 3.4)}

    (see :class:`SufficientDecrease` for values at rounding level) and otherwise set
    :math:`\alpha \leftarrow \rho\,\alpha` (:math:`\rho` = ``shrink``). With
    ``interpolate=True`` the next trial is instead the safeguarded minimizer of the cubic
    (slope known) or quadratic interpolant, kept in :math:`[0.1\,\alpha, 0.5\,\alpha]`
    (:func:`~optbench.solvers.interpolation.backtracking_step`). A non-finite trial
    value counts as a failed test, so the search backs away from overflow.

    Parameters
    ----------
    phi : callable
        ``phi(alpha) -> value`` or ``phi(alpha) -> (value, slope)``.
    value0, slope0 : float
        :math:`\phi(0)` and :math:`\phi'(0)`; ``slope0 < 0`` is required.
    initial_step : float
        First trial :math:`\alpha_0 > 0`.
    c1 : float
        Sufficient-decrease constant in (0, 1).
    shrink : float
        Backtracking factor :math:`\rho` in (0, 1).
    max_evals : int
        Largest number of calls of ``phi``.
    interpolate : bool
        Use safeguarded interpolation instead of the fixed factor.

    Returns
    -------
    LineSearchResult
        ``success=False`` for a non-descent direction or when ``max_evals`` trials all
        fail the test.
    """
    check_line_search_constants(c1, shrink=shrink)
    _check_budget(initial_step, max_evals)
    not_started = _not_descent(value0, slope0)
    if not_started is not None:
        return not_started
    best = _Best(value0, slope0)
    step_size = float(initial_step)
    sufficient_decrease = SufficientDecrease(value0, slope0, c1, step_size)
    for evaluations in range(1, max_evals + 1):
        out = phi(step_size)  # a value, or (value, slope)
        value, slope = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
        value, slope = float(value), None if slope is None else float(slope)
        if sufficient_decrease(step_size, value, slope):
            return LineSearchResult(
                step_size, value, slope, evaluations, True, "Armijo condition satisfied"
            )
        best.update(step_size, value, slope)
        if interpolate:
            trial = Trial(step_size, value, math.nan if slope is None else slope)
            step_size = backtracking_step(Trial(0.0, value0, slope0), trial, shrink)
        else:
            step_size = shrink * step_size
    return best.failure(
        max_evals,
        f"no step satisfying the Armijo condition (c1={c1:g}) after {max_evals} "
        f"evaluations; last step tried {step_size / shrink:.3g}",
    )


def strong_wolfe(
    phi: Callable[[float], tuple[float, float]],
    value0: float,
    slope0: float,
    initial_step: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_step: float = 1e10,
    max_evals: int = 50,
) -> LineSearchResult:
    r"""Line search for the strong Wolfe conditions (N&W Alg. 3.5 and 3.6).

    Finds :math:`\alpha > 0` with

    .. math::
        \phi(\alpha) \le \phi(0) + c_1\,\alpha\,\phi'(0), \qquad
        |\phi'(\alpha)| \le -c_2\,\phi'(0)               \qquad \text{(N&W 3.7)}

    *Bracketing* (Alg. 3.5) tries :math:`\alpha_1` = ``initial_step`` and extrapolates
    (:func:`~optbench.solvers.interpolation.extrapolation_step`, capped at ``max_step``)
    until a trial fails sufficient decrease, does not improve on the previous trial, or
    has :math:`\phi' \ge 0`. *Zoom* (Alg. 3.6) then shrinks the bracket
    :math:`[\alpha_{lo}, \alpha_{hi}]` with safeguarded interpolated trials
    (:func:`~optbench.solvers.interpolation.zoom_step`: cubic, secant or quadratic
    interpolant kept 10 % of the width from the ends, bisection when the bracket shrinks
    too slowly, as Moré & Thuente 1994 require). A non-finite trial counts as failing
    sufficient decrease, so the search backs away from overflow.

    Parameters
    ----------
    phi : callable
        ``phi(alpha) -> (value, slope)``.
    value0, slope0 : float
        :math:`\phi(0)` and :math:`\phi'(0)`; ``slope0 < 0`` is required.
    initial_step : float
        First trial :math:`\alpha_1 > 0` (clipped to ``max_step``).
    c1, c2 : float
        Constants with :math:`0 < c_1 < c_2 < 1`.
    max_step : float
        Largest step tried; reaching it with :math:`\phi'` still below
        :math:`c_2\phi'(0)` is a failure (the function may be unbounded below).
    max_evals : int
        Largest number of calls of ``phi``.

    Returns
    -------
    LineSearchResult
        ``success=False`` for a non-descent direction, when ``max_step`` is reached,
        when ``max_evals`` run out, or when the bracket shrinks to rounding level.

    Notes
    -----
    The step accepted on success is always the last one evaluated, so a
    :class:`~optbench.solvers.ray.Ray` has :math:`f` and :math:`\nabla f` there already.
    """
    check_line_search_constants(c1, c2=c2)
    _check_budget(initial_step, max_evals, max_step)
    not_started = _not_descent(value0, slope0)
    if not_started is not None:
        return not_started
    step_size = min(float(initial_step), float(max_step))
    search = _WolfeSearch(phi, SufficientDecrease(value0, slope0, c1, step_size), c2, max_evals)
    previous = Trial(0.0, value0, slope0)
    while search.evaluations < max_evals:
        trial = search.evaluate(step_size)
        if search.rejects(trial, previous if previous.step_size > 0.0 else None):
            return search.zoom(low=previous, high=trial)
        if search.curvature_holds(trial):
            return search.success(trial)
        if trial.slope >= 0.0:
            return search.zoom(low=trial, high=previous)
        if step_size >= max_step:
            return search.failure(
                f"reached max_step={max_step:g} with the slope still {trial.slope:.3g} < "
                f"c2 * slope0 = {c2 * slope0:.3g}; f may be unbounded below along the direction"
            )
        step_size = min(extrapolation_step(previous, trial), float(max_step))
        previous = trial
    return search.failure(search.exhausted_reason())


class _WolfeSearch:
    """Shared bookkeeping of :func:`strong_wolfe`: evaluations, tests, zoom."""

    def __init__(
        self,
        phi: Callable[[float], tuple[float, float]],
        decrease: SufficientDecrease,
        c2: float,
        max_evals: int,
    ) -> None:
        self.phi = phi
        self.decrease = decrease
        self.slope0, self.c1, self.c2 = decrease.slope0, decrease.c1, c2
        self.max_evals = max_evals
        self.evaluations = 0
        self.non_finite = 0
        self.best = _Best(decrease.value0, decrease.slope0)

    def evaluate(self, step_size: float) -> Trial:
        value, slope = self.phi(step_size)
        self.evaluations += 1
        trial = Trial(step_size, float(value), float(slope))
        if trial.finite:
            self.best.update(step_size, trial.value, trial.slope)
        else:
            self.non_finite += 1
        return trial

    def rejects(self, trial: Trial, reference: Trial | None) -> bool:
        """Whether ``trial`` fails sufficient decrease or is worse than ``reference``."""
        if not trial.finite or not self.decrease(*trial):
            return True
        return reference is not None and worse_beyond_noise(trial.value, reference.value)

    def curvature_holds(self, trial: Trial) -> bool:
        return abs(trial.slope) <= -self.c2 * self.slope0

    def success(self, trial: Trial) -> LineSearchResult:
        return LineSearchResult(*trial, self.evaluations, True, "strong Wolfe conditions satisfied")

    def failure(self, reason: str) -> LineSearchResult:
        if self.non_finite:
            reason += f" ({self.non_finite} of {self.evaluations} trials gave non-finite values)"
        return self.best.failure(self.evaluations, reason)

    def exhausted_reason(self) -> str:
        return (
            f"no step satisfying the strong Wolfe conditions (c1={self.c1:g}, "
            f"c2={self.c2:g}) after {self.evaluations} evaluations"
        )

    def zoom(self, low: Trial, high: Trial) -> LineSearchResult:
        """N&W Alg. 3.6: ``low`` satisfies sufficient decrease and has the lowest value;
        the minimizer sought lies between ``low`` and ``high``; trials from
        :func:`~optbench.solvers.interpolation.zoom_step`."""
        widths: list[float] = []
        while self.evaluations < self.max_evals:
            left, right = sorted((low.step_size, high.step_size))
            if right - left <= 4.0 * np.finfo(float).eps * right:
                return self.failure(
                    f"zoom: the bracket [{left:.17g}, {right:.17g}] shrank to rounding level "
                    f"after {self.evaluations} evaluations without satisfying the strong "
                    f"Wolfe conditions (c1={self.c1:g}, c2={self.c2:g})"
                )
            trial = self.evaluate(zoom_step(low, high, widths))
            widths.append(right - left)
            if self.rejects(trial, low):
                high = trial
                continue
            if self.curvature_holds(trial):
                return self.success(trial)
            if trial.slope * (high.step_size - low.step_size) >= 0.0:
                high = low
            low = trial
        return self.failure(self.exhausted_reason())


class LineSearch(Protocol):
    r"""The line-search part of a :class:`~optbench.solvers.line_search_method.LineSearchMethod`.

    ``search(ray, value0, slope0, initial_step)`` finds a step along ``ray``
    (:math:`\phi(\alpha) = f(x + \alpha d)`) from :math:`\phi(0)` = ``value0`` and
    :math:`\phi'(0)` = ``slope0 < 0``. A nonmonotone search is one more class: the
    method passes its reference value (the largest of the last few f) as ``value0``.
    """

    def search(
        self, ray: Ray, value0: float, slope0: float, initial_step: float
    ) -> LineSearchResult: ...


@dataclass(frozen=True)
class ArmijoSearch:
    """Armijo backtracking (N&W Alg. 3.1) as a :class:`LineSearch` (:func:`armijo_backtracking`)."""

    c1: float = 1e-4
    shrink: float = 0.5
    max_evals: int = 50

    def search(
        self, ray: Ray, value0: float, slope0: float, initial_step: float
    ) -> LineSearchResult:
        return armijo_backtracking(
            ray.value_and_slope,
            value0,
            slope0,
            initial_step=initial_step,
            c1=self.c1,
            shrink=self.shrink,
            max_evals=self.max_evals,
        )


@dataclass(frozen=True)
class StrongWolfeSearch:
    """Strong Wolfe (N&W Alg. 3.5/3.6) as a :class:`LineSearch`; see :func:`strong_wolfe`."""

    c1: float = 1e-4
    c2: float = 0.9
    max_evals: int = 50

    def search(
        self, ray: Ray, value0: float, slope0: float, initial_step: float
    ) -> LineSearchResult:
        return strong_wolfe(
            ray.value_and_slope,
            value0,
            slope0,
            initial_step=initial_step,
            c1=self.c1,
            c2=self.c2,
            max_evals=self.max_evals,
        )
