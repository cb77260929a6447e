"""Real data: scikit-learn's sets as named instances (f* against scikit-learn), data files."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from optbench import make_problem
from optbench.checks import check_derivatives
from optbench.cli import main
from optbench.problems.catalog import catalog_entry
from optbench.problems.data_sources import SKLEARN_SHAPES, DataFileError, load_source
from optbench.problems.linear_model import loaded_source
from optbench.problems.suites import suite_entries

sklearn = pytest.importorskip("sklearn", reason="needs the extra: pip install 'optbench[data]'")

REAL = ["logistic_breast_cancer", "softmax_digits", "softmax_wine", "softmax_iris",
        "least_squares_diabetes"]  # fmt: skip


def _independent_optimum(problem) -> np.ndarray:
    """scikit-learn's solution of the same loss: C = 1/(n l2), alpha = n l2, no intercept."""
    from sklearn.linear_model import LogisticRegression, Ridge

    n = problem.n_samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem.registry_name == "least_squares":
            model = Ridge(alpha=n * problem.l2, fit_intercept=False, solver="cholesky")
            return model.fit(problem.A, problem.b).coef_
        # Newton-Cholesky for the binary loss; L-BFGS for the multinomial one (its
        # Newton-Cholesky forms a (d K)^2 Hessian: 30 s on digits, against 1 s).
        binary = problem.registry_name == "logistic"
        model = LogisticRegression(
            C=1.0 / (n * problem.l2), fit_intercept=False, tol=1e-14 if binary else 1e-10,
            max_iter=5000,
            solver="newton-cholesky" if binary else "lbfgs",
        )  # fmt: skip
        coef = model.fit(problem.X, problem.y).coef_
    return coef.ravel() if problem.registry_name == "logistic" else coef.T.ravel()


@pytest.mark.parametrize("name", REAL)
def test_certified_f_star_matches_scikit_learn(name: str) -> None:
    problem = make_problem(name)
    assert problem.f_star == catalog_entry(name)["f_star"]
    assert problem.value(_independent_optimum(problem)) == pytest.approx(
        problem.f_star, rel=1e-9, abs=1e-9
    )


@pytest.mark.parametrize("name", REAL)
def test_derivatives_dense_and_csr(name: str) -> None:
    problem = make_problem(name)
    assert check_derivatives(problem).passed
    design = problem.A if problem.registry_name == "least_squares" else problem.X
    targets = problem.b if problem.registry_name == "least_squares" else problem.y
    names = problem.data_names
    sparse = make_problem(
        problem.registry_name,
        **{names[0]: scipy.sparse.csr_matrix(design), names[1]: targets, "l2": problem.l2},
    )
    assert check_derivatives(sparse).passed
    x = np.random.default_rng(0).normal(size=problem.dim)
    assert sparse.value(x) == pytest.approx(problem.value(x), rel=1e-12)


def test_sizes_known_without_loading() -> None:
    for name, (n, d, _) in SKLEARN_SHAPES.items():
        X, y = load_source(f"sklearn:{name}")
        assert X.shape == (n, d) and y.shape == (n,)
    dims = {entry.name: entry.dimension for entry in suite_entries("ml_real")}
    assert dims == {name: make_problem(name).dim for name in REAL}


def test_standardized_columns() -> None:
    X, _ = load_source("sklearn:digits", standardize=True)
    std = X.std(axis=0)
    assert np.allclose(X.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(std[std > 0], 1.0) and (std == 0).sum() > 0  # constant pixels stay 0


@pytest.fixture
def files(tmp_path, monkeypatch):
    """One small classification data set written in every format."""
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    X[X < -0.5] = 0.0
    y = (X @ [1.0, -2.0, 0.5] + 0.3 * rng.normal(size=40) > 0).astype(int)
    lines = [
        " ".join([str(label)] + [f"{j + 1}:{float(v)!r}" for j, v in enumerate(row) if v != 0.0])
        for row, label in zip(X, y, strict=True)
    ]
    (tmp_path / "d.svm").write_text("\n".join(lines) + "\n")
    with gzip.open(tmp_path / "d.libsvm.gz", "wt") as stream:
        stream.write("\n".join(lines) + "\n")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    csr = scipy.sparse.csr_matrix(X)
    np.savez(tmp_path / "s.npz", X_data=csr.data, X_indices=csr.indices, X_indptr=csr.indptr,
             X_shape=csr.shape, y=y)  # fmt: skip
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y)
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    return tmp_path, X, y


