"""Large instances without building them: the CSR generator at small sizes, the on-disk
f* cache, the catalog entries of the large instances, and thread-safe logistic kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import yaml

from optbench.problems import data as data_module
from optbench.problems import family_parameters
from optbench.problems.catalog import catalog_entry
from optbench.problems.certify import cache_key, certify, clear_f_star_cache
from optbench.problems.data import sparse_features_exact
from optbench.problems.fstar_cache import ENV_VAR, cache_dir, entry_path, read_entry
from optbench.problems.logistic import Logistic

REPO_ROOT = Path(__file__).resolve().parents[1]


def csr_bytes(X) -> int:
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def assert_canonical_csr(X, shape: tuple[int, int], nnz: int) -> None:
    assert isinstance(X, scipy.sparse.csr_array)
    assert X.shape == shape and X.nnz == nnz and X.data.size == nnz
    assert X.indices.dtype == np.int32 and X.indptr.dtype == np.int32
    assert X.data.dtype == np.float64 and np.isfinite(X.data).all()
    assert X.indptr[0] == 0 and X.indptr[-1] == nnz
    assert (np.diff(X.indptr) >= 0).all() and (np.diff(X.indptr) <= shape[1]).all()
    assert X.indices.min() >= 0 and X.indices.max() < shape[1]
    rows = np.repeat(np.arange(shape[0]), np.diff(X.indptr))
    keys = rows.astype(np.int64) * shape[1] + X.indices
    assert (np.diff(keys) > 0).all()  # sorted within rows, no duplicate positions
    X.check_format(full_check=True)


# --------------------------------------------------------------------------- generator


@pytest.mark.parametrize(
    ("n", "d", "nnz"),
    [(500, 80, 2_000), (40, 30, 1_200), (7, 5, 35), (30, 1, 17), (1, 100, 1), (64, 20, 1_000)],
    ids=["sparse", "full", "complete", "one-column", "one-entry", "dense-rows"],
)
def test_exact_nnz_and_canonical_csr(n, d, nnz) -> None:
    X = sparse_features_exact(n, d, nnz, np.random.default_rng(3))
    assert_canonical_csr(X, (n, d), nnz)
    assert X.nnz / (n * d) == nnz / (n * d)  # density exactly as asked
    if nnz == n * d:
        np.testing.assert_array_equal(X.indices, np.tile(np.arange(d), n))


def test_several_row_blocks_give_the_same_invariants(monkeypatch) -> None:
    monkeypatch.setattr(data_module, "SPARSE_BLOCK_ROWS", 16)
    X = sparse_features_exact(1_000, 50, 6_000, np.random.default_rng(0))
    assert_canonical_csr(X, (1_000, 50), 6_000)


def test_reproducible_from_the_seed() -> None:
    first, again, other = (
        sparse_features_exact(300, 200, 3_000, np.random.default_rng(seed)) for seed in (5, 5, 6)
    )
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.indices, other.indices)


def test_positions_and_values_look_uniform_and_normal() -> None:
    n, d, nnz = 4_000, 50, 40_000
    X = sparse_features_exact(n, d, nnz, np.random.default_rng(1))
    per_column = np.bincount(X.indices, minlength=d)
    expected = nnz / d  # 800 each; binomial standard deviation about 28
    assert np.abs(per_column - expected).max() < 6 * np.sqrt(expected)
    per_row = np.diff(X.indptr)
    assert abs(per_row.mean() - nnz / n) < 1e-12
    assert 0.5 * nnz / n < per_row.var() < 1.5 * nnz / n  # multinomial: about Poisson
    assert abs(X.data.mean()) < 0.05 and abs(X.data.std() - 1.0) < 0.05


def test_no_dense_intermediate() -> None:
    n, d, nnz = 20_000, 2_000, 40_000  # a dense copy would be 320 MB
    tracemalloc.start()
    try:
        X = sparse_features_exact(n, d, nnz, np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert X.nnz == nnz
    # The CSR arrays (0.56 MB) plus length-n counts and block temporaries: a few MB.
    assert peak < 8 * csr_bytes(X) < n * d * 8 / 50


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"nnz": 0}, "^nnz: must be an integer >= 1"),
        ({"nnz": 10 * 4 + 1}, "^nnz: must be at most"),
        ({"nnz": 2.5}, "^nnz: must be an integer >= 1"),
    ],
)
def test_generator_rejects_bad_nnz(arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        sparse_features_exact(10, 4, rng=np.random.default_rng(0), **arguments)


def test_logistic_with_nnz_builds_exact_csr_data() -> None:
    problem = Logistic(n_samples=300, n_features=40, nnz=1_000, l2=1e-3, seed=2)
    assert_canonical_csr(problem.X, (300, 40), 1_000)
    assert problem.params["nnz"] == 1_000 and problem.params["density"] is None
    assert "nnz" not in Logistic(n_samples=30, n_features=4, density=0.5).params
    assert set(np.unique(problem.y)) == {-1.0, 1.0}


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"nnz": 100, "density": 0.1}, "nnz"),
        ({"nnz": 100, "rho": 0.3}, "rho"),
        ({"nnz": 30 * 4 + 1}, "nnz"),
        ({"nnz": -3}, "nnz"),
        ({"nnz": 5, "X": np.ones((3, 2)), "y": [1, -1, 1]}, "nnz"),
    ],
)
def test_logistic_nnz_errors_name_the_parameter(arguments, name) -> None:
    arguments = {"n_samples": 30, "n_features": 4, **arguments}
    if "X" in arguments:
        del arguments["n_samples"], arguments["n_features"]
    with pytest.raises(ValueError, match=f"^{name}: "):
        Logistic(**arguments)


# --------------------------------------------------------------------------- disk cache


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    """An empty cache folder that OPTBENCH_CACHE_DIR points to; no in-memory f*."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_VAR, str(folder))
    clear_f_star_cache()
    yield folder
    clear_f_star_cache()


