"""Real data for the data losses: scikit-learn's bundled sets and the user's data files.

``params: {data: SOURCE}`` of ``logistic``, ``softmax`` and ``least_squares`` names

``sklearn:<name>``
    one of scikit-learn's small data sets that ship inside it and load offline
    (:data:`SKLEARN_SETS`; optional extra ``optbench[data]``);
a file
    ``.svm``/``.libsvm``/``.svmlight`` (LIBSVM text: ``label index:value ...``, 1-based
    indices, also gzipped: ``.gz``), read as CSR; ``.npz`` with arrays ``X`` and ``y``
    (or, for a sparse design, ``X_data``, ``X_indices``, ``X_indptr``, ``X_shape`` and
    ``y``, the CSR components); ``.csv`` with a header row, every column numeric, the
    labels in the column named by ``label`` (default ``y``); ``.parquet`` likewise.

Dense data stays dense and CSR stays CSR; the arrays loaded are what the problem holds
(never copied afterwards). ``standardize: true`` centres and scales each column of a
dense design to mean 0 and standard deviation 1 (constant columns are left centred) at
load time, as the named real-data instances do. A malformed file is one line naming the
file, the line where that makes sense, and what is wrong (:class:`DataFileError`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

#: scikit-learn's bundled sets: (samples, features, classes; None for regression),
#: so sizes are known without loading (tests compare them with the loaded arrays).
SKLEARN_SHAPES: dict[str, tuple[int, int, int | None]] = {
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, None),
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
}
SKLEARN_SETS = tuple(SKLEARN_SHAPES)
#: File suffixes read as LIBSVM text.
SVMLIGHT_SUFFIXES = (".svm", ".libsvm", ".svmlight")
#: Every file kind, for messages.
FILE_KINDS = ".svm/.libsvm/.svmlight (optionally .gz), .npz, .csv, .parquet"
#: Where a source string names a scikit-learn set.
SKLEARN_PREFIX = "sklearn:"


class DataFileError(ValueError):
    """A data source that cannot be read: one line naming it and the problem."""


def load_source(source: str, label: str = "y", standardize: bool = False) -> tuple[Any, Any]:
    """The design matrix and the labels/targets of ``source`` (module notes).

    Raises
    ------
    DataFileError
        An unknown set, a missing or malformed file, a missing extra.
    """
    if not isinstance(source, str) or not source:
        raise DataFileError(f"data: must be 'sklearn:<name>' or a file path, got {source!r}")
    if source.startswith(SKLEARN_PREFIX):
        X, y = _sklearn_set(source[len(SKLEARN_PREFIX) :])
    else:
        X, y = _read_file(Path(source).expanduser(), label)
    if standardize:
        X = _standardized(X, source)
    return X, y


def source_digest(source: str) -> str:
    """SHA-256 of a file's bytes (f* caches key on it), or of the set's name."""
    if source.startswith(SKLEARN_PREFIX):
        return hashlib.sha256(source.encode()).hexdigest()
    return hashlib.sha256(Path(source).expanduser().read_bytes()).hexdigest()


def _sklearn_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in SKLEARN_SETS:
        raise DataFileError(
            f"data: unknown scikit-learn set {name!r}; allowed: {', '.join(SKLEARN_SETS)}"
        )
    if importlib.util.find_spec("sklearn") is None:
        raise DataFileError(
            f"data: sklearn:{name} needs scikit-learn: pip install 'optbench[data]'"
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return np.ascontiguousarray(bunch.data, dtype=float), np.asarray(bunch.target)


def _standardized(X: Any, source: str) -> np.ndarray:
    if not isinstance(X, np.ndarray):
        raise DataFileError(
            f"{source}: standardize needs a dense design (centring a CSR one fills it)"
        )
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0.0] = 1.0
    X -= mean
    X /= scale
    return X


def _read_file(path: Path, label: str) -> tuple[Any, Any]:
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    compressed = suffixes[-1:] == [".gz"]
    kind = suffixes[-2] if compressed and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if kind in SVMLIGHT_SUFFIXES:
        return _read_svmlight(path, compressed)
    if compressed:
        raise DataFileError(f"{path}: only LIBSVM files may be gzipped; kinds: {FILE_KINDS}")
    if kind == ".npz":
        return _read_npz(path)
    if kind == ".csv":
        return _read_table(path, label, "csv")
    if kind == ".parquet":
        return _read_table(path, label, "parquet")
    raise DataFileError(f"{path}: unknown kind of data file; kinds: {FILE_KINDS}")


def _read_svmlight(path: Path, compressed: bool) -> tuple[Any, np.ndarray]:
    import scipy.sparse

    opener = gzip.open if compressed else open
    labels: list[float] = []
    indptr, indices, values = [0], [], []
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                text = line.split("#", 1)[0].split()
                if not text:
                    continue
                try:
                    labels.append(float(text[0]))
                    previous = 0
                    for item in text[1:]:
                        index_text, value_text = item.split(":")
                        index = int(index_text)
                        if index <= previous:
                            raise ValueError(f"index {index} not above {previous}")
                        indices.append(index - 1)
                        values.append(float(value_text))
                        previous = index
                except ValueError as exc:
                    raise DataFileError(
                        f"{path}: line {number}: expected 'label index:value ...' with "
                        f"increasing 1-based indices ({exc})"
                    ) from None
                indptr.append(len(indices))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from None
    if not labels:
        raise DataFileError(f"{path}: no data lines")
    width = max(indices) + 1 if indices else 0
    X = scipy.sparse.csr_matrix(
        (np.asarray(values, dtype=float), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(labels), width),
    )
    return X, np.asarray(labels)


def _read_npz(path: Path) -> tuple[Any, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: not a readable .npz file ({exc})") from None
    with archive:
        names = set(archive.files)
        if "y" not in names:
            raise DataFileError(f"{path}: no array 'y'; has {', '.join(sorted(names))}")
        y = archive["y"]
        if "X" in names:
            return np.ascontiguousarray(archive["X"], dtype=float), y
        parts = ("X_data", "X_indices", "X_indptr", "X_shape")
        if not names.issuperset(parts):
            raise DataFileError(
                f"{path}: needs 'X' (dense) or {', '.join(parts)} (CSR) besides 'y'"
            )
        import scipy.sparse

        try:
            X = scipy.sparse.csr_matrix(
                (archive["X_data"], archive["X_indices"], archive["X_indptr"]),
                shape=tuple(archive["X_shape"]),
            )
        except ValueError as exc:
            raise DataFileError(f"{path}: inconsistent CSR arrays ({exc})") from None
        return X, y


def _read_table(path: Path, label: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure is one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path}: not a readable {kind} table ({first})") from None
    if label not in frame.columns:
        raise DataFileError(
            f"{path}: no label column {label!r}; columns: {', '.join(map(str, frame.columns))}"
        )
    features = frame.drop(columns=[label])
    numeric = features.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & features.notna()
    if bad.to_numpy().any():
        row, column = np.argwhere(bad.to_numpy())[0]
        where = f"line {row + 2}" if kind == "csv" else f"row {row}"
        raise DataFileError(
            f"{path}: {where}: column {features.columns[column]!r}: not a number: "
            f"{features.iat[row, column]!r}"
        )
    if numeric.isna().to_numpy().any():
        row, column = np.argwhere(numeric.isna().to_numpy())[0]
        where = f"line {row + 2}" if kind == "csv" else f"row {row}"
        raise DataFileError(f"{path}: {where}: column {features.columns[column]!r}: empty")
    return np.ascontiguousarray(numeric.to_numpy(dtype=float)), frame[label].to_numpy()
