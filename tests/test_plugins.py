"""Plugins: user solvers and problems from ``plugins:``, ``--plugin`` and entry points, in
the main process and in every worker (joblib here, Dask in ``test_dask_backend.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from importlib.metadata import EntryPoint
from pathlib import Path

import pandas as pd
import pytest
import yaml

import optbench
from optbench.cli import main
from optbench.registry import PROBLEMS, SOLVERS, EntryPointError
from optbench.run import plugins
from optbench.run.config import ConfigError, load_config
from optbench.run.plugins import PluginError, file_module_name

#: A solver module: gradient steps of a fixed size, as ``gd`` with a numeric step.
SOLVER_PLUGIN = '''
import os
from dataclasses import dataclass

from optbench.registry import SOLVERS
from optbench.solvers.base import Solver, State

if {log!r}:
    with open({log!r}, "a") as log:
        log.write(f"{{os.getpid()}}\\n")
{prelude}

@SOLVERS.register({name!r})
@dataclass(frozen=True)
class FixedStep(Solver):
    """Gradient steps of a fixed size (a plugin)."""

    step_size: float = 1e-3

    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g)

    def step(self, oracle, state):
        x = state.x - self.step_size * state.g
        f, g = oracle.value_and_grad(x)
        return State(x=x, f=f, g=g)
{epilogue}
'''


def unique(prefix: str) -> str:
    """A registry name no other test (nor a reused worker process) has seen."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_solver_plugin(
    path: Path, name: str, log: Path | None = None, prelude: str = "", epilogue: str = ""
) -> Path:
    """Write a plugin file registering the solver ``name`` (see :data:`SOLVER_PLUGIN`).

    ``log``: a file the plugin appends its process id to when it is imported.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    log_path = str(log) if log else ""
    path.write_text(
        SOLVER_PLUGIN.format(log=log_path, name=name, prelude=prelude, epilogue=epilogue)
    )
    return path


#: The executor of the tests that need workers: joblib's from the start (with ``jobs: 2``
#: alone, the executor runs these few tiny runs in the main process).
WORKERS = {"backend": "joblib"}


def plugin_vs_gd_config(solver: str, plugin: str, **changes) -> dict:
    """The plugin solver and ``gd`` with the same fixed step, two instances, 3 seeds."""
    return {
        "name": "plugins",
        "plugins": [plugin],
        "problems": [{"family": "rosenbrock", "params": {"dim": [2, 4]}}],
        "solvers": [{"name": solver}, {"name": "gd", "params": {"step_size": 1e-3}}],
        "stop": {"max_iter": 25},
        "seeds": [0, 1, 2],
        "jobs": 2,
        **changes,
    }


def assert_plugin_equals_gd(summary: pd.DataFrame, solver: str) -> None:
    """Every run completed and the plugin's runs equal gd's (the same iteration)."""
    assert set(summary["status"]) == {"max_iter"}, summary[["optimizer", "message"]]
    plugin = summary[summary["optimizer"] == solver].set_index(["problem", "seed"])
    gd = summary[summary["optimizer"] == "gd"].set_index(["problem", "seed"])
    assert len(plugin) == len(gd) == 6
    for column in ("f_final", "grad_norm_final", "n_g"):
        pd.testing.assert_series_equal(plugin[column].sort_index(), gd[column].sort_index())


# --- config plugins in the main process and in joblib workers -------------------------


def test_a_file_plugin_relative_to_the_config_runs_in_every_worker_once(
    tmp_path, monkeypatch, isolated_plugins
):
    solver, log = unique("fixed_step"), tmp_path / "imports.log"
    plugin = write_solver_plugin(tmp_path / "plugins" / "my_solver.py", solver, log)
    config = tmp_path / "configs" / "experiment.yaml"
    config.parent.mkdir()
    config.write_text(
        yaml.safe_dump(plugin_vs_gd_config(solver, "../plugins/my_solver.py", executor=WORKERS))
    )
    monkeypatch.chdir(tmp_path / "plugins")  # not the config's directory
    out = tmp_path / "out"

    code = main(["run", str(config), "--out", str(out), "--quiet", "--no-plots"])

    assert code == 0
    assert_plugin_equals_gd(pd.read_csv(out / "summary.csv"), solver)
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["plugins"] == [str(plugin.resolve())]
    importers = log.read_text().split()
    assert len(importers) == len(set(importers)), "a process imported the plugin twice"
    assert str(os.getpid()) in importers  # the main process, before validation ...
    assert len(importers) >= 2  # ... and the worker processes that ran its runs


def test_the_python_api_takes_plugins_relative_to_the_current_directory(
    tmp_path, monkeypatch, isolated_plugins
):
    solver = unique("fixed_step")
    write_solver_plugin(tmp_path / "my_solver.py", solver)
    monkeypatch.chdir(tmp_path)
    results = optbench.run(
        plugin_vs_gd_config(solver, "my_solver.py", executor=WORKERS),
        out="out",
        progress=False,
        plot=False,
    )
    assert_plugin_equals_gd(results.summary, solver)
    assert results.config["plugins"] == [str(tmp_path.resolve() / "my_solver.py")]


@pytest.mark.parametrize("workers_up", [False, True])
def test_two_jobs_import_plugins_in_the_workers_that_take_a_task(
    tmp_path, monkeypatch, isolated_plugins, workers_spy, workers_up
):
    """The plugin's log names the processes that imported it: the main process, and a
    worker only when it took a task (a worker that is not up yet takes none)."""
    if workers_up:
        workers_spy(wait_for_workers=True)
    else:
        workers_spy(up_after=30.0)
    solver, log = unique("fixed_step"), tmp_path / "imports.log"
    plugin = write_solver_plugin(tmp_path / "my_solver.py", solver, log)
    results = optbench.run(
        plugin_vs_gd_config(solver, str(plugin)), out=tmp_path / "out", progress=False, plot=False
    )
    assert_plugin_equals_gd(results.summary, solver)  # every run, once, as gd's
    importers = log.read_text().split()
    assert importers[0] == str(os.getpid()) and len(importers) == len(set(importers))
    if workers_up:
        assert len(importers) == 2  # the worker ran tasks
    else:
        assert importers == [str(os.getpid())]  # no worker took a task


def test_a_module_plugin_is_imported_by_name(tmp_path, monkeypatch, isolated_plugins):
    solver = unique("fixed_step")
    module = unique("my_plugin_module")
    write_solver_plugin(tmp_path / f"{module}.py", solver)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config(plugin_vs_gd_config(solver, module))
    assert config.plugins == [module] and solver in SOLVERS
    assert module in sys.modules


def test_plugin_option_adds_to_the_config_plugins(tmp_path, monkeypatch, isolated_plugins, capsys):
    first, second = unique("fixed_step"), unique("fixed_step")
    write_solver_plugin(tmp_path / "configs" / "first.py", first)
    write_solver_plugin(tmp_path / "second.py", second)
    config = plugin_vs_gd_config(first, "first.py", jobs=1, seeds=[0])
    config["solvers"].append({"name": second})
    path = tmp_path / "configs" / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)

    assert main(["run", str(path), "--dry-run"]) == 2  # the second solver is unknown
    assert f"unknown solver {second!r}" in capsys.readouterr().err
    arguments = ["run", str(path), "--plugin", "second.py", "--plugin", "second.py"]
    assert main([*arguments, "--out", "out", "--quiet", "--no-plots"]) == 0
    recorded = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert recorded["plugins"] == [
        str(tmp_path / "configs" / "first.py"),
        str(tmp_path / "second.py"),
    ]
    assert set(pd.read_csv(tmp_path / "out" / "summary.csv")["optimizer"]) == {first, second, "gd"}


def test_optbench_list_shows_plugin_solvers(tmp_path, monkeypatch, isolated_plugins, capsys):
    solver = unique("fixed_step")
    write_solver_plugin(tmp_path / "my_solver.py", solver)
    monkeypatch.chdir(tmp_path)
    assert main(["list", "solvers", "--plugin", "my_solver.py"]) == 0
    listing = capsys.readouterr().out
    assert f"{solver}: Gradient steps of a fixed size (a plugin)." in listing
    assert "step_size = 0.001" in listing.split(solver)[1]


def test_optbench_check_verifies_a_plugin_family(tmp_path, monkeypatch, isolated_plugins, capsys):
    family = unique("quadratic")
    source = ENTRY_POINT_MODULE.replace('"ep_quadratic"', repr(family))
    (tmp_path / "my_problems.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    assert main(["check", family, "--plugin", "my_problems.py", "--param", "dim=4"]) == 0
    assert "FAIL" not in capsys.readouterr().out
    wrong_hvp = source.replace("return self.scale * v", "return 2 * self.scale * v")
    (tmp_path / "wrong.py").write_text(wrong_hvp.replace(repr(family), repr(family + "_wrong")))
    assert main(["check", family + "_wrong", "--plugin", "wrong.py"]) == 1


# --- bad plugins: one line, exit 2, nothing written -----------------------------------

BAD_PLUGINS = {
    "missing file": (
        "missing.py",
        "",
        r"plugins\[1\]: .*/configs/missing\.py: no such file \(from 'missing\.py'\)",
    ),
    "missing module": (
        "no_such_module_for_optbench",
        "",
        r"plugins\[1\]: importing no_such_module_for_optbench failed: ModuleNotFoundError: "
        r"No module named 'no_such_module_for_optbench'",
    ),
    "not a module name": (
        "two words",
        "",
        r"plugins\[1\]: must be a module name \(e\.g\. my_package\.solvers\) or a path to a "
        r"\.py file, got 'two words'",
    ),
    "a directory": (
        "../configs/",
        "",
        r"plugins\[1\]: .*/configs: is not a \.py file \(from '\.\./configs/'\)",
    ),
    "raises while importing": (
        "broken.py",
        "raise RuntimeError('planted in the plugin')",
        r"plugins\[1\]: importing .*/configs/broken\.py failed: RuntimeError: planted in the "
        r"plugin",
    ),
    "exits while importing": (
        "broken.py",
        "raise SystemExit(3)",
        r"plugins\[1\]: importing .*/broken\.py failed: SystemExit: 3",
    ),
    "clash with a built-in": (
        "broken.py",
        "SOLVERS.register('gd')(type('Mine', (), {}))",
        r"plugins\[1\]: importing .*/broken\.py failed: ValueError: solver name 'gd' is "
        r"already registered \(by optbench\.solvers\.gradient_descent\.GradientDescent\)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PLUGINS))
def test_a_bad_plugin_is_one_line_exit_2_before_anything_is_written(
    case, tmp_path, isolated_plugins, capsys
):
    entry, source, expected = BAD_PLUGINS[case]
    solver = unique("fixed_step")
    write_solver_plugin(tmp_path / "configs" / "good.py", solver)
    (tmp_path / "configs" / "broken.py").write_text(
        f"from optbench.registry import SOLVERS\n{source}\n"
    )
    config = plugin_vs_gd_config(solver, "good.py", jobs=1)
    config["plugins"].append(entry)
    path = tmp_path / "configs" / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"

    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.fullmatch(f"optbench: error: {expected}\n", err), err
    assert not out.exists()


def test_a_bad_plugin_option_is_named_so(tmp_path, monkeypatch, isolated_plugins, capsys):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(plugin_vs_gd_config("gd", "os", jobs=1)))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--plugin", "nowhere.py", "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"optbench: error: --plugin nowhere.py: {tmp_path.resolve() / 'nowhere.py'}: "
        "no such file (from 'nowhere.py')\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("plugins_value", "expected"),
    [(3, "plugins: must be a list, got 3"), ([""], r"plugins\[0\]: must not be empty")],
)
def test_the_plugins_key_is_checked_like_every_key(plugins_value, expected):
    config = plugin_vs_gd_config("gd", "", plugins=plugins_value)
    with pytest.raises(ConfigError, match=f"^{expected}"):
        load_config(config)


def test_a_failed_plugin_leaves_nothing_registered_and_can_be_fixed(tmp_path, isolated_plugins):
    solver, problem = unique("fixed_step"), unique("quadratic")
    registers_a_problem = f"PROBLEMS.register({problem!r})(type('Family', (), {{}}))"
    path = write_solver_plugin(
        tmp_path / "half.py",
        solver,
        prelude=f"from optbench.registry import PROBLEMS\n{registers_a_problem}",
        epilogue="raise RuntimeError('fails after registering')",
    )
    config = plugin_vs_gd_config(solver, str(path))
    with pytest.raises(ConfigError, match="fails after registering"):
        load_config(config)
    assert solver not in SOLVERS and problem not in PROBLEMS
    assert file_module_name(path.resolve()) not in sys.modules

    path.write_text(path.read_text().replace("raise RuntimeError", "# fixed: "))
    assert load_config(config).plugins == [str(path.resolve())]
    assert solver in SOLVERS and problem in PROBLEMS


def test_file_module_names_are_stable_and_distinct(tmp_path):
    one, other = tmp_path / "a" / "my-solver.py", tmp_path / "b" / "my-solver.py"
    assert file_module_name(one) == file_module_name(Path(str(one)))
    assert file_module_name(one) != file_module_name(other)
    assert file_module_name(one).startswith("_optbench_plugin_my_solver_")
    assert file_module_name(one).isidentifier()


def test_a_plugin_error_survives_pickling():
    import pickle

    error = PluginError("plugins[2]", "importing x failed: KeyError: 'y'", 2)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.label, copy.cause, copy.index) == (
        str(error),
        "plugins[2]",
        error.cause,
        2,
    )


def test_a_plugin_that_fails_only_in_workers_stops_the_experiment_naming_it(
    tmp_path, isolated_plugins
):
    solver = unique("fixed_step")
    only_here = f"if os.getpid() != {os.getpid()}:\n    raise ImportError('not on this worker')"
    path = write_solver_plugin(tmp_path / "local.py", solver, prelude=only_here)
    with pytest.raises(PluginError) as raised:
        optbench.run(
            plugin_vs_gd_config(solver, str(path), executor=WORKERS),
            out=tmp_path / "out",
            progress=False,
            plot=False,
        )
    assert str(raised.value).startswith(f"plugin {path.resolve()} in process ")
    assert str(raised.value).endswith("failed: ImportError: not on this worker")


# --- entry points ----------------------------------------------------------------------

ENTRY_POINT_MODULE = '''
"""An installed package's solvers and problems (a test double)."""
import numpy as np
from dataclasses import dataclass

