"""optbench's nonlinear CG, exact and dogleg trust regions and Levenberg–Marquardt beside scipy's.

Pairs, each with default hyper-parameters and the same counted Oracle:

* ``nonlinear_cg`` (``beta="pr_plus"``) with ``scipy.optimize.minimize(method="CG")``;
* ``trust_exact`` with ``trust-exact``; ``dogleg`` with ``dogleg`` (both dense Hessian);
* ``levenberg_marquardt`` with ``scipy.optimize.least_squares(method="lm")`` (MINPACK).

Rows: the MGH suite (``problems/mgh.yaml``) from the paper's x0 and from 10·x0, and the
catalog's one-file instances the solver applies to (least-squares shaped for LM; dim
at most 1000 for the dense-Hessian pairs). Every run stops at ‖∇f‖₂ ≤ 1e-6
(``gtol``) or after 10 000 iterations. scipy's CG, trust-exact and dogleg take
``gtol=1e-6`` (CG with ``norm=2``). MINPACK has no gradient test that matches, so it
runs with its tolerances at machine precision and the row takes its counts at the
first Jacobian evaluation where ‖2Jᵀr‖₂ ≤ 1e-6 (MINPACK evaluates the Jacobian only at
accepted points, after their residuals): the calls it would have needed to stop there.

Per row: iterations (scipy's ``nit``, or MINPACK's Jacobian count), each oracle count,
total calls (n_f + n_g + n_hess + n_r + n_J), their ratio optbench / scipy; per pair:
the median ratio over rows both sides solve, and rows solved each side. Run with
``OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/vs_scipy_suite.py [--pair NAME]``;
it prints tables and asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import scipy.optimize
from threadpoolctl import threadpool_limits

import optbench
from optbench.numerics import norm2
from optbench.problems.base import Problem, is_least_squares
from optbench.problems.catalog import INSTANCE_FILES_SUITE, catalog_entry, catalog_names
from optbench.problems.oracle import COUNTERS, Oracle
from optbench.run.runner import minimize

GTOL = 1e-6
MAX_ITER = 10_000
MAX_DENSE_DIM = 1000
PAIRS = {
    "nonlinear_cg": ("nonlinear_cg", {"beta": "pr_plus"}, "CG"),
    "trust_exact": ("trust_exact", {}, "trust-exact"),
    "dogleg": ("dogleg", {}, "dogleg"),
    "levenberg_marquardt": ("levenberg_marquardt", {}, "lm"),
}


class _Solved(Exception):
    pass


def instances(pair: str) -> Iterator[tuple[str, Problem]]:
    """(label, problem) rows of ``pair``: MGH at x0 and 10 x0, then the catalog instances."""
    for name in catalog_names(suite="mgh"):
        entry = catalog_entry(name)
        for scale in (1, 10):
            params = dict(entry["params"], x0_scale=scale)
            label = name if scale == 1 else f"{name} x10"
            problem = optbench.make_problem(entry["family"], **params)
            problem.f_star = None  # the paper's f* is for x0; rows judge the gradient only
            yield label, problem
    for name in catalog_names(large=False, suite=INSTANCE_FILES_SUITE):
        problem = optbench.make_problem(name)
        if pair == "levenberg_marquardt" and not is_least_squares(problem):
            continue
        if pair in ("trust_exact", "dogleg") and problem.dim > MAX_DENSE_DIM:
            continue
        if problem.dim > 10_000:
            continue
        yield name, problem


def run_optbench(pair: str, problem: Problem) -> dict[str, float]:
    name, params, _ = PAIRS[pair]
    result = minimize(problem, name, gtol=GTOL, max_iter=MAX_ITER, **params)
    row = {counter: float(getattr(result, counter)) for counter in COUNTERS}
    row.update(iters=result.iters, solved=result.grad_norm <= GTOL)
    return row


def run_scipy(pair: str, problem: Problem) -> dict[str, float]:
    oracle = Oracle(problem)
    method = PAIRS[pair][2]
    if method == "lm":
        return _run_minpack(oracle, problem)
    options: dict[str, object] = {"gtol": GTOL, "maxiter": MAX_ITER}
    hess: Callable[[np.ndarray], np.ndarray] | None = None
    if method == "CG":
        options["norm"] = 2
    else:
        hess = oracle.hess
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy.optimize.minimize(
            oracle.value, problem.x0, jac=oracle.grad, hess=hess, method=method, options=options
        )
    grad_norm = norm2(problem.grad(result.x))  # uncounted: the judge, not the solver
    row = {counter: float(getattr(oracle, counter)) for counter in COUNTERS}
    row.update(iters=result.nit, solved=grad_norm <= GTOL)
    return row


def _run_minpack(oracle: Oracle, problem: Problem) -> dict[str, float]:
    last: dict[str, np.ndarray] = {}
    solved_at: dict[str, float] = {}

    def fun(x: np.ndarray) -> np.ndarray:
        residuals = oracle.residuals(x)
        last["x"], last["r"] = x.copy(), residuals
        return residuals

    def jac(x: np.ndarray) -> np.ndarray:
        jacobian = oracle.jacobian(x)
        dense = jacobian.toarray() if hasattr(jacobian, "toarray") else np.asarray(jacobian)
        residuals = last["r"] if np.array_equal(last.get("x"), x) else problem.residuals(x)
        scale = problem.residual_scale  # type: ignore[attr-defined]
        if norm2(2.0 * scale * (dense.T @ residuals)) <= GTOL and not solved_at:
            solved_at.update({counter: float(getattr(oracle, counter)) for counter in COUNTERS})
            solved_at["iters"] = oracle.n_J - 1
            raise _Solved
        return dense

    tiny = float(np.finfo(float).eps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = scipy.optimize.least_squares(
                fun, problem.x0, jac=jac, method="lm", ftol=tiny, xtol=tiny, gtol=tiny,
                max_nfev=100 * MAX_ITER,
            )  # fmt: skip
            del result
        except _Solved:
            pass
    if solved_at:
        return dict(solved_at, solved=True)
    row = {counter: float(getattr(oracle, counter)) for counter in COUNTERS}
    row.update(iters=oracle.n_J - 1, solved=False)
    return row


def total_calls(row: dict[str, float]) -> float:
    return sum(row[counter] for counter in COUNTERS)


def table(pair: str) -> None:
    name, params, method = PAIRS[pair]
    label_opt = name + (
        "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""
    )
    counters = [c for c in COUNTERS if c != "n_hvp"]
    if pair == "levenberg_marquardt":
        counters = ["n_r", "n_J"]
    elif pair == "nonlinear_cg":
        counters = ["n_f", "n_g"]
    else:
        counters = ["n_f", "n_g", "n_hess"]
    print(f"\n## {label_opt} vs scipy {method}  (gtol {GTOL:g})\n")
    head = ["problem", "dim", "iters", *counters, "calls", "scipy iters"]
    head += [f"scipy {c}" for c in counters] + ["scipy calls", "ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    ratios, solved_ours, solved_theirs, rows = [], 0, 0, 0
    for label, problem in instances(pair):
        ours, theirs = run_optbench(pair, problem), run_scipy(pair, problem)
        rows += 1
        solved_ours += bool(ours["solved"])
        solved_theirs += bool(theirs["solved"])
        calls_ours, calls_theirs = total_calls(ours), total_calls(theirs)
        ratio = calls_ours / calls_theirs if calls_theirs else math.nan
        if ours["solved"] and theirs["solved"]:
            ratios.append(ratio)

        def mark(row: dict[str, float], text: str) -> str:
            return text if row["solved"] else text + "*"

        cells = [label, str(problem.dim), mark(ours, str(int(ours["iters"])))]
        cells += [str(int(ours[c])) for c in counters] + [str(int(calls_ours))]
        cells += [mark(theirs, str(int(theirs["iters"])))]
        cells += [str(int(theirs[c])) for c in counters] + [str(int(calls_theirs))]
        cells += [f"{ratio:.2f}"]
        print("| " + " | ".join(cells) + " |", flush=True)
    median = statistics.median(ratios) if ratios else math.nan
    print(
        f"\n{label_opt} vs {method}: median total-call ratio {median:.2f} over {len(ratios)} "
        f"rows both solve; solved {solved_ours}/{rows} (optbench) vs {solved_theirs}/{rows} "
        "(scipy); * = not solved"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", choices=list(PAIRS), action="append")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        for pair in args.pair or list(PAIRS):
            table(pair)


if __name__ == "__main__":
    main()
