"""Optimizers behind one protocol: the solver registry and :func:`make_solver`."""

from __future__ import annotations

import dataclasses
from typing import Any

from optbench.registry import SOLVERS, import_submodules, unknown_name_message
from optbench.solvers.base import Solver, State, Status

__all__ = ["SOLVERS", "Solver", "State", "Status", "list_solvers", "make_solver", "solver_fields"]


def _load_solvers() -> None:
    # Importing a solver module registers it; every module of the package is imported.
    import_submodules(__name__)


def list_solvers() -> list[str]:
    """Registered solver names, sorted (registration order depends on import order)."""
    _load_solvers()
    return sorted(SOLVERS.names())


def solver_fields(name: str) -> dict[str, dataclasses.Field]:
    """Hyper-parameters of a registered solver, by name."""
    _load_solvers()
    return {f.name: f for f in dataclasses.fields(SOLVERS.get(name))}


def make_solver(name: str | Solver, **params: Any) -> Solver:
    """Build a solver from its registered name and hyper-parameters.

    Parameters
    ----------
    name : str or Solver
        A registered name (``gd``, ``nesterov``, ``newton``, ``newton_cg``,
        ``trust_ncg``, ``lbfgs``, ``bfgs``, ``scipy``, …: ``optbench list solvers``)
        or a solver instance (returned as is, or with ``params`` replaced).
    **params
        Hyper-parameters; see ``optbench list solvers``.

    Raises
    ------
    ValueError
        Unknown solver or parameter name, or an invalid value; the message names it.
    """
    if isinstance(name, Solver):
        return dataclasses.replace(name, **params) if params else name  # type: ignore[type-var]
    fields = solver_fields(name)
    for key in params:
        if key not in fields:
            raise ValueError(unknown_name_message(f"parameter of {name}", key, list(fields)))
    return SOLVERS.get(name)(**params)
