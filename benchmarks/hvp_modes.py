"""HVP routes compared: accuracy and cost per route, then their effect on Newton-CG.

Part 1, for dense catalog instances of each built-in family with a JAX twin (and an MGH
instance, FD only): the HVP by the analytic formula, forward-over-reverse and
reverse-over-reverse AD, forward and central differences of gradients — relative error
against the analytic one and time per call as a ratio to one value-and-gradient
(:func:`optbench.hvp_modes.measure_hvp_modes`: medians of interleaved rounds).

Part 2: ``newton_cg`` and ``trust_ncg`` with ``hvp_mode: analytic | ad | fd``
(:class:`optbench.hvp_modes.RoutedHvp`) on the same instances, gtol 1e-6: status,
iterations, HVP calls, cost (FD HVPs count two gradients) and solver time.

BLAS pinned to one thread (threadpoolctl) and XLA to one thread (``XLA_FLAGS`` set
before JAX is imported); the CPU's SIMD level is printed.

Run: ``PYTHONPATH=. python benchmarks/hvp_modes.py [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402

from optbench import make_problem, minimize  # noqa: E402
from optbench.hvp_modes import RoutedHvp, format_modes, measure_hvp_modes  # noqa: E402
from optbench.stack import numpy_simd  # noqa: E402

INSTANCES = (
    "rosenbrock_2d",
    "rosenbrock_chained_100",
    "least_squares_ill",
    "logistic_small",
    "logistic_corr",
    "softmax_small",
    "mgh_01_rosenbrock",
)
SOLVERS = ("newton_cg", "trust_ncg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with threadpoolctl.threadpool_limits(1):
        simd = " ".join(numpy_simd()) or "baseline only"
        print(f"numpy SIMD: {simd}; BLAS threads 1; XLA threads 1\n")
        for name in INSTANCES:
            problem = make_problem(name)
            rows = measure_hvp_modes(problem, rounds=args.rounds)
            print(format_modes(rows, f"{name} (dim {problem.dim})"), end="\n\n")
        print(f"{'problem':<24} {'solver':<10} {'hvp':<9} {'status':<10} {'iters':>5} "
              f"{'n_hvp':>6} {'cost':>7} {'time':>9}")  # fmt: skip
        for name in INSTANCES[:-1]:
            base = make_problem(name)
            variants = {"analytic": base, "ad": RoutedHvp(base, "ad"), "fd": RoutedHvp(base, "fd")}
            for solver in SOLVERS:
                for mode, problem in variants.items():
                    minimize(problem, solver, gtol=1e-6, max_iter=500)  # warm up
                    times = []
                    for _ in range(3):
                        result = minimize(problem, solver, gtol=1e-6, max_iter=500)
                        times.append(result.time)
                    print(
                        f"{name:<24} {solver:<10} {mode:<9} {result.status:<10} "
                        f"{result.iters:>5} {result.n_hvp:>6} {result.cost:>7.0f} "
                        f"{np.median(times) * 1e3:>7.2f}ms"
                    )


if __name__ == "__main__":
    main()
