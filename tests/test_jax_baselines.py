"""optax and optimistix driven by optbench's runner: counts, compile time, compatibility."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import optbench
from optbench import make_problem, make_solver, minimize
from optbench.problems.mgh.family import MGH
from optbench.problems.oracle import Oracle
from optbench.problems.rosenbrock import Rosenbrock
from optbench.solvers import jax_bridge
from optbench.solvers.base import COMPILE_SECONDS

pytest.importorskip("optax", reason="the JAX baselines need the extra: pip install 'optbench[jax]'")
pytest.importorskip("optimistix", reason="pip install 'optbench[jax]'")


class CountingRosenbrock(Rosenbrock):
    """Rosenbrock that counts the calls it receives."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim=dim)
        self.calls = {"value": 0, "value_and_grad": 0}

    def value(self, x):
        self.calls["value"] += 1
        return super().value(x)

    def value_and_grad(self, x):
        self.calls["value_and_grad"] += 1
        return super().value_and_grad(x)


class CountingMGH(MGH):
    """An MGH problem that counts residual and Jacobian calls."""

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.calls = {"residuals": 0, "jacobian": 0}

    def residuals(self, x):
        self.calls["residuals"] += 1
        return super().residuals(x)

    def jacobian(self, x):
        self.calls["jacobian"] += 1
        return super().jacobian(x)


@pytest.mark.parametrize(
    ("solver", "params"),
    [
        ("optax", {"method": "lbfgs"}),
        ("optax", {"method": "adam", "learning_rate": 1e-2}),
        ("optimistix", {"method": "BFGS"}),
        ("optimistix", {"method": "NonlinearCG"}),
    ],
)
def test_counts_equal_the_calls_the_problem_received(solver: str, params: dict) -> None:
    problem = CountingRosenbrock(dim=5)
    oracle = Oracle(problem)
    optimizer = make_solver(solver, **params)
    state = optimizer.init(oracle, problem.x0)
    assert sum(problem.calls.values()) == 0  # init only compiles
    for _ in range(25):
        state = optimizer.step(oracle, state)
    optimizer.close(state)
    assert oracle.n_g == problem.calls["value_and_grad"] > 0
    assert oracle.n_f == problem.calls["value"] + problem.calls["value_and_grad"]
    assert problem.value(state.x) < problem.value(problem.x0)


@pytest.mark.parametrize("method", ["GaussNewton", "LevenbergMarquardt"])
def test_least_squares_counts_residuals_and_jacobians(method: str) -> None:
    problem = CountingMGH(number=1)
    oracle = Oracle(problem)
    optimizer = make_solver("optimistix", method=method)
    state = optimizer.init(oracle, problem.x0)
    for _ in range(5):
        state = optimizer.step(oracle, state)
    optimizer.close(state)
    assert (oracle.n_r, oracle.n_J) == (problem.calls["residuals"], problem.calls["jacobian"])
    assert oracle.n_J > 0 and oracle.n_f == oracle.n_g == 0


def test_gauss_newton_solves_a_zero_residual_problem() -> None:
    result = minimize(make_problem("mgh_01_rosenbrock"), "optimistix", method="GaussNewton")
    assert result.status == "converged" and result.f_gap <= 1e-20


def test_compile_time_is_reported_apart_once_per_settings() -> None:
    problem = make_problem("rosenbrock", dim=3)
    first = minimize(problem, "optax", memory=7)  # settings no other test compiles
    again = minimize(problem, "optax", memory=7)
    assert first.compile_time > 0 and again.compile_time >= 0
    assert first.status == again.status == "converged"
    assert (first.iters, first.n_f, first.n_g) == (again.iters, again.n_f, again.n_g)
    solver = make_solver("optax", memory=7)
    state = solver.init(Oracle(problem), problem.x0)
    assert state.info[COMPILE_SECONDS] >= 0
    solver.close(state)
    # The compiled step is cached per (settings, dimension): a second request compiles
    # nothing and returns the same executable.
    builds = []

    def build():
        builds.append(1)
        return lambda x: x + 1.0

    example = np.zeros(2)
    function, seconds = jax_bridge.compiled(("test", "cache"), build, example)
    again_function, again_seconds = jax_bridge.compiled(("test", "cache"), build, example)
    assert seconds > 0 and again_seconds == 0.0 and again_function is function
    assert len(builds) == 1


def test_least_squares_methods_need_residuals() -> None:
    solver = make_solver("optimistix", method="LevenbergMarquardt")
    reason = solver.incompatibility(make_problem("logistic_small"))
    assert reason is not None and "not least-squares shaped" in reason
    assert solver.incompatibility(make_problem("mgh_01_rosenbrock")) is None
    result = minimize(make_problem("logistic_small"), solver)
    assert result.status == "error" and reason in result.message


def test_bad_settings_are_one_line(monkeypatch) -> None:
    with pytest.raises(ValueError, match="method: must be one of lbfgs, adam, sgd"):
        make_solver("optax", method="rmsprop")
    with pytest.raises(ValueError, match="learning_rate"):
        make_solver("optax", method="adam", learning_rate=0.0)
    with pytest.raises(ValueError, match="method: must be one of BFGS, NonlinearCG"):
        make_solver("optimistix", method="Newton")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "optax" else real(name, *a)
    )
    with pytest.raises(ValueError, match=r"optax not installed: pip install 'optbench\[jax\]'"):
        make_solver("optax")


def test_in_a_config_with_workers(tmp_path) -> None:
    config = {
        "name": "jax_baselines",
        "problems": ["rosenbrock_2d", "mgh_01_rosenbrock"],
        "solvers": [
            {"name": "optax", "params": {"method": "lbfgs"}},
            {"name": "optimistix", "params": {"method": ["BFGS", "GaussNewton"]}},
        ],
        "stop": {"gtol": 1e-6, "max_iter": 200},
        "jobs": 2,
        "executor": {"backend": "joblib"},  # workers from the start, whatever the work
    }
    results = optbench.run(config, out=tmp_path / "out", progress=False, plot=False)
    summary = results.summary.set_index(["problem", "solver_label"])
    assert summary.loc[("mgh_01_rosenbrock", "optimistix[method=GaussNewton]"), "status"] == (
        "converged"
    )
    rosen_gn = summary.loc[("rosenbrock_2d", "optimistix[method=GaussNewton]")]
    assert rosen_gn["status"] == "error" and "least-squares" in rosen_gn["message"]
    converged = summary[summary["status"] == "converged"]
    assert len(converged) == 5 and np.all(converged["compile_time"] >= 0)
