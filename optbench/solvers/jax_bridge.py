r"""The bridge that lets JAX optimizers evaluate through optbench's counted Oracle.

optax and optimistix differentiate a JAX function; optbench's problems are NumPy code
behind an :class:`~optbench.problems.oracle.Oracle` that counts every call. The bridge
gives them a JAX function whose every evaluation *is* an Oracle call, so the counts are
exactly the calls the problem received:

- :func:`counted_objective` is :math:`f` with a custom JVP (``jax.custom_jvp``): its
  primal is a host callback (``jax.experimental.io_callback``, never elided or
  duplicated by XLA) to ``oracle.value`` — counted as a value — and its JVP rule one host
  call to ``oracle.value_and_grad`` with tangent :math:`\nabla f(x)^\top \dot x`. Reverse
  mode (``jax.grad``) transposes that linear tangent, so a gradient is one fused
  value-and-gradient call, and a line search that needs only values pays only values.
- :func:`counted_residuals` is :math:`r(x)` with the tangent :math:`J(x)\,\dot x`, one
  ``oracle.residuals`` and one ``oracle.jacobian`` call per linearisation, for
  Gauss–Newton-type solvers.

The Oracle is not a JAX value: each run registers its Oracle under an integer key
(:func:`register`, :func:`release`), passed to the compiled step as an argument and looked up by the
host callback (callbacks run on XLA's threads, so the key, not a thread-local, says which
run is calling). A compiled step therefore serves every run of the same solver settings
and dimension in a process: :func:`compiled` compiles it once (ahead of time, timed) and
returns the seconds spent, which the solver reports as its compile time, apart from the
run's ``time``.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from optbench.problems.oracle import Oracle

_oracles: dict[int, Oracle] = {}
_keys = itertools.count(1)
_compiled: dict[Hashable, Any] = {}
_lock = threading.Lock()


def require_modules(*names: str) -> None:
    """Raise one line naming the extra when one of the modules cannot be imported."""
    missing = [name for name in ("jax", *names) if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(f"{', '.join(missing)} not installed: pip install 'optbench[jax]'")


def jax_modules() -> tuple[Any, Any]:
    """``jax`` (float64 enabled) and ``jax.numpy``, or one line naming the extra."""
    try:
        import jax
    except ImportError:
        raise ValueError("JAX is not installed: pip install 'optbench[jax]'") from None
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def register(oracle: Oracle) -> int:
    """Register ``oracle`` until :func:`release`; return its key."""
    with _lock:
        key = next(_keys)
        _oracles[key] = oracle
    return key


def release(key: int) -> None:
    """Forget the Oracle registered under ``key``."""
    with _lock:
        _oracles.pop(key, None)


def _host_value(key: Any, x: Any) -> np.float64:
    return np.float64(_oracles[int(key)].value(np.asarray(x, dtype=float)))


def _host_value_and_grad(key: Any, x: Any) -> tuple[np.float64, np.ndarray]:
    value, grad = _oracles[int(key)].value_and_grad(np.asarray(x, dtype=float))
    return np.float64(value), np.asarray(grad, dtype=np.float64)


def _host_residuals(key: Any, x: Any) -> np.ndarray:
    return np.asarray(_oracles[int(key)].residuals(np.asarray(x, dtype=float)), dtype=float)


def _host_linearisation(key: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    oracle = _oracles[int(key)]
    point = np.asarray(x, dtype=float)
    jacobian = oracle.jacobian(point)
    dense = jacobian.toarray() if hasattr(jacobian, "toarray") else np.asarray(jacobian)
    return np.asarray(oracle.residuals(point), dtype=float), dense.astype(float)


def counted_objective(dim: int) -> Callable[[Any, Any], Any]:
    """:math:`f(x, \\text{key})` for JAX, evaluated by the registered Oracle (module notes)."""
    jax, jnp = jax_modules()
    from jax.experimental import io_callback

    scalar = jax.ShapeDtypeStruct((), jnp.float64)
    vector = jax.ShapeDtypeStruct((dim,), jnp.float64)

    @jax.custom_jvp
    def f(x: Any, key: Any) -> Any:
        return io_callback(_host_value, scalar, key, x)

    @f.defjvp
    def f_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
        x, key = primals
        value, grad = io_callback(_host_value_and_grad, (scalar, vector), key, x)
        return value, grad @ tangents[0]

    return f


def counted_residuals(dim: int, n_residuals: int) -> Callable[[Any, Any], Any]:
    """:math:`r(x, \\text{key})` for JAX, with tangent :math:`J\\dot x` (module notes)."""
    jax, jnp = jax_modules()
    from jax.experimental import io_callback

    residual = jax.ShapeDtypeStruct((n_residuals,), jnp.float64)
    jacobian = jax.ShapeDtypeStruct((n_residuals, dim), jnp.float64)

    @jax.custom_jvp
    def r(x: Any, key: Any) -> Any:
        return io_callback(_host_residuals, residual, key, x)

    @r.defjvp
    def r_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
        x, key = primals
        values, J = io_callback(_host_linearisation, (residual, jacobian), key, x)
        return values, J @ tangents[0]

    return r


def compiled(
    cache_key: Hashable,
    build: Callable[[], Callable[..., Any]],
    *example: Any,
    jit: Callable[[Callable[..., Any]], Any] | None = None,
) -> tuple[Any, float]:
    """``jit(build())`` compiled ahead of time for ``example`` arguments, once per process.

    ``jit`` defaults to ``jax.jit``; optimistix's states hold non-array leaves and need
    ``equinox.filter_jit``. Returns the compiled function and the seconds this call spent
    compiling (0 when it was compiled before).
    """
    jax, _ = jax_modules()
    with _lock:
        found = _compiled.get(cache_key)
    if found is not None:
        return found, 0.0
    started = time.perf_counter()
    function = (jit or jax.jit)(build()).lower(*example).compile()
    seconds = time.perf_counter() - started
    with _lock:
        _compiled.setdefault(cache_key, function)
    return function, seconds
