"""optbench's solvers side by side with scipy's, on the same counted oracle.

**Newton-CG pairs** (the default table).

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

**Quasi-Newton pairs** (``--suite``): ``lbfgs`` with scipy's ``L-BFGS-B`` and ``bfgs``
with scipy's ``BFGS`` (default hyper-parameters; memory 10 on both sides) on the MGH
instances of the catalog from :math:`x_0` and from :math:`10 x_0` (family ``mgh`` with
``x0_scale=10``) and on the catalog's one-file instances that are not marked large. Both
sides stop at :math:`\\|\nabla f\\|_2 \\le 10^{-6}`: L-BFGS-B with ``ftol=0`` and
``gtol=0`` (its own test is on the projected gradient's max-norm) and a callback that
raises ``StopIteration`` on the 2-norm, BFGS with its own test on the 2-norm
(``norm=2``). Per row: iterations, each oracle count, total calls and their ratio to
scipy's; then per pair the median ratio and how many rows each side solved. Another
pair is one more entry of ``SUITE_PAIRS`` (``--trace-suite PROBLEM`` prints the per
iteration work of every suite pair on one instance, ``mgh_05_beale`` or
``mgh_05_beale x10``).

Run with ``PYTHONPATH=. python benchmarks/vs_scipy.py [--seeds 0-4] [--trace lsq]
[--suite]``; it prints tables and asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
from threadpoolctl import threadpool_limits

import optbench
from optbench.problems.base import Problem
from optbench.problems.catalog import catalog_entry, catalog_names, load_instance
from optbench.problems.oracle import Oracle
from optbench.run.runner import minimize
from optbench.solvers.base import Solver
from optbench.solvers.bfgs import BFGS
from optbench.solvers.lbfgs import LBFGS
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


@dataclass(frozen=True)
class Pair:
    """An optbench solver and the scipy method it is compared with on the suite table.

    ``options`` are scipy's; with ``stop_in_callback`` scipy's own tests are switched
    off by them and the callback stops it once the 2-norm of the gradient at its
    iterate is at most ``GTOL``.
    """

    name: str
    solver: Solver[Any]
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    stop_in_callback: bool = False
    uses_hvp: bool = False


#: The quasi-Newton pairs of ``--suite``; one entry per pair.
SUITE_PAIRS = [
    Pair("lbfgs", LBFGS(), "L-BFGS-B", {"ftol": 0.0, "gtol": 0.0, "maxfun": 10**9}, True),
    Pair("bfgs", BFGS(), "BFGS", {"gtol": GTOL, "norm": 2}),
]


def suite_problems() -> list[tuple[str, Callable[[], Problem]]]:
    """(label, builder): the MGH instances from x0 and 10 x0, then the small catalog."""
    problems: list[tuple[str, Callable[[], Problem]]] = []
    mgh = catalog_names(suite="mgh")
    for name in mgh:
        problems.append((name, lambda name=name: load_instance(name)))
    for name in mgh:
        params = {**catalog_entry(name)["params"], "x0_scale": 10}
        problems.append((f"{name} x10", lambda p=params: optbench.make_problem("mgh", **p)))
    for name in catalog_names(large=False, suite="catalog"):
        problems.append((name, lambda name=name: load_instance(name)))
    return problems


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


def run_scipy(
    problem: Problem, method: str, pair: Pair | None = None
) -> tuple[dict[str, object], pd.DataFrame]:
    """scipy's method on a fresh counted oracle: the summary row and a per-iteration
    trace (cumulative counts at each callback). ``pair`` gives the options of a suite
    pair; without it, those of the Newton-CG pairs."""
    oracle = Oracle(problem)
    fun = _LastEvaluation(oracle)
    final = {"grad_norm": math.nan, "iters": 0}
    trace = [(0, float(np.linalg.norm(problem.grad(problem.x0))), 0, 0)]

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        final["iters"] += 1
        final["grad_norm"] = float(np.linalg.norm(fun.grad_at(intermediate_result.x)))
        trace.append((final["iters"], final["grad_norm"], oracle.n_hvp, oracle.n_f))
        if stop_in_callback and final["grad_norm"] <= GTOL:
            raise StopIteration

    options: dict[str, Any] = {"maxiter": MAX_ITER}
    if pair is None:
        options.update({"xtol": 0.0} if method == "Newton-CG" else {"gtol": GTOL})
        stop_in_callback, hessp = method == "Newton-CG", oracle.hvp
    else:
        options.update(pair.options)
        stop_in_callback, hessp = pair.stop_in_callback, oracle.hvp if pair.uses_hvp else None
    started = perf_counter()
    result = scipy.optimize.minimize(
        fun, problem.x0, jac=True, hessp=hessp, method=method, callback=callback,
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


def run_suite() -> list[dict[str, object]]:
    """One row per (suite problem, pair): both sides' counts and the ratio of calls."""
    rows: list[dict[str, object]] = []
    for label, build in suite_problems():
        problem = build()
        for pair in SUITE_PAIRS:
            ours, _ = run_optbench(problem, pair.name, pair.solver)
            theirs, _ = run_scipy(problem, pair.method, pair)
            rows.append({
                "problem": label, "n": problem.dim, "pair": f"{pair.name} / {pair.method}",
                "iters": ours["iters"], "n_f": ours["n_f"], "n_g": ours["n_g"],
                "n_hvp": ours["n_hvp"], "calls": _calls(ours),
                "solved": ours["status"] == "converged",
                "scipy iters": theirs["iters"], "scipy n_f": theirs["n_f"],
                "scipy n_g": theirs["n_g"], "scipy n_hvp": theirs["n_hvp"],
                "scipy calls": _calls(theirs), "scipy solved": theirs["status"] == "converged",
                "ratio": _calls(ours) / _calls(theirs), "status": ours["status"],
            })  # fmt: skip
    return rows


