"""optbench's Newton-CG solvers side by side with scipy's, on the same counted oracle.

Pairs ``newton_cg`` with scipy's ``Newton-CG`` and ``trust_ncg`` with scipy's
``trust-ncg`` on five problems, BLAS pinned to one thread, both stopped at
:math:`\\|\\nabla f\\|_2 \\le 10^{-6}`. scipy is called directly (not through the
``scipy`` baseline solver) so the rows show scipy's own behaviour:

* Newton-CG stops on ``xtol`` only, so ``xtol=0`` and a callback raises
  ``StopIteration`` once the gradient at the iterate (remembered from scipy's own last
  evaluation there, not evaluated again) meets the tolerance;
* trust-ncg uses its own test ``gtol=1e-6`` on the 2-norm.

Target: on every problem optbench needs no more oracle calls (n_f + n_g + n_hvp) than
the scipy method it is paired with, and every row reaches the tolerance. Run with
``PYTHONPATH=. python benchmarks/vs_scipy.py``; it prints a table and asserts nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from time import perf_counter

import numpy as np
import pandas as pd
import scipy.optimize
from threadpoolctl import threadpool_limits

import optbench
from optbench.problems.base import Problem
from optbench.problems.oracle import Oracle
from optbench.run.runner import minimize
from optbench.solvers.newton_cg import NewtonCG
from optbench.solvers.trust_ncg import TrustNCG

GTOL = 1e-6
MAX_ITER = 10_000

PROBLEMS: dict[str, Callable[[], Problem]] = {
    "rosenbrock 2": lambda: optbench.make_problem("rosenbrock", dim=2),
    "rosenbrock chained 100": lambda: optbench.make_problem("rosenbrock", dim=100),
    "logistic 10000x100": lambda: optbench.make_problem(
        "logistic", n_samples=10_000, n_features=100
    ),
    "softmax 5000x50x10": lambda: optbench.make_problem(
        "softmax", n_samples=5_000, n_features=50, n_classes=10
    ),
    "least squares cond 1e3": lambda: optbench.make_problem(
        "least_squares", n_samples=2_000, n_features=200, cond=1e3
    ),
}


class _LastEvaluation:
    """scipy's ``fun``: the counted fused oracle call, remembering its last gradient."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.x: np.ndarray | None = None
        self.grad: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = self.oracle.value_and_grad(x)
        self.x, self.grad = np.array(x, copy=True), grad
        return value, grad

    def grad_at(self, x: np.ndarray) -> np.ndarray:
        if self.x is not None and np.array_equal(x, self.x):
            return self.grad
        return self.oracle.problem.grad(x)  # uncounted; scipy evaluates its iterates


def run_scipy(problem: Problem, method: str) -> dict[str, object]:
    oracle = Oracle(problem)
    fun = _LastEvaluation(oracle)
    final = {"grad_norm": math.nan, "iters": 0}

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        final["iters"] += 1
        final["grad_norm"] = float(np.linalg.norm(fun.grad_at(intermediate_result.x)))
        if method == "Newton-CG" and final["grad_norm"] <= GTOL:
            raise StopIteration

    options = {"maxiter": MAX_ITER}
    options.update({"xtol": 0.0} if method == "Newton-CG" else {"gtol": GTOL})
    started = perf_counter()
    result = scipy.optimize.minimize(
        fun, problem.x0, jac=True, hessp=oracle.hvp, method=method, callback=callback,
        options=options,
    )  # fmt: skip
    elapsed = perf_counter() - started
    if final["iters"] == 0:
        final["grad_norm"] = float(np.linalg.norm(result.jac))
    return _row(f"scipy {method}", final["iters"], oracle, elapsed, final["grad_norm"])


def run_optbench(problem: Problem, name: str, solver: object) -> dict[str, object]:
    result = minimize(problem, solver, gtol=GTOL, max_iter=MAX_ITER)
    counts = {"n_f": result.n_f, "n_g": result.n_g, "n_hvp": result.n_hvp}
    row = {"solver": name, "iters": result.iters, **counts}
    row.update(time=result.time, grad_norm=result.grad_norm, status=result.status)
    return row


def _row(name: str, iters: int, oracle: Oracle, elapsed: float, grad_norm: float) -> dict:
    status = "converged" if grad_norm <= GTOL else "NOT converged"
    return {
        "solver": name, "iters": iters, "n_f": oracle.n_f, "n_g": oracle.n_g,
        "n_hvp": oracle.n_hvp, "time": elapsed, "grad_norm": grad_norm, "status": status,
    }  # fmt: skip


def main() -> None:
    rows = []
    pairs = [("newton_cg", NewtonCG(), "Newton-CG"), ("trust_ncg", TrustNCG(), "trust-ncg")]
    with threadpool_limits(limits=1):
        for label, build in PROBLEMS.items():
            problem = build()
            for name, solver, method in pairs:
                ours = run_optbench(problem, name, solver)
                theirs = run_scipy(problem, method)
                calls = {r["solver"]: r["n_f"] + r["n_g"] + r["n_hvp"] for r in (ours, theirs)}
                ratio = calls[name] / calls[theirs["solver"]]
                verdict = f"{ratio:.2f} " + ("ok" if ratio <= 1 else "MORE CALLS")
                if ours["status"] != "converged":
                    verdict += ", NOT converged"
                for row in (ours, theirs):
                    rows.append({"problem": label, **row, "calls": calls[row["solver"]]})
                rows[-2]["calls / scipy"] = verdict
    table = pd.DataFrame(rows).fillna("")
    columns = ["problem", "solver", "iters", "n_f", "n_g", "n_hvp", "calls", "time"]
    columns += ["grad_norm", "calls / scipy"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            table[columns].to_string(
                index=False, formatters={"time": "{:.3f}".format, "grad_norm": "{:.2e}".format}
            )
        )


if __name__ == "__main__":
    main()
