"""One run of the grid: a problem instance × a solver configuration × a seed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from optbench.problems import Problem, make_problem
from optbench.run.runner import LogPolicy, StopCriteria

#: Scale of the start-point perturbation for seeds > 0 (see :meth:`RunSpec.start_point`).
X0_PERTURBATION = 0.1


def format_params(params: dict[str, Any]) -> str:
    """``{"dim": 2, "variant": "chained"}`` → ``"dim=2,variant=chained"`` (keys sorted)."""
    return ",".join(
        f"{key}={params[key]:g}" if isinstance(params[key], float) else f"{key}={params[key]}"
        for key in sorted(params)
    )


def labelled(name: str, params: dict[str, Any]) -> str:
    """``name[k=v,...]``, or ``name`` when there are no parameters."""
    return f"{name}[{format_params(params)}]" if params else name


@dataclass(frozen=True)
class ProblemSpec:
    """A problem instance: a catalog name, or a family with parameters.

    ``title`` names a family instance that a suite lists under its own name
    (``mgh_01_rosenbrock_x10``); it is the label, and no part of the instance's identity.
    The label and the key are computed once per spec (``params`` is never changed).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    title: str | None = field(default=None, compare=False)

    @cached_property
    def label(self) -> str:
        """A readable, unique label, e.g. ``rosenbrock[dim=100,variant=chained]``."""
        return self.title or labelled(self.name, self.params)

    def key(self) -> str:
        """Stable hash of the instance (for caching built instances per worker)."""
        return self._key

    @cached_property
    def _key(self) -> str:
        return _digest({"problem": self.name, "params": self.params})

    def build(self) -> Problem:
        """Build the instance (the executor caches it per worker by :meth:`key`)."""
        problem = make_problem(self.name, **self.params)
        problem.name = self.label
        return problem


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run; picklable, hashable into a stable ``run_id``.

    ``seed`` 0 starts at the problem's standard ``x0``; a seed ``s > 0`` starts at
    :math:`x_0 + 0.1\\,(1 + |x_0|) \\odot \\xi`, :math:`\\xi \\sim N(0, I)` drawn from
    ``numpy.random.default_rng(s)``. Seeds never change a problem's data: to repeat a
    benchmark over data sets, sweep the family's own ``seed`` parameter, which makes
    distinct problem instances. ``run_id`` and ``solver_label`` are computed once per
    spec (its fields are never changed).
    """

    problem: ProblemSpec
    solver: str
    solver_params: dict[str, Any]
    seed: int
    stop: StopCriteria
    targets: tuple[float, ...] = ()
    log: LogPolicy = field(default_factory=LogPolicy)
    #: Times the run is executed (for timing only; not part of ``run_id``).
    repeat: int = 1

    @cached_property
    def solver_label(self) -> str:
        """E.g. ``gd[step_size=0.01]``."""
        return labelled(self.solver, self.solver_params)

    @cached_property
    def run_id(self) -> str:
        """12 hex digits identifying the run's problem, solver, parameters and seed
        (computed once per spec)."""
        return _digest(
            {
                "problem": self.problem.name,
                "problem_params": self.problem.params,
                "solver": self.solver,
                "solver_params": self.solver_params,
                "seed": self.seed,
            }
        )[:12]

    def start_point(self, problem: Problem) -> np.ndarray:
        """The starting point for this seed (see the class docstring)."""
        x0 = np.asarray(problem.x0, dtype=float)
        if self.seed == 0:
            return x0.copy()
        noise = np.random.default_rng(self.seed).standard_normal(x0.shape)
        return x0 + X0_PERTURBATION * (1.0 + np.abs(x0)) * noise


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
