r"""Derivative checks: gradient, Hessian-vector product and Hessian vs finite differences.

For a sweep of steps :math:`h` from ``1e-1`` down to ``1e-12`` (Nocedal & Wright,
Numerical Optimization, 2nd ed., §8.1) the check records the relative error of the
gradient against central differences of :math:`f` along a random unit direction
:math:`u`, :math:`\nabla f(x)^\top u \approx (f(x + hu) - f(x - hu)) / 2h`, relative to
:math:`\|\nabla f(x)\|` (a gradient error of relative size :math:`\delta` shows as about
:math:`\delta/\sqrt{n}`, so every coordinate is also checked when ``dim <= coord_max_dim``),
and of the Hessian-vector product
against central differences of gradients,
:math:`\nabla^2 f(x) v \approx (\nabla f(x + hv) - \nabla f(x - hv)) / 2h`. The error first
falls with :math:`h` (truncation, :math:`O(h^2)`), then rises (round-off,
:math:`O(\epsilon/h)`); the report names the best step. For a quadratic the truncation
error vanishes and the largest step is best.

Exact quantities are compared with each other without a step: the fused
``value_and_grad`` with ``value`` and ``grad``, ``hess(x) @ v`` with ``hvp(x, v)`` and
the symmetry :math:`\|H - H^\top\|_F` (when ``dim <= hess_max_dim``), and the symmetry
:math:`u^\top (H w) = w^\top (H u)` of the HVP operator (any dimension). The problem is
evaluated directly, not through an Oracle, so a check is never counted as work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from optbench.numerics import norm2
from optbench.problems.base import Problem
from optbench.scalars import is_finite_number, is_integer

#: Steps of the finite-difference sweep: half decades from 1e-1 down to 1e-12.
DEFAULT_STEPS: tuple[float, ...] = tuple(float(h) for h in np.logspace(-1, -12, 23))

#: Names of the finite-difference checks (one column each in the table).
STEP_CHECKS = ("gradient", "gradient_coords", "hvp")
#: Human-readable labels of all checks, in report order.
CHECK_LABELS = {
    "gradient": "gradient (random direction)",
    "gradient_coords": "gradient (coordinates)",
    "hvp": "hvp vs FD of gradients",
    "value_and_grad": "value_and_grad vs value, grad",
    "hess_vs_hvp": "hess @ v vs hvp",
    "hess_symmetry": "hess symmetry",
    "hvp_symmetry": "hvp symmetry",
}


@dataclass(frozen=True)
class StepRow:
    """Relative errors of the finite-difference checks at one step ``h``.

    ``gradient_coords`` is ``None`` when the coordinate-wise check was skipped.
    """

    step: float
    gradient: float
    gradient_coords: float | None
    hvp: float


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check.

    Attributes
    ----------
    name : str
        One of the keys of :data:`CHECK_LABELS`.
    error : float or None
        Relative error (the smallest over the steps for finite-difference checks);
        ``None`` when skipped.
    best_step : float or None
        The step ``h`` at which ``error`` was reached (``None`` for exact checks).
    tolerance : float
        The check passes when ``error <= tolerance``.
    skipped : str
        Why the check did not run (empty when it ran).
    """

    name: str
    error: float | None
    best_step: float | None
    tolerance: float
    skipped: str = ""

    @property
    def passed(self) -> bool:
        """True when skipped or when the (finite) error is within tolerance."""
        if self.skipped:
            return True
        return self.error is not None and bool(self.error <= self.tolerance)

    @property
    def measured_error(self) -> float:
        """``error`` of a check that ran; a ``ValueError`` for a skipped one."""
        if self.error is None:
            raise ValueError(f"check {self.name!r} has no error: {self.skipped or 'not run'}")
        return self.error


