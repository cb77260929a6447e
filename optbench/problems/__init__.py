"""Test losses: the family registry, named instances and :func:`make_problem`."""

from __future__ import annotations

from typing import Any

from optbench.problems.base import CostWeights, Problem, Smoothness
from optbench.problems.families import family_parameters, load_families, make_family
from optbench.problems.oracle import Oracle
from optbench.registry import PROBLEMS, unknown_name_message
from optbench.scalars import check_integer

__all__ = [
    "PROBLEMS",
    "CostWeights",
    "Oracle",
    "Problem",
    "Smoothness",
    "family_parameters",
    "list_problems",
    "make_problem",
]


def list_problems() -> list[str]:
    """Registered family names followed by the catalog's named instances."""
    from optbench.problems.catalog import catalog_names

    load_families()
    return sorted(PROBLEMS.names()) + catalog_names()


def make_problem(name: str, /, **params: Any) -> Problem:
    """Build a problem from a family name and parameters, or a named catalog instance.

    Parameters
    ----------
    name : str
        A family (``least_squares``, ``rosenbrock``, ``logistic``, ``softmax``, ``mgh``) or a
        named instance from the top-level ``problems/`` folder (``logistic_small``, …).
    **params
        Family parameters (see ``optbench list problems``). ``hess_max_dim`` raises
        the size limit of the dense :meth:`~Problem.hess` for any problem.

    Raises
    ------
    ValueError
        Unknown name or parameter, or an invalid parameter value; the message names it.
    """
    from optbench.problems.catalog import catalog_names, load_instance

    load_families()
    hess_max_dim = params.pop("hess_max_dim", None)
    if name in PROBLEMS:
        problem = make_family(name, **params)
    elif name in catalog_names():
        if params:
            raise ValueError(
                f"{name} is a named instance and takes no parameters (got {', '.join(params)}); "
                "build the family with parameters instead"
            )
        problem = load_instance(name)
    else:
        raise ValueError(unknown_name_message("problem", name, list_problems()))
    if hess_max_dim is not None:
        problem.hess_max_dim = check_integer("hess_max_dim", hess_max_dim, ge=1)
    return problem
