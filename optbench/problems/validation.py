"""Argument validation shared by the problem families and the data generators.

Every check returns the validated value in its canonical type or raises a ``ValueError``
whose message starts with the parameter's name (``"<name>: ..."``), which the config
layer and the tests rely on. :func:`as_design_matrix` validates user data without
copying it.

``scipy.sparse`` is imported only when a design matrix is validated, so importing this
module (and every family) stays cheap for ``optbench list``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from optbench.scalars import check_integer, check_number

if TYPE_CHECKING:
    from typing import TypeAlias

    import scipy.sparse

    #: A CSR design matrix (scipy's sparse matrix or array class).
    SparseMatrix: TypeAlias = scipy.sparse.csr_matrix | scipy.sparse.csr_array
    #: A design matrix: a dense float64 array or a CSR matrix.
    Matrix: TypeAlias = np.ndarray | SparseMatrix


def is_sparse(X: object) -> TypeGuard[SparseMatrix]:
    """``scipy.sparse.issparse(X)``, declared so that a type checker narrows ``X`` by it."""
    import scipy.sparse

    return scipy.sparse.issparse(X)


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as ``int >= 1`` or raise ``ValueError("<name>: ...")``."""
    return check_integer(name, value, ge=1)


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a finite ``float >= 0`` or raise a ValueError naming ``name``."""
    return check_number(name, value, ge=0)


def check_seed(value: Any) -> int:
    """Return ``value`` as a non-negative ``int`` seed or raise a ValueError naming ``seed``."""
    return check_integer("seed", value, ge=0)


def check_point(x: Any, dim: int, name: str = "x") -> np.ndarray:
    """Return ``x`` as a 1-D float64 array of length ``dim`` (no copy when it already is)."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (dim,):
        raise ValueError(f"{name}: expected shape ({dim},), got {x.shape}")
    return x


def as_design_matrix(X: Any, name: str = "X") -> Matrix:
    """Validate a user design matrix and return it without copying when possible.

    A float64 ndarray or CSR matrix is returned as is (a reference, never a copy). Other
    ``scipy.sparse`` formats are converted to CSR once, and other dtypes to float64 once.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, is empty, or holds non-finite values.
    """
    import scipy.sparse

    if scipy.sparse.issparse(X):
        if X.format != "csr":
            X = X.tocsr()
        if X.dtype != np.float64:
            X = X.astype(np.float64)
        values = X.data
    else:
        X = np.asarray(X, dtype=np.float64)
        values = X
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name}: must be a non-empty 2-D array, got shape {X.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return X


def check_rows(name: str, vector: Any, X: Matrix, matrix_name: str = "X") -> np.ndarray:
    """Return ``vector`` as a 1-D array with one entry per row of ``X``."""
    vector = np.asarray(vector)
    if vector.ndim != 1:
        raise ValueError(f"{name}: must be 1-D, got shape {vector.shape}")
    if vector.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name}: length {vector.shape[0]} does not match {matrix_name} with {X.shape[0]} rows"
        )
    return vector