@dataclass(frozen=True)
class DerivativeCheck:
    """Result of :func:`check_derivatives`.

    Attributes
    ----------
    problem : str
        Name of the checked problem.
    dim : int
        Its dimension.
    point : str
        Where the derivatives were checked (``"x0"``, ``"random point near x0 (seed 0)"``,
        ``"given x"``).
    x : ndarray
        The point itself.
    table : list of StepRow
        Relative errors per step ``h``, largest step first.
    outcomes : list of CheckOutcome
        One verdict per check.
    """

    problem: str
    dim: int
    point: str
    x: np.ndarray
    table: list[StepRow]
    outcomes: list[CheckOutcome]

    @property
    def passed(self) -> bool:
        """True when every check that ran is within its tolerance."""
        return all(outcome.passed for outcome in self.outcomes)

    def outcome(self, name: str) -> CheckOutcome:
        """The outcome of the check called ``name``."""
        for outcome in self.outcomes:
            if outcome.name == name:
                return outcome
        raise ValueError(f"name: no check {name!r}; allowed: {', '.join(CHECK_LABELS)}")

    def _worst(self, *names: str) -> float | None:
        errors = [self.outcome(n).measured_error for n in names if not self.outcome(n).skipped]
        return max(errors) if errors else None

    @property
    def grad_error(self) -> float | None:
        """Best relative gradient error (the worse of the directional and coordinate checks)."""
        return self._worst("gradient", "gradient_coords")

    @property
    def hvp_error(self) -> float | None:
        """Best relative error of the HVP against finite differences of gradients."""
        return self._worst("hvp")

    @property
    def hess_error(self) -> float | None:
        """Relative error of ``hess(x) @ v`` against ``hvp(x, v)``; ``None`` when skipped."""
        return self._worst("hess_vs_hvp")

    @property
    def symmetry_error(self) -> float | None:
        """The worse of the dense-Hessian and HVP-operator symmetry errors that ran."""
        return self._worst("hess_symmetry", "hvp_symmetry")

    @property
    def best_step(self) -> dict[str, float]:
        """Best step ``h`` of each finite-difference check that ran."""
        return {
            o.name: o.best_step for o in self.outcomes if o.best_step is not None and not o.skipped
        }


