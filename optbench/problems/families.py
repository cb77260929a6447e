"""The registered problem families: loading them, their parameters, building one.

Named catalog instances (:mod:`optbench.problems.catalog`) are built from a family,
and :func:`optbench.problems.make_problem` builds either; this module knows only the
families, so the catalog and the package both import it one way.
"""

from __future__ import annotations

import inspect
from typing import Any

from optbench.problems.base import Problem
from optbench.registry import PROBLEMS, import_submodules, unknown_name_message


def load_families() -> None:
    """Import every module of :mod:`optbench.problems` (importing a family registers it)."""
    import_submodules("optbench.problems")


def family_parameters(family: str) -> dict[str, inspect.Parameter]:
    """Constructor parameters of a registered family, by name."""
    load_families()
    signature = inspect.signature(PROBLEMS.get(family).__init__)
    return {name: p for name, p in signature.parameters.items() if name != "self"}


def make_family(family: str, /, **params: Any) -> Problem:
    """Build the registered ``family`` with ``params`` (an unknown parameter: one line).

    Raises
    ------
    ValueError
        Unknown family or parameter, or a value the family refuses.
    """
    allowed = family_parameters(family)
    for key in params:
        if key not in allowed:
            raise ValueError(unknown_name_message(f"parameter of {family}", key, list(allowed)))
    return PROBLEMS.get(family)(**params)
