"""Sweeps of an experiment config, and the names and values of its problems and solvers.

In the ``params`` of a problem or a solver, a list is a sweep axis and the runs are the
cartesian product of the axes (:func:`combinations`, the last key varying fastest). A
mapping with one of the keys of :data:`SWEEP_KINDS` makes a list:

- ``{logspace: [a, b, n]}``: ``n`` values from :math:`10^a` to :math:`10^b` (``numpy.logspace``);
- ``{linspace: [a, b, n]}``: ``n`` values from ``a`` to ``b`` (``numpy.linspace``);
- ``{times_1_over_L: [c, ...]}`` (or of a ``logspace``/``linspace``): the step-size
  markers ``"c/L"`` (:func:`step_size_marker`), meaning :math:`c/L` with ``L`` from the
  problem's ``smoothness()``, resolved by the solver (``gd``); ``c = 1`` gives ``"1/L"``.

:func:`axis_size` counts the values of a parameter without generating them, so that
the number of runs is known before anything is expanded. A sweep value is a scalar: a
nested list (an inline matrix) is an error, and so is a family's data argument.

:func:`problem_specs` and :func:`solver_param_sets` expand one entry of the config's
``problems`` or ``solvers`` and check it without building any problem data: names (with
did-you-mean), required parameters, annotated types, the family's ``check_params`` and
its ``data_bytes`` estimate against :func:`available_memory`; every solver
configuration is constructed once so that its own validation runs.

Every check raises :class:`~optbench.run.schema.ConfigError`, a one-line message naming
the path and the rule (:mod:`optbench.run.config` re-exports it).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from optbench.problems import family_parameters
from optbench.problems.catalog import catalog_entry
from optbench.registry import PROBLEMS, did_you_mean, unknown_name_message
from optbench.run.schema import ConfigError, one_line, short_repr
from optbench.run.spec import ProblemSpec, labelled
from optbench.scalars import is_finite_number, is_integer
from optbench.solvers import list_solvers, make_solver, solver_fields

if TYPE_CHECKING:
    from optbench.problems.base import Problem
    from optbench.problems.suites import SuiteEntry
    from optbench.run.entries import ProblemEntry, SolverEntry

__all__ = [
    "COMMON_PROBLEM_PARAMETERS",
    "SWEEP_KINDS",
    "ConfigError",
    "combinations",
    "problem_specs",
    "solver_param_sets",
    "step_size_marker",
]

#: Keys of the mappings that generate a sweep.
SWEEP_KINDS = ("logspace", "linspace", "times_1_over_L")
#: How the annotation of a family parameter reads in an error message.
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "int | None": "an integer or null",
    "float | None": "a number or null",
}
#: Parameters every problem accepts (see :func:`optbench.problems.make_problem`).
COMMON_PROBLEM_PARAMETERS = {"hess_max_dim": Annotated[int, Field(strict=True, ge=1)]}


def _prefixed(path: str, exc: Exception, fields: Sequence[str]) -> str:
    """An error raised by a solver or a family, under ``path`` (``path.field: ...``)."""
    text = one_line(exc)
    return f"{path}.{text}" if text.split(":", 1)[0] in fields else f"{path}: {text}"


# ------------------------------------------------------------------------------ sweeps
def step_size_marker(multiple: float) -> str:
    """The step-size string for ``multiple`` × 1/L: ``0.5`` → ``"0.5/L"``, ``1`` → ``"1/L"``."""
    text = repr(float(multiple))
    return f"{text.removesuffix('.0')}/L"


def _generated(sweep: dict[Any, Any], path: str, allowed: Sequence[str] = SWEEP_KINDS) -> list:
    """The values of a sweep mapping such as ``{logspace: [a, b, n]}``."""
    kind, arguments = next(iter(sweep.items()), ("", None))
    if len(sweep) != 1 or kind not in allowed:
        found = ", ".join(map(str, sweep)) or "no key"
        hint = did_you_mean(str(kind), list(allowed)) if len(sweep) == 1 else ""
        raise ConfigError(
            f"{path}: a mapping must be one sweep of {', '.join(allowed)}; got {found}{hint}"
        )
    path = f"{path}.{kind}"
    if kind == "times_1_over_L":
        if isinstance(arguments, dict):
            arguments = _generated(arguments, path, ("logspace", "linspace"))
        if not isinstance(arguments, list) or not arguments:
            raise ConfigError(f"{path}: must be a non-empty list of multiples, got {arguments!r}")
        for k, multiple in enumerate(arguments):
            if not (is_finite_number(multiple) and multiple > 0):
                raise ConfigError(f"{path}[{k}]: must be a number > 0, got {multiple!r}")
        return [step_size_marker(multiple) for multiple in arguments]
    if not (isinstance(arguments, list) and len(arguments) == 3):
        raise ConfigError(f"{path}: must be [start, stop, num], got {short_repr(arguments)}")
    start, stop, num = arguments
    if not (is_finite_number(start) and is_finite_number(stop)):
        raise ConfigError(f"{path}: start and stop must be finite numbers, got {arguments!r}")
    if not is_integer(num) or num < 1:
        raise ConfigError(f"{path}: num must be an integer >= 1, got {num!r}")
    space = np.logspace if kind == "logspace" else np.linspace
    return [float(value) for value in space(start, stop, num)]


def _axis(value: Any, path: str) -> list[Any]:
    """The values of one parameter: a list is a sweep, a mapping generates one."""
    if not isinstance(value, (list, dict)):
        return [value]
    values = _generated(value, path) if isinstance(value, dict) else value
    if not values:
        raise ConfigError(f"{path}: empty sweep; give at least one value")
    for k, item in enumerate(values):
        if isinstance(item, (list, dict)):
            raise ConfigError(
                f"{path}[{k}]: a list in params is a sweep, and a sweep value cannot be a "
                f"list or a mapping (no inline matrices or data), got {short_repr(item)}"
            )
        if not isinstance(item, (str, int, float, bool, type(None))):
            raise ConfigError(
                f"{path}[{k}]: a sweep value must be a number, string, boolean "
                f"or null, got {short_repr(item)}"
            )
    if len(set(values)) != len(values):
        raise ConfigError(f"{path}: a sweep must not repeat a value, got {short_repr(values)}")
    return values


def _is_vector(value: Any) -> bool:
    """A non-empty list of numbers (not booleans): one value of a vector parameter."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def _vector_axis(value: Any, path: str) -> list[Any]:
    """The values of a vector parameter: a list of numbers, or a list of them (a sweep)."""
    if _is_vector(value):
        return [value]
    if isinstance(value, list) and value and all(_is_vector(v) for v in value):
        return value
    raise ConfigError(
        f"{path}: must be a list of numbers (a list of such lists sweeps it), "
        f"got {short_repr(value)}"
    )


