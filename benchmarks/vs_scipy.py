"""optbench's Newton-CG solvers side by side with scipy's, on the same counted oracle.

Pairs ``newton_cg`` with scipy's ``Newton-CG`` and ``trust_ncg`` with scipy's
``trust-ncg`` (both with default hyper-parameters) on five problems, BLAS pinned to one
thread, both stopped at :math:`\\|\\nabla f\\|_2 \\le 10^{-6}`. scipy is called directly
(not through the ``scipy`` baseline solver) so the rows show scipy's own behaviour:

* Newton-CG stops on ``xtol`` only, so ``xtol=0`` and a callback raises
  ``StopIteration`` once the gradient at the iterate (remembered from scipy's own last
  evaluation there, not evaluated again) meets the tolerance;
* trust-ncg uses its own test ``gtol=1e-6`` on the 2-norm.

Target: on every problem optbench needs no more oracle calls (n_f + n_g + n_hvp) than
the scipy method it is paired with, and every row reaches the tolerance.

Where the tolerance falls between two outer iterates decides how much the last inner
CG run overshoots it, so single rows of the data problems move with the data seed;
``--seeds 0-4`` adds per-row medians over seeds (the Rosenbrock rows have no seed).
``--trace PROBLEM`` prints, for each of the four methods, the Hessian-vector products
(CG iterations, plus scipy trust-ncg's model evaluation) and the f/g evaluations
(line-search trials, trust-region trials) of every outer iteration.

Run with ``PYTHONPATH=. python benchmarks/vs_scipy.py [--seeds 0-4] [--trace lsq]``;
it prints tables and asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import statistics
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

#: label -> (short name for --trace, builder of the instance for a data seed, seeded?)
PROBLEMS: dict[str, tuple[str, Callable[[int], Problem], bool]] = {
    "rosenbrock 2": ("rosen2", lambda seed: optbench.make_problem("rosenbrock", dim=2), False),
    "rosenbrock chained 100": (
        "chain100",
        lambda seed: optbench.make_problem("rosenbrock", dim=100),
        False,
    ),
    "logistic 10000x100": (
        "logistic",
        lambda seed: optbench.make_problem("logistic", n_samples=10_000, n_features=100, seed=seed),
        True,
    ),
    "softmax 5000x50x10": (
        "softmax",
        lambda seed: optbench.make_problem(
            "softmax", n_samples=5_000, n_features=50, n_classes=10, seed=seed
        ),
        True,
    ),
    "least squares cond 1e3": (
        "lsq",
        lambda seed: optbench.make_problem(
            "least_squares", n_samples=2_000, n_features=200, cond=1e3, seed=seed
        ),
        True,
    ),
}

#: (optbench name, solver with default hyper-parameters, paired scipy method)
PAIRS = [("newton_cg", NewtonCG(), "Newton-CG"), ("trust_ncg", TrustNCG(), "trust-ncg")]


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


def run_scipy(problem: Problem, method: str) -> tuple[dict[str, object], pd.DataFrame]:
    """scipy's method on a fresh counted oracle: the summary row and a per-iteration
    trace (cumulative counts at each callback)."""
    oracle = Oracle(problem)
    fun = _LastEvaluation(oracle)
    final = {"grad_norm": math.nan, "iters": 0}
    trace = [(0, float(np.linalg.norm(problem.grad(problem.x0))), 0, 0)]

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        final["iters"] += 1
        final["grad_norm"] = float(np.linalg.norm(fun.grad_at(intermediate_result.x)))
        trace.append((final["iters"], final["grad_norm"], oracle.n_hvp, oracle.n_f))
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
    row = _row(f"scipy {method}", final["iters"], oracle, elapsed, final["grad_norm"])
    columns = ["iter", "grad_norm", "n_hvp", "n_f"]
    return row, pd.DataFrame(trace, columns=columns)


def run_optbench(
    problem: Problem, name: str, solver: object
) -> tuple[dict[str, object], pd.DataFrame]:
    """optbench's solver through the runner: the summary row and its trace."""
    result = minimize(problem, solver, gtol=GTOL, max_iter=MAX_ITER)
    counts = {"n_f": result.n_f, "n_g": result.n_g, "n_hvp": result.n_hvp}
    row = {"solver": name, "iters": result.iters, **counts}
    row.update(time=result.time, grad_norm=result.grad_norm, status=result.status)
    return row, result.trace[["iter", "grad_norm", "n_hvp", "n_f"]]


def _row(name: str, iters: int, oracle: Oracle, elapsed: float, grad_norm: float) -> dict:
    status = "converged" if grad_norm <= GTOL else "NOT converged"
    return {
        "solver": name, "iters": iters, "n_f": oracle.n_f, "n_g": oracle.n_g,
        "n_hvp": oracle.n_hvp, "time": elapsed, "grad_norm": grad_norm, "status": status,
    }  # fmt: skip


