"""The one loop: stopping tests, budgets, statuses, targets and log policy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from optbench.problems.base import Problem
from optbench.problems.rosenbrock import Rosenbrock
from optbench.run import runner as runner_module
from optbench.run.runner import LogPolicy, LogSchedule, StopCriteria, run_solver
from optbench.solvers.base import COMPILE_SECONDS, Solver, State


class Quadratic(Problem):
    """f(x) = ½ Σ d_i x_i², f* = 0, a test-local problem."""

    def __init__(self, diagonal: np.ndarray) -> None:
        self.diagonal = np.asarray(diagonal, dtype=float)
        self.dim = self.diagonal.size
        self.name = "quadratic"
        self.x0 = np.ones(self.dim)
        self.f_star = 0.0
        self.params = {}

    def value_and_grad(self, x):
        g = self.diagonal * x
        return 0.5 * float(x @ g), g

    def hvp(self, x, v):
        return self.diagonal * v


@dataclass(frozen=True)
class FixedStep(Solver):
    step_size: float = 0.1

    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g)

    def step(self, oracle, state):
        x = state.x - self.step_size * state.g
        f, g = oracle.value_and_grad(x)
        return State(x=x, f=f, g=g, step_size=self.step_size)


@dataclass(frozen=True)
class NoGradient(Solver):
    """Keeps no f or g in its state: the runner must monitor without counting."""

    def init(self, oracle, x0):
        return State(x=x0)

    def step(self, oracle, state):
        return State(x=state.x - 0.5 * oracle.grad(state.x))


@dataclass(frozen=True)
class FailsAt(Solver):
    at: int = 3

    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g, info={"k": 0})

    def step(self, oracle, state):
        k = state.info["k"] + 1
        new = FixedStep(1e-4).step(oracle, state).replace(info={"k": k})
        return new.failed("line search: no acceptable step") if k == self.at else new


@dataclass(frozen=True)
class Raises(Solver):
    def init(self, oracle, x0):
        return State(x=x0)

    def step(self, oracle, state):
        raise RuntimeError("boom")


@dataclass(frozen=True)
class ReturnsNaN(Solver):
    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g)

    def step(self, oracle, state):
        return State(x=state.x, f=math.nan, g=state.g)


def test_converged_only_when_gradient_test_holds():
    problem = Quadratic([1.0, 2.0])
    result = run_solver(problem, FixedStep(0.4), StopCriteria(gtol=1e-8, max_iter=500))
    assert result.status == "converged"
    assert result.grad_norm <= 1e-8
    assert np.linalg.norm(problem.grad(result.x)) == pytest.approx(result.grad_norm)
    # one fused value_and_grad per iteration plus one at x0
    assert (result.n_f, result.n_g) == (result.iters + 1, result.iters + 1)
    assert result.cost == result.iters + 1


def test_f_gap_tol_stops_only_where_f_star_known():
    problem = Quadratic([1.0, 2.0])
    result = run_solver(problem, FixedStep(0.4), StopCriteria(gtol=0, f_gap_tol=1e-6))
    assert result.status == "converged"
    assert result.f_gap <= 1e-6
    assert "f_gap_tol" in result.message


def test_budgets():
    problem = Rosenbrock(2)
    by_iter = run_solver(problem, FixedStep(1e-4), StopCriteria(max_iter=7))
    assert (by_iter.status, by_iter.iters) == ("max_iter", 7)
    by_cost = run_solver(problem, FixedStep(1e-4), StopCriteria(max_cost=10))
    assert by_cost.status == "max_cost"
    assert by_cost.cost == 10
    by_time = run_solver(problem, FixedStep(1e-4), StopCriteria(max_iter=10**9, max_time=0.05))
    assert by_time.status == "max_time"
    assert by_time.time >= 0.05


def test_divergence_failure_and_error_are_recorded_not_raised():
    problem = Rosenbrock(2)
    assert run_solver(problem, FixedStep(0.1), StopCriteria()).status == "diverged"
    assert run_solver(problem, ReturnsNaN(), StopCriteria()).status == "diverged"
    failed = run_solver(problem, FailsAt(3), StopCriteria())
    assert (failed.status, failed.iters) == ("failed", 3)
    assert failed.message == "line search: no acceptable step"
    errored = run_solver(problem, Raises(), StopCriteria())
    assert errored.status == "error"
    assert errored.message == "RuntimeError: boom"


def test_monitoring_is_not_counted():
    result = run_solver(Quadratic([1.0, 1.0]), NoGradient(), StopCriteria(max_iter=3, gtol=0))
    assert (result.n_f, result.n_g) == (0, 3)
    assert result.trace["n_g"].tolist() == [0, 1, 2, 3]


def test_trace_rows_and_targets():
    problem = Quadratic([1.0, 10.0])
    result = run_solver(
        problem, FixedStep(0.1), StopCriteria(gtol=1e-10), targets=[1e-2, 1e-6, 1e-30]
    )
    trace = result.trace
    assert list(trace.columns[:4]) == ["problem", "optimizer", "iter", "time"]
    assert trace["iter"].tolist() == list(range(result.iters + 1))
    assert np.allclose(trace["f_gap"], trace["f"])  # f* = 0
    assert set(result.targets) == {1e-2, 1e-6}
    for eps, hit in result.targets.items():
        assert trace["f_gap"].iloc[hit.iter] <= eps < trace["f_gap"].iloc[hit.iter - 1]
        assert hit.cost == trace["cost"].iloc[hit.iter]


def test_geometric_log_keeps_few_rows_and_the_last():
    result = run_solver(
        Rosenbrock(2), FixedStep(1e-4), StopCriteria(max_iter=5000), log=LogPolicy(geometric=1.5)
    )
    iters = result.trace["iter"].tolist()
    assert iters[0] == 0 and iters[-1] == 5000
    assert len(iters) < 30
    assert iters == sorted(set(iters))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"gtol": -1}, "gtol"), ({"max_iter": 1.5}, "max_iter"), ({"max_cost": 0}, "max_cost")],
)
def test_bad_stop_criteria_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        StopCriteria(**kwargs)


def test_x0_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"^x0: must have shape \(2,\)"):
        run_solver(Rosenbrock(2), FixedStep(), x0=np.zeros(3))


def test_a_finite_gradient_beyond_1e154_is_not_a_divergence():
    """Rosenbrock at (1e51, 1e51): f ~ 1e206 and g ~ 4e155 are finite; g'g overflows."""
    problem = Rosenbrock(2)
    x0 = np.array([1e51, 1e51])
    result = run_solver(problem, FixedStep(), StopCriteria(max_iter=0), x0=x0)
    assert result.status == "max_iter", result.message
    g = problem.grad(x0)
    with np.errstate(over="ignore"):
        assert np.isfinite(g).all() and not np.isfinite(float(g @ g))  # the case tested
    assert result.grad_norm == pytest.approx(math.hypot(*g), rel=1e-15)


