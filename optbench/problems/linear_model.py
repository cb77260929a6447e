r"""What the three data losses share: :class:`LinearModelLoss` and its helpers.

Least squares, logistic and softmax regression are losses of a linear model on a design
matrix (dense or CSR), built either from user data or from seeded synthetic data. The
plumbing around their kernels is the same and lives here:

- :class:`LinearModelLoss`: user-data versus synthetic argument handling, the ridge
  penalty, pickling without derived copies of the data, the data hash of the
  certificate cache key, and the minibatch evaluations of
  :class:`~optbench.problems.base.FiniteSum` written once over three per-family
  kernels (the linear predictor of a block of rows, the loss and its derivatives
  there, the curvature applied to a directional predictor).
- :class:`PointMemo`: the one-entry memo of curvature weights keyed by the point.
- :class:`ThreadScratch`: per-thread reusable buffers (and memo) for the kernels.
- :func:`data_digest`: content hash of dense or sparse arrays.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from optbench.problems.base import FiniteSum, Problem, Smoothness
from optbench.problems.certify import LazyFStar
from optbench.problems.data_sources import SKLEARN_PREFIX, SKLEARN_SHAPES, load_source
from optbench.problems.linalg import SparseRows
from optbench.problems.validation import check_point, is_sparse

if TYPE_CHECKING:
    from optbench.problems.validation import Matrix


#: Bytes per non-zero of a CSR matrix (float64 value and, at worst, an int64 index).
SPARSE_BYTES_PER_NONZERO = 16
#: CSR minibatches of at most this many rows, of a family with one derivative per sample
#: (logistic, least squares), are gathered into a :class:`SparseRows`; larger ones, and
#: softmax's, are scipy slices or row copies (scipy's fixed cost per call is then small).
SPARSE_GATHER_MAX_ROWS = 256
#: Length-``n_samples`` float arrays alive at once (labels, margins, scratch buffers).
VECTORS_PER_SAMPLE = 8


class LinearModelLoss(LazyFStar, Problem, FiniteSum):
    r"""Base class of the data losses (a lazy certified ``f_star`` included).

    A subclass names its data in :attr:`data_names`, stores the validated arrays under
    those names, sets ``l2`` and ``_user_data`` in its constructor, and lists in
    :attr:`_transient` the attributes that :meth:`_build_transient` derives from the
    data (a transposed view, scratch buffers, a memo). Those are left out of pickles and
    rebuilt on unpickling: a transposed view would otherwise be serialized as a second
    copy of the data, and scratch or memo contents are only ever a speed-up.

    Minibatches (:class:`~optbench.problems.base.FiniteSum`): the rows ``idx`` are
    taken by :meth:`_batch_rows`. Dense data: an ascending run of consecutive rows is a
    slice (a view); any other ``idx`` copies those rows only. CSR data: up to
    :data:`SPARSE_GATHER_MAX_ROWS` rows of logistic and least squares are gathered into a
    :class:`~optbench.problems.linalg.SparseRows` (their non-zeros only), other batches
    are scipy slices or row copies. Either way :math:`O(|B|\,d)` work, the order of the batch
    product itself and never :math:`O(nd)`. A subclass gives the kernels
    :meth:`_linear_map` (:math:`\tilde X_B x`), :meth:`_batch_loss` (the loss sum and
    the derivatives :math:`\ell_i'` at the predictors), :meth:`_batch_curvature`
    (:math:`\ell_i''` applied to a directional predictor) and :meth:`_project_rows`
    (:math:`\sum_i \tilde x_i \otimes d_i`), and its ridge term in
    :meth:`ridge_value` and :meth:`ridge_grad`.
    """

    #: Names of the (design matrix, targets) arguments, also the attributes holding them.
    data_names: ClassVar[tuple[str, str]] = ("X", "y")
    #: Attributes rebuilt by :meth:`_build_transient` instead of pickled.
    _transient: ClassVar[tuple[str, ...]] = ()

    l2: float
    n_samples: int
    #: True for user data (its bytes are hashed into the cache key), False for synthetic.
    _user_data: bool = False
    #: Cached :meth:`smoothness` (a pure function of the data).
    _smoothness: Smoothness | None = None
    #: Cached :meth:`data_digest`.
    _digest: str | None = None

    #: A data source (``data``) is a file path: relative to a config file's directory.
    path_params: ClassVar[tuple[str, ...]] = ("data",)

    @classmethod
    def _source_params(cls, data: Any, label: Any, standardize: Any) -> dict[str, Any] | None:
        """The checked ``data``/``label``/``standardize`` (None without ``data``).

        The source is loaded here (once per process, :func:`loaded_source`), so a
        missing or malformed file fails when a config is checked, before any run.
        """
        if not isinstance(standardize, (bool, np.bool_)):
            raise ValueError(f"standardize: must be True or False, got {standardize!r}")
        if not isinstance(label, str) or not label:
            raise ValueError(f"label: must be a column name, got {label!r}")
        if data is None:
            if standardize or label != "y":
                raise ValueError("label and standardize go with data: give data too")
            return None
        loaded_source(data, label, bool(standardize))
        return {"data": str(data), "label": label, "standardize": bool(standardize)}

    @classmethod
    def _source_markers(cls, design: Any, targets: Any) -> tuple[bool, bool]:
        """Stand-ins for the arrays a ``data`` source gives, for :meth:`_user_data_given`
        (which then refuses synthetic arguments); arrays given too are an error."""
        if design is not None or targets is not None:
            design_name, targets_name = cls.data_names
            raise ValueError(f"data: give data, or {design_name} and {targets_name}, not both")
        return True, True

    @classmethod
    def _user_data_given(cls, design: Any, targets: Any, **synthetic: Any) -> bool:
        """Whether user data is given, after checking the arguments are consistent.

        User data needs both the design and the targets, and every synthetic-only
        argument in ``synthetic`` left at its constructor default; synthetic data needs
        neither design nor targets.

        Raises
        ------
        ValueError
            Naming the offending argument: targets without design, a synthetic
            argument with user data, or user data without targets.
        """
        design_name, targets_name = cls.data_names
        if design is None:
            if targets is not None:
                raise ValueError(
                    f"{targets_name}: given without {design_name}; "
                    f"pass both {design_name} and {targets_name}, or neither"
                )
            return False
        defaults = _constructor_defaults(cls)
        for key, value in synthetic.items():
            if value != defaults[key]:
                raise ValueError(
                    f"{key}: only for synthetic data; omit it when {design_name} is given"
                )
        if targets is None:
            raise ValueError(f"{targets_name}: required when {design_name} is given")
        return True

    @classmethod
    def dimension(cls, params: dict[str, Any]) -> int | None:
        """``n_features`` (times the classes, plus the intercept); None for user data
        other than scikit-learn's sets, whose sizes are known."""
        source = str(params.get("data", ""))
        if source.startswith(SKLEARN_PREFIX):
            _, n_features, n_classes = SKLEARN_SHAPES[source[len(SKLEARN_PREFIX) :]]
            classes = params.get("n_classes") or n_classes or 1
            per_feature = int(classes) if "n_classes" in params else 1
            return n_features * per_feature + int(bool(params.get("fit_intercept")))
        if "n_samples" not in params:
            return None
        per_feature = int(params.get("n_classes", 1))
        return int(params["n_features"]) * per_feature + int(bool(params.get("fit_intercept")))

    @classmethod
    def data_bytes(cls, params: dict[str, Any]) -> int:
        """The synthetic design matrix (dense, or CSR with ``nnz`` or ``density``) plus
        the per-sample vectors of the kernels; 0 for user data (already in memory)."""
        if "n_samples" not in params:
            return 0
        n, d = params["n_samples"], params["n_features"]
        nnz = params.get("nnz")
        if nnz is None and params.get("density") is not None:
            nnz = math.ceil(params["density"] * n * d)
        design = 8 * n * d if nnz is None else SPARSE_BYTES_PER_NONZERO * nnz + 8 * (n + 1)
        return design + VECTORS_PER_SAMPLE * 8 * n

    def _penalty(self, weights: np.ndarray) -> float:
        r"""The ridge term :math:`(\lambda/2)\|w\|^2` (exactly 0.0 when :math:`\lambda = 0`)."""
        return 0.5 * self.l2 * float(weights @ weights) if self.l2 else 0.0

    def _build_transient(self) -> None:
        """Build the attributes named in :attr:`_transient` (none by default)."""

    # ------------------------------------------------------------- minibatches

    def ridge_value(self, x: np.ndarray) -> float:
        r"""The ridge term :math:`R(x) = (\lambda/2)\|x\|^2` (a family with an intercept
        leaves it out)."""
        return self._penalty(x)

    def ridge_grad(self, x: np.ndarray) -> np.ndarray:
        r""":math:`\nabla R(x) = \lambda x` (a family with an intercept puts 0 there)."""
        return self.l2 * check_point(x, self.dim)

    def _batch_rows(self, idx: Any) -> tuple[Matrix, slice | np.ndarray]:
        """The rows ``idx`` of the design matrix and the selector of per-sample arrays.

        Raises
        ------
        ValueError
            ``idx`` is not a non-empty 1-D integer array of indices in ``[0, n)``.
        """
        idx = np.asarray(idx)
        n = self.n_samples
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise ValueError(
                f"idx: must be a non-empty 1-D integer array of row indices in [0, {n}), "
                f"got shape {idx.shape} and dtype {idx.dtype}"
            )
        first, last = int(idx[0]), int(idx[-1])
        consecutive = last - first == idx.size - 1 and (
            idx.size == 1 or bool((np.diff(idx) == 1).all())
        )
        low, high = (first, last) if consecutive else (int(idx.min()), int(idx.max()))
        if low < 0 or high >= n:
            bad = low if low < 0 else high
            raise ValueError(f"idx: row indices must be in [0, {n}), got {bad}")
        selector: slice | np.ndarray = slice(first, last + 1) if consecutive else idx
        design = getattr(self, self.data_names[0])
        gather = idx.size <= SPARSE_GATHER_MAX_ROWS and not self._derivative_shape()
        if gather and not isinstance(design, np.ndarray):
            return SparseRows(design, idx), selector
        return design[selector], selector

    def _derivative_shape(self) -> tuple[int, ...]:
        """The shape of one sample's loss derivative: ``()``, or ``(K,)`` for softmax."""
        return ()

    def _linear_map(self, x: np.ndarray, rows: Matrix) -> np.ndarray:
        r"""The linear predictor :math:`\tilde X_B x` of the rows, shape ``(b,)`` or ``(b, K)``."""
        raise NotImplementedError

    def _batch_loss(
        self, predictor: np.ndarray, selector: slice | np.ndarray
    ) -> tuple[float, np.ndarray]:
        r""":math:`\sum_{i \in B} \ell_i` and the derivatives :math:`\ell_i'` at the
        predictors (``predictor`` may be overwritten)."""
        raise NotImplementedError

    def _batch_curvature(
        self, predictor: np.ndarray, selector: slice | np.ndarray, directional: np.ndarray
    ) -> np.ndarray:
        r""":math:`\ell_i''` at the predictors applied to the directional predictors
        :math:`\tilde x_i^\top v` (``predictor`` may be overwritten)."""
        raise NotImplementedError

    def _project_rows(self, rows: Matrix, derivatives: np.ndarray) -> np.ndarray:
        r""":math:`\sum_{i \in B} \tilde x_i \otimes d_i`, shape ``(dim,)``."""
        raise NotImplementedError

    def value_and_grad_batch(self, x: np.ndarray, idx: np.ndarray) -> tuple[float, np.ndarray]:
        x = check_point(x, self.dim)
        rows, selector = self._batch_rows(idx)
        loss_sum, derivatives = self._batch_loss(self._linear_map(x, rows), selector)
        scale = 1.0 / rows.shape[0]
        gradient = self._project_rows(rows, derivatives)
        gradient *= scale
        if self.l2:
            gradient += self.ridge_grad(x)
        return loss_sum * scale + self.ridge_value(x), gradient

    def hvp_batch(self, x: np.ndarray, v: np.ndarray, idx: np.ndarray) -> np.ndarray:
        x = check_point(x, self.dim)
        v = check_point(v, self.dim, "v")
        rows, selector = self._batch_rows(idx)
        weighted = self._batch_curvature(
            self._linear_map(x, rows), selector, self._linear_map(v, rows)
        )
        product = self._project_rows(rows, weighted)
        product *= 1.0 / rows.shape[0]
        if self.l2:
            product += self.ridge_grad(v)
        return product

    def sample_derivatives(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        x = check_point(x, self.dim)
        rows, selector = self._batch_rows(idx)
        return self._batch_loss(self._linear_map(x, rows), selector)[1]

    def grad_from_derivatives(self, idx: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
        rows, _ = self._batch_rows(idx)
        derivatives = np.asarray(derivatives, dtype=np.float64)
        expected = (rows.shape[0], *self._derivative_shape())
        if derivatives.shape != expected:
            raise ValueError(f"derivatives: expected shape {expected}, got {derivatives.shape}")
        gradient = self._project_rows(rows, derivatives)
        gradient *= 1.0 / rows.shape[0]
        return gradient

    def __getstate__(self) -> dict[str, Any]:
        """The instance's state without the :attr:`_transient` attributes."""
        state = self.__dict__.copy()
        for name in self._transient:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._build_transient()

    def data_digest(self) -> str | None:
        """Hash of user data (computed once); None for synthetic data (params define it)."""
        if self._user_data and self._digest is None:
            self._digest = data_digest(*(getattr(self, name) for name in self.data_names))
        return self._digest


@functools.cache
def _constructor_defaults(cls: type[LinearModelLoss]) -> dict[str, Any]:
    """Default values of the parameters of ``cls.__init__``, by name."""
    parameters = inspect.signature(cls.__init__).parameters
    return {name: parameter.default for name, parameter in parameters.items()}


def data_digest(*arrays: Matrix) -> str:
    """SHA-256 of the shapes, dtypes and bytes of dense or sparse arrays."""
    digest = hashlib.sha256()
    for array in arrays:
        parts = (array.data, array.indices, array.indptr) if is_sparse(array) else (array,)
        digest.update(repr((type(array).__name__, array.shape)).encode())
        for part in parts:
            part = np.ascontiguousarray(part)
            digest.update(repr((part.dtype.str, part.shape)).encode())
            digest.update(part.tobytes())
    return digest.hexdigest()


class PointMemo:
    """A one-entry memo keyed by the *content* of a point ``x``.

    Data losses store the curvature weights that ``value_and_grad(x)`` computed so that
    ``hvp(x, v)`` at the same ``x`` (as in Newton-CG) skips the forward product. A copy
    of ``x`` is kept and compared with ``np.array_equal``, so mutating ``x`` after the
    call cannot return stale weights. This is a deliberate exception to the rule of "no
    hidden caches": it changes time only, never results.
    """

    __slots__ = ("_stored",)

    def __init__(self) -> None:
        # One (point, entry) tuple, replaced in a single assignment, so a reader on
        # another thread never pairs one call's point with another call's entry.
        self._stored: tuple[np.ndarray, Any] | None = None

    def get(self, x: np.ndarray) -> Any:
        """The stored entry if it was stored at a point equal to ``x``, else None."""
        stored = self._stored
        if stored is not None and np.array_equal(stored[0], x):
            return stored[1]
        return None

    def put(self, x: np.ndarray, entry: Any) -> None:
        """Store ``entry`` for (a copy of) ``x``, replacing the previous one."""
        self._stored = (np.array(x, dtype=np.float64, copy=True), entry)

    def clear(self) -> None:
        """Forget the stored entry."""
        self._stored = None


class ThreadScratch(threading.local):
    """Per-thread scratch arrays and :class:`PointMemo`, reused across kernel calls.

    Each thread that calls the kernels gets its own buffers, allocated on first use,
    and its own memo, whose entries may point into those buffers: a call on one thread
    never overwrites what another is reading. Fresh temporaries would cost their page
    faults on every call.
    """

    def __init__(self) -> None:
        self.memo = PointMemo()
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, length: int, dtype: type = np.float64) -> np.ndarray:
        """The buffer ``name`` of this thread (contents undefined; overwrite it)."""
        array = self._arrays.get(name)
        if array is None:
            array = self._arrays[name] = np.empty(length, dtype=dtype)
        return array


@functools.lru_cache(maxsize=8)
def _loaded(source: str, stamp: tuple[int, int] | None, label: str, standardize: bool) -> Any:
    return load_source(source, label, standardize)


def loaded_source(source: str, label: str = "y", standardize: bool = False) -> tuple[Any, Any]:
    """:func:`~optbench.problems.data_sources.load_source`, once per version of a file.

    Keyed by the file's modification time and size, so checking a config and building
    its instances read a file once; the arrays returned are the ones the problem holds.
    """
    stamp = None
    if not source.startswith(SKLEARN_PREFIX):
        path = Path(source).expanduser()
        if path.is_file():
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
    return _loaded(source, stamp, label, standardize)