def axis_size(value: Any, vector: bool = False) -> int:
    """The number of values of one parameter, without generating them.

    ``vector``: the parameter takes a list of numbers as one value (a family's
    ``vector_params``), so only a list of lists is a sweep. A malformed sweep counts as
    one value: :func:`combinations` reports it.
    """
    if vector:
        return len(value) if isinstance(value, list) and value and not _is_vector(value) else 1
    if isinstance(value, list):
        return len(value)
    if not (isinstance(value, dict) and len(value) == 1):
        return 1
    kind, arguments = next(iter(value.items()))
    if kind == "times_1_over_L":
        return axis_size(arguments) if isinstance(arguments, (list, dict)) else 1
    if kind in SWEEP_KINDS and isinstance(arguments, list) and len(arguments) == 3:
        num = arguments[2]
        return num if is_integer(num) and num >= 1 else 1
    return 1


def combinations(
    params: dict[str, Any], path: str, vectors: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Cartesian product of the parameter axes of ``params``, the last key varying fastest.

    Parameters
    ----------
    params : dict
        Parameter values; a list or a sweep mapping is an axis, anything else one value.
    path : str
        Where ``params`` stand in the config, for error messages.
    vectors : sequence of str
        Parameters whose value is a list of numbers (a family's ``vector_params``, such
        as a start point): for them a list of numbers is one value and a list of such
        lists the axis.

    Raises
    ------
    ConfigError
        An empty or repeating sweep, a bad sweep mapping or a sweep value that is not
        a number, string, boolean or null.
    """
    axes = [
        [(key, v) for v in (_vector_axis if key in vectors else _axis)(value, f"{path}.{key}")]
        for key, value in params.items()
    ]
    return [dict(items) for items in itertools.product(*axes)]


# ------------------------------------------------------------------- names and values
def problem_specs(
    entry: ProblemEntry, path: str, problem_names: list[str], families: list[str]
) -> list[ProblemSpec]:
    """The instances of one problem entry, names and values checked, no data built.

    Parameters
    ----------
    entry : ProblemEntry
        A named problem, a family with (possibly swept) ``params``, or a suite (every
        instance of it, at most ``max_dim`` variables).
    path : str
        Where the entry stands in the config (``problems[2]``).
    problem_names, families : list of str
        The known problem names and families.

    Raises
    ------
    ConfigError
        An unknown name or parameter, a missing parameter, a wrong type or a value the
        family's ``check_params`` refuses.
    """
    if entry.suite is not None:
        specs = []
        for instance in suite_instances(entry, path):
            if instance.named:
                specs += _named_specs(instance.name, path, problem_names, families)
            else:
                (spec,) = _family_specs(
                    instance.family, instance.params, path, problem_names, families
                )
                specs.append(ProblemSpec(spec.name, spec.params, title=instance.name))
        return specs
    if entry.name is not None:
        return _named_specs(entry.name, path, problem_names, families)
    assert entry.family is not None
    return _family_specs(entry.family, entry.params, path, problem_names, families)


def _named_specs(
    name: str, path: str, problem_names: list[str], families: list[str]
) -> list[ProblemSpec]:
    """A problem listed by name (a catalog instance, or a family with its defaults)."""
    if name not in problem_names:
        raise ConfigError(f"{path}: {unknown_name_message('problem', name, problem_names)}")
    if name in families:
        _check_family_params(name, {}, path)
    else:  # a named instance: its size, from its family's parameters
        named = catalog_entry(name)
        canonical = PROBLEMS.get(named["family"]).check_params(**_own(named["params"]))
        _check_memory(PROBLEMS.get(named["family"]), canonical, name, path)
    return [ProblemSpec(name)]


def _family_specs(
    family: str,
    params: dict[str, Any],
    path: str,
    problem_names: list[str],
    families: list[str],
) -> list[ProblemSpec]:
    """A family with (possibly swept) parameters: every combination, checked."""
    if family not in families:
        if family in problem_names:
            raise ConfigError(
                f"{path}.family: {family!r} is a named instance, not a "
                f"family; list it by name: - {family}"
            )
        message = unknown_name_message("family", family, families)
        raise ConfigError(f"{path}.family: {message}")
    vectors = getattr(PROBLEMS.get(family), "vector_params", ())
    combos = combinations(params, f"{path}.params", vectors)
    for combo in combos:
        _check_family_params(family, combo, path)
    return [ProblemSpec(family, combo) for combo in combos]


def suite_instances(entry: ProblemEntry, path: str) -> list[SuiteEntry]:
    """The instances of a ``{suite: NAME, max_dim: N}`` entry (an unknown suite: one line)."""
    from optbench.problems.suites import suite_entries

    assert entry.suite is not None
    try:
        instances = suite_entries(entry.suite, entry.max_dim)
    except ValueError as exc:
        raise ConfigError(f"{path}.{exc}") from None
    if not instances:
        raise ConfigError(
            f"{path}.max_dim: no instance of suite {entry.suite!r} has at most "
            f"{entry.max_dim} variables"
        )
    return instances


def check_pair(instance: ProblemSpec, solver: str, path: str) -> None:
    """Refuse a solver on a family it cannot run on, before any run.

    A residual-based solver class declares ``needs_least_squares``, a stochastic one
    ``stochastic``; the family class says whether it is least-squares shaped or a finite
    sum (no data is built). The dense-Hessian size limit needs the instance's dimension
    and is checked when the run starts
    (:meth:`~optbench.solvers.base.Solver.incompatibility`).
    """
    from optbench.problems.base import is_finite_sum, is_least_squares
    from optbench.registry import SOLVERS

    solver_class = SOLVERS.get(solver)
    needs_least_squares = getattr(solver_class, "needs_least_squares", False)
    stochastic = getattr(solver_class, "stochastic", False)
    if not (needs_least_squares or stochastic):
        return
    families = PROBLEMS.names()
    family = instance.name if instance.name in families else catalog_entry(instance.name)["family"]
    if needs_least_squares and not is_least_squares(PROBLEMS.get(family)):
        raise ConfigError(
            f"{path}: {solver} needs residuals and a Jacobian, and problem "
            f"{instance.label} is not least-squares shaped; use a gradient-based solver"
        )
    if stochastic and not is_finite_sum(PROBLEMS.get(family)):
        raise ConfigError(
            f"{path}: {solver} needs a finite sum with minibatch evaluations (logistic, "
            f"softmax, least_squares), and problem {instance.label} is not one"
        )


def _check_family_params(family: str, params: dict[str, Any], path: str) -> None:
    """Names (did-you-mean), required ones, annotated types, the family's ``check_params``."""
    parameters = family_parameters(family)
    allowed = [*parameters, *COMMON_PROBLEM_PARAMETERS]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for key in params:
        if key not in allowed and not open_ended:
            message = unknown_name_message(f"parameter of {family}", key, allowed)
            raise ConfigError(f"{path}.params.{key}: {message}")
    for name, p in parameters.items():
        required = p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        if required and name not in params:
            raise ConfigError(f"{path}.params: {family} needs the parameter {name!r}")
    for key, value in params.items():
        type_name, adapter = _annotated_types(PROBLEMS.get(family)).get(key, ("", None))
        try:
            if adapter is not None:
                adapter.validate_python(value, strict=True)
        except ValidationError:
            raise ConfigError(f"{path}.params.{key}: must be {type_name}, got {value!r}") from None
    cls = PROBLEMS.get(family)
    own = _own(params)
    for key in getattr(cls, "data_names", ()):
        if key in own:
            raise ConfigError(
                f"{path}.params.{key}: data cannot be given in a config; use the family's "
                "synthetic parameters or a named instance"
            )
    check_params = getattr(cls, "check_params", None)  # a Problem subclass has one
    if check_params is None:
        return
    try:
        canonical = check_params(**own)
    except (ValueError, TypeError) as exc:
        raise ConfigError(_prefixed(f"{path}.params", exc, allowed)) from None
    _check_memory(cls, canonical, labelled(family, params), f"{path}.params")


def _own(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without those every problem accepts (the family's own parameters)."""
    return {key: value for key, value in params.items() if key not in COMMON_PROBLEM_PARAMETERS}


def _check_memory(cls: type, canonical: dict[str, Any], label: str, path: str) -> None:
    """Refuse an instance whose ``data_bytes`` estimate exceeds the available memory."""
    needed = cls.data_bytes(canonical) if hasattr(cls, "data_bytes") else 0
    available = available_memory() if needed else None
    if available is not None and needed > available:
        raise ConfigError(
            f"{path}: {label} needs about {needed / 1e9:.3g} GB of memory for its data, "
            f"more than the {available / 1e9:.3g} GB available"
        )


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``, else the
    free physical pages from ``os.sysconf``), or None where neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@functools.cache
def _annotated_types(cls: type[Problem]) -> dict[str, tuple[str, TypeAdapter]]:
    """Per parameter of a family class: the annotation's text and a strict validator."""
    signature = inspect.signature(cls.__init__).parameters
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: names are still checked
        hints = {}
    hints = {**{k: v for k, v in hints.items() if k in signature}, **COMMON_PROBLEM_PARAMETERS}
    settings = ConfigDict(strict=True, arbitrary_types_allowed=True)
    types = {}
    for name, hint in hints.items():
        shown = signature[name].annotation if name in signature else "an integer >= 1"
        try:
            types[name] = (
                _TYPE_WORDS.get(str(getattr(shown, "__name__", shown)), str(shown)),
                TypeAdapter(hint, config=settings),
            )
        except Exception:  # noqa: BLE001 - a type pydantic cannot check is not checked
            continue
    return types


def solver_param_sets(entry: SolverEntry, path: str) -> list[dict[str, Any]]:
    """The hyper-parameter combinations of one solver entry, each constructed once.

    Parameters
    ----------
    entry : SolverEntry
        A solver name and its (possibly swept) ``params``.
    path : str
        Where the entry stands in the config (``solvers[1]``).

    Raises
    ------
    ConfigError
        An unknown solver or parameter, or a value the solver refuses.
    """
    names = list_solvers()
    if entry.name not in names:
        raise ConfigError(f"{path}.name: {unknown_name_message('solver', entry.name, names)}")
    fields = list(solver_fields(entry.name))
    for key in entry.params:
        if key not in fields:
            message = unknown_name_message(f"parameter of {entry.name}", key, fields)
            raise ConfigError(f"{path}.params.{key}: {message}")
    combos = combinations(entry.params, f"{path}.params")
    for params in combos:
        try:
            make_solver(entry.name, **params)
        except (ValueError, TypeError) as exc:
            raise ConfigError(_prefixed(f"{path}.params", exc, fields)) from None
    return combos
