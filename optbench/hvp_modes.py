r"""Hessian-vector products by every route, compared: accuracy and cost.

For one problem at one point, :func:`measure_hvp_modes` computes
:math:`\nabla^2 f(x)\,v` by

``analytic``
    the family's own :meth:`~optbench.problems.base.Problem.hvp`, the reference;
``ad_fwd_rev``
    forward-over-reverse AD, a JVP of the gradient (``jax.jvp(jax.grad(f))``;
    Pearlmutter 1994) on the family's JAX twin (:mod:`optbench.problems.jax_twins`);
``ad_rev_rev``
    reverse-over-reverse AD, the gradient of :math:`x \mapsto \nabla f(x)^\top v`
    (``jax.grad`` of a ``jax.grad``), which stores the whole first reverse sweep;
``fd_forward``, ``fd_central``
    forward and central differences of the analytic gradient
    (:mod:`optbench.problems.finite_differences`),

and reports each route's relative error :math:`\|H v - (Hv)_{\rm analytic}\| /
\|(Hv)_{\rm analytic}\|` and its time as a ratio to one fused value-and-gradient of the
analytic family. Times are medians over interleaved rounds (each route, then the next,
in every round), each round a batch of calls long enough for the clock; the JAX routes are
``jit``-compiled and warmed up first, and their time includes the conversion of the
NumPy arguments, as a user calling them from NumPy pays it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from optbench.numerics import norm2
from optbench.problems.base import Problem, Smoothness
from optbench.problems.finite_differences import central_difference_hvp, forward_difference_hvp

#: The routes, in the order of the table.
MODES = ("analytic", "ad_fwd_rev", "ad_rev_rev", "fd_forward", "fd_central")
#: Gradients (or gradient-equivalents) one HVP of each route costs in the count model.
COUNTED_AS = {"analytic": 1, "ad_fwd_rev": 1, "ad_rev_rev": 1, "fd_forward": 1, "fd_central": 2}

Route = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModeRow:
    """One route's result: relative error, median seconds per call, ratio to f+g."""

    mode: str
    rel_error: float
    seconds: float
    ratio: float
    note: str = ""


def hvp_routes(problem: Problem, x: np.ndarray) -> tuple[dict[str, Route], dict[str, str]]:
    """The routes available for ``problem`` at ``x``, and why the others are not.

    ``fd_forward`` reuses the gradient at ``x``, computed once here, as a solver that
    has just evaluated it would.
    """
    routes: dict[str, Route] = {"analytic": problem.hvp}
    missing: dict[str, str] = {}
    try:
        from optbench.problems.jax_twins import jax_twin

        f = jax_twin(problem)
    except (ImportError, ValueError) as exc:
        reason = "JAX not installed" if isinstance(exc, ImportError) else str(exc)
        missing.update(ad_fwd_rev=reason, ad_rev_rev=reason)
    else:
        import jax

        gradient = jax.grad(f)
        forward = jax.jit(lambda x, v: jax.jvp(gradient, (x,), (v,))[1])
        reverse = jax.jit(jax.grad(lambda x, v: gradient(x) @ v))
        routes["ad_fwd_rev"] = lambda x, v: np.asarray(forward(x, v))
        routes["ad_rev_rev"] = lambda x, v: np.asarray(reverse(x, v))
    grad_x = problem.grad(x)
    routes["fd_forward"] = lambda y, v: forward_difference_hvp(problem.grad, y, v, grad_x)
    routes["fd_central"] = lambda x, v: central_difference_hvp(problem.grad, x, v)
    return routes, missing


def _batch_size(call: Callable[[], object], target: float) -> int:
    """Calls per timed batch so that a batch lasts about ``target`` seconds."""
    started = time.perf_counter()
    call()
    once = max(time.perf_counter() - started, 1e-7)
    return max(1, int(target / once))


