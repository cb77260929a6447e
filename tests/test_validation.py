"""Every bad input gets one line and exit 2 before any run starts; the API validates alike.

The table :data:`BAD_CONFIGS` is run through ``optbench run`` (exit 2, one line on
stderr naming the path, no traceback, nothing written) and through ``optbench.run``
(the same :class:`ConfigError` line).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import optbench
from optbench.cli import BROKEN_PIPE_EXIT, main
from optbench.problems.least_squares import LeastSquares
from optbench.problems.logistic import Logistic
from optbench.problems.rosenbrock import Rosenbrock
from optbench.problems.softmax import Softmax
from optbench.run.config import ExperimentConfig, count_runs, load_config
from optbench.run.experiment import check_output_dir
from optbench.run.runner import LogPolicy, StopCriteria
from optbench.run.schema import ConfigError, check_targets
from optbench.scalars import check_integer, check_number, is_finite_number, is_integer

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "name": "bad",
    "problems": ["rosenbrock_2d"],
    "solvers": [{"name": "gd"}],
    "stop": {"max_iter": 5},
}


def family(name: str, **params: Any) -> dict[str, Any]:
    """TINY with one problem family and ``params``."""
    return {**TINY, "problems": [{"family": name, "params": params}]}


#: (case id, config, a part of the one error line).
BAD_CONFIGS = [
    (
        "rosenbrock dim 1",
        family("rosenbrock", dim=1),
        "problems[0].params.dim: must be an integer >= 2, got 1",
    ),
    (
        "rosenbrock variant",
        family("rosenbrock", variant="twisted"),
        "problems[0].params.variant: must be one of chained, extended, got 'twisted'",
    ),
    (
        "rosenbrock odd extended",
        family("rosenbrock", dim=3, variant="extended"),
        "problems[0].params.dim: must be even for variant 'extended', got 3",
    ),
    (
        "swept dim, one bad",
        family("rosenbrock", dim=[2, 1]),
        "problems[0].params.dim: must be an integer >= 2, got 1",
    ),
    (
        "logistic negative l2",
        family("logistic", l2=-1),
        "problems[0].params.l2: must be a finite number >= 0, got -1",
    ),
    (
        "logistic float size",
        family("logistic", n_features=1e11),
        "problems[0].params.n_features: must be an integer, got 100000000000.0",
    ),
    (
        "logistic rho",
        family("logistic", rho=2.0),
        "problems[0].params.rho: must be in (-1, 1), got 2.0",
    ),
    (
        "logistic too big",
        family("logistic", n_features=10**11),
        "problems[0].params: logistic[n_features=100000000000] needs about 8e+05 GB of memory",
    ),
    (
        "least squares cond",
        family("least_squares", cond=0.5),
        "problems[0].params.cond: must be a finite number >= 1, got 0.5",
    ),
    (
        "softmax one class",
        family("softmax", n_classes=1),
        "problems[0].params.n_classes: must be an integer >= 2, got 1",
    ),
    (
        "inline matrix",
        family("least_squares", A=[[1, 2], [3, 4]], b=[1, 2]),
        "problems[0].params.A[0]: a list in params is a sweep, and a sweep value cannot be a "
        "list or a mapping (no inline matrices or data), got [1, 2]",
    ),
    (
        "inline data scalar",
        family("logistic", X=3, y=[1]),
        "problems[0].params.X: data cannot be given in a config",
    ),
    (
        "huge logspace",
        {
            **TINY,
            "solvers": [{"name": "gd", "params": {"step_size": {"logspace": [-3, 0, 1000000]}}}],
        },
        "the config describes 1000000 runs, more than the limit of 100000 (--max-runs)",
    ),
    (
        "huge nested sweep",
        {
            **TINY,
            "solvers": [
                {
                    "name": "gd",
                    "params": {"step_size": {"times_1_over_L": {"linspace": [0.1, 1, 10**9]}}},
                }
            ],
        },
        "the config describes 1000000000 runs",
    ),
    (
        "gtol nan",
        {**TINY, "stop": {"gtol": math.nan}},
        "stop.gtol: must be a finite number, got nan",
    ),
    ("negative target", {**TINY, "targets": [-1.0]}, "targets[0]: must be > 0, got -1.0"),
    (
        "repeated target",
        {**TINY, "targets": [0.1, 0.1]},
        "targets: must not repeat a value, got [0.1, 0.1]",
    ),
    (
        "two log policies",
        {**TINY, "log": {"every": 2, "geometric": 1.5}},
        "log: give one of {every: k}, {geometric: r}, {every_epochs: e}, not every and geometric",
    ),
    (
        "float max_iter",
        {**TINY, "stop": {"max_iter": 1e3}},
        "stop.max_iter: must be an integer, got 1000.0",
    ),
    (
        "bad backend",
        {**TINY, "executor": {"backend": "mpi"}},
        "executor.backend: must be one of 'serial', 'joblib' or 'dask', got 'mpi'",
    ),
    (
        "unknown stop key",
        {**TINY, "stop": {"gtoll": 1e-6}},
        "stop.gtoll: unknown key 'gtoll' (did you mean 'gtol'?)",
    ),
]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def assert_one_line(err: str, part: str) -> None:
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"optbench: error: {part}"), err


@pytest.mark.parametrize(
    ("config", "part"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_is_one_line_exit_2_nothing_written(config, part, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    code, err = run_cli(["run", str(path), "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert_one_line(err, part)
    assert not out.exists()
    with pytest.raises(ConfigError) as caught:  # the Python API: the same line
        optbench.run(config, out=tmp_path / "api", progress=False, plot=False)
    assert f"optbench: error: {caught.value}\n" == err
    assert not (tmp_path / "api").exists()


def test_dry_run_refuses_a_huge_grid_too(tmp_path, capsys):
    config = BAD_CONFIGS[[c[0] for c in BAD_CONFIGS].index("huge logspace")][1]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 2
    assert_one_line(err, "the config describes 1000000 runs")


def test_max_runs_sets_the_limit(tmp_path, capsys):
    config = {**TINY, "solvers": [{"name": "gd", "params": {"step_size": [0.1, 0.01, 0.001]}}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**config, "seeds": [0, 1]}))
    code, err = run_cli(["run", str(path), "--dry-run", "--max-runs", "5"], capsys)
    assert code == 2
    assert_one_line(err, "the config describes 6 runs, more than the limit of 5")
    assert main(["run", str(path), "--dry-run", "--max-runs", "6"]) == 0
    code, err = run_cli(["run", str(path), "--dry-run", "--max-runs", "0"], capsys)
    assert code == 2
    assert_one_line(err, "--max-runs: must be an integer >= 1, got 0")


def test_run_count_is_computed_without_expanding():
    config = ExperimentConfig.model_validate(
        {
            "name": "count",
            "problems": [{"family": "rosenbrock", "params": {"dim": [2, 4, 6]}}, "rosenbrock_2d"],
            "solvers": [
                {"name": "gd", "params": {"step_size": {"logspace": [-3, 0, 10**12]}}},
                {"name": "newton_cg", "params": {"forcing": ["sqrt", "quadratic"]}},
            ],
            "seeds": [0, 1],
        }
    )
    assert count_runs(config) == (3 + 1) * (10**12 + 2) * 2
    with pytest.raises(ConfigError, match=r"describes 8000000000016 runs"):
        load_config(config)
    small = load_config({**TINY, "seeds": [0, 1, 2]})
    assert count_runs(small) == len(small.runs) == 3


def test_config_is_expanded_once():
    config = load_config(TINY)
    assert config.runs is config.runs
    assert load_config(config).runs is config.runs


def test_memory_estimate_against_available_memory(monkeypatch):
    monkeypatch.setattr("optbench.run.sweeps.available_memory", lambda: 10**9)
    big = family("logistic", n_samples=10**5, n_features=10**4)  # 8 GB of dense data
    with pytest.raises(ConfigError, match=r"^problems\[0\]\.params: logistic\[n_features=10000,"):
        load_config(big)
    sparse = family("logistic", n_samples=10**5, n_features=10**4, nnz=10**6)
    assert len(load_config(sparse).runs) == 1  # about 17 MB: accepted, and nothing built
    named = {**TINY, "problems": ["rosenbrock_2d", "least_squares_large"]}
    with pytest.raises(
        ConfigError, match=r"^problems\[1\]: least_squares_large needs about 1.61 GB"
    ):
        load_config(named)
    monkeypatch.setattr("optbench.run.sweeps.available_memory", lambda: None)
    assert len(load_config(big).runs) == 1  # unknown memory: not refused


@pytest.mark.parametrize(
    ("cls", "params", "expected"),
    [
        (Rosenbrock, {"dim": 1000}, 8 * 8 * 1000),
        (Logistic, {"n_samples": 100, "n_features": 10}, 8 * 100 * 10 + 8 * 8 * 100),
        (
            Logistic,
            {"n_samples": 100, "n_features": 10, "nnz": 50},
            16 * 50 + 8 * 101 + 8 * 8 * 100,
        ),
        (
            Logistic,
            {"n_samples": 100, "n_features": 10, "density": 0.5},
            16 * 500 + 8 * 101 + 8 * 8 * 100,
        ),
        (
            LeastSquares,
            {"n_samples": 100, "n_features": 10},
            8 * 100 * 10 + 8 * 8 * 100 + 8 * 110 * 10,
        ),
        (
            Softmax,
            {"n_samples": 100, "n_features": 10},
            8 * 100 * 10 + 8 * 8 * 100 + 3 * 8 * 100 * 5,
        ),
    ],
)
def test_data_bytes_of_the_families(cls, params, expected):
    assert cls.data_bytes(cls.check_params(**params)) == expected


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (Rosenbrock, {"dim": True}, "^dim: must be an integer >= 2, got True"),
        (Logistic, {"l2": math.inf}, "^l2: must be a finite number >= 0, got inf"),
        (Logistic, {"fit_intercept": "yes"}, "^fit_intercept: must be True or False"),
        (LeastSquares, {"noise": -0.1}, "^noise: must be a finite number >= 0, got -0.1"),
        (Softmax, {"seed": -1}, "^seed: must be an integer >= 0, got -1"),
    ],
)
def test_check_params_is_what_the_constructor_runs(cls, params, message):
    with pytest.raises(ValueError, match=message):
        cls.check_params(**params)
    with pytest.raises(ValueError, match=message):
        cls(**params)


def test_check_params_returns_the_instance_params():
    assert (
        Logistic.check_params(n_samples=50, n_features=3)
        == Logistic(n_samples=50, n_features=3).params
    )
    assert Rosenbrock.check_params(dim=4) == Rosenbrock(4).params


# --------------------------------------------------------------------------- --out
def test_out_under_a_regular_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    for out, part in ((afile / "sub", "is under"), (afile, "is a file")):
        code, err = run_cli(
            ["run", str(ROOT / "configs" / "quickstart.yaml"), "--out", str(out)], capsys
        )
        assert code == 2
        assert_one_line(err, f"--out: {out}: {part}")
    assert afile.read_text() == ""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a /proc file system")
def test_out_in_an_unwritable_place(tmp_path, capsys):
    # /proc refuses new files even to root, for whom permission bits do not count.
    code, err = run_cli(
        ["run", str(ROOT / "configs" / "quickstart.yaml"), "--out", "/proc/optbench-x"], capsys
    )
    assert code == 2
    assert_one_line(err, "--out: /proc/optbench-x: cannot write there (in /proc")
    with pytest.raises(ConfigError, match=r"^out: /proc/optbench-x: cannot write there"):
        optbench.run(TINY, out="/proc/optbench-x", progress=False, plot=False)


def test_check_output_dir_accepts_new_and_existing_directories(tmp_path):
    check_output_dir(tmp_path)
    check_output_dir(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []  # nothing created


# ----------------------------------------------------------------------- broken pipe
def _head_one_line(config: Path) -> tuple[str, str, int]:
    command = [sys.executable, "-m", "optbench.cli", "run", str(config), "--dry-run"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    first = process.stdout.readline().decode()
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read().decode()
    process.stderr.close()
    return first, stderr, process.wait()


@pytest.mark.parametrize("big", [False, True])
def test_dry_run_into_a_closed_pipe_ends_quietly(big, tmp_path):
    config = ROOT / "configs" / "quickstart.yaml"
    if big:  # about 200 kB of listing: more than a pipe holds, so the write must fail
        config = tmp_path / "big.yaml"
        solver = {"name": "gd", "params": {"step_size": {"logspace": [-4, 0, 3000]}}}
        config.write_text(yaml.safe_dump({**TINY, "solvers": [solver]}))
    first, stderr, code = _head_one_line(config)
    assert first.startswith("run_id")
    assert stderr == ""
    assert code in ((BROKEN_PIPE_EXIT,) if big else (0, BROKEN_PIPE_EXIT))


# -------------------------------------------------------------------- all runs error
def test_all_runs_in_error_say_so(tmp_path, capsys):
    config = {
        "name": "all_errors",
        "problems": [{"family": "rosenbrock", "params": {"dim": 10, "hess_max_dim": 2}}],
        "solvers": [{"name": "newton"}],
        "seeds": [0, 1],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "iters_to" not in err
    assert (
        "optbench: error: all 2 runs ended in error; first messages: "
        "ValueError: newton needs a dense Hessian" in err
    )


# ------------------------------------------------------------------------ Python API
@pytest.fixture(scope="module")
def problem():
    return optbench.make_problem("rosenbrock", dim=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gtol": math.nan}, r"^gtol: must be a finite number, got nan$"),
        ({"gtol": -1.0}, r"^gtol: must be >= 0, got -1.0$"),
        ({"max_iter": 2.5}, r"^max_iter: must be an integer, got 2.5$"),
        ({"max_time": math.inf}, r"^max_time: must be a finite number, got inf$"),
        ({"targets": [-1]}, r"^targets\[0\]: must be > 0, got -1$"),
        ({"targets": [1e-3, math.nan]}, r"^targets\[1\]: must be a finite number, got nan$"),
        ({"targets": [1e-3, 1e-3]}, r"^targets: must not repeat a value"),
        ({"x0": np.array([np.nan, 1.0])}, r"^x0: must be finite, got NaN or inf at index 0$"),
        ({"x0": np.array([1.0, np.inf])}, r"^x0: must be finite, got NaN or inf at index 1$"),
        ({"log": {"every": 0}}, r"^every: must be >= 1, got 0$"),
    ],
)
def test_minimize_rejects_what_configs_reject(problem, kwargs, message):
    with pytest.raises(ValueError, match=message):
        optbench.minimize(problem, "gd", **kwargs)


def test_stop_criteria_and_log_policy_are_the_config_models():
    config = load_config({**TINY, "stop": {"gtol": 1e-6, "max_iter": 7}, "log": {"geometric": 2.0}})
    assert config.stop == StopCriteria(gtol=1e-6, max_iter=7)
    assert config.log == LogPolicy(geometric=2.0)
    assert all(spec.stop is config.stop for spec in config.runs)
    with pytest.raises(ConfigError, match=r"^f_gap_tol: must be > 0, got 0.0$"):
        StopCriteria(f_gap_tol=0.0)
    with pytest.raises(ConfigError, match=r"^gtoll: unknown key 'gtoll' \(did you mean 'gtol'\?\)"):
        StopCriteria(gtoll=1.0)


def test_minimize_splits_stop_options_from_solver_parameters(problem):
    result = optbench.minimize(problem, "gd", max_iter=3, gtol=0.0, step_size=1e-3)
    assert result.iters == 3 and result.status == "max_iter"


def test_check_targets_returns_floats():
    assert check_targets((1e-2, 1)) == (1e-2, 1.0)


# --------------------------------------------------------------------- scalar checks
@pytest.mark.parametrize("value", [1, 1.5, np.float32(2.0), np.int64(3), -0.0])
def test_finite_numbers(value):
    assert is_finite_number(value)


@pytest.mark.parametrize("value", [True, np.bool_(True), math.nan, math.inf, "1", None, [1]])
def test_not_finite_numbers(value):
    assert not is_finite_number(value)


def test_integers_and_checks():
    assert is_integer(np.int32(4)) and not is_integer(True) and not is_integer(4.0)
    assert (
        check_integer("n", np.int64(3), ge=1) == 3 and type(check_integer("n", np.int64(3))) is int
    )
    assert check_number("c", 2, ge=1, lt=3) == 2.0
    with pytest.raises(ValueError, match=r"^c: must be a finite number >= 1 and < 3, got 3$"):
        check_number("c", 3, ge=1, lt=3)
    with pytest.raises(ValueError, match=r"^n: must be an integer >= 1, got 'x'$"):
        check_integer("n", "x", ge=1)
