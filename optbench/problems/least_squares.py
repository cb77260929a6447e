r"""Regularized linear least squares.

.. math:: f(x) = \frac{1}{2n}\|Ax - b\|_2^2 + \frac{\lambda}{2}\|x\|_2^2, \qquad
          \nabla f(x) = \tfrac1n A^\top(Ax - b) + \lambda x, \qquad
          \nabla^2 f = \tfrac1n A^\top A + \lambda I,

with :math:`\lambda` = ``l2``. The Hessian is constant, so
:math:`L = \sigma_{\max}(A)^2/n + \lambda` and :math:`\mu = \sigma_{\min}(A)^2/n + \lambda`
exactly (:math:`\sigma_{\min} = 0` when :math:`A` has more columns than rows), and the
optimum solves the normal equations :math:`(A^\top A + n\lambda I)\,x^* = A^\top b`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.numerics import norm2
from optbench.problems.base import LeastSquaresShaped, Smoothness
from optbench.problems.certify import Certificate
from optbench.problems.data import least_squares_data
from optbench.problems.linalg import gram, gram_extreme_eigenvalues, row_norms_squared
from optbench.problems.linear_model import LinearModelLoss, loaded_source
from optbench.problems.validation import (
    as_design_matrix,
    check_nonnegative,
    check_point,
    check_positive_int,
    check_rows,
    check_seed,
    is_sparse,
)
from optbench.registry import PROBLEMS
from optbench.scalars import check_number

#: The exact certificate uses the normal equations up to this many columns, else LSQR.
NORMAL_EQUATIONS_MAX_DIM = 2_000
#: ``smoothness`` uses a dense SVD of ``A`` up to this many entries (32 MB).
SVD_MAX_ENTRIES = 4_000_000


@PROBLEMS.register("least_squares")
class LeastSquares(LinearModelLoss, LeastSquaresShaped):
    r"""Linear least squares :math:`\frac{1}{2n}\|Ax-b\|^2 + \frac{l_2}{2}\|x\|^2`.

    Least-squares shaped (:class:`~optbench.problems.base.LeastSquaresShaped`) with
    ``residual_scale`` :math:`c = 1/(2n)`: :math:`r(x) = Ax - b`, followed by
    :math:`\sqrt{n\,l_2}\,x` when ``l2 > 0``, so that :math:`f = c\|r\|^2` exactly; the
    Jacobian is ``A`` itself (not a copy) when ``l2 = 0``, else ``A`` stacked on
    :math:`\sqrt{n\,l_2}\,I` (built on each call).

    Give user data ``A`` and ``b``, or leave them None for synthetic data
    (:func:`optbench.problems.data.least_squares_data`: singular values log-spaced from
    :math:`\sqrt n` down to :math:`\sqrt n/\mathrm{cond}`, so ``L = 1 + l2`` when
    ``n_features <= n_samples``).

    Parameters
    ----------
    A : ndarray or scipy.sparse matrix of shape (n, d), optional
        Design matrix. A float64 ndarray or CSR matrix is kept by reference (never
        copied; do not modify it afterwards); other sparse formats are converted to CSR
        once.
    b : array_like of shape (n,), optional
        Targets; required with ``A``.
    n_samples, n_features : int
        Synthetic size (only without ``A``).
    cond : float
        Synthetic condition number of ``A``, at least 1.
    noise : float
        Standard deviation of the synthetic target noise.
    l2 : float
        Ridge penalty :math:`\lambda \ge 0`.
    seed : int
        Seed of the synthetic data.
    """

    data_names = ("A", "b")

    def __init__(
        self,
        A: Any = None,
        b: Any = None,
        n_samples: int = 1000,
        n_features: int = 20,
        cond: float = 10.0,
        noise: float = 0.1,
        l2: float = 0.0,
        seed: int = 0,
        data: str | None = None,
        label: str = "y",
        standardize: bool = False,
    ) -> None:
        self.params = self._validated_params(
            A=A, b=b, n_samples=n_samples, n_features=n_features, cond=cond, noise=noise, l2=l2,
            seed=seed, data=data, label=label, standardize=standardize,
        )  # fmt: skip
        self.l2 = self.params["l2"]
        if data is not None:
            A, b = loaded_source(data, label, standardize)
            b = np.asarray(b, dtype=float)
            self.f_star_disk_cache = True
        self._user_data = A is not None
        if self._user_data:
            self.A = as_design_matrix(A, "A")
            self.b = check_rows("b", b, self.A, "A").astype(np.float64, copy=False)
            if not np.isfinite(self.b).all():
                raise ValueError("b: contains NaN or infinite values")
            self.x_true = None
        else:
            self.A, self.b, self.x_true = least_squares_data(
                self.params["n_samples"],
                self.params["n_features"],
                self.params["cond"],
                self.params["noise"],
                self.params["seed"],
            )
        self.n_samples, self.dim = self.A.shape
        self.residual_scale = 0.5 / self.n_samples
        self.n_residuals = self.n_samples + (self.dim if self.l2 else 0)
        self.name = "least_squares"
        self.x0 = np.zeros(self.dim)

    @classmethod
    def _validated_params(
        cls,
        *,
        A: Any,
        b: Any,
        n_samples: Any,
        n_features: Any,
        cond: Any,
        noise: Any,
        l2: Any,
        seed: Any,
        data: Any = None,
        label: Any = "y",
        standardize: Any = False,
    ) -> dict[str, Any]:
        """The scalar parameters, checked (``A`` and ``b`` are checked when built; a
        ``data`` source is loaded and checked here)."""
        l2 = check_nonnegative("l2", l2)
        synthetic = {
            "n_samples": n_samples, "n_features": n_features, "cond": cond, "noise": noise,
            "seed": seed,
        }  # fmt: skip
        source = cls._source_params(data, label, standardize)
        if source is not None:
            cls._user_data_given(*cls._source_markers(A, b), **synthetic)
            return {**source, "l2": l2}
        if cls._user_data_given(A, b, **synthetic):
            return {"l2": l2}
        return {
            "n_samples": check_positive_int("n_samples", n_samples),
            "n_features": check_positive_int("n_features", n_features),
            "cond": check_number("cond", cond, ge=1),
            "noise": check_nonnegative("noise", noise),
            "l2": l2,
            "seed": check_seed(seed),
        }

    @classmethod
    def data_bytes(cls, params: dict[str, Any]) -> int:
        """As the data losses, plus the two orthonormal factors that make ``A``."""
        if "n_samples" not in params:
            return 0
        n, d = params["n_samples"], params["n_features"]
        return super().data_bytes(params) + 8 * (n + d) * min(n, d)

    # ----------------------------------------------------------------- oracle

    def value(self, x: np.ndarray) -> float:
        x = check_point(x, self.dim)
        residual = self.A @ x
        residual -= self.b
        return 0.5 * float(residual @ residual) / self.n_samples + 0.5 * self.l2 * float(x @ x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = check_point(x, self.dim)
        residual = self.A @ x
        residual -= self.b
        value = 0.5 * float(residual @ residual) / self.n_samples + 0.5 * self.l2 * float(x @ x)
        residual *= 1.0 / self.n_samples
        gradient = self.A.T @ residual
        if self.l2:
            gradient += self.l2 * x
        return value, gradient

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        check_point(x, self.dim)
        v = check_point(v, self.dim, "v")
        product = self.A @ v
        product *= 1.0 / self.n_samples
        out = self.A.T @ product
        if self.l2:
            out += self.l2 * v
        return out

    # ------------------------------------------------------------- minibatches

    def _linear_map(self, x: np.ndarray, rows: Any) -> np.ndarray:
        return np.asarray(rows @ x, dtype=np.float64)

    def _batch_loss(
        self, predictor: np.ndarray, selector: slice | np.ndarray
    ) -> tuple[float, np.ndarray]:
        r"""Loss sum :math:`\frac12\sum_i r_i^2` and :math:`\ell_i' = r_i = a_i^\top x - b_i`."""
        predictor -= self.b[selector]
        return 0.5 * float(predictor @ predictor), predictor

    def _batch_curvature(
        self, predictor: np.ndarray, selector: slice | np.ndarray, directional: np.ndarray
    ) -> np.ndarray:
        r""":math:`\ell_i'' = 1`: the directional predictors themselves."""
        return directional

    def _project_rows(self, rows: Any, derivatives: np.ndarray) -> np.ndarray:
        return np.asarray(rows.T @ derivatives, dtype=np.float64)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r""":math:`Ax - b`, then :math:`\sqrt{n\lambda}\,x` when ``l2 > 0``."""
        x = check_point(x, self.dim)
        residual = self.A @ x
        residual -= self.b
        if not self.l2:
            return residual
        return np.concatenate([residual, np.sqrt(self.n_samples * self.l2) * x])

    def jacobian(self, x: np.ndarray) -> Any:
        r"""``A`` (the design matrix itself: do not modify it), or :math:`[A; \sqrt{n\lambda} I]`.

        The stacked matrix is dense for dense ``A`` and CSR for sparse ``A``.
        """
        check_point(x, self.dim)
        if not self.l2:
            return self.A
        damping = np.sqrt(self.n_samples * self.l2)
        if isinstance(self.A, np.ndarray):
            return np.vstack([self.A, damping * np.eye(self.dim)])
        import scipy.sparse

        identity = scipy.sparse.identity(self.dim, format="csr") * damping
        return scipy.sparse.vstack([self.A, identity], format="csr")

    def hess(self, x: np.ndarray) -> np.ndarray:
        r"""Dense :math:`A^\top A/n + \lambda I`, formed directly (one Gram product)."""
        check_point(x, self.dim)
        self._check_hess_size()
        H = gram(self.A)
        H *= 1.0 / self.n_samples
        H[np.diag_indices_from(H)] += self.l2
        return H

    def smoothness(self) -> Smoothness:
        r"""Exact :math:`L` and :math:`\mu` from the ends of the spectrum of :math:`A^\top A`.

        :math:`L_{\max} = \max_i \|a_i\|^2 + \lambda` (the sample terms
        :math:`\frac12(a_i^\top x - b_i)^2 + \frac\lambda2\|x\|^2`).

        Computed once and cached (a pure function of the data). Dense ``A`` with at most
        :data:`SVD_MAX_ENTRIES` entries: singular values (exact; LAPACK works on one
        temporary copy of ``A``). Otherwise the ends of the spectrum of :math:`A^\top A`:
        dense eigenvalues up to 2000 columns (the smallest to absolute accuracy
        :math:`\epsilon L`), else Lanczos; see
        :func:`optbench.problems.linalg.gram_extreme_eigenvalues`.
        """
        if self._smoothness is None:
            if isinstance(self.A, np.ndarray) and self.A.size <= SVD_MAX_ENTRIES:
                import scipy.linalg

                singular_values = scipy.linalg.svdvals(self.A)
                lambda_max = float(singular_values[0]) ** 2
                lambda_min = float(singular_values[-1]) ** 2 if self.n_samples >= self.dim else 0.0
            else:
                lambda_max, lambda_min = gram_extreme_eigenvalues(self.A)
            self._smoothness = Smoothness(
                L=lambda_max / self.n_samples + self.l2,
                mu=lambda_min / self.n_samples + self.l2,
                L_max=float(row_norms_squared(self.A).max()) + self.l2,
            )
        return self._smoothness

    # ----------------------------------------------------------------- certification

    def _normal_equations_solution(self) -> np.ndarray | None:
        """Cholesky solve of the normal equations with two refinement steps, or None.

        None when the Gram matrix is numerically singular or the refined gradient is not
        at rounding level (then the caller uses the minimum-norm lstsq solution).
        """
        import scipy.linalg

        H = gram(self.A)
        H *= 1.0 / self.n_samples
        H[np.diag_indices_from(H)] += self.l2
        try:
            factor = scipy.linalg.cho_factor(H, lower=True)
        except scipy.linalg.LinAlgError:
            return None
        x = np.zeros(self.dim)
        gradient = self.grad(x)
        scale = norm2(gradient) + 1e-300
        for _ in range(3):  # one solve, then two refinements with the true gradient
            x -= scipy.linalg.cho_solve(factor, gradient)
            gradient = self.grad(x)
        if not norm2(gradient) <= 1e-14 * scale:
            return None
        return x

    def _lstsq_solution(self) -> np.ndarray:
        r"""Minimum-norm solution by ``scipy.linalg.lstsq`` (SVD); copies ``A`` once.

        With ``l2 > 0`` it solves the stacked problem
        :math:`\min \|[A; \sqrt{n\lambda} I]\,x - [b; 0]\|`.
        """
        import scipy.linalg

        dense_A = self.A.toarray() if is_sparse(self.A) else self.A
        target = self.b
        if self.l2:
            damping = np.sqrt(self.n_samples * self.l2) * np.eye(self.dim)
            dense_A = np.vstack([dense_A, damping])
            target = np.concatenate([self.b, np.zeros(self.dim)])
        return scipy.linalg.lstsq(dense_A, target, lapack_driver="gelsd")[0]

    def own_certificate(self) -> Certificate:
        r"""Exact optimum: normal equations by Cholesky, or LSQR to machine precision.

        Up to :data:`NORMAL_EQUATIONS_MAX_DIM` columns, solve
        :math:`(A^\top A/n + \lambda I)\,x = A^\top b/n` by Cholesky and refine twice with
        the true gradient (iterative refinement); if the matrix is singular
        (:math:`\lambda = 0`, rank-deficient :math:`A`) or refinement stalls, take the
        minimum-norm least-squares solution from ``scipy.linalg.lstsq``. Above that, run
        LSQR with damping :math:`\sqrt{n\lambda}` and tolerances at machine precision.
        """
        if self.dim <= NORMAL_EQUATIONS_MAX_DIM:
            x, method = self._normal_equations_solution(), "cholesky"
            if x is None:
                x, method = self._lstsq_solution(), "lstsq"
            iterations = 0
        else:
            import scipy.sparse.linalg

            result = scipy.sparse.linalg.lsqr(
                self.A,
                self.b,
                damp=np.sqrt(self.n_samples * self.l2),
                atol=1e-16,
                btol=1e-16,
                conlim=0,
                iter_lim=20 * self.dim,
            )
            x, iterations = result[0], int(result[2])
            method = "lsqr"
        value, gradient = self.value_and_grad(x)
        return Certificate(float(value), x, norm2(gradient), method, iterations)
