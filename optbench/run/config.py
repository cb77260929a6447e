"""Experiment configs: the schema of ``optbench run CONFIG`` and its expansion into runs.

:func:`load_config` reads and validates a config completely (schema, names, values) so
that bad input fails before any run, with a one-line :class:`ConfigError` naming the
path and the rule, e.g. ``solvers[2].params.step_size: must be > 0, got -0.1``;
:func:`expand` turns it into the :class:`~optbench.run.spec.RunSpec` of every run and
:func:`describe` lists them for ``--dry-run``.

Sweeps: in the ``params`` of a problem or a solver, a list is a sweep axis and the runs
are the cartesian product of the axes; ``{logspace: [a, b, n]}``, ``{linspace: [a, b,
n]}`` and ``{times_1_over_L: [c, ...]}`` generate lists (:mod:`optbench.run.sweeps`,
which also checks the names and values of every problem and solver entry).

``plugins`` (module names or ``.py`` files that register solvers or problems,
:mod:`optbench.run.plugins`) are imported while the config is validated, before any
name is checked, and kept resolved for the workers and the results' ``config.yaml``.

Runs come in a deterministic order: problems as listed (a problem's sweep with its last
key varying fastest) × solvers as listed (likewise) × seeds. YAML is read with a safe
loader that also reads ``1e-8`` as a number (as YAML 1.2 does; PyYAML's YAML 1.1 reads
a string) and refuses duplicate keys.
"""

from __future__ import annotations

import itertools
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from optbench.problems import list_problems
from optbench.registry import PROBLEMS, unknown_name_message
from optbench.run.plugins import PluginError, load_plugins
from optbench.run.runner import LogPolicy, StopCriteria
from optbench.run.spec import RunSpec
from optbench.run.sweeps import (
    COMMON_PROBLEM_PARAMETERS,
    SWEEP_KINDS,
    ConfigError,
    one_line,
    problem_specs,
    short_repr,
    solver_param_sets,
    step_size_marker,
)

__all__ = [
    "COMMON_PROBLEM_PARAMETERS",
    "DEFAULT_TARGETS",
    "SWEEP_KINDS",
    "ConfigError",
    "ExperimentConfig",
    "describe",
    "expand",
    "load_config",
    "step_size_marker",
]

#: Levels of f - f* for fixed-target tables when a config gives none.
DEFAULT_TARGETS = (1e-2, 1e-4, 1e-6, 1e-8)

_DIRECTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_PROBLEM_FORMS = "a problem name, {name: ...} or {family: ..., params: {...}}"


# ------------------------------------------------------------------------------ schema
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
Name = Annotated[str, Field(min_length=1)]


def _rule(path: tuple[str, ...], text: str) -> PydanticCustomError:
    """A validation error at ``path`` below the model that raises it."""
    return PydanticCustomError("rule", "{text}", {"text": text, "path": path})


class _Strict(BaseModel):
    """Base of the config models: frozen; unknown keys are errors with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def _coerce(cls, data: Any) -> Any:
        """Rewrite a short form of the input before validation (default: none)."""
        return data

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        data = cls._coerce(data)
        for key in data if isinstance(data, dict) else ():
            if key not in cls.model_fields:
                allowed = list(cls.model_fields)
                raise _rule((key,), unknown_name_message("key", str(key), allowed))
        return data


class ProblemEntry(_Strict):
    """A problem: a catalog or family ``name``, or an inline ``family`` with ``params``."""

    name: Name | None = None
    family: Name | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if not isinstance(data, (str, dict)):
            raise ValueError(f"must be {_PROBLEM_FORMS}, got {data!r}")
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _name_or_family(self) -> ProblemEntry:
        if (self.name is None) == (self.family is None) or (self.name and self.params):
            raise ValueError(f"must be {_PROBLEM_FORMS} (params only with family)")
        return self


class SolverEntry(_Strict):
    """A solver and its hyper-parameters (lists and sweep mappings are sweeps)."""

    name: Name
    params: dict[str, Any] = Field(default_factory=dict)


class StopConfig(_Strict):
    """Stopping tests and budgets; see :class:`~optbench.run.runner.StopCriteria`."""

    gtol: NonNegativeFloat = 1e-8
    f_gap_tol: PositiveFloat | None = None
    max_iter: NonNegativeInt = 1000
    max_cost: PositiveFloat | None = None
    max_time: PositiveFloat | None = None


class LogConfig(_Strict):
    """``{every: k}`` or ``{geometric: r}``; see :class:`~optbench.run.runner.LogPolicy`."""

    every: PositiveInt | None = None
    geometric: Annotated[float, Field(strict=True, gt=1, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _one_policy(self) -> LogConfig:
        if self.every is not None and self.geometric is not None:
            raise ValueError("give {every: k} or {geometric: r}, not both")
        return self


class ExecutorConfig(_Strict):
    """How runs execute; ``backend`` None means joblib when jobs > 1, else serial."""

    backend: Literal["serial", "joblib", "dask"] | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _address_for_dask(self) -> ExecutorConfig:
        if self.address is not None and self.backend != "dask":
            raise _rule(
                ("address",), f"only the dask backend takes an address, got backend {self.backend}"
            )
        return self


class ExperimentConfig(_Strict):
    """A validated experiment config (the schema of issue 4); see the module docstring."""

    name: str
    plugins: list[Name] = Field(default_factory=list)
    problems: Annotated[list[ProblemEntry], Field(min_length=1)]
    solvers: Annotated[list[SolverEntry], Field(min_length=1)]
    stop: StopConfig = Field(default_factory=StopConfig)
    targets: list[PositiveFloat] = Field(default_factory=lambda: list(DEFAULT_TARGETS))
    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)] = Field(default_factory=lambda: [0])
    jobs: PositiveInt = 1
    log: LogConfig = Field(default_factory=LogConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

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
            raise _rule((exc.index,), exc.cause) from None

    @field_validator("targets", "seeds")
    @classmethod
    def _distinct(cls, values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError(f"must not repeat a value, got {values}")
        return values

    @model_validator(mode="after")
    def _backend_fits_jobs(self) -> ExperimentConfig:
        if self.executor.backend == "serial" and self.jobs > 1:
            raise _rule(("executor", "backend"), f"serial runs one job, but jobs is {self.jobs}")
        return self

    @property
    def backend(self) -> str:
        """The executor backend, with the default resolved from ``jobs``."""
        return self.executor.backend or ("joblib" if self.jobs > 1 else "serial")

    def stop_criteria(self) -> StopCriteria:
        """The runner's :class:`StopCriteria` for every run."""
        return StopCriteria(**self.stop.model_dump())

    def log_policy(self) -> LogPolicy:
        """The runner's :class:`LogPolicy` for every run."""
        return LogPolicy(every=self.log.every or 1, geometric=self.log.geometric)


