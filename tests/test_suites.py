"""Suites: catalog tables, synthetic, registered ones; in configs and `optbench list`."""

from __future__ import annotations

import pytest

from optbench import make_problem
from optbench.cli import main
from optbench.problems.catalog import catalog_entry, catalog_names
from optbench.problems.suites import (
    SuiteEntry,
    _registered,
    register_suite,
    suite_entries,
    suite_names,
    suite_table,
)
from optbench.registry import PROBLEMS
from optbench.run.config import ConfigError, load_config

BASE = {"name": "suites", "solvers": [{"name": "newton_cg"}]}


@pytest.fixture
def tiny_suite():
    """A registered suite of two family instances (removed afterwards)."""
    entries = [
        SuiteEntry("rosen_3", "rosenbrock", {"dim": 3}, 3, "analytic", named=False),
        SuiteEntry("rosen_40", "rosenbrock", {"dim": 40}, 40, "analytic", named=False),
    ]
    register_suite("tiny", "Two Rosenbrocks.", lambda: entries)
    yield entries
    _registered.pop("tiny", None)


def test_catalog_tables_and_the_synthetic_suite_are_suites() -> None:
    names = suite_names()
    assert {"catalog", "mgh", "synthetic"} <= set(names)
    mgh = suite_entries("mgh")
    assert [e.name for e in mgh] == catalog_names(suite="mgh")
    assert all(e.family == "mgh" and e.named for e in mgh)
    small = suite_entries("mgh", max_dim=3)
    assert small and all(e.dimension <= 3 for e in small) and len(small) < len(mgh)
    synthetic = {e.name for e in suite_entries("synthetic")}
    assert synthetic <= set(catalog_names(suite="catalog")) and "logistic_small" in synthetic


def test_dimension_without_building_matches_the_built_instance() -> None:
    names = ["rosenbrock_2d", "least_squares_ill", "logistic_small", "softmax_small"]
    for name in [*names, *catalog_names(suite="mgh")]:
        entry = catalog_entry(name)
        cls = PROBLEMS.get(entry["family"])
        assert cls.dimension(cls.check_params(**entry["params"])) == make_problem(name).dim
    params = {"n_samples": 30, "n_features": 4, "fit_intercept": True}
    logistic = PROBLEMS.get("logistic")
    assert (
        logistic.dimension(logistic.check_params(**params))
        == make_problem("logistic", **params).dim
    )


def test_unknown_suite_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"unknown suite 'mhg' \(did you mean 'mgh'\?\)"):
        suite_entries("mhg")
    with pytest.raises(ValueError, match="catalog suite already"):
        register_suite("mgh", "again", list)


def test_config_items_expand_into_the_suite(tiny_suite) -> None:
    config = load_config({**BASE, "problems": [{"suite": "mgh", "max_dim": 2}]})
    expected = [e.name for e in suite_entries("mgh", max_dim=2)]
    assert [run.problem.label for run in config.runs] == expected
    config = load_config({**BASE, "problems": [{"suite": "tiny", "max_dim": 10}]})
    (run,) = config.runs
    assert (run.problem.name, run.problem.params) == ("rosenbrock", {"dim": 3})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"suite": "mhg"}, r"problems\[0\]\.suite: unknown suite 'mhg' \(did you mean 'mgh'"),
        ({"suite": "mgh", "max_dim": 0}, r"problems\[0\]\.max_dim: must be >= 1"),
        ({"suite": "mgh", "max_dim": 1}, "no instance of suite 'mgh' has at most 1 variables"),
        ({"name": "rosenbrock_2d", "max_dim": 3}, "max_dim only with suite"),
        ({"suite": "mgh", "params": {"n": 2}}, "params only with family"),
    ],
)
def test_bad_suite_items_are_one_line(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**BASE, "problems": [entry]})


def test_list_suites_and_a_suite(capsys, tiny_suite) -> None:
    assert main(["list", "suites"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["suite", "instances", "dimensions", "f*"]
    rows = {row["suite"]: row for row in suite_table()}
    assert rows["tiny"]["dimensions"] == "3–40" and rows["tiny"]["instances"] == 2
    assert main(["list", "problems", "--suite", "tiny", "--max-dim", "5"]) == 0
    out = capsys.readouterr().out
    assert "rosen_3" in out and "rosen_40" not in out
    assert main(["list", "problems", "--suite", "mhg"]) == 2
    assert "did you mean 'mgh'" in capsys.readouterr().err
    assert main(["list", "problems", "--max-dim", "3"]) == 2
    assert main(["list", "solvers", "--suite", "mgh"]) == 2
