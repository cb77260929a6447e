r"""Certified reference optima :math:`f^*`, computed from scratch and cached per instance.

:func:`certify` solves a problem to :math:`\|\nabla f(x)\| \le` ``gtol`` and returns a
:class:`Certificate`. It dispatches, in order, to

1. the family's :meth:`~optbench.problems.base.Problem.own_certificate` when it gives
   one (least squares: an exact solve);
2. an analytic optimum when the instance exposes ``x_star`` (Rosenbrock: :math:`f^*=0`
   at the ones vector), checked by evaluating :math:`f` and :math:`\nabla f` there;
3. a damped Newton method written here (this module must not import ``optbench.solvers``):
   the Newton direction from a Cholesky factorization of the dense Hessian when
   ``dim`` is small, else from conjugate gradients on Hessian-vector products with the
   forcing term :math:`\eta_k = \min(0.1, \|\nabla f_k\|)` (Nocedal & Wright, 2nd ed.,
   Algorithm 7.1 with the quadratic-rate choice of Theorem 7.2); the step length by
   Armijo backtracking (Algorithm 3.1). This suits the convex data losses.

:func:`cached_f_star` memoizes certificates in a module-level dict keyed by
:func:`cache_key`, a hash of (family, params) and, for user data, of the data bytes;
problems flagged ``f_star_disk_cache`` (large catalog instances) also keep them on disk
across processes (:mod:`optbench.problems.fstar_cache`).
Families inherit :class:`LazyFStar` to get a lazy ``f_star`` property with a setter (a
catalog sets a stored value without recomputing).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optbench.numerics import norm2
from optbench.problems import fstar_cache
from optbench.problems.base import Problem
from optbench.scalars import is_integer

#: Newton uses a dense Cholesky factorization of the Hessian up to this dimension.
CHOLESKY_MAX_DIM = 500
#: A certificate is refused when a Newton step still predicts a decrease above
#: ``DECREASE_RTOL * max(1, |f|)``: a small gradient alone does not show optimality
#: (e.g. separable logistic data with ``l2=0``, whose infimum is not attained).
DECREASE_RTOL = 1e-12
#: Armijo sufficient-decrease constant ``c1`` (Nocedal & Wright, eq. 3.4).
ARMIJO_C1 = 1e-4
#: Gradient-norm target of certificates stored in the on-disk cache (as the catalog's).
DISK_CACHE_GTOL = 1e-10

_CERTIFICATES: dict[str, Certificate] = {}
#: Cache keys whose certification failed, with the reason (not retried).
_FAILURES: dict[str, str] = {}


@dataclass(frozen=True)
class Certificate:
    r"""How a reference optimum was established.

    Attributes
    ----------
    f_star : float
        The optimal value (the value at ``x_star``).
    x_star : ndarray or None
        The minimizer found, when one is.
    grad_norm : float
        :math:`\|\nabla f(x^*)\|_2` as evaluated at ``x_star``.
    method : str
        ``"analytic"``, ``"cholesky"``, ``"lsqr"``, ``"newton-cholesky"``, ``"newton-cg"``, …
    iters : int
        Iterations of the method (0 for analytic and direct solves).
    predicted_decrease : float
        Newton's methods: :math:`\tfrac12 \nabla f^\top [\nabla^2 f]^{-1} \nabla f` at
        ``x_star``, the decrease the quadratic model still predicts (half the squared
        Newton decrement, Boyd & Vandenberghe, Convex Optimization, §9.5.1). 0 for
        exact and analytic methods.
    min_eigenvalue, hess_norm : float or None
        The smallest eigenvalue and the 2-norm of :math:`\nabla^2 f(x^*)` when they were
        computed (:func:`hessian_extremes`): ``min_eigenvalue`` > 0 shows a strict local
        minimum when it exceeds the rounding of the eigenvalues, about
        :math:`n \epsilon` ``hess_norm``.
    """

    f_star: float
    x_star: np.ndarray | None
    grad_norm: float
    method: str
    iters: int
    predicted_decrease: float = 0.0
    min_eigenvalue: float | None = None
    hess_norm: float | None = None


def certify(problem: Problem, gtol: float = 1e-10, max_iter: int = 100) -> Certificate:
    r"""Compute the optimal value of ``problem`` from scratch.

    Parameters
    ----------
    problem : Problem
        The instance to solve (never its cached ``f_star``).
    gtol : float
        Required gradient norm at the returned point.
    max_iter : int
        Newton iteration limit.

    Raises
    ------
    ValueError
        If ``gtol`` or ``max_iter`` is invalid.
    RuntimeError
        If the method ends with :math:`\|\nabla f\| >` ``gtol``, or a Newton step at the
        end still predicts a decrease above ``DECREASE_RTOL * max(1, |f|)`` (the message
        says which).
    """
    if not (isinstance(gtol, (int, float)) and gtol > 0):
        raise ValueError(f"gtol: must be > 0, got {gtol!r}")
    gtol = effective_gtol(problem, gtol)
    if not is_integer(max_iter) or max_iter < 1:
        raise ValueError(f"max_iter: must be a positive integer, got {max_iter!r}")
    own = problem.own_certificate()
    if own is not None:
        certificate = own
    elif problem.x_star is not None:
        x_star = np.asarray(problem.x_star, dtype=np.float64)
        value, gradient = problem.value_and_grad(x_star)
        certificate = Certificate(float(value), x_star, norm2(gradient), "analytic", 0)
    else:
        certificate = newton_certificate(problem, gtol, max_iter)
    if not certificate.grad_norm <= gtol:
        raise RuntimeError(
            f"certify: {certificate.method} ended at gradient norm {certificate.grad_norm:.3e}"
            f" > gtol={gtol:g} after {certificate.iters} iterations for {problem!r}"
        )
    decrease_limit = DECREASE_RTOL * max(1.0, abs(certificate.f_star))
    if not certificate.predicted_decrease <= decrease_limit:
        raise RuntimeError(
            f"certify: {certificate.method} reached gradient norm {certificate.grad_norm:.3e}"
            f" but a Newton step still predicts a decrease of "
            f"{certificate.predicted_decrease:.3e} > {decrease_limit:.1e} for {problem!r}: "
            "the minimum is not attained (e.g. separable data with l2=0) or is too "
            "ill-conditioned to certify"
        )
    return certificate


def hessian_extremes(problem: Problem, x: np.ndarray) -> tuple[float, float] | None:
    """The smallest eigenvalue and the 2-norm of the dense Hessian at ``x``.

    None above ``CHOLESKY_MAX_DIM`` (or the problem's ``hess_max_dim``).
    """
    if problem.dim > min(CHOLESKY_MAX_DIM, problem.hess_max_dim):
        return None
    import scipy.linalg

    H = problem.hess(x)
    eigenvalues = scipy.linalg.eigvalsh(0.5 * (H + H.T))
    return float(eigenvalues[0]), float(np.max(np.abs(eigenvalues)))


def effective_gtol(problem: Problem, gtol: float) -> float:
    """``gtol``, or the problem's :attr:`~optbench.problems.base.Problem.certify_gtol` if larger.

    A problem whose gradient cannot reach ``gtol`` in float64 (its rounding floor is
    higher) declares the floor it can reach; the certificate records the tolerance used.
    """
    floor = problem.certify_gtol
    return gtol if floor is None else max(gtol, floor)


def newton_certificate(
    problem: Problem, gtol: float, max_iter: int = 100, x_start: np.ndarray | None = None
) -> Certificate:
    r"""Damped Newton from ``x_start`` (default ``x0``) until :math:`\|\nabla f\| \le` ``gtol``.

    The iteration is :math:`x_{k+1} = x_k + \alpha_k p_k` with
    :math:`\nabla^2 f(x_k)\, p_k = -\nabla f(x_k)` (solved by Cholesky for
    ``dim <= CHOLESKY_MAX_DIM``, else by CG to relative residual
    :math:`\min(0.1, \|\nabla f_k\|)`) and :math:`\alpha_k` the first of
    :math:`1, 1/2, 1/4, \dots` meeting the Armijo condition (N&W Alg. 3.1). Near the
    optimum, where decreases fall below the rounding of :math:`f`, a step is also
    accepted when it reduces the gradient norm. At the end one more Newton system is
    solved for ``predicted_decrease``.
    """
    use_cholesky = problem.dim <= min(CHOLESKY_MAX_DIM, problem.hess_max_dim)
    start = problem.x0 if x_start is None else x_start
    x = np.array(start, dtype=np.float64, copy=True)
    value, gradient = problem.value_and_grad(x)
    grad_norm = norm2(gradient)
    used_cg = not use_cholesky
    for iteration in range(max_iter + 1):
        if grad_norm <= gtol or iteration == max_iter:
            break
        direction = None
        if use_cholesky:
            direction = _cholesky_direction(problem, x, gradient)
        if direction is None:
            used_cg = True
            direction = _cg_direction(problem, x, gradient, min(0.1, grad_norm) * grad_norm)
        step = _armijo_step(problem, x, value, gradient, grad_norm, direction)
        if step is None:
            break
        x, value, gradient = step
        grad_norm = norm2(gradient)
    method = "newton-cg" if used_cg else "newton-cholesky"
    direction = _cholesky_direction(problem, x, gradient) if use_cholesky else None
    if direction is None:
        direction = _cg_direction(problem, x, gradient, 1e-3 * grad_norm)
    predicted_decrease = max(0.0, -0.5 * float(gradient @ direction))
    return Certificate(float(value), x, grad_norm, method, iteration, predicted_decrease)


def _cholesky_direction(problem: Problem, x: np.ndarray, gradient: np.ndarray) -> np.ndarray | None:
    """Solve :math:`H p = -g` by Cholesky; None if :math:`H` is not numerically SPD."""
    import scipy.linalg

    try:
        factor = scipy.linalg.cho_factor(problem.hess(x), lower=True, check_finite=False)
    except (scipy.linalg.LinAlgError, ValueError):
        return None
    return -scipy.linalg.cho_solve(factor, gradient, check_finite=False)


def _cg_direction(
    problem: Problem, x: np.ndarray, gradient: np.ndarray, tolerance: float
) -> np.ndarray:
    """Conjugate gradients on :math:`H p = -g` from :math:`p = 0` (N&W Alg. 5.2 and 7.1).

    Stops when the residual norm is at most ``tolerance``, or on non-positive curvature
    (returning the steepest-descent direction if that happens at the first iteration).
    """
    direction = np.zeros_like(gradient)
    residual = gradient.copy()  # residual of H p + g at p = 0
    search = -residual
    residual_sq = float(residual @ residual)
    for _ in range(max(2 * problem.dim, 100)):
        curvature_vector = problem.hvp(x, search)
        curvature = float(search @ curvature_vector)
        if curvature <= 0:
            return -gradient if not direction.any() else direction
        alpha = residual_sq / curvature
        direction += alpha * search
        residual += alpha * curvature_vector
        new_residual_sq = float(residual @ residual)
        if np.sqrt(new_residual_sq) <= tolerance:
            break
        search *= new_residual_sq / residual_sq
        search -= residual
        residual_sq = new_residual_sq
    return direction


def _armijo_step(
    problem: Problem,
    x: np.ndarray,
    value: float,
    gradient: np.ndarray,
    grad_norm: float,
    direction: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray] | None:
    """Backtracking line search (N&W Alg. 3.1); None when no step is acceptable."""
    slope = float(gradient @ direction)
    if not slope < 0:
        direction, slope = -gradient, -grad_norm * grad_norm
    rounding = 8 * np.finfo(np.float64).eps * max(abs(value), 1.0)
    step_size = 1.0
    while step_size > 1e-20:
        candidate = x + step_size * direction
        new_value, new_gradient = problem.value_and_grad(candidate)
        if np.isfinite(new_value):
            if new_value <= value + ARMIJO_C1 * step_size * slope:
                return candidate, float(new_value), new_gradient
            if new_value <= value + rounding and (norm2(new_gradient) < grad_norm):
                return candidate, float(new_value), new_gradient
        step_size *= 0.5
    return None


# --------------------------------------------------------------------------- caching


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def cache_key(problem: Problem) -> str:
    """Hash of (family, params) plus, for user data, the data bytes.

    :meth:`~optbench.problems.base.Problem.data_digest` hashes what the params do not
    say (user data: :func:`optbench.problems.linear_model.data_digest`; a function
    problem's code); synthetic instances are fully determined by their params
    (including ``seed``).
    """
    payload = {
        "family": problem.registry_name or type(problem).__name__,
        "params": problem.params,
        "data": problem.data_digest(),
    }
    text = json.dumps(payload, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def cached_certificate(problem: Problem) -> Certificate:
    """The certificate of ``problem``, computed on first request and then reused.

    Kept in memory per process. A problem whose ``f_star_disk_cache`` attribute is true
    (catalog instances marked ``certify: on_first_use``) also goes through the on-disk
    cache of :mod:`optbench.problems.fstar_cache`: read from there when present, else
    certified to :data:`DISK_CACHE_GTOL` and written there.
    """
    key = cache_key(problem)
    certificate = _CERTIFICATES.get(key)
    if certificate is None:
        if problem.f_star_disk_cache:
            certificate = _disk_cached_certificate(problem, key)
        else:
            certificate = certify(problem)
        _CERTIFICATES[key] = certificate
    return certificate


def _disk_cached_certificate(problem: Problem, key: str) -> Certificate:
    """The certificate from the disk cache, or certified now and stored there."""
    entry = fstar_cache.read_entry(key)
    if entry is not None and entry["tolerance"] > DISK_CACHE_GTOL:
        warnings.warn(
            f"f* cache entry {key[:12]}… was certified to gradient norm "
            f"{entry['tolerance']:g} > {DISK_CACHE_GTOL:g}; certifying again",
            RuntimeWarning,
            stacklevel=3,
        )
        entry = None
    if entry is not None:
        return Certificate(
            f_star=float(entry["f_star"]),
            x_star=None,
            grad_norm=float(entry["grad_norm"]),
            method=str(entry["method"]),
            iters=int(entry["iters"]),
            predicted_decrease=float(entry.get("predicted_decrease", 0.0)),
        )
    started = time.perf_counter()
    certificate = certify(problem, gtol=DISK_CACHE_GTOL)
    store_certificate(problem, certificate, DISK_CACHE_GTOL, time.perf_counter() - started)
    return certificate


def store_certificate(
    problem: Problem, certificate: Certificate, gtol: float, seconds: float | None = None
) -> Path | None:
    """Write ``certificate`` of ``problem`` (certified to ``gtol``) to the disk cache.

    Returns the file written, or None when the cache folder is not writable (warned).
    """
    entry = {
        "f_star": float(certificate.f_star),
        "grad_norm": float(certificate.grad_norm),
        "tolerance": float(gtol),
        "method": certificate.method,
        "iters": int(certificate.iters),
        "predicted_decrease": float(certificate.predicted_decrease),
        "family": problem.registry_name or type(problem).__name__,
        "name": problem.name,
        "params": problem.params,
        "seconds": seconds,
        "date": datetime.date.today().isoformat(),
    }
    return fstar_cache.write_entry(cache_key(problem), entry)


def cached_f_star(problem: Problem) -> float:
    """``cached_certificate(problem).f_star``: certified once per (family, params, data)."""
    return cached_certificate(problem).f_star


def clear_f_star_cache() -> None:
    """Forget every cached certificate (tests; after mutating data in place)."""
    _CERTIFICATES.clear()
    _FAILURES.clear()


class LazyFStar:
    """Mixin giving a family a lazy, cached, settable ``f_star``.

    Reading ``f_star`` certifies on first access (:func:`cached_f_star`); these are
    pure functions of the data, so caching changes time only. When certification
    fails (e.g. separable data with ``l2=0`` has no minimizer) it is None, as for any
    problem whose optimum is unknown, with one ``RuntimeWarning``; the failure is
    remembered and not retried. Assigning a float (a catalog's stored value)
    overrides it for this instance without recomputing; assigning None restores the
    lazy value. Setting ``f_star_disk_cache = True`` on an instance (the catalog does,
    for ``certify: on_first_use``) keeps its certificate in the on-disk cache too.
    """

    _f_star_override: float | None = None

    @property
    def f_star(self) -> float | None:
        """Certified optimal value; None (with a warning, once) if certification fails."""
        if self._f_star_override is not None:
            return self._f_star_override
        key = cache_key(self)  # type: ignore[arg-type]
        if key in _FAILURES:
            return None
        try:
            return cached_f_star(self)  # type: ignore[arg-type]
        except RuntimeError as error:
            _FAILURES[key] = str(error)
            warnings.warn(f"f_star unknown: {error}", RuntimeWarning, stacklevel=2)
            return None

    @f_star.setter
    def f_star(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if not np.isfinite(value):
                raise ValueError(f"f_star: must be a finite number or None, got {value!r}")
        self._f_star_override = value
