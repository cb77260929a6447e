"""The named instances of ``problems/``: loading, validation, and re-certified f*."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import yaml

from optbench.problems import list_problems, make_problem
from optbench.problems.catalog import (
    CERTIFY_GTOL,
    ENV_VAR,
    catalog_entry,
    catalog_names,
    certify_instance,
    load_instance,
    main,
    problems_dir,
)
from optbench.problems.certify import certify
from optbench.registry import PROBLEMS

REQUIRED_INSTANCES = {
    "rosenbrock_2d",
    "rosenbrock_chained_100",
    "rosenbrock_extended_1000",
    "least_squares_ill",
    "logistic_small",
    "logistic_corr",
    "logistic_sparse",
    "softmax_small",
}
# Instances whose certification takes more than about a second; marked slow so that
# `pytest -m "not slow"` stays quick (they still run by default).
SLOW_INSTANCES = {"logistic_corr", "logistic_sparse"}

# The repository's catalog, captured before any test points ENV_VAR elsewhere.
REPO_CATALOG = problems_dir()
# Instances small enough to build here; the large ones (`large: true`, most of them
# certified on first use into the disk cache) are checked without building them in
# tests/test_scale_instances.py.
SMALL_INSTANCES = catalog_names(large=False)


def _instances() -> list:
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW_INSTANCES else name
        for name in SMALL_INSTANCES
    ]


def test_the_required_instances_are_there() -> None:
    assert REQUIRED_INSTANCES.issubset(catalog_names())


def test_instance_names_do_not_shadow_family_names() -> None:
    names = list_problems()  # families first, then instances
    assert not set(PROBLEMS.names()) & set(catalog_names())
    assert len(names) == len(set(names))


def test_small_and_large_instances_partition_the_catalog() -> None:
    assert REQUIRED_INSTANCES.issubset(SMALL_INSTANCES)
    large = catalog_names(large=True)
    assert large and not set(large) & set(SMALL_INSTANCES)
    assert sorted(large + SMALL_INSTANCES) == catalog_names()
    assert all(catalog_entry(name)["certify"] == "stored" for name in SMALL_INSTANCES)


@pytest.mark.parametrize("name", SMALL_INSTANCES)
def test_every_instance_loads_with_its_stored_f_star(name: str) -> None:
    entry = catalog_entry(name)
    assert entry["f_star"] is not None, f"{name} is not certified"
    assert entry["certified"]["grad_norm"] <= entry["certified"]["tolerance"]
    problem = make_problem(name)
    assert problem.name == name
    assert type(problem) is PROBLEMS.get(entry["family"])
    assert problem.f_star == entry["f_star"]
    value = problem.value(problem.x0)
    assert np.isfinite(value) and value >= entry["f_star"]


@pytest.mark.parametrize("name", _instances())
def test_stored_f_star_matches_a_fresh_certification(name: str) -> None:
    # Both values come from points with ||grad f|| <= gtol = 1e-10. For the convex data
    # losses f(x) - f* <= ||grad f||^2 / (2 mu) <= 5e-15 (mu >= 1e-6 here), and
    # evaluating f rounds at about n * eps * |f| ~ 1e-12 |f|; Rosenbrock's f* = 0 is
    # exact. A tolerance of 1e-10 * max(1, |f*|) covers a different BLAS or machine with
    # margin, yet any change of data, parameters or loss (which moves f* by far more
    # than 1e-6) fails.
    entry = catalog_entry(name)
    family = make_problem(entry["family"], **entry["params"])
    certificate = certify(family, gtol=CERTIFY_GTOL)
    # The stored tolerance is CERTIFY_GTOL unless the instance declares a higher
    # float64 floor (certify_gtol, e.g. MGH's Meyer).
    assert certificate.grad_norm <= entry["certified"]["tolerance"]
    assert entry["certified"]["tolerance"] == max(CERTIFY_GTOL, family.certify_gtol or 0.0)
    stored = entry["f_star"]
    assert abs(certificate.f_star - stored) <= 1e-10 * max(1.0, abs(stored))


# --- the catalog machinery, on a temporary folder -------------------------------------


@pytest.fixture
def catalog_dir(tmp_path, monkeypatch):
    """An empty catalog folder that OPTBENCH_PROBLEMS_DIR points to."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    return tmp_path


def _write(folder, stem: str, **fields) -> None:
    """Write ``<stem>.yaml``: a valid uncertified Rosenbrock instance, updated by ``fields``."""
    entry = {
        "name": stem,
        "family": "rosenbrock",
        "params": {"dim": 4},
        "description": "a test instance",
        "f_star": None,
        "certified": None,
    }
    entry.update(fields)
    (folder / f"{stem}.yaml").write_text(yaml.safe_dump(entry, sort_keys=False))


