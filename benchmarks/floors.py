"""What each data-loss kernel cannot avoid: its primitive operations and its floor.

A kernel's *floor* is the sum of the times of the primitive operations it must make,
each timed alone in the same process as the kernel: the matrix products with the data
and the transcendental functions over the per-sample arrays. ``kernel / floor`` is
then what the kernel spends beyond them (its elementwise passes, temporaries and
Python), and it does not depend on how fast the CPU's ``exp`` is: numpy's float64
``exp`` and ``log1p`` are vectorised only with AVX-512 (about 1 ns an element) and
scalar on AVX2-only CPUs (about 15 ns), so "value-and-gradient in matvecs" holds
only for the machine that measured it, while the ratio to the floor travels.

Primitives (``n`` samples, ``d`` features, ``K`` classes):

``forward``
    ``X @ w`` (softmax: the class-major ``W^T X^T``, or ``X @ W`` transposed for CSR).
``back``
    ``X^T @ r`` on the same arrays (CSR: scipy's CSC product on X's own arrays).
``exp``
    ``np.exp`` over the ``n`` margins (softmax: the ``K x n`` logits).
``log1p`` / ``log``
    ``np.log1p`` over ``n`` values in (0, 1] (logistic); ``np.log`` over the ``n``
    normalisers (softmax).

Floors (:data:`FLOORS`): least squares needs ``forward`` (value) and ``forward + back``
(value-and-gradient, HVP); logistic adds ``exp`` and ``log1p`` to the value, softmax
``exp`` and ``log``; an HVP at the point of the last gradient (the memo hit Newton-CG
relies on) is ``forward + back``; a *cold* HVP must first recompute the curvature
weights: ``2 forward + exp + back`` (least squares: ``forward + back``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from optbench.problems.least_squares import LeastSquares
from optbench.problems.logistic import Logistic
from optbench.problems.softmax import Softmax

#: Kernel -> the primitives whose times add up to its floor, per family.
FLOORS: dict[str, dict[str, tuple[str, ...]]] = {
    "least_squares": {
        "value": ("forward",),
        "value_and_grad": ("forward", "back"),
        "hvp": ("forward", "back"),
        "cold_hvp": ("forward", "back"),
    },
    "logistic": {
        "value": ("forward", "exp", "log1p"),
        "value_and_grad": ("forward", "exp", "log1p", "back"),
        "hvp": ("forward", "back"),
        "cold_hvp": ("forward", "forward", "exp", "back"),
    },
    "softmax": {
        "value": ("forward", "exp", "log"),
        "value_and_grad": ("forward", "exp", "log", "back"),
        "hvp": ("forward", "back"),
        "cold_hvp": ("forward", "forward", "exp", "back"),
    },
}


def family(problem: Any) -> str:
    """The :data:`FLOORS` key of a built-in data loss."""
    for name, cls in (("least_squares", LeastSquares), ("logistic", Logistic),
                      ("softmax", Softmax)):  # fmt: skip
        if isinstance(problem, cls):
            return name
    raise TypeError(f"no floor for {type(problem).__name__}")


def primitives(problem: Any, x: np.ndarray) -> dict[str, Callable[[], object]]:
    """The primitive operations of ``problem``'s kernels at ``x``, as calls to time.

    Elementwise functions write into preallocated arrays (``out=``), as the kernels do
    with their scratch buffers, so no call pays for fresh pages.
    """
    rng = np.random.default_rng(3)
    kind = family(problem)
    if kind == "softmax":
        X, K = problem.X, problem.n_classes
        W = x.reshape(problem.n_features, K)
        XT = X.T
        n = X.shape[0]
        if problem._sparse:
            forward: Callable[[], object] = lambda: np.ascontiguousarray((X @ W).T)  # noqa: E731
        else:
            forward = lambda: W.T @ XT  # noqa: E731
        residual_t = np.ascontiguousarray(rng.standard_normal((K, n)))
        logits = -np.abs(rng.standard_normal((K, n))) * 3.0
        normalizers = 1.0 + rng.random(n) * K
        exp_out, log_out = np.empty_like(logits), np.empty_like(normalizers)
        return {
            "forward": forward,
            "back": lambda: XT @ residual_t.T,
            "exp": lambda: np.exp(logits, out=exp_out),
            "log": lambda: np.log(normalizers, out=log_out),
        }
    X = problem.A if kind == "least_squares" else problem.X
    XT = X.T
    weights = x[: X.shape[1]]
    n = X.shape[0]
    residual = rng.standard_normal(n)
    calls: dict[str, Callable[[], object]] = {
        "forward": lambda: X @ weights,
        "back": lambda: XT @ residual,
    }
    if kind == "logistic":
        negative_margins = -np.abs(X @ weights)  # what the kernel exponentiates
        exponentials = np.exp(negative_margins)  # in (0, 1]: what it takes log1p of
        out = np.empty(n)
        calls["exp"] = lambda: np.exp(negative_margins, out=out)
        calls["log1p"] = lambda: np.log1p(exponentials, out=out)
    return calls


def kernels(problem: Any, x: np.ndarray, v: np.ndarray) -> dict[str, Callable[[], object]]:
    """The four kernels at ``x`` as calls to time; ``hvp`` runs right after a
    value-and-gradient at ``x`` (the memo hit), ``cold_hvp`` alternates between two
    other points so that the memo never matches."""
    rng = np.random.default_rng(4)
    others = [x + 1e-3 * rng.standard_normal(problem.dim) for _ in range(2)]
    toggle = [0]

    def cold_hvp() -> None:
        toggle[0] ^= 1
        problem.hvp(others[toggle[0]], v)

    def warm_hvp() -> None:
        problem.hvp(x, v)

    problem.value_and_grad(x)
    return {
        "value": lambda: problem.value(x),
        "value_and_grad": lambda: problem.value_and_grad(x),
        "hvp": warm_hvp,
        "cold_hvp": cold_hvp,
    }


def floor_of(kernel: str, kind: str, seconds: dict[str, float]) -> float:
    """The floor of ``kernel`` of family ``kind`` from the primitives' ``seconds``."""
    return sum(seconds[name] for name in FLOORS[kind][kernel])


def floor_text(kind: str) -> str:
    """One line naming each kernel's floor for family ``kind``."""
    return "; ".join(f"{kernel} = {' + '.join(parts)}" for kernel, parts in FLOORS[kind].items())
