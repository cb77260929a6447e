r"""``scipy.optimize.minimize`` as a baseline solver behind the init/step protocol.

scipy owns its iteration loop, so the bridge runs it in a daemon worker thread: each
iterate scipy reports through its callback is handed to :meth:`ScipyBaseline.step`
over a queue, and the worker blocks in the callback until the runner asks for the
next iterate (then it returns and scipy continues) or stops (then the callback
raises a private exception that ends ``scipy.optimize.minimize``). Exactly one of
the two threads runs at any time, so the time the runner measures around ``step``
is scipy's own work plus the thread hand-off (two queue operations and two thread
switches per iteration: about 70-80 microseconds measured on chained Rosenbrock,
dim 100, with BFGS and trust-ncg).

scipy evaluates through the counted :class:`~optbench.problems.oracle.Oracle`:
``fun = oracle.value_and_grad`` with ``jac=True``, ``hessp = oracle.hvp`` and, for
``trust-exact``, ``hess = oracle.hess``. f and g at a reported iterate are taken
from the last oracle evaluation at that point (a small cache keyed by the bytes of
x), never evaluated again for logging.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optbench.numerics import norm2
from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS, did_you_mean
from optbench.run_warnings import in_this_run
from optbench.solvers.base import Solver, State

if TYPE_CHECKING:
    import scipy.optimize

#: The scipy methods offered, exactly as ``scipy.optimize.minimize`` spells them.
SCIPY_METHODS = ("Newton-CG", "trust-ncg", "trust-krylov", "trust-exact", "L-BFGS-B", "BFGS", "CG")

#: Iteration and evaluation caps handed to scipy: out of reach, so the runner decides.
_UNREACHABLE = 2**31 - 1

#: scipy's own stopping tests switched off (tolerance 0) so only the runner's hold.
_TIGHT_OPTIONS: dict[str, dict[str, float]] = {
    "Newton-CG": {"xtol": 0.0, "maxiter": _UNREACHABLE},
    "trust-ncg": {"gtol": 0.0, "maxiter": _UNREACHABLE},
    "trust-krylov": {"gtol": 0.0, "maxiter": _UNREACHABLE},
    "trust-exact": {"gtol": 0.0, "maxiter": _UNREACHABLE},
    "L-BFGS-B": {"ftol": 0.0, "gtol": 0.0, "maxiter": _UNREACHABLE, "maxfun": _UNREACHABLE},
    "BFGS": {"gtol": 0.0, "xrtol": 0.0, "maxiter": _UNREACHABLE},
    "CG": {"gtol": 0.0, "maxiter": _UNREACHABLE},
}

#: Seconds :meth:`ScipyBaseline.close` waits for the worker to finish.
_JOIN_TIMEOUT = 30.0


class _StopRequested(Exception):  # noqa: N818 - a signal, not an error
    """Raised in scipy's callback when the runner has stopped the run."""


class EvaluationCache:
    """The counted fused evaluation scipy calls, remembering (f, g) of recent points.

    Parameters
    ----------
    oracle : Oracle
        Every call goes through it and is counted.
    size : int
        Number of recent points kept (least recently used first out).
    """

    def __init__(self, oracle: Oracle, size: int = 32) -> None:
        self.oracle = oracle
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, np.ndarray]] = OrderedDict()
        self._prefetched: bytes | None = None

    def prefetch(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Evaluate at the start point; scipy's own first call there is served from it.

        Every method evaluates ``x0`` first, so the counts equal scipy's own.
        """
        value, grad = self.value_and_grad(x)
        self._prefetched = x.tobytes()
        return value, grad

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``oracle.value_and_grad(x)`` (counted), remembered for :meth:`lookup`."""
        key = np.asarray(x, dtype=float).tobytes()
        if key == self._prefetched:
            self._prefetched = None
            value, grad = self._entries[key]
            return value, grad.copy()
        value, grad = self.oracle.value_and_grad(x)
        self._entries[key] = (float(value), np.array(grad, dtype=float, copy=True))
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value, grad

    def lookup(self, x: np.ndarray) -> tuple[float, np.ndarray] | None:
        """(f, g) of the last evaluation at exactly ``x``, if remembered (not counted)."""
        key = np.asarray(x, dtype=float).tobytes()
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry


class ScipyWorker:
    """scipy.optimize.minimize in a daemon thread, advanced one callback at a time."""

    def __init__(self, method: str, cache: EvaluationCache, x0: np.ndarray) -> None:
        self.method = method
        self.cache = cache
        self.finished = False
        self._x0 = x0
        self._commands: queue.Queue[str] = queue.Queue()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        # In a copy of the caller's context, so that numpy's floating-point error state
        # there holds in scipy's thread too, and in the run (its record of warnings).
        self.thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(in_this_run(self._run),),
            name=f"optbench-scipy-{method}",
            daemon=True,
        )
        self.thread.start()

    def _run(self) -> None:
        if self._commands.get() == "stop":
            return
        oracle = self.cache.oracle
        hessians: dict[str, Any] = {}
        if self.method == "trust-exact":
            hessians["hess"] = oracle.hess
        elif self.method in ("Newton-CG", "trust-ncg", "trust-krylov"):
            hessians["hessp"] = oracle.hvp
        try:
            import scipy.optimize  # imported here: `optbench list` must start fast

            result = scipy.optimize.minimize(
                self.cache.value_and_grad,
                self._x0,
                jac=True,
                method=self.method,
                callback=self._callback,
                options=dict(_TIGHT_OPTIONS[self.method]),
                **hessians,
            )
        except _StopRequested:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._events.put(("error", exc))
            return
        self._events.put(("done", result))

    def _callback(self, intermediate_result: scipy.optimize.OptimizeResult) -> None:
        x = np.array(intermediate_result.x, dtype=float, copy=True)
        self._events.put(("iterate", x))
        if self._commands.get() == "stop":
            raise _StopRequested

    def advance(self) -> tuple[str, Any]:
        """Let scipy run to its next callback; ``("iterate", x)``, ``("done", result)``
        or ``("error", exception)``."""
        if self.finished:
            return ("finished", None)
        self._commands.put("go")
        event = self._events.get()
        self.finished = event[0] != "iterate"
        return event

    def close(self) -> None:
        """Unblock the worker wherever it waits, let scipy unwind, join the thread."""
        if self.thread.is_alive():
            self._commands.put("stop")
            self.thread.join(_JOIN_TIMEOUT)
        self.finished = True


