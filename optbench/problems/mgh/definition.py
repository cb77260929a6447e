r"""What one Moré–Garbow–Hillstrom test function provides, and the table of all 35.

Moré, Garbow & Hillstrom, "Testing Unconstrained Optimization Software", ACM TOMS
7(1):17–41, 1981 (MGH below) define each test function as a system of ``m`` residuals
:math:`r_i : \mathbb{R}^n \to \mathbb{R}` and the objective

.. math:: f(x) = \sum_{i=1}^{m} r_i(x)^2

(no factor 1/2). An :class:`MGHFunction` is one of them at chosen sizes ``n`` and
``m``: its residuals, their Jacobian, the second-order term of the Hessian applied to a
vector, the standard starting point and the optimal value the paper reports. The
``mgh`` problem family turns these into value, gradient :math:`2J^\top r`, HVP
:math:`2\,(J^\top J v + \sum_i r_i \nabla^2 r_i\, v)` and dense Hessian; solvers of the
Gauss–Newton kind use the residuals and Jacobian directly.

Every function is registered in :data:`FUNCTIONS` by its number in the paper with
:func:`register`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

__all__ = ["FUNCTIONS", "MGHFunction", "register"]


class MGHFunction(ABC):
    """One MGH test function at sizes ``n`` (variables) and ``m`` (residuals).

    Subclasses set the class attributes, implement the four abstract methods and,
    where the paper lets ``n`` or ``m`` vary, override :meth:`check_sizes`. Methods are
    vectorised with numpy and allocate only arrays of size ``n``, ``m`` or ``m × n``.

    Parameters
    ----------
    n, m : int or None
        Numbers of variables and residuals; ``None`` takes the paper's standard size.

    Attributes
    ----------
    number : int
        The problem's number in MGH (1 to 35).
    name : str
        Its name in snake case, as in the catalog (``"rosenbrock"``, ``"helical_valley"``).
    default_n, default_m : int
        The standard sizes of MGH section 3 (for variable sizes, the ones this
        project's named instance uses; the module docstring of the subclass says which).
    known_minimisers : tuple of tuple of float
        Points where MGH states a minimum (exactly or to the digits printed); the
        ``mgh`` family's certification also starts Newton there. Empty by default.
    affine_residuals : bool
        The residuals are affine in x (MGH 32–34), so f is a convex quadratic and any
        stationary point a global minimum.
    certify_gtol : float or None
        The gradient norm a certificate can reach at the standard sizes when float64
        rounding keeps it above 1e-10 (Meyer); None by default.
    """

    number: ClassVar[int]
    name: ClassVar[str]
    default_n: ClassVar[int]
    default_m: ClassVar[int]
    known_minimisers: ClassVar[tuple[tuple[float, ...], ...]] = ()
    certify_gtol: ClassVar[float | None] = None
    affine_residuals: ClassVar[bool] = False

    def __init__(self, n: int | None = None, m: int | None = None) -> None:
        self.n = self.default_n if n is None else n
        self.m = self.default_m if m is None else m
        self.check_sizes(self.n, self.m)

    def minimisers(self) -> tuple[tuple[float, ...], ...]:
        """Points where MGH states a minimum at these sizes (``known_minimisers`` unless
        the minimum depends on ``n`` or ``m``, as for the rank-1 linear functions)."""
        return self.known_minimisers

    @classmethod
    def check_sizes(cls, n: int, m: int) -> None:
        """Raise ``ValueError("n: must be ..., got ...")`` (or ``m:``) for sizes MGH does not allow.

        The default allows only the standard sizes; a function with variable ``n`` or
        ``m`` overrides it with the paper's rule (e.g. ``m >= n``, ``n`` even).
        """
        if n != cls.default_n:
            raise ValueError(f"n: must be {cls.default_n} for {cls.name}, got {n}")
        if m != cls.default_m:
            raise ValueError(f"m: must be {cls.default_m} for {cls.name}, got {m}")

    @abstractmethod
    def x0(self) -> np.ndarray:
        """The standard starting point of MGH (shape ``(n,)``, a new array)."""

    @abstractmethod
    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The residuals :math:`r(x)`, shape ``(m,)``."""

    @abstractmethod
    def jacobian(self, x: np.ndarray) -> np.ndarray:
        r"""The Jacobian :math:`J(x)_{ij} = \partial r_i / \partial x_j`, shape ``(m, n)``."""

    @abstractmethod
    def residual_curvature(self, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        r"""The second-order term :math:`\sum_i w_i \nabla^2 r_i(x)\, v`, shape ``(n,)``.

        With ``w = r(x)`` this is the part of :math:`\tfrac12 \nabla^2 f(x)\, v` that
        Gauss–Newton drops. Never forms an ``n × n`` matrix unless ``n`` is that of the
        problem's fixed size.
        """

    def residual_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        r"""The second-order term as a dense matrix :math:`\sum_i w_i \nabla^2 r_i(x)`, ``(n, n)``.

        The ``mgh`` family's dense Hessian uses it. The default applies
        :meth:`residual_curvature` to the ``n`` columns of the identity; a function that
        can form the matrix directly overrides it.
        """
        eye = np.eye(self.n)
        return np.column_stack([self.residual_curvature(x, w, eye[:, j]) for j in range(self.n)])

    def published_f_star(self) -> float | None:
        """The optimal value MGH reports at these sizes, or ``None`` when it gives none.

        Where MGH lists several local minima, the smallest reported value.
        """
        return None


#: The registered functions by their number in MGH.
FUNCTIONS: dict[int, type[MGHFunction]] = {}


def register(cls: type[MGHFunction]) -> type[MGHFunction]:
    """Class decorator: add ``cls`` to :data:`FUNCTIONS` under ``cls.number``."""
    if cls.number in FUNCTIONS:
        raise ValueError(f"MGH function {cls.number} is registered twice")
    FUNCTIONS[cls.number] = cls
    return cls
