"""The shipped experiment configs run end to end: runs, report, every kind of figure.

``quickstart.yaml`` runs in ``test_regression_baseline.py``; ``ml_losses.yaml`` takes
about half a minute, so only its expansion is checked (``test_config.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import optbench
from optbench.analysis.plot_kinds import write_plots
from optbench.analysis.report import build_report
from optbench.run.experiment import exit_code

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["gd_stepsize_sweep", "newton_vs_cg"])
def test_shipped_config_runs_reports_and_plots(name, tmp_path):
    results = optbench.run(CONFIGS / f"{name}.yaml", out=tmp_path / name, progress=False)
    assert exit_code(results) == 0
    assert results.complete
    report = build_report(results)
    for problem in results.summary["problem"].unique():
        assert problem in report
    drawn = list((tmp_path / name / "plots").iterdir())  # the default figures, as SVG
    assert {"convergence_grid.svg", "performance_profile.svg"} <= {p.name for p in drawn}
    for path in drawn:
        assert path.suffix == ".svg" and path.read_bytes()[:5] == b"<?xml", path
    files = []
    for kind in ("profile", "data-profile", "ecdf", "sensitivity"):
        files += write_plots(results, kind)  # optbench plot: PNG by default
    assert any(path.name == "performance_profile.png" for path in files)
    for path in files:
        assert path.read_bytes()[:8] == PNG_MAGIC, path
