r"""optax's L-BFGS, Adam and SGD as baselines, one optax update per iteration.

``method``:

``lbfgs``
    ``optax.lbfgs``: the two-loop recursion (Nocedal & Wright, 2nd ed., Alg. 7.4) with
    the scaling :math:`\gamma_k = s^\top y / y^\top y` (eq. 7.20) and optax's zoom line
    search for the strong Wolfe conditions (Alg. 3.5/3.6); ``memory`` pairs.
``adam``
    ``optax.adam`` (Kingma & Ba, 2015) with a fixed ``learning_rate``.
``sgd``
    ``optax.sgd``: :math:`x_{k+1} = x_k - \eta \nabla f(x_k)` with a fixed
    ``learning_rate`` (full gradients: the losses here are deterministic).

optbench's runner drives the loop, so its stopping tests, budgets and counts hold:
each :meth:`OptaxBaseline.step` is one compiled ``update`` + ``apply_updates``, and
every evaluation optax makes goes through the run's Oracle by the host-callback bridge
(:mod:`optbench.solvers.jax_bridge`), so ``n_f``/``n_g`` are exactly the calls the
problem saw. The step is ``jit``-compiled once per (settings, dimension) in a process;
``init`` evaluates nothing, and its whole time (compiling, optax's ``init``) is the run's
``compile_time``, not part of its ``time``. L-BFGS hands
the runner the value and gradient its line search computed at the new iterate; Adam
and SGD have none, and the runner evaluates :math:`f` for its log outside the counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.registry import SOLVERS
from optbench.scalars import check_integer, check_number
from optbench.solvers.base import COMPILE_SECONDS, Solver, State
from optbench.solvers.jax_bridge import (
    compiled,
    counted_objective,
    jax_modules,
    register,
    release,
    require_modules,
)

#: The optax methods offered.
OPTAX_METHODS = ("lbfgs", "adam", "sgd")


@dataclass
class OptaxState(State):
    """The optax state and the run's Oracle key between steps."""

    opt_state: Any = None
    key: int = 0
    update: Any = None


@SOLVERS.register("optax")
@dataclass(frozen=True)
class OptaxBaseline(Solver[OptaxState]):
    """optax's L-BFGS, Adam or SGD, one update per iteration, counted by optbench.

    Parameters
    ----------
    method : {"lbfgs", "adam", "sgd"}
        Which optax optimizer.
    learning_rate : float
        Fixed step of ``adam`` and ``sgd`` (``lbfgs`` takes its step from its line
        search and ignores it).
    memory : int
        Stored pairs of ``lbfgs`` (optax's ``memory_size``).
    """

    method: str = "lbfgs"
    learning_rate: float = 1e-3
    memory: int = 10

    def __post_init__(self) -> None:
        if self.method not in OPTAX_METHODS:
            raise ValueError(
                f"method: must be one of {', '.join(OPTAX_METHODS)}, got {self.method!r}"
            )
        check_number("learning_rate", self.learning_rate, gt=0.0)
        check_integer("memory", self.memory, ge=1)
        require_modules("optax")

    def _optimizer(self) -> Any:
        import optax

        if self.method == "lbfgs":
            return optax.lbfgs(memory_size=self.memory)
        if self.method == "adam":
            return optax.adam(self.learning_rate)
        return optax.sgd(self.learning_rate)

    def _build_update(self, dim: int) -> Any:
        """The pure step ``(x, opt_state, key) -> (x, opt_state, value, grad)``."""
        import optax

        jax, _ = jax_modules()
        objective = counted_objective(dim)
        optimizer = self._optimizer()

        def update(x: Any, opt_state: Any, key: Any) -> tuple[Any, Any, Any, Any]:
            def f(y: Any) -> Any:
                return objective(y, key)

            if self.method == "lbfgs":
                value, grad = optax.value_and_grad_from_state(f)(x, state=opt_state)
                updates, opt_state = optimizer.update(
                    grad, opt_state, x, value=value, grad=grad, value_fn=f
                )
                x = optax.apply_updates(x, updates)
                return (
                    x,
                    opt_state,
                    optax.tree.get(opt_state, "value"),
                    optax.tree.get(opt_state, "grad"),
                )
            value, grad = jax.value_and_grad(f)(x)
            updates, opt_state = optimizer.update(grad, opt_state, x)
            return optax.apply_updates(x, updates), opt_state, value, grad

        return update

    def init(self, oracle: Oracle, x0: np.ndarray) -> OptaxState:
        started = time.perf_counter()
        _, jnp = jax_modules()
        x = jnp.asarray(x0, dtype=jnp.float64)
        opt_state = self._optimizer().init(x)
        key = register(oracle)
        settings = (self.method, self.learning_rate, self.memory, x.shape[0])
        update, _ = compiled(
            ("optax", *settings),
            lambda: self._build_update(x.shape[0]),
            x,
            opt_state,
            np.int64(key),
        )
        return OptaxState(
            x=np.array(x0, dtype=float),
            opt_state=opt_state,
            key=key,
            update=update,
            info={COMPILE_SECONDS: time.perf_counter() - started},
        )

    def step(self, oracle: Oracle, state: OptaxState) -> OptaxState:
        x, opt_state, value, grad = state.update(state.x, state.opt_state, np.int64(state.key))
        new_x = np.array(x, dtype=float)
        carried = self.method == "lbfgs"
        return OptaxState(
            x=new_x,
            f=float(value) if carried else None,
            g=np.array(grad, dtype=float) if carried else None,
            step_size=float(np.linalg.norm(new_x - state.x)),
            opt_state=opt_state,
            key=state.key,
            update=state.update,
        )

    def close(self, state: State) -> None:
        if isinstance(state, OptaxState):
            release(state.key)