def check_derivatives(
    problem: Problem,
    x: np.ndarray | None = None,
    seed: int = 0,
    steps: Sequence[float] | None = None,
    rtol: float = 1e-6,
    exact_rtol: float = 1e-10,
    coord_max_dim: int = 50,
    hess_max_dim: int = 1000,
) -> DerivativeCheck:
    r"""Check a problem's gradient, HVP and Hessian at one point.

    Parameters
    ----------
    problem : Problem
        The problem to check (evaluated directly, not through an Oracle).
    x : ndarray of shape (dim,), optional
        Where to check. Default: a random point near ``x0``,
        :math:`x_0 + 0.1 \max(1, \|x_0\|/\sqrt{n})\, z` with :math:`z \sim N(0, I)`
        drawn from ``seed``.
    seed : int
        Seed of the random point and of the random directions.
    steps : sequence of float, optional
        Finite-difference steps, default :data:`DEFAULT_STEPS` (1e-1 … 1e-12).
    rtol : float
        Tolerance on the best relative error of the finite-difference checks. Central
        differences err by :math:`O(h^2 |f'''|)` (truncation) plus
        :math:`O(\epsilon |f| / h)` (round-off); at the best step the error is about
        :math:`\epsilon^{2/3} \approx 4\cdot 10^{-11}` relative for a well-scaled problem
        (N&W §8.1). The default ``1e-6`` leaves four orders of magnitude for poor scaling,
        while a real bug (a wrong factor or a missing term) gives errors of ``1e-3`` or more.
    exact_rtol : float
        Tolerance of the checks between exact quantities (fused vs separate value and
        gradient, ``hess @ v`` vs ``hvp``, symmetry). They differ only by the round-off of
        different summation orders, about :math:`n \epsilon \approx 10^{-13}` for
        :math:`n \le 10^3`; the default ``1e-10`` allows for a thousandfold more. A
        problem whose ``hvp_exact`` is False (finite-difference HVPs) has its Hessian
        and symmetry checks held to ``rtol`` instead.
    coord_max_dim : int
        Also check the gradient coordinate by coordinate (``2 n`` values per step) when
        ``dim <= coord_max_dim``.
    hess_max_dim : int
        Check the dense Hessian only when ``dim`` is at most this and the problem's own
        ``hess_max_dim``; otherwise those checks are reported as skipped.

    Returns
    -------
    DerivativeCheck
        ``passed``, the best errors (``grad_error``, ``hvp_error``, ``hess_error``,
        ``symmetry_error``), ``best_step`` per check and the per-step ``table``.

    Raises
    ------
    ValueError
        If an argument is invalid; the message starts with its name.
    """
    steps = _validate_steps(steps)
    for name, value in (("rtol", rtol), ("exact_rtol", exact_rtol)):
        if not (is_finite_number(value) and value > 0):
            raise ValueError(f"{name}: must be a positive number, got {value!r}")
    for name, value in (("coord_max_dim", coord_max_dim), ("hess_max_dim", hess_max_dim)):
        if not is_integer(value) or value < 0:
            raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    x, point = _check_point(problem, x, seed, rng)
    u, v, w = (_unit(rng.standard_normal(problem.dim)) for _ in range(3))

    value = float(problem.value(x))
    gradient = np.asarray(problem.grad(x), dtype=float)
    gradient_norm = norm2(gradient)
    hvp_v = np.asarray(problem.hvp(x, v), dtype=float)
    directional = float(gradient @ u)
    errors = {
        "gradient": _sweep(
            steps, lambda h: abs(_central(problem.value, x, h * u, h) - directional), gradient_norm
        ),
        "hvp": _sweep(
            steps,
            lambda h: norm2(_central(problem.grad, x, h * v, h) - hvp_v),
            norm2(hvp_v),
        ),
    }
    if problem.dim <= coord_max_dim:
        errors["gradient_coords"] = _sweep(
            steps,
            lambda h: norm2(_coordinate_differences(problem.value, x, h) - gradient),
            gradient_norm,
        )

    outcomes = []
    for name in STEP_CHECKS:
        if name in errors:
            best = int(np.argmin(errors[name]))
            outcomes.append(CheckOutcome(name, float(errors[name][best]), steps[best], rtol))
        else:
            reason = f"dim {problem.dim} > coord_max_dim {coord_max_dim}"
            outcomes.append(CheckOutcome(name, None, None, rtol, skipped=reason))
    fused_value, fused_gradient = problem.value_and_grad(x)
    fused_error = max(
        _relative(abs(float(fused_value) - value), abs(value)),
        _relative(norm2(np.asarray(fused_gradient) - gradient), gradient_norm),
    )
    outcomes.append(CheckOutcome("value_and_grad", fused_error, None, exact_rtol))
    # A finite-difference HVP is exact only to its truncation error: its agreement with
    # the Hessian and its symmetry are held to the finite-difference tolerance.
    hessian_rtol = exact_rtol if getattr(problem, "hvp_exact", True) else rtol
    outcomes += _hessian_outcomes(problem, x, v, hvp_v, w, hessian_rtol, hess_max_dim)

    coords = errors.get("gradient_coords")
    table = [
        StepRow(
            step=h,
            gradient=float(errors["gradient"][i]),
            gradient_coords=None if coords is None else float(coords[i]),
            hvp=float(errors["hvp"][i]),
        )
        for i, h in enumerate(steps)
    ]
    name = getattr(problem, "name", type(problem).__name__)
    return DerivativeCheck(name, problem.dim, point, x, table, outcomes)


def _validate_steps(steps: Sequence[float] | None) -> list[float]:
    if steps is None:
        return list(DEFAULT_STEPS)
    array = np.asarray(steps, dtype=float)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"steps: must be a non-empty list of positive numbers, got {steps!r}")
    return [float(h) for h in array]


