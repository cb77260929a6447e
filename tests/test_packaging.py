"""Packaging: every package is built, and a wheel carries the catalog of named instances."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import optbench

tomllib = pytest.importorskip("tomllib", reason="Python 3.11 reads pyproject.toml")

ROOT = Path(__file__).resolve().parents[1]


def test_the_build_lists_every_package() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"optbench"} | {
        info.name
        for info in pkgutil.walk_packages(optbench.__path__, "optbench.")
        if info.ispkg and info.name != "optbench.catalog"
    }
    assert listed == found | {"optbench.catalog"}


@pytest.mark.slow
def test_a_wheel_finds_the_catalog_from_another_directory(tmp_path) -> None:
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True)
    (wheel,) = wheels.glob("optbench-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    (elsewhere / "c.yaml").write_text(
        textwrap.dedent(
            """
            name: from_wheel
            problems: [rosenbrock_2d, logistic_small, {suite: mgh, max_dim: 2}]
            solvers: [{name: newton_cg}]
            stop: {gtol: 1.0e-6, max_iter: 200}
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("OPTBENCH_PROBLEMS_DIR", None)
    where = subprocess.run(
        [sys.executable, "-c", "import optbench, optbench.problems.catalog as c; "
         "print(optbench.__file__); print(c.problems_dir())"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(path.startswith(str(target)) for path in where), where
    run = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", "c.yaml", "--no-plots", "--out", "out"],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "out" / "summary.csv").is_file()
