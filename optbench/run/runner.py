"""The one iteration loop: init → step … → stop, with timing and logging.

Every solver is driven by :func:`run_solver`. Stopping tests, budgets, non-finite
detection, timing and trace logging are written here once; solvers only implement
``init`` and ``step`` (:mod:`optbench.solvers.base`). Solver time is measured around
``init`` and ``step`` only; logging happens outside the timed region and is never
counted as oracle work.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from time import perf_counter
from typing import Annotated, Any

import numpy as np
from pydantic import Field, model_validator

from optbench.numerics import norm2
from optbench.problems.base import Problem
from optbench.problems.oracle import Oracle
from optbench.run.result import OptimizeResult, TargetHit, TraceRecorder
from optbench.run.schema import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SettingsModel,
    check_targets,
)
from optbench.run_warnings import records_warnings
from optbench.solvers import make_solver
from optbench.solvers.base import COMPILE_SECONDS, Solver, State, Status
from optbench.solvers.stochastic import StochasticSolver, run_generator

# Module constants: StopTest.check reads them once per iteration.
_INF = math.inf
_FAILED = Status.FAILED
#: ``f`` above ``f0 + DIVERGENCE_FACTOR * (1 + |f0|)`` counts as diverged.
DIVERGENCE_FACTOR = 1e12
#: Relative slack of the cost thresholds (``max_cost``, ``every_epochs``): a data pass of
#: ``n`` sample gradients adds ``n`` terms ``1/n`` to the cost, whose rounded sum may fall
#: just short of 1. Sums of the default weights (halves and ones) are exact, so it
#: changes nothing for full-gradient runs.
COST_SLACK = 1e-9


class StopCriteria(SettingsModel):
    """When the runner stops a run (the ``stop`` of a config and the keywords of
    :func:`minimize`: one definition, one validation).

    Attributes
    ----------
    gtol : float
        Converged when :math:`\\|\\nabla f(x_k)\\|_2 \\le` ``gtol`` (a finite number >= 0).
    f_gap_tol : float or None
        Converged when :math:`f(x_k) - f^\\star \\le` ``f_gap_tol`` (only where f* is known).
    max_iter : int
        Budget of iterations (``step`` calls), an integer >= 0.
    max_cost : float or None
        Budget of oracle work in gradient-equivalents.
    max_time : float or None
        Budget of solver wall time in seconds (checked between steps).

    Raises
    ------
    ConfigError
        A ``ValueError`` naming the field: ``gtol: must be a finite number, got nan``.
    """

    gtol: NonNegativeFloat = 1e-8
    f_gap_tol: PositiveFloat | None = None
    max_iter: NonNegativeInt = 1000
    max_cost: PositiveFloat | None = None
    max_time: PositiveFloat | None = None


class LogPolicy(SettingsModel):
    """Which iterations get a trace row: ``{every: k}``, ``{geometric: r}`` or
    ``{every_epochs: e}``.

    ``every=k`` (an integer >= 1) logs every k-th iteration; ``geometric=r > 1`` logs
    iterations :math:`0, 1, 2, \\dots` growing by a factor ``r`` so a long run keeps
    :math:`O(\\log_r K)` rows; ``every_epochs=e > 0`` logs the first iteration at which
    the oracle cost (data passes, for a stochastic solver) reaches each multiple of
    ``e``. None of them logs every iteration, except for stochastic solvers, which log
    every data pass (``every_epochs=1``); two of them is an error. The first and the
    last iteration are always logged. Stopping tests and targets use every iteration,
    logged or not, except for stochastic solvers: their full f and gradient are
    evaluated (uncounted, untimed) at the logged iterations only, so their stopping tests
    and targets use those points (:class:`LogSchedule`).
    """

    every: PositiveInt | None = None
    geometric: Annotated[float, Field(strict=True, gt=1, allow_inf_nan=False)] | None = None
    every_epochs: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_policy(self) -> LogPolicy:
        given = [name for name in ("every", "geometric", "every_epochs") if getattr(self, name)]
        if len(given) > 1:
            raise ValueError(
                "give one of {every: k}, {geometric: r}, {every_epochs: e}, not "
                + " and ".join(given)
            )
        return self


class LogSchedule:
    """The log points of one run: a cursor over its :class:`LogPolicy`.

    Points are iterations (``every``, ``geometric``, or every iteration) or multiples of
    the oracle cost (``every_epochs``; stochastic solvers default to ``every_epochs=1``,
    one data pass). Iteration 0 is always a log point. :meth:`due` asks whether an
    iterate is one; :meth:`take` also moves past it when it is (the runner asks once
    per iterate: for the iteration policies that is one comparison).
    """

    def __init__(self, policy: LogPolicy, stochastic: bool) -> None:
        self.every_epochs = policy.every_epochs
        if stochastic and policy.every is None and policy.geometric is None:
            self.every_epochs = policy.every_epochs or 1.0
        self._every = policy.every or 1
        self._geometric = policy.geometric
        self._next_iteration = 0
        self._next_cost = 0.0

    def due(self, iteration: int, cost: float) -> bool:
        """Whether ``iteration`` (at oracle cost ``cost``) is a log point."""
        if self.every_epochs is None or iteration == 0:
            return iteration == self._next_iteration
        return cost >= self._next_cost * (1.0 - COST_SLACK)

    def take(self, iteration: int, cost: float) -> bool:
        """Whether ``iteration`` (at oracle cost ``cost``) is a log point; if it is, the
        next point becomes the first after it.

        After iteration :math:`i`, ``every=k`` logs :math:`i + k`, ``geometric=r``
        logs :math:`\\max(i + 1, \\lceil r\\,i \\rceil)`, and ``every_epochs=e`` the
        first iterate whose cost reaches the next multiple of :math:`e` above the cost
        at :math:`i`.
        """
        if self.every_epochs is None:
            if iteration != self._next_iteration:
                return False
            if self._geometric is None:
                self._next_iteration = iteration + self._every
            else:
                self._next_iteration = max(iteration + 1, math.ceil(iteration * self._geometric))
            return True
        if not self.due(iteration, cost):
            return False
        self._next_iteration = -1  # iteration 0 is logged once
        passed = math.floor(cost / self.every_epochs * (1.0 + COST_SLACK))
        self._next_cost = (passed + 1) * self.every_epochs
        return True


def _observe(problem: Problem, state: State) -> tuple[float, np.ndarray]:
    """f and g at ``state.x``: the solver's own, else an uncounted, untimed evaluation."""
    if state.f is not None and state.g is not None:
        return float(state.f), state.g
    return problem.value_and_grad(state.x)


