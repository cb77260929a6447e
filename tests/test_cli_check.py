"""``optbench check``: output, exit codes 0/1/2, one-line errors, the --plot file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import optbench
from optbench.cli import main
from optbench.problems.rosenbrock import Rosenbrock
from optbench.registry import PROBLEMS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO_ROOT = Path(optbench.__file__).resolve().parents[1]


class _WrongGradientRosenbrock(Rosenbrock):
    """Rosenbrock with a gradient that is off by 1 % in its first coordinate."""

    def value_and_grad(self, x):
        value, grad = super().value_and_grad(x)
        grad[0] *= 1.01
        return value, grad


@pytest.fixture
def buggy_family(monkeypatch):
    """Register a family with a wrong gradient for the duration of one test."""
    monkeypatch.setitem(PROBLEMS._entries, "buggy_rosenbrock", _WrongGradientRosenbrock)
    return "buggy_rosenbrock"


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("optbench: error: ")
    return lines[0]


def test_check_passes_and_prints_table_and_verdict(capsys) -> None:
    assert main(["check", "rosenbrock", "--param", "dim=3", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "derivative check: rosenbrock (dim 3) at random point near x0 (seed 4)" in out
    assert "1.0e-12" in out and "1.0e-01" in out  # the whole sweep of steps
    assert out.rstrip().endswith("verdict: PASS")


def test_check_at_x0_of_a_catalog_instance(capsys) -> None:
    assert main(["check", "rosenbrock_2d", "--x0"]) == 0
    assert "derivative check: rosenbrock_2d (dim 2) at x0" in capsys.readouterr().out


def test_params_are_parsed_as_yaml(capsys) -> None:
    code = main(["check", "rosenbrock", "--param", "dim=6", "--param", "variant=extended"])
    assert code == 0
    assert "(dim 6)" in capsys.readouterr().out


def test_a_wrong_gradient_exits_1(buggy_family, capsys) -> None:
    assert main(["check", buggy_family, "--param", "dim=4"]) == 1
    captured = capsys.readouterr()
    assert "verdict: FAIL (gradient, gradient_coords, hvp)" in captured.out
    assert captured.err == ""


def test_plot_writes_a_png(tmp_path, capsys) -> None:
    path = tmp_path / "check.png"
    assert main(["check", "rosenbrock", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert f"plot written to {path}" in capsys.readouterr().out


def test_plot_is_written_for_a_failing_check_too(buggy_family, tmp_path) -> None:
    path = tmp_path / "failing.png"
    assert main(["check", buggy_family, "--plot", str(path)]) == 1
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["check", "rosenbrok"],
            "problem: unknown problem 'rosenbrok' (did you mean 'rosenbrock'?); allowed: ",
        ),
        (
            ["check", "rosenbrock", "--param", "dimm=3"],
            "param: unknown parameter of rosenbrock 'dimm' (did you mean 'dim'?)",
        ),
        (["check", "rosenbrock", "--param", "dim=1"], "param: dim: must be an integer >= 2"),
        (["check", "rosenbrock", "--param", "dim"], "param: expected key=value, got 'dim'"),
        (["check", "rosenbrock", "--param", "dim=2", "--param", "dim=3"], "param: dim given"),
        (["check", "rosenbrock", "--param", "dim=[1"], "param: dim: cannot parse value"),
        (["check", "rosenbrock_2d", "--param", "dim=3"], "param: rosenbrock_2d is a named"),
        (["check", "rosenbrock", "--seed", "one"], "argument --seed: invalid int value"),
        (["check", "rosenbrock", "--x0", "--seed", "1"], "not allowed with argument"),
        (["check"], "problem: required"),
        (["chek", "rosenbrock"], "command: unknown command 'chek' (did you mean 'check'?)"),
        ([], "command: missing; allowed: run, list, check"),
        (["check", "rosenbrock", "--plot", "/nonexistent-dir/x.png"], "plot: cannot write"),
        (["check", "rosenbrock", "--plot", "check.notaformat"], "plot: cannot write"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, expected, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert expected in line


def test_version_and_help_exit_0(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"optbench {optbench.__version__}"
    assert main(["check", "--help"]) == 0
    assert "--plot FILE" in capsys.readouterr().out


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "optbench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_subprocess_exit_codes_and_plot(tmp_path) -> None:
    passing = _run_cli("check", "rosenbrock_2d", "--plot", "errors.png", cwd=tmp_path)
    assert passing.returncode == 0, passing.stderr
    assert passing.stderr == ""
    assert "verdict: PASS" in passing.stdout
    assert (tmp_path / "errors.png").read_bytes()[:8] == PNG_MAGIC

    unknown = _run_cli("check", "logstic", cwd=tmp_path)
    assert unknown.returncode == 2
    line = _one_error_line(unknown.stderr)
    assert line.startswith("optbench: error: problem: unknown problem 'logstic'")
    assert "did you mean" in line and "allowed: " in line
    assert unknown.stdout == ""
