"""Solver states: construction, the shallow copy of State.replace, and failed()."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pytest

from optbench.problems import make_problem
from optbench.problems.oracle import Oracle
from optbench.solvers import list_solvers, make_solver
from optbench.solvers.base import EvaluatedState, State, Status


@dataclass
class MemoryState(EvaluatedState):
    memory: list[int] = field(default_factory=list)
    radius: float = 1.0


def test_construction_fills_the_defaults():
    x = np.zeros(3)
    state = State(x=x)
    assert state.x is x and state.f is None and state.g is None and state.step_size is None
    assert state.status is Status.RUNNING and state.message == "" and state.info == {}
    evaluated = MemoryState(x=x, f=1.0, g=np.ones(3))
    assert evaluated.memory == [] and evaluated.radius == 1.0
    assert MemoryState(x=x).info is not MemoryState(x=x).info  # one dict per state


def test_replace_is_a_shallow_copy_like_dataclasses_replace():
    state = MemoryState(x=np.zeros(2), f=3.0, g=np.ones(2), memory=[1], info={"a": 1})
    new_x = np.full(2, 5.0)
    copy = state.replace(x=new_x, f=1.0, radius=2.0)
    reference = dataclasses.replace(state, x=new_x, f=1.0, radius=2.0)
    assert type(copy) is MemoryState and copy is not state
    for f in dataclasses.fields(MemoryState):
        assert getattr(copy, f.name) is getattr(reference, f.name), f.name
    assert (state.f, state.radius) == (3.0, 1.0) and state.x is not new_x  # unchanged
    assert copy.memory is state.memory and copy.info is state.info  # shared, as before
    copy.radius = 7.0
    assert state.radius == 1.0


def test_replace_of_an_unknown_field_names_it():
    state = MemoryState(x=np.zeros(2))
    with pytest.raises(TypeError, match="MemoryState has no field.*radious"):
        state.replace(radious=2.0)


def test_failed_marks_a_copy():
    state = MemoryState(x=np.zeros(2), f=1.0, g=np.ones(2))
    failed = state.failed("line search: no step")
    assert (failed.status, failed.message) == (Status.FAILED, "line search: no step")
    assert state.status is Status.RUNNING and type(failed) is MemoryState


def test_a_state_class_cannot_have_post_init():
    with pytest.raises(TypeError, match="cannot define __post_init__"):

        @dataclass
        class Checked(State):
            def __post_init__(self) -> None:
                pass


@pytest.mark.parametrize("name", [n for n in list_solvers() if make_solver(n).deterministic])
def test_every_solvers_state_copies_to_equal_fields(name):
    """replace copies each registered solver's real state field for field."""
    problem = make_problem("least_squares", n_samples=20, n_features=3)
    solver = make_solver(name)
    if solver.incompatibility(problem) is not None:
        pytest.skip(solver.incompatibility(problem))
    state = solver.init(Oracle(problem), problem.x0.copy())
    try:
        copy = state.replace(step_size=0.5)
        reference = dataclasses.replace(state, step_size=0.5)
        for f in dataclasses.fields(state):
            assert getattr(copy, f.name) is getattr(reference, f.name), f.name
    finally:
        solver.close(state)
