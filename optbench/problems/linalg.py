r"""Gram matrices of design matrices, dense or CSR, for the data losses.

- :func:`row_blocks`: dense consecutive row blocks, for assembly with bounded memory.
- :func:`gram`: :math:`X^\top X`.
- :func:`weighted_gram`: :math:`\tilde X^\top \operatorname{diag}(w) \tilde X` with
  :math:`\tilde X = X` or :math:`[X, \mathbf 1]` (the Hessians of the data losses); CSR
  data goes through one sparse-sparse product and is never densified.
- :class:`SparseRows`: a few rows of a CSR matrix gathered into plain arrays, with the
  two products a minibatch needs and none of scipy's per-call overhead.
- :func:`row_norms_squared`: :math:`\|x_i\|^2` of every row (per-sample smoothness).
- :func:`gram_extreme_eigenvalues`: the two ends of the spectrum of
  :math:`\tilde X^\top \tilde X` (smoothness constants).

``scipy`` is imported inside the functions that need it, so importing this module (and
every family) stays cheap for ``optbench list``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, overload

import numpy as np

from optbench.numerics import norm2
from optbench.problems.validation import is_sparse

if TYPE_CHECKING:
    from optbench.problems.validation import Matrix

#: Matrices with at most this many columns get exact (dense) Gram spectra.
DENSE_SPECTRUM_MAX_DIM = 2_000
#: Restart budget of the Lanczos estimate of the smallest eigenvalue (it can converge
#: slowly); when exhausted, the valid lower bound 0 is returned instead.
LANCZOS_MIN_RESTARTS = 300
#: Default bound on the entries of one dense row block (16 MB of float64).
ROW_BLOCK_ENTRIES = 1 << 21


class SparseRows:
    r"""Rows ``idx`` of a CSR matrix as (values, columns, row of each value).

    ``rows @ w`` and ``rows.T @ r`` (``w``, ``r`` 1-D: the families with one derivative
    per sample) are ``np.bincount`` over the gathered non-zeros:
    :math:`O(\mathrm{nnz}_B)` work plus the output, without building a scipy matrix
    (slicing and transposing one cost tens of µs a call, many times a one-row product;
    ``benchmarks/minibatch_cost.py``).

    Parameters
    ----------
    X : scipy.sparse CSR matrix
        The design matrix (not copied: only the batch's non-zeros are gathered).
    idx : ndarray of int
        Row indices, checked by the caller to lie in ``[0, n)``.
    """

    def __init__(self, X: Matrix, idx: np.ndarray) -> None:
        indptr = X.indptr  # type: ignore[union-attr]
        starts = indptr[idx]
        counts = indptr[idx + 1] - starts
        shifts = starts - (np.cumsum(counts) - counts)  # gathered position -> stored position
        positions = np.arange(int(counts.sum())) + np.repeat(shifts, counts)
        self.values = X.data[positions]
        self.columns = X.indices[positions]  # type: ignore[union-attr]
        self.row_of = np.repeat(np.arange(idx.size), counts)
        self.shape = (int(idx.size), int(X.shape[1]))

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        r""":math:`X_B v` for ``v`` of shape ``(d,)``."""
        weights = self.values * vector[self.columns]
        return np.bincount(self.row_of, weights=weights, minlength=self.shape[0])

    @property
    def T(self) -> _TransposedRows:
        """The transpose, for :math:`X_B^\top r`."""
        return _TransposedRows(self)


class _TransposedRows:
    """:math:`X_B^\top` of :class:`SparseRows` (products only)."""

    def __init__(self, rows: SparseRows) -> None:
        self.rows = rows

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        r""":math:`X_B^\top r` for ``r`` of shape ``(b,)``."""
        rows = self.rows
        weights = rows.values * vector[rows.row_of]
        return np.bincount(rows.columns, weights=weights, minlength=rows.shape[1])


def row_norms_squared(X: Matrix) -> np.ndarray:
    r"""The squared norms :math:`\|x_i\|^2` of the rows of dense or CSR ``X`` (no copy of ``X``)."""
    if isinstance(X, np.ndarray):
        return np.einsum("ij,ij->i", X, X)
    squares = np.zeros(X.shape[0])
    counts = np.diff(X.indptr)
    nonempty = counts > 0
    if nonempty.any():
        sums = np.add.reduceat(X.data * X.data, X.indptr[:-1][nonempty])
        squares[nonempty] = sums
    return squares


def row_blocks(X: Matrix, max_entries: int = ROW_BLOCK_ENTRIES) -> Iterator[np.ndarray]:
    r"""Dense consecutive row blocks of ``X`` of at most ``max_entries`` entries each.

    Dense ``X`` yields views (no copy); CSR ``X`` yields densified slices. Used to build
    weighted Gram matrices :math:`X^\top D X` of dense data with bounded temporary memory.
    """
    n_rows, n_columns = X.shape
    step = max(1, max_entries // max(n_columns, 1))
    for start in range(0, n_rows, step):
        block = X[start : start + step]
        yield block.toarray() if is_sparse(block) else block


def gram(X: Matrix) -> np.ndarray:
    r"""Dense :math:`X^\top X` (``d × d``) without copying ``X``.

    Dense ``X``: one GEMM. CSR ``X``: a sparse-sparse product, then densified (only the
    ``d × d`` result is).
    """
    product = X.T @ X
    return product.toarray() if is_sparse(product) else np.asarray(product)


def weighted_gram(X: Matrix, weights: np.ndarray, with_ones_column: bool = False) -> np.ndarray:
    r"""Dense :math:`\tilde X^\top \operatorname{diag}(w)\, \tilde X` for weights :math:`w \ge 0`.

    :math:`\tilde X = X`, or :math:`[X, \mathbf 1]` when ``with_ones_column`` (then the
    last row and column are :math:`X^\top w` and :math:`\sum_i w_i`).

    Dense ``X``: accumulated over :func:`row_blocks`, ``block.T @ (w_block * block)``
    (temporary memory one block, about 16 MB). CSR ``X``: with
    :math:`S = \operatorname{diag}(\sqrt w)\, X` (a copy of the values only; the index
    arrays are shared), one sparse-sparse product :math:`S^\top S`, densified at the
    end; ``X`` itself is never densified. Its work is
    :math:`\sum_i \mathrm{nnz}(x_i)^2` instead of the :math:`n d^2` of dense blocks,
    and each entry sums the same products in the same order as its mirror, so the
    result is exactly symmetric.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, d)
    weights : ndarray of shape (n,)
        Non-negative row weights (not checked: the callers' curvature weights are).
    with_ones_column : bool
        Append the ones column.

    Returns
    -------
    ndarray of shape (d, d), or (d + 1, d + 1) with the ones column
    """
    import scipy.sparse

    d = X.shape[1]
    if is_sparse(X):
        scaled_values = X.data * np.repeat(np.sqrt(weights), np.diff(X.indptr))
        scaled = scipy.sparse.csr_array((scaled_values, X.indices, X.indptr), shape=X.shape)
        block = (scaled.T @ scaled).toarray()
        if not with_ones_column:
            return block
        H = np.zeros((d + 1, d + 1))
        H[:d, :d] = block
        H[:d, d] = X.T @ weights
    else:
        H = np.zeros((d + int(with_ones_column),) * 2)
        start = 0
        for rows in row_blocks(X):
            stop = start + rows.shape[0]
            weighted = rows * weights[start:stop, None]
            H[:d, :d] += rows.T @ weighted
            if with_ones_column:
                H[:d, d] += weighted.sum(axis=0)
            start = stop
    if with_ones_column:
        H[d, :d] = H[:d, d]
        H[d, d] = weights.sum()
    return H


@overload
def gram_extreme_eigenvalues(
    X: Matrix, with_ones_column: bool = ..., want_min: Literal[True] = ...
) -> tuple[float, float]: ...
@overload
def gram_extreme_eigenvalues(
    X: Matrix, with_ones_column: bool = ..., want_min: bool = ...
) -> tuple[float, float | None]: ...
def gram_extreme_eigenvalues(
    X: Matrix, with_ones_column: bool = False, want_min: bool = True
) -> tuple[float, float | None]:
    r"""Largest and smallest eigenvalues of :math:`\tilde X^\top \tilde X`.

    :math:`\tilde X = X`, or :math:`[X, \mathbf 1]` when ``with_ones_column``. When
    :math:`\tilde X` has at most :data:`DENSE_SPECTRUM_MAX_DIM` columns the dense Gram
    matrix is formed and ``eigvalsh`` gives both ends exactly (to rounding, i.e. the
    smallest with absolute error about :math:`\epsilon\,\lambda_{\max}`). Otherwise
    Lanczos (``scipy.sparse.linalg.eigsh``) runs on the operator
    :math:`v \mapsto \tilde X^\top(\tilde X v)`; the largest Ritz value :math:`\theta` is
    raised by its residual norm, :math:`\theta + \|\tilde X^\top\tilde X u - \theta u\|`,
    a bound on the eigenvalue nearest :math:`\theta` (Parlett, The Symmetric Eigenvalue
    Problem, Thm 4.5.1), up to the rounding of both terms (a few ulps). The smallest is 0
    when :math:`\tilde X` has more columns than rows, else a Lanczos estimate, or 0 (a
    valid lower bound) if Lanczos does not converge.

    Returns
    -------
    lambda_max : float
    lambda_min : float or None
        None when ``want_min`` is False.
    """
    n_rows, n_columns = X.shape
    dim = n_columns + int(with_ones_column)
    if dim <= DENSE_SPECTRUM_MAX_DIM:
        import scipy.linalg

        gram_matrix = gram(X)
        if with_ones_column:
            column_sums = np.asarray(X.sum(axis=0)).ravel()
            gram_matrix = np.block(
                [[gram_matrix, column_sums[:, None]], [column_sums[None, :], float(n_rows)]]
            )
        eigenvalues = scipy.linalg.eigvalsh(gram_matrix)
        lambda_min = max(float(eigenvalues[0]), 0.0) if want_min else None
        return float(eigenvalues[-1]), lambda_min

    import scipy.sparse.linalg

    def apply(v: np.ndarray) -> np.ndarray:
        v = np.ravel(v)
        product = X @ v[:n_columns]
        if with_ones_column:
            product += v[-1]
        out = np.empty(dim)
        out[:n_columns] = X.T @ product
        if with_ones_column:
            out[-1] = product.sum()
        return out

    operator = scipy.sparse.linalg.LinearOperator((dim, dim), matvec=apply, dtype=np.float64)
    start = np.random.default_rng(0).standard_normal(dim)
    values, vectors = scipy.sparse.linalg.eigsh(operator, k=1, which="LA", tol=1e-10, v0=start)
    theta, u = float(values[0]), vectors[:, 0]
    lambda_max = theta + norm2(apply(u) - theta * u)
    if not want_min:
        return lambda_max, None
    if dim > n_rows:
        return lambda_max, 0.0
    try:
        values = scipy.sparse.linalg.eigsh(
            operator,
            k=1,
            which="SA",
            tol=1e-8,
            v0=start,
            maxiter=LANCZOS_MIN_RESTARTS,
            return_eigenvectors=False,
        )
        lambda_min = max(float(values[0]), 0.0)
    except scipy.sparse.linalg.ArpackNoConvergence:
        lambda_min = 0.0
    return lambda_max, lambda_min
