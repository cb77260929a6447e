"""Text listings of the registered problems and solvers (``optbench list``).

``optbench --help`` imports this module for :data:`LIST_KINDS`, so it imports only
``re`` (which argparse imports anyway) at the top; the rest where it is used.

Docstrings are reStructuredText for Sphinx; the listing shows them as plain text
(:func:`plain_text`): inline math becomes readable formulas, roles and literals lose
their markup.
"""

from __future__ import annotations

import re
from typing import Any

LIST_KINDS = ("problems", "solvers", "suites")

#: LaTeX commands (without their backslash) shown as a symbol in plain text; any other
#: command is shown as its name.
LATEX_SYMBOLS = {
    "|": "‖",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "top": "ᵀ",
    "cdot": "·",
    "times": "×",
    "nabla": "∇",
    "sum": "Σ",
    "infty": "∞",
    "star": "*",
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "Delta": "Δ",
    "epsilon": "ε",
    "varepsilon": "ε",
    "eta": "η",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    ",": " ",
    ";": " ",
    "quad": " ",
    "left": "",
    "right": "",
}
_FRACTION = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
_TEXT_COMMAND = re.compile(r"\\(?:text|mathrm|operatorname|mathbf|mathcal)\{([^{}]*)\}")
_COMMAND = re.compile(r"\\([A-Za-z]+|[|,;])")
_MATH_ROLE = re.compile(r":math:`([^`]*)`")
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]*)``")
_EMPHASIS = re.compile(r"`([^`]*)`")


def _grouped(term: str) -> str:
    """``term`` in parentheses unless it is one number, one (subscripted) letter or
    already one parenthesized group."""
    term = term.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?|[A-Za-z](?:_\w+)?", term) or _is_one_group(term):
        return term
    return f"({term})"


def _is_one_group(term: str) -> bool:
    """Whether ``term`` is ``(...)`` with its first parenthesis closed at the very end."""
    depth = 0
    for position, char in enumerate(term):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return char == ")" and position == len(term) - 1
    return False


def latex_text(formula: str) -> str:
    r"""A LaTeX formula as plain text: ``\frac{1}{2n}\|x\|^2`` → ``(1/(2n))‖x‖^2``."""
    previous = None
    while formula != previous:  # innermost fractions first
        previous = formula
        formula = _FRACTION.sub(lambda m: f"({_grouped(m[1])}/{_grouped(m[2])})", formula)
    formula = _TEXT_COMMAND.sub(r"\1", formula)
    formula = _COMMAND.sub(lambda m: LATEX_SYMBOLS.get(m[1], m[1]), formula)
    formula = re.sub(r"([_^])\{([^{}]*)\}", r"\1\2", formula)  # x_{ij} -> x_ij
    return formula.replace("{", "").replace("}", "").replace("^ᵀ", "ᵀ")


def plain_text(text: str) -> str:
    """reStructuredText inline markup as plain text.

    ``:math:`...``` becomes a readable formula (:func:`latex_text`), a role such as
    ``:func:`~optbench.solvers.newton.Newton``` its target's name, and ``literal``
    and `interpreted` text lose their backquotes.
    """
    text = _MATH_ROLE.sub(lambda m: latex_text(m[1]), text)
    text = _ROLE.sub(lambda m: m[1].rsplit(".", 1)[-1] if "~" in m[0] else m[1], text)
    text = _LITERAL.sub(r"\1", text)
    return _EMPHASIS.sub(r"\1", text)


def _first_line(obj: Any) -> str:
    """First line of an object's docstring, as plain text."""
    import inspect

    doc = inspect.getdoc(obj) or ""
    return plain_text(doc.splitlines()[0]) if doc else ""


def _default(value: Any) -> str:
    import inspect

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
        description = plain_text(" ".join(str(entry.get("description", "")).split()))
        lines.append(f"  {name}: {entry['family']}, {certified}. {description}")
    return "\n".join(lines)


def describe_solvers() -> str:
    """Each solver with its hyper-parameters and defaults."""
    import dataclasses
    import inspect

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


def describe_suite(suite: str, max_dim: int | None = None) -> str:
    """The instances of one suite (at most ``max_dim`` variables): name, dim, f* source."""
    from optbench.problems.suites import describe_suite as description
    from optbench.problems.suites import suite_entries

    entries = suite_entries(suite, max_dim)
    within = f", at most {max_dim} variables" if max_dim is not None else ""
    lines = [f"Suite {suite}: {len(entries)} instances{within}. {description(suite)}"]
    width = max((len(entry.name) for entry in entries), default=0)
    for entry in entries:
        dim = "?" if entry.dimension is None else str(entry.dimension)
        lines.append(
            f"  {entry.name:<{width}}  dim {dim:>7}  {entry.family}, {entry.f_star_source}"
        )
    return "\n".join(lines)


def describe_suites() -> str:
    """One line per suite: instances, dimension range, f* sources, description."""
    from optbench.problems.suites import suite_table

    rows = suite_table()
    header = ("suite", "instances", "dimensions", "f*", "description")
    cells = [
        [r["suite"], str(r["instances"]), r["dimensions"], r["f_star"], r["description"]]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(header[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, [*widths, 0], strict=True)).rstrip()]
    for c in cells:
        lines.append("  ".join(x.ljust(w) for x, w in zip(c, [*widths, 0], strict=True)).rstrip())
    return "\n".join(lines)


def describe(kind: str | None = None, suite: str | None = None, max_dim: int | None = None) -> str:
    """The listing of ``kind`` (``problems``, ``solvers`` or ``suites``), or the first two.

    ``suite`` (with ``kind="problems"``) lists that suite's instances instead, at most
    ``max_dim`` variables when given.
    """
    if kind is not None and kind not in LIST_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(LIST_KINDS)}, got {kind!r}")
    if (suite is not None or max_dim is not None) and kind != "problems":
        raise ValueError("--suite and --max-dim go with: optbench list problems")
    if max_dim is not None and suite is None:
        raise ValueError("--max-dim needs --suite NAME")
    if suite is not None:
        return describe_suite(suite, max_dim)
    if kind == "suites":
        return describe_suites()
    parts = []
    if kind in (None, "problems"):
        parts.append(describe_problems())
    if kind in (None, "solvers"):
        parts.append(describe_solvers())
    return "\n\n".join(parts)