def test_environment_variable_overrides_the_folder(catalog_dir) -> None:
    _write(catalog_dir, "tiny")
    _write(catalog_dir, "another")
    (catalog_dir / "notes.txt").write_text("not an instance")
    assert problems_dir() == catalog_dir
    assert catalog_names() == ["another", "tiny"]


def test_a_missing_override_folder_is_an_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=f"^{ENV_VAR}: not a directory"):
        catalog_names()


def test_load_instance_uses_the_stored_f_star_without_recomputing(catalog_dir) -> None:
    # A deliberately wrong stored value shows that loading never recomputes f*.
    certified = {
        "method": "hand",
        "grad_norm": 0.0,
        "tolerance": 1e-10,
        "date": "2024-01-02",
        "iters": 0,
    }
    _write(catalog_dir, "tiny", f_star=123.5, certified=certified)
    problem = load_instance("tiny")
    assert (problem.name, problem.dim, problem.f_star) == ("tiny", 4, 123.5)
    assert catalog_entry("tiny")["certified"] == certified


def test_certify_instance_writes_f_star_into_the_file(catalog_dir) -> None:
    shutil.copy(REPO_CATALOG / "least_squares_ill.yaml", catalog_dir)
    _write(catalog_dir, "small_ls", family="least_squares", params={"n_features": 5, "l2": 0.1})
    entry = certify_instance("small_ls")
    reread = catalog_entry("small_ls")
    assert reread == entry
    assert math.isfinite(entry["f_star"]) and entry["f_star"] > 0
    assert entry["certified"]["method"] == "cholesky"
    assert entry["certified"]["tolerance"] == CERTIFY_GTOL
    assert entry["certified"]["grad_norm"] <= CERTIFY_GTOL
    text = (catalog_dir / "small_ls.yaml").read_text()
    assert text.startswith("# Named problem instance")
    assert "--certify small_ls" in text
    # Unchanged: the copied instance that was not asked for.
    assert (catalog_dir / "least_squares_ill.yaml").read_text() == (
        REPO_CATALOG / "least_squares_ill.yaml"
    ).read_text()
    assert not list(catalog_dir.glob(".*.tmp"))


def test_certify_script(catalog_dir, capsys) -> None:
    _write(catalog_dir, "tiny")
    assert main(["--all"]) == 0
    assert capsys.readouterr().out.startswith("tiny: f_star = 0.0 (analytic")
    assert catalog_entry("tiny")["f_star"] == 0.0
    assert main(["--certify", "tiyn"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "name: unknown catalog instance 'tiyn' (did you mean 'tiny'?)" in err


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "other"}, "bad.yaml: name: must equal the file name 'bad'"),
        ({"famly": "rosenbrock"}, "bad.yaml: unknown field 'famly' (did you mean 'family'?)"),
        ({"description": ""}, "bad.yaml: description: must be a non-empty one-line string"),
        ({"description": "two\nlines"}, "bad.yaml: description: must be a non-empty one-line"),
        ({"params": [1, 2]}, "bad.yaml: params: must be a mapping"),
        ({"f_star": "zero"}, "bad.yaml: f_star: must be a finite number or null"),
        ({"f_star": 0.0}, "bad.yaml: certified: must be given exactly when f_star is"),
        ({"f_star": 0.0, "certified": {"method": "x"}}, "bad.yaml: certified.grad_norm: missing"),
        (
            {
                "f_star": 0.0,
                "certified": {
                    "method": "m",
                    "grad_norm": 0.0,
                    "tolerance": 1e-10,
                    "date": "yesterday",
                    "iters": 0,
                },
            },
            "bad.yaml: certified.date: must be an ISO date",
        ),
        ({"family": "rosenbrok"}, "bad.yaml: family: unknown problem 'rosenbrok' (did you mean"),
        ({"params": {"dimm": 3}}, "bad.yaml: params: unknown parameter of rosenbrock 'dimm'"),
        ({"params": {"dim": 1}}, "bad.yaml: params: dim: must be an integer >= 2"),
        ({"certify": "later"}, "bad.yaml: certify: must be one of stored, on_first_use"),
        ({"large": "yes"}, "bad.yaml: large: must be true or false"),
        (
            {"certify": "on_first_use", "f_star": 0.0, "certified": {}},
            "bad.yaml: f_star: must be null with certify: on_first_use",
        ),
    ],
)
def test_invalid_files_name_the_file_and_the_field(catalog_dir, fields, message) -> None:
    _write(catalog_dir, "bad", **fields)
    with pytest.raises(ValueError) as info:
        load_instance("bad")
    assert str(info.value).startswith(message)