def _calls(row: dict[str, object]) -> int:
    return int(row["n_f"]) + int(row["n_g"]) + int(row["n_hvp"])


def run_all(seed: int) -> list[dict[str, object]]:
    """One row per (problem, solver) for a data seed; scipy's rows follow ours."""
    rows = []
    for label, (_, build, _) in PROBLEMS.items():
        problem = build(seed)
        for name, solver, method in PAIRS:
            ours, _ = run_optbench(problem, name, solver)
            theirs, _ = run_scipy(problem, method)
            ratio = _calls(ours) / _calls(theirs)
            verdict = f"{ratio:.2f} " + ("ok" if ratio <= 1 else "MORE CALLS")
            if ours["status"] != "converged":
                verdict += ", NOT converged"
            for row in (ours, theirs):
                rows.append({"problem": label, "seed": seed, **row, "calls": _calls(row)})
            rows[-2]["calls / scipy"] = verdict
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    table = pd.DataFrame(rows).fillna("")
    columns = ["problem", "solver", "iters", "n_f", "n_g", "n_hvp", "calls", "time"]
    columns += ["grad_norm", "calls / scipy"]
    formatters = {"time": "{:.3f}".format, "grad_norm": "{:.2e}".format}
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[columns].to_string(index=False, formatters=formatters))


def print_medians(rows: list[dict[str, object]]) -> None:
    """Per (problem, pair): median calls of both sides over the seeds, and wins."""
    table = pd.DataFrame(rows)
    lines = []
    for label, (_, _, seeded) in PROBLEMS.items():
        for name, _, method in PAIRS:
            here = table[table["problem"] == label]
            ours = here[here["solver"] == name].sort_values("seed")
            theirs = here[here["solver"] == f"scipy {method}"].sort_values("seed")
            ours_calls, theirs_calls = list(ours["calls"]), list(theirs["calls"])
            if not seeded:  # deterministic: one run stands for every seed
                ours_calls, theirs_calls = ours_calls[:1], theirs_calls[:1]
            wins = sum(o <= t for o, t in zip(ours_calls, theirs_calls, strict=True))
            median_ours = statistics.median(ours_calls)
            median_theirs = statistics.median(theirs_calls)
            lines.append({
                "problem": label, "pair": f"{name} / scipy {method}",
                "seeds": len(ours_calls), "calls": " ".join(map(str, ours_calls)),
                "scipy calls": " ".join(map(str, theirs_calls)),
                "median": median_ours, "scipy median": median_theirs,
                "median ratio": f"{median_ours / median_theirs:.2f}",
                "rows <= scipy": f"{wins}/{len(ours_calls)}",
                "all converged": bool((ours["status"] == "converged").all()),
            })  # fmt: skip
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(pd.DataFrame(lines).to_string(index=False))


def print_trace(short: str, seed: int) -> None:
    """Per outer iteration: gradient norm before it, then HVPs and f evaluations in it."""
    matches = [(label, build) for label, (name, build, _) in PROBLEMS.items() if name == short]
    if not matches:
        names = ", ".join(name for name, _, _ in PROBLEMS.values())
        raise SystemExit(f"--trace: unknown problem {short!r}; one of {names}")
    label, build = matches[0]
    problem = build(seed)
    for name, solver, method in PAIRS:
        for title, (_, trace) in (
            (name, run_optbench(problem, name, solver)),
            (f"scipy {method}", run_scipy(problem, method)),
        ):
            per_iteration = pd.DataFrame({
                "iter": trace["iter"].iloc[1:].to_numpy(),
                "grad_norm before": trace["grad_norm"].iloc[:-1].to_numpy(),
                "hvp": np.diff(trace["n_hvp"].to_numpy()),
                "f evals": np.diff(trace["n_f"].to_numpy()),
            })  # fmt: skip
            print(f"\n{label} (seed {seed}): {title}")
            print(
                per_iteration.to_string(
                    index=False, formatters={"grad_norm before": "{:.3e}".format}
                )
            )


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=_seeds, default=[0], help="e.g. 0-4 or 0,3 (default 0)")
    parser.add_argument("--trace", metavar="PROBLEM", help="per-iteration work for one problem")
    args = parser.parse_args(argv)
    with threadpool_limits(limits=1):
        if args.trace:
            print_trace(args.trace, args.seeds[0])
            return
        rows = []
        for seed in args.seeds:
            rows += run_all(seed)
        print(f"seed {args.seeds[0]}:")
        print_table([row for row in rows if row["seed"] == args.seeds[0]])
        if len(args.seeds) > 1:
            print(f"\nmedians over seeds {', '.join(map(str, args.seeds))}:")
            print_medians(rows)


if __name__ == "__main__":
    main()