def measure_hvp_modes(
    problem: Problem,
    x: np.ndarray | None = None,
    *,
    seed: int = 0,
    rounds: int = 7,
    batch_seconds: float = 0.01,
) -> list[ModeRow]:
    """Error and time of every HVP route at ``x`` (default: a random point near ``x0``).

    Parameters
    ----------
    problem : Problem
        A built-in instance (the AD routes need a JAX twin).
    x : ndarray, optional
        The point; default :math:`x_0 + 0.1 \\max(1, \\|x_0\\|/\\sqrt n)\\,z`, ``z`` from ``seed``.
    seed : int
        Seed of the point and of the direction :math:`v`.
    rounds : int
        Interleaved timing rounds (the median is reported).
    batch_seconds : float
        Length of one timed batch of calls.
    """
    rng = np.random.default_rng(seed)
    x0 = np.asarray(problem.x0, dtype=float)
    if x is None:
        x = x0 + 0.1 * max(1.0, norm2(x0) / np.sqrt(x0.size)) * rng.standard_normal(x0.size)
    v = rng.standard_normal(problem.dim)
    routes, missing = hvp_routes(problem, x)
    reference = problem.hvp(x, v)
    scale = max(norm2(reference), np.finfo(float).tiny)
    # Called without arguments; ``...`` because the route lambdas bind it by a default.
    calls: dict[str, Callable[..., object]] = {"value_and_grad": lambda: problem.value_and_grad(x)}
    for mode, route in routes.items():
        route(x, v)  # compile and warm up
        calls[mode] = lambda route=route: route(x, v)
    batches = {name: _batch_size(call, batch_seconds) for name, call in calls.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            for _ in range(batches[name]):
                call()
            samples[name].append((time.perf_counter() - started) / batches[name])
    median = {name: float(np.median(values)) for name, values in samples.items()}
    rows = []
    for mode in MODES:
        if mode in missing:
            rows.append(ModeRow(mode, np.nan, np.nan, np.nan, missing[mode]))
            continue
        error = norm2(routes[mode](x, v) - reference) / scale
        ratio = median[mode] / median["value_and_grad"]
        rows.append(ModeRow(mode, error, median[mode], ratio))
    return rows


def format_modes(rows: list[ModeRow], title: str) -> str:
    """The table ``optbench check --hvp-modes`` prints."""
    lines = [title, "", f"{'route':<12} {'rel. error':>10} {'time':>10} {'/ f+g':>7}  counted as"]
    for row in rows:
        if np.isnan(row.seconds):
            lines.append(f"{row.mode:<12} {'-':>10} {'-':>10} {'-':>7}  ({row.note})")
            continue
        counted = COUNTED_AS[row.mode]
        lines.append(
            f"{row.mode:<12} {row.rel_error:>10.1e} {row.seconds * 1e6:>8.1f}µs "
            f"{row.ratio:>7.2f}  {counted} gradient{'s' if counted > 1 else ''}"
        )
    return "\n".join(lines)


class RoutedHvp(Problem):
    """``problem`` with its HVP taken by another route (``ad`` or ``fd``), for comparisons.

    Everything but :meth:`hvp` is the wrapped instance's (value, gradient, f*, x0, data
    shared, never copied). ``ad`` is forward-over-reverse on its JAX twin, counted as one
    gradient-equivalent like the analytic HVP; ``fd`` central differences of its gradient,
    counted as two. This is how ``benchmarks/hvp_modes.py`` runs a solver with
    ``hvp_mode: analytic | ad | fd`` on the same instance.
    """

    def __init__(self, problem: Problem, mode: str) -> None:
        if mode not in ("ad", "fd"):
            raise ValueError(f"mode: must be 'ad' or 'fd', got {mode!r}")
        self.inner, self.mode = problem, mode
        self.name, self.dim, self.x0 = f"{problem.name}[hvp={mode}]", problem.dim, problem.x0
        self.params = {**problem.params, "hvp_mode": mode}
        self.f_star = problem.f_star
        self.hess_max_dim = problem.hess_max_dim
        self.hvp_exact = mode == "ad"
        weights = problem.cost_weights
        hvp_cost = 2.0 * weights.grad if mode == "fd" else weights.hvp
        self.cost_weights = replace(weights, hvp=hvp_cost)
        self._route: Route
        if mode == "ad":
            import jax

            from optbench.problems.jax_twins import jax_twin

            gradient = jax.grad(jax_twin(problem))
            product = jax.jit(lambda x, v: jax.jvp(gradient, (x,), (v,))[1])
            self._route = lambda x, v: np.asarray(product(x, v), dtype=float)
        else:
            self._route = lambda x, v: central_difference_hvp(problem.grad, x, v)

    def value(self, x: np.ndarray) -> float:
        return self.inner.value(x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.inner.value_and_grad(x)

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._route(x, v)

    def smoothness(self) -> Smoothness:
        return self.inner.smoothness()
