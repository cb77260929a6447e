"""Experiment configs: schema, sweeps, expansion order, run ids and one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from optbench.problems.base import Problem
from optbench.registry import SOLVERS
from optbench.run.config import (
    DEFAULT_TARGETS,
    ConfigError,
    describe,
    expand,
    load_config,
    step_size_marker,
)
from optbench.run.runner import LogPolicy, StopCriteria
from optbench.solvers.base import Solver

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = (
    "quickstart.yaml",
    "gd_stepsize_sweep.yaml",
    "newton_vs_cg.yaml",
    "ml_losses.yaml",
    "mgh.yaml",
    "stochastic.yaml",
)


def config(**changes: Any) -> dict[str, Any]:
    """A small valid config with ``changes`` applied (None removes a key)."""
    base = {"name": "tiny", "problems": ["rosenbrock_2d"], "solvers": [{"name": "newton_cg"}]}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def triples(specs: list) -> list[tuple[str, str, int]]:
    return [(spec.problem.label, spec.solver_label, spec.seed) for spec in specs]


@dataclasses.dataclass(frozen=True)
class MarkerSolver(Solver):
    """Accepts exactly the step sizes of :func:`step_size_marker` (``"c/L"``, c > 0)."""

    step_size: float | str = 1.0

    def __post_init__(self) -> None:
        text = str(self.step_size)
        if not (text.endswith("/L") and float(text[:-2]) > 0):
            raise ValueError(f"step_size: must be 'c/L' with c > 0, got {self.step_size!r}")


@pytest.fixture
def marker_solver(monkeypatch: pytest.MonkeyPatch) -> str:
    import optbench.solvers

    optbench.solvers.list_solvers()  # load the real solvers before adding the fake one
    monkeypatch.setitem(SOLVERS._entries, "marker_test", MarkerSolver)
    return "marker_test"


# --------------------------------------------------------------------------- expansion
def test_expansion_is_the_ordered_cartesian_product():
    specs = expand(
        load_config(
            config(
                problems=[
                    "rosenbrock_2d",
                    {
                        "family": "rosenbrock",
                        "params": {"dim": [2, 4], "variant": ["chained", "extended"]},
                    },
                ],
                solvers=[
                    {"name": "gd", "params": {"step_size": [0.001, 0.01, "armijo"]}},
                    {"name": "newton_cg", "params": {"forcing": ["sqrt", "linear"]}},
                    {"name": "scipy", "params": {"method": "L-BFGS-B"}},
                ],
                seeds=[0, 1],
            )
        )
    )
    problems = [
        "rosenbrock_2d",
        "rosenbrock[dim=2,variant=chained]",
        "rosenbrock[dim=2,variant=extended]",
        "rosenbrock[dim=4,variant=chained]",
        "rosenbrock[dim=4,variant=extended]",
    ]
    solvers = [
        "gd[step_size=0.001]",
        "gd[step_size=0.01]",
        "gd[step_size=armijo]",
        "newton_cg[forcing=sqrt]",
        "newton_cg[forcing=linear]",
        "scipy[method=L-BFGS-B]",
    ]
    assert len(specs) == 5 * 6 * 2
    expected = [(p, s, seed) for p in problems for s in solvers for seed in (0, 1)]
    assert triples(specs) == expected


def test_sweeps_over_several_solver_parameters_multiply():
    specs = expand(
        load_config(
            config(
                solvers=[
                    {
                        "name": "trust_ncg",
                        "params": {"initial_radius": [0.5, 1.0, 2.0], "eta": [0.1, 0.2]},
                    }
                ],
                seeds=[3],
            )
        )
    )
    params = [(s.solver_params["initial_radius"], s.solver_params["eta"]) for s in specs]
    assert params == [(r, e) for r in (0.5, 1.0, 2.0) for e in (0.1, 0.2)]


def test_logspace_and_linspace_expand_like_numpy():
    specs = expand(
        load_config(
            config(
                solvers=[
                    {"name": "gd", "params": {"step_size": {"logspace": [-3, 0, 4]}}},
                    {"name": "gd", "params": {"step_size": {"linspace": [0.2, 0.6, 5]}}},
                    {"name": "gd", "params": {"step_size": {"logspace": [-4, -4, 1]}}},
                ]
            )
        )
    )
    steps = [spec.solver_params["step_size"] for spec in specs]
    assert steps == pytest.approx([1e-3, 1e-2, 1e-1, 1.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1e-4])
    assert all(type(step) is float for step in steps)


def test_times_one_over_l_expands_to_step_size_markers(marker_solver):
    specs = expand(
        load_config(
            config(
                solvers=[
                    {
                        "name": marker_solver,
                        "params": {"step_size": {"times_1_over_L": [0.5, 1, 1.9]}},
                    },
                    {
                        "name": marker_solver,
                        "params": {"step_size": {"times_1_over_L": {"logspace": [-2, -1, 2]}}},
                    },
                ]
            )
        )
    )
    steps = [spec.solver_params["step_size"] for spec in specs]
    assert steps == ["0.5/L", "1/L", "1.9/L", "0.01/L", "0.1/L"]
    assert step_size_marker(2.0) == "2/L" and step_size_marker(0.25) == "0.25/L"


def test_stop_targets_log_and_defaults_reach_every_run():
    loaded = load_config(
        config(stop={"gtol": 1e-6, "max_iter": 20, "max_cost": 50}, log={"geometric": 1.5})
    )
    (spec,) = expand(loaded)
    assert spec.stop == StopCriteria(gtol=1e-6, max_iter=20, max_cost=50.0)
    assert spec.log == LogPolicy(geometric=1.5)
    assert spec.targets == DEFAULT_TARGETS
    assert spec.seed == 0 and loaded.backend == "serial"
    assert load_config(config(jobs=2)).backend == "joblib"
    assert load_config(config(jobs=2, executor={"backend": "dask", "address": "tcp://h:8786"}))


def test_yaml_reads_exponent_floats_as_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: tiny\nproblems: [rosenbrock_2d]\nsolvers: [{name: gd, params: {step_size: 1e-3}}]\n"
        "stop: {gtol: 1e-6}\ntargets: [1e-2, 1.0e-4]\n"
    )
    loaded = load_config(path)
    assert loaded.stop.gtol == 1e-6 and loaded.targets == [1e-2, 1e-4]
    assert expand(loaded)[0].solver_params == {"step_size": 1e-3}


def test_problem_data_is_not_built_to_validate(monkeypatch):
    # 10^7 x 10^4 dense data would not fit in memory: loading must not build it.
    monkeypatch.setattr("optbench.run.sweeps.available_memory", lambda: 10**15)
    huge = {"family": "least_squares", "params": {"n_samples": 10**7, "n_features": 10**4}}
    (spec,) = expand(load_config(config(problems=[huge])))
    assert spec.problem.params == huge["params"]


# ----------------------------------------------------------------------------- run ids
def test_run_ids_are_stable_and_unique(tmp_path):
    data = config(
        problems=["rosenbrock_2d", {"name": "least_squares_ill"}],
        solvers=[
            {"name": "gd", "params": {"step_size": {"logspace": [-3, -1, 3]}}},
            {"name": "newton"},
        ],
        seeds=[0, 1, 2],
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    ids = [spec.run_id for spec in expand(load_config(data))]
    assert ids == [spec.run_id for spec in expand(load_config(path))]
    assert len(set(ids)) == len(ids) == 2 * 4 * 3
    # Budgets are not part of a run's identity; the order of entries is not either.
    reordered = dict(data, solvers=data["solvers"][::-1], stop={"max_iter": 5})
    assert sorted(spec.run_id for spec in expand(load_config(reordered))) == sorted(ids)


def test_named_and_short_problem_forms_are_the_same_run():
    short = expand(load_config(config(problems=["rosenbrock_2d"])))
    named = expand(load_config(config(problems=[{"name": "rosenbrock_2d"}])))
    assert [s.run_id for s in short] == [s.run_id for s in named]


def test_describe_lists_every_run_and_the_total():
    specs = expand(load_config(config(solvers=[{"name": "newton"}, {"name": "gd"}], seeds=[0, 1])))
    lines = describe(specs).splitlines()
    assert len(lines) == len(specs) + 2  # a header, one line per run, the total
    for spec, line in zip(specs, lines[1:-1], strict=True):
        assert line.split() == [spec.run_id, spec.problem.label, spec.solver_label, str(spec.seed)]
    assert lines[-1].startswith("4 run(s): 1 problem instance(s) x 2 solver configuration(s)")


# --------------------------------------------------------------------------- bad input
SYNTAX_ERROR = "name: tiny\nproblems: [rosenbrock_2d\nsolvers: []\n"
BAD_CONFIGS = [
    (
        "unknown top-level key",
        config(seed=[1]),
        ["seed: unknown key 'seed'", "(did you mean 'seeds'?)"],
    ),
    (
        "unknown problem",
        config(problems=["rosenbrock_2"]),
        ["problems[0]: unknown problem 'rosenbrock_2'", "(did you mean 'rosenbrock_2d'?)"],
    ),
    (
        "unknown solver",
        config(solvers=[{"name": "newton_gc"}]),
        ["solvers[0].name: unknown solver 'newton_gc'", "(did you mean 'newton_cg'?)"],
    ),
    (
        "unknown solver parameter",
        config(solvers=[{"name": "gd", "params": {"stepsize": 0.1}}]),
        ["solvers[0].params.stepsize: unknown parameter of gd", "(did you mean 'step_size'?)"],
    ),
    (
        "negative step size",
        config(
            solvers=[
                {"name": "newton"},
                {"name": "gd"},
                {"name": "gd", "params": {"step_size": -0.1}},
            ]
        ),
        ["solvers[2].params.step_size: must be", "-0.1"],
    ),
    (
        "string for max_iter",
        config(stop={"max_iter": "many"}),
        ["stop.max_iter: must be an integer, got 'many'"],
    ),
    (
        "bool for max_iter",
        config(stop={"max_iter": True}),
        ["stop.max_iter: must be an integer, got True"],
    ),
    (
        "bad logspace arity",
        config(solvers=[{"name": "gd", "params": {"step_size": {"logspace": [-3, 0]}}}]),
        ["solvers[0].params.step_size.logspace: must be [start, stop, num], got [-3, 0]"],
    ),
    (
        "unknown sweep",
        config(solvers=[{"name": "gd", "params": {"step_size": {"logspcae": [-3, 0, 4]}}}]),
        ["solvers[0].params.step_size: a mapping must be one sweep", "(did you mean 'logspace'?)"],
    ),
    ("empty seeds", config(seeds=[]), ["seeds: must have at least 1 item"]),
    ("negative seed", config(seeds=[0, -1]), ["seeds[1]: must be >= 0, got -1"]),
    ("negative gtol", config(stop={"gtol": -1e-8}), ["stop.gtol: must be >= 0, got -1e-08"]),
    ("zero target", config(targets=[1e-2, 0.0]), ["targets[1]: must be > 0, got 0.0"]),
    (
        "unknown family parameter",
        config(problems=[{"family": "rosenbrock", "params": {"dimm": 3}}]),
        [
            "problems[0].params.dimm: unknown parameter of rosenbrock 'dimm'",
            "(did you mean 'dim'?)",
        ],
    ),
    (
        "unknown family",
        config(problems=[{"family": "rosenbrok"}]),
        ["problems[0].family: unknown family 'rosenbrok'", "(did you mean 'rosenbrock'?)"],
    ),
    (
        "wrong family parameter type",
        config(problems=[{"family": "rosenbrock", "params": {"dim": [2, "big"]}}]),
        ["problems[0].params.dim: must be an integer, got 'big'"],
    ),
    (
        "empty sweep",
        config(solvers=[{"name": "newton_cg", "params": {"forcing": []}}]),
        ["solvers[0].params.forcing: empty sweep"],
    ),
    (
        "solver rejects a swept value",
        config(solvers=[{"name": "newton_cg", "params": {"forcing": ["sqrt", "cubic"]}}]),
        ["solvers[0].params.forcing:", "'cubic'"],
    ),
    (
        "duplicate run",
        config(solvers=[{"name": "newton"}, {"name": "newton"}]),
        ["solvers[1]: duplicate run rosenbrock_2d x newton seed 0", "problems[0] x solvers[0]"],
    ),
    (
        "repeated sweep value",
        config(solvers=[{"name": "gd", "params": {"step_size": [0.1, 0.1]}}]),
        ["solvers[0].params.step_size: a sweep must not repeat a value"],
    ),
    ("unsafe name", config(name="../up"), ["name: must be a directory name", "'../up'"]),
    ("missing name", config(name=None), ["name: required key is missing"]),
    (
        "two log policies",
        config(log={"every": 2, "geometric": 1.5}),
        ["log: give one of {every: k}, {geometric: r}, {every_epochs: e}, not every and geometric"],
    ),
    (
        "serial with jobs",
        config(jobs=2, executor={"backend": "serial"}),
        ["executor.backend: serial runs one job, but jobs is 2"],
    ),
    (
        "unknown backend",
        config(executor={"backend": "ray"}),
        ["executor.backend: must be one of", "'ray'"],
    ),
    ("syntax error", SYNTAX_ERROR, ["c.yaml: invalid YAML at line 3, column 8"]),
    (
        "duplicate YAML key",
        "name: a\nname: b\n",
        ["c.yaml: invalid YAML at line 2, column 1: duplicate key 'name'"],
    ),
    ("missing file", None, ["missing.yaml: no such config file"]),
]


@pytest.mark.parametrize(
    ("source", "parts"), [case[1:] for case in BAD_CONFIGS], ids=[case[0] for case in BAD_CONFIGS]
)
def test_bad_config_is_one_line_naming_path_and_rule(tmp_path, source, parts):
    if source is None:
        source = tmp_path / "missing.yaml"
    elif isinstance(source, str):
        (tmp_path / "c.yaml").write_text(source)
        source = tmp_path / "c.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(source)
    message = str(caught.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


# ------------------------------------------------------------------------ shipped configs
def test_the_shipped_configs_are_there():
    assert {path.name for path in CONFIGS.glob("*.yaml")} >= set(SHIPPED)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.name)
def test_shipped_config_loads_and_expands(path):
    loaded = load_config(path)
    specs = expand(loaded)
    assert loaded.name == path.stem
    assert len(specs) == len({spec.run_id for spec in specs}) > 0


def test_the_resolved_config_loads_again_to_the_same_runs():
    loaded = load_config(
        config(
            problems=["rosenbrock_2d", {"family": "rosenbrock", "params": {"dim": [2, 6]}}],
            solvers=[{"name": "gd", "params": {"step_size": {"logspace": [-3, -1, 3]}}}],
            seeds=[0, 4],
        )
    )
    again = load_config(yaml.safe_load(yaml.safe_dump(loaded.model_dump(mode="json"))))
    assert [s.run_id for s in expand(again)] == [s.run_id for s in expand(loaded)]


class EvenSizeFamily(Problem):
    """A fake family whose cheap ``_validated_params`` rejects odd sizes."""

    def __init__(self, size: int = 2) -> None:
        raise AssertionError("config validation must not build problems")

    @classmethod
    def _validated_params(cls, *, size: int) -> dict[str, int]:
        if size % 2:
            raise ValueError(f"size: must be even, got {size}")
        return {"size": size}


def test_a_family_check_params_hook_validates_without_building(monkeypatch):
    from optbench.problems import list_problems
    from optbench.registry import PROBLEMS

    list_problems()  # load the real families before adding the fake one
    monkeypatch.setitem(PROBLEMS._entries, "even_test", EvenSizeFamily)
    good = {"family": "even_test", "params": {"size": [2, 4]}}
    assert len(expand(load_config(config(problems=[good])))) == 2
    with pytest.raises(ConfigError, match=r"^problems\[0\]\.params\.size: must be even, got 3$"):
        load_config(config(problems=[{"family": "even_test", "params": {"size": [2, 3]}}]))
