"""The problem and solver entries of an experiment config (leaf of the schema).

:class:`ProblemEntry` and :class:`SolverEntry` are the two list items of a config that
:mod:`optbench.run.sweeps` expands into instances and hyper-parameter sets and
:mod:`optbench.run.config` assembles into an experiment; they live apart from both so
that each imports them one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, model_validator

from optbench.problems import list_problems
from optbench.registry import PROBLEMS
from optbench.run.schema import PositiveInt, StrictModel

_PROBLEM_FORMS = (
    "a problem name, {name: ...}, {family: ..., params: {...}} or {suite: ..., max_dim: N}"
)

Name = Annotated[str, Field(min_length=1)]


class ProblemEntry(StrictModel):
    """A problem: a catalog or family ``name``, an inline ``family`` with ``params``, or
    a ``suite`` of instances (at most ``max_dim`` variables)."""

    name: Name | None = None
    family: Name | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    suite: Name | None = None
    max_dim: PositiveInt | None = None

    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if not isinstance(data, (str, dict)):
            raise ValueError(f"must be {_PROBLEM_FORMS}, got {data!r}")
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _name_or_family(self) -> ProblemEntry:
        given = [key for key in ("name", "family", "suite") if getattr(self, key) is not None]
        if len(given) != 1 or (self.params and self.family is None):
            raise ValueError(f"must be {_PROBLEM_FORMS} (params only with family)")
        if self.max_dim is not None and self.suite is None:
            raise ValueError(f"must be {_PROBLEM_FORMS} (max_dim only with suite)")
        return self

    @model_validator(mode="after")
    def _paths_from_config_dir(self, info: ValidationInfo) -> ProblemEntry:
        """A relative path in a family's ``path_params`` is relative to the config file."""
        base = (info.context or {}).get("config_dir")
        if base is None or self.family is None or self.family not in list_problems():
            return self
        for key in getattr(PROBLEMS.get(self.family), "path_params", ()):
            value = self.params.get(key)
            if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                candidate = Path(base) / value
                if candidate.exists():  # a file next to the config (else left as given)
                    self.params[key] = str(candidate.resolve())
        return self


class SolverEntry(StrictModel):
    """A solver and its hyper-parameters (lists and sweep mappings are sweeps)."""

    name: Name
    params: dict[str, Any] = Field(default_factory=dict)
