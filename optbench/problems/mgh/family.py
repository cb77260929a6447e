r"""The ``mgh`` problem family: one Moré–Garbow–Hillstrom function as a :class:`Problem`.

For the function :math:`r : \mathbb{R}^n \to \mathbb{R}^m` of problem ``number``
(:data:`~optbench.problems.mgh.definition.FUNCTIONS`),

.. math:: f(x) = \sum_{i=1}^m r_i(x)^2, \qquad \nabla f = 2 J^\top r, \qquad
          \nabla^2 f\, v = 2\,\bigl(J^\top (J v) + \textstyle\sum_i r_i \nabla^2 r_i\, v\bigr),

(Moré, Garbow & Hillstrom, ACM TOMS 7(1), 1981, section 2; Nocedal & Wright, 2nd ed.,
eq. 10.5 for the Hessian of a sum of squares, with their factor 1/2 dropped as in MGH).
The HVP never forms an ``n × n`` matrix from the Jacobian; :meth:`MGH.hess` is dense.
The problem is least-squares shaped with ``residual_scale = 1``.

The start is ``x0_scale`` times the paper's :math:`x_0` (MGH use 1, 10 and 100).
Its f* is certified on first use by :meth:`MGH.own_certificate` (damped Newton from the paper's
:math:`x_0` and from the minimisers the paper states, the lowest value kept), the same
for every ``x0_scale``; a catalog instance carries it stored (``problems/mgh.yaml``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from optbench.numerics import norm2
from optbench.problems.base import LeastSquaresShaped, Problem
from optbench.problems.certify import (
    Certificate,
    LazyFStar,
    effective_gtol,
    hessian_extremes,
    newton_certificate,
)
from optbench.problems.mgh.definition import FUNCTIONS, MGHFunction
from optbench.problems.suites import SuiteEntry, register_suite, suite_entries
from optbench.registry import PROBLEMS
from optbench.scalars import check_integer, is_finite_number

#: The starting-point scales of MGH section 3.
X0_SCALES = (1, 10, 100)
#: Gradient-norm target of the certificate (as the catalog's).
CERTIFY_GTOL = 1e-10


@PROBLEMS.register("mgh")
class MGH(LazyFStar, LeastSquaresShaped, Problem):
    r"""A Moré–Garbow–Hillstrom test function :math:`f = \sum_i r_i(x)^2` (no factor 1/2).

    Parameters
    ----------
    number : int
        The problem's number in MGH (1 to 35, those registered).
    n, m : int or None
        Numbers of variables and residuals, where the paper lets them vary; None takes
        the standard size (``optbench list problems`` shows each function's rule).
    x0_scale : {1, 10, 100}
        Start at ``x0_scale`` times the standard :math:`x_0`.
    """

    residual_scale = 1.0

    def __init__(
        self, number: int = 1, n: int | None = None, m: int | None = None, x0_scale: int = 1
    ) -> None:
        self.params = self._validated_params(number=number, n=n, m=m, x0_scale=x0_scale)
        params = self.params
        self.function: MGHFunction = FUNCTIONS[params["number"]](params["n"], params["m"])
        self.dim, self.n_residuals = self.function.n, self.function.m
        self.name = "mgh"
        self.x0 = params["x0_scale"] * self.function.x0()
        self.certify_gtol = self.function.certify_gtol

    @classmethod
    def dimension(cls, params: dict[str, Any]) -> int:
        return int(params["n"])

    @classmethod
    def _validated_params(cls, *, number: Any, n: Any, m: Any, x0_scale: Any) -> dict[str, Any]:
        """``number`` registered, ``n`` and ``m`` allowed by it, ``x0_scale`` in 1, 10, 100.

        ``n`` and ``m`` come back resolved (None becomes the standard size), so an
        instance given its standard sizes explicitly is the same instance.
        """
        if not FUNCTIONS:
            raise ValueError("number: no MGH function is registered")
        numbers = sorted(FUNCTIONS)
        number = check_integer("number", number, ge=numbers[0], le=numbers[-1])
        if number not in FUNCTIONS:
            allowed = ", ".join(str(k) for k in numbers)
            raise ValueError(f"number: must be one of {allowed}, got {number}")
        function = FUNCTIONS[number]
        n = function.default_n if n is None else check_integer("n", n, ge=1)
        m = function.default_m if m is None else check_integer("m", m, ge=1)
        function.check_sizes(n, m)
        if not (is_finite_number(x0_scale) and x0_scale in X0_SCALES):
            allowed = ", ".join(str(s) for s in X0_SCALES)
            raise ValueError(f"x0_scale: must be one of {allowed}, got {x0_scale!r}")
        return {"number": number, "n": n, "m": m, "x0_scale": int(x0_scale)}

    # ----------------------------------------------------------------- least squares

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """:math:`r(x)`, shape ``(m,)``."""
        return self.function.residuals(x)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """:math:`J(x)`, a dense ``(m, n)`` array."""
        return self.function.jacobian(x)

    # ----------------------------------------------------------------- oracle

    def value(self, x: np.ndarray) -> float:
        residuals = self.function.residuals(x)
        return float(residuals @ residuals)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        residuals = self.function.residuals(x)
        gradient = self.function.jacobian(x).T @ residuals
        gradient *= 2.0
        return float(residuals @ residuals), gradient

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        function = self.function
        residuals = function.residuals(x)
        out = function.jacobian(x).T @ (function.jacobian(x) @ v)
        out += function.residual_curvature(x, residuals, v)
        out *= 2.0
        return out

    def hess(self, x: np.ndarray) -> np.ndarray:
        r"""Dense :math:`2(J^\top J + \sum_i r_i \nabla^2 r_i)`."""
        self._check_hess_size()
        function = self.function
        jacobian = function.jacobian(x)
        H = jacobian.T @ jacobian
        H += function.residual_hessian(x, function.residuals(x))
        H *= 2.0
        return 0.5 * (H + H.T)

    # ----------------------------------------------------------------- certification

    def published_f_star(self) -> float | None:
        """The optimal value MGH reports at these sizes (None where it reports none)."""
        return self.function.published_f_star()

    def own_certificate(self) -> Certificate:
        """The lowest of the Newton certificates from the paper's :math:`x_0` and minimisers.

        Damped Newton (:func:`~optbench.problems.certify.newton_certificate`) starts at
        the standard :math:`x_0` (whatever ``x0_scale``) and at each point of the
        function's ``known_minimisers``; of the runs that reach ``||grad f|| <= 1e-10``
        (or the function's ``certify_gtol``)
        the one with the lowest value is kept (any, if none does: :func:`certify` then
        refuses it). Its ``method`` names the start; ``min_eigenvalue`` and
        ``hess_norm`` describe the Hessian there.
        """
        gtol = effective_gtol(self, CERTIFY_GTOL)
        starts = [("x0", self.function.x0())]
        for point in self.function.minimisers():
            starts.append((f"({', '.join(f'{c:g}' for c in point)})", np.asarray(point, float)))
        best: Certificate | None = None
        for label, start in starts:
            with np.errstate(all="ignore"):  # trial steps may overflow; they are rejected
                found = newton_certificate(self, gtol, max_iter=200, x_start=start)
            if best is None or _better(found, best, gtol):
                best = replace(found, method=f"{found.method} from {label}")
        assert best is not None
        x_star = best.x_star
        if x_star is None:
            return best
        if self.function.affine_residuals:
            # f is a convex quadratic: a stationary point is a global minimum, so a
            # Newton step's predicted decrease (spurious on its singular Hessian, where
            # rounding leaves g a null-space part) does not decide anything.
            best = replace(best, predicted_decrease=0.0, method=f"{best.method}, convex quadratic")
        extremes = hessian_extremes(self, x_star)
        return replace(
            best,
            grad_norm=norm2(self.grad(x_star)),
            min_eigenvalue=None if extremes is None else extremes[0],
            hess_norm=None if extremes is None else extremes[1],
        )


def _better(found: Certificate, best: Certificate, gtol: float) -> bool:
    """Whether ``found`` beats ``best``: certified where ``best`` is not, else a lower f."""
    found_ok, best_ok = found.grad_norm <= gtol, best.grad_norm <= gtol
    if found_ok != best_ok:
        return found_ok
    return found.f_star < best.f_star


def _from_ten_x0() -> list[SuiteEntry]:
    """The ``mgh`` suite's instances started at 10·x0, named ``<instance>_x10``."""
    return [
        SuiteEntry(
            f"{entry.name}_x10",
            "mgh",
            {**entry.params, "x0_scale": 10},
            entry.dimension,
            "certified on first use",
            named=False,
        )
        for entry in suite_entries("mgh")
    ]


register_suite(
    "mgh_x10",
    "The mgh suite started at 10·x0 (the paper's x0_scale 10; Moré & Wild 2009 use the "
    "starts x0 and 10·x0). f* certified on first use as for the x0 rows: Newton from the "
    "paper's x0 and minimisers, the lowest kept (the problem is the same).",
    _from_ten_x0,
)