@records_warnings
def run_solver(
    problem: Problem,
    solver: Solver,
    stop: StopCriteria | None = None,
    *,
    x0: np.ndarray | None = None,
    log: LogPolicy | None = None,
    targets: Iterable[float] = (),
    seed: int = 0,
) -> OptimizeResult:
    """Run ``solver`` on ``problem`` until a stopping test or a budget ends it.

    The tests are applied at every iterate :math:`x_k` in this order: non-finite
    f or gradient, or :math:`f_k > f_0 + 10^{12}(1 + |f_0|)` → ``diverged``;
    :math:`\\|g_k\\| \\le` gtol or :math:`f_k - f^\\star \\le` f_gap_tol →
    ``converged``; a solver-reported failure → ``failed``; then the budgets
    ``max_iter``, ``max_cost``, ``max_time``. An exception in the solver or the
    problem ends the run as ``error`` with its message; it is never raised.

    Where a solver's state lacks f or g at its iterate, the runner evaluates them on
    the problem directly: that monitoring is neither counted nor timed. For a
    stochastic solver (``solver.stochastic``) it does so only at the log points of
    ``log`` (every data pass by default), when a budget is spent and when the solver
    fails; the stopping tests and targets use those points, the budgets every iteration.

    Warnings raised during the run (numpy's floating-point warnings included) are
    counted in ``result.warnings`` and not shown
    (:mod:`optbench.run_warnings`).

    Parameters
    ----------
    problem : Problem
        The problem; a fresh :class:`Oracle` is made for this run.
    solver : Solver
        A solver instance.
    stop : StopCriteria, optional
        Stopping tests and budgets (defaults: gtol 1e-8, 1000 iterations).
    x0 : ndarray, optional
        Starting point (default ``problem.x0``).
    log : LogPolicy, optional
        Which iterations get a trace row (default: every one).
    targets : iterable of float
        Levels ε of ``f - f*`` whose first hit (iteration, cost, time) is recorded.
    seed : int
        The run's seed: a stochastic solver draws from :func:`run_generator` of it.
    """
    stop = stop or StopCriteria()
    log = log or LogPolicy()
    x_start = np.array(problem.x0 if x0 is None else x0, dtype=float)
    if x_start.shape != (problem.dim,):
        raise ValueError(f"x0: must have shape ({problem.dim},), got {x_start.shape}")
    if not np.isfinite(x_start).all():
        raise ValueError(
            f"x0: must be finite, got NaN or inf at index {np.argmin(np.isfinite(x_start))}"
        )
    f_star = problem.f_star
    f_star_or_nan = math.nan if f_star is None else f_star  # f - NaN: f_gap NaN when unknown
    pending_targets = (
        sorted({float(t) for t in targets}, reverse=True) if f_star is not None else []
    )
    hits: dict[float, TargetHit] = {}
    oracle = Oracle(problem)
    recorder = TraceRecorder(f_star)
    solver_time = 0.0
    iteration = 0
    schedule = LogSchedule(log, solver.stochastic)
    state = State(x=x_start)
    f, grad_norm, f_gap = math.nan, math.nan, math.nan
    running = Status.RUNNING
    status, message = running, ""
    compile_time = 0.0

    try:
        reason = solver.incompatibility(problem)
        if reason is not None:
            raise ValueError(reason)
        started = perf_counter()
        if isinstance(solver, StochasticSolver):
            state = solver.init(oracle, x_start, rng=run_generator(seed))
        else:
            state = solver.init(oracle, x_start)
        compile_time = float(state.info.get(COMPILE_SECONDS, 0.0))
        solver_time += perf_counter() - started - compile_time
        f, g = _observe(problem, state)
        stop_test = StopTest(stop, f_first=f)
        observed, stochastic = True, solver.stochastic
        while True:
            if observed:
                grad_norm = norm2(g)
                f_gap = f - f_star_or_nan
                while pending_targets and f_gap <= pending_targets[0]:
                    hits[pending_targets.pop(0)] = TargetHit(iteration, oracle.cost, solver_time)
                cost = oracle.cost
                status, message = stop_test.check(
                    state, iteration, cost, solver_time, f, grad_norm, f_gap
                )
                if schedule.take(iteration, cost) or status is not running:
                    recorder.append(iteration, solver_time, f, grad_norm, state.step_size, oracle)
                if status is not running:
                    break
            started = perf_counter()
            state = solver.step(oracle, state)
            solver_time += perf_counter() - started
            iteration += 1
            # A stochastic solver's iterate is evaluated (a data pass, outside the counts)
            # only at log points and when a budget or a failure ends the run.
            observed = (
                not stochastic
                or schedule.due(iteration, oracle.cost)
                or stop_test.budget_spent(state, iteration, oracle.cost, solver_time)
            )
            if observed:
                f, g = _observe(problem, state)
    except Exception as exc:  # noqa: BLE001 - a run that raises is recorded, not raised
        status, message = Status.ERROR, f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):  # cleanup must not hide the run's outcome
            solver.close(state)
    recorder.shrink_to_fit()

    return OptimizeResult(
        problem=problem.name,
        optimizer=solver.registry_name or type(solver).__name__,
        x=state.x,
        f=f,
        grad_norm=grad_norm,
        f_gap=f_gap,
        status=str(status),
        message=message,
        iters=iteration,
        n_f=oracle.n_f,
        n_g=oracle.n_g,
        n_hvp=oracle.n_hvp,
        n_hess=oracle.n_hess,
        n_r=oracle.n_r,
        n_J=oracle.n_J,
        n_sample_g=oracle.n_sample_g,
        n_sample_hvp=oracle.n_sample_hvp,
        cost=oracle.cost,
        time=solver_time,
        compile_time=compile_time + float(getattr(problem, "compile_seconds", 0.0)),
        recorder=recorder,
        targets=hits,
    )