def _check_point(
    problem: Problem, x: np.ndarray | None, seed: int, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    x0 = np.asarray(problem.x0, dtype=float)
    if x is None:
        scale = 0.1 * max(1.0, norm2(x0) / np.sqrt(problem.dim))
        return x0 + scale * rng.standard_normal(problem.dim), f"random point near x0 (seed {seed})"
    x = np.asarray(x, dtype=float)
    if x.shape != (problem.dim,) or not np.all(np.isfinite(x)):
        raise ValueError(
            f"x: must be a finite array of shape ({problem.dim},), got shape {x.shape}"
        )
    return x.copy(), "x0" if np.array_equal(x, x0) else "given x"


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / norm2(vector)


def _relative(error: float, scale: float) -> float:
    """``error / scale``; infinite when not finite, and 0/0 counts as exact."""
    error, scale = float(error), float(scale)
    if not (np.isfinite(error) and np.isfinite(scale)):
        return np.inf
    if scale == 0.0:
        return 0.0 if error == 0.0 else np.inf
    return error / scale


def _sweep(steps: list[float], error: Callable[[float], float], scale: float) -> np.ndarray:
    """Relative error at every step; non-finite values count as an infinite error."""
    with np.errstate(all="ignore"):
        return np.array([_relative(error(h), scale) for h in steps])


@overload
def _central(
    function: Callable[[np.ndarray], float], x: np.ndarray, shift: np.ndarray, h: float
) -> float: ...
@overload
def _central(
    function: Callable[[np.ndarray], np.ndarray], x: np.ndarray, shift: np.ndarray, h: float
) -> np.ndarray: ...
def _central(
    function: Callable[[np.ndarray], float | np.ndarray], x: np.ndarray, shift: np.ndarray, h: float
) -> float | np.ndarray:
    """Central difference ``(F(x + shift) - F(x - shift)) / 2h`` of a scalar or vector F."""
    forward = np.asarray(function(x + shift), dtype=float)
    backward = np.asarray(function(x - shift), dtype=float)
    return (forward - backward) / (2.0 * h)


def _coordinate_differences(
    function: Callable[[np.ndarray], float], x: np.ndarray, h: float
) -> np.ndarray:
    """Central differences of ``function`` along every coordinate axis."""
    out = np.empty(x.size)
    shifted = x.copy()
    for i in range(x.size):
        shifted[i] = x[i] + h
        forward = function(shifted)
        shifted[i] = x[i] - h
        out[i] = (forward - function(shifted)) / (2.0 * h)
        shifted[i] = x[i]
    return out


def _hessian_outcomes(
    problem: Problem,
    x: np.ndarray,
    v: np.ndarray,
    hvp_v: np.ndarray,
    w: np.ndarray,
    tolerance: float,
    hess_max_dim: int,
) -> list[CheckOutcome]:
    """Dense ``hess @ v`` vs ``hvp``, dense symmetry, and HVP-operator symmetry."""
    limit = min(hess_max_dim, getattr(problem, "hess_max_dim", hess_max_dim))
    if problem.dim > limit:
        reason = f"dim {problem.dim} > hess_max_dim {limit}"
        outcomes = [
            CheckOutcome(name, None, None, tolerance, skipped=reason)
            for name in ("hess_vs_hvp", "hess_symmetry")
        ]
    else:
        hessian = np.asarray(problem.hess(x), dtype=float)
        if hessian.shape != (problem.dim, problem.dim):
            raise ValueError(f"problem: hess returned shape {hessian.shape}, not (dim, dim)")
        mismatch = _relative(norm2(hessian @ v - hvp_v), norm2(hvp_v))
        asymmetry = _relative(norm2(hessian - hessian.T), norm2(hessian))
        outcomes = [
            CheckOutcome("hess_vs_hvp", mismatch, None, tolerance),
            CheckOutcome("hess_symmetry", asymmetry, None, tolerance),
        ]
    hvp_w = np.asarray(problem.hvp(x, w), dtype=float)
    operator_asymmetry = _relative(
        abs(float(v @ hvp_w) - float(w @ hvp_v)), norm2(hvp_v) + norm2(hvp_w)
    )
    outcomes.append(CheckOutcome("hvp_symmetry", operator_asymmetry, None, tolerance))
    return outcomes
