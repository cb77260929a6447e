"""The solver protocol: a frozen dataclass of hyper-parameters with ``init`` and ``step``.

Solvers never loop to convergence and never decide ``converged``: the one loop, its
stopping tests, budgets, timing and logging live in :mod:`optbench.run.runner`
(the shape follows optimistix's init/step/terminate split).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np

from optbench.problems.oracle import Oracle

#: ``State.info`` key under which ``init`` reports seconds spent compiling (a JAX
#: solver's step): the runner takes them out of the run's ``time`` and reports them as
#: ``compile_time``.
COMPILE_SECONDS = "compile_seconds"


class Status(str, Enum):
    """Outcome of a run. Only the runner sets the terminal statuses other than FAILED."""

    RUNNING = "running"
    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    MAX_COST = "max_cost"
    MAX_TIME = "max_time"
    DIVERGED = "diverged"
    FAILED = "failed"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass
class State:
    """What a solver carries from one step to the next.

    Attributes
    ----------
    x : ndarray
        Current iterate.
    f, g : float, ndarray or None
        Value and gradient at ``x`` when the solver has them (the runner then logs
        them without re-evaluating).
    step_size : float or None
        The step length taken by the last step (line-search ``alpha``, trust radius, …).
    status : Status
        ``RUNNING`` while the solver can continue; ``FAILED`` (with ``message``) when it
        cannot, e.g. a line search found no acceptable step.
    message : str
        Why the solver stopped, when it did.
    """

    x: np.ndarray
    f: float | None = None
    g: np.ndarray | None = None
    step_size: float | None = None
    status: Status = Status.RUNNING
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__post_init__" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: a State class cannot define __post_init__ "
                "(State.replace copies states without calling __init__)"
            )

    def replace(self, **changes: Any) -> Self:
        """A copy of this state with ``changes`` applied.

        A shallow copy, as :func:`dataclasses.replace` makes: fields not in ``changes``
        are shared with this state (the ``info`` dict and arrays included). The copy is
        made from the instance dictionary, without calling ``__init__`` (state classes
        have no ``__post_init__``), which makes it three times cheaper than
        :func:`dataclasses.replace`: it is done once per iteration.

        Raises
        ------
        TypeError
            When a name in ``changes`` is not a field of this state.
        """
        fields = self.__dict__
        # {**a, **b}, not a | b: the copy of a key-sharing ("split") instance dictionary,
        # as a state's is after __init__, is split too, and CPython (3.11) looks
        # attributes up in split dictionaries of instances the slow, generic way; the
        # unpacking builds an ordinary dict, whose reads (state.x, state.f, ...) take the
        # fast path: 2,000 fewer instructions (callgrind) per iteration of fixed-step
        # gradient descent on 2-D Rosenbrock.
        merged = {**fields, **changes}
        if len(merged) != len(fields):
            unknown = ", ".join(sorted(changes.keys() - fields.keys()))
            raise TypeError(f"{type(self).__name__} has no field(s) {unknown}")
        copy = object.__new__(type(self))
        copy.__dict__ = merged
        return copy

    def failed(self, message: str) -> Self:
        """A copy marked ``FAILED`` with ``message``."""
        return self.replace(status=Status.FAILED, message=message)


@dataclass
class EvaluatedState(State):
    """A state that always carries f and g at its iterate (the native solvers' states).

    ``init`` evaluates them at ``x0`` and every step keeps them current, so ``f`` and
    ``g`` are a float and an array, never None.
    """

    f: float = math.nan
    g: np.ndarray = field(default_factory=lambda: np.empty(0))


#: The state type of a solver (:class:`State` or a subclass with the solver's fields).
StateT = TypeVar("StateT", bound=State)


class Solver(Generic[StateT]):
    """Base class of solvers: subclasses are ``@dataclass(frozen=True)``.

    ``Solver[S]`` is generic in its state type ``S``: ``init`` returns an ``S`` and
    ``step`` takes and returns one, so a subclass names its own state class without
    overriding the signature. Methods that are compositions of a direction and a
    globalisation derive from
    :class:`~optbench.solvers.line_search_method.LineSearchMethod` or
    :class:`~optbench.solvers.trust_region.TrustRegionMethod` instead.

    The dataclass fields are the hyper-parameters; their defaults, types and the
    class docstring's first line are what ``optbench list solvers`` shows. Subclasses
    validate their fields in ``__post_init__`` and raise :class:`ValueError` naming
    the field and the allowed values.
    """

    #: Registry name, set by ``SOLVERS.register``.
    registry_name: ClassVar[str] = ""
    #: Whether two runs from the same start give identical iterates and counts.
    deterministic: ClassVar[bool] = True
    #: Whether the solver works on minibatches (:mod:`optbench.solvers.stochastic`): the
    #: runner then evaluates f and the gradient norm only at its log points.
    stochastic: ClassVar[bool] = False

    def init(self, oracle: Oracle, x0: np.ndarray) -> StateT:
        """Return the state at the starting point ``x0``."""
        raise NotImplementedError

    def step(self, oracle: Oracle, state: StateT) -> StateT:
        """Take one iteration from ``state``; return the new state."""
        raise NotImplementedError

    def incompatibility(self, problem: Any) -> str | None:
        """Why this solver cannot run on ``problem`` at all (one line), or None.

        A solver that needs what some problems lack (residuals and a Jacobian, say)
        says so here; the default is None (it runs on any problem).
        """
        return None

    def close(self, state: StateT) -> None:  # noqa: B027 - optional hook
        """Release resources once the runner has stopped (default: nothing)."""

    def params(self) -> dict[str, Any]:
        """Hyper-parameters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