class StopTest:
    """The stopping tests of one run, applied at every iterate by :func:`run_solver`.

    :meth:`reason` applies them in order and says which one ended the run. The
    thresholds are resolved once (an absent tolerance or budget becomes an infinity,
    the divergence bound is computed from ``f_first``), so that :meth:`check` can
    first ask, in one chain of comparisons, whether every test lets the run go on, and
    call :meth:`reason` only when one may not. The chain only ever answers "go on" when
    :meth:`reason` would (a test checks it on random and non-finite values).

    Parameters
    ----------
    stop : StopCriteria
        The tests and budgets.
    f_first : float
        f at the starting point (the reference of the divergence test).
    """

    def __init__(self, stop: StopCriteria, f_first: float) -> None:
        self.stop = stop
        self.f_first = f_first
        #: f above this is a divergence; NaN when f_first is not finite, so that
        #: :meth:`check` never answers "go on" by itself there (``f <= inf`` would).
        limit = f_first + DIVERGENCE_FACTOR * (1.0 + abs(f_first))
        self.f_limit = limit if math.isfinite(limit) else math.nan
        self.gtol = stop.gtol
        self.f_gap_tol = -math.inf if stop.f_gap_tol is None else stop.f_gap_tol
        self.max_iter = stop.max_iter
        #: max_cost less a relative slack: 1000 steps of cost 0.001 sum to 0.99999…
        self.max_cost = math.inf if stop.max_cost is None else stop.max_cost * (1 - COST_SLACK)
        self.max_time = math.inf if stop.max_time is None else stop.max_time

    def check(
        self,
        state: State,
        iteration: int,
        cost: float,
        solver_time: float,
        f: float,
        grad_norm: float,
        f_gap: float,
    ) -> tuple[Status, str]:
        """``(RUNNING, "")`` while every test lets the run go on, else :meth:`reason`."""
        if (
            -_INF < f <= self.f_limit
            and self.gtol < grad_norm < _INF
            and not f_gap <= self.f_gap_tol
            and state.status is not _FAILED
            and iteration < self.max_iter
            and cost < self.max_cost
            and solver_time < self.max_time
        ):
            return _GO_ON
        return self.reason(state, iteration, cost, solver_time, f, grad_norm, f_gap)

    def reason(
        self,
        state: State,
        iteration: int,
        cost: float,
        solver_time: float,
        f: float,
        grad_norm: float,
        f_gap: float,
    ) -> tuple[Status, str]:
        """The status the run ends with at this iterate and why, or ``(RUNNING, "")``."""
        stop = self.stop
        if not (math.isfinite(f) and math.isfinite(grad_norm)):
            return (
                Status.DIVERGED,
                f"non-finite f={f} or gradient norm={grad_norm} at iteration {iteration}",
            )
        if f > self.f_limit:
            return (
                Status.DIVERGED,
                f"f={f:.3g} grew by more than 1e12 x (1 + |f0|) at iteration {iteration}",
            )
        if grad_norm <= stop.gtol:
            return Status.CONVERGED, f"gradient norm {grad_norm:.3g} <= gtol {stop.gtol:g}"
        if stop.f_gap_tol is not None and f_gap <= stop.f_gap_tol:
            return Status.CONVERGED, f"f - f* = {f_gap:.3g} <= f_gap_tol {stop.f_gap_tol:g}"
        if state.status is Status.FAILED:
            return Status.FAILED, state.message or "solver failed"
        if iteration >= stop.max_iter:
            return Status.MAX_ITER, f"reached max_iter = {stop.max_iter}"
        if cost >= self.max_cost:
            return Status.MAX_COST, f"reached max_cost = {stop.max_cost:g} (cost {cost:g})"
        if stop.max_time is not None and solver_time >= stop.max_time:
            return Status.MAX_TIME, f"reached max_time = {stop.max_time:g} s"
        return _GO_ON

    def budget_spent(self, state: State, iteration: int, cost: float, solver_time: float) -> bool:
        """Whether a test that needs no f ends the run: a solver failure or a budget."""
        return (
            state.status is Status.FAILED
            or iteration >= self.max_iter
            or cost >= self.max_cost
            or solver_time >= self.max_time
        )


