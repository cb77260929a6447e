"""Experiment configs: the schema of ``optbench run CONFIG`` and its expansion into runs.

:func:`load_config` reads and validates a config completely (schema, names, values,
every problem instance's parameters and memory estimate, the number of runs) so that
bad input fails before any run, with a one-line :class:`ConfigError` naming the path
and the rule, e.g. ``solvers[2].params.step_size: must be > 0, got -0.1``. It expands
the config once into the :class:`~optbench.run.spec.RunSpec` of every run
(:attr:`ExperimentConfig.runs`, also returned by :func:`expand`), and :func:`describe`
lists them for ``--dry-run``. The ``stop`` and ``log`` sections are read straight into
the runner's :class:`~optbench.run.runner.StopCriteria` and
:class:`~optbench.run.runner.LogPolicy` (:mod:`optbench.run.schema`).

Sweeps: in the ``params`` of a problem or a solver, a list is a sweep axis and the runs
are the cartesian product of the axes; ``{logspace: [a, b, n]}``, ``{linspace: [a, b,
n]}`` and ``{times_1_over_L: [c, ...]}`` generate lists (:mod:`optbench.run.sweeps`,
which also checks the names and values of every problem and solver entry).

``plugins`` (module names or ``.py`` files that register solvers or problems,
:mod:`optbench.run.plugins`) are imported while the config is validated, before any
name is checked, and kept resolved for the workers and the results' ``config.yaml``.

``repeat: k`` (top level, an integer >= 1, default 1) executes every run k times, one
after the other in the same worker, for timing only: the summary's ``time`` is the
median of the k times with a bootstrap interval, and repeats whose counts differ are
flagged (:func:`optbench.run.records.combine_repeats`).

Runs come in a deterministic order: problems as listed (a problem's sweep with its last
key varying fastest) × solvers as listed (likewise) × seeds. YAML is read with a safe
loader that also reads ``1e-8`` as a number (as YAML 1.2 does; PyYAML's YAML 1.1 reads
a string) and refuses duplicate keys.
"""

from __future__ import annotations

import itertools
import math
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from optbench.problems import list_problems
from optbench.registry import PROBLEMS
from optbench.run import DEFAULT_MAX_RUNS
from optbench.run.entries import Name, ProblemEntry, SolverEntry
from optbench.run.plugins import PluginError, load_plugins
from optbench.run.runner import LogPolicy, StopCriteria
from optbench.run.schema import (
    ConfigError,
    NonNegativeInt,
    PositiveInt,
    StrictModel,
    Targets,
    error_line,
    one_line,
    rule,
)
from optbench.run.spec import RunSpec
from optbench.run.sweeps import (
    COMMON_PROBLEM_PARAMETERS,
    SWEEP_KINDS,
    axis_size,
    check_pair,
    problem_specs,
    solver_param_sets,
    step_size_marker,
    suite_instances,
)

__all__ = [
    "COMMON_PROBLEM_PARAMETERS",
    "DEFAULT_MAX_RUNS",
    "DEFAULT_TARGETS",
    "SWEEP_KINDS",
    "ConfigError",
    "ExperimentConfig",
    "count_runs",
    "describe",
    "expand",
    "load_config",
    "step_size_marker",
]

#: Levels of f - f* for fixed-target tables when a config gives none.
DEFAULT_TARGETS = (1e-2, 1e-4, 1e-6, 1e-8)

_DIRECTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


# ------------------------------------------------------------------------------ schema
class ExecutorConfig(StrictModel):
    """How runs execute; ``backend`` None means serial when jobs is 1, else this process
    runs tasks beside jobs - 1 joblib (loky) workers that start in the background
    (:func:`~optbench.run.executor.execute`); ``joblib`` starts jobs workers and waits."""

    backend: Literal["serial", "joblib", "dask"] | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _address_for_dask(self) -> ExecutorConfig:
        if self.address is not None and self.backend != "dask":
            raise rule(
                ("address",), f"only the dask backend takes an address, got backend {self.backend}"
            )
        return self


