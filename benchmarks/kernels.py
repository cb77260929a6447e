"""Cost of the data-loss kernels relative to a plain matrix product (a benchmark, not a test).

For least squares, logistic and softmax (K = 10 classes) on dense 10000×100, dense
100000×100 and CSR 100000×10000 data with 1e6 non-zeros, prints medians over repeats of

- ``vg/mv``: time(value_and_grad) / time(X @ w); for softmax the product is
  ``X @ W`` with ``W`` of shape (d, K), the forward product of that family;
- ``hvp/vg``: time(hvp) / time(value_and_grad), the HVP at the same ``x`` as a
  preceding value_and_grad (as Newton-CG uses it: one gradient, then many HVPs);
- ``cold/vg``: an HVP at a point with no preceding gradient (memo miss);
- ``value/vg``: time(value) / time(value_and_grad).

Targets: hvp/vg <= 1.2, and logistic vg/mv <= 2.8. BLAS is pinned to one
thread with ``threadpoolctl.threadpool_limits(1)``; the BLAS line is printed. Ratios
are measured in one process, interleaved per repeat, so machine load largely cancels.

Run: ``PYTHONPATH=. python benchmarks/kernels.py [--repeats 7] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from time import perf_counter

import numpy as np
import scipy
import threadpoolctl

from optbench.problems.data import sparse_features
from optbench.problems.least_squares import LeastSquares
from optbench.problems.logistic import Logistic
from optbench.problems.softmax import Softmax

N_CLASSES = 10
HVP_TARGET = 1.2
LOGISTIC_MATVEC_TARGET = 2.8


def seconds_per_call(function: Callable[[], object], min_seconds: float) -> float:
    """Mean seconds per call over a loop lasting at least ``min_seconds``."""
    function()  # warm up (allocations, memo)
    calls, start = 0, perf_counter()
    while True:
        function()
        calls += 1
        elapsed = perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def datasets(quick: bool) -> dict[str, tuple[object, int]]:
    """Name → (feature matrix, n_samples) for the three benchmark shapes."""
    rng = np.random.default_rng(0)
    if quick:
        return {
            "dense 2000x50": (rng.standard_normal((2_000, 50)), 2_000),
            "csr 20000x2000 nnz=1e5": (sparse_features(20_000, 2_000, 2.5e-3, rng), 20_000),
        }
    return {
        "dense 10000x100": (rng.standard_normal((10_000, 100)), 10_000),
        "dense 100000x100": (rng.standard_normal((100_000, 100)), 100_000),
        "csr 100000x10000 nnz=1e6": (sparse_features(100_000, 10_000, 1e-3, rng), 100_000),
    }


def problems_for(X: object, n_samples: int) -> dict[str, object]:
    rng = np.random.default_rng(1)
    return {
        "least_squares": LeastSquares(A=X, b=rng.standard_normal(n_samples)),
        "logistic": Logistic(X=X, y=rng.choice([-1.0, 1.0], n_samples), l2=1e-3),
        "softmax": Softmax(X=X, y=rng.integers(0, N_CLASSES, n_samples), n_classes=N_CLASSES),
    }


def measure(problem: object, repeats: int, min_seconds: float) -> dict[str, float]:
    """Median ratios (and the median matvec time) over interleaved repeats."""
    rng = np.random.default_rng(2)
    x = 0.1 * rng.standard_normal(problem.dim)
    v = rng.standard_normal(problem.dim)
    X = problem.A if isinstance(problem, LeastSquares) else problem.X
    if isinstance(problem, Softmax):
        forward_operand = x.reshape(problem.n_features, problem.n_classes)
    else:
        forward_operand = x[: X.shape[1]]
    other_points = [x + 1e-3 * rng.standard_normal(problem.dim) for _ in range(2)]
    cold_index = [0]

    def cold_hvp() -> None:  # alternate points so the memo never matches
        cold_index[0] ^= 1
        problem.hvp(other_points[cold_index[0]], v)

    rows: dict[str, list[float]] = {"vg/mv": [], "hvp/vg": [], "cold/vg": [], "value/vg": []}
    matvec_times = []
    for _ in range(repeats):
        matvec = seconds_per_call(lambda: X @ forward_operand, min_seconds)
        value_and_grad = seconds_per_call(lambda: problem.value_and_grad(x), min_seconds)
        problem.value_and_grad(x)
        hvp = seconds_per_call(lambda: problem.hvp(x, v), min_seconds)
        cold = seconds_per_call(cold_hvp, min_seconds)
        value = seconds_per_call(lambda: problem.value(x), min_seconds)
        matvec_times.append(matvec)
        rows["vg/mv"].append(value_and_grad / matvec)
        rows["hvp/vg"].append(hvp / value_and_grad)
        rows["cold/vg"].append(cold / value_and_grad)
        rows["value/vg"].append(value / value_and_grad)
    result = {name: statistics.median(values) for name, values in rows.items()}
    result["mv ms"] = 1e3 * statistics.median(matvec_times)
    return result


def blas_line() -> str:
    parts = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')}), "
        f"threads={info.get('num_threads')}"
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    ]
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return f"BLAS: {'; '.join(parts) or 'none found'}; OPENBLAS_CORETYPE={coretype}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="repeats per ratio (median)")
    parser.add_argument("--min-seconds", type=float, default=0.03, help="timing loop length")
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = parser.parse_args(argv)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        print(blas_line())
        print(f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}")
        print(f"medians of {args.repeats} repeats; softmax K={N_CLASSES}; mv = X@w (softmax X@W)")
        header = (
            f"{'problem':<14} {'data':<26} {'mv ms':>8} {'vg/mv':>7} {'hvp/vg':>7} "
            f"{'cold/vg':>8} {'value/vg':>9}  targets"
        )
        print(header)
        print("-" * len(header))
        for data_name, (X, n_samples) in datasets(args.quick).items():
            for name, problem in problems_for(X, n_samples).items():
                r = measure(problem, args.repeats, args.min_seconds)
                notes = ["hvp ok" if r["hvp/vg"] <= HVP_TARGET else "HVP OVER"]
                if name == "logistic":
                    fits = r["vg/mv"] <= LOGISTIC_MATVEC_TARGET
                    notes.append("vg ok" if fits else "VG OVER")
                print(
                    f"{name:<14} {data_name:<26} {r['mv ms']:8.3f} {r['vg/mv']:7.2f} "
                    f"{r['hvp/vg']:7.2f} {r['cold/vg']:8.2f} {r['value/vg']:9.2f}  "
                    + ", ".join(notes)
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
