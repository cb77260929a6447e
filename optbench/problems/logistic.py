r"""L2-regularized binary logistic regression.

With labels :math:`y_i \in \{-1, +1\}`, margins :math:`m_i = y_i (x_i^\top w + c)`
(:math:`c` the optional intercept, 0 without ``fit_intercept``) and
:math:`\sigma(t) = 1/(1+e^{-t})`,

.. math::
    f(w, c) &= \frac1n \sum_{i=1}^n \log\bigl(1 + e^{-m_i}\bigr) + \frac{\lambda}{2}\|w\|^2, \\
    \nabla_w f &= X^\top r + \lambda w, \quad \partial_c f = \textstyle\sum_i r_i, \qquad
    r_i = -\frac{y_i}{n}\,\sigma(-m_i), \\
    \nabla^2 f\, v &= \tilde X^\top \bigl(D\, \tilde X v\bigr) + \lambda v_w, \qquad
    D = \operatorname{diag}\bigl(\sigma(m_i)\,\sigma(-m_i)/n\bigr),

where :math:`\tilde X = [X, \mathbf 1]` with an intercept (the intercept is not
regularized and :math:`\tilde X` is never formed: the ones column is handled apart).

Numerics: with :math:`z = Xw + c` (so :math:`m_i = y_i z_i` and :math:`|m_i| = |z_i|`),
:math:`e_i = e^{-|m_i|} \in (0, 1]` and :math:`s_i = [m_i < 0]`,
:math:`\log(1+e^{-m_i}) = s_i |m_i| + \log(1+e_i)` (the formula of
``np.logaddexp(0, -m)``, evaluated with ``np.exp`` and ``np.log1p`` because those share
:math:`e_i` with the sigmoid and are vectorized: ``np.logaddexp`` is about 30 times
slower than ``np.exp`` on numpy 2.4), :math:`\sigma(-m_i) = \max(e_i, s_i)/(1+e_i)`
(:math:`1/(1+e_i)` for :math:`m_i<0`, :math:`e_i/(1+e_i)` otherwise) and
:math:`\sigma(m_i)\sigma(-m_i) = e_i/(1+e_i)^2`. No exponential of a positive number is
taken and nothing is subtracted, so value, gradient and HVP are finite and accurate to
rounding (relative) for any finite margins.

Speed: ``value_and_grad`` is one ``X @ w``, one ``X.T @ r`` (for CSR, scipy computes it
as a CSC matvec on the same arrays) and about a dozen passes over length-``n`` arrays,
written into per-thread scratch buffers that are reused from call to call (fresh
temporaries cost their page faults: at n = 1e6, about 2 ms a call for four of them, a
fifth of a 1e7-non-zero CSR matvec).
:meth:`Logistic.hvp` reuses :math:`e` and :math:`1+e` of the last ``value_and_grad`` at
the same point (a :class:`~optbench.problems.linear_model.PointMemo`), so it is one
``X @ v`` and one ``X.T @ q``. The buffers and the memo are per thread
(:class:`~optbench.problems.linear_model.ThreadScratch`): threads sharing one instance
never see each other's scratch arrays. :meth:`Logistic.hess` is
:math:`\tilde X^\top D \tilde X` by :func:`~optbench.problems.linalg.weighted_gram`
(for CSR data one sparse-sparse product; ``X`` is never densified).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.problems.base import Smoothness
from optbench.problems.data import logistic_data
from optbench.problems.linalg import gram_extreme_eigenvalues, row_norms_squared, weighted_gram
from optbench.problems.linear_model import LinearModelLoss, ThreadScratch, loaded_source
from optbench.problems.validation import (
    as_design_matrix,
    check_nonnegative,
    check_point,
    check_positive_int,
    check_rows,
    check_seed,
)
from optbench.registry import PROBLEMS
from optbench.scalars import is_number


def binary_labels(y: Any, X: Any) -> np.ndarray:
    """Labels as a float64 array of -1.0 / +1.0; accepts {-1, +1} or {0, 1}.

    Raises
    ------
    ValueError
        Wrong length, or values outside both label sets.
    """
    y = check_rows("y", y, X)
    values = np.unique(y)
    if np.isin(values, (-1, 1)).all():
        return y.astype(np.float64)
    if np.isin(values, (0, 1)).all():
        return np.where(y == 1, 1.0, -1.0)
    shown = ", ".join(str(v) for v in values[:5])
    raise ValueError(f"y: logistic labels must be in {{-1, +1}} or {{0, 1}}, got values {shown}")


@PROBLEMS.register("logistic")
class Logistic(LinearModelLoss):
    r"""Binary logistic regression, mean log-loss plus :math:`(l_2/2)\|w\|^2`.

    ``x`` is ``w`` (length ``n_features``), followed by the intercept when
    ``fit_intercept``. Give user data ``X`` and ``y``, or leave them None for synthetic
    data (:func:`optbench.problems.data.logistic_data`).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n, d), optional
        Features. A float64 ndarray or CSR matrix is kept by reference (never copied; do
        not modify it afterwards); other sparse formats are converted to CSR once.
    y : array_like of shape (n,), optional
        Labels in {-1, +1} or {0, 1}; required with ``X``.
    n_samples, n_features : int
        Synthetic size (only without ``X``).
    rho : float
        AR(1) correlation of synthetic dense features, in (-1, 1).
    density : float or None
        Fraction of non-zeros of synthetic CSR features, in (0, 1]; None for dense
        features. Sparse features are uncorrelated (``rho`` must be 0).
    nnz : int or None
        Exact number of non-zeros of synthetic CSR features, built straight into the CSR
        arrays (:func:`~optbench.problems.data.sparse_features_exact`: for large data);
        an alternative to ``density`` (give at most one of them).
    l2 : float
        Ridge penalty :math:`\lambda \ge 0` on ``w`` (never on the intercept).
    fit_intercept : bool
        Append an unregularized intercept as the last coordinate of ``x``.
    seed : int
        Seed of the synthetic data.
    """

    _transient = ("_XT", "_scratch")

    def __init__(
        self,
        X: Any = None,
        y: Any = None,
        n_samples: int = 1000,
        n_features: int = 20,
        rho: float = 0.0,
        density: float | None = None,
        nnz: int | None = None,
        l2: float = 1e-3,
        fit_intercept: bool = False,
        seed: int = 0,
        data: str | None = None,
        label: str = "y",
        standardize: bool = False,
    ) -> None:
        self.params = self._validated_params(
            X=X, y=y, n_samples=n_samples, n_features=n_features, rho=rho, density=density,
            nnz=nnz, l2=l2, fit_intercept=fit_intercept, seed=seed, data=data, label=label,
            standardize=standardize,
        )  # fmt: skip
        self.l2, self.fit_intercept = self.params["l2"], self.params["fit_intercept"]
        if data is not None:
            X, y = loaded_source(data, label, standardize)
            self.f_star_disk_cache = True
        self._user_data = X is not None
        if self._user_data:
            self.X = as_design_matrix(X, "X")
            labels = binary_labels(y, self.X)
            self.w_true = None
        else:
            self.X, labels, self.w_true = logistic_data(
                self.params["n_samples"],
                self.params["n_features"],
                self.params["rho"],
                self.params["density"],
                self.params["seed"],
                self.params.get("nnz"),
            )
        self.y = labels
        self.n_samples, self.n_features = self.X.shape
        self._residual_scale = labels * (-1.0 / self.n_samples)
        self._label_negative = np.signbit(labels)  # y_i < 0, to get [m < 0] from z
        self.dim = self.n_features + int(self.fit_intercept)
        self.name = "logistic"
        self.x0 = np.zeros(self.dim)
        self._build_transient()

    def _build_transient(self) -> None:
        self._XT = self.X.T  # a transposed view (CSC for CSR): no copy
        self._scratch = ThreadScratch()

    @classmethod
    def _validated_params(
        cls,
        *,
        X: Any,
        y: Any,
        n_samples: Any,
        n_features: Any,
        rho: Any,
        density: Any,
        nnz: Any,
        l2: Any,
        fit_intercept: Any,
        seed: Any,
        data: Any = None,
        label: Any = "y",
        standardize: Any = False,
    ) -> dict[str, Any]:
        """The scalar parameters, checked (``X`` and ``y`` are checked when built; a
        ``data`` source is loaded and checked here)."""
        l2 = check_nonnegative("l2", l2)
        if not isinstance(fit_intercept, (bool, np.bool_)):
            raise ValueError(f"fit_intercept: must be True or False, got {fit_intercept!r}")
        synthetic = {
            "n_samples": n_samples, "n_features": n_features, "rho": rho, "density": density,
            "nnz": nnz, "seed": seed,
        }  # fmt: skip
        source = cls._source_params(data, label, standardize)
        if source is not None:
            cls._user_data_given(*cls._source_markers(X, y), **synthetic)
            params = source
        elif cls._user_data_given(X, y, **synthetic):
            params = {}
        else:
            params = cls._synthetic(**synthetic)
        return {**params, "l2": l2, "fit_intercept": bool(fit_intercept)}

    @staticmethod
    def _synthetic(
        n_samples: Any, n_features: Any, rho: Any, density: Any, nnz: Any, seed: Any
    ) -> dict[str, Any]:
        n_samples = check_positive_int("n_samples", n_samples)
        n_features = check_positive_int("n_features", n_features)
        if not is_number(rho):
            raise ValueError(f"rho: must be a number in (-1, 1), got {rho!r}")
        if not -1 < rho < 1:
            raise ValueError(f"rho: must be in (-1, 1), got {rho!r}")
        if density is not None:
            if not is_number(density):
                raise ValueError(f"density: must be a number in (0, 1] or None, got {density!r}")
            if not 0 < density <= 1:
                raise ValueError(f"density: must be in (0, 1] or None, got {density!r}")
            if rho != 0:
                raise ValueError(
                    f"rho: sparse features (density={density}) are uncorrelated; "
                    f"rho must be 0, got {rho!r}"
                )
            density = float(density)
        params = {
            "n_samples": n_samples,
            "n_features": n_features,
            "rho": float(rho),
            "density": density,
            "seed": check_seed(seed),
        }
        if nnz is not None:  # only when given, so the params of other instances are unchanged
            nnz = check_positive_int("nnz", nnz)
            if density is not None:
                raise ValueError(f"nnz: give nnz or density, not both (density={density})")
            if rho != 0:
                raise ValueError(f"rho: sparse features (nnz={nnz}) are uncorrelated; got {rho!r}")
            if nnz > n_samples * n_features:
                raise ValueError(
                    f"nnz: must be at most n_samples * n_features = {n_samples * n_features}, "
                    f"got {nnz}"
                )
            params["nnz"] = nnz
        return params

    # ----------------------------------------------------------------- kernels

    def _split(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """``(w, intercept)`` views of ``x`` (intercept 0.0 without ``fit_intercept``)."""
        if self.fit_intercept:
            return x[: self.n_features], float(x[-1])
        return x, 0.0

    def _linear_predictor(self, x: np.ndarray) -> np.ndarray:
        r""":math:`z = Xw + c`, a fresh array."""
        weights, intercept = self._split(x)
        predictor = self.X @ weights
        if intercept:
            predictor += intercept
        return predictor

    def _margins(self, x: np.ndarray) -> np.ndarray:
        r""":math:`m = y \odot (Xw + c)`, a fresh array."""
        margins = self._linear_predictor(x)
        margins *= self.y
        return margins

    def _back_project(self, r: np.ndarray, v_weights: np.ndarray) -> np.ndarray:
        r""":math:`[X^\top r + \lambda v_w;\ \sum_i r_i]` (the last entry with intercept)."""
        product = self._XT @ r
        if self.l2:
            product += self.l2 * v_weights
        if not self.fit_intercept:
            return product
        out = np.empty(self.dim)
        out[: self.n_features] = product
        out[-1] = r.sum()
        return out

    def _loss_terms(
        self,
        predictor: np.ndarray,
        exp_neg_abs: np.ndarray,
        negative: np.ndarray,
        scratch: np.ndarray,
        label_negative: np.ndarray | None = None,
    ) -> float:
        r"""Fill :math:`e = e^{-|z|}` and :math:`s = [m < 0]`; return :math:`\sum_i s_i|m_i|`.

        ``exp_neg_abs``, ``negative`` (bool) and ``scratch`` are written; ``scratch`` may
        be ``predictor``, which is not read after :math:`|z|` is taken. ``label_negative``
        is :math:`[y_i < 0]` of the samples of ``predictor`` (default: all samples). The hinge part
        :math:`\sum_i s_i |m_i|` of the loss is summed exactly as ``(|z| * s).sum()``
        (no cancellation; numpy's pairwise sum).
        """
        np.signbit(predictor, out=negative)
        negative ^= self._label_negative if label_negative is None else label_negative
        np.abs(predictor, out=exp_neg_abs)
        hinge_sum = float(np.multiply(exp_neg_abs, negative, out=scratch).sum())
        np.negative(exp_neg_abs, out=exp_neg_abs)
        np.exp(exp_neg_abs, out=exp_neg_abs)
        return hinge_sum

    def value(self, x: np.ndarray) -> float:
        x = check_point(x, self.dim)
        predictor = self._linear_predictor(x)
        negative = np.empty(self.n_samples, dtype=bool)
        exp_neg_abs = np.empty(self.n_samples)
        hinge_sum = self._loss_terms(predictor, exp_neg_abs, negative, predictor)
        log_sum = float(np.log1p(exp_neg_abs, out=exp_neg_abs).sum())
        return (hinge_sum + log_sum) / self.n_samples + self._penalty(self._split(x)[0])

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = check_point(x, self.dim)
        scratch = self._scratch
        scratch.memo.clear()  # the buffers it points to are about to be overwritten
        predictor = self._linear_predictor(x)
        exp_neg_abs = scratch.array("exp_neg_abs", self.n_samples)
        negative = scratch.array("negative", self.n_samples, bool)
        residual = scratch.array("residual", self.n_samples)
        hinge_sum = self._loss_terms(predictor, exp_neg_abs, negative, residual)
        one_plus_exp = np.add(exp_neg_abs, 1.0, out=predictor)  # z is not needed any more
        log_sum = float(np.log1p(exp_neg_abs, out=residual).sum())
        np.maximum(exp_neg_abs, negative, out=residual)  # 1 where m < 0, else e
        residual /= one_plus_exp  # sigma(-m)
        residual *= self._residual_scale  # r = -y sigma(-m) / n
        scratch.memo.put(x, [exp_neg_abs, one_plus_exp, None])
        weights = self._split(x)[0]
        value = (hinge_sum + log_sum) / self.n_samples + self._penalty(weights)
        return value, self._back_project(residual, weights)

    def _curvature_weights(self, x: np.ndarray) -> np.ndarray:
        r""":math:`\sigma(m_i)\sigma(-m_i)/n = e_i/(1+e_i)^2/n`, from the memo at ``x``."""
        scratch = self._scratch
        entry = scratch.memo.get(x)
        if entry is None:
            scratch.memo.clear()
            predictor = self._linear_predictor(x)
            exp_neg_abs = scratch.array("exp_neg_abs", self.n_samples)
            negative = scratch.array("negative", self.n_samples, bool)
            self._loss_terms(predictor, exp_neg_abs, negative, predictor)
            entry = [exp_neg_abs, np.add(exp_neg_abs, 1.0, out=predictor), None]
            scratch.memo.put(x, entry)
        if entry[2] is None:
            exp_neg_abs, one_plus_exp = entry[0], entry[1]
            curvature = np.divide(
                exp_neg_abs, one_plus_exp, out=scratch.array("curvature", self.n_samples)
            )
            curvature /= one_plus_exp
            curvature *= 1.0 / self.n_samples
            entry[2] = curvature
        return entry[2]

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        x = check_point(x, self.dim)
        v = check_point(v, self.dim, "v")
        curvature = self._curvature_weights(x)
        v_weights, v_intercept = self._split(v)
        product = self.X @ v_weights
        if v_intercept:
            product += v_intercept
        product *= curvature
        return self._back_project(product, v_weights)

    # ------------------------------------------------------------- minibatches

    def ridge_value(self, x: np.ndarray) -> float:
        return self._penalty(self._split(x)[0])

    def ridge_grad(self, x: np.ndarray) -> np.ndarray:
        out = self.l2 * check_point(x, self.dim)
        if self.fit_intercept:
            out[-1] = 0.0
        return out

    def _linear_map(self, x: np.ndarray, rows: Any) -> np.ndarray:
        weights, intercept = self._split(x)
        predictor = np.asarray(rows @ weights, dtype=np.float64)
        if intercept:
            predictor += intercept
        return predictor

    def _batch_exponentials(
        self, predictor: np.ndarray, selector: slice | np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        r"""``(hinge sum, e, s)`` of the rows: :math:`e = e^{-|z|}`, :math:`s = [m < 0]`
        (``predictor`` is overwritten)."""
        exp_neg_abs = np.empty(predictor.shape[0])
        negative = np.empty(predictor.shape[0], dtype=bool)
        hinge_sum = self._loss_terms(
            predictor, exp_neg_abs, negative, predictor, self._label_negative[selector]
        )
        return hinge_sum, exp_neg_abs, negative

    def _batch_loss(
        self, predictor: np.ndarray, selector: slice | np.ndarray
    ) -> tuple[float, np.ndarray]:
        r"""Loss sum and :math:`\ell_i' = -y_i\,\sigma(-m_i)` (the formulas of the module)."""
        hinge_sum, exp_neg_abs, negative = self._batch_exponentials(predictor, selector)
        one_plus_exp = exp_neg_abs + 1.0
        derivatives = np.maximum(exp_neg_abs, negative)
        derivatives /= one_plus_exp
        derivatives *= -self.y[selector]
        return hinge_sum + float(np.log1p(exp_neg_abs).sum()), derivatives

    def _batch_curvature(
        self, predictor: np.ndarray, selector: slice | np.ndarray, directional: np.ndarray
    ) -> np.ndarray:
        r""":math:`\sigma(m_i)\sigma(-m_i)\,u_i = e_i/(1+e_i)^2\,u_i`."""
        _, exp_neg_abs, _ = self._batch_exponentials(predictor, selector)
        one_plus_exp = exp_neg_abs + 1.0
        directional = directional * exp_neg_abs
        directional /= one_plus_exp
        directional /= one_plus_exp
        return directional

    def _project_rows(self, rows: Any, derivatives: np.ndarray) -> np.ndarray:
        product = np.asarray(rows.T @ derivatives, dtype=np.float64)
        if not self.fit_intercept:
            return product
        return np.append(product, derivatives.sum())

    def hess(self, x: np.ndarray) -> np.ndarray:
        r"""Dense :math:`\tilde X^\top D \tilde X + \lambda I_w`.

        Refuses above ``hess_max_dim``. Dense ``X``: assembled by row blocks (temporary
        memory one block, about 16 MB). CSR ``X``: one sparse-sparse product
        :math:`(D^{1/2}X)^\top (D^{1/2}X)`, never a dense copy of ``X``; see
        :func:`~optbench.problems.linalg.weighted_gram`.
        """
        x = check_point(x, self.dim)
        self._check_hess_size()
        curvature = self._curvature_weights(x)
        H = weighted_gram(self.X, curvature, with_ones_column=self.fit_intercept)
        d = self.n_features
        H[np.arange(d), np.arange(d)] += self.l2
        return H

    def smoothness(self) -> Smoothness:
        r"""Bounds :math:`L = \lambda_{\max}(\tilde X^\top \tilde X)/(4n) + \lambda`, :math:`\mu`.

        :math:`\sigma(m)\sigma(-m) \le 1/4` gives :math:`L` and
        :math:`L_{\max} = \max_i \|\tilde x_i\|^2/4 + \lambda`; :math:`\mu = \lambda` is the
        ridge curvature (0 with ``fit_intercept``, whose direction is unregularized).
        Computed once and cached (a pure function of the data); see
        :func:`optbench.problems.linalg.gram_extreme_eigenvalues`.
        """
        if self._smoothness is None:
            lambda_max, _ = gram_extreme_eigenvalues(
                self.X, with_ones_column=self.fit_intercept, want_min=False
            )
            mu = 0.0 if self.fit_intercept else self.l2
            largest_row = float(row_norms_squared(self.X).max()) + self.fit_intercept
            self._smoothness = Smoothness(
                L=lambda_max / (4 * self.n_samples) + self.l2,
                mu=mu,
                L_max=largest_row / 4 + self.l2,
            )
        return self._smoothness