# ----------------------------------------------------------------------- error lines
_PHRASES = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "must be an integer"),
    **dict.fromkeys(("float_type", "float_parsing"), "must be a number"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "must be a mapping"),
    "greater_than": "must be > {gt:g}",
    "greater_than_equal": "must be >= {ge:g}",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} item(s)",
    "literal_error": "must be one of {expected}",
}


def format_path(loc: Sequence[str | int]) -> str:
    """``("solvers", 2, "params", "step_size")`` → ``"solvers[2].params.step_size"``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _error_line(error: Any) -> str:
    """One pydantic error as ``path: rule, got value``."""
    context = error.get("ctx") or {}
    kind, loc = error["type"], (*error["loc"], *context.get("path", ()))
    if kind in ("rule", "value_error"):
        text = str(context.get("text", context.get("error")))
    elif kind == "missing":
        text = "required key is missing"
    else:
        msg = error["msg"]
        text = _PHRASES[kind].format(**context) if kind in _PHRASES else msg[:1].lower() + msg[1:]
        text += f", got {short_repr(error['input'])}"
    return f"{format_path(loc)}: {one_line(text)}" if loc else one_line(text)


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
    source: str | Path | dict[str, Any] | ExperimentConfig, plugins: Sequence[str] = ()
) -> ExperimentConfig:
    """Read and fully validate an experiment config.

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

    Returns
    -------
    ExperimentConfig
        The config; every run it describes has been expanded and its solver constructed.

    Raises
    ------
    ConfigError
        The first problem found, as one line ``path: rule``: a missing file, invalid
        YAML (with line and column), a schema violation, a plugin that cannot be
        imported, an unknown problem, family, parameter or solver (with did-you-mean),
        an invalid value, an empty sweep or a duplicate run.
    """
    extra = load_plugins(plugins, option="--plugin")
    if isinstance(source, ExperimentConfig):
        return _checked(source, extra)
    data = _read_yaml(Path(source)) if isinstance(source, (str, Path)) else source
    if not isinstance(data, dict):
        where = source if isinstance(source, (str, Path)) else "config"
        if data is None:
            raise ConfigError(f"{where}: the config is empty")
        raise ConfigError(f"{where}: a config must be a mapping of keys, got {type(data).__name__}")
    config_dir = Path(source).parent if isinstance(source, (str, Path)) else None
    try:
        config = ExperimentConfig.model_validate(data, context={"config_dir": config_dir})
    except ValidationError as exc:
        raise ConfigError(_error_line(exc.errors()[0])) from None
    return _checked(config, extra)


def _checked(config: ExperimentConfig, extra_plugins: Sequence[str] = ()) -> ExperimentConfig:
    if extra_plugins:
        plugins = list(dict.fromkeys([*config.plugins, *extra_plugins]))
        config = config.model_copy(update={"plugins": plugins})
    expand(config)
    return config


def expand(config: ExperimentConfig) -> list[RunSpec]:
    """Every run of ``config``: problems × solver configurations × seeds, in order.

    Problem data is never built here: a family's parameters are checked by name, by
    annotated type (strictly) and by the family's ``check_params`` classmethod where it
    has one. Every solver configuration is constructed with
    :func:`~optbench.solvers.make_solver`, so its own validation runs.

    Raises
    ------
    ConfigError
        As :func:`load_config`.
    """
    problem_names, families = list_problems(), PROBLEMS.names()
    problems = [
        problem_specs(entry, f"problems[{i}]", problem_names, families)
        for i, entry in enumerate(config.problems)
    ]
    solvers = [
        (s.name, solver_param_sets(s, f"solvers[{j}]")) for j, s in enumerate(config.solvers)
    ]
    stop, log, targets = config.stop_criteria(), config.log_policy(), tuple(config.targets)
    specs: list[RunSpec] = []
    origin: dict[str, tuple[int, int]] = {}
    for i, instances in enumerate(problems):
        for problem, (j, (solver, param_sets)) in itertools.product(instances, enumerate(solvers)):
            for params, seed in itertools.product(param_sets, config.seeds):
                spec = RunSpec(problem, solver, params, seed, stop, targets, log)
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