from optbench.problems.base import Problem
from optbench.registry import PROBLEMS
from optbench.solvers.gradient_descent import GradientDescent


@dataclass(frozen=True)
class HalfStep(GradientDescent):
    """Gradient descent, registered by its entry point's name."""


@PROBLEMS.register("ep_quadratic")
class Quadratic(Problem):
    """f(x) = sum(scale_i x_i^2) / 2, registering itself."""

    def __init__(self, dim: int = 3):
        self.dim, self.name, self.params = dim, "ep_quadratic", {"dim": dim}
        self.x0, self.f_star = np.ones(dim), 0.0
        self.scale = np.arange(1.0, dim + 1.0)

    def value_and_grad(self, x):
        return 0.5 * float(self.scale @ (x * x)), self.scale * x

    def hvp(self, x, v):
        return self.scale * v
'''


def installed_package(site: Path, entry_points: str) -> dict[str, str]:
    """A package ``ep_plugin_pkg`` "installed" in ``site`` (a dist-info with
    ``entry_points``); the environment of a subprocess that sees it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "ep_plugin_pkg.py").write_text(ENTRY_POINT_MODULE)
    dist_info = site / "ep_plugin_pkg-0.1.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ep-plugin-pkg\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path}


def optbench_subprocess(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "optbench.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


GOOD_ENTRY_POINTS = """
    [optbench.solvers]
    ep_half_step = ep_plugin_pkg:HalfStep

    [optbench.problems]
    ep_problems = ep_plugin_pkg
"""


def test_entry_points_of_an_installed_package_work_in_every_worker_without_config(tmp_path):
    env = installed_package(tmp_path / "site", GOOD_ENTRY_POINTS)
    config = {
        "name": "entry_points",
        "problems": [{"family": "ep_quadratic", "params": {"dim": [3, 5]}}],
        "solvers": [
            {"name": "ep_half_step", "params": {"step_size": 0.1}},
            {"name": "gd", "params": {"step_size": 0.1}},
        ],
        "stop": {"max_iter": 2000},
        "seeds": [0, 1],
        "jobs": 2,
        "executor": WORKERS,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))

    listing = optbench_subprocess(env, "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "ep_half_step: Gradient descent, registered by its entry point's name." in listing.stdout
    assert "ep_quadratic: f(x) = sum(scale_i x_i^2) / 2" in listing.stdout
    done = optbench_subprocess(env, "run", "config.yaml", "--out", "out", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 8 and set(summary["status"]) == {"converged"}, summary["message"]
    plugin = summary[summary["optimizer"] == "ep_half_step"].set_index(["problem", "seed"])
    gd = summary[summary["optimizer"] == "gd"].set_index(["problem", "seed"])
    pd.testing.assert_series_equal(plugin["iters"].sort_index(), gd["iters"].sort_index())

    lazily = "import sys, optbench, optbench.cli; optbench.cli.build_parser(); "
    lazily += "print('ep_plugin_pkg' in sys.modules)"
    imported = subprocess.run(
        [sys.executable, "-c", lazily], env=env, capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "False"  # not at import, nor for --help


def test_a_broken_entry_point_is_one_line_exit_2(tmp_path):
    broken = "[optbench.solvers]\nbroken = ep_plugin_pkg_missing:Solver\n"
    env = installed_package(tmp_path / "site", broken)
    listing = optbench_subprocess(env, "list", "solvers", cwd=tmp_path)
    assert listing.returncode == 2
    assert listing.stderr == (
        "optbench: error: entry point broken = ep_plugin_pkg_missing:Solver (group "
        "optbench.solvers of ep-plugin-pkg 0.1): cannot be loaded: ModuleNotFoundError: "
        "No module named 'ep_plugin_pkg_missing'\n"
    )


@pytest.fixture
def entry_points(monkeypatch, isolated_plugins):
    """Set the solver entry points the registry finds (it loads them again)."""
    found: list[EntryPoint] = []

    def fake_entry_points(group=None):
        return [entry for entry in found if entry.group == group]

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    monkeypatch.setattr(SOLVERS, "_entry_points_loaded", False)

    def use(**values: str) -> None:
        found[:] = [EntryPoint(name, value, "optbench.solvers") for name, value in values.items()]

    return use


@pytest.fixture
def plain_solver(tmp_path, monkeypatch) -> str:
    """``module:Plain``, an importable solver class that does not register itself."""
    module = unique("ep_plain_module")
    (tmp_path / f"{module}.py").write_text(
        "from optbench.solvers.gradient_descent import GradientDescent\n"
        "class Plain(GradientDescent):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{module}:Plain"


def test_an_entry_point_class_is_registered_under_its_name_unless_it_registers_itself(
    tmp_path, entry_points, plain_solver
):
    module = unique("ep_module")
    write_solver_plugin(tmp_path / f"{module}.py", "ep_self_registered")
    entry_points(ep_plain=plain_solver, ep_other_name=f"{module}:FixedStep")
    names = SOLVERS.names()
    assert "ep_plain" in names and SOLVERS.get("ep_plain").__name__ == "Plain"
    assert "ep_self_registered" in names and "ep_other_name" not in names
    assert SOLVERS._entry_points_loaded


def test_a_failing_entry_point_leaves_the_registry_as_it_was_and_is_tried_again(
    tmp_path, monkeypatch, entry_points
):
    module = unique("ep_module")
    path = write_solver_plugin(tmp_path / f"{module}.py", "ep_half_registered", epilogue="1 / 0")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry_points(ep_broken=f"{module}:FixedStep")
    for _ in range(2):  # the registry is consulted again: the same error, not a clash
        with pytest.raises(EntryPointError, match="cannot be loaded: ZeroDivisionError"):
            SOLVERS.names()
        assert "ep_half_registered" not in SOLVERS._entries
    path.write_text(path.read_text().replace("1 / 0", ""))
    assert "ep_half_registered" in SOLVERS.names()


def test_an_entry_point_taking_a_built_in_name_is_named(entry_points, plain_solver):
    entry_points(gd=plain_solver)
    with pytest.raises(EntryPointError) as raised:
        SOLVERS.get("gd")
    assert str(raised.value) == (
        f"entry point gd = {plain_solver} (group optbench.solvers): cannot be loaded: "
        "ValueError: solver name 'gd' is already registered (by "
        "optbench.solvers.gradient_descent.GradientDescent)"
    )


def test_plugins_see_the_entry_points_first(tmp_path, entry_points, plain_solver):
    entry_points(ep_plain=plain_solver)
    source = "from optbench.registry import SOLVERS\nSOLVERS.register('ep_plain')(object)\n"
    (tmp_path / "late.py").write_text(source)
    with pytest.raises(PluginError, match=r"plugins\[0\]: .* solver name 'ep_plain' is already"):
        plugins.load_plugins([str(tmp_path / "late.py")])


def test_every_module_of_a_package_is_imported_without_a_list(tmp_path, monkeypatch) -> None:
    from optbench.registry import Registry, import_submodules

    package = tmp_path / "fresh_families"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from optbench.registry import Registry\nFOUND = Registry('thing')\n"
    )
    for name in ("alpha", "beta", "_private"):
        (package / f"{name}.py").write_text(
            f"from fresh_families import FOUND\n@FOUND.register({name!r})\nclass Thing:\n    pass\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    import_submodules("fresh_families")
    import fresh_families

    assert isinstance(fresh_families.FOUND, Registry)
    assert sorted(fresh_families.FOUND.names()) == ["alpha", "beta"]  # _private is skipped


# Run in a fresh interpreter: the registries of this process hold whatever earlier tests
# imported. Discovery registers the built-ins; then every module of the two packages is
# imported (sub-packages and names starting with _ included) and must register nothing
# more, and every module whose source registers a family, solver or suite must be among
# those discovery imported.
_DISCOVERY_CHECK = """
import importlib, json, pkgutil, re, sys
from optbench.problems import list_problems
from optbench.problems.suites import suite_names
from optbench.solvers import list_solvers

def state():
    return {"families": sorted(list_problems()), "solvers": sorted(list_solvers()),
            "suites": sorted(suite_names())}

REGISTERS = re.compile(r"^\\s*(@(PROBLEMS|SOLVERS)\\.register|register_suite)\\(", re.M)
found, discovered = state(), set(sys.modules)
registering = []
for package in ("optbench.problems", "optbench.solvers"):
    path = importlib.import_module(package).__path__
    for info in pkgutil.walk_packages(path, package + "."):
        module = importlib.import_module(info.name)
        source = open(module.__file__, encoding="utf-8").read()
        if REGISTERS.search(source):
            registering.append(info.name)
print(json.dumps({"found": found, "everything": state(), "registering": registering,
                  "missed": sorted(set(registering) - discovered)}))
"""


def test_every_module_that_registers_is_found_by_discovery() -> None:
    import json

    env = {k: v for k, v in os.environ.items() if k != "OPTBENCH_PROBLEMS_DIR"}
    out = subprocess.run(
        [sys.executable, "-c", _DISCOVERY_CHECK], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["found"] == result["everything"]
    assert result["missed"] == []
    # The check sees the registering modules (it is not vacuous).
    assert {"optbench.problems.mgh.family", "optbench.solvers.newton_cg"} <= set(
        result["registering"]
    )
    assert {"rosenbrock", "mgh"} <= set(result["found"]["families"])
    assert "newton_cg" in result["found"]["solvers"]
