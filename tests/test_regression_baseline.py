"""Convergence regression checks end to end.

The shipped quick start is run and compared with the committed baseline
``results/baselines/quickstart/``: CI fails when a change makes a shipped solver
converge worse, on the baseline's numerical stack exactly and elsewhere with the
cross-stack tolerance. A deliberately weakened Newton-CG (one CG iteration per step)
must be caught by ``optbench compare`` on the same stack and across stacks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import optbench
import optbench.solvers.truncated_cg
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


@pytest.fixture(scope="module")
def reference_elsewhere(reference, tmp_path_factory) -> Path:
    """``reference`` with its fingerprint edited to another CPU and BLAS kernel."""
    copy = tmp_path_factory.mktemp("elsewhere") / "run"
    shutil.copytree(reference, copy)
    path = copy / "environment.json"
    environment = json.loads(path.read_text())
    stack = environment["stack"]
    stack["numpy_simd"] = "X86_V3" if stack["numpy_simd"] != "X86_V3" else "X86_V2"
    stack["blas"] = "openblas 0.3.30 Zen (scipy); openblas 0.3.30 Zen (numpy)"
    stack["cpu_flags"] = "sse2 pni ssse3 sse4_1 sse4_2 avx f16c fma avx2"
    path.write_text(json.dumps(environment))
    return copy


def test_identical_runs_compare_clean(reference, tmp_path, capsys):
    again = _run(TINY, tmp_path / "again")
    assert main(["compare", str(again), str(reference)]) == 0


def test_weakened_newton_cg_is_a_regression(reference, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(optbench.solvers.truncated_cg, "cg_iteration_cap", lambda cap, dim: 1)
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


def test_weakened_newton_cg_is_caught_across_stacks(
    reference_elsewhere, tmp_path, monkeypatch, capsys
):
    """The cross-stack tolerance still sees one CG iteration per step."""
    monkeypatch.setattr(optbench.solvers.truncated_cg, "cg_iteration_cap", lambda cap, dim: 1)
    weakened = _run(TINY, tmp_path / "weakened")
    capsys.readouterr()
    assert main(["compare", str(weakened), str(reference_elsewhere)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Different numerical stacks (")
    assert "numpy_simd" in lines[0] and "blas" in lines[0] and "cpu_flags" in lines[0]
    flagged = {line.split("|")[2].strip() for line in lines if line.startswith("| ")}
    assert flagged == {"solver", "newton_cg"}  # the header row, then newton_cg only


def test_identical_runs_compare_clean_across_stacks(reference, reference_elsewhere, capsys):
    assert main(["compare", str(reference), str(reference_elsewhere)]) == 0
    assert capsys.readouterr().out.startswith("Different numerical stacks (")
