"""Convergence regression checks end to end (issue 5).

The shipped quick start is run and compared with the committed baseline
``results/baselines/quickstart/``: CI fails when a change makes a shipped solver
converge worse. A deliberately weakened Newton-CG (one CG iteration per step) must be
caught by ``optbench compare``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import optbench
import optbench.solvers.newton_cg
from optbench.analysis.compare import compare_results
from optbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "results" / "baselines" / "quickstart"

TINY = {
    "name": "tiny_newton_cg",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [{"name": "newton_cg"}, {"name": "gd", "params": {"step_size": "armijo"}}],
    "stop": {"gtol": 1e-8, "max_iter": 200},
    "targets": [1e-4, 1e-8],
    "seeds": [0, 1],
    "jobs": 1,
}


def _run(config: dict | Path, out: Path) -> Path:
    optbench.run(config, out=out, jobs=1, progress=False, plot=False)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return _run(TINY, tmp_path_factory.mktemp("reference") / "run")


def test_quickstart_matches_the_committed_baseline(tmp_path):
    new = _run(ROOT / "configs" / "quickstart.yaml", tmp_path / "quickstart")
    comparison = compare_results(new, BASELINE, metric="iters")
    assert comparison.exit_code == 0, comparison.table()


def test_identical_runs_compare_clean(reference, tmp_path, capsys):
    again = _run(TINY, tmp_path / "again")
    assert main(["compare", str(again), str(reference)]) == 0


def test_weakened_newton_cg_is_a_regression(reference, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(optbench.solvers.newton_cg, "cg_iteration_cap", lambda cap, dim: 1)
    weakened = _run(TINY, tmp_path / "weakened")
    capsys.readouterr()
    assert main(["compare", str(weakened), str(reference)]) == 1
    rows = [line.split("|")[1:4] for line in capsys.readouterr().out.splitlines()]
    named = {tuple(cell.strip() for cell in row) for row in rows if len(row) == 3}
    for problem in TINY["problems"]:
        for seed in TINY["seeds"]:
            assert (problem, "newton_cg", str(seed)) in named
    assert not any(solver.startswith("gd") for _, solver, _ in named)


def test_unmatched_directories_exit_2_with_one_line(reference, tmp_path, capsys):
    other = _run({**TINY, "seeds": [0]}, tmp_path / "fewer_seeds")
    capsys.readouterr()
    assert main(["compare", str(other), str(reference)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["compare", str(tmp_path / "missing"), str(reference)]) == 2
