r"""The Rosenbrock function, chained and extended.

Chained (as ``scipy.optimize.rosen``):

.. math:: f(x) = \sum_{i=1}^{n-1} 100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2 .

Extended (Moré, Garbow & Hillstrom 1981, problem 21): the same term over the
independent pairs :math:`(x_{2i-1}, x_{2i})`, so ``dim`` must be even.

Both start at :math:`x_0 = (-1.2, 1, -1.2, 1, \dots)` and have :math:`f^* = 0` at
:math:`x^* = (1, \dots, 1)`. The Hessian is tridiagonal (chained) or block-diagonal
with 2×2 blocks (extended); the HVP uses that structure in :math:`O(n)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.problems.base import Problem
from optbench.registry import PROBLEMS
from optbench.scalars import check_integer

VARIANTS = ("chained", "extended")
#: Length-``dim`` float arrays alive at once during a run (for :meth:`Rosenbrock.data_bytes`).
VECTORS_PER_RUN = 8


@PROBLEMS.register("rosenbrock")
class Rosenbrock(Problem):
    """Rosenbrock's banana valley, chained or extended (MGH #21); f* = 0 at ones.

    Parameters
    ----------
    dim : int
        Number of variables, at least 2 (even for ``extended``).
    variant : {"chained", "extended"}
        Which coupling of the terms.
    """

    def __init__(self, dim: int = 2, variant: str = "chained") -> None:
        self.params = self._validated_params(dim=dim, variant=variant)
        self.dim, self.variant = self.params["dim"], variant
        self.name = "rosenbrock" if variant == "chained" else "rosenbrock_extended"
        self.x0 = np.tile([-1.2, 1.0], self.dim // 2 + 1)[: self.dim].copy()
        self.f_star = 0.0
        self.x_star = np.ones(self.dim)

    @classmethod
    def _validated_params(cls, *, dim: Any, variant: Any) -> dict[str, Any]:
        """``dim`` an integer >= 2 (even for ``extended``), ``variant`` one of VARIANTS."""
        dim = check_integer("dim", dim, ge=2)
        if variant not in VARIANTS:
            raise ValueError(f"variant: must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if variant == "extended" and dim % 2:
            raise ValueError(f"dim: must be even for variant 'extended', got {dim}")
        return {"dim": dim, "variant": variant}

    @classmethod
    def dimension(cls, params: dict[str, Any]) -> int:
        return int(params["dim"])

    @classmethod
    def data_bytes(cls, params: dict[str, Any]) -> int:
        """``x0`` and ``x*``, and the iterate, gradient and work arrays of a run."""
        return VECTORS_PER_RUN * 8 * params["dim"]

    def _pairs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (leading, trailing) coordinates of each term."""
        if self.variant == "chained":
            return x[:-1], x[1:]
        return x[0::2], x[1::2]

    def _scatter(self, lead: np.ndarray, trail: np.ndarray) -> np.ndarray:
        """Add per-term contributions to the leading and trailing coordinates."""
        out = np.zeros(self.dim)
        if self.variant == "chained":
            out[:-1] += lead
            out[1:] += trail
        else:
            out[0::2] = lead
            out[1::2] = trail
        return out

    def value(self, x: np.ndarray) -> float:
        a, b = self._pairs(x)
        return float(np.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2))

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = self._pairs(x)
        residual = b - a * a
        value = float(np.sum(100.0 * residual**2 + (1.0 - a) ** 2))
        grad = self._scatter(-400.0 * a * residual - 2.0 * (1.0 - a), 200.0 * residual)
        return value, grad

    def _hessian_bands(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Diagonal of the Hessian and the coupling ``d²f/da db = -400 a`` per term."""
        a, b = self._pairs(x)
        diagonal = self._scatter(1200.0 * a * a - 400.0 * b + 2.0, np.full(a.shape, 200.0))
        return diagonal, -400.0 * a

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        diagonal, coupling = self._hessian_bands(x)
        v_lead, v_trail = self._pairs(v)
        return diagonal * v + self._scatter(coupling * v_trail, coupling * v_lead)

    def hess(self, x: np.ndarray) -> np.ndarray:
        self._check_hess_size()
        diagonal, coupling = self._hessian_bands(x)
        H = np.diag(diagonal)
        stride = 1 if self.variant == "chained" else 2
        lead = np.arange(0, self.dim - 1, stride)
        H[lead, lead + 1] = coupling
        H[lead + 1, lead] = coupling
        return H
