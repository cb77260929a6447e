r"""Seeded synthetic data for the data losses (dense and ``scipy.sparse`` CSR).

All generators are reproducible from ``seed`` through ``numpy.random.default_rng``:

- :func:`least_squares_data`: a design :math:`A = U \operatorname{diag}(s) V^\top`
  with log-spaced singular values, so its condition number is exactly ``cond``.
- :func:`correlated_features`: dense Gaussian features with AR(1) correlation
  :math:`\operatorname{corr}(x_j, x_k) = \rho^{|j-k|}`.
- :func:`sparse_features`: CSR Gaussian features with a given density.
- :func:`sparse_features_exact`: CSR Gaussian features with an exact number of
  non-zeros, built block by block straight into the CSR arrays (for million-row data).
- :func:`logistic_data` and :func:`softmax_data`: features plus labels drawn from a true
  linear model.

The helpers the losses share live next door: argument checks and
:func:`~optbench.problems.validation.as_design_matrix` in
:mod:`optbench.problems.validation`, Gram matrices and spectra in
:mod:`optbench.problems.linalg`, and the base class, memo and data hash in
:mod:`optbench.problems.linear_model`. ``scipy.sparse`` is imported only by the
generators that build CSR data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from optbench.problems.validation import check_positive_int

if TYPE_CHECKING:
    import scipy.sparse

    from optbench.problems.validation import Matrix

#: Standard deviation of the true linear predictor that draws synthetic labels.
SIGNAL_SCALE = 2.0
#: Rows per block of :func:`sparse_features_exact`: bounds its temporaries (about
#: 40 bytes per non-zero of a block). Part of the generator's definition: changing it
#: changes the data drawn for a given seed.
SPARSE_BLOCK_ROWS = 1 << 16


def least_squares_data(
    n_samples: int, n_features: int, cond: float, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Least-squares design with a prescribed condition number.

    .. math:: A = U \operatorname{diag}(s)\, V^\top, \qquad
              s_i = \sqrt{n}\; \mathrm{cond}^{-(i-1)/(r-1)}, \quad r = \min(n, d),

    with :math:`U \in \mathbb{R}^{n\times r}`, :math:`V \in \mathbb{R}^{d\times r}` the
    orthonormal factors of QR decompositions of Gaussian matrices (no dense
    :math:`n \times n` matrix is formed). So :math:`\sigma_{\max}(A)^2/n = 1` and
    :math:`\sigma_{\max}/\sigma_{\min} = \mathrm{cond}`. Then
    :math:`b = A x_{\mathrm{true}} + \mathrm{noise}\cdot\varepsilon`, with
    :math:`x_{\mathrm{true}}, \varepsilon` standard normal.

    Returns
    -------
    A : ndarray of shape (n_samples, n_features)
    b : ndarray of shape (n_samples,)
    x_true : ndarray of shape (n_features,)
    """
    rng = np.random.default_rng(seed)
    rank = min(n_samples, n_features)
    left, _ = np.linalg.qr(rng.standard_normal((n_samples, rank)))
    right, _ = np.linalg.qr(rng.standard_normal((n_features, rank)))
    exponents = np.linspace(0.0, 1.0, rank) if rank > 1 else np.zeros(1)
    singular_values = np.sqrt(n_samples) * cond**-exponents
    left *= singular_values  # in place: one n x r temporary fewer than (left * s)
    A = left @ right.T
    del left
    x_true = rng.standard_normal(n_features)
    b = A @ x_true + noise * rng.standard_normal(n_samples)
    return A, b, x_true


def correlated_features(
    n_samples: int, n_features: int, rho: float, rng: np.random.Generator
) -> np.ndarray:
    r"""Gaussian features with AR(1) correlation :math:`\rho^{|j-k|}` and unit variance.

    Built column by column, :math:`x_1 = z_1`,
    :math:`x_j = \rho\, x_{j-1} + \sqrt{1-\rho^2}\, z_j`, in place on a standard normal
    matrix: no covariance matrix is formed.
    """
    X = rng.standard_normal((n_samples, n_features))
    innovation_scale = np.sqrt(1.0 - rho * rho)
    for j in range(1, n_features):
        X[:, j] *= innovation_scale
        X[:, j] += rho * X[:, j - 1]
    return X


