"""The :class:`Problem` interface every test loss implements.

A problem is a smooth function :math:`f:\\mathbb{R}^n \\to \\mathbb{R}` with exact
first and second derivatives. Problems hold no counters; counting and timing live in
:class:`optbench.problems.oracle.Oracle`, the view that solvers receive.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

#: Largest dimension for which :meth:`Problem.hess` builds a dense matrix by default.
HESS_MAX_DIM = 5_000


@dataclass(frozen=True)
class Smoothness:
    r"""Curvature constants of a problem.

    Attributes
    ----------
    L : float or None
        An upper bound on the Lipschitz constant of the gradient (``None`` when unknown).
    mu : float or None
        A lower bound on the strong-convexity modulus (``0.0`` for convex, ``None`` when
        unknown or nonconvex).
    L_max : float or None
        For a finite sum :math:`f = \frac1n\sum_i f_i` (:class:`FiniteSum`), an upper
        bound on the largest Lipschitz constant of the :math:`\nabla f_i` (the step
        rules of SAG, SAGA and SVRG use it); ``None`` elsewhere.
    """

    L: float | None = None
    mu: float | None = None
    L_max: float | None = None


@dataclass(frozen=True)
class CostWeights:
    r"""Cost of each oracle call in gradient-equivalents.

    The defaults: a value costs 0.5, a gradient or a fused value and
    gradient 1, a Hessian-vector product 1 and a dense Hessian ``dim / 2`` (``hess=None``).
    For least-squares-shaped problems (:class:`LeastSquaresShaped`) the residual vector
    costs as a value (0.5: the value is its squared norm) and the Jacobian as a gradient
    (1: the gradient is :math:`2cJ^\top r`).
    A family may override them where its measured costs differ
    (``benchmarks/kernels.py`` prints the measured ratios).
    """

    value: float = 0.5
    grad: float = 1.0
    value_and_grad: float = 1.0
    hvp: float = 1.0
    hess: float | None = None
    residuals: float = 0.5
    jacobian: float = 1.0

    def hess_cost(self, dim: int) -> float:
        """Cost of one dense Hessian for a problem of dimension ``dim``."""
        return dim / 2 if self.hess is None else self.hess


class Problem(ABC):
    """A smooth unconstrained minimization problem :math:`\\min_x f(x)`.

    Subclasses set ``name``, ``dim``, ``x0``, ``f_star`` and ``params`` in their
    constructor and implement :meth:`value_and_grad` and :meth:`hvp`; the rest have
    defaults built from those two.

    Attributes
    ----------
    name : str
        Instance name (a catalog name, or the family name for ad-hoc instances).
    dim : int
        Number of variables ``n``.
    x0 : ndarray of shape (n,)
        Standard starting point.
    f_star : float or None
        Certified optimal value, or ``None`` when not known.
    params : dict
        The parameters the instance was built from (for display and hashing).
    n_samples : int or None
        The number of terms of a finite sum (:class:`FiniteSum`); None for other problems.
    hess_max_dim : int
        :meth:`hess` refuses to build a dense Hessian above this dimension.
    certify_gtol : float or None
        The gradient-norm target certification can reach on this instance when it is
        above the default 1e-10 (float64 rounding of a badly scaled gradient); None for
        the default. See :func:`optbench.problems.certify.effective_gtol`.
    cost_weights : CostWeights
        Cost of each oracle call (a family's class default; an instance may differ, as
        a function problem whose HVP is two gradients does).
    x_star : ndarray or None
        A known minimiser (Rosenbrock's ones): certification then evaluates the
        gradient there instead of solving.
    f_star_disk_cache : bool
        Keep this instance's certificate in the on-disk f* cache too (the catalog sets
        it for instances marked ``certify: on_first_use``).
    hvp_exact : bool
        Whether :meth:`hvp` is exact up to rounding (False for finite-difference HVPs:
        derivative checks then hold it to the finite-difference tolerance).
    compile_seconds : float
        Time spent compiling the oracles when the instance was built (JAX ``jit``);
        0 for the native families. Never part of a run's ``time``.
    """

    #: Registry name of the family, set by ``PROBLEMS.register``.
    registry_name: ClassVar[str] = ""
    #: Parameters whose value is a list of numbers (a start point): in a config a list
    #: of numbers is one value of them, and a list of such lists sweeps them.
    vector_params: ClassVar[tuple[str, ...]] = ()
    #: Parameters naming a file: in a config file, a relative path is relative to the
    #: config file's directory (as plugins are).
    path_params: ClassVar[tuple[str, ...]] = ()
    cost_weights: CostWeights = CostWeights()
    compile_seconds: float = 0.0
    hvp_exact: bool = True
    x_star: np.ndarray | None = None
    f_star_disk_cache: bool = False

    name: str
    dim: int
    x0: np.ndarray
    f_star: float | None = None
    params: dict[str, Any]
    n_samples: int | None = None
    hess_max_dim: int = HESS_MAX_DIM
    certify_gtol: float | None = None

    @classmethod
    def check_params(cls, **params: Any) -> dict[str, Any]:
        """Validate constructor parameters without building the instance or its data.

        The parameters not given take the constructor's defaults (read from its
        signature, their one home), then go to :meth:`_validated_params`, which a family
        overrides with its own rules and calls from its constructor: a config is checked
        before any run by the very code that builds it.

        Returns
        -------
        dict
            The parameters in canonical types, defaults filled in (the default
            :meth:`_validated_params` returns them unchanged: the constructor checks them).

        Raises
        ------
        ValueError
            ``"<parameter>: must be ..., got ..."`` for the first invalid parameter.
        TypeError
            A parameter the constructor does not take.
        """
        bound = inspect.signature(cls.__init__).bind_partial(None, **params)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(arguments)))  # self
        return cls._validated_params(**arguments)

    @classmethod
    def _validated_params(cls, *args: Any, **params: Any) -> dict[str, Any]:
        """Every constructor parameter, checked; see :meth:`check_params`.

        Called with keywords only. ``*args`` makes the signature the gradual
        ``(...)``, so that a family may override it with its own keyword parameters.
        """
        return params

    @classmethod
    def data_bytes(cls, params: dict[str, Any]) -> int:
        """Estimated memory, in bytes, that building the instance allocates.

        ``params`` is the output of :meth:`check_params`. The default 0 means "small";
        a family whose data grows with its parameters overrides it.
        """
        return 0

    @classmethod
    def dimension(cls, params: dict[str, Any]) -> int | None:
        """The number of variables of the instance ``params`` describe, without building it.

        ``params`` is the output of :meth:`check_params`. None (the default) when the
        family cannot tell before building (data given as arrays, say); suites list
        and filter by it.
        """
        return None

    def value(self, x: np.ndarray) -> float:
        """Objective value :math:`f(x)`."""
        return self.value_and_grad(x)[0]

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Gradient :math:`\\nabla f(x)`."""
        return self.value_and_grad(x)[1]

    @abstractmethod
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient in one pass (data losses share ``X @ x``)."""

    @abstractmethod
    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Exact Hessian-vector product :math:`\\nabla^2 f(x)\\, v`."""

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian :math:`\\nabla^2 f(x)`, built column by column from :meth:`hvp`.

        Raises
        ------
        ValueError
            If ``dim`` exceeds ``hess_max_dim`` (raise it with the ``hess_max_dim``
            parameter of :func:`optbench.make_problem`).
        """
        self._check_hess_size()
        eye = np.eye(self.dim)
        H = np.column_stack([self.hvp(x, eye[:, j]) for j in range(self.dim)])
        return 0.5 * (H + H.T)

    def smoothness(self) -> Smoothness:
        """Lipschitz constant of the gradient and strong-convexity modulus, if known."""
        return Smoothness()

    # What certification (optbench.problems.certify) uses, besides x_star and
    # certify_gtol: a family's own way to the optimum, and what identifies its data.
    def own_certificate(self) -> Any:
        """The family's own certificate (a ``certify.Certificate``), or None.

        Families with a better route than generic damped Newton override it (least
        squares: exact normal equations; MGH: Newton from the paper's x0 and minimisers).
        """
        return None

    def data_digest(self) -> str | None:
        """A hash of what defines the instance beyond ``params`` (user data, user code).

        It keys the f* caches with the family and ``params``; None for instances that
        their parameters determine.
        """
        return None

    def _check_hess_size(self) -> None:
        if self.dim > self.hess_max_dim:
            raise ValueError(
                f"hess: a dense Hessian of dim {self.dim} exceeds hess_max_dim="
                f"{self.hess_max_dim}; use hvp, or pass hess_max_dim={self.dim} to "
                "make_problem to allow it"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class LeastSquaresShaped(ABC):
    r"""The optional capability of a problem that is a sum of squares.

    A problem that also inherits this class declares

    .. math:: f(x) = c\,\|r(x)\|_2^2 \quad\text{exactly, with}\quad
              \nabla f(x) = 2c\,J(x)^\top r(x),

    where ``c`` is :attr:`residual_scale`, :math:`r` is :meth:`residuals` and
    :math:`J = \partial r/\partial x` is :meth:`jacobian`. A Gauss–Newton method models
    :math:`\nabla^2 f \approx 2c\,J^\top J` without guessing the factor. The
    Moré–Garbow–Hillstrom problems have ``c = 1`` (:math:`f = \sum r_i^2`); linear least
    squares :math:`\frac{1}{2n}\|Ax - b\|^2 + \frac{\lambda}{2}\|x\|^2` has
    ``c = 1/(2n)`` with :math:`r = (Ax - b,\ \sqrt{n\lambda}\,x)`.

    Solvers see these through :meth:`Oracle.residuals <optbench.problems.oracle.Oracle.residuals>`
    and :meth:`Oracle.jacobian <optbench.problems.oracle.Oracle.jacobian>`, counted as
    ``n_r`` and ``n_J``; :func:`is_least_squares` tells whether a problem has them.

    Attributes
    ----------
    residual_scale : float
        The factor ``c > 0`` of :math:`f = c\|r\|^2`.
    n_residuals : int
        The number ``m`` of residuals.
    """

    residual_scale: float
    n_residuals: int

    @abstractmethod
    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The residual vector :math:`r(x)`, shape ``(n_residuals,)``."""

    @abstractmethod
    def jacobian(self, x: np.ndarray) -> Any:
        r"""The Jacobian :math:`J(x)`, shape ``(n_residuals, dim)``.

        A dense ndarray or a ``scipy.sparse`` matrix (the family says which); treat it
        as read-only: a family may return its own data (e.g. the design matrix).
        """


def is_least_squares(problem: Any) -> bool:
    """Whether ``problem`` (an instance or a family class) offers residuals and a Jacobian."""
    if isinstance(problem, type):
        return issubclass(problem, LeastSquaresShaped)
    return isinstance(problem, LeastSquaresShaped)


class FiniteSum(ABC):
    r"""The optional capability of a problem that is a mean over samples.

    A problem that also inherits this class is

    .. math:: f(x) = \frac1n \sum_{i=1}^n \ell_i(x) + R(x),

    with :math:`n` = ``n_samples`` and :math:`R` the ridge term (:math:`\frac\lambda2
    \|w\|^2`). The minibatch evaluations take the mean over the rows ``idx`` (a 1-D
    integer array, repeats allowed) plus the *full* ridge term,

    .. math:: f_B(x) = \frac1{|B|} \sum_{i \in B} \ell_i(x) + R(x),

    so the mean of :math:`\nabla f_B` over the batches of a partition of the samples
    into equal sizes is :math:`\nabla f`. For linear models the gradient of a sample is
    :math:`\tilde x_i\, \ell_i'` (:math:`\tilde x_i` its row, with a 1 for an
    intercept; :math:`\ell_i'` the loss derivative in the linear predictor, a
    ``K``-vector for softmax): :meth:`sample_derivatives` gives the
    :math:`\ell_i'` and :meth:`grad_from_derivatives` forms the mean of
    :math:`\tilde x_i \otimes \ell_i'`, so SAGA (Defazio, Bach & Lacoste-Julien 2014)
    keeps a table of ``n`` derivatives, not ``n`` gradients.

    Solvers see these through the :class:`~optbench.problems.oracle.Oracle`, counted as
    sample gradients (``n_sample_g``) and sample HVPs (``n_sample_hvp``);
    :func:`is_finite_sum` tells whether a problem has them.
    """

    n_samples: int | None

    @abstractmethod
    def value_and_grad_batch(self, x: np.ndarray, idx: np.ndarray) -> tuple[float, np.ndarray]:
        r""":math:`(f_B(x), \nabla f_B(x))` over the rows ``idx``."""

    def grad_batch(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        r""":math:`\nabla f_B(x)` over the rows ``idx``."""
        return self.value_and_grad_batch(x, idx)[1]

    @abstractmethod
    def hvp_batch(self, x: np.ndarray, v: np.ndarray, idx: np.ndarray) -> np.ndarray:
        r""":math:`\nabla^2 f_B(x)\, v` over the rows ``idx``."""

    @abstractmethod
    def sample_derivatives(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        r"""The loss derivatives :math:`\ell_i'` of the rows ``idx``, shape ``(len(idx),)``
        or ``(len(idx), K)``."""

    @abstractmethod
    def grad_from_derivatives(self, idx: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
        r""":math:`\frac1{|B|}\sum_{i \in B} \tilde x_i \otimes d_i`, without the ridge term."""

    @abstractmethod
    def ridge_grad(self, x: np.ndarray) -> np.ndarray:
        r""":math:`\nabla R(x)`, the ridge term's gradient (0 on an intercept)."""


def is_finite_sum(problem: Any) -> bool:
    """Whether ``problem`` (an instance or a family class) offers minibatch evaluations."""
    if isinstance(problem, type):
        return issubclass(problem, FiniteSum)
    return isinstance(problem, FiniteSum)
