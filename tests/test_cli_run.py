"""The ``run``, ``list``, ``report`` and ``plot`` sub-commands end to end, in-process."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from optbench.cli import main
from optbench.registry import SOLVERS
from optbench.solvers.base import Solver, State

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_START = b'<?xml version="1.0" encoding="utf-8" standalone="no"?>\n<!DOCTYPE svg'
TINY = {
    "name": "cli_tiny",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [{"name": "gd", "params": {"step_size": [1e-3, "armijo"]}}, {"name": "newton_cg"}],
    "stop": {"gtol": 1e-6, "max_iter": 100},
    "targets": [1e-2, 1e-6],
    "seeds": [0, 1],
}


def write_config(path: Path, config: dict | str) -> Path:
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    out = folder / "out"
    assert (
        main(["run", str(write_config(folder / "c.yaml", TINY)), "--out", str(out), "--quiet"]) == 0
    )
    return out


def test_run_writes_results_report_and_figures(finished):
    names = ("config.yaml", "runs.csv", "summary.csv", "traces.parquet", "report.md", "report.html")
    for name in names:
        assert (finished / name).is_file(), name
    figures = {path.name: path for path in (finished / "plots").iterdir()}
    for name in ("convergence_grid", "performance_profile", "data_profile", "ecdf"):
        assert figures[f"{name}.svg"].read_bytes().startswith(SVG_START)  # the default format
    assert all(name.endswith(".svg") for name in figures)
    page = (finished / "report.html").read_text()  # the files' own <svg>, ids prefixed
    grid = (finished / "plots" / "convergence_grid.svg").read_text()
    inlined = re.search(r'<figure id="figure-convergence_grid"[^>]*>(<svg.*?</svg>)', page, re.S)
    assert inlined is not None
    unprefixed = re.sub(r'(\bid="|href="#|url\(#)f[0-9]+-', r"\1", inlined.group(1))
    assert unprefixed == grid[grid.index("<svg") :].strip()
    report = (finished / "report.md").read_text()
    assert "rosenbrock_2d" in report and "logistic_small" in report and "Profiles" in report


def test_report_plot_and_list(finished, capsys):
    before = {p.name: p.read_bytes() for p in (finished / "plots").iterdir()}
    assert main(["report", str(finished)]) == 0
    assert "newton_cg" in capsys.readouterr().out
    after = {p.name: p.read_bytes() for p in (finished / "plots").iterdir()}
    assert after == before  # the same figures, drawn again byte for byte
    assert main(["plot", str(finished), "--kind", "ecdf", "--x", "iter", "--format", "svg"]) == 0
    assert capsys.readouterr().out.strip().endswith(".svg")
    assert main(["list", "solvers"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("gd", "newton_cg", "trust_ncg", "scipy"))


def test_existing_results_are_not_overwritten_without_force(finished, capsys, tmp_path):
    config = write_config(tmp_path / "c.yaml", TINY)
    assert main(["run", str(config), "--out", str(finished), "--quiet"]) == 2
    assert "force" in error_line(capsys)


def test_dry_run_prints_the_runs_and_their_count(tmp_path, capsys):
    assert main(["run", str(write_config(tmp_path / "c.yaml", TINY)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "12 run" in out
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("name: x\nproblems: [rosenbrock_2d\nsolvers: []\n", "line"),
        ({**TINY, "solvers": [{"name": "newton_gc"}]}, "did you mean 'newton_cg'"),
        ({**TINY, "solvers": [{"name": "gd", "params": {"step_size": -0.1}}]}, "step_size"),
        ({**TINY, "problems": ["logistc_small"]}, "did you mean 'logistic_small'"),
        ({**TINY, "stop": {"max_iter": "many"}}, "stop.max_iter"),
        ({**TINY, "colour": "blue"}, "colour"),
    ],
)
def test_bad_configs_exit_2_with_one_line(config, expected, tmp_path, capsys):
    path = write_config(tmp_path / "bad.yaml", config)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert expected in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_not_a_results_directory_exits_2(tmp_path, capsys):
    for command in ("report", "plot"):
        assert main([command, str(tmp_path)]) == 2
        assert "not an optbench results directory" in error_line(capsys)


@dataclass(frozen=True)
class Raises(Solver):
    """Test solver whose step raises."""

    def init(self, oracle, x0):
        return State(x=x0)

    def step(self, oracle, state):
        raise RuntimeError("planted failure")


def test_a_run_in_error_makes_exit_1_and_the_others_finish(tmp_path, capsys):
    SOLVERS.register("cli_raises")(Raises)
    try:
        config = {**TINY, "solvers": [{"name": "cli_raises"}, {"name": "newton_cg"}]}
        out = tmp_path / "out"
        assert main(["run", str(write_config(tmp_path / "c.yaml", config)), "--out", str(out),
                     "--quiet", "--no-plots"]) == 1  # fmt: skip
    finally:
        SOLVERS._entries.pop("cli_raises")
    summary = (out / "summary.csv").read_text()
    assert summary.count("RuntimeError: planted failure") == 4
    assert summary.count("converged") == 4


def test_the_installed_command_exits_2_on_a_bad_config(tmp_path):
    path = write_config(tmp_path / "bad.yaml", {**TINY, "seeds": []})
    done = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("optbench: error: seeds") and "Traceback" not in done.stderr


def expected_best(summary: pd.DataFrame, problem: str, eps: float) -> str:
    """The configuration with the least median cost to eps (unreached = inf), by hand."""
    runs = summary[summary["problem"] == problem]
    costs = runs[f"cost_to_{eps:.0e}"].fillna(math.inf)
    medians = {
        label: float(group.median())
        for label, group in costs.groupby(runs["solver_label"], sort=False)
        if 2 * int(group.map(math.isfinite).sum()) > len(group)
    }
    return min(medians, key=medians.get)


def test_run_prints_a_compact_summary_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", TINY)
    assert main(["run", str(config), "--out", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    n_problems, n_targets = len(TINY["problems"]), len(TINY["targets"])
    assert len(lines) <= 5 + n_problems * (1 + n_targets)
    report = (out / "report.md").read_text()
    assert len(report.splitlines()) > len(lines)
    assert f"full report: {out / 'report.html'}" in lines
    summary = pd.read_csv(out / "summary.csv")
    assert lines[0].startswith(f"cli_tiny: {len(summary)} runs, converged ")
    for problem in TINY["problems"]:
        start = lines.index(next(line for line in lines if line.startswith(f"{problem}: ")))
        statuses = summary.loc[summary["problem"] == problem, "status"].value_counts()
        for status, count in statuses.items():
            assert f"{status} {count}" in lines[start]
        block = lines[start + 1 : start + 1 + n_targets]
        for eps in TINY["targets"]:
            covering = [
                line
                for line in block
                if (m := re.match(r"  best to f - f\* <= (\S+)(?: \.\.\. (\S+))?: (\S+) ", line))
                and float(m[1]) >= eps >= float(m[2] or m[1])
            ]
            assert len(covering) == 1, (eps, block)
            assert f": {expected_best(summary, problem, eps)} (cost " in covering[0]


def test_print_report_prints_the_whole_report(tmp_path, capsys):
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", TINY)
    assert main(["run", str(config), "--out", str(out), "--no-plots", "--print-report"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "report.md").read_text() + f"results written to {out}\n"


def test_figure_format_png_and_pdf_still_write_their_files(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", TINY)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--figure-format", "png"]) == 0
    pngs = sorted((out / "plots").iterdir())
    assert {p.stem for p in pngs} >= {"convergence_grid", "performance_profile", "ecdf"}
    assert all(p.suffix == ".png" and p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    page = (out / "report.html").read_text()  # the report's SVG drawn from the same figures
    assert page.count("<svg") == len(pngs)
    assert main(["report", str(out), "--quiet", "--figure-format", "pdf"]) == 0
    pdfs = sorted((out / "plots").glob("*.pdf"))
    assert [p.stem for p in pdfs] == [p.stem for p in pngs]
    assert all(p.read_bytes()[:4] == b"%PDF" for p in pdfs)
    capsys.readouterr()


@pytest.mark.parametrize("command", ["run", "report"])
def test_bad_figure_format_exits_2_before_anything_is_written(tmp_path, capsys, command):
    config = write_config(tmp_path / "c.yaml", TINY)
    out = tmp_path / "out"
    if command == "report":
        assert main(["run", str(config), "--out", str(out), "--quiet", "--no-plots"]) == 0
        capsys.readouterr()
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
        argv = ["report", str(out), "--figure-format", "jpg"]
    else:
        argv = ["run", str(config), "--out", str(out), "--figure-format", "jpg"]
    assert main(argv) == 2
    assert error_line(capsys) == (
        "optbench: error: --figure-format: must be one of png, pdf, svg, got 'jpg'\n"
    )
    if command == "report":
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    else:
        assert not out.exists()
