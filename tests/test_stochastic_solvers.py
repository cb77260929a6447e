"""The stochastic solvers: update rules against hand computations, sampling, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import make_problem, minimize
from optbench.problems.oracle import Oracle
from optbench.solvers import make_solver
from optbench.solvers.stochastic import BatchSampler, ScheduleOptions, run_generator

SOLVERS = ["sgd", "sgd_momentum", "adam", "adamw", "adagrad"]


@pytest.fixture(scope="module")
def problem():
    return make_problem("logistic", n_samples=60, n_features=5, l2=0.01, seed=2)


def _steps(problem, solver, count: int, seed: int = 5) -> list[np.ndarray]:
    """The iterates of ``count`` steps from x0 with the run generator of ``seed``."""
    oracle = Oracle(problem)
    state = solver.init(oracle, problem.x0 + 0.1, rng=run_generator(seed))
    iterates = [state.x]
    for _ in range(count):
        state = solver.step(oracle, state)
        iterates.append(state.x)
    return iterates


def _batches(problem, batch_size: int, replacement: bool, count: int, seed: int = 5):
    sampler = BatchSampler(problem.n_samples, batch_size, replacement, run_generator(seed))
    return [sampler.next() for _ in range(count)]


def test_sgd_is_x_minus_step_times_the_batch_gradient(problem) -> None:
    solver = make_solver("sgd", step_size=0.3, batch_size=7, schedule="inv_sqrt")
    iterates = _steps(problem, solver, 4)
    for k, batch in enumerate(_batches(problem, 7, False, 4)):
        step = 0.3 / math.sqrt(k + 1)
        expected = iterates[k] - step * problem.grad_batch(iterates[k], batch)
        assert np.allclose(iterates[k + 1], expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_updates(problem, nesterov: bool) -> None:
    solver = make_solver("sgd_momentum", step_size=0.2, momentum=0.7, nesterov=nesterov)
    iterates = _steps(problem, solver, 5)
    velocity = np.zeros(problem.dim)
    x = iterates[0]
    for k, batch in enumerate(_batches(problem, 1, False, 5)):
        point = x + 0.7 * velocity if nesterov else x
        velocity = 0.7 * velocity - 0.2 * problem.grad_batch(point, batch)
        x = x + velocity
        assert np.allclose(iterates[k + 1], x, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_and_adamw_updates(problem, weight_decay: float) -> None:
    solver = make_solver("adam", step_size=0.01, batch_size=4, weight_decay=weight_decay)
    iterates = _steps(problem, solver, 5)
    m = v = np.zeros(problem.dim)
    x = iterates[0]
    for k, batch in enumerate(_batches(problem, 4, False, 5)):
        g = problem.grad_batch(x, batch)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        m_hat, v_hat = m / (1 - 0.9 ** (k + 1)), v / (1 - 0.999 ** (k + 1))
        x = x - 0.01 * (m_hat / (np.sqrt(v_hat) + 1e-8) + weight_decay * x)
        assert np.allclose(iterates[k + 1], x, rtol=1e-13, atol=1e-15)


def test_adamw_is_adam_with_decoupled_weight_decay_by_default() -> None:
    assert make_solver("adam").weight_decay == 0.0
    assert make_solver("adamw").weight_decay > 0.0


def test_adagrad_update(problem) -> None:
    solver = make_solver("adagrad", step_size=0.5, batch_size=3, replacement=True)
    iterates = _steps(problem, solver, 5)
    squares = np.zeros(problem.dim)
    x = iterates[0]
    for k, batch in enumerate(_batches(problem, 3, True, 5)):
        g = problem.grad_batch(x, batch)
        squares = squares + g * g
        x = x - 0.5 * g / (np.sqrt(squares) + 1e-10)
        assert np.allclose(iterates[k + 1], x, rtol=1e-13, atol=1e-15)


def test_sampling_without_replacement_visits_every_sample_once_a_pass() -> None:
    n, batch_size = 23, 5
    sampler = BatchSampler(n, batch_size, False, run_generator(0))
    for _ in range(3):
        sizes, seen = [], []
        while sum(sizes) < n:
            batch = sampler.next()
            sizes.append(len(batch))
            seen.extend(batch.tolist())
        assert sorted(seen) == list(range(n)) and sizes == [5, 5, 5, 5, 3]
    with_replacement = BatchSampler(n, 50, True, run_generator(0)).next()
    assert len(with_replacement) == 50 and 0 <= with_replacement.min() <= with_replacement.max() < n


def test_step_schedules() -> None:
    assert ScheduleOptions("constant").scheduled_step(2.0, 99, 7.5) == 2.0
    assert ScheduleOptions("inv_sqrt").scheduled_step(2.0, 3, 0.0) == 1.0
    decay = ScheduleOptions("step_decay", decay_factor=0.5, decay_every=2.0)
    steps = [decay.scheduled_step(1.0, 0, passes) for passes in (0.0, 1.99, 2.0, 4.0, 5.0)]
    assert steps == [1.0, 1.0, 0.5, 0.25, 0.25]


@pytest.mark.parametrize("name", SOLVERS)
def test_each_solver_makes_progress_on_logistic_small(name: str) -> None:
    problem = make_problem("logistic_small")
    options = {"step_size": 0.01} if name.startswith("adam") else {}
    result = minimize(problem, name, batch_size=10, max_cost=5, max_iter=10**6, **options)
    gaps = result.trace["f_gap"].to_numpy()
    assert result.status == "max_cost" and gaps[-1] < 0.05 * gaps[0], result.trace


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("sgd", {"batch_size": 0}, "batch_size"),
        ("sgd", {"replacement": "yes"}, "replacement"),
        ("sgd", {"schedule": "cosine"}, "schedule"),
        ("sgd", {"decay_factor": 1.5}, "decay_factor"),
        ("sgd", {"step_size": "1/M"}, "step_size"),
        ("sgd_momentum", {"momentum": 1.0}, "momentum"),
        ("adam", {"beta2": 1.0}, "beta2"),
        ("adamw", {"weight_decay": -1.0}, "weight_decay"),
        ("adagrad", {"epsilon": 0.0}, "epsilon"),
    ],
)
def test_bad_hyper_parameters_are_one_line_naming_the_field(name, params, field) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: ") as raised:
        make_solver(name, **params)
    assert "\n" not in str(raised.value)


def test_steps_relative_to_l_max_are_a_sweep_of_their_own() -> None:
    from optbench.analysis.sensitivity import _relative_sweep, is_fixed_step

    steps = ["0.5/L_max", "2/L", 0.3, "armijo", "0.1", "1/(3 L_max)", "1/(2*L)"]
    assert [is_fixed_step(v) for v in steps] == [True, True, True, False, True, True, True]
    assert [_relative_sweep(v) for v in steps] == [
        " (c/L_max)", " (c/L)", "", "", "", " (c/L_max)", " (c/L)"
    ]  # fmt: skip