def print_suite(rows: list[dict[str, object]]) -> None:
    """The suite table, then per pair the median ratio of calls and the rows solved."""
    table = pd.DataFrame(rows)
    shown = table.assign(
        solved=table["solved"].map({True: "yes", False: "NO"}),
        **{"scipy solved": table["scipy solved"].map({True: "yes", False: "NO"})},
    )
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        for pair in SUITE_PAIRS:
            part = shown[shown["pair"] == f"{pair.name} / {pair.method}"]
            print(f"\n{pair.name} vs scipy {pair.method} (gtol {GTOL:g} on the 2-norm):")
            columns = [column for column in part.columns if column not in ("pair", "status")]
            print(part[columns].to_string(index=False, formatters={"ratio": "{:.2f}".format}))
    summary = []
    for pair in SUITE_PAIRS:
        part = table[table["pair"] == f"{pair.name} / {pair.method}"]
        both = part[part["solved"] & part["scipy solved"]]
        summary.append({
            "pair": f"{pair.name} / scipy {pair.method}", "rows": len(part),
            "median ratio (all rows)": f"{statistics.median(part['ratio']):.3f}",
            "median ratio (both solved)": (
                f"{statistics.median(both['ratio']):.3f}" if len(both) else "-"
            ),
            "rows ratio <= 1": int((part["ratio"] <= 1).sum()),
            "solved": int(part["solved"].sum()), "scipy solved": int(part["scipy solved"].sum()),
        })  # fmt: skip
    print()
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(pd.DataFrame(summary).to_string(index=False))


def print_suite_trace(label: str) -> None:
    """Per iteration of every suite pair on one instance: gradient norm and f calls."""
    builders = dict(suite_problems())
    if label not in builders:
        raise SystemExit(f"--trace-suite: unknown problem {label!r}; one of {', '.join(builders)}")
    problem = builders[label]()
    for pair in SUITE_PAIRS:
        for title, (_, trace) in (
            (pair.name, run_optbench(problem, pair.name, pair.solver)),
            (f"scipy {pair.method}", run_scipy(problem, pair.method, pair)),
        ):
            per_iteration = pd.DataFrame({
                "iter": trace["iter"].iloc[1:].to_numpy(),
                "grad_norm before": trace["grad_norm"].iloc[:-1].to_numpy(),
                "f evals": np.diff(trace["n_f"].to_numpy()),
            })  # fmt: skip
            print(f"\n{label}: {title}")
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
    parser.add_argument("--suite", action="store_true", help="the quasi-Newton pairs on MGH")
    parser.add_argument("--trace-suite", metavar="PROBLEM", help="per iteration, a suite row")
    args = parser.parse_args(argv)
    with threadpool_limits(limits=1):
        if args.trace_suite:
            print_suite_trace(args.trace_suite)
            return
        if args.suite:
            print_suite(run_suite())
            return
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