class ExperimentConfig(StrictModel):
    """A validated experiment config; see the module docstring."""

    name: str
    plugins: list[Name] = Field(default_factory=list)
    problems: Annotated[list[ProblemEntry], Field(min_length=1)]
    solvers: Annotated[list[SolverEntry], Field(min_length=1)]
    stop: StopCriteria = Field(default_factory=StopCriteria)
    targets: Targets = Field(default_factory=lambda: list(DEFAULT_TARGETS))
    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)] = Field(default_factory=lambda: [0])
    jobs: PositiveInt = 1
    repeat: PositiveInt = 1
    log: LogPolicy = Field(default_factory=LogPolicy)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    _runs: tuple[RunSpec, ...] | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _directory_safe(cls, name: str) -> str:
        if not _DIRECTORY_NAME.fullmatch(name):
            raise ValueError(
                "must be a directory name: up to 100 letters, digits, '.', '_' or '-', "
                f"starting with a letter or digit, got {name!r}"
            )
        return name

    @field_validator("plugins")
    @classmethod
    def _import_plugins(cls, entries: list[str], info: ValidationInfo) -> list[str]:
        """Import the plugins (before the fields below name what they register), resolved."""
        try:
            return load_plugins(entries, (info.context or {}).get("config_dir"))
        except PluginError as exc:
            raise rule(() if exc.index is None else (exc.index,), exc.cause) from None

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError(f"must not repeat a value, got {values}")
        return values

    @model_validator(mode="after")
    def _backend_fits_jobs(self) -> ExperimentConfig:
        if self.executor.backend == "serial" and self.jobs > 1:
            raise rule(("executor", "backend"), f"serial runs one job, but jobs is {self.jobs}")
        return self

    @property
    def runs(self) -> tuple[RunSpec, ...]:
        """Every run of the config, in order: expanded once, on first use.

        :func:`load_config` expands it (so a loaded config has been checked to the last
        run); a config built otherwise is expanded here, within :data:`DEFAULT_MAX_RUNS`.

        Raises
        ------
        ConfigError
            As :func:`load_config`.
        """
        if self._runs is None:
            check_run_count(self, DEFAULT_MAX_RUNS)
            self._runs = tuple(_expand(self))
        return self._runs

    @property
    def backend(self) -> str:
        """The executor backend, with the default resolved from ``jobs`` (``joblib`` for
        more than one job: joblib's workers, beside this process when none is named; see
        :func:`~optbench.run.executor.execute`)."""
        return self.executor.backend or ("joblib" if self.jobs > 1 else "serial")