def test_every_format_gives_the_same_problem(files) -> None:
    folder, X, y = files
    reference = make_problem("logistic", X=X, y=y, l2=1e-2)
    x = np.array([0.3, -0.2, 0.1])
    cases = [
        ("d.svm", "y", True),
        ("d.libsvm.gz", "y", True),
        ("d.npz", "y", False),
        ("s.npz", "y", True),
        ("d.csv", "label", False),
        ("d.parquet", "label", False),
    ]
    for name, label, sparse in cases:
        problem = make_problem("logistic", data=str(folder / name), label=label, l2=1e-2)
        assert scipy.sparse.issparse(problem.X) == sparse, name
        assert problem.value(x) == pytest.approx(reference.value(x), rel=1e-12), name
        loaded, _ = loaded_source(str(folder / name), label, False)
        assert problem.X is loaded  # the loaded arrays themselves: never copied
        assert problem.f_star == pytest.approx(reference.f_star, rel=1e-9), name


def test_f_star_is_cached_on_disk_by_content(files) -> None:
    folder, _, _ = files
    path = folder / "d.npz"
    make_problem("logistic", data=str(path), l2=1e-2).f_star  # noqa: B018
    cached = list((folder / "cache" / "f_star").glob("*.json"))
    assert len(cached) == 1
    data = dict(np.load(path))
    data["y"] = 1 - data["y"]
    np.savez(path, **data)  # new content, same name
    make_problem("logistic", data=str(path), l2=1e-2).f_star  # noqa: B018
    assert len(list((folder / "cache" / "f_star").glob("*.json"))) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.svm", "1 1:0.5 2:x\n", r"bad\.svm: line 1: expected 'label index:value"),
        ("bad2.svm", "1 2:0.5\n0 3:1 2:1\n", r"bad2\.svm: line 2: .*index 2 not above 3"),
        ("bad.csv", "a,b,y\n1,2,0\n3,oops,1\n", r"bad\.csv: line 3: column 'b': not a number"),
        ("nolabel.csv", "a,b\n1,2\n", r"no label column 'y'; columns: a, b"),
        ("bad.npz", "not an archive", r"bad\.npz: not a readable \.npz file"),
        ("bad.txt", "1 2 3\n", r"unknown kind of data file"),
        ("bad.parquet", "PAR1 not a table", r"bad\.parquet: not a readable parquet table"),
    ],
)
def test_malformed_files_are_one_line(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        make_problem("logistic", data=str(path))


def test_bad_npz_arrays_are_one_line(tmp_path) -> None:
    csr = tmp_path / "csr.npz"
    # indptr says 3 stored values, data has 2: scipy refuses, the loader names the file.
    np.savez(csr, X_data=[1.0, 2.0], X_indices=[0, 1], X_indptr=[0, 1, 3], X_shape=[2, 2],
             y=[0, 1])  # fmt: skip
    with pytest.raises(DataFileError, match=r"csr\.npz: inconsistent CSR arrays"):
        make_problem("logistic", data=str(csr))
    partial = tmp_path / "partial.npz"
    np.savez(partial, X_data=[1.0], y=[0])
    with pytest.raises(DataFileError, match=r"partial\.npz: needs 'X' \(dense\) or X_data"):
        make_problem("logistic", data=str(partial))
    no_labels = tmp_path / "nolabels.npz"
    np.savez(no_labels, X=np.ones((2, 2)))
    with pytest.raises(DataFileError, match=r"nolabels\.npz: no array 'y'; has X"):
        make_problem("logistic", data=str(no_labels))


def test_missing_scikit_learn_names_the_extra(monkeypatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def without_sklearn(name, *args, **kwargs):
        return None if name == "sklearn" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_sklearn)
    with pytest.raises(DataFileError, match=r"sklearn:iris needs scikit-learn: pip install"):
        load_source("sklearn:iris")


def test_bad_sources_from_the_cli(tmp_path, capsys) -> None:
    (tmp_path / "bad.csv").write_text("a,y\nx,1\n")
    assert main(["check", "logistic", "--param", f"data={tmp_path / 'bad.csv'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv: line 2: column 'a': not a number" in err
    assert main(["check", "softmax", "--param", "data=sklearn:mnist"]) == 2
    assert "unknown scikit-learn set 'mnist'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="give data, or X and y, not both"):
        make_problem("logistic", data="sklearn:iris", X=np.ones((2, 2)), y=[0, 1])
    with pytest.raises(ValueError, match="n_samples: only for synthetic data"):
        make_problem("logistic", data="sklearn:breast_cancer", n_samples=10)