def cached_problem(**params) -> Logistic:
    problem = Logistic(**{"n_samples": 120, "n_features": 5, "l2": 1e-2, "seed": 4, **params})
    problem.f_star_disk_cache = True
    return problem


def test_cache_dir_honours_the_environment_and_defaults_to_the_user_cache(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert entry_path("ab12") == tmp_path / "mine" / "f_star" / "ab12.json"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):  # platformdirs follows the XDG rule there too
        assert cache_dir() == tmp_path / "xdg" / "optbench"
    with pytest.raises(ValueError, match="^key: "):
        entry_path("../escape")


def test_second_load_reads_the_disk_instead_of_certifying(disk_cache, certify_calls) -> None:
    first = cached_problem().f_star
    assert len(certify_calls) == 1
    path = entry_path(cache_key(cached_problem()))
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    stored = json.loads(path.read_text())
    assert stored["f_star"] == first and stored["grad_norm"] <= stored["tolerance"] == 1e-10
    clear_f_star_cache()  # as in a new process: only the disk remembers
    assert cached_problem().f_star == first
    assert len(certify_calls) == 1
    assert cached_problem(seed=5).f_star != first  # another instance, another key
    assert len(certify_calls) == 2


def test_problems_without_the_flag_never_touch_the_disk(disk_cache, certify_calls) -> None:
    problem = Logistic(n_samples=100, n_features=4, seed=1)
    assert problem.f_star == certify(problem).f_star
    assert not disk_cache.exists()


CORRUPTIONS = {
    "not json": "{ truncated",
    "not an object": "[1, 2]",
    "missing field": json.dumps({"f_star": 0.5}),
    "nan": "NAN_ENTRY",
    "other key": "OTHER_KEY_ENTRY",
    "bad iters": "BAD_ITERS_ENTRY",
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_file_is_ignored_with_a_warning_and_rewritten(
    disk_cache, certify_calls, corruption
) -> None:
    reference = cached_problem().f_star
    path = entry_path(cache_key(cached_problem()))
    valid = json.loads(path.read_text())
    text = CORRUPTIONS[corruption]
    if text == "NAN_ENTRY":
        text = json.dumps(dict(valid, f_star=float("nan")))
    elif text == "OTHER_KEY_ENTRY":
        text = json.dumps(dict(valid, key="0" * 64))
    elif text == "BAD_ITERS_ENTRY":
        text = json.dumps(dict(valid, iters=-1))
    path.write_text(text)
    clear_f_star_cache()
    with pytest.warns(RuntimeWarning, match="ignoring corrupt f\\* cache file"):
        assert cached_problem().f_star == reference
    assert len(certify_calls) == 2
    assert read_entry(cache_key(cached_problem()))["f_star"] == reference


def test_a_looser_certificate_is_recomputed(disk_cache, certify_calls) -> None:
    assert cached_problem().f_star is not None
    path = entry_path(cache_key(cached_problem()))
    path.write_text(json.dumps(dict(json.loads(path.read_text()), tolerance=1e-6)))
    clear_f_star_cache()
    with pytest.warns(RuntimeWarning, match="certifying again"):
        assert cached_problem().f_star is not None
    assert len(certify_calls) == 2


def test_an_unwritable_cache_warns_and_still_gives_f_star(disk_cache, certify_calls) -> None:
    disk_cache.write_text("a file where the folder should be")
    with pytest.warns(RuntimeWarning, match="could not write the f\\* cache file"):
        value = cached_problem().f_star
    assert value == certify(Logistic(n_samples=120, n_features=5, l2=1e-2, seed=4)).f_star


def test_another_process_reads_the_cache_of_a_catalog_instance(tmp_path) -> None:
    catalog, cache = tmp_path / "catalog", tmp_path / "cache"
    catalog.mkdir()
    entry = {
        "name": "lazy",
        "family": "logistic",
        "params": {"n_samples": 80, "n_features": 3, "l2": 0.01},
        "description": "a small instance certified on first use",
        "certify": "on_first_use",
        "f_star": None,
        "certified": None,
    }
    (catalog / "lazy.yaml").write_text(yaml.safe_dump(entry, sort_keys=False))
    script = (
        "import optbench.problems.certify as c, optbench\n"
        "p = optbench.make_problem('lazy')\n"
        "if {forbid}:\n"
        "    c.certify = lambda *a, **k: (_ for _ in ()).throw(AssertionError('recomputed'))\n"
        "print(repr(p.f_star))\n"
    )
    environment = dict(
        os.environ,
        OPTBENCH_PROBLEMS_DIR=str(catalog),
        OPTBENCH_CACHE_DIR=str(cache),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script.format(forbid=forbid)],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for forbid in (False, True)
    ]
    assert outputs[0] == outputs[1] and float(outputs[0]) > 0
    assert len(list((cache / "f_star").glob("*.json"))) == 1