# ------------------------------------------------------------------------------ YAML
class _ConfigLoader(yaml.SafeLoader):
    """Safe loader that reads ``1e-8`` as a float and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key_node, deep=True) for key_node, _ in node.value]
        for k, key in enumerate(keys):
            if isinstance(key, typing.Hashable) and key in keys[:k]:
                mark = node.value[k][0].start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        return super().construct_mapping(node, deep=deep)


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {one_line(exc)}") from None
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = one_line(exc.problem or exc.context)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {one_line(exc)}") from None


# ----------------------------------------------------------------------- public API
def load_config(
    source: str | Path | dict[str, Any] | ExperimentConfig,
    plugins: Sequence[str] = (),
    max_runs: int | None = DEFAULT_MAX_RUNS,
) -> ExperimentConfig:
    """Read and fully validate an experiment config, and expand it into its runs.

    Parameters
    ----------
    source : str, Path, dict or ExperimentConfig
        Path of a YAML file, or the config as a mapping (or a built config, checked again).
    plugins : sequence of str
        Plugins besides the config's own (``optbench run --plugin``), relative to the
        current directory and imported first; errors name them ``--plugin``. The
        config's ``plugins`` (:mod:`optbench.run.plugins`) are relative to the config
        file's directory (the current one for a mapping). The returned config lists
        both, resolved.
    max_runs : int or None
        Refuse a config of more runs (None: no limit). The count is computed from the
        sizes of the sweeps, before any run is made, so a huge sweep fails at once.

    Returns
    -------
    ExperimentConfig
        The config; its :attr:`~ExperimentConfig.runs` are expanded, every problem
        instance's parameters and memory estimate checked and every solver constructed.

    Raises
    ------
    ConfigError
        The first problem found, as one line ``path: rule``: a missing file, invalid
        YAML (with line and column), a schema violation, a plugin that cannot be
        imported, an unknown problem, family, parameter or solver (with did-you-mean),
        an invalid value (for a family, by its ``check_params``), a problem whose data
        would not fit in the available memory, an inline matrix, an empty sweep, a
        duplicate run, or more than ``max_runs`` runs.
    """
    extra = load_plugins(plugins, option="--plugin")
    if isinstance(source, ExperimentConfig):
        config = source
    else:
        data = _read_yaml(Path(source)) if isinstance(source, (str, Path)) else source
        if not isinstance(data, dict):
            where = source if isinstance(source, (str, Path)) else "config"
            if data is None:
                raise ConfigError(f"{where}: the config is empty")
            kind = type(data).__name__
            raise ConfigError(f"{where}: a config must be a mapping of keys, got {kind}")
        config_dir = Path(source).parent if isinstance(source, (str, Path)) else None
        try:
            config = ExperimentConfig.model_validate(data, context={"config_dir": config_dir})
        except ValidationError as exc:
            raise ConfigError(error_line(exc.errors()[0])) from None
    if extra:
        merged = list(dict.fromkeys([*config.plugins, *extra]))
        config = config.model_copy(update={"plugins": merged})
    check_run_count(config, max_runs)
    config.runs  # noqa: B018 - expands and checks every run, once
    return config


def count_runs(config: ExperimentConfig) -> int:
    """The number of runs of ``config``, from the sizes of its sweeps (nothing expanded)."""

    def grid(params: dict[str, Any], vectors: Sequence[str] = ()) -> int:
        return math.prod(axis_size(value, key in vectors) for key, value in params.items())

    def vectors(family: str | None) -> Sequence[str]:
        if family is None or family not in PROBLEMS:
            return ()
        return getattr(PROBLEMS.get(family), "vector_params", ())

    def instances(entry: ProblemEntry, path: str) -> int:
        if entry.suite is not None:
            return len(suite_instances(entry, path))
        return grid(entry.params, vectors(entry.family))

    problems = sum(instances(e, f"problems[{i}]") for i, e in enumerate(config.problems))
    solvers = sum(grid(entry.params) for entry in config.solvers)
    return problems * solvers * len(config.seeds)


def check_run_count(config: ExperimentConfig, max_runs: int | None) -> None:
    """Raise :class:`ConfigError` when ``config`` has more than ``max_runs`` runs."""
    if max_runs is None:
        return
    count = count_runs(config)
    if count > max_runs:
        raise ConfigError(
            f"the config describes {count} runs, more than the limit of {max_runs} "
            "(--max-runs); shrink its sweeps or raise the limit"
        )


def expand(config: ExperimentConfig) -> list[RunSpec]:
    """Every run of ``config`` (its :attr:`~ExperimentConfig.runs`, expanded once)."""
    return list(config.runs)


def _expand(config: ExperimentConfig) -> list[RunSpec]:
    """Every run of ``config``: problems × solver configurations × seeds, in order.

    Problem data is never built here: a family's parameters are checked by name, by
    annotated type (strictly) and by the family's ``check_params`` classmethod, and its
    ``data_bytes`` estimate is compared with the available memory. Every solver
    configuration is constructed with :func:`~optbench.solvers.make_solver`, so its own
    validation runs.
    """
    problem_names, families = list_problems(), PROBLEMS.names()
    problems = [
        problem_specs(entry, f"problems[{i}]", problem_names, families)
        for i, entry in enumerate(config.problems)
    ]
    solvers = [
        (s.name, solver_param_sets(s, f"solvers[{j}]")) for j, s in enumerate(config.solvers)
    ]
    for instances in problems:
        for instance in instances:
            for j, (solver, _) in enumerate(solvers):
                check_pair(instance, solver, f"solvers[{j}]")
    stop, log, targets = config.stop, config.log, tuple(config.targets)
    specs: list[RunSpec] = []
    origin: dict[str, tuple[int, int]] = {}
    for i, instances in enumerate(problems):
        for problem, (j, (solver, param_sets)) in itertools.product(instances, enumerate(solvers)):
            for params, seed in itertools.product(param_sets, config.seeds):
                spec = RunSpec(problem, solver, params, seed, stop, targets, log, config.repeat)
                if spec.run_id in origin:
                    first_i, first_j = origin[spec.run_id]
                    raise ConfigError(
                        f"{f'solvers[{j}]' if first_i == i else f'problems[{i}]'}: duplicate "
                        f"run {problem.label} x {spec.solver_label} seed {seed}, already "
                        f"given by problems[{first_i}] x solvers[{first_j}]"
                    )
                origin[spec.run_id] = (i, j)
                specs.append(spec)
    return specs


def describe(specs: Sequence[RunSpec]) -> str:
    """The ``--dry-run`` listing: one line per run (run_id, problem, solver, seed), a total."""
    rows = [("run_id", "problem", "solver", "seed")]
    rows += [(s.run_id, s.problem.label, s.solver_label, str(s.seed)) for s in specs]
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = ["  ".join([row[k].ljust(widths[k]) for k in range(3)] + [row[3]]) for row in rows]
    counts = (len({s.problem.label for s in specs}), len({s.solver_label for s in specs}))
    lines.append(
        f"{len(specs)} run(s): {counts[0]} problem instance(s) x {counts[1]} solver "
        f"configuration(s) x {len({s.seed for s in specs})} seed(s)"
    )
    return "\n".join(lines)