def sparse_features(
    n_samples: int, n_features: int, density: float, rng: np.random.Generator
) -> scipy.sparse.csr_array:
    """CSR features: ``round(density * n * d)`` standard normal entries at uniform positions.

    Uses ``scipy.sparse.random_array``, which samples the positions directly (no dense
    intermediate).
    """
    import scipy.sparse

    return scipy.sparse.random_array(
        (n_samples, n_features),
        density=density,
        format="csr",
        rng=rng,
        data_sampler=rng.standard_normal,
    )


def sparse_features_exact(
    n_samples: int, n_features: int, nnz: int, rng: np.random.Generator
) -> scipy.sparse.csr_array:
    r"""CSR features with exactly ``nnz`` standard normal entries, built without a copy.

    The CSR arrays are allocated once at their final size and filled in place: no dense
    intermediate, no COO triplets, no format conversion. Peak memory is the CSR arrays
    plus one length-``n`` count vector plus per-block temporaries
    (:data:`SPARSE_BLOCK_ROWS` rows). Indices are int32 while the shape and ``nnz``
    fit, values float64; column indices are sorted within each row and unique
    (canonical CSR).

    The positions are drawn in three steps:

    1. Row counts :math:`c_i`: each non-zero picks its row uniformly (multinomial, so
       :math:`c_i` is about Poisson with mean ``nnz / n``, as for uniformly random
       positions at low density). Counts above ``n_features`` (only possible at high
       density) are capped and the excess redrawn over the rows with room, in
       proportion to their free slots, until none overflows.
    2. Columns of a row: a uniformly random :math:`c_i`-subset of the columns. Rows with
       :math:`c_i \le d/2` draw :math:`c_i` columns with replacement and redraw the
       duplicates until none is left, vectorized over a block of rows (which gives a
       uniform subset: the procedure only compares columns for equality, so its law is
       invariant under relabelling the columns); denser rows use ``rng.choice``
       without replacement.
    3. Values: standard normal, drawn into the data array in place.

    Parameters
    ----------
    n_samples, n_features : int
        Shape ``(n, d)``.
    nnz : int
        Number of non-zeros, ``0 < nnz <= n * d``.
    rng : numpy.random.Generator
        The random stream (the result is reproducible from its seed).

    Returns
    -------
    csr_array of shape (n_samples, n_features)
    """
    import scipy.sparse

    nnz = check_positive_int("nnz", nnz)
    if nnz > n_samples * n_features:
        raise ValueError(
            f"nnz: must be at most n_samples * n_features = {n_samples * n_features}, got {nnz}"
        )
    int32_max = np.iinfo(np.int32).max
    # int32 when every index and count fits (scipy would otherwise convert, i.e. copy).
    index_dtype = np.int32 if max(nnz, n_samples, n_features) <= int32_max else np.int64
    counts = _row_counts(n_samples, n_features, nnz, rng)
    indptr = np.zeros(n_samples + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    del counts
    indices = np.empty(nnz, dtype=index_dtype)
    for start in range(0, n_samples, SPARSE_BLOCK_ROWS):
        stop = min(n_samples, start + SPARSE_BLOCK_ROWS)
        block_counts = np.diff(indptr[start : stop + 1])
        indices[indptr[start] : indptr[stop]] = _block_columns(block_counts, n_features, rng)
    data = np.empty(nnz)
    rng.standard_normal(out=data)
    return scipy.sparse.csr_array((data, indices, indptr), shape=(n_samples, n_features))


def _row_counts(n_rows: int, n_columns: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """Non-zeros per row: multinomial over the rows, overflow redrawn over free slots."""
    counts = rng.multinomial(total, np.full(n_rows, 1.0 / n_rows))
    while True:
        excess = int(np.maximum(counts - n_columns, 0).sum())
        if not excess:
            return counts
        np.minimum(counts, n_columns, out=counts)
        free = (n_columns - counts).astype(np.float64)
        counts += rng.multinomial(excess, free / free.sum())


def _block_columns(counts: np.ndarray, n_columns: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted unique uniform column indices for a block of rows with these counts."""
    rows = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    dense_rows = np.flatnonzero(counts > n_columns // 2)
    keys = rng.integers(0, n_columns, size=rows.size)
    keys += rows * n_columns  # key = row * d + column: one sort orders rows, then columns
    if dense_rows.size:
        keys = keys[~np.isin(rows, dense_rows)]
    keys.sort()
    while True:
        duplicates = np.flatnonzero(keys[1:] == keys[:-1])
        if not duplicates.size:
            break
        duplicates += 1
        keys[duplicates] -= keys[duplicates] % n_columns  # back to the row's first key
        keys[duplicates] += rng.integers(0, n_columns, size=duplicates.size)
        keys.sort()
    if dense_rows.size:
        dense_keys = [
            row * n_columns + rng.choice(n_columns, int(counts[row]), replace=False)
            for row in dense_rows
        ]
        keys = np.sort(np.concatenate([keys, *dense_keys]))
    keys -= rows * n_columns
    return keys


def _true_weights(X: Matrix, n_columns: int | None, rng: np.random.Generator) -> np.ndarray:
    """Gaussian weights rescaled so the linear predictor has std ``SIGNAL_SCALE``."""
    shape = (X.shape[1],) if n_columns is None else (X.shape[1], n_columns)
    weights = rng.standard_normal(shape)
    spread = float(np.std(X @ weights))
    return weights * (SIGNAL_SCALE / spread) if spread > 0 else weights


def logistic_data(
    n_samples: int,
    n_features: int,
    rho: float,
    density: float | None,
    seed: int,
    nnz: int | None = None,
) -> tuple[Matrix, np.ndarray, np.ndarray]:
    r"""Binary classification data from a true logistic model.

    Features are sparse CSR with exactly ``nnz`` non-zeros
    (:func:`sparse_features_exact`) when ``nnz`` is given, else sparse CSR with a
    ``density`` (:func:`sparse_features`) when that is given, else dense AR(1)-correlated
    (:func:`correlated_features`); sparse features are uncorrelated. The true
    weights :math:`w` are Gaussian, rescaled so :math:`Xw` has standard deviation 2, and
    :math:`y_i = +1` with probability :math:`\sigma(x_i^\top w)`, else :math:`-1`.

    Returns
    -------
    X : ndarray or csr_array of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), values in {-1, +1}
    w_true : ndarray of shape (n_features,)
    """
    rng = np.random.default_rng(seed)
    if nnz is not None:
        X = sparse_features_exact(n_samples, n_features, nnz, rng)
    elif density is not None:
        X = sparse_features(n_samples, n_features, density, rng)
    else:
        X = correlated_features(n_samples, n_features, rho, rng)
    w_true = _true_weights(X, None, rng)
    probability = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = np.where(rng.random(n_samples) < probability, 1.0, -1.0)
    return X, y, w_true


def softmax_data(
    n_samples: int, n_features: int, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Multiclass data from a true multinomial-logistic model.

    Standard normal features; Gaussian true weights :math:`W \in \mathbb{R}^{d\times K}`
    rescaled so the logits have standard deviation 2; labels sampled from
    :math:`\operatorname{softmax}(x_i^\top W)` by the Gumbel-max trick,
    :math:`y_i = \arg\max_k (x_i^\top W)_k + g_{ik}` with standard Gumbel :math:`g`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), integers in 0..n_classes-1
    W_true : ndarray of shape (n_features, n_classes)
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W_true = _true_weights(X, n_classes, rng)
    logits = X @ W_true + rng.gumbel(size=(n_samples, n_classes))
    return X, np.argmax(logits, axis=1), W_true