# --------------------------------------------------------------------------- catalog


LARGE = {
    "logistic_sparse_large": (
        "logistic",
        {"n_samples": 1_000_000, "n_features": 100_000, "nnz": 10_000_000},
    ),
    "least_squares_large": ("least_squares", {"n_samples": 200_000, "n_features": 500}),
    "softmax_large": ("softmax", {"n_samples": 100_000, "n_features": 100, "n_classes": 10}),
    "rosenbrock_extended_1e6": ("rosenbrock", {"dim": 1_000_000, "variant": "extended"}),
}


@pytest.mark.parametrize("name", list(LARGE))
def test_large_entries_parse_with_the_sizes_of_the_issue(name) -> None:
    entry = catalog_entry(name)  # reads the YAML only: nothing is built
    family, sizes = LARGE[name]
    assert entry["family"] == family and entry["large"] is True
    assert {key: entry["params"][key] for key in sizes} == sizes
    assert set(entry["params"]) <= set(family_parameters(family))
    if family == "rosenbrock":
        assert (entry["certify"], entry["f_star"]) == ("stored", 0.0)
        assert entry["certified"]["method"] == "analytic"
    else:
        assert (entry["certify"], entry["f_star"], entry["certified"]) == (
            "on_first_use",
            None,
            None,
        )
    if family in ("logistic", "softmax"):
        assert entry["params"]["l2"] > 0  # strongly convex: a unique, attained minimum


def test_large_instances_are_left_out_of_the_small_catalog() -> None:
    from optbench.problems.catalog import catalog_names

    assert sorted(LARGE) == catalog_names(large=True)
    assert not set(LARGE) & set(catalog_names(large=False))


def test_large_logistic_data_is_sparse_enough_for_its_memory_budget() -> None:
    params = catalog_entry("logistic_sparse_large")["params"]
    n, d, nnz = params["n_samples"], params["n_features"], params["nnz"]
    assert max(n, d, nnz) < np.iinfo(np.int32).max  # int32 indices: 12 bytes a non-zero
    assert nnz * 12 + (n + 1) * 4 < 0.01 * n * d * 8  # CSR under 1% of a dense copy


# --------------------------------------------------------------------------- kernels


def test_logistic_scratch_buffers_are_per_thread() -> None:
    problem = Logistic(n_samples=2_000, n_features=60, nnz=8_000, l2=1e-3, seed=0)
    rng = np.random.default_rng(0)
    points = [rng.standard_normal(problem.dim) for _ in range(2)]
    v = rng.standard_normal(problem.dim)
    fresh = Logistic(n_samples=2_000, n_features=60, nnz=8_000, l2=1e-3, seed=0)
    expected = [(fresh.value_and_grad(x), fresh.hvp(x, v)) for x in points]
    barrier, failures = threading.Barrier(2), []

    def work(index: int) -> None:
        barrier.wait()
        for _ in range(200):
            value, gradient = problem.value_and_grad(points[index])
            product = problem.hvp(points[index], v)
            (want_value, want_gradient), want_product = expected[index]
            if not (
                value == want_value
                and np.array_equal(gradient, want_gradient)
                and np.array_equal(product, want_product)
            ):
                failures.append(index)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
