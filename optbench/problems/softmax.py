r"""L2-regularized multinomial logistic (softmax) regression.

With weights :math:`W \in \mathbb{R}^{d\times K}` (``x`` is ``W`` flattened row-major,
``W = x.reshape(d, K)``), logits :math:`Z = XW`, probabilities
:math:`P_{ik} = e^{Z_{ik}} / \sum_j e^{Z_{ij}}` and one-hot labels :math:`Y`,

.. math::
    f(W) &= \frac1n \sum_{i=1}^n \Bigl(\log \sum_k e^{Z_{ik}} - Z_{i y_i}\Bigr)
            + \frac{\lambda}{2}\|W\|_F^2, \\
    \nabla f &= \tfrac1n X^\top (P - Y) + \lambda W, \\
    \nabla^2 f[V] &= \tfrac1n X^\top \bigl(P \odot (U - (P \odot U)\mathbf 1 \mathbf 1^\top)\bigr)
                    + \lambda V, \qquad U = XV,

i.e. :math:`\nabla^2 f = \frac1n\sum_i x_i x_i^\top \otimes (\operatorname{diag}(p_i) -
p_i p_i^\top) + \lambda I` in the row-major flattening. The log-sum-exp is shifted by
the row maximum, so no exponential of a positive number is taken and everything is
finite for any finite logits.

Speed: ``value_and_grad`` is one ``X @ W`` and one ``X.T @ R``; :meth:`Softmax.hvp`
reuses the probabilities :math:`P` of the last ``value_and_grad`` at the same point (a
:class:`~optbench.problems.linear_model.PointMemo`), so it is one ``X @ V`` and one
``X.T @ R``. :meth:`Softmax.hess` of CSR data uses sparse-sparse products and never
densifies ``X``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from optbench.problems.base import Smoothness
from optbench.problems.data import softmax_data
from optbench.problems.linalg import (
    gram_extreme_eigenvalues,
    row_blocks,
    row_norms_squared,
    weighted_gram,
)
from optbench.problems.linear_model import LinearModelLoss, PointMemo, loaded_source
from optbench.problems.validation import (
    as_design_matrix,
    check_nonnegative,
    check_point,
    check_positive_int,
    check_rows,
    check_seed,
)
from optbench.registry import PROBLEMS
from optbench.scalars import check_integer

if TYPE_CHECKING:
    from optbench.problems.validation import SparseMatrix

#: Number of classes of synthetic data when ``n_classes`` is None.
DEFAULT_SYNTHETIC_CLASSES = 5


def class_labels(y: Any, X: Any, n_classes: int | None) -> tuple[np.ndarray, int]:
    """Labels as an integer array in ``0..K-1`` and the number of classes ``K``.

    ``K`` is ``n_classes`` when given, else ``max(y) + 1``.

    Raises
    ------
    ValueError
        Wrong length, non-integer or negative labels, labels ``>= n_classes``, or fewer
        than two classes.
    """
    y = check_rows("y", y, X)
    if y.dtype == bool or not (
        np.issubdtype(y.dtype, np.integer)
        or (np.issubdtype(y.dtype, np.floating) and np.array_equal(y, np.round(y)))
    ):
        raise ValueError(f"y: softmax labels must be integers 0..K-1, got dtype {y.dtype}")
    labels = y.astype(np.intp)
    smallest, largest = int(labels.min()), int(labels.max())
    if smallest < 0:
        raise ValueError(f"y: softmax labels must be integers 0..K-1, got {smallest}")
    if n_classes is None:
        n_classes = largest + 1
    elif largest >= n_classes:
        raise ValueError(
            f"y: softmax labels must be in 0..{n_classes - 1} (n_classes={n_classes}), "
            f"got {largest}"
        )
    if n_classes < 2:
        raise ValueError(f"y: softmax needs at least 2 classes, got {n_classes}")
    return labels, n_classes


@PROBLEMS.register("softmax")
class Softmax(LinearModelLoss):
    r"""Multinomial cross-entropy over ``K`` classes plus :math:`(l_2/2)\|W\|_F^2`.

    Give user data ``X`` and ``y``, or leave them None for synthetic data
    (:func:`optbench.problems.data.softmax_data`).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n, d), optional
        Features. A float64 ndarray or CSR matrix is kept by reference (never copied; do
        not modify it afterwards); other sparse formats are converted to CSR once.
    y : array_like of int, shape (n,), optional
        Labels in ``0..K-1``; required with ``X``.
    n_samples, n_features : int
        Synthetic size (only without ``X``).
    n_classes : int or None
        ``K``. None means 5 for synthetic data and ``max(y) + 1`` for user data.
    l2 : float
        Ridge penalty :math:`\lambda \ge 0`.
    seed : int
        Seed of the synthetic data.
    """

    _transient = ("_XT", "_memo")

    def __init__(
        self,
        X: Any = None,
        y: Any = None,
        n_samples: int = 1000,
        n_features: int = 20,
        n_classes: int | None = None,
        l2: float = 1e-3,
        seed: int = 0,
        data: str | None = None,
        label: str = "y",
        standardize: bool = False,
    ) -> None:
        self.params = self._validated_params(
            X=X, y=y, n_samples=n_samples, n_features=n_features, n_classes=n_classes, l2=l2,
            seed=seed, data=data, label=label, standardize=standardize,
        )  # fmt: skip
        self.l2 = self.params["l2"]
        if data is not None:
            X, y = loaded_source(data, label, standardize)
            self.f_star_disk_cache = True
        self._user_data = X is not None
        if self._user_data:
            self.X = as_design_matrix(X, "X")
            labels, n_classes = class_labels(y, self.X, self.params["n_classes"])
            self.params["n_classes"] = n_classes
            self.W_true = None
        else:
            n_classes = self.params["n_classes"]
            self.X, labels, self.W_true = softmax_data(
                self.params["n_samples"],
                self.params["n_features"],
                self.params["n_classes"],
                self.params["seed"],
            )
        self.y = labels
        self.n_samples, self.n_features = self.X.shape
        self.n_classes = n_classes
        # Flat positions of (y_i, i) in class-major (K × n) arrays.
        self._label_positions = labels * self.n_samples + np.arange(self.n_samples)
        self._sparse = not isinstance(self.X, np.ndarray)  # CSR (as_design_matrix)
        self.dim = self.n_features * n_classes
        self.name = "softmax"
        self.x0 = np.zeros(self.dim)
        self._build_transient()

    @classmethod
    def _validated_params(
        cls,
        *,
        X: Any,
        y: Any,
        n_samples: Any,
        n_features: Any,
        n_classes: Any,
        l2: Any,
        seed: Any,
        data: Any = None,
        label: Any = "y",
        standardize: Any = False,
    ) -> dict[str, Any]:
        """The scalar parameters, checked (``X`` and ``y`` are checked when built; a
        ``data`` source is loaded and checked here)."""
        l2 = check_nonnegative("l2", l2)
        if n_classes is not None:
            n_classes = check_integer("n_classes", n_classes, ge=2)
        synthetic = {"n_samples": n_samples, "n_features": n_features, "seed": seed}
        source = cls._source_params(data, label, standardize)
        if source is not None:
            cls._user_data_given(*cls._source_markers(X, y), **synthetic)
            return {**source, "n_classes": n_classes, "l2": l2}
        if cls._user_data_given(X, y, **synthetic):
            return {"n_classes": n_classes, "l2": l2}
        return {
            "n_samples": check_positive_int("n_samples", n_samples),
            "n_features": check_positive_int("n_features", n_features),
            "n_classes": DEFAULT_SYNTHETIC_CLASSES if n_classes is None else n_classes,
            "seed": check_seed(seed),
            "l2": l2,
        }

    @classmethod
    def data_bytes(cls, params: dict[str, Any]) -> int:
        """As the data losses, plus the per-sample class scores (``n_samples x K``)."""
        if "n_samples" not in params:
            return 0
        return super().data_bytes(params) + 3 * 8 * params["n_samples"] * params["n_classes"]

    def _build_transient(self) -> None:
        self._XT = self.X.T  # a transposed view (CSC for CSR): no copy
        self._memo = PointMemo()

    # ----------------------------------------------------------------- kernels

    def _matrix(self, x: np.ndarray, name: str = "x") -> np.ndarray:
        """``x`` checked and viewed as the ``d × K`` weight matrix."""
        return check_point(x, self.dim, name).reshape(self.n_features, self.n_classes)

    def _class_major_product(self, W: np.ndarray) -> np.ndarray:
        r""":math:`(XW)^\top`, a fresh C-contiguous ``K × n`` array.

        Class-major layout keeps the per-sample reductions over the ``K`` classes on
        long contiguous rows (numpy reduces a short last axis slowly). Dense ``X``: one
        GEMM :math:`W^\top X^\top` writes it directly; CSR ``X``: ``X @ W`` then a
        transposed copy of the ``n × K`` result.
        """
        if self._sparse:
            return np.ascontiguousarray((self.X @ W).T)
        return W.T @ self._XT

    def _back_project(self, class_major: np.ndarray, V: np.ndarray) -> np.ndarray:
        r""":math:`X^\top R / n + \lambda V` flattened row-major, for ``R`` given as ``R^T``."""
        # Dense: one GEMM; CSR: a CSC multi-vector product on X's own arrays.
        out = (self._XT @ class_major.T).reshape(-1)  # (d, K), C-contiguous
        out *= 1.0 / self.n_samples
        if self.l2:
            out += self.l2 * V.reshape(-1)
        return out

    def _probabilities(
        self, logits: np.ndarray, label_positions: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        r"""Turn class-major ``logits`` (overwritten) into :math:`P^\top`; return the loss sum.

        :math:`\sum_i \log\sum_k e^{Z_{ik}} - Z_{iy_i}`, with the log-sum-exp shifted by
        the sample maximum :math:`s_i`: :math:`s_i + \log\sum_k e^{Z_{ik} - s_i}`.
        ``label_positions`` are the flat positions of the labels' logits in ``logits``
        (default: those of all samples).
        """
        if label_positions is None:
            label_positions = self._label_positions
        shift = logits.max(axis=0)
        label_logits_sum = float(logits.reshape(-1)[label_positions].sum())
        logits -= shift
        np.exp(logits, out=logits)
        normalizer = logits.sum(axis=0)
        loss_sum = float(np.log(normalizer).sum()) + float(shift.sum()) - label_logits_sum
        np.reciprocal(normalizer, out=normalizer)
        logits *= normalizer
        return logits, loss_sum

    def value(self, x: np.ndarray) -> float:
        W = self._matrix(x)
        _, loss_sum = self._probabilities(self._class_major_product(W))
        return loss_sum / self.n_samples + self._penalty(x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        W = self._matrix(x)
        probabilities, loss_sum = self._probabilities(self._class_major_product(W))
        self._memo.put(x, probabilities)
        residual = probabilities.copy()  # (P - Y)^T, keeping P for the HVP
        residual.reshape(-1)[self._label_positions] -= 1.0
        value = loss_sum / self.n_samples + self._penalty(x)
        return value, self._back_project(residual, W)

    def _probabilities_at(self, x: np.ndarray) -> np.ndarray:
        r""":math:`P^\top` (``K × n``) at ``x``, from the memo when it was computed at ``x``."""
        probabilities = self._memo.get(x)
        if probabilities is None:
            probabilities, _ = self._probabilities(self._class_major_product(self._matrix(x)))
            self._memo.put(x, probabilities)
        return probabilities

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        x = check_point(x, self.dim)
        V = self._matrix(v, "v")
        probabilities = self._probabilities_at(x)
        directional = self._class_major_product(V)  # U^T, U = X V
        return self._back_project(_apply_curvature(probabilities, directional), V)

    # ------------------------------------------------------------- minibatches

    def _derivative_shape(self) -> tuple[int, ...]:
        return (self.n_classes,)

    def _linear_map(self, x: np.ndarray, rows: Any) -> np.ndarray:
        """The logits :math:`X_B W`, shape ``(b, K)``."""
        return np.asarray(rows @ self._matrix(x), dtype=np.float64)

    def _batch_probabilities(
        self, predictor: np.ndarray, selector: slice | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        r"""Class-major :math:`P_B^\top`, the labels' flat positions in it, the loss sum."""
        count = predictor.shape[0]
        label_positions = self.y[selector] * count + np.arange(count)
        probabilities, loss_sum = self._probabilities(
            np.ascontiguousarray(predictor.T), label_positions
        )
        return probabilities, label_positions, loss_sum

    def _batch_loss(
        self, predictor: np.ndarray, selector: slice | np.ndarray
    ) -> tuple[float, np.ndarray]:
        r"""Loss sum and :math:`\ell_i' = p_i - e_{y_i}` (rows of :math:`P_B - Y_B`)."""
        probabilities, label_positions, loss_sum = self._batch_probabilities(predictor, selector)
        probabilities.reshape(-1)[label_positions] -= 1.0
        return loss_sum, probabilities.T

    def _batch_curvature(
        self, predictor: np.ndarray, selector: slice | np.ndarray, directional: np.ndarray
    ) -> np.ndarray:
        r""":math:`(\operatorname{diag}(p_i) - p_i p_i^\top)\,u_i` for each row."""
        probabilities, _, _ = self._batch_probabilities(predictor, selector)
        return _apply_curvature(probabilities, np.ascontiguousarray(directional.T)).T

    def _project_rows(self, rows: Any, derivatives: np.ndarray) -> np.ndarray:
        return np.asarray(rows.T @ derivatives, dtype=np.float64).reshape(-1)

    def hess(self, x: np.ndarray) -> np.ndarray:
        r"""Dense Hessian.

        :math:`\nabla^2 f = \frac1n\sum_i x_i x_i^\top \otimes (\operatorname{diag}(p_i)
        - p_i p_i^\top) + \lambda I`.

        With :math:`q_i = x_i \otimes p_i`, the sum is
        :math:`\sum_k G_k \otimes e_k e_k^\top - \sum_i q_i q_i^\top` where
        :math:`G_k = X^\top \operatorname{diag}(P_{:k}) X`. Refuses above
        ``hess_max_dim``. Dense ``X``: assembled by row blocks (temporary memory bounded
        by one block, about 16 MB). CSR ``X``: sparse-sparse products, see
        :meth:`_sparse_curvature_sum`.
        """
        x = check_point(x, self.dim)
        self._check_hess_size()
        probabilities = self._probabilities_at(x).T  # (n, K) view
        if self._sparse:
            H = self._sparse_curvature_sum(probabilities)
        else:
            d, K = self.n_features, self.n_classes
            H = np.zeros((self.dim, self.dim))
            start = 0
            for block in row_blocks(self.X, max_entries=max(1, (1 << 21) // K)):
                stop = start + block.shape[0]
                block_probabilities = probabilities[start:stop]
                outer = (block[:, :, None] * block_probabilities[:, None, :]).reshape(-1, d * K)
                H -= outer.T @ outer
                for k in range(K):
                    H[k::K, k::K] += block.T @ (block * block_probabilities[:, k, None])
                start = stop
        H *= 1.0 / self.n_samples
        H[np.diag_indices_from(H)] += self.l2
        return H

    def _sparse_curvature_sum(self, probabilities: np.ndarray) -> np.ndarray:
        r""":math:`\sum_k G_k \otimes e_k e_k^\top - Q^\top Q` for CSR ``X``, never densified.

        :math:`Q` (``n × dK``, CSR, ``K`` values per non-zero of ``X``) has rows
        :math:`q_i = x_i \otimes p_i`; :math:`Q^\top Q` is one sparse-sparse product and
        each :math:`G_k` one :func:`~optbench.problems.linalg.weighted_gram`. The work is
        about :math:`(K^2 + K) \sum_i \mathrm{nnz}(x_i)^2` instead of the
        :math:`n (dK)^2` of dense row blocks.
        """
        import scipy.sparse

        X, K = cast("SparseMatrix", self.X), self.n_classes  # called only when self._sparse
        counts = np.diff(X.indptr)
        sample_of_value = np.repeat(np.arange(self.n_samples), counts)
        q_values = (X.data[:, None] * probabilities[sample_of_value]).reshape(-1)
        q_columns = (X.indices.astype(np.int64)[:, None] * K + np.arange(K)).reshape(-1)
        q_row_starts = X.indptr.astype(np.int64) * K
        Q = scipy.sparse.csr_array(
            (q_values, q_columns, q_row_starts), shape=(X.shape[0], self.dim)
        )
        H = (Q.T @ Q).toarray()
        np.negative(H, out=H)
        for k in range(K):
            H[k::K, k::K] += weighted_gram(X, np.ascontiguousarray(probabilities[:, k]))
        return H

    def smoothness(self) -> Smoothness:
        r"""Bounds :math:`L = \lambda_{\max}(X^\top X)/(2n) + \lambda`, :math:`\mu = \lambda`.

        :math:`\lambda_{\max}(\operatorname{diag}(p) - pp^\top) \le 1/2` (Gershgorin:
        row :math:`k` sums to :math:`2p_k(1-p_k)`) gives :math:`L` and
        :math:`L_{\max} = \max_i \|x_i\|^2/2 + \lambda`. Computed once and
        cached (a pure function of the data).
        """
        if self._smoothness is None:
            lambda_max, _ = gram_extreme_eigenvalues(self.X, want_min=False)
            self._smoothness = Smoothness(
                L=lambda_max / (2 * self.n_samples) + self.l2,
                mu=self.l2,
                L_max=float(row_norms_squared(self.X).max()) / 2 + self.l2,
            )
        return self._smoothness


def _apply_curvature(probabilities: np.ndarray, directional: np.ndarray) -> np.ndarray:
    r""":math:`P \odot (U - (P \odot U)\mathbf 1 \mathbf 1^\top)`, class-major ``K × b``.

    ``directional`` (:math:`U^\top`) is overwritten and returned: per sample,
    :math:`(\operatorname{diag}(p_i) - p_i p_i^\top)\,u_i`.
    """
    weighted_means = (probabilities * directional).sum(axis=0)  # (P ⊙ U) 1
    directional -= weighted_means
    directional *= probabilities
    return directional