def test_a_missing_field_and_a_non_mapping_are_reported(catalog_dir) -> None:
    (catalog_dir / "bare.yaml").write_text("name: bare\nfamily: rosenbrock\n")
    with pytest.raises(ValueError, match=r"^bare.yaml: params: missing"):
        catalog_entry("bare")
    (catalog_dir / "scalar.yaml").write_text("just a string\n")
    with pytest.raises(ValueError, match=r"^scalar.yaml: must be a mapping"):
        catalog_entry("scalar")


def test_make_problem_suggests_a_close_instance_name() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'logistic_small'\?"):
        make_problem("logistic_smal")


# --- instances certified on first use -------------------------------------------------


def test_on_first_use_instances_load_without_certifying(catalog_dir, tmp_path, monkeypatch):
    from optbench.problems import certify as certify_module
    from optbench.problems.fstar_cache import ENV_VAR as CACHE_VAR

    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(certify_module, "certify", lambda *a, **k: calls.append(a))
    _write(
        catalog_dir,
        "lazy",
        family="logistic",
        params={"n_samples": 50, "n_features": 3},
        certify="on_first_use",
    )
    entry = catalog_entry("lazy")
    assert (entry["certify"], entry["f_star"], entry["certified"]) == ("on_first_use", None, None)
    problem = load_instance("lazy")
    assert problem.f_star_disk_cache is True and calls == []


def test_certify_script_on_an_on_first_use_instance_fills_the_cache_not_the_file(
    catalog_dir, tmp_path, monkeypatch, capsys
):
    from optbench.problems.certify import cache_key
    from optbench.problems.fstar_cache import ENV_VAR as CACHE_VAR
    from optbench.problems.fstar_cache import read_entry

    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    _write(
        catalog_dir,
        "lazy",
        family="logistic",
        params={"n_samples": 60, "n_features": 4, "l2": 0.01},
        certify="on_first_use",
    )
    before = (catalog_dir / "lazy.yaml").read_text()
    assert main(["--certify", "lazy"]) == 0
    assert "cached in" in capsys.readouterr().out
    assert (catalog_dir / "lazy.yaml").read_text() == before
    cached = read_entry(cache_key(load_instance("lazy")))
    fresh = certify(make_problem("logistic", n_samples=60, n_features=4, l2=0.01))
    assert cached is not None and cached["name"] == "lazy"
    assert cached["f_star"] == fresh.f_star and cached["tolerance"] == CERTIFY_GTOL


def _write_table(folder, stem: str, rows: list[dict], family: str | None = None) -> None:
    """Write suite table ``<stem>.yaml`` with ``rows``, with a top-level family if given."""
    table: dict = {"suite": stem, "description": "a test table"}
    if family is not None:
        table["family"] = family
    table["instances"] = [
        {"params": {"dim": 4}, "description": "a row", "f_star": None, "certified": None, **row}
        for row in rows
    ]
    (folder / f"{stem}.yaml").write_text(yaml.safe_dump(table, sort_keys=False))


def test_a_table_without_top_level_family_takes_each_rows_family(catalog_dir) -> None:
    _write_table(
        catalog_dir,
        "mixed",
        [
            {"name": "mixed_rosen", "family": "rosenbrock"},
            {"name": "mixed_ls", "family": "least_squares", "params": {"n_samples": 20, "dim": 3}},
        ],
    )
    assert catalog_entry("mixed_rosen")["family"] == "rosenbrock"
    assert catalog_entry("mixed_ls")["family"] == "least_squares"


def test_a_row_without_family_in_a_table_without_family_is_one_line(catalog_dir) -> None:
    _write_table(catalog_dir, "mixed", [{"name": "mixed_a", "family": "rosenbrock"}, {"name": "b"}])
    with pytest.raises(ValueError, match=r"^mixed\.yaml: b: family: missing") as info:
        catalog_entry("b")
    assert "\n" not in str(info.value)


def test_a_row_repeating_the_tables_family_is_refused(catalog_dir) -> None:
    _write_table(catalog_dir, "one", [{"name": "one_a", "family": "rosenbrock"}], "rosenbrock")
    with pytest.raises(ValueError, match=r"^one\.yaml: one_a: family: set once for the suite"):
        catalog_entry("one_a")
