r"""The built-in losses written again with :mod:`jax.numpy`, on the instance's data.

A *twin* is the same :math:`f` as a built-in instance, as a function JAX can
differentiate: it is what the HVP routes are measured against
(:mod:`optbench.hvp_modes`), and the test that ``make_problem("function", ...)`` gives
the analytic family's value, gradient and HVP to rounding. The formulas are those of the
families' module notes (:mod:`optbench.problems.rosenbrock`,
:mod:`~optbench.problems.least_squares`, :mod:`~optbench.problems.logistic`,
:mod:`~optbench.problems.softmax`).

A ``function`` problem on the JAX route is its own twin (its ``jax_function``). Dense
data only: a twin holds a JAX copy of the data matrix (it exists to measure
routes, not to run large experiments), and refuses CSR data and the ``mgh`` family
(its 35 residual functions have analytic HVPs and are compared with finite differences
only) with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optbench.problems.base import Problem

JaxFunction = Callable[[Any], Any]


def _rosenbrock(problem: Any, jnp: Any) -> JaxFunction:
    chained = problem.variant == "chained"

    def f(x: Any) -> Any:
        a, b = (x[:-1], x[1:]) if chained else (x[0::2], x[1::2])
        return jnp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)

    return f


def _least_squares(problem: Any, jnp: Any) -> JaxFunction:
    A, b, l2 = jnp.asarray(problem.A), jnp.asarray(problem.b), problem.l2
    n = A.shape[0]

    def f(x: Any) -> Any:
        r = A @ x - b
        return r @ r / (2.0 * n) + 0.5 * l2 * (x @ x)

    return f


def _logistic(problem: Any, jnp: Any) -> JaxFunction:
    X, y, l2 = jnp.asarray(problem.X), jnp.asarray(problem.y, dtype=float), problem.l2
    d, intercept = problem.n_features, problem.fit_intercept

    def f(x: Any) -> Any:
        w = x[:d]
        z = X @ w + (x[d] if intercept else 0.0)
        return jnp.mean(jnp.logaddexp(0.0, -y * z)) + 0.5 * l2 * (w @ w)

    return f


def _softmax(problem: Any, jnp: Any) -> JaxFunction:
    import jax

    X, labels, l2 = jnp.asarray(problem.X), jnp.asarray(problem.y), problem.l2
    d, K = problem.n_features, problem.n_classes
    rows = jnp.arange(X.shape[0])

    def f(x: Any) -> Any:
        W = x.reshape(d, K)
        Z = X @ W
        return jnp.mean(jax.nn.logsumexp(Z, axis=1) - Z[rows, labels]) + 0.5 * l2 * jnp.sum(W * W)

    return f


#: Family -> builder of its twin (the one list of families that have one).
TWINS: dict[str, Callable[[Any, Any], JaxFunction]] = {
    "rosenbrock": _rosenbrock,
    "least_squares": _least_squares,
    "logistic": _logistic,
    "softmax": _softmax,
}


def jax_twin(problem: Problem) -> JaxFunction:
    """The instance's :math:`f` in :mod:`jax.numpy` (float64 enabled).

    Raises
    ------
    ValueError
        A family without a twin, or sparse data (one line naming which).
    """
    family = problem.registry_name
    own = getattr(problem, "jax_function", None)
    if own is not None:  # a function problem written with jax.numpy is its own twin
        return own
    if family not in TWINS:
        raise ValueError(
            f"{family or type(problem).__name__}: no JAX twin (families with one: "
            f"{', '.join(TWINS)})"
        )
    import scipy.sparse

    data = getattr(problem, "X", getattr(problem, "A", None))
    if scipy.sparse.issparse(data):
        raise ValueError(f"{problem.name}: sparse data has no JAX twin (dense data only)")
    from optbench.problems.function import _jax

    jax = _jax()
    return TWINS[family](problem, jax.numpy)