@dataclass
class ScipyState(State):
    """State of :class:`ScipyBaseline`: the iterate and the worker running scipy."""

    worker: ScipyWorker | None = None


@SOLVERS.register("scipy")
@dataclass(frozen=True)
class ScipyBaseline(Solver[ScipyState]):
    """A ``scipy.optimize.minimize`` method, one scipy iteration per step.

    Each ``step`` returns the next iterate scipy passes to its callback (for the
    trust-region methods a rejected step reports the unchanged x, as scipy does).
    scipy's own tolerances are 0 and its iteration caps out of reach, so the
    runner's stopping tests decide; if scipy ends on its own anyway (line-search
    failure, exact stationarity, …) the step returns a ``FAILED`` state with scipy's
    message at scipy's final x, and the runner reports ``converged`` instead when its
    test holds there. Counts are reproducible (``deterministic``) for every method but
    ``trust-krylov``, whose trlib subproblem solver gives different Hessian-vector
    product counts from process to process even with one BLAS thread; ``time`` includes
    the thread hand-off. The runner's ``close`` ends and joins the worker thread.

    Parameters
    ----------
    method : str
        One of ``Newton-CG, trust-ncg, trust-krylov, trust-exact, L-BFGS-B, BFGS, CG``.
        ``trust-exact`` uses dense Hessians (``oracle.hess``); ``Newton-CG``,
        ``trust-ncg`` and ``trust-krylov`` use Hessian-vector products.
    """

    method: str = "L-BFGS-B"

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        """Whether runs repeat their counts exactly (all methods but trust-krylov)."""
        return self.method != "trust-krylov"

    def __post_init__(self) -> None:
        if self.method not in SCIPY_METHODS:
            raise ValueError(
                f"method: must be one of {', '.join(SCIPY_METHODS)}, got {self.method!r}"
                f"{did_you_mean(str(self.method), SCIPY_METHODS)}"
            )

    def init(self, oracle: Oracle, x0: np.ndarray) -> ScipyState:
        x = np.array(x0, dtype=float, copy=True)
        cache = EvaluationCache(oracle)
        f, g = cache.prefetch(x)
        return ScipyState(x=x, f=f, g=g, worker=ScipyWorker(self.method, cache, x.copy()))

    def step(self, oracle: Oracle, state: ScipyState) -> ScipyState:
        worker = state.worker
        if worker is None:
            return state.failed(f"scipy {self.method}: the worker was closed")
        kind, payload = worker.advance()
        if kind == "error":
            raise payload
        if kind == "finished":
            return state.failed(f"scipy {self.method} has already finished")
        if kind == "iterate":
            x = payload
            known = worker.cache.lookup(x)
            f, g = known if known is not None else (None, None)
            new_state = ScipyState(x=x, f=f, g=g, worker=worker)
        else:
            result = payload
            x = np.array(result.x, dtype=float)
            known = worker.cache.lookup(x)
            f, g = known if known is not None else (float(result.fun), result.get("jac"))
            new_state = ScipyState(x=x, f=f, g=g, worker=worker).failed(
                f"scipy {self.method} stopped on its own (status {result.status}): {result.message}"
            )
        new_state.step_size = norm2(x - state.x)
        return new_state

    def close(self, state: State) -> None:
        worker = getattr(state, "worker", None)
        if worker is not None:
            worker.close()
