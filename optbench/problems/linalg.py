r"""Gram matrices of design matrices, dense or CSR, for the data losses.

- :func:`row_blocks`: dense consecutive row blocks, for assembly with bounded memory.
- :func:`gram`: :math:`X^\top X`.
- :func:`gram_extreme_eigenvalues`: the two ends of the spectrum of
  :math:`\tilde X^\top \tilde X` (smoothness constants).

``scipy`` is imported inside the functions that need it, so importing this module (and
every family) stays cheap for ``optbench list``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optbench.problems.validation import Matrix

#: Matrices with at most this many columns get exact (dense) Gram spectra.
DENSE_SPECTRUM_MAX_DIM = 2_000
#: Restart budget of the Lanczos estimate of the smallest eigenvalue (it can converge
#: slowly); when exhausted, the valid lower bound 0 is returned instead.
LANCZOS_MIN_RESTARTS = 300
#: Default bound on the entries of one dense row block (16 MB of float64).
ROW_BLOCK_ENTRIES = 1 << 21


def row_blocks(X: Matrix, max_entries: int = ROW_BLOCK_ENTRIES) -> Iterator[np.ndarray]:
    r"""Dense consecutive row blocks of ``X`` of at most ``max_entries`` entries each.

    Dense ``X`` yields views (no copy); CSR ``X`` yields densified slices. Used to build
    weighted Gram matrices :math:`X^\top D X` of dense data with bounded temporary memory.
    """
    import scipy.sparse

    n_rows, n_columns = X.shape
    step = max(1, max_entries // max(n_columns, 1))
    for start in range(0, n_rows, step):
        block = X[start : start + step]
        yield block.toarray() if scipy.sparse.issparse(block) else block


def gram(X: Matrix) -> np.ndarray:
    r"""Dense :math:`X^\top X` (``d × d``) without copying ``X``.

    Dense ``X``: one GEMM. CSR ``X``: a sparse-sparse product, then densified (only the
    ``d × d`` result is).
    """
    import scipy.sparse

    product = X.T @ X
    return product.toarray() if scipy.sparse.issparse(product) else np.asarray(product)


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
    Problem, Thm 4.5.1). The smallest is 0 when :math:`\tilde X` has more columns than
    rows, else a Lanczos estimate, or 0 (a valid lower bound) if Lanczos does not converge.

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
    lambda_max = theta + float(np.linalg.norm(apply(u) - theta * u))
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
