"""Text listings of the registered problems and solvers (``optbench list``)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

LIST_KINDS = ("problems", "solvers")


def _first_line(obj: Any) -> str:
    """First line of an object's docstring."""
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0] if doc else ""


def _default(value: Any) -> str:
    return "required" if value is inspect.Parameter.empty else repr(value)


def describe_problems() -> str:
    """Each problem family with its parameters and defaults, then the catalog instances."""
    from optbench.problems import PROBLEMS, family_parameters, list_problems
    from optbench.problems.catalog import catalog_entry, catalog_names

    list_problems()  # registers the families
    lines = ["Problem families (optbench.make_problem(family, **params)):"]
    for family in sorted(PROBLEMS.names()):
        lines.append(f"  {family}: {_first_line(PROBLEMS.get(family))}")
        for name, parameter in family_parameters(family).items():
            lines.append(f"      {name} = {_default(parameter.default)}")
    lines.append("")
    lines.append("Named instances (problems/*.yaml):")
    for name in catalog_names():
        entry = catalog_entry(name)
        f_star = entry.get("f_star")
        if f_star is not None:
            certified = f"f* = {f_star:.12g}"
        elif entry.get("certify") == "on_first_use":
            certified = "f* certified on first use (disk cache)"
        else:
            certified = "f* not certified"
        if entry.get("large"):
            certified += ", large"
        description = " ".join(str(entry.get("description", "")).split())
        lines.append(f"  {name}: {entry['family']}, {certified}. {description}")
    return "\n".join(lines)


def describe_solvers() -> str:
    """Each solver with its hyper-parameters and defaults."""
    from optbench.solvers import SOLVERS, list_solvers, solver_fields

    lines = ["Solvers (optbench.make_solver(name, **params)):"]
    for name in list_solvers():
        lines.append(f"  {name}: {_first_line(SOLVERS.get(name))}")
        for field_name, field in solver_fields(name).items():
            default = (
                field.default
                if field.default is not dataclasses.MISSING
                else inspect.Parameter.empty
            )
            lines.append(f"      {field_name} = {_default(default)}")
    return "\n".join(lines)


def describe(kind: str | None = None) -> str:
    """The listing of ``kind`` (``problems`` or ``solvers``), or both."""
    if kind is not None and kind not in LIST_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(LIST_KINDS)}, got {kind!r}")
    parts = []
    if kind in (None, "problems"):
        parts.append(describe_problems())
    if kind in (None, "solvers"):
        parts.append(describe_solvers())
    return "\n\n".join(parts)
