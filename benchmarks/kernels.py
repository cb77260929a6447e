"""Cost of the data-loss kernels against a matrix product and against their floors.

For least squares, logistic and softmax (K = 10 classes) on dense 10000×100, dense
100000×100 and CSR 100000×10000 data with 1e6 non-zeros, prints medians over
interleaved repeats of

- ``vg/mv``: time(value_and_grad) / time(X @ w); for softmax the product is the
  class-major ``W^T X^T`` (CSR: ``X @ W``), the forward product of that family;
- ``vg/fl``, ``value/fl``, ``hvp/fl``, ``cold/fl``: each kernel over its *floor*, the
  summed times of the primitive operations it cannot avoid (``X @ w``, ``X.T @ r``,
  ``exp``, ``log1p`` …; see ``benchmarks/floors.py``), each timed alone in the same
  process and the same repeat;
- ``hvp/vg``: time(hvp) / time(value_and_grad), the HVP at the same ``x`` as a
  preceding value_and_grad (as Newton-CG uses it: one gradient, then many HVPs);
  ``cold`` is an HVP at a point with no preceding gradient (memo miss).

A second table gives the primitives' times. Targets: hvp/vg <= 1.2 and logistic vg/mv
<= 2.8. Ratios to the matvec depend on the CPU: numpy's float64 ``exp`` and ``log1p``
are vectorised only with AVX-512 (on an AVX2-only CPU they cost about 15 ns an
element, and logistic vg/mv is 3.5-3.8 on a sparse problem whose kernel is 1.1 x its
floor), so the SIMD level numpy dispatches to is printed with the BLAS setting; ratios
to the floor do not depend on it. BLAS is pinned to one thread with
``threadpoolctl.threadpool_limits(1)``.

Run: ``PYTHONPATH=. python benchmarks/kernels.py [--repeats 7] [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from time import perf_counter

import numpy as np
import threadpoolctl
from floors import family, floor_of, floor_text, kernels, primitives
from machine import machine_lines

from optbench.problems.data import sparse_features
from optbench.problems.least_squares import LeastSquares
from optbench.problems.logistic import Logistic
from optbench.problems.softmax import Softmax

N_CLASSES = 10
HVP_TARGET = 1.2
LOGISTIC_MATVEC_TARGET = 2.8
#: Ratio columns: label -> kernel measured against its floor.
FLOOR_COLUMNS = {"vg/fl": "value_and_grad", "value/fl": "value", "hvp/fl": "hvp",
                 "cold/fl": "cold_hvp"}  # fmt: skip


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
    """Median ratios, and median milliseconds of each primitive, over interleaved repeats."""
    rng = np.random.default_rng(2)
    x = 0.1 * rng.standard_normal(problem.dim)
    v = rng.standard_normal(problem.dim)
    kind = family(problem)
    primitive_calls = primitives(problem, x)
    kernel_calls = kernels(problem, x, v)
    seconds: dict[str, list[float]] = {name: [] for name in [*primitive_calls, *kernel_calls]}
    ratios: dict[str, list[float]] = {name: [] for name in ("vg/mv", "hvp/vg", *FLOOR_COLUMNS)}
    for _ in range(repeats):
        now = {name: seconds_per_call(call, min_seconds) for name, call in primitive_calls.items()}
        for name in ("value_and_grad", "hvp", "cold_hvp", "value"):  # hvp right after vg
            now[name] = seconds_per_call(kernel_calls[name], min_seconds)
        for name, value in now.items():
            seconds[name].append(value)
        ratios["vg/mv"].append(now["value_and_grad"] / now["forward"])
        ratios["hvp/vg"].append(now["hvp"] / now["value_and_grad"])
        for label, kernel in FLOOR_COLUMNS.items():
            ratios[label].append(now[kernel] / floor_of(kernel, kind, now))
    result = {name: statistics.median(values) for name, values in ratios.items()}
    for name, values in seconds.items():
        result[f"{name} ms"] = 1e3 * statistics.median(values)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="repeats per ratio (median)")
    parser.add_argument("--min-seconds", type=float, default=0.03, help="timing loop length")
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = parser.parse_args(argv)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        for line in machine_lines():
            print(line)
        print(f"medians of {args.repeats} repeats; softmax K={N_CLASSES}; mv = X@w (softmax "
              "W^T X^T); fl = the kernel's floor:")  # fmt: skip
        for kind in ("least_squares", "logistic", "softmax"):
            print(f"  {kind}: {floor_text(kind)}")
        header = (
            f"{'problem':<14} {'data':<26} {'mv ms':>8} {'vg/mv':>6} {'vg/fl':>6} "
            f"{'value/fl':>8} {'hvp/fl':>6} {'cold/fl':>7} {'hvp/vg':>6}  targets"
        )
        print(header)
        print("-" * len(header))
        primitive_rows = []
        for data_name, (X, n_samples) in datasets(args.quick).items():
            for name, problem in problems_for(X, n_samples).items():
                r = measure(problem, args.repeats, args.min_seconds)
                notes = ["hvp ok" if r["hvp/vg"] <= HVP_TARGET else "HVP OVER"]
                if name == "logistic":
                    fits = r["vg/mv"] <= LOGISTIC_MATVEC_TARGET
                    notes.append("vg/mv ok" if fits else "VG/MV OVER")
                print(
                    f"{name:<14} {data_name:<26} {r['forward ms']:8.3f} {r['vg/mv']:6.2f} "
                    f"{r['vg/fl']:6.2f} {r['value/fl']:8.2f} {r['hvp/fl']:6.2f} "
                    f"{r['cold/fl']:7.2f} {r['hvp/vg']:6.2f}  " + ", ".join(notes)
                )
                primitive_rows.append((name, data_name, r))
        print("\nprimitives, ms a call: forward, back, exp, log1p (logistic) or log (softmax)")
        for name, data_name, r in primitive_rows:
            keys = [key for key in ("forward", "back", "exp", "log1p", "log") if f"{key} ms" in r]
            cells = ", ".join(f"{key} {r[f'{key} ms']:.3f}" for key in keys)
            print(f"{name:<14} {data_name:<26} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