_GO_ON = (Status.RUNNING, "")


def minimize(
    problem: Problem,
    solver: str | Solver,
    *,
    x0: np.ndarray | None = None,
    targets: Iterable[float] = (),
    log: LogPolicy | dict[str, Any] | None = None,
    seed: int = 0,
    **options: Any,
) -> OptimizeResult:
    """Minimize ``problem`` with a solver; the Python front door to the runner.

    Every argument is validated as in a config, before the run: a bad one raises a
    ``ValueError`` whose one-line message starts with its name.

    Parameters
    ----------
    problem : Problem
        E.g. from :func:`optbench.make_problem`.
    solver : str or Solver
        A registered solver name (see :func:`optbench.list_solvers`) or an instance.
    x0 : ndarray, optional
        Starting point (default ``problem.x0``); finite, of length ``problem.dim``.
    targets : iterable of float
        Levels of ``f - f*`` (finite, > 0, distinct) whose first hit is recorded in
        ``result.targets``.
    log : LogPolicy or dict, optional
        Trace logging policy, e.g. ``{"geometric": 1.2}`` or ``{"every_epochs": 0.5}``.
    seed : int
        Seed of a stochastic solver's generator (:func:`run_solver`).
    **options
        The stopping tests and budgets, by the names of the fields of
        :class:`StopCriteria` (``gtol``, ``f_gap_tol``, ``max_iter``, ``max_cost``,
        ``max_time``), and the hyper-parameters of the solver.

    Returns
    -------
    OptimizeResult
        ``x, f, grad_norm, status, message, iters, n_f, n_g, n_hvp, n_hess, n_r, n_J, cost,
        time`` and ``trace`` (a DataFrame, one row per logged iteration).

    Examples
    --------
    >>> import optbench
    >>> problem = optbench.make_problem("rosenbrock", dim=2)
    >>> result = optbench.minimize(problem, "newton_cg", gtol=1e-8)
    >>> result.status
    'converged'
    """
    stop = StopCriteria(**{k: options.pop(k) for k in StopCriteria.model_fields if k in options})
    log = LogPolicy(**log) if isinstance(log, dict) else log
    return run_solver(
        problem,
        make_solver(solver, **options),
        stop,
        x0=x0,
        log=log,
        targets=check_targets(targets),
        seed=seed,
    )
