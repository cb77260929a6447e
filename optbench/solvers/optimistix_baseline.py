r"""optimistix's BFGS, nonlinear CG, Gauss–Newton and Levenberg–Marquardt as baselines.

``method``:

``BFGS``
    ``optimistix.BFGS``: the inverse-Hessian BFGS update (Nocedal & Wright, 2nd ed.,
    Alg. 6.1, eq. 6.17) with optimistix's default search.
``NonlinearCG``
    ``optimistix.NonlinearCG``: Polak–Ribière directions (N&W eq. 5.44) with
    backtracking Armijo (optimistix's defaults).
``GaussNewton``, ``LevenbergMarquardt``
    ``optimistix.GaussNewton`` (N&W §10.3) and ``optimistix.LevenbergMarquardt``
    (Moré, 1978, a trust-region damping) on the residuals :math:`r(x)` and Jacobian of a
    least-squares-shaped problem; optimistix minimises :math:`\tfrac12\|r\|^2`, which
    has the minimisers of optbench's :math:`c\|r\|^2`.

optbench's runner drives the loop: each :meth:`OptimistixBaseline.step` is one
compiled ``solver.step``, optimistix's own termination test is never consulted (the
runner's tests decide), and every evaluation goes through the run's Oracle by the
host-callback bridge (:mod:`optbench.solvers.jax_bridge`): ``n_f``/``n_g`` for the
minimisers, ``n_r``/``n_J`` for the least-squares solvers, exactly the calls the problem
saw. ``init`` and ``step`` are ``jit``-compiled once per (method, dimension) in a process,
and ``init`` evaluates nothing: its whole time (compiling, setting up optimistix's state)
is the run's ``compile_time``, never part of ``time``. optimistix keeps the value at the accepted
point inside its private state, so the runner evaluates :math:`f` for its log itself,
outside the counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from optbench.problems.base import is_least_squares
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.solvers.base import COMPILE_SECONDS, Solver, State
from optbench.solvers.jax_bridge import (
    compiled,
    counted_objective,
    counted_residuals,
    jax_modules,
    register,
    release,
    require_modules,
)

#: The optimistix methods offered, as optimistix spells them.
OPTIMISTIX_METHODS = ("BFGS", "NonlinearCG", "GaussNewton", "LevenbergMarquardt")
#: The methods that work on residuals and need a least-squares-shaped problem.
LEAST_SQUARES_METHODS = ("GaussNewton", "LevenbergMarquardt")
#: optimistix's tolerances, out of reach so that only the runner's tests stop a run.
_TOLERANCE = 1e-300


@dataclass
class OptimistixState(State):
    """optimistix's state and the compiled step between iterations."""

    solver_state: Any = None
    key: int = 0
    advance: Any = None


@SOLVERS.register("optimistix")
@dataclass(frozen=True)
class OptimistixBaseline(Solver[OptimistixState]):
    """optimistix's BFGS, NonlinearCG, GaussNewton or LevenbergMarquardt, counted by optbench.

    Parameters
    ----------
    method : {"BFGS", "NonlinearCG", "GaussNewton", "LevenbergMarquardt"}
        Which optimistix solver (the last two need residuals and a Jacobian).
    """

    method: str = "BFGS"

    def __post_init__(self) -> None:
        if self.method not in OPTIMISTIX_METHODS:
            raise ValueError(
                f"method: must be one of {', '.join(OPTIMISTIX_METHODS)}, got {self.method!r}"
            )
        require_modules("optimistix")

    def incompatibility(self, problem: Any) -> str | None:
        if self.method in LEAST_SQUARES_METHODS and not is_least_squares(problem):
            return (
                f"optimistix {self.method} needs residuals and a Jacobian, and "
                f"{problem.name} is not least-squares shaped"
            )
        return None

    def _solver(self) -> Any:
        import optimistix as optx

        return getattr(optx, self.method)(rtol=_TOLERANCE, atol=_TOLERANCE)

    def _function(self, dim: int, n_residuals: int) -> Any:
        """optimistix's ``fn(y, args) -> (out, aux)``; ``args`` is the Oracle key."""
        if self.method in LEAST_SQUARES_METHODS:
            residuals = counted_residuals(dim, n_residuals)
            return lambda y, key: (residuals(y, key), None)
        objective = counted_objective(dim)
        return lambda y, key: (objective(y, key), None)

    def init(self, oracle: Oracle, x0: np.ndarray) -> OptimistixState:
        started = time.perf_counter()
        jax, jnp = jax_modules()
        y = jnp.asarray(x0, dtype=jnp.float64)
        dim = y.shape[0]
        n_residuals = int(getattr(oracle.problem, "n_residuals", 0))
        solver = self._solver()
        fn = self._function(dim, n_residuals)
        out_shape = (n_residuals,) if self.method in LEAST_SQUARES_METHODS else ()
        f_struct = jax.ShapeDtypeStruct(out_shape, jnp.float64)
        tags: frozenset[object] = frozenset()
        key = register(oracle)
        settings = ("optimistix", self.method, dim, n_residuals)

        def first(y: Any, key: Any) -> Any:
            return solver.init(fn, y, key, {}, f_struct, None, tags)

        import equinox

        start, _ = compiled(
            (*settings, "init"), lambda: first, y, np.int64(key), jit=equinox.filter_jit
        )
        solver_state = start(y, np.int64(key))

        def advance(y: Any, solver_state: Any, key: Any) -> Any:
            new_y, new_state, _ = solver.step(fn, y, key, {}, solver_state, tags)
            return new_y, new_state

        stepper, _ = compiled(
            (*settings, "step"),
            lambda: advance,
            y,
            solver_state,
            np.int64(key),
            jit=equinox.filter_jit,
        )
        return OptimistixState(
            x=np.array(x0, dtype=float),
            solver_state=solver_state,
            key=key,
            advance=stepper,
            info={COMPILE_SECONDS: time.perf_counter() - started},
        )

    def step(self, oracle: Oracle, state: OptimistixState) -> OptimistixState:
        y, solver_state = state.advance(state.x, state.solver_state, np.int64(state.key))
        new_x = np.array(y, dtype=float)
        return OptimistixState(
            x=new_x,
            step_size=float(np.linalg.norm(new_x - state.x)),
            solver_state=solver_state,
            key=state.key,
            advance=state.advance,
        )

    def close(self, state: State) -> None:
        if isinstance(state, OptimistixState):
            release(state.key)
