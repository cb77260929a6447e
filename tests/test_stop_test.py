"""The runner's stopping tests: the one-chain check never lets a run go on that the
ordered tests would stop, and says what they say."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optbench.run.runner import StopCriteria, StopTest
from optbench.solvers.base import State, Status

special = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308])
number = st.one_of(st.floats(-1e6, 1e6), special)
small = st.one_of(st.floats(0, 100), special)


@st.composite
def stop_criteria(draw) -> StopCriteria:
    return StopCriteria(
        gtol=draw(st.sampled_from([0.0, 1e-8, 1.0])),
        f_gap_tol=draw(st.sampled_from([None, 1e-6, 1.0])),
        max_iter=draw(st.integers(0, 20)),
        max_cost=draw(st.sampled_from([None, 5.0, 50.0])),
        max_time=draw(st.sampled_from([None, 1.0, 10.0])),
    )


@settings(max_examples=2000, deadline=None)
@given(
    stop=stop_criteria(),
    f_first=number,
    f=number,
    grad_norm=st.one_of(st.floats(0, 10), special),
    f_gap=number,
    failed=st.booleans(),
    iteration=st.integers(0, 25),
    cost=st.one_of(st.floats(0, 100)),
    solver_time=st.floats(0, 20),
)
def test_check_says_what_the_ordered_tests_say(
    stop, f_first, f, grad_norm, f_gap, failed, iteration, cost, solver_time
):
    state = State(x=np.zeros(1), status=Status.FAILED if failed else Status.RUNNING)
    test = StopTest(stop, f_first)
    arguments = (state, iteration, cost, solver_time, f, grad_norm, f_gap)
    assert test.check(*arguments) == test.reason(*arguments)


def test_the_ordered_tests_in_their_order():
    stop = StopCriteria(gtol=1e-3, f_gap_tol=1e-6, max_iter=10, max_cost=5.0, max_time=1.0)
    test = StopTest(stop, f_first=1.0)
    state = State(x=np.zeros(1))

    def status(**changes):
        values = dict(state=state, iteration=3, cost=1.0, solver_time=0.1, f=0.5,
                      grad_norm=1.0, f_gap=0.1) | changes  # fmt: skip
        return test.check(**values)[0]

    assert status() is Status.RUNNING
    assert status(f=math.nan, grad_norm=0.0) is Status.DIVERGED  # before converged
    assert status(f=2e12 + 3.0) is Status.DIVERGED
    assert status(f=2e12 + 1.0) is Status.RUNNING  # f0 + 1e12 (1 + |f0|) itself is not
    assert status(grad_norm=1e-3, iteration=10) is Status.CONVERGED  # before max_iter
    assert status(f_gap=1e-6) is Status.CONVERGED
    assert status(state=state.failed("no step"), iteration=10) is Status.FAILED
    assert status(iteration=10, cost=5.0) is Status.MAX_ITER
    assert status(cost=5.0, solver_time=1.0) is Status.MAX_COST
    assert status(solver_time=1.0) is Status.MAX_TIME
    assert test.check(state, 3, 1.0, 0.1, 0.5, 1e-4, 0.1)[1] == "gradient norm 0.0001 <= gtol 0.001"