def test_an_underflowed_sum_of_squares_is_not_a_zero_gradient():
    """Separable logistic far along its recession direction: g ~ 1e-163, g'g underflows to 0."""
    from optbench.problems.logistic import Logistic

    problem = Logistic(X=np.array([[1.0], [-1.0]]), y=np.array([1, -1]), l2=0.0)
    x0 = np.array([375.0])
    g = problem.grad(x0)
    assert g[0] != 0.0 and float(g @ g) == 0.0  # the case tested
    result = run_solver(problem, FixedStep(), StopCriteria(gtol=0.0, max_iter=3), x0=x0)
    assert result.status == "max_iter", result.message
    assert result.trace["grad_norm"].iloc[0] == abs(g[0])


@dataclass(frozen=True)
class CompilingSolver(Solver):
    """Reports 0.75 s of its init as compile time; steps do nothing."""

    def init(self, oracle, x0):
        f, g = oracle.value_and_grad(x0)
        return State(x=x0, f=f, g=g, info={COMPILE_SECONDS: 0.75})

    def step(self, oracle, state):
        return State(x=state.x, f=state.f, g=state.g)


def test_compile_seconds_leave_the_run_time(monkeypatch) -> None:
    ticks = iter(range(1000))
    monkeypatch.setattr(runner_module, "perf_counter", lambda: float(next(ticks)))
    result = run_solver(Rosenbrock(dim=2), CompilingSolver(), StopCriteria(max_iter=3))
    # A fake clock ticking 1 s per reading: init and each step read it twice, so each
    # lasts 1 s; the 0.75 s the init reported as compiling leave the run's time.
    assert result.iters == 3
    assert result.compile_time == 0.75
    assert result.time == pytest.approx(0.25 + 3.0)


@pytest.mark.parametrize(
    "policy", [{}, {"every": 3}, {"geometric": 1.3}, {"geometric": 2.0}, {"every": 1}]
)
def test_log_schedule_takes_the_policys_iterations(policy):
    """take() logs iteration 0, then i + k (every) or max(i + 1, ceil(r i)) (geometric)."""
    schedule = LogSchedule(LogPolicy(**policy), stochastic=False)
    expected, point = [], 0
    while point < 200:
        expected.append(point)
        if "geometric" in policy:
            point = max(point + 1, math.ceil(point * policy["geometric"]))
        else:
            point += policy.get("every", 1)
    taken = [i for i in range(200) if schedule.due(i, 0.0) and schedule.take(i, 0.0)]
    assert taken == expected


def test_log_schedule_in_cost_takes_each_multiple_once():
    schedule = LogSchedule(LogPolicy(every_epochs=0.5), stochastic=False)
    costs = [0.0, 0.2, 0.5, 0.6, 0.99, 1.0, 1.7, 1.8, 2.6]
    taken = [cost for i, cost in enumerate(costs) if schedule.take(i, cost)]
    assert taken == [0.0, 0.5, 1.0, 1.7, 2.6]
