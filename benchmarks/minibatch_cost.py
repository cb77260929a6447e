"""Cost of a minibatch gradient per sample, relative to a full gradient (a benchmark, not a test).

For logistic regression on dense 20000×100 data and on CSR 20000×10000 data with 2e5
non-zeros, and softmax (K = 10) on the dense data, prints for batch sizes 1 … 1000 and
two layouts (``slice``: consecutive rows, a view of dense data; ``random``: a random
batch, whose rows are copied)

- ``us/call``: median time of one ``grad_batch`` through the Oracle (µs);
- ``per-sample ratio``: (time per call / batch size) / (time of a full
  ``value_and_grad`` / n): 1 means a data pass of minibatches costs the time of one full
  gradient, which is what the cost column assumes;
- ``rows``: the share of the call spent taking the rows (``_batch_rows``).

The ratio falls towards 1 as batches grow; at batch size 1 it is the Python overhead of
one call (a few µs of numpy calls) over one row's work. BLAS is pinned to one thread.

Run: ``PYTHONPATH=. python benchmarks/minibatch_cost.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from time import perf_counter

import numpy as np
import threadpoolctl

from optbench import make_problem
from optbench.problems.oracle import Oracle

BATCH_SIZES = (1, 10, 100, 1000)


def _median_time(call: Callable[[], object], repeats: int, inner: int) -> float:
    times = []
    for _ in range(repeats):
        start = perf_counter()
        for _ in range(inner):
            call()
        times.append((perf_counter() - start) / inner)
    return statistics.median(times)


def _instances() -> dict[str, object]:
    return {
        "logistic dense 20000x100": make_problem(
            "logistic", n_samples=20_000, n_features=100, seed=0
        ),
        "logistic CSR 20000x10000": make_problem(
            "logistic", n_samples=20_000, n_features=10_000, nnz=200_000, seed=0
        ),
        "softmax dense 20000x100, K=10": make_problem(
            "softmax", n_samples=20_000, n_features=100, n_classes=10, seed=0
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with threadpoolctl.threadpool_limits(1):
        for label, problem in _instances().items():
            n = problem.n_samples
            x = 0.01 * rng.standard_normal(problem.dim)
            full = _median_time(lambda p=problem, x=x: p.value_and_grad(x), args.repeats, 5)
            per_sample = full / n * 1e6
            print(
                f"\n{label}: full value_and_grad {full * 1e3:.2f} ms ({per_sample:.3f} µs/sample)"
            )
            print(f"{'batch':>6} {'layout':>7} {'us/call':>9} {'per-sample ratio':>17} {'rows':>6}")
            oracle = Oracle(problem)
            for batch_size in BATCH_SIZES:
                inner = max(5, 2000 // batch_size)
                for layout in ("slice", "random"):
                    if layout == "slice":
                        batches = [
                            np.arange(s, s + batch_size)
                            for s in range(0, 50 * batch_size, batch_size)
                        ]
                    else:
                        batches = [rng.integers(0, n, batch_size) for _ in range(50)]
                    cycle = iter(batches * (inner * args.repeats // 50 + 2))
                    call = _median_time(
                        lambda o=oracle, x=x, c=cycle: o.grad_batch(x, next(c)), args.repeats, inner
                    )
                    cycle = iter(batches * (inner * args.repeats // 50 + 2))
                    rows = _median_time(
                        lambda p=problem, c=cycle: p._batch_rows(next(c)), args.repeats, inner
                    )
                    ratio = (call / batch_size) / (full / n)
                    print(
                        f"{batch_size:>6} {layout:>7} {call * 1e6:>9.1f} {ratio:>17.2f} "
                        f"{rows / call:>6.0%}"
                    )


if __name__ == "__main__":
    main()
